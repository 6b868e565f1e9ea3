//! Inventory recommendations from a probabilistic forecast: the demand over the protection
//! period (lead time + review period) and the safety stock that covers it at a target service
//! level (cycle service: the chance of no stock-out during a replenishment cycle).

use serde::Serialize;

use crate::pipeline::JobOutput;
use crate::stats::normal_quantile;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Periods from order to receipt.
    pub lead_time: usize,
    /// Periods between reviews (0 = continuous review).
    pub review_period: usize,
    /// Target cycle service level, 0.5 ≤ level < 1.
    pub service_level: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendation {
    pub id: String,
    pub protection_periods: usize,
    /// Expected demand over the protection period.
    pub demand: f64,
    /// Its standard deviation (step errors taken as independent).
    pub demand_sd: f64,
    pub safety_stock: f64,
    /// Order when the inventory position falls to this (continuous review), or order up to
    /// it (periodic review).
    pub reorder_point: f64,
}

impl Policy {
    pub fn check(&self, horizon: usize) -> Result<usize, String> {
        if !(0.5..1.0).contains(&self.service_level) {
            return Err(format!(
                "service level {} must be at least 0.5 and below 1 (e.g. 0.95)",
                self.service_level
            ));
        }
        let p = self.lead_time + self.review_period;
        if p == 0 {
            return Err("lead time + review period must be at least 1 period".into());
        }
        if p > horizon {
            return Err(format!(
                "lead time + review period ({p} periods) exceed the forecast horizon ({horizon}); forecast further ahead"
            ));
        }
        Ok(p)
    }
}

/// Recommendations for every node of a forecast.
pub fn recommend(out: &JobOutput, policy: Policy) -> Result<Vec<Recommendation>, String> {
    recommend_for(
        out.nodes
            .iter()
            .map(|n| (n.id.as_str(), n.mean.as_slice(), n.sd.as_slice())),
        policy,
    )
}

/// Recommendations for nodes given as (id, mean per step, standard deviation per step).
pub fn recommend_for<'a>(
    nodes: impl IntoIterator<Item = (&'a str, &'a [f64], &'a [f64])>,
    policy: Policy,
) -> Result<Vec<Recommendation>, String> {
    let z = normal_quantile(policy.service_level);
    nodes
        .into_iter()
        .map(|(id, mean, sd)| {
            let p = policy.check(mean.len().min(sd.len()))?;
            let demand: f64 = mean[..p].iter().sum::<f64>().max(0.0);
            let demand_sd = sd[..p].iter().map(|s| s * s).sum::<f64>().sqrt();
            let safety_stock = (z * demand_sd).max(0.0);
            Ok(Recommendation {
                id: id.to_owned(),
                protection_periods: p,
                demand,
                demand_sd,
                safety_stock,
                reorder_point: demand + safety_stock,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Panel;
    use crate::models::ModelKind;
    use crate::pipeline::Job;

    #[test]
    fn safety_stock_follows_the_service_level() {
        let p = Panel::from_csv("unique_id,ds,y\na,1,10\na,2,12\na,3,8\na,4,10\na,5,11\na,6,9\n")
            .unwrap();
        let out = Job {
            model: ModelKind::Naive,
            horizon: 4,
            ..Job::default()
        }
        .run(&p, &|_, _| {})
        .unwrap();
        let pol = |s| Policy {
            lead_time: 2,
            review_period: 1,
            service_level: s,
        };
        let r50 = &recommend(&out, pol(0.5)).unwrap()[0];
        let r95 = &recommend(&out, pol(0.95)).unwrap()[0];
        assert_eq!(r50.demand, 27.0);
        assert_eq!(r50.safety_stock, 0.0);
        assert!((r95.safety_stock - 1.6448536 * r95.demand_sd).abs() < 1e-6);
        assert_eq!(r95.reorder_point, r95.demand + r95.safety_stock);
        assert!(
            recommend(
                &out,
                Policy {
                    lead_time: 5,
                    ..pol(0.9)
                }
            )
            .unwrap_err()
            .contains("exceed the forecast horizon")
        );
        assert!(recommend(&out, pol(1.0)).is_err());
    }
}
