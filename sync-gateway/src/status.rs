//! What `foodflow-gateway status` and `/status` show: backlog per class, oldest record age,
//! rates in and out, time to drain, and the state of the hub link.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::queue::ClassBacklog;

/// Counters shared by the ingest handlers and the forwarder.
#[derive(Default)]
pub struct Link {
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    pub connected: AtomicU64,
    last_error: Mutex<Option<String>>,
    rates: Mutex<Rates>,
}

#[derive(Default, Clone, Copy)]
struct Rates {
    last_received: u64,
    last_forwarded: u64,
    in_per_s: f64,
    out_per_s: f64,
}

impl Link {
    pub fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Called once a second: exponentially weighted rates (about 5 s memory).
    pub fn tick(&self) {
        let mut r = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let (rx, fw) = (
            self.received.load(Ordering::Relaxed),
            self.forwarded.load(Ordering::Relaxed),
        );
        let a = 0.2;
        r.in_per_s = (1.0 - a) * r.in_per_s + a * (rx - r.last_received) as f64;
        r.out_per_s = (1.0 - a) * r.out_per_s + a * (fw - r.last_forwarded) as f64;
        r.last_received = rx;
        r.last_forwarded = fw;
    }

    pub fn rates(&self) -> (f64, f64) {
        let r = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        (r.in_per_s, r.out_per_s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassStatus {
    pub records: u64,
    pub bytes: u64,
    pub quota_bytes: u64,
    pub oldest_age_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub gateway: String,
    pub hub: String,
    pub hub_connected: bool,
    pub last_error: Option<String>,
    pub critical: ClassStatus,
    pub operational: ClassStatus,
    pub telemetry: ClassStatus,
    pub in_per_s: f64,
    pub out_per_s: f64,
    /// Backlog divided by the net drain rate; `None` while the backlog does not shrink.
    pub time_to_drain_s: Option<f64>,
    pub received_total: u64,
    pub forwarded_total: u64,
}

pub fn build(
    gateway: &str,
    hub: &str,
    link: &Link,
    backlog: &[ClassBacklog; 3],
    now_ns: i64,
) -> Status {
    let class = |b: &ClassBacklog| ClassStatus {
        records: b.records,
        bytes: b.bytes,
        quota_bytes: b.quota_bytes,
        oldest_age_s: b
            .oldest_ts_ns
            .map(|ts| ((now_ns - ts) as f64 / 1e9).max(0.0)),
    };
    let (in_per_s, out_per_s) = link.rates();
    let total: u64 = backlog.iter().map(|b| b.records).sum();
    let net = out_per_s - in_per_s;
    let time_to_drain_s = if total == 0 {
        Some(0.0)
    } else if net > 0.5 {
        Some(total as f64 / net)
    } else {
        None
    };
    Status {
        gateway: gateway.to_owned(),
        hub: hub.to_owned(),
        hub_connected: link.connected.load(Ordering::Relaxed) == 1,
        last_error: link.last_error(),
        critical: class(&backlog[0]),
        operational: class(&backlog[1]),
        telemetry: class(&backlog[2]),
        in_per_s,
        out_per_s,
        time_to_drain_s,
        received_total: link.received.load(Ordering::Relaxed),
        forwarded_total: link.forwarded.load(Ordering::Relaxed),
    }
}

/// The human form printed by `foodflow-gateway status`.
pub fn render(s: &Status) -> String {
    let mut out = format!(
        "gateway {}  →  hub {} ({})\n",
        s.gateway,
        s.hub,
        if s.hub_connected {
            "connected"
        } else {
            "NOT connected"
        }
    );
    if let Some(e) = &s.last_error {
        out.push_str(&format!("last error: {e}\n"));
    }
    out.push_str("class        records        bytes   quota used   oldest\n");
    for (name, c) in [
        ("critical", &s.critical),
        ("operational", &s.operational),
        ("telemetry", &s.telemetry),
    ] {
        let used = if c.quota_bytes > 0 {
            100.0 * c.bytes as f64 / c.quota_bytes as f64
        } else {
            0.0
        };
        let age = c
            .oldest_age_s
            .map(|a| format!("{a:.1} s"))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{name:<12} {:>8} {:>12} {used:>10.1} %   {age}\n",
            c.records, c.bytes
        ));
    }
    let drain = s
        .time_to_drain_s
        .map(|t| format!("{t:.1} s"))
        .unwrap_or_else(|| "not draining".into());
    out.push_str(&format!(
        "in {:.0} rec/s   out {:.0} rec/s   time to drain {drain}\n",
        s.in_per_s, s.out_per_s
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_time_follows_net_rate() {
        let link = Link::default();
        for _ in 0..30 {
            link.forwarded.fetch_add(1000, Ordering::Relaxed);
            link.received.fetch_add(500, Ordering::Relaxed);
            link.tick();
        }
        let mut b: [ClassBacklog; 3] = Default::default();
        b[2].records = 5000;
        b[2].oldest_ts_ns = Some(0);
        let s = build("gw", "https://hub", &link, &b, 2_000_000_000);
        let t = s.time_to_drain_s.unwrap();
        assert!((9.0..11.5).contains(&t), "{t}");
        assert_eq!(s.telemetry.oldest_age_s, Some(2.0));
        assert!(render(&s).contains("telemetry"));
    }
}
