//! Connection quality: a verdict (`good` / `fair` / `poor` / `critical`, with the limiting
//! factor) from the samples the browser layer takes once per stats interval.
//!
//! [`QualityMonitor`] is a sans-IO state machine: [`QualityMonitor::update`] takes one
//! [`QualitySample`] and its time, and returns the new [`Verdict`] when the quality or the
//! limiting factor changed (the `connectionQuality` event); [`QualityMonitor::current`] gives
//! the verdict at any time (`getConnectionQuality()`). Nothing here reads a clock or panics.
//!
//! How a sample becomes a verdict:
//!
//! 1. **Cleaning.** Non-finite and negative figures count as missing; fractions above 1 are
//!    clamped to 1. Every input is optional, and a missing one is never graded.
//! 2. **Smoothing.** The last [`WINDOW_SAMPLES`] samples (those younger than
//!    [`MAX_SAMPLE_AGE_MS`]) form the window. Each figure is the **median** of the window's
//!    known values: a single outlier cannot move a median of five, whereas it shifts an EWMA
//!    for several samples. Yes/no inputs (encoder limited by CPU or bandwidth, video stalled)
//!    become the **share** of the window's samples where they held. A figure known in half
//!    of the window or less is unknown, so a lone value never grades the connection.
//! 3. **Grading.** Each figure gets a level from its row of [`THRESHOLDS`]; the worst level is
//!    the candidate quality, and its row's factor the candidate limiting factor (ties go to the
//!    row that comes first in the table). Everything good gives `none`. Glass-to-glass latency,
//!    when measured, grades latency instead of RTT. Time to first frame is reported but not
//!    graded: it happened once, at the start, and says nothing about the connection now.
//!    Packet loss is the worse of the two directions: inbound, as the browser counts it, and
//!    upstream, the share of the outbound video's packets sent again ([`ResentShare`]).
//!    Retransmissions repair most of the upstream loss, so the far end's reports hide it, but
//!    every one answers a lost packet, and that loss is what congestion control acts on.
//!    While packet loss is at least [`LOSS_CUTS_RATE`], the bandwidth rows are not graded:
//!    the browser's congestion control lowers its estimate (and the encoder's target) under
//!    such loss whatever the link's capacity, so a low estimate then is loss's doing, and a
//!    lossy link is reported as `loss`, not `bandwidth`.
//! 4. **Warm-up.** For [`WARMUP_MS`] after the first sample, the verdict says
//!    `warming_up: true` and never goes below `fair`: at the start the bandwidth estimate is
//!    still ramping up and video may not have arrived yet, which is normal, not a bad network.
//! 5. **Hysteresis.** The first sample sets the verdict. After that, the quality goes down
//!    only after [`DOWN_AFTER`] consecutive candidates worse than it, and up only after
//!    [`UP_AFTER`] consecutive better ones (slower up than down, so a recovering link is not
//!    announced until it has held). The new quality is the mildest of those candidates (the
//!    worst, going up). A change of limiting factor at the same quality also waits for
//!    [`DOWN_AFTER`] consecutive candidates.
//!
//! A lasting change needs `WINDOW_SAMPLES / 2 + 1` samples to become the median, then the
//! hysteresis: a degradation is reported on its 4th sample (`WINDOW_SAMPLES / 2 + DOWN_AFTER`),
//! a recovery on its 7th (`WINDOW_SAMPLES / 2 + UP_AFTER`), so about 3 s and 6 s after they
//! begin with samples once a second.
//!
//! The browser layer builds a sample from each stats snapshot with
//! [`QualitySample::from_stats`] and adds what stats do not hold (the server's jitter, time
//! to first frame, the glass-to-glass figures of a [`ProbeWindow`]).
//! [`Verdict::to_json`] is the `connectionQuality` payload.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::json::{Json, Obj};
use super::stats::{StatsSnapshot, STALL_FPS};

/// Samples in the smoothing window.
pub const WINDOW_SAMPLES: usize = 5;
/// Samples older than this leave the window early (a background tab whose timers were
/// throttled must not be judged on figures from a minute ago), ms.
pub const MAX_SAMPLE_AGE_MS: f64 = 10_000.0;
/// Warm-up after the first sample, ms.
pub const WARMUP_MS: f64 = 5_000.0;
/// Consecutive worse candidates before the quality goes down.
pub const DOWN_AFTER: u32 = 2;
/// Consecutive better candidates before the quality goes up.
pub const UP_AFTER: u32 = 5;
/// Packet loss from which the bandwidth rows are not graded (a fraction): Google congestion
/// control (draft-ietf-rmcat-gcc-02 §6) cuts its rate above 10 % loss, so the estimate then
/// follows the loss, not the link's capacity. The same bound as the packet-loss row's `poor`.
pub const LOSS_CUTS_RATE: f64 = 0.10;
/// The upstream bitrate a session that sends video wants, kbit/s: the start bitrate the SDK
/// asks the VP8 encoder for (`x-google-start-bitrate=600`, [`super::sdp`]). The bandwidth
/// row's `poor` bound (half of it) is then the SDK's minimum bitrate hint, 300 kbit/s.
pub const WANTED_UPSTREAM_KBPS: f64 = 600.0;
/// Probe outcomes a [`ProbeWindow`] keeps at most.
pub const PROBE_WINDOW: usize = 20;
/// Age after which a probe outcome leaves a [`ProbeWindow`], ms.
pub const PROBE_WINDOW_MS: f64 = 30_000.0;

/// Overall connection quality, best first: `Good < Fair < Poor < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quality {
    /// Nothing to report.
    Good,
    /// Noticeable, usable.
    Fair,
    /// Clearly degraded.
    Poor,
    /// Barely or not usable.
    Critical,
}

impl Quality {
    /// The JS name: `"good"`, `"fair"`, `"poor"` or `"critical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Fair => "fair",
            Quality::Poor => "poor",
            Quality::Critical => "critical",
        }
    }
}

/// What limits the quality most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitingFactor {
    /// Available upstream bitrate below what the session wants, or the encoder limited by it.
    Bandwidth,
    /// Round trip, glass-to-glass latency or upstream jitter.
    Latency,
    /// Packet loss or lost latency probes.
    Loss,
    /// Video stalled or arriving well below the expected frame rate.
    Stall,
    /// The encoder limited by the CPU.
    Cpu,
    /// Everything is good.
    None,
}

impl LimitingFactor {
    /// The JS name: `"bandwidth"`, `"latency"`, `"loss"`, `"stall"`, `"cpu"` or `"none"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitingFactor::Bandwidth => "bandwidth",
            LimitingFactor::Latency => "latency",
            LimitingFactor::Loss => "loss",
            LimitingFactor::Stall => "stall",
            LimitingFactor::Cpu => "cpu",
            LimitingFactor::None => "none",
        }
    }
}

/// W3C `qualityLimitationReason` of the outbound video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitationReason {
    /// `"none"`.
    None,
    /// `"cpu"`.
    Cpu,
    /// `"bandwidth"`.
    Bandwidth,
    /// `"other"`, or anything else.
    Other,
}

impl LimitationReason {
    /// Reads the W3C value; unknown values are [`LimitationReason::Other`].
    pub fn parse(value: &str) -> Self {
        match value {
            "none" => LimitationReason::None,
            "cpu" => LimitationReason::Cpu,
            "bandwidth" => LimitationReason::Bandwidth,
            _ => LimitationReason::Other,
        }
    }
}

/// What the browser layer observed in one stats interval. Every field may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QualitySample {
    /// Round-trip time of the selected candidate pair, ms.
    pub rtt_ms: Option<f64>,
    /// Measured glass-to-glass latency (median of the recent pixel-marker probes), ms.
    pub g2g_ms: Option<f64>,
    /// Share of the recent pixel-marker probes that never came back, 0..=1.
    pub g2g_drop_ratio: Option<f64>,
    /// Time from connect to the first remote frame, ms.
    pub ttff_ms: Option<f64>,
    /// Received video frames per second.
    pub fps: Option<f64>,
    /// Frames per second the model produces.
    pub expected_fps: Option<f64>,
    /// Inbound packet loss over the interval (packetsLost / (packetsLost + packetsReceived)
    /// deltas), 0..=1.
    pub packet_loss: Option<f64>,
    /// Upstream loss before repair: the share of the outbound video's packets sent again
    /// ([`ResentShare`]), 0..=1.
    pub upstream_loss: Option<f64>,
    /// Jitter of the outbound video as the far end sees it (remote-inbound `jitter`, or the
    /// server's `jitter_ms`), ms.
    pub upstream_jitter_ms: Option<f64>,
    /// W3C `availableOutgoingBitrate` of the selected candidate pair, kbit/s.
    pub available_upstream_kbps: Option<f64>,
    /// The upstream bitrate the session wants, kbit/s.
    pub wanted_upstream_kbps: Option<f64>,
    /// The outbound video's `qualityLimitationReason`.
    pub limitation: Option<LimitationReason>,
    /// Whether received video is stalled; when missing, `fps < STALL_FPS` stands in for it.
    pub stalled: Option<bool>,
}

/// The figures of a verdict, smoothed; `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Round-trip time, ms.
    pub rtt_ms: Option<f64>,
    /// Glass-to-glass latency, ms.
    pub g2g_ms: Option<f64>,
    /// Time to first frame (the latest reported, not smoothed), ms.
    pub ttff_ms: Option<f64>,
    /// Received frames per second.
    pub fps: Option<f64>,
    /// Packet loss, the worse of inbound and upstream, 0..=1.
    pub packet_loss: Option<f64>,
    /// Upstream jitter, ms.
    pub upstream_jitter_ms: Option<f64>,
    /// Share of pixel-marker probes lost, 0..=1.
    pub g2g_drop_ratio: Option<f64>,
    /// Available upstream bitrate, kbit/s.
    pub available_upstream_kbps: Option<f64>,
}

/// The connection-quality verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Overall quality.
    pub quality: Quality,
    /// The dimension that limits it; [`LimitingFactor::None`] exactly when the quality is good.
    pub limiting_factor: LimitingFactor,
    /// Within [`WARMUP_MS`] of the first sample (the quality is then `fair` at worst).
    pub warming_up: bool,
    /// The latest smoothed figures.
    pub metrics: Metrics,
}

impl QualitySample {
    /// The figures one stats snapshot gives; `model_fps` is the frame rate of the session's
    /// model (`None` for a viewer). What stats do not hold (`g2g_ms`, `g2g_drop_ratio`,
    /// `ttff_ms`, `upstream_jitter_ms`, `upstream_loss`) is left `None` for the caller to
    /// fill in.
    ///
    /// * `rtt_ms`: the connection's `currentRoundTripTime`;
    /// * `fps`: the inbound video's `framesPerSecond` (0 while none is decoded);
    /// * `expected_fps`: the model's rate, or the rate the outbound video is sent at when that
    ///   is lower (the output cannot be faster than the camera it transforms);
    /// * `packet_loss`: lost ÷ (lost + received) packets of inbound video and audio over the
    ///   interval (unknown on a section's first sample);
    /// * `available_upstream_kbps`: `availableOutgoingBitrate` of the succeeded candidate pair
    ///   that sent the most bytes (on IVS the report holds the publishing and the subscribing
    ///   peer connection; the publisher's estimate is the one that matters), else the
    ///   connection's;
    /// * `wanted_upstream_kbps`: [`WANTED_UPSTREAM_KBPS`] while video is sent;
    /// * `limitation`: the outbound video's `qualityLimitationReason`.
    pub fn from_stats(s: &StatsSnapshot, model_fps: Option<f64>) -> QualitySample {
        let out = s.outbound_video.as_ref();
        let sent_fps = out
            .filter(|o| !o.is_unavailable("framesPerSecond"))
            .map(|o| o.num("framesPerSecond"))
            .filter(|f| *f > 0.0);
        let expected_fps = match (model_fps, sent_fps) {
            (Some(m), Some(s)) => Some(m.min(s)),
            (m, s) => m.or(s),
        };
        let (mut lost, mut received, mut known) = (0.0, 0.0, false);
        for section in [&s.video, &s.audio].into_iter().flatten() {
            if let Some(r) = section.interval("packetsReceivedDelta") {
                lost += section.num("packetsLostDelta").max(0.0);
                received += r;
                known = true;
            }
        }
        let packet_loss = (known && lost + received > 0.0).then(|| lost / (lost + received));
        let pair = s
            .connection
            .succeeded_pairs
            .iter()
            .filter(|p| p.available_outgoing_bitrate.is_some())
            .max_by(|a, b| {
                let sent = |p: &super::stats::CandidatePair| p.bytes_sent.unwrap_or(0.0);
                sent(a).total_cmp(&sent(b))
            });
        let available = pair
            .and_then(|p| p.available_outgoing_bitrate)
            .or(s.connection.available_outgoing_bitrate);
        QualitySample {
            rtt_ms: s.connection.current_round_trip_time.map(|t| t * 1000.0),
            fps: s.video_fps(),
            expected_fps,
            packet_loss,
            available_upstream_kbps: available.map(|b| b / 1000.0),
            wanted_upstream_kbps: out.map(|_| WANTED_UPSTREAM_KBPS),
            limitation: out
                .filter(|o| !o.is_unavailable("qualityLimitationReason"))
                .and_then(|o| o.text("qualityLimitationReason"))
                .map(LimitationReason::parse),
            ..QualitySample::default()
        }
    }
}

/// Upstream loss before repair, from one stats poll to the next: `Δ retransmittedPacketsSent
/// ÷ Δ packetsSent` of the outbound video. The far end asks again (NACK) for each packet the
/// network lost and the browser sends it again, so the share of packets resent is the
/// upstream loss as congestion control sees it, while the far end's receiver reports count
/// only what the retransmissions did not repair.
#[derive(Debug, Clone, Default)]
pub struct ResentShare {
    /// The outbound video's stats id, packets sent and packets resent at the last poll.
    last: Option<(String, f64, f64)>,
}

impl ResentShare {
    /// The share over the interval since the previous poll; `None` on the first poll, for
    /// a new stats object, when nothing was sent or the counters went backwards.
    pub fn update(&mut self, s: &StatsSnapshot) -> Option<f64> {
        let out = s
            .outbound_video
            .as_ref()
            .filter(|o| !o.is_unavailable("retransmittedPacketsSent"));
        let now = out.map(|o| {
            let (sent, resent) = (o.num("packetsSent"), o.num("retransmittedPacketsSent"));
            (o.id.clone(), sent, resent)
        });
        let last = std::mem::replace(&mut self.last, now);
        let ((id, sent, resent), (last_id, last_sent, last_resent)) = (self.last.as_ref()?, last?);
        let (sent, resent) = (sent - last_sent, resent - last_resent);
        (*id == last_id && sent > 0.0 && resent >= 0.0).then(|| (resent / sent).min(1.0))
    }
}

/// The recent outcomes of pixel-marker probes (at most [`PROBE_WINDOW`], none older than
/// [`PROBE_WINDOW_MS`]): the glass-to-glass figures of a quality sample and of the `stats`
/// event's `glassToGlass`. Lost probes are known only once their time to live ran out, so they
/// count when that is reported.
#[derive(Debug, Clone, Default)]
pub struct ProbeWindow {
    /// `(time, latency)` oldest first; `None` is a lost probe.
    items: VecDeque<(f64, Option<f64>)>,
}

impl ProbeWindow {
    /// A probe came back after `latency_ms`, at `now_ms`.
    pub fn received(&mut self, latency_ms: f64, now_ms: f64) {
        if let Some(l) = non_negative(Some(latency_ms)) {
            self.push(Some(l), now_ms);
        }
    }

    /// A probe was reported lost at `now_ms`.
    pub fn lost(&mut self, now_ms: f64) {
        self.push(None, now_ms);
    }

    fn push(&mut self, item: Option<f64>, now_ms: f64) {
        if self.items.len() >= PROBE_WINDOW {
            self.items.pop_front();
        }
        self.items.push_back((now_ms, item));
    }

    fn recent(&self, now_ms: f64) -> impl Iterator<Item = Option<f64>> + Clone + '_ {
        self.items
            .iter()
            .filter(move |(t, _)| now_ms - t <= PROBE_WINDOW_MS)
            .map(|(_, l)| *l)
    }

    /// Median latency of the recent probes that came back, ms.
    pub fn median_ms(&self, now_ms: f64) -> Option<f64> {
        median(self.recent(now_ms).flatten())
    }

    /// 90th percentile (nearest rank) of the recent latencies, ms.
    pub fn p90_ms(&self, now_ms: f64) -> Option<f64> {
        let mut v: Vec<f64> = self.recent(now_ms).flatten().collect();
        v.sort_by(f64::total_cmp);
        let rank = (9 * v.len()).div_ceil(10);
        v.get(rank.checked_sub(1)?).copied()
    }

    /// Share of the recent probes that were lost, 0..=1.
    pub fn drop_ratio(&self, now_ms: f64) -> Option<f64> {
        let total = self.recent(now_ms).count();
        let lost = self.recent(now_ms).filter(Option::is_none).count();
        (total > 0).then(|| lost as f64 / total as f64)
    }

    /// The `stats` event's `glassToGlass`: `{ttffMs, medianMs, p90Ms}`.
    pub fn to_json(&self, ttff_ms: Option<f64>, now_ms: f64) -> Json {
        Obj::new()
            .set("ttffMs", ttff_ms)
            .set("medianMs", self.median_ms(now_ms))
            .set("p90Ms", self.p90_ms(now_ms))
            .build()
    }
}

impl Verdict {
    /// The `connectionQuality` payload (and `getConnectionQuality()`): `{quality,
    /// limitingFactor, warmingUp, metrics: {rttMs, g2gMs, ttffMs, fps, packetLoss,
    /// upstreamJitterMs, g2gDropRatio, availableUpstreamKbps}}`, unknown metrics `null`.
    pub fn to_json(&self) -> Json {
        let m = &self.metrics;
        Obj::new()
            .set("quality", self.quality.as_str())
            .set("limitingFactor", self.limiting_factor.as_str())
            .set("warmingUp", self.warming_up)
            .set(
                "metrics",
                Obj::new()
                    .set("rttMs", m.rtt_ms)
                    .set("g2gMs", m.g2g_ms)
                    .set("ttffMs", m.ttff_ms)
                    .set("fps", m.fps)
                    .set("packetLoss", m.packet_loss)
                    .set("upstreamJitterMs", m.upstream_jitter_ms)
                    .set("g2gDropRatio", m.g2g_drop_ratio)
                    .set("availableUpstreamKbps", m.available_upstream_kbps),
            )
            .build()
    }
}

/// Which way a figure gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    /// Larger is worse: a level applies from its bound up (`value >= bound`).
    Higher,
    /// Smaller is worse: a level applies from its bound down (`value <= bound`).
    Lower,
}

/// Where `fair`, `poor` and `critical` begin for one figure; below `fair` it is `good`. An
/// infinite bound (`f64::INFINITY` for [`Worse::Higher`]) means the level is never reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Direction of the figure.
    pub worse: Worse,
    /// Start of `fair`.
    pub fair: f64,
    /// Start of `poor`.
    pub poor: f64,
    /// Start of `critical`.
    pub critical: f64,
}

impl Bounds {
    /// The level of `value`.
    pub fn level(&self, value: f64) -> Quality {
        let reached = |bound: f64| match self.worse {
            Worse::Higher => value >= bound,
            Worse::Lower => value <= bound,
        };
        if reached(self.critical) {
            Quality::Critical
        } else if reached(self.poor) {
            Quality::Poor
        } else if reached(self.fair) {
            Quality::Fair
        } else {
            Quality::Good
        }
    }
}

/// A graded figure: a row of [`THRESHOLDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Available / wanted upstream bitrate.
    BandwidthRatio,
    /// Share of samples with the encoder limited by bandwidth.
    BandwidthLimited,
    /// Inbound packet loss.
    PacketLoss,
    /// Share of pixel-marker probes lost.
    G2gDropRatio,
    /// Glass-to-glass latency.
    G2g,
    /// Round-trip time.
    Rtt,
    /// Upstream jitter.
    UpstreamJitter,
    /// Time to first frame (graded by preflight only).
    Ttff,
    /// Share of samples with the encoder limited by the CPU.
    CpuLimited,
    /// Received / expected frames per second.
    FpsRatio,
    /// Share of samples with video stalled.
    Stalled,
}

/// One row of [`THRESHOLDS`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The figure graded.
    pub metric: Metric,
    /// The limiting factor it stands for.
    pub factor: LimitingFactor,
    /// Its bounds.
    pub bounds: Bounds,
}

const fn row(metric: Metric, factor: LimitingFactor, worse: Worse, bounds: [f64; 3]) -> Row {
    let [fair, poor, critical] = bounds;
    Row {
        metric,
        factor,
        bounds: Bounds {
            worse,
            fair,
            poor,
            critical,
        },
    }
}

/// Never reached.
const NEVER: f64 = f64::INFINITY;

/// The thresholds of every graded figure, `[fair, poor, critical]`, grouped by limiting
/// factor. **The order is the tie-break order**: when two figures are equally bad, the
/// earlier row names the limiting factor. Causes come before symptoms: too little bandwidth
/// shows up as loss, delay and stalls, loss as stalls, so bandwidth, then loss, then latency,
/// then CPU, then stall.
///
/// | row | fair | poor | critical | source |
/// | --- | --- | --- | --- | --- |
/// | available / wanted upstream bitrate | ≤ 0.8 | ≤ 0.5 | ≤ 0.2 | below half its target the encoder has to drop resolution or frames; small shortfalls are normal estimator noise |
/// | encoder bandwidth-limited share | ≥ 0.5 | never | never | majority of the window; the encoder adapts, so this alone is `fair` |
/// | packet loss | ≥ 2 % | ≥ 10 % | ≥ 25 % | Google congestion control (draft-ietf-rmcat-gcc-02 §6): under 2 % is ignored, 2–10 % holds the rate, over 10 % cuts it; NACK/FEC hide little beyond a quarter |
/// | pixel-marker probes lost | ≥ 5 % | ≥ 20 % | ≥ 50 % | whole frames lost end to end, which users see sooner than packets |
/// | glass-to-glass latency | ≥ 400 ms | ≥ 800 ms | ≥ 2000 ms | ITU-T G.114: 400 ms is the end of acceptable delay for interactive use; it includes the model, so it gets its own row |
/// | round-trip time | ≥ 150 ms | ≥ 400 ms | ≥ 1000 ms | ITU-T G.114's 150 ms / 400 ms bounds, applied to the round trip because the user sees the whole loop |
/// | upstream jitter | ≥ 30 ms | ≥ 50 ms | ≥ 150 ms | common VoIP guidance (30 ms) and ITU-T Y.1541's 50 ms delay-variation bound for interactive classes |
/// | time to first frame | ≥ 2000 ms | ≥ 5000 ms | ≥ 15000 ms | how long a user waits before giving up; graded by preflight only |
/// | encoder CPU-limited share | ≥ 0.5 | never | never | as for bandwidth: the encoder lowers resolution and keeps going |
/// | received / expected fps | ≤ 0.8 | ≤ 0.5 | ≤ 0.2 | motion looks choppy below 80 % of the model's rate and is a slideshow below a fifth |
/// | stalled share | never | ≥ 0.4 | ≥ 0.6 | two stalled samples in five are poor, three critical; one alone is a blip |
pub const THRESHOLDS: [Row; 11] = [
    row(
        Metric::BandwidthRatio,
        LimitingFactor::Bandwidth,
        Worse::Lower,
        [0.8, 0.5, 0.2],
    ),
    row(
        Metric::BandwidthLimited,
        LimitingFactor::Bandwidth,
        Worse::Higher,
        [0.5, NEVER, NEVER],
    ),
    row(
        Metric::PacketLoss,
        LimitingFactor::Loss,
        Worse::Higher,
        [0.02, 0.10, 0.25],
    ),
    row(
        Metric::G2gDropRatio,
        LimitingFactor::Loss,
        Worse::Higher,
        [0.05, 0.20, 0.50],
    ),
    row(
        Metric::G2g,
        LimitingFactor::Latency,
        Worse::Higher,
        [400.0, 800.0, 2000.0],
    ),
    row(
        Metric::Rtt,
        LimitingFactor::Latency,
        Worse::Higher,
        [150.0, 400.0, 1000.0],
    ),
    row(
        Metric::UpstreamJitter,
        LimitingFactor::Latency,
        Worse::Higher,
        [30.0, 50.0, 150.0],
    ),
    row(
        Metric::Ttff,
        LimitingFactor::Latency,
        Worse::Higher,
        [2000.0, 5000.0, 15_000.0],
    ),
    row(
        Metric::CpuLimited,
        LimitingFactor::Cpu,
        Worse::Higher,
        [0.5, NEVER, NEVER],
    ),
    row(
        Metric::FpsRatio,
        LimitingFactor::Stall,
        Worse::Lower,
        [0.8, 0.5, 0.2],
    ),
    row(
        Metric::Stalled,
        LimitingFactor::Stall,
        Worse::Higher,
        [NEVER, 0.4, 0.6],
    ),
];

/// What gets graded: the metrics plus the derived ratios and shares. One sample's figures
/// (shares are 0 or 1) or a window's smoothed ones.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Figures {
    pub(crate) metrics: Metrics,
    /// Available / wanted upstream bitrate.
    pub(crate) bandwidth_ratio: Option<f64>,
    /// Received / expected fps.
    pub(crate) fps_ratio: Option<f64>,
    pub(crate) bandwidth_limited: Option<f64>,
    pub(crate) cpu_limited: Option<f64>,
    pub(crate) stalled: Option<f64>,
}

/// A figure that is finite and not negative.
pub(crate) fn non_negative(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

/// A fraction: not negative, at most 1.
fn fraction(v: Option<f64>) -> Option<f64> {
    non_negative(v).map(|x| x.min(1.0))
}

/// `num / den` when both are usable and `den > 0`.
fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    let den = non_negative(den).filter(|d| *d > 0.0)?;
    Some(non_negative(num)? / den).filter(|r| r.is_finite())
}

/// The larger of two optional figures; either alone when the other is unknown.
fn worse(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn share(flag: Option<bool>) -> Option<f64> {
    flag.map(|b| if b { 1.0 } else { 0.0 })
}

/// The median of the values (mean of the two middle ones for an even count).
pub(crate) fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0u32), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / f64::from(count))
}

impl Figures {
    /// One sample's figures, cleaned. Time to first frame is left out: it is not smoothed.
    pub(crate) fn of(s: &QualitySample) -> Figures {
        let fps = non_negative(s.fps);
        let limited = |reason| s.limitation.map(|r| r == reason);
        Figures {
            metrics: Metrics {
                rtt_ms: non_negative(s.rtt_ms),
                g2g_ms: non_negative(s.g2g_ms),
                ttff_ms: None,
                fps,
                packet_loss: worse(fraction(s.packet_loss), fraction(s.upstream_loss)),
                upstream_jitter_ms: non_negative(s.upstream_jitter_ms),
                g2g_drop_ratio: fraction(s.g2g_drop_ratio),
                available_upstream_kbps: non_negative(s.available_upstream_kbps),
            },
            bandwidth_ratio: ratio(s.available_upstream_kbps, s.wanted_upstream_kbps),
            fps_ratio: ratio(s.fps, s.expected_fps),
            bandwidth_limited: share(limited(LimitationReason::Bandwidth)),
            cpu_limited: share(limited(LimitationReason::Cpu)),
            stalled: share(s.stalled.or(fps.map(|f| f < STALL_FPS))),
        }
    }

    /// Medians of the measured figures and shares of the yes/no ones over `items`. A figure
    /// known in half of the items or fewer is unknown: one stray value must not stand for
    /// the whole window, and a figure that stopped coming fades out as the median would.
    pub(crate) fn smooth(items: &[Figures]) -> Figures {
        let total = items.len();
        let known = |f: fn(&Figures) -> Option<f64>| {
            let values = items.iter().filter_map(f);
            (values.clone().count() * 2 > total).then_some(values)
        };
        let med = |f| known(f).and_then(median);
        let avg = |f| known(f).and_then(mean);
        Figures {
            metrics: Metrics {
                rtt_ms: med(|f| f.metrics.rtt_ms),
                g2g_ms: med(|f| f.metrics.g2g_ms),
                ttff_ms: None,
                fps: med(|f| f.metrics.fps),
                packet_loss: med(|f| f.metrics.packet_loss),
                upstream_jitter_ms: med(|f| f.metrics.upstream_jitter_ms),
                g2g_drop_ratio: med(|f| f.metrics.g2g_drop_ratio),
                available_upstream_kbps: med(|f| f.metrics.available_upstream_kbps),
            },
            bandwidth_ratio: med(|f| f.bandwidth_ratio),
            fps_ratio: med(|f| f.fps_ratio),
            bandwidth_limited: avg(|f| f.bandwidth_limited),
            cpu_limited: avg(|f| f.cpu_limited),
            stalled: avg(|f| f.stalled),
        }
    }

    fn value(&self, metric: Metric) -> Option<f64> {
        let m = &self.metrics;
        let loss_cuts_rate = m.packet_loss.is_some_and(|l| l >= LOSS_CUTS_RATE);
        match metric {
            // Under heavy loss the estimate follows the loss (see the module documentation).
            Metric::BandwidthRatio | Metric::BandwidthLimited if loss_cuts_rate => None,
            Metric::BandwidthRatio => self.bandwidth_ratio,
            Metric::BandwidthLimited => self.bandwidth_limited,
            Metric::PacketLoss => m.packet_loss,
            Metric::G2gDropRatio => m.g2g_drop_ratio,
            Metric::G2g => m.g2g_ms,
            // Measured glass-to-glass latency includes the round trip and replaces it.
            Metric::Rtt if m.g2g_ms.is_some() => None,
            Metric::Rtt => m.rtt_ms,
            Metric::UpstreamJitter => m.upstream_jitter_ms,
            Metric::Ttff => m.ttff_ms,
            Metric::CpuLimited => self.cpu_limited,
            Metric::FpsRatio => self.fps_ratio,
            Metric::Stalled => self.stalled,
        }
    }

    /// Every known figure with its level, in table order.
    pub(crate) fn findings(&self) -> impl Iterator<Item = Finding> + '_ {
        THRESHOLDS.iter().filter_map(|row| {
            let value = self.value(row.metric)?;
            Some(Finding {
                row: *row,
                value,
                quality: row.bounds.level(value),
            })
        })
    }

    /// The worst level among the known figures and its factor; good and `none` when none is
    /// known or all are good.
    pub(crate) fn grade(&self) -> Level {
        self.findings().fold(GOOD, |worst, f| {
            if f.quality > worst.quality {
                Level {
                    quality: f.quality,
                    factor: f.row.factor,
                }
            } else {
                worst
            }
        })
    }
}

/// One graded figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Finding {
    pub(crate) row: Row,
    pub(crate) value: f64,
    pub(crate) quality: Quality,
}

/// A quality with its limiting factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Level {
    pub(crate) quality: Quality,
    pub(crate) factor: LimitingFactor,
}

const GOOD: Level = Level {
    quality: Quality::Good,
    factor: LimitingFactor::None,
};

/// Consecutive candidates that differ from the verdict the same way.
#[derive(Debug, Clone, Copy)]
struct Streak {
    /// `Greater`: worse quality; `Less`: better; `Equal`: same quality, another factor.
    direction: Ordering,
    count: u32,
    /// What the verdict becomes when the streak is long enough.
    target: Level,
}

/// Turns samples into connection-quality verdicts. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct QualityMonitor {
    /// Cleaned figures of the recent samples, with their times, oldest first.
    window: VecDeque<(f64, Figures)>,
    /// Time of the first sample with a finite time.
    first_ms: Option<f64>,
    /// Latest sample time (never goes backwards).
    last_ms: Option<f64>,
    /// Latest reported time to first frame.
    ttff_ms: Option<f64>,
    streak: Option<Streak>,
    current: Option<Verdict>,
}

impl QualityMonitor {
    /// A monitor that has seen no sample.
    pub fn new() -> Self {
        QualityMonitor::default()
    }

    /// The current verdict; `None` before the first sample.
    pub fn current(&self) -> Option<&Verdict> {
        self.current.as_ref()
    }

    /// Feeds one sample taken at `now_ms` (one monotonic clock, e.g. `performance.now()`).
    /// Returns the verdict when its quality or limiting factor changed (always on the first
    /// sample); the metrics and `warming_up` of [`Self::current`] change on every sample
    /// without an event. A time that is not finite, or earlier than the previous one, counts
    /// as the previous time.
    pub fn update(&mut self, sample: &QualitySample, now_ms: f64) -> Option<Verdict> {
        let now = match (now_ms.is_finite(), self.last_ms) {
            (true, Some(last)) => now_ms.max(last),
            (true, None) => now_ms,
            (false, last) => last.unwrap_or(0.0),
        };
        self.last_ms = Some(now);
        if now_ms.is_finite() && self.first_ms.is_none() {
            self.first_ms = Some(now);
        }
        if let Some(ttff) = non_negative(sample.ttff_ms) {
            self.ttff_ms = Some(ttff);
        }

        self.window.push_back((now, Figures::of(sample)));
        while self.window.len() > WINDOW_SAMPLES
            || self
                .window
                .front()
                .is_some_and(|(t, _)| now - t > MAX_SAMPLE_AGE_MS)
        {
            self.window.pop_front();
        }
        let window: Vec<Figures> = self.window.iter().map(|(_, f)| *f).collect();
        let figures = Figures::smooth(&window);

        let warming_up = self.first_ms.is_none_or(|first| now - first < WARMUP_MS);
        let mut candidate = figures.grade();
        if warming_up {
            candidate.quality = candidate.quality.min(Quality::Fair);
        }
        let previous = self.current.map(|v| Level {
            quality: v.quality,
            factor: v.limiting_factor,
        });
        let level = match previous {
            Some(current) => self.step(current, candidate),
            None => candidate,
        };
        let verdict = Verdict {
            quality: level.quality,
            limiting_factor: level.factor,
            warming_up,
            metrics: Metrics {
                ttff_ms: self.ttff_ms,
                ..figures.metrics
            },
        };
        self.current = Some(verdict);
        (previous != Some(level)).then_some(verdict)
    }

    /// Applies the hysteresis to one candidate; returns the verdict's new level.
    fn step(&mut self, current: Level, candidate: Level) -> Level {
        if candidate == current {
            self.streak = None;
            return current;
        }
        let direction = candidate.quality.cmp(&current.quality);
        let streak = match self.streak {
            Some(s) if s.direction == direction => Streak {
                direction,
                count: s.count.saturating_add(1),
                target: match direction {
                    // Going down: the mildest of the streak; going up: the worst.
                    Ordering::Greater if s.target.quality < candidate.quality => s.target,
                    Ordering::Less if s.target.quality > candidate.quality => s.target,
                    _ => candidate,
                },
            },
            _ => Streak {
                direction,
                count: 1,
                target: candidate,
            },
        };
        let needed = if direction == Ordering::Less {
            UP_AFTER
        } else {
            DOWN_AFTER
        };
        if streak.count >= needed {
            self.streak = None;
            streak.target
        } else {
            self.streak = Some(streak);
            current
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Samples once a second, like the browser layer's stats interval.
    const INTERVAL_MS: f64 = 1000.0;
    /// Samples until the warm-up is over.
    const WARMUP_SAMPLES: usize = (WARMUP_MS / INTERVAL_MS) as usize;
    /// Samples for a new level to become the median of the window.
    const MEDIAN_FLIP: usize = WINDOW_SAMPLES / 2 + 1;

    /// A healthy connection: every input present and good.
    fn good() -> QualitySample {
        QualitySample {
            rtt_ms: Some(40.0),
            g2g_ms: None,
            g2g_drop_ratio: Some(0.0),
            ttff_ms: Some(900.0),
            fps: Some(30.0),
            expected_fps: Some(30.0),
            packet_loss: Some(0.0),
            upstream_loss: Some(0.0),
            upstream_jitter_ms: Some(5.0),
            available_upstream_kbps: Some(3000.0),
            wanted_upstream_kbps: Some(2500.0),
            limitation: Some(LimitationReason::None),
            stalled: Some(false),
        }
    }

    /// A monitor fed one sample per interval; remembers the events with their sample index.
    #[derive(Default)]
    struct Feed {
        monitor: QualityMonitor,
        next: usize,
        events: Vec<(usize, Verdict)>,
    }

    impl Feed {
        fn push(&mut self, sample: QualitySample, count: usize) {
            for _ in 0..count {
                let now = self.next as f64 * INTERVAL_MS;
                if let Some(v) = self.monitor.update(&sample, now) {
                    self.events.push((self.next, v));
                }
                self.next += 1;
            }
        }

        /// Good samples through the warm-up and a full window.
        fn warmed_up() -> Feed {
            let mut feed = Feed::default();
            feed.push(good(), WARMUP_SAMPLES + WINDOW_SAMPLES);
            feed
        }

        fn levels(&self) -> Vec<(usize, Quality, LimitingFactor)> {
            self.events
                .iter()
                .map(|(i, v)| (*i, v.quality, v.limiting_factor))
                .collect()
        }

        fn current(&self) -> Verdict {
            *self.monitor.current().expect("a sample was fed")
        }
    }

    #[test]
    fn steady_good_stays_good_and_emits_once() {
        let mut feed = Feed::default();
        feed.push(good(), 60);
        assert_eq!(
            feed.levels(),
            vec![(0, Quality::Good, LimitingFactor::None)]
        );
        assert!(
            feed.events[0].1.warming_up,
            "the first verdict is in the warm-up"
        );
        let now = feed.current();
        assert!(!now.warming_up, "the warm-up ends without an event");
        assert_eq!(now.metrics.rtt_ms, Some(40.0));
        assert_eq!(now.metrics.fps, Some(30.0));
        assert_eq!(now.metrics.ttff_ms, Some(900.0));
        assert_eq!(now.metrics.available_upstream_kbps, Some(3000.0));
        assert_eq!(now.metrics.g2g_ms, None, "not measured");
    }

    #[test]
    fn no_verdict_before_the_first_sample() {
        assert_eq!(QualityMonitor::new().current(), None);
    }

    #[test]
    fn a_delay_step_degrades_to_poor_latency_and_recovers_more_slowly() {
        let mut feed = Feed::warmed_up();
        let step = feed.next;
        let slow = QualitySample {
            rtt_ms: Some(500.0),
            ..good()
        };
        feed.push(slow, 20);
        let back = feed.next;
        feed.push(good(), 20);

        let down = step + MEDIAN_FLIP - 1 + DOWN_AFTER as usize - 1;
        let up = back + MEDIAN_FLIP - 1 + UP_AFTER as usize - 1;
        assert_eq!(
            feed.levels(),
            vec![
                (0, Quality::Good, LimitingFactor::None),
                (down, Quality::Poor, LimitingFactor::Latency),
                (up, Quality::Good, LimitingFactor::None),
            ]
        );
        assert!(
            up - back > down - step,
            "upgrades are slower than downgrades"
        );
        assert_eq!(feed.events[1].1.metrics.rtt_ms, Some(500.0));
    }

    #[test]
    fn metrics_follow_every_sample_between_events() {
        let mut feed = Feed::warmed_up();
        for rtt in [50.0, 60.0, 70.0, 80.0, 90.0] {
            feed.push(
                QualitySample {
                    rtt_ms: Some(rtt),
                    ..good()
                },
                1,
            );
        }
        assert_eq!(feed.events.len(), 1, "still good: no event");
        assert_eq!(
            feed.current().metrics.rtt_ms,
            Some(70.0),
            "median of the last five"
        );
    }

    #[test]
    fn packet_loss_degrades_with_limiting_factor_loss() {
        let mut feed = Feed::warmed_up();
        let lossy = QualitySample {
            packet_loss: Some(0.15),
            ..good()
        };
        feed.push(lossy, 10);
        let last = feed.events.last().expect("an event").1;
        assert_eq!(
            (last.quality, last.limiting_factor),
            (Quality::Poor, LimitingFactor::Loss)
        );
        assert_eq!(last.metrics.packet_loss, Some(0.15));
    }

    #[test]
    fn lost_latency_probes_count_as_loss() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                g2g_drop_ratio: Some(0.3),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Loss))
        );
    }

    #[test]
    fn a_rate_cap_is_limited_by_bandwidth() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                available_upstream_kbps: Some(800.0),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Bandwidth)),
            "800 of 2500 kbit/s wanted"
        );
        assert_eq!(feed.current().metrics.available_upstream_kbps, Some(800.0));

        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                limitation: Some(LimitationReason::Bandwidth),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Fair, LimitingFactor::Bandwidth)),
            "the encoder says bandwidth limits it"
        );
    }

    #[test]
    fn no_video_is_a_critical_stall() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                fps: Some(0.0),
                stalled: Some(true),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Critical, LimitingFactor::Stall))
        );
        assert_eq!(feed.current().metrics.fps, Some(0.0));
    }

    #[test]
    fn fps_alone_tells_a_stall_when_the_flag_is_missing() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                fps: Some(0.2),
                expected_fps: None,
                stalled: None,
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Critical, LimitingFactor::Stall))
        );
    }

    #[test]
    fn a_low_frame_rate_is_limited_by_stall() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                fps: Some(12.0),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Stall)),
            "12 of 30 fps"
        );
    }

    #[test]
    fn a_cpu_limited_encoder_is_limited_by_cpu() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                limitation: Some(LimitationReason::Cpu),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Fair, LimitingFactor::Cpu))
        );
    }

    #[test]
    fn a_single_spike_does_not_change_the_verdict() {
        let mut feed = Feed::warmed_up();
        let spike = QualitySample {
            rtt_ms: Some(3000.0),
            g2g_ms: Some(9000.0),
            g2g_drop_ratio: Some(1.0),
            fps: Some(0.0),
            packet_loss: Some(0.9),
            upstream_jitter_ms: Some(500.0),
            available_upstream_kbps: Some(10.0),
            limitation: Some(LimitationReason::Cpu),
            stalled: Some(true),
            ..good()
        };
        for _ in 0..5 {
            feed.push(spike, 1);
            feed.push(good(), 2 * WINDOW_SAMPLES);
        }
        assert_eq!(
            feed.levels(),
            vec![(0, Quality::Good, LimitingFactor::None)]
        );
    }

    #[test]
    fn warm_up_reports_fair_at_worst_then_the_truth() {
        let mut feed = Feed::default();
        let no_video = QualitySample {
            fps: Some(0.0),
            stalled: Some(true),
            ..good()
        };
        feed.push(no_video, WARMUP_SAMPLES);
        assert_eq!(
            feed.levels(),
            vec![(0, Quality::Fair, LimitingFactor::Stall)],
            "capped at fair while warming up"
        );
        assert!(feed.current().warming_up);
        feed.push(no_video, 10);
        assert_eq!(
            feed.levels().get(1),
            Some(&(
                WARMUP_SAMPLES + DOWN_AFTER as usize - 1,
                Quality::Critical,
                LimitingFactor::Stall
            ))
        );
        assert!(!feed.current().warming_up);
    }

    #[test]
    fn missing_inputs_give_null_metrics_and_no_grade() {
        let mut feed = Feed::default();
        feed.push(QualitySample::default(), 20);
        assert_eq!(
            feed.levels(),
            vec![(0, Quality::Good, LimitingFactor::None)]
        );
        assert_eq!(feed.current().metrics, Metrics::default());

        // Garbage counts as missing.
        let mut feed = Feed::default();
        let garbage = QualitySample {
            rtt_ms: Some(f64::NAN),
            g2g_ms: Some(f64::INFINITY),
            g2g_drop_ratio: Some(-1.0),
            ttff_ms: Some(f64::NEG_INFINITY),
            fps: Some(-3.0),
            expected_fps: Some(0.0),
            packet_loss: Some(f64::NAN),
            upstream_loss: Some(-0.5),
            upstream_jitter_ms: Some(-0.1),
            available_upstream_kbps: Some(f64::NAN),
            wanted_upstream_kbps: Some(0.0),
            limitation: None,
            stalled: None,
        };
        feed.push(garbage, 20);
        assert_eq!(
            feed.levels(),
            vec![(0, Quality::Good, LimitingFactor::None)]
        );
        assert_eq!(feed.current().metrics, Metrics::default());
    }

    #[test]
    fn an_input_that_stops_coming_fades_out_with_the_median() {
        let mut feed = Feed::warmed_up();
        let no_rtt = QualitySample {
            rtt_ms: None,
            ..good()
        };
        feed.push(no_rtt, MEDIAN_FLIP - 1);
        assert_eq!(
            feed.current().metrics.rtt_ms,
            Some(40.0),
            "still most of the window"
        );
        feed.push(no_rtt, 1);
        assert_eq!(feed.current().metrics.rtt_ms, None);
        assert_eq!(
            feed.current().metrics.ttff_ms,
            Some(900.0),
            "kept once known"
        );
    }

    #[test]
    fn fractions_above_one_are_clamped() {
        let mut feed = Feed::default();
        feed.push(
            QualitySample {
                packet_loss: Some(7.0),
                ..good()
            },
            1,
        );
        assert_eq!(feed.current().metrics.packet_loss, Some(1.0));
    }

    #[test]
    fn glass_to_glass_latency_overrides_rtt() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                rtt_ms: Some(600.0),
                g2g_ms: Some(300.0),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels(),
            vec![(0, Quality::Good, LimitingFactor::None)],
            "a high RTT does not count when the measured glass-to-glass latency is fine"
        );
        assert_eq!(feed.current().metrics.rtt_ms, Some(600.0), "still reported");

        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                g2g_ms: Some(1000.0),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Latency)),
            "a low RTT does not hide a slow loop"
        );
    }

    #[test]
    fn equally_bad_dimensions_name_the_earlier_factor() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                rtt_ms: Some(500.0),
                packet_loss: Some(0.15),
                fps: Some(12.0),
                ..good()
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Loss)),
            "loss, latency and stall all poor: loss comes first"
        );
    }

    #[test]
    fn the_limiting_factor_changes_at_the_same_quality() {
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                rtt_ms: Some(500.0),
                ..good()
            },
            10,
        );
        let switch = feed.next;
        feed.push(
            QualitySample {
                packet_loss: Some(0.15),
                ..good()
            },
            10,
        );
        let levels = feed.levels();
        assert_eq!(
            levels.get(2),
            Some(&(
                switch + MEDIAN_FLIP - 1 + DOWN_AFTER as usize - 1,
                Quality::Poor,
                LimitingFactor::Loss
            ))
        );
        assert_eq!(levels.len(), 3, "no good in between");
    }

    #[test]
    fn figures_from_before_a_long_gap_do_not_count() {
        let mut feed = Feed::warmed_up();
        feed.next += 60; // a minute without samples (throttled background tab)
        let resumed = feed.next;
        feed.push(
            QualitySample {
                rtt_ms: Some(500.0),
                ..good()
            },
            5,
        );
        assert_eq!(
            feed.levels().get(1),
            Some(&(
                resumed + DOWN_AFTER as usize - 1,
                Quality::Poor,
                LimitingFactor::Latency
            )),
            "the window starts afresh"
        );
    }

    #[test]
    fn a_clock_going_backwards_does_not_restart_the_warm_up() {
        let mut m = QualityMonitor::new();
        m.update(&good(), 10_000.0);
        m.update(&good(), 20_000.0);
        m.update(&good(), 0.0);
        assert_eq!(m.current().map(|v| v.warming_up), Some(false));
        m.update(&good(), f64::NAN);
        assert_eq!(m.current().map(|v| v.warming_up), Some(false));
    }

    #[test]
    fn bounds_are_inclusive_in_both_directions() {
        let rtt = THRESHOLDS
            .iter()
            .find(|r| r.metric == Metric::Rtt)
            .expect("an RTT row")
            .bounds;
        assert_eq!(rtt.level(149.9), Quality::Good);
        assert_eq!(rtt.level(150.0), Quality::Fair);
        assert_eq!(rtt.level(400.0), Quality::Poor);
        assert_eq!(rtt.level(1000.0), Quality::Critical);
        let fps = THRESHOLDS
            .iter()
            .find(|r| r.metric == Metric::FpsRatio)
            .expect("an fps row")
            .bounds;
        assert_eq!(fps.level(1.0), Quality::Good);
        assert_eq!(fps.level(0.8), Quality::Fair);
        assert_eq!(fps.level(0.5), Quality::Poor);
        assert_eq!(fps.level(0.0), Quality::Critical);
    }

    #[test]
    fn every_metric_has_one_row() {
        for m in [
            Metric::BandwidthRatio,
            Metric::BandwidthLimited,
            Metric::PacketLoss,
            Metric::G2gDropRatio,
            Metric::G2g,
            Metric::Rtt,
            Metric::UpstreamJitter,
            Metric::Ttff,
            Metric::CpuLimited,
            Metric::FpsRatio,
            Metric::Stalled,
        ] {
            assert_eq!(
                THRESHOLDS.iter().filter(|r| r.metric == m).count(),
                1,
                "{m:?}"
            );
        }
    }

    #[test]
    fn names_for_js() {
        assert_eq!(Quality::Critical.as_str(), "critical");
        assert_eq!(LimitingFactor::None.as_str(), "none");
        assert_eq!(LimitingFactor::Bandwidth.as_str(), "bandwidth");
        assert_eq!(LimitationReason::parse("cpu"), LimitationReason::Cpu);
        assert_eq!(
            LimitationReason::parse("bandwidth"),
            LimitationReason::Bandwidth
        );
        assert_eq!(LimitationReason::parse("none"), LimitationReason::None);
        assert_eq!(LimitationReason::parse("other"), LimitationReason::Other);
        assert_eq!(LimitationReason::parse("CPU?"), LimitationReason::Other);
    }

    /// Two polls one second apart of a report with inbound video and audio, outbound video and
    /// two succeeded candidate pairs (as on IVS: a publishing and a subscribing connection).
    fn two_polls(reason: &str) -> (StatsSnapshot, StatsSnapshot) {
        use crate::core::json::parse;
        use crate::core::stats::{entries_from_json, StatsParser};
        let report = |recv_v: u32, lost_v: u32, recv_a: u32, lost_a: u32| {
            let text = format!(
                r#"[
                {{"type": "inbound-rtp", "id": "IV", "kind": "video", "packetsReceived": {recv_v}, "packetsLost": {lost_v}, "framesPerSecond": 24}},
                {{"type": "inbound-rtp", "id": "IA", "kind": "audio", "packetsReceived": {recv_a}, "packetsLost": {lost_a}}},
                {{"type": "outbound-rtp", "id": "OV", "kind": "video", "framesPerSecond": 20, "qualityLimitationReason": "{reason}"}},
                {{"type": "candidate-pair", "id": "P1", "state": "succeeded", "bytesSent": 1000, "availableOutgoingBitrate": 300000, "currentRoundTripTime": 0.05}},
                {{"type": "candidate-pair", "id": "P2", "state": "succeeded", "bytesSent": 90000, "availableOutgoingBitrate": 1200000, "currentRoundTripTime": 0.05}}
                ]"#
            );
            entries_from_json(&parse(&text).expect("JSON"))
        };
        let mut parser = StatsParser::new();
        let first = parser.parse(&report(100, 0, 50, 0), 10_000.0);
        let second = parser.parse(&report(160, 6, 100, 4), 11_000.0);
        (first, second)
    }

    #[test]
    fn a_sample_from_stats_reads_each_figure() {
        let (_, snap) = two_polls("bandwidth");
        let s = QualitySample::from_stats(&snap, Some(25.0));
        assert_eq!(s.rtt_ms, Some(50.0));
        assert_eq!(s.fps, Some(24.0));
        assert_eq!(
            s.expected_fps,
            Some(20.0),
            "no faster than the camera is sent"
        );
        assert_eq!(
            s.packet_loss,
            Some(10.0 / 120.0),
            "video and audio together"
        );
        assert_eq!(
            s.available_upstream_kbps,
            Some(1200.0),
            "the pair that sends the most"
        );
        assert_eq!(s.wanted_upstream_kbps, Some(WANTED_UPSTREAM_KBPS));
        assert_eq!(s.limitation, Some(LimitationReason::Bandwidth));
        assert_eq!(
            (
                s.g2g_ms,
                s.ttff_ms,
                s.upstream_jitter_ms,
                s.upstream_loss,
                s.stalled
            ),
            (None, None, None, None, None),
            "left to the caller"
        );
    }

    #[test]
    fn the_first_poll_has_no_loss_figure() {
        let (first, _) = two_polls("none");
        let s = QualitySample::from_stats(&first, Some(25.0));
        assert_eq!(s.packet_loss, None, "no interval yet");
        assert_eq!(s.limitation, Some(LimitationReason::None));
    }

    #[test]
    fn a_receiving_only_sample_grades_no_bandwidth() {
        let (_, mut snap) = two_polls("none");
        snap.outbound_video = None;
        let s = QualitySample::from_stats(&snap, Some(25.0));
        assert_eq!(s.wanted_upstream_kbps, None);
        assert_eq!(s.expected_fps, Some(25.0), "the model's rate");
        assert_eq!(s.limitation, None);
        assert_eq!(QualitySample::from_stats(&snap, None).expected_fps, None);
        let empty = QualitySample::from_stats(&StatsSnapshot::default(), Some(25.0));
        assert_eq!(
            (empty.fps, empty.rtt_ms, empty.packet_loss),
            (None, None, None)
        );
    }

    #[test]
    fn a_real_chromium_report_gives_a_good_sample() {
        use crate::core::json::parse;
        use crate::core::stats::{entries_from_json, StatsParser};
        let read = |text: &str| entries_from_json(&parse(text).expect("fixture is JSON"));
        let mut parser = StatsParser::new();
        parser.parse(
            &read(include_str!(
                "../../tests/fixtures/stats/chromium-sender-1.json"
            )),
            10_000.0,
        );
        let snap = parser.parse(
            &read(include_str!(
                "../../tests/fixtures/stats/chromium-sender-2.json"
            )),
            11_000.0,
        );
        let s = QualitySample::from_stats(&snap, Some(25.0));
        assert!(s.available_upstream_kbps.is_some_and(|k| k > 0.0), "{s:?}");
        assert_eq!(s.wanted_upstream_kbps, Some(WANTED_UPSTREAM_KBPS));
        assert!(s.rtt_ms.is_some(), "{s:?}");
        let mut m = QualityMonitor::new();
        let v = m.update(&s, 0.0).expect("a first verdict");
        assert_eq!(v.metrics.rtt_ms, s.rtt_ms);
    }

    #[test]
    fn heavy_loss_is_not_blamed_on_bandwidth() {
        // Congestion control cut the estimate because of the loss.
        let lossy = QualitySample {
            packet_loss: Some(0.15),
            available_upstream_kbps: Some(100.0),
            wanted_upstream_kbps: Some(WANTED_UPSTREAM_KBPS),
            limitation: Some(LimitationReason::Bandwidth),
            ..good()
        };
        let mut feed = Feed::warmed_up();
        feed.push(lossy, 10);
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Loss))
        );
        assert_eq!(feed.current().metrics.available_upstream_kbps, Some(100.0));

        // Light loss leaves the estimate to the link: a low one is bandwidth.
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                packet_loss: Some(0.03),
                ..lossy
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Critical, LimitingFactor::Bandwidth))
        );

        // Retransmissions hid the inbound loss; the server saw the upstream lose 15 %.
        let mut feed = Feed::warmed_up();
        feed.push(
            QualitySample {
                packet_loss: Some(0.03),
                upstream_loss: Some(0.15),
                ..lossy
            },
            10,
        );
        assert_eq!(
            feed.levels().last().map(|l| (l.1, l.2)),
            Some((Quality::Poor, LimitingFactor::Loss))
        );
        assert_eq!(feed.current().metrics.packet_loss, Some(0.15));
    }

    #[test]
    fn the_resent_share_is_upstream_loss_over_the_interval() {
        use crate::core::json::parse;
        use crate::core::stats::{entries_from_json, StatsParser};
        let report = |id: &str, sent: u32, resent: u32| {
            let text = format!(
                r#"[{{"type": "outbound-rtp", "id": "{id}", "kind": "video", "packetsSent": {sent}, "retransmittedPacketsSent": {resent}}}]"#
            );
            entries_from_json(&parse(&text).expect("JSON"))
        };
        let mut parser = StatsParser::new();
        let mut share = ResentShare::default();
        let mut poll =
            |id, sent, resent, t| share.update(&parser.parse(&report(id, sent, resent), t));
        assert_eq!(poll("OV", 1000, 10, 1000.0), None, "no interval yet");
        assert_eq!(poll("OV", 1200, 40, 2000.0), Some(0.15));
        assert_eq!(poll("OV", 1200, 40, 3000.0), None, "nothing sent");
        assert_eq!(poll("OV2", 50, 0, 4000.0), None, "a new stats object");
        assert_eq!(poll("OV2", 150, 0, 5000.0), Some(0.0));
        assert_eq!(poll("OV2", 100, 0, 6000.0), None, "counters went backwards");
        assert_eq!(
            share.update(&StatsSnapshot::default()),
            None,
            "no outbound video"
        );
    }

    #[test]
    fn the_probe_window_gives_median_p90_and_drops() {
        let mut w = ProbeWindow::default();
        assert_eq!(
            (w.median_ms(0.0), w.p90_ms(0.0), w.drop_ratio(0.0)),
            (None, None, None)
        );
        for (i, l) in [
            100.0, 300.0, 200.0, 400.0, 500.0, 150.0, 250.0, 350.0, 450.0, 900.0,
        ]
        .into_iter()
        .enumerate()
        {
            w.received(l, i as f64 * 1000.0);
        }
        w.lost(10_000.0);
        w.received(f64::NAN, 10_000.0);
        assert_eq!(w.median_ms(10_000.0), Some(325.0));
        assert_eq!(w.p90_ms(10_000.0), Some(500.0), "9th of 10");
        assert_eq!(w.drop_ratio(10_000.0), Some(1.0 / 11.0));
        // 30 s later only the loss at 10 s and what came after is left.
        assert_eq!(w.median_ms(39_500.0), None);
        assert_eq!(w.drop_ratio(39_500.0), Some(1.0));
        // At most PROBE_WINDOW outcomes are kept.
        for i in 0..PROBE_WINDOW {
            w.received(40.0, 11_000.0 + i as f64);
        }
        assert_eq!(w.drop_ratio(12_000.0), Some(0.0));
        let g = w.to_json(Some(850.0), 12_000.0);
        assert_eq!(g.num("ttffMs"), Some(850.0));
        assert_eq!(g.num("medianMs"), Some(40.0));
        assert_eq!(g.num("p90Ms"), Some(40.0));
    }

    #[test]
    fn the_verdict_payload_names_every_field() {
        let mut feed = Feed::default();
        feed.push(
            QualitySample {
                g2g_ms: Some(420.0),
                ..good()
            },
            1,
        );
        let j = feed.current().to_json();
        assert_eq!(j.str("quality"), Some("fair"));
        assert_eq!(j.str("limitingFactor"), Some("latency"));
        assert_eq!(j.bool("warmingUp"), Some(true));
        let m = j.get("metrics").expect("metrics");
        assert_eq!(m.num("rttMs"), Some(40.0));
        assert_eq!(m.num("g2gMs"), Some(420.0));
        assert_eq!(m.num("ttffMs"), Some(900.0));
        assert_eq!(m.num("fps"), Some(30.0));
        assert_eq!(m.num("packetLoss"), Some(0.0));
        assert_eq!(m.num("upstreamJitterMs"), Some(5.0));
        assert_eq!(m.num("g2gDropRatio"), Some(0.0));
        assert_eq!(m.num("availableUpstreamKbps"), Some(3000.0));
        let empty = QualityMonitor::new()
            .update(&QualitySample::default(), 0.0)
            .expect("a verdict")
            .to_json();
        let m = empty.get("metrics").expect("metrics");
        assert_eq!(m.get("rttMs"), Some(&Json::Null), "unknown is null");
        assert_eq!(m.as_object().map(<[_]>::len), Some(8));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn figure() -> impl Strategy<Value = Option<f64>> {
            prop_oneof![
                Just(None),
                (0.0f64..5000.0).prop_map(Some),
                (0.0f64..1.0).prop_map(Some),
                any::<f64>().prop_map(Some),
            ]
        }

        fn sample() -> impl Strategy<Value = QualitySample> {
            let reason = prop_oneof![
                Just(None),
                Just(Some(LimitationReason::None)),
                Just(Some(LimitationReason::Cpu)),
                Just(Some(LimitationReason::Bandwidth)),
                Just(Some(LimitationReason::Other)),
            ];
            (
                (figure(), figure(), figure(), figure(), figure(), figure()),
                (figure(), figure(), figure(), figure(), figure()),
                reason,
                any::<Option<bool>>(),
            )
                .prop_map(
                    |((a, b, c, d, e, f), (g, h, i, j, k), limitation, stalled)| QualitySample {
                        rtt_ms: a,
                        g2g_ms: b,
                        g2g_drop_ratio: c,
                        ttff_ms: d,
                        fps: e,
                        expected_fps: f,
                        packet_loss: g,
                        upstream_loss: k,
                        upstream_jitter_ms: h,
                        available_upstream_kbps: i,
                        wanted_upstream_kbps: j,
                        limitation,
                        stalled,
                    },
                )
        }

        fn time() -> impl Strategy<Value = f64> {
            prop_oneof![0.0f64..120_000.0, any::<f64>()]
        }

        fn clean(v: Option<f64>, max: f64) -> bool {
            v.is_none_or(|x| x.is_finite() && (0.0..=max).contains(&x))
        }

        proptest! {
            #[test]
            fn events_only_on_change_and_never_a_panic(
                steps in prop::collection::vec((sample(), time()), 1..40)
            ) {
                let mut m = QualityMonitor::new();
                for (i, (s, t)) in steps.iter().enumerate() {
                    let before = m.current().map(|v| (v.quality, v.limiting_factor));
                    let event = m.update(s, *t);
                    let now = *m.current().expect("a verdict after a sample");
                    let after = (now.quality, now.limiting_factor);
                    prop_assert_eq!(event.is_some(), before != Some(after));
                    prop_assert!(i > 0 || event.is_some(), "the first sample emits");
                    if let Some(e) = event {
                        prop_assert_eq!(e, now);
                    }
                    prop_assert_eq!(now.quality == Quality::Good, now.limiting_factor == LimitingFactor::None);
                    prop_assert!(!now.warming_up || now.quality <= Quality::Fair);
                    let mt = now.metrics;
                    for v in [mt.rtt_ms, mt.g2g_ms, mt.ttff_ms, mt.fps, mt.upstream_jitter_ms, mt.available_upstream_kbps] {
                        prop_assert!(clean(v, f64::MAX), "{:?}", mt);
                    }
                    prop_assert!(clean(mt.packet_loss, 1.0) && clean(mt.g2g_drop_ratio, 1.0), "{:?}", mt);
                }
            }
        }
    }
}
