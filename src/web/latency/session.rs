//! One session's latency diagnostics: the stamper, the reader, the periodic report and the
//! composite estimate, behind the handful of calls the connect flow makes.
//!
//! Modes (`shared/PROTOCOL.md`, "Pixel marker"):
//! * **E2E**: pixel markers on and a stamper running on the published camera;
//! * **WS probe**: pixel markers on, nothing stamped locally (a viewer, an audio-only input,
//!   a stamper that could not start): `latency_probe {seq, client_time}` is sent at the probe
//!   interval (every read output frame when the interval is 0) and the server is expected to
//!   stamp the output;
//! * **composite**: independent of the two, on every `metrics_report`.
//!
//! Lifecycle: [`LatencySession::start_stamper`] before the transport connects (so the first
//! published frame already carries a probe); [`LatencySession::start_reading`] when connected,
//! which starts reading [`READ_DELAY_MS`] later unless [`LatencySession::on_disconnected`] or
//! [`LatencySession::stop`] comes first; `on_disconnected` ends the reading phase (reader,
//! report timer) and keeps the stamper for a reconnect; `stop` (or dropping) ends everything.
//! Probes still in flight when a reading phase starts are forgotten, not counted lost: their
//! frames were stamped while nothing could carry or read them.

use super::reader::{ProbeReader, ReadOutput, ReaderStats};
use super::stamper::{ActivePath, Stamper, StamperPath, StamperStats};
use super::PixelLatency;
use crate::core::latency::{
    CompositeLatency, LatencyConfig, LatencyMode as ReportMode, LatencyTracker, ProbeEvent,
    ProbeOutcome,
};
use crate::core::options::LatencyOptions;
use crate::core::protocol::{ClientMessage, MetricsReport};
use crate::core::stats::StatsSnapshot;
use crate::web::cancel::CancelToken;
use crate::web::error::Result;
use crate::web::js::{now_ms, or_cancel, perf_now, spawn, to_js};
use gloo_timers::future::TimeoutFuture;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsValue;
use web_sys::{HtmlVideoElement, MediaStream};

/// Delay between connect and the start of reading, ms.
pub const READ_DELAY_MS: u32 = 1000;
/// Period of the loss / report check, ms (reports themselves follow the tracker's interval).
const REPORT_TICK_MS: u32 = 250;

/// What the session needs from its owner.
#[derive(Clone)]
pub struct LatencyDeps {
    /// Sends a message to the server (`e2e_latency_report`, `latency_probe`); the owner
    /// drops it when there is no live connection.
    pub send: Rc<dyn Fn(ClientMessage)>,
    /// Emits an event to the page: `pixelLatency`, `pixelLatencyEvent`,
    /// `pixelLatencyReport`, `compositeLatency`, with a plain-object payload.
    pub emit: Rc<dyn Fn(&'static str, JsValue)>,
    /// Logs a warning through the session's logger.
    pub warn: Rc<dyn Fn(&str)>,
}

/// Which pixel-marker mode is in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyMode {
    /// Pixel markers off (composite only, if that is on).
    Off,
    /// Stamped locally, read on the output.
    E2e,
    /// `latency_probe` messages; the server stamps the output.
    WsProbe,
}

impl LatencyMode {
    /// The name used in event payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyMode::Off => "off",
            LatencyMode::E2e => "e2e",
            LatencyMode::WsProbe => "wsProbe",
        }
    }
}

/// Counts and per-frame costs of the session's components (for diagnostics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyCounters {
    /// The stamper's figures (zero without a stamper).
    pub stamper: StamperStats,
    /// Frames read by every reader of the session, including stopped ones.
    pub reader: ReaderStats,
    /// Whether a reader is running now.
    pub reading: bool,
    /// `latency_probe` messages sent.
    pub ws_probes_sent: u64,
    /// `e2e_latency_report` messages sent.
    pub reports_sent: u64,
}

struct Inner {
    opts: LatencyOptions,
    deps: LatencyDeps,
    tracker: Rc<RefCell<LatencyTracker>>,
    stamper: RefCell<Option<Stamper>>,
    /// Figures of the stamper once stopped.
    stamper_final: Cell<StamperStats>,
    reader: RefCell<Option<ProbeReader>>,
    /// Figures of the readers already stopped.
    reader_past: Cell<ReaderStats>,
    /// The current reading phase (pending start, reader, report timer).
    phase: RefCell<Option<CancelToken>>,
    client_rtt_ms: Cell<Option<f64>>,
    ws_probes_sent: Cell<u64>,
    reports_sent: Cell<u64>,
    stopped: Cell<bool>,
}

/// One session's latency diagnostics; see the module documentation.
#[must_use = "dropping the latency session stops it"]
pub struct LatencySession {
    inner: Rc<Inner>,
}

impl LatencySession {
    /// Latency diagnostics with the tracker defaults and `opts.probe_interval_ms`.
    pub fn new(opts: &LatencyOptions, deps: LatencyDeps) -> LatencySession {
        let config = LatencyConfig::with_probe_interval(opts.probe_interval_ms);
        Self::with_config(opts, config, deps)
    }

    /// Latency diagnostics with explicit tracker settings (TTL, report interval, ...); the
    /// probe interval comes from `config`.
    pub fn with_config(
        opts: &LatencyOptions,
        config: LatencyConfig,
        deps: LatencyDeps,
    ) -> LatencySession {
        let tracker = Rc::new(RefCell::new(LatencyTracker::new(config, perf_now())));
        LatencySession {
            inner: Rc::new(Inner {
                opts: opts.clone(),
                deps,
                tracker,
                stamper: RefCell::new(None),
                stamper_final: Cell::new(StamperStats::default()),
                reader: RefCell::new(None),
                reader_past: Cell::new(ReaderStats::default()),
                phase: RefCell::new(None),
                client_rtt_ms: Cell::new(None),
                ws_probes_sent: Cell::new(0),
                reports_sent: Cell::new(0),
                stopped: Cell::new(false),
            }),
        }
    }

    /// Starts stamping `input` (pixel markers on and a video track present) and returns
    /// the stream to publish: the stamped video and `input`'s own audio tracks. Without
    /// pixel markers, without a video track, or after `stop`, returns `input` itself (WS
    /// probe mode when markers are on). A stamper already running is replaced.
    ///
    /// On `Err` nothing runs: publish `input` unchanged (the session is then in WS probe
    /// mode).
    pub fn start_stamper(&self, input: &MediaStream) -> Result<MediaStream> {
        self.start_stamper_with(input, StamperPath::Auto)
    }

    /// [`LatencySession::start_stamper`] on a chosen path (tests use the canvas path).
    pub fn start_stamper_with(
        &self,
        input: &MediaStream,
        path: StamperPath,
    ) -> Result<MediaStream> {
        let i = &self.inner;
        if i.stopped.get() || !i.opts.pixel_marker || input.get_video_tracks().length() == 0 {
            // `Clone::clone`: the same stream (`.clone()` would be `MediaStream.clone()`).
            return Ok(Clone::clone(input));
        }
        i.stop_stamper();
        let stamper = Stamper::start_with(input, i.tracker.clone(), path)?;
        let out = stamper.stream();
        *i.stamper.borrow_mut() = Some(stamper);
        Ok(out)
    }

    /// The connection is up and `remote` is its output: reading starts [`READ_DELAY_MS`]
    /// later, on `video` if given (the page's element), else on a hidden element the
    /// reader makes. A previous reading phase ends first. Does nothing without pixel
    /// markers or after `stop`.
    pub fn start_reading(&self, remote: &MediaStream, video: Option<HtmlVideoElement>) {
        self.start_reading_after(remote, video, READ_DELAY_MS);
    }

    /// [`LatencySession::start_reading`] with another delay (tests).
    pub fn start_reading_after(
        &self,
        remote: &MediaStream,
        video: Option<HtmlVideoElement>,
        delay_ms: u32,
    ) {
        let i = &self.inner;
        if i.stopped.get() || !i.opts.pixel_marker {
            return;
        }
        i.end_phase();
        let phase = CancelToken::new();
        *i.phase.borrow_mut() = Some(phase.clone());
        let weak = Rc::downgrade(&self.inner);
        let remote: MediaStream = Clone::clone(remote);
        spawn(Box::pin(async move {
            if or_cancel(Box::pin(TimeoutFuture::new(delay_ms)), &phase)
                .await
                .is_none()
            {
                return;
            }
            if let Some(inner) = weak.upgrade() {
                Inner::activate(&inner, &remote, video, phase);
            }
        }));
    }

    /// The connection dropped: cancels a pending start, stops the reader and the report
    /// timer. The stamper keeps running for a reconnect.
    pub fn on_disconnected(&self) {
        self.inner.end_phase();
    }

    /// A `metrics_report` arrived: emits `compositeLatency` when composite is on.
    pub fn on_server_metrics(&self, m: &MetricsReport) {
        let i = &self.inner;
        if i.stopped.get() || !i.opts.composite {
            return;
        }
        let c = CompositeLatency::new(i.client_rtt_ms.get(), m.rtt_ms, m.pipeline_latency_ms);
        (i.deps.emit)("compositeLatency", to_js(&c.to_json()));
    }

    /// True when stats samples are needed (the composite estimate uses the client RTT).
    pub fn wants_stats(&self) -> bool {
        self.inner.opts.composite && !self.inner.stopped.get()
    }

    /// A stats sample: keeps the client's round-trip time for the composite estimate.
    pub fn on_stats(&self, s: &StatsSnapshot) {
        let rtt = s
            .connection
            .current_round_trip_time
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v * 1000.0);
        if rtt.is_some() {
            self.inner.client_rtt_ms.set(rtt);
        }
    }

    /// Ends everything: stamper (its track ends), reader, timers. No frame is processed
    /// after this. Idempotent.
    pub fn stop(&self) {
        let i = &self.inner;
        if i.stopped.replace(true) {
            return;
        }
        i.end_phase();
        i.stop_stamper();
    }

    /// The pixel-marker mode in effect.
    pub fn mode(&self) -> LatencyMode {
        self.inner.mode()
    }

    /// The stamper's path, when a stamper runs.
    pub fn stamper_path(&self) -> Option<ActivePath> {
        self.inner.stamper.borrow().as_ref().map(Stamper::path)
    }

    /// Counts and per-frame costs so far.
    pub fn counters(&self) -> LatencyCounters {
        let i = &self.inner;
        let stamper = i
            .stamper
            .borrow()
            .as_ref()
            .map(Stamper::stats)
            .unwrap_or_else(|| i.stamper_final.get());
        let mut reader = i.reader_past.get();
        let reading = match i.reader.borrow().as_ref() {
            Some(r) => {
                reader = add_reader(reader, r.stats());
                true
            }
            None => false,
        };
        LatencyCounters {
            stamper,
            reader,
            reading,
            ws_probes_sent: i.ws_probes_sent.get(),
            reports_sent: i.reports_sent.get(),
        }
    }

    /// The tracker (shared with the stamper and the reader).
    pub fn tracker(&self) -> Rc<RefCell<LatencyTracker>> {
        self.inner.tracker.clone()
    }
}

impl Drop for LatencySession {
    fn drop(&mut self) {
        self.stop();
    }
}

fn add_reader(a: ReaderStats, b: ReaderStats) -> ReaderStats {
    ReaderStats {
        frames_read: a.frames_read + b.frames_read,
        read_ms_total: a.read_ms_total + b.read_ms_total,
        read_ms_max: a.read_ms_max.max(b.read_ms_max),
        read_failures: a.read_failures + b.read_failures,
    }
}

impl Inner {
    fn mode(&self) -> LatencyMode {
        if !self.opts.pixel_marker {
            LatencyMode::Off
        } else if self.stamper.borrow().is_some() {
            LatencyMode::E2e
        } else {
            LatencyMode::WsProbe
        }
    }

    fn stop_stamper(&self) {
        let old = self.stamper.borrow_mut().take();
        if let Some(s) = old {
            s.stop();
            self.stamper_final.set(s.stats());
        }
    }

    /// Ends the reading phase: pending start, reader, report timer.
    fn end_phase(&self) {
        let phase = self.phase.borrow_mut().take();
        if let Some(p) = phase {
            p.cancel();
        }
        let reader = self.reader.borrow_mut().take();
        if let Some(r) = reader {
            r.stop();
            self.reader_past
                .set(add_reader(self.reader_past.get(), r.stats()));
        }
    }

    fn activate(
        this: &Rc<Inner>,
        remote: &MediaStream,
        video: Option<HtmlVideoElement>,
        phase: CancelToken,
    ) {
        if this.stopped.get() || phase.is_cancelled() {
            return;
        }
        let now = perf_now();
        {
            let mut t = this.tracker.borrow_mut();
            // Nothing read before now: start from a clean slate and a fresh report period.
            t.clear_pending();
            let _ = t.take_report(now);
        }
        let weak = Rc::downgrade(this);
        let sink = Rc::new(move |out: ReadOutput| {
            if let Some(inner) = weak.upgrade() {
                inner.on_read(out);
            }
        });
        let started = match video {
            Some(v) => ProbeReader::start(&v, this.tracker.clone(), sink),
            None => ProbeReader::for_stream(remote, this.tracker.clone(), sink),
        };
        match started {
            Ok(r) => *this.reader.borrow_mut() = Some(r),
            Err(e) => {
                (this.deps.warn)(&crate::core::error::join(&[
                    "latency reading did not start: ",
                    &e.message,
                ]));
                return;
            }
        }
        let weak = Rc::downgrade(this);
        spawn(Box::pin(report_loop(weak, phase)));
    }

    fn on_read(&self, out: ReadOutput) {
        if self.stopped.get() {
            return;
        }
        let mode = self.mode();
        if mode == LatencyMode::WsProbe {
            let seq = {
                let mut t = self.tracker.borrow_mut();
                t.should_probe(out.now).then(|| t.start_probe(out.now))
            };
            if let Some(seq) = seq {
                self.ws_probes_sent.set(self.ws_probes_sent.get() + 1);
                (self.deps.send)(ClientMessage::LatencyProbe {
                    seq,
                    client_time: out.now,
                });
            }
        }
        if let Some(outcome) = out.outcome {
            if let ProbeOutcome::Received {
                seq,
                latency_ms,
                out_of_order,
            } = outcome
            {
                let p = PixelLatency {
                    seq,
                    latency_ms,
                    out_of_order,
                    sent_at: out.now - latency_ms,
                    read_at: out.now,
                    display_latency_ms: out
                        .frame
                        .as_ref()
                        .and_then(|f| f.expected_display_time)
                        .map(|t| (t - (out.now - latency_ms)).max(0.0)),
                    mode: mode.as_str(),
                    frame: out.frame.clone(),
                };
                (self.deps.emit)("pixelLatency", to_js(&p.to_json(now_ms())));
            }
            self.emit_outcome(outcome, out.now);
        }
        for o in out.expired {
            self.emit_outcome(o, out.now);
        }
    }

    fn emit_outcome(&self, o: ProbeOutcome, now: f64) {
        let ttl = self.tracker.borrow().config().ttl_ms;
        let event = ProbeEvent::from_outcome(o, now).to_json(now_ms(), ttl);
        (self.deps.emit)("pixelLatencyEvent", to_js(&event));
    }

    /// Loss check and, when due, the report.
    fn tick(&self) {
        let now = perf_now();
        let (expired, report) = {
            let mut t = self.tracker.borrow_mut();
            let expired = t.expire(now);
            let report = t.report_due(now).then(|| t.take_report(now));
            (expired, report)
        };
        for o in expired {
            self.emit_outcome(o, now);
        }
        if let Some(r) = report {
            self.reports_sent.set(self.reports_sent.get() + 1);
            (self.deps.send)(r.to_message());
            let mode = match self.mode() {
                LatencyMode::WsProbe => ReportMode::WsProbe,
                _ => ReportMode::E2e,
            };
            (self.deps.emit)("pixelLatencyReport", to_js(&r.to_json(mode, now_ms())));
        }
    }
}

async fn report_loop(weak: Weak<Inner>, phase: CancelToken) {
    loop {
        if or_cancel(Box::pin(TimeoutFuture::new(REPORT_TICK_MS)), &phase)
            .await
            .is_none()
        {
            return;
        }
        match weak.upgrade() {
            Some(inner) if !inner.stopped.get() && !phase.is_cancelled() => inner.tick(),
            _ => return,
        }
    }
}
