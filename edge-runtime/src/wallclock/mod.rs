//! The edge's wall clock, watched once a second against the monotonic clock and the kernel's
//! synchronisation state ([`trust`] decides). The last-known-good time is persisted in the
//! data directory, so a box without RTC battery that boots at 1970 knows its clock is wrong
//! before any time server answers. `/healthz`, `/metrics` and the line screen show the
//! verdict; analytics write no shift report for a period whose clock was not trusted.

pub mod trust;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::journal::clock::{WallState, WallTrust};
use crate::metrics::Metrics;
use crate::time::now_ns;
use trust::{Assessment, Change, Reading, Trust, TrustPolicy};

/// No true time is earlier than this release's date (2026-11-01T00:00:00Z): a wall clock
/// before it was never set.
pub const RELEASE_FLOOR_NS: i64 = 1_793_491_200 * 1_000_000_000;
const LAST_GOOD_FILE: &str = "clock-last-good";
const PERSIST_EVERY: Duration = Duration::from_secs(60);

/// The clock's typed metrics.
struct ClockMetrics {
    trusted: Arc<AtomicU64>,
    steps: Arc<AtomicU64>,
    synchronised: Arc<AtomicU64>,
}

impl ClockMetrics {
    fn new(m: &Metrics) -> Self {
        Self {
            trusted: m.gauge(
                "foodflow_clock_trusted",
                "1 while the wall clock is trusted (see /healthz for why not)",
                &[],
            ),
            steps: m.counter(
                "foodflow_clock_steps_total",
                "Wall-clock steps seen (the wall and monotonic clocks disagreed)",
                &[],
            ),
            synchronised: m.gauge(
                "foodflow_clock_synchronised",
                "1 while the kernel reports the clock as synchronised (NTP, PTP)",
                &[],
            ),
        }
    }
}

/// The verdict on the wall clock, shared with HTTP, the screen and analytics.
pub struct ClockWatch {
    trust: Mutex<Trust>,
    origin: Instant,
    last_good_file: PathBuf,
    /// Where the journal learns the verdict, to flag and re-base records stamped in doubt.
    wall: Arc<WallTrust>,
}

impl ClockWatch {
    /// Reads the persisted last-known-good time from `data_dir` and takes the first reading;
    /// every verdict goes to `wall` too.
    pub fn open(data_dir: &Path, require_sync: bool, wall: Arc<WallTrust>) -> Arc<Self> {
        let last_good_file = data_dir.join(LAST_GOOD_FILE);
        let last_good = std::fs::read_to_string(&last_good_file)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        let policy = TrustPolicy {
            floor_ns: RELEASE_FLOOR_NS,
            tolerance_ns: 1_000_000_000,
            require_sync,
        };
        let w = Arc::new(Self {
            trust: Mutex::new(Trust::new(policy, last_good)),
            origin: Instant::now(),
            last_good_file,
            wall,
        });
        w.observe();
        w
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Trust> {
        self.trust.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a reading: the verdict is as fresh as the last reading, so those who act on it
    /// take one first ([`ClockWatch::trusted_now_ns`]). Returns the reading's wall time.
    fn observe(&self) -> i64 {
        let synchronised = kernel_synchronised();
        let at = Instant::now();
        let wall_ns = now_ns();
        let r = Reading {
            wall_ns,
            mono_ns: u64::try_from(at.duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX),
            synchronised,
        };
        let mut t = self.lock();
        let change = t.observe(r);
        let state = match (t.trusted(), t.correction()) {
            (true, _) => WallState::Trusted,
            (false, Some(c)) if c != 0 => WallState::Corrected(c),
            // Wrong since start, or not synchronised where sync is required: no better time.
            (false, _) => WallState::Unknown,
        };
        drop(t);
        match change {
            Some(Change::Stepped { by_ns }) => tracing::warn!(
                step_s = by_ns as f64 / 1e9,
                "the wall clock stepped; times are corrected on the monotonic clock until it steps back"
            ),
            Some(Change::Set { by_ns }) => {
                self.wall.set_since_start(by_ns);
                tracing::warn!(
                    step_s = by_ns as f64 / 1e9,
                    "the wall clock was set (it was wrong since boot)"
                );
            }
            None => {}
        }
        self.wall.observe(state, wall_ns, at);
        wall_ns
    }

    pub fn assessment(&self) -> Assessment {
        self.lock().assessment()
    }

    /// The wall time now, if the clock is trusted now (a fresh reading: a shift report must
    /// not be cut on a clock that stepped a moment ago).
    pub fn trusted_now_ns(&self) -> Option<i64> {
        let wall = self.observe();
        self.lock().trusted().then_some(wall)
    }

    /// Watches until cancelled: a reading a second, the last-known-good time persisted once a
    /// minute while trusted and at the end.
    pub async fn run(self: Arc<Self>, metrics: Arc<Metrics>, cancel: CancellationToken) {
        let m = ClockMetrics::new(&metrics);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut persisted = Instant::now() - PERSIST_EVERY;
        let mut was_trusted = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.observe();
            let a = self.assessment();
            if a.steps > m.steps.load(Ordering::Relaxed) {
                m.steps.store(a.steps, Ordering::Relaxed);
            }
            m.trusted.store(u64::from(a.trusted), Ordering::Relaxed);
            m.synchronised
                .store(u64::from(a.synchronised == Some(true)), Ordering::Relaxed);
            if was_trusted != Some(a.trusted) {
                match &a.why {
                    Some(why) => tracing::error!(%why, "the wall clock is not trusted"),
                    None => tracing::info!("the wall clock is trusted"),
                }
                was_trusted = Some(a.trusted);
            }
            if persisted.elapsed() >= PERSIST_EVERY && self.persist() {
                persisted = Instant::now();
            }
        }
        self.persist();
    }

    /// Writes the last-known-good time while the clock is trusted; whether it did.
    fn persist(&self) -> bool {
        let Some(t) = self.lock().last_good() else {
            return false;
        };
        let tmp = self.last_good_file.with_extension("new");
        let r = std::fs::write(&tmp, format!("{t}\n"))
            .and_then(|_| std::fs::rename(&tmp, &self.last_good_file));
        if let Err(e) = r {
            tracing::warn!(error = %e, file = %self.last_good_file.display(), "cannot persist the last known good time");
            return false;
        }
        true
    }
}

/// The kernel's clock synchronisation state (`adjtimex` in read-only mode); `None` where it
/// cannot be asked.
fn kernel_synchronised() -> Option<bool> {
    // SAFETY: adjtimex with `modes == 0` only reads the kernel's state into the zeroed struct
    // it is given; it needs no privilege and keeps no pointer.
    let (rc, status) = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let rc = libc::adjtimex(&mut tx);
        (rc, tx.status)
    };
    if rc < 0 {
        return None;
    }
    Some(rc != libc::TIME_ERROR && status & libc::STA_UNSYNC == 0)
}
