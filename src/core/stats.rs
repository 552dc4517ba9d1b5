//! `getStats()` reports parsed into the `stats` event payload (`shared/API.md` §4.3, §7).
//!
//! The browser glue turns every value of an `RTCStatsReport` into [`Json`],
//! [`entries_from_json`] turns those into [`StatsEntry`]s, and a [`StatsParser`] (one per
//! connection: a new peer connection restarts the deltas) turns each poll into a
//! [`StatsSnapshot`]. For IVS, the reports of every stage stream are first combined with
//! [`merge_reports`]. A [`StallDetector`] watches the snapshots for video stalls.
//!
//! Each section (`video`, `audio`, `outboundVideo`) is described by a table of its reference
//! fields and the [`Rule`] that computes each one from the W3C `webrtc-stats` members, so the
//! payload's shape lives in one place per section:
//! - reference fields are numbers: an omitted input gives `0` and the field is listed in the
//!   section's `unavailable`; a zero divisor, or a result beyond the `f64` range, gives `0`;
//! - Δ fields are this sample minus the previous one, clamped at 0; the first sample after a
//!   (re)start (a new stats object, or counters that went backwards) has Δ = the cumulative
//!   value and bitrate 0;
//! - `interval` (this SDK's extra) holds per-interval figures that are `null` on the first
//!   sample, after a counter reset, for a missing input or an empty interval.
//!
//! Several streams of a kind: the last in report order is described.

use crate::core::json::{Json, Obj};

/// The entries of one report, looked up by id (reports are small: a linear search).
#[derive(Clone, Copy)]
struct Index<'a>(&'a [StatsEntry]);

impl<'a> Index<'a> {
    fn get(&self, id: &str) -> Option<&'a StatsEntry> {
        self.0.iter().find(|e| e.id == id)
    }
}

/// One stats object of a report: an `RTCStats` dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsEntry {
    /// The W3C `type` (`"inbound-rtp"`, `"candidate-pair"`, ...).
    pub kind: String,
    /// The W3C `id`, unique within one report; other entries refer to it (`codecId`, ...).
    pub id: String,
    /// The dictionary as the browser gave it.
    pub fields: Json,
}

impl StatsEntry {
    fn num(&self, key: &str) -> Option<f64> {
        self.fields.num(key)
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.fields.str(key)
    }
}

/// Reads a report: an array of stats objects or an object mapping id → stats object (the
/// shape of `Object.fromEntries(report)`). Each stats object needs a string `type` and a
/// string `id` (in the map form the key stands in for a missing `id`); anything else is
/// skipped. Never panics.
#[must_use]
pub fn entries_from_json(v: &Json) -> Vec<StatsEntry> {
    let entry = |item: &Json, key: Option<&String>| -> Option<StatsEntry> {
        let kind = item.str("type")?.to_string();
        let id = match item.get("id") {
            Some(Json::Str(id)) => id.clone(),
            None => key?.clone(),
            Some(_) => return None,
        };
        Some(StatsEntry {
            kind,
            id,
            fields: item.clone(),
        })
    };
    match v {
        Json::Arr(items) => items.iter().filter_map(|i| entry(i, None)).collect(),
        Json::Obj(members) => members
            .iter()
            .filter_map(|(k, i)| entry(i, Some(k)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Combines the reports of several peer connections (IVS: one per stage stream) into one.
///
/// Ids are only unique within one report, so an id found in more than one report is kept by
/// the first report that has it and renamed `r{index}-{id}` in the others, together with
/// every reference to it in that report (string members whose name ends in `Id`, string arrays
/// whose name ends in `Ids`), so lookups stay inside the report they came from.
#[must_use]
pub fn merge_reports(reports: Vec<Vec<StatsEntry>>) -> Vec<StatsEntry> {
    let err = crate::core::error::join;
    let int = crate::core::error::int;
    // Which report each id belongs to (the first that has it), and every id in use.
    let mut owner: Vec<(String, usize)> = Vec::new();
    for (index, report) in reports.iter().enumerate() {
        for e in report {
            if !owner.iter().any(|(id, _)| *id == e.id) {
                owner.push((e.id.clone(), index));
            }
        }
    }
    let mut taken: Vec<String> = owner.iter().map(|(id, _)| id.clone()).collect();
    let mut merged = Vec::with_capacity(reports.iter().map(Vec::len).sum());
    for (index, report) in reports.into_iter().enumerate() {
        let mut rename: Vec<(String, String)> = Vec::new();
        for e in &report {
            let owned_here = owner.iter().any(|(id, i)| *id == e.id && *i == index);
            if owned_here || rename.iter().any(|(from, _)| *from == e.id) {
                continue;
            }
            let prefix = err(&["r", &int(index as u64)]);
            let mut candidate = err(&[&prefix, "-", &e.id]);
            let mut n = 1u64;
            while taken.contains(&candidate) {
                candidate = err(&[&prefix, "-", &int(n), "-", &e.id]);
                n = n.saturating_add(1);
            }
            taken.push(candidate.clone());
            rename.push((e.id.clone(), candidate));
        }
        for mut entry in report {
            if !rename.is_empty() {
                if let Some(new_id) = renamed(&rename, &entry.id) {
                    entry.id = new_id.to_string();
                    set_member(&mut entry.fields, "id", Json::Str(entry.id.clone()));
                }
                if let Json::Obj(members) = &mut entry.fields {
                    for (key, value) in members.iter_mut() {
                        rename_references(key, value, &rename);
                    }
                }
            }
            merged.push(entry);
        }
    }
    merged
}

fn renamed<'a>(rename: &'a [(String, String)], id: &str) -> Option<&'a str> {
    rename
        .iter()
        .find(|(from, _)| from == id)
        .map(|(_, to)| to.as_str())
}

fn set_member(v: &mut Json, key: &str, value: Json) {
    if let Json::Obj(members) = v {
        match members.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => members.push((key.to_string(), value)),
        }
    }
}

fn rename_references(key: &str, value: &mut Json, rename: &[(String, String)]) {
    let swap = |s: &mut String| {
        if let Some(new_id) = renamed(rename, s) {
            *s = new_id.to_string();
        }
    };
    match value {
        Json::Str(s) if key.ends_with("Id") => swap(s),
        Json::Arr(items) if key.ends_with("Ids") => {
            for item in items {
                if let Json::Str(s) = item {
                    swap(s);
                }
            }
        }
        _ => {}
    }
}

/// How a reference field is computed from the W3C members.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// The member as it is (a counter or a current value).
    Copy(&'static str),
    /// Bits per second from the Δ of a byte counter over the interval, rounded.
    Bitrate(&'static str),
    /// Δ of a counter since the previous sample, clamped at 0.
    Delta(&'static str),
    /// `numerator ÷ denominator × 1000` (a cumulative average in ms).
    Ms(&'static str, &'static str),
    /// `√(sum of squares ÷ count) × 1000` (an RMS in ms).
    RmsMs(&'static str, &'static str),
}

/// How an `interval` figure is computed over the last interval.
#[derive(Debug, Clone, Copy)]
pub enum IntervalRule {
    /// Δ of a counter.
    Delta(&'static str),
    /// `Δnumerator ÷ Δdenominator × 1000`.
    MeanMs(&'static str, &'static str),
    /// Standard deviation, ms, of the values whose Δsum and Δ(sum of squares) over a Δcount
    /// are given: `(sum, squares, count)`.
    StddevMs(&'static str, &'static str, &'static str),
}

/// One section's description: which stats object, its reference fields, its interval
/// figures, the counters whose going backwards means a restart, and extras.
pub struct SectionSpec {
    /// W3C `type`.
    pub kind: &'static str,
    /// W3C `kind` (media kind).
    pub media: &'static str,
    /// Reference fields, in payload order.
    pub fields: &'static [(&'static str, Rule)],
    /// Interval figures.
    pub interval: &'static [(&'static str, IntervalRule)],
    /// Counters that go backwards only when the stats object was recreated.
    pub counters: &'static [&'static str],
    /// Members copied as extras: strings and finite numbers (`null` for anything else).
    pub extras: &'static [&'static str],
}

/// The `video` section: inbound video.
pub const VIDEO: SectionSpec = SectionSpec {
    kind: "inbound-rtp",
    media: "video",
    fields: &[
        ("framesDecoded", Rule::Copy("framesDecoded")),
        ("framesDropped", Rule::Copy("framesDropped")),
        ("framesReceived", Rule::Copy("framesReceived")),
        ("packetsReceived", Rule::Copy("packetsReceived")),
        ("packetsLost", Rule::Copy("packetsLost")),
        ("freezeCount", Rule::Copy("freezeCount")),
        ("nackCount", Rule::Copy("nackCount")),
        ("firCount", Rule::Copy("firCount")),
        ("pliCount", Rule::Copy("pliCount")),
        ("bytesReceived", Rule::Copy("bytesReceived")),
        ("totalFreezesDuration", Rule::Copy("totalFreezesDuration")),
        ("framesPerSecond", Rule::Copy("framesPerSecond")),
        ("frameWidth", Rule::Copy("frameWidth")),
        ("frameHeight", Rule::Copy("frameHeight")),
        ("jitter", Rule::Copy("jitter")),
        ("bitrate", Rule::Bitrate("bytesReceived")),
        ("packetsLostDelta", Rule::Delta("packetsLost")),
        ("framesDroppedDelta", Rule::Delta("framesDropped")),
        ("freezeCountDelta", Rule::Delta("freezeCount")),
        ("nackCountDelta", Rule::Delta("nackCount")),
        ("freezeDurationDelta", Rule::Delta("totalFreezesDuration")),
        (
            "avgInterFrameDelayMs",
            Rule::Ms("totalInterFrameDelay", "framesDecoded"),
        ),
        (
            "interFrameDelayVarianceMs",
            Rule::RmsMs("totalSquaredInterFrameDelay", "framesDecoded"),
        ),
        (
            "jitterBufferTargetDelayMs",
            Rule::Ms("jitterBufferTargetDelay", "jitterBufferEmittedCount"),
        ),
        (
            "jitterBufferMinimumDelayMs",
            Rule::Ms("jitterBufferMinimumDelay", "jitterBufferEmittedCount"),
        ),
        (
            "avgJitterBufferMs",
            Rule::Ms("jitterBufferDelay", "jitterBufferEmittedCount"),
        ),
        (
            "avgDecodeTimeMs",
            Rule::Ms("totalDecodeTime", "framesDecoded"),
        ),
        (
            "avgProcessingDelayMs",
            Rule::Ms("totalProcessingDelay", "framesDecoded"),
        ),
    ],
    interval: &[
        ("framesDecodedDelta", IntervalRule::Delta("framesDecoded")),
        ("framesReceivedDelta", IntervalRule::Delta("framesReceived")),
        ("bytesReceivedDelta", IntervalRule::Delta("bytesReceived")),
        (
            "packetsReceivedDelta",
            IntervalRule::Delta("packetsReceived"),
        ),
        ("firCountDelta", IntervalRule::Delta("firCount")),
        ("pliCountDelta", IntervalRule::Delta("pliCount")),
        (
            "interFrameDelayMeanMs",
            IntervalRule::MeanMs("totalInterFrameDelay", "framesDecoded"),
        ),
        (
            "interFrameDelayStddevMs",
            IntervalRule::StddevMs(
                "totalInterFrameDelay",
                "totalSquaredInterFrameDelay",
                "framesDecoded",
            ),
        ),
        (
            "jitterBufferDelayMs",
            IntervalRule::MeanMs("jitterBufferDelay", "jitterBufferEmittedCount"),
        ),
        (
            "jitterBufferTargetDelayMs",
            IntervalRule::MeanMs("jitterBufferTargetDelay", "jitterBufferEmittedCount"),
        ),
        (
            "jitterBufferMinimumDelayMs",
            IntervalRule::MeanMs("jitterBufferMinimumDelay", "jitterBufferEmittedCount"),
        ),
        (
            "decodeTimePerFrameMs",
            IntervalRule::MeanMs("totalDecodeTime", "framesDecoded"),
        ),
        (
            "processingTimePerFrameMs",
            IntervalRule::MeanMs("totalProcessingDelay", "framesDecoded"),
        ),
    ],
    counters: &[
        "bytesReceived",
        "packetsReceived",
        "framesDecoded",
        "framesReceived",
    ],
    extras: &["decoderImplementation", "keyFramesDecoded"],
};

/// The `audio` section: inbound audio.
pub const AUDIO: SectionSpec = SectionSpec {
    kind: "inbound-rtp",
    media: "audio",
    fields: &[
        ("bytesReceived", Rule::Copy("bytesReceived")),
        ("packetsReceived", Rule::Copy("packetsReceived")),
        ("packetsLost", Rule::Copy("packetsLost")),
        ("jitter", Rule::Copy("jitter")),
        ("bitrate", Rule::Bitrate("bytesReceived")),
        ("packetsLostDelta", Rule::Delta("packetsLost")),
    ],
    interval: &[(
        "packetsReceivedDelta",
        IntervalRule::Delta("packetsReceived"),
    )],
    counters: &["bytesReceived", "packetsReceived"],
    extras: &[],
};

/// The `outboundVideo` section (its two non-numeric reference fields,
/// `qualityLimitationReason` and `qualityLimitationDurations`, and `targetBitrateKbps`, which
/// may be `null`, are added by the parser).
pub const OUTBOUND_VIDEO: SectionSpec = SectionSpec {
    kind: "outbound-rtp",
    media: "video",
    fields: &[
        ("bytesSent", Rule::Copy("bytesSent")),
        ("packetsSent", Rule::Copy("packetsSent")),
        (
            "retransmittedBytesSent",
            Rule::Copy("retransmittedBytesSent"),
        ),
        (
            "retransmittedPacketsSent",
            Rule::Copy("retransmittedPacketsSent"),
        ),
        ("nackCount", Rule::Copy("nackCount")),
        ("firCount", Rule::Copy("firCount")),
        ("pliCount", Rule::Copy("pliCount")),
        ("framesPerSecond", Rule::Copy("framesPerSecond")),
        ("frameWidth", Rule::Copy("frameWidth")),
        ("frameHeight", Rule::Copy("frameHeight")),
        ("bitrate", Rule::Bitrate("bytesSent")),
        (
            "avgPacketSendDelayMs",
            Rule::Ms("totalPacketSendDelay", "packetsSent"),
        ),
        (
            "avgEncodeTimeMs",
            Rule::Ms("totalEncodeTime", "framesEncoded"),
        ),
    ],
    interval: &[
        ("packetsSentDelta", IntervalRule::Delta("packetsSent")),
        ("framesEncodedDelta", IntervalRule::Delta("framesEncoded")),
        (
            "packetSendDelayMs",
            IntervalRule::MeanMs("totalPacketSendDelay", "packetsSent"),
        ),
        (
            "encodeTimePerFrameMs",
            IntervalRule::MeanMs("totalEncodeTime", "framesEncoded"),
        ),
    ],
    counters: &["bytesSent", "packetsSent", "framesEncoded"],
    extras: &[
        "encoderImplementation",
        "framesEncoded",
        "framesSent",
        "targetBitrate",
    ],
};

/// One parsed section.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// W3C `id` of the stats object.
    pub id: String,
    /// `mimeType` of the codec stats `codecId` names.
    pub codec: Option<String>,
    /// Reference fields in payload order (numbers, except the outbound section's
    /// `qualityLimitationReason`, `qualityLimitationDurations` and `targetBitrateKbps`).
    pub fields: Vec<(&'static str, Json)>,
    /// Reference fields holding a fallback for an omitted input.
    pub unavailable: Vec<&'static str>,
    /// Extras copied from the W3C members (`null` when absent).
    pub extras: Vec<(&'static str, Json)>,
    /// Figures over the last interval (`None` = `null`).
    pub interval: Vec<(&'static str, Option<f64>)>,
}

impl Section {
    /// A reference field as a number (0 when absent or not a number).
    #[must_use]
    pub fn num(&self, name: &str) -> f64 {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.as_f64())
            .unwrap_or(0.0)
    }

    /// A reference field as a string.
    #[must_use]
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == name)?.1.as_str()
    }

    /// An interval figure.
    #[must_use]
    pub fn interval(&self, name: &str) -> Option<f64> {
        self.interval.iter().find(|(k, _)| *k == name)?.1
    }

    /// True when the reference field's input was omitted by the browser.
    #[must_use]
    pub fn is_unavailable(&self, name: &str) -> bool {
        self.unavailable.contains(&name)
    }

    fn to_json(&self, extras: bool) -> Json {
        let mut members: Vec<(String, Json)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if extras {
            let names: Vec<Json> = self.unavailable.iter().map(|n| Json::from(*n)).collect();
            members.push(("unavailable".into(), Json::Arr(names)));
            members.push(("id".into(), Json::Str(self.id.clone())));
            members.push(("codec".into(), self.codec.clone().into()));
            members.extend(self.extras.iter().map(|(k, v)| (k.to_string(), v.clone())));
            let interval = self
                .interval
                .iter()
                .map(|(k, v)| (k.to_string(), Json::from(*v)))
                .collect();
            members.push(("interval".into(), Json::Obj(interval)));
        }
        Json::Obj(members)
    }
}

/// One end of a candidate pair.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidate {
    /// W3C `address` (the older `ip` when `address` is missing).
    pub address: Option<String>,
    /// W3C `port`.
    pub port: Option<u16>,
    /// W3C `protocol`: `"udp"` or `"tcp"`.
    pub protocol: Option<String>,
    /// W3C `candidateType`: `"host"`, `"srflx"`, `"prflx"` or `"relay"`.
    pub candidate_type: Option<String>,
    /// W3C `relayProtocol` for relay candidates.
    pub relay_protocol: Option<String>,
}

impl Candidate {
    fn of(e: &StatsEntry) -> Self {
        Candidate {
            address: e.str("address").or_else(|| e.str("ip")).map(str::to_string),
            port: e
                .num("port")
                .filter(|p| (0.0..=65535.0).contains(p))
                .map(|p| p as u16),
            protocol: e.str("protocol").map(str::to_string),
            candidate_type: e.str("candidateType").map(str::to_string),
            relay_protocol: e.str("relayProtocol").map(str::to_string),
        }
    }

    /// `{address, port, protocol, candidateType, relayProtocol}` with the reference's defaults
    /// (`port` 0, `protocol` "udp", `candidateType` "unknown").
    #[must_use]
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("address", self.address.as_deref().unwrap_or_default())
            .set("port", self.port.unwrap_or(0))
            .set("protocol", self.protocol.as_deref().unwrap_or("udp"))
            .set(
                "candidateType",
                self.candidate_type.as_deref().unwrap_or("unknown"),
            )
            .set("relayProtocol", self.relay_protocol.as_deref())
            .build()
    }
}

/// A candidate pair with its two candidates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CandidatePair {
    /// W3C `id`.
    pub id: String,
    /// W3C `state`.
    pub state: Option<String>,
    /// W3C `nominated`.
    pub nominated: Option<bool>,
    /// W3C `currentRoundTripTime`, seconds.
    pub current_round_trip_time: Option<f64>,
    /// W3C `availableOutgoingBitrate`, bits per second.
    pub available_outgoing_bitrate: Option<f64>,
    /// W3C `bytesSent`.
    pub bytes_sent: Option<f64>,
    /// W3C `bytesReceived`.
    pub bytes_received: Option<f64>,
    /// The `local-candidate` `localCandidateId` names.
    pub local: Option<Candidate>,
    /// The `remote-candidate` `remoteCandidateId` names.
    pub remote: Option<Candidate>,
}

impl CandidatePair {
    fn of(e: &StatsEntry, by_id: &Index<'_>) -> Self {
        let end = |key: &str, kind: &str| {
            let c = by_id.get(e.str(key)?).filter(|c| c.kind == kind)?;
            Some(Candidate::of(c))
        };
        CandidatePair {
            id: e.id.clone(),
            state: e.str("state").map(str::to_string),
            nominated: e.fields.bool("nominated"),
            current_round_trip_time: e.num("currentRoundTripTime"),
            available_outgoing_bitrate: e.num("availableOutgoingBitrate"),
            bytes_sent: e.num("bytesSent"),
            bytes_received: e.num("bytesReceived"),
            local: end("localCandidateId", "local-candidate"),
            remote: end("remoteCandidateId", "remote-candidate"),
        }
    }

    /// The full record (`connection.selectedCandidatePair`, the `selectedCandidatePair`
    /// diagnostic's extras).
    #[must_use]
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("local", self.local.as_ref().map(Candidate::to_json))
            .set("remote", self.remote.as_ref().map(Candidate::to_json))
            .set("id", self.id.as_str())
            .set("state", self.state.as_deref())
            .set("nominated", self.nominated)
            .set("currentRoundTripTime", self.current_round_trip_time)
            .set("availableOutgoingBitrate", self.available_outgoing_bitrate)
            .set("bytesSent", self.bytes_sent)
            .set("bytesReceived", self.bytes_received)
            .build()
    }

    /// Both candidates, when both are known: what a `{local, remote}` item needs.
    #[must_use]
    pub fn ends(&self) -> Option<(&Candidate, &Candidate)> {
        Some((self.local.as_ref()?, self.remote.as_ref()?))
    }
}

/// The transport section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionStats {
    /// `currentRoundTripTime` (s) of a succeeded pair (the last), else `None`.
    pub current_round_trip_time: Option<f64>,
    /// `availableOutgoingBitrate` (bit/s) of a succeeded pair (the last), else `None`.
    pub available_outgoing_bitrate: Option<f64>,
    /// Every succeeded pair, in report order.
    pub succeeded_pairs: Vec<CandidatePair>,
    /// The pair in use: the one a transport selects, else the last succeeded pair.
    pub selected_candidate_pair: Option<CandidatePair>,
}

impl ConnectionStats {
    fn to_json(&self, extras: bool) -> Json {
        let items: Vec<Json> = self
            .succeeded_pairs
            .iter()
            .filter(|p| {
                p.ends()
                    .is_some_and(|(l, r)| l.address.is_some() && r.address.is_some())
            })
            .map(|p| {
                if extras {
                    p.to_json()
                } else {
                    let (l, r) = p
                        .ends()
                        .map(|(l, r)| (l.to_json(), r.to_json()))
                        .unwrap_or_default();
                    Obj::new().set("local", l).set("remote", r).build()
                }
            })
            .collect();
        let o = Obj::new()
            .set("currentRoundTripTime", self.current_round_trip_time)
            .set("availableOutgoingBitrate", self.available_outgoing_bitrate)
            .set("selectedCandidatePairs", Json::Arr(items));
        if extras {
            o.set(
                "selectedCandidatePair",
                self.selected_candidate_pair
                    .as_ref()
                    .map(CandidatePair::to_json),
            )
        } else {
            o
        }
        .build()
    }
}

/// One parsed poll: the `stats` event payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsSnapshot {
    /// Wall-clock ms (`Date.now()`) of the poll.
    pub timestamp: f64,
    /// Inbound video, if any.
    pub video: Option<Section>,
    /// Inbound audio, if any.
    pub audio: Option<Section>,
    /// Outbound video, if any.
    pub outbound_video: Option<Section>,
    /// The transport.
    pub connection: ConnectionStats,
}

impl StatsSnapshot {
    /// The `stats` event payload: reference fields and this SDK's extras.
    #[must_use]
    pub fn to_json(&self) -> Json {
        self.json(true)
    }

    /// Reference fields only (what telemetry sends).
    #[must_use]
    pub fn to_reference_json(&self) -> Json {
        self.json(false)
    }

    fn json(&self, extras: bool) -> Json {
        let section = |s: &Option<Section>| s.as_ref().map(|s| s.to_json(extras));
        Obj::new()
            .set("timestamp", self.timestamp)
            .set("video", section(&self.video))
            .set("audio", section(&self.audio))
            .set("outboundVideo", section(&self.outbound_video))
            .set("connection", self.connection.to_json(extras))
            .build()
    }

    /// Inbound video fps, when video is received.
    #[must_use]
    pub fn video_fps(&self) -> Option<f64> {
        self.video.as_ref().map(|v| v.num("framesPerSecond"))
    }
}

/// The previous sample of one stats object.
#[derive(Debug, Clone)]
struct Baseline {
    id: String,
    at_ms: f64,
    fields: Json,
}

/// Turns reports into [`StatsSnapshot`]s, keeping the previous sample of each section for
/// deltas and bitrates. Pure: time comes in as arguments.
#[derive(Debug, Clone, Default)]
pub struct StatsParser {
    previous: [Option<Baseline>; 3],
}

impl StatsParser {
    /// A parser with no previous sample.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the previous samples (a new peer connection): the next sample restarts.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Parses one report polled at `now_ms` (wall-clock ms, `Date.now()`): the payload's
    /// `timestamp`, and the interval length when the stats objects carry no `timestamp`.
    pub fn parse(&mut self, entries: &[StatsEntry], now_ms: f64) -> StatsSnapshot {
        let by_id = Index(entries);
        let mut sections = [None, None, None];
        for (i, spec) in [&VIDEO, &AUDIO, &OUTBOUND_VIDEO].into_iter().enumerate() {
            let entry = entries.iter().rev().find(|e| {
                e.kind == spec.kind
                    && e.str("kind").or_else(|| e.str("mediaType")) == Some(spec.media)
            });
            sections[i] = entry.map(|e| {
                let prev = self.previous[i].as_ref();
                section(spec, e, prev, now_ms, &by_id)
            });
            self.previous[i] = entry.map(|e| Baseline {
                id: e.id.clone(),
                at_ms: e.num("timestamp").unwrap_or(now_ms),
                fields: e.fields.clone(),
            });
        }
        let [video, audio, outbound_video] = sections;
        StatsSnapshot {
            timestamp: now_ms,
            video,
            audio,
            outbound_video,
            connection: connection(entries, &by_id),
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    Some(v).filter(|v| v.is_finite())
}

fn section(
    spec: &SectionSpec,
    e: &StatsEntry,
    prev: Option<&Baseline>,
    now_ms: f64,
    by_id: &Index<'_>,
) -> Section {
    // A previous sample of the same object whose counters did not go backwards.
    let prev = prev.filter(|p| {
        p.id == e.id
            && !spec
                .counters
                .iter()
                .any(|k| matches!((e.num(k), p.fields.num(k)), (Some(c), Some(p)) if c < p))
    });
    let elapsed_ms = prev.and_then(|p| {
        let at = e.num("timestamp").unwrap_or(now_ms);
        finite(at - p.at_ms).filter(|d| *d > 0.0)
    });
    let delta = |k: &str| -> Option<f64> {
        let cur = e.num(k)?;
        Some(match prev {
            Some(p) => (cur - p.fields.num(k).unwrap_or(0.0)).max(0.0),
            None => cur.max(0.0),
        })
    };
    let interval_delta = |k: &str| -> Option<f64> {
        let p = prev?;
        let d = e.num(k)? - p.fields.num(k)?;
        finite(d).filter(|d| *d >= 0.0)
    };
    let ratio = |n: f64, d: f64| {
        if d > 0.0 {
            finite(n / d).unwrap_or(0.0)
        } else {
            0.0
        }
    };

    let mut unavailable = Vec::new();
    let mut fields = Vec::with_capacity(spec.fields.len() + 3);
    for &(name, rule) in spec.fields {
        let value = match rule {
            Rule::Copy(k) => e.num(k),
            Rule::Delta(k) => delta(k),
            Rule::Bitrate(k) => e.num(k).map(|_| match (interval_delta(k), elapsed_ms) {
                (Some(bytes), Some(ms)) => (bytes * 8000.0 / ms).round(),
                _ => 0.0,
            }),
            Rule::Ms(n, d) => e.num(n).zip(e.num(d)).map(|(n, d)| ratio(n, d) * 1000.0),
            Rule::RmsMs(n, d) => e
                .num(n)
                .zip(e.num(d))
                .map(|(n, d)| ratio(n, d).max(0.0).sqrt() * 1000.0),
        };
        if value.is_none() {
            unavailable.push(name);
        }
        fields.push((name, Json::Num(value.and_then(finite).unwrap_or(0.0))));
    }
    if spec.kind == OUTBOUND_VIDEO.kind {
        let reason = e.str("qualityLimitationReason");
        if reason.is_none() {
            unavailable.push("qualityLimitationReason");
        }
        let durations = match e.fields.get("qualityLimitationDurations") {
            Some(Json::Obj(m)) => Json::Obj(
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Json::Num(v.as_f64()?))))
                    .collect(),
            ),
            _ => {
                unavailable.push("qualityLimitationDurations");
                Json::Obj(Vec::new())
            }
        };
        fields.insert(0, ("qualityLimitationDurations", durations));
        fields.insert(
            0,
            (
                "qualityLimitationReason",
                Json::from(reason.unwrap_or("none")),
            ),
        );
        let at = fields
            .iter()
            .position(|(k, _)| *k == "avgPacketSendDelayMs")
            .unwrap_or(fields.len());
        let kbps = e.num("targetBitrate").map(|b| b / 1000.0);
        fields.insert(at, ("targetBitrateKbps", kbps.into()));
    }
    let interval = spec
        .interval
        .iter()
        .map(|&(name, rule)| {
            let v = match rule {
                IntervalRule::Delta(k) => interval_delta(k),
                IntervalRule::MeanMs(n, d) => interval_delta(d)
                    .filter(|d| *d > 0.0)
                    .and_then(|d| finite(interval_delta(n)? / d * 1000.0)),
                IntervalRule::StddevMs(sum, squares, count) => {
                    interval_delta(count).filter(|c| *c > 0.0).and_then(|c| {
                        let mean = interval_delta(sum)? / c;
                        // Rounding can make the variance slightly negative when all are equal.
                        let var = (interval_delta(squares)? / c - mean * mean).max(0.0);
                        finite(var.sqrt() * 1000.0)
                    })
                }
            };
            (name, v)
        })
        .collect();
    let codec = e
        .str("codecId")
        .and_then(|id| by_id.get(id))
        .filter(|c| c.kind == "codec")
        .and_then(|c| c.str("mimeType"))
        .map(str::to_string);
    Section {
        id: e.id.clone(),
        codec,
        fields,
        unavailable,
        extras: spec
            .extras
            .iter()
            .map(|k| {
                let v = match e.fields.get(k) {
                    Some(v @ Json::Str(_)) => v.clone(),
                    Some(Json::Num(n)) => finite(*n).into(),
                    _ => Json::Null,
                };
                (*k, v)
            })
            .collect(),
        interval,
    }
}

fn connection(entries: &[StatsEntry], by_id: &Index<'_>) -> ConnectionStats {
    let succeeded: Vec<CandidatePair> = entries
        .iter()
        .filter(|e| e.kind == "candidate-pair" && e.str("state") == Some("succeeded"))
        .map(|e| CandidatePair::of(e, by_id))
        .collect();
    let named = entries
        .iter()
        .filter(|e| e.kind == "transport")
        .filter_map(|t| by_id.get(t.str("selectedCandidatePairId")?))
        .rfind(|p| p.kind == "candidate-pair")
        .map(|p| CandidatePair::of(p, by_id));
    let last = succeeded.last();
    ConnectionStats {
        current_round_trip_time: last.and_then(|p| p.current_round_trip_time),
        available_outgoing_bitrate: last.and_then(|p| p.available_outgoing_bitrate),
        selected_candidate_pair: named.or_else(|| last.cloned()),
        succeeded_pairs: succeeded,
    }
}

/// The first `succeeded` pair of a report whose two candidates exist: the
/// `selectedCandidatePair` diagnostic (`None` when a candidate is missing).
#[must_use]
pub fn first_succeeded_pair(entries: &[StatsEntry]) -> Option<CandidatePair> {
    let by_id = Index(entries);
    let pair = entries
        .iter()
        .find(|e| e.kind == "candidate-pair" && e.str("state") == Some("succeeded"))?;
    let pair = CandidatePair::of(pair, &by_id);
    pair.ends()?;
    Some(pair)
}

/// The `selectedCandidatePair` diagnostic's data: `{local, remote}` of `{candidateType,
/// protocol, address?, port?}` (missing type or protocol → `"unknown"`) plus the pair's
/// extras.
#[must_use]
pub fn pair_diagnostic(pair: &CandidatePair) -> Json {
    let end = |c: &Option<Candidate>| {
        c.as_ref().map(|c| {
            Obj::new()
                .set(
                    "candidateType",
                    c.candidate_type.as_deref().unwrap_or("unknown"),
                )
                .set("protocol", c.protocol.as_deref().unwrap_or("unknown"))
                .opt("address", c.address.as_deref())
                .opt("port", c.port)
                .set("relayProtocol", c.relay_protocol.as_deref())
                .build()
        })
    };
    Obj::new()
        .set("local", end(&pair.local))
        .set("remote", end(&pair.remote))
        .set("id", pair.id.as_str())
        .set("state", pair.state.as_deref())
        .set("nominated", pair.nominated)
        .set("currentRoundTripTime", pair.current_round_trip_time)
        .set("availableOutgoingBitrate", pair.available_outgoing_bitrate)
        .set("bytesSent", pair.bytes_sent)
        .set("bytesReceived", pair.bytes_received)
        .build()
}

/// Frames per second below which received video counts as stalled.
pub const STALL_FPS: f64 = 0.5;

/// A change of the video stall state: the `videoStall` diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub enum StallChange {
    /// Received video fell below [`STALL_FPS`] (`{stalled: true, durationMs: 0, fps}`).
    Started {
        /// The `framesPerSecond` that started the stall.
        fps: f64,
    },
    /// Received video is back (`{stalled: false, durationMs}`).
    Ended {
        /// How long the stall lasted, wall ms.
        duration_ms: f64,
    },
}

impl StallChange {
    /// The diagnostic's data.
    #[must_use]
    pub fn to_json(&self) -> Json {
        match self {
            StallChange::Started { fps } => Obj::new()
                .set("stalled", true)
                .set("durationMs", 0u32)
                .set("fps", *fps),
            StallChange::Ended { duration_ms } => Obj::new()
                .set("stalled", false)
                .set("durationMs", *duration_ms),
        }
        .build()
    }
}

/// Watches snapshots for video stalls: inbound video present with `framesPerSecond` below
/// [`STALL_FPS`]. Reset when stats restart (a new connection).
#[derive(Debug, Clone, Default)]
pub struct StallDetector {
    stalled_since_ms: Option<f64>,
}

impl StallDetector {
    /// A detector that is not in a stall.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a stall has started and not ended.
    #[must_use]
    pub fn is_stalled(&self) -> bool {
        self.stalled_since_ms.is_some()
    }

    /// Forgets a running stall without reporting its end.
    pub fn reset(&mut self) {
        self.stalled_since_ms = None;
    }

    /// Feeds one snapshot taken at `now_ms` (wall ms); returns the change of stall state.
    pub fn update(&mut self, snapshot: &StatsSnapshot, now_ms: f64) -> Option<StallChange> {
        let fps = snapshot.video_fps()?;
        match self.stalled_since_ms {
            None if fps < STALL_FPS => {
                self.stalled_since_ms = Some(now_ms);
                Some(StallChange::Started { fps })
            }
            Some(since) if fps >= STALL_FPS => {
                self.stalled_since_ms = None;
                let duration_ms = finite(now_ms - since).map_or(0.0, |d| d.max(0.0));
                Some(StallChange::Ended { duration_ms })
            }
            _ => None,
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
