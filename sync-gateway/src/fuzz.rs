//! Fuzz target body (run by `sync-gateway/fuzz` with cargo-fuzz and by the smoke test over the
//! seed corpus): gateway configuration text gives a checked config or an error, never a panic.

/// Gateway configuration YAML: parsed and checked.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::config::Config::parse(text, "fuzz.yaml");
}
