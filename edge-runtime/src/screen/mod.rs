//! The plant-floor line screen, served by the edge itself so it works with the hub unreachable:
//! `GET /screen` (one page; `?kiosk=1` for a wall-mounted display), `GET /screen/state` (the
//! whole picture as JSON) and `GET /screen/events` (the same, pushed every 500 ms as
//! server-sent events). Alarms are acknowledged through `POST /v1/alarms/{rule}/ack`, which
//! journals the acknowledgement. The page, its script and its styles are ours and embedded in
//! the binary: nothing is fetched from elsewhere at run time.

pub mod board;
pub mod vision;

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;

pub use board::{Board, LineTags};

use crate::http::HttpState;
use crate::profile::OeeSection;

pub type SharedBoard = Arc<Mutex<Board>>;

pub fn lock(b: &SharedBoard) -> MutexGuard<'_, Board> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

/// A board for the line the profile's OEE section describes (or for tags and alarms only).
pub fn shared(oee: Option<&OeeSection>) -> SharedBoard {
    Arc::new(Mutex::new(Board::new(oee.map(|o| LineTags {
        line: o.line.clone(),
        state_tag: o.state_tag.clone(),
        good_tag: o.good_tag.clone(),
        reject_tag: o.reject_tag.clone(),
        batch_tag: o.batch_tag.clone(),
        lot_tag: o.lot_tag.clone(),
    }))))
}

const PAGE: &str = include_str!("assets/screen.html");
const SCRIPT: &str = include_str!("assets/screen.js");
const STYLE: &str = include_str!("assets/screen.css");

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::temporary("/screen") }),
        )
        .route(
            "/screen",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/screen/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/screen/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/screen/state", get(state))
        .route("/screen/camera/{file}", get(camera_thumbnail))
        .route("/screen/events", get(events))
}

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            // The page loads only its own script and styles, and talks only to this box.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
            ),
        ],
        body,
    )
}

/// Everything the screen shows, as one JSON document.
pub fn snapshot(s: &HttpState) -> serde_json::Value {
    let sources = crate::http::source_views(&s.sources);
    let m = |name: &str| s.metrics.value(name, &[]);
    let uplink = match m("foodflow_uplink_connected") {
        None => serde_json::json!({"configured": false}),
        Some(c) => serde_json::json!({
            "configured": true,
            "connected": c == 1,
            "pending": m("foodflow_uplink_pending_records").unwrap_or(0),
            "dropped_unsent": s.journal.durable.dropped_unsent(),
            "last_success_ms": m("foodflow_uplink_last_success_unix_ms").filter(|v| *v > 0),
        }),
    };
    serde_json::json!({
        "device": s.device,
        "now_ms": crate::time::now_ns() / 1_000_000,
        "analytics": s.board.is_some(),
        "board": s.board.as_ref().map(|b| lock(b).clone()),
        "sources": sources,
        "uplink": uplink,
        "clock": s.clock.assessment(),
                "vision": match &s.vision {
            Some(v) => serde_json::json!({"cameras": v.lock().unwrap_or_else(|p| p.into_inner()).cameras}),
            None => serde_json::json!({"cameras": {}, "message": "no cameras in this box's profile"}),
        },
    })
}

/// `/screen/camera/{name}.jpg`: the newest frame of a camera, with its boxes.
async fn camera_thumbnail(
    State(s): State<HttpState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    let jpeg = file.strip_suffix(".jpg").and_then(|name| {
        let v = s.vision.as_ref()?.lock().unwrap_or_else(|p| p.into_inner());
        v.cameras.get(name)?.thumbnail.clone()
    });
    match jpeg {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            "no frame from this camera yet",
        )
            .into_response(),
    }
}

async fn state(State(s): State<HttpState>) -> impl IntoResponse {
    axum::Json(snapshot(&s))
}

async fn events(
    State(s): State<HttpState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((s, true), |(s, first)| async move {
        if !first {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ev = Event::default()
            .event("state")
            .data(snapshot(&s).to_string());
        Some((Ok(ev), (s, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
