//! Event listeners of a client (`shared/API.md` §4, "Delivery"): `on(name, fn)` adds (a
//! duplicate runs twice), `off(name, fn)` removes one, `off(name)` all; any name is accepted
//! and unknown ones never fire. Events raised while `connect()` is in progress are held and
//! delivered, in order, right after it resolves ([`Emitter::deliver`]); dropped if it rejects.

use crate::web::log::Logger;
use js_sys::Function;
use std::cell::{Cell, RefCell};
use wasm_bindgen::JsValue;

/// Listener registry and delivery.
#[derive(Default)]
pub struct Emitter {
    listeners: RefCell<Vec<(String, Function)>>,
    held: RefCell<Option<Vec<(&'static str, JsValue)>>>,
    closed: Cell<bool>,
    logger: Logger,
}

impl Emitter {
    /// A new emitter that holds events until [`Emitter::deliver`].
    pub fn holding(logger: Logger) -> Self {
        Emitter {
            held: RefCell::new(Some(Vec::new())),
            logger,
            ..Default::default()
        }
    }

    /// Adds a listener (after `close`, it is never called).
    pub fn on(&self, name: String, f: Function) {
        if !self.closed.get() {
            self.listeners.borrow_mut().push((name, f));
        }
    }

    /// Removes the first registration of `f` for `name`, or every listener of `name` when
    /// `f` is `None`.
    pub fn off(&self, name: &str, f: Option<&Function>) {
        let mut ls = self.listeners.borrow_mut();
        match f {
            None => ls.retain(|(n, _)| n != name),
            Some(f) => {
                let f = JsValue::from(f);
                if let Some(i) = ls
                    .iter()
                    .position(|(n, g)| n == name && JsValue::from(g) == f)
                {
                    ls.remove(i);
                }
            }
        }
    }

    /// True when someone listens to `name`.
    pub fn has_listeners(&self, name: &str) -> bool {
        self.listeners.borrow().iter().any(|(n, _)| n == name)
    }

    /// Emits `payload` to the listeners of `name` (or holds it while connecting).
    pub fn emit(&self, name: &'static str, payload: JsValue) {
        if self.closed.get() {
            return;
        }
        if let Some(held) = self.held.borrow_mut().as_mut() {
            held.push((name, payload));
            return;
        }
        self.call(name, &payload);
    }

    fn call(&self, name: &str, payload: &JsValue) {
        // Copy the list first: a listener may call on()/off() while being called.
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
                self.logger.error(
                    &crate::core::error::join(&["a `", name, "` listener threw"]),
                    &e,
                );
            }
        }
    }

    /// Stops holding and delivers what was held, in order.
    pub fn deliver(&self) {
        let Some(held) = self.held.borrow_mut().take() else {
            return;
        };
        for (name, payload) in held {
            self.call(name, &payload);
        }
    }

    /// No event is delivered after this (used once `disconnect()`'s own events are out, or
    /// when a connect rejects).
    pub fn close(&self) {
        self.closed.set(true);
        self.held.borrow_mut().take();
        self.listeners.borrow_mut().clear();
    }
}
