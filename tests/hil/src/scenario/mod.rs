//! `foodflow-sim scenario FILE.yaml`: runs the simulated plant, edge, gateway and hub as
//! separate processes with scripted faults, then checks at the hub that every record
//! acknowledged at the source arrived exactly once and in per-stream order.

pub mod check;
mod publisher;
mod run;
pub mod spec;

pub use run::{Report, run};
