//! The stamper: wraps the camera's first video track before it is published and stamps a
//! pixel marker (`shared/PROTOCOL.md`, "Pixel marker") into the frames that carry a probe.
//!
//! Two paths, chosen at run time:
//!
//! * **Track processor** (where `MediaStreamTrackProcessor`, `MediaStreamTrackGenerator`
//!   and `VideoFrame` exist, as in Chromium): frames are read from a processor on a clone of
//!   the camera track and written to a generator track. A frame without a probe passes
//!   through untouched; a probed frame is replaced by a new `VideoFrame` with the same
//!   timestamp and duration that carries the 24 × 4 strip. The copy is made in the frame's
//!   own pixel format where it is I420, NV12 or 4-byte RGB (`copyTo`, strip rows written
//!   into the copy: about 0.6 ms a frame for 640 × 480 in headless Chromium), otherwise by
//!   drawing the frame to a canvas (about 2.5 ms). One frame out per frame in, so the frame
//!   rate is the camera's.
//! * **Canvas** (fallback): a hidden `<video>` plays a clone of the track; at each presented
//!   frame (`requestVideoFrameCallback`, else every animation frame) it is drawn to a canvas
//!   whose `captureStream(0)` track emits exactly one frame per draw (`requestFrame`).
//!
//! [`Stamper::stop`] (or dropping the stamper) ends the loop and releases every track,
//! reader, writer, element and canvas the stamper made. The caller's tracks are never
//! stopped: the stamper works on clones, and the output stream carries the caller's own
//! audio tracks untouched.
//!
//! Both paths run in the package's `js/media.js` (`startStamper`), where the browser's
//! per-frame calls cost nothing to cross; this module gives them the decisions: whether a
//! frame carries a probe (the core's [`LatencyTracker`]) and the strip of its sequence
//! number (the core's marker codec).

use crate::core::error::{ErrorCode, SdkError};
use crate::core::latency::LatencyTracker;
use crate::core::marker::{stamp_i420, stamp_strip, I420Planes, MARKER_WIDTH, STRIP_LEN};
use crate::web::error::{describe, Result};
use crate::web::media::{self, stat};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MediaStream;

/// Which path to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StamperPath {
    /// The track processor where the browser has it, else the canvas.
    Auto,
    /// The canvas path, even where the track processor exists.
    Canvas,
}

/// The path in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivePath {
    /// `MediaStreamTrackProcessor` → `MediaStreamTrackGenerator`.
    TrackProcessor,
    /// Hidden `<video>` → canvas → `captureStream(0)`.
    Canvas,
}

/// What the stamper did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StamperStats {
    /// Frames taken from the camera track.
    pub frames_in: u64,
    /// Frames handed to the output track.
    pub frames_out: u64,
    /// Frames that carry a marker.
    pub frames_stamped: u64,
    /// Of those, frames stamped in their own pixel format (`copyTo`, no canvas).
    pub stamped_in_format: u64,
    /// Frames whose stamping failed (sent unmarked; their probe ends as lost).
    pub stamp_failures: u64,
    /// Time spent stamping, ms (canvas draw + strip + new frame).
    pub stamp_ms_total: f64,
    /// Longest single stamping, ms.
    pub stamp_ms_max: f64,
    /// Time spent on the frames that passed through unmarked, ms.
    pub pass_ms_total: f64,
}

/// A running stamper; see the module documentation.
#[must_use = "dropping the stamper stops it"]
pub struct Stamper {
    handle: media::Handle,
    output: MediaStream,
    path: ActivePath,
    _probe: Closure<dyn FnMut(f64) -> i32>,
    _strip: Closure<dyn FnMut(u16, u32, bool) -> Vec<u8>>,
}

impl Stamper {
    /// Wraps the first video track of `input`, on the track processor where available.
    pub fn start(input: &MediaStream, tracker: Rc<RefCell<LatencyTracker>>) -> Result<Stamper> {
        Self::start_with(input, tracker, StamperPath::Auto)
    }

    /// Wraps the first video track of `input` on the given path.
    pub fn start_with(
        input: &MediaStream,
        tracker: Rc<RefCell<LatencyTracker>>,
        path: StamperPath,
    ) -> Result<Stamper> {
        // Whether this frame carries a probe: its sequence number, else -1.
        let probe = Closure::<dyn FnMut(f64) -> i32>::new(move |now: f64| {
            let mut t = tracker.borrow_mut();
            if t.should_probe(now) {
                i32::from(t.start_probe(now))
            } else {
                -1
            }
        });
        let strip = Closure::<dyn FnMut(u16, u32, bool) -> Vec<u8>>::new(strip);
        let handle = media::start_stamper(
            input,
            path == StamperPath::Canvas,
            probe.as_ref().unchecked_ref(),
            strip.as_ref().unchecked_ref(),
        )
        .map_err(|e| SdkError::new(ErrorCode::MediaError, describe(&e)))?;
        let path = if handle.processor() {
            ActivePath::TrackProcessor
        } else {
            ActivePath::Canvas
        };
        Ok(Stamper {
            output: handle.stream(),
            handle,
            path,
            _probe: probe,
            _strip: strip,
        })
    }

    /// The stream to publish: the stamped video track and the input's audio tracks.
    pub fn stream(&self) -> MediaStream {
        Clone::clone(&self.output)
    }

    /// The path in use.
    pub fn path(&self) -> ActivePath {
        self.path
    }

    /// Counts and costs so far.
    pub fn stats(&self) -> StamperStats {
        let s = self.handle.stats();
        let n = |k| stat(&s, k) as u64;
        StamperStats {
            frames_in: n("framesIn"),
            frames_out: n("framesOut"),
            frames_stamped: n("framesStamped"),
            stamped_in_format: n("stampedInFormat"),
            stamp_failures: n("stampFailures"),
            stamp_ms_total: stat(&s, "stampMsTotal"),
            stamp_ms_max: stat(&s, "stampMsMax"),
            pass_ms_total: stat(&s, "passMsTotal"),
        }
    }

    /// Stops the loop (no frame is processed after this) and releases the tracks, reader,
    /// writer, element and canvas the stamper made; the stamped track is `ended`.
    /// Idempotent.
    pub fn stop(&self) {
        // The handle's stop() is itself idempotent.
        self.handle.stop();
    }
}

impl Drop for Stamper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The strip of `seq` for `js/media.js`: with `rows` 0 the 24 × 4 RGBA strip, else the
/// Y, U and V planes (one after the other) of a 24-pixel-wide frame of `rows` rows whose
/// bottom 4 luma rows and every chroma row are under the strip (the core codec's
/// [`stamp_i420`]: the luma of the gray values and neutral chroma, so that re-encoding keeps
/// it gray). Empty if the codec refuses (the frame then goes out unmarked).
fn strip(seq: u16, rows: u32, full_range: bool) -> Vec<u8> {
    let rows = rows as usize;
    if rows == 0 {
        let mut strip = vec![0; STRIP_LEN];
        return match stamp_strip(&mut strip, seq) {
            Ok(()) => strip,
            Err(_) => Vec::new(),
        };
    }
    let (cw, crows) = (MARKER_WIDTH / 2, rows.div_ceil(2));
    let mut planes = vec![0u8; MARKER_WIDTH * rows + 2 * cw * crows];
    let (y, uv) = planes.split_at_mut(MARKER_WIDTH * rows);
    let (u, v) = uv.split_at_mut(cw * crows);
    let frame = I420Planes {
        y,
        y_stride: MARKER_WIDTH,
        u,
        v,
        uv_stride: cw,
        width: MARKER_WIDTH,
        height: rows,
    };
    match stamp_i420(frame, seq, full_range) {
        Ok(()) => planes,
        Err(_) => Vec::new(),
    }
}
