//! `foodflow-hub optimize routing|schedule|plan` as a dispatcher or planner runs it: a VRPLIB
//! instance in, VRPLIB routes and cost out; a job shop in, a schedule per machine out; a
//! planning instance in, runs per day and line out (all checked before printing), progress on
//! stderr, clear errors.

mod support;

use support::{FT06, TINY, routing_args, run_hub as run};

#[test]
fn routes_come_out_in_vrplib_format() {
    let dir = tempfile::tempdir().unwrap();
    let inst = dir.path().join("tiny.vrp");
    std::fs::write(&inst, TINY).unwrap();
    let sol = dir.path().join("tiny.sol");
    let (ok, out, err) = run(&routing_args(
        inst.to_str().unwrap(),
        &["--seed", "4", "--output", sol.to_str().unwrap()],
    ));
    assert!(ok, "{err}");
    assert!(
        err.contains("routing: tiny — 4 clients, 2 vehicles of capacity 10"),
        "{err}"
    );
    let routes: Vec<&str> = out.lines().filter(|l| l.starts_with("Route #")).collect();
    assert!(!routes.is_empty() && routes.len() <= 2, "{out}");
    let mut served: Vec<u32> = routes
        .iter()
        .flat_map(|l| {
            l.split_once(':')
                .unwrap()
                .1
                .split_whitespace()
                .map(|c| c.parse::<u32>().unwrap())
        })
        .collect();
    served.sort_unstable();
    assert_eq!(served, vec![1, 2, 3, 4], "every client once: {out}");
    assert!(out.lines().last().unwrap().starts_with("Cost "), "{out}");
    assert_eq!(std::fs::read_to_string(&sol).unwrap(), out);

    let (ok, _, err) = run(&[
        "optimize",
        "routing",
        "--instance",
        inst.to_str().unwrap(),
        "--time-limit",
        "0",
    ]);
    assert!(
        !ok && err.contains("give --time-limit (seconds) or --iterations"),
        "{err}"
    );
    let bad = dir.path().join("bad.vrp");
    std::fs::write(&bad, TINY.replace("4 10 20", "4 30 20")).unwrap();
    let (ok, _, err) = run(&[
        "optimize",
        "routing",
        "--instance",
        bad.to_str().unwrap(),
        "--time-limit",
        "1",
    ]);
    assert!(
        !ok && err.contains("node 3: time window opens at 30 after it closes at 20"),
        "{err}"
    );
}

#[test]
fn a_mixed_fleet_keeps_chilled_goods_in_the_reefer() {
    // TINY with one reefer and two vans; client 1 (VRPLIB node 2) is chilled and may not ride
    // out of refrigeration at all.
    let text = TINY.replace(
        "NODE_COORD_SECTION",
        "VEHICLE_TYPES_SECTION\nreefer 1 10 20 1.5 chilled\nvan 2 10 5 1.0 -\nTEMPERATURE_SECTION\n2 chilled 0\nNODE_COORD_SECTION",
    );
    let dir = tempfile::tempdir().unwrap();
    let inst = dir.path().join("fleet.vrp");
    std::fs::write(&inst, text).unwrap();
    let (ok, out, err) = run(&routing_args(inst.to_str().unwrap(), &[]));
    assert!(ok, "{err}");
    assert!(
        err.contains("4 clients, vehicles 1 reefer × 10, 2 van × 10, cold chain"),
        "{err}"
    );
    let routes: Vec<&str> = out.lines().filter(|l| l.starts_with("Route #")).collect();
    let vehicles: Vec<&str> = out.lines().filter(|l| l.starts_with("Vehicle #")).collect();
    assert_eq!(routes.len(), vehicles.len(), "{out}");
    let with_1 = routes
        .iter()
        .position(|r| {
            r.split(':')
                .nth(1)
                .unwrap()
                .split_whitespace()
                .any(|c| c == "1")
        })
        .unwrap();
    assert!(vehicles[with_1].ends_with(": reefer"), "{out}");
    assert!(
        vehicles.iter().filter(|v| v.ends_with("reefer")).count() <= 1,
        "{out}"
    );
}

#[test]
fn a_job_shop_schedule_comes_out_per_machine() {
    let dir = tempfile::tempdir().unwrap();
    let ft06 = dir.path().join("ft06.txt");
    std::fs::write(&ft06, FT06).unwrap();
    let path = ft06.to_str().unwrap();
    let (ok, out, err) = run(&[
        "optimize",
        "schedule",
        "--instance",
        path,
        "--time-limit",
        "0",
        "--iterations",
        "20000",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Instance ft06\nMakespan 55\n"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("Machine ")).count(), 6);
    // Every operation once: 36 `job.op@start` entries.
    assert_eq!(
        out.split_whitespace().filter(|t| t.contains('@')).count(),
        36
    );
    assert!(err.contains("lower bound 47"), "{err}");

    let json = dir.path().join("all.json");
    std::fs::write(&json, "{\"a\": {}}").unwrap();
    let (ok, _, err) = run(&[
        "optimize",
        "schedule",
        "--instance",
        json.to_str().unwrap(),
        "--iterations",
        "5",
    ]);
    assert!(!ok && err.contains("needs --name"), "{err}");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "2 2\n0 1 1 x\n").unwrap();
    let (ok, _, err) = run(&[
        "optimize",
        "schedule",
        "--instance",
        bad.to_str().unwrap(),
        "--iterations",
        "5",
    ]);
    assert!(
        !ok && err.contains("line 2: `x` is not a whole number"),
        "{err}"
    );
}

#[test]
fn a_production_plan_comes_out_per_day_and_line() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/optimize/plan.example.yaml");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("plan.json");
    let (ok, out, err) = run(&[
        "optimize",
        "plan",
        "--instance",
        example,
        "--time-limit",
        "20",
        "--format",
        "json",
        "--output",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("plan: bakery-week — 2 lines, 4 products, 5 days"),
        "{err}"
    );
    assert!(err.contains("plan: model: "), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(std::fs::read_to_string(&json).unwrap(), out);
    assert_eq!(v["plan"], "bakery-week");
    assert_eq!(v["periods"].as_array().unwrap().len(), 5);
    // oven-2 is down on day 5; the milk-bun demand is the forecast's 90 % quantile.
    let day5 = &v["periods"][4]["lines"][1];
    assert_eq!(day5["line"], "oven-2");
    assert!(day5["runs"].as_array().unwrap().is_empty());
    assert_eq!(v["products"][1]["demand"][0], 2400.0);
    // Day 1 on oven-1 starts from milk: nut-bar there needs the clean-down before it.
    let runs = v["periods"][0]["lines"][0]["runs"].as_array().unwrap();
    for r in runs {
        if r["product"] == "nut-bar" {
            assert_eq!(r["cleandown_before"], true, "{runs:?}");
        }
    }

    let (ok, out, err) = run(&[
        "optimize",
        "plan",
        "--instance",
        example,
        "--time-limit",
        "20",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Plan bakery-week\nStatus "), "{out}");
    assert!(out.contains("\nDay 5\n"), "{out}");

    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    std::fs::write(&bad, text.replace("shelf_life: 3", "shelf_life: three")).unwrap();
    let (ok, _, err) = run(&["optimize", "plan", "--instance", bad.to_str().unwrap()]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("bad.yaml:35:17: products[1].shelf_life: invalid type")
            && err.contains("products[1].shelf_life"),
        "{err}"
    );
    std::fs::write(
        &bad,
        text.replace("min_service: 0.8", "min_service: 1.0")
            .replace(
                "[6000, 6500, 6200, 7000, 7500]",
                "[6000, 6500, 6200, 7000, 60000]",
            ),
    )
    .unwrap();
    let (ok, _, err) = run(&[
        "optimize",
        "plan",
        "--instance",
        bad.to_str().unwrap(),
        "--time-limit",
        "20",
    ]);
    assert!(!ok, "{err}");
    assert!(err.contains("the plan is infeasible"), "{err}");
    assert!(
        err.contains("white-loaf day 5") || err.contains("day 5: needs"),
        "{err}"
    );
}
