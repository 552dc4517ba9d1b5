//! A session's connection quality (`connectionQuality`, `getConnectionQuality()`): each stats
//! poll becomes a core [`QualitySample`] (plus the upstream loss from the poll before, the
//! server's upstream jitter, the time to first frame and, with latency tracking, the
//! glass-to-glass figures of the recent probes) fed to the core's [`QualityMonitor`], which
//! decides when the verdict changed. Also the time to
//! first frame: `connect()` → the first frame the page's `latencyTracking.videoElement`
//! presents (`requestVideoFrameCallback`), else the remote video track's `unmute` (its first
//! media), which costs nothing while nobody asks.

use crate::core::json::Json;
use crate::core::quality::{ProbeWindow, QualityMonitor, QualitySample, ResentShare};
use crate::core::stats::StatsSnapshot;
use crate::web::chan::channel;
use crate::web::events::Emitter;
use crate::web::js::{get, or_cancel, perf_now, spawn};
use crate::web::media::FrameWatch;
use crate::web::session::Session;
use gloo_events::EventListener;
use std::cell::{Cell, RefCell};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MediaStream, MediaStreamTrack};

/// What connection quality keeps per session.
#[derive(Default)]
pub struct QualityWatch {
    monitor: RefCell<QualityMonitor>,
    /// `getConnectionQuality()` was called: stats are polled from then on.
    requested: Cell<bool>,
    /// Time to first frame, ms.
    ttff_ms: Cell<Option<f64>>,
    /// The first frame is being watched for.
    watching: Cell<bool>,
    /// The remote track's `unmute` listener, while it waits.
    unmute: RefCell<Option<EventListener>>,
    /// Recent pixel-marker probe outcomes.
    probes: RefCell<ProbeWindow>,
    /// Upstream loss from the outbound video's retransmissions.
    resent: RefCell<ResentShare>,
    /// A preflight's test session keeps every sample.
    collected: RefCell<Option<Vec<QualitySample>>>,
}

impl QualityWatch {
    /// A watch that keeps every sample (a preflight's test session) and always wants stats.
    pub fn collecting() -> Self {
        QualityWatch {
            collected: RefCell::new(Some(Vec::new())),
            ..QualityWatch::default()
        }
    }

    /// True while quality needs stats: a `connectionQuality` listener, a past
    /// `getConnectionQuality()` call, or a preflight collecting samples.
    pub fn wants_stats(&self, events: &Emitter) -> bool {
        self.requested.get()
            || self.collected.borrow().is_some()
            || events.has_listeners("connectionQuality")
    }

    /// `getConnectionQuality()`: the current verdict, `None` before the first sample; from
    /// now on stats are polled for it.
    pub fn current(&self) -> Option<Json> {
        self.requested.set(true);
        self.monitor.borrow().current().map(|v| v.to_json())
    }

    /// Time to first frame, ms, once known.
    pub fn ttff_ms(&self) -> Option<f64> {
        self.ttff_ms.get()
    }

    /// The samples a preflight collected so far.
    pub fn samples(&self) -> Vec<QualitySample> {
        self.collected.borrow().clone().unwrap_or_default()
    }

    /// A stats poll: feeds the monitor and emits `connectionQuality` when the verdict or its
    /// limiting factor changed.
    pub fn on_stats(&self, ctx: &Session, snap: &StatsSnapshot) {
        let now = perf_now();
        let model_fps = ctx.publisher().map(|p| f64::from(p.model.fps));
        let probes = self.probes.borrow();
        let sample = QualitySample {
            upstream_jitter_ms: ctx.stats.server_jitter_ms(),
            upstream_loss: self.resent.borrow_mut().update(snap),
            ttff_ms: self.ttff_ms.get(),
            g2g_ms: probes.median_ms(now),
            g2g_drop_ratio: probes.drop_ratio(now),
            ..QualitySample::from_stats(snap, model_fps)
        };
        drop(probes);
        if let Some(samples) = self.collected.borrow_mut().as_mut() {
            samples.push(sample);
        }
        let changed = self.monitor.borrow_mut().update(&sample, now);
        if let Some(v) = changed {
            ctx.emit_json("connectionQuality", &v.to_json());
        }
    }

    /// A `pixelLatencyEvent` payload: `ok`/`ok_reordered` latencies and `lost` probes enter
    /// the probe window.
    pub fn on_probe_event(&self, payload: &JsValue) {
        let now = perf_now();
        let mut probes = self.probes.borrow_mut();
        match get(payload, "status").as_string().as_deref() {
            Some("ok" | "ok_reordered") => {
                if let Some(l) = get(payload, "e2eLatencyMs").as_f64() {
                    probes.received(l, now);
                }
            }
            Some("lost") => probes.lost(now),
            _ => {}
        }
    }

    /// The `stats` event's `glassToGlass` (with latency tracking).
    pub fn glass_to_glass(&self) -> Json {
        self.probes.borrow().to_json(self.ttff_ms.get(), perf_now())
    }

    /// Remote tracks were delivered in `stream`: watches for the first frame, once per
    /// session. On the page's `latencyTracking.videoElement`, the first frame it presents;
    /// else the first media of the remote video track (`unmute`, or now if it already has
    /// some).
    pub fn watch_first_frame(&self, ctx: &Session, stream: &MediaStream) {
        if self.ttff_ms.get().is_some() || self.watching.get() {
            return;
        }
        let started = ctx.started_at;
        let weak = ctx.weak();
        if let Some(video) = ctx.publisher().and_then(|p| p.latency_video.clone()) {
            self.watching.set(true);
            let cancel = ctx.cancel.clone();
            let (tx, mut rx) = channel();
            let Some(watch) = FrameWatch::new(&video, move |now, _| {
                tx.send(now);
            }) else {
                return;
            };
            spawn(Box::pin(async move {
                let first = or_cancel(Box::pin(rx.next()), &cancel).await;
                drop(watch);
                if let (Some(Some(now)), Some(ctx)) = (first, weak.upgrade()) {
                    ctx.quality.ttff_ms.set(Some((now - started).max(0.0)));
                }
            }));
            return;
        }
        let Ok(track) = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
        else {
            return;
        };
        self.watching.set(true);
        if !track.muted() {
            self.ttff_ms.set(Some(perf_now() - started));
            return;
        }
        *self.unmute.borrow_mut() = Some(EventListener::once(&track, "unmute", move |_| {
            if let Some(ctx) = weak.upgrade() {
                ctx.quality.ttff_ms.set(Some(perf_now() - started));
            }
        }));
    }
}
