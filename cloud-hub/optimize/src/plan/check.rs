//! The production plan and its independent checker. The checker re-derives everything from the
//! plan itself — line hours with set-ups and clean-downs, the allergen rule along each line's
//! timeline, crews, stock first-in first-out with its use-by periods, demand floors — and prices
//! it. It shares no code with the model or the heuristic.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use serde::Serialize;

use super::instance::Plant;

/// One production run on a line: what, how much, and whether an allergen clean-down precedes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub product: usize,
    pub quantity: f64,
    pub cleandown_before: bool,
}

/// Runs per line and period, in the order they are made; shipments per product and period.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub runs: Vec<Vec<Vec<Run>>>,
    pub shipped: Vec<Vec<f64>>,
}

impl Plan {
    pub fn empty(plant: &Plant) -> Self {
        Plan {
            runs: vec![vec![Vec::new(); plant.periods]; plant.lines.len()],
            shipped: vec![vec![0.0; plant.periods]; plant.products.len()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Costs {
    pub holding: f64,
    pub shortage: f64,
    pub setup: f64,
    pub cleandown: f64,
    pub total: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub costs: Costs,
    /// Hours used per line and period (production, set-ups, clean-downs).
    pub hours: Vec<Vec<f64>>,
    /// Stock per product at the end of each period.
    pub stock: Vec<Vec<f64>>,
    pub cleandowns: usize,
    pub runs: usize,
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    NotMadeHere {
        line: String,
        period: usize,
        product: String,
    },
    BadQuantity {
        line: String,
        period: usize,
        product: String,
        quantity: f64,
    },
    BelowMinLot {
        line: String,
        period: usize,
        product: String,
        quantity: f64,
        min_lot: f64,
    },
    MissingCleandown {
        line: String,
        period: usize,
        product: String,
        left: Vec<String>,
    },
    AllergenFreeAfterAllergen {
        line: String,
        period: usize,
        product: String,
    },
    OverHours {
        line: String,
        period: usize,
        used: f64,
        available: f64,
    },
    OverCrews {
        period: usize,
        used: f64,
        available: f64,
    },
    OverDemand {
        product: String,
        period: usize,
        shipped: f64,
        demand: f64,
    },
    BelowFloor {
        product: String,
        period: usize,
        shipped: f64,
        floor: f64,
    },
    ShipsWhatIsNotThere {
        product: String,
        period: usize,
        missing: f64,
    },
    Expired {
        product: String,
        period: usize,
        quantity: f64,
    },
    Shape(String),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Violation::*;
        match self {
            NotMadeHere {
                line,
                period,
                product,
            } => write!(
                f,
                "line {line} period {period}: {product} is not made on this line"
            ),
            BadQuantity {
                line,
                period,
                product,
                quantity,
            } => write!(
                f,
                "line {line} period {period}: {product} run of {quantity} units"
            ),
            BelowMinLot {
                line,
                period,
                product,
                quantity,
                min_lot,
            } => write!(
                f,
                "line {line} period {period}: {product} run of {quantity} below its minimum lot {min_lot}"
            ),
            MissingCleandown {
                line,
                period,
                product,
                left,
            } => write!(
                f,
                "line {line} period {period}: {product} follows a run with {} and no clean-down",
                left.join(", ")
            ),
            AllergenFreeAfterAllergen {
                line,
                period,
                product,
            } => write!(
                f,
                "line {line} period {period}: allergen-free {product} runs after an allergen-containing run"
            ),
            OverHours {
                line,
                period,
                used,
                available,
            } => write!(
                f,
                "line {line} period {period}: {used:.3} h used, {available} h available"
            ),
            OverCrews {
                period,
                used,
                available,
            } => write!(
                f,
                "period {period}: {used} crews needed, {available} available"
            ),
            OverDemand {
                product,
                period,
                shipped,
                demand,
            } => write!(
                f,
                "{product} period {period}: ships {shipped} against a demand of {demand}"
            ),
            BelowFloor {
                product,
                period,
                shipped,
                floor,
            } => write!(
                f,
                "{product} period {period}: ships {shipped}, at least {floor} required"
            ),
            ShipsWhatIsNotThere {
                product,
                period,
                missing,
            } => write!(
                f,
                "{product} period {period}: ships {missing} units more than it has"
            ),
            Expired {
                product,
                period,
                quantity,
            } => write!(
                f,
                "{product} period {period}: {quantity} units pass their shelf life unshipped"
            ),
            Shape(m) => write!(f, "plan shape: {m}"),
        }
    }
}

fn tol(scale: f64) -> f64 {
    1e-6 * scale.abs().max(1.0)
}

/// Re-verifies every constraint of `plan` against `plant` and prices it.
pub fn evaluate(plant: &Plant, plan: &Plan) -> Evaluation {
    let t_n = plant.periods;
    let mut v = Vec::new();
    let mut costs = Costs {
        holding: 0.0,
        shortage: 0.0,
        setup: 0.0,
        cleandown: 0.0,
        total: 0.0,
    };
    let shape_ok = plan.runs.len() == plant.lines.len()
        && plan.runs.iter().all(|l| l.len() == t_n)
        && plan.shipped.len() == plant.products.len()
        && plan.shipped.iter().all(|s| s.len() == t_n);
    if !shape_ok {
        v.push(Violation::Shape(format!(
            "expected {} lines × {t_n} periods and {} products × {t_n} periods",
            plant.lines.len(),
            plant.products.len()
        )));
        return Evaluation {
            costs,
            hours: Vec::new(),
            stock: Vec::new(),
            cleandowns: 0,
            runs: 0,
            violations: v,
        };
    }
    let mut made = vec![vec![0.0; t_n]; plant.products.len()];
    let mut hours = vec![vec![0.0; t_n]; plant.lines.len()];
    let mut crews = vec![0.0; t_n];
    let mut cleandowns = 0;
    let mut runs = 0;
    for (l, line) in plant.lines.iter().enumerate() {
        let mut on_line: BTreeSet<String> = line.initial_allergens.clone();
        for t in 0..t_n {
            let list = &plan.runs[l][t];
            let mut allergen_seen = false;
            if !list.is_empty() {
                crews[t] += line.crew;
            }
            for run in list {
                runs += 1;
                let Some(product) = plant.products.get(run.product) else {
                    v.push(Violation::Shape(format!(
                        "line {} period {t}: product index {}",
                        line.id, run.product
                    )));
                    continue;
                };
                let Some(rate) = line
                    .rates
                    .iter()
                    .find(|(p, _)| *p == run.product)
                    .map(|(_, r)| *r)
                else {
                    v.push(Violation::NotMadeHere {
                        line: line.id.clone(),
                        period: t,
                        product: product.id.clone(),
                    });
                    continue;
                };
                if !(run.quantity.is_finite() && run.quantity > 0.0) {
                    v.push(Violation::BadQuantity {
                        line: line.id.clone(),
                        period: t,
                        product: product.id.clone(),
                        quantity: run.quantity,
                    });
                    continue;
                }
                if run.quantity < product.min_lot - tol(product.min_lot) {
                    v.push(Violation::BelowMinLot {
                        line: line.id.clone(),
                        period: t,
                        product: product.id.clone(),
                        quantity: run.quantity,
                        min_lot: product.min_lot,
                    });
                }
                if product.allergens.is_empty() && allergen_seen {
                    v.push(Violation::AllergenFreeAfterAllergen {
                        line: line.id.clone(),
                        period: t,
                        product: product.id.clone(),
                    });
                }
                allergen_seen |= !product.allergens.is_empty();
                let left: Vec<String> = on_line.difference(&product.allergens).cloned().collect();
                if run.cleandown_before {
                    cleandowns += 1;
                    hours[l][t] += plant.cleandown_hours;
                    costs.cleandown += plant.cleandown_cost;
                } else if !left.is_empty() {
                    v.push(Violation::MissingCleandown {
                        line: line.id.clone(),
                        period: t,
                        product: product.id.clone(),
                        left,
                    });
                }
                on_line = product.allergens.clone();
                hours[l][t] += run.quantity / rate + product.setup_hours;
                costs.setup += product.setup_cost;
                made[run.product][t] += run.quantity;
            }
            let available = line.hours[t];
            if hours[l][t] > available + tol(available) {
                v.push(Violation::OverHours {
                    line: line.id.clone(),
                    period: t,
                    used: hours[l][t],
                    available,
                });
            }
        }
    }
    for (t, used) in crews.iter().enumerate() {
        if *used > plant.crews[t] + tol(plant.crews[t]) {
            v.push(Violation::OverCrews {
                period: t,
                used: *used,
                available: plant.crews[t],
            });
        }
    }
    let mut stock = vec![vec![0.0; t_n]; plant.products.len()];
    for (p, product) in plant.products.iter().enumerate() {
        // Lots as (last period it may ship in, units), oldest first.
        let mut lots: VecDeque<(usize, f64)> = VecDeque::new();
        if product.initial_stock > 0.0 {
            lots.push_back((product.initial_stock_life - 1, product.initial_stock));
        }
        for t in 0..t_n {
            if made[p][t] > 0.0 {
                lots.push_back((t + product.shelf_life - 1, made[p][t]));
            }
            let demand = product.demand[t];
            let ship = plan.shipped[p][t];
            if !(ship.is_finite() && ship >= -tol(demand)) || ship > demand + tol(demand) {
                v.push(Violation::OverDemand {
                    product: product.id.clone(),
                    period: t,
                    shipped: ship,
                    demand,
                });
            }
            let floor = product.min_service * demand;
            if ship < floor - tol(floor) {
                v.push(Violation::BelowFloor {
                    product: product.id.clone(),
                    period: t,
                    shipped: ship,
                    floor,
                });
            }
            let mut need = ship.max(0.0);
            while need > 0.0 {
                let Some(front) = lots.front_mut() else { break };
                let take = front.1.min(need);
                front.1 -= take;
                need -= take;
                if front.1 <= tol(take) {
                    lots.pop_front();
                }
            }
            if need > tol(ship) {
                v.push(Violation::ShipsWhatIsNotThere {
                    product: product.id.clone(),
                    period: t,
                    missing: need,
                });
            }
            let expired: f64 = lots.iter().filter(|(by, _)| *by <= t).map(|l| l.1).sum();
            // What is left at the horizon's end may still be shipped afterwards.
            if expired > tol(expired.max(demand)) {
                v.push(Violation::Expired {
                    product: product.id.clone(),
                    period: t,
                    quantity: expired,
                });
            }
            lots.retain(|(by, _)| *by > t);
            let held: f64 = lots.iter().map(|l| l.1).sum::<f64>() + expired;
            stock[p][t] = held;
            costs.holding += held * product.holding_cost;
            costs.shortage += (demand - ship).max(0.0) * product.shortage_cost;
        }
    }
    costs.total = costs.holding + costs.shortage + costs.setup + costs.cleandown;
    Evaluation {
        costs,
        hours,
        stock,
        cleandowns,
        runs,
        violations: v,
    }
}
