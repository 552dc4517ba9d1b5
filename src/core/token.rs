//! Subscribe tokens: `base64(JSON {sid, ip, port, transport})`, built from `session_id`.

use crate::core::base64;
use crate::core::error::{ErrorCode, SdkError};
use serde::{Deserialize, Serialize};

/// Which transport a session (and so its viewers) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Plain WebRTC with WebSocket signaling.
    #[default]
    Webrtc,
    /// Amazon IVS real-time stage.
    Ivs,
}

impl Transport {
    /// `"webrtc"` or `"ivs"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Webrtc => "webrtc",
            Transport::Ivs => "ivs",
        }
    }
}

/// The decoded content of a subscribe token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribeToken {
    /// Session id.
    pub sid: String,
    /// Inference server address.
    pub ip: String,
    /// Inference server port.
    pub port: u16,
    /// Transport of the session.
    pub transport: Transport,
}

fn invalid(why: &str) -> SdkError {
    SdkError::new(
        ErrorCode::InvalidToken,
        format!("Invalid subscribe token: {why}"),
    )
}

impl SubscribeToken {
    /// Encodes as base64 JSON.
    pub fn encode(&self) -> String {
        let json = serde_json::json!({"sid": self.sid, "ip": self.ip, "port": self.port, "transport": self.transport.as_str()});
        base64::encode(json.to_string().as_bytes())
    }

    /// Decodes a token; anything without `sid`, `ip` and `port` is rejected with
    /// `INVALID_TOKEN` ("Invalid subscribe token: ..."). A missing `transport` means WebRTC.
    pub fn decode(token: &str) -> Result<SubscribeToken, SdkError> {
        let bytes = base64::decode(token.trim()).ok_or_else(|| invalid("not base64"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| invalid("not JSON"))?;
        let obj = v.as_object().ok_or_else(|| invalid("not an object"))?;
        let text = |k: &str| {
            obj.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let sid = text("sid").ok_or_else(|| invalid("no sid"))?;
        let ip = text("ip").ok_or_else(|| invalid("no ip"))?;
        let port = match obj.get("port") {
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid("no valid port"))?;
        let transport = match obj.get("transport").and_then(|t| t.as_str()) {
            None | Some("webrtc") => Transport::Webrtc,
            Some("ivs") => Transport::Ivs,
            Some(_) => return Err(invalid("unknown transport")),
        };
        Ok(SubscribeToken {
            sid,
            ip,
            port,
            transport,
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_both_transports() {
        for transport in [Transport::Webrtc, Transport::Ivs] {
            let t = SubscribeToken {
                sid: "sess-1".into(),
                ip: "127.0.0.1".into(),
                port: 4000,
                transport,
            };
            assert_eq!(SubscribeToken::decode(&t.encode()), Ok(t));
        }
    }

    #[test]
    fn token_is_base64_json_with_the_four_fields() {
        let t = SubscribeToken {
            sid: "s".into(),
            ip: "1.2.3.4".into(),
            port: 5,
            transport: Transport::Ivs,
        };
        let json: serde_json::Value =
            serde_json::from_slice(&base64::decode(&t.encode()).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"sid": "s", "ip": "1.2.3.4", "port": 5, "transport": "ivs"})
        );
    }

    #[test]
    fn tolerant_of_string_port_and_missing_transport() {
        let tok = base64::encode(br#"{"sid":"a","ip":"b","port":"80"}"#);
        let t = SubscribeToken::decode(&tok).unwrap();
        assert_eq!((t.port, t.transport), (80, Transport::Webrtc));
    }

    #[test]
    fn rejects_invalid_tokens_clearly() {
        for (raw, why) in [
            ("!!!", "not base64"),
            (&base64::encode(b"hello")[..], "not JSON"),
            (&base64::encode(b"[1]")[..], "not an object"),
            (&base64::encode(br#"{"ip":"b","port":1}"#)[..], "no sid"),
            (&base64::encode(br#"{"sid":"a","port":1}"#)[..], "no ip"),
            (
                &base64::encode(br#"{"sid":"a","ip":"b"}"#)[..],
                "no valid port",
            ),
            (
                &base64::encode(br#"{"sid":"a","ip":"b","port":70000}"#)[..],
                "no valid port",
            ),
            (
                &base64::encode(br#"{"sid":"a","ip":"b","port":1,"transport":"x"}"#)[..],
                "unknown transport",
            ),
        ] {
            let e = SubscribeToken::decode(raw).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidToken);
            assert!(
                e.message.starts_with("Invalid subscribe token"),
                "{}",
                e.message
            );
            assert!(e.message.contains(why), "{raw}: {}", e.message);
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in ".*") {
            let _ = SubscribeToken::decode(&s);
        }

        #[test]
        fn decode_of_arbitrary_json_never_panics(s in ".*") {
            let _ = SubscribeToken::decode(&base64::encode(s.as_bytes()));
        }
    }
}
