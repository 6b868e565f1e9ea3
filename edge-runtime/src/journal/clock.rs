//! The journal clock: how long this journal has run, in nanoseconds. It is persisted with
//! every commit and carried on with the monotonic clock, so a wall-clock step (a box booting
//! at 1970, NTP stepping it years ahead or back) cannot move it. Time the box was off does not
//! count: retention by age is late after downtime, never early.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct JournalClock {
    base_ns: u64,
    started: Instant,
    /// Time added by tests that cannot wait days.
    skipped_ns: AtomicU64,
}

impl JournalClock {
    /// Goes on from `base_ns`, the value the journal last persisted.
    pub fn resume(base_ns: u64) -> Self {
        Self {
            base_ns,
            started: Instant::now(),
            skipped_ns: AtomicU64::new(0),
        }
    }

    pub fn now_ns(&self) -> u64 {
        let run = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.base_ns
            .saturating_add(run)
            .saturating_add(self.skipped_ns.load(Ordering::Relaxed))
    }

    /// Moves the clock forward as if `d` had passed (tests of retention by age).
    #[cfg(test)]
    pub fn skip(&self, d: std::time::Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.skipped_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn goes_on_from_its_base_and_only_forward() {
        let c = JournalClock::resume(5_000);
        let a = c.now_ns();
        assert!(a >= 5_000);
        c.skip(Duration::from_secs(1));
        assert!(c.now_ns() >= a + 1_000_000_000);
    }
}
