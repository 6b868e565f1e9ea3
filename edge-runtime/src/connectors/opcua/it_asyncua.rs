//! OPC UA source against an independent server (Python asyncua): subscriptions deliver values
//! with their source timestamps and status codes, through the real `foodflow-edge` binary.

#[path = "../../../tests/support.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Edge, Proc, free_port, venv_python, wait_for_port};

/// 2030-01-01T00:00:00Z in Unix nanoseconds: the peer's timestamp base.
const BASE_NS: i64 = 1_893_456_000_000_000_000;

#[test]
fn subscriptions_keep_source_timestamps_and_status() {
    let port = free_port();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/connectors/opcua/asyncua_peer.py");
    let mut child = Command::new(venv_python())
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the asyncua peer");
    let stdout = child.stdout.take().unwrap();
    let _peer = Proc(child);
    let mut ready = String::new();
    BufReader::new(stdout).read_line(&mut ready).unwrap();
    assert!(ready.starts_with("READY ns=2"), "peer said {ready:?}");
    assert!(wait_for_port(port, Duration::from_secs(20)));

    let dir = tempfile::tempdir().unwrap();
    let profile = format!(
        "device: {{ id: it-opcua, site: test }}
opcua:
  - name: peer
    endpoint: opc.tcp://127.0.0.1:{port}/peer/
    stream: opcua/peer
    publishing_interval_ms: 100
    tags:
      - {{ node: \"ns=2;s=Peer.Temp\", name: peer.temp, unit: degC, sampling_interval_ms: 50 }}
      - {{ node: \"ns=2;s=Peer.State\", name: peer.state }}
      - {{ node: \"ns=2;s=Peer.Sensor\", name: peer.sensor }}
      - {{ node: \"ns=2;s=Peer.U64Max\", name: peer.u64max }}
      - {{ node: \"ns=2;s=Peer.U64Half\", name: peer.u64half }}
      - {{ node: \"ns=2;s=Peer.I64Min\", name: peer.i64min }}
      - {{ node: \"ns=2;s=Peer.SByteMin\", name: peer.sbytemin }}
"
    );
    let mut edge = Edge::start(&profile, &dir.path().join("edge"));
    edge.wait_connected(Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    edge.stop();

    let records = edge.dump();
    support::assert_gap_free(&records);
    let readings: Vec<&serde_json::Value> = records
        .iter()
        .filter_map(|r| r["payload"].get("reading"))
        .collect();
    let of = |tag: &str| -> Vec<&serde_json::Value> {
        readings
            .iter()
            .copied()
            .filter(|r| r["tag"] == tag)
            .collect()
    };

    let temps = of("peer.temp");
    assert!(
        temps.len() >= 5,
        "a value about every 200 ms, got {}",
        temps.len()
    );
    for t in &temps {
        let v = t["value"]["float"].as_f64().unwrap();
        let ts = t["source_ts_ns"].as_i64().unwrap();
        // The peer writes 20 + n at BASE + n seconds: the timestamp is the source's, not ours.
        let n = (ts - BASE_NS) / 1_000_000_000;
        assert_eq!(
            ts,
            BASE_NS + n * 1_000_000_000,
            "whole seconds after the base"
        );
        if v != 20.0 {
            assert_eq!(
                v,
                20.0 + n as f64,
                "value and source timestamp belong together"
            );
        }
        assert_eq!(t["quality"], "good");
    }
    // Integers at the extremes of their types arrive exact (UInt64 above 2^63 too).
    for (tag, want) in [
        ("peer.u64max", serde_json::json!({"uint": u64::MAX})),
        ("peer.u64half", serde_json::json!({"uint": 1u64 << 63})),
        ("peer.i64min", serde_json::json!({"int": i64::MIN})),
        ("peer.sbytemin", serde_json::json!({"int": -128})),
    ] {
        let got = of(tag);
        assert!(!got.is_empty(), "{tag}: no value");
        assert!(got.iter().all(|r| r["value"] == want), "{tag}: {got:?}");
    }
    let states = of("peer.state");
    assert!(states.iter().any(|s| {
        s["value"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("step-"))
    }));

    let sensor = of("peer.sensor");
    let codes: std::collections::BTreeSet<u64> = sensor
        .iter()
        .filter_map(|s| s["status_code"].as_u64())
        .collect();
    assert!(
        codes.contains(&0x4090_0000),
        "UncertainLastUsableValue kept: {codes:x?}"
    );
    assert!(
        codes.contains(&0x808C_0000),
        "BadSensorFailure kept: {codes:x?}"
    );
    for s in &sensor {
        match s["status_code"].as_u64() {
            Some(0x4090_0000) => assert_eq!(s["quality"], "uncertain"),
            Some(0x808C_0000) => assert_eq!(s["quality"], "bad"),
            _ => {}
        }
    }
}
