//! Telemetry batching (`shared/PROTOCOL.md`, "Telemetry"): stats samples and diagnostics are
//! buffered and, every interval, turned into request bodies of at most
//! [`MAX_ITEMS_PER_REQUEST`] items per array. The buffer is bounded so a session that never
//! learns its id (or a collector that is down) cannot grow memory without limit: the oldest
//! items go first.
//!
//! The API key is never part of a body; the browser layer sends it in a request header.

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;

/// Most items of one kind in one request.
pub const MAX_ITEMS_PER_REQUEST: usize = 120;
/// Most items of one kind kept while waiting to be sent.
pub const MAX_BUFFERED: usize = 10 * MAX_ITEMS_PER_REQUEST;
/// Body size bound for the final `keepalive` flush (browsers allow 64 KiB in flight).
pub const KEEPALIVE_MAX_BYTES: usize = 60 * 1024;

/// The tags every request carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tags {
    pub session_id: String,
    pub sdk_version: String,
    pub model: String,
    pub integration: Option<String>,
    pub transport: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    session_id: &'a str,
    timestamp: f64,
    sdk_version: &'a str,
    model: &'a str,
    tags: &'a Tags,
    stats: &'a [Value],
    diagnostics: &'a [Value],
}

/// Buffered items of one session.
#[derive(Debug, Default)]
pub struct TelemetryBuffer {
    stats: VecDeque<Value>,
    diagnostics: VecDeque<Value>,
    dropped: u64,
}

fn push_bounded(q: &mut VecDeque<Value>, v: Value, dropped: &mut u64) {
    if q.len() >= MAX_BUFFERED {
        q.pop_front();
        *dropped += 1;
    }
    q.push_back(v);
}

impl TelemetryBuffer {
    /// Adds a stats sample.
    pub fn push_stats(&mut self, v: Value) {
        push_bounded(&mut self.stats, v, &mut self.dropped);
    }

    /// Adds a diagnostic.
    pub fn push_diagnostic(&mut self, v: Value) {
        push_bounded(&mut self.diagnostics, v, &mut self.dropped);
    }

    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty() && self.diagnostics.is_empty()
    }

    /// Items dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes everything buffered as request bodies (JSON text), each with at most
    /// [`MAX_ITEMS_PER_REQUEST`] stats and diagnostics.
    pub fn take_bodies(&mut self, tags: &Tags, timestamp: f64) -> Vec<String> {
        let mut out = Vec::new();
        while !self.is_empty() {
            let ns = self.stats.len().min(MAX_ITEMS_PER_REQUEST);
            let nd = self.diagnostics.len().min(MAX_ITEMS_PER_REQUEST);
            let stats: Vec<Value> = self.stats.drain(..ns).collect();
            let diagnostics: Vec<Value> = self.diagnostics.drain(..nd).collect();
            out.push(body(tags, timestamp, &stats, &diagnostics));
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
            let stats: Vec<Value> = self
                .stats
                .iter()
                .skip(self.stats.len() - ns)
                .cloned()
                .collect();
            let diagnostics: Vec<Value> = self
                .diagnostics
                .iter()
                .skip(self.diagnostics.len() - nd)
                .cloned()
                .collect();
            let b = body(tags, timestamp, &stats, &diagnostics);
            if b.len() <= max_bytes {
                self.dropped += (self.stats.len() - ns + self.diagnostics.len() - nd) as u64;
                self.stats.clear();
                self.diagnostics.clear();
                return Some(b);
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

fn body(tags: &Tags, timestamp: f64, stats: &[Value], diagnostics: &[Value]) -> String {
    serde_json::to_string(&Body {
        session_id: &tags.session_id,
        timestamp,
        sdk_version: &tags.sdk_version,
        model: &tags.model,
        tags,
        stats,
        diagnostics,
    })
    .unwrap_or_default()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::json;

    fn tags() -> Tags {
        Tags {
            session_id: "s1".into(),
            sdk_version: "0.1.0".into(),
            model: "mirage".into(),
            integration: None,
            transport: "ivs".into(),
        }
    }

    #[test]
    fn bodies_carry_tags_and_at_most_120_items_each() {
        let mut b = TelemetryBuffer::default();
        for i in 0..250 {
            b.push_stats(json!({"i": i}));
        }
        for i in 0..5 {
            b.push_diagnostic(json!({"kind": "reconnect", "i": i}));
        }
        let bodies = b.take_bodies(&tags(), 42.0);
        assert_eq!(bodies.len(), 3);
        let parsed: Vec<Value> = bodies
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        assert_eq!(
            parsed
                .iter()
                .map(|p| p["stats"].as_array().unwrap().len())
                .collect::<Vec<_>>(),
            vec![120, 120, 10]
        );
        assert_eq!(parsed[0]["diagnostics"].as_array().unwrap().len(), 5);
        assert_eq!(parsed[1]["diagnostics"].as_array().unwrap().len(), 0);
        // Order kept across requests.
        assert_eq!(parsed[1]["stats"][0]["i"], 120);
        let p = &parsed[0];
        assert_eq!(p["sessionId"], "s1");
        assert_eq!(p["sdkVersion"], "0.1.0");
        assert_eq!(p["model"], "mirage");
        assert_eq!(p["timestamp"], 42.0);
        assert_eq!(
            p["tags"],
            json!({"session_id": "s1", "sdk_version": "0.1.0", "model": "mirage", "integration": null, "transport": "ivs"})
        );
        assert!(b.is_empty());
        assert!(b.take_bodies(&tags(), 43.0).is_empty());
    }

    #[test]
    fn buffer_is_bounded_dropping_the_oldest() {
        let mut b = TelemetryBuffer::default();
        for i in 0..(MAX_BUFFERED + 7) {
            b.push_stats(json!(i));
        }
        assert_eq!(b.dropped(), 7);
        let bodies = b.take_bodies(&tags(), 0.0);
        assert_eq!(bodies.len(), MAX_BUFFERED / MAX_ITEMS_PER_REQUEST);
        let first: Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(first["stats"][0], 7);
    }

    #[test]
    fn final_body_fits_the_keepalive_limit_keeping_the_newest() {
        let mut b = TelemetryBuffer::default();
        let big = "x".repeat(2000);
        for i in 0..100 {
            b.push_stats(json!({"i": i, "pad": big}));
        }
        b.push_diagnostic(json!({"kind": "videoStall"}));
        let body = b
            .take_final_body(&tags(), 1.0, KEEPALIVE_MAX_BYTES)
            .expect("a body");
        assert!(body.len() <= KEEPALIVE_MAX_BYTES, "{}", body.len());
        let p: Value = serde_json::from_str(&body).unwrap();
        let stats = p["stats"].as_array().unwrap();
        assert!(!stats.is_empty() && stats.len() < 100);
        assert_eq!(stats.last().unwrap()["i"], 99, "the newest sample is kept");
        assert_eq!(p["diagnostics"].as_array().unwrap().len(), 1);
        assert!(b.is_empty());
        assert!(b
            .take_final_body(&tags(), 1.0, KEEPALIVE_MAX_BYTES)
            .is_none());
    }

    #[test]
    fn a_single_item_too_big_for_keepalive_is_dropped() {
        let mut b = TelemetryBuffer::default();
        b.push_stats(json!({"pad": "x".repeat(KEEPALIVE_MAX_BYTES)}));
        assert!(b
            .take_final_body(&tags(), 1.0, KEEPALIVE_MAX_BYTES)
            .is_none());
        assert!(b.is_empty());
    }
}
