//! What an optimization job computes: a request body read into a checked task (every input
//! error found before the job is accepted), then run with progress in words and its answer as
//! JSON. Knows no HTTP and no store; the independent checkers run here, as in the CLI.

use std::time::Duration;

use foodflow_forecast::inventory::{self, Policy};
use foodflow_optimize::plan::{self, PlanInstance, Plant};
use foodflow_optimize::routing::{self, Instance, Rounding, Settings};
use foodflow_optimize::schedule::{self, JobShop};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::jobs::Cancel;

/// Seconds a job may search when the request names none, and the most it may ask for.
pub const DEFAULT_TIME_LIMIT_S: f64 = 30.0;
pub const MAX_TIME_LIMIT_S: f64 = 600.0;

/// The kinds of job, as they appear in the path `POST /v1/optimization/{kind}`.
pub const KINDS: &[&str] = &["plan", "schedule", "routing", "inventory"];

pub enum Task {
    Plan {
        plant: Box<Plant>,
        settings: plan::Settings,
    },
    Schedule {
        shop: JobShop,
        settings: Settings,
    },
    Routing {
        instance: Box<Instance>,
        settings: Settings,
    },
    Inventory {
        items: Vec<Item>,
        policy: Policy,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanRequest {
    /// The planning instance: YAML or JSON text, or the JSON object itself.
    instance: Value,
    time_limit_s: Option<f64>,
    #[serde(default = "default_gap")]
    gap: f64,
    #[serde(default = "one")]
    seed: u64,
    #[serde(default = "yes")]
    warm_start: bool,
}

fn default_gap() -> f64 {
    plan::Settings::default().gap
}
fn one() -> u64 {
    1
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleRequest {
    /// The job shop in the OR-Library's standard text format.
    instance: String,
    #[serde(default)]
    name: Option<String>,
    time_limit_s: Option<f64>,
    /// An iteration budget makes the answer depend on the seed only.
    iterations: Option<u64>,
    #[serde(default = "one")]
    seed: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingRequest {
    /// VRPLIB or Solomon text.
    instance: String,
    time_limit_s: Option<f64>,
    iterations: Option<u64>,
    #[serde(default = "one")]
    seed: u64,
    /// `exact`, `trunc1` (DIMACS, as published results) or `round`.
    #[serde(default = "exact")]
    rounding: String,
}

fn exact() -> String {
    "exact".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    /// Forecast mean demand per period.
    pub mean: Vec<f64>,
    /// Its standard deviation per period (or give `p10`/`p90`… quantiles through a forecast job).
    pub sd: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryRequest {
    /// Items given directly; or `forecast`, the id of a finished forecast job of the tenant.
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    forecast: Option<String>,
    lead_time: usize,
    #[serde(default)]
    review_period: usize,
    #[serde(default = "service")]
    service_level: f64,
}

fn service() -> f64 {
    0.95
}

/// Where an inventory request takes its forecasts from when it names a forecast job.
pub type ForecastLookup<'a> = &'a dyn Fn(&str) -> Result<Vec<Item>, String>;

fn limit(t: Option<f64>) -> Result<f64, String> {
    let t = t.unwrap_or(DEFAULT_TIME_LIMIT_S);
    if !(t > 0.0 && t <= MAX_TIME_LIMIT_S) {
        return Err(format!(
            "time_limit_s must lie in (0, {MAX_TIME_LIMIT_S}] seconds, got {t}"
        ));
    }
    Ok(t)
}

fn search(
    time_limit_s: Option<f64>,
    iterations: Option<u64>,
    seed: u64,
) -> Result<Settings, String> {
    Ok(Settings {
        time_limit: Duration::from_secs_f64(limit(time_limit_s)?),
        max_iterations: iterations,
        seed,
        cancel: None,
    })
}

fn body<T: serde::de::DeserializeOwned>(kind: &str, body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("{kind} request: {e}"))
}

impl Task {
    /// Reads and checks a request of `kind`; the error says what is wrong and where.
    pub fn from_request(
        kind: &str,
        raw: &[u8],
        forecasts: ForecastLookup<'_>,
    ) -> Result<Task, String> {
        match kind {
            "plan" => {
                let r: PlanRequest = body(kind, raw)?;
                let text = match &r.instance {
                    Value::String(s) => s.clone(),
                    Value::Object(_) => serde_json::to_string_pretty(&r.instance).map_err(|e| e.to_string())?,
                    _ => return Err("plan request: `instance` must be the instance as YAML/JSON text or as an object".into()),
                };
                let plant = PlanInstance::parse("instance", &text)
                    .and_then(|i| i.plant())
                    .map_err(|e| e.to_string())?;
                if !(0.0..1.0).contains(&r.gap) {
                    return Err(format!("gap must lie in [0, 1), got {}", r.gap));
                }
                let settings = plan::Settings {
                    time_limit_s: limit(r.time_limit_s)?,
                    gap: r.gap,
                    seed: r.seed,
                    warm_start: r.warm_start,
                    solver_log: false,
                };
                Ok(Task::Plan {
                    plant: Box::new(plant),
                    settings,
                })
            }
            "schedule" => {
                let r: ScheduleRequest = body(kind, raw)?;
                let shop =
                    JobShop::parse_standard(r.name.as_deref().unwrap_or("instance"), &r.instance)
                        .map_err(|e| format!("instance: {e}"))?;
                Ok(Task::Schedule {
                    shop,
                    settings: search(r.time_limit_s, r.iterations, r.seed)?,
                })
            }
            "routing" => {
                let r: RoutingRequest = body(kind, raw)?;
                let rounding: Rounding =
                    r.rounding.parse().map_err(|e| format!("rounding: {e}"))?;
                let instance = Instance::parse(&r.instance)
                    .map_err(|e| format!("instance: {e}"))?
                    .with_rounding(rounding);
                Ok(Task::Routing {
                    instance: Box::new(instance),
                    settings: search(r.time_limit_s, r.iterations, r.seed)?,
                })
            }
            "inventory" => {
                let r: InventoryRequest = body(kind, raw)?;
                let items = match (r.items.is_empty(), &r.forecast) {
                    (false, None) => r.items,
                    (true, Some(id)) => forecasts(id)?,
                    _ => return Err("inventory request: give either `items` (id, mean, sd per period) or `forecast` (a finished forecast job's id)".into()),
                };
                let policy = Policy {
                    lead_time: r.lead_time,
                    review_period: r.review_period,
                    service_level: r.service_level,
                };
                for it in &items {
                    if it.mean.len() != it.sd.len() {
                        return Err(format!(
                            "items[{:?}]: {} means but {} standard deviations",
                            it.id,
                            it.mean.len(),
                            it.sd.len()
                        ));
                    }
                    if it.sd.iter().chain(&it.mean).any(|v| !v.is_finite())
                        || it.sd.iter().any(|v| *v < 0.0)
                    {
                        return Err(format!(
                            "items[{:?}]: means must be numbers and standard deviations ≥ 0",
                            it.id
                        ));
                    }
                    policy
                        .check(it.mean.len())
                        .map_err(|e| format!("items[{:?}]: {e}", it.id))?;
                }
                if !(r.service_level > 0.0 && r.service_level < 1.0) {
                    return Err(format!(
                        "service_level must lie in (0, 1), got {}",
                        r.service_level
                    ));
                }
                Ok(Task::Inventory { items, policy })
            }
            k => Err(format!(
                "no optimization kind {k:?}: use one of {}",
                KINDS.join(", ")
            )),
        }
    }

    /// One line on what the job works on, for listings.
    pub fn summary(&self) -> String {
        match self {
            Task::Plan { plant, settings } => format!(
                "{}: {} lines × {} products × {} {}s, time limit {} s",
                plant.name,
                plant.lines.len(),
                plant.products.len(),
                plant.periods,
                plant.period,
                settings.time_limit_s
            ),
            Task::Schedule { shop, settings } => format!(
                "{}: {} jobs × {} machines, time limit {} s",
                shop.name,
                shop.jobs.len(),
                shop.machines,
                settings.time_limit.as_secs_f64()
            ),
            Task::Routing { instance, settings } => format!(
                "{}: {} clients, {} vehicles, time limit {} s",
                instance.name,
                instance.clients(),
                instance.vehicles,
                settings.time_limit.as_secs_f64()
            ),
            Task::Inventory { items, policy } => format!(
                "{} items, lead time {}, service level {}",
                items.len(),
                policy.lead_time,
                policy.service_level
            ),
        }
    }

    pub fn time_limit_s(&self) -> f64 {
        match self {
            Task::Plan { settings, .. } => settings.time_limit_s,
            Task::Schedule { settings, .. } | Task::Routing { settings, .. } => {
                settings.time_limit.as_secs_f64()
            }
            Task::Inventory { .. } => 0.0,
        }
    }

    /// Solves, reporting progress in words; the answer has passed the independent checker.
    pub fn run(self, cancel: &Cancel, progress: &mut dyn FnMut(String)) -> Result<Value, String> {
        match self {
            Task::Plan { plant, settings } => {
                let out = plan::solve(&plant, &settings, &mut |m| progress(m.to_owned()))
                    .map_err(|e| e.to_string())?;
                Ok(plan::to_json(&plant, &out))
            }
            Task::Schedule { shop, mut settings } => {
                settings.cancel = Some(cancel.clone());
                let s = schedule::solve(&shop, &settings, &mut |p| {
                    progress(format!(
                        "{:.1} s, iteration {}: makespan {}",
                        p.elapsed_s, p.iterations, p.makespan
                    ))
                })
                .map_err(|e| e.to_string())?;
                let violations = schedule::check(&shop, &s);
                if !violations.is_empty() {
                    return Err(format!(
                        "internal error: the schedule fails the check: {}",
                        violations.join("; ")
                    ));
                }
                Ok(json!({
                    "instance": shop.name,
                    "makespan": s.makespan,
                    "lower_bound": shop.lower_bound(),
                    "start": s.start,
                    "text": schedule::to_text(&shop, &s),
                }))
            }
            Task::Routing {
                instance,
                mut settings,
            } => {
                settings.cancel = Some(cancel.clone());
                let sol = routing::solve(&instance, &settings, &mut |p| {
                    progress(format!(
                        "{:.1} s, iteration {}: distance {:.1} over {} routes",
                        p.elapsed_s, p.iterations, p.distance, p.routes
                    ))
                })
                .map_err(|e| e.to_string())?;
                let violations = routing::check(&instance, &sol);
                if !violations.is_empty() {
                    let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
                    return Err(format!(
                        "internal error: the routes fail the feasibility check: {}",
                        list.join("; ")
                    ));
                }
                let used: Vec<usize> = (0..sol.routes.len())
                    .filter(|&k| !sol.routes[k].is_empty())
                    .collect();
                Ok(json!({
                    "instance": instance.name,
                    "cost": sol.cost(&instance),
                    "distance": sol.distance(&instance),
                    "routes": used.iter().map(|&k| &sol.routes[k]).collect::<Vec<_>>(),
                    "vehicles": used.iter().map(|&k| &instance.types[sol.kind(k)].name).collect::<Vec<_>>(),
                    "vrplib": sol.to_vrplib(&instance),
                }))
            }
            Task::Inventory { items, policy } => {
                let recs = inventory::recommend_for(
                    items
                        .iter()
                        .map(|i| (i.id.as_str(), i.mean.as_slice(), i.sd.as_slice())),
                    policy,
                )?;
                Ok(json!({ "recommendations": recs }))
            }
        }
    }
}
