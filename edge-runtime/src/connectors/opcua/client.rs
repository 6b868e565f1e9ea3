use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use foodflow_protocol::{Event, Gap, Payload, PriorityClass, Quality, Reading, Severity};
use futures_util::StreamExt;
use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, Session, SessionPollResult};
use opcua::crypto::SecurityPolicy as UaPolicy;
use opcua::types::{
    AttributeId, DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, EndpointDescription,
    ExtensionObject, MessageSecurityMode, MonitoredItemCreateRequest, MonitoringMode,
    MonitoringParameters, NodeId, ReadValueId, TimestampsToReturn, VariableId, Variant,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::convert::{datetime_to_ns, variant_to_value};
use crate::connectors::ConnectorError;
use crate::connectors::codec::{Refusal, Refused, refused_event};
use crate::connectors::stats::{RefusedLog, SourceStats};
use crate::journal::Journal;
use crate::profile::{OpcUaSource, SecurityMode, SecurityPolicy};
use crate::time::now_ns;

/// Monitored items created per CreateMonitoredItems call (keeps each request under the
/// default message size and array limits).
const ITEM_CHUNK: usize = 1000;
const MAX_NOTIFICATIONS_PER_PUBLISH: u32 = 2000;

pub(super) fn policy_uri(p: SecurityPolicy) -> &'static str {
    match p {
        SecurityPolicy::None => UaPolicy::None.to_uri(),
        SecurityPolicy::Basic256Sha256 => UaPolicy::Basic256Sha256.to_uri(),
        SecurityPolicy::Aes128Sha256RsaOaep => UaPolicy::Aes128Sha256RsaOaep.to_uri(),
        SecurityPolicy::Aes256Sha256RsaPss => UaPolicy::Aes256Sha256RsaPss.to_uri(),
    }
}

pub(super) fn mode(m: SecurityMode) -> MessageSecurityMode {
    match m {
        SecurityMode::None => MessageSecurityMode::None,
        SecurityMode::Sign => MessageSecurityMode::Sign,
        SecurityMode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
    }
}

pub(super) fn build_client(pki: PathBuf, trust: bool) -> Result<opcua::client::Client, String> {
    ClientBuilder::new()
        .application_name("FoodFlow edge")
        .application_uri("urn:foodflow:edge")
        .product_uri("urn:foodflow:edge")
        .create_sample_keypair(true)
        .trust_server_certs(trust)
        .pki_dir(pki)
        .session_retry_limit(-1)
        .session_retry_initial(Duration::from_millis(500))
        .session_retry_max(Duration::from_secs(10))
        .keep_alive_interval(Duration::from_secs(2))
        .max_failed_keep_alive_count(3)
        .request_timeout(Duration::from_secs(10))
        .recreate_subscriptions(true)
        .session_timeout(60_000)
        .max_message_size(64 << 20)
        .max_chunk_count(4096)
        .max_array_length(200_000)
        .client()
        .map_err(|errs| errs.join("; "))
}

struct Tag {
    name: String,
    node: NodeId,
}

/// Runs one OPC UA source until `cancel` fires.
pub async fn run(
    src: OpcUaSource,
    journal: Journal,
    stats: Arc<SourceStats>,
    cancel: CancellationToken,
) -> Result<(), ConnectorError> {
    let fail = |message: String| ConnectorError::OpcUa {
        source_name: src.name.clone(),
        message,
    };
    let tags: Vec<Tag> = src
        .tags
        .iter()
        .map(|t| {
            NodeId::from_str(&t.node)
                .map(|node| Tag {
                    name: t.name.clone(),
                    node,
                })
                .map_err(|e| fail(format!("tag {}: node id {:?}: {e:?}", t.name, t.node)))
        })
        .collect::<Result<_, _>>()?;
    let by_node: Arc<HashMap<NodeId, usize>> = Arc::new(
        tags.iter()
            .enumerate()
            .map(|(i, t)| (t.node.clone(), i))
            .collect(),
    );
    let pki = src
        .pki_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("pki/opcua"));
    let trust = src.trust_server_cert || src.security.policy == SecurityPolicy::None;
    let mut client = build_client(pki, trust).map_err(fail)?;
    let endpoint: EndpointDescription = (
        src.endpoint.as_str(),
        policy_uri(src.security.policy),
        mode(src.security.mode),
    )
        .into();

    // First contact: discover the endpoint (and the server certificate), retrying with backoff.
    let mut backoff = Duration::from_millis(500);
    let mut down_since: Option<i64> = None;
    let (session, event_loop) = loop {
        match client
            .connect_to_matching_endpoint(endpoint.clone(), IdentityToken::Anonymous)
            .await
        {
            Ok(x) => break x,
            Err(e) => {
                tracing::warn!(source = %src.name, endpoint = %src.endpoint, error = %e, "OPC UA server not reachable; retrying");
                down_since.get_or_insert(now_ns());
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    _ = cancel.cancelled() => {
                        record_gap(&journal, &src, &stats, down_since.take(), "stopped before the OPC UA server was reached").await;
                        return Ok(());
                    }
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    };

    let (dv_tx, dv_rx) = mpsc::unbounded_channel::<(usize, DataValue)>();
    let batcher = tokio::spawn(batch_to_journal(
        dv_rx,
        cancel.clone(),
        Arc::new(tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>()),
        journal.clone(),
        src.clone(),
        stats.clone(),
    ));

    // The session event loop must keep running while this task awaits service calls on the
    // session (subscribe, read), so it is polled by a task of its own that never waits on this
    // one: it passes on only the rare changes of connection state, and drops the rest. (It
    // used to pass on every event through a small bounded channel: while this task waited for
    // the monitored items of a large subscription, the transport events filled the channel,
    // the poller stopped, nothing read the server's answers, and the edge hung at ~9,000
    // items until the server dropped the session.)
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let poller = tokio::spawn(async move {
        let mut events = Box::pin(event_loop.enter());
        while let Some(ev) = events.next().await {
            let state_change = matches!(
                ev,
                Err(_)
                    | Ok(SessionPollResult::ConnectionLost(_)
                        | SessionPollResult::ReconnectFailed(_)
                        | SessionPollResult::Reconnected(_))
            );
            if state_change && ev_tx.send(ev).is_err() {
                break;
            }
        }
    });
    stats
        .items_configured
        .store(tags.len() as u64, Ordering::Relaxed);
    let mut subscribed = false;
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => break,
            ev = ev_rx.recv() => ev,
        };
        match ev {
            None => break,
            Some(Err(status)) => {
                tracing::error!(source = %src.name, %status, "OPC UA session ended");
                break;
            }
            Some(Ok(SessionPollResult::ConnectionLost(status))) => {
                stats.set_connected(false);
                down_since.get_or_insert(now_ns());
                tracing::warn!(source = %src.name, %status, "OPC UA connection lost; reconnecting");
                let ev = Payload::Event(Event {
                    name: format!("{}/connection_lost", src.name),
                    severity: Severity::Alarm,
                    message: format!("OPC UA connection to {} lost: {status}", src.endpoint),
                });
                let _ = journal
                    .submit(
                        src.stream.clone(),
                        PriorityClass::Telemetry,
                        vec![(now_ns(), ev)],
                    )
                    .await;
            }
            Some(Ok(SessionPollResult::ReconnectFailed(status))) => {
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(source = %src.name, %status, "OPC UA reconnect failed");
            }
            Some(Ok(SessionPollResult::Reconnected(how))) => {
                stats.set_connected(true);
                tracing::info!(source = %src.name, ?how, "OPC UA session up");
                if !subscribed {
                    let t0 = std::time::Instant::now();
                    stats.subscribing.store(1, Ordering::Relaxed);
                    // A stop must take effect while thousands of items are being created.
                    let r = tokio::select! {
                        _ = cancel.cancelled() => None,
                        r = subscribe(&session, &src, &tags, by_node.clone(), dv_tx.clone(), &stats) => Some(r),
                    };
                    stats.subscribing.store(0, Ordering::Relaxed);
                    match r {
                        None => break,
                        Some(Ok(n)) => {
                            subscribed = true;
                            let ms = t0.elapsed().as_millis() as u64;
                            stats.items.store(n as u64, Ordering::Relaxed);
                            stats.setup_ms.store(ms, Ordering::Relaxed);
                            tracing::info!(source = %src.name, items = n, ms, "OPC UA monitored items created");
                        }
                        Some(Err(e)) => {
                            tracing::error!(source = %src.name, error = %e, "cannot create the OPC UA subscription");
                        }
                    }
                }
                // async-opcua 0.19 recreates the subscriptions on a new session but does not
                // restart its publish loop for them; without this nudge no data would flow.
                session.trigger_publish_now();
                if let Some(since) = down_since.take() {
                    record_gap(
                        &journal,
                        &src,
                        &stats,
                        Some(since),
                        "OPC UA connection was down",
                    )
                    .await;
                    // Whatever changed during the outage: read the current values now.
                    reread(&session, &tags, &dv_tx).await;
                }
            }
            Some(Ok(_)) => {}
        }
    }
    stats.set_connected(false);
    let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
    poller.abort();
    drop(dv_tx);
    let _ = batcher.await;
    if let Some(since) = down_since {
        record_gap(
            &journal,
            &src,
            &stats,
            Some(since),
            "OPC UA connection was down at shutdown",
        )
        .await;
    }
    Ok(())
}

async fn record_gap(
    journal: &Journal,
    src: &OpcUaSource,
    stats: &SourceStats,
    since: Option<i64>,
    reason: &str,
) {
    let Some(since) = since else { return };
    let now = now_ns();
    let gap = vec![(
        now,
        Payload::Gap(Gap {
            subject: format!("{} ({})", src.name, src.endpoint),
            from_ts_ns: since,
            to_ts_ns: now,
            reason: reason.to_owned(),
            lost: None,
        }),
    )];
    stats.observe(&gap);
    if let Err(e) = journal
        .append(src.stream.clone(), PriorityClass::Telemetry, gap)
        .await
    {
        tracing::error!(source = %src.name, error = %e, "cannot journal the outage gap");
    }
}

async fn subscribe(
    session: &Arc<Session>,
    src: &OpcUaSource,
    tags: &[Tag],
    by_node: Arc<HashMap<NodeId, usize>>,
    tx: mpsc::UnboundedSender<(usize, DataValue)>,
    stats: &SourceStats,
) -> Result<usize, String> {
    let per_call = items_per_call(session).await;
    let sub = session
        .create_subscription(
            Duration::from_millis(src.publishing_interval_ms),
            60,
            10,
            // Bounded so that one publish response stays well inside the message size limits
            // even with thousands of items changing at once.
            MAX_NOTIFICATIONS_PER_PUBLISH,
            0,
            true,
            DataChangeCallback::new(move |dv, item| {
                if let Some(&i) = by_node.get(&item.item_to_monitor().node_id) {
                    let _ = tx.send((i, dv));
                }
            }),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut created = 0;
    let mut failed = 0;
    for (chunk_no, chunk) in src.tags.chunks(per_call).enumerate() {
        let reqs: Vec<MonitoredItemCreateRequest> = chunk
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let i = chunk_no * per_call + j;
                let filter = if t.deadband > 0.0 {
                    ExtensionObject::from_message(DataChangeFilter {
                        trigger: DataChangeTrigger::StatusValue,
                        deadband_type: DeadbandType::Absolute as u32,
                        deadband_value: t.deadband,
                    })
                } else {
                    ExtensionObject::null()
                };
                MonitoredItemCreateRequest {
                    item_to_monitor: ReadValueId {
                        node_id: tags[i].node.clone(),
                        attribute_id: AttributeId::Value as u32,
                        ..Default::default()
                    },
                    monitoring_mode: MonitoringMode::Reporting,
                    requested_parameters: MonitoringParameters {
                        client_handle: i as u32 + 1,
                        sampling_interval: t
                            .sampling_interval_ms
                            .unwrap_or(src.default_sampling_interval_ms)
                            as f64,
                        filter,
                        queue_size: 10,
                        discard_oldest: true,
                    },
                }
            })
            .collect();
        let results = session
            .create_monitored_items(sub, TimestampsToReturn::Both, reqs)
            .await
            .map_err(|e| e.to_string())?;
        for (j, r) in results.iter().enumerate() {
            if r.result.status_code.is_bad() {
                let t = &chunk[j];
                tracing::warn!(source = %src.name, tag = %t.name, node = %t.node, status = %r.result.status_code, "monitored item rejected by the server; check the node id (`foodflow-edge opcua browse`)");
                failed += 1;
            } else {
                created += 1;
            }
        }
        stats.items.store(created, Ordering::Relaxed);
        stats.items_failed.store(failed, Ordering::Relaxed);
    }
    Ok(created as usize)
}

/// Monitored items per CreateMonitoredItems call: ours, or fewer where the server's
/// `OperationLimits.MaxMonitoredItemsPerCall` says so (0 or unreadable: no limit).
async fn items_per_call(session: &Arc<Session>) -> usize {
    let limit = ReadValueId {
        node_id: VariableId::Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall
            .into(),
        attribute_id: AttributeId::Value as u32,
        ..Default::default()
    };
    let server = match session
        .read(&[limit], TimestampsToReturn::Neither, 0.0)
        .await
    {
        Ok(v) => match v.first().and_then(|dv| dv.value.as_ref()) {
            Some(Variant::UInt32(n)) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        },
        Err(_) => 0,
    };
    if server == 0 {
        ITEM_CHUNK
    } else {
        server.min(ITEM_CHUNK)
    }
}

async fn reread(
    session: &Arc<Session>,
    tags: &[Tag],
    tx: &mpsc::UnboundedSender<(usize, DataValue)>,
) {
    for (c, chunk) in tags.chunks(ITEM_CHUNK).enumerate() {
        let ids: Vec<ReadValueId> = chunk
            .iter()
            .map(|t| ReadValueId {
                node_id: t.node.clone(),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            })
            .collect();
        match session.read(&ids, TimestampsToReturn::Both, 0.0).await {
            Ok(values) => {
                for (j, dv) in values.into_iter().enumerate() {
                    let _ = tx.send((c * ITEM_CHUNK + j, dv));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-read after reconnect failed; values arrive with the next changes");
                return;
            }
        }
    }
}

/// Turns data changes into journal appends, a batch per wake-up.
async fn batch_to_journal(
    mut rx: mpsc::UnboundedReceiver<(usize, DataValue)>,
    cancel: CancellationToken,
    names: Arc<Vec<String>>,
    journal: Journal,
    src: OpcUaSource,
    stats: Arc<SourceStats>,
) {
    let mut buf = Vec::with_capacity(4096);
    let mut refused_log = RefusedLog::default();
    // Per tag, the sample last journaled (source time, status, value): after a reconnect the
    // recreated subscription's first notification and the re-read carry the same sample, and
    // a sample is stored once.
    let mut last: Vec<Option<(i64, u32, foodflow_protocol::Value)>> = vec![None; names.len()];
    loop {
        // The subscription callback holds a sender for the session's lifetime, so the channel
        // never closes by itself: stop on cancel, after journaling what already arrived.
        let n = tokio::select! {
            n = rx.recv_many(&mut buf, 8192) => n,
            _ = cancel.cancelled() => {
                while let Ok(x) = rx.try_recv() {
                    buf.push(x);
                }
                if buf.is_empty() {
                    return;
                }
                buf.len()
            }
        };
        if n == 0 {
            return;
        }
        let now = now_ns();
        stats
            .messages
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        let mut refused = Vec::new();
        let mut again = 0u64;
        let mut records: Vec<(i64, Payload)> = buf
            .drain(..)
            .filter_map(|(i, dv)| {
                let code = dv.status.map(|s| s.bits()).unwrap_or(0);
                let tag = names.get(i).cloned().unwrap_or_default();
                let value = match dv.value.as_ref().map(variant_to_value) {
                    None => foodflow_protocol::Value::Text(String::new()),
                    Some(Ok(v)) => v,
                    Some(Err(detail)) => {
                        refused.push(Refused {
                            what: tag,
                            why: Refusal::UnsupportedType,
                            detail,
                        });
                        return None;
                    }
                };
                let source_ts_ns = dv.source_timestamp.as_ref().map(datetime_to_ns);
                if let (Some(ts), Some(slot)) = (source_ts_ns, last.get_mut(i)) {
                    if slot
                        .as_ref()
                        .is_some_and(|(t, c, v)| *t == ts && *c == code && *v == value)
                    {
                        again += 1;
                        return None;
                    }
                    *slot = Some((ts, code, value.clone()));
                }
                Some((
                    now,
                    Payload::Reading(Reading {
                        tag,
                        value,
                        quality: Quality::from_status_code(code),
                        status_code: code,
                        source_ts_ns,
                        origin_id: None,
                    }),
                ))
            })
            .collect();
        stats.redelivered.fetch_add(again, Ordering::Relaxed);
        if !refused.is_empty() {
            stats.refused(&refused);
            refused_log.note(&src.name, &refused);
            records.push((now, refused_event(&src.name, &refused)));
        }
        stats.observe(&records);
        if let Err(e) = journal
            .submit(src.stream.clone(), PriorityClass::Telemetry, records)
            .await
        {
            tracing::error!(source = %src.name, error = %e, "journal closed; OPC UA values dropped");
            return;
        }
    }
}
