//! FoodFlow OS sync gateway: takes uploads from the plant's edge boxes over mutual TLS, keeps
//! them in a durable, quota-aware queue and forwards them to the hub, in order per stream,
//! resuming from the hub's committed marks after any outage.

pub mod api;
pub mod config;
pub mod forward;
pub mod fuzz;
pub mod queue;
pub mod status;
