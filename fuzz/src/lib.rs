//! Helpers shared by the fuzz targets (`fuzz_targets/`).

use realtime_video_sdk::core::protocol::{ClientMessage, MetricsReport, ServerMessage};

/// How far apart (in units in the last place) a number may read back from its JSON text.
///
/// Finding: the core parses frames with serde_json's default float parser, which is
/// best-effort: about 9 % of ordinary `f64`s (e.g. `9941.414234139935`, a
/// `performance.now()` value) read back one unit in the last place off, and about 0.2 % of
/// all finite `f64`s two units. An exact parser (serde_json's `float_roundtrip` feature, or
/// `str::parse::<f64>` in a hand-written one) makes this 0; set it to 0 then, so the targets
/// hold the protocol to it.
pub const FLOAT_ULPS: u64 = 2;

fn close(a: f64, b: f64) -> bool {
    let ulps = (a.to_bits() as i64)
        .wrapping_sub(b.to_bits() as i64)
        .unsigned_abs();
    a == b
        || (a.is_finite()
            && b.is_finite()
            && a.is_sign_negative() == b.is_sign_negative()
            && ulps <= FLOAT_ULPS)
}

fn metrics_floats(m: &mut MetricsReport) -> Vec<&mut f64> {
    [
        &mut m.frame_recv_ms,
        &mut m.pipeline_latency_ms,
        &mut m.input_fps,
        &mut m.output_fps,
        &mut m.video_in_depth,
        &mut m.video_out_depth,
        &mut m.skipped_in_frames,
        &mut m.skipped_out_frames,
        &mut m.event_loop_latency_ms,
        &mut m.rtt_ms,
        &mut m.jitter_ms,
        &mut m.inbound_loss_rate,
        &mut m.bitrate_kbps,
        &mut m.encoder_target_bitrate_kbps,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
    .collect()
}

/// Every number of a client message.
pub fn client_floats(m: &mut ClientMessage) -> Vec<&mut f64> {
    match m {
        ClientMessage::LatencyProbe { client_time, .. } => vec![client_time],
        ClientMessage::E2eLatencyReport {
            avg_latency_ms,
            delivery_rate,
            ..
        } => avg_latency_ms.iter_mut().chain([delivery_rate]).collect(),
        _ => Vec::new(),
    }
}

/// Every number of a server message.
pub fn server_floats(m: &mut ServerMessage) -> Vec<&mut f64> {
    match m {
        ServerMessage::GenerationTick { seconds }
        | ServerMessage::GenerationEnded { seconds, .. } => {
            vec![seconds]
        }
        ServerMessage::MetricsReport(r) => metrics_floats(r),
        _ => Vec::new(),
    }
}

/// Asserts `got == want`, numbers compared within [`FLOAT_ULPS`].
pub fn assert_same<T: PartialEq + std::fmt::Debug>(
    mut got: T,
    mut want: T,
    floats: impl Fn(&mut T) -> Vec<&mut f64>,
    context: &str,
) {
    let wanted: Vec<f64> = floats(&mut want).into_iter().map(|x| *x).collect();
    let mut got_floats = floats(&mut got);
    if got_floats.len() == wanted.len() {
        for (g, w) in got_floats.iter_mut().zip(&wanted) {
            assert!(close(**g, *w), "{g} read back for {w}: {context}");
            **g = *w;
        }
    }
    drop(got_floats);
    assert_eq!(got, want, "{context}");
}
