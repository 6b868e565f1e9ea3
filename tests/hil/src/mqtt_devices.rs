//! Simulated MQTT devices: a plain-JSON publisher and a Sparkplug B edge node, both fed by the
//! plant model. Every JSON message carries a unique id so that a checker can prove zero loss.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use foodflow_edge::connectors::codec::sparkplug::{Metric, MetricValue, SpPayload, datatype};
use prost::Message;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

use crate::plant::{Plant, SimValue};

fn now_ms() -> u64 {
    foodflow_edge::time::now_ns() as u64 / 1_000_000
}

fn json_value(v: &SimValue) -> serde_json::Value {
    match v {
        SimValue::Float(f) => serde_json::json!((f * 1000.0).round() / 1000.0),
        SimValue::Int(i) => serde_json::json!(i),
        SimValue::Bool(b) => serde_json::json!(b),
        SimValue::Text(t) => serde_json::json!(t),
    }
}

fn options(client_id: &str, host: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_keep_alive(Duration::from_secs(10));
    o.set_inflight(1000);
    o
}

/// Publishes every plant tag as JSON on `plant/line1/json/<tag>` each `period`.
pub async fn run_json_device(
    host: String,
    port: u16,
    plant: Arc<Mutex<Plant>>,
    period: Duration,
    cancel: CancellationToken,
) {
    let (client, mut el) = AsyncClient::new(options("sim-json-device", &host, port), 1000);
    tokio::spawn(async move {
        loop {
            if el.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let mut n: u64 = 0;
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let tags = plant.lock().map(|p| p.tags()).unwrap_or_default();
        for (tag, v) in tags {
            n += 1;
            let body = serde_json::json!({
                "id": format!("sim-json-{n}"),
                "tag": tag,
                "value": json_value(&v),
                "ts": now_ms(),
            });
            let topic = format!("plant/line1/json/{}", tag.replace('.', "/"));
            let _ = client
                .publish(topic, QoS::AtLeastOnce, false, body.to_string())
                .await;
        }
    }
}

fn metric_value(v: &SimValue) -> (MetricValue, u32) {
    match v {
        SimValue::Float(f) => (MetricValue::DoubleValue(*f), datatype::DOUBLE),
        SimValue::Int(i) => (MetricValue::LongValue(*i as u64), datatype::INT64),
        SimValue::Bool(b) => (MetricValue::BooleanValue(*b), datatype::BOOLEAN),
        SimValue::Text(t) => (MetricValue::StringValue(t.clone()), datatype::STRING),
    }
}

/// A Sparkplug B edge node `spBv1.0/<group>/…/<node>`: NBIRTH with aliases, NDATA by alias with
/// a wrapping `seq`, NDEATH as its will, and a fresh NBIRTH whenever a host sends a rebirth NCMD.
pub async fn run_sparkplug_node(
    host: String,
    port: u16,
    group: String,
    node: String,
    plant: Arc<Mutex<Plant>>,
    period: Duration,
    cancel: CancellationToken,
) {
    let bd_seq = 0u64;
    let death = SpPayload {
        timestamp: Some(now_ms()),
        metrics: vec![Metric::new(
            "bdSeq",
            None,
            MetricValue::LongValue(bd_seq),
            datatype::INT64,
        )],
        seq: None,
        uuid: None,
        body: None,
    };
    let mut o = options(&format!("sim-sparkplug-{node}"), &host, port);
    o.set_last_will(LastWill::new(
        format!("spBv1.0/{group}/NDEATH/{node}"),
        death.encode_to_vec(),
        QoS::AtLeastOnce,
        false,
    ));
    let (client, mut el) = AsyncClient::new(o, 1000);
    let rebirth = Arc::new(tokio::sync::Notify::new());
    {
        let rebirth = rebirth.clone();
        let client = client.clone();
        let ncmd = format!("spBv1.0/{group}/NCMD/{node}");
        tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.subscribe(ncmd.clone(), QoS::AtLeastOnce).await;
                        rebirth.notify_one();
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic == ncmd => {
                        if let Ok(cmd) = SpPayload::decode(p.payload.as_ref())
                            && cmd.metrics.iter().any(|m| {
                                m.name.as_deref() == Some("Node Control/Rebirth")
                                    && m.value == Some(MetricValue::BooleanValue(true))
                            })
                        {
                            tracing::info!("sparkplug node: rebirth requested");
                            rebirth.notify_one();
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        });
    }
    let mut seq: u64 = 0;
    let mut born = false;
    let mut tick = tokio::time::interval(period);
    loop {
        let birth_now = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = rebirth.notified() => true,
            _ = tick.tick() => false,
        };
        let tags = plant.lock().map(|p| p.tags()).unwrap_or_default();
        let (topic, metrics) = if birth_now || !born {
            seq = 0;
            born = true;
            let mut m = vec![Metric::new(
                "bdSeq",
                None,
                MetricValue::LongValue(bd_seq),
                datatype::INT64,
            )];
            m.push(Metric::new(
                "Node Control/Rebirth",
                None,
                MetricValue::BooleanValue(false),
                datatype::BOOLEAN,
            ));
            for (i, (tag, v)) in tags.iter().enumerate() {
                let (val, dt) = metric_value(v);
                m.push(Metric::new(
                    &tag.replace('.', "/"),
                    Some(i as u64 + 1),
                    val,
                    dt,
                ));
            }
            (format!("spBv1.0/{group}/NBIRTH/{node}"), m)
        } else {
            let m = tags
                .iter()
                .enumerate()
                .map(|(i, (_, v))| {
                    let (val, dt) = metric_value(v);
                    let mut m = Metric::new("", Some(i as u64 + 1), val, dt);
                    m.name = None;
                    m
                })
                .collect();
            (format!("spBv1.0/{group}/NDATA/{node}"), m)
        };
        let p = SpPayload {
            timestamp: Some(now_ms()),
            metrics,
            seq: Some(seq % 256),
            uuid: None,
            body: None,
        };
        seq += 1;
        let _ = client
            .publish(topic, QoS::AtLeastOnce, false, p.encode_to_vec())
            .await;
    }
}

/// Starts an embedded rumqttd broker on `127.0.0.1:port` (for the demo, when no broker is
/// given). The broker runs on its own threads until the process exits.
pub fn start_embedded_broker(port: u16) -> anyhow::Result<()> {
    let cfg = serde_json::json!({
        "id": 0,
        "router": {
            "max_connections": 1010,
            "max_outgoing_packet_count": 200,
            "max_segment_size": 104857600,
            "max_segment_count": 10
        },
        "v4": {
            "1": {
                "name": "v4-1",
                "listen": format!("127.0.0.1:{port}"),
                "next_connection_delay_ms": 1,
                "connections": {
                    "connection_timeout_ms": 60000,
                    "max_payload_size": 1048576,
                    "max_inflight_count": 500,
                    "dynamic_filters": true
                }
            }
        }
    });
    let cfg: rumqttd::Config = serde_json::from_value(cfg)?;
    let mut broker = rumqttd::Broker::new(cfg);
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })?;
    Ok(())
}
