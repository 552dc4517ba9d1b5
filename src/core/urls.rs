//! URL building: session, IVS session, viewer and viewer-token URLs, and the user agent.
//!
//! Browsers cannot set WebSocket headers, so the API key and the user agent travel as
//! query parameters. Every component is percent-encoded like `encodeURIComponent`.

use crate::core::error::{int, join, SdkError};
use crate::core::models::ModelDefinition;
use std::net::Ipv6Addr;

/// The SDK's own version, from Cargo.toml.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub fn encode_component(s: &str) -> String {
    percent_encode(s, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
    })
}

/// Percent-encodes (upper-case hex) every byte of `s` for which `keep` is false.
pub(crate) fn percent_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// A parsed realtime base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `ws`, `wss`, `http` or `https`.
    pub scheme: String,
    /// Host name or address (IPv6 in brackets), lower case.
    pub host: String,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Path prefix without a trailing slash (usually empty).
    pub path: String,
}

impl BaseUrl {
    /// Parses `scheme://host[:port][/path]`. `http(s)` is accepted and mapped to `ws(s)`
    /// for the WebSocket endpoints. Query and fragment are not allowed.
    ///
    /// Surrounding whitespace is ignored; whitespace, control characters or a backslash
    /// anywhere else are refused. The host is a name of dot-separated labels of
    /// `A-Z a-z 0-9 - _`, an IPv4 address written as four decimal numbers (a host whose
    /// last label is a number must be one), or an IPv6 address in brackets. Parsing the
    /// output of [`BaseUrl::ws_base`] or [`BaseUrl::http_base`] gives the same `BaseUrl`
    /// (up to the `ws`/`http` scheme mapping).
    pub fn parse(input: &str) -> Result<BaseUrl, SdkError> {
        let bad = |why: &str| {
            SdkError::invalid_option(
                "baseUrl",
                &join(&["a ws://, wss://, http:// or https:// URL (", why, ")"]),
            )
        };
        let url = UrlParts::split(input).map_err(|why| bad(&why))?;
        if !matches!(url.scheme.as_str(), "ws" | "wss" | "http" | "https") {
            return Err(bad(&join(&[
                "scheme \"",
                &url.scheme,
                "\" is not supported",
            ])));
        }
        if url.rest.contains(['?', '#']) {
            return Err(bad("query and fragment are not allowed"));
        }
        Ok(BaseUrl {
            scheme: url.scheme,
            host: url.host,
            port: url.port,
            path: url.rest.trim_end_matches('/').to_string(),
        })
    }

    /// True when the host is a loopback address or name: an IPv4 address in
    /// `127.0.0.0/8`, the IPv6 address `::1` (however written), `localhost` or a name
    /// whose last label is `localhost` (`app.localhost`). Decided on the parsed host, so
    /// `127.0.0.1.example.com` is not loopback and a host the parser would refuse never is.
    pub fn is_loopback(&self) -> bool {
        match Host::parse(&self.host) {
            Ok(Host::Ipv4(octets)) => octets[0] == 127,
            Ok(Host::Ipv6(addr)) => addr == Ipv6Addr::LOCALHOST,
            Ok(Host::Name) => {
                let last = self.host.rsplit('.').next().unwrap_or_default();
                last.eq_ignore_ascii_case("localhost")
            }
            Err(_) => false,
        }
    }

    /// True for `wss` / `https`.
    pub fn is_secure(&self) -> bool {
        matches!(self.scheme.as_str(), "wss" | "https")
    }

    fn origin(&self, scheme: &str) -> String {
        let port = self.port.map(|p| int(u64::from(p)));
        match &port {
            Some(p) => join(&[scheme, "://", &self.host, ":", p, &self.path]),
            None => join(&[scheme, "://", &self.host, &self.path]),
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

/// Checks a URL the SDK will send the API key to outside the realtime connection (the
/// telemetry endpoint gets it in a header): `https://` to any host, or `http://` to a
/// loopback host only (see [`BaseUrl::is_loopback`]), so the key never crosses a network
/// in clear text. The error names `option`.
pub fn check_secure_url(url: &str, option: &str) -> Result<(), SdkError> {
    let bad = |why: &str| {
        SdkError::invalid_option(
            option,
            &join(&[
                "an https:// URL, or an http:// URL to a loopback host (",
                why,
                ")",
            ]),
        )
    };
    let parts = UrlParts::split(url).map_err(|why| bad(&why))?;
    let base = BaseUrl {
        scheme: parts.scheme,
        host: parts.host,
        port: parts.port,
        path: String::new(),
    };
    match base.scheme.as_str() {
        "https" => Ok(()),
        "http" if base.is_loopback() => Ok(()),
        "http" => Err(bad(&join(&[
            "http:// would send the API key in clear text to ",
            &base.host,
        ]))),
        other => Err(bad(&join(&["scheme \"", other, "\" is not supported"]))),
    }
}

/// `scheme://authority` split off an absolute URL, the authority checked.
struct UrlParts<'a> {
    /// Lower case.
    scheme: String,
    /// Lower case, IPv6 in brackets.
    host: String,
    port: Option<u16>,
    /// Everything after the authority: path, query, fragment.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(input: &'a str) -> Result<UrlParts<'a>, String> {
        let input = input.trim();
        if input.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err("spaces and control characters are not allowed".into());
        }
        if input.contains('\\') {
            return Err("backslashes are not allowed".into());
        }
        let (scheme, rest) = input.split_once("://").ok_or("no scheme")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = (
            rest.get(..end).unwrap_or_default(),
            rest.get(end..).unwrap_or_default(),
        );
        if authority.contains('@') {
            return Err("credentials in the URL are not allowed".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or("unclosed IPv6 bracket")?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or("junk after the host")?),
                };
                (join(&["[", h, "]"]), port)
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            },
        };
        Host::parse(&host)?;
        let port = match port {
            None => None,
            Some(p) => Some(
                Some(p)
                    .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|p| *p != 0)
                    .ok_or("the port is not a number from 1 to 65535")?,
            ),
        };
        Ok(UrlParts {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
            rest,
        })
    }
}

/// What a valid host is.
enum Host {
    Ipv4([u8; 4]),
    Ipv6(Ipv6Addr),
    /// A name of dot-separated labels of `A-Z a-z 0-9 - _` whose last label is not a number.
    Name,
}

impl Host {
    fn parse(host: &str) -> Result<Host, String> {
        if host.is_empty() {
            return Err("no host".into());
        }
        if let Some(v6) = host.strip_prefix('[') {
            return v6
                .strip_suffix(']')
                .and_then(|a| a.parse::<Ipv6Addr>().ok())
                .map(Host::Ipv6)
                .ok_or_else(|| join(&["\"", host, "\" is not an IPv6 address"]));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !host.split('.').all(label_ok) {
            return Err(join(&[
                "the host \"",
                host,
                "\" is not a name of dot-separated labels of letters, digits, '-' and '_', \
                 nor an IP address",
            ]));
        }
        // Browsers read a host whose last label is a number as an IPv4 address (in
        // octal, hex or fewer parts too); only the plain four-decimal form is accepted.
        let last = host.rsplit('.').next().unwrap_or_default();
        let numeric = last.bytes().all(|b| b.is_ascii_digit())
            || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
        match (numeric, ipv4_octets(host)) {
            (_, Some(octets)) => Ok(Host::Ipv4(octets)),
            (true, None) => Err(join(&[
                "\"",
                host,
                "\" is not an IPv4 address of four decimal numbers 0-255",
            ])),
            (false, None) => Ok(Host::Name),
        }
    }
}

/// `a.b.c.d`, each a decimal number 0-255 without leading zeros.
fn ipv4_octets(host: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = host.split('.');
    for octet in octets.iter_mut() {
        let p = parts.next()?;
        let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits || (p.len() > 1 && p.starts_with('0')) {
            return None;
        }
        *octet = p.parse().ok()?;
    }
    parts.next().is_none().then_some(octets)
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
    join(&[
        &base.ws_base(),
        "/subscribe/",
        &encode_component(sid),
        "?IP=",
        &encode_component(ip),
        "&port=",
        &int(u64::from(port)),
        "&api_key=",
        &encode_component(api_key),
    ])
}

/// `HTTPBASE/v1/subscribe-ivs/SID` (IVS viewer token, key in the `x-api-key` header).
pub fn ivs_viewer_token_url(base: &BaseUrl, sid: &str) -> String {
    join(&[
        &base.http_base(),
        "/v1/subscribe-ivs/",
        &encode_component(sid),
    ])
}

/// `realtime-video-sdk/VERSION lang/rust-wasm [INTEGRATION ]runtime/browser`.
pub fn user_agent(integration: Option<&str>) -> String {
    match integration.map(str::trim).filter(|s| !s.is_empty()) {
        Some(i) => join(&[
            "realtime-video-sdk/",
            SDK_VERSION,
            " lang/rust-wasm ",
            i,
            " runtime/browser",
        ]),
        None => join(&[
            "realtime-video-sdk/",
            SDK_VERSION,
            " lang/rust-wasm runtime/browser",
        ]),
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
    fn loopback_is_decided_on_the_parsed_host() {
        let loopback = |u: &str| BaseUrl::parse(u).map(|b| b.is_loopback());
        for u in [
            "ws://127.0.0.1",
            "ws://127.255.3.4:80",
            "ws://localhost:8787",
            "ws://LOCALHOST",
            "ws://app.localhost",
            "ws://a.b.localhost/x",
            "ws://[::1]",
            "ws://[0:0:0:0:0:0:0:1]:9",
            "ws://[::0:1]",
            "ws://[0000::0001]",
        ] {
            assert_eq!(loopback(u), Ok(true), "{u}");
        }
        for u in [
            "ws://127.0.0.1.attacker.example",
            "ws://localhost.attacker.example",
            "ws://attacker.example",
            "ws://notlocalhost",
            "ws://128.0.0.1",
            "ws://[::2]",
            "ws://[::ffff:127.0.0.1]",
        ] {
            assert_eq!(loopback(u), Ok(false), "{u}");
        }
        // Hosts a browser would read another way, or not at all, are refused.
        for u in [
            "ws://attacker.example\\.localhost",
            "ws://attacker.example%2elocalhost",
            "ws://127.0.0.1%00.attacker.example",
            "ws://127.1",
            "ws://0x7f.0.0.1",
            "ws://0177.0.0.1",
            "ws://127.0.0.01",
            "ws://127.0.0.256",
            "ws://2130706433",
            "ws://127.0.0.1.",
            "ws://.localhost",
            "ws://a..localhost",
            "ws://localhost.",
            "ws://exa mple.com",
            "ws://ex\u{e4}mple.com",
            "ws://[::1%25lo]",
            "ws://[127.0.0.1]",
            "ws://h:+80",
            "ws://h:",
        ] {
            let e = BaseUrl::parse(u).unwrap_err();
            assert!(e.message.contains("`baseUrl`"), "{u}: {e}");
        }
        // A hand-made BaseUrl with a host the parser refuses is not loopback either.
        let forged = BaseUrl {
            scheme: "ws".into(),
            host: "attacker.example\\.localhost".into(),
            port: None,
            path: String::new(),
        };
        assert!(!forged.is_loopback());
    }

    #[test]
    fn control_characters_and_inner_whitespace_are_refused() {
        for u in [
            "ws://h/a b",
            "ws://h/a\u{1}",
            "ws://h\u{7f}",
            "ws://h/\u{85}x",
            "ws://h/ /",
            "ws://h/\ta",
            "ws://h/a\\b",
        ] {
            assert!(BaseUrl::parse(u).is_err(), "{u:?}");
        }
        let b = BaseUrl::parse("  wss://H.example:443/Path//  \n").unwrap();
        assert_eq!(b.ws_base(), "wss://h.example:443/Path");
    }

    #[test]
    fn reparsing_the_output_gives_the_same_base() {
        for u in [
            "ws://127.0.0.1:8080/",
            "HTTPS://API.Example.com/rt//",
            "http://[::ABCD]:9/a//b/",
            "wss://x_y.example/%20/",
        ] {
            let b = BaseUrl::parse(u).unwrap();
            for out in [b.ws_base(), b.http_base()] {
                let again = BaseUrl::parse(&out).unwrap();
                assert_eq!(
                    (&again.host, again.port, &again.path),
                    (&b.host, b.port, &b.path)
                );
                assert_eq!(again.is_secure(), b.is_secure());
                assert_eq!(again.ws_base(), b.ws_base(), "{u} -> {out}");
            }
        }
    }

    #[test]
    fn secure_url_check() {
        for ok in [
            "https://telemetry.example.com/v1/telemetry?x=1",
            "HTTPS://t.example",
            "http://127.0.0.1:8787/v1/telemetry",
            "http://localhost/t",
            "http://[::1]:9/t",
        ] {
            assert_eq!(check_secure_url(ok, "telemetry.url"), Ok(()), "{ok}");
        }
        for bad in [
            "http://telemetry.example.com/v1/telemetry",
            "http://127.0.0.1.attacker.example/t",
            "http://attacker.example\\.localhost/t",
            "ws://127.0.0.1/t",
            "ftp://t.example",
            "t.example/v1",
            "https://u:p@t.example",
            "https://t.example:0",
            "",
        ] {
            let e = check_secure_url(bad, "telemetry.url").unwrap_err();
            assert_eq!(e.code.as_str(), "INVALID_OPTIONS");
            assert!(e.message.contains("`telemetry.url`"), "{bad}: {e}");
        }
        let e = check_secure_url("http://t.example", "telemetry.url").unwrap_err();
        assert!(e.message.contains("clear text"), "{e}");
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
