//! What the SDK must neither trust nor leak, in headless Chromium against the reference
//! server: the API key inside server texts, base URLs that only look like loopback, a
//! server that changes the session's identity or sends garbage SDP mid-session, and the
//! short-lived client keys the server mints (expired, limited to other models or origins,
//! limited in duration).
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use js_sys::Object;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A long-lived key as the real service issues them.
const KEY: &str = "sk_live_abc123XYZ";

struct Client {
    client: JsValue,
    events: Recorder,
    _cbs: Vec<Closure<dyn FnMut(JsValue)>>,
    _on_remote: Closure<dyn FnMut(JsValue)>,
}

/// `connect(camera or null, {model: "mirage", extraQueryParams: {extra}})` with `api_key`.
async fn connect(api_key: &str, camera: bool, extra: &str) -> Result<Client, JsValue> {
    let stream: JsValue = if camera {
        fake_camera(false).await.into()
    } else {
        JsValue::NULL
    };
    let o = obj(&format!(
        r#"{{"model": "mirage", "extraQueryParams": {{{extra}}}}}"#
    ));
    let on_remote = RemoteStream::default().callback();
    set(&o, "onRemoteStream", on_remote.as_ref().clone());
    // The SDK's log lines go to the console, which the runner shows for a failed test.
    let opts = Object::new();
    set(&opts, "realtimeBaseUrl", base_url());
    set(&opts, "apiKey", api_key);
    let console = get(&js_sys::global(), "console");
    let logger = Object::new();
    for level in ["debug", "info", "warn", "error"] {
        set(&logger, level, get(&console, "log"));
    }
    set(&opts, "logger", logger);
    let realtime = get(
        &realtime_video_sdk::web_api::create_decart_client(opts.into()).unwrap(),
        "realtime",
    );
    let client = await_promise(call(&realtime, "connect", &[stream, o])).await?;
    let events = Recorder::default();
    let cbs = events.attach(&client, &["connectionChange", "error", "diagnostic"]);
    Ok(Client {
        client,
        events,
        _cbs: cbs,
        _on_remote: on_remote,
    })
}

/// Everything a page can read off an error: message, cause, data.
fn everything(e: &JsValue) -> String {
    let data = js_sys::JSON::stringify(&get(e, "data"))
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    format!("{} | {data}", why(e))
}

fn query_value(text: &str) -> String {
    // The value goes into a JSON string inside the options object.
    text.replace('"', "\\\"")
}

#[wasm_bindgen_test]
async fn a_refused_prompt_or_image_never_shows_the_key() {
    let refusal = format!("key {KEY} may not use this prompt");
    // Without a stream there is no initial state to acknowledge: connect succeeds.
    let c = connect(
        KEY,
        false,
        &format!(r#""fault_ack": "fail:{}""#, query_value(&refusal)),
    )
    .await
    .expect("connect");
    let e = await_promise(call(&c.client, "setPrompt", &["a red fox".into()]))
        .await
        .expect_err("the server refused the prompt");
    assert_eq!(code(&e), "WEBRTC_SERVER_ERROR");
    let seen = everything(&e);
    assert!(!seen.contains(KEY), "{seen}");
    assert!(seen.contains("may not use this prompt"), "{seen}");
    assert!(seen.contains("[redacted]"), "{seen}");
    let e = await_promise(call(
        &c.client,
        "set",
        &[obj(r#"{"prompt": "a blue fox"}"#)],
    ))
    .await
    .expect_err("the server refused it");
    assert!(!everything(&e).contains(KEY), "{}", everything(&e));
    call(&c.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn a_refused_initial_state_rejects_connect_without_the_key() {
    let refusal = format!("not with {KEY}");
    // With the camera the initial state is acknowledged before connect resolves.
    let e = connect(
        KEY,
        true,
        &format!(r#""fault_ack": "fail:{}""#, query_value(&refusal)),
    )
    .await
    .err()
    .expect("connect rejects");
    let seen = everything(&e);
    assert!(!seen.contains(KEY), "{seen}");
    assert!(seen.contains("not with [redacted]"), "{seen}");
}

#[wasm_bindgen_test]
fn base_urls_that_only_look_like_loopback_are_refused() {
    let base = |url: &str| {
        let o = Object::new();
        set(&o, "realtimeBaseUrl", url);
        set(&o, "apiKey", KEY);
        realtime_video_sdk::web_api::create_decart_client(o.into())
    };
    for url in [
        "ws://127.0.0.1.attacker.example",
        "ws://127.0.0.1.attacker.example:8787",
        "ws://attacker.example\\.localhost",
        "ws://localhost.attacker.example",
        "ws://[::2]:8787",
        "http://127.1:8787",
    ] {
        let e = base(url)
            .err()
            .unwrap_or_else(|| panic!("{url} was accepted"));
        assert_eq!(code(&e), "INVALID_BASE_URL", "{url}");
        assert!(!everything(&e).contains(KEY));
    }
    for url in [
        "ws://127.0.0.1:8787",
        "ws://127.9.9.9",
        "ws://localhost:8787",
        "ws://app.localhost:8787",
        "ws://[::1]:8787",
        "wss://realtime.example.com",
    ] {
        assert!(base(url).is_ok(), "{url} was refused");
    }
    // An insecure host is still possible, when asked for by name.
    let o = Object::new();
    set(&o, "realtimeBaseUrl", "ws://127.0.0.1.attacker.example");
    set(&o, "apiKey", KEY);
    set(&o, "allowInsecure", true);
    assert!(realtime_video_sdk::web_api::create_decart_client(o.into()).is_ok());
}

#[wasm_bindgen_test]
async fn a_second_session_id_and_garbage_sdp_mid_session_change_nothing() {
    let c = connect(KEY, true, r#""fault_spoof_after_ms": "2500""#)
        .await
        .expect("connect");
    let id = get(&c.client, "sessionId");
    let token = get(&c.client, "subscribeToken");
    assert!(id.is_string() && token.is_string());
    // The server sends another session_id, an answer and an offer of garbage at 2.5 s.
    sleep(4500).await;
    let reconnects: Vec<String> = c
        .events
        .diagnostics("reconnect")
        .iter()
        .map(|d| js_sys::JSON::stringify(d).unwrap().as_string().unwrap())
        .collect();
    assert!(
        reconnects.is_empty(),
        "the session was dropped: {reconnects:?}"
    );
    let ignored: Vec<String> = c
        .events
        .diagnostics("messageIgnored")
        .iter()
        .map(|d| get(&get(d, "data"), "type").as_string().unwrap_or_default())
        .collect();
    assert_eq!(
        ignored,
        ["session_id", "answer", "offer"],
        "the messageIgnored diagnostics"
    );
    assert_eq!(
        get(&c.client, "sessionId"),
        id,
        "the session id was replaced"
    );
    assert_eq!(
        get(&c.client, "subscribeToken"),
        token,
        "the subscribe token was replaced"
    );
    assert!(call(&c.client, "isConnected", &[]).as_bool().unwrap());
    assert!(
        c.events.of("error").is_empty(),
        "{:?}",
        c.events.of("error")
    );
    assert!(
        !c.events
            .states()
            .iter()
            .any(|s| s == "reconnecting" || s == "disconnected"),
        "{:?}",
        c.events.states()
    );
    call(&c.client, "disconnect", &[]);
}

/// `POST /v1/client/tokens` with the long-lived key: the client key.
async fn mint(request: &str) -> String {
    let init = obj(&format!(
        r#"{{"method": "POST", "headers": {{"x-api-key": "{KEY}", "content-type": "application/json"}}, "body": {}}}"#,
        js_sys::JSON::stringify(&request.into())
            .unwrap()
            .as_string()
            .unwrap()
    ));
    let url = format!("{}/v1/client/tokens", http_base());
    let res = await_promise(call(&js_sys::global(), "fetch", &[url.into(), init]))
        .await
        .expect("fetch");
    assert_eq!(
        get(&res, "status").as_f64(),
        Some(200.0),
        "minting {request}"
    );
    let body = await_promise(call(&res, "json", &[])).await.expect("json");
    let key = get(&body, "apiKey").as_string().expect("apiKey");
    assert!(key.starts_with("ek_"), "{key}");
    assert!(!get(&body, "expiresAt").is_undefined());
    key
}

/// Connects with `key` and expects a refusal after exactly one WebSocket (no retries).
async fn refused(key: &str, what: &str) -> JsValue {
    let tracker = Tracker::install();
    let mark = tracker.mark();
    let e = connect(key, true, "")
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}: connected"));
    assert_eq!(
        code(&e),
        "WEBRTC_SERVER_ERROR",
        "{what}: {}",
        everything(&e)
    );
    assert_eq!(detail(&e), "UNAUTHORIZED", "{what}: {}", everything(&e));
    assert_eq!(tracker.created(mark, "ws"), 1, "{what}: retried");
    assert!(!everything(&e).contains(KEY) && !everything(&e).contains(key));
    e
}

#[wasm_bindgen_test]
async fn a_client_key_opens_sessions_until_it_expires() {
    let key = mint(r#"{"expiresIn": 60}"#).await;
    let c = connect(&key, true, "")
        .await
        .expect("connect with a client key");
    assert!(call(&c.client, "isConnected", &[]).as_bool().unwrap());
    call(&c.client, "disconnect", &[]);

    let short = mint(r#"{"expiresIn": 1}"#).await;
    sleep(1500).await;
    let e = refused(&short, "an expired key").await;
    assert!(message(&e).contains("expired"), "{}", everything(&e));
}

#[wasm_bindgen_test]
async fn a_client_key_keeps_to_its_models_and_origins() {
    let key = mint(r#"{"allowedModels": ["lucy_2_rt"]}"#).await;
    let e = refused(&key, "another model").await;
    assert!(
        message(&e).contains("model not allowed"),
        "{}",
        everything(&e)
    );

    let key = mint(r#"{"allowedOrigins": ["https://elsewhere.example"]}"#).await;
    let e = refused(&key, "another origin").await;
    assert!(
        message(&e).contains("origin not allowed"),
        "{}",
        everything(&e)
    );

    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let key = mint(&format!(
        r#"{{"allowedModels": ["mirage"], "allowedOrigins": ["{origin}"]}}"#
    ))
    .await;
    let c = connect(&key, true, "")
        .await
        .expect("this model, this origin");
    call(&c.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn a_session_past_its_duration_limit_ends_without_reconnecting() {
    let key = mint(r#"{"constraints": {"realtime": {"maxSessionDuration": 2}}}"#).await;
    let tracker = Tracker::install();
    let mark = tracker.mark();
    let c = connect(&key, true, "").await.expect("connect");
    assert!(
        wait_until(8000, || c
            .events
            .states()
            .iter()
            .any(|s| s == "disconnected"))
        .await,
        "still {:?}",
        c.events.states()
    );
    let errors = c.events.of("error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(code(&errors[0]), "WEBRTC_SERVER_ERROR");
    assert_eq!(detail(&errors[0]), "UNAUTHORIZED");
    assert!(
        message(&errors[0]).contains("duration limit"),
        "{}",
        everything(&errors[0])
    );
    assert!(!c.events.states().iter().any(|s| s == "reconnecting"));
    assert_eq!(tracker.created(mark, "ws"), 1, "reconnected");
    assert_eq!(tracker.open_sockets(mark), 0);
    assert_eq!(tracker.open_peer_connections(mark), 0);
}
