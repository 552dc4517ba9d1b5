//! One call per presented video frame of a `<video>` element (`watchFrames` of
//! `js/frames.js`): `requestVideoFrameCallback` where the browser has it, else
//! `requestAnimationFrame` (one call per display refresh). Dropping a [`FrameWatch`] cancels
//! the pending callback and releases the closure.

use super::js::{self, Handle};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlVideoElement;

/// Frame callbacks of one video element, while it lives.
pub struct FrameWatch {
    handle: Handle,
    _callback: Closure<dyn FnMut(JsValue, JsValue)>,
}

impl FrameWatch {
    /// Calls `on_frame(now, metadata)` at each frame `video` presents (`metadata`: the
    /// `requestVideoFrameCallback` metadata, `undefined` with animation frames).
    pub fn new(video: &HtmlVideoElement, mut on_frame: impl FnMut(f64, JsValue) + 'static) -> Self {
        // The stage handlers' signature (one closure shim for both): `now` is a number.
        let callback = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |now: JsValue, meta| {
            on_frame(now.as_f64().unwrap_or_default(), meta)
        });
        let handle = js::watch_frames(video, callback.as_ref().unchecked_ref());
        FrameWatch {
            handle,
            _callback: callback,
        }
    }
}

impl Drop for FrameWatch {
    fn drop(&mut self) {
        self.handle.stop();
    }
}
