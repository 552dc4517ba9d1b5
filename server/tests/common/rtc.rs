//! A str0m peer connection on its own loopback UDP socket, standing in for a browser in the
//! media tests: it sends synthetic VP8 frames and Opus packets and records what it gets.

use super::Ws;
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
pub fn vp8_frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
    f.extend_from_slice(format!("MARKER-{seq:08}-").as_bytes());
    while f.len() < len {
        f.push((f.len() % 251) as u8);
    }
    f
}

/// What a client received (and how many audio packets it sent).
#[derive(Default)]
pub struct Received {
    pub video: Vec<(Instant, Vec<u8>)>,
    pub audio: usize,
    /// Audio packets sent; packet `i` carries `i` (the numbers received are in `audio_seqs`).
    pub audio_sent: usize,
    pub audio_seqs: Vec<u32>,
    pub keyframe_requests: usize,
    pub connected: bool,
}

/// Makes video frame `n` to send; the flag says whether a keyframe was asked for since the
/// previous frame.
pub type VideoSource<'a> = &'a mut dyn FnMut(u32, bool) -> Vec<u8>;

/// A str0m peer connection driven on its own loopback UDP socket.
pub struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Mid,
    audio: Mid,
    pending: Option<SdpPendingOffer>,
}

impl Client {
    pub async fn new(dir: Direction) -> (Client, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, dir, None, None, None);
        let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        (
            Client {
                rtc,
                socket,
                local,
                video,
                audio,
                pending: Some(pending),
            },
            offer.to_sdp_string(),
        )
    }

    pub fn accept(&mut self, answer_sdp: &str) {
        let answer = SdpAnswer::from_sdp_string(answer_sdp).unwrap();
        self.rtc
            .sdp_api()
            .accept_answer(self.pending.take().unwrap(), answer)
            .unwrap();
    }

    /// Runs for `d`, sending one video frame every 40 ms (and an audio packet every 20 ms)
    /// when `send` is on; frame `i` is `vp8_frame(i, size(i))`.
    pub async fn run(
        &mut self,
        d: Duration,
        send: bool,
        sent: &Mutex<Vec<Vec<u8>>>,
        got: &Mutex<Received>,
    ) {
        let mut synthetic = |n: u32, _keyframe: bool| {
            let frame = vp8_frame(n, if n % 5 == 0 { 3000 } else { 600 });
            sent.lock().unwrap().push(frame.clone());
            frame
        };
        let source: Option<VideoSource> = if send { Some(&mut synthetic) } else { None };
        self.drive(d, Duration::from_millis(40), source, got).await;
    }

    /// Runs for `d`, sending a video frame from `source` every `interval` (and an audio
    /// packet every 20 ms) when there is a source.
    pub async fn drive(
        &mut self,
        d: Duration,
        interval: Duration,
        mut source: Option<VideoSource<'_>>,
        got: &Mutex<Received>,
    ) {
        let end = Instant::now() + d;
        let mut buf = vec![0u8; 2000];
        let (mut next_video, mut next_audio, mut n) = (Instant::now(), Instant::now(), 0u32);
        let start = Instant::now();
        let mut requests_seen = got.lock().unwrap().keyframe_requests;
        while Instant::now() < end {
            let now = Instant::now();
            let connected = got.lock().unwrap().connected;
            if let (Some(source), true) = (source.as_mut(), connected) {
                if now >= next_video {
                    next_video = now + interval;
                    let requests = got.lock().unwrap().keyframe_requests;
                    let frame = source(n, requests > requests_seen);
                    requests_seen = requests;
                    let w = self.rtc.writer(self.video).unwrap();
                    let pt = w.payload_params().next().unwrap().pt();
                    let ts = MediaTime::from_90khz((now - start).as_micros() as u64 * 90 / 1000);
                    w.write(pt, now, ts, frame).unwrap();
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
                    let mut g = got.lock().unwrap();
                    let mut packet = vec![0xf8, 0xff, 0xfe];
                    packet.extend_from_slice(&(g.audio_sent as u32).to_le_bytes());
                    w.write(pt, now, ts, packet).unwrap();
                    g.audio_sent += 1;
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
                            Event::MediaData(m) if m.mid == self.audio => {
                                g.audio += 1;
                                if let Some(n) = m.data.get(3..7) {
                                    let n: [u8; 4] = n.try_into().unwrap();
                                    g.audio_seqs.push(u32::from_le_bytes(n));
                                }
                            }
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
                            Receive {
                                proto: Protocol::Udp,
                                source,
                                destination: self.local,
                                contents,
                            },
                        );
                        self.rtc.handle_input(input).unwrap();
                    }
                }
                _ => self
                    .rtc
                    .handle_input(Input::Timeout(Instant::now()))
                    .unwrap(),
            }
        }
    }
}

/// Negotiates a stage publish or subscription on a stage socket; returns the answer.
pub async fn stage_negotiate(ws: &mut Ws, client: &mut Client, msg: Value) -> Value {
    let target = msg
        .get("participant_id")
        .and_then(Value::as_str)
        .unwrap_or("publish")
        .to_string();
    super::send(ws, msg).await;
    let answer = super::expect_type(ws, "answer").await;
    assert_eq!(answer["target"], target.as_str());
    client.accept(answer["sdp"].as_str().unwrap());
    super::expect_type(ws, "candidate").await;
    answer
}

/// The id of the server's participant in a stage's `joined` message.
pub fn server_participant(joined: &Value) -> String {
    joined["participants"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Publishes on a stage (sendonly); returns the publishing client.
pub async fn stage_publish(stage: &mut Ws) -> Client {
    let (mut publisher, offer) = Client::new(Direction::SendOnly).await;
    stage_negotiate(
        stage,
        &mut publisher,
        json!({"type": "publish", "sdp": offer}),
    )
    .await;
    publisher
}

/// Publishes on a stage and subscribes to the server participant, as a client does;
/// returns (publisher, subscriber).
pub async fn stage_publish_and_watch(stage: &mut Ws, server_participant: &str) -> (Client, Client) {
    let publisher = stage_publish(stage).await;
    let (mut own, offer) = Client::new(Direction::RecvOnly).await;
    let sub = json!({"type": "subscribe", "participant_id": server_participant, "sdp": offer});
    stage_negotiate(stage, &mut own, sub).await;
    (publisher, own)
}

/// Collects every JSON message of a socket in the background.
pub fn collect(ws: Ws) -> Arc<Mutex<Vec<(Instant, Value)>>> {
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
