//! Whether the wall clock can be trusted, pure: fed with paired readings of the wall clock and
//! the monotonic clock, it detects steps (the two clocks disagree about how much time passed),
//! keeps the trusted timeline across them (a step's size is known, so times taken after it
//! can be re-based) and judges the wall time against a floor it cannot be below: the
//! last-known-good time persisted by this box and the build floor of this software.
//!
//! What it cannot know alone: a box that starts with its clock already years ahead looks
//! plausible here. The hub's window around its own time catches that (docs/time.md).

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// No true wall time is earlier than this (this software did not exist yet).
    pub floor_ns: i64,
    /// Disagreement between the clocks that counts as a step, and the slack allowed against
    /// the last-known-good time. NTP slews at most 0.5 ms/s, far below it.
    pub tolerance_ns: i64,
    /// Trust only a clock the kernel reports as synchronised (NTP, PTP). Off by default: many
    /// plant networks have no time server, and such a box must still run its shifts.
    pub require_sync: bool,
}

/// One paired reading of the clocks.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub wall_ns: i64,
    pub mono_ns: u64,
    /// The kernel's view, where it can be asked.
    pub synchronised: Option<bool>,
}

/// What the box shows about its clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub trusted: bool,
    /// Why not, in words for the line screen and the logs.
    pub why: Option<String>,
    /// Add to a wall time taken now to get it on the trusted timeline; `None` while that
    /// timeline is not known (a clock set wrong since boot).
    pub correction_ns: Option<i64>,
    pub synchronised: Option<bool>,
    /// Steps seen since start, and the last one.
    pub steps: u64,
    pub last_step_ns: Option<i64>,
}

/// What a reading revealed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// The wall clock stepped by this much.
    Stepped { by_ns: i64 },
    /// The wall clock, wrong since boot, was stepped to a plausible time: every wall time
    /// taken since boot is `by_ns` off, now known.
    Set { by_ns: i64 },
}

#[derive(Debug)]
pub struct Trust {
    policy: TrustPolicy,
    last_good_ns: Option<i64>,
    prev: Option<Reading>,
    correction: Option<i64>,
    steps: u64,
    last_step: Option<i64>,
    synchronised: Option<bool>,
}

impl Trust {
    /// `last_good_ns`: the last-known-good time this box persisted, if any.
    pub fn new(policy: TrustPolicy, last_good_ns: Option<i64>) -> Self {
        Self {
            policy,
            last_good_ns,
            prev: None,
            correction: None,
            steps: 0,
            last_step: None,
            synchronised: None,
        }
    }

    /// The earliest wall time that can be true now.
    fn floor(&self) -> i64 {
        let lkg = self
            .last_good_ns
            .map_or(i64::MIN, |t| t.saturating_sub(self.policy.tolerance_ns));
        self.policy.floor_ns.max(lkg)
    }

    pub fn observe(&mut self, r: Reading) -> Option<Change> {
        self.synchronised = r.synchronised;
        let plausible = r.wall_ns >= self.floor();
        let mut change = None;
        match self.prev {
            None => self.correction = plausible.then_some(0),
            Some(p) => {
                let d_wall = r.wall_ns.saturating_sub(p.wall_ns);
                let d_mono = i64::try_from(r.mono_ns.saturating_sub(p.mono_ns)).unwrap_or(i64::MAX);
                let step = d_wall.saturating_sub(d_mono);
                if step.saturating_abs() > self.policy.tolerance_ns {
                    self.steps = self.steps.saturating_add(1);
                    self.last_step = Some(step);
                    change = Some(Change::Stepped { by_ns: step });
                    match self.correction {
                        // Continue the trusted timeline across the step.
                        Some(c) => self.correction = Some(c.saturating_sub(step)),
                        // Wrong since boot and now set: the step is the error of everything
                        // taken before it.
                        None if plausible => {
                            self.correction = Some(0);
                            change = Some(Change::Set { by_ns: step });
                        }
                        None => {}
                    }
                } else if self.correction.is_none() && plausible {
                    // Slewed past the floor: trusted from here on, the past stays unknown.
                    self.correction = Some(0);
                }
            }
        }
        self.prev = Some(r);
        change
    }

    /// Why the clock is not trusted, without words: cheap enough for every loop that asks.
    fn doubt(&self) -> Option<Doubt> {
        match (self.prev, self.correction) {
            (None, _) => Some(Doubt::NotRead),
            (Some(r), None) => Some(Doubt::NotSet { wall_ns: r.wall_ns }),
            (Some(_), Some(c)) if c.saturating_abs() > self.policy.tolerance_ns => {
                Some(Doubt::Stepped { correction_ns: c })
            }
            _ if self.policy.require_sync && self.synchronised != Some(true) => {
                Some(Doubt::Unsynchronised)
            }
            _ => None,
        }
    }

    pub fn trusted(&self) -> bool {
        self.doubt().is_none()
    }

    /// What to add to a wall time taken now to put it on the trusted timeline, where known.
    pub fn correction(&self) -> Option<i64> {
        self.correction
    }

    pub fn assessment(&self) -> Assessment {
        let why = self.doubt().map(|d| match d {
            Doubt::NotRead => "the clock has not been read yet".to_owned(),
            Doubt::NotSet { wall_ns } => format!(
                "wall clock {} is before {}: not set since boot (no RTC battery, no time server yet?)",
                foodflow_protocol::time::format_rfc3339(wall_ns),
                if self.last_good_ns.is_some_and(|t| t > self.policy.floor_ns) {
                    "the last known good time of this box"
                } else {
                    "the release date of this software"
                }
            ),
            Doubt::Stepped { correction_ns } => format!(
                "wall clock stepped by {} s; times are corrected on the monotonic clock until \
                 it steps back",
                -correction_ns / 1_000_000_000
            ),
            Doubt::Unsynchronised => {
                "the kernel reports the clock as not synchronised (no NTP or PTP)".to_owned()
            }
        });
        Assessment {
            trusted: why.is_none(),
            why,
            correction_ns: self.correction,
            synchronised: self.synchronised,
            steps: self.steps,
            last_step_ns: self.last_step,
        }
    }

    /// The time to persist as last known good, while the clock is trusted.
    pub fn last_good(&self) -> Option<i64> {
        self.prev.filter(|_| self.trusted()).map(|r| r.wall_ns)
    }
}

#[derive(Debug, Clone, Copy)]
enum Doubt {
    NotRead,
    NotSet { wall_ns: i64 },
    Stepped { correction_ns: i64 },
    Unsynchronised,
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_796_000_000 * S;
    const FLOOR: i64 = 1_767_225_600 * S;

    fn trust(last_good: Option<i64>) -> Trust {
        Trust::new(
            TrustPolicy {
                floor_ns: FLOOR,
                tolerance_ns: S,
                require_sync: false,
            },
            last_good,
        )
    }

    fn at(wall_ns: i64, mono_s: u64) -> Reading {
        Reading {
            wall_ns,
            mono_ns: mono_s * 1_000_000_000,
            synchronised: None,
        }
    }

    #[test]
    fn a_plausible_clock_is_trusted() {
        let mut t = trust(None);
        assert_eq!(t.observe(at(NOW, 10)), None);
        assert_eq!(t.observe(at(NOW + 5 * S, 15)), None);
        assert!(t.assessment().trusted);
        assert_eq!(t.last_good(), Some(NOW + 5 * S));
    }

    #[test]
    fn a_1970_boot_is_untrusted_until_set_and_then_the_error_is_known() {
        let mut t = trust(Some(NOW - 3600 * S));
        t.observe(at(86_400 * S, 10));
        let a = t.assessment();
        assert!(!a.trusted);
        assert_eq!(a.correction_ns, None);
        assert!(a.why.unwrap().contains("last known good"), "");
        assert_eq!(t.last_good(), None);
        // NTP sets it 100 s of running later.
        let change = t.observe(at(NOW + 100 * S, 110));
        assert_eq!(
            change,
            Some(Change::Set {
                by_ns: NOW + 100 * S - 86_400 * S - 100 * S
            })
        );
        assert!(t.assessment().trusted);
    }

    #[test]
    fn a_step_ahead_and_back_is_corrected_and_then_trusted_again() {
        let mut t = trust(None);
        t.observe(at(NOW, 10));
        let two_years = 2 * 365 * 86_400 * S;
        assert_eq!(
            t.observe(at(NOW + two_years + S, 11)),
            Some(Change::Stepped { by_ns: two_years })
        );
        let a = t.assessment();
        assert!(!a.trusted);
        assert_eq!(
            a.correction_ns,
            Some(-two_years),
            "re-based on the old timeline"
        );
        assert_eq!(
            t.last_good(),
            None,
            "a stepped clock is never last known good"
        );
        t.observe(at(NOW + 31 * S, 41));
        let a = t.assessment();
        assert!(a.trusted, "{a:?}");
        assert_eq!(a.correction_ns, Some(0));
        assert_eq!(a.steps, 2);
    }

    #[test]
    fn slewing_is_not_a_step() {
        let mut t = trust(None);
        t.observe(at(NOW, 10));
        // 0.5 ms per second for 100 s: what NTP does at most.
        assert_eq!(t.observe(at(NOW + 100 * S + 50_000_000, 110)), None);
        assert!(t.assessment().trusted);
    }

    #[test]
    fn behind_the_last_known_good_time_is_untrusted() {
        let mut t = trust(Some(NOW));
        t.observe(at(NOW - 3600 * S, 10));
        assert!(!t.assessment().trusted);
    }

    #[test]
    fn an_unsynchronised_clock_is_untrusted_only_where_sync_is_required() {
        let mut t = Trust::new(
            TrustPolicy {
                floor_ns: FLOOR,
                tolerance_ns: S,
                require_sync: true,
            },
            None,
        );
        t.observe(Reading {
            synchronised: Some(false),
            ..at(NOW, 1)
        });
        assert!(t.assessment().why.unwrap().contains("not synchronised"));
        t.observe(Reading {
            synchronised: Some(true),
            ..at(NOW + S, 2)
        });
        assert!(t.assessment().trusted);
    }
}
