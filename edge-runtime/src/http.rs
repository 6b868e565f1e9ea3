//! The edge's HTTP surface: `/healthz` and Prometheus `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::connectors::stats::Sources;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub sources: Arc<Sources>,
    pub device: String,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    let sources: Vec<_> = s
        .sources
        .all()
        .iter()
        .map(|src| {
            serde_json::json!({
                "name": src.name,
                "protocol": src.kind,
                "connected": src.connected.load(Ordering::Relaxed) == 1,
                "records": src.records.load(Ordering::Relaxed),
            })
        })
        .collect();
    // The box is healthy while it runs and journals; a disconnected source is reported, not
    // fatal: the edge keeps its other sources and its journal going.
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "ok", "device": s.device, "sources": sources })),
    )
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}
