//! The one module of JS helpers: property access, the [`Json`] ⇄ JS conversion (the browser's
//! own `JSON` does the text), awaiting promises with a bound, racing a future against a
//! cancellation, and the clocks.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::json::{Json, TextCodec};
use crate::web::cancel::CancelToken;
use crate::web::chan::{race, Either};
use crate::web::error::{from_js, Result};
use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A boxed future: async paths go through this type so that each await point is not
/// monomorphised again for every caller (it keeps the wasm small).
pub type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs `f` in the background: one `spawn_local` instance for every task (each instance
/// brings its own scheduling glue).
pub fn spawn(f: Task<'static, ()>) {
    wasm_bindgen_futures::spawn_local(f);
}

/// `o[k]`, `undefined` when `o` is not an object or the read throws.
pub fn get(o: &JsValue, k: &str) -> JsValue {
    if o.is_object() || o.is_function() {
        Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// `o[k] = v` (ignoring a throwing setter).
pub fn set(o: &JsValue, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
}

/// `o[k]` when it is a function.
pub fn method(o: &JsValue, k: &str) -> Option<Function> {
    get(o, k).dyn_into().ok()
}

/// Calls `o[k](...args)`; `None` when it is not a function or it throws.
pub fn call(o: &JsValue, k: &str, args: &[&JsValue]) -> Option<JsValue> {
    let f = method(o, k)?;
    let args: Array = args.iter().map(|a| (*a).clone()).collect();
    f.apply(o, &args).ok()
}

/// True when `v` is `undefined` or `null`.
pub fn is_nullish(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// Replaces `o[name]` by the same function bound to `o`, for each name: methods that work
/// detached (`btn.onclick = client.disconnect`), as the reference SDK's closures do.
pub fn bind_methods(o: &JsValue, names: &[&str]) {
    for name in names {
        if let Some(f) = method(o, name) {
            set(o, name, &f.bind0(o));
        }
    }
}

/// Converts [`Json`] to a plain JS value (objects, arrays, numbers, strings, booleans, `null`).
pub fn to_js(v: &Json) -> JsValue {
    match v {
        Json::Null | Json::Opaque => JsValue::NULL,
        Json::Bool(b) => JsValue::from_bool(*b),
        Json::Num(n) => JsValue::from_f64(*n),
        Json::Str(s) => JsValue::from_str(s),
        Json::Arr(items) => items.iter().map(to_js).collect::<Array>().into(),
        Json::Obj(members) => {
            let o = Object::new();
            for (k, item) in members {
                set(&o, k, &to_js(item));
            }
            o.into()
        }
    }
}

/// Nesting below which the walker stops (deeper values read as [`Json::Opaque`]).
const MAX_DEPTH: usize = 32;

/// Converts a JS value to [`Json`]: plain data is converted, anything else (functions, DOM
/// objects, Blobs, class instances) becomes [`Json::Opaque`]; members named in `skip` (at the
/// top level) are not descended into and read as `Opaque` when present.
pub fn to_json(v: &JsValue, skip: &[&str]) -> Json {
    walk(v, skip, 0)
}

fn is_plain_object(v: &JsValue) -> bool {
    if !v.is_object() || Array::is_array(v) {
        return false;
    }
    let proto = Object::get_prototype_of(v);
    proto.is_null()
        || JsValue::from(proto) == JsValue::from(Object::get_prototype_of(&Object::new()))
}

fn walk(v: &JsValue, skip: &[&str], depth: usize) -> Json {
    if is_nullish(v) {
        return Json::Null;
    }
    if let Some(b) = v.as_bool() {
        return Json::Bool(b);
    }
    if let Some(n) = v.as_f64() {
        return Json::Num(n);
    }
    if let Some(s) = v.as_string() {
        return Json::Str(s);
    }
    if depth >= MAX_DEPTH {
        return Json::Opaque;
    }
    if Array::is_array(v) {
        return Json::Arr(
            Array::from(v)
                .iter()
                .map(|item| walk(&item, &[], depth + 1))
                .collect(),
        );
    }
    if !is_plain_object(v) {
        return Json::Opaque;
    }
    let keys = Object::keys(v.unchecked_ref::<Object>());
    let mut members = Vec::with_capacity(keys.length() as usize);
    for key in keys.iter() {
        let Some(k) = key.as_string() else { continue };
        let value = get(v, &k);
        let item = if skip.contains(&k.as_str()) {
            if is_nullish(&value) {
                Json::Null
            } else {
                Json::Opaque
            }
        } else {
            walk(&value, &[], depth + 1)
        };
        members.push((k, item));
    }
    Json::Obj(members)
}

/// The browser's `JSON`, as the core's text codec: no text parser and no float formatting in
/// the wasm.
pub const BROWSER: TextCodec = TextCodec {
    parse: |text| js_sys::JSON::parse(text).ok().map(|v| to_json(&v, &[])),
    write: |v| {
        js_sys::JSON::stringify(&to_js(v))
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    },
};

/// JSON text of a JS value (`undefined` when it cannot be written).
pub fn stringify(v: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(v).ok()?.as_string()
}

/// Awaits a JS promise, converting a rejection into an error with `code` and the
/// rejection's text as cause.
pub async fn await_js(p: Promise, code: ErrorCode, what: &str) -> Result<JsValue> {
    JsFuture::from(p).await.map_err(|e| from_js(code, what, &e))
}

/// Runs `f` with a bound of `ms`; a `WEBRTC_TIMEOUT_ERROR` for `phase` (`what` did not
/// finish) when it runs out.
pub async fn bounded<T>(ms: u32, phase: &str, what: &str, f: Task<'_, Result<T>>) -> Result<T> {
    match race(f, Box::pin(TimeoutFuture::new(ms))).await {
        Either::Left(r) => r,
        Either::Right(()) => Err(SdkError::timeout(phase, what, ms)),
    }
}

/// Runs `f` unless `cancel` fires first (`None` then).
pub async fn or_cancel<T>(f: Task<'_, T>, cancel: &CancelToken) -> Option<T> {
    if cancel.is_cancelled() {
        return None;
    }
    match race(f, Box::pin(cancel.cancelled())).await {
        Either::Left(v) => Some(v),
        Either::Right(()) => None,
    }
}

/// Sleeps `ms` unless cancelled first; false when cancelled.
pub async fn sleep(cancel: &CancelToken, ms: u32) -> bool {
    or_cancel(Box::pin(TimeoutFuture::new(ms)), cancel)
        .await
        .is_some()
}

/// Wall-clock ms (`Date.now()`).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Monotonic ms (`performance.now()`), or wall-clock ms where there is no `performance`.
pub fn perf_now() -> f64 {
    get(&js_sys::global(), "performance")
        .dyn_into::<web_sys::Performance>()
        .map(|p| p.now())
        .unwrap_or_else(|_| now_ms())
}

/// The `Window`, or an `INTERNAL` error outside a window (a worker).
pub fn window() -> Result<web_sys::Window> {
    web_sys::window()
        .ok_or_else(|| SdkError::new(ErrorCode::Internal, "no window (the SDK runs on a page)"))
}
