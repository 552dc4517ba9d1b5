//! The media task: one UDP socket and every str0m [`Rtc`] of the server, driven sans-IO in
//! one tokio task, in the shape of str0m's `examples/chat.rs`.
//!
//! * A **publisher** peer connection belongs to a session. Its client offers sendrecv
//!   video/audio; every frame it sends is written back on the same mid and to every viewer
//!   of the session: unchanged in echo mode (no decoding, no re-encoding, so a pixel marker
//!   stamped in the client's frames survives), or, for VP8 video in transform mode, as the
//!   frame the session's [`Worker`] made of it (decoded, restyled, re-encoded off this
//!   task, sent when the emulated model lets it go). Audio always passes unchanged.
//! * A **viewer** peer connection offers recvonly transceivers; it gets the frames of its
//!   session's publisher on the mid of the same kind.
//!
//! Keyframes: in echo mode a keyframe request (PLI/FIR) from any receiver, a newly
//! connected viewer, a gap in the incoming frames and the end of an injected stall all ask
//! the publisher for a keyframe (at most one request per mid every 500 ms). In transform
//! mode receivers' requests and new viewers make the session's encoder send a keyframe;
//! the publisher is asked only when the decoder needs one (gaps, stalls, decode errors).
//!
//! Network impairment ([`crate::impair`]): every datagram of a session's peer connections
//! (publisher, viewers, stage participants), in and out, goes through the session's pipes
//! and waits in a delay line until it is due.
//!
//! Sessions talk to this task only through [`MediaHandle`] commands and per-peer
//! [`PeerEvent`]s; no session ever waits on media, and media never waits on a session.

use crate::faults::StallFault;
use crate::impair::{DelayLine, NetImpairment, Pipe, Rng};
use crate::meter::MediaCounters;
use crate::transform::{InputFrame, MediaMode, OutputFrame, SessionMedia, Worker, WorkerEvent};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::{Codec, PayloadParams};
use str0m::media::{
    Direction, KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

/// Identifies one peer connection in the media task.
pub type PeerId = u64;

/// What a peer connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends media that is echoed back and fanned out to viewers.
    Publisher,
    /// Receives its session's publisher's media.
    Viewer,
}

/// Where a publisher's frames go, besides every viewer of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameRoute {
    /// Written back to the publisher on the mid they came in on (WebRTC sessions); each
    /// frame written back counts as output.
    #[default]
    Echo,
    /// Published on the stage by the server participant (IVS): frames go to viewers only and
    /// every forwarded frame counts as output.
    Stage,
    /// The server participant publishes nothing (`fault_ivs=no_server_streams`): frames go
    /// to viewers only (subscribers of the client participant) and none counts as output.
    Withheld,
}

/// What the media task tells a session about its peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    /// ICE and DTLS are up.
    Connected,
    /// The first media frame arrived (publishers only).
    MediaStarted,
    /// The peer connection is gone (ICE disconnected, closed, or failed).
    Closed,
}

/// Everything needed to open a peer connection.
#[derive(Debug)]
pub struct OpenPeer {
    /// The new peer's id ([`MediaHandle::new_peer_id`]).
    pub peer: PeerId,
    /// The session it belongs to (a viewer: the session it watches).
    pub session_id: String,
    /// Publisher or viewer.
    pub role: Role,
    /// The client's offer.
    pub offer: SdpOffer,
    /// Where [`PeerEvent`]s go.
    pub events: mpsc::UnboundedSender<(PeerId, PeerEvent)>,
    /// Publisher counters for `metrics_report`.
    pub counters: Option<Arc<MediaCounters>>,
    /// Injected media stall (publishers).
    pub stall: Option<StallFault>,
    /// Where the frames go (publishers).
    pub output: FrameRoute,
}

enum Command {
    Open(Box<OpenPeer>, oneshot::Sender<Result<SdpAnswer, String>>),
    RemoteCandidate(PeerId, Candidate),
    Close(PeerId),
    Register(String, Arc<SessionMedia>),
    Unregister(String),
}

/// The sessions' side of the media task.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    tx: mpsc::UnboundedSender<Command>,
    udp_addr: SocketAddr,
}

impl MediaHandle {
    /// A fresh peer id.
    pub fn new_peer_id() -> PeerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// The UDP address every peer connection uses (the only ICE candidate).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// Opens a peer connection from the client's offer and returns the answer.
    pub async fn open(&self, open: OpenPeer) -> Result<SdpAnswer, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Open(Box::new(open), reply))
            .map_err(|_| "media task stopped".to_string())?;
        answer.await.map_err(|_| "media task stopped".to_string())?
    }

    /// Adds a trickled remote candidate.
    pub fn add_candidate(&self, peer: PeerId, candidate: Candidate) {
        let _ = self.tx.send(Command::RemoteCandidate(peer, candidate));
    }

    /// Closes a peer connection (no-op when it is already gone).
    pub fn close(&self, peer: PeerId) {
        let _ = self.tx.send(Command::Close(peer));
    }

    /// Registers a session's media settings (mode, model delay, network impairment) for
    /// every peer connection of that session id; call before opening its peers.
    pub fn register(&self, session_id: &str, media: Arc<SessionMedia>) {
        let _ = self
            .tx
            .send(Command::Register(session_id.to_string(), media));
    }

    /// Forgets a session's settings and stops its transform worker.
    pub fn unregister(&self, session_id: &str) {
        let _ = self.tx.send(Command::Unregister(session_id.to_string()));
    }
}

/// Starts the media task on `socket`; it stops when `shutdown` turns true.
pub fn spawn(
    socket: UdpSocket,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(MediaHandle, tokio::task::JoinHandle<()>)> {
    let udp_addr = socket.local_addr()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(socket, udp_addr, rx, shutdown));
    Ok((MediaHandle { tx, udp_addr }, task))
}

const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// Transformed frames a session may hold back (model delay); more and the oldest is
/// skipped.
const OUTPUT_QUEUE: usize = 64;

/// Datagrams held by network impairment, per direction, over all sessions.
const DELAYED_DATAGRAMS: usize = 20_000;

/// A session's impaired network: one pipe per direction.
struct Link {
    inbound: Pipe,
    outbound: Pipe,
}

impl Link {
    fn new(imp: NetImpairment, start: Instant) -> Link {
        let seed = Rng::seed();
        Link {
            inbound: Pipe::new(imp, start, seed),
            outbound: Pipe::new(imp, start, seed.rotate_left(17)),
        }
    }
}

/// A registered session, as the media task keeps it.
struct SessionState {
    media: Arc<SessionMedia>,
    /// The transform thread, started with the first VP8 frame in transform mode.
    worker: Option<Worker>,
    /// Transformed frames waiting for their send time, in order.
    out: VecDeque<OutputFrame>,
    link: Option<Link>,
}

/// Every registered session, and the channel their workers report on.
struct Sessions {
    map: HashMap<String, SessionState>,
    worker_tx: mpsc::UnboundedSender<WorkerEvent>,
}

impl Sessions {
    fn transforms(&self, session: &str) -> bool {
        self.map
            .get(session)
            .is_some_and(|s| s.media.mode == MediaMode::Transform)
    }

    /// The session's worker, if it runs.
    fn running_worker(&self, session: &str) -> Option<&Worker> {
        self.map.get(session)?.worker.as_ref()
    }

    /// The session's worker, started on first use (`None` when it cannot start).
    fn worker(&mut self, session: &str) -> Option<&Worker> {
        let state = self.map.get_mut(session)?;
        if state.worker.is_none() {
            match Worker::spawn(session.into(), state.media.clone(), self.worker_tx.clone()) {
                Ok(w) => {
                    tracing::info!(session = %session, "transform worker started");
                    state.worker = Some(w);
                }
                Err(e) => {
                    tracing::warn!(session = %session, "cannot start the transform worker: {e}")
                }
            }
        }
        state.worker.as_ref()
    }

    fn link(&mut self, session: &str) -> Option<&mut Link> {
        self.map.get_mut(session)?.link.as_mut()
    }

    /// When the next held frame is due.
    fn next_due(&self) -> Option<Instant> {
        self.map
            .values()
            .filter_map(|s| s.out.front().map(|f| f.ready_at))
            .min()
    }
}

/// Where a peer's outgoing datagrams go: straight to the socket, or through its session's
/// outbound pipe into the delay line.
struct Egress<'a> {
    socket: &'a UdpSocket,
    link: Option<&'a mut Link>,
    delayed: &'a mut DelayLine<(SocketAddr, Vec<u8>)>,
}

impl Egress<'_> {
    fn send(&mut self, now: Instant, contents: &[u8], destination: SocketAddr) {
        if let Some(link) = self.link.as_deref_mut() {
            match link.outbound.admit(now, contents.len()) {
                None => return,
                Some(at) if at > now => {
                    self.delayed.push(at, (destination, contents.to_vec()));
                    return;
                }
                Some(_) => {}
            }
        }
        send_datagram(self.socket, contents, destination);
    }
}

/// UDP: a datagram the kernel cannot take now is lost, like on a network.
fn send_datagram(socket: &UdpSocket, contents: &[u8], destination: SocketAddr) {
    if let Err(e) = socket.try_send_to(contents, destination) {
        tracing::trace!("udp send to {destination} failed: {e}");
    }
}

/// How to pick the payload type of a frame on the writing side.
#[derive(Debug, Clone, Copy)]
enum Payload {
    /// The codec (and parameters) the frame came in with.
    Like(PayloadParams),
    /// VP8, whatever its parameters (a transformed frame).
    Vp8,
}

/// A frame to write on another peer's (or the same peer's) sending mid.
struct OutFrame<'a> {
    kind: MediaKind,
    payload: Payload,
    wallclock: Instant,
    time: MediaTime,
    data: &'a Arc<[u8]>,
}

impl<'a> OutFrame<'a> {
    fn echo(kind: MediaKind, data: &'a MediaData) -> OutFrame<'a> {
        OutFrame {
            kind,
            payload: Payload::Like(data.params),
            wallclock: data.network_time,
            time: data.time,
            data: &data.data,
        }
    }

    fn transformed(f: &'a OutputFrame) -> OutFrame<'a> {
        OutFrame {
            kind: MediaKind::Video,
            payload: Payload::Vp8,
            wallclock: f.network_time,
            time: f.time,
            data: &f.data,
        }
    }
}

struct Peer {
    id: PeerId,
    session: String,
    role: Role,
    rtc: Rtc,
    events: mpsc::UnboundedSender<(PeerId, PeerEvent)>,
    counters: Option<Arc<MediaCounters>>,
    stall: Option<StallFault>,
    output: FrameRoute,
    /// When the first media frame arrived.
    media_start: Option<Instant>,
    /// Whether the last frame was held back by the stall fault.
    stalled: bool,
    medias: Vec<(Mid, MediaKind, Direction)>,
    last_keyframe_request: HashMap<Mid, Instant>,
}

/// Work produced by polling one peer that touches other peers (or itself, after polling).
/// Short-lived (one poll round), so the size of `MediaData` does not matter.
#[allow(clippy::large_enum_variant)]
enum Propagate {
    /// A frame from a publisher: echo it and fan it out.
    Media(PeerId, MediaData),
    /// A receiver (a publisher's echo or a viewer) asks for a keyframe.
    KeyframeRequest(PeerId, KeyframeRequest),
    /// A viewer connected: it needs a keyframe.
    ViewerConnected(PeerId),
}

impl Peer {
    fn handle_input(&mut self, input: Input) {
        if !self.rtc.is_alive() {
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::warn!(peer = self.id, session = %self.session, "peer connection failed: {e}");
            self.rtc.disconnect();
        }
    }

    fn kind_of(&self, mid: Mid) -> Option<(MediaKind, Direction)> {
        self.medias.iter().find(|m| m.0 == mid).map(|m| (m.1, m.2))
    }

    /// Mids this peer receives video on (keyframe requests go there).
    fn video_rx_mids(&self) -> Vec<Mid> {
        self.medias
            .iter()
            .filter(|m| m.1 == MediaKind::Video && m.2.is_receiving())
            .map(|m| m.0)
            .collect()
    }

    fn request_keyframe(&mut self, mid: Mid, now: Instant) {
        if self
            .last_keyframe_request
            .get(&mid)
            .is_some_and(|t| now.saturating_duration_since(*t) < KEYFRAME_REQUEST_INTERVAL)
        {
            return;
        }
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let kind = if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else if writer.is_request_keyframe_possible(KeyframeRequestKind::Fir) {
            KeyframeRequestKind::Fir
        } else {
            return;
        };
        // Fails before the first packet of the stream arrived (no receiver yet): try later.
        if writer.request_keyframe(None, kind).is_ok() {
            self.last_keyframe_request.insert(mid, now);
        }
    }

    fn request_video_keyframes(&mut self, now: Instant) {
        for mid in self.video_rx_mids() {
            self.request_keyframe(mid, now);
        }
    }

    /// Writes a frame on this peer's first sending mid of its kind (`prefer`: that exact
    /// mid when it sends). Returns whether it was written.
    fn write_frame(&mut self, prefer: Option<Mid>, frame: &OutFrame<'_>) -> bool {
        let kind = frame.kind;
        let mid = prefer
            .filter(|m| {
                self.kind_of(*m)
                    .is_some_and(|(k, d)| k == kind && d.is_sending())
            })
            .or_else(|| {
                self.medias
                    .iter()
                    .find(|m| m.1 == kind && m.2.is_sending())
                    .map(|m| m.0)
            });
        let Some(mid) = mid else { return false };
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let pt = match frame.payload {
            Payload::Like(params) => writer.match_params(params),
            Payload::Vp8 => writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Vp8)
                .map(|p| p.pt()),
        };
        let Some(pt) = pt else {
            return false;
        };
        match writer.write(pt, frame.wallclock, frame.time, frame.data.clone()) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(peer = self.id, session = %self.session, "writing media failed: {e}");
                false
            }
        }
    }

    fn handle_event(&mut self, event: Event, out: &mut Vec<Propagate>) {
        match event {
            Event::Connected => {
                tracing::debug!(peer = self.id, session = %self.session, role = ?self.role, "peer connected");
                let _ = self.events.send((self.id, PeerEvent::Connected));
                if self.role == Role::Viewer {
                    out.push(Propagate::ViewerConnected(self.id));
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.rtc.disconnect()
            }
            Event::MediaAdded(m) => self.medias.push((m.mid, m.kind, m.direction)),
            Event::MediaChanged(m) => {
                if let Some(entry) = self.medias.iter_mut().find(|e| e.0 == m.mid) {
                    entry.2 = m.direction;
                }
            }
            Event::MediaData(data) if self.role == Role::Publisher => {
                let video = self
                    .kind_of(data.mid)
                    .is_some_and(|(k, _)| k == MediaKind::Video);
                if let Some(c) = &self.counters {
                    c.frame_in(video, data.data.len());
                }
                if self.media_start.is_none() {
                    self.media_start = Some(Instant::now());
                    let _ = self.events.send((self.id, PeerEvent::MediaStarted));
                }
                if video && !data.contiguous {
                    self.request_keyframe(data.mid, Instant::now());
                }
                out.push(Propagate::Media(self.id, data));
            }
            Event::KeyframeRequest(req) => out.push(Propagate::KeyframeRequest(self.id, req)),
            Event::PeerStats(s) => {
                // `inbound_loss_rate` is the transport-wide loss (TWCC sequence numbers):
                // the share of the client's datagrams the network lost, before
                // retransmissions repair any. The video's receiver-report loss (below) is
                // after repair and is not reported.
                if let Some(c) = &self.counters {
                    c.set_transport(s.rtt, None, s.ingress_loss_fraction);
                }
            }
            Event::MediaIngressStats(s) => {
                let video = self
                    .kind_of(s.mid)
                    .is_some_and(|(k, _)| k == MediaKind::Video);
                if let (true, Some(c)) = (video, &self.counters) {
                    // RTP timestamp units of the 90 kHz video clock.
                    let jitter = Duration::from_micros(u64::from(s.jitter) * 1000 / 90);
                    c.set_transport(s.rtt, Some(jitter), None);
                }
            }
            _ => {}
        }
    }

    /// Polls until str0m wants a timeout; sends datagrams, collects propagation work.
    fn poll(&mut self, egress: &mut Egress<'_>, out: &mut Vec<Propagate>) -> Instant {
        loop {
            if !self.rtc.is_alive() {
                return Instant::now();
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) => egress.send(Instant::now(), &t.contents, t.destination),
                Ok(Output::Event(e)) => self.handle_event(e, out),
                Err(e) => {
                    tracing::warn!(peer = self.id, session = %self.session, "peer connection failed: {e}");
                    self.rtc.disconnect();
                }
            }
        }
    }
}

fn publisher_index(peers: &[Peer], session: &str) -> Option<usize> {
    peers
        .iter()
        .rposition(|p| p.role == Role::Publisher && p.session == session && p.rtc.is_alive())
}

/// Sends a frame of the publisher at `publisher` the way its route says (the echo on
/// `mid`) and to every viewer of its session; counts it when it reached the client.
fn deliver(peers: &mut [Peer], publisher: usize, mid: Mid, frame: &OutFrame<'_>, now: Instant) {
    let Some(p) = peers.get_mut(publisher) else {
        return;
    };
    let output = match p.output {
        FrameRoute::Echo => p.write_frame(Some(mid), frame),
        FrameRoute::Stage => true,
        FrameRoute::Withheld => false,
    };
    if let (true, Some(c)) = (output, &p.counters) {
        c.frame_out(
            frame.kind == MediaKind::Video,
            frame.data.len(),
            now.saturating_duration_since(frame.wallclock),
        );
    }
    // The fan-out: str0m only queues here, so viewers never slow the publisher.
    let session = p.session.clone();
    for viewer in peers
        .iter_mut()
        .filter(|p| p.role == Role::Viewer && p.session == session)
    {
        viewer.write_frame(None, frame);
    }
}

/// A receiver of `session` wants a keyframe: the session's encoder makes one when it
/// transforms, else the publisher is asked.
fn keyframe_for(peers: &mut [Peer], sessions: &Sessions, session: &str, now: Instant) {
    if let Some(worker) = sessions.running_worker(session) {
        worker.force_keyframe();
    } else if let Some(p) = publisher_index(peers, session) {
        peers[p].request_video_keyframes(now);
    }
}

fn propagate(peers: &mut [Peer], sessions: &mut Sessions, work: Propagate) {
    let now = Instant::now();
    match work {
        Propagate::Media(from, data) => {
            let Some(i) = peers.iter().position(|p| p.id == from) else {
                return;
            };
            let Some((kind, _)) = peers[i].kind_of(data.mid) else {
                return;
            };
            let publisher = &mut peers[i];
            if let (Some(stall), Some(start)) = (publisher.stall, publisher.media_start) {
                let stalled = stall.is_stalled(now.saturating_duration_since(start));
                if stalled != publisher.stalled {
                    publisher.stalled = stalled;
                    tracing::info!(session = %publisher.session, "media stall fault {}", if stalled { "started" } else { "ended" });
                    if !stalled {
                        publisher.request_video_keyframes(now);
                    }
                }
                if stalled {
                    if kind == MediaKind::Video {
                        if let Some(w) = sessions.running_worker(&publisher.session) {
                            w.mark_gap();
                        }
                    }
                    return;
                }
            }
            // Transform mode: VP8 video goes to the session's worker; its output comes back
            // as a `WorkerEvent`. Other codecs and audio (and everything, should the worker
            // fail to start) pass unchanged.
            if kind == MediaKind::Video
                && data.params.spec().codec == Codec::Vp8
                && sessions.transforms(&publisher.session)
            {
                let session = publisher.session.clone();
                if let Some(worker) = sessions.worker(&session) {
                    worker.push(InputFrame {
                        mid: data.mid,
                        time: data.time,
                        network_time: data.network_time,
                        contiguous: data.contiguous,
                        data: data.data.clone(),
                    });
                    return;
                }
            }
            deliver(peers, i, data.mid, &OutFrame::echo(kind, &data), now);
        }
        Propagate::KeyframeRequest(from, req) => {
            let Some(i) = peers.iter().position(|p| p.id == from) else {
                return;
            };
            let session = peers[i].session.clone();
            match peers[i].role {
                // The client's receiver of its echo: in echo mode, its own incoming stream
                // on that mid.
                Role::Publisher if !sessions.transforms(&session) => {
                    peers[i].request_keyframe(req.mid, now)
                }
                Role::Publisher | Role::Viewer => keyframe_for(peers, sessions, &session, now),
            }
        }
        Propagate::ViewerConnected(viewer) => {
            let Some(session) = peers
                .iter()
                .find(|p| p.id == viewer)
                .map(|p| p.session.clone())
            else {
                return;
            };
            keyframe_for(peers, sessions, &session, now);
        }
    }
}

/// What a worker reported: a transformed frame to hold until due, or a keyframe request
/// for the publisher.
fn on_worker_event(peers: &mut [Peer], sessions: &mut Sessions, event: WorkerEvent) {
    match event {
        WorkerEvent::Frame(frame) => {
            let Some(state) = sessions.map.get_mut(&*frame.session) else {
                return;
            };
            if state.out.len() >= OUTPUT_QUEUE {
                state.out.pop_front();
                state.media.counters.skipped_out(1);
            }
            state.out.push_back(frame);
            state.media.counters.set_out_depth(state.out.len());
        }
        WorkerEvent::NeedKeyframe(session) => {
            if let Some(p) = publisher_index(peers, &session) {
                peers[p].request_video_keyframes(Instant::now());
            }
        }
    }
}

/// Sends every transformed frame whose time has come.
fn release_due(peers: &mut [Peer], sessions: &mut Sessions, now: Instant) {
    for (session, state) in sessions.map.iter_mut() {
        if state.out.front().is_none_or(|f| f.ready_at > now) {
            continue;
        }
        while state.out.front().is_some_and(|f| f.ready_at <= now) {
            let Some(frame) = state.out.pop_front() else {
                break;
            };
            if let Some(p) = publisher_index(peers, session) {
                deliver(peers, p, frame.mid, &OutFrame::transformed(&frame), now);
            }
        }
        state.media.counters.set_out_depth(state.out.len());
    }
}

/// A datagram that network impairment held back reaches its peer.
fn receive_delayed(
    peers: &mut [Peer],
    id: PeerId,
    source: SocketAddr,
    local: SocketAddr,
    bytes: &[u8],
) {
    let Some(peer) = peers.iter_mut().find(|p| p.id == id) else {
        return;
    };
    if let Ok(contents) = bytes.try_into() {
        peer.handle_input(Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: local,
                contents,
            },
        ));
    }
}

fn open_peer(open: OpenPeer, local: SocketAddr) -> Result<(Peer, SdpAnswer), String> {
    let mut rtc = Rtc::builder()
        .set_stats_interval(Some(Duration::from_secs(1)))
        .build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| format!("host candidate: {e}"))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(open.offer)
        .map_err(|e| format!("offer not accepted: {e}"))?;
    let peer = Peer {
        id: open.peer,
        session: open.session_id,
        role: open.role,
        rtc,
        events: open.events,
        counters: open.counters,
        stall: open.stall,
        output: open.output,
        media_start: None,
        stalled: false,
        medias: Vec::new(),
        last_keyframe_request: HashMap::new(),
    };
    Ok((peer, answer))
}

enum Wake {
    Datagram(usize, SocketAddr),
    Command(Command),
    Worker(WorkerEvent),
    Timeout,
    Stop,
}

async fn run(
    socket: UdpSocket,
    local: SocketAddr,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut peers: Vec<Peer> = Vec::new();
    let (worker_tx, mut worker_rx) = mpsc::unbounded_channel();
    let mut sessions = Sessions {
        map: HashMap::new(),
        worker_tx,
    };
    // Datagrams held back by network impairment.
    let mut inbound: DelayLine<(PeerId, SocketAddr, Vec<u8>)> = DelayLine::new(DELAYED_DATAGRAMS);
    let mut outbound: DelayLine<(SocketAddr, Vec<u8>)> = DelayLine::new(DELAYED_DATAGRAMS);
    let mut buf = vec![0u8; 2000];
    loop {
        let now = Instant::now();
        while let Some((destination, bytes)) = outbound.pop_due(now) {
            send_datagram(&socket, &bytes, destination);
        }
        while let Some((peer, source, bytes)) = inbound.pop_due(now) {
            receive_delayed(&mut peers, peer, source, local, &bytes);
        }
        release_due(&mut peers, &mut sessions, now);

        // Poll every peer until each wants a timeout; propagating media produces more output,
        // so go round until nothing is left to propagate.
        let mut deadline = now + Duration::from_millis(100);
        loop {
            let mut work = Vec::new();
            for peer in peers.iter_mut() {
                let mut egress = Egress {
                    socket: &socket,
                    link: sessions.link(&peer.session),
                    delayed: &mut outbound,
                };
                deadline = deadline.min(peer.poll(&mut egress, &mut work));
            }
            if work.is_empty() {
                break;
            }
            for w in work {
                propagate(&mut peers, &mut sessions, w);
            }
        }
        for due in [outbound.next_due(), inbound.next_due(), sessions.next_due()]
            .into_iter()
            .flatten()
        {
            deadline = deadline.min(due);
        }
        peers.retain(|p| {
            let alive = p.rtc.is_alive();
            if !alive {
                tracing::debug!(peer = p.id, session = %p.session, "peer connection closed");
                let _ = p.events.send((p.id, PeerEvent::Closed));
            }
            alive
        });

        let sleep =
            tokio::time::Instant::from_std(deadline.max(Instant::now() + Duration::from_millis(1)));
        let wake = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, source)) => Wake::Datagram(n, source),
                // e.g. ICMP port unreachable reported on the next read: not fatal.
                Err(e) => {
                    tracing::trace!("udp receive: {e}");
                    Wake::Timeout
                }
            },
            c = commands.recv() => c.map_or(Wake::Stop, Wake::Command),
            e = worker_rx.recv() => e.map_or(Wake::Timeout, Wake::Worker),
            _ = tokio::time::sleep_until(sleep) => Wake::Timeout,
            _ = crate::until_true(&mut shutdown) => Wake::Stop,
        };
        match wake {
            Wake::Stop => break,
            Wake::Timeout => {}
            Wake::Worker(event) => on_worker_event(&mut peers, &mut sessions, event),
            Wake::Datagram(n, source) => {
                let now = Instant::now();
                let Some(bytes) = buf.get(..n) else { continue };
                if let Ok(contents) = bytes.try_into() {
                    let input = Input::Receive(
                        now,
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: local,
                            contents,
                        },
                    );
                    // `accepts` demultiplexes: ICE ufrag for STUN, remote address otherwise.
                    if let Some(peer) = peers.iter_mut().find(|p| p.rtc.accepts(&input)) {
                        match sessions
                            .link(&peer.session)
                            .map(|l| l.inbound.admit(now, n))
                        {
                            // Lost on the impaired network.
                            Some(None) => {}
                            Some(Some(at)) if at > now => {
                                inbound.push(at, (peer.id, source, bytes.to_vec()));
                            }
                            _ => peer.handle_input(input),
                        }
                    }
                }
            }
            Wake::Command(Command::Open(open, reply)) => {
                let id = open.peer;
                match open_peer(*open, local) {
                    Ok((peer, answer)) => {
                        // Replace a peer of the same id, if any (cannot happen with fresh ids).
                        peers.retain(|p| p.id != id);
                        peers.push(peer);
                        let _ = reply.send(Ok(answer));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Wake::Command(Command::RemoteCandidate(id, candidate)) => {
                if let Some(peer) = peers.iter_mut().find(|p| p.id == id) {
                    peer.rtc.add_remote_candidate(candidate);
                }
            }
            Wake::Command(Command::Close(id)) => {
                if let Some(peer) = peers.iter_mut().find(|p| p.id == id) {
                    peer.rtc.disconnect();
                }
            }
            Wake::Command(Command::Register(session, media)) => {
                let link = media.params.net.map(|n| Link::new(n, media.started));
                sessions.map.insert(
                    session,
                    SessionState {
                        media,
                        worker: None,
                        out: VecDeque::new(),
                        link,
                    },
                );
            }
            Wake::Command(Command::Unregister(session)) => {
                sessions.map.remove(&session);
            }
        }
        let now = Instant::now();
        for peer in peers.iter_mut() {
            peer.handle_input(Input::Timeout(now));
        }
    }
    for mut peer in peers {
        peer.rtc.disconnect();
    }
}
