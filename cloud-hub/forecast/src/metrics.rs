//! Accuracy measures, each over one series' forecast window. Scaled measures divide by the
//! in-sample error of a (seasonal) naive forecast, so series of any size weigh the same.

/// Mean absolute error of the in-sample naive forecast `m` periods back (the MASE scale).
pub fn naive_scale(train: &[f64], m: usize) -> f64 {
    let m = if train.len() > m { m.max(1) } else { 1 };
    if train.len() <= m {
        return f64::NAN;
    }
    let k = (train.len() - m) as f64;
    (m..train.len())
        .map(|t| (train[t] - train[t - m]).abs())
        .sum::<f64>()
        / k
}

fn finite_or_nan(v: f64) -> f64 {
    if v.is_finite() { v } else { f64::NAN }
}

pub fn mase(actual: &[f64], forecast: &[f64], scale: f64) -> f64 {
    let mae = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum::<f64>()
        / actual.len() as f64;
    finite_or_nan(mae / scale)
}

/// Symmetric MAPE in percent (0..200); a step where both are zero counts as 0.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| {
            let d = a.abs() + f.abs();
            if d == 0.0 {
                0.0
            } else {
                200.0 * (a - f).abs() / d
            }
        })
        .sum::<f64>()
        / actual.len() as f64
}

/// Root mean squared scaled error (M5): squared errors over the in-sample squared one-step
/// naive error.
pub fn rmsse(actual: &[f64], forecast: &[f64], train: &[f64]) -> f64 {
    if train.len() < 2 {
        return f64::NAN;
    }
    let scale =
        train.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>() / (train.len() - 1) as f64;
    let mse = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).powi(2))
        .sum::<f64>()
        / actual.len() as f64;
    finite_or_nan((mse / scale).sqrt())
}

/// Mean pinball (quantile) loss of quantile `q`.
pub fn pinball(actual: &[f64], quantile: &[f64], q: f64) -> f64 {
    actual
        .iter()
        .zip(quantile)
        .map(|(a, f)| {
            let d = a - f;
            if d >= 0.0 { q * d } else { (q - 1.0) * d }
        })
        .sum::<f64>()
        / actual.len() as f64
}

/// Share of actuals inside [lo, hi].
pub fn coverage(actual: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    actual
        .iter()
        .zip(lo.iter().zip(hi))
        .filter(|(a, (l, h))| *l <= *a && *a <= *h)
        .count() as f64
        / actual.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let train = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(naive_scale(&train, 1), 1.0);
        assert_eq!(mase(&[5.0, 6.0], &[4.0, 4.0], 1.0), 1.5);
        assert!((smape(&[100.0], &[50.0]) - 66.666_666_666_666_67).abs() < 1e-9);
        assert_eq!(smape(&[0.0], &[0.0]), 0.0);
        assert_eq!(rmsse(&[5.0, 6.0], &[5.0, 4.0], &train), 2f64.sqrt());
        assert_eq!(pinball(&[10.0], &[8.0], 0.9), 1.8);
        assert!((pinball(&[10.0], &[12.0], 0.9) - 0.2).abs() < 1e-12);
        assert_eq!(coverage(&[1.0, 5.0], &[0.0, 0.0], &[2.0, 2.0]), 0.5);
    }
}
