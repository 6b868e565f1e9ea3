//! The gateway configuration fuzz target over its seed corpus plus mutations (see
//! `foodflow-fuzzkit`); `make fuzz` runs it coverage-guided.

#[test]
fn gateway_config() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/config");
    assert!(foodflow_fuzzkit::smoke(&corpus, 300, foodflow_gateway::fuzz::config) >= 600);
}
