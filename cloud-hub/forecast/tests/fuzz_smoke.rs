//! The fuzz target's body over its seed corpus and deterministic mutations (see
//! `cloud-hub/fuzz/README.md`): no CSV may panic the forecaster.

#[test]
fn forecast_csv() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/forecast_csv");
    assert!(foodflow_fuzzkit::smoke(&corpus, 200, foodflow_forecast::fuzz::csv) >= 600);
}
