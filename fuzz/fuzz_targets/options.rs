//! Option objects (`core::options`): `createDecartClient`, `connect` and `subscribe`.
//!
//! Input: arbitrary `Json` values shaped like option objects (the keys of `CONNECT_OPTIONS`,
//! the client keys and their nested keys most of the time, any key now and then; values of
//! every kind, `Opaque` included, with the numbers, strings and URLs at the edges of what is
//! accepted).
//!
//! Invariants: checking never panics and gives `Ok` or an error of the `INVALID_OPTIONS`
//! family: `INVALID_OPTIONS` naming an option the input gives (or a required one it lacks,
//! as `prefix.key` with every prefix present; `options` for a value that is not an
//! object), `INVALID_API_KEY` only without a non-empty string `apiKey`, `INVALID_BASE_URL`
//! ("Invalid base URL: ...") only from the client options, `MODEL_NOT_FOUND` only for a
//! `model` name, `INVALID_TOKEN` only without a non-empty string `token`. What is accepted
//! holds the documented bounds: the key as given, a secure (or loopback, or allowed) base
//! URL, a telemetry URL `check_secure_url` accepts, intervals, retries and delays in range,
//! no reserved query parameter. An unknown key, and `Opaque` for a JS-only key, change
//! nothing.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::error::{ErrorCode, SdkError};
use realtime_video_sdk::core::json::Json;
use realtime_video_sdk::core::options::{
    client_options, connect_options, js_only_keys, subscribe_options, CommonOptions, JitterBuffer,
    CONNECT_OPTIONS, JITTER_BUFFER_PRESETS, MIN_STATS_INTERVAL_MS, RESERVED_QUERY_PARAMS,
};
use realtime_video_sdk::core::urls::check_secure_url;

const CLIENT_KEYS: [&str; 7] = [
    "apiKey",
    "baseUrl",
    "proxy",
    "realtimeBaseUrl",
    "allowInsecure",
    "integration",
    "telemetry",
];

const NESTED_KEYS: [&str; 21] = [
    "name",
    "urlPath",
    "fps",
    "width",
    "height",
    "prompt",
    "text",
    "enhance",
    "composite",
    "pixelMarker",
    "readFromRemoteStream",
    "probeIntervalMs",
    "videoElement",
    "enabled",
    "url",
    "intervalMs",
    "urls",
    "username",
    "credential",
    "api_key",
    "model",
];

const STRINGS: [&str; 26] = [
    "",
    "k",
    "mirage",
    "lucy_2_rt",
    "nope",
    "webrtc",
    "ivs",
    "udp",
    "tcp",
    "all",
    "relay",
    "low",
    "default",
    "/v1/stream",
    "/v1/stream?x",
    "/ivs.js",
    "https://t.example.com/v1/telemetry",
    "https://t.example.com/t?a=1#f",
    "http://127.0.0.1:9/t",
    "http://[::1]/t",
    "http://app.localhost/t",
    "http://t.example.com/t",
    "ws://localhost:8080",
    "wss://rt.example.com",
    "ftp://x",
    "javascript:alert(1)",
];

const NUMBERS: [f64; 22] = [
    0.0,
    -0.0,
    -1.0,
    0.5,
    1.0,
    1.5,
    5.0,
    20.0,
    21.0,
    499.0,
    500.0,
    1000.0,
    10_000.0,
    10_001.0,
    16_384.0,
    3_600_000.0,
    3_600_001.0,
    1e6,
    9e15,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

fn top_keys() -> impl Iterator<Item = &'static str> {
    CONNECT_OPTIONS.iter().map(|k| k.name).chain(CLIENT_KEYS)
}

fn key(u: &mut Unstructured<'_>, top: bool) -> Result<String> {
    Ok(match u.int_in_range(0..=9)? {
        0 => String::arbitrary(u)?,
        1..=5 if top => u.choose(&top_keys().collect::<Vec<_>>())?.to_string(),
        _ if top => u.choose(&CLIENT_KEYS)?.to_string(),
        1..=2 => u.choose(&top_keys().collect::<Vec<_>>())?.to_string(),
        _ => u.choose(&NESTED_KEYS)?.to_string(),
    })
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Json> {
    let kinds = if depth == 0 { 7 } else { 9 };
    Ok(match u.int_in_range(0..=kinds)? {
        0 => Json::Null,
        1 => Json::Opaque,
        2 => Json::Bool(bool::arbitrary(u)?),
        3 => Json::Num(*u.choose(&NUMBERS)?),
        4 => Json::Num(f64::arbitrary(u)?),
        5 | 6 => Json::from(*u.choose(&STRINGS)?),
        7 => Json::Str(String::arbitrary(u)?),
        8 => Json::Arr(realtime_video_sdk_fuzz::items(u, |u| value(u, depth - 1))?),
        _ => object(u, depth - 1, false)?,
    })
}

fn object(u: &mut Unstructured<'_>, depth: u32, top: bool) -> Result<Json> {
    Ok(Json::Obj(realtime_video_sdk_fuzz::items(u, |u| {
        Ok((key(u, top)?, value(u, depth)?))
    })?))
}

/// Does `name` (`a.b.c`) name a place in `v`: every prefix given, the last key given or not?
fn names_a_place(v: &Json, name: &str) -> bool {
    let members = v.as_object().unwrap_or_default();
    members.iter().any(|(k, inner)| {
        name == k
            || name
                .strip_prefix(k.as_str())
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|rest| match inner {
                    Json::Obj(_) => names_a_place(inner, rest),
                    _ => !rest.contains('.'),
                })
    }) || !name.contains('.')
}

fn check_error(e: &SdkError, v: &Json, client: bool, ask: &str) {
    assert!(!e.message.is_empty());
    let given = |k: &str| {
        v.get(k)
            .and_then(Json::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    match e.code {
        ErrorCode::InvalidOptions => {
            let name = e
                .message
                .strip_prefix("invalid option `")
                .and_then(|m| m.rfind("`: expected ").map(|end| &m[..end]))
                .unwrap_or_else(|| panic!("{ask}: {}", e.message));
            if name == "options" {
                assert!(
                    !matches!(v, Json::Obj(_)),
                    "{ask}: an object refused as a whole"
                );
                return;
            }
            let first = name.split('.').next().unwrap_or_default();
            assert!(top_keys().any(|k| k == first), "{ask}: names {name}");
            assert!(names_a_place(v, name), "{ask}: names {name}, not in {v:?}");
        }
        ErrorCode::InvalidApiKey => assert!(client && !given("apiKey"), "{ask}: {}", e.message),
        ErrorCode::InvalidBaseUrl => {
            assert!(
                client && e.message.starts_with("Invalid base URL: "),
                "{ask}: {}",
                e.message
            );
        }
        ErrorCode::ModelNotFound => {
            assert!(!client && v.str("model").is_some(), "{ask}: {}", e.message);
        }
        ErrorCode::InvalidToken => assert!(!client && !given("token"), "{ask}: {}", e.message),
        other => panic!("{ask}: {other:?}: {}", e.message),
    }
}

fn check_common(c: &CommonOptions) {
    assert!((MIN_STATS_INTERVAL_MS..=3_600_000.0).contains(&c.stats_interval_ms));
    assert!(c.max_retries <= 20);
    match &c.jitter_buffer {
        JitterBuffer::Ms(ms) => assert!((0.0..=10_000.0).contains(ms)),
        JitterBuffer::Preset(p) => assert!(JITTER_BUFFER_PRESETS.contains(&p.as_str())),
    }
    let url = &c.ivs_sdk_url;
    assert!(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'));
}

fn check(v: &Json) {
    let client = client_options(v);
    match &client {
        Ok(o) => {
            assert_eq!(Some(o.api_key.as_str()), v.str("apiKey"));
            assert!(!o.api_key.is_empty());
            assert!(
                o.base_url.is_secure()
                    || o.base_url.is_loopback()
                    || v.bool("allowInsecure") == Some(true),
                "{v:?}"
            );
            assert_eq!(o.integration.as_deref(), v.str("integration"));
            if let Some(t) = &o.telemetry {
                assert_eq!(check_secure_url(&t.url, "telemetry.url"), Ok(()), "{v:?}");
                assert!((1000.0..=3_600_000.0).contains(&t.interval_ms));
            }
        }
        Err(e) => check_error(e, v, true, "client"),
    }
    let connect = connect_options(v);
    match &connect {
        Ok(o) => {
            check_common(&o.common);
            for (k, _) in &o.extra_query_params {
                assert!(!RESERVED_QUERY_PARAMS.contains(&k.as_str()), "{k}");
            }
            if let Some(l) = &o.latency {
                assert!((0.0..=3_600_000.0).contains(&l.probe_interval_ms));
            }
            if let Some(p) = &o.initial_prompt {
                assert!(!p.text.is_empty());
            }
            let m = &o.model;
            assert!(m.fps >= 1 && m.width >= 1 && m.height >= 1 && m.url_path.starts_with('/'));
        }
        Err(e) => check_error(e, v, false, "connect"),
    }
    let subscribe = subscribe_options(v);
    match &subscribe {
        Ok(o) => {
            assert_eq!(Some(o.token.as_str()), v.str("token"));
            assert!(!o.token.is_empty());
            check_common(&o.common);
        }
        Err(e) => check_error(e, v, false, "subscribe"),
    }
    // An unknown key, and `Opaque` for every JS-only key, change nothing.
    if let Json::Obj(members) = v {
        let mut more = members.clone();
        more.push(("surelyNotAnOption".into(), Json::Opaque));
        for k in js_only_keys() {
            more.push((k.to_string(), Json::Opaque));
        }
        let more = Json::Obj(more);
        // Compared as text: `iceServers` is kept as given, and NaN != NaN.
        let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{v:?}");
        };
        same(&client_options(&more), &client);
        same(&connect_options(&more), &connect);
        same(&subscribe_options(&more), &subscribe);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let v = if u.ratio(1, 16).unwrap_or(false) {
        value(&mut u, 3)
    } else {
        object(&mut u, 3, true)
    };
    if let Ok(v) = v {
        check(&v);
    }
});
