//! Event-time tumbling windows with a watermark.
//!
//! A window `[start, start + width)` of a series is emitted once the watermark passes its end.
//! A record that arrives after that ("late") still updates its window while the window is within
//! `late_horizon_ms` of the watermark: the corrected rollup is emitted again with a higher
//! `revision`, and the record is counted as late. Older records are counted as too late and
//! dropped — the only place data is knowingly not reflected, and it is counted.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// One numeric observation of a series (e.g. `device/tag`), event time in ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub series: String,
    pub ts_ms: i64,
    pub value: f64,
}

/// A window width and its name (`1s`, `1m`, `1h`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub name: String,
    pub width_ms: i64,
}

impl WindowSpec {
    pub fn standard() -> Vec<WindowSpec> {
        [("1s", 1_000), ("1m", 60_000), ("1h", 3_600_000)]
            .into_iter()
            .map(|(n, w)| WindowSpec {
                name: n.into(),
                width_ms: w,
            })
            .collect()
    }
}

/// The statistics of one window of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub series: String,
    pub window: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// The value with the latest event time (ties: the later arrival).
    pub last: f64,
    /// 0 for the first emission, then +1 for each correction by late records.
    pub revision: u32,
    /// Late records folded into this window so far.
    pub late: u64,
}

impl Rollup {
    /// The wire form (ns, the series as the tag): what the edge journals and the hub stores.
    pub fn into_payload(self) -> foodflow_protocol::Payload {
        foodflow_protocol::Payload::Rollup(foodflow_protocol::Rollup {
            tag: self.series,
            window_start_ns: self.start_ms.saturating_mul(1_000_000),
            window_end_ns: self.end_ms.saturating_mul(1_000_000),
            count: self.count,
            min: self.min,
            max: self.max,
            mean: self.mean,
            stddev: self.stddev,
            last: self.last,
            revision: self.revision,
            late: self.late,
        })
    }
}

#[derive(Debug, Clone)]
struct Acc {
    count: u64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
    last: f64,
    last_ts: i64,
    revision: u32,
    late: u64,
}

impl Acc {
    fn new() -> Self {
        Self {
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
            last: f64::NAN,
            last_ts: i64::MIN,
            revision: 0,
            late: 0,
        }
    }

    fn add(&mut self, ts: i64, x: f64) {
        // Welford: stable mean and variance in one pass.
        self.count += 1;
        let d = x - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if ts >= self.last_ts {
            self.last_ts = ts;
            self.last = x;
        }
    }

    fn rollup(&self, series: &str, spec: &WindowSpec, start: i64) -> Rollup {
        Rollup {
            series: series.to_owned(),
            window: spec.name.clone(),
            start_ms: start,
            end_ms: start + spec.width_ms,
            count: self.count,
            min: self.min,
            max: self.max,
            mean: self.mean,
            stddev: (self.m2 / self.count.max(1) as f64).max(0.0).sqrt(),
            last: self.last,
            revision: self.revision,
            late: self.late,
        }
    }
}

/// Key of a window: (end, spec index, series).
type Key = (i64, usize, String);

/// The window state of one worker.
pub struct Windows {
    specs: Vec<WindowSpec>,
    late_horizon_ms: i64,
    watermark: i64,
    open: BTreeMap<Key, Acc>,
    closed: HashMap<Key, Acc>,
    /// Records folded into an already emitted window.
    pub late: u64,
    /// Records older than the late horizon: counted, not reflected.
    pub too_late: u64,
}

impl Windows {
    pub fn new(specs: Vec<WindowSpec>, late_horizon_ms: i64) -> Self {
        Self {
            specs,
            late_horizon_ms,
            watermark: i64::MIN,
            open: BTreeMap::new(),
            closed: HashMap::new(),
            late: 0,
            too_late: 0,
        }
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Folds one sample in; returns the corrected rollups of already emitted windows it
    /// changed (late data).
    pub fn insert(&mut self, s: &Sample) -> Vec<Rollup> {
        let mut corrections = Vec::new();
        if !s.value.is_finite() {
            return corrections;
        }
        let mut counted_late = false;
        for (i, spec) in self.specs.iter().enumerate() {
            let start = s.ts_ms.div_euclid(spec.width_ms) * spec.width_ms;
            let end = start + spec.width_ms;
            let key = (end, i, s.series.clone());
            if end > self.watermark {
                self.open
                    .entry(key)
                    .or_insert_with(Acc::new)
                    .add(s.ts_ms, s.value);
            } else if end.saturating_add(self.late_horizon_ms) > self.watermark {
                let acc = self.closed.entry(key).or_insert_with(Acc::new);
                acc.add(s.ts_ms, s.value);
                acc.revision += 1;
                acc.late += 1;
                if !counted_late {
                    self.late += 1;
                    counted_late = true;
                }
                corrections.push(acc.rollup(&s.series, spec, start));
            } else if !counted_late {
                self.too_late += 1;
                counted_late = true;
            }
        }
        corrections
    }

    /// Moves the watermark to `wm` (never back) and returns the windows it closed, in end order.
    pub fn advance(&mut self, wm: i64) -> Vec<Rollup> {
        if wm <= self.watermark {
            return Vec::new();
        }
        self.watermark = wm;
        let still_open = self
            .open
            .split_off(&(wm.saturating_add(1), 0, String::new()));
        let closing = std::mem::replace(&mut self.open, still_open);
        let mut out = Vec::with_capacity(closing.len());
        for (key, acc) in closing {
            let spec = &self.specs[key.1];
            out.push(acc.rollup(&key.2, spec, key.0 - spec.width_ms));
            self.closed.insert(key, acc);
        }
        let horizon = self.late_horizon_ms;
        self.closed.retain(|k, _| k.0.saturating_add(horizon) > wm);
        out
    }

    /// Closes every open window (end of input).
    pub fn finish(&mut self) -> Vec<Rollup> {
        self.advance(i64::MAX)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn s(series: &str, ts: i64, v: f64) -> Sample {
        Sample {
            series: series.into(),
            ts_ms: ts,
            value: v,
        }
    }

    fn one_second() -> Vec<WindowSpec> {
        vec![WindowSpec {
            name: "1s".into(),
            width_ms: 1000,
        }]
    }

    #[test]
    fn windows_close_at_the_watermark_with_their_statistics() {
        let mut w = Windows::new(one_second(), 0);
        for (t, v) in [(0, 1.0), (400, 3.0), (999, 2.0), (1000, 10.0)] {
            assert!(w.insert(&s("a", t, v)).is_empty());
        }
        assert!(w.advance(999).is_empty());
        let out = w.advance(1000);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!((r.start_ms, r.end_ms, r.count), (0, 1000, 3));
        assert_eq!((r.min, r.max, r.mean, r.last), (1.0, 3.0, 2.0, 2.0));
        assert!((r.stddev - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(w.finish()[0].count, 1);
    }

    #[test]
    fn late_records_correct_their_window_then_too_late_ones_are_counted() {
        let mut w = Windows::new(one_second(), 5_000);
        w.insert(&s("a", 100, 1.0));
        assert_eq!(w.advance(2_000).len(), 1);
        let c = w.insert(&s("a", 200, 5.0));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].count, c[0].max, c[0].revision, c[0].late),
            (2, 5.0, 1, 1)
        );
        assert_eq!(w.late, 1);
        w.advance(10_000);
        assert!(w.insert(&s("a", 300, 7.0)).is_empty());
        assert_eq!(w.too_late, 1);
    }

    /// The reference: every window computed from scratch over all samples.
    type Reference = BTreeMap<(String, String, i64), (u64, f64, f64, f64, f64, f64)>;

    pub(crate) fn brute(samples: &[Sample], specs: &[WindowSpec]) -> Reference {
        let mut groups: BTreeMap<(String, String, i64), Vec<(i64, f64)>> = BTreeMap::new();
        for x in samples {
            for sp in specs {
                let start = x.ts_ms.div_euclid(sp.width_ms) * sp.width_ms;
                groups
                    .entry((x.series.clone(), sp.name.clone(), start))
                    .or_default()
                    .push((x.ts_ms, x.value));
            }
        }
        groups
            .into_iter()
            .map(|(k, tv)| {
                let last = tv
                    .iter()
                    .max_by_key(|(t, _)| *t)
                    .map(|(_, v)| *v)
                    .unwrap_or(f64::NAN);
                let v: Vec<f64> = tv.into_iter().map(|(_, v)| v).collect();
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                (k, (v.len() as u64, min, max, mean, var.sqrt(), last))
            })
            .collect()
    }

    pub(crate) fn random_stream(seed: u64, n: usize, max_delay_ms: i64) -> Vec<Sample> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut v: Vec<(i64, Sample)> = (0..n)
            .map(|i| {
                let ts = i as i64 * 7 + rng.random_range(0..5);
                let arrival = ts + rng.random_range(0..=max_delay_ms);
                let series = format!("line1/tag{}", rng.random_range(0..5));
                (arrival, s(&series, ts, rng.random_range(-50.0..150.0)))
            })
            .collect();
        v.sort_by_key(|(a, _)| *a);
        v.into_iter().map(|(_, x)| x).collect()
    }

    #[test]
    fn out_of_order_streams_match_the_brute_force_reference() {
        let specs = WindowSpec::standard();
        for seed in 0..5 {
            let stream = random_stream(seed, 20_000, 3_000);
            // Watermark trails the newest event time by 1 s: records up to 3 s late happen,
            // and a 1 h horizon folds them all in as corrections.
            let mut w = Windows::new(specs.clone(), 3_600_000);
            let mut latest: BTreeMap<(String, String, i64), Rollup> = BTreeMap::new();
            let mut keep = |r: Rollup| {
                let k = (r.series.clone(), r.window.clone(), r.start_ms);
                let newer = latest.get(&k).is_none_or(|o| r.revision >= o.revision);
                if newer {
                    latest.insert(k, r);
                }
            };
            let mut max_ts = i64::MIN;
            for x in &stream {
                for r in w.insert(x) {
                    keep(r);
                }
                max_ts = max_ts.max(x.ts_ms);
                for r in w.advance(max_ts - 1_000) {
                    keep(r);
                }
            }
            for r in w.finish() {
                keep(r);
            }
            let reference = brute(&stream, &specs);
            assert!(w.late > 0, "the stream must exercise late data");
            assert_eq!(w.too_late, 0);
            assert_matches_reference(&latest, &reference);
        }
    }

    pub(crate) fn assert_matches_reference(
        latest: &BTreeMap<(String, String, i64), Rollup>,
        reference: &Reference,
    ) {
        assert_eq!(latest.len(), reference.len());
        for (k, &(count, min, max, mean, sd, last)) in reference {
            let r = &latest[k];
            assert_eq!(r.count, count, "{k:?}");
            assert_eq!(r.last, last, "{k:?}");
            assert_eq!((r.min, r.max), (min, max), "{k:?}");
            assert!((r.mean - mean).abs() <= 1e-9 * mean.abs().max(1.0), "{k:?}");
            assert!((r.stddev - sd).abs() <= 1e-7 * sd.max(1.0), "{k:?}");
        }
    }
}
