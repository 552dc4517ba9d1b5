//! Warnings caused by what clients send (malformed frames, bad offers, refused
//! connections) go through a budget, so a flood of bad input writes a bounded number of log
//! lines: a burst, then about one line a second, each telling how many were left out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines allowed at once.
pub const BURST: u32 = 20;
/// One more line is allowed per this much time.
pub const REFILL: Duration = Duration::from_secs(1);

/// A token bucket of log lines.
#[derive(Debug)]
pub struct LogBudget {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    last_refill: Option<Instant>,
    suppressed: u64,
}

impl LogBudget {
    /// A full budget of [`BURST`] lines.
    pub const fn new() -> LogBudget {
        LogBudget {
            state: Mutex::new(Bucket {
                tokens: BURST,
                last_refill: None,
                suppressed: 0,
            }),
        }
    }

    /// Whether a line may be written at `now`: `Some(n)` with the number of lines left out
    /// since the last one written, `None` to leave this one out.
    pub fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let last = *b.last_refill.get_or_insert(now);
        let periods = now.saturating_duration_since(last).as_nanos() / REFILL.as_nanos();
        if periods > 0 {
            let add = u32::try_from(periods).unwrap_or(u32::MAX);
            b.tokens = b.tokens.saturating_add(add).min(BURST);
            // Keep the remainder: the next refill comes one period after the last one.
            let step = REFILL.saturating_mul(add);
            b.last_refill = Some(last.checked_add(step).unwrap_or(now).min(now));
        }
        if b.tokens == 0 {
            b.suppressed += 1;
            return None;
        }
        b.tokens -= 1;
        Some(std::mem::take(&mut b.suppressed))
    }

    /// [`LogBudget::allow_at`] now.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget::new()
    }
}

/// The budget of every warning about client input.
pub static CLIENT_INPUT: LogBudget = LogBudget::new();

/// `tracing::warn!` within [`CLIENT_INPUT`]; a line after a gap says how many were left
/// out (`suppressed = N`).
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {
        match $crate::ratelog::CLIENT_INPUT.allow() {
            Some(0) => ::tracing::warn!($($arg)+),
            Some(suppressed) => ::tracing::warn!(suppressed, $($arg)+),
            None => {}
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gets_a_burst_then_one_line_per_period() {
        let budget = LogBudget::new();
        let t0 = Instant::now();
        let written = (0..10_000)
            .filter(|_| budget.allow_at(t0).is_some())
            .count();
        assert_eq!(written, BURST as usize);
        // Half a period later: still nothing.
        assert_eq!(budget.allow_at(t0 + REFILL / 2), None);
        // One period later: one line, which reports what was left out.
        let suppressed = 10_000 - BURST as u64 + 1;
        assert_eq!(budget.allow_at(t0 + REFILL), Some(suppressed));
        assert_eq!(budget.allow_at(t0 + REFILL), None);
        // A flood over 10 s writes about ten more lines.
        let mut lines = 0;
        for i in 0..100_000u32 {
            let t = t0 + REFILL + Duration::from_micros(u64::from(i) * 100);
            lines += usize::from(budget.allow_at(t).is_some());
        }
        assert!((9..=11).contains(&lines), "{lines}");
    }

    #[test]
    fn a_quiet_budget_refills_to_the_burst_only() {
        let budget = LogBudget::new();
        let t0 = Instant::now();
        assert_eq!(budget.allow_at(t0), Some(0));
        let later = t0 + REFILL * 1000;
        let written = (0..1000)
            .filter(|_| budget.allow_at(later).is_some())
            .count();
        assert_eq!(written, BURST as usize);
    }
}
