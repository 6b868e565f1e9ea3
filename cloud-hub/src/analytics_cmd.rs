//! `foodflow-hub analytics`: recomputation over stored history with the same dataflows the edge
//! runs — rollups (`replay`) and shift OEE (`oee`). They open the embedded store directly, so the
//! hub must be stopped (the store is single-process).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use foodflow_analytics::oee::{OeeTracker, Shift, VisionRejectRule};
use foodflow_analytics::{Epoch, Sample, WindowSpec, Workers, dataflow};
use foodflow_protocol::{DeviceId, Payload, StreamId, Value};
use foodflow_transport::TenantId;

use crate::progress::Progress;
use crate::store::{EmbeddedStore, RecordStore};

pub struct ReplayArgs<'a> {
    pub data_dir: &'a Path,
    pub tenant: TenantId,
    /// One device, or every device of the tenant.
    pub device: Option<DeviceId>,
    /// One stream, or every stream of the chosen devices.
    pub stream: Option<StreamId>,
    pub from_ns: i64,
    pub to_ns: i64,
    pub workers: Workers,
    pub watermark_delay_ms: i64,
    /// Also append the windows as `Rollup` records to each device's [`ROLLUP_STREAM`].
    pub store: bool,
}

/// Where `replay --store` puts the recomputed windows of a device.
pub const ROLLUP_STREAM: &str = "hub/rollups";

/// How long a cluster process waits for the others before giving up.
pub const CLUSTER_JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A timely series key carrying the partition (device, stream, tag) of a tenant's reading.
/// The unit separator cannot occur in device or stream ids, so the key splits back exactly.
fn series_key(device: &DeviceId, stream: &StreamId, tag: &str) -> String {
    format!("{device}\u{1f}{stream}\u{1f}{tag}")
}

#[derive(serde::Serialize)]
struct ReplayedWindow<'a> {
    device: &'a str,
    stream: &'a str,
    #[serde(flatten)]
    rollup: &'a foodflow_analytics::Rollup,
}

/// Recomputes 1 s / 1 min / 1 h rollups of numeric readings, partitioned by (device, stream,
/// tag) across the workers; JSON lines on `out` (the final revision of every window, ordered
/// by device, stream, window, tag and start). With [`Workers::Cluster`] this is process 0:
/// it reads the store and receives every result; the other processes run [`peer`].
pub fn replay(a: ReplayArgs<'_>, out: &mut dyn Write) -> Result<()> {
    let store = EmbeddedStore::open(a.data_dir)?;
    let view = store.tenant(&a.tenant);
    let devices = match &a.device {
        Some(d) => vec![d.clone()],
        None => view.devices()?,
    };
    let mut scope = Vec::new();
    for device in devices {
        for info in view.streams(&device)? {
            if a.stream.as_ref().is_none_or(|s| *s == info.stream) {
                scope.push((device.clone(), info.stream, info.records));
            }
        }
    }
    if scope.is_empty() {
        anyhow::bail!(
            "nothing to replay: tenant {} has no stream{}{} (list them with GET /v1/devices)",
            a.tenant,
            a.device
                .as_ref()
                .map(|d| format!(" of device {d}"))
                .unwrap_or_default(),
            a.stream
                .as_ref()
                .map(|s| format!(" named {s}"))
                .unwrap_or_default()
        );
    }
    let total = scope.iter().map(|s| s.2).sum();
    let mut progress = Progress::new("replay", "records", total);
    let mut samples = Vec::new();
    let mut max_ts = i64::MIN;
    for (device, stream, _) in &scope {
        view.scan_time(device, stream, a.from_ns, a.to_ns, &mut |r| {
            progress.tick();
            if let Payload::Reading(x) = &r.payload
                && let Some(value) = x.value.as_f64()
            {
                let ts_ms = x.source_ts_ns.unwrap_or(r.ts_ns) / 1_000_000;
                max_ts = max_ts.max(ts_ms);
                samples.push(Sample {
                    series: series_key(device, stream, &x.tag),
                    ts_ms,
                    value,
                });
            }
        })?;
    }
    // Streams are stored one after another; event time orders them into epochs whose
    // watermark trails the newest sample by the allowed delay.
    samples.sort_by_key(|s| s.ts_ms);
    let mut epochs = Vec::new();
    for chunk in samples.chunks(10_000) {
        let newest = chunk.last().map_or(max_ts, |s| s.ts_ms);
        epochs.push(Epoch {
            samples: chunk.to_vec(),
            watermark: newest - a.watermark_delay_ms,
        });
    }
    drop(samples);
    let t = Instant::now();
    let described = describe(&a.workers);
    let o = run_with_join_timeout(a.workers, epochs)?;
    let mut latest = std::collections::BTreeMap::new();
    for r in o.rollups {
        let k = (r.series.clone(), r.window.clone(), r.start_ms);
        let newer = latest
            .get(&k)
            .is_none_or(|x: &foodflow_analytics::Rollup| r.revision >= x.revision);
        if newer {
            latest.insert(k, r);
        }
    }
    let mut rows: Vec<(&str, &str, foodflow_analytics::Rollup)> = Vec::new();
    for ((key, _, _), r) in &latest {
        let mut parts = key.splitn(3, '\u{1f}');
        let (Some(device), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("internal: malformed series key {key:?}");
        };
        let mut r = r.clone();
        r.series = tag.to_owned();
        rows.push((device, stream, r));
    }
    rows.sort_by(|a, b| {
        (a.0, a.1, &a.2.window, &a.2.series, a.2.start_ms).cmp(&(
            b.0,
            b.1,
            &b.2.window,
            &b.2.series,
            b.2.start_ms,
        ))
    });
    for (device, stream, rollup) in &rows {
        let w = ReplayedWindow {
            device,
            stream,
            rollup,
        };
        writeln!(out, "{}", serde_json::to_string(&w)?)?;
    }
    if a.store {
        let target = StreamId::new(ROLLUP_STREAM)?;
        let now = foodflow_protocol::time::now_ns();
        let mut stored = 0;
        for chunk in rows.chunk_by(|x, y| x.0 == y.0) {
            let device = DeviceId::new(chunk[0].0)?;
            let items: Vec<(i64, Payload)> = chunk
                .iter()
                .map(|(_, _, r)| (now, r.clone().into_payload()))
                .collect();
            stored += view.append(
                &device,
                &target,
                foodflow_protocol::PriorityClass::Operational,
                &items,
            )?;
        }
        eprintln!("replay: {stored} Rollup records stored in {ROLLUP_STREAM} of each device");
    }
    eprintln!(
        "replay: {} windows from {total} records of {} stream(s) in {:.2} s on {described}; \
         {} late, {} too late",
        rows.len(),
        scope.len(),
        t.elapsed().as_secs_f64(),
        o.late,
        o.too_late
    );
    Ok(())
}

fn describe(w: &Workers) -> String {
    match w {
        Workers::Threads(n) => format!("{n} worker(s)"),
        Workers::Cluster {
            threads, addresses, ..
        } => format!("{} process(es) x {threads} worker(s)", addresses.len()),
    }
}

/// Runs the rollup dataflow; a cluster that has not formed within [`CLUSTER_JOIN_TIMEOUT`]
/// (a peer process missing or unreachable) ends the process with an error naming the addresses
/// rather than waiting forever (timely's join has no timeout of its own).
fn run_with_join_timeout(workers: Workers, epochs: Vec<Epoch>) -> Result<dataflow::Output> {
    let joined = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Workers::Cluster {
        process, addresses, ..
    } = &workers
    {
        let (joined, process, addresses) = (joined.clone(), *process, addresses.join(","));
        std::thread::spawn(move || {
            std::thread::sleep(CLUSTER_JOIN_TIMEOUT);
            if !joined.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!(
                    "error: analytics cluster did not form within {} s (this is process \
                     {process} of {addresses}); start every process with the same --addresses \
                     and its own --process, and check that the ports are reachable",
                    CLUSTER_JOIN_TIMEOUT.as_secs()
                );
                std::process::exit(3);
            }
        });
    }
    let rollups = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = rollups.clone();
    let (late, too_late) = dataflow::run_rollups_started(
        workers,
        WindowSpec::standard(),
        REPLAY_LATE_HORIZON_MS,
        epochs,
        move |r| sink.lock().unwrap_or_else(|p| p.into_inner()).push(r),
        move || joined.store(true, std::sync::atomic::Ordering::SeqCst),
    )
    .map_err(anyhow::Error::msg)?;
    let rollups = std::mem::take(&mut *rollups.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(dataflow::Output {
        rollups,
        late,
        too_late,
    })
}

/// Corrections are accepted for an hour after a window closes (as at the edge).
const REPLAY_LATE_HORIZON_MS: i64 = 3_600_000;

/// A compute-only process of a replay cluster (process 1.. of `addresses`): it reads nothing and
/// returns its results to process 0.
pub fn peer(workers: Workers) -> Result<()> {
    if workers.is_leader() {
        anyhow::bail!(
            "process 0 of a cluster is the one that reads the store: run `analytics replay` with \
             --process 0, and `analytics peer` with --process 1 and up"
        );
    }
    let described = describe(&workers);
    run_with_join_timeout(workers, Vec::new())?;
    eprintln!("peer: done ({described})");
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
    /// The stream of the line's vision results and which of them are rejects.
    pub vision: Option<(StreamId, VisionRejectRule)>,
    pub csv: bool,
}

/// The OEE report of one shift from the stored line state and counters (and vision rejects),
/// computed by the same tracker the edge runs live.
pub fn oee(a: OeeArgs<'_>, out: &mut dyn Write) -> Result<()> {
    let store = EmbeddedStore::open(a.data_dir)?;
    let view = store.tenant(&a.tenant);
    let mut tracker = OeeTracker::new(
        a.shift.line.clone(),
        a.state_tag.clone(),
        a.good_tag.clone(),
        a.reject_tag.clone(),
        a.shift.ideal_per_min,
        Vec::new(),
    )
    .with_vision(a.vision.as_ref().map(|v| v.1.clone()));
    // A day before the shift gives the state in force at its start and the counter baseline.
    let from = a
        .shift
        .start_ms
        .saturating_sub(86_400_000)
        .saturating_mul(1_000_000);
    let to = a.shift.end_ms.saturating_add(1).saturating_mul(1_000_000);
    let mut streams = vec![&a.stream];
    if let Some((vision_stream, _)) = &a.vision
        && vision_stream != &a.stream
    {
        streams.push(vision_stream);
    }
    let mut rows = Vec::new();
    for stream in streams {
        view.scan_time(&a.device, stream, from, to, &mut |r| rows.push(r.clone()))?;
    }
    let event_ms = |r: &foodflow_protocol::Record| match &r.payload {
        Payload::Reading(x) => x.source_ts_ns.unwrap_or(r.ts_ns) / 1_000_000,
        _ => r.ts_ns / 1_000_000,
    };
    // Counter baselines depend on order: feed the tracker in event time.
    rows.sort_by_key(|r| event_ms(r));
    for r in &rows {
        let ts_ms = event_ms(r);
        match &r.payload {
            Payload::Reading(x) => {
                let text = match &x.value {
                    Value::Text(t) => Some(t.as_str()),
                    _ => None,
                };
                tracker.observe(&x.tag, ts_ms, text, x.value.as_f64());
            }
            Payload::Detection(d) => {
                tracker.observe_detection(ts_ms, d);
            }
            _ => {}
        }
    }
    let report = tracker.report(&a.shift.name, a.shift.start_ms, a.shift.end_ms);
    if a.csv {
        write!(out, "{}", report.to_csv())?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
