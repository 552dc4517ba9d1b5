//! One tick per presented video frame of a `<video>` element: `requestVideoFrameCallback`
//! where the browser has it, else `requestAnimationFrame` (one tick per display refresh).
//! The JS callback only forwards into a channel; the owner awaits [`FrameTicks::next`].
//! Dropping a `FrameTicks` cancels the pending callback and releases the closure.

use super::js;
use crate::web::chan::{channel, Receiver};
use std::cell::Cell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlVideoElement;

/// What a tick reports.
pub struct Tick {
    /// The callback's `now` argument, ms.
    pub now: f64,
    /// `requestVideoFrameCallback` metadata (`undefined` with the `requestAnimationFrame` fallback).
    pub metadata: JsValue,
}

/// Which browser callback drives the ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickSource {
    /// `requestVideoFrameCallback`: one tick per presented frame.
    VideoFrame,
    /// `requestAnimationFrame`: one tick per display refresh.
    AnimationFrame,
}

/// Frame ticks of one video element.
pub struct FrameTicks {
    video: HtmlVideoElement,
    source: TickSource,
    callback: Closure<dyn FnMut(JsValue, JsValue)>,
    rx: Receiver<Tick>,
    /// The pending callback's handle, if one is requested.
    handle: Cell<Option<u32>>,
}

impl FrameTicks {
    /// Ticks for `video`, with `requestVideoFrameCallback` when available.
    pub fn new(video: &HtmlVideoElement) -> Self {
        let source = if js::has_method(video, "requestVideoFrameCallback") {
            TickSource::VideoFrame
        } else {
            TickSource::AnimationFrame
        };
        Self::with_source(video, source)
    }

    /// Ticks for `video` from the given source (`AnimationFrame` can be forced for tests).
    pub fn with_source(video: &HtmlVideoElement, source: TickSource) -> Self {
        let (tx, rx) = channel();
        // The stage handlers' signature (one closure shim for both): `now` is a number.
        let callback =
            Closure::<dyn FnMut(JsValue, JsValue)>::new(move |now: JsValue, metadata: JsValue| {
                // The receiver lives as long as the closure's owner; a failed send means it is
                // being dropped, and the tick is not needed.
                let now = now.as_f64().unwrap_or_default();
                tx.send(Tick { now, metadata });
            });
        FrameTicks {
            video: video.clone(),
            source,
            callback,
            rx,
            handle: Cell::new(None),
        }
    }

    /// The source in use.
    pub fn source(&self) -> TickSource {
        self.source
    }

    /// Waits for the next frame (or display refresh). `None` if the callback could not be
    /// registered (the element or window is gone). The callback for the frame after is
    /// registered before this returns, so a caller that takes a little longer than a frame
    /// over one tick still gets the next.
    pub async fn next(&mut self) -> Option<Tick> {
        let tick = match self.rx.try_next() {
            Some(t) => t,
            None => {
                self.request()?;
                self.rx.next().await?
            }
        };
        // The callback that delivered this tick has fired: its handle is spent.
        self.handle.set(None);
        let _ = self.request();
        Some(tick)
    }

    fn request(&self) -> Option<()> {
        if self.handle.get().is_some() {
            return Some(());
        }
        let f: &js_sys::Function = self.callback.as_ref().unchecked_ref();
        let handle = match self.source {
            TickSource::VideoFrame => self
                .video
                .unchecked_ref::<js::VideoWithCallbacks>()
                .request_video_frame_callback(f)
                .ok()?,
            TickSource::AnimationFrame => {
                let id = web_sys::window()?.request_animation_frame(f).ok()?;
                u32::try_from(id).ok()?
            }
        };
        self.handle.set(Some(handle));
        Some(())
    }
}

impl Drop for FrameTicks {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            match self.source {
                TickSource::VideoFrame => {
                    let _ = self
                        .video
                        .unchecked_ref::<js::VideoWithCallbacks>()
                        .cancel_video_frame_callback(h);
                }
                TickSource::AnimationFrame => {
                    if let (Some(w), Ok(id)) = (web_sys::window(), i32::try_from(h)) {
                        let _ = w.cancel_animation_frame(id);
                    }
                }
            }
        }
    }
}
