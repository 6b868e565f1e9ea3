//! Numerical helpers the models share: autocorrelation and the seasonality test, classical
//! decomposition, the normal quantile function and a bounded Nelder–Mead minimiser.

pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample autocorrelation at lags 1..=max_lag.
pub fn acf(x: &[f64], max_lag: usize) -> Vec<f64> {
    let m = mean(x);
    let denom: f64 = x.iter().map(|v| (v - m).powi(2)).sum();
    (1..=max_lag)
        .map(|k| {
            if denom == 0.0 || k >= x.len() {
                return 0.0;
            }
            x.iter()
                .zip(&x[k..])
                .map(|(a, b)| (a - m) * (b - m))
                .sum::<f64>()
                / denom
        })
        .collect()
}

/// The 90 % test of the Theta method (Assimakopoulos & Nikolopoulos): the autocorrelation at
/// the seasonal lag is significant given the lower lags (Bartlett's formula).
pub fn is_seasonal(x: &[f64], m: usize) -> bool {
    if m < 2 || x.len() < 3 * m {
        return false;
    }
    let r = acf(x, m);
    let s: f64 = r[..m - 1].iter().map(|v| v * v).sum();
    let limit = 1.645 * ((1.0 + 2.0 * s) / x.len() as f64).sqrt();
    r[m - 1].abs() > limit
}

/// Seasonal indices of a classical decomposition (centred moving average), normalised to mean 1
/// (multiplicative) or 0 (additive); index `i` belongs to periods `t` with `t % m == i`.
pub fn seasonal_indices(x: &[f64], m: usize, multiplicative: bool) -> Vec<f64> {
    let n = x.len();
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    let half = m / 2;
    for t in half..n.saturating_sub(half) {
        // 2×m moving average for even m, m moving average for odd m.
        let trend = if m.is_multiple_of(2) {
            let inner: f64 = x[t + 1 - half..t + half].iter().sum();
            (inner + 0.5 * (x[t - half] + x[t + half])) / m as f64
        } else {
            x[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        let d = if multiplicative {
            if trend == 0.0 {
                continue;
            }
            x[t] / trend
        } else {
            x[t] - trend
        };
        sums[t % m] += d;
        counts[t % m] += 1;
    }
    let mut idx: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| {
            if c == 0 {
                if multiplicative { 1.0 } else { 0.0 }
            } else {
                s / c as f64
            }
        })
        .collect();
    let avg = mean(&idx);
    for v in &mut idx {
        if multiplicative {
            *v /= if avg == 0.0 { 1.0 } else { avg };
        } else {
            *v -= avg;
        }
    }
    idx
}

/// Ordinary least squares of `x` on t = 0, 1, ...: (intercept, slope).
pub fn linear_trend(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.len() < 2 {
        return (x.first().copied().unwrap_or(0.0), 0.0);
    }
    let tm = (n - 1.0) / 2.0;
    let ym = mean(x);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, y) in x.iter().enumerate() {
        sxy += (t as f64 - tm) * (y - ym);
        sxx += (t as f64 - tm).powi(2);
    }
    let slope = sxy / sxx;
    (ym - slope * tm, slope)
}

/// The standard normal quantile function (Acklam's rational approximation: relative error
/// below 1.2e-9, far below what interval estimates need).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    if p < 0.02425 {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p > 1.0 - 0.02425 {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Minimises `f` with Nelder–Mead from `x0` (initial simplex steps `step`); `f` returns
/// infinity outside the feasible region. Stops after `max_evals` or when the simplex values
/// agree to `tol` (relative).
pub fn nelder_mead(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    step: &[f64],
    max_evals: usize,
    tol: f64,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    let mut vals: Vec<f64> = Vec::with_capacity(n + 1);
    pts.push(x0.to_vec());
    vals.push(f(x0));
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += step[i];
        vals.push(f(&p));
        pts.push(p);
    }
    let mut evals = n + 1;
    let mut centroid = vec![0.0; n];
    let mut trial = vec![0.0; n];
    let mut trial2 = vec![0.0; n];
    while evals < max_evals {
        // Order: best first.
        let mut idx: Vec<usize> = (0..=n).collect();
        idx.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        pts = idx.iter().map(|&i| pts[i].clone()).collect();
        vals = idx.iter().map(|&i| vals[i]).collect();
        let (best, worst) = (vals[0], vals[n]);
        if worst.is_finite() && (worst - best).abs() <= tol * (best.abs() + tol) {
            break;
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for p in &pts[..n] {
            for (c, v) in centroid.iter_mut().zip(p) {
                *c += v / n as f64;
            }
        }
        let along = |t: &mut Vec<f64>, k: f64, from: &[f64]| {
            for j in 0..n {
                t[j] = centroid[j] + k * (from[j] - centroid[j]);
            }
        };
        along(&mut trial, -1.0, &pts[n]);
        let fr = f(&trial);
        evals += 1;
        if fr < vals[0] {
            along(&mut trial2, -2.0, &pts[n]);
            let fe = f(&trial2);
            evals += 1;
            if fe < fr {
                pts[n].clone_from(&trial2);
                vals[n] = fe;
            } else {
                pts[n].clone_from(&trial);
                vals[n] = fr;
            }
        } else if fr < vals[n - 1] {
            pts[n].clone_from(&trial);
            vals[n] = fr;
        } else {
            let outside = fr < vals[n];
            along(&mut trial2, if outside { -0.5 } else { 0.5 }, &pts[n]);
            let fc = f(&trial2);
            evals += 1;
            if fc < fr.min(vals[n]) {
                pts[n].clone_from(&trial2);
                vals[n] = fc;
            } else {
                // Shrink towards the best point.
                let (best, rest) = pts.split_at_mut(1);
                for (p, v) in rest.iter_mut().zip(&mut vals[1..]) {
                    for (x, b) in p.iter_mut().zip(&best[0]) {
                        *x = b + 0.5 * (*x - b);
                    }
                    *v = f(p);
                }
                evals += n;
            }
        }
    }
    let best = (0..=n)
        .min_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    (pts[best].clone(), vals[best])
}

/// Minimises a unimodal `f` on [lo, hi] by golden-section search.
pub fn golden(f: &mut dyn FnMut(f64) -> f64, lo: f64, hi: f64, iters: usize) -> (f64, f64) {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iters {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    if fc < fd { (c, fc) } else { (d, fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_tables() {
        assert!((normal_quantile(0.9) - 1.2815515655446004).abs() < 1e-8);
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090232306167813).abs() < 1e-8);
        assert_eq!(normal_quantile(0.5), 0.0);
    }

    #[test]
    fn nelder_mead_finds_a_bowl_minimum() {
        let mut f = |x: &[f64]| (x[0] - 1.0).powi(2) + 10.0 * (x[1] + 2.0).powi(2);
        let (x, v) = nelder_mead(&mut f, &[0.0, 0.0], &[0.5, 0.5], 2000, 1e-12);
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] + 2.0).abs() < 1e-4,
            "{x:?}"
        );
        assert!(v < 1e-8);
    }

    #[test]
    fn seasonality_is_detected_only_where_it_is() {
        let seasonal: Vec<f64> = (0..96)
            .map(|t| 100.0 + 20.0 * (t as f64 * std::f64::consts::TAU / 12.0).sin())
            .collect();
        assert!(is_seasonal(&seasonal, 12));
        let idx = seasonal_indices(&seasonal, 12, false);
        assert!((idx[3] - 20.0).abs() < 1.0, "{idx:?}");
        let trend: Vec<f64> = (0..96).map(|t| t as f64).collect();
        assert!(!is_seasonal(&trend, 12));
        assert_eq!(linear_trend(&trend), (0.0, 1.0));
    }
}
