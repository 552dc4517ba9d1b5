//! Media counters shared between the media task (which counts) and a session (which turns
//! them into a `metrics_report` every second). Only measured values are reported; what the
//! server does not know stays `null`.

use realtime_video_sdk::core::protocol::MetricsReport;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const UNKNOWN: u64 = u64::MAX;

/// Running totals for one publishing peer connection (monotonic counters plus the latest
/// transport statistics).
#[derive(Debug)]
pub struct MediaCounters {
    in_frames: AtomicU64,
    in_bytes: AtomicU64,
    out_frames: AtomicU64,
    out_bytes: AtomicU64,
    /// Sum and count of the time frames spent in the server (first packet in → frame out), µs.
    pipeline_us: AtomicU64,
    pipeline_n: AtomicU64,
    rtt_us: AtomicU64,
    jitter_us: AtomicU64,
    /// Inbound loss rate in parts per million.
    loss_ppm: AtomicU64,
    /// Transform mode: frames waiting for the session's worker / for their send time.
    in_depth: AtomicU64,
    out_depth: AtomicU64,
    /// Transform mode: input frames not transformed, output frames not sent.
    skipped_in: AtomicU64,
    skipped_out: AtomicU64,
    /// Transform mode: the encoder's target bitrate, kbit/s.
    encoder_kbps: AtomicU64,
    /// Whether the session transforms (the fields above are reported only then).
    transforming: AtomicBool,
}

impl Default for MediaCounters {
    fn default() -> Self {
        MediaCounters {
            in_frames: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            out_frames: AtomicU64::new(0),
            out_bytes: AtomicU64::new(0),
            pipeline_us: AtomicU64::new(0),
            pipeline_n: AtomicU64::new(0),
            rtt_us: AtomicU64::new(UNKNOWN),
            jitter_us: AtomicU64::new(UNKNOWN),
            loss_ppm: AtomicU64::new(UNKNOWN),
            in_depth: AtomicU64::new(0),
            out_depth: AtomicU64::new(0),
            skipped_in: AtomicU64::new(0),
            skipped_out: AtomicU64::new(0),
            encoder_kbps: AtomicU64::new(UNKNOWN),
            transforming: AtomicBool::new(false),
        }
    }
}

/// A copy of the totals at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Video frames received.
    pub in_frames: u64,
    /// Media payload bytes received (audio and video).
    pub in_bytes: u64,
    /// Video frames sent back.
    pub out_frames: u64,
    /// Media payload bytes sent back.
    pub out_bytes: u64,
    /// Summed server residence time of forwarded video frames, µs.
    pub pipeline_us: u64,
    /// Number of frames in `pipeline_us`.
    pub pipeline_n: u64,
    /// Input frames skipped by the transform.
    pub skipped_in: u64,
    /// Output frames of the transform not sent.
    pub skipped_out: u64,
}

/// What only a transforming session knows, read at report time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransformGauges {
    /// Frames waiting for the worker.
    pub in_depth: u64,
    /// Transformed frames waiting for their send time.
    pub out_depth: u64,
    /// The encoder's target bitrate, kbit/s, once known.
    pub encoder_kbps: Option<u64>,
}

impl MediaCounters {
    /// A received media frame (`video` counts toward the frame rate).
    pub fn frame_in(&self, video: bool, bytes: usize) {
        if video {
            self.in_frames.fetch_add(1, Relaxed);
        }
        self.in_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// The session transforms its video (queue depths, skips and the encoder's bitrate are
    /// reported from now on).
    pub fn set_transforming(&self) {
        self.transforming.store(true, Relaxed);
    }

    /// Frames waiting for the transform worker now.
    pub fn set_in_depth(&self, n: usize) {
        self.in_depth.store(n as u64, Relaxed);
    }

    /// Transformed frames waiting for their send time now.
    pub fn set_out_depth(&self, n: usize) {
        self.out_depth.store(n as u64, Relaxed);
    }

    /// `n` input frames were not transformed (queue full, superseded, undecodable).
    pub fn skipped_in(&self, n: u64) {
        self.skipped_in.fetch_add(n, Relaxed);
    }

    /// `n` transformed frames were not sent (encoder error, output queue full).
    pub fn skipped_out(&self, n: u64) {
        self.skipped_out.fetch_add(n, Relaxed);
    }

    /// The transform encoder's target bitrate.
    pub fn set_encoder_target(&self, kbps: u32) {
        self.encoder_kbps.store(u64::from(kbps), Relaxed);
    }

    /// The transform gauges, `None` unless the session transforms.
    pub fn gauges(&self) -> Option<TransformGauges> {
        self.transforming.load(Relaxed).then(|| TransformGauges {
            in_depth: self.in_depth.load(Relaxed),
            out_depth: self.out_depth.load(Relaxed),
            encoder_kbps: Some(self.encoder_kbps.load(Relaxed)).filter(|v| *v != UNKNOWN),
        })
    }

    /// A media frame written back to the client, `residence` after its first packet came in.
    pub fn frame_out(&self, video: bool, bytes: usize, residence: Duration) {
        if video {
            self.out_frames.fetch_add(1, Relaxed);
            self.pipeline_us.fetch_add(
                residence.as_micros().min(u128::from(u32::MAX)) as u64,
                Relaxed,
            );
            self.pipeline_n.fetch_add(1, Relaxed);
        }
        self.out_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Latest transport statistics from str0m (`None` = unknown).
    pub fn set_transport(
        &self,
        rtt: Option<Duration>,
        jitter: Option<Duration>,
        loss: Option<f32>,
    ) {
        let us = |d: Option<Duration>| {
            d.map_or(UNKNOWN, |d| d.as_micros().min(u128::from(u32::MAX)) as u64)
        };
        if rtt.is_some() {
            self.rtt_us.store(us(rtt), Relaxed);
        }
        if jitter.is_some() {
            self.jitter_us.store(us(jitter), Relaxed);
        }
        if let Some(l) = loss {
            self.loss_ppm
                .store((f64::from(l.clamp(0.0, 1.0)) * 1e6) as u64, Relaxed);
        }
    }

    /// The totals now.
    pub fn totals(&self) -> Totals {
        Totals {
            in_frames: self.in_frames.load(Relaxed),
            in_bytes: self.in_bytes.load(Relaxed),
            out_frames: self.out_frames.load(Relaxed),
            out_bytes: self.out_bytes.load(Relaxed),
            pipeline_us: self.pipeline_us.load(Relaxed),
            pipeline_n: self.pipeline_n.load(Relaxed),
            skipped_in: self.skipped_in.load(Relaxed),
            skipped_out: self.skipped_out.load(Relaxed),
        }
    }

    fn transport(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let get = |a: &AtomicU64| Some(a.load(Relaxed)).filter(|v| *v != UNKNOWN);
        (
            get(&self.rtt_us).map(|v| v as f64 / 1000.0),
            get(&self.jitter_us).map(|v| v as f64 / 1000.0),
            get(&self.loss_ppm).map(|v| v as f64 / 1e6),
        )
    }
}

/// Builds the report for the window between two snapshots `elapsed` apart (pure); the
/// transform fields stay `null` without `gauges` (echo mode).
pub fn report(
    prev: Totals,
    now: Totals,
    elapsed: Duration,
    transport: (Option<f64>, Option<f64>, Option<f64>),
    gauges: Option<TransformGauges>,
) -> MetricsReport {
    let secs = elapsed.as_secs_f64();
    let rate = |a: u64, b: u64| {
        if secs > 0.0 {
            Some(b.saturating_sub(a) as f64 / secs)
        } else {
            None
        }
    };
    let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0);
    let frames = now.pipeline_n.saturating_sub(prev.pipeline_n);
    let pipeline = (frames > 0)
        .then(|| now.pipeline_us.saturating_sub(prev.pipeline_us) as f64 / frames as f64 / 1000.0);
    let (rtt_ms, jitter_ms, inbound_loss_rate) = transport;
    MetricsReport {
        input_fps: round(rate(prev.in_frames, now.in_frames)),
        output_fps: round(rate(prev.out_frames, now.out_frames)),
        bitrate_kbps: round(rate(prev.in_bytes, now.in_bytes).map(|b| b * 8.0 / 1000.0)),
        pipeline_latency_ms: round(pipeline),
        rtt_ms: round(rtt_ms),
        jitter_ms: round(jitter_ms),
        inbound_loss_rate,
        video_in_depth: gauges.map(|g| g.in_depth as f64),
        video_out_depth: gauges.map(|g| g.out_depth as f64),
        skipped_in_frames: gauges.map(|_| now.skipped_in.saturating_sub(prev.skipped_in) as f64),
        skipped_out_frames: gauges.map(|_| now.skipped_out.saturating_sub(prev.skipped_out) as f64),
        encoder_target_bitrate_kbps: gauges.and_then(|g| g.encoder_kbps).map(|k| k as f64),
        ..MetricsReport::default()
    }
}

/// Turns counters into one report per call, each over the time since the previous call.
#[derive(Debug, Default)]
pub struct Window {
    prev: Totals,
}

impl Window {
    /// The report for the last `elapsed`, reading `counters` (or zeros without media).
    pub fn next(&mut self, counters: Option<&MediaCounters>, elapsed: Duration) -> MetricsReport {
        let (now, transport, gauges) = match counters {
            Some(c) => (c.totals(), c.transport(), c.gauges()),
            None => (Totals::default(), (None, None, None), None),
        };
        let r = report(self.prev, now, elapsed, transport, gauges);
        self.prev = now;
        r
    }

    /// Starts over (new counters, e.g. a new peer connection).
    pub fn reset(&mut self) {
        self.prev = Totals::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let c = MediaCounters::default();
        let mut w = Window::default();
        for _ in 0..25 {
            c.frame_in(true, 1000);
            c.frame_out(true, 1000, Duration::from_millis(4));
        }
        c.frame_in(false, 200);
        let r = w.next(Some(&c), Duration::from_millis(500));
        assert_eq!(r.input_fps, Some(50.0));
        assert_eq!(r.output_fps, Some(50.0));
        assert_eq!(r.bitrate_kbps, Some(403.2)); // 25_200 bytes in 0.5 s
        assert_eq!(r.pipeline_latency_ms, Some(4.0));
        assert_eq!(r.rtt_ms, None);
        assert_eq!(r.encoder_target_bitrate_kbps, None);
        let r = w.next(Some(&c), Duration::from_secs(1));
        assert_eq!(r.input_fps, Some(0.0));
        assert_eq!(r.pipeline_latency_ms, None);
    }

    #[test]
    fn transform_fields_only_when_transforming() {
        let c = MediaCounters::default();
        let mut w = Window::default();
        c.skipped_in(3);
        let r = w.next(Some(&c), Duration::from_secs(1));
        assert_eq!(
            (
                r.video_in_depth,
                r.skipped_in_frames,
                r.encoder_target_bitrate_kbps
            ),
            (None, None, None)
        );
        c.set_transforming();
        c.set_in_depth(2);
        c.set_out_depth(5);
        c.skipped_in(4);
        c.skipped_out(1);
        let r = w.next(Some(&c), Duration::from_secs(1));
        assert_eq!(r.video_in_depth, Some(2.0));
        assert_eq!(r.video_out_depth, Some(5.0));
        assert_eq!(r.skipped_in_frames, Some(4.0), "counted over the window");
        assert_eq!(r.skipped_out_frames, Some(1.0));
        assert_eq!(
            r.encoder_target_bitrate_kbps, None,
            "unknown before the encoder runs"
        );
        c.set_encoder_target(1500);
        let r = w.next(Some(&c), Duration::from_secs(1));
        assert_eq!(r.encoder_target_bitrate_kbps, Some(1500.0));
        assert_eq!(r.skipped_in_frames, Some(0.0));
    }

    #[test]
    fn transport_values_when_known() {
        let c = MediaCounters::default();
        c.set_transport(Some(Duration::from_micros(1500)), None, Some(0.25));
        let r = Window::default().next(Some(&c), Duration::from_secs(1));
        assert_eq!(r.rtt_ms, Some(1.5));
        assert_eq!(r.jitter_ms, None);
        assert_eq!(r.inbound_loss_rate, Some(0.25));
    }

    #[test]
    fn no_media_means_zero_rates() {
        let r = Window::default().next(None, Duration::from_secs(1));
        assert_eq!(
            (r.input_fps, r.output_fps, r.bitrate_kbps),
            (Some(0.0), Some(0.0), Some(0.0))
        );
    }
}
