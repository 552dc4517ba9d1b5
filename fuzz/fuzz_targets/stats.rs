//! `getStats()` reports (`core::stats`): entries, merged reports, sequences of polls.
//!
//! Input: JSON text (a report, in array or map form, or an array of reports polled one
//! after the other: the seeds are the recorded Chromium reports), or else bytes that pick
//! recorded reports and mutate them (numbers anywhere in `f64`, members of the wrong type
//! or missing, types, kinds, ids and references changed, entries copied or removed,
//! counters scaled down or up), several per poll merged as IVS merges stage streams, with
//! restarts between polls.
//!
//! Invariants: nothing panics; every payload (`to_json`, `to_reference_json`) holds finite
//! numbers or `null` only; each section describes the last stats object of its kind and has
//! every reference field, as a number (the outbound section's `qualityLimitationReason` a
//! string, `qualityLimitationDurations` finite numbers, `targetBitrateKbps` a number or
//! `null`), `unavailable` naming only reference fields; the rates are never negative (Δ
//! fields, `bitrate`, every `interval` figure); the first sample of a stats object (after a
//! restart, or of a new id) has no `interval` figures, `bitrate` 0 and Δ = the cumulative
//! value (at least 0); a stall ends with a finite duration of at least 0. Merged reports
//! keep every entry, give entries of different reports different ids, and a reference that
//! named an entry of its own report names that entry still.
#![no_main]
// libfuzzer: -max_len=32768

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::json::{self, Json};
use realtime_video_sdk::core::stats::{
    entries_from_json, merge_reports, IntervalRule, Rule, SectionSpec, StallChange, StallDetector,
    StatsEntry, StatsParser, StatsSnapshot, AUDIO, OUTBOUND_VIDEO, VIDEO,
};
use realtime_video_sdk_fuzz::non_finite;
use std::sync::OnceLock;

const SPECS: [&SectionSpec; 3] = [&VIDEO, &AUDIO, &OUTBOUND_VIDEO];

/// The recorded reports, as JSON arrays of stats objects.
fn fixtures() -> &'static [Json] {
    static FIXTURES: OnceLock<Vec<Json>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        [
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/stats/chromium-receiver-1.json"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/stats/chromium-receiver-2.json"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/stats/chromium-sender-1.json"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/stats/chromium-sender-2.json"
            )),
        ]
        .iter()
        .map(|text| json::parse(text).unwrap_or_else(|e| panic!("fixture: {e}")))
        .collect()
    })
}

/// Every member the parser reads.
fn input_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = vec![
            "timestamp",
            "kind",
            "mediaType",
            "codecId",
            "mimeType",
            "state",
            "nominated",
            "localCandidateId",
            "remoteCandidateId",
            "selectedCandidatePairId",
            "currentRoundTripTime",
            "availableOutgoingBitrate",
            "bytesSent",
            "bytesReceived",
            "address",
            "ip",
            "port",
            "protocol",
            "candidateType",
            "relayProtocol",
            "qualityLimitationReason",
            "qualityLimitationDurations",
        ];
        for spec in SPECS {
            for (_, rule) in spec.fields {
                match *rule {
                    Rule::Copy(k) | Rule::Bitrate(k) | Rule::Delta(k) => keys.push(k),
                    Rule::Ms(n, d) | Rule::RmsMs(n, d) => keys.extend([n, d]),
                }
            }
            for (_, rule) in spec.interval {
                match *rule {
                    IntervalRule::Delta(k) => keys.push(k),
                    IntervalRule::MeanMs(n, d) => keys.extend([n, d]),
                    IntervalRule::StddevMs(s, q, c) => keys.extend([s, q, c]),
                }
            }
            keys.extend(spec.counters);
            keys.extend(spec.extras);
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    })
}

const TYPES: [&str; 8] = [
    "inbound-rtp",
    "outbound-rtp",
    "candidate-pair",
    "transport",
    "codec",
    "local-candidate",
    "remote-candidate",
    "media-source",
];

fn number(u: &mut Unstructured<'_>) -> Result<f64> {
    const EDGES: [f64; 18] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1000.0,
        65535.0,
        65536.0,
        9.0e15,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    Ok(match u.int_in_range(0..=3)? {
        0 => *u.choose(&EDGES)?,
        1 => f64::from(u32::arbitrary(u)?),
        2 => f64::from(i16::arbitrary(u)?) * 1000.0,
        _ => f64::arbitrary(u)?,
    })
}

fn key(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(if u.ratio(1, 8)? {
        String::arbitrary(u)?
    } else {
        (*u.choose(input_keys())?).to_string()
    })
}

fn set(fields: &mut Json, key: &str, value: Json) {
    if let Json::Obj(members) = fields {
        match members.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => members.push((key.to_string(), value)),
        }
    }
}

fn ids(report: &[Json]) -> Vec<String> {
    report
        .iter()
        .filter_map(|e| e.str("id").map(str::to_string))
        .collect()
}

/// One change to a report (an array of stats objects).
fn mutate(u: &mut Unstructured<'_>, report: &mut Vec<Json>) -> Result<()> {
    if report.is_empty() {
        report.push(Json::Obj(vec![
            ("type".into(), Json::from(*u.choose(&TYPES)?)),
            ("id".into(), Json::from(String::arbitrary(u)?)),
        ]));
    }
    let i = u.choose_index(report.len())?;
    let known = ids(report);
    let entry = &mut report[i];
    match u.int_in_range(0..=11)? {
        0..=3 => {
            let v = Json::Num(number(u)?);
            set(entry, &key(u)?, v);
        }
        4 => {
            let k = key(u)?;
            if let Json::Obj(members) = entry {
                members.retain(|(m, _)| *m != k);
            }
        }
        5 => {
            let v = match u.int_in_range(0..=4)? {
                0 => Json::Null,
                1 => Json::Opaque,
                2 => Json::Bool(bool::arbitrary(u)?),
                3 => Json::Str(String::arbitrary(u)?),
                _ => Json::Arr(vec![Json::Num(number(u)?)]),
            };
            set(entry, &key(u)?, v);
        }
        6 => set(entry, "type", Json::from(*u.choose(&TYPES)?)),
        7 => {
            let kind = *u.choose(&["video", "audio", "data"])?;
            let member = *u.choose(&["kind", "mediaType"])?;
            set(entry, member, Json::from(kind));
        }
        8 => {
            // Point a reference, or the id itself, at another entry (or anywhere).
            let member = *u.choose(&[
                "id",
                "codecId",
                "localCandidateId",
                "remoteCandidateId",
                "selectedCandidatePairId",
            ])?;
            let to = match known.is_empty() || u.ratio(1, 8)? {
                true => String::arbitrary(u)?,
                false => u.choose(&known)?.clone(),
            };
            set(entry, member, Json::from(to));
        }
        9 => {
            let state = *u.choose(&["succeeded", "in-progress", "failed"])?;
            set(entry, "state", Json::from(state));
        }
        10 => {
            // Every counter scaled: backwards (a restarted object), or far up.
            let factor = *u.choose(&[0.0, 0.5, 2.0, 1e300, -1.0])?;
            if let Json::Obj(members) = entry {
                for (_, v) in members.iter_mut() {
                    if let Json::Num(n) = v {
                        *n *= factor;
                    }
                }
            }
        }
        _ => {
            if u.arbitrary()? {
                let copy = entry.clone();
                report.push(copy);
            } else {
                report.remove(i);
            }
        }
    }
    Ok(())
}

/// A report made from a recorded one (or nothing), changed a few times, in array or map
/// form.
fn report(u: &mut Unstructured<'_>) -> Result<Vec<StatsEntry>> {
    let fixtures = fixtures();
    let mut items: Vec<Json> = match u.int_in_range(0..=fixtures.len())? {
        0 => Vec::new(),
        n => fixtures[n - 1]
            .as_array()
            .map(<[Json]>::to_vec)
            .unwrap_or_default(),
    };
    for _ in 0..u.int_in_range(0..=12)? {
        mutate(u, &mut items)?;
    }
    let v = if u.ratio(1, 4)? {
        // The map form: id → stats object (without its `id` member, now and then).
        let drop_id = u.arbitrary::<bool>()?;
        Json::Obj(
            items
                .into_iter()
                .map(|mut e| {
                    let id = e.str("id").unwrap_or_default().to_string();
                    if drop_id {
                        if let Json::Obj(members) = &mut e {
                            members.retain(|(k, _)| k != "id");
                        }
                    }
                    (id, e)
                })
                .collect(),
        )
    } else {
        Json::Arr(items)
    };
    Ok(entries_from_json(&v))
}

/// The index of the first entry whose id is `id`.
fn find(entries: &[StatsEntry], id: &str) -> Option<usize> {
    entries.iter().position(|e| e.id == id)
}

/// Every reference member of an entry: strings named `...Id`, strings in arrays named
/// `...Ids`.
fn references(e: &StatsEntry) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in e.fields.as_object().unwrap_or_default() {
        match v {
            Json::Str(s) if k.ends_with("Id") => out.push(s.clone()),
            Json::Arr(items) if k.ends_with("Ids") => {
                out.extend(items.iter().filter_map(Json::as_str).map(str::to_string));
            }
            _ => {}
        }
    }
    out
}

fn merged(reports: Vec<Vec<StatsEntry>>) -> Vec<StatsEntry> {
    let sizes: Vec<usize> = reports.iter().map(Vec::len).collect();
    let before = reports.clone();
    let after = merge_reports(reports);
    assert_eq!(after.len(), sizes.iter().sum::<usize>(), "every entry kept");
    let mut origin = Vec::new();
    for (r, n) in sizes.iter().enumerate() {
        origin.extend((0..*n).map(|j| (r, j)));
    }
    for (a, e) in after.iter().enumerate() {
        assert_eq!(
            e.fields.str("id").unwrap_or(&e.id),
            e.id,
            "the id member follows"
        );
        for (b, other) in after.iter().enumerate().skip(a + 1) {
            if origin[a].0 != origin[b].0 {
                assert_ne!(e.id, other.id, "entries of two reports share an id");
            }
        }
    }
    let offset = |r: usize| sizes[..r].iter().sum::<usize>();
    for (r, report) in before.iter().enumerate() {
        for (j, e) in report.iter().enumerate() {
            let now = &after[offset(r) + j];
            for (old, new) in references(e).iter().zip(references(now)) {
                if let Some(k) = find(report, old) {
                    assert_eq!(
                        find(&after, &new),
                        Some(offset(r) + k),
                        "report {r}: {old} -> {new} names another entry"
                    );
                }
            }
        }
    }
    after
}

/// The state one section's checks need from the previous poll.
#[derive(Default)]
struct Tracked {
    previous_ids: [Option<String>; 3],
}

fn check_section(
    spec: &SectionSpec,
    i: usize,
    snap: &StatsSnapshot,
    entries: &[StatsEntry],
    t: &Tracked,
) {
    let section = [&snap.video, &snap.audio, &snap.outbound_video][i];
    let last = entries.iter().rev().find(|e| {
        e.kind == spec.kind
            && e.fields.str("kind").or_else(|| e.fields.str("mediaType")) == Some(spec.media)
    });
    let Some(s) = section else {
        assert!(last.is_none(), "{} not described", spec.kind);
        return;
    };
    assert_eq!(
        Some(&s.id),
        last.map(|e| &e.id),
        "not the last {}",
        spec.kind
    );
    let names: Vec<&str> = s.fields.iter().map(|(k, _)| *k).collect();
    for (name, _) in spec.fields {
        assert!(names.contains(name), "{name} missing");
    }
    for (name, v) in &s.fields {
        match (*name, v) {
            ("qualityLimitationReason", Json::Str(_)) => {}
            ("qualityLimitationDurations", Json::Obj(m)) => {
                assert!(m.iter().all(|(_, d)| d.as_f64().is_some()), "{v:?}");
            }
            ("targetBitrateKbps", Json::Null) => {}
            (_, Json::Num(n)) => assert!(n.is_finite(), "{name}: {n}"),
            _ => panic!("{name}: {v:?}"),
        }
        if name.ends_with("Delta") || *name == "bitrate" {
            assert!(s.num(name) >= 0.0, "{name} = {}", s.num(name));
        }
    }
    for u in &s.unavailable {
        assert!(names.contains(u), "{u} is not a reference field");
    }
    for (name, v) in &s.interval {
        if let Some(v) = v {
            assert!(v.is_finite() && *v >= 0.0, "interval {name} = {v}");
        }
    }
    let first = t.previous_ids[i].as_deref() != Some(s.id.as_str());
    if first {
        assert!(
            s.interval.iter().all(|(_, v)| v.is_none()),
            "first sample: {:?}",
            s.interval
        );
        assert_eq!(s.num("bitrate"), 0.0, "first sample");
        for (name, rule) in spec.fields {
            if let Rule::Delta(k) = rule {
                let cumulative = last.and_then(|e| e.fields.num(k)).unwrap_or(0.0).max(0.0);
                let got = s.num(name);
                assert_eq!(got, cumulative, "first {name}");
            }
        }
    }
}

fn check(snap: &StatsSnapshot, entries: &[StatsEntry], t: &mut Tracked) {
    for payload in [snap.to_json(), snap.to_reference_json()] {
        if let Some(path) = non_finite(&payload) {
            panic!("{path} is not finite in {}", json::write(&payload));
        }
    }
    for (i, spec) in SPECS.into_iter().enumerate() {
        check_section(spec, i, snap, entries, t);
    }
    let succeeded = entries
        .iter()
        .filter(|e| e.kind == "candidate-pair" && e.fields.str("state") == Some("succeeded"))
        .count();
    assert_eq!(snap.connection.succeeded_pairs.len(), succeeded);
    t.previous_ids =
        [&snap.video, &snap.audio, &snap.outbound_video].map(|s| s.as_ref().map(|s| s.id.clone()));
}

struct Session {
    parser: StatsParser,
    stall: StallDetector,
    tracked: Tracked,
}

impl Session {
    fn new() -> Self {
        Session {
            parser: StatsParser::new(),
            stall: StallDetector::new(),
            tracked: Tracked::default(),
        }
    }

    fn restart(&mut self) {
        self.parser.reset();
        self.stall.reset();
        self.tracked = Tracked::default();
    }

    fn poll(&mut self, entries: &[StatsEntry], now_ms: f64) {
        let snap = self.parser.parse(entries, now_ms);
        check(&snap, entries, &mut self.tracked);
        if let Some(StallChange::Ended { duration_ms }) = self.stall.update(&snap, now_ms) {
            assert!(
                duration_ms.is_finite() && duration_ms >= 0.0,
                "{duration_ms}"
            );
        }
    }
}

fn from_text(v: &Json) {
    let reports: Vec<&Json> = match v.as_array() {
        Some(items) if !items.is_empty() && items.iter().all(|i| matches!(i, Json::Arr(_))) => {
            items.iter().collect()
        }
        _ => vec![v, v],
    };
    let mut session = Session::new();
    let mut now = 1.0e12;
    for r in &reports {
        session.poll(&entries_from_json(r), now);
        now += 1000.0;
    }
    if reports.len() > 1 {
        merged(reports.iter().map(|r| entries_from_json(r)).collect());
    }
}

fn from_bytes(u: &mut Unstructured<'_>) -> Result<()> {
    let mut session = Session::new();
    let mut now = if u.arbitrary()? {
        1.0e12
    } else {
        Some(number(u)?).filter(|n| n.is_finite()).unwrap_or(0.0)
    };
    for _ in 0..u.int_in_range(1..=6)? {
        if u.ratio(1, 8)? {
            session.restart();
        }
        let n = u.int_in_range(1..=3)?;
        let reports = (0..n).map(|_| report(u)).collect::<Result<Vec<_>>>()?;
        let entries = if n == 1 {
            reports.into_iter().flatten().collect()
        } else {
            merged(reports)
        };
        session.poll(&entries, now);
        let step = match u.int_in_range(0..=3)? {
            0 => number(u)?,
            _ => f64::from(u16::arbitrary(u)?),
        };
        now = Some(now + step).filter(|n| n.is_finite()).unwrap_or(now);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if let Some(v) = std::str::from_utf8(data)
        .ok()
        .and_then(|t| json::parse(t).ok())
    {
        from_text(&v);
    } else {
        let _ = from_bytes(&mut Unstructured::new(data));
    }
});
