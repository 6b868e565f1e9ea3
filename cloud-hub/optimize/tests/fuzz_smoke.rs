//! The fuzz targets' bodies over their seed corpora and deterministic mutations (see
//! `cloud-hub/fuzz/README.md`): no input may panic a parser.

use std::path::Path;

fn corpus(target: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn vrplib_and_solomon() {
    assert!(
        foodflow_fuzzkit::smoke(&corpus("vrplib"), 200, foodflow_optimize::fuzz::vrplib) >= 800
    );
}

#[test]
fn jobshop() {
    assert!(
        foodflow_fuzzkit::smoke(&corpus("jobshop"), 200, foodflow_optimize::fuzz::jobshop) >= 400
    );
}

#[test]
fn plan() {
    assert!(foodflow_fuzzkit::smoke(&corpus("plan"), 200, foodflow_optimize::fuzz::plan) >= 200);
}
