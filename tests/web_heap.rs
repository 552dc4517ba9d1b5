//! The wasm heap over many sessions, in headless Chromium with the fake camera, against the
//! reference server started by the test command. A page of its own, so that no other
//! suite's session allocates beside the measurement.
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use realtime_video_sdk::web_api::heap_in_use;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// One session as a page runs it: connect with listeners, until the first stats,
/// `disconnect()`, and the client dropped with `free()`, as the garbage collector would.
async fn one_session() {
    let camera = fake_camera(true).await;
    let o = obj(r#"{"model": "mirage"}"#);
    let remote = RemoteStream::default();
    let on_remote = remote.callback();
    set(&o, "onRemoteStream", on_remote.as_ref().clone());
    let client = await_promise(call(&factory("test-key"), "connect", &[camera.into(), o]))
        .await
        .expect("connect");
    let events = Recorder::default();
    let _cbs = events.attach(&client, &["connectionChange", "stats", "diagnostic"]);
    let ev = events.clone();
    assert!(
        wait_until(5000, || !ev.of("stats").is_empty()).await,
        "no stats while connected"
    );
    call(&client, "disconnect", &[]);
    call(&client, "free", &[]);
    sleep(500).await;
}

/// Sessions give back the memory they took: after a warm-up, more sessions leave the heap
/// in use where it was (a leak of a few hundred bytes per session fails this).
#[wasm_bindgen_test]
async fn sessions_give_back_their_heap() {
    for _ in 0..3 {
        one_session().await;
    }
    let before = heap_in_use();
    const MORE: usize = 6;
    for _ in 0..MORE {
        one_session().await;
    }
    let after = heap_in_use();
    assert!(
        after <= before + MORE * 128,
        "the heap in use grew from {before} to {after} bytes over {MORE} sessions"
    );
}
