//! Production planning: how much of each product each line makes in each period (day or shift),
//! in which order, so that demand is met at least cost — set-ups, allergen clean-downs, stock
//! held, demand missed — within line hours, crews and shelf lives, with allergen-free runs before
//! allergen-containing ones and a clean-down wherever an allergen would otherwise carry over.
//!
//! A MIP on HiGHS ([`mip`]) started from a lot-for-lot heuristic ([`heuristic`]); every plan is
//! re-verified by an independent checker ([`check`]); an infeasible instance is explained by the
//! constraints that conflict.

pub mod check;
pub mod generate;
pub mod heuristic;
pub mod instance;
pub mod mip;
pub mod sequence;

use std::fmt::Write as _;

use serde_json::{Value, json};

pub use check::{Costs, Evaluation, Plan, Run, Violation, evaluate};
pub use generate::generate;
pub use instance::{PlanInputError, PlanInstance, Plant};
pub use mip::Conflict;
use sequence::Profiles;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub time_limit_s: f64,
    /// Relative MIP gap at which the search stops.
    pub gap: f64,
    pub seed: u64,
    /// Start HiGHS from the lot-for-lot plan.
    pub warm_start: bool,
    /// Let HiGHS print its own log (on standard output).
    pub solver_log: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            time_limit_s: 60.0,
            gap: 1e-4,
            seed: 1,
            warm_start: true,
            solver_log: false,
        }
    }
}

/// A solved plan with the solver's account of it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Plan,
    pub evaluation: Evaluation,
    /// "optimal" or "time limit" (best found, with its gap).
    pub status: String,
    pub objective: f64,
    pub bound: f64,
    pub gap: f64,
    pub seconds: f64,
    /// Cost of the heuristic start, if it was feasible.
    pub start_cost: Option<f64>,
    pub columns: usize,
    pub integers: usize,
    pub rows: usize,
}

/// One constraint of a conflict and by how much it would have to give.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictItem {
    pub conflict: Conflict,
    pub amount: f64,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Input(#[from] PlanInputError),
    #[error("{}", infeasible_text(.0))]
    Infeasible(Vec<ConflictItem>),
    #[error(
        "no plan found within {seconds:.1} s (HiGHS: {status}); allow more time with --time-limit"
    )]
    NoPlan { seconds: f64, status: String },
    #[error("solver: {0}")]
    Solver(String),
    #[error("internal error: the plan fails the independent check: {0}")]
    Check(String),
}

fn infeasible_text(items: &[ConflictItem]) -> String {
    let mut s = String::from(
        "the plan is infeasible: these constraints cannot all hold; relaxing any one of them by the amount shown makes room:",
    );
    for i in items {
        let _ = write!(s, "\n  - {}", i.message);
    }
    if items.is_empty() {
        s.push_str(
            "\n  (HiGHS proved it infeasible, but the elastic model found no single culprit)",
        );
    }
    s
}

/// HiGHS's model status as people read it ("time limit", not `ReachedTimeLimit`).
fn status_words(s: highs::HighsModelStatus) -> String {
    use highs::HighsModelStatus as S;
    match s {
        S::Optimal => "optimal".into(),
        S::ReachedTimeLimit => "time limit".into(),
        S::ReachedIterationLimit => "iteration limit".into(),
        S::Infeasible => "infeasible".into(),
        other => format!("{other:?}"),
    }
}

/// Progress of a planning run, in words, for logs and job status.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Plans `plant`: builds the MIP, starts it from the heuristic, solves within the time limit,
/// checks the result independently, or explains why no plan exists.
pub fn solve(
    plant: &Plant,
    settings: &Settings,
    progress: Progress<'_>,
) -> Result<Outcome, PlanError> {
    if !(settings.time_limit_s.is_finite() && settings.time_limit_s > 0.0) {
        return Err(PlanError::Solver(format!(
            "time limit must be > 0 s, got {}",
            settings.time_limit_s
        )));
    }
    if !(0.0..1.0).contains(&settings.gap) {
        return Err(PlanError::Solver(format!(
            "gap must lie in [0, 1), got {}",
            settings.gap
        )));
    }
    let prof = Profiles::new(plant);
    let mut built = mip::build(plant, &prof, false, mip::Window::ALL);
    progress(&format!(
        "model: {} columns ({} integer), {} rows; {} allergen profiles",
        built.columns,
        built.integers,
        built.rows,
        prof.len()
    ));
    let began = std::time::Instant::now();
    let mut start: Option<(f64, Plan, &str)> = None;
    if settings.warm_start {
        let plan = heuristic::lot_for_lot(plant, &prof);
        let ev = evaluate(plant, &plan);
        if ev.violations.is_empty() {
            progress(&format!(
                "start: lot-for-lot plan, cost {:.2}",
                ev.costs.total
            ));
            start = Some((ev.costs.total, plan, "lot-for-lot"));
        } else {
            progress(&format!(
                "start: the lot-for-lot plan breaks {} constraints (first: {}); not used",
                ev.violations.len(),
                ev.violations[0]
            ));
        }
        if let Some(plan) = relax_and_fix(
            plant,
            &prof,
            settings,
            settings.time_limit_s * 0.5,
            progress,
        ) {
            let cost = evaluate(plant, &plan).costs.total;
            if start.as_ref().is_none_or(|s| cost < s.0) {
                start = Some((cost, plan, "relax-and-fix"));
            }
        }
    }
    let start_cost = start.as_ref().map(|s| s.0);
    if let Some((cost, _, how)) = &start {
        progress(&format!("warm start: the {how} plan, cost {cost:.2}"));
    }
    let start = start.map(|(_, plan, _)| built.columns_of(plant, &prof, &plan));
    let left = (settings.time_limit_s - began.elapsed().as_secs_f64()).max(1.0);
    progress(&format!(
        "solving the whole model with HiGHS: {left:.1} s left, gap {}, seed {}",
        settings.gap, settings.seed
    ));
    let (columns, integers, rows) = (built.columns, built.integers, built.rows);
    let solved = mip::solve(
        std::mem::take(&mut built.problem),
        start.as_deref(),
        left,
        settings.gap,
        settings.seed,
        settings.solver_log,
        0.05,
    )
    .map_err(PlanError::Solver)?;
    let status_word = status_words(solved.status);
    let Some(cols) = solved.columns.as_deref() else {
        use highs::HighsModelStatus as S;
        if matches!(solved.status, S::Infeasible | S::UnboundedOrInfeasible) {
            progress("infeasible: finding the constraints that conflict");
            return Err(PlanError::Infeasible(explain(
                plant,
                &prof,
                settings.time_limit_s,
            )?));
        }
        return Err(PlanError::NoPlan {
            seconds: solved.seconds,
            status: status_word,
        });
    };
    let plan = built.read_plan(plant, &prof, cols);
    let evaluation = evaluate(plant, &plan);
    if !evaluation.violations.is_empty() {
        let list: Vec<String> = evaluation
            .violations
            .iter()
            .take(5)
            .map(|v| v.to_string())
            .collect();
        return Err(PlanError::Check(list.join("; ")));
    }
    let status = if solved.status == highs::HighsModelStatus::Optimal {
        "optimal".to_string()
    } else {
        format!("{status_word} (best found)")
    };
    progress(&format!(
        "{status}: cost {:.2}, bound {:.2}, gap {:.3} %, {:.1} s",
        evaluation.costs.total,
        solved.bound,
        solved.gap * 100.0,
        solved.seconds,
    ));
    Ok(Outcome {
        plan,
        evaluation,
        status,
        objective: solved.objective,
        bound: solved.bound,
        gap: solved.gap,
        seconds: solved.seconds,
        start_cost,
        columns,
        integers,
        rows,
    })
}

/// Relax-and-fix: windows of periods solved in turn as small MIPs — earlier periods' yes/no
/// decisions fixed, later ones relaxed — which finds good whole plans far sooner than the full
/// MIP's own search on plans of many periods.
fn relax_and_fix(
    plant: &Plant,
    prof: &Profiles,
    settings: &Settings,
    budget_s: f64,
    progress: Progress<'_>,
) -> Option<Plan> {
    let began = std::time::Instant::now();
    let t_n = plant.periods;
    let width = 2.max(t_n.div_ceil(7));
    let steps = t_n.div_ceil(width);
    let mut fixed: Option<Vec<f64>> = None;
    let mut last = None;
    for k in 0..steps {
        let from = k * width;
        let to = (from + width).min(t_n);
        let window = mip::Window {
            integer: (from, to),
            fixed: fixed.as_deref(),
        };
        let mut built = mip::build(plant, prof, false, window);
        let left = budget_s - began.elapsed().as_secs_f64();
        let limit = (left / (steps - k) as f64).max(0.5);
        let solved = mip::solve(
            std::mem::take(&mut built.problem),
            None,
            limit,
            0.005,
            settings.seed,
            false,
            0.3,
        )
        .ok()?;
        let Some(cols) = solved.columns else {
            progress(&format!(
                "relax-and-fix: periods {}–{}: no plan ({:?}); skipped",
                from + 1,
                to,
                solved.status
            ));
            return None;
        };
        progress(&format!(
            "relax-and-fix: periods {}–{} of {t_n} fixed, {:.1} s",
            from + 1,
            to,
            solved.seconds
        ));
        fixed = Some(cols);
        last = Some(built);
    }
    let plan = last?.read_plan(plant, prof, fixed.as_deref()?);
    let ev = evaluate(plant, &plan);
    if ev.violations.is_empty() {
        progress(&format!("relax-and-fix: plan cost {:.2}", ev.costs.total));
        Some(plan)
    } else {
        progress(&format!(
            "relax-and-fix: the plan breaks {} constraints (first: {}); not used",
            ev.violations.len(),
            ev.violations[0]
        ));
        None
    }
}

/// The elastic model: every hard row may give, at a price; the rows that give are the conflict.
fn explain(
    plant: &Plant,
    prof: &Profiles,
    time_limit_s: f64,
) -> Result<Vec<ConflictItem>, PlanError> {
    let mut built = mip::build(plant, prof, true, mip::Window::ALL);
    let solved = mip::solve(
        std::mem::take(&mut built.problem),
        None,
        time_limit_s,
        1e-6,
        1,
        false,
        0.05,
    )
    .map_err(PlanError::Solver)?;
    let Some(cols) = solved.columns else {
        return Ok(Vec::new());
    };
    let per = &plant.period;
    let mut items = Vec::new();
    for (col, conflict, _) in &built.slacks {
        let amount = cols[col.index()];
        if amount <= 1e-6 {
            continue;
        }
        let message = match conflict {
            Conflict::Hours { line, period } => format!(
                "line {} {per} {}: needs {amount:.2} h more than its {} h",
                plant.lines[*line].id,
                period + 1,
                plant.lines[*line].hours[*period]
            ),
            Conflict::Crews { period } => format!(
                "crews {per} {}: {amount:.2} more than the {} available",
                period + 1,
                plant.crews[*period]
            ),
            Conflict::Floor { product, period } => {
                let p = &plant.products[*product];
                let makers = plant
                    .lines
                    .iter()
                    .filter(|l| l.rate(*product).is_some())
                    .count();
                let hint = if makers == 0 {
                    " (no line makes it)"
                } else {
                    ""
                };
                format!(
                    "{} {per} {}: at least {:.0} % of demand {} must ship; {amount:.1} units short{hint}",
                    p.id,
                    period + 1,
                    p.min_service * 100.0,
                    p.demand[*period]
                )
            }
            Conflict::ShelfLife { product, period } => {
                let p = &plant.products[*product];
                match period {
                    Some(t) => format!(
                        "{} shelf life {} {per}s: {amount:.1} units held at the end of {per} {} would expire",
                        p.id,
                        p.shelf_life,
                        t + 1
                    ),
                    None => format!(
                        "{} initial stock: {amount:.1} units would pass their {} {per}s of life",
                        p.id, p.initial_stock_life
                    ),
                }
            }
        };
        items.push(ConflictItem {
            conflict: conflict.clone(),
            amount,
            message,
        });
    }
    Ok(items)
}

/// The plan for people: per period, each line's runs in order.
pub fn to_text(plant: &Plant, out: &Outcome) -> String {
    let mut s = String::new();
    let c = &out.evaluation.costs;
    let _ = writeln!(s, "Plan {}", plant.name);
    let _ = writeln!(
        s,
        "Status {} · cost {:.2} (holding {:.2}, shortage {:.2}, set-ups {:.2}, clean-downs {:.2}) · bound {:.2} · gap {:.3} %",
        out.status,
        c.total,
        c.holding,
        c.shortage,
        c.setup,
        c.cleandown,
        out.bound,
        out.gap * 100.0
    );
    for t in 0..plant.periods {
        let _ = writeln!(s, "{} {}", capitalise(&plant.period), t + 1);
        for (l, line) in plant.lines.iter().enumerate() {
            let runs = &out.plan.runs[l][t];
            if runs.is_empty() {
                continue;
            }
            let list: Vec<String> = runs
                .iter()
                .map(|r| {
                    format!(
                        "{}{} {:.0}",
                        if r.cleandown_before {
                            "[clean-down] "
                        } else {
                            ""
                        },
                        plant.products[r.product].id,
                        r.quantity
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "  {}: {} ({:.2} / {} h)",
                line.id,
                list.join(", "),
                out.evaluation.hours[l][t],
                line.hours[t]
            );
        }
        let short: Vec<String> = plant
            .products
            .iter()
            .enumerate()
            .filter(|(p, pr)| pr.demand[t] - out.plan.shipped[*p][t] > 0.5)
            .map(|(p, pr)| format!("{} {:.0}", pr.id, pr.demand[t] - out.plan.shipped[p][t]))
            .collect();
        if !short.is_empty() {
            let _ = writeln!(s, "  short: {}", short.join(", "));
        }
    }
    s
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The plan as JSON: status, costs, runs per period and line, shipments and stock per product.
pub fn to_json(plant: &Plant, out: &Outcome) -> Value {
    let periods: Vec<Value> = (0..plant.periods)
        .map(|t| {
            let lines: Vec<Value> = plant
                .lines
                .iter()
                .enumerate()
                .map(|(l, line)| {
                    json!({
                        "line": line.id,
                        "hours_used": out.evaluation.hours[l][t],
                        "hours": line.hours[t],
                        "runs": out.plan.runs[l][t].iter().map(|r| json!({
                            "product": plant.products[r.product].id,
                            "quantity": r.quantity,
                            "cleandown_before": r.cleandown_before,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({"period": t + 1, "lines": lines})
        })
        .collect();
    let products: Vec<Value> = plant
        .products
        .iter()
        .enumerate()
        .map(|(p, pr)| {
            json!({
                "product": pr.id,
                "demand": pr.demand,
                "shipped": out.plan.shipped[p],
                "stock": out.evaluation.stock[p],
            })
        })
        .collect();
    json!({
        "plan": plant.name,
        "status": out.status,
        "cost": out.evaluation.costs,
        "bound": out.bound,
        "gap": out.gap,
        "seconds": out.seconds,
        "start_cost": out.start_cost,
        "cleandowns": out.evaluation.cleandowns,
        "runs": out.evaluation.runs,
        "model": {"columns": out.columns, "integers": out.integers, "rows": out.rows},
        "periods": periods,
        "products": products,
    })
}
