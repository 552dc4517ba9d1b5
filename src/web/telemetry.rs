//! Opt-in telemetry of a session (`shared/PROTOCOL.md`, "Telemetry"): stats samples and
//! diagnostics are buffered ([`crate::core::telemetry`]) and POSTed every interval once the
//! session id is known, with a final `keepalive` flush on disconnect. The API key travels
//! only in the `x-api-key` header. Failures are logged at debug level and dropped.

use crate::core::options::TelemetryOptions;
use crate::core::telemetry::{Tags, TelemetryBuffer, KEEPALIVE_MAX_BYTES};
use crate::core::urls::SDK_VERSION;
use crate::web::log::Logger;
use serde::Serialize;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// One session's telemetry.
pub struct Telemetry {
    opts: TelemetryOptions,
    api_key: String,
    model: String,
    integration: Option<String>,
    transport: &'static str,
    buffer: RefCell<TelemetryBuffer>,
    logger: Logger,
}

impl Telemetry {
    pub fn new(
        opts: TelemetryOptions,
        api_key: &str,
        model: &str,
        integration: Option<String>,
        transport: &'static str,
        logger: Logger,
    ) -> Telemetry {
        Telemetry {
            opts,
            api_key: api_key.to_string(),
            model: model.to_string(),
            integration,
            transport,
            buffer: RefCell::default(),
            logger,
        }
    }

    /// The flush interval, ms.
    pub fn interval_ms(&self) -> u32 {
        self.opts.interval_ms as u32
    }

    /// Buffers a stats sample.
    pub fn record_stats<T: Serialize>(&self, sample: &T) {
        if let Ok(v) = serde_json::to_value(sample) {
            self.buffer.borrow_mut().push_stats(v);
        }
    }

    /// Buffers a diagnostic.
    pub fn record_diagnostic<T: Serialize>(&self, d: &T) {
        if let Ok(v) = serde_json::to_value(d) {
            self.buffer.borrow_mut().push_diagnostic(v);
        }
    }

    fn tags(&self, session_id: &str) -> Tags {
        Tags {
            session_id: session_id.to_string(),
            sdk_version: SDK_VERSION.to_string(),
            model: self.model.clone(),
            integration: self.integration.clone(),
            transport: self.transport.to_string(),
        }
    }

    /// Sends everything buffered, one request per batch.
    pub async fn flush(&self, session_id: &str) {
        let bodies = self
            .buffer
            .borrow_mut()
            .take_bodies(&self.tags(session_id), js_sys::Date::now());
        for body in bodies {
            if let Err(e) = self.post(&body, false).await {
                self.logger.debug(&format!("telemetry dropped: {e}"));
            }
        }
    }

    /// The last flush on disconnect: one `keepalive` request that may outlive the page.
    pub fn flush_final(&self, session_id: &str) {
        let Some(body) = self.buffer.borrow_mut().take_final_body(
            &self.tags(session_id),
            js_sys::Date::now(),
            KEEPALIVE_MAX_BYTES,
        ) else {
            return;
        };
        if let Ok(p) = self.request(&body, true) {
            // Awaited only so that a rejection is handled, not reported as unhandled.
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(p).await;
            });
        }
    }

    fn request(&self, body: &str, keepalive: bool) -> Result<js_sys::Promise, String> {
        let window = web_sys::window().ok_or("no window")?;
        let headers = web_sys::Headers::new().map_err(|_| "Headers failed")?;
        headers
            .set("content-type", "application/json")
            .map_err(|_| "header refused")?;
        headers
            .set("x-api-key", &self.api_key)
            .map_err(|_| "the API key is not a valid header value")?;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(body));
        if keepalive {
            let _ = js_sys::Reflect::set(&init, &"keepalive".into(), &true.into());
        }
        Ok(window.fetch_with_str_and_init(&self.opts.url, &init))
    }

    async fn post(&self, body: &str, keepalive: bool) -> Result<(), String> {
        let p = self.request(body, keepalive)?;
        let resp = JsFuture::from(p)
            .await
            .map_err(|_| "network error".to_string())?;
        let resp: web_sys::Response = resp.unchecked_into();
        if resp.ok() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status()))
        }
    }
}
