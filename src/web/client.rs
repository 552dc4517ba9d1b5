//! The exported JS API: `createRealtimeClient`, `models`, `RealTimeClient`.

use crate::core::error::{ErrorCode, SdkError};
use crate::core::models;
use crate::core::options::{self, classify_image_string, ImageString, JS_ONLY_CONNECT_KEYS};
use crate::core::protocol::ClientMessage;
use crate::core::token::SubscribeToken;
use crate::web::avatar::AvatarAudio;
use crate::web::cancel::CancelToken;
use crate::web::error::{from_js, to_js as err_to_js, Result};
use crate::web::events::{to_js, Emitter, EVENTS};
use crate::web::latency::{LatencyDeps, LatencySession};
use crate::web::log::Logger;
use crate::web::session::{
    await_js, bounded, connect_with_retries, fail_pending, sleep_unless, supervise, InitialState,
    Role, SessionCtx, State, ACK_TIMEOUT_MS,
};
use crate::web::telemetry::Telemetry;
use futures_channel::oneshot;
use gloo_events::EventListener;
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local};
use web_sys::{Blob, MediaStream};

/// Copies the plain-data part of a JS object into JSON: functions, DOM objects, Blobs and
/// module objects are skipped (the browser layer takes those itself).
fn data_of(v: &JsValue, skip: &[&str]) -> serde_json::Value {
    if v.is_undefined() || v.is_null() {
        return serde_json::Value::Null;
    }
    if let Some(s) = v.as_string() {
        return serde_json::Value::String(s);
    }
    if let Some(b) = v.as_bool() {
        return serde_json::Value::Bool(b);
    }
    if let Some(n) = v.as_f64() {
        return serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null);
    }
    if v.is_function()
        || v.is_instance_of::<web_sys::Node>()
        || v.is_instance_of::<Blob>()
        || v.is_instance_of::<MediaStream>()
    {
        return serde_json::Value::String("[object]".into());
    }
    if js_sys::Array::is_array(v) {
        return serde_json::Value::Array(
            js_sys::Array::from(v)
                .iter()
                .map(|x| data_of(&x, &[]))
                .collect(),
        );
    }
    if v.is_object() {
        let mut m = serde_json::Map::new();
        for entry in Object::entries(v.unchecked_ref()).iter() {
            let pair = js_sys::Array::from(&entry);
            let Some(k) = pair.get(0).as_string() else {
                continue;
            };
            if skip.contains(&k.as_str()) {
                m.insert(k, serde_json::Value::Null);
                continue;
            }
            m.insert(k, data_of(&pair.get(1), &["videoElement", "image"]));
        }
        return serde_json::Value::Object(m);
    }
    serde_json::Value::Null
}

fn get(o: &JsValue, k: &str) -> JsValue {
    if o.is_object() {
        Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn opt_function(o: &JsValue, k: &str, name: &str) -> Result<Option<Function>> {
    let v = get(o, k);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| SdkError::invalid_option(name, "a function"))
}

/// Reads an image given as Blob/File, data URL, http(s) URL or base64 into base64.
async fn image_to_base64(image: JsValue) -> Result<String> {
    if let Some(s) = image.as_string() {
        return match classify_image_string(&s)? {
            ImageString::DataUrl(b) | ImageString::Base64(b) => Ok(b),
            ImageString::Url(url) => {
                let window = web_sys::window()
                    .ok_or_else(|| SdkError::new(ErrorCode::Internal, "no window"))?;
                let resp = await_js(
                    window.fetch_with_str(&url),
                    ErrorCode::NetworkError,
                    "the image could not be fetched",
                )
                .await?;
                let resp: web_sys::Response = resp.unchecked_into();
                if !resp.ok() {
                    return Err(SdkError::new(
                        ErrorCode::NetworkError,
                        format!("the image fetch answered HTTP {}", resp.status()),
                    ));
                }
                let blob = await_js(
                    resp.blob().map_err(|e| {
                        from_js(ErrorCode::NetworkError, "reading the image failed", &e)
                    })?,
                    ErrorCode::NetworkError,
                    "reading the image failed",
                )
                .await?;
                blob_to_base64(blob.unchecked_into()).await
            }
        };
    }
    match image.dyn_into::<Blob>() {
        Ok(b) => blob_to_base64(b).await,
        Err(_) => Err(SdkError::invalid_option(
            "image",
            "a Blob, File, data: URL, http(s) URL or base64 string",
        )),
    }
}

async fn blob_to_base64(blob: Blob) -> Result<String> {
    let buf = await_js(
        blob.array_buffer(),
        ErrorCode::ImageError,
        "the image could not be read",
    )
    .await?;
    let bytes = js_sys::Uint8Array::new(&buf).to_vec();
    if bytes.is_empty() {
        return Err(SdkError::new(ErrorCode::ImageError, "the image is empty"));
    }
    Ok(crate::core::base64::encode(&bytes))
}

/// `createRealtimeClient({baseUrl, apiKey, integration?, telemetry?, allowInsecure?})`.
#[wasm_bindgen(js_name = createRealtimeClient)]
pub fn create_realtime_client(
    #[wasm_bindgen(unchecked_param_type = "RealtimeClientOptions")] options: JsValue,
) -> std::result::Result<RealtimeFactory, JsValue> {
    let opts =
        options::client_options(&data_of(&options, &["logger"])).map_err(|e| err_to_js(&e))?;
    let logger =
        Logger::from_option(&get(&options, "logger"), &opts.api_key).map_err(|e| err_to_js(&e))?;
    Ok(RealtimeFactory { opts, logger })
}

/// Made by `createRealtimeClient`: connects sessions and viewers.
#[wasm_bindgen]
pub struct RealtimeFactory {
    opts: options::ClientOptions,
    logger: Logger,
}

#[wasm_bindgen]
impl RealtimeFactory {
    /// Connects `stream` (or `null` for models that need none) with `options`.
    #[wasm_bindgen(unchecked_return_type = "Promise<RealTimeClient>")]
    pub fn connect(
        &self,
        #[wasm_bindgen(unchecked_param_type = "MediaStream | null")] stream: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
    ) -> Promise {
        let (client, logger) = (self.opts.clone(), self.logger.clone());
        future_to_promise(async move {
            let signal = abort_signal(&options).map_err(|e| err_to_js(&e))?;
            let ctx = prepare(client, logger, stream, &options)
                .await
                .map_err(|e| err_to_js(&e))?;
            start(ctx, signal)
                .await
                .map(JsValue::from)
                .map_err(|e| err_to_js(&e))
        })
    }

    /// Subscribes to a running session with its `subscribeToken`.
    #[wasm_bindgen(unchecked_return_type = "Promise<RealTimeClient>")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SubscribeOptions")] options: JsValue,
    ) -> Promise {
        let (client, logger) = (self.opts.clone(), self.logger.clone());
        future_to_promise(async move {
            let signal = abort_signal(&options).map_err(|e| err_to_js(&e))?;
            let ctx = prepare_viewer(client, logger, &options).map_err(|e| err_to_js(&e))?;
            start(ctx, signal)
                .await
                .map(JsValue::from)
                .map_err(|e| err_to_js(&e))
        })
    }
}

async fn prepare(
    client: options::ClientOptions,
    logger: Logger,
    stream: JsValue,
    o: &JsValue,
) -> Result<Rc<SessionCtx>> {
    if !o.is_object() {
        return Err(SdkError::invalid_option("options", "an object"));
    }
    let opts = options::connect_options(&data_of(o, &JS_ONLY_CONNECT_KEYS))?;
    let stream = if stream.is_null() || stream.is_undefined() {
        None
    } else {
        Some(
            stream
                .dyn_into::<MediaStream>()
                .map_err(|_| SdkError::invalid_option("stream", "a MediaStream or null"))?,
        )
    };
    if stream.is_none() && !opts.model.is_avatar() {
        return Err(SdkError::invalid_option(
            "stream",
            &format!(
                "a MediaStream (model \"{}\" needs camera input)",
                opts.model.name
            ),
        ));
    }
    let avatar_audio = if stream.is_none() {
        Some(Rc::new(AvatarAudio::new()?))
    } else {
        None
    };
    let stream = stream.or_else(|| avatar_audio.as_ref().map(|a| a.stream()));
    let on_remote_stream = opt_function(o, "onRemoteStream", "onRemoteStream")?;
    if on_remote_stream.is_none() {
        return Err(SdkError::invalid_option(
            "onRemoteStream",
            "a function (stream: MediaStream) => void",
        ));
    }
    let customize_offer = opt_function(o, "customizeOffer", "customizeOffer")?;
    let image = get(&get(o, "initialState"), "image");
    let image_b64 = if image.is_undefined() || image.is_null() {
        None
    } else {
        Some(image_to_base64(image).await?)
    };
    let initial = InitialState {
        image_b64,
        prompt: opts
            .initial_prompt
            .as_ref()
            .map(|p| (p.text.clone(), p.enhance)),
    };
    let ivs_module = opt_object(o, "ivsModule")
        .map(|m| crate::web::ivs::module_option(&m))
        .transpose()?;
    let telemetry = client.telemetry.clone().map(|t| {
        Telemetry::new(
            t,
            &client.api_key,
            &opts.model.name,
            client.integration.clone(),
            opts.transport.as_str(),
            logger.clone(),
        )
    });
    let latency_video = latency_video_option(o)?;
    let callbacks = Callbacks {
        on_remote_stream,
        customize_offer,
        ivs_module,
        avatar_audio,
        latency_video,
    };
    Ok(new_ctx(
        client,
        logger,
        opts,
        Role::Publisher { stream },
        initial,
        callbacks,
        telemetry,
    ))
}

/// `latencyTracking.videoElement`: the page's `<video>` showing the output, if given.
fn latency_video_option(o: &JsValue) -> Result<Option<web_sys::HtmlVideoElement>> {
    let v = get(&get(o, "latencyTracking"), "videoElement");
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_into().map(Some).map_err(|_| {
        SdkError::invalid_option("latencyTracking.videoElement", "an HTMLVideoElement")
    })
}

fn opt_object(o: &JsValue, k: &str) -> Option<JsValue> {
    let v = get(o, k);
    (v.is_object() || v.is_function()).then_some(v)
}

fn prepare_viewer(
    client: options::ClientOptions,
    logger: Logger,
    o: &JsValue,
) -> Result<Rc<SessionCtx>> {
    let token = get(o, "token").as_string().ok_or_else(|| {
        SdkError::invalid_option("token", "the session's subscribeToken (a string)")
    })?;
    let token = SubscribeToken::decode(&token)?;
    let on_remote_stream =
        opt_function(o, "onRemoteStream", "onRemoteStream")?.ok_or_else(|| {
            SdkError::invalid_option("onRemoteStream", "a function (stream: MediaStream) => void")
        })?;
    // A viewer takes the connect options that apply to receiving (no model, no media in).
    let mut data = data_of(o, &["onRemoteStream", "ivsModule", "token", "signal"]);
    if let Some(m) = data.as_object_mut() {
        for k in ["token", "onRemoteStream", "ivsModule", "signal"] {
            m.remove(k);
        }
        for k in [
            "model",
            "initialState",
            "latencyTracking",
            "extraQueryParams",
            "transport",
            "customizeOffer",
        ] {
            if m.contains_key(k) {
                return Err(SdkError::invalid_option(k, "not a subscribe option (known: token, onRemoteStream, signal, ivsModule, ivsSdkUrl, jitterBufferMinDelay, statsIntervalMs, leaveOnPageHide, reconnect, maxRetries)"));
            }
        }
        m.insert("model".into(), "mirage".into());
    }
    let opts = options::connect_options(&data)?;
    let ivs_module = opt_object(o, "ivsModule")
        .map(|m| crate::web::ivs::module_option(&m))
        .transpose()?;
    let callbacks = Callbacks {
        on_remote_stream: Some(on_remote_stream),
        customize_offer: None,
        ivs_module,
        avatar_audio: None,
        latency_video: None,
    };
    Ok(new_ctx(
        client,
        logger,
        opts,
        Role::Viewer { token },
        InitialState::default(),
        callbacks,
        None,
    ))
}

/// The JS-only parts of the options.
struct Callbacks {
    on_remote_stream: Option<Function>,
    customize_offer: Option<Function>,
    ivs_module: Option<JsValue>,
    avatar_audio: Option<Rc<AvatarAudio>>,
    latency_video: Option<web_sys::HtmlVideoElement>,
}

fn new_ctx(
    client: options::ClientOptions,
    logger: Logger,
    options: options::ConnectOptions,
    role: Role,
    initial: InitialState,
    callbacks: Callbacks,
    telemetry: Option<Telemetry>,
) -> Rc<SessionCtx> {
    Rc::new_cyclic(|weak| {
        let latency = options.latency.as_ref().map(|lo| latency_session(lo, weak));
        let role = with_stamper(role, latency.as_ref(), &logger);
        SessionCtx {
            model: options.model.clone(),
            client,
            options,
            role,
            initial,
            on_remote_stream: callbacks.on_remote_stream,
            customize_offer: callbacks.customize_offer,
            ivs_module: callbacks.ivs_module,
            avatar_audio: RefCell::new(callbacks.avatar_audio),
            latency,
            latency_video: callbacks.latency_video,
            events: Emitter::buffering(logger.clone()),
            logger,
            telemetry,
            state: Cell::new(State::Disconnected),
            session_id: RefCell::new(None),
            subscribe_token: RefCell::new(None),
            conn: RefCell::new(None),
            pending_prompts: RefCell::new(Vec::new()),
            pending_image: RefCell::new(None),
            cancel: CancelToken::new(),
            wake: RefCell::new(None),
            _page_listeners: RefCell::new(Vec::new()),
        }
    })
}

/// Latency diagnostics that send and emit through the session while it lives.
fn latency_session(opts: &options::LatencyOptions, ctx: &Weak<SessionCtx>) -> LatencySession {
    let (w1, w2) = (ctx.clone(), ctx.clone());
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
                    ctx.events.emit(name, payload);
                }
            }),
        },
    )
}

/// The publisher's stream with the latency stamper on its video, started now, before the
/// first connect: every published frame can carry a probe. When the stamper cannot start,
/// the input is published as it is and probes go over the WebSocket.
fn with_stamper(role: Role, latency: Option<&LatencySession>, logger: &Logger) -> Role {
    match (role, latency) {
        (
            Role::Publisher {
                stream: Some(input),
            },
            Some(l),
        ) => {
            match l.start_stamper(&input) {
                Ok(stamped) => Role::Publisher {
                    stream: Some(stamped),
                },
                Err(e) => {
                    logger.warn(&format!("latency: the stamper could not start ({}); probing over the WebSocket instead", e.message));
                    Role::Publisher {
                        stream: Some(input),
                    }
                }
            }
        }
        (role, _) => role,
    }
}

/// The `signal` option: an `AbortSignal` that abandons a connect in progress.
fn abort_signal(o: &JsValue) -> Result<Option<web_sys::EventTarget>> {
    let v = get(o, "signal");
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if !Reflect::has(&v, &"aborted".into()).unwrap_or(false) {
        return Err(SdkError::invalid_option("signal", "an AbortSignal"));
    }
    v.dyn_into::<web_sys::EventTarget>()
        .map(Some)
        .map_err(|_| SdkError::invalid_option("signal", "an AbortSignal"))
}

async fn start(
    ctx: Rc<SessionCtx>,
    signal: Option<web_sys::EventTarget>,
) -> Result<RealTimeClient> {
    ctx.set_state(State::Connecting);
    // Aborting the signal abandons this connect (all attempts and retries); it has no
    // effect once connect() resolved.
    let _abort = signal.map(|s| {
        if get(&s, "aborted").as_bool() == Some(true) {
            ctx.cancel.cancel();
        }
        let cancel = ctx.cancel.clone();
        EventListener::once(&s, "abort", move |_| cancel.cancel())
    });
    let first = match connect_with_retries(&ctx, false).await {
        Ok(c) => c,
        Err(e) => {
            ctx.cancel.cancel();
            if let Some(l) = &ctx.latency {
                l.stop();
            }
            ctx.events.close();
            return Err(e);
        }
    };
    if let Some(window) = web_sys::window() {
        let mut ls = ctx._page_listeners.borrow_mut();
        let weak = Rc::downgrade(&ctx);
        ls.push(EventListener::new(&window, "online", move |_| {
            if let Some(ctx) = weak.upgrade() {
                if let Some(tx) = ctx.wake.borrow_mut().take() {
                    let _ = tx.send(());
                }
            }
        }));
        if ctx.options.leave_on_page_hide {
            let weak = Rc::downgrade(&ctx);
            ls.push(EventListener::new(&window, "pagehide", move |_| {
                if let Some(ctx) = weak.upgrade() {
                    shutdown(&ctx);
                }
            }));
        }
    }
    spawn_local(supervise(ctx.clone(), first));
    if let Some(t) = &ctx.telemetry {
        let (c, interval) = (ctx.clone(), t.interval_ms());
        spawn_local(async move {
            while sleep_unless(&c.cancel, interval).await {
                let sid = c.session_id.borrow().clone();
                if let (Some(sid), Some(t)) = (sid, &c.telemetry) {
                    t.flush(&sid).await;
                }
            }
        });
    }
    // Deliver the events raised while connecting right after the caller's `await` resumes.
    let c = ctx.clone();
    spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(0).await;
        c.events.deliver();
    });
    Ok(RealTimeClient { ctx })
}

fn shutdown(ctx: &Rc<SessionCtx>) {
    if ctx.cancel.is_cancelled() {
        return;
    }
    ctx.cancel.cancel();
    fail_pending(ctx, "disconnect() was called");
    ctx.conn.borrow_mut().take();
    ctx.avatar_audio.borrow_mut().take();
    if let Some(l) = &ctx.latency {
        l.stop();
    }
    ctx._page_listeners.borrow_mut().clear();
    ctx.events.deliver();
    ctx.set_state(State::Disconnected);
    ctx.events.close();
    if let (Some(t), Some(sid)) = (&ctx.telemetry, ctx.session_id.borrow().as_deref()) {
        t.flush_final(sid);
    }
}

/// A connected realtime session (or viewer).
#[wasm_bindgen]
pub struct RealTimeClient {
    ctx: Rc<SessionCtx>,
}

#[wasm_bindgen]
impl RealTimeClient {
    /// Adds an event listener.
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof RealtimeEvents")] event: String,
        #[wasm_bindgen(
            unchecked_param_type = "(payload: RealtimeEvents[keyof RealtimeEvents]) => void"
        )]
        listener: Function,
    ) -> std::result::Result<(), JsValue> {
        if !EVENTS.contains(&event.as_str()) {
            return Err(err_to_js(&SdkError::invalid_option(
                "event",
                &format!("one of {}", EVENTS.join(", ")),
            )));
        }
        self.ctx.events.on(&event, listener);
        Ok(())
    }

    /// Removes an event listener.
    pub fn off(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof RealtimeEvents")] event: String,
        #[wasm_bindgen(
            unchecked_param_type = "(payload: RealtimeEvents[keyof RealtimeEvents]) => void"
        )]
        listener: Function,
    ) {
        self.ctx.events.off(&event, &listener);
    }

    /// True while media is connected.
    #[wasm_bindgen(js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        matches!(self.ctx.state.get(), State::Connected | State::Generating)
    }

    /// `"connecting" | "connected" | "generating" | "reconnecting" | "disconnected"`.
    #[wasm_bindgen(js_name = getConnectionState, unchecked_return_type = "ConnectionState")]
    pub fn get_connection_state(&self) -> String {
        self.ctx.state.get().as_str().to_string()
    }

    /// The session id, once the server sent it.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.ctx.session_id.borrow().clone()
    }

    /// The token viewers subscribe with.
    #[wasm_bindgen(getter, js_name = subscribeToken)]
    pub fn subscribe_token(&self) -> Option<String> {
        self.ctx.subscribe_token.borrow().clone()
    }

    /// Closes the session and releases everything; no event fires afterwards.
    pub fn disconnect(&self) {
        shutdown(&self.ctx);
    }

    /// Sets the prompt; resolves on the server's matching acknowledgement (15 s bound).
    #[wasm_bindgen(js_name = setPrompt, unchecked_return_type = "Promise<void>")]
    pub fn set_prompt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{enhance?: boolean}")] options: JsValue,
    ) -> Promise {
        let ctx = self.ctx.clone();
        future_to_promise(async move {
            let text = text
                .as_string()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    err_to_js(&SdkError::invalid_option("prompt", "a non-empty string"))
                })?;
            let enhance = get(&options, "enhance").as_bool().unwrap_or(true);
            send_prompt(&ctx, text, enhance)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| err_to_js(&e))
        })
    }

    /// Sets (or clears with `null`) the reference image, optionally with a prompt.
    #[wasm_bindgen(js_name = setImage, unchecked_return_type = "Promise<void>")]
    pub fn set_image(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob | File | string | null")] image: JsValue,
        #[wasm_bindgen(
            unchecked_param_type = "{prompt?: string, enhance?: boolean, timeout?: number}"
        )]
        options: JsValue,
    ) -> Promise {
        let ctx = self.ctx.clone();
        future_to_promise(async move {
            let prompt = get(&options, "prompt").as_string();
            let enhance = get(&options, "enhance").as_bool();
            let timeout = get(&options, "timeout")
                .as_f64()
                .filter(|t| *t > 0.0)
                .map(|t| t as u32)
                .unwrap_or(ACK_TIMEOUT_MS);
            send_image(&ctx, image, prompt, enhance, timeout)
                .await
                .map(|_| JsValue::UNDEFINED)
                .map_err(|e| err_to_js(&e))
        })
    }

    /// `live_avatar` sessions connected without a stream: plays an audio clip (AudioBuffer,
    /// Blob/File or ArrayBuffer of an encoded clip) into the published audio; resolves with
    /// its duration in seconds once it has played.
    #[wasm_bindgen(js_name = playAudio, unchecked_return_type = "Promise<number>")]
    pub fn play_audio(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AudioBuffer | Blob | ArrayBuffer")] audio: JsValue,
    ) -> Promise {
        let ctx = self.ctx.clone();
        future_to_promise(async move {
            ensure_connected(&ctx, "playAudio").map_err(|e| err_to_js(&e))?;
            let avatar = ctx.avatar_audio.borrow().clone();
            let Some(avatar) = avatar else {
                return Err(err_to_js(&SdkError::new(
                    ErrorCode::InvalidOptions,
                    "playAudio() needs a live_avatar session connected without a stream",
                )));
            };
            let play = Box::pin(avatar.play(audio));
            let r = match futures_util::future::select(play, ctx.cancel.cancelled()).await {
                futures_util::future::Either::Left((r, _)) => r.map(JsValue::from),
                futures_util::future::Either::Right(_) => Err(SdkError::new(
                    ErrorCode::Aborted,
                    "disconnect() was called during playback",
                )),
            };
            r.map_err(|e| err_to_js(&e))
        })
    }

    /// `set({prompt?, enhance?, image?})`: image (with the prompt) when given, else prompt.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn set(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{prompt?: string, enhance?: boolean, image?: Blob | File | string | null}"
        )]
        input: JsValue,
    ) -> Promise {
        let ctx = self.ctx.clone();
        future_to_promise(async move {
            let prompt = get(&input, "prompt").as_string();
            let enhance = get(&input, "enhance").as_bool();
            let has_image = Reflect::has(&input, &"image".into()).unwrap_or(false);
            let r = if has_image {
                send_image(&ctx, get(&input, "image"), prompt, enhance, ACK_TIMEOUT_MS).await
            } else if let Some(p) = prompt {
                send_prompt(&ctx, p, enhance.unwrap_or(true)).await
            } else {
                Err(SdkError::invalid_option(
                    "set",
                    "an object with `prompt` and/or `image`",
                ))
            };
            r.map(|_| JsValue::UNDEFINED).map_err(|e| err_to_js(&e))
        })
    }
}

fn ensure_connected(ctx: &SessionCtx, method: &str) -> Result<()> {
    if ctx.cancel.is_cancelled()
        || ctx.conn.borrow().is_none()
        || matches!(ctx.role, Role::Viewer { .. })
    {
        return Err(SdkError::not_connected(method));
    }
    Ok(())
}

async fn send_prompt(ctx: &Rc<SessionCtx>, text: String, enhance: bool) -> Result<()> {
    ensure_connected(ctx, "setPrompt")?;
    if text.chars().count() > 1000 {
        return Err(SdkError::invalid_option(
            "prompt",
            "at most 1000 characters",
        ));
    }
    let (tx, rx) = oneshot::channel();
    ctx.pending_prompts.borrow_mut().push((text.clone(), tx));
    if let Err(e) = ctx.send(&ClientMessage::Prompt {
        prompt: text.clone(),
        enhance_prompt: enhance,
    }) {
        ctx.pending_prompts.borrow_mut().retain(|(t, _)| t != &text);
        return Err(e);
    }
    let r = bounded(ACK_TIMEOUT_MS, "the prompt acknowledgement", async {
        rx.await.unwrap_or_else(|_| {
            Err(SdkError::new(
                ErrorCode::NotConnected,
                "the connection was lost",
            ))
        })
    })
    .await;
    if r.is_err() {
        ctx.pending_prompts
            .borrow_mut()
            .retain(|(t, s)| t != &text || !s.is_canceled());
    }
    r
}

async fn send_image(
    ctx: &Rc<SessionCtx>,
    image: JsValue,
    prompt: Option<String>,
    enhance: Option<bool>,
    timeout: u32,
) -> Result<()> {
    ensure_connected(ctx, "setImage")?;
    let image_data = if image.is_null() || image.is_undefined() {
        None
    } else {
        Some(image_to_base64(image).await?)
    };
    ensure_connected(ctx, "setImage")?;
    let (tx, rx) = oneshot::channel();
    if let Some(old) = ctx.pending_image.borrow_mut().replace(tx) {
        let _ = old.send(Err(SdkError::new(
            ErrorCode::Aborted,
            "superseded by a newer setImage()",
        )));
    }
    ctx.send(&ClientMessage::SetImage {
        image_data,
        prompt: prompt.map(Some),
        enhance_prompt: enhance,
    })?;
    bounded(timeout, "the image acknowledgement", async {
        rx.await.unwrap_or_else(|_| {
            Err(SdkError::new(
                ErrorCode::NotConnected,
                "the connection was lost",
            ))
        })
    })
    .await
}

/// The model registry: `models.realtime(name)` and `models.list()`.
#[wasm_bindgen(js_name = models)]
pub struct Models;

#[wasm_bindgen(js_class = models)]
impl Models {
    /// The built-in realtime model `name`; unknown names throw `INVALID_OPTIONS`.
    #[wasm_bindgen(unchecked_return_type = "ModelDefinition")]
    pub fn realtime(name: &str) -> std::result::Result<JsValue, JsValue> {
        models::realtime(name)
            .map(|m| to_js(&m))
            .map_err(|e| err_to_js(&e))
    }

    /// Every built-in realtime model.
    #[wasm_bindgen(unchecked_return_type = "ModelDefinition[]")]
    pub fn list() -> JsValue {
        to_js(&models::all())
    }
}
