//! The one error type of the SDK, with stable codes (`shared/API.md` §5).
//!
//! Every failure that can reach a page (bad options, a refused key, a dropped socket, a
//! browser rejection, a third-party throw) becomes an [`SdkError`] whose [`ErrorCode`] is the
//! most specific code that applies. At the JS boundary it becomes a real `Error` named
//! `RealtimeError` with two codes:
//! - `code`, the reference SDK's code for errors of that nature ([`ErrorCode::code`]): the five
//!   `WEBRTC_*` codes for anything that went wrong with the connection, else the code itself;
//! - `detailCode`, the most specific code ([`ErrorCode::as_str`]), e.g. `UNAUTHORIZED`.
//!
//! The `message` of a connection error is the reference's fixed text
//! ([`SdkError::public_message`]); this SDK's own description travels as the `cause`.
//! Codes are part of the public API: they never change meaning once published.

use crate::core::json::{Json, Obj};

/// Stable machine-readable error codes: every reference code and this SDK's extras.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `createDecartClient`: the API key is missing, empty or not a string.
    InvalidApiKey,
    /// `createDecartClient`: a URL option is invalid (or `ws://` to a non-loopback host).
    InvalidBaseUrl,
    /// `models.*` with an unknown name.
    ModelNotFound,
    /// An option or argument passed by the page is missing, of the wrong type or out of range.
    InvalidOptions,
    /// The WebSocket could not be opened or closed unexpectedly.
    WebsocketError,
    /// ICE or the peer connection failed.
    IceError,
    /// A phase did not finish within its bound.
    Timeout,
    /// The server reported an error (`error` message, negative ack).
    ServerError,
    /// The offer/answer exchange failed, or another connection failure.
    SignalingError,
    /// HTTP half of the reference SDK: present in `ERROR_CODES`, never produced.
    InvalidInput,
    /// HTTP half: never produced.
    ProcessingError,
    /// HTTP half: never produced.
    QueueSubmitError,
    /// HTTP half: never produced.
    QueueStatusError,
    /// HTTP half: never produced.
    QueueResultError,
    /// HTTP half: never produced.
    JobNotCompleted,
    /// HTTP half: never produced.
    TokenCreateError,
    /// `set`/`setPrompt` (or another method that needs one) without a live session.
    NotConnected,
    /// The server refused the credentials (permanent, never retried).
    Unauthorized,
    /// A subscribe token could not be decoded.
    InvalidToken,
    /// The IVS Web Broadcast SDK could not be loaded.
    IvsLoadFailed,
    /// The IVS stage failed to join, errored or disconnected.
    IvsStageError,
    /// The camera stream, a track or an audio clip could not be used.
    MediaError,
    /// A reference image could not be read or encoded.
    ImageError,
    /// An HTTP request (image fetch, viewer token) failed.
    NetworkError,
    /// A message from the server did not follow the protocol.
    ProtocolError,
    /// Cancelled by `disconnect()` or the `signal` option.
    Aborted,
    /// A broken internal invariant; reported instead of panicking.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of `ERROR_CODES`.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::InvalidApiKey,
        ErrorCode::InvalidBaseUrl,
        ErrorCode::ModelNotFound,
        ErrorCode::InvalidOptions,
        ErrorCode::WebsocketError,
        ErrorCode::IceError,
        ErrorCode::Timeout,
        ErrorCode::ServerError,
        ErrorCode::SignalingError,
        ErrorCode::InvalidInput,
        ErrorCode::ProcessingError,
        ErrorCode::QueueSubmitError,
        ErrorCode::QueueStatusError,
        ErrorCode::QueueResultError,
        ErrorCode::JobNotCompleted,
        ErrorCode::TokenCreateError,
        ErrorCode::NotConnected,
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

    /// The code's own string: the JS `detailCode` (and the key and value in `ERROR_CODES`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidApiKey => "INVALID_API_KEY",
            ErrorCode::InvalidBaseUrl => "INVALID_BASE_URL",
            ErrorCode::ModelNotFound => "MODEL_NOT_FOUND",
            ErrorCode::InvalidOptions => "INVALID_OPTIONS",
            ErrorCode::WebsocketError => "WEBRTC_WEBSOCKET_ERROR",
            ErrorCode::IceError => "WEBRTC_ICE_ERROR",
            ErrorCode::Timeout => "WEBRTC_TIMEOUT_ERROR",
            ErrorCode::ServerError => "WEBRTC_SERVER_ERROR",
            ErrorCode::SignalingError => "WEBRTC_SIGNALING_ERROR",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::ProcessingError => "PROCESSING_ERROR",
            ErrorCode::QueueSubmitError => "QUEUE_SUBMIT_ERROR",
            ErrorCode::QueueStatusError => "QUEUE_STATUS_ERROR",
            ErrorCode::QueueResultError => "QUEUE_RESULT_ERROR",
            ErrorCode::JobNotCompleted => "JOB_NOT_COMPLETED",
            ErrorCode::TokenCreateError => "TOKEN_CREATE_ERROR",
            ErrorCode::NotConnected => "NOT_CONNECTED",
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

    /// The JS `code`: the reference's code for an error of this nature. Connection failures
    /// map to one of the five `WEBRTC_*` codes (the only ones an `error` event carries);
    /// everything else keeps its own code.
    pub fn code(self) -> ErrorCode {
        match self {
            ErrorCode::Unauthorized => ErrorCode::ServerError,
            ErrorCode::IvsLoadFailed | ErrorCode::IvsStageError | ErrorCode::ProtocolError => {
                ErrorCode::SignalingError
            }
            other => other,
        }
    }

    /// True for codes whose JS `code` is one of the five `WEBRTC_*` codes.
    pub fn is_connection_error(self) -> bool {
        matches!(
            self.code(),
            ErrorCode::WebsocketError
                | ErrorCode::IceError
                | ErrorCode::Timeout
                | ErrorCode::ServerError
                | ErrorCode::SignalingError
        )
    }
}

/// An SDK error: the most specific code, this SDK's description, the underlying error's text
/// and optional structured data (`{phase, timeoutMs}` of a timeout). One pointer wide: error
/// paths move and drop a box, not the fields (it keeps the wasm small).
#[derive(Debug, Clone, PartialEq)]
pub struct SdkError(Box<ErrorInfo>);

/// The fields of an [`SdkError`] (read through `Deref`).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    /// The most specific code.
    pub code: ErrorCode,
    /// What went wrong, for a person. Never contains the API key.
    pub message: String,
    /// The underlying error's text, when there is one.
    pub cause: Option<String>,
    /// Structured details (`data` of the JS error).
    pub data: Option<Json>,
}

/// Joins text pieces (error messages are built without `format!`, which would pull the
/// formatting machinery into the browser build).
pub fn join(parts: &[&str]) -> String {
    parts.concat()
}

/// A whole number as decimal text.
pub fn int(n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().map(|&d| char::from(d)).collect()
}

impl std::ops::Deref for SdkError {
    type Target = ErrorInfo;
    fn deref(&self) -> &ErrorInfo {
        &self.0
    }
}

impl std::ops::DerefMut for SdkError {
    fn deref_mut(&mut self) -> &mut ErrorInfo {
        &mut self.0
    }
}

impl SdkError {
    /// A new error with no cause.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SdkError(Box::new(ErrorInfo {
            code,
            message: message.into(),
            cause: None,
            data: None,
        }))
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
            join(&["invalid option `", option, "`: expected ", expected]),
        )
    }

    /// `NOT_CONNECTED` for a method called without a live session.
    pub fn not_connected(method: &str) -> Self {
        SdkError::new(
            ErrorCode::NotConnected,
            join(&[method, "() needs a connected session"]),
        )
    }

    /// `ABORTED` with the reason.
    pub fn aborted(why: &str) -> Self {
        SdkError::new(ErrorCode::Aborted, why)
    }

    /// `WEBRTC_TIMEOUT_ERROR` for `phase` (`"connection"`, `"prompt"`, `"image"`, ...):
    /// `what` did not finish within `ms`; `data` is `{phase, timeoutMs}`.
    pub fn timeout(phase: &str, what: &str, ms: u32) -> Self {
        let mut e = SdkError::new(
            ErrorCode::Timeout,
            join(&[what, " did not finish within ", &int(u64::from(ms)), " ms"]),
        );
        e.data = Some(Obj::new().set("phase", phase).set("timeoutMs", ms).build());
        e
    }

    /// A server's `error` text: `WEBRTC_SERVER_ERROR`, or `UNAUTHORIZED` when the text says
    /// retrying cannot help ([`crate::core::retry::is_permanent`]).
    pub fn server(text: &str) -> Self {
        let code = if crate::core::retry::is_permanent(text) {
            ErrorCode::Unauthorized
        } else {
            ErrorCode::ServerError
        };
        SdkError::new(code, text)
    }

    /// The JS `message`: the reference's fixed text for connection errors (the server's text
    /// verbatim for server errors), else this SDK's description.
    pub fn public_message(&self) -> String {
        match self.code.code() {
            ErrorCode::WebsocketError => "WebSocket connection failed".into(),
            ErrorCode::IceError => "ICE connection failed".into(),
            ErrorCode::SignalingError => "Signaling error".into(),
            ErrorCode::Timeout => match self.data.as_ref().and_then(|d| d.num("timeoutMs")) {
                Some(ms)
                    if self.data.as_ref().and_then(|d| d.str("phase")) == Some("connection") =>
                {
                    join(&["connection timed out after ", &int(ms as u64), "ms"])
                }
                _ => self.message.clone(),
            },
            _ => self.message.clone(),
        }
    }

    /// The description behind [`Self::public_message`], when it says more: the JS `cause`.
    pub fn detail(&self) -> Option<String> {
        let public = self.public_message();
        let mut detail = if public == self.message {
            None
        } else {
            Some(self.message.clone())
        };
        if let Some(c) = &self.cause {
            detail = Some(match detail {
                Some(d) => join(&[&d, ": ", c]),
                None => c.clone(),
            });
        }
        detail
    }

    /// Removes the API key from every text of the error (the last guard before an error
    /// leaves the SDK; messages are built so that they never contain it).
    pub fn redact(mut self, secret: &str) -> Self {
        self.message = crate::core::redact::redact(&self.message, secret);
        self.cause = self
            .cause
            .take()
            .map(|c| crate::core::redact::redact(&c, secret));
        self
    }
}

impl std::fmt::Display for SdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
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
    fn connection_errors_carry_the_five_reference_codes() {
        for code in ErrorCode::ALL {
            if code.is_connection_error() {
                assert!(code.code().as_str().starts_with("WEBRTC_"), "{code:?}");
            } else {
                assert_eq!(code.code(), code);
            }
        }
        assert_eq!(
            ErrorCode::Unauthorized.code().as_str(),
            "WEBRTC_SERVER_ERROR"
        );
        assert_eq!(
            ErrorCode::IvsStageError.code().as_str(),
            "WEBRTC_SIGNALING_ERROR"
        );
    }

    #[test]
    fn messages_follow_the_reference() {
        let e = SdkError::new(
            ErrorCode::WebsocketError,
            "the WebSocket closed (code 1006)",
        );
        assert_eq!(e.public_message(), "WebSocket connection failed");
        assert_eq!(
            e.detail().as_deref(),
            Some("the WebSocket closed (code 1006)")
        );
        let e = SdkError::timeout("connection", "connecting media", 30_000);
        assert_eq!(e.public_message(), "connection timed out after 30000ms");
        assert_eq!(
            e.data.as_ref().and_then(|d| d.num("timeoutMs")),
            Some(30_000.0)
        );
        let e = SdkError::server("model overloaded");
        assert_eq!(
            (e.code, e.public_message().as_str()),
            (ErrorCode::ServerError, "model overloaded")
        );
        assert_eq!(e.detail(), None);
        assert_eq!(
            SdkError::server("Invalid API key").code,
            ErrorCode::Unauthorized
        );
        let e = SdkError::invalid_option("model", "a model name or definition");
        assert_eq!(
            e.public_message(),
            "invalid option `model`: expected a model name or definition"
        );
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for (n, s) in [
            (0, "0"),
            (7, "7"),
            (30_000, "30000"),
            (u64::MAX, "18446744073709551615"),
        ] {
            assert_eq!(int(n), s);
        }
    }
}
