//! Fuzz target body (run by `cloud-hub/fuzz` with cargo-fuzz and by the smoke test over the
//! seed corpus): any capture body gives events or an error, never a panic, and accepted events
//! can be indexed, walked, balanced, risk-scored and exported.

use std::collections::HashMap;

use crate::graph::{Direction, Graph, TraceQuery};
use crate::{balance, fsma, parse_capture, risk};

pub fn epcis(data: &[u8]) {
    let Ok(events) = parse_capture(data, 1_000) else {
        return;
    };
    let ids: Vec<String> = events
        .iter()
        .flat_map(|e| {
            e.epcs
                .iter()
                .chain(&e.input_epcs)
                .chain(&e.output_epcs)
                .cloned()
        })
        .chain(events.iter().flat_map(|e| {
            e.quantities
                .iter()
                .chain(&e.input_quantities)
                .chain(&e.output_quantities)
                .map(|q| q.epc_class.clone())
        }))
        .take(20)
        .collect();
    let mut g = Graph::new();
    for e in events {
        g.insert(e);
    }
    let risks: HashMap<String, f64> = HashMap::new();
    for id in &ids {
        for direction in [Direction::Forward, Direction::Backward] {
            let q = TraceQuery {
                direction,
                ..TraceQuery::default()
            };
            let _ = g.trace(id, &q);
        }
        let _ = risk::propagate(&g, id, &risks, 10, 5);
    }
    let _ = balance::check(&g, balance::Tolerance::default(), false);
    let rows = fsma::rows(&g, &fsma::Filter::default());
    let mut csv = Vec::new();
    let _ = fsma::write_csv(&rows, &mut csv);
}
