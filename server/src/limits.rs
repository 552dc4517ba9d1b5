//! Every limit that protects the server from hostile or broken clients, in one place: the
//! defaults are the constants below, [`Limits`] carries the values a server runs with, and
//! `--limit NAME=VALUE` (see [`Limits::set`]) overrides one by its name.
//!
//! The defaults fit the protocol with room to spare: a session's messages are small except
//! `set_image`, whose base64 image (a reference image of up to 6 MB) fits in
//! [`MAX_MESSAGE_BYTES`]; a browser trickles a handful of ICE candidates; the SDK waits for
//! each ack.

use std::time::Duration;

/// A request's headers (also a WebSocket upgrade's) must arrive within this time; an idle
/// keep-alive connection is closed after it too.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body (telemetry, client tokens) must arrive within this time.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// A WebSocket is pinged this often.
pub const WS_PING_INTERVAL: Duration = Duration::from_secs(15);
/// A WebSocket from which nothing (not even a pong) arrived for this long is closed.
pub const WS_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// A frame the client does not read within this time ends its WebSocket.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Open TCP connections (HTTP and WebSocket); further clients get `503` and a close. Capped
/// at start below the process's descriptor limit (see
/// [`crate::process::raise_nofile_limit`]).
pub const MAX_CONNECTIONS: usize = 1000;
/// Descriptors kept free for everything but client connections (listeners, the media
/// socket, files being served, the refusals themselves).
pub const RESERVED_DESCRIPTORS: usize = 128;
/// Largest message on a session socket (`/v1/stream*`), fragments included.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;
/// Largest message on a viewer or stage-signaling socket (SDP and candidates only).
pub const MAX_SIGNAL_MESSAGE_BYTES: usize = 256 << 10;
/// ICE candidates a session holds before its offer, and accepts per peer connection.
pub const MAX_PENDING_CANDIDATES: usize = 64;
/// Longest usable ICE candidate line (a real one is about 100 bytes); longer ones are
/// ignored.
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Prompts and images awaiting their (delayed) ack, per session.
pub const MAX_PENDING_ACKS: usize = 32;
/// Bytes a session may have the server hold for it in acks waiting to be sent (a delayed
/// `prompt_ack` holds its prompt).
pub const MAX_SESSION_PENDING_BYTES: usize = 1 << 20;
/// Largest telemetry batch (the SDK sends at most 120 stats and 120 diagnostics).
pub const MAX_TELEMETRY_BODY_BYTES: usize = 512 << 10;
/// Telemetry kept per session (the oldest batches go first).
pub const MAX_TELEMETRY_SESSION_BYTES: usize = 2 << 20;
/// Telemetry kept in all (the least recently reporting sessions go first).
pub const MAX_TELEMETRY_BYTES: usize = 16 << 20;
/// How long an ended session may still report telemetry.
pub const RECENT_SESSION_TTL: Duration = Duration::from_secs(15 * 60);
/// Ended sessions remembered for telemetry (the oldest are forgotten first).
pub const MAX_RECENT_SESSIONS: usize = 4096;
/// Client tokens held (live, or expired for less than [`EXPIRED_TOKEN_RETENTION`]).
pub const MAX_CLIENT_TOKENS: usize = 10_000;
/// How long an expired client token is still recognised (and refused as expired).
pub const EXPIRED_TOKEN_RETENTION: Duration = Duration::from_secs(3600);
/// Largest `POST /v1/client/tokens` body.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 16 << 10;

/// The limits a server runs with ([`Default`]: the constants above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// [`BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// [`WS_PING_INTERVAL`].
    pub ws_ping_interval: Duration,
    /// [`WS_IDLE_TIMEOUT`].
    pub ws_idle_timeout: Duration,
    /// [`SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// [`MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// [`MAX_SIGNAL_MESSAGE_BYTES`].
    pub max_signal_message_bytes: usize,
    /// [`MAX_PENDING_CANDIDATES`].
    pub max_pending_candidates: usize,
    /// [`MAX_PENDING_ACKS`].
    pub max_pending_acks: usize,
    /// [`MAX_SESSION_PENDING_BYTES`].
    pub max_session_pending_bytes: usize,
    /// [`MAX_TELEMETRY_BODY_BYTES`].
    pub max_telemetry_body_bytes: usize,
    /// [`MAX_TELEMETRY_SESSION_BYTES`].
    pub max_telemetry_session_bytes: usize,
    /// [`MAX_TELEMETRY_BYTES`].
    pub max_telemetry_bytes: usize,
    /// [`RECENT_SESSION_TTL`].
    pub recent_session_ttl: Duration,
    /// [`MAX_CLIENT_TOKENS`].
    pub max_client_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            ws_ping_interval: WS_PING_INTERVAL,
            ws_idle_timeout: WS_IDLE_TIMEOUT,
            send_timeout: SEND_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_signal_message_bytes: MAX_SIGNAL_MESSAGE_BYTES,
            max_pending_candidates: MAX_PENDING_CANDIDATES,
            max_pending_acks: MAX_PENDING_ACKS,
            max_session_pending_bytes: MAX_SESSION_PENDING_BYTES,
            max_telemetry_body_bytes: MAX_TELEMETRY_BODY_BYTES,
            max_telemetry_session_bytes: MAX_TELEMETRY_SESSION_BYTES,
            max_telemetry_bytes: MAX_TELEMETRY_BYTES,
            recent_session_ttl: RECENT_SESSION_TTL,
            max_client_tokens: MAX_CLIENT_TOKENS,
        }
    }
}

/// The names `--limit` takes: durations end in `_ms` (milliseconds), the others are counts
/// or bytes.
pub const NAMES: &[&str] = &[
    "header_timeout_ms",
    "body_timeout_ms",
    "ws_ping_interval_ms",
    "ws_idle_timeout_ms",
    "send_timeout_ms",
    "max_connections",
    "max_message_bytes",
    "max_signal_message_bytes",
    "max_pending_candidates",
    "max_pending_acks",
    "max_session_pending_bytes",
    "max_telemetry_body_bytes",
    "max_telemetry_session_bytes",
    "max_telemetry_bytes",
    "recent_session_ttl_ms",
    "max_client_tokens",
];

impl Limits {
    /// Sets the limit `name` (one of [`NAMES`]) from a positive integer.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let n: u64 = value
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--limit {name}: `{value}` is not a positive integer"))?;
        let count = usize::try_from(n).unwrap_or(usize::MAX);
        let ms = Duration::from_millis(n);
        match name {
            "header_timeout_ms" => self.header_timeout = ms,
            "body_timeout_ms" => self.body_timeout = ms,
            "ws_ping_interval_ms" => self.ws_ping_interval = ms,
            "ws_idle_timeout_ms" => self.ws_idle_timeout = ms,
            "send_timeout_ms" => self.send_timeout = ms,
            "max_connections" => self.max_connections = count,
            "max_message_bytes" => self.max_message_bytes = count,
            "max_signal_message_bytes" => self.max_signal_message_bytes = count,
            "max_pending_candidates" => self.max_pending_candidates = count,
            "max_pending_acks" => self.max_pending_acks = count,
            "max_session_pending_bytes" => self.max_session_pending_bytes = count,
            "max_telemetry_body_bytes" => self.max_telemetry_body_bytes = count,
            "max_telemetry_session_bytes" => self.max_telemetry_session_bytes = count,
            "max_telemetry_bytes" => self.max_telemetry_bytes = count,
            "recent_session_ttl_ms" => self.recent_session_ttl = ms,
            "max_client_tokens" => self.max_client_tokens = count,
            _ => {
                return Err(format!(
                    "--limit: unknown limit `{name}` (one of {})",
                    NAMES.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Parses one `NAME=VALUE` of `--limit`.
    pub fn set_pair(&mut self, pair: &str) -> Result<(), String> {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--limit: expected NAME=VALUE, got `{pair}`"))?;
        self.set(name.trim(), value)
    }

    /// The connection limit that fits `nofile` descriptors: at most
    /// [`Limits::max_connections`], leaving [`RESERVED_DESCRIPTORS`] free (and at least 1).
    pub fn connections_within(&self, nofile: u64) -> usize {
        let room = usize::try_from(nofile)
            .unwrap_or(usize::MAX)
            .saturating_sub(RESERVED_DESCRIPTORS);
        self.max_connections.min(room).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_sets_its_limit() {
        for name in NAMES {
            let mut l = Limits::default();
            l.set(name, "7").unwrap();
            assert_ne!(l, Limits::default(), "{name} changed nothing");
        }
        let mut l = Limits::default();
        l.set_pair("header_timeout_ms=250").unwrap();
        assert_eq!(l.header_timeout, Duration::from_millis(250));
        l.set_pair(" max_connections = 3").unwrap();
        assert_eq!(l.max_connections, 3);
    }

    #[test]
    fn bad_limits_are_errors() {
        let mut l = Limits::default();
        assert!(l.set("nope", "1").unwrap_err().contains("unknown limit"));
        assert!(l.set("max_connections", "0").is_err());
        assert!(l.set("max_connections", "-1").is_err());
        assert!(l.set("max_connections", "many").is_err());
        assert!(l.set_pair("max_connections").is_err());
        assert_eq!(l, Limits::default());
    }

    #[test]
    fn connections_fit_the_descriptor_limit() {
        let l = Limits::default();
        assert_eq!(l.connections_within(1_000_000), MAX_CONNECTIONS);
        assert_eq!(l.connections_within(1024), 1024 - RESERVED_DESCRIPTORS);
        assert_eq!(l.connections_within(10), 1);
    }

    #[test]
    fn a_reference_image_of_six_megabytes_fits_a_message() {
        let base64_len = 6_000_000usize.div_ceil(3) * 4;
        assert!(base64_len + 200 < MAX_MESSAGE_BYTES);
    }
}
