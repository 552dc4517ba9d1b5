//! RealTimeClient over WebRTC, in headless Chromium with the fake camera, against the
//! reference server started by the test command.
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

fn options(extra_query: &str) -> (JsValue, RemoteStream, Closure<dyn FnMut(JsValue)>) {
    let o = obj(&format!(
        r#"{{"model": "mirage", "extraQueryParams": {{{extra_query}}}}}"#
    ));
    let remote = RemoteStream::default();
    let cb = remote.callback();
    set(&o, "onRemoteStream", cb.as_ref().clone());
    (o, remote, cb)
}

async fn connect_with(extra_query: &str) -> Result<Session, JsValue> {
    let camera = fake_camera(true).await;
    let (o, remote, on_remote) = options(extra_query);
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
async fn camera_comes_back_and_frames_advance() {
    let s = connect_with("").await.expect("connect");
    assert!(call(&s.client, "isConnected", &[]).as_bool().unwrap());
    let stream = s.remote.get().expect("onRemoteStream was called");
    assert!(stream.get_video_tracks().length() >= 1);
    let video = play(&stream);
    assert!(
        wait_until(10_000, || frames(&video) > 10).await,
        "remote frames did not advance: {}",
        frames(&video)
    );
    let first = frames(&video);
    sleep(1000).await;
    assert!(frames(&video) > first, "frames stopped advancing");
    // Events raised while connecting are delivered after connect() resolved, in order.
    sleep(100).await;
    let states = s.events.states();
    assert_eq!(
        states.first().map(String::as_str),
        Some("connecting"),
        "{states:?}"
    );
    assert!(
        states
            .iter()
            .any(|st| st == "connected" || st == "generating"),
        "{states:?}"
    );
    assert!(!s.events.diagnostics("phaseTiming").is_empty());
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn session_id_and_decodable_subscribe_token() {
    let s = connect_with("").await.expect("connect");
    let sid = get(&s.client, "sessionId").as_string().expect("sessionId");
    let token = get(&s.client, "subscribeToken")
        .as_string()
        .expect("subscribeToken");
    let decoded =
        realtime_video_sdk::core::token::SubscribeToken::decode(&token).expect("token decodes");
    assert_eq!(decoded.sid, sid);
    assert_eq!(decoded.ip, "127.0.0.1");
    assert_eq!(decoded.transport.as_str(), "webrtc");
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn prompt_and_image_acks() {
    let s = connect_with("").await.expect("connect");
    let r = await_promise(call(
        &s.client,
        "setPrompt",
        &["a watercolor cat".into(), obj(r#"{"enhance": false}"#)],
    ))
    .await;
    assert!(r.is_ok(), "prompt ack: {r:?}");
    // 1x1 PNG as a data URL, then as a Blob-less base64 string.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let r = await_promise(call(
        &s.client,
        "setImage",
        &[
            format!("data:image/png;base64,{png}").into(),
            obj(r#"{"prompt": "ink"}"#),
        ],
    ))
    .await;
    assert!(r.is_ok(), "image ack: {r:?}");
    let r = await_promise(call(
        &s.client,
        "set",
        &[obj(r#"{"prompt": "oil painting"}"#)],
    ))
    .await;
    assert!(r.is_ok(), "set(): {r:?}");
    // Refused locally with the option named: an empty prompt, a non-image string.
    let e = await_promise(call(
        &s.client,
        "setPrompt",
        &["".into(), JsValue::UNDEFINED],
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&e), "INVALID_OPTIONS");
    assert!(message(&e).contains("`prompt`"));
    let e = await_promise(call(
        &s.client,
        "setImage",
        &["not an image!".into(), JsValue::UNDEFINED],
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&e), "IMAGE_ERROR", "{}", message(&e));
    // set() needs a prompt or an image; setImage(null) clears the image.
    let e = await_promise(call(&s.client, "set", &[obj("{}")]))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "INVALID_OPTIONS");
    let r = await_promise(call(&s.client, "setImage", &[JsValue::NULL])).await;
    assert!(r.is_ok(), "setImage(null): {r:?}");
    // Extra option keys of the reference (maxTimeout) are ignored.
    let r = await_promise(call(
        &s.client,
        "setPrompt",
        &[
            "pastel".into(),
            obj(r#"{"enhance": false, "maxTimeout": 1}"#),
        ],
    ))
    .await;
    assert!(r.is_ok(), "setPrompt with maxTimeout: {r:?}");
    call(&s.client, "disconnect", &[]);
    // After disconnect: a clear NOT_CONNECTED.
    let e = await_promise(call(
        &s.client,
        "setPrompt",
        &["x".into(), JsValue::UNDEFINED],
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&e), "NOT_CONNECTED");
}

#[wasm_bindgen_test]
async fn failed_ack_is_a_server_error() {
    // The server acknowledges with success:false: the initial passthrough set_image fails,
    // so connect() rejects with the server's reason.
    let e = connect_with(r#""fault_ack": "fail""#)
        .await
        .err()
        .expect("connect must fail");
    assert_eq!(code(&e), "WEBRTC_SERVER_ERROR", "{}", why(&e));
}

#[wasm_bindgen_test]
async fn invalid_options_name_the_option() {
    let camera = fake_camera(false).await;
    let f = factory("k");
    let e = await_promise(call(
        &f,
        "connect",
        &[camera.clone().into(), obj(r#"{"model": "nope"}"#)],
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&e), "MODEL_NOT_FOUND");
    assert_eq!(message(&e), "Model nope not found");
    for (json, name) in [
        (r#"{"model": 5}"#, "`model`"),
        (
            r#"{"model": "mirage", "transport": "smoke-signals"}"#,
            "`transport`",
        ),
        (
            r#"{"model": "mirage", "statsIntervalMs": 10}"#,
            "`statsIntervalMs`",
        ),
        (r#"{"model": "mirage"}"#, "`onRemoteStream`"),
    ] {
        let e = await_promise(call(&f, "connect", &[camera.clone().into(), obj(json)]))
            .await
            .unwrap_err();
        assert_eq!(code(&e), "INVALID_OPTIONS", "{json}");
        assert!(message(&e).contains(name), "{json}: {}", message(&e));
        assert_eq!(
            get(&e, "name").as_string().as_deref(),
            Some("RealtimeError")
        );
    }
    // Client options are checked synchronously, with the reference's codes.
    for (json, code_expected) in [
        (r#"{"apiKey": ""}"#, "INVALID_API_KEY"),
        (
            r#"{"realtimeBaseUrl": "nope", "apiKey": "k"}"#,
            "INVALID_BASE_URL",
        ),
        (
            r#"{"realtimeBaseUrl": "ws://realtime.example.com", "apiKey": "k"}"#,
            "INVALID_BASE_URL",
        ),
    ] {
        let e = realtime_video_sdk::web_api::create_decart_client(obj(json)).expect_err("refused");
        assert_eq!(code(&e), code_expected, "{json}");
    }
}

#[wasm_bindgen_test]
async fn refused_key_rejects_without_retries() {
    let t = now();
    let e = connect_with(r#""fault_refuse": "invalid api key""#)
        .await
        .err()
        .expect("refused");
    assert_eq!(code(&e), "WEBRTC_SERVER_ERROR", "{}", why(&e));
    assert_eq!(detail(&e), "UNAUTHORIZED");
    assert_eq!(message(&e), "invalid api key", "the server's text verbatim");
    // The first retry would wait 1 s: a rejection well before that means none was made.
    assert!(now() - t < 900.0, "took {} ms", now() - t);
    assert!(
        !message(&e).contains("test-key"),
        "the API key leaked into the error"
    );
}

#[wasm_bindgen_test]
async fn server_error_during_connect_rejects() {
    let e = connect_with(r#""fault_refuse": "model overloaded""#)
        .await
        .err()
        .expect("refused");
    // Not permanent: retried with backoff, then rejected with the server's text.
    assert_eq!(code(&e), "WEBRTC_SERVER_ERROR");
    assert_eq!(message(&e), "model overloaded");
}

#[wasm_bindgen_test]
async fn socket_closed_mid_session_reconnects() {
    let s = connect_with(r#""fault_close_after_ms": "2500""#)
        .await
        .expect("connect");
    assert_reconnects(&s.events, 8000, 15_000).await;
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn disconnect_during_reconnect_stays_disconnected() {
    let s = connect_with(r#""fault_close_after_ms": "1500""#)
        .await
        .expect("connect");
    let ev = s.events.clone();
    assert!(wait_until(8000, || ev.states().iter().any(|x| x == "reconnecting")).await);
    call(&s.client, "disconnect", &[]);
    let n = s.events.len();
    assert_eq!(
        call(&s.client, "getConnectionState", &[])
            .as_string()
            .as_deref(),
        Some("disconnected")
    );
    sleep(4000).await;
    assert_eq!(
        call(&s.client, "getConnectionState", &[])
            .as_string()
            .as_deref(),
        Some("disconnected")
    );
    assert_eq!(s.events.len(), n, "events after disconnect()");
}

#[wasm_bindgen_test]
async fn stats_have_inbound_video_fps_and_bitrate() {
    let s = connect_with("").await.expect("connect");
    let ev = s.events.clone();
    let ok = wait_until(10_000, || {
        ev.of("stats").iter().any(|st| {
            let v = get(st, "video");
            get(&v, "framesPerSecond").as_f64().unwrap_or(0.0) > 0.0
                && get(&v, "bitrate").as_f64().unwrap_or(0.0) > 0.0
        })
    })
    .await;
    assert!(
        ok,
        "no stats with inbound fps and bitrate ({} stats events)",
        ev.of("stats").len()
    );
    assert!(!s.events.of("serverMetrics").is_empty(), "no serverMetrics");
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn stall_is_reported_when_the_server_stops_forwarding() {
    let s = connect_with(r#""fault_stall_after_ms": "2000", "fault_stall_ms": "5000""#)
        .await
        .expect("connect");
    let ev = s.events.clone();
    let started = wait_until(15_000, || {
        ev.diagnostics("videoStall")
            .iter()
            .any(|d| get(&get(d, "data"), "stalled").as_bool() == Some(true))
    })
    .await;
    assert!(started, "no videoStall start");
    let ended = wait_until(15_000, || {
        ev.diagnostics("videoStall")
            .iter()
            .any(|d| get(&get(d, "data"), "stalled").as_bool() == Some(false))
    })
    .await;
    assert!(ended, "no videoStall end");
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn viewer_receives_the_session_video() {
    let s = connect_with("").await.expect("connect");
    let token = get(&s.client, "subscribeToken").as_string().expect("token");
    let remote = RemoteStream::default();
    let cb = remote.callback();
    let o = js_sys::Object::new();
    set(&o, "token", token);
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let viewer = await_promise(call(&factory("viewer-key"), "subscribe", &[o.into()]))
        .await
        .expect("subscribe");
    let stream = remote.get().expect("viewer stream");
    let video = play(&stream);
    assert!(
        wait_until(10_000, || frames(&video) > 10).await,
        "viewer frames: {}",
        frames(&video)
    );
    call(&viewer, "disconnect", &[]);
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn nothing_fires_after_disconnect() {
    let s = connect_with("").await.expect("connect");
    sleep(1500).await;
    call(&s.client, "disconnect", &[]);
    let n = s.events.len();
    assert_eq!(call(&s.client, "isConnected", &[]).as_bool(), Some(false));
    let stream = s.remote.get().expect("stream");
    // The received tracks end with the peer connection.
    assert!(
        wait_until(3000, || stream.get_tracks().iter().all(|t| get(
            &t,
            "readyState"
        )
        .as_string()
        .as_deref()
            == Some("ended")))
        .await
    );
    sleep(2500).await;
    assert_eq!(s.events.len(), n, "events after disconnect()");
}

/// A WAV clip: `secs` of a 440 Hz tone, 16-bit mono at 48 kHz.
fn wav_tone(secs: f64) -> js_sys::Uint8Array {
    let rate = 48_000u32;
    let n = (secs * f64::from(rate)) as u32;
    let mut b = Vec::with_capacity(44 + 2 * n as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let v = (f64::from(i) * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 12_000.0;
        b.extend_from_slice(&(v as i16).to_le_bytes());
    }
    js_sys::Uint8Array::from(b.as_slice())
}

#[wasm_bindgen_test]
async fn live_avatar_without_a_stream_plays_audio() {
    let remote = RemoteStream::default();
    let cb = remote.callback();
    let o = obj(r#"{"model": "live_avatar"}"#);
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let client = await_promise(call(&factory("test-key"), "connect", &[JsValue::NULL, o]))
        .await
        .expect("avatar connect without a stream");
    assert!(call(&client, "isConnected", &[]).as_bool().unwrap());
    // The silent track was published: the server echoes an audio track back.
    let stream = remote.get().expect("remote stream");
    assert!(
        stream.get_audio_tracks().length() >= 1,
        "no audio came back"
    );

    let bytes = wav_tone(0.4);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&bytes)).unwrap();
    let t = now();
    let duration = await_promise(call(&client, "playAudio", &[blob.into()]))
        .await
        .expect("playAudio");
    let took = now() - t;
    assert!(
        (duration.as_f64().unwrap() - 0.4).abs() < 0.01,
        "duration {duration:?}"
    );
    assert!(
        took >= 350.0,
        "resolved after {took} ms, before the clip could have played"
    );
    // Not audio: a clear error naming the argument.
    let e = await_promise(call(&client, "playAudio", &["beep".into()]))
        .await
        .unwrap_err();
    assert!(message(&e).contains("`audio`"), "{}", message(&e));
    call(&client, "disconnect", &[]);
    let e = await_promise(call(&client, "playAudio", &[bytes.buffer().into()]))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NOT_CONNECTED");
    // Receive-only for any other model too: connect(null, mirage) is accepted.
    let remote = RemoteStream::default();
    let cb = remote.callback();
    let o = obj(r#"{"model": "mirage"}"#);
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let client = await_promise(call(&factory("test-key"), "connect", &[JsValue::NULL, o]))
        .await
        .expect("receive-only connect");
    assert!(
        get(&client, "playAudio").is_undefined(),
        "playAudio only for live_avatar"
    );
    call(&client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn play_audio_is_absent_without_an_avatar_session() {
    let s = connect_with("").await.expect("connect");
    assert!(get(&s.client, "playAudio").is_undefined());
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn logger_gets_the_sdk_lines_without_the_key() {
    let lines: std::rc::Rc<std::cell::RefCell<Vec<(String, String)>>> = Default::default();
    let logger = js_sys::Object::new();
    let mut keep = Vec::new();
    for level in ["debug", "info", "warn", "error"] {
        let l = lines.clone();
        let f = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
            l.borrow_mut()
                .push((level.to_string(), m.as_string().unwrap_or_default()))
        });
        set(&logger, level, f.as_ref().clone());
        keep.push(f);
    }
    let o = js_sys::Object::new();
    set(&o, "realtimeBaseUrl", base_url());
    set(&o, "apiKey", "secret-key-123");
    set(&o, "logger", logger);
    let f = realtime_video_sdk::web_api::create_realtime_client(o.into()).expect("factory");
    let camera = fake_camera(false).await;
    let (opts, _remote, _cb) = options(r#""fault_close_after_ms": "1500""#);
    let client = await_promise(call(&f, "connect", &[camera.into(), opts]))
        .await
        .expect("connect");
    let l = lines.clone();
    assert!(
        wait_until(8000, || l
            .borrow()
            .iter()
            .any(|(lv, m)| lv == "warn" && m.contains("reconnecting")))
        .await,
        "{:?}",
        lines.borrow()
    );
    call(&client, "disconnect", &[]);
    assert!(
        lines.borrow().iter().any(|(lv, _)| lv == "info"),
        "{:?}",
        lines.borrow()
    );
    assert!(
        lines
            .borrow()
            .iter()
            .all(|(_, m)| !m.contains("secret-key-123")),
        "the API key reached the logger"
    );

    let o = obj(&format!(
        r#"{{"realtimeBaseUrl": "{}", "apiKey": "k", "logger": {{"warn": 3}}}}"#,
        base_url()
    ));
    let e = realtime_video_sdk::web_api::create_realtime_client(o).expect_err("bad logger refused");
    assert!(message(&e).contains("`logger.warn`"), "{}", message(&e));
}

#[wasm_bindgen_test]
async fn abort_signal_abandons_a_retrying_connect() {
    let t = Tracker::install();
    let mark = t.mark();
    let camera = fake_camera(false).await;
    // Refused with a retryable error: without the signal this would retry for ~25 s.
    let (o, _remote, _cb) = options(r#""fault_refuse": "model overloaded""#);
    let controller = web_sys::AbortController::new().unwrap();
    set(&o, "signal", controller.signal());
    let p = call(&factory("test-key"), "connect", &[camera.into(), o]);
    sleep(1500).await;
    let start = now();
    controller.abort();
    let e = await_promise(p).await.expect_err("aborted connect rejects");
    assert_eq!(code(&e), "ABORTED", "{}", message(&e));
    assert!(
        now() - start < 500.0,
        "rejected {} ms after abort()",
        now() - start
    );
    let attempts = t.created(mark, "ws");
    sleep(3000).await;
    assert_eq!(
        t.created(mark, "ws"),
        attempts,
        "connect attempts went on after abort()"
    );
    assert_eq!(t.open_sockets(mark), 0);
}
