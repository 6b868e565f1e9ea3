//! An independent check of a job-shop schedule: shares no code with the search. Every
//! operation once, in its job's order, none overlapping on a machine, the stated makespan true.

use super::instance::JobShop;

/// Start times per job and operation, and the makespan the solver claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub start: Vec<Vec<u64>>,
    pub makespan: u64,
}

/// Everything wrong with `s` for `inst` (empty when feasible).
pub fn check(inst: &JobShop, s: &Schedule) -> Vec<String> {
    let mut out = Vec::new();
    if s.start.len() != inst.jobs.len() {
        out.push(format!(
            "{} jobs scheduled, the instance has {}",
            s.start.len(),
            inst.jobs.len()
        ));
        return out;
    }
    let mut by_machine: Vec<Vec<(u64, u64, usize, usize)>> = vec![Vec::new(); inst.machines];
    let mut end_max = 0;
    for (j, (ops, starts)) in inst.jobs.iter().zip(&s.start).enumerate() {
        if ops.len() != starts.len() {
            out.push(format!(
                "job {j}: {} operations scheduled of {}",
                starts.len(),
                ops.len()
            ));
            continue;
        }
        let mut ready = 0;
        for (k, (op, &st)) in ops.iter().zip(starts).enumerate() {
            if st < ready {
                out.push(format!(
                    "job {j} operation {k} starts at {st} before its predecessor ends at {ready}"
                ));
            }
            ready = st + op.duration;
            end_max = end_max.max(ready);
            by_machine[op.machine].push((st, ready, j, k));
        }
    }
    for (m, list) in by_machine.iter_mut().enumerate() {
        list.sort();
        for w in list.windows(2) {
            if w[1].0 < w[0].1 {
                out.push(format!(
                    "machine {m}: job {} op {} [{}, {}) overlaps job {} op {} starting at {}",
                    w[0].2, w[0].3, w[0].0, w[0].1, w[1].2, w[1].3, w[1].0
                ));
            }
        }
    }
    if end_max != s.makespan {
        out.push(format!(
            "the makespan is {end_max}, not the stated {}",
            s.makespan
        ));
    }
    out
}
