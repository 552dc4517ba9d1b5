//! Short-lived client keys (`POST /v1/client/tokens`) on a real loopback server: minting and
//! its validation, and each restriction as a page using the key sees it (expiry, models,
//! origins, session length) on sessions, viewers, viewer tokens and telemetry.

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LIVE: &str = "live-key-1";

/// Mints a client key with `body`; returns the status and the JSON answer.
async fn mint(addr: SocketAddr, key: &str, body: &str) -> (u16, Value) {
    let (status, text) = http_request(
        addr,
        "POST",
        "/v1/client/tokens",
        &[("x-api-key", key), ("content-type", "application/json")],
        body,
    )
    .await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    (status, v)
}

async fn client_key(addr: SocketAddr, body: Value) -> String {
    let (status, v) = mint(addr, LIVE, &body.to_string()).await;
    assert_eq!(status, 200, "{v}");
    v["apiKey"].as_str().expect("apiKey").to_string()
}

async fn restricted_server() -> realtime_reference_server::RunningServer {
    server_with(|c| c.api_keys = Some([LIVE.to_string()].into())).await
}

#[tokio::test]
async fn a_long_lived_key_mints_client_keys_that_open_sessions() {
    let srv = restricted_server().await;
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let before = now_ms();
    let (status, v) = mint(srv.http_addr, LIVE, r#"{"expiresIn": 120}"#).await;
    let after = now_ms();
    assert_eq!(status, 200, "{v}");
    let key = v["apiKey"].as_str().unwrap();
    assert!(key.starts_with("ek_"), "{v}");
    // expiresAt: ISO 8601, UTC, milliseconds, 120 s from now (such strings sort by time).
    let at = v["expiresAt"].as_str().unwrap();
    let iso = realtime_reference_server::client_tokens::iso8601;
    assert!(
        at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert!(
        iso(before + 120_000).as_str() <= at && at <= iso(after + 120_000).as_str(),
        "{at}"
    );
    // The default lifetime is 60 s; an empty body is the defaults.
    let (status, v) = mint(srv.http_addr, LIVE, "").await;
    assert_eq!(status, 200, "{v}");

    let mut ws = connect(
        srv.http_addr,
        &format!("/v1/stream?api_key={key}&model=mirage"),
    )
    .await;
    let sid = expect_session_id(&mut ws).await;
    // The page's telemetry with the client key lands with the session.
    let batch = json!({"sessionId": sid, "tags": {}, "stats": [], "diagnostics": []}).to_string();
    let (status, body) = http_request(
        srv.http_addr,
        "POST",
        "/v1/telemetry",
        &[("x-api-key", key)],
        &batch,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = http_get(
        srv.http_addr,
        &format!("/v1/telemetry/{sid}"),
        &[("x-api-key", LIVE)],
    )
    .await;
    assert!(
        body.contains(&sid),
        "the long-lived key sees its client key's telemetry: {body}"
    );
    // Viewers with a client key.
    let mut viewer = connect(
        srv.http_addr,
        &format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key={key}"),
    )
    .await;
    expect_quiet(&mut viewer, Duration::from_millis(300)).await;
    srv.stop().await;
}

#[tokio::test]
async fn minting_needs_the_long_lived_key_and_a_valid_request() {
    let srv = restricted_server().await;
    let addr = srv.http_addr;
    let (status, v) = mint(addr, "wrong", "{}").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (401, Some("invalid api key"))
    );
    let ek = client_key(addr, json!({})).await;
    let (status, v) = mint(addr, &ek, "{}").await;
    assert_eq!(status, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("cannot mint"), "{v}");
    for (body, field) in [
        ("nope", "body"),
        (r#"{"expiresIn": 0}"#, "expiresIn"),
        (r#"{"expiresIn": 3601}"#, "expiresIn"),
        (r#"{"allowedModels": "mirage"}"#, "allowedModels"),
        (r#"{"allowedOrigins": ["not an origin"]}"#, "allowedOrigins"),
        (
            r#"{"constraints": {"realtime": {"maxSessionDuration": -1}}}"#,
            "constraints.realtime.maxSessionDuration",
        ),
    ] {
        let (status, v) = mint(addr, LIVE, body).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(
            v["error"].as_str().unwrap().starts_with(field),
            "{body}: {v}"
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn an_expired_client_key_is_refused_everywhere() {
    let srv = restricted_server().await;
    let addr = srv.http_addr;
    let key = client_key(addr, json!({"expiresIn": 1})).await;
    let mut ws = connect(addr, &format!("/v1/stream?api_key={key}&model=mirage")).await;
    let sid = expect_session_id(&mut ws).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The session opened in time goes on; new ones are refused.
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "p", "enhance_prompt": false}),
    )
    .await;
    assert_eq!(expect_type(&mut ws, "prompt_ack").await["success"], true);
    for path in [
        format!("/v1/stream?api_key={key}&model=mirage"),
        format!("/v1/stream-ivs?api_key={key}&model=mirage"),
        format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key={key}"),
    ] {
        let mut refused = connect(addr, &path).await;
        let (errors, close) = expect_error_and_close(&mut refused).await;
        assert_eq!(errors, ["unauthorized: client token expired"], "{path}");
        assert!(close.is_some(), "{path}");
    }
    let expired = ("x-api-key", key.as_str());
    let batch = json!({"sessionId": sid, "tags": {}, "stats": [], "diagnostics": []}).to_string();
    for (status, body) in [
        http_request(addr, "POST", "/v1/telemetry", &[expired], &batch).await,
        http_get(addr, &format!("/v1/telemetry/{sid}"), &[expired]).await,
        http_get(addr, &format!("/v1/subscribe-ivs/{sid}"), &[expired]).await,
    ] {
        assert_eq!(status, 401, "{body}");
        assert!(
            body.contains("unauthorized: client token expired"),
            "{body}"
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn models_outside_allowed_models_are_refused() {
    let srv = restricted_server().await;
    let key = client_key(
        srv.http_addr,
        json!({"allowedModels": ["mirage", "lucy_2_rt"]}),
    )
    .await;
    for model in ["mirage", "lucy_2_rt"] {
        let mut ws = connect(
            srv.http_addr,
            &format!("/v1/stream?api_key={key}&model={model}"),
        )
        .await;
        expect_session_id(&mut ws).await;
    }
    let mut ws = connect(
        srv.http_addr,
        &format!("/v1/stream-ivs?api_key={key}&model=mirage_v2"),
    )
    .await;
    let (errors, close) = expect_error_and_close(&mut ws).await;
    assert_eq!(
        errors,
        ["model not allowed for this client token: mirage_v2"]
    );
    assert!(close.is_some());
    srv.stop().await;
}

#[tokio::test]
async fn origins_outside_allowed_origins_are_refused() {
    let srv = restricted_server().await;
    let addr = srv.http_addr;
    let key = client_key(
        addr,
        json!({"allowedOrigins": ["https://app.example", "http://127.0.0.1:8787"]}),
    )
    .await;
    let path = format!("/v1/stream?api_key={key}&model=mirage");
    let mut ws = connect_from(addr, &path, "https://app.example").await;
    let sid = expect_session_id(&mut ws).await;
    let mut ws2 = connect_from(addr, &path, "http://127.0.0.1:8787").await;
    expect_session_id(&mut ws2).await;
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "http://app.example",
    ] {
        let mut refused = connect_from(addr, &path, origin).await;
        let (errors, _) = expect_error_and_close(&mut refused).await;
        assert_eq!(
            errors,
            ["origin not allowed for this client token"],
            "{origin}"
        );
    }
    // A WebSocket without an Origin (not a browser page) is refused too.
    let mut bare = connect(addr, &path).await;
    let (errors, _) = expect_error_and_close(&mut bare).await;
    assert_eq!(errors, ["origin not allowed for this client token"]);
    let mut viewer = connect_from(
        addr,
        &format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key={key}"),
        "https://evil.example",
    )
    .await;
    let (errors, _) = expect_error_and_close(&mut viewer).await;
    assert_eq!(errors, ["origin not allowed for this client token"]);
    // HTTP: a request from another page's origin is refused; one without Origin is not.
    let batch = json!({"sessionId": sid, "tags": {}, "stats": [], "diagnostics": []}).to_string();
    let k = ("x-api-key", key.as_str());
    let (status, body) = http_request(
        addr,
        "POST",
        "/v1/telemetry",
        &[k, ("origin", "https://evil.example")],
        &batch,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("origin not allowed for this client token"),
        "{body}"
    );
    let (status, body) = http_request(
        addr,
        "POST",
        "/v1/telemetry",
        &[k, ("origin", "https://app.example")],
        &batch,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn a_session_ends_at_max_session_duration() {
    let srv = restricted_server().await;
    let key = client_key(
        srv.http_addr,
        json!({"constraints": {"realtime": {"maxSessionDuration": 1}}}),
    )
    .await;
    let start = Instant::now();
    let mut ws = connect(
        srv.http_addr,
        &format!("/v1/stream?api_key={key}&model=mirage"),
    )
    .await;
    expect_session_id(&mut ws).await;
    let (errors, close) = expect_error_and_close(&mut ws).await;
    let t = start.elapsed();
    assert_eq!(
        errors,
        ["session duration limit reached (maxSessionDuration 1 s)"]
    );
    assert!(close.is_some());
    assert!(
        t >= Duration::from_millis(950) && t < Duration::from_secs(3),
        "{t:?}"
    );
    // A long-lived key's sessions have no such limit.
    let mut ws = connect(
        srv.http_addr,
        &format!("/v1/stream?api_key={LIVE}&model=mirage"),
    )
    .await;
    expect_session_id(&mut ws).await;
    expect_quiet(&mut ws, Duration::from_millis(1500)).await;
    srv.stop().await;
}
