//! The simulated PLC: an async-opcua server whose namespace `urn:foodflow:sim` holds the line's
//! tags (`ns=2;s=Line1.Oven.Zone1.Temperature`, …) plus N synthetic tags
//! (`ns=2;s=Extra.Tag00001`, …) that change R times per second each.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opcua::crypto::SecurityPolicy;
use opcua::nodes::Variable;
use opcua::server::node_manager::memory::{SimpleNodeManager, simple_node_manager};
use opcua::server::{ServerBuilder, ServerHandle, diagnostics::NamespaceMetadata};
use opcua::types::{DataValue, DateTime, MessageSecurityMode, NodeId, StatusCode, Variant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::plant::{LineState, Plant, SimValue};

pub const NAMESPACE: &str = "urn:foodflow:sim";

#[derive(Debug, Clone)]
pub struct OpcUaSimConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub extra_tags: usize,
    /// Changes per second of every synthetic tag.
    pub extra_rate_hz: f64,
    pub pki_dir: PathBuf,
}

pub struct RunningServer {
    pub port: u16,
    pub namespace_index: u16,
    pub handle: ServerHandle,
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn endpoint(&self) -> String {
        format!("opc.tcp://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (clients see the connection drop) and waits for it.
    pub async fn stop(self) {
        self.handle.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

fn variant(v: &SimValue) -> Variant {
    match v {
        SimValue::Float(f) => Variant::Double(*f),
        SimValue::Int(i) => Variant::Int64(*i),
        SimValue::Bool(b) => Variant::Boolean(*b),
        SimValue::Text(t) => Variant::from(t.as_str()),
    }
}

pub fn extra_tag_name(i: usize) -> String {
    format!("Extra.Tag{:05}", i + 1)
}

/// Starts the server and the task that moves the plant and writes its values.
pub async fn start(
    cfg: OpcUaSimConfig,
    plant: Arc<Mutex<Plant>>,
    cancel: CancellationToken,
) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(("127.0.0.1", cfg.port)).await?;
    let port = listener.local_addr()?.port();
    let user_tokens = [opcua::server::ANONYMOUS_USER_TOKEN_ID];
    let mut builder = ServerBuilder::new()
        .application_name("FoodFlow simulated PLC")
        .application_uri("urn:foodflow:sim:plc")
        .product_uri("urn:foodflow:sim")
        .create_sample_keypair(true)
        .trust_client_certs(true)
        .pki_dir(&cfg.pki_dir)
        .host("127.0.0.1")
        .port(port)
        .discovery_urls(vec!["/".to_owned()])
        .add_endpoint(
            "none",
            (
                "/",
                SecurityPolicy::None,
                MessageSecurityMode::None,
                &user_tokens as &[&str],
            ),
        )
        .add_endpoint(
            "basic256sha256",
            (
                "/",
                SecurityPolicy::Basic256Sha256,
                MessageSecurityMode::SignAndEncrypt,
                &user_tokens as &[&str],
            ),
        )
        .add_endpoint(
            "aes128sha256rsaoaep",
            (
                "/",
                SecurityPolicy::Aes128Sha256RsaOaep,
                MessageSecurityMode::SignAndEncrypt,
                &user_tokens as &[&str],
            ),
        )
        .with_node_manager(simple_node_manager(
            NamespaceMetadata {
                namespace_uri: NAMESPACE.to_owned(),
                ..Default::default()
            },
            "foodflow-sim",
        ))
        .token(cancel.child_token());
    {
        let limits = builder.limits_mut();
        limits.subscriptions.max_monitored_items_per_sub = 200_000;
        limits.subscriptions.max_monitored_item_queue_size = 100;
        limits.subscriptions.min_sampling_interval_ms = 10.0;
        limits.subscriptions.min_publishing_interval_ms = 10.0;
        limits.operational.max_monitored_items_per_call = 10_000;
        limits.operational.max_nodes_per_read = 10_000;
        limits.max_array_length = 200_000;
        limits.max_message_size = 64 << 20;
        limits.max_chunk_count = 4096;
    }
    let (server, handle) = builder.build().map_err(anyhow::Error::msg)?;
    let ns = handle
        .get_namespace_index(NAMESPACE)
        .ok_or_else(|| anyhow::anyhow!("namespace {NAMESPACE} was not registered"))?;
    let manager = handle
        .node_managers()
        .get_of_type::<SimpleNodeManager>()
        .ok_or_else(|| anyhow::anyhow!("simple node manager missing"))?;

    let plant_tags = plant.lock().map(|p| p.tags()).unwrap_or_default();
    let extra: Vec<NodeId> = (0..cfg.extra_tags)
        .map(|i| NodeId::new(ns, extra_tag_name(i)))
        .collect();
    {
        let mut space = manager.address_space().write();
        let line = NodeId::new(ns, "Line1");
        space.add_folder(&line, "Line1", "Line 1", &NodeId::objects_folder_id());
        let vars = plant_tags
            .iter()
            .map(|(name, v)| {
                let leaf = name.trim_start_matches("Line1.");
                Variable::new(&NodeId::new(ns, name.clone()), leaf, leaf, variant(v))
            })
            .collect();
        space.add_variables(vars, &line);
        if !extra.is_empty() {
            let folder = NodeId::new(ns, "Extra");
            space.add_folder(
                &folder,
                "Extra",
                "Synthetic tags",
                &NodeId::objects_folder_id(),
            );
            let vars = extra
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let n = format!("Tag{:05}", i + 1);
                    Variable::new(id, n.as_str(), n.as_str(), 0.0f64)
                })
                .collect();
            space.add_variables(vars, &folder);
        }
    }

    let subs = handle.subscriptions().clone();
    let updater_cancel = cancel.child_token();
    let server_cancel = handle.token().clone();
    let plant_ids: Vec<NodeId> = plant_tags
        .iter()
        .map(|(n, _)| NodeId::new(ns, n.clone()))
        .collect();
    let tick = if cfg.extra_tags > 0 && cfg.extra_rate_hz > 0.0 {
        Duration::from_secs_f64(1.0 / cfg.extra_rate_hz).max(Duration::from_millis(10))
    } else {
        Duration::from_millis(100)
    };
    let updater = tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let start = Instant::now();
        let mut last = Instant::now();
        let mut round: u64 = 0;
        loop {
            tokio::select! {
                _ = updater_cancel.cancelled() => return,
                _ = server_cancel.cancelled() => return,
                _ = interval.tick() => {}
            }
            round += 1;
            let now = DateTime::now();
            let (tags, state) = match plant.lock() {
                Ok(mut p) => {
                    p.step(last.elapsed().as_secs_f64());
                    (p.tags(), p.state)
                }
                Err(_) => return,
            };
            last = Instant::now();
            let mut values: Vec<(&NodeId, Option<&opcua::types::NumericRange>, DataValue)> =
                Vec::with_capacity(plant_ids.len() + extra.len());
            for (id, (name, v)) in plant_ids.iter().zip(&tags) {
                // A faulted line's belt speed sensor reports Uncertain, as a real drive would.
                let status = if state == LineState::Fault && name == "Line1.Belt.Speed" {
                    StatusCode::Uncertain
                } else {
                    StatusCode::Good
                };
                values.push((
                    id,
                    None,
                    DataValue {
                        value: Some(variant(v)),
                        status: Some(status),
                        source_timestamp: Some(now),
                        server_timestamp: Some(now),
                        ..Default::default()
                    },
                ));
            }
            let t = start.elapsed().as_secs_f64();
            for (i, id) in extra.iter().enumerate() {
                // Every value differs from the previous one, so every update is a change.
                let v = (i as f64 * 0.1 + t).sin() * 10.0 + round as f64 * 1e-6;
                values.push((
                    id,
                    None,
                    DataValue {
                        value: Some(Variant::Double(v)),
                        status: Some(StatusCode::Good),
                        source_timestamp: Some(now),
                        server_timestamp: Some(now),
                        ..Default::default()
                    },
                ));
            }
            if let Err(e) = manager.set_values(&subs, values.into_iter()) {
                tracing::error!(%e, "cannot update simulated values");
            }
        }
    });
    let task = tokio::spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            tracing::error!(error = %e, "simulated OPC UA server stopped");
        }
        updater.abort();
    });
    Ok(RunningServer {
        port,
        namespace_index: ns,
        handle,
        task,
    })
}
