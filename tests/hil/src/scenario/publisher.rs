//! The plant's MQTT device for scenarios: publishes numbered QoS 1 messages and records which
//! ones the broker acknowledged (those are the ones that must reach the hub).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Acked {
    pub telemetry: Vec<u64>,
    pub critical: Vec<u64>,
}

pub struct Plan {
    pub port: u16,
    pub seconds: f64,
    pub rate: f64,
    pub critical_rate: f64,
    pub pad: usize,
    pub time_scale: f64,
}

pub const TELEMETRY_TOPIC: &str = "plant/line1/json/weight";
pub const CRITICAL_TOPIC: &str = "plant/line1/quality/check";

/// Publishes for `plan.seconds`, then waits (up to 30 s) for the last acknowledgements.
pub async fn publish(plan: Plan, cancel: CancellationToken) -> Acked {
    let mut opts = MqttOptions::new("scenario-plant", "127.0.0.1", plan.port);
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_inflight(500);
    let (client, mut ev) = AsyncClient::new(opts, 10_000);
    let acked = Arc::new(Mutex::new(Acked::default()));
    // Publish order = the order rumqttc assigns packet ids in.
    let order: Arc<Mutex<VecDeque<(bool, u64)>>> = Arc::default();
    let done = CancellationToken::new();
    let poll = {
        let (acked, order, done) = (acked.clone(), order.clone(), done.clone());
        tokio::spawn(async move {
            let mut pk: HashMap<u16, (bool, u64)> = HashMap::new();
            loop {
                let e = tokio::select! {
                    e = ev.poll() => e,
                    _ = done.cancelled() => return,
                };
                match e {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(x) = order.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
                        {
                            pk.insert(pkid, x);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        if let Some((critical, id)) = pk.remove(&a.pkid) {
                            let mut g = acked.lock().unwrap_or_else(|p| p.into_inner());
                            if critical {
                                g.critical.push(id);
                            } else {
                                g.telemetry.push(id);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "scenario publisher lost the broker");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        })
    };
    let start = tokio::time::Instant::now();
    let sim_start_ms = foodflow_protocol::time::now_ns() / 1_000_000;
    let (mut t_sent, mut c_sent) = (0u64, 0u64);
    let pad = "x".repeat(plan.pad);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while start.elapsed().as_secs_f64() < plan.seconds && !cancel.is_cancelled() {
        tick.tick().await;
        let el = start.elapsed().as_secs_f64();
        let sim_ms = sim_start_ms + (el * plan.time_scale * 1000.0) as i64;
        while (t_sent as f64) < el * plan.rate {
            let body = serde_json::json!({
                "id": format!("t-{t_sent}"), "tag": "line1.filler.weight",
                "value": 500.0 + (t_sent % 100) as f64 * 0.1, "ts": sim_ms, "pad": pad,
            });
            order
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back((false, t_sent));
            if client
                .publish(TELEMETRY_TOPIC, QoS::AtLeastOnce, false, body.to_string())
                .await
                .is_err()
            {
                break;
            }
            t_sent += 1;
        }
        while (c_sent as f64) < el * plan.critical_rate {
            let body = serde_json::json!({
                "id": format!("q-{c_sent}"), "tag": "line1.quality.seal_ok",
                "value": c_sent % 50 != 0, "ts": sim_ms,
            });
            order
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back((true, c_sent));
            if client
                .publish(CRITICAL_TOPIC, QoS::AtLeastOnce, false, body.to_string())
                .await
                .is_err()
            {
                break;
            }
            c_sent += 1;
        }
    }
    let wait_until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = {
            let g = acked.lock().unwrap_or_else(|p| p.into_inner());
            (g.telemetry.len() + g.critical.len()) as u64
        };
        if n >= t_sent + c_sent || tokio::time::Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.cancel();
    let _ = poll.await;
    let mut g = acked.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Acked::default();
    std::mem::swap(&mut out, &mut g);
    out.telemetry.sort_unstable();
    out.critical.sort_unstable();
    out
}
