//! Wire protocol, both directions, from structured messages (`core::protocol`).
//!
//! Invariant: `parse(to_text(m)) == m` for every message of either direction, built only
//! from the enums' public shapes, read by the core and by serde_json (the independent
//! reference, its reading decoded with `from_json`). JSON has no NaN or infinity, so
//! numbers are finite. The documented asymmetries are normalised: `set_image` with
//! `prompt: Some(None)` is sent as `"prompt": null`, which reads back as `None`; a
//! `metrics_report` read back keeps the object it was read from (checked to be the frame).
//! Numbers are compared within `FLOAT_ULPS` (see `src/lib.rs`).
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::json::{self, Json};
use realtime_video_sdk::core::protocol::{
    from_json, parse_client_message, parse_server_message, to_text, ClientMessage,
    IceCandidateInit, Incoming, Message, MetricsReport, ParseError, ServerMessage,
};
use realtime_video_sdk_fuzz::{assert_same, canonical, client_floats, from_serde, server_floats};

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    String::arbitrary(u)
}

fn number(u: &mut Unstructured<'_>) -> Result<f64> {
    let x = f64::arbitrary(u)?;
    Ok(if x.is_finite() { x } else { 0.0 })
}

fn opt_number(u: &mut Unstructured<'_>) -> Result<Option<f64>> {
    Ok(if bool::arbitrary(u)? {
        Some(number(u)?)
    } else {
        None
    })
}

fn candidate(u: &mut Unstructured<'_>) -> Result<Option<IceCandidateInit>> {
    if bool::arbitrary(u)? {
        return Ok(None);
    }
    Ok(Some(IceCandidateInit {
        candidate: text(u)?,
        sdp_mid: Option::arbitrary(u)?,
        sdp_m_line_index: Option::arbitrary(u)?,
        username_fragment: Option::arbitrary(u)?,
    }))
}

fn client(u: &mut Unstructured<'_>) -> Result<ClientMessage> {
    Ok(match u.int_in_range(0..=7)? {
        0 => ClientMessage::Offer { sdp: text(u)? },
        1 => ClientMessage::Answer { sdp: text(u)? },
        2 => ClientMessage::IceCandidate {
            candidate: candidate(u)?,
        },
        3 => ClientMessage::Prompt {
            prompt: text(u)?,
            enhance_prompt: bool::arbitrary(u)?,
        },
        4 => ClientMessage::SetImage {
            image_data: Option::arbitrary(u)?,
            prompt: Option::arbitrary(u)?,
            enhance_prompt: Option::arbitrary(u)?,
        },
        5 => ClientMessage::LatencyProbe {
            seq: u16::arbitrary(u)?,
            client_time: number(u)?,
        },
        6 => ClientMessage::E2eLatencyReport {
            avg_latency_ms: opt_number(u)?,
            delivery_rate: number(u)?,
            lost: u32::arbitrary(u)?,
            corrupted: u32::arbitrary(u)?,
            out_of_order: u32::arbitrary(u)?,
        },
        _ => ClientMessage::IvsJoined,
    })
}

fn metrics(u: &mut Unstructured<'_>) -> Result<MetricsReport> {
    Ok(MetricsReport {
        frame_recv_ms: opt_number(u)?,
        pipeline_latency_ms: opt_number(u)?,
        input_fps: opt_number(u)?,
        output_fps: opt_number(u)?,
        video_in_depth: opt_number(u)?,
        video_out_depth: opt_number(u)?,
        skipped_in_frames: opt_number(u)?,
        skipped_out_frames: opt_number(u)?,
        event_loop_latency_ms: opt_number(u)?,
        rtt_ms: opt_number(u)?,
        jitter_ms: opt_number(u)?,
        inbound_loss_rate: opt_number(u)?,
        bitrate_kbps: opt_number(u)?,
        encoder_target_bitrate_kbps: opt_number(u)?,
        received: Json::Null,
    })
}

fn server(u: &mut Unstructured<'_>) -> Result<ServerMessage> {
    Ok(match u.int_in_range(0..=13)? {
        0 => ServerMessage::Ready,
        1 => ServerMessage::Offer { sdp: text(u)? },
        2 => ServerMessage::Answer { sdp: text(u)? },
        3 => ServerMessage::IceCandidate {
            candidate: candidate(u)?,
        },
        4 => ServerMessage::PromptAck {
            prompt: text(u)?,
            success: bool::arbitrary(u)?,
            error: Option::arbitrary(u)?,
        },
        5 => ServerMessage::SetImageAck {
            success: bool::arbitrary(u)?,
            error: Option::arbitrary(u)?,
        },
        6 => ServerMessage::Error { error: text(u)? },
        7 => ServerMessage::GenerationStarted,
        8 => ServerMessage::GenerationTick {
            seconds: number(u)?,
        },
        9 => ServerMessage::GenerationEnded {
            seconds: number(u)?,
            reason: Option::arbitrary(u)?,
        },
        10 => ServerMessage::SessionId {
            session_id: text(u)?,
            server_ip: text(u)?,
            server_port: u16::arbitrary(u)?,
        },
        11 => ServerMessage::MetricsReport(metrics(u)?),
        12 => ServerMessage::IvsStageReady {
            stage_arn: text(u)?,
            client_token: text(u)?,
            client_publish_participant_id: Option::arbitrary(u)?,
        },
        _ => ServerMessage::TurnConfig {
            urls: Vec::arbitrary(u)?,
            username: text(u)?,
            credential: text(u)?,
        },
    })
}

/// What a message reads back as (see the module documentation).
fn as_received(m: ClientMessage) -> ClientMessage {
    match m {
        ClientMessage::SetImage {
            image_data,
            prompt: Some(None),
            enhance_prompt,
        } => ClientMessage::SetImage {
            image_data,
            prompt: None,
            enhance_prompt,
        },
        m => m,
    }
}

/// serde_json's reading of a frame, decoded by the core.
fn by_serde<T: Message>(wire: &str) -> Result<Incoming<T>, ParseError> {
    let v = serde_json::from_str::<serde_json::Value>(wire)
        .unwrap_or_else(|e| panic!("serde_json refuses {wire}: {e}"));
    from_json(&from_serde(&v))
}

/// A server message read back: its received object is the frame (up to member order for
/// serde_json's reading), then forgotten for the comparison.
fn forget_received(m: ServerMessage, wire: &str) -> ServerMessage {
    match m {
        ServerMessage::MetricsReport(mut r) => {
            let frame = json::parse(wire).unwrap_or_else(|e| panic!("{wire}: {e}"));
            assert_eq!(canonical(&r.received), canonical(&frame), "{wire}");
            r.received = Json::Null;
            ServerMessage::MetricsReport(r)
        }
        m => m,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(m) = client(&mut u) {
        let wire = to_text(&m);
        let want = as_received(m);
        for got in [parse_client_message(&wire), by_serde(&wire)] {
            match got {
                Ok(Incoming::Message(got)) => assert_same(got, want.clone(), client_floats, &wire),
                other => panic!("{wire} read back as {other:?}"),
            }
        }
    }
    if let Ok(m) = server(&mut u) {
        let wire = to_text(&m);
        for got in [parse_server_message(&wire), by_serde(&wire)] {
            match got {
                Ok(Incoming::Message(got)) => {
                    assert_same(forget_received(got, &wire), m.clone(), server_floats, &wire)
                }
                other => panic!("{wire} read back as {other:?}"),
            }
        }
    }
});
