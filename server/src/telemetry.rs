//! Telemetry sink (`shared/PROTOCOL.md`, "Telemetry"): `POST /v1/telemetry` takes the SDK's
//! JSON batches (API key in the `x-api-key` header) for sessions opened with that key (live,
//! or ended within [`crate::limits::RECENT_SESSION_TTL`]), keeps their raw bytes in memory
//! within a byte budget, and `GET /v1/telemetry/{session_id}` (same header) returns them,
//! so a developer (and the browser tests) can see what a client reported.

use crate::client_tokens::authorize_request;
use crate::limits::{Limits, MAX_RECENT_SESSIONS};
use crate::{json_error, read_body, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Received batches by session id, and the sessions that may report.
#[derive(Debug, Default)]
pub struct TelemetryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Sessions that may report: their principal (long-lived key) and when they ended.
    sessions: HashMap<String, Known>,
    /// Ended sessions, oldest first.
    ended: VecDeque<(Instant, String)>,
    batches: HashMap<String, Kept>,
    /// Session ids with batches, least recently reporting first.
    order: VecDeque<String>,
    /// Bytes of every kept batch.
    total: usize,
}

#[derive(Debug)]
struct Known {
    principal: String,
    ended: Option<Instant>,
}

#[derive(Debug, Default)]
struct Kept {
    principal: String,
    list: VecDeque<Bytes>,
    bytes: usize,
}

/// Why a batch is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// No session of this key has this id (or it ended too long ago).
    UnknownSession,
    /// Larger than what one session may keep.
    TooLarge,
}

impl Inner {
    /// Forgets ended sessions past `ttl` (and beyond [`MAX_RECENT_SESSIONS`]).
    fn prune(&mut self, now: Instant, ttl: std::time::Duration) {
        while let Some((at, sid)) = self.ended.front() {
            let expired = now.saturating_duration_since(*at) >= ttl;
            if !expired && self.ended.len() <= MAX_RECENT_SESSIONS {
                break;
            }
            let sid = sid.clone();
            self.ended.pop_front();
            self.sessions.remove(&sid);
        }
    }

    fn drop_batches(&mut self, sid: &str) {
        if let Some(k) = self.batches.remove(sid) {
            self.total -= k.bytes;
        }
        self.order.retain(|s| s != sid);
    }
}

impl TelemetryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session opened by `principal` may report from now on.
    pub fn open_session(&self, sid: &str, principal: &str) {
        self.lock().sessions.insert(
            sid.to_string(),
            Known {
                principal: principal.to_string(),
                ended: None,
            },
        );
    }

    /// The session ended at `now`: it may report for a while longer.
    pub fn end_session(&self, sid: &str, now: Instant, limits: &Limits) {
        let mut g = self.lock();
        if let Some(k) = g.sessions.get_mut(sid) {
            k.ended = Some(now);
            g.ended.push_back((now, sid.to_string()));
        }
        g.prune(now, limits.recent_session_ttl);
    }

    /// Keeps `batch` (raw JSON) for session `sid` of `principal`, within the byte bounds: a
    /// session's oldest batches go first, then the least recently reporting sessions.
    pub fn record(
        &self,
        sid: &str,
        principal: &str,
        batch: Bytes,
        now: Instant,
        limits: &Limits,
    ) -> Result<(), RecordError> {
        let mut g = self.lock();
        g.prune(now, limits.recent_session_ttl);
        if g.sessions.get(sid).is_none_or(|k| k.principal != principal) {
            return Err(RecordError::UnknownSession);
        }
        let per_session = limits
            .max_telemetry_session_bytes
            .min(limits.max_telemetry_bytes);
        if batch.len() > per_session {
            return Err(RecordError::TooLarge);
        }
        g.order.retain(|s| s != sid);
        g.order.push_back(sid.to_string());
        let size = batch.len();
        let kept = g.batches.entry(sid.to_string()).or_insert_with(|| Kept {
            principal: principal.to_string(),
            ..Kept::default()
        });
        kept.list.push_back(batch);
        kept.bytes += size;
        let mut freed = 0;
        while kept.bytes > per_session {
            let Some(old) = kept.list.pop_front() else {
                break;
            };
            kept.bytes -= old.len();
            freed += old.len();
        }
        g.total = g.total + size - freed;
        while g.total > limits.max_telemetry_bytes {
            let Some(oldest) = g.order.front().cloned() else {
                break;
            };
            if oldest == sid {
                break; // Only this session is left, and it fits its own bound.
            }
            g.drop_batches(&oldest);
        }
        Ok(())
    }

    /// The batches of `sid` as a JSON array (oldest first), when they belong to `principal`
    /// (`[]` otherwise).
    pub fn batches_json(&self, sid: &str, principal: &str) -> Vec<u8> {
        let g = self.lock();
        let mut out = b"[".to_vec();
        if let Some(k) = g.batches.get(sid).filter(|k| k.principal == principal) {
            for (i, b) in k.list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b);
            }
        }
        out.push(b']');
        out
    }

    /// Bytes kept in all.
    pub fn total_bytes(&self) -> usize {
        self.lock().total
    }
}

/// The JSON kind of a value, read without keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Array,
    Object,
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Kind::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Kind, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Kind::Object)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_str<E>(self, s: &str) -> Result<Kind, E> {
                Ok(Kind::Text(s.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields a batch is checked for; everything else is skipped without being kept.
#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "sessionId")]
    session_id: Option<Kind>,
    stats: Option<Kind>,
    diagnostics: Option<Kind>,
    tags: Option<Kind>,
}

/// Checks a batch: a JSON object with a non-empty string `sessionId`, `stats` and
/// `diagnostics` arrays and a `tags` object; returns the session id. Nothing of the batch
/// is kept but the id.
pub fn validate(body: &[u8]) -> Result<String, String> {
    let shape: Shape = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let sid = match shape.session_id {
        Some(Kind::Text(s)) if !s.is_empty() => s,
        _ => return Err("sessionId (a non-empty string) is missing".into()),
    };
    for (name, kind) in [("stats", shape.stats), ("diagnostics", shape.diagnostics)] {
        if kind != Some(Kind::Array) {
            return Err(format!("{name} (an array) is missing"));
        }
    }
    if shape.tags != Some(Kind::Object) {
        return Err("tags (an object) is missing".into());
    }
    Ok(sid)
}

/// `POST /v1/telemetry`.
pub async fn post(headers: HeaderMap, State(app): State<Arc<AppState>>, body: Body) -> Response {
    let access = match authorize_request(&app, &headers) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let limits = &app.config.limits;
    let body = match read_body(body, limits.max_telemetry_body_bytes, limits.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let sid = match validate(&body) {
        Ok(sid) => sid,
        Err(why) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid telemetry batch: {why}"),
            )
        }
    };
    let size = body.len();
    match app
        .telemetry
        .record(&sid, &access.principal, body, Instant::now(), limits)
    {
        Ok(()) => {
            tracing::debug!(session = %sid, bytes = size, "telemetry batch");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(RecordError::UnknownSession) => json_error(
            StatusCode::NOT_FOUND,
            "unknown session: telemetry is accepted for sessions opened with this key (live or recently ended)",
        ),
        Err(RecordError::TooLarge) => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "telemetry batch too large",
        ),
    }
}

/// `GET /v1/telemetry/{session_id}`: the batches received for the session, oldest first
/// (`[]` for a session of another key, or none).
pub async fn get(
    Path(sid): Path<String>,
    headers: HeaderMap,
    State(app): State<Arc<AppState>>,
) -> Response {
    let access = match authorize_request(&app, &headers) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.telemetry.batches_json(&sid, &access.principal),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn validate_needs_the_protocol_shape() {
        let ok = json!({"sessionId": "s1", "timestamp": 1, "tags": {"transport": "ivs"}, "stats": [{"a": [1, {"b": null}]}], "diagnostics": []});
        assert_eq!(validate(ok.to_string().as_bytes()).unwrap(), "s1");
        assert!(validate(b"{").unwrap_err().starts_with("not JSON"));
        assert!(validate(b"[1]").unwrap_err().starts_with("not JSON"));
        for (batch, field) in [
            (
                json!({"stats": [], "diagnostics": [], "tags": {}}),
                "sessionId",
            ),
            (
                json!({"sessionId": "", "stats": [], "diagnostics": [], "tags": {}}),
                "sessionId",
            ),
            (
                json!({"sessionId": 5, "stats": [], "diagnostics": [], "tags": {}}),
                "sessionId",
            ),
            (
                json!({"sessionId": "s", "stats": {}, "diagnostics": [], "tags": {}}),
                "stats",
            ),
            (
                json!({"sessionId": "s", "stats": [], "diagnostics": 1, "tags": {}}),
                "diagnostics",
            ),
            (
                json!({"sessionId": "s", "stats": [], "diagnostics": [], "tags": []}),
                "tags",
            ),
        ] {
            let e = validate(batch.to_string().as_bytes()).unwrap_err();
            assert!(e.contains(field), "{batch} → {e}");
        }
    }

    fn limits(session: usize, total: usize) -> Limits {
        Limits {
            max_telemetry_session_bytes: session,
            max_telemetry_bytes: total,
            recent_session_ttl: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    fn batch(n: usize) -> Bytes {
        Bytes::from(format!("[{}]", "0,".repeat(n / 2).trim_end_matches(',')))
    }

    #[test]
    fn only_sessions_of_the_key_may_report() {
        let s = TelemetryStore::default();
        let l = limits(1000, 10_000);
        let now = Instant::now();
        assert_eq!(
            s.record("a", "k", batch(10), now, &l),
            Err(RecordError::UnknownSession)
        );
        s.open_session("a", "k");
        assert_eq!(
            s.record("a", "other", batch(10), now, &l),
            Err(RecordError::UnknownSession)
        );
        assert_eq!(s.record("a", "k", batch(10), now, &l), Ok(()));
        assert_eq!(s.batches_json("a", "other"), b"[]");
        assert!(s.batches_json("a", "k").len() > 10);
        // Ended: still accepted within the TTL, not after.
        s.end_session("a", now, &l);
        assert_eq!(
            s.record("a", "k", batch(10), now + Duration::from_secs(59), &l),
            Ok(())
        );
        assert_eq!(
            s.record("a", "k", batch(10), now + Duration::from_secs(60), &l),
            Err(RecordError::UnknownSession)
        );
    }

    #[test]
    fn the_store_is_bounded_in_bytes() {
        let s = TelemetryStore::default();
        let l = limits(1000, 3000);
        let now = Instant::now();
        for sid in ["a", "b", "c", "d"] {
            s.open_session(sid, "k");
        }
        for i in 0..50 {
            s.record("a", "k", batch(100 + i), now, &l).unwrap();
        }
        assert!(s.total_bytes() <= 1000, "{}", s.total_bytes());
        let a: serde_json::Value = serde_json::from_slice(&s.batches_json("a", "k")).unwrap();
        assert!(a.as_array().unwrap().len() < 50, "the oldest went first");
        for sid in ["b", "c", "d"] {
            for _ in 0..20 {
                s.record(sid, "k", batch(200), now, &l).unwrap();
            }
        }
        assert!(s.total_bytes() <= 3000, "{}", s.total_bytes());
        assert_eq!(
            s.batches_json("a", "k"),
            b"[]",
            "the least recently reporting went first"
        );
        assert_eq!(
            s.record("d", "k", batch(2000), now, &l),
            Err(RecordError::TooLarge)
        );
    }
}
