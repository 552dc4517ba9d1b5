//! User-space network impairment (`net_*` session parameters) on loopback, measured by a
//! str0m client through the echo: added round-trip time and jitter, loss, a rate cap, their
//! end after `net_for_ms`, another session left alone, and both IVS stage connections of
//! an IVS session.

mod common;

use common::rtc::{
    server_participant, stage_publish_and_watch, vp8_frame, Client, Received, VideoSource,
};
use common::video::median;
use common::*;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use str0m::media::Direction;

/// Synthetic frames numbered across phases, with their send times.
struct Numbered {
    sent: Vec<Instant>,
    len: usize,
}

impl Numbered {
    fn new(len: usize) -> Numbered {
        Numbered {
            sent: Vec::new(),
            len,
        }
    }

    fn frame(&mut self) -> Vec<u8> {
        let n = self.sent.len() as u32;
        self.sent.push(Instant::now());
        vp8_frame(n, self.len)
    }

    /// Round trips (ms) of the received frames, by the number they carry.
    fn rtts(&self, got: &Received) -> Vec<f64> {
        got.video
            .iter()
            .filter_map(|(at, f)| {
                let text = std::str::from_utf8(f.get(10..25)?).ok()?;
                let n: usize = text.strip_prefix("MARKER-")?.get(..8)?.parse().ok()?;
                Some((*at - *self.sent.get(n)?).as_secs_f64() * 1000.0)
            })
            .collect()
    }
}

/// Opens a WebRTC session with `extra` parameters and a publisher; returns when the
/// publisher is connected, with the time the session opened.
async fn connected_session(addr: std::net::SocketAddr, extra: &str) -> (Ws, Client, Instant) {
    let mut ws = session(addr, extra).await;
    expect_session_id(&mut ws).await;
    let opened = Instant::now();
    let (mut client, offer) = Client::new(Direction::SendRecv).await;
    send(&mut ws, json!({"type": "offer", "sdp": offer})).await;
    let answer = expect_type(&mut ws, "answer").await;
    client.accept(answer["sdp"].as_str().unwrap());
    wait_connected(&mut client).await;
    (ws, client, opened)
}

/// Drives a client (sending nothing) until it is connected, at most 10 s.
async fn wait_connected(client: &mut Client) {
    let got = Mutex::new(Received::default());
    for _ in 0..100 {
        client
            .drive(
                Duration::from_millis(100),
                Duration::from_millis(40),
                None,
                &got,
            )
            .await;
        if got.lock().unwrap().connected {
            return;
        }
    }
    panic!("the client did not connect");
}

/// A phase of sending: `interval` between frames, until `until`; returns what came back.
async fn phase(
    client: &mut Client,
    frames: &mut Numbered,
    interval: Duration,
    until: Instant,
) -> Received {
    let got = Mutex::new(Received {
        connected: true,
        ..Received::default()
    });
    let mut source = |_: u32, _: bool| frames.frame();
    let src: VideoSource = &mut source;
    let d = until.saturating_duration_since(Instant::now());
    client.drive(d, interval, Some(src), &got).await;
    got.into_inner().unwrap()
}

/// Drives a client until `until`, sending frames from `source` every 40 ms when given.
async fn drive_until(
    client: &mut Client,
    until: Instant,
    source: Option<VideoSource<'_>>,
    got: &Mutex<Received>,
) {
    let d = until.saturating_duration_since(Instant::now());
    client
        .drive(d, Duration::from_millis(40), source, got)
        .await;
}

fn spread(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    max - min
}

#[tokio::test]
async fn delay_and_jitter_add_round_trip_time_until_they_end_and_spare_other_sessions() {
    let srv = server().await;
    let impaired = async {
        let extra = "&net_delay_ms=100&net_jitter_ms=20&net_for_ms=4500";
        let (_ws, mut client, opened) = connected_session(srv.http_addr, extra).await;
        let mut frames = Numbered::new(600);
        let interval = Duration::from_millis(40);
        let during = phase(
            &mut client,
            &mut frames,
            interval,
            opened + Duration::from_millis(4000),
        )
        .await;
        let before_end = frames.rtts(&during);
        tokio::time::sleep_until((opened + Duration::from_millis(4800)).into()).await;
        let after = phase(
            &mut client,
            &mut frames,
            interval,
            Instant::now() + Duration::from_millis(1500),
        )
        .await;
        (before_end, frames.rtts(&after))
    };
    let other = async {
        let (_ws, mut client, _) = connected_session(srv.http_addr, "").await;
        let mut frames = Numbered::new(600);
        let got = phase(
            &mut client,
            &mut frames,
            Duration::from_millis(40),
            Instant::now() + Duration::from_millis(3000),
        )
        .await;
        frames.rtts(&got)
    };
    let ((during, after), other) = tokio::join!(impaired, other);
    eprintln!(
        "impaired: {} frames, median rtt {:.1} ms, spread {:.1} ms; after net_for_ms: {} frames, median {:.1} ms; other session: {} frames, median {:.1} ms",
        during.len(),
        median(during.clone()),
        spread(&during),
        after.len(),
        median(after.clone()),
        other.len(),
        median(other.clone())
    );
    assert!(during.len() >= 20 && after.len() >= 20 && other.len() >= 50);
    // 100 ms each way, ±20 ms each way.
    assert!(
        (180.0..270.0).contains(&median(during.clone())),
        "{during:?}"
    );
    assert!(during.iter().all(|r| *r >= 155.0), "{during:?}");
    assert!(spread(&during) >= 20.0, "jitter shows: {during:?}");
    assert!(median(after.clone()) < 40.0, "{after:?}");
    assert!(median(other.clone()) < 40.0, "{other:?}");
    srv.stop().await;
}

#[tokio::test]
async fn loss_drops_datagrams_both_ways_until_it_ends() {
    let srv = server().await;
    let (mut ws, mut client, opened) =
        connected_session(srv.http_addr, "&net_loss=0.2&net_for_ms=12000").await;
    // The loss also hits ICE and DTLS, whose retransmission timers back off: connecting can
    // take seconds, so the lossy window leaves room for enough media packets after it.
    let mut frames = Numbered::new(600);
    let mut source = |_: u32, _: bool| frames.frame();
    let got = Mutex::new(Received {
        connected: true,
        ..Received::default()
    });
    let sent = |got: &Mutex<Received>| got.lock().unwrap().audio_sent as u32;
    drive_until(
        &mut client,
        opened + Duration::from_millis(11800),
        Some(&mut source),
        &got,
    )
    .await;
    let lossy_end = sent(&got);
    drive_until(
        &mut client,
        opened + Duration::from_millis(12200),
        None,
        &got,
    )
    .await;
    let clean_start = sent(&got);
    let until = Instant::now() + Duration::from_millis(2000);
    drive_until(&mut client, until, Some(&mut source), &got).await;
    let clean_end = sent(&got);
    // Stragglers (held for reordering) arrive.
    drive_until(
        &mut client,
        Instant::now() + Duration::from_millis(500),
        None,
        &got,
    )
    .await;
    let got = got.into_inner().unwrap();
    // Audio has no retransmission: what comes back is what both directions let through.
    let delivered = |from: u32, to: u32| {
        let mut seqs: Vec<u32> = got
            .audio_seqs
            .iter()
            .copied()
            .filter(|n| (from..to).contains(n))
            .collect();
        seqs.dedup();
        seqs.len() as f64 / f64::from((to - from).max(1))
    };
    let (lossy, clean) = (delivered(0, lossy_end), delivered(clean_start, clean_end));
    eprintln!(
        "audio echoed: {lossy:.2} of {lossy_end} packets while lossy, {clean:.2} of {} after",
        clean_end - clean_start
    );
    assert!(
        lossy_end >= 80 && clean_end - clean_start >= 30,
        "too few packets to measure: {lossy_end} lossy, {} clean",
        clean_end - clean_start
    );
    // 0.8 × 0.8 = 0.64 expected.
    assert!((0.48..0.8).contains(&lossy), "{lossy}");
    assert!(clean > 0.95, "{clean}");
    // The server saw the inbound loss too: the network's 20 %, before retransmissions
    // repair any (in the reports of the lossy window; each one covers what arrived since
    // the previous one, so some may see little).
    let mut reported = Vec::new();
    while let Some(v) = next_json(&mut ws).await {
        if let Some(l) = v["inbound_loss_rate"].as_f64() {
            reported.push(l);
        }
        if reported.len() >= 12 || reported.iter().any(|l| *l >= 0.1) {
            break;
        }
    }
    eprintln!("server inbound_loss_rate reports: {reported:?}");
    assert!(reported.iter().any(|l| *l >= 0.1), "{reported:?}");
    srv.stop().await;
}

#[tokio::test]
async fn a_rate_cap_limits_throughput_until_it_ends() {
    let srv = server().await;
    let (_ws, mut client, opened) =
        connected_session(srv.http_addr, "&net_rate_kbps=300&net_for_ms=4500").await;
    // One-packet frames of 1000 bytes every 10 ms: about 800 kbit/s offered.
    let mut frames = Numbered::new(1000);
    let interval = Duration::from_millis(10);
    let start = Instant::now();
    let during = phase(
        &mut client,
        &mut frames,
        interval,
        opened + Duration::from_millis(4200),
    )
    .await;
    let during_s = start.elapsed().as_secs_f64();
    tokio::time::sleep_until((opened + Duration::from_millis(4800)).into()).await;
    let start = Instant::now();
    let after = phase(
        &mut client,
        &mut frames,
        interval,
        Instant::now() + Duration::from_millis(2000),
    )
    .await;
    let after_s = start.elapsed().as_secs_f64();
    let kbps = |r: &Received, s: f64| {
        r.video.iter().map(|(_, f)| f.len()).sum::<usize>() as f64 * 8.0 / s / 1000.0
    };
    let (capped, free) = (kbps(&during, during_s), kbps(&after, after_s));
    eprintln!(
        "echoed video payload: {capped:.0} kbit/s under a 300 kbit/s cap ({during_s:.1} s), {free:.0} kbit/s after ({after_s:.1} s)"
    );
    assert!(capped <= 300.0, "{capped}");
    assert!(capped >= 60.0, "{capped}");
    assert!(free >= 600.0, "{free}");
    srv.stop().await;
}

#[tokio::test]
async fn ivs_stage_connections_of_an_impaired_session_are_delayed() {
    let srv = server().await;
    let mut ivs = ivs_session(srv.http_addr, "&net_delay_ms=80").await;
    let mut stage = stage_join(srv.http_addr, &ivs.stage_id, &ivs.client_token).await;
    let joined = expect_type(&mut stage, "joined").await;
    let server_participant = server_participant(&joined);
    send(&mut ivs.ws, json!({"type": "ivs_joined"})).await;
    let (mut publisher, mut own) = stage_publish_and_watch(&mut stage, &server_participant).await;
    tokio::join!(wait_connected(&mut publisher), wait_connected(&mut own));

    let mut frames = Numbered::new(600);
    let pgot = Mutex::new(Received {
        connected: true,
        ..Received::default()
    });
    let got = Mutex::new(Received::default());
    let mut source = |_: u32, _: bool| frames.frame();
    let src: VideoSource = &mut source;
    let d = Duration::from_millis(2500);
    let interval = Duration::from_millis(40);
    tokio::join!(
        publisher.drive(d, interval, Some(src), &pgot),
        own.drive(d, interval, None, &got),
    );
    // Publish connection in (80 ms) + subscription out (80 ms).
    let latencies = frames.rtts(&got.into_inner().unwrap());
    eprintln!(
        "IVS: {} frames through the stage, median {:.1} ms",
        latencies.len(),
        median(latencies.clone())
    );
    assert!(latencies.len() >= 30);
    assert!(
        (150.0..240.0).contains(&median(latencies.clone())),
        "{latencies:?}"
    );
    srv.stop().await;
}
