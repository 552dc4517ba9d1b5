//! Helpers shared by the fuzz targets (`fuzz_targets/`).

use arbitrary::{Arbitrary, Result, Unstructured};
use realtime_video_sdk::core::json::{Json, TextCodec};
use realtime_video_sdk::core::protocol::{ClientMessage, MetricsReport, ServerMessage};
use serde_json::Value;

/// How far apart (in units in the last place) a number may read back from its JSON text.
///
/// 0: the core's parser reads numbers with `str::parse::<f64>` (exact) and writes them with
/// Rust's shortest round-trip formatting, so every finite `f64` reads back bit for bit (up
/// to the sign of zero, which JSON text written like JavaScript drops). The serde_json the
/// targets compare against is built with `float_roundtrip`, which makes it exact too.
/// (The earlier core parsed with serde_json's default, best-effort float parser: about 9 %
/// of ordinary `f64`s read back one unit off.)
pub const FLOAT_ULPS: u64 = 0;

// With `FLOAT_ULPS` at 0 the bound is exact equality; it stays a bound so that a best-effort
// number parser can be held to a stated tolerance again.
#[allow(clippy::absurd_extreme_comparisons)]
fn close(a: f64, b: f64) -> bool {
    let ulps = (a.to_bits() as i64)
        .wrapping_sub(b.to_bits() as i64)
        .unsigned_abs();
    a == b
        || (a.is_finite()
            && b.is_finite()
            && a.is_sign_negative() == b.is_sign_negative()
            && ulps <= FLOAT_ULPS)
}

fn metrics_floats(m: &mut MetricsReport) -> Vec<&mut f64> {
    [
        &mut m.frame_recv_ms,
        &mut m.pipeline_latency_ms,
        &mut m.input_fps,
        &mut m.output_fps,
        &mut m.video_in_depth,
        &mut m.video_out_depth,
        &mut m.skipped_in_frames,
        &mut m.skipped_out_frames,
        &mut m.event_loop_latency_ms,
        &mut m.rtt_ms,
        &mut m.jitter_ms,
        &mut m.inbound_loss_rate,
        &mut m.bitrate_kbps,
        &mut m.encoder_target_bitrate_kbps,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
    .collect()
}

/// Every number of a client message.
pub fn client_floats(m: &mut ClientMessage) -> Vec<&mut f64> {
    match m {
        ClientMessage::LatencyProbe { client_time, .. } => vec![client_time],
        ClientMessage::E2eLatencyReport {
            avg_latency_ms,
            delivery_rate,
            ..
        } => avg_latency_ms.iter_mut().chain([delivery_rate]).collect(),
        _ => Vec::new(),
    }
}

/// Every number of a server message.
pub fn server_floats(m: &mut ServerMessage) -> Vec<&mut f64> {
    match m {
        ServerMessage::GenerationTick { seconds }
        | ServerMessage::GenerationEnded { seconds, .. } => {
            vec![seconds]
        }
        ServerMessage::MetricsReport(r) => metrics_floats(r),
        _ => Vec::new(),
    }
}

/// Asserts `got == want`, numbers compared within [`FLOAT_ULPS`].
pub fn assert_same<T: PartialEq + std::fmt::Debug>(
    mut got: T,
    mut want: T,
    floats: impl Fn(&mut T) -> Vec<&mut f64>,
    context: &str,
) {
    let wanted: Vec<f64> = floats(&mut want).into_iter().map(|x| *x).collect();
    let mut got_floats = floats(&mut got);
    if got_floats.len() == wanted.len() {
        for (g, w) in got_floats.iter_mut().zip(&wanted) {
            assert!(close(**g, *w), "{g} read back for {w}: {context}");
            **g = *w;
        }
    }
    drop(got_floats);
    assert_eq!(got, want, "{context}");
}

/// serde_json's reading of a document as a core [`Json`] (numbers as `f64`, object members
/// as serde_json keeps them: one per key, the last one given).
pub fn from_serde(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => n.as_f64().map_or(Json::Null, Json::Num),
        Value::String(s) => Json::Str(s.clone()),
        Value::Array(items) => Json::Arr(items.iter().map(from_serde).collect()),
        Value::Object(members) => Json::Obj(
            members
                .iter()
                .map(|(k, v)| (k.clone(), from_serde(v)))
                .collect(),
        ),
    }
}

/// A core [`Json`] as a serde_json value, the way `JSON.stringify` sees it: numbers JSON
/// cannot carry and [`Json::Opaque`] as `null`, one member per key (the last one given).
pub fn to_serde(v: &Json) -> Value {
    match v {
        Json::Null | Json::Opaque => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Json::Str(s) => Value::String(s.clone()),
        Json::Arr(items) => Value::Array(items.iter().map(to_serde).collect()),
        Json::Obj(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), to_serde(v)))
                .collect(),
        ),
    }
}

/// The JSON data of a value, for comparing two readings of one document: object members
/// one per key (the last one given, as `JSON.parse` and serde_json keep them) sorted by
/// key; numbers JSON cannot carry and [`Json::Opaque`] as `null` (as `json::write` writes
/// them).
pub fn canonical(v: &Json) -> Json {
    from_serde(&to_serde(v))
}

fn serde_parse(text: &str) -> Option<Json> {
    serde_json::from_str::<Value>(text)
        .ok()
        .map(|v| from_serde(&v))
}

fn serde_write(v: &Json) -> String {
    // Writing a `Value` cannot fail (its keys are strings).
    serde_json::to_string(&to_serde(v)).unwrap_or_default()
}

/// A text codec independent of the core's: serde_json, standing in for the browser's
/// `JSON.parse` / `JSON.stringify` (which the wasm build passes as its codec).
pub const SERDE: TextCodec = TextCodec {
    parse: serde_parse,
    write: serde_write,
};

/// An arbitrary value with at most `depth` levels of arrays and objects below it: every
/// kind, [`Json::Opaque`] included, numbers from all of `f64` (NaN, infinities, -0,
/// subnormals) and strings of any characters.
pub fn arbitrary_json(u: &mut Unstructured<'_>, depth: u32) -> Result<Json> {
    let kinds = if depth == 0 { 5 } else { 7 };
    Ok(match u.int_in_range(0..=kinds)? {
        0 => Json::Null,
        1 => Json::Bool(bool::arbitrary(u)?),
        2 => Json::Num(f64::arbitrary(u)?),
        3 => Json::Num(f64::from(i32::arbitrary(u)?)),
        4 => Json::Str(String::arbitrary(u)?),
        5 => Json::Opaque,
        6 => Json::Arr(items(u, |u| arbitrary_json(u, depth - 1))?),
        _ => Json::Obj(items(u, |u| {
            Ok((String::arbitrary(u)?, arbitrary_json(u, depth - 1)?))
        })?),
    })
}

/// True when an object in `v` gives a key twice (a documented difference: the core's
/// lookups take the first, serde_json and `JSON.parse` keep the last).
pub fn has_repeated_key(v: &Json) -> bool {
    match v {
        Json::Arr(items) => items.iter().any(has_repeated_key),
        Json::Obj(members) => {
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            keys.windows(2).any(|w| w[0] == w[1])
                || members.iter().any(|(_, v)| has_repeated_key(v))
        }
        _ => false,
    }
}

/// Up to 16 items made by `item`, as many as the input asks for.
pub fn items<T>(
    u: &mut Unstructured<'_>,
    mut item: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while out.len() < 16 && bool::arbitrary(u)? {
        out.push(item(u)?);
    }
    Ok(out)
}

/// The path of the first number in `v` that is not finite, if any (`$.a[2].b`).
pub fn non_finite(v: &Json) -> Option<String> {
    match v {
        Json::Num(n) if !n.is_finite() => Some("$".into()),
        Json::Arr(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| non_finite(item).map(|p| p.replacen('$', &format!("$[{i}]"), 1))),
        Json::Obj(members) => members
            .iter()
            .find_map(|(k, item)| non_finite(item).map(|p| p.replacen('$', &format!("$.{k}"), 1))),
        _ => None,
    }
}
