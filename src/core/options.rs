//! Option validation: the data part of the options a page passes in, checked with messages
//! that name the option. The browser layer extracts the JS-only parts (callbacks, media
//! elements, Blobs, module objects) itself and hands the rest here as JSON.

use crate::core::error::SdkError;
use crate::core::models::{self, ModelDefinition};
use crate::core::token::Transport;
use crate::core::urls::BaseUrl;
use serde_json::{Map, Value};

/// Default stats polling interval, ms.
pub const DEFAULT_STATS_INTERVAL_MS: f64 = 1000.0;
/// Smallest stats polling interval, ms.
pub const MIN_STATS_INTERVAL_MS: f64 = 500.0;
/// Default telemetry URL path on the realtime host.
pub const DEFAULT_TELEMETRY_PATH: &str = "/v1/telemetry";
/// Default telemetry flush interval, ms.
pub const DEFAULT_TELEMETRY_INTERVAL_MS: f64 = 10_000.0;
/// Default pinned IVS Web Broadcast SDK version.
pub const DEFAULT_IVS_SDK_VERSION: &str = "1.41.0";

/// Default CDN URL of the IVS Web Broadcast SDK.
pub fn default_ivs_sdk_url() -> String {
    format!("https://web-broadcast.live-video.net/{DEFAULT_IVS_SDK_VERSION}/amazon-ivs-web-broadcast.js")
}

/// Checked options of `createRealtimeClient`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Realtime base URL.
    pub base_url: BaseUrl,
    /// API key (never logged).
    pub api_key: String,
    /// Integration name for the user agent.
    pub integration: Option<String>,
    /// Telemetry settings; `None` = off (the default).
    pub telemetry: Option<TelemetryOptions>,
}

/// Telemetry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryOptions {
    /// Where reports are POSTed.
    pub url: String,
    /// Flush interval, ms.
    pub interval_ms: f64,
}

/// Latency tracking settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyOptions {
    /// Composite estimate from server metrics and client RTT.
    pub composite: bool,
    /// Pixel-marker probes.
    pub pixel_marker: bool,
    /// Probe interval, ms; 0 = every frame.
    pub probe_interval_ms: f64,
}

/// Initial prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialPrompt {
    /// Text.
    pub text: String,
    /// Enhance flag.
    pub enhance: bool,
}

/// Checked data part of the connect options.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectOptions {
    /// The model.
    pub model: ModelDefinition,
    /// The transport.
    pub transport: Transport,
    /// Initial prompt, if any.
    pub initial_prompt: Option<InitialPrompt>,
    /// Latency tracking; `None` = off.
    pub latency: Option<LatencyOptions>,
    /// Extra query parameters.
    pub extra_query_params: Vec<(String, String)>,
    /// IVS subscribe jitter buffer minimum delay, ms.
    pub jitter_buffer_min_delay: f64,
    /// Stats polling interval, ms (at least 500).
    pub stats_interval_ms: f64,
    /// IVS SDK script URL used when no module is handed in and no global exists.
    pub ivs_sdk_url: String,
    /// Disconnect on `pagehide`.
    pub leave_on_page_hide: bool,
    /// Reconnect after a dropped session.
    pub reconnect: bool,
    /// Retries after a failed connect attempt (initial connect and each reconnect).
    pub max_retries: u32,
}

fn obj<'a>(v: &'a Value, name: &str) -> Result<&'a Map<String, Value>, SdkError> {
    v.as_object()
        .ok_or_else(|| SdkError::invalid_option(name, "an object"))
}

fn check_keys(m: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<(), SdkError> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            return Err(SdkError::invalid_option(
                &name,
                &format!("no such option (known: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn opt_bool(
    m: &Map<String, Value>,
    key: &str,
    name: &str,
    default: bool,
) -> Result<bool, SdkError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(SdkError::invalid_option(name, "true or false")),
    }
}

fn opt_number(
    m: &Map<String, Value>,
    key: &str,
    name: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, SdkError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x >= min && x <= max => Ok(Some(x)),
            _ => Err(SdkError::invalid_option(
                name,
                &format!("a number from {min} to {max}"),
            )),
        },
        Some(_) => Err(SdkError::invalid_option(
            name,
            &format!("a number from {min} to {max}"),
        )),
    }
}

fn opt_string(m: &Map<String, Value>, key: &str, name: &str) -> Result<Option<String>, SdkError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SdkError::invalid_option(name, "a string")),
    }
}

/// Checks the options of `createRealtimeClient({baseUrl, apiKey, integration?, telemetry?,
/// allowInsecure?})`. `wss://`/`https://` is required for a non-loopback host unless
/// `allowInsecure` is true. (`logger` is a JS object taken by the browser layer.)
pub fn client_options(v: &Value) -> Result<ClientOptions, SdkError> {
    let m = obj(v, "options")?;
    check_keys(
        m,
        "",
        &[
            "baseUrl",
            "apiKey",
            "integration",
            "telemetry",
            "allowInsecure",
            "logger",
        ],
    )?;
    let base = opt_string(m, "baseUrl", "baseUrl")?.ok_or_else(|| {
        SdkError::invalid_option("baseUrl", "a ws://, wss://, http:// or https:// URL")
    })?;
    let base_url = BaseUrl::parse(&base)?;
    let allow_insecure = opt_bool(m, "allowInsecure", "allowInsecure", false)?;
    if !base_url.is_secure() && !base_url.is_loopback() && !allow_insecure {
        return Err(SdkError::invalid_option(
            "baseUrl",
            "a wss:// or https:// URL for a non-loopback host (or set allowInsecure: true)",
        ));
    }
    let api_key = opt_string(m, "apiKey", "apiKey")?
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| SdkError::invalid_option("apiKey", "a non-empty string"))?;
    let integration = opt_string(m, "integration", "integration")?;
    let telemetry = match m.get("telemetry") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(TelemetryOptions {
            url: format!("{}{DEFAULT_TELEMETRY_PATH}", base_url.http_base()),
            interval_ms: DEFAULT_TELEMETRY_INTERVAL_MS,
        }),
        Some(t @ Value::Object(_)) => {
            let t = obj(t, "telemetry")?;
            check_keys(t, "telemetry", &["enabled", "url", "intervalMs"])?;
            if opt_bool(t, "enabled", "telemetry.enabled", true)? {
                let url = opt_string(t, "url", "telemetry.url")?
                    .unwrap_or_else(|| format!("{}{DEFAULT_TELEMETRY_PATH}", base_url.http_base()));
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(SdkError::invalid_option(
                        "telemetry.url",
                        "an http:// or https:// URL",
                    ));
                }
                let interval_ms =
                    opt_number(t, "intervalMs", "telemetry.intervalMs", 1000.0, 3_600_000.0)?
                        .unwrap_or(DEFAULT_TELEMETRY_INTERVAL_MS);
                Some(TelemetryOptions { url, interval_ms })
            } else {
                None
            }
        }
        Some(_) => {
            return Err(SdkError::invalid_option(
                "telemetry",
                "true, false or {enabled?, url?, intervalMs?}",
            ))
        }
    };
    Ok(ClientOptions {
        base_url,
        api_key,
        integration,
        telemetry,
    })
}

/// The keys of the connect options that the browser layer handles itself (functions,
/// elements, Blobs, module objects); they are allowed here and otherwise ignored.
pub const JS_ONLY_CONNECT_KEYS: [&str; 4] =
    ["onRemoteStream", "customizeOffer", "ivsModule", "signal"];

/// A number as JavaScript's `String(n)` writes it: integers without a fraction (a JS
/// number arrives as a float, and `3000` must not become `3000.0`).
fn js_number_string(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            format!("{}", f as i64)
        }
        _ => n.to_string(),
    }
}

/// Checks the data part of the connect options.
pub fn connect_options(v: &Value) -> Result<ConnectOptions, SdkError> {
    let m = obj(v, "options")?;
    let mut allowed = vec![
        "model",
        "transport",
        "initialState",
        "latencyTracking",
        "extraQueryParams",
        "jitterBufferMinDelay",
        "statsIntervalMs",
        "ivsSdkUrl",
        "leaveOnPageHide",
        "reconnect",
        "maxRetries",
    ];
    allowed.extend(JS_ONLY_CONNECT_KEYS);
    check_keys(m, "", &allowed)?;

    let model = match m.get("model") {
        Some(Value::String(name)) => models::realtime(name)?,
        Some(Value::Object(def)) => {
            check_keys(def, "model", &["name", "urlPath", "fps", "width", "height"])?;
            let name = opt_string(def, "name", "model.name")?.unwrap_or_default();
            let url_path = opt_string(def, "urlPath", "model.urlPath")?
                .unwrap_or_else(|| models::STREAM_PATH.to_string());
            let int = |k: &str, n: &str| -> Result<u32, SdkError> {
                let x = opt_number(def, k, n, 0.0, 1e9)?
                    .ok_or_else(|| SdkError::invalid_option(n, "an integer"))?;
                if x.fract() != 0.0 {
                    return Err(SdkError::invalid_option(n, "an integer"));
                }
                Ok(x as u32)
            };
            ModelDefinition {
                name,
                url_path,
                fps: int("fps", "model.fps")?,
                width: int("width", "model.width")?,
                height: int("height", "model.height")?,
            }
            .validate()?
        }
        _ => return Err(SdkError::invalid_option(
            "model",
            "a model name (e.g. \"mirage\") or a definition {name, urlPath, fps, width, height}",
        )),
    };

    let transport = match m.get("transport") {
        None | Some(Value::Null) => Transport::Webrtc,
        Some(Value::String(s)) if s == "webrtc" => Transport::Webrtc,
        Some(Value::String(s)) if s == "ivs" => Transport::Ivs,
        Some(_) => {
            return Err(SdkError::invalid_option(
                "transport",
                "\"webrtc\" or \"ivs\"",
            ))
        }
    };

    let initial_prompt = match m.get("initialState") {
        None | Some(Value::Null) => None,
        Some(s) => {
            let s = obj(s, "initialState")?;
            check_keys(s, "initialState", &["prompt", "image"])?;
            match s.get("prompt") {
                None | Some(Value::Null) => None,
                Some(p) => {
                    let p = obj(p, "initialState.prompt")?;
                    check_keys(p, "initialState.prompt", &["text", "enhance"])?;
                    let text = opt_string(p, "text", "initialState.prompt.text")?
                        .filter(|t| !t.trim().is_empty())
                        .ok_or_else(|| {
                            SdkError::invalid_option(
                                "initialState.prompt.text",
                                "a non-empty string",
                            )
                        })?;
                    Some(InitialPrompt {
                        text,
                        enhance: opt_bool(p, "enhance", "initialState.prompt.enhance", true)?,
                    })
                }
            }
        }
    };

    let latency = match m.get("latencyTracking") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(LatencyOptions {
            composite: true,
            pixel_marker: true,
            probe_interval_ms: 2000.0,
        }),
        Some(l) => {
            let l = obj(l, "latencyTracking")?;
            check_keys(
                l,
                "latencyTracking",
                &[
                    "composite",
                    "pixelMarker",
                    "probeIntervalMs",
                    "videoElement",
                ],
            )?;
            let lo = LatencyOptions {
                composite: opt_bool(l, "composite", "latencyTracking.composite", true)?,
                pixel_marker: opt_bool(l, "pixelMarker", "latencyTracking.pixelMarker", true)?,
                probe_interval_ms: opt_number(
                    l,
                    "probeIntervalMs",
                    "latencyTracking.probeIntervalMs",
                    0.0,
                    600_000.0,
                )?
                .unwrap_or(2000.0),
            };
            (lo.composite || lo.pixel_marker).then_some(lo)
        }
    };

    let mut extra_query_params = Vec::new();
    match m.get("extraQueryParams") {
        None | Some(Value::Null) => {}
        Some(Value::Object(q)) => {
            for (k, v) in q {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => js_number_string(n),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(SdkError::invalid_option(
                            &format!("extraQueryParams.{k}"),
                            "a string, number or boolean",
                        ))
                    }
                };
                if ["api_key", "model", "user_agent", "latency_diagnostics"].contains(&k.as_str()) {
                    return Err(SdkError::invalid_option(
                        &format!("extraQueryParams.{k}"),
                        "a parameter the SDK does not set itself",
                    ));
                }
                extra_query_params.push((k.clone(), value));
            }
        }
        Some(_) => {
            return Err(SdkError::invalid_option(
                "extraQueryParams",
                "an object of string values",
            ))
        }
    }

    Ok(ConnectOptions {
        model,
        transport,
        initial_prompt,
        latency,
        extra_query_params,
        jitter_buffer_min_delay: opt_number(
            m,
            "jitterBufferMinDelay",
            "jitterBufferMinDelay",
            0.0,
            10_000.0,
        )?
        .unwrap_or(0.0),
        stats_interval_ms: opt_number(
            m,
            "statsIntervalMs",
            "statsIntervalMs",
            MIN_STATS_INTERVAL_MS,
            3_600_000.0,
        )?
        .unwrap_or(DEFAULT_STATS_INTERVAL_MS),
        ivs_sdk_url: match opt_string(m, "ivsSdkUrl", "ivsSdkUrl")? {
            None => default_ivs_sdk_url(),
            Some(u)
                if u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/') =>
            {
                u
            }
            Some(_) => {
                return Err(SdkError::invalid_option(
                    "ivsSdkUrl",
                    "an http(s):// URL or a path starting with \"/\"",
                ))
            }
        },
        leave_on_page_hide: opt_bool(m, "leaveOnPageHide", "leaveOnPageHide", true)?,
        reconnect: opt_bool(m, "reconnect", "reconnect", true)?,
        max_retries: match opt_number(m, "maxRetries", "maxRetries", 0.0, 20.0)? {
            None => crate::core::retry::RetryPolicy::default().retries,
            Some(n) if n.fract() == 0.0 => n as u32,
            Some(_) => {
                return Err(SdkError::invalid_option(
                    "maxRetries",
                    "an integer from 0 to 20",
                ))
            }
        },
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_options_happy_path_and_defaults() {
        let o = client_options(&json!({"baseUrl": "ws://127.0.0.1:8080", "apiKey": "k"})).unwrap();
        assert_eq!(o.api_key, "k");
        assert_eq!(o.telemetry, None);
        let o = client_options(
            &json!({"baseUrl": "wss://rt.example.com", "apiKey": "k", "telemetry": true}),
        )
        .unwrap();
        assert_eq!(
            o.telemetry.unwrap().url,
            "https://rt.example.com/v1/telemetry"
        );
    }

    #[test]
    fn client_options_errors_name_the_option() {
        let cases = [
            (json!({"apiKey": "k"}), "baseUrl"),
            (json!({"baseUrl": "ws://127.0.0.1", "apiKey": ""}), "apiKey"),
            (json!({"baseUrl": "ws://127.0.0.1", "apiKey": 5}), "apiKey"),
            (
                json!({"baseUrl": "ws://rt.example.com", "apiKey": "k"}),
                "baseUrl",
            ),
            (
                json!({"baseUrl": "ws://127.0.0.1", "apiKey": "k", "telemetry": {"url": "ftp://x"}}),
                "telemetry.url",
            ),
            (
                json!({"baseUrl": "ws://127.0.0.1", "apiKey": "k", "apikey": "k"}),
                "apikey",
            ),
            (json!("nope"), "options"),
        ];
        for (v, name) in cases {
            let e = client_options(&v).unwrap_err();
            assert!(
                e.message.contains(&format!("`{name}`")),
                "{v}: {}",
                e.message
            );
        }
        assert!(client_options(
            &json!({"baseUrl": "ws://rt.example.com", "apiKey": "k", "allowInsecure": true})
        )
        .is_ok());
    }

    #[test]
    fn connect_options_defaults() {
        let o = connect_options(&json!({"model": "mirage"})).unwrap();
        assert_eq!(o.model.fps, 25);
        assert_eq!(o.transport, Transport::Webrtc);
        assert_eq!(o.latency, None);
        assert_eq!(o.stats_interval_ms, 1000.0);
        assert_eq!(o.jitter_buffer_min_delay, 0.0);
        assert!(o
            .ivs_sdk_url
            .contains("/1.41.0/amazon-ivs-web-broadcast.js"));
        assert!(o.leave_on_page_hide && o.reconnect);
    }

    #[test]
    fn connect_options_full() {
        let o = connect_options(&json!({
            "model": {"name": "custom", "urlPath": "/v1/stream", "fps": 30, "width": 640, "height": 480},
            "transport": "ivs",
            "initialState": {"prompt": {"text": "a cat", "enhance": false}},
            "latencyTracking": {"pixelMarker": true, "composite": false, "probeIntervalMs": 0},
            "extraQueryParams": {"a": "b", "n": 3, "f": 3000.0, "h": 0.5},
            "jitterBufferMinDelay": 100,
            "statsIntervalMs": 500,
            "onRemoteStream": null,
        }))
        .unwrap();
        assert_eq!(o.model.width, 640);
        assert_eq!(o.transport, Transport::Ivs);
        assert_eq!(
            o.initial_prompt,
            Some(InitialPrompt {
                text: "a cat".into(),
                enhance: false
            })
        );
        assert_eq!(
            o.latency,
            Some(LatencyOptions {
                composite: false,
                pixel_marker: true,
                probe_interval_ms: 0.0
            })
        );
        assert_eq!(
            o.extra_query_params,
            vec![
                ("a".into(), "b".into()),
                ("f".into(), "3000".into()),
                ("h".into(), "0.5".into()),
                ("n".into(), "3".into())
            ]
        );
        assert_eq!(o.jitter_buffer_min_delay, 100.0);
    }

    #[test]
    fn connect_option_errors_name_the_option() {
        let cases = [
            (json!({}), "model"),
            (json!({"model": "nope"}), "model"),
            (
                json!({"model": {"name": "x", "fps": 30.5, "width": 640, "height": 480}}),
                "model.fps",
            ),
            (
                json!({"model": "mirage", "transport": "carrier-pigeon"}),
                "transport",
            ),
            (
                json!({"model": "mirage", "initialState": {"prompt": {"text": ""}}}),
                "initialState.prompt.text",
            ),
            (
                json!({"model": "mirage", "latencyTracking": {"probeIntervalMs": -1}}),
                "latencyTracking.probeIntervalMs",
            ),
            (json!({"model": "mirage", "maxRetries": 1.5}), "maxRetries"),
            (json!({"model": "mirage", "maxRetries": 21}), "maxRetries"),
            (
                json!({"model": "mirage", "extraQueryParams": {"x": [1]}}),
                "extraQueryParams.x",
            ),
            (
                json!({"model": "mirage", "extraQueryParams": {"api_key": "y"}}),
                "extraQueryParams.api_key",
            ),
            (
                json!({"model": "mirage", "statsIntervalMs": 100}),
                "statsIntervalMs",
            ),
            (
                json!({"model": "mirage", "jitterBufferMinDelay": "5"}),
                "jitterBufferMinDelay",
            ),
            (
                json!({"model": "mirage", "ivsSdkUrl": "javascript:alert(1)"}),
                "ivsSdkUrl",
            ),
            (
                json!({"model": "mirage", "latencyTraking": {}}),
                "latencyTraking",
            ),
        ];
        for (v, name) in cases {
            let e = connect_options(&v).unwrap_err();
            assert!(
                e.message.contains(&format!("`{name}`")),
                "{v}: {}",
                e.message
            );
        }
    }
}

/// What an image given as a string is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageString {
    /// A `data:` URL; holds the base64 payload.
    DataUrl(String),
    /// An `http(s)://` (or `blob:`) URL to fetch.
    Url(String),
    /// Raw base64 image bytes.
    Base64(String),
}

/// Classifies an image string: data URL, URL to fetch, or raw base64 (validated).
pub fn classify_image_string(s: &str) -> Result<ImageString, SdkError> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("data:") {
        let (meta, payload) = rest
            .split_once(',')
            .ok_or_else(|| SdkError::invalid_option("image", "a valid data: URL"))?;
        if !meta.ends_with(";base64") {
            return Err(SdkError::invalid_option("image", "a base64 data: URL"));
        }
        if crate::core::base64::decode(payload).is_none() {
            return Err(SdkError::invalid_option(
                "image",
                "a data: URL with valid base64",
            ));
        }
        return Ok(ImageString::DataUrl(payload.to_string()));
    }
    if t.starts_with("http://") || t.starts_with("https://") || t.starts_with("blob:") {
        return Ok(ImageString::Url(t.to_string()));
    }
    match crate::core::base64::decode(t) {
        Some(bytes) if !bytes.is_empty() => Ok(ImageString::Base64(t.to_string())),
        _ => Err(SdkError::invalid_option(
            "image",
            "a Blob, File, data: URL, http(s) URL or base64 string",
        )),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod image_tests {
    use super::*;

    #[test]
    fn classifies_image_strings() {
        assert_eq!(
            classify_image_string("data:image/png;base64,QUJD").unwrap(),
            ImageString::DataUrl("QUJD".into())
        );
        assert_eq!(
            classify_image_string("https://x/y.png").unwrap(),
            ImageString::Url("https://x/y.png".into())
        );
        assert_eq!(
            classify_image_string("QUJD").unwrap(),
            ImageString::Base64("QUJD".into())
        );
        for bad in [
            "",
            "data:image/png,abc",
            "not base64!",
            "data:image/png;base64,@@",
        ] {
            assert!(
                classify_image_string(bad)
                    .unwrap_err()
                    .message
                    .contains("`image`"),
                "{bad}"
            );
        }
    }
}
