//! `getStats()` reports parsed into typed snapshots, with bitrates and deltas between samples.
//!
//! The browser glue turns every value of an `RTCStatsReport` into a [`serde_json::Value`],
//! [`entries_from_json`] turns those into [`StatsEntry`]s, and a [`StatsParser`] (one per
//! session, it keeps the previous sample) turns each poll into a [`StatsSnapshot`]: the
//! payload of the `stats` event. For IVS, the reports of every stage stream are first combined
//! with [`merge_reports`]. A [`StallDetector`] watches the snapshots for video stalls.
//!
//! Conventions, after str0m's `stats.rs`:
//! - every field that a browser may omit is an `Option`, and `None` also stands for a field of
//!   the wrong type: a report is input, and no input makes this module panic;
//! - fields copied from the W3C `webrtc-stats` dictionaries keep the W3C unit (seconds for
//!   `jitter`, `currentRoundTripTime`, `totalFreezesDuration`, ...) and are documented with the
//!   W3C name they come from;
//! - derived values say their unit in their name (`_ms`), bitrates are in bits per second;
//! - deltas, bitrates and per-frame averages are computed against the previous sample of the
//!   same stats object, so they are `None` in the first sample, when the object changes (another
//!   `id`) and when its counters went backwards (a new peer connection after a reconnect): the
//!   sample becomes the new baseline instead of producing negative values.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

/// One stats object of a report: an `RTCStats` dictionary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsEntry {
    /// The W3C `type` (`"inbound-rtp"`, `"candidate-pair"`, ...).
    pub kind: String,
    /// The W3C `id`, unique within one report; other entries refer to it (`codecId`, ...).
    pub id: String,
    /// Every other member of the dictionary (`type` and `id` excluded), as the browser gave it.
    pub fields: Map<String, Value>,
}

/// Reads a report: either an array of stats objects or an object mapping id → stats object
/// (the shape of `Object.fromEntries(report)`).
///
/// Each stats object needs a string `type` and a string `id` (in the map form the key stands
/// in for a missing `id`); anything else is skipped. Never panics.
#[must_use]
pub fn entries_from_json(v: &Value) -> Vec<StatsEntry> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| entry_from_json(item, None))
            .collect(),
        Value::Object(map) => map
            .iter()
            .filter_map(|(key, item)| entry_from_json(item, Some(key)))
            .collect(),
        _ => Vec::new(),
    }
}

fn entry_from_json(item: &Value, key: Option<&String>) -> Option<StatsEntry> {
    let obj = item.as_object()?;
    let kind = obj.get("type")?.as_str()?.to_owned();
    let id = match obj.get("id") {
        Some(Value::String(id)) => id.clone(),
        None => key?.clone(),
        Some(_) => return None,
    };
    let fields = obj
        .iter()
        .filter(|(k, _)| *k != "type" && *k != "id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(StatsEntry { kind, id, fields })
}

/// Combines the reports of several peer connections (IVS: one per stage stream) into one.
///
/// Ids are only unique within one report, so an id found in more than one report is kept by
/// the first report that has it and renamed `r{index}-{id}` in the others; within each renamed
/// report every reference to it (string members whose name ends in `Id`, such as
/// `localCandidateId`, `codecId`, `transportId`, `selectedCandidatePairId`, `remoteId`, and
/// string arrays whose name ends in `Ids`) is renamed the same way, so lookups stay inside the
/// report they came from.
#[must_use]
pub fn merge_reports(reports: Vec<Vec<StatsEntry>>) -> Vec<StatsEntry> {
    let mut reports_with_id: HashMap<String, usize> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for report in &reports {
        let ids: HashSet<&String> = report.iter().map(|e| &e.id).collect();
        for id in ids {
            *reports_with_id.entry(id.clone()).or_insert(0) += 1;
            taken.insert(id.clone());
        }
    }
    // Which report keeps each colliding id: the first that has it.
    let mut kept_by: HashMap<String, usize> = HashMap::new();
    let mut merged = Vec::with_capacity(reports.iter().map(Vec::len).sum());
    for (index, report) in reports.into_iter().enumerate() {
        let mut rename: HashMap<String, String> = HashMap::new();
        let ids: Vec<String> = report.iter().map(|e| e.id.clone()).collect();
        for id in ids {
            if reports_with_id.get(&id).copied().unwrap_or(0) < 2 || rename.contains_key(&id) {
                continue;
            }
            match kept_by.get(&id) {
                None => {
                    kept_by.insert(id, index);
                    continue;
                }
                Some(&keeper) if keeper == index => continue,
                Some(_) => {}
            }
            let mut candidate = format!("r{index}-{id}");
            let mut n = 1u32;
            while taken.contains(&candidate) {
                candidate = format!("r{index}-{n}-{id}");
                n = n.saturating_add(1);
            }
            taken.insert(candidate.clone());
            rename.insert(id, candidate);
        }
        for mut entry in report {
            if !rename.is_empty() {
                if let Some(new_id) = rename.get(&entry.id) {
                    entry.id = new_id.clone();
                }
                for (key, value) in entry.fields.iter_mut() {
                    rename_references(key, value, &rename);
                }
            }
            merged.push(entry);
        }
    }
    merged
}

fn rename_references(key: &str, value: &mut Value, rename: &HashMap<String, String>) {
    if key.ends_with("Id") {
        if let Value::String(s) = value {
            if let Some(new_id) = rename.get(s.as_str()) {
                *s = new_id.clone();
            }
        }
    } else if key.ends_with("Ids") {
        if let Value::Array(items) = value {
            for item in items {
                if let Value::String(s) = item {
                    if let Some(new_id) = rename.get(s.as_str()) {
                        *s = new_id.clone();
                    }
                }
            }
        }
    }
}

/// One parsed poll: the `stats` event payload.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// The `now_ms` given to [`StatsParser::parse`].
    pub timestamp: f64,
    /// The received video stream (`inbound-rtp` of kind `video`), if any.
    pub video: Option<InboundVideo>,
    /// The received audio stream (`inbound-rtp` of kind `audio`), if any.
    pub audio: Option<InboundAudio>,
    /// The sent video stream (`outbound-rtp` of kind `video`), if any.
    pub outbound_video: Option<OutboundVideo>,
    /// The transport: round-trip time, estimated bandwidth and the candidate pairs in use.
    pub connection: ConnectionStats,
}

/// The received video stream, from an `RTCInboundRtpStreamStats` of kind `video`.
///
/// When a report has several (IVS merges the reports of several stage streams, and a peer
/// connection may receive several video tracks), the one with the most `bytesReceived` is the
/// one described: the stream that carries the picture the user watches.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InboundVideo {
    /// W3C `id` of the stats object.
    pub id: String,
    /// `mimeType` of the `codec` stats that `codecId` refers to, such as `"video/VP8"`.
    pub codec: Option<String>,
    /// W3C `decoderImplementation` (Chromium: `"libvpx"`, `"ExternalDecoder"`, ...).
    pub decoder_implementation: Option<String>,
    /// W3C `framesDecoded`.
    pub frames_decoded: Option<u64>,
    /// W3C `framesDropped`.
    pub frames_dropped: Option<u64>,
    /// W3C `framesReceived`.
    pub frames_received: Option<u64>,
    /// W3C `keyFramesDecoded`.
    pub key_frames_decoded: Option<u64>,
    /// W3C `framesPerSecond`, decoded frames in the last second; when the browser omits it,
    /// the `framesDecoded` delta over the time since the last sample.
    pub frames_per_second: Option<f64>,
    /// W3C `frameWidth`, pixels.
    pub frame_width: Option<u32>,
    /// W3C `frameHeight`, pixels.
    pub frame_height: Option<u32>,
    /// W3C `bytesReceived` (payload bytes, RTP headers and padding excluded).
    pub bytes_received: Option<u64>,
    /// W3C `packetsReceived`.
    pub packets_received: Option<u64>,
    /// W3C `packetsLost` (may be negative when duplicates arrive).
    pub packets_lost: Option<i64>,
    /// W3C `jitter`, seconds.
    pub jitter: Option<f64>,
    /// Bits per second: the `bytesReceived` delta over the time since the last sample.
    pub bitrate: Option<f64>,
    /// W3C `freezeCount`.
    pub freeze_count: Option<u64>,
    /// W3C `totalFreezesDuration`, seconds.
    pub total_freezes_duration: Option<f64>,
    /// W3C `nackCount`: NACKs sent.
    pub nack_count: Option<u64>,
    /// W3C `firCount`: full intra requests sent.
    pub fir_count: Option<u64>,
    /// W3C `pliCount`: picture loss indications sent.
    pub pli_count: Option<u64>,
    /// `framesDecoded` delta since the last sample.
    pub frames_decoded_delta: Option<u64>,
    /// `framesDropped` delta since the last sample.
    pub frames_dropped_delta: Option<u64>,
    /// `framesReceived` delta since the last sample.
    pub frames_received_delta: Option<u64>,
    /// `bytesReceived` delta since the last sample.
    pub bytes_received_delta: Option<u64>,
    /// `packetsReceived` delta since the last sample.
    pub packets_received_delta: Option<u64>,
    /// `packetsLost` delta since the last sample (negative when late duplicates arrived).
    pub packets_lost_delta: Option<i64>,
    /// `freezeCount` delta since the last sample.
    pub freeze_count_delta: Option<u64>,
    /// `totalFreezesDuration` delta since the last sample, seconds.
    pub freezes_duration_delta: Option<f64>,
    /// `nackCount` delta since the last sample.
    pub nack_count_delta: Option<u64>,
    /// `firCount` delta since the last sample.
    pub fir_count_delta: Option<u64>,
    /// `pliCount` delta since the last sample.
    pub pli_count_delta: Option<u64>,
    /// Mean delay between consecutive decoded frames since the last sample, ms:
    /// `totalInterFrameDelay` delta / `framesDecoded` delta.
    pub inter_frame_delay_mean_ms: Option<f64>,
    /// Standard deviation of that delay since the last sample, ms, from the
    /// `totalSquaredInterFrameDelay`, `totalInterFrameDelay` and `framesDecoded` deltas.
    pub inter_frame_delay_stddev_ms: Option<f64>,
    /// Mean jitter-buffer target delay since the last sample, ms:
    /// `jitterBufferTargetDelay` delta / `jitterBufferEmittedCount` delta.
    pub jitter_buffer_target_delay_ms: Option<f64>,
    /// Mean jitter-buffer minimum delay since the last sample, ms:
    /// `jitterBufferMinimumDelay` delta / `jitterBufferEmittedCount` delta.
    pub jitter_buffer_minimum_delay_ms: Option<f64>,
    /// Mean time frames spent in the jitter buffer since the last sample, ms:
    /// `jitterBufferDelay` delta / `jitterBufferEmittedCount` delta.
    pub jitter_buffer_delay_ms: Option<f64>,
    /// Mean decode time per frame since the last sample, ms:
    /// `totalDecodeTime` delta / `framesDecoded` delta.
    pub decode_time_per_frame_ms: Option<f64>,
    /// Mean time from first packet received to frame decoded since the last sample, ms:
    /// `totalProcessingDelay` delta / `framesDecoded` delta.
    pub processing_time_per_frame_ms: Option<f64>,
}

/// The received audio stream, from an `RTCInboundRtpStreamStats` of kind `audio` (the one with
/// the most `bytesReceived` when there are several).
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InboundAudio {
    /// W3C `id` of the stats object.
    pub id: String,
    /// `mimeType` of the `codec` stats that `codecId` refers to, such as `"audio/opus"`.
    pub codec: Option<String>,
    /// W3C `bytesReceived`.
    pub bytes_received: Option<u64>,
    /// W3C `packetsReceived`.
    pub packets_received: Option<u64>,
    /// W3C `packetsLost` (may be negative when duplicates arrive).
    pub packets_lost: Option<i64>,
    /// W3C `jitter`, seconds.
    pub jitter: Option<f64>,
    /// Bits per second: the `bytesReceived` delta over the time since the last sample.
    pub bitrate: Option<f64>,
    /// `packetsReceived` delta since the last sample.
    pub packets_received_delta: Option<u64>,
    /// `packetsLost` delta since the last sample (negative when late duplicates arrived).
    pub packets_lost_delta: Option<i64>,
}

/// The sent video stream, from an `RTCOutboundRtpStreamStats` of kind `video`.
///
/// With simulcast there is one per encoding; the one with the most `bytesSent` (normally the
/// highest layer) is the one described.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutboundVideo {
    /// W3C `id` of the stats object.
    pub id: String,
    /// `mimeType` of the `codec` stats that `codecId` refers to, such as `"video/VP8"`.
    pub codec: Option<String>,
    /// W3C `encoderImplementation`.
    pub encoder_implementation: Option<String>,
    /// W3C `qualityLimitationReason`: `"none"`, `"cpu"`, `"bandwidth"` or `"other"`.
    pub quality_limitation_reason: Option<String>,
    /// W3C `qualityLimitationDurations`: seconds spent in each limitation reason.
    pub quality_limitation_durations: Option<BTreeMap<String, f64>>,
    /// W3C `bytesSent`.
    pub bytes_sent: Option<u64>,
    /// W3C `packetsSent`.
    pub packets_sent: Option<u64>,
    /// W3C `framesEncoded`.
    pub frames_encoded: Option<u64>,
    /// W3C `framesSent`.
    pub frames_sent: Option<u64>,
    /// W3C `framesPerSecond`, encoded frames in the last second.
    pub frames_per_second: Option<f64>,
    /// W3C `frameWidth`, pixels.
    pub frame_width: Option<u32>,
    /// W3C `frameHeight`, pixels.
    pub frame_height: Option<u32>,
    /// Bits per second: the `bytesSent` delta over the time since the last sample.
    pub bitrate: Option<f64>,
    /// W3C `nackCount`: NACKs received.
    pub nack_count: Option<u64>,
    /// W3C `firCount`: full intra requests received.
    pub fir_count: Option<u64>,
    /// W3C `pliCount`: picture loss indications received.
    pub pli_count: Option<u64>,
    /// W3C `retransmittedPacketsSent`.
    pub retransmitted_packets_sent: Option<u64>,
    /// W3C `retransmittedBytesSent`.
    pub retransmitted_bytes_sent: Option<u64>,
    /// W3C `targetBitrate`, bits per second: what the encoder aims at.
    pub target_bitrate: Option<f64>,
    /// `packetsSent` delta since the last sample.
    pub packets_sent_delta: Option<u64>,
    /// `framesEncoded` delta since the last sample.
    pub frames_encoded_delta: Option<u64>,
    /// Mean time packets waited in the pacer since the last sample, ms:
    /// `totalPacketSendDelay` delta / `packetsSent` delta.
    pub packet_send_delay_ms: Option<f64>,
    /// Mean encode time per frame since the last sample, ms:
    /// `totalEncodeTime` delta / `framesEncoded` delta.
    pub encode_time_per_frame_ms: Option<f64>,
}

/// The transport, from the selected `RTCIceCandidatePairStats`.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStats {
    /// W3C `currentRoundTripTime` of [`Self::selected_candidate_pair`], seconds.
    pub current_round_trip_time: Option<f64>,
    /// W3C `availableOutgoingBitrate` of [`Self::selected_candidate_pair`], bits per second.
    pub available_outgoing_bitrate: Option<f64>,
    /// The busiest of [`Self::selected_candidate_pairs`] (most bytes sent and received).
    pub selected_candidate_pair: Option<CandidatePair>,
    /// Every selected pair, busiest first: one per transport (several with IVS). A transport's
    /// `selectedCandidatePairId` names it; for transports that do not (Firefox has no
    /// `transport` stats), it is a `succeeded` pair that is `selected` (Firefox) or `nominated`.
    pub selected_candidate_pairs: Vec<CandidatePair>,
}

/// A candidate pair in use, with its two candidates.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CandidatePair {
    /// W3C `id` of the `candidate-pair` stats.
    pub id: String,
    /// W3C `state`: `"succeeded"` once it works.
    pub state: Option<String>,
    /// W3C `nominated`.
    pub nominated: Option<bool>,
    /// W3C `currentRoundTripTime`, seconds.
    pub current_round_trip_time: Option<f64>,
    /// W3C `availableOutgoingBitrate`, bits per second.
    pub available_outgoing_bitrate: Option<f64>,
    /// W3C `bytesSent`.
    pub bytes_sent: Option<u64>,
    /// W3C `bytesReceived`.
    pub bytes_received: Option<u64>,
    /// The `local-candidate` that `localCandidateId` refers to.
    pub local: Option<Candidate>,
    /// The `remote-candidate` that `remoteCandidateId` refers to.
    pub remote: Option<Candidate>,
}

/// One end of a candidate pair, from an `RTCIceCandidateStats`.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// W3C `address` (the older `ip` when `address` is missing).
    pub address: Option<String>,
    /// W3C `port`.
    pub port: Option<u16>,
    /// W3C `protocol`: `"udp"` or `"tcp"`.
    pub protocol: Option<String>,
    /// W3C `candidateType`: `"host"`, `"srflx"`, `"prflx"` or `"relay"`.
    pub candidate_type: Option<String>,
    /// W3C `relayProtocol` for relay candidates: `"udp"`, `"tcp"` or `"tls"`.
    pub relay_protocol: Option<String>,
}

/// Turns reports into [`StatsSnapshot`]s, keeping the previous sample of each described stream
/// for deltas and bitrates. Pure: time comes in as `now_ms`.
#[derive(Debug, Clone, Default)]
pub struct StatsParser {
    video: Option<Baseline>,
    audio: Option<Baseline>,
    outbound_video: Option<Baseline>,
}

/// The previous sample of one stats object.
#[derive(Debug, Clone)]
struct Baseline {
    id: String,
    now_ms: f64,
    fields: Map<String, Value>,
}

/// The counters that go backwards only when the stats object was recreated.
const INBOUND_VIDEO_COUNTERS: &[&str] = &[
    "bytesReceived",
    "packetsReceived",
    "framesDecoded",
    "framesReceived",
];
const INBOUND_AUDIO_COUNTERS: &[&str] = &["bytesReceived", "packetsReceived"];
const OUTBOUND_VIDEO_COUNTERS: &[&str] = &["bytesSent", "packetsSent", "framesEncoded"];

impl StatsParser {
    /// A parser with no previous sample.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the previous sample: the next [`Self::parse`] has no deltas or bitrates.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Parses one report taken at `now_ms` (any monotonic clock in milliseconds, such as
    /// `performance.now()`), computing deltas and bitrates against the previous call.
    ///
    /// Elapsed time comes from the W3C `timestamp` of the stats object when both samples have
    /// one (it says when the counters were read), else from `now_ms`.
    pub fn parse(&mut self, entries: &[StatsEntry], now_ms: f64) -> StatsSnapshot {
        let by_id: HashMap<&str, &StatsEntry> =
            entries.iter().map(|e| (e.id.as_str(), e)).collect();

        let video_entry = busiest(entries, "inbound-rtp", "video", "bytesReceived");
        let video = video_entry.map(|e| {
            let iv = Interval::new(self.video.as_ref(), e, now_ms, INBOUND_VIDEO_COUNTERS);
            inbound_video(e, iv.as_ref(), &by_id)
        });
        self.video = video_entry.map(|e| Baseline::of(e, now_ms));

        let audio_entry = busiest(entries, "inbound-rtp", "audio", "bytesReceived");
        let audio = audio_entry.map(|e| {
            let iv = Interval::new(self.audio.as_ref(), e, now_ms, INBOUND_AUDIO_COUNTERS);
            inbound_audio(e, iv.as_ref(), &by_id)
        });
        self.audio = audio_entry.map(|e| Baseline::of(e, now_ms));

        let outbound_entry = busiest(entries, "outbound-rtp", "video", "bytesSent");
        let outbound_video = outbound_entry.map(|e| {
            let iv = Interval::new(
                self.outbound_video.as_ref(),
                e,
                now_ms,
                OUTBOUND_VIDEO_COUNTERS,
            );
            outbound_video(e, iv.as_ref(), &by_id)
        });
        self.outbound_video = outbound_entry.map(|e| Baseline::of(e, now_ms));

        StatsSnapshot {
            timestamp: now_ms,
            video,
            audio,
            outbound_video,
            connection: connection(entries, &by_id),
        }
    }
}

impl Baseline {
    fn of(entry: &StatsEntry, now_ms: f64) -> Self {
        Baseline {
            id: entry.id.clone(),
            now_ms,
            fields: entry.fields.clone(),
        }
    }
}

/// The previous sample of a stats object and the time since it.
struct Interval<'a> {
    prev: &'a Map<String, Value>,
    cur: &'a Map<String, Value>,
    /// Milliseconds since the previous sample, when positive and finite.
    elapsed_ms: Option<f64>,
}

impl<'a> Interval<'a> {
    /// `None` (no deltas) without a previous sample of the same object, or when one of
    /// `counters` went backwards.
    fn new(
        prev: Option<&'a Baseline>,
        cur: &'a StatsEntry,
        now_ms: f64,
        counters: &[&str],
    ) -> Option<Self> {
        let prev = prev.filter(|p| p.id == cur.id)?;
        let went_back = counters.iter().any(|key| matches!((count(&cur.fields, key), count(&prev.fields, key)), (Some(c), Some(p)) if c < p));
        if went_back {
            return None;
        }
        let elapsed_ms = match (
            num(&cur.fields, "timestamp"),
            num(&prev.fields, "timestamp"),
        ) {
            (Some(c), Some(p)) => c - p,
            _ => now_ms - prev.now_ms,
        };
        let elapsed_ms = Some(elapsed_ms).filter(|e| e.is_finite() && *e > 0.0);
        Some(Interval {
            prev: &prev.fields,
            cur: &cur.fields,
            elapsed_ms,
        })
    }

    fn delta(&self, key: &str) -> Option<u64> {
        count(self.cur, key)?.checked_sub(count(self.prev, key)?)
    }

    fn signed_delta(&self, key: &str) -> Option<i64> {
        signed(self.cur, key)?.checked_sub(signed(self.prev, key)?)
    }

    fn float_delta(&self, key: &str) -> Option<f64> {
        finite(num(self.cur, key)? - num(self.prev, key)?).filter(|d| *d >= 0.0)
    }

    /// Bits per second from the delta of a byte counter.
    fn bitrate(&self, bytes_key: &str) -> Option<f64> {
        let bytes = self.delta(bytes_key)?;
        finite(bytes as f64 * 8.0 * 1000.0 / self.elapsed_ms?)
    }

    /// Events per second from the delta of a counter.
    fn rate(&self, key: &str) -> Option<f64> {
        finite(self.delta(key)? as f64 * 1000.0 / self.elapsed_ms?)
    }

    /// `Δtotal / Δcount`, in milliseconds when `total_key` counts seconds.
    fn mean_ms(&self, total_key: &str, count_key: &str) -> Option<f64> {
        let n = self.delta(count_key).filter(|n| *n > 0)?;
        finite(self.float_delta(total_key)? * 1000.0 / n as f64)
    }
}

fn inbound_video(
    e: &StatsEntry,
    iv: Option<&Interval>,
    by_id: &HashMap<&str, &StatsEntry>,
) -> InboundVideo {
    let f = &e.fields;
    let frames_decoded_delta = iv.and_then(|i| i.delta("framesDecoded"));
    let (inter_frame_delay_mean_ms, inter_frame_delay_stddev_ms) =
        iv.map_or((None, None), inter_frame_delay);
    InboundVideo {
        id: e.id.clone(),
        codec: codec_of(e, by_id),
        decoder_implementation: text(f, "decoderImplementation"),
        frames_decoded: count(f, "framesDecoded"),
        frames_dropped: count(f, "framesDropped"),
        frames_received: count(f, "framesReceived"),
        key_frames_decoded: count(f, "keyFramesDecoded"),
        frames_per_second: num(f, "framesPerSecond")
            .filter(|v| *v >= 0.0)
            .or_else(|| iv.and_then(|i| i.rate("framesDecoded"))),
        frame_width: dimension(f, "frameWidth"),
        frame_height: dimension(f, "frameHeight"),
        bytes_received: count(f, "bytesReceived"),
        packets_received: count(f, "packetsReceived"),
        packets_lost: signed(f, "packetsLost"),
        jitter: num(f, "jitter"),
        bitrate: iv.and_then(|i| i.bitrate("bytesReceived")),
        freeze_count: count(f, "freezeCount"),
        total_freezes_duration: num(f, "totalFreezesDuration"),
        nack_count: count(f, "nackCount"),
        fir_count: count(f, "firCount"),
        pli_count: count(f, "pliCount"),
        frames_decoded_delta,
        frames_dropped_delta: iv.and_then(|i| i.delta("framesDropped")),
        frames_received_delta: iv.and_then(|i| i.delta("framesReceived")),
        bytes_received_delta: iv.and_then(|i| i.delta("bytesReceived")),
        packets_received_delta: iv.and_then(|i| i.delta("packetsReceived")),
        packets_lost_delta: iv.and_then(|i| i.signed_delta("packetsLost")),
        freeze_count_delta: iv.and_then(|i| i.delta("freezeCount")),
        freezes_duration_delta: iv.and_then(|i| i.float_delta("totalFreezesDuration")),
        nack_count_delta: iv.and_then(|i| i.delta("nackCount")),
        fir_count_delta: iv.and_then(|i| i.delta("firCount")),
        pli_count_delta: iv.and_then(|i| i.delta("pliCount")),
        inter_frame_delay_mean_ms,
        inter_frame_delay_stddev_ms,
        jitter_buffer_target_delay_ms: iv
            .and_then(|i| i.mean_ms("jitterBufferTargetDelay", "jitterBufferEmittedCount")),
        jitter_buffer_minimum_delay_ms: iv
            .and_then(|i| i.mean_ms("jitterBufferMinimumDelay", "jitterBufferEmittedCount")),
        jitter_buffer_delay_ms: iv
            .and_then(|i| i.mean_ms("jitterBufferDelay", "jitterBufferEmittedCount")),
        decode_time_per_frame_ms: iv.and_then(|i| i.mean_ms("totalDecodeTime", "framesDecoded")),
        processing_time_per_frame_ms: iv
            .and_then(|i| i.mean_ms("totalProcessingDelay", "framesDecoded")),
    }
}

/// Mean and standard deviation (ms) of the inter-frame delays of the frames decoded since the
/// previous sample.
fn inter_frame_delay(iv: &Interval) -> (Option<f64>, Option<f64>) {
    let Some(n) = iv.delta("framesDecoded").filter(|n| *n > 0) else {
        return (None, None);
    };
    let n = n as f64;
    let Some(sum) = iv.float_delta("totalInterFrameDelay") else {
        return (None, None);
    };
    let mean = sum / n;
    let stddev = iv
        .float_delta("totalSquaredInterFrameDelay")
        .and_then(|squares| {
            // Rounding can make the variance slightly negative when all delays are equal.
            finite((squares / n - mean * mean).max(0.0).sqrt() * 1000.0)
        });
    (finite(mean * 1000.0), stddev)
}

fn inbound_audio(
    e: &StatsEntry,
    iv: Option<&Interval>,
    by_id: &HashMap<&str, &StatsEntry>,
) -> InboundAudio {
    let f = &e.fields;
    InboundAudio {
        id: e.id.clone(),
        codec: codec_of(e, by_id),
        bytes_received: count(f, "bytesReceived"),
        packets_received: count(f, "packetsReceived"),
        packets_lost: signed(f, "packetsLost"),
        jitter: num(f, "jitter"),
        bitrate: iv.and_then(|i| i.bitrate("bytesReceived")),
        packets_received_delta: iv.and_then(|i| i.delta("packetsReceived")),
        packets_lost_delta: iv.and_then(|i| i.signed_delta("packetsLost")),
    }
}

fn outbound_video(
    e: &StatsEntry,
    iv: Option<&Interval>,
    by_id: &HashMap<&str, &StatsEntry>,
) -> OutboundVideo {
    let f = &e.fields;
    let durations = f
        .get("qualityLimitationDurations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64().filter(|d| d.is_finite())?)))
                .collect()
        });
    OutboundVideo {
        id: e.id.clone(),
        codec: codec_of(e, by_id),
        encoder_implementation: text(f, "encoderImplementation"),
        quality_limitation_reason: text(f, "qualityLimitationReason"),
        quality_limitation_durations: durations,
        bytes_sent: count(f, "bytesSent"),
        packets_sent: count(f, "packetsSent"),
        frames_encoded: count(f, "framesEncoded"),
        frames_sent: count(f, "framesSent"),
        frames_per_second: num(f, "framesPerSecond")
            .filter(|v| *v >= 0.0)
            .or_else(|| iv.and_then(|i| i.rate("framesEncoded"))),
        frame_width: dimension(f, "frameWidth"),
        frame_height: dimension(f, "frameHeight"),
        bitrate: iv.and_then(|i| i.bitrate("bytesSent")),
        nack_count: count(f, "nackCount"),
        fir_count: count(f, "firCount"),
        pli_count: count(f, "pliCount"),
        retransmitted_packets_sent: count(f, "retransmittedPacketsSent"),
        retransmitted_bytes_sent: count(f, "retransmittedBytesSent"),
        target_bitrate: num(f, "targetBitrate"),
        packets_sent_delta: iv.and_then(|i| i.delta("packetsSent")),
        frames_encoded_delta: iv.and_then(|i| i.delta("framesEncoded")),
        packet_send_delay_ms: iv.and_then(|i| i.mean_ms("totalPacketSendDelay", "packetsSent")),
        encode_time_per_frame_ms: iv.and_then(|i| i.mean_ms("totalEncodeTime", "framesEncoded")),
    }
}

fn connection(entries: &[StatsEntry], by_id: &HashMap<&str, &StatsEntry>) -> ConnectionStats {
    let mut pairs: Vec<&StatsEntry> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut covered_transports: HashSet<&str> = HashSet::new();
    // 1. The pair each transport names.
    for transport in entries.iter().filter(|e| e.kind == "transport") {
        let named = transport
            .fields
            .get("selectedCandidatePairId")
            .and_then(Value::as_str);
        if let Some(pair) = named
            .and_then(|id| by_id.get(id))
            .filter(|p| p.kind == "candidate-pair")
        {
            covered_transports.insert(transport.id.as_str());
            if seen.insert(pair.id.as_str()) {
                pairs.push(pair);
            }
        }
    }
    // 2. For transports that name none: succeeded pairs marked selected or nominated.
    for pair in entries.iter().filter(|e| e.kind == "candidate-pair") {
        let f = &pair.fields;
        let transport = f.get("transportId").and_then(Value::as_str).unwrap_or("");
        let chosen = flag(f, "selected") == Some(true) || flag(f, "nominated") == Some(true);
        if text_ref(f, "state") == Some("succeeded")
            && chosen
            && !covered_transports.contains(transport)
            && seen.insert(pair.id.as_str())
        {
            pairs.push(pair);
        }
    }
    let traffic = |e: &StatsEntry| {
        count(&e.fields, "bytesSent")
            .unwrap_or(0)
            .saturating_add(count(&e.fields, "bytesReceived").unwrap_or(0))
    };
    // Stable: equal traffic keeps report order.
    pairs.sort_by_key(|e| std::cmp::Reverse(traffic(e)));
    let selected: Vec<CandidatePair> = pairs
        .into_iter()
        .map(|p| candidate_pair(p, by_id))
        .collect();
    let first = selected.first();
    ConnectionStats {
        current_round_trip_time: first.and_then(|p| p.current_round_trip_time),
        available_outgoing_bitrate: first.and_then(|p| p.available_outgoing_bitrate),
        selected_candidate_pair: first.cloned(),
        selected_candidate_pairs: selected,
    }
}

fn candidate_pair(e: &StatsEntry, by_id: &HashMap<&str, &StatsEntry>) -> CandidatePair {
    let f = &e.fields;
    let end = |key: &str, kind: &str| {
        let c = f
            .get(key)
            .and_then(Value::as_str)
            .and_then(|id| by_id.get(id))
            .filter(|c| c.kind == kind)?;
        Some(candidate(c))
    };
    CandidatePair {
        id: e.id.clone(),
        state: text(f, "state"),
        nominated: flag(f, "nominated"),
        current_round_trip_time: num(f, "currentRoundTripTime"),
        available_outgoing_bitrate: num(f, "availableOutgoingBitrate"),
        bytes_sent: count(f, "bytesSent"),
        bytes_received: count(f, "bytesReceived"),
        local: end("localCandidateId", "local-candidate"),
        remote: end("remoteCandidateId", "remote-candidate"),
    }
}

fn candidate(e: &StatsEntry) -> Candidate {
    let f = &e.fields;
    Candidate {
        address: text(f, "address").or_else(|| text(f, "ip")),
        port: count(f, "port").and_then(|p| u16::try_from(p).ok()),
        protocol: text(f, "protocol"),
        candidate_type: text(f, "candidateType"),
        relay_protocol: text(f, "relayProtocol"),
    }
}

/// The entry of `kind` and media kind `media` with the largest `bytes_key` (first on ties).
fn busiest<'a>(
    entries: &'a [StatsEntry],
    kind: &str,
    media: &str,
    bytes_key: &str,
) -> Option<&'a StatsEntry> {
    let mut best: Option<(&StatsEntry, u64)> = None;
    for e in entries.iter().filter(|e| e.kind == kind) {
        // W3C `kind`; older browsers only had `mediaType`.
        let m = text_ref(&e.fields, "kind").or_else(|| text_ref(&e.fields, "mediaType"));
        if m != Some(media) {
            continue;
        }
        let bytes = count(&e.fields, bytes_key).unwrap_or(0);
        if best.is_none_or(|(_, b)| bytes > b) {
            best = Some((e, bytes));
        }
    }
    best.map(|(e, _)| e)
}

fn codec_of(e: &StatsEntry, by_id: &HashMap<&str, &StatsEntry>) -> Option<String> {
    let codec = by_id.get(e.fields.get("codecId")?.as_str()?)?;
    if codec.kind != "codec" {
        return None;
    }
    text(&codec.fields, "mimeType")
}

fn finite(v: f64) -> Option<f64> {
    Some(v).filter(|v| v.is_finite())
}

/// A finite number.
fn num(f: &Map<String, Value>, key: &str) -> Option<f64> {
    finite(f.get(key)?.as_f64()?)
}

/// A non-negative whole number; JS numbers may arrive as floats (`355205.0`).
fn count(f: &Map<String, Value>, key: &str) -> Option<u64> {
    let v = f.get(key)?;
    if let Some(u) = v.as_u64() {
        return Some(u);
    }
    let x = v.as_f64()?;
    // 2^64 is exactly representable; anything below it that is whole fits in u64.
    ((0.0..18_446_744_073_709_551_616.0).contains(&x) && x.fract() == 0.0).then_some(x as u64)
}

/// A whole number that may be negative.
fn signed(f: &Map<String, Value>, key: &str) -> Option<i64> {
    let v = f.get(key)?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let x = v.as_f64()?;
    ((-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) && x.fract() == 0.0)
        .then_some(x as i64)
}

fn dimension(f: &Map<String, Value>, key: &str) -> Option<u32> {
    u32::try_from(count(f, key)?).ok()
}

fn text_ref<'a>(f: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    f.get(key)?.as_str()
}

fn text(f: &Map<String, Value>, key: &str) -> Option<String> {
    text_ref(f, key).map(str::to_owned)
}

fn flag(f: &Map<String, Value>, key: &str) -> Option<bool> {
    f.get(key)?.as_bool()
}

/// Frames per second below which received video counts as stalled.
pub const STALL_FPS: f64 = 0.5;

/// A change of the video stall state, reported as the `videoStall` diagnostic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum StallChange {
    /// Received video fell below [`STALL_FPS`].
    #[serde(rename_all = "camelCase")]
    Started {
        /// The `framesPerSecond` that started the stall.
        fps: f64,
    },
    /// Received video is back at [`STALL_FPS`] or more.
    #[serde(rename_all = "camelCase")]
    Ended {
        /// How long the stall lasted, ms (between the two `update` calls' `now_ms`).
        duration_ms: f64,
    },
}

/// Watches snapshots for video stalls: inbound video `framesPerSecond` below [`STALL_FPS`].
///
/// Only video that has played can stall: a snapshot without inbound video, without a
/// `framesPerSecond` or with no frame decoded yet (`framesDecoded` 0) changes nothing.
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

    /// Forgets a running stall without reporting its end (for a new session).
    pub fn reset(&mut self) {
        self.stalled_since_ms = None;
    }

    /// Feeds one snapshot taken at `now_ms`; returns the change of stall state, if any.
    pub fn update(&mut self, snapshot: &StatsSnapshot, now_ms: f64) -> Option<StallChange> {
        let video = snapshot.video.as_ref()?;
        let fps = video.frames_per_second?;
        match self.stalled_since_ms {
            None if fps < STALL_FPS && video.frames_decoded.unwrap_or(0) > 0 => {
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
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Vec<StatsEntry> {
        let text = match name {
            "receiver-1" => include_str!("../../tests/fixtures/stats/chromium-receiver-1.json"),
            "receiver-2" => include_str!("../../tests/fixtures/stats/chromium-receiver-2.json"),
            "sender-1" => include_str!("../../tests/fixtures/stats/chromium-sender-1.json"),
            "sender-2" => include_str!("../../tests/fixtures/stats/chromium-sender-2.json"),
            other => panic!("no fixture {other}"),
        };
        let v: Value = serde_json::from_str(text).expect("fixture is JSON");
        let entries = entries_from_json(&v);
        assert_eq!(
            entries.len(),
            v.as_array().expect("fixture is an array").len(),
            "{name}: every real entry is read"
        );
        entries
    }

    /// The fake camera's settings, recorded by the capture script.
    fn fake_camera() -> (u32, u32, f64) {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/stats/capture-info.json"))
                .expect("JSON");
        let cam = &v["fakeCamera"];
        let dim = |k: &str| u32::try_from(cam[k].as_u64().expect("dimension")).expect("u32");
        (
            dim("width"),
            dim("height"),
            cam["frameRate"].as_f64().expect("frameRate"),
        )
    }

    /// Parses a fixture pair the way the SDK polls: second sample ~1 s after the first.
    fn parse_pair(first: &str, second: &str) -> (StatsSnapshot, StatsSnapshot) {
        let mut parser = StatsParser::new();
        let a = parser.parse(&fixture(first), 10_000.0);
        let b = parser.parse(&fixture(second), 11_000.0);
        (a, b)
    }

    #[test]
    fn real_receiver_reports_give_playing_video_at_the_fake_camera_size() {
        let (width, height, camera_fps) = fake_camera();
        let (first, second) = parse_pair("receiver-1", "receiver-2");
        let v = second.video.expect("inbound video");
        assert_eq!(v.codec.as_deref(), Some("video/VP8"));
        assert!(v.frames_per_second.expect("fps") > 0.0);
        assert_eq!((v.frame_width, v.frame_height), (Some(width), Some(height)));
        assert!(v.frames_decoded.expect("framesDecoded") > 0);
        // Loopback loses (next to) nothing.
        let lost = v.packets_lost.expect("packetsLost");
        assert!(
            lost * 100 <= i64::try_from(v.packets_received.expect("packetsReceived")).expect("i64"),
            "{lost} lost"
        );
        // About one second of video at the camera's rate arrived between the samples.
        let decoded = v.frames_decoded_delta.expect("framesDecoded delta");
        assert!(
            decoded as f64 > camera_fps * 0.5 && (decoded as f64) < camera_fps * 1.5,
            "{decoded} frames in ~1 s"
        );
        assert!(v.frames_dropped_delta.expect("framesDropped delta") < decoded);
        assert!(v.freeze_count_delta.expect("freezeCount delta") <= 1);
        // Hundreds of kbit/s of VP8 (the encoder targets well over 100 kbit/s at 640x480).
        let bitrate = v.bitrate.expect("bitrate");
        assert!(bitrate > 100_000.0 && bitrate < 10_000_000.0, "{bitrate}");
        // Frames arrive one camera frame interval apart, with little deviation on loopback.
        let mean = v.inter_frame_delay_mean_ms.expect("inter-frame delay");
        let interval = 1000.0 / camera_fps;
        assert!(
            (mean - interval).abs() < interval * 0.3,
            "mean {mean} ms vs {interval} ms"
        );
        assert!(v.inter_frame_delay_stddev_ms.expect("deviation") < interval);
        for (name, value) in [
            ("jitter buffer delay", v.jitter_buffer_delay_ms),
            ("jitter buffer target", v.jitter_buffer_target_delay_ms),
            ("jitter buffer minimum", v.jitter_buffer_minimum_delay_ms),
            ("decode time", v.decode_time_per_frame_ms),
            ("processing time", v.processing_time_per_frame_ms),
        ] {
            let ms = value.unwrap_or_else(|| panic!("{name}"));
            assert!(ms > 0.0 && ms < 1000.0, "{name}: {ms} ms");
        }

        // The first sample has the absolute values but nothing computed between samples.
        let v1 = first.video.expect("inbound video in the first sample");
        assert!(v1.frames_per_second.expect("fps") > 0.0);
        assert_eq!(
            (
                v1.bitrate,
                v1.frames_decoded_delta,
                v1.inter_frame_delay_mean_ms
            ),
            (None, None, None)
        );
        assert_eq!(
            (v1.jitter_buffer_delay_ms, v1.decode_time_per_frame_ms),
            (None, None)
        );

        let a = second.audio.expect("inbound audio");
        assert_eq!(a.codec.as_deref(), Some("audio/opus"));
        let audio_bitrate = a.bitrate.expect("audio bitrate");
        assert!(
            audio_bitrate > 6_000.0 && audio_bitrate < 510_000.0,
            "{audio_bitrate}"
        );
        assert!(a.packets_lost_delta.is_some());
        assert!(a.packets_received_delta.expect("packets") > 0);
        assert!(first.audio.expect("audio").bitrate.is_none());
        assert!(
            second.outbound_video.is_none(),
            "the receiving side sends nothing"
        );
    }

    #[test]
    fn real_reports_select_the_loopback_candidate_pair_on_both_sides() {
        let (_, receiver) = parse_pair("receiver-1", "receiver-2");
        let (_, sender) = parse_pair("sender-1", "sender-2");
        let r = receiver
            .connection
            .selected_candidate_pair
            .expect("receiver pair");
        let s = sender
            .connection
            .selected_candidate_pair
            .expect("sender pair");
        for pair in [&r, &s] {
            assert_eq!(pair.state.as_deref(), Some("succeeded"));
            for c in [
                pair.local.as_ref().expect("local"),
                pair.remote.as_ref().expect("remote"),
            ] {
                assert_eq!(c.address.as_deref(), Some("127.0.0.1"));
                assert_eq!(c.protocol.as_deref(), Some("udp"));
                assert_eq!(c.candidate_type.as_deref(), Some("host"));
                assert!(c.port.is_some());
            }
        }
        // The two peer connections talk to each other: one side's local port is the other's remote.
        assert_eq!(
            r.local.as_ref().and_then(|c| c.port),
            s.remote.as_ref().and_then(|c| c.port)
        );
        assert_eq!(
            r.remote.as_ref().and_then(|c| c.port),
            s.local.as_ref().and_then(|c| c.port)
        );
        assert_eq!(receiver.connection.selected_candidate_pairs, vec![r]);
        let rtt = receiver.connection.current_round_trip_time.expect("rtt");
        assert!((0.0..0.1).contains(&rtt), "loopback RTT {rtt} s");
        assert!(
            sender
                .connection
                .available_outgoing_bitrate
                .expect("available outgoing bitrate")
                > 0.0
        );
    }

    #[test]
    fn real_sender_reports_give_outbound_video_and_its_quality_limitation() {
        let (width, height, _) = fake_camera();
        let (first, second) = parse_pair("sender-1", "sender-2");
        let o = second.outbound_video.expect("outbound video");
        assert_eq!(o.codec.as_deref(), Some("video/VP8"));
        let reason = o
            .quality_limitation_reason
            .as_deref()
            .expect("qualityLimitationReason");
        assert!(
            ["none", "cpu", "bandwidth", "other"].contains(&reason),
            "{reason}"
        );
        let durations = o
            .quality_limitation_durations
            .as_ref()
            .expect("qualityLimitationDurations");
        assert!(
            durations.values().sum::<f64>() > 1.0,
            "{durations:?}: seconds since the start"
        );
        assert!(o.frames_per_second.expect("fps") > 0.0);
        assert_eq!((o.frame_width, o.frame_height), (Some(width), Some(height)));
        let bitrate = o.bitrate.expect("outbound bitrate");
        assert!(bitrate > 100_000.0 && bitrate < 10_000_000.0, "{bitrate}");
        assert!(o.target_bitrate.expect("targetBitrate") > 0.0);
        assert!(o.packets_sent_delta.expect("packets") > 0);
        let encode = o.encode_time_per_frame_ms.expect("encode time");
        assert!(encode > 0.0 && encode < 1000.0, "{encode} ms");
        assert!(o.packet_send_delay_ms.expect("packet send delay") >= 0.0);
        assert!(o.retransmitted_packets_sent.is_some());
        assert!(first.outbound_video.expect("first").bitrate.is_none());
        assert!(second.video.is_none(), "the sending side receives no video");
    }

    #[test]
    fn receiver_and_sender_bitrates_agree() {
        let (_, receiver) = parse_pair("receiver-1", "receiver-2");
        let (_, sender) = parse_pair("sender-1", "sender-2");
        let received = receiver.video.and_then(|v| v.bitrate).expect("received");
        let sent = sender.outbound_video.and_then(|v| v.bitrate).expect("sent");
        assert!(
            (received - sent).abs() < sent * 0.2,
            "received {received} vs sent {sent}"
        );
    }

    #[test]
    fn merging_real_reports_with_colliding_ids_keeps_each_side_consistent() {
        // Both peer connections of the capture call their transport "T01" and share the
        // certificate ids and the "P" peer-connection id: a real collision.
        let merge = |a: &str, b: &str| merge_reports(vec![fixture(a), fixture(b)]);
        let merged = merge("receiver-1", "sender-1");
        let ids: HashSet<&str> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), merged.len(), "ids are unique after merging");
        assert!(ids.contains("T01") && ids.contains("r1-T01"));

        let mut parser = StatsParser::new();
        parser.parse(&merged, 0.0);
        let snap = parser.parse(&merge("receiver-2", "sender-2"), 1000.0);
        assert!(
            snap.video
                .as_ref()
                .and_then(|v| v.bitrate)
                .expect("inbound bitrate")
                > 0.0
        );
        assert!(
            snap.outbound_video
                .as_ref()
                .and_then(|v| v.bitrate)
                .expect("outbound bitrate")
                > 0.0
        );
        assert_eq!(
            snap.video.and_then(|v| v.codec).as_deref(),
            Some("video/VP8")
        );
        let pairs = &snap.connection.selected_candidate_pairs;
        assert_eq!(pairs.len(), 2, "one selected pair per peer connection");
        let ports: Vec<(Option<u16>, Option<u16>)> = pairs
            .iter()
            .map(|p| {
                (
                    p.local.as_ref().and_then(|c| c.port),
                    p.remote.as_ref().and_then(|c| c.port),
                )
            })
            .collect();
        assert_eq!(
            ports[0],
            (ports[1].1, ports[1].0),
            "each pair resolved its own candidates"
        );
    }

    #[test]
    fn real_reports_do_not_stall() {
        let mut detector = StallDetector::new();
        let (first, second) = parse_pair("receiver-1", "receiver-2");
        assert_eq!(detector.update(&first, 10_000.0), None);
        assert_eq!(detector.update(&second, 11_000.0), None);
        assert!(!detector.is_stalled());
    }

    #[test]
    fn snapshot_serializes_with_camel_case_names() {
        let (_, snap) = parse_pair("receiver-1", "receiver-2");
        let v = serde_json::to_value(&snap).expect("serializes");
        assert!(v["video"]["framesPerSecond"].as_f64().is_some());
        assert!(v["video"]["interFrameDelayMeanMs"].as_f64().is_some());
        assert!(v["outboundVideo"].is_null());
        assert_eq!(
            v["connection"]["selectedCandidatePair"]["local"]["candidateType"],
            "host"
        );
        let started = serde_json::to_value(StallChange::Started { fps: 0.0 }).expect("serializes");
        assert_eq!(started, json!({"type": "started", "fps": 0.0}));
        let ended = serde_json::to_value(StallChange::Ended {
            duration_ms: 1500.0,
        })
        .expect("serializes");
        assert_eq!(ended, json!({"type": "ended", "durationMs": 1500.0}));
    }

    fn entry(kind: &str, id: &str, fields: Value) -> StatsEntry {
        StatsEntry {
            kind: kind.into(),
            id: id.into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn video(id: &str, fields: Value) -> StatsEntry {
        let mut e = entry("inbound-rtp", id, fields);
        e.fields.insert("kind".into(), json!("video"));
        e
    }

    #[test]
    fn entries_from_json_reads_arrays_and_maps_and_skips_malformed_items() {
        let array = json!([
            {"type": "inbound-rtp", "id": "a", "kind": "video", "bytesReceived": 1},
            {"type": "codec"},
            {"id": "no-type"},
            {"type": 3, "id": "b"},
            {"type": "codec", "id": 7},
            "text", 1, null, [],
        ]);
        let entries = entries_from_json(&array);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].kind.as_str(), entries[0].id.as_str()),
            ("inbound-rtp", "a")
        );
        assert!(!entries[0].fields.contains_key("type") && !entries[0].fields.contains_key("id"));
        assert_eq!(entries[0].fields["bytesReceived"], json!(1));

        let map = json!({
            "T01": {"type": "transport", "id": "T01"},
            "CP1": {"type": "candidate-pair"},
            "bad": {"id": "bad"},
            "x": 5,
        });
        let mut ids: Vec<String> = entries_from_json(&map).into_iter().map(|e| e.id).collect();
        ids.sort();
        assert_eq!(ids, ["CP1", "T01"]);
        assert!(entries_from_json(&json!("report")).is_empty());
        assert!(entries_from_json(&json!(null)).is_empty());
    }

    #[test]
    fn missing_and_wrong_typed_fields_become_none() {
        let entries = vec![
            video(
                "v",
                json!({
                    "framesDecoded": "12", "framesPerSecond": null, "frameWidth": -640, "frameHeight": 1e12,
                    "bytesReceived": 1.5, "packetsReceived": [], "packetsLost": -3, "jitter": "0.1",
                    "codecId": 42, "freezeCount": 2.0, "totalFreezesDuration": true,
                }),
            ),
            entry(
                "outbound-rtp",
                "o",
                json!({"kind": "video", "qualityLimitationReason": 1,
                "qualityLimitationDurations": {"none": 1.5, "cpu": "x"}}),
            ),
            entry(
                "transport",
                "t",
                json!({"selectedCandidatePairId": "missing"}),
            ),
            entry(
                "candidate-pair",
                "cp",
                json!({"state": "succeeded", "nominated": "yes",
                "localCandidateId": "v", "remoteCandidateId": null}),
            ),
        ];
        let snap = StatsParser::new().parse(&entries, 0.0);
        let v = snap.video.expect("an inbound-rtp video entry is there");
        assert_eq!(v.frames_decoded, None);
        assert_eq!(v.frames_per_second, None);
        assert_eq!((v.frame_width, v.frame_height), (None, None));
        assert_eq!((v.bytes_received, v.packets_received), (None, None));
        assert_eq!(v.packets_lost, Some(-3));
        assert_eq!(v.jitter, None);
        assert_eq!(v.codec, None);
        assert_eq!(
            v.freeze_count,
            Some(2),
            "whole numbers sent as floats are read"
        );
        assert_eq!(v.total_freezes_duration, None);
        let o = snap.outbound_video.expect("outbound");
        assert_eq!(o.quality_limitation_reason, None);
        assert_eq!(
            o.quality_limitation_durations,
            Some(BTreeMap::from([("none".to_owned(), 1.5)]))
        );
        assert!(snap.audio.is_none());
        // "nominated" is not a boolean, so no pair is selected.
        assert!(snap.connection.selected_candidate_pair.is_none());
        assert!(snap.connection.selected_candidate_pairs.is_empty());
    }

    #[test]
    fn the_inbound_video_with_most_bytes_is_described() {
        let entries = vec![
            video("small", json!({"bytesReceived": 10, "frameWidth": 320})),
            video("big", json!({"bytesReceived": 5000, "frameWidth": 1280})),
            entry(
                "inbound-rtp",
                "audio",
                json!({"kind": "audio", "bytesReceived": 90000}),
            ),
            entry(
                "inbound-rtp",
                "legacy",
                json!({"mediaType": "video", "bytesReceived": 20}),
            ),
        ];
        let v = StatsParser::new()
            .parse(&entries, 0.0)
            .video
            .expect("video");
        assert_eq!((v.id.as_str(), v.frame_width), ("big", Some(1280)));
    }

    #[test]
    fn deltas_and_bitrate_come_from_consecutive_samples() {
        let sample = |bytes: u64, frames: u64, lost: i64, t: f64| {
            vec![video(
                "v",
                json!({
                    "bytesReceived": bytes, "framesDecoded": frames, "packetsLost": lost,
                    "totalInterFrameDelay": frames as f64 * 0.04, "totalSquaredInterFrameDelay": frames as f64 * 0.0016,
                    "jitterBufferDelay": frames as f64 * 0.05, "jitterBufferEmittedCount": frames,
                    "timestamp": t,
                }),
            )]
        };
        let mut parser = StatsParser::new();
        assert!(parser
            .parse(&sample(0, 0, 0, 1000.0), 0.0)
            .video
            .expect("v")
            .bitrate
            .is_none());
        // The stats timestamps say 2 s passed, whatever the caller's clock says.
        let v = parser
            .parse(&sample(250_000, 50, 2, 3000.0), 1.0)
            .video
            .expect("v");
        assert_eq!(v.bitrate, Some(1_000_000.0));
        assert_eq!(v.frames_decoded_delta, Some(50));
        assert_eq!(v.packets_lost_delta, Some(2));
        assert!((v.inter_frame_delay_mean_ms.expect("mean") - 40.0).abs() < 1e-9);
        assert!(
            v.inter_frame_delay_stddev_ms.expect("stddev") < 1e-3,
            "constant delays do not deviate"
        );
        assert!((v.jitter_buffer_delay_ms.expect("jb") - 50.0).abs() < 1e-9);
        assert_eq!(
            v.frames_per_second,
            Some(25.0),
            "derived from framesDecoded when omitted"
        );

        // Without stats timestamps the caller's clock is used.
        let mut parser = StatsParser::new();
        parser.parse(&[video("v", json!({"bytesReceived": 0}))], 500.0);
        let v = parser
            .parse(&[video("v", json!({"bytesReceived": 1000}))], 1500.0)
            .video
            .expect("v");
        assert_eq!(v.bitrate, Some(8000.0));
        // A sample at the same instant has deltas but no bitrate.
        let v = parser
            .parse(&[video("v", json!({"bytesReceived": 1000}))], 1500.0)
            .video
            .expect("v");
        assert_eq!((v.bytes_received_delta, v.bitrate), (Some(0), None));
    }

    #[test]
    fn counters_going_backwards_reset_the_baseline() {
        let sample = |bytes: u64, frames: u64| {
            vec![video(
                "v",
                json!({"bytesReceived": bytes, "framesDecoded": frames, "packetsLost": 5}),
            )]
        };
        let mut parser = StatsParser::new();
        parser.parse(&sample(1_000_000, 900), 0.0);
        parser.parse(&sample(1_100_000, 930), 1000.0);
        // A new peer connection after a reconnect: counters restart from zero.
        let v = parser.parse(&sample(20_000, 10), 2000.0).video.expect("v");
        assert_eq!(
            (v.bitrate, v.frames_decoded_delta, v.bytes_received_delta),
            (None, None, None)
        );
        assert_eq!(v.bytes_received, Some(20_000));
        // The next sample is measured from the new baseline.
        let v = parser.parse(&sample(45_000, 40), 3000.0).video.expect("v");
        assert_eq!(v.bitrate, Some(200_000.0));
        assert_eq!(v.frames_decoded_delta, Some(30));

        // Another stats object (another id) is a new baseline too.
        let v = parser
            .parse(&[video("w", json!({"bytesReceived": 90_000}))], 4000.0)
            .video
            .expect("v");
        assert_eq!(v.bitrate, None);

        // reset() forgets the previous sample.
        parser.reset();
        let v = parser
            .parse(&[video("w", json!({"bytesReceived": 100_000}))], 5000.0)
            .video
            .expect("v");
        assert_eq!(v.bitrate, None);
    }

    #[test]
    fn a_single_counter_going_backwards_gives_no_delta_for_it() {
        let mut parser = StatsParser::new();
        parser.parse(
            &[video("v", json!({"bytesReceived": 100, "nackCount": 9}))],
            0.0,
        );
        let v = parser
            .parse(
                &[video("v", json!({"bytesReceived": 200, "nackCount": 3}))],
                1000.0,
            )
            .video
            .expect("v");
        assert_eq!(v.nack_count_delta, None);
        assert_eq!(v.bitrate, Some(800.0));
    }

    #[test]
    fn merge_prefixes_colliding_ids_and_their_references() {
        let report = |port: u64, bytes: u64| {
            vec![
                entry("transport", "T01", json!({"selectedCandidatePairId": "CP"})),
                entry(
                    "candidate-pair",
                    "CP",
                    json!({"transportId": "T01", "localCandidateId": "L", "remoteCandidateId": "R",
                    "state": "succeeded", "bytesReceived": bytes}),
                ),
                entry(
                    "local-candidate",
                    "L",
                    json!({"address": "10.0.0.1", "port": port}),
                ),
                entry(
                    "remote-candidate",
                    "R",
                    json!({"address": "192.0.2.1", "port": port + 1}),
                ),
                entry(
                    "codec",
                    "C",
                    json!({"mimeType": if port == 1000 { "video/VP8" } else { "video/H264" }}),
                ),
                video(
                    &format!("V{port}"),
                    json!({"codecId": "C", "bytesReceived": bytes, "trackIds": ["C", "other"]}),
                ),
            ]
        };
        let merged = merge_reports(vec![report(1000, 10), report(2000, 99), report(3000, 5)]);
        assert_eq!(merged.len(), 18);
        let ids: HashSet<&str> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 18);
        let get = |id: &str| merged.iter().find(|e| e.id == id).expect(id);
        assert_eq!(get("r1-CP").fields["localCandidateId"], json!("r1-L"));
        assert_eq!(get("r1-CP").fields["transportId"], json!("r1-T01"));
        assert_eq!(
            get("r2-T01").fields["selectedCandidatePairId"],
            json!("r2-CP")
        );
        assert_eq!(get("V2000").fields["codecId"], json!("r1-C"));
        assert_eq!(get("V2000").fields["trackIds"], json!(["r1-C", "other"]));
        assert_eq!(
            get("V1000").fields["codecId"],
            json!("C"),
            "the first report keeps its ids"
        );

        let snap = StatsParser::new().parse(&merged, 0.0);
        let v = snap.video.expect("video");
        assert_eq!(
            (v.id.as_str(), v.codec.as_deref()),
            ("V2000", Some("video/H264"))
        );
        let ports: Vec<Option<u16>> = snap
            .connection
            .selected_candidate_pairs
            .iter()
            .map(|p| p.local.as_ref().and_then(|c| c.port))
            .collect();
        assert_eq!(
            ports,
            [Some(2000), Some(1000), Some(3000)],
            "busiest first, each with its own candidates"
        );
        assert_eq!(
            snap.connection
                .selected_candidate_pair
                .and_then(|p| p.remote)
                .and_then(|c| c.port),
            Some(2001)
        );
    }

    #[test]
    fn merge_avoids_ids_that_already_exist() {
        let merged = merge_reports(vec![
            vec![
                entry("codec", "C", json!({})),
                entry("codec", "r1-C", json!({})),
            ],
            vec![
                entry("codec", "C", json!({})),
                entry("inbound-rtp", "I", json!({"codecId": "C"})),
            ],
        ]);
        let ids: Vec<&str> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["C", "r1-C", "r1-1-C", "I"]);
        assert_eq!(merged[3].fields["codecId"], json!("r1-1-C"));
        assert!(merge_reports(Vec::new()).is_empty());

        // An id repeated within one report is not a collision between reports.
        let merged = merge_reports(vec![
            vec![
                entry("codec", "C", json!({})),
                entry("codec", "C", json!({})),
            ],
            vec![entry("codec", "C", json!({}))],
        ]);
        let ids: Vec<&str> = merged.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["C", "C", "r1-C"]);
    }

    #[test]
    fn the_transport_selected_pair_wins_over_other_nominated_pairs() {
        let pair = |id: &str, port: u64, bytes: u64| {
            entry(
                "candidate-pair",
                id,
                json!({"transportId": "T", "state": "succeeded", "nominated": true,
                "localCandidateId": format!("L{port}"), "bytesSent": bytes, "currentRoundTripTime": port as f64 / 1000.0}),
            )
        };
        let local = |port: u64| {
            entry(
                "local-candidate",
                &format!("L{port}"),
                json!({"ip": "127.0.0.1", "port": port}),
            )
        };
        let entries = vec![
            pair("old", 1, 999_999),
            pair("new", 2, 10),
            local(1),
            local(2),
            entry("transport", "T", json!({"selectedCandidatePairId": "new"})),
        ];
        let c = StatsParser::new().parse(&entries, 0.0).connection;
        assert_eq!(c.selected_candidate_pairs.len(), 1);
        let p = c.selected_candidate_pair.expect("pair");
        assert_eq!(p.id, "new");
        assert_eq!(
            p.local.and_then(|l| l.address).as_deref(),
            Some("127.0.0.1"),
            "legacy `ip` is read"
        );
        assert_eq!(c.current_round_trip_time, Some(0.002));
    }

    #[test]
    fn without_transport_stats_a_succeeded_selected_pair_is_used() {
        // Firefox: no transport stats; the pair in use says `selected: true`.
        let entries = vec![
            entry(
                "candidate-pair",
                "waiting",
                json!({"state": "in-progress", "nominated": true}),
            ),
            entry(
                "candidate-pair",
                "ok",
                json!({"state": "succeeded", "selected": true, "nominated": false,
                "remoteCandidateId": "R"}),
            ),
            entry(
                "remote-candidate",
                "R",
                json!({"address": "198.51.100.7", "port": 3478, "protocol": "udp",
                "candidateType": "relay", "relayProtocol": "tls"}),
            ),
        ];
        let c = StatsParser::new().parse(&entries, 0.0).connection;
        let p = c.selected_candidate_pair.expect("pair");
        assert_eq!(p.id, "ok");
        let remote = p.remote.expect("remote");
        assert_eq!(remote.candidate_type.as_deref(), Some("relay"));
        assert_eq!(remote.relay_protocol.as_deref(), Some("tls"));
        assert_eq!(c.selected_candidate_pairs.len(), 1);
    }

    fn snapshot_with_fps(fps: Option<f64>, frames_decoded: u64) -> StatsSnapshot {
        StatsSnapshot {
            video: Some(InboundVideo {
                frames_per_second: fps,
                frames_decoded: Some(frames_decoded),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn stall_starts_below_half_a_frame_per_second_and_ends_when_video_returns() {
        let mut d = StallDetector::new();
        assert_eq!(d.update(&snapshot_with_fps(Some(30.0), 300), 0.0), None);
        assert_eq!(
            d.update(&snapshot_with_fps(Some(0.4), 310), 1000.0),
            Some(StallChange::Started { fps: 0.4 })
        );
        assert!(d.is_stalled());
        assert_eq!(
            d.update(&snapshot_with_fps(Some(0.0), 310), 2000.0),
            None,
            "still stalled: no new change"
        );
        assert_eq!(
            d.update(&StatsSnapshot::default(), 2500.0),
            None,
            "a report without video changes nothing"
        );
        assert_eq!(
            d.update(&snapshot_with_fps(None, 310), 2700.0),
            None,
            "nor one without fps"
        );
        assert_eq!(
            d.update(&snapshot_with_fps(Some(0.5), 311), 3500.0),
            Some(StallChange::Ended {
                duration_ms: 2500.0
            })
        );
        assert!(!d.is_stalled());
        assert_eq!(d.update(&snapshot_with_fps(Some(24.0), 330), 4500.0), None);
    }

    #[test]
    fn no_stall_before_video_has_played() {
        let mut d = StallDetector::new();
        assert_eq!(d.update(&StatsSnapshot::default(), 0.0), None);
        assert_eq!(d.update(&snapshot_with_fps(Some(0.0), 0), 1000.0), None);
        assert!(!d.is_stalled());
        d.update(&snapshot_with_fps(Some(0.0), 5), 2000.0);
        assert!(d.is_stalled());
        d.reset();
        assert!(!d.is_stalled());
        // A clock that went backwards gives a zero duration, not a negative one.
        d.update(&snapshot_with_fps(Some(0.0), 5), 2000.0);
        assert_eq!(
            d.update(&snapshot_with_fps(Some(10.0), 15), 1000.0),
            Some(StallChange::Ended { duration_ms: 0.0 })
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Field names the parser reads, so that random objects reach its code paths.
        const KEYS: &[&str] = &[
            "type",
            "id",
            "kind",
            "mediaType",
            "timestamp",
            "bytesReceived",
            "bytesSent",
            "packetsReceived",
            "packetsSent",
            "packetsLost",
            "framesDecoded",
            "framesReceived",
            "framesDropped",
            "framesEncoded",
            "framesPerSecond",
            "frameWidth",
            "frameHeight",
            "jitter",
            "totalInterFrameDelay",
            "totalSquaredInterFrameDelay",
            "jitterBufferDelay",
            "jitterBufferEmittedCount",
            "jitterBufferTargetDelay",
            "jitterBufferMinimumDelay",
            "totalDecodeTime",
            "totalProcessingDelay",
            "totalEncodeTime",
            "totalPacketSendDelay",
            "qualityLimitationDurations",
            "qualityLimitationReason",
            "codecId",
            "transportId",
            "selectedCandidatePairId",
            "localCandidateId",
            "remoteCandidateId",
            "state",
            "nominated",
            "selected",
            "port",
            "address",
            "mimeType",
            "freezeCount",
            "trackIds",
        ];
        const TEXTS: &[&str] = &[
            "inbound-rtp",
            "outbound-rtp",
            "candidate-pair",
            "local-candidate",
            "remote-candidate",
            "transport",
            "codec",
            "video",
            "audio",
            "succeeded",
            "a",
            "b",
            "c",
            "",
        ];

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<u64>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                (0u64..1000).prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                prop::sample::select(TEXTS).prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
            ]
        }

        fn json() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::vec(
                        (
                            prop::sample::select(KEYS).prop_map(str::to_owned),
                            inner.clone()
                        ),
                        0..12
                    )
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                    prop::collection::vec((".{0,6}", inner), 0..4)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        /// A report whose items look like stats objects, with random values.
        fn report() -> impl Strategy<Value = Value> {
            let item = (
                prop::sample::select(TEXTS),
                prop::sample::select(TEXTS),
                prop::collection::vec((prop::sample::select(KEYS), leaf()), 0..16),
            )
                .prop_map(|(kind, id, kv)| {
                    let mut m: Map<String, Value> =
                        kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    m.insert("type".into(), json!(kind));
                    m.insert("id".into(), json!(id));
                    Value::Object(m)
                });
            prop::collection::vec(item, 0..12).prop_map(Value::Array)
        }

        fn exercise(reports: &[Value], times: &[f64]) {
            let mut parser = StatsParser::new();
            let mut detector = StallDetector::new();
            for (i, r) in reports.iter().enumerate() {
                let t = times.get(i).copied().unwrap_or(0.0);
                let entries = entries_from_json(r);
                let merged = merge_reports(vec![entries.clone(), entries.clone()]);
                for e in [&entries, &merged] {
                    let snap = parser.parse(e, t);
                    serde_json::to_string(&snap).expect("a snapshot always serializes");
                    if let Some(change) = detector.update(&snap, t) {
                        serde_json::to_string(&change).expect("a change always serializes");
                    }
                }
            }
        }

        proptest! {
            #[test]
            fn arbitrary_json_never_panics(reports in prop::collection::vec(json(), 1..4), times in prop::collection::vec(any::<f64>(), 0..4)) {
                exercise(&reports, &times);
            }

            #[test]
            fn stats_shaped_reports_never_panic(reports in prop::collection::vec(report(), 1..5), times in prop::collection::vec(-1e6f64..1e12, 0..5)) {
                exercise(&reports, &times);
            }
        }
    }
}
