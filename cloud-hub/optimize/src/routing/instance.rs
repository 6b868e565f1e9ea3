//! Routing instances: the depot (node 0) and clients with coordinates, demand, a time window
//! and a service time; identical vehicles with a capacity. Read from VRPLIB (`NODE_COORD_SECTION`,
//! `DEMAND_SECTION`, `TIME_WINDOW_SECTION`, `SERVICE_TIME`…) or Solomon's text format; errors
//! name the line.

use std::fmt;

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
    pub capacity: i64,
    /// Vehicles available (routes allowed).
    pub vehicles: usize,
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
                    dim = Some(n);
                    coords = vec![None; n];
                    demand = vec![0; n];
                    windows = vec![None; n];
                    service = vec![None; n];
                }
                "CAPACITY" => capacity = Some(num::<i64>(value, no, "CAPACITY")?),
                "VEHICLES" => vehicles = Some(num::<usize>(value, no, "VEHICLES")?),
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
                | "DEPOT_SECTION" => line,
                other => {
                    return Err(err(
                        Some(no),
                        format!(
                            "{other} is not supported here (coordinates, demands, time windows, service times, depots are)"
                        ),
                    ));
                }
            };
            if dim.is_none() && section != "DEPOT_SECTION" {
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
    let capacity = capacity.ok_or_else(|| err(None, "CAPACITY is missing"))?;
    let vehicles = vehicles.unwrap_or(n - 1);
    Instance::new(name, coords, demand, windows, service, capacity, vehicles)
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
            vehicles = Some((
                num::<usize>(f[0], vno, "vehicles")?,
                num::<i64>(f[1], vno, "capacity")?,
            ));
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
