use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use foodflow_protocol::{Event, Payload, Severity};
use rumqttc::{
    AsyncClient, Event as MqttEvent, MqttOptions, Packet, Publish, QoS, SubscribeReasonCode,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{parse_broker_url, topic_matches};
use crate::connectors::ConnectorError;
use crate::connectors::codec::{CodecError, Refused, json, sparkplug};
use crate::connectors::stats::{RefusedLog, SourceStats};
use crate::journal::{AppendResult, Entry, Journal};
use crate::profile::{Codec, JsonCodecConfig, MqttSource, MqttSubscription};
use crate::time::now_ns;

/// Capacity of rumqttc's request channel (PUBACKs, subscribes, rebirth requests).
const REQUEST_QUEUE: usize = 16_384;

struct PendingAck {
    publish: Publish,
    /// `None` when nothing had to be journaled first.
    durable: Option<oneshot::Receiver<AppendResult>>,
    generation: u64,
}

/// Logs a bad payload at most once per topic every 10 s, with the count suppressed since.
struct BadLog {
    last: HashMap<String, (Instant, u64)>,
}

impl BadLog {
    fn note(&mut self, source: &str, topic: &str, err: &CodecError) {
        let now = Instant::now();
        let e = self
            .last
            .entry(topic.to_owned())
            .or_insert((now - Duration::from_secs(60), 0));
        if now.duration_since(e.0) >= Duration::from_secs(10) {
            tracing::warn!(source, topic, suppressed = e.1, error = %err, "bad payload skipped; it is kept in the journal as an event");
            *e = (now, 0);
        } else {
            e.1 += 1;
        }
    }
}

/// Runs one MQTT source until `cancel` fires. Reconnects by itself (rumqttc retries on the next
/// poll); the persistent session makes the broker redeliver whatever was not acknowledged.
pub async fn run(
    src: MqttSource,
    journal: Journal,
    stats: Arc<SourceStats>,
    cancel: CancellationToken,
) -> Result<(), ConnectorError> {
    let (host, port) = parse_broker_url(&src.broker).map_err(|message| ConnectorError::Config {
        source_name: src.name.clone(),
        message,
    })?;
    let mut opts = MqttOptions::new(src.client_id.clone(), host, port);
    opts.set_keep_alive(Duration::from_secs(src.keep_alive_s.max(5)));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(16 << 20, 1 << 20);
    opts.set_request_channel_capacity(REQUEST_QUEUE);
    if let Some(user) = &src.username {
        let pass = match &src.password_env {
            Some(var) => std::env::var(var).map_err(|_| ConnectorError::Config {
                source_name: src.name.clone(),
                message: format!("environment variable {var} (password_env) is not set"),
            })?,
            None => String::new(),
        };
        opts.set_credentials(user.clone(), pass);
    }
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_QUEUE);

    // PUBACKs go out strictly in arrival order (brokers such as rumqttd drop a client that acks
    // out of order), each once its group commit is durable. Acks owed to an earlier connection
    // are not sent: the broker redelivers those messages on the new one.
    let generation = Arc::new(AtomicU64::new(0));
    // Unbounded on purpose: the event loop must never wait for the acker (the acker's PUBACKs
    // only leave while the event loop is polled). The broker's in-flight window (e.g.
    // Mosquitto's max_inflight_messages) bounds how many unacknowledged messages we hold.
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<PendingAck>();
    let acker_client = client.clone();
    let acker_generation = generation.clone();
    // A failed journal write: the broker resends unacknowledged messages only on a new
    // connection, so the event loop drops this one (see below).
    let journal_failed = Arc::new(tokio::sync::Notify::new());
    let acker_failed = journal_failed.clone();
    let acker = tokio::spawn(async move {
        while let Some(pending) = ack_rx.recv().await {
            let durable = match pending.durable {
                Some(rx) => matches!(rx.await, Ok(Ok(_))),
                None => true,
            };
            if !durable {
                acker_failed.notify_one();
            }
            // Not durable: no PUBACK, so the broker redelivers after a reconnect.
            if durable
                && pending.generation == acker_generation.load(Ordering::SeqCst)
                && acker_client.ack(&pending.publish).await.is_err()
            {
                break;
            }
        }
    });
    let ack = |publish: Publish, durable: Option<oneshot::Receiver<AppendResult>>| PendingAck {
        publish,
        durable,
        generation: generation.load(Ordering::SeqCst),
    };

    let mut hosts: HashMap<usize, sparkplug::Host> = HashMap::new();
    let mut redelivery = Redelivery::load(&journal, &src.name);
    let redelivered = stats.redelivered.clone();
    let mut refused_log = RefusedLog::default();
    let mut bad_log = BadLog {
        last: HashMap::new(),
    };
    let mut backoff = Duration::from_millis(200);
    let mut was_connected = false;
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = journal_failed.notified() => {
                generation.fetch_add(1, Ordering::SeqCst);
                eventloop.clean();
                if was_connected {
                    stats.set_connected(false);
                    was_connected = false;
                }
                tracing::warn!(source = %src.name, "the journal cannot write: disconnected from the broker until it can; the broker keeps the unacknowledged messages and sends them again");
                if !journal_writes_again(&journal, &cancel).await {
                    break;
                }
                // The fingerprints of messages whose write failed were noted before the
                // failure: only what the journal holds may count as seen.
                redelivery = Redelivery::load(&journal, &src.name);
                continue;
            }
            ev = eventloop.poll() => ev,
        };
        match ev {
            Ok(MqttEvent::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(source = %src.name, session_present = ack.session_present, "connected to MQTT broker");
                stats.set_connected(true);
                was_connected = true;
                backoff = Duration::from_millis(200);
                // Counted when the broker grants them (SUBACK): until then a message published
                // by the plant has no subscriber here and the broker would silently drop it.
                stats.items.store(0, Ordering::Relaxed);
                for sub in &src.subscriptions {
                    client
                        .subscribe(sub.topic.clone(), QoS::AtLeastOnce)
                        .await?;
                }
            }
            Ok(MqttEvent::Incoming(Packet::SubAck(ack))) => {
                let granted = ack
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, SubscribeReasonCode::Success(_)))
                    .count() as u64;
                if granted < ack.return_codes.len() as u64 {
                    tracing::error!(source = %src.name, pkid = ack.pkid, "the broker refused a subscription (check its ACL for this client)");
                }
                stats.items.fetch_add(granted, Ordering::Relaxed);
            }
            Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                let fp = redelivery.fingerprint(&p);
                if p.dup && redelivery.seen(p.pkid, fp) {
                    // Journaled before a crash or disconnect, acknowledged never: ack only.
                    redelivered.fetch_add(1, Ordering::Relaxed);
                    if ack_tx.send(ack(p, None)).is_err() {
                        break;
                    }
                    continue;
                }
                let Some((idx, sub)) = src
                    .subscriptions
                    .iter()
                    .enumerate()
                    .find(|(_, s)| topic_matches(&s.topic, &p.topic))
                else {
                    // Not ours (e.g. a leftover subscription of the persistent session).
                    if p.qos != QoS::AtMostOnce && ack_tx.send(ack(p, None)).is_err() {
                        break;
                    }
                    continue;
                };
                let now = now_ns();
                let records = match decode(sub, hosts.entry(idx).or_default(), &p, now) {
                    Ok((records, rebirth, refused)) => {
                        if !refused.is_empty() {
                            // The codec put the event among the records.
                            stats.refused(&refused);
                            refused_log.note(&src.name, &refused);
                        }
                        if let Some(rb) = rebirth {
                            tracing::info!(source = %src.name, topic = %rb.topic, "requesting a Sparkplug rebirth");
                            client
                                .publish(rb.topic, QoS::AtMostOnce, false, rb.payload)
                                .await?;
                        }
                        records
                    }
                    Err(e) => {
                        stats.bad.fetch_add(1, Ordering::Relaxed);
                        bad_log.note(&src.name, &p.topic, &e);
                        vec![(now, bad_payload_event(&p, &e))]
                    }
                };
                if records.is_empty() {
                    if p.qos != QoS::AtMostOnce && ack_tx.send(ack(p, None)).is_err() {
                        break;
                    }
                    continue;
                }
                stats.observe(&records);
                let meta = if p.qos == QoS::AtMostOnce {
                    Vec::new()
                } else {
                    vec![redelivery.record(p.pkid, fp)]
                };
                let durable = journal
                    .submit_with_meta(sub.stream.clone(), sub.class, records, meta)
                    .await?;
                if p.qos != QoS::AtMostOnce && ack_tx.send(ack(p, Some(durable))).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                generation.fetch_add(1, Ordering::SeqCst);
                if was_connected {
                    stats.set_connected(false);
                    was_connected = false;
                    tracing::warn!(source = %src.name, error = %e, "MQTT connection lost; reconnecting");
                } else {
                    tracing::debug!(source = %src.name, error = %e, "MQTT connect failed");
                }
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    stats.set_connected(false);
    // Let queued acks go out for what is already durable, then leave.
    drop(ack_tx);
    let drain = async {
        let _ = acker.await;
        let _ = client.disconnect().await;
        // Drive the event loop so the PUBACKs and DISCONNECT are written.
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, MqttEvent::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), drain).await;
    Ok(())
}

/// Waits until the journal writes again (at least a second, so that a failure that does not
/// mark the journal faulted cannot turn into a reconnect loop); `false` when cancelled first.
async fn journal_writes_again(journal: &Journal, cancel: &CancellationToken) -> bool {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let reader = journal.reader().clone();
        // A reopen does file I/O: off the async threads.
        if let Ok(None) = tokio::task::spawn_blocking(move || reader.fault()).await {
            return true;
        }
    }
}

/// Recognises QoS 1 redeliveries of messages that were journaled but whose PUBACK never
/// reached the broker (the edge crashed or the connection dropped between the durable append
/// and the ack). The packet id and a fingerprint of topic + payload of every journaled message
/// are written in the same commit as its records; a later PUBLISH with the DUP flag, the same
/// packet id and the same fingerprint is that message again.
struct Redelivery {
    prefix: String,
    last: HashMap<u16, u64>,
}

impl Redelivery {
    fn load(journal: &Journal, source: &str) -> Self {
        let prefix = format!("mqtt:{source}:");
        let mut last = HashMap::new();
        match journal.reader().connector_meta(&prefix) {
            Ok(kv) => {
                for (k, v) in kv {
                    let pkid = k[prefix.len()..].parse::<u16>();
                    let fp = v.as_slice().try_into().map(u64::from_be_bytes);
                    if let (Ok(pkid), Ok(fp)) = (pkid, fp) {
                        last.insert(pkid, fp);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(source, error = %e, "cannot read MQTT redelivery state; redeliveries after a crash may be journaled twice")
            }
        }
        Self { prefix, last }
    }

    fn fingerprint(&self, p: &Publish) -> u64 {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: stable across restarts, unlike RandomState.
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new_with_keys(0x666f_6f64, 0x666c_6f77);
        p.topic.hash(&mut h);
        p.payload.as_ref().hash(&mut h);
        h.finish()
    }

    fn seen(&self, pkid: u16, fp: u64) -> bool {
        self.last.get(&pkid) == Some(&fp)
    }

    fn record(&mut self, pkid: u16, fp: u64) -> (String, Vec<u8>) {
        self.last.insert(pkid, fp);
        (format!("{}{pkid}", self.prefix), fp.to_be_bytes().to_vec())
    }
}

/// Journal entries of one message, the rebirth request it calls for, if any, and the values
/// it refused (already among the entries as an event).
type Decoded = (Vec<Entry>, Option<sparkplug::Rebirth>, Vec<Refused>);

fn decode(
    sub: &MqttSubscription,
    host: &mut sparkplug::Host,
    p: &Publish,
    now: i64,
) -> Result<Decoded, CodecError> {
    match sub.codec {
        Codec::Json => {
            let default;
            let cfg = match &sub.json {
                Some(c) => c,
                None => {
                    default = JsonCodecConfig::default();
                    &default
                }
            };
            json::decode(&p.topic, &p.payload, cfg, now).map(|r| (r, None, Vec::new()))
        }
        Codec::SparkplugB => {
            let out = host.handle(&p.topic, &p.payload, now)?;
            Ok((out.records, out.rebirth, out.skipped))
        }
    }
}

fn bad_payload_event(p: &Publish, e: &CodecError) -> Payload {
    let shown: String = String::from_utf8_lossy(&p.payload[..p.payload.len().min(256)])
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    Payload::Event(Event {
        name: "bad_payload".into(),
        severity: Severity::Warning,
        message: format!(
            "topic {}: {e}; payload ({} bytes): {shown}",
            p.topic,
            p.payload.len()
        ),
    })
}
