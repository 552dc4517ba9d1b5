//! SdkError ⇄ JS `Error` (`shared/API.md` §5): every error the SDK throws, rejects with or
//! emits is a real `Error` named `RealtimeError` with `code` (the reference's code for its
//! nature), `detailCode` (the most specific code), `message`, optional `data` and an optional
//! `cause` that is itself an `Error`. The API key is removed from every text first.

use crate::core::error::{ErrorCode, SdkError};
use crate::web::js::{get, set, to_js as json_to_js};
use js_sys::Error;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Result with the SDK error.
pub type Result<T> = std::result::Result<T, SdkError>;

/// The JS `Error` of `e`, with `secret` (the API key) removed from its texts.
pub fn to_js(e: &SdkError, secret: &str) -> JsValue {
    let e = e.clone().redact(secret);
    let err = Error::new(&e.public_message());
    err.set_name("RealtimeError");
    let v: JsValue = err.into();
    set(&v, "code", &e.code.code().as_str().into());
    set(&v, "detailCode", &e.code.as_str().into());
    if let Some(data) = &e.data {
        set(&v, "data", &json_to_js(data));
    }
    if let Some(detail) = e.detail() {
        set(&v, "cause", &Error::new(&detail).into());
    }
    v
}

/// The text of anything JS may throw or reject with (which need not be an `Error`).
pub fn describe(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<Error>() {
        let name: String = e.name().into();
        let msg: String = e.message().into();
        return if name.is_empty() || name == "Error" {
            msg
        } else {
            crate::core::error::join(&[&name, ": ", &msg])
        };
    }
    if let Some(s) = v.as_string() {
        return s;
    }
    if let Some(s) = get(v, "message").as_string() {
        return s;
    }
    crate::web::js::stringify(v).unwrap_or_else(|| "unknown error".into())
}

/// Wraps a JS rejection or throw as an SdkError with `code`, a message and the JS text as
/// cause.
pub fn from_js(code: ErrorCode, message: &str, v: &JsValue) -> SdkError {
    SdkError::new(code, message).with_cause(describe(v))
}

/// `isRealtimeError(e)`: true for errors of this SDK (a type guard in the `.d.ts`).
#[wasm_bindgen(js_name = isRealtimeError, skip_typescript)]
pub fn is_realtime_error(e: &JsValue) -> bool {
    e.is_instance_of::<Error>()
        && get(e, "name").as_string().as_deref() == Some("RealtimeError")
        && get(e, "code").is_string()
}

/// Every code as `{CODE: "CODE", ...}`: the package entry exports it frozen as `ERROR_CODES`.
#[wasm_bindgen(js_name = __errorCodes, skip_typescript)]
pub fn error_codes() -> JsValue {
    let o = js_sys::Object::new();
    for code in ErrorCode::ALL {
        set(&o, code.as_str(), &code.as_str().into());
    }
    o.into()
}
