//! The signaling WebSocket: its events are forwarded into the connection's input channel;
//! the socket and its listeners are released on drop.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::protocol::{ClientMessage, Message};
use crate::web::chan::Sender;
use crate::web::error::{from_js, Result};
use crate::web::js::BROWSER;
use gloo_events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What the socket reports.
#[derive(Debug)]
pub enum WsEvent {
    /// Opened.
    Open,
    /// A text frame.
    Message(String),
    /// Closed (by either side).
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// An open (or opening) WebSocket and its listeners.
pub struct Ws {
    socket: WebSocket,
    _listeners: [EventListener; 3],
}

impl Ws {
    /// Opens `url`, forwarding events through `map` into `tx`.
    pub fn open<I: 'static>(url: &str, tx: Sender<I>, map: fn(WsEvent) -> I) -> Result<Ws> {
        // The browser's message would quote the URL, and with it the key: only the error's
        // name (`SyntaxError`, `SecurityError`) goes into the cause.
        let socket = WebSocket::new(url).map_err(|e| {
            let name = crate::web::js::get(&e, "name").as_string();
            SdkError::new(ErrorCode::WebsocketError, "could not open the WebSocket")
                .with_cause(name.unwrap_or_else(|| "Error".into()))
        })?;
        let forward = move |tx: &Sender<I>, ev: WsEvent| {
            tx.send(map(ev));
        };
        let t = tx.clone();
        let open = EventListener::new(&socket, "open", move |_| forward(&t, WsEvent::Open));
        let t = tx.clone();
        let message = EventListener::new(&socket, "message", move |e| {
            if let Some(text) = e
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                forward(&t, WsEvent::Message(text));
            }
        });
        // An `error` event is always followed by `close`, which carries the information.
        let close = EventListener::new(&socket, "close", move |e| {
            let (code, reason) = e
                .dyn_ref::<CloseEvent>()
                .map(|c| (c.code(), c.reason()))
                .unwrap_or((1006, String::new()));
            forward(&tx, WsEvent::Closed { code, reason });
        });
        Ok(Ws {
            socket,
            _listeners: [open, message, close],
        })
    }

    /// Sends one message.
    pub fn send(&self, m: &ClientMessage) -> Result<()> {
        if self.socket.ready_state() != WebSocket::OPEN {
            return Err(SdkError::new(
                ErrorCode::WebsocketError,
                "the WebSocket is not open",
            ));
        }
        self.socket
            .send_with_str(&(BROWSER.write)(&m.to_json()))
            .map_err(|e| from_js(ErrorCode::WebsocketError, "WebSocket send failed", &e))
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        let _ = self.socket.close();
    }
}
