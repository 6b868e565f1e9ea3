//! FoodFlow OS edge runtime: protocol connectors feed a crash-safe journal; `/healthz` and
//! `/metrics` show what is ingested. The binary (`src/bin/foodflow-edge`) wires it together.

pub mod analytics;
pub mod connectors;
pub mod fuzz;
pub mod http;
pub mod journal;
pub mod operators;
pub use foodflow_transport::metrics;
pub mod profile;
pub mod screen;
pub mod uplink;
pub mod wallclock;
pub use foodflow_protocol::time;
