//! The WebSocket protocol, faults, IVS signaling, HTTP endpoints and the binary, each
//! against a server on a real loopback socket.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn session_id_comes_first_with_host_and_http_port() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "&user_agent=test").await;
    let v = next_json(&mut ws).await.expect("a message");
    assert_eq!(v["type"], "session_id", "{v}");
    assert!(v["session_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(v["server_ip"], "127.0.0.1");
    assert_eq!(v["server_port"], srv.http_addr.port());
    let mut other = session(srv.http_addr, "").await;
    assert_ne!(
        expect_session_id(&mut other).await,
        v["session_id"].as_str().unwrap()
    );
    srv.stop().await;
}

#[tokio::test]
async fn prompt_acks_success_and_failures() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;

    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "a cat in a hat", "enhance_prompt": true}),
    )
    .await;
    let v = expect_type(&mut ws, "prompt_ack").await;
    assert_eq!(
        (v["prompt"].as_str(), v["success"].as_bool()),
        (Some("a cat in a hat"), Some(true)),
        "{v}"
    );
    assert!(v["error"].is_null());

    let exactly = "x".repeat(1000);
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": exactly, "enhance_prompt": false}),
    )
    .await;
    assert_eq!(expect_type(&mut ws, "prompt_ack").await["success"], true);

    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "", "enhance_prompt": false}),
    )
    .await;
    let v = expect_type(&mut ws, "prompt_ack").await;
    assert_eq!(
        (v["prompt"].as_str(), v["success"].as_bool()),
        (Some(""), Some(false)),
        "{v}"
    );
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("empty")),
        "{v}"
    );

    let long = "y".repeat(1001);
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": long, "enhance_prompt": false}),
    )
    .await;
    let v = expect_type(&mut ws, "prompt_ack").await;
    assert_eq!(v["prompt"].as_str(), Some(long.as_str()));
    assert_eq!(v["success"], false);
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("1000")),
        "{v}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn set_image_acks_success_failure_and_passthrough() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;

    send(&mut ws, json!({"type": "set_image", "image_data": "iVBORw0KGgo=", "prompt": "p", "enhance_prompt": true}))
        .await;
    let v = expect_type(&mut ws, "set_image_ack").await;
    assert_eq!(v["success"], true, "{v}");

    send(
        &mut ws,
        json!({"type": "set_image", "image_data": "not base64 at all!"}),
    )
    .await;
    let v = expect_type(&mut ws, "set_image_ack").await;
    assert_eq!(v["success"], false, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("base64")),
        "{v}"
    );

    // The passthrough the SDK sends when it has only a local stream.
    send(
        &mut ws,
        json!({"type": "set_image", "image_data": null, "prompt": null}),
    )
    .await;
    assert_eq!(expect_type(&mut ws, "set_image_ack").await["success"], true);
    srv.stop().await;
}

#[tokio::test]
async fn api_keys_are_checked() {
    let srv = server_with(|c| c.api_keys = Some(["good".to_string()].into())).await;
    for q in [
        "/v1/stream?api_key=bad&model=mirage",
        "/v1/stream?model=mirage",
        "/v1/stream-ivs?api_key=bad&model=mirage",
    ] {
        let mut ws = connect(srv.http_addr, q).await;
        let v = expect_type(&mut ws, "error").await;
        assert_eq!(v["error"], "invalid api key", "{q}");
        expect_closed(&mut ws).await;
    }
    let mut ws = connect(srv.http_addr, "/v1/stream?api_key=good&model=lucy_2_rt").await;
    expect_session_id(&mut ws).await;
    srv.stop().await;

    // Default: any non-empty key, but not an empty one.
    let srv = server().await;
    let mut ws = connect(srv.http_addr, "/v1/stream?api_key=&model=mirage").await;
    assert_eq!(
        expect_type(&mut ws, "error").await["error"],
        "invalid api key"
    );
    expect_closed(&mut ws).await;
    srv.stop().await;
}

#[tokio::test]
async fn unknown_or_missing_model_is_an_error() {
    let srv = server().await;
    for q in ["/v1/stream?api_key=k&model=nope", "/v1/stream?api_key=k"] {
        let mut ws = connect(srv.http_addr, q).await;
        let v = expect_type(&mut ws, "error").await;
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("model")),
            "{v}"
        );
        expect_closed(&mut ws).await;
    }
    for model in [
        "mirage",
        "mirage_v2",
        "lucy_v2v_720p_rt",
        "lucy_2_rt",
        "live_avatar",
    ] {
        let mut ws = connect(
            srv.http_addr,
            &format!("/v1/stream?api_key=k&model={model}"),
        )
        .await;
        expect_session_id(&mut ws).await;
    }
    srv.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_messages_are_ignored() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    send_raw(&mut ws, "{this is not json").await;
    send_raw(&mut ws, "[1,2,3]").await;
    send(&mut ws, json!({"no_type": 1})).await;
    send(&mut ws, json!({"type": "brand_new_feature", "x": 1})).await;
    send(&mut ws, json!({"type": "prompt", "prompt": 42})).await; // known type, bad field
    send(
        &mut ws,
        json!({"type": "latency_probe", "seq": 1, "client_time": 5.0}),
    )
    .await;
    send(&mut ws, json!({"type": "e2e_latency_report", "avg_latency_ms": null, "delivery_rate": 1.0, "lost": 0, "corrupted": 0, "out_of_order": 0})).await;
    send(&mut ws, json!({"type": "ice-candidate", "candidate": null})).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "still here", "enhance_prompt": false}),
    )
    .await;
    let v = expect_type(&mut ws, "prompt_ack").await;
    assert_eq!(
        (v["prompt"].as_str(), v["success"].as_bool()),
        (Some("still here"), Some(true))
    );
    srv.stop().await;
}

#[tokio::test]
async fn metrics_report_every_second_with_honest_zeros_before_media() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let start = Instant::now();
    let mut reports = Vec::new();
    while reports.len() < 2 {
        let v = next_json(&mut ws).await.expect("open");
        if v["type"] == "metrics_report" {
            reports.push((start.elapsed(), v));
        }
    }
    let (t1, r1) = &reports[0];
    assert!(
        *t1 >= Duration::from_millis(800) && *t1 < Duration::from_millis(2500),
        "{t1:?}"
    );
    assert!(reports[1].0 - *t1 >= Duration::from_millis(800));
    assert_eq!(r1["input_fps"], 0.0);
    assert_eq!(r1["output_fps"], 0.0);
    assert!(
        r1["encoder_target_bitrate_kbps"].is_null() && r1["rtt_ms"].is_null(),
        "{r1}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn fault_refuse_sends_the_text_and_closes() {
    let srv = server().await;
    let mut ws = session(
        srv.http_addr,
        "&fault_refuse=Permission%20denied%20by%20test",
    )
    .await;
    let v = next_json(&mut ws).await.expect("a message");
    assert_eq!(
        v,
        json!({"type": "error", "error": "Permission denied by test"})
    );
    expect_closed(&mut ws).await;
    srv.stop().await;
}

#[tokio::test]
async fn bad_fault_parameters_are_errors() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "&fault_ack=sometimes").await;
    let v = expect_type(&mut ws, "error").await;
    assert!(v["error"].as_str().unwrap().contains("fault_ack"), "{v}");
    expect_closed(&mut ws).await;
    srv.stop().await;
}

#[tokio::test]
async fn fault_close_after_ms_closes_the_socket() {
    let srv = server().await;
    let start = Instant::now();
    let mut ws = session(srv.http_addr, "&fault_close_after_ms=400").await;
    expect_session_id(&mut ws).await;
    expect_closed(&mut ws).await;
    let t = start.elapsed();
    assert!(
        t >= Duration::from_millis(380) && t < Duration::from_millis(2000),
        "{t:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn fault_ack_never_fail_and_delay() {
    let srv = server().await;

    let mut ws = session(srv.http_addr, "&fault_ack=never").await;
    expect_session_id(&mut ws).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "p", "enhance_prompt": false}),
    )
    .await;
    send(
        &mut ws,
        json!({"type": "set_image", "image_data": null, "prompt": null}),
    )
    .await;
    expect_quiet(&mut ws, Duration::from_millis(1500)).await;

    let mut ws = session(srv.http_addr, "&fault_ack=fail").await;
    expect_session_id(&mut ws).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "p", "enhance_prompt": false}),
    )
    .await;
    let v = expect_type(&mut ws, "prompt_ack").await;
    assert_eq!(
        (v["prompt"].as_str(), v["success"].as_bool()),
        (Some("p"), Some(false))
    );
    assert!(v["error"].is_string());
    send(
        &mut ws,
        json!({"type": "set_image", "image_data": null, "prompt": null}),
    )
    .await;
    assert_eq!(
        expect_type(&mut ws, "set_image_ack").await["success"],
        false
    );

    let mut ws = session(srv.http_addr, "&fault_ack=delay:700").await;
    expect_session_id(&mut ws).await;
    let sent = Instant::now();
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "slow", "enhance_prompt": false}),
    )
    .await;
    let v = expect_type(&mut ws, "prompt_ack").await;
    let t = sent.elapsed();
    assert_eq!(
        (v["prompt"].as_str(), v["success"].as_bool()),
        (Some("slow"), Some(true))
    );
    assert!(
        t >= Duration::from_millis(680) && t < Duration::from_millis(2500),
        "{t:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn fault_junk_sends_malformed_and_unknown_frames_after_session_id() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "&fault_junk=1").await;
    let first: serde_json::Value =
        serde_json::from_str(&next_text(&mut ws).await.unwrap()).unwrap();
    assert_eq!(first["type"], "session_id");
    let junk = next_text(&mut ws).await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&junk).is_err(),
        "{junk}"
    );
    let unknown: serde_json::Value =
        serde_json::from_str(&next_text(&mut ws).await.unwrap()).unwrap();
    let ty = unknown["type"].as_str().unwrap();
    assert!(
        !<realtime_video_sdk::core::protocol::ServerMessage as realtime_video_sdk::core::protocol::Message>::TYPES.contains(&ty),
        "{ty}"
    );
    // The session goes on normally.
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "ok", "enhance_prompt": false}),
    )
    .await;
    assert_eq!(expect_type(&mut ws, "prompt_ack").await["success"], true);
    srv.stop().await;
}

#[tokio::test]
async fn ivs_session_flow() {
    let srv = server().await;
    let mut ws = connect(srv.http_addr, "/v1/stream-ivs?api_key=k&model=mirage").await;
    let sid = expect_session_id(&mut ws).await;
    let ready = expect_type(&mut ws, "ivs_stage_ready").await;
    let arn = ready["stage_arn"].as_str().unwrap();
    assert!(arn.starts_with("arn:aws:ivs:"), "{ready}");
    assert!(
        ready["client_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{ready}"
    );
    let pid = ready["client_publish_participant_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The stage is visible to the emulator.
    let stage_id = arn.rsplit('/').next().unwrap();
    let (status, body) = http_get(srv.http_addr, &format!("/v1/stage/{stage_id}"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let stage: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stage["client_publish_participant_id"], pid.as_str());
    assert_eq!(stage["client_joined"], false);
    assert!(stage.get("client_token").is_none());

    send(&mut ws, json!({"type": "ivs_joined"})).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "ivs prompt", "enhance_prompt": true}),
    )
    .await;
    assert_eq!(expect_type(&mut ws, "prompt_ack").await["success"], true);
    let (_, body) = http_get(srv.http_addr, &format!("/v1/stage/{stage_id}"), &[]).await;
    assert!(body.contains("\"client_joined\":true"), "{body}");

    // The viewer token.
    let (status, body) = http_get(
        srv.http_addr,
        &format!("/v1/subscribe-ivs/{sid}"),
        &[("x-api-key", "k")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let tok: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(tok["subscribe_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(
        tok["server_publish_participant_id"],
        stage["server_publish_participant_id"]
    );
    let (status, _) = http_get(srv.http_addr, &format!("/v1/subscribe-ivs/{sid}"), &[]).await;
    assert_eq!(status, 401);
    let (status, _) = http_get(
        srv.http_addr,
        "/v1/subscribe-ivs/sess_unknown",
        &[("x-api-key", "k")],
    )
    .await;
    assert_eq!(status, 404);

    // Once the session ends, its stage and token are gone.
    drop(ws);
    let mut gone = false;
    for _ in 0..50 {
        if http_get(
            srv.http_addr,
            &format!("/v1/subscribe-ivs/{sid}"),
            &[("x-api-key", "k")],
        )
        .await
        .0 == 404
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone);
    srv.stop().await;
}

#[tokio::test]
async fn ivs_requires_ivs_joined_next() {
    let srv = server().await;
    let mut ws = connect(srv.http_addr, "/v1/stream-ivs?api_key=k&model=mirage").await;
    expect_session_id(&mut ws).await;
    expect_type(&mut ws, "ivs_stage_ready").await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "too early", "enhance_prompt": false}),
    )
    .await;
    assert_eq!(
        expect_type(&mut ws, "error").await["error"],
        "Expected ivs_joined message"
    );
    expect_closed(&mut ws).await;
    srv.stop().await;
}

#[tokio::test]
async fn ivs_faults() {
    let srv = server().await;
    let mut ws = connect(
        srv.http_addr,
        "/v1/stream-ivs?api_key=k&model=mirage&fault_ivs=no_stage_ready",
    )
    .await;
    expect_session_id(&mut ws).await;
    expect_quiet(&mut ws, Duration::from_millis(1200)).await;

    for fault in ["disconnect_during_setup", "no_server_streams"] {
        let mut ws = connect(
            srv.http_addr,
            &format!("/v1/stream-ivs?api_key=k&model=mirage&fault_ivs={fault}"),
        )
        .await;
        expect_session_id(&mut ws).await;
        let ready = expect_type(&mut ws, "ivs_stage_ready").await;
        let stage_id = ready["stage_arn"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let (status, body) = http_get(srv.http_addr, &format!("/v1/stage/{stage_id}"), &[]).await;
        assert_eq!(status, 200);
        assert!(body.contains(&format!("\"fault\":\"{fault}\"")), "{body}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn viewer_of_an_unknown_session_or_with_a_bad_key_is_refused() {
    let srv = server_with(|c| c.api_keys = Some(["good".to_string()].into())).await;
    let mut ws = connect(
        srv.http_addr,
        "/subscribe/sess_nope?IP=127.0.0.1&port=1&api_key=good",
    )
    .await;
    let v = expect_type(&mut ws, "error").await;
    assert!(
        v["error"].as_str().unwrap().contains("invalid session"),
        "{v}"
    );
    expect_closed(&mut ws).await;

    let mut publisher = connect(srv.http_addr, "/v1/stream?api_key=good&model=mirage").await;
    let sid = expect_session_id(&mut publisher).await;
    let mut ws = connect(
        srv.http_addr,
        &format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key=bad"),
    )
    .await;
    assert_eq!(
        expect_type(&mut ws, "error").await["error"],
        "invalid api key"
    );
    expect_closed(&mut ws).await;

    // A valid viewer stays open until the session ends, then is closed.
    let mut viewer = connect(
        srv.http_addr,
        &format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key=good"),
    )
    .await;
    expect_quiet(&mut viewer, Duration::from_millis(300)).await;
    drop(publisher);
    expect_closed(&mut viewer).await;
    srv.stop().await;
}

#[tokio::test]
async fn http_endpoints_and_static_files() {
    let srv = server().await;
    assert_eq!(
        http_get(srv.http_addr, "/healthz", &[]).await,
        (200, "ok".to_string())
    );
    let (status, body) = http_get(srv.http_addr, "/", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("www fixture"), "{body}");
    let (status, body) = http_get(srv.http_addr, "/sub/page.txt", &[]).await;
    assert_eq!((status, body.as_str()), (200, "sub fixture\n"));
    let (status, body) = http_get(srv.http_addr, "/pkg/fixture.js", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "export const pkgFixture = 1;\n")
    );
    assert_eq!(http_get(srv.http_addr, "/missing.html", &[]).await.0, 404);
    assert_eq!(http_get(srv.http_addr, "/pkg/missing.js", &[]).await.0, 404);
    // A plain GET on a WebSocket endpoint is not an upgrade.
    assert!(
        http_get(srv.http_addr, "/v1/stream?api_key=k&model=mirage", &[])
            .await
            .0
            >= 400
    );
    srv.stop().await;
}

#[tokio::test]
async fn stop_closes_open_sessions() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let addr = srv.http_addr;
    let stopping = tokio::spawn(srv.stop());
    expect_closed(&mut ws).await;
    tokio::time::timeout(Duration::from_secs(6), stopping)
        .await
        .expect("stops in time")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[test]
fn binary_help_and_clean_sigterm() {
    use std::process::Command;
    let exe = env!("CARGO_BIN_EXE_realtime-reference-server");

    let out = Command::new(exe).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--host",
        "--port",
        "--www",
        "--pkg",
        "--api-keys",
        "--vendor",
        "--csp",
        "--no-csp",
        "--turn-urls",
        "--turn-secret",
        "--limit",
        "--help",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
    let out = Command::new(exe).arg("--nope").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let (mut child, lines, listening) =
        spawn_server_process(&["--port", "0", "--api-keys", "secret-key-123"]);
    assert!(listening.contains("http://127.0.0.1:"), "{listening}");
    assert!(
        !listening.contains("secret-key-123"),
        "the key is never logged"
    );
    // Signal only this child, by its pid.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}, log {rest:?}");
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}

#[tokio::test]
async fn telemetry_batches_are_kept_per_session() {
    let srv = server().await;
    let mut ws = connect(srv.http_addr, "/v1/stream?api_key=k&model=mirage").await;
    let sid = expect_session_id(&mut ws).await;
    let batch_for = |sid: &str| {
        serde_json::json!({
            "sessionId": sid, "timestamp": 1.0, "sdkVersion": "0.1.0", "model": "mirage",
            "tags": {"session_id": sid, "sdk_version": "0.1.0", "model": "mirage", "integration": null, "transport": "webrtc"},
            "stats": [{"timestamp": 1.0}], "diagnostics": [],
        })
        .to_string()
    };
    let batch = batch_for(&sid);
    let json = ("content-type", "application/json");
    let (status, _) = http_request(srv.http_addr, "POST", "/v1/telemetry", &[json], &batch).await;
    assert_eq!(status, 401, "the API key is required");
    let key = ("x-api-key", "k");
    let (status, body) = http_request(
        srv.http_addr,
        "POST",
        "/v1/telemetry",
        &[json, key],
        "{\"stats\": 1}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid telemetry batch"), "{body}");
    let (status, body) =
        http_request(srv.http_addr, "POST", "/v1/telemetry", &[json, key], &batch).await;
    assert_eq!(status, 204, "{body}");
    let path = format!("/v1/telemetry/{sid}");
    let (status, body) = http_get(srv.http_addr, &path, &[key]).await;
    assert_eq!(status, 200);
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(got.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(got[0]["tags"]["transport"], "webrtc");
    assert_eq!(http_get(srv.http_addr, &path, &[]).await.0, 401);
    // Only sessions of the key: not a made-up id, not another key's session.
    let (status, body) = http_request(
        srv.http_addr,
        "POST",
        "/v1/telemetry",
        &[json, key],
        &batch_for("sess_made_up"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("unknown session"), "{body}");
    let other = ("x-api-key", "another-key");
    let (status, _) = http_request(
        srv.http_addr,
        "POST",
        "/v1/telemetry",
        &[json, other],
        &batch,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(http_get(srv.http_addr, &path, &[other]).await.1, "[]");
    let (_, body) = http_get(srv.http_addr, "/v1/telemetry/sess_other", &[key]).await;
    assert_eq!(body, "[]");
    // A session that just ended may still send its final batch.
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) =
        http_request(srv.http_addr, "POST", "/v1/telemetry", &[json, key], &batch).await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = http_get(srv.http_addr, &path, &[key]).await;
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(got.as_array().map(Vec::len), Some(2), "{body}");
    srv.stop().await;
}
