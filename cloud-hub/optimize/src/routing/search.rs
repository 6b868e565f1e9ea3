//! The search: regret-2 insertion builds a solution, then adaptive large neighbourhood search
//! (Ropke & Pisinger 2006) destroys and repairs it until the time limit — random, worst, related
//! (Shaw) and route removal; regret insertion with O(1) time-window checks from forward
//! earliest and backward latest start times, each pending client's best place per route kept
//! and recomputed only for the route that changed; a granular descent on every repaired
//! solution (relocate and swap towards the 12 nearest clients, 2-opt* towards them checked in
//! O(1), or-opt of strings of up to three clients and 2-opt within a route); simulated-annealing
//! acceptance, hot until every client has a place and then cool; operator weights adapted to
//! what found improvements. Anytime: the best solution so far is always at hand. With several vehicle
//! types each route has one (new routes take the cheapest that fits, a descent step moves a
//! route to a cheaper type); with a cold chain every move that could lengthen a ride out of
//! refrigeration is checked over the whole route.
//! Reproducible for a seed and an iteration budget (a time limit depends on the machine).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::instance::Instance;
use super::solution::Solution;

#[derive(Debug, Clone)]
pub struct Settings {
    pub time_limit: Duration,
    /// Stop after this many iterations even before the time limit (reproducible runs).
    pub max_iterations: Option<u64>,
    pub seed: u64,
    /// Set from another thread to stop the search early (it returns its best so far).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Settings {
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Reported on each new best solution: seconds since start, iterations, distance, cost (the
/// distance unless vehicle types have their own costs), routes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub elapsed_s: f64,
    pub iterations: u64,
    pub distance: f64,
    pub cost: f64,
    pub routes: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    #[error("client {client} cannot be served by any route: {why}")]
    Unservable { client: usize, why: String },
    #[error(
        "{count} client(s) could not be fitted into {vehicles} vehicles within their time windows and capacities (e.g. client {example}); add vehicles or widen the windows"
    )]
    NotEnoughVehicles {
        count: usize,
        vehicles: usize,
        example: usize,
    },
}

/// Penalty per unserved client while searching: more than a route of its own would cost in
/// the dearest vehicle (4 × the farthest client and 1,000 with one type at cost 1 per
/// distance).
fn penalty(inst: &Instance) -> f64 {
    let max = (0..inst.len()).map(|i| inst.d(0, i)).fold(0.0, f64::max);
    let dearest = inst
        .types
        .iter()
        .map(|t| t.fixed_cost + t.unit_cost * 4.0 * max)
        .fold(0.0, f64::max);
    let unit = inst.types.iter().map(|t| t.unit_cost).fold(1.0, f64::max);
    dearest + 1000.0 * unit
}

#[derive(Clone)]
struct State {
    routes: Vec<Vec<usize>>,
    /// The vehicle type of each route.
    kinds: Vec<usize>,
    unassigned: Vec<usize>,
}

/// Per-route schedule: earliest start at each position and latest start that keeps the rest
/// of the route feasible; positions include the depot at both ends.
struct Sched {
    earliest: Vec<f64>,
    latest: Vec<f64>,
    load: i64,
    /// Load of the clients up to each position (the depot at 0).
    cum: Vec<i64>,
}

fn schedule(inst: &Instance, r: &[usize]) -> Sched {
    let k = r.len();
    let node = |p: usize| if p == 0 || p == k + 1 { 0 } else { r[p - 1] };
    let mut earliest = vec![0.0; k + 2];
    earliest[0] = inst.ready[0];
    for p in 1..k + 2 {
        let (a, b) = (node(p - 1), node(p));
        earliest[p] = (earliest[p - 1] + inst.service[a] + inst.d(a, b)).max(inst.ready[b]);
    }
    let mut latest = vec![0.0; k + 2];
    latest[k + 1] = inst.due[0];
    for p in (0..k + 1).rev() {
        let (a, b) = (node(p), node(p + 1));
        latest[p] = inst.due[a].min(latest[p + 1] - inst.d(a, b) - inst.service[a]);
    }
    let mut cum = Vec::with_capacity(k + 1);
    cum.push(0);
    for &c in r {
        cum.push(cum[cum.len() - 1] + inst.demand[c]);
    }
    Sched {
        earliest,
        latest,
        load: cum[k],
        cum,
    }
}

fn route_distance(inst: &Instance, r: &[usize]) -> f64 {
    if r.is_empty() {
        return 0.0;
    }
    let mut d = inst.d(0, r[0]) + inst.d(r[r.len() - 1], 0);
    for w in r.windows(2) {
        d += inst.d(w[0], w[1]);
    }
    d
}

/// What route `r` costs driven by a vehicle of type `t`.
fn route_cost(inst: &Instance, r: &[usize], t: usize) -> f64 {
    if r.is_empty() {
        return 0.0;
    }
    let ty = &inst.types[t];
    ty.fixed_cost + ty.unit_cost * route_distance(inst, r)
}

impl State {
    fn cost(&self, inst: &Instance) -> f64 {
        self.routes
            .iter()
            .zip(&self.kinds)
            .map(|(r, &t)| route_cost(inst, r, t))
            .sum::<f64>()
            + self.unassigned.len() as f64 * penalty(inst)
    }

    fn used(&self) -> usize {
        self.routes.iter().filter(|r| !r.is_empty()).count()
    }

    /// Routes driven by vehicles of each type.
    fn used_by_type(&self, inst: &Instance) -> Vec<usize> {
        let mut n = vec![0; inst.types.len()];
        for (r, &t) in self.routes.iter().zip(&self.kinds) {
            if !r.is_empty() {
                n[t] += 1;
            }
        }
        n
    }

    fn drop_empty(&mut self) {
        let mut kinds = self.kinds.iter();
        let mut keep = Vec::with_capacity(self.kinds.len());
        self.routes.retain(|r| {
            let k = *kinds.next().unwrap_or(&0);
            if !r.is_empty() {
                keep.push(k);
            }
            !r.is_empty()
        });
        self.kinds = keep;
    }
}

/// Whether every client's goods that vehicle type `t` does not keep cold ride no longer than
/// their limit, the vehicle leaving the depot as late as the route's windows allow (leaving
/// later never lengthens a ride). Windows themselves are checked elsewhere.
fn rides_ok(inst: &Instance, r: &[usize], t: usize) -> bool {
    if r.iter().all(|&c| inst.keeps_cold(t, c)) {
        return true;
    }
    let mut latest = inst.due[0];
    let mut next = 0usize;
    for &c in r.iter().rev() {
        latest = (latest - inst.d(c, next) - inst.service[c]).min(inst.due[c]);
        next = c;
    }
    let depart = (latest - inst.d(0, next) - inst.service[0]).max(inst.ready[0]);
    let (mut time, mut at) = (depart, 0usize);
    for &c in r {
        let start = (time + inst.service[at] + inst.d(at, c)).max(inst.ready[c]);
        if !inst.keeps_cold(t, c) && start - depart > inst.max_out[c] + 1e-9 {
            return false;
        }
        time = start;
        at = c;
    }
    true
}

/// Cheapest feasible insertion of `c` into route `r` (with its schedule) driven by type `t`:
/// (extra cost, position).
fn best_in_route(
    inst: &Instance,
    r: &[usize],
    s: &Sched,
    c: usize,
    t: usize,
) -> Option<(f64, usize)> {
    if s.load + inst.demand[c] > inst.types[t].capacity
        || (!inst.keeps_cold(t, c) && inst.max_out[c] <= 0.0)
    {
        return None;
    }
    let unit = inst.types[t].unit_cost;
    let check_rides = inst.has_cold_chain();
    let k = r.len();
    let mut best: Option<(f64, usize)> = None;
    for p in 0..=k {
        let a = if p == 0 { 0 } else { r[p - 1] };
        let b = if p == k { 0 } else { r[p] };
        let arrive = s.earliest[p] + inst.service[a] + inst.d(a, c);
        if arrive > inst.due[c] {
            continue;
        }
        let start = arrive.max(inst.ready[c]);
        let next = start + inst.service[c] + inst.d(c, b);
        if next > s.latest[p + 1] {
            continue;
        }
        let delta = unit * (inst.d(a, c) + inst.d(c, b) - inst.d(a, b));
        if best.is_none_or(|(d, _)| delta < d) {
            if check_rides {
                let mut with = r.to_vec();
                with.insert(p, c);
                if !rides_ok(inst, &with, t) {
                    continue;
                }
            }
            best = Some((delta, p));
        }
    }
    best
}

/// The cheapest vehicle type still free that can serve `c` alone, within the whole fleet's
/// number of vehicles: (cost, type). With `big`, the largest such type instead (cheapest among
/// equals): routes that start big pack a tight fleet better.
fn new_route(inst: &Instance, used: &[usize], c: usize, big: bool) -> Option<(f64, usize)> {
    if inst.d(0, c).max(inst.ready[c]) > inst.due[c]
        || inst.d(0, c).max(inst.ready[c]) + inst.service[c] + inst.d(c, 0) > inst.due[0]
    {
        return None;
    }
    if let [only] = inst.types.as_slice() {
        // One type (the common case, and the hot path of the search): no choice to make.
        let free = used[0] < only.count.min(inst.vehicles);
        return (free && inst.demand[c] <= only.capacity && rides_ok(inst, &[c], 0))
            .then(|| (route_cost(inst, &[c], 0), 0));
    }
    if used.iter().sum::<usize>() >= inst.vehicles {
        return None;
    }
    (0..inst.types.len())
        .filter(|&t| {
            used[t] < inst.types[t].count
                && inst.demand[c] <= inst.types[t].capacity
                && rides_ok(inst, &[c], t)
        })
        .map(|t| (route_cost(inst, &[c], t), t))
        .min_by(|a, b| {
            let by_size = inst.types[b.1].capacity.cmp(&inst.types[a.1].capacity);
            if big {
                by_size.then(a.0.total_cmp(&b.0))
            } else {
                a.0.total_cmp(&b.0)
            }
        })
}

/// Where a client goes: extra cost, route (None: a new one), position, vehicle type.
type Place = (f64, Option<usize>, usize, usize);

/// The cheapest place for client `c` in route `ri` (noise included): in the route's own vehicle,
/// or, with several types, in a free vehicle that is bigger or keeps the goods colder.
#[allow(clippy::too_many_arguments)]
fn place_in(
    inst: &Instance,
    st: &State,
    scheds: &[Sched],
    used: &[usize],
    c: usize,
    ri: usize,
    max_noise: f64,
    rng: &mut StdRng,
) -> Option<Place> {
    let r = &st.routes[ri];
    let cur = st.kinds[ri];
    let mut here = best_in_route(inst, r, &scheds[ri], c, cur).map(|(d, p)| (d, p, cur));
    if inst.heterogeneous() {
        let now = route_cost(inst, r, cur);
        for t in (0..inst.types.len()).filter(|&t| t != cur && used[t] < inst.types[t].count) {
            if let Some((d, p)) = best_in_route(inst, r, &scheds[ri], c, t) {
                let d = d + route_cost(inst, r, t) - now;
                if here.is_none_or(|h| d < h.0) {
                    here = Some((d, p, t));
                }
            }
        }
    }
    here.map(|(d, p, t)| {
        let d = d + if max_noise > 0.0 {
            rng.random_range(-max_noise..=max_noise)
        } else {
            0.0
        };
        (d, Some(ri), p, t)
    })
}

/// Regret-2 insertion of every unassigned client (noise on costs diversifies). The best place
/// of each pending client in each route is kept and recomputed only for the route that changed
/// (for every route when the vehicles in use change, with several types).
fn repair(inst: &Instance, st: &mut State, rng: &mut StdRng, noise: f64, big: bool) {
    let mut scheds: Vec<Sched> = st.routes.iter().map(|r| schedule(inst, r)).collect();
    let mut used = st.used_by_type(inst);
    let mut pending = std::mem::take(&mut st.unassigned);
    let max_noise = noise * (0..inst.len()).map(|i| inst.d(0, i)).fold(0.0, f64::max);
    let hetero = inst.heterogeneous();
    // places[i][ri]: the best place of pending[i] in route ri.
    let mut places: Vec<Vec<Option<Place>>> = pending
        .iter()
        .map(|&c| {
            (0..st.routes.len())
                .map(|ri| place_in(inst, st, &scheds, &used, c, ri, max_noise, rng))
                .collect()
        })
        .collect();
    let mut ejections = 0;
    loop {
        while !pending.is_empty() {
            // (regret, client index in pending, place)
            let mut pick: Option<(f64, usize, Place)> = None;
            for (pi, &c) in pending.iter().enumerate() {
                let (mut b1, mut b2): (Place, f64) = ((f64::INFINITY, None, 0, 0), f64::INFINITY);
                let mut offer = |place: Place| {
                    if place.0 < b1.0 {
                        b2 = b1.0;
                        b1 = place;
                    } else if place.0 < b2 {
                        b2 = place.0;
                    }
                };
                for place in places[pi].iter().flatten() {
                    offer(*place);
                }
                // A new route, when a vehicle is free and the client can be reached in time.
                if let Some((d, t)) = new_route(inst, &used, c, big) {
                    offer((d, None, 0, t));
                }
                if !b1.0.is_finite() {
                    continue;
                }
                let regret = if b2.is_finite() {
                    b2 - b1.0
                } else {
                    f64::MAX / 4.0
                };
                if pick.is_none_or(|(best, _, place)| {
                    regret > best || (regret == best && b1.0 < place.0)
                }) {
                    pick = Some((regret, pi, b1));
                }
            }
            let Some((_, pi, (_, route, pos, t))) = pick else {
                break;
            };
            let c = pending.swap_remove(pi);
            places.swap_remove(pi);
            // With several types, a vehicle taken or exchanged changes which upgrades are free.
            let (changed, vehicles_changed) = match route {
                Some(ri) => {
                    st.routes[ri].insert(pos, c);
                    scheds[ri] = schedule(inst, &st.routes[ri]);
                    let retyped = st.kinds[ri] != t;
                    if retyped {
                        used[st.kinds[ri]] -= 1;
                        used[t] += 1;
                        st.kinds[ri] = t;
                    }
                    (ri, retyped)
                }
                None => {
                    st.routes.push(vec![c]);
                    st.kinds.push(t);
                    used[t] += 1;
                    scheds.push(schedule(inst, &st.routes[st.routes.len() - 1]));
                    for row in &mut places {
                        row.push(None);
                    }
                    (st.routes.len() - 1, true)
                }
            };
            let all = hetero && vehicles_changed;
            for (row, &c) in places.iter_mut().zip(&pending) {
                for (ri, slot) in row.iter_mut().enumerate() {
                    if all || ri == changed {
                        *slot = place_in(inst, st, &scheds, &used, c, ri, max_noise, rng);
                    }
                }
            }
        }
        // Clients left over (a tight fleet): one takes the place of a smaller one, which goes back
        // to the queue, at the least cost; bounded, so the search always moves on.
        if pending.is_empty() || ejections >= 2 * inst.len() {
            break;
        }
        let Some((pi, ri, j, p)) = ejection(inst, st, &pending) else {
            break;
        };
        let c = pending.swap_remove(pi);
        places.swap_remove(pi);
        let out = st.routes[ri].remove(j);
        st.routes[ri].insert(p, c);
        scheds[ri] = schedule(inst, &st.routes[ri]);
        pending.push(out);
        places.push(vec![None; st.routes.len()]);
        let last = pending.len() - 1;
        for (i, (row, &c)) in places.iter_mut().zip(&pending).enumerate() {
            for (rj, slot) in row.iter_mut().enumerate() {
                if rj == ri || i == last {
                    *slot = place_in(inst, st, &scheds, &used, c, rj, max_noise, rng);
                }
            }
        }
        ejections += 1;
    }
    st.unassigned = pending;
}

/// The cheapest way to serve a pending client by ejecting a client of smaller demand from a
/// route: (index in `pending`, route, position ejected, insertion position after ejection).
fn ejection(
    inst: &Instance,
    st: &State,
    pending: &[usize],
) -> Option<(usize, usize, usize, usize)> {
    let mut best: Option<(f64, (usize, usize, usize, usize))> = None;
    for (pi, &c) in pending.iter().enumerate() {
        for (ri, r) in st.routes.iter().enumerate() {
            let t = st.kinds[ri];
            for j in 0..r.len() {
                if inst.demand[r[j]] >= inst.demand[c] {
                    continue;
                }
                let (a, e, b) = neighbours(r, j);
                let saving = inst.d(a, e) + inst.d(e, b) - inst.d(a, b);
                let mut rest = r.clone();
                rest.remove(j);
                let sched = schedule(inst, &rest);
                if let Some((d, p)) = best_in_route(inst, &rest, &sched, c, t) {
                    let score = d - inst.types[t].unit_cost * saving;
                    if best.is_none_or(|(b, _)| score < b) {
                        best = Some((score, (pi, ri, j, p)));
                    }
                }
            }
        }
    }
    best.map(|b| b.1)
}

/// Whether a whole route keeps its windows, the depot's closing time, the capacity of vehicle
/// type `t` and the cold chain.
fn feasible(inst: &Instance, r: &[usize], t: usize) -> bool {
    if r.iter().map(|c| inst.demand[*c]).sum::<i64>() > inst.types[t].capacity {
        return false;
    }
    if inst.has_cold_chain() && !rides_ok(inst, r, t) {
        return false;
    }
    let (mut t, mut at) = (inst.ready[0], 0);
    for &c in r {
        let arrive = t + inst.service[at] + inst.d(at, c);
        if arrive > inst.due[c] {
            return false;
        }
        t = arrive.max(inst.ready[c]);
        at = c;
    }
    t + inst.service[at] + inst.d(at, 0) <= inst.due[0]
}

/// Descent to a local optimum: relocate a client to its best place in another route, and
/// 2-opt* (swap the tails of two routes), first improvement, until neither improves.
fn local_search(inst: &Instance, st: &mut State, near: &[Vec<usize>]) {
    let hetero = inst.heterogeneous();
    let mut improved = true;
    let mut rounds = 0;
    while improved && rounds < 50 {
        improved = false;
        rounds += 1;
        // Relocate.
        let mut scheds: Vec<Sched> = st.routes.iter().map(|r| schedule(inst, r)).collect();
        let mut route_of: Vec<usize> = vec![usize::MAX; inst.len()];
        for (ri, r) in st.routes.iter().enumerate() {
            for &c in r {
                route_of[c] = ri;
            }
        }
        'relocate: for a in 0..st.routes.len() {
            for p in 0..st.routes[a].len() {
                let r = &st.routes[a];
                let c = r[p];
                let prev = if p == 0 { 0 } else { r[p - 1] };
                let next = if p + 1 == r.len() { 0 } else { r[p + 1] };
                let saving = inst.types[st.kinds[a]].unit_cost
                    * (inst.d(prev, c) + inst.d(c, next) - inst.d(prev, next));
                let mut targets: Vec<usize> = near[c]
                    .iter()
                    .map(|&x| route_of[x])
                    .filter(|&b| b != a && b != usize::MAX)
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                for b in targets {
                    if let Some((delta, pos)) =
                        best_in_route(inst, &st.routes[b], &scheds[b], c, st.kinds[b])
                        && delta < saving - 1e-9
                    {
                        let mut shorter = st.routes[a].clone();
                        shorter.remove(p);
                        if !feasible(inst, &shorter, st.kinds[a]) {
                            continue;
                        }
                        st.routes[a] = shorter;
                        st.routes[b].insert(pos, c);
                        route_of[c] = b;
                        scheds[a] = schedule(inst, &st.routes[a]);
                        scheds[b] = schedule(inst, &st.routes[b]);
                        improved = true;
                        continue 'relocate;
                    }
                }
            }
        }
        st.drop_empty();
        improved |= tails(inst, st, near);
        st.drop_empty();
        // Swap: a client and one of its near neighbours in another route change places.
        let at = positions(st, inst.len());
        'swap: for ca in 1..inst.len() {
            let (a, p) = at[ca];
            if a == usize::MAX {
                continue;
            }
            for &cb in &near[ca] {
                let (b, q) = at[cb];
                if b == usize::MAX || b == a {
                    continue;
                }
                let (ra, rb) = (&st.routes[a], &st.routes[b]);
                let (pa, _, na) = neighbours(ra, p);
                let (pb, _, nb) = neighbours(rb, q);
                let (ka, kb) = (st.kinds[a], st.kinds[b]);
                let (ua, ub) = (inst.types[ka].unit_cost, inst.types[kb].unit_cost);
                let delta = ua
                    * (inst.d(pa, cb) + inst.d(cb, na) - inst.d(pa, ca) - inst.d(ca, na))
                    + ub * (inst.d(pb, ca) + inst.d(ca, nb) - inst.d(pb, cb) - inst.d(cb, nb));
                if delta >= -1e-9 {
                    continue;
                }
                let (mut new_a, mut new_b) = (ra.clone(), rb.clone());
                new_a[p] = cb;
                new_b[q] = ca;
                if feasible(inst, &new_a, ka) && feasible(inst, &new_b, kb) {
                    st.routes[a] = new_a;
                    st.routes[b] = new_b;
                    improved = true;
                    break 'swap;
                }
            }
        }
        for (r, &kind) in st.routes.iter_mut().zip(&st.kinds) {
            improved |= within(inst, r, kind);
        }
        // A route to a cheaper vehicle type that is free and can drive it.
        if hetero {
            let mut used = st.used_by_type(inst);
            for k in 0..st.routes.len() {
                let (r, cur) = (&st.routes[k], st.kinds[k]);
                let now = route_cost(inst, r, cur);
                let better = (0..inst.types.len())
                    .filter(|&t| t != cur && used[t] < inst.types[t].count)
                    .map(|t| (route_cost(inst, r, t), t))
                    .filter(|&(c, t)| c < now - 1e-9 && feasible(inst, r, t))
                    .min_by(|x, y| x.0.total_cmp(&y.0));
                if let Some((_, t)) = better {
                    used[cur] -= 1;
                    used[t] += 1;
                    st.kinds[k] = t;
                    improved = true;
                }
            }
        }
    }
}

/// Moves within one route, first improvement, once over the route: or-opt (a string of one to
/// three clients moved elsewhere in the route, order kept) and 2-opt (a string reversed, which
/// wide windows allow). The distance change is read from the string's ends and confirmed on the
/// whole route, so asymmetric distances are costed right.
fn within(inst: &Instance, r: &mut Vec<usize>, kind: usize) -> bool {
    let k = r.len();
    let before = route_distance(inst, r);
    let better =
        |cand: &[usize]| route_distance(inst, cand) < before - 1e-9 && feasible(inst, cand, kind);
    for len in 1..=3.min(k) {
        for p in 0..=k - len {
            let prev = if p == 0 { 0 } else { r[p - 1] };
            let next = if p + len == k { 0 } else { r[p + len] };
            let (first, last) = (r[p], r[p + len - 1]);
            let saving = inst.d(prev, first) + inst.d(last, next) - inst.d(prev, next);
            // The route without the string, read in place (built only for a promising move).
            let rest_len = k - len;
            let rest = |i: usize| if i < p { r[i] } else { r[i + len] };
            for q in 0..=rest_len {
                if q == p {
                    continue;
                }
                let a = if q == 0 { 0 } else { rest(q - 1) };
                let b = if q == rest_len { 0 } else { rest(q) };
                if inst.d(a, first) + inst.d(last, b) - inst.d(a, b) < saving - 1e-9 {
                    let moved: Vec<usize> = (0..q)
                        .map(rest)
                        .chain(r[p..p + len].iter().copied())
                        .chain((q..rest_len).map(rest))
                        .collect();
                    if better(&moved) {
                        *r = moved;
                        return true;
                    }
                }
            }
        }
    }
    for i in 0..k {
        let prev = if i == 0 { 0 } else { r[i - 1] };
        for j in i + 1..k {
            let next = if j + 1 == k { 0 } else { r[j + 1] };
            let delta =
                inst.d(prev, r[j]) + inst.d(r[i], next) - inst.d(prev, r[i]) - inst.d(r[j], next);
            if delta < -1e-9 {
                let mut turned = r.clone();
                turned[i..=j].reverse();
                if better(&turned) {
                    *r = turned;
                    return true;
                }
            }
        }
    }
    false
}

/// Each client's route and position (`usize::MAX` for clients not in a route).
fn positions(st: &State, n: usize) -> Vec<(usize, usize)> {
    let mut at = vec![(usize::MAX, 0); n];
    for (ri, r) in st.routes.iter().enumerate() {
        for (p, &c) in r.iter().enumerate() {
            at[c] = (ri, p);
        }
    }
    at
}

/// 2-opt* towards near neighbours: client x of route a and a near client y of another route b
/// swap tails so that y follows x (a[..=i] + b[j..] and b[..j] + a[i+1..]); near lists are not
/// symmetric, so each pair is tried both ways round over the sweep. With one vehicle type and
/// no cold chain a move is costed and checked in O(1) from the routes' schedules and loads;
/// otherwise whole routes are costed and checked. Applies every improving move of one sweep.
fn tails(inst: &Instance, st: &mut State, near: &[Vec<usize>]) -> bool {
    let simple = !inst.heterogeneous() && !inst.has_cold_chain();
    let mut scheds: Vec<Sched> = st.routes.iter().map(|r| schedule(inst, r)).collect();
    let mut at = positions(st, inst.len());
    let mut improved = false;
    for x in 1..inst.len() {
        for &y in &near[x] {
            let ((a, i), (b, j)) = (at[x], at[y]);
            if a == usize::MAX || b == usize::MAX || a == b {
                continue;
            }
            let (ra, rb) = (&st.routes[a], &st.routes[b]);
            let na = if i + 1 == ra.len() { 0 } else { ra[i + 1] };
            let pb = if j == 0 { 0 } else { rb[j - 1] };
            let (ka, kb) = (st.kinds[a], st.kinds[b]);
            if simple {
                let delta = inst.d(x, y) + inst.d(pb, na) - inst.d(x, na) - inst.d(pb, y);
                let (sa, sb) = (&scheds[a], &scheds[b]);
                if delta >= -1e-9
                    || sa.cum[i + 1] + sb.load - sb.cum[j] > inst.types[ka].capacity
                    || sb.cum[j] + sa.load - sa.cum[i + 1] > inst.types[kb].capacity
                    || sa.earliest[i + 1] + inst.service[x] + inst.d(x, y) > sb.latest[j + 1]
                    || sb.earliest[j] + inst.service[pb] + inst.d(pb, na) > sa.latest[i + 2]
                {
                    continue;
                }
            }
            let new_a: Vec<usize> = ra[..=i].iter().chain(&rb[j..]).copied().collect();
            let new_b: Vec<usize> = rb[..j].iter().chain(&ra[i + 1..]).copied().collect();
            if !simple
                && (route_cost(inst, &new_a, ka) + route_cost(inst, &new_b, kb)
                    >= route_cost(inst, ra, ka) + route_cost(inst, rb, kb) - 1e-9
                    || !feasible(inst, &new_a, ka)
                    || !feasible(inst, &new_b, kb))
            {
                continue;
            }
            for (p, &c) in new_a.iter().enumerate() {
                at[c] = (a, p);
            }
            for (p, &c) in new_b.iter().enumerate() {
                at[c] = (b, p);
            }
            scheds[a] = schedule(inst, &new_a);
            scheds[b] = schedule(inst, &new_b);
            st.routes[a] = new_a;
            st.routes[b] = new_b;
            improved = true;
        }
    }
    improved
}

/// The node before, the client at, and the node after position `p` (the depot at the ends).
fn neighbours(r: &[usize], p: usize) -> (usize, usize, usize) {
    (
        if p == 0 { 0 } else { r[p - 1] },
        r[p],
        if p + 1 == r.len() { 0 } else { r[p + 1] },
    )
}

#[derive(Clone, Copy)]
enum Destroy {
    Random,
    Worst,
    Related,
    Route,
}

const DESTROYS: [Destroy; 4] = [
    Destroy::Random,
    Destroy::Worst,
    Destroy::Related,
    Destroy::Route,
];

fn remove(st: &mut State, c: usize) {
    for r in &mut st.routes {
        if let Some(p) = r.iter().position(|x| *x == c) {
            r.remove(p);
            break;
        }
    }
    st.unassigned.push(c);
}

fn destroy(inst: &Instance, st: &mut State, op: Destroy, q: usize, rng: &mut StdRng) {
    let assigned: Vec<usize> = st.routes.iter().flatten().copied().collect();
    if assigned.is_empty() {
        return;
    }
    match op {
        Destroy::Random => {
            for _ in 0..q.min(assigned.len()) {
                let all: Vec<usize> = st.routes.iter().flatten().copied().collect();
                let c = all[rng.random_range(0..all.len())];
                remove(st, c);
            }
        }
        Destroy::Worst => {
            for _ in 0..q.min(assigned.len()) {
                let mut saves: Vec<(f64, usize)> = Vec::new();
                for r in &st.routes {
                    for (p, &c) in r.iter().enumerate() {
                        let a = if p == 0 { 0 } else { r[p - 1] };
                        let b = if p + 1 == r.len() { 0 } else { r[p + 1] };
                        saves.push((inst.d(a, c) + inst.d(c, b) - inst.d(a, b), c));
                    }
                }
                if saves.is_empty() {
                    break;
                }
                saves.sort_by(|x, y| y.0.total_cmp(&x.0));
                // Randomised: mostly the worst, sometimes further down the list.
                let i = ((rng.random::<f64>().powi(4)) * saves.len() as f64) as usize;
                remove(st, saves[i.min(saves.len() - 1)].1);
            }
        }
        Destroy::Related => {
            let seed = assigned[rng.random_range(0..assigned.len())];
            let span = inst.due[0].max(1.0);
            let maxd = (0..inst.len()).map(|i| inst.d(0, i)).fold(1.0, f64::max);
            let mut rel: Vec<(f64, usize)> = assigned
                .iter()
                .map(|&c| {
                    let r = inst.d(seed, c) / maxd
                        + 0.5 * (inst.ready[seed] - inst.ready[c]).abs() / span
                        + 0.2 * (inst.demand[seed] - inst.demand[c]).abs() as f64
                            / inst.capacity as f64;
                    (r, c)
                })
                .collect();
            rel.sort_by(|a, b| a.0.total_cmp(&b.0));
            for &(_, c) in rel.iter().take(q) {
                remove(st, c);
            }
        }
        Destroy::Route => {
            // A short route, then random clients up to q.
            let used: Vec<usize> = (0..st.routes.len())
                .filter(|&i| !st.routes[i].is_empty())
                .collect();
            let i = used
                .iter()
                .copied()
                .min_by_key(|&i| st.routes[i].len() * 4 + rng.random_range(0..4))
                .unwrap_or(0);
            let clients = std::mem::take(&mut st.routes[i]);
            let n = clients.len();
            st.unassigned.extend(clients);
            if n < q {
                destroy(inst, st, Destroy::Random, q - n, rng);
            }
        }
    }
    st.drop_empty();
}

/// Solves `inst` within the settings; `on_best` hears of every new best solution.
pub fn solve(
    inst: &Instance,
    settings: &Settings,
    on_best: &mut dyn FnMut(Progress),
) -> Result<Solution, SolveError> {
    // Clients no route can ever serve are reported at once, with the reason.
    for c in 1..inst.len() {
        let arrive = inst.d(0, c).max(inst.ready[c]);
        if arrive > inst.due[c] {
            return Err(SolveError::Unservable {
                client: c,
                why: format!(
                    "leaving the depot at once it arrives at {:.1}, after its window closes at {}",
                    inst.d(0, c) + inst.ready[0],
                    inst.due[c]
                ),
            });
        }
        if arrive + inst.service[c] + inst.d(c, 0) > inst.due[0] {
            return Err(SolveError::Unservable {
                client: c,
                why: format!(
                    "serving it the vehicle is back at {:.1}, after the depot closes at {}",
                    arrive + inst.service[c] + inst.d(c, 0),
                    inst.due[0]
                ),
            });
        }
    }
    for c in 1..inst.len() {
        if new_route(inst, &vec![0; inst.types.len()], c, false).is_none() {
            let cap = inst
                .types
                .iter()
                .filter(|t| t.capacity >= inst.demand[c])
                .count();
            let why = if cap == 0 {
                format!(
                    "it demands {} and no vehicle type carries that much",
                    inst.demand[c]
                )
            } else {
                format!(
                    "its {} goods may ride {} out of refrigeration, and no vehicle type that carries its {} units keeps them cold or reaches it in time",
                    inst.class_names[inst.class[c]], inst.max_out[c], inst.demand[c]
                )
            };
            return Err(SolveError::Unservable { client: c, why });
        }
    }
    let started = Instant::now();
    // Granular neighbourhoods: moves only between a client and its nearest clients.
    const NEAR: usize = 12;
    let near: Vec<Vec<usize>> = (0..inst.len())
        .map(|c| {
            if c == 0 {
                return Vec::new();
            }
            let mut others: Vec<usize> = (1..inst.len()).filter(|&o| o != c).collect();
            others.sort_by(|&x, &y| inst.d(c, x).total_cmp(&inst.d(c, y)));
            others.truncate(NEAR);
            others
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut cur = State {
        routes: Vec::new(),
        kinds: Vec::new(),
        unassigned: (1..inst.len()).collect(),
    };
    repair(inst, &mut cur, &mut rng, 0.0, false);
    if inst.heterogeneous() && !cur.unassigned.is_empty() {
        // The fleet is tight: start again opening the biggest vehicles first.
        let mut big = State {
            routes: Vec::new(),
            kinds: Vec::new(),
            unassigned: (1..inst.len()).collect(),
        };
        repair(inst, &mut big, &mut rng, 0.0, true);
        if big.cost(inst) < cur.cost(inst) {
            cur = big;
        }
    }
    let mut cur_cost = cur.cost(inst);
    let mut best = cur.clone();
    let mut best_cost = cur_cost;
    let report = |st: &State, it: u64, f: &mut dyn FnMut(Progress)| {
        f(Progress {
            elapsed_s: started.elapsed().as_secs_f64(),
            iterations: it,
            distance: st.routes.iter().map(|r| route_distance(inst, r)).sum(),
            cost: st.cost(inst),
            routes: st.used(),
        })
    };
    if best.unassigned.is_empty() {
        report(&best, 0, on_best);
    }
    let n = inst.clients();
    let (q_min, q_max) = (4.min(n).max(1), (n * 3 / 10).clamp(1, 60).max(4.min(n)));
    let mut weights = [1.0f64; 4];
    let mut scores = [0.0f64; 4];
    let mut uses = [0u32; 4];
    // Annealing: a solution 0.3 % worse than the start is accepted half the time at first
    // (measured on RC208 and generated 200/400-client instances at 20 s, seeds 1–2: 5 % gave a
    // mean gap of 1.02 %, 1 % 0.61 %, 0.5 % 0.60 %, 0.3 % 0.35 %, 0.1 % 0.81 %).
    let t0 = 0.003 * cur_cost / std::f64::consts::LN_2;
    // Until every client has a place (a tight fleet), the search runs hot, as at 5 %: packing
    // needs many worse steps.
    let t_pack = 0.05 * cur_cost / std::f64::consts::LN_2;
    let limit = settings.time_limit.as_secs_f64().max(1e-3);
    let mut it: u64 = 0;
    loop {
        it += 1;
        if settings.max_iterations.is_some_and(|m| it > m) || settings.cancelled() {
            break;
        }
        // Progress through the budget (time, iterations or both) drives the cooling.
        let by_iter = settings.max_iterations.map(|m| it as f64 / m as f64);
        let frac = if settings.time_limit.is_zero() {
            by_iter.unwrap_or(1.0)
        } else {
            let by_time = started.elapsed().as_secs_f64() / limit;
            if by_time >= 1.0 {
                break;
            }
            by_iter.map_or(by_time, |f| f.max(by_time))
        };
        let temp = if best.unassigned.is_empty() {
            t0 * (1.0 - frac).max(0.0).powi(2) + 1e-9
        } else {
            t_pack * (1.0 - frac).max(0.0).powi(2) + 1e-9
        };
        let total: f64 = weights.iter().sum();
        let mut pick = rng.random::<f64>() * total;
        let mut op = 0;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                op = i;
                break;
            }
            pick -= w;
        }
        let q = rng.random_range(q_min..=q_max);
        let mut cand = cur.clone();
        destroy(inst, &mut cand, DESTROYS[op], q, &mut rng);
        let noise = if rng.random::<f64>() < 0.3 {
            0.025
        } else {
            0.0
        };
        // While clients are left over in a mixed fleet, half the repairs open big vehicles.
        let big = inst.heterogeneous() && !best.unassigned.is_empty() && rng.random::<f64>() < 0.5;
        repair(inst, &mut cand, &mut rng, noise, big);
        if cand.unassigned.is_empty() {
            local_search(inst, &mut cand, &near);
        }
        let cost = cand.cost(inst);
        uses[op] += 1;
        if cost < best_cost - 1e-9 {
            best = cand.clone();
            best_cost = cost;
            cur = cand;
            cur_cost = cost;
            scores[op] += 33.0;
            if best.unassigned.is_empty() {
                report(&best, it, on_best);
            }
        } else if cost < cur_cost - 1e-9 {
            cur = cand;
            cur_cost = cost;
            scores[op] += 9.0;
        } else if rng.random::<f64>() < (-(cost - cur_cost) / temp).exp() {
            cur = cand;
            cur_cost = cost;
            scores[op] += 13.0;
        }
        if it.is_multiple_of(100) {
            for i in 0..4 {
                if uses[i] > 0 {
                    weights[i] = 0.8 * weights[i] + 0.2 * scores[i] / uses[i] as f64;
                }
                weights[i] = weights[i].max(0.05);
                scores[i] = 0.0;
                uses[i] = 0;
            }
        }
    }
    if let Some(&example) = best.unassigned.first() {
        return Err(SolveError::NotEnoughVehicles {
            count: best.unassigned.len(),
            vehicles: inst.vehicles,
            example,
        });
    }
    best.drop_empty();
    Ok(Solution {
        routes: best.routes,
        kinds: best.kinds,
    })
}
