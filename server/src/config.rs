//! Command-line configuration of the reference server (hand-rolled: a few flags do not need
//! a parser crate).

use crate::limits::Limits;
use crate::transform::MediaMode;
use crate::turn::TurnServer;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

/// What the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to bind (HTTP/WebSocket and the one UDP media socket) and to advertise as
    /// the only ICE host candidate.
    pub host: IpAddr,
    /// HTTP port; 0 picks a free one (tests).
    pub port: u16,
    /// Static files served at `/`.
    pub www: PathBuf,
    /// Static files served at `/pkg/`.
    pub pkg: PathBuf,
    /// Accepted API keys; `None` accepts any non-empty key.
    pub api_keys: Option<BTreeSet<String>>,
    /// Static files served at `/vendor/` (e.g. the IVS Web Broadcast SDK's `dist`); off
    /// when `None`.
    pub vendor: Option<PathBuf>,
    /// The `Content-Security-Policy` of HTML responses; `None` sends none.
    pub csp: Option<String>,
    /// What sessions do with media unless their `media_mode` says otherwise.
    pub media_mode: MediaMode,
    /// Limits against hostile clients (`--limit NAME=VALUE`).
    pub limits: Limits,
    /// The TURN server sessions are told about (`--turn-urls`, `--turn-secret`).
    pub turn: Option<TurnServer>,
}

/// The default `Content-Security-Policy` of HTML pages: scripts from this server only (and
/// the IVS SDK's CDN), WebAssembly allowed, no inline script or style, no eval.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' https://web-broadcast.live-video.net; connect-src 'self' ws: wss: http: https:; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self'; worker-src 'self' blob:";

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8787,
            www: PathBuf::from("www"),
            pkg: PathBuf::from("pkg"),
            api_keys: None,
            vendor: None,
            csp: Some(DEFAULT_CSP.to_string()),
            media_mode: MediaMode::Echo,
            limits: Limits::default(),
            turn: None,
        }
    }
}

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
realtime-reference-server: local reference realtime server (WebSocket signaling, WebRTC echo or
VP8 transform and fan-out with str0m, fault injection, network impairment, IVS stage
emulation)

USAGE:
    realtime-reference-server [OPTIONS]

OPTIONS:
    --host ADDR         address to bind and advertise as the only ICE candidate [default: 127.0.0.1]
    --port PORT         HTTP/WebSocket port, 0 = any free port [default: 8787]
    --www DIR           static files served at / [default: www]
    --pkg DIR           static files served at /pkg/ [default: pkg]
    --api-keys K1,K2    accepted API keys [default: any non-empty key]
    --vendor DIR        static files served at /vendor/ (e.g. the amazon-ivs-web-broadcast
                        dist folder) [default: off]
    --csp POLICY        Content-Security-Policy header of HTML responses [default: a strict
                        policy, see server/README.md]
    --no-csp            send no Content-Security-Policy header
    --media-mode MODE   echo (media back unchanged) or transform (VP8 decoded, restyled by
                        the prompt, re-encoded); a session's media_mode overrides it
                        [default: echo]
    --turn-urls URLS    TURN server(s) sent to each session in `turn_config`, comma-separated
                        (e.g. turn:127.0.0.1:3478) [default: none]
    --turn-secret S     the TURN server's shared secret (coturn static-auth-secret), for
                        REST-style credentials; required with --turn-urls
    --limit NAME=VALUE  override a limit against hostile clients (repeatable); names and
                        defaults in server/README.md, e.g. --limit max_connections=200
    -h, --help          print this help

Always served: /ivs-emulator.js (classic script defining the global IVSBroadcastClient)
and /ivs-emulator.mjs (the same as an ES module), the IVS stage emulator.

Logging follows RUST_LOG (default: info). See server/README.md for endpoints and faults.";

/// The outcome of parsing the command line (made once: the size of `Run` does not matter).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Cli {
    /// Run with this configuration.
    Run(Config),
    /// Print [`USAGE`] and exit successfully.
    Help,
}

impl Config {
    /// Whether `key` may open sessions.
    pub fn accepts_key(&self, key: Option<&str>) -> bool {
        match key {
            None | Some("") => false,
            Some(k) => self.api_keys.as_ref().is_none_or(|keys| keys.contains(k)),
        }
    }

    /// Parses the arguments after the program name. Flags take `--flag VALUE` or
    /// `--flag=VALUE`.
    pub fn parse_args<I, S>(args: I) -> Result<Cli, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = Config::default();
        let (mut turn_urls, mut turn_secret) = (None, None);
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(Cli::Help);
            }
            if arg == "--no-csp" {
                config.csp = None;
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if !matches!(
                flag.as_str(),
                "--host"
                    | "--port"
                    | "--www"
                    | "--pkg"
                    | "--api-keys"
                    | "--vendor"
                    | "--csp"
                    | "--media-mode"
                    | "--limit"
                    | "--turn-urls"
                    | "--turn-secret"
            ) {
                return Err(format!("unknown argument `{arg}` (try --help)"));
            }
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            match flag.as_str() {
                "--host" => {
                    config.host = value
                        .parse()
                        .map_err(|_| format!("--host: `{value}` is not an IP address"))?;
                }
                "--port" => {
                    config.port = value
                        .parse()
                        .map_err(|_| format!("--port: `{value}` is not a port number"))?;
                }
                "--limit" => config.limits.set_pair(&value)?,
                "--turn-urls" => turn_urls = Some(TurnServer::parse_urls(&value)?),
                "--turn-secret" => {
                    if value.is_empty() {
                        return Err("--turn-secret: give a non-empty secret".into());
                    }
                    turn_secret = Some(value);
                }
                "--www" => config.www = PathBuf::from(value),
                "--pkg" => config.pkg = PathBuf::from(value),
                "--vendor" => config.vendor = Some(PathBuf::from(value)),
                "--media-mode" => config.media_mode = MediaMode::parse("--media-mode", &value)?,
                "--csp" => {
                    if value.trim().is_empty() || !value.chars().all(|c| (' '..='~').contains(&c)) {
                        return Err(
                            "--csp: give a one-line printable ASCII policy (or --no-csp)".into(),
                        );
                    }
                    config.csp = Some(value);
                }
                _ => {
                    let keys: BTreeSet<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect();
                    if keys.is_empty() {
                        return Err("--api-keys: give at least one non-empty key".into());
                    }
                    config.api_keys = Some(keys);
                }
            }
        }
        config.turn = match (turn_urls, turn_secret) {
            (Some(urls), Some(secret)) => Some(TurnServer { urls, secret }),
            (None, None) => None,
            _ => return Err("--turn-urls and --turn-secret go together".into()),
        };
        Ok(Cli::Run(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match Config::parse_args(args.iter().copied()) {
            Ok(Cli::Run(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert_eq!(c.port, 8787);
        assert_eq!(c.www, PathBuf::from("www"));
        assert_eq!(c.pkg, PathBuf::from("pkg"));
        assert!(c.accepts_key(Some("anything")));
        assert!(!c.accepts_key(Some("")));
        assert!(!c.accepts_key(None));
        assert_eq!(c.vendor, None);
        assert_eq!(c.csp.as_deref(), Some(DEFAULT_CSP));
    }

    #[test]
    fn media_mode() {
        assert_eq!(run(&[]).media_mode, MediaMode::Echo);
        assert_eq!(
            run(&["--media-mode", "transform"]).media_mode,
            MediaMode::Transform
        );
        assert_eq!(run(&["--media-mode=echo"]).media_mode, MediaMode::Echo);
        assert!(Config::parse_args(["--media-mode", "model"])
            .unwrap_err()
            .contains("--media-mode"));
    }

    #[test]
    fn vendor_and_csp() {
        let c = run(&["--vendor", "/tmp/v", "--csp", "default-src 'none'"]);
        assert_eq!(c.vendor, Some(PathBuf::from("/tmp/v")));
        assert_eq!(c.csp.as_deref(), Some("default-src 'none'"));
        assert_eq!(run(&["--no-csp"]).csp, None);
        assert!(Config::parse_args(["--csp", " "]).is_err());
        assert!(Config::parse_args(["--csp", "a\nb"]).is_err());
        assert!(Config::parse_args(["--csp"]).is_err());
    }

    #[test]
    fn all_flags_both_forms() {
        let c = run(&[
            "--host",
            "127.0.0.2",
            "--port=0",
            "--www",
            "/tmp/w",
            "--pkg=/tmp/p",
            "--api-keys",
            "a, b,,",
        ]);
        assert_eq!(c.host.to_string(), "127.0.0.2");
        assert_eq!(c.port, 0);
        assert_eq!(c.www, PathBuf::from("/tmp/w"));
        assert_eq!(c.pkg, PathBuf::from("/tmp/p"));
        assert!(c.accepts_key(Some("a")) && c.accepts_key(Some("b")));
        assert!(!c.accepts_key(Some("c")));
    }

    #[test]
    fn limits_and_turn() {
        let c = run(&[
            "--limit",
            "max_connections=7",
            "--limit=header_timeout_ms=300",
            "--turn-urls",
            "turn:127.0.0.1:3478",
            "--turn-secret=s3cret",
        ]);
        assert_eq!(c.limits.max_connections, 7);
        assert_eq!(
            c.limits.header_timeout,
            std::time::Duration::from_millis(300)
        );
        let turn = c.turn.unwrap();
        assert_eq!(turn.urls, ["turn:127.0.0.1:3478"]);
        assert_eq!(turn.secret, "s3cret");
        assert!(Config::parse_args(["--limit", "nope=1"]).is_err());
        assert!(Config::parse_args(["--turn-urls", "turn:127.0.0.1:3478"])
            .unwrap_err()
            .contains("together"));
        assert!(Config::parse_args(["--turn-secret", "s"]).is_err());
        assert!(Config::parse_args(["--turn-urls", "http://x", "--turn-secret", "s"]).is_err());
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(Config::parse_args(["--help"]), Ok(Cli::Help));
        assert_eq!(Config::parse_args(["--port", "1", "-h"]), Ok(Cli::Help));
        assert!(Config::parse_args(["--port"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(Config::parse_args(["--port", "x"])
            .unwrap_err()
            .contains("--port"));
        assert!(Config::parse_args(["--host", "localhost"])
            .unwrap_err()
            .contains("--host"));
        assert!(Config::parse_args(["--bogus"])
            .unwrap_err()
            .contains("unknown argument"));
        assert!(Config::parse_args(["--api-keys", ","]).is_err());
    }
}
