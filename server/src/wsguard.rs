//! What every server WebSocket loop needs against dead or hostile peers: a keepalive (a
//! ping every so often; a peer from which nothing, not even a pong, arrives for too long is
//! closed), sends that give up on a peer that does not read, and the close that names a
//! message over the size limit.

use crate::limits::Limits;
use axum::extract::ws::{Message, WebSocket};
use std::time::Duration;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// The WebSocket close code for a message over the size limit (RFC 6455, 1009).
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The WebSocket close code for a policy violation (RFC 6455, 1008): limits, idleness.
pub const CLOSE_POLICY: u16 = 1008;

/// What the keepalive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Send a ping.
    Ping,
    /// Nothing arrived for the idle timeout: close.
    Idle,
}

/// Pings on an interval and watches for silence.
#[derive(Debug)]
pub struct Keepalive {
    ping: Interval,
    idle: Duration,
    last_seen: Instant,
}

impl Keepalive {
    /// Starts now: the first ping one interval from now.
    pub fn new(limits: &Limits) -> Keepalive {
        let every = limits.ws_ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Keepalive {
            ping,
            idle: limits.ws_idle_timeout,
            last_seen: Instant::now(),
        }
    }

    /// Something (any frame) arrived from the peer.
    pub fn seen(&mut self) {
        self.last_seen = Instant::now();
    }

    /// The next thing to do (cancel-safe: use it in `select!`).
    pub async fn next(&mut self) -> Beat {
        tokio::select! {
            _ = self.ping.tick() => Beat::Ping,
            _ = tokio::time::sleep_until(self.last_seen + self.idle) => Beat::Idle,
        }
    }

    /// The reason an idle peer is closed with.
    pub fn idle_reason(&self) -> String {
        format!(
            "idle timeout: nothing received for {} s",
            self.idle.as_secs_f64()
        )
    }
}

/// Sends `msg`, giving up after `timeout` (a peer that does not read). `false` when the
/// frame was not sent: the socket is then unusable.
pub async fn send(ws: &mut WebSocket, msg: Message, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, ws.send(msg)).await,
        Ok(Ok(()))
    )
}

/// When a receive error is a message over the size limit: the close reason that says so.
pub fn too_big(e: &axum::Error) -> Option<String> {
    use tungstenite::error::{CapacityError, Error};
    let source = std::error::Error::source(e)?;
    match source.downcast_ref::<Error>()? {
        Error::Capacity(CapacityError::MessageTooLong { max_size, .. }) => Some(format!(
            "message too big: the limit is {max_size} bytes per message"
        )),
        _ => None,
    }
}
