//! The synthetic supply chain: valid EPCIS, reproducible, mass-balanced, deep enough to trace.

use foodflow_foodgraph::balance::{self, Tolerance};
use foodflow_foodgraph::fsma::{self, Cte, Filter};
use foodflow_foodgraph::synth::{Plan, generate};
use foodflow_foodgraph::{Direction, Graph, TraceQuery, epcis};

fn build(plan: &Plan) -> (Graph, foodflow_foodgraph::synth::Summary, Vec<String>) {
    let mut g = Graph::new();
    let mut hashes = Vec::new();
    let summary = generate(plan, &mut |v| {
        let e = epcis::parse_event(&v).unwrap_or_else(|p| panic!("{p:?} in {v}"));
        hashes.push(e.hash.clone());
        g.insert(e);
    });
    (g, summary, hashes)
}

#[test]
fn generated_chains_are_valid_reproducible_and_traceable() {
    let plan = Plan::new(2_000, 7);
    let (g, s, hashes) = build(&plan);
    assert_eq!(s.events, hashes.len());
    assert_eq!(
        g.event_count(),
        s.events,
        "no two generated events are the same event"
    );
    assert!(s.lots >= 1_900, "{s:?}");
    assert_eq!(s.events, s.lots * 10);
    let (_, again, hashes2) = build(&plan);
    assert_eq!(
        (again, hashes2),
        (s.clone(), hashes.clone()),
        "same seed, same chain"
    );
    let (_, _, other) = build(&Plan::new(2_000, 8));
    assert_ne!(other[..50], hashes[..50]);

    // Losses of 1–8 % and no gains: every transformation balances.
    assert!(balance::check(&g, Tolerance::default(), true).is_empty());
    assert!(!balance::check(&g, Tolerance::default(), false).is_empty());

    // Forward from raw lots: some reach the fifth hop (a store load) and a store.
    let deep = s
        .sample_raw
        .iter()
        .filter_map(|id| {
            g.trace(
                id,
                &TraceQuery {
                    max_depth: 5,
                    ..Default::default()
                },
            )
            .ok()
        })
        .filter(|t| t.nodes.iter().any(|n| n.depth == 5))
        .count();
    assert!(
        deep > 0,
        "no 5-hop path from {} raw lots",
        s.sample_raw.len()
    );
    // Backward from batches: ingredient and raw lots, the mills and farms they came from.
    let b = &s.sample_batches[0];
    let t = g
        .trace(
            b,
            &TraceQuery {
                direction: Direction::Backward,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(t.nodes.iter().any(|n| n.depth == 2), "{t:?}");
    assert!(
        t.parties.iter().any(|p| p.starts_with("urn:epc:id:pgln:1")),
        "a farm: {:?}",
        t.parties
    );

    // Every FSMA CTE kind but first land-based receiving appears.
    let rows = fsma::rows(&g, &Filter::default());
    for cte in [
        Cte::Harvesting,
        Cte::Cooling,
        Cte::InitialPacking,
        Cte::Shipping,
        Cte::Receiving,
        Cte::Transformation,
    ] {
        assert!(rows.iter().any(|r| r.cte == cte), "no {cte:?} row");
    }
}
