//! Device profiles: every shipped example is valid; broken ones fail with file, line, field and
//! a hint, both through the library and through `foodflow-edge check-profile`.

use std::path::{Path, PathBuf};
use std::process::Command;

use foodflow_edge::profile::{self, ProfileError};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../device-profiles")
}

#[test]
fn shipped_examples_are_valid() {
    for name in [
        "line-sim.yaml",
        "generic-x86.yaml",
        "jetson-orin.yaml",
        "intel-openvino.yaml",
    ] {
        let p = profile::load(&examples().join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.device.id.as_str().is_empty());
    }
}

const GOOD: &str = "\
device:
  id: box-1
  site: s
mqtt:
  - name: b
    broker: mqtt://127.0.0.1:1883
    client_id: c1
    subscriptions:
      - topic: plant/#
        codec: json
        stream: mqtt/json
";

fn broken(text: &str) -> ProfileError {
    match profile::parse(Path::new("broken.yaml"), text) {
        Ok(_) => panic!("profile should have been rejected:\n{text}"),
        Err(e) => e,
    }
}

fn expect(text: &str, line: usize, field: &str, says: &str) {
    let e = broken(text);
    let p = e
        .problems
        .iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem for {field:?} in: {e}"));
    assert_eq!(p.line, Some(line), "{e}");
    assert!(
        p.message.contains(says),
        "{field}: {:?} does not say {says:?}",
        p.message
    );
    let shown = e.to_string();
    assert!(shown.contains(&format!("broken.yaml:{line}:")), "{shown}");
}

#[test]
fn the_good_base_is_good() {
    profile::parse(Path::new("good.yaml"), GOOD).unwrap();
}

#[test]
fn misspelt_key_names_line_and_field() {
    let t = GOOD.replace("    client_id: c1", "    clientid: c1");
    expect(
        &t,
        7,
        "mqtt[0].clientid",
        "unknown field `clientid`, expected one of",
    );
}

#[test]
fn wrong_enum_value() {
    let t = GOOD.replace("codec: json", "codec: xml");
    expect(
        &t,
        10,
        "mqtt[0].subscriptions[0].codec",
        "unknown variant `xml`",
    );
}

#[test]
fn missing_required_field() {
    let t = GOOD.replace("  site: s\n", "");
    let e = broken(&t);
    assert!(
        e.problems[0].message.contains("missing field `site`"),
        "{e}"
    );
}

#[test]
fn bad_broker_url_and_topic_filter() {
    let t = GOOD
        .replace("mqtt://127.0.0.1:1883", "tcp://127.0.0.1:1883")
        .replace("topic: plant/#", "topic: plant/#/x");
    expect(&t, 6, "mqtt[0].broker", "write it as mqtt://host:port");
    expect(
        &t,
        9,
        "mqtt[0].subscriptions[0].topic",
        "'#' must be a whole level and the last one",
    );
}

#[test]
fn json_pointer_and_sparkplug_topic() {
    let t = GOOD.replace(
        "        stream: mqtt/json\n",
        "        stream: mqtt/json\n        json:\n          value_path: value\n      - topic: plant/sp/#\n        codec: sparkplug_b\n        stream: mqtt/sp\n",
    );
    expect(
        &t,
        13,
        "mqtt[0].subscriptions[0].json.value_path",
        "start it with '/'",
    );
    expect(
        &t,
        14,
        "mqtt[0].subscriptions[1].topic",
        "start with spBv1.0/",
    );
}

const OPCUA: &str = "\
device:
  id: box-1
  site: s
opcua:
  - name: plc
    endpoint: opc.tcp://127.0.0.1:4840
    security: { policy: basic256_sha256, mode: none }
    stream: opcua/l1
    tags:
      - node: ns=2;s=A
        name: a
        deadband: -1
      - node: not-a-node
        name: a
";

#[test]
fn opcua_rules() {
    expect(OPCUA, 7, "opcua[0].security", "does not go with mode");
    expect(
        OPCUA,
        12,
        "opcua[0].tags[0].deadband",
        "must be a number ≥ 0",
    );
    expect(
        OPCUA,
        13,
        "opcua[0].tags[1].node",
        "is not an OPC UA node id",
    );
    expect(OPCUA, 14, "opcua[0].tags[1].name", "is used twice");
    assert_eq!(
        broken(OPCUA).problems.len(),
        4,
        "all problems reported at once"
    );
}

#[test]
fn bad_units_and_stream_ids() {
    let t = format!("{GOOD}quotas:\n  telemetry: {{ max_bytes: 12 furlongs, max_age: 7d }}\n");
    let e = broken(&t);
    assert!(e.problems[0].message.contains("unknown byte unit"), "{e}");
    assert_eq!(e.problems[0].line, Some(13), "{e}");
    assert!(
        !e.problems[0].message.starts_with("quotas"),
        "no doubled path: {e}"
    );
    let t = GOOD.replace("stream: mqtt/json", "stream: mqtt json");
    let e = broken(&t);
    assert!(e.problems[0].message.contains("contains ' '"), "{e}");
}

#[test]
fn not_yaml_at_all() {
    let e = broken("device: [unclosed\n");
    assert!(e.problems[0].line.is_some(), "{e}");
}

#[test]
fn check_profile_command_reports_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, OPCUA).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_foodflow-edge"))
        .arg("check-profile")
        .arg(examples().join("line-sim.yaml"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("line-sim.yaml: ok"), "{stdout}");
    assert!(
        stderr.contains("bad.yaml:12:9: field `opcua[0].tags[0].deadband`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 2 profile(s) failed validation"),
        "{stderr}"
    );
}

#[test]
fn camera_models_need_a_vision_manifest() {
    let text =
        format!("{GOOD}cameras:\n  - name: top\n    source: test:ball\n    models: [defects]\n");
    expect(&text, 15, "cameras[0].models", "vision.manifest");
    let ok = format!("{text}vision:\n  manifest: models/models.yaml\n");
    profile::parse(Path::new("ok.yaml"), &ok).unwrap_or_else(|e| panic!("{e}"));
    expect(
        &format!("{ok}  threads: 2\n"),
        18,
        "vision.threads",
        "expected one of `manifest`, `intra_threads`",
    );
    expect(
        &format!("{ok}  io_binding: always\n"),
        18,
        "vision.io_binding",
        "expected one of `auto`, `on`, `off`",
    );
}
