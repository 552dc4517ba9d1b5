//! Latency diagnostics on real frames (glass-to-glass latency by pixel markers,
//! `shared/PROTOCOL.md`, "Pixel marker"): the [`Stamper`] marks outgoing camera frames,
//! the [`ProbeReader`] reads the markers on the output video, and [`LatencySession`] runs
//! both for one session, sends the reports and emits the events. The bookkeeping itself is
//! the core's [`LatencyTracker`](crate::core::latency::LatencyTracker).

pub mod frames;
pub mod js;
pub mod reader;
pub mod session;
pub mod stamper;

pub use reader::{FrameInfo, ProbeReader, ReadOutput, ReadSink, ReaderStats};
pub use session::{LatencyCounters, LatencyDeps, LatencyMode, LatencySession, READ_DELAY_MS};
pub use stamper::{ActivePath, Stamper, StamperPath, StamperStats};

use crate::core::latency::LatencyReport;
use crate::web::cancel::CancelToken;
use futures_util::future::{select, Either};
use serde::Serialize;
use std::future::Future;
use std::pin::pin;
use wasm_bindgen::prelude::*;

/// `pixelLatency` payload: one probe read back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PixelLatency {
    /// Sequence number.
    pub seq: u16,
    /// Read time − send time, ms.
    pub latency_ms: f64,
    /// Read back after a later probe.
    pub out_of_order: bool,
    /// `performance.now()` when the probe was stamped (E2E) or sent (WS probe), ms.
    pub sent_at: f64,
    /// `performance.now()` when the marker was read, ms.
    pub read_at: f64,
    /// `expectedDisplayTime` of the frame − send time, ms: the latency to the glass, when
    /// the browser gives the frame's display time.
    pub display_latency_ms: Option<f64>,
    /// `"e2e"` or `"wsProbe"`.
    pub mode: &'static str,
    /// `requestVideoFrameCallback` metadata of the frame it was read from, when available.
    pub frame: Option<FrameInfo>,
}

/// `pixelLatencyReport` payload: the tracker's report and the mode.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PixelLatencyReport {
    /// `"e2e"` or `"wsProbe"`.
    pub mode: &'static str,
    /// The period's figures.
    #[serde(flatten)]
    pub report: LatencyReport,
}

/// Runs `f` unless `cancel` fires first (`None` then).
pub(crate) async fn or_cancel<F: Future>(f: F, cancel: &CancelToken) -> Option<F::Output> {
    if cancel.is_cancelled() {
        return None;
    }
    match select(pin!(f), pin!(cancel.cancelled())).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

#[wasm_bindgen(typescript_custom_section)]
const LATENCY_TS: &'static str = r#"
/** Pixel-marker mode of a latency payload: stamped locally (`e2e`) or by the server (`wsProbe`). */
export type PixelLatencyMode = "e2e" | "wsProbe";

/** `requestVideoFrameCallback` metadata of the output frame a marker was read from
 *  (times are `performance.now()` ms; `null` where the browser gives none). */
export interface PixelLatencyFrame {
  callbackTime: number;
  presentedFrames: number | null;
  mediaTime: number | null;
  presentationTime: number | null;
  expectedDisplayTime: number | null;
  captureTime: number | null;
  receiveTime: number | null;
  width: number | null;
  height: number | null;
}

/** `pixelLatency`: a probe read back on the output video. */
export interface PixelLatency {
  seq: number;
  /** Read time − stamp (or send) time, ms. */
  latencyMs: number;
  outOfOrder: boolean;
  /** `performance.now()` when the probe was stamped (e2e) or sent (wsProbe), ms. */
  sentAt: number;
  /** `performance.now()` when the marker was read, ms. */
  readAt: number;
  /** The frame's `expectedDisplayTime` − stamp (or send) time, ms: latency to the glass;
   *  `null` without `requestVideoFrameCallback`. */
  displayLatencyMs: number | null;
  mode: PixelLatencyMode;
  frame: PixelLatencyFrame | null;
}

/** `pixelLatencyEvent`: every probe outcome. `seq` is `null` for a corrupted read,
 *  `latencyMs` is `null` unless the probe was read back. */
export interface PixelLatencyEvent {
  kind: "received" | "outOfOrder" | "lost" | "corrupted";
  seq: number | null;
  latencyMs: number | null;
  /** `performance.now()` when observed, ms. */
  timestamp: number;
}

/** `pixelLatencyReport`: figures since the previous report (every 5 s), plus totals. */
export interface PixelLatencyReport {
  mode: PixelLatencyMode;
  periodStartMs: number;
  periodEndMs: number;
  avgLatencyMs: number | null;
  minLatencyMs: number | null;
  medianLatencyMs: number | null;
  p95LatencyMs: number | null;
  maxLatencyMs: number | null;
  /** received / (received + lost); 1 when neither happened. */
  deliveryRate: number;
  received: number;
  lost: number;
  corrupted: number;
  outOfOrder: number;
  /** Probes still in flight at the end of the period. */
  pending: number;
  totals: { sent: number; received: number; lost: number; corrupted: number; outOfOrder: number };
}

/** `compositeLatency`: client STUN RTT (0 when unknown) + server RTT + pipeline latency, ms. */
export interface CompositeLatency {
  totalMs: number;
  clientRttMs: number;
  serverRttMs: number | null;
  pipelineLatencyMs: number | null;
}
"#;
