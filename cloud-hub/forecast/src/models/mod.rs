//! The per-series models. Each returns a [`Forecast`]: the mean and a standard deviation per
//! step ahead, plus in-sample one-step fitted values (for residual-based reconciliation).

pub mod ets;
pub mod intermittent;
pub mod theta;

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// What was fitted, e.g. `ETS(M,Ad,M)`.
    pub model: String,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    pub fitted: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Intermittent series (≥ 30 % zeros) get TSB, the others the ETS + Theta ensemble.
    Auto,
    Ensemble,
    AutoEts,
    Theta,
    OptimizedTheta,
    SeasonalNaive,
    Naive,
    Croston,
    Tsb,
}

impl ModelKind {
    pub const ALL: [ModelKind; 9] = [
        ModelKind::Auto,
        ModelKind::Ensemble,
        ModelKind::AutoEts,
        ModelKind::Theta,
        ModelKind::OptimizedTheta,
        ModelKind::SeasonalNaive,
        ModelKind::Naive,
        ModelKind::Croston,
        ModelKind::Tsb,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Auto => "auto",
            ModelKind::Ensemble => "ensemble",
            ModelKind::AutoEts => "ets",
            ModelKind::Theta => "theta",
            ModelKind::OptimizedTheta => "otheta",
            ModelKind::SeasonalNaive => "snaive",
            ModelKind::Naive => "naive",
            ModelKind::Croston => "croston",
            ModelKind::Tsb => "tsb",
        }
    }

    /// The column name in outputs, in StatsForecast's spelling where it has one.
    pub fn alias(self) -> &'static str {
        match self {
            ModelKind::Auto => "Auto",
            ModelKind::Ensemble => "Ensemble",
            ModelKind::AutoEts => "AutoETS",
            ModelKind::Theta => "Theta",
            ModelKind::OptimizedTheta => "OptimizedTheta",
            ModelKind::SeasonalNaive => "SeasonalNaive",
            ModelKind::Naive => "Naive",
            ModelKind::Croston => "CrostonClassic",
            ModelKind::Tsb => "TSB",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown model {s:?}; one of: {}",
                    ModelKind::ALL.map(|k| k.name()).join(", ")
                )
            })
    }
}

/// Share of zeros above which a series counts as intermittent.
pub const INTERMITTENT_ZEROS: f64 = 0.3;

/// Forecasts one series `horizon` steps ahead; `m` is the seasonal period (1 = none).
pub fn forecast(kind: ModelKind, y: &[f64], m: usize, horizon: usize) -> Forecast {
    if y.len() < 3 {
        return naive(y, 1, horizon);
    }
    match kind {
        ModelKind::Auto => {
            let zeros = y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64;
            if zeros >= INTERMITTENT_ZEROS {
                intermittent::tsb(y, horizon, 0.1, 0.1)
            } else {
                ensemble(y, m, horizon)
            }
        }
        ModelKind::Ensemble => ensemble(y, m, horizon),
        ModelKind::AutoEts => auto_ets(y, m, horizon),
        ModelKind::Theta => theta::forecast(y, m, horizon, false),
        ModelKind::OptimizedTheta => theta::forecast(y, m, horizon, true),
        ModelKind::SeasonalNaive => naive(y, m, horizon),
        ModelKind::Naive => naive(y, 1, horizon),
        ModelKind::Croston => intermittent::croston(y, horizon, 0.1),
        ModelKind::Tsb => intermittent::tsb(y, horizon, 0.1, 0.1),
    }
}

fn auto_ets(y: &[f64], m: usize, horizon: usize) -> Forecast {
    match ets::auto(y, m, m > 1) {
        Some(fit) => fit.forecast(horizon),
        None => naive(y, 1, horizon),
    }
}

/// The mean of AutoETS and Theta, with the spread of their equal mixture.
fn ensemble(y: &[f64], m: usize, horizon: usize) -> Forecast {
    let a = auto_ets(y, m, horizon);
    let b = theta::forecast(y, m, horizon, false);
    let avg = |x: &[f64], z: &[f64]| x.iter().zip(z).map(|(p, q)| (p + q) / 2.0).collect();
    // The equal mixture of the two forecast distributions: its variance is the mean of the
    // variances plus the spread of the means, so disagreement between the models widens the
    // interval (averaging the two spreads alone was measurably too narrow).
    let sd = (0..horizon)
        .map(|h| {
            let within = (a.sd[h].powi(2) + b.sd[h].powi(2)) / 2.0;
            let between = ((a.mean[h] - b.mean[h]) / 2.0).powi(2);
            (within + between).sqrt()
        })
        .collect();
    Forecast {
        model: format!("Ensemble({}, {})", a.model, b.model),
        mean: avg(&a.mean, &b.mean),
        sd,
        fitted: avg(&a.fitted, &b.fitted),
    }
}

/// Naive (m = 1) or seasonal naive: the value one season back, residual spread growing with
/// the number of seasons ahead.
pub fn naive(y: &[f64], m: usize, horizon: usize) -> Forecast {
    let n = y.len();
    let m = if n > m { m } else { 1 };
    if n == 0 {
        return Forecast {
            model: "Naive".into(),
            mean: vec![0.0; horizon],
            sd: vec![0.0; horizon],
            fitted: Vec::new(),
        };
    }
    let fitted: Vec<f64> = (0..n)
        .map(|t| if t >= m { y[t - m] } else { y[t] })
        .collect();
    let k = n.saturating_sub(m).max(1) as f64;
    let sigma2 = (m..n).map(|t| (y[t] - y[t - m]).powi(2)).sum::<f64>() / k;
    let mut mean = Vec::with_capacity(horizon);
    let mut sd = Vec::with_capacity(horizon);
    for h in 1..=horizon {
        mean.push(y[n - m + (h - 1) % m]);
        let seasons = ((h - 1) / m + 1) as f64;
        sd.push((sigma2 * seasons).sqrt());
    }
    Forecast {
        model: if m > 1 { "SeasonalNaive" } else { "Naive" }.into(),
        mean,
        sd,
        fitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let y = [1.0, 2.0, 3.0, 4.0, 1.5, 2.5, 3.5, 4.5];
        let f = forecast(ModelKind::SeasonalNaive, &y, 4, 6);
        assert_eq!(f.mean, vec![1.5, 2.5, 3.5, 4.5, 1.5, 2.5]);
        assert!(f.sd[4] > f.sd[3]);
    }

    #[test]
    fn auto_sends_intermittent_series_to_tsb() {
        let y: Vec<f64> = (0..60)
            .map(|t| if t % 3 == 0 { 6.0 } else { 0.0 })
            .collect();
        let f = forecast(ModelKind::Auto, &y, 12, 4);
        assert!(f.model.starts_with("TSB"), "{}", f.model);
        assert!((f.mean[0] - 2.0).abs() < 0.5, "{:?}", f.mean);
    }

    #[test]
    fn names_parse_back() {
        for k in ModelKind::ALL {
            assert_eq!(k.name().parse::<ModelKind>(), Ok(k));
        }
        assert!(
            "prophet"
                .parse::<ModelKind>()
                .unwrap_err()
                .contains("one of: auto")
        );
    }
}
