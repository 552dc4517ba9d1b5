//! The IVS stage emulation on a real loopback socket: the stage signaling (tokens, roles,
//! participants, the IVS faults as a client sees them), media through a stage (str0m
//! clients publish and subscribe), and the served emulator, CSP and `--vendor`.

mod common;

use common::rtc::{
    collect, server_participant, stage_negotiate, stage_publish, stage_publish_and_watch,
    vp8_frame, Client, Received,
};
use common::*;
use realtime_reference_server::stage::participant_token;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use str0m::media::Direction;

/// Reads `joined`, returning it.
async fn expect_joined(ws: &mut Ws) -> Value {
    expect_type(ws, "joined").await
}

/// Reads a fatal `error` with `code`, then (optionally) `left` with `reason`, then the close.
async fn expect_refused(ws: &mut Ws, code: u64, left: Option<&str>) -> Value {
    let e = expect_type(ws, "error").await;
    assert_eq!(e["code"], code, "{e}");
    assert_eq!(e["fatal"], true, "{e}");
    if let Some(reason) = left {
        assert_eq!(expect_type(ws, "left").await["reason"], reason);
    }
    expect_closed(ws).await;
    e
}

#[tokio::test]
async fn join_checks_the_token_and_the_stage() {
    let srv = server().await;
    let ivs = ivs_session(srv.http_addr, "").await;
    let base = format!("http://{}", srv.http_addr);

    // Not a token at all.
    let mut ws = stage_join(srv.http_addr, &ivs.stage_id, "garbage").await;
    let e = expect_refused(&mut ws, 1, None).await;
    assert_eq!(e["category"], "JOIN_ERROR");

    // A well-formed token for a stage that does not exist.
    let t = participant_token(&base, "stage_nope", "arn:x", "pclient_x", true);
    let mut ws = stage_join(srv.http_addr, "stage_nope", &t).await;
    expect_refused(&mut ws, 9, None).await;

    // A real stage, but a participant it never issued (a forged token).
    let t = participant_token(&base, &ivs.stage_id, "arn:x", "pclient_forged", true);
    let mut ws = stage_join(srv.http_addr, &ivs.stage_id, &t).await;
    expect_refused(&mut ws, 8, None).await;

    // A valid token on another stage's socket.
    let other = ivs_session(srv.http_addr, "").await;
    let mut ws = stage_join(srv.http_addr, &ivs.stage_id, &other.client_token).await;
    expect_refused(&mut ws, 8, None).await;

    // Anything but `join` first.
    let mut ws = connect(srv.http_addr, &format!("/v1/stage/{}/signal", ivs.stage_id)).await;
    send(&mut ws, json!({"type": "publish", "sdp": "v=0"})).await;
    expect_refused(&mut ws, 4, None).await;
    srv.stop().await;
}

#[tokio::test]
async fn roles_participants_and_session_end() {
    let srv = server().await;
    let mut ivs = ivs_session(srv.http_addr, "").await;
    let mut client = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    let joined = expect_joined(&mut client).await;
    let me = &joined["participant"];
    assert_eq!(me["id"], ivs.client_participant_id.as_str());
    assert_eq!(me["capabilities"], json!(["publish", "subscribe"]));
    assert_eq!(me["is_publishing"], false);
    let parts = joined["participants"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{joined}");
    let server_participant = parts[0]["id"].as_str().unwrap().to_string();
    assert!(server_participant.starts_with("pserver_"));
    assert_eq!(parts[0]["is_publishing"], true);
    assert_eq!(parts[0]["streams"], json!(["video", "audio"]));
    send(&mut ivs.ws, json!({"type": "ivs_joined"})).await;

    // A viewer: subscribe only, sees the server and the client participant.
    let (vtoken, spid) = ivs_viewer_token(srv.http_addr, &ivs.sid).await;
    assert_eq!(spid, server_participant);
    let mut viewer = stage_join(srv.http_addr, &ivs.stage_id, &vtoken).await;
    let vjoined = expect_joined(&mut viewer).await;
    let viewer_id = vjoined["participant"]["id"].as_str().unwrap().to_string();
    assert_eq!(vjoined["participant"]["capabilities"], json!(["subscribe"]));
    let ids: Vec<&str> = vjoined["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            server_participant.as_str(),
            ivs.client_participant_id.as_str()
        ]
    );
    let seen = expect_type(&mut client, "participant_joined").await;
    assert_eq!(seen["participant"]["id"], viewer_id.as_str());

    // A viewer may not publish (an error, not the end of its stage).
    let (_c, offer) = Client::new(Direction::SendOnly).await;
    send(&mut viewer, json!({"type": "publish", "sdp": offer})).await;
    let e = expect_type(&mut viewer, "error").await;
    assert_eq!(
        (
            e["code"].as_u64(),
            e["category"].as_str(),
            e["fatal"].as_bool()
        ),
        (Some(8), Some("PUBLISH_ERROR"), Some(false)),
        "{e}"
    );
    // Nor subscribe to a participant that publishes nothing (the client, not yet).
    let (_c, offer) = Client::new(Direction::RecvOnly).await;
    let pid = ivs.client_participant_id.clone();
    send(
        &mut viewer,
        json!({"type": "subscribe", "participant_id": pid, "sdp": offer}),
    )
    .await;
    assert_eq!(
        expect_type(&mut viewer, "error").await["category"],
        "SUBSCRIBE_ERROR"
    );
    // But it may subscribe to the server participant.
    let (_c, offer) = Client::new(Direction::RecvOnly).await;
    send(
        &mut viewer,
        json!({"type": "subscribe", "participant_id": server_participant, "sdp": offer}),
    )
    .await;
    let answer = expect_type(&mut viewer, "answer").await;
    assert_eq!(answer["target"], server_participant.as_str());
    assert!(
        answer["sdp"].as_str().unwrap().contains("a=sendonly"),
        "{answer}"
    );
    let cand = expect_type(&mut viewer, "candidate").await;
    assert!(
        cand["candidate"]["candidate"]
            .as_str()
            .unwrap()
            .contains(" 127.0.0.1 "),
        "{cand}"
    );

    // The client publishing shows on the viewer's side.
    let (_p, offer) = Client::new(Direction::SendOnly).await;
    send(&mut client, json!({"type": "publish", "sdp": offer})).await;
    assert_eq!(
        expect_type(&mut client, "answer").await["target"],
        "publish"
    );
    assert_eq!(
        expect_type(&mut client, "candidate").await["target"],
        "publish"
    );
    let upd = expect_type(&mut viewer, "participant_updated").await;
    assert_eq!(upd["participant"]["id"], ivs.client_participant_id.as_str());
    assert_eq!(upd["participant"]["is_publishing"], true);
    assert_eq!(upd["participant"]["streams"], json!(["video", "audio"]));

    // The stage lists who is connected.
    let (status, body) = http_get(srv.http_addr, &format!("/v1/stage/{}", ivs.stage_id), &[]).await;
    assert_eq!(status, 200);
    let stage: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stage["connected"].as_array().unwrap().len(), 2, "{stage}");

    // The viewer leaving shows on the client's side.
    send(&mut viewer, json!({"type": "leave"})).await;
    expect_closed(&mut viewer).await;
    let left = expect_type(&mut client, "participant_left").await;
    assert_eq!(left["participant_id"], viewer_id.as_str());

    // The session ending deletes the stage: its participants are told and disconnected.
    drop(ivs.ws);
    assert_eq!(
        expect_type(&mut client, "left").await["reason"],
        "stage-deleted"
    );
    expect_closed(&mut client).await;
    let t = ivs.client_token.clone();
    let mut again = stage_join(srv.http_addr, &ivs.stage_id, &t).await;
    expect_refused(&mut again, 9, None).await;
    srv.stop().await;
}

#[tokio::test]
async fn a_reused_token_replaces_the_older_connection() {
    let srv = server().await;
    let ivs = ivs_session(srv.http_addr, "").await;
    let mut first = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    expect_joined(&mut first).await;
    let mut second = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    expect_joined(&mut second).await;
    assert_eq!(
        expect_type(&mut first, "left").await["reason"],
        "token-reused"
    );
    expect_closed(&mut first).await;
    // The newer connection is still on the stage.
    expect_quiet(&mut second, Duration::from_millis(300)).await;
    let (_, body) = http_get(srv.http_addr, &format!("/v1/stage/{}", ivs.stage_id), &[]).await;
    assert!(body.contains(&ivs.client_participant_id), "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn fault_disconnect_during_setup_refuses_the_client() {
    let srv = server().await;
    let ivs = ivs_session(srv.http_addr, "&fault_ivs=disconnect_during_setup").await;
    let mut ws = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    let e = expect_refused(&mut ws, 10, Some("participant-disconnected")).await;
    assert_eq!(e["category"], "JOIN_ERROR");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("disconnect_during_setup"),
        "{e}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn fault_no_server_streams_the_server_joins_but_never_publishes() {
    let srv = server().await;
    let ivs = ivs_session(srv.http_addr, "&fault_ivs=no_server_streams").await;
    let mut ws = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    let joined = expect_joined(&mut ws).await;
    let server_participant = &joined["participants"][0];
    assert!(server_participant["id"]
        .as_str()
        .unwrap()
        .starts_with("pserver_"));
    assert_eq!(server_participant["is_publishing"], false);
    assert_eq!(server_participant["streams"], json!([]));
    let (_c, offer) = Client::new(Direction::RecvOnly).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "participant_id": server_participant["id"], "sdp": offer}),
    )
    .await;
    let e = expect_type(&mut ws, "error").await;
    assert_eq!(
        (e["category"].as_str(), e["fatal"].as_bool()),
        (Some("SUBSCRIBE_ERROR"), Some(false)),
        "{e}"
    );
    // Publishing still works and the stage stays up.
    let (_p, offer) = Client::new(Direction::SendOnly).await;
    send(&mut ws, json!({"type": "publish", "sdp": offer})).await;
    expect_type(&mut ws, "answer").await;
    expect_type(&mut ws, "candidate").await;
    expect_quiet(&mut ws, Duration::from_millis(500)).await;
    srv.stop().await;
}

#[tokio::test]
async fn fault_stage_error_after_ms_tears_the_stage_down() {
    let srv = server().await;
    let ivs = ivs_session(srv.http_addr, "&fault_ivs=stage_error_after_ms:400").await;
    let (vtoken, _) = ivs_viewer_token(srv.http_addr, &ivs.sid).await;
    let mut viewer = stage_join(srv.http_addr, &ivs.stage_id, &vtoken).await;
    expect_joined(&mut viewer).await;
    // The timer starts at the client's join.
    expect_quiet(&mut viewer, Duration::from_millis(600)).await;
    let joined_at = Instant::now();
    let mut client = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    expect_joined(&mut client).await;
    expect_type(&mut viewer, "participant_joined").await;
    for ws in [&mut client, &mut viewer] {
        let e = expect_refused(ws, 4, Some("unknown")).await;
        assert_eq!(e["category"], "JOIN_ERROR");
    }
    let t = joined_at.elapsed();
    assert!(
        t >= Duration::from_millis(380) && t < Duration::from_millis(2000),
        "{t:?}"
    );
    // The stage is gone (no rejoin, no viewer token), the session socket stays open.
    assert_eq!(
        http_get(srv.http_addr, &format!("/v1/stage/{}", ivs.stage_id), &[])
            .await
            .0,
        404
    );
    let (status, _) = http_get(
        srv.http_addr,
        &format!("/v1/subscribe-ivs/{}", ivs.sid),
        &[("x-api-key", "k")],
    )
    .await;
    assert_eq!(status, 404);
    let mut again = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    expect_refused(&mut again, 9, None).await;
    let mut session = ivs.ws;
    send(&mut session, json!({"type": "ivs_joined"})).await;
    send(
        &mut session,
        json!({"type": "prompt", "prompt": "still here", "enhance_prompt": false}),
    )
    .await;
    assert_eq!(
        expect_type(&mut session, "prompt_ack").await["success"],
        true
    );
    srv.stop().await;
}

#[tokio::test]
async fn media_through_the_stage_reaches_the_client_and_viewers_unchanged() {
    let srv = server().await;
    let mut ivs = ivs_session(srv.http_addr, "").await;
    let mut stage = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    let joined = expect_joined(&mut stage).await;
    let server_participant = server_participant(&joined);
    send(&mut ivs.ws, json!({"type": "ivs_joined"})).await;
    let messages = collect(ivs.ws);

    // The client publishes (sendonly) and subscribes to the server participant (recvonly).
    let (mut publisher, mut own) = stage_publish_and_watch(&mut stage, &server_participant).await;

    // Two viewers with viewer tokens.
    let mut viewers = Vec::new();
    for _ in 0..2 {
        let (token, _) = ivs_viewer_token(srv.http_addr, &ivs.sid).await;
        let mut ws = stage_join(srv.http_addr, &ivs.stage_id, &token).await;
        expect_joined(&mut ws).await;
        let (mut c, offer) = Client::new(Direction::RecvOnly).await;
        let sub = json!({"type": "subscribe", "participant_id": server_participant, "sdp": offer});
        stage_negotiate(&mut ws, &mut c, sub).await;
        viewers.push((ws, c));
    }
    let [(_w1, mut v1), (_w2, mut v2)] = <[_; 2]>::try_from(viewers).ok().unwrap();

    let sent = Mutex::new(Vec::new());
    let never = (
        Mutex::new(Vec::new()),
        Mutex::new(Vec::new()),
        Mutex::new(Vec::new()),
    );
    let [pgot, got, g1, g2]: [Mutex<Received>; 4] = Default::default();
    let d = Duration::from_millis(3500);
    tokio::join!(
        publisher.run(d, true, &sent, &pgot),
        own.run(d, false, &never.0, &got),
        v1.run(d, false, &never.1, &g1),
        v2.run(d, false, &never.2, &g2),
    );
    let sent = sent.into_inner().unwrap();
    assert!(sent.len() >= 40, "sent {}", sent.len());
    assert!(
        pgot.into_inner().unwrap().video.is_empty(),
        "a stage publisher gets no echo on its own connection"
    );
    for (who, got) in [("client", got), ("viewer 1", g1), ("viewer 2", g2)] {
        let got = got.into_inner().unwrap();
        eprintln!(
            "{who}: {} video frames, {} audio packets of {} sent",
            got.video.len(),
            got.audio,
            sent.len()
        );
        assert!(got.connected, "{who}");
        assert!(
            got.video.len() >= sent.len() / 2,
            "{who} got {} of {}",
            got.video.len(),
            sent.len()
        );
        assert!(
            got.video.iter().all(|(_, f)| sent.contains(f)),
            "{who}: frames arrive byte for byte"
        );
        assert!(got.audio > 20, "{who}: audio {}", got.audio);
    }
    assert!(sent.contains(&vp8_frame(0, 3000)));

    // The session saw the media as on /v1/stream.
    let msgs = messages.lock().unwrap().clone();
    let types: Vec<&str> = msgs
        .iter()
        .filter_map(|(_, v)| v["type"].as_str())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "generation_started").count(),
        1,
        "{types:?}"
    );
    let fps: Vec<(f64, f64)> = msgs
        .iter()
        .filter(|(_, v)| v["type"] == "metrics_report")
        .filter_map(|(_, v)| v["input_fps"].as_f64().zip(v["output_fps"].as_f64()))
        .collect();
    eprintln!("session metrics (input_fps, output_fps): {fps:?}");
    assert!(fps.iter().any(|(i, o)| *i > 10.0 && *o > 10.0), "{fps:?}");
    let last = msgs
        .iter()
        .rev()
        .find(|(_, v)| v["type"] == "metrics_report")
        .unwrap()
        .1
        .clone();
    assert!(last["bitrate_kbps"].as_f64().unwrap() > 50.0, "{last}");
    srv.stop().await;
}

#[tokio::test]
async fn no_server_streams_means_no_output_in_the_metrics() {
    let srv = server().await;
    let mut ivs = ivs_session(srv.http_addr, "&fault_ivs=no_server_streams").await;
    let mut stage = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    expect_joined(&mut stage).await;
    send(&mut ivs.ws, json!({"type": "ivs_joined"})).await;
    let messages = collect(ivs.ws);
    let mut publisher = stage_publish(&mut stage).await;
    let (sent, got) = (Mutex::new(Vec::new()), Mutex::new(Received::default()));
    publisher
        .run(Duration::from_millis(2500), true, &sent, &got)
        .await;
    let msgs = messages.lock().unwrap().clone();
    let fps: Vec<(f64, f64)> = msgs
        .iter()
        .filter(|(_, v)| v["type"] == "metrics_report")
        .filter_map(|(_, v)| v["input_fps"].as_f64().zip(v["output_fps"].as_f64()))
        .collect();
    assert!(fps.iter().any(|(i, _)| *i > 10.0), "{fps:?}");
    assert!(fps.iter().all(|(_, o)| *o == 0.0), "{fps:?}");
    srv.stop().await;
}

#[tokio::test]
async fn the_emulator_is_served_as_classic_script_and_module() {
    // Served whatever --www is.
    let srv = server_with(|c| c.www = "/nonexistent-www".into()).await;
    let (status, headers, classic) = http_get_full(srv.http_addr, "/ivs-emulator.js").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/javascript"),
        "{headers:?}"
    );
    assert!(classic.contains("var IVSBroadcastClient = (function () {"));
    for value in [
        "\"stageConnectionStateChanged\"",
        "\"stageParticipantStreamsAdded\"",
        "\"audio_video\"",
        "\"audio_only\"",
        "\"errored\"",
        "\"user-initiated\"",
        "\"JOIN_ERROR\"",
        "\"TOKEN_MALFORMED\"",
    ] {
        assert!(classic.contains(value), "{value}");
    }
    assert!(
        !classic.contains("export "),
        "a classic script has no exports"
    );

    let (status, headers, module) = http_get_full(srv.http_addr, "/ivs-emulator.mjs").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/javascript"),
        "{headers:?}"
    );
    assert!(
        module.starts_with(&classic),
        "the module is the classic script plus exports"
    );
    let exports = &module[classic.len()..];
    for name in [
        "Stage",
        "LocalStageStream",
        "StageEvents",
        "SubscribeType",
        "StageConnectionState",
        "StreamType",
    ] {
        assert!(
            exports.contains(&format!("  {name},\n")),
            "{name} in {exports}"
        );
    }
    assert!(exports.contains("export default IVSBroadcastClient;"));
    // No CSP on scripts, only on pages.
    assert!(header(&headers, "content-security-policy").is_none());
    srv.stop().await;
}

#[tokio::test]
async fn html_carries_the_csp_unless_disabled_and_vendor_is_served_when_asked() {
    let vendor = fixtures().join("pkg");
    let srv = server_with(|c| c.vendor = Some(vendor.clone())).await;
    let (status, headers, _) = http_get_full(srv.http_addr, "/").await;
    assert_eq!(status, 200);
    let csp = header(&headers, "content-security-policy").expect("a CSP on HTML");
    assert_eq!(csp, realtime_reference_server::config::DEFAULT_CSP);
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"));
    let (_, headers, _) = http_get_full(srv.http_addr, "/pkg/fixture.js").await;
    assert!(header(&headers, "content-security-policy").is_none());
    let (status, _, body) = http_get_full(srv.http_addr, "/vendor/fixture.js").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "export const pkgFixture = 1;\n")
    );
    srv.stop().await;

    let srv = server_with(|c| c.csp = Some("default-src 'none'".into())).await;
    let (_, headers, _) = http_get_full(srv.http_addr, "/").await;
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some("default-src 'none'")
    );
    assert_eq!(
        http_get_full(srv.http_addr, "/vendor/fixture.js").await.0,
        404,
        "no --vendor, no /vendor/"
    );
    srv.stop().await;

    let srv = server_with(|c| c.csp = None).await;
    let (status, headers, _) = http_get_full(srv.http_addr, "/").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-security-policy").is_none());
    srv.stop().await;
}
