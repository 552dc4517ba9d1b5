//! Wire protocol, both directions, from arbitrary text (`core::protocol`).
//!
//! Invariants: parsing never panics; an unknown `type` is one this side does not know; an
//! error names a known type or none; a parsed message written back with `to_text` parses
//! to the same message (the wire form is stable; numbers within `FLOAT_ULPS`, see
//! `src/lib.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_video_sdk::core::protocol::{
    parse_client_message, parse_server_message, to_text, ClientMessage, Incoming, ParseError,
    ServerMessage,
};
use realtime_video_sdk_fuzz::{assert_same, client_floats, server_floats};

fn check<T: PartialEq + std::fmt::Debug>(
    text: &str,
    parsed: Result<Incoming<T>, ParseError>,
    known: &[&str],
    reparse: impl Fn(&T) -> (String, Result<Incoming<T>, ParseError>),
    floats: impl Fn(&mut T) -> Vec<&mut f64>,
) {
    match parsed {
        Ok(Incoming::Message(m)) => match reparse(&m) {
            (wire, Ok(Incoming::Message(again))) => {
                assert_same(again, m, floats, &format!("{text:?} -> {wire:?}"))
            }
            (wire, other) => panic!("{text:?} -> {wire:?} read back as {other:?}"),
        },
        Ok(Incoming::Unknown(t)) => assert!(!known.contains(&t.as_str()), "{t} is known"),
        Err(e) => {
            if let Some(t) = &e.message_type {
                assert!(known.contains(&t.as_str()), "error names unknown type {t}");
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

fuzz_target!(|text: &str| {
    check(
        text,
        parse_server_message(text),
        ServerMessage::TYPES,
        |m: &ServerMessage| {
            let wire = to_text(m);
            let again = parse_server_message(&wire);
            (wire, again)
        },
        server_floats,
    );
    check(
        text,
        parse_client_message(text),
        ClientMessage::TYPES,
        |m: &ClientMessage| {
            let wire = to_text(m);
            let again = parse_client_message(&wire);
            (wire, again)
        },
        client_floats,
    );
});
