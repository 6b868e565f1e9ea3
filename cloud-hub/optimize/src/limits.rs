//! Hard limits on what an instance may announce, checked before anything of that size is
//! allocated. An instance comes from outside (a planner's upload, a file): a header announcing
//! 10^14 jobs must be refused with the limit named, not attempted. The hub API and the CLI
//! apply the same limits; `docs/security.md` lists them.

/// Routing: nodes (depot + clients). The distance matrix is dense, n² × 8 bytes: 5,000 nodes
/// is 200 MB, the most one job may take on a plant hub.
pub const MAX_NODES: usize = 5_000;
/// Routing: vehicles, over all types.
pub const MAX_VEHICLES: usize = 5_000;
/// Routing: vehicle types.
pub const MAX_VEHICLE_TYPES: usize = 1_000;
/// Job shop: jobs, machines, and operations (jobs × machines).
pub const MAX_JOBS: usize = 10_000;
pub const MAX_MACHINES: usize = 1_000;
pub const MAX_OPERATIONS: usize = 200_000;
/// Job shop: one operation's duration (sums over every operation stay far below u64::MAX).
pub const MAX_DURATION: u64 = 1_000_000_000;
/// Planning: lines × products × periods (the MIP has several variables per cell).
pub const MAX_PLAN_CELLS: usize = 200_000;

/// The message for `what` announced as `got` above `max`: the limit is named, so the sender
/// knows what to split.
pub fn exceeded(what: &str, got: impl std::fmt::Display, max: usize) -> String {
    format!("{what} {got} exceeds the limit of {max} (see docs/security.md)")
}

/// `Err(message)` when `got` is above `max`.
pub fn check(what: &str, got: usize, max: usize) -> Result<(), String> {
    if got > max {
        Err(exceeded(what, got, max))
    } else {
        Ok(())
    }
}
