//! Events kept compactly for graphs of millions: identifiers become node ids, vocabulary and
//! parties become interned ids, the rest is a small postcard blob. Walks read only the fixed
//! part (time, kind, step); a full [`Event`] is rebuilt for the events a result shows.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::epcis::{Action, Event, EventType, Quantity, TypedRef};

pub const NONE: u32 = u32::MAX;

/// Strings interned to u32 (identifiers, vocabulary, parties).
#[derive(Default)]
pub struct Interner {
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.ids.get(s) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), n);
        n
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn name(&self, n: u32) -> &str {
        &self.names[n as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn opt(&mut self, s: &Option<String>) -> u32 {
        s.as_deref().map_or(NONE, |s| self.intern(s))
    }

    fn back(&self, n: u32) -> Option<String> {
        (n != NONE).then(|| self.name(n).to_owned())
    }
}

/// The role of an object in its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Epc,
    Quantity,
    Parent,
    InputEpc,
    InputQuantity,
    OutputEpc,
    OutputQuantity,
}

#[derive(Debug, Clone, Copy)]
pub struct Obj {
    pub quantity: f64,
    pub node: u32,
    pub uom: u32,
    pub role: Role,
}

/// What is not walked: rebuilt into the event on demand.
#[derive(Serialize, Deserialize)]
struct Rest {
    event_id: Option<String>,
    tz: u32,
    disposition: u32,
    read_point: u32,
    biz_location: u32,
    transformation_id: Option<String>,
    ilmd: String,
    extensions: String,
}

impl Default for Rest {
    fn default() -> Self {
        Self {
            event_id: None,
            tz: NONE,
            disposition: NONE,
            read_point: NONE,
            biz_location: NONE,
            transformation_id: None,
            ilmd: String::new(),
            extensions: String::new(),
        }
    }
}

pub struct Stored {
    pub time_ns: i64,
    pub hash: [u8; 32],
    pub kind: EventType,
    pub action: Option<Action>,
    /// Vocabulary id of the bizStep (or [`NONE`]).
    pub biz_step: u32,
    /// Whether the event carries an `fsma:cte` extension.
    pub cte_ext: bool,
    pub objs: Box<[Obj]>,
    /// Sources, destinations and business transactions, interned: (which, type, id).
    refs: Box<[(RefKind, u32, u32)]>,
    rest: Box<[u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RefKind {
    Source,
    Destination,
    Transaction,
}

const PREFIX: &str = "ni:///sha-256;";
const SUFFIX: &str = "?ver=foodflow-1";

pub fn hash_bytes(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn hash_string(b: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(PREFIX.len() + 64 + SUFFIX.len());
    s.push_str(PREFIX);
    for x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s.push_str(SUFFIX);
    s
}

fn json_map(m: &BTreeMap<String, serde_json::Value>) -> String {
    if m.is_empty() {
        String::new()
    } else {
        serde_json::to_string(m).unwrap_or_default()
    }
}

fn map_json(s: &str) -> BTreeMap<String, serde_json::Value> {
    if s.is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(s).unwrap_or_default()
    }
}

impl Stored {
    /// Compacts `e`: its objects are interned as nodes, strings as vocabulary.
    pub fn new(e: &Event, nodes: &mut Interner, vocab: &mut Interner) -> Option<Self> {
        let hash = hash_bytes(&e.hash)?;
        let mut objs = Vec::new();
        let mut push = |nodes: &mut Interner,
                        vocab: &mut Interner,
                        id: &str,
                        role: Role,
                        q: Option<&Quantity>| {
            objs.push(Obj {
                quantity: q.and_then(|q| q.quantity).unwrap_or(f64::NAN),
                node: nodes.intern(id),
                uom: q.map_or(NONE, |q| vocab.opt(&q.uom)),
                role,
            });
        };
        for x in &e.epcs {
            push(nodes, vocab, x, Role::Epc, None);
        }
        for q in &e.quantities {
            push(nodes, vocab, &q.epc_class, Role::Quantity, Some(q));
        }
        if let Some(p) = &e.parent_id {
            push(nodes, vocab, p, Role::Parent, None);
        }
        for x in &e.input_epcs {
            push(nodes, vocab, x, Role::InputEpc, None);
        }
        for q in &e.input_quantities {
            push(nodes, vocab, &q.epc_class, Role::InputQuantity, Some(q));
        }
        for x in &e.output_epcs {
            push(nodes, vocab, x, Role::OutputEpc, None);
        }
        for q in &e.output_quantities {
            push(nodes, vocab, &q.epc_class, Role::OutputQuantity, Some(q));
        }
        let mut all_refs = Vec::new();
        for (which, list) in [
            (RefKind::Source, &e.sources),
            (RefKind::Destination, &e.destinations),
            (RefKind::Transaction, &e.biz_transactions),
        ] {
            for r in list {
                all_refs.push((which, vocab.intern(&r.kind), vocab.intern(&r.id)));
            }
        }
        let rest = Rest {
            event_id: e.event_id.clone(),
            tz: vocab.intern(&e.time_zone_offset),
            disposition: vocab.opt(&e.disposition),
            read_point: vocab.opt(&e.read_point),
            biz_location: vocab.opt(&e.biz_location),
            transformation_id: e.transformation_id.clone(),
            ilmd: json_map(&e.ilmd),
            extensions: json_map(&e.extensions),
        };
        Some(Self {
            time_ns: e.time_ns,
            hash,
            kind: e.kind,
            action: e.action,
            biz_step: vocab.opt(&e.biz_step),
            cte_ext: e.extensions.contains_key("fsma:cte"),
            objs: objs.into_boxed_slice(),
            refs: all_refs.into_boxed_slice(),
            rest: postcard::to_allocvec(&rest).ok()?.into_boxed_slice(),
        })
    }

    /// The quantity this event states for `node`, without rebuilding the event.
    pub fn amount_of(&self, node: u32, vocab: &Interner) -> Option<(f64, Option<String>)> {
        self.objs
            .iter()
            .find(|o| o.node == node && !o.quantity.is_nan())
            .map(|o| (o.quantity, vocab.back(o.uom)))
    }

    fn refs_of(&self, which: RefKind, vocab: &Interner) -> Vec<TypedRef> {
        self.refs
            .iter()
            .filter(|r| r.0 == which)
            .map(|&(_, k, id)| TypedRef {
                kind: vocab.name(k).to_owned(),
                id: vocab.name(id).to_owned(),
            })
            .collect()
    }

    /// Sources, destinations and business transactions as (which, type, id), borrowed from
    /// the vocabulary: nothing is rebuilt or allocated.
    pub fn ref_ids<'a>(
        &'a self,
        vocab: &'a Interner,
    ) -> impl Iterator<Item = (RefKind, &'a str, &'a str)> + 'a {
        self.refs
            .iter()
            .map(|&(w, k, id)| (w, vocab.name(k), vocab.name(id)))
    }

    /// Rebuilds the full event.
    pub fn event(&self, nodes: &Interner, vocab: &Interner) -> Event {
        let rest: Option<Rest> = postcard::from_bytes(&self.rest).ok();
        let quantity = |o: &Obj| Quantity {
            epc_class: nodes.name(o.node).to_owned(),
            quantity: (!o.quantity.is_nan()).then_some(o.quantity),
            uom: vocab.back(o.uom),
        };
        let pick = |role: Role| self.objs.iter().filter(move |o| o.role == role);
        let ids = |role: Role| {
            pick(role)
                .map(|o| nodes.name(o.node).to_owned())
                .collect::<Vec<_>>()
        };
        let qs = |role: Role| pick(role).map(quantity).collect::<Vec<_>>();
        // Our own bytes: unreadable only if memory was corrupted; show what the index holds.
        let rest = rest.unwrap_or_default();
        Event {
            kind: self.kind,
            hash: hash_string(&self.hash),
            event_id: rest.event_id,
            time_ns: self.time_ns,
            time_zone_offset: vocab.back(rest.tz).unwrap_or_default(),
            action: self.action,
            biz_step: vocab.back(self.biz_step),
            disposition: vocab.back(rest.disposition),
            read_point: vocab.back(rest.read_point),
            biz_location: vocab.back(rest.biz_location),
            parent_id: pick(Role::Parent)
                .next()
                .map(|o| nodes.name(o.node).to_owned()),
            epcs: ids(Role::Epc),
            quantities: qs(Role::Quantity),
            input_epcs: ids(Role::InputEpc),
            input_quantities: qs(Role::InputQuantity),
            output_epcs: ids(Role::OutputEpc),
            output_quantities: qs(Role::OutputQuantity),
            transformation_id: rest.transformation_id,
            biz_transactions: self.refs_of(RefKind::Transaction, vocab),
            sources: self.refs_of(RefKind::Source, vocab),
            destinations: self.refs_of(RefKind::Destination, vocab),
            ilmd: map_json(&rest.ilmd),
            extensions: map_json(&rest.extensions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_rebuild_exactly() {
        let events =
            crate::parse_capture(include_bytes!("../tests/data/pasta-plant.json"), 100).unwrap();
        let (mut nodes, mut vocab) = (Interner::default(), Interner::default());
        for e in events {
            let s = Stored::new(&e, &mut nodes, &mut vocab).unwrap();
            assert_eq!(s.event(&nodes, &vocab), e);
        }
        assert!(hash_bytes("ni:///sha-256;00?ver=foodflow-1").is_none());
    }
}
