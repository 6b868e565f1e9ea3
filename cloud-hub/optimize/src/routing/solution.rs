//! A routing solution: routes of client indices (the depot, 0, is implied at both ends) with the
//! vehicle type driving each, its distance and cost, and the VRPLIB `.sol` text (`Route #k: …`
//! with VRPLIB client numbers, `Cost …`; with several vehicle types also `Vehicle #k: type`).

use super::instance::{Instance, InstanceError};

#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub routes: Vec<Vec<usize>>,
    /// The vehicle type of each route (empty: type 0 for all).
    pub kinds: Vec<usize>,
}

impl Solution {
    /// Routes all driven by the first (or only) vehicle type.
    pub fn new(routes: Vec<Vec<usize>>) -> Solution {
        Solution {
            routes,
            kinds: Vec::new(),
        }
    }

    /// The vehicle type of route `k`.
    pub fn kind(&self, k: usize) -> usize {
        self.kinds.get(k).copied().unwrap_or(0)
    }

    /// What the fleet costs: per route driven, the type's fixed cost plus its cost per
    /// distance (with one type at 0 and 1, the distance).
    pub fn cost(&self, inst: &Instance) -> f64 {
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(k, r)| {
                let t = &inst.types[self.kind(k).min(inst.types.len() - 1)];
                t.fixed_cost + t.unit_cost * Solution::new(vec![r.clone()]).distance(inst)
            })
            .sum()
    }

    /// Total travelled distance, depot to depot.
    pub fn distance(&self, inst: &Instance) -> f64 {
        self.routes
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| {
                let mut d = inst.d(0, r[0]) + inst.d(r[r.len() - 1], 0);
                for w in r.windows(2) {
                    d += inst.d(w[0], w[1]);
                }
                d
            })
            .sum()
    }

    /// VRPLIB solution text; clients are numbered as in VRPLIB files (node index, the depot 0
    /// left out), the cost with one decimal as VRPLIB's reference solutions give it.
    pub fn to_vrplib(&self, inst: &Instance) -> String {
        let mut out = String::new();
        let used: Vec<usize> = (0..self.routes.len())
            .filter(|&k| !self.routes[k].is_empty())
            .collect();
        for (i, &k) in used.iter().enumerate() {
            let ids: Vec<String> = self.routes[k].iter().map(|c| c.to_string()).collect();
            out.push_str(&format!("Route #{}: {}\n", i + 1, ids.join(" ")));
        }
        out.push_str(&format!("Cost {:.1}\n", self.cost(inst)));
        if inst.heterogeneous() {
            for (i, &k) in used.iter().enumerate() {
                out.push_str(&format!(
                    "Vehicle #{}: {}\n",
                    i + 1,
                    inst.types[self.kind(k)].name
                ));
            }
        }
        out
    }

    /// Reads `Route #k: …` lines and, for `inst`'s vehicle types, `Vehicle #k: type` lines
    /// (other lines ignored).
    pub fn parse_vrplib(text: &str, inst: &Instance) -> Result<Solution, InstanceError> {
        let mut routes = Vec::new();
        let mut kinds = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(rest) = line.trim().strip_prefix("Vehicle #") {
                let name = rest.split_once(':').map(|x| x.1.trim()).unwrap_or("");
                let t = inst
                    .types
                    .iter()
                    .position(|t| t.name == name)
                    .ok_or_else(|| InstanceError {
                        line: Some(i + 1),
                        message: format!("no vehicle type {name:?} in the instance"),
                    })?;
                kinds.push(t);
                continue;
            }
            let Some(rest) = line.trim().strip_prefix("Route #") else {
                continue;
            };
            let (_, ids) = rest.split_once(':').ok_or_else(|| InstanceError {
                line: Some(i + 1),
                message: "a route line is `Route #k: c1 c2 …`".into(),
            })?;
            let r = ids
                .split_whitespace()
                .map(|s| {
                    s.parse::<usize>().map_err(|_| InstanceError {
                        line: Some(i + 1),
                        message: format!("client {s:?} is not a number"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            routes.push(r);
        }
        if kinds.is_empty() {
            // Without `Vehicle #k` lines route k is numbered vehicle k's (PyVRP's dialect), or
            // every route is driven by the first type.
            kinds = if inst.vehicle_types.len() == routes.len() {
                inst.vehicle_types.clone()
            } else {
                vec![0; routes.len()]
            };
        }
        Ok(Solution { routes, kinds })
    }
}
