//! Browser glue (wasm32 only).
use wasm_bindgen::prelude::*;

/// The SDK version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::core::urls::SDK_VERSION.to_string()
}
