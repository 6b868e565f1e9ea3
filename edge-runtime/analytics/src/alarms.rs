//! Alarms: thresholds with hysteresis and on/off delays, rate of change, and robust z-score
//! anomalies; lifecycle active → acknowledged → cleared. Pure: samples in, alarm events out.
//! Every event explains itself: rule, condition, value, limit and how long it held.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// What makes a rule's condition true (and, with hysteresis, false again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Condition {
    /// Raised above `limit`, cleared below `limit - hysteresis`.
    Above {
        limit: f64,
        #[serde(default)]
        hysteresis: f64,
    },
    /// Raised below `limit`, cleared above `limit + hysteresis`.
    Below {
        limit: f64,
        #[serde(default)]
        hysteresis: f64,
    },
    /// Raised when the value changes faster than `per_s` (either direction), cleared below
    /// `per_s - hysteresis`.
    RateOfChange {
        per_s: f64,
        #[serde(default)]
        hysteresis: f64,
    },
    /// Raised when the robust z-score (median and MAD of the last `window` values) exceeds `z`,
    /// cleared below `z - hysteresis`.
    RobustZ {
        window: usize,
        z: f64,
        #[serde(default)]
        hysteresis: f64,
    },
    /// For signals that cycle (a batch oven, a day's cooling load): raised when the value
    /// departs from the same phase of earlier cycles — `period_ms` split into `buckets`, each
    /// bucket's mean and deviation over past cycles — by more than `k` deviations, cleared
    /// below `k - hysteresis`. Quiet until each bucket has seen `warmup_cycles` values; values
    /// that raise do not feed the baseline.
    Seasonal {
        period_ms: i64,
        buckets: usize,
        k: f64,
        #[serde(default)]
        hysteresis: f64,
        #[serde(default = "two")]
        warmup_cycles: u64,
    },
}

fn two() -> u64 {
    2
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    /// The series (tag) it watches.
    pub series: String,
    pub condition: Condition,
    /// How long the condition must hold before the alarm is raised.
    #[serde(default)]
    pub on_delay_ms: i64,
    /// How long the clear condition must hold before the alarm clears.
    #[serde(default)]
    pub off_delay_ms: i64,
    #[serde(default = "warning")]
    pub level: Level,
}

fn warning() -> Level {
    Level::Warning
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Activated,
    Acknowledged,
    Cleared,
}

/// One lifecycle step of one alarm, with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    pub rule: String,
    pub series: String,
    pub transition: Transition,
    pub level: Level,
    pub ts_ms: i64,
    /// The value that decided it (for acknowledgements: the last value seen).
    pub value: f64,
    /// The measure compared with the limit (the value, the rate per s, or the z-score).
    pub measure: f64,
    pub explanation: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Normal,
    Pending {
        since: i64,
    },
    Active {
        since: i64,
        acked: bool,
    },
    Clearing {
        since: i64,
        active_since: i64,
        acked: bool,
    },
}

#[derive(Debug, Clone)]
struct State {
    phase: Phase,
    prev: Option<(i64, f64)>,
    recent: VecDeque<f64>,
    /// Per phase bucket: observations, mean, sum of squared deviations (Welford).
    season: Vec<(u64, f64, f64)>,
    last_value: f64,
}

/// The alarm state of all rules over all series.
pub struct Alarms {
    rules: Vec<Rule>,
    /// Rule indexes per series: a sample only visits the rules that watch it.
    by_series: HashMap<String, Vec<usize>>,
    state: HashMap<usize, State>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Alarms {
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut by_series: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_series.entry(r.series.clone()).or_default().push(i);
        }
        Self {
            rules,
            by_series,
            state: HashMap::new(),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Is the alarm of `rule` currently raised (active or acknowledged, not yet cleared)?
    pub fn is_raised(&self, rule: &str) -> bool {
        self.rules.iter().enumerate().any(|(i, r)| {
            r.name == rule
                && self.state.get(&i).is_some_and(|s| {
                    matches!(s.phase, Phase::Active { .. } | Phase::Clearing { .. })
                })
        })
    }

    /// Evaluates one sample of `series` against every rule watching it.
    pub fn observe(&mut self, series: &str, ts_ms: i64, value: f64) -> Vec<AlarmEvent> {
        let mut out = Vec::new();
        if !value.is_finite() {
            return out;
        }
        let Some(watching) = self.by_series.get(series) else {
            return out;
        };
        for &i in watching {
            let rule = &self.rules[i];
            let st = self.state.entry(i).or_insert_with(|| State {
                phase: Phase::Normal,
                prev: None,
                recent: VecDeque::new(),
                season: Vec::new(),
                last_value: value,
            });
            st.last_value = value;
            // The measure, whether the raise condition holds, whether the clear condition holds.
            let (measure, raise, clear, limit_text) = match &rule.condition {
                Condition::Above { limit, hysteresis } => (
                    value,
                    value > *limit,
                    value < limit - hysteresis,
                    format!("above {limit} (clears below {})", limit - hysteresis),
                ),
                Condition::Below { limit, hysteresis } => (
                    value,
                    value < *limit,
                    value > limit + hysteresis,
                    format!("below {limit} (clears above {})", limit + hysteresis),
                ),
                Condition::RateOfChange { per_s, hysteresis } => {
                    let rate = match st.prev {
                        Some((t0, v0)) if ts_ms > t0 => {
                            (value - v0) / ((ts_ms - t0) as f64 / 1000.0)
                        }
                        _ => 0.0,
                    };
                    (
                        rate,
                        rate.abs() > *per_s,
                        rate.abs() < per_s - hysteresis,
                        format!("changing faster than {per_s}/s"),
                    )
                }
                Condition::RobustZ {
                    window,
                    z,
                    hysteresis,
                } => {
                    let zs = if st.recent.len() >= (*window).max(3) {
                        let mut v: Vec<f64> = st.recent.iter().copied().collect();
                        let med = median(&mut v);
                        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
                        let mad = median(&mut dev);
                        if mad > 0.0 {
                            0.6745 * (value - med) / mad
                        } else {
                            0.0
                        }
                    } else {
                        0.0
                    };
                    st.recent.push_back(value);
                    while st.recent.len() > (*window).max(3) {
                        st.recent.pop_front();
                    }
                    (
                        zs,
                        zs.abs() > *z,
                        zs.abs() < z - hysteresis,
                        format!("robust z-score beyond {z} over the last {window} values"),
                    )
                }
                Condition::Seasonal {
                    period_ms,
                    buckets,
                    k,
                    hysteresis,
                    warmup_cycles,
                } => {
                    let n = (*buckets).clamp(1, 100_000);
                    if st.season.len() != n {
                        st.season = vec![(0, 0.0, 0.0); n];
                    }
                    let period = (*period_ms).max(1);
                    let b =
                        (ts_ms.rem_euclid(period) as i128 * n as i128 / period as i128) as usize;
                    let (count, mean, m2) = st.season[b.min(n - 1)];
                    let sd = if count > 1 {
                        (m2 / count as f64).sqrt()
                    } else {
                        0.0
                    };
                    // A floor on the deviation: a perfectly regular past must not make any
                    // noise an alarm.
                    let sd = sd.max(1e-6 * mean.abs().max(1.0));
                    let dev = if count >= *warmup_cycles {
                        (value - mean) / sd
                    } else {
                        0.0
                    };
                    let raising = dev.abs() > *k;
                    if !raising {
                        let e = &mut st.season[b.min(n - 1)];
                        e.0 += 1;
                        let d = value - e.1;
                        e.1 += d / e.0 as f64;
                        e.2 += d * (value - e.1);
                    }
                    (
                        dev,
                        raising,
                        dev.abs() < k - hysteresis,
                        format!(
                            "more than {k} deviations from the seasonal baseline (period {:.0} s)",
                            period as f64 / 1000.0
                        ),
                    )
                }
            };
            st.prev = Some((ts_ms, value));
            let event = |t: Transition, held_ms: i64| AlarmEvent {
                rule: rule.name.clone(),
                series: series.to_owned(),
                transition: t,
                level: rule.level,
                ts_ms,
                value,
                measure,
                explanation: match t {
                    Transition::Activated => format!(
                        "{}: {series} {limit_text}: measure {measure:.4} (value {value}) held {:.1} s (on-delay {:.1} s)",
                        rule.name,
                        held_ms as f64 / 1000.0,
                        rule.on_delay_ms as f64 / 1000.0
                    ),
                    _ => format!(
                        "{}: {series} back within limits ({limit_text}): measure {measure:.4} (value {value}) for {:.1} s (off-delay {:.1} s)",
                        rule.name,
                        held_ms as f64 / 1000.0,
                        rule.off_delay_ms as f64 / 1000.0
                    ),
                },
            };
            st.phase = match st.phase {
                Phase::Normal | Phase::Pending { .. } if !raise => Phase::Normal,
                Phase::Normal => {
                    if rule.on_delay_ms <= 0 {
                        out.push(event(Transition::Activated, 0));
                        Phase::Active {
                            since: ts_ms,
                            acked: false,
                        }
                    } else {
                        Phase::Pending { since: ts_ms }
                    }
                }
                Phase::Pending { since } => {
                    if ts_ms - since >= rule.on_delay_ms {
                        out.push(event(Transition::Activated, ts_ms - since));
                        Phase::Active {
                            since: ts_ms,
                            acked: false,
                        }
                    } else {
                        Phase::Pending { since }
                    }
                }
                Phase::Active { since, acked } if clear => {
                    if rule.off_delay_ms <= 0 {
                        out.push(event(Transition::Cleared, 0));
                        Phase::Normal
                    } else {
                        Phase::Clearing {
                            since: ts_ms,
                            active_since: since,
                            acked,
                        }
                    }
                }
                Phase::Active { since, acked } => Phase::Active { since, acked },
                Phase::Clearing {
                    since,
                    active_since,
                    acked,
                } => {
                    if !clear {
                        Phase::Active {
                            since: active_since,
                            acked,
                        }
                    } else if ts_ms - since >= rule.off_delay_ms {
                        out.push(event(Transition::Cleared, ts_ms - since));
                        Phase::Normal
                    } else {
                        Phase::Clearing {
                            since,
                            active_since,
                            acked,
                        }
                    }
                }
            };
        }
        out
    }

    /// An operator acknowledges the raised alarm of `rule`.
    pub fn acknowledge(&mut self, rule: &str, by: &str, ts_ms: i64) -> Option<AlarmEvent> {
        let (i, r) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == rule)?;
        let st = self.state.get_mut(&i)?;
        let acked = match &mut st.phase {
            Phase::Active { acked, .. } | Phase::Clearing { acked, .. } if !*acked => acked,
            _ => return None,
        };
        *acked = true;
        Some(AlarmEvent {
            rule: r.name.clone(),
            series: r.series.clone(),
            transition: Transition::Acknowledged,
            level: r.level,
            ts_ms,
            value: st.last_value,
            measure: st.last_value,
            explanation: format!("{}: acknowledged by {by}", r.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn above(limit: f64, hysteresis: f64, on: i64, off: i64) -> Alarms {
        Alarms::new(vec![Rule {
            name: "oven-high".into(),
            series: "oven".into(),
            condition: Condition::Above { limit, hysteresis },
            on_delay_ms: on,
            off_delay_ms: off,
            level: Level::Critical,
        }])
    }

    fn run(a: &mut Alarms, pts: &[(i64, f64)]) -> Vec<(i64, Transition)> {
        pts.iter()
            .flat_map(|&(t, v)| a.observe("oven", t, v))
            .map(|e| (e.ts_ms, e.transition))
            .collect()
    }

    #[test]
    fn hysteresis_keeps_a_chattering_signal_from_flapping() {
        let mut a = above(185.0, 2.0, 0, 0);
        let ev = run(
            &mut a,
            &[
                (0, 184.0),
                (1, 185.5),
                (2, 184.5),
                (3, 185.5),
                (4, 183.5),
                (5, 182.9),
            ],
        );
        assert_eq!(
            ev,
            vec![(1, Transition::Activated), (5, Transition::Cleared)]
        );
    }

    #[test]
    fn on_delay_ignores_short_spikes_and_off_delay_waits_before_clearing() {
        let mut a = above(185.0, 0.0, 3_000, 2_000);
        // A 2 s spike does not raise; a 3 s excursion does.
        let ev = run(
            &mut a,
            &[
                (0, 190.0),
                (2_000, 190.0),
                (2_500, 180.0),
                (10_000, 190.0),
                (12_000, 190.0),
                (13_000, 190.0),
            ],
        );
        assert_eq!(ev, vec![(13_000, Transition::Activated)]);
        // Dipping below for 1 s does not clear; 2 s below does.
        let ev = run(
            &mut a,
            &[
                (14_000, 180.0),
                (15_000, 190.0),
                (16_000, 180.0),
                (18_000, 180.0),
            ],
        );
        assert_eq!(ev, vec![(18_000, Transition::Cleared)]);
    }

    #[test]
    fn acknowledge_once_while_raised_and_explain() {
        let mut a = above(10.0, 0.0, 0, 0);
        let e = a.observe("oven", 0, 12.0);
        assert!(e[0].explanation.contains("oven-high") && e[0].explanation.contains("above 10"));
        let ack = a.acknowledge("oven-high", "shift lead", 5).unwrap();
        assert_eq!(ack.transition, Transition::Acknowledged);
        assert!(a.acknowledge("oven-high", "again", 6).is_none());
        assert!(a.is_raised("oven-high"));
        assert_eq!(a.observe("oven", 7, 9.0)[0].transition, Transition::Cleared);
        assert!(!a.is_raised("oven-high"));
        assert!(a.acknowledge("oven-high", "late", 8).is_none());
    }

    #[test]
    fn seasonal_baseline_catches_a_value_normal_elsewhere_in_the_cycle() {
        let mut a = Alarms::new(vec![Rule {
            name: "cycle".into(),
            series: "s".into(),
            condition: Condition::Seasonal {
                period_ms: 60_000,
                buckets: 60,
                k: 5.0,
                hysteresis: 1.0,
                warmup_cycles: 3,
            },
            on_delay_ms: 0,
            off_delay_ms: 0,
            level: Level::Warning,
        }]);
        let wave = |t: i64| {
            let phase = (t % 60_000) as f64 / 60_000.0 * std::f64::consts::TAU;
            100.0 + 20.0 * phase.sin() + ((t / 1000) % 3) as f64 * 0.1
        };
        let mut events = Vec::new();
        for t in (0..5 * 60_000).step_by(1000) {
            events.extend(a.observe("s", t, wave(t)));
        }
        assert!(events.is_empty(), "normal cycles raise nothing: {events:?}");
        // At the cycle's peak (≈ 120) a value of 100 is normal for the signal overall — a
        // threshold would not see it — but far off for this phase.
        let peak = 5 * 60_000 + 15_000;
        let e = a.observe("s", peak, 100.0);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].transition, Transition::Activated);
        assert!(e[0].explanation.contains("seasonal baseline"));
        assert_eq!(
            a.observe("s", peak + 60_000, wave(peak))[0].transition,
            Transition::Cleared
        );
    }

    #[test]
    fn rate_of_change_and_robust_z() {
        let mut a = Alarms::new(vec![
            Rule {
                name: "ramp".into(),
                series: "s".into(),
                condition: Condition::RateOfChange {
                    per_s: 5.0,
                    hysteresis: 1.0,
                },
                on_delay_ms: 0,
                off_delay_ms: 0,
                level: Level::Warning,
            },
            Rule {
                name: "outlier".into(),
                series: "s".into(),
                condition: Condition::RobustZ {
                    window: 20,
                    z: 6.0,
                    hysteresis: 1.0,
                },
                on_delay_ms: 0,
                off_delay_ms: 0,
                level: Level::Warning,
            },
        ]);
        let mut events = Vec::new();
        for i in 0..40i64 {
            // Slow noise-like wobble: neither rule fires.
            events.extend(a.observe("s", i * 1000, 100.0 + (i % 5) as f64 * 0.3));
        }
        assert!(events.is_empty(), "{events:?}");
        let e = a.observe("s", 40_000, 160.0);
        let names: Vec<_> = e.iter().map(|x| (x.rule.as_str(), x.transition)).collect();
        assert!(names.contains(&("ramp", Transition::Activated)));
        assert!(names.contains(&("outlier", Transition::Activated)));
    }
}
