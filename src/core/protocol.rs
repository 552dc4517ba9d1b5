//! The wire messages of the realtime protocol (`shared/PROTOCOL.md`), both directions.
//!
//! Each message is a JSON object with a `type` field, sent as one WebSocket text frame.
//! These types are used by the SDK and by the reference server alike, so the two cannot
//! disagree on a name. Parsing never panics: a frame is a known message, an
//! [`Incoming::Unknown`] type (ignored by receivers) or a [`ParseError`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// `RTCIceCandidateInit` as the browser serialises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidateInit {
    /// The `candidate:` SDP attribute line (empty string = end of candidates in some stacks).
    #[serde(default)]
    pub candidate: String,
    /// Media stream identification tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// Index of the m-line.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "sdpMLineIndex"
    )]
    pub sdp_m_line_index: Option<u16>,
    /// ICE ufrag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// Messages the client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// SDP offer.
    Offer {
        /// Session description.
        sdp: String,
    },
    /// SDP answer to a server offer.
    Answer {
        /// Session description.
        sdp: String,
    },
    /// A trickled ICE candidate; `None` (JSON `null`) marks the end of candidates.
    #[serde(rename = "ice-candidate")]
    IceCandidate {
        /// The candidate or `null`.
        candidate: Option<IceCandidateInit>,
    },
    /// Sets the text prompt.
    Prompt {
        /// Prompt text.
        prompt: String,
        /// Let the server enhance the prompt.
        enhance_prompt: bool,
    },
    /// Sets (or clears, with `null`) the reference image, optionally with a prompt.
    SetImage {
        /// Base64 image bytes, `None` = passthrough / no image.
        image_data: Option<String>,
        /// Absent: prompt unchanged. `Some(None)` is sent as `null` (passthrough).
        /// On receipt, an explicit `null` and an absent field both read as `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<Option<String>>,
        /// Prompt enhancement flag, when a prompt is given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enhance_prompt: Option<bool>,
    },
    /// A WebSocket latency probe (the server stamps its next output frame with `seq`).
    LatencyProbe {
        /// Probe sequence number.
        seq: u16,
        /// `performance.now()` at sending, ms.
        client_time: f64,
    },
    /// End-to-end latency figures since the previous report.
    E2eLatencyReport {
        /// Mean latency, `null` when no probe came back.
        avg_latency_ms: Option<f64>,
        /// Received / (received + lost).
        delivery_rate: f64,
        /// Probes lost.
        lost: u32,
        /// Markers read with a bad checksum.
        corrupted: u32,
        /// Probes that came back out of order.
        out_of_order: u32,
    },
    /// IVS only: the client has joined the stage.
    IvsJoined,
}

impl ClientMessage {
    /// The `type` values of this direction.
    pub const TYPES: &'static [&'static str] = &[
        "offer",
        "answer",
        "ice-candidate",
        "prompt",
        "set_image",
        "latency_probe",
        "e2e_latency_report",
        "ivs_joined",
    ];
}

/// Per-second server metrics (`metrics_report`); every field may be `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsReport {
    /// Time to receive a frame, ms.
    pub frame_recv_ms: Option<f64>,
    /// Inference pipeline latency, ms.
    pub pipeline_latency_ms: Option<f64>,
    /// Frames per second received from the client.
    pub input_fps: Option<f64>,
    /// Frames per second sent to the client.
    pub output_fps: Option<f64>,
    /// Input queue depth.
    pub video_in_depth: Option<f64>,
    /// Output queue depth.
    pub video_out_depth: Option<f64>,
    /// Input frames skipped.
    pub skipped_in_frames: Option<f64>,
    /// Output frames skipped.
    pub skipped_out_frames: Option<f64>,
    /// Server event-loop latency, ms.
    pub event_loop_latency_ms: Option<f64>,
    /// Server-measured round-trip time to the client, ms.
    pub rtt_ms: Option<f64>,
    /// Server-measured jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Inbound packet loss rate, 0..1.
    pub inbound_loss_rate: Option<f64>,
    /// Received bitrate, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Encoder target bitrate, kbit/s.
    pub encoder_target_bitrate_kbps: Option<f64>,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The server is ready: the client creates and sends an offer.
    Ready,
    /// SDP offer from the server.
    Offer {
        /// Session description.
        sdp: String,
    },
    /// SDP answer.
    Answer {
        /// Session description.
        sdp: String,
    },
    /// A trickled ICE candidate (`None` = end of candidates).
    #[serde(rename = "ice-candidate")]
    IceCandidate {
        /// The candidate or `null`.
        candidate: Option<IceCandidateInit>,
    },
    /// Answer to a `prompt`.
    PromptAck {
        /// The prompt text acknowledged (matches a pending prompt).
        prompt: String,
        /// Accepted or not.
        success: bool,
        /// Why not.
        #[serde(default)]
        error: Option<String>,
    },
    /// Answer to a `set_image`.
    SetImageAck {
        /// Accepted or not.
        success: bool,
        /// Why not.
        #[serde(default)]
        error: Option<String>,
    },
    /// A server-side error.
    Error {
        /// What went wrong.
        error: String,
    },
    /// Inference has started producing output.
    GenerationStarted,
    /// Seconds of generation so far.
    GenerationTick {
        /// Seconds.
        seconds: f64,
    },
    /// Generation ended.
    GenerationEnded {
        /// Seconds generated.
        seconds: f64,
        /// Why it ended.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The session's identity, used for viewers.
    SessionId {
        /// Session id.
        session_id: String,
        /// Address of the inference server.
        server_ip: String,
        /// Port of the inference server (a number; a numeric string is accepted).
        #[serde(deserialize_with = "port_from_number_or_string")]
        server_port: u16,
    },
    /// Per-second server metrics.
    MetricsReport(MetricsReport),
    /// IVS only: the stage to join.
    IvsStageReady {
        /// Stage ARN.
        stage_arn: String,
        /// Participant token for the client.
        client_token: String,
        /// The participant id the client will publish as, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_publish_participant_id: Option<String>,
    },
    /// TURN relay credentials for this session, sent during setup (before the answer) when
    /// the server has a TURN server; the client adds it to its ICE servers.
    TurnConfig {
        /// TURN URLs (`turn:host:port?transport=udp`, `turn:host:port?transport=tcp`, ...).
        urls: Vec<String>,
        /// TURN username.
        username: String,
        /// TURN credential.
        credential: String,
    },
}

impl ServerMessage {
    /// The `type` values of this direction.
    pub const TYPES: &'static [&'static str] = &[
        "ready",
        "offer",
        "answer",
        "ice-candidate",
        "prompt_ack",
        "set_image_ack",
        "error",
        "generation_started",
        "generation_tick",
        "generation_ended",
        "session_id",
        "metrics_report",
        "ivs_stage_ready",
        "turn_config",
    ];
}

/// The answer of `GET /v1/subscribe-ivs/{sid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvsViewerToken {
    /// Stage token for a subscribe-only participant.
    pub subscribe_token: String,
    /// The server's publishing participant, the only one a viewer subscribes to.
    pub server_publish_participant_id: String,
}

fn port_from_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        N(u16),
        S(String),
    }
    match Port::deserialize(d)? {
        Port::N(n) => Ok(n),
        Port::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// A parsed incoming frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming<T> {
    /// A message of a known type.
    Message(T),
    /// A well-formed object whose `type` this side does not know: ignore it.
    Unknown(String),
}

/// Why a frame could not be parsed. Receivers log it and go on.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// The `type` field, when there was one.
    pub message_type: Option<String>,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message_type {
            Some(t) => write!(f, "malformed `{t}` message: {}", self.reason),
            None => write!(f, "malformed message: {}", self.reason),
        }
    }
}

impl std::error::Error for ParseError {}

fn parse_with<T: DeserializeOwned>(text: &str, known: &[&str]) -> Result<Incoming<T>, ParseError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
        message_type: None,
        reason: format!("not JSON: {e}"),
    })?;
    let Some(ty) = value.get("type").and_then(|t| t.as_str()) else {
        return Err(ParseError {
            message_type: None,
            reason: "no string `type` field".into(),
        });
    };
    if !known.contains(&ty) {
        return Ok(Incoming::Unknown(ty.to_string()));
    }
    let ty = ty.to_string();
    serde_json::from_value(value)
        .map(Incoming::Message)
        .map_err(|e| ParseError {
            message_type: Some(ty),
            reason: e.to_string(),
        })
}

/// Parses a frame received by the client.
pub fn parse_server_message(text: &str) -> Result<Incoming<ServerMessage>, ParseError> {
    parse_with(text, ServerMessage::TYPES)
}

/// Parses a frame received by the server.
pub fn parse_client_message(text: &str) -> Result<Incoming<ClientMessage>, ParseError> {
    parse_with(text, ClientMessage::TYPES)
}

/// Serialises a message to its JSON text frame.
pub fn to_text<T: Serialize>(message: &T) -> String {
    // Serialising these plain data enums cannot fail: no maps with non-string keys, no
    // user-implemented Serialize. Fall back to an empty object rather than panic.
    serde_json::to_string(message).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip_client(m: ClientMessage) {
        let text = to_text(&m);
        assert_eq!(
            parse_client_message(&text),
            Ok(Incoming::Message(m)),
            "{text}"
        );
    }

    #[test]
    fn client_messages_have_the_protocol_names() {
        let v: serde_json::Value =
            serde_json::from_str(&to_text(&ClientMessage::IceCandidate { candidate: None }))
                .unwrap();
        assert_eq!(v, json!({"type": "ice-candidate", "candidate": null}));
        let v: serde_json::Value = serde_json::from_str(&to_text(&ClientMessage::Prompt {
            prompt: "a cat".into(),
            enhance_prompt: true,
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "prompt", "prompt": "a cat", "enhance_prompt": true})
        );
        let v: serde_json::Value =
            serde_json::from_str(&to_text(&ClientMessage::IvsJoined)).unwrap();
        assert_eq!(v, json!({"type": "ivs_joined"}));
        let v: serde_json::Value =
            serde_json::from_str(&to_text(&ClientMessage::E2eLatencyReport {
                avg_latency_ms: None,
                delivery_rate: 0.5,
                lost: 1,
                corrupted: 2,
                out_of_order: 3,
            }))
            .unwrap();
        assert_eq!(
            v,
            json!({"type": "e2e_latency_report", "avg_latency_ms": null, "delivery_rate": 0.5, "lost": 1, "corrupted": 2, "out_of_order": 3})
        );
    }

    #[test]
    fn passthrough_set_image_sends_explicit_nulls() {
        let m = ClientMessage::SetImage {
            image_data: None,
            prompt: Some(None),
            enhance_prompt: None,
        };
        let v: serde_json::Value = serde_json::from_str(&to_text(&m)).unwrap();
        assert_eq!(
            v,
            json!({"type": "set_image", "image_data": null, "prompt": null})
        );
        let m = ClientMessage::SetImage {
            image_data: Some("AAAA".into()),
            prompt: None,
            enhance_prompt: None,
        };
        let v: serde_json::Value = serde_json::from_str(&to_text(&m)).unwrap();
        assert_eq!(v, json!({"type": "set_image", "image_data": "AAAA"}));
    }

    #[test]
    fn client_roundtrips() {
        roundtrip_client(ClientMessage::Offer {
            sdp: "v=0\r\n".into(),
        });
        roundtrip_client(ClientMessage::IceCandidate {
            candidate: Some(IceCandidateInit {
                candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            }),
        });
        roundtrip_client(ClientMessage::SetImage {
            image_data: Some("QUJD".into()),
            prompt: Some(Some("p".into())),
            enhance_prompt: Some(false),
        });
        roundtrip_client(ClientMessage::LatencyProbe {
            seq: 65535,
            client_time: 12.5,
        });
    }

    #[test]
    fn ice_candidate_uses_browser_field_names() {
        let text = r#"{"type":"ice-candidate","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":1,"usernameFragment":"u"}}"#;
        let Ok(Incoming::Message(ServerMessage::IceCandidate { candidate: Some(c) })) =
            parse_server_message(text)
        else {
            panic!("not parsed");
        };
        assert_eq!(c.sdp_m_line_index, Some(1));
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
    }

    #[test]
    fn server_messages_parse() {
        let cases = [
            (r#"{"type":"ready"}"#, ServerMessage::Ready),
            (
                r#"{"type":"generation_started"}"#,
                ServerMessage::GenerationStarted,
            ),
            (
                r#"{"type":"generation_tick","seconds":3}"#,
                ServerMessage::GenerationTick { seconds: 3.0 },
            ),
            (
                r#"{"type":"prompt_ack","prompt":"x","success":false,"error":"too long"}"#,
                ServerMessage::PromptAck {
                    prompt: "x".into(),
                    success: false,
                    error: Some("too long".into()),
                },
            ),
            (
                r#"{"type":"set_image_ack","success":true}"#,
                ServerMessage::SetImageAck {
                    success: true,
                    error: None,
                },
            ),
            (
                r#"{"type":"session_id","session_id":"s1","server_ip":"127.0.0.1","server_port":"8443"}"#,
                ServerMessage::SessionId {
                    session_id: "s1".into(),
                    server_ip: "127.0.0.1".into(),
                    server_port: 8443,
                },
            ),
            (
                r#"{"type":"ivs_stage_ready","stage_arn":"arn","client_token":"tok"}"#,
                ServerMessage::IvsStageReady {
                    stage_arn: "arn".into(),
                    client_token: "tok".into(),
                    client_publish_participant_id: None,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_server_message(text),
                Ok(Incoming::Message(want)),
                "{text}"
            );
        }
    }

    #[test]
    fn metrics_report_tolerates_nulls_and_missing_fields() {
        let text = r#"{"type":"metrics_report","input_fps":25.0,"rtt_ms":null}"#;
        let Ok(Incoming::Message(ServerMessage::MetricsReport(m))) = parse_server_message(text)
        else {
            panic!("not parsed")
        };
        assert_eq!(m.input_fps, Some(25.0));
        assert_eq!(m.rtt_ms, None);
        assert_eq!(m.pipeline_latency_ms, None);
        let back: serde_json::Value =
            serde_json::from_str(&to_text(&ServerMessage::MetricsReport(m))).unwrap();
        assert_eq!(back["type"], "metrics_report");
        assert_eq!(back["input_fps"], 25.0);
    }

    #[test]
    fn unknown_types_and_malformed_frames_are_values_not_panics() {
        assert_eq!(
            parse_server_message(r#"{"type":"shiny_new","x":1}"#),
            Ok(Incoming::Unknown("shiny_new".into()))
        );
        let e = parse_server_message("{not json").unwrap_err();
        assert_eq!(e.message_type, None);
        let e = parse_server_message(r#"{"no_type":1}"#).unwrap_err();
        assert!(e.reason.contains("type"));
        let e = parse_server_message(r#"{"type":"prompt_ack","success":"yes"}"#).unwrap_err();
        assert_eq!(e.message_type.as_deref(), Some("prompt_ack"));
        assert!(e.to_string().contains("prompt_ack"));
        assert!(parse_server_message(r#"[1,2]"#).is_err());
        assert!(parse_server_message(
            r#"{"type":"session_id","session_id":"s","server_ip":"i","server_port":"x"}"#
        )
        .is_err());
    }

    #[test]
    fn every_type_constant_is_a_real_variant_name() {
        // A minimal instance of each known type must parse as that type, not as Unknown.
        for t in ServerMessage::TYPES {
            let r = parse_server_message(&format!(r#"{{"type":"{t}"}}"#));
            assert!(!matches!(r, Ok(Incoming::Unknown(_))), "{t}");
        }
        for t in ClientMessage::TYPES {
            let r = parse_client_message(&format!(r#"{{"type":"{t}"}}"#));
            assert!(!matches!(r, Ok(Incoming::Unknown(_))), "{t}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_arbitrary_strings_never_panics(s in ".*") {
                let _ = parse_server_message(&s);
                let _ = parse_client_message(&s);
            }

            #[test]
            fn parsing_arbitrary_typed_objects_never_panics(
                t in prop::sample::select(ServerMessage::TYPES.iter().chain(ClientMessage::TYPES).copied().collect::<Vec<_>>()),
                body in ".*"
            ) {
                let _ = parse_server_message(&format!(r#"{{"type":"{t}",{body}}}"#));
                let _ = parse_client_message(&format!(r#"{{"type":"{t}",{body}}}"#));
            }
        }
    }
}
