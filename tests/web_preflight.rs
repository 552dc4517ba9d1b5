//! `realtime.checkConnectivity()` in headless Chromium against the reference server (and
//! the coturn the test command starts, whose credentials the server hands out): the shallow
//! check (ICE gathering, the service's round trip), the deep one (a short test session), an
//! unreachable service, cancellation, and that nothing stays open afterwards.
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use js_sys::Object;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn check_with(realtime: &JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    await_promise(call(realtime, "checkConnectivity", &[options])).await
}

fn metric(r: &JsValue, k: &str) -> JsValue {
    get(&get(r, "metrics"), k)
}

fn reasons(r: &JsValue) -> Vec<String> {
    js_sys::Array::from(&get(r, "reasons"))
        .iter()
        .filter_map(|s| s.as_string())
        .collect()
}

/// The check's verdict is "good", over UDP.
fn assert_good_over_udp(r: &JsValue) {
    assert_eq!(
        get(r, "quality").as_string().as_deref(),
        Some("good"),
        "{:?}",
        reasons(r)
    );
    assert_eq!(metric(r, "transport").as_string().as_deref(), Some("udp"));
}

#[wasm_bindgen_test]
async fn a_shallow_check_reaches_the_service_and_gathers_with_its_turn_server() {
    let t = Tracker::install();
    let mark = t.mark();
    let r = check_with(&factory("test-key"), JsValue::UNDEFINED)
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    assert_good_over_udp(&r);
    let rtt = metric(&r, "rttMs").as_f64().expect("rttMs");
    assert!((0.0..1000.0).contains(&rtt), "{rtt}");
    // The service's turn_config was used: relay candidates came, so nothing to say.
    assert!(reasons(&r).is_empty(), "{:?}", reasons(&r));
    for k in [
        "ttffMs",
        "g2gMs",
        "packetLoss",
        "upstreamJitterMs",
        "sampleCount",
    ] {
        assert!(metric(&r, k).is_undefined(), "{k} in a shallow result");
    }
    // One probe socket and one gathering peer connection, both closed.
    assert_eq!(t.created(mark, "ws"), 1);
    assert_eq!(t.created(mark, "pc"), 1);
    t.assert_nothing_left_open(mark).await;
}

#[wasm_bindgen_test]
async fn given_ice_servers_replace_the_services_and_an_unreachable_turn_is_reported() {
    // Nothing listens on port 9: no relay candidate can be gathered.
    let o = obj(
        r#"{"iceServers": [{"urls": "turn:127.0.0.1:9?transport=udp", "username": "u", "credential": "c"}],
            "iceGatherTimeoutMs": 3000}"#,
    );
    let r = check_with(&factory("test-key"), o)
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    assert_eq!(
        metric(&r, "transport").as_string().as_deref(),
        Some("udp"),
        "host candidates"
    );
    assert!(
        reasons(&r).iter().any(|x| x.contains("TURN unreachable")),
        "{:?}",
        reasons(&r)
    );
}

#[wasm_bindgen_test]
async fn an_unreachable_service_fails_in_bounded_time() {
    let t = Tracker::install();
    let mark = t.mark();
    let o = Object::new();
    set(&o, "realtimeBaseUrl", "ws://127.0.0.1:1");
    set(&o, "apiKey", "test-key");
    let client = realtime_video_sdk::web_api::create_decart_client(o.into()).expect("client");
    let started = now();
    let r = check_with(&get(&client, "realtime"), JsValue::UNDEFINED)
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    assert!(now() - started < 15_000.0, "took {} ms", now() - started);
    assert_eq!(
        metric(&r, "transport").as_string().as_deref(),
        Some("failed")
    );
    assert_eq!(get(&r, "quality").as_string().as_deref(), Some("critical"));
    assert!(metric(&r, "rttMs").is_null());
    assert_eq!(
        reasons(&r).first().map(String::as_str),
        Some("the service is unreachable"),
        "{:?}",
        reasons(&r)
    );
    t.assert_nothing_left_open(mark).await;
}

#[wasm_bindgen_test]
async fn a_refused_key_rejects_the_check() {
    let e = check_with(&factory("ek_never-minted"), JsValue::UNDEFINED)
        .await
        .expect_err("a key the service refuses");
    assert_eq!(code(&e), "WEBRTC_SERVER_ERROR", "{}", why(&e));
    assert_eq!(detail(&e), "UNAUTHORIZED");
}

#[wasm_bindgen_test]
async fn a_deep_check_measures_a_short_session() {
    let t = Tracker::install();
    let mark = t.mark();
    let r = check_with(
        &factory("test-key"),
        obj(r#"{"deep": true, "durationMs": 4000, "model": "lucy_2_rt"}"#),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", why(&e)));
    assert_good_over_udp(&r);
    let samples = metric(&r, "sampleCount").as_f64().expect("sampleCount");
    assert!(samples >= 3.0, "{samples} samples in 4 s");
    let ttff = metric(&r, "ttffMs").as_f64().expect("ttffMs");
    assert!(ttff > 0.0 && ttff < 15_000.0, "{ttff}");
    assert!(metric(&r, "packetLoss").as_f64().is_some_and(|l| l < 0.02));
    assert!(metric(&r, "rttMs").as_f64().is_some_and(|x| x < 100.0));
    assert!(
        metric(&r, "g2gMs").is_null(),
        "no latency probes in a preflight"
    );
    assert!(reasons(&r).is_empty(), "{:?}", reasons(&r));
    t.assert_nothing_left_open(mark).await;
}

#[wasm_bindgen_test]
async fn a_check_is_cancelled_by_its_signal() {
    let t = Tracker::install();
    let mark = t.mark();
    let controller = web_sys::AbortController::new().unwrap();
    let o = obj(r#"{"deep": true, "durationMs": 20000}"#);
    set(&o, "signal", controller.signal());
    let pending = call(&factory("test-key"), "checkConnectivity", &[o]);
    sleep(2500).await;
    controller.abort();
    let started = now();
    let e = await_promise(pending).await.expect_err("aborted");
    assert!(
        now() - started < 1000.0,
        "rejected {} ms after abort",
        now() - started
    );
    assert_eq!(code(&e), "ABORTED", "{}", why(&e));
    t.assert_nothing_left_open(mark).await;
    // A signal that has already fired rejects at once.
    let o = obj("{}");
    set(&o, "signal", controller.signal());
    let e = check_with(&factory("test-key"), o)
        .await
        .expect_err("aborted");
    assert_eq!(code(&e), "ABORTED");
}

#[wasm_bindgen_test]
async fn bad_options_name_the_option() {
    for (o, name) in [
        (r#"{"deep": 1}"#, "deep"),
        (r#"{"durationMs": 5}"#, "durationMs"),
        (r#"{"iceServers": "turn:x"}"#, "iceServers"),
        (r#"{"signal": 3}"#, "signal"),
    ] {
        let e = check_with(&factory("test-key"), obj(o)).await.expect_err(o);
        assert_eq!(code(&e), "INVALID_OPTIONS", "{o}");
        assert!(message(&e).contains(name), "{o}: {}", message(&e));
    }
}
