//! Short-lived client keys, as the real service offers them, so a page never holds the
//! long-lived key: `POST /v1/client/tokens` (long-lived key in `x-api-key`) mints an
//! `ek_…` key that expires, may be limited to some models and page origins, and may bound
//! the length of each session. [`TokenStore::authorize`] checks any key (long-lived or
//! client) for every session, viewer, viewer token and telemetry request.
//!
//! The store is in memory: bounded in count, expired keys kept (and refused as expired)
//! for [`EXPIRED_TOKEN_RETENTION`] after they expire, then forgotten.

use crate::config::Config;
use crate::limits::EXPIRED_TOKEN_RETENTION;
use crate::session::INVALID_API_KEY;
use crate::{json_error, read_body, AppState, Refusal};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The prefix of every client key.
pub const PREFIX: &str = "ek_";
/// The error text for an expired client key.
pub const TOKEN_EXPIRED: &str = "unauthorized: client token expired";
/// The error text when the page's origin is not one of the key's `allowedOrigins`.
pub const ORIGIN_NOT_ALLOWED: &str = "origin not allowed for this client token";
/// `expiresIn` bounds and default, seconds.
pub const EXPIRES_IN: (u64, u64, u64) = (1, 3600, 60);
/// Longest accepted `maxSessionDuration`, seconds.
pub const MAX_SESSION_DURATION_S: f64 = 24.0 * 3600.0;
/// Entries of `allowedModels` / `allowedOrigins`, at most.
const MAX_LIST: usize = 64;
/// Characters of one entry, at most.
const MAX_ENTRY: usize = 256;

/// What a client key allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The long-lived key that minted it.
    pub owner: String,
    /// When it stops opening sessions.
    pub expires: Instant,
    /// `expiresAt`, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// `allowedModels` (`None`: any).
    pub allowed_models: Option<Vec<String>>,
    /// `allowedOrigins`, normalised (`None`: any).
    pub allowed_origins: Option<Vec<String>>,
    /// `constraints.realtime.maxSessionDuration`, seconds.
    pub max_session_duration_s: Option<f64>,
}

/// Who a request speaks for: the long-lived key (its own, or the one that minted its client
/// key) and the client key's restrictions.
#[derive(Debug, Clone)]
pub struct Access {
    /// The long-lived key; sessions and their telemetry belong to it.
    pub principal: String,
    /// The client key's restrictions (`None` for a long-lived key).
    pub grant: Option<Arc<Grant>>,
}

impl Access {
    /// Checks `model` against `allowedModels`.
    pub fn check_model(&self, model: &str) -> Result<(), String> {
        match self.grant.as_ref().and_then(|g| g.allowed_models.as_ref()) {
            Some(models) if !models.iter().any(|m| m == model) => {
                Err(format!("model not allowed for this client token: {model}"))
            }
            _ => Ok(()),
        }
    }

    /// Checks a request's `Origin` against `allowedOrigins`. A WebSocket always carries one
    /// from a browser (`required`); a plain HTTP request is checked only when it has one
    /// (browsers leave it out of same-origin GETs).
    pub fn check_origin(&self, origin: Option<&str>, required: bool) -> Result<(), String> {
        let Some(allowed) = self.grant.as_ref().and_then(|g| g.allowed_origins.as_ref()) else {
            return Ok(());
        };
        let ok = match origin {
            None => !required,
            Some(o) => normalize_origin(o).is_some_and(|o| allowed.contains(&o)),
        };
        if ok {
            Ok(())
        } else {
            Err(ORIGIN_NOT_ALLOWED.into())
        }
    }

    /// The session length limit and the text of the `error` that ends a session at it.
    pub fn session_limit(&self) -> Option<(Duration, String)> {
        let s = self.grant.as_ref()?.max_session_duration_s?;
        Some((
            Duration::from_secs_f64(s),
            format!("session duration limit reached (maxSessionDuration {s} s)"),
        ))
    }
}

/// Why a key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// Missing, unknown or not accepted.
    Invalid,
    /// A client key past its `expiresAt`.
    Expired,
}

impl AuthError {
    /// The `error` text of the refusal.
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Invalid => INVALID_API_KEY,
            AuthError::Expired => TOKEN_EXPIRED,
        }
    }
}

/// The client keys minted.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: Mutex<HashMap<String, Arc<Grant>>>,
}

impl TokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Grant>>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `key` at `now`: a client key (`ek_…`) must be one this server minted and not
    /// expired; any other key must be accepted by the configuration.
    pub fn authorize(
        &self,
        config: &Config,
        key: Option<&str>,
        now: Instant,
    ) -> Result<Access, AuthError> {
        let key = key.filter(|k| !k.is_empty()).ok_or(AuthError::Invalid)?;
        if !key.starts_with(PREFIX) {
            return if config.accepts_key(Some(key)) {
                Ok(Access {
                    principal: key.to_string(),
                    grant: None,
                })
            } else {
                Err(AuthError::Invalid)
            };
        }
        let grant = self.lock().get(key).cloned().ok_or(AuthError::Invalid)?;
        if now >= grant.expires {
            return Err(AuthError::Expired);
        }
        // A long-lived key removed from the configuration takes its client keys with it.
        if !config.accepts_key(Some(&grant.owner)) {
            return Err(AuthError::Invalid);
        }
        Ok(Access {
            principal: grant.owner.clone(),
            grant: Some(grant),
        })
    }

    /// Keeps a new client key for `grant`; `None` when `max` keys are held even after
    /// forgetting those expired long enough ago.
    pub fn insert(&self, grant: Grant, max: usize, now: Instant) -> Option<String> {
        let mut tokens = self.lock();
        if tokens.len() >= max {
            tokens.retain(|_, g| now < g.expires + EXPIRED_TOKEN_RETENTION);
        }
        if tokens.len() >= max {
            return None;
        }
        let key = format!("{}{}", crate::ids::new_id(PREFIX), crate::ids::new_id(""));
        tokens.insert(key.clone(), Arc::new(grant));
        Some(key)
    }

    /// Client keys held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A validated mint request.
#[derive(Debug, Clone, PartialEq)]
pub struct MintRequest {
    /// `expiresIn`, seconds.
    pub expires_in: u64,
    /// `allowedModels`.
    pub allowed_models: Option<Vec<String>>,
    /// `allowedOrigins`, normalised.
    pub allowed_origins: Option<Vec<String>>,
    /// `constraints.realtime.maxSessionDuration`, seconds.
    pub max_session_duration_s: Option<f64>,
}

/// `scheme://host[:port]` in lower case, without a trailing `/`; `None` when `s` is not an
/// `http`/`https` origin.
pub fn normalize_origin(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('/').unwrap_or(&s);
    let (scheme, rest) = s.split_once("://")?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    (matches!(scheme, "http" | "https") && host_ok).then(|| s.to_string())
}

fn string_list(
    v: &Value,
    field: &str,
    check: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let bad = || format!("{field}: expected a non-empty array of at most {MAX_LIST} strings");
    let items = v
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= MAX_LIST);
    let items = items.ok_or_else(bad)?;
    items
        .iter()
        .map(|item| {
            let s = item
                .as_str()
                .filter(|s| s.len() <= MAX_ENTRY)
                .ok_or_else(bad)?;
            check(s).ok_or_else(|| format!("{field}: invalid entry {s:?}"))
        })
        .collect()
}

/// Validates a mint request's JSON body (an empty body is `{}`); the error names the field.
pub fn parse_mint_request(body: &[u8]) -> Result<MintRequest, String> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("body: not JSON ({e})"))?
    };
    let o = v.as_object().ok_or("body: expected a JSON object")?;
    let (min, max, default) = EXPIRES_IN;
    let expires_in = match o.get("expiresIn") {
        None | Some(Value::Null) => default,
        Some(n) => n
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or(format!(
                "expiresIn: expected a whole number of seconds from {min} to {max}"
            ))?,
    };
    let allowed_models = match o.get("allowedModels") {
        None | Some(Value::Null) => None,
        Some(v) => Some(string_list(v, "allowedModels", |s| {
            (!s.trim().is_empty()).then(|| s.to_string())
        })?),
    };
    let allowed_origins = match o.get("allowedOrigins") {
        None | Some(Value::Null) => None,
        Some(v) => Some(string_list(v, "allowedOrigins", normalize_origin)?),
    };
    let max_session_duration_s = match o.get("constraints") {
        None | Some(Value::Null) => None,
        Some(c) => {
            let c = c.as_object().ok_or("constraints: expected an object")?;
            match c.get("realtime") {
                None | Some(Value::Null) => None,
                Some(r) => {
                    let r = r
                        .as_object()
                        .ok_or("constraints.realtime: expected an object")?;
                    match r.get("maxSessionDuration") {
                        None | Some(Value::Null) => None,
                        Some(d) => Some(
                            d.as_f64()
                                .filter(|d| *d > 0.0 && *d <= MAX_SESSION_DURATION_S)
                                .ok_or(format!(
                                    "constraints.realtime.maxSessionDuration: expected a number of seconds greater than 0 and at most {MAX_SESSION_DURATION_S}"
                                ))?,
                        ),
                    }
                }
            }
        }
    };
    Ok(MintRequest {
        expires_in,
        allowed_models,
        allowed_origins,
        max_session_duration_s,
    })
}

/// `ms` since the Unix epoch as ISO 8601 UTC with milliseconds (`1970-01-01T00:00:00.000Z`).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// `POST /v1/client/tokens`: `{apiKey, expiresAt}` for a long-lived key; 400 names the
/// field of a bad request.
pub async fn mint(headers: HeaderMap, State(app): State<Arc<AppState>>, body: Body) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key.is_some_and(|k| k.starts_with(PREFIX)) {
        return json_error(
            StatusCode::FORBIDDEN,
            "a client token cannot mint client tokens: use the long-lived API key",
        );
    }
    if !app.config.accepts_key(key) {
        return json_error(StatusCode::UNAUTHORIZED, INVALID_API_KEY);
    }
    let limits = &app.config.limits;
    let body = match read_body(
        body,
        crate::limits::MAX_TOKEN_REQUEST_BYTES,
        limits.body_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let req = match parse_mint_request(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let now = Instant::now();
    let lifetime = Duration::from_secs(req.expires_in);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let expires_at_ms = now_ms.saturating_add(req.expires_in * 1000);
    let grant = Grant {
        owner: key.unwrap_or_default().to_string(),
        expires: now + lifetime,
        expires_at_ms,
        allowed_models: req.allowed_models,
        allowed_origins: req.allowed_origins,
        max_session_duration_s: req.max_session_duration_s,
    };
    match app.tokens.insert(grant, limits.max_client_tokens, now) {
        Some(api_key) => {
            tracing::info!(expires_in = req.expires_in, "client token minted");
            Json(json!({ "apiKey": api_key, "expiresAt": iso8601(expires_at_ms) })).into_response()
        }
        None => json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many client tokens: wait for some to expire",
        ),
    }
}

/// Checks the `x-api-key` of an HTTP request (and its `Origin`, when it has one): 401 with
/// the reason, 403 for the origin.
pub(crate) fn authorize_request(app: &AppState, headers: &HeaderMap) -> Result<Access, Refusal> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let access = app
        .tokens
        .authorize(&app.config, key, Instant::now())
        .map_err(|e| Refusal::new(StatusCode::UNAUTHORIZED, e.message()))?;
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    access
        .check_origin(origin, false)
        .map_err(|e| Refusal::new(StatusCode::FORBIDDEN, e))?;
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(owner: &str, expires: Instant) -> Grant {
        Grant {
            owner: owner.into(),
            expires,
            expires_at_ms: 0,
            allowed_models: Some(vec!["mirage".into()]),
            allowed_origins: Some(vec!["https://app.example".into()]),
            max_session_duration_s: Some(1.5),
        }
    }

    #[test]
    fn mint_requests_are_validated_field_by_field() {
        let ok = |b: &str| parse_mint_request(b.as_bytes()).unwrap();
        let err = |b: &str| parse_mint_request(b.as_bytes()).unwrap_err();
        assert_eq!(ok("").expires_in, 60);
        assert_eq!(ok("{}").expires_in, 60);
        let r = ok(
            r#"{"expiresIn": 3600, "allowedModels": ["mirage"], "allowedOrigins": ["HTTPS://App.Example/"], "constraints": {"realtime": {"maxSessionDuration": 30}}}"#,
        );
        assert_eq!(r.expires_in, 3600);
        assert_eq!(r.allowed_models, Some(vec!["mirage".to_string()]));
        assert_eq!(
            r.allowed_origins,
            Some(vec!["https://app.example".to_string()])
        );
        assert_eq!(r.max_session_duration_s, Some(30.0));
        for (body, field) in [
            ("[]", "body"),
            ("{", "body"),
            (r#"{"expiresIn": 0}"#, "expiresIn"),
            (r#"{"expiresIn": 3601}"#, "expiresIn"),
            (r#"{"expiresIn": 1.5}"#, "expiresIn"),
            (r#"{"expiresIn": "60"}"#, "expiresIn"),
            (r#"{"allowedModels": "mirage"}"#, "allowedModels"),
            (r#"{"allowedModels": []}"#, "allowedModels"),
            (r#"{"allowedModels": [1]}"#, "allowedModels"),
            (r#"{"allowedOrigins": ["app.example"]}"#, "allowedOrigins"),
            (
                r#"{"allowedOrigins": ["https://a.example/path"]}"#,
                "allowedOrigins",
            ),
            (r#"{"constraints": 1}"#, "constraints"),
            (
                r#"{"constraints": {"realtime": []}}"#,
                "constraints.realtime",
            ),
            (
                r#"{"constraints": {"realtime": {"maxSessionDuration": 0}}}"#,
                "constraints.realtime.maxSessionDuration",
            ),
            (
                r#"{"constraints": {"realtime": {"maxSessionDuration": "1"}}}"#,
                "constraints.realtime.maxSessionDuration",
            ),
        ] {
            let e = err(body);
            assert!(e.starts_with(&format!("{field}:")), "{body} → {e}");
        }
    }

    #[test]
    fn keys_are_authorized_by_kind() {
        let config = Config {
            api_keys: Some(["live".to_string()].into()),
            ..Config::default()
        };
        let store = TokenStore::default();
        let now = Instant::now();
        assert_eq!(
            store
                .authorize(&config, Some("live"), now)
                .unwrap()
                .principal,
            "live"
        );
        for k in [None, Some(""), Some("other"), Some("ek_unknown")] {
            assert_eq!(
                store.authorize(&config, k, now).unwrap_err(),
                AuthError::Invalid,
                "{k:?}"
            );
        }
        let key = store
            .insert(grant("live", now + Duration::from_secs(5)), 10, now)
            .unwrap();
        assert!(key.starts_with(PREFIX) && key.len() > 40, "{key}");
        let access = store.authorize(&config, Some(&key), now).unwrap();
        assert_eq!(access.principal, "live");
        assert_eq!(
            store
                .authorize(&config, Some(&key), now + Duration::from_secs(5))
                .unwrap_err(),
            AuthError::Expired
        );
        // A key minted by a long-lived key that is no longer accepted.
        let orphan = store
            .insert(grant("gone", now + Duration::from_secs(5)), 10, now)
            .unwrap();
        assert_eq!(
            store.authorize(&config, Some(&orphan), now).unwrap_err(),
            AuthError::Invalid
        );
    }

    #[test]
    fn restrictions() {
        let access = Access {
            principal: "live".into(),
            grant: Some(Arc::new(grant("live", Instant::now()))),
        };
        assert!(access.check_model("mirage").is_ok());
        assert_eq!(
            access.check_model("lucy_2_rt").unwrap_err(),
            "model not allowed for this client token: lucy_2_rt"
        );
        assert!(access
            .check_origin(Some("https://app.example"), true)
            .is_ok());
        assert!(access
            .check_origin(Some("https://APP.example/"), true)
            .is_ok());
        assert_eq!(
            access
                .check_origin(Some("https://evil.example"), true)
                .unwrap_err(),
            ORIGIN_NOT_ALLOWED
        );
        assert!(access.check_origin(None, true).is_err());
        assert!(access.check_origin(None, false).is_ok());
        let (d, text) = access.session_limit().unwrap();
        assert_eq!(d, Duration::from_millis(1500));
        assert_eq!(
            text,
            "session duration limit reached (maxSessionDuration 1.5 s)"
        );
        let open = Access {
            principal: "live".into(),
            grant: None,
        };
        assert!(open.check_model("anything").is_ok());
        assert!(open
            .check_origin(Some("https://evil.example"), true)
            .is_ok());
        assert!(open.session_limit().is_none());
    }

    #[test]
    fn the_store_is_bounded_and_forgets_long_expired_keys() {
        let store = TokenStore::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(store
                .insert(grant("k", now + Duration::from_secs(1)), 3, now)
                .is_some());
        }
        assert!(store.insert(grant("k", now), 3, now).is_none(), "full");
        let later = now + Duration::from_secs(1) + EXPIRED_TOKEN_RETENTION;
        assert!(store.insert(grant("k", later), 3, later).is_some());
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
        assert_eq!(iso8601(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }
}
