//! The hub's request-body fuzz targets over their seed corpora and deterministic mutations
//! (see `foodflow-fuzzkit`); `make fuzz` runs them coverage-guided.

use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn login_bodies() {
    assert!(foodflow_fuzzkit::smoke(&corpus("login"), 300, foodflow_hub::fuzz::login) >= 1500);
}

#[test]
fn api_bodies() {
    assert!(
        foodflow_fuzzkit::smoke(&corpus("api_body"), 300, foodflow_hub::fuzz::api_body) >= 3000
    );
}
