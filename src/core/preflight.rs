//! The verdict of `checkConnectivity()`: from what the browser layer observed during a
//! preflight check to `{quality, metrics: {transport, rttMs, ...}, reasons}`.
//!
//! The browser layer gathers ICE candidates, checks that the service answers (and how fast),
//! may try an ICE connection, and in deep mode runs a short real session that yields the same
//! [`QualitySample`]s the connection-quality monitor gets. [`evaluate`] turns that into the
//! result, grading with the same [`THRESHOLDS`](super::quality::THRESHOLDS):
//!
//! - an unreachable service, a failed ICE check or no candidate at all: transport `failed`,
//!   quality `critical`;
//! - otherwise the quality is the worst level of the known figures: the service's RTT in
//!   shallow mode; in deep mode the medians over all samples (the shares of samples for the
//!   yes/no inputs) and the time to first frame, with no warm-up and no hysteresis;
//! - what the candidates say about STUN and TURN, a gathering timeout or a relayed transport
//!   become reasons without changing the quality: the check itself shows whether the service
//!   can be reached.
//!
//! `reasons` are short sentences, the most severe first; figures in them are rounded to
//! whole numbers.

use super::json::{Json, Obj};
use super::quality::{non_negative, Figures, Finding, Metric, Metrics, Quality, QualitySample};

/// W3C `RTCIceCandidateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType {
    /// `"host"`: a local address.
    Host,
    /// `"srflx"`: the address a STUN server saw.
    Srflx,
    /// `"prflx"`: an address learned from a connectivity check.
    Prflx,
    /// `"relay"`: an address on a TURN server.
    Relay,
}

impl CandidateType {
    /// Reads the W3C value; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "host" => Some(CandidateType::Host),
            "srflx" => Some(CandidateType::Srflx),
            "prflx" => Some(CandidateType::Prflx),
            "relay" => Some(CandidateType::Relay),
            _ => None,
        }
    }

    /// The W3C name.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

/// How media would travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Directly, over UDP.
    Udp,
    /// Through a TURN server.
    Relay,
    /// Not at all.
    Failed,
}

impl Transport {
    /// The JS name: `"udp"`, `"relay"` or `"failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Relay => "relay",
            Transport::Failed => "failed",
        }
    }
}

/// How the ICE connection to the service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceCheck {
    /// Not tried (a shallow check that only gathers): the transport is inferred from the
    /// gathered candidates.
    NotTried,
    /// No candidate pair connected.
    Failed,
    /// Connected; the local candidate type of the selected pair.
    Connected(CandidateType),
}

/// What the browser layer observed.
#[derive(Debug, Clone, PartialEq)]
pub struct PreflightObservation {
    /// Types of the local candidates gathered.
    pub candidates: Vec<CandidateType>,
    /// Whether the ICE servers included a STUN server.
    pub stun_configured: bool,
    /// Whether the ICE servers included a TURN server.
    pub turn_configured: bool,
    /// Gathering had not completed when `iceGatherTimeoutMs` ran out.
    pub gathering_timed_out: bool,
    /// Whether the service answered the reachability check.
    pub service_reachable: bool,
    /// Round trip of the reachability check, ms.
    pub service_rtt_ms: Option<f64>,
    /// The ICE connection, if tried.
    pub ice: IceCheck,
    /// Deep mode: the samples of the test session, one per stats interval; `None` for a
    /// shallow check.
    pub samples: Option<Vec<QualitySample>>,
}

/// The figures of a preflight result; `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreflightMetrics {
    /// How media would travel.
    pub transport: Transport,
    /// Round trip: the median of the session's samples in deep mode when they have it, else
    /// the reachability check's, ms.
    pub rtt_ms: Option<f64>,
    /// Deep mode: time to first frame, ms.
    pub ttff_ms: Option<f64>,
    /// Deep mode: median glass-to-glass latency, ms.
    pub g2g_ms: Option<f64>,
    /// Deep mode: median inbound packet loss, 0..=1.
    pub packet_loss: Option<f64>,
    /// Deep mode: median upstream jitter, ms.
    pub upstream_jitter_ms: Option<f64>,
    /// Deep mode: samples collected; `None` for a shallow check.
    pub sample_count: Option<u32>,
}

/// The result of `checkConnectivity()`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreflightResult {
    /// Overall quality.
    pub quality: Quality,
    /// The figures.
    pub metrics: PreflightMetrics,
    /// Why the quality is what it is, most severe first; empty when there is nothing to say.
    pub reasons: Vec<String>,
}

impl PreflightResult {
    /// The `checkConnectivity()` result: `{quality, metrics: {transport, rttMs, ttffMs?,
    /// g2gMs?, packetLoss?, upstreamJitterMs?, sampleCount?}, reasons}`. `rttMs` is `null`
    /// when unknown; the session figures are present (`null` when unknown) only in deep mode.
    pub fn to_json(&self) -> Json {
        let m = &self.metrics;
        let mut metrics = Obj::new()
            .set("transport", m.transport.as_str())
            .set("rttMs", m.rtt_ms);
        if let Some(count) = m.sample_count {
            metrics = metrics
                .set("ttffMs", m.ttff_ms)
                .set("g2gMs", m.g2g_ms)
                .set("packetLoss", m.packet_loss)
                .set("upstreamJitterMs", m.upstream_jitter_ms)
                .set("sampleCount", count);
        }
        let reasons: Vec<Json> = self
            .reasons
            .iter()
            .map(|r| Json::from(r.as_str()))
            .collect();
        Obj::new()
            .set("quality", self.quality.as_str())
            .set("metrics", metrics)
            .set("reasons", reasons)
            .build()
    }
}

/// The preflight verdict. See the module documentation.
pub fn evaluate(obs: &PreflightObservation) -> PreflightResult {
    let mut figures = match &obs.samples {
        Some(samples) => {
            let each: Vec<Figures> = samples.iter().map(Figures::of).collect();
            let mut f = Figures::smooth(&each);
            f.metrics.ttff_ms = samples.iter().rev().find_map(|s| non_negative(s.ttff_ms));
            f
        }
        None => Figures::default(),
    };
    let rtt = figures.metrics.rtt_ms.or(non_negative(obs.service_rtt_ms));
    figures.metrics.rtt_ms = rtt;

    let has = |t| obs.candidates.contains(&t);
    let transport = match obs.ice {
        _ if !obs.service_reachable => Transport::Failed,
        IceCheck::Failed => Transport::Failed,
        IceCheck::Connected(CandidateType::Relay) => Transport::Relay,
        IceCheck::Connected(_) => Transport::Udp,
        IceCheck::NotTried if obs.candidates.iter().any(|c| *c != CandidateType::Relay) => {
            Transport::Udp
        }
        IceCheck::NotTried if has(CandidateType::Relay) => Transport::Relay,
        IceCheck::NotTried => Transport::Failed,
    };

    let mut reasons = Vec::new();
    if !obs.service_reachable {
        reasons.push("the service is unreachable".to_owned());
    } else if obs.ice == IceCheck::Failed {
        reasons.push("ICE failed: no candidate pair connected".to_owned());
    }
    // The figures that are not good, worst first (in table order within a level).
    let all: Vec<Finding> = figures.findings().collect();
    let findings: Vec<Finding> = [Quality::Critical, Quality::Poor, Quality::Fair]
        .iter()
        .flat_map(|q| all.iter().filter(move |f| f.quality == *q))
        .copied()
        .collect();
    let quality = if transport == Transport::Failed {
        Quality::Critical
    } else {
        findings.first().map_or(Quality::Good, |f| f.quality)
    };
    reasons.extend(findings.iter().map(reason));

    if obs.candidates.is_empty() {
        reasons.push("no ICE candidates were gathered".to_owned());
    } else {
        if obs.stun_configured && !has(CandidateType::Srflx) {
            reasons
                .push("no server-reflexive candidates: STUN unreachable or UDP blocked".to_owned());
        }
        if obs.turn_configured && !has(CandidateType::Relay) {
            reasons.push("no relay candidates: TURN unreachable".to_owned());
        }
    }
    if obs.gathering_timed_out {
        reasons.push("ICE gathering did not finish in time".to_owned());
    }
    if transport == Transport::Relay {
        reasons.push("media is relayed through TURN".to_owned());
    }
    if obs.samples.as_ref().is_some_and(|s| s.is_empty()) {
        reasons.push("the test session collected no measurements".to_owned());
    }

    let Metrics {
        g2g_ms,
        ttff_ms,
        packet_loss,
        upstream_jitter_ms,
        ..
    } = figures.metrics;
    PreflightResult {
        quality,
        metrics: PreflightMetrics {
            transport,
            rtt_ms: rtt,
            ttff_ms,
            g2g_ms,
            packet_loss,
            upstream_jitter_ms,
            sample_count: obs
                .samples
                .as_ref()
                .map(|s| u32::try_from(s.len()).unwrap_or(u32::MAX)),
        },
        reasons,
    }
}

/// A figure rounded to a whole number, as text (no float formatting in the browser build).
fn whole(v: f64) -> String {
    // `as` saturates; the figures are finite and not negative.
    super::error::int(v.round().max(0.0) as u64)
}

/// The sentence for a figure that is not good.
fn reason(f: &Finding) -> String {
    let n = whole(f.value);
    let pct = whole(f.value * 100.0);
    let (before, figure, after) = match f.row.metric {
        Metric::BandwidthRatio => (
            "available upstream bandwidth is ",
            &pct,
            " % of the bitrate the session wants",
        ),
        Metric::BandwidthLimited => (
            "the video encoder was limited by bandwidth in ",
            &pct,
            " % of the samples",
        ),
        Metric::PacketLoss => ("packet loss ", &pct, " % is high"),
        Metric::G2gDropRatio => ("", &pct, " % of the latency probes were lost"),
        Metric::G2g => ("glass-to-glass latency ", &n, " ms is high"),
        Metric::Rtt => ("RTT ", &n, " ms is high"),
        Metric::UpstreamJitter => ("upstream jitter ", &n, " ms is high"),
        Metric::Ttff => ("the first frame took ", &n, " ms"),
        Metric::CpuLimited => (
            "the video encoder was limited by CPU in ",
            &pct,
            " % of the samples",
        ),
        Metric::FpsRatio => ("video arrived at ", &pct, " % of the expected frame rate"),
        Metric::Stalled => ("video stalled in ", &pct, " % of the samples"),
    };
    super::error::join(&[before, figure, after])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::quality::LimitationReason;

    /// A shallow check on a healthy network: host and server-reflexive candidates, STUN
    /// configured, the service answering in 40 ms.
    fn healthy() -> PreflightObservation {
        PreflightObservation {
            candidates: vec![CandidateType::Host, CandidateType::Srflx],
            stun_configured: true,
            turn_configured: false,
            gathering_timed_out: false,
            service_reachable: true,
            service_rtt_ms: Some(40.0),
            ice: IceCheck::NotTried,
            samples: None,
        }
    }

    /// A sample of a healthy session.
    fn good_sample() -> QualitySample {
        QualitySample {
            rtt_ms: Some(35.0),
            g2g_ms: Some(250.0),
            g2g_drop_ratio: Some(0.0),
            ttff_ms: Some(800.0),
            fps: Some(25.0),
            expected_fps: Some(25.0),
            packet_loss: Some(0.0),
            upstream_loss: Some(0.0),
            upstream_jitter_ms: Some(4.0),
            available_upstream_kbps: Some(3000.0),
            wanted_upstream_kbps: Some(2500.0),
            limitation: Some(LimitationReason::None),
            stalled: Some(false),
        }
    }

    fn deep(samples: Vec<QualitySample>) -> PreflightObservation {
        PreflightObservation {
            ice: IceCheck::Connected(CandidateType::Srflx),
            samples: Some(samples),
            ..healthy()
        }
    }

    #[test]
    fn the_result_payload_has_the_deep_figures_only_in_deep_mode() {
        let shallow = evaluate(&healthy()).to_json();
        assert_eq!(shallow.str("quality"), Some("good"));
        assert_eq!(shallow.get("reasons"), Some(&Json::Arr(Vec::new())));
        let m = shallow.get("metrics").expect("metrics");
        assert_eq!(m.str("transport"), Some("udp"));
        assert_eq!(m.num("rttMs"), Some(40.0));
        assert_eq!(m.get("ttffMs"), None, "absent in shallow mode");
        assert_eq!(m.get("sampleCount"), None);

        let failed = evaluate(&PreflightObservation {
            service_reachable: false,
            service_rtt_ms: None,
            ..healthy()
        })
        .to_json();
        let m = failed.get("metrics").expect("metrics");
        assert_eq!(m.str("transport"), Some("failed"));
        assert_eq!(m.get("rttMs"), Some(&Json::Null));
        assert_eq!(failed.str("quality"), Some("critical"));
        assert_eq!(
            failed
                .get("reasons")
                .and_then(|r| r.as_array()?.first()?.as_str()),
            Some("the service is unreachable")
        );

        let deep = evaluate(&deep(vec![good_sample(); 3])).to_json();
        let m = deep.get("metrics").expect("metrics");
        assert_eq!(m.num("sampleCount"), Some(3.0));
        assert_eq!(m.num("ttffMs"), Some(800.0));
        assert_eq!(m.num("g2gMs"), Some(250.0));
        assert_eq!(m.num("packetLoss"), Some(0.0));
        assert_eq!(m.num("upstreamJitterMs"), Some(4.0));
    }

    #[test]
    fn a_healthy_shallow_check_is_good_over_udp_with_nothing_to_say() {
        let r = evaluate(&healthy());
        assert_eq!(r.quality, Quality::Good);
        assert_eq!(r.metrics.transport, Transport::Udp);
        assert_eq!(r.metrics.rtt_ms, Some(40.0));
        assert_eq!(r.metrics.sample_count, None, "shallow");
        assert_eq!(r.metrics.ttff_ms, None);
        assert!(r.reasons.is_empty(), "{:?}", r.reasons);
    }

    #[test]
    fn an_unreachable_service_is_critical_and_failed() {
        let r = evaluate(&PreflightObservation {
            service_reachable: false,
            service_rtt_ms: None,
            ..healthy()
        });
        assert_eq!(r.quality, Quality::Critical);
        assert_eq!(r.metrics.transport, Transport::Failed);
        assert_eq!(r.metrics.rtt_ms, None);
        assert_eq!(r.reasons, vec!["the service is unreachable"]);
    }

    #[test]
    fn a_high_rtt_is_graded_and_explained() {
        let r = evaluate(&PreflightObservation {
            service_rtt_ms: Some(310.4),
            ..healthy()
        });
        assert_eq!(r.quality, Quality::Fair);
        assert_eq!(r.reasons, vec!["RTT 310 ms is high"]);
        let r = evaluate(&PreflightObservation {
            service_rtt_ms: Some(1200.0),
            ..healthy()
        });
        assert_eq!(r.quality, Quality::Critical);
        assert_eq!(r.metrics.transport, Transport::Udp, "slow, not failed");
    }

    #[test]
    fn missing_relay_candidates_mean_turn_is_unreachable() {
        let r = evaluate(&PreflightObservation {
            turn_configured: true,
            ..healthy()
        });
        assert_eq!(r.quality, Quality::Good, "direct UDP still works");
        assert_eq!(r.reasons, vec!["no relay candidates: TURN unreachable"]);
    }

    #[test]
    fn missing_server_reflexive_candidates_mean_stun_is_unreachable() {
        let r = evaluate(&PreflightObservation {
            candidates: vec![CandidateType::Host],
            ..healthy()
        });
        assert_eq!(
            r.reasons,
            vec!["no server-reflexive candidates: STUN unreachable or UDP blocked"]
        );
        let r = evaluate(&PreflightObservation {
            candidates: vec![CandidateType::Host],
            stun_configured: false,
            ..healthy()
        });
        assert!(r.reasons.is_empty(), "no STUN asked for: {:?}", r.reasons);
    }

    #[test]
    fn only_relay_candidates_mean_a_relayed_transport() {
        let r = evaluate(&PreflightObservation {
            candidates: vec![CandidateType::Relay],
            turn_configured: true,
            ..healthy()
        });
        assert_eq!(r.metrics.transport, Transport::Relay);
        assert_eq!(r.quality, Quality::Good);
        assert_eq!(
            r.reasons,
            vec![
                "no server-reflexive candidates: STUN unreachable or UDP blocked",
                "media is relayed through TURN"
            ]
        );
    }

    #[test]
    fn the_ice_check_names_the_transport() {
        let connected = |t| {
            evaluate(&PreflightObservation {
                candidates: vec![
                    CandidateType::Host,
                    CandidateType::Srflx,
                    CandidateType::Relay,
                ],
                turn_configured: true,
                ice: IceCheck::Connected(t),
                ..healthy()
            })
        };
        assert_eq!(
            connected(CandidateType::Host).metrics.transport,
            Transport::Udp
        );
        assert_eq!(
            connected(CandidateType::Prflx).metrics.transport,
            Transport::Udp
        );
        let relayed = connected(CandidateType::Relay);
        assert_eq!(relayed.metrics.transport, Transport::Relay);
        assert_eq!(relayed.reasons, vec!["media is relayed through TURN"]);

        let failed = evaluate(&PreflightObservation {
            ice: IceCheck::Failed,
            ..healthy()
        });
        assert_eq!(failed.quality, Quality::Critical);
        assert_eq!(failed.metrics.transport, Transport::Failed);
        assert_eq!(
            failed.reasons,
            vec!["ICE failed: no candidate pair connected"]
        );
    }

    #[test]
    fn no_candidates_at_all_is_a_failed_transport() {
        let r = evaluate(&PreflightObservation {
            candidates: Vec::new(),
            gathering_timed_out: true,
            ..healthy()
        });
        assert_eq!(r.quality, Quality::Critical);
        assert_eq!(r.metrics.transport, Transport::Failed);
        assert_eq!(
            r.reasons,
            vec![
                "no ICE candidates were gathered",
                "ICE gathering did not finish in time"
            ]
        );
    }

    #[test]
    fn a_healthy_deep_check_reports_the_session_figures() {
        let mut samples = vec![good_sample(); 5];
        for (s, rtt) in samples.iter_mut().zip([30.0, 35.0, 90.0, 32.0, 36.0]) {
            s.rtt_ms = Some(rtt);
        }
        let r = evaluate(&deep(samples));
        assert_eq!(r.quality, Quality::Good);
        assert!(r.reasons.is_empty(), "{:?}", r.reasons);
        assert_eq!(
            r.metrics,
            PreflightMetrics {
                transport: Transport::Udp,
                rtt_ms: Some(35.0),
                ttff_ms: Some(800.0),
                g2g_ms: Some(250.0),
                packet_loss: Some(0.0),
                upstream_jitter_ms: Some(4.0),
                sample_count: Some(5),
            },
            "medians over the session, the candidate pair's RTT before the service's"
        );
    }

    #[test]
    fn a_lossy_deep_check_is_poor_because_of_loss() {
        let lossy = QualitySample {
            packet_loss: Some(0.15),
            ..good_sample()
        };
        let r = evaluate(&deep(vec![lossy; 6]));
        assert_eq!(r.quality, Quality::Poor);
        assert_eq!(r.reasons, vec!["packet loss 15 % is high"]);
        assert_eq!(r.metrics.packet_loss, Some(0.15));
    }

    #[test]
    fn deep_reasons_come_most_severe_first() {
        let bad = QualitySample {
            g2g_ms: Some(2500.0),
            upstream_jitter_ms: Some(40.0),
            ttff_ms: Some(6000.0),
            fps: Some(10.0),
            ..good_sample()
        };
        let r = evaluate(&deep(vec![bad; 4]));
        assert_eq!(r.quality, Quality::Critical);
        assert_eq!(
            r.reasons,
            vec![
                "glass-to-glass latency 2500 ms is high",
                "the first frame took 6000 ms",
                "video arrived at 40 % of the expected frame rate",
                "upstream jitter 40 ms is high",
            ]
        );
    }

    #[test]
    fn a_deep_check_sees_encoder_limits_and_stalls() {
        let limited = QualitySample {
            limitation: Some(LimitationReason::Cpu),
            ..good_sample()
        };
        let r = evaluate(&deep(vec![limited; 3]));
        assert_eq!(r.quality, Quality::Fair);
        assert_eq!(
            r.reasons,
            vec!["the video encoder was limited by CPU in 100 % of the samples"]
        );

        let mut samples = vec![good_sample(); 5];
        for s in samples.iter_mut().take(3) {
            s.fps = Some(0.0);
            s.stalled = Some(true);
        }
        let r = evaluate(&deep(samples));
        assert_eq!(r.quality, Quality::Critical);
        assert!(
            r.reasons
                .contains(&"video stalled in 60 % of the samples".to_owned()),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn a_deep_check_without_samples_says_so() {
        let r = evaluate(&deep(Vec::new()));
        assert_eq!(r.metrics.sample_count, Some(0));
        assert_eq!(r.metrics.rtt_ms, Some(40.0), "the service's RTT stands in");
        assert_eq!(
            r.reasons,
            vec!["the test session collected no measurements"]
        );
    }

    #[test]
    fn garbage_figures_are_unknown() {
        let garbage = QualitySample {
            rtt_ms: Some(f64::NAN),
            g2g_ms: Some(-5.0),
            ttff_ms: Some(f64::INFINITY),
            packet_loss: Some(f64::NEG_INFINITY),
            upstream_jitter_ms: Some(f64::NAN),
            ..QualitySample::default()
        };
        let r = evaluate(&PreflightObservation {
            service_rtt_ms: Some(f64::NAN),
            ..deep(vec![garbage; 3])
        });
        assert_eq!(r.quality, Quality::Good);
        assert_eq!(
            r.metrics,
            PreflightMetrics {
                transport: Transport::Udp,
                rtt_ms: None,
                ttff_ms: None,
                g2g_ms: None,
                packet_loss: None,
                upstream_jitter_ms: None,
                sample_count: Some(3),
            }
        );
    }

    #[test]
    fn candidate_types_and_transports_have_their_w3c_and_js_names() {
        for t in [
            CandidateType::Host,
            CandidateType::Srflx,
            CandidateType::Prflx,
            CandidateType::Relay,
        ] {
            assert_eq!(CandidateType::parse(t.as_str()), Some(t));
        }
        assert_eq!(CandidateType::parse("RELAY"), None);
        assert_eq!(Transport::Udp.as_str(), "udp");
        assert_eq!(Transport::Relay.as_str(), "relay");
        assert_eq!(Transport::Failed.as_str(), "failed");
    }
}
