//! Reading the options a page passes in: the data part is converted to [`Json`] (without
//! descending into the JS-only keys of the core's option table) and checked by the core; the
//! JS-only values (callbacks, elements, Blobs, signals, module objects) are taken here.

use crate::core::error::SdkError;
use crate::core::json::Json;
use crate::core::options::{
    self, js_only_keys, ClientOptions, ConnectOptions, PreflightOptions, SubscribeOptions,
};
use crate::web::error::Result;
use crate::web::js::{get, is_nullish, to_json};
use crate::web::log::Logger;
use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{EventTarget, HtmlVideoElement};

/// The checked connect options and their JS-only values.
pub struct ConnectInput {
    /// Checked data options.
    pub opts: ConnectOptions,
    /// What both kinds of client take.
    pub js: JsOptions,
    /// `customizeOffer`.
    pub customize_offer: Option<Function>,
    /// `initialState.image` (a Blob, File or string), when given.
    pub image: Option<JsValue>,
    /// `latencyTracking.videoElement`.
    pub latency_video: Option<HtmlVideoElement>,
}

/// The checked subscribe options and their JS-only values.
pub struct SubscribeInput {
    /// Checked data options.
    pub opts: SubscribeOptions,
    /// What both kinds of client take.
    pub js: JsOptions,
}

/// JS-only options of sessions and viewers.
pub struct JsOptions {
    /// `onRemoteStream`.
    pub on_remote_stream: Function,
    /// `ivsModule`.
    pub ivs_module: Option<JsValue>,
    /// `signal`.
    pub signal: Option<EventTarget>,
}

/// The options object as [`Json`]: JS-only keys are not descended into, and the values of
/// `extraQueryParams` that are numbers are written as JavaScript writes them (`String(n)`).
fn data(o: &JsValue) -> Json {
    let skip: Vec<&str> = js_only_keys().collect();
    let mut v = to_json(o, &skip);
    let query = get(o, "extraQueryParams");
    if let Json::Obj(members) = &mut v {
        for (k, value) in members.iter_mut() {
            if k != "extraQueryParams" {
                continue;
            }
            if let Json::Obj(params) = value {
                for (name, p) in params.iter_mut() {
                    if let Json::Num(_) = p {
                        let n = js_sys::Number::from(get(&query, name));
                        if let Some(text) =
                            n.to_string_with_radix(10).ok().and_then(|s| s.as_string())
                        {
                            *p = Json::Str(text);
                        }
                    }
                }
            }
        }
    }
    v
}

fn function(o: &JsValue, key: &str, expected: &str) -> Result<Option<Function>> {
    let v = get(o, key);
    if is_nullish(&v) {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| SdkError::invalid_option(key, expected))
}

fn js_options(o: &JsValue) -> Result<JsOptions> {
    let on_remote_stream = function(
        o,
        "onRemoteStream",
        "a function (stream: MediaStream) => void",
    )?
    .ok_or_else(|| {
        SdkError::invalid_option("onRemoteStream", "a function (stream: MediaStream) => void")
    })?;
    let ivs_module = get(o, "ivsModule");
    let ivs_module = if is_nullish(&ivs_module) {
        None
    } else {
        Some(crate::web::transport::ivs_sdk::module_option(&ivs_module)?)
    };
    Ok(JsOptions {
        on_remote_stream,
        ivs_module,
        signal: signal(o)?,
    })
}

/// The `signal` option: an `AbortSignal`, or nothing.
fn signal(o: &JsValue) -> Result<Option<EventTarget>> {
    let signal = get(o, "signal");
    if is_nullish(&signal) {
        Ok(None)
    } else if get(&signal, "aborted").as_bool().is_some() {
        signal
            .dyn_into::<EventTarget>()
            .map(Some)
            .map_err(|_| SdkError::invalid_option("signal", "an AbortSignal"))
    } else {
        Err(SdkError::invalid_option("signal", "an AbortSignal"))
    }
}

fn object(o: &JsValue) -> Result<()> {
    if o.is_object() {
        Ok(())
    } else {
        Err(SdkError::invalid_option("options", "an object"))
    }
}

/// `connect(stream, options)`'s options.
pub fn connect_input(o: &JsValue) -> Result<ConnectInput> {
    object(o)?;
    let opts = options::connect_options(&data(o))?;
    let image = get(&get(o, "initialState"), "image");
    let video = get(&get(o, "latencyTracking"), "videoElement");
    let latency_video = if is_nullish(&video) {
        None
    } else {
        Some(video.dyn_into().map_err(|_| {
            SdkError::invalid_option("latencyTracking.videoElement", "an HTMLVideoElement")
        })?)
    };
    Ok(ConnectInput {
        opts,
        js: js_options(o)?,
        customize_offer: function(
            o,
            "customizeOffer",
            "a function (offer) => void | Promise<void>",
        )?,
        image: (!is_nullish(&image)).then_some(image),
        latency_video,
    })
}

/// `subscribe(options)`'s options.
pub fn subscribe_input(o: &JsValue) -> Result<SubscribeInput> {
    object(o)?;
    Ok(SubscribeInput {
        opts: options::subscribe_options(&data(o))?,
        js: js_options(o)?,
    })
}

/// `checkConnectivity(options?)`'s options and its `signal`.
pub fn preflight_input(o: &JsValue) -> Result<(PreflightOptions, Option<EventTarget>)> {
    if is_nullish(o) {
        return Ok((options::preflight_options(&Json::Null)?, None));
    }
    object(o)?;
    Ok((
        options::preflight_options(&to_json(o, &["signal"]))?,
        signal(o)?,
    ))
}

/// `createDecartClient(options)`'s options and its logger.
pub fn client_options(o: &JsValue) -> Result<(ClientOptions, Logger)> {
    let opts = options::client_options(&to_json(o, &["logger"]))?;
    let logger = Logger::from_option(&get(o, "logger"), &opts.api_key)?;
    Ok((opts, logger))
}
