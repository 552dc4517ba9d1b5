//! Telemetry sink (`shared/PROTOCOL.md`, "Telemetry"): `POST /v1/telemetry` takes the SDK's
//! JSON batches (API key in the `x-api-key` header), keeps the last ones of each session in
//! memory, and `GET /v1/telemetry/{session_id}` (same header) returns them, so a developer
//! (and the browser tests) can see what a client reported.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::{json_error, session, AppState};

/// Largest body accepted, bytes (a batch is at most 120 stats and 120 diagnostics).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Batches kept per session (the oldest go first).
pub const MAX_BATCHES_PER_SESSION: usize = 64;
/// Sessions kept (the least recently reporting go first).
pub const MAX_SESSIONS: usize = 256;

/// Received batches by session id.
#[derive(Debug, Default)]
pub struct TelemetryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_session: HashMap<String, VecDeque<Value>>,
    /// Session ids, least recently reporting first.
    order: VecDeque<String>,
}

impl TelemetryStore {
    /// Keeps `batch` for `session_id`, within the bounds.
    pub fn record(&self, session_id: &str, batch: Value) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.order.retain(|s| s != session_id);
        g.order.push_back(session_id.to_string());
        while g.order.len() > MAX_SESSIONS {
            if let Some(old) = g.order.pop_front() {
                g.by_session.remove(&old);
            }
        }
        let list = g.by_session.entry(session_id.to_string()).or_default();
        list.push_back(batch);
        while list.len() > MAX_BATCHES_PER_SESSION {
            list.pop_front();
        }
    }

    /// The batches of `session_id`, oldest first.
    pub fn batches(&self, session_id: &str) -> Vec<Value> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.by_session
            .get(session_id)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Checks a batch: a JSON object with a string `sessionId` and `stats` / `diagnostics`
/// arrays; returns the session id.
pub fn validate(body: &[u8]) -> Result<(String, Value), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let sid = v
        .get("sessionId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("sessionId (a non-empty string) is missing")?
        .to_string();
    for k in ["stats", "diagnostics"] {
        if !v.get(k).is_some_and(Value::is_array) {
            return Err(format!("{k} (an array) is missing"));
        }
    }
    if !v.get("tags").is_some_and(Value::is_object) {
        return Err("tags (an object) is missing".into());
    }
    Ok((sid, v))
}

fn authorized(app: &AppState, headers: &HeaderMap) -> bool {
    app.config
        .accepts_key(headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

/// `POST /v1/telemetry`.
pub async fn post(headers: HeaderMap, State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    if !authorized(&app, &headers) {
        return json_error(StatusCode::UNAUTHORIZED, session::INVALID_API_KEY);
    }
    if body.len() > MAX_BODY_BYTES {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "telemetry batch too large");
    }
    match validate(&body) {
        Ok((sid, batch)) => {
            let (stats, diags) = (
                batch["stats"].as_array().map_or(0, Vec::len),
                batch["diagnostics"].as_array().map_or(0, Vec::len),
            );
            tracing::debug!(session = %sid, stats, diagnostics = diags, "telemetry batch");
            app.telemetry.record(&sid, batch);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(why) => json_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid telemetry batch: {why}"),
        ),
    }
}

/// `GET /v1/telemetry/{session_id}`: the batches received for the session, oldest first.
pub async fn get(
    Path(sid): Path<String>,
    headers: HeaderMap,
    State(app): State<Arc<AppState>>,
) -> Response {
    if !authorized(&app, &headers) {
        return json_error(StatusCode::UNAUTHORIZED, session::INVALID_API_KEY);
    }
    Json(app.telemetry.batches(&sid)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validate_needs_the_protocol_shape() {
        let ok = json!({"sessionId": "s1", "timestamp": 1, "tags": {"transport": "ivs"}, "stats": [], "diagnostics": []});
        assert_eq!(validate(ok.to_string().as_bytes()).unwrap().0, "s1");
        assert!(validate(b"{").unwrap_err().starts_with("not JSON"));
        assert!(validate(
            json!({"stats": [], "diagnostics": [], "tags": {}})
                .to_string()
                .as_bytes()
        )
        .unwrap_err()
        .contains("sessionId"));
        assert!(validate(
            json!({"sessionId": "s", "stats": {}, "diagnostics": [], "tags": {}})
                .to_string()
                .as_bytes()
        )
        .unwrap_err()
        .contains("stats"));
    }

    #[test]
    fn store_is_bounded() {
        let s = TelemetryStore::default();
        for i in 0..(MAX_BATCHES_PER_SESSION + 5) {
            s.record("a", json!(i));
        }
        let a = s.batches("a");
        assert_eq!(a.len(), MAX_BATCHES_PER_SESSION);
        assert_eq!(a[0], json!(5), "the oldest went first");
        for i in 0..(MAX_SESSIONS + 1) {
            s.record(&format!("s{i}"), json!(i));
        }
        assert!(
            s.batches("a").is_empty(),
            "the least recently reporting session went first"
        );
        assert_eq!(s.batches(&format!("s{MAX_SESSIONS}")).len(), 1);
    }
}
