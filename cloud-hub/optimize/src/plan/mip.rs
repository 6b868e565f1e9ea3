//! The planning MIP on HiGHS.
//!
//! Per line `l`, period `t`: `o` (the line runs, its crew is called), per product it can make
//! `y` (a run: set-up time and cost) and `x` (units), per allergen profile `z` (some run of that
//! profile). Runs in a period follow the profile order, so the clean-downs inside a period are
//! the consecutive used profiles `j → k` where `j` carries an allergen `k` lacks:
//! `w_jk ≥ z_j + z_k − 1 − Σ_{j<m<k} z_m`. Across periods the line's state `e` (the profile it
//! last ran, carried over idle periods) and the first profile `f` give the clean-down at the
//! start: `b ≥ e_{t−1,j} + f_k − 1`. Hours: `Σ x/rate + set-ups + clean-downs ≤ hours · o`;
//! crews: `Σ crew · o ≤ crews`. Per product: stock balance, shipments within demand and above
//! the demand floor, and the shelf life first-in first-out: stock at the end of `t` is shipped
//! within the next `L − 1` periods, `I_t ≤ Σ_{τ=t+1}^{t+L−1} s_τ` (what outlasts the horizon
//! may stay). Costs: holding, shortage, set-ups, clean-downs.
//!
//! An infeasible plan is explained by the elastic model: each hard row gets a slack, the total
//! slack is minimised, and the rows that needed one are the conflict.

use std::time::Instant;

use highs::{Col, HighsModelStatus, HighsSolutionStatus, RowProblem, Sense};

use super::check::{Plan, Run};
use super::instance::Plant;
use super::sequence::Profiles;

/// Column indices of one line-period.
struct Cell {
    o: Col,
    /// (product, y, x, rate)
    runs: Vec<(usize, Col, Col, f64)>,
    /// (profile, z)
    z: Vec<(usize, Col)>,
    /// (from, to, w)
    w: Vec<(usize, usize, Col)>,
    /// (profile, f)
    f: Vec<(usize, Col)>,
    /// (profile, e): every profile the line can be in
    e: Vec<(usize, Col)>,
    b: Option<Col>,
}

/// A hard row's slack in the elastic model and what it stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Conflict {
    Hours {
        line: usize,
        period: usize,
    },
    Crews {
        period: usize,
    },
    Floor {
        product: usize,
        period: usize,
    },
    ShelfLife {
        product: usize,
        period: Option<usize>,
    },
}

pub(super) struct Built {
    pub problem: RowProblem,
    pub columns: usize,
    pub integers: usize,
    pub rows: usize,
    cells: Vec<Vec<Cell>>,
    /// (product) → per period (I, s)
    stock: Vec<Vec<(Col, Col)>>,
    pub slacks: Vec<(Col, Conflict, f64)>,
}

/// Which periods' yes/no decisions are integer: those before `integer.start` are fixed to
/// their values in `fixed`, those from `integer.end` on are relaxed to 0..1 (relax-and-fix).
#[derive(Debug, Clone, Copy)]
pub(super) struct Window<'a> {
    pub integer: (usize, usize),
    pub fixed: Option<&'a [f64]>,
}

impl Window<'_> {
    pub const ALL: Window<'static> = Window {
        integer: (0, usize::MAX),
        fixed: None,
    };
}

/// A column counter next to HiGHS's, so a full start vector can be laid out.
struct Builder<'a> {
    pb: RowProblem,
    cols: usize,
    ints: usize,
    rows: usize,
    window: Window<'a>,
    /// The period whose columns are being added.
    period: usize,
}

impl Builder<'_> {
    fn cont(&mut self, cost: f64, lo: f64, hi: f64) -> Col {
        self.cols += 1;
        self.pb.add_column(cost, lo..=hi)
    }
    fn binary(&mut self, cost: f64) -> Col {
        let (from, to) = self.window.integer;
        let index = self.cols;
        self.cols += 1;
        if self.period < from {
            let v = self
                .window
                .fixed
                .and_then(|f| f.get(index))
                .map_or(0.0, |v| v.round());
            self.pb.add_column(cost, v..=v)
        } else if self.period >= to {
            self.pb.add_column(cost, 0.0..=1.0)
        } else {
            self.ints += 1;
            self.pb.add_integer_column(cost, 0.0..=1.0)
        }
    }
    fn nonneg(&mut self, cost: f64) -> Col {
        self.cols += 1;
        self.pb.add_column(cost, 0.0..)
    }
    fn le(&mut self, rhs: f64, terms: &[(Col, f64)]) {
        self.rows += 1;
        self.pb.add_row(..=rhs, terms);
    }
    fn ge(&mut self, rhs: f64, terms: &[(Col, f64)]) {
        self.rows += 1;
        self.pb.add_row(rhs.., terms);
    }
    fn eq(&mut self, rhs: f64, terms: &[(Col, f64)]) {
        self.rows += 1;
        self.pb.add_row(rhs..=rhs, terms);
    }
}

/// Builds the model; `elastic` gives every hard row a slack and prices only the slacks.
pub(super) fn build(plant: &Plant, prof: &Profiles, elastic: bool, window: Window) -> Built {
    let mut m = Builder {
        pb: RowProblem::default(),
        cols: 0,
        ints: 0,
        rows: 0,
        window,
        period: 0,
    };
    let price = |c: f64| if elastic { 0.0 } else { c };
    let mut slacks = Vec::new();
    let t_n = plant.periods;
    let mut cells: Vec<Vec<Cell>> = Vec::new();
    for (l, line) in plant.lines.iter().enumerate() {
        let mut line_profiles: Vec<usize> = line
            .rates
            .iter()
            .map(|(p, _)| prof.of_product[*p])
            .collect();
        line_profiles.sort();
        line_profiles.dedup();
        let mut states = line_profiles.clone();
        states.push(prof.of_line_start[l]);
        states.sort();
        states.dedup();
        let mut row = Vec::with_capacity(t_n);
        for t in 0..t_n {
            m.period = t;
            let hours = line.hours[t];
            let runs_here = hours > 0.0;
            let o = if runs_here {
                m.binary(0.0)
            } else {
                m.cont(0.0, 0.0, 0.0)
            };
            let mut cell = Cell {
                o,
                runs: Vec::new(),
                z: Vec::new(),
                w: Vec::new(),
                f: Vec::new(),
                e: Vec::new(),
                b: None,
            };
            if runs_here {
                for &(p, rate) in &line.rates {
                    let product = &plant.products[p];
                    // A run never needs to make more than can ship within its shelf life: this
                    // bound, not the line's hours alone, is what keeps the relaxation tight.
                    let until = (t + product.shelf_life).min(t_n);
                    let mut sellable: f64 = product.demand[t..until].iter().sum();
                    if t + product.shelf_life > t_n {
                        sellable = sellable.max(product.min_lot);
                    }
                    let most = (rate * hours).min(sellable);
                    if most <= 0.0 {
                        continue;
                    }
                    let y = m.binary(price(product.setup_cost));
                    let x = m.cont(0.0, 0.0, most);
                    m.le(0.0, &[(y, 1.0), (o, -1.0)]);
                    m.le(0.0, &[(x, 1.0), (y, -most)]);
                    // A run makes at least one unit (or its minimum lot): a run of nothing
                    // would change the line's allergen state on paper only.
                    m.ge(0.0, &[(x, 1.0), (y, -product.min_lot.max(1.0).min(most))]);
                    cell.runs.push((p, y, x, rate));
                }
                for &k in &line_profiles {
                    let z = m.binary(0.0);
                    let mut upper = vec![(z, 1.0)];
                    for &(p, y, _, _) in &cell.runs {
                        if prof.of_product[p] == k {
                            m.le(0.0, &[(y, 1.0), (z, -1.0)]);
                            upper.push((y, -1.0));
                        }
                    }
                    m.le(0.0, &upper);
                    cell.z.push((k, z));
                }
                for (a, &(j, zj)) in cell.z.iter().enumerate() {
                    for (c, &(k, zk)) in cell.z.iter().enumerate().skip(a + 1) {
                        if !prof.needs_cleandown(j, k) {
                            continue;
                        }
                        let w = m.cont(price(plant.cleandown_cost), 0.0, 1.0);
                        let mut terms = vec![(w, 1.0), (zj, -1.0), (zk, -1.0)];
                        terms.extend(cell.z[a + 1..c].iter().map(|&(_, zm)| (zm, 1.0)));
                        m.ge(-1.0, &terms);
                        cell.w.push((j, k, w));
                    }
                }
                for (a, &(k, zk)) in cell.z.iter().enumerate() {
                    let f = m.cont(0.0, 0.0, 1.0);
                    let mut terms = vec![(f, 1.0), (zk, -1.0)];
                    terms.extend(cell.z[..a].iter().map(|&(_, zm)| (zm, 1.0)));
                    m.ge(0.0, &terms);
                    cell.f.push((k, f));
                }
            }
            // The line's state after this period.
            for &k in &states {
                let e = m.cont(0.0, 0.0, 1.0);
                if let Some(a) = cell.z.iter().position(|&(kk, _)| kk == k) {
                    let mut terms = vec![(e, 1.0), (cell.z[a].1, -1.0)];
                    terms.extend(cell.z[a + 1..].iter().map(|&(_, zm)| (zm, 1.0)));
                    m.ge(0.0, &terms);
                }
                let all_z: Vec<(Col, f64)> = cell.z.iter().map(|&(_, z)| (z, 1.0)).collect();
                let mut terms = vec![(e, 1.0)];
                terms.extend(all_z.iter().copied());
                if t == 0 {
                    let start = if prof.of_line_start[l] == k { 1.0 } else { 0.0 };
                    m.ge(start, &terms);
                } else {
                    let prev: &Cell = &row[t - 1];
                    if let Some(&(_, ep)) = prev.e.iter().find(|&&(kk, _)| kk == k) {
                        terms.push((ep, -1.0));
                        m.ge(0.0, &terms);
                    }
                }
                cell.e.push((k, e));
            }
            if runs_here && !cell.f.is_empty() {
                let b = m.cont(price(plant.cleandown_cost), 0.0, 1.0);
                for &(k, f) in &cell.f {
                    if t == 0 {
                        let j = prof.of_line_start[l];
                        if prof.needs_cleandown(j, k) {
                            m.ge(0.0, &[(b, 1.0), (f, -1.0)]);
                        }
                    } else {
                        let prev: &Cell = &row[t - 1];
                        for &(j, ep) in &prev.e {
                            if prof.needs_cleandown(j, k) {
                                m.ge(-1.0, &[(b, 1.0), (ep, -1.0), (f, -1.0)]);
                            }
                        }
                    }
                }
                cell.b = Some(b);
                let mut terms: Vec<(Col, f64)> = Vec::new();
                for &(p, y, x, rate) in &cell.runs {
                    terms.push((x, 1.0 / rate));
                    terms.push((y, plant.products[p].setup_hours));
                }
                for &(_, _, w) in &cell.w {
                    terms.push((w, plant.cleandown_hours));
                }
                terms.push((b, plant.cleandown_hours));
                terms.push((o, -hours));
                if elastic {
                    let s = m.nonneg(1.0);
                    terms.push((s, -1.0));
                    slacks.push((s, Conflict::Hours { line: l, period: t }, 1.0));
                }
                m.le(0.0, &terms);
            }
            row.push(cell);
        }
        cells.push(row);
    }
    for t in 0..t_n {
        let mut terms: Vec<(Col, f64)> = cells
            .iter()
            .enumerate()
            .filter(|(l, _)| plant.lines[*l].crew > 0.0)
            .map(|(l, row)| (row[t].o, plant.lines[l].crew))
            .collect();
        if elastic {
            let s = m.nonneg(1.0);
            terms.push((s, -1.0));
            slacks.push((s, Conflict::Crews { period: t }, 1.0));
        }
        m.le(plant.crews[t], &terms);
    }
    let mut stock = Vec::with_capacity(plant.products.len());
    for (p, product) in plant.products.iter().enumerate() {
        // Units weighed like hours in the elastic objective, at the product's best rate.
        let unit_weight = 1.0
            / plant
                .lines
                .iter()
                .filter_map(|l| l.rate(p))
                .fold(1.0, f64::max);
        // Per period (stock at its end, demand not met).
        let mut per: Vec<(Col, Col)> = Vec::with_capacity(t_n);
        for t in 0..t_n {
            let d = product.demand[t];
            let i = m.nonneg(price(product.holding_cost));
            let u = m.cont(price(product.shortage_cost), 0.0, d);
            let mut terms = vec![(i, 1.0), (u, -1.0)];
            if t > 0 {
                terms.push((per[t - 1].0, -1.0));
            }
            for row in &cells {
                for &(pp, _, x, _) in &row[t].runs {
                    if pp == p {
                        terms.push((x, -1.0));
                    }
                }
            }
            let initial = if t == 0 { product.initial_stock } else { 0.0 };
            m.eq(initial - d, &terms);
            let floor = product.min_service * d;
            if floor > 0.0 {
                let mut terms = vec![(u, 1.0)];
                if elastic {
                    let sl = m.nonneg(unit_weight);
                    terms.push((sl, -1.0));
                    slacks.push((
                        sl,
                        Conflict::Floor {
                            product: p,
                            period: t,
                        },
                        unit_weight,
                    ));
                }
                m.le(d - floor, &terms);
            }
            per.push((i, u));
        }
        let last = per[t_n - 1].0;
        let demand = &product.demand;
        let mut shelf =
            |m: &mut Builder, held: Option<Col>, rhs: f64, from: usize, life: usize, period| {
                // Stock held at the end of `from − 1` must ship in `from ..= from + life − 2`;
                // shipped = demand − unmet.
                let until = from + life - 1;
                let mut terms: Vec<(Col, f64)> = held.map(|c| vec![(c, 1.0)]).unwrap_or_default();
                let mut rhs = rhs;
                for t in from..until.min(t_n) {
                    terms.push((per[t].1, 1.0));
                    rhs += demand[t];
                }
                if until > t_n {
                    if held == Some(last) {
                        return;
                    }
                    terms.push((last, -1.0));
                }
                if terms.is_empty() {
                    return;
                }
                if elastic {
                    let sl = m.nonneg(unit_weight);
                    terms.push((sl, -1.0));
                    slacks.push((sl, Conflict::ShelfLife { product: p, period }, unit_weight));
                }
                m.le(rhs, &terms);
            };
        if product.initial_stock > 0.0 {
            shelf(
                &mut m,
                None,
                -product.initial_stock,
                0,
                product.initial_stock_life + 1,
                None,
            );
        }
        let held: Vec<Col> = per.iter().map(|x| x.0).collect();
        for (t, &i) in held.iter().enumerate() {
            shelf(&mut m, Some(i), 0.0, t + 1, product.shelf_life, Some(t));
        }
        stock.push(per);
    }
    Built {
        problem: m.pb,
        columns: m.cols,
        integers: m.ints,
        rows: m.rows,
        cells,
        stock,
        slacks,
    }
}

impl Built {
    /// The plan in a solution's columns, sequenced.
    pub fn read_plan(&self, plant: &Plant, prof: &Profiles, cols: &[f64]) -> Plan {
        let mut plan = Plan::empty(plant);
        for (l, row) in self.cells.iter().enumerate() {
            for (t, cell) in row.iter().enumerate() {
                for &(p, y, x, _) in &cell.runs {
                    let q = cols[x.index()];
                    if cols[y.index()] > 0.5 && q > 0.5 {
                        plan.runs[l][t].push(Run {
                            product: p,
                            quantity: q,
                            cleandown_before: false,
                        });
                    }
                }
            }
        }
        for (p, per) in self.stock.iter().enumerate() {
            for (t, &(_, s)) in per.iter().enumerate() {
                let d = plant.products[p].demand[t];
                plan.shipped[p][t] = (d - cols[s.index()]).clamp(0.0, d);
            }
        }
        prof.sequence(&mut plan);
        plan
    }

    /// A full column vector for `plan` (runs in profile order): the start HiGHS is given.
    pub fn columns_of(&self, plant: &Plant, prof: &Profiles, plan: &Plan) -> Vec<f64> {
        let mut v = vec![0.0; self.columns];
        for (l, row) in self.cells.iter().enumerate() {
            let mut prev_e: Vec<(usize, f64)> = vec![(prof.of_line_start[l], 1.0)];
            for (t, cell) in row.iter().enumerate() {
                let runs = &plan.runs[l][t];
                if !runs.is_empty() {
                    v[cell.o.index()] = 1.0;
                }
                for &(p, y, x, _) in &cell.runs {
                    let q: f64 = runs
                        .iter()
                        .filter(|r| r.product == p)
                        .map(|r| r.quantity)
                        .sum();
                    if q > 0.0 {
                        v[y.index()] = 1.0;
                        v[x.index()] = q;
                    }
                }
                let used: Vec<(usize, f64)> = cell
                    .z
                    .iter()
                    .map(|&(k, z)| {
                        let on = runs.iter().any(|r| prof.of_product[r.product] == k);
                        let val = if on { 1.0 } else { 0.0 };
                        v[z.index()] = val;
                        (k, val)
                    })
                    .collect();
                let total: f64 = used.iter().map(|u| u.1).sum();
                for &(j, k, w) in &cell.w {
                    let a = used.iter().position(|u| u.0 == j).unwrap_or(0);
                    let c = used.iter().position(|u| u.0 == k).unwrap_or(0);
                    let between: f64 = used[a + 1..c].iter().map(|u| u.1).sum();
                    v[w.index()] = (used[a].1 + used[c].1 - 1.0 - between).max(0.0);
                }
                let mut first = Vec::new();
                for (a, &(k, f)) in cell.f.iter().enumerate() {
                    let before: f64 = used[..a].iter().map(|u| u.1).sum();
                    let val = (used[a].1 - before).max(0.0);
                    v[f.index()] = val;
                    first.push((k, val));
                }
                if let Some(b) = cell.b {
                    let mut val: f64 = 0.0;
                    for &(k, fv) in &first {
                        for &(j, ev) in &prev_e {
                            if prof.needs_cleandown(j, k) {
                                val = val.max(ev + fv - 1.0);
                            }
                        }
                    }
                    v[b.index()] = val;
                }
                let mut next_e = Vec::new();
                for &(k, e) in &cell.e {
                    let mut val: f64 = 0.0;
                    if let Some(a) = used.iter().position(|u| u.0 == k) {
                        let after: f64 = used[a + 1..].iter().map(|u| u.1).sum();
                        val = val.max(used[a].1 - after);
                    }
                    let carried = prev_e.iter().find(|p| p.0 == k).map_or(0.0, |p| p.1);
                    val = val.max(carried - total);
                    v[e.index()] = val;
                    next_e.push((k, val));
                }
                prev_e = next_e;
            }
        }
        let ev = super::check::evaluate(plant, plan);
        for (p, per) in self.stock.iter().enumerate() {
            for (t, &(i, s)) in per.iter().enumerate() {
                v[s.index()] = (plant.products[p].demand[t] - plan.shipped[p][t]).max(0.0);
                v[i.index()] = ev
                    .stock
                    .get(p)
                    .and_then(|x| x.get(t))
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        v
    }
}

/// What HiGHS reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    pub columns: Option<Vec<f64>>,
    pub status: HighsModelStatus,
    pub objective: f64,
    pub bound: f64,
    pub gap: f64,
    pub seconds: f64,
}

pub(super) fn solve(
    problem: RowProblem,
    start: Option<&[f64]>,
    time_limit_s: f64,
    gap: f64,
    seed: u64,
    log: bool,
    heuristic_effort: f64,
) -> Result<Solved, String> {
    let began = Instant::now();
    let mut model = problem.optimise(Sense::Minimise);
    if log {
        // HiGHS writes its log to standard output; the CLI's plan goes there too, so the log
        // is for people reading a terminal, not for pipes.
        model.set_option("output_flag", true);
        model.set_option("log_to_console", true);
    } else {
        model.make_quiet();
    }
    model.set_option("time_limit", time_limit_s.max(0.01));
    model.set_option("mip_rel_gap", gap);
    model.set_option("random_seed", (seed % i32::MAX as u64) as i32);
    model.set_option("threads", 1);
    model.set_option("mip_heuristic_effort", heuristic_effort);
    if let Some(cols) = start {
        model
            .try_set_solution(Some(cols), None, None, None)
            .map_err(|e| format!("HiGHS refused the start: {e:?}"))?;
    }
    let solved = model
        .try_solve()
        .map_err(|e| format!("HiGHS failed: {e:?}"))?;
    let status = solved.status();
    let has = solved.primal_solution_status() == HighsSolutionStatus::Feasible;
    let bound = solved
        .double_info_value(c"mip_dual_bound")
        .unwrap_or(f64::NAN);
    Ok(Solved {
        columns: has.then(|| solved.get_solution().columns().to_vec()),
        status,
        objective: solved.objective_value(),
        bound,
        gap: if has { solved.mip_gap() } else { f64::INFINITY },
        seconds: began.elapsed().as_secs_f64(),
    })
}
