//! Per-source live state for the terminal view and `/metrics`: counters are registry atomics,
//! the last values are a small capped map.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foodflow_protocol::{Payload, Value};

use super::codec::{Refusal, Refused};
use crate::metrics::Metrics;

/// Warns about refused values at most once every 10 s per source, saying how many were
/// refused since the last warning.
#[derive(Default)]
pub struct RefusedLog {
    last: Option<Instant>,
    since: u64,
}

impl RefusedLog {
    pub fn note(&mut self, source: &str, refused: &[Refused]) {
        self.since = self.since.saturating_add(refused.len() as u64);
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        if let Some(first) = refused.first() {
            tracing::warn!(
                source,
                refused = self.since,
                reason = first.why.as_str(),
                first = %format!("{}: {}", first.what, first.detail),
                "values not stored as readings (each kept in the journal as a values_refused event)"
            );
        }
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

/// How many distinct tags a source keeps a last value for (the view shows a few).
const LAST_VALUES_CAP: usize = 256;

pub struct SourceStats {
    pub name: String,
    pub kind: &'static str,
    pub connected: Arc<AtomicU64>,
    pub messages: Arc<AtomicU64>,
    pub records: Arc<AtomicU64>,
    pub bad: Arc<AtomicU64>,
    pub gaps: Arc<AtomicU64>,
    pub reconnects: Arc<AtomicU64>,
    /// Items subscribed at the source (OPC UA monitored items, MQTT subscriptions).
    pub items: Arc<AtomicU64>,
    /// How long the last subscription set-up took.
    pub setup_ms: Arc<AtomicU64>,
    /// Items the profile asks for, and those the source refused (OPC UA).
    pub items_configured: Arc<AtomicU64>,
    pub items_failed: Arc<AtomicU64>,
    /// 1 while monitored items are being created.
    pub subscribing: Arc<AtomicU64>,
    /// Messages or samples received again and recognised as already journaled.
    pub redelivered: Arc<AtomicU64>,
    /// Values refused, by reason (in [`Refusal::ALL`] order).
    refused: Vec<Arc<AtomicU64>>,
    last: Mutex<BTreeMap<String, (Value, i64)>>,
}

impl SourceStats {
    pub fn new(metrics: &Metrics, name: &str, kind: &'static str) -> Arc<Self> {
        let l = [("source", name), ("protocol", kind)];
        Arc::new(Self {
            name: name.to_owned(),
            kind,
            connected: metrics.gauge(
                "foodflow_source_connected",
                "1 while the source is connected",
                &l,
            ),
            messages: metrics.counter(
                "foodflow_ingest_messages_total",
                "Messages or notifications received",
                &l,
            ),
            records: metrics.counter(
                "foodflow_ingest_records_total",
                "Records made durable in the journal",
                &l,
            ),
            bad: metrics.counter(
                "foodflow_ingest_bad_payloads_total",
                "Payloads that could not be decoded (kept as events)",
                &l,
            ),
            gaps: metrics.counter(
                "foodflow_ingest_gaps_total",
                "Gap records written (outages, sequence gaps)",
                &l,
            ),
            reconnects: metrics.counter(
                "foodflow_source_reconnects_total",
                "Connection attempts after a loss",
                &l,
            ),
            items: metrics.gauge(
                "foodflow_source_items",
                "Items subscribed at the source (OPC UA monitored items, MQTT subscriptions)",
                &l,
            ),
            setup_ms: metrics.gauge(
                "foodflow_source_setup_duration_ms",
                "Duration of the last subscription set-up, in milliseconds",
                &l,
            ),
            items_configured: metrics.gauge(
                "foodflow_source_items_configured",
                "Items the profile asks the source for",
                &l,
            ),
            items_failed: metrics.gauge(
                "foodflow_source_items_failed",
                "Items the source refused (bad node ids, limits)",
                &l,
            ),
            subscribing: metrics.gauge(
                "foodflow_source_subscribing",
                "1 while the source's items are being created",
                &l,
            ),
            redelivered: metrics.counter(
                "foodflow_ingest_redelivered_duplicates_total",
                "Values received again and recognised as already journaled, not stored again (MQTT QoS 1 redeliveries, OPC UA samples sent again after a reconnect)",
                &l,
            ),
            refused: Refusal::ALL
                .iter()
                .map(|r| {
                    metrics.counter(
                        "foodflow_ingest_values_refused_total",
                        "Values a source sent that were not stored as readings, by reason (each written to the journal as an event)",
                        &[("source", name), ("protocol", kind), ("reason", r.as_str())],
                    )
                })
                .collect(),
            last: Mutex::new(BTreeMap::new()),
        })
    }

    /// Counts refused values.
    pub fn refused(&self, refused: &[Refused]) {
        for r in refused {
            if let Some(c) = Refusal::ALL
                .iter()
                .position(|x| *x == r.why)
                .and_then(|i| self.refused.get(i))
            {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn set_connected(&self, up: bool) {
        self.connected.store(u64::from(up), Ordering::Relaxed);
    }

    /// Notes what was journaled: counts, gaps and the newest value per tag.
    pub fn observe(&self, records: &[(i64, Payload)]) {
        self.records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for (ts, p) in records {
            match p {
                Payload::Gap(_) => {
                    self.gaps.fetch_add(1, Ordering::Relaxed);
                }
                Payload::Reading(r) => {
                    let ts = r.source_ts_ns.unwrap_or(*ts);
                    if let Some(slot) = last.get_mut(&r.tag) {
                        // Historical or late values never pass for the current one.
                        if ts >= slot.1 {
                            *slot = (r.value.clone(), ts);
                        }
                    } else if last.len() < LAST_VALUES_CAP {
                        last.insert(r.tag.clone(), (r.value.clone(), ts));
                    }
                }
                _ => {}
            }
        }
    }

    /// The newest value of `tag` and its time, if this source has seen it.
    pub fn last_value(&self, tag: &str) -> Option<(Value, i64)> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tag)
            .cloned()
    }

    pub fn last_values(&self, n: usize) -> Vec<(String, Value)> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.iter()
            .take(n)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

/// All sources of the running edge.
#[derive(Default)]
pub struct Sources {
    list: Mutex<Vec<Arc<SourceStats>>>,
}

impl Sources {
    pub fn add(&self, s: Arc<SourceStats>) {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).push(s);
    }

    pub fn all(&self) -> Vec<Arc<SourceStats>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The newest value of `tag` over all sources.
    pub fn latest(&self, tag: &str) -> Option<Value> {
        self.all()
            .iter()
            .filter_map(|s| s.last_value(tag))
            .max_by_key(|(_, ts)| *ts)
            .map(|(v, _)| v)
    }
}
