//! Bindings for the browser APIs the latency components use that stable `web-sys` does not
//! have: insertable streams for video tracks (`MediaStreamTrackProcessor`,
//! `MediaStreamTrackGenerator`, `VideoFrame`, stream readers and writers),
//! `requestVideoFrameCallback`, `drawImage` of any image source, and a canvas capture
//! track's `requestFrame`. Every call that can throw is bound with `catch`; availability is
//! checked at run time with [`has_global`] / [`has_method`].

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{CanvasRenderingContext2d, HtmlVideoElement, MediaStreamTrack};

#[wasm_bindgen]
extern "C" {
    /// `MediaStreamTrackProcessor`: a video track as a stream of `VideoFrame`s.
    #[wasm_bindgen(js_name = MediaStreamTrackProcessor)]
    pub type TrackProcessor;
    /// `new MediaStreamTrackProcessor({track})`.
    #[wasm_bindgen(constructor, catch, js_class = "MediaStreamTrackProcessor")]
    pub fn new(init: &JsValue) -> Result<TrackProcessor, JsValue>;
    /// `processor.readable`.
    #[wasm_bindgen(method, getter, js_class = "MediaStreamTrackProcessor")]
    pub fn readable(this: &TrackProcessor) -> ReadableStream;

    /// `MediaStreamTrackGenerator`: a video track fed with `VideoFrame`s.
    #[wasm_bindgen(extends = MediaStreamTrack, js_name = MediaStreamTrackGenerator)]
    pub type TrackGenerator;
    /// `new MediaStreamTrackGenerator({kind: "video"})`.
    #[wasm_bindgen(constructor, catch, js_class = "MediaStreamTrackGenerator")]
    pub fn new(init: &JsValue) -> Result<TrackGenerator, JsValue>;
    /// `generator.writable`.
    #[wasm_bindgen(method, getter, js_class = "MediaStreamTrackGenerator")]
    pub fn writable(this: &TrackGenerator) -> WritableStream;

    /// A `ReadableStream`.
    pub type ReadableStream;
    /// `stream.getReader()` (throws when the stream is locked).
    #[wasm_bindgen(method, catch, js_name = getReader)]
    pub fn get_reader(this: &ReadableStream) -> Result<StreamReader, JsValue>;

    /// A `ReadableStreamDefaultReader`.
    pub type StreamReader;
    /// `reader.read()`: resolves to `{done, value}`.
    #[wasm_bindgen(method)]
    pub fn read(this: &StreamReader) -> Promise;
    /// `reader.cancel()`.
    #[wasm_bindgen(method)]
    pub fn cancel(this: &StreamReader) -> Promise;

    /// A `WritableStream`.
    pub type WritableStream;
    /// `stream.getWriter()` (throws when the stream is locked).
    #[wasm_bindgen(method, catch, js_name = getWriter)]
    pub fn get_writer(this: &WritableStream) -> Result<StreamWriter, JsValue>;

    /// A `WritableStreamDefaultWriter`.
    pub type StreamWriter;
    /// `writer.write(chunk)`.
    #[wasm_bindgen(method)]
    pub fn write(this: &StreamWriter, chunk: &JsValue) -> Promise;
    /// `writer.abort()`.
    #[wasm_bindgen(method)]
    pub fn abort(this: &StreamWriter) -> Promise;

    /// A WebCodecs `VideoFrame`.
    pub type VideoFrame;
    /// `new VideoFrame(image, init)`, e.g. from a canvas with the source frame's timestamp.
    #[wasm_bindgen(constructor, catch, js_class = "VideoFrame")]
    pub fn new(image: &JsValue, init: &JsValue) -> Result<VideoFrame, JsValue>;
    /// `frame.displayWidth`.
    #[wasm_bindgen(method, getter, js_name = displayWidth)]
    pub fn display_width(this: &VideoFrame) -> u32;
    /// `frame.displayHeight`.
    #[wasm_bindgen(method, getter, js_name = displayHeight)]
    pub fn display_height(this: &VideoFrame) -> u32;
    /// `frame.timestamp`, µs (`null` once closed).
    #[wasm_bindgen(method, getter)]
    pub fn timestamp(this: &VideoFrame) -> Option<f64>;
    /// `frame.duration`, µs, when known.
    #[wasm_bindgen(method, getter)]
    pub fn duration(this: &VideoFrame) -> Option<f64>;
    /// `frame.close()`.
    #[wasm_bindgen(method)]
    pub fn close(this: &VideoFrame);
    /// `frame.format` (`"I420"`, `"NV12"`, `"RGBA"`, ...; `null` for opaque frames).
    #[wasm_bindgen(method, getter)]
    pub fn format(this: &VideoFrame) -> Option<String>;
    /// `frame.codedWidth`.
    #[wasm_bindgen(method, getter, js_name = codedWidth)]
    pub fn coded_width(this: &VideoFrame) -> u32;
    /// `frame.codedHeight`.
    #[wasm_bindgen(method, getter, js_name = codedHeight)]
    pub fn coded_height(this: &VideoFrame) -> u32;
    /// `frame.colorSpace`.
    #[wasm_bindgen(method, getter, js_name = colorSpace)]
    pub fn color_space(this: &VideoFrame) -> JsValue;
    /// `frame.visibleRect`.
    #[wasm_bindgen(method, getter, js_name = visibleRect)]
    pub fn visible_rect(this: &VideoFrame) -> JsValue;
    /// `frame.allocationSize(options)` (throws for an unsupported format or rect).
    #[wasm_bindgen(method, catch, js_name = allocationSize)]
    pub fn allocation_size(this: &VideoFrame, options: &JsValue) -> Result<u32, JsValue>;
    /// `frame.copyTo(destination, options)`: resolves to the plane layouts.
    #[wasm_bindgen(method, catch, js_name = copyTo)]
    pub fn copy_to(
        this: &VideoFrame,
        destination: &js_sys::Uint8Array,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;

    /// An `HTMLVideoElement` seen with its frame-callback methods (cast with `unchecked_ref`).
    #[wasm_bindgen(extends = HtmlVideoElement)]
    pub type VideoWithCallbacks;
    /// `video.requestVideoFrameCallback(cb)`.
    #[wasm_bindgen(method, catch, js_name = requestVideoFrameCallback)]
    pub fn request_video_frame_callback(
        this: &VideoWithCallbacks,
        cb: &Function,
    ) -> Result<u32, JsValue>;
    /// `video.cancelVideoFrameCallback(handle)`.
    #[wasm_bindgen(method, catch, js_name = cancelVideoFrameCallback)]
    pub fn cancel_video_frame_callback(
        this: &VideoWithCallbacks,
        handle: u32,
    ) -> Result<(), JsValue>;

    /// A 2D context seen with `drawImage` of any image source (cast with `unchecked_ref`).
    #[wasm_bindgen(extends = CanvasRenderingContext2d)]
    pub type AnyImageContext;
    /// `ctx.drawImage(image, dx, dy)` for any image source (a `VideoFrame` here).
    #[wasm_bindgen(method, catch, js_name = drawImage)]
    pub fn draw_image_any(
        this: &AnyImageContext,
        image: &JsValue,
        dx: f64,
        dy: f64,
    ) -> Result<(), JsValue>;

    /// A `CanvasCaptureMediaStreamTrack` (from `canvas.captureStream(0)`).
    #[wasm_bindgen(extends = MediaStreamTrack)]
    pub type CanvasTrack;
    /// `track.requestFrame()`: emits the canvas content as one frame.
    #[wasm_bindgen(method, catch, js_name = requestFrame)]
    pub fn request_frame(this: &CanvasTrack) -> Result<(), JsValue>;
}

/// Whether the global object has a property `name` (a constructor, typically).
pub fn has_global(name: &str) -> bool {
    Reflect::has(&js_sys::global(), &JsValue::from_str(name)).unwrap_or(false)
}

/// Whether `target` has a callable member `name` (own or inherited).
pub fn has_method(target: &JsValue, name: &str) -> bool {
    Reflect::get(target, &JsValue::from_str(name))
        .map(|f| f.is_function())
        .unwrap_or(false)
}

/// A plain object `{k: v, ...}`.
pub fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in entries {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

/// A number field of a JS object, when present and finite.
pub fn number(o: &JsValue, key: &str) -> Option<f64> {
    Reflect::get(o, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite())
}

/// `performance.now()`, ms (0 where there is no `performance`).
pub fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Awaits a promise whose outcome nobody needs (a `cancel()` or `abort()`), so that a
/// rejection is consumed rather than reported as unhandled.
pub fn settle(p: Promise) {
    crate::web::js::spawn(Box::pin(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    }));
}
