//! The wasm heap over many sessions, in headless Chromium with the fake camera, against the
//! reference server started by the test command. A page of its own, so that no other
//! suite's session allocates beside the measurement. Debug builds only: the heap counter
//! exists where debug assertions are on (`src/heap.rs`).
#![cfg(all(target_arch = "wasm32", debug_assertions))]

mod common;
use common::*;
use realtime_video_sdk::web_api::heap_in_use;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// One session as a page runs it: connect with listeners, until the first stats,
/// `disconnect()`, and the client dropped with `free()`, as the garbage collector would.
async fn one_session() {
    let camera = fake_camera(false).await;
    let o = obj(r#"{"model": "mirage"}"#);
    let (outcome, _remote, _on_remote) = connect_client(&camera.clone().into(), &o).await;
    let client = outcome.expect("connect");
    let events = Recorder::default();
    let _cbs = events.attach(&client, &["connectionChange", "stats", "diagnostic"]);
    let ev = events.clone();
    assert!(
        wait_until(10_000, || !ev.of("stats").is_empty()).await,
        "no stats while connected"
    );
    call(&client, "disconnect", &[]);
    call(&client, "free", &[]);
    for t in camera.get_tracks().iter() {
        t.unchecked_into::<web_sys::MediaStreamTrack>().stop();
    }
}

/// The heap in use once it has settled: two readings 100 ms apart agree (the last tasks of
/// a session end a little after `disconnect()`).
async fn settled_heap() -> usize {
    let mut last = heap_in_use();
    for _ in 0..30 {
        sleep(100).await;
        let now = heap_in_use();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Sessions give back the memory they took. After a warm-up, the heap in use is read after
/// each of ten sessions. Readings wobble by a couple of hundred bytes (tasks and buffers of
/// the last session), while a leak adds up: the median of the last four readings may not
/// exceed the median of the first four by more than 512 bytes, so a leak of about 75 bytes
/// a session fails. Covers the default options (no latency tracking, telemetry or IVS);
/// leaks on the JS side are not seen here.
#[wasm_bindgen_test]
async fn sessions_give_back_their_heap() {
    for _ in 0..3 {
        one_session().await;
    }
    let mut readings = vec![settled_heap().await];
    for _ in 0..10 {
        one_session().await;
        readings.push(settled_heap().await);
    }
    let median = |r: &[usize]| {
        let mut r = r.to_vec();
        r.sort_unstable();
        (r[1] + r[2]) / 2
    };
    let (first, last) = (
        median(&readings[..4]),
        median(&readings[readings.len() - 4..]),
    );
    assert!(
        last <= first + 512,
        "the heap in use grew from {first} to {last} bytes (medians of the first and last \
         four of the readings after each session: {readings:?})"
    );
}
