//! Base64 (`core::base64`), checked against the `base64` crate.
//!
//! Invariants: encoding equals the standard padded encoding; decode(encode(x)) == x;
//! decoding arbitrary text never panics; whatever the reference decodes (standard or
//! URL-safe, padded or not, trailing bits allowed) decodes to the same bytes; and whatever
//! the core decodes, the reference decodes the same way once whitespace is removed and the
//! alphabet made standard.
#![no_main]

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::base64::{decode, encode};

fn lenient(a: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        a,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

fuzz_target!(|data: &[u8]| {
    let encoded = encode(data);
    assert_eq!(
        encoded,
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    assert_eq!(decode(&encoded).as_deref(), Some(data));

    let text = String::from_utf8_lossy(data);
    let ours = decode(&text);
    for a in [&alphabet::STANDARD, &alphabet::URL_SAFE] {
        if let Ok(reference) = lenient(a).decode(text.as_bytes()) {
            assert_eq!(ours.as_deref(), Some(&reference[..]), "{text:?}");
        }
    }
    if let Some(ours) = ours {
        let normal: String = text
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        assert_eq!(
            lenient(&alphabet::STANDARD).decode(normal.as_bytes()).ok(),
            Some(ours),
            "{text:?}"
        );
    }
});
