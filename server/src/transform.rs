//! Transform mode: the server behaves like a realtime model server. Every video frame of a
//! session's publisher is decoded (VP8), restyled by the prompt's effects
//! ([`crate::effects`]), marked (pixel markers carried or stamped, as the real service
//! does) and encoded again, on a worker thread of the session, off the async runtime.
//!
//! * [`SessionMedia`]: a session's media settings and live controls (look, pending WS
//!   probe), shared by the session task and the media task.
//! * [`Pipeline`]: decode → [`restyle`] → encode, synchronous.
//! * [`Worker`]: one thread per transforming session running its pipeline, fed through a
//!   bounded queue (full: the oldest frame is skipped and counted), reporting
//!   [`WorkerEvent`]s to the media task, which sends the frames when they are due
//!   (`model_delay_ms` / `model_jitter_ms` emulate a slower model without blocking
//!   anything).

use crate::codec::I420Frame;
use crate::codec::{is_vp8_keyframe, CodecError, Decoder, EncodedFrame, Encoder, EncoderConfig};
use crate::effects::{Look, Yuv};
use crate::faults::MediaParams;
use crate::impair::Rng;
use crate::meter::MediaCounters;
use realtime_video_sdk::core::marker::{self, I420Planes, MarkerRead, MARKER_HEIGHT, MARKER_WIDTH};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use str0m::media::{Frequency, MediaTime, Mid};
use tokio::sync::mpsc;

/// What the server does with a session's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaMode {
    /// Frames are written back unchanged (byte-exact).
    #[default]
    Echo,
    /// Video is decoded, restyled and re-encoded; audio passes through.
    Transform,
}

impl MediaMode {
    /// Parses `echo` or `transform` (`what` names the setting in the error).
    pub fn parse(what: &str, value: &str) -> Result<MediaMode, String> {
        match value {
            "echo" => Ok(MediaMode::Echo),
            "transform" => Ok(MediaMode::Transform),
            v => Err(format!("invalid {what} `{v}`: expected echo or transform")),
        }
    }

    /// The spelling of [`MediaMode::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Echo => "echo",
            MediaMode::Transform => "transform",
        }
    }
}

/// What the session asked for most recently.
#[derive(Debug, Default)]
struct Control {
    prompt: Option<String>,
    tint: Option<Yuv>,
    look: Look,
    probe: Option<u16>,
}

/// A session's media settings and live controls. The session changes the look and queues
/// WS probes; the media task and the session's worker read them for every frame.
#[derive(Debug)]
pub struct SessionMedia {
    /// Echo or transform.
    pub mode: MediaMode,
    /// Model delay and network impairment of the session.
    pub params: MediaParams,
    /// The session's counters (`metrics_report`).
    pub counters: Arc<MediaCounters>,
    /// When the session started (network impairment is timed from here).
    pub started: Instant,
    control: Mutex<Control>,
}

impl SessionMedia {
    /// Settings for a new session.
    pub fn new(mode: MediaMode, params: MediaParams, counters: Arc<MediaCounters>) -> Self {
        SessionMedia {
            mode,
            params,
            counters,
            started: Instant::now(),
            control: Mutex::new(Control::default()),
        }
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        // Every update leaves the state consistent, so a poisoned lock is still usable.
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A `prompt`: its effects replace the previous prompt's; a reference image stays.
    pub fn set_prompt(&self, prompt: &str) {
        let mut c = self.control();
        c.prompt = Some(prompt.to_string());
        c.look = Look::new(c.prompt.as_deref(), c.tint);
    }

    /// A `set_image`: the image's tint (`None`: no image) and the prompt (`None`: none)
    /// replace both. Neither is the passthrough.
    pub fn set_image(&self, tint: Option<Yuv>, prompt: Option<&str>) {
        let mut c = self.control();
        c.prompt = prompt.map(str::to_string);
        c.tint = tint;
        c.look = Look::new(c.prompt.as_deref(), c.tint);
    }

    /// The look frames get now.
    pub fn look(&self) -> Look {
        self.control().look.clone()
    }

    /// A `latency_probe`: `seq` is stamped into the next output frame.
    pub fn queue_probe(&self, seq: u16) {
        self.control().probe = Some(seq);
    }

    fn take_probe(&self) -> Option<u16> {
        self.control().probe.take()
    }
}

/// The tint of a `set_image`'s `image_data` (base64 PNG or JPEG), decoded on a blocking
/// thread so a large image never holds up the session's task.
pub async fn image_tint(image_data: String) -> Result<Yuv, String> {
    tokio::task::spawn_blocking(move || {
        let bytes = realtime_video_sdk::core::base64::decode(&image_data)
            .ok_or_else(|| "image_data is not valid base64".to_string())?;
        crate::effects::reference_tint(&bytes)
    })
    .await
    .map_err(|e| format!("decoding image_data failed: {e}"))?
}

/// The luma and chroma samples of the marker strip, to put back unchanged.
struct Strip {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

/// Rows `first..` (at most `rows`) and columns `0..cols` of a plane of width `w`.
fn strip_rows(plane: &[u8], w: usize, first: usize, cols: usize) -> Vec<u8> {
    plane
        .chunks_exact(w)
        .skip(first)
        .flat_map(|row| row.iter().take(cols).copied())
        .collect()
}

fn put_rows(plane: &mut [u8], w: usize, first: usize, cols: usize, saved: &[u8]) {
    for (row, src) in plane
        .chunks_exact_mut(w)
        .skip(first)
        .zip(saved.chunks(cols.max(1)))
    {
        for (d, s) in row.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

impl Strip {
    fn save(f: &I420Frame) -> Strip {
        let (w, cw) = (f.width(), f.chroma_width());
        let first = f.height().saturating_sub(MARKER_HEIGHT);
        let (y, u, v) = f.planes();
        Strip {
            y: strip_rows(y, w, first, MARKER_WIDTH),
            u: strip_rows(u, cw, first / 2, MARKER_WIDTH / 2),
            v: strip_rows(v, cw, first / 2, MARKER_WIDTH / 2),
        }
    }

    fn restore(&self, f: &mut I420Frame) {
        let (w, cw) = (f.width(), f.chroma_width());
        let first = f.height().saturating_sub(MARKER_HEIGHT);
        let (y, u, v) = f.planes_mut();
        put_rows(y, w, first, MARKER_WIDTH, &self.y);
        put_rows(u, cw, first / 2, MARKER_WIDTH / 2, &self.u);
        put_rows(v, cw, first / 2, MARKER_WIDTH / 2, &self.v);
    }
}

/// Browsers encode camera and canvas video in limited range.
const FULL_RANGE: bool = false;

/// Reads the marker of a decoded frame.
pub fn read_marker(f: &I420Frame) -> MarkerRead {
    marker::read_luma(f.planes().0, f.width(), f.width(), f.height(), FULL_RANGE)
}

/// Stamps `seq` into a frame (a frame smaller than the strip stays as it is).
pub fn stamp_marker(f: &mut I420Frame, seq: u16) {
    let (width, height, cw) = (f.width(), f.height(), f.chroma_width());
    let (y, u, v) = f.planes_mut();
    let planes = I420Planes {
        y,
        y_stride: width,
        u,
        v,
        uv_stride: cw,
        width,
        height,
    };
    // Only a frame smaller than 24×4 fails, and it cannot carry a marker anyway.
    let _ = marker::stamp_i420(planes, seq, FULL_RANGE);
}

/// What the "model" does to one decoded frame: the look's effects, then the marker. A WS
/// probe `seq` waiting to be stamped wins; else the input's marker is carried (a valid one
/// stamped again at the bottom-left, a corrupted one copied as it was, so the client
/// counts it as corrupted); a frame without marker gets none. Returns the input's marker.
pub fn restyle(f: &mut I420Frame, look: &Look, probe: Option<u16>) -> MarkerRead {
    let read = read_marker(f);
    let saved = (probe.is_none() && read == MarkerRead::Corrupted).then(|| Strip::save(f));
    look.apply(f);
    match (probe, read) {
        (Some(seq), _) | (None, MarkerRead::Seq(seq)) => stamp_marker(f, seq),
        _ => {
            if let Some(strip) = saved {
                strip.restore(f);
            }
        }
    }
    read
}

/// The result of decoding one input frame.
#[derive(Debug)]
pub enum Decoded {
    /// A picture.
    Picture(I420Frame),
    /// The decoder cannot go on without a keyframe (first frame, gap, corrupt frame): ask
    /// the sender for one.
    NeedKeyframe,
    /// No picture (an invisible frame).
    Nothing,
}

/// One session's decode → restyle → encode. The encoder follows the input's size.
pub struct Pipeline {
    decoder: Decoder,
    encoder: Option<Encoder>,
    waiting_keyframe: bool,
}

impl Pipeline {
    /// A pipeline waiting for its first keyframe.
    pub fn new() -> Result<Pipeline, CodecError> {
        Ok(Pipeline {
            decoder: Decoder::new()?,
            encoder: None,
            waiting_keyframe: true,
        })
    }

    /// Decodes one input frame; `contiguous: false` marks a gap before it (lost frames),
    /// after which only a keyframe decodes.
    pub fn decode(&mut self, data: &[u8], contiguous: bool) -> Decoded {
        if !contiguous {
            self.waiting_keyframe = true;
        }
        if self.waiting_keyframe && !is_vp8_keyframe(data) {
            return Decoded::NeedKeyframe;
        }
        match self.decoder.decode(data) {
            Ok(Some(picture)) => {
                self.waiting_keyframe = false;
                Decoded::Picture(picture)
            }
            Ok(None) => Decoded::Nothing,
            Err(e) => {
                tracing::debug!("transform: {e}");
                self.waiting_keyframe = true;
                Decoded::NeedKeyframe
            }
        }
    }

    /// Encodes a picture at `pts_90khz` (a new size starts a new encoder, whose first frame
    /// is a keyframe).
    pub fn encode(
        &mut self,
        picture: &I420Frame,
        pts_90khz: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError> {
        let size = (picture.width(), picture.height());
        let encoder = match &mut self.encoder {
            Some(e) if (e.config().width, e.config().height) == size => e,
            slot => slot.insert(Encoder::new(EncoderConfig::for_size(size.0, size.1))?),
        };
        encoder.encode(picture, pts_90khz, force_keyframe)
    }

    /// The current encoder's target bitrate, kbit/s.
    pub fn target_kbps(&self) -> Option<u32> {
        self.encoder.as_ref().map(|e| e.config().bitrate_kbps)
    }
}

/// An encoded video frame for a session's worker.
#[derive(Debug, Clone)]
pub struct InputFrame {
    /// The mid it came in on (the echo goes back there).
    pub mid: Mid,
    /// Its RTP time (the output keeps it).
    pub time: MediaTime,
    /// When its first packet arrived.
    pub network_time: Instant,
    /// Whether it follows the previous frame without a gap.
    pub contiguous: bool,
    /// The VP8 frame.
    pub data: Arc<[u8]>,
}

/// A transformed frame of a session, to be sent at `ready_at`.
#[derive(Debug, Clone)]
pub struct OutputFrame {
    /// The session.
    pub session: Arc<str>,
    /// The input's mid.
    pub mid: Mid,
    /// The input's RTP time.
    pub time: MediaTime,
    /// The input's first-packet arrival (pipeline latency is measured from here).
    pub network_time: Instant,
    /// The VP8 frame.
    pub data: Arc<[u8]>,
    /// When the emulated model lets it go (processing done + model delay and jitter).
    pub ready_at: Instant,
}

/// What a worker tells the media task.
#[derive(Debug)]
pub enum WorkerEvent {
    /// A transformed frame.
    Frame(OutputFrame),
    /// The decoder needs a keyframe from this session's publisher.
    NeedKeyframe(Arc<str>),
}

/// Frames waiting for a worker; one more and the oldest is skipped.
pub const INPUT_QUEUE: usize = 4;

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<InputFrame>,
    /// A frame was skipped: the decoder's references are broken until a keyframe.
    gap: bool,
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    force_keyframe: AtomicBool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A session's transform thread. Dropping it stops the thread (after the frame in hand);
/// the thread's codecs are freed when it ends.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
    counters: Arc<MediaCounters>,
}

impl Worker {
    /// Starts the thread of `session`.
    pub fn spawn(
        session: Arc<str>,
        media: Arc<SessionMedia>,
        events: mpsc::UnboundedSender<WorkerEvent>,
    ) -> std::io::Result<Worker> {
        let shared = Arc::new(Shared::default());
        let counters = media.counters.clone();
        counters.set_transforming();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("transform {session}"))
            .spawn(move || work(session, thread_shared, media, events))?;
        Ok(Worker { shared, counters })
    }

    /// Queues a frame; when [`INPUT_QUEUE`] frames wait already, the oldest is skipped.
    pub fn push(&self, frame: InputFrame) {
        let mut q = self.shared.queue();
        if q.frames.len() >= INPUT_QUEUE {
            q.frames.pop_front();
            q.gap = true;
            self.counters.skipped_in(1);
        }
        q.frames.push_back(frame);
        self.counters.set_in_depth(q.frames.len());
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Frames were dropped before reaching the worker (an injected stall): the decoder
    /// waits for a keyframe.
    pub fn mark_gap(&self) {
        self.shared.queue().gap = true;
    }

    /// The next encoded frame is a keyframe (a receiver asked, or a viewer joined).
    pub fn force_keyframe(&self) {
        self.shared.force_keyframe.store(true, Ordering::Relaxed);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.wake.notify_one();
    }
}

/// The model delay of the next frame: `delay` plus a uniform draw in `0..=jitter`.
fn model_delay(params: &MediaParams, rng: &mut Rng) -> Duration {
    params.model_delay + params.model_jitter.mul_f64(rng.next_f64())
}

fn work(
    session: Arc<str>,
    shared: Arc<Shared>,
    media: Arc<SessionMedia>,
    events: mpsc::UnboundedSender<WorkerEvent>,
) {
    let mut pipeline = match Pipeline::new() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(session = %session, "transform unavailable: {e}");
            return;
        }
    };
    let counters = &media.counters;
    let mut rng = Rng::new(Rng::seed());
    let mut last_ready: Option<Instant> = None;
    loop {
        let (batch, gap) = {
            let mut q = shared.queue();
            while q.frames.is_empty() && !q.closed {
                q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
            if q.closed {
                return;
            }
            counters.set_in_depth(0);
            (std::mem::take(&mut q.frames), std::mem::take(&mut q.gap))
        };
        // Decode every frame (references must stay intact); only the newest picture goes
        // on, the others count as skipped.
        let mut latest = None;
        let mut need_keyframe = false;
        for (i, frame) in batch.into_iter().enumerate() {
            match pipeline.decode(&frame.data, frame.contiguous && !(gap && i == 0)) {
                Decoded::Picture(p) => {
                    if latest.replace((frame, p)).is_some() {
                        counters.skipped_in(1);
                    }
                }
                Decoded::NeedKeyframe => {
                    need_keyframe = true;
                    counters.skipped_in(1);
                }
                Decoded::Nothing => {}
            }
        }
        if need_keyframe
            && events
                .send(WorkerEvent::NeedKeyframe(session.clone()))
                .is_err()
        {
            return;
        }
        let Some((input, mut picture)) = latest else {
            continue;
        };
        restyle(&mut picture, &media.look(), media.take_probe());
        let force = shared.force_keyframe.swap(false, Ordering::Relaxed);
        let pts = input.time.rebase(Frequency::NINETY_KHZ).numer() as i64;
        let encoded = match pipeline.encode(&picture, pts, force) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(session = %session, "transform: {e}");
                counters.skipped_out(1);
                continue;
            }
        };
        if let Some(kbps) = pipeline.target_kbps() {
            counters.set_encoder_target(kbps);
        }
        // Frames leave in order: a shorter draw never overtakes the previous frame.
        let ready = Instant::now() + model_delay(&media.params, &mut rng);
        let ready_at = last_ready.map_or(ready, |l| l.max(ready));
        last_ready = Some(ready_at);
        for EncodedFrame { data, .. } in encoded {
            let out = OutputFrame {
                session: session.clone(),
                mid: input.mid,
                time: input.time,
                network_time: input.network_time,
                data: data.into(),
                ready_at,
            };
            if events.send(WorkerEvent::Frame(out)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::Effect;

    fn card(seq: Option<u16>) -> I420Frame {
        let mut f = I420Frame::test_card(96, 64, 3);
        if let Some(seq) = seq {
            stamp_marker(&mut f, seq);
        }
        f
    }

    #[test]
    fn modes_parse() {
        assert_eq!(MediaMode::parse("m", "echo"), Ok(MediaMode::Echo));
        assert_eq!(MediaMode::parse("m", "transform"), Ok(MediaMode::Transform));
        assert!(MediaMode::parse("media_mode", "Echo")
            .unwrap_err()
            .contains("media_mode"));
        assert_eq!(MediaMode::Transform.as_str(), "transform");
    }

    #[test]
    fn restyle_carries_the_input_marker_through_any_effect() {
        let look = Look::new(Some("mirror invert sketch"), None);
        assert_eq!(look.effects().len(), 3);
        let mut f = card(Some(0x2BAD));
        assert_eq!(restyle(&mut f, &look, None), MarkerRead::Seq(0x2BAD));
        assert_eq!(read_marker(&f), MarkerRead::Seq(0x2BAD));
        // No marker in: none out, whatever the effect.
        let mut f = card(None);
        assert_eq!(restyle(&mut f, &look, None), MarkerRead::NoMarker);
        assert_eq!(read_marker(&f), MarkerRead::NoMarker);
    }

    #[test]
    fn a_ws_probe_wins_and_a_corrupted_marker_stays_corrupted() {
        let look = Look::new(Some("negative"), None);
        let mut f = card(Some(7));
        restyle(&mut f, &look, Some(900));
        assert_eq!(read_marker(&f), MarkerRead::Seq(900));
        let mut f = card(None);
        restyle(&mut f, &look, Some(901));
        assert_eq!(read_marker(&f), MarkerRead::Seq(901));
        // Two of four rows disagree on a bit: corrupted in, corrupted out.
        let mut f = card(Some(0x1234));
        let (w, h) = (f.width(), f.height());
        for row in [h - 4, h - 3] {
            let y = &mut f.planes_mut().0[row * w + 10];
            *y = 255 - *y;
        }
        assert_eq!(read_marker(&f), MarkerRead::Corrupted);
        assert_eq!(restyle(&mut f, &look, None), MarkerRead::Corrupted);
        assert_eq!(read_marker(&f), MarkerRead::Corrupted);
    }

    #[test]
    fn session_controls() {
        let m = SessionMedia::new(MediaMode::Transform, MediaParams::default(), Arc::default());
        assert!(m.look().is_passthrough());
        m.set_prompt("grayscale");
        assert_eq!(m.look().effects(), [Effect::Grayscale]);
        let tint = Yuv::from_rgb([255, 0, 0]);
        m.set_image(Some(tint), Some("invert"));
        assert_eq!(m.look().effects(), [Effect::Invert]);
        m.set_prompt("mirror");
        assert_eq!(m.look(), Look::new(Some("mirror"), Some(tint)));
        m.set_image(None, None);
        assert!(m.look().is_passthrough());
        m.queue_probe(5);
        m.queue_probe(6);
        assert_eq!(m.take_probe(), Some(6));
        assert_eq!(m.take_probe(), None);
    }

    #[test]
    fn pipeline_waits_for_a_keyframe_and_follows_the_size() {
        let mut enc = Encoder::new(EncoderConfig::for_size(96, 64)).unwrap();
        let key = enc.encode(&card(None), 0, false).unwrap().remove(0);
        let inter = enc.encode(&card(None), 3000, false).unwrap().remove(0);
        let mut p = Pipeline::new().unwrap();
        assert!(matches!(p.decode(&inter.data, true), Decoded::NeedKeyframe));
        let Decoded::Picture(pic) = p.decode(&key.data, true) else {
            panic!("keyframe decodes");
        };
        assert!(matches!(p.decode(&inter.data, true), Decoded::Picture(_)));
        // A gap: inter frames wait for the next keyframe.
        assert!(matches!(
            p.decode(&inter.data, false),
            Decoded::NeedKeyframe
        ));
        assert!(matches!(p.decode(&inter.data, true), Decoded::NeedKeyframe));
        assert!(matches!(p.decode(&key.data, true), Decoded::Picture(_)));
        // Garbage that looks like a keyframe: an error, then a keyframe is needed again.
        assert!(matches!(
            p.decode(&[0x00, 1, 2, 3], true),
            Decoded::NeedKeyframe
        ));
        assert!(matches!(p.decode(&inter.data, true), Decoded::NeedKeyframe));
        // Encoding: the first frame and every new size start with a keyframe.
        let out = p.encode(&pic, 0, false).unwrap();
        assert!(out[0].keyframe);
        assert_eq!(
            p.target_kbps(),
            Some(EncoderConfig::for_size(96, 64).bitrate_kbps)
        );
        assert!(!p.encode(&pic, 3000, false).unwrap()[0].keyframe);
        assert!(p.encode(&pic, 6000, true).unwrap()[0].keyframe);
        let bigger = I420Frame::test_card(128, 96, 0);
        assert!(p.encode(&bigger, 9000, false).unwrap()[0].keyframe);
    }

    #[test]
    fn model_delay_stays_within_delay_plus_jitter() {
        let params = MediaParams {
            model_delay: Duration::from_millis(100),
            model_jitter: Duration::from_millis(40),
            ..MediaParams::default()
        };
        let mut rng = Rng::new(9);
        let d: Vec<Duration> = (0..500).map(|_| model_delay(&params, &mut rng)).collect();
        assert!(d
            .iter()
            .all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_millis(140)));
        assert!(d.iter().any(|d| *d > Duration::from_millis(130)));
        assert!(d.iter().any(|d| *d < Duration::from_millis(110)));
    }
}
