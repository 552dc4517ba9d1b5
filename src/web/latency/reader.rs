//! The probe reader: at each presented frame of the output `<video>`
//! (`requestVideoFrameCallback`, else every animation frame) it reads only the 24 × 4
//! bottom-left strip, decodes it, feeds the tracker (`on_read`, `expire`) and hands the
//! result to a sink.
//!
//! The strip is read by its luma, not its red channel (`shared/PROTOCOL.md` thresholds R,
//! which is the same for the gray pixels of a marker): after a lossy codec the strip's
//! chroma is not neutral any more (chroma blocks reach above the strip into the picture),
//! and red moves with it. Where the browser can copy the frame (`VideoFrame.copyTo`), the
//! rows of the strip are copied in the decoder's own format and its luma plane is read
//! ([`read_luma`]: no colour conversion at all); else the strip is converted to RGBA (by
//! `copyTo`, or drawn into a 24 × 4 canvas) and its BT.601 luma read ([`read_strip_luma`]).
//!
//! [`ProbeReader::for_stream`] plays a `MediaStream` in a hidden, muted `<video>` that the
//! reader owns and removes on stop. [`ProbeReader::stop`] (or dropping it) ends the loop:
//! no frame is read after it.

use super::frames::{FrameTicks, Tick, TickSource};
use super::js::{self, VideoFrame};
use super::stamper::hidden_video;
use crate::core::error::{ErrorCode, SdkError};
use crate::core::json::{Json, Obj};
use crate::core::latency::{LatencyTracker, ProbeOutcome};
use crate::core::marker::{
    read_luma, read_strip_luma, MarkerRead, MARKER_HEIGHT, MARKER_WIDTH, STRIP_LEN,
};
use crate::web::cancel::CancelToken;
use crate::web::error::{from_js, Result};
use crate::web::js::{or_cancel, spawn};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, MediaStream};

/// The `requestVideoFrameCallback` metadata of the frame a probe was read from (W3C names),
/// for cross-checks; the time fields are `performance.now()` ms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameInfo {
    /// The callback's `now` argument.
    pub callback_time: f64,
    /// `presentedFrames`.
    pub presented_frames: Option<f64>,
    /// `mediaTime`, seconds.
    pub media_time: Option<f64>,
    /// `presentationTime`: when the frame was submitted for composition.
    pub presentation_time: Option<f64>,
    /// `expectedDisplayTime`: when it is expected on screen.
    pub expected_display_time: Option<f64>,
    /// `captureTime` (remote WebRTC frames: the sender's capture time on this clock).
    pub capture_time: Option<f64>,
    /// `receiveTime` (remote WebRTC frames: arrival of the frame's last packet).
    pub receive_time: Option<f64>,
    /// `width`, pixels.
    pub width: Option<f64>,
    /// `height`, pixels.
    pub height: Option<f64>,
}

impl FrameInfo {
    /// The metadata with its W3C names (`null` where the browser gave none).
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("callbackTime", self.callback_time)
            .set("presentedFrames", self.presented_frames)
            .set("mediaTime", self.media_time)
            .set("presentationTime", self.presentation_time)
            .set("expectedDisplayTime", self.expected_display_time)
            .set("captureTime", self.capture_time)
            .set("receiveTime", self.receive_time)
            .set("width", self.width)
            .set("height", self.height)
            .build()
    }

    fn from_tick(tick: &Tick) -> Self {
        let m = &tick.metadata;
        let n = |k: &str| {
            if m.is_object() {
                js::number(m, k)
            } else {
                None
            }
        };
        FrameInfo {
            callback_time: tick.now,
            presented_frames: n("presentedFrames"),
            media_time: n("mediaTime"),
            presentation_time: n("presentationTime"),
            expected_display_time: n("expectedDisplayTime"),
            capture_time: n("captureTime"),
            receive_time: n("receiveTime"),
            width: n("width"),
            height: n("height"),
        }
    }
}

/// What one read frame gave.
pub struct ReadOutput {
    /// Read time (`performance.now()` when the frame was taken), ms.
    pub now: f64,
    /// The decoded strip.
    pub read: MarkerRead,
    /// The tracker's verdict on this read, if any.
    pub outcome: Option<ProbeOutcome>,
    /// Probes the tracker found lost by `now`.
    pub expired: Vec<ProbeOutcome>,
    /// The frame's metadata, given when a probe was received.
    pub frame: Option<FrameInfo>,
}

/// Receives every read frame.
pub type ReadSink = Rc<dyn Fn(ReadOutput)>;

/// What the reader did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReaderStats {
    /// Frames read.
    pub frames_read: u64,
    /// Time spent reading (strip draw, pixel read, decode, tracker), ms.
    pub read_ms_total: f64,
    /// Longest single read, ms.
    pub read_ms_max: f64,
    /// Frames whose strip could not be read (no video size yet, canvas errors).
    pub read_failures: u64,
}

/// Where the strip is drawn and read back.
struct StripCanvas {
    _canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
}

impl StripCanvas {
    fn new(doc: &web_sys::Document) -> Result<Self> {
        let fail = |m: &str, e: &JsValue| from_js(ErrorCode::MediaError, m, e);
        let canvas: HtmlCanvasElement = doc
            .create_element("canvas")
            .map_err(|e| fail("could not create the marker canvas", &e))?
            .unchecked_into();
        canvas.set_width(MARKER_WIDTH as u32);
        canvas.set_height(MARKER_HEIGHT as u32);
        let opts = js::object(&[("willReadFrequently", true.into()), ("alpha", false.into())]);
        let ctx: CanvasRenderingContext2d = canvas
            .get_context_with_context_options("2d", &opts)
            .map_err(|e| fail("no 2D context for the marker canvas", &e))?
            .ok_or_else(|| {
                SdkError::new(ErrorCode::MediaError, "no 2D context for the marker canvas")
            })?
            .unchecked_into();
        // 1:1 copy of the strip: no filtering across the bit boundaries.
        ctx.set_image_smoothing_enabled(false);
        Ok(StripCanvas {
            _canvas: canvas,
            ctx,
        })
    }

    /// Draws the bottom-left strip of the current frame of `video` and decodes it; `None`
    /// when the frame cannot be read.
    fn read(&self, video: &HtmlVideoElement) -> Option<MarkerRead> {
        let (w, h) = (video.video_width(), video.video_height());
        if (w as usize) < MARKER_WIDTH || (h as usize) < MARKER_HEIGHT {
            return None;
        }
        let (mw, mh) = (MARKER_WIDTH as f64, MARKER_HEIGHT as f64);
        self.ctx
            .draw_image_with_html_video_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                video,
                0.0,
                f64::from(h) - mh,
                mw,
                mh,
                0.0,
                0.0,
                mw,
                mh,
            )
            .ok()?;
        let data = self.ctx.get_image_data(0.0, 0.0, mw, mh).ok()?.data();
        Some(read_strip_luma(&data))
    }
}

/// How the strip of the element's current frame is read: from a `VideoFrame` of it with
/// `copyTo` of just the bottom rows where the browser supports it, else through the canvas.
/// Each way is given up for good on its first failure.
struct StripReader {
    canvas: StripCanvas,
    /// `copyTo` in the frame's own YUV format (its luma plane); `false` once that failed.
    native: bool,
    /// `copyTo` converted to RGBA; `false` once that failed (or without `VideoFrame`).
    rgba: bool,
    /// The copy's buffer, sized on demand.
    buf: Option<js_sys::Uint8Array>,
    /// The copy in wasm memory.
    bytes: Vec<u8>,
}

impl StripReader {
    async fn read(&mut self, video: &HtmlVideoElement) -> Option<MarkerRead> {
        while self.native || self.rgba {
            match self.read_frame(video).await {
                Ok(read) => return read,
                Err(_) if self.native => self.native = false,
                Err(_) => self.rgba = false,
            }
        }
        self.canvas.read(video)
    }

    /// Reads the strip of the element's current frame. `Ok(None)`: no frame or one too small
    /// to hold a strip; `Err`: the way in use does not work here.
    async fn read_frame(
        &mut self,
        video: &HtmlVideoElement,
    ) -> std::result::Result<Option<MarkerRead>, JsValue> {
        if video.video_width() == 0 {
            return Ok(None);
        }
        let frame = VideoFrame::new(video, &JsValue::UNDEFINED)?;
        let result = self.read_video_frame(&frame).await;
        frame.close();
        result
    }

    async fn read_video_frame(
        &mut self,
        frame: &VideoFrame,
    ) -> std::result::Result<Option<MarkerRead>, JsValue> {
        let vr = frame.visible_rect();
        let (Some(x), Some(y), Some(w), Some(h)) = (
            js::number(&vr, "x"),
            js::number(&vr, "y"),
            js::number(&vr, "width"),
            js::number(&vr, "height"),
        ) else {
            return Err(JsValue::from_str("no visible rect"));
        };
        let (mw, mh) = (MARKER_WIDTH as f64, MARKER_HEIGHT as f64);
        if w < mw || h < mh {
            return Ok(None);
        }
        let yuv420 = matches!(frame.format().as_deref(), Some("I420" | "I420A" | "NV12"));
        if self.native && yuv420 {
            // A 4:2:0 rect starts on an even row: one more row above the strip when needed.
            let top = ((y + h - mh) / 2.0).floor() * 2.0;
            let rows = y + h - top;
            let rect = js::object(&[
                ("x", x.into()),
                ("y", top.into()),
                ("width", mw.into()),
                ("height", rows.into()),
            ]);
            let layout = self.copy(frame, &js::object(&[("rect", rect)])).await?;
            let luma = js_sys::Reflect::get(&layout, &0.into())?;
            let (Some(offset), Some(stride)) =
                (js::number(&luma, "offset"), js::number(&luma, "stride"))
            else {
                return Err(JsValue::from_str("copyTo gave no plane layout"));
            };
            let full_range = js_sys::Reflect::get(&frame.color_space(), &"fullRange".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let plane = self.bytes.get(offset as usize..).unwrap_or(&[]);
            return Ok(Some(read_luma(
                plane,
                stride as usize,
                MARKER_WIDTH,
                rows as usize,
                full_range,
            )));
        }
        if !self.rgba {
            return Err(JsValue::from_str("no RGBA copies"));
        }
        let rect = js::object(&[
            ("x", x.into()),
            ("y", (y + h - mh).into()),
            ("width", mw.into()),
            ("height", mh.into()),
        ]);
        let opts = js::object(&[("rect", rect), ("format", "RGBA".into())]);
        self.copy(frame, &opts).await?;
        Ok(Some(read_strip_luma(&self.bytes)))
    }

    /// `frame.copyTo` with `opts` into `bytes`; resolves to the plane layouts.
    async fn copy(
        &mut self,
        frame: &VideoFrame,
        opts: &JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        let size = frame.allocation_size(opts)?;
        let buf = match &self.buf {
            Some(b) if b.length() == size => b.clone(),
            _ => {
                let b = js_sys::Uint8Array::new_with_length(size);
                self.buf = Some(b.clone());
                b
            }
        };
        let layout = JsFuture::from(frame.copy_to(&buf, opts)?).await?;
        self.bytes.resize(size as usize, 0);
        buf.copy_to(&mut self.bytes);
        Ok(layout)
    }
}

/// A running reader; see the module documentation.
#[must_use = "dropping the reader stops it"]
pub struct ProbeReader {
    cancel: CancelToken,
    stats: Rc<Cell<ReaderStats>>,
    /// The element made by [`ProbeReader::for_stream`], removed on stop.
    owned_video: Option<HtmlVideoElement>,
    source: TickSource,
    stopped: Cell<bool>,
}

impl ProbeReader {
    /// Reads the frames `video` presents.
    pub fn start(
        video: &HtmlVideoElement,
        tracker: Rc<RefCell<LatencyTracker>>,
        sink: ReadSink,
    ) -> Result<ProbeReader> {
        Self::start_inner(video, None, tracker, sink)
    }

    /// Plays `stream` in a hidden, muted, autoplaying `<video>` and reads it; the element is
    /// removed on stop.
    pub fn for_stream(
        stream: &MediaStream,
        tracker: Rc<RefCell<LatencyTracker>>,
        sink: ReadSink,
    ) -> Result<ProbeReader> {
        let video = hidden_video(stream)?;
        Self::start_inner(&video.clone(), Some(video), tracker, sink)
    }

    fn start_inner(
        video: &HtmlVideoElement,
        owned: Option<HtmlVideoElement>,
        tracker: Rc<RefCell<LatencyTracker>>,
        sink: ReadSink,
    ) -> Result<ProbeReader> {
        let doc = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| {
                SdkError::new(ErrorCode::MediaError, "no document to read markers in")
            })?;
        let strip = match StripCanvas::new(&doc) {
            Ok(canvas) => {
                let frames = js::has_global("VideoFrame");
                StripReader {
                    canvas,
                    native: frames,
                    rgba: frames,
                    buf: None,
                    bytes: Vec::with_capacity(STRIP_LEN),
                }
            }
            Err(e) => {
                if let Some(v) = &owned {
                    release_video(v);
                }
                return Err(e);
            }
        };
        let cancel = CancelToken::new();
        let stats = Rc::new(Cell::new(ReaderStats::default()));
        let mut ticks = FrameTicks::new(video);
        let source = ticks.source();
        let (video, c, st) = (video.clone(), cancel.clone(), stats.clone());
        let mut strip = strip;
        spawn(Box::pin(async move {
            loop {
                let Some(Some(tick)) = or_cancel(Box::pin(ticks.next()), &c).await else {
                    break;
                };
                if c.is_cancelled() {
                    break;
                }
                let t0 = js::perf_now();
                let Some(read) = strip.read(&video).await else {
                    let mut s = st.get();
                    s.read_failures += 1;
                    st.set(s);
                    continue;
                };
                let (outcome, expired) = {
                    let mut t = tracker.borrow_mut();
                    (t.on_read(read, t0), t.expire(t0))
                };
                let frame = matches!(outcome, Some(ProbeOutcome::Received { .. }))
                    .then(|| FrameInfo::from_tick(&tick));
                let dt = js::perf_now() - t0;
                let mut s = st.get();
                s.frames_read += 1;
                s.read_ms_total += dt;
                s.read_ms_max = s.read_ms_max.max(dt);
                st.set(s);
                sink(ReadOutput {
                    now: t0,
                    read,
                    outcome,
                    expired,
                    frame,
                });
            }
        }));
        Ok(ProbeReader {
            cancel,
            stats,
            owned_video: owned,
            source,
            stopped: Cell::new(false),
        })
    }

    /// Counts and costs so far.
    pub fn stats(&self) -> ReaderStats {
        self.stats.get()
    }

    /// Whether frames come from `requestVideoFrameCallback` (else `requestAnimationFrame`).
    pub fn uses_video_frame_callback(&self) -> bool {
        self.source == TickSource::VideoFrame
    }

    /// Stops reading (no frame is read after this) and removes the element the reader made.
    /// Idempotent.
    pub fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        self.cancel.cancel();
        if let Some(v) = &self.owned_video {
            release_video(v);
        }
    }
}

impl Drop for ProbeReader {
    fn drop(&mut self) {
        self.stop();
    }
}

fn release_video(v: &HtmlVideoElement) {
    v.set_src_object(None);
    v.remove();
}
