//! Stream analytics at the edge: tails the durable journal, feeds every numeric reading to the
//! rollup dataflow (`foodflow-analytics`, timely) and the alarm rules, and journals what comes
//! out — `Rollup` records in `analytics/rollups` (operational), alarm lifecycle `Event`s in
//! `analytics/alarms` (critical). Works with the cloud down; the uplink carries both upstream.
//!
//! It starts at the journal's end: windows open when the edge stops are emitted, after a
//! restart, with the samples seen since (their `count` says so); the hub's replay over stored
//! history is the complete recomputation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use foodflow_analytics::alarms::{AlarmEvent, Alarms, Level, Transition};
use foodflow_analytics::oee::OeeTracker;
use foodflow_analytics::{Epoch, LiveRollups, Sample, WindowSpec};
use foodflow_protocol::{Event, Payload, PriorityClass, Severity, StreamId, Value};
use tokio_util::sync::CancellationToken;

use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::profile::AnalyticsSection;
use crate::time::now_ns;

pub const ROLLUP_STREAM: &str = "analytics/rollups";
pub const ALARM_STREAM: &str = "analytics/alarms";
pub const OEE_STREAM: &str = "analytics/oee";

/// Without new samples for this long, event time is taken to advance with the wall clock, so
/// the windows of a source that went quiet still close.
const IDLE_MS: i64 = 5_000;
/// How far ahead of this box's clock a sample's time may be. Beyond, it is quarantined: it
/// would push the watermark (and close every window) into the future.
const AHEAD_MS: i64 = 60_000;

fn alarm_payload(e: &AlarmEvent) -> Payload {
    let name = match e.transition {
        Transition::Activated => "alarm.activated",
        Transition::Acknowledged => "alarm.acknowledged",
        Transition::Cleared => "alarm.cleared",
    };
    Payload::Event(Event {
        name: name.into(),
        severity: match (e.transition, e.level) {
            (Transition::Activated, Level::Critical) => Severity::Critical,
            (Transition::Activated, Level::Warning) => Severity::Alarm,
            _ => Severity::Info,
        },
        message: format!("{} [rule {}, tag {}]", e.explanation, e.rule, e.series),
    })
}

/// An operator's acknowledgement of a raised alarm (from the HTTP API).
pub struct AckRequest {
    pub rule: String,
    pub by: String,
    /// Whether a raised, unacknowledged alarm was acknowledged.
    pub reply: tokio::sync::oneshot::Sender<bool>,
}

pub async fn run(
    journal: Journal,
    cfg: AnalyticsSection,
    metrics: Arc<Metrics>,
    mut acks: tokio::sync::mpsc::UnboundedReceiver<AckRequest>,
    board: crate::screen::SharedBoard,
    clock: Arc<crate::wallclock::ClockWatch>,
    cancel: CancellationToken,
) {
    let quarantined = metrics.counter(
        "foodflow_analytics_quarantined_total",
        "Readings stamped more than a minute ahead of this box's clock, or on a box clock wrong by an amount not known yet: kept out of rollups and OEE (the screen and alarms take them at their arrival time)",
        &[],
    );
    let samples_total = metrics.counter(
        "foodflow_analytics_samples_total",
        "Numeric readings fed to the analytics",
        &[],
    );
    let rollups_total = metrics.counter(
        "foodflow_analytics_rollups_total",
        "Rollup records journaled (corrections included)",
        &[],
    );
    let reader = journal.reader().clone();
    let rollup_stream = StreamId::new(ROLLUP_STREAM).ok();
    let alarm_stream = StreamId::new(ALARM_STREAM).ok();
    let (Some(rollup_stream), Some(alarm_stream)) = (rollup_stream, alarm_stream) else {
        return;
    };
    // New data only (see the module note).
    let mut cursors: HashMap<StreamId, u64> = reader
        .durable
        .snapshot()
        .into_iter()
        .map(|(s, _, next)| (s, next))
        .collect();
    let late_horizon_ms = cfg.late_horizon.0 as i64 * 1000;
    let start_rollups = || match LiveRollups::start(WindowSpec::standard(), late_horizon_ms) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the rollup dataflow; rollups are off");
            None
        }
    };
    let mut live = if cfg.rollups { start_rollups() } else { None };
    let mut alarms = Alarms::new(cfg.alarms.clone());
    let mut oee = cfg.oee.as_ref().map(|o| {
        OeeTracker::new(
            o.line.clone(),
            o.state_tag.clone(),
            o.good_tag.clone(),
            o.reject_tag.clone(),
            o.ideal_per_min,
            o.shifts.clone(),
        )
        .with_vision(o.vision_rejects.clone())
    });
    let oee_every = cfg
        .oee
        .as_ref()
        .map(|o| Duration::from_secs(o.report_every.0.max(1)))
        .unwrap_or(Duration::from_secs(60));
    let mut last_oee = Instant::now();
    let oee_stream = StreamId::new(OEE_STREAM).ok();
    let delay = cfg.watermark_delay_ms as i64;
    let (mut max_ts, mut last_arrival) = (i64::MIN, Instant::now());
    let mut changed = reader.durable.subscribe();
    tracing::info!(
        rollups = cfg.rollups,
        alarm_rules = cfg.alarms.len(),
        "edge analytics started"
    );
    loop {
        let mut events = Vec::new();
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = changed.changed() => {}
            Some(ack) = acks.recv() => {
                let ev = alarms.acknowledge(&ack.rule, &ack.by, now_ns() / 1_000_000);
                let _ = ack.reply.send(ev.is_some());
                events.extend(ev);
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let mut samples = Vec::new();
        let now_ms = now_ns() / 1_000_000;
        if max_ts > now_ms.saturating_add(AHEAD_MS) {
            // The wall clock went back: event time restarts from the new readings instead
            // of waiting years for the old watermark (windows open so far are emitted).
            tracing::warn!(
                ahead_s = (max_ts - now_ms) / 1000,
                "the wall clock went back; rollup windows and the screen restart from now"
            );
            if let Some(old) = live.take() {
                let (rest, _, _) = tokio::task::spawn_blocking(move || old.finish())
                    .await
                    .unwrap_or_default();
                append_rollups(&journal, &rollup_stream, rest, &rollups_total).await;
                live = start_rollups();
            }
            max_ts = i64::MIN;
            crate::screen::lock(&board).clock_went_back();
        }
        for (stream, _, next) in reader.durable.snapshot() {
            if stream.as_str().starts_with("analytics/") {
                continue;
            }
            let from = *cursors.entry(stream.clone()).or_insert(1);
            let rows = match reader.read(&stream, from, next, 100_000, 64 << 20) {
                Ok((r, _)) => r,
                Err(e) => {
                    tracing::error!(%stream, error = %e, "analytics cannot read the journal");
                    continue;
                }
            };
            if let Some(last) = rows.last() {
                cursors.insert(stream.clone(), last.seq + 1);
            }
            // One lock of the screen's board per batch read, not per reading.
            let mut screen = crate::screen::lock(&board);
            for row in rows {
                // The edge time on the trusted timeline: re-based where the journal knows
                // the clock's error, none where it is wrong and the error not known yet.
                let edge_ns = row.clock.map_or(Some(row.ts_ns), |c| c.corrected_ts_ns);
                let r = match row.payload {
                    Payload::Reading(r) => r,
                    Payload::Detection(d) => {
                        if let (Some(t), Some(ns)) = (oee.as_mut(), edge_ns) {
                            t.observe_detection(ns / 1_000_000, &d);
                        }
                        continue;
                    }
                    _ => continue,
                };
                let source_ms = r.source_ts_ns.or(edge_ns).map(|t| t / 1_000_000);
                // A device clock ahead, or a box clock wrong by an amount not known yet, must
                // not stop the screen or an alarm: those go on with the time the box received
                // the reading; rollups and OEE do not take it.
                let doubtful = source_ms.is_none_or(|ms| ms > now_ms.saturating_add(AHEAD_MS));
                let ts_ms = match source_ms {
                    Some(ms) if !doubtful => ms,
                    _ => {
                        quarantined.fetch_add(1, Ordering::Relaxed);
                        row.ts_ns / 1_000_000
                    }
                };
                match &r.value {
                    Value::Text(s) => screen.text(&r.tag, s),
                    v => {
                        if let Some(x) = v.as_f64() {
                            screen.number(&r.tag, ts_ms, x);
                        }
                    }
                }
                if let Some(t) = oee.as_mut().filter(|_| !doubtful) {
                    let text = match &r.value {
                        Value::Text(s) => Some(s.as_str()),
                        _ => None,
                    };
                    t.observe(&r.tag, ts_ms, text, r.value.as_f64());
                }
                let Some(value) = r.value.as_f64() else {
                    continue;
                };
                events.extend(alarms.observe(&r.tag, ts_ms, value));
                if !doubtful {
                    samples.push(Sample {
                        series: r.tag,
                        ts_ms,
                        value,
                    });
                }
            }
        }
        if !samples.is_empty() {
            samples_total.fetch_add(samples.len() as u64, Ordering::Relaxed);
            max_ts = samples.iter().map(|s| s.ts_ms).fold(max_ts, i64::max);
            last_arrival = Instant::now();
        }
        if let Some(live) = &live
            && max_ts > i64::MIN
        {
            let idle = last_arrival.elapsed().as_millis() as i64;
            let watermark = if idle > IDLE_MS {
                max_ts + idle - delay
            } else {
                max_ts - delay
            };
            live.push(Epoch { samples, watermark });
            append_rollups(&journal, &rollup_stream, live.take(), &rollups_total).await;
        }
        // No shift figures from a clock that cannot be trusted: a 1970 night shift or a
        // shift years ahead, with its production counted wrong, is worse than none.
        // The time shifts are cut by, from a fresh reading of a trusted clock only.
        let trusted_ms = clock.trusted_now_ns().map(|ns| ns / 1_000_000);
        if let Some(t) = oee.as_ref() {
            let shift = trusted_ms.and_then(|ms| t.so_far(ms));
            crate::screen::lock(&board).line_status(t.current_state(), shift);
        }
        {
            let mut b = crate::screen::lock(&board);
            for e in &events {
                b.alarm(e);
            }
        }
        if let (Some(t), Some(stream)) = (oee.as_mut(), oee_stream.as_ref())
            && last_oee.elapsed() >= oee_every
        {
            last_oee = Instant::now();
            let (ended, so_far) = match trusted_ms {
                Some(ms) => t.tick(ms),
                None => {
                    t.forget_current();
                    (None, None)
                }
            };
            let mut items = Vec::new();
            for (name, report) in [("oee.shift_report", ended), ("oee.shift_so_far", so_far)] {
                if let Some(r) = report {
                    items.push((
                        now_ns(),
                        Payload::Event(Event {
                            name: name.into(),
                            severity: Severity::Info,
                            message: serde_json::to_string(&r).unwrap_or_default(),
                        }),
                    ));
                }
            }
            if !items.is_empty()
                && let Err(e) = journal
                    .append(stream.clone(), PriorityClass::Operational, items)
                    .await
            {
                tracing::error!(error = %e, "cannot journal the OEE report");
            }
        }
        if !events.is_empty() {
            for e in &events {
                metrics
                    .counter(
                        "foodflow_analytics_alarm_events_total",
                        "Alarm lifecycle events, by transition",
                        &[("transition", &format!("{:?}", e.transition).to_lowercase())],
                    )
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(rule = %e.rule, tag = %e.series, transition = ?e.transition, "{}", e.explanation);
            }
            let items: Vec<(i64, Payload)> = events
                .iter()
                .map(|e| (now_ns(), alarm_payload(e)))
                .collect();
            if let Err(e) = journal
                .append(alarm_stream.clone(), PriorityClass::Critical, items)
                .await
            {
                tracing::error!(error = %e, "cannot journal alarm events");
            }
        }
    }
    if let Some(live) = live {
        let (rest, late, too_late) = tokio::task::spawn_blocking(move || live.finish())
            .await
            .unwrap_or_default();
        tracing::info!(
            late,
            too_late,
            pending = rest.len(),
            "edge analytics stopped"
        );
        append_rollups(&journal, &rollup_stream, rest, &rollups_total).await;
    }
}

async fn append_rollups(
    journal: &Journal,
    stream: &StreamId,
    rollups: Vec<foodflow_analytics::Rollup>,
    total: &std::sync::atomic::AtomicU64,
) {
    if rollups.is_empty() {
        return;
    }
    total.fetch_add(rollups.len() as u64, Ordering::Relaxed);
    let out: Vec<(i64, Payload)> = rollups
        .into_iter()
        .map(|r| (now_ns(), r.into_payload()))
        .collect();
    if let Err(e) = journal
        .append(stream.clone(), PriorityClass::Operational, out)
        .await
    {
        tracing::error!(error = %e, "cannot journal rollups");
    }
}
