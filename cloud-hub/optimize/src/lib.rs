//! Optimisation for food plants: [`plan`] — production planning on lines over days or shifts
//! (a MIP on HiGHS with allergen sequencing, clean-downs and shelf life) — [`routing`] — delivery
//! routes with time windows, a mixed fleet and the cold chain — and [`schedule`] — order
//! scheduling as a job shop.
//!
//! Pure: it knows no HTTP, no store and no files; the hub's CLI reads instances and prints
//! solutions.

pub mod fuzz;
pub mod limits;
pub mod plan;
pub mod routing;
pub mod schedule;
