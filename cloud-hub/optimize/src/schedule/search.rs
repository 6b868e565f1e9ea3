//! Job-shop search: a Giffler–Thompson active schedule (most work remaining first) to start, then
//! tabu search over Nowicki and Smutnicki's N5 neighbourhood — swaps of the first or last two
//! operations of the blocks of a critical path, which never create a cycle — with aspiration,
//! a random tenure, and restarts from the best schedule, slightly shaken, when it stalls.

use std::collections::HashMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::check::Schedule;
use super::instance::JobShop;
use crate::routing::Settings;

/// Reported on each new best schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub elapsed_s: f64,
    pub iterations: u64,
    pub makespan: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("the instance has no operations")]
    Empty,
    #[error("job {job} operation {op} has duration 0; give every operation a positive duration")]
    ZeroDuration { job: usize, op: usize },
}

/// The instance flattened: operation ids, their machine, duration, job neighbours.
struct Flat {
    dur: Vec<u64>,
    machine: Vec<usize>,
    job_prev: Vec<Option<usize>>,
    job_next: Vec<Option<usize>>,
    /// (job, index in job) of each operation.
    pos: Vec<(usize, usize)>,
    machines: usize,
}

impl Flat {
    fn new(inst: &JobShop) -> Self {
        let mut f = Flat {
            dur: vec![],
            machine: vec![],
            job_prev: vec![],
            job_next: vec![],
            pos: vec![],
            machines: inst.machines,
        };
        for (j, ops) in inst.jobs.iter().enumerate() {
            let base = f.dur.len();
            for (k, o) in ops.iter().enumerate() {
                f.dur.push(o.duration);
                f.machine.push(o.machine);
                f.job_prev.push((k > 0).then(|| base + k - 1));
                f.job_next.push((k + 1 < ops.len()).then(|| base + k + 1));
                f.pos.push((j, k));
            }
        }
        f
    }

    fn n(&self) -> usize {
        self.dur.len()
    }
}

/// Machine sequences and what evaluating them gives.
#[derive(Clone)]
struct Solution {
    seq: Vec<Vec<usize>>,
}

/// Heads (earliest starts) and makespan, or `None` if the sequences contain a cycle.
struct Eval {
    head: Vec<u64>,
    makespan: u64,
    mach_prev: Vec<Option<usize>>,
    mach_next: Vec<Option<usize>>,
}

fn evaluate(
    f: &Flat,
    s: &Solution,
    scratch: &mut Vec<u32>,
    order: &mut Vec<usize>,
) -> Option<Eval> {
    let n = f.n();
    let mut mach_prev = vec![None; n];
    let mut mach_next = vec![None; n];
    for seq in &s.seq {
        for w in seq.windows(2) {
            mach_next[w[0]] = Some(w[1]);
            mach_prev[w[1]] = Some(w[0]);
        }
    }
    scratch.clear();
    scratch.extend(
        (0..n).map(|o| u32::from(f.job_prev[o].is_some()) + u32::from(mach_prev[o].is_some())),
    );
    order.clear();
    order.extend((0..n).filter(|&o| scratch[o] == 0));
    let mut head = vec![0u64; n];
    let mut i = 0;
    while i < order.len() {
        let o = order[i];
        i += 1;
        let end = head[o] + f.dur[o];
        for next in [f.job_next[o], mach_next[o]].into_iter().flatten() {
            head[next] = head[next].max(end);
            scratch[next] -= 1;
            if scratch[next] == 0 {
                order.push(next);
            }
        }
    }
    if order.len() != n {
        return None;
    }
    let makespan = (0..n).map(|o| head[o] + f.dur[o]).max().unwrap_or(0);
    Some(Eval {
        head,
        makespan,
        mach_prev,
        mach_next,
    })
}

/// One critical path as its blocks: runs of consecutive operations on one machine.
fn critical_blocks(f: &Flat, e: &Eval) -> Vec<Vec<usize>> {
    let n = f.n();
    let Some(mut cur) = (0..n).find(|&o| e.head[o] + f.dur[o] == e.makespan) else {
        return Vec::new();
    };
    let mut path = vec![cur];
    while e.head[cur] > 0 {
        // Prefer the machine predecessor: it keeps blocks long, where N5 moves live.
        let tight = |p: Option<usize>| p.filter(|&p| e.head[p] + f.dur[p] == e.head[cur]);
        match tight(e.mach_prev[cur]).or_else(|| tight(f.job_prev[cur])) {
            Some(p) => {
                cur = p;
                path.push(cur);
            }
            None => break,
        }
    }
    path.reverse();
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    for o in path {
        match blocks.last_mut() {
            Some(b)
                if f.machine[*b.last().unwrap_or(&o)] == f.machine[o]
                    && e.mach_next[*b.last().unwrap_or(&o)] == Some(o) =>
            {
                b.push(o)
            }
            _ => blocks.push(vec![o]),
        }
    }
    blocks
}

/// N5 moves: pairs (a, b), a immediately before b on their machine, to swap.
fn n5_moves(blocks: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let last = blocks.len().saturating_sub(1);
    let mut moves = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if b.len() < 2 {
            continue;
        }
        if i > 0 {
            moves.push((b[0], b[1]));
        }
        if i < last && (b.len() > 2 || i == 0) {
            moves.push((b[b.len() - 2], b[b.len() - 1]));
        }
    }
    moves
}

fn swap(s: &mut Solution, f: &Flat, a: usize, b: usize) {
    let seq = &mut s.seq[f.machine[a]];
    if let (Some(i), Some(j)) = (
        seq.iter().position(|&x| x == a),
        seq.iter().position(|&x| x == b),
    ) {
        seq.swap(i, j);
    }
}

/// Giffler–Thompson: repeatedly take the machine whose next operation can finish first, and
/// among the operations that could start on it before that, the one whose job has most work left.
fn giffler_thompson(f: &Flat, inst: &JobShop, rng: &mut StdRng) -> Solution {
    let jobs = inst.jobs.len();
    let mut next_k = vec![0usize; jobs];
    let mut job_ready = vec![0u64; jobs];
    let mut mach_ready = vec![0u64; f.machines];
    let mut remaining: Vec<u64> = inst
        .jobs
        .iter()
        .map(|j| j.iter().map(|o| o.duration).sum())
        .collect();
    let base: Vec<usize> = inst
        .jobs
        .iter()
        .scan(0, |acc, j| {
            let b = *acc;
            *acc += j.len();
            Some(b)
        })
        .collect();
    let mut seq = vec![Vec::new(); f.machines];
    loop {
        let cands: Vec<usize> = (0..jobs)
            .filter(|&j| next_k[j] < inst.jobs[j].len())
            .collect();
        if cands.is_empty() {
            break;
        }
        let start = |j: usize| job_ready[j].max(mach_ready[inst.jobs[j][next_k[j]].machine]);
        let Some(jstar) = cands
            .iter()
            .copied()
            .min_by_key(|&j| start(j) + inst.jobs[j][next_k[j]].duration)
        else {
            break;
        };
        let m = inst.jobs[jstar][next_k[jstar]].machine;
        let bound = start(jstar) + inst.jobs[jstar][next_k[jstar]].duration;
        let conflict: Vec<usize> = cands
            .into_iter()
            .filter(|&j| inst.jobs[j][next_k[j]].machine == m && start(j) < bound)
            .collect();
        let best = conflict.iter().map(|&j| remaining[j]).max().unwrap_or(0);
        let top: Vec<usize> = conflict
            .into_iter()
            .filter(|&j| remaining[j] == best)
            .collect();
        let j = top[rng.random_range(0..top.len())];
        let op = inst.jobs[j][next_k[j]];
        let st = start(j);
        job_ready[j] = st + op.duration;
        mach_ready[m] = st + op.duration;
        remaining[j] -= op.duration;
        seq[m].push(base[j] + next_k[j]);
        next_k[j] += 1;
    }
    Solution { seq }
}

/// Searches until the time limit or iteration budget; returns the best schedule found.
pub fn solve(
    inst: &JobShop,
    settings: &Settings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Schedule, ScheduleError> {
    if inst.operations() == 0 {
        return Err(ScheduleError::Empty);
    }
    for (j, ops) in inst.jobs.iter().enumerate() {
        if let Some(k) = ops.iter().position(|o| o.duration == 0) {
            return Err(ScheduleError::ZeroDuration { job: j, op: k });
        }
    }
    let t0 = Instant::now();
    let f = Flat::new(inst);
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let (mut scratch, mut order) = (Vec::new(), Vec::new());
    let mut cur = giffler_thompson(&f, inst, &mut rng);
    let Some(mut cur_eval) = evaluate(&f, &cur, &mut scratch, &mut order) else {
        unreachable!("a Giffler–Thompson schedule is acyclic by construction")
    };
    let mut best = cur.clone();
    let mut best_ms = cur_eval.makespan;
    progress(Progress {
        elapsed_s: t0.elapsed().as_secs_f64(),
        iterations: 0,
        makespan: best_ms,
    });
    let lower = inst.lower_bound();
    let n = f.n();
    let tenure_base = 10 + n / f.machines.max(1);
    let mut tabu: HashMap<(usize, usize), u64> = HashMap::new();
    let (mut iter, mut stall) = (0u64, 0u64);
    let stall_limit = 2_000 + 20 * n as u64;
    loop {
        if best_ms <= lower
            || settings.cancelled()
            || settings.max_iterations.is_some_and(|m| iter >= m)
            || (settings.max_iterations.is_none() || !settings.time_limit.is_zero())
                && t0.elapsed() >= settings.time_limit
                && iter > 0
        {
            break;
        }
        iter += 1;
        let moves = n5_moves(&critical_blocks(&f, &cur_eval));
        // The best admissible move: not tabu, or tabu but better than the best so far.
        let mut chosen: Option<(u64, (usize, usize), Eval)> = None;
        for &(a, b) in &moves {
            swap(&mut cur, &f, a, b);
            if let Some(e) = evaluate(&f, &cur, &mut scratch, &mut order) {
                let is_tabu = tabu.get(&(a, b)).is_some_and(|&until| until > iter);
                if (!is_tabu || e.makespan < best_ms)
                    && chosen.as_ref().is_none_or(|c| e.makespan < c.0)
                {
                    chosen = Some((e.makespan, (a, b), e));
                }
            }
            swap(&mut cur, &f, b, a);
        }
        let Some((ms, (a, b), e)) = chosen.or_else(|| {
            // Everything tabu: take a random move and let the tenure run out.
            let &(a, b) = moves.get(rng.random_range(0..moves.len().max(1)))?;
            swap(&mut cur, &f, a, b);
            let e = evaluate(&f, &cur, &mut scratch, &mut order);
            swap(&mut cur, &f, b, a);
            e.map(|e| (e.makespan, (a, b), e))
        }) else {
            break; // no critical block of two: the schedule is optimal for its critical path
        };
        swap(&mut cur, &f, a, b);
        cur_eval = e;
        // Forbid putting a back before b for a while.
        tabu.insert(
            (b, a),
            iter + tenure_base as u64 + rng.random_range(0..=tenure_base as u64 / 2),
        );
        if ms < best_ms {
            best_ms = ms;
            best = cur.clone();
            stall = 0;
            progress(Progress {
                elapsed_s: t0.elapsed().as_secs_f64(),
                iterations: iter,
                makespan: best_ms,
            });
        } else {
            stall += 1;
        }
        if stall >= stall_limit {
            // Restart from the best, shaken by a few random critical swaps.
            cur = best.clone();
            for _ in 0..rng.random_range(2..6) {
                let Some(ev) = evaluate(&f, &cur, &mut scratch, &mut order) else {
                    break;
                };
                let mv = n5_moves(&critical_blocks(&f, &ev));
                if mv.is_empty() {
                    break;
                }
                let (a, b) = mv[rng.random_range(0..mv.len())];
                swap(&mut cur, &f, a, b);
            }
            match evaluate(&f, &cur, &mut scratch, &mut order) {
                Some(e) => cur_eval = e,
                None => {
                    cur = best.clone();
                    cur_eval = evaluate(&f, &cur, &mut scratch, &mut order)
                        .expect("the best schedule is acyclic");
                }
            }
            tabu.clear();
            stall = 0;
        }
        if tabu.len() > 4 * n {
            tabu.retain(|_, until| *until > iter);
        }
    }
    let e = evaluate(&f, &best, &mut scratch, &mut order).expect("the best schedule is acyclic");
    let mut start: Vec<Vec<u64>> = inst.jobs.iter().map(|j| vec![0; j.len()]).collect();
    for o in 0..n {
        let (j, k) = f.pos[o];
        start[j][k] = e.head[o];
    }
    Ok(Schedule {
        start,
        makespan: e.makespan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::instance::Op;

    #[test]
    fn n5_moves_skip_the_outer_ends_of_the_path() {
        // Blocks: [1,2,3] first, [4] middle, [5,6] last.
        let b = vec![vec![1, 2, 3], vec![4], vec![5, 6]];
        assert_eq!(n5_moves(&b), vec![(2, 3), (5, 6)]);
        // A single block is one machine's whole load: no swap can shorten it.
        assert!(n5_moves(&[vec![1, 2, 3]]).is_empty());
    }

    #[test]
    fn giffler_thompson_gives_an_acyclic_schedule() {
        let inst = JobShop {
            name: "t".into(),
            machines: 2,
            jobs: vec![
                vec![
                    Op {
                        machine: 0,
                        duration: 3,
                    },
                    Op {
                        machine: 1,
                        duration: 2,
                    },
                ],
                vec![
                    Op {
                        machine: 1,
                        duration: 4,
                    },
                    Op {
                        machine: 0,
                        duration: 1,
                    },
                ],
            ],
            optimum: None,
        };
        let f = Flat::new(&inst);
        let s = giffler_thompson(&f, &inst, &mut StdRng::seed_from_u64(1));
        let e = evaluate(&f, &s, &mut Vec::new(), &mut Vec::new()).unwrap();
        // Machine 1 carries 6 units: the schedule meets that bound.
        assert_eq!(e.makespan, 6);
    }
}
