//! Stats polling of a live connection: `getStats()` (WebRTC) or every stage stream's
//! `requestRTCStats()` merged (IVS), parsed by the core into the `stats` payload, feeding the
//! stall detector, the selected-pair diagnostic, connection quality, telemetry and latency.
//! Polling happens only while someone needs it (a `stats`, `diagnostic` or
//! `connectionQuality` listener, a `getConnectionQuality()` call, telemetry, composite
//! latency): with none of them the browser is never asked.

use crate::core::json::Json;
use crate::core::protocol::MetricsReport;
use crate::core::stats::{
    entries_from_json, merge_reports, StallDetector, StatsEntry, StatsParser,
};
use crate::web::js::{self, now_ms, sleep, to_json};
use crate::web::session::Session;
use crate::web::transport::Connection;
use js_sys::{Array, Promise};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

/// What stats polling keeps between samples, per session.
#[derive(Default)]
pub struct StatsWatch {
    /// Id of the last candidate pair reported by `selectedCandidatePair`.
    last_pair: RefCell<Option<String>>,
    /// The server's latest `jitter_ms` (upstream jitter seen by the server).
    server_jitter_ms: Cell<Option<f64>>,
}

impl StatsWatch {
    /// A `selectedCandidatePair` diagnostic was emitted for `id`.
    pub fn pair_reported(&self, id: &str) {
        *self.last_pair.borrow_mut() = Some(id.to_string());
    }

    /// A `metrics_report` arrived.
    pub fn on_server_metrics(&self, r: &MetricsReport) {
        if r.jitter_ms.is_some() {
            self.server_jitter_ms.set(r.jitter_ms);
        }
    }

    /// The server's latest upstream jitter, ms.
    pub fn server_jitter_ms(&self) -> Option<f64> {
        self.server_jitter_ms.get()
    }
}

/// The entries of an `RTCStatsReport` (a map-like of id → stats object).
fn report_entries(report: &JsValue) -> Vec<StatsEntry> {
    let Ok(Some(it)) = js_sys::try_iter(report) else {
        return Vec::new();
    };
    let values: Vec<Json> = it
        .filter_map(|entry| entry.ok())
        .map(|entry| to_json(&Array::from(&entry).get(1), &[]))
        .collect();
    entries_from_json(&Json::Arr(values))
}

/// One `getStats()` report of a peer connection.
pub async fn pc_entries(pc: &RtcPeerConnection) -> Option<Vec<StatsEntry>> {
    JsFuture::from(pc.get_stats())
        .await
        .ok()
        .map(|r| report_entries(&r))
}

/// One report of a connection: `getStats()`, or every stage stream's `requestRTCStats()`
/// merged.
async fn collect(conn: &Weak<Connection>) -> Option<Vec<StatsEntry>> {
    let conn = conn.upgrade()?;
    if let Some(pc) = conn.pc() {
        return pc_entries(pc.raw()).await;
    }
    let requests: Vec<Promise> = conn.stage()?.stats_requests();
    drop(conn);
    let mut reports = Vec::with_capacity(requests.len());
    for p in requests {
        if let Ok(r) = JsFuture::from(p).await {
            if !r.is_undefined() && !r.is_null() {
                reports.push(report_entries(&r));
            }
        }
    }
    Some(merge_reports(reports))
}

/// True while someone needs stats.
fn needed(ctx: &Session) -> bool {
    ctx.events.has_listeners("stats")
        || ctx.events.has_listeners("diagnostic")
        || ctx.quality.wants_stats(&ctx.events)
        || ctx.telemetry.is_some()
        || ctx
            .publisher()
            .and_then(|p| p.latency.as_ref())
            .is_some_and(|l| l.wants_stats())
}

/// Polls the connection's stats while it lives (a new connection restarts the deltas).
pub fn spawn(ctx: &Rc<Session>, conn: &Rc<Connection>) {
    let (weak_ctx, weak_conn, cancel) =
        (Rc::downgrade(ctx), Rc::downgrade(conn), conn.cancel.clone());
    let interval = ctx.common.stats_interval_ms as u32;
    js::spawn(Box::pin(async move {
        let mut parser = StatsParser::new();
        let mut stall = StallDetector::new();
        while sleep(&cancel, interval).await {
            let wanted = weak_ctx.upgrade().is_some_and(|c| needed(&c));
            if !wanted {
                continue;
            }
            let Some(entries) = collect(&weak_conn).await else {
                continue;
            };
            let Some(ctx) = weak_ctx.upgrade() else {
                return;
            };
            if cancel.is_cancelled() || ctx.cancel.is_cancelled() {
                return;
            }
            let now = now_ms();
            let snap = parser.parse(&entries, now);
            if let Some(change) = stall.update(&snap, now) {
                ctx.diagnostic("videoStall", change.to_json());
            }
            // The pair in use changed (not just its counters).
            if let Some(pair) = &snap.connection.selected_candidate_pair {
                let changed = ctx.stats.last_pair.borrow().as_deref() != Some(pair.id.as_str());
                if changed && pair.ends().is_some() {
                    ctx.stats.pair_reported(&pair.id);
                    ctx.diagnostic(
                        "selectedCandidatePair",
                        crate::core::stats::pair_diagnostic(pair),
                    );
                }
            }
            if let Some(t) = &ctx.telemetry {
                t.record_stats(snap.to_reference_json());
            }
            ctx.quality.on_stats(&ctx, &snap);
            let latency = ctx.publisher().and_then(|p| p.latency.as_ref());
            let mut payload = snap.to_json();
            if let Some(l) = latency {
                l.on_stats(&snap);
                if let Json::Obj(members) = &mut payload {
                    members.push(("glassToGlass".into(), ctx.quality.glass_to_glass()));
                }
            }
            ctx.emit_json("stats", &payload);
        }
    }));
}
