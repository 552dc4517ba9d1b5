//! Telemetry batching (`core::telemetry::TelemetryBuffer`) under arbitrary operations.
//!
//! Invariants: every body is JSON (read by serde_json) of the documented shape, `sessionId`
//! first and absent tags omitted (never `null`), with at most `MAX_ITEMS_PER_REQUEST` stats
//! and diagnostics; one `take_bodies` never hands out more than `MAX_BUFFERED` items of a kind;
//! a final body fits its byte limit and empties the buffer; items come out in the order
//! they went in, and every item pushed is sent, dropped (counted) or still buffered.
#![no_main]
// libfuzzer: -max_len=1024

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::json::{self, Json, Obj, NATIVE};
use realtime_video_sdk::core::telemetry::{
    Tags, TelemetryBuffer, MAX_BUFFERED, MAX_ITEMS_PER_REQUEST,
};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Arbitrary, Debug)]
enum Op {
    Stats { repeat: u8, payload: String },
    Diagnostic { repeat: u8, payload: String },
    Take,
    TakeFinal { max_bytes: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    session_id: String,
    model: Option<String>,
    integration: Option<String>,
    ivs: Option<bool>,
    timestamp: f64,
    ops: Vec<Op>,
}

/// A body as serde_json reads it (the items' payloads skipped: bodies of 1200 items are
/// common and this is the hot path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    session_id: String,
    timestamp: Option<f64>,
    sdk_version: String,
    #[serde(default)]
    model: Option<String>,
    tags: Map<String, Value>,
    stats: Vec<Item>,
    diagnostics: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    i: u64,
}

/// The serial numbers of the stats and the diagnostics of a body, checked to be JSON of
/// the documented shape: `sessionId` first, the tags (absent values omitted, never
/// `null`), at most `MAX_ITEMS_PER_REQUEST` items of each kind.
fn parse(body: &str, tags: &Tags, timestamp: f64) -> [Vec<u64>; 2] {
    let b: Body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let id = json::write(&Json::from(tags.session_id.as_str()));
    assert!(
        body.starts_with(&format!("{{\"sessionId\":{id},")),
        "{body}"
    );
    assert_eq!(b.session_id, tags.session_id);
    assert_eq!(b.sdk_version, tags.sdk_version);
    assert_eq!(b.model, tags.model);
    assert_eq!(b.timestamp, timestamp.is_finite().then_some(timestamp));
    // A quote outside a string is never escaped, one inside always is: no `null` member.
    assert!(!body.contains("\"model\":null"), "{body}");
    let want: Map<String, Value> = [
        ("session_id", Some(tags.session_id.as_str())),
        ("sdk_version", Some(tags.sdk_version.as_str())),
        ("model", tags.model.as_deref()),
        ("integration", tags.integration.as_deref()),
        ("transport", tags.transport),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), Value::from(v?))))
    .collect();
    assert_eq!(b.tags, want, "{body}");
    let serials = |items: Vec<Item>| -> Vec<u64> {
        assert!(
            items.len() <= MAX_ITEMS_PER_REQUEST,
            "{} items",
            items.len()
        );
        items.into_iter().map(|item| item.i).collect()
    };
    [serials(b.stats), serials(b.diagnostics)]
}

/// Items one push operation adds: a few, or (rarely) enough to overflow `MAX_BUFFERED`.
fn count(repeat: u8) -> usize {
    match repeat {
        255 => MAX_BUFFERED + 100,
        r => usize::from(r % 8),
    }
}

/// The item with serial `i`: small when many are pushed at once, to keep runs fast.
fn item(i: u64, repeat: u8, payload: &str) -> Json {
    let item = Obj::new().set("i", i);
    if repeat == 255 {
        item.build()
    } else {
        item.set("p", payload).build()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let tags = Tags {
        session_id: input.session_id,
        sdk_version: "0.1.0".into(),
        model: input.model,
        integration: input.integration,
        transport: input.ivs.map(|ivs| if ivs { "ivs" } else { "webrtc" }),
    };
    let ts = input.timestamp;
    let mut b = TelemetryBuffer::default();
    let (mut pushed, mut sent) = ([0u64; 2], [0u64; 2]);
    // Highest serial seen per kind: serials only grow.
    let mut last: [Option<u64>; 2] = [None, None];
    let seen = |v: &[Vec<u64>; 2], last: &mut [Option<u64>; 2], sent: &mut [u64; 2]| {
        for (k, serials) in v.iter().enumerate() {
            for &s in serials {
                assert!(last[k].is_none_or(|l| s > l), "kind {k} out of order");
                last[k] = Some(s);
                sent[k] += 1;
            }
        }
    };
    // A bounded number of operations keeps one run fast; a single push can overflow.
    for op in input.ops.into_iter().take(32) {
        match op {
            Op::Stats { payload, .. } | Op::Diagnostic { payload, .. } if payload.len() > 64 => {}
            Op::Stats { repeat, payload } => {
                for _ in 0..count(repeat) {
                    b.push_stats(item(pushed[0], repeat, &payload));
                    pushed[0] += 1;
                }
            }
            Op::Diagnostic { repeat, payload } => {
                for _ in 0..count(repeat) {
                    b.push_diagnostic(item(pushed[1], repeat, &payload));
                    pushed[1] += 1;
                }
            }
            Op::Take => {
                let (mut n_stats, mut n_diag) = (0, 0);
                for body in b.take_bodies(&tags, ts, NATIVE) {
                    let v = parse(&body, &tags, ts);
                    n_stats += v[0].len();
                    n_diag += v[1].len();
                    seen(&v, &mut last, &mut sent);
                }
                assert!(n_stats <= MAX_BUFFERED && n_diag <= MAX_BUFFERED);
                assert!(b.is_empty());
            }
            Op::TakeFinal { max_bytes } => {
                let max = usize::from(max_bytes);
                let was_empty = b.is_empty();
                if let Some(body) = b.take_final_body(&tags, ts, max, NATIVE) {
                    assert!(body.len() <= max, "{} > {max}", body.len());
                    seen(&parse(&body, &tags, ts), &mut last, &mut sent);
                }
                assert!(b.is_empty() || was_empty);
            }
        }
        if b.is_empty() {
            assert_eq!(
                pushed[0] + pushed[1],
                sent[0] + sent[1] + b.dropped(),
                "every item is sent or dropped"
            );
        }
    }
    for body in b.take_bodies(&tags, ts, NATIVE) {
        seen(&parse(&body, &tags, ts), &mut last, &mut sent);
    }
    assert_eq!(pushed[0] + pushed[1], sent[0] + sent[1] + b.dropped());
});
