//! Progress of long CLI work on stderr: a line every 5 % and at the end, with elapsed time.

use std::time::Instant;

pub struct Progress {
    total: u64,
    done: u64,
    next_pct: u64,
    started: Instant,
    what: &'static str,
    unit: &'static str,
}

impl Progress {
    pub fn new(what: &'static str, unit: &'static str, total: u64) -> Self {
        Self {
            total: total.max(1),
            done: 0,
            next_pct: 5,
            started: Instant::now(),
            what,
            unit,
        }
    }

    pub fn tick(&mut self) {
        self.set(self.done + 1);
    }

    /// Reports `done` units (called from worker threads through a mutex: out-of-order
    /// counts never move the bar backwards).
    pub fn set(&mut self, done: u64) {
        if done <= self.done {
            return;
        }
        self.done = done;
        let pct = self.done * 100 / self.total;
        if pct >= self.next_pct || self.done == self.total {
            eprintln!(
                "{}: {pct:>3} % ({} of {} {}) {:.1} s",
                self.what,
                self.done,
                self.total,
                self.unit,
                self.started.elapsed().as_secs_f64()
            );
            self.next_pct = pct + 5;
        }
    }
}
