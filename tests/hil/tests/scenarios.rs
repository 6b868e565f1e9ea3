//! The shipped scenarios (tests/hil/scenarios/*.yaml), each run by the real `foodflow-sim
//! scenario` with the real edge, gateway, hub and Mosquitto. The runner's own verdict (exit
//! status) and its JSON line are both checked.

use std::path::Path;
use std::process::Command;

use foodflow_hil::peers::bin;

/// Scenarios run one at a time: each is a whole plant with three tiers and a broker, and they
/// would otherwise compete for the machine's cores and distort each other's timing.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(name: &str) -> serde_json::Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.yaml"));
    let out = Command::new(bin("foodflow-sim").unwrap())
        .arg("scenario")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    eprintln!("{name}: {last}");
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{last}\n{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    for k in ["lost", "duplicated", "reordered"] {
        assert_eq!(v[k], 0, "{name}: {k}");
    }
    assert!(v["acked"].as_u64().unwrap() > 0);
    assert_eq!(
        v["delivered"].as_u64().unwrap() + v["gaps"].as_u64().unwrap(),
        v["acked"].as_u64().unwrap(),
        "{name}: every acknowledged record is delivered or accounted for by a gap"
    );
    v
}

#[test]
fn baseline() {
    let v = run("baseline");
    assert_eq!(v["gaps"], 0);
}

#[test]
fn kill_all_tiers() {
    let v = run("kill-all-tiers");
    assert!(v["kills"].as_u64().unwrap() >= 30);
    assert_eq!(v["gaps"], 0);
}

#[test]
fn hub_outage() {
    let v = run("hub-outage");
    assert_eq!(v["gaps"], 0);
}

#[test]
fn blackhole() {
    let v = run("blackhole");
    assert_eq!(v["gaps"], 0);
}

#[test]
fn gateway_quota() {
    let v = run("gateway-quota");
    assert!(v["gaps"].as_u64().unwrap() > 0, "telemetry was shed");
    assert_eq!(v["critical"]["gaps"], 0);
    assert_eq!(v["critical"]["lost"], 0);
    assert_eq!(v["critical"]["delivered"], v["critical"]["acked"]);
}
