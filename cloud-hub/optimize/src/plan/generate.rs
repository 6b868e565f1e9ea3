//! Seeded planning instances of any size, shaped like a bakery or dairy plant: products in
//! allergen families (free, milk, gluten, milk + gluten, nuts), each made on two to four lines
//! at different rates, demand with a weekly pattern, shelf lives of one day to two weeks, lines
//! and crews loaded to about 75–85 %.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::instance::{Line, PerPeriod, PlanInstance, Product};

const FAMILIES: &[&[&str]] = &[&[], &["milk"], &["gluten"], &["milk", "gluten"], &["nuts"]];

pub fn generate(lines: usize, products: usize, periods: usize, seed: u64) -> PlanInstance {
    let mut rng = StdRng::seed_from_u64(seed);
    let hours = 16.0;
    let mut line_list: Vec<Line> = (0..lines)
        .map(|l| Line {
            id: format!("L{:02}", l + 1),
            hours: PerPeriod::List(
                (0..periods)
                    // One maintenance day per line in each fortnight.
                    .map(|t| if (t + l) % 14 == 13 { 0.0 } else { hours })
                    .collect(),
            ),
            crew: if l % 3 == 0 { 2.0 } else { 1.0 },
            initial_allergens: Vec::new(),
            rates: BTreeMap::new(),
        })
        .collect();
    let crews = (line_list.iter().map(|l| l.crew).sum::<f64>() * 0.85).floor();
    let mean_crew = line_list.iter().map(|l| l.crew).sum::<f64>() / lines as f64;
    // Line-hours a day the crews can staff.
    let staffed = hours * (lines as f64).min(crews / mean_crew);
    let mut product_list = Vec::with_capacity(products);
    for p in 0..products {
        let family = FAMILIES[rng.random_range(0..FAMILIES.len())];
        let id = format!("SKU-{:03}", p + 1);
        let makers = rng.random_range(2..=4.min(lines));
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < makers.max(1).min(lines) {
            let l = rng.random_range(0..lines);
            if !chosen.contains(&l) {
                chosen.push(l);
            }
        }
        let mut slowest = f64::INFINITY;
        for &l in &chosen {
            let rate = (rng.random_range(400.0..1200.0_f64) / 10.0).round() * 10.0;
            slowest = slowest.min(rate);
            line_list[l].rates.insert(id.clone(), rate);
        }
        // Mean daily demand sized so all products together load the staffed lines to 60 % at
        // its slowest line's rate
        // (before set-ups and clean-downs).
        let share = 0.6 * staffed / products as f64;
        let mean = share * slowest * rng.random_range(0.8..1.0);
        let weekly = [1.0, 1.05, 1.1, 1.15, 1.25, 0.8, 0.65];
        let demand: Vec<f64> = (0..periods)
            .map(|t| {
                let noise = rng.random_range(0.85..1.15);
                (mean * weekly[t % 7] * noise).round()
            })
            .collect();
        let shelf_life = [1, 2, 3, 5, 7, 14][rng.random_range(0..6)];
        product_list.push(Product {
            id,
            allergens: family.iter().map(|s| s.to_string()).collect(),
            setup_hours: [0.25, 0.5, 0.75, 1.0][rng.random_range(0..4)],
            setup_cost: (rng.random_range(50.0..250.0_f64)).round(),
            shelf_life,
            initial_stock: 0.0,
            initial_stock_life: None,
            holding_cost: 0.01 * rng.random_range(1..5) as f64,
            shortage_cost: rng.random_range(2.0..6.0_f64).round(),
            min_service: 0.0,
            min_lot: 0.0,
            demand: Some(demand),
            demand_quantiles: None,
        });
    }
    PlanInstance {
        name: format!("generated-{lines}x{products}x{periods}-seed{seed}"),
        periods,
        period: "day".into(),
        cleandown_hours: 1.5,
        cleandown_cost: 400.0,
        crews: PerPeriod::Each(crews),
        service_level: None,
        lines: line_list,
        products: product_list,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_valid() {
        let a = generate(10, 50, 14, 7);
        assert_eq!(a, generate(10, 50, 14, 7));
        assert_ne!(a, generate(10, 50, 14, 8));
        let plant = a.plant().unwrap();
        assert_eq!(plant.products.len(), 50);
        assert!(plant.products.iter().all(|p| {
            plant
                .lines
                .iter()
                .filter(|l| {
                    l.rate(plant.products.iter().position(|q| q.id == p.id).unwrap())
                        .is_some()
                })
                .count()
                >= 2
        }));
    }
}
