//! Mass balance of transformations: outputs against inputs in the same unit. Losses (cooking,
//! trimming) are normal up to a limit; an output above the inputs means a missing input lot —
//! a traceability gap.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::epcis::{EventType, Quantity};
use crate::graph::Graph;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Balance {
    pub event: String,
    pub time_ns: i64,
    pub uom: String,
    pub input: f64,
    pub output: f64,
    /// output / input.
    pub ratio: f64,
    pub ok: bool,
    pub note: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Output may exceed input by this fraction (scale and rounding error).
    pub max_gain: f64,
    /// Output may fall short of input by this fraction (process loss).
    pub max_loss: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            max_gain: 0.02,
            max_loss: 0.4,
        }
    }
}

fn by_uom(list: &[Quantity]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for q in list {
        if let (Some(x), Some(u)) = (q.quantity, &q.uom) {
            *m.entry(u.clone()).or_insert(0.0) += x;
        }
    }
    m
}

/// Checks every transformation with quantities in a unit both sides share; with `only_bad`,
/// just the ones out of tolerance.
pub fn check(g: &Graph, tol: Tolerance, only_bad: bool) -> Vec<Balance> {
    let mut out = Vec::new();
    for e in g.events_where(|m| m.kind == EventType::TransformationEvent) {
        let (ins, outs) = (by_uom(&e.input_quantities), by_uom(&e.output_quantities));
        for (uom, &input) in &ins {
            let Some(&output) = outs.get(uom) else {
                continue;
            };
            let ratio = if input > 0.0 {
                output / input
            } else {
                f64::INFINITY
            };
            let (ok, note) = if ratio > 1.0 + tol.max_gain {
                (
                    false,
                    format!(
                        "outputs exceed inputs by {:.1} %: an input lot is probably missing",
                        (ratio - 1.0) * 100.0
                    ),
                )
            } else if ratio < 1.0 - tol.max_loss {
                (
                    false,
                    format!(
                        "{:.1} % of the inputs are unaccounted for (more than the {:.0} % loss allowed)",
                        (1.0 - ratio) * 100.0,
                        tol.max_loss * 100.0
                    ),
                )
            } else {
                (true, String::new())
            };
            if ok && only_bad {
                continue;
            }
            out.push(Balance {
                event: e.hash.clone(),
                time_ns: e.time_ns,
                uom: uom.clone(),
                input,
                output,
                ratio,
                ok,
                note,
            });
        }
    }
    out.sort_by(|a, b| (a.time_ns, &a.event).cmp(&(b.time_ns, &b.event)));
    out
}
