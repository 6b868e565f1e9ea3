//! The gateway's API for edge boxes (mutual TLS): the same sync contract the hub speaks, so an
//! edge can be pointed at a gateway or straight at a hub. Plus the admin endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use foodflow_protocol::{Batch, Limits, SyncAck};
use foodflow_transport::metrics::Metrics;
use foodflow_transport::server::{Peer, refusal};
use foodflow_transport::{Identity, Role};
use tokio::sync::Notify;

use crate::queue::{Queue, QueueError};
use crate::status::{self, Link};

#[derive(Clone)]
pub struct AppState {
    pub me: Identity,
    pub hub_url: String,
    pub queue: Arc<Queue>,
    pub metrics: Arc<Metrics>,
    pub link: Arc<Link>,
    pub wake: Arc<Notify>,
    pub limits: Limits,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/sync/batches", post(post_batch))
        .route("/v1/sync/marks", get(get_marks))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status", get(get_status))
        .with_state(state)
}

async fn post_batch(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Response {
    let refused = |reason: &str, status: StatusCode, msg: String, retry: Option<u64>| {
        s.metrics
            .counter(
                "foodflow_gateway_uploads_refused_total",
                "Uploads from edges refused, by reason",
                &[("reason", reason)],
            )
            .fetch_add(1, Ordering::Relaxed);
        if retry.is_none() {
            tracing::warn!(peer = %peer.identity, addr = %peer.addr, "upload refused: {msg}");
        }
        refusal(status, reason, msg, retry)
    };
    if peer.identity.tenant != s.me.tenant {
        let msg = format!(
            "{} belongs to another tenant than this gateway ({})",
            peer.identity, s.me.tenant
        );
        return refused("forbidden", StatusCode::FORBIDDEN, msg, None);
    }
    let batch = match Batch::decode(&body, &s.limits) {
        Ok(b) => b,
        Err(e) => return refused("malformed", StatusCode::BAD_REQUEST, e.to_string(), None),
    };
    if let Some(msg) = batch.segments.iter().find_map(|seg| {
        if seg.device == s.me.id {
            return Some(format!(
                "{} may not upload records of this gateway's own id {:?}",
                peer.identity, seg.device
            ));
        }
        peer.identity.may_write(&seg.device, &seg.stream).err()
    }) {
        return refused("forbidden", StatusCode::FORBIDDEN, msg, None);
    }
    let queue = s.queue.clone();
    let n = batch.len() as u64;
    let r = tokio::task::spawn_blocking(move || queue.admit(&batch.segments)).await;
    let admitted = match r {
        Ok(Ok(Ok(a))) => a,
        Ok(Ok(Err(bp))) => {
            s.metrics
                .counter(
                    "foodflow_gateway_backpressure_total",
                    "Uploads answered with back-pressure, by class",
                    &[("class", bp.class.as_str())],
                )
                .fetch_add(1, Ordering::Relaxed);
            return refused(
                "backpressure",
                StatusCode::SERVICE_UNAVAILABLE,
                bp.message,
                Some(1000),
            );
        }
        // Counted with the other refusals (reason="seq_jump").
        Ok(Err(QueueError::SeqJump(j))) => {
            return refused(
                "seq_jump",
                StatusCode::UNPROCESSABLE_ENTITY,
                j.to_string(),
                None,
            );
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "gateway queue");
            return refused(
                "storage",
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
                Some(2000),
            );
        }
        Err(e) => {
            return refused(
                "storage",
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
                Some(2000),
            );
        }
    };
    s.link
        .received
        .fetch_add(admitted.accepted, Ordering::Relaxed);
    let m = &s.metrics;
    m.counter(
        "foodflow_gateway_received_records_total",
        "Records received from edges and committed to the queue",
        &[],
    )
    .fetch_add(admitted.accepted, Ordering::Relaxed);
    m.counter(
        "foodflow_gateway_duplicate_records_total",
        "Records received again from edges (at or below their mark) and skipped",
        &[],
    )
    .fetch_add(admitted.duplicates, Ordering::Relaxed);
    m.counter(
        "foodflow_gateway_uploads_total",
        "Uploads from edges committed",
        &[],
    )
    .fetch_add(1, Ordering::Relaxed);
    if admitted.shed > 0 {
        m.counter(
            "foodflow_gateway_shed_records_total",
            "Telemetry records dropped under the quota (each run leaves a Gap record)",
            &[],
        )
        .fetch_add(admitted.shed, Ordering::Relaxed);
    }
    tracing::trace!(records = n, "upload committed");
    s.wake.notify_one();
    axum::Json(SyncAck {
        accepted: admitted.accepted,
        duplicates: admitted.duplicates,
        marks: admitted.marks,
    })
    .into_response()
}

async fn get_marks(State(s): State<AppState>, Extension(peer): Extension<Peer>) -> Response {
    let device = (peer.identity.role == Role::Device).then_some(&peer.identity.id);
    let queue = s.queue.clone();
    let device = device.cloned();
    match tokio::task::spawn_blocking(move || queue.marks(device.as_ref())).await {
        Ok(Ok(marks)) => axum::Json(marks).into_response(),
        Ok(Err(e)) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            e.to_string(),
            Some(2000),
        ),
        Err(e) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            e.to_string(),
            Some(2000),
        ),
    }
}

/// 200 while the queue takes uploads; 503 with the reason while its disk fails (a lost hub
/// link is reported, not unhealthy: the queue exists to ride it out).
async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let queue = s.queue.clone();
    let fault = tokio::task::spawn_blocking(move || queue.fault())
        .await
        .unwrap_or_else(|e| Some(e.to_string()));
    let code = match fault {
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
        None => StatusCode::OK,
    };
    let mut body = serde_json::json!({
        "status": if fault.is_some() { "failing" } else { "ok" },
        "service": "foodflow-gateway",
        "gateway": s.me.id,
        "hub_connected": s.link.connected.load(Ordering::Relaxed) == 1,
    });
    if let Some(why) = fault {
        body["reason"] = format!("queue writes failing: {why}").into();
    }
    (code, axum::Json(body))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.http_response()
}

async fn get_status(State(s): State<AppState>) -> impl IntoResponse {
    let backlog = s.queue.backlog();
    axum::Json(status::build(
        s.me.id.as_str(),
        &s.hub_url,
        &s.link,
        &backlog,
        foodflow_protocol::time::now_ns(),
    ))
}

/// Refreshes the backlog gauges and rates once a second.
pub async fn gauges(s: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        s.link.tick();
        let now = foodflow_protocol::time::now_ns();
        for (b, class) in s
            .queue
            .backlog()
            .iter()
            .zip(foodflow_protocol::PriorityClass::ALL)
        {
            let l = [("class", class.as_str())];
            let m = &s.metrics;
            m.gauge(
                "foodflow_gateway_backlog_records",
                "Records waiting for the hub",
                &l,
            )
            .store(b.records, Ordering::Relaxed);
            m.gauge(
                "foodflow_gateway_backlog_bytes",
                "Bytes waiting for the hub",
                &l,
            )
            .store(b.bytes, Ordering::Relaxed);
            m.gauge(
                "foodflow_gateway_oldest_record_age_seconds",
                "Age of the oldest record waiting for the hub",
                &l,
            )
            .store(
                b.oldest_ts_ns
                    .map(|ts| ((now - ts).max(0) / 1_000_000_000) as u64)
                    .unwrap_or(0),
                Ordering::Relaxed,
            );
        }
    }
}
