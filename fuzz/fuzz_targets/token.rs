//! Subscribe tokens (`core::token`).
//!
//! Invariants: decoding arbitrary text (and base64 of arbitrary JSON) never panics, fails
//! only with `INVALID_TOKEN` and an "Invalid subscribe token" message, and a decoded token
//! encodes to one that decodes to it again; encode → decode gives back every token with a
//! non-empty `sid` and `ip` and a port other than 0 (and refuses the others). With
//! serde_json as the codec (standing in for the browser's `JSON.parse`/`JSON.stringify`,
//! which the wasm build passes): a token whose JSON both read alike (no repeated key,
//! numbers in range, nesting within both limits) decodes the same, and tokens written by
//! either codec decode by the other.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::error::ErrorCode;
use realtime_video_sdk::core::json::{self, NATIVE};
use realtime_video_sdk::core::token::{SubscribeToken, Transport};
use realtime_video_sdk_fuzz::{has_repeated_key, SERDE};

#[derive(Arbitrary, Debug)]
struct Token {
    sid: String,
    ip: String,
    port: u16,
    ivs: bool,
}

/// True when the core and serde_json read the token's JSON alike.
fn read_alike(token: &str) -> bool {
    let Some(bytes) = realtime_video_sdk::core::base64::decode(token.trim()) else {
        return true;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return true;
    };
    match (
        json::parse(text),
        serde_json::from_str::<serde_json::Value>(text),
    ) {
        (Ok(v), Ok(_)) => !has_repeated_key(&v),
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

fn decode_checked(text: &str) {
    let decoded = SubscribeToken::decode(text);
    if read_alike(text) {
        assert_eq!(
            SubscribeToken::decode_with(text, SERDE),
            decoded,
            "{text:?}"
        );
    }
    match decoded {
        Ok(t) => {
            assert!(!t.sid.is_empty() && !t.ip.is_empty());
            assert_eq!(SubscribeToken::decode(&t.encode()), Ok(t));
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidToken);
            assert!(e.message.starts_with("Invalid subscribe token"), "{e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The bytes as a token (the seeds are tokens), as JSON inside base64, and as the
    // fields of a token.
    let text = String::from_utf8_lossy(data);
    decode_checked(&text);
    {
        use base64::Engine;
        decode_checked(&base64::engine::general_purpose::STANDARD.encode(data));
        decode_checked(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data));
    }
    let Ok(Token { sid, ip, port, ivs }) = Token::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let t = SubscribeToken {
        sid,
        ip,
        port,
        transport: if ivs {
            Transport::Ivs
        } else {
            Transport::Webrtc
        },
    };
    for (write, read) in [(NATIVE, NATIVE), (NATIVE, SERDE), (SERDE, NATIVE)] {
        let decoded = SubscribeToken::decode_with(&t.encode_with(write), read);
        if t.sid.is_empty() || t.ip.is_empty() || t.port == 0 {
            assert!(decoded.is_err(), "{t:?}");
        } else {
            assert_eq!(decoded.as_ref(), Ok(&t));
        }
    }
});
