//! Realtime video-AI client for the browser.
//!
//! The crate has two halves, split in exactly one place:
//!
//! * [`core`]: everything that can be computed without a browser: wire messages, the
//!   model registry, URLs and subscribe tokens, the pixel-marker codec, latency
//!   bookkeeping, stats parsing, the retry policy, option validation and the error type.
//!   It is plain Rust, built and tested natively, and shared with the reference server.
//! * `web` (wasm32 only): the glue that turns browser events into core inputs and core
//!   outputs into browser calls, exported to JavaScript with `wasm-bindgen`.
//!
//! Beside them, `heap` (wasm32 only) chooses the wasm heap's allocator.

// Tests may unwrap (a failed unwrap is a failed test); the library itself may not (the
// workspace lints deny it, checked by clippy on the non-test build).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod heap;
#[cfg(target_arch = "wasm32")]
mod web;

/// The JS-facing API, for the crate's own browser tests.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod web_api {
    /// Bytes of the wasm heap in use (debug builds only: the browser tests').
    #[cfg(debug_assertions)]
    pub use crate::heap::in_use as heap_in_use;
    pub use crate::web::api::{
        create_decart_client, create_realtime_client, Models, RealTimeClient,
    };
    pub use crate::web::latency::{
        self as latency, LatencyDeps, LatencySession, ProbeReader, Stamper, StamperPath,
    };
    pub use crate::web::marker::{read_marker_red, stamp_marker};
}
