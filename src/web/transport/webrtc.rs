//! The WebRTC transport's flow (`shared/PROTOCOL.md`, "Session flow, WebRTC"): TURN servers
//! when a relay policy was asked (relay-only ICE without any ends the attempt, bounded), the
//! peer connection, offer/answer and trickle ICE up to `connected`; then its signaling and
//! events for the life of the connection. Messages that make no sense in the current
//! signaling state (a stale answer after an ICE restart, an offer while ours is pending) are
//! dropped with a warning, never fatal.

use super::peer::{has_scheme, ice_servers, Media, PcEvent, PeerConn, TURN_SCHEMES};
use super::{Connection, Link, Live};
use crate::core::diagnostics::{self, phase, StateKind};
use crate::core::error::{ErrorCode, SdkError};
use crate::core::json::{Json, Obj};
use crate::core::options::IcePolicy;
use crate::core::protocol::{ClientMessage, IceCandidateInit, ServerMessage};
use crate::web::error::Result;
use crate::web::js::{bounded, get, perf_now, spawn, to_json};
use crate::web::session::setup::next_setup;
use crate::web::session::{Role, Session, State, MEDIA_TIMEOUT_MS};
use std::rc::Rc;

/// Bound of waiting for `turn_config` before creating the peer connection, and again after
/// the offer when relay-only ICE has no TURN server at all, ms.
pub const TURN_WAIT_MS: u32 = 5_000;
/// The STUN server used for non-loopback bases.
pub const STUN: &str = "stun:stun.l.google.com:19302";

/// The handshake of one attempt, up to the peer connection `connected`; emits the
/// `webrtc-handshake` phase (with `"Timeout"` or `"Connection lost during handshake"` when
/// it fails).
pub async fn handshake(ctx: &Rc<Session>, live: &mut Live) -> Result<()> {
    let t = perf_now();
    let r = bounded(
        MEDIA_TIMEOUT_MS,
        "connection",
        "connecting media",
        Box::pin(async {
            if ctx.common.ice_transport_policy.is_some() {
                await_turn(ctx, live).await?;
            }
            let pc = create_pc(ctx, &live.conn)?;
            send_offer(ctx, &live.conn, false).await?;
            if relay_only(ctx) && !has_turn(ctx, &live.conn) {
                await_late_turn(ctx, live).await?;
            }
            loop {
                if pc.is_connected() {
                    ctx.set_state(State::Connected);
                    return Ok(());
                }
                next_setup(ctx, live).await?;
            }
        }),
    )
    .await;
    let error = match &r {
        Ok(()) => None,
        Err(e) if e.code == ErrorCode::Timeout => Some("Timeout"),
        Err(_) => Some("Connection lost during handshake"),
    };
    ctx.phase(phase::WEBRTC_HANDSHAKE, t, error, None);
    r
}

/// Waits up to [`TURN_WAIT_MS`] for the server's `turn_config`: `Ok(false)` when none came.
async fn wait_for_turn(ctx: &Rc<Session>, live: &mut Live) -> Result<bool> {
    let wait = bounded(
        TURN_WAIT_MS,
        "connection",
        "waiting for turn_config",
        Box::pin(async {
            while live.conn.turn.borrow().is_none() {
                next_setup(ctx, live).await?;
            }
            Ok(())
        }),
    )
    .await;
    match wait {
        Ok(()) => Ok(true),
        Err(e) if e.code == ErrorCode::Timeout => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits (bounded) for the server's `turn_config`; without one the peer connection is
/// created with the configured servers only.
async fn await_turn(ctx: &Rc<Session>, live: &mut Live) -> Result<()> {
    if !wait_for_turn(ctx, live).await? {
        ctx.logger
            .warn("no turn_config from the server: connecting with the configured ICE servers");
    }
    Ok(())
}

/// Relay-only ICE without any TURN server cannot connect: waits (bounded) for a
/// `turn_config` after the offer (a late one restarts ICE), else fails the attempt with an
/// error that says so.
async fn await_late_turn(ctx: &Rc<Session>, live: &mut Live) -> Result<()> {
    if wait_for_turn(ctx, live).await? {
        return Ok(());
    }
    Err(SdkError::new(
        ErrorCode::IceError,
        "relay-only ICE (iceTransportPolicy \"udp\" or \"tcp\") has no TURN server: \
         the service sent no turn_config and iceServers has none",
    ))
}

/// True when the connection has a TURN server: the service's, or one of `iceServers`.
fn has_turn(ctx: &Session, conn: &Connection) -> bool {
    let configured = match &ctx.common.ice_servers {
        Some(Json::Arr(items)) => items.as_slice(),
        _ => &[],
    };
    conn.turn.borrow().is_some() || has_scheme(configured, TURN_SCHEMES)
}

/// The ICE servers of a connection: STUN for a non-loopback base, the `iceServers` option,
/// and the server's TURN config.
fn servers(ctx: &Session, conn: &Connection) -> wasm_bindgen::JsValue {
    let mut configured: Vec<Json> = Vec::new();
    if !ctx.client.base_url.is_loopback() {
        configured.push(Obj::new().set("urls", STUN).build());
    }
    if let Some(Json::Arr(items)) = &ctx.common.ice_servers {
        configured.extend(items.iter().cloned());
    }
    ice_servers(&configured, conn.turn.borrow().as_ref())
}

/// Relay-only ICE for the `udp` and `tcp` policies.
fn relay_only(ctx: &Session) -> bool {
    matches!(
        ctx.common.ice_transport_policy,
        Some(IcePolicy::Udp | IcePolicy::Tcp)
    )
}

fn create_pc(ctx: &Session, conn: &Connection) -> Result<Rc<PeerConn>> {
    let media = match &ctx.role {
        Role::Publisher(p) => Media::Publish {
            stream: p.stream.as_ref(),
            avatar: p.model.is_avatar(),
        },
        Role::Viewer(_) => Media::Receive,
    };
    let pc = Rc::new(PeerConn::create(
        &servers(ctx, conn),
        relay_only(ctx),
        media,
        &conn.tx,
        super::Input::Pc,
    )?);
    conn.set_link(Link::WebRtc(pc.clone()));
    Ok(pc)
}

/// Creates and sends an offer (an ICE restart when `ice_restart`).
async fn send_offer(ctx: &Session, conn: &Connection, ice_restart: bool) -> Result<()> {
    let Some(pc) = conn.pc() else { return Ok(()) };
    let customize = ctx.publisher().and_then(|p| p.customize_offer.as_ref());
    let sdp = pc.offer(customize, ice_restart).await?;
    conn.offers.set(conn.offers.get() + 1);
    conn.send(&ClientMessage::Offer { sdp })
}

/// A peer connection event: local candidates go to the server, state changes become
/// diagnostics (`connected` also the selected candidate pair), a failed or closed peer
/// connection ends the connection, remote tracks become the output stream.
pub fn on_pc_event(ctx: &Session, conn: &Rc<Connection>, ev: PcEvent) -> Result<()> {
    match ev {
        PcEvent::Candidate(c) => {
            let init = c
                .as_ref()
                .and_then(|c| crate::web::js::call(c, "toJSON", &[]))
                .and_then(|j| IceCandidateInit::from_json(&to_json(&j, &[])).ok());
            if let (Some(c), Some(init)) = (&c, &init) {
                let port = get(c, "port").as_f64();
                ctx.diagnostic(
                    "iceCandidate",
                    diagnostics::ice_candidate(
                        "local",
                        diagnostics::candidate_type(get(c, "type").as_string().as_deref()),
                        diagnostics::candidate_protocol(get(c, "protocol").as_string().as_deref()),
                        get(c, "address").as_string().as_deref(),
                        port,
                        &init.candidate,
                    ),
                );
            }
            // Gathering may end after the socket closed: nothing to tell then.
            let _ = conn.send(&ClientMessage::IceCandidate { candidate: init });
            Ok(())
        }
        PcEvent::State(kind) => {
            let Some(pc) = conn.pc() else { return Ok(()) };
            let state = pc.state(kind);
            if let Some(d) = conn.states.borrow_mut().change(kind, state, perf_now()) {
                ctx.diagnostic(kind.name(), d);
            }
            if kind != StateKind::Connection {
                return Ok(());
            }
            match state {
                "connected" => {
                    ctx.set_state(State::Connected);
                    spawn_pair_diagnostic(ctx, conn, &pc);
                    Ok(())
                }
                "failed" | "closed" => Err(SdkError::new(
                    ErrorCode::IceError,
                    if state == "failed" {
                        "the peer connection failed"
                    } else {
                        "the peer connection closed"
                    },
                )),
                _ => Ok(()),
            }
        }
        PcEvent::Track(track, stream) => conn.deliver_tracks(ctx, &[track], stream),
    }
}

/// The `selectedCandidatePair` diagnostic: the first succeeded pair of `getStats()`.
fn spawn_pair_diagnostic(ctx: &Session, conn: &Rc<Connection>, pc: &Rc<PeerConn>) {
    let (weak, pc, cancel) = (ctx.weak(), pc.clone(), conn.cancel.clone());
    spawn(Box::pin(async move {
        let entries = crate::web::stats::pc_entries(pc.raw()).await;
        if cancel.is_cancelled() {
            return;
        }
        if let (Some(ctx), Some(pair)) = (
            weak.upgrade(),
            entries.and_then(|e| crate::core::stats::first_succeeded_pair(&e)),
        ) {
            ctx.stats.pair_reported(&pair.id);
            ctx.diagnostic(
                "selectedCandidatePair",
                crate::core::stats::pair_diagnostic(&pair),
            );
        }
    }));
}

/// True for the messages [`on_signal`] handles.
pub fn is_signal(m: &ServerMessage) -> bool {
    matches!(
        m,
        ServerMessage::Ready
            | ServerMessage::Answer { .. }
            | ServerMessage::Offer { .. }
            | ServerMessage::IceCandidate { .. }
            | ServerMessage::TurnConfig { .. }
    )
}

/// Signaling messages of the WebRTC transport. In `setup`, a failure ends the attempt; on a
/// live connection an answer or offer that cannot be applied is dropped with a warning.
pub fn on_signal<'a>(
    ctx: &'a Session,
    conn: &'a Connection,
    m: &'a ServerMessage,
    setup: bool,
) -> crate::web::js::Task<'a, Result<()>> {
    Box::pin(signal(ctx, conn, m, setup))
}

async fn signal(ctx: &Session, conn: &Connection, m: &ServerMessage, setup: bool) -> Result<()> {
    let Some(pc) = conn.pc() else {
        // Before the peer connection exists only the TURN config matters.
        if let ServerMessage::TurnConfig { .. } = m {
            store_turn(conn, m);
        }
        return Ok(());
    };
    let r = match m {
        ServerMessage::Ready if conn.offers.get() == 0 => send_offer(ctx, conn, false).await,
        ServerMessage::Answer { sdp } => {
            let answers = conn.answers.get() + 1;
            conn.answers.set(answers);
            if answers < conn.offers.get() || !pc.awaits_answer() {
                ctx.ignored("answer", "it belongs to no pending offer");
                Ok(())
            } else {
                pc.set_remote(false, sdp).await
            }
        }
        ServerMessage::Offer { sdp } => {
            if pc.takes_offer() {
                answer_offer(conn, &pc, sdp).await
            } else {
                ctx.ignored("offer", "an offer of ours is pending");
                Ok(())
            }
        }
        ServerMessage::IceCandidate { candidate: Some(c) } => {
            let (t, p) = diagnostics::parse_candidate_line(&c.candidate);
            ctx.diagnostic(
                "iceCandidate",
                diagnostics::ice_candidate("remote", t, p, None, None, &c.candidate),
            );
            pc.add_candidate(c).await;
            Ok(())
        }
        ServerMessage::TurnConfig { .. } => {
            // After the peer connection exists: restart ICE with the relay when the page asked
            // for TURN; otherwise the server only joins the configuration (a later restart
            // uses it) and a connection that works is not renegotiated.
            store_turn(conn, m);
            pc.set_ice_servers(&servers(ctx, conn), relay_only(ctx))?;
            if ctx.common.ice_transport_policy.is_some() {
                send_offer(ctx, conn, true).await
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    };
    match r {
        Err(e) if !setup && e.code == ErrorCode::SignalingError => {
            ctx.ignored(signal_type(m), &e.message);
            Ok(())
        }
        other => other,
    }
}

/// The wire `type` of a signaling message.
fn signal_type(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Ready => "ready",
        ServerMessage::Answer { .. } => "answer",
        ServerMessage::Offer { .. } => "offer",
        ServerMessage::IceCandidate { .. } => "ice-candidate",
        _ => "turn_config",
    }
}

/// Applies a server offer and sends our answer.
async fn answer_offer(conn: &Connection, pc: &PeerConn, sdp: &str) -> Result<()> {
    pc.set_remote(true, sdp).await?;
    let sdp = pc.answer().await?;
    conn.send(&ClientMessage::Answer { sdp })
}

/// Keeps a `turn_config` as an `RTCIceServer`.
fn store_turn(conn: &Connection, m: &ServerMessage) {
    if let Some(server) = turn_server(m) {
        *conn.turn.borrow_mut() = Some(server);
    }
}

/// A `turn_config` as an `RTCIceServer` (`None` for other messages).
pub fn turn_server(m: &ServerMessage) -> Option<Json> {
    let ServerMessage::TurnConfig {
        urls,
        username,
        credential,
    } = m
    else {
        return None;
    };
    let urls: Vec<Json> = urls.iter().map(|u| Json::from(u.as_str())).collect();
    Some(
        Obj::new()
            .set("urls", urls)
            .set("username", username.as_str())
            .set("credential", credential.as_str())
            .build(),
    )
}
