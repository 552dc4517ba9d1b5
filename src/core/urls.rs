//! URL building: session, IVS session, viewer and viewer-token URLs, and the user agent.
//!
//! Browsers cannot set WebSocket headers, so the API key and the user agent travel as
//! query parameters. Every component is percent-encoded like `encodeURIComponent`.

use crate::core::error::SdkError;
use crate::core::models::ModelDefinition;

/// The SDK's own version, from Cargo.toml.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// A parsed realtime base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `ws`, `wss`, `http` or `https`.
    pub scheme: String,
    /// Host name or address (IPv6 in brackets).
    pub host: String,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Path prefix without a trailing slash (usually empty).
    pub path: String,
}

impl BaseUrl {
    /// Parses `scheme://host[:port][/path]`. `http(s)` is accepted and mapped to `ws(s)`
    /// for the WebSocket endpoints. Query and fragment are not allowed.
    pub fn parse(input: &str) -> Result<BaseUrl, SdkError> {
        let bad = |why: &str| {
            SdkError::invalid_option(
                "baseUrl",
                &format!("a ws://, wss://, http:// or https:// URL ({why})"),
            )
        };
        let input = input.trim();
        let (scheme, rest) = input.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "ws" | "wss" | "http" | "https") {
            return Err(bad(&format!("scheme \"{scheme}\" is not supported")));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("query and fragment are not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not allowed"));
        }
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let (h, after) = stripped
                .split_once(']')
                .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("junk after the host"))?,
                ),
            };
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(bad("no host"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            ),
        };
        Ok(BaseUrl {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }

    /// True when the host is a loopback name or address.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        h == "localhost" || h.ends_with(".localhost") || h.starts_with("127.") || h == "[::1]"
    }

    /// True for `wss` / `https`.
    pub fn is_secure(&self) -> bool {
        matches!(self.scheme.as_str(), "wss" | "https")
    }

    fn origin(&self, scheme: &str) -> String {
        match self.port {
            Some(p) => format!("{scheme}://{}:{p}{}", self.host, self.path),
            None => format!("{scheme}://{}{}", self.host, self.path),
        }
    }

    /// The WebSocket form of the base (`http`→`ws`, `https`→`wss`).
    pub fn ws_base(&self) -> String {
        self.origin(if self.is_secure() { "wss" } else { "ws" })
    }

    /// The HTTP form of the base (`ws`→`http`, `wss`→`https`).
    pub fn http_base(&self) -> String {
        self.origin(if self.is_secure() { "https" } else { "http" })
    }
}

/// What goes into a session URL.
#[derive(Debug, Clone)]
pub struct SessionUrlParams<'a> {
    /// The model.
    pub model: &'a ModelDefinition,
    /// API key (query parameter `api_key`).
    pub api_key: &'a str,
    /// Adds `latency_diagnostics=true`.
    pub latency_diagnostics: bool,
    /// Extra query parameters, appended in order.
    pub extra: &'a [(String, String)],
    /// The user agent string (see [`user_agent`]).
    pub user_agent: &'a str,
    /// IVS transport: the path gets the `-ivs` suffix.
    pub ivs: bool,
}

/// `BASE/v1/stream[-ivs]?api_key=KEY&model=MODEL[&latency_diagnostics=true][&EXTRA...]&user_agent=UA`.
pub fn session_url(base: &BaseUrl, p: &SessionUrlParams<'_>) -> String {
    let mut url = base.ws_base();
    url.push_str(&p.model.url_path);
    if p.ivs {
        url.push_str("-ivs");
    }
    url.push_str("?api_key=");
    url.push_str(&encode_component(p.api_key));
    url.push_str("&model=");
    url.push_str(&encode_component(&p.model.name));
    if p.latency_diagnostics {
        url.push_str("&latency_diagnostics=true");
    }
    for (k, v) in p.extra {
        url.push('&');
        url.push_str(&encode_component(k));
        url.push('=');
        url.push_str(&encode_component(v));
    }
    url.push_str("&user_agent=");
    url.push_str(&encode_component(p.user_agent));
    url
}

/// `BASE/subscribe/SID?IP=IP&port=PORT&api_key=KEY` (WebRTC viewer WebSocket).
pub fn viewer_url(base: &BaseUrl, sid: &str, ip: &str, port: u16, api_key: &str) -> String {
    format!(
        "{}/subscribe/{}?IP={}&port={port}&api_key={}",
        base.ws_base(),
        encode_component(sid),
        encode_component(ip),
        encode_component(api_key)
    )
}

/// `HTTPBASE/v1/subscribe-ivs/SID` (IVS viewer token, key in the `x-api-key` header).
pub fn ivs_viewer_token_url(base: &BaseUrl, sid: &str) -> String {
    format!(
        "{}/v1/subscribe-ivs/{}",
        base.http_base(),
        encode_component(sid)
    )
}

/// `realtime-video-sdk/VERSION lang/rust-wasm [INTEGRATION ]runtime/browser`.
pub fn user_agent(integration: Option<&str>) -> String {
    match integration.map(str::trim).filter(|s| !s.is_empty()) {
        Some(i) => format!("realtime-video-sdk/{SDK_VERSION} lang/rust-wasm {i} runtime/browser"),
        None => format!("realtime-video-sdk/{SDK_VERSION} lang/rust-wasm runtime/browser"),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::models;

    #[test]
    fn encodes_like_encode_uri_component_for_unreserved() {
        assert_eq!(encode_component("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn parses_bases() {
        let b = BaseUrl::parse("ws://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (b.scheme.as_str(), b.host.as_str(), b.port, b.path.as_str()),
            ("ws", "127.0.0.1", Some(8080), "")
        );
        assert!(b.is_loopback() && !b.is_secure());
        let b = BaseUrl::parse("https://API.example.com/rt").unwrap();
        assert_eq!(b.ws_base(), "wss://api.example.com/rt");
        assert_eq!(b.http_base(), "https://api.example.com/rt");
        let b = BaseUrl::parse("ws://[::1]:9").unwrap();
        assert!(b.is_loopback());
        assert_eq!(b.http_base(), "http://[::1]:9");
        for bad in [
            "",
            "127.0.0.1:80",
            "ftp://x",
            "ws://",
            "ws://h:0",
            "ws://h:99999",
            "ws://h/?a=1",
            "ws://u:p@h",
            "ws://[::1",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(e.message.contains("`baseUrl`"), "{bad}: {e}");
        }
    }

    #[test]
    fn session_url_has_every_parameter_encoded() {
        let base = BaseUrl::parse("ws://127.0.0.1:9000").unwrap();
        let model = models::realtime("mirage").unwrap();
        let extra = vec![("room id".to_string(), "a&b".to_string())];
        let ua = user_agent(Some("my-app/1"));
        let url = session_url(
            &base,
            &SessionUrlParams {
                model: &model,
                api_key: "k+y",
                latency_diagnostics: true,
                extra: &extra,
                user_agent: &ua,
                ivs: false,
            },
        );
        assert_eq!(
            url,
            format!(
                "ws://127.0.0.1:9000/v1/stream?api_key=k%2By&model=mirage&latency_diagnostics=true&room%20id=a%26b&user_agent={}",
                encode_component(&ua)
            )
        );
        let url = session_url(
            &base,
            &SessionUrlParams {
                model: &model,
                api_key: "k",
                latency_diagnostics: false,
                extra: &[],
                user_agent: "u",
                ivs: true,
            },
        );
        assert_eq!(
            url,
            "ws://127.0.0.1:9000/v1/stream-ivs?api_key=k&model=mirage&user_agent=u"
        );
    }

    #[test]
    fn viewer_urls() {
        let base = BaseUrl::parse("wss://rt.example.com").unwrap();
        assert_eq!(
            viewer_url(&base, "s/1", "10.0.0.1", 443, "k"),
            "wss://rt.example.com/subscribe/s%2F1?IP=10.0.0.1&port=443&api_key=k"
        );
        assert_eq!(
            ivs_viewer_token_url(&base, "s1"),
            "https://rt.example.com/v1/subscribe-ivs/s1"
        );
    }

    #[test]
    fn user_agent_shape() {
        assert!(user_agent(None).starts_with("realtime-video-sdk/"));
        assert!(user_agent(None).ends_with(" lang/rust-wasm runtime/browser"));
        assert!(user_agent(Some(" x ")).contains(" x runtime/browser"));
    }
}
