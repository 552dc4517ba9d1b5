//! Transform mode end to end on loopback: a str0m client sends real VP8 (libvpx-encoded
//! test cards) and decodes what comes back: the prompt's effect, effect changes, a
//! reference image's tint, the passthrough, pixel markers carried (E2E) or stamped (WS
//! probe), viewers and IVS stage subscribers, metrics, model delay that slows only its own
//! session, and the echo that stays byte-exact.

mod common;

use common::rtc::{
    collect, server_participant, stage_negotiate, stage_publish_and_watch, Client, Received,
    VideoSource,
};
use common::video::*;
use common::*;
use realtime_reference_server::transform::MediaMode;
use realtime_video_sdk::core::base64;
use realtime_video_sdk::core::marker::MarkerRead;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use str0m::media::Direction;

const FRAME_INTERVAL: Duration = Duration::from_millis(40);

/// Opens a publisher on a session socket: offer, answer, candidate.
async fn publish(ws: &mut Ws) -> Client {
    let (mut client, offer) = Client::new(Direction::SendRecv).await;
    send(ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = expect_type(ws, "answer").await;
    client.accept(answer["sdp"].as_str().unwrap());
    expect_type(ws, "ice-candidate").await;
    client
}

/// Opens a WebRTC viewer of `sid`.
async fn view(addr: std::net::SocketAddr, sid: &str) -> (Ws, Client) {
    let path = format!(
        "/subscribe/{sid}?IP=127.0.0.1&port={}&api_key=k",
        addr.port()
    );
    let mut ws = connect(addr, &path).await;
    let (mut client, offer) = Client::new(Direction::RecvOnly).await;
    send(&mut ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = expect_type(&mut ws, "answer").await;
    client.accept(answer["sdp"].as_str().unwrap());
    (ws, client)
}

/// Sends `msg` and returns when its ack arrived (other messages are skipped).
async fn acked(ws: &mut Ws, msg: Value, ack: &str) -> (Instant, Value) {
    send(ws, msg).await;
    loop {
        let v = next_event(ws).await.expect("socket open");
        if v["type"] == ack {
            return (Instant::now(), v);
        }
    }
}

/// The picture frame `n` of the camera shows after `look` (what the server should send).
fn classify(shown: &Shown) -> Option<(u32, f64, f64)> {
    let MarkerRead::Seq(n) = shown.marker else {
        return None;
    };
    let input = picture(u32::from(n));
    let out = luma(&shown.picture);
    let inverted: Vec<u8> = luma(&input).iter().map(|y| 255 - y).collect();
    Some((
        u32::from(n),
        mean_abs_diff(out, luma(&input)),
        mean_abs_diff(out, &inverted),
    ))
}

#[tokio::test]
async fn prompts_restyle_the_video_and_markers_survive() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "&media_mode=transform").await;
    let sid = expect_session_id(&mut ws).await;
    let (_, ack) = acked(
        &mut ws,
        json!({"type": "prompt", "prompt": "a negative, please", "enhance_prompt": false}),
        "prompt_ack",
    )
    .await;
    assert_eq!(ack["success"], true);
    let mut client = publish(&mut ws).await;
    let (_vws, mut viewer) = view(srv.http_addr, &sid).await;

    let mut camera = Camera::new(true);
    let got = Mutex::new(Received::default());
    let vgot = Mutex::new(Received::default());
    let mut source = |n: u32, key: bool| camera.frame(n, key);
    let red_png = {
        let img = image::RgbImage::from_pixel(32, 32, image::Rgb([230, 20, 20]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        base64::encode(out.get_ref())
    };
    let script = async {
        // invert → grayscale → a red reference image → passthrough, 1.5 s each.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let gray = json!({"type": "prompt", "prompt": "Black and white", "enhance_prompt": false});
        let (gray_at, _) = acked(&mut ws, gray, "prompt_ack").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let bad = json!({"type": "set_image", "image_data": "bm90IGFuIGltYWdl"});
        let (_, bad_ack) = acked(&mut ws, bad, "set_image_ack").await;
        let image = json!({"type": "set_image", "image_data": red_png, "prompt": null});
        let (red_at, red_ack) = acked(&mut ws, image, "set_image_ack").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pass = json!({"type": "set_image", "image_data": null, "prompt": null});
        let (pass_at, _) = acked(&mut ws, pass, "set_image_ack").await;
        (gray_at, bad_ack, red_at, red_ack, pass_at)
    };
    let d = Duration::from_millis(6800);
    let src: VideoSource = &mut source;
    let (_, _, (gray_at, bad_ack, red_at, red_ack, pass_at)) = tokio::join!(
        client.drive(d, FRAME_INTERVAL, Some(src), &got),
        viewer.drive(d, FRAME_INTERVAL, None, &vgot),
        script,
    );
    assert_eq!(bad_ack["success"], false, "{bad_ack}");
    assert!(
        bad_ack["error"].as_str().unwrap().contains("PNG or JPEG"),
        "{bad_ack}"
    );
    assert_eq!(red_ack["success"], true, "{red_ack}");

    let got = got.into_inner().unwrap();
    let sent = camera.sent.len();
    let (shown, failed) = decode_all(&got.video);
    eprintln!(
        "sent {sent}, received {}, decoded {}, undecodable {failed}",
        got.video.len(),
        shown.len()
    );
    assert!(shown.len() * 10 >= sent * 7, "{} of {sent}", shown.len());
    assert_eq!(failed, 0);
    // The output frame size follows the input.
    assert!(shown
        .iter()
        .all(|s| s.picture.width() == W && s.picture.height() == H));

    // Every frame carries its input's marker (E2E), in order.
    let seqs: Vec<u32> = shown.iter().filter_map(classify).map(|c| c.0).collect();
    assert!(
        seqs.len() * 10 >= shown.len() * 9,
        "{} of {} marked",
        seqs.len(),
        shown.len()
    );
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Which effect each frame shows, by phase; a change takes effect within a few frames.
    let phase = |from: Instant, to: Option<Instant>| {
        shown
            .iter()
            .filter(move |s| s.at > from && to.is_none_or(|t| s.at <= t))
            .collect::<Vec<_>>()
    };
    let start = Instant::now() - Duration::from_secs(60);
    let invert = phase(start, Some(gray_at));
    let gray = phase(gray_at, Some(red_at));
    let red = phase(red_at, Some(pass_at));
    let pass = phase(pass_at, None);
    eprintln!(
        "frames per phase: invert {}, gray {}, red {}, passthrough {}",
        invert.len(),
        gray.len(),
        red.len(),
        pass.len()
    );
    for (name, frames) in [
        ("invert", &invert),
        ("gray", &gray),
        ("red", &red),
        ("pass", &pass),
    ] {
        assert!(frames.len() >= 15, "{name}: {} frames", frames.len());
    }
    const LATE: usize = 5;
    let is_inverted =
        |s: &Shown| classify(s).is_some_and(|(_, plain, inv)| inv < 12.0 && plain > 40.0);
    let is_plain = |s: &Shown| classify(s).is_some_and(|(_, plain, _)| plain < 12.0);
    let is_gray = |s: &Shown| chroma_spread(&s.picture) < 4.0 && is_plain(s);
    let is_red = |s: &Shown| redness(&s.picture) > 40.0;
    let is_colour =
        |s: &Shown| chroma_spread(&s.picture) > 30.0 && redness(&s.picture).abs() < 20.0;
    let tally =
        |frames: &[&Shown], f: &dyn Fn(&Shown) -> bool| frames.iter().filter(|s| f(s)).count();
    assert!(
        tally(&invert, &is_inverted) + 2 >= invert.len(),
        "invert: {} of {}",
        tally(&invert, &is_inverted),
        invert.len()
    );
    for (name, frames, check) in [
        ("gray", &gray, &is_gray as &dyn Fn(&Shown) -> bool),
        ("red", &red, &is_red),
        (
            "passthrough",
            &pass,
            &(|s: &Shown| is_plain(s) && is_colour(s)),
        ),
    ] {
        let first_ok = frames.iter().position(|s| check(s)).unwrap_or(frames.len());
        let ok_after = frames[first_ok..].iter().filter(|s| check(s)).count();
        eprintln!(
            "{name}: first changed frame {first_ok}, then {ok_after} of {}",
            frames.len() - first_ok
        );
        assert!(
            first_ok <= LATE,
            "{name}: changed only after {first_ok} frames"
        );
        assert_eq!(
            ok_after,
            frames.len() - first_ok,
            "{name}: every later frame"
        );
    }
    for (name, frames) in [
        ("invert", &invert),
        ("gray", &gray),
        ("red", &red),
        ("pass", &pass),
    ] {
        if let Some(s) = frames.last() {
            save_png(&s.picture, name);
        }
    }

    // The viewer gets the same transformed frames.
    let (vshown, vfailed) = decode_all(&vgot.into_inner().unwrap().video);
    eprintln!("viewer decoded {} ({vfailed} undecodable)", vshown.len());
    assert!(
        vshown.len() * 10 >= sent * 6,
        "viewer {} of {sent}",
        vshown.len()
    );
    assert!(vshown.iter().filter(|s| is_gray(s)).count() >= 10);
    assert!(vshown.iter().filter(|s| is_inverted(s)).count() >= 10);
    srv.stop().await;
}

/// Saves a picture as PNG under `TRANSFORM_PICTURES` (when set), to look at by hand.
fn save_png(f: &realtime_reference_server::codec::I420Frame, name: &str) {
    let Ok(dir) = std::env::var("TRANSFORM_PICTURES") else {
        return;
    };
    let rgb = realtime_reference_server::effects::to_rgb(f);
    let img = image::RgbImage::from_raw(f.width() as u32, f.height() as u32, rgb).unwrap();
    img.save(std::path::Path::new(&dir).join(format!("{name}.png")))
        .unwrap();
}

#[tokio::test]
async fn a_latency_probe_is_stamped_into_the_next_output_frame() {
    let srv = server_with(|c| c.media_mode = MediaMode::Transform).await;
    let mut ws = session(srv.http_addr, "").await;
    expect_session_id(&mut ws).await;
    let (_, ack) = acked(
        &mut ws,
        json!({"type": "prompt", "prompt": "pencil sketch", "enhance_prompt": false}),
        "prompt_ack",
    )
    .await;
    assert_eq!(ack["success"], true);
    let mut client = publish(&mut ws).await;
    let mut camera = Camera::new(false);
    let got = Mutex::new(Received::default());
    let mut source = |n: u32, key: bool| camera.frame(n, key);
    let src: VideoSource = &mut source;
    let probe = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let at = Instant::now();
        send(
            &mut ws,
            json!({"type": "latency_probe", "seq": 4242, "client_time": 1234.5}),
        )
        .await;
        at
    };
    let (_, probed_at) = tokio::join!(
        client.drive(Duration::from_millis(3000), FRAME_INTERVAL, Some(src), &got),
        probe
    );
    let (shown, failed) = decode_all(&got.into_inner().unwrap().video);
    assert_eq!(failed, 0);
    assert!(shown.len() >= 40, "{}", shown.len());
    let marked: Vec<(Instant, MarkerRead)> = shown
        .iter()
        .filter(|s| s.marker != MarkerRead::NoMarker)
        .map(|s| (s.at, s.marker))
        .collect();
    assert_eq!(marked.len(), 1, "one probe, one marked frame: {marked:?}");
    assert_eq!(marked[0].1, MarkerRead::Seq(4242));
    assert!(marked[0].0 > probed_at);
    let latency = marked[0].0 - probed_at;
    eprintln!("probe came back after {latency:?}");
    assert!(latency < Duration::from_millis(500), "{latency:?}");
    // The sketch: no colour left.
    assert!(shown
        .iter()
        .skip(5)
        .all(|s| chroma_spread(&s.picture) < 4.0));
    srv.stop().await;
}

/// Runs a marked camera on a transform session; returns per-frame latencies (ms, input
/// sent → output received) and the session's messages.
async fn measured_session(
    addr: std::net::SocketAddr,
    extra: &str,
    d: Duration,
) -> (Vec<f64>, usize, Vec<Value>) {
    let mut ws = session(addr, &format!("&media_mode=transform{extra}")).await;
    expect_session_id(&mut ws).await;
    let mut client = publish(&mut ws).await;
    let messages = collect(ws);
    let mut camera = Camera::new(true);
    let got = Mutex::new(Received::default());
    let mut source = |n: u32, key: bool| camera.frame(n, key);
    let src: VideoSource = &mut source;
    client.drive(d, FRAME_INTERVAL, Some(src), &got).await;
    let (shown, _) = decode_all(&got.into_inner().unwrap().video);
    let latencies = shown
        .iter()
        .filter_map(|s| match s.marker {
            MarkerRead::Seq(n) => camera
                .sent
                .get(usize::from(n))
                .map(|t| (s.at - *t).as_secs_f64() * 1000.0),
            _ => None,
        })
        .collect();
    let msgs = messages
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    (latencies, camera.sent.len(), msgs)
}

fn metrics(msgs: &[Value]) -> Vec<&Value> {
    msgs.iter()
        .filter(|v| v["type"] == "metrics_report")
        .collect()
}

#[tokio::test]
async fn a_slow_model_delays_its_own_session_only_and_metrics_measure_it() {
    let srv = server().await;
    let d = Duration::from_millis(4000);
    let (slow, fast) = tokio::join!(
        measured_session(srv.http_addr, "&model_delay_ms=400&model_jitter_ms=50", d),
        measured_session(srv.http_addr, "", d),
    );
    let ((slow_lat, slow_sent, slow_msgs), (fast_lat, fast_sent, fast_msgs)) = (slow, fast);
    let (ms, mf) = (median(slow_lat.clone()), median(fast_lat.clone()));
    eprintln!(
        "slow session: {} of {slow_sent} frames, median latency {ms:.1} ms; fast session: {} of {fast_sent}, median {mf:.1} ms",
        slow_lat.len(),
        fast_lat.len()
    );
    assert!((400.0..700.0).contains(&ms), "{ms}");
    assert!(mf < 150.0, "{mf}");
    // A slow model delays frames but does not drop them.
    assert!(
        slow_lat.len() * 10 >= (slow_sent - 12) * 7,
        "{}",
        slow_lat.len()
    );
    assert!(fast_lat.len() * 10 >= fast_sent * 8, "{}", fast_lat.len());

    for (name, msgs, range) in [
        ("slow", &slow_msgs, 380.0..800.0),
        ("fast", &fast_msgs, 0.1..150.0),
    ] {
        let reports = metrics(msgs);
        let last = reports
            .iter()
            .rev()
            .find(|r| r["output_fps"].as_f64() > Some(10.0));
        let last = last.unwrap_or_else(|| panic!("{name}: no report with output: {reports:?}"));
        eprintln!("{name}: {last}");
        let pipeline = last["pipeline_latency_ms"].as_f64().unwrap();
        assert!(range.contains(&pipeline), "{name}: pipeline {pipeline}");
        assert!(last["input_fps"].as_f64().unwrap() > 15.0);
        assert_eq!(last["encoder_target_bitrate_kbps"], 375.0);
        assert!(last["video_in_depth"].as_f64().unwrap() <= 4.0);
        assert!(last["video_out_depth"].is_number());
        assert!(last["skipped_in_frames"].is_number() && last["skipped_out_frames"].is_number());
    }
    // The slow model holds about 0.4 s of frames back.
    let depth = metrics(&slow_msgs)
        .iter()
        .filter_map(|r| r["video_out_depth"].as_f64())
        .fold(0.0, f64::max);
    assert!(depth >= 5.0, "{depth}");
    srv.stop().await;
}

#[tokio::test]
async fn after_a_stall_the_decoder_asks_for_a_keyframe_and_frames_are_clean_again() {
    let srv = server().await;
    let extra = "&media_mode=transform&fault_stall_after_ms=800&fault_stall_ms=700";
    let mut ws = session(srv.http_addr, extra).await;
    expect_session_id(&mut ws).await;
    let mut client = publish(&mut ws).await;
    let _messages = collect(ws);
    let mut camera = Camera::new(true);
    let got = Mutex::new(Received::default());
    let mut source = |n: u32, key: bool| camera.frame(n, key);
    let src: VideoSource = &mut source;
    client
        .drive(Duration::from_millis(3000), FRAME_INTERVAL, Some(src), &got)
        .await;
    let got = got.into_inner().unwrap();
    let (shown, failed) = decode_all(&got.video);
    let gap = shown.windows(2).map(|w| w[1].at - w[0].at).max().unwrap();
    let after = shown
        .windows(2)
        .position(|w| w[1].at - w[0].at == gap)
        .unwrap()
        + 1;
    let clean = shown[after..]
        .iter()
        .filter(|s| classify(s).is_some_and(|(_, plain, _)| plain < 12.0))
        .count();
    eprintln!(
        "{} decoded ({failed} undecodable), longest gap {gap:?}, {clean} of {} clean after it, {} keyframe requests",
        shown.len(),
        shown.len() - after,
        got.keyframe_requests
    );
    assert_eq!(failed, 0);
    assert!(gap >= Duration::from_millis(600), "{gap:?}");
    assert!(got.keyframe_requests >= 1);
    assert!(shown.len() - after >= 15);
    assert_eq!(
        clean,
        shown.len() - after,
        "every frame after the stall is right"
    );
    srv.stop().await;
}

#[tokio::test]
async fn echo_mode_stays_byte_exact_on_a_transform_server() {
    let srv = server_with(|c| c.media_mode = MediaMode::Transform).await;
    let mut ws = session(srv.http_addr, "&media_mode=echo").await;
    expect_session_id(&mut ws).await;
    let mut client = publish(&mut ws).await;
    let messages = collect(ws);
    let sent = Mutex::new(Vec::new());
    let got = Mutex::new(Received::default());
    client
        .run(Duration::from_millis(2000), true, &sent, &got)
        .await;
    let (sent, got) = (sent.into_inner().unwrap(), got.into_inner().unwrap());
    assert!(
        got.video.len() * 10 >= sent.len() * 7,
        "{} of {}",
        got.video.len(),
        sent.len()
    );
    assert!(got.video.iter().all(|(_, f)| sent.contains(f)));
    // Echo sessions report no transform figures.
    let msgs: Vec<Value> = messages
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v.clone())
        .collect();
    let reports = metrics(&msgs);
    assert!(!reports.is_empty());
    assert!(reports
        .iter()
        .all(|r| r["video_in_depth"].is_null() && r["encoder_target_bitrate_kbps"].is_null()));
    srv.stop().await;
}

#[tokio::test]
async fn media_parameters_are_checked() {
    let srv = server().await;
    for (extra, error) in [
        ("&media_mode=model", "media_mode"),
        ("&model_delay_ms=100", "need media_mode=transform"),
        ("&media_mode=transform&model_jitter_ms=x", "model_jitter_ms"),
        ("&net_delay=100", "unknown network parameter net_delay"),
        ("&net_loss=2", "net_loss"),
        ("&net_for_ms=100", "net_for_ms needs"),
    ] {
        let mut ws = session(srv.http_addr, extra).await;
        let v = expect_type(&mut ws, "error").await;
        assert!(v["error"].as_str().unwrap().contains(error), "{extra}: {v}");
        expect_closed(&mut ws).await;
    }
    // On a transform server, model delay needs no media_mode.
    let srv2 = server_with(|c| c.media_mode = MediaMode::Transform).await;
    let mut ws = session(srv2.http_addr, "&model_delay_ms=100").await;
    expect_session_id(&mut ws).await;
    srv.stop().await;
    srv2.stop().await;
}

#[tokio::test]
async fn ivs_stage_subscribers_get_the_transformed_video() {
    let srv = server().await;
    let mut ivs = ivs_session(srv.http_addr, "&media_mode=transform").await;
    let mut stage = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    let joined = expect_type(&mut stage, "joined").await;
    let server_participant = server_participant(&joined);
    send(&mut ivs.ws, json!({"type": "ivs_joined"})).await;
    let (_, ack) = acked(
        &mut ivs.ws,
        json!({"type": "prompt", "prompt": "grayscale, mirrored", "enhance_prompt": false}),
        "prompt_ack",
    )
    .await;
    assert_eq!(ack["success"], true);
    let (mut publisher, mut own) = stage_publish_and_watch(&mut stage, &server_participant).await;
    let (token, _) = ivs_viewer_token(srv.http_addr, &ivs.sid).await;
    let mut vws = stage_join(srv.http_addr, &ivs.stage_id, &token).await;
    expect_type(&mut vws, "joined").await;
    let (mut viewer, offer) = Client::new(Direction::RecvOnly).await;
    let sub = json!({"type": "subscribe", "participant_id": server_participant, "sdp": offer});
    stage_negotiate(&mut vws, &mut viewer, sub).await;

    let mut camera = Camera::new(true);
    let [pgot, got, vgot]: [Mutex<Received>; 3] = Default::default();
    let mut source = |n: u32, key: bool| camera.frame(n, key);
    let src: VideoSource = &mut source;
    let d = Duration::from_millis(3000);
    tokio::join!(
        publisher.drive(d, FRAME_INTERVAL, Some(src), &pgot),
        own.drive(d, FRAME_INTERVAL, None, &got),
        viewer.drive(d, FRAME_INTERVAL, None, &vgot),
    );
    let sent = camera.sent.len();
    for (who, got) in [("client", got), ("viewer", vgot)] {
        let (shown, failed) = decode_all(&got.into_inner().unwrap().video);
        eprintln!(
            "{who}: decoded {} of {sent} ({failed} undecodable)",
            shown.len()
        );
        assert!(shown.len() * 10 >= sent * 6, "{who}: {}", shown.len());
        let good = shown
            .iter()
            .filter(|s| {
                let MarkerRead::Seq(n) = s.marker else {
                    return false;
                };
                // Gray and mirrored: the luma of the input, flipped.
                let mut input = picture(u32::from(n));
                realtime_reference_server::effects::apply(
                    realtime_reference_server::effects::Effect::Mirror,
                    &mut input,
                );
                chroma_spread(&s.picture) < 4.0
                    && mean_abs_diff(luma(&s.picture), luma(&input)) < 12.0
            })
            .count();
        assert!(
            good + 3 >= shown.len(),
            "{who}: {good} of {} as asked",
            shown.len()
        );
    }
    srv.stop().await;
}
