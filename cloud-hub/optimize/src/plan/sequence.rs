//! Allergen profiles and the order of runs within a period. A profile is a distinct set of
//! allergens; profiles are ordered allergen-free first, then by how many allergens they carry
//! (then by name), and runs within a period follow that order. Moving from profile `j` to `k`
//! needs a clean-down when `j` carries an allergen `k` lacks.

use std::collections::BTreeSet;

use super::check::{Plan, Run};
use super::instance::Plant;

#[derive(Debug, Clone)]
pub struct Profiles {
    /// The allergen sets, in run order.
    pub sets: Vec<BTreeSet<String>>,
    pub of_product: Vec<usize>,
    /// The profile each line starts in (what it last ran before the first period).
    pub of_line_start: Vec<usize>,
}

impl Profiles {
    pub fn new(plant: &Plant) -> Self {
        let mut sets: Vec<BTreeSet<String>> = plant
            .products
            .iter()
            .map(|p| p.allergens.clone())
            .chain(plant.lines.iter().map(|l| l.initial_allergens.clone()))
            .chain(std::iter::once(BTreeSet::new()))
            .collect();
        sets.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        sets.dedup();
        let find = |s: &BTreeSet<String>| sets.iter().position(|x| x == s).unwrap_or(0);
        Profiles {
            of_product: plant.products.iter().map(|p| find(&p.allergens)).collect(),
            of_line_start: plant
                .lines
                .iter()
                .map(|l| find(&l.initial_allergens))
                .collect(),
            sets: sets.clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Going from profile `from` to `to` needs a clean-down.
    pub fn needs_cleandown(&self, from: usize, to: usize) -> bool {
        !self.sets[from].is_subset(&self.sets[to])
    }

    /// Puts each period's runs in profile order and marks the clean-downs the allergen rule
    /// needs along each line's timeline.
    pub fn sequence(&self, plan: &mut Plan) {
        for (l, periods) in plan.runs.iter_mut().enumerate() {
            let mut state = self.of_line_start[l];
            for runs in periods.iter_mut() {
                runs.sort_by_key(|r| (self.of_product[r.product], r.product));
                for r in runs.iter_mut() {
                    let k = self.of_product[r.product];
                    r.cleandown_before = self.needs_cleandown(state, k);
                    state = k;
                }
            }
        }
    }

    /// Hours `runs` (already in profile order) take on `line` after a line state `state`,
    /// and the state after them.
    pub fn hours(&self, plant: &Plant, line: usize, state: usize, runs: &[Run]) -> (f64, usize) {
        let mut h = 0.0;
        let mut s = state;
        for r in runs {
            let k = self.of_product[r.product];
            if self.needs_cleandown(s, k) {
                h += plant.cleandown_hours;
            }
            s = k;
            let p = &plant.products[r.product];
            let rate = plant.lines[line].rate(r.product).unwrap_or(f64::INFINITY);
            h += r.quantity / rate + p.setup_hours;
        }
        (h, s)
    }
}
