//! `realtime.checkConnectivity(options)`: a preflight check before connecting, judged by the
//! core's [`evaluate`].
//!
//! 1. **Reachability**: the session WebSocket is opened (no media) and the passthrough
//!    `set_image` — the first message of every session, harmless — is sent
//!    [`RTT_PROBES`] times; the quickest acknowledgement is the service's round trip. The
//!    `turn_config` the service sends on that socket gives its TURN servers.
//! 2. **ICE gathering** with the `iceServers` given, else the service's (STUN off loopback,
//!    its TURN servers), bounded by `iceGatherTimeoutMs`.
//! 3. **Deep** (`deep: true`): a short real session with the model, publishing a small
//!    synthetic video, whose stats polls become the same samples the connection-quality
//!    verdict takes, for `durationMs` once connected.
//!
//! Every step is bounded; `signal` abandons the check (rejecting with `ABORTED`); a service
//! that refuses the key rejects it (`WEBRTC_SERVER_ERROR`, `detailCode: UNAUTHORIZED`). Whatever
//! way it ends, the socket, the peer connections, the test session and the synthetic
//! source are released: each is owned by a value whose drop releases it.

use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::json::{Json, Obj};
use crate::core::models::ModelDefinition;
use crate::core::options::{
    ClientOptions, CommonOptions, JitterBuffer, PreflightOptions, DEFAULT_IVS_SDK_URL,
    DEFAULT_STATS_INTERVAL_MS,
};
use crate::core::preflight::{evaluate, CandidateType, IceCheck, PreflightObservation};
use crate::core::protocol::{from_json, ClientMessage, Incoming, ServerMessage};
use crate::core::quality::QualitySample;
use crate::core::token::Transport;
use crate::core::urls;
use crate::web::cancel::CancelToken;
use crate::web::chan::{channel, race, Either, Receiver};
use crate::web::error::{from_js, Result};
use crate::web::js::{bounded, get, or_cancel, perf_now, sleep, BROWSER};
use crate::web::log::Logger;
use crate::web::media;
use crate::web::quality::QualityWatch;
use crate::web::session::{self, InitialState, Publisher, Role, Session};
use crate::web::transport::peer::{
    has_scheme, ice_servers, Media, PcEvent, PeerConn, TURN_SCHEMES,
};
use crate::web::transport::webrtc::{turn_server, STUN};
use crate::web::transport::ws::{Ws, WsEvent};
use gloo_timers::future::TimeoutFuture;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MediaStream;

/// Round trips measured on the probe socket.
pub const RTT_PROBES: u32 = 3;
/// Bound of the reachability probe (opening the socket and the round trips), ms.
pub const PROBE_TIMEOUT_MS: u32 = 5_000;
/// Bound of connecting the deep check's test session, ms.
pub const DEEP_CONNECT_MS: u32 = 15_000;
/// Size of the synthetic video the test session publishes.
const SOURCE_SIZE: (u32, u32) = (320, 180);

/// Runs the check; resolves with the result payload, rejects `ABORTED` when `cancel` fires.
pub async fn check(
    client: ClientOptions,
    logger: Logger,
    opts: PreflightOptions,
    cancel: CancelToken,
) -> Result<Json> {
    or_cancel(Box::pin(run(&client, &logger, &opts)), &cancel)
        .await
        .unwrap_or_else(|| {
            Err(SdkError::aborted(
                "checkConnectivity() was abandoned (the abort signal)",
            ))
        })
}

async fn run(client: &ClientOptions, logger: &Logger, opts: &PreflightOptions) -> Result<Json> {
    let probe = probe_service(client, &opts.model).await?;
    let servers: Vec<Json> = match &opts.ice_servers {
        Some(Json::Arr(given)) => given.clone(),
        _ => {
            let mut s = Vec::new();
            if !client.base_url.is_loopback() {
                s.push(Obj::new().set("urls", STUN).build());
            }
            s.extend(probe.turn.clone());
            s
        }
    };
    let (candidates, gathering_timed_out) = gather(&servers, opts.ice_gather_timeout_ms).await?;
    let (ice, samples) = match (opts.deep, probe.error.is_none()) {
        (false, _) => (IceCheck::NotTried, None),
        (true, false) => (IceCheck::NotTried, Some(Vec::new())),
        (true, true) => {
            let (ice, samples) = deep(client, logger, opts).await?;
            (ice, Some(samples))
        }
    };
    let mut result = evaluate(&PreflightObservation {
        candidates,
        stun_configured: has_scheme(&servers, &["stun:", "stuns:"]),
        turn_configured: has_scheme(&servers, TURN_SCHEMES),
        gathering_timed_out,
        service_reachable: probe.error.is_none(),
        service_rtt_ms: probe.rtt_ms,
        ice,
        samples,
    });
    if let Some(why) = probe.error {
        result.reasons.insert(1.min(result.reasons.len()), why);
    }
    Ok(result.to_json())
}

/// What the reachability probe found.
#[derive(Default)]
struct ServiceProbe {
    /// Why the service counts as unreachable; `None` when it answered.
    error: Option<String>,
    /// Quickest acknowledgement, ms.
    rtt_ms: Option<f64>,
    /// The service's TURN server, as an `RTCIceServer`.
    turn: Option<Json>,
}

/// Probes the service. A refusal that retrying cannot help (the key) rejects the check: it
/// says nothing about connectivity.
async fn probe_service(client: &ClientOptions, model: &ModelDefinition) -> Result<ServiceProbe> {
    let ua = urls::user_agent(client.integration.as_deref());
    let url = urls::session_url(
        &client.base_url,
        &urls::SessionUrlParams {
            model,
            api_key: &client.api_key,
            latency_diagnostics: false,
            extra: &[("ice_transport_policy".into(), "all".into())],
            user_agent: &ua,
            ivs: false,
        },
    );
    let mut probe = ServiceProbe::default();
    let (tx, mut rx) = channel();
    let r = match Ws::open(&url, tx, std::convert::identity) {
        Ok(ws) => {
            let rounds = Box::pin(round_trips(&ws, &mut rx, &mut probe));
            bounded(
                PROBE_TIMEOUT_MS,
                "connection",
                "the service's answer",
                rounds,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match r {
        Err(e) if e.code == ErrorCode::Unauthorized => return Err(e),
        Err(e) if e.code == ErrorCode::ServerError => {
            probe.error = Some(join(&["the service refused the session: ", &e.message]));
        }
        Err(e) => probe.error = Some(join(&["the service did not answer: ", &e.message])),
        Ok(()) => {}
    }
    Ok(probe)
}

/// Waits for the socket to open, then times [`RTT_PROBES`] passthrough acknowledgements.
async fn round_trips(ws: &Ws, rx: &mut Receiver<WsEvent>, probe: &mut ServiceProbe) -> Result<()> {
    let closed = || SdkError::new(ErrorCode::WebsocketError, "the WebSocket closed");
    loop {
        match rx.next().await {
            Some(WsEvent::Open) => break,
            Some(WsEvent::Closed { .. }) | None => return Err(closed()),
            Some(WsEvent::Message(_)) => {}
        }
    }
    for _ in 0..RTT_PROBES {
        let sent = perf_now();
        ws.send(&ClientMessage::SetImage {
            image_data: None,
            prompt: Some(None),
            enhance_prompt: None,
        })?;
        loop {
            let text = match rx.next().await {
                Some(WsEvent::Message(text)) => text,
                Some(WsEvent::Open) => continue,
                Some(WsEvent::Closed { .. }) | None => return Err(closed()),
            };
            let m = match (BROWSER.parse)(&text).map(|v| from_json::<ServerMessage>(&v)) {
                Some(Ok(Incoming::Message(m))) => m,
                _ => continue,
            };
            match &m {
                ServerMessage::SetImageAck { .. } => {
                    let rtt = perf_now() - sent;
                    probe.rtt_ms = Some(probe.rtt_ms.map_or(rtt, |r| r.min(rtt)));
                    break;
                }
                ServerMessage::TurnConfig { .. } => probe.turn = turn_server(&m),
                ServerMessage::Error { error } => return Err(SdkError::server(error)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Gathers local candidates with `servers`; their types and whether the bound ran out.
async fn gather(servers: &[Json], timeout_ms: f64) -> Result<(Vec<CandidateType>, bool)> {
    let (tx, mut rx) = channel();
    let pc = PeerConn::create(
        &ice_servers(servers, None),
        false,
        Media::Receive,
        &tx,
        std::convert::identity,
    )?;
    drop(tx);
    pc.offer(None, false).await?;
    let deadline = perf_now() + timeout_ms;
    let mut types = Vec::new();
    loop {
        let left = deadline - perf_now();
        if left <= 0.0 {
            return Ok((types, true));
        }
        let next = race(
            Box::pin(rx.next()),
            Box::pin(TimeoutFuture::new(left as u32)),
        );
        match next.await {
            Either::Left(Some(PcEvent::Candidate(Some(c)))) => {
                types.extend(
                    get(&c, "type")
                        .as_string()
                        .and_then(|t| CandidateType::parse(&t)),
                );
            }
            Either::Left(Some(PcEvent::Candidate(None)) | None) => return Ok((types, false)),
            Either::Left(Some(_)) => {}
            Either::Right(()) => return Ok((types, true)),
        }
    }
}

/// Shuts the test session down however the check ends.
struct Teardown(Rc<Session>);

impl Drop for Teardown {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// The deep check's test session: connected (bounded), then sampled for `durationMs`.
async fn deep(
    client: &ClientOptions,
    logger: &Logger,
    opts: &PreflightOptions,
) -> Result<(IceCheck, Vec<QualitySample>)> {
    let source = Synthetic::start(opts.model.fps)?;
    // The stage strategy's signature (one closure shim for both).
    let on_remote = Closure::<dyn Fn(JsValue) -> JsValue>::new(|_: JsValue| JsValue::UNDEFINED);
    let common = CommonOptions {
        jitter_buffer: JitterBuffer::Ms(0.0),
        stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
        ivs_sdk_url: DEFAULT_IVS_SDK_URL.into(),
        leave_on_page_hide: false,
        reconnect: false,
        max_retries: 0,
        ice_servers: opts.ice_servers.clone(),
        ice_transport_policy: None,
    };
    let publisher = Publisher {
        model: opts.model.clone(),
        transport: Transport::Webrtc,
        stream: Some(source.stream.clone()),
        has_input: true,
        initial: InitialState::default(),
        extra_query: Vec::new(),
        latency_diagnostics: false,
        customize_offer: None,
        avatar: RefCell::new(None),
        latency: None,
        latency_video: None,
        reads_latency: false,
    };
    let ctx = Rc::new_cyclic(|weak: &Weak<Session>| {
        let mut s = Session::new(
            weak.clone(),
            client.clone(),
            common,
            Role::Publisher(publisher),
            on_remote
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
            None,
            logger.clone(),
            None,
        );
        s.quality = QualityWatch::collecting();
        s
    });
    // Nobody listens to the test session: its events are dropped, not held.
    ctx.events.close();
    let session = Teardown(ctx.clone());
    let connect = Box::pin(session::connect(&ctx));
    if bounded(DEEP_CONNECT_MS, "connection", "the test session", connect)
        .await
        .is_err()
    {
        return Ok((IceCheck::Failed, Vec::new()));
    }
    sleep(&ctx.cancel, opts.duration_ms as u32).await;
    let pc = ctx.conn.borrow().as_ref().and_then(|c| c.pc());
    let entries = match pc {
        Some(pc) => crate::web::stats::pc_entries(pc.raw()).await,
        None => None,
    };
    let local = entries
        .and_then(|e| crate::core::stats::first_succeeded_pair(&e))
        .and_then(|p| p.local?.candidate_type)
        .and_then(|t| CandidateType::parse(&t))
        .unwrap_or(CandidateType::Host);
    let samples = ctx.quality.samples();
    drop(session);
    drop(source);
    drop(on_remote);
    Ok((IceCheck::Connected(local), samples))
}

/// A small moving picture from a canvas, at the model's frame rate (`testPicture` of
/// `js/media.js`): what the test session publishes (the service transforms video; a session
/// that sends nothing gets nothing back). Dropping it stops the painting and the track.
struct Synthetic {
    stream: MediaStream,
    picture: media::Handle,
}

impl Synthetic {
    fn start(fps: u32) -> Result<Synthetic> {
        let picture = media::test_picture(SOURCE_SIZE.0, SOURCE_SIZE.1, fps).map_err(|e| {
            from_js(
                ErrorCode::MediaError,
                "could not start the test picture",
                &e,
            )
        })?;
        Ok(Synthetic {
            stream: picture.stream(),
            picture,
        })
    }
}

impl Drop for Synthetic {
    fn drop(&mut self) {
        self.picture.stop();
    }
}
