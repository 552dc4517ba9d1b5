//! Latency diagnostics on real frames (glass-to-glass latency by pixel markers,
//! `shared/PROTOCOL.md`, "Pixel marker"): the [`Stamper`] marks outgoing camera frames,
//! the [`ProbeReader`] reads the markers on the output video, and [`LatencySession`] runs
//! both for one session, sends the reports and emits the events. The bookkeeping itself is
//! the core's [`LatencyTracker`](crate::core::latency::LatencyTracker).

pub mod reader;
pub mod session;
pub mod stamper;

pub use reader::{FrameInfo, ProbeReader, ReadOutput, ReadSink, ReaderStats};
pub use session::{LatencyCounters, LatencyDeps, LatencyMode, LatencySession, READ_DELAY_MS};
pub use stamper::{ActivePath, Stamper, StamperPath, StamperStats};

use crate::core::json::{Json, Obj};

/// `pixelLatency` payload: one probe read back.
#[derive(Debug, Clone)]
pub struct PixelLatency {
    /// Sequence number.
    pub seq: u16,
    /// Read time − stamp (or send) time, ms.
    pub latency_ms: f64,
    /// Read back after a later probe.
    pub out_of_order: bool,
    /// `performance.now()` when the probe was stamped (E2E) or sent (WS probe), ms.
    pub sent_at: f64,
    /// `performance.now()` when the marker was read, ms.
    pub read_at: f64,
    /// `expectedDisplayTime` of the frame − send time, ms, when the browser gives it.
    pub display_latency_ms: Option<f64>,
    /// `"e2e"` or `"wsProbe"`.
    pub mode: &'static str,
    /// `requestVideoFrameCallback` metadata of the frame it was read from, when available.
    pub frame: Option<FrameInfo>,
}

impl PixelLatency {
    /// `{seq, e2eLatencyMs, timestamp}` (wall ms) and the extras `outOfOrder`, `sentAt`,
    /// `readAt`, `displayLatencyMs`, `mode`, `frame`.
    pub fn to_json(&self, wall_ms: f64) -> Json {
        Obj::new()
            .set("seq", self.seq)
            .set("e2eLatencyMs", self.latency_ms)
            .set("timestamp", wall_ms)
            .set("outOfOrder", self.out_of_order)
            .set("sentAt", self.sent_at)
            .set("readAt", self.read_at)
            .set("displayLatencyMs", self.display_latency_ms)
            .set("mode", self.mode)
            .set("frame", self.frame.as_ref().map(FrameInfo::to_json))
            .build()
    }
}
