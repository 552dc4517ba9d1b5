//! Wire protocol, both directions, from arbitrary text (`core::protocol`).
//!
//! Invariants: parsing never panics; an unknown `type` is one this side does not know; an
//! error names a known type or none; a `metrics_report` keeps the object as received; a
//! parsed message written back with `to_text` parses to the same message (the wire form is
//! stable; numbers within `FLOAT_ULPS`, see `src/lib.rs`). Against serde_json as the
//! independent reference: a frame serde_json reads decodes (`from_json`) to what the core
//! reads from the text, unless it repeats a key (a documented difference: the core's
//! lookups take the first, serde_json and `JSON.parse` keep the last); and serde_json reads
//! the written frame back as the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::json::{self, Json};
use realtime_video_sdk::core::protocol::{
    from_json, parse_client_message, parse_server_message, to_text, ClientMessage, Incoming,
    Message, ParseError, ServerMessage,
};
use realtime_video_sdk_fuzz::{
    assert_same, canonical, client_floats, from_serde, has_repeated_key, server_floats,
};

/// A message's object as received, when it keeps one.
trait Received: Message + PartialEq + std::fmt::Debug + Clone {
    fn received(&mut self) -> Option<&mut Json>;
    fn floats(&mut self) -> Vec<&mut f64>;
    fn parse(text: &str) -> Result<Incoming<Self>, ParseError>;
}

impl Received for ServerMessage {
    fn received(&mut self) -> Option<&mut Json> {
        match self {
            ServerMessage::MetricsReport(r) => Some(&mut r.received),
            _ => None,
        }
    }
    fn floats(&mut self) -> Vec<&mut f64> {
        server_floats(self)
    }
    fn parse(text: &str) -> Result<Incoming<Self>, ParseError> {
        parse_server_message(text)
    }
}

impl Received for ClientMessage {
    fn received(&mut self) -> Option<&mut Json> {
        None
    }
    fn floats(&mut self) -> Vec<&mut f64> {
        client_floats(self)
    }
    fn parse(text: &str) -> Result<Incoming<Self>, ParseError> {
        parse_client_message(text)
    }
}

/// The message with its received object replaced by `f(object)`.
fn map_received<T: Received>(mut m: T, f: impl Fn(&Json) -> Json) -> T {
    if let Some(r) = m.received() {
        *r = f(r);
    }
    m
}

fn map_incoming<T: Received>(
    r: Result<Incoming<T>, ParseError>,
    f: impl Fn(&Json) -> Json,
) -> Result<Incoming<T>, ParseError> {
    r.map(|i| match i {
        Incoming::Message(m) => Incoming::Message(map_received(m, &f)),
        other => other,
    })
}

fn check<T: Received>(text: &str) {
    let parsed = T::parse(text);
    // Against serde_json's reading of the same text.
    if let (Ok(doc), Ok(reference)) = (
        json::parse(text),
        serde_json::from_str::<serde_json::Value>(text),
    ) {
        if !has_repeated_key(&doc) {
            assert_eq!(
                map_incoming(from_json::<T>(&from_serde(&reference)), canonical),
                map_incoming(parsed.clone(), canonical),
                "{text:?}: serde_json's reading decodes differently"
            );
        }
    }
    match parsed {
        Ok(Incoming::Message(mut m)) => {
            if let Some(r) = m.received() {
                assert_eq!(Ok(&*r), json::parse(text).as_ref(), "{text:?}: as received");
            }
            let m = map_received(m, |_| Json::Null);
            let wire = to_text(&m);
            let context = format!("{text:?} -> {wire:?}");
            match T::parse(&wire) {
                Ok(Incoming::Message(again)) => assert_same(
                    map_received(again, |_| Json::Null),
                    m.clone(),
                    T::floats,
                    &context,
                ),
                other => panic!("{context} read back as {other:?}"),
            }
            let reference = serde_json::from_str::<serde_json::Value>(&wire)
                .unwrap_or_else(|e| panic!("{context}: serde_json refuses the frame: {e}"));
            match from_json::<T>(&from_serde(&reference)) {
                Ok(Incoming::Message(again)) => assert_same(
                    map_received(again, |_| Json::Null),
                    m,
                    T::floats,
                    &format!("{context} (serde_json)"),
                ),
                other => panic!("{context} read back by serde_json as {other:?}"),
            }
        }
        Ok(Incoming::Unknown(t)) => assert!(!T::TYPES.contains(&t.as_str()), "{t} is known"),
        Err(e) => {
            if let Some(t) = &e.message_type {
                assert!(
                    T::TYPES.contains(&t.as_str()),
                    "error names unknown type {t}"
                );
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

fuzz_target!(|text: &str| {
    check::<ServerMessage>(text);
    check::<ClientMessage>(text);
});
