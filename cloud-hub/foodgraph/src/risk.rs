//! Supplier risk propagated to lots, with the paths that carry it. A lot received from a
//! supplier inherits the supplier's risk; a transformation passes each input's risk on scaled
//! by the input's share of the inputs (by quantity when stated); containers pass risk through.
//! For every (supplier, receiving lot) pair the strongest path counts — the largest product of
//! shares, found by dynamic programming over the upstream graph level by level (polynomial:
//! depth × edges, where enumerating every simple path is exponential on blended lots) — and
//! the lot's score combines them as a noisy-OR: 1 − Π(1 − contribution). The walk has a work
//! limit; past it the query is refused rather than left to run.

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
    /// (Supplier, receiving lot) pairs found, one path each.
    pub path_count: usize,
}

/// Edges one query may relax (about a second of work): a query past it is refused.
pub const WORK_LIMIT: usize = 2_000_000;

#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(
        "the risk walk from {id:?} would relax more than {WORK_LIMIT} edges within depth {depth}; ask with a smaller depth"
    )]
    TooMuchWork { id: String, depth: u32 },
}

pub fn propagate(
    g: &Graph,
    id: &str,
    supplier_risk: &HashMap<String, f64>,
    max_depth: u32,
    max_paths: usize,
) -> Result<Risk, RiskError> {
    g.events_of(id)?;
    // best[lot] = (largest product of shares from lot to `id`, the next lot towards `id`).
    let mut best: HashMap<String, (f64, Option<String>)> = HashMap::new();
    best.insert(id.to_owned(), (1.0, None));
    let mut frontier = vec![id.to_owned()];
    let mut work = 0usize;
    for _ in 0..max_depth {
        let mut next: Vec<String> = Vec::new();
        for lot in &frontier {
            let share = best.get(lot).map_or(0.0, |b| b.0);
            for (from, e) in g.up_edges(lot) {
                work += 1;
                if work > WORK_LIMIT {
                    return Err(RiskError::TooMuchWork {
                        id: id.to_owned(),
                        depth: max_depth,
                    });
                }
                let s = if e.kind == EventType::TransformationEvent {
                    g.input_share(&e, &from)
                } else {
                    1.0
                };
                let cand = share * s;
                // Shares are at most 1: a cycle never improves a path, so this settles.
                let better = best.get(&from).is_none_or(|b| cand > b.0);
                if better && from != id {
                    best.insert(from.clone(), (cand, Some(lot.clone())));
                    next.push(from);
                }
            }
        }
        next.sort();
        next.dedup();
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    let mut paths = Vec::new();
    let mut lots: Vec<(&String, &(f64, Option<String>))> = best.iter().collect();
    lots.sort_by(|a, b| a.0.cmp(b.0));
    for (lot, (share, _)) in lots {
        for e in g.events_of(lot)? {
            if e.biz_step.as_deref() != Some("receiving") {
                continue;
            }
            for s in e.sources.iter().filter(|s| s.kind.ends_with("party")) {
                if let Some(&r) = supplier_risk.get(&s.id) {
                    paths.push(RiskPath {
                        supplier: s.id.clone(),
                        supplier_risk: r,
                        path: path_of(&best, lot),
                        contribution: r * share,
                    });
                }
            }
        }
    }
    paths.sort_by(|a, b| {
        (&a.supplier, &a.path)
            .cmp(&(&b.supplier, &b.path))
            .then(b.contribution.total_cmp(&a.contribution))
    });
    paths.dedup_by(|a, b| a.supplier == b.supplier && a.path == b.path);
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

/// The strongest path from `lot` to the queried lot, following the `next` links.
fn path_of(best: &HashMap<String, (f64, Option<String>)>, lot: &str) -> Vec<String> {
    let mut path = vec![lot.to_owned()];
    let mut at = lot;
    // A path never repeats a lot; the bound guards against a broken link table.
    while let Some((_, Some(next))) = best.get(at) {
        if path.len() > best.len() {
            break;
        }
        path.push(next.clone());
        at = next;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blended_lattice_is_walked_in_polynomial_time() {
        // 30 layers of 4 lots, each blended from all 4 of the layer above: 4^30 simple paths.
        let mut events = Vec::new();
        let lot = |l: usize, k: usize| format!("urn:epc:class:lgtin:0614141.000100.L{l}x{k}");
        for k in 0..4 {
            events.push(serde_json::json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "receiving",
                "eventTime": "2026-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
                "quantityList": [{"epcClass": lot(0, k), "quantity": 10, "uom": "KGM"}],
                "sourceList": [{"type": "urn:epcglobal:cbv:sdt:owning_party", "source": format!("urn:epc:id:pgln:0614141.0000{k}")}]}));
        }
        for l in 1..30 {
            for k in 0..4 {
                events.push(serde_json::json!({"type": "TransformationEvent", "bizStep": "commissioning",
                    "eventTime": format!("2026-01-{:02}T{:02}:00:00Z", 1 + l / 24, l % 24), "eventTimeZoneOffset": "+00:00",
                    "inputQuantityList": (0..4).map(|j| serde_json::json!({"epcClass": lot(l - 1, j), "quantity": 10, "uom": "KGM"})).collect::<Vec<_>>(),
                    "outputQuantityList": [{"epcClass": lot(l, k), "quantity": 40, "uom": "KGM"}]}));
            }
        }
        let doc = serde_json::json!({"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": events}});
        let mut g = Graph::new();
        for e in crate::parse_capture(doc.to_string().as_bytes(), 1000).unwrap() {
            g.insert(e);
        }
        let risks = HashMap::from([("urn:epc:id:pgln:0614141.00000".to_owned(), 0.5)]);
        let t0 = std::time::Instant::now();
        let r = propagate(&g, &lot(29, 0), &risks, 40, 3).unwrap();
        assert!(t0.elapsed().as_secs() < 5, "{:?}", t0.elapsed());
        assert_eq!(r.path_count, 1);
        assert_eq!(r.paths[0].path.len(), 30);
        // Each blend takes a quarter of each input: 0.5 × 0.25^29.
        assert!((r.paths[0].contribution - 0.5 * 0.25f64.powi(29)).abs() < 1e-20);
    }
}
