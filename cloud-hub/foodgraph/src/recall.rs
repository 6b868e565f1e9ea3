//! Recall simulation: everything downstream of the suspect lots — affected lots and products,
//! shipments and customers with quantities, and which affected lots are still in the plant.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::{Amount, Direction, Graph, Movement, QueryError, TraceQuery};
use crate::ids::IdKind;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AffectedLot {
    pub id: String,
    pub product: Option<String>,
    pub lot: Option<String>,
    pub depth: u32,
    /// The quantity stated where the lot was made (or for a start lot, its first event).
    pub amount: Option<Amount>,
    /// Whether it (or a container holding it) left on a shipment.
    pub shipped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShippedTotal {
    pub product: Option<String>,
    pub uom: Option<String>,
    pub quantity: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recall {
    pub starts: Vec<String>,
    pub affected_lots: Vec<AffectedLot>,
    pub products: Vec<String>,
    pub shipments: Vec<Movement>,
    pub customers: Vec<String>,
    pub shipped_totals: Vec<ShippedTotal>,
    /// Affected lots not (yet) shipped: hold them.
    pub in_plant: Vec<String>,
    pub truncated: bool,
}

pub fn simulate(g: &Graph, starts: &[&str], q: &TraceQuery) -> Result<Recall, QueryError> {
    let q = TraceQuery {
        direction: Direction::Forward,
        ..q.clone()
    };
    let t = g.trace_many(starts, &q)?;
    let shipped_objects: std::collections::HashSet<&str> =
        t.movements.iter().map(|m| m.object.as_str()).collect();
    // Which traced node came from which: a lot is shipped if it, or a container reached from
    // it through packing hops, is the object of a shipment.
    let parent: BTreeMap<&str, &str> = t
        .nodes
        .iter()
        .filter_map(|n| n.from.as_deref().map(|f| (n.id.as_str(), f)))
        .collect();
    let mut shipped_lots = std::collections::HashSet::new();
    for obj in &shipped_objects {
        let mut cur = *obj;
        shipped_lots.insert(cur);
        // Walk back through containers to the lot they carry.
        while crate::ids::parse(cur).kind == IdKind::Container {
            match parent.get(cur) {
                Some(p) => {
                    cur = p;
                    shipped_lots.insert(cur);
                }
                None => break,
            }
        }
    }
    // Containers holding several lots: every lot packed into a shipped container is shipped.
    for n in &t.nodes {
        if crate::ids::parse(&n.id).kind != IdKind::Container
            && g.containers_shipped(&n.id, &shipped_objects)
        {
            shipped_lots.insert(n.id.as_str());
        }
    }
    let mut affected = Vec::new();
    for n in &t.nodes {
        if !matches!(
            n.kind,
            IdKind::Lot | IdKind::Item | IdKind::Product | IdKind::Other
        ) {
            continue;
        }
        let amount = n.amount.clone().or_else(|| {
            g.events_of(&n.id).ok().and_then(|evs| {
                evs.iter().find_map(|e| {
                    e.quantity_of(&n.id).map(|(quantity, uom)| Amount {
                        quantity,
                        uom: uom.map(str::to_owned),
                    })
                })
            })
        });
        affected.push(AffectedLot {
            id: n.id.clone(),
            product: n.product.clone(),
            lot: n.lot.clone(),
            depth: n.depth,
            amount,
            shipped: shipped_lots.contains(n.id.as_str()),
        });
    }
    let mut products: Vec<String> = affected.iter().filter_map(|a| a.product.clone()).collect();
    products.sort();
    products.dedup();
    let mut totals: BTreeMap<(Option<String>, Option<String>), f64> = BTreeMap::new();
    for m in &t.movements {
        if let Some(a) = &m.amount {
            let product = crate::ids::parse(&m.object).product;
            *totals.entry((product, a.uom.clone())).or_default() += a.quantity;
        }
    }
    let in_plant = affected
        .iter()
        .filter(|a| !a.shipped)
        .map(|a| a.id.clone())
        .collect();
    Ok(Recall {
        starts: starts.iter().map(|s| s.to_string()).collect(),
        affected_lots: affected,
        products,
        customers: t.parties.clone(),
        shipments: t.movements,
        shipped_totals: totals
            .into_iter()
            .map(|((product, uom), quantity)| ShippedTotal {
                product,
                uom,
                quantity,
            })
            .collect(),
        in_plant,
        truncated: t.truncated,
    })
}
