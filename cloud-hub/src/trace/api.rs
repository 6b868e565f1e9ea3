//! FoodGraph and audit endpoints. Callers are principals — a tenant's gateway certificate, a
//! person's token or a service key — holding the permission each endpoint names; every answer
//! is computed from the caller's tenant only, which comes from the credential, never from the
//! request.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use foodflow_foodgraph::balance::{self, Tolerance};
use foodflow_foodgraph::fsma::{self, Filter};
use foodflow_foodgraph::{CaptureError, Direction, TraceQuery, parse_capture, recall, risk};
use serde::Deserialize;

use crate::api::{ApiError, AppState, bad_request, blocking, json_body, parse_time, reply};
use crate::audit;
use crate::audit::chain::Draft;
use crate::identity::principal::Principal;
use crate::trace::sources::{self, Grant};

/// Events per capture request (a larger document is split by the sender).
pub const MAX_CAPTURE_EVENTS: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/epcis/capture", post(capture))
        .route("/v1/trace/sources", get(list_sources))
        .route(
            "/v1/trace/sources/{device}",
            axum::routing::put(put_source).delete(delete_source),
        )
        .route("/v1/trace/{direction}", get(trace))
        .route("/v1/recall", post(recall_sim))
        .route("/v1/risk", post(risk_paths))
        .route("/v1/mass-balance", get(mass_balance))
        .route("/v1/fsma204/export", get(fsma_export))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/audit/entries", get(audit_entries))
        .route("/v1/audit/proof/{seq}", get(audit_proof))
}

fn time_param(name: &str, v: &Option<String>, default: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => parse_time(s)
            .ok_or_else(|| bad_request(format!("`{name}` {s:?} is neither RFC 3339 nor UTC ns"))),
    }
}

async fn capture(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Response {
    if let Err(e) = who.require("epcis:capture") {
        return e.into_response();
    }
    let m = s.metrics.clone();
    let events = match parse_capture(&body, MAX_CAPTURE_EVENTS) {
        Ok(ev) => ev,
        Err(e) => {
            m.counter(
                "foodflow_hub_epcis_refused_total",
                "EPCIS capture requests refused (invalid)",
                &[],
            )
            .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(actor = %who.actor, "EPCIS capture refused: {e}");
            let errors = match &e {
                CaptureError::Invalid(list) => serde_json::to_value(list).unwrap_or_default(),
                _ => serde_json::Value::Array(Vec::new()),
            };
            let status = match e {
                CaptureError::TooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return (
                status,
                axum::Json(serde_json::json!({
                    "reason": "epcis_invalid",
                    "message": format!("{e}; nothing of this capture was stored"),
                    "errors": errors,
                })),
            )
                .into_response();
        }
    };
    let (store, trace) = (s.store.clone(), s.trace.clone());
    let tenant = who.tenant.clone();
    let (actor, from) = (who.actor.clone(), who.from.clone());
    let r =
        blocking(move || Ok(trace.capture(store.as_ref(), &tenant, events, &actor, &from)?)).await;
    if let Ok(c) = &r {
        m.counter(
            "foodflow_hub_epcis_captured_total",
            "EPCIS events stored",
            &[],
        )
        .fetch_add(c.captured as u64, Ordering::Relaxed);
        m.counter(
            "foodflow_hub_epcis_duplicate_total",
            "EPCIS events captured again and skipped",
            &[],
        )
        .fetch_add(c.duplicates as u64, Ordering::Relaxed);
    }
    reply(r)
}

/// The tenant's trace grants: which devices may send `Trace` records, for which locations.
async fn list_sources(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("trace:sources")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let mut out = serde_json::Map::new();
            for (k, v) in s.store.tenant(&tenant).settings(sources::KEY)? {
                let g: Grant = serde_json::from_slice(&v).map_err(|e| {
                    crate::store::StoreError::Read(format!("{k} is unreadable: {e}"))
                })?;
                let device = k.strip_prefix(sources::KEY).unwrap_or(&k).to_owned();
                out.insert(device, serde_json::json!(g));
            }
            Ok(serde_json::Value::Object(out))
        })
        .await
    }
    .await;
    reply(r)
}

/// Sets or withdraws a device's trace grant: a regulated record, written with its audit entry.
async fn write_source(
    s: AppState,
    who: Principal,
    device: String,
    grant: Option<Grant>,
) -> Result<serde_json::Value, ApiError> {
    who.require("trace:sources")?;
    foodflow_protocol::DeviceId::new(&device).map_err(|e| bad_request(format!("device: {e}")))?;
    if let Some(g) = &grant {
        g.check()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid", e))?;
    }
    let key = format!("{}{device}", sources::KEY);
    blocking(move || {
        let view = s.store.tenant(&who.tenant);
        let before = sources::grant(view.as_ref(), &device)?;
        if grant.is_none() && before.is_none() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("device {device:?} has no trace grant")));
        }
        let value = grant.as_ref().map(serde_json::to_vec).transpose().map_err(|e| bad_request(e.to_string()))?;
        let draft = Draft {
            actor: who.actor.clone(),
            action: if grant.is_some() { "trace.source.grant" } else { "trace.source.withdraw" }.into(),
            object: device.clone(),
            before: before.map(|g| serde_json::json!(g)),
            after: grant.as_ref().map(|g| serde_json::json!(g)),
            from: who.from.clone(),
            signature: None,
        };
        let entry = view.put_setting_audited(&key, value.as_deref(), draft, foodflow_protocol::time::now_ns())?;
        tracing::info!(device = %device, actor = %who.actor, granted = grant.is_some(), "trace grant changed");
        Ok(serde_json::json!({"device": device, "grant": grant, "audit_seq": entry.seq}))
    })
    .await
}

async fn put_source(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(device): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let g: Grant = json_body(&body, "trace grant")?;
        write_source(s, who, device, Some(g)).await
    }
    .await;
    reply(r)
}

async fn delete_source(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(device): Path<String>,
) -> Response {
    reply(write_source(s, who, device, None).await)
}

#[derive(Debug, Deserialize)]
struct TraceParams {
    id: Option<String>,
    depth: Option<u32>,
    from: Option<String>,
    to: Option<String>,
}

fn query(
    direction: Direction,
    depth: Option<u32>,
    from: &Option<String>,
    to: &Option<String>,
) -> Result<TraceQuery, ApiError> {
    Ok(TraceQuery {
        direction,
        max_depth: depth.unwrap_or(10).min(100),
        from_ns: time_param("from", from, i64::MIN)?,
        to_ns: time_param("to", to, i64::MAX)?,
    })
}

/// Runs `f` on the caller's tenant graph (read-locked) off the async threads.
async fn with_graph<T: Send + 'static>(
    s: &AppState,
    who: &Principal,
    f: impl FnOnce(&foodflow_foodgraph::Graph) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (store, trace, tenant) = (s.store.clone(), s.trace.clone(), who.tenant.clone());
    blocking(move || {
        let g = trace.graph(store.as_ref(), &tenant)?;
        let g = g.read().unwrap_or_else(|p| p.into_inner());
        f(&g)
    })
    .await
}

fn not_found(e: foodflow_foodgraph::QueryError) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
}

async fn trace(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(direction): Path<String>,
    Query(p): Query<TraceParams>,
) -> Response {
    let r = async {
        who.require("trace:read")?;
        let dir = match direction.as_str() {
            "forward" => Direction::Forward,
            "backward" => Direction::Backward,
            other => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no trace direction {other:?}: use forward or backward"),
                ));
            }
        };
        let id = p.id.clone().ok_or_else(|| {
            bad_request("`id` is required: the lot (EPC URN or GS1 Digital Link)".into())
        })?;
        let q = query(dir, p.depth, &p.from, &p.to)?;
        with_graph(&s, &who, move |g| g.trace(&id, &q).map_err(not_found)).await
    }
    .await;
    reply(r)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallRequest {
    /// Suspect lots.
    #[serde(default)]
    lots: Vec<String>,
    /// Or every lot received from this supplier (owning party URI).
    supplier: Option<String>,
    depth: Option<u32>,
    from: Option<String>,
    to: Option<String>,
}

async fn recall_sim(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Response {
    let r = async {
        who.require("trace:read")?;
        let req: RecallRequest = json_body(&body, "recall request")?;
        let q = query(Direction::Forward, req.depth, &req.from, &req.to)?;
        with_graph(&s, &who, move |g| {
            let mut lots = req.lots.clone();
            if let Some(sup) = &req.supplier {
                lots.extend(g.received_from(sup));
            }
            if lots.is_empty() {
                return Err(bad_request(
                    "name the suspect `lots`, or a `supplier` with received lots".into(),
                ));
            }
            let starts: Vec<&str> = lots.iter().map(String::as_str).collect();
            recall::simulate(g, &starts, &q).map_err(not_found)
        })
        .await
    }
    .await;
    reply(r)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskRequest {
    id: String,
    /// Supplier (owning party URI) → risk in 0..=1.
    supplier_risk: HashMap<String, f64>,
    depth: Option<u32>,
    max_paths: Option<usize>,
}

fn risk_body(body: &[u8]) -> Result<RiskRequest, ApiError> {
    let req: RiskRequest = json_body(body, "risk request")?;
    if let Some((k, v)) = req
        .supplier_risk
        .iter()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(bad_request(format!(
            "supplier_risk[{k:?}] = {v} is not within 0..=1"
        )));
    }
    Ok(req)
}

/// The trace API's bodies (`kind`: trace grant, recall request, risk request) read and checked
/// as their handlers do before the graph or the store. For the fuzz target: every input is
/// answered with `Ok` or a 400.
pub(crate) fn trace_body(kind: u8, body: &[u8]) -> Result<(), ApiError> {
    match kind % 3 {
        0 => {
            let g: Grant = json_body(body, "trace grant")?;
            g.check()
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid", e))?;
        }
        1 => {
            let req: RecallRequest = json_body(body, "recall request")?;
            query(Direction::Forward, req.depth, &req.from, &req.to)?;
        }
        _ => {
            risk_body(body)?;
        }
    }
    Ok(())
}

async fn risk_paths(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Response {
    let r = async {
        who.require("trace:read")?;
        let req = risk_body(&body)?;
        with_graph(&s, &who, move |g| {
            risk::propagate(
                g,
                &req.id,
                &req.supplier_risk,
                req.depth.unwrap_or(10).min(100),
                req.max_paths.unwrap_or(10),
            )
            .map_err(|e| match e {
                risk::RiskError::Query(q) => not_found(q),
                e @ risk::RiskError::TooMuchWork { .. } => {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit", e.to_string())
                }
            })
        })
        .await
    }
    .await;
    reply(r)
}

#[derive(Debug, Deserialize)]
struct BalanceParams {
    only_bad: Option<bool>,
    max_gain: Option<f64>,
    max_loss: Option<f64>,
}

async fn mass_balance(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<BalanceParams>,
) -> Response {
    let r = async {
        who.require("trace:read")?;
        let d = Tolerance::default();
        let tol = Tolerance {
            max_gain: p.max_gain.unwrap_or(d.max_gain),
            max_loss: p.max_loss.unwrap_or(d.max_loss),
        };
        with_graph(&s, &who, move |g| {
            Ok(balance::check(g, tol, p.only_bad.unwrap_or(false)))
        })
        .await
    }
    .await;
    reply(r)
}

#[derive(Debug, Deserialize)]
struct ExportParams {
    tlc: Option<String>,
    product: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// csv (default), xlsx or json.
    format: Option<String>,
}

async fn fsma_export(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ExportParams>,
) -> Response {
    let r = async {
        who.require("trace:export")?;
        let filter = Filter {
            tlc: p.tlc.clone(),
            product: p.product.clone(),
            from_ns: p
                .from
                .as_ref()
                .map(|_| time_param("from", &p.from, 0))
                .transpose()?,
            to_ns: p
                .to
                .as_ref()
                .map(|_| time_param("to", &p.to, 0))
                .transpose()?,
        };
        let format = p.format.clone().unwrap_or_else(|| "csv".into());
        if !matches!(format.as_str(), "csv" | "xlsx" | "json") {
            return Err(bad_request(format!(
                "format {format:?}: use csv, xlsx or json"
            )));
        }
        with_graph(&s, &who, move |g| {
            let rows = fsma::rows(g, &filter);
            if format == "json" {
                return Ok(axum::Json(rows).into_response());
            }
            let internal =
                |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
            let (body, kind, name) = if format == "xlsx" {
                (
                    fsma::write_xlsx(&rows).map_err(internal)?,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "attachment; filename=\"fsma204.xlsx\"",
                )
            } else {
                let mut out = Vec::new();
                fsma::write_csv(&rows, &mut out).map_err(|e| internal(e.to_string()))?;
                (
                    out,
                    "text/csv; charset=utf-8",
                    "attachment; filename=\"fsma204.csv\"",
                )
            };
            Ok((
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CONTENT_DISPOSITION, name),
                ],
                body,
            )
                .into_response())
        })
        .await
    }
    .await;
    match r {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn audit_verify(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("audit:read")?;
        let (store, tenant) = (s.store.clone(), who.tenant.clone());
        blocking(move || Ok(audit::verify(store.tenant(&tenant).as_ref())?)).await
    }
    .await;
    reply(r)
}

#[derive(Debug, Deserialize)]
struct EntriesParams {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn audit_entries(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<EntriesParams>,
) -> Response {
    let r = async {
        who.require("audit:read")?;
        let (store, tenant) = (s.store.clone(), who.tenant.clone());
        let (from, limit) = (p.from.unwrap_or(1), p.limit.unwrap_or(100).min(10_000));
        blocking(move || {
            let raw = store.tenant(&tenant).audit_raw(from, limit)?;
            let entries: Vec<serde_json::Value> = raw
                .into_iter()
                .map(|(seq, b)| {
                    serde_json::from_slice(&b).unwrap_or_else(
                        |e| serde_json::json!({"seq": seq, "unreadable": e.to_string()}),
                    )
                })
                .collect();
            Ok(entries)
        })
        .await
    }
    .await;
    reply(r)
}

async fn audit_proof(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(seq): Path<u64>,
) -> Response {
    let r = async {
        who.require("audit:read")?;
        let (store, tenant) = (s.store.clone(), who.tenant.clone());
        blocking(move || {
            let (entries, broken) = audit::entries(store.tenant(&tenant).as_ref())?;
            if let Some(b) = broken {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "audit_broken",
                    format!("entry {} is unreadable: {}", b.seq, b.reason),
                ));
            }
            let hashes: Vec<String> = entries.iter().map(|e| e.hash.clone()).collect();
            let index = seq
                .checked_sub(1)
                .filter(|i| (*i as usize) < hashes.len())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        format!("no audit entry {seq} ({} entries)", hashes.len()),
                    )
                })? as usize;
            let proof = audit::chain::inclusion_proof(&hashes, index).unwrap_or_default();
            Ok(serde_json::json!({
                "seq": seq,
                "entry_hash": hashes[index],
                "tree_size": hashes.len(),
                "root": audit::chain::merkle_root(&hashes),
                "proof": proof,
            }))
        })
        .await
    }
    .await;
    reply(r)
}
