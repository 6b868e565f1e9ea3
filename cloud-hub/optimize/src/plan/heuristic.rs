//! A quick plan to start the MIP from: period by period, each product's demand not covered by
//! usable stock is made lot-for-lot on the line with the most hours left (a line already running
//! first, so no extra crew is called), in allergen order; nothing is built ahead.

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
                    let score = room + if running { 1e12 } else { 0.0 } - used;
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
        for (l, s) in state.iter_mut().enumerate() {
            let (_, after) = profiles.hours(plant, l, *s, &plan.runs[l][t]);
            *s = after;
        }
    }
    profiles.sequence(&mut plan);
    plan
}
