//! Synthetic hierarchical demand for tests and the scale benchmark: a tree of fan-outs, each
//! bottom series a random-walk level with a multiplicative season and Gaussian noise.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::panel::{Calendar, Panel, Series};

#[derive(Debug, Clone)]
pub struct Plan {
    /// Children per node at each level below the total, e.g. `[10, 30, 334]`.
    pub fanout: Vec<usize>,
    pub periods: usize,
    pub season: usize,
    pub seed: u64,
}

/// Standard normal draw (Box–Muller).
pub fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Bottom series with ids `L0-i/L1-j/...` (one part per level), monthly from 2010-01.
pub fn panel(plan: &Plan) -> Panel {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut paths: Vec<String> = vec![String::new()];
    for (depth, &k) in plan.fanout.iter().enumerate() {
        paths = paths
            .iter()
            .flat_map(|p| {
                (0..k).map(move |i| {
                    if p.is_empty() {
                        format!("L{depth}-{i}")
                    } else {
                        format!("{p}/L{depth}-{i}")
                    }
                })
            })
            .collect();
    }
    let m = plan.season.max(1);
    let series = paths
        .into_iter()
        .map(|id| {
            let base = 20.0 + 200.0 * rng.random::<f64>();
            let amp = 0.3 * rng.random::<f64>();
            let phase = rng.random::<f64>() * std::f64::consts::TAU;
            let mut level = base;
            let values = (0..plan.periods)
                .map(|t| {
                    level = (level + 0.02 * base * gaussian(&mut rng)).max(0.2 * base);
                    let season =
                        1.0 + amp * (std::f64::consts::TAU * t as f64 / m as f64 + phase).sin();
                    (level * season * (1.0 + 0.05 * gaussian(&mut rng))).max(0.0)
                })
                .collect();
            Series {
                id,
                start: 2010 * 12,
                values,
                attrs: Default::default(),
            }
        })
        .collect();
    Panel {
        calendar: Calendar::Monthly { day: 1 },
        series,
    }
}

/// The hierarchy spec matching [`panel`]: `l0/l1/...`.
pub fn spec(plan: &Plan) -> String {
    (0..plan.fanout.len())
        .map(|d| format!("l{d}"))
        .collect::<Vec<_>>()
        .join("/")
}
