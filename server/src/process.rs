//! Process-wide settings made once at start: the descriptor limit (so the connection
//! limit, not the kernel, decides who is refused) and the allocator (so the large transient
//! buffers of big messages go back to the system instead of piling up).

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in effect
/// (`None` when it cannot be read).
#[cfg(unix)]
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid `rlimit`; raising the soft limit up to the hard limit
        // needs no privilege. On failure the old limit stays in effect.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    Some(lim.rlim_cur)
}

/// Without `RLIMIT_NOFILE`, the configured limit applies as is.
#[cfg(not(unix))]
pub fn raise_nofile_limit() -> Option<u64> {
    None
}

/// Large buffers (a message being assembled, a base64 image) are mapped and unmapped on
/// their own instead of coming from the heap: glibc otherwise raises its mmap threshold
/// after each large free, and the heap keeps what those messages once needed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_large_buffers() {
    // SAFETY: `mallopt` only changes an allocator parameter; any value is accepted or
    // refused (returning 0), never unsound.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Other allocators return large buffers already.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_buffers() {}
