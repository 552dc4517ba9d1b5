//! WebRTC media end to end on loopback: a str0m client offers, sends synthetic VP8 frames
//! and Opus packets, and must get them back byte for byte; a viewer gets the same frames;
//! the stall fault pauses the echo.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio_tungstenite::tungstenite::Message;

/// A synthetic VP8 keyframe: a valid frame tag and start code (320×240), then a payload
/// naming the frame, padded to `len` bytes (several RTP packets when large).
fn vp8_frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
    f.extend_from_slice(format!("MARKER-{seq:08}-").as_bytes());
    while f.len() < len {
        f.push((f.len() % 251) as u8);
    }
    f
}

/// What a client received.
#[derive(Default)]
struct Received {
    video: Vec<(Instant, Vec<u8>)>,
    audio: usize,
    keyframe_requests: usize,
    connected: bool,
}

/// A str0m peer connection driven on its own loopback UDP socket.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
}

impl Client {
    async fn new(dir: Direction) -> (Client, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().clear_codecs().enable_vp8(true).enable_opus(true, false).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, dir, None, None, None);
        let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        (Client { rtc, socket, local, video, audio, pending: Some(pending) }, offer.to_sdp_string())
    }

    fn accept(&mut self, answer_sdp: &str) {
        let answer = SdpAnswer::from_sdp_string(answer_sdp).unwrap();
        self.rtc.sdp_api().accept_answer(self.pending.take().unwrap(), answer).unwrap();
    }

    /// Runs for `d`, sending one video frame every 40 ms (and an audio packet every 20 ms)
    /// when `send` is on; frame `i` is `vp8_frame(i, size(i))`.
    async fn run(&mut self, d: Duration, send: bool, sent: &Mutex<Vec<Vec<u8>>>, got: &Mutex<Received>) {
        let end = Instant::now() + d;
        let mut buf = vec![0u8; 2000];
        let (mut next_video, mut next_audio, mut n) = (Instant::now(), Instant::now(), 0u32);
        let start = Instant::now();
        while Instant::now() < end {
            let now = Instant::now();
            if send && got.lock().unwrap().connected {
                if now >= next_video {
                    next_video = now + Duration::from_millis(40);
                    let frame = vp8_frame(n, if n % 5 == 0 { 3000 } else { 600 });
                    let w = self.rtc.writer(self.video).unwrap();
                    let pt = w.payload_params().next().unwrap().pt();
                    let ts = MediaTime::from_90khz((now - start).as_micros() as u64 * 90 / 1000);
                    w.write(pt, now, ts, frame.clone()).unwrap();
                    sent.lock().unwrap().push(frame);
                    n += 1;
                }
                if now >= next_audio {
                    next_audio = now + Duration::from_millis(20);
                    let w = self.rtc.writer(self.audio).unwrap();
                    let pt = w.payload_params().next().unwrap().pt();
                    let ts = MediaTime::new(
                        (now - start).as_micros() as u64 * 48 / 1000,
                        str0m::media::Frequency::FORTY_EIGHT_KHZ,
                    );
                    w.write(pt, now, ts, vec![0xf8, 0xff, 0xfe]).unwrap();
                }
            }
            // Drain output.
            let timeout = loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                    Output::Event(e) => {
                        let mut g = got.lock().unwrap();
                        match e {
                            Event::Connected => g.connected = true,
                            Event::MediaData(m) if m.mid == self.video => {
                                g.video.push((Instant::now(), m.data.to_vec()))
                            }
                            Event::MediaData(m) if m.mid == self.audio => g.audio += 1,
                            Event::KeyframeRequest(_) => g.keyframe_requests += 1,
                            _ => {}
                        }
                    }
                }
            };
            let wait = timeout
                .min(next_video.max(now))
                .min(end)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
                Ok(Ok((n, source))) => {
                    if let Ok(contents) = buf[..n].try_into() {
                        let input = Input::Receive(
                            Instant::now(),
                            Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                        );
                        self.rtc.handle_input(input).unwrap();
                    }
                }
                _ => self.rtc.handle_input(Input::Timeout(Instant::now())).unwrap(),
            }
        }
    }
}

/// Sends the offer, returns the answer's SDP and the trickled server candidate.
async fn negotiate(ws: &mut Ws, client: &mut Client, offer: String) -> (String, Value) {
    send(ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = expect_type(ws, "answer").await;
    let sdp = answer["sdp"].as_str().unwrap().to_string();
    let cand = expect_type(ws, "ice-candidate").await;
    client.accept(&sdp);
    (sdp, cand)
}

/// Collects every JSON message of a socket in the background.
fn collect(ws: Ws) -> Arc<Mutex<Vec<(Instant, Value)>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    tokio::spawn(async move {
        let (_w, mut r) = ws.split();
        while let Some(Ok(m)) = r.next().await {
            if let Message::Text(t) = m {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    sink.lock().unwrap().push((Instant::now(), v));
                }
            }
        }
    });
    out
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
    assert!(sdp.lines().any(|l| l.starts_with("a=candidate:") && l.contains(&udp)), "{sdp}");
    assert!(sdp.lines().filter(|l| l.starts_with("a=candidate:")).all(|l| l.contains(" 127.0.0.1 ")), "{sdp}");
    assert!(sdp.contains("VP8"), "{sdp}");
    let c = &cand["candidate"];
    assert!(
        c["candidate"].as_str().unwrap().starts_with("candidate:") && c["candidate"].as_str().unwrap().contains(&udp),
        "{cand}"
    );
    assert!(c["sdpMid"].is_string() && c["sdpMLineIndex"] == 0, "{cand}");
    send(&mut ws, json!({"type": "ice-candidate", "candidate": null})).await;
    send(&mut ws, json!({"type": "prompt", "prompt": "after offer", "enhance_prompt": false})).await;
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

    let mut vws =
        connect(srv.http_addr, &format!("/subscribe/{sid}?IP=127.0.0.1&port={}&api_key=k", srv.http_addr.port())).await;
    let (mut viewer, voffer) = Client::new(Direction::RecvOnly).await;
    let (vsdp, _) = negotiate(&mut vws, &mut viewer, voffer).await;
    assert!(vsdp.contains("a=sendonly"), "{vsdp}");

    let sent = Mutex::new(Vec::new());
    let (got, vgot) = (Mutex::new(Received::default()), Mutex::new(Received::default()));
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
    assert!(echoed.len() >= sent.len() * 7 / 10, "echoed {} of {}", echoed.len(), sent.len());
    for f in &echoed {
        assert!(sent.contains(f), "an echoed frame differs from every sent frame");
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
    assert!(got.keyframe_requests >= 1, "keyframe requests {}", got.keyframe_requests);

    let msgs = messages.lock().unwrap().clone();
    let types: Vec<&str> = msgs.iter().filter_map(|(_, v)| v["type"].as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "generation_started").count(), 1, "{types:?}");
    let started = types.iter().position(|t| *t == "generation_started").unwrap();
    assert!(types[started..].contains(&"generation_tick"), "{types:?}");
    let fps: Vec<f64> = msgs
        .iter()
        .filter(|(_, v)| v["type"] == "metrics_report")
        .filter_map(|(_, v)| v["input_fps"].as_f64().zip(v["output_fps"].as_f64()).map(|(i, o)| i.min(o)))
        .collect();
    eprintln!("measured min(input_fps, output_fps) per second: {fps:?}");
    assert!(fps.iter().any(|f| *f > 10.0), "measured fps {fps:?}");
    let last = msgs.iter().rev().find(|(_, v)| v["type"] == "metrics_report").unwrap().1.clone();
    assert!(last["bitrate_kbps"].as_f64().unwrap() > 50.0, "{last}");
    assert!(last["pipeline_latency_ms"].as_f64().is_some(), "{last}");
    srv.stop().await;
}

#[tokio::test]
async fn fault_stall_pauses_the_echo() {
    let srv = server().await;
    let mut ws = session(srv.http_addr, "&fault_stall_after_ms=800&fault_stall_ms=1200").await;
    expect_session_id(&mut ws).await;
    let (mut client, offer) = Client::new(Direction::SendRecv).await;
    negotiate(&mut ws, &mut client, offer).await;
    let _messages = collect(ws);
    let sent = Mutex::new(Vec::new());
    let got = Mutex::new(Received::default());
    client.run(Duration::from_millis(3800), true, &sent, &got).await;
    let got = got.into_inner().unwrap();
    let times: Vec<Instant> = got.video.iter().map(|(t, _)| *t).collect();
    assert!(times.len() > 20, "{}", times.len());
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    eprintln!("{} frames echoed, longest gap {gap:?}", times.len());
    assert!(gap >= Duration::from_millis(1000) && gap < Duration::from_millis(2500), "longest gap {gap:?}");
    let gap_end = times.windows(2).find(|w| w[1] - w[0] == gap).unwrap()[1];
    assert!(times.iter().filter(|t| **t >= gap_end).count() > 10, "media resumes after the stall");
    srv.stop().await;
}
