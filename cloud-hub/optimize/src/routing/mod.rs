//! Vehicle routing with time windows (CVRPTW), a mixed fleet and a cold chain: [`instance`]
//! (VRPLIB and Solomon formats),
//! [`solution`] (routes, cost, VRPLIB `.sol`), [`check`] (an independent feasibility check of
//! every constraint) and [`search`] (construction + adaptive large neighbourhood search with a
//! time limit and a seed).

pub mod check;
pub mod instance;
pub mod search;
pub mod solution;

pub use check::{Violation, check};
pub use instance::{Instance, InstanceError, Rounding};
pub use search::{Progress, Settings, solve};
pub use solution::Solution;
