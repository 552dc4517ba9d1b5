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
use crate::core::protocol::{
    parse_server_message, ClientMessage, IceCandidateInit, Incoming, IvsViewerToken, ServerMessage,
};
use crate::core::retry::{is_permanent, RetryPolicy};
use crate::core::sdp;
use crate::core::stats::{
    entries_from_json, merge_reports, StallChange, StallDetector, StatsEntry, StatsParser,
};
use crate::core::token::{SubscribeToken, Transport};
use crate::core::urls;
use crate::web::avatar::AvatarAudio;
use crate::web::cancel::{CancelOnDrop, CancelToken};
use crate::web::error::{from_js, Result};
use crate::web::events::{to_js, Emitter};
use crate::web::ivs::{self, Names, StageConn, StageInput, StageRole, StageState};
use crate::web::latency::LatencySession;
use crate::web::log::Logger;
use crate::web::telemetry::Telemetry;
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
use std::rc::{Rc, Weak};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcPeerConnection, RtcPeerConnectionIceEvent,
    RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
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
    /// An IVS stage event.
    Stage(StageInput),
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
    /// The IVS SDK module handed in with the `ivsModule` option.
    pub ivs_module: Option<JsValue>,
    pub events: Emitter,
    pub logger: Logger,
    /// Opt-in telemetry.
    pub telemetry: Option<Telemetry>,
    /// `live_avatar` without a user stream: the audio `playAudio()` plays into.
    /// Released by `disconnect()`.
    pub avatar_audio: RefCell<Option<Rc<AvatarAudio>>>,
    /// Latency diagnostics (`latencyTracking`): stamper on the published video from before
    /// the first connect, reader on the output while connected. Stopped by `disconnect()`.
    pub latency: Option<LatencySession>,
    /// `latencyTracking.videoElement`: the page's element showing the output, read
    /// instead of a hidden one.
    pub latency_video: Option<web_sys::HtmlVideoElement>,
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
        let d = Diagnostic {
            kind,
            timestamp: now_ms(),
            data,
        };
        if let Some(t) = &self.telemetry {
            t.record_diagnostic(&d);
        }
        self.events.emit_data("diagnostic", &d);
    }

    /// Changes the state and emits `connectionChange` when it differs.
    /// Starts reading latency probes on `remote` (the live connection's output).
    fn start_latency_reading(&self, remote: &MediaStream) {
        if let Some(l) = &self.latency {
            l.start_reading(remote, self.latency_video.clone());
        }
    }

    pub fn set_state(&self, s: State) {
        if self.state.get() != s {
            self.state.set(s);
            self.events.emit("connectionChange", s.as_str().into());
        }
    }

    /// Emits a `phaseTiming` diagnostic for `phase`, started at `since`.
    fn phase(&self, phase: &str, since: f64) {
        self.diagnostic(
            "phaseTiming",
            serde_json::json!({"phase": phase, "durationMs": now_ms() - since}),
        );
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
        self.events.emit_data(
            "error",
            &E {
                code: e.code.as_str(),
                message: &e.message,
                data: e.cause.as_deref(),
            },
        );
    }

    /// Sends on the live connection.
    pub fn send(&self, m: &ClientMessage) -> Result<()> {
        let conn = self.conn.borrow().clone();
        match conn {
            Some(c) => c.send(m),
            None => Err(SdkError::new(ErrorCode::NotConnected, "no live connection")),
        }
    }

    pub fn transport(&self) -> Transport {
        match &self.role {
            Role::Viewer { token } => token.transport,
            Role::Publisher { .. } => self.options.transport,
        }
    }

    fn url(&self) -> String {
        match &self.role {
            Role::Viewer { token } => urls::viewer_url(
                &self.client.base_url,
                &token.sid,
                &token.ip,
                token.port,
                &self.client.api_key,
            ),
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
        RetryPolicy {
            retries: self.options.max_retries,
            ..RetryPolicy::default()
        }
    }
}

/// One connection attempt's browser objects. Dropping it releases all of them.
pub struct Connection {
    /// The signaling socket (an IVS viewer has none).
    pub ws: Option<Ws>,
    pub pc: RefCell<Option<RtcPeerConnection>>,
    /// The IVS stage, on the IVS transport.
    pub stage: RefCell<Option<Rc<StageConn>>>,
    /// The stage reported `connected` (and `ivs_joined` was sent).
    stage_connected: Cell<bool>,
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
        self.stage.borrow_mut().take();
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
        Either::Right(_) => Err(SdkError::new(
            ErrorCode::Timeout,
            format!("{phase} did not finish within {} s", ms / 1000),
        )),
    }
}

/// Sleeps `ms` unless cancelled first; false when cancelled.
pub async fn sleep_unless(cancel: &CancelToken, ms: u32) -> bool {
    if cancel.is_cancelled() {
        return false;
    }
    matches!(
        select(TimeoutFuture::new(ms), cancel.cancelled()).await,
        Either::Left(_)
    )
}

fn server_error(text: &str) -> SdkError {
    let code = if is_permanent(text) {
        ErrorCode::Unauthorized
    } else {
        ErrorCode::ServerError
    };
    SdkError::new(code, format!("server error: {text}"))
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

fn candidate_from_js(c: &JsValue) -> Option<IceCandidateInit> {
    // RTCIceCandidate.toJSON() gives exactly RTCIceCandidateInit.
    let json = Reflect::get(c, &"toJSON".into())
        .ok()?
        .dyn_into::<Function>()
        .ok()?
        .call0(c)
        .ok()?;
    serde_wasm_bindgen::from_value(json).ok()
}

impl Connection {
    /// Opens the WebSocket for `ctx` and returns the connection and its input channel.
    fn open(ctx: &SessionCtx) -> Result<(Rc<Connection>, UnboundedReceiver<Input>)> {
        let (tx, rx) = mpsc::unbounded();
        let ws = match (&ctx.role, ctx.transport()) {
            (Role::Viewer { .. }, Transport::Ivs) => None,
            _ => Some(Ws::open(&ctx.url(), tx.clone(), Input::Ws)?),
        };
        let cancel = CancelToken::new();
        let conn = Connection {
            ws,
            pc: RefCell::new(None),
            stage: RefCell::new(None),
            stage_connected: Cell::new(false),
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
            let _ = Reflect::set(
                &server,
                &"urls".into(),
                &"stun:stun.l.google.com:19302".into(),
            );
            config.set_ice_servers(&Array::of1(&server));
        }
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(|e| {
            from_js(
                ErrorCode::SignalingError,
                "could not create the peer connection",
                &e,
            )
        })?;

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
                let mut tracks: Vec<MediaStreamTrack> = stream
                    .as_ref()
                    .map(|s| {
                        s.get_tracks()
                            .iter()
                            .filter_map(|t| t.dyn_into().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                if ctx.model.is_avatar() {
                    // An avatar session sends audio only.
                    tracks.retain(|t| t.kind() == "audio");
                }
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
            let c = e
                .dyn_ref::<RtcPeerConnectionIceEvent>()
                .and_then(|e| e.candidate());
            let _ = tx.unbounded_send(Input::LocalCandidate(c.and_then(|c| candidate_from_js(&c))));
        }));
        let (tx, p) = (self.tx.clone(), pc.clone());
        ls.push(EventListener::new(
            &pc,
            "connectionstatechange",
            move |_| {
                let _ = tx.unbounded_send(Input::PcState(
                    get(&p, "connectionState").as_string().unwrap_or_default(),
                ));
            },
        ));
        let (tx, p) = (self.tx.clone(), pc.clone());
        ls.push(EventListener::new(
            &pc,
            "iceconnectionstatechange",
            move |_| {
                let _ = tx.unbounded_send(Input::IceState(
                    get(&p, "iceConnectionState")
                        .as_string()
                        .unwrap_or_default(),
                ));
            },
        ));
        let (tx, p) = (self.tx.clone(), pc.clone());
        ls.push(EventListener::new(&pc, "signalingstatechange", move |_| {
            let _ = tx.unbounded_send(Input::SignalingState(
                get(&p, "signalingState").as_string().unwrap_or_default(),
            ));
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

    /// Sends on the signaling socket.
    pub fn send(&self, m: &ClientMessage) -> Result<()> {
        match &self.ws {
            Some(ws) => ws.send(m),
            None => Err(SdkError::new(
                ErrorCode::NotConnected,
                "this connection has no signaling socket",
            )),
        }
    }

    /// Adds remote `tracks` to the one remote stream of this connection (made from `given`
    /// or new); the first time, hands it to `onRemoteStream` and the `remoteStream` event.
    fn deliver_tracks(
        &self,
        ctx: &SessionCtx,
        tracks: &[MediaStreamTrack],
        given: Option<MediaStream>,
    ) -> Result<()> {
        let (stream, is_new) = {
            let mut rs = self.remote_stream.borrow_mut();
            let is_new = rs.is_none();
            let s = match (rs.as_ref(), given) {
                (Some(s), _) => s.clone(),
                (None, Some(s)) => s,
                (None, None) => ivs::stream_of(&[])?,
            };
            for t in tracks {
                if !s.get_tracks().includes(t, 0) {
                    s.add_track(t);
                }
            }
            *rs = Some(s.clone());
            (s, is_new)
        };
        // Once per connection: later tracks join the stream the page already has.
        if !is_new {
            return Ok(());
        }
        if let Some(f) = &ctx.on_remote_stream {
            if let Err(e) = f.call1(&JsValue::NULL, &stream) {
                ctx.logger.error("onRemoteStream threw", &e);
            }
        }
        let live = ctx
            .conn
            .borrow()
            .as_ref()
            .is_some_and(|c| std::ptr::eq(c.as_ref(), self));
        if live {
            ctx.start_latency_reading(&stream);
        }
        ctx.events.emit("remoteStream", stream.into());
        Ok(())
    }

    /// The output stream, once the first remote track arrived.
    fn remote(&self) -> Option<MediaStream> {
        self.remote_stream.borrow().clone()
    }

    async fn send_offer(&self, ctx: &SessionCtx) -> Result<()> {
        let Some(pc) = self.pc() else { return Ok(()) };
        if self.offer_sent.replace(true) {
            return Ok(());
        }
        let offer = await_js(
            pc.create_offer(),
            ErrorCode::SignalingError,
            "createOffer failed",
        )
        .await?;
        let sdp_text = get(&offer, "sdp").as_string().unwrap_or_default();
        let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        init.set_sdp(&sdp::set_vp8_bitrates(&sdp_text));
        if let Some(hook) = &ctx.customize_offer {
            // The hook may edit `offer.sdp` in place and may return a promise.
            let r = hook
                .call1(&JsValue::NULL, &init)
                .map_err(|e| from_js(ErrorCode::InvalidOptions, "customizeOffer threw", &e))?;
            if let Ok(p) = r.dyn_into::<Promise>() {
                await_js(p, ErrorCode::InvalidOptions, "customizeOffer rejected").await?;
            }
        }
        await_js(
            pc.set_local_description(&init),
            ErrorCode::SignalingError,
            "setLocalDescription(offer) failed",
        )
        .await?;
        let sdp_text = get(&init, "sdp").as_string().unwrap_or_default();
        self.send(&ClientMessage::Offer { sdp: sdp_text })
    }

    async fn set_remote(&self, ty: RtcSdpType, sdp_text: &str) -> Result<()> {
        let Some(pc) = self.pc() else { return Ok(()) };
        let init = RtcSessionDescriptionInit::new(ty);
        init.set_sdp(sdp_text);
        await_js(
            pc.set_remote_description(&init),
            ErrorCode::SignalingError,
            "setRemoteDescription failed",
        )
        .await?;
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
        let f: Function = Reflect::get(&receiver, &"getCapabilities".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let caps = f.call1(&receiver, &"video".into()).ok()?;
        Reflect::get(&caps, &"codecs".into())
            .ok()?
            .dyn_into::<Array>()
            .ok()
    })();
    let Some(codecs) = caps else { return };
    let (vp8, rest): (Vec<JsValue>, Vec<JsValue>) = codecs.iter().partition(|c| {
        get(c, "mimeType")
            .as_string()
            .is_some_and(|m| m.eq_ignore_ascii_case("video/VP8"))
    });
    if vp8.is_empty() {
        return;
    }
    let sorted: Array = vp8.into_iter().chain(rest).collect();
    for t in pc.get_transceivers().iter() {
        let kind = get(&get(&get(&t, "receiver"), "track"), "kind").as_string();
        if kind.as_deref() == Some("video") {
            if let Ok(f) = Reflect::get(&t, &"setCodecPreferences".into())
                .and_then(|f| f.dyn_into::<Function>().map_err(JsValue::from))
            {
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
async fn handle(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    input: Input,
    setup: bool,
) -> std::result::Result<Option<ServerMessage>, SdkError> {
    match input {
        Input::Ws(WsEvent::Open) => Ok(None),
        Input::Ws(WsEvent::Closed { code, reason }) => Err(SdkError::new(
            ErrorCode::WebsocketError,
            if reason.is_empty() {
                format!("the WebSocket closed (code {code})")
            } else {
                format!("the WebSocket closed (code {code}: {reason})")
            },
        )),
        Input::Ws(WsEvent::Message(text)) => match parse_server_message(&text) {
            Err(e) => {
                ctx.logger.debug(&format!("ignored {e}"));
                Ok(None)
            }
            Ok(Incoming::Unknown(_)) => Ok(None),
            Ok(Incoming::Message(m)) => handle_message(ctx, conn, m, setup).await,
        },
        Input::LocalCandidate(c) => {
            ctx.diagnostic("iceCandidate", c.as_ref().map(|c| c.candidate.clone()));
            let _ = conn.send(&ClientMessage::IceCandidate { candidate: c });
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
                "failed" => Err(SdkError::new(
                    ErrorCode::IceFailed,
                    "the peer connection failed",
                )),
                "closed" => Err(SdkError::new(
                    ErrorCode::IceFailed,
                    "the peer connection closed",
                )),
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
            conn.deliver_tracks(ctx, &[track], stream)?;
            Ok(None)
        }
        Input::Stage(ev) => {
            handle_stage(ctx, conn, ev)?;
            Ok(None)
        }
    }
}

/// Handles a stage event: `connected` sends `ivs_joined` once; remote streams become the
/// remote MediaStream; a disconnected, errored or left stage, or a stage error, ends the
/// connection (a connect in progress rejects, a live session reconnects).
fn handle_stage(ctx: &Rc<SessionCtx>, conn: &Rc<Connection>, ev: StageInput) -> Result<()> {
    match ev {
        StageInput::State(state, raw) => {
            ctx.diagnostic("stageConnectionStateChange", &raw);
            match state {
                StageState::Connected => {
                    if !conn.stage_connected.replace(true) && conn.ws.is_some() {
                        conn.send(&ClientMessage::IvsJoined)?;
                    }
                    if ctx.state.get() != State::Generating {
                        ctx.set_state(State::Connected);
                    }
                    Ok(())
                }
                StageState::Disconnected => Err(SdkError::new(
                    ErrorCode::IvsStageError,
                    "the IVS stage disconnected",
                )),
                StageState::Errored => Err(SdkError::new(
                    ErrorCode::IvsStageError,
                    "the IVS stage connection errored",
                )),
                StageState::Other => Ok(()),
            }
        }
        StageInput::StreamsAdded {
            participant_id,
            streams,
        } => {
            let Some(stage) = conn.stage.borrow().clone() else {
                return Ok(());
            };
            let tracks = stage.add_remote(&streams);
            ctx.diagnostic(
                "stageStreamsAdded",
                serde_json::json!({"participantId": participant_id, "tracks": tracks.len()}),
            );
            if tracks.is_empty() {
                return Ok(());
            }
            conn.deliver_tracks(ctx, &tracks, None)
        }
        StageInput::StreamsRemoved { streams } => {
            if let Some(stage) = conn.stage.borrow().clone() {
                stage.remove_remote(&streams);
            }
            Ok(())
        }
        StageInput::Left(reason) => Err(SdkError::new(
            ErrorCode::IvsStageError,
            format!("left the IVS stage (reason: {reason})"),
        )),
        StageInput::Error(e) => Err(SdkError::new(
            ErrorCode::IvsStageError,
            format!("IVS stage error: {e}"),
        )),
        StageInput::JoinFailed(e) => Err(e),
    }
}

async fn handle_message(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    m: ServerMessage,
    setup: bool,
) -> std::result::Result<Option<ServerMessage>, SdkError> {
    match &m {
        ServerMessage::Ready => conn.send_offer(ctx).await?,
        ServerMessage::Answer { sdp } => conn.set_remote(RtcSdpType::Answer, sdp).await?,
        ServerMessage::Offer { sdp } => {
            conn.set_remote(RtcSdpType::Offer, sdp).await?;
            if let Some(pc) = conn.pc() {
                let answer = await_js(
                    pc.create_answer(),
                    ErrorCode::SignalingError,
                    "createAnswer failed",
                )
                .await?;
                let init = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
                init.set_sdp(&get(&answer, "sdp").as_string().unwrap_or_default());
                await_js(
                    pc.set_local_description(&init),
                    ErrorCode::SignalingError,
                    "setLocalDescription(answer) failed",
                )
                .await?;
                conn.send(&ClientMessage::Answer {
                    sdp: get(&init, "sdp").as_string().unwrap_or_default(),
                })?;
            }
        }
        ServerMessage::IceCandidate { candidate: Some(c) } => conn.add_remote_candidate(c).await,
        ServerMessage::IceCandidate { candidate: None } => {}
        ServerMessage::PromptAck {
            prompt,
            success,
            error,
        } => {
            let tx = {
                let mut p = ctx.pending_prompts.borrow_mut();
                p.iter()
                    .position(|(t, _)| t == prompt)
                    .map(|i| p.remove(i).1)
            };
            if let Some(tx) = tx {
                let r = if *success {
                    Ok(())
                } else {
                    Err(server_error(error.as_deref().unwrap_or("prompt refused")))
                };
                let _ = tx.send(r);
            }
        }
        ServerMessage::SetImageAck { success, error } => {
            if let Some(tx) = ctx.pending_image.borrow_mut().take() {
                let r = if *success {
                    Ok(())
                } else {
                    Err(server_error(error.as_deref().unwrap_or("image refused")))
                };
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
            ctx.events
                .emit_data("generationTick", &Tick { seconds: *seconds });
        }
        ServerMessage::GenerationEnded { .. } => {}
        ServerMessage::SessionId {
            session_id,
            server_ip,
            server_port,
        } => {
            *ctx.session_id.borrow_mut() = Some(session_id.clone());
            let token = SubscribeToken {
                sid: session_id.clone(),
                ip: server_ip.clone(),
                port: *server_port,
                transport: ctx.transport(),
            };
            *ctx.subscribe_token.borrow_mut() = Some(token.encode());
        }
        ServerMessage::MetricsReport(r) => {
            if let Some(l) = &ctx.latency {
                l.on_server_metrics(r);
            }
            ctx.events.emit_data("serverMetrics", r)
        }
        // Handed back to the caller: the IVS transport waits for it.
        ServerMessage::IvsStageReady { .. } => {}
        // TURN relay support comes with the iceServers / iceTransportPolicy options.
        ServerMessage::TurnConfig { .. } => {}
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
        ClientMessage::Prompt { prompt, .. } => {
            ctx.pending_prompts.borrow_mut().push((prompt.clone(), tx))
        }
        _ => *ctx.pending_image.borrow_mut() = Some(tx),
    }
    conn.send(&m)?;
    loop {
        if let Ok(Some(r)) = ack.try_recv() {
            return r;
        }
        let Some(input) = rx.next().await else {
            return Err(SdkError::new(
                ErrorCode::Aborted,
                "the connection was closed",
            ));
        };
        handle(ctx, conn, input, true).await?;
    }
}

/// Waits for the next input and handles it as a setup-phase input.
async fn next_setup(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    rx: &mut UnboundedReceiver<Input>,
) -> Result<Option<ServerMessage>> {
    match rx.next().await {
        Some(input) => handle(ctx, conn, input, true).await,
        None => Err(SdkError::new(
            ErrorCode::Aborted,
            "the connection was closed",
        )),
    }
}

/// One connection attempt, up to media connected (and, on IVS, the initial state sent).
async fn attempt(ctx: &Rc<SessionCtx>) -> Result<(Rc<Connection>, UnboundedReceiver<Input>)> {
    let (conn, mut rx) = Connection::open(ctx)?;
    let t0 = now_ms();

    if conn.ws.is_some() {
        bounded(WS_OPEN_TIMEOUT_MS, "opening the WebSocket", async {
            loop {
                match rx.next().await {
                    Some(Input::Ws(WsEvent::Open)) => return Ok(()),
                    Some(other) => {
                        handle(ctx, &conn, other, true).await?;
                    }
                    None => {
                        return Err(SdkError::new(
                            ErrorCode::Aborted,
                            "the connection was closed",
                        ))
                    }
                }
            }
        })
        .await?;
        ctx.phase("websocket", t0);
    }

    match ctx.transport() {
        Transport::Webrtc => {
            send_initial_state(ctx, &conn, &mut rx).await?;
            connect_peer(ctx, &conn, &mut rx).await?;
        }
        Transport::Ivs => {
            join_stage(ctx, &conn, &mut rx).await?;
            send_initial_state(ctx, &conn, &mut rx).await?;
        }
    }
    ctx.phase("total", t0);
    Ok((conn, rx))
}

/// The initial state, acknowledged: image (with the prompt), or prompt, or passthrough.
async fn send_initial_state(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    rx: &mut UnboundedReceiver<Input>,
) -> Result<()> {
    let Role::Publisher { stream } = &ctx.role else {
        return Ok(());
    };
    let t = now_ms();
    let msg = if let Some(img) = &ctx.initial.image_b64 {
        ClientMessage::SetImage {
            image_data: Some(img.clone()),
            prompt: ctx.initial.prompt.as_ref().map(|(p, _)| Some(p.clone())),
            enhance_prompt: ctx.initial.prompt.as_ref().map(|(_, e)| *e),
        }
    } else if let Some((p, e)) = &ctx.initial.prompt {
        ClientMessage::Prompt {
            prompt: p.clone(),
            enhance_prompt: *e,
        }
    } else if stream.is_some() {
        ClientMessage::SetImage {
            image_data: None,
            prompt: Some(None),
            enhance_prompt: None,
        }
    } else {
        return Ok(());
    };
    bounded(
        ACK_TIMEOUT_MS,
        "the initial state acknowledgement",
        send_and_ack(ctx, conn, rx, msg),
    )
    .await?;
    ctx.phase("initialState", t);
    Ok(())
}

/// WebRTC: the peer connection, offer/answer and ICE, up to `connected`.
async fn connect_peer(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    rx: &mut UnboundedReceiver<Input>,
) -> Result<()> {
    let t = now_ms();
    conn.create_pc(ctx)?;
    bounded(MEDIA_TIMEOUT_MS, "connecting media", async {
        conn.send_offer(ctx).await?;
        loop {
            if conn
                .pc()
                .map(|pc| get(&pc, "connectionState").as_string().as_deref() == Some("connected"))
                .unwrap_or(false)
            {
                if ctx.state.get() != State::Generating {
                    ctx.set_state(State::Connected);
                }
                return Ok(());
            }
            next_setup(ctx, conn, rx).await?;
        }
    })
    .await?;
    ctx.phase("media", t);
    Ok(())
}

/// IVS: the stage token (`ivs_stage_ready`, or the viewer token over HTTP), the SDK module,
/// the stage joined, `ivs_joined` sent and the output's streams received.
async fn join_stage(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    rx: &mut UnboundedReceiver<Input>,
) -> Result<()> {
    let t = now_ms();
    let (token, role) = match &ctx.role {
        Role::Publisher { stream } => {
            let (token, own) = bounded(ACK_TIMEOUT_MS, "waiting for ivs_stage_ready", async {
                loop {
                    if let Some(ServerMessage::IvsStageReady {
                        client_token,
                        client_publish_participant_id,
                        ..
                    }) = next_setup(ctx, conn, rx).await?
                    {
                        return Ok((client_token, client_publish_participant_id));
                    }
                }
            })
            .await?;
            let tracks = stream
                .as_ref()
                .map(|s| {
                    s.get_tracks()
                        .iter()
                        .filter_map(|t| t.dyn_into().ok())
                        .collect()
                })
                .unwrap_or_default();
            (
                token,
                StageRole::Publisher {
                    tracks,
                    own_participant_id: own,
                },
            )
        }
        Role::Viewer { token } => {
            let vt = bounded(
                ACK_TIMEOUT_MS,
                "fetching the IVS viewer token",
                fetch_viewer_token(ctx, &token.sid),
            )
            .await?;
            (
                vt.subscribe_token,
                StageRole::Viewer {
                    server_participant_id: vt.server_publish_participant_id,
                },
            )
        }
    };
    ctx.phase("stageToken", t);

    let t = now_ms();
    let module = ivs::load_module(ctx.ivs_module.as_ref(), &ctx.options.ivs_sdk_url).await?;
    let names = Names::read(&module)?;
    ctx.phase("ivsSdk", t);

    let t = now_ms();
    let (stage, joined) = StageConn::create(
        &module,
        &names,
        &token,
        role,
        ctx.options.jitter_buffer_min_delay,
        conn.tx.clone(),
        Input::Stage,
    )?;
    *conn.stage.borrow_mut() = Some(stage);
    let tx = conn.tx.clone();
    spawn_local(async move {
        if let Err(e) = JsFuture::from(joined).await {
            let _ = tx.unbounded_send(Input::Stage(StageInput::JoinFailed(ivs::join_error(&e))));
        }
    });
    bounded(
        MEDIA_TIMEOUT_MS,
        "joining the IVS stage and receiving the output",
        async {
            loop {
                if conn.stage_connected.get() && conn.remote_stream.borrow().is_some() {
                    return Ok(());
                }
                next_setup(ctx, conn, rx).await?;
            }
        },
    )
    .await?;
    ctx.phase("stage", t);
    Ok(())
}

/// `GET /v1/subscribe-ivs/{sid}` with the `x-api-key` header.
async fn fetch_viewer_token(ctx: &SessionCtx, sid: &str) -> Result<IvsViewerToken> {
    let window =
        web_sys::window().ok_or_else(|| SdkError::new(ErrorCode::Internal, "no window"))?;
    let headers =
        web_sys::Headers::new().map_err(|e| from_js(ErrorCode::Internal, "Headers failed", &e))?;
    headers.set("x-api-key", &ctx.client.api_key).map_err(|e| {
        from_js(
            ErrorCode::InvalidOptions,
            "the API key is not a valid header value",
            &e,
        )
    })?;
    let init = web_sys::RequestInit::new();
    init.set_headers(&headers);
    let url = urls::ivs_viewer_token_url(&ctx.client.base_url, sid);
    let resp = await_js(
        window.fetch_with_str_and_init(&url, &init),
        ErrorCode::NetworkError,
        "fetching the IVS viewer token failed",
    )
    .await?;
    let resp: web_sys::Response = resp.unchecked_into();
    let status = resp.status();
    let body = await_js(
        resp.text().map_err(|e| {
            from_js(
                ErrorCode::NetworkError,
                "reading the viewer token failed",
                &e,
            )
        })?,
        ErrorCode::NetworkError,
        "reading the viewer token failed",
    )
    .await?
    .as_string()
    .unwrap_or_default();
    if !(200..300).contains(&status) {
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str().map(str::to_string)));
        let text = format!(
            "the IVS viewer token request answered HTTP {status}{}",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        );
        return Err(if status == 401 || status == 403 {
            SdkError::new(ErrorCode::Unauthorized, text)
        } else {
            SdkError::new(ErrorCode::ServerError, text)
        });
    }
    serde_json::from_str(&body).map_err(|e| {
        SdkError::new(
            ErrorCode::ProtocolError,
            format!("the IVS viewer token answer is not valid: {e}"),
        )
    })
}

/// Connects with the retry policy: permanent errors and the last failure reject.
pub async fn connect_with_retries(
    ctx: &Rc<SessionCtx>,
    reconnecting: bool,
) -> Result<(Rc<Connection>, UnboundedReceiver<Input>)> {
    let policy = ctx.policy();
    let mut retry = 0u32;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(SdkError::new(ErrorCode::Aborted, "disconnect() was called"));
        }
        if reconnecting {
            ctx.diagnostic(
                "reconnect",
                serde_json::json!({"attempt": retry + 1, "maxAttempts": policy.retries + 1}),
            );
        }
        let r = {
            let a = Box::pin(attempt(ctx));
            match select(a, ctx.cancel.cancelled()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => Err(SdkError::new(
                    ErrorCode::Aborted,
                    "the connect was abandoned (disconnect() or the abort signal)",
                )),
            }
        };
        match r {
            Ok(c) => {
                ctx.logger.info(&format!(
                    "connected ({} transport, attempt {})",
                    ctx.transport().as_str(),
                    retry + 1
                ));
                return Ok(c);
            }
            Err(e) => {
                ctx.logger.debug(&format!(
                    "connect attempt {} failed: {} {}",
                    retry + 1,
                    e.code.as_str(),
                    e.message
                ));
                let permanent = e.code == ErrorCode::Unauthorized
                    || e.code == ErrorCode::Aborted
                    || e.code == ErrorCode::InvalidOptions
                    || is_permanent(&e.message);
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
async fn run(
    ctx: &Rc<SessionCtx>,
    conn: &Rc<Connection>,
    rx: &mut UnboundedReceiver<Input>,
) -> Ended {
    loop {
        let next = Box::pin(rx.next());
        let input = match select(next, ctx.cancel.cancelled()).await {
            Either::Left((Some(i), _)) => i,
            Either::Left((None, _)) => {
                return Ended::Lost(SdkError::new(
                    ErrorCode::WebsocketError,
                    "the connection closed",
                ))
            }
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
        if let Some(remote) = conn.remote() {
            ctx.start_latency_reading(&remote);
        }
        spawn_stats(&ctx, &conn);
        let ended = run(&ctx, &conn, &mut rx).await;
        ctx.conn.borrow_mut().take();
        if let Some(l) = &ctx.latency {
            l.on_disconnected();
        }
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
        ctx.logger.warn(&format!(
            "connection lost ({}): {}; reconnecting",
            lost.code.as_str(),
            lost.message
        ));
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

/// The entries of an `RTCStatsReport` (a map-like of id → stats object).
fn report_entries(report: &JsValue) -> Vec<StatsEntry> {
    let values: Vec<serde_json::Value> = js_sys::try_iter(report)
        .ok()
        .flatten()
        .map(|it| {
            it.filter_map(|entry| entry.ok())
                .filter_map(|entry| serde_wasm_bindgen::from_value(Array::from(&entry).get(1)).ok())
                .collect()
        })
        .unwrap_or_default();
    entries_from_json(&serde_json::Value::Array(values))
}

/// Where a connection's stats come from.
enum StatsSource {
    Pc(RtcPeerConnection),
    Stage(Weak<StageConn>),
}

impl StatsSource {
    /// One report: `getStats()`, or every stage stream's `requestRTCStats()` merged.
    async fn collect(&self) -> Option<Vec<StatsEntry>> {
        match self {
            StatsSource::Pc(pc) => JsFuture::from(pc.get_stats())
                .await
                .ok()
                .map(|r| report_entries(&r)),
            StatsSource::Stage(stage) => {
                let requests = stage.upgrade()?.stats_requests();
                let mut reports = Vec::with_capacity(requests.len());
                for p in requests {
                    if let Ok(r) = JsFuture::from(p).await {
                        if !r.is_undefined() && !r.is_null() {
                            reports.push(report_entries(&r));
                        }
                    }
                }
                Some(merge_reports(reports))
            }
        }
    }
}

/// Polls the connection's stats while it lives; emits `stats`, stall diagnostics and the
/// selected candidate pair when it changes.
fn spawn_stats(ctx: &Rc<SessionCtx>, conn: &Rc<Connection>) {
    let source = match (conn.pc(), conn.stage.borrow().as_ref()) {
        (Some(pc), _) => StatsSource::Pc(pc),
        (None, Some(stage)) => StatsSource::Stage(Rc::downgrade(stage)),
        (None, None) => return,
    };
    let (ctx, cancel) = (ctx.clone(), conn.cancel.clone());
    let interval = ctx.options.stats_interval_ms.max(500.0) as u32;
    spawn_local(async move {
        let mut parser = StatsParser::new();
        let mut stall = StallDetector::new();
        let mut last_pair: Option<String> = None;
        while sleep_unless(&cancel, interval).await {
            let Some(entries) = source.collect().await else {
                continue;
            };
            if cancel.is_cancelled() || ctx.cancel.is_cancelled() {
                return;
            }
            let snap = parser.parse(&entries, js_sys::Date::now());
            if let Some(change) = stall.update(&snap, js_sys::Date::now()) {
                let data: &StallChange = &change;
                ctx.diagnostic("videoStall", data);
            }
            // A change of pair (id and ends), not of its counters.
            let pair = snap.connection.selected_candidate_pair.as_ref().map(|p| {
                let end = |c: &Option<_>| serde_json::to_string(c).unwrap_or_default();
                format!("{}|{}|{}", p.id, end(&p.local), end(&p.remote))
            });
            if pair.is_some() && pair != last_pair {
                ctx.diagnostic(
                    "selectedCandidatePair",
                    &snap.connection.selected_candidate_pair,
                );
                last_pair = pair;
            }
            if let Some(t) = &ctx.telemetry {
                t.record_stats(&snap);
            }
            if let Some(l) = &ctx.latency {
                l.on_stats(&snap);
            }
            ctx.events.emit_data("stats", &snap);
        }
    });
}
