//! The WebRTC peer connection: created with the session's ICE servers, the
//! local tracks (or receive-only transceivers) and VP8 first; offer/answer, remote candidates
//! (held until the remote description is set), ICE restart; its events forwarded into the
//! connection's input channel. Dropping it closes the peer connection and removes every
//! listener.

use crate::core::diagnostics::StateKind;
use crate::core::error::{ErrorCode, SdkError};
use crate::core::json::Json;
use crate::core::protocol::IceCandidateInit;
use crate::core::sdp;
use crate::web::chan::Sender;
use crate::web::error::{from_js, Result};
use crate::web::js::{await_js, get, method, set, to_js, Task};
use gloo_events::EventListener;
use js_sys::{Array, Function, Object, Promise};
use std::cell::{Cell, RefCell};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcIceConnectionState, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcRtpTransceiverDirection,
    RtcRtpTransceiverInit, RtcSdpType, RtcSessionDescriptionInit, RtcSignalingState, RtcTrackEvent,
};

/// What the peer connection reports.
pub enum PcEvent {
    /// A local ICE candidate (`None` = gathering complete).
    Candidate(Option<JsValue>),
    /// One of its states changed (read the current value with [`PeerConn::state`]).
    State(StateKind),
    /// A remote track arrived, with its first stream.
    Track(MediaStreamTrack, Option<MediaStream>),
}

/// What the peer connection sends and receives.
pub enum Media<'a> {
    /// The published stream's tracks (audio only for an avatar, plus receive-only video), or
    /// receive-only video and audio when there is no stream.
    Publish {
        /// The stream to publish.
        stream: Option<&'a MediaStream>,
        /// `live_avatar`: sends audio only.
        avatar: bool,
    },
    /// A viewer: receive-only video and audio.
    Receive,
}

/// One peer connection and its listeners.
pub struct PeerConn {
    pc: RtcPeerConnection,
    listeners: RefCell<Vec<EventListener>>,
    remote_set: Cell<bool>,
    early: RefCell<Vec<IceCandidateInit>>,
}

impl Drop for PeerConn {
    fn drop(&mut self) {
        self.listeners.borrow_mut().clear();
        self.pc.close();
    }
}

/// An `RTCConfiguration` with `ice_servers` (a JS array) and, when `relay`, relay-only ICE.
fn configuration(ice_servers: &JsValue, relay: bool) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    set(&config, "iceServers", ice_servers);
    if relay {
        set(&config, "iceTransportPolicy", &"relay".into());
    }
    config
}

/// `RTCIceServer[]` of the configured servers (`Json` array) plus `extra`.
pub fn ice_servers(configured: &[Json], extra: Option<&Json>) -> JsValue {
    configured
        .iter()
        .chain(extra)
        .map(to_js)
        .collect::<Array>()
        .into()
}

/// URL schemes of TURN servers.
pub const TURN_SCHEMES: &[&str] = &["turn:", "turns:"];

/// True when one of `servers` (`RTCIceServer`s) has a URL with one of `schemes` (lower case,
/// with the colon).
pub fn has_scheme(servers: &[Json], schemes: &[&str]) -> bool {
    servers.iter().any(|s| {
        let urls = match s.get("urls") {
            Some(Json::Arr(items)) => items.as_slice(),
            Some(u) => std::slice::from_ref(u),
            None => &[],
        };
        urls.iter().filter_map(Json::as_str).any(|u| {
            schemes
                .iter()
                .any(|p| u.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
        })
    })
}

fn state_name<T: Copy + PartialEq>(state: T, names: &[(T, &'static str)]) -> &'static str {
    names
        .iter()
        .find(|(s, _)| *s == state)
        .map_or("unknown", |(_, n)| n)
}

impl PeerConn {
    /// Creates the peer connection with `ice_servers` (relay-only ICE when `relay`), adds
    /// `media`, prefers VP8 and forwards its events through `map` into `tx`.
    pub fn create<I: 'static>(
        ice_servers: &JsValue,
        relay: bool,
        media: Media<'_>,
        tx: &Sender<I>,
        map: fn(PcEvent) -> I,
    ) -> Result<PeerConn> {
        let pc = RtcPeerConnection::new_with_configuration(&configuration(ice_servers, relay))
            .map_err(|e| {
                from_js(
                    ErrorCode::SignalingError,
                    "could not create the peer connection",
                    &e,
                )
            })?;
        let recvonly = |kind: &str| {
            let init = RtcRtpTransceiverInit::new();
            init.set_direction(RtcRtpTransceiverDirection::Recvonly);
            pc.add_transceiver_with_str_and_init(kind, &init);
        };
        match media {
            Media::Receive => {
                recvonly("video");
                recvonly("audio");
            }
            Media::Publish { stream, avatar } => {
                let tracks = super::stream_tracks(stream);
                let mut sends_video = false;
                if let Some(s) = stream {
                    for t in &tracks {
                        // An avatar session sends audio only.
                        let video = t.kind() == "video";
                        if !(avatar && video) {
                            pc.add_track_0(t, s);
                            sends_video |= video;
                        }
                    }
                }
                if !sends_video {
                    recvonly("video");
                }
                if stream.is_none() {
                    recvonly("audio");
                }
            }
        }
        prefer_vp8(&pc);
        let conn = PeerConn {
            pc,
            listeners: RefCell::new(Vec::new()),
            remote_set: Cell::new(false),
            early: RefCell::new(Vec::new()),
        };
        conn.listen(tx, map);
        Ok(conn)
    }

    fn listen<I: 'static>(&self, tx: &Sender<I>, map: fn(PcEvent) -> I) {
        let forward = move |tx: &Sender<I>, ev: PcEvent| {
            tx.send(map(ev));
        };
        let mut ls = self.listeners.borrow_mut();
        let t = tx.clone();
        ls.push(EventListener::new(&self.pc, "icecandidate", move |e| {
            let c = e
                .dyn_ref::<RtcPeerConnectionIceEvent>()
                .and_then(|e| e.candidate())
                .map(JsValue::from);
            forward(&t, PcEvent::Candidate(c));
        }));
        for (event, kind) in [
            ("connectionstatechange", StateKind::Connection),
            ("iceconnectionstatechange", StateKind::Ice),
            ("signalingstatechange", StateKind::Signaling),
        ] {
            let t = tx.clone();
            ls.push(EventListener::new(&self.pc, event, move |_| {
                forward(&t, PcEvent::State(kind));
            }));
        }
        let t = tx.clone();
        ls.push(EventListener::new(&self.pc, "track", move |e| {
            if let Some(e) = e.dyn_ref::<RtcTrackEvent>() {
                let stream = e.streams().get(0).dyn_into::<MediaStream>().ok();
                forward(&t, PcEvent::Track(e.track(), stream));
            }
        }));
    }

    /// The current value of one of its states, as the browser names it.
    pub fn state(&self, kind: StateKind) -> &'static str {
        match kind {
            StateKind::Connection => {
                use RtcPeerConnectionState as S;
                state_name(
                    self.pc.connection_state(),
                    &[
                        (S::New, "new"),
                        (S::Connecting, "connecting"),
                        (S::Connected, "connected"),
                        (S::Disconnected, "disconnected"),
                        (S::Failed, "failed"),
                        (S::Closed, "closed"),
                    ],
                )
            }
            StateKind::Ice => {
                use RtcIceConnectionState as S;
                state_name(
                    self.pc.ice_connection_state(),
                    &[
                        (S::New, "new"),
                        (S::Checking, "checking"),
                        (S::Connected, "connected"),
                        (S::Completed, "completed"),
                        (S::Disconnected, "disconnected"),
                        (S::Failed, "failed"),
                        (S::Closed, "closed"),
                    ],
                )
            }
            StateKind::Signaling => {
                use RtcSignalingState as S;
                state_name(
                    self.pc.signaling_state(),
                    &[
                        (S::Stable, "stable"),
                        (S::HaveLocalOffer, "have-local-offer"),
                        (S::HaveRemoteOffer, "have-remote-offer"),
                        (S::HaveLocalPranswer, "have-local-pranswer"),
                        (S::HaveRemotePranswer, "have-remote-pranswer"),
                        (S::Closed, "closed"),
                    ],
                )
            }
        }
    }

    /// True once the peer connection is `connected`.
    pub fn is_connected(&self) -> bool {
        self.pc.connection_state() == RtcPeerConnectionState::Connected
    }

    /// True while an offer of ours awaits its answer.
    pub fn awaits_answer(&self) -> bool {
        self.pc.signaling_state() == RtcSignalingState::HaveLocalOffer
    }

    /// True when a remote offer can be taken (no offer of ours is pending).
    pub fn takes_offer(&self) -> bool {
        self.pc.signaling_state() == RtcSignalingState::Stable
    }

    /// The raw peer connection (stats).
    pub fn raw(&self) -> &RtcPeerConnection {
        &self.pc
    }

    /// Creates an offer (an ICE restart when `ice_restart`), adds the VP8 bitrate hints,
    /// lets `customize` edit it (it may return a promise), sets it as the local description
    /// and returns its SDP.
    pub fn offer<'a>(
        &'a self,
        customize: Option<&'a Function>,
        ice_restart: bool,
    ) -> Task<'a, Result<String>> {
        Box::pin(async move {
            let options = Object::new();
            if ice_restart {
                set(&options, "iceRestart", &true.into());
            }
            let p = method(&self.pc, "createOffer")
                .and_then(|f| f.call1(&self.pc, &options).ok())
                .and_then(|p| p.dyn_into::<Promise>().ok())
                .ok_or_else(|| {
                    SdkError::new(ErrorCode::SignalingError, "createOffer is missing")
                })?;
            let offer = await_js(p, ErrorCode::SignalingError, "createOffer failed").await?;
            let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
            init.set_sdp(&sdp::set_vp8_bitrates(
                &get(&offer, "sdp").as_string().unwrap_or_default(),
            ));
            if let Some(hook) = customize {
                // The hook edits `offer.sdp` in place and may return a promise.
                let r = hook
                    .call1(&JsValue::NULL, &init)
                    .map_err(|e| from_js(ErrorCode::InvalidOptions, "customizeOffer threw", &e))?;
                if let Ok(p) = r.dyn_into::<Promise>() {
                    await_js(p, ErrorCode::InvalidOptions, "customizeOffer rejected").await?;
                }
            }
            await_js(
                self.pc.set_local_description(&init),
                ErrorCode::SignalingError,
                "setLocalDescription(offer) failed",
            )
            .await?;
            Ok(get(&init, "sdp").as_string().unwrap_or_default())
        })
    }

    /// Sets the remote description, then adds the candidates that came before it.
    pub fn set_remote<'a>(&'a self, offer: bool, sdp_text: &'a str) -> Task<'a, Result<()>> {
        Box::pin(async move {
            let init = RtcSessionDescriptionInit::new(if offer {
                RtcSdpType::Offer
            } else {
                RtcSdpType::Answer
            });
            init.set_sdp(sdp_text);
            await_js(
                self.pc.set_remote_description(&init),
                ErrorCode::SignalingError,
                "setRemoteDescription failed",
            )
            .await?;
            self.remote_set.set(true);
            let early: Vec<_> = self.early.borrow_mut().drain(..).collect();
            for c in &early {
                self.add_candidate(c).await;
            }
            Ok(())
        })
    }

    /// Answers a remote offer (already set): returns the answer's SDP.
    pub fn answer(&self) -> Task<'_, Result<String>> {
        Box::pin(async move {
            let answer = await_js(
                self.pc.create_answer(),
                ErrorCode::SignalingError,
                "createAnswer failed",
            )
            .await?;
            let init = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
            init.set_sdp(&get(&answer, "sdp").as_string().unwrap_or_default());
            await_js(
                self.pc.set_local_description(&init),
                ErrorCode::SignalingError,
                "setLocalDescription(answer) failed",
            )
            .await?;
            Ok(get(&init, "sdp").as_string().unwrap_or_default())
        })
    }

    /// Adds a remote candidate (held until the remote description is set). A candidate the
    /// browser cannot use is not fatal: others may work.
    pub fn add_candidate<'a>(&'a self, c: &'a IceCandidateInit) -> Task<'a, ()> {
        Box::pin(async move {
            if !self.remote_set.get() {
                self.early.borrow_mut().push(c.clone());
                return;
            }
            let p = method(&self.pc, "addIceCandidate")
                .and_then(|f| f.call1(&self.pc, &to_js(&c.to_json())).ok())
                .and_then(|p| p.dyn_into::<Promise>().ok());
            if let Some(p) = p {
                let _ = wasm_bindgen_futures::JsFuture::from(p).await;
            }
        })
    }

    /// Uses new ICE servers (relay-only when `relay`) for the next ICE restart.
    pub fn set_ice_servers(&self, ice_servers: &JsValue, relay: bool) -> Result<()> {
        self.pc
            .set_configuration_with_configuration(&configuration(ice_servers, relay))
            .map_err(|e| from_js(ErrorCode::SignalingError, "setConfiguration failed", &e))
    }
}

/// Moves VP8 to the front of every video transceiver's codec preferences.
fn prefer_vp8(pc: &RtcPeerConnection) {
    let receiver = get(&js_sys::global(), "RTCRtpReceiver");
    let Some(caps) = crate::web::js::call(&receiver, "getCapabilities", &[&"video".into()]) else {
        return;
    };
    let Ok(codecs) = get(&caps, "codecs").dyn_into::<Array>() else {
        return;
    };
    let is_vp8 = |c: &JsValue| {
        get(c, "mimeType")
            .as_string()
            .is_some_and(|m| m.eq_ignore_ascii_case("video/VP8"))
    };
    if !codecs.iter().any(|c| is_vp8(&c)) {
        return;
    }
    let sorted: Array = codecs
        .iter()
        .filter(is_vp8)
        .chain(codecs.iter().filter(|c| !is_vp8(c)))
        .collect();
    for t in pc.get_transceivers().iter() {
        let kind = get(&get(&get(&t, "receiver"), "track"), "kind").as_string();
        if kind.as_deref() == Some("video") {
            let _ = crate::web::js::call(&t, "setCodecPreferences", &[&sorted]);
        }
    }
}
