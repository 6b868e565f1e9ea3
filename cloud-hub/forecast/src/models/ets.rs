//! Exponential smoothing in the innovations state-space form of Hyndman et al. (2008):
//! additive or multiplicative error, no / additive / damped trend, no / additive /
//! multiplicative season; parameters by maximum likelihood (Nelder–Mead within the usual
//! bounds), AutoETS picks the model with the smallest AICc.

use super::Forecast;
use crate::stats::{linear_trend, nelder_mead, seasonal_indices};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    None,
    Additive,
    Damped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    None,
    Additive,
    Multiplicative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub multiplicative_error: bool,
    pub trend: Trend,
    pub season: Season,
}

impl Spec {
    pub fn name(&self) -> String {
        format!(
            "ETS({},{},{})",
            if self.multiplicative_error { "M" } else { "A" },
            match self.trend {
                Trend::None => "N",
                Trend::Additive => "A",
                Trend::Damped => "Ad",
            },
            match self.season {
                Season::None => "N",
                Season::Additive => "A",
                Season::Multiplicative => "M",
            }
        )
    }
}

/// Parameters and initial states, in the order the optimiser sees them.
#[derive(Debug, Clone)]
struct Params {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
    l0: f64,
    b0: f64,
    /// Seasonal states for t % m = 0..m.
    s0: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct Fit {
    pub spec: Spec,
    pub aicc: f64,
    /// One-step variance of the errors (relative errors for a multiplicative error).
    pub sigma2: f64,
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
    level: f64,
    slope: f64,
    season: Vec<f64>,
    m: usize,
    n: usize,
    fitted: Vec<f64>,
}

const TOL: f64 = 1e-10;

/// One pass of the recursions. Returns (−2 log likelihood up to a constant, SSE of the
/// errors, final states) or None where the model explodes.
fn pass(
    y: &[f64],
    spec: Spec,
    m: usize,
    p: &Params,
    fitted: Option<&mut Vec<f64>>,
) -> Option<(f64, f64, f64, f64, Vec<f64>)> {
    let (mut l, mut b) = (p.l0, p.b0);
    let mut s = p.s0.clone();
    let phi = if spec.trend == Trend::Damped {
        p.phi
    } else {
        1.0
    };
    let (mut sse, mut sumlog) = (0.0, 0.0);
    let mut fit = fitted;
    for (t, &yt) in y.iter().enumerate() {
        let phib = if spec.trend == Trend::None {
            0.0
        } else {
            phi * b
        };
        let q = l + phib;
        let si = if spec.season == Season::None {
            0.0
        } else {
            s[t % m]
        };
        let f = match spec.season {
            Season::None => q,
            Season::Additive => q + si,
            Season::Multiplicative => q * si,
        };
        if let Some(v) = fit.as_deref_mut() {
            v.push(f);
        }
        let e = if spec.multiplicative_error {
            if f.abs() < TOL {
                return None;
            }
            sumlog += f.abs().ln();
            (yt - f) / f
        } else {
            yt - f
        };
        sse += e * e;
        let pval = match spec.season {
            Season::None => yt,
            Season::Additive => yt - si,
            Season::Multiplicative => {
                if si.abs() < TOL {
                    return None;
                }
                yt / si
            }
        };
        let lnew = q + p.alpha * (pval - q);
        if spec.trend != Trend::None {
            b = phib + (p.beta / p.alpha) * ((lnew - l) - phib);
        }
        if spec.season != Season::None {
            let tt = match spec.season {
                Season::Multiplicative => {
                    if q.abs() < TOL {
                        return None;
                    }
                    yt / q
                }
                _ => yt - q,
            };
            s[t % m] = si + p.gamma * (tt - si);
        }
        l = lnew;
        if !l.is_finite() {
            return None;
        }
    }
    let n = y.len() as f64;
    let lik = n * (sse.max(1e-300)).ln() + 2.0 * sumlog;
    lik.is_finite().then_some((lik, sse, l, b, s))
}

fn initial_states(y: &[f64], spec: Spec, m: usize) -> (f64, f64, Vec<f64>) {
    let seasonal = spec.season != Season::None && m > 1;
    let mult = spec.season == Season::Multiplicative;
    let s0 = if seasonal {
        let k = y.len().min(3 * m);
        seasonal_indices(&y[..k], m, mult)
    } else {
        vec![if mult { 1.0 } else { 0.0 }; m.max(1)]
    };
    let k = y.len().min((2 * m).max(10));
    let adj: Vec<f64> = y[..k]
        .iter()
        .enumerate()
        .map(|(t, v)| match spec.season {
            Season::None => *v,
            Season::Additive => v - s0[t % m],
            Season::Multiplicative => v / s0[t % m],
        })
        .collect();
    let (a, slope) = linear_trend(&adj);
    if spec.trend == Trend::None {
        (crate::stats::mean(&adj), 0.0, s0)
    } else {
        // Level at t = −1 so that the first forecast is a + slope·0.
        (a - slope, slope, s0)
    }
}

/// Fits one ETS model; None when it cannot be fitted to this data.
pub fn fit(y: &[f64], spec: Spec, m: usize) -> Option<Fit> {
    let m = if spec.season == Season::None { 1 } else { m };
    let seasonal = spec.season != Season::None;
    if seasonal && (m < 2 || y.len() < 2 * m + 2) {
        return None;
    }
    if (spec.multiplicative_error || spec.season == Season::Multiplicative)
        && y.iter().any(|v| *v <= 0.0)
    {
        return None;
    }
    let (l0, b0, s0) = initial_states(y, spec, m);
    let has_trend = spec.trend != Trend::None;
    let damped = spec.trend == Trend::Damped;
    // Free parameters: alpha, [beta], [gamma], [phi], l0, [b0]; the seasonal initial states
    // come from the decomposition (estimated, so counted in the AICc, but not searched: this
    // keeps the search small and fast with little loss of fit).
    let unpack = |x: &[f64]| -> Params {
        let mut i = 0;
        let mut next = || {
            i += 1;
            x[i - 1]
        };
        let alpha = next();
        let beta = if has_trend { next() } else { 0.0 };
        let gamma = if seasonal { next() } else { 0.0 };
        let phi = if damped { next() } else { 1.0 };
        let l0 = next();
        let b0 = if has_trend { next() } else { 0.0 };
        Params {
            alpha,
            beta,
            gamma,
            phi,
            l0,
            b0,
            s0: s0.clone(),
        }
    };
    let feasible = |p: &Params| {
        (1e-4..=0.9999).contains(&p.alpha)
            && (!has_trend || (1e-4 <= p.beta && p.beta <= p.alpha))
            && (!seasonal || (1e-4 <= p.gamma && p.gamma <= 1.0 - p.alpha))
            && (!damped || (0.8..=0.98).contains(&p.phi))
    };
    let scale = y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64;
    let mut x0 = vec![if seasonal { 0.1 } else { 0.3 }];
    let mut step = vec![0.1];
    if has_trend {
        x0.push(0.01);
        step.push(0.02);
    }
    if seasonal {
        x0.push(0.01);
        step.push(0.05);
    }
    if damped {
        x0.push(0.95);
        step.push(0.02);
    }
    x0.push(l0);
    step.push(0.05 * scale.max(1e-3));
    if has_trend {
        x0.push(b0);
        step.push(0.01 * scale.max(1e-3) + 0.1 * b0.abs());
    }
    let mut objective = |x: &[f64]| {
        let p = unpack(x);
        if !feasible(&p) {
            return f64::INFINITY;
        }
        pass(y, spec, m, &p, None).map_or(f64::INFINITY, |r| r.0)
    };
    let (x, lik) = nelder_mead(&mut objective, &x0, &step, 400 * x0.len(), 1e-8);
    if !lik.is_finite() {
        return None;
    }
    let p = unpack(&x);
    let mut fitted = Vec::with_capacity(y.len());
    let (lik, sse, level, slope, season) = pass(y, spec, m, &p, Some(&mut fitted))?;
    let n = y.len() as f64;
    let k = x.len() + if seasonal { m - 1 } else { 0 } + 1;
    let kf = k as f64;
    let aic = lik + 2.0 * kf;
    let aicc = if n - kf - 1.0 > 0.0 {
        aic + 2.0 * kf * (kf + 1.0) / (n - kf - 1.0)
    } else {
        f64::INFINITY
    };
    let dof = (n - kf).max(1.0);
    Some(Fit {
        spec,
        aicc,
        sigma2: sse / dof,
        alpha: p.alpha,
        beta: p.beta,
        gamma: p.gamma,
        phi: p.phi,
        level,
        slope,
        season,
        m,
        n: y.len(),
        fitted,
    })
}

impl Fit {
    /// Mean and standard deviation h = 1..=horizon steps ahead. The variance is exact for the
    /// additive-error models (Hyndman et al. 2008, class 1) and its relative-error analogue,
    /// scaled by the forecast, for the multiplicative ones.
    pub fn forecast(&self, horizon: usize) -> Forecast {
        let mut mean = Vec::with_capacity(horizon);
        let mut sd = Vec::with_capacity(horizon);
        let (mut phi_h, mut phi_pow) = (0.0, 1.0);
        let mut cum = 0.0;
        for h in 1..=horizon {
            match self.spec.trend {
                Trend::None => {}
                Trend::Additive => phi_h += 1.0,
                Trend::Damped => {
                    phi_pow *= self.phi;
                    phi_h += phi_pow;
                }
            }
            let q = self.level + phi_h * self.slope;
            let si = self.season[(self.n + h - 1) % self.m];
            let f = match self.spec.season {
                Season::None => q,
                Season::Additive => q + si,
                Season::Multiplicative => q * si,
            };
            mean.push(f);
            // c_{h} for the next step: alpha + beta·phi_j + gamma·[j ≡ 0 mod m].
            let var_rel = 1.0 + cum;
            let v = if self.spec.multiplicative_error {
                f * f * self.sigma2 * var_rel
            } else {
                self.sigma2 * var_rel
            };
            sd.push(v.max(0.0).sqrt());
            let seas = if self.spec.season != Season::None && h % self.m == 0 {
                self.gamma
            } else {
                0.0
            };
            let c = self.alpha + self.beta * phi_h + seas;
            cum += c * c;
        }
        Forecast {
            model: self.spec.name(),
            mean,
            sd,
            fitted: self.fitted.clone(),
        }
    }
}

/// The candidate models for a series (multiplicative ones only for positive data).
pub fn candidates(m: usize, positive: bool) -> Vec<Spec> {
    let mut out = Vec::new();
    for multiplicative_error in [false, true] {
        if multiplicative_error && !positive {
            continue;
        }
        for trend in [Trend::None, Trend::Additive, Trend::Damped] {
            for season in [Season::None, Season::Additive, Season::Multiplicative] {
                if season != Season::None && m < 2 {
                    continue;
                }
                if season == Season::Multiplicative && !positive {
                    continue;
                }
                // Additive error with multiplicative season is numerically unstable
                // (Hyndman et al. 2008, §2.5.2); R and StatsForecast leave it out too.
                if !multiplicative_error && season == Season::Multiplicative {
                    continue;
                }
                out.push(Spec {
                    multiplicative_error,
                    trend,
                    season,
                });
            }
        }
    }
    out
}

/// AutoETS: every candidate fitted, the smallest AICc wins.
pub fn auto(y: &[f64], m: usize, seasonal: bool) -> Option<Fit> {
    let positive = y.iter().all(|v| *v > 0.0);
    candidates(if seasonal { m } else { 1 }, positive)
        .into_iter()
        .filter_map(|s| fit(y, s, m))
        .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize, f: impl FnMut(usize) -> f64) -> Vec<f64> {
        (0..n).map(f).collect()
    }

    #[test]
    fn a_trend_is_extrapolated() {
        let y = series(60, |t| {
            10.0 + 2.0 * t as f64 + if t % 2 == 0 { 0.3 } else { -0.3 }
        });
        let fit = fit(
            &y,
            Spec {
                multiplicative_error: false,
                trend: Trend::Additive,
                season: Season::None,
            },
            1,
        )
        .unwrap();
        let f = fit.forecast(5);
        for (h, v) in f.mean.iter().enumerate() {
            let want = 10.0 + 2.0 * (60 + h) as f64;
            assert!((v - want).abs() < 1.5, "h={h}: {v} vs {want}");
        }
        assert!(f.sd[4] > f.sd[0]);
    }

    #[test]
    fn auto_finds_multiplicative_season() {
        // Growing level with a seasonal pattern proportional to it.
        let pattern = [0.8, 0.9, 1.0, 1.2, 1.3, 1.1, 1.0, 0.9, 0.8, 0.9, 1.0, 1.1];
        let y = series(120, |t| (100.0 + t as f64) * pattern[t % 12]);
        let fit = auto(&y, 12, true).unwrap();
        assert_eq!(
            fit.spec.season,
            Season::Multiplicative,
            "{}",
            fit.spec.name()
        );
        let f = fit.forecast(12);
        for (h, v) in f.mean.iter().enumerate() {
            let want = (100.0 + (120 + h) as f64) * pattern[(120 + h) % 12];
            assert!((v / want - 1.0).abs() < 0.03, "h={h}: {v} vs {want}");
        }
    }

    #[test]
    fn noise_around_a_level_picks_a_level_model() {
        let mut x = 1u64;
        let y = series(80, |_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            50.0 + ((x >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 4.0
        });
        let fit = auto(&y, 1, false).unwrap();
        assert_eq!(fit.spec.trend, Trend::None, "{}", fit.spec.name());
        let f = fit.forecast(3);
        assert!((f.mean[0] - 50.0).abs() < 1.5);
    }
}
