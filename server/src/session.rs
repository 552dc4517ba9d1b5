//! WebSocket sessions: the signaling and control protocol of `shared/PROTOCOL.md` for
//! WebRTC sessions (`/v1/stream`), IVS sessions (`/v1/stream-ivs`) and WebRTC viewers
//! (`/subscribe/{sid}`), with the injected faults of [`crate::faults`].
//!
//! A session is one task owning its WebSocket; media runs elsewhere ([`crate::media`]) and
//! reports through a channel, so a slow client never slows media and vice versa.
//!
//! Every session and viewer is bounded ([`crate::limits`]): its key is checked (client keys:
//! expiry, models, origins, session length), its socket is kept alive or closed
//! ([`crate::wsguard`]), and what the server holds for it (candidates before an offer,
//! delayed acks) is capped; going over a cap ends the session with an `error` that says so.

use crate::client_tokens::Access;
use crate::faults::{AckFault, Faults};
use crate::media::{FrameRoute, MediaHandle, OpenPeer, PeerEvent, PeerId, Role};
use crate::meter::{MediaCounters, Window};
use crate::stage::SessionLink;
use crate::transform::{self, MediaMode, SessionMedia};
use crate::turn::{TurnFault, TurnParams};
use crate::wsguard::{self, Beat, Keepalive};
use crate::{AppState, SessionEntry};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use realtime_video_sdk::core::base64;
use realtime_video_sdk::core::models;
use realtime_video_sdk::core::protocol::{
    parse_client_message, to_text, ClientMessage, IceCandidateInit, Incoming, ServerMessage,
};
use realtime_video_sdk::core::token::Transport;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::Candidate;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Longest accepted prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// The error text for a missing or refused API key (the SDK treats it as permanent).
pub const INVALID_API_KEY: &str = "invalid api key";

/// Checks a `prompt`.
pub fn check_prompt(prompt: &str) -> Result<(), String> {
    let n = prompt.chars().count();
    if prompt.trim().is_empty() {
        Err("prompt must not be empty".into())
    } else if n > MAX_PROMPT_CHARS {
        Err(format!(
            "prompt is too long: {n} characters, at most {MAX_PROMPT_CHARS}"
        ))
    } else {
        Ok(())
    }
}

/// Checks a `set_image`: `image_data` must be base64 when present; a prompt given with it
/// must not be too long (an empty or null prompt means "no prompt").
pub fn check_set_image(image_data: Option<&str>, prompt: Option<&str>) -> Result<(), String> {
    if let Some(data) = image_data {
        if base64::decode(data).is_none() {
            return Err("image_data is not valid base64".into());
        }
    }
    match prompt {
        Some(p) if !p.trim().is_empty() => check_prompt(p),
        _ => Ok(()),
    }
}

/// Drops `a=candidate` lines whose address is not loopback when the server itself is on
/// loopback: the server must never send a packet anywhere else.
pub fn loopback_only_sdp(sdp: &str, host: IpAddr) -> String {
    if !host.is_loopback() {
        return sdp.to_string();
    }
    let keep = |line: &str| match line.strip_prefix("a=candidate:") {
        Some(rest) => rest
            .split_whitespace()
            .nth(4)
            .and_then(|a| a.parse::<IpAddr>().ok())
            .is_some_and(|a| a.is_loopback()),
        None => true,
    };
    let mut out: String = sdp
        .split_inclusive('\n')
        .filter(|l| keep(l.trim_end()))
        .collect();
    if !sdp.is_empty() && out.is_empty() {
        out.push_str("\r\n");
    }
    out
}

/// The server candidate of an answer, as a trickled `ice-candidate` (the first
/// `a=candidate` line, with the first mid, m-line 0 and the answer's ufrag).
pub fn answer_candidate(sdp: &str) -> Option<IceCandidateInit> {
    let attr = |name: &str| {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix(name).map(str::to_string))
    };
    Some(IceCandidateInit {
        candidate: attr("a=candidate:").map(|c| format!("candidate:{c}"))?,
        sdp_mid: attr("a=mid:"),
        sdp_m_line_index: Some(0),
        username_fragment: attr("a=ice-ufrag:"),
    })
}

/// Whether a trickled remote candidate may be used (loopback only when the server is; at
/// most [`crate::limits::MAX_CANDIDATE_BYTES`] long).
pub(crate) fn remote_candidate(init: &IceCandidateInit, host: IpAddr) -> Option<Candidate> {
    if init.candidate.len() > crate::limits::MAX_CANDIDATE_BYTES {
        return None;
    }
    let c = Candidate::from_sdp_string(init.candidate.trim().trim_start_matches("a=")).ok()?;
    (!host.is_loopback() || c.addr().ip().is_loopback()).then_some(c)
}

/// A peer connection opened from a client's offer: the answer to send and the server's
/// candidate to trickle after it.
pub(crate) struct Answered {
    /// The answer SDP.
    pub sdp: String,
    /// The server's single host candidate.
    pub candidate: Option<IceCandidateInit>,
}

/// Parses a client's offer (dropping non-loopback candidates when the server is on
/// loopback), opens the peer connection `spec(offer)` describes and returns the answer.
/// Every signaling path (sessions, viewers, stage participants) opens peers through here.
pub(crate) async fn answer_offer(
    app: &AppState,
    sdp: &str,
    spec: impl FnOnce(SdpOffer) -> OpenPeer,
) -> Result<Answered, String> {
    let offer = SdpOffer::from_sdp_string(&loopback_only_sdp(sdp, app.config.host))
        .map_err(|e| format!("invalid offer: {e}"))?;
    let answer = app.media.open(spec(offer)).await?;
    let sdp = answer.to_sdp_string();
    let candidate = answer_candidate(&sdp);
    Ok(Answered { sdp, candidate })
}

/// The socket of one session, with the sending helpers.
struct Conn {
    ws: WebSocket,
    send_timeout: Duration,
    /// A send failed or timed out (the client does not read): the socket is done.
    broken: bool,
}

impl Conn {
    fn new(ws: WebSocket, app: &AppState) -> Conn {
        Conn {
            ws,
            send_timeout: app.config.limits.send_timeout,
            broken: false,
        }
    }

    async fn send(&mut self, msg: &ServerMessage) -> bool {
        self.send_text(to_text(msg)).await
    }

    async fn send_text(&mut self, text: String) -> bool {
        self.send_message(Message::Text(text.into())).await
    }

    async fn send_message(&mut self, msg: Message) -> bool {
        if !self.broken && !wsguard::send(&mut self.ws, msg, self.send_timeout).await {
            self.broken = true;
        }
        !self.broken
    }

    /// Sends `turn_config` for session `sid`, when the server has a TURN server.
    async fn send_turn_config(&mut self, app: &AppState, sid: &str, turn: TurnParams) {
        if let Some(server) = &app.config.turn {
            self.send(&crate::turn::config_message(server, sid, turn.policy))
                .await;
        }
    }

    async fn close(mut self, code: u16, reason: &str) {
        if !self.broken {
            send_close(&mut self.ws, code, reason).await;
        }
    }

    /// Sends `error` and closes.
    async fn refuse(mut self, error: &str) {
        self.send(&ServerMessage::Error {
            error: error.to_string(),
        })
        .await;
        self.close(1000, "error").await;
    }
}

fn query_key(query: &HashMap<String, String>) -> Option<&str> {
    query.get("api_key").map(String::as_str)
}

/// Checks a socket's key and `Origin`; the refusal is the `error` text to send.
fn authorize(
    app: &AppState,
    query: &HashMap<String, String>,
    origin: Option<&str>,
) -> Result<Access, String> {
    let access = app
        .tokens
        .authorize(&app.config, query_key(query), Instant::now())
        .map_err(|e| e.message().to_string())?;
    access.check_origin(origin, true)?;
    Ok(access)
}

/// The WebSocket close code of a session that ends for `label` (a [`Flow::Close`] reason).
fn close_code(label: &str) -> u16 {
    match label {
        "server shutting down" | "fault_close_after_ms" => 1001,
        "message too big" => wsguard::CLOSE_TOO_BIG,
        "limit" | "idle timeout" => wsguard::CLOSE_POLICY,
        _ => 1000,
    }
}

/// What a receive error ends the socket with: the `error` to send and the close label.
fn receive_error(e: &axum::Error) -> (Option<String>, &'static str) {
    match wsguard::too_big(e) {
        Some(text) => (Some(text), "message too big"),
        None => (None, "socket error"),
    }
}

/// The bytes a delayed ack keeps the server holding.
fn held_bytes(ack: &ServerMessage) -> usize {
    match ack {
        ServerMessage::PromptAck { prompt, .. } => 64 + prompt.len(),
        _ => 64,
    }
}

/// What the session loop does after one input.
enum Flow {
    Continue,
    /// Send `error` (when given) and close with this reason.
    Close(Option<String>, &'static str),
}

/// A WebRTC or IVS session.
struct Session {
    sid: String,
    app: Arc<AppState>,
    transport: Transport,
    faults: Faults,
    peer: Option<PeerId>,
    pending_candidates: Vec<Candidate>,
    counters: Arc<MediaCounters>,
    /// Media mode, look and probes, shared with the media task.
    media: Arc<SessionMedia>,
    window: Window,
    generating_since: Option<Instant>,
    events_tx: mpsc::UnboundedSender<(PeerId, PeerEvent)>,
    /// IVS: the stage the client must confirm with `ivs_joined` as its next message.
    awaiting_join: Option<String>,
    delayed_acks: JoinSet<ServerMessage>,
    /// Bytes of the delayed acks held for the client.
    held: usize,
    /// Candidates added to the current peer connection.
    peer_candidates: usize,
    /// `ice_transport_policy` and `fault_turn`.
    turn: TurnParams,
    /// `fault_turn=delay:N`: when the delayed `turn_config` is due.
    turn_due: Option<tokio::time::Instant>,
    /// A client key's `maxSessionDuration`: the limit and the `error` that ends the session.
    duration_limit: Option<(Duration, String)>,
}

/// Runs a session on an upgraded socket: `/v1/stream` (WebRTC) or `/v1/stream-ivs`.
pub async fn run(
    ws: WebSocket,
    app: Arc<AppState>,
    mut query: HashMap<String, String>,
    origin: Option<String>,
    transport: Transport,
) {
    let mut conn = Conn::new(ws, &app);
    let access = match authorize(&app, &query, origin.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(transport = transport.as_str(), "session refused: {e}");
            return conn.refuse(&e).await;
        }
    };
    let model = query.get("model").cloned().unwrap_or_default();
    if models::realtime(&model).is_err() {
        tracing::info!(
            transport = transport.as_str(),
            "session refused: unknown model {model:?}"
        );
        return conn.refuse(&format!("unknown model: {model:?}")).await;
    }
    if let Err(e) = access.check_model(&model) {
        tracing::info!(transport = transport.as_str(), "session refused: {e}");
        return conn.refuse(&e).await;
    }
    // `fault_turn` belongs to the TURN configuration, not to `Faults`.
    let turn = match TurnParams::from_query(&query, app.config.turn.is_some()) {
        Ok(t) => t,
        Err(e) => return conn.refuse(&e).await,
    };
    query.remove("fault_turn");
    let faults = match Faults::from_query(&query) {
        Ok(f) => f,
        Err(e) => return conn.refuse(&e).await,
    };
    if let Some(text) = &faults.refuse {
        tracing::info!(
            transport = transport.as_str(),
            "session refused by fault_refuse"
        );
        return conn.refuse(text).await;
    }
    let mode = faults.media.mode.unwrap_or(app.config.media_mode);
    if mode == MediaMode::Echo && faults.media.has_model_delay() {
        return conn
            .refuse("model_delay_ms and model_jitter_ms need media_mode=transform")
            .await;
    }

    let sid = crate::ids::new_id("sess_");
    let (ended_tx, _) = watch::channel(false);
    app.sessions_lock().insert(
        sid.clone(),
        SessionEntry {
            transport,
            ended: ended_tx,
        },
    );
    tracing::info!(session = %sid, model = %model, transport = transport.as_str(), media = mode.as_str(), "session open");
    let counters = Arc::new(MediaCounters::default());
    let media = Arc::new(SessionMedia::new(mode, faults.media, counters.clone()));
    app.media.register(&sid, media.clone());
    app.telemetry.open_session(&sid, &access.principal);

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let mut s = Session {
        sid: sid.clone(),
        app: app.clone(),
        transport,
        faults,
        peer: None,
        pending_candidates: Vec::new(),
        counters,
        media,
        window: Window::default(),
        generating_since: None,
        events_tx,
        awaiting_join: None,
        delayed_acks: JoinSet::new(),
        held: 0,
        peer_candidates: 0,
        turn,
        turn_due: None,
        duration_limit: access.session_limit(),
    };
    let reason = s.serve(&mut conn, events_rx).await;
    tracing::info!(session = %sid, "session closed: {reason}");

    if let Some(peer) = s.peer.take() {
        app.media.close(peer);
    }
    app.stages.remove_session(&sid);
    app.media.unregister(&sid);
    if let Some(entry) = app.sessions_lock().remove(&sid) {
        let _ = entry.ended.send(true);
    }
    app.telemetry
        .end_session(&sid, Instant::now(), &app.config.limits);
}

impl Session {
    fn log_ack(&self, what: &str, result: &Result<(), String>) {
        match result {
            Ok(()) => tracing::info!(session = %self.sid, "ack {what}: success"),
            Err(e) => tracing::info!(session = %self.sid, "ack {what}: failure ({e})"),
        }
    }

    /// Applies `fault_ack`; returns the ack to send now, if any, or the `error` of a session
    /// over its cap of delayed acks.
    fn ack(&mut self, msg: ServerMessage) -> Result<Option<ServerMessage>, String> {
        let failed = |msg: ServerMessage, text: &Option<String>| {
            let error = Some(
                text.clone()
                    .unwrap_or_else(|| "ack failed (fault_ack=fail)".into()),
            );
            match msg {
                ServerMessage::PromptAck { prompt, .. } => ServerMessage::PromptAck {
                    prompt,
                    success: false,
                    error,
                },
                ServerMessage::SetImageAck { .. } => ServerMessage::SetImageAck {
                    success: false,
                    error,
                },
                other => other,
            }
        };
        Ok(match &self.faults.ack {
            AckFault::Normal => Some(msg),
            AckFault::Never => None,
            AckFault::Fail(text) => Some(failed(msg, text)),
            &AckFault::Delay(d) => {
                let limits = &self.app.config.limits;
                if self.delayed_acks.len() >= limits.max_pending_acks {
                    return Err(format!(
                        "too many prompts awaiting acks: at most {}",
                        limits.max_pending_acks
                    ));
                }
                self.hold(held_bytes(&msg))?;
                self.delayed_acks.spawn(async move {
                    tokio::time::sleep(d).await;
                    msg
                });
                None
            }
        })
    }

    /// Counts `bytes` more held for the client, within the session's cap.
    fn hold(&mut self, bytes: usize) -> Result<(), String> {
        let max = self.app.config.limits.max_session_pending_bytes;
        if self.held + bytes > max {
            return Err(format!(
                "too much pending data for this session: at most {max} bytes"
            ));
        }
        self.held += bytes;
        Ok(())
    }

    async fn serve(
        &mut self,
        conn: &mut Conn,
        mut events: mpsc::UnboundedReceiver<(PeerId, PeerEvent)>,
    ) -> String {
        let host = self.app.config.host;
        if !conn
            .send(&ServerMessage::SessionId {
                session_id: self.sid.clone(),
                server_ip: host.to_string(),
                server_port: self.app.http_addr.port(),
            })
            .await
        {
            return "client gone".into();
        }
        if self.faults.junk {
            conn.send_text("{\"type\": \"prompt_ack\", this is not json".into())
                .await;
            conn.send_text(
                r#"{"type":"reference_server_surprise","detail":"unknown message type (fault_junk)"}"#.into(),
            )
            .await;
        }
        if self.transport == Transport::Webrtc && self.turn.fault.is_none() {
            conn.send_turn_config(&self.app, &self.sid, self.turn).await;
        }
        if self.transport == Transport::Ivs {
            let base = format!("http://{}", self.app.http_addr);
            let link = SessionLink {
                events: self.events_tx.clone(),
                counters: self.counters.clone(),
                stall: self.faults.stall,
            };
            let stage = self
                .app
                .stages
                .create(&self.sid, &base, self.faults.ivs, link);
            tracing::info!(session = %self.sid, stage = %stage.stage_id, "stage created");
            if self.faults.ivs != Some(crate::faults::IvsFault::NoStageReady) {
                conn.send(&ServerMessage::IvsStageReady {
                    stage_arn: stage.stage_arn.clone(),
                    client_token: stage.client_token.clone(),
                    client_publish_participant_id: Some(
                        stage.client_publish_participant_id.clone(),
                    ),
                })
                .await;
            }
            self.awaiting_join = Some(stage.stage_id);
        }

        let close_at = self
            .faults
            .close_after
            .map(|d| tokio::time::Instant::now() + d);
        let mut error_at = self
            .faults
            .error_after
            .map(|d| tokio::time::Instant::now() + d);
        let mut spoof_at = self
            .faults
            .spoof_after
            .map(|d| tokio::time::Instant::now() + d);
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_tick = Instant::now();
        let mut shutdown = self.app.shutdown.clone();
        let mut keepalive = Keepalive::new(&self.app.config.limits);
        let duration_limit = self
            .duration_limit
            .clone()
            .map(|(d, text)| (tokio::time::Instant::now() + d, text));

        let mut code = 1000;
        let flow = loop {
            let turn_due = self.turn_due;
            let flow = tokio::select! {
                msg = conn.ws.recv() => {
                    keepalive.seen();
                    match msg {
                        Some(Ok(Message::Text(text))) => self.on_text(conn, text.as_str()).await,
                        Some(Ok(Message::Close(_))) | None => break "client closed the socket".to_string(),
                        Some(Err(e)) => match receive_error(&e) {
                            (Some(error), label) => Flow::Close(Some(error), label),
                            (None, _) => break format!("socket error: {e}"),
                        },
                        Some(Ok(_)) => Flow::Continue, // binary, ping, pong
                    }
                }
                beat = keepalive.next() => match beat {
                    Beat::Ping => {
                        conn.send_message(Message::Ping(Default::default())).await;
                        Flow::Continue
                    }
                    Beat::Idle => Flow::Close(Some(keepalive.idle_reason()), "idle timeout"),
                },
                Some((peer, event)) = events.recv() => self.on_peer_event(conn, peer, event).await,
                scheduled = tick.tick() => {
                    let lateness = tokio::time::Instant::now().saturating_duration_since(scheduled);
                    let now = Instant::now();
                    let elapsed = now.saturating_duration_since(last_tick);
                    last_tick = now;
                    self.on_tick(conn, elapsed, lateness).await
                }
                Some(Ok(ack)) = self.delayed_acks.join_next(), if !self.delayed_acks.is_empty() => {
                    self.held = self.held.saturating_sub(held_bytes(&ack));
                    conn.send(&ack).await;
                    Flow::Continue
                }
                _ = async { tokio::time::sleep_until(close_at.unwrap_or_else(tokio::time::Instant::now)).await }, if close_at.is_some() => {
                    Flow::Close(None, "fault_close_after_ms")
                }
                _ = async { tokio::time::sleep_until(error_at.unwrap_or_else(tokio::time::Instant::now)).await }, if error_at.is_some() => {
                    error_at = None;
                    conn.send(&ServerMessage::Error { error: "injected error".into() }).await;
                    Flow::Continue
                }
                _ = async { tokio::time::sleep_until(spoof_at.unwrap_or_else(tokio::time::Instant::now)).await }, if spoof_at.is_some() => {
                    spoof_at = None;
                    conn.send(&ServerMessage::SessionId {
                        session_id: "spoofed-session".into(),
                        server_ip: "203.0.113.7".into(),
                        server_port: 9,
                    })
                    .await;
                    conn.send_text(r#"{"type":"answer","sdp":"v=0 this is not a session description"}"#.into()).await;
                    conn.send_text(r#"{"type":"offer","sdp":"garbage"}"#.into()).await;
                    Flow::Continue
                }
                _ = async { tokio::time::sleep_until(turn_due.unwrap_or_else(tokio::time::Instant::now)).await }, if turn_due.is_some() => {
                    self.turn_due = None;
                    conn.send_turn_config(&self.app, &self.sid, self.turn).await;
                    Flow::Continue
                }
                _ = async { tokio::time::sleep_until(duration_limit.as_ref().map_or_else(tokio::time::Instant::now, |l| l.0)).await }, if duration_limit.is_some() => {
                    let text = duration_limit.as_ref().map(|l| l.1.clone());
                    Flow::Close(text, "session duration limit")
                }
                _ = crate::until_true(&mut shutdown) => Flow::Close(None, "server shutting down"),
            };
            if let Flow::Close(error, label) = flow {
                code = close_code(label);
                break match error {
                    Some(e) => {
                        conn.send(&ServerMessage::Error { error: e.clone() }).await;
                        if e.starts_with(label) {
                            e
                        } else {
                            format!("{label}: {e}")
                        }
                    }
                    None => label.to_string(),
                };
            }
            if conn.broken {
                break "client gone: a send failed or timed out".to_string();
            }
        };
        let reason: String = flow.chars().take(100).collect();
        if !conn.broken {
            send_close(&mut conn.ws, code, &reason).await;
        }
        flow
    }

    async fn on_tick(&mut self, conn: &mut Conn, elapsed: Duration, lateness: Duration) -> Flow {
        if self.awaiting_join.is_some() {
            return Flow::Continue;
        }
        let mut report = self.window.next(Some(&self.counters), elapsed);
        report.event_loop_latency_ms = Some((lateness.as_secs_f64() * 1e5).round() / 100.0);
        conn.send(&ServerMessage::MetricsReport(report)).await;
        if let Some(since) = self.generating_since {
            let seconds = (since.elapsed().as_secs_f64() * 10.0).round() / 10.0;
            conn.send(&ServerMessage::GenerationTick { seconds }).await;
        }
        Flow::Continue
    }

    async fn on_peer_event(&mut self, conn: &mut Conn, peer: PeerId, event: PeerEvent) -> Flow {
        if Some(peer) != self.peer {
            // IVS: the stage signaling opens the client participant's publisher on the
            // session's behalf (`SessionLink`); the newest one that connects is the session's.
            let adopt = self.transport == Transport::Ivs
                && matches!(event, PeerEvent::Connected | PeerEvent::MediaStarted);
            if !adopt {
                return Flow::Continue; // a replaced peer connection
            }
            self.peer = Some(peer);
        }
        match event {
            PeerEvent::Connected => tracing::info!(session = %self.sid, "peer connected"),
            PeerEvent::MediaStarted => {
                tracing::info!(session = %self.sid, "media started");
                if self.generating_since.is_none() {
                    self.generating_since = Some(Instant::now());
                    conn.send(&ServerMessage::GenerationStarted).await;
                }
            }
            PeerEvent::Closed => {
                tracing::info!(session = %self.sid, "peer connection closed");
                self.peer = None;
                if let Some(since) = self.generating_since.take() {
                    let seconds = (since.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                    conn.send(&ServerMessage::GenerationEnded {
                        seconds,
                        reason: Some("connection closed".into()),
                    })
                    .await;
                }
            }
        }
        Flow::Continue
    }

    async fn on_text(&mut self, conn: &mut Conn, text: &str) -> Flow {
        let parsed = parse_client_message(text);
        if let Some(stage) = self.awaiting_join.take() {
            // IVS: the next client message must confirm the join.
            return match parsed {
                Ok(Incoming::Message(ClientMessage::IvsJoined)) => {
                    tracing::info!(session = %self.sid, "ivs joined");
                    self.app.stages.mark_joined(&stage);
                    Flow::Continue
                }
                _ => Flow::Close(Some("Expected ivs_joined message".into()), "protocol error"),
            };
        }
        let msg = match parsed {
            Ok(Incoming::Message(m)) => m,
            Ok(Incoming::Unknown(t)) => {
                tracing::debug!(session = %self.sid, "ignoring unknown message type {t:?}");
                return Flow::Continue;
            }
            Err(e) => {
                crate::warn_limited!(session = %self.sid, "ignoring malformed message: {e}");
                return Flow::Continue;
            }
        };
        match msg {
            ClientMessage::Prompt { prompt, .. } => {
                let r = check_prompt(&prompt);
                if r.is_ok() {
                    self.media.set_prompt(&prompt);
                }
                self.log_ack("prompt", &r);
                let ack = ServerMessage::PromptAck {
                    prompt,
                    success: r.is_ok(),
                    error: r.err(),
                };
                match self.ack(ack) {
                    Ok(Some(ack)) => _ = conn.send(&ack).await,
                    Ok(None) => {}
                    Err(e) => return Flow::Close(Some(e), "limit"),
                }
            }
            ClientMessage::SetImage {
                image_data, prompt, ..
            } => {
                let prompt = prompt.flatten().filter(|p| !p.trim().is_empty());
                let mut r = check_set_image(image_data.as_deref(), prompt.as_deref());
                // Transform mode uses the image: it must be a PNG or JPEG.
                let mut tint = None;
                if let (Ok(()), Some(data), MediaMode::Transform) =
                    (&r, image_data, self.media.mode)
                {
                    match transform::image_tint(data).await {
                        Ok(t) => tint = Some(t),
                        Err(e) => r = Err(e),
                    }
                }
                if r.is_ok() {
                    self.media.set_image(tint, prompt.as_deref());
                }
                self.log_ack("set_image", &r);
                let ack = ServerMessage::SetImageAck {
                    success: r.is_ok(),
                    error: r.err(),
                };
                match self.ack(ack) {
                    Ok(Some(ack)) => _ = conn.send(&ack).await,
                    Ok(None) => {}
                    Err(e) => return Flow::Close(Some(e), "limit"),
                }
            }
            ClientMessage::Offer { sdp } if self.transport == Transport::Webrtc => {
                return self.on_offer(conn, &sdp).await;
            }
            ClientMessage::IceCandidate { candidate } => {
                if let Some(init) = candidate.filter(|c| !c.candidate.trim().is_empty()) {
                    let max = self.app.config.limits.max_pending_candidates;
                    let (count, when) = match self.peer {
                        Some(_) => (self.peer_candidates, "for one peer connection"),
                        None => (self.pending_candidates.len(), "before the offer"),
                    };
                    if count >= max {
                        let e = format!("too many ICE candidates {when}: at most {max}");
                        return Flow::Close(Some(e), "limit");
                    }
                    match remote_candidate(&init, self.app.config.host) {
                        Some(c) => match self.peer {
                            Some(peer) => {
                                self.peer_candidates += 1;
                                self.app.media.add_candidate(peer, c);
                            }
                            None => self.pending_candidates.push(c),
                        },
                        None => tracing::debug!(session = %self.sid, "ignoring unusable candidate"),
                    }
                }
            }
            // Transform mode stamps `seq` into the next output frame. The echo forwards
            // encoded frames and cannot stamp: there E2E markers stamped by the client
            // survive untouched instead.
            ClientMessage::LatencyProbe { seq, .. } => self.media.queue_probe(seq),
            ClientMessage::E2eLatencyReport {
                avg_latency_ms,
                delivery_rate,
                ..
            } => {
                tracing::debug!(session = %self.sid, ?avg_latency_ms, delivery_rate, "e2e latency report");
            }
            other => tracing::debug!(session = %self.sid, "ignoring {other:?}"),
        }
        Flow::Continue
    }

    async fn on_offer(&mut self, conn: &mut Conn, sdp: &str) -> Flow {
        let peer = MediaHandle::new_peer_id();
        let answered = answer_offer(&self.app, sdp, |offer| OpenPeer {
            peer,
            session_id: self.sid.clone(),
            role: Role::Publisher,
            offer,
            events: self.events_tx.clone(),
            counters: Some(self.counters.clone()),
            stall: self.faults.stall,
            output: FrameRoute::Echo,
        });
        match answered.await {
            Ok(answer) => {
                // The new peer connection replaces the old one.
                if let Some(old) = self.peer.replace(peer) {
                    self.app.media.close(old);
                }
                conn.send(&ServerMessage::Answer { sdp: answer.sdp }).await;
                if let Some(candidate) = answer.candidate {
                    conn.send(&ServerMessage::IceCandidate {
                        candidate: Some(candidate),
                    })
                    .await;
                }
                self.peer_candidates = self.pending_candidates.len();
                for c in self.pending_candidates.drain(..) {
                    self.app.media.add_candidate(peer, c);
                }
                if let Some(TurnFault::Delay(d)) = self.turn.fault.take() {
                    self.turn_due = Some(tokio::time::Instant::now() + d);
                }
                tracing::info!(session = %self.sid, "answered offer");
            }
            Err(e) => {
                crate::warn_limited!(session = %self.sid, "offer failed: {e}");
                conn.send(&ServerMessage::Error { error: e }).await;
            }
        }
        Flow::Continue
    }
}

/// Runs a WebRTC viewer (`/subscribe/{sid}`): offer → answer, then the session's media.
pub async fn run_viewer(
    ws: WebSocket,
    app: Arc<AppState>,
    sid: String,
    query: HashMap<String, String>,
    origin: Option<String>,
) {
    let mut conn = Conn::new(ws, &app);
    if let Err(e) = authorize(&app, &query, origin.as_deref()) {
        tracing::info!("viewer refused: {e}");
        return conn.refuse(&e).await;
    }
    let mut turn = match TurnParams::from_query(&query, app.config.turn.is_some()) {
        Ok(t) => t,
        Err(e) => return conn.refuse(&e).await,
    };
    let Some(mut ended) = app.sessions_lock().get(&sid).map(|e| e.ended.subscribe()) else {
        tracing::info!(session = %sid, "viewer refused: unknown session");
        return conn.refuse("invalid session: unknown session id").await;
    };
    tracing::info!(session = %sid, "viewer open");
    if turn.fault.is_none() {
        conn.send_turn_config(&app, &sid, turn).await;
    }
    let limits = &app.config.limits;
    let mut keepalive = Keepalive::new(limits);
    let mut turn_due: Option<tokio::time::Instant> = None;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut peer: Option<PeerId> = None;
    let mut candidates = 0;
    let mut pending: Vec<Candidate> = Vec::new();
    let mut shutdown = app.shutdown.clone();
    let (reason, code) = loop {
        if conn.broken {
            break ("client gone: a send failed or timed out".to_string(), 1000);
        }
        let due = turn_due;
        tokio::select! {
            msg = conn.ws.recv() => {
                keepalive.seen();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => break ("client closed the socket".to_string(), 1000),
                    Some(Err(e)) => match receive_error(&e) {
                        (Some(error), label) => {
                            conn.send(&ServerMessage::Error { error: error.clone() }).await;
                            break (error, close_code(label));
                        }
                        (None, _) => break (format!("socket error: {e}"), 1000),
                    },
                    Some(Ok(_)) => continue,
                };
                match parse_client_message(text.as_str()) {
                    Ok(Incoming::Message(ClientMessage::Offer { sdp })) => {
                        if let Some(old) = peer.take() {
                            app.media.close(old);
                        }
                        let id = MediaHandle::new_peer_id();
                        let answered = answer_offer(&app, &sdp, |offer| OpenPeer {
                            peer: id,
                            session_id: sid.clone(),
                            role: Role::Viewer,
                            offer,
                            events: events_tx.clone(),
                            counters: None,
                            stall: None,
                            output: FrameRoute::Echo,
                        });
                        match answered.await {
                            Ok(answer) => {
                                peer = Some(id);
                                conn.send(&ServerMessage::Answer { sdp: answer.sdp }).await;
                                if let Some(c) = answer.candidate {
                                    conn.send(&ServerMessage::IceCandidate { candidate: Some(c) }).await;
                                }
                                candidates = pending.len();
                                for c in pending.drain(..) {
                                    app.media.add_candidate(id, c);
                                }
                                if let Some(TurnFault::Delay(d)) = turn.fault.take() {
                                    turn_due = Some(tokio::time::Instant::now() + d);
                                }
                            }
                            Err(e) => {
                                crate::warn_limited!(session = %sid, "viewer offer failed: {e}");
                                conn.send(&ServerMessage::Error { error: e }).await;
                            }
                        }
                    }
                    Ok(Incoming::Message(ClientMessage::IceCandidate { candidate: Some(init) })) => {
                        let count = if peer.is_some() { candidates } else { pending.len() };
                        if count >= limits.max_pending_candidates {
                            let error = format!(
                                "too many ICE candidates: at most {}",
                                limits.max_pending_candidates
                            );
                            conn.send(&ServerMessage::Error { error: error.clone() }).await;
                            break (format!("limit: {error}"), wsguard::CLOSE_POLICY);
                        }
                        if let Some(c) = remote_candidate(&init, app.config.host) {
                            match peer {
                                Some(p) => {
                                    candidates += 1;
                                    app.media.add_candidate(p, c);
                                }
                                None => pending.push(c),
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => crate::warn_limited!(session = %sid, "viewer: ignoring malformed message: {e}"),
                }
            }
            beat = keepalive.next() => match beat {
                Beat::Ping => _ = conn.send_message(Message::Ping(Default::default())).await,
                Beat::Idle => {
                    let error = keepalive.idle_reason();
                    conn.send(&ServerMessage::Error { error: error.clone() }).await;
                    break (error, close_code("idle timeout"));
                }
            },
            _ = async { tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)).await }, if due.is_some() => {
                turn_due = None;
                conn.send_turn_config(&app, &sid, turn).await;
            }
            Some((p, event)) = events.recv() => {
                if Some(p) == peer {
                    tracing::info!(session = %sid, "viewer peer {event:?}");
                }
            }
            _ = crate::until_true(&mut ended) => break ("session ended".to_string(), 1000),
            _ = crate::until_true(&mut shutdown) => break ("server shutting down".to_string(), 1001),
        }
    };
    tracing::info!(session = %sid, "viewer closed: {reason}");
    if let Some(p) = peer {
        app.media.close(p);
    }
    let reason: String = reason.chars().take(100).collect();
    conn.close(code, &reason).await;
}

/// Sends a close frame (errors ignored: the peer may be gone already; a peer that does not
/// read is given up on after [`crate::limits::SEND_TIMEOUT`]).
pub(crate) async fn send_close(ws: &mut WebSocket, code: u16, reason: &str) {
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    wsguard::send(ws, close, crate::limits::SEND_TIMEOUT).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        assert!(check_prompt("a cat").is_ok());
        assert!(check_prompt(" ").unwrap_err().contains("empty"));
        assert!(check_prompt(&"é".repeat(1000)).is_ok());
        assert!(check_prompt(&"x".repeat(1001))
            .unwrap_err()
            .contains("1001"));
    }

    #[test]
    fn set_images() {
        assert!(check_set_image(None, None).is_ok());
        assert!(check_set_image(Some("QUJD"), Some("p")).is_ok());
        assert!(check_set_image(Some("not base64!"), None)
            .unwrap_err()
            .contains("base64"));
        assert!(check_set_image(None, Some(&"x".repeat(1001))).is_err());
    }

    #[test]
    fn sdp_candidates_are_filtered_to_loopback() {
        let sdp = "v=0\r\na=candidate:1 1 udp 1 192.168.1.5 5000 typ host\r\na=candidate:2 1 udp 1 127.0.0.1 5001 typ host\r\na=mid:0\r\n";
        let lo = loopback_only_sdp(sdp, "127.0.0.1".parse().unwrap());
        assert_eq!(
            lo,
            "v=0\r\na=candidate:2 1 udp 1 127.0.0.1 5001 typ host\r\na=mid:0\r\n"
        );
        assert_eq!(loopback_only_sdp(sdp, "10.0.0.1".parse().unwrap()), sdp);
    }

    #[test]
    fn candidate_from_answer() {
        let sdp = "v=0\r\na=ice-ufrag:abcd\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=candidate:xyz 1 udp 2130706175 127.0.0.1 40000 typ host\r\n";
        let c = answer_candidate(sdp).unwrap();
        assert_eq!(
            c.candidate,
            "candidate:xyz 1 udp 2130706175 127.0.0.1 40000 typ host"
        );
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.username_fragment.as_deref(), Some("abcd"));
        assert!(answer_candidate("v=0\r\n").is_none());
    }

    #[test]
    fn remote_candidates_loopback_only() {
        let host: IpAddr = "127.0.0.1".parse().unwrap();
        let init = |c: &str| IceCandidateInit {
            candidate: c.into(),
            sdp_mid: None,
            sdp_m_line_index: None,
            username_fragment: None,
        };
        assert!(remote_candidate(
            &init("candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host generation 0"),
            host
        )
        .is_some());
        assert!(remote_candidate(
            &init("candidate:1 1 udp 2122260223 10.1.2.3 5000 typ host"),
            host
        )
        .is_none());
        assert!(remote_candidate(&init("garbage"), host).is_none());
    }
}
