//! A routing solution: routes of client indices (the depot, 0, is implied at both ends), its
//! distance, and the VRPLIB `.sol` text (`Route #k: …` with VRPLIB client numbers, `Cost …`).

use super::instance::{Instance, InstanceError};

#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub routes: Vec<Vec<usize>>,
}

impl Solution {
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
        for (k, r) in self.routes.iter().filter(|r| !r.is_empty()).enumerate() {
            let ids: Vec<String> = r.iter().map(|c| c.to_string()).collect();
            out.push_str(&format!("Route #{}: {}\n", k + 1, ids.join(" ")));
        }
        out.push_str(&format!("Cost {:.1}\n", self.distance(inst)));
        out
    }

    /// Reads `Route #k: …` lines (other lines ignored).
    pub fn parse_vrplib(text: &str) -> Result<Solution, InstanceError> {
        let mut routes = Vec::new();
        for (i, line) in text.lines().enumerate() {
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
        Ok(Solution { routes })
    }
}
