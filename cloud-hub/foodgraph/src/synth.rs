//! Synthetic multi-tier supply chains as EPCIS 2.0 events, reproducible from a seed: farms
//! harvest, cool and pack raw lots (FSMA CTEs) and ship them to mills; mills transform them
//! into ingredient lots shipped to plants; plants transform ingredients into batches, pack
//! batches into cases and cases onto pallets, ship pallets to distribution centres, which
//! consolidate them onto outbound loads for stores (raw lot → ingredient → batch → case →
//! pallet → load: five hops). Cold-chain observations (storing, inspecting,
//! sensor readings) fill each lot's history up to the requested events per lot.
//!
//! Quantities keep mass balance (inputs are consumed from what was received; transformations
//! lose 2–8 %), and times only move forward along every flow.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Plan {
    pub lots: usize,
    pub seed: u64,
    /// Events per lot on average (structural events plus observations).
    pub events_per_lot: usize,
    /// When the simulated history starts (UTC ns) and how many days it spans.
    pub start_ns: i64,
    pub days: i64,
}

impl Plan {
    pub fn new(lots: usize, seed: u64) -> Self {
        Self {
            lots,
            seed,
            events_per_lot: 10,
            start_ns: 1_767_225_600_000_000_000, // 2026-01-01T00:00:00Z
            days: 365,
        }
    }
}

/// Counts of what was generated.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub events: usize,
    pub lots: usize,
    pub raw_lots: usize,
    pub ingredient_lots: usize,
    pub batch_lots: usize,
    pub suppliers: usize,
    pub customers: usize,
    /// Lot ids handy for queries: raw lots that were milled (forward traces) and batches
    /// (backward traces).
    pub sample_raw: Vec<String>,
    pub sample_batches: Vec<String>,
}

const NS_PER_DAY: i64 = 86_400_000_000_000;
const NS_PER_H: i64 = 3_600_000_000_000;

fn pgln(prefix: u32) -> String {
    format!("urn:epc:id:pgln:{prefix:07}.00000")
}

fn sgln(prefix: u32, loc: u32) -> String {
    format!("urn:epc:id:sgln:{prefix:07}.{loc:05}.0")
}

fn lgtin(prefix: u32, item: u32, lot: &str) -> String {
    format!("urn:epc:class:lgtin:{prefix:07}.{item:06}.{lot}")
}

fn sscc(prefix: u32, serial: u64) -> String {
    format!("urn:epc:id:sscc:{prefix:07}.{serial:010}")
}

fn time(ns: i64) -> String {
    foodflow_protocol::time::format_rfc3339(ns)
}

fn q(class: &str, kg: f64) -> Value {
    json!({"epcClass": class, "quantity": (kg * 10.0).round() / 10.0, "uom": "KGM"})
}

fn object(t: i64, step: &str, action: &str, quantity: Value, location: &str) -> Value {
    json!({
        "type": "ObjectEvent", "eventTime": time(t), "eventTimeZoneOffset": "+00:00",
        "action": action, "bizStep": step, "bizLocation": {"id": location},
        "readPoint": {"id": location}, "quantityList": [quantity],
    })
}

fn ship(t: i64, objects: Value, from: (&str, &str), to: (&str, &str), doc: &str) -> Value {
    let mut e = json!({
        "type": "ObjectEvent", "eventTime": time(t), "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
        "readPoint": {"id": from.1},
        "sourceList": [{"type": "owning_party", "source": from.0}, {"type": "location", "source": from.1}],
        "destinationList": [{"type": "owning_party", "destination": to.0}, {"type": "location", "destination": to.1}],
        "bizTransactionList": [{"type": "bol", "bizTransaction": doc}],
    });
    merge_objects(&mut e, objects);
    e
}

fn receive(t: i64, objects: Value, from: (&str, &str), to: (&str, &str), doc: &str) -> Value {
    let mut e = json!({
        "type": "ObjectEvent", "eventTime": time(t), "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE", "bizStep": "receiving", "disposition": "in_progress",
        "bizLocation": {"id": to.1}, "readPoint": {"id": to.1},
        "sourceList": [{"type": "owning_party", "source": from.0}, {"type": "location", "source": from.1}],
        "destinationList": [{"type": "owning_party", "destination": to.0}, {"type": "location", "destination": to.1}],
        "bizTransactionList": [{"type": "bol", "bizTransaction": doc}],
    });
    merge_objects(&mut e, objects);
    e
}

fn merge_objects(e: &mut Value, objects: Value) {
    if let (Some(m), Some(o)) = (e.as_object_mut(), objects.as_object()) {
        for (k, v) in o {
            m.insert(k.clone(), v.clone());
        }
    }
}

fn transform(
    t: i64,
    inputs: Vec<Value>,
    output: Value,
    location: &str,
    description: &str,
) -> Value {
    json!({
        "type": "TransformationEvent", "eventTime": time(t), "eventTimeZoneOffset": "+00:00",
        "bizStep": "commissioning", "bizLocation": {"id": location}, "readPoint": {"id": location},
        "inputQuantityList": inputs, "outputQuantityList": [output],
        "ilmd": {"cbvmda:descriptionShort": description},
    })
}

fn pack(t: i64, parent: &str, children: Vec<Value>, location: &str) -> Value {
    json!({
        "type": "AggregationEvent", "eventTime": time(t), "eventTimeZoneOffset": "+00:00",
        "action": "ADD", "bizStep": "packing", "parentID": parent,
        "bizLocation": {"id": location}, "readPoint": {"id": location},
        "childQuantityList": children,
    })
}

fn pack_epcs(t: i64, parent: &str, children: Vec<String>, location: &str) -> Value {
    json!({
        "type": "AggregationEvent", "eventTime": time(t), "eventTimeZoneOffset": "+00:00",
        "action": "ADD", "bizStep": "packing", "parentID": parent,
        "bizLocation": {"id": location}, "readPoint": {"id": location},
        "childEPCs": children,
    })
}

struct Site {
    party: String,
    location: String,
}

fn site(prefix: u32, loc: u32) -> Site {
    Site {
        party: pgln(prefix),
        location: sgln(prefix, loc),
    }
}

/// A lot in stock at a site: id, remaining kg, time it became available.
struct Stock {
    id: String,
    kg: f64,
    at: i64,
}

/// Generates the plan's events in time order per flow, handing each to `emit`.
pub fn generate(plan: &Plan, emit: &mut dyn FnMut(Value)) -> Summary {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let lots = plan.lots.max(10);
    let raw_n = lots * 3 / 10;
    let ing_n = lots * 3 / 10;
    let batch_n = lots - raw_n - ing_n;
    let farms: Vec<Site> = (0..(lots / 2_000).max(4))
        .map(|i| site(1_000_000 + i as u32, 1))
        .collect();
    let mills: Vec<Site> = (0..(lots / 20_000).max(2))
        .map(|i| site(2_000_000 + i as u32, 1))
        .collect();
    let plants: Vec<Site> = (0..(lots / 100_000).max(1))
        .map(|i| site(3_000_000 + i as u32, 1))
        .collect();
    let dcs: Vec<Site> = (0..(lots / 50_000).max(2))
        .map(|i| site(4_000_000 + i as u32, 1))
        .collect();
    let stores: Vec<Site> = (0..(lots / 2_000).max(5))
        .map(|i| site(5_000_000 + i as u32, 1))
        .collect();
    let span = plan.days.max(1) * NS_PER_DAY;
    let mut summary = Summary {
        lots: raw_n + ing_n + batch_n,
        raw_lots: raw_n,
        ingredient_lots: ing_n,
        batch_lots: batch_n,
        suppliers: farms.len() + mills.len(),
        customers: dcs.len() + stores.len(),
        ..Default::default()
    };
    let mut events = 0usize;
    let mut lot_ids: Vec<(String, i64, String)> = Vec::with_capacity(lots);
    let mut out = |e: Value, events: &mut usize| {
        *events += 1;
        emit(e);
    };
    // Work through the period in steps; each step makes its share of every kind of lot, so
    // stock flows downstream as time goes on.
    let steps = 1_000usize.min(raw_n.max(1));
    let mut mill_stock: Vec<Vec<Stock>> = mills.iter().map(|_| Vec::new()).collect();
    let mut plant_stock: Vec<Vec<Stock>> = plants.iter().map(|_| Vec::new()).collect();
    let mut serial: u64 = 0;
    let mut doc: u64 = 0;
    let (mut raw_done, mut ing_done, mut batch_done) = (0usize, 0usize, 0usize);
    // The pallet each plant is filling: id, cases on it, destination DC.
    let mut pallets: Vec<Option<(String, usize, usize)>> = plants.iter().map(|_| None).collect();
    for step in 0..steps {
        let t0 = plan.start_ns + (span as i128 * step as i128 / steps as i128) as i64;
        let share = |n: usize, done: usize| (n * (step + 1) / steps).saturating_sub(done);
        // Farms: harvest, cool, pack, ship to a mill, received there.
        for _ in 0..share(raw_n, raw_done) {
            raw_done += 1;
            let f = rng.random_range(0..farms.len());
            let m = rng.random_range(0..mills.len());
            let farm = &farms[f];
            let id = lgtin(
                1_000_000 + f as u32,
                100 + (raw_done % 7) as u32,
                &format!("R{raw_done}"),
            );
            let kg: f64 = rng.random_range(500.0..2_000.0);
            let t = t0 + rng.random_range(0..NS_PER_H * 6);
            let mut h = object(t, "commissioning", "ADD", q(&id, kg), &farm.location);
            h["fsma:cte"] = json!("harvesting");
            h["ilmd"] = json!({"cbvmda:harvestStartDate": time(t), "cbvmda:descriptionShort": "Durum wheat"});
            out(h, &mut events);
            let mut c = object(
                t + NS_PER_H,
                "storing",
                "OBSERVE",
                q(&id, kg),
                &farm.location,
            );
            c["fsma:cte"] = json!("cooling");
            out(c, &mut events);
            let mut p = object(
                t + 2 * NS_PER_H,
                "packing",
                "OBSERVE",
                q(&id, kg),
                &farm.location,
            );
            p["fsma:cte"] = json!("initial_packing");
            out(p, &mut events);
            doc += 1;
            let bol = format!("urn:epcglobal:cbv:bt:{:07}000009:BOL{doc}", 1_000_000 + f);
            let (from, to) = (
                (farm.party.as_str(), farm.location.as_str()),
                (mills[m].party.as_str(), mills[m].location.as_str()),
            );
            out(
                ship(
                    t + 3 * NS_PER_H,
                    json!({"quantityList": [q(&id, kg)]}),
                    from,
                    to,
                    &bol,
                ),
                &mut events,
            );
            out(
                receive(
                    t + 9 * NS_PER_H,
                    json!({"quantityList": [q(&id, kg)]}),
                    from,
                    to,
                    &bol,
                ),
                &mut events,
            );
            mill_stock[m].push(Stock {
                id: id.clone(),
                kg,
                at: t + 9 * NS_PER_H,
            });
            lot_ids.push((id.clone(), t + 9 * NS_PER_H, farm.location.clone()));
        }
        // Mills: mill raw lots into ingredient lots for a plant.
        for _ in 0..share(ing_n, ing_done) {
            let m = rng.random_range(0..mills.len());
            if mill_stock[m].is_empty() {
                continue;
            }
            let p = rng.random_range(0..plants.len());
            let t = t0 + NS_PER_H * 16 + rng.random_range(0..NS_PER_H * 2);
            let inputs = consume(&mut mill_stock[m], rng.random_range(1..=3), &mut rng, t);
            if inputs.is_empty() {
                continue;
            }
            ing_done += 1;
            // Sample raw lots that went somewhere: what a recall starts from.
            if summary.sample_raw.len() < 1_000
                && rng.random_bool((1_000.0 / raw_n as f64).min(0.5))
                && !summary.sample_raw.contains(&inputs[0].0)
            {
                summary.sample_raw.push(inputs[0].0.clone());
            }
            let total: f64 = inputs.iter().map(|(_, kg)| kg).sum();
            let kg = total * rng.random_range(0.92..0.98);
            let id = lgtin(2_000_000 + m as u32, 200, &format!("I{ing_done}"));
            let mill = &mills[m];
            out(
                transform(
                    t,
                    inputs.iter().map(|(i, kg)| q(i, *kg)).collect(),
                    q(&id, kg),
                    &mill.location,
                    "Semolina",
                ),
                &mut events,
            );
            doc += 1;
            let bol = format!("urn:epcglobal:cbv:bt:{:07}000009:BOL{doc}", 2_000_000 + m);
            let (from, to) = (
                (mill.party.as_str(), mill.location.as_str()),
                (plants[p].party.as_str(), plants[p].location.as_str()),
            );
            out(
                ship(
                    t + NS_PER_H,
                    json!({"quantityList": [q(&id, kg)]}),
                    from,
                    to,
                    &bol,
                ),
                &mut events,
            );
            out(
                receive(
                    t + 5 * NS_PER_H,
                    json!({"quantityList": [q(&id, kg)]}),
                    from,
                    to,
                    &bol,
                ),
                &mut events,
            );
            plant_stock[p].push(Stock {
                id: id.clone(),
                kg,
                at: t + 5 * NS_PER_H,
            });
            lot_ids.push((id, t + 5 * NS_PER_H, mill.location.clone()));
        }
        // Plants: batches of pasta from ingredient lots, packed into cases, cases onto a
        // pallet, shipped to a DC and received; the DC repacks onto a mixed pallet for a store.
        for _ in 0..share(batch_n, batch_done) {
            let p = rng.random_range(0..plants.len());
            if plant_stock[p].is_empty() {
                continue;
            }
            let plant = &plants[p];
            let t = t0 + NS_PER_H * 24 + rng.random_range(0..NS_PER_H * 2);
            let inputs = consume(&mut plant_stock[p], rng.random_range(2..=4), &mut rng, t);
            if inputs.is_empty() {
                continue;
            }
            batch_done += 1;
            let total: f64 = inputs.iter().map(|(_, kg)| kg).sum();
            let kg = total * rng.random_range(0.95..0.99);
            let id = lgtin(
                3_000_000 + p as u32,
                300 + (batch_done % 12) as u32,
                &format!("B{batch_done}"),
            );
            out(
                transform(
                    t,
                    inputs.iter().map(|(i, kg)| q(i, *kg)).collect(),
                    q(&id, kg),
                    &plant.location,
                    "Egg pasta 500 g",
                ),
                &mut events,
            );
            serial += 1;
            let case = sscc(3_000_000 + p as u32, serial);
            out(
                pack(t + NS_PER_H, &case, vec![q(&id, kg)], &plant.location),
                &mut events,
            );
            let (pal, n, dc) = pallets[p].get_or_insert_with(|| {
                serial += 1;
                (
                    sscc(3_000_000 + p as u32, serial),
                    0,
                    rng.random_range(0..dcs.len()),
                )
            });
            out(
                pack_epcs(t + 2 * NS_PER_H, pal, vec![case.clone()], &plant.location),
                &mut events,
            );
            *n += 1;
            let (pal, n, dc) = (pal.clone(), *n, *dc);
            lot_ids.push((id.clone(), t, plant.location.clone()));
            if summary.sample_batches.len() < 1_000
                && rng.random_bool((1_000.0 / batch_n as f64).min(0.5))
            {
                summary.sample_batches.push(id.clone());
            }
            if n == 4 {
                pallets[p] = None;
                doc += 1;
                let bol = format!("urn:epcglobal:cbv:bt:{:07}000009:BOL{doc}", 3_000_000 + p);
                let d = &dcs[dc];
                let (from, to) = (
                    (plant.party.as_str(), plant.location.as_str()),
                    (d.party.as_str(), d.location.as_str()),
                );
                let ts = t + 3 * NS_PER_H;
                out(
                    ship(ts, json!({"epcList": [pal]}), from, to, &bol),
                    &mut events,
                );
                out(
                    receive(ts + 8 * NS_PER_H, json!({"epcList": [pal]}), from, to, &bol),
                    &mut events,
                );
                // The DC consolidates the pallet onto an outbound load for a store.
                serial += 1;
                let mixed = sscc(4_000_000 + dc as u32, serial);
                out(
                    pack_epcs(ts + 10 * NS_PER_H, &mixed, vec![pal.clone()], &d.location),
                    &mut events,
                );
                let sidx = rng.random_range(0..stores.len());
                let s = &stores[sidx];
                doc += 1;
                let bol = format!("urn:epcglobal:cbv:bt:{:07}000009:BOL{doc}", 4_000_000 + dc);
                let (from, to) = (
                    (d.party.as_str(), d.location.as_str()),
                    (s.party.as_str(), s.location.as_str()),
                );
                out(
                    ship(
                        ts + 12 * NS_PER_H,
                        json!({"epcList": [mixed]}),
                        from,
                        to,
                        &bol,
                    ),
                    &mut events,
                );
                out(
                    receive(
                        ts + 16 * NS_PER_H,
                        json!({"epcList": [mixed]}),
                        from,
                        to,
                        &bol,
                    ),
                    &mut events,
                );
            }
        }
    }
    // Cold-chain observations up to the requested events per lot.
    let target = lot_ids.len() * plan.events_per_lot.max(1);
    let steps_obs = ["storing", "inspecting", "sensor_reporting"];
    while events < target && !lot_ids.is_empty() {
        let (id, at, loc) = &lot_ids[rng.random_range(0..lot_ids.len())];
        let t = at + rng.random_range(0..NS_PER_DAY * 3);
        let step = steps_obs[rng.random_range(0..steps_obs.len())];
        let mut e = object(t, step, "OBSERVE", json!({"epcClass": id}), loc);
        e["example:temperatureC"] = json!((rng.random_range(0.0..8.0f64) * 10.0).round() / 10.0);
        out(e, &mut events);
    }
    summary.events = events;
    summary.lots = raw_done + ing_done + batch_done;
    summary.raw_lots = raw_done;
    summary.ingredient_lots = ing_done;
    summary.batch_lots = batch_done;
    summary
}

/// Takes up to `n` lots from stock available before `t` (oldest first), consuming part of each.
fn consume(stock: &mut Vec<Stock>, n: usize, rng: &mut StdRng, t: i64) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n && i < stock.len() {
        if stock[i].at <= t {
            let take = (stock[i].kg * rng.random_range(0.3..0.7))
                .max(1.0)
                .min(stock[i].kg);
            stock[i].kg -= take;
            out.push((stock[i].id.clone(), take));
            if stock[i].kg < 10.0 {
                stock.remove(i);
                continue;
            }
        }
        i += 1;
    }
    // Old stock that is nearly never picked is written off, so the pool stays small.
    if stock.len() > 64 {
        stock.drain(..stock.len() - 64);
    }
    out
}
