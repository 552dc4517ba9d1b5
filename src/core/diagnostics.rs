//! The `diagnostic` event's payloads (`shared/API.md` §4.2, §7): one builder per name, so the
//! shapes live in one place and are tested natively. The browser layer supplies the values.

use crate::core::json::{Json, Obj};

/// Phases of a connection attempt (`phaseTiming.phase`).
pub mod phase {
    /// The WebSocket opened.
    pub const WEBSOCKET: &str = "websocket";
    /// The initial image was acknowledged.
    pub const AVATAR_IMAGE: &str = "avatar-image";
    /// The initial prompt (or passthrough `set_image`) was acknowledged.
    pub const INITIAL_PROMPT: &str = "initial-prompt";
    /// Offer/answer and ICE up to `connected`.
    pub const WEBRTC_HANDSHAKE: &str = "webrtc-handshake";
    /// The IVS stage token, SDK, join and remote streams.
    pub const IVS_STAGE_SETUP: &str = "ivs-stage-setup";
    /// The whole attempt.
    pub const TOTAL: &str = "total";
}

/// The event payload `{name, data, kind, timestamp}` (`kind` repeats `name`; `timestamp` is
/// wall ms).
pub fn event(name: &str, data: Json, wall_ms: f64) -> Json {
    Obj::new()
        .set("name", name)
        .set("data", data)
        .set("kind", name)
        .set("timestamp", wall_ms)
        .build()
}

/// `phaseTiming`: `{phase, durationMs, success, error?}`, plus `steps` (ms) on
/// `ivs-stage-setup`.
pub fn phase_timing(
    phase: &str,
    duration_ms: f64,
    error: Option<&str>,
    steps: Option<Json>,
) -> Json {
    Obj::new()
        .set("phase", phase)
        .set("durationMs", duration_ms.max(0.0))
        .set("success", error.is_none())
        .opt("error", error)
        .opt("steps", steps)
        .build()
}

/// `"host" | "srflx" | "prflx" | "relay"`, else `"unknown"`.
pub fn candidate_type(t: Option<&str>) -> &'static str {
    match t {
        Some("host") => "host",
        Some("srflx") => "srflx",
        Some("prflx") => "prflx",
        Some("relay") => "relay",
        _ => "unknown",
    }
}

/// `"udp" | "tcp"`, else `"unknown"` (case-insensitive).
pub fn candidate_protocol(p: Option<&str>) -> &'static str {
    match p.map(str::to_ascii_lowercase).as_deref() {
        Some("udp") => "udp",
        Some("tcp") => "tcp",
        _ => "unknown",
    }
}

/// Type and protocol of a `candidate:` SDP line: the type after `typ`, the protocol the first
/// `udp`/`tcp` token.
pub fn parse_candidate_line(line: &str) -> (&'static str, &'static str) {
    let mut tokens = line.split_ascii_whitespace();
    let mut protocol = None;
    let mut typ = None;
    while let Some(t) = tokens.next() {
        if protocol.is_none() && (t.eq_ignore_ascii_case("udp") || t.eq_ignore_ascii_case("tcp")) {
            protocol = Some(t);
        }
        if t == "typ" {
            typ = tokens.next();
        }
    }
    (candidate_type(typ), candidate_protocol(protocol))
}

/// `iceCandidate`: `{source, candidateType, protocol, address?, port?, candidate}`.
pub fn ice_candidate(
    source: &str,
    candidate_type: &str,
    protocol: &str,
    address: Option<&str>,
    port: Option<f64>,
    line: &str,
) -> Json {
    Obj::new()
        .set("source", source)
        .set("candidateType", candidate_type)
        .set("protocol", protocol)
        .opt("address", address.filter(|a| !a.is_empty()))
        .opt("port", port)
        .set("candidate", line)
        .build()
}

/// The state a peer connection's states start from (`previousState` of the first change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHistory {
    ice: String,
    connection: String,
    signaling: String,
}

impl Default for StateHistory {
    fn default() -> Self {
        StateHistory {
            ice: "new".into(),
            connection: "new".into(),
            signaling: "stable".into(),
        }
    }
}

/// Which state of a peer connection changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// `iceConnectionState` → `iceStateChange`.
    Ice,
    /// `connectionState` → `peerConnectionStateChange`.
    Connection,
    /// `signalingState` → `signalingStateChange`.
    Signaling,
}

impl StateKind {
    /// The diagnostic's name.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Ice => "iceStateChange",
            StateKind::Connection => "peerConnectionStateChange",
            StateKind::Signaling => "signalingStateChange",
        }
    }
}

impl StateHistory {
    /// Records `state` and returns the diagnostic's data `{state, previousState,
    /// timestampMs}` (perf ms), or `None` when the state did not change.
    pub fn change(&mut self, kind: StateKind, state: &str, perf_ms: f64) -> Option<Json> {
        let slot = match kind {
            StateKind::Ice => &mut self.ice,
            StateKind::Connection => &mut self.connection,
            StateKind::Signaling => &mut self.signaling,
        };
        if slot == state {
            return None;
        }
        let previous = std::mem::replace(slot, state.to_string());
        Some(
            Obj::new()
                .set("state", state)
                .set("previousState", previous)
                .set("timestampMs", perf_ms)
                .build(),
        )
    }
}

/// `reconnect`: `{attempt, maxAttempts, durationMs, success, error?}` (after each failed
/// attempt and once on success).
pub fn reconnect(attempt: u32, max_attempts: u32, duration_ms: f64, error: Option<&str>) -> Json {
    Obj::new()
        .set("attempt", attempt)
        .set("maxAttempts", max_attempts)
        .set("durationMs", duration_ms.max(0.0))
        .set("success", error.is_none())
        .opt("error", error)
        .build()
}

/// `reconnectAttempt`: `{attempt, maxAttempts}` (before each attempt).
pub fn reconnect_attempt(attempt: u32, max_attempts: u32) -> Json {
    Obj::new()
        .set("attempt", attempt)
        .set("maxAttempts", max_attempts)
        .build()
}

/// `messageIgnored`: `{type, reason}`, a server message that made no sense where it came
/// (a second `session_id`, an answer to no offer, an offer or SDP that cannot be applied)
/// and was dropped; the session carries on.
pub fn message_ignored(kind: &str, reason: &str) -> Json {
    Obj::new().set("type", kind).set("reason", reason).build()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::json::write;

    #[test]
    fn event_shape() {
        let e = event(
            "phaseTiming",
            phase_timing(phase::WEBSOCKET, 12.5, None, None),
            1000.0,
        );
        assert_eq!(
            write(&e),
            r#"{"name":"phaseTiming","data":{"phase":"websocket","durationMs":12.5,"success":true},"kind":"phaseTiming","timestamp":1000}"#
        );
        let failed = phase_timing(phase::WEBRTC_HANDSHAKE, 3.0, Some("Timeout"), None);
        assert_eq!(failed.bool("success"), Some(false));
        assert_eq!(failed.str("error"), Some("Timeout"));
    }

    #[test]
    fn candidate_lines() {
        assert_eq!(
            parse_candidate_line("candidate:1 1 UDP 2122260223 127.0.0.1 5000 typ host"),
            ("host", "udp")
        );
        assert_eq!(
            parse_candidate_line(
                "candidate:2 1 tcp 1 10.0.0.1 9 typ srflx raddr 0.0.0.0 rport 0 tcptype active"
            ),
            ("srflx", "tcp")
        );
        assert_eq!(parse_candidate_line(""), ("unknown", "unknown"));
        assert_eq!(parse_candidate_line("typ"), ("unknown", "unknown"));
        assert_eq!(
            parse_candidate_line("candidate:3 1 udp 1 x 1 typ weird"),
            ("unknown", "udp")
        );
        let c = ice_candidate("remote", "host", "udp", None, None, "candidate:x");
        assert_eq!(
            write(&c),
            r#"{"source":"remote","candidateType":"host","protocol":"udp","candidate":"candidate:x"}"#
        );
    }

    #[test]
    fn state_changes_carry_the_previous_state() {
        let mut h = StateHistory::default();
        let d = h.change(StateKind::Connection, "connecting", 5.0).unwrap();
        assert_eq!(
            write(&d),
            r#"{"state":"connecting","previousState":"new","timestampMs":5}"#
        );
        assert_eq!(h.change(StateKind::Connection, "connecting", 6.0), None);
        let d = h
            .change(StateKind::Signaling, "have-local-offer", 7.0)
            .unwrap();
        assert_eq!(d.str("previousState"), Some("stable"));
        let d = h.change(StateKind::Connection, "connected", 8.0).unwrap();
        assert_eq!(d.str("previousState"), Some("connecting"));
    }

    #[test]
    fn reconnect_shapes() {
        assert_eq!(
            write(&reconnect(
                2,
                6,
                1500.0,
                Some("WebSocket connection failed")
            )),
            r#"{"attempt":2,"maxAttempts":6,"durationMs":1500,"success":false,"error":"WebSocket connection failed"}"#
        );
        assert_eq!(
            write(&reconnect_attempt(1, 6)),
            r#"{"attempt":1,"maxAttempts":6}"#
        );
    }
}
