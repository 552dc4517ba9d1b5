//! Browser glue (wasm32 only): turns browser events into core inputs and core outputs into
//! browser calls. Every JS resource is owned by a handle that releases it on drop.
//!
//! * [`api`]: the exported API; [`options`]: reading the page's options; [`types`]: the
//!   hand-written TypeScript declarations.
//! * [`session`]: one client's lifecycle (connect, retries, reconnect, teardown);
//!   [`transport`]: the WebSocket, the WebRTC peer connection and the IVS stage.
//! * [`stats`], [`quality`], [`telemetry`], [`latency`], [`avatar`], [`image`], [`marker`]:
//!   what a session does besides connecting; [`preflight`]: `checkConnectivity()`.
//! * [`js`], [`error`], [`events`], [`log`], [`cancel`]: shared helpers; [`media`]: the
//!   media plumbing in `js/media.js`.

pub mod api;
pub mod avatar;
pub mod cancel;
pub mod chan;
pub mod error;
pub mod events;
pub mod image;
pub mod js;
pub mod latency;
pub mod log;
pub mod marker;
pub mod media;
pub mod options;
pub mod preflight;
pub mod quality;
pub mod session;
pub mod stats;
pub mod telemetry;
pub mod transport;
pub mod types;

use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(feature = "debug-panics")]
    console_error_panic_hook::set_once();
}

/// The SDK version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::core::urls::SDK_VERSION.to_string()
}
