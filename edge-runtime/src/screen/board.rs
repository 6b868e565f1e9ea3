//! What the line screen shows, kept up to date by the analytics task from the durable journal:
//! the line (state, batch, lot, speed, counts, OEE so far), recent values of every numeric tag
//! for sparklines, and the alarms that are not cleared. Pure state: no I/O.

use std::collections::{BTreeMap, VecDeque};

use foodflow_analytics::alarms::{AlarmEvent, Transition};
use foodflow_analytics::oee::{LineState, ShiftReport};
use serde::Serialize;

/// Points kept per tag for its sparkline.
pub const SPARK_POINTS: usize = 120;
/// Tags kept (the first ones seen); more are counted, not drawn.
pub const MAX_TAGS: usize = 64;
/// Window over which the line speed is measured.
const SPEED_WINDOW_MS: i64 = 60_000;

/// The tags that describe the line (from the profile's OEE section).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineTags {
    pub line: String,
    pub state_tag: String,
    pub good_tag: String,
    pub reject_tag: String,
    pub batch_tag: Option<String>,
    pub lot_tag: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LineView {
    pub line: String,
    /// `running`, `stopped`, `fault`, … or `unknown` before the first state reading.
    pub state: String,
    pub reason: Option<String>,
    pub since_ms: Option<i64>,
    pub batch: Option<String>,
    pub lot: Option<String>,
    /// Units per minute over the last minute (good + reject).
    pub speed_per_min: Option<f64>,
    pub good: Option<u64>,
    pub reject: Option<u64>,
    pub shift: Option<ShiftReport>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TagView {
    pub last: f64,
    pub last_ms: i64,
    /// (time ms, value), oldest first.
    pub points: VecDeque<(i64, f64)>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlarmView {
    pub rule: String,
    pub tag: String,
    pub level: String,
    pub since_ms: i64,
    pub value: f64,
    pub explanation: String,
    pub acknowledged_by: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Board {
    pub line: Option<LineView>,
    pub tags: BTreeMap<String, TagView>,
    pub tags_not_shown: usize,
    pub alarms: BTreeMap<String, AlarmView>,
    #[serde(skip)]
    line_tags: Option<LineTags>,
    #[serde(skip)]
    counts: VecDeque<(i64, u64)>,
}

impl Board {
    pub fn new(line: Option<LineTags>) -> Self {
        Board {
            line: line.as_ref().map(|t| LineView {
                line: t.line.clone(),
                state: "unknown".into(),
                reason: None,
                since_ms: None,
                batch: None,
                lot: None,
                speed_per_min: None,
                good: None,
                reject: None,
                shift: None,
            }),
            line_tags: line,
            ..Board::default()
        }
    }

    /// A numeric reading.
    pub fn number(&mut self, tag: &str, ts_ms: i64, value: f64) {
        if let (Some(t), Some(view)) = (&self.line_tags, &mut self.line) {
            if tag == t.good_tag {
                view.good = Some(value.max(0.0) as u64);
            } else if tag == t.reject_tag {
                view.reject = Some(value.max(0.0) as u64);
            }
            if (tag == t.good_tag || tag == t.reject_tag)
                && let (Some(g), Some(r)) = (view.good, view.reject)
            {
                self.counts.push_back((ts_ms, g + r));
                while self
                    .counts
                    .front()
                    .is_some_and(|(t0, _)| *t0 < ts_ms - 2 * SPEED_WINDOW_MS)
                {
                    self.counts.pop_front();
                }
                view.speed_per_min = speed(&self.counts, ts_ms);
            }
        }
        let room = self.tags.len() < MAX_TAGS;
        match self.tags.get_mut(tag) {
            Some(v) => {
                if ts_ms >= v.last_ms {
                    v.last = value;
                    v.last_ms = ts_ms;
                }
                v.points.push_back((ts_ms, value));
                if v.points.len() > SPARK_POINTS {
                    v.points.pop_front();
                }
            }
            None if room => {
                self.tags.insert(
                    tag.to_owned(),
                    TagView {
                        last: value,
                        last_ms: ts_ms,
                        points: VecDeque::from([(ts_ms, value)]),
                    },
                );
            }
            None => self.tags_not_shown += 1,
        }
    }

    /// A text reading: batch and lot codes.
    pub fn text(&mut self, tag: &str, text: &str) {
        if let (Some(t), Some(view)) = (&self.line_tags, &mut self.line) {
            if t.batch_tag.as_deref() == Some(tag) {
                view.batch = Some(text.to_owned());
            }
            if t.lot_tag.as_deref() == Some(tag) {
                view.lot = Some(text.to_owned());
            }
        }
    }

    /// The line's state and the running shift's OEE so far (from the OEE tracker).
    /// The wall clock went back (a step): what was shown carries times ahead of every new
    /// reading, so it is replaced by the next ones instead of freezing the screen.
    pub fn clock_went_back(&mut self) {
        for v in self.tags.values_mut() {
            v.last_ms = i64::MIN;
            v.points.clear();
        }
        self.counts.clear();
    }

    pub fn line_status(
        &mut self,
        state: Option<(LineState, i64, Option<&str>)>,
        shift: Option<ShiftReport>,
    ) {
        if let Some(view) = &mut self.line {
            if let Some((s, since, reason)) = state {
                view.state = serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "unknown".into());
                view.since_ms = Some(since);
                view.reason = reason.map(str::to_owned);
            }
            view.shift = shift;
        }
    }

    pub fn alarm(&mut self, e: &AlarmEvent) {
        match e.transition {
            Transition::Activated => {
                self.alarms.insert(
                    e.rule.clone(),
                    AlarmView {
                        rule: e.rule.clone(),
                        tag: e.series.clone(),
                        level: format!("{:?}", e.level).to_lowercase(),
                        since_ms: e.ts_ms,
                        value: e.value,
                        explanation: e.explanation.clone(),
                        acknowledged_by: None,
                    },
                );
            }
            Transition::Acknowledged => {
                if let Some(a) = self.alarms.get_mut(&e.rule) {
                    // "RULE: acknowledged by NAME" — the name is what the operator typed.
                    a.acknowledged_by = Some(
                        e.explanation
                            .split_once(": acknowledged by ")
                            .map_or(e.explanation.as_str(), |(_, by)| by)
                            .to_owned(),
                    );
                }
            }
            Transition::Cleared => {
                self.alarms.remove(&e.rule);
            }
        }
    }
}

/// Units per minute over the last window, from cumulative counts.
fn speed(counts: &VecDeque<(i64, u64)>, now_ms: i64) -> Option<f64> {
    let (t1, c1) = *counts.back()?;
    let (t0, c0) = *counts
        .iter()
        .find(|(t, _)| *t >= now_ms - SPEED_WINDOW_MS)?;
    if t1 <= t0 {
        return None;
    }
    Some(c1.saturating_sub(c0) as f64 * 60_000.0 / (t1 - t0) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foodflow_analytics::alarms::Level;

    fn tags() -> LineTags {
        LineTags {
            line: "line-1".into(),
            state_tag: "state".into(),
            good_tag: "good".into(),
            reject_tag: "reject".into(),
            batch_tag: Some("batch".into()),
            lot_tag: None,
        }
    }

    #[test]
    fn speed_counts_and_sparklines() {
        let mut b = Board::new(Some(tags()));
        b.number("reject", 0, 5.0);
        for i in 0..=30 {
            b.number("good", i * 1000, 100.0 + 2.0 * i as f64);
        }
        let line = b.line.as_ref().unwrap();
        assert_eq!((line.good, line.reject), (Some(160), Some(5)));
        // 2 units a second = 120 a minute.
        assert!((line.speed_per_min.unwrap() - 120.0).abs() < 1e-9);
        b.text("batch", "B-0042");
        assert_eq!(b.line.as_ref().unwrap().batch.as_deref(), Some("B-0042"));
        for i in 0..200 {
            b.number("temp", i, i as f64);
        }
        assert_eq!(b.tags["temp"].points.len(), SPARK_POINTS);
        assert_eq!(b.tags["temp"].last, 199.0);
        for i in 0..MAX_TAGS + 3 {
            b.number(&format!("t{i}"), 0, 1.0);
        }
        assert_eq!(b.tags.len(), MAX_TAGS);
        assert!(b.tags_not_shown > 0);
    }

    /// A value stamped by a clock years ahead holds a tile until the clock goes back; then
    /// the tile takes the new values again instead of freezing.
    #[test]
    fn a_clock_that_went_back_does_not_freeze_the_tiles() {
        let mut b = Board::new(None);
        let two_years = 2 * 365 * 86_400_000;
        b.number("oven", two_years, 1.0);
        b.number("oven", 1_000, 2.0);
        assert_eq!(
            b.tags["oven"].last, 1.0,
            "older readings never replace newer ones"
        );
        b.clock_went_back();
        b.number("oven", 1_000, 3.0);
        assert_eq!(b.tags["oven"].last, 3.0);
        assert_eq!(b.tags["oven"].points.len(), 1);
    }

    #[test]
    fn alarms_come_and_go() {
        let mut b = Board::new(None);
        let ev = |t: Transition, explanation: &str| AlarmEvent {
            rule: "oven-hot".into(),
            series: "oven".into(),
            transition: t,
            level: Level::Critical,
            ts_ms: 5,
            value: 230.0,
            measure: 230.0,
            explanation: explanation.into(),
        };
        b.alarm(&ev(Transition::Activated, "oven 230 > 220"));
        assert_eq!(b.alarms["oven-hot"].acknowledged_by, None);
        b.alarm(&ev(
            Transition::Acknowledged,
            "oven-hot: acknowledged by Ana",
        ));
        assert_eq!(b.alarms["oven-hot"].acknowledged_by.as_deref(), Some("Ana"));
        b.alarm(&ev(Transition::Cleared, "back to normal"));
        assert!(b.alarms.is_empty());
    }
}
