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

use super::frames::FrameTicks;
use super::js::{
    self, CanvasTrack, StreamReader, StreamWriter, TrackGenerator, TrackProcessor, VideoFrame,
};
use crate::core::error::{ErrorCode, SdkError};
use crate::core::latency::LatencyTracker;
use crate::core::marker::{
    stamp_i420, stamp_strip, I420Planes, MARKER_HEIGHT, MARKER_WIDTH, STRIP_LEN,
};
use crate::web::cancel::CancelToken;
use crate::web::error::{from_js, Result};
use crate::web::js::{get, or_cancel, set, spawn};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, ImageData, MediaStream,
    MediaStreamTrack,
};

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

#[derive(Default)]
struct Counters(Cell<StamperStats>);

impl Counters {
    fn update(&self, f: impl FnOnce(&mut StamperStats)) {
        let mut s = self.0.get();
        f(&mut s);
        self.0.set(s);
    }
}

/// The canvas a frame is drawn to before its strip is stamped, sized on demand.
struct Painter {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    strip: [u8; STRIP_LEN],
}

impl Painter {
    fn new() -> Result<Self> {
        let doc = document()?;
        let canvas: HtmlCanvasElement = doc
            .create_element("canvas")
            .map_err(|e| {
                from_js(
                    ErrorCode::MediaError,
                    "could not create the stamping canvas",
                    &e,
                )
            })?
            .unchecked_into();
        let opts = js::object(&[("alpha", false.into()), ("desynchronized", true.into())]);
        let ctx = canvas
            .get_context_with_context_options("2d", &opts)
            .map_err(|e| {
                from_js(
                    ErrorCode::MediaError,
                    "no 2D context for the stamping canvas",
                    &e,
                )
            })?
            .ok_or_else(|| {
                SdkError::new(
                    ErrorCode::MediaError,
                    "no 2D context for the stamping canvas",
                )
            })?
            .unchecked_into::<CanvasRenderingContext2d>();
        Ok(Painter {
            canvas,
            ctx,
            strip: [0; STRIP_LEN],
        })
    }

    fn fit(&self, w: u32, h: u32) {
        if self.canvas.width() != w || self.canvas.height() != h {
            self.canvas.set_width(w);
            self.canvas.set_height(h);
        }
    }

    /// Stamps `seq` at the bottom-left of the canvas (height `h`).
    fn put_strip(&mut self, seq: u16, h: u32) -> std::result::Result<(), JsValue> {
        stamp_strip(&mut self.strip, seq).map_err(|e| JsValue::from_str(&e.message()))?;
        let img = ImageData::new_with_u8_clamped_array_and_sh(
            Clamped(&self.strip[..]),
            MARKER_WIDTH as u32,
            MARKER_HEIGHT as u32,
        )?;
        self.ctx
            .put_image_data(&img, 0.0, f64::from(h) - MARKER_HEIGHT as f64)
    }

    /// A copy of `frame` with the strip of `seq`, same timestamp and duration.
    fn stamp_frame(
        &mut self,
        frame: &VideoFrame,
        seq: u16,
    ) -> std::result::Result<VideoFrame, JsValue> {
        let (w, h) = (frame.display_width(), frame.display_height());
        if (w as usize) < MARKER_WIDTH || (h as usize) < MARKER_HEIGHT {
            return Err(JsValue::from_str("frame smaller than the marker"));
        }
        self.fit(w, h);
        self.ctx
            .unchecked_ref::<js::AnyImageContext>()
            .draw_image_any(frame, 0.0, 0.0)?;
        self.put_strip(seq, h)?;
        let mut init = vec![(
            "timestamp",
            JsValue::from_f64(frame.timestamp().unwrap_or(0.0)),
        )];
        if let Some(d) = frame.duration() {
            init.push(("duration", JsValue::from_f64(d)));
        }
        VideoFrame::new(&self.canvas, &js::object(&init))
    }
}

/// Pixel layouts [`stamp_in_format`] writes into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Y, U, V planes (4:2:0), optionally followed by alpha: `I420`, `I420A`.
    Planar420,
    /// Y plane, interleaved UV plane (4:2:0): `NV12`.
    Nv12,
    /// One plane of 4-byte pixels: `RGBA`, `RGBX`, `BGRA`, `BGRX` (gray is the same in
    /// every byte order).
    Rgb4,
}

/// Stamps a frame without a canvas: `copyTo` of its pixels in its own format, the strip
/// written into the copy by the core codec (for YUV [`stamp_i420`]: the luma of the gray
/// values and neutral chroma under the strip, so that re-encoding keeps it gray), a new
/// `VideoFrame` from the copy with the same timestamp, duration and color space. No color
/// conversion and no full-frame draw. `Ok(None)`: a format this does not handle (the canvas
/// does it).
async fn stamp_in_format(
    buf: &mut Option<js_sys::Uint8Array>,
    frame: &VideoFrame,
    seq: u16,
) -> std::result::Result<Option<VideoFrame>, JsValue> {
    let Some(format) = frame.format() else {
        return Ok(None);
    };
    let layout = match format.as_str() {
        "I420" | "I420A" => Layout::Planar420,
        "NV12" => Layout::Nv12,
        "RGBA" | "RGBX" | "BGRA" | "BGRX" => Layout::Rgb4,
        _ => return Ok(None),
    };
    let vr = frame.visible_rect();
    let (Some(w), Some(h)) = (js::number(&vr, "width"), js::number(&vr, "height")) else {
        return Ok(None);
    };
    let (w, h) = (w as usize, h as usize);
    if w < MARKER_WIDTH || h < MARKER_HEIGHT {
        return Err(JsValue::from_str("frame smaller than the marker"));
    }
    let size = frame.allocation_size(&JsValue::UNDEFINED)?;
    let dest = match buf {
        Some(b) if b.length() == size => b.clone(),
        _ => {
            let b = js_sys::Uint8Array::new_with_length(size);
            *buf = Some(b.clone());
            b
        }
    };
    let planes = JsFuture::from(frame.copy_to(&dest, &JsValue::UNDEFINED)?).await?;
    let planes: js_sys::Array = planes.dyn_into()?;
    let plane = |i: u32| -> std::result::Result<(usize, usize), JsValue> {
        let p = planes.get(i);
        match (js::number(&p, "offset"), js::number(&p, "stride")) {
            (Some(o), Some(st)) => Ok((o as usize, st as usize)),
            _ => Err(JsValue::from_str("copyTo gave no plane layout")),
        }
    };
    // Writes `bytes` at row `row` of the plane at `offset` with `stride`, refusing anything
    // outside the buffer (a layout that does not add up is an error, not a panic).
    let write = |(offset, stride): (usize, usize),
                 row: usize,
                 bytes: &[u8]|
     -> std::result::Result<(), JsValue> {
        let outside = || JsValue::from_str("plane outside the buffer");
        let at = row
            .checked_mul(stride)
            .and_then(|x| x.checked_add(offset))
            .ok_or_else(outside)?;
        let end = at
            .checked_add(bytes.len())
            .filter(|e| *e <= size as usize)
            .ok_or_else(outside)?;
        dest.subarray(at as u32, end as u32).copy_from(bytes);
        Ok(())
    };
    // The strip is stamped by the core codec (the server's) into a frame of its own, 24
    // pixels wide, from an even luma row (so that its chroma rows are the frame's), and its
    // pixels written over the copy's.
    let top = (h - MARKER_HEIGHT) & !1;
    let rows = h - top;
    match layout {
        Layout::Planar420 | Layout::Nv12 => {
            let full_range = js_sys::Reflect::get(&frame.color_space(), &"fullRange".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let (cw, crows) = (MARKER_WIDTH / 2, rows.div_ceil(2));
            let mut y = vec![0u8; MARKER_WIDTH * rows];
            let (mut u, mut v) = (vec![0u8; cw * crows], vec![0u8; cw * crows]);
            let strip = I420Planes {
                y: &mut y,
                y_stride: MARKER_WIDTH,
                u: &mut u,
                v: &mut v,
                uv_stride: cw,
                width: MARKER_WIDTH,
                height: rows,
            };
            stamp_i420(strip, seq, full_range).map_err(|e| JsValue::from_str(&e.message()))?;
            // Every chroma sample of the small frame is under the strip; of its luma, the
            // last 4 rows.
            let luma = plane(0)?;
            for (r, row) in y
                .chunks_exact(MARKER_WIDTH)
                .enumerate()
                .skip(rows - MARKER_HEIGHT)
            {
                write(luma, top + r, row)?;
            }
            let chroma_rows = u.chunks_exact(cw).zip(v.chunks_exact(cw)).enumerate();
            if layout == Layout::Nv12 {
                let uv = plane(1)?;
                let mut both = [0u8; MARKER_WIDTH];
                for (r, (ur, vr)) in chroma_rows {
                    for ((pair, cb), cr) in both.chunks_exact_mut(2).zip(ur).zip(vr) {
                        pair.copy_from_slice(&[*cb, *cr]);
                    }
                    write(uv, top / 2 + r, &both)?;
                }
            } else {
                let (up, vp) = (plane(1)?, plane(2)?);
                for (r, (ur, vr)) in chroma_rows {
                    write(up, top / 2 + r, ur)?;
                    write(vp, top / 2 + r, vr)?;
                }
            }
        }
        Layout::Rgb4 => {
            let mut strip = [0u8; STRIP_LEN];
            stamp_strip(&mut strip, seq).map_err(|e| JsValue::from_str(&e.message()))?;
            let p = plane(0)?;
            for (r, row) in strip.chunks_exact(MARKER_WIDTH * 4).enumerate() {
                write(p, h - MARKER_HEIGHT + r, row)?;
            }
        }
    }
    let mut init = vec![
        ("format", JsValue::from_str(&format)),
        ("codedWidth", (w as u32).into()),
        ("codedHeight", (h as u32).into()),
        ("displayWidth", frame.display_width().into()),
        ("displayHeight", frame.display_height().into()),
        (
            "timestamp",
            JsValue::from_f64(frame.timestamp().unwrap_or(0.0)),
        ),
        ("layout", planes.into()),
        ("colorSpace", frame.color_space()),
    ];
    if let Some(d) = frame.duration() {
        init.push(("duration", JsValue::from_f64(d)));
    }
    VideoFrame::new(&dest, &js::object(&init)).map(Some)
}

/// The JS objects of a running path, released by [`Parts::release`].
enum Parts {
    Processor {
        source: MediaStreamTrack,
        generator: TrackGenerator,
        reader: StreamReader,
        writer: StreamWriter,
    },
    Canvas {
        source: MediaStreamTrack,
        video: HtmlVideoElement,
        track: CanvasTrack,
    },
}

impl Parts {
    fn release(&self) {
        match self {
            Parts::Processor {
                source,
                generator,
                reader,
                writer,
            } => {
                js::settle(reader.cancel());
                js::settle(writer.abort());
                generator.stop();
                source.stop();
            }
            Parts::Canvas {
                source,
                video,
                track,
            } => {
                track.stop();
                video.set_src_object(None);
                video.remove();
                source.stop();
            }
        }
    }
}

/// A running stamper; see the module documentation.
#[must_use = "dropping the stamper stops it"]
pub struct Stamper {
    output: MediaStream,
    path: ActivePath,
    counters: Rc<Counters>,
    cancel: CancelToken,
    parts: Parts,
    stopped: Cell<bool>,
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
        let video_track: MediaStreamTrack =
            input.get_video_tracks().get(0).dyn_into().map_err(|_| {
                SdkError::new(
                    ErrorCode::MediaError,
                    "the stream has no video track to stamp",
                )
            })?;
        let processor_ok = js::has_global("MediaStreamTrackProcessor")
            && js::has_global("MediaStreamTrackGenerator")
            && js::has_global("VideoFrame");
        let use_processor = path == StamperPath::Auto && processor_ok;
        let counters = Rc::new(Counters::default());
        let cancel = CancelToken::new();
        let painter = Painter::new()?;
        // The loop works on a clone (`MediaStreamTrack.clone()`), so stopping never ends the
        // caller's track. Elsewhere `Clone::clone` copies a JS reference: web-sys binds the
        // JS `clone()` of tracks and streams as an inherent method, which `.clone()` calls.
        let source = video_track.clone();
        let started = if use_processor {
            start_processor(
                Clone::clone(&source),
                painter,
                tracker,
                counters.clone(),
                cancel.clone(),
            )
        } else {
            start_canvas(
                Clone::clone(&source),
                painter,
                tracker,
                counters.clone(),
                cancel.clone(),
            )
        };
        let (video_out, parts) = match started {
            Ok(v) => v,
            Err(e) => {
                cancel.cancel();
                source.stop();
                return Err(e);
            }
        };
        keep_resolution(&video_out, &video_track);
        // `addTrack` rather than the constructor's track list: the stream must hold these
        // very tracks (stopping ours ends what the page sees; the audio stays the caller's).
        let output = match MediaStream::new() {
            Ok(s) => s,
            Err(e) => {
                cancel.cancel();
                parts.release();
                return Err(from_js(
                    ErrorCode::MediaError,
                    "could not build the stamped stream",
                    &e,
                ));
            }
        };
        output.add_track(&video_out);
        for t in input.get_audio_tracks().iter() {
            output.add_track(t.unchecked_ref());
        }
        let path = if use_processor {
            ActivePath::TrackProcessor
        } else {
            ActivePath::Canvas
        };
        Ok(Stamper {
            output,
            path,
            counters,
            cancel,
            parts,
            stopped: Cell::new(false),
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
        self.counters.0.get()
    }

    /// Stops the loop (no frame is processed after this) and releases the tracks, reader,
    /// writer, element and canvas the stamper made; the stamped track is `ended`.
    /// Idempotent.
    pub fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        self.cancel.cancel();
        self.parts.release();
    }
}

impl Drop for Stamper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The content hint of the stamped track: the page's own hint on its camera track, else
/// `"detail"`. A marker is one pixel per bit, so it can only be read at the size it was
/// stamped; with `"detail"` a browser that is short of bandwidth or CPU lowers the frame rate
/// rather than the resolution (Chromium: `maintain-resolution`), where a downscaled frame
/// would lose its probe (at 1280 × 704 Chromium otherwise starts at 960 × 528 until its
/// bandwidth estimate grows, about 20 s on loopback).
fn keep_resolution(out: &MediaStreamTrack, input: &MediaStreamTrack) {
    let hint = get(input, "contentHint")
        .as_string()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "detail".into());
    set(out, "contentHint", &hint.into());
}

fn document() -> Result<web_sys::Document> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| SdkError::new(ErrorCode::MediaError, "no document to stamp frames in"))
}

fn start_processor(
    source: MediaStreamTrack,
    mut painter: Painter,
    tracker: Rc<RefCell<LatencyTracker>>,
    counters: Rc<Counters>,
    cancel: CancelToken,
) -> Result<(MediaStreamTrack, Parts)> {
    let fail = |m: &str, e: &JsValue| from_js(ErrorCode::MediaError, m, e);
    let processor = TrackProcessor::new(&js::object(&[("track", JsValue::from(&source))]))
        .map_err(|e| fail("MediaStreamTrackProcessor failed", &e))?;
    let generator = TrackGenerator::new(&js::object(&[("kind", "video".into())]))
        .map_err(|e| fail("MediaStreamTrackGenerator failed", &e))?;
    let reader = match processor.readable().get_reader() {
        Ok(r) => r,
        Err(e) => {
            generator.stop();
            return Err(fail("could not read the camera frames", &e));
        }
    };
    let writer = match generator.writable().get_writer() {
        Ok(w) => w,
        Err(e) => {
            js::settle(reader.cancel());
            generator.stop();
            return Err(fail("could not write the stamped frames", &e));
        }
    };
    let out: MediaStreamTrack = JsValue::from(&generator).unchecked_into();
    // Imported types clone as `JsValue`: cast back.
    let (r, w): (StreamReader, StreamWriter) = (
        JsValue::from(&reader).unchecked_into(),
        JsValue::from(&writer).unchecked_into(),
    );
    spawn(Box::pin(async move {
        let mut warned = false;
        // The copy buffer of the in-format path; `None` in a `Some` slot means not tried yet.
        let mut in_format: Option<Option<js_sys::Uint8Array>> = Some(None);
        loop {
            let Some(Ok(chunk)) = or_cancel(Box::pin(JsFuture::from(r.read())), &cancel).await
            else {
                break;
            };
            let done = js_sys::Reflect::get(&chunk, &"done".into())
                .map(|d| d.is_truthy())
                .unwrap_or(true);
            let value = js_sys::Reflect::get(&chunk, &"value".into()).unwrap_or(JsValue::UNDEFINED);
            if done || value.is_undefined() {
                break;
            }
            let frame: VideoFrame = value.unchecked_into();
            if cancel.is_cancelled() {
                frame.close();
                break;
            }
            let t0 = js::perf_now();
            let probe = {
                let mut t = tracker.borrow_mut();
                t.should_probe(t0).then(|| t.start_probe(t0))
            };
            let out: JsValue = match probe {
                None => {
                    counters.update(|s| {
                        s.frames_in += 1;
                        s.pass_ms_total += js::perf_now() - t0;
                    });
                    frame.into()
                }
                Some(seq) => match stamp(&mut painter, &mut in_format, &frame, seq).await {
                    Ok((stamped, native)) => {
                        frame.close();
                        if cancel.is_cancelled() {
                            stamped.close();
                            break;
                        }
                        let dt = js::perf_now() - t0;
                        counters.update(|s| {
                            s.frames_in += 1;
                            s.frames_stamped += 1;
                            s.stamped_in_format += u64::from(native);
                            s.stamp_ms_total += dt;
                            s.stamp_ms_max = s.stamp_ms_max.max(dt);
                        });
                        stamped.into()
                    }
                    Err(e) => {
                        if !warned {
                            warned = true;
                            web_sys::console::warn_2(
                                &"realtime: could not stamp a latency marker".into(),
                                &e,
                            );
                        }
                        counters.update(|s| {
                            s.frames_in += 1;
                            s.stamp_failures += 1;
                        });
                        frame.into()
                    }
                },
            };
            // The generator takes ownership of a written frame (and closes it).
            match or_cancel(Box::pin(JsFuture::from(w.write(&out))), &cancel).await {
                Some(Ok(_)) => counters.update(|s| s.frames_out += 1),
                _ => break,
            }
        }
    }));
    Ok((
        out,
        Parts::Processor {
            source,
            generator,
            reader,
            writer,
        },
    ))
}

/// Stamps `frame` in its own format where possible, else through the canvas; the flag
/// tells which. The in-format path is given up for good after its first failure.
async fn stamp(
    painter: &mut Painter,
    in_format: &mut Option<Option<js_sys::Uint8Array>>,
    frame: &VideoFrame,
    seq: u16,
) -> std::result::Result<(VideoFrame, bool), JsValue> {
    if let Some(buf) = in_format {
        match stamp_in_format(buf, frame, seq).await {
            Ok(Some(f)) => return Ok((f, true)),
            Ok(None) => {}
            Err(_) => *in_format = None,
        }
    }
    painter.stamp_frame(frame, seq).map(|f| (f, false))
}

fn start_canvas(
    source: MediaStreamTrack,
    mut painter: Painter,
    tracker: Rc<RefCell<LatencyTracker>>,
    counters: Rc<Counters>,
    cancel: CancelToken,
) -> Result<(MediaStreamTrack, Parts)> {
    let fail = |m: &str, e: &JsValue| from_js(ErrorCode::MediaError, m, e);
    let stream = painter
        .canvas
        .capture_stream_with_frame_request_rate(0.0)
        .map_err(|e| fail("canvas captureStream failed", &e))?;
    let track: CanvasTrack = stream
        .get_video_tracks()
        .get(0)
        .dyn_into::<MediaStreamTrack>()
        .map_err(|e| fail("canvas captureStream gave no track", &e))?
        .unchecked_into();
    let video = match MediaStream::new()
        .map_err(|e| fail("could not build a stream to play", &e))
        .and_then(|s| {
            s.add_track(&source);
            hidden_video(&s)
        }) {
        Ok(v) => v,
        Err(e) => {
            track.stop();
            return Err(e);
        }
    };
    let out: MediaStreamTrack = JsValue::from(&track).unchecked_into();
    let (v, t): (HtmlVideoElement, CanvasTrack) =
        (video.clone(), JsValue::from(&track).unchecked_into());
    spawn(Box::pin(async move {
        let mut ticks = FrameTicks::new(&v);
        loop {
            let Some(Some(_tick)) = or_cancel(Box::pin(ticks.next()), &cancel).await else {
                break;
            };
            if cancel.is_cancelled() {
                break;
            }
            let (w, h) = (v.video_width(), v.video_height());
            if (w as usize) < MARKER_WIDTH || (h as usize) < MARKER_HEIGHT {
                continue;
            }
            let t0 = js::perf_now();
            painter.fit(w, h);
            if painter
                .ctx
                .draw_image_with_html_video_element(&v, 0.0, 0.0)
                .is_err()
            {
                continue;
            }
            let probe = {
                let mut tr = tracker.borrow_mut();
                tr.should_probe(t0).then(|| tr.start_probe(t0))
            };
            let stamped = probe.map(|seq| painter.put_strip(seq, h).is_ok());
            let sent = t.request_frame().is_ok();
            let dt = js::perf_now() - t0;
            counters.update(|s| {
                s.frames_in += 1;
                s.frames_out += u64::from(sent);
                match stamped {
                    Some(true) => {
                        s.frames_stamped += 1;
                        s.stamp_ms_total += dt;
                        s.stamp_ms_max = s.stamp_ms_max.max(dt);
                    }
                    Some(false) => s.stamp_failures += 1,
                    None => s.pass_ms_total += dt,
                }
            });
        }
    }));
    Ok((
        out,
        Parts::Canvas {
            source,
            video,
            track,
        },
    ))
}

/// A muted, autoplaying `<video>` of `stream`, in the document but invisible (browsers only
/// present frames of elements that are rendered), playing.
pub(super) fn hidden_video(stream: &MediaStream) -> Result<HtmlVideoElement> {
    let fail = |m: &str, e: &JsValue| from_js(ErrorCode::MediaError, m, e);
    let doc = document()?;
    let video: HtmlVideoElement = doc
        .create_element("video")
        .map_err(|e| fail("could not create a video element", &e))?
        .unchecked_into();
    video.set_muted(true);
    video.set_autoplay(true);
    let _ = video.set_attribute("playsinline", "");
    let _ = video.set_attribute("aria-hidden", "true");
    // Through the CSSOM, not a `style` attribute: a strict `style-src` blocks the latter.
    let style = video.style();
    for (k, v) in [
        ("position", "fixed"),
        ("left", "0"),
        ("top", "0"),
        ("width", "2px"),
        ("height", "2px"),
        ("opacity", "0"),
        ("pointer-events", "none"),
        ("z-index", "-1"),
    ] {
        let _ = style.set_property(k, v);
    }
    video.set_src_object(Some(stream));
    let parent = doc.body().ok_or_else(|| {
        SdkError::new(
            ErrorCode::MediaError,
            "no document body for the hidden video",
        )
    })?;
    parent
        .append_child(&video)
        .map_err(|e| fail("could not attach the hidden video", &e))?;
    if let Ok(p) = video.play() {
        js::settle(p);
    }
    Ok(video)
}
