//! Retention policy, pure: which stream loses its oldest records next, and why.
//!
//! Two rules keep a wrong wall clock from destroying data (a box that booted at 1970 and was
//! then stepped forward by NTP, or a time server years ahead):
//! - Age is the journal's own clock ([`super::clock`]): time this journal has run, which a
//!   clock step cannot move. The records' wall-clock stamps play no part here.
//! - Only records the next hop has confirmed are pruned for age, or for the byte quota while
//!   confirmed ones are left. Dropping unconfirmed records happens only when the byte quota
//!   leaves no choice, and is then flagged so that it is alarmed and recorded as what it is.
//!
//! Critical records (trace, quality, audit) are never dropped; a full critical quota is only
//! reported, so an operator can add disk before anything regulated is at risk.

use foodflow_protocol::{PriorityClass, StreamId};

use crate::profile::Quotas;

/// What the policy sees of one stream. Seqs are those of the journal; `first_seq..next_seq`
/// are held.
#[derive(Debug, Clone)]
pub struct StreamView {
    pub stream: StreamId,
    pub class: PriorityClass,
    pub bytes: u64,
    /// The oldest held seq (`next_seq` when the stream holds nothing).
    pub first_seq: u64,
    pub next_seq: u64,
    /// Every seq below this one is confirmed by the next hop.
    pub confirmed_below: u64,
    /// Every seq below this one arrived before the class's age cutoff ([`age_cutoff`]).
    pub aged_below: u64,
    /// When the oldest held record arrived, on the journal clock (ns); orders the victims of
    /// the byte quota.
    pub oldest_arrival_ns: u64,
}

impl StreamView {
    /// The newest record is kept: a stream that holds nothing shows no activity in
    /// `journal stats`, and a record's seq is what the next hop checks order against.
    fn keep_from(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    fn confirmed_prunable(&self) -> u64 {
        self.confirmed_below.min(self.keep_from())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Drop records of `stream` with `seq < below_seq`, oldest first, at most `max_bytes`.
    Prune {
        stream: StreamId,
        below_seq: u64,
        max_bytes: u64,
        reason: String,
        /// The drop takes records the next hop has not confirmed: a loss, not routine.
        unconfirmed: bool,
    },
    /// A class that may not be pruned is over its quota.
    OverQuota {
        class: PriorityClass,
        bytes: u64,
        quota: u64,
    },
}

/// The journal-clock time before which a record of `class` is older than its maximum age, or
/// `None` while the journal has not run that long.
pub fn age_cutoff(quotas: &Quotas, class: PriorityClass, now_ns: u64) -> Option<u64> {
    let age_ns = quotas.get(class).max_age.0.saturating_mul(1_000_000_000);
    now_ns.checked_sub(age_ns)
}

/// The next action to take, or `None` when every class is within its age and byte quota (or
/// nothing more may be dropped).
pub fn next_action(views: &[StreamView], quotas: &Quotas) -> Option<Action> {
    for class in PriorityClass::ALL {
        let q = quotas.get(class);
        let in_class = || views.iter().filter(move |v| v.class == class);
        let total: u64 = in_class().map(|v| v.bytes).sum();
        if class == PriorityClass::Critical {
            if total > q.max_bytes.0 {
                return Some(Action::OverQuota {
                    class,
                    bytes: total,
                    quota: q.max_bytes.0,
                });
            }
            continue;
        }
        // Every stream with something old and confirmed, not only the first one found: a
        // stream whose only old record is its newest must not end the pass.
        let aged = in_class()
            .map(|v| (v, v.aged_below.min(v.confirmed_prunable())))
            .find(|(v, below)| *below > v.first_seq);
        if let Some((v, below)) = aged {
            return Some(Action::Prune {
                stream: v.stream.clone(),
                below_seq: below,
                max_bytes: u64::MAX,
                reason: format!(
                    "retention: {} records older than {} s of journal time",
                    class.as_str(),
                    q.max_age.0
                ),
                unconfirmed: false,
            });
        }
        if total > q.max_bytes.0 {
            // Down to 90 % of the quota, so that the Gap record written for the drop (and the
            // next few appends) do not trigger another drop at once. Confirmed records go
            // first, the oldest stream first; unconfirmed ones only when none are left.
            let excess = total - q.max_bytes.0 / 10 * 9;
            let confirmed = in_class()
                .filter(|v| v.confirmed_prunable() > v.first_seq)
                .min_by_key(|v| v.oldest_arrival_ns);
            if let Some(v) = confirmed {
                return Some(Action::Prune {
                    stream: v.stream.clone(),
                    below_seq: v.confirmed_prunable(),
                    max_bytes: excess,
                    reason: format!(
                        "retention: {} quota of {} bytes reached",
                        class.as_str(),
                        q.max_bytes.0
                    ),
                    unconfirmed: false,
                });
            }
            let forced = in_class()
                .filter(|v| v.keep_from() > v.first_seq)
                .min_by_key(|v| v.oldest_arrival_ns)?;
            return Some(Action::Prune {
                stream: forced.stream.clone(),
                below_seq: forced.keep_from(),
                max_bytes: excess,
                reason: format!(
                    "disk budget: the {} quota of {} bytes was reached before the next hop \
                     confirmed these records; they were dropped unsent (uplink down too long, \
                     or the quota is too small for the outage)",
                    class.as_str(),
                    q.max_bytes.0
                ),
                unconfirmed: true,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream holding seqs 1..=100, everything confirmed, everything old.
    fn view(s: &str, class: PriorityClass, bytes: u64, arrival: u64) -> StreamView {
        StreamView {
            stream: StreamId::new(s).unwrap(),
            class,
            bytes,
            first_seq: 1,
            next_seq: 101,
            confirmed_below: 101,
            aged_below: 101,
            oldest_arrival_ns: arrival,
        }
    }

    fn quotas(bytes: u64, age_s: u64) -> Quotas {
        Quotas::uniform(bytes, age_s)
    }

    #[test]
    fn within_quota_does_nothing() {
        let mut v = view("a", PriorityClass::Telemetry, 10, 0);
        v.aged_below = 1;
        assert_eq!(next_action(&[v], &quotas(100, 10)), None);
    }

    #[test]
    fn old_confirmed_records_are_pruned_keeping_the_newest() {
        let v = view("a", PriorityClass::Telemetry, 10, 0);
        match next_action(&[v], &quotas(100, 10)) {
            Some(Action::Prune {
                below_seq,
                unconfirmed,
                ..
            }) => assert_eq!((below_seq, unconfirmed), (100, false)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn age_never_prunes_what_the_next_hop_has_not_confirmed() {
        let mut v = view("a", PriorityClass::Telemetry, 10, 0);
        v.confirmed_below = 40;
        match next_action(std::slice::from_ref(&v), &quotas(100, 10)) {
            Some(Action::Prune { below_seq, .. }) => assert_eq!(below_seq, 40),
            other => panic!("{other:?}"),
        }
        v.confirmed_below = 1;
        assert_eq!(next_action(&[v], &quotas(100, 10)), None, "uplink down");
    }

    #[test]
    fn a_stream_with_nothing_to_prune_does_not_end_the_pass() {
        let mut only_newest = view("a", PriorityClass::Telemetry, 10, 0);
        only_newest.first_seq = 100;
        let other = view("b", PriorityClass::Telemetry, 10, 0);
        match next_action(&[only_newest, other], &quotas(100, 10)) {
            Some(Action::Prune { stream, .. }) => assert_eq!(stream.as_str(), "b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn byte_quota_prunes_confirmed_records_first_oldest_stream_first() {
        let mut unconfirmed_oldest = view("u", PriorityClass::Telemetry, 80, 1);
        unconfirmed_oldest.confirmed_below = 1;
        let mut newer = view("new", PriorityClass::Telemetry, 80, 99);
        let mut older = view("old", PriorityClass::Telemetry, 80, 98);
        for v in [&mut unconfirmed_oldest, &mut newer, &mut older] {
            v.aged_below = 1;
        }
        match next_action(&[unconfirmed_oldest, newer, older], &quotas(200, 1000)) {
            Some(Action::Prune {
                stream,
                max_bytes,
                unconfirmed,
                ..
            }) => {
                assert_eq!(stream.as_str(), "old");
                assert_eq!(max_bytes, 60, "down to 90 % of the quota");
                assert!(!unconfirmed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn byte_quota_drops_unconfirmed_records_only_when_nothing_else_is_left_and_says_so() {
        let mut v = view("a", PriorityClass::Telemetry, 500, 0);
        v.confirmed_below = 1;
        v.aged_below = 1;
        match next_action(&[v], &quotas(100, 1000)) {
            Some(Action::Prune {
                below_seq,
                unconfirmed,
                reason,
                ..
            }) => {
                assert_eq!(below_seq, 100);
                assert!(unconfirmed);
                assert!(reason.contains("before the next hop confirmed"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn critical_is_reported_never_pruned() {
        let v = [view("trace", PriorityClass::Critical, 500, 0)];
        assert_eq!(
            next_action(&v, &quotas(100, 10)),
            Some(Action::OverQuota {
                class: PriorityClass::Critical,
                bytes: 500,
                quota: 100
            })
        );
    }

    #[test]
    fn the_age_cutoff_waits_until_the_journal_has_run_that_long() {
        let q = quotas(100, 10);
        assert_eq!(
            age_cutoff(&q, PriorityClass::Telemetry, 5_000_000_000),
            None
        );
        assert_eq!(
            age_cutoff(&q, PriorityClass::Telemetry, 12_000_000_000),
            Some(2_000_000_000)
        );
    }
}
