//! The exported JS API (`shared/API.md`): `createDecartClient` (and the legacy
//! `createRealtimeClient`), `models`, `isRealtimeModel`, the `realtime` object's `connect`,
//! `subscribe` and `checkConnectivity`, and the `RealTimeClient` they resolve with. Its TypeScript declarations are
//! hand-written in [`crate::web::types`]. Methods are bound to their object, so they work
//! detached (`btn.onclick = client.disconnect`).

use crate::core::error::SdkError;
use crate::core::models;
use crate::core::options::ClientOptions;
use crate::core::protocol::ClientMessage;
use crate::core::token::SubscribeToken;
use crate::web::avatar::AvatarAudio;
use crate::web::cancel::CancelToken;
use crate::web::error::{to_js as err_to_js, Result};
use crate::web::js::{bind_methods, get, is_nullish, or_cancel, set, spawn, to_js, Task, BROWSER};
use crate::web::latency::{LatencyDeps, LatencySession};
use crate::web::log::Logger;
use crate::web::options::{
    client_options, connect_input, preflight_input, subscribe_input, JsOptions,
};
use crate::web::session::{
    self, InitialState, Publisher, Role, Session, ACK_TIMEOUT_MS, PROMPT_ACK_TIMEOUT_MS,
};
use crate::web::telemetry::Telemetry;
use gloo_events::EventListener;
use js_sys::{Function, Object, Promise};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{EventTarget, MediaStream};

/// The `realtime` object of a client: `connect` and `subscribe`.
#[wasm_bindgen(skip_typescript)]
pub struct Realtime {
    client: ClientOptions,
    logger: Logger,
}

fn realtime(options: &JsValue) -> std::result::Result<JsValue, JsValue> {
    let (client, logger) = client_options(options).map_err(|e| err_to_js(&e, ""))?;
    let r: JsValue = Realtime { client, logger }.into();
    bind_methods(&r, &["connect", "subscribe", "checkConnectivity"]);
    Ok(r)
}

/// `createDecartClient(options?)` → `{realtime: {connect, subscribe}}`; synchronous, no
/// network.
#[wasm_bindgen(js_name = createDecartClient, skip_typescript)]
pub fn create_decart_client(options: JsValue) -> std::result::Result<JsValue, JsValue> {
    let o = Object::new();
    set(&o, "realtime", &realtime(&options)?);
    Ok(o.into())
}

/// `createRealtimeClient(options?)`: the legacy entry, the same `{connect, subscribe}`.
#[wasm_bindgen(js_name = createRealtimeClient, skip_typescript)]
pub fn create_realtime_client(options: JsValue) -> std::result::Result<JsValue, JsValue> {
    realtime(&options)
}

/// The promise of an exported async method: one `future_to_promise` instance for all of
/// them (each instance brings its own executor closure and task glue).
fn promise(f: Task<'static, std::result::Result<JsValue, JsValue>>) -> Promise {
    future_to_promise(f)
}

/// Rejects with the JS error of `e` (the key removed).
fn reject(e: SdkError, secret: &str) -> JsValue {
    err_to_js(&e, secret)
}

#[wasm_bindgen]
impl Realtime {
    /// `connect(stream, options)`.
    pub fn connect(&self, stream: JsValue, options: JsValue) -> Promise {
        let (client, logger) = (self.client.clone(), self.logger.clone());
        promise(Box::pin(async move {
            let key = client.api_key.clone();
            let (ctx, signal) = prepare(client, logger, stream, &options)
                .await
                .map_err(|e| reject(e, &key))?;
            start(ctx, signal).await.map_err(|e| reject(e, &key))
        }))
    }

    /// `checkConnectivity(options?)`: the preflight check (see [`crate::web::preflight`]).
    #[wasm_bindgen(js_name = checkConnectivity)]
    pub fn check_connectivity(&self, options: JsValue) -> Promise {
        let (client, logger) = (self.client.clone(), self.logger.clone());
        promise(Box::pin(async move {
            let key = client.api_key.clone();
            let (opts, signal) = preflight_input(&options).map_err(|e| reject(e, &key))?;
            let cancel = CancelToken::new();
            let _abort = on_abort(signal, &cancel);
            crate::web::preflight::check(client, logger, opts, cancel)
                .await
                .map(|r| to_js(&r))
                .map_err(|e| reject(e, &key))
        }))
    }

    /// `subscribe(options)`.
    pub fn subscribe(&self, options: JsValue) -> Promise {
        let (client, logger) = (self.client.clone(), self.logger.clone());
        promise(Box::pin(async move {
            let key = client.api_key.clone();
            let (ctx, signal) =
                prepare_viewer(client, logger, &options).map_err(|e| reject(e, &key))?;
            start(ctx, signal).await.map_err(|e| reject(e, &key))
        }))
    }
}

/// Cancels `cancel` when `signal` aborts (at once if it already did); the listener lives as
/// long as the returned handle.
fn on_abort(signal: Option<EventTarget>, cancel: &CancelToken) -> Option<EventListener> {
    signal.map(|signal| {
        if get(&signal, "aborted").as_bool() == Some(true) {
            cancel.cancel();
        }
        let cancel = cancel.clone();
        EventListener::once(&signal, "abort", move |_| cancel.cancel())
    })
}

/// A session and its `signal` option.
type Prepared = (Rc<Session>, Option<EventTarget>);

async fn prepare(
    client: ClientOptions,
    logger: Logger,
    stream: JsValue,
    o: &JsValue,
) -> Result<Prepared> {
    let input = connect_input(o)?;
    let stream = if is_nullish(&stream) {
        None
    } else {
        Some(
            stream
                .dyn_into::<MediaStream>()
                .map_err(|_| SdkError::invalid_option("stream", "a MediaStream or null"))?,
        )
    };
    let opts = input.opts;
    let image_b64 = match input.image {
        Some(image) => Some(crate::web::image::to_base64(image).await?),
        None => None,
    };
    let avatar = if stream.is_none() && opts.model.is_avatar() {
        Some(Rc::new(AvatarAudio::new()?))
    } else {
        None
    };
    let telemetry = client.telemetry.clone().map(|t| {
        Telemetry::new(
            t,
            &client.api_key,
            Some(opts.model.name.clone()),
            client.integration.clone(),
            opts.transport.as_str(),
            logger.clone(),
        )
    });
    let JsOptions {
        on_remote_stream,
        ivs_module,
        signal,
    } = input.js;
    let latency_video = input.latency_video;
    let customize_offer = input.customize_offer;
    let has_input = stream.is_some();
    let ctx = Rc::new_cyclic(|weak: &Weak<Session>| {
        let latency = opts.latency.as_ref().map(|l| latency_session(l, weak));
        let published = publish(stream, avatar.as_ref(), latency.as_ref(), &logger);
        let reads_latency = opts.latency.as_ref().is_some_and(|l| {
            l.pixel_marker && (latency_video.is_some() || l.read_from_remote_stream)
        });
        let publisher = Publisher {
            model: opts.model.clone(),
            transport: opts.transport,
            stream: published,
            has_input,
            initial: InitialState {
                image_b64,
                prompt: opts
                    .initial_prompt
                    .as_ref()
                    .map(|p| (p.text.clone(), p.enhance)),
            },
            extra_query: opts.extra_query_params.clone(),
            latency_diagnostics: opts.latency.is_some(),
            customize_offer,
            avatar: std::cell::RefCell::new(avatar),
            latency,
            latency_video,
            reads_latency,
        };
        Session::new(
            weak.clone(),
            client,
            opts.common,
            Role::Publisher(publisher),
            on_remote_stream,
            ivs_module,
            logger,
            telemetry,
        )
    });
    Ok((ctx, signal))
}

/// The stream to publish: the caller's (through the latency stamper when pixel markers are
/// on, started now so the first published frame can carry a probe), or the avatar's audio.
fn publish(
    stream: Option<MediaStream>,
    avatar: Option<&Rc<AvatarAudio>>,
    latency: Option<&LatencySession>,
    logger: &Logger,
) -> Option<MediaStream> {
    match (stream, latency) {
        (Some(input), Some(l)) => match l.start_stamper(&input) {
            Ok(stamped) => Some(stamped),
            Err(e) => {
                logger.warn(&crate::core::error::join(&[
                    "latency: the stamper could not start (",
                    &e.message,
                    "); probing over the WebSocket instead",
                ]));
                Some(input)
            }
        },
        (Some(input), None) => Some(input),
        (None, _) => avatar.map(|a| a.stream()),
    }
}

/// Latency tracking that sends and emits through the session while it lives.
fn latency_session(
    opts: &crate::core::options::LatencyOptions,
    ctx: &Weak<Session>,
) -> LatencySession {
    let (w1, w2, w3) = (ctx.clone(), ctx.clone(), ctx.clone());
    LatencySession::new(
        opts,
        LatencyDeps {
            send: Rc::new(move |m: ClientMessage| {
                if let Some(ctx) = w1.upgrade() {
                    let _ = ctx.send(&m);
                }
            }),
            emit: Rc::new(move |name: &'static str, payload: JsValue| {
                if let Some(ctx) = w2.upgrade() {
                    if name == "pixelLatencyEvent" {
                        ctx.quality.on_probe_event(&payload);
                    }
                    ctx.events.emit(name, payload);
                }
            }),
            warn: Rc::new(move |text: &str| {
                if let Some(ctx) = w3.upgrade() {
                    ctx.logger.warn(text);
                }
            }),
        },
    )
}

fn prepare_viewer(client: ClientOptions, logger: Logger, o: &JsValue) -> Result<Prepared> {
    let input = subscribe_input(o)?;
    let token = SubscribeToken::decode_with(&input.opts.token, BROWSER)?;
    let JsOptions {
        on_remote_stream,
        ivs_module,
        signal,
    } = input.js;
    let ctx = Rc::new_cyclic(|weak| {
        Session::new(
            weak.clone(),
            client,
            input.opts.common,
            Role::Viewer(token),
            on_remote_stream,
            ivs_module,
            logger,
            None,
        )
    });
    Ok((ctx, signal))
}

/// Connects (the `signal` option abandons it), wires the page listeners, schedules the
/// delivery of the events held while connecting, and returns the client.
async fn start(ctx: Rc<Session>, signal: Option<EventTarget>) -> Result<JsValue> {
    let _abort = on_abort(signal, &ctx.cancel);
    let connected = or_cancel(Box::pin(session::connect(&ctx)), &ctx.cancel)
        .await
        .unwrap_or_else(|| {
            Err(SdkError::aborted(
                "the connect was abandoned (the abort signal)",
            ))
        });
    if let Err(e) = connected {
        ctx.cancel.cancel();
        if let Some(l) = ctx.publisher().and_then(|p| p.latency.as_ref()) {
            l.stop();
        }
        ctx.events.close();
        return Err(e);
    }
    if let Some(window) = web_sys::window() {
        let weak = Rc::downgrade(&ctx);
        ctx.own_listener(EventListener::new(&window, "online", move |_| {
            if let Some(tx) = weak.upgrade().and_then(|c| c.wake.borrow_mut().take()) {
                let _ = tx.send(());
            }
        }));
        if ctx.common.leave_on_page_hide {
            let weak = Rc::downgrade(&ctx);
            ctx.own_listener(EventListener::new(&window, "pagehide", move |_| {
                if let Some(ctx) = weak.upgrade() {
                    ctx.shutdown();
                }
            }));
        }
    }
    // Deliver the events raised while connecting right after the caller's `await` resumes.
    let c = ctx.clone();
    spawn(Box::pin(async move {
        gloo_timers::future::TimeoutFuture::new(0).await;
        c.events.deliver();
    }));
    let avatar = ctx.publisher().is_some_and(|p| p.avatar.borrow().is_some());
    let client: JsValue = RealTimeClient { ctx }.into();
    bind_methods(
        &client,
        &[
            "set",
            "setPrompt",
            "setImage",
            "isConnected",
            "getConnectionState",
            "getConnectionQuality",
            "disconnect",
            "on",
            "off",
        ],
    );
    if avatar {
        if let Some(f) = crate::web::js::method(&client, "__playAudio") {
            set(&client, "playAudio", &f.bind0(&client));
        }
    }
    Ok(client)
}

/// A connected realtime session (or viewer).
#[wasm_bindgen(skip_typescript)]
pub struct RealTimeClient {
    ctx: Rc<Session>,
}

impl RealTimeClient {
    /// The session (for the crate's own tests).
    pub fn session(&self) -> &Rc<Session> {
        &self.ctx
    }
}

fn settle(ctx: &Rc<Session>, r: Result<()>) -> std::result::Result<JsValue, JsValue> {
    r.map(|()| JsValue::UNDEFINED)
        .map_err(|e| err_to_js(&e, &ctx.client.api_key))
}

/// `NOT_CONNECTED` unless the session is `connected`/`generating` (viewers never are, for
/// setters).
fn connected(ctx: &Session, method: &str) -> Result<()> {
    if ctx.is_connected() && ctx.publisher().is_some() {
        Ok(())
    } else {
        Err(SdkError::not_connected(method))
    }
}

/// A live connection (a closed socket rejects at once).
fn live(ctx: &Session, method: &str) -> Result<()> {
    if ctx.conn.borrow().is_none() || ctx.publisher().is_none() {
        return Err(SdkError::not_connected(method));
    }
    Ok(())
}

fn prompt_text(v: &JsValue, name: &str) -> Result<String> {
    v.as_string()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SdkError::invalid_option(name, "a non-empty string"))
}

fn opt_bool(o: &JsValue, k: &str, name: &str) -> Result<Option<bool>> {
    let v = get(o, k);
    if is_nullish(&v) {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| SdkError::invalid_option(name, "true or false"))
}

async fn image_data(image: JsValue) -> Result<Option<String>> {
    if is_nullish(&image) {
        Ok(None)
    } else {
        crate::web::image::to_base64(image).await.map(Some)
    }
}

#[wasm_bindgen]
impl RealTimeClient {
    /// `on(event, listener)`.
    pub fn on(&self, event: String, listener: JsValue) -> std::result::Result<(), JsValue> {
        let f = listener
            .dyn_into::<Function>()
            .map_err(|_| err_to_js(&SdkError::invalid_option("listener", "a function"), ""))?;
        self.ctx.events.on(event, f);
        Ok(())
    }

    /// `off(event, listener?)`: removes one registration of `listener`, or every listener
    /// of `event`.
    pub fn off(&self, event: String, listener: JsValue) {
        self.ctx.events.off(&event, listener.dyn_ref::<Function>());
    }

    /// `isConnected()`.
    #[wasm_bindgen(js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        self.ctx.is_connected()
    }

    /// `getConnectionState()`.
    #[wasm_bindgen(js_name = getConnectionState)]
    pub fn get_connection_state(&self) -> String {
        self.ctx.state().as_str().to_string()
    }

    /// `getConnectionQuality()`: the latest verdict (`null` before the first stats sample);
    /// stats are polled for it from the first call on.
    #[wasm_bindgen(js_name = getConnectionQuality)]
    pub fn get_connection_quality(&self) -> JsValue {
        self.ctx
            .quality
            .current()
            .map_or(JsValue::NULL, |v| to_js(&v))
    }

    /// `sessionId`: `null` until the server sent `session_id`.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.ctx.ids().map(|(sid, _)| sid)
    }

    /// `subscribeToken`: `null` until the server sent `session_id`.
    #[wasm_bindgen(getter, js_name = subscribeToken)]
    pub fn subscribe_token(&self) -> Option<String> {
        self.ctx.ids().map(|(_, token)| token)
    }

    /// `disconnect()`: synchronous, idempotent.
    pub fn disconnect(&self) {
        self.ctx.shutdown();
    }

    /// `setPrompt(text, {enhance = true} = {})`.
    #[wasm_bindgen(js_name = setPrompt)]
    pub fn set_prompt(&self, text: JsValue, options: JsValue) -> Promise {
        let ctx = self.ctx.clone();
        promise(Box::pin(async move {
            let r = async {
                connected(&ctx, "setPrompt")?;
                let prompt = prompt_text(&text, "prompt")?;
                let enhance = opt_bool(&options, "enhance", "enhance")?.unwrap_or(true);
                let m = ClientMessage::Prompt {
                    prompt,
                    enhance_prompt: enhance,
                };
                ctx.request(m, PROMPT_ACK_TIMEOUT_MS, "prompt").await
            };
            settle(&ctx, r.await)
        }))
    }

    /// `setImage(image, {prompt?, enhance?, timeout = 30000} = {})`: `null` clears.
    #[wasm_bindgen(js_name = setImage)]
    pub fn set_image(&self, image: JsValue, options: JsValue) -> Promise {
        let ctx = self.ctx.clone();
        promise(Box::pin(async move {
            let r = async {
                live(&ctx, "setImage")?;
                let prompt = get(&options, "prompt");
                let prompt = if is_nullish(&prompt) {
                    None
                } else {
                    Some(prompt_text(&prompt, "prompt")?)
                };
                let enhance = opt_bool(&options, "enhance", "enhance")?;
                let timeout = get(&options, "timeout");
                let timeout = if is_nullish(&timeout) {
                    ACK_TIMEOUT_MS
                } else {
                    timeout
                        .as_f64()
                        .filter(|t| *t > 0.0 && *t <= 3_600_000.0)
                        .map(|t| t as u32)
                        .ok_or_else(|| {
                            SdkError::invalid_option("timeout", "a number of ms above 0")
                        })?
                };
                let image_data = image_data(image).await?;
                live(&ctx, "setImage")?;
                let m = ClientMessage::SetImage {
                    image_data,
                    prompt: prompt.map(Some),
                    enhance_prompt: enhance,
                };
                ctx.request(m, timeout, "image").await
            };
            settle(&ctx, r.await)
        }))
    }

    /// `set({prompt?, enhance = true, image?})`: always one `set_image` (`image_data` `null`
    /// without an image, so `set({prompt})` clears the reference image).
    pub fn set(&self, input: JsValue) -> Promise {
        let ctx = self.ctx.clone();
        promise(Box::pin(async move {
            let r = async {
                connected(&ctx, "set")?;
                let prompt = get(&input, "prompt");
                let prompt = if is_nullish(&prompt) {
                    None
                } else {
                    Some(prompt_text(&prompt, "prompt")?)
                };
                let has_image = input.is_object()
                    && js_sys::Reflect::has(&input, &"image".into()).unwrap_or(false);
                if prompt.is_none() && !has_image {
                    return Err(SdkError::invalid_option(
                        "set",
                        "an object with a non-empty `prompt` and/or an `image`",
                    ));
                }
                let enhance = opt_bool(&input, "enhance", "enhance")?.unwrap_or(true);
                let image_data = image_data(get(&input, "image")).await?;
                connected(&ctx, "set")?;
                let m = ClientMessage::SetImage {
                    image_data,
                    prompt: prompt.map(Some),
                    enhance_prompt: Some(enhance),
                };
                ctx.request(m, ACK_TIMEOUT_MS, "image").await
            };
            settle(&ctx, r.await)
        }))
    }

    /// `playAudio(audio)` of a `live_avatar` session connected without a stream (set as the
    /// own property `playAudio` of such clients only).
    #[wasm_bindgen(js_name = __playAudio)]
    pub fn play_audio(&self, audio: JsValue) -> Promise {
        let ctx = self.ctx.clone();
        promise(Box::pin(async move {
            let avatar = ctx.publisher().and_then(|p| p.avatar.borrow().clone());
            let r = match avatar {
                None => Err(SdkError::not_connected("playAudio")),
                Some(a) => or_cancel(Box::pin(a.play(audio)), &ctx.cancel)
                    .await
                    .unwrap_or_else(|| {
                        Err(SdkError::aborted("disconnect() was called during playback"))
                    }),
            };
            r.map(JsValue::from)
                .map_err(|e| err_to_js(&e, &ctx.client.api_key))
        }))
    }
}

/// `models`: the realtime model registry. `video()` and `image()` belong to the HTTP half
/// of the reference SDK and always throw `MODEL_NOT_FOUND`.
#[wasm_bindgen(js_name = models, skip_typescript)]
pub struct Models;

fn frozen(v: JsValue) -> JsValue {
    Object::freeze(v.unchecked_ref::<Object>()).into()
}

#[wasm_bindgen(js_class = models)]
impl Models {
    /// `models.realtime(name)`: the read-only registry entry; unknown → `MODEL_NOT_FOUND`.
    pub fn realtime(name: JsValue) -> std::result::Result<JsValue, JsValue> {
        let name = name.as_string().unwrap_or_default();
        models::realtime(&name)
            .map(|m| frozen(to_js(&m.to_json())))
            .map_err(|e| err_to_js(&e, ""))
    }

    /// `models.list()`: every realtime model.
    pub fn list() -> JsValue {
        models::all()
            .iter()
            .map(|m| frozen(to_js(&m.to_json())))
            .collect::<js_sys::Array>()
            .into()
    }

    /// `models.video(name)`: the HTTP half is out of scope.
    pub fn video(name: JsValue) -> std::result::Result<JsValue, JsValue> {
        Err(err_to_js(
            &models::not_found(&name.as_string().unwrap_or_default()),
            "",
        ))
    }

    /// `models.image(name)`: the HTTP half is out of scope.
    pub fn image(name: JsValue) -> std::result::Result<JsValue, JsValue> {
        Err(err_to_js(
            &models::not_found(&name.as_string().unwrap_or_default()),
            "",
        ))
    }
}

/// `isRealtimeModel(name)`: true exactly for the five realtime model names.
#[wasm_bindgen(js_name = isRealtimeModel, skip_typescript)]
pub fn is_realtime_model(name: JsValue) -> bool {
    name.as_string().is_some_and(|n| models::is_realtime(&n))
}
