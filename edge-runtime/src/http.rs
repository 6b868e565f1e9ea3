//! The edge's HTTP surface: `/healthz`, Prometheus `/metrics`, alarm acknowledgement (an
//! operator's name and PIN, see [`crate::operators`]) and the line screen (`/screen`, see
//! [`crate::screen`]).

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
    /// Where kept frames live (`<data dir>/vision`), when cameras keep them.
    pub kept_frames: Option<std::path::PathBuf>,
    /// Operator credentials for every state-changing request.
    pub operators: Arc<crate::operators::Gate>,
    /// The journal, for health: a box that cannot journal is not healthy.
    pub journal: crate::journal::JournalReader,
    /// Whether the wall clock can be trusted, and why not.
    pub clock: Arc<crate::wallclock::ClockWatch>,
}

/// An acknowledgement's body is a name and a PIN; nothing bigger is read.
const ACK_BODY_BYTES: usize = 1024;

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/v1/alarms/{rule}/ack",
            post(ack_alarm).layer(axum::extract::DefaultBodyLimit::max(ACK_BODY_BYTES)),
        )
        .route("/v1/vision/frames/{camera}/{ts}/{file}", get(kept_frame))
        .merge(crate::screen::routes())
        .with_state(state)
}

/// `GET /v1/vision/frames/{camera}/{ts_ns}/{frame.jpg|crop-NN.jpg}`: a kept frame or crop, as
/// referenced by `frame_ref` in `Detection` records.
async fn kept_frame(
    State(s): State<HttpState>,
    Path((camera, ts, file)): Path<(String, String, String)>,
) -> axum::response::Response {
    let Some(root) = &s.kept_frames else {
        return (
            StatusCode::NOT_FOUND,
            "this box keeps no frames (no cameras)",
        )
            .into_response();
    };
    // Only names the keeper writes: no path can leave the directory.
    let safe_camera = !camera.is_empty()
        && camera
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !camera.starts_with('.');
    let safe_file = file == "frame.jpg"
        || (file.len() == 11
            && file.starts_with("crop-")
            && file.ends_with(".jpg")
            && file[5..7].chars().all(|c| c.is_ascii_digit()));
    if !safe_camera || ts.parse::<i64>().is_err() || !safe_file {
        return (
            StatusCode::BAD_REQUEST,
            "expected /v1/vision/frames/<camera>/<ts_ns>/<frame.jpg|crop-NN.jpg>",
        )
            .into_response();
    }
    match tokio::fs::read(root.join(&camera).join(&ts).join(&file)).await {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], bytes).into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            "no such kept frame (retention may have removed it)",
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
struct AckBody {
    by: String,
    #[serde(default)]
    pin: String,
}

fn refuse(status: StatusCode, error: String) -> axum::response::Response {
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

/// `POST /v1/alarms/{rule}/ack {"by": "operator name", "pin": "…"}`: 200 when a raised alarm
/// was acknowledged (the event is journaled with the operator's name), 401 for an unknown
/// operator or a wrong PIN, 403 while the box has no operators, 429 after repeated wrong PINs
/// from the same address, 409 when the rule has no unacknowledged alarm.
async fn ack_alarm(
    State(s): State<HttpState>,
    Path(rule): Path<String>,
    from: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    axum::Json(body): axum::Json<AckBody>,
) -> axum::response::Response {
    use crate::operators::Refusal;
    let Some(tx) = &s.alarm_acks else {
        return refuse(
            StatusCode::NOT_FOUND,
            "analytics is not configured in this box's profile".into(),
        );
    };
    if crate::operators::check_name(&body.by).is_err() || body.pin.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "say who acknowledges, with the PIN: {\"by\": \"name\", \"pin\": \"…\"}".into(),
        );
    }
    let source = from.map(|c| c.0.0.ip().to_string()).unwrap_or_default();
    match s.operators.check(&body.by, &body.pin, &source).await {
        Ok(()) => {}
        Err(Refusal::NoOperators) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "no operator may acknowledge on this box yet: add one with `foodflow-edge operator add`".into(),
            );
        }
        Err(Refusal::Wrong) => {
            tracing::warn!(%source, "alarm acknowledgement refused: unknown operator or wrong PIN");
            return refuse(
                StatusCode::UNAUTHORIZED,
                "unknown operator or wrong PIN".into(),
            );
        }
        Err(Refusal::Throttled(wait_s)) => {
            let mut r = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many wrong PINs from this address; try again in {wait_s} s"),
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait_s.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            return r;
        }
        Err(Refusal::Unavailable(e)) => {
            tracing::error!(error = %e, "operators file unreadable");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("operators cannot be checked: {e}"),
            );
        }
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
        )
            .into_response(),
        _ => refuse(
            StatusCode::CONFLICT,
            format!("rule {rule:?} has no raised, unacknowledged alarm"),
        ),
    }
}

fn source_state(src: &crate::connectors::stats::SourceStats) -> &'static str {
    if src.connected.load(Ordering::Relaxed) != 1 {
        "down"
    } else if src.subscribing.load(Ordering::Relaxed) == 1 {
        "subscribing"
    } else {
        "up"
    }
}

/// Every source: name, protocol, state, records journaled, items configured, subscribed and
/// refused.
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
                "items_configured": src.items_configured.load(Ordering::Relaxed),
                "items_failed": src.items_failed.load(Ordering::Relaxed),
                "state": source_state(src),
            })
        })
        .collect()
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    let sources = source_views(&s.sources);
    // The box is healthy while it runs and journals; a disconnected source is reported, not
    // fatal: the edge keeps its other sources and its journal going. A journal that cannot
    // write is: 503 with the reason until the disk works again.
    let journal = s.journal.clone();
    let fault = tokio::task::spawn_blocking(move || journal.fault())
        .await
        .unwrap_or_else(|e| Some(e.to_string()));
    // A clock that cannot be trusted is reported, not fatal: the box journals on and its
    // records keep their claimed times (docs/time.md).
    let clock = s.clock.assessment();
    let mut body = serde_json::json!({ "status": "ok", "device": s.device, "sources": sources, "clock": clock });
    let unsent = s.journal.durable.dropped_unsent();
    if unsent > 0 {
        // Not a failure of the box (it journals on), but data lost: said wherever people look.
        body["journal"] = serde_json::json!({
            "dropped_unsent": unsent,
            "why": "the journal's byte quota was reached before the next hop confirmed these records; see the Gap records and add disk or restore the uplink",
        });
    }
    let code = match fault {
        Some(why) => {
            body["status"] = "failing".into();
            body["reason"] = format!("journal writes failing: {why}").into();
            StatusCode::SERVICE_UNAVAILABLE
        }
        None => StatusCode::OK,
    };
    (code, axum::Json(body))
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    s.metrics.http_response()
}
