//! The traceability index: every identifier an event names is a node; material flows along
//! edges — a transformation's inputs to its outputs, a child into its container (aggregation
//! or association, ADD/OBSERVE). Walks respect time: material only flows into something that
//! happened after it arrived, so a reused pallet does not link unrelated lots.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use crate::epcis::{Action, Event, EventType};
use crate::ids::{self, IdKind};

#[derive(Debug, Clone, Copy)]
struct Edge {
    node: u32,
    event: u32,
    time_ns: i64,
}

/// Events and the flow index over them (one tenant's FoodGraph).
#[derive(Default)]
pub struct Graph {
    events: Vec<Event>,
    by_hash: HashMap<String, u32>,
    names: Vec<String>,
    node_of: HashMap<String, u32>,
    down: Vec<Vec<Edge>>,
    up: Vec<Vec<Edge>>,
    /// Events that name the node (object, class, parent, input or output).
    touches: Vec<Vec<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Forward,
    Backward,
}

#[derive(Debug, Clone)]
pub struct TraceQuery {
    pub direction: Direction,
    /// Edges followed at most (a transformation or a packing step is one hop).
    pub max_depth: u32,
    pub from_ns: i64,
    pub to_ns: i64,
}

impl Default for TraceQuery {
    fn default() -> Self {
        Self {
            direction: Direction::Forward,
            max_depth: 10,
            from_ns: i64::MIN,
            to_ns: i64::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Amount {
    pub quantity: f64,
    pub uom: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracedNode {
    pub id: String,
    pub kind: IdKind,
    pub product: Option<String>,
    pub lot: Option<String>,
    /// Hops from the start.
    pub depth: u32,
    /// When material reached it (forward) or left it (backward), UTC ns; none for the start.
    pub at_ns: Option<i64>,
    /// The event of the hop that reached it, and the node it came from.
    pub via_event: Option<String>,
    pub from: Option<String>,
    /// The quantity that event states for it.
    pub amount: Option<Amount>,
}

/// A shipping (forward) or receiving (backward) event of a traced node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Movement {
    pub event: String,
    pub time_ns: i64,
    pub object: String,
    pub amount: Option<Amount>,
    /// Destinations (forward) or sources (backward): owning parties and locations.
    pub parties: Vec<String>,
    pub locations: Vec<String>,
    pub documents: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub start: String,
    pub direction: Direction,
    pub nodes: Vec<TracedNode>,
    /// Forward: shipments; backward: receipts.
    pub movements: Vec<Movement>,
    /// Forward: customers (destination owning parties); backward: suppliers.
    pub parties: Vec<String>,
    /// Whether `max_depth` cut the walk short.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    #[error("no event names {0:?} (check the identifier: an EPC URN or GS1 Digital Link)")]
    Unknown(String),
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    pub fn node_count(&self) -> usize {
        self.names.len()
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn contains(&self, hash: &str) -> bool {
        self.by_hash.contains_key(hash)
    }

    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.node_of.get(id) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(id.to_owned());
        self.node_of.insert(id.to_owned(), n);
        self.down.push(Vec::new());
        self.up.push(Vec::new());
        self.touches.push(Vec::new());
        n
    }

    /// Adds an event; `false` if an identical event (same canonical hash) is already in.
    pub fn insert(&mut self, e: Event) -> bool {
        if self.by_hash.contains_key(&e.hash) {
            return false;
        }
        let ix = self.events.len() as u32;
        let t = e.time_ns;
        let mut named: Vec<u32> = e
            .objects()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .iter()
            .map(|s| self.intern(s))
            .collect();
        named.sort_unstable();
        named.dedup();
        for &n in &named {
            self.touches[n as usize].push(ix);
        }
        let link = |g: &mut Self, from: &str, to: &str| {
            let (a, b) = (g.intern(from), g.intern(to));
            if a != b {
                g.down[a as usize].push(Edge {
                    node: b,
                    event: ix,
                    time_ns: t,
                });
                g.up[b as usize].push(Edge {
                    node: a,
                    event: ix,
                    time_ns: t,
                });
            }
        };
        match e.kind {
            EventType::TransformationEvent => {
                let inputs: Vec<&str> = e
                    .input_epcs
                    .iter()
                    .map(String::as_str)
                    .chain(e.input_quantities.iter().map(|q| q.epc_class.as_str()))
                    .collect();
                let outputs: Vec<&str> = e
                    .output_epcs
                    .iter()
                    .map(String::as_str)
                    .chain(e.output_quantities.iter().map(|q| q.epc_class.as_str()))
                    .collect();
                for i in &inputs {
                    for o in &outputs {
                        link(self, i, o);
                    }
                }
            }
            EventType::AggregationEvent | EventType::AssociationEvent
                if e.action != Some(Action::Delete) =>
            {
                if let Some(parent) = &e.parent_id {
                    for c in e
                        .epcs
                        .iter()
                        .chain(e.quantities.iter().map(|q| &q.epc_class))
                    {
                        link(self, c, parent);
                    }
                }
            }
            _ => {}
        }
        self.by_hash.insert(e.hash.clone(), ix);
        self.events.push(e);
        true
    }

    fn node(&self, id: &str) -> Result<u32, QueryError> {
        self.node_of
            .get(id)
            .copied()
            .ok_or_else(|| QueryError::Unknown(id.to_owned()))
    }

    /// Forward (where did it go) or backward (what went into it) from `start`.
    pub fn trace(&self, start: &str, q: &TraceQuery) -> Result<Trace, QueryError> {
        self.trace_many(&[start], q).map(|mut t| {
            t.start = start.to_owned();
            t
        })
    }

    /// One walk from several starts (a recall of several lots).
    pub fn trace_many(&self, starts: &[&str], q: &TraceQuery) -> Result<Trace, QueryError> {
        let fwd = q.direction == Direction::Forward;
        // Forward: the earliest time material reached a node; backward: the latest time it
        // can have left it. A better bound re-opens the node.
        let mut bound: HashMap<u32, (i64, u32)> = HashMap::new();
        let mut reached: Vec<TracedNode> = Vec::new();
        let mut slot: HashMap<u32, usize> = HashMap::new();
        let mut queue = VecDeque::new();
        for s in starts {
            let n = self.node(s)?;
            let b = if fwd { q.from_ns } else { q.to_ns };
            if bound.insert(n, (b, 0)).is_none() {
                slot.insert(n, reached.len());
                reached.push(self.traced(n, 0, None, None, None));
            }
            queue.push_back(n);
        }
        let mut truncated = false;
        while let Some(n) = queue.pop_front() {
            let (b, depth) = bound[&n];
            let edges = if fwd {
                &self.down[n as usize]
            } else {
                &self.up[n as usize]
            };
            for e in edges {
                let in_time = if fwd { e.time_ns >= b } else { e.time_ns <= b };
                if !in_time || e.time_ns < q.from_ns || e.time_ns > q.to_ns {
                    continue;
                }
                if depth >= q.max_depth {
                    truncated = true;
                    continue;
                }
                let better = match bound.get(&e.node) {
                    None => true,
                    Some(&(old, _)) => {
                        if fwd {
                            e.time_ns < old
                        } else {
                            e.time_ns > old
                        }
                    }
                };
                if !better {
                    continue;
                }
                bound.insert(e.node, (e.time_ns, depth + 1));
                let t = self.traced(e.node, depth + 1, Some(e.time_ns), Some(e.event), Some(n));
                match slot.get(&e.node) {
                    Some(&i) => reached[i] = t,
                    None => {
                        slot.insert(e.node, reached.len());
                        reached.push(t);
                    }
                }
                queue.push_back(e.node);
            }
        }
        // Movements of every reached node inside the time bounds. A container leaves with its
        // first shipment after the material arrived: later shipments of the same (reused)
        // pallet carry other goods.
        let step = if fwd { "shipping" } else { "receiving" };
        let mut movements = Vec::new();
        let mut seen = HashSet::new();
        for (&n, &(b, _)) in &bound {
            let container = ids::parse(&self.names[n as usize]).kind == IdKind::Container;
            let mut evs: Vec<u32> = self.touches[n as usize].clone();
            evs.sort_by_key(|&ev| self.events[ev as usize].time_ns);
            if !fwd {
                evs.reverse();
            }
            for ev in evs {
                let e = &self.events[ev as usize];
                let in_time = if fwd { e.time_ns >= b } else { e.time_ns <= b };
                if e.biz_step.as_deref() != Some(step)
                    || !in_time
                    || e.time_ns < q.from_ns
                    || e.time_ns > q.to_ns
                {
                    continue;
                }
                if container && seen.iter().any(|&(_, m)| m == n) {
                    break;
                }
                if !seen.insert((ev, n)) {
                    continue;
                }
                let refs = if fwd { &e.destinations } else { &e.sources };
                movements.push(Movement {
                    event: e.hash.clone(),
                    time_ns: e.time_ns,
                    object: self.names[n as usize].clone(),
                    amount: amount(e, &self.names[n as usize]),
                    parties: refs
                        .iter()
                        .filter(|r| r.kind.ends_with("party"))
                        .map(|r| r.id.clone())
                        .collect(),
                    locations: refs
                        .iter()
                        .filter(|r| r.kind == "location")
                        .map(|r| r.id.clone())
                        .collect(),
                    documents: e.biz_transactions.iter().map(|r| r.id.clone()).collect(),
                });
            }
        }
        movements.sort_by(|a, b| {
            (a.time_ns, &a.object, &a.event).cmp(&(b.time_ns, &b.object, &b.event))
        });
        let mut parties: Vec<String> = movements
            .iter()
            .flat_map(|m| m.parties.iter().cloned())
            .collect();
        parties.sort();
        parties.dedup();
        reached.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        Ok(Trace {
            start: starts.join(","),
            direction: q.direction,
            nodes: reached,
            movements,
            parties,
            truncated,
        })
    }

    fn traced(
        &self,
        n: u32,
        depth: u32,
        at: Option<i64>,
        via: Option<u32>,
        from: Option<u32>,
    ) -> TracedNode {
        let id = &self.names[n as usize];
        let p = ids::parse(id);
        let via_event = via.map(|v| &self.events[v as usize]);
        TracedNode {
            id: id.clone(),
            kind: p.kind,
            product: p.product,
            lot: p.lot,
            depth,
            at_ns: at,
            via_event: via_event.map(|e| e.hash.clone()),
            from: from.map(|f| self.names[f as usize].clone()),
            amount: via_event.and_then(|e| amount(e, id)),
        }
    }

    /// Events naming `id`, oldest first.
    pub fn events_of(&self, id: &str) -> Result<Vec<&Event>, QueryError> {
        let n = self.node(id)?;
        let mut v: Vec<&Event> = self.touches[n as usize]
            .iter()
            .map(|&i| &self.events[i as usize])
            .collect();
        v.sort_by_key(|e| e.time_ns);
        Ok(v)
    }

    /// Lots received from a supplier (sources of receiving events).
    pub fn received_from(&self, party: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .events
            .iter()
            .filter(|e| {
                e.biz_step.as_deref() == Some("receiving")
                    && e.sources.iter().any(|s| s.id == party)
            })
            .flat_map(|e| {
                e.epcs
                    .iter()
                    .cloned()
                    .chain(e.quantities.iter().map(|q| q.epc_class.clone()))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// What `container` held when `event_ns` happened: lots packed into it (aggregation or
    /// association) at or before then and after its previous shipment, with the amount the
    /// packing event states.
    pub fn contents_at(&self, container: &str, event_ns: i64) -> Vec<(String, Option<Amount>)> {
        let Some(&n) = self.node_of.get(container) else {
            return Vec::new();
        };
        let previous_shipment = self.touches[n as usize]
            .iter()
            .map(|&i| &self.events[i as usize])
            .filter(|e| e.biz_step.as_deref() == Some("shipping") && e.time_ns < event_ns)
            .map(|e| e.time_ns)
            .max()
            .unwrap_or(i64::MIN);
        let mut out: Vec<(String, Option<Amount>)> = self.up[n as usize]
            .iter()
            .filter(|e| e.time_ns <= event_ns && e.time_ns > previous_shipment)
            .filter(|e| self.events[e.event as usize].kind != EventType::TransformationEvent)
            .map(|e| {
                let name = &self.names[e.node as usize];
                (name.clone(), amount(&self.events[e.event as usize], name))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Whether a container holding `id` (directly or nested, up to 4 levels) is among `shipped`.
    pub(crate) fn containers_shipped(&self, id: &str, shipped: &HashSet<&str>) -> bool {
        let Some(&start) = self.node_of.get(id) else {
            return false;
        };
        let mut frontier = vec![start];
        for _ in 0..4 {
            let mut next = Vec::new();
            for n in frontier {
                for e in &self.down[n as usize] {
                    let name = self.names[e.node as usize].as_str();
                    if ids::parse(name).kind == IdKind::Container
                        && self.events[e.event as usize].kind != EventType::TransformationEvent
                    {
                        if shipped.contains(name) {
                            return true;
                        }
                        next.push(e.node);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        false
    }

    pub(crate) fn input_share(&self, event: &Event, input: &str) -> f64 {
        let total: f64 = event
            .input_quantities
            .iter()
            .filter_map(|q| q.quantity)
            .sum();
        match (event.quantity_of(input), total > 0.0) {
            (Some((q, _)), true) => q / total,
            _ => 1.0,
        }
    }

    pub(crate) fn up_edges(&self, id: &str) -> Vec<(String, &Event)> {
        match self.node_of.get(id) {
            Some(&n) => self.up[n as usize]
                .iter()
                .map(|e| {
                    (
                        self.names[e.node as usize].clone(),
                        &self.events[e.event as usize],
                    )
                })
                .collect(),
            None => Vec::new(),
        }
    }
}

fn amount(e: &Event, id: &str) -> Option<Amount> {
    e.quantity_of(id).map(|(quantity, uom)| Amount {
        quantity,
        uom: uom.map(str::to_owned),
    })
}
