//! The line screen in a real browser (headless Debian Chromium driven by playwright-core, see
//! `tests/ui/line_screen.mjs`) against the real edge binary fed through Mosquitto: values that
//! change, an alarm that appears and is acknowledged by name, kiosk mode, touch targets, no
//! console errors. Screenshots are kept in `<target>/ui-artifacts/line-screen/`.

#[path = "../../tests/support.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use support::{Edge, Mosquitto};

/// The PIN of the box's operator in this test.
const PIN: &str = "731904";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn artifacts(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let dir = target.join("ui-artifacts").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_see_the_line_live_and_acknowledge_alarms() {
    let ui = workspace().join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").exists(),
        "playwright-core is missing in tests/ui: run `make deps` (it runs npm ci there)"
    );
    let broker = Mosquitto::start();
    let hour = (foodflow_protocol::time::now_ns() / 3_600_000_000_000).rem_euclid(24);
    let (start, end) = (
        format!("{:02}:00", (hour + 22) % 24),
        format!("{:02}:00", (hour + 2) % 24),
    );
    let dir = tempfile::tempdir().unwrap();
    // Two cameras playing stills: a printed label (OCR against the batch's code) and a broken
    // biscuit from the anomaly model's own generator.
    let py = workspace().join(".venv/bin/python");
    let label = dir.path().join("label.png");
    let out = Command::new(&py)
        .arg(workspace().join("edge-runtime/vision/reference/render_label.py"))
        .arg(&label)
        .args(["36", "EXP 2027-03-15"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = dir.path().join("biscuits");
    let out = Command::new(&py)
        .arg(workspace().join("models/anomaly/make_biscuit_anomaly.py"))
        .args(["--samples-only", "8", "--samples"])
        .arg(&samples)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    support::add_operator(&dir.path().join("data"), "Ana Operator", PIN);
    let mut edge = Edge::start(
        &format!(
            "device: {{ id: screen-test, site: test }}
mqtt:
  - name: broker
    broker: mqtt://127.0.0.1:{port}
    client_id: edge-screen-test
    subscriptions:
      - topic: plant/+/json/#
        codec: json
        stream: mqtt/json
        json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms }}
analytics:
  watermark_delay_ms: 500
  alarms:
    - name: oven-high
      series: line1.oven.temp
      condition: {{ kind: above, limit: 200, hysteresis: 5 }}
      on_delay_ms: 300
      level: critical
  oee:
    line: line1
    state_tag: line1.state
    good_tag: line1.good
    reject_tag: line1.reject
    batch_tag: line1.batch
    lot_tag: line1.lot
    ideal_per_min: 600
    report_every: 1s
    shifts:
            - {{ name: day, start: \"{start}\", end: \"{end}\" }}
vision:
  manifest: {manifest}
cameras:
  - name: label
    source: file://{label}
    fps: 2
    models: [ppocr-det]
    expected_code_tag: line1.code
  - name: biscuits
    source: file://{biscuit}
    fps: 2
    models: [biscuit-anomaly]
",
            port = broker.port,
            manifest = workspace().join("models/models.yaml").display(),
            label = label.display(),
            biscuit = samples.join("05-broken.png").display(),
        ),
        &dir.path().join("data"),
    );
    edge.wait_connected(Duration::from_secs(10));

    // The plant: every 200 ms a temperature, counters and a filler weight; the oven runs hot
    // from 6 s on (the alarm), for as long as the browser test runs.
    let (client, mut el) = AsyncClient::new(
        MqttOptions::new("screen-plant", "127.0.0.1", broker.port),
        1000,
    );
    let poll = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let stop = Arc::new(AtomicBool::new(false));
    let plant = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            let t0 = foodflow_protocol::time::now_ns() / 1_000_000;
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let ts = foodflow_protocol::time::now_ns() / 1_000_000;
                let hot = ts - t0 > 6_000;
                let oven = if hot { 230.0 } else { 180.0 + (i % 7) as f64 };
                let mut msgs = vec![
                    serde_json::json!({"tag": "line1.oven.temp", "value": oven, "ts": ts}),
                    serde_json::json!({"tag": "line1.filler.weight", "value": 500.0 + ((i * 37) % 11) as f64 * 0.3, "ts": ts}),
                    serde_json::json!({"tag": "line1.good", "value": 1000 + 3 * i, "ts": ts}),
                    serde_json::json!({"tag": "line1.reject", "value": 10 + i / 20, "ts": ts}),
                ];
                if i % 10 == 0 {
                    msgs.push(
                        serde_json::json!({"tag": "line1.state", "value": "running", "ts": ts}),
                    );
                    msgs.push(
                        serde_json::json!({"tag": "line1.batch", "value": "B-0042", "ts": ts}),
                    );
                    msgs.push(serde_json::json!({"tag": "line1.lot", "value": "L-2026-11-23-A", "ts": ts}));
                    msgs.push(serde_json::json!({"tag": "line1.code", "value": "EXP 2027-03-15", "ts": ts}));
                }
                for m in msgs {
                    let _ = client
                        .publish("plant/l1/json/x", QoS::AtLeastOnce, false, m.to_string())
                        .await;
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let out_dir = artifacts("line-screen");
    let port = edge.http_port;
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(workspace().join("tests/ui/line_screen.mjs"))
            .env("FOODFLOW_UI_PIN", PIN)
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(&out_dir)
            .current_dir(workspace().join("tests/ui"))
            .output()
            .expect("node (apt nodejs) runs the browser test")
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let _ = plant.await;
    let _ = client.disconnect().await;
    poll.abort();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        run.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    edge.stop();
    // The acknowledgement made in the browser is in the journal with the operator's name.
    let acked = edge.dump().into_iter().any(|r| {
        r["stream"] == "analytics/alarms"
            && r["payload"]["event"]["name"] == "alarm.acknowledged"
            && r["payload"]["event"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Ana Operator"))
    });
    assert!(
        acked,
        "the acknowledgement is journaled with the operator's name"
    );
}
