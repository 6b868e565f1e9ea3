//! FoodFlow OS stream analytics: dataflows on timely, born at the edge and reused by the hub.
//!
//! The logic is pure — it knows no HTTP, no journal, no store. [`windows`] is the event-time
//! window state machine (unit-tested against a brute-force reference); [`dataflow`] runs it in a
//! timely dataflow partitioned by series, on any number of workers with identical results.

pub mod alarms;
pub mod dataflow;
pub mod oee;
pub mod windows;

pub use dataflow::{Epoch, LiveRollups, Workers};
pub use windows::{Rollup, Sample, WindowSpec, Windows};
