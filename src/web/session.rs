//! One realtime session over WebRTC: the shared context of a client, one connection
//! attempt (WebSocket + peer connection, owned by [`Connection`]), its setup flow, the
//! steady-state loop and the reconnect supervisor.
//!
//! All browser events of a connection go into one channel of [`Input`]s, read by one task;
//! JS callbacks only forward. Dropping a `Connection` closes the socket and the peer
//! connection, removes every listener and cancels its tasks.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::models::ModelDefinition;
use crate::core::options::{ClientOptions, ConnectOptions};
use crate::core::protocol::{parse_server_message, ClientMessage, IceCandidateInit, Incoming, ServerMessage};
use crate::core::retry::{is_permanent, RetryPolicy};
use crate::core::sdp;
use crate::core::stats::{entries_from_json, StallChange, StallDetector, StatsParser};
use crate::core::token::{SubscribeToken, Transport};
use crate::core::urls;
use crate::web::cancel::{CancelOnDrop, CancelToken};
use crate::web::error::{from_js, Result};
use crate::web::events::{to_js, Emitter};
use crate::web::ws::{Ws, WsEvent};
use futures_channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use futures_channel::oneshot;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use gloo_events::EventListener;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Function, Object, Promise, Reflect};
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcRtpTransceiverDirection,
    RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

/// Bounds of each setup phase, ms.
pub const WS_OPEN_TIMEOUT_MS: u32 = 10_000;
/// Bound of an acknowledgement (initial state, prompt, image).
pub const ACK_TIMEOUT_MS: u32 = 15_000;
/// Bound of the offer/answer + ICE phase.
pub const MEDIA_TIMEOUT_MS: u32 = 30_000;

/// The connection state the page sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// What a connection's browser objects report, in one channel.
pub enum Input {
    /// WebSocket event.
    Ws(WsEvent),
    /// A local ICE candidate (`None` = gathering complete).
    LocalCandidate(Option<IceCandidateInit>),
    /// `connectionState` changed.
    PcState(String),
    /// `iceConnectionState` changed.
    IceState(String),
    /// `signalingState` changed.
    SignalingState(String),
    /// A remote track arrived.
    Track(MediaStreamTrack, Option<MediaStream>),
}

/// Who the session is: a publishing client or a viewer.
#[derive(Clone)]
pub enum Role {
    /// Publishes `stream` (if any) and receives the output.
    Publisher {
        /// The camera (or other) stream.
        stream: Option<MediaStream>,
    },
    /// Receives a running session's output.
    Viewer {
        /// The decoded subscribe token.
        token: SubscribeToken,
    },
}

/// The initial state sent before media.
#[derive(Clone, Default)]
pub struct InitialState {
    /// Base64 image.
    pub image_b64: Option<String>,
    /// Prompt text and enhance flag.
    pub prompt: Option<(String, bool)>,
}

/// Shared state of one client (publisher or viewer), alive until `disconnect()`.
pub struct SessionCtx {
    pub client: ClientOptions,
    pub options: ConnectOptions,
    pub model: ModelDefinition,
    pub role: Role,
    pub initial: InitialState,
    pub on_remote_stream: Option<Function>,
    pub customize_offer: Option<Function>,
    pub events: Emitter,
    pub state: Cell<State>,
    pub session_id: RefCell<Option<String>>,
    pub subscribe_token: RefCell<Option<String>>,
    /// The live connection, when there is one.
    pub conn: RefCell<Option<Rc<Connection>>>,
    pub pending_prompts: RefCell<Vec<(String, oneshot::Sender<Result<()>>)>>,
    pub pending_image: RefCell<Option<oneshot::Sender<Result<()>>>>,
    /// Cancelled by `disconnect()`: stops every task of the session for good.
    pub cancel: CancelToken,
    /// Immediate reconnect request (the browser's `online` event).
    pub wake: RefCell<Option<oneshot::Sender<()>>>,
    pub _page_listeners: RefCell<Vec<EventListener>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Diagnostic<'a, T: Serialize> {
    kind: &'a str,
    timestamp: f64,
    data: T,
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl SessionCtx {
    /// Emits a `diagnostic` event `{kind, timestamp, data}`.
    pub fn diagnostic<T: Serialize>(&self, kind: &str, data: T) {
        self.events.emit_data("diagnostic", &Diagnostic { kind, timestamp: now_ms(), data });
    }

    /// Changes the state and emits `connectionChange` when it differs.
    pub fn set_state(&self, s: State) {
        if self.state.get() != s {
            self.state.set(s);
            self.events.emit("connectionChange", s.as_str().into());
        }
    }

    /// Emits an `error` event `{code, message}`.
    pub fn emit_error(&self, e: &SdkError) {
        #[derive(Serialize)]
        struct E<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a str>,
        }
        let e = e.clone().redact(&self.client.api_key);
        self.events.emit_data("error", &E { code: e.code.as_str(), message: &e.message, data: e.cause.as_deref() });
    }

    /// Sends on the live connection.
    pub fn send(&self, m: &ClientMessage) -> Result<()> {
        let conn = self.conn.borrow().clone();
        match conn {
            Some(c) => c.ws.send(m),
            None => Err(SdkError::new(ErrorCode::NotConnected, "no live connection")),
        }
    }

    fn transport(&self) -> Transport {
        match &self.role {
            Role::Viewer { token } => token.transport,
            Role::Publisher { .. } => self.options.transport,
        }
    }

    fn url(&self) -> String {
        match &self.role {
            Role::Viewer { token } => urls::viewer_url(&self.client.base_url, &token.sid, &token.ip, token.port, &self.client.api_key),
            Role::Publisher { .. } => {
                let ua = urls::user_agent(self.client.integration.as_deref());
                urls::session_url(
                    &self.client.base_url,
                    &urls::SessionUrlParams {
                        model: &self.model,
                        api_key: &self.client.api_key,
                        latency_diagnostics: self.options.latency.is_some(),
                        extra: &self.options.extra_query_params,
                        user_agent: &ua,
                        ivs: self.transport() == Transport::Ivs,
                    },
                )
            }
        }
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }
}

/// One connection attempt's browser objects. Dropping it releases all of them.
pub struct Connection {
    pub ws: Ws,
    pub pc: RefCell<Option<RtcPeerConnection>>,
    listeners: RefCell<Vec<EventListener>>,
    tx: UnboundedSender<Input>,
    offer_sent: Cell<bool>,
    remote_set: Cell<bool>,
    early_candidates: RefCell<Vec<IceCandidateInit>>,
    remote_stream: RefCell<Option<MediaStream>>,
    _cancel: CancelOnDrop,
    pub cancel: CancelToken,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.listeners.borrow_mut().clear();
        if let Some(pc) = self.pc.borrow_mut().take() {
            pc.close();
        }
    }
}

/// Awaits a JS promise, converting a rejection into an error with `code`.
pub async fn await_js(p: Promise, code: ErrorCode, what: &str) -> Result<JsValue> {
    JsFuture::from(p).await.map_err(|e| from_js(code, what, &e))
}

/// Runs `f` with a bound; `Timeout` error naming the phase when it runs out.
pub async fn bounded<T>(ms: u32, phase: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    let f = Box::pin(f);
    match select(f, TimeoutFuture::new(ms)).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(SdkError::new(ErrorCode::Timeout, format!("{phase} did not finish within {} s", ms / 1000))),
    }
}

/// Sleeps `ms` unless cancelled first; false when cancelled.
pub async fn sleep_unless(cancel: &CancelToken, ms: u32) -> bool {
    if cancel.is_cancelled() {
        return false;
    }
    matches!(select(TimeoutFuture::new(ms), cancel.cancelled()).await, Either::Left(_))
}

fn server_error(text: &str) -> SdkError {
    let code = if is_permanent(text) { ErrorCode::Unauthorized } else { ErrorCode::ServerError };
    SdkError::new(code, format!("server error: {text}"))
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

fn candidate_from_js(c: &JsValue) -> Option<IceCandidateInit> {
    // RTCIceCandidate.toJSON() gives exactly RTCIceCandidateInit.
    let json = Reflect::get(c, &"toJSON".into()).ok()?.dyn_into::<Function>().ok()?.call0(c).ok()?;
    serde_wasm_bindgen::from_value(json).ok()
}

impl Connection {
    /// Opens the WebSocket for `ctx` and returns the connection and its input channel.
    fn open(ctx: &SessionCtx) -> Result<(Rc<Connection>, UnboundedReceiver<Input>)> {
        let (tx, rx) = mpsc::unbounded();
        let ws = Ws::open(&ctx.url(), tx.clone(), Input::Ws)?;
        let cancel = CancelToken::new();
        let conn = Connection {
            ws,
            pc: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            tx,
            offer_sent: Cell::new(false),
            remote_set: Cell::new(false),
            early_candidates: RefCell::new(Vec::new()),
            remote_stream: RefCell::new(None),
            _cancel: CancelOnDrop(cancel.clone()),
            cancel,
        };
        Ok((Rc::new(conn), rx))
    }

    /// Creates the peer connection (STUN only; no STUN server is configured for loopback
    /// bases), adds local tracks or receive-only transceivers, and wires its events.
    fn create_pc(&self, ctx: &SessionCtx) -> Result<RtcPeerConnection> {
        let config = RtcConfiguration::new();
        if !ctx.client.base_url.is_loopback() {
            let server = Object::new();
            let _ = Reflect::set(&server, &"urls".into(), &"stun:stun.l.google.com:19302".into());
            config.set_ice_servers(&Array::of1(&server));
        }
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|e| from_js(ErrorCode::SignalingError, "could not create the peer connection", &e))?;

        let recvonly = |kind: &str| {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Recvonly);
            pc.add_transceiver_with_str_and_init(kind, &init)
        };
        match &ctx.role {
            Role::Viewer { .. } => {
                recvonly("video");
                recvonly("audio");
            }
            Role::Publisher { stream } => {
                let tracks: Vec<MediaStreamTrack> = stream.as_ref().map(|s| s.get_tracks().iter().filter_map(|t| t.dyn_into().ok()).collect()).unwrap_or_default();
                for t in &tracks {
                    if let Some(s) = stream {
                        pc.add_track_0(t, s);
                    }
                }
                if ctx.model.is_avatar() {
                    recvonly("video");
                } else if !tracks.iter().any(|t| t.kind() == "video") {
                    recvonly("video");
                }
            }
        }
        prefer_vp8(&pc);

        let mut ls = self.listeners.borrow_mut();
        let tx = self.tx.clone();
        ls.push(EventListener::new(&pc, "icecandidate", move |e| {
            let c = e.dyn_ref::<RtcPeerConnectionIceEvent>().and_then(|e| e.candidate());
            let _ = tx.unbounded_send(Input::LocalCandidate(c.and_then(|c| candidate_from_js(&c))));
        }));
        let (tx, p) = (self.tx.clone(), pc.clone());
        ls.push(EventListener::new(&pc, "connectionstatechange", move |_| {
            let _ = tx.unbounded_send(Input::PcState(get(&p, "connectionState").as_string().unwrap_or_default()));
        }));
        let (tx, p) = (self.tx.clone(), pc.clone());
        ls.push(EventListener::new(&pc, "iceconnectionstatechange", move |_| {
            let _ = tx.unbounded_send(Input::IceState(get(&p, "iceConnectionState").as_string().unwrap_or_default()));
        }));
        let (tx, p) = (self.tx.clone(), pc.clone());
        ls.push(EventListener::new(&pc, "signalingstatechange", move |_| {
            let _ = tx.unbounded_send(Input::SignalingState(get(&p, "signalingState").as_string().unwrap_or_default()));
        }));
        let tx = self.tx.clone();
        ls.push(EventListener::new(&pc, "track", move |e| {
            if let Some(e) = e.dyn_ref::<RtcTrackEvent>() {
                let stream = e.streams().get(0).dyn_into::<MediaStream>().ok();
                let _ = tx.unbounded_send(Input::Track(e.track(), stream));
            }
        }));
        drop(ls);
        *self.pc.borrow_mut() = Some(pc.clone());
        Ok(pc)
    }

    fn pc(&self) -> Option<RtcPeerConnection> {
        self.pc.borrow().clone()
    }

    async fn send_offer(&self, ctx: &SessionCtx) -> Result<()> {
        let Some(pc) = self.pc() else { return Ok(()) };
        if self.offer_sent.replace(true) {
            return Ok(());
        }
        let offer = await_js(pc.create_offer(), ErrorCode::SignalingError, "createOffer failed").await?;
        let sdp_text = get(&offer, "sdp").as_string().unwrap_or_default();
        let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        init.set_sdp(&sdp::set_vp8_bitrates(&sdp_text));
        if let Some(hook) = &ctx.customize_offer {
            // The hook may edit `offer.sdp` in place and may return a promise.
            let r = hook.call1(&JsValue::NULL, &init).map_err(|e| from_js(ErrorCode::InvalidOptions, "customizeOffer threw", &e))?;
            if let Ok(p) = r.dyn_into::<Promise>() {
                await_js(p, ErrorCode::InvalidOptions, "customizeOffer rejected").await?;
            }
        }
        await_js(pc.set_local_description(&init), ErrorCode::SignalingError, "setLocalDescription(offer) failed").await?;
        let sdp_text = get(&init, "sdp").as_string().unwrap_or_default();
        self.ws.send(&ClientMessage::Offer { sdp: sdp_text })
    }

    async fn set_remote(&self, ty: RtcSdpType, sdp_text: &str) -> Result<()> {
        let Some(pc) = self.pc() else { return Ok(()) };
        let init = RtcSessionDescriptionInit::new(ty);
        init.set_sdp(sdp_text);
        await_js(pc.set_remote_description(&init), ErrorCode::SignalingError, "setRemoteDescription failed").await?;
        self.remote_set.set(true);
        let early: Vec<_> = self.early_candidates.borrow_mut().drain(..).collect();
        for c in early {
            self.add_remote_candidate(&c).await;
        }
        Ok(())
    }

    async fn add_remote_candidate(&self, c: &IceCandidateInit) {
        let Some(pc) = self.pc() else { return };
        if !self.remote_set.get() {
            self.early_candidates.borrow_mut().push(c.clone());
            return;
        }
        let init = to_js(c);
        let p = Reflect::get(&pc, &"addIceCandidate".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .and_then(|f| f.call1(&pc, &init).ok())
            .and_then(|p| p.dyn_into::<Promise>().ok());
        if let Some(p) = p {
            // A candidate the browser cannot use is not fatal: others may work.
            let _ = JsFuture::from(p).await;
        }
    }
}

/// Moves VP8 to the front of every video transceiver's codec preferences.
fn prefer_vp8(pc: &RtcPeerConnection) {
    let caps = (|| {
        let receiver = Reflect::get(&js_sys::global(), &"RTCRtpReceiver".into()).ok()?;
        let f: Function = Reflect::get(&receiver, &"getCapabilities".into()).ok()?.dyn_into().ok()?;
        let caps = f.call1(&receiver, &"video".into()).ok()?;
        Reflect::get(&caps, &"codecs".into()).ok()?.dyn_into::<Array>().ok()
    })();
    let Some(codecs) = caps else { return };
    let (vp8, rest): (Vec<JsValue>, Vec<JsValue>) =
        codecs.iter().partition(|c| get(c, "mimeType").as_string().is_some_and(|m| m.eq_ignore_ascii_case("video/VP8")));
    if vp8.is_empty() {
        return;
    }
    let sorted: Array = vp8.into_iter().chain(rest).collect();
    for t in pc.get_transceivers().iter() {
        let kind = get(&get(&get(&t, "receiver"), "track"), "kind").as_string();
        if kind.as_deref() == Some("video") {
            if let Ok(f) = Reflect::get(&t, &"setCodecPreferences".into()).and_then(|f| f.dyn_into::<Function>().map_err(JsValue::from)) {
                let _ = f.call1(&t, &sorted);
            }
        }
    }
}

/// What ended a live connection.
enum Ended {
    Cancelled,
    Lost(SdkError),
}

/// Handles one input in any phase. Returns an error when the connection is over.
async fn handle(ctx: &Rc<SessionCtx>, conn: &Rc<Connection>, input: Input, setup: bool) -> std::result::Result<Option<ServerMessage>, SdkError> {
    match input {
        Input::Ws(WsEvent::Open) => Ok(None),
        Input::Ws(WsEvent::Closed { code, reason }) => Err(SdkError::new(
            ErrorCode::WebsocketError,
            if reason.is_empty() { format!("the WebSocket closed (code {code})") } else { format!("the WebSocket closed (code {code}: {reason})") },
        )),
        Input::Ws(WsEvent::Message(text)) => match parse_server_message(&text) {
            Err(e) => {
                web_sys::console::debug_1(&format!("realtime: ignored {e}").into());
                Ok(None)
            }
            Ok(Incoming::Unknown(_)) => Ok(None),
            Ok(Incoming::Message(m)) => handle_message(ctx, conn, m, setup).await,
        },
        Input::LocalCandidate(c) => {
            ctx.diagnostic("iceCandidate", c.as_ref().map(|c| c.candidate.clone()));
            let _ = conn.ws.send(&ClientMessage::IceCandidate { candidate: c });
            Ok(None)
        }
        Input::PcState(s) => {
            ctx.diagnostic("peerConnectionStateChange", &s);
            match s.as_str() {
                "connected" => {
                    if ctx.state.get() != State::Generating {
                        ctx.set_state(State::Connected);
                    }
                    Ok(None)
                }
                "failed" => Err(SdkError::new(ErrorCode::IceFailed, "the peer connection failed")),
                "closed" => Err(SdkError::new(ErrorCode::IceFailed, "the peer connection closed")),
                _ => Ok(None),
            }
        }
        Input::IceState(s) => {
            ctx.diagnostic("iceStateChange", &s);
            Ok(None)
        }
        Input::SignalingState(s) => {
            ctx.diagnostic("signalingStateChange", &s);
            Ok(None)
        }
        Input::Track(track, stream) => {
            let stream = {
                let mut rs = conn.remote_stream.borrow_mut();
                match (&*rs, stream) {
                    (Some(s), _) => {
                        if !s.get_tracks().includes(&track, 0) {
                            s.add_track(&track);
                        }
                        s.clone()
                    }
                    (None, Some(s)) => {
                        *rs = Some(s.clone());
                        s
                    }
                    (None, None) => {
                        let s = MediaStream::new().map_err(|e| from_js(ErrorCode::MediaError, "MediaStream failed", &e))?;
                        s.add_track(&track);
                        *rs = Some(s.clone());
                        s
                    }
                }
            };
            if let Some(f) = &ctx.on_remote_stream {
                if let Err(e) = f.call1(&JsValue::NULL, &stream) {
                    web_sys::console::error_2(&"realtime: onRemoteStream threw".into(), &e);
                }
            }
            ctx.events.emit("remoteStream", stream.into());
            Ok(None)
        }
    }
}

async fn handle_message(ctx: &Rc<SessionCtx>, conn: &Rc<Connection>, m: ServerMessage, setup: bool) -> std::result::Result<Option<ServerMessage>, SdkError> {
    match &m {
        ServerMessage::Ready => conn.send_offer(ctx).await?,
        ServerMessage::Answer { sdp } => conn.set_remote(RtcSdpType::Answer, sdp).await?,
        ServerMessage::Offer { sdp } => {
            conn.set_remote(RtcSdpType::Offer, sdp).await?;
            if let Some(pc) = conn.pc() {
                let answer = await_js(pc.create_answer(), ErrorCode::SignalingError, "createAnswer failed").await?;
                let init = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                init.set_sdp(&get(&answer, "sdp").as_string().unwrap_or_default());
                await_js(pc.set_local_description(&init), ErrorCode::SignalingError, "setLocalDescription(answer) failed").await?;
                conn.ws.send(&ClientMessage::Answer { sdp: get(&init, "sdp").as_string().unwrap_or_default() })?;
            }
        }
        ServerMessage::IceCandidate { candidate: Some(c) } => conn.add_remote_candidate(c).await,
        ServerMessage::IceCandidate { candidate: None } => {}
        ServerMessage::PromptAck { prompt, success, error } => {
            let tx = {
                let mut p = ctx.pending_prompts.borrow_mut();
                p.iter().position(|(t, _)| t == prompt).map(|i| p.remove(i).1)
            };
            if let Some(tx) = tx {
                let r = if *success { Ok(()) } else { Err(server_error(error.as_deref().unwrap_or("prompt refused"))) };
                let _ = tx.send(r);
            }
        }
        ServerMessage::SetImageAck { success, error } => {
            if let Some(tx) = ctx.pending_image.borrow_mut().take() {
                let r = if *success { Ok(()) } else { Err(server_error(error.as_deref().unwrap_or("image refused"))) };
                let _ = tx.send(r);
            }
        }
        ServerMessage::Error { error } => {
            let e = server_error(error);
            if setup {
                return Err(e);
            }
            ctx.emit_error(&e);
        }
        ServerMessage::GenerationStarted => ctx.set_state(State::Generating),
        ServerMessage::GenerationTick { seconds } => {
            #[derive(Serialize)]
            struct Tick {
                seconds: f64,
            }
            ctx.events.emit_data("generationTick", &Tick { seconds: *seconds });
        }
        ServerMessage::GenerationEnded { .. } => {}
        ServerMessage::SessionId { session_id, server_ip, server_port } => {
            *ctx.session_id.borrow_mut() = Some(session_id.clone());
            let token = SubscribeToken { sid: session_id.clone(), ip: server_ip.clone(), port: *server_port, transport: ctx.transport() };
            *ctx.subscribe_token.borrow_mut() = Some(token.encode());
        }
        ServerMessage::MetricsReport(r) => ctx.events.emit_data("serverMetrics", r),
        // Handed back to the caller: the IVS transport waits for it.
        ServerMessage::IvsStageReady { .. } => {}
    }
    Ok(Some(m))
}

/// Sends a prompt or set_image and waits for its acknowledgement, handling other inputs meanwhile.
async fn send_and_ack(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    rx: &mut UnboundedReceiver<Input>,
    m: ClientMessage,
) -> Result<()> {
    let (tx, mut ack) = oneshot::channel();
    match &m {
        ClientMessage::Prompt { prompt, .. } => ctx.pending_prompts.borrow_mut().push((prompt.clone(), tx)),
        _ => *ctx.pending_image.borrow_mut() = Some(tx),
    }
    conn.ws.send(&m)?;
    loop {
        if let Ok(Some(r)) = ack.try_recv() {
            return r;
        }
        let Some(input) = rx.next().await else {
            return Err(SdkError::new(ErrorCode::Aborted, "the connection was closed"));
        };
        handle(ctx, conn, input, true).await?;
    }
}

/// One connection attempt, up to media connected.
async fn attempt(ctx: &Rc<SessionCtx>) -> Result<(Rc<Connection>, UnboundedReceiver<Input>)> {
    let (conn, mut rx) = Connection::open(ctx)?;
    let t0 = now_ms();
    let phase = |name: &str, since: f64| ctx.diagnostic("phaseTiming", serde_json::json!({"phase": name, "durationMs": now_ms() - since}));

    bounded(WS_OPEN_TIMEOUT_MS, "opening the WebSocket", async {
        loop {
            match rx.next().await {
                Some(Input::Ws(WsEvent::Open)) => return Ok(()),
                Some(other) => {
                    handle(ctx, &conn, other, true).await?;
                }
                None => return Err(SdkError::new(ErrorCode::Aborted, "the connection was closed")),
            }
        }
    })
    .await?;
    phase("websocket", t0);

    if let Role::Publisher { stream } = &ctx.role {
        let t = now_ms();
        let msg = if let Some(img) = &ctx.initial.image_b64 {
            Some(ClientMessage::SetImage {
                image_data: Some(img.clone()),
                prompt: ctx.initial.prompt.as_ref().map(|(p, _)| Some(p.clone())),
                enhance_prompt: ctx.initial.prompt.as_ref().map(|(_, e)| *e),
            })
        } else if let Some((p, e)) = &ctx.initial.prompt {
            Some(ClientMessage::Prompt { prompt: p.clone(), enhance_prompt: *e })
        } else if stream.is_some() {
            Some(ClientMessage::SetImage { image_data: None, prompt: Some(None), enhance_prompt: None })
        } else {
            None
        };
        if let Some(msg) = msg {
            bounded(ACK_TIMEOUT_MS, "the initial state acknowledgement", send_and_ack(ctx, &conn, &mut rx, msg)).await?;
            phase("initialState", t);
        }
    }

    let t = now_ms();
    conn.create_pc(ctx)?;
    bounded(MEDIA_TIMEOUT_MS, "connecting media", async {
        conn.send_offer(ctx).await?;
        loop {
            if conn.pc().map(|pc| get(&pc, "connectionState").as_string().as_deref() == Some("connected")).unwrap_or(false) {
                if ctx.state.get() != State::Generating {
                    ctx.set_state(State::Connected);
                }
                return Ok(());
            }
            let Some(input) = rx.next().await else {
                return Err(SdkError::new(ErrorCode::Aborted, "the connection was closed"));
            };
            handle(ctx, &conn, input, true).await?;
        }
    })
    .await?;
    phase("media", t);
    phase("total", t0);
    Ok((conn, rx))
}

/// Connects with the retry policy: permanent errors and the last failure reject.
pub async fn connect_with_retries(ctx: &Rc<SessionCtx>, reconnecting: bool) -> Result<(Rc<Connection>, UnboundedReceiver<Input>)> {
    let policy = ctx.policy();
    let mut retry = 0u32;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(SdkError::new(ErrorCode::Aborted, "disconnect() was called"));
        }
        if reconnecting {
            ctx.diagnostic("reconnect", serde_json::json!({"attempt": retry + 1, "maxAttempts": policy.retries + 1}));
        }
        let r = {
            let a = Box::pin(attempt(ctx));
            match select(a, ctx.cancel.cancelled()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => Err(SdkError::new(ErrorCode::Aborted, "disconnect() was called")),
            }
        };
        match r {
            Ok(c) => return Ok(c),
            Err(e) => {
                let permanent = e.code == ErrorCode::Unauthorized || e.code == ErrorCode::Aborted || e.code == ErrorCode::InvalidOptions || is_permanent(&e.message);
                retry += 1;
                let delay = policy.delay_before_retry(retry);
                match delay {
                    Some(d) if !permanent => {
                        // Wait the backoff, or less when the browser comes back online.
                        let (wake_tx, wake_rx) = oneshot::channel();
                        *ctx.wake.borrow_mut() = Some(wake_tx);
                        let sleep = Box::pin(sleep_unless(&ctx.cancel, d as u32));
                        let _ = select(sleep, wake_rx).await;
                        ctx.wake.borrow_mut().take();
                    }
                    _ => return Err(e.redact(&ctx.client.api_key)),
                }
            }
        }
    }
}

/// Runs a live connection until it ends.
async fn run(ctx: &Rc<SessionCtx>, conn: &Rc<Connection>, rx: &mut UnboundedReceiver<Input>) -> Ended {
    loop {
        let next = Box::pin(rx.next());
        let input = match select(next, ctx.cancel.cancelled()).await {
            Either::Left((Some(i), _)) => i,
            Either::Left((None, _)) => return Ended::Lost(SdkError::new(ErrorCode::WebsocketError, "the connection closed")),
            Either::Right(_) => return Ended::Cancelled,
        };
        if let Err(e) = handle(ctx, conn, input, false).await {
            return Ended::Lost(e);
        }
    }
}

/// Keeps a session alive: runs the live connection, reconnects when it drops.
pub async fn supervise(ctx: Rc<SessionCtx>, first: (Rc<Connection>, UnboundedReceiver<Input>)) {
    let (mut conn, mut rx) = first;
    loop {
        *ctx.conn.borrow_mut() = Some(conn.clone());
        spawn_stats(&ctx, &conn);
        let ended = run(&ctx, &conn, &mut rx).await;
        ctx.conn.borrow_mut().take();
        drop(conn);
        drop(rx);
        fail_pending(&ctx, "the connection was lost");
        let lost = match ended {
            Ended::Cancelled => return,
            Ended::Lost(e) => e,
        };
        if ctx.cancel.is_cancelled() {
            return;
        }
        if !ctx.options.reconnect {
            ctx.emit_error(&lost);
            ctx.set_state(State::Disconnected);
            return;
        }
        ctx.set_state(State::Reconnecting);
        match connect_with_retries(&ctx, true).await {
            Ok((c, r)) => {
                conn = c;
                rx = r;
            }
            Err(e) => {
                if e.code != ErrorCode::Aborted {
                    ctx.emit_error(&e);
                    ctx.set_state(State::Disconnected);
                }
                return;
            }
        }
    }
}

/// Rejects every pending acknowledgement.
pub fn fail_pending(ctx: &SessionCtx, why: &str) {
    for (_, tx) in ctx.pending_prompts.borrow_mut().drain(..) {
        let _ = tx.send(Err(SdkError::new(ErrorCode::NotConnected, why)));
    }
    if let Some(tx) = ctx.pending_image.borrow_mut().take() {
        let _ = tx.send(Err(SdkError::new(ErrorCode::NotConnected, why)));
    }
}

/// Polls `getStats()` while the connection lives; emits `stats`, stall diagnostics and the
/// selected candidate pair when it changes.
fn spawn_stats(ctx: &Rc<SessionCtx>, conn: &Rc<Connection>) {
    let Some(pc) = conn.pc() else { return };
    let (ctx, cancel) = (ctx.clone(), conn.cancel.clone());
    let interval = ctx.options.stats_interval_ms.max(500.0) as u32;
    spawn_local(async move {
        let mut parser = StatsParser::new();
        let mut stall = StallDetector::new();
        let mut last_pair: Option<String> = None;
        while sleep_unless(&cancel, interval).await {
            let Ok(report) = JsFuture::from(pc.get_stats()).await else { continue };
            if cancel.is_cancelled() || ctx.cancel.is_cancelled() {
                return;
            }
            let values: Vec<serde_json::Value> = js_sys::try_iter(&report)
                .ok()
                .flatten()
                .map(|it| {
                    it.filter_map(|entry| entry.ok())
                        .filter_map(|entry| serde_wasm_bindgen::from_value(Array::from(&entry).get(1)).ok())
                        .collect()
                })
                .unwrap_or_default();
            let entries = entries_from_json(&serde_json::Value::Array(values));
            let snap = parser.parse(&entries, js_sys::Date::now());
            if let Some(change) = stall.update(&snap, js_sys::Date::now()) {
                let data: &StallChange = &change;
                ctx.diagnostic("videoStall", data);
            }
            let pair = serde_json::to_string(&snap.connection.selected_candidate_pair).ok();
            if pair.is_some() && pair != last_pair && snap.connection.selected_candidate_pair.is_some() {
                ctx.diagnostic("selectedCandidatePair", &snap.connection.selected_candidate_pair);
                last_pair = pair;
            }
            ctx.events.emit_data("stats", &snap);
        }
    });
}
