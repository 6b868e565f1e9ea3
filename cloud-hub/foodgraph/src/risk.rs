//! Supplier risk propagated to lots, with the paths that carry it. A lot received from a
//! supplier inherits the supplier's risk; a transformation passes each input's risk on scaled
//! by the input's share of the inputs (by quantity when stated); containers pass risk through.
//! The lot's score combines its paths as a noisy-OR: 1 − Π(1 − contribution).

use std::collections::HashMap;

use serde::Serialize;

use crate::epcis::EventType;
use crate::graph::{Graph, QueryError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskPath {
    pub supplier: String,
    pub supplier_risk: f64,
    /// From the lot received from the supplier to the queried lot.
    pub path: Vec<String>,
    /// The supplier's risk times the shares along the path.
    pub contribution: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    pub id: String,
    pub score: f64,
    /// The strongest paths first (at most `max_paths`).
    pub paths: Vec<RiskPath>,
    /// Paths found in all (a walk stops enumerating after 100,000).
    pub path_count: usize,
}

const PATH_LIMIT: usize = 100_000;

pub fn propagate(
    g: &Graph,
    id: &str,
    supplier_risk: &HashMap<String, f64>,
    max_depth: u32,
    max_paths: usize,
) -> Result<Risk, QueryError> {
    g.events_of(id)?;
    let mut paths = Vec::new();
    let mut stack = vec![id.to_owned()];
    walk(g, id, 1.0, supplier_risk, max_depth, &mut stack, &mut paths);
    let score = 1.0
        - paths.iter().fold(1.0, |acc, p: &RiskPath| {
            acc * (1.0 - p.contribution.clamp(0.0, 1.0))
        });
    let path_count = paths.len();
    paths.sort_by(|a, b| {
        b.contribution
            .total_cmp(&a.contribution)
            .then_with(|| a.path.cmp(&b.path))
    });
    paths.truncate(max_paths);
    Ok(Risk {
        id: id.to_owned(),
        score,
        paths,
        path_count,
    })
}

fn walk(
    g: &Graph,
    id: &str,
    share: f64,
    risk: &HashMap<String, f64>,
    depth_left: u32,
    stack: &mut Vec<String>,
    out: &mut Vec<RiskPath>,
) {
    if out.len() >= PATH_LIMIT {
        return;
    }
    if let Ok(events) = g.events_of(id) {
        for e in events {
            if e.biz_step.as_deref() != Some("receiving") {
                continue;
            }
            for s in e.sources.iter().filter(|s| s.kind.ends_with("party")) {
                if let Some(&r) = risk.get(&s.id) {
                    let mut path: Vec<String> = stack.clone();
                    path.reverse();
                    out.push(RiskPath {
                        supplier: s.id.clone(),
                        supplier_risk: r,
                        path,
                        contribution: r * share,
                    });
                }
            }
        }
    }
    if depth_left == 0 {
        return;
    }
    for (from, e) in g.up_edges(id) {
        if stack.contains(&from) {
            continue;
        }
        let s = if e.kind == EventType::TransformationEvent {
            g.input_share(&e, &from)
        } else {
            1.0
        };
        stack.push(from.clone());
        walk(g, &from, share * s, risk, depth_left - 1, stack, out);
        stack.pop();
    }
}
