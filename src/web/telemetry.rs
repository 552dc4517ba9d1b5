//! Opt-in telemetry of a session (`shared/API.md` §6, `PROTOCOL.md` "Telemetry"): stats
//! samples (reference fields only) and diagnostics are buffered in the core and POSTed every
//! interval once the session id is known, with a final `keepalive` flush on disconnect.
//! Telemetry starts at the first `session_id` (earlier diagnostics are kept, earlier stats
//! not); a new `session_id` flushes and restarts it. The API key travels only in the
//! `x-api-key` header. Failures are logged and dropped.

use crate::core::json::Json;
use crate::core::options::TelemetryOptions;
use crate::core::telemetry::{diagnostic_item, Tags, TelemetryBuffer, KEEPALIVE_MAX_BYTES};
use crate::core::urls::SDK_VERSION;
use crate::web::cancel::CancelToken;
use crate::web::js::{self, now_ms, sleep, spawn, BROWSER};
use crate::web::log::Logger;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

struct Inner {
    opts: TelemetryOptions,
    api_key: String,
    tags: RefCell<Tags>,
    started: RefCell<Option<CancelToken>>,
    buffer: RefCell<TelemetryBuffer>,
    logger: Logger,
}

/// One session's telemetry. Cheap to clone.
#[derive(Clone)]
pub struct Telemetry(Rc<Inner>);

impl Telemetry {
    /// Telemetry for a session of `model` over `transport`.
    pub fn new(
        opts: TelemetryOptions,
        api_key: &str,
        model: Option<String>,
        integration: Option<String>,
        transport: &'static str,
        logger: Logger,
    ) -> Telemetry {
        Telemetry(Rc::new(Inner {
            opts,
            api_key: api_key.to_string(),
            tags: RefCell::new(Tags {
                session_id: String::new(),
                sdk_version: SDK_VERSION.to_string(),
                model,
                integration,
                transport: Some(transport),
            }),
            started: RefCell::new(None),
            buffer: RefCell::default(),
            logger,
        }))
    }

    /// Buffers a stats sample (after the first session id only).
    pub fn record_stats(&self, sample: Json) {
        if self.0.started.borrow().is_some() {
            self.0.buffer.borrow_mut().push_stats(sample);
        }
    }

    /// Buffers a diagnostic.
    pub fn record_diagnostic(&self, name: &str, data: Json, wall_ms: f64) {
        self.0
            .buffer
            .borrow_mut()
            .push_diagnostic(diagnostic_item(name, data, wall_ms));
    }

    /// A `session_id` arrived: flushes what belongs to the previous one and (re)starts the
    /// periodic flush with the new id.
    pub fn start(&self, session_id: &str) {
        if self.0.tags.borrow().session_id == session_id {
            return;
        }
        if let Some(old) = self.0.started.borrow_mut().take() {
            old.cancel();
            let tags = self.0.tags.borrow().clone();
            spawn(Box::pin(flush(self.0.clone(), tags)));
        } else {
            // Stats from before the session existed are not sent.
            self.0.buffer.borrow_mut().drop_stats();
        }
        self.0.tags.borrow_mut().session_id = session_id.to_string();
        let t = self.clone();
        let cancel = CancelToken::new();
        *self.0.started.borrow_mut() = Some(cancel.clone());
        spawn(Box::pin(async move {
            while sleep(&cancel, t.0.opts.interval_ms as u32).await {
                let tags = t.0.tags.borrow().clone();
                flush(t.0.clone(), tags).await;
            }
        }));
    }

    /// The last flush on disconnect: one `keepalive` request that may outlive the page.
    pub fn flush_final(&self) {
        let Some(cancel) = self.0.started.borrow_mut().take() else {
            return;
        };
        cancel.cancel();
        let tags = self.0.tags.borrow().clone();
        let body = self.0.buffer.borrow_mut().take_final_body(
            &tags,
            now_ms(),
            KEEPALIVE_MAX_BYTES,
            BROWSER,
        );
        if let Some(body) = body {
            if let Some(p) = request(&self.0, &body, true) {
                // Awaited only so that a rejection is handled, not reported as unhandled.
                spawn(Box::pin(async move {
                    let _ = JsFuture::from(p).await;
                }));
            }
        }
    }
}

/// Sends everything buffered, one request per batch.
async fn flush(inner: Rc<Inner>, tags: Tags) {
    let bodies = inner
        .buffer
        .borrow_mut()
        .take_bodies(&tags, now_ms(), BROWSER);
    for body in bodies {
        let Some(p) = request(&inner, &body, false) else {
            return;
        };
        let status = JsFuture::from(p)
            .await
            .ok()
            .map(|r| js::get(&r, "status").as_f64().unwrap_or(0.0));
        match status {
            Some(s) if (200.0..300.0).contains(&s) => {}
            Some(s) => inner.logger.warn(&crate::core::error::join(&[
                "telemetry was refused: HTTP ",
                &crate::core::error::int(s as u64),
            ])),
            None => inner
                .logger
                .debug("telemetry could not be sent (network error)"),
        }
    }
}

fn request(inner: &Inner, body: &str, keepalive: bool) -> Option<js_sys::Promise> {
    let window = js::window().ok()?;
    let headers = web_sys::Headers::new().ok()?;
    headers.set("content-type", "application/json").ok()?;
    headers.set("x-api-key", &inner.api_key).ok()?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    if keepalive {
        js::set(&init, "keepalive", &true.into());
    }
    Some(window.fetch_with_str_and_init(&inner.opts.url, &init))
}
