//! An independent feasibility check: recomputes every route from the instance alone (no state
//! shared with the search) and lists every violated constraint — each client served exactly
//! once, capacity, time windows (waiting allowed when early), return before the depot closes,
//! the number of vehicles.

use super::instance::Instance;
use super::solution::Solution;

#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    UnknownClient {
        route: usize,
        client: usize,
    },
    DepotInRoute {
        route: usize,
    },
    Missing {
        client: usize,
    },
    Repeated {
        client: usize,
    },
    Capacity {
        route: usize,
        load: i64,
        capacity: i64,
    },
    Late {
        route: usize,
        client: usize,
        arrival: f64,
        due: f64,
    },
    LateAtDepot {
        route: usize,
        arrival: f64,
        due: f64,
    },
    TooManyRoutes {
        routes: usize,
        vehicles: usize,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::UnknownClient { route, client } => {
                write!(f, "route {route}: client {client} does not exist")
            }
            Violation::DepotInRoute { route } => {
                write!(f, "route {route} visits the depot in its middle")
            }
            Violation::Missing { client } => write!(f, "client {client} is not served"),
            Violation::Repeated { client } => write!(f, "client {client} is served more than once"),
            Violation::Capacity {
                route,
                load,
                capacity,
            } => write!(f, "route {route} carries {load} > capacity {capacity}"),
            Violation::Late {
                route,
                client,
                arrival,
                due,
            } => write!(
                f,
                "route {route}: client {client} reached at {arrival:.2}, after its window closes at {due}"
            ),
            Violation::LateAtDepot {
                route,
                arrival,
                due,
            } => write!(
                f,
                "route {route} returns at {arrival:.2}, after the depot closes at {due}"
            ),
            Violation::TooManyRoutes { routes, vehicles } => {
                write!(f, "{routes} routes but {vehicles} vehicles")
            }
        }
    }
}

/// Every violation of `sol` (empty: feasible). Times compare with a 1e-6 tolerance.
pub fn check(inst: &Instance, sol: &Solution) -> Vec<Violation> {
    let mut out = Vec::new();
    let n = inst.len();
    let mut seen = vec![0u32; n];
    let used: Vec<&Vec<usize>> = sol.routes.iter().filter(|r| !r.is_empty()).collect();
    if used.len() > inst.vehicles {
        out.push(Violation::TooManyRoutes {
            routes: used.len(),
            vehicles: inst.vehicles,
        });
    }
    for (k, r) in used.iter().enumerate() {
        let route = k + 1;
        let mut load = 0i64;
        let mut t = inst.ready[0];
        let mut at = 0usize;
        for &c in r.iter() {
            if c == 0 {
                out.push(Violation::DepotInRoute { route });
                continue;
            }
            if c >= n {
                out.push(Violation::UnknownClient { route, client: c });
                continue;
            }
            seen[c] += 1;
            load += inst.demand[c];
            let arrival = t + inst.d(at, c);
            if arrival > inst.due[c] + 1e-6 {
                out.push(Violation::Late {
                    route,
                    client: c,
                    arrival,
                    due: inst.due[c],
                });
            }
            t = arrival.max(inst.ready[c]) + inst.service[c];
            at = c;
        }
        let back = t + inst.d(at, 0);
        if back > inst.due[0] + 1e-6 {
            out.push(Violation::LateAtDepot {
                route,
                arrival: back,
                due: inst.due[0],
            });
        }
        if load > inst.capacity {
            out.push(Violation::Capacity {
                route,
                load,
                capacity: inst.capacity,
            });
        }
    }
    for (c, &s) in seen.iter().enumerate().skip(1) {
        match s {
            0 => out.push(Violation::Missing { client: c }),
            1 => {}
            _ => out.push(Violation::Repeated { client: c }),
        }
    }
    out
}
