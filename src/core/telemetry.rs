//! Telemetry batching (`shared/PROTOCOL.md`, "Telemetry"): stats samples and diagnostics are
//! buffered and, every interval, turned into request bodies of at most
//! [`MAX_ITEMS_PER_REQUEST`] items per array. The buffer is bounded so a session that never
//! learns its id (or a collector that is down) cannot grow memory without limit: the oldest
//! items go first.
//!
//! The API key is never part of a body; the browser layer sends it in a request header.

use crate::core::json::{Json, Obj, TextCodec};
use std::collections::VecDeque;

/// Most items of one kind in one request.
pub const MAX_ITEMS_PER_REQUEST: usize = 120;
/// Most items of one kind kept while waiting to be sent.
pub const MAX_BUFFERED: usize = 10 * MAX_ITEMS_PER_REQUEST;
/// Body size bound for the final `keepalive` flush (browsers allow 64 KiB in flight).
pub const KEEPALIVE_MAX_BYTES: usize = 60 * 1024;

/// The tags every request carries; absent values are omitted keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Tags {
    /// Session id.
    pub session_id: String,
    /// SDK version.
    pub sdk_version: String,
    /// Model name.
    pub model: Option<String>,
    /// The `integration` option.
    pub integration: Option<String>,
    /// `"webrtc"` or `"ivs"`.
    pub transport: Option<&'static str>,
}

impl Tags {
    fn to_json(&self) -> Json {
        Obj::new()
            .set("session_id", self.session_id.as_str())
            .set("sdk_version", self.sdk_version.as_str())
            .opt("model", self.model.as_deref())
            .opt("integration", self.integration.as_deref())
            .opt("transport", self.transport)
            .build()
    }
}

/// A diagnostic item: `{name, data, timestamp}` (wall ms).
pub fn diagnostic_item(name: &str, data: Json, wall_ms: f64) -> Json {
    Obj::new()
        .set("name", name)
        .set("data", data)
        .set("timestamp", wall_ms)
        .build()
}

/// Buffered items of one session.
#[derive(Debug, Default)]
pub struct TelemetryBuffer {
    stats: VecDeque<Json>,
    diagnostics: VecDeque<Json>,
    dropped: u64,
}

fn push_bounded(q: &mut VecDeque<Json>, v: Json, dropped: &mut u64) {
    if q.len() >= MAX_BUFFERED {
        q.pop_front();
        *dropped += 1;
    }
    q.push_back(v);
}

impl TelemetryBuffer {
    /// Adds a stats sample (reference fields only).
    pub fn push_stats(&mut self, v: Json) {
        push_bounded(&mut self.stats, v, &mut self.dropped);
    }

    /// Adds a diagnostic item ([`diagnostic_item`]).
    pub fn push_diagnostic(&mut self, v: Json) {
        push_bounded(&mut self.diagnostics, v, &mut self.dropped);
    }

    /// Forgets the buffered stats samples (telemetry starts at the first session id:
    /// earlier diagnostics are kept, earlier stats not).
    pub fn drop_stats(&mut self) {
        self.stats.clear();
    }

    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty() && self.diagnostics.is_empty()
    }

    /// Items dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes everything buffered as request bodies (JSON text written by `codec`), each with
    /// at most [`MAX_ITEMS_PER_REQUEST`] stats and diagnostics.
    pub fn take_bodies(&mut self, tags: &Tags, timestamp: f64, codec: TextCodec) -> Vec<String> {
        let mut out = Vec::new();
        while !self.is_empty() {
            let ns = self.stats.len().min(MAX_ITEMS_PER_REQUEST);
            let nd = self.diagnostics.len().min(MAX_ITEMS_PER_REQUEST);
            let stats: Vec<Json> = self.stats.drain(..ns).collect();
            let diagnostics: Vec<Json> = self.diagnostics.drain(..nd).collect();
            out.push((codec.write)(&body(tags, timestamp, stats, diagnostics)));
        }
        out
    }

    /// Takes one final body of at most `max_bytes`, newest items first kept (for the
    /// `keepalive` flush on disconnect, whose size browsers limit); what does not fit is
    /// dropped. `None` when there is nothing to send.
    pub fn take_final_body(
        &mut self,
        tags: &Tags,
        timestamp: f64,
        max_bytes: usize,
        codec: TextCodec,
    ) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut ns = self.stats.len().min(MAX_ITEMS_PER_REQUEST);
        let mut nd = self.diagnostics.len().min(MAX_ITEMS_PER_REQUEST);
        loop {
            if ns == 0 && nd == 0 {
                self.dropped += (self.stats.len() + self.diagnostics.len()) as u64;
                self.stats.clear();
                self.diagnostics.clear();
                return None;
            }
            let newest = |q: &VecDeque<Json>, n: usize| -> Vec<Json> {
                q.iter().skip(q.len().saturating_sub(n)).cloned().collect()
            };
            let text = (codec.write)(&body(
                tags,
                timestamp,
                newest(&self.stats, ns),
                newest(&self.diagnostics, nd),
            ));
            if text.len() <= max_bytes {
                self.dropped += (self.stats.len() - ns + self.diagnostics.len() - nd) as u64;
                self.stats.clear();
                self.diagnostics.clear();
                return Some(text);
            }
            // Halve the larger share (stats samples are the big items).
            if ns >= nd {
                ns /= 2;
            } else {
                nd /= 2;
            }
        }
    }
}

/// `{sessionId, timestamp, sdkVersion, model?, tags, stats, diagnostics}`.
fn body(tags: &Tags, timestamp: f64, stats: Vec<Json>, diagnostics: Vec<Json>) -> Json {
    Obj::new()
        .set("sessionId", tags.session_id.as_str())
        .set("timestamp", timestamp)
        .set("sdkVersion", tags.sdk_version.as_str())
        .opt("model", tags.model.as_deref())
        .set("tags", tags.to_json())
        .set("stats", Json::Arr(stats))
        .set("diagnostics", Json::Arr(diagnostics))
        .build()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::json::{parse, NATIVE};

    fn tags() -> Tags {
        Tags {
            session_id: "s1".into(),
            sdk_version: "0.1.0".into(),
            model: Some("mirage".into()),
            integration: None,
            transport: Some("ivs"),
        }
    }

    fn item(i: usize) -> Json {
        Obj::new().set("i", i).build()
    }

    fn len(v: &Json, k: &str) -> usize {
        v.get(k).and_then(Json::as_array).map_or(0, <[Json]>::len)
    }

    #[test]
    fn bodies_carry_tags_and_at_most_120_items_each() {
        let mut b = TelemetryBuffer::default();
        for i in 0..250 {
            b.push_stats(item(i));
        }
        for i in 0..5 {
            b.push_diagnostic(diagnostic_item("reconnect", item(i), 1.0));
        }
        let bodies = b.take_bodies(&tags(), 42.0, NATIVE);
        assert_eq!(bodies.len(), 3);
        let parsed: Vec<Json> = bodies.iter().map(|s| parse(s).unwrap()).collect();
        assert_eq!(
            parsed.iter().map(|p| len(p, "stats")).collect::<Vec<_>>(),
            [120, 120, 10]
        );
        assert_eq!(len(&parsed[0], "diagnostics"), 5);
        assert_eq!(len(&parsed[1], "diagnostics"), 0);
        // Order kept across requests.
        let second = parsed[1].get("stats").and_then(Json::as_array).unwrap();
        assert_eq!(second[0].num("i"), Some(120.0));
        let p = &parsed[0];
        assert_eq!(p.str("sessionId"), Some("s1"));
        assert_eq!(p.str("sdkVersion"), Some("0.1.0"));
        assert_eq!(p.str("model"), Some("mirage"));
        assert_eq!(p.num("timestamp"), Some(42.0));
        assert_eq!(
            crate::core::json::write(p.get("tags").unwrap()),
            r#"{"session_id":"s1","sdk_version":"0.1.0","model":"mirage","transport":"ivs"}"#,
            "absent tags are omitted, never null"
        );
        let d = &p.get("diagnostics").and_then(Json::as_array).unwrap()[0];
        assert_eq!(
            (d.str("name"), d.num("timestamp")),
            (Some("reconnect"), Some(1.0))
        );
        assert!(b.is_empty());
        assert!(b.take_bodies(&tags(), 43.0, NATIVE).is_empty());
    }

    #[test]
    fn buffer_is_bounded_dropping_the_oldest() {
        let mut b = TelemetryBuffer::default();
        for i in 0..(MAX_BUFFERED + 7) {
            b.push_stats(item(i));
        }
        assert_eq!(b.dropped(), 7);
        let bodies = b.take_bodies(&tags(), 0.0, NATIVE);
        assert_eq!(bodies.len(), MAX_BUFFERED / MAX_ITEMS_PER_REQUEST);
        let first = parse(&bodies[0]).unwrap();
        assert_eq!(
            first.get("stats").and_then(Json::as_array).unwrap()[0].num("i"),
            Some(7.0)
        );
    }

    #[test]
    fn final_body_fits_the_keepalive_limit_keeping_the_newest() {
        let mut b = TelemetryBuffer::default();
        let big = "x".repeat(2000);
        for i in 0..100u32 {
            b.push_stats(Obj::new().set("i", i).set("pad", big.as_str()).build());
        }
        b.push_diagnostic(diagnostic_item("videoStall", Json::Null, 0.0));
        let body = b
            .take_final_body(&tags(), 1.0, KEEPALIVE_MAX_BYTES, NATIVE)
            .expect("a body");
        assert!(body.len() <= KEEPALIVE_MAX_BYTES, "{}", body.len());
        let p = parse(&body).unwrap();
        let stats = p.get("stats").and_then(Json::as_array).unwrap();
        assert!(!stats.is_empty() && stats.len() < 100);
        assert_eq!(
            stats.last().unwrap().num("i"),
            Some(99.0),
            "the newest sample is kept"
        );
        assert_eq!(len(&p, "diagnostics"), 1);
        assert!(b.is_empty());
        assert!(b
            .take_final_body(&tags(), 1.0, KEEPALIVE_MAX_BYTES, NATIVE)
            .is_none());
    }

    #[test]
    fn a_single_item_too_big_for_keepalive_is_dropped() {
        let mut b = TelemetryBuffer::default();
        b.push_stats(
            Obj::new()
                .set("pad", "x".repeat(KEEPALIVE_MAX_BYTES))
                .build(),
        );
        assert!(b
            .take_final_body(&tags(), 1.0, KEEPALIVE_MAX_BYTES, NATIVE)
            .is_none());
        assert!(b.is_empty());
    }
}
