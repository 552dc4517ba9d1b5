//! One client's session (a publishing client or a viewer): its options, state, events,
//! acknowledgements and the live [`Connection`], alive until `disconnect()`.
//!
//! [`connect`] runs the connection attempts and the reconnect supervisor; the transports live
//! in [`crate::web::transport`]. [`Session::shutdown`] is the one place a session is torn
//! down: it cancels every task, fails pending acknowledgements, drops the connection (which
//! closes its socket, peer connection or stage) and stops latency tracking and telemetry.

pub mod connect;
pub mod setup;

use crate::core::diagnostics;
use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::json::Json;
use crate::core::models::ModelDefinition;
use crate::core::options::{ClientOptions, CommonOptions};
use crate::core::protocol::ClientMessage;
use crate::core::token::{SubscribeToken, Transport};
use crate::core::urls;
use crate::web::avatar::AvatarAudio;
use crate::web::cancel::CancelToken;
use crate::web::error::Result;
use crate::web::events::Emitter;
use crate::web::js::{self, bounded, now_ms, to_js};
use crate::web::latency::LatencySession;
use crate::web::log::Logger;
use crate::web::quality::QualityWatch;
use crate::web::stats::StatsWatch;
use crate::web::telemetry::Telemetry;
use crate::web::transport::Connection;
use futures_channel::oneshot;
use gloo_events::EventListener;
use js_sys::Function;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsValue;
use web_sys::{HtmlVideoElement, MediaStream};

/// Bound of opening the WebSocket, ms.
pub const WS_OPEN_TIMEOUT_MS: u32 = 10_000;
/// Bound of each initial-state acknowledgement, and of `set`/`setImage` by default, ms.
pub const ACK_TIMEOUT_MS: u32 = 30_000;
/// Bound of a `setPrompt` acknowledgement, ms.
pub const PROMPT_ACK_TIMEOUT_MS: u32 = 15_000;
/// Bound of the offer/answer + ICE phase, and of joining an IVS stage, ms.
pub const MEDIA_TIMEOUT_MS: u32 = 30_000;

/// The connection state the page sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Setting up.
    Connecting,
    /// Media connected.
    Connected,
    /// The server is generating output.
    Generating,
    /// Lost; trying again.
    Reconnecting,
    /// Closed.
    Disconnected,
}

impl State {
    /// The string the JS API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Generating => "generating",
            State::Reconnecting => "reconnecting",
            State::Disconnected => "disconnected",
        }
    }
}

/// The initial state sent before media (again after every reconnect).
#[derive(Clone, Default)]
pub struct InitialState {
    /// Base64 image.
    pub image_b64: Option<String>,
    /// Prompt text and enhance flag.
    pub prompt: Option<(String, bool)>,
}

/// A publishing client's parts.
pub struct Publisher {
    /// The model.
    pub model: ModelDefinition,
    /// The transport.
    pub transport: Transport,
    /// What is published: the caller's stream (or its stamping copy), the avatar's audio,
    /// or nothing.
    pub stream: Option<MediaStream>,
    /// The caller passed a stream (the passthrough initial state is sent then).
    pub has_input: bool,
    /// Initial state.
    pub initial: InitialState,
    /// `extraQueryParams`.
    pub extra_query: Vec<(String, String)>,
    /// `latency_diagnostics=true` on the URL (any `latencyTracking` object).
    pub latency_diagnostics: bool,
    /// `customizeOffer`.
    pub customize_offer: Option<Function>,
    /// `live_avatar` without a stream: the audio `playAudio()` plays into.
    pub avatar: RefCell<Option<Rc<AvatarAudio>>>,
    /// Latency tracking.
    pub latency: Option<LatencySession>,
    /// Where markers are read: the page's `videoElement`; `None` with
    /// `readFromRemoteStream` reads the remote stream itself.
    pub latency_video: Option<HtmlVideoElement>,
    /// Whether probes are read at all (pixel markers and somewhere to read them).
    pub reads_latency: bool,
}

/// Who the session is.
pub enum Role {
    /// Publishes and receives the output.
    Publisher(Publisher),
    /// Receives a running session's output.
    Viewer(SubscribeToken),
}

/// Acknowledgements awaited: prompts by text, images in order (`set_image_ack` has no id:
/// the next ack settles every pending image).
#[derive(Default)]
pub struct Acks {
    prompts: RefCell<Vec<(String, oneshot::Sender<Result<()>>)>>,
    images: RefCell<Vec<oneshot::Sender<Result<()>>>>,
}

impl Acks {
    /// Settles the first pending prompt with `text`.
    pub fn prompt_acked(&self, text: &str, r: Result<()>) {
        let tx = {
            let mut p = self.prompts.borrow_mut();
            p.iter().position(|(t, _)| t == text).map(|i| p.remove(i).1)
        };
        if let Some(tx) = tx {
            let _ = tx.send(r);
        }
    }

    /// Settles every pending image.
    pub fn image_acked(&self, r: &Result<()>) {
        for tx in self.images.borrow_mut().drain(..) {
            let _ = tx.send(r.clone());
        }
    }

    /// Rejects everything pending with `e`.
    pub fn fail_all(&self, e: &SdkError) {
        for (_, tx) in self.prompts.borrow_mut().drain(..) {
            let _ = tx.send(Err(e.clone()));
        }
        for tx in self.images.borrow_mut().drain(..) {
            let _ = tx.send(Err(e.clone()));
        }
    }

    /// Registers `m` (a `prompt` or `set_image`) as awaiting its acknowledgement.
    pub fn register(&self, m: &ClientMessage) -> oneshot::Receiver<Result<()>> {
        let (tx, rx) = oneshot::channel();
        match m {
            ClientMessage::Prompt { prompt, .. } => {
                self.prompts.borrow_mut().push((prompt.clone(), tx))
            }
            _ => self.images.borrow_mut().push(tx),
        }
        rx
    }
}

/// Shared state of one client, alive until `disconnect()`.
pub struct Session {
    /// `createDecartClient` options.
    pub client: ClientOptions,
    /// Options sessions and viewers share.
    pub common: CommonOptions,
    /// Publisher or viewer.
    pub role: Role,
    /// `onRemoteStream`.
    pub on_remote_stream: Function,
    /// `ivsModule`.
    pub ivs_module: Option<JsValue>,
    /// Events.
    pub events: Emitter,
    /// Log lines.
    pub logger: Logger,
    /// Opt-in telemetry.
    pub telemetry: Option<Telemetry>,
    /// What stats polling feeds.
    pub stats: StatsWatch,
    /// Connection quality and time to first frame.
    pub quality: QualityWatch,
    state: Cell<State>,
    ids: RefCell<Option<(String, String)>>,
    /// The live connection, when there is one.
    pub conn: RefCell<Option<Rc<Connection>>>,
    /// Pending acknowledgements.
    pub acks: Acks,
    /// Cancelled by `disconnect()`: stops every task of the session for good.
    pub cancel: CancelToken,
    /// Wakes a reconnect backoff early (the browser's `online` event, a server probe).
    pub wake: RefCell<Option<oneshot::Sender<()>>>,
    page: RefCell<Vec<EventListener>>,
    /// `performance.now()` when `connect()` was called.
    pub started_at: f64,
    me: Weak<Session>,
}

impl Session {
    /// A new session in state `disconnected`, holding its events until `connect` resolves;
    /// `me` is its own `Rc` (made with `Rc::new_cyclic`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: Weak<Session>,
        client: ClientOptions,
        common: CommonOptions,
        role: Role,
        on_remote_stream: Function,
        ivs_module: Option<JsValue>,
        logger: Logger,
        telemetry: Option<Telemetry>,
    ) -> Session {
        Session {
            client,
            common,
            role,
            on_remote_stream,
            ivs_module,
            events: Emitter::holding(logger.clone()),
            logger,
            telemetry,
            stats: StatsWatch::default(),
            quality: QualityWatch::default(),
            state: Cell::new(State::Disconnected),
            ids: RefCell::new(None),
            conn: RefCell::new(None),
            acks: Acks::default(),
            cancel: CancelToken::new(),
            wake: RefCell::new(None),
            page: RefCell::new(Vec::new()),
            started_at: js::perf_now(),
            me,
        }
    }

    /// A weak reference to this session, for tasks that must not keep it alive.
    pub fn weak(&self) -> Weak<Session> {
        self.me.clone()
    }

    /// The publisher's parts (`None` for a viewer).
    pub fn publisher(&self) -> Option<&Publisher> {
        match &self.role {
            Role::Publisher(p) => Some(p),
            Role::Viewer(_) => None,
        }
    }

    /// The transport: the option for a publisher, the token's for a viewer.
    pub fn transport(&self) -> Transport {
        match &self.role {
            Role::Viewer(token) => token.transport,
            Role::Publisher(p) => p.transport,
        }
    }

    /// A viewer of an IVS session (no signaling socket, no diagnostics, no reconnect).
    pub fn is_ivs_viewer(&self) -> bool {
        matches!(&self.role, Role::Viewer(t) if t.transport == Transport::Ivs)
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state.get()
    }

    /// True while media is connected (`connected` or `generating`).
    pub fn is_connected(&self) -> bool {
        matches!(self.state.get(), State::Connected | State::Generating)
    }

    /// Changes the state and emits `connectionChange` when it differs. `generating` is
    /// sticky: a later `connected`/`connecting` leaves it as it is.
    pub fn set_state(&self, s: State) {
        let cur = self.state.get();
        if cur == s
            || (cur == State::Generating && matches!(s, State::Connected | State::Connecting))
        {
            return;
        }
        // `generation_started` can arrive before the browser reports the peer connection
        // connected: media flows, so the session is connected first, as a page expects.
        if s == State::Generating && matches!(cur, State::Connecting | State::Reconnecting) {
            self.state.set(State::Connected);
            self.events
                .emit("connectionChange", State::Connected.as_str().into());
        }
        self.state.set(s);
        self.events.emit("connectionChange", s.as_str().into());
    }

    /// Emits `name` with a [`Json`] payload.
    pub fn emit_json(&self, name: &'static str, payload: &Json) {
        self.events.emit(name, to_js(payload));
    }

    /// Emits a `diagnostic` event and records it for telemetry (IVS viewers emit none).
    pub fn diagnostic(&self, name: &'static str, data: Json) {
        if self.is_ivs_viewer() {
            return;
        }
        let at = now_ms();
        if let Some(t) = &self.telemetry {
            t.record_diagnostic(name, data.clone(), at);
        }
        self.emit_json("diagnostic", &diagnostics::event(name, data, at));
    }

    /// A server message of `kind` was dropped for `reason`: a warning and a `messageIgnored`
    /// diagnostic.
    pub fn ignored(&self, kind: &str, reason: &str) {
        self.logger.warn(&crate::core::error::join(&[
            "ignored a ",
            kind,
            " message: ",
            reason,
        ]));
        self.diagnostic("messageIgnored", diagnostics::message_ignored(kind, reason));
    }

    /// A `phaseTiming` diagnostic for `phase`, started at `since` (perf ms).
    pub fn phase(&self, phase: &str, since: f64, error: Option<&str>, steps: Option<Json>) {
        let d = diagnostics::phase_timing(phase, js::perf_now() - since, error, steps);
        self.diagnostic("phaseTiming", d);
    }

    /// Emits an `error` event.
    pub fn emit_error(&self, e: &SdkError) {
        self.events
            .emit("error", crate::web::error::to_js(e, &self.client.api_key));
    }

    /// Sends on the live connection.
    pub fn send(&self, m: &ClientMessage) -> Result<()> {
        let conn = self.conn.borrow().clone();
        match conn {
            Some(c) => c.send(m),
            None => Err(SdkError::new(ErrorCode::NotConnected, "no live connection")),
        }
    }

    /// `sessionId` and `subscribeToken`, once the server sent `session_id`.
    pub fn ids(&self) -> Option<(String, String)> {
        self.ids.borrow().clone()
    }

    /// A connection's `session_id`: replaces the ids and (re)starts telemetry with it.
    pub fn set_ids(&self, session_id: String, token: String) {
        if let Some(t) = &self.telemetry {
            t.start(&session_id);
        }
        *self.ids.borrow_mut() = Some((session_id, token));
    }

    /// The WebSocket URL of this session (publisher) or viewer.
    pub fn url(&self) -> String {
        match &self.role {
            Role::Viewer(t) => urls::viewer_url(
                &self.client.base_url,
                &t.sid,
                &t.ip,
                t.port,
                &self.client.api_key,
            ),
            Role::Publisher(p) => {
                let ua = urls::user_agent(self.client.integration.as_deref());
                let mut extra = p.extra_query.clone();
                if let Some(policy) = self.common.ice_transport_policy {
                    extra.push(("ice_transport_policy".into(), policy.as_str().into()));
                }
                urls::session_url(
                    &self.client.base_url,
                    &urls::SessionUrlParams {
                        model: &p.model,
                        api_key: &self.client.api_key,
                        latency_diagnostics: p.latency_diagnostics,
                        extra: &extra,
                        user_agent: &ua,
                        ivs: p.transport == Transport::Ivs,
                    },
                )
            }
        }
    }

    /// Sends `m` (a `prompt` or `set_image`) on the live connection and waits for its
    /// acknowledgement, at most `timeout_ms` (a `WEBRTC_TIMEOUT_ERROR` for `phase` after).
    pub async fn request(&self, m: ClientMessage, timeout_ms: u32, phase: &str) -> Result<()> {
        let rx = self.acks.register(&m);
        self.send(&m)?;
        let what = join(&["the ", phase, " acknowledgement"]);
        bounded(
            timeout_ms,
            phase,
            &what,
            Box::pin(async {
                rx.await.unwrap_or_else(|_| {
                    Err(SdkError::new(
                        ErrorCode::NotConnected,
                        "the connection was lost",
                    ))
                })
            }),
        )
        .await
    }

    /// Starts reading latency probes on `remote` (the live connection's output).
    pub fn start_latency_reading(&self, remote: &MediaStream) {
        if let Some(p) = self.publisher().filter(|p| p.reads_latency) {
            if let Some(l) = &p.latency {
                l.start_reading(remote, p.latency_video.clone());
            }
        }
    }

    /// Page listeners owned by the session (`online`, `pagehide`), removed on shutdown.
    pub fn own_listener(&self, l: EventListener) {
        self.page.borrow_mut().push(l);
    }

    /// `disconnect()`: the one teardown. Cancels every task, rejects pending
    /// acknowledgements with `ABORTED`, drops the connection (socket, peer connection or
    /// stage), stops latency tracking and the avatar's audio, sends the final telemetry
    /// batch, emits one `"disconnected"` and then nothing. Idempotent.
    pub fn shutdown(&self) {
        if self.cancel.is_cancelled() {
            return;
        }
        self.cancel.cancel();
        self.acks
            .fail_all(&SdkError::aborted("disconnect() was called"));
        self.conn.borrow_mut().take();
        if let Some(p) = self.publisher() {
            p.avatar.borrow_mut().take();
            if let Some(l) = &p.latency {
                l.stop();
            }
        }
        self.page.borrow_mut().clear();
        self.events.deliver();
        self.set_state(State::Disconnected);
        self.events.close();
        if let Some(t) = &self.telemetry {
            t.flush_final();
        }
    }
}

pub use connect::connect;
