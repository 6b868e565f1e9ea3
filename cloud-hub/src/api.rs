//! The hub's HTTP API (served over mutual TLS by `foodflow_transport::server`) and its admin
//! endpoints (`/healthz`, `/metrics`, plain HTTP on a loopback port).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use foodflow_protocol::{Batch, DeviceId, Limits, StreamId, SyncAck};
use foodflow_transport::metrics::Metrics;
use foodflow_transport::server::Peer;
use foodflow_transport::{Identity, Role, TenantId};
use serde::Deserialize;

use crate::alarms::{self, HubAlarms};
use crate::series::Downsampler;
use crate::store::{RecordStore, SeqRange, StoreError};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn RecordStore>,
    pub alarms: Arc<HubAlarms>,
    pub trace: Arc<crate::trace::Traceability>,
    pub auth: Arc<crate::identity::principal::Auth>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub forecasts: Arc<crate::forecasting::Forecasts>,
    pub optimizations: Arc<crate::optimization::Optimizations>,
    /// Forecast and optimisation jobs run here, never on the async or blocking pools.
    pub jobs: crate::jobs::JobRunner,
    /// Around the hub's time: records stamped outside it are flagged `clock_suspect`.
    pub time_window: crate::timecheck::TimeWindow,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/sync/batches", post(post_batch))
        .route("/v1/sync/marks", get(get_marks))
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/v1/devices", get(get_devices))
        .route("/v1/analytics/alarm-rules", get(get_rules))
        .route(
            "/v1/analytics/alarm-rules/{name}",
            axum::routing::put(put_rule).delete(delete_rule),
        )
        .route("/v1/devices/{id}/streams", get(get_streams))
        .route("/v1/devices/{id}/streams/{*rest}", get(get_stream_data))
        .merge(people_routes().layer(axum::middleware::from_fn(
            crate::identity::principal::peer_principal,
        )))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

/// What people and services reach (with a principal from either listener).
fn people_routes() -> Router<AppState> {
    crate::trace::api::routes()
        .merge(crate::identity::api::routes())
        .merge(crate::approvals::routes())
        .merge(crate::forecasting::routes())
        .merge(crate::optimization::routes())
        .merge(crate::plant::routes())
        .merge(crate::gateways::routes())
}

/// The public listener (TLS without client certificates): login, the JWKS, and the people
/// routes behind `Authorization: Bearer`. Sync and device routes are not here.
pub fn public_router(state: AppState) -> Router {
    Router::new()
        .merge(crate::identity::api::open_routes())
        .merge(crate::portal::routes())
        .route("/openapi.json", get(crate::openapi::serve))
        .merge(people_routes().layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::identity::principal::bearer_principal,
        )))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn refusal(status: StatusCode, reason: &str, message: String) -> Response {
    ApiError {
        status,
        reason: reason.to_owned(),
        message,
    }
    .into_response()
}

/// An API refusal: status and the JSON body every client can read.
pub struct ApiError {
    pub status: StatusCode,
    pub reason: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "hub store");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string())
    }
}

/// Runs store work off the async threads; a panic there is a 503, not a dropped connection.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Read(e.to_string()).into()))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        foodflow_transport::server::refusal(self.status, &self.reason, self.message, None)
    }
}

pub(crate) fn bad_request(message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        reason: "malformed".into(),
        message,
    }
}

fn store_error(e: StoreError) -> Response {
    ApiError::from(e).into_response()
}

/// A handler's result as its answer: 200 with the JSON, or the refusal.
pub(crate) fn reply<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// As [`reply`], with 201 for what was created.
pub(crate) fn created<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A JSON request body, or a 400 naming what it was meant to be.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("{what}: {e}")))
}

fn count(m: &Metrics, name: &'static str, help: &'static str, reason: &str, n: u64) {
    m.counter(name, help, &[("reason", reason)])
        .fetch_add(n, Ordering::Relaxed);
}

async fn post_batch(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Bytes,
) -> Response {
    let refused = |reason: &str, status: StatusCode, msg: String| {
        count(
            &s.metrics,
            "foodflow_hub_batches_refused_total",
            "Upload batches refused, by reason",
            reason,
            1,
        );
        tracing::warn!(peer = %peer.identity, addr = %peer.addr, "batch refused: {msg}");
        refusal(status, reason, msg)
    };
    let mut batch = match Batch::decode(&body, &s.limits) {
        Ok(b) => b,
        Err(e) => return refused("malformed", StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let Some(msg) = batch
        .segments
        .iter()
        .find_map(|seg| peer.identity.may_write(&seg.device, &seg.stream).err())
    {
        return refused("forbidden", StatusCode::FORBIDDEN, msg);
    }
    if peer.identity.role == Role::Gateway {
        let (store, who, segments) = (s.store.clone(), peer.identity.clone(), batch.segments);
        let checked = tokio::task::spawn_blocking(move || {
            let r =
                crate::gateways::check_upload(store.tenant(&who.tenant).as_ref(), &who, &segments);
            (r, segments)
        })
        .await;
        let segments = match checked {
            Ok((Ok(Ok(())), segments)) => segments,
            Ok((Ok(Err(msg)), _)) => return refused("not_bound", StatusCode::FORBIDDEN, msg),
            Ok((Err(e), _)) => return store_error(e),
            Err(e) => return store_error(StoreError::Read(e.to_string())),
        };
        batch = Batch { segments };
    }
    let checked = s
        .time_window
        .check(&mut batch.segments, foodflow_protocol::time::now_ns());
    for (reason, n) in [
        ("edge_untrusted", checked.untrusted),
        ("outside_window", checked.outside_window),
    ] {
        if n > 0 {
            count(
                &s.metrics,
                "foodflow_hub_clock_suspect_total",
                "Records received with a suspect time, by reason (edge_untrusted: the edge did not trust its clock; outside_window: outside the hub's window)",
                reason,
                n,
            );
        }
    }
    if checked.outside_window > 0 {
        tracing::warn!(peer = %peer.identity, records = checked.outside_window, "records stamped outside the hub's time window: stored flagged clock_suspect (is the device's or the hub's clock wrong?)");
    }
    let store = s.store.clone();
    let tenant = peer.identity.tenant.clone();
    let records = batch.len() as u64;
    let alarms = s.alarms.clone();
    let trace = s.trace.clone();
    let (actor, from) = (peer.identity.uri(), peer.addr.to_string());
    let metrics = s.metrics.clone();
    let alarm_events = s.metrics.counter(
        "foodflow_hub_alarm_events_total",
        "Alarm events raised by tenant rules at the hub",
        &[],
    );
    let committed = tokio::task::spawn_blocking(move || {
        // Records and the EPCIS events their Trace records carry commit together.
        let b = trace.ingest_batch(store.as_ref(), &tenant, &batch.segments, &actor, &from)?;
        let c = b.committed;
        // The batch is committed; alarm evaluation failing must not refuse it.
        match alarms.observe(&tenant, &batch.segments, &c.before) {
            Ok(n) => {
                alarm_events.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(%tenant, error = %e, "alarm evaluation failed"),
        }
        metrics
            .counter("foodflow_hub_epcis_captured_total", "EPCIS events stored", &[])
            .fetch_add(b.captured as u64, Ordering::Relaxed);
        for why in b.not_indexed {
            metrics
                .counter(
                    "foodflow_hub_trace_records_not_indexed_total",
                    "Trace records kept as received but not indexed, by reason (invalid, no_grant, location)",
                    &[("reason", why.as_str())],
                )
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(c)
    })
    .await;
    let committed = match committed {
        Ok(Ok(c)) => c,
        // Counted with the other refusals (reason="seq_jump").
        Ok(Err(StoreError::SeqJump(j))) => {
            return refused("seq_jump", StatusCode::UNPROCESSABLE_ENTITY, j.to_string());
        }
        Ok(Err(e)) => return store_error(e),
        Err(e) => return store_error(StoreError::Write(e.to_string())),
    };
    let m = &s.metrics;
    m.counter(
        "foodflow_hub_batches_total",
        "Upload batches committed",
        &[],
    )
    .fetch_add(1, Ordering::Relaxed);
    m.counter(
        "foodflow_hub_records_received_total",
        "Records received in committed batches",
        &[],
    )
    .fetch_add(records, Ordering::Relaxed);
    m.counter(
        "foodflow_hub_records_committed_total",
        "New records committed",
        &[],
    )
    .fetch_add(committed.accepted, Ordering::Relaxed);
    m.counter(
        "foodflow_hub_records_duplicate_total",
        "Records received again (at or below their high-water mark) and skipped",
        &[],
    )
    .fetch_add(committed.duplicates, Ordering::Relaxed);
    axum::Json(SyncAck {
        accepted: committed.accepted,
        duplicates: committed.duplicates,
        marks: committed.marks,
    })
    .into_response()
}

/// Devices a peer may read: its own (devices) or its tenant's (gateways).
fn may_read(identity: &Identity, device: &DeviceId) -> bool {
    identity.may_send_for(device)
}

async fn get_marks(State(s): State<AppState>, Extension(peer): Extension<Peer>) -> Response {
    let store = s.store.clone();
    let id = peer.identity.clone();
    let r = tokio::task::spawn_blocking(move || {
        let device = (id.role == Role::Device).then_some(&id.id);
        store.tenant(&id.tenant).marks(device)
    })
    .await;
    match r {
        Ok(Ok(m)) => axum::Json(m).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Read(e.to_string())),
    }
}

async fn get_devices(State(s): State<AppState>, Extension(peer): Extension<Peer>) -> Response {
    let store = s.store.clone();
    let id = peer.identity.clone();
    let r = tokio::task::spawn_blocking(move || store.tenant(&id.tenant).devices()).await;
    match r {
        Ok(Ok(devs)) => {
            let visible: Vec<_> = devs
                .into_iter()
                .filter(|d| may_read(&peer.identity, d))
                .collect();
            axum::Json(visible).into_response()
        }
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Read(e.to_string())),
    }
}

fn parse_device(peer: &Peer, id: &str) -> Result<DeviceId, ApiError> {
    let d = DeviceId::new(id).map_err(|e| bad_request(e.to_string()))?;
    if !may_read(&peer.identity, &d) {
        // Same answer as for a device that does not exist: no probing of other devices.
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            reason: "not_found".into(),
            message: format!("no device {id:?}"),
        });
    }
    Ok(d)
}

async fn get_streams(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
) -> Response {
    let device = match parse_device(&peer, &id) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let store = s.store.clone();
    let tenant = peer.identity.tenant.clone();
    match tokio::task::spawn_blocking(move || store.tenant(&tenant).streams(&device)).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Read(e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
pub struct DataQuery {
    /// records: first seq (inclusive); series: start, RFC 3339 or UTC ns
    from: Option<String>,
    /// records: last seq (inclusive); series: end (exclusive)
    to: Option<String>,
    limit: Option<usize>,
    /// series: bucket width in seconds
    step_s: Option<f64>,
    tag: Option<String>,
}

pub(crate) fn parse_time(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| foodflow_protocol::time::parse_rfc3339(s))
}

async fn get_stream_data(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path((id, rest)): Path<(String, String)>,
    Query(q): Query<DataQuery>,
) -> Response {
    let device = match parse_device(&peer, &id) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let Some((stream, what)) = rest.rsplit_once('/') else {
        return refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            "use /v1/devices/{id}/streams/{stream}/records or …/series".into(),
        );
    };
    let stream = match StreamId::new(stream) {
        Ok(s) => s,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
    };
    let store = s.store.clone();
    let tenant = peer.identity.tenant.clone();
    match what {
        "records" => {
            let parse_seq = |v: &Option<String>, default: u64, name: &str| match v {
                None => Ok(default),
                Some(x) => x
                    .parse::<u64>()
                    .map_err(|_| bad_request(format!("`{name}` must be a seq number, got {x:?}"))),
            };
            let from = match parse_seq(&q.from, 1, "from") {
                Ok(v) => v,
                Err(r) => return r.into_response(),
            };
            let to = match parse_seq(&q.to, u64::MAX, "to") {
                Ok(v) => v,
                Err(r) => return r.into_response(),
            };
            let limit = q.limit.unwrap_or(1000).min(100_000);
            let r = tokio::task::spawn_blocking(move || {
                store
                    .tenant(&tenant)
                    .records(&device, &stream, SeqRange { from, to, limit })
            })
            .await;
            match r {
                Ok(Ok(records)) => {
                    let next = (records.len() == limit)
                        .then(|| records.last().map(|r| r.seq + 1))
                        .flatten();
                    axum::Json(serde_json::json!({ "records": records, "next_from": next }))
                        .into_response()
                }
                Ok(Err(e)) => store_error(e),
                Err(e) => store_error(StoreError::Read(e.to_string())),
            }
        }
        "series" => series(store, tenant, device, stream, &q).await,
        other => refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("unknown stream view {other:?}: use records or series"),
        ),
    }
}

/// Downsampled readings of one stream (min/max/mean/last/count per bucket): the device API and
/// the people's plant-data API answer alike.
pub(crate) async fn series(
    store: Arc<dyn RecordStore>,
    tenant: TenantId,
    device: DeviceId,
    stream: StreamId,
    q: &DataQuery,
) -> Response {
    let bad = |m: String| refusal(StatusCode::BAD_REQUEST, "malformed", m);
    let (Some(from), Some(to)) = (
        q.from.as_deref().and_then(parse_time),
        q.to.as_deref().and_then(parse_time),
    ) else {
        return bad("series needs `from` and `to` (RFC 3339 or UTC ns) and `step_s`".into());
    };
    let step_ns = (q.step_s.unwrap_or(60.0) * 1e9) as i64;
    // Checked: `from` and `to` are the caller's numbers, anywhere in i64.
    let buckets = to.checked_sub(from).map(|span| span / step_ns.max(1));
    if step_ns <= 0 || to <= from || buckets.is_none_or(|b| b > 100_000) {
        return bad("`step_s` must be > 0 and give at most 100000 buckets".into());
    }
    let tag = q.tag.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut d = Downsampler::new(from, step_ns, tag);
        store
            .tenant(&tenant)
            .scan_time(&device, &stream, from, to, &mut |r| d.add(r))
            .map(|doubtful| (d, doubtful))
    })
    .await;
    match r {
        Ok(Ok((d, doubtful))) => {
            let skipped = d.skipped_non_numeric;
            axum::Json(serde_json::json!({
                "step_ns": step_ns,
                "series": d.finish(),
                "skipped_non_numeric": skipped,
                "clock_suspect_excluded": doubtful,
            }))
            .into_response()
        }
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Read(e.to_string())),
    }
}

/// Tenant rules are changed by gateways (site systems) of the tenant, not by devices; people
/// get their own authorisation with the hub's identity issue.
fn may_manage_rules(peer: &Peer) -> Result<(), ApiError> {
    if peer.identity.role == Role::Gateway {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::FORBIDDEN,
            reason: "forbidden".into(),
            message: format!("{} may not manage the tenant's alarm rules", peer.identity),
        })
    }
}

async fn get_rules(State(s): State<AppState>, Extension(peer): Extension<Peer>) -> Response {
    let a = s.alarms.clone();
    let tenant = peer.identity.tenant.clone();
    match tokio::task::spawn_blocking(move || a.rules(&tenant)).await {
        Ok(Ok(r)) => axum::Json(r).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Read(e.to_string())),
    }
}

async fn put_rule(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = may_manage_rules(&peer) {
        return e.into_response();
    }
    let rule: foodflow_analytics::alarms::Rule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("not an alarm rule: {e}")).into_response(),
    };
    if rule.name != name {
        return bad_request(format!(
            "the rule's name {:?} differs from the URL's {name:?}",
            rule.name
        ))
        .into_response();
    }
    if let Err(why) = alarms::check(&rule) {
        return bad_request(why).into_response();
    }
    let a = s.alarms.clone();
    let tenant = peer.identity.tenant.clone();
    tracing::info!(peer = %peer.identity, rule = %rule.name, "alarm rule stored");
    match tokio::task::spawn_blocking(move || a.put(&tenant, &rule).map(|_| rule)).await {
        Ok(Ok(r)) => axum::Json(r).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Write(e.to_string())),
    }
}

async fn delete_rule(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    Path(name): Path<String>,
) -> Response {
    if let Err(e) = may_manage_rules(&peer) {
        return e.into_response();
    }
    let a = s.alarms.clone();
    let tenant = peer.identity.tenant.clone();
    match tokio::task::spawn_blocking(move || a.delete(&tenant, &name)).await {
        Ok(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(false)) => ApiError {
            status: StatusCode::NOT_FOUND,
            reason: "not_found".into(),
            message: "no such rule".into(),
        }
        .into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(StoreError::Write(e.to_string())),
    }
}

/// 200 while the store takes writes; 503 with the reason after a disk failure, until it is
/// writable again.
async fn healthz(State(s): State<AppState>) -> Response {
    let store = s.store.clone();
    let health = tokio::task::spawn_blocking(move || store.health())
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match health {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ok", "service": "foodflow-hub" }))
            .into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                serde_json::json!({ "status": "failing", "service": "foodflow-hub", "reason": why }),
            ),
        )
            .into_response(),
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.http_response()
}
