//! API-key redaction: the last guard before text leaves the SDK (log lines, errors).
//!
//! [`redact`] replaces every occurrence of the key that stands as a whole token, in any of
//! the forms a key travels in, by a marker, and leaves every other byte of the text as it
//! was. The forms:
//!
//! * the key as it is;
//! * percent-encoded, as `encodeURIComponent`, RFC 3986 (only `A-Za-z0-9-._~` kept) or an
//!   HTML form (`application/x-www-form-urlencoded`, only `A-Za-z0-9*-._` kept) encode it,
//!   each with `%20` or `+` for a space, and the key with only its spaces as `+`;
//! * JSON-escaped, as `JSON.stringify` writes it, and with every non-ASCII character as
//!   `\uXXXX` (as Python's `json.dumps` writes it);
//! * base64 of its UTF-8 bytes, standard or URL-safe alphabet, padded or not.
//!
//! All but the base64 forms match whatever the ASCII case (an upper- or lower-cased key,
//! `%2b` for `%2B`, `\u00E9` for `\u00e9`); base64 is case-sensitive by nature.
//!
//! **Whole tokens only.** Token characters are `A-Z a-z 0-9 - _`. A match is kept only if
//! it neither starts nor ends between two token characters, so a short key never cuts a
//! word apart (`k` does not touch "WebSocket", `1006` not "code 10061"). A percent or JSON
//! escape (`%3D`, `\n`, `\u0020`) counts as a separator before the key, so
//! `api_key%3DKEY` (an encoded URL inside another) and `"\nKEY"` are still redacted.
//!
//! **Minimum length.** A key with fewer than [`MIN_SECRET_LEN`] characters (leading and
//! trailing whitespace not counted) is not redacted at all: it would match ordinary words
//! and numbers. Such keys should be refused where the options are checked.
//!
//! **The marker** is `[redacted]` unless a form of the key could occur in it (or in its
//! neighbourhood through its brackets); then other brackets or another word are used, so a
//! redacted text never contains the key in any form, and redacting twice changes nothing.

use crate::core::{base64, urls};

/// Keys shorter than this many characters (ignoring surrounding whitespace) are not
/// redacted.
pub const MIN_SECRET_LEN: usize = 5;

/// Replaces every whole-token occurrence of `secret`, in every form the module lists, with
/// a marker (`[redacted]` for ordinary keys). Text without the key comes back unchanged.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.trim().chars().count() < MIN_SECRET_LEN {
        return text.to_string();
    }
    let forms = forms(secret);
    let marker = marker(&forms);
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Forms are valid UTF-8, so a match can only start on a character boundary.
        let found = if text.is_char_boundary(i) && !junction(bytes, i) {
            forms
                .iter()
                .filter(|f| f.matches_at(bytes, i))
                .map(|f| f.text.len())
                .find(|len| !junction(bytes, i + len))
        } else {
            None
        };
        match (found, text.get(copied..i)) {
            (Some(len), Some(before)) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(before);
                o.push_str(&marker);
                i += len;
                copied = i;
            }
            _ => i += 1,
        }
    }
    match (out, text.get(copied..)) {
        (Some(mut o), Some(rest)) => {
            o.push_str(rest);
            o
        }
        _ => text.to_string(),
    }
}

/// One spelling of the key.
struct Form {
    text: String,
    /// ASCII case is ignored (every form but base64).
    any_case: bool,
}

impl Form {
    fn matches_at(&self, text: &[u8], at: usize) -> bool {
        let want = self.text.as_bytes();
        match text.get(at..at.saturating_add(want.len())) {
            Some(have) if self.any_case => have.eq_ignore_ascii_case(want),
            Some(have) => have == want,
            None => false,
        }
    }
}

/// Every spelling of `secret`, longest first, without duplicates.
fn forms(secret: &str) -> Vec<Form> {
    let rfc3986 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    let uri_component = |b: u8| rfc3986(b) || matches!(b, b'!' | b'\'' | b'(' | b')' | b'*');
    let html_form = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
    let mut text_forms = vec![secret.to_string(), secret.replace(' ', "+")];
    for encoded in [
        urls::percent_encode(secret, rfc3986),
        urls::percent_encode(secret, uri_component),
        urls::percent_encode(secret, html_form),
    ] {
        text_forms.push(encoded.replace("%20", "+"));
        text_forms.push(encoded);
    }
    text_forms.push(json_escape(secret, false));
    text_forms.push(json_escape(secret, true));

    let std = base64::encode(secret.as_bytes());
    let url_safe = std.replace('+', "-").replace('/', "_");
    let binary_forms = [
        std.trim_end_matches('=').to_string(),
        url_safe.trim_end_matches('=').to_string(),
        std,
        url_safe,
    ];

    let mut out: Vec<Form> = Vec::new();
    for (text, any_case) in text_forms
        .into_iter()
        .map(|t| (t, true))
        .chain(binary_forms.into_iter().map(|t| (t, false)))
    {
        let dup = out.iter().any(|f| {
            f.text == text || (f.any_case && any_case && f.text.eq_ignore_ascii_case(&text))
        });
        if !dup && !text.is_empty() {
            out.push(Form { text, any_case });
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.text.len()));
    out
}

/// The key as a JSON string's content: `"`, `\` and control characters escaped like
/// `JSON.stringify`; with `ascii_only`, every non-ASCII character as `\uXXXX` too.
fn json_escape(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || (ascii_only && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str("\\u");
                    for shift in [12, 8, 4, 0] {
                        let digit = u32::from((*unit >> shift) & 0xf);
                        out.push(char::from_digit(digit, 16).unwrap_or('0'));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `A-Z a-z 0-9 - _`: the characters a key (and a word) is made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Whether position `at` lies inside a token: between two token characters, and not right
/// after a percent or JSON escape (whose last character is a letter or digit but which
/// stands for a separator).
fn junction(text: &[u8], at: usize) -> bool {
    let (Some(&before), Some(&after)) = (text.get(at.wrapping_sub(1)), text.get(at)) else {
        return false;
    };
    is_token(before) && is_token(after) && !escape_ends_at(text, at)
}

fn escape_ends_at(text: &[u8], at: usize) -> bool {
    let Some(head) = text.get(..at) else {
        return false;
    };
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    matches!(head, [.., b'%', h1, h2] if hex(&[*h1, *h2]))
        || matches!(head, [.., b'\\', b'b' | b'f' | b'n' | b'r' | b't'])
        || matches!(head, [.., b'\\', b'u', h1, h2, h3, h4] if hex(&[*h1, *h2, *h3, *h4]))
}

/// The replacement: brackets that occur in no form around a word that contains no form.
/// No form can then overlap a marker, so redacting cannot create a new occurrence.
fn marker(forms: &[Form]) -> String {
    let in_forms = |c: char| forms.iter().any(|f| f.text.contains(c));
    let in_word = |word: &str| {
        forms.iter().any(|f| {
            word.contains(f.text.as_str())
                || (f.any_case && word.contains(f.text.to_ascii_lowercase().as_str()))
        })
    };
    let (open, close) = [('[', ']'), ('(', ')'), ('{', '}'), ('<', '>')]
        .into_iter()
        .find(|(o, c)| !in_forms(*o) && !in_forms(*c))
        .or_else(|| {
            // A key made of every bracket: any character no form contains (there is one:
            // the forms are finite).
            ('\u{2500}'..=char::MAX)
                .find(|c| !in_forms(*c))
                .map(|c| (c, c))
        })
        .unwrap_or(('\u{2500}', '\u{2500}'));
    let word = ["redacted", "removed"]
        .into_iter()
        .find(|w| !in_word(w))
        .unwrap_or("");
    let mut m = String::with_capacity(word.len() + 8);
    m.push(open);
    m.push_str(word);
    m.push(close);
    m
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const KEY: &str = "sk_live_4f9Tq";

    #[test]
    fn plain_key_is_replaced_and_the_rest_kept() {
        assert_eq!(
            redact(&format!("GET /v1/stream?api_key={KEY}&model=mirage"), KEY),
            "GET /v1/stream?api_key=[redacted]&model=mirage"
        );
        assert_eq!(
            redact(&format!("{KEY} {KEY},{KEY}"), KEY),
            "[redacted] [redacted],[redacted]"
        );
    }

    #[test]
    fn never_cuts_a_word_apart() {
        // Short keys are not redacted at all...
        assert_eq!(redact("WebSocket closed", "k"), "WebSocket closed");
        assert_eq!(redact("code 1006", "1"), "code 1006");
        assert_eq!(redact("code 1006", "1006"), "code 1006");
        // ...and a long one only where it stands alone.
        assert_eq!(
            redact("WebSocketError at socket", "Socket"),
            "WebSocketError at [redacted]"
        );
        assert_eq!(
            redact("abc12345 x12345 12345x 12345", "12345"),
            "abc12345 x12345 12345x [redacted]"
        );
        assert_eq!(redact("ab-12345 12345_b", "12345"), "ab-12345 12345_b");
    }

    #[test]
    fn every_encoding_of_the_key_goes() {
        let key = "Ab+c/d e\"f\u{e9}\n";
        let std = base64::encode(key.as_bytes());
        let url_safe = std.replace('+', "-").replace('/', "_");
        let spellings = [
            key.to_string(),
            key.to_ascii_uppercase(),
            key.to_ascii_lowercase(),
            "Ab%2Bc%2Fd%20e%22f%C3%A9%0A".to_string(),
            "ab%2bc%2fd%20e%22f%c3%a9%0a".to_string(),
            "Ab%2Bc%2Fd+e%22f%C3%A9%0A".to_string(),
            "Ab+c/d+e\"f\u{e9}\n".to_string(),
            "Ab+c/d e\\\"f\u{e9}\\n".to_string(),
            "Ab+c/d e\\\"f\\u00e9\\n".to_string(),
            "AB+C/D E\\\"F\\U00E9\\N".to_string(),
            std.clone(),
            std.trim_end_matches('=').to_string(),
            url_safe.clone(),
            url_safe.trim_end_matches('=').to_string(),
        ];
        for s in spellings {
            let text = format!("before \"{s}\" after");
            assert_eq!(
                redact(&text, key),
                "before \"[redacted]\" after",
                "spelling {s:?}"
            );
        }
        // encodeURIComponent leaves ' ( ) * ! unescaped, RFC 3986 escapes them.
        let key = "it's(me)!*";
        for s in ["it's(me)!*", "it%27s%28me%29%21%2A", "it%27s%28me%29%21*"] {
            assert_eq!(redact(&format!("k={s}&"), key), "k=[redacted]&", "{s}");
        }
    }

    #[test]
    fn base64_is_case_sensitive() {
        let key = "secret-key-123";
        let b64 = base64::encode(key.as_bytes());
        assert_eq!(redact(&b64, key), "[redacted]");
        let other_case = b64.to_ascii_lowercase();
        assert_eq!(redact(&other_case, key), other_case);
    }

    #[test]
    fn escapes_before_the_key_are_separators() {
        let key = "demo-key";
        assert_eq!(
            redact("url=ws%3A%2F%2Fh%2Fv1%3Fapi_key%3Ddemo-key%26model", key),
            "url=ws%3A%2F%2Fh%2Fv1%3Fapi_key%3D[redacted]%26model"
        );
        assert_eq!(
            redact("{\"error\":\"line\\ndemo-key\\u0020demo-key\"}", key),
            "{\"error\":\"line\\n[redacted]\\u0020[redacted]\"}"
        );
    }

    #[test]
    fn marker_never_re_forms_the_key() {
        for key in [
            "redacted",
            "REDACTED",
            "[redacted]",
            "edacted]",
            "(redacted)",
        ] {
            let out = redact(&format!("the key is {key} ."), key);
            assert!(
                !out.to_ascii_lowercase().contains(&key.to_ascii_lowercase()),
                "{key}: {out}"
            );
            assert_eq!(redact(&out, key), out, "{key}: not stable");
        }
        assert_eq!(
            redact("key redacted, [redacted].", "redacted"),
            "key [removed], [[removed]]."
        );
        // "edacted]" inside "[redacted]" is not a whole token: left alone.
        assert_eq!(redact("[redacted]", "edacted]"), "[redacted]");
        // A key made of every bracket still gets a marker it cannot be part of.
        let key = "[](){}<>";
        let out = redact(&format!("a {key} b"), key);
        assert!(!out.contains(key), "{out}");
        assert_eq!(redact(&out, key), out);
    }

    #[test]
    fn short_and_blank_keys_redact_nothing() {
        assert_eq!(MIN_SECRET_LEN, 5);
        assert_eq!(redact("abcd abcd", "abcd"), "abcd abcd");
        assert_eq!(redact("a      b", "      "), "a      b");
        assert_eq!(redact(" ab  cd ", " ab  "), " ab  cd ");
        assert_eq!(redact("anything", ""), "anything");
        assert_eq!(redact("abcde", "abcde"), "[redacted]");
    }

    #[test]
    fn text_without_the_key_is_byte_identical() {
        let text = "ws://127.0.0.1:8787/v1/stream?api_key=other&x=%ZZ\\u12 \u{1F600}\r\n";
        assert_eq!(redact(text, "sk_live_4f9Tq"), text);
    }

    #[test]
    fn multibyte_text_and_keys() {
        let key = "ключ-секрет";
        assert_eq!(redact("ключ: ключ-секрет.", key), "ключ: [redacted].");
        assert_eq!(
            redact(&format!("é{KEY}é"), KEY),
            "é[redacted]é",
            "non-ASCII letters are separators"
        );
    }
}
