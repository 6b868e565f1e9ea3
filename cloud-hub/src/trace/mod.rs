//! The hub's FoodGraph service: one traceability graph per tenant, loaded from the tenant's
//! stored EPCIS events on first use and kept current by every capture. Captures are regulated
//! writes: the events and their audit entries commit in one transaction.

pub mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use foodflow_foodgraph::{Event, Graph};
use foodflow_transport::TenantId;
use serde::Serialize;

use crate::audit::chain::Draft;
use crate::store::{RecordStore, StoreError};

/// What one capture did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Captured {
    /// New events stored (and audited).
    pub captured: usize,
    /// Events already known (same canonical hash): skipped.
    pub duplicates: usize,
    /// The canonical hash of every event of the capture, in order.
    pub hashes: Vec<String>,
}

#[derive(Default)]
pub struct Traceability {
    graphs: Mutex<HashMap<TenantId, Arc<RwLock<Graph>>>>,
}

fn lock_poisoned<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
}

impl Traceability {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tenant's graph, loaded from the store the first time.
    pub fn graph(
        &self,
        store: &dyn RecordStore,
        tenant: &TenantId,
    ) -> Result<Arc<RwLock<Graph>>, StoreError> {
        if let Some(g) = self.graphs.lock().unwrap_or_else(lock_poisoned).get(tenant) {
            return Ok(g.clone());
        }
        let loaded = Arc::new(RwLock::new(load(store, tenant)?));
        let mut graphs = self.graphs.lock().unwrap_or_else(lock_poisoned);
        Ok(graphs.entry(tenant.clone()).or_insert(loaded).clone())
    }

    /// Stores the new events of a capture with one audit entry each, then indexes them.
    pub fn capture(
        &self,
        store: &dyn RecordStore,
        tenant: &TenantId,
        events: Vec<Event>,
        actor: &str,
        from: &str,
    ) -> Result<Captured, StoreError> {
        let graph = self.graph(store, tenant)?;
        // The write lock spans the store commit: captures of a tenant are serialised, so the
        // duplicate check and the commit see the same graph.
        let mut g = graph.write().unwrap_or_else(lock_poisoned);
        let hashes: Vec<String> = events.iter().map(|e| e.hash.clone()).collect();
        let mut seen = std::collections::HashSet::new();
        let fresh: Vec<Event> = events
            .into_iter()
            .filter(|e| !g.contains(&e.hash) && seen.insert(e.hash.clone()))
            .collect();
        let duplicates = hashes.len() - fresh.len();
        if fresh.is_empty() {
            return Ok(Captured {
                captured: 0,
                duplicates,
                hashes,
            });
        }
        let bytes = fresh
            .iter()
            .map(|e| serde_json::to_vec(e).map_err(|e| StoreError::Write(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut i = 0;
        store.tenant(tenant).capture_epcis(
            &bytes,
            &mut |seq| {
                let e = &fresh[i];
                i += 1;
                Draft {
                    actor: actor.to_owned(),
                    action: "epcis.capture".into(),
                    object: e.hash.clone(),
                    before: None,
                    after: Some(serde_json::json!({
                        "epcis_seq": seq,
                        "type": e.kind,
                        "event_time_ns": e.time_ns,
                        "biz_step": e.biz_step,
                    })),
                    from: from.to_owned(),
                    signature: None,
                }
            },
            foodflow_protocol::time::now_ns(),
        )?;
        let captured = fresh.len();
        for e in fresh {
            g.insert(e);
        }
        Ok(Captured {
            captured,
            duplicates,
            hashes,
        })
    }
}

/// Captures the EPCIS events carried by newly committed `Trace` records (entries above each
/// segment's mark in `before`). A record whose document is invalid stays stored as received;
/// it is counted and logged with the reason, and the rest of the batch goes on.
#[allow(clippy::too_many_arguments)]
pub fn ingest_trace_records(
    trace: &Traceability,
    store: &dyn RecordStore,
    tenant: &TenantId,
    segments: &[foodflow_protocol::Segment],
    before: &[u64],
    actor: &str,
    from: &str,
    metrics: &foodflow_transport::metrics::Metrics,
) {
    use std::sync::atomic::Ordering;
    // One capture (one transaction, one fsync) per segment, not per record.
    for (seg, mark) in segments.iter().zip(before) {
        let mut events = Vec::new();
        for e in seg.entries.iter().filter(|e| e.seq > *mark) {
            let foodflow_protocol::Payload::Trace { epcis } = &e.payload else {
                continue;
            };
            match foodflow_foodgraph::parse_capture(epcis.as_bytes(), api::MAX_CAPTURE_EVENTS) {
                Ok(ev) => events.extend(ev),
                Err(err) => {
                    metrics
                        .counter(
                            "foodflow_hub_trace_records_invalid_total",
                            "Trace records whose EPCIS document is invalid (kept, not indexed)",
                            &[],
                        )
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%tenant, device = %seg.device, stream = %seg.stream, seq = e.seq, "trace record not indexed: {err}");
                }
            }
        }
        if events.is_empty() {
            continue;
        }
        let who = format!("{actor} (device {})", seg.device);
        match trace.capture(store, tenant, events, &who, from) {
            Ok(c) => {
                metrics
                    .counter(
                        "foodflow_hub_epcis_captured_total",
                        "EPCIS events stored",
                        &[],
                    )
                    .fetch_add(c.captured as u64, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::error!(%tenant, device = %seg.device, error = %err, "trace records not indexed")
            }
        }
    }
}

/// Reads a tenant's stored events into a graph. An unreadable event is an error (the audit
/// verification names it), not a silent gap in traceability.
fn load(store: &dyn RecordStore, tenant: &TenantId) -> Result<Graph, StoreError> {
    let view = store.tenant(tenant);
    let mut g = Graph::new();
    let mut from = 1;
    loop {
        let page = view.epcis_raw(from, 10_000)?;
        let Some(last) = page.last().map(|(s, _)| *s) else {
            break;
        };
        for (seq, bytes) in page {
            let e: Event = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                device: format!("tenant {tenant}"),
                stream: "epcis".into(),
                seq,
                why: format!("{e}; run `foodflow-hub audit verify`"),
            })?;
            g.insert(e);
        }
        from = last + 1;
    }
    Ok(g)
}
