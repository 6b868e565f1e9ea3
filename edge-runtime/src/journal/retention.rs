//! Retention policy, pure: which stream loses its oldest records next, and why.
//! Critical records (trace, quality, audit) are never dropped; a full critical quota is only
//! reported, so an operator can add disk before anything regulated is at risk.

use foodflow_protocol::{PriorityClass, StreamId};

use crate::profile::Quotas;

/// What the policy sees of one stream.
#[derive(Debug, Clone)]
pub struct StreamView {
    pub stream: StreamId,
    pub class: PriorityClass,
    pub bytes: u64,
    pub oldest_ts_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Drop records older than `before_ns` from `stream`, at most `max_bytes` of them.
    Prune {
        stream: StreamId,
        before_ns: i64,
        max_bytes: u64,
        reason: String,
    },
    /// A class that may not be pruned is over its quota.
    OverQuota {
        class: PriorityClass,
        bytes: u64,
        quota: u64,
    },
}

/// The next action to take, or `None` when every class is within its age and byte quota.
pub fn next_action(views: &[StreamView], quotas: &Quotas, now_ns: i64) -> Option<Action> {
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
        let cutoff = now_ns.saturating_sub((q.max_age.0 as i64).saturating_mul(1_000_000_000));
        if let Some(v) = in_class().find(|v| v.oldest_ts_ns.is_some_and(|t| t < cutoff)) {
            return Some(Action::Prune {
                stream: v.stream.clone(),
                before_ns: cutoff,
                max_bytes: u64::MAX,
                reason: format!(
                    "retention: {} records older than {} s",
                    class.as_str(),
                    q.max_age.0
                ),
            });
        }
        if total > q.max_bytes.0 {
            // The stream holding the oldest data of the class pays first. Prune down to 90 % of
            // the quota, so that the Gap record written for the drop (and the next few appends)
            // do not trigger another drop at once.
            let victim = in_class()
                .filter(|v| v.oldest_ts_ns.is_some())
                .min_by_key(|v| v.oldest_ts_ns)?;
            return Some(Action::Prune {
                stream: victim.stream.clone(),
                before_ns: i64::MAX,
                max_bytes: total - q.max_bytes.0 / 10 * 9,
                reason: format!(
                    "retention: {} quota of {} bytes reached",
                    class.as_str(),
                    q.max_bytes.0
                ),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str, class: PriorityClass, bytes: u64, oldest: i64) -> StreamView {
        StreamView {
            stream: StreamId::new(s).unwrap(),
            class,
            bytes,
            oldest_ts_ns: Some(oldest),
        }
    }

    fn quotas(bytes: u64, age_s: u64) -> Quotas {
        Quotas::uniform(bytes, age_s)
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn within_quota_does_nothing() {
        let v = [view("a", PriorityClass::Telemetry, 10, 95 * S)];
        assert_eq!(next_action(&v, &quotas(100, 10), 100 * S), None);
    }

    #[test]
    fn old_records_are_pruned_by_age() {
        let v = [view("a", PriorityClass::Telemetry, 10, 50 * S)];
        match next_action(&v, &quotas(100, 10), 100 * S) {
            Some(Action::Prune { before_ns, .. }) => assert_eq!(before_ns, 90 * S),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn byte_quota_prunes_the_stream_with_the_oldest_data() {
        let v = [
            view("new", PriorityClass::Telemetry, 80, 99 * S),
            view("old", PriorityClass::Telemetry, 80, 98 * S),
        ];
        match next_action(&v, &quotas(100, 1000), 100 * S) {
            Some(Action::Prune {
                stream, max_bytes, ..
            }) => {
                assert_eq!(stream.as_str(), "old");
                assert_eq!(max_bytes, 70, "down to 90 % of the quota");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn critical_is_reported_never_pruned() {
        let v = [view("trace", PriorityClass::Critical, 500, 1)];
        assert_eq!(
            next_action(&v, &quotas(100, 10), 100 * S),
            Some(Action::OverQuota {
                class: PriorityClass::Critical,
                bytes: 500,
                quota: 100
            })
        );
    }
}
