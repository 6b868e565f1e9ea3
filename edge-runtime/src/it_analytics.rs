//! Edge analytics with the real binary and Mosquitto: readings in, 1 s rollups and alarm
//! lifecycle events out, in the journal (and so upstream).

#[path = "../tests/support.rs"]
mod support;

use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use support::{Edge, Mosquitto};

#[tokio::test(flavor = "multi_thread")]
async fn readings_become_rollups_and_alarms() {
    let broker = Mosquitto::start();
    // A shift from two hours ago to two hours ahead (UTC), so that it is running now.
    let hour = (foodflow_protocol::time::now_ns() / 3_600_000_000_000).rem_euclid(24);
    let shift_start = format!("{:02}:00", (hour + 22) % 24);
    let shift_end = format!("{:02}:00", (hour + 2) % 24);
    let dir = tempfile::tempdir().unwrap();
    support::add_operator(&dir.path().join("data"), "shift lead", "482913");
    let mut edge = Edge::start(
        &format!(
            "device: {{ id: it-analytics, site: test }}
mqtt:
  - name: broker
    broker: mqtt://127.0.0.1:{}
    client_id: edge-it-analytics
    subscriptions:
      - topic: plant/+/json/#
        codec: json
        stream: mqtt/json
        json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms }}
analytics:
  watermark_delay_ms: 500
  alarms:
    - name: oven-high
      series: oven
      condition: {{ kind: above, limit: 200, hysteresis: 5 }}
      on_delay_ms: 300
      level: critical
  oee:
    line: line1
    state_tag: state
    good_tag: good
    reject_tag: reject
    ideal_per_min: 600
    report_every: 1s
    shifts:
      - {{ name: now, start: \"{shift_start}\", end: \"{shift_end}\" }}
",
            broker.port,
            shift_start = shift_start,
            shift_end = shift_end,
        ),
        &dir.path().join("data"),
    );
    edge.wait_connected(Duration::from_secs(10));
    // Three whole seconds of event time, 10 readings each: 190, then 210, then 190.
    let now_ms = foodflow_protocol::time::now_ns() / 1_000_000;
    let t0 = (now_ms / 1000 - 10) * 1000;
    let (client, mut el) = AsyncClient::new(
        MqttOptions::new("it-analytics-pub", "127.0.0.1", broker.port),
        100,
    );
    let poll = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let publish = |range: std::ops::Range<i64>| {
        let client = client.clone();
        async move {
            for i in range {
                let value = if (10..20).contains(&i) {
                    210.0
                } else {
                    190.0 + (i % 2) as f64
                };
                let body = serde_json::json!({"tag": "oven", "value": value, "ts": t0 + i * 100});
                client
                    .publish(
                        "plant/l1/json/oven",
                        QoS::AtLeastOnce,
                        false,
                        body.to_string(),
                    )
                    .await
                    .unwrap();
            }
        }
    };
    // Up to the excursion: the alarm is raised; an operator acknowledges it (once), with the
    // PIN: a wrong one, or none, acknowledges nothing.
    publish(0..20).await;
    let ack = |body: &str| post(edge.http_port, "/v1/alarms/oven-high/ack", body);
    assert_eq!(
        ack(r#"{"by":"shift lead","pin":"000000"}"#),
        401,
        "a wrong PIN"
    );
    assert_eq!(ack(r#"{"by":"shift lead"}"#), 400, "no PIN");
    assert_eq!(ack(r#"{"by":"stranger","pin":"482913"}"#), 401);
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = ack(r#"{"by":"shift lead","pin":"482913"}"#);
        if status != 409 {
            break;
        }
    }
    assert_eq!(status, 200, "acknowledging the raised alarm");
    assert_eq!(ack(r#"{"by":"shift lead","pin":"482913"}"#), 409);
    publish(20..40).await;
    // Line state and counters for the OEE of the running shift.
    for (i, (tag, value)) in [
        ("state", serde_json::json!("running")),
        ("good", serde_json::json!(1000)),
        ("reject", serde_json::json!(10)),
        ("good", serde_json::json!(1250)),
        ("reject", serde_json::json!(15)),
    ]
    .into_iter()
    .enumerate()
    {
        let body = serde_json::json!({"tag": tag, "value": value, "ts": t0 + i as i64 * 200});
        client
            .publish(
                "plant/l1/json/line",
                QoS::AtLeastOnce,
                false,
                body.to_string(),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = client.disconnect().await;
    poll.abort();
    edge.stop();

    let records = edge.dump();
    let rollups: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["stream"] == "analytics/rollups")
        .map(|r| &r["payload"]["rollup"])
        .filter(|r| {
            r["window_end_ns"].as_i64().unwrap() - r["window_start_ns"].as_i64().unwrap()
                == 1_000_000_000
        })
        .collect();
    let window = |k: i64| {
        rollups
            .iter()
            .filter(|r| r["tag"] == "oven")
            .filter(|r| r["window_start_ns"].as_i64() == Some((t0 + k * 1000) * 1_000_000))
            .max_by_key(|r| r["revision"].as_u64())
            .copied()
            .unwrap_or_else(|| panic!("no 1 s rollup for second {k}: {rollups:?}"))
    };
    let w1 = window(1);
    assert_eq!(w1["count"], 10);
    assert_eq!(
        (w1["min"].as_f64(), w1["max"].as_f64()),
        (Some(210.0), Some(210.0))
    );
    let w0 = window(0);
    assert_eq!(w0["count"], 10);
    assert_eq!(w0["mean"].as_f64(), Some(190.5));
    assert_eq!(w0["tag"], "oven");

    let alarms: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["stream"] == "analytics/alarms")
        .map(|r| &r["payload"]["event"])
        .collect();
    let names: Vec<&str> = alarms.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec!["alarm.activated", "alarm.acknowledged", "alarm.cleared"],
        "{alarms:?}"
    );
    assert!(
        alarms[1]["message"]
            .as_str()
            .unwrap()
            .contains("shift lead")
    );

    // The running shift's OEE so far: the counters' increases within it.
    let so_far: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| r["stream"] == "analytics/oee")
        .filter(|r| r["payload"]["event"]["name"] == "oee.shift_so_far")
        .map(|r| serde_json::from_str(r["payload"]["event"]["message"].as_str().unwrap()).unwrap())
        .collect();
    let last = so_far.last().expect("an OEE report of the running shift");
    assert_eq!(last["line"], "line1");
    assert_eq!(
        (last["good"].as_u64(), last["reject"].as_u64()),
        (Some(250), Some(5))
    );
    assert!(last["run_s"].as_f64().unwrap() > 0.0);
    assert_eq!(alarms[0]["severity"], "critical");
    let msg = alarms[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("oven-high") && msg.contains("above 200"),
        "{msg}"
    );
}

/// A JSON POST on the edge's HTTP port; returns the status code.
fn post(port: u16, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
