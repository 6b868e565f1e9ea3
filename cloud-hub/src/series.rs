//! Downsampling of readings into fixed time buckets (min, max, mean, last, count per tag):
//! what a trend chart over days needs instead of millions of raw values.

use std::collections::BTreeMap;

use foodflow_protocol::{Payload, Record};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Bucket start, UTC ns.
    pub t_ns: i64,
    /// Bucket start, RFC 3339.
    pub t: String,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub last: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Series {
    pub tag: String,
    pub points: Vec<Point>,
}

/// One bucket while it fills: count, min, max, sum, last.
type Acc = (u64, f64, f64, f64, f64);

/// Accumulates readings into buckets of `step_ns` starting at `from_ns`.
pub struct Downsampler {
    from_ns: i64,
    step_ns: i64,
    tag: Option<String>,
    buckets: BTreeMap<String, BTreeMap<i64, Acc>>,
    pub skipped_non_numeric: u64,
}

impl Downsampler {
    pub fn new(from_ns: i64, step_ns: i64, tag: Option<String>) -> Self {
        Self {
            from_ns,
            step_ns: step_ns.max(1),
            tag,
            buckets: BTreeMap::new(),
            skipped_non_numeric: 0,
        }
    }

    pub fn add(&mut self, r: &Record) {
        let Payload::Reading(reading) = &r.payload else {
            return;
        };
        if self.tag.as_ref().is_some_and(|t| t != &reading.tag) {
            return;
        }
        let Some(x) = reading.value.as_f64().filter(|x| x.is_finite()) else {
            self.skipped_non_numeric += 1;
            return;
        };
        // The time the store filtered by (the caller passes only records that have one).
        let Some(ts) = r.observed_time() else {
            return;
        };
        let bucket = self.from_ns + (ts - self.from_ns).div_euclid(self.step_ns) * self.step_ns;
        let b = self
            .buckets
            .entry(reading.tag.clone())
            .or_default()
            .entry(bucket)
            .or_insert((0, f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0));
        b.0 += 1;
        b.1 = b.1.min(x);
        b.2 = b.2.max(x);
        b.3 += x;
        b.4 = x;
    }

    pub fn finish(self) -> Vec<Series> {
        self.buckets
            .into_iter()
            .map(|(tag, b)| Series {
                tag,
                points: b
                    .into_iter()
                    .map(|(t_ns, (count, min, max, sum, last))| Point {
                        t_ns,
                        t: foodflow_protocol::time::format_rfc3339(t_ns),
                        count,
                        min,
                        max,
                        mean: sum / count as f64,
                        last,
                    })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foodflow_protocol::{DeviceId, Quality, Reading, StreamId, Value};

    fn rec(seq: u64, ts: i64, tag: &str, v: Value) -> Record {
        Record {
            device: DeviceId::new("d").unwrap(),
            stream: StreamId::new("s").unwrap(),
            seq,
            ts_ns: ts,
            clock: None,
            payload: Payload::Reading(Reading {
                tag: tag.into(),
                value: v,
                quality: Quality::Good,
                status_code: 0,
                source_ts_ns: None,
                origin_id: None,
            }),
        }
    }

    #[test]
    fn buckets_aggregate_per_tag() {
        let mut d = Downsampler::new(1000, 100, None);
        d.add(&rec(1, 1000, "a", Value::Float(1.0)));
        d.add(&rec(2, 1050, "a", Value::Float(3.0)));
        d.add(&rec(3, 1120, "a", Value::Int(10)));
        d.add(&rec(4, 1010, "b", Value::Bool(true)));
        d.add(&rec(5, 1010, "b", Value::Text("x".into())));
        assert_eq!(d.skipped_non_numeric, 1);
        let s = d.finish();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].tag, "a");
        assert_eq!(
            s[0].points[0],
            Point {
                t_ns: 1000,
                t: "1970-01-01T00:00:00.000001000Z".into(),
                count: 2,
                min: 1.0,
                max: 3.0,
                mean: 2.0,
                last: 3.0
            }
        );
        assert_eq!(s[0].points[1].t_ns, 1100);
        assert_eq!(s[1].points[0].max, 1.0);
    }

    #[test]
    fn tag_filter() {
        let mut d = Downsampler::new(0, 10, Some("b".into()));
        d.add(&rec(1, 1, "a", Value::Float(1.0)));
        d.add(&rec(2, 1, "b", Value::Float(2.0)));
        let s = d.finish();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].tag, "b");
    }
}
