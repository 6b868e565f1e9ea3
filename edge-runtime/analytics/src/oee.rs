//! OEE per line and shift, from the line state machine and the good/reject counters. Pure:
//! state changes and counter samples in, a shift report (JSON or CSV) out.
//!
//! - planned production time = shift length − planned stops
//! - availability = run time / planned production time
//! - performance = total count / (run time × ideal rate)
//! - quality = good / total
//! - OEE = availability × performance × quality

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    Running,
    /// Stopped for a reason that is part of the plan (break, changeover, cleaning, no order).
    PlannedStop,
    /// Stopped unexpectedly.
    Stopped,
    Fault,
}

impl LineState {
    /// Reads a PLC's state text: `running`; planned stops by name (`planned`, `break`,
    /// `changeover`, `cleaning`, `no_order`, `maintenance_planned`); `fault`/`alarm`/`error`;
    /// anything else is an unplanned stop.
    pub fn parse(text: &str) -> LineState {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "running" | "run" | "producing" => LineState::Running,
            "planned"
            | "planned_stop"
            | "break"
            | "changeover"
            | "cleaning"
            | "no_order"
            | "maintenance_planned" => LineState::PlannedStop,
            "fault" | "alarm" | "error" => LineState::Fault,
            _ => LineState::Stopped,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub ts_ms: i64,
    pub state: LineState,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cumulative counters as the PLC reports them (they may reset to zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub ts_ms: i64,
    pub good: u64,
    pub reject: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub line: String,
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Ideal rate of the line, units per minute.
    pub ideal_per_min: f64,
}

/// Which vision results are rejected units: a `Detection` of `model` with a box of one of
/// `class_ids` at `min_score` or more, or an anomaly score at `anomaly_min` or more. One
/// detection record (one inspected frame/unit) is at most one reject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionRejectRule {
    pub model: String,
    #[serde(default)]
    pub class_ids: Vec<u32>,
    #[serde(default = "half")]
    pub min_score: f32,
    #[serde(default)]
    pub anomaly_min: Option<f32>,
    /// Whether the PLC's reject counter already counts these units (the vision system drives
    /// the line's rejector). If not, they were counted good and are moved from good to reject.
    #[serde(default)]
    pub counted_by_plc: bool,
}

fn half() -> f32 {
    0.5
}

impl VisionRejectRule {
    pub fn check(&self) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err("model is empty (name the model whose detections are rejects)".into());
        }
        if self.class_ids.is_empty() && self.anomaly_min.is_none() {
            return Err(
                "neither class_ids nor anomaly_min is set, so nothing would count as a reject"
                    .into(),
            );
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(format!("min_score {} is not within 0..=1", self.min_score));
        }
        Ok(())
    }

    pub fn rejects(&self, d: &foodflow_protocol::Detection) -> bool {
        d.model == self.model
            && (d
                .boxes
                .iter()
                .any(|b| b.score >= self.min_score && self.class_ids.contains(&b.class_id))
                || matches!((d.anomaly_score, self.anomaly_min), (Some(s), Some(m)) if s >= m))
    }
}

/// Units rejected by vision during a period, and whether the PLC counters include them.
#[derive(Debug, Clone, Copy, Default)]
pub struct VisionRejects<'a> {
    /// Event times (ms) of the rejected units.
    pub at_ms: &'a [i64],
    pub counted_by_plc: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    pub start_ms: i64,
    pub end_ms: i64,
    pub duration_s: f64,
    pub planned: bool,
    pub state: LineState,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftReport {
    pub line: String,
    pub shift: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub planned_production_s: f64,
    pub run_s: f64,
    pub planned_stop_s: f64,
    pub unplanned_stop_s: f64,
    pub good: u64,
    pub reject: u64,
    /// Of the rejects, those found by vision inspection.
    #[serde(default)]
    pub vision_reject: u64,
    pub availability: f64,
    pub performance: f64,
    pub quality: f64,
    pub oee: f64,
    pub downtime: Vec<Downtime>,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Counter increase between two cumulative readings; a decrease is a counter reset.
fn delta(prev: u64, now: u64) -> u64 {
    if now >= prev { now - prev } else { now }
}

/// Computes the report of one shift. `states` and `counts` in time order; the state in force at
/// the shift's start is the last change before it (unknown counts as unplanned stop). Vision
/// rejects inside the shift are part of `reject` (moved from `good` unless the PLC counted them).
pub fn shift_report(
    shift: &Shift,
    states: &[StateChange],
    counts: &[Counts],
    vision: VisionRejects<'_>,
) -> ShiftReport {
    let (s0, s1) = (shift.start_ms, shift.end_ms.max(shift.start_ms));
    let mut current = states
        .iter()
        .rev()
        .find(|c| c.ts_ms <= s0)
        .map(|c| (c.state, c.reason.clone()))
        .unwrap_or((LineState::Stopped, Some("no state known".into())));
    let mut t = s0;
    let (mut run, mut planned, mut unplanned) = (0i64, 0i64, 0i64);
    let mut downtime: Vec<Downtime> = Vec::new();
    let mut close =
        |from: i64, to: i64, st: &(LineState, Option<String>), downtime: &mut Vec<Downtime>| {
            if to <= from {
                return;
            }
            match st.0 {
                LineState::Running => run += to - from,
                other => {
                    let is_planned = other == LineState::PlannedStop;
                    if is_planned {
                        planned += to - from;
                    } else {
                        unplanned += to - from;
                    }
                    let reason =
                        st.1.clone()
                            .unwrap_or_else(|| format!("{other:?}").to_lowercase());
                    // Consecutive pieces of the same stop form one downtime event.
                    if let Some(last) = downtime.last_mut()
                        && last.end_ms == from
                        && last.state == other
                        && last.reason == reason
                    {
                        last.end_ms = to;
                        last.duration_s = (to - last.start_ms) as f64 / 1000.0;
                        return;
                    }
                    downtime.push(Downtime {
                        start_ms: from,
                        end_ms: to,
                        duration_s: (to - from) as f64 / 1000.0,
                        planned: is_planned,
                        state: other,
                        reason,
                    });
                }
            }
        };
    for c in states.iter().filter(|c| c.ts_ms > s0 && c.ts_ms < s1) {
        close(t, c.ts_ms, &current, &mut downtime);
        t = c.ts_ms;
        current = (c.state, c.reason.clone());
    }
    close(t, s1, &current, &mut downtime);

    // Counts: increases between samples inside the shift (the sample at or before the start is
    // the baseline).
    let mut base = counts.iter().rev().find(|c| c.ts_ms <= s0).copied();
    let (mut good, mut reject) = (0u64, 0u64);
    for c in counts.iter().filter(|c| c.ts_ms > s0 && c.ts_ms <= s1) {
        if let Some(b) = base {
            good += delta(b.good, c.good);
            reject += delta(b.reject, c.reject);
        }
        base = Some(*c);
    }
    let vision_reject = vision
        .at_ms
        .iter()
        .filter(|t| **t > s0 && **t <= s1)
        .count() as u64;
    if !vision.counted_by_plc {
        let moved = vision_reject.min(good);
        good -= moved;
        reject += moved;
    }
    let total = (good + reject) as f64;
    let planned_production_s = (s1 - s0 - planned) as f64 / 1000.0;
    let run_s = run as f64 / 1000.0;
    let availability = ratio(run_s, planned_production_s);
    let performance = ratio(total, run_s / 60.0 * shift.ideal_per_min);
    let quality = ratio(good as f64, total);
    ShiftReport {
        line: shift.line.clone(),
        shift: shift.name.clone(),
        start_ms: s0,
        end_ms: s1,
        planned_production_s,
        run_s,
        planned_stop_s: planned as f64 / 1000.0,
        unplanned_stop_s: unplanned as f64 / 1000.0,
        good,
        reject,
        vision_reject,
        availability,
        performance,
        quality,
        oee: availability * performance * quality,
        downtime,
    }
}

impl ShiftReport {
    /// CSV for spreadsheets: a summary row, then one row per downtime event.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "line,shift,start_ms,end_ms,planned_production_s,run_s,planned_stop_s,unplanned_stop_s,good,reject,vision_reject,availability,performance,quality,oee\n",
        );
        out.push_str(&format!(
            "{},{},{},{},{:.3},{:.3},{:.3},{:.3},{},{},{},{:.6},{:.6},{:.6},{:.6}\n\n",
            csv(&self.line),
            csv(&self.shift),
            self.start_ms,
            self.end_ms,
            self.planned_production_s,
            self.run_s,
            self.planned_stop_s,
            self.unplanned_stop_s,
            self.good,
            self.reject,
            self.vision_reject,
            self.availability,
            self.performance,
            self.quality,
            self.oee
        ));
        out.push_str("downtime_start_ms,downtime_end_ms,duration_s,planned,state,reason\n");
        for d in &self.downtime {
            out.push_str(&format!(
                "{},{},{:.3},{},{:?},{}\n",
                d.start_ms,
                d.end_ms,
                d.duration_s,
                d.planned,
                d.state,
                csv(&d.reason)
            ));
        }
        out
    }
}

/// Quotes a CSV field when it needs it; a leading `=`, `+`, `-` or `@` is defused so that a
/// reason typed on the floor cannot become a spreadsheet formula.
fn csv(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A shift in the daily plan: `HH:MM` to `HH:MM` UTC (an end at or before the start crosses
/// midnight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftPlan {
    pub name: String,
    pub start: String,
    pub end: String,
}

fn minutes(hhmm: &str) -> Result<i64, String> {
    let (h, m) = hhmm
        .split_once(':')
        .ok_or_else(|| format!("{hhmm:?} is not HH:MM"))?;
    let (h, m): (i64, i64) = (
        h.parse().map_err(|_| format!("{hhmm:?} is not HH:MM"))?,
        m.parse().map_err(|_| format!("{hhmm:?} is not HH:MM"))?,
    );
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(format!("{hhmm:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

impl ShiftPlan {
    pub fn check(&self) -> Result<(), String> {
        minutes(&self.start)?;
        minutes(&self.end)?;
        Ok(())
    }

    /// The occurrence of this shift that contains `ts_ms`, as (start, end) in UTC ms.
    pub fn around(&self, ts_ms: i64) -> Option<(i64, i64)> {
        let (s, e) = (minutes(&self.start).ok()?, minutes(&self.end).ok()?);
        let day = ts_ms.div_euclid(86_400_000) * 86_400_000;
        let len = if e > s { e - s } else { e + 1440 - s } * 60_000;
        [day - 86_400_000, day]
            .into_iter()
            .map(|d| (d + s * 60_000, d + s * 60_000 + len))
            .find(|(a, b)| (*a..*b).contains(&ts_ms))
    }
}

/// Live OEE for one line: keeps the line's state changes and counter samples and reports the
/// current shift so far, and every shift once it has ended.
pub struct OeeTracker {
    pub line: String,
    pub state_tag: String,
    pub good_tag: String,
    pub reject_tag: String,
    pub ideal_per_min: f64,
    pub shifts: Vec<ShiftPlan>,
    pub vision: Option<VisionRejectRule>,
    states: Vec<StateChange>,
    vision_rejects: Vec<i64>,
    counts: Vec<Counts>,
    good: Option<u64>,
    reject: Option<u64>,
    /// The shift occurrence being tracked, to report it once when it ends.
    current: Option<(String, i64, i64)>,
}

impl OeeTracker {
    pub fn new(
        line: String,
        state_tag: String,
        good_tag: String,
        reject_tag: String,
        ideal_per_min: f64,
        shifts: Vec<ShiftPlan>,
    ) -> Self {
        Self {
            line,
            state_tag,
            good_tag,
            reject_tag,
            ideal_per_min,
            shifts,
            vision: None,
            states: Vec::new(),
            vision_rejects: Vec::new(),
            counts: Vec::new(),
            good: None,
            reject: None,
            current: None,
        }
    }

    /// Feeds one reading (tag, time, state text or counter value).
    pub fn observe(&mut self, tag: &str, ts_ms: i64, text: Option<&str>, number: Option<f64>) {
        if tag == self.state_tag {
            let state = match (text, number) {
                (Some(t), _) => LineState::parse(t),
                (None, Some(n)) if n >= 1.0 => LineState::Running,
                _ => LineState::Stopped,
            };
            self.states.push(StateChange {
                ts_ms,
                state,
                reason: text.map(String::from),
            });
        } else if tag == self.good_tag || tag == self.reject_tag {
            let Some(n) = number else { return };
            let v = n.max(0.0) as u64;
            if tag == self.good_tag {
                self.good = Some(v);
            } else {
                self.reject = Some(v);
            }
            // A counter's first value is its baseline, not production: samples start once
            // both counters are known.
            if let (Some(good), Some(reject)) = (self.good, self.reject) {
                self.counts.push(Counts {
                    ts_ms,
                    good,
                    reject,
                });
            }
        }
    }

    /// Counts rejects from vision results when a rule is set.
    pub fn with_vision(mut self, rule: Option<VisionRejectRule>) -> Self {
        self.vision = rule;
        self
    }

    /// Feeds one vision result; returns whether it counted as a rejected unit.
    pub fn observe_detection(&mut self, ts_ms: i64, d: &foodflow_protocol::Detection) -> bool {
        let hit = self.vision.as_ref().is_some_and(|r| r.rejects(d));
        if hit {
            self.vision_rejects.push(ts_ms);
        }
        hit
    }

    /// The report of the period [start, end) under `name`, from what was observed.
    pub fn report(&self, name: &str, start: i64, end: i64) -> ShiftReport {
        let mut states = self.states.clone();
        states.sort_by_key(|s| s.ts_ms);
        let mut counts = self.counts.clone();
        counts.sort_by_key(|c| c.ts_ms);
        shift_report(
            &Shift {
                line: self.line.clone(),
                name: name.to_owned(),
                start_ms: start,
                end_ms: end,
                ideal_per_min: self.ideal_per_min,
            },
            &states,
            &counts,
            VisionRejects {
                at_ms: &self.vision_rejects,
                counted_by_plc: self.vision.as_ref().is_some_and(|v| v.counted_by_plc),
            },
        )
    }

    /// The running shift's report so far, without advancing the tracker (for live views).
    pub fn so_far(&self, now_ms: i64) -> Option<ShiftReport> {
        self.shifts.iter().find_map(|p| {
            p.around(now_ms)
                .map(|(a, _)| self.report(&p.name, a, now_ms))
        })
    }

    /// The line's latest state, since when, and the reason text it came with.
    pub fn current_state(&self) -> Option<(LineState, i64, Option<&str>)> {
        self.states
            .iter()
            .max_by_key(|s| s.ts_ms)
            .map(|s| (s.state, s.ts_ms, s.reason.as_deref()))
    }

    /// Drops the shift occurrence being tracked without reporting it: its times cannot be
    /// trusted (a wall clock wrong since boot or stepped), and a report of a 1970 night shift
    /// or of a shift years ahead is worse than none.
    pub fn forget_current(&mut self) {
        self.current = None;
    }

    /// At `now_ms`: the report of a shift that ended since the last call (if any), and the
    /// current shift so far (if one is running).
    pub fn tick(&mut self, now_ms: i64) -> (Option<ShiftReport>, Option<ShiftReport>) {
        let running = self
            .shifts
            .iter()
            .find_map(|p| p.around(now_ms).map(|(a, b)| (p.name.clone(), a, b)));
        let mut ended = None;
        if let Some((name, a, b)) = self.current.clone()
            && running.as_ref().is_none_or(|r| r.1 != a)
        {
            ended = Some(self.report(&name, a, b));
        }
        self.current = running.clone();
        let so_far = running.map(|(name, a, _)| self.report(&name, a, now_ms));
        // Keep what the next reports need: a day back is more than any shift.
        let keep_from = now_ms - 86_400_000 - 3_600_000;
        let last_state_before = self.states.iter().rposition(|s| s.ts_ms < keep_from);
        if let Some(i) = last_state_before {
            self.states.drain(..i);
        }
        let last_count_before = self.counts.iter().rposition(|c| c.ts_ms < keep_from);
        if let Some(i) = last_count_before {
            self.counts.drain(..i);
        }
        self.vision_rejects.retain(|t| *t >= keep_from);
        (ended, so_far)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foodflow_protocol::{BoundingBox, Detection};

    const MIN: i64 = 60_000;

    fn change(min: i64, state: LineState, reason: Option<&str>) -> StateChange {
        StateChange {
            ts_ms: min * MIN,
            state,
            reason: reason.map(String::from),
        }
    }

    #[test]
    fn scripted_shift_has_the_known_answer() {
        // 8 h shift at 100 units/min ideal: a 30 min planned break, a 45 min fault split by a
        // state message in the middle, 38,000 units of which 760 rejected, one counter reset.
        let shift = Shift {
            line: "line1".into(),
            name: "early".into(),
            start_ms: 0,
            end_ms: 480 * MIN,
            ideal_per_min: 100.0,
        };
        let states = vec![
            change(-10, LineState::Running, None),
            change(120, LineState::PlannedStop, Some("break")),
            change(150, LineState::Running, None),
            change(300, LineState::Fault, Some("filler jam")),
            change(320, LineState::Fault, Some("filler jam")),
            change(345, LineState::Running, None),
            change(500, LineState::Stopped, None),
        ];
        let counts = vec![
            Counts {
                ts_ms: -MIN,
                good: 5_000,
                reject: 100,
            },
            Counts {
                ts_ms: 200 * MIN,
                good: 25_000,
                reject: 500,
            },
            // Counter reset at 300 min: 12,240 good and 260 rejects before it since 200 min.
            Counts {
                ts_ms: 299 * MIN,
                good: 37_240,
                reject: 760,
            },
            Counts {
                ts_ms: 350 * MIN,
                good: 1_000,
                reject: 0,
            },
            Counts {
                ts_ms: 480 * MIN,
                good: 5_000,
                reject: 100,
            },
        ];
        let r = shift_report(&shift, &states, &counts, VisionRejects::default());
        assert_eq!(r.planned_stop_s, 30.0 * 60.0);
        assert_eq!(r.unplanned_stop_s, 45.0 * 60.0);
        assert_eq!(r.planned_production_s, 450.0 * 60.0);
        assert_eq!(r.run_s, 405.0 * 60.0);
        assert_eq!((r.good, r.reject), (32_240 + 5_000, 660 + 100));
        let total = (r.good + r.reject) as f64;
        assert_eq!(total, 38_000.0);
        assert!((r.availability - 0.9).abs() < 1e-12);
        assert!((r.performance - 38_000.0 / 40_500.0).abs() < 1e-12);
        assert!((r.quality - 37_240.0 / 38_000.0).abs() < 1e-12);
        assert!((r.oee - 0.9 * (38_000.0 / 40_500.0) * 0.98).abs() < 1e-12);
        assert_eq!(
            r.downtime.len(),
            2,
            "the fault is one event: {:?}",
            r.downtime
        );
        assert!(r.downtime[0].planned && r.downtime[0].reason == "break");
        assert!(!r.downtime[1].planned && r.downtime[1].duration_s == 45.0 * 60.0);
        let csv = r.to_csv();
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("line1,early,0,28800000,27000.000,24300.000")
        );
        assert!(csv.contains(",false,Fault,filler jam"));
    }

    fn detection(model: &str, class_id: u32, score: f32, anomaly: Option<f32>) -> Detection {
        Detection {
            model: model.into(),
            version: "1".into(),
            boxes: vec![BoundingBox {
                x: 0.0,
                y: 0.0,
                w: 1.0,
                h: 1.0,
                class_id,
                score,
            }],
            anomaly_score: anomaly,
            frame_ref: None,
        }
    }

    #[test]
    fn vision_rejects_enter_quality() {
        let rule = VisionRejectRule {
            model: "defects".into(),
            class_ids: vec![1, 2],
            min_score: 0.6,
            anomaly_min: Some(0.8),
            counted_by_plc: false,
        };
        rule.check().unwrap();
        assert!(rule.rejects(&detection("defects", 1, 0.7, None)));
        assert!(
            !rule.rejects(&detection("defects", 1, 0.5, None)),
            "low score"
        );
        assert!(
            !rule.rejects(&detection("defects", 0, 0.9, None)),
            "class 0 is good"
        );
        assert!(
            !rule.rejects(&detection("other", 1, 0.9, None)),
            "other model"
        );
        assert!(
            rule.rejects(&detection("defects", 0, 0.9, Some(0.85))),
            "anomalous"
        );
        assert!(
            VisionRejectRule {
                class_ids: vec![],
                anomaly_min: None,
                ..rule.clone()
            }
            .check()
            .is_err()
        );

        // One hour, running throughout; the PLC counts 6,000 good and 60 rejects; vision
        // rejects 40 units in the hour (and one just after it).
        let shift = Shift {
            line: "line1".into(),
            name: "h".into(),
            start_ms: 0,
            end_ms: 60 * MIN,
            ideal_per_min: 110.0,
        };
        let states = vec![change(-1, LineState::Running, None)];
        let counts = vec![
            Counts {
                ts_ms: -MIN,
                good: 0,
                reject: 0,
            },
            Counts {
                ts_ms: 60 * MIN,
                good: 6_000,
                reject: 60,
            },
        ];
        let mut at: Vec<i64> = (0..40).map(|i| i * MIN + 1).collect();
        at.push(61 * MIN);
        let moved = shift_report(
            &shift,
            &states,
            &counts,
            VisionRejects {
                at_ms: &at,
                counted_by_plc: false,
            },
        );
        assert_eq!(
            (moved.good, moved.reject, moved.vision_reject),
            (5_960, 100, 40)
        );
        assert!((moved.quality - 5_960.0 / 6_060.0).abs() < 1e-12);
        let counted = shift_report(
            &shift,
            &states,
            &counts,
            VisionRejects {
                at_ms: &at,
                counted_by_plc: true,
            },
        );
        assert_eq!(
            (counted.good, counted.reject, counted.vision_reject),
            (6_000, 60, 40)
        );
        assert!(
            counted
                .to_csv()
                .lines()
                .nth(1)
                .unwrap()
                .contains(",6000,60,40,")
        );

        // The live tracker feeds the same rule from detection records.
        let mut t = OeeTracker::new(
            "line1".into(),
            "state".into(),
            "good".into(),
            "reject".into(),
            110.0,
            vec![ShiftPlan {
                name: "day".into(),
                start: "00:00".into(),
                end: "23:59".into(),
            }],
        )
        .with_vision(Some(rule));
        assert!(t.observe_detection(5, &detection("defects", 2, 0.9, None)));
        assert!(!t.observe_detection(6, &detection("defects", 0, 0.9, None)));
        let (_, so_far) = t.tick(MIN);
        assert_eq!(so_far.unwrap().vision_reject, 1);
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn shift_plans_find_their_occurrence_including_overnight() {
        let day = 1_795_305_600_000; // 2026-11-22T00:00:00Z
        let early = ShiftPlan {
            name: "early".into(),
            start: "06:00".into(),
            end: "14:00".into(),
        };
        let night = ShiftPlan {
            name: "night".into(),
            start: "22:00".into(),
            end: "06:00".into(),
        };
        assert_eq!(
            early.around(day + 7 * 3_600_000),
            Some((day + 6 * 3_600_000, day + 14 * 3_600_000))
        );
        assert_eq!(early.around(day + 15 * 3_600_000), None);
        assert_eq!(
            night.around(day + 2 * 3_600_000),
            Some((day - 2 * 3_600_000, day + 6 * 3_600_000)),
            "02:00 belongs to the night shift that began yesterday"
        );
        assert!(
            ShiftPlan {
                name: "x".into(),
                start: "25:00".into(),
                end: "01:00".into()
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn tracker_reports_the_running_shift_and_each_finished_one_once() {
        let day = 1_795_305_600_000;
        let h = 3_600_000;
        let mut t = OeeTracker::new(
            "line1".into(),
            "state".into(),
            "good".into(),
            "reject".into(),
            100.0,
            vec![ShiftPlan {
                name: "early".into(),
                start: "06:00".into(),
                end: "07:00".into(),
            }],
        );
        t.observe("state", day + 5 * h, Some("running"), None);
        t.observe("good", day + 5 * h, None, Some(0.0));
        t.observe("reject", day + 5 * h, None, Some(0.0));
        t.observe("state", day + 6 * h + 30 * MIN, Some("fault"), None);
        t.observe("state", day + 6 * h + 36 * MIN, Some("running"), None);
        t.observe("good", day + 6 * h + 59 * MIN, None, Some(4_800.0));
        let (ended, so_far) = t.tick(day + 6 * h + 45 * MIN);
        assert!(ended.is_none());
        let so_far = so_far.unwrap();
        assert_eq!(so_far.unplanned_stop_s, 360.0);
        assert_eq!(so_far.end_ms, day + 6 * h + 45 * MIN);
        let (ended, so_far) = t.tick(day + 7 * h + MIN);
        assert!(so_far.is_none(), "no shift after 07:00");
        let r = ended.expect("the early shift is reported when it ends");
        assert_eq!((r.run_s, r.good), (54.0 * 60.0, 4_800));
        assert!((r.availability - 0.9).abs() < 1e-12);
        assert!((r.performance - 4_800.0 / 5_400.0).abs() < 1e-12);
        assert!(t.tick(day + 7 * h + 2 * MIN).0.is_none(), "reported once");
    }
}
