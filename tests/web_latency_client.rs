//! Latency tracking through the public client (`latencyTracking` connect option), on both
//! transports, in headless Chromium with the fake camera against the reference server (which
//! echoes video unchanged, so a pixel marker stamped on the camera comes back on the output).
#![cfg(target_arch = "wasm32")]

mod common;
use common::*;
use futures_util::future::join;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const EVENTS: &[&str] = &[
    "connectionChange",
    "error",
    "pixelLatency",
    "pixelLatencyEvent",
    "pixelLatencyReport",
    "compositeLatency",
];

struct Session {
    client: JsValue,
    events: Recorder,
    camera: web_sys::MediaStream,
    _cbs: Vec<Closure<dyn FnMut(JsValue)>>,
    _on_remote: Closure<dyn FnMut(JsValue)>,
}

/// Connects with `latencyTracking` over `transport`; `extra` is more JSON members.
async fn connect(transport: &str, latency: &str, extra: &str) -> Session {
    let camera = fake_camera(false).await;
    let ivs = if transport == "ivs" {
        format!(r#", "ivsSdkUrl": "{}/ivs-emulator.js""#, http_base())
    } else {
        String::new()
    };
    let o = obj(&format!(
        r#"{{"model": "mirage", "transport": "{transport}", "latencyTracking": {latency}{ivs}{extra}}}"#
    ));
    let (outcome, _remote, on_remote) = connect_client(&camera.clone().into(), &o).await;
    let client = outcome.expect("connect");
    let events = Recorder::default();
    let cbs = events.attach(&client, EVENTS);
    Session {
        client,
        events,
        camera,
        _cbs: cbs,
        _on_remote: on_remote,
    }
}

fn num(v: &JsValue, k: &str) -> f64 {
    get(v, k)
        .as_f64()
        .unwrap_or_else(|| panic!("{k} is not a number in {v:?}"))
}

/// A figure of a report's own period (`period`, this SDK's extra).
fn per(r: &JsValue, k: &str) -> f64 {
    num(&get(r, "period"), k)
}

/// Pixel markers read back from the remote stream (flags are off unless true).
const MARKERS: &str = r#""pixelMarker": true, "composite": true, "readFromRemoteStream": true"#;

fn video_elements() -> u32 {
    web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .get_elements_by_tag_name("video")
        .length()
}

/// Every-frame probes come back through the echo, reports arrive every 5 s with the
/// figures of their own period, the composite estimate follows the server's metrics, and a
/// disconnect stops everything the latency tracking made.
async fn markers_round_trip(transport: &str) {
    let videos_before = video_elements();
    let s = connect(
        transport,
        &format!("{{{MARKERS}, \"probeIntervalMs\": 0}}"),
        "",
    )
    .await;
    assert!(
        wait_until(20_000, || s.events.of("pixelLatencyReport").len() >= 2).await,
        "{transport}: two reports expected, got {} ({} probes read)",
        s.events.of("pixelLatencyReport").len(),
        s.events.of("pixelLatency").len()
    );
    let reports = s.events.of("pixelLatencyReport");
    let (received, lost, corrupted) = reports.iter().fold((0.0, 0.0, 0.0), |(r, l, c), x| {
        (
            r + per(x, "received"),
            l + per(x, "lost"),
            c + per(x, "corrupted"),
        )
    });
    // The fake camera runs at about 20 fps: two 5 s periods carry well over 100 probes.
    assert!(
        received >= 100.0,
        "{transport}: {received} probes read back in two reports"
    );
    assert!(
        received / (received + lost) >= 0.95,
        "{transport}: delivery {received} received, {lost} lost"
    );
    assert_eq!(corrupted, 0.0, "{transport}: corrupted markers");
    let mut last_received = 0.0;
    for r in &reports {
        assert_eq!(get(r, "mode").as_string().as_deref(), Some("e2e"), "{r:?}");
        // The reference's figures: cumulative since probing began, delivery = received ÷ sent.
        assert!(num(r, "received") >= last_received, "counts never decrease");
        last_received = num(r, "received");
        assert_eq!(num(r, "deliveryRate"), num(r, "received") / num(r, "sent"));
        assert!(num(r, "timestamp") > 1.6e12, "timestamp is wall-clock ms");
        let period = per(r, "endMs") - per(r, "startMs");
        assert!(
            (4000.0..=6500.0).contains(&period),
            "{transport}: a report covers {period} ms"
        );
        let median = per(r, "medianLatencyMs");
        assert!(
            median > 0.0 && median <= 300.0,
            "{transport}: median {median} ms on loopback"
        );
    }
    // Deltas, not totals: the second report counts only the reads of its own period.
    let (r1, r2) = (&reports[0], &reports[1]);
    assert!(
        (per(r2, "startMs") - per(r1, "endMs")).abs() < 1.0,
        "periods follow each other"
    );
    let reads_in = |r: &JsValue| {
        let (a, b) = (per(r, "startMs"), per(r, "endMs"));
        s.events
            .of("pixelLatency")
            .iter()
            .filter(|p| (a..b).contains(&num(p, "readAt")))
            .count() as f64
    };
    for r in [r1, r2] {
        let diff = (per(r, "received") - reads_in(r)).abs();
        assert!(
            diff <= 1.0,
            "{transport}: report says {} received, {} pixelLatency events in its period",
            per(r, "received"),
            reads_in(r)
        );
    }
    // The composite estimate arrives with the server's metrics (every second).
    let composite = s.events.of("compositeLatency");
    assert!(
        composite.len() >= 3,
        "{transport}: compositeLatency events: {}",
        composite.len()
    );
    assert!(composite.iter().all(|c| num(c, "compositeE2eMs") >= 0.0));
    let ok = s.events.of("pixelLatencyEvent");
    assert!(ok
        .iter()
        .any(|e| get(e, "status").as_string().as_deref() == Some("ok")));
    let p = &s.events.of("pixelLatency")[0];
    assert!(
        (num(p, "timestamp") - now()).abs() < 60_000.0,
        "timestamp ≈ Date.now()"
    );
    assert!(num(p, "e2eLatencyMs") > 0.0);
    assert!(
        video_elements() > videos_before,
        "{transport}: the reader plays the output in a hidden video"
    );

    call(&s.client, "disconnect", &[]);
    let count = s.events.len();
    sleep(2500).await;
    assert_eq!(
        s.events.len(),
        count,
        "{transport}: events after disconnect"
    );
    assert_eq!(
        video_elements(),
        videos_before,
        "{transport}: the hidden video is gone after disconnect"
    );
    let track = s.camera.get_video_tracks().get(0);
    assert_eq!(
        get(&track, "readyState").as_string().as_deref(),
        Some("live"),
        "the page's camera is the page's to stop"
    );
    for t in s.camera.get_tracks().iter() {
        call(&t, "stop", &[]);
    }
}

#[wasm_bindgen_test]
async fn markers_round_trip_over_webrtc() {
    markers_round_trip("webrtc").await;
}

#[wasm_bindgen_test]
async fn markers_round_trip_over_ivs() {
    markers_round_trip("ivs").await;
}

/// The server holds media back for 3 s: the probes stamped meanwhile never come back and
/// are counted lost once their 60 s TTL passes (`shared/PROTOCOL.md`), in a report and as
/// `pixelLatencyEvent`s. Both transports at once (this takes over a minute).
#[wasm_bindgen_test]
async fn a_media_stall_counts_lost_probes_on_both_transports() {
    let stall = r#", "extraQueryParams": {"fault_stall_after_ms": 3000, "fault_stall_ms": 3000}"#;
    let (a, b) = join(
        connect(
            "webrtc",
            &format!("{{{MARKERS}, \"probeIntervalMs\": 250}}"),
            stall,
        ),
        connect(
            "ivs",
            &format!("{{{MARKERS}, \"probeIntervalMs\": 250}}"),
            stall,
        ),
    )
    .await;
    for (name, s) in [("webrtc", &a), ("ivs", &b)] {
        let lost_events = || {
            s.events
                .of("pixelLatencyEvent")
                .iter()
                .filter(|e| get(e, "status").as_string().as_deref() == Some("lost"))
                .count() as f64
        };
        let lost_reported = || {
            s.events
                .of("pixelLatencyReport")
                .iter()
                .last()
                .map_or(0.0, |r| num(r, "lost"))
        };
        // Probes expire one by one; the report after the last expiry counts them all.
        let settled = wait_until(85_000, || {
            lost_reported() >= 6.0 && lost_reported() == lost_events()
        })
        .await;
        assert!(
            settled,
            "{name}: {} lost in reports, {} lost events",
            lost_reported(),
            lost_events()
        );
        let lost = lost_reported();
        // About 12 probes fall into 3 s at 250 ms; frames already in flight may still arrive.
        assert!(
            (6.0..=16.0).contains(&lost),
            "{name}: {lost} lost for a 3 s stall at 4 probes/s"
        );
        assert!(
            s.events.of("pixelLatency").len() > 20,
            "{name}: probes before and after the stall came back"
        );
        call(&s.client, "disconnect", &[]);
    }
}

#[wasm_bindgen_test]
async fn a_video_element_that_is_not_one_is_refused() {
    let camera = fake_camera(false).await;
    let o = obj(r#"{"model": "mirage", "latencyTracking": {"videoElement": {"a": 1}}}"#);
    let remote = RemoteStream::default();
    let cb = remote.callback();
    set(&o, "onRemoteStream", cb.as_ref().clone());
    let e = await_promise(call(
        &factory("test-key"),
        "connect",
        &[camera.clone().into(), o],
    ))
    .await
    .expect_err("must fail");
    assert_eq!(code(&e), "INVALID_OPTIONS");
    assert!(
        message(&e).contains("latencyTracking.videoElement"),
        "{}",
        message(&e)
    );
}
