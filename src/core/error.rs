//! The one error type of the SDK, with stable codes.
//!
//! Every failure that can reach a user (bad options, a refused key, a dropped socket, a
//! browser rejection, a third-party throw) becomes an [`SdkError`]. At the JS boundary it
//! becomes a real `Error` whose `name` is `RealtimeError`, whose `code` is
//! [`ErrorCode::as_str`] and whose `message` is [`SdkError::message`]. Codes are part of the
//! public API: they never change meaning once published.

use std::fmt;

/// Stable machine-readable error codes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An option passed by the page is missing, of the wrong type or out of range.
    InvalidOptions,
    /// A method that needs a live session was called without one.
    NotConnected,
    /// The WebSocket could not be opened or closed unexpectedly.
    WebsocketError,
    /// The offer/answer exchange failed (bad SDP, setLocal/RemoteDescription rejected).
    SignalingError,
    /// ICE or the peer connection failed.
    IceFailed,
    /// A phase did not finish within its bound.
    Timeout,
    /// The server reported an error (`error` message, failed ack).
    ServerError,
    /// The server refused the credentials (permanent, never retried).
    Unauthorized,
    /// A subscribe token could not be decoded.
    InvalidToken,
    /// The IVS Web Broadcast SDK could not be loaded.
    IvsLoadFailed,
    /// The IVS stage failed to join, errored or disconnected.
    IvsStageError,
    /// The camera stream or a track could not be used.
    MediaError,
    /// A reference image could not be read or encoded.
    ImageError,
    /// An HTTP request (image fetch, viewer token) failed.
    NetworkError,
    /// A message from the server did not follow the protocol.
    ProtocolError,
    /// The operation was cancelled by `disconnect()`.
    Aborted,
    /// A broken internal invariant; reported instead of panicking.
    Internal,
}

impl ErrorCode {
    /// The stable string form used as the JS `Error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidOptions => "INVALID_OPTIONS",
            ErrorCode::NotConnected => "NOT_CONNECTED",
            ErrorCode::WebsocketError => "WEBSOCKET_ERROR",
            ErrorCode::SignalingError => "SIGNALING_ERROR",
            ErrorCode::IceFailed => "ICE_FAILED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ServerError => "SERVER_ERROR",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::InvalidToken => "INVALID_TOKEN",
            ErrorCode::IvsLoadFailed => "IVS_LOAD_FAILED",
            ErrorCode::IvsStageError => "IVS_STAGE_ERROR",
            ErrorCode::MediaError => "MEDIA_ERROR",
            ErrorCode::ImageError => "IMAGE_ERROR",
            ErrorCode::NetworkError => "NETWORK_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::Aborted => "ABORTED",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// Every code, for documentation and the TypeScript union.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::InvalidOptions,
        ErrorCode::NotConnected,
        ErrorCode::WebsocketError,
        ErrorCode::SignalingError,
        ErrorCode::IceFailed,
        ErrorCode::Timeout,
        ErrorCode::ServerError,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidToken,
        ErrorCode::IvsLoadFailed,
        ErrorCode::IvsStageError,
        ErrorCode::MediaError,
        ErrorCode::ImageError,
        ErrorCode::NetworkError,
        ErrorCode::ProtocolError,
        ErrorCode::Aborted,
        ErrorCode::Internal,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An SDK error: a stable code, a human message and an optional cause (the text of the
/// underlying browser or third-party error).
#[derive(Debug, Clone, PartialEq)]
pub struct SdkError {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, for a person. Never contains the API key.
    pub message: String,
    /// The underlying error's text, when there is one.
    pub cause: Option<String>,
}

impl SdkError {
    /// A new error with no cause.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SdkError {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// Attaches the underlying error's text.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// `INVALID_OPTIONS` naming the option and what was expected.
    pub fn invalid_option(option: &str, expected: &str) -> Self {
        SdkError::new(
            ErrorCode::InvalidOptions,
            format!("invalid option `{option}`: expected {expected}"),
        )
    }

    /// `NOT_CONNECTED` for a method called without a live session.
    pub fn not_connected(method: &str) -> Self {
        SdkError::new(
            ErrorCode::NotConnected,
            format!("{method}() needs a connected session"),
        )
    }

    /// Removes every occurrence of `secret` from the message and cause (used with the API
    /// key before an error leaves the SDK, in case a URL or server text echoed it).
    pub fn redact(mut self, secret: &str) -> Self {
        self.message = crate::core::redact::redact(&self.message, secret);
        self.cause = self.cause.map(|c| crate::core::redact::redact(&c, secret));
        self
    }
}

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SdkError {}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
        }
    }

    #[test]
    fn invalid_option_names_the_option() {
        let e = SdkError::invalid_option("model", "a model name or definition");
        assert_eq!(e.code.as_str(), "INVALID_OPTIONS");
        assert!(e.message.contains("`model`"));
        assert!(e.to_string().starts_with("INVALID_OPTIONS: "));
    }

    #[test]
    fn redact_removes_plain_and_encoded_key() {
        let e = SdkError::new(
            ErrorCode::WebsocketError,
            "ws://h/v1/stream?api_key=a%2Bb%20c failed",
        )
        .with_cause("key a+b c refused");
        let r = e.redact("a+b c");
        assert!(!r.message.contains("a%2Bb%20c"), "{}", r.message);
        assert!(!r.cause.as_deref().unwrap_or("").contains("a+b c"));
        assert!(r.message.contains("[redacted]"));
    }
}
