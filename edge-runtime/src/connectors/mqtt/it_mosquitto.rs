//! MQTT source against a real Mosquitto: JSON and Sparkplug B ingestion, a Sparkplug seq gap
//! that triggers a rebirth request, malformed payloads that do not stop the stream.

#[path = "../../../tests/support.rs"]
mod support;

use std::time::Duration;

use foodflow_edge::connectors::codec::sparkplug::{Metric, MetricValue, SpPayload, datatype};
use prost::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use support::{Edge, Mosquitto, metric};

fn profile(port: u16) -> String {
    format!(
        "device: {{ id: it-mqtt, site: test }}
mqtt:
  - name: broker
    broker: mqtt://127.0.0.1:{port}
    client_id: edge-it-mqtt
    subscriptions:
      - topic: plant/+/json/#
        codec: json
        stream: mqtt/json
        json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, id_path: /id }}
      - topic: spBv1.0/itg/#
        codec: sparkplug_b
        stream: mqtt/sparkplug
"
    )
}

/// Publishes QoS 1 messages and returns once the broker acknowledged all of them.
pub async fn publish_all(port: u16, client_id: &str, msgs: Vec<(String, Vec<u8>)>) {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_inflight(100);
    let (client, mut el) = AsyncClient::new(o, 1000);
    let n = msgs.len();
    let pubber = tokio::spawn(async move {
        for (t, p) in msgs {
            client.publish(t, QoS::AtLeastOnce, false, p).await.unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.expect("publisher link") {
            acked += 1;
        }
    }
    let _ = pubber.await;
}

fn sp(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
    SpPayload {
        timestamp: Some(1_700_000_000_000),
        metrics,
        seq: Some(seq),
        uuid: None,
        body: None,
    }
    .encode_to_vec()
}

fn aliased(alias: u64, v: f64) -> Metric {
    let mut m = Metric::new(
        "",
        Some(alias),
        MetricValue::DoubleValue(v),
        datatype::DOUBLE,
    );
    m.name = None;
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_sparkplug_rebirth_and_malformed_payloads() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let mut edge = Edge::start(&profile(broker.port), &dir.path().join("edge"));
    edge.wait_connected(Duration::from_secs(20));

    // A host-side listener for the rebirth request the edge must send.
    let (watcher, mut wel) =
        AsyncClient::new(MqttOptions::new("it-watch", "127.0.0.1", broker.port), 10);
    watcher
        .subscribe("spBv1.0/itg/NCMD/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (ncmd_tx, mut ncmd_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(ev) = wel.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = ev {
                let _ = ncmd_tx.send((p.topic.clone(), p.payload.to_vec()));
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut msgs = Vec::new();
    for i in 0..50 {
        let payload = match i {
            10 => b"{not json".to_vec(),
            20 => br#"{"tag":"x","ts":1}"#.to_vec(),
            30 => br#"{"tag":"x","value":{"nested":1},"ts":1,"id":"bad-30"}"#.to_vec(),
            _ => format!(
                r#"{{"id":"j-{i}","tag":"line1.temp","value":{}.5,"ts":1700000000{i:03}}}"#,
                180 + i
            )
            .into_bytes(),
        };
        msgs.push(("plant/line1/json/temp".to_string(), payload));
    }
    let birth = vec![
        Metric::new("bdSeq", None, MetricValue::LongValue(0), datatype::INT64),
        Metric::new(
            "Oven/Temp",
            Some(1),
            MetricValue::DoubleValue(180.0),
            datatype::DOUBLE,
        ),
        Metric::new(
            "Belt/Speed",
            Some(2),
            MetricValue::DoubleValue(1.2),
            datatype::DOUBLE,
        ),
    ];
    msgs.push(("spBv1.0/itg/NBIRTH/n1".into(), sp(0, birth)));
    msgs.push((
        "spBv1.0/itg/NDATA/n1".into(),
        sp(1, vec![aliased(1, 181.0), aliased(2, 1.1)]),
    ));
    // seq 2..4 never arrive: a gap.
    msgs.push((
        "spBv1.0/itg/NDATA/n1".into(),
        sp(5, vec![aliased(1, 182.0)]),
    ));
    msgs.push(("spBv1.0/itg/NDATA/n1".into(), vec![0xde, 0xad, 0xbe, 0xef]));
    publish_all(broker.port, "it-pub", msgs).await;

    let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), ncmd_rx.recv())
        .await
        .expect("a rebirth request within 10 s")
        .expect("watcher alive");
    assert_eq!(topic, "spBv1.0/itg/NCMD/n1");
    let cmd = SpPayload::decode(payload.as_slice()).unwrap();
    assert_eq!(cmd.metrics[0].name.as_deref(), Some("Node Control/Rebirth"));
    assert_eq!(cmd.metrics[0].value, Some(MetricValue::BooleanValue(true)));

    // Wait until everything is journaled, then check the counters.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = edge.get("/metrics");
        let n = metric(
            &metrics,
            "foodflow_ingest_messages_total{source=\"broker\",protocol=\"mqtt\"}",
        );
        // 54 published, plus our own rebirth NCMD echoed back by the broker.
        if n.is_some_and(|n| n >= 54.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric(
            &metrics,
            "foodflow_ingest_bad_payloads_total{source=\"broker\",protocol=\"mqtt\"}"
        ),
        Some(4.0),
        "{metrics}"
    );
    edge.stop();

    let records = edge.dump();
    support::assert_gap_free(&records);
    let json: Vec<_> = records
        .iter()
        .filter(|r| r["stream"] == "mqtt/json")
        .collect();
    let ids: std::collections::BTreeSet<String> = json
        .iter()
        .filter_map(|r| {
            r["payload"]["reading"]["origin_id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(ids.len(), 47, "every good JSON message is journaled once");
    let first = json
        .iter()
        .find(|r| r["payload"]["reading"]["origin_id"] == "j-0")
        .unwrap();
    assert_eq!(first["payload"]["reading"]["value"]["float"], 180.5);
    assert_eq!(
        first["payload"]["reading"]["source_ts_ns"],
        1_700_000_000_000_000_000i64
    );
    let bad: Vec<_> = records
        .iter()
        .filter(|r| r["payload"]["event"]["name"] == "bad_payload")
        .collect();
    assert_eq!(bad.len(), 4, "each bad payload is kept as an event");
    assert!(bad.iter().any(|r| {
        r["payload"]["event"]["message"]
            .as_str()
            .unwrap()
            .contains("no value at JSON pointer \"/value\"")
    }));
    // The stream went on after the bad ones: the last good message is there.
    assert!(ids.contains("j-49"));

    let sp: Vec<_> = records
        .iter()
        .filter(|r| r["stream"] == "mqtt/sparkplug")
        .collect();
    let temps: Vec<f64> = sp
        .iter()
        .filter(|r| r["payload"]["reading"]["tag"] == "itg/n1/Oven/Temp")
        .filter_map(|r| r["payload"]["reading"]["value"]["float"].as_f64())
        .collect();
    assert_eq!(temps, vec![180.0, 181.0, 182.0]);
    let gap = sp
        .iter()
        .find(|r| r["payload"].get("gap").is_some())
        .expect("a Gap record");
    assert_eq!(gap["payload"]["gap"]["lost"], 3);
}

/// The Sparkplug conformance matrix: payloads from an independent encoder (PyPI pysparkplug),
/// every scalar datatype at its extreme values, each in the three encodings a node may use
/// (alias only; named without a datatype, as the spec recommends for DATA; named with one),
/// through Mosquitto into the real edge. What is stored must be what was sent, bit for bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkplug_values_from_an_independent_encoder_are_stored_as_sent() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/connectors/codec/sparkplug/pysparkplug_peer.py");
    let out = std::process::Command::new(support::venv_python())
        .arg(&script)
        .output()
        .expect("run the pysparkplug peer");
    assert!(
        out.status.success(),
        "pysparkplug peer (`make deps` installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peer JSON");
    let msgs: Vec<(String, Vec<u8>)> = peer["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let hex = m[1].as_str().unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (m[0].as_str().unwrap().to_owned(), bytes)
        })
        .collect();
    let expected = peer["expected"].as_array().unwrap();

    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = format!(
        "device: {{ id: it-conf, site: test }}
mqtt:
  - name: broker
    broker: mqtt://127.0.0.1:{}
    client_id: edge-it-conf
    subscriptions:
      - {{ topic: spBv1.0/conf/#, codec: sparkplug_b, stream: mqtt/conf }}
",
        broker.port
    );
    let mut edge = Edge::start(&profile, &dir.path().join("edge"));
    edge.wait_connected(Duration::from_secs(20));
    publish_all(broker.port, "it-conf-pub", msgs).await;
    let t0 = std::time::Instant::now();
    // The readings, the node's online event and the refusal event.
    while metric(&edge.get("/metrics"), "foodflow_journal_records_total").unwrap_or(0.0)
        < (expected.len() + 2) as f64
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{}",
            edge.get("/metrics")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = metric(
        &edge.get("/metrics"),
        "foodflow_ingest_values_refused_total{source=\"broker\",protocol=\"mqtt\",reason=\"unsupported_type\"}",
    );
    edge.stop();
    let records = edge.dump();
    // Kinds not stored yet are refused visibly: counted and named in a journal event.
    let kinds = peer["refused"].as_array().unwrap();
    assert_eq!(refused, Some(kinds.len() as f64));
    let events: Vec<&str> = records
        .iter()
        .filter(|r| r["payload"]["event"]["name"] == "values_refused")
        .filter_map(|r| r["payload"]["event"]["message"].as_str())
        .collect();
    for k in kinds {
        let k = k.as_str().unwrap();
        assert!(
            events.iter().any(|e| e.contains(k)),
            "{k} refused visibly: {events:?}"
        );
    }
    let mut stored: std::collections::HashMap<String, Vec<serde_json::Value>> =
        std::collections::HashMap::new();
    for r in records.iter().filter(|r| r["stream"] == "mqtt/conf") {
        if let Some(reading) = r["payload"].get("reading") {
            stored
                .entry(reading["tag"].as_str().unwrap().to_owned())
                .or_default()
                .push(reading["value"].clone());
        }
    }
    // The same value, bit for bit: integers exactly, floats by their bits (-0.0, denormals).
    let same = |a: &serde_json::Value, b: &serde_json::Value| match (a.get("float"), b.get("float"))
    {
        (Some(x), Some(y)) => x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits),
        _ => a == b,
    };
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut wrong = Vec::new();
    for e in expected {
        let tag = e[0].as_str().unwrap();
        let i = seen.entry(tag).or_default();
        let got = stored.get(tag).and_then(|v| v.get(*i));
        if !got.is_some_and(|g| same(g, &e[1])) {
            wrong.push(format!("{tag} #{i}: sent {}, stored {got:?}", e[1]));
        }
        *i += 1;
    }
    assert!(
        wrong.is_empty(),
        "{} of {} values wrong:\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n")
    );
}
