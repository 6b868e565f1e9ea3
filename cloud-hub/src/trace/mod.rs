//! The hub's FoodGraph service: one traceability graph per tenant, loaded from the tenant's
//! stored EPCIS events on first use and kept current by every capture. Captures are regulated
//! writes: the events and their audit entries commit in one transaction.

pub mod api;
pub mod sources;

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
                let d = capture_draft(&fresh[i], seq, actor, from);
                i += 1;
                d
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

/// The audit entry of one captured event.
fn capture_draft(e: &Event, seq: u64, actor: &str, from: &str) -> Draft {
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
}

/// Why `Trace` records were stored but not indexed, for the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotIndexed {
    Invalid,
    NoGrant,
    Location,
}

impl NotIndexed {
    pub fn as_str(self) -> &'static str {
        match self {
            NotIndexed::Invalid => "invalid",
            NotIndexed::NoGrant => "no_grant",
            NotIndexed::Location => "location",
        }
    }
}

/// What [`Traceability::ingest_batch`] committed.
#[derive(Debug, Default)]
pub struct BatchIngest {
    pub committed: crate::store::Committed,
    /// EPCIS events captured (stored and audited with the records).
    pub captured: usize,
    /// Trace records kept as received but not indexed, and why.
    pub not_indexed: Vec<NotIndexed>,
}

impl Traceability {
    /// Commits an upload: its records and, in the same transaction, the EPCIS events its new
    /// `Trace` records carry, each with its audit entry — a crash can never leave a captured
    /// record without its event or an event without its audit entry. A Trace record with an
    /// invalid document, from a device without a trace grant, or naming a location outside
    /// its grant is kept as received, not indexed (the reason is logged and counted).
    #[allow(clippy::too_many_arguments)]
    pub fn ingest_batch(
        &self,
        store: &dyn RecordStore,
        tenant: &TenantId,
        segments: &[foodflow_protocol::Segment],
        actor: &str,
        from: &str,
    ) -> Result<BatchIngest, StoreError> {
        use foodflow_protocol::Payload;
        let view = store.tenant(tenant);
        let traced = |seg: &&foodflow_protocol::Segment| {
            seg.entries
                .iter()
                .any(|e| matches!(e.payload, Payload::Trace { .. }))
        };
        if !segments.iter().any(|s| traced(&s)) {
            return Ok(BatchIngest {
                committed: view.ingest(segments)?,
                ..Default::default()
            });
        }
        // Marks before the commit: entries above them may be new. The transaction has the
        // last word; an event whose record turns out a duplicate was captured with that record
        // before, and its hash keeps it from being captured twice.
        let mut marks: HashMap<(String, String), u64> = HashMap::new();
        let mut grants: HashMap<String, Option<sources::Grant>> = HashMap::new();
        let mut out = BatchIngest::default();
        let mut events: Vec<(Event, String)> = Vec::new();
        for seg in segments.iter().filter(traced) {
            if !grants.contains_key(seg.device.as_str()) {
                for m in view.marks(Some(&seg.device))? {
                    marks.insert((m.device.to_string(), m.stream.to_string()), m.seq);
                }
                let g = sources::grant(view.as_ref(), seg.device.as_str())?;
                grants.insert(seg.device.to_string(), g);
            }
            let mark = marks
                .get(&(seg.device.to_string(), seg.stream.to_string()))
                .copied()
                .unwrap_or(0);
            let grant = grants.get(seg.device.as_str()).cloned().flatten();
            let who = format!("{actor} (device {})", seg.device);
            for e in seg.entries.iter().filter(|e| e.seq > mark) {
                let Payload::Trace { epcis } = &e.payload else {
                    continue;
                };
                let refused = |why: NotIndexed, msg: &str| {
                    tracing::warn!(%tenant, device = %seg.device, stream = %seg.stream, seq = e.seq, reason = why.as_str(), "trace record kept, not indexed: {msg}");
                    why
                };
                let Some(grant) = &grant else {
                    out.not_indexed.push(refused(
                        NotIndexed::NoGrant,
                        "the device has no trace grant (PUT /v1/trace/sources/{device})",
                    ));
                    continue;
                };
                match foodflow_foodgraph::parse_capture(epcis.as_bytes(), api::MAX_CAPTURE_EVENTS) {
                    Err(err) => out
                        .not_indexed
                        .push(refused(NotIndexed::Invalid, &err.to_string())),
                    Ok(evs) => match evs.iter().find_map(|ev| grant.allows(ev).err()) {
                        Some(why) => out.not_indexed.push(refused(NotIndexed::Location, &why)),
                        None => events.extend(evs.into_iter().map(|ev| (ev, who.clone()))),
                    },
                }
            }
        }
        let graph = self.graph(store, tenant)?;
        // The write lock spans the store commit, as for a capture.
        let mut g = graph.write().unwrap_or_else(lock_poisoned);
        let mut seen = std::collections::HashSet::new();
        events.retain(|(e, _)| !g.contains(&e.hash) && seen.insert(e.hash.clone()));
        let bytes = events
            .iter()
            .map(|(e, _)| serde_json::to_vec(e).map_err(|e| StoreError::Write(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut i = 0;
        let (committed, _) = view.ingest_regulated(
            segments,
            &bytes,
            &mut |seq| {
                let (e, who) = &events[i];
                i += 1;
                capture_draft(e, seq, who, from)
            },
            foodflow_protocol::time::now_ns(),
        )?;
        out.captured = events.len();
        out.committed = committed;
        for (e, _) in events {
            g.insert(e);
        }
        Ok(out)
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
