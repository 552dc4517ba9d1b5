//! The wire messages of the realtime protocol (`shared/PROTOCOL.md`), both directions.
//!
//! Each message is a JSON object with a `type` field, sent as one WebSocket text frame.
//! These types are used by the SDK and by the reference server alike, so the two cannot
//! disagree on a name. Decoding never panics: a frame is a known message, an
//! [`Incoming::Unknown`] type (ignored by receivers) or a [`ParseError`]. Messages convert
//! to and from [`Json`]; the browser turns that into JS objects with its own JSON, the server
//! and the tests use [`to_text`] and the `parse_*` functions.

use crate::core::json::{self, Json, Obj};
use std::fmt;

/// `RTCIceCandidateInit` as the browser serialises it.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct IceCandidateInit {
    /// The `candidate:` SDP attribute line (empty string = end of candidates in some stacks).
    #[cfg_attr(feature = "serde", serde(default))]
    pub candidate: String,
    /// Media stream identification tag.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub sdp_mid: Option<String>,
    /// Index of the m-line.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            skip_serializing_if = "Option::is_none",
            rename = "sdpMLineIndex"
        )
    )]
    pub sdp_m_line_index: Option<u16>,
    /// ICE ufrag.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub username_fragment: Option<String>,
}

/// Messages the client sends.
#[derive(Debug, Clone, PartialEq)]
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
        prompt: Option<Option<String>>,
        /// Prompt enhancement flag, when a prompt is given.
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

/// Per-second server metrics (`metrics_report`); every field may be `null`.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// The object as received (`type` included, unknown members kept); `Null` when built
    /// locally. The `serverMetrics` event hands this to the page untouched.
    pub received: Json,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq)]
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
        error: Option<String>,
    },
    /// Answer to a `set_image`.
    SetImageAck {
        /// Accepted or not.
        success: bool,
        /// Why not.
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
        reason: Option<String>,
    },
    /// The session's identity, used for viewers.
    SessionId {
        /// Session id.
        session_id: String,
        /// Address of the inference server.
        server_ip: String,
        /// Port of the inference server (a number; a numeric string is accepted).
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

/// The answer of `GET /v1/subscribe-ivs/{sid}`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IvsViewerToken {
    /// Stage token for a subscribe-only participant.
    pub subscribe_token: String,
    /// The server's publishing participant, the only one a viewer subscribes to.
    pub server_publish_participant_id: String,
}

impl IvsViewerToken {
    /// Reads the answer body.
    pub fn from_json(v: &Json) -> Result<Self, ParseError> {
        let f = Fields { v, ty: None };
        Ok(IvsViewerToken {
            subscribe_token: f.string("subscribe_token")?,
            server_publish_participant_id: f.string("server_publish_participant_id")?,
        })
    }

    /// The answer body.
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("subscribe_token", self.subscribe_token.as_str())
            .set(
                "server_publish_participant_id",
                self.server_publish_participant_id.as_str(),
            )
            .build()
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

/// Typed reads of a message's members, with errors naming the member.
struct Fields<'a> {
    v: &'a Json,
    ty: Option<&'a str>,
}

impl Fields<'_> {
    fn err(&self, key: &str, expected: &str) -> ParseError {
        let mut reason = String::from("`");
        reason.push_str(key);
        reason.push_str("` must be ");
        reason.push_str(expected);
        ParseError {
            message_type: self.ty.map(str::to_string),
            reason,
        }
    }

    fn string(&self, key: &str) -> Result<String, ParseError> {
        self.v
            .str(key)
            .map(str::to_string)
            .ok_or_else(|| self.err(key, "a string"))
    }

    /// Absent or `null` → `None`.
    fn opt_string(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.v.field(key) {
            None => Ok(None),
            Some(Json::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(key, "a string or null")),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, ParseError> {
        self.v
            .bool(key)
            .ok_or_else(|| self.err(key, "true or false"))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, ParseError> {
        match self.v.field(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, "true, false or null")),
        }
    }

    fn number(&self, key: &str) -> Result<f64, ParseError> {
        self.v.num(key).ok_or_else(|| self.err(key, "a number"))
    }

    fn opt_number(&self, key: &str) -> Result<Option<f64>, ParseError> {
        match self.v.field(key) {
            None => Ok(None),
            Some(Json::Num(n)) if n.is_finite() => Ok(Some(*n)),
            Some(_) => Err(self.err(key, "a number or null")),
        }
    }

    /// A whole number from 0 to `max` (a numeric string too, when `lenient`).
    fn whole(&self, key: &str, max: f64, lenient: bool) -> Result<f64, ParseError> {
        let n = match self.v.get(key) {
            Some(Json::Num(n)) => Some(*n),
            Some(Json::Str(s)) if lenient => s.trim().parse::<u32>().ok().map(f64::from),
            _ => None,
        };
        n.filter(|n| n.fract() == 0.0 && (0.0..=max).contains(n))
            .ok_or_else(|| self.err(key, "a whole number in range"))
    }

    fn u16(&self, key: &str) -> Result<u16, ParseError> {
        Ok(self.whole(key, 65535.0, false)? as u16)
    }

    fn u32(&self, key: &str) -> Result<u32, ParseError> {
        Ok(self.whole(key, 4_294_967_295.0, false)? as u32)
    }

    fn candidate(&self) -> Result<Option<IceCandidateInit>, ParseError> {
        match self.v.field("candidate") {
            None => Ok(None),
            Some(c @ Json::Obj(_)) => IceCandidateInit::from_json(c)
                .map(Some)
                .map_err(|e| self.err("candidate", &e.reason)),
            Some(_) => Err(self.err("candidate", "an RTCIceCandidateInit or null")),
        }
    }
}

impl IceCandidateInit {
    /// Reads an `RTCIceCandidateInit` object.
    pub fn from_json(v: &Json) -> Result<Self, ParseError> {
        let f = Fields { v, ty: None };
        let sdp_m_line_index = match v.field("sdpMLineIndex") {
            None => None,
            Some(_) => Some(f.u16("sdpMLineIndex")?),
        };
        Ok(IceCandidateInit {
            candidate: f.opt_string("candidate")?.unwrap_or_default(),
            sdp_mid: f.opt_string("sdpMid")?,
            sdp_m_line_index,
            username_fragment: f.opt_string("usernameFragment")?,
        })
    }

    /// The `RTCIceCandidateInit` object.
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("candidate", self.candidate.as_str())
            .opt("sdpMid", self.sdp_mid.as_deref())
            .opt("sdpMLineIndex", self.sdp_m_line_index)
            .opt("usernameFragment", self.username_fragment.as_deref())
            .build()
    }
}

/// A message type of either direction: knows its JSON form.
pub trait Message: Sized {
    /// The `type` values of this direction.
    const TYPES: &'static [&'static str];
    /// The JSON object sent on the wire.
    fn to_json(&self) -> Json;
    /// Decodes an object whose `type` is one of [`Message::TYPES`].
    fn decode(ty: &str, f: &Json) -> Result<Self, ParseError>;
}

fn typed(ty: &str) -> Obj {
    Obj::new().set("type", ty)
}

impl Message for ClientMessage {
    const TYPES: &'static [&'static str] = &[
        "offer",
        "answer",
        "ice-candidate",
        "prompt",
        "set_image",
        "latency_probe",
        "e2e_latency_report",
        "ivs_joined",
    ];

    fn to_json(&self) -> Json {
        match self {
            ClientMessage::Offer { sdp } => typed("offer").set("sdp", sdp.as_str()),
            ClientMessage::Answer { sdp } => typed("answer").set("sdp", sdp.as_str()),
            ClientMessage::IceCandidate { candidate } => typed("ice-candidate").set(
                "candidate",
                candidate
                    .as_ref()
                    .map_or(Json::Null, IceCandidateInit::to_json),
            ),
            ClientMessage::Prompt {
                prompt,
                enhance_prompt,
            } => typed("prompt")
                .set("prompt", prompt.as_str())
                .set("enhance_prompt", *enhance_prompt),
            ClientMessage::SetImage {
                image_data,
                prompt,
                enhance_prompt,
            } => typed("set_image")
                .set("image_data", image_data.as_deref())
                .opt("prompt", prompt.as_ref().map(Option::as_deref))
                .opt("enhance_prompt", *enhance_prompt),
            ClientMessage::LatencyProbe { seq, client_time } => typed("latency_probe")
                .set("seq", *seq)
                .set("client_time", *client_time),
            ClientMessage::E2eLatencyReport {
                avg_latency_ms,
                delivery_rate,
                lost,
                corrupted,
                out_of_order,
            } => typed("e2e_latency_report")
                .set("avg_latency_ms", *avg_latency_ms)
                .set("delivery_rate", *delivery_rate)
                .set("lost", *lost)
                .set("corrupted", *corrupted)
                .set("out_of_order", *out_of_order),
            ClientMessage::IvsJoined => typed("ivs_joined"),
        }
        .build()
    }

    fn decode(ty: &str, v: &Json) -> Result<Self, ParseError> {
        let f = Fields { v, ty: Some(ty) };
        Ok(match ty {
            "offer" => ClientMessage::Offer {
                sdp: f.string("sdp")?,
            },
            "answer" => ClientMessage::Answer {
                sdp: f.string("sdp")?,
            },
            "ice-candidate" => ClientMessage::IceCandidate {
                candidate: f.candidate()?,
            },
            "prompt" => ClientMessage::Prompt {
                prompt: f.string("prompt")?,
                enhance_prompt: f.boolean("enhance_prompt")?,
            },
            "set_image" => ClientMessage::SetImage {
                image_data: f.opt_string("image_data")?,
                // An explicit `null` and an absent member both read as `None`.
                prompt: f.opt_string("prompt")?.map(Some),
                enhance_prompt: f.opt_bool("enhance_prompt")?,
            },
            "latency_probe" => ClientMessage::LatencyProbe {
                seq: f.u16("seq")?,
                client_time: f.number("client_time")?,
            },
            "e2e_latency_report" => ClientMessage::E2eLatencyReport {
                avg_latency_ms: f.opt_number("avg_latency_ms")?,
                delivery_rate: f.number("delivery_rate")?,
                lost: f.u32("lost")?,
                corrupted: f.u32("corrupted")?,
                out_of_order: f.u32("out_of_order")?,
            },
            _ => ClientMessage::IvsJoined,
        })
    }
}

/// The metric names of `metrics_report`, in wire order.
const METRICS: [&str; 14] = [
    "frame_recv_ms",
    "pipeline_latency_ms",
    "input_fps",
    "output_fps",
    "video_in_depth",
    "video_out_depth",
    "skipped_in_frames",
    "skipped_out_frames",
    "event_loop_latency_ms",
    "rtt_ms",
    "jitter_ms",
    "inbound_loss_rate",
    "bitrate_kbps",
    "encoder_target_bitrate_kbps",
];

impl MetricsReport {
    fn slots(&self) -> [Option<f64>; 14] {
        [
            self.frame_recv_ms,
            self.pipeline_latency_ms,
            self.input_fps,
            self.output_fps,
            self.video_in_depth,
            self.video_out_depth,
            self.skipped_in_frames,
            self.skipped_out_frames,
            self.event_loop_latency_ms,
            self.rtt_ms,
            self.jitter_ms,
            self.inbound_loss_rate,
            self.bitrate_kbps,
            self.encoder_target_bitrate_kbps,
        ]
    }

    /// Reads the metrics of a received object; a member that is not a number reads as `None`.
    pub fn from_json(v: &Json) -> Self {
        let n = |k: &str| v.num(k);
        MetricsReport {
            frame_recv_ms: n(METRICS[0]),
            pipeline_latency_ms: n(METRICS[1]),
            input_fps: n(METRICS[2]),
            output_fps: n(METRICS[3]),
            video_in_depth: n(METRICS[4]),
            video_out_depth: n(METRICS[5]),
            skipped_in_frames: n(METRICS[6]),
            skipped_out_frames: n(METRICS[7]),
            event_loop_latency_ms: n(METRICS[8]),
            rtt_ms: n(METRICS[9]),
            jitter_ms: n(METRICS[10]),
            inbound_loss_rate: n(METRICS[11]),
            bitrate_kbps: n(METRICS[12]),
            encoder_target_bitrate_kbps: n(METRICS[13]),
            received: v.clone(),
        }
    }
}

impl Message for ServerMessage {
    const TYPES: &'static [&'static str] = &[
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

    fn to_json(&self) -> Json {
        match self {
            ServerMessage::Ready => typed("ready"),
            ServerMessage::Offer { sdp } => typed("offer").set("sdp", sdp.as_str()),
            ServerMessage::Answer { sdp } => typed("answer").set("sdp", sdp.as_str()),
            ServerMessage::IceCandidate { candidate } => typed("ice-candidate").set(
                "candidate",
                candidate
                    .as_ref()
                    .map_or(Json::Null, IceCandidateInit::to_json),
            ),
            ServerMessage::PromptAck {
                prompt,
                success,
                error,
            } => typed("prompt_ack")
                .set("prompt", prompt.as_str())
                .set("success", *success)
                .set("error", error.as_deref()),
            ServerMessage::SetImageAck { success, error } => typed("set_image_ack")
                .set("success", *success)
                .set("error", error.as_deref()),
            ServerMessage::Error { error } => typed("error").set("error", error.as_str()),
            ServerMessage::GenerationStarted => typed("generation_started"),
            ServerMessage::GenerationTick { seconds } => {
                typed("generation_tick").set("seconds", *seconds)
            }
            ServerMessage::GenerationEnded { seconds, reason } => typed("generation_ended")
                .set("seconds", *seconds)
                .set("reason", reason.as_deref()),
            ServerMessage::SessionId {
                session_id,
                server_ip,
                server_port,
            } => typed("session_id")
                .set("session_id", session_id.as_str())
                .set("server_ip", server_ip.as_str())
                .set("server_port", *server_port),
            ServerMessage::MetricsReport(m) => METRICS
                .iter()
                .zip(m.slots())
                .fold(typed("metrics_report"), |o, (k, v)| o.set(k, v)),
            ServerMessage::IvsStageReady {
                stage_arn,
                client_token,
                client_publish_participant_id,
            } => typed("ivs_stage_ready")
                .set("stage_arn", stage_arn.as_str())
                .set("client_token", client_token.as_str())
                .opt(
                    "client_publish_participant_id",
                    client_publish_participant_id.as_deref(),
                ),
            ServerMessage::TurnConfig {
                urls,
                username,
                credential,
            } => typed("turn_config")
                .set(
                    "urls",
                    urls.iter()
                        .map(|u| Json::from(u.as_str()))
                        .collect::<Vec<_>>(),
                )
                .set("username", username.as_str())
                .set("credential", credential.as_str()),
        }
        .build()
    }

    fn decode(ty: &str, v: &Json) -> Result<Self, ParseError> {
        let f = Fields { v, ty: Some(ty) };
        Ok(match ty {
            "ready" => ServerMessage::Ready,
            "offer" => ServerMessage::Offer {
                sdp: f.string("sdp")?,
            },
            "answer" => ServerMessage::Answer {
                sdp: f.string("sdp")?,
            },
            "ice-candidate" => ServerMessage::IceCandidate {
                candidate: f.candidate()?,
            },
            "prompt_ack" => ServerMessage::PromptAck {
                prompt: f.string("prompt")?,
                success: f.boolean("success")?,
                error: f.opt_string("error")?,
            },
            "set_image_ack" => ServerMessage::SetImageAck {
                success: f.boolean("success")?,
                error: f.opt_string("error")?,
            },
            "error" => ServerMessage::Error {
                error: f.string("error")?,
            },
            "generation_started" => ServerMessage::GenerationStarted,
            "generation_tick" => ServerMessage::GenerationTick {
                seconds: f.number("seconds")?,
            },
            "generation_ended" => ServerMessage::GenerationEnded {
                seconds: f.number("seconds")?,
                reason: f.opt_string("reason")?,
            },
            "session_id" => ServerMessage::SessionId {
                session_id: f.string("session_id")?,
                server_ip: f.string("server_ip")?,
                server_port: f.whole("server_port", 65535.0, true)? as u16,
            },
            "metrics_report" => ServerMessage::MetricsReport(MetricsReport::from_json(v)),
            "ivs_stage_ready" => ServerMessage::IvsStageReady {
                stage_arn: f.string("stage_arn")?,
                client_token: f.string("client_token")?,
                client_publish_participant_id: f.opt_string("client_publish_participant_id")?,
            },
            _ => ServerMessage::TurnConfig {
                urls: match v.get("urls") {
                    Some(Json::Arr(items)) => items
                        .iter()
                        .map(|u| u.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| f.err("urls", "an array of strings"))?,
                    Some(Json::Str(u)) => vec![u.clone()],
                    _ => return Err(f.err("urls", "an array of strings")),
                },
                username: f.string("username")?,
                credential: f.string("credential")?,
            },
        })
    }
}

/// Decodes a message of direction `T` from a parsed frame.
pub fn from_json<T: Message>(v: &Json) -> Result<Incoming<T>, ParseError> {
    let Some(ty) = v.str("type") else {
        return Err(ParseError {
            message_type: None,
            reason: "no string `type` field".into(),
        });
    };
    if !T::TYPES.contains(&ty) {
        return Ok(Incoming::Unknown(ty.to_string()));
    }
    T::decode(ty, v).map(Incoming::Message)
}

fn parse_text<T: Message>(text: &str) -> Result<Incoming<T>, ParseError> {
    let v = json::parse(text).map_err(|e| ParseError {
        message_type: None,
        reason: format!("not JSON: {e}"),
    })?;
    from_json(&v)
}

/// Parses a frame received by the client.
pub fn parse_server_message(text: &str) -> Result<Incoming<ServerMessage>, ParseError> {
    parse_text(text)
}

/// Parses a frame received by the server.
pub fn parse_client_message(text: &str) -> Result<Incoming<ClientMessage>, ParseError> {
    parse_text(text)
}

/// Serialises a message to its JSON text frame.
pub fn to_text(message: &impl Message) -> String {
    json::write(&message.to_json())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

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
        let cases = [
            (
                ClientMessage::IceCandidate { candidate: None },
                r#"{"type":"ice-candidate","candidate":null}"#,
            ),
            (
                ClientMessage::Prompt {
                    prompt: "a cat".into(),
                    enhance_prompt: true,
                },
                r#"{"type":"prompt","prompt":"a cat","enhance_prompt":true}"#,
            ),
            (ClientMessage::IvsJoined, r#"{"type":"ivs_joined"}"#),
            (
                ClientMessage::E2eLatencyReport {
                    avg_latency_ms: None,
                    delivery_rate: 0.5,
                    lost: 1,
                    corrupted: 2,
                    out_of_order: 3,
                },
                r#"{"type":"e2e_latency_report","avg_latency_ms":null,"delivery_rate":0.5,"lost":1,"corrupted":2,"out_of_order":3}"#,
            ),
        ];
        for (m, text) in cases {
            assert_eq!(to_text(&m), text);
        }
    }

    #[test]
    fn passthrough_set_image_sends_explicit_nulls() {
        let m = ClientMessage::SetImage {
            image_data: None,
            prompt: Some(None),
            enhance_prompt: None,
        };
        assert_eq!(
            to_text(&m),
            r#"{"type":"set_image","image_data":null,"prompt":null}"#
        );
        let m = ClientMessage::SetImage {
            image_data: Some("AAAA".into()),
            prompt: None,
            enhance_prompt: Some(true),
        };
        assert_eq!(
            to_text(&m),
            r#"{"type":"set_image","image_data":"AAAA","enhance_prompt":true}"#
        );
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
        assert_eq!(
            to_text(&ServerMessage::IceCandidate { candidate: Some(c) }),
            text
        );
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
            (
                r#"{"type":"turn_config","urls":["turn:127.0.0.1:3478?transport=udp"],"username":"u","credential":"c"}"#,
                ServerMessage::TurnConfig {
                    urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
                    username: "u".into(),
                    credential: "c".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_server_message(text),
                Ok(Incoming::Message(want.clone())),
                "{text}"
            );
            // What the server writes reads back the same.
            assert_eq!(
                parse_server_message(&to_text(&want)),
                Ok(Incoming::Message(want)),
                "{text}"
            );
        }
    }

    #[test]
    fn metrics_report_keeps_what_was_received() {
        let text = r#"{"type":"metrics_report","input_fps":25.0,"rtt_ms":null,"new_metric":7}"#;
        let Ok(Incoming::Message(ServerMessage::MetricsReport(m))) = parse_server_message(text)
        else {
            panic!("not parsed")
        };
        assert_eq!(m.input_fps, Some(25.0));
        assert_eq!(m.rtt_ms, None);
        assert_eq!(m.pipeline_latency_ms, None);
        assert_eq!(
            json::write(&m.received),
            r#"{"type":"metrics_report","input_fps":25,"rtt_ms":null,"new_metric":7}"#
        );
        let sent = MetricsReport {
            input_fps: Some(25.0),
            ..MetricsReport::default()
        };
        let back = json::parse(&to_text(&ServerMessage::MetricsReport(sent))).unwrap();
        assert_eq!(back.str("type"), Some("metrics_report"));
        assert_eq!(back.num("input_fps"), Some(25.0));
        assert_eq!(back.get("rtt_ms"), Some(&Json::Null));
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
        for bad in [
            r#"{"type":"session_id","session_id":"s","server_ip":"i","server_port":"x"}"#,
            r#"{"type":"session_id","session_id":"s","server_ip":"i","server_port":70000}"#,
            r#"{"type":"ice-candidate","candidate":{"sdpMLineIndex":1.5}}"#,
            r#"{"type":"turn_config","urls":[1],"username":"u","credential":"c"}"#,
        ] {
            assert!(parse_server_message(bad).is_err(), "{bad}");
        }
        assert!(
            parse_client_message(r#"{"type":"latency_probe","seq":65536,"client_time":1}"#)
                .is_err()
        );
    }

    #[test]
    fn every_type_constant_is_a_real_variant_name() {
        // A minimal instance of each known type must parse as that type, not as Unknown.
        for t in ServerMessage::TYPES {
            let r = parse_server_message(&format!(r#"{{"type":"{t}"}}"#));
            assert!(!matches!(r, Ok(Incoming::Unknown(_))), "{t}");
            if let Ok(Incoming::Message(m)) = r {
                assert_eq!(m.to_json().str("type"), Some(*t));
            }
        }
        for t in ClientMessage::TYPES {
            let r = parse_client_message(&format!(r#"{{"type":"{t}"}}"#));
            assert!(!matches!(r, Ok(Incoming::Unknown(_))), "{t}");
            if let Ok(Incoming::Message(m)) = r {
                assert_eq!(m.to_json().str("type"), Some(*t));
            }
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
