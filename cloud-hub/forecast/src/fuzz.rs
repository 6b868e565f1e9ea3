//! Fuzz target body (run by `cloud-hub/fuzz` with cargo-fuzz and by the smoke test over the
//! seed corpus): any CSV gives a panel or an error, never a panic, and a panel can be
//! forecast.

use crate::Panel;
use crate::hierarchy::Hierarchy;
use crate::models::ModelKind;
use crate::pipeline::Job;

pub fn csv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(panel) = Panel::from_csv(text) else {
        return;
    };
    if panel.series.len() > 20 || panel.series.iter().any(|s| s.values.len() > 500) {
        return;
    }
    let job = Job {
        model: ModelKind::Naive,
        horizon: 3,
        threads: 1,
        ..Job::default()
    };
    let _ = job.run(&panel, &|_, _| {});
    let _ = Hierarchy::flat(&panel);
}
