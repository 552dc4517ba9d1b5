//! End-to-end latency bookkeeping for pixel-marker probes (`shared/PROTOCOL.md`, "Pixel
//! marker"): when to probe, which probes are in flight, what came back, what got lost, and
//! the periodic `e2e_latency_report` figures.
//!
//! [`LatencyTracker`] is a sans-IO state machine. Every method that depends on time takes
//! `now_ms`, a millisecond timestamp on one monotonic clock (`performance.now()` in the
//! browser); nothing here reads a clock, allocates per frame on the common path, or panics.
//! Non-finite times are not rejected but give meaningless figures, so the glue should pass
//! only what `performance.now()` returns.
//!
//! A typical loop, per video frame:
//!
//! 1. outgoing: `if t.should_probe(now) { let seq = t.start_probe(now); stamp(.., seq) }`
//!    (E2E mode) or send `latency_probe {seq, client_time: now}` (WS probe mode);
//! 2. incoming: `t.on_read(marker::read(..), now)` and forward any outcome;
//! 3. `t.expire(now)` for the losses;
//! 4. `if t.report_due(now) { send(t.take_report(now).to_message()) }`.

use std::collections::VecDeque;

use super::json::{Json, Obj};
use super::marker::MarkerRead;
use super::protocol::ClientMessage;

/// Default time between two probes, ms.
pub const DEFAULT_PROBE_INTERVAL_MS: f64 = 2000.0;
/// A probe not read back within this long is lost, ms.
pub const DEFAULT_TTL_MS: f64 = 60_000.0;
/// Default time between two reports, ms.
pub const DEFAULT_REPORT_INTERVAL_MS: f64 = 5000.0;
/// Default bound on probes in flight; beyond it the oldest count as lost.
pub const DEFAULT_MAX_PENDING: usize = 4096;
/// Upper limit for [`LatencyConfig::max_pending`]. Sequence numbers wrap at 0x10000, so
/// keeping fewer than half of them in flight means a new probe can never share its number
/// with a pending one, and the out-of-order window (0x8000) stays meaningful.
pub const MAX_PENDING_LIMIT: usize = 0x8000;
/// Latency samples kept per report period for the median and p95. Beyond that, count,
/// mean, min and max stay exact and the percentiles describe the first samples only.
pub const MAX_SAMPLES_PER_PERIOD: usize = 16_384;

/// Tracker settings. Out-of-range values are replaced by defaults when the tracker is
/// built (see [`LatencyTracker::new`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyConfig {
    /// Time between two probes, ms; `0` probes every frame.
    pub probe_interval_ms: f64,
    /// A probe not read back within this long is lost, ms.
    pub ttl_ms: f64,
    /// Time between two reports, ms.
    pub report_interval_ms: f64,
    /// Bound on probes in flight, `1..=MAX_PENDING_LIMIT`.
    pub max_pending: usize,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            probe_interval_ms: DEFAULT_PROBE_INTERVAL_MS,
            ttl_ms: DEFAULT_TTL_MS,
            report_interval_ms: DEFAULT_REPORT_INTERVAL_MS,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

impl LatencyConfig {
    /// The default settings with another probe interval (`0` = every frame).
    pub fn with_probe_interval(probe_interval_ms: f64) -> Self {
        LatencyConfig {
            probe_interval_ms,
            ..LatencyConfig::default()
        }
    }

    /// Replaces values that would make the tracker misbehave: a negative or non-finite
    /// probe interval, a non-positive or non-finite TTL or report interval, by their
    /// defaults; clamps `max_pending` into `1..=MAX_PENDING_LIMIT`.
    fn sanitized(self) -> Self {
        let d = LatencyConfig::default();
        let pick = |v: f64, ok: bool, default: f64| if v.is_finite() && ok { v } else { default };
        LatencyConfig {
            probe_interval_ms: pick(
                self.probe_interval_ms,
                self.probe_interval_ms >= 0.0,
                d.probe_interval_ms,
            ),
            ttl_ms: pick(self.ttl_ms, self.ttl_ms > 0.0, d.ttl_ms),
            report_interval_ms: pick(
                self.report_interval_ms,
                self.report_interval_ms > 0.0,
                d.report_interval_ms,
            ),
            max_pending: self.max_pending.clamp(1, MAX_PENDING_LIMIT),
        }
    }
}

/// What became of one probe (or one marker read).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeOutcome {
    /// A pending probe was read back.
    Received {
        /// Its sequence number.
        seq: u16,
        /// Read time − send time, ms (never negative).
        latency_ms: f64,
        /// It came back after a later probe (counted in `out_of_order`).
        out_of_order: bool,
    },
    /// A probe was not read back within the TTL, or was pushed out of the pending set.
    Lost {
        /// Its sequence number.
        seq: u16,
    },
    /// A marker was found but could not be decoded.
    Corrupted,
}

/// Counts since the tracker was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyTotals {
    /// Probes started.
    pub sent: u64,
    /// Probes read back.
    pub received: u64,
    /// Probes lost.
    pub lost: u64,
    /// Corrupted marker reads.
    pub corrupted: u64,
    /// Probes read back out of order.
    pub out_of_order: u64,
}

/// Figures for one report period (since the previous [`LatencyTracker::take_report`]),
/// plus the running totals. [`LatencyReport::to_json`] gives the `pixelLatencyReport`
/// payload, [`LatencyReport::to_message`] the `e2e_latency_report` wire message.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyReport {
    /// Start of the period, ms.
    pub period_start_ms: f64,
    /// End of the period (the time of `take_report`), ms.
    pub period_end_ms: f64,
    /// Mean latency of the probes received in the period; `None` when none was.
    pub avg_latency_ms: Option<f64>,
    /// Smallest latency in the period.
    pub min_latency_ms: Option<f64>,
    /// Median latency in the period (mean of the two middle samples for an even count).
    pub median_latency_ms: Option<f64>,
    /// 95th percentile latency in the period (nearest rank: the smallest sample with at
    /// least 95 % of the samples at or below it).
    pub p95_latency_ms: Option<f64>,
    /// Largest latency in the period.
    pub max_latency_ms: Option<f64>,
    /// `received / (received + lost)` in the period. When both are 0 the rate is `1.0`:
    /// nothing was observed to go missing, and the wire field is a plain number, so a
    /// quiet period must not read as total loss (0) nor be `NaN`.
    pub delivery_rate: f64,
    /// Probes received in the period.
    pub received: u32,
    /// Probes lost in the period (TTL or pending bound).
    pub lost: u32,
    /// Corrupted marker reads in the period.
    pub corrupted: u32,
    /// Probes received out of order in the period (also counted in `received`).
    pub out_of_order: u32,
    /// Probes still in flight at the end of the period.
    pub pending: usize,
    /// Counts since the tracker was created.
    pub totals: LatencyTotals,
}

impl LatencyTotals {
    /// `{sent, received, lost, corrupted, outOfOrder, deliveryRate}`: cumulative counts,
    /// `deliveryRate = received ÷ sent` (0 when nothing was sent; pending probes count in
    /// the denominator).
    pub fn to_json(&self) -> Obj {
        let rate = if self.sent == 0 {
            0.0
        } else {
            self.received as f64 / self.sent as f64
        };
        Obj::new()
            .set("sent", self.sent)
            .set("received", self.received)
            .set("lost", self.lost)
            .set("corrupted", self.corrupted)
            .set("outOfOrder", self.out_of_order)
            .set("deliveryRate", rate)
    }
}

/// The latency measurement mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyMode {
    /// The client stamps its camera frames; the server carries the marker to the output.
    E2e,
    /// The client sends `latency_probe`; the server stamps the output.
    WsProbe,
}

impl LatencyMode {
    /// `"e2e"` or `"wsProbe"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyMode::E2e => "e2e",
            LatencyMode::WsProbe => "wsProbe",
        }
    }
}

impl LatencyReport {
    /// The `pixelLatencyReport` payload: the cumulative counts with `timestamp` (wall ms)
    /// and `pending`, plus `mode`, `totals` and this `period`'s figures.
    pub fn to_json(&self, mode: LatencyMode, wall_ms: f64) -> Json {
        let period = Obj::new()
            .set("startMs", self.period_start_ms)
            .set("endMs", self.period_end_ms)
            .set("avgLatencyMs", self.avg_latency_ms)
            .set("minLatencyMs", self.min_latency_ms)
            .set("medianLatencyMs", self.median_latency_ms)
            .set("p95LatencyMs", self.p95_latency_ms)
            .set("maxLatencyMs", self.max_latency_ms)
            .set("deliveryRate", self.delivery_rate)
            .set("received", self.received)
            .set("lost", self.lost)
            .set("corrupted", self.corrupted)
            .set("outOfOrder", self.out_of_order);
        self.totals
            .to_json()
            .set("timestamp", wall_ms)
            .set("pending", self.pending)
            .set("mode", mode.as_str())
            .set("totals", self.totals.to_json())
            .set("period", period)
            .build()
    }

    /// The `e2e_latency_report` message with this period's figures.
    pub fn to_message(&self) -> ClientMessage {
        ClientMessage::E2eLatencyReport {
            avg_latency_ms: self.avg_latency_ms,
            delivery_rate: self.delivery_rate,
            lost: self.lost,
            corrupted: self.corrupted,
            out_of_order: self.out_of_order,
        }
    }
}

/// Kind of a [`ProbeEvent`]: what became of one probe, with out-of-order arrivals told
/// apart from in-order ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeEventKind {
    /// Read back in order.
    Received,
    /// Read back after a later probe.
    OutOfOrder,
    /// Not read back within the TTL (or pushed out of the pending set).
    Lost,
    /// A marker was found but could not be decoded.
    Corrupted,
}

/// One outcome, for the `pixelLatencyEvent` payload ([`ProbeEvent::to_json`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeEvent {
    /// What happened.
    pub kind: ProbeEventKind,
    /// The probe's sequence number, when known.
    pub seq: Option<u16>,
    /// Read time − send time, ms, for a probe read back.
    pub latency_ms: Option<f64>,
    /// When the outcome was observed, on the tracker's clock (ms).
    pub timestamp: f64,
}

impl ProbeEvent {
    /// The `pixelLatencyEvent` payload: `{status, seq, e2eLatencyMs, timestamp}` with
    /// `status` `"ok"`, `"ok_reordered"`, `"corrupted"` (`seq` and latency `null`) or `"lost"`
    /// (latency `null`, plus `timeoutMs`); `timestamp` is the wall-clock ms given.
    pub fn to_json(&self, wall_ms: f64, timeout_ms: f64) -> Json {
        let status = match self.kind {
            ProbeEventKind::Received => "ok",
            ProbeEventKind::OutOfOrder => "ok_reordered",
            ProbeEventKind::Corrupted => "corrupted",
            ProbeEventKind::Lost => "lost",
        };
        Obj::new()
            .set("status", status)
            .set("seq", self.seq)
            .set("e2eLatencyMs", self.latency_ms)
            .set("timestamp", wall_ms)
            .opt(
                "timeoutMs",
                (self.kind == ProbeEventKind::Lost).then_some(timeout_ms),
            )
            .build()
    }

    /// The event of `outcome`, observed at `now_ms`.
    pub fn from_outcome(outcome: ProbeOutcome, now_ms: f64) -> Self {
        let (kind, seq, latency_ms) = match outcome {
            ProbeOutcome::Received {
                seq,
                latency_ms,
                out_of_order: false,
            } => (ProbeEventKind::Received, Some(seq), Some(latency_ms)),
            ProbeOutcome::Received {
                seq,
                latency_ms,
                out_of_order: true,
            } => (ProbeEventKind::OutOfOrder, Some(seq), Some(latency_ms)),
            ProbeOutcome::Lost { seq } => (ProbeEventKind::Lost, Some(seq), None),
            ProbeOutcome::Corrupted => (ProbeEventKind::Corrupted, None, None),
        };
        ProbeEvent {
            kind,
            seq,
            latency_ms,
            timestamp: now_ms,
        }
    }
}

/// The composite latency estimate (`compositeLatency` payload): client STUN round trip +
/// the server's round trip to the client + its pipeline latency. Unknown parts count as 0
/// and are listed in `unavailable` (`shared/PROTOCOL.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeLatency {
    /// Client-side round-trip time of the selected candidate pair, ms.
    pub client_proxy_rtt_ms: f64,
    /// Server-measured round-trip time (`rtt_ms` of `metrics_report`), ms.
    pub server_proxy_rtt_ms: f64,
    /// Server pipeline latency (`pipeline_latency_ms` of `metrics_report`), ms.
    pub pipeline_latency_ms: f64,
    /// Sum of the three parts, ms.
    pub composite_e2e_ms: f64,
    /// The parts that were unknown (and counted as 0).
    pub unavailable: Vec<&'static str>,
}

impl CompositeLatency {
    /// Combines the parts; negative or non-finite figures count as unknown.
    pub fn new(
        client_rtt_ms: Option<f64>,
        server_rtt_ms: Option<f64>,
        pipeline_latency_ms: Option<f64>,
    ) -> Self {
        let mut unavailable = Vec::new();
        let mut known = |v: Option<f64>, name: &'static str| {
            v.filter(|x| x.is_finite() && *x >= 0.0).unwrap_or_else(|| {
                unavailable.push(name);
                0.0
            })
        };
        let client = known(client_rtt_ms, "clientProxyRttMs");
        let server = known(server_rtt_ms, "serverProxyRttMs");
        let pipeline = known(pipeline_latency_ms, "pipelineLatencyMs");
        CompositeLatency {
            client_proxy_rtt_ms: client,
            server_proxy_rtt_ms: server,
            pipeline_latency_ms: pipeline,
            composite_e2e_ms: client + server + pipeline,
            unavailable,
        }
    }

    /// `{clientProxyRttMs, serverProxyRttMs, pipelineLatencyMs, compositeE2eMs, unavailable}`.
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("clientProxyRttMs", self.client_proxy_rtt_ms)
            .set("serverProxyRttMs", self.server_proxy_rtt_ms)
            .set("pipelineLatencyMs", self.pipeline_latency_ms)
            .set("compositeE2eMs", self.composite_e2e_ms)
            .set(
                "unavailable",
                self.unavailable
                    .iter()
                    .map(|n| Json::from(*n))
                    .collect::<Vec<_>>(),
            )
            .build()
    }
}

/// One probe in flight.
#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u16,
    sent_ms: f64,
}

/// Accumulators of the current report period.
#[derive(Debug, Default)]
struct Period {
    received: u32,
    lost: u32,
    corrupted: u32,
    out_of_order: u32,
    sum_ms: f64,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    samples: Vec<f64>,
}

/// The latency state machine; see the module documentation for the call pattern.
#[derive(Debug)]
pub struct LatencyTracker {
    config: LatencyConfig,
    next_seq: u16,
    last_probe_ms: Option<f64>,
    /// In send order, so the front is the oldest.
    pending: VecDeque<Pending>,
    /// Probes pushed out by the pending bound, not yet handed out by `expire`.
    evicted: VecDeque<u16>,
    /// Highest sequence received so far, in wrap-around order.
    last_received: Option<u16>,
    period_start_ms: f64,
    period: Period,
    totals: LatencyTotals,
}

impl LatencyTracker {
    /// A tracker whose first report period starts at `now_ms`. Invalid settings are
    /// replaced as [`LatencyConfig`] describes; [`LatencyTracker::config`] shows the result.
    pub fn new(config: LatencyConfig, now_ms: f64) -> Self {
        LatencyTracker {
            config: config.sanitized(),
            next_seq: 1,
            last_probe_ms: None,
            pending: VecDeque::new(),
            evicted: VecDeque::new(),
            last_received: None,
            period_start_ms: now_ms,
            period: Period::default(),
            totals: LatencyTotals::default(),
        }
    }

    /// The settings in effect.
    pub fn config(&self) -> &LatencyConfig {
        &self.config
    }

    /// Probes in flight.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Forgets every probe in flight without counting it lost or sent, and returns how many
    /// there were. For probes that could not have been read: stamped while no transport
    /// carried them, or while nobody was reading the output (before reading starts, while
    /// reconnecting). A later read of a forgotten probe is ignored like an unknown one.
    pub fn clear_pending(&mut self) -> usize {
        let n = self.pending.len();
        self.totals.sent = self.totals.sent.saturating_sub(n as u64);
        self.pending.clear();
        self.evicted.clear();
        n
    }

    /// Counts since creation.
    pub fn totals(&self) -> LatencyTotals {
        self.totals
    }

    /// Whether a probe is due: always in every-frame mode (interval 0), otherwise when no
    /// probe was started yet or at least the interval has passed since the last one.
    pub fn should_probe(&self, now_ms: f64) -> bool {
        if self.config.probe_interval_ms == 0.0 {
            return true;
        }
        match self.last_probe_ms {
            None => true,
            Some(last) => now_ms - last >= self.config.probe_interval_ms,
        }
    }

    /// Starts a probe at `now_ms`: allocates the next sequence number (from 1, wrapping
    /// after 0xFFFF) and remembers the send time. If that makes more probes pending than
    /// [`LatencyConfig::max_pending`], the oldest one is lost at once (counted now,
    /// reported by the next [`LatencyTracker::expire`]).
    pub fn start_probe(&mut self, now_ms: f64) -> u16 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last_probe_ms = Some(now_ms);
        self.totals.sent = self.totals.sent.saturating_add(1);
        self.pending.push_back(Pending {
            seq,
            sent_ms: now_ms,
        });
        while self.pending.len() > self.config.max_pending {
            if let Some(old) = self.pending.pop_front() {
                self.count_lost();
                if self.evicted.len() >= self.config.max_pending {
                    // Nobody calls `expire`: keep the count, drop the oldest notice.
                    self.evicted.pop_front();
                }
                self.evicted.push_back(old.seq);
            }
        }
        seq
    }

    /// Takes one marker read at `now_ms`.
    ///
    /// * `Seq(n)` of a pending probe → `Received` with its latency; `out_of_order` when `n`
    ///   is below the highest sequence received so far by less than 0x8000 in wrap-around
    ///   arithmetic (so 0xFFFF then 0 is in order, 5 then 3 is not). Out-of-order reads do
    ///   not lower that high mark: after 5, both 3 and 4 are out of order.
    /// * `Seq(n)` of a pending probe older than the TTL → `Lost`, as `expire` would say.
    /// * `Seq(n)` of no pending probe (a duplicate, an unknown or an expired one) → `None`.
    /// * `Corrupted` → `Corrupted` (counted). `NoMarker` → `None`.
    pub fn on_read(&mut self, read: MarkerRead, now_ms: f64) -> Option<ProbeOutcome> {
        match read {
            MarkerRead::NoMarker => None,
            MarkerRead::Corrupted => {
                self.period.corrupted = self.period.corrupted.saturating_add(1);
                self.totals.corrupted = self.totals.corrupted.saturating_add(1);
                Some(ProbeOutcome::Corrupted)
            }
            MarkerRead::Seq(seq) => {
                let index = self.pending.iter().position(|p| p.seq == seq)?;
                let probe = self.pending.remove(index)?;
                if self.is_expired(probe.sent_ms, now_ms) {
                    self.count_lost();
                    return Some(ProbeOutcome::Lost { seq });
                }
                let latency_ms = (now_ms - probe.sent_ms).max(0.0);
                let out_of_order = self.last_received.is_some_and(|last| {
                    let behind = last.wrapping_sub(seq);
                    behind != 0 && behind < 0x8000
                });
                if !out_of_order {
                    self.last_received = Some(seq);
                }
                self.count_received(latency_ms, out_of_order);
                Some(ProbeOutcome::Received {
                    seq,
                    latency_ms,
                    out_of_order,
                })
            }
        }
    }

    /// Probes lost by `now_ms`: those pending for at least the TTL (a probe sent at `t` is
    /// lost from `t + ttl` on), plus those pushed out by the pending bound since the last
    /// call. Returns an empty (unallocated) vector when there are none.
    pub fn expire(&mut self, now_ms: f64) -> Vec<ProbeOutcome> {
        let mut out: Vec<ProbeOutcome> = self
            .evicted
            .drain(..)
            .map(|seq| ProbeOutcome::Lost { seq })
            .collect();
        let ttl = self.config.ttl_ms;
        let before = self.pending.len();
        // Send times are nondecreasing on a monotonic clock, but `retain` stays correct
        // even if they are not.
        self.pending.retain(|p| {
            let expired = now_ms - p.sent_ms >= ttl;
            if expired {
                out.push(ProbeOutcome::Lost { seq: p.seq });
            }
            !expired
        });
        for _ in self.pending.len()..before {
            self.count_lost();
        }
        out
    }

    /// Whether a report period is complete: at least the report interval since the tracker
    /// was created or the last report was taken.
    pub fn report_due(&self, now_ms: f64) -> bool {
        now_ms - self.period_start_ms >= self.config.report_interval_ms
    }

    /// The figures since the previous report (or creation), ending the period at `now_ms`
    /// and starting the next one. Totals keep accumulating.
    pub fn take_report(&mut self, now_ms: f64) -> LatencyReport {
        let mut samples = std::mem::take(&mut self.period.samples);
        let p = std::mem::take(&mut self.period);
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = match n {
            0 => None,
            _ if n % 2 == 1 => samples.get(n / 2).copied(),
            _ => match (samples.get(n / 2 - 1), samples.get(n / 2)) {
                (Some(a), Some(b)) => Some((a + b) / 2.0),
                _ => None,
            },
        };
        // Nearest rank: ceil(0.95 n), 1-based; integer form of the ceiling.
        let p95 = match n {
            0 => None,
            _ => samples
                .get((95 * n).div_ceil(100).saturating_sub(1))
                .copied(),
        };
        let seen = f64::from(p.received) + f64::from(p.lost);
        let report = LatencyReport {
            period_start_ms: self.period_start_ms,
            period_end_ms: now_ms,
            avg_latency_ms: (p.received > 0).then(|| p.sum_ms / f64::from(p.received)),
            min_latency_ms: p.min_ms,
            median_latency_ms: median,
            p95_latency_ms: p95,
            max_latency_ms: p.max_ms,
            delivery_rate: if seen == 0.0 {
                1.0
            } else {
                f64::from(p.received) / seen
            },
            received: p.received,
            lost: p.lost,
            corrupted: p.corrupted,
            out_of_order: p.out_of_order,
            pending: self.pending.len(),
            totals: self.totals,
        };
        // Reuse the sample buffer's capacity for the next period.
        samples.clear();
        self.period.samples = samples;
        self.period_start_ms = now_ms;
        report
    }

    fn is_expired(&self, sent_ms: f64, now_ms: f64) -> bool {
        now_ms - sent_ms >= self.config.ttl_ms
    }

    fn count_lost(&mut self) {
        self.period.lost = self.period.lost.saturating_add(1);
        self.totals.lost = self.totals.lost.saturating_add(1);
    }

    fn count_received(&mut self, latency_ms: f64, out_of_order: bool) {
        let p = &mut self.period;
        p.received = p.received.saturating_add(1);
        self.totals.received = self.totals.received.saturating_add(1);
        if out_of_order {
            p.out_of_order = p.out_of_order.saturating_add(1);
            self.totals.out_of_order = self.totals.out_of_order.saturating_add(1);
        }
        p.sum_ms += latency_ms;
        p.min_ms = Some(p.min_ms.map_or(latency_ms, |m| m.min(latency_ms)));
        p.max_ms = Some(p.max_ms.map_or(latency_ms, |m| m.max(latency_ms)));
        if p.samples.len() < MAX_SAMPLES_PER_PERIOD {
            p.samples.push(latency_ms);
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::json::write;

    fn tracker() -> LatencyTracker {
        LatencyTracker::new(LatencyConfig::default(), 0.0)
    }

    fn received(seq: u16, latency_ms: f64, out_of_order: bool) -> Option<ProbeOutcome> {
        Some(ProbeOutcome::Received {
            seq,
            latency_ms,
            out_of_order,
        })
    }

    #[test]
    fn latency_is_read_time_minus_send_time() {
        let mut t = tracker();
        let seq = t.start_probe(1000.0);
        assert_eq!(seq, 1);
        assert_eq!(t.pending_count(), 1);
        assert_eq!(
            t.on_read(MarkerRead::Seq(seq), 1180.5),
            received(1, 180.5, false)
        );
        assert_eq!(t.pending_count(), 0);
        let r = t.take_report(5000.0);
        assert_eq!(r.avg_latency_ms, Some(180.5));
        assert_eq!(r.received, 1);
    }

    #[test]
    fn interval_gates_probes() {
        let mut t = tracker();
        assert!(t.should_probe(100.0), "first probe is due at once");
        t.start_probe(100.0);
        assert!(!t.should_probe(100.0));
        assert!(!t.should_probe(2099.9));
        assert!(t.should_probe(2100.0), "due exactly one interval later");
        assert_eq!(t.start_probe(2100.0), 2);
        assert!(!t.should_probe(4000.0));
    }

    #[test]
    fn every_frame_mode_always_probes() {
        let mut t = LatencyTracker::new(LatencyConfig::with_probe_interval(0.0), 0.0);
        for (i, now) in [0.0, 0.0, 16.7, 33.3, 50.0].into_iter().enumerate() {
            assert!(t.should_probe(now));
            assert_eq!(t.start_probe(now), i as u16 + 1);
        }
    }

    #[test]
    fn invalid_config_is_replaced() {
        let t = LatencyTracker::new(
            LatencyConfig {
                probe_interval_ms: -1.0,
                ttl_ms: f64::NAN,
                report_interval_ms: 0.0,
                max_pending: 0,
            },
            0.0,
        );
        assert_eq!(
            *t.config(),
            LatencyConfig {
                probe_interval_ms: 2000.0,
                ttl_ms: 60_000.0,
                report_interval_ms: 5000.0,
                max_pending: 1
            }
        );
        let t = LatencyTracker::new(
            LatencyConfig {
                probe_interval_ms: f64::INFINITY,
                max_pending: usize::MAX,
                ..LatencyConfig::default()
            },
            0.0,
        );
        assert_eq!(t.config().probe_interval_ms, 2000.0);
        assert_eq!(t.config().max_pending, MAX_PENDING_LIMIT);
    }

    #[test]
    fn ttl_loss_at_exactly_60_seconds() {
        let mut t = tracker();
        let a = t.start_probe(1000.0);
        let b = t.start_probe(1500.0);
        assert!(t.expire(60_999.9).is_empty(), "not yet 60 s");
        assert_eq!(
            t.expire(61_000.0),
            vec![ProbeOutcome::Lost { seq: a }],
            "lost at exactly 60 s"
        );
        assert_eq!(t.pending_count(), 1);
        // A read just inside the TTL still counts.
        assert_eq!(
            t.on_read(MarkerRead::Seq(b), 61_499.0),
            received(b, 59_999.0, false)
        );
        // A late read of the lost probe is ignored.
        assert_eq!(t.on_read(MarkerRead::Seq(a), 61_600.0), None);
        let r = t.take_report(62_000.0);
        assert_eq!((r.received, r.lost), (1, 1));
    }

    #[test]
    fn read_at_ttl_before_expire_is_lost_not_received() {
        let mut t = tracker();
        let a = t.start_probe(0.0);
        assert_eq!(
            t.on_read(MarkerRead::Seq(a), 60_000.0),
            Some(ProbeOutcome::Lost { seq: a })
        );
        assert!(t.expire(60_000.0).is_empty(), "counted once");
        assert_eq!(t.totals().lost, 1);
        assert_eq!(t.totals().received, 0);
    }

    /// Starts probes until `seq` was allocated, receiving each one at once.
    fn advance_to(t: &mut LatencyTracker, seq: u16) {
        loop {
            let s = t.start_probe(0.0);
            if s == seq {
                return;
            }
            assert!(t.on_read(MarkerRead::Seq(s), 1.0).is_some());
        }
    }

    #[test]
    fn wrap_around_is_in_order() {
        let mut t = tracker();
        advance_to(&mut t, 0xFFFF);
        assert_eq!(
            t.on_read(MarkerRead::Seq(0xFFFF), 1.0),
            received(0xFFFF, 1.0, false)
        );
        let zero = t.start_probe(2.0);
        assert_eq!(zero, 0, "sequence wraps at 0x10000");
        assert_eq!(t.on_read(MarkerRead::Seq(0), 3.0), received(0, 1.0, false));
        assert_eq!(t.totals().out_of_order, 0);
        // And a probe from before the wrap arriving after it is out of order.
        let one = t.start_probe(4.0);
        let two = t.start_probe(4.0);
        assert_eq!(
            t.on_read(MarkerRead::Seq(two), 5.0),
            received(two, 1.0, false)
        );
        assert_eq!(
            t.on_read(MarkerRead::Seq(one), 5.0),
            received(one, 1.0, true)
        );
    }

    #[test]
    fn lower_seq_after_higher_is_out_of_order() {
        let mut t = tracker();
        for _ in 0..=6 {
            t.start_probe(0.0);
        }
        assert_eq!(
            t.on_read(MarkerRead::Seq(5), 100.0),
            received(5, 100.0, false)
        );
        assert_eq!(
            t.on_read(MarkerRead::Seq(3), 110.0),
            received(3, 110.0, true)
        );
        assert_eq!(
            t.on_read(MarkerRead::Seq(4), 120.0),
            received(4, 120.0, true),
            "still behind 5"
        );
        assert_eq!(
            t.on_read(MarkerRead::Seq(6), 130.0),
            received(6, 130.0, false)
        );
        let r = t.take_report(5000.0);
        assert_eq!((r.received, r.out_of_order), (4, 2));
        // Out-of-order probes still count as delivered.
        assert_eq!(r.delivery_rate, 1.0);
    }

    #[test]
    fn duplicates_unknown_and_no_marker_are_ignored() {
        let mut t = tracker();
        let s = t.start_probe(0.0);
        assert!(t.on_read(MarkerRead::Seq(s), 40.0).is_some());
        assert_eq!(
            t.on_read(MarkerRead::Seq(s), 80.0),
            None,
            "same marker on the next frame"
        );
        assert_eq!(t.on_read(MarkerRead::Seq(999), 80.0), None, "never sent");
        assert_eq!(t.on_read(MarkerRead::NoMarker, 80.0), None);
        let r = t.take_report(5000.0);
        assert_eq!(
            (r.received, r.lost, r.corrupted, r.out_of_order),
            (1, 0, 0, 0)
        );
        assert_eq!(r.avg_latency_ms, Some(40.0));
    }

    #[test]
    fn corrupted_reads_are_counted() {
        let mut t = tracker();
        assert_eq!(
            t.on_read(MarkerRead::Corrupted, 1.0),
            Some(ProbeOutcome::Corrupted)
        );
        assert_eq!(
            t.on_read(MarkerRead::Corrupted, 2.0),
            Some(ProbeOutcome::Corrupted)
        );
        let r = t.take_report(5000.0);
        assert_eq!(r.corrupted, 2);
        assert_eq!(r.avg_latency_ms, None);
        assert_eq!(r.delivery_rate, 1.0, "corruption is not loss");
    }

    #[test]
    fn report_gating_and_deltas_reset_while_totals_grow() {
        let mut t = LatencyTracker::new(LatencyConfig::default(), 1000.0);
        assert!(!t.report_due(5999.0));
        assert!(t.report_due(6000.0));

        let a = t.start_probe(1000.0);
        let b = t.start_probe(3000.0);
        t.on_read(MarkerRead::Seq(a), 1100.0);
        t.on_read(MarkerRead::Seq(b), 3300.0);
        t.on_read(MarkerRead::Corrupted, 3400.0);
        let r1 = t.take_report(6000.0);
        assert_eq!((r1.period_start_ms, r1.period_end_ms), (1000.0, 6000.0));
        assert_eq!((r1.received, r1.corrupted), (2, 1));
        assert_eq!(r1.avg_latency_ms, Some(200.0));
        assert_eq!(
            r1.totals,
            LatencyTotals {
                sent: 2,
                received: 2,
                lost: 0,
                corrupted: 1,
                out_of_order: 0
            }
        );

        assert!(
            !t.report_due(10_999.0),
            "the period restarts at take_report"
        );
        assert!(t.report_due(11_000.0));
        let r2 = t.take_report(11_000.0);
        assert_eq!(
            (r2.received, r2.lost, r2.corrupted, r2.out_of_order),
            (0, 0, 0, 0)
        );
        assert_eq!(r2.avg_latency_ms, None);
        assert_eq!(r2.min_latency_ms, None);
        assert_eq!(r2.median_latency_ms, None);
        assert_eq!(r2.p95_latency_ms, None);
        assert_eq!(r2.max_latency_ms, None);
        assert_eq!(r2.delivery_rate, 1.0);
        assert_eq!(r2.totals, r1.totals);

        let c = t.start_probe(11_000.0);
        t.on_read(MarkerRead::Seq(c), 11_050.0);
        let r3 = t.take_report(16_000.0);
        assert_eq!(r3.received, 1);
        assert_eq!(r3.avg_latency_ms, Some(50.0));
        assert_eq!(r3.totals.received, 3);
        assert_eq!(r3.totals.sent, 3);
    }

    #[test]
    fn delivery_rate_counts_received_against_lost() {
        let mut t = tracker();
        let seqs: Vec<u16> = (0..4).map(|i| t.start_probe(f64::from(i))).collect();
        t.on_read(MarkerRead::Seq(seqs[0]), 100.0);
        t.on_read(MarkerRead::Seq(seqs[2]), 100.0);
        t.on_read(MarkerRead::Seq(seqs[3]), 100.0);
        assert_eq!(
            t.expire(60_001.0),
            vec![ProbeOutcome::Lost { seq: seqs[1] }]
        );
        let r = t.take_report(60_001.0);
        assert_eq!((r.received, r.lost), (3, 1));
        assert_eq!(r.delivery_rate, 0.75);

        // Only losses in a period → 0.
        t.start_probe(60_001.0);
        assert_eq!(t.expire(120_001.0).len(), 1);
        let r = t.take_report(120_001.0);
        assert_eq!(r.delivery_rate, 0.0);
        assert_eq!(r.avg_latency_ms, None);
        assert_eq!(r.totals.lost, 2);
    }

    #[test]
    fn latency_distribution_figures() {
        let mut t = LatencyTracker::new(LatencyConfig::with_probe_interval(0.0), 0.0);
        // Latencies 1..=20 ms, received in a shuffled order of arrival times.
        for i in 1..=20u16 {
            let s = t.start_probe(0.0);
            t.on_read(MarkerRead::Seq(s), f64::from(21 - i));
        }
        let r = t.take_report(5000.0);
        assert_eq!(r.min_latency_ms, Some(1.0));
        assert_eq!(r.max_latency_ms, Some(20.0));
        assert_eq!(r.avg_latency_ms, Some(10.5));
        assert_eq!(r.median_latency_ms, Some(10.5), "mean of the 10th and 11th");
        assert_eq!(
            r.p95_latency_ms,
            Some(19.0),
            "nearest rank ceil(0.95 * 20) = 19"
        );

        for lat in [30.0, 10.0, 20.0] {
            let s = t.start_probe(0.0);
            t.on_read(MarkerRead::Seq(s), lat);
        }
        let r = t.take_report(10_000.0);
        assert_eq!(r.median_latency_ms, Some(20.0));
        assert_eq!(r.p95_latency_ms, Some(30.0));
    }

    #[test]
    fn pending_is_bounded_and_the_oldest_are_lost() {
        let mut t = tracker();
        for i in 0..DEFAULT_MAX_PENDING + 3 {
            t.start_probe(i as f64);
        }
        assert_eq!(t.pending_count(), DEFAULT_MAX_PENDING);
        assert_eq!(t.totals().lost, 3);
        // The evicted probes are reported by the next expire, once.
        assert_eq!(
            t.expire(10_000.0),
            vec![
                ProbeOutcome::Lost { seq: 1 },
                ProbeOutcome::Lost { seq: 2 },
                ProbeOutcome::Lost { seq: 3 }
            ]
        );
        assert!(t.expire(10_000.0).is_empty());
        assert_eq!(
            t.on_read(MarkerRead::Seq(1), 10_000.0),
            None,
            "evicted, no longer pending"
        );
        assert!(
            t.on_read(MarkerRead::Seq(4), 10_000.0).is_some(),
            "the oldest survivor"
        );
        let r = t.take_report(10_000.0);
        assert_eq!((r.lost, r.received), (3, 1));
        assert_eq!(r.pending, DEFAULT_MAX_PENDING - 1);
    }

    #[test]
    fn eviction_notices_stay_bounded_without_expire() {
        let mut t = LatencyTracker::new(
            LatencyConfig {
                max_pending: 2,
                ..LatencyConfig::default()
            },
            0.0,
        );
        for _ in 0..10 {
            t.start_probe(0.0);
        }
        assert_eq!(t.totals().lost, 8);
        assert_eq!(
            t.expire(1.0),
            vec![ProbeOutcome::Lost { seq: 7 }, ProbeOutcome::Lost { seq: 8 }]
        );
    }

    #[test]
    fn clock_weirdness_does_not_panic_or_go_negative() {
        let mut t = tracker();
        let s = t.start_probe(500.0);
        assert_eq!(
            t.on_read(MarkerRead::Seq(s), 400.0),
            received(s, 0.0, false)
        );
        let s = t.start_probe(f64::NAN);
        let _ = t.should_probe(f64::NAN);
        let _ = t.expire(f64::NAN);
        let _ = t.on_read(MarkerRead::Seq(s), f64::INFINITY);
        let _ = t.report_due(f64::NAN);
        let r = t.take_report(f64::NAN);
        assert!(r.delivery_rate >= 0.0);
    }

    #[test]
    fn report_payload_has_the_reference_counts_and_the_period() {
        let mut t = tracker();
        let s = t.start_probe(0.0);
        assert_eq!(s, 1, "sequence numbers start at 1");
        t.on_read(MarkerRead::Seq(s), 100.0);
        t.start_probe(200.0);
        let r = t.take_report(5000.0);
        assert_eq!(
            write(&r.to_json(LatencyMode::E2e, 1.7e12)),
            concat!(
                r#"{"sent":2,"received":1,"lost":0,"corrupted":0,"outOfOrder":0,"deliveryRate":0.5,"#,
                r#""timestamp":1700000000000,"pending":1,"mode":"e2e","#,
                r#""totals":{"sent":2,"received":1,"lost":0,"corrupted":0,"outOfOrder":0,"deliveryRate":0.5},"#,
                r#""period":{"startMs":0,"endMs":5000,"avgLatencyMs":100,"minLatencyMs":100,"#,
                r#""medianLatencyMs":100,"p95LatencyMs":100,"maxLatencyMs":100,"deliveryRate":1,"#,
                r#""received":1,"lost":0,"corrupted":0,"outOfOrder":0}}"#
            )
        );
        assert_eq!(
            r.to_message(),
            ClientMessage::E2eLatencyReport {
                avg_latency_ms: Some(100.0),
                delivery_rate: 1.0,
                lost: 0,
                corrupted: 0,
                out_of_order: 0
            }
        );
        let empty = LatencyTotals::default().to_json().build();
        assert_eq!(
            empty.num("deliveryRate"),
            Some(0.0),
            "0 when nothing was sent"
        );
    }

    #[test]
    fn marker_round_trip_through_the_tracker() {
        // Stamp → read → tracker, as the glue does it in E2E mode.
        use crate::core::marker::{read_strip, stamp_strip, STRIP_LEN};
        let mut t = tracker();
        let mut strip = [0u8; STRIP_LEN];
        let seq = t.start_probe(10.0);
        stamp_strip(&mut strip, seq).unwrap();
        assert_eq!(
            t.on_read(read_strip(&strip), 95.0),
            received(seq, 85.0, false)
        );
    }

    #[test]
    fn clear_pending_forgets_without_loss() {
        let mut t = LatencyTracker::new(
            LatencyConfig {
                max_pending: 2,
                ..LatencyConfig::default()
            },
            0.0,
        );
        let a = t.start_probe(0.0);
        for _ in 0..3 {
            t.start_probe(1.0);
        }
        assert_eq!(t.totals().lost, 2, "two pushed out by the bound");
        assert_eq!(t.totals().sent, 4);
        assert_eq!(t.clear_pending(), 2);
        assert_eq!(t.totals().sent, 2, "forgotten probes do not count as sent");
        assert_eq!(t.pending_count(), 0);
        assert!(
            t.expire(120_000.0).is_empty(),
            "nothing left to lose, eviction notices dropped too"
        );
        assert_eq!(
            t.on_read(MarkerRead::Seq(a), 2.0),
            None,
            "a forgotten probe reads as unknown"
        );
        assert_eq!(t.totals().lost, 2);
        let next = t.start_probe(3.0);
        assert_eq!(
            t.on_read(MarkerRead::Seq(next), 13.0),
            received(next, 10.0, false)
        );
    }

    #[test]
    fn probe_event_shapes() {
        let ev = |o| write(&ProbeEvent::from_outcome(o, 42.0).to_json(1000.0, 60_000.0));
        assert_eq!(
            ev(ProbeOutcome::Received {
                seq: 3,
                latency_ms: 80.0,
                out_of_order: false
            }),
            r#"{"status":"ok","seq":3,"e2eLatencyMs":80,"timestamp":1000}"#
        );
        assert_eq!(
            ev(ProbeOutcome::Received {
                seq: 2,
                latency_ms: 90.5,
                out_of_order: true
            }),
            r#"{"status":"ok_reordered","seq":2,"e2eLatencyMs":90.5,"timestamp":1000}"#
        );
        assert_eq!(
            ev(ProbeOutcome::Lost { seq: 7 }),
            r#"{"status":"lost","seq":7,"e2eLatencyMs":null,"timestamp":1000,"timeoutMs":60000}"#
        );
        assert_eq!(
            ev(ProbeOutcome::Corrupted),
            r#"{"status":"corrupted","seq":null,"e2eLatencyMs":null,"timestamp":1000}"#
        );
    }

    #[test]
    fn composite_latency_sums_known_parts() {
        let c = CompositeLatency::new(Some(12.0), Some(20.0), Some(35.5));
        assert_eq!(
            write(&c.to_json()),
            r#"{"clientProxyRttMs":12,"serverProxyRttMs":20,"pipelineLatencyMs":35.5,"compositeE2eMs":67.5,"unavailable":[]}"#
        );
        let c = CompositeLatency::new(None, Some(20.0), None);
        assert_eq!((c.composite_e2e_ms, c.client_proxy_rtt_ms), (20.0, 0.0));
        assert_eq!(c.unavailable, ["clientProxyRttMs", "pipelineLatencyMs"]);
        let c = CompositeLatency::new(Some(f64::NAN), Some(-1.0), Some(f64::INFINITY));
        assert_eq!(c.composite_e2e_ms, 0.0);
        assert_eq!(c.unavailable.len(), 3);
    }
}
