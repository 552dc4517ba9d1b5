use super::*;
use crate::core::json::parse;
use std::collections::HashSet;

fn fixture(name: &str) -> Vec<StatsEntry> {
    let text = match name {
        "receiver-1" => include_str!("../../../tests/fixtures/stats/chromium-receiver-1.json"),
        "receiver-2" => include_str!("../../../tests/fixtures/stats/chromium-receiver-2.json"),
        "sender-1" => include_str!("../../../tests/fixtures/stats/chromium-sender-1.json"),
        "sender-2" => include_str!("../../../tests/fixtures/stats/chromium-sender-2.json"),
        other => panic!("no fixture {other}"),
    };
    let v = parse(text).expect("fixture is JSON");
    let entries = entries_from_json(&v);
    assert_eq!(
        entries.len(),
        v.as_array().expect("fixture is an array").len(),
        "{name}: every real entry is read"
    );
    entries
}

/// The fake camera's settings, recorded by the capture script.
fn fake_camera() -> (f64, f64, f64) {
    let v = parse(include_str!(
        "../../../tests/fixtures/stats/capture-info.json"
    ))
    .expect("JSON");
    let cam = v.get("fakeCamera").expect("fakeCamera");
    let n = |k: &str| cam.num(k).expect(k);
    (n("width"), n("height"), n("frameRate"))
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
    assert!(v.num("framesPerSecond") > 0.0);
    assert_eq!((v.num("frameWidth"), v.num("frameHeight")), (width, height));
    assert!(v.num("framesDecoded") > 0.0);
    // Loopback loses (next to) nothing.
    assert!(v.num("packetsLost") * 100.0 <= v.num("packetsReceived"));
    // About one second of video at the camera's rate arrived between the samples.
    let decoded = v
        .interval("framesDecodedDelta")
        .expect("framesDecoded delta");
    assert!(
        decoded > camera_fps * 0.5 && decoded < camera_fps * 1.5,
        "{decoded} frames in ~1 s"
    );
    assert!(v.num("framesDroppedDelta") < decoded);
    assert!(v.num("bitrate") > 100_000.0, "{}", v.num("bitrate"));
    for k in [
        "avgDecodeTimeMs",
        "avgJitterBufferMs",
        "avgInterFrameDelayMs",
        "jitterBufferTargetDelayMs",
    ] {
        assert!(v.num(k) > 0.0, "{k}");
    }
    let mean = v.interval("interFrameDelayMeanMs").expect("mean");
    assert!(
        (mean - 1000.0 / camera_fps).abs() < 20.0,
        "{mean} ms between frames"
    );
    assert!(v.interval("interFrameDelayStddevMs").is_some());
    // Chromium 156 reports every input of the reference fields of a receiving video stream.
    assert!(v.unavailable.is_empty(), "{:?}", v.unavailable);

    let f = first.video.expect("first sample");
    assert_eq!(f.num("bitrate"), 0.0, "no bitrate on the first sample");
    assert_eq!(f.interval("framesDecodedDelta"), None);
    assert_eq!(
        f.num("framesDroppedDelta"),
        f.num("framesDropped"),
        "the first delta is the cumulative value"
    );

    let a = second.audio.expect("inbound audio");
    assert_eq!(a.codec.as_deref(), Some("audio/opus"));
    assert!(a.num("bitrate") > 6_000.0 && a.num("bitrate") < 510_000.0);
    assert!(a.interval("packetsReceivedDelta").expect("packets") > 0.0);
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
        .clone()
        .expect("receiver pair");
    let s = sender
        .connection
        .selected_candidate_pair
        .clone()
        .expect("sender pair");
    for pair in [&r, &s] {
        assert_eq!(pair.state.as_deref(), Some("succeeded"));
        let (l, rm) = pair.ends().expect("both ends");
        for c in [l, rm] {
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
    let rtt = receiver.connection.current_round_trip_time.expect("rtt");
    assert!((0.0..0.1).contains(&rtt), "loopback RTT {rtt} s");
    assert!(
        sender
            .connection
            .available_outgoing_bitrate
            .expect("available")
            > 0.0
    );
    let items = receiver.to_json();
    let items = items
        .get("connection")
        .and_then(|c| c.get("selectedCandidatePairs"))
        .and_then(Json::as_array)
        .expect("pairs");
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].get("local").and_then(|l| l.str("address")),
        Some("127.0.0.1")
    );
    let d = pair_diagnostic(&first_succeeded_pair(&fixture("receiver-2")).expect("pair"));
    assert_eq!(
        d.get("local").and_then(|l| l.str("candidateType")),
        Some("host")
    );
    assert_eq!(d.get("remote").and_then(|l| l.str("protocol")), Some("udp"));
}

#[test]
fn real_sender_reports_give_outbound_video_and_its_quality_limitation() {
    let (width, height, _) = fake_camera();
    let (first, second) = parse_pair("sender-1", "sender-2");
    let o = second.outbound_video.expect("outbound video");
    assert_eq!(o.codec.as_deref(), Some("video/VP8"));
    let reason = o
        .text("qualityLimitationReason")
        .expect("qualityLimitationReason");
    assert!(
        ["none", "cpu", "bandwidth", "other"].contains(&reason),
        "{reason}"
    );
    let durations = o
        .fields
        .iter()
        .find(|(k, _)| *k == "qualityLimitationDurations")
        .and_then(|(_, v)| v.as_object())
        .expect("durations");
    let total: f64 = durations.iter().filter_map(|(_, v)| v.as_f64()).sum();
    assert!(total > 1.0, "{durations:?}: seconds since the start");
    assert!(o.num("framesPerSecond") > 0.0);
    assert_eq!((o.num("frameWidth"), o.num("frameHeight")), (width, height));
    let bitrate = o.num("bitrate");
    assert!(bitrate > 100_000.0 && bitrate < 10_000_000.0, "{bitrate}");
    assert!(o.num("targetBitrateKbps") > 0.0);
    assert!(o.interval("packetsSentDelta").expect("packets") > 0.0);
    let encode = o.interval("encodeTimePerFrameMs").expect("encode time");
    assert!(encode > 0.0 && encode < 1000.0, "{encode} ms");
    assert!(o.num("avgEncodeTimeMs") > 0.0);
    assert_eq!(first.outbound_video.expect("first").num("bitrate"), 0.0);
    assert!(second.video.is_none(), "the sending side receives no video");
}

#[test]
fn receiver_and_sender_bitrates_agree() {
    let (_, receiver) = parse_pair("receiver-1", "receiver-2");
    let (_, sender) = parse_pair("sender-1", "sender-2");
    let received = receiver.video.expect("video").num("bitrate");
    let sent = sender.outbound_video.expect("outbound").num("bitrate");
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
    assert!(snap.video.as_ref().expect("video").num("bitrate") > 0.0);
    assert!(
        snap.outbound_video
            .as_ref()
            .expect("outbound")
            .num("bitrate")
            > 0.0
    );
    assert_eq!(
        snap.video.and_then(|v| v.codec).as_deref(),
        Some("video/VP8")
    );
    let pairs = &snap.connection.succeeded_pairs;
    assert_eq!(pairs.len(), 2, "one succeeded pair per peer connection");
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

/// Every reference field of API.md §4.3, per section.
const REFERENCE_VIDEO: [&str; 28] = [
    "framesDecoded",
    "framesDropped",
    "framesReceived",
    "packetsReceived",
    "packetsLost",
    "freezeCount",
    "nackCount",
    "firCount",
    "pliCount",
    "bytesReceived",
    "totalFreezesDuration",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
    "jitter",
    "bitrate",
    "packetsLostDelta",
    "framesDroppedDelta",
    "freezeCountDelta",
    "nackCountDelta",
    "freezeDurationDelta",
    "avgInterFrameDelayMs",
    "interFrameDelayVarianceMs",
    "jitterBufferTargetDelayMs",
    "jitterBufferMinimumDelayMs",
    "avgJitterBufferMs",
    "avgDecodeTimeMs",
    "avgProcessingDelayMs",
];
const REFERENCE_AUDIO: [&str; 6] = [
    "bytesReceived",
    "packetsReceived",
    "packetsLost",
    "jitter",
    "bitrate",
    "packetsLostDelta",
];
const REFERENCE_OUTBOUND: [&str; 16] = [
    "qualityLimitationReason",
    "qualityLimitationDurations",
    "bytesSent",
    "packetsSent",
    "retransmittedBytesSent",
    "retransmittedPacketsSent",
    "nackCount",
    "firCount",
    "pliCount",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
    "bitrate",
    "targetBitrateKbps",
    "avgPacketSendDelayMs",
    "avgEncodeTimeMs",
];

fn keys(v: &Json) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .iter()
        .map(|(k, _)| k.as_str())
        .collect()
}

#[test]
fn payload_has_every_reference_field_and_telemetry_only_those() {
    let (_, receiver) = parse_pair("receiver-1", "receiver-2");
    let (_, sender) = parse_pair("sender-1", "sender-2");
    let r = receiver.to_reference_json();
    assert_eq!(
        keys(&r),
        ["timestamp", "video", "audio", "outboundVideo", "connection"]
    );
    assert_eq!(keys(r.get("video").expect("video")), REFERENCE_VIDEO);
    assert_eq!(keys(r.get("audio").expect("audio")), REFERENCE_AUDIO);
    assert_eq!(r.get("outboundVideo"), Some(&Json::Null));
    assert_eq!(
        keys(r.get("connection").expect("connection")),
        [
            "currentRoundTripTime",
            "availableOutgoingBitrate",
            "selectedCandidatePairs"
        ]
    );
    let s = sender.to_reference_json();
    assert_eq!(
        keys(s.get("outboundVideo").expect("outbound")),
        REFERENCE_OUTBOUND
    );

    // The event payload adds the extras after the reference fields.
    let full = receiver.to_json();
    let video = full.get("video").expect("video");
    for extra in [
        "unavailable",
        "id",
        "codec",
        "decoderImplementation",
        "keyFramesDecoded",
        "interval",
    ] {
        assert!(video.get(extra).is_some(), "{extra}");
    }
    assert_eq!(
        keys(video.get("interval").expect("interval")),
        VIDEO.interval.iter().map(|(k, _)| *k).collect::<Vec<_>>()
    );
    assert!(full
        .get("connection")
        .and_then(|c| c.get("selectedCandidatePair"))
        .is_some());
    let text = crate::core::json::write(&full);
    assert!(!text.contains("NaN") && !text.contains("inf"));
}

fn entry(kind: &str, id: &str, fields: &str) -> StatsEntry {
    let mut text = format!(r#"{{"type":"{kind}","id":"{id}""#);
    if fields.len() > 2 {
        text.push(',');
        text.push_str(&fields[1..]);
    } else {
        text.push('}');
    }
    entries_from_json(&Json::Arr(vec![parse(&text).expect("entry JSON")])).remove(0)
}

fn video(id: &str, fields: &str) -> StatsEntry {
    let mut e = entry("inbound-rtp", id, fields);
    if let Json::Obj(m) = &mut e.fields {
        m.push(("kind".into(), Json::from("video")));
    }
    e
}

#[test]
fn entries_from_json_reads_arrays_and_maps_and_skips_malformed_items() {
    let array = parse(
        r#"[{"type": "inbound-rtp", "id": "a", "kind": "video", "bytesReceived": 1},
            {"type": "codec"}, {"id": "no-type"}, {"type": 3, "id": "b"},
            {"type": "codec", "id": 7}, "text", 1, null, []]"#,
    )
    .unwrap();
    let entries = entries_from_json(&array);
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].kind.as_str(), entries[0].id.as_str()),
        ("inbound-rtp", "a")
    );
    assert_eq!(entries[0].fields.num("bytesReceived"), Some(1.0));
    let map = parse(
        r#"{"T01": {"type": "transport", "id": "T01"}, "CP1": {"type": "candidate-pair"},
            "bad": {"id": "bad"}, "x": 5}"#,
    )
    .unwrap();
    let mut ids: Vec<String> = entries_from_json(&map).into_iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(ids, ["CP1", "T01"]);
    assert!(entries_from_json(&Json::from("report")).is_empty());
    assert!(entries_from_json(&Json::Null).is_empty());
}

#[test]
fn omitted_and_wrong_typed_inputs_give_zero_and_are_listed_unavailable() {
    let entries = vec![
        video(
            "v",
            r#"{"framesDecoded": "12", "framesPerSecond": null, "bytesReceived": 1500,
                "packetsLost": -3, "codecId": 42, "freezeCount": 2}"#,
        ),
        entry(
            "outbound-rtp",
            "o",
            r#"{"kind": "video", "qualityLimitationReason": 1,
                "qualityLimitationDurations": {"none": 1.5, "cpu": "x"}}"#,
        ),
    ];
    let snap = StatsParser::new().parse(&entries, 0.0);
    let v = snap.video.expect("an inbound-rtp video entry is there");
    assert_eq!(v.num("framesDecoded"), 0.0);
    assert!(v.is_unavailable("framesDecoded") && v.is_unavailable("framesPerSecond"));
    assert!(
        v.is_unavailable("avgDecodeTimeMs"),
        "needs totalDecodeTime and framesDecoded"
    );
    assert!(!v.is_unavailable("bytesReceived") && !v.is_unavailable("bitrate"));
    assert_eq!(v.num("packetsLost"), -3.0);
    assert_eq!(v.num("packetsLostDelta"), 0.0, "deltas are clamped at 0");
    assert_eq!(v.num("freezeCount"), 2.0);
    assert_eq!(v.codec, None);
    let o = snap.outbound_video.expect("outbound");
    assert_eq!(o.text("qualityLimitationReason"), Some("none"));
    assert!(o.is_unavailable("qualityLimitationReason"));
    let t = o.to_json(false);
    assert_eq!(t.get("targetBitrateKbps"), Some(&Json::Null));
    assert_eq!(
        crate::core::json::write(t.get("qualityLimitationDurations").expect("durations")),
        r#"{"none":1.5}"#
    );
    assert!(snap.audio.is_none());
    assert!(snap.connection.selected_candidate_pair.is_none());
}

#[test]
fn the_last_inbound_video_in_report_order_is_described() {
    let entries = vec![
        video("first", r#"{"bytesReceived": 5000, "frameWidth": 1280}"#),
        video("last", r#"{"bytesReceived": 10, "frameWidth": 320}"#),
        entry(
            "inbound-rtp",
            "audio",
            r#"{"kind": "audio", "bytesReceived": 90000}"#,
        ),
    ];
    let v = StatsParser::new()
        .parse(&entries, 0.0)
        .video
        .expect("video");
    assert_eq!((v.id.as_str(), v.num("frameWidth")), ("last", 320.0));
    let legacy = entry(
        "inbound-rtp",
        "legacy",
        r#"{"mediaType": "video", "bytesReceived": 20}"#,
    );
    let v = StatsParser::new()
        .parse(&[legacy], 0.0)
        .video
        .expect("video");
    assert_eq!(v.id, "legacy");
}

#[test]
fn deltas_and_bitrate_come_from_consecutive_samples() {
    let sample = |bytes: u64, frames: u64, lost: i64, t: f64| {
        let f = frames as f64;
        vec![video(
            "v",
            &format!(
                r#"{{"bytesReceived": {bytes}, "framesDecoded": {frames}, "packetsLost": {lost},
                    "totalInterFrameDelay": {}, "totalSquaredInterFrameDelay": {},
                    "jitterBufferDelay": {}, "jitterBufferEmittedCount": {frames}, "timestamp": {t}}}"#,
                f * 0.04,
                f * 0.0016,
                f * 0.05
            ),
        )]
    };
    let mut parser = StatsParser::new();
    let v = parser
        .parse(&sample(1000, 10, 1, 1000.0), 0.0)
        .video
        .expect("v");
    assert_eq!((v.num("bitrate"), v.num("packetsLostDelta")), (0.0, 1.0));
    assert_eq!(v.interval("bytesReceivedDelta"), None);
    // The stats timestamps say 2 s passed, whatever the caller's clock says.
    let v = parser
        .parse(&sample(251_000, 60, 3, 3000.0), 1.0)
        .video
        .expect("v");
    assert_eq!(v.num("bitrate"), 1_000_000.0);
    assert_eq!(v.interval("framesDecodedDelta"), Some(50.0));
    assert_eq!(v.num("packetsLostDelta"), 2.0);
    assert!((v.interval("interFrameDelayMeanMs").expect("mean") - 40.0).abs() < 1e-9);
    assert!(
        v.interval("interFrameDelayStddevMs").expect("stddev") < 1e-3,
        "constant delays"
    );
    assert!((v.interval("jitterBufferDelayMs").expect("jb") - 50.0).abs() < 1e-9);
    assert!(
        (v.num("avgJitterBufferMs") - 50.0).abs() < 1e-9,
        "cumulative average"
    );
    assert!((v.num("avgInterFrameDelayMs") - 40.0).abs() < 1e-9);
    assert!(
        (v.num("interFrameDelayVarianceMs") - 40.0).abs() < 1e-9,
        "an RMS"
    );

    // Without stats timestamps the caller's clock is used.
    let mut parser = StatsParser::new();
    parser.parse(&[video("v", r#"{"bytesReceived": 0}"#)], 500.0);
    let v = parser
        .parse(&[video("v", r#"{"bytesReceived": 1000}"#)], 1500.0)
        .video
        .expect("v");
    assert_eq!(v.num("bitrate"), 8000.0);
    // A sample at the same instant has deltas but no bitrate.
    let v = parser
        .parse(&[video("v", r#"{"bytesReceived": 1000}"#)], 1500.0)
        .video
        .expect("v");
    assert_eq!(
        (v.interval("bytesReceivedDelta"), v.num("bitrate")),
        (Some(0.0), 0.0)
    );
}

#[test]
fn results_beyond_the_f64_range_give_zero_not_infinity() {
    // Fuzz finding: a recorded report with `totalDecodeTime` set to the largest double gave
    // `avgDecodeTimeMs: Infinity` (written as `null` where the payload promises a number).
    let max = f64::MAX;
    let mut parser = StatsParser::new();
    let first = parser.parse(
        &[video(
            "v",
            &format!(
                r#"{{"framesDecoded": 137, "totalDecodeTime": {max:e}, "bytesReceived": 0,
                    "packetsLost": {}, "timestamp": 1000}}"#,
                -max
            ),
        )],
        0.0,
    );
    let v = first.video.as_ref().expect("v");
    assert_eq!(v.num("avgDecodeTimeMs"), 0.0);
    assert!(crate::core::json::write(&first.to_json()).contains(r#""avgDecodeTimeMs":0,"#));
    // Bitrate and Δ beyond the range too.
    let v = parser
        .parse(
            &[video(
                "v",
                &format!(
                    r#"{{"bytesReceived": {max:e}, "packetsLost": {max:e}, "timestamp": 1001}}"#
                ),
            )],
            1.0,
        )
        .video
        .expect("v");
    assert_eq!((v.num("bitrate"), v.num("packetsLostDelta")), (0.0, 0.0));
    for (name, value) in &v.fields {
        assert!(value.as_f64().is_some(), "{name}: {value:?}");
    }
}

#[test]
fn extras_that_are_not_finite_numbers_are_null() {
    // Fuzz finding: `"framesEncoded": 1e400` (infinity, as `JSON.parse` reads it) was copied
    // into the payload as it was.
    let mut e = entry(
        "outbound-rtp",
        "o",
        r#"{"framesEncoded": 1e400, "framesSent": 3, "encoderImplementation": "libvpx"}"#,
    );
    if let Json::Obj(m) = &mut e.fields {
        m.push(("kind".into(), Json::from("video")));
    }
    let snap = StatsParser::new().parse(&[e], 0.0);
    let o = snap.outbound_video.as_ref().expect("outbound video");
    let extra = |k: &str| {
        o.extras
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(extra("framesEncoded"), Some(Json::Null));
    assert_eq!(extra("framesSent"), Some(Json::Num(3.0)));
    assert_eq!(extra("encoderImplementation"), Some(Json::from("libvpx")));
}

#[test]
fn counters_going_backwards_restart_the_deltas() {
    let sample = |bytes: u64, frames: u64, dropped: u64| {
        vec![video(
            "v",
            &format!(
                r#"{{"bytesReceived": {bytes}, "framesDecoded": {frames}, "framesDropped": {dropped}}}"#
            ),
        )]
    };
    let mut parser = StatsParser::new();
    parser.parse(&sample(1_000_000, 900, 5), 0.0);
    let v = parser
        .parse(&sample(1_100_000, 930, 6), 1000.0)
        .video
        .expect("v");
    assert_eq!(
        (v.num("framesDroppedDelta"), v.num("bitrate")),
        (1.0, 800_000.0)
    );
    // A new peer connection after a reconnect: counters restart from zero.
    let v = parser
        .parse(&sample(20_000, 10, 2), 2000.0)
        .video
        .expect("v");
    assert_eq!(v.num("bitrate"), 0.0);
    assert_eq!(
        v.num("framesDroppedDelta"),
        2.0,
        "Δ = the cumulative value after a restart"
    );
    assert_eq!(v.interval("framesDecodedDelta"), None);
    let v = parser
        .parse(&sample(30_000, 20, 2), 3000.0)
        .video
        .expect("v");
    assert_eq!(
        (v.num("bitrate"), v.interval("framesDecodedDelta")),
        (80_000.0, Some(10.0))
    );
    parser.reset();
    let v = parser
        .parse(&sample(40_000, 30, 2), 4000.0)
        .video
        .expect("v");
    assert_eq!(v.num("bitrate"), 0.0, "reset restarts");
}

#[test]
fn stalls_start_below_half_a_frame_per_second_and_end_with_their_duration() {
    let snap = |fps: &str| {
        StatsParser::new().parse(
            &[video("v", &format!(r#"{{"framesPerSecond": {fps}}}"#))],
            0.0,
        )
    };
    let mut d = StallDetector::new();
    assert_eq!(d.update(&snap("20"), 0.0), None);
    assert_eq!(
        d.update(&snap("0.2"), 1000.0),
        Some(StallChange::Started { fps: 0.2 })
    );
    assert_eq!(d.update(&snap("0"), 2000.0), None);
    let end = d.update(&snap("19"), 4500.0).expect("ended");
    assert_eq!(
        end,
        StallChange::Ended {
            duration_ms: 3500.0
        }
    );
    assert_eq!(
        crate::core::json::write(&end.to_json()),
        r#"{"stalled":false,"durationMs":3500}"#
    );
    assert_eq!(
        crate::core::json::write(&StallChange::Started { fps: 0.0 }.to_json()),
        r#"{"stalled":true,"durationMs":0,"fps":0}"#
    );
    // No video, no stall.
    assert_eq!(d.update(&StatsSnapshot::default(), 5000.0), None);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn stats_shaped_reports_never_panic(
            values in prop::collection::vec((0usize..12, -1e12f64..1e12, any::<bool>()), 0..40)
        ) {
            const KEYS: [&str; 12] = ["bytesReceived", "framesDecoded", "packetsLost", "timestamp",
                "jitterBufferEmittedCount", "jitterBufferDelay", "totalInterFrameDelay",
                "totalSquaredInterFrameDelay", "framesPerSecond", "bytesSent", "packetsSent", "targetBitrate"];
            let mut parser = StatsParser::new();
            for chunk in values.chunks(4) {
                let mut members = vec![("kind".to_string(), Json::from("video"))];
                for (k, v, text) in chunk {
                    members.push((KEYS[*k].to_string(), if *text { Json::from("x") } else { Json::Num(*v) }));
                }
                let e = |kind: &str| StatsEntry { kind: kind.into(), id: "x".into(), fields: Json::Obj(members.clone()) };
                let snap = parser.parse(&[e("inbound-rtp"), e("outbound-rtp"), e("candidate-pair")], 0.0);
                let text = crate::core::json::write(&snap.to_json());
                prop_assert!(crate::core::json::parse(&text).is_ok());
            }
        }
    }
}
