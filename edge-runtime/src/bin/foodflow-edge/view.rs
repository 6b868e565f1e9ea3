//! The live terminal view of `run --view`: per source rates, last values and gaps.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use foodflow_protocol::Value;

use foodflow_edge::connectors::stats::Sources;
use foodflow_edge::metrics::Metrics;

fn show(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => format!("{f:.2}"),
        Value::Text(t) => format!("{t:?}"),
    }
}

/// Redraws the view once a second until cancelled.
pub async fn run(
    device: String,
    sources: Arc<Sources>,
    metrics: Arc<Metrics>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut prev: HashMap<String, (u64, Instant)> = HashMap::new();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut out = String::from("\x1b[H\x1b[2J");
        let _ = writeln!(
            out,
            "FoodFlow edge {device} — up {}s — journal {:.1} MB, {} records durable — Ctrl-C stops\n",
            start.elapsed().as_secs(),
            metrics
                .value("foodflow_journal_size_bytes", &[])
                .unwrap_or(0) as f64
                / 1e6,
            metrics
                .value("foodflow_journal_records_total", &[])
                .unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "{:<22} {:<9} {:<5} {:>10} {:>10} {:>6} {:>6}",
            "source", "protocol", "link", "records/s", "records", "gaps", "bad"
        );
        for s in sources.all() {
            let records = s.records.load(Ordering::Relaxed);
            let now = Instant::now();
            let (r0, t0) = prev
                .insert(s.name.clone(), (records, now))
                .unwrap_or((records, now));
            let dt = now.duration_since(t0).as_secs_f64();
            let rate = if dt > 0.0 {
                (records - r0) as f64 / dt
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "{:<22} {:<9} {:<5} {:>10.0} {:>10} {:>6} {:>6}",
                s.name,
                s.kind,
                if s.connected.load(Ordering::Relaxed) == 1 {
                    "up"
                } else {
                    "DOWN"
                },
                rate,
                records,
                s.gaps.load(Ordering::Relaxed),
                s.bad.load(Ordering::Relaxed),
            );
            for (tag, v) in s.last_values(4) {
                let _ = writeln!(out, "    {tag:<44} {}", show(&v));
            }
        }
        print!("{out}");
    }
}
