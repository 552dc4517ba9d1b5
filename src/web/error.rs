//! SdkError ⇄ JS `Error`.

use crate::core::error::{ErrorCode, SdkError};
use js_sys::{Error, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// A JS `Error` with `name = "RealtimeError"`, a stable `code`, the message and the cause.
pub fn to_js(e: &SdkError) -> JsValue {
    let err = Error::new(&e.message);
    err.set_name("RealtimeError");
    let _ = Reflect::set(&err, &"code".into(), &e.code.as_str().into());
    if let Some(cause) = &e.cause {
        let _ = Reflect::set(&err, &"cause".into(), &cause.into());
    }
    err.into()
}

/// The text of anything JS may throw or reject with (which need not be an `Error`).
pub fn describe(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<Error>() {
        let name: String = e.name().into();
        let msg: String = e.message().into();
        return if name.is_empty() || name == "Error" {
            msg
        } else {
            format!("{name}: {msg}")
        };
    }
    if let Some(s) = v.as_string() {
        return s;
    }
    if let Ok(m) = Reflect::get(v, &"message".into()) {
        if let Some(s) = m.as_string() {
            return s;
        }
    }
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// Wraps a JS rejection as an SdkError with `code`, a message and the JS text as cause.
pub fn from_js(code: ErrorCode, message: &str, v: &JsValue) -> SdkError {
    SdkError::new(code, message).with_cause(describe(v))
}

/// Result with the SDK error.
pub type Result<T> = std::result::Result<T, SdkError>;

/// Converts a core result to what an exported function returns.
pub fn js_result<T>(r: Result<T>) -> std::result::Result<T, JsValue> {
    r.map_err(|e| to_js(&e))
}

/// `isRealtimeError(e)`: true for errors of this SDK (declared in the `.d.ts` as a type guard).
#[wasm_bindgen::prelude::wasm_bindgen(js_name = isRealtimeError, skip_typescript)]
pub fn is_realtime_error(e: &JsValue) -> bool {
    e.is_instance_of::<Error>()
        && Reflect::get(e, &"name".into())
            .ok()
            .and_then(|n| n.as_string())
            .as_deref()
            == Some("RealtimeError")
        && Reflect::get(e, &"code".into())
            .ok()
            .is_some_and(|c| c.is_string())
}
