//! The emulated IVS stages: one per IVS session, with the participant tokens the server
//! hands out, the participants connected through the stage signaling
//! ([`crate::stage_signal`]) and what each one publishes.
//!
//! A stage has three kinds of participants:
//! * the **client** participant (`client_publish_participant_id`, publish + subscribe), the
//!   token of `ivs_stage_ready`;
//! * the **server** participant (`server_publish_participant_id`), the inference server: it
//!   is on the stage from the start and publishes the session's output (the echo of the
//!   client's media), unless `fault_ivs=no_server_streams`;
//! * **viewers** (subscribe only), one per token from `GET /v1/subscribe-ivs/{sid}`.
//!
//! Tokens look like IVS participant tokens: a JWT (`alg: none`, empty signature) whose
//! payload carries `resource` (the stage ARN), `topic` (the stage id), `jti` (the
//! participant id), `capabilities` and `whip_url`. Since anyone can forge such a token, a
//! join is accepted only for participant ids this registry issued.
//!
//! The registry is plain synchronous state; the signaling tasks subscribe to a stage's
//! notices (participants joining, leaving, publishing) and to its end.

use crate::faults::{IvsFault, StallFault};
use crate::ids::new_id;
use crate::media::{PeerEvent, PeerId};
use crate::meter::MediaCounters;
use realtime_video_sdk::core::base64;
use realtime_video_sdk::core::protocol::IvsViewerToken;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// One emulated stage, as `GET /v1/stage/{stage_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// Stage id (the last part of the ARN).
    pub stage_id: String,
    /// `arn:aws:ivs:local:000000000000:stage/{stage_id}`.
    pub stage_arn: String,
    /// The IVS session that owns the stage.
    pub session_id: String,
    /// The participant the client publishes as.
    pub client_publish_participant_id: String,
    /// The client's participant token (publish + subscribe).
    #[serde(skip)]
    pub client_token: String,
    /// The participant the server publishes its output as.
    pub server_publish_participant_id: String,
    /// Injected stage fault (`fault_ivs` spelling).
    pub fault: Option<String>,
    /// Whether the client confirmed `ivs_joined`.
    pub client_joined: bool,
    /// Participants connected through the stage signaling (the server participant, always
    /// there, is not listed).
    pub connected: Vec<String>,
}

/// A kind of stream a participant publishes (`StreamType` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// A video track.
    Video,
    /// An audio track.
    Audio,
}

/// A participant as the stage signaling describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantInfo {
    /// Participant id (the token's `jti`).
    pub id: String,
    /// User id (empty: the server's tokens carry none).
    pub user_id: String,
    /// Token attributes (always empty here).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// `publish` and/or `subscribe`.
    pub capabilities: Vec<&'static str>,
    /// Whether the participant publishes streams now.
    pub is_publishing: bool,
    /// The streams it publishes.
    pub streams: Vec<StreamKind>,
}

/// What a participant may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantRole {
    /// The client's publish participant: publish and subscribe.
    Client,
    /// A viewer: subscribe only.
    Viewer,
}

impl ParticipantRole {
    /// Whether this participant may publish.
    pub fn may_publish(self) -> bool {
        self == ParticipantRole::Client
    }

    fn capabilities(self) -> Vec<&'static str> {
        match self {
            ParticipantRole::Client => vec!["publish", "subscribe"],
            ParticipantRole::Viewer => vec!["subscribe"],
        }
    }
}

/// A change on a stage, sent to every connected participant.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A participant connected.
    Joined(ParticipantInfo),
    /// A participant's publishing changed.
    Updated(ParticipantInfo),
    /// A participant left.
    Left(String),
}

/// Why a stage ended, as its participants are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageEnd {
    /// The session that owns the stage ended: the stage is deleted.
    Deleted,
    /// `fault_ivs=stage_error_after_ms:N` fired.
    Failed,
}

/// The session's side of its stage: where the client participant's publisher reports and
/// counts, as a WebRTC session's own peer connection would.
#[derive(Debug, Clone)]
pub struct SessionLink {
    /// The session's peer events.
    pub events: mpsc::UnboundedSender<(PeerId, PeerEvent)>,
    /// The session's media counters (`metrics_report`).
    pub counters: Arc<MediaCounters>,
    /// The session's media stall fault.
    pub stall: Option<StallFault>,
}

/// The parts of a participant token the server reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// `topic`: the stage id.
    pub stage_id: String,
    /// `jti`: the participant id.
    pub participant_id: String,
}

/// Reads a participant token (structure only: the registry decides whether it is valid).
pub fn parse_token(token: &str) -> Option<TokenClaims> {
    let mut parts = token.trim().split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let json: serde_json::Value = serde_json::from_slice(&base64::decode(payload)?).ok()?;
    let text = |k: &str| {
        json.get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(TokenClaims {
        stage_id: text("topic")?,
        participant_id: text("jti")?,
    })
}

fn b64url(bytes: &[u8]) -> String {
    base64::encode(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// A participant token for `participant_id` on `stage`.
pub fn participant_token(
    http_base: &str,
    stage_id: &str,
    stage_arn: &str,
    participant_id: &str,
    publish: bool,
) -> String {
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let payload = serde_json::json!({
        "resource": stage_arn,
        "topic": stage_id,
        "jti": participant_id,
        "capabilities": {"allow_publish": publish, "allow_subscribe": true},
        "whip_url": format!("{http_base}/v1/stage/{stage_id}"),
        "attributes": {},
    });
    format!(
        "{}.{}.",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    )
}

/// Why a join is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// No such stage (never existed, or its session ended).
    UnknownStage,
    /// The token names a participant this stage never issued.
    UnknownParticipant,
    /// `fault_ivs=disconnect_during_setup`.
    DisconnectedByFault,
}

/// A participant's connection to a stage, as its signaling task holds it.
#[derive(Debug)]
pub struct Membership {
    /// The stage's public description at join time.
    pub stage: Stage,
    /// What the participant may do.
    pub role: ParticipantRole,
    /// The participant's own description.
    pub participant: ParticipantInfo,
    /// Everyone else on the stage at join time (the server participant first).
    pub others: Vec<ParticipantInfo>,
    /// Later changes (own changes included: filter by id).
    pub notices: broadcast::Receiver<Notice>,
    /// Turns `Some` when the stage ends.
    pub ended: watch::Receiver<Option<StageEnd>>,
    /// Fires when a newer connection takes over this participant (token reused).
    pub replaced: oneshot::Receiver<()>,
    /// The session's media hooks.
    pub link: SessionLink,
    /// The stage's fault.
    pub fault: Option<IvsFault>,
}

struct Connected {
    conn: u64,
    role: ParticipantRole,
    streams: Vec<StreamKind>,
    replace: Option<oneshot::Sender<()>>,
}

struct Entry {
    stage: Stage,
    fault: Option<IvsFault>,
    link: SessionLink,
    viewers: HashSet<String>,
    connected: HashMap<String, Connected>,
    notices: broadcast::Sender<Notice>,
    ended: watch::Sender<Option<StageEnd>>,
}

impl Entry {
    fn server_participant(&self) -> ParticipantInfo {
        let publishes = self.fault != Some(IvsFault::NoServerStreams);
        ParticipantInfo {
            id: self.stage.server_publish_participant_id.clone(),
            user_id: String::new(),
            attributes: serde_json::Map::new(),
            capabilities: ParticipantRole::Client.capabilities(),
            is_publishing: publishes,
            streams: if publishes {
                vec![StreamKind::Video, StreamKind::Audio]
            } else {
                Vec::new()
            },
        }
    }

    fn participant(&self, id: &str) -> Option<ParticipantInfo> {
        if id == self.stage.server_publish_participant_id {
            return Some(self.server_participant());
        }
        let c = self.connected.get(id)?;
        Some(ParticipantInfo {
            id: id.to_string(),
            user_id: String::new(),
            attributes: serde_json::Map::new(),
            capabilities: c.role.capabilities(),
            is_publishing: !c.streams.is_empty(),
            streams: c.streams.clone(),
        })
    }

    fn public(&self) -> Stage {
        let mut stage = self.stage.clone();
        stage.connected = self.connected.keys().cloned().collect();
        stage.connected.sort();
        stage
    }
}

/// All stages of the server, by stage id.
#[derive(Default)]
pub struct StageRegistry {
    stages: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for StageRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRegistry")
            .field("stages", &self.lock().len())
            .finish()
    }
}

fn next_conn() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl StageRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock cannot leave the map half-updated (each change is
        // a single insert, remove or field store), so a poisoned lock is still usable.
        self.stages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the stage of `session_id`. `http_base` is `http://host:port`.
    pub fn create(
        &self,
        session_id: &str,
        http_base: &str,
        fault: Option<IvsFault>,
        link: SessionLink,
    ) -> Stage {
        let stage_id = new_id("stage_");
        let stage_arn = format!("arn:aws:ivs:local:000000000000:stage/{stage_id}");
        let client = new_id("pclient_");
        let stage = Stage {
            client_token: participant_token(http_base, &stage_id, &stage_arn, &client, true),
            stage_id: stage_id.clone(),
            stage_arn,
            session_id: session_id.to_string(),
            client_publish_participant_id: client,
            server_publish_participant_id: new_id("pserver_"),
            fault: fault.map(|f| f.to_string()),
            client_joined: false,
            connected: Vec::new(),
        };
        let entry = Entry {
            stage: stage.clone(),
            fault,
            link,
            viewers: HashSet::new(),
            connected: HashMap::new(),
            notices: broadcast::channel(64).0,
            ended: watch::channel(None).0,
        };
        self.lock().insert(stage_id, entry);
        stage
    }

    /// The stage with this id.
    pub fn get(&self, stage_id: &str) -> Option<Stage> {
        self.lock().get(stage_id).map(Entry::public)
    }

    /// Records the client's `ivs_joined`.
    pub fn mark_joined(&self, stage_id: &str) {
        if let Some(e) = self.lock().get_mut(stage_id) {
            e.stage.client_joined = true;
        }
    }

    /// A subscribe-only token for a viewer of `session_id`'s stage.
    pub fn viewer_token(&self, session_id: &str, http_base: &str) -> Option<IvsViewerToken> {
        let mut stages = self.lock();
        let entry = stages
            .values_mut()
            .find(|e| e.stage.session_id == session_id)?;
        let viewer = new_id("pviewer_");
        entry.viewers.insert(viewer.clone());
        let s = &entry.stage;
        Some(IvsViewerToken {
            subscribe_token: participant_token(
                http_base,
                &s.stage_id,
                &s.stage_arn,
                &viewer,
                false,
            ),
            server_publish_participant_id: s.server_publish_participant_id.clone(),
        })
    }

    /// Connects `participant_id` to the stage. A participant connected already is replaced
    /// (its [`Membership::replaced`] fires). Returns the membership and its connection id.
    pub fn join(
        &self,
        stage_id: &str,
        participant_id: &str,
    ) -> Result<(Membership, u64), JoinError> {
        let mut stages = self.lock();
        let entry = stages.get_mut(stage_id).ok_or(JoinError::UnknownStage)?;
        let role = if participant_id == entry.stage.client_publish_participant_id {
            ParticipantRole::Client
        } else if entry.viewers.contains(participant_id) {
            ParticipantRole::Viewer
        } else {
            return Err(JoinError::UnknownParticipant);
        };
        if role == ParticipantRole::Client && entry.fault == Some(IvsFault::DisconnectDuringSetup) {
            return Err(JoinError::DisconnectedByFault);
        }
        let conn = next_conn();
        let (replace, replaced) = oneshot::channel();
        let previous = entry.connected.insert(
            participant_id.to_string(),
            Connected {
                conn,
                role,
                streams: Vec::new(),
                replace: Some(replace),
            },
        );
        let rejoin = match previous {
            Some(mut p) => {
                if let Some(tx) = p.replace.take() {
                    let _ = tx.send(());
                }
                true
            }
            None => false,
        };
        // Subscribe before taking the snapshot, both under the lock: no change is missed.
        let notices = entry.notices.subscribe();
        let participant = entry
            .participant(participant_id)
            .ok_or(JoinError::UnknownParticipant)?;
        let mut others = vec![entry.server_participant()];
        let mut ids: Vec<&String> = entry
            .connected
            .keys()
            .filter(|id| id.as_str() != participant_id)
            .collect();
        ids.sort();
        others.extend(ids.into_iter().filter_map(|id| entry.participant(id)));
        if rejoin {
            let _ = entry.notices.send(Notice::Updated(participant.clone()));
        } else {
            let _ = entry.notices.send(Notice::Joined(participant.clone()));
        }
        let membership = Membership {
            stage: entry.public(),
            role,
            participant,
            others,
            notices,
            ended: entry.ended.subscribe(),
            replaced,
            link: entry.link.clone(),
            fault: entry.fault,
        };
        Ok((membership, conn))
    }

    /// Records what connection `conn` of a participant publishes now (empty: nothing).
    pub fn set_streams(
        &self,
        stage_id: &str,
        participant_id: &str,
        conn: u64,
        streams: Vec<StreamKind>,
    ) {
        let mut stages = self.lock();
        let Some(entry) = stages.get_mut(stage_id) else {
            return;
        };
        match entry.connected.get_mut(participant_id) {
            Some(c) if c.conn == conn && c.streams != streams => c.streams = streams,
            _ => return,
        }
        if let Some(info) = entry.participant(participant_id) {
            let _ = entry.notices.send(Notice::Updated(info));
        }
    }

    /// Whether `target` publishes streams a participant may subscribe to.
    pub fn publishes(&self, stage_id: &str, target: &str) -> bool {
        let stages = self.lock();
        stages
            .get(stage_id)
            .and_then(|e| e.participant(target))
            .is_some_and(|p| p.is_publishing)
    }

    /// Disconnects connection `conn` of a participant (a replaced connection changes
    /// nothing).
    pub fn leave(&self, stage_id: &str, participant_id: &str, conn: u64) {
        let mut stages = self.lock();
        let Some(entry) = stages.get_mut(stage_id) else {
            return;
        };
        if entry
            .connected
            .get(participant_id)
            .is_some_and(|c| c.conn == conn)
        {
            entry.connected.remove(participant_id);
            let _ = entry.notices.send(Notice::Left(participant_id.to_string()));
        }
    }

    /// Ends a stage: it is forgotten and every connected participant is told why.
    pub fn end(&self, stage_id: &str, why: StageEnd) {
        if let Some(entry) = self.lock().remove(stage_id) {
            let _ = entry.ended.send(Some(why));
        }
    }

    /// Ends (deletes) the stages of a session that ended.
    pub fn remove_session(&self, session_id: &str) {
        let mut stages = self.lock();
        stages.retain(|_, e| {
            let keep = e.stage.session_id != session_id;
            if !keep {
                let _ = e.ended.send(Some(StageEnd::Deleted));
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(token: &str) -> serde_json::Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::decode(part).unwrap()).unwrap()
    }

    fn link() -> SessionLink {
        SessionLink {
            events: mpsc::unbounded_channel().0,
            counters: Arc::default(),
            stall: None,
        }
    }

    #[test]
    fn stage_lifecycle_and_tokens() {
        let r = StageRegistry::default();
        let s = r.create(
            "sess_1",
            "http://127.0.0.1:9",
            Some(IvsFault::NoServerStreams),
            link(),
        );
        assert!(s.stage_arn.ends_with(&s.stage_id));
        assert_eq!(s.fault.as_deref(), Some("no_server_streams"));
        let p = payload(&s.client_token);
        assert_eq!(p["topic"], s.stage_id.as_str());
        assert_eq!(p["jti"], s.client_publish_participant_id.as_str());
        assert_eq!(p["capabilities"]["allow_publish"], true);
        assert_eq!(
            p["whip_url"],
            format!("http://127.0.0.1:9/v1/stage/{}", s.stage_id)
        );
        assert_eq!(
            parse_token(&s.client_token),
            Some(TokenClaims {
                stage_id: s.stage_id.clone(),
                participant_id: s.client_publish_participant_id.clone()
            })
        );

        r.mark_joined(&s.stage_id);
        assert!(r.get(&s.stage_id).unwrap().client_joined);

        let v = r.viewer_token("sess_1", "http://127.0.0.1:9").unwrap();
        assert_eq!(
            v.server_publish_participant_id,
            s.server_publish_participant_id
        );
        assert_eq!(
            payload(&v.subscribe_token)["capabilities"]["allow_publish"],
            false
        );
        assert!(r.viewer_token("sess_2", "x").is_none());

        let (m, _) = r
            .join(&s.stage_id, &s.client_publish_participant_id)
            .unwrap();
        let mut ended = m.ended.clone();
        r.remove_session("sess_1");
        assert!(r.get(&s.stage_id).is_none());
        assert_eq!(*ended.borrow_and_update(), Some(StageEnd::Deleted));
    }

    #[test]
    fn tokens_that_are_not_jwts() {
        for t in ["", "abc", "a.b", "a.!!!.", "a.e30.", "a.eyJ0b3BpYyI6MX0."] {
            assert_eq!(parse_token(t), None, "{t}");
        }
    }

    #[test]
    fn joins_roles_publishing_and_replacement() {
        let r = StageRegistry::default();
        let s = r.create("sess_1", "http://h", None, link());
        assert_eq!(
            r.join("stage_nope", "x").unwrap_err(),
            JoinError::UnknownStage
        );
        assert_eq!(
            r.join(&s.stage_id, "pviewer_forged").unwrap_err(),
            JoinError::UnknownParticipant
        );
        assert_eq!(
            r.join(&s.stage_id, &s.server_publish_participant_id)
                .unwrap_err(),
            JoinError::UnknownParticipant
        );

        let (mut client, conn) = r
            .join(&s.stage_id, &s.client_publish_participant_id)
            .unwrap();
        assert_eq!(client.role, ParticipantRole::Client);
        assert_eq!(client.others.len(), 1);
        assert_eq!(client.others[0].id, s.server_publish_participant_id);
        assert!(client.others[0].is_publishing);
        assert!(r.publishes(&s.stage_id, &s.server_publish_participant_id));
        assert!(!r.publishes(&s.stage_id, &s.client_publish_participant_id));

        let viewer = claims_of(
            &r.viewer_token("sess_1", "http://h")
                .unwrap()
                .subscribe_token,
        );
        let (v, vconn) = r.join(&s.stage_id, &viewer).unwrap();
        assert_eq!(v.role, ParticipantRole::Viewer);
        assert!(!v.role.may_publish());
        assert_eq!(
            v.others.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            [
                s.server_publish_participant_id.as_str(),
                s.client_publish_participant_id.as_str()
            ]
        );
        assert!(
            matches!(client.notices.try_recv(), Ok(Notice::Joined(p)) if p.id == s.client_publish_participant_id)
        );
        assert!(matches!(client.notices.try_recv(), Ok(Notice::Joined(p)) if p.id == viewer));

        r.set_streams(
            &s.stage_id,
            &s.client_publish_participant_id,
            conn,
            vec![StreamKind::Video],
        );
        assert!(r.publishes(&s.stage_id, &s.client_publish_participant_id));
        assert!(matches!(client.notices.try_recv(), Ok(Notice::Updated(p)) if p.is_publishing));

        // The same token again replaces the first connection; the old one leaving is a no-op.
        let (_again, conn2) = r
            .join(&s.stage_id, &s.client_publish_participant_id)
            .unwrap();
        assert!(client.replaced.try_recv().is_ok());
        r.leave(&s.stage_id, &s.client_publish_participant_id, conn);
        assert!(r
            .get(&s.stage_id)
            .unwrap()
            .connected
            .contains(&s.client_publish_participant_id));
        r.leave(&s.stage_id, &s.client_publish_participant_id, conn2);
        r.leave(&s.stage_id, &viewer, vconn);
        assert!(r.get(&s.stage_id).unwrap().connected.is_empty());

        r.end(&s.stage_id, StageEnd::Failed);
        assert_eq!(*v.ended.borrow(), Some(StageEnd::Failed));
        assert_eq!(
            r.join(&s.stage_id, &viewer).unwrap_err(),
            JoinError::UnknownStage
        );
    }

    #[test]
    fn faults_on_joins_and_streams() {
        let r = StageRegistry::default();
        let s = r.create(
            "sess_1",
            "http://h",
            Some(IvsFault::DisconnectDuringSetup),
            link(),
        );
        assert_eq!(
            r.join(&s.stage_id, &s.client_publish_participant_id)
                .unwrap_err(),
            JoinError::DisconnectedByFault
        );
        let s = r.create(
            "sess_2",
            "http://h",
            Some(IvsFault::NoServerStreams),
            link(),
        );
        let (m, _) = r
            .join(&s.stage_id, &s.client_publish_participant_id)
            .unwrap();
        assert!(!m.others[0].is_publishing && m.others[0].streams.is_empty());
        assert!(!r.publishes(&s.stage_id, &s.server_publish_participant_id));
    }

    fn claims_of(token: &str) -> String {
        parse_token(token).unwrap().participant_id
    }
}
