//! Routing instances: the depot (node 0) and clients with coordinates, demand, a time window
//! and a service time; a fleet of vehicle types (count, capacity, fixed and per-distance cost,
//! the temperature classes they keep cold) — one type of identical vehicles unless the file says
//! more — and per client a temperature class with the longest time it may ride out of
//! refrigeration. Read from VRPLIB (`NODE_COORD_SECTION`, `DEMAND_SECTION`,
//! `TIME_WINDOW_SECTION`, `SERVICE_TIME`…, our `VEHICLE_TYPES_SECTION` and
//! `TEMPERATURE_SECTION`) or Solomon's text format; errors name the line.

use std::fmt;

use crate::limits;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InstanceError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for InstanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn err(line: Option<usize>, message: impl Into<String>) -> InstanceError {
    InstanceError {
        line,
        message: message.into(),
    }
}

/// How distances (and travel times) are rounded. Published Solomon results and PyVRP's
/// reference solutions use `Trunc1` (DIMACS: truncated to one decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    Exact,
    Trunc1,
    Round,
}

impl std::str::FromStr for Rounding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exact" => Ok(Rounding::Exact),
            "trunc1" | "dimacs" => Ok(Rounding::Trunc1),
            "round" => Ok(Rounding::Round),
            _ => Err(format!(
                "rounding {s:?}: use exact, trunc1 (DIMACS) or round"
            )),
        }
    }
}

/// A kind of vehicle in the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleType {
    pub name: String,
    pub count: usize,
    pub capacity: i64,
    /// Paid once per route driven.
    pub fixed_cost: f64,
    /// Paid per unit of distance.
    pub unit_cost: f64,
    /// Temperature classes it keeps at temperature (bit k: class k; ambient, class 0, needs none).
    pub classes: u64,
}

/// The temperature class every client has unless told otherwise.
pub const AMBIENT: usize = 0;

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    /// Node 0 is the depot, 1.. the clients (VRPLIB ids minus one, Solomon ids as they are).
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub demand: Vec<i64>,
    pub ready: Vec<f64>,
    pub due: Vec<f64>,
    pub service: Vec<f64>,
    /// The largest capacity in the fleet.
    pub capacity: i64,
    /// Vehicles available (routes allowed), all types together.
    pub vehicles: usize,
    pub types: Vec<VehicleType>,
    /// Temperature class names; index 0 is `ambient`.
    pub class_names: Vec<String>,
    /// Each node's temperature class.
    pub class: Vec<usize>,
    /// Longest time a client's goods may ride in a vehicle that does not keep their class cold
    /// (from leaving the depot to the start of service); 0: only in a vehicle that does.
    pub max_out: Vec<f64>,
    /// Whether some client's goods would ride out of refrigeration in some vehicle type.
    cold: bool,
    /// The type of each numbered vehicle, where the file lists vehicles one by one (PyVRP's
    /// dialect: `CAPACITY_SECTION`, `VEHICLES_FIXED_COST_SECTION`, …); its solutions' route k
    /// is vehicle k's.
    pub vehicle_types: Vec<usize>,
    /// Euclidean distances (also travel times), row-major n × n.
    dist: Vec<f64>,
}

impl Instance {
    pub fn new(
        name: String,
        coords: Vec<(f64, f64)>,
        demand: Vec<i64>,
        windows: Vec<(f64, f64)>,
        service: Vec<f64>,
        capacity: i64,
        vehicles: usize,
    ) -> Result<Instance, InstanceError> {
        let n = coords.len();
        limits::check("nodes", n, limits::MAX_NODES).map_err(|m| err(None, m))?;
        limits::check("vehicles", vehicles, limits::MAX_VEHICLES).map_err(|m| err(None, m))?;
        if n < 2 {
            return Err(err(
                None,
                "an instance needs a depot and at least one client",
            ));
        }
        if demand.len() != n || windows.len() != n || service.len() != n {
            return Err(err(
                None,
                format!(
                    "{n} nodes but {} demands, {} time windows, {} service times",
                    demand.len(),
                    windows.len(),
                    service.len()
                ),
            ));
        }
        if capacity <= 0 || vehicles == 0 {
            return Err(err(None, "capacity and vehicles must be positive"));
        }
        for (i, (a, b)) in windows.iter().enumerate() {
            if a > b {
                return Err(err(
                    None,
                    format!("node {i}: time window opens at {a} after it closes at {b}"),
                ));
            }
        }
        if let Some(i) = (1..n).find(|&i| demand[i] > capacity) {
            return Err(err(
                None,
                format!(
                    "client {i} demands {} but a vehicle carries {capacity}: no route can serve it",
                    demand[i]
                ),
            ));
        }
        let mut dist = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                dist[i * n + j] = ((coords[i].0 - coords[j].0).powi(2)
                    + (coords[i].1 - coords[j].1).powi(2))
                .sqrt();
            }
        }
        Ok(Instance {
            types: vec![VehicleType {
                name: "vehicle".into(),
                count: vehicles,
                capacity,
                fixed_cost: 0.0,
                unit_cost: 1.0,
                classes: 0,
            }],
            class_names: vec!["ambient".into()],
            class: vec![AMBIENT; n],
            max_out: vec![f64::INFINITY; n],
            cold: false,
            vehicle_types: Vec::new(),
            name,
            x: coords.iter().map(|c| c.0).collect(),
            y: coords.iter().map(|c| c.1).collect(),
            demand,
            ready: windows.iter().map(|w| w.0).collect(),
            due: windows.iter().map(|w| w.1).collect(),
            service,
            capacity,
            vehicles,
            dist,
        })
    }

    /// Replaces the fleet and gives clients temperature classes: `classes[i]` = (class, longest
    /// time out of refrigeration) for node i, with class names indexing `class_names` (0 is
    /// ambient). Checked: counts and capacities positive, costs ≥ 0, classes known.
    pub fn with_fleet(
        mut self,
        types: Vec<VehicleType>,
        class_names: Vec<String>,
        classes: Vec<(usize, f64)>,
    ) -> Result<Instance, InstanceError> {
        if types.is_empty() {
            return Err(err(None, "the fleet has no vehicle types"));
        }
        for t in &types {
            if t.count == 0 || t.capacity <= 0 {
                return Err(err(
                    None,
                    format!(
                        "vehicle type {}: count and capacity must be positive",
                        t.name
                    ),
                ));
            }
            if !(t.fixed_cost >= 0.0
                && t.unit_cost >= 0.0
                && t.fixed_cost.is_finite()
                && t.unit_cost.is_finite())
            {
                return Err(err(
                    None,
                    format!("vehicle type {}: costs must be numbers ≥ 0", t.name),
                ));
            }
            if t.classes >> class_names.len().min(63) != 0 {
                return Err(err(
                    None,
                    format!("vehicle type {}: an unknown temperature class", t.name),
                ));
            }
        }
        if classes.len() != self.len() {
            return Err(err(
                None,
                format!(
                    "{} nodes but {} temperature classes",
                    self.len(),
                    classes.len()
                ),
            ));
        }
        for (i, (c, out)) in classes.iter().enumerate() {
            if *c >= class_names.len() || out.is_nan() || *out < 0.0 {
                return Err(err(
                    None,
                    format!(
                        "node {i}: unknown temperature class or a negative time out of refrigeration"
                    ),
                ));
            }
        }
        self.capacity = types.iter().map(|t| t.capacity).max().unwrap_or(0);
        self.vehicles = types.iter().map(|t| t.count).sum();
        self.types = types;
        self.class_names = class_names;
        self.class = classes.iter().map(|c| c.0).collect();
        self.max_out = classes
            .iter()
            .map(|&(c, out)| if c == AMBIENT { f64::INFINITY } else { out })
            .collect();
        self.cold = (1..self.len()).any(|c| (0..self.types.len()).any(|t| !self.keeps_cold(t, c)));
        Ok(self)
    }

    /// Whether vehicle type `t` keeps client `c`'s goods at their temperature.
    pub fn keeps_cold(&self, t: usize, c: usize) -> bool {
        self.class[c] == AMBIENT || self.types[t].classes & (1 << self.class[c]) != 0
    }

    /// Whether some client's goods would ride out of refrigeration in some vehicle type (the
    /// search then checks ride times).
    pub fn has_cold_chain(&self) -> bool {
        self.cold
    }

    /// Whether the fleet has more than one type.
    pub fn heterogeneous(&self) -> bool {
        self.types.len() > 1
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Rounds every distance (and so travel time) by `mode`.
    pub fn with_rounding(mut self, mode: Rounding) -> Instance {
        for d in &mut self.dist {
            *d = match mode {
                Rounding::Exact => *d,
                // The small epsilon keeps 3.0 from becoming 2.9 through floating point.
                Rounding::Trunc1 => ((*d * 10.0) + 1e-9).floor() / 10.0,
                Rounding::Round => d.round(),
            };
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.x.len() < 2
    }

    pub fn clients(&self) -> usize {
        self.x.len() - 1
    }

    #[inline]
    pub fn d(&self, i: usize, j: usize) -> f64 {
        self.dist[i * self.x.len() + j]
    }

    /// Reads VRPLIB (`NAME :`, sections) or, failing that, Solomon's format.
    pub fn parse(text: &str) -> Result<Instance, InstanceError> {
        if text.contains("NODE_COORD_SECTION") {
            parse_vrplib(text)
        } else if text.contains("CUST NO.") || text.contains("VEHICLE") {
            parse_solomon(text)
        } else {
            Err(err(
                None,
                "neither VRPLIB (NODE_COORD_SECTION …) nor Solomon (VEHICLE / CUSTOMER tables) format",
            ))
        }
    }
}

fn num<T: std::str::FromStr>(s: &str, line: usize, what: &str) -> Result<T, InstanceError> {
    s.trim()
        .parse()
        .map_err(|_| err(Some(line), format!("{what}: {s:?} is not a number")))
}

fn parse_vrplib(text: &str) -> Result<Instance, InstanceError> {
    let mut name = String::from("unnamed");
    let (mut dim, mut capacity, mut vehicles) = (None, None, None);
    let mut service_all = 0.0;
    let mut section = "";
    let mut coords: Vec<Option<(f64, f64)>> = Vec::new();
    let mut demand: Vec<i64> = Vec::new();
    let mut windows: Vec<Option<(f64, f64)>> = Vec::new();
    let mut service: Vec<Option<f64>> = Vec::new();
    let mut depots: Vec<usize> = Vec::new();
    let mut types: Vec<VehicleType> = Vec::new();
    let mut class_names: Vec<String> = vec!["ambient".into()];
    let mut temps: Vec<(usize, f64)> = Vec::new();
    // Per numbered vehicle (PyVRP's dialect): capacity, fixed cost, cost per distance.
    let mut per_vehicle: Vec<(Option<i64>, f64, f64)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line == "EOF" {
            continue;
        }
        if let Some((key, value)) = line.split_once(':')
            && !key.trim().contains(' ')
            && !key
                .trim()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        {
            let value = value.trim();
            match key.trim() {
                "NAME" => name = value.to_owned(),
                "DIMENSION" => {
                    let n: usize = num(value, no, "DIMENSION")?;
                    limits::check("DIMENSION", n, limits::MAX_NODES)
                        .map_err(|m| err(Some(no), m))?;
                    if n == 0 {
                        return Err(err(Some(no), "DIMENSION must be at least 1 (the depot)"));
                    }
                    dim = Some(n);
                    coords = vec![None; n];
                    demand = vec![0; n];
                    windows = vec![None; n];
                    service = vec![None; n];
                    temps = vec![(AMBIENT, f64::INFINITY); n];
                }
                "CAPACITY" => capacity = Some(num::<i64>(value, no, "CAPACITY")?),
                "VEHICLES" => {
                    let k = num::<usize>(value, no, "VEHICLES")?;
                    limits::check("VEHICLES", k, limits::MAX_VEHICLES)
                        .map_err(|m| err(Some(no), m))?;
                    vehicles = Some(k);
                    per_vehicle = vec![(None, 0.0, 1.0); k];
                }
                "SERVICE_TIME" => service_all = num(value, no, "SERVICE_TIME")?,
                "EDGE_WEIGHT_TYPE" if value != "EUC_2D" => {
                    return Err(err(
                        Some(no),
                        format!("EDGE_WEIGHT_TYPE {value} is not supported (EUC_2D is)"),
                    ));
                }
                _ => {}
            }
            section = "";
            continue;
        }
        if line.ends_with("_SECTION") {
            section = match line {
                "NODE_COORD_SECTION"
                | "DEMAND_SECTION"
                | "TIME_WINDOW_SECTION"
                | "SERVICE_TIME_SECTION"
                | "DEPOT_SECTION"
                | "VEHICLE_TYPES_SECTION"
                | "TEMPERATURE_SECTION"
                | "CAPACITY_SECTION"
                | "VEHICLES_FIXED_COST_SECTION"
                | "VEHICLES_UNIT_DISTANCE_COST_SECTION" => line,
                other => {
                    return Err(err(
                        Some(no),
                        format!(
                            "{other} is not supported here (coordinates, demands, time windows, service times, depots, vehicle types, temperature classes are)"
                        ),
                    ));
                }
            };
            if dim.is_none() && !matches!(section, "DEPOT_SECTION" | "VEHICLE_TYPES_SECTION") {
                return Err(err(Some(no), "DIMENSION must come before the sections"));
            }
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if section == "DEPOT_SECTION" {
            let id: i64 = num(f[0], no, "depot")?;
            if id >= 1 {
                depots.push(id as usize);
            }
            continue;
        }
        if section == "VEHICLE_TYPES_SECTION" {
            // name count capacity fixed_cost unit_cost classes (comma-separated, or `-`)
            if f.len() != 6 {
                return Err(err(
                    Some(no),
                    format!(
                        "a vehicle type is `name count capacity fixed_cost unit_cost classes` (classes: chilled,frozen or -), found {} fields",
                        f.len()
                    ),
                ));
            }
            if types.len() >= limits::MAX_VEHICLE_TYPES {
                return Err(err(
                    Some(no),
                    limits::exceeded("vehicle types", types.len() + 1, limits::MAX_VEHICLE_TYPES),
                ));
            }
            let count: usize = num(f[1], no, "count")?;
            limits::check("vehicle type count", count, limits::MAX_VEHICLES)
                .map_err(|m| err(Some(no), m))?;
            let mut classes = 0u64;
            for c in f[5].split(',').filter(|c| *c != "-" && *c != "ambient") {
                classes |= 1 << class_id(&mut class_names, c, no)?;
            }
            types.push(VehicleType {
                name: f[0].to_owned(),
                count,
                capacity: num(f[2], no, "capacity")?,
                fixed_cost: num(f[3], no, "fixed_cost")?,
                unit_cost: num(f[4], no, "unit_cost")?,
                classes,
            });
            continue;
        }
        if matches!(
            section,
            "CAPACITY_SECTION"
                | "VEHICLES_FIXED_COST_SECTION"
                | "VEHICLES_UNIT_DISTANCE_COST_SECTION"
        ) {
            let v: usize = num(f[0], no, "vehicle")?;
            if v == 0 || v > per_vehicle.len() || f.len() < 2 {
                return Err(err(
                    Some(no),
                    format!(
                        "{section}: `vehicle value` with vehicle in 1..={} (VEHICLES, which must come first)",
                        per_vehicle.len()
                    ),
                ));
            }
            let e = &mut per_vehicle[v - 1];
            match section {
                "CAPACITY_SECTION" => e.0 = Some(num(f[1], no, "capacity")?),
                "VEHICLES_FIXED_COST_SECTION" => e.1 = num(f[1], no, "fixed cost")?,
                _ => e.2 = num(f[1], no, "unit distance cost")?,
            }
            continue;
        }
        let n = dim.unwrap_or(0);
        let id: usize = num(f[0], no, "node id")?;
        if id == 0 || id > n {
            return Err(err(
                Some(no),
                format!("node {id} is outside 1..={n} (DIMENSION)"),
            ));
        }
        let k = id - 1;
        let need = |c: usize| {
            if f.len() < c {
                Err(err(
                    Some(no),
                    format!("{section} needs {c} fields, found {}", f.len()),
                ))
            } else {
                Ok(())
            }
        };
        match section {
            "NODE_COORD_SECTION" => {
                need(3)?;
                coords[k] = Some((num(f[1], no, "x")?, num(f[2], no, "y")?));
            }
            "DEMAND_SECTION" => {
                need(2)?;
                demand[k] = num(f[1], no, "demand")?;
            }
            "TIME_WINDOW_SECTION" => {
                need(3)?;
                windows[k] = Some((num(f[1], no, "ready")?, num(f[2], no, "due")?));
            }
            "SERVICE_TIME_SECTION" => {
                need(2)?;
                service[k] = Some(num(f[1], no, "service time")?);
            }
            "TEMPERATURE_SECTION" => {
                // id class max_time_out_of_refrigeration
                need(3)?;
                let out: f64 = num(f[2], no, "time out of refrigeration")?;
                if out.is_nan() || out < 0.0 {
                    return Err(err(Some(no), "the time out of refrigeration must be ≥ 0"));
                }
                temps[k] = (class_id(&mut class_names, f[1], no)?, out);
            }
            _ => return Err(err(Some(no), format!("data outside any section: {line:?}"))),
        }
    }
    let n = dim.ok_or_else(|| err(None, "DIMENSION is missing"))?;
    if depots.iter().any(|d| *d != 1) {
        return Err(err(None, "only node 1 as the single depot is supported"));
    }
    let coords = coords
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.ok_or_else(|| err(None, format!("node {} has no coordinates", i + 1))))
        .collect::<Result<Vec<_>, _>>()?;
    let horizon = windows.first().copied().flatten().map_or(f64::MAX, |w| w.1);
    let windows = windows
        .into_iter()
        .map(|w| w.unwrap_or((0.0, horizon)))
        .collect();
    let mut service: Vec<f64> = service
        .into_iter()
        .map(|s| s.unwrap_or(service_all))
        .collect();
    service[0] = 0.0;
    let mut vehicle_types = Vec::new();
    if types.is_empty() && per_vehicle.iter().any(|v| v.0.is_some()) {
        // Numbered vehicles become types: one per distinct (capacity, fixed, unit cost).
        for (k, v) in per_vehicle.iter().enumerate() {
            let cap = v.0.ok_or_else(|| {
                err(
                    None,
                    format!("vehicle {} has no capacity in CAPACITY_SECTION", k + 1),
                )
            })?;
            let found = types.iter().position(|t: &VehicleType| {
                t.capacity == cap && t.fixed_cost == v.1 && t.unit_cost == v.2
            });
            let t = found.unwrap_or_else(|| {
                types.push(VehicleType {
                    name: format!("type-{}", types.len() + 1),
                    count: 0,
                    capacity: cap,
                    fixed_cost: v.1,
                    unit_cost: v.2,
                    classes: (1u64 << class_names.len().min(63)) - 2,
                });
                types.len() - 1
            });
            types[t].count += 1;
            vehicle_types.push(t);
        }
    }
    if types.is_empty() {
        let capacity = capacity.ok_or_else(|| err(None, "CAPACITY is missing"))?;
        let vehicles = vehicles.unwrap_or(n - 1);
        let inst = Instance::new(name, coords, demand, windows, service, capacity, vehicles)?;
        let all = (1u64 << class_names.len().min(63)) - 1;
        // Without vehicle types the one type keeps every class cold.
        let mut types = inst.types.clone();
        types[0].classes = all & !1;
        return inst.with_fleet(types, class_names, temps);
    }
    let biggest = types.iter().map(|t| t.capacity).max().unwrap_or(1).max(1);
    // Each count is below MAX_VEHICLES and there are at most MAX_VEHICLE_TYPES: no overflow.
    let total = types.iter().map(|t| t.count).sum::<usize>().max(1);
    limits::check("vehicles over all types", total, limits::MAX_VEHICLES)
        .map_err(|m| err(None, m))?;
    let mut inst = Instance::new(name, coords, demand, windows, service, biggest, total)?
        .with_fleet(types, class_names, temps)?;
    inst.vehicle_types = vehicle_types;
    Ok(inst)
}

/// The index of a temperature class by name, added when new (at most 63 classes).
fn class_id(names: &mut Vec<String>, name: &str, line: usize) -> Result<usize, InstanceError> {
    if let Some(i) = names.iter().position(|n| n == name) {
        return Ok(i);
    }
    if names.len() >= 63 {
        return Err(err(Some(line), "more than 63 temperature classes"));
    }
    names.push(name.to_owned());
    Ok(names.len() - 1)
}

fn parse_solomon(text: &str) -> Result<Instance, InstanceError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let name = lines
        .clone()
        .find(|(_, l)| !l.is_empty())
        .map_or("unnamed".into(), |(_, l)| l.to_owned());
    let mut vehicles = None;
    let (mut coords, mut demand, mut windows, mut service) = (vec![], vec![], vec![], vec![]);
    while let Some((no, l)) = lines.next() {
        if l.starts_with("NUMBER") {
            let (vno, v) = lines
                .find(|(_, l)| !l.is_empty())
                .ok_or_else(|| err(Some(no), "the vehicle line is missing"))?;
            let f: Vec<&str> = v.split_whitespace().collect();
            if f.len() < 2 {
                return Err(err(Some(vno), "expected: NUMBER CAPACITY"));
            }
            let k = num::<usize>(f[0], vno, "vehicles")?;
            limits::check("vehicles", k, limits::MAX_VEHICLES).map_err(|m| err(Some(vno), m))?;
            vehicles = Some((k, num::<i64>(f[1], vno, "capacity")?));
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 7 && f[0].chars().all(|c| c.is_ascii_digit()) {
            let id: usize = num(f[0], no, "customer id")?;
            if id != coords.len() {
                return Err(err(
                    Some(no),
                    format!("customer {id} out of order (expected {})", coords.len()),
                ));
            }
            if coords.len() >= limits::MAX_NODES {
                return Err(err(
                    Some(no),
                    limits::exceeded("customers", id + 1, limits::MAX_NODES),
                ));
            }
            coords.push((num(f[1], no, "x")?, num(f[2], no, "y")?));
            demand.push(num(f[3], no, "demand")?);
            windows.push((num(f[4], no, "ready time")?, num(f[5], no, "due date")?));
            service.push(num(f[6], no, "service time")?);
        }
    }
    let (vehicles, capacity) =
        vehicles.ok_or_else(|| err(None, "the VEHICLE NUMBER CAPACITY table is missing"))?;
    Instance::new(name, coords, demand, windows, service, capacity, vehicles)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "NAME : tiny\nTYPE : CVRPTW\nDIMENSION : 4\nVEHICLES : 2\nCAPACITY : 10\nSERVICE_TIME : 1\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 3 4\n3 -3 4\n4 0 -5\nDEMAND_SECTION\n1 0\n2 4\n3 4\n4 5\nTIME_WINDOW_SECTION\n1 0 100\n2 0 50\n3 0 50\n4 10 20\nDEPOT_SECTION\n1\n-1\nEOF\n";

    #[test]
    fn reads_vrplib() {
        let i = Instance::parse(SMALL).unwrap();
        assert_eq!((i.len(), i.capacity, i.vehicles), (4, 10, 2));
        assert_eq!(i.d(0, 1), 5.0);
        assert_eq!(
            (i.ready[3], i.due[3], i.service[3], i.service[0]),
            (10.0, 20.0, 1.0, 0.0)
        );
    }

    /// Found by the `vrplib` fuzz target: no node at all, not even the depot.
    #[test]
    fn an_instance_without_a_depot_is_refused() {
        let text = SMALL.replace("DIMENSION : 4", "DIMENSION : 0");
        assert_eq!(
            Instance::parse(&text).unwrap_err().to_string(),
            "line 3: DIMENSION must be at least 1 (the depot)"
        );
    }

    #[test]
    fn reads_solomon() {
        let text = "C101\n\nVEHICLE\nNUMBER     CAPACITY\n  25         200\n\nCUSTOMER\nCUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\n\n    0      40         50          0          0       1236          0\n    1      45         68         10        912        967         90\n";
        let i = Instance::parse(text).unwrap();
        assert_eq!(
            (i.name.as_str(), i.vehicles, i.capacity, i.clients()),
            ("C101", 25, 200, 1)
        );
        assert_eq!((i.ready[1], i.due[1], i.service[1]), (912.0, 967.0, 90.0));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = SMALL.replace("3 -3 4", "3 -3 four");
        assert_eq!(
            Instance::parse(&bad).unwrap_err().to_string(),
            "line 11: y: \"four\" is not a number"
        );
        let big = SMALL.replace("4 5\nTIME", "4 50\nTIME");
        assert!(
            Instance::parse(&big)
                .unwrap_err()
                .to_string()
                .contains("no route can serve it")
        );
        let tw = SMALL.replace("4 10 20", "4 30 20");
        assert!(
            Instance::parse(&tw)
                .unwrap_err()
                .to_string()
                .contains("opens at 30 after it closes at 20")
        );
        assert!(Instance::parse("hello").is_err());
    }
}
