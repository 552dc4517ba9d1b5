//! Fault injection, chosen per session with query parameters on the session URL. Every
//! fault is off unless its parameter is present; `server/README.md` lists them. The media
//! parameters (`media_mode`, `model_delay_ms`, `model_jitter_ms`, `net_*`) are read here
//! too, with the same strictness.

use crate::impair::NetImpairment;
use crate::transform::MediaMode;
use std::collections::HashMap;
use std::time::Duration;

/// How acks (`prompt_ack`, `set_image_ack`) misbehave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AckFault {
    /// Acks are sent normally.
    #[default]
    Normal,
    /// No ack is ever sent.
    Never,
    /// Every ack says `success: false`, with this error text (`fail:TEXT`) or a default.
    Fail(Option<String>),
    /// Every ack is sent after this delay.
    Delay(Duration),
}

/// Media forwarding stops for `duration`, starting `after` the first media frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallFault {
    /// Delay from the first media frame to the start of the stall.
    pub after: Duration,
    /// Length of the stall.
    pub duration: Duration,
}

impl StallFault {
    /// Whether media is held back at `elapsed` after the first media frame.
    pub fn is_stalled(&self, elapsed: Duration) -> bool {
        elapsed >= self.after && elapsed < self.after + self.duration
    }
}

/// IVS stage faults (the session applies the first; the stage signaling the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvsFault {
    /// `ivs_stage_ready` is never sent.
    NoStageReady,
    /// The stage refuses the client's join: it goes connecting → disconnected with an
    /// error and is never usable.
    DisconnectDuringSetup,
    /// The server participant joins the stage but never publishes streams.
    NoServerStreams,
    /// This long after the client's join the stage fails: every participant gets an
    /// error and leaves, and the stage is torn down.
    StageErrorAfter(Duration),
}

impl IvsFault {
    /// Parses the value of `fault_ivs`.
    pub fn parse(value: &str) -> Result<IvsFault, String> {
        Ok(match value {
            "no_stage_ready" => IvsFault::NoStageReady,
            "disconnect_during_setup" => IvsFault::DisconnectDuringSetup,
            "no_server_streams" => IvsFault::NoServerStreams,
            v => match v.strip_prefix("stage_error_after_ms:") {
                Some(ms) => IvsFault::StageErrorAfter(millis("fault_ivs", ms)?),
                None => {
                    return Err(format!(
                        "invalid fault parameter fault_ivs={v}: expected no_stage_ready, disconnect_during_setup, no_server_streams or stage_error_after_ms:N"
                    ))
                }
            },
        })
    }
}

impl std::fmt::Display for IvsFault {
    /// The query-parameter spelling.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IvsFault::NoStageReady => f.write_str("no_stage_ready"),
            IvsFault::DisconnectDuringSetup => f.write_str("disconnect_during_setup"),
            IvsFault::NoServerStreams => f.write_str("no_server_streams"),
            IvsFault::StageErrorAfter(d) => write!(f, "stage_error_after_ms:{}", d.as_millis()),
        }
    }
}

/// How a session's media is processed and carried.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MediaParams {
    /// `media_mode=echo|transform`; `None`: the server's `--media-mode`.
    pub mode: Option<MediaMode>,
    /// `model_delay_ms=N`: transformed frames leave N ms after they are ready.
    pub model_delay: Duration,
    /// `model_jitter_ms=N`: plus a uniform draw in 0..=N ms per frame (order is kept).
    pub model_jitter: Duration,
    /// `net_delay_ms`, `net_jitter_ms`, `net_loss`, `net_rate_kbps`, `net_for_ms`.
    pub net: Option<NetImpairment>,
}

impl MediaParams {
    /// Whether a model delay or jitter was asked for.
    pub fn has_model_delay(&self) -> bool {
        !(self.model_delay.is_zero() && self.model_jitter.is_zero())
    }
}

/// The faults of one session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// `fault_refuse=TEXT`: send `error` TEXT instead of `session_id`, then close.
    pub refuse: Option<String>,
    /// `fault_close_after_ms=N`: close the WebSocket N ms after it opened.
    pub close_after: Option<Duration>,
    /// `fault_error_after_ms=N`: N ms after the WebSocket opened, send one `error` message
    /// ("injected error") and carry on.
    pub error_after: Option<Duration>,
    /// `fault_ack=never|fail|fail:TEXT|delay:N`.
    pub ack: AckFault,
    /// `fault_spoof_after_ms=N`: N ms after the WebSocket opened, send what a client must not
    /// trust mid-session: a second `session_id` (another id, address and port), an `answer`
    /// and an `offer` whose SDP is garbage.
    pub spoof_after: Option<Duration>,
    /// `fault_junk=1`: a malformed JSON frame and an unknown message type right after
    /// `session_id`.
    pub junk: bool,
    /// `fault_stall_after_ms=N&fault_stall_ms=M`.
    pub stall: Option<StallFault>,
    /// `fault_ivs=no_stage_ready|disconnect_during_setup|no_server_streams|stage_error_after_ms:N`.
    pub ivs: Option<IvsFault>,
    /// Media mode, model delay and network impairment.
    pub media: MediaParams,
}

fn millis(name: &str, v: &str) -> Result<Duration, String> {
    let kind = if name.starts_with("fault_") {
        "fault parameter"
    } else {
        "parameter"
    };
    v.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("invalid {kind} {name}={v}: expected milliseconds"))
}

/// Reads `media_mode`, `model_delay_ms`, `model_jitter_ms` and the `net_*` parameters;
/// unknown `net_*` names and bad values are errors.
fn media_params(query: &HashMap<String, String>) -> Result<MediaParams, String> {
    let mut m = MediaParams::default();
    let mut net = NetImpairment::default();
    let mut impaired = false;
    let mut net_for = false;
    for (name, value) in query {
        match name.as_str() {
            "media_mode" => m.mode = Some(MediaMode::parse("media_mode", value)?),
            "model_delay_ms" => m.model_delay = millis(name, value)?,
            "model_jitter_ms" => m.model_jitter = millis(name, value)?,
            "net_delay_ms" => net.delay = millis(name, value)?,
            "net_jitter_ms" => net.jitter = millis(name, value)?,
            "net_loss" => {
                net.loss = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|l| (0.0..=1.0).contains(l))
                    .ok_or_else(|| {
                        format!("invalid parameter net_loss={value}: expected a number in 0..1")
                    })?
            }
            "net_rate_kbps" => {
                net.rate_kbps = Some(
                    value
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|k| *k > 0)
                        .ok_or_else(|| {
                            format!(
                                "invalid parameter net_rate_kbps={value}: expected kbit/s above 0"
                            )
                        })?,
                )
            }
            "net_for_ms" => {
                net.duration = Some(millis(name, value)?);
                net_for = true;
                continue;
            }
            other if other.starts_with("net_") => {
                return Err(format!("unknown network parameter {other}"))
            }
            _ => continue,
        }
        impaired |= name.starts_with("net_");
    }
    if net_for && !impaired {
        return Err(
            "net_for_ms needs net_delay_ms, net_jitter_ms, net_loss or net_rate_kbps".into(),
        );
    }
    m.net = impaired.then_some(net);
    Ok(m)
}

impl Faults {
    /// Reads the `fault_*` parameters of a session URL's query. Unknown `fault_*` names and
    /// bad values are errors (a typo in a test should not silently test nothing).
    pub fn from_query(query: &HashMap<String, String>) -> Result<Faults, String> {
        let mut f = Faults::default();
        for (name, value) in query.iter().filter(|(k, _)| k.starts_with("fault_")) {
            match name.as_str() {
                "fault_refuse" => {
                    f.refuse = Some(if value.is_empty() { "refused by fault injection".into() } else { value.clone() })
                }
                "fault_close_after_ms" => f.close_after = Some(millis(name, value)?),
                "fault_error_after_ms" => f.error_after = Some(millis(name, value)?),
                "fault_ack" => {
                    f.ack = match value.as_str() {
                        "never" => AckFault::Never,
                        "fail" => AckFault::Fail(None),
                        v => match (v.strip_prefix("delay:"), v.strip_prefix("fail:")) {
                            (Some(ms), _) => AckFault::Delay(millis(name, ms)?),
                            (_, Some(text)) => AckFault::Fail(Some(text.to_string())),
                            _ => return Err(format!("invalid fault parameter fault_ack={v}: expected never, fail, fail:TEXT or delay:N")),
                        },
                    }
                }
                "fault_spoof_after_ms" => f.spoof_after = Some(millis(name, value)?),
                "fault_junk" => f.junk = !matches!(value.as_str(), "0" | "false"),
                "fault_stall_after_ms" | "fault_stall_ms" => {}
                "fault_ivs" => f.ivs = Some(IvsFault::parse(value)?),
                other => return Err(format!("unknown fault parameter {other}")),
            }
        }
        let after = query
            .get("fault_stall_after_ms")
            .map(|v| millis("fault_stall_after_ms", v))
            .transpose()?;
        let duration = query
            .get("fault_stall_ms")
            .map(|v| millis("fault_stall_ms", v))
            .transpose()?;
        f.stall = match (after, duration) {
            (None, None) => None,
            (after, Some(duration)) => Some(StallFault {
                after: after.unwrap_or_default(),
                duration,
            }),
            (Some(_), None) => return Err("fault_stall_after_ms needs fault_stall_ms".into()),
        };
        f.media = media_params(query)?;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn error_after_is_read() {
        let f = Faults::from_query(&q(&[("fault_error_after_ms", "1500")])).unwrap();
        assert_eq!(f.error_after, Some(Duration::from_millis(1500)));
        assert!(Faults::from_query(&q(&[("fault_error_after_ms", "soon")])).is_err());
    }

    #[test]
    fn none_by_default_and_other_params_ignored() {
        let f = Faults::from_query(&q(&[("api_key", "k"), ("model", "mirage")])).unwrap();
        assert_eq!(f, Faults::default());
    }

    #[test]
    fn every_fault_parses() {
        let f = Faults::from_query(&q(&[
            ("fault_refuse", "go away"),
            ("fault_close_after_ms", "250"),
            ("fault_ack", "delay:1500"),
            ("fault_junk", "1"),
            ("fault_stall_after_ms", "1000"),
            ("fault_stall_ms", "2000"),
            ("fault_ivs", "no_server_streams"),
            ("fault_spoof_after_ms", "3000"),
        ]))
        .unwrap();
        assert_eq!(f.spoof_after, Some(Duration::from_secs(3)));
        assert_eq!(f.refuse.as_deref(), Some("go away"));
        assert_eq!(f.close_after, Some(Duration::from_millis(250)));
        assert_eq!(f.ack, AckFault::Delay(Duration::from_millis(1500)));
        assert!(f.junk);
        assert_eq!(
            f.stall,
            Some(StallFault {
                after: Duration::from_secs(1),
                duration: Duration::from_secs(2)
            })
        );
        assert_eq!(f.ivs, Some(IvsFault::NoServerStreams));
        assert_eq!(
            Faults::from_query(&q(&[("fault_ack", "never")]))
                .unwrap()
                .ack,
            AckFault::Never
        );
        assert_eq!(
            Faults::from_query(&q(&[("fault_ack", "fail")]))
                .unwrap()
                .ack,
            AckFault::Fail(None)
        );
        assert_eq!(
            Faults::from_query(&q(&[("fault_ack", "fail:no: not this")]))
                .unwrap()
                .ack,
            AckFault::Fail(Some("no: not this".into()))
        );
        assert_eq!(
            Faults::from_query(&q(&[("fault_stall_ms", "5")]))
                .unwrap()
                .stall
                .unwrap()
                .after,
            Duration::ZERO
        );
        for v in [
            "no_stage_ready",
            "disconnect_during_setup",
            "no_server_streams",
            "stage_error_after_ms:1500",
        ] {
            let f = Faults::from_query(&q(&[("fault_ivs", v)]))
                .unwrap()
                .ivs
                .unwrap();
            assert_eq!(f.to_string(), v);
        }
        assert_eq!(
            IvsFault::parse("stage_error_after_ms:250"),
            Ok(IvsFault::StageErrorAfter(Duration::from_millis(250)))
        );
    }

    #[test]
    fn bad_values_are_errors() {
        for (k, v) in [
            ("fault_ack", "sometimes"),
            ("fault_ack", "delay:x"),
            ("fault_close_after_ms", "-1"),
            ("fault_ivs", "boom"),
            ("fault_ivs", "stage_error_after_ms:"),
            ("fault_ivs", "stage_error_after_ms:soon"),
            ("fault_typo", "1"),
            ("fault_stall_after_ms", "10"),
        ] {
            assert!(Faults::from_query(&q(&[(k, v)])).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn media_parameters() {
        let f = Faults::from_query(&q(&[
            ("media_mode", "transform"),
            ("model_delay_ms", "200"),
            ("model_jitter_ms", "50"),
            ("net_delay_ms", "80"),
            ("net_jitter_ms", "10"),
            ("net_loss", "0.25"),
            ("net_rate_kbps", "800"),
            ("net_for_ms", "3000"),
            ("model", "mirage"),
        ]))
        .unwrap();
        let m = f.media;
        assert_eq!(m.mode, Some(MediaMode::Transform));
        assert_eq!(m.model_delay, Duration::from_millis(200));
        assert_eq!(m.model_jitter, Duration::from_millis(50));
        assert!(m.has_model_delay());
        assert_eq!(
            m.net,
            Some(NetImpairment {
                delay: Duration::from_millis(80),
                jitter: Duration::from_millis(10),
                loss: 0.25,
                rate_kbps: Some(800),
                duration: Some(Duration::from_secs(3)),
            })
        );
        let none = Faults::from_query(&q(&[("api_key", "k")])).unwrap().media;
        assert_eq!(none, MediaParams::default());
        assert!(!none.has_model_delay());
        let echo = Faults::from_query(&q(&[("media_mode", "echo"), ("net_loss", "1")]))
            .unwrap()
            .media;
        assert_eq!(echo.mode, Some(MediaMode::Echo));
        assert_eq!(echo.net.map(|n| n.loss), Some(1.0));
    }

    #[test]
    fn bad_media_parameters_are_errors() {
        for (k, v) in [
            ("media_mode", "transfrom"),
            ("model_delay_ms", "slow"),
            ("model_jitter_ms", "-5"),
            ("net_delay_ms", "1.5"),
            ("net_loss", "1.5"),
            ("net_loss", "-0.1"),
            ("net_loss", "most"),
            ("net_rate_kbps", "0"),
            ("net_rate_kbps", "fast"),
            ("net_for_ms", "1000"),
            ("net_typo", "1"),
        ] {
            let e = Faults::from_query(&q(&[(k, v)])).unwrap_err();
            assert!(e.contains(k), "{k}={v}: {e}");
        }
    }

    #[test]
    fn stall_window() {
        let s = StallFault {
            after: Duration::from_millis(100),
            duration: Duration::from_millis(50),
        };
        assert!(!s.is_stalled(Duration::from_millis(99)));
        assert!(s.is_stalled(Duration::from_millis(100)));
        assert!(s.is_stalled(Duration::from_millis(149)));
        assert!(!s.is_stalled(Duration::from_millis(150)));
    }
}
