//! `foodflow-hub optimize routing`: a VRPLIB or Solomon instance in, the routes out in VRPLIB's
//! solution format, every new best on stderr as it is found, the checker run before printing.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use foodflow_optimize::routing::{self, Instance, Rounding, Settings};

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
    if !(time_limit_s >= 0.0 && time_limit_s.is_finite()) {
        bail!("--time-limit must be a number of seconds ≥ 0, got {time_limit_s}");
    }
    if time_limit_s == 0.0 && iterations.is_none() {
        bail!("give --time-limit (seconds) or --iterations (a reproducible budget), or both");
    }
    eprintln!(
        "routing: {} — {} clients, {} vehicles of capacity {}, time limit {time_limit_s} s, seed {seed}",
        inst.name,
        inst.clients(),
        inst.vehicles,
        inst.capacity
    );
    let settings = Settings {
        time_limit: Duration::from_secs_f64(time_limit_s),
        max_iterations: iterations,
        seed,
    };
    let sol = routing::solve(&inst, &settings, &mut |p| {
        eprintln!(
            "routing: {:>7.2} s  iteration {:>7}  distance {:.1}  routes {}",
            p.elapsed_s, p.iterations, p.distance, p.routes
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
