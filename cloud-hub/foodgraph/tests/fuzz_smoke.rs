//! The fuzz target's body over its seed corpus and deterministic mutations (see
//! `cloud-hub/fuzz/README.md`): no capture body may panic FoodGraph.

#[test]
fn epcis() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/epcis");
    assert!(foodflow_fuzzkit::smoke(&corpus, 200, foodflow_foodgraph::fuzz::epcis) >= 400);
}
