//! The IVS stage emulation seam: a registry of stages, one per IVS session, with the
//! participant tokens the server hands out.
//!
//! Only the server side exists today. The browser-side stage emulator (a JS module standing
//! in for the IVS Web Broadcast SDK) will read a participant token, fetch its stage from
//! `GET /v1/stage/{stage_id}` (the token's `whip_url`) and exchange media with the server;
//! the `fault` recorded here tells it how to misbehave (`disconnect_during_setup`,
//! `no_server_streams`).
//!
//! Tokens look like IVS participant tokens: a JWT (`alg: none`, empty signature) whose
//! payload carries `resource` (the stage ARN), `topic` (the stage id), `jti` (the
//! participant id), `capabilities` and `whip_url`.

use crate::faults::IvsFault;
use crate::ids::new_id;
use realtime_video_sdk::core::base64;
use realtime_video_sdk::core::protocol::IvsViewerToken;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// One emulated stage.
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
    /// Injected stage fault, for the emulator.
    pub fault: Option<&'static str>,
    /// Whether the client confirmed `ivs_joined`.
    pub client_joined: bool,
}

fn b64url(bytes: &[u8]) -> String {
    base64::encode(bytes).trim_end_matches('=').replace('+', "-").replace('/', "_")
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
    format!("{}.{}.", b64url(header.to_string().as_bytes()), b64url(payload.to_string().as_bytes()))
}

/// All stages of the server, by stage id.
#[derive(Debug, Default)]
pub struct StageRegistry {
    stages: Mutex<HashMap<String, Stage>>,
}

impl StageRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stage>> {
        // A panic while holding this lock cannot leave the map half-updated (single
        // inserts/removes), so a poisoned lock is still usable.
        self.stages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the stage of `session_id`. `http_base` is `http://host:port`.
    pub fn create(&self, session_id: &str, http_base: &str, fault: Option<IvsFault>) -> Stage {
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
            fault: fault.map(IvsFault::as_str),
            client_joined: false,
        };
        self.lock().insert(stage_id, stage.clone());
        stage
    }

    /// The stage with this id.
    pub fn get(&self, stage_id: &str) -> Option<Stage> {
        self.lock().get(stage_id).cloned()
    }

    /// Records the client's `ivs_joined`.
    pub fn mark_joined(&self, stage_id: &str) {
        if let Some(s) = self.lock().get_mut(stage_id) {
            s.client_joined = true;
        }
    }

    /// A subscribe-only token for a viewer of `session_id`'s stage.
    pub fn viewer_token(&self, session_id: &str, http_base: &str) -> Option<IvsViewerToken> {
        let stages = self.lock();
        let stage = stages.values().find(|s| s.session_id == session_id)?;
        let viewer = new_id("pviewer_");
        Some(IvsViewerToken {
            subscribe_token: participant_token(http_base, &stage.stage_id, &stage.stage_arn, &viewer, false),
            server_publish_participant_id: stage.server_publish_participant_id.clone(),
        })
    }

    /// Forgets the stages of a session that ended.
    pub fn remove_session(&self, session_id: &str) {
        self.lock().retain(|_, s| s.session_id != session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(token: &str) -> serde_json::Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::decode(part).unwrap()).unwrap()
    }

    #[test]
    fn stage_lifecycle_and_tokens() {
        let r = StageRegistry::default();
        let s = r.create("sess_1", "http://127.0.0.1:9", Some(IvsFault::NoServerStreams));
        assert!(s.stage_arn.ends_with(&s.stage_id));
        assert_eq!(s.fault, Some("no_server_streams"));
        let p = payload(&s.client_token);
        assert_eq!(p["topic"], s.stage_id.as_str());
        assert_eq!(p["jti"], s.client_publish_participant_id.as_str());
        assert_eq!(p["capabilities"]["allow_publish"], true);
        assert_eq!(p["whip_url"], format!("http://127.0.0.1:9/v1/stage/{}", s.stage_id));

        r.mark_joined(&s.stage_id);
        assert!(r.get(&s.stage_id).unwrap().client_joined);

        let v = r.viewer_token("sess_1", "http://127.0.0.1:9").unwrap();
        assert_eq!(v.server_publish_participant_id, s.server_publish_participant_id);
        assert_eq!(payload(&v.subscribe_token)["capabilities"]["allow_publish"], false);
        assert!(r.viewer_token("sess_2", "x").is_none());

        r.remove_session("sess_1");
        assert!(r.get(&s.stage_id).is_none());
    }
}
