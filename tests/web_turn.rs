//! TURN relay end to end through the SDK, in headless Chromium with the fake camera, against
//! the reference server and the coturn the test command starts (the server sends each session
//! a `turn_config` for it). `iceTransportPolicy: "udp"` / `"tcp"` force relay-only ICE over
//! that transport: video must flow, and the pair in use must have a local `relay` candidate
//! of that relay protocol. `fault_turn` delays the `turn_config` past the first answer (ICE
//! restarts with it) or never sends it (the connect must end, clearly, in bounded time).
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Connects the fake camera with `iceTransportPolicy: policy`; `extra` is more members of
/// the options.
async fn connect(policy: &str, extra: &str) -> Result<Session, JsValue> {
    let camera = fake_camera(false).await;
    let o = obj(&format!(
        r#"{{"model": "mirage", "iceTransportPolicy": "{policy}"{extra}}}"#
    ));
    let remote = RemoteStream::default();
    let on_remote = remote.callback();
    set(&o, "onRemoteStream", on_remote.as_ref().clone());
    let client = await_promise(call(&factory("test-key"), "connect", &[camera.into(), o])).await?;
    let events = Recorder::default();
    let cbs = events.attach(&client, &["diagnostic", "stats", "error"]);
    Ok(Session {
        client,
        events,
        remote,
        _cbs: cbs,
        _on_remote: on_remote,
    })
}

/// Video flows, and both the `selectedCandidatePair` diagnostic and the stats' selected
/// pair have a local relay candidate over `protocol`.
async fn relayed_video(s: &Session, protocol: &str) {
    let video = play(&s.remote.get().expect("onRemoteStream was called"));
    assert!(
        wait_until(15_000, || frames(&video) > 20).await,
        "remote frames did not advance over the {protocol} relay: {}",
        frames(&video)
    );
    let local = |pair: &JsValue| {
        let l = get(pair, "local");
        (
            get(&l, "candidateType").as_string().unwrap_or_default(),
            get(&l, "relayProtocol").as_string().unwrap_or_default(),
        )
    };
    let want = ("relay".to_string(), protocol.to_string());
    let pairs = s.events.diagnostics("selectedCandidatePair");
    let diag = pairs.last().map(|d| local(&get(d, "data")));
    assert_eq!(
        diag.as_ref(),
        Some(&want),
        "{} pair diagnostics",
        pairs.len()
    );
    let ok = wait_until(5_000, || {
        s.events
            .of("stats")
            .last()
            .is_some_and(|st| local(&get(&get(st, "connection"), "selectedCandidatePair")) == want)
    })
    .await;
    assert!(
        ok,
        "stats.connection.selectedCandidatePair is not a {protocol} relay"
    );
    video.remove();
    call(&s.client, "disconnect", &[]);
}

#[wasm_bindgen_test]
async fn relay_over_udp_carries_video() {
    let s = connect("udp", "")
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    relayed_video(&s, "udp").await;
}

#[wasm_bindgen_test]
async fn relay_over_tcp_carries_video() {
    let s = connect("tcp", "")
        .await
        .unwrap_or_else(|e| panic!("{}", why(&e)));
    relayed_video(&s, "tcp").await;
}

#[wasm_bindgen_test]
async fn a_late_turn_config_restarts_ice_and_connects() {
    let s = connect(
        "udp",
        r#", "extraQueryParams": {"fault_turn": "delay:1500"}, "maxRetries": 0"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{}", why(&e)));
    // The first offer had no TURN server; the restart's offer is the one that connected.
    sleep(200).await; // the events of the connect are delivered right after it resolves
    let offers = s
        .events
        .diagnostics("signalingStateChange")
        .iter()
        .filter(|d| {
            get(&get(d, "data"), "state").as_string().as_deref() == Some("have-local-offer")
        })
        .count();
    assert!(offers >= 2, "{offers} offers: no ICE restart");
    relayed_video(&s, "udp").await;
}

#[wasm_bindgen_test]
async fn no_turn_config_ends_the_connect_clearly_in_bounded_time() {
    let t = Tracker::install();
    let mark = t.mark();
    let started = now();
    let r = connect(
        "udp",
        r#", "extraQueryParams": {"fault_turn": "never"}, "maxRetries": 0"#,
    )
    .await;
    let took = now() - started;
    let e = r
        .err()
        .expect("relay-only ICE without any TURN server cannot connect");
    assert_eq!(code(&e), "WEBRTC_ICE_ERROR", "{}", why(&e));
    assert!(why(&e).contains("turn_config"), "{}", why(&e));
    assert!(took < 20_000.0, "took {took} ms");
    t.assert_nothing_left_open(mark).await;
}
