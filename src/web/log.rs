//! The `logger` option (`shared/API.md` §1.3): an object with `debug`, `info`, `warn` and
//! `error`, each `(message, data?) => void` (e.g. `createConsoleLogger("info")`). Without one
//! the SDK is silent (`noopLogger`). Every message passes through API-key redaction first, as
//! a last guard: messages are built so that they never contain the key.

use crate::core::error::SdkError;
use crate::core::redact::redact;
use crate::web::error::Result;
use crate::web::js::{get, is_nullish, method, set};
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// Log levels, named as the logger's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something went wrong and was handled.
    Warn,
    /// Something went wrong.
    Error,
}

impl Level {
    fn method(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where the SDK's log lines go. Cheap to clone.
#[derive(Clone, Default)]
pub struct Logger {
    sink: Option<JsValue>,
    secret: Rc<str>,
}

impl Logger {
    /// From the `logger` option (`undefined`/`null` = silent).
    pub fn from_option(v: &JsValue, secret: &str) -> Result<Logger> {
        if is_nullish(v) {
            return Ok(Logger {
                sink: None,
                secret: secret.into(),
            });
        }
        if !v.is_object() {
            return Err(SdkError::invalid_option(
                "logger",
                "an object with debug/info/warn/error functions (e.g. createConsoleLogger())",
            ));
        }
        for m in ["debug", "info", "warn", "error"] {
            let f = get(v, m);
            if !(f.is_undefined() || f.is_function()) {
                return Err(SdkError::invalid_option(
                    &crate::core::error::join(&["logger.", m]),
                    "a function",
                ));
            }
        }
        Ok(Logger {
            sink: Some(v.clone()),
            secret: secret.into(),
        })
    }

    /// Logs `message` (redacted), with optional `data` (a plain object).
    pub fn log(&self, level: Level, message: &str, data: Option<&JsValue>) {
        let Some(sink) = &self.sink else { return };
        let Some(f) = method(sink, level.method()) else {
            return;
        };
        let text = JsValue::from_str(&redact(message, &self.secret));
        // A throwing logger must not break the SDK.
        let _ = match data {
            Some(d) => f.call2(sink, &text, d),
            None => f.call1(sink, &text),
        };
    }

    /// Debug line.
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message, None);
    }

    /// Info line.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message, None);
    }

    /// Warning.
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message, None);
    }

    /// Error with the JS value that caused it, as `data: {error}`.
    pub fn error(&self, message: &str, error: &JsValue) {
        let data = js_sys::Object::new();
        set(&data, "error", error);
        self.log(Level::Error, message, Some(&data));
    }
}
