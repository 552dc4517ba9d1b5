//! Bindings of the package's `js/frames.js`: the per-frame browser APIs of latency tracking
//! (frame callbacks, insertable streams, `VideoFrame` copies, canvases) are called from
//! there, and the wasm is asked only for its decisions (whether to probe, the strip of a
//! sequence number, the decoding of a read strip). Every start that can throw is bound with
//! `catch`.

use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlVideoElement, MediaStream};

#[wasm_bindgen(module = "/js/frames.js")]
extern "C" {
    /// What a start returns: `stop()` releases everything it made.
    pub type Handle;
    /// `handle.stop()` (idempotent).
    #[wasm_bindgen(method)]
    pub fn stop(this: &Handle);
    /// `handle.stats`: the counters, a plain object of numbers (stamper, reader).
    #[wasm_bindgen(method, getter)]
    pub fn stats(this: &Handle) -> JsValue;
    /// `handle.stream`: the stamped stream (stamper).
    #[wasm_bindgen(method, getter)]
    pub fn stream(this: &Handle) -> MediaStream;
    /// `handle.processor`: the stamper runs on the track processor, not the canvas.
    #[wasm_bindgen(method, getter)]
    pub fn processor(this: &Handle) -> bool;
    /// `handle.vfc`: frames come from `requestVideoFrameCallback`, not animation frames.
    #[wasm_bindgen(method, getter)]
    pub fn vfc(this: &Handle) -> bool;

    /// `watchFrames(video, onFrame)`: `onFrame(now, metadata)` at each presented frame.
    #[wasm_bindgen(js_name = watchFrames)]
    pub fn watch_frames(video: &HtmlVideoElement, on_frame: &Function) -> Handle;
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
