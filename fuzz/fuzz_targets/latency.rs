//! Latency bookkeeping (`core::latency::LatencyTracker`) under arbitrary operations.
//!
//! Invariants, with non-decreasing times and any (even invalid) settings: the settings in
//! effect are sane; every started probe is received, lost, pending or forgotten
//! (`clear_pending`, which takes it off the sent count), never two of these; the counts of
//! the outcomes handed out match the totals; pending stays within its bound; latencies are
//! non-negative; every report has a delivery rate in [0, 1], min <= median, p95, avg <=
//! max, and the reports add up to the totals; the `pixelLatencyReport` payload holds finite
//! numbers (or `null`) only.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::latency::{LatencyConfig, LatencyMode, LatencyTracker, ProbeOutcome};
use realtime_video_sdk::core::marker::MarkerRead;
use realtime_video_sdk_fuzz::non_finite;

#[derive(Arbitrary, Debug)]
enum Op {
    Advance(u16),
    AdvanceFar(u32),
    Probe,
    ProbeIfDue,
    /// Read back the n-th started probe (modulo how many were started).
    ReadStarted(u16),
    ReadSeq(u16),
    Corrupted,
    NoMarker,
    Expire,
    Report,
    Clear,
}

#[derive(Arbitrary, Debug)]
struct Input {
    probe_interval_ms: f64,
    ttl_ms: f64,
    report_interval_ms: f64,
    max_pending: u16,
    start_ms: u32,
    ops: Vec<Op>,
}

#[derive(Default)]
struct Sums {
    received: u64,
    lost: u64,
    corrupted: u64,
    out_of_order: u64,
}

fuzz_target!(|input: Input| {
    let config = LatencyConfig {
        probe_interval_ms: input.probe_interval_ms,
        ttl_ms: input.ttl_ms,
        report_interval_ms: input.report_interval_ms,
        max_pending: usize::from(input.max_pending),
    };
    let mut now = f64::from(input.start_ms);
    let mut t = LatencyTracker::new(config, now);
    let c = *t.config();
    assert!(c.probe_interval_ms.is_finite() && c.probe_interval_ms >= 0.0);
    assert!(c.ttl_ms.is_finite() && c.ttl_ms > 0.0);
    assert!(c.report_interval_ms.is_finite() && c.report_interval_ms > 0.0);
    assert!(c.max_pending >= 1);

    let mut started: Vec<u16> = Vec::new();
    let mut forgotten = 0u64;
    let mut received_events = 0u64;
    let mut lost_events = 0u64;
    let mut reported = Sums::default();
    let count = |o: ProbeOutcome, received: &mut u64, lost: &mut u64| match o {
        ProbeOutcome::Received { latency_ms, .. } => {
            assert!(latency_ms >= 0.0 && latency_ms.is_finite());
            *received += 1;
        }
        ProbeOutcome::Lost { .. } => *lost += 1,
        ProbeOutcome::Corrupted => {}
    };
    let report = |t: &mut LatencyTracker, now: f64, sums: &mut Sums| {
        let r = t.take_report(now);
        let payload = r.to_json(LatencyMode::E2e, now);
        assert_eq!(non_finite(&payload), None, "{r:?}");
        assert!((0.0..=1.0).contains(&r.delivery_rate), "{r:?}");
        if let (Some(min), Some(max)) = (r.min_latency_ms, r.max_latency_ms) {
            assert!(min <= max);
            for v in [r.avg_latency_ms, r.median_latency_ms, r.p95_latency_ms] {
                let v = v.expect("a figure for a period with samples");
                assert!(
                    v >= min - 1e-6 * min.abs() && v <= max + 1e-6 * max.abs(),
                    "{r:?}"
                );
            }
        } else {
            assert_eq!(r.received, 0);
            assert!(r.avg_latency_ms.is_none() && r.median_latency_ms.is_none());
        }
        assert!(r.out_of_order <= r.received);
        sums.received += u64::from(r.received);
        sums.lost += u64::from(r.lost);
        sums.corrupted += u64::from(r.corrupted);
        sums.out_of_order += u64::from(r.out_of_order);
    };

    for op in input.ops {
        match op {
            Op::Advance(d) => now += f64::from(d),
            Op::AdvanceFar(d) => now += f64::from(d),
            Op::Probe => started.push(t.start_probe(now)),
            Op::ProbeIfDue => {
                if t.should_probe(now) {
                    started.push(t.start_probe(now));
                }
            }
            Op::ReadStarted(i) => {
                if !started.is_empty() {
                    let seq = started[usize::from(i) % started.len()];
                    if let Some(o) = t.on_read(MarkerRead::Seq(seq), now) {
                        count(o, &mut received_events, &mut lost_events);
                    }
                }
            }
            Op::ReadSeq(seq) => {
                if let Some(o) = t.on_read(MarkerRead::Seq(seq), now) {
                    count(o, &mut received_events, &mut lost_events);
                }
            }
            Op::Corrupted => {
                assert_eq!(
                    t.on_read(MarkerRead::Corrupted, now),
                    Some(ProbeOutcome::Corrupted)
                );
            }
            Op::NoMarker => assert_eq!(t.on_read(MarkerRead::NoMarker, now), None),
            Op::Expire => {
                for o in t.expire(now) {
                    assert!(matches!(o, ProbeOutcome::Lost { .. }));
                    count(o, &mut received_events, &mut lost_events);
                }
            }
            Op::Report => report(&mut t, now, &mut reported),
            Op::Clear => forgotten += t.clear_pending() as u64,
        }
        let totals = t.totals();
        // Forgotten probes are taken off the sent count.
        assert_eq!(totals.sent + forgotten, started.len() as u64);
        assert_eq!(
            totals.sent,
            totals.received + totals.lost + t.pending_count() as u64,
            "{totals:?}, pending {}, forgotten {forgotten}",
            t.pending_count()
        );
        assert_eq!(totals.received, received_events);
        assert!(lost_events <= totals.lost);
        assert!(totals.out_of_order <= totals.received);
        assert!(t.pending_count() <= c.max_pending);
    }
    report(&mut t, now, &mut reported);
    let totals = t.totals();
    assert_eq!(
        (
            reported.received,
            reported.lost,
            reported.corrupted,
            reported.out_of_order
        ),
        (
            totals.received,
            totals.lost,
            totals.corrupted,
            totals.out_of_order
        )
    );
});
