//! An independent feasibility check: recomputes every route from the instance alone (no state
//! shared with the search) and lists every violated constraint — each client served exactly
//! once, capacity of the route's vehicle type, time windows (waiting allowed when early), return
//! before the depot closes, the number of vehicles of each type, and the cold chain: goods a
//! vehicle does not keep cold ride no longer than their limit (the vehicle leaving the depot as
//! late as its route allows, which shortens every ride at once).

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
    UnknownType {
        route: usize,
        kind: usize,
    },
    TooManyOfType {
        kind: String,
        routes: usize,
        count: usize,
    },
    OutOfRefrigeration {
        route: usize,
        client: usize,
        ride: f64,
        limit: f64,
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
            Violation::UnknownType { route, kind } => {
                write!(f, "route {route}: vehicle type {kind} does not exist")
            }
            Violation::TooManyOfType {
                kind,
                routes,
                count,
            } => write!(
                f,
                "{routes} routes of vehicle type {kind} but {count} such vehicles"
            ),
            Violation::OutOfRefrigeration {
                route,
                client,
                ride,
                limit,
            } => write!(
                f,
                "route {route}: client {client}'s goods ride {ride:.2} out of refrigeration, longer than their {limit}"
            ),
        }
    }
}

/// Every violation of `sol` (empty: feasible). Times compare with a 1e-6 tolerance.
pub fn check(inst: &Instance, sol: &Solution) -> Vec<Violation> {
    let mut out = Vec::new();
    let n = inst.len();
    let mut seen = vec![0u32; n];
    let used: Vec<(usize, &Vec<usize>)> = sol
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(k, r)| (sol.kind(k), r))
        .collect();
    if used.len() > inst.vehicles {
        out.push(Violation::TooManyRoutes {
            routes: used.len(),
            vehicles: inst.vehicles,
        });
    }
    for (t, ty) in inst.types.iter().enumerate() {
        let routes = used.iter().filter(|(k, _)| *k == t).count();
        if routes > ty.count {
            out.push(Violation::TooManyOfType {
                kind: ty.name.clone(),
                routes,
                count: ty.count,
            });
        }
    }
    for (k, &(kind, r)) in used.iter().enumerate() {
        let route = k + 1;
        let Some(ty) = inst.types.get(kind) else {
            out.push(Violation::UnknownType { route, kind });
            continue;
        };
        if r.iter().any(|&c| c == 0 || c >= n) {
            for &c in r.iter() {
                if c == 0 {
                    out.push(Violation::DepotInRoute { route });
                } else if c >= n {
                    out.push(Violation::UnknownClient { route, client: c });
                }
            }
            continue;
        }
        // The latest departure that keeps every window: backwards from the depot's closing.
        let mut latest = inst.due[0];
        let mut next = 0usize;
        for &c in r.iter().rev() {
            latest = (latest - inst.d(c, next) - inst.service[c]).min(inst.due[c]);
            next = c;
        }
        let depart = (latest - inst.d(0, next) - inst.service[0]).max(inst.ready[0]);
        let mut load = 0i64;
        let mut t = depart;
        let mut at = 0usize;
        for &c in r.iter() {
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
            let start = arrival.max(inst.ready[c]);
            let cold = inst.class[c] == 0 || ty.classes & (1 << inst.class[c]) != 0;
            if !cold && start - depart > inst.max_out[c] + 1e-6 {
                out.push(Violation::OutOfRefrigeration {
                    route,
                    client: c,
                    ride: start - depart,
                    limit: inst.max_out[c],
                });
            }
            t = start + inst.service[c];
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
        if load > ty.capacity {
            out.push(Violation::Capacity {
                route,
                load,
                capacity: ty.capacity,
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
