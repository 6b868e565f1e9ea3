//! `make bench-analytics`: rollups (1 s / 1 min / 1 h) plus alarm rules over a synthetic plant
//! stream on one and on two timely workers, and PostgreSQL 15 computing the same 1-minute
//! rollups (`date_trunc` + GROUP BY) over the same data, in the same run.
//!
//! Prints one JSON object as its last line.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use foodflow_analytics::alarms::{Alarms, Condition, Level, Rule};
use foodflow_analytics::{Epoch, Sample, WindowSpec, Workers, dataflow};

const SERIES: usize = 1_000;
const EVENTS: usize = 4_000_000;

fn stream() -> Vec<Sample> {
    // 1,000 tags at 100 Hz each → 100,000 events per simulated second, slightly out of order.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..EVENTS)
        .map(|i| {
            let series = i % SERIES;
            let ts_ms = 1_795_341_600_000 + (i / SERIES) as i64 * 10 - (next() % 50) as i64;
            Sample {
                series: format!("line{}/tag{:04}", series % 10, series),
                ts_ms,
                value: 180.0 + (next() % 1000) as f64 * 0.01,
            }
        })
        .collect()
}

fn rules() -> Vec<Rule> {
    (0..SERIES)
        .step_by(10)
        .map(|s| Rule {
            name: format!("high-{s}"),
            series: format!("line{}/tag{:04}", s % 10, s),
            condition: Condition::Above {
                limit: 189.9,
                hysteresis: 0.5,
            },
            on_delay_ms: 20,
            off_delay_ms: 20,
            level: Level::Warning,
        })
        .collect()
}

/// Rollups on `workers` workers, alarms on the feeding thread; events/s and alarm latencies.
fn run(samples: &[Sample], workers: usize) -> (f64, Vec<f64>, usize) {
    let t = Instant::now();
    let mut alarms = Alarms::new(rules());
    let mut latencies = Vec::new();
    let mut epochs = Vec::with_capacity(samples.len() / 10_000 + 1);
    let mut max_ts = i64::MIN;
    for chunk in samples.chunks(10_000) {
        for s in chunk {
            let t0 = Instant::now();
            let ev = alarms.observe(&s.series, s.ts_ms, s.value);
            if !ev.is_empty() {
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            max_ts = max_ts.max(s.ts_ms);
        }
        epochs.push(Epoch {
            samples: chunk.to_vec(),
            watermark: max_ts - 100,
        });
    }
    let out = dataflow::run_rollups(
        Workers::Threads(workers),
        WindowSpec::standard(),
        60_000,
        epochs,
    )
    .expect("dataflow");
    let rate = samples.len() as f64 / t.elapsed().as_secs_f64();
    (rate, latencies, out.rollups.len())
}

fn p99(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// PostgreSQL: COPY the samples in, then time the 1-minute rollup query alone.
fn postgres(samples: &[Sample]) -> Option<(f64, f64)> {
    let psql = |sql: &str| {
        Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .output()
    };
    let ready = psql("select 1").ok()?.status.success();
    if !ready {
        eprintln!(
            "bench-analytics: PostgreSQL is not reachable as user postgres; reference skipped"
        );
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let csv = dir.path().join("samples.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).ok()?);
        for s in samples {
            writeln!(f, "{},{},{}", s.series, s.ts_ms, s.value).ok()?;
        }
    }
    let _ = Command::new("chmod")
        .args(["-R", "a+rx", dir.path().to_str()?])
        .status();
    let load = format!(
        "copy bench_samples from '{}' with (format csv)",
        csv.display()
    );
    let loading = Instant::now();
    for sql in [
        "drop table if exists bench_samples",
        "create unlogged table bench_samples (series text, ts_ms bigint, value double precision)",
        load.as_str(),
        "alter table bench_samples add column ts timestamptz",
        "update bench_samples set ts = to_timestamp(ts_ms / 1000.0)",
        "vacuum analyze bench_samples",
    ] {
        let o = psql(sql).ok()?;
        if !o.status.success() {
            eprintln!(
                "bench-analytics: loading PostgreSQL failed at {sql:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
    }
    let load_s = loading.elapsed().as_secs_f64();
    let query = "select series, date_trunc('minute', ts) as minute, count(*), min(value), max(value), \
                 avg(value), stddev_pop(value) from bench_samples group by 1, 2";
    // Warm the cache once, then time it.
    let _ = psql(&format!("select count(*) from ({query}) q"));
    let t = Instant::now();
    let o = psql(&format!("select count(*) from ({query}) q")).ok()?;
    let el = t.elapsed().as_secs_f64();
    let _ = psql("drop table if exists bench_samples");
    eprintln!(
        "bench-analytics: PostgreSQL load (COPY + timestamp + analyze) {load_s:.2} s, query {el:.2} s; with the load: {:.0} events/s",
        samples.len() as f64 / (load_s + el)
    );
    o.status.success().then_some((
        samples.len() as f64 / el,
        samples.len() as f64 / (load_s + el),
    ))
}

fn main() {
    let samples = stream();
    eprintln!(
        "bench-analytics: {} events over {SERIES} series",
        samples.len()
    );
    let (r1, lat1, n1) = run(&samples, 1);
    eprintln!("bench-analytics: 1 worker {r1:.0} events/s ({n1} rollups)");
    let (r2, lat2, n2) = run(&samples, 2);
    eprintln!("bench-analytics: 2 workers {r2:.0} events/s ({n2} rollups)");
    assert_eq!(n1, n2, "1 and 2 workers emit the same rollups");
    let mut lat = lat1;
    lat.extend(lat2);
    let alarm_p99_ms = p99(lat);
    let pg = postgres(&samples);
    if let Some((q, _)) = pg {
        eprintln!("bench-analytics: PostgreSQL 1-minute rollup query alone {q:.0} events/s");
    }
    // The end-to-end figure from the alarm_latency bench (same `make bench-analytics` run).
    let e2e: serde_json::Value = std::env::var("FOODFLOW_BENCH_OUT")
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    println!(
        "{}",
        serde_json::json!({
            "edge_record_to_alarm_p99_ms": e2e["record_to_alarm_p99_ms"],
            "bench": "analytics",
            "events_per_s_1w": r1.round(),
            "events_per_s_2w": r2.round(),
            "alarm_p99_ms": (alarm_p99_ms * 1000.0).round() / 1000.0,
            "pg_events_per_s": pg.map(|x| x.0.round()),
            "speedup_vs_pg": pg.map(|x| (r1 / x.0 * 100.0).round() / 100.0),
            "pg_with_load_events_per_s": pg.map(|x| x.1.round()),
            "speedup_vs_pg_with_load": pg.map(|x| (r1 / x.1 * 100.0).round() / 100.0),
        })
    );
}
