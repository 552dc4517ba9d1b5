//! Browser glue (wasm32 only): turns browser events into core inputs and core outputs into
//! browser calls. Every JS resource is owned by a handle that releases it on drop.

pub mod avatar;
pub mod cancel;
pub mod client;
pub mod error;
pub mod events;
pub mod ivs;
pub mod latency;
pub mod log;
pub mod marker;
pub mod session;
pub mod telemetry;
pub mod types;
pub mod ws;

use wasm_bindgen::prelude::*;

/// Installs the panic hook (a panic would be a bug: it is reported, not silent).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The SDK version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::core::urls::SDK_VERSION.to_string()
}
