//! API-key redaction (`core::redact`), checked against forms of the key computed here with
//! independent encoders (`percent-encoding`, `form_urlencoded`, `serde_json`, `base64`).
//!
//! The text is pieces joined by a separator that occurs in no form of the key; a piece is
//! arbitrary text or one form of the key. Invariants:
//! * redacting the whole equals redacting each piece (a piece's fate is its own);
//! * a piece that is a form of the key becomes the marker, which holds no form of the key;
//! * a piece holding no form of the key (in any case) comes back byte for byte;
//! * what redaction removes from a piece is always a whole form of the key, never part of
//!   other text: the output with its markers put back as forms is the input;
//! * redacting twice changes nothing; a key shorter than `MIN_SECRET_LEN` changes nothing.
#![no_main]
// libfuzzer: -max_len=1024

use arbitrary::Arbitrary;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use realtime_video_sdk::core::redact::{redact, MIN_SECRET_LEN};

const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const URI_COMPONENT: &AsciiSet = &RFC3986
    .remove(b'!')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*');

#[derive(Arbitrary, Debug)]
enum Piece {
    Text(String),
    Form(u8),
    /// A form with its ASCII letters flipped in case where the mask says so.
    MixedCase(u8, u64),
}

#[derive(Arbitrary, Debug)]
struct Input {
    key: String,
    separator: u8,
    pieces: Vec<Piece>,
}

/// `(form, matched whatever the ASCII case)`.
fn forms(key: &str) -> Vec<(String, bool)> {
    let mut text = vec![key.to_string(), key.replace(' ', "+")];
    for set in [RFC3986, URI_COMPONENT] {
        let e = utf8_percent_encode(key, set).to_string();
        text.push(e.replace("%20", "+"));
        text.push(e);
    }
    let html: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    text.push(html.replace('+', "%20"));
    text.push(html);
    let json = serde_json::to_string(key).expect("a string serialises");
    let json = json[1..json.len() - 1].to_string();
    let ascii_json: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    text.push(json);
    text.push(ascii_json);
    let mut out: Vec<(String, bool)> = text.into_iter().map(|t| (t, true)).collect();
    for e in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push((e.encode(key.as_bytes()), false));
    }
    out
}

fn contains_form(text: &str, forms: &[(String, bool)]) -> bool {
    let lower = text.to_ascii_lowercase();
    forms.iter().any(|(f, any_case)| {
        if *any_case {
            lower.contains(&f.to_ascii_lowercase())
        } else {
            text.contains(f.as_str())
        }
    })
}

fn starts_with_form<'a>(text: &'a str, forms: &[(String, bool)]) -> Vec<&'a str> {
    forms
        .iter()
        .filter_map(|(f, any_case)| {
            let head = text.get(..f.len())?;
            let same = if *any_case {
                head.eq_ignore_ascii_case(f)
            } else {
                head == f
            };
            same.then(|| text.get(f.len()..).unwrap_or_default())
        })
        .collect()
}

/// Whether `input` is `parts[0] FORM parts[1] FORM ... parts[n]` for forms of the key.
fn only_forms_removed(input: &str, parts: &[&str], forms: &[(String, bool)]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return input.is_empty();
    };
    let Some(after) = input.strip_prefix(first) else {
        return false;
    };
    if rest.is_empty() {
        return after.is_empty();
    }
    starts_with_form(after, forms)
        .into_iter()
        .any(|tail| only_forms_removed(tail, rest, forms))
}

fuzz_target!(|input: Input| {
    let key = input.key.as_str();
    let forms = forms(key);
    let short = key.trim().chars().count() < MIN_SECRET_LEN;
    let sep = [' ', '&', ',', ';', '"', '\n', '|', '<', '>', '!', '=', '\'']
        .into_iter()
        .cycle()
        .skip(usize::from(input.separator % 12))
        .take(12)
        .find(|c| !forms.iter().any(|(f, _)| f.contains(*c)));

    let pieces: Vec<String> = input
        .pieces
        .iter()
        .map(|p| match p {
            // A text piece never holds the separator, so pieces stay apart.
            Piece::Text(t) => t.replace(sep.unwrap_or('\0'), ""),
            Piece::Form(i) => forms[usize::from(*i) % forms.len()].0.clone(),
            Piece::MixedCase(i, mask) => {
                let (f, any_case) = &forms[usize::from(*i) % forms.len()];
                if !any_case {
                    return f.clone();
                }
                f.chars()
                    .enumerate()
                    .map(|(n, c)| {
                        if mask >> (n % 64) & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect()
            }
        })
        .collect();
    let text = pieces.join(&sep.unwrap_or(' ').to_string());
    let out = redact(&text, key);
    assert_eq!(
        redact(&out, key),
        out,
        "not idempotent: key {key:?}, text {text:?}"
    );
    if short {
        assert_eq!(out, text, "short key {key:?} redacted");
        return;
    }
    let marker = redact(&forms[0].0, key);
    assert!(
        !contains_form(&marker, &forms),
        "marker {marker:?} holds the key {key:?}"
    );

    let Some(sep) = sep else {
        return;
    };
    let each: Vec<String> = pieces.iter().map(|p| redact(p, key)).collect();
    assert_eq!(
        out,
        each.join(&sep.to_string()),
        "key {key:?}, text {text:?}"
    );
    for (piece, (p, r)) in input.pieces.iter().zip(pieces.iter().zip(&each)) {
        match piece {
            Piece::Form(_) | Piece::MixedCase(..) => {
                assert_eq!(r, &marker, "form {p:?} of key {key:?} not redacted")
            }
            Piece::Text(_) => {
                if !contains_form(p, &forms) {
                    assert_eq!(r, p, "text without the key {key:?} changed");
                }
                if !p.contains(&marker) {
                    let parts: Vec<&str> = r.split(&marker).collect();
                    assert!(
                        only_forms_removed(p, &parts, &forms),
                        "{p:?} -> {r:?}: more than the key {key:?} removed"
                    );
                }
            }
        }
    }
});
