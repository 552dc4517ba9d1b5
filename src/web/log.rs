//! The `logger` option of `createRealtimeClient`: an object with any of `debug`, `info`,
//! `warn`, `error` (e.g. `console`). Without one, warnings and errors go to the console and
//! debug/info are silent. Every message passes through API-key redaction first.

use crate::core::error::SdkError;
use crate::core::redact::redact;
use crate::web::error::Result;
use js_sys::{Function, Reflect};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};

/// Log levels, named as the logger's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
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
#[derive(Clone)]
pub struct Logger {
    sink: Option<JsValue>,
    secret: Rc<str>,
}

impl Logger {
    /// From the `logger` option (`undefined`/`null` = the default console behaviour).
    pub fn from_option(v: &JsValue, secret: &str) -> Result<Logger> {
        if v.is_undefined() || v.is_null() {
            return Ok(Logger {
                sink: None,
                secret: secret.into(),
            });
        }
        if !v.is_object() {
            return Err(SdkError::invalid_option(
                "logger",
                "an object with debug/info/warn/error functions (e.g. console)",
            ));
        }
        for m in ["debug", "info", "warn", "error"] {
            let f = Reflect::get(v, &m.into()).unwrap_or(JsValue::UNDEFINED);
            if !(f.is_undefined() || f.is_function()) {
                return Err(SdkError::invalid_option(
                    &format!("logger.{m}"),
                    "a function",
                ));
            }
        }
        Ok(Logger {
            sink: Some(v.clone()),
            secret: secret.into(),
        })
    }

    /// Logs `message` (redacted), with an optional JS value (an exception, say).
    pub fn log(&self, level: Level, message: &str, data: Option<&JsValue>) {
        let text: JsValue = format!("realtime: {}", redact(message, &self.secret)).into();
        match &self.sink {
            Some(sink) => {
                let Ok(f) = Reflect::get(sink, &level.method().into())
                    .and_then(|f| f.dyn_into::<Function>().map_err(JsValue::from))
                else {
                    return;
                };
                let _ = match data {
                    Some(d) => f.call2(sink, &text, d),
                    None => f.call1(sink, &text),
                };
            }
            None => match (level, data) {
                (Level::Warn, Some(d)) => web_sys::console::warn_2(&text, d),
                (Level::Warn, None) => web_sys::console::warn_1(&text),
                (Level::Error, Some(d)) => web_sys::console::error_2(&text, d),
                (Level::Error, None) => web_sys::console::error_1(&text),
                _ => {}
            },
        }
    }

    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message, None);
    }

    pub fn info(&self, message: &str) {
        self.log(Level::Info, message, None);
    }

    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message, None);
    }

    pub fn error(&self, message: &str, data: &JsValue) {
        self.log(Level::Error, message, Some(data));
    }
}

impl Default for Logger {
    fn default() -> Self {
        Logger {
            sink: None,
            secret: "".into(),
        }
    }
}
