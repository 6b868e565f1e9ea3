//! Optimization jobs over the hub API: `POST /v1/optimization/{plan,schedule,routing,inventory}`
//! checks the request at once (400 with what is wrong and where) and answers 202 with a job id;
//! `GET /v1/optimization/jobs/{id}` shows it queued, then running with its latest progress,
//! then its checked answer; `POST /v1/optimization/jobs/{id}/cancel` stops it. Jobs run on the
//! hub's job runner (its own workers, tenants in turn, a bounded queue per tenant: 429 when
//! full), are kept in the tenant's store from the start, and a job cut off by a restart reads
//! as failed.
//!
//! A production plan becomes the tenant's active plan only through an electronic signature
//! (`POST /v1/optimization/jobs/{id}/approve`, permission `plan:approve`, password re-entered),
//! written with its audit entry in one transaction.

pub mod tasks;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use foodflow_protocol::time::{format_rfc3339, now_ns};
use foodflow_transport::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{ApiError, AppState, bad_request, blocking, created, reply};
use crate::approvals::{sign, signing_request};
use crate::audit::chain::Draft;
use crate::identity::principal::Principal;
use crate::jobs::{Cancel, Cancelled};
use tasks::Task;

const KEY: &str = "optimization:job:";
const ACTIVE_PLAN: &str = "optimization:active-plan";
/// Meanings a plan signature may carry: `approve` makes the plan active, `reject` records why not.
pub const PLAN_MEANINGS: &[&str] = &["approve", "reject"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    pub kind: String,
    /// `queued`, `running`, `cancelling`, `done`, `failed` or `cancelled`.
    pub state: String,
    pub summary: String,
    pub created: String,
    pub actor: String,
    pub time_limit_s: f64,
    /// Seconds since the job started running (its total once it ended).
    pub elapsed_s: f64,
    /// The solver's latest word on its progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Signatures given to this job's plan, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<PlanSignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSignature {
    pub job: String,
    pub meaning: String,
    #[serde(default)]
    pub comment: String,
    pub signature: crate::audit::chain::Signature,
    pub audit_seq: u64,
}

/// (tenant, job id).
type JobKey = (String, String);
/// A live job's status and when it started running.
type Live = (Status, Option<Instant>);

/// Jobs queued or running, by (tenant, id); they run on the hub's job runner.
#[derive(Default)]
pub struct Optimizations {
    live: Mutex<HashMap<JobKey, Live>>,
    seq: AtomicU64,
}

impl Optimizations {
    fn update(&self, key: &JobKey, f: impl FnOnce(&mut Status, &mut Option<Instant>)) {
        if let Some((st, started)) = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(key)
        {
            f(st, started);
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/optimization/jobs", get(list))
        .route("/v1/optimization/jobs/{id}", get(show))
        .route("/v1/optimization/jobs/{id}/approve", post(approve))
        .route("/v1/optimization/jobs/{id}/cancel", post(cancel))
        .route("/v1/optimization/plans/active", get(active))
        .route("/v1/optimization/{kind}", post(start))
}

fn put(s: &AppState, tenant: &TenantId, job: &Stored) -> Result<(), ApiError> {
    let v = serde_json::to_vec(job).map_err(|e| bad_request(e.to_string()))?;
    Ok(s.store
        .tenant(tenant)
        .put_setting(&format!("{KEY}{}", job.status.id), &v)?)
}

fn count(s: &AppState, kind: &str, outcome: &str) {
    s.metrics
        .counter(
            "foodflow_hub_optimization_jobs_total",
            "Optimization jobs by kind and outcome (accepted, done, failed)",
            &[("kind", kind), ("outcome", outcome)],
        )
        .fetch_add(1, Ordering::Relaxed);
}

async fn start(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let r: Result<Value, ApiError> = async {
        who.require("optimize:run")?;
        let (s2, tenant, k) = (s.clone(), who.tenant.clone(), kind.clone());
        let task = blocking(move || {
            let lookup = |id: &str| crate::forecasting::forecast_items(&s2, &tenant, id);
            Task::from_request(&k, &body, &lookup).map_err(|e| {
                if tasks::KINDS.contains(&k.as_str()) { bad_request(e) } else { ApiError::new(StatusCode::NOT_FOUND, "not_found", e) }
            })
        })
        .await?;
        let id = format!("opt-{}-{}", now_ns() / 1_000_000, s.optimizations.seq.fetch_add(1, Ordering::Relaxed));
        let status = Status {
            id: id.clone(),
            kind: kind.clone(),
            state: "queued".into(),
            summary: task.summary(),
            created: format_rfc3339(now_ns()),
            actor: who.actor.clone(),
            time_limit_s: task.time_limit_s(),
            elapsed_s: 0.0,
            progress: None,
            error: None,
        };
        // Stored before it runs: after a restart the job reads as cut off, not as unknown.
        let first = Stored { status: status.clone(), result: None, signatures: Vec::new() };
        let (s4, tenant) = (s.clone(), who.tenant.clone());
        blocking(move || put(&s4, &tenant, &first)).await?;
        let key = (who.tenant.as_str().to_owned(), id.clone());
        s.optimizations.live.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), (status.clone(), None));
        // The runner's limit is a backstop for a solver that overruns its own time limit.
        let limit = Duration::from_secs_f64(task.time_limit_s() + JOB_GRACE_S);
        let (s3, tenant) = (s.clone(), who.tenant.clone());
        let queued = s.jobs.submit(who.tenant.as_str(), &id, limit, move |cancel| run(&s3, &tenant, key, task, cancel));
        if let Err(full) = queued {
            s.optimizations.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&(who.tenant.as_str().to_owned(), id.clone()));
            let (s5, tenant, k) = (s.clone(), who.tenant.clone(), format!("{KEY}{id}"));
            blocking(move || Ok(s5.store.tenant(&tenant).delete_setting(&k)?)).await?;
            count(&s, &kind, "refused");
            return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", full.to_string()));
        }
        count(&s, &kind, "accepted");
        tracing::info!(job = %id, kind = %kind, actor = %who.actor, summary = %status.summary, "optimization job queued");
        Ok(serde_json::json!({"id": id, "state": "queued", "href": format!("/v1/optimization/jobs/{id}")}))
    }
    .await;
    match r {
        Ok(v) => (StatusCode::ACCEPTED, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Seconds a job may overrun its own time limit (checking and storing the answer) before the
/// runner tells it to stop.
const JOB_GRACE_S: f64 = 30.0;

/// Runs one job on a runner thread and stores how it ended.
fn run(s: &AppState, tenant: &TenantId, key: JobKey, task: Task, cancel: Cancel) {
    s.optimizations.update(&key, |st, started| {
        st.state = "running".into();
        *started = Some(Instant::now());
    });
    let t0 = Instant::now();
    let out = task.run(&cancel, &mut |m| {
        s.optimizations.update(&key, |st, _| st.progress = Some(m));
    });
    let secs = t0.elapsed().as_secs_f64();
    let live = s
        .optimizations
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .map(|x| x.0.clone());
    let Some(mut st) = live else { return };
    st.elapsed_s = secs;
    let result = match out {
        // Asked to stop by a person: whatever the search had is not the answer they wait for.
        _ if st.state == "cancelling" => {
            st.state = "cancelled".into();
            None
        }
        Ok(v) => {
            st.state = "done".into();
            Some(v)
        }
        Err(e) => {
            st.state = "failed".into();
            st.error = Some(e);
            None
        }
    };
    count(s, &st.kind, &st.state);
    tracing::info!(job = %st.id, state = %st.state, seconds = secs, "optimization job ended");
    let done = Stored {
        status: st,
        result,
        signatures: Vec::new(),
    };
    if let Err(e) = put(s, tenant, &done) {
        tracing::error!(job = %key.1, error = %e.message, "a finished optimization job could not be stored");
    }
    s.optimizations
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
}

/// Cancels a queued or running job of the tenant: a queued one never runs, a running one
/// stops at its solver's next check (a production plan's MIP at its own time limit).
async fn cancel(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        who.require("optimize:run")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let key = (tenant.as_str().to_owned(), id.clone());
            match s.jobs.cancel(tenant.as_str(), &id) {
                Cancelled::Dequeued => {
                    let mut job = load(&s, &tenant, &id)?;
                    s.optimizations.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                    job.status.state = "cancelled".into();
                    put(&s, &tenant, &job)?;
                    count(&s, &job.status.kind, "cancelled");
                    tracing::info!(job = %id, actor = %who.actor, "queued optimization job cancelled");
                    Ok(job.status)
                }
                Cancelled::Signalled => {
                    s.optimizations.update(&key, |st, _| st.state = "cancelling".into());
                    tracing::info!(job = %id, actor = %who.actor, "running optimization job told to stop");
                    Ok(load(&s, &tenant, &id)?.status)
                }
                Cancelled::NotLive => {
                    let job = load(&s, &tenant, &id)?;
                    Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("job {id} is {}: only a queued or running job can be cancelled", job.status.state)))
                }
            }
        })
        .await
    }
    .await;
    reply(r)
}

/// A stored job as it stands now: state and progress from memory while it is live; stored as
/// live but no longer known, it was cut off by a restart.
fn settle(s: &AppState, tenant: &TenantId, mut j: Stored) -> Stored {
    if matches!(j.status.state.as_str(), "queued" | "running" | "cancelling") {
        let key = (tenant.as_str().to_owned(), j.status.id.clone());
        match s
            .optimizations
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            Some((st, started)) => {
                j.status = st.clone();
                j.status.elapsed_s = started.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
            }
            None => {
                j.status.state = "failed".into();
                j.status.error = Some(
                    "the hub stopped while this job was queued or ran; submit it again".into(),
                );
            }
        }
    }
    j
}

fn load(s: &AppState, tenant: &TenantId, id: &str) -> Result<Stored, ApiError> {
    let key = format!("{KEY}{id}");
    let rows = s.store.tenant(tenant).settings(&key)?;
    let Some((_, v)) = rows.into_iter().find(|(k, _)| *k == key) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no optimization job {id:?} in this tenant"),
        ));
    };
    let j: Stored = serde_json::from_slice(&v).map_err(|e| {
        crate::store::StoreError::Read(format!("optimization job {id} is unreadable: {e}"))
    })?;
    Ok(settle(s, tenant, j))
}

async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        who.require("optimize:read")?;
        let tenant = who.tenant.clone();
        blocking(move || load(&s, &tenant, &id)).await
    }
    .await;
    reply(r)
}

/// The tenant's jobs, newest first, without their answers.
async fn list(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("optimize:read")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let mut out = Vec::new();
            for (k, v) in s.store.tenant(&tenant).settings(KEY)? {
                let j: Stored = serde_json::from_slice(&v).map_err(|e| {
                    crate::store::StoreError::Read(format!("{k} is unreadable: {e}"))
                })?;
                out.push(settle(&s, &tenant, j).status);
            }
            out.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
            Ok(out)
        })
        .await
    }
    .await;
    reply(r)
}

/// Signs a finished plan: `approve` makes it the tenant's active plan, `reject` records the
/// refusal. Both are stored on the job and in the audit trail with the signature.
async fn approve(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let r = async {
        let (username, req) = signing_request(&who, "plan:approve", &body, "plan signature", PLAN_MEANINGS)?;
        blocking(move || {
            let tenant = &who.tenant;
            let mut job = load(&s, tenant, &id)?;
            if job.status.kind != "plan" {
                return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("job {id} is a {} job: only production plans are signed", job.status.kind)));
            }
            if job.status.state != "done" {
                return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("job {id} is {}: only a finished plan can be signed", job.status.state)));
            }
            let view = s.store.tenant(tenant);
            let signature = sign(view.as_ref(), &s.auth, tenant, &username, &req.password, &req.meaning)?;
            let now = signature.signed_at_ns;
            let cost = job.result.as_ref().and_then(|r| r["cost"]["total"].as_f64());
            let draft = |before: Option<Value>, after: Value| Draft {
                actor: who.actor.clone(),
                action: format!("plan.{}", req.meaning),
                object: id.clone(),
                before,
                after: Some(after),
                from: who.from.clone(),
                signature: Some(signature.clone()),
            };
            let after = serde_json::json!({"job": id, "meaning": req.meaning, "comment": req.comment, "cost": cost, "summary": job.status.summary});
            // The regulated write: the active-plan pointer (or, for a rejection, the job's
            // signature list) goes in with its audit entry.
            let entry = if req.meaning == "approve" {
                let before = view.settings(ACTIVE_PLAN)?.into_iter().find(|(k, _)| k == ACTIVE_PLAN).and_then(|(_, v)| serde_json::from_slice::<Value>(&v).ok());
                let value = serde_json::to_vec(&serde_json::json!({"job": id, "signer": username, "signed_at_ns": now, "comment": req.comment}))
                    .map_err(|e| bad_request(e.to_string()))?;
                view.put_setting_audited(ACTIVE_PLAN, Some(&value), draft(before, after), now)?
            } else {
                view.audit_append(vec![draft(None, after)], now)?.remove(0)
            };
            job.signatures.push(PlanSignature { job: id.clone(), meaning: req.meaning.clone(), comment: req.comment.clone(), signature: signature.clone(), audit_seq: entry.seq });
            put(&s, tenant, &job)?;
            tracing::info!(job = %id, meaning = %req.meaning, signer = %username, audit_seq = entry.seq, "production plan signed");
            Ok(serde_json::json!({"signature": job.signatures.last(), "audit_seq": entry.seq, "active": req.meaning == "approve"}))
        })
        .await
    }
    .await;
    created(r)
}

/// The tenant's active plan: the last one approved, with who signed it and the plan itself
/// (`job: null` while none is).
async fn active(State(s): State<AppState>, Extension(who): Extension<Principal>) -> Response {
    let r = async {
        who.require("optimize:read")?;
        let tenant = who.tenant.clone();
        blocking(move || {
            let rows = s.store.tenant(&tenant).settings(ACTIVE_PLAN)?;
            let Some((_, v)) = rows.into_iter().find(|(k, _)| k == ACTIVE_PLAN) else {
                // None in force is a state of the plant, not a missing resource.
                return Ok(serde_json::json!({"job": null, "message": "no plan has been approved in this tenant yet"}));
            };
            let pointer: Value = serde_json::from_slice(&v)
                .map_err(|e| crate::store::StoreError::Read(format!("the active-plan record is unreadable: {e}")))?;
            let id = pointer["job"].as_str().unwrap_or_default().to_owned();
            let job = load(&s, &tenant, &id)?;
            Ok(serde_json::json!({"job": id, "approved": pointer, "status": job.status, "plan": job.result}))
        })
        .await
    }
    .await;
    reply(r)
}
