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
//!
//! The frames are taken and the strip copied in the package's `js/media.js`
//! (`startReader`); this module decodes the strip with the core's codec and keeps the
//! tracker's books.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::json::{Json, Obj};
use crate::core::latency::{LatencyTracker, ProbeOutcome};
use crate::core::marker::{read_luma, read_strip_luma, MarkerRead, MARKER_WIDTH};
use crate::web::error::{describe, Result};
use crate::web::js::perf_now;
use crate::web::media::{self, stat};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlVideoElement, MediaStream};

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

    fn from_metadata(now: f64, m: &JsValue) -> Self {
        let n = |k: &str| crate::web::js::get(m, k).as_f64().filter(|v| v.is_finite());
        FrameInfo {
            callback_time: now,
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

/// `onRead(t0, pixels, stride, rows, fullRange, now, metadata)` of `js/media.js`.
type OnRead = dyn FnMut(f64, JsValue, u32, u32, bool, f64, JsValue) -> f64;

/// A running reader; see the module documentation.
#[must_use = "dropping the reader stops it"]
pub struct ProbeReader {
    handle: media::Handle,
    _on_read: Closure<OnRead>,
}

impl ProbeReader {
    /// Reads the frames `video` presents.
    pub fn start(
        video: &HtmlVideoElement,
        tracker: Rc<RefCell<LatencyTracker>>,
        sink: ReadSink,
    ) -> Result<ProbeReader> {
        Self::start_inner(video, false, tracker, sink)
    }

    /// Plays `stream` in a hidden, muted, autoplaying `<video>` and reads it; the element is
    /// removed on stop.
    pub fn for_stream(
        stream: &MediaStream,
        tracker: Rc<RefCell<LatencyTracker>>,
        sink: ReadSink,
    ) -> Result<ProbeReader> {
        let video = media::hidden_video(stream).map_err(failed)?;
        Self::start_inner(&video, true, tracker, sink)
    }

    fn start_inner(
        video: &HtmlVideoElement,
        owned: bool,
        tracker: Rc<RefCell<LatencyTracker>>,
        sink: ReadSink,
    ) -> Result<ProbeReader> {
        // A strip read at `t0` from the frame the callback at `now` presented: RGBA pixels of
        // the strip (`stride` 0), else the luma plane of the bottom `rows` rows. Returns the
        // time the read ends for the reader's figures: decoded and booked, before the sink.
        let on_read = move |t0: f64,
                            pixels: JsValue,
                            stride: u32,
                            rows: u32,
                            full_range: bool,
                            now: f64,
                            metadata: JsValue| {
            let pixels = js_sys::Uint8Array::new(&pixels).to_vec();
            let read = if stride == 0 {
                read_strip_luma(&pixels)
            } else {
                read_luma(
                    &pixels,
                    stride as usize,
                    MARKER_WIDTH,
                    rows as usize,
                    full_range,
                )
            };
            let (outcome, expired) = {
                let mut t = tracker.borrow_mut();
                (t.on_read(read, t0), t.expire(t0))
            };
            let frame = matches!(outcome, Some(ProbeOutcome::Received { .. }))
                .then(|| FrameInfo::from_metadata(now, &metadata));
            let done = perf_now();
            sink(ReadOutput {
                now: t0,
                read,
                outcome,
                expired,
                frame,
            });
            done
        };
        let on_read = Closure::<OnRead>::new(on_read);
        let handle =
            media::start_reader(video, owned, on_read.as_ref().unchecked_ref()).map_err(failed)?;
        Ok(ProbeReader {
            handle,
            _on_read: on_read,
        })
    }

    /// Counts and costs so far.
    pub fn stats(&self) -> ReaderStats {
        let s = self.handle.stats();
        ReaderStats {
            frames_read: stat(&s, "framesRead") as u64,
            read_ms_total: stat(&s, "readMsTotal"),
            read_ms_max: stat(&s, "readMsMax"),
            read_failures: stat(&s, "readFailures") as u64,
        }
    }

    /// Whether frames come from `requestVideoFrameCallback` (else `requestAnimationFrame`).
    pub fn uses_video_frame_callback(&self) -> bool {
        self.handle.vfc()
    }

    /// Stops reading (no frame is read after this) and removes the element the reader made.
    /// Idempotent.
    pub fn stop(&self) {
        // The handle's stop() is itself idempotent.
        self.handle.stop();
    }
}

impl Drop for ProbeReader {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why the reader could not start, in the message (the session's warning shows it).
fn failed(e: JsValue) -> SdkError {
    SdkError::new(ErrorCode::MediaError, describe(&e))
}
