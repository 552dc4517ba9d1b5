//! `turn_config` on the wire: when the server has a TURN server, each WebRTC session and
//! viewer gets REST-style credentials and the URLs of its `ice_transport_policy` before the
//! answer; `fault_turn` delays or withholds it. (The relay path itself is checked in a real
//! browser against coturn: `tests/browser/turn-check.sh`.)

mod common;

use common::rtc::Client;
use common::*;
use realtime_reference_server::turn::{credentials, TurnServer, CREDENTIAL_TTL};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use str0m::media::Direction;

const SECRET: &str = "turn-test-secret";

async fn turn_server() -> realtime_reference_server::RunningServer {
    server_with(|c| {
        c.turn = Some(TurnServer {
            urls: vec!["turn:127.0.0.1:3478".into()],
            secret: SECRET.into(),
        })
    })
    .await
}

/// Sends an offer; returns when the answer arrived.
async fn offer(ws: &mut Ws) -> Instant {
    let (_client, sdp) = Client::new(Direction::SendRecv).await;
    send(ws, json!({"type": "offer", "sdp": sdp})).await;
    expect_type(ws, "answer").await;
    Instant::now()
}

fn check_credentials(v: &Value, sid: &str) {
    let user = v["username"].as_str().unwrap();
    let (expiry, user_sid) = user.split_once(':').expect("expiry:session");
    assert_eq!(user_sid, sid);
    let expiry: u64 = expiry.parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry.abs_diff(now + CREDENTIAL_TTL.as_secs()) < 60, "{v}");
    assert_eq!(v["credential"], credentials(SECRET, sid, expiry).1, "{v}");
}

#[tokio::test]
async fn turn_config_comes_before_the_answer_with_the_policy_urls() {
    let srv = turn_server().await;
    for (policy, urls) in [
        (
            "",
            vec![
                "turn:127.0.0.1:3478?transport=udp",
                "turn:127.0.0.1:3478?transport=tcp",
            ],
        ),
        (
            "&ice_transport_policy=all",
            vec![
                "turn:127.0.0.1:3478?transport=udp",
                "turn:127.0.0.1:3478?transport=tcp",
            ],
        ),
        (
            "&ice_transport_policy=udp",
            vec!["turn:127.0.0.1:3478?transport=udp"],
        ),
        (
            "&ice_transport_policy=tcp",
            vec!["turn:127.0.0.1:3478?transport=tcp"],
        ),
    ] {
        let mut ws = session(srv.http_addr, policy).await;
        let sid = expect_session_id(&mut ws).await;
        let v = expect_type(&mut ws, "turn_config").await;
        assert_eq!(v["urls"], json!(urls), "{policy}");
        check_credentials(&v, &sid);
        offer(&mut ws).await;
    }
    // A viewer gets its own.
    let mut publisher = session(srv.http_addr, "").await;
    let sid = expect_session_id(&mut publisher).await;
    let mut viewer = connect(
        srv.http_addr,
        &format!("/subscribe/{sid}?IP=127.0.0.1&port=1&api_key=k&ice_transport_policy=tcp"),
    )
    .await;
    let v = expect_type(&mut viewer, "turn_config").await;
    assert_eq!(v["urls"], json!(["turn:127.0.0.1:3478?transport=tcp"]));
    check_credentials(&v, &sid);
    // IVS sessions do not (the stage has its own ICE configuration).
    let mut ivs = connect(srv.http_addr, "/v1/stream-ivs?api_key=k&model=mirage").await;
    expect_session_id(&mut ivs).await;
    expect_type(&mut ivs, "ivs_stage_ready").await;
    srv.stop().await;
}

#[tokio::test]
async fn fault_turn_delays_or_withholds_turn_config() {
    let srv = turn_server().await;
    let mut ws = session(srv.http_addr, "&fault_turn=delay:500").await;
    let sid = expect_session_id(&mut ws).await;
    let answered = offer(&mut ws).await;
    expect_type(&mut ws, "ice-candidate").await;
    let v = expect_type(&mut ws, "turn_config").await;
    let t = answered.elapsed();
    assert!(
        t >= Duration::from_millis(450) && t < Duration::from_secs(3),
        "{t:?}"
    );
    check_credentials(&v, &sid);

    let mut ws = session(srv.http_addr, "&fault_turn=never").await;
    expect_session_id(&mut ws).await;
    offer(&mut ws).await;
    expect_type(&mut ws, "ice-candidate").await;
    expect_quiet(&mut ws, Duration::from_millis(1200)).await;
    srv.stop().await;
}

#[tokio::test]
async fn bad_turn_parameters_are_refused() {
    let srv = turn_server().await;
    for (extra, text) in [
        ("&ice_transport_policy=relay", "ice_transport_policy"),
        ("&fault_turn=late", "fault_turn"),
    ] {
        let mut ws = session(srv.http_addr, extra).await;
        let (errors, close) = expect_error_and_close(&mut ws).await;
        assert!(
            errors.len() == 1 && errors[0].contains(text),
            "{extra}: {errors:?}"
        );
        assert!(close.is_some());
    }
    srv.stop().await;

    // Without a TURN server: no turn_config, and fault_turn is an error.
    let srv = server().await;
    let mut ws = session(srv.http_addr, "&ice_transport_policy=udp").await;
    expect_session_id(&mut ws).await;
    offer(&mut ws).await;
    expect_type(&mut ws, "ice-candidate").await;
    expect_quiet(&mut ws, Duration::from_millis(300)).await;
    let mut ws = session(srv.http_addr, "&fault_turn=never").await;
    let (errors, _) = expect_error_and_close(&mut ws).await;
    assert!(errors[0].contains("--turn-urls"), "{errors:?}");
    srv.stop().await;
}
