//! RealTimeClient over an IVS real-time stage, in headless Chromium with the fake camera,
//! against the reference server and its stage emulator (loaded the way a page loads the
//! IVS Web Broadcast SDK from a CDN: `ivsSdkUrl`, a classic script defining the global
//! `IVSBroadcastClient`).
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const EVENTS: &[&str] = &[
    "connectionChange",
    "error",
    "generationTick",
    "diagnostic",
    "stats",
    "serverMetrics",
];

fn emulator_url() -> String {
    format!("{}/ivs-emulator.js", http_base())
}

/// IVS connect options; `extra` is more JSON members (e.g. fault parameters).
fn options(extra: &str) -> (JsValue, RemoteStream, Closure<dyn FnMut(JsValue)>) {
    let sep = if extra.is_empty() { "" } else { ", " };
    let o = obj(&format!(
        r#"{{"model": "mirage", "transport": "ivs", "ivsSdkUrl": "{}"{sep}{extra}}}"#,
        emulator_url()
    ));
    let remote = RemoteStream::default();
    let cb = remote.callback();
    set(&o, "onRemoteStream", cb.as_ref().clone());
    (o, remote, cb)
}

async fn connect_with(extra: &str, audio: bool) -> Result<Session, JsValue> {
    let camera = fake_camera(audio).await;
    let (o, remote, on_remote) = options(extra);
    let client = await_promise(call(&factory("test-key"), "connect", &[camera.into(), o])).await?;
    let events = Recorder::default();
    let cbs = events.attach(&client, EVENTS);
    Ok(Session {
        client,
        events,
        remote,
        _cbs: cbs,
        _on_remote: on_remote,
    })
}

#[wasm_bindgen_test]
async fn ivs_camera_comes_back_with_audio_and_acks_work() {
    let t = Tracker::install();
    let mark = t.mark();
    let s = connect_with("", true).await.expect("connect over IVS");
    assert!(call(&s.client, "isConnected", &[]).as_bool().unwrap());
    let stream = s.remote.get().expect("onRemoteStream was called");
    assert!(stream.get_video_tracks().length() >= 1, "no remote video");
    // The input had audio: it was published (the server's participant echoes it back).
    assert!(
        stream.get_audio_tracks().length() >= 1,
        "no remote audio: the microphone track was not published"
    );
    let video = play(&stream);
    assert!(
        wait_until(10_000, || frames(&video) > 10).await,
        "remote frames did not advance: {}",
        frames(&video)
    );

    // The initial passthrough was acknowledged (connect resolved); a prompt is too.
    let r = await_promise(call(
        &s.client,
        "setPrompt",
        &["a watercolor cat".into(), obj(r#"{"enhance": false}"#)],
    ))
    .await;
    assert!(r.is_ok(), "prompt ack over IVS: {r:?}");

    let token = get(&s.client, "subscribeToken")
        .as_string()
        .expect("subscribeToken");
    let decoded =
        realtime_video_sdk::core::token::SubscribeToken::decode(&token).expect("token decodes");
    assert_eq!(decoded.transport.as_str(), "ivs");

    sleep(100).await;
    let states = s.events.states();
    assert_eq!(
        states.first().map(String::as_str),
        Some("connecting"),
        "{states:?}"
    );
    let stage_states: Vec<String> = s
        .events
        .diagnostics("stageConnectionStateChange")
        .iter()
        .filter_map(|d| get(d, "data").as_string())
        .collect();
    assert!(
        stage_states.iter().any(|x| x == "connected"),
        "{stage_states:?}"
    );

    call(&s.client, "disconnect", &[]);
    t.assert_nothing_left_open(mark).await;
    assert!(
        t.created(mark, "pc") >= 1,
        "the stage made no peer connection"
    );
}

#[wasm_bindgen_test]
async fn ivs_stats_are_reported() {
    let s = connect_with("", false).await.expect("connect");
    let ev = s.events.clone();
    let ok = wait_until(10_000, || {
        ev.of("stats").iter().any(|st| {
            let v = get(st, "video");
            let out = get(st, "outboundVideo");
            get(&v, "framesPerSecond").as_f64().unwrap_or(0.0) > 0.0
                && get(&out, "bitrate").as_f64().unwrap_or(0.0) > 0.0
        })
    })
    .await;
    assert!(
        ok,
        "no IVS stats with inbound fps and outbound bitrate ({} stats events)",
        ev.of("stats").len()
    );
    assert!(
        !s.events.of("serverMetrics").is_empty(),
        "no serverMetrics over IVS"
    );
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn ivs_viewer_receives_the_session_video() {
    let t = Tracker::install();
    let s = connect_with("", false).await.expect("connect");
    let token = get(&s.client, "subscribeToken").as_string().expect("token");
    let remote = RemoteStream::default();
    let cb = remote.callback();
    let o = obj(&format!(r#"{{"ivsSdkUrl": "{}"}}"#, emulator_url()));
    set(&o, "token", token);
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let mark = t.mark();
    let viewer = await_promise(call(&factory("viewer-key"), "subscribe", &[o]))
        .await
        .expect("IVS subscribe");
    let stream = remote.get().expect("viewer stream");
    let video = play(&stream);
    assert!(
        wait_until(10_000, || frames(&video) > 10).await,
        "IVS viewer frames: {}",
        frames(&video)
    );
    call(&viewer, "disconnect", &[]);
    t.assert_nothing_left_open(mark).await;
    call(&s.client, "disconnect", &[]);
}

/// A fault during setup: connect() rejects with `code` within `bound_ms`, leaving nothing open.
async fn setup_fault_rejects(fault: &str, code_expected: &str, bound_ms: f64) {
    let t = Tracker::install();
    let mark = t.mark();
    let start = now();
    let e = connect_with(
        &format!(r#""maxRetries": 0, "extraQueryParams": {{"fault_ivs": "{fault}"}}"#),
        false,
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("connect with fault {fault} must fail"));
    let took = now() - start;
    assert_eq!(detail(&e), code_expected, "{fault}: {}", why(&e));
    assert!(
        took < bound_ms,
        "{fault}: rejected after {took} ms, bound {bound_ms} ms"
    );
    t.assert_nothing_left_open(mark).await;
}

#[wasm_bindgen_test]
async fn ivs_no_stage_ready_rejects_in_time() {
    // The SDK waits 15 s for ivs_stage_ready.
    setup_fault_rejects("no_stage_ready", "WEBRTC_TIMEOUT_ERROR", 17_000.0).await;
}

#[wasm_bindgen_test]
async fn ivs_stage_disconnect_during_setup_rejects_promptly() {
    setup_fault_rejects("disconnect_during_setup", "IVS_STAGE_ERROR", 10_000.0).await;
}

#[wasm_bindgen_test]
async fn ivs_no_server_streams_rejects_in_time() {
    // Joining plus receiving the output is bounded by 30 s.
    setup_fault_rejects("no_server_streams", "WEBRTC_TIMEOUT_ERROR", 33_000.0).await;
}

#[wasm_bindgen_test]
async fn ivs_stage_error_mid_session_reconnects() {
    let s = connect_with(
        r#""extraQueryParams": {"fault_ivs": "stage_error_after_ms:2500"}"#,
        false,
    )
    .await
    .expect("connect");
    assert_reconnects(&s.events, 10_000, 20_000).await;
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn ivs_sdk_that_cannot_load_is_a_clear_error() {
    let url = format!("{}/no-such-sdk.js", http_base());
    let camera = fake_camera(false).await;
    let o = obj(&format!(
        r#"{{"model": "mirage", "transport": "ivs", "maxRetries": 0, "ivsSdkUrl": "{url}"}}"#
    ));
    let remote = RemoteStream::default();
    let cb = remote.callback();
    set(&o, "onRemoteStream", cb.as_ref().clone());
    // The global from another test of this page would be used first: hide it for this one.
    let global = js_sys::global();
    let saved = get(&global, "IVSBroadcastClient");
    // (A classic script's global is not deletable, but it is writable.)
    set(&global, "IVSBroadcastClient", JsValue::UNDEFINED);
    let r = await_promise(call(&factory("test-key"), "connect", &[camera.into(), o])).await;
    if !saved.is_undefined() {
        set(&global, "IVSBroadcastClient", saved);
    }
    let e = r.expect_err("must fail");
    assert_eq!(detail(&e), "IVS_LOAD_FAILED", "{}", why(&e));
    assert_eq!(code(&e), "WEBRTC_SIGNALING_ERROR");
    assert!(
        why(&e).contains(&url),
        "the error names the URL: {}",
        why(&e)
    );

    // A module object that is not the SDK is refused, naming the option.
    let camera = fake_camera(false).await;
    let o = obj(r#"{"model": "mirage", "transport": "ivs", "ivsModule": {"Stage": 1}}"#);
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let e = await_promise(call(&factory("test-key"), "connect", &[camera.into(), o]))
        .await
        .expect_err("must fail");
    assert!(message(&e).contains("`ivsModule`"), "{}", message(&e));
}
