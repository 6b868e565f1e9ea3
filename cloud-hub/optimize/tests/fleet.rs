//! A mixed fleet and the cold chain: freezer trucks, a chiller and ambient vans with their own
//! capacities, fixed and per-distance costs; chilled goods that may ride a while in a van,
//! frozen goods that may not. Small random instances (read from our VRPLIB sections) are
//! solved to the optimum of an exhaustive search over orders, cuts and vehicle types; the
//! checker catches each broken rule; impossible clients are explained.

mod common;

use common::{budget, each_split};
use foodflow_optimize::routing::search::SolveError;
use foodflow_optimize::routing::{Instance, Solution, Violation, check, solve};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FLEET: &str = "VEHICLE_TYPES_SECTION\nreefer 2 8 30 1.3 chilled,frozen\nvan 2 12 10 1.0 -\nchiller 1 10 15 1.1 chilled\n";

/// `clients` random clients: a third ambient, a third chilled (40 time units out allowed), a
/// third frozen (none), as VRPLIB text with our fleet and temperature sections.
fn fleet_text(seed: u64, clients: usize) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = clients + 1;
    let mut t = format!(
        "NAME : fleet-{seed}\nTYPE : CVRPTW\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : EUC_2D\n{FLEET}NODE_COORD_SECTION\n1 50 50\n"
    );
    let mut demand = String::from("DEMAND_SECTION\n1 0\n");
    let mut windows = String::from("TIME_WINDOW_SECTION\n1 0 400\n");
    let mut temps = String::from("TEMPERATURE_SECTION\n");
    for i in 2..=n {
        t.push_str(&format!(
            "{i} {:.0} {:.0}\n",
            rng.random_range(0.0..100.0),
            rng.random_range(0.0..100.0)
        ));
        demand.push_str(&format!("{i} {}\n", rng.random_range(1..=4)));
        let open: f64 = rng.random_range(0.0..150.0);
        windows.push_str(&format!(
            "{i} {open:.0} {:.0}\n",
            open + rng.random_range(80.0..250.0)
        ));
        match rng.random_range(0..3) {
            0 => {}
            1 => temps.push_str(&format!("{i} chilled 40\n")),
            _ => temps.push_str(&format!("{i} frozen 0\n")),
        }
    }
    format!("{t}{demand}{windows}SERVICE_TIME : 5\n{temps}DEPOT_SECTION\n1\n-1\nEOF\n")
}

/// The optimum by enumeration: every order, every cut into routes, every vehicle type per
/// route; feasibility by the checker, cost by the solution's own account.
fn brute_force(inst: &Instance) -> f64 {
    let types = inst.types.len();
    let mut best = f64::INFINITY;
    each_split(inst, &mut |routes| {
        let k = routes.len();
        for mut code in 0..types.pow(k as u32) {
            let kinds: Vec<usize> = (0..k)
                .map(|_| {
                    let t = code % types;
                    code /= types;
                    t
                })
                .collect();
            let sol = Solution {
                routes: routes.clone(),
                kinds,
            };
            let c = sol.cost(inst);
            if c < best - 1e-9 && check(inst, &sol).is_empty() {
                best = c;
            }
        }
    });
    best
}

#[test]
fn mixed_fleets_with_a_cold_chain_are_solved_to_optimality() {
    let (mut solved, mut cold) = (0, 0);
    for seed in 1..=12 {
        let inst = Instance::parse(&fleet_text(seed, 5)).unwrap();
        assert!(inst.heterogeneous());
        cold += usize::from(inst.has_cold_chain());
        let optimum = brute_force(&inst);
        if !optimum.is_finite() {
            assert!(solve(&inst, &budget(500, seed), &mut |_| {}).is_err());
            continue;
        }
        let sol = solve(&inst, &budget(3000, seed), &mut |_| {})
            .unwrap_or_else(|e| panic!("instance {seed}: {e} (optimum {optimum})"));
        assert!(check(&inst, &sol).is_empty(), "{:?}", check(&inst, &sol));
        let c = sol.cost(&inst);
        assert!(
            (c - optimum).abs() < 1e-6,
            "instance {seed}: {c} vs optimum {optimum}: {sol:?}"
        );
        // The answer reads back from its VRPLIB text, vehicle types included.
        let text = sol.to_vrplib(&inst);
        assert!(text.contains("Vehicle #1: "), "{text}");
        let back = Solution::parse_vrplib(&text, &inst).unwrap();
        assert!((back.cost(&inst) - c).abs() < 1e-6);
        solved += 1;
    }
    assert!(
        solved >= 8 && cold >= 8,
        "{solved} of 12 instances feasible, {cold} with a cold chain"
    );
}

#[test]
fn the_checker_guards_the_fleet_and_the_cold_chain() {
    // Depot at 0,0; client 2 frozen at 30,40 (50 away), client 3 chilled at 0,30, client 4
    // ambient at 0,-20.
    let text = format!(
        "NAME : cc\nDIMENSION : 4\nEDGE_WEIGHT_TYPE : EUC_2D\n{FLEET}NODE_COORD_SECTION\n1 0 0\n2 30 40\n3 0 30\n4 0 -20\n\
         DEMAND_SECTION\n1 0\n2 4\n3 4\n4 10\nTIME_WINDOW_SECTION\n1 0 1000\n2 0 1000\n3 100 1000\n4 0 1000\n\
         TEMPERATURE_SECTION\n2 frozen 0\n3 chilled 40\nDEPOT_SECTION\n1\n-1\nEOF\n"
    );
    let inst = Instance::parse(&text).unwrap();
    let (reefer, van, chiller) = (0, 1, 2);
    let sol = |routes: Vec<Vec<usize>>, kinds: Vec<usize>| Solution { routes, kinds };
    assert!(check(&inst, &sol(vec![vec![1, 2], vec![3]], vec![reefer, van])).is_empty());
    // Frozen goods in a van: any ride is too long.
    let v = check(
        &inst,
        &sol(vec![vec![1], vec![2], vec![3]], vec![van, reefer, van]),
    );
    assert!(
        matches!(v.as_slice(), [Violation::OutOfRefrigeration { client: 1, limit, .. }] if *limit == 0.0),
        "{v:?}"
    );
    // The chiller keeps chilled goods cold, not frozen ones.
    assert!(
        check(
            &inst,
            &sol(vec![vec![1], vec![2], vec![3]], vec![reefer, chiller, van])
        )
        .is_empty()
    );
    let v = check(
        &inst,
        &sol(vec![vec![2], vec![1], vec![3]], vec![reefer, chiller, van]),
    );
    assert!(
        matches!(
            v.as_slice(),
            [Violation::OutOfRefrigeration { client: 1, .. }]
        ),
        "{v:?}"
    );
    // Chilled goods alone in a van ride 30 (it leaves as late as the route allows) …
    assert!(
        check(
            &inst,
            &sol(vec![vec![2], vec![1], vec![3]], vec![van, reefer, van])
        )
        .is_empty()
    );
    // … but behind the frozen client's stop they ride 50 + 31.6 > 40.
    let v = check(&inst, &sol(vec![vec![1, 2], vec![3]], vec![van, van]));
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::OutOfRefrigeration { client: 2, .. })),
        "{v:?}"
    );
    // The ambient client's 10 units fit a van (12), not a reefer (8).
    let v = check(&inst, &sol(vec![vec![1, 2], vec![3]], vec![reefer, reefer]));
    assert!(
        matches!(
            v.as_slice(),
            [Violation::Capacity {
                route: 2,
                load: 10,
                capacity: 8
            }]
        ),
        "{v:?}"
    );
    // Three reefer routes, two reefers.
    let v = check(
        &inst,
        &sol(
            vec![vec![1], vec![2], vec![3]],
            vec![reefer, reefer, reefer],
        ),
    );
    assert!(
        v.iter().any(|x| matches!(
            x,
            Violation::TooManyOfType {
                routes: 3,
                count: 2,
                ..
            }
        )),
        "{v:?}"
    );
    let v = check(&inst, &sol(vec![vec![1, 2, 3]], vec![7]));
    assert!(
        matches!(v.as_slice(), [Violation::UnknownType { kind: 7, .. }, ..]),
        "{v:?}"
    );
    // The search finds the only sensible plan: frozen and chilled by reefer, ambient by van.
    let best = solve(&inst, &budget(500, 1), &mut |_| {}).unwrap();
    assert!(check(&inst, &best).is_empty());
    for (r, k) in best.routes.iter().zip(&best.kinds) {
        if r.contains(&1) {
            assert_eq!(*k, reefer);
        }
        if r.contains(&3) {
            assert_eq!(*k, van);
        }
    }
}

/// `text` with node 2's line in `section` replaced by (or, if absent, given) `line`.
fn set_line(text: &str, section: &str, line: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l.ends_with("_SECTION") {
            inside = l == section;
            out.push(l.to_owned());
            if inside {
                out.push(line.to_owned());
            }
            continue;
        }
        if inside && l.starts_with("2 ") {
            continue;
        }
        out.push(l.to_owned());
    }
    out.join("\n") + "\n"
}

#[test]
fn impossible_clients_and_bad_sections_are_explained() {
    // Frozen goods of 10 units: the reefers carry 8, the vans do not keep them frozen.
    let text = set_line(&fleet_text(3, 4), "DEMAND_SECTION", "2 10");
    let text = set_line(&text, "TEMPERATURE_SECTION", "2 frozen 0");
    let inst = Instance::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    match solve(&inst, &budget(100, 1), &mut |_| {}) {
        Err(SolveError::Unservable { client: 1, why }) => {
            assert!(
                why.contains("frozen") && why.contains("keeps them cold"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let bad = fleet_text(1, 3).replace("van 2 12 10 1.0 -", "van 2 12 10");
    let e = Instance::parse(&bad).unwrap_err().to_string();
    assert!(
        e.starts_with("line 7: a vehicle type is `name count capacity"),
        "{e}"
    );
    let bad = fleet_text(1, 3).replace("van 2 12 10 1.0 -", "van 0 12 10 1.0 -");
    let e = Instance::parse(&bad).unwrap_err().to_string();
    assert!(
        e.contains("vehicle type van: count and capacity must be positive"),
        "{e}"
    );
    let bad = fleet_text(1, 3).replace(
        "TEMPERATURE_SECTION\n",
        "TEMPERATURE_SECTION\n2 frozen -5\n",
    );
    let e = Instance::parse(&bad).unwrap_err().to_string();
    assert!(e.contains("out of refrigeration must be ≥ 0"), "{e}");
}
