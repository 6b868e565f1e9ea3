//! Demand forecasting for food planners: many SKU × location series that must add up through
//! the product and location hierarchy, with honest uncertainty.
//!
//! - [`panel`]: the long format (`unique_id, ds, y`) in and out, calendars, input validation
//!   that names the series and the row.
//! - [`models`]: AutoETS (selection by AICc), Theta, seasonal naive, Croston and TSB, the
//!   automatic ensemble; every model gives a mean, a per-step standard deviation and in-sample
//!   one-step fitted values.
//! - [`hierarchy`]: the hierarchy spec (`state/region/city`, `product/sku*location`), the
//!   aggregation and the summing structure kept sparse.
//! - [`reconcile`]: BottomUp, TopDown (historical proportions), MinTrace (ols, wls_struct,
//!   mint_shrink) solved by preconditioned conjugate gradients; coherent Gaussian quantiles.
//! - [`backtest`] and [`metrics`]: rolling-origin evaluation with MASE, sMAPE, RMSSE, pinball
//!   loss and coverage.
//! - [`inventory`]: safety stock and reorder points from the forecast quantiles.
//! - [`pipeline`]: the whole job (aggregate → fit in parallel → reconcile → quantiles) with
//!   progress reported through a callback.
//!
//! It knows no HTTP and no store: the hub's CLI and API feed it.

pub mod backtest;
pub mod fuzz;
pub mod hierarchy;
pub mod inventory;
pub mod metrics;
pub mod models;
pub mod panel;
pub mod pipeline;
pub mod reconcile;
pub mod stats;
pub mod synth;

pub use panel::{Calendar, InputError, Panel, Series};
pub use pipeline::{ForecastError, Job, JobOutput, Level};
