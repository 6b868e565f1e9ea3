//! The traceability index: every identifier an event names is a node; material flows along
//! edges — a transformation's inputs to its outputs, a child into its container (aggregation
//! or association, ADD/OBSERVE). Walks respect time: material only flows into something that
//! happened after it arrived, so a reused pallet does not link unrelated lots.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use crate::compact::{Interner, NONE, RefKind, Role, Stored, hash_bytes, hash_string};
use crate::epcis::{Action, Event, EventType};
use crate::ids::{self, IdKind};

/// A multiply-rotate hasher for the walks' node-id maps: node ids are small integers we made,
/// so SipHash's protection against chosen keys buys nothing there.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Debug, Clone, Copy)]
struct Edge {
    node: u32,
    event: u32,
    time_ns: i64,
}

/// Events and the flow index over them (one tenant's FoodGraph), compact enough for millions
/// of events (see [`crate::compact`]).
#[derive(Default)]
pub struct Graph {
    events: Vec<Stored>,
    by_hash: HashMap<[u8; 32], u32>,
    nodes: Interner,
    vocab: Interner,
    down: Vec<Vec<Edge>>,
    up: Vec<Vec<Edge>>,
    /// Events that name the node (object, class, parent, input or output).
    touches: Vec<Vec<u32>>,
    /// The shipping and receiving events among them: what a trace reports, kept apart so a
    /// walk does not load every observation of every lot it passes.
    moves: Vec<Vec<u32>>,
}

/// The walked part of an event, for filters that should not rebuild every event.
pub struct Meta<'a> {
    pub kind: EventType,
    pub time_ns: i64,
    pub biz_step: Option<&'a str>,
    /// Whether the event carries an `fsma:cte` extension.
    pub cte_ext: bool,
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
        self.nodes.len()
    }

    pub fn contains(&self, hash: &str) -> bool {
        hash_bytes(hash).is_some_and(|h| self.by_hash.contains_key(&h))
    }

    fn full(&self, ix: u32) -> Event {
        self.events[ix as usize].event(&self.nodes, &self.vocab)
    }

    fn time(&self, ix: u32) -> i64 {
        self.events[ix as usize].time_ns
    }

    fn step_is(&self, ix: u32, step: &str) -> bool {
        let b = self.events[ix as usize].biz_step;
        b != NONE && self.vocab.name(b) == step
    }

    fn name(&self, n: u32) -> &str {
        self.nodes.name(n)
    }

    /// Every event, rebuilt, in capture order.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        (0..self.events.len() as u32).map(|i| self.full(i))
    }

    /// The events whose walked part passes `keep`, rebuilt, in capture order.
    pub fn events_where<'a>(
        &'a self,
        keep: impl Fn(&Meta<'_>) -> bool + 'a,
    ) -> impl Iterator<Item = Event> + 'a {
        self.events.iter().enumerate().filter_map(move |(i, s)| {
            let meta = Meta {
                kind: s.kind,
                time_ns: s.time_ns,
                biz_step: (s.biz_step != NONE).then(|| self.vocab.name(s.biz_step)),
                cte_ext: s.cte_ext,
            };
            keep(&meta).then(|| self.full(i as u32))
        })
    }

    /// Adds an event; `false` if an identical event (same canonical hash) is already in, or
    /// its hash is not one of ours (events come from [`crate::epcis::parse_event`]).
    pub fn insert(&mut self, e: Event) -> bool {
        let Some(h) = hash_bytes(&e.hash) else {
            return false;
        };
        if self.by_hash.contains_key(&h) {
            return false;
        }
        let Some(stored) = Stored::new(&e, &mut self.nodes, &mut self.vocab) else {
            return false;
        };
        while self.down.len() < self.nodes.len() {
            self.down.push(Vec::new());
            self.up.push(Vec::new());
            self.touches.push(Vec::new());
            self.moves.push(Vec::new());
        }
        let ix = self.events.len() as u32;
        let t = stored.time_ns;
        let mut named: Vec<u32> = stored.objs.iter().map(|o| o.node).collect();
        named.sort_unstable();
        named.dedup();
        let step = stored.biz_step;
        let moving = step != NONE && matches!(self.vocab.name(step), "shipping" | "receiving");
        for &n in &named {
            self.touches[n as usize].push(ix);
            if moving {
                self.moves[n as usize].push(ix);
            }
        }
        let of = |roles: &[Role]| -> Vec<u32> {
            stored
                .objs
                .iter()
                .filter(|o| roles.contains(&o.role))
                .map(|o| o.node)
                .collect()
        };
        let mut links = Vec::new();
        match stored.kind {
            EventType::TransformationEvent => {
                let outputs = of(&[Role::OutputEpc, Role::OutputQuantity]);
                for i in of(&[Role::InputEpc, Role::InputQuantity]) {
                    links.extend(outputs.iter().map(|&o| (i, o)));
                }
            }
            EventType::AggregationEvent | EventType::AssociationEvent
                if stored.action != Some(Action::Delete) =>
            {
                if let Some(&parent) = of(&[Role::Parent]).first() {
                    links.extend(
                        of(&[Role::Epc, Role::Quantity])
                            .into_iter()
                            .map(|c| (c, parent)),
                    );
                }
            }
            _ => {}
        }
        for (a, b) in links {
            if a != b {
                self.down[a as usize].push(Edge {
                    node: b,
                    event: ix,
                    time_ns: t,
                });
                self.up[b as usize].push(Edge {
                    node: a,
                    event: ix,
                    time_ns: t,
                });
            }
        }
        self.by_hash.insert(h, ix);
        self.events.push(stored);
        true
    }

    fn node(&self, id: &str) -> Result<u32, QueryError> {
        self.nodes
            .get(id)
            .ok_or_else(|| QueryError::Unknown(id.to_owned()))
    }

    /// Forward (where did it go) or backward (what went into it) from `start`.
    pub fn trace(&self, start: &str, q: &TraceQuery) -> Result<Trace, QueryError> {
        self.trace_many(&[start], q).map(|mut t| {
            t.start = start.to_owned();
            t
        })
    }

    /// The nodes a walk reaches: node → (time bound, depth, via event, from node). Forward the
    /// bound is the earliest time material reached the node; backward, the latest time it can
    /// have left it. A better bound re-opens the node.
    #[allow(clippy::type_complexity)]
    fn walk(
        &self,
        starts: &[u32],
        q: &TraceQuery,
    ) -> (IdMap<(i64, u32, Option<(u32, u32)>)>, Vec<u32>, bool) {
        let fwd = q.direction == Direction::Forward;
        let mut bound: IdMap<(i64, u32, Option<(u32, u32)>)> = IdMap::default();
        let mut order = Vec::new();
        let mut queue = VecDeque::new();
        for &n in starts {
            let b = if fwd { q.from_ns } else { q.to_ns };
            if bound.insert(n, (b, 0, None)).is_none() {
                order.push(n);
            }
            queue.push_back(n);
        }
        let mut truncated = false;
        while let Some(n) = queue.pop_front() {
            let (b, depth, _) = bound[&n];
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
                    None => {
                        order.push(e.node);
                        true
                    }
                    Some(&(old, _, _)) => {
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
                bound.insert(e.node, (e.time_ns, depth + 1, Some((e.event, n))));
                queue.push_back(e.node);
            }
        }
        (bound, order, truncated)
    }

    /// Every flow edge as (from node, to node, time), for exports (the benchmark loads the
    /// same edges into PostgreSQL).
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32, i64)> + '_ {
        self.down
            .iter()
            .enumerate()
            .flat_map(|(a, es)| es.iter().map(move |e| (a as u32, e.node, e.time_ns)))
    }

    /// The identifier of a node id (see [`Graph::edges`]).
    pub fn node_name(&self, n: u32) -> Option<&str> {
        ((n as usize) < self.nodes.len()).then(|| self.nodes.name(n))
    }

    /// The node id of an identifier (see [`Graph::edges`]).
    pub fn node_id(&self, id: &str) -> Option<u32> {
        self.nodes.get(id)
    }

    /// How many nodes a walk reaches (the bench compares this with PostgreSQL's answer).
    pub fn reach_count(&self, start: &str, q: &TraceQuery) -> Result<usize, QueryError> {
        Ok(self.walk(&[self.node(start)?], q).1.len())
    }

    /// One walk from several starts (a recall of several lots).
    pub fn trace_many(&self, starts: &[&str], q: &TraceQuery) -> Result<Trace, QueryError> {
        let fwd = q.direction == Direction::Forward;
        let ids = starts
            .iter()
            .map(|s| self.node(s))
            .collect::<Result<Vec<_>, _>>()?;
        let (bound, order, truncated) = self.walk(&ids, q);
        let mut reached: Vec<TracedNode> = order
            .iter()
            .map(|n| {
                let (t, depth, via) = bound[n];
                match via {
                    None => self.traced(*n, 0, None, None, None),
                    Some((ev, from)) => self.traced(*n, depth, Some(t), Some(ev), Some(from)),
                }
            })
            .collect();
        // Movements of every reached node inside the time bounds. A container leaves with its
        // first shipment after the material arrived: later shipments of the same (reused)
        // pallet carry other goods.
        let step = if fwd { "shipping" } else { "receiving" };
        let step_id = self.vocab.get(step);
        let mut movements = Vec::new();
        for &n in &order {
            if self.moves[n as usize].is_empty() {
                continue;
            }
            let mut moved = false;
            let b = bound[&n].0;
            let container = ids::parse(self.name(n)).kind == IdKind::Container;
            let mut evs: Vec<u32> = self.moves[n as usize]
                .iter()
                .copied()
                .filter(|&ev| step_id.is_some_and(|id| self.events[ev as usize].biz_step == id))
                .collect();
            evs.sort_by_key(|&ev| self.time(ev));
            if !fwd {
                evs.reverse();
            }
            for ev in evs {
                let t = self.time(ev);
                let in_time = if fwd { t >= b } else { t <= b };
                if !in_time || t < q.from_ns || t > q.to_ns {
                    continue;
                }
                if container && moved {
                    break;
                }
                moved = true;
                let stored = &self.events[ev as usize];
                let want = if fwd {
                    RefKind::Destination
                } else {
                    RefKind::Source
                };
                let (mut parties, mut locations, mut documents) =
                    (Vec::new(), Vec::new(), Vec::new());
                for (which, kind, id) in stored.ref_ids(&self.vocab) {
                    if which == RefKind::Transaction {
                        documents.push(id.to_owned());
                    } else if which == want && kind.ends_with("party") {
                        parties.push(id.to_owned());
                    } else if which == want && kind == "location" {
                        locations.push(id.to_owned());
                    }
                }
                movements.push(Movement {
                    time_ns: t,
                    object: self.name(n).to_owned(),
                    amount: self.amount(ev, n),
                    parties,
                    locations,
                    documents,
                    event: hash_string(&stored.hash),
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
        let id = self.name(n);
        let p = ids::parse(id);
        TracedNode {
            id: id.to_owned(),
            kind: p.kind,
            product: p.product,
            lot: p.lot,
            depth,
            at_ns: at,
            amount: via.and_then(|v| self.amount(v, n)),
            via_event: via.map(|v| hash_string(&self.events[v as usize].hash)),
            from: from.map(|f| self.name(f).to_owned()),
        }
    }

    fn amount(&self, ev: u32, n: u32) -> Option<Amount> {
        self.events[ev as usize]
            .amount_of(n, &self.vocab)
            .map(|(quantity, uom)| Amount { quantity, uom })
    }

    /// Events naming `id`, oldest first.
    pub fn events_of(&self, id: &str) -> Result<Vec<Event>, QueryError> {
        let n = self.node(id)?;
        let mut v: Vec<u32> = self.touches[n as usize].clone();
        v.sort_by_key(|&i| self.time(i));
        Ok(v.into_iter().map(|i| self.full(i)).collect())
    }

    /// Lots received from a supplier (sources of receiving events).
    pub fn received_from(&self, party: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .events_where(|m| m.biz_step == Some("receiving"))
            .filter(|e| e.sources.iter().any(|s| s.id == party))
            .flat_map(|e| {
                e.epcs
                    .into_iter()
                    .chain(e.quantities.into_iter().map(|q| q.epc_class))
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
        let Some(n) = self.nodes.get(container) else {
            return Vec::new();
        };
        let previous_shipment = self.moves[n as usize]
            .iter()
            .filter(|&&i| self.step_is(i, "shipping") && self.time(i) < event_ns)
            .map(|&i| self.time(i))
            .max()
            .unwrap_or(i64::MIN);
        let mut out: Vec<(String, Option<Amount>)> = self.up[n as usize]
            .iter()
            .filter(|e| e.time_ns <= event_ns && e.time_ns > previous_shipment)
            .filter(|e| self.events[e.event as usize].kind != EventType::TransformationEvent)
            .map(|e| {
                let name = self.name(e.node);
                (name.to_owned(), amount(&self.full(e.event), name))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Whether a container holding `id` (directly or nested, up to 4 levels) is among `shipped`.
    pub(crate) fn containers_shipped(&self, id: &str, shipped: &HashSet<&str>) -> bool {
        let Some(start) = self.nodes.get(id) else {
            return false;
        };
        let mut frontier = vec![start];
        for _ in 0..4 {
            let mut next = Vec::new();
            for n in frontier {
                for e in &self.down[n as usize] {
                    let name = self.name(e.node);
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

    pub(crate) fn up_edges(&self, id: &str) -> Vec<(String, Event)> {
        match self.nodes.get(id) {
            Some(n) => self.up[n as usize]
                .iter()
                .map(|e| (self.name(e.node).to_owned(), self.full(e.event)))
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
