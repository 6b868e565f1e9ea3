//! The edge's HTTP surface: `/healthz`, Prometheus `/metrics`, alarm acknowledgement and the
//! line screen (`/screen`, see [`crate::screen`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::analytics::AckRequest;
use crate::connectors::stats::Sources;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub sources: Arc<Sources>,
    pub device: String,
    /// Where acknowledgements go (the analytics task), when analytics runs.
    pub alarm_acks: Option<tokio::sync::mpsc::UnboundedSender<AckRequest>>,
    /// What the line screen shows, when analytics runs (it feeds the board).
    pub board: Option<crate::screen::SharedBoard>,
    /// The cameras' panel of the line screen, when the profile has cameras.
    pub vision: Option<crate::screen::vision::SharedVision>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/alarms/{rule}/ack", post(ack_alarm))
        .merge(crate::screen::routes())
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct AckBody {
    by: String,
}

/// `POST /v1/alarms/{rule}/ack {"by": "operator name"}`: 200 when a raised alarm was
/// acknowledged (the event is journaled), 409 when the rule has no unacknowledged alarm.
async fn ack_alarm(
    State(s): State<HttpState>,
    Path(rule): Path<String>,
    axum::Json(body): axum::Json<AckBody>,
) -> impl IntoResponse {
    let Some(tx) = &s.alarm_acks else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(
                serde_json::json!({"error": "analytics is not configured in this box's profile"}),
            ),
        );
    };
    if body.by.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "say who acknowledges: {\"by\": \"name\"}"})),
        );
    }
    let (reply, rx) = tokio::sync::oneshot::channel();
    let _ = tx.send(AckRequest {
        rule: rule.clone(),
        by: body.by,
        reply,
    });
    match rx.await {
        Ok(true) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"acknowledged": rule})),
        ),
        _ => (
            StatusCode::CONFLICT,
            axum::Json(
                serde_json::json!({"error": format!("rule {rule:?} has no raised, unacknowledged alarm")}),
            ),
        ),
    }
}

/// Every source: name, protocol, connected, records journaled, items subscribed.
pub fn source_views(sources: &Sources) -> Vec<serde_json::Value> {
    sources
        .all()
        .iter()
        .map(|src| {
            serde_json::json!({
                "name": src.name,
                "protocol": src.kind,
                "connected": src.connected.load(Ordering::Relaxed) == 1,
                "records": src.records.load(Ordering::Relaxed),
                "items": src.items.load(Ordering::Relaxed),
            })
        })
        .collect()
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    let sources = source_views(&s.sources);
    // The box is healthy while it runs and journals; a disconnected source is reported, not
    // fatal: the edge keeps its other sources and its journal going.
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "ok", "device": s.device, "sources": sources })),
    )
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    s.metrics.http_response()
}
