//! Retry policy for connects and reconnects, and the permanent-error classification.

use crate::core::error::{ErrorCode, SdkError};

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
/// Beyond the reference's six: the reference server's short-lived key refusals ("client
/// token expired" says "unauthorized"), the session duration limit of a client key, and an
/// expired IVS stage token.
pub const PERMANENT_ERRORS: [&str; 8] = [
    "permission denied",
    "not allowed",
    "invalid session",
    "401",
    "invalid api key",
    "unauthorized",
    "duration limit",
    "token expired",
];

/// True when an error message is permanent and must not be retried.
pub fn is_permanent(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    PERMANENT_ERRORS.iter().any(|p| m.contains(p))
}

/// True when retrying after `error` cannot help: refused credentials, bad options, a
/// cancelled connect, an SDK that cannot load, or a server text that says so.
pub fn is_permanent_error(error: &SdkError) -> bool {
    match error.code {
        ErrorCode::Unauthorized
        | ErrorCode::Aborted
        | ErrorCode::InvalidOptions
        | ErrorCode::InvalidToken
        | ErrorCode::InvalidApiKey
        | ErrorCode::InvalidBaseUrl
        | ErrorCode::ModelNotFound
        | ErrorCode::ImageError
        | ErrorCode::MediaError
        | ErrorCode::IvsLoadFailed
        | ErrorCode::Internal => true,
        ErrorCode::ServerError => is_permanent(&error.message),
        _ => false,
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based) after `error`, or `None` when the
    /// error is permanent or the retries are used up.
    pub fn next_delay(&self, error: &SdkError, retry: u32) -> Option<f64> {
        if is_permanent_error(error) {
            return None;
        }
        self.delay_before_retry(retry)
    }
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

    #[test]
    fn next_delay_decides_permanence_by_code() {
        let p = RetryPolicy::default();
        let transient = [
            SdkError::new(ErrorCode::WebsocketError, "closed"),
            SdkError::new(ErrorCode::IceError, "failed"),
            SdkError::new(ErrorCode::IvsStageError, "errored"),
            SdkError::server("model overloaded"),
            SdkError::timeout("connection", "connecting", 1000),
        ];
        for e in transient {
            assert_eq!(p.next_delay(&e, 1), Some(1000.0), "{e}");
            assert_eq!(p.next_delay(&e, 6), None, "{e}: retries used up");
        }
        let permanent = [
            SdkError::server("Invalid API key"),
            SdkError::server("unauthorized: client token expired"),
            SdkError::server("session duration limit reached (maxSessionDuration 60 s)"),
            SdkError::new(ErrorCode::Aborted, "disconnect() was called"),
            SdkError::invalid_option("model", "a model"),
            SdkError::new(ErrorCode::IvsLoadFailed, "no SDK"),
        ];
        for e in permanent {
            assert_eq!(p.next_delay(&e, 1), None, "{e}");
        }
    }
}
