//! Fuzz target bodies (run by `cloud-hub/fuzz` with cargo-fuzz and by the smoke tests over the
//! seed corpus): every input gives an instance or an error, never a panic or an allocation
//! beyond the limits, and what is accepted holds together.

use crate::plan::PlanInstance;
use crate::routing::{self, Instance};
use crate::schedule::JobShop;

/// VRPLIB and Solomon text: a parsed instance can be solved for a few iterations and the
/// answer passes the independent checker.
pub fn vrplib(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inst) = Instance::parse(text) else {
        return;
    };
    // Solving is what a job does next; only small instances, to keep each run short.
    if inst.clients() > 50 {
        return;
    }
    let settings = routing::Settings {
        time_limit: std::time::Duration::ZERO,
        max_iterations: Some(20),
        seed: 1,
        cancel: None,
    };
    if let Ok(sol) = routing::solve(&inst, &settings, &mut |_| {}) {
        let _ = routing::check(&inst, &sol);
    }
}

/// The job shop's standard format: what is parsed prints back and parses to itself.
pub fn jobshop(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(shop) = JobShop::parse_standard("fuzz", text) {
        let _ = shop.lower_bound();
        let again =
            JobShop::parse_standard("fuzz", &shop.to_string()).expect("a printed job shop parses");
        assert_eq!(again.jobs, shop.jobs);
    }
}

/// Planning YAML/JSON: parsed and checked into a plant (not solved: that is HiGHS's time).
pub fn plan(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(i) = PlanInstance::parse("fuzz", text) {
        let _ = i.plant();
    }
}
