//! Subscribe tokens: `base64(JSON {sid, ip, port, transport})`, built from `session_id`.

use crate::core::base64;
use crate::core::error::{join, ErrorCode, SdkError};
use crate::core::json::{Json, Obj, TextCodec};

/// Which transport a session (and so its viewers) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        join(&["Invalid subscribe token: ", why]),
    )
}

impl SubscribeToken {
    /// The token's JSON object.
    pub fn to_json(&self) -> Json {
        Obj::new()
            .set("sid", self.sid.as_str())
            .set("ip", self.ip.as_str())
            .set("port", self.port)
            .set("transport", self.transport.as_str())
            .build()
    }

    /// Encodes as base64 JSON, the text written by `codec`.
    pub fn encode_with(&self, codec: TextCodec) -> String {
        base64::encode((codec.write)(&self.to_json()).as_bytes())
    }

    /// Encodes with the native codec.
    pub fn encode(&self) -> String {
        self.encode_with(crate::core::json::NATIVE)
    }

    /// Decodes with the native codec.
    pub fn decode(token: &str) -> Result<SubscribeToken, SdkError> {
        Self::decode_with(token, crate::core::json::NATIVE)
    }

    /// Decodes a token (its JSON text read by `codec`); anything without `sid`, `ip` and
    /// `port` is rejected with `INVALID_TOKEN` ("Invalid subscribe token: ..."). A missing
    /// `transport` means WebRTC.
    pub fn decode_with(token: &str, codec: TextCodec) -> Result<SubscribeToken, SdkError> {
        let bytes = base64::decode(token.trim()).ok_or_else(|| invalid("not base64"))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid("not JSON"))?;
        let v = (codec.parse)(text).ok_or_else(|| invalid("not JSON"))?;
        if !matches!(v, Json::Obj(_)) {
            return Err(invalid("not an object"));
        }
        let text = |k: &str| v.str(k).map(str::to_string).filter(|s| !s.is_empty());
        let sid = text("sid").ok_or_else(|| invalid("no sid"))?;
        let ip = text("ip").ok_or_else(|| invalid("no ip"))?;
        let port = match v.get("port") {
            Some(Json::Num(n)) if n.fract() == 0.0 && (1.0..=65535.0).contains(n) => {
                Some(*n as u16)
            }
            Some(Json::Str(s)) => s.trim().parse::<u16>().ok().filter(|p| *p != 0),
            _ => None,
        }
        .ok_or_else(|| invalid("no valid port"))?;
        let transport = match v.str("transport") {
            None => Transport::Webrtc,
            Some("webrtc") => Transport::Webrtc,
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
        let text = String::from_utf8(base64::decode(&t.encode()).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"sid":"s","ip":"1.2.3.4","port":5,"transport":"ivs"}"#
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
