//! Opt-in telemetry against the reference server's telemetry sink, in headless Chromium:
//! batches reach `POST /v1/telemetry` with the protocol's tags, periodically and in the
//! final `keepalive` flush on disconnect, and the API key is only ever in the header.
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const KEY: &str = "telemetry-secret-key-4411";

fn factory_with(telemetry: &str) -> JsValue {
    let o = obj(&format!(
        r#"{{"apiKey": "{KEY}", "integration": "tests/1.0", "telemetry": {telemetry}}}"#
    ));
    set(&o, "realtimeBaseUrl", base_url());
    realtime_video_sdk::web_api::create_realtime_client(o).expect("factory")
}

/// The batches the server received for `sid`, and their raw JSON text.
async fn received(sid: &str) -> (Vec<JsValue>, String) {
    let headers = web_sys::Headers::new().unwrap();
    headers.set("x-api-key", KEY).unwrap();
    let init = web_sys::RequestInit::new();
    init.set_headers(&headers);
    let url = format!("{}/v1/telemetry/{sid}", http_base());
    let resp: web_sys::Response = JsFuture::from(
        web_sys::window()
            .unwrap()
            .fetch_with_str_and_init(&url, &init),
    )
    .await
    .unwrap()
    .unchecked_into();
    assert_eq!(resp.status(), 200);
    let text = JsFuture::from(resp.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    let list = js_sys::JSON::parse(&text).unwrap();
    (js_sys::Array::from(&list).iter().collect(), text)
}

async fn connect(
    factory: &JsValue,
    transport: &str,
) -> (JsValue, web_sys::MediaStream, Closure<dyn FnMut(JsValue)>) {
    let camera = fake_camera(false).await;
    let o = obj(&format!(
        r#"{{"model": "mirage", "transport": "{transport}", "ivsSdkUrl": "{}/ivs-emulator.js"}}"#,
        http_base()
    ));
    let remote = RemoteStream::default();
    let cb = remote.callback();
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let client = await_promise(call(factory, "connect", &[camera.clone().into(), o]))
        .await
        .expect("connect");
    (client, camera, cb)
}

fn check_batch(b: &JsValue, sid: &str, transport: &str) {
    assert_eq!(get(b, "sessionId").as_string().as_deref(), Some(sid));
    let tags = get(b, "tags");
    assert_eq!(get(&tags, "session_id").as_string().as_deref(), Some(sid));
    assert_eq!(
        get(&tags, "transport").as_string().as_deref(),
        Some(transport)
    );
    assert_eq!(get(&tags, "model").as_string().as_deref(), Some("mirage"));
    assert_eq!(
        get(&tags, "integration").as_string().as_deref(),
        Some("tests/1.0")
    );
    assert!(get(&tags, "sdk_version")
        .as_string()
        .is_some_and(|v| !v.is_empty()));
    let stats = js_sys::Array::from(&get(b, "stats"));
    assert!(stats.length() <= 120, "at most 120 items per request");
    for s in stats.iter() {
        // Reference fields only: this SDK's extras (`interval`, `unavailable`) stay local.
        let video = get(&s, "video");
        if video.is_object() {
            assert!(get(&video, "framesPerSecond").as_f64().is_some());
            assert!(get(&video, "interval").is_undefined(), "{video:?}");
        }
    }
    for d in js_sys::Array::from(&get(b, "diagnostics")).iter() {
        assert!(get(&d, "name").as_string().is_some(), "{d:?}");
        assert!(get(&d, "timestamp").as_f64().is_some_and(|t| t > 1.6e12));
        assert!(
            get(&d, "kind").is_undefined(),
            "items are {{name, data, timestamp}}"
        );
    }
}

#[wasm_bindgen_test]
async fn periodic_batches_carry_stats_and_tags() {
    let f = factory_with(r#"{"intervalMs": 1000}"#);
    let (client, camera, _cb) = connect(&f, "webrtc").await;
    let sid = get(&client, "sessionId").as_string().expect("sessionId");
    let mut got = (Vec::new(), String::new());
    for _ in 0..60 {
        sleep(100).await;
        got = received(&sid).await;
        let stats: u32 = got
            .0
            .iter()
            .map(|b| js_sys::Array::from(&get(b, "stats")).length())
            .sum();
        if stats >= 2 {
            break;
        }
    }
    let (batches, text) = got;
    assert!(
        !batches.is_empty(),
        "no telemetry within 6 s with a 1 s interval"
    );
    for b in &batches {
        check_batch(b, &sid, "webrtc");
    }
    let stats: u32 = batches
        .iter()
        .map(|b| js_sys::Array::from(&get(b, "stats")).length())
        .sum();
    assert!(stats >= 2, "stats samples in telemetry: {stats}");
    let diagnostics: u32 = batches
        .iter()
        .map(|b| js_sys::Array::from(&get(b, "diagnostics")).length())
        .sum();
    assert!(
        diagnostics >= 1,
        "the connect's diagnostics (phase timings) are reported"
    );
    assert!(!text.contains(KEY), "the API key is in a telemetry body");
    call(&client, "disconnect", &[]);
    for t in camera.get_tracks().iter() {
        call(&t, "stop", &[]);
    }
}

#[wasm_bindgen_test]
async fn disconnect_sends_the_final_batch_over_ivs() {
    // The default interval (10 s) does not come round: only the final flush reports.
    let f = factory_with("true");
    let (client, camera, _cb) = connect(&f, "ivs").await;
    let sid = get(&client, "sessionId").as_string().expect("sessionId");
    sleep(3500).await;
    assert!(
        received(&sid).await.0.is_empty(),
        "nothing is sent before the interval"
    );
    call(&client, "disconnect", &[]);
    let mut batches = Vec::new();
    for _ in 0..30 {
        sleep(100).await;
        batches = received(&sid).await.0;
        if !batches.is_empty() {
            break;
        }
    }
    assert_eq!(batches.len(), 1, "one final keepalive batch");
    check_batch(&batches[0], &sid, "ivs");
    assert!(
        js_sys::Array::from(&get(&batches[0], "stats")).length() >= 2,
        "the stats of the last seconds"
    );
    for t in camera.get_tracks().iter() {
        call(&t, "stop", &[]);
    }
}
