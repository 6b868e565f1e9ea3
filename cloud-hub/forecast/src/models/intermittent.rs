//! Intermittent demand (many zero periods): Croston's method and TSB (Teunter, Syntetos &
//! Babai 2011), whose demand probability decays through runs of zeros, so obsolete items fade
//! out instead of being forecast forever.

use super::Forecast;

fn finish(model: String, y: &[f64], fitted: Vec<f64>, f: f64, horizon: usize) -> Forecast {
    let n = y.len().max(1) as f64;
    let sigma = (y
        .iter()
        .zip(&fitted)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    Forecast {
        model,
        mean: vec![f; horizon],
        sd: vec![sigma; horizon],
        fitted,
    }
}

/// Croston (classic): sizes and intervals smoothed separately with `alpha`.
pub fn croston(y: &[f64], horizon: usize, alpha: f64) -> Forecast {
    let mut size: Option<f64> = None;
    let mut interval = 1.0;
    let mut since = 1.0;
    let mut fitted = Vec::with_capacity(y.len());
    for &v in y {
        fitted.push(size.map_or(0.0, |z| z / interval));
        if v != 0.0 {
            match size {
                None => {
                    size = Some(v);
                    interval = since;
                }
                Some(z) => {
                    size = Some(z + alpha * (v - z));
                    interval += alpha * (since - interval);
                }
            }
            since = 1.0;
        } else {
            since += 1.0;
        }
    }
    let f = size.map_or(0.0, |z| z / interval);
    finish("CrostonClassic".into(), y, fitted, f, horizon)
}

/// TSB: demand probability updated every period with `beta`, sizes on demand with `alpha`.
pub fn tsb(y: &[f64], horizon: usize, alpha: f64, beta: f64) -> Forecast {
    let first = y.iter().position(|v| *v != 0.0);
    let mut size = first.map_or(0.0, |i| y[i]);
    let mut prob = y.iter().filter(|v| **v != 0.0).count() as f64 / y.len().max(1) as f64;
    let mut fitted = Vec::with_capacity(y.len());
    for &v in y {
        fitted.push(prob * size);
        if v != 0.0 {
            prob += beta * (1.0 - prob);
            size += alpha * (v - size);
        } else {
            prob -= beta * prob;
        }
    }
    finish(
        format!("TSB(α={alpha}, β={beta})"),
        y,
        fitted,
        prob * size,
        horizon,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn croston_rate_is_size_over_interval() {
        let y: Vec<f64> = (0..40)
            .map(|t| if t % 4 == 3 { 8.0 } else { 0.0 })
            .collect();
        let f = croston(&y, 3, 0.1);
        assert!((f.mean[0] - 2.0).abs() < 1e-9, "{:?}", f.mean);
    }

    #[test]
    fn tsb_fades_after_demand_stops() {
        let mut y: Vec<f64> = (0..40)
            .map(|t| if t % 2 == 0 { 4.0 } else { 0.0 })
            .collect();
        let before = tsb(&y, 1, 0.1, 0.1).mean[0];
        y.extend([0.0; 30]);
        let after = tsb(&y, 1, 0.1, 0.1).mean[0];
        assert!(after < before * 0.1, "{before} → {after}");
    }
}
