//! WebRTC media end to end on loopback: a str0m client offers, sends synthetic VP8 frames
//! and Opus packets, and must get them back byte for byte; a viewer gets the same frames;
//! the stall fault pauses the echo.

mod common;

use common::rtc::{collect, Client, Received};
use common::*;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use str0m::media::Direction;

/// Sends the offer, returns the answer's SDP and the trickled server candidate.
async fn negotiate(ws: &mut Ws, client: &mut Client, offer: String) -> (String, Value) {
    send(ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = expect_type(ws, "answer").await;
    let sdp = answer["sdp"].as_str().unwrap().to_string();
    let cand = expect_type(ws, "ice-candidate").await;
    client.accept(&sdp);
    (sdp, cand)
}

#[tokio::test]
async fn offer_gets_an_answer_with_a_loopback_candidate() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    // Trickled candidates before and after the offer are accepted, including null.
    send(&mut ws, json!({"type": "ice-candidate", "candidate": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host generation 0", "sdpMid": "0", "sdpMLineIndex": 0}})).await;
    let (mut client, offer) = Client::new(Direction::SendRecv).await;
    let (sdp, cand) = negotiate(&mut ws, &mut client, offer).await;
    let udp = srv.udp_addr.to_string().replace(':', " ");
    assert!(
        sdp.lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(&udp)),
        "{sdp}"
    );
    assert!(
        sdp.lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .all(|l| l.contains(" 127.0.0.1 ")),
        "{sdp}"
    );
    assert!(sdp.contains("VP8"), "{sdp}");
    let c = &cand["candidate"];
    assert!(
        c["candidate"].as_str().unwrap().starts_with("candidate:")
            && c["candidate"].as_str().unwrap().contains(&udp),
        "{cand}"
    );
    assert!(c["sdpMid"].is_string() && c["sdpMLineIndex"] == 0, "{cand}");
    send(&mut ws, json!({"type": "ice-candidate", "candidate": null})).await;
    send(
        &mut ws,
        json!({"type": "prompt", "prompt": "after offer", "enhance_prompt": false}),
    )
    .await;
    assert_eq!(expect_type(&mut ws, "prompt_ack").await["success"], true);
    srv.stop().await;
}

#[tokio::test]
async fn vp8_and_audio_are_echoed_unchanged_and_fanned_out_to_a_viewer() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "").await;
    let sid = expect_session_id(&mut ws).await;
    let (mut publisher, offer) = Client::new(Direction::SendRecv).await;
    negotiate(&mut ws, &mut publisher, offer).await;
    let messages = collect(ws);

    let mut vws = connect(
        srv.http_addr,
        &format!(
            "/subscribe/{sid}?IP=127.0.0.1&port={}&api_key=k",
            srv.http_addr.port()
        ),
    )
    .await;
    let (mut viewer, voffer) = Client::new(Direction::RecvOnly).await;
    let (vsdp, _) = negotiate(&mut vws, &mut viewer, voffer).await;
    assert!(vsdp.contains("a=sendonly"), "{vsdp}");

    let sent = Mutex::new(Vec::new());
    let (got, vgot) = (
        Mutex::new(Received::default()),
        Mutex::new(Received::default()),
    );
    let never = Mutex::new(Vec::new());
    tokio::join!(
        publisher.run(Duration::from_millis(3500), true, &sent, &got),
        viewer.run(Duration::from_millis(3500), false, &never, &vgot),
    );

    let sent = sent.into_inner().unwrap();
    let got = got.into_inner().unwrap();
    let vgot = vgot.into_inner().unwrap();
    eprintln!(
        "sent {} frames; echoed {} video, {} audio, {} keyframe requests; viewer {} video, {} audio",
        sent.len(),
        got.video.len(),
        got.audio,
        got.keyframe_requests,
        vgot.video.len(),
        vgot.audio
    );
    assert!(got.connected && vgot.connected);
    assert!(sent.len() >= 40, "sent {}", sent.len());
    // Byte-identical echo of (nearly) every frame, in order.
    let echoed: Vec<&Vec<u8>> = got.video.iter().map(|(_, f)| f).collect();
    assert!(
        echoed.len() >= sent.len() * 7 / 10,
        "echoed {} of {}",
        echoed.len(),
        sent.len()
    );
    for f in &echoed {
        assert!(
            sent.contains(f),
            "an echoed frame differs from every sent frame"
        );
    }
    let big = echoed.iter().filter(|f| f.len() == 3000).count();
    assert!(big > 0, "multi-packet frames survive");
    assert!(got.audio > 50, "audio echoed: {}", got.audio);
    // The viewer got the same frames.
    assert!(vgot.video.len() >= 20, "viewer got {}", vgot.video.len());
    for (_, f) in &vgot.video {
        assert!(sent.contains(f));
    }
    assert!(vgot.audio > 20);
    // The viewer's arrival asked the publisher for a keyframe.
    assert!(
        got.keyframe_requests >= 1,
        "keyframe requests {}",
        got.keyframe_requests
    );

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
    let started = types
        .iter()
        .position(|t| *t == "generation_started")
        .unwrap();
    assert!(types[started..].contains(&"generation_tick"), "{types:?}");
    let fps: Vec<f64> = msgs
        .iter()
        .filter(|(_, v)| v["type"] == "metrics_report")
        .filter_map(|(_, v)| {
            v["input_fps"]
                .as_f64()
                .zip(v["output_fps"].as_f64())
                .map(|(i, o)| i.min(o))
        })
        .collect();
    eprintln!("measured min(input_fps, output_fps) per second: {fps:?}");
    assert!(fps.iter().any(|f| *f > 10.0), "measured fps {fps:?}");
    let last = msgs
        .iter()
        .rev()
        .find(|(_, v)| v["type"] == "metrics_report")
        .unwrap()
        .1
        .clone();
    assert!(last["bitrate_kbps"].as_f64().unwrap() > 50.0, "{last}");
    assert!(last["pipeline_latency_ms"].as_f64().is_some(), "{last}");
    srv.stop().await;
}

#[tokio::test]
async fn fault_stall_pauses_the_echo() {
    let srv = server().await;
    let mut ws = session(
        srv.http_addr,
        "&fault_stall_after_ms=800&fault_stall_ms=1200",
    )
    .await;
    expect_session_id(&mut ws).await;
    let (mut client, offer) = Client::new(Direction::SendRecv).await;
    negotiate(&mut ws, &mut client, offer).await;
    let _messages = collect(ws);
    let sent = Mutex::new(Vec::new());
    let got = Mutex::new(Received::default());
    client
        .run(Duration::from_millis(3800), true, &sent, &got)
        .await;
    let got = got.into_inner().unwrap();
    let times: Vec<Instant> = got.video.iter().map(|(t, _)| *t).collect();
    assert!(times.len() > 20, "{}", times.len());
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    eprintln!("{} frames echoed, longest gap {gap:?}", times.len());
    assert!(
        gap >= Duration::from_millis(1000) && gap < Duration::from_millis(2500),
        "longest gap {gap:?}"
    );
    let gap_end = times.windows(2).find(|w| w[1] - w[0] == gap).unwrap()[1];
    assert!(
        times.iter().filter(|t| **t >= gap_end).count() > 10,
        "media resumes after the stall"
    );
    srv.stop().await;
}
