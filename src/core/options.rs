//! The options a page passes in (`shared/API.md` §1.1, §2, §3.1, §7), checked once at the
//! boundary into typed structs, with messages that name the option.
//!
//! One table, [`CONNECT_OPTIONS`], lists every key of the connect and subscribe options:
//! whether it applies to a publishing client, a viewer or both, and whether it is JS-only (a
//! function, element, Blob, signal or module object that the browser layer takes itself). The
//! browser layer converts the options object to [`Json`] without descending into JS-only keys
//! (they arrive as [`Json::Opaque`]) and hands it here. Unknown keys are ignored, as in the
//! reference SDK; a known key of the wrong type is an `INVALID_OPTIONS` error naming it.

use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::json::Json;
use crate::core::latency::DEFAULT_PROBE_INTERVAL_MS;
use crate::core::models::{self, ModelDefinition};
use crate::core::retry::RetryPolicy;
use crate::core::token::Transport;
use crate::core::urls::{check_secure_url, BaseUrl};

/// Default realtime base URL.
pub const DEFAULT_REALTIME_BASE_URL: &str = "wss://api3.decart.ai";
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
/// Default CDN URL of the IVS Web Broadcast SDK (the pinned version).
pub const DEFAULT_IVS_SDK_URL: &str =
    "https://web-broadcast.live-video.net/1.41.0/amazon-ivs-web-broadcast.js";
/// The IVS jitter-buffer presets `jitterBufferMinDelay` accepts besides milliseconds.
pub const JITTER_BUFFER_PRESETS: [&str; 4] = ["default", "low", "medium", "high"];
/// Query parameters the SDK sets itself; `extraQueryParams` may not.
pub const RESERVED_QUERY_PARAMS: [&str; 4] =
    ["api_key", "model", "user_agent", "latency_diagnostics"];

/// Which kind of client an option applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `connect` only.
    Publisher,
    /// `subscribe` only.
    Viewer,
    /// Both.
    Both,
}

/// One key of the connect / subscribe options.
#[derive(Debug, Clone, Copy)]
pub struct OptionKey {
    /// The key.
    pub name: &'static str,
    /// Where it applies.
    pub scope: Scope,
    /// Taken by the browser layer as a JS value (not converted to [`Json`]).
    pub js_only: bool,
}

const fn key(name: &'static str, scope: Scope, js_only: bool) -> OptionKey {
    OptionKey {
        name,
        scope,
        js_only,
    }
}

/// Every key of the connect and subscribe options.
pub const CONNECT_OPTIONS: [OptionKey; 18] = [
    key("model", Scope::Publisher, false),
    key("onRemoteStream", Scope::Both, true),
    key("initialState", Scope::Publisher, false),
    key("customizeOffer", Scope::Publisher, true),
    key("transport", Scope::Publisher, false),
    key("latencyTracking", Scope::Publisher, false),
    key("extraQueryParams", Scope::Publisher, false),
    key("jitterBufferMinDelay", Scope::Both, false),
    key("token", Scope::Viewer, false),
    key("statsIntervalMs", Scope::Both, false),
    key("ivsModule", Scope::Both, true),
    key("ivsSdkUrl", Scope::Both, false),
    key("leaveOnPageHide", Scope::Both, false),
    key("reconnect", Scope::Both, false),
    key("maxRetries", Scope::Both, false),
    key("signal", Scope::Both, true),
    key("iceServers", Scope::Both, false),
    key("iceTransportPolicy", Scope::Both, false),
];

/// The JS-only keys (the browser layer does not convert their values).
pub fn js_only_keys() -> impl Iterator<Item = &'static str> {
    CONNECT_OPTIONS.iter().filter(|k| k.js_only).map(|k| k.name)
}

/// Checked options of `createDecartClient`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Realtime base URL.
    pub base_url: BaseUrl,
    /// API key (never logged).
    pub api_key: String,
    /// Integration name for the user agent and telemetry tags.
    pub integration: Option<String>,
    /// Telemetry settings; `None` = off (the default).
    pub telemetry: Option<TelemetryOptions>,
}

/// Telemetry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryOptions {
    /// Where reports are POSTed (`https:`, or `http:` to a loopback host).
    pub url: String,
    /// Flush interval, ms.
    pub interval_ms: f64,
}

/// Latency tracking settings (`latencyTracking`): flags are off unless `true`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyOptions {
    /// Composite estimate from server metrics and client RTT.
    pub composite: bool,
    /// Pixel-marker probes.
    pub pixel_marker: bool,
    /// Read markers from the remote stream when no `videoElement` is given.
    pub read_from_remote_stream: bool,
    /// Probe interval, ms; 0 = every frame.
    pub probe_interval_ms: f64,
}

/// Initial prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialPrompt {
    /// Text.
    pub text: String,
    /// Enhance flag (default true).
    pub enhance: bool,
}

/// `jitterBufferMinDelay`: milliseconds or an IVS preset, passed to the stage unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum JitterBuffer {
    /// Milliseconds, 0 to 10000.
    Ms(f64),
    /// One of [`JITTER_BUFFER_PRESETS`].
    Preset(String),
}

/// `iceTransportPolicy`: which TURN transport to force (`all` = relay not forced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcePolicy {
    /// Relay over UDP only.
    Udp,
    /// Relay over TCP only.
    Tcp,
    /// Any candidate, TURN servers added.
    All,
}

impl IcePolicy {
    /// The query parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            IcePolicy::Udp => "udp",
            IcePolicy::Tcp => "tcp",
            IcePolicy::All => "all",
        }
    }
}

/// Options that apply to sessions and viewers alike.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonOptions {
    /// IVS subscribe jitter buffer minimum delay.
    pub jitter_buffer: JitterBuffer,
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
    /// Extra ICE servers (`RTCIceServer[]`, checked), added to the peer connection.
    pub ice_servers: Option<Json>,
    /// TURN policy, sent as `ice_transport_policy`.
    pub ice_transport_policy: Option<IcePolicy>,
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
    /// Latency tracking; `None` = off (no `latency_diagnostics`).
    pub latency: Option<LatencyOptions>,
    /// Extra query parameters, in order.
    pub extra_query_params: Vec<(String, String)>,
    /// What viewers take too.
    pub common: CommonOptions,
}

/// Checked data part of the subscribe options.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeOptions {
    /// The session's `subscribeToken`.
    pub token: String,
    /// What sessions take too.
    pub common: CommonOptions,
}

/// Reads of one options object, each naming the option (with its path prefix) on error.
struct Reader<'a> {
    v: &'a Json,
    prefix: String,
}

impl<'a> Reader<'a> {
    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            join(&[&self.prefix, ".", key])
        }
    }

    fn bad(&self, key: &str, expected: &str) -> SdkError {
        SdkError::invalid_option(&self.name(key), expected)
    }

    /// The value, `None` when absent or `undefined`/`null`.
    fn get(&self, key: &str) -> Option<&'a Json> {
        self.v.field(key)
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, SdkError> {
        match self.get(key) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(self.bad(key, "true or false")),
        }
    }

    /// Flags that are off unless exactly `true`; other types are refused.
    fn flag(&self, key: &str) -> Result<bool, SdkError> {
        self.bool(key, false)
    }

    fn number(
        &self,
        key: &str,
        min: f64,
        max: f64,
        expected: &str,
    ) -> Result<Option<f64>, SdkError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Num(n)) if n.is_finite() && *n >= min && *n <= max => Ok(Some(*n)),
            Some(_) => Err(self.bad(key, expected)),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, SdkError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(key, "a string")),
        }
    }

    fn object(&self, key: &str) -> Result<Option<Reader<'a>>, SdkError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Json::Obj(_)) => Ok(Some(Reader {
                v,
                prefix: self.name(key),
            })),
            Some(_) => Err(self.bad(key, "an object")),
        }
    }
}

fn invalid_base_url(value: &str) -> SdkError {
    SdkError::new(
        ErrorCode::InvalidBaseUrl,
        join(&["Invalid base URL: ", value]),
    )
}

/// Checks the options of `createDecartClient` (and of the legacy `createRealtimeClient`).
pub fn client_options(v: &Json) -> Result<ClientOptions, SdkError> {
    let empty = Json::Obj(Vec::new());
    let v = if v.is_null() { &empty } else { v };
    if !matches!(v, Json::Obj(_)) {
        return Err(SdkError::invalid_option("options", "an object"));
    }
    let r = Reader {
        v,
        prefix: String::new(),
    };
    let api_key = match r.get("apiKey") {
        Some(Json::Str(k)) if !k.is_empty() => k.clone(),
        _ => {
            return Err(SdkError::new(
                ErrorCode::InvalidApiKey,
                "Missing API key: pass apiKey (a non-empty string) to createDecartClient",
            ))
        }
    };
    // HTTP-only options: checked, never used for the realtime connection.
    if let Some(base) = r.get("baseUrl") {
        let ok = base.as_str().is_some_and(|u| {
            BaseUrl::parse(u).is_ok_and(|b| matches!(b.scheme.as_str(), "http" | "https"))
        });
        if !ok {
            return Err(invalid_base_url(base.as_str().unwrap_or("(not a string)")));
        }
    }
    if let Some(proxy) = r.get("proxy") {
        let ok = proxy
            .as_str()
            .is_some_and(|p| p.starts_with('/') || BaseUrl::parse(p).is_ok());
        if !ok {
            return Err(invalid_base_url(proxy.as_str().unwrap_or("(not a string)")));
        }
        return Err(SdkError::invalid_option(
            "proxy",
            "no proxy together with apiKey (the proxy holds the key)",
        ));
    }
    let base = r
        .get("realtimeBaseUrl")
        .map_or(Some(DEFAULT_REALTIME_BASE_URL), Json::as_str);
    let base_text = base.unwrap_or("(not a string)");
    let base_url = base
        .and_then(|b| BaseUrl::parse(b).ok())
        .ok_or_else(|| invalid_base_url(base_text))?;
    if !base_url.is_secure() && !base_url.is_loopback() && !r.flag("allowInsecure")? {
        return Err(SdkError::new(
            ErrorCode::InvalidBaseUrl,
            join(&[
                "Invalid base URL: ",
                base_text,
                " (ws:// and http:// only reach loopback hosts; use wss:// or set allowInsecure: true)",
            ]),
        ));
    }
    let integration = r.string("integration")?.map(str::to_string);
    let telemetry = telemetry_options(&r, &base_url)?;
    Ok(ClientOptions {
        base_url,
        api_key,
        integration,
        telemetry,
    })
}

fn telemetry_options(r: &Reader<'_>, base: &BaseUrl) -> Result<Option<TelemetryOptions>, SdkError> {
    let default_url = || join(&[&base.http_base(), DEFAULT_TELEMETRY_PATH]);
    let (url, interval_ms) = match r.get("telemetry") {
        None | Some(Json::Bool(false)) => return Ok(None),
        Some(Json::Bool(true)) => (default_url(), DEFAULT_TELEMETRY_INTERVAL_MS),
        Some(Json::Obj(_)) => {
            let t = r
                .object("telemetry")?
                .ok_or_else(|| r.bad("telemetry", "an object"))?;
            if !t.bool("enabled", true)? {
                return Ok(None);
            }
            let url = t.string("url")?.map_or_else(default_url, str::to_string);
            let interval = t
                .number(
                    "intervalMs",
                    1000.0,
                    3_600_000.0,
                    "a number of ms from 1000 to 3600000",
                )?
                .unwrap_or(DEFAULT_TELEMETRY_INTERVAL_MS);
            (url, interval)
        }
        Some(_) => {
            return Err(r.bad("telemetry", "true, false or {enabled?, url?, intervalMs?}"));
        }
    };
    // The x-api-key header must never travel in clear text off loopback.
    check_secure_url(&url, "telemetry.url")?;
    Ok(Some(TelemetryOptions { url, interval_ms }))
}

fn model_option(r: &Reader<'_>) -> Result<ModelDefinition, SdkError> {
    let expected = "a model definition (models.realtime(name)) or a model name";
    match r.get("model") {
        Some(Json::Str(name)) => models::realtime(name),
        Some(Json::Obj(_)) => {
            let d = r.object("model")?.ok_or_else(|| r.bad("model", expected))?;
            let name = d.string("name")?.unwrap_or_default().to_string();
            let url_path = d
                .string("urlPath")?
                .unwrap_or(models::STREAM_PATH)
                .to_string();
            let int = |k: &str| -> Result<u32, SdkError> {
                d.number(k, 1.0, 1e6, "a whole number of at least 1")?
                    .filter(|x| x.fract() == 0.0)
                    .map(|x| x as u32)
                    .ok_or_else(|| d.bad(k, "a whole number of at least 1"))
            };
            ModelDefinition {
                name,
                url_path,
                fps: int("fps")?,
                width: int("width")?,
                height: int("height")?,
            }
            .validate()
        }
        _ => Err(r.bad("model", expected)),
    }
}

fn initial_prompt(r: &Reader<'_>) -> Result<Option<InitialPrompt>, SdkError> {
    let Some(s) = r.object("initialState")? else {
        return Ok(None);
    };
    let Some(p) = s.object("prompt")? else {
        return Ok(None);
    };
    let text = p
        .string("text")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| p.bad("text", "a non-empty string"))?;
    Ok(Some(InitialPrompt {
        text: text.to_string(),
        enhance: p.bool("enhance", true)?,
    }))
}

fn latency_options(r: &Reader<'_>) -> Result<Option<LatencyOptions>, SdkError> {
    let all = LatencyOptions {
        composite: true,
        pixel_marker: true,
        read_from_remote_stream: true,
        probe_interval_ms: DEFAULT_PROBE_INTERVAL_MS,
    };
    match r.get("latencyTracking") {
        None | Some(Json::Bool(false)) => Ok(None),
        Some(Json::Bool(true)) => Ok(Some(all)),
        Some(Json::Obj(_)) => {
            let l = r
                .object("latencyTracking")?
                .ok_or_else(|| r.bad("latencyTracking", "an object"))?;
            Ok(Some(LatencyOptions {
                composite: l.flag("composite")?,
                pixel_marker: l.flag("pixelMarker")?,
                read_from_remote_stream: l.flag("readFromRemoteStream")?,
                probe_interval_ms: l
                    .number(
                        "probeIntervalMs",
                        0.0,
                        3_600_000.0,
                        "a number of ms, at least 0",
                    )?
                    .unwrap_or(DEFAULT_PROBE_INTERVAL_MS),
            }))
        }
        Some(_) => Err(r.bad(
            "latencyTracking",
            "true or {composite?, pixelMarker?, probeIntervalMs?, videoElement?}",
        )),
    }
}

/// A whole number as query text; other numbers are written by the browser layer (JS
/// `String(n)`) before they get here.
fn whole_number_text(n: f64) -> Option<String> {
    (n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15).then(|| {
        let text = crate::core::error::int(n.abs() as u64);
        if n < 0.0 {
            join(&["-", &text])
        } else {
            text
        }
    })
}

fn extra_query_params(r: &Reader<'_>) -> Result<Vec<(String, String)>, SdkError> {
    let Some(q) = r.object("extraQueryParams")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (k, v) in q.v.as_object().unwrap_or_default() {
        let value = match v {
            Json::Str(s) => Some(s.clone()),
            Json::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
            Json::Num(n) => whole_number_text(*n),
            _ => None,
        }
        .ok_or_else(|| q.bad(k, "a string, number or boolean"))?;
        if RESERVED_QUERY_PARAMS.contains(&k.as_str()) {
            return Err(q.bad(k, "a parameter the SDK does not set itself"));
        }
        out.push((k.clone(), value));
    }
    Ok(out)
}

fn ice_servers(r: &Reader<'_>) -> Result<Option<Json>, SdkError> {
    let expected = "an array of {urls: string | string[], username?, credential?}";
    let Some(v) = r.get("iceServers") else {
        return Ok(None);
    };
    let items = v.as_array().ok_or_else(|| r.bad("iceServers", expected))?;
    for s in items {
        let urls_ok = match s.get("urls") {
            Some(Json::Str(u)) => !u.is_empty(),
            Some(Json::Arr(us)) => !us.is_empty() && us.iter().all(|u| u.as_str().is_some()),
            _ => false,
        };
        let text_ok = |k: &str| matches!(s.field(k), None | Some(Json::Str(_)));
        if !urls_ok || !text_ok("username") || !text_ok("credential") {
            return Err(r.bad("iceServers", expected));
        }
    }
    Ok(Some(v.clone()))
}

fn common_options(r: &Reader<'_>) -> Result<CommonOptions, SdkError> {
    let jitter_buffer = match r.get("jitterBufferMinDelay") {
        None => JitterBuffer::Ms(0.0),
        Some(Json::Num(n)) if n.is_finite() && (0.0..=10_000.0).contains(n) => JitterBuffer::Ms(*n),
        Some(Json::Str(p)) if JITTER_BUFFER_PRESETS.contains(&p.as_str()) => {
            JitterBuffer::Preset(p.clone())
        }
        Some(_) => {
            return Err(r.bad(
                "jitterBufferMinDelay",
                "a number of ms from 0 to 10000 or \"default\", \"low\", \"medium\", \"high\"",
            ))
        }
    };
    let ivs_sdk_url = match r.string("ivsSdkUrl")? {
        None => DEFAULT_IVS_SDK_URL.to_string(),
        Some(u) if u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/') => {
            u.to_string()
        }
        Some(_) => {
            return Err(r.bad(
                "ivsSdkUrl",
                "an http(s):// URL or a path starting with \"/\"",
            ))
        }
    };
    let max_retries = r
        .number("maxRetries", 0.0, 20.0, "a whole number from 0 to 20")?
        .map(|n| {
            (n.fract() == 0.0)
                .then_some(n as u32)
                .ok_or_else(|| r.bad("maxRetries", "a whole number from 0 to 20"))
        })
        .transpose()?
        .unwrap_or(RetryPolicy::default().retries);
    let ice_transport_policy = match r.string("iceTransportPolicy")? {
        None => None,
        Some("udp") => Some(IcePolicy::Udp),
        Some("tcp") => Some(IcePolicy::Tcp),
        Some("all") => Some(IcePolicy::All),
        Some(_) => return Err(r.bad("iceTransportPolicy", "\"udp\", \"tcp\" or \"all\"")),
    };
    Ok(CommonOptions {
        jitter_buffer,
        stats_interval_ms: r
            .number(
                "statsIntervalMs",
                MIN_STATS_INTERVAL_MS,
                3_600_000.0,
                "a number of ms from 500 to 3600000",
            )?
            .unwrap_or(DEFAULT_STATS_INTERVAL_MS),
        ivs_sdk_url,
        leave_on_page_hide: r.bool("leaveOnPageHide", true)?,
        reconnect: r.bool("reconnect", true)?,
        max_retries,
        ice_servers: ice_servers(r)?,
        ice_transport_policy,
    })
}

fn object(v: &Json) -> Result<Reader<'_>, SdkError> {
    if !matches!(v, Json::Obj(_)) {
        return Err(SdkError::invalid_option("options", "an object"));
    }
    Ok(Reader {
        v,
        prefix: String::new(),
    })
}

/// Checks the data part of the connect options.
pub fn connect_options(v: &Json) -> Result<ConnectOptions, SdkError> {
    let r = object(v)?;
    let transport = match r.string("transport")? {
        None | Some("webrtc") => Transport::Webrtc,
        Some("ivs") => Transport::Ivs,
        Some(_) => return Err(r.bad("transport", "\"webrtc\" or \"ivs\"")),
    };
    Ok(ConnectOptions {
        model: model_option(&r)?,
        transport,
        initial_prompt: initial_prompt(&r)?,
        latency: latency_options(&r)?,
        extra_query_params: extra_query_params(&r)?,
        common: common_options(&r)?,
    })
}

/// Checks the data part of the subscribe options (publisher-only keys are ignored).
pub fn subscribe_options(v: &Json) -> Result<SubscribeOptions, SdkError> {
    let r = object(v)?;
    let token = r
        .string("token")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            SdkError::new(
                ErrorCode::InvalidToken,
                "Invalid subscribe token: pass the session's subscribeToken as `token`",
            )
        })?;
    Ok(SubscribeOptions {
        token: token.to_string(),
        common: common_options(&r)?,
    })
}

/// Default bound of ICE gathering in `checkConnectivity()`, ms.
pub const DEFAULT_ICE_GATHER_TIMEOUT_MS: f64 = 5000.0;
/// Default length of the test session of a deep `checkConnectivity()`, ms.
pub const DEFAULT_PREFLIGHT_DURATION_MS: f64 = 5000.0;

/// Checked data part of the `checkConnectivity()` options (`signal` is taken by the browser
/// layer).
#[derive(Debug, Clone, PartialEq)]
pub struct PreflightOptions {
    /// ICE servers to gather with instead of the service's (`RTCIceServer[]`, checked).
    pub ice_servers: Option<Json>,
    /// Bound of ICE gathering, ms.
    pub ice_gather_timeout_ms: f64,
    /// Run a short test session too.
    pub deep: bool,
    /// The model of the test session (default `mirage`).
    pub model: ModelDefinition,
    /// Length of the test session once connected, ms.
    pub duration_ms: f64,
}

/// Checks the data part of the `checkConnectivity()` options (`undefined` = all defaults).
pub fn preflight_options(v: &Json) -> Result<PreflightOptions, SdkError> {
    let empty = Json::Obj(Vec::new());
    let r = object(if v.is_null() { &empty } else { v })?;
    let model = match r.get("model") {
        None => models::realtime("mirage")?,
        Some(_) => model_option(&r)?,
    };
    Ok(PreflightOptions {
        ice_servers: ice_servers(&r)?,
        ice_gather_timeout_ms: r
            .number(
                "iceGatherTimeoutMs",
                100.0,
                60_000.0,
                "a number of ms from 100 to 60000",
            )?
            .unwrap_or(DEFAULT_ICE_GATHER_TIMEOUT_MS),
        deep: r.flag("deep")?,
        model,
        duration_ms: r
            .number(
                "durationMs",
                1000.0,
                60_000.0,
                "a number of ms from 1000 to 60000",
            )?
            .unwrap_or(DEFAULT_PREFLIGHT_DURATION_MS),
    })
}

/// What an image given as a string is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageString {
    /// A `data:` URL; holds the base64 payload.
    DataUrl(String),
    /// An `http(s):` or `blob:` URL to fetch.
    Url(String),
    /// Raw base64 image bytes.
    Base64(String),
}

fn image_error(why: &str) -> SdkError {
    SdkError::new(
        ErrorCode::ImageError,
        join(&["the image is not usable: ", why]),
    )
}

/// Classifies an image string: data URL, URL to fetch, or raw base64 (validated; anything
/// else is `IMAGE_ERROR`).
pub fn classify_image_string(s: &str) -> Result<ImageString, SdkError> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("data:") {
        let (meta, payload) = rest
            .split_once(',')
            .ok_or_else(|| image_error("a data: URL without a comma"))?;
        if !meta.ends_with(";base64") {
            return Err(image_error("a data: URL that is not base64"));
        }
        if crate::core::base64::decode(payload).is_none_or(|b| b.is_empty()) {
            return Err(image_error("a data: URL without valid base64"));
        }
        return Ok(ImageString::DataUrl(payload.to_string()));
    }
    if t.starts_with("http://") || t.starts_with("https://") || t.starts_with("blob:") {
        return Ok(ImageString::Url(t.to_string()));
    }
    match crate::core::base64::decode(t) {
        Some(bytes) if !bytes.is_empty() => Ok(ImageString::Base64(t.to_string())),
        _ => Err(image_error(
            "expected a Blob, File, data: URL, http(s) URL or base64 string",
        )),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::json::parse;

    fn j(text: &str) -> Json {
        parse(text).unwrap()
    }

    #[test]
    fn client_options_defaults() {
        let o = client_options(&j(r#"{"apiKey": "k"}"#)).unwrap();
        assert_eq!(o.base_url.ws_base(), "wss://api3.decart.ai");
        assert_eq!(o.telemetry, None);
        let o = client_options(&j(
            r#"{"apiKey": "k", "realtimeBaseUrl": "wss://rt.example.com", "telemetry": true, "anything": [1]}"#,
        ))
        .unwrap();
        assert_eq!(
            o.telemetry.unwrap().url,
            "https://rt.example.com/v1/telemetry"
        );
        // baseUrl is HTTP-only: it never moves the realtime connection.
        let o = client_options(&j(
            r#"{"apiKey": "k", "baseUrl": "https://api.example.com"}"#,
        ))
        .unwrap();
        assert_eq!(o.base_url.ws_base(), "wss://api3.decart.ai");
    }

    #[test]
    fn client_option_errors_have_the_reference_codes() {
        let cases = [
            (r#"{}"#, ErrorCode::InvalidApiKey),
            (r#"{"apiKey": ""}"#, ErrorCode::InvalidApiKey),
            (r#"{"apiKey": 5}"#, ErrorCode::InvalidApiKey),
            (
                r#"{"apiKey": "k", "realtimeBaseUrl": "nope"}"#,
                ErrorCode::InvalidBaseUrl,
            ),
            (
                r#"{"apiKey": "k", "realtimeBaseUrl": "ws://rt.example.com"}"#,
                ErrorCode::InvalidBaseUrl,
            ),
            (
                r#"{"apiKey": "k", "baseUrl": "nope"}"#,
                ErrorCode::InvalidBaseUrl,
            ),
            (
                r#"{"apiKey": "k", "proxy": "/api"}"#,
                ErrorCode::InvalidOptions,
            ),
            (
                r#"{"apiKey": "k", "proxy": "::"}"#,
                ErrorCode::InvalidBaseUrl,
            ),
            (
                r#"{"apiKey": "k", "integration": 5}"#,
                ErrorCode::InvalidOptions,
            ),
            (
                r#"{"apiKey": "k", "telemetry": "yes"}"#,
                ErrorCode::InvalidOptions,
            ),
        ];
        for (text, code) in cases {
            assert_eq!(client_options(&j(text)).unwrap_err().code, code, "{text}");
        }
        let e = client_options(&j(r#"{"apiKey": "k", "realtimeBaseUrl": "nope"}"#)).unwrap_err();
        assert_eq!(e.message, "Invalid base URL: nope");
        assert!(client_options(&j(
            r#"{"apiKey": "k", "realtimeBaseUrl": "ws://rt.example.com", "allowInsecure": true}"#
        ))
        .is_ok());
    }

    #[test]
    fn telemetry_never_sends_the_key_in_clear_text_off_loopback() {
        for (url, ok) in [
            ("https://t.example.com/v1/telemetry", true),
            ("http://127.0.0.1:9/t", true),
            ("http://t.example.com/t", false),
            ("ftp://x", false),
        ] {
            let text = format!(r#"{{"apiKey": "k", "telemetry": {{"url": "{url}"}}}}"#);
            assert_eq!(client_options(&j(&text)).is_ok(), ok, "{url}");
        }
        let e = client_options(&j(
            r#"{"apiKey": "k", "telemetry": {"url": "http://t.example.com"}}"#,
        ))
        .unwrap_err();
        assert!(e.message.contains("`telemetry.url`"));
    }

    #[test]
    fn telemetry_url_is_checked_by_check_secure_url() {
        for url in [
            "https://t.example.com/v1/telemetry?source=sdk",
            "https://t.example.com/t#x",
            "http://[::1]:9/t",
            "http://app.localhost/t",
            "http://127.0.0.1.example.com/t",
            "ws://127.0.0.1/t",
            "https://user@t.example.com/t",
            "http://t.example.com",
        ] {
            let text = format!(r#"{{"apiKey": "k", "telemetry": {{"url": "{url}"}}}}"#);
            let got = client_options(&j(&text)).map(|o| o.telemetry.map(|t| t.url));
            match check_secure_url(url, "telemetry.url") {
                Ok(()) => assert_eq!(got, Ok(Some(url.to_string())), "{url}"),
                Err(e) => assert_eq!(got, Err(e), "{url}"),
            }
        }
    }

    #[test]
    fn any_non_empty_api_key_is_accepted() {
        for key in ["k", " ", "short", &"x".repeat(4096)] {
            let text = format!(r#"{{"apiKey": "{key}"}}"#);
            assert_eq!(client_options(&j(&text)).unwrap().api_key, key);
        }
    }

    #[test]
    fn connect_options_defaults() {
        let o = connect_options(&j(r#"{"model": "mirage", "onRemoteStream": null}"#)).unwrap();
        assert_eq!(o.model.fps, 25);
        assert_eq!(o.transport, Transport::Webrtc);
        assert_eq!(o.latency, None);
        assert_eq!(o.common.stats_interval_ms, 1000.0);
        assert_eq!(o.common.jitter_buffer, JitterBuffer::Ms(0.0));
        assert_eq!(o.common.ivs_sdk_url, DEFAULT_IVS_SDK_URL);
        assert!(DEFAULT_IVS_SDK_URL.contains(DEFAULT_IVS_SDK_VERSION));
        assert!(o.common.leave_on_page_hide && o.common.reconnect);
        assert_eq!(o.common.max_retries, 5);
    }

    #[test]
    fn latency_flags_are_off_unless_true() {
        let o = connect_options(&j(r#"{"model": "mirage", "latencyTracking": {}}"#)).unwrap();
        let l = o.latency.unwrap();
        assert!(!l.composite && !l.pixel_marker && !l.read_from_remote_stream);
        assert_eq!(l.probe_interval_ms, DEFAULT_PROBE_INTERVAL_MS);
        let l = connect_options(&j(r#"{"model": "mirage", "latencyTracking": true}"#))
            .unwrap()
            .latency
            .unwrap();
        assert!(l.composite && l.pixel_marker && l.read_from_remote_stream);
        let o = connect_options(&j(r#"{"model": "mirage", "latencyTracking": false}"#)).unwrap();
        assert_eq!(o.latency, None);
    }

    #[test]
    fn connect_options_full() {
        let o = connect_options(&j(r#"{
            "model": {"name": "custom", "urlPath": "/v1/stream", "fps": 30, "width": 640, "height": 480},
            "transport": "ivs",
            "initialState": {"prompt": {"text": "a cat", "enhance": false}},
            "latencyTracking": {"pixelMarker": true, "probeIntervalMs": 0},
            "extraQueryParams": {"a": "b", "n": 3, "f": 3000.0, "t": true},
            "jitterBufferMinDelay": "low",
            "statsIntervalMs": 500,
            "iceServers": [{"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "c"}],
            "iceTransportPolicy": "tcp",
            "unknownKey": {"ignored": true}
        }"#))
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
            o.latency.map(|l| (l.pixel_marker, l.probe_interval_ms)),
            Some((true, 0.0))
        );
        let q: Vec<(&str, &str)> = o
            .extra_query_params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(q, [("a", "b"), ("n", "3"), ("f", "3000"), ("t", "true")]);
        assert_eq!(o.common.jitter_buffer, JitterBuffer::Preset("low".into()));
        assert_eq!(o.common.ice_transport_policy, Some(IcePolicy::Tcp));
        assert!(o.common.ice_servers.is_some());
    }

    #[test]
    fn connect_option_errors_name_the_option() {
        let cases = [
            (r#"{}"#, "model"),
            (r#"{"model": 5}"#, "model"),
            (
                r#"{"model": {"name": "x", "fps": 30.5, "width": 640, "height": 480}}"#,
                "model.fps",
            ),
            (
                r#"{"model": {"name": "x", "fps": 30, "width": 0, "height": 480}}"#,
                "model.width",
            ),
            (
                r#"{"model": "mirage", "transport": "carrier-pigeon"}"#,
                "transport",
            ),
            (
                r#"{"model": "mirage", "initialState": {"prompt": {"text": ""}}}"#,
                "initialState.prompt.text",
            ),
            (r#"{"model": "mirage", "initialState": 5}"#, "initialState"),
            (
                r#"{"model": "mirage", "latencyTracking": {"probeIntervalMs": -1}}"#,
                "latencyTracking.probeIntervalMs",
            ),
            (
                r#"{"model": "mirage", "latencyTracking": {"composite": "yes"}}"#,
                "latencyTracking.composite",
            ),
            (r#"{"model": "mirage", "maxRetries": 1.5}"#, "maxRetries"),
            (r#"{"model": "mirage", "maxRetries": 21}"#, "maxRetries"),
            (
                r#"{"model": "mirage", "extraQueryParams": {"x": [1]}}"#,
                "extraQueryParams.x",
            ),
            (
                r#"{"model": "mirage", "extraQueryParams": {"api_key": "y"}}"#,
                "extraQueryParams.api_key",
            ),
            (
                r#"{"model": "mirage", "statsIntervalMs": 100}"#,
                "statsIntervalMs",
            ),
            (
                r#"{"model": "mirage", "jitterBufferMinDelay": "5"}"#,
                "jitterBufferMinDelay",
            ),
            (
                r#"{"model": "mirage", "jitterBufferMinDelay": 10001}"#,
                "jitterBufferMinDelay",
            ),
            (
                r#"{"model": "mirage", "ivsSdkUrl": "javascript:alert(1)"}"#,
                "ivsSdkUrl",
            ),
            (
                r#"{"model": "mirage", "iceServers": [{"urls": 5}]}"#,
                "iceServers",
            ),
            (
                r#"{"model": "mirage", "iceTransportPolicy": "relay"}"#,
                "iceTransportPolicy",
            ),
        ];
        for (text, name) in cases {
            let e = connect_options(&j(text)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidOptions, "{text}");
            assert!(
                e.message.contains(&format!("`{name}`")),
                "{text}: {}",
                e.message
            );
        }
        let e = connect_options(&j(r#"{"model": "nope"}"#)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ModelNotFound);
    }

    #[test]
    fn subscribe_takes_the_viewer_subset() {
        let o = subscribe_options(&j(
            r#"{"token": "t", "model": 5, "initialState": 1, "statsIntervalMs": 700}"#,
        ))
        .unwrap();
        assert_eq!((o.token.as_str(), o.common.stats_interval_ms), ("t", 700.0));
        for bad in [r#"{}"#, r#"{"token": ""}"#, r#"{"token": 5}"#] {
            let e = subscribe_options(&j(bad)).unwrap_err();
            assert!(
                matches!(e.code, ErrorCode::InvalidToken | ErrorCode::InvalidOptions),
                "{bad}"
            );
        }
        assert_eq!(
            subscribe_options(&j(r#"{}"#)).unwrap_err().code,
            ErrorCode::InvalidToken
        );
        let viewer_keys: Vec<&str> = CONNECT_OPTIONS
            .iter()
            .filter(|k| k.scope != Scope::Publisher)
            .map(|k| k.name)
            .collect();
        assert!(viewer_keys.contains(&"token") && !viewer_keys.contains(&"model"));
        assert!(js_only_keys().eq(["onRemoteStream", "customizeOffer", "ivsModule", "signal"]));
    }

    #[test]
    fn preflight_options_have_defaults_and_name_a_bad_option() {
        let d = preflight_options(&Json::Null).unwrap();
        assert_eq!(d.ice_servers, None);
        assert_eq!(d.ice_gather_timeout_ms, DEFAULT_ICE_GATHER_TIMEOUT_MS);
        assert!(!d.deep);
        assert_eq!(d.model.name, "mirage");
        assert_eq!(d.duration_ms, DEFAULT_PREFLIGHT_DURATION_MS);
        let o = preflight_options(&j(
            r#"{"deep": true, "model": "lucy_2_rt", "durationMs": 3000, "iceGatherTimeoutMs": 800,
               "iceServers": [{"urls": "turn:127.0.0.1:3478", "username": "u", "credential": "c"}]}"#,
        ))
        .unwrap();
        assert!(o.deep);
        assert_eq!((o.model.name.as_str(), o.model.fps), ("lucy_2_rt", 20));
        assert_eq!((o.duration_ms, o.ice_gather_timeout_ms), (3000.0, 800.0));
        assert!(o.ice_servers.is_some());
        for (bad, name) in [
            (r#"{"deep": "yes"}"#, "deep"),
            (r#"{"durationMs": 10}"#, "durationMs"),
            (r#"{"iceGatherTimeoutMs": -1}"#, "iceGatherTimeoutMs"),
            (r#"{"iceServers": [{"urls": 3}]}"#, "iceServers"),
            (r#"{"model": "nope"}"#, "nope"),
            ("7", "options"),
        ] {
            let e = preflight_options(&j(bad)).unwrap_err();
            assert!(e.message.contains(name), "{bad}: {}", e.message);
        }
    }

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
            assert_eq!(
                classify_image_string(bad).unwrap_err().code,
                ErrorCode::ImageError,
                "{bad}"
            );
        }
    }
}
