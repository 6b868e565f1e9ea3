//! The uplink: pushes the durable journal to the gateway (or hub), in order per stream, one
//! upload in flight. It keeps no state of its own: on start and after every failure it asks
//! the receiver for its committed marks and goes on from there, so a crash of either side, a
//! lost answer or a replaced disk at the gateway never loses or repeats a record.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use foodflow_protocol::batch::Entry;
use foodflow_protocol::{Batch, PriorityClass, Segment, StreamId, StreamMark};
use foodflow_transport::client::after_failure;
use foodflow_transport::{Backoff, SendError, SyncClient};
use tokio_util::sync::CancellationToken;

use crate::journal::{Journal, JournalReader};
use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
}

fn class_order(c: PriorityClass) -> u8 {
    match c {
        PriorityClass::Critical => 0,
        PriorityClass::Operational => 1,
        PriorityClass::Telemetry => 2,
    }
}

/// Builds the next upload from the durable journal, starting after each stream's mark.
pub fn next_batch(
    reader: &JournalReader,
    marks: &HashMap<StreamId, u64>,
    limits: &Limits,
) -> Result<Batch, crate::journal::JournalError> {
    let mut streams = reader.durable.snapshot();
    streams.sort_by_key(|(s, c, _)| (class_order(*c), s.clone()));
    let active = streams
        .iter()
        .filter(|(s, _, next)| marks.get(s).copied().unwrap_or(0).saturating_add(1) < *next)
        .count();
    let share = (limits.max_records / active.max(1)).max(256);
    let mut batch = Batch::default();
    let (mut n, mut bytes) = (0usize, 0usize);
    for (stream, class, next) in streams {
        if n >= limits.max_records || bytes >= limits.max_bytes {
            break;
        }
        let from = marks.get(&stream).copied().unwrap_or(0).saturating_add(1);
        let take = share.min(limits.max_records - n);
        let (rows, size) = reader.read(&stream, from, next, take, limits.max_bytes - bytes)?;
        if rows.is_empty() {
            continue;
        }
        n += rows.len();
        bytes += size;
        let entries: Vec<Entry> = rows
            .into_iter()
            .map(|r| Entry {
                seq: r.seq,
                ts_ns: r.ts_ns,
                payload: r.payload,
                clock: r.clock,
            })
            .collect();
        batch.segments.push(Segment {
            device: reader.device().clone(),
            stream,
            class,
            entries,
        });
    }
    Ok(batch)
}

fn pending_records(reader: &JournalReader, marks: &HashMap<StreamId, u64>) -> u64 {
    reader
        .durable
        .snapshot()
        .iter()
        .map(|(s, _, next)| {
            next.saturating_sub(marks.get(s).copied().unwrap_or(0).saturating_add(1))
        })
        .sum()
}

/// The marks as this journal last heard them (persisted across restarts).
fn confirmed_marks(reader: &JournalReader) -> HashMap<StreamId, u64> {
    reader
        .durable
        .snapshot()
        .into_iter()
        .map(|(s, _, _)| {
            let below = reader.durable.confirmed_below(&s);
            (s, below.saturating_sub(1))
        })
        .collect()
}

/// A receiver ahead of the journal means the journal was replaced (new data directory): its
/// new records reuse seqs the receiver already holds and would be taken for duplicates. This is
/// not repaired automatically (it needs the stream's seq to jump past the receiver's mark
/// before the first append); it is made loud.
fn warn_if_behind(reader: &JournalReader, marks: &HashMap<StreamId, u64>, metrics: &Metrics) {
    let local: HashMap<StreamId, u64> = reader
        .durable
        .snapshot()
        .into_iter()
        .map(|(s, _, next)| (s, next))
        .collect();
    for (stream, mark) in marks {
        let next = local.get(stream).copied().unwrap_or(1);
        if *mark >= next {
            metrics
                .counter(
                    "foodflow_uplink_journal_behind_total",
                    "Streams whose receiver holds seqs this journal has not written (journal replaced?)",
                    &[],
                )
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                %stream,
                receiver_mark = mark,
                journal_next = next,
                "the receiver holds seqs this journal has not written yet (was the data directory \
                 replaced?): new records up to seq {mark} will be taken for duplicates; restore \
                 the journal or give the box a new device id"
            );
        }
    }
}

/// Takes in the next hop's marks; they are also what retention may drop.
fn absorb(marks: &mut HashMap<StreamId, u64>, reader: &JournalReader, got: &[StreamMark]) {
    for m in got {
        if &m.device == reader.device() {
            let e = marks.entry(m.stream.clone()).or_insert(0);
            *e = (*e).max(m.seq);
            reader.durable.confirm(&m.stream, *e);
        }
    }
}

/// Before the first append of this run: asks the next hop for its marks and moves every
/// stream's next seq past them where the journal is behind (a replaced data directory), so
/// that no new record is taken for a duplicate. Skipped, with a log line, when the next hop
/// cannot be reached within `wait`; the uplink then reports the condition when it connects.
pub async fn align(journal: &Journal, client: &SyncClient, wait: Duration) -> usize {
    let marks = match tokio::time::timeout(wait, client.marks()).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "uplink: next hop not reachable at start; journal alignment skipped");
            return 0;
        }
        Err(_) => {
            tracing::info!("uplink: next hop did not answer at start; journal alignment skipped");
            return 0;
        }
    };
    let local: HashMap<StreamId, u64> = journal
        .reader()
        .durable
        .snapshot()
        .into_iter()
        .map(|(s, _, next)| (s, next))
        .collect();
    let mut moved = 0;
    for m in marks
        .iter()
        .filter(|m| &m.device == journal.reader().device())
    {
        let next = local.get(&m.stream).copied().unwrap_or(1);
        if m.seq < next {
            continue;
        }
        // A mark at u64::MAX leaves no seq to move to: the stream needs a person (new device
        // id or a cleaned receiver), never a wrapped counter.
        let Some(to) = m.seq.checked_add(1) else {
            tracing::error!(stream = %m.stream, receiver_mark = m.seq, "the next hop's mark for this stream is the largest seq there is: nothing new can ever be taken for new; give the box a new device id or clear the stream at the receiver");
            continue;
        };
        match journal.advance(m.stream.clone(), to).await {
            Ok(Some(before)) => {
                moved += 1;
                tracing::warn!(stream = %m.stream, from = before, to, "journal is behind the next hop (data directory replaced?): stream seq advanced past the hop's mark so new records are not taken for duplicates");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(stream = %m.stream, error = %e, "cannot advance the journal past the next hop's mark")
            }
        }
    }
    moved
}

/// Runs until `cancel`; reports through `metrics`.
pub async fn run(
    reader: JournalReader,
    client: SyncClient,
    limits: Limits,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let sent = metrics.counter(
        "foodflow_uplink_records_total",
        "Records the next hop confirmed",
        &[],
    );
    let batches = metrics.counter(
        "foodflow_uplink_batches_total",
        "Uploads the next hop committed",
        &[],
    );
    let wire = metrics.counter(
        "foodflow_uplink_bytes_total",
        "Compressed bytes uploaded",
        &[],
    );
    let connected = metrics.gauge(
        "foodflow_uplink_connected",
        "1 while uploads to the next hop succeed",
        &[],
    );
    let last_ok = metrics.gauge(
        "foodflow_uplink_last_success_unix_ms",
        "When the next hop last confirmed an upload (Unix ms; 0: never since start)",
        &[],
    );
    let pending = metrics.gauge(
        "foodflow_uplink_pending_records",
        "Durable records not yet confirmed by the next hop",
        &[],
    );
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut changed = reader.durable.subscribe();
    let mut marks: Option<HashMap<StreamId, u64>> = None;
    let mut partial_since: Option<Instant> = None;
    let mut up = false;
    while !cancel.is_cancelled() {
        // Resume point: always the receiver's own word.
        let Some(m) = marks.as_mut() else {
            match client.marks().await {
                Ok(got) => {
                    let mut fresh = HashMap::new();
                    absorb(&mut fresh, &reader, &got);
                    warn_if_behind(&reader, &fresh, &metrics);
                    tracing::info!(
                        next_hop = client.base(),
                        streams = fresh.len(),
                        "uplink resumes from the receiver's marks"
                    );
                    marks = Some(fresh);
                }
                Err(e) => {
                    // The backlog shows while the next hop cannot be asked, from what this
                    // journal knows was confirmed.
                    pending.store(
                        pending_records(&reader, &confirmed_marks(&reader)),
                        Ordering::Relaxed,
                    );
                    let wait = fail(&e, &mut backoff, &mut up, &metrics, &connected);
                    tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = cancel.cancelled() => break }
                }
            }
            continue;
        };
        pending.store(pending_records(&reader, m), Ordering::Relaxed);
        let r = {
            let reader = reader.clone();
            let m = m.clone();
            tokio::task::spawn_blocking(move || next_batch(&reader, &m, &limits)).await
        };
        let batch = match r {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "uplink cannot read the journal");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => continue,
        };
        if batch.is_empty() {
            partial_since = None;
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = cancel.cancelled() => break,
            }
            continue;
        }
        if batch.len() < limits.max_records {
            let since = *partial_since.get_or_insert_with(Instant::now);
            if since.elapsed() < limits.max_wait {
                tokio::select! {
                    _ = tokio::time::sleep(limits.max_wait - since.elapsed()) => {}
                    _ = cancel.cancelled() => break,
                }
                continue;
            }
        }
        partial_since = None;
        let n = batch.len() as u64;
        let Ok(body) = tokio::task::spawn_blocking(move || batch.encode(1)).await else {
            continue;
        };
        let size = body.len() as u64;
        match client.upload(body).await {
            Ok(ack) => {
                absorb(m, &reader, &ack.marks);
                if !up {
                    tracing::info!(next_hop = client.base(), "uplink connected");
                    up = true;
                }
                connected.store(1, Ordering::Relaxed);
                last_ok.store(
                    (crate::time::now_ns() / 1_000_000).max(0) as u64,
                    Ordering::Relaxed,
                );
                backoff.reset();
                sent.fetch_add(n, Ordering::Relaxed);
                batches.fetch_add(1, Ordering::Relaxed);
                wire.fetch_add(size, Ordering::Relaxed);
            }
            Err(e) => {
                let wait = fail(&e, &mut backoff, &mut up, &metrics, &connected);
                // After any failure the receiver may have committed or not: ask it.
                marks = None;
                tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = cancel.cancelled() => break }
            }
        }
    }
}

fn fail(
    e: &SendError,
    backoff: &mut Backoff,
    up: &mut bool,
    metrics: &Metrics,
    connected: &std::sync::atomic::AtomicU64,
) -> Duration {
    let (kind, wait) = after_failure(e, backoff);
    metrics
        .counter(
            "foodflow_uplink_errors_total",
            "Failed uploads, by kind",
            &[("kind", kind)],
        )
        .fetch_add(1, Ordering::Relaxed);
    connected.store(0, Ordering::Relaxed);
    if *up || backoff.failures() % 10 == 1 || !e.is_retryable() {
        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "uplink upload failed");
    }
    *up = false;
    wait
}
