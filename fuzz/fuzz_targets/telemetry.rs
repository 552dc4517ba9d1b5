//! Telemetry batching (`core::telemetry::TelemetryBuffer`) under arbitrary operations.
//!
//! Invariants: every body is JSON with at most `MAX_ITEMS_PER_REQUEST` stats and
//! diagnostics; one `take_bodies` never hands out more than `MAX_BUFFERED` items of a kind;
//! a final body fits its byte limit and empties the buffer; items come out in the order
//! they went in, and every item pushed is sent, dropped (counted) or still buffered.
#![no_main]
// libfuzzer: -max_len=1024

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::telemetry::{
    Tags, TelemetryBuffer, MAX_BUFFERED, MAX_ITEMS_PER_REQUEST,
};
use serde::de::IgnoredAny;
use serde_json::{json, Value};

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
    integration: Option<String>,
    timestamp: f64,
    ops: Vec<Op>,
}

/// The serial numbers of the stats and the diagnostics of a body, checked to be JSON with
/// the session id first and at most `MAX_ITEMS_PER_REQUEST` items of each kind. (Read with
/// a scan rather than into a `Value`: bodies of 1200 items are common and this is the hot
/// path; `{"i":` cannot occur inside a JSON string, whose quotes are escaped.)
fn parse(body: &str, tags: &Tags) -> [Vec<u64>; 2] {
    assert!(
        serde_json::from_str::<IgnoredAny>(body).is_ok(),
        "not JSON: {body}"
    );
    let id = serde_json::to_string(&tags.session_id).expect("a string serialises");
    assert!(
        body.starts_with(&format!("{{\"sessionId\":{id},")),
        "{body}"
    );
    let (_, items) = body.split_once("\"stats\":[").expect("a stats array");
    let (stats, diagnostics) = items
        .split_once("],\"diagnostics\":[")
        .expect("diagnostics");
    let serials = |s: &str| -> Vec<u64> {
        let found: Vec<u64> = s
            .split("{\"i\":")
            .skip(1)
            .map(|rest| {
                let digits = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("");
                digits.parse().expect("a serial")
            })
            .collect();
        assert!(
            found.len() <= MAX_ITEMS_PER_REQUEST,
            "{} items",
            found.len()
        );
        found
    };
    [serials(stats), serials(diagnostics)]
}

/// Items one push operation adds: a few, or (rarely) enough to overflow `MAX_BUFFERED`.
fn count(repeat: u8) -> usize {
    match repeat {
        255 => MAX_BUFFERED + 100,
        r => usize::from(r % 8),
    }
}

/// The item with serial `i`: small when many are pushed at once, to keep runs fast.
fn item(i: u64, repeat: u8, payload: &str) -> Value {
    if repeat == 255 {
        json!({ "i": i })
    } else {
        json!({ "i": i, "p": payload })
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let tags = Tags {
        session_id: input.session_id,
        sdk_version: "0.1.0".into(),
        model: "mirage".into(),
        integration: input.integration,
        transport: "webrtc".into(),
    };
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
                for body in b.take_bodies(&tags, input.timestamp) {
                    let v = parse(&body, &tags);
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
                if let Some(body) = b.take_final_body(&tags, input.timestamp, max) {
                    assert!(body.len() <= max, "{} > {max}", body.len());
                    seen(&parse(&body, &tags), &mut last, &mut sent);
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
    for body in b.take_bodies(&tags, input.timestamp) {
        seen(&parse(&body, &tags), &mut last, &mut sent);
    }
    assert_eq!(pushed[0] + pushed[1], sent[0] + sent[1] + b.dropped());
});
