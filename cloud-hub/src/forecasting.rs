//! Forecast jobs over the hub API: `POST /v1/forecasts` starts a job (an uploaded CSV in
//! StatsForecast's long format, or readings already stored by the plants, bucketed per day or
//! week), `GET /v1/forecasts/{id}` shows its progress and then its result, `…/inventory` turns
//! it into safety stocks and reorder points, `GET /v1/forecasts/accuracy` lists the backtests.
//! Jobs are kept in the tenant's store from the start (results survive a restart); progress
//! lives in memory, and a job cut off by a restart reads as failed with that reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use foodflow_forecast::backtest::{self, Report};
use foodflow_forecast::inventory::{self, Policy};
use foodflow_forecast::models::ModelKind;
use foodflow_forecast::pipeline::{ForecastError, Job, JobOutput, Level};
use foodflow_forecast::reconcile::Method;
use foodflow_forecast::{Calendar, Panel, Series};
use foodflow_protocol::time::{format_rfc3339, now_ns};
use foodflow_protocol::{DeviceId, StreamId};
use foodflow_transport::TenantId;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, AppState, bad_request, blocking, json_body, parse_time, reply};
use crate::identity::principal::Principal;
use crate::jobs::{Cancel, Cancelled};
use crate::series::Downsampler;

const KEY: &str = "forecast:";
/// Backtest windows run with every job whose series are long enough.
const BACKTEST_WINDOWS: usize = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub done: usize,
    pub total: usize,
    pub created: String,
    pub actor: String,
    pub alias: String,
    pub horizon: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeResult {
    pub id: String,
    pub level: String,
    pub model: String,
    pub ds: Vec<String>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// `p10`, `p90`, … for every requested level.
    pub quantiles: std::collections::BTreeMap<String, Vec<f64>>,
    /// The last periods of history before the forecast (up to three seasons), for charts.
    #[serde(default)]
    pub history_ds: Vec<String>,
    #[serde(default)]
    pub history: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub status: Status,
    pub nodes: Vec<NodeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Report>,
    /// Why no backtest was run (series too short), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_skipped: Option<String>,
}

/// Jobs still running, by (tenant, id).
#[derive(Default)]
pub struct Forecasts {
    running: Mutex<HashMap<(String, String), Status>>,
    seq: AtomicU64,
}

impl Forecasts {
    fn update(&self, key: &(String, String), f: impl FnOnce(&mut Status)) {
        if let Some(st) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(key)
        {
            f(st);
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    device: String,
    stream: String,
    /// Tags to forecast (default: every numeric tag of the stream).
    #[serde(default)]
    tags: Vec<String>,
    from: String,
    to: String,
    /// `day` or `week`.
    #[serde(default = "day")]
    bucket: String,
    /// `sum` (demand, counts: empty buckets are 0) or `mean` (levels: empty buckets refused).
    #[serde(default = "sum")]
    agg: String,
}

fn day() -> String {
    "day".into()
}
fn sum() -> String {
    "sum".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Long-format CSV (`unique_id, ds, y`, + hierarchy columns).
    #[serde(default)]
    csv: Option<String>,
    #[serde(default)]
    source: Option<Source>,
    horizon: i64,
    #[serde(default)]
    hierarchy: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    reconcile: Option<String>,
    #[serde(default)]
    levels: Option<Vec<f64>>,
    #[serde(default)]
    season: Option<usize>,
    /// Rolling-origin windows to calibrate the intervals on (0: the models' own spread).
    #[serde(default)]
    calibrate: usize,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/forecasts", post(start).get(list))
        .route("/v1/forecasts/accuracy", get(accuracy))
        .route("/v1/forecasts/{id}", get(show))
        .route("/v1/forecasts/{id}/inventory", get(inventory_for))
        .route("/v1/forecasts/{id}/cancel", post(cancel))
}

fn job_of(req: &Request) -> Result<Job, ApiError> {
    let e = |m: String| bad_request(m);
    let hierarchy = req
        .hierarchy
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(e)?;
    let model: ModelKind = req.model.as_deref().unwrap_or("auto").parse().map_err(e)?;
    let method = match &req.reconcile {
        Some(m) => m.parse().map_err(e)?,
        None if hierarchy.is_some() => Method::MinTraceWlsStruct,
        None => Method::None,
    };
    let levels = req
        .levels
        .clone()
        .unwrap_or_else(|| vec![80.0])
        .iter()
        .map(|l| Level::parse(&l.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    let job = Job {
        model,
        horizon: req.horizon,
        levels,
        season: req.season,
        hierarchy,
        method,
        // The API shares the machine with ingest: one core for a job.
        threads: 1,
        calibrate: req.calibrate,
        ..Job::default()
    };
    job.validate().map_err(|x| bad_request(x.to_string()))?;
    Ok(job)
}

/// A forecast request body and the job it asks for, checked before anything runs.
fn request_body(body: &[u8]) -> Result<(Request, Job), ApiError> {
    let req: Request = json_body(body, "forecast request")?;
    let job = job_of(&req)?;
    Ok((req, job))
}

/// A forecast request body as `POST /v1/forecasts` reads it, its CSV panel included. For the
/// fuzz target: every input is answered with `Ok` or a 400.
pub(crate) fn fuzz_request(body: &[u8]) -> Result<(), ApiError> {
    let (req, _) = request_body(body)?;
    if let Some(csv) = &req.csv {
        Panel::from_csv(csv).map_err(|e| bad_request(format!("csv: {e}")))?;
    }
    Ok(())
}

/// Stored readings → a panel of daily or weekly totals (or means) per tag.
fn panel_from_store(s: &AppState, tenant: &TenantId, src: &Source) -> Result<Panel, ApiError> {
    let (from, to) = (
        parse_time(&src.from).ok_or_else(|| {
            bad_request(format!(
                "source.from {:?} is neither RFC 3339 nor UTC ns",
                src.from
            ))
        })?,
        parse_time(&src.to).ok_or_else(|| {
            bad_request(format!(
                "source.to {:?} is neither RFC 3339 nor UTC ns",
                src.to
            ))
        })?,
    );
    let (calendar, step_days) = match src.bucket.as_str() {
        "day" => (Calendar::Daily, 1),
        "week" => (Calendar::Weekly { weekday: 0 }, 7),
        b => return Err(bad_request(format!("source.bucket {b:?}: use day or week"))),
    };
    if !matches!(src.agg.as_str(), "sum" | "mean") {
        return Err(bad_request(format!(
            "source.agg {:?}: use sum or mean",
            src.agg
        )));
    }
    let step_ns = step_days * 86_400_000_000_000i64;
    // Buckets aligned on the calendar (days since the epoch; weeks from a Thursday, day 0).
    // `from` and `to` are the caller's numbers: every step is checked, and the history is
    // bounded before anything of its size is allocated.
    let from = from.div_euclid(step_ns).saturating_mul(step_ns);
    let buckets = to
        .checked_sub(from)
        .map(|span| span / step_ns)
        .unwrap_or(-1);
    if buckets > MAX_HISTORY as i64 {
        return Err(bad_request(format!(
            "source: {buckets} {}s from {} to {} exceeds the limit of {MAX_HISTORY} periods (see docs/security.md)",
            src.bucket, src.from, src.to
        )));
    }
    let device =
        DeviceId::new(&src.device).map_err(|e| bad_request(format!("source.device: {e}")))?;
    let stream =
        StreamId::new(&src.stream).map_err(|e| bad_request(format!("source.stream: {e}")))?;
    let mut d = Downsampler::new(from, step_ns, None);
    s.store
        .tenant(tenant)
        .scan_time(&device, &stream, from, to, &mut |r| d.add(r))?;
    let buckets = buckets.max(0) as usize;
    let mut series = Vec::new();
    for ser in d.finish() {
        if !src.tags.is_empty() && !src.tags.contains(&ser.tag) {
            continue;
        }
        let mut values = vec![None; buckets];
        for p in &ser.points {
            let i = ((p.t_ns - from) / step_ns) as usize;
            if i < buckets {
                values[i] = Some(if src.agg == "sum" {
                    p.mean * p.count as f64
                } else {
                    p.mean
                });
            }
        }
        let mut out = Vec::with_capacity(buckets);
        for (i, v) in values.into_iter().enumerate() {
            match (v, src.agg.as_str()) {
                (Some(v), _) => out.push(v),
                (None, "sum") => out.push(0.0),
                (None, _) => {
                    return Err(bad_request(format!(
                        "tag {:?} has no readings in the {} starting {}: a mean cannot be made up (use agg sum, or a range with data)",
                        ser.tag,
                        src.bucket,
                        format_rfc3339(from + i as i64 * step_ns)
                    )));
                }
            }
        }
        series.push(Series {
            id: ser.tag.clone(),
            start: from.div_euclid(step_ns),
            values: out,
            attrs: Default::default(),
        });
    }
    if let Some(t) = src
        .tags
        .iter()
        .find(|t| !series.iter().any(|s| &s.id == *t))
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no numeric readings of tag {t:?} in {}/{} between {} and {}",
                src.device, src.stream, src.from, src.to
            ),
        ));
    }
    if series.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no numeric readings in {}/{} between {} and {}",
                src.device, src.stream, src.from, src.to
            ),
        ));
    }
    Ok(Panel { calendar, series })
}

fn results(out: &JobOutput) -> Vec<NodeResult> {
    out.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let steps = n.mean.len();
            let mut quantiles = std::collections::BTreeMap::new();
            for l in &out.levels {
                let (lo, hi) = l.probs();
                for p in [lo, hi] {
                    let name = format!("p{}", (p * 1000.0).round() / 10.0);
                    quantiles.insert(name, (0..steps).map(|s| out.quantile(i, s, p)).collect());
                }
            }
            let hist = &out.history[i];
            let keep = hist.len().min(3 * out.season.max(12));
            let first = n.start - keep as i64;
            NodeResult {
                history_ds: (0..keep)
                    .map(|k| out.calendar.format(first + k as i64))
                    .collect(),
                history: hist[hist.len() - keep..].to_vec(),
                id: n.id.clone(),
                level: n.level.clone(),
                model: n.model.clone(),
                ds: (0..steps)
                    .map(|s| out.calendar.format(n.start + s as i64))
                    .collect(),
                mean: n.mean.clone(),
                sd: n.sd.clone(),
                quantiles,
            }
        })
        .collect()
}

async fn start(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Response {
    let r = async {
        who.require("forecast:run")?;
        let (req, job) = request_body(&body)?;
        let (s2, tenant) = (s.clone(), who.tenant.clone());
        let panel = match (req.csv, req.source) {
            (Some(csv), None) => {
                Panel::from_csv(&csv).map_err(|e| bad_request(format!("csv: {e}")))?
            }
            (None, Some(src)) => blocking(move || panel_from_store(&s2, &tenant, &src)).await?,
            _ => {
                return Err(bad_request(
                    "give either `csv` (long format) or `source` (stored readings), not both"
                        .into(),
                ));
            }
        };
        let id = format!(
            "fc-{}-{}",
            now_ns() / 1_000_000,
            s.forecasts.seq.fetch_add(1, Ordering::Relaxed)
        );
        let status = Status {
            id: id.clone(),
            state: "queued".into(),
            done: 0,
            total: 0,
            created: format_rfc3339(now_ns()),
            actor: who.actor.clone(),
            alias: job.alias(),
            horizon: job.horizon,
            error: None,
        };
        let key = (who.tenant.as_str().to_owned(), id.clone());
        // Stored as live first: after a restart the job reads as cut off, not as unknown.
        let first = serde_json::to_vec(&Stored {
            status: status.clone(),
            nodes: Vec::new(),
            accuracy: None,
            accuracy_skipped: None,
        })
        .map_err(|e| bad_request(e.to_string()))?;
        let (s4, tenant, k) = (s.clone(), who.tenant.clone(), format!("{KEY}{id}"));
        blocking(move || Ok(s4.store.tenant(&tenant).put_setting(&k, &first)?)).await?;
        s.forecasts
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), status.clone());
        let (s3, tenant) = (s.clone(), who.tenant.clone());
        let limit = std::time::Duration::from_secs(MAX_JOB_SECONDS);
        let queued = s
            .jobs
            .submit(who.tenant.as_str(), &id, limit, move |cancel| {
                run(&s3, &tenant, key, status, job, panel, cancel)
            });
        if let Err(full) = queued {
            s.forecasts
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(who.tenant.as_str().to_owned(), id.clone()));
            let (s5, tenant, k) = (s.clone(), who.tenant.clone(), format!("{KEY}{id}"));
            blocking(move || Ok(s5.store.tenant(&tenant).delete_setting(&k)?)).await?;
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                full.to_string(),
            ));
        }
        Ok(serde_json::json!({"id": id, "state": "queued", "href": format!("/v1/forecasts/{id}")}))
    }
    .await;
    match r {
        Ok(v) => (StatusCode::ACCEPTED, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Periods of stored history one forecast may read (about 55 years of days).
const MAX_HISTORY: usize = 20_000;

/// The longest a forecast job may run before the runner stops it.
const MAX_JOB_SECONDS: u64 = 600;

/// Runs one forecast job on a runner thread and stores how it ended.
fn run(
    s: &AppState,
    tenant: &TenantId,
    key: (String, String),
    status: Status,
    mut job: Job,
    panel: Panel,
    cancel: Cancel,
) {
    job.cancel = Some(cancel.clone());
    let progress = |done: usize, total: usize| {
        s.forecasts.update(&key, |st| {
            st.state = "running".into();
            st.done = done;
            st.total = total;
        })
    };
    progress(0, 0);
    let mut st = s
        .forecasts
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned()
        .unwrap_or(status);
    let stored = match job.run(&panel, &progress) {
        Ok(out) => {
            let mut cv = String::new();
            let (accuracy, accuracy_skipped) = match backtest::run(
                &job,
                &panel,
                BACKTEST_WINDOWS,
                job.horizon as usize,
                &mut cv,
                &|_, _| {},
            ) {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.to_string())),
            };
            st.state = "done".into();
            st.done = out.nodes.len();
            st.total = out.nodes.len();
            Stored {
                status: st,
                nodes: results(&out),
                accuracy,
                accuracy_skipped,
            }
        }
        Err(ForecastError::Cancelled) => {
            let asked = s
                .forecasts
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .is_some_and(|x| x.state == "cancelling");
            if asked {
                st.state = "cancelled".into();
            } else {
                st.state = "failed".into();
                st.error = Some(format!(
                    "stopped after the time limit of {MAX_JOB_SECONDS} s"
                ));
            }
            Stored {
                status: st,
                nodes: Vec::new(),
                accuracy: None,
                accuracy_skipped: None,
            }
        }
        Err(e) => {
            st.state = "failed".into();
            st.error = Some(e.to_string());
            Stored {
                status: st,
                nodes: Vec::new(),
                accuracy: None,
                accuracy_skipped: None,
            }
        }
    };
    let saved = serde_json::to_vec(&stored)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            s.store
                .tenant(tenant)
                .put_setting(&format!("{KEY}{}", stored.status.id), &v)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        tracing::error!(forecast = %stored.status.id, error = %e, "a finished forecast could not be stored");
    }
    s.forecasts
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
}

/// Cancels a queued or running forecast of the tenant.
async fn cancel(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        who.require("forecast:run")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let key = (tenant.as_str().to_owned(), id.clone());
            let found = || {
                load(&s, &tenant, &id)?.ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        format!("no forecast {id:?} in this tenant"),
                    )
                })
            };
            match s.jobs.cancel(tenant.as_str(), &id) {
                Cancelled::Dequeued => {
                    let mut f = found()?;
                    s.forecasts
                        .running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    f.status.state = "cancelled".into();
                    let v = serde_json::to_vec(&f).map_err(|e| bad_request(e.to_string()))?;
                    s.store
                        .tenant(&tenant)
                        .put_setting(&format!("{KEY}{id}"), &v)?;
                    Ok(f.status)
                }
                Cancelled::Signalled => {
                    s.forecasts
                        .update(&key, |st| st.state = "cancelling".into());
                    Ok(found()?.status)
                }
                Cancelled::NotLive => {
                    let f = found()?;
                    Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "conflict",
                        format!(
                            "forecast {id} is {}: only a queued or running job can be cancelled",
                            f.status.state
                        ),
                    ))
                }
            }
        })
        .await
    }
    .await;
    reply(r)
}

/// A stored job as it stands now: progress from memory while it runs; a job stored as running
/// that no longer runs was cut off by a restart.
fn settle(s: &AppState, tenant: &TenantId, mut f: Stored) -> Stored {
    if matches!(f.status.state.as_str(), "queued" | "running" | "cancelling") {
        let key = (tenant.as_str().to_owned(), f.status.id.clone());
        match s
            .forecasts
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            Some(st) => f.status = st.clone(),
            None => {
                f.status.state = "failed".into();
                f.status.error = Some("the hub stopped while this job ran; submit it again".into());
            }
        }
    }
    f
}

fn load(s: &AppState, tenant: &TenantId, id: &str) -> Result<Option<Stored>, ApiError> {
    let key = format!("{KEY}{id}");
    let rows = s.store.tenant(tenant).settings(&key)?;
    match rows.into_iter().find(|(k, _)| *k == key) {
        Some((_, v)) => {
            let f: Stored = serde_json::from_slice(&v).map_err(|e| {
                crate::store::StoreError::Read(format!("forecast {id} is unreadable: {e}"))
            })?;
            Ok(Some(settle(s, tenant, f)))
        }
        None => Ok(None),
    }
}

/// Mean and standard deviation per node of a finished forecast, for inventory jobs.
pub(crate) fn forecast_items(
    s: &AppState,
    tenant: &TenantId,
    id: &str,
) -> Result<Vec<crate::optimization::tasks::Item>, String> {
    let f = load(s, tenant, id)
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("forecast: no forecast {id:?} in this tenant"))?;
    if f.status.state != "done" {
        return Err(format!(
            "forecast {id} is {}: wait until it is done",
            f.status.state
        ));
    }
    Ok(f.nodes
        .into_iter()
        .map(|n| crate::optimization::tasks::Item {
            id: n.id,
            mean: n.mean,
            sd: n.sd,
        })
        .collect())
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no forecast {id:?} in this tenant"),
    )
}

#[derive(Deserialize)]
struct ShowQuery {
    node: Option<String>,
}

async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let r = async {
        who.require("forecast:read")?;
        let tenant = who.tenant.clone();
        let mut f = blocking(move || load(&s, &tenant, &id)?.ok_or_else(|| not_found(&id))).await?;
        if let Some(node) = q.node {
            f.nodes.retain(|n| n.id == node);
            if f.nodes.is_empty() && f.status.state == "done" {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!(
                        "unknown hierarchy node {node:?} in forecast {}",
                        f.status.id
                    ),
                ));
            }
        }
        Ok(f)
    }
    .await;
    reply(r)
}

/// Every stored forecast of the tenant, newest first, running ones included.
fn all(s: &AppState, tenant: &TenantId) -> Result<Vec<Stored>, ApiError> {
    let mut out: Vec<Stored> = Vec::new();
    for (k, v) in s.store.tenant(tenant).settings(KEY)? {
        let f: Stored = serde_json::from_slice(&v)
            .map_err(|e| crate::store::StoreError::Read(format!("{k} is unreadable: {e}")))?;
        out.push(settle(s, tenant, f));
    }
    out.sort_by(|a, b| {
        b.status
            .created
            .cmp(&a.status.created)
            .then(b.status.id.cmp(&a.status.id))
    });
    Ok(out)
}

async fn list(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("forecast:read")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            Ok(all(&s, &tenant)?
                .into_iter()
                .map(|f| f.status)
                .collect::<Vec<_>>())
        })
        .await
    }
    .await;
    reply(r)
}

async fn accuracy(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("forecast:read")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            Ok(all(&s, &tenant)?
                .into_iter()
                .filter(|f| f.status.state == "done")
                .map(|f| serde_json::json!({"id": f.status.id, "created": f.status.created, "alias": f.status.alias, "accuracy": f.accuracy, "skipped": f.accuracy_skipped}))
                .collect::<Vec<_>>())
        })
        .await
    }
    .await;
    reply(r)
}

#[derive(Deserialize)]
struct InventoryQuery {
    lead_time: usize,
    #[serde(default)]
    review_period: usize,
    #[serde(default = "service")]
    service_level: f64,
    node: Option<String>,
}

fn service() -> f64 {
    0.95
}

async fn inventory_for(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<InventoryQuery>, QueryRejection>,
) -> Response {
    let r = async {
        who.require("forecast:read")?;
        let Query(q) = q.map_err(|e| {
            bad_request(format!(
                "{} (e.g. ?lead_time=2&service_level=0.95&review_period=0&node=Total)",
                e.body_text()
            ))
        })?;
        let tenant = who.tenant.clone();
        let f = blocking(move || load(&s, &tenant, &id)?.ok_or_else(|| not_found(&id))).await?;
        if f.status.state != "done" {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("forecast {} is {}", f.status.id, f.status.state),
            ));
        }
        let policy = Policy {
            lead_time: q.lead_time,
            review_period: q.review_period,
            service_level: q.service_level,
        };
        let nodes: Vec<&NodeResult> = f
            .nodes
            .iter()
            .filter(|n| q.node.as_ref().is_none_or(|x| &n.id == x))
            .collect();
        if let (Some(node), true) = (&q.node, nodes.is_empty()) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "unknown hierarchy node {node:?} in forecast {}",
                    f.status.id
                ),
            ));
        }
        inventory::recommend_for(
            nodes
                .iter()
                .map(|n| (n.id.as_str(), n.mean.as_slice(), n.sd.as_slice())),
            policy,
        )
        .map_err(bad_request)
    }
    .await;
    reply(r)
}
