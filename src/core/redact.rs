//! API-key redaction: the last guard before text leaves the SDK (log lines, errors).

/// Replaces `secret` (and its URL-encoded form) in `text` with `[redacted]`.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let encoded = crate::core::urls::encode_component(secret);
    let out = text.replace(secret, "[redacted]");
    if encoded != secret {
        out.replace(&encoded, "[redacted]")
    } else {
        out
    }
}
