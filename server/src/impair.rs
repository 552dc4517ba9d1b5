//! User-space network impairment (the kernel here has no `netem`): delay, jitter, loss and
//! a rate cap on a session's UDP datagrams, each direction on its own [`Pipe`], for a
//! limited time if asked.
//!
//! Sans-IO like str0m: a [`Pipe`] decides, from the time and the datagram size it is
//! given, whether a datagram is lost or when it comes out; a [`DelayLine`] holds the
//! datagrams until then. The media task owns both and does the sending and receiving.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How a session's network misbehaves (`net_*` query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetImpairment {
    /// Added one-way delay (`net_delay_ms`).
    pub delay: Duration,
    /// Each datagram's delay varies uniformly within ± this (`net_jitter_ms`); datagrams
    /// may be reordered, as on a real network.
    pub jitter: Duration,
    /// Probability that a datagram is dropped, 0..=1 (`net_loss`).
    pub loss: f64,
    /// Link rate cap, kbit/s (`net_rate_kbps`): datagrams leave one after the other at
    /// this rate; beyond [`MAX_QUEUE_DELAY`] of backlog they are dropped.
    pub rate_kbps: Option<u32>,
    /// How long the impairment lasts from the session's start (`net_for_ms`); `None` =
    /// for the whole session.
    pub duration: Option<Duration>,
}

/// Longest backlog of a rate-capped pipe (a router queue); datagrams that would wait longer
/// are dropped.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_millis(250);

/// A small deterministic pseudo-random generator (xorshift64*): loss and jitter need
/// uniform draws, not cryptographic ones.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A seed that differs between calls (time and a counter).
    pub(crate) fn seed() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction of an impaired link.
#[derive(Debug, Clone)]
pub struct Pipe {
    imp: NetImpairment,
    until: Option<Instant>,
    rng: Rng,
    /// When the rate-capped link has sent everything admitted so far.
    busy_until: Option<Instant>,
}

impl Pipe {
    /// A pipe impaired from `start` on (for `imp.duration`, if given); `seed` drives the
    /// loss and jitter draws.
    pub fn new(imp: NetImpairment, start: Instant, seed: u64) -> Pipe {
        Pipe {
            imp,
            until: imp.duration.map(|d| start + d),
            rng: Rng::new(seed),
            busy_until: None,
        }
    }

    /// Whether the impairment still applies at `now`.
    pub fn is_active(&self, now: Instant) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// A datagram of `len` bytes enters at `now`: `None` when it is lost, else the time it
    /// comes out (`now` itself once the impairment is over).
    pub fn admit(&mut self, now: Instant, len: usize) -> Option<Instant> {
        if !self.is_active(now) {
            return Some(now);
        }
        if self.imp.loss > 0.0 && self.rng.next_f64() < self.imp.loss {
            return None;
        }
        let mut out = now;
        if let Some(kbps) = self.imp.rate_kbps.filter(|k| *k > 0) {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            if start.saturating_duration_since(now) > MAX_QUEUE_DELAY {
                return None;
            }
            let bits = len as f64 * 8.0;
            let sent = start + Duration::from_secs_f64(bits / (f64::from(kbps) * 1000.0));
            self.busy_until = Some(sent);
            out = sent;
        }
        let mut delay = self.imp.delay.as_secs_f64();
        if !self.imp.jitter.is_zero() {
            delay += (self.rng.next_f64() * 2.0 - 1.0) * self.imp.jitter.as_secs_f64();
        }
        Some(out + Duration::from_secs_f64(delay.max(0.0)))
    }
}

/// Items held until their time comes, earliest first (ties in arrival order).
#[derive(Debug)]
pub struct DelayLine<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_seq: u64,
    capacity: usize,
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<T> DelayLine<T> {
    /// A line holding at most `capacity` items (more are refused: memory stays bounded
    /// whatever the traffic).
    pub fn new(capacity: usize) -> DelayLine<T> {
        DelayLine {
            heap: BinaryHeap::new(),
            next_seq: 0,
            capacity,
        }
    }

    /// Holds `item` until `at`; `false` (and the item is dropped) when the line is full.
    pub fn push(&mut self, at: Instant, item: T) -> bool {
        if self.heap.len() >= self.capacity {
            return false;
        }
        self.heap.push(Reverse(Entry {
            at,
            seq: self.next_seq,
            item,
        }));
        self.next_seq += 1;
        true
    }

    /// The next item due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.heap.peek()?.0.at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e.item)
    }

    /// When the earliest item is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn imp() -> NetImpairment {
        NetImpairment::default()
    }

    #[test]
    fn delay_and_jitter() {
        let t0 = Instant::now();
        let mut p = Pipe::new(
            NetImpairment {
                delay: 100 * MS,
                ..imp()
            },
            t0,
            1,
        );
        assert_eq!(p.admit(t0, 1200), Some(t0 + 100 * MS));
        let mut p = Pipe::new(
            NetImpairment {
                delay: 100 * MS,
                jitter: 30 * MS,
                ..imp()
            },
            t0,
            7,
        );
        let outs: Vec<Duration> = (0..1000).map(|_| p.admit(t0, 100).unwrap() - t0).collect();
        assert!(outs.iter().all(|d| *d >= 70 * MS && *d <= 130 * MS));
        let (lo, hi) = (outs.iter().min().unwrap(), outs.iter().max().unwrap());
        assert!(*lo < 75 * MS && *hi > 125 * MS, "{lo:?} {hi:?}");
        // Jitter larger than the delay never sends into the past.
        let mut p = Pipe::new(
            NetImpairment {
                jitter: 50 * MS,
                ..imp()
            },
            t0,
            3,
        );
        assert!((0..100).all(|_| p.admit(t0, 1).unwrap() >= t0));
    }

    #[test]
    fn loss_rate() {
        let t0 = Instant::now();
        let mut p = Pipe::new(NetImpairment { loss: 0.3, ..imp() }, t0, 42);
        let lost = (0..10_000).filter(|_| p.admit(t0, 100).is_none()).count();
        assert!((2700..3300).contains(&lost), "{lost}");
        let mut all = Pipe::new(NetImpairment { loss: 1.0, ..imp() }, t0, 42);
        assert!((0..100).all(|_| all.admit(t0, 1).is_none()));
    }

    #[test]
    fn rate_cap_spaces_datagrams_and_drops_the_backlog() {
        let t0 = Instant::now();
        // 1000 kbit/s: a 1250-byte datagram takes 10 ms on the wire.
        let mut p = Pipe::new(
            NetImpairment {
                rate_kbps: Some(1000),
                ..imp()
            },
            t0,
            1,
        );
        assert_eq!(p.admit(t0, 1250), Some(t0 + 10 * MS));
        assert_eq!(p.admit(t0, 1250), Some(t0 + 20 * MS));
        // Later arrivals on an idle link start fresh.
        assert_eq!(p.admit(t0 + 100 * MS, 1250), Some(t0 + 110 * MS));
        // A burst: about 250 ms of backlog is kept, the rest dropped.
        let t1 = t0 + Duration::from_secs(1);
        let kept = (0..100).filter(|_| p.admit(t1, 1250).is_some()).count();
        assert!((25..=27).contains(&kept), "{kept}");
        // Throughput over a long run equals the cap.
        let mut p = Pipe::new(
            NetImpairment {
                rate_kbps: Some(500),
                ..imp()
            },
            t0,
            1,
        );
        let mut last = t0;
        let mut bytes = 0;
        for i in 0..2000u32 {
            let now = t0 + i * MS; // 1000 datagrams/s of 1000 B = 8 Mbit/s offered
            if let Some(at) = p.admit(now, 1000) {
                bytes += 1000;
                last = at;
            }
        }
        let kbps = bytes as f64 * 8.0 / (last - t0).as_secs_f64() / 1000.0;
        assert!((480.0..=520.0).contains(&kbps), "{kbps}");
    }

    #[test]
    fn impairment_ends_after_its_duration() {
        let t0 = Instant::now();
        let mut p = Pipe::new(
            NetImpairment {
                delay: 80 * MS,
                loss: 1.0,
                duration: Some(500 * MS),
                ..imp()
            },
            t0,
            1,
        );
        assert!(p.is_active(t0 + 499 * MS));
        assert_eq!(p.admit(t0 + 100 * MS, 10), None);
        assert!(!p.is_active(t0 + 500 * MS));
        assert_eq!(p.admit(t0 + 600 * MS, 10), Some(t0 + 600 * MS));
    }

    #[test]
    fn delay_line_orders_by_time_then_arrival_and_is_bounded() {
        let t0 = Instant::now();
        let mut line = DelayLine::new(3);
        assert!(line.push(t0 + 30 * MS, "c"));
        assert!(line.push(t0 + 10 * MS, "a"));
        assert!(line.push(t0 + 10 * MS, "b"));
        assert!(!line.push(t0, "refused"));
        assert_eq!(line.len(), 3);
        assert_eq!(line.next_due(), Some(t0 + 10 * MS));
        assert_eq!(line.pop_due(t0), None);
        assert_eq!(line.pop_due(t0 + 20 * MS), Some("a"));
        assert_eq!(line.pop_due(t0 + 20 * MS), Some("b"));
        assert_eq!(line.pop_due(t0 + 20 * MS), None);
        assert_eq!(line.pop_due(t0 + 30 * MS), Some("c"));
        assert!(line.is_empty());
    }
}
