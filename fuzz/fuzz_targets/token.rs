//! Subscribe tokens (`core::token`).
//!
//! Invariants: decoding arbitrary text (and base64 of arbitrary JSON) never panics, fails
//! only with `INVALID_TOKEN` and an "Invalid subscribe token" message, and a decoded token
//! encodes to one that decodes to it again; encode → decode gives back every token with a
//! non-empty `sid` and `ip`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::error::ErrorCode;
use realtime_video_sdk::core::token::{SubscribeToken, Transport};

#[derive(Arbitrary, Debug)]
struct Token {
    sid: String,
    ip: String,
    port: u16,
    ivs: bool,
}

fn decode_checked(text: &str) {
    match SubscribeToken::decode(text) {
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
    let decoded = SubscribeToken::decode(&t.encode());
    if t.sid.is_empty() || t.ip.is_empty() {
        assert!(decoded.is_err(), "{t:?}");
    } else {
        assert_eq!(decoded, Ok(t));
    }
});
