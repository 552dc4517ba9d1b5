//! Telemetry batching (`core::telemetry::TelemetryBuffer`) under arbitrary operations.
//!
//! Invariants: every body is JSON with at most `MAX_ITEMS_PER_REQUEST` stats and
//! diagnostics; one `take_bodies` never hands out more than `MAX_BUFFERED` items of a kind;
//! a final body fits its byte limit and empties the buffer; items come out in the order
//! they went in, and every item pushed is sent, dropped (counted) or still buffered.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::telemetry::{
    Tags, TelemetryBuffer, MAX_BUFFERED, MAX_ITEMS_PER_REQUEST,
};
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

/// The serial numbers of the items of one kind in a body.
fn serials(body: &Value, kind: &str) -> Vec<u64> {
    let items = body[kind].as_array().expect("an array of items");
    assert!(
        items.len() <= MAX_ITEMS_PER_REQUEST,
        "{} {kind}",
        items.len()
    );
    items
        .iter()
        .map(|v| v["i"].as_u64().expect("a serial"))
        .collect()
}

fn parse(body: &str, tags: &Tags) -> Value {
    let v: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(v["sessionId"], json!(tags.session_id));
    v
}

/// Items one push operation adds: a few, or (rarely) enough to overflow `MAX_BUFFERED`.
fn count(repeat: u8) -> usize {
    match repeat {
        255 => MAX_BUFFERED + 100,
        r => usize::from(r % 8),
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
    let seen = |v: &Value, last: &mut [Option<u64>; 2], sent: &mut [u64; 2]| {
        for (k, kind) in ["stats", "diagnostics"].iter().enumerate() {
            for s in serials(v, kind) {
                assert!(last[k].is_none_or(|l| s > l), "{kind} out of order");
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
                    b.push_stats(json!({"i": pushed[0], "p": payload}));
                    pushed[0] += 1;
                }
            }
            Op::Diagnostic { repeat, payload } => {
                for _ in 0..count(repeat) {
                    b.push_diagnostic(json!({"i": pushed[1], "p": payload}));
                    pushed[1] += 1;
                }
            }
            Op::Take => {
                let (mut n_stats, mut n_diag) = (0, 0);
                for body in b.take_bodies(&tags, input.timestamp) {
                    let v = parse(&body, &tags);
                    n_stats += serials(&v, "stats").len();
                    n_diag += serials(&v, "diagnostics").len();
                    seen(&v, &mut last, &mut sent);
                }
                assert!(n_stats <= MAX_BUFFERED && n_diag <= MAX_BUFFERED);
                assert!(b.is_empty());
            }
            Op::TakeFinal { max_bytes } => {
                let max = usize::from(max_bytes);
                let was_empty = b.is_empty();
                match b.take_final_body(&tags, input.timestamp, max) {
                    Some(body) => {
                        assert!(body.len() <= max, "{} > {max}", body.len());
                        seen(&parse(&body, &tags), &mut last, &mut sent);
                    }
                    None => {}
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
