//! The edge's fuzz targets over their seed corpora plus mutations (see `foodflow-fuzzkit`);
//! `make fuzz` runs them coverage-guided.

use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn device_profiles() {
    assert!(foodflow_fuzzkit::smoke(&corpus("profile"), 100, foodflow_edge::fuzz::profile) >= 400);
}

#[test]
fn json_messages() {
    assert!(
        foodflow_fuzzkit::smoke(&corpus("json_codec"), 300, foodflow_edge::fuzz::json_codec)
            >= 1200
    );
}

#[test]
fn sparkplug_sessions() {
    assert!(
        foodflow_fuzzkit::smoke(&corpus("sparkplug"), 500, foodflow_edge::fuzz::sparkplug) >= 1500
    );
}
