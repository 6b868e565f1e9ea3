//! `foodflow-hub analytics`: recomputation over stored history with the same dataflows the edge
//! runs — rollups (`replay`) and shift OEE (`oee`). They open the embedded store directly, so the
//! hub must be stopped (the store is single-process).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use foodflow_analytics::oee::{Counts, LineState, Shift, StateChange, shift_report};
use foodflow_analytics::{Epoch, Sample, WindowSpec, Workers, dataflow};
use foodflow_protocol::{DeviceId, Payload, StreamId, Value};
use foodflow_transport::TenantId;

use crate::store::{EmbeddedStore, RecordStore};

fn open(data_dir: &Path) -> Result<EmbeddedStore> {
    EmbeddedStore::open(data_dir).with_context(|| {
        format!(
            "opening the hub store in {} (stop the running hub first: the store is \
             single-process)",
            data_dir.display()
        )
    })
}

/// Progress on stderr: a line every 5 % (and at the end).
struct Progress {
    total: u64,
    done: u64,
    next_pct: u64,
    started: Instant,
    what: &'static str,
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Self {
        Self {
            total: total.max(1),
            done: 0,
            next_pct: 5,
            started: Instant::now(),
            what,
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        let pct = self.done * 100 / self.total;
        if pct >= self.next_pct || self.done == self.total {
            eprintln!(
                "{}: {pct:>3} % ({} of {} records) {:.1} s",
                self.what,
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
            self.next_pct = pct + 5;
        }
    }
}

pub struct ReplayArgs<'a> {
    pub data_dir: &'a Path,
    pub tenant: TenantId,
    pub device: DeviceId,
    pub stream: StreamId,
    pub from_ns: i64,
    pub to_ns: i64,
    pub workers: usize,
    pub watermark_delay_ms: i64,
}

/// Recomputes 1 s / 1 min / 1 h rollups of a stream's numeric readings; JSON lines on `out`
/// (the final revision of every window, in window order).
pub fn replay(a: ReplayArgs<'_>, out: &mut dyn Write) -> Result<()> {
    let store = open(a.data_dir)?;
    let view = store.tenant(&a.tenant);
    let total = view
        .streams(&a.device)?
        .iter()
        .find(|s| s.stream == a.stream)
        .map(|s| s.records)
        .with_context(|| {
            format!(
                "no stream {} of device {} in tenant {}",
                a.stream, a.device, a.tenant
            )
        })?;
    let mut progress = Progress::new("replay", total);
    let mut epochs = Vec::new();
    let mut batch = Vec::new();
    let mut max_ts = i64::MIN;
    view.scan_time(&a.device, &a.stream, a.from_ns, a.to_ns, &mut |r| {
        progress.tick();
        if let Payload::Reading(x) = &r.payload
            && let Some(value) = x.value.as_f64()
        {
            let ts_ms = x.source_ts_ns.unwrap_or(r.ts_ns) / 1_000_000;
            max_ts = max_ts.max(ts_ms);
            batch.push(Sample {
                series: x.tag.clone(),
                ts_ms,
                value,
            });
            if batch.len() >= 10_000 {
                epochs.push(Epoch {
                    samples: std::mem::take(&mut batch),
                    watermark: max_ts - a.watermark_delay_ms,
                });
            }
        }
    })?;
    if !batch.is_empty() {
        epochs.push(Epoch {
            samples: batch,
            watermark: max_ts - a.watermark_delay_ms,
        });
    }
    let t = Instant::now();
    let o = dataflow::run_rollups(
        Workers::Threads(a.workers),
        WindowSpec::standard(),
        3_600_000,
        epochs,
    )
    .map_err(anyhow::Error::msg)?;
    let mut latest = std::collections::BTreeMap::new();
    for r in o.rollups {
        let k = (r.window.clone(), r.series.clone(), r.start_ms);
        let newer = latest
            .get(&k)
            .is_none_or(|x: &foodflow_analytics::Rollup| r.revision >= x.revision);
        if newer {
            latest.insert(k, r);
        }
    }
    for r in latest.values() {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
    }
    eprintln!(
        "replay: {} windows from {total} records in {:.2} s on {} worker(s); {} late, {} too late",
        latest.len(),
        t.elapsed().as_secs_f64(),
        a.workers,
        o.late,
        o.too_late
    );
    Ok(())
}

pub struct OeeArgs<'a> {
    pub data_dir: &'a Path,
    pub tenant: TenantId,
    pub device: DeviceId,
    pub stream: StreamId,
    pub shift: Shift,
    pub state_tag: String,
    pub good_tag: String,
    pub reject_tag: String,
    pub csv: bool,
}

/// The OEE report of one shift from the stored line state and counters.
pub fn oee(a: OeeArgs<'_>, out: &mut dyn Write) -> Result<()> {
    let store = open(a.data_dir)?;
    let view = store.tenant(&a.tenant);
    let mut states = Vec::new();
    let mut counts: Vec<Counts> = Vec::new();
    let (mut good, mut reject) = (None::<u64>, None::<u64>);
    // A day before the shift gives the state in force at its start and the counter baseline.
    let from = a
        .shift
        .start_ms
        .saturating_sub(86_400_000)
        .saturating_mul(1_000_000);
    let to = a.shift.end_ms.saturating_add(1).saturating_mul(1_000_000);
    view.scan_time(&a.device, &a.stream, from, to, &mut |r| {
        let Payload::Reading(x) = &r.payload else {
            return;
        };
        let ts_ms = x.source_ts_ns.unwrap_or(r.ts_ns) / 1_000_000;
        if x.tag == a.state_tag {
            let state = match &x.value {
                Value::Text(t) => LineState::parse(t),
                Value::Int(1) | Value::Bool(true) => LineState::Running,
                _ => LineState::Stopped,
            };
            states.push(StateChange {
                ts_ms,
                state,
                reason: match &x.value {
                    Value::Text(t) => Some(t.clone()),
                    _ => None,
                },
            });
        } else if x.tag == a.good_tag || x.tag == a.reject_tag {
            let Some(v) = x.value.as_f64() else { return };
            if x.tag == a.good_tag {
                good = Some(v.max(0.0) as u64);
            } else {
                reject = Some(v.max(0.0) as u64);
            }
            // A counter's first value is its baseline: samples start once both are known.
            if let (Some(good), Some(reject)) = (good, reject) {
                counts.push(Counts {
                    ts_ms,
                    good,
                    reject,
                });
            }
        }
    })?;
    states.sort_by_key(|s| s.ts_ms);
    counts.sort_by_key(|c| c.ts_ms);
    let report = shift_report(&a.shift, &states, &counts);
    if a.csv {
        write!(out, "{}", report.to_csv())?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
