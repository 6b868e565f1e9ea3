//! Record-to-alarm latency through a running edge (release binary): an MQTT reading that
//! crosses a threshold → journaled (group commit) → analytics → alarm event journaled. Measured
//! from the publish until the edge's `foodflow_analytics_alarm_events_total` counts it, polled
//! every millisecond. Part of `make bench-analytics`; writes its figures to
//! `$FOODFLOW_BENCH_OUT` (JSON) when set, and prints them as its last line.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use foodflow_hil::peers::{Mosquitto, Proc, bin, free_port, wait_for_port};
use rumqttc::{AsyncClient, MqttOptions, QoS};

const EXCURSIONS: usize = 200;

fn alarms_total(port: u16) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut t = String::new();
    let _ = s.read_to_string(&mut t);
    t.lines()
        .filter(|l| l.starts_with("foodflow_analytics_alarm_events_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let http = free_port();
    let profile = dir.path().join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: bench-alarms, site: bench }}
journal: {{ data_dir: {}/edge }}
mqtt:
  - name: b
    broker: mqtt://127.0.0.1:{}
    client_id: edge-bench-alarms
    subscriptions:
      - {{ topic: plant/+/json/#, codec: json, stream: mqtt/json, json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms }} }}
analytics:
  alarms:
    - {{ name: oven-high, series: oven, condition: {{ kind: above, limit: 200, hysteresis: 5 }} }}
http: {{ listen: '127.0.0.1:{http}' }}
",
            dir.path().display(),
            broker.port
        ),
    )
    .unwrap();
    let _edge = Proc(
        Command::new(bin("foodflow-edge").unwrap())
            .args(["run", "--profile", profile.to_str().unwrap()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(http, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_secs(1));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut lat = Vec::with_capacity(EXCURSIONS * 2);
    rt.block_on(async {
        let (client, mut el) = AsyncClient::new(
            MqttOptions::new("bench-alarms-pub", "127.0.0.1", broker.port),
            100,
        );
        tokio::spawn(async move { while el.poll().await.is_ok() {} });
        let mut seen = alarms_total(http);
        let mut ts = 1_795_341_600_000i64;
        for i in 0..EXCURSIONS * 2 {
            // Alternate: above the limit (activates), then well below (clears).
            let value = if i % 2 == 0 { 250.0 } else { 150.0 };
            ts += 100;
            let body = serde_json::json!({"tag": "oven", "value": value, "ts": ts});
            let t = Instant::now();
            client
                .publish(
                    "plant/l1/json/oven",
                    QoS::AtLeastOnce,
                    false,
                    body.to_string(),
                )
                .await
                .unwrap();
            loop {
                let n = alarms_total(http);
                if n > seen {
                    seen = n;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                if t.elapsed() > Duration::from_secs(5) {
                    panic!("no alarm event within 5 s for excursion {i}");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)];
    let out = serde_json::json!({
        "bench": "alarm_latency",
        "events": lat.len(),
        "record_to_alarm_p50_ms": (pct(50) * 10.0).round() / 10.0,
        "record_to_alarm_p99_ms": (pct(99) * 10.0).round() / 10.0,
        "record_to_alarm_max_ms": (lat[lat.len() - 1] * 10.0).round() / 10.0,
    });
    if let Ok(path) = std::env::var("FOODFLOW_BENCH_OUT") {
        let _ = std::fs::write(path, out.to_string());
    }
    println!("{out}");
}
