//! Unguessable-enough identifiers (session ids, stage ids, tokens) without a random-number
//! crate: SipHash with the standard library's per-process random keys over a counter and
//! the clock. These protect nothing; they only must not collide.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

fn random_u64() -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = KEYS.get_or_init(RandomState::new).build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// `prefix` followed by 24 lowercase hex digits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{:016x}{:08x}", random_u64(), random_u64() as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_differ_and_have_the_prefix() {
        let a = super::new_id("sess_");
        let b = super::new_id("sess_");
        assert_ne!(a, b);
        assert!(a.starts_with("sess_") && a.len() == 5 + 24);
    }
}
