//! `foodflow-hub analytics replay|oee` over history ingested through the real hub over mTLS.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use foodflow_protocol::batch::Entry;
use foodflow_protocol::{
    Batch, BoundingBox, Detection, DeviceId, Payload, PriorityClass, Quality, Reading, Segment,
    StreamId, Value,
};
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;
use support::{HUB, Kill, free_port, hub, start};

const MIN_NS: i64 = 60_000_000_000;

fn reading(tag: &str, ts: i64, value: Value) -> (i64, Payload) {
    (
        ts,
        Payload::Reading(Reading {
            tag: tag.into(),
            value,
            quality: Quality::Good,
            status_code: 0,
            source_ts_ns: Some(ts),
            origin_id: None,
        }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_and_oee_over_stored_history() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let data = dir.path().join("data");
    let (p, d) = (pki.to_str().unwrap(), data.to_str().unwrap());
    hub(&["pki", "init", "--dir", p]);
    hub(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--gateway",
        "loader",
        "--tenant",
        "acme",
    ]);
    hub(&[
        "gateway",
        "bind",
        "--data-dir",
        d,
        "--tenant",
        "acme",
        "--gateway",
        "loader",
        "--device",
        "line-1",
        "--device",
        "line-2",
    ]);
    let server = start(d, p);
    let t0: i64 = 1_795_341_600_000_000_000; // 2026-11-22T10:00:00Z
    let mut items = Vec::new();
    // Oven: 3 s, 10 readings a second: 190/191 alternating, then 210, then 190/191.
    for i in 0..30i64 {
        let v = if (10..20).contains(&i) {
            210.0
        } else {
            190.0 + (i % 2) as f64
        };
        items.push(reading("oven", t0 + i * 100_000_000, Value::Float(v)));
    }
    // A 60-minute shift from t0: break 20–25 min (planned), fault 40–46 min, running otherwise.
    for (m, state) in [
        (-1, "running"),
        (20, "break"),
        (25, "running"),
        (40, "fault"),
        (46, "running"),
    ] {
        items.push(reading("state", t0 + m * MIN_NS, Value::Text(state.into())));
    }
    items.push(reading("good", t0 - MIN_NS, Value::Int(1_000)));
    items.push(reading("reject", t0 - MIN_NS + 1, Value::Int(10)));
    items.push(reading("good", t0 + 60 * MIN_NS, Value::Int(6_000)));
    items.push(reading("reject", t0 + 60 * MIN_NS, Value::Int(110)));
    items.sort_by_key(|(ts, _)| *ts);
    // A second line with the same tag name: its windows must stay apart from line-1's.
    let other: Vec<(i64, Payload)> = (0..20i64)
        .map(|i| reading("oven", t0 + i * 100_000_000, Value::Float(100.0)))
        .collect();
    let batch = Batch {
        segments: vec![
            // Vision on line-1 during the shift: 30 units with a defect (class 1), 20 clean.
            Segment {
                device: DeviceId::new("line-1").unwrap(),
                stream: StreamId::new("vision/cam1").unwrap(),
                class: PriorityClass::Telemetry,
                entries: (0..50u32)
                    .map(|i| Entry {
                        seq: i as u64 + 1,
                        ts_ns: t0 + (i as i64 + 1) * MIN_NS,
                        payload: Payload::Detection(Detection {
                            model: "defects".into(),
                            version: "1".into(),
                            boxes: vec![BoundingBox {
                                x: 1.0,
                                y: 1.0,
                                w: 5.0,
                                h: 5.0,
                                class_id: u32::from(i < 30),
                                score: 0.9,
                            }],
                            anomaly_score: None,
                            frame_ref: None,
                        }),
                        clock: None,
                    })
                    .collect(),
            },
            Segment {
                device: DeviceId::new("line-2").unwrap(),
                stream: StreamId::new("plc").unwrap(),
                class: PriorityClass::Telemetry,
                entries: other
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ts_ns, payload))| Entry {
                        seq: i as u64 + 1,
                        ts_ns,
                        payload,
                        clock: None,
                    })
                    .collect(),
            },
            Segment {
                device: DeviceId::new("line-1").unwrap(),
                stream: StreamId::new("plc").unwrap(),
                class: PriorityClass::Telemetry,
                entries: items
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ts_ns, payload))| Entry {
                        seq: i as u64 + 1,
                        ts_ns,
                        payload,
                        clock: None,
                    })
                    .collect(),
            },
        ],
    };
    let client = |s: &support::Served| {
        SyncClient::new(
            &s.api_url,
            &TlsFiles::in_dir(&pki, "loader"),
            Duration::from_secs(10),
        )
        .unwrap()
    };
    let c = client(&server);
    assert_eq!(c.upload(batch.encode(1)).await.unwrap().accepted, 109);
    drop(server);

    let scope = [
        "--data-dir",
        d,
        "--tenant",
        "acme",
        "--device",
        "line-1",
        "--stream",
        "plc",
    ];
    let o = hub(&[
        "analytics",
        "replay",
        "--data-dir",
        d,
        "--tenant",
        "acme",
        "--workers",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("100 %"), "progress shown: {err}");
    let single = String::from_utf8_lossy(&o.stdout).to_string();
    let windows: Vec<serde_json::Value> = single
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let line2: Vec<&serde_json::Value> = windows
        .iter()
        .filter(|w| w["device"] == "line-2" && w["window"] == "1s")
        .collect();
    assert_eq!(line2.len(), 2, "line-2 has its own windows");
    assert!(
        line2
            .iter()
            .all(|w| w["mean"] == 100.0 && w["stream"] == "plc")
    );
    let oven_1s: Vec<&serde_json::Value> = windows
        .iter()
        .filter(|w| w["device"] == "line-1" && w["series"] == "oven" && w["window"] == "1s")
        .collect();
    assert_eq!(oven_1s.len(), 3);
    assert_eq!(oven_1s[1]["count"], 10);
    assert_eq!(oven_1s[1]["mean"], 210.0);
    assert_eq!(oven_1s[0]["mean"], 190.5);
    let minute = windows
        .iter()
        .find(|w| w["device"] == "line-1" && w["series"] == "oven" && w["window"] == "1m")
        .unwrap();
    assert_eq!(minute["count"], 30);

    // The same replay on 2 OS processes x 2 workers (timely cluster over loopback): process 0
    // reads the store and prints; process 1 only computes. The output is byte for byte the same.
    let addresses = format!("127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
    let mut peer = Kill(
        Command::new(HUB)
            .args(["analytics", "peer", "--workers", "2", "--process", "1"])
            .args(["--addresses", &addresses])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let o = hub(&[
        "analytics",
        "replay",
        "--data-dir",
        d,
        "--tenant",
        "acme",
        "--workers",
        "2",
        "--process",
        "0",
        "--addresses",
        &addresses,
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2 process(es) x 2 worker(s)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), single);
    assert!(
        peer.0.wait().unwrap().success(),
        "the peer ends with the run"
    );

    // Scoped to one device and stream, the same windows of that device.
    let mut args = vec!["analytics", "replay"];
    args.extend(scope);
    let o = hub(&args);
    let scoped: Vec<&str> = single
        .lines()
        .filter(|l| l.contains("\"line-1\""))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .collect::<Vec<_>>(),
        scoped
    );

    // --store keeps the windows as Rollup records, one per window, in each device's hub/rollups.
    let mut args = vec!["analytics", "replay", "--store"];
    args.extend(scope);
    hub(&args);
    let server = start(d, p);
    let c = client(&server);
    let streams = c.get_json("/v1/devices/line-1/streams").await.unwrap();
    let stored = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "hub/rollups")
        .unwrap_or_else(|| panic!("no hub/rollups in {streams}"));
    assert_eq!(stored["records"].as_u64(), Some(scoped.len() as u64));
    drop(server);

    let mut args = vec!["analytics", "oee"];
    args.extend(scope);
    args.extend([
        "--line",
        "line1",
        "--start",
        "2026-11-22T10:00:00Z",
        "--end",
        "2026-11-22T11:00:00Z",
        "--ideal-per-min",
        "120",
        "--state-tag",
        "state",
        "--good-tag",
        "good",
        "--reject-tag",
        "reject",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&hub(&args).stdout).unwrap();
    assert_eq!(r["planned_stop_s"], 300.0);
    assert_eq!(r["unplanned_stop_s"], 360.0);
    assert_eq!(
        (r["good"].as_u64(), r["reject"].as_u64()),
        (Some(5_000), Some(100))
    );
    let a = r["availability"].as_f64().unwrap();
    let p = r["performance"].as_f64().unwrap();
    let q = r["quality"].as_f64().unwrap();
    assert!((a - 49.0 / 55.0).abs() < 1e-9, "{a}");
    assert!((p - 5_100.0 / (49.0 * 120.0)).abs() < 1e-9, "{p}");
    assert!((q - 5_000.0 / 5_100.0).abs() < 1e-9, "{q}");
    assert!((r["oee"].as_f64().unwrap() - a * p * q).abs() < 1e-12);
    assert_eq!(r["downtime"][1]["reason"], "fault");
    // Vision rejects the PLC did not count move from good to reject.
    let mut with_vision = args.clone();
    with_vision.extend([
        "--vision-stream",
        "vision/cam1",
        "--vision-rule",
        r#"{"model":"defects","class_ids":[1],"min_score":0.5}"#,
    ]);
    let v: serde_json::Value = serde_json::from_slice(&hub(&with_vision).stdout).unwrap();
    assert_eq!(
        (
            v["good"].as_u64(),
            v["reject"].as_u64(),
            v["vision_reject"].as_u64()
        ),
        (Some(4_970), Some(130), Some(30))
    );
    assert!((v["quality"].as_f64().unwrap() - 4_970.0 / 5_100.0).abs() < 1e-9);
    args.push("--csv");
    let csv = String::from_utf8_lossy(&hub(&args).stdout).to_string();
    assert!(csv.starts_with("line,shift,"), "{csv}");
}
