//! The forwarder: drains the queue to the hub, one batch in flight, in order per stream. On
//! any failure it waits (jittered exponential backoff, or the pause the hub asked for) and
//! sends again from what the hub last confirmed; the hub's dedup makes the resend harmless.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use foodflow_transport::client::after_failure;
use foodflow_transport::{Backoff, SyncClient};
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::config::BatchLimits;

pub async fn run(
    s: AppState,
    client: SyncClient,
    limits: BatchLimits,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let m = s.metrics.clone();
    let batches = m.counter(
        "foodflow_gateway_forwarded_batches_total",
        "Batches the hub committed",
        &[],
    );
    let records = m.counter(
        "foodflow_gateway_forwarded_records_total",
        "Records the hub confirmed",
        &[],
    );
    let bytes_out = m.counter(
        "foodflow_gateway_forwarded_bytes_total",
        "Compressed bytes uploaded to the hub",
        &[],
    );
    let connected = m.gauge(
        "foodflow_gateway_hub_connected",
        "1 while uploads to the hub succeed",
        &[],
    );
    let mut partial_since: Option<Instant> = None;
    while !shutdown.is_cancelled() {
        let q = s.queue.clone();
        let (max_r, max_b) = (limits.max_records, limits.max_bytes.0 as usize);
        let batch = match tokio::task::spawn_blocking(move || q.next_batch(max_r, max_b)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => continue,
        };
        if batch.is_empty() {
            partial_since = None;
            tokio::select! {
                _ = s.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.cancelled() => break,
            }
            continue;
        }
        // A small batch waits up to max_wait for company: fewer, larger uploads.
        if batch.len() < limits.max_records {
            let since = *partial_since.get_or_insert_with(Instant::now);
            let wait = Duration::from_millis(limits.max_wait_ms);
            if since.elapsed() < wait {
                tokio::select! {
                    _ = tokio::time::sleep(wait - since.elapsed()) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
        }
        partial_since = None;
        let n = batch.len() as u64;
        let body = match tokio::task::spawn_blocking(move || batch.encode(1)).await {
            Ok(b) => b,
            Err(_) => continue,
        };
        let size = body.len() as u64;
        match client.upload(body).await {
            Ok(ack) => {
                let q = s.queue.clone();
                let marks = ack.marks.clone();
                match tokio::task::spawn_blocking(move || q.confirm(&marks)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "recording the hub's marks"),
                    Err(_) => {}
                }
                if s.link.connected.swap(1, Ordering::Relaxed) == 0 {
                    tracing::info!(hub = client.base(), "hub link up");
                }
                connected.store(1, Ordering::Relaxed);
                s.link.set_error(None);
                s.link.forwarded.fetch_add(n, Ordering::Relaxed);
                batches.fetch_add(1, Ordering::Relaxed);
                records.fetch_add(n, Ordering::Relaxed);
                bytes_out.fetch_add(size, Ordering::Relaxed);
                backoff.reset();
            }
            Err(e) => {
                let (kind, wait) = after_failure(&e, &mut backoff);
                m.counter(
                    "foodflow_gateway_upload_errors_total",
                    "Failed uploads to the hub, by kind",
                    &[("kind", kind)],
                )
                .fetch_add(1, Ordering::Relaxed);
                let was_up = s.link.connected.swap(0, Ordering::Relaxed) == 1;
                connected.store(0, Ordering::Relaxed);
                // One line per change of state, then every 10th failure: an outage of hours
                // must not flood the log.
                if was_up || backoff.failures() % 10 == 1 || !e.is_retryable() {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "upload to the hub failed");
                }
                s.link.set_error(Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
}
