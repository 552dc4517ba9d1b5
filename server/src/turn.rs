//! TURN relay configuration handed to clients (`turn_config`), for a TURN server that uses
//! the REST-style shared secret (coturn's `use-auth-secret` / `static-auth-secret`): the
//! username is `<expiry unix time>:<session id>`, the credential
//! `base64(HMAC-SHA1(secret, username))`, so the TURN server checks credentials without
//! talking to this server.
//!
//! Per session, the URL's `ice_transport_policy` (`udp` | `tcp` | `all`, default `all`)
//! picks the TURN URLs, and `fault_turn` (`delay:N` | `never`) sends `turn_config` N ms
//! after the answer, or never, so clients can test their waiting bound and their ICE
//! restart.

use hmac::{Hmac, Mac};
use realtime_video_sdk::core::base64;
use realtime_video_sdk::core::protocol::ServerMessage;
use sha1::Sha1;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the credentials of a `turn_config` stay valid.
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(24 * 3600);

/// A TURN server clients are told about (`--turn-urls`, `--turn-secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// `turn:host:port` / `turns:host:port`, without a `transport` parameter.
    pub urls: Vec<String>,
    /// The shared secret (coturn's `static-auth-secret`).
    pub secret: String,
}

impl TurnServer {
    /// Parses `--turn-urls` (comma-separated `turn:`/`turns:` URLs; a `?transport=…` is
    /// dropped, the policy chooses it).
    pub fn parse_urls(list: &str) -> Result<Vec<String>, String> {
        let urls: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| u.split_once('?').map_or(u, |(base, _)| base).to_string())
            .collect();
        if urls.is_empty() {
            return Err("--turn-urls: give at least one turn: URL".into());
        }
        for u in &urls {
            let host = u
                .strip_prefix("turn:")
                .or_else(|| u.strip_prefix("turns:"))
                .ok_or_else(|| format!("--turn-urls: `{u}` is not a turn: or turns: URL"))?;
            if host.is_empty() || !host.chars().all(|c| c.is_ascii_graphic()) {
                return Err(format!("--turn-urls: `{u}` has no host"));
            }
        }
        Ok(urls)
    }
}

/// The session URL's `ice_transport_policy`: which TURN transports the client is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IcePolicy {
    /// `turn:…?transport=udp` only.
    Udp,
    /// `turn:…?transport=tcp` only (and `turns:`).
    Tcp,
    /// Both (the default).
    #[default]
    All,
}

/// `fault_turn`: how `turn_config` misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnFault {
    /// Sent this long after the answer instead of before it.
    Delay(Duration),
    /// Never sent.
    Never,
}

/// The TURN parameters of one session URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TurnParams {
    /// `ice_transport_policy`.
    pub policy: IcePolicy,
    /// `fault_turn`.
    pub fault: Option<TurnFault>,
}

impl TurnParams {
    /// Reads `ice_transport_policy` and `fault_turn` from a session URL's query; a bad value,
    /// or `fault_turn` on a server without TURN, is an error (like a bad `fault_*`).
    pub fn from_query(
        query: &HashMap<String, String>,
        turn_configured: bool,
    ) -> Result<TurnParams, String> {
        let policy = match query.get("ice_transport_policy").map(String::as_str) {
            None | Some("all") => IcePolicy::All,
            Some("udp") => IcePolicy::Udp,
            Some("tcp") => IcePolicy::Tcp,
            Some(v) => {
                return Err(format!(
                    "invalid parameter ice_transport_policy={v}: expected udp, tcp or all"
                ))
            }
        };
        let fault = match query.get("fault_turn").map(String::as_str) {
            None => None,
            Some("never") => Some(TurnFault::Never),
            Some(v) => match v.strip_prefix("delay:").map(|ms| ms.trim().parse::<u64>()) {
                Some(Ok(ms)) => Some(TurnFault::Delay(Duration::from_millis(ms))),
                _ => {
                    return Err(format!(
                        "invalid fault parameter fault_turn={v}: expected never or delay:N"
                    ))
                }
            },
        };
        if fault.is_some() && !turn_configured {
            return Err(
                "fault_turn needs a TURN server (start the server with --turn-urls and --turn-secret)"
                    .into(),
            );
        }
        Ok(TurnParams { policy, fault })
    }
}

/// The URLs offered under `policy`.
pub fn urls_for(bases: &[String], policy: IcePolicy) -> Vec<String> {
    let mut out = Vec::new();
    for base in bases {
        let udp_capable = base.starts_with("turn:");
        if udp_capable && policy != IcePolicy::Tcp {
            out.push(format!("{base}?transport=udp"));
        }
        if policy != IcePolicy::Udp {
            out.push(format!("{base}?transport=tcp"));
        }
    }
    out
}

/// REST-style credentials for `session_id`, valid until `expiry_unix` (seconds).
pub fn credentials(secret: &str, session_id: &str, expiry_unix: u64) -> (String, String) {
    let username = format!("{expiry_unix}:{session_id}");
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let credential = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::encode(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    (username, credential)
}

/// The `turn_config` message of `session_id` under `policy`, with credentials valid for
/// [`CREDENTIAL_TTL`] from now.
pub fn config_message(server: &TurnServer, session_id: &str, policy: IcePolicy) -> ServerMessage {
    let expiry = SystemTime::now()
        .checked_add(CREDENTIAL_TTL)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let (username, credential) = credentials(&server.secret, session_id, expiry);
    ServerMessage::TurnConfig {
        urls: urls_for(&server.urls, policy),
        username,
        credential,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_policy_picks_the_urls() {
        let bases =
            TurnServer::parse_urls("turn:127.0.0.1:3478?transport=udp, turns:t.example:5349")
                .unwrap();
        assert_eq!(bases, ["turn:127.0.0.1:3478", "turns:t.example:5349"]);
        assert_eq!(
            urls_for(&bases, IcePolicy::All),
            [
                "turn:127.0.0.1:3478?transport=udp",
                "turn:127.0.0.1:3478?transport=tcp",
                "turns:t.example:5349?transport=tcp"
            ]
        );
        assert_eq!(
            urls_for(&bases, IcePolicy::Udp),
            ["turn:127.0.0.1:3478?transport=udp"]
        );
        assert_eq!(
            urls_for(&bases, IcePolicy::Tcp),
            [
                "turn:127.0.0.1:3478?transport=tcp",
                "turns:t.example:5349?transport=tcp"
            ]
        );
        assert!(TurnServer::parse_urls("").is_err());
        assert!(TurnServer::parse_urls("stun:127.0.0.1:3478").is_err());
        assert!(TurnServer::parse_urls("turn:").is_err());
    }

    #[test]
    fn session_parameters() {
        let p = |pairs: &[(&str, &str)]| TurnParams::from_query(&q(pairs), true);
        assert_eq!(p(&[]).unwrap(), TurnParams::default());
        assert_eq!(
            p(&[("ice_transport_policy", "udp")]).unwrap().policy,
            IcePolicy::Udp
        );
        assert_eq!(
            p(&[("ice_transport_policy", "tcp")]).unwrap().policy,
            IcePolicy::Tcp
        );
        assert_eq!(
            p(&[("ice_transport_policy", "all")]).unwrap().policy,
            IcePolicy::All
        );
        assert_eq!(
            p(&[("fault_turn", "delay:250")]).unwrap().fault,
            Some(TurnFault::Delay(Duration::from_millis(250)))
        );
        assert_eq!(
            p(&[("fault_turn", "never")]).unwrap().fault,
            Some(TurnFault::Never)
        );
        for (k, v) in [
            ("ice_transport_policy", "relay"),
            ("ice_transport_policy", ""),
            ("fault_turn", "sometimes"),
            ("fault_turn", "delay:x"),
        ] {
            assert!(p(&[(k, v)]).unwrap_err().contains(k), "{k}={v}");
        }
        assert!(
            TurnParams::from_query(&q(&[("fault_turn", "never")]), false)
                .unwrap_err()
                .contains("--turn-urls")
        );
    }

    #[test]
    fn rest_credentials_match_the_published_scheme() {
        // The same HMAC-SHA1 computed by Python's `hmac` module (what coturn checks).
        let (user, cred) = credentials("Jefe", "sess_1", 1_700_000_000);
        assert_eq!(user, "1700000000:sess_1");
        assert_eq!(cred, "hq49x+A5ZvzsgsWRJCFWmYb8lY8=");
        assert_ne!(credentials("other", "sess_1", 1_700_000_000).1, cred);
    }
}
