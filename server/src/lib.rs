//! The reference realtime server: a local stand-in for the realtime inference service that
//! speaks the protocol of `shared/PROTOCOL.md` with the SDK's own wire types.
//!
//! * [`session`]: WebSocket sessions (`/v1/stream`, `/v1/stream-ivs`) and viewers
//!   (`/subscribe/{sid}`), with [`faults`] injected per session.
//! * [`media`]: one UDP socket and all str0m peer connections; the client's media is echoed
//!   back unchanged, or transformed ([`transform`]: [`codec`] + [`effects`] on a worker
//!   thread per session), and fanned out to viewers; [`impair`] delays, drops and
//!   rate-limits a session's datagrams when asked.
//! * [`stage`]: the emulated IVS stages (participants, tokens); [`stage_signal`]: the
//!   WebSocket the browser-side stage emulator ([`emulator`], served at
//!   `/ivs-emulator.js` and `/ivs-emulator.mjs`) joins, publishes and subscribes through.
//! * [`meter`]: the measured values of `metrics_report`.
//! * [`limits`]: every bound against hostile clients, enforced by [`listener`] (connection
//!   limit, header timeout), [`wsguard`] (WebSocket keepalive, message size), the sessions
//!   and [`telemetry`]; [`ratelog`] bounds the warnings bad input causes.
//! * [`client_tokens`]: short-lived client keys (`POST /v1/client/tokens`) and the key
//!   check of every request; [`turn`]: the TURN relay configuration sent to sessions.
//!
//! Everything binds to [`Config::host`] (127.0.0.1 by default) and the only ICE candidate
//! advertised is that address: no STUN, no other interface.

pub mod client_tokens;
pub mod codec;
pub mod config;
pub mod effects;
pub mod emulator;
pub mod faults;
mod ids;
pub mod impair;
pub mod limits;
pub mod listener;
pub mod media;
pub mod meter;
pub mod process;
pub mod ratelog;
pub mod session;
pub mod stage;
pub mod stage_signal;
pub mod telemetry;
pub mod transform;
pub mod turn;
pub mod wsguard;

pub use config::{Cli, Config, USAGE};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use media::MediaHandle;
use realtime_video_sdk::core::models;
use realtime_video_sdk::core::token::Transport;
use stage::StageRegistry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

/// A live session, as viewers and the IVS token endpoint see it.
#[derive(Debug)]
pub struct SessionEntry {
    /// The session's transport.
    pub transport: Transport,
    /// Turns true when the session ends (viewers close then).
    pub ended: watch::Sender<bool>,
}

/// State shared by all requests.
#[derive(Debug)]
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The bound HTTP address (its port is `server_port`).
    pub http_addr: SocketAddr,
    /// The media task.
    pub media: MediaHandle,
    /// Live sessions by id.
    pub sessions: Mutex<HashMap<String, SessionEntry>>,
    /// IVS stages.
    pub stages: StageRegistry,
    /// Telemetry batches received, by session.
    pub telemetry: telemetry::TelemetryStore,
    /// Client keys minted.
    pub tokens: client_tokens::TokenStore,
    /// Turns true on shutdown.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// The session map (a poisoned lock is still consistent: single inserts/removes).
    pub fn sessions_lock(&self) -> MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Resolves once the flag is true (or its sender is gone). The `watch::Ref` stays inside,
/// so callers' futures remain `Send`.
pub(crate) async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// HTTP / WebSocket address.
    pub http_addr: SocketAddr,
    /// UDP media address (the ICE host candidate).
    pub udp_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    media: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, closes every session and peer connection, and waits (at most 5 s)
    /// for the tasks to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = self.http.await;
            let _ = self.media.await;
        })
        .await;
    }
}

/// Binds the HTTP listener and the UDP media socket on `config.host` and starts serving.
pub async fn start(config: Config) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind((config.host, config.port)).await?;
    process::return_large_buffers();
    let max_connections = match process::raise_nofile_limit() {
        Some(nofile) => config.limits.connections_within(nofile),
        None => config.limits.max_connections,
    };
    let udp = UdpSocket::bind((config.host, 0)).await?;
    let http_addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (media, media_task) = media::spawn(udp, shutdown_rx.clone())?;
    let udp_addr = media.udp_addr();
    let state = Arc::new(AppState {
        config,
        http_addr,
        media,
        sessions: Mutex::new(HashMap::new()),
        stages: StageRegistry::default(),
        telemetry: telemetry::TelemetryStore::default(),
        tokens: client_tokens::TokenStore::default(),
        shutdown: shutdown_rx.clone(),
    });
    let limits = state.config.limits.clone();
    let app = router(state);
    let http = tokio::spawn(async move {
        listener::serve(listener, app, &limits, max_connections, shutdown_rx).await
    });
    Ok(RunningServer {
        http_addr,
        udp_addr,
        shutdown: shutdown_tx,
        http,
        media: media_task,
    })
}

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/subscribe/{sid}", get(viewer_ws))
        .route("/v1/subscribe-ivs/{sid}", get(ivs_viewer_token))
        .route("/v1/stage/{stage_id}", get(stage_info))
        .route("/v1/stage/{stage_id}/signal", get(stage_ws))
        .route("/v1/telemetry", axum::routing::post(telemetry::post))
        .route("/v1/telemetry/{sid}", get(telemetry::get))
        .route(
            "/v1/client/tokens",
            axum::routing::post(client_tokens::mint),
        )
        .route("/ivs-emulator.js", get(emulator::classic))
        .route("/ivs-emulator.mjs", get(emulator::module));
    let mut paths: Vec<String> = models::all().into_iter().map(|m| m.url_path).collect();
    paths.dedup();
    for path in paths {
        r = r
            .route(&path, get(webrtc_ws))
            .route(&format!("{path}-ivs"), get(ivs_ws));
    }
    if let Some(vendor) = &state.config.vendor {
        r = r.nest_service("/vendor", ServeDir::new(vendor));
    }
    let pkg = ServeDir::new(&state.config.pkg);
    let www = ServeDir::new(&state.config.www);
    // `Config::parse_args` only accepts printable ASCII, which is always a valid value.
    let csp = state
        .config
        .csp
        .as_deref()
        .and_then(|p| match HeaderValue::from_str(p) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(
                    "the Content-Security-Policy is not a valid header value: sending none"
                );
                None
            }
        });
    // Pages on other origins use this server the way they use the real service and the
    // IVS CDN: scripts, the wasm, the viewer token and telemetry are readable cross-origin,
    // also from cross-origin-isolated pages (COEP `require-corp`).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, HeaderName::from_static("x-api-key")]);
    r.nest_service("/pkg", pkg)
        .fallback_service(www)
        .with_state(state)
        .layer(axum::middleware::map_response(move |res: Response| {
            let policy = csp.clone();
            async move { with_headers(res, policy) }
        }))
        .layer(cors)
}

/// Adds the Content-Security-Policy to an HTML response (pages are what a policy governs)
/// and `Cross-Origin-Resource-Policy: cross-origin` to everything else.
fn with_headers(mut res: Response, policy: Option<HeaderValue>) -> Response {
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let headers = res.headers_mut();
    if html {
        if let Some(policy) = policy {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    } else {
        headers.insert(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        );
    }
    res
}

/// A WebSocket upgrade whose messages (fragments included) are at most `max` bytes.
fn limited(ws: WebSocketUpgrade, max: usize) -> WebSocketUpgrade {
    ws.max_message_size(max).max_frame_size(max)
}

/// The `Origin` of an upgrade request (browsers always send one).
fn origin(headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    Some(origin.to_string())
}

async fn webrtc_ws(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    State(app): State<Arc<AppState>>,
) -> Response {
    let origin = origin(&headers);
    limited(ws, app.config.limits.max_message_bytes)
        .on_upgrade(move |socket| session::run(socket, app, q, origin, Transport::Webrtc))
}

async fn ivs_ws(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    State(app): State<Arc<AppState>>,
) -> Response {
    let origin = origin(&headers);
    limited(ws, app.config.limits.max_message_bytes)
        .on_upgrade(move |socket| session::run(socket, app, q, origin, Transport::Ivs))
}

async fn stage_ws(
    ws: WebSocketUpgrade,
    Path(stage_id): Path<String>,
    State(app): State<Arc<AppState>>,
) -> Response {
    limited(ws, app.config.limits.max_signal_message_bytes)
        .on_upgrade(move |socket| stage_signal::run(socket, app, stage_id))
}

async fn viewer_ws(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    State(app): State<Arc<AppState>>,
) -> Response {
    let origin = origin(&headers);
    limited(ws, app.config.limits.max_signal_message_bytes)
        .on_upgrade(move |socket| session::run_viewer(socket, app, sid, q, origin))
}

pub(crate) fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

/// An HTTP request refused: the status and the `{error}` text of the JSON answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: StatusCode,
    error: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> Refusal {
        Refusal {
            status,
            error: error.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        json_error(self.status, &self.error)
    }
}

/// Reads a request body of at most `max` bytes within `timeout` (413 too large, 408 too
/// slow, 400 broken).
pub(crate) async fn read_body(body: Body, max: usize, timeout: Duration) -> Result<Bytes, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: at most {max} bytes"),
        )
    };
    if usize::try_from(body.size_hint().lower()).map_or(true, |n| n > max) {
        return Err(too_large());
    }
    let read = async {
        use futures_util::StreamExt;
        let mut chunks = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk =
                chunk.map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "broken request body"))?;
            if buf.len() + chunk.len() > max {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            ))
        })
}

async fn ivs_viewer_token(
    Path(sid): Path<String>,
    headers: HeaderMap,
    State(app): State<Arc<AppState>>,
) -> Response {
    if let Err(refusal) = client_tokens::authorize_request(&app, &headers) {
        return refusal.into_response();
    }
    let base = format!("http://{}", app.http_addr);
    match app.stages.viewer_token(&sid, &base) {
        Some(token) => Json(token).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "unknown session"),
    }
}

async fn stage_info(Path(stage_id): Path<String>, State(app): State<Arc<AppState>>) -> Response {
    match app.stages.get(&stage_id) {
        Some(stage) => Json(stage).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "unknown stage"),
    }
}
