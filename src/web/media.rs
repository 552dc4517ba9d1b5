//! The media plumbing in the package's `js/media.js`, as the wasm sees it: the browser's
//! per-frame and media APIs are called from there, where a call costs nothing to cross, and
//! the wasm is asked only for its decisions (whether to probe, the strip of a sequence
//! number, the decoding of a read strip). There: latency tracking's frame callbacks,
//! insertable streams, `VideoFrame` copies and canvases; the avatar's audio; the preflight's
//! test picture; reading an image's bytes. Every call that can throw is bound with `catch`
//! (or returns a promise); each start returns a [`Handle`] whose `stop()` releases what it
//! made.
//!
//! [`FrameWatch`]: one call per presented video frame of a `<video>` element
//! (`requestVideoFrameCallback` where the browser has it, else `requestAnimationFrame`).

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlVideoElement, MediaStream};

#[wasm_bindgen(module = "/js/media.js")]
extern "C" {
    /// What a start returns: `stop()` releases everything it made.
    pub type Handle;
    /// `handle.stop()` (idempotent).
    #[wasm_bindgen(method)]
    pub fn stop(this: &Handle);
    /// `handle.stats`: the counters, a plain object of numbers (stamper, reader).
    #[wasm_bindgen(method, getter)]
    pub fn stats(this: &Handle) -> JsValue;
    /// `handle.stream`: the stamped stream (stamper), the picture (test picture), the
    /// avatar's audio.
    #[wasm_bindgen(method, getter)]
    pub fn stream(this: &Handle) -> MediaStream;
    /// `handle.processor`: the stamper runs on the track processor, not the canvas.
    #[wasm_bindgen(method, getter)]
    pub fn processor(this: &Handle) -> bool;
    /// `handle.play(audio)`: plays a clip into the avatar's track; resolves with its
    /// duration, s, once played.
    #[wasm_bindgen(method)]
    pub fn play(this: &Handle, audio: &JsValue) -> js_sys::Promise;
    /// `handle.vfc`: frames come from `requestVideoFrameCallback`, not animation frames.
    #[wasm_bindgen(method, getter)]
    pub fn vfc(this: &Handle) -> bool;

    /// `watchFrames(video, onFrame)`: `onFrame(now, metadata)` at each presented frame.
    #[wasm_bindgen(catch, js_name = watchFrames)]
    pub fn watch_frames(video: &HtmlVideoElement, on_frame: &Function) -> Result<Handle, JsValue>;
    /// `hiddenVideo(stream)`: a muted, playing, invisible `<video>` of `stream`.
    #[wasm_bindgen(catch, js_name = hiddenVideo)]
    pub fn hidden_video(stream: &MediaStream) -> Result<HtmlVideoElement, JsValue>;
    /// `startStamper(stream, canvasOnly, probe, strip)`.
    #[wasm_bindgen(catch, js_name = startStamper)]
    pub fn start_stamper(
        stream: &MediaStream,
        canvas_only: bool,
        probe: &Function,
        strip: &Function,
    ) -> Result<Handle, JsValue>;
    /// `testPicture(width, height, fps)`: a canvas stream of a moving picture.
    #[wasm_bindgen(catch, js_name = testPicture)]
    pub fn test_picture(width: u32, height: u32, fps: u32) -> Result<Handle, JsValue>;
    /// `avatarAudio()`: the silent audio track of an avatar session and its player.
    #[wasm_bindgen(catch, js_name = avatarAudio)]
    pub fn avatar_audio() -> Result<Handle, JsValue>;
    /// `imageBytes(image)`: a `Uint8Array`, or the HTTP status of a failed fetch.
    #[wasm_bindgen(js_name = imageBytes)]
    pub fn image_bytes(image: &JsValue) -> js_sys::Promise;
    /// `startReader(video, owned, onRead)`.
    #[wasm_bindgen(catch, js_name = startReader)]
    pub fn start_reader(
        video: &HtmlVideoElement,
        owned: bool,
        on_read: &Function,
    ) -> Result<Handle, JsValue>;
}

/// A counter of a handle's `stats`, 0 when absent.
pub fn stat(stats: &JsValue, key: &str) -> f64 {
    crate::web::js::get(stats, key).as_f64().unwrap_or(0.0)
}

/// Frame callbacks of one video element, while it lives.
pub struct FrameWatch {
    handle: Handle,
    _callback: Closure<dyn FnMut(JsValue, JsValue)>,
}

impl FrameWatch {
    /// Calls `on_frame(now, metadata)` at each frame `video` presents (`metadata`: the
    /// `requestVideoFrameCallback` metadata, `undefined` with animation frames); `None` when
    /// the browser refused the first callback.
    pub fn new(
        video: &HtmlVideoElement,
        mut on_frame: impl FnMut(f64, JsValue) + 'static,
    ) -> Option<Self> {
        // The stage handlers' signature (one closure shim for both): `now` is a number.
        let callback = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |now: JsValue, meta| {
            on_frame(now.as_f64().unwrap_or_default(), meta)
        });
        let handle = watch_frames(video, callback.as_ref().unchecked_ref()).ok()?;
        Some(FrameWatch {
            handle,
            _callback: callback,
        })
    }
}

impl Drop for FrameWatch {
    fn drop(&mut self) {
        self.handle.stop();
    }
}
