//! The hub's check of the times it receives, pure: a window around the hub's own time. A
//! record whose edge time (corrected where the edge re-based it) lies outside the window is
//! stored as sent but flagged (`outside_window`), and every record whose time is in doubt
//! keeps when the hub received it. Flagged times never move a stream's `last_ts` and stay out
//! of charts until corrected (docs/time.md).

use foodflow_protocol::Segment;

/// How far from the hub's time a record's edge time may lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub past_ns: i64,
    pub future_ns: i64,
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;

impl Default for TimeWindow {
    /// A year back: a box offline for months still uploads its backlog unflagged, while a
    /// clock years off (1970, a stale RTC) is caught. Ahead, the one skew budget the TLS and
    /// token checks allow (15 minutes).
    fn default() -> Self {
        let budget = foodflow_transport::tls::CLOCK_SKEW_BUDGET.as_secs();
        Self {
            past_ns: 366 * DAY_NS,
            future_ns: i64::try_from(budget)
                .unwrap_or(0)
                .saturating_mul(1_000_000_000),
        }
    }
}

/// What [`TimeWindow::check`] found in one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Records the edge stamped on a clock it did not trust.
    pub untrusted: u64,
    /// Records whose time lay outside the window.
    pub outside_window: u64,
}

impl TimeWindow {
    /// Flags the entries of `segments` as the hub receives them at `received_ns`.
    pub fn check(&self, segments: &mut [Segment], received_ns: i64) -> Checked {
        let lo = received_ns.saturating_sub(self.past_ns);
        let hi = received_ns.saturating_add(self.future_ns);
        let mut out = Checked::default();
        for e in segments.iter_mut().flat_map(|s| s.entries.iter_mut()) {
            let t = e.clock.and_then(|c| c.corrected_ts_ns).unwrap_or(e.ts_ns);
            let outside = !(lo..=hi).contains(&t);
            if !outside && e.clock.is_none() {
                continue;
            }
            let mut note = e.clock.unwrap_or_default();
            note.received_ts_ns = Some(received_ns);
            note.outside_window = outside;
            out.untrusted += u64::from(note.untrusted);
            out.outside_window += u64::from(outside);
            e.clock = Some(note);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foodflow_protocol::batch::Entry;
    use foodflow_protocol::{
        ClockNote, DeviceId, Event, Payload, PriorityClass, Severity, StreamId,
    };

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_796_000_000 * S;

    fn seg(entries: Vec<Entry>) -> Vec<Segment> {
        vec![Segment {
            device: DeviceId::new("d").unwrap(),
            stream: StreamId::new("s").unwrap(),
            class: PriorityClass::Operational,
            entries,
        }]
    }

    fn at(seq: u64, ts: i64, clock: Option<ClockNote>) -> Entry {
        Entry {
            clock,
            ..Entry::new(
                seq,
                ts,
                Payload::Event(Event {
                    name: "e".into(),
                    severity: Severity::Info,
                    message: String::new(),
                }),
            )
        }
    }

    #[test]
    fn times_outside_the_window_are_flagged_and_inside_left_alone() {
        let w = TimeWindow::default();
        let two_years = 2 * 365 * DAY_NS;
        let mut b = seg(vec![
            at(1, NOW - 30 * DAY_NS, None),
            at(2, NOW + 10 * 60 * S, None),
            at(3, 86_400 * S, None),
            at(4, NOW + two_years, None),
            at(5, NOW - 367 * DAY_NS, None),
        ]);
        let c = w.check(&mut b, NOW);
        let flags: Vec<bool> = b[0]
            .entries
            .iter()
            .map(|e| e.clock.is_some_and(|c| c.outside_window))
            .collect();
        assert_eq!(flags, [false, false, true, true, true]);
        assert_eq!(
            b[0].entries[0].clock, None,
            "nothing added where nothing is wrong"
        );
        assert_eq!(b[0].entries[2].clock.unwrap().received_ts_ns, Some(NOW));
        assert_eq!(
            c,
            Checked {
                untrusted: 0,
                outside_window: 3
            }
        );
    }

    #[test]
    fn the_edge_flag_is_kept_and_its_correction_is_what_is_checked() {
        let w = TimeWindow::default();
        let flagged = |corrected| ClockNote {
            untrusted: true,
            corrected_ts_ns: corrected,
            ..ClockNote::default()
        };
        let mut b = seg(vec![
            // 1970 stamp, re-based by the edge to a time inside the window.
            at(1, 86_400 * S, Some(flagged(Some(NOW - 60 * S)))),
            // Not re-based: the claimed time is all there is.
            at(2, 86_400 * S, Some(flagged(None))),
            // Untrusted at the edge but plausible: kept flagged.
            at(3, NOW, Some(flagged(None))),
        ]);
        let c = w.check(&mut b, NOW);
        let e = &b[0].entries;
        let n0 = e[0].clock.unwrap();
        assert!(n0.untrusted && !n0.outside_window && n0.suspect());
        assert_eq!(n0.received_ts_ns, Some(NOW));
        assert!(e[1].clock.unwrap().outside_window);
        assert!(!e[2].clock.unwrap().outside_window && e[2].clock.unwrap().untrusted);
        assert_eq!(
            c,
            Checked {
                untrusted: 3,
                outside_window: 1
            }
        );
    }
}
