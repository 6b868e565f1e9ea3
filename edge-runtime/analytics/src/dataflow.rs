//! The rollup dataflow on timely: samples are partitioned by series across workers, each worker
//! runs its own [`Windows`]; the timely timestamp *is* the watermark (event-time ms), so the
//! input frontier tells every worker which windows are complete.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Exchange as _, Inspect, Operator, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

use crate::windows::{Rollup, Sample, WindowSpec, Windows};

fn partition(s: &Sample) -> u64 {
    let mut h = DefaultHasher::new();
    s.series.hash(&mut h);
    h.finish()
}

/// One step of the input: samples that arrived, then the watermark after them.
#[derive(Debug, Clone)]
pub struct Epoch {
    pub samples: Vec<Sample>,
    pub watermark: i64,
}

/// What a run produced: every emission (first and corrected), and the late counters.
#[derive(Debug, Default)]
pub struct Output {
    pub rollups: Vec<Rollup>,
    pub late: u64,
    pub too_late: u64,
}

/// Where the dataflow runs: threads of this process, or one process of a cluster (timely's
/// TCP cluster mode; every process runs the same call with its own `process` index). In a
/// cluster, process 0 reads the input and every result is gathered back to it, so the other
/// processes are pure compute and need no access to the data.
#[derive(Debug, Clone)]
pub enum Workers {
    Threads(usize),
    Cluster {
        threads: usize,
        process: usize,
        addresses: Vec<String>,
    },
}

impl Workers {
    fn config(&self) -> timely::Config {
        match self {
            Workers::Threads(n) => timely::Config::process((*n).max(1)),
            Workers::Cluster {
                threads,
                process,
                addresses,
            } => timely::Config {
                communication: timely::CommunicationConfig::Cluster {
                    threads: (*threads).max(1),
                    process: *process,
                    addresses: addresses.clone(),
                    report: false,
                    zerocopy: false,
                },
                worker: timely::WorkerConfig::default(),
            },
        }
    }
}

/// What leaves the rollup operator: results, and each worker's late counts once its input ends
/// (data like the rollups, so a cluster gathers both to process 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Emitted {
    Rollup(Rollup),
    Late { late: u64, too_late: u64 },
}

impl Workers {
    fn gathers(&self) -> bool {
        matches!(self, Workers::Cluster { .. })
    }

    /// Whether this process reads the input and receives the results.
    pub fn is_leader(&self) -> bool {
        match self {
            Workers::Threads(_) => true,
            Workers::Cluster { process, .. } => *process == 0,
        }
    }
}

/// Runs the rollup dataflow over `epochs`. In a cluster the input is read by the first worker
/// of process 0, which returns every result and count; the other processes return nothing.
pub fn run_rollups(
    workers: Workers,
    specs: Vec<WindowSpec>,
    late_horizon_ms: i64,
    epochs: Vec<Epoch>,
) -> Result<Output, String> {
    let rollups = Arc::new(Mutex::new(Vec::new()));
    let sink = rollups.clone();
    let (late, too_late) = run_rollups_with(workers, specs, late_horizon_ms, epochs, move |r| {
        sink.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    })?;
    let rollups = std::mem::take(&mut *rollups.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Output {
        rollups,
        late,
        too_late,
    })
}

/// The dataflow with a streaming input (any iterator of epochs, e.g. a channel) and an output
/// callback; returns the late and too-late counts (of all workers; in a cluster, on process 0).
/// `started` is called by every worker of this process once it is up (in a cluster: once every
/// process has joined), so a caller can time out a cluster that never forms.
pub fn run_rollups_with<I, F>(
    workers: Workers,
    specs: Vec<WindowSpec>,
    late_horizon_ms: i64,
    epochs: I,
    emit: F,
) -> Result<(u64, u64), String>
where
    I: IntoIterator<Item = Epoch> + Send + 'static,
    F: Fn(Rollup) + Send + Sync + 'static,
{
    run_rollups_started(workers, specs, late_horizon_ms, epochs, emit, || {})
}

/// [`run_rollups_with`] with a callback run when this process's workers have started.
pub fn run_rollups_started<I, F, S>(
    workers: Workers,
    specs: Vec<WindowSpec>,
    late_horizon_ms: i64,
    epochs: I,
    emit: F,
    started: S,
) -> Result<(u64, u64), String>
where
    I: IntoIterator<Item = Epoch> + Send + 'static,
    F: Fn(Rollup) + Send + Sync + 'static,
    S: Fn() + Send + Sync + 'static,
{
    let counters = Arc::new(Mutex::new((0u64, 0u64)));
    let source = Arc::new(Mutex::new(Some(epochs)));
    let emit = Arc::new(emit);
    let totals = counters.clone();
    let gather = workers.gathers();
    let guards = timely::execute(workers.config(), move |worker| {
        // Every worker reports (the callback is idempotent): a cluster process holds no
        // worker 0 of its own.
        started();
        let mut input: InputHandle<u64, CapacityContainerBuilder<Vec<Sample>>> = InputHandle::new();
        let probe = ProbeHandle::new();
        let specs = specs.clone();
        let emit = emit.clone();
        let counters = totals.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let out = input
                .to_stream(scope)
                .unary_frontier(Exchange::new(partition), "Rollup", move |_cap, _info| {
                    let mut windows = Windows::new(specs, late_horizon_ms);
                    let mut held: Option<timely::dataflow::operators::Capability<u64>> = None;
                    move |(input, frontier), output| {
                        input.for_each(|cap, data| {
                            let mut corrections = Vec::new();
                            for s in data.drain(..) {
                                corrections.extend(windows.insert(&s));
                            }
                            if !corrections.is_empty() {
                                output
                                    .session(&cap)
                                    .give_iterator(corrections.into_iter().map(Emitted::Rollup));
                            }
                            let earlier = match (cap.least(), held.as_ref()) {
                                (Some(t), Some(h)) => t < h.time(),
                                (Some(_), None) => true,
                                (None, _) => false,
                            };
                            if earlier {
                                held = cap.retain_least(output.output_index());
                            }
                        });
                        let closed = match frontier.frontier().first() {
                            Some(&t) => windows.advance(wm_of(t)),
                            None => windows.finish(),
                        };
                        if let Some(cap) = held.as_mut() {
                            let mut session = output.session(&*cap);
                            session.give_iterator(closed.into_iter().map(Emitted::Rollup));
                            if frontier.frontier().is_empty() {
                                session.give(Emitted::Late {
                                    late: windows.late,
                                    too_late: windows.too_late,
                                });
                            }
                            drop(session);
                            match frontier.frontier().first() {
                                Some(&t) if t > *cap.time() => cap.downgrade(&t),
                                Some(_) => {}
                                None => held = None,
                            }
                        }
                    }
                })
                .container::<Vec<Emitted>>();
            let out = if gather { out.exchange(|_| 0) } else { out };
            out.inspect(move |e: &Emitted| match e {
                Emitted::Rollup(r) => emit(r.clone()),
                Emitted::Late { late, too_late } => {
                    let mut c = counters.lock().unwrap_or_else(|p| p.into_inner());
                    c.0 += late;
                    c.1 += too_late;
                }
            })
            .probe_with(&probe);
        });
        // Only the first worker reads the input; the exchange spreads it by series.
        let mine = if worker.index() == 0 {
            source.lock().unwrap_or_else(|p| p.into_inner()).take()
        } else {
            None
        };
        if let Some(epochs) = mine {
            for e in epochs {
                for s in e.samples {
                    input.send(s);
                }
                let t = ts_of(e.watermark);
                if t > *input.time() {
                    input.advance_to(t);
                }
                while probe.less_than(input.time()) {
                    worker.step();
                }
            }
        }
        input.close();
        while worker.step() {}
    })
    .map_err(|e| format!("timely: {e}"))?;
    drop(guards);
    let c = *counters.lock().unwrap_or_else(|p| p.into_inner());
    Ok(c)
}

/// A long-running single-worker rollup dataflow on its own thread: push epochs, take rollups.
pub struct LiveRollups {
    tx: Option<std::sync::mpsc::Sender<Epoch>>,
    out: std::sync::mpsc::Receiver<Rollup>,
    thread: Option<std::thread::JoinHandle<Result<(u64, u64), String>>>,
}

impl LiveRollups {
    pub fn start(specs: Vec<WindowSpec>, late_horizon_ms: i64) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Epoch>();
        let (otx, out) = std::sync::mpsc::channel::<Rollup>();
        let otx = Mutex::new(otx);
        let thread = std::thread::Builder::new()
            .name("analytics-rollups".into())
            .spawn(move || {
                run_rollups_with(Workers::Threads(1), specs, late_horizon_ms, rx, move |r| {
                    let _ = otx.lock().unwrap_or_else(|p| p.into_inner()).send(r);
                })
            })?;
        Ok(Self {
            tx: Some(tx),
            out,
            thread: Some(thread),
        })
    }

    /// Feeds samples and the watermark after them.
    pub fn push(&self, epoch: Epoch) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(epoch);
        }
    }

    /// Rollups emitted so far.
    pub fn take(&self) -> Vec<Rollup> {
        self.out.try_iter().collect()
    }

    /// Closes the input (every open window is emitted) and returns the last rollups and the
    /// late and too-late counts.
    pub fn finish(mut self) -> (Vec<Rollup>, u64, u64) {
        self.tx = None;
        let (late, too_late) = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .and_then(|r| r.ok())
            .unwrap_or((0, 0));
        (self.out.try_iter().collect(), late, too_late)
    }
}

/// Timely timestamps are unsigned: event-time ms shifted by 2⁶³.
fn ts_of(wm: i64) -> u64 {
    (wm as u64) ^ (1 << 63)
}

fn wm_of(t: u64) -> i64 {
    (t ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::windows::tests::{assert_matches_reference, brute, random_stream};

    fn epochs(stream: &[Sample], delay: i64, per_epoch: usize) -> Vec<Epoch> {
        let mut max_ts = i64::MIN;
        stream
            .chunks(per_epoch)
            .map(|c| {
                max_ts = c.iter().map(|s| s.ts_ms).fold(max_ts, i64::max);
                Epoch {
                    samples: c.to_vec(),
                    watermark: max_ts - delay,
                }
            })
            .collect()
    }

    fn latest(rollups: Vec<Rollup>) -> BTreeMap<(String, String, i64), Rollup> {
        let mut m: BTreeMap<(String, String, i64), Rollup> = BTreeMap::new();
        for r in rollups {
            let k = (r.series.clone(), r.window.clone(), r.start_ms);
            if m.get(&k).is_none_or(|o| r.revision >= o.revision) {
                m.insert(k, r);
            }
        }
        m
    }

    #[test]
    fn one_worker_matches_the_reference_and_two_workers_match_one() {
        let specs = WindowSpec::standard();
        let stream = random_stream(42, 20_000, 3_000);
        let one = run_rollups(
            Workers::Threads(1),
            specs.clone(),
            3_600_000,
            epochs(&stream, 1_000, 100),
        )
        .unwrap();
        assert!(one.late > 0, "late data exercised");
        assert_eq!(one.too_late, 0);
        let l1 = latest(one.rollups);
        assert_matches_reference(&l1, &brute(&stream, &specs));
        let two = run_rollups(
            Workers::Threads(2),
            specs.clone(),
            3_600_000,
            epochs(&stream, 1_000, 100),
        )
        .unwrap();
        let l2 = latest(two.rollups);
        assert_eq!(l1, l2, "2 workers give exactly the 1-worker results");
        assert_eq!(two.late, one.late);
    }

    #[test]
    fn two_processes_of_two_workers_match_one_worker() {
        let specs = WindowSpec::standard();
        let stream = random_stream(7, 10_000, 2_000);
        let input = epochs(&stream, 1_000, 100);
        let one =
            run_rollups(Workers::Threads(1), specs.clone(), 3_600_000, input.clone()).unwrap();
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .unwrap()
            })
            .collect();
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let handles: Vec<_> = (0..2)
            .map(|process| {
                let (specs, input, addresses) = (specs.clone(), input.clone(), addresses.clone());
                std::thread::spawn(move || {
                    run_rollups(
                        Workers::Cluster {
                            threads: 2,
                            process,
                            addresses,
                        },
                        specs,
                        3_600_000,
                        input,
                    )
                })
            })
            .collect();
        let outputs: Vec<Output> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert!(
            outputs[1].rollups.is_empty() && outputs[1].late == 0,
            "results are gathered to process 0"
        );
        assert_eq!(outputs[0].late, one.late);
        assert_eq!(outputs[0].too_late, one.too_late);
        let [leader, _] = <[Output; 2]>::try_from(outputs).unwrap();
        assert_eq!(
            latest(leader.rollups),
            latest(one.rollups),
            "2 × 2 workers give the 1-worker results"
        );
    }

    #[test]
    fn live_rollups_stream_like_the_batch_run() {
        let specs = WindowSpec::standard();
        let stream = random_stream(3, 5_000, 1_000);
        let input = epochs(&stream, 1_000, 50);
        let batch =
            run_rollups(Workers::Threads(1), specs.clone(), 3_600_000, input.clone()).unwrap();
        let live = LiveRollups::start(specs, 3_600_000).unwrap();
        let mut got = Vec::new();
        for e in input {
            live.push(e);
            got.extend(live.take());
        }
        let (rest, late, _) = live.finish();
        got.extend(rest);
        assert_eq!(late, batch.late);
        assert_eq!(latest(got), latest(batch.rollups));
    }
}
