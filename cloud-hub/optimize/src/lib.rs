//! Optimisation for food plants. Built so far: [`routing`] — delivery routes with time windows
//! and truck capacities — and [`schedule`] — order scheduling as a job shop. Production
//! planning and the cold-chain extensions of routing are not built yet (see the README's status
//! table).
//!
//! Pure: it knows no HTTP, no store and no files; the hub's CLI reads instances and prints
//! solutions.

pub mod plan;
pub mod routing;
pub mod schedule;
