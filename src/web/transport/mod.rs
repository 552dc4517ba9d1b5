//! One connection attempt's browser objects: the signaling WebSocket and the media link,
//! either a WebRTC peer connection or an IVS stage. Every browser event goes into one
//! channel of [`Input`]s read by one task; JS callbacks only forward. Dropping a
//! [`Connection`] closes the socket and the peer connection or leaves the stage, removes
//! every listener and cancels its tasks.

pub mod ivs;
pub mod ivs_sdk;
pub mod peer;
pub mod webrtc;
pub mod ws;

use crate::core::diagnostics::StateHistory;
use crate::core::error::{ErrorCode, SdkError};
use crate::core::json::Json;
use crate::core::protocol::ClientMessage;
use crate::web::cancel::{CancelOnDrop, CancelToken};
use crate::web::chan::{channel, Receiver, Sender};
use crate::web::error::{from_js, Result};
use crate::web::session::Session;
use ivs_sdk::{StageConn, StageInput};
use peer::{PcEvent, PeerConn};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use web_sys::{MediaStream, MediaStreamTrack};
use ws::{Ws, WsEvent};

/// What a connection's browser objects report, in one channel.
pub enum Input {
    /// WebSocket event.
    Ws(WsEvent),
    /// Peer connection event.
    Pc(PcEvent),
    /// IVS stage event.
    Stage(StageInput),
}

/// The media link of a connection.
pub enum Link {
    /// Not created yet (WebSocket phase, initial state).
    Pending,
    /// A WebRTC peer connection.
    WebRtc(Rc<PeerConn>),
    /// An IVS stage.
    Ivs(Rc<StageConn>),
}

/// One connection attempt's browser objects and what it learnt so far.
pub struct Connection {
    /// The signaling socket (an IVS viewer has none).
    pub ws: Option<Ws>,
    /// Where browser callbacks forward their events.
    pub tx: Sender<Input>,
    link: RefCell<Link>,
    remote: RefCell<Option<MediaStream>>,
    /// The `turn_config` of this connection, as an `RTCIceServer`.
    pub turn: RefCell<Option<Json>>,
    /// The server sent `session_id` on this connection (a second one is ignored).
    pub has_session_id: Cell<bool>,
    /// The IVS stage reported `connected` (and `ivs_joined` was sent).
    pub stage_connected: Cell<bool>,
    /// Peer connection states, for `previousState`.
    pub states: RefCell<StateHistory>,
    /// Offers sent and answers taken: an answer to an older offer (after an ICE restart) is
    /// stale.
    pub offers: Cell<u32>,
    /// Answers taken.
    pub answers: Cell<u32>,
    /// Cancelled when the connection is dropped: stops its tasks (stats polling).
    pub cancel: CancelToken,
    _cancel: CancelOnDrop,
}

impl Drop for Connection {
    fn drop(&mut self) {
        *self.link.borrow_mut() = Link::Pending;
    }
}

/// A live connection and its input channel.
pub struct Live {
    /// The connection.
    pub conn: Rc<Connection>,
    /// Its inputs.
    pub rx: Receiver<Input>,
}

impl Live {
    /// The next input; `None` when every sender is gone.
    pub async fn next(&mut self) -> Option<Input> {
        self.rx.next().await
    }
}

impl Connection {
    /// Opens the WebSocket at `url` (none for an IVS viewer).
    pub fn open(url: Option<&str>) -> Result<Live> {
        let (tx, rx) = channel();
        let ws = match url {
            Some(url) => Some(Ws::open(url, tx.clone(), Input::Ws)?),
            None => None,
        };
        let cancel = CancelToken::new();
        let conn = Connection {
            ws,
            tx,
            link: RefCell::new(Link::Pending),
            remote: RefCell::new(None),
            turn: RefCell::new(None),
            has_session_id: Cell::new(false),
            stage_connected: Cell::new(false),
            states: RefCell::new(StateHistory::default()),
            offers: Cell::new(0),
            answers: Cell::new(0),
            _cancel: CancelOnDrop(cancel.clone()),
            cancel,
        };
        Ok(Live {
            conn: Rc::new(conn),
            rx,
        })
    }

    /// Sends on the signaling socket.
    pub fn send(&self, m: &ClientMessage) -> Result<()> {
        match &self.ws {
            Some(ws) => ws.send(m),
            None => Err(SdkError::new(
                ErrorCode::NotConnected,
                "this connection has no signaling socket",
            )),
        }
    }

    /// Sets the media link.
    pub fn set_link(&self, link: Link) {
        *self.link.borrow_mut() = link;
    }

    /// The peer connection, on WebRTC once created.
    pub fn pc(&self) -> Option<Rc<PeerConn>> {
        match &*self.link.borrow() {
            Link::WebRtc(pc) => Some(pc.clone()),
            _ => None,
        }
    }

    /// The stage, on IVS once created.
    pub fn stage(&self) -> Option<Rc<StageConn>> {
        match &*self.link.borrow() {
            Link::Ivs(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// The output stream, once the first remote track arrived.
    pub fn remote(&self) -> Option<MediaStream> {
        self.remote.borrow().clone()
    }

    /// Adds remote `tracks` to the one output stream of this connection (`given`, or a new
    /// one); the first time, hands it to `onRemoteStream` and the `remoteStream` event, and
    /// starts latency reading when this is the live connection.
    pub fn deliver_tracks(
        &self,
        ctx: &Session,
        tracks: &[MediaStreamTrack],
        given: Option<MediaStream>,
    ) -> Result<()> {
        let (stream, is_new) = {
            let mut rs = self.remote.borrow_mut();
            let is_new = rs.is_none();
            let s = match (rs.as_ref(), given) {
                (Some(s), _) => s.clone(),
                (None, Some(s)) => s,
                (None, None) => MediaStream::new()
                    .map_err(|e| from_js(ErrorCode::MediaError, "MediaStream failed", &e))?,
            };
            for t in tracks {
                if !s.get_tracks().includes(t, 0) {
                    s.add_track(t);
                }
            }
            *rs = Some(s.clone());
            (s, is_new)
        };
        ctx.quality.watch_first_frame(ctx, &stream);
        // Once per connection: later tracks join the stream the page already has.
        if !is_new {
            return Ok(());
        }
        if let Err(e) = ctx.on_remote_stream.call1(&JsValue::NULL, &stream) {
            ctx.logger.error("onRemoteStream threw", &e);
        }
        let live = ctx
            .conn
            .borrow()
            .as_ref()
            .is_some_and(|c| std::ptr::eq(c.as_ref(), self));
        if live {
            ctx.start_latency_reading(&stream);
        }
        ctx.events.emit("remoteStream", stream.into());
        Ok(())
    }
}

/// The tracks of the caller's stream (none without one).
pub fn stream_tracks(stream: Option<&MediaStream>) -> Vec<MediaStreamTrack> {
    use wasm_bindgen::JsCast;
    stream
        .map(|s| {
            s.get_tracks()
                .iter()
                .filter_map(|t| t.dyn_into().ok())
                .collect()
        })
        .unwrap_or_default()
}
