//! Failed-attempt throttles (hub logins and signatures, operator PINs on the edge): after
//! `limit` failures in a row a key waits `pause` per attempt. Attempts in flight count as failures until they end, so a burst
//! of parallel guesses gets no more tries than a sequential one (no check-then-act window
//! while the password hash is computed). The table is bounded: stale keys go first, then the
//! oldest, so a flood of made-up names cannot grow memory.
//!
//! What the key is decides who can lock whom out: keyed by (name, source address) and by
//! source address, a stranger failing in someone's name locks out only the stranger's own
//! address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a refused attempt waits before its answer: a flood of guesses from a locked-out
/// address then costs the server a sleeping request (bounded by the listener's connection and
/// stream limits), not CPU, and the attacker a second per try per stream.
pub const TARPIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    last: Instant,
}

/// The policy over its table; pure (time is passed in) and tested on its own.
#[derive(Debug)]
pub struct Policy {
    limit: u32,
    pause: Duration,
    cap: usize,
    entries: HashMap<String, Entry>,
}

impl Policy {
    pub fn new(limit: u32, pause: Duration, cap: usize) -> Self {
        Policy {
            limit: limit.max(1),
            pause,
            cap: cap.max(1),
            entries: HashMap::new(),
        }
    }

    /// Starts an attempt: `Err(seconds to wait)` while the key is locked.
    pub fn begin(&mut self, key: &str, now: Instant) -> Result<(), u64> {
        if let Some(e) = self.entries.get_mut(key) {
            let since = now.saturating_duration_since(e.last);
            if e.failures.saturating_add(e.in_flight) >= self.limit && since < self.pause {
                return Err((self.pause - since).as_secs().max(1));
            }
            e.in_flight = e.in_flight.saturating_add(1);
            return Ok(());
        }
        if self.entries.len() >= self.cap {
            self.evict(now);
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                failures: 0,
                in_flight: 1,
                last: now,
            },
        );
        Ok(())
    }

    /// Ends an attempt begun with [`Policy::begin`].
    pub fn end(&mut self, key: &str, ok: bool, now: Instant) {
        if ok {
            self.entries.remove(key);
            return;
        }
        if let Some(e) = self.entries.get_mut(key) {
            e.in_flight = e.in_flight.saturating_sub(1);
            e.failures = e.failures.saturating_add(1);
            e.last = now;
        }
    }

    /// Makes room: keys idle for longer than a pause first, then the oldest.
    fn evict(&mut self, now: Instant) {
        let pause = self.pause;
        self.entries
            .retain(|_, e| e.in_flight > 0 || now.saturating_duration_since(e.last) < pause);
        while self.entries.len() >= self.cap {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A [`Policy`] shared between requests.
#[derive(Debug)]
pub struct Throttle(Mutex<Policy>);

impl Throttle {
    pub fn new(limit: u32, pause: Duration, cap: usize) -> Self {
        Throttle(Mutex::new(Policy::new(limit, pause, cap)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Policy> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts an attempt for `key`; it counts as a failure unless [`Attempt::succeeded`] is
    /// called. `Err(seconds to wait)` while the key is locked.
    pub fn begin(&self, key: String) -> Result<Attempt<'_>, u64> {
        self.lock().begin(&key, Instant::now())?;
        Ok(Attempt {
            throttle: self,
            key,
            ok: false,
        })
    }
}

/// An attempt in flight; it ends when dropped.
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    key: String,
    ok: bool,
}

impl Attempt<'_> {
    pub fn succeeded(mut self) {
        self.ok = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle.lock().end(&self.key, self.ok, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_guesses_get_no_more_tries_than_sequential_ones() {
        let mut p = Policy::new(5, Duration::from_secs(30), 100);
        let t = Instant::now();
        // Ten guesses arrive before any hash is verified: five may run.
        let started = (0..10).filter(|_| p.begin("k", t).is_ok()).count();
        assert_eq!(started, 5);
        for _ in 0..5 {
            p.end("k", false, t);
        }
        assert_eq!(p.begin("k", t + Duration::from_secs(29)), Err(1));
        // After the pause, one more try per pause.
        assert!(p.begin("k", t + Duration::from_secs(31)).is_ok());
        p.end("k", false, t + Duration::from_secs(31));
        assert!(p.begin("k", t + Duration::from_secs(32)).is_err());
    }

    #[test]
    fn success_clears_and_keys_are_independent() {
        let mut p = Policy::new(2, Duration::from_secs(30), 100);
        let t = Instant::now();
        for _ in 0..2 {
            p.begin("a", t).unwrap();
            p.end("a", false, t);
        }
        assert!(p.begin("a", t).is_err());
        assert!(p.begin("b", t).is_ok());
        p.end("b", true, t);
        assert!(p.begin("b", t).is_ok());
    }

    #[test]
    fn the_table_is_bounded_and_keeps_locked_keys_over_stale_ones() {
        let mut p = Policy::new(1, Duration::from_secs(30), 1000);
        let t = Instant::now();
        p.begin("victim-lock", t).unwrap();
        p.end("victim-lock", false, t);
        for i in 0..10_000 {
            let now = t + Duration::from_millis(i);
            let k = format!("made-up-{i}");
            p.begin(&k, now).unwrap();
            p.end(&k, false, now);
        }
        assert!(p.len() <= 1000, "{}", p.len());
        // Stale keys (older than a pause) went first; fresh ones by age.
        let later = t + Duration::from_secs(40);
        for i in 0..2000 {
            let k = format!("late-{i}");
            p.begin(&k, later).unwrap();
            p.end(&k, false, later);
        }
        assert!(p.len() <= 1000);
        assert!(
            p.begin("late-1999", later).is_err(),
            "a recent lock is kept"
        );
    }
}
