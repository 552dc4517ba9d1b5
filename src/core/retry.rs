//! Retry policy for connects and reconnects, and the permanent-error classification.

/// Exponential backoff: `retries` attempts after the first, each delayed by
/// `min_delay_ms * factor^(n-1)` capped at `max_delay_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Backoff factor.
    pub factor: f64,
    /// Delay before the first retry, ms.
    pub min_delay_ms: f64,
    /// Upper bound of any delay, ms.
    pub max_delay_ms: f64,
    /// Bound of one whole connect attempt, ms.
    pub attempt_timeout_ms: f64,
}

impl Default for RetryPolicy {
    /// The reference policy: 5 retries, factor 2, 1 s to 10 s, 5 minutes per attempt.
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            factor: 2.0,
            min_delay_ms: 1000.0,
            max_delay_ms: 10_000.0,
            attempt_timeout_ms: 300_000.0,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based), or `None` when retries are used up.
    pub fn delay_before_retry(&self, retry: u32) -> Option<f64> {
        if retry == 0 || retry > self.retries {
            return None;
        }
        let exp = i32::try_from(retry - 1).unwrap_or(i32::MAX);
        let d = self.min_delay_ms * self.factor.powi(exp);
        Some(if d.is_finite() {
            d.min(self.max_delay_ms)
        } else {
            self.max_delay_ms
        })
    }
}

/// Error texts that mean "retrying will not help" (case-insensitive substrings).
pub const PERMANENT_ERRORS: [&str; 6] = [
    "permission denied",
    "not allowed",
    "invalid session",
    "401",
    "invalid api key",
    "unauthorized",
];

/// True when an error message is permanent and must not be retried.
pub fn is_permanent(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    PERMANENT_ERRORS.iter().any(|p| m.contains(p))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_capped_at_ten() {
        let p = RetryPolicy::default();
        let d: Vec<_> = (0..=6).map(|n| p.delay_before_retry(n)).collect();
        assert_eq!(
            d,
            vec![
                None,
                Some(1000.0),
                Some(2000.0),
                Some(4000.0),
                Some(8000.0),
                Some(10_000.0),
                None
            ]
        );
    }

    #[test]
    fn huge_factors_stay_bounded() {
        let p = RetryPolicy {
            retries: 100,
            factor: 1e300,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_before_retry(100), Some(10_000.0));
    }

    #[test]
    fn permanent_errors() {
        for m in [
            "Invalid API key",
            "HTTP 401",
            "Permission Denied by policy",
            "model not allowed",
            "Invalid session",
            "Unauthorized",
        ] {
            assert!(is_permanent(m), "{m}");
        }
        for m in ["connection reset", "timeout", "server overloaded"] {
            assert!(!is_permanent(m), "{m}");
        }
    }
}
