//! The hub's identity throttles (see [`foodflow_transport::throttle`] for the policy): logins
//! are throttled per (tenant, user, source address) and per source address, so a stranger
//! failing logins in someone's name locks out only the stranger's own address; signatures
//! (made by a logged-in person) per (tenant, user), a throttle no anonymous request reaches.

use std::time::Duration;

use foodflow_transport::throttle::Throttle;

/// The throttles of the hub's identity service.
#[derive(Debug)]
pub struct Throttles {
    /// Login failures per (tenant, user, source address).
    pub login: Throttle,
    /// Login failures per source address, whatever the names (password spraying).
    pub source: Throttle,
    /// Failed signatures per (tenant, user).
    pub signing: Throttle,
}

/// Entries each throttle keeps at most (about 100 bytes each).
pub const CAP: usize = 100_000;

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            login: Throttle::new(5, Duration::from_secs(30), CAP),
            source: Throttle::new(50, Duration::from_secs(60), CAP),
            signing: Throttle::new(5, Duration::from_secs(30), CAP),
        }
    }
}
