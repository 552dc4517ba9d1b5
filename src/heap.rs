//! The wasm heap: talc instead of the standard library's dlmalloc, ~1.9 KB gzip smaller in
//! the package (`make pkg`: 140,267 → 138,315 bytes). The page and its events run on one
//! thread. Debug builds (the browser tests') count the bytes in use, so the tests can show
//! that sessions give back what they took (`tests/web_heap.rs`).

#[cfg(not(debug_assertions))]
#[global_allocator]
static HEAP: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(debug_assertions)]
pub use counting::in_use;

#[cfg(debug_assertions)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// talc, counting the bytes it has handed out and not yet got back.
    struct Counting {
        heap: talc::wasm::WasmDynamicTalc,
        in_use: AtomicUsize,
    }

    #[global_allocator]
    static HEAP: Counting = Counting {
        heap: talc::wasm::new_wasm_dynamic_allocator(),
        in_use: AtomicUsize::new(0),
    };

    /// Bytes allocated and not freed.
    pub fn in_use() -> usize {
        HEAP.in_use.load(Relaxed)
    }

    // SAFETY: every call is forwarded to talc unchanged; only the count is added.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { self.heap.alloc(layout) };
            if !p.is_null() {
                self.in_use.fetch_add(layout.size(), Relaxed);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { self.heap.dealloc(ptr, layout) };
            self.in_use.fetch_sub(layout.size(), Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { self.heap.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                self.in_use.fetch_sub(layout.size(), Relaxed);
                self.in_use.fetch_add(new_size, Relaxed);
            }
            p
        }
    }
}
