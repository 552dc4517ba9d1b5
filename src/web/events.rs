//! Event listeners of a client: `on(name, fn)` / `off(name, fn)`, with a buffer that holds
//! events raised while `connect()` is in progress and delivers them, in order, right after
//! it resolves.

use crate::web::log::Logger;
use js_sys::Function;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use wasm_bindgen::JsValue;

/// Event names a client emits.
pub const EVENTS: [&str; 11] = [
    "connectionChange",
    "error",
    "generationTick",
    "diagnostic",
    "stats",
    "serverMetrics",
    "pixelLatency",
    "pixelLatencyEvent",
    "pixelLatencyReport",
    "compositeLatency",
    "remoteStream",
];

/// Listener registry and delivery.
#[derive(Default)]
pub struct Emitter {
    listeners: RefCell<Vec<(String, Function)>>,
    buffer: RefCell<Option<Vec<(&'static str, JsValue)>>>,
    closed: Cell<bool>,
    logger: Logger,
}

impl Emitter {
    /// A new emitter that buffers until [`Emitter::deliver`] is called.
    pub fn buffering(logger: Logger) -> Self {
        Emitter {
            buffer: RefCell::new(Some(Vec::new())),
            logger,
            ..Default::default()
        }
    }

    /// Adds a listener.
    pub fn on(&self, name: &str, f: Function) {
        self.listeners.borrow_mut().push((name.to_string(), f));
    }

    /// Removes a listener (the same function object).
    pub fn off(&self, name: &str, f: &Function) {
        self.listeners
            .borrow_mut()
            .retain(|(n, g)| !(n == name && JsValue::from(g) == JsValue::from(f)));
    }

    /// Emits `payload` to the listeners of `name` (or buffers it while connecting).
    pub fn emit(&self, name: &'static str, payload: JsValue) {
        if self.closed.get() {
            return;
        }
        if let Some(buf) = self.buffer.borrow_mut().as_mut() {
            buf.push((name, payload));
            return;
        }
        self.call(name, &payload);
    }

    /// Emits a serialisable payload as a plain JS object.
    pub fn emit_data<T: Serialize>(&self, name: &'static str, payload: &T) {
        if self.closed.get() {
            return;
        }
        self.emit(name, to_js(payload));
    }

    fn call(&self, name: &str, payload: &JsValue) {
        // Clone the list first: a listener may call on()/off() while being called.
        let fs: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect();
        for f in fs {
            if self.closed.get() {
                return;
            }
            if let Err(e) = f.call1(&JsValue::NULL, payload) {
                self.logger.error(&format!("a `{name}` listener threw"), &e);
            }
        }
    }

    /// Stops buffering and delivers what was buffered, in order.
    pub fn deliver(&self) {
        let Some(buf) = self.buffer.borrow_mut().take() else {
            return;
        };
        for (name, payload) in buf {
            self.call(name, &payload);
        }
    }

    /// No event is delivered after this (used by `disconnect()` once its own events are out).
    pub fn close(&self) {
        self.closed.set(true);
        self.buffer.borrow_mut().take();
        self.listeners.borrow_mut().clear();
    }
}

/// Serialises plain data to a JS object (maps as objects, `None` as `null`).
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}
