//! Command-line configuration of the reference server (hand-rolled: five flags do not need
//! a parser crate).

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8787,
            www: PathBuf::from("www"),
            pkg: PathBuf::from("pkg"),
            api_keys: None,
        }
    }
}

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
realtime-reference-server: local reference realtime server (WebSocket signaling, WebRTC echo
and fan-out with str0m, fault injection, IVS stage seam)

USAGE:
    realtime-reference-server [OPTIONS]

OPTIONS:
    --host ADDR         address to bind and advertise as the only ICE candidate [default: 127.0.0.1]
    --port PORT         HTTP/WebSocket port, 0 = any free port [default: 8787]
    --www DIR           static files served at / [default: www]
    --pkg DIR           static files served at /pkg/ [default: pkg]
    --api-keys K1,K2    accepted API keys [default: any non-empty key]
    -h, --help          print this help

Logging follows RUST_LOG (default: info). See server/README.md for endpoints and faults.";

/// The outcome of parsing the command line.
#[derive(Debug, Clone, PartialEq)]
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
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(Cli::Help);
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if !matches!(flag.as_str(), "--host" | "--port" | "--www" | "--pkg" | "--api-keys") {
                return Err(format!("unknown argument `{arg}` (try --help)"));
            }
            let value = match inline {
                Some(v) => v,
                None => args.next().ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            match flag.as_str() {
                "--host" => {
                    config.host = value.parse().map_err(|_| format!("--host: `{value}` is not an IP address"))?;
                }
                "--port" => {
                    config.port = value.parse().map_err(|_| format!("--port: `{value}` is not a port number"))?;
                }
                "--www" => config.www = PathBuf::from(value),
                "--pkg" => config.pkg = PathBuf::from(value),
                _ => {
                    let keys: BTreeSet<String> =
                        value.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect();
                    if keys.is_empty() {
                        return Err("--api-keys: give at least one non-empty key".into());
                    }
                    config.api_keys = Some(keys);
                }
            }
        }
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
    }

    #[test]
    fn all_flags_both_forms() {
        let c = run(&["--host", "127.0.0.2", "--port=0", "--www", "/tmp/w", "--pkg=/tmp/p", "--api-keys", "a, b,,"]);
        assert_eq!(c.host.to_string(), "127.0.0.2");
        assert_eq!(c.port, 0);
        assert_eq!(c.www, PathBuf::from("/tmp/w"));
        assert_eq!(c.pkg, PathBuf::from("/tmp/p"));
        assert!(c.accepts_key(Some("a")) && c.accepts_key(Some("b")));
        assert!(!c.accepts_key(Some("c")));
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(Config::parse_args(["--help"]), Ok(Cli::Help));
        assert_eq!(Config::parse_args(["--port", "1", "-h"]), Ok(Cli::Help));
        assert!(Config::parse_args(["--port"]).unwrap_err().contains("needs a value"));
        assert!(Config::parse_args(["--port", "x"]).unwrap_err().contains("--port"));
        assert!(Config::parse_args(["--host", "localhost"]).unwrap_err().contains("--host"));
        assert!(Config::parse_args(["--bogus"]).unwrap_err().contains("unknown argument"));
        assert!(Config::parse_args(["--api-keys", ","]).is_err());
    }
}
