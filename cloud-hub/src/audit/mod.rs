//! The audit trail: [`chain`] is the pure hash chain and Merkle proofs; this module verifies a
//! tenant's stored log and cross-checks the regulated records it covers.

pub mod chain;

use foodflow_foodgraph::Event;
use serde::Serialize;

use crate::store::{StoreError, TenantStore};
use chain::{Broken, Entry};

/// The result of verifying one tenant's audit trail.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub ok: bool,
    pub entries: u64,
    pub epcis_events: u64,
    /// Merkle root over the entry hashes (when every entry is readable).
    pub root: Option<String>,
    /// The first audit entry that is unreadable, altered, missing or mislinked.
    pub first_bad_entry: Option<Broken>,
    /// The first regulated record whose content does not match what the trail recorded.
    pub first_bad_record: Option<BadRecord>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BadRecord {
    pub kind: &'static str,
    pub seq: u64,
    pub reason: String,
}

/// All audit entries of the tenant; an unreadable one ends the list with its seq and reason.
pub fn entries(view: &dyn TenantStore) -> Result<(Vec<Entry>, Option<Broken>), StoreError> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = view.audit_raw(from, 10_000)?;
        let Some(last) = page.last().map(|(s, _)| *s) else {
            break;
        };
        for (seq, bytes) in page {
            match serde_json::from_slice::<Entry>(&bytes) {
                Ok(e) if e.seq == seq => out.push(e),
                Ok(e) => {
                    return Ok((
                        out,
                        Some(Broken {
                            seq,
                            reason: format!("stored under seq {seq} but says seq {}", e.seq),
                        }),
                    ));
                }
                Err(e) => {
                    return Ok((
                        out,
                        Some(Broken {
                            seq,
                            reason: format!("unreadable ({e}): the stored bytes were altered"),
                        }),
                    ));
                }
            }
        }
        from = last + 1;
    }
    Ok((out, None))
}

/// Verifies the chain, computes the Merkle root, and checks every stored EPCIS event against
/// the hash its capture entry recorded.
pub fn verify(view: &dyn TenantStore) -> Result<Report, StoreError> {
    let (entries, unreadable) = entries(view)?;
    let mut first_bad_entry = chain::verify(&entries).err().or(unreadable);
    let hashes: Vec<String> = entries.iter().map(|e| e.hash.clone()).collect();
    let root = if first_bad_entry.is_none() {
        chain::merkle_root(&hashes)
    } else {
        None
    };
    // What the trail says each captured event's hash is.
    let mut audited: std::collections::HashMap<u64, &str> = std::collections::HashMap::new();
    for e in &entries {
        if e.draft.action == "epcis.capture"
            && let Some(seq) = e.draft.after.as_ref().and_then(|a| a["epcis_seq"].as_u64())
        {
            audited.insert(seq, e.draft.object.as_str());
        }
    }
    let mut first_bad_record = None;
    let mut events = 0u64;
    let mut from = 1;
    'pages: loop {
        let page = view.epcis_raw(from, 10_000)?;
        let Some(last) = page.last().map(|(s, _)| *s) else {
            break;
        };
        for (seq, bytes) in page {
            events += 1;
            let problem = match serde_json::from_slice::<Event>(&bytes) {
                Err(e) => Some(format!("unreadable ({e})")),
                Ok(ev) => {
                    let recomputed = foodflow_foodgraph::epcis::canonical_hash(&ev);
                    match audited.get(&seq) {
                        None => Some("no audit entry records its capture".to_owned()),
                        Some(h) if *h != recomputed => Some(format!(
                            "its content hashes to {recomputed}, the trail recorded {h}: the \
                             stored event was altered"
                        )),
                        Some(_) => None,
                    }
                }
            };
            if let Some(reason) = problem {
                first_bad_record = Some(BadRecord {
                    kind: "epcis_event",
                    seq,
                    reason,
                });
                break 'pages;
            }
        }
        from = last + 1;
    }
    if first_bad_entry.is_none() && entries.is_empty() && events > 0 {
        first_bad_entry = Some(Broken {
            seq: 0,
            reason: "the trail is empty but regulated records exist".into(),
        });
    }
    Ok(Report {
        ok: first_bad_entry.is_none() && first_bad_record.is_none(),
        entries: entries.len() as u64,
        epcis_events: events,
        root,
        first_bad_entry,
        first_bad_record,
    })
}
