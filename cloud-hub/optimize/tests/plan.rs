//! Production planning: optimal on instances whose optimum is known (by hand, and by an
//! exhaustive search written here), every plan re-verified by the checker, the checker catching
//! each kind of broken plan, infeasible instances explained.

use foodflow_optimize::plan::{
    self, Conflict, Plan, PlanError, PlanInstance, Plant, Run, Settings, Violation, evaluate,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn plant(yaml: &str) -> Plant {
    PlanInstance::parse("test", yaml).unwrap().plant().unwrap()
}

fn settings() -> Settings {
    Settings {
        time_limit_s: 20.0,
        gap: 0.0,
        ..Settings::default()
    }
}

fn solve(p: &Plant) -> plan::Outcome {
    let out = plan::solve(p, &settings(), &mut |_| {}).unwrap();
    assert!(evaluate(p, &out.plan).violations.is_empty());
    out
}

const TWO: &str = "
periods: 1
cleandown_hours: 2
cleandown_cost: 100
crews: 1
lines:
  - id: L1
    hours: 10
    initial_allergens: INIT
    rates: {A: 10, B: 10}
products:
  - {id: A, allergens: [], setup_hours: 0.5, setup_cost: 5, shelf_life: 1, shortage_cost: 10, demand: [30]}
  - {id: B, allergens: [milk], setup_hours: 0.5, setup_cost: 7, shelf_life: 1, shortage_cost: 10, demand: [40]}
";

#[test]
fn allergen_free_runs_first_and_a_carried_allergen_is_cleaned_down() {
    let p = plant(&TWO.replace("INIT", "[]"));
    let out = solve(&p);
    assert_eq!(out.status, "optimal");
    let runs = &out.plan.runs[0][0];
    assert_eq!(runs.len(), 2);
    assert_eq!(p.products[runs[0].product].id, "A");
    assert_eq!(p.products[runs[1].product].id, "B");
    assert!(runs.iter().all(|r| !r.cleandown_before));
    assert!((out.evaluation.costs.total - 12.0).abs() < 1e-6, "{out:?}");

    // The line last ran milk: A needs a clean-down (2 h), which still fits in 10 h.
    let p = plant(&TWO.replace("INIT", "[milk]"));
    let out = solve(&p);
    assert_eq!(out.evaluation.cleandowns, 1);
    assert!((out.evaluation.costs.total - 112.0).abs() < 1e-6, "{out:?}");
    // With 8 h: both (2 h clean-down + 1 h set-ups leave 5 h = 50 units: 12 + 100 + 200)
    // cost more than B alone (no clean-down, 40 units: 7 + A's shortage 300).
    let p = plant(
        &TWO.replace("INIT", "[milk]")
            .replace("hours: 10", "hours: 8"),
    );
    let out = solve(&p);
    let made: f64 = out.plan.runs[0][0].iter().map(|r| r.quantity).sum();
    assert!((made - 40.0).abs() < 1e-6, "{:?}", out.plan);
    assert!((out.evaluation.costs.total - 307.0).abs() < 1e-6);
}

#[test]
fn building_ahead_within_shelf_life_beats_a_clean_down() {
    let yaml = "
periods: 2
cleandown_hours: 1
cleandown_cost: 100
crews: 1
lines:
  - {id: L1, hours: 10, rates: {A: 10, B: 10}}
products:
  - {id: A, allergens: [], setup_hours: 0, setup_cost: 5, shelf_life: LIFE, holding_cost: 0.5, shortage_cost: 10, demand: [0, 20]}
  - {id: B, allergens: [milk], setup_hours: 0, setup_cost: 5, shelf_life: 1, shortage_cost: 10, demand: [30, 0]}
";
    // A may wait a day: make it on day 1 before B (holding 20 × 0.5), no clean-down.
    let out = solve(&plant(&yaml.replace("LIFE", "2")));
    assert_eq!(out.evaluation.cleandowns, 0);
    assert!((out.evaluation.costs.total - 20.0).abs() < 1e-6, "{out:?}");
    // A keeps one day only: it is made on day 2 after a clean-down.
    let out = solve(&plant(&yaml.replace("LIFE", "1")));
    assert_eq!(out.evaluation.cleandowns, 1);
    assert!((out.evaluation.costs.total - 110.0).abs() < 1e-6, "{out:?}");
}

/// The optimum of a one-line, two-product (allergen-free A, milk B) instance by trying every
/// whole-unit production quantity: runs in a period go A then B, shipments take all they can,
/// oldest first (never worse: a unit shipped now saves holding, shortage is per unit either way).
fn exhaustive(p: &Plant) -> Option<f64> {
    let t_n = p.periods;
    let line = &p.lines[0];
    let cap = line.hours.iter().cloned().fold(0.0, f64::max) as usize * 2 + 1;
    let mut best: Option<f64> = None;
    let choices = (cap * cap).pow(t_n as u32);
    for code in 0..choices {
        let mut c = code;
        let mut q = vec![[0usize; 2]; t_n];
        for qt in q.iter_mut() {
            qt[0] = c % cap;
            c /= cap;
            qt[1] = c % cap;
            c /= cap;
        }
        if let Some(cost) = price(p, &q)
            && best.is_none_or(|b| cost < b - 1e-9)
        {
            best = Some(cost);
        }
    }
    best
}

fn price(p: &Plant, q: &[[usize; 2]]) -> Option<f64> {
    let line = &p.lines[0];
    let mut milk_on_line = !line.initial_allergens.is_empty();
    let mut cost = 0.0;
    let mut lots: Vec<Vec<(usize, f64)>> = p
        .products
        .iter()
        .map(|pr| {
            if pr.initial_stock > 0.0 {
                vec![(pr.initial_stock_life - 1, pr.initial_stock)]
            } else {
                Vec::new()
            }
        })
        .collect();
    for (t, qt) in q.iter().enumerate() {
        let mut hours = 0.0;
        for (k, &units) in qt.iter().enumerate() {
            if units == 0 {
                continue;
            }
            let pr = &p.products[k];
            let rate = line.rate(k)?;
            let is_milk = !pr.allergens.is_empty();
            if milk_on_line && !is_milk {
                hours += p.cleandown_hours;
                cost += p.cleandown_cost;
            }
            milk_on_line = is_milk;
            hours += units as f64 / rate + pr.setup_hours;
            cost += pr.setup_cost;
            lots[k].push((t + pr.shelf_life - 1, units as f64));
        }
        if hours > line.hours[t] + 1e-9 {
            return None;
        }
        if hours > 0.0 && line.crew > p.crews[t] {
            return None;
        }
        for (k, pr) in p.products.iter().enumerate() {
            let mut need = pr.demand[t];
            for lot in lots[k].iter_mut() {
                let take = lot.1.min(need);
                lot.1 -= take;
                need -= take;
            }
            if pr.demand[t] - need < pr.min_service * pr.demand[t] - 1e-9 {
                return None;
            }
            if lots[k].iter().any(|&(by, left)| by <= t && left > 1e-9) {
                return None;
            }
            lots[k].retain(|&(by, left)| by > t && left > 1e-9);
            let held: f64 = lots[k].iter().map(|l| l.1).sum();
            cost += need * pr.shortage_cost + held * pr.holding_cost;
        }
    }
    Some(cost)
}

#[test]
fn small_random_plans_are_solved_to_the_exhaustive_optimum() {
    let mut rng = StdRng::seed_from_u64(20261124);
    let mut checked = 0;
    for case in 0..25 {
        let h: Vec<u32> = (0..3).map(|_| rng.random_range(0..=3)).collect();
        let d =
            |rng: &mut StdRng| -> Vec<u32> { (0..3).map(|_| rng.random_range(0..=4)).collect() };
        let (da, db) = (d(&mut rng), d(&mut rng));
        let yaml = format!(
            "periods: 3
cleandown_hours: {cd}
cleandown_cost: {cdc}
crews: 1
lines:
  - {{id: L1, hours: {h:?}, initial_allergens: {init}, rates: {{A: 2, B: 2}}}}
products:
  - {{id: A, setup_hours: {sa}, setup_cost: {sca}, shelf_life: {la}, initial_stock: {ia}, holding_cost: {hca}, shortage_cost: {sha}, demand: {da:?}}}
  - {{id: B, allergens: [milk], setup_hours: {sb}, setup_cost: {scb}, shelf_life: {lb}, holding_cost: {hcb}, shortage_cost: {shb}, min_service: {ms}, demand: {db:?}}}
",
            cd = rng.random_range(0..=1),
            cdc = rng.random_range(0..=4),
            init = if rng.random_bool(0.5) { "[milk]" } else { "[]" },
            sa = rng.random_range(0..=1) as f64 * 0.5,
            sb = rng.random_range(0..=1) as f64 * 0.5,
            sca = rng.random_range(0..=3),
            scb = rng.random_range(0..=3),
            la = rng.random_range(1..=3),
            lb = rng.random_range(1..=2),
            ia = rng.random_range(0..=2),
            hca = rng.random_range(0..=3) as f64 * 0.25,
            hcb = rng.random_range(0..=3) as f64 * 0.25,
            sha = rng.random_range(1..=4),
            shb = rng.random_range(1..=4),
            ms = if rng.random_bool(0.3) { 1.0 } else { 0.0 },
        );
        let p = plant(&yaml);
        let want = exhaustive(&p);
        match (plan::solve(&p, &settings(), &mut |_| {}), want) {
            (Ok(out), Some(want)) => {
                assert_eq!(out.status, "optimal", "case {case}");
                assert!(
                    (out.evaluation.costs.total - want).abs() < 1e-6,
                    "case {case}: MIP {} vs exhaustive {want}\n{yaml}\n{:?}",
                    out.evaluation.costs.total,
                    out.plan
                );
                checked += 1;
            }
            (Err(PlanError::Infeasible(items)), None) => {
                assert!(!items.is_empty(), "case {case}: no explanation\n{yaml}");
            }
            (got, want) => panic!("case {case}: {got:?} vs exhaustive {want:?}\n{yaml}"),
        }
    }
    assert!(checked >= 15, "only {checked} feasible cases");
}

#[test]
fn generated_plans_pass_the_checker_and_beat_their_start() {
    let p = plan::generate(3, 8, 5, 1).plant().unwrap();
    let s = Settings {
        time_limit_s: 10.0,
        gap: 0.01,
        ..Settings::default()
    };
    let mut log = Vec::new();
    let out = plan::solve(&p, &s, &mut |m| log.push(m.to_string())).unwrap();
    let ev = evaluate(&p, &out.plan);
    assert!(ev.violations.is_empty(), "{:?}", ev.violations);
    assert!(out.evaluation.costs.total <= out.start_cost.unwrap() + 1e-6);
    assert!(out.bound <= out.evaluation.costs.total + 1e-6);
    assert!(log.iter().any(|l| l.starts_with("model: ")), "{log:?}");
    let text = plan::to_text(&p, &out);
    assert!(
        text.starts_with("Plan generated-3x8x5-seed1\nStatus "),
        "{text}"
    );
    let json = plan::to_json(&p, &out);
    assert_eq!(json["periods"].as_array().unwrap().len(), 5);
}

#[test]
fn an_infeasible_plan_names_the_constraints_that_conflict() {
    let yaml = "
periods: 2
cleandown_hours: 1
crews: 1
lines:
  - {id: L1, hours: 8, rates: {A: 10}}
products:
  - {id: A, shelf_life: 1, shortage_cost: 1, min_service: 1.0, demand: [50, 100]}
";
    let err = plan::solve(&plant(yaml), &settings(), &mut |_| {}).unwrap_err();
    let PlanError::Infeasible(items) = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    assert!(text.contains("the plan is infeasible"), "{text}");
    // Day 2 needs 10 h of an 8-h line and A keeps one day, so it cannot be made on day 1.
    assert!(
        items.iter().any(
            |i| matches!(i.conflict, Conflict::Hours { line: 0, period: 1 })
                || matches!(
                    i.conflict,
                    Conflict::Floor {
                        product: 0,
                        period: 1
                    }
                )
        ),
        "{text}"
    );
    assert!(
        text.contains("line L1 day 2: needs 2.00 h more")
            || text.contains("A day 2: at least 100 %"),
        "{text}"
    );
}

fn run(product: usize, quantity: f64, cleandown_before: bool) -> Run {
    Run {
        product,
        quantity,
        cleandown_before,
    }
}

#[test]
fn the_checker_catches_every_kind_of_broken_plan() {
    let p = plant(
        "
periods: 2
cleandown_hours: 1
crews: 1
lines:
  - {id: L1, hours: 5, initial_allergens: [milk], rates: {A: 10, B: 10}}
  - {id: L2, hours: 5, rates: {A: 10}}
products:
  - {id: A, shelf_life: 1, shortage_cost: 1, demand: [20, 10]}
  - {id: B, allergens: [milk], shelf_life: 2, shortage_cost: 1, min_service: 0.5, demand: [10, 10]}
",
    );
    let good = Plan {
        runs: vec![
            vec![vec![run(0, 20.0, true), run(1, 20.0, false)], vec![]],
            vec![vec![], vec![run(0, 10.0, false)]],
        ],
        shipped: vec![vec![20.0, 10.0], vec![10.0, 10.0]],
    };
    let ev = evaluate(&p, &good);
    assert!(ev.violations.is_empty(), "{:?}", ev.violations);
    assert_eq!(ev.cleandowns, 1);
    assert!((ev.hours[0][0] - 5.0).abs() < 1e-9);

    let broken = |f: &dyn Fn(&mut Plan)| {
        let mut plan = good.clone();
        f(&mut plan);
        evaluate(&p, &plan).violations
    };
    let v = broken(&|pl| pl.runs[0][0][0].cleandown_before = false);
    assert!(
        matches!(&v[0], Violation::MissingCleandown { left, .. } if left == &vec!["milk".to_string()]),
        "{v:?}"
    );
    let v = broken(&|pl| pl.runs[0][0].swap(0, 1));
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::AllergenFreeAfterAllergen { .. })),
        "{v:?}"
    );
    let v = broken(&|pl| pl.runs[0][0][1].quantity = 30.0);
    assert!(
        v.iter().any(|x| matches!(x, Violation::OverHours { .. })),
        "{v:?}"
    );
    let v = broken(&|pl| pl.runs[1][0].push(run(0, 1.0, false)));
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::OverCrews { period: 0, .. })),
        "{v:?}"
    );
    let v = broken(&|pl| pl.runs[1][1][0].product = 1);
    assert!(
        v.iter().any(|x| matches!(x, Violation::NotMadeHere { .. })),
        "{v:?}"
    );
    // 10 units of A made on day 1 keep one day: unshipped, they expire.
    let v = broken(&|pl| pl.shipped[0][0] = 10.0);
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::Expired { period: 0, .. })),
        "{v:?}"
    );
    let v = broken(&|pl| pl.shipped[1][1] = 4.0);
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::BelowFloor { period: 1, .. })),
        "{v:?}"
    );
    let v = broken(&|pl| pl.shipped[0][1] = 11.0);
    assert!(
        v.iter().any(|x| matches!(x, Violation::OverDemand { .. })),
        "{v:?}"
    );
    let v = broken(&|pl| pl.runs[1][1][0].quantity = 5.0);
    assert!(
        v.iter()
            .any(|x| matches!(x, Violation::ShipsWhatIsNotThere { .. })),
        "{v:?}"
    );
}
