//! The media task: one UDP socket and every str0m [`Rtc`] of the server, driven sans-IO in
//! one tokio task, in the shape of str0m's `examples/chat.rs`.
//!
//! * A **publisher** peer connection belongs to a session. Its client offers sendrecv
//!   video/audio; every frame it sends is written back unchanged on the same mid (the echo:
//!   no decoding, no re-encoding, so a pixel marker stamped in the client's frames survives)
//!   and to every viewer of the session.
//! * A **viewer** peer connection offers recvonly transceivers; it gets the frames of its
//!   session's publisher on the mid of the same kind.
//!
//! Keyframes: a keyframe request (PLI/FIR) from any receiver, a newly connected viewer, a
//! gap in the incoming frames and the end of an injected stall all ask the publisher for a
//! keyframe (at most one request per mid every 500 ms).
//!
//! Sessions talk to this task only through [`MediaHandle`] commands and per-peer
//! [`PeerEvent`]s; no session ever waits on media, and media never waits on a session.

use crate::faults::StallFault;
use crate::meter::MediaCounters;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, Mid};
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

    /// Writes a frame on this peer's first sending mid of `kind` (`prefer`: that exact mid
    /// when it sends). Returns whether it was written.
    fn write_frame(&mut self, prefer: Option<Mid>, kind: MediaKind, data: &MediaData) -> bool {
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
        let Some(pt) = writer.match_params(data.params) else {
            return false;
        };
        match writer.write(pt, data.network_time, data.time, data.data.clone()) {
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
                    c.set_transport(s.rtt, Some(jitter), s.loss);
                }
            }
            _ => {}
        }
    }

    /// Polls until str0m wants a timeout; sends datagrams, collects propagation work.
    fn poll(&mut self, socket: &UdpSocket, out: &mut Vec<Propagate>) -> Instant {
        loop {
            if !self.rtc.is_alive() {
                return Instant::now();
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) => {
                    // UDP: a datagram the kernel cannot take now is lost, like on a network.
                    if let Err(e) = socket.try_send_to(&t.contents, t.destination) {
                        tracing::trace!(
                            peer = self.id,
                            "udp send to {} failed: {e}",
                            t.destination
                        );
                    }
                }
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

fn propagate(peers: &mut [Peer], work: Propagate) {
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
                    return;
                }
            }
            let output = match publisher.output {
                // The echo, on the same mid the frame came in on.
                FrameRoute::Echo => publisher.write_frame(Some(data.mid), kind, &data),
                FrameRoute::Stage => true,
                FrameRoute::Withheld => false,
            };
            if let (true, Some(c)) = (output, &publisher.counters) {
                c.frame_out(
                    kind == MediaKind::Video,
                    data.data.len(),
                    now.saturating_duration_since(data.network_time),
                );
            }
            // The fan-out: str0m only queues here, so viewers never slow the publisher.
            let session = publisher.session.clone();
            for viewer in peers
                .iter_mut()
                .filter(|p| p.role == Role::Viewer && p.session == session)
            {
                viewer.write_frame(None, kind, &data);
            }
        }
        Propagate::KeyframeRequest(from, req) => {
            let Some(i) = peers.iter().position(|p| p.id == from) else {
                return;
            };
            match peers[i].role {
                // The client's receiver of the echo: its own incoming stream on that mid.
                Role::Publisher => peers[i].request_keyframe(req.mid, now),
                Role::Viewer => {
                    let session = peers[i].session.clone();
                    if let Some(p) = publisher_index(peers, &session) {
                        peers[p].request_video_keyframes(now);
                    }
                }
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
            if let Some(p) = publisher_index(peers, &session) {
                peers[p].request_video_keyframes(now);
            }
        }
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
    let mut buf = vec![0u8; 2000];
    loop {
        // Poll every peer until each wants a timeout; propagating media produces more output,
        // so go round until nothing is left to propagate.
        let mut deadline = Instant::now() + Duration::from_millis(100);
        loop {
            let mut work = Vec::new();
            for peer in peers.iter_mut() {
                deadline = deadline.min(peer.poll(&socket, &mut work));
            }
            if work.is_empty() {
                break;
            }
            for w in work {
                propagate(&mut peers, w);
            }
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
            _ = tokio::time::sleep_until(sleep) => Wake::Timeout,
            _ = crate::until_true(&mut shutdown) => Wake::Stop,
        };
        match wake {
            Wake::Stop => break,
            Wake::Timeout => {}
            Wake::Datagram(n, source) => {
                if let Ok(contents) = buf[..n].try_into() {
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: local,
                            contents,
                        },
                    );
                    // `accepts` demultiplexes: ICE ufrag for STUN, remote address otherwise.
                    if let Some(peer) = peers.iter_mut().find(|p| p.rtc.accepts(&input)) {
                        peer.handle_input(input);
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
