//! FoodFlow OS cloud hub: multi-tenant ingest of the sync stream (dedup by
//! `(device, stream, seq)`), record and series queries, and the development PKI commands.
//!
//! Domain logic (downsampling) is pure; storage sits behind [`store::RecordStore`], whose
//! tenant views are the only path to records; HTTP lives in [`api`].

pub mod alarms;
pub mod analytics_cmd;
pub mod api;
pub mod approvals;
pub mod audit;
pub mod forecast_cmd;
pub mod forecasting;
pub mod fuzz;
pub mod gateways;
pub mod identity;
pub mod jobs;
pub mod openapi;
pub mod optimization;
pub mod optimize_cmd;
pub mod plant;
pub mod portal;
pub mod progress;
pub mod series;
pub mod store;
pub mod timecheck;
pub mod trace;
