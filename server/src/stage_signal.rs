//! The stage signaling: the WebSocket the browser-side stage emulator
//! (`assets/ivs-emulator.js`) speaks to join a stage, publish and subscribe, one socket per
//! `Stage` object, at `/v1/stage/{stage_id}/signal` (the token's `whip_url` + `/signal`).
//!
//! JSON text frames, `type` first. Client → server:
//!
//! | type | fields | answer |
//! | --- | --- | --- |
//! | `join` | `token` | `joined` {`participant`, `participants`}, or `error` + close |
//! | `publish` | `sdp` (offer, sendonly) | `answer` {`target: "publish"`, `sdp`} + `candidate` |
//! | `unpublish` | | |
//! | `subscribe` | `participant_id`, `sdp` (offer, recvonly) | `answer` {`target`: the participant id} + `candidate` |
//! | `unsubscribe` | `participant_id` | |
//! | `candidate` | `target` (`publish` or a participant id), `candidate` | |
//! | `leave` | | the socket closes |
//!
//! Server → client, any time after `joined`: `participant_joined` / `participant_updated`
//! {`participant`}, `participant_left` {`participant_id`}, `error` {`code`, `category`,
//! `message`, `fatal`} (the SDK's `StageErrorCode` / `StageErrorCategory` values) and `left`
//! {`reason`} (a `StageLeftReason` value) right before the server closes the socket.
//!
//! Media: the client participant's publisher is the session's publisher (its frames count
//! in the session's `metrics_report` and start `generation_started`); a subscription, to the
//! server participant or to the client participant, is a viewer of the session: both carry
//! the same, unchanged media.

use crate::faults::IvsFault;
use crate::media::{FrameRoute, MediaHandle, OpenPeer, PeerEvent, PeerId, Role};
use crate::session::{answer_offer, remote_candidate};
use crate::stage::{
    parse_token, JoinError, Membership, Notice, ParticipantInfo, ParticipantRole, StageEnd,
    StreamKind,
};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket};
use realtime_video_sdk::core::protocol::IceCandidateInit;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How long a new socket may take to send `join`.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `StageErrorCode` values of the IVS Web Broadcast SDK.
pub mod code {
    /// `TOKEN_MALFORMED`.
    pub const TOKEN_MALFORMED: u16 = 1;
    /// `TIMEOUT`.
    pub const TIMEOUT: u16 = 3;
    /// `FAILED`.
    pub const FAILED: u16 = 4;
    /// `TOKEN_NOT_ALLOWED`.
    pub const TOKEN_NOT_ALLOWED: u16 = 8;
    /// `STAGE_DELETED`.
    pub const STAGE_DELETED: u16 = 9;
    /// `PARTICIPANT_DISCONNECTED`.
    pub const PARTICIPANT_DISCONNECTED: u16 = 10;
}

/// `StageErrorCategory` values.
pub mod category {
    /// About the connection to the stage.
    pub const JOIN: &str = "JOIN_ERROR";
    /// About publishing.
    pub const PUBLISH: &str = "PUBLISH_ERROR";
    /// About subscribing.
    pub const SUBSCRIBE: &str = "SUBSCRIBE_ERROR";
}

/// A message from the emulator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Join with a participant token.
    Join {
        /// The participant token.
        token: String,
    },
    /// Publish: an offer with sendonly transceivers (replaces the current publisher).
    Publish {
        /// Offer SDP.
        sdp: String,
    },
    /// Stop publishing.
    Unpublish,
    /// Subscribe to a participant: an offer with recvonly transceivers.
    Subscribe {
        /// Whose streams.
        participant_id: String,
        /// Offer SDP.
        sdp: String,
    },
    /// Stop a subscription.
    Unsubscribe {
        /// Whose streams.
        participant_id: String,
    },
    /// A trickled ICE candidate of the publisher or of a subscription.
    Candidate {
        /// `publish` or the subscribed participant's id.
        target: String,
        /// The candidate (`null`: end of candidates).
        candidate: Option<IceCandidateInit>,
    },
    /// Leave the stage.
    Leave,
}

/// A message to the emulator.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The join succeeded.
    Joined {
        /// The joining participant.
        participant: ParticipantInfo,
        /// Everyone else (the server participant first).
        participants: Vec<ParticipantInfo>,
    },
    /// Another participant connected.
    ParticipantJoined {
        /// Who.
        participant: ParticipantInfo,
    },
    /// Another participant's streams changed.
    ParticipantUpdated {
        /// Who, now.
        participant: ParticipantInfo,
    },
    /// Another participant left.
    ParticipantLeft {
        /// Who.
        participant_id: String,
    },
    /// The answer to `publish` or `subscribe`.
    Answer {
        /// `publish` or the subscribed participant's id.
        target: String,
        /// Answer SDP.
        sdp: String,
    },
    /// The server's ICE candidate for `target`.
    Candidate {
        /// `publish` or the subscribed participant's id.
        target: String,
        /// The candidate.
        candidate: IceCandidateInit,
    },
    /// A `StageError`.
    Error {
        /// `StageErrorCode`.
        code: u16,
        /// `StageErrorCategory`.
        category: &'static str,
        /// What happened.
        message: String,
        /// Whether the stage ends with it (a `left` follows).
        fatal: bool,
    },
    /// The participant is disconnected; the socket closes next.
    Left {
        /// `StageLeftReason`.
        reason: &'static str,
    },
}

impl ServerMsg {
    fn error(
        code: u16,
        category: &'static str,
        message: impl Into<String>,
        fatal: bool,
    ) -> ServerMsg {
        ServerMsg::Error {
            code,
            category,
            message: message.into(),
            fatal,
        }
    }
}

/// The kinds of media an offer sends (m-sections that are sendonly or sendrecv).
pub fn offered_streams(sdp: &str) -> Vec<StreamKind> {
    let mut out = Vec::new();
    let mut section: Option<(StreamKind, bool)> = None;
    let flush = |section: Option<(StreamKind, bool)>, out: &mut Vec<StreamKind>| {
        if let Some((kind, true)) = section {
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            flush(section.take(), &mut out);
            section = if m.starts_with("video ") {
                Some((StreamKind::Video, true))
            } else if m.starts_with("audio ") {
                Some((StreamKind::Audio, true))
            } else {
                None
            };
        } else if let Some((_, sends)) = section.as_mut() {
            match line {
                "a=recvonly" | "a=inactive" => *sends = false,
                "a=sendonly" | "a=sendrecv" => *sends = true,
                _ => {}
            }
        }
    }
    flush(section, &mut out);
    out
}

struct Socket {
    ws: WebSocket,
}

impl Socket {
    async fn send(&mut self, msg: &ServerMsg) -> bool {
        let text = serde_json::to_string(msg).unwrap_or_default();
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }

    async fn close(mut self, code: u16, reason: &str) {
        crate::session::send_close(&mut self.ws, code, reason).await;
    }

    /// The next text frame; `None` when the socket closed.
    async fn next_text(&mut self) -> Option<String> {
        loop {
            match self.ws.recv().await? {
                Ok(Message::Text(t)) => return Some(t.to_string()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }
}

/// Runs one emulator connection to `stage_id`.
pub async fn run(ws: WebSocket, app: Arc<AppState>, stage_id: String) {
    let mut socket = Socket { ws };
    let first = match tokio::time::timeout(JOIN_TIMEOUT, socket.next_text()).await {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(_) => {
            socket
                .send(&ServerMsg::error(
                    code::TIMEOUT,
                    category::JOIN,
                    "no join message",
                    true,
                ))
                .await;
            return socket.close(1000, "join timeout").await;
        }
    };
    let token = match serde_json::from_str::<ClientMsg>(&first) {
        Ok(ClientMsg::Join { token }) => token,
        _ => {
            let e = ServerMsg::error(
                code::FAILED,
                category::JOIN,
                "expected a join message first",
                true,
            );
            socket.send(&e).await;
            return socket.close(1000, "protocol error").await;
        }
    };
    let refusal = |code, message: &str| ServerMsg::error(code, category::JOIN, message, true);
    let Some(claims) = parse_token(&token) else {
        socket
            .send(&refusal(code::TOKEN_MALFORMED, "Token is malformed"))
            .await;
        return socket.close(1000, "token malformed").await;
    };
    if claims.stage_id != stage_id {
        socket
            .send(&refusal(
                code::TOKEN_NOT_ALLOWED,
                "the token is for another stage",
            ))
            .await;
        return socket.close(1000, "wrong stage").await;
    }
    let (membership, conn) = match app.stages.join(&stage_id, &claims.participant_id) {
        Ok(m) => m,
        Err(e) => {
            tracing::info!(stage = %stage_id, "stage join refused: {e:?}");
            let (msg, left) = match e {
                JoinError::UnknownStage => (refusal(code::STAGE_DELETED, "Stage has been deleted, unable to join"), None),
                JoinError::UnknownParticipant => {
                    (refusal(code::TOKEN_NOT_ALLOWED, "the token's participant is not on this stage"), None)
                }
                JoinError::DisconnectedByFault => (
                    refusal(
                        code::PARTICIPANT_DISCONNECTED,
                        "Participant has been disconnected, unable to join (fault_ivs=disconnect_during_setup)",
                    ),
                    Some("participant-disconnected"),
                ),
            };
            socket.send(&msg).await;
            if let Some(reason) = left {
                socket.send(&ServerMsg::Left { reason }).await;
            }
            return socket.close(1000, "join refused").await;
        }
    };
    let participant_id = claims.participant_id;
    tracing::info!(stage = %stage_id, participant = %participant_id, role = ?membership.role, "stage participant joined");
    let mut p = Participant {
        app: app.clone(),
        stage_id: stage_id.clone(),
        id: participant_id.clone(),
        conn,
        session_id: membership.stage.session_id.clone(),
        role: membership.role,
        publisher: None,
        subscriptions: HashMap::new(),
        events: mpsc::unbounded_channel().0,
    };
    let reason = p.serve(&mut socket, membership).await;
    tracing::info!(stage = %stage_id, participant = %participant_id, "stage participant left: {reason}");
    p.close_peers();
    app.stages.leave(&stage_id, &participant_id, conn);
    socket
        .close(
            if reason == "server shutting down" {
                1001
            } else {
                1000
            },
            reason,
        )
        .await;
}

/// One connected participant and the peer connections it owns.
struct Participant {
    app: Arc<AppState>,
    stage_id: String,
    id: String,
    conn: u64,
    session_id: String,
    role: ParticipantRole,
    publisher: Option<PeerId>,
    subscriptions: HashMap<String, PeerId>,
    /// Where this participant's subscriptions report (nothing reads them but the log).
    events: mpsc::UnboundedSender<(PeerId, PeerEvent)>,
}

impl Participant {
    fn close_peers(&mut self) {
        if let Some(p) = self.publisher.take() {
            self.app.media.close(p);
        }
        for (_, p) in self.subscriptions.drain() {
            self.app.media.close(p);
        }
    }

    async fn serve(&mut self, socket: &mut Socket, m: Membership) -> &'static str {
        let Membership {
            participant,
            others,
            mut notices,
            mut ended,
            mut replaced,
            link,
            fault,
            ..
        } = m;
        if !socket
            .send(&ServerMsg::Joined {
                participant,
                participants: others,
            })
            .await
        {
            return "client gone";
        }
        let (events_tx, mut events) = mpsc::unbounded_channel();
        self.events = events_tx;
        let mut fail_at = match (fault, self.role) {
            (Some(IvsFault::StageErrorAfter(d)), ParticipantRole::Client) => {
                Some(tokio::time::Instant::now() + d)
            }
            _ => None,
        };
        let mut shutdown = self.app.shutdown.clone();
        let mut watch_replaced = true;
        loop {
            tokio::select! {
                text = socket.next_text() => {
                    let Some(text) = text else { return "client closed the socket" };
                    match serde_json::from_str::<ClientMsg>(&text) {
                        Ok(ClientMsg::Leave) => return "left",
                        Ok(msg) => {
                            if let Err(e) = self.on_message(socket, msg, &link, fault).await {
                                socket.send(&e).await;
                            }
                        }
                        Err(e) => crate::warn_limited!(stage = %self.stage_id, "ignoring malformed stage message: {e}"),
                    }
                }
                notice = notices.recv() => match notice {
                    Ok(n) => self.on_notice(socket, n).await,
                    // Fell behind: nothing to replay (a rare burst of joins); keep going.
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(stage = %self.stage_id, "missed {n} stage notices"),
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                changed = ended.changed() => {
                    let why = if changed.is_ok() { *ended.borrow_and_update() } else { Some(StageEnd::Deleted) };
                    match why {
                        Some(StageEnd::Deleted) => {
                            socket.send(&ServerMsg::Left { reason: "stage-deleted" }).await;
                            return "stage deleted";
                        }
                        Some(StageEnd::Failed) => {
                            let message = "Operation failed: the stage failed (fault_ivs=stage_error_after_ms)";
                            socket.send(&ServerMsg::error(code::FAILED, category::JOIN, message, true)).await;
                            socket.send(&ServerMsg::Left { reason: "unknown" }).await;
                            return "stage failed (fault)";
                        }
                        None => {}
                    }
                }
                r = &mut replaced, if watch_replaced => match r {
                    Ok(()) => {
                        socket.send(&ServerMsg::Left { reason: "token-reused" }).await;
                        return "token reused by a newer connection";
                    }
                    // The stage ended (its `ended` tells why): nothing replaces us.
                    Err(_) => watch_replaced = false,
                },
                Some((peer, event)) = events.recv() => {
                    tracing::debug!(stage = %self.stage_id, participant = %self.id, peer, "subscription {event:?}");
                }
                _ = async { tokio::time::sleep_until(fail_at.unwrap_or_else(tokio::time::Instant::now)).await }, if fail_at.is_some() => {
                    fail_at = None;
                    tracing::info!(stage = %self.stage_id, "stage fails (fault_ivs=stage_error_after_ms)");
                    // Ends the stage for every participant; this loop sees it through `ended`.
                    self.app.stages.end(&self.stage_id, StageEnd::Failed);
                }
                _ = crate::until_true(&mut shutdown) => return "server shutting down",
            }
        }
    }

    async fn on_notice(&mut self, socket: &mut Socket, notice: Notice) {
        let msg = match notice {
            Notice::Joined(p) if p.id != self.id => ServerMsg::ParticipantJoined { participant: p },
            Notice::Updated(p) if p.id != self.id => {
                if !p.is_publishing {
                    if let Some(peer) = self.subscriptions.remove(&p.id) {
                        self.app.media.close(peer);
                    }
                }
                ServerMsg::ParticipantUpdated { participant: p }
            }
            Notice::Left(id) if id != self.id => {
                if let Some(peer) = self.subscriptions.remove(&id) {
                    self.app.media.close(peer);
                }
                ServerMsg::ParticipantLeft { participant_id: id }
            }
            _ => return,
        };
        socket.send(&msg).await;
    }

    async fn on_message(
        &mut self,
        socket: &mut Socket,
        msg: ClientMsg,
        link: &crate::stage::SessionLink,
        fault: Option<IvsFault>,
    ) -> Result<(), ServerMsg> {
        match msg {
            ClientMsg::Join { .. } => {
                return Err(ServerMsg::error(
                    code::FAILED,
                    category::JOIN,
                    "already joined",
                    false,
                ));
            }
            ClientMsg::Leave => {}
            ClientMsg::Publish { sdp } => {
                if !self.role.may_publish() {
                    let message =
                        "Token not allowed to perform operation: this participant may not publish";
                    return Err(ServerMsg::error(
                        code::TOKEN_NOT_ALLOWED,
                        category::PUBLISH,
                        message,
                        false,
                    ));
                }
                let streams = offered_streams(&sdp);
                let peer = MediaHandle::new_peer_id();
                let output = if fault == Some(IvsFault::NoServerStreams) {
                    FrameRoute::Withheld
                } else {
                    FrameRoute::Stage
                };
                let answered = answer_offer(&self.app, &sdp, |offer| OpenPeer {
                    peer,
                    session_id: self.session_id.clone(),
                    role: Role::Publisher,
                    offer,
                    events: link.events.clone(),
                    counters: Some(link.counters.clone()),
                    stall: link.stall,
                    output,
                })
                .await
                .map_err(|e| ServerMsg::error(code::FAILED, category::PUBLISH, e, false))?;
                if let Some(old) = self.publisher.replace(peer) {
                    self.app.media.close(old);
                }
                self.app
                    .stages
                    .set_streams(&self.stage_id, &self.id, self.conn, streams);
                tracing::info!(stage = %self.stage_id, participant = %self.id, "publishing");
                self.send_answer(socket, "publish", answered).await;
            }
            ClientMsg::Unpublish => {
                if let Some(old) = self.publisher.take() {
                    self.app.media.close(old);
                }
                self.app
                    .stages
                    .set_streams(&self.stage_id, &self.id, self.conn, Vec::new());
            }
            ClientMsg::Subscribe {
                participant_id,
                sdp,
            } => {
                if participant_id == self.id || participant_id == "publish" {
                    let message = "a participant cannot subscribe to itself";
                    return Err(ServerMsg::error(
                        code::FAILED,
                        category::SUBSCRIBE,
                        message,
                        false,
                    ));
                }
                if !self.app.stages.publishes(&self.stage_id, &participant_id) {
                    let message = format!("participant {participant_id} publishes no streams");
                    return Err(ServerMsg::error(
                        code::FAILED,
                        category::SUBSCRIBE,
                        message,
                        false,
                    ));
                }
                let peer = MediaHandle::new_peer_id();
                let answered = answer_offer(&self.app, &sdp, |offer| OpenPeer {
                    peer,
                    session_id: self.session_id.clone(),
                    role: Role::Viewer,
                    offer,
                    events: self.events.clone(),
                    counters: None,
                    stall: None,
                    output: FrameRoute::Echo,
                })
                .await
                .map_err(|e| ServerMsg::error(code::FAILED, category::SUBSCRIBE, e, false))?;
                if let Some(old) = self.subscriptions.insert(participant_id.clone(), peer) {
                    self.app.media.close(old);
                }
                tracing::info!(stage = %self.stage_id, participant = %self.id, to = %participant_id, "subscribed");
                self.send_answer(socket, &participant_id, answered).await;
            }
            ClientMsg::Unsubscribe { participant_id } => {
                if let Some(old) = self.subscriptions.remove(&participant_id) {
                    self.app.media.close(old);
                }
            }
            ClientMsg::Candidate { target, candidate } => {
                let peer = if target == "publish" {
                    self.publisher
                } else {
                    self.subscriptions.get(&target).copied()
                };
                let usable = candidate
                    .filter(|c| !c.candidate.trim().is_empty())
                    .and_then(|c| remote_candidate(&c, self.app.config.host));
                if let (Some(peer), Some(c)) = (peer, usable) {
                    self.app.media.add_candidate(peer, c);
                }
            }
        }
        Ok(())
    }

    async fn send_answer(
        &self,
        socket: &mut Socket,
        target: &str,
        answered: crate::session::Answered,
    ) {
        socket
            .send(&ServerMsg::Answer {
                target: target.to_string(),
                sdp: answered.sdp,
            })
            .await;
        if let Some(candidate) = answered.candidate {
            socket
                .send(&ServerMsg::Candidate {
                    target: target.to_string(),
                    candidate,
                })
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_streams_by_direction() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        assert_eq!(offered_streams(sdp), [StreamKind::Video]);
        let sdp = "m=audio 9 X 111\r\nm=video 9 X 96\r\na=inactive\r\n";
        assert_eq!(offered_streams(sdp), [StreamKind::Audio]);
        assert!(offered_streams("v=0\r\n").is_empty());
    }

    #[test]
    fn message_shapes() {
        let m: ClientMsg =
            serde_json::from_str(r#"{"type":"candidate","target":"publish","candidate":null}"#)
                .unwrap();
        assert_eq!(
            m,
            ClientMsg::Candidate {
                target: "publish".into(),
                candidate: None
            }
        );
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"publish"}"#).is_err());
        let e = serde_json::to_value(ServerMsg::error(code::FAILED, category::JOIN, "x", true))
            .unwrap();
        assert_eq!(
            e,
            serde_json::json!({"type": "error", "code": 4, "category": "JOIN_ERROR", "message": "x", "fatal": true})
        );
        let l = serde_json::to_value(ServerMsg::Left {
            reason: "stage-deleted",
        })
        .unwrap();
        assert_eq!(
            l,
            serde_json::json!({"type": "left", "reason": "stage-deleted"})
        );
    }
}
