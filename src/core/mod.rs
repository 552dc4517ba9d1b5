//! The pure core: no browser APIs, no clock, no sockets. Time comes in as arguments
//! (milliseconds, as `performance.now()` gives them) and results are returned.

pub mod base64;
pub mod diagnostics;
pub mod error;
pub mod json;
pub mod latency;
pub mod marker;
pub mod models;
pub mod options;
pub mod preflight;
pub mod protocol;
pub mod quality;
pub mod redact;
pub mod retry;
pub mod sdp;
pub mod stats;
pub mod telemetry;
pub mod token;
pub mod urls;
