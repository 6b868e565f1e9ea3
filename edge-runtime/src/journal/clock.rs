//! The journal clock: how long this journal has run, in nanoseconds. It is persisted with
//! every commit and carried on with the monotonic clock, so a wall-clock step (a box booting
//! at 1970, NTP stepping it years ahead or back) cannot move it. Time the box was off does not
//! count: retention by age is late after downtime, never early.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

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

/// What the wall clock's watcher (`crate::wallclock`) knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallState {
    Trusted,
    /// Untrusted, and a wall time taken now is off by minus this much (a step is known).
    Corrected(i64),
    /// Untrusted, and how far off is not known yet (a clock wrong since start).
    Unknown,
}

/// A record stamped this much before its append is late, not stepped (queues under load);
/// a step back by less is caught by the watcher within its second.
const LATE_NS: i64 = 60_000_000_000;
/// A record stamped this much after its append was stamped on a clock that stepped ahead.
const EARLY_NS: i64 = 1_000_000_000;

#[derive(Debug)]
struct Inner {
    state: WallState,
    /// The watcher's last reading: the time on the timeline `state` names (the trusted one,
    /// or the untrusted clock's own) and when it was taken.
    anchor: Option<(i64, Instant)>,
    since_start: Option<i64>,
}

/// The wall clock's state as the journal stamps records with it. The watcher sets it once a
/// second; between its readings the journal judges each record's time against the watcher's
/// last reading carried on with the monotonic clock, so a step is caught at the first record
/// stamped after it, not a second later. Until a watcher reports, the clock counts as trusted
/// (tools and tests that run no watcher).
#[derive(Debug)]
pub struct WallTrust {
    inner: Mutex<Inner>,
}

impl Default for WallTrust {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: WallState::Trusted,
                anchor: None,
                since_start: None,
            }),
        }
    }
}

impl WallTrust {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The watcher's verdict on a reading of the wall clock taken `at`.
    pub fn observe(&self, state: WallState, wall_ns: i64, at: Instant) {
        let timeline = match state {
            WallState::Corrected(c) => wall_ns.saturating_add(c),
            WallState::Trusted | WallState::Unknown => wall_ns,
        };
        let mut g = self.lock();
        g.state = state;
        g.anchor = Some((timeline, at));
    }

    /// The clock, wrong since this process started, was set: every wall time taken before
    /// was `by_ns` off.
    pub fn set_since_start(&self, by_ns: i64) {
        self.lock().since_start = Some(by_ns);
    }

    pub fn since_start(&self) -> Option<i64> {
        self.lock().since_start
    }

    /// The judge for the records of one append, as of now.
    pub fn judge(&self, run: u64) -> Judge {
        let g = self.lock();
        let expected = g.anchor.map(|(t, at)| {
            let run_ns = i64::try_from(at.elapsed().as_nanos()).unwrap_or(i64::MAX);
            t.saturating_add(run_ns)
        });
        Judge {
            state: g.state,
            expected,
            run,
        }
    }
}

/// Marks the records of one append whose time is in doubt.
#[derive(Debug, Clone, Copy)]
pub struct Judge {
    state: WallState,
    /// Now on the watcher's timeline, where it has reported.
    expected: Option<i64>,
    run: u64,
}

impl Judge {
    /// The mark for a record the edge stamped `ts_ns`, if its time is in doubt.
    pub fn mark(&self, ts_ns: i64) -> Option<Untrusted> {
        let corrected = |c| {
            Some(Untrusted {
                run: self.run,
                correction_ns: Some(c),
            })
        };
        let Some(expected) = self.expected else {
            return Untrusted::for_state(self.state, self.run);
        };
        // How far the stamp lies behind now on the watcher's timeline.
        let behind = expected.saturating_sub(ts_ns);
        let near = |c: i64| (-EARLY_NS..=LATE_NS).contains(&behind.saturating_sub(c));
        match self.state {
            // On the trusted timeline: the clock is right (again).
            WallState::Trusted | WallState::Corrected(_) if near(0) => None,
            WallState::Corrected(c) if near(c) => corrected(c),
            // A step the watcher has not seen yet: its size is the record's distance.
            WallState::Trusted | WallState::Corrected(_) => corrected(behind),
            WallState::Unknown if near(0) => Untrusted::for_state(self.state, self.run),
            // The clock wrong since start was set after the watcher's reading: this stamp is
            // on the new clock, which the watcher will judge within its second.
            WallState::Unknown => None,
        }
    }
}

/// The note a record stamped on an untrusted clock carries in the journal: the run of the
/// edge that stamped it (a run's error becomes known when its clock is set) and, where the
/// error was known when it was stamped, the correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Untrusted {
    pub run: u64,
    pub correction_ns: Option<i64>,
}

impl Untrusted {
    fn for_state(state: WallState, run: u64) -> Option<Self> {
        match state {
            WallState::Trusted => None,
            WallState::Corrected(c) => Some(Self {
                run,
                correction_ns: Some(c),
            }),
            WallState::Unknown => Some(Self {
                run,
                correction_ns: None,
            }),
        }
    }

    /// The wire note for a record claimed at `ts_ns`; `run_error` gives the error of a run
    /// whose clock was set later, where known.
    pub fn note(
        self,
        ts_ns: i64,
        run_error: impl FnOnce(u64) -> Option<i64>,
    ) -> foodflow_protocol::ClockNote {
        let c = self.correction_ns.or_else(|| run_error(self.run));
        foodflow_protocol::ClockNote {
            untrusted: true,
            corrected_ts_ns: c.map(|c| ts_ns.saturating_add(c)),
            ..Default::default()
        }
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

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_796_000_000 * S;

    #[test]
    fn without_a_watcher_every_record_is_trusted() {
        assert_eq!(WallTrust::default().judge(1).mark(0), None);
    }

    #[test]
    fn a_step_is_caught_at_the_first_record_after_it_and_corrected_exactly_once_known() {
        let w = WallTrust::default();
        w.observe(WallState::Trusted, NOW, Instant::now());
        let j = w.judge(4);
        assert_eq!(j.mark(NOW), None);
        assert_eq!(j.mark(NOW - 30 * S), None, "late in a queue, not stepped");
        let two_years = 2 * 365 * 86_400 * S;
        let m = j
            .mark(NOW + two_years)
            .expect("stepped ahead, watcher not yet told");
        let off = m.correction_ns.unwrap() + two_years;
        assert!(
            (0..S).contains(&off),
            "corrected to within the time since the reading"
        );
        // The watcher saw the step: the correction is its exact size.
        w.observe(
            WallState::Corrected(-two_years),
            NOW + two_years,
            Instant::now(),
        );
        let j = w.judge(4);
        let n = j
            .mark(NOW + two_years)
            .unwrap()
            .note(NOW + two_years, |_| None);
        assert!(n.untrusted);
        assert_eq!(n.corrected_ts_ns, Some(NOW));
        // Stepped back to the truth before the watcher's next reading.
        assert_eq!(j.mark(NOW), None);
    }

    #[test]
    fn a_clock_wrong_since_start_is_corrected_once_set() {
        let w = WallTrust::default();
        let boot = 86_400 * S;
        w.observe(WallState::Unknown, boot, Instant::now());
        let j = w.judge(3);
        let m = j.mark(boot).unwrap();
        assert_eq!(m.note(boot, |_| None).corrected_ts_ns, None);
        assert_eq!(
            m.note(boot, |run| (run == 3).then_some(NOW - boot))
                .corrected_ts_ns,
            Some(NOW)
        );
        assert_eq!(j.mark(NOW), None, "set between the watcher's readings");
    }
}
