//! A quick plan to start the MIP from: period by period, each product's demand not covered by
//! usable stock is made lot-for-lot on the line with the most hours left (a line already running
//! first, so no extra crew is called), in allergen order. Then the hours a line has left that
//! period lengthen the runs it already makes, building ahead for the coming periods' demand
//! within shelf life while holding it costs less than the set-up (and clean-down) it saves.

use std::collections::VecDeque;

use super::check::{Plan, Run};
use super::instance::Plant;
use super::sequence::Profiles;

pub fn lot_for_lot(plant: &Plant, profiles: &Profiles) -> Plan {
    let t_n = plant.periods;
    let mut plan = Plan::empty(plant);
    let mut lots: Vec<VecDeque<(usize, f64)>> = plant
        .products
        .iter()
        .map(|p| {
            let mut q = VecDeque::new();
            if p.initial_stock > 0.0 {
                q.push_back((p.initial_stock_life - 1, p.initial_stock));
            }
            q
        })
        .collect();
    let mut state: Vec<usize> = profiles.of_line_start.clone();
    let mut order: Vec<usize> = (0..plant.products.len()).collect();
    order.sort_by_key(|&p| (profiles.of_product[p], p));
    for t in 0..t_n {
        let mut crews_used = 0.0;
        for &p in &order {
            let product = &plant.products[p];
            let usable: f64 = lots[p].iter().filter(|(by, _)| *by >= t).map(|l| l.1).sum();
            let mut need = (product.demand[t] - usable).max(0.0);
            while need > 1e-9 {
                let mut best: Option<(usize, f64)> = None;
                for (l, line) in plant.lines.iter().enumerate() {
                    let Some(rate) = line.rate(p) else { continue };
                    let running = !plan.runs[l][t].is_empty();
                    if !running && crews_used + line.crew > plant.crews[t] + 1e-9 {
                        continue;
                    }
                    let (used, _) = profiles.hours(plant, l, state[l], &plan.runs[l][t]);
                    let probe = Run {
                        product: p,
                        quantity: 0.0,
                        cleandown_before: false,
                    };
                    let mut with = plan.runs[l][t].clone();
                    with.push(probe);
                    let (fixed, _) = profiles.hours(plant, l, state[l], &with);
                    let room = (line.hours[t] - fixed) * rate;
                    if room <= 1e-9 || room < product.min_lot {
                        continue;
                    }
                    // A running line first (no extra crew), then the fewest hours lost to set-up
                    // and clean-down, then the most room.
                    let lost = fixed - used;
                    let score = room - 1e6 * lost + if running { 1e12 } else { 0.0 };
                    if best.is_none_or(|(_, s)| score > s) {
                        best = Some((l, score));
                    }
                }
                let Some((l, _)) = best else { break };
                let rate = plant.lines[l].rate(p).unwrap_or(0.0);
                let mut with = plan.runs[l][t].clone();
                with.push(Run {
                    product: p,
                    quantity: 0.0,
                    cleandown_before: false,
                });
                let (fixed, _) = profiles.hours(plant, l, state[l], &with);
                let room = (plant.lines[l].hours[t] - fixed) * rate;
                let qty = need.max(product.min_lot).min(room);
                if plan.runs[l][t].is_empty() {
                    crews_used += plant.lines[l].crew;
                }
                plan.runs[l][t].push(Run {
                    product: p,
                    quantity: qty,
                    cleandown_before: false,
                });
                lots[p].push_back((t + product.shelf_life - 1, qty));
                need -= qty;
            }
            // Ship what is there, oldest first.
            let mut ship_left = product.demand[t];
            let mut shipped = 0.0;
            while ship_left > 1e-12 {
                let Some(front) = lots[p].front_mut() else {
                    break;
                };
                let take = front.1.min(ship_left);
                front.1 -= take;
                ship_left -= take;
                shipped += take;
                if front.1 <= 1e-12 {
                    lots[p].pop_front();
                }
            }
            plan.shipped[p][t] = shipped;
            lots[p].retain(|(by, q)| *by > t && *q > 1e-12);
        }
        build_ahead(plant, profiles, &state, t, &mut plan, &mut lots);
        for (l, s) in state.iter_mut().enumerate() {
            let (_, after) = profiles.hours(plant, l, *s, &plan.runs[l][t]);
            *s = after;
        }
    }
    profiles.sequence(&mut plan);
    plan
}

/// Lengthens period `t`'s runs with the hours their lines have left: each run's product is made
/// for the coming periods (within its shelf life) whose demand is worth holding — holding a
/// period's demand until then costs less than another set-up and clean-down — less the stock
/// already there. No new run, so no new set-up, crew or clean-down.
fn build_ahead(
    plant: &Plant,
    profiles: &Profiles,
    state: &[usize],
    t: usize,
    plan: &mut Plan,
    lots: &mut [VecDeque<(usize, f64)>],
) {
    for (l, line) in plant.lines.iter().enumerate() {
        for k in 0..plan.runs[l][t].len() {
            let p = plan.runs[l][t][k].product;
            let product = &plant.products[p];
            let Some(rate) = line.rate(p) else { continue };
            let saved = product.setup_cost
                + if product.allergens.is_empty() {
                    0.0
                } else {
                    plant.cleandown_cost
                };
            let last = (t + product.shelf_life - 1).min(plant.periods - 1);
            let mut wanted = 0.0;
            for u in t + 1..=last {
                if product.holding_cost * (u - t) as f64 * product.demand[u] > saved {
                    break;
                }
                wanted += product.demand[u];
            }
            let stock: f64 = lots[p].iter().map(|x| x.1).sum();
            let (used, _) = profiles.hours(plant, l, state[l], &plan.runs[l][t]);
            let room = ((line.hours[t] - used) * rate).max(0.0);
            let extra = (wanted - stock).min(room);
            if extra > 1e-6 {
                plan.runs[l][t][k].quantity += extra;
                lots[p].push_back((t + product.shelf_life - 1, extra));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanInstance, evaluate};

    fn plant(setup_cost: f64, holding_cost: f64) -> Plant {
        let text = format!(
            "
periods: 3
cleandown_hours: 1
crews: 1
lines:
  - id: L1
    hours: [8, 8, 8]
    rates: {{A: 100}}
products:
  - id: A
    shelf_life: 3
    setup_cost: {setup_cost}
    holding_cost: {holding_cost}
    shortage_cost: 50
    demand: [100, 100, 100]
"
        );
        PlanInstance::parse("t", &text).unwrap().plant().unwrap()
    }

    fn runs(plan: &Plan) -> Vec<f64> {
        plan.runs[0].iter().flatten().map(|r| r.quantity).collect()
    }

    #[test]
    fn a_dear_set_up_is_made_once_and_held() {
        let p = plant(500.0, 1.0);
        let plan = lot_for_lot(&p, &Profiles::new(&p));
        assert_eq!(runs(&plan), vec![300.0]);
        assert!(evaluate(&p, &plan).violations.is_empty());
    }

    #[test]
    fn dear_holding_is_made_day_by_day() {
        let p = plant(50.0, 1.0);
        let plan = lot_for_lot(&p, &Profiles::new(&p));
        // Holding the third day's 100 for two days (200) costs more than a set-up (50); holding
        // the second day's for one day (100) does too.
        assert_eq!(runs(&plan), vec![100.0, 100.0, 100.0]);
        assert!(evaluate(&p, &plan).violations.is_empty());
    }
}
