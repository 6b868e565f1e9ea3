//! One runner for the hub's long jobs (forecasts and optimisations): worker threads of its own
//! (tokio's blocking pool serves the API's and ingest's store work and must never be taken by
//! a solver) that run at a lower CPU priority than ingest and the API, a bounded queue per
//! tenant served round-robin, at most `workers - 1` jobs of one tenant running at once (so a
//! tenant's thousand jobs never delay another tenant's first), a time limit per job and
//! cancellation.
//!
//! The queueing policy is [`Queues`], pure and tested on its own; the runner is the threads
//! around it. Jobs are closures that own their bookkeeping (status, store); the runner only
//! decides when they run and tells them when to stop.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a job's closure is handed: the flag it must poll (set by a cancel or its time limit).
pub type Cancel = Arc<AtomicBool>;
type Work = Box<dyn FnOnce(Cancel) + Send>;

/// A job waiting for a worker.
struct Queued<W> {
    id: String,
    limit: Duration,
    cancel: Cancel,
    work: W,
}

/// The queueing policy: per-tenant FIFO queues, tenants taken round-robin, at most
/// `per_tenant` jobs of one tenant queued or running.
pub struct Queues<W> {
    per_tenant: usize,
    /// Jobs of one tenant that may run at once.
    running_cap: usize,
    queued: BTreeMap<String, VecDeque<Queued<W>>>,
    /// Tenants with queued jobs, in the order they get their next turn.
    turns: VecDeque<String>,
    /// Running jobs: (tenant, id) → cancel flag and deadline.
    running: HashMap<(String, String), (Cancel, Instant)>,
}

/// Why a job was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this tenant already has {0} jobs queued or running, the most it may have; wait for one to end or cancel one"
)]
pub struct QueueFull(pub usize);

/// What a cancel request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Taken out of the queue: it will never run.
    Dequeued,
    /// Running: told to stop (it ends at its next check).
    Signalled,
    /// Neither queued nor running here (finished, or unknown).
    NotLive,
}

impl<W> Queues<W> {
    pub fn new(per_tenant: usize, running_cap: usize) -> Self {
        Queues {
            per_tenant: per_tenant.max(1),
            running_cap: running_cap.max(1),
            queued: BTreeMap::new(),
            turns: VecDeque::new(),
            running: HashMap::new(),
        }
    }

    fn running_of(&self, tenant: &str) -> usize {
        self.running.keys().filter(|(t, _)| t == tenant).count()
    }

    fn live(&self, tenant: &str) -> usize {
        self.queued.get(tenant).map_or(0, VecDeque::len) + self.running_of(tenant)
    }

    pub fn push(
        &mut self,
        tenant: &str,
        id: &str,
        limit: Duration,
        work: W,
    ) -> Result<Cancel, QueueFull> {
        if self.live(tenant) >= self.per_tenant {
            return Err(QueueFull(self.per_tenant));
        }
        let cancel = Cancel::default();
        let q = self.queued.entry(tenant.to_owned()).or_default();
        if q.is_empty() {
            self.turns.push_back(tenant.to_owned());
        }
        q.push_back(Queued {
            id: id.to_owned(),
            limit,
            cancel: cancel.clone(),
            work,
        });
        Ok(cancel)
    }

    /// The next job to run (the first tenant in turn below its running cap), now counted as
    /// running.
    fn pop(&mut self, now: Instant) -> Option<(String, String, Cancel, W)> {
        let at = self
            .turns
            .iter()
            .position(|t| self.running_of(t) < self.running_cap)?;
        let tenant = self.turns.remove(at)?;
        let q = self.queued.get_mut(&tenant)?;
        let job = q.pop_front()?;
        if q.is_empty() {
            self.queued.remove(&tenant);
        } else {
            self.turns.push_back(tenant.clone());
        }
        let deadline = now.checked_add(job.limit).unwrap_or(now);
        self.running.insert(
            (tenant.clone(), job.id.clone()),
            (job.cancel.clone(), deadline),
        );
        Some((tenant, job.id, job.cancel, job.work))
    }

    fn finished(&mut self, tenant: &str, id: &str) {
        self.running.remove(&(tenant.to_owned(), id.to_owned()));
    }

    pub fn cancel(&mut self, tenant: &str, id: &str) -> Cancelled {
        if let Some((flag, _)) = self.running.get(&(tenant.to_owned(), id.to_owned())) {
            flag.store(true, Ordering::Relaxed);
            return Cancelled::Signalled;
        }
        let Some(q) = self.queued.get_mut(tenant) else {
            return Cancelled::NotLive;
        };
        let Some(i) = q.iter().position(|j| j.id == id) else {
            return Cancelled::NotLive;
        };
        q.remove(i);
        if q.is_empty() {
            self.queued.remove(tenant);
            self.turns.retain(|t| t != tenant);
        }
        Cancelled::Dequeued
    }

    /// Signals every running job past its deadline; how many.
    fn expire(&self, now: Instant) -> usize {
        let mut n = 0;
        for (flag, deadline) in self.running.values() {
            if now >= *deadline && !flag.swap(true, Ordering::Relaxed) {
                n += 1;
            }
        }
        n
    }

    /// Jobs queued (not yet running), over all tenants.
    pub fn queued(&self) -> usize {
        self.queued.values().map(VecDeque::len).sum()
    }
}

struct Shared {
    queues: Mutex<Queues<Work>>,
    ready: Condvar,
}

/// The hub's job runner (cheap to clone).
#[derive(Clone)]
pub struct JobRunner {
    shared: Arc<Shared>,
}

impl JobRunner {
    /// `workers` threads (at least one), at most `per_tenant` jobs of a tenant queued or
    /// running, at most `workers - 1` of them running (one with a single worker).
    pub fn new(workers: usize, per_tenant: usize) -> Self {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::new(per_tenant, (workers - 1).max(1))),
            ready: Condvar::new(),
        });
        for i in 0..workers {
            let s = shared.clone();
            // A thread that cannot start leaves fewer workers; the hub still answers.
            if let Err(e) = std::thread::Builder::new()
                .name(format!("hub-job-{i}"))
                .spawn(move || worker(&s))
            {
                tracing::error!(error = %e, "a job worker thread could not start");
            }
        }
        let s = Arc::downgrade(&shared);
        let _ = std::thread::Builder::new()
            .name("hub-job-clock".into())
            .spawn(move || {
                while let Some(s) = s.upgrade() {
                    let n = lock(&s.queues).expire(Instant::now());
                    if n > 0 {
                        tracing::warn!(
                            jobs = n,
                            "jobs reached their time limit and were told to stop"
                        );
                    }
                    drop(s);
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        JobRunner { shared }
    }

    /// Queues `work` for `tenant`; it is handed the job's cancel flag when it runs and must
    /// stop soon after the flag is set (by [`JobRunner::cancel`] or after `limit`).
    pub fn submit(
        &self,
        tenant: &str,
        id: &str,
        limit: Duration,
        work: impl FnOnce(Cancel) + Send + 'static,
    ) -> Result<(), QueueFull> {
        lock(&self.shared.queues).push(tenant, id, limit, Box::new(work))?;
        self.shared.ready.notify_one();
        Ok(())
    }

    pub fn cancel(&self, tenant: &str, id: &str) -> Cancelled {
        lock(&self.shared.queues).cancel(tenant, id)
    }

    pub fn queued(&self) -> usize {
        lock(&self.shared.queues).queued()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Solvers yield the CPU to ingest and the API: on Linux a thread has its own nice value. At
/// 19 a job gets about 1/68 of a contended core's time against a normal thread (at 10: 1/9);
/// an idle box still runs it at full speed, and its time limit bounds how long it can wait.
const JOB_NICE: libc::c_int = 19;

fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, JOB_NICE) != 0 {
            tracing::debug!("job worker keeps the normal CPU priority (setpriority refused)");
        }
    }
}

fn worker(s: &Shared) {
    lower_priority();
    loop {
        let (tenant, id, cancel, work) = {
            let mut q = lock(&s.queues);
            loop {
                if let Some(job) = q.pop(Instant::now()) {
                    break job;
                }
                q = s.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        // A job that panics ends as failed in its own bookkeeping (its closure's drop guard);
        // the worker lives on.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(cancel)));
        if ran.is_err() {
            tracing::error!(%tenant, job = %id, "a job panicked");
        }
        lock(&s.queues).finished(&tenant, &id);
        // A tenant that was at its running cap may have work that can start now.
        s.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(q: &mut Queues<()>) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((t, id, _, _)) = q.pop(Instant::now()) {
            out.push(format!("{t}/{id}"));
        }
        out
    }

    #[test]
    fn tenants_take_turns_whatever_one_has_queued() {
        let mut q = Queues::new(100, 100);
        for i in 0..5 {
            q.push("a", &format!("a{i}"), Duration::from_secs(1), ())
                .unwrap();
        }
        q.push("b", "b0", Duration::from_secs(1), ()).unwrap();
        q.push("c", "c0", Duration::from_secs(1), ()).unwrap();
        q.push("b", "b1", Duration::from_secs(1), ()).unwrap();
        assert_eq!(
            ids(&mut q),
            [
                "a/a0", "b/b0", "c/c0", "a/a1", "b/b1", "a/a2", "a/a3", "a/a4"
            ]
        );
    }

    #[test]
    fn a_tenant_at_its_running_cap_lets_the_next_tenant_run() {
        let mut q = Queues::new(100, 1);
        for i in 0..3 {
            q.push("a", &format!("a{i}"), Duration::from_secs(1), ())
                .unwrap();
        }
        let (t, id, _, _) = q.pop(Instant::now()).unwrap();
        assert_eq!((t.as_str(), id.as_str()), ("a", "a0"));
        assert!(q.pop(Instant::now()).is_none(), "a is at its cap");
        q.push("b", "b0", Duration::from_secs(1), ()).unwrap();
        let (t, _, _, _) = q.pop(Instant::now()).unwrap();
        assert_eq!(t, "b");
        q.finished("a", "a0");
        let (_, id, _, _) = q.pop(Instant::now()).unwrap();
        assert_eq!(id, "a1");
    }

    #[test]
    fn a_tenant_is_bounded_by_queued_and_running_jobs() {
        let mut q = Queues::new(2, 2);
        q.push("a", "1", Duration::from_secs(1), ()).unwrap();
        q.push("a", "2", Duration::from_secs(1), ()).unwrap();
        assert_eq!(
            q.push("a", "3", Duration::from_secs(1), ()).err(),
            Some(QueueFull(2))
        );
        // Other tenants are not affected.
        q.push("b", "1", Duration::from_secs(1), ()).unwrap();
        // Running still counts; finishing frees the place.
        let (t, id, _, _) = q.pop(Instant::now()).unwrap();
        assert!(q.push("a", "3", Duration::from_secs(1), ()).is_err());
        q.finished(&t, &id);
        q.push("a", "3", Duration::from_secs(1), ()).unwrap();
    }

    #[test]
    fn cancel_dequeues_or_signals() {
        let mut q = Queues::new(10, 10);
        let c1 = q.push("a", "1", Duration::from_secs(60), ()).unwrap();
        q.push("a", "2", Duration::from_secs(60), ()).unwrap();
        let _ = q.pop(Instant::now()).unwrap();
        assert_eq!(q.cancel("a", "2"), Cancelled::Dequeued);
        assert_eq!(q.queued(), 0);
        assert!(q.turns.is_empty());
        assert!(!c1.load(Ordering::Relaxed));
        assert_eq!(q.cancel("a", "1"), Cancelled::Signalled);
        assert!(c1.load(Ordering::Relaxed));
        // Another tenant cannot reach it.
        assert_eq!(q.cancel("b", "1"), Cancelled::NotLive);
        assert_eq!(q.cancel("a", "9"), Cancelled::NotLive);
    }

    #[test]
    fn the_clock_signals_jobs_past_their_limit() {
        let mut q = Queues::new(10, 10);
        let c = q.push("a", "1", Duration::from_secs(5), ()).unwrap();
        let t0 = Instant::now();
        let _ = q.pop(t0).unwrap();
        assert_eq!(q.expire(t0 + Duration::from_secs(4)), 0);
        assert_eq!(q.expire(t0 + Duration::from_secs(5)), 1);
        assert!(c.load(Ordering::Relaxed));
        assert_eq!(q.expire(t0 + Duration::from_secs(6)), 0, "signalled once");
    }

    #[test]
    fn runner_runs_jobs_and_survives_a_panic() {
        let r = JobRunner::new(1, 10);
        let (tx, rx) = std::sync::mpsc::channel();
        r.submit("a", "boom", Duration::from_secs(5), |_| panic!("job bug"))
            .unwrap();
        let tx2 = tx.clone();
        r.submit("a", "ok", Duration::from_secs(5), move |_| {
            tx2.send("ran").unwrap()
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("ran"));
        // A job over its limit is told to stop.
        r.submit("a", "slow", Duration::from_millis(100), move |c| {
            let t0 = Instant::now();
            while !c.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
            tx.send(if c.load(Ordering::Relaxed) {
                "stopped"
            } else {
                "ran on"
            })
            .unwrap()
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("stopped"));
    }
}
