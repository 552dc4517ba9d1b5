//! JSON text (`core::json`): the core's parser and writer against serde_json.
//!
//! Invariants, for arbitrary text: parsing never panics and a refusal points inside the
//! text; nesting never exceeds `MAX_DEPTH`; the core and serde_json accept the same texts
//! and read the same data (compared with `canonical`: one member per key, the last, as both
//! serde_json and `JSON.parse` keep it), within the documented differences:
//! - a number beyond the `f64` range reads as ±infinity, as `JSON.parse` reads it;
//!   serde_json refuses it ("number out of range");
//! - the core takes `MAX_DEPTH` (128) arrays and objects inside each other, serde_json 127
//!   ("recursion limit exceeded").
//!
//! For every value the core reads or is given (any `Json`, `Opaque`, NaN and infinities
//! included): `write` gives text both parsers accept, the core reading back the same value
//! (bit-exact numbers, members in order) once numbers JSON cannot carry and `Opaque` are
//! `null`, serde_json the same data; and writing is a fixed point
//! (`write(parse(write(v))) == write(v)`). Values nested around `MAX_DEPTH` levels are
//! written and read back exactly when within it.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::json::{parse, write, Json, MAX_DEPTH};
use realtime_video_sdk_fuzz::{arbitrary_json, canonical, from_serde, non_finite};

/// How many arrays and objects are nested inside each other at the deepest point.
fn depth(v: &Json) -> usize {
    match v {
        Json::Arr(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Obj(members) => 1 + members.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// What `write` makes of a value: numbers JSON cannot carry and `Opaque` become `null`.
fn as_written(v: &Json) -> Json {
    match v {
        Json::Opaque => Json::Null,
        Json::Num(n) if !n.is_finite() => Json::Null,
        Json::Arr(items) => Json::Arr(items.iter().map(as_written).collect()),
        Json::Obj(members) => Json::Obj(
            members
                .iter()
                .map(|(k, v)| (k.clone(), as_written(v)))
                .collect(),
        ),
        v => v.clone(),
    }
}

fn serde_read(text: &str) -> Result<Json, serde_json::Error> {
    serde_json::from_str::<serde_json::Value>(text).map(|v| from_serde(&v))
}

/// Writes `v` and reads it back with both parsers.
fn check_written(v: &Json) {
    let text = write(v);
    let want = as_written(v);
    let back = parse(&text).unwrap_or_else(|e| panic!("{text:?} written, refused: {e}"));
    assert!(
        back == want && bits(&back) == bits(&want),
        "{text:?} read back as {back:?}, not {want:?}"
    );
    assert_eq!(write(&back), text, "writing is not a fixed point");
    if depth(v) < MAX_DEPTH {
        let theirs =
            serde_read(&text).unwrap_or_else(|e| panic!("{text:?} written, serde_json: {e}"));
        assert_eq!(
            theirs,
            canonical(v),
            "{text:?}: serde_json reads other data"
        );
    }
}

/// The numbers of a value bit for bit (`==` takes -0 for 0; the writer writes -0 as `0`,
/// like JavaScript, and every other number exactly).
fn bits(v: &Json) -> Vec<u64> {
    match v {
        Json::Num(n) if *n == 0.0 => vec![0],
        Json::Num(n) => vec![n.to_bits()],
        Json::Arr(items) => items.iter().flat_map(bits).collect(),
        Json::Obj(members) => members.iter().flat_map(|(_, v)| bits(v)).collect(),
        _ => Vec::new(),
    }
}

fn check_text(text: &str) {
    match (parse(text), serde_read(text)) {
        (Ok(ours), Ok(theirs)) => {
            assert!(depth(&ours) <= MAX_DEPTH);
            assert_eq!(canonical(&ours), theirs, "{text:?} read differently");
            check_written(&ours);
        }
        (Ok(ours), Err(e)) => {
            let why = e.to_string();
            let documented = (non_finite(&ours).is_some()
                && why.starts_with("number out of range"))
                || (depth(&ours) >= 128 && why.starts_with("recursion limit exceeded"));
            assert!(documented, "{text:?} accepted, serde_json: {why}");
            assert!(depth(&ours) <= MAX_DEPTH);
            check_written(&ours);
        }
        (Err(e), Ok(theirs)) => panic!("{text:?} refused ({e}), serde_json reads {theirs:?}"),
        (Err(e), Err(_)) => assert!(e.offset <= text.len(), "{e} in {} bytes", text.len()),
    }
}

/// `v` inside `n` arrays or objects.
fn nested(mut v: Json, n: usize, object: bool) -> Json {
    for _ in 0..n {
        v = if object {
            Json::Obj(vec![(String::new(), v)])
        } else {
            Json::Arr(vec![v])
        };
    }
    v
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
    let mut u = Unstructured::new(data);
    let (Ok(v), Ok(extra), Ok(object)) = (
        arbitrary_json(&mut u, 4),
        u.int_in_range(0..=140usize),
        u.arbitrary::<bool>(),
    ) else {
        return;
    };
    check_written(&v);
    // Around the nesting limit.
    let deep = nested(v, extra, object);
    let text = write(&deep);
    match parse(&text) {
        Ok(back) => {
            assert!(
                depth(&deep) <= MAX_DEPTH,
                "{} levels accepted",
                depth(&deep)
            );
            assert_eq!(back, as_written(&deep));
        }
        Err(_) => assert!(depth(&deep) > MAX_DEPTH, "{} levels refused", depth(&deep)),
    }
});
