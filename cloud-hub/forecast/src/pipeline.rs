//! One forecasting job: aggregate the hierarchy, fit every node in parallel, reconcile, and
//! turn means and spreads into quantiles. Progress goes to a callback (nodes done, total).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::hierarchy::{Hierarchy, Spec};
use crate::models::{self, ModelKind};
use crate::panel::{Calendar, InputError, Panel, csv_field};
use crate::reconcile::{Base, Method, ReconcileError, Reconciler};
use crate::stats::normal_quantile;

#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("{0}")]
    Job(String),
    #[error("cancelled")]
    Cancelled,
}

/// A prediction-interval level in percent (80 → the P10 and P90 quantiles).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level(pub f64);

impl Level {
    pub fn parse(s: &str) -> Result<Level, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("level {s:?} is not a number (e.g. 80 for P10–P90)"))?;
        if !(v > 0.0 && v < 100.0) {
            return Err(format!("level {v} must lie strictly between 0 and 100"));
        }
        Ok(Level(v))
    }

    /// The lower and upper quantile probabilities.
    pub fn probs(self) -> (f64, f64) {
        let tail = (1.0 - self.0 / 100.0) / 2.0;
        (tail, 1.0 - tail)
    }

    /// `80`, `95`, `99.5`: the level as it appears in column names.
    pub fn label(self) -> String {
        if self.0.fract() == 0.0 {
            format!("{}", self.0 as i64)
        } else {
            format!("{}", self.0)
        }
    }
}

/// Hard limits on a job, checked before anything of their size is allocated (a job comes from
/// outside: an upload to the hub, a CLI argument). `docs/security.md` lists them.
pub const MAX_HORIZON: usize = 1_000;
pub const MAX_SEASON: usize = 1_000;
pub const MAX_CALIBRATE: usize = 20;
pub const MAX_LEVELS: usize = 10;
/// Forecast cells (nodes × horizon) one job may produce: each holds a mean, a spread and the
/// quantiles of every level.
pub const MAX_CELLS: usize = 2_000_000;

#[derive(Debug, Clone)]
pub struct Job {
    pub model: ModelKind,
    /// Periods ahead; validated ≥ 1.
    pub horizon: i64,
    pub levels: Vec<Level>,
    /// Seasonal period; the calendar's natural one when absent.
    pub season: Option<usize>,
    pub hierarchy: Option<Spec>,
    pub method: Method,
    pub threads: usize,
    pub seed: u64,
    /// Rolling-origin windows whose errors rescale the forecast spread per hierarchy level
    /// (conformal-style calibration; 0 = the models' own spread).
    pub calibrate: usize,
    /// Set from another thread to stop the job: no node is started after it is set.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Job {
    fn default() -> Self {
        Job {
            model: ModelKind::Auto,
            horizon: 12,
            levels: vec![Level(80.0)],
            season: None,
            hierarchy: None,
            method: Method::None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            seed: 1,
            calibrate: 0,
            cancel: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NodeForecast {
    pub id: String,
    pub level: String,
    /// The first forecast period.
    pub start: i64,
    pub model: String,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct JobOutput {
    pub calendar: Calendar,
    /// Column name: model alias, then `/reconciliation` as HierarchicalForecast writes it.
    pub alias: String,
    pub levels: Vec<Level>,
    /// Every history value ≥ 0: quantiles are clipped at zero.
    pub nonnegative: bool,
    pub nodes: Vec<NodeForecast>,
    /// Node histories (after aggregation), for accuracy scales.
    pub history: Vec<Vec<f64>>,
    pub season: usize,
    pub cg_iterations: usize,
}

impl JobOutput {
    /// The `p` quantile (0 < p < 1) of node `i`, `step` periods ahead (0-based).
    pub fn quantile(&self, i: usize, step: usize, p: f64) -> f64 {
        let n = &self.nodes[i];
        let q = n.mean[step] + normal_quantile(p) * n.sd[step];
        if self.nonnegative { q.max(0.0) } else { q }
    }

    /// The forecast columns: `<alias>, <alias>-lo-80, <alias>-hi-80, ...` (StatsForecast's names).
    pub fn columns(&self) -> String {
        let mut out = csv_field(&self.alias);
        for l in &self.levels {
            for side in ["lo", "hi"] {
                out.push_str(&format!(
                    ",{}",
                    csv_field(&format!("{}-{side}-{}", self.alias, l.label()))
                ));
            }
        }
        out
    }

    /// StatsForecast's wide output: `unique_id, ds, <alias>, <alias>-lo-80, <alias>-hi-80, ...`.
    pub fn to_csv(&self) -> String {
        let mut out = format!("unique_id,ds,{}\n", self.columns());
        for (i, n) in self.nodes.iter().enumerate() {
            for step in 0..n.mean.len() {
                out.push_str(&format!(
                    "{},{},{}",
                    csv_field(&n.id),
                    self.calendar.format(n.start + step as i64),
                    n.mean[step]
                ));
                for l in &self.levels {
                    let (lo, hi) = l.probs();
                    out.push_str(&format!(
                        ",{},{}",
                        self.quantile(i, step, lo),
                        self.quantile(i, step, hi)
                    ));
                }
                out.push('\n');
            }
        }
        out
    }
}

/// Maps `f` over `items` on `threads` threads, keeping order; `done` is called after each.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: &(dyn Fn(&T) -> R + Sync),
    done: &(dyn Fn(usize) + Sync),
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    local.push((i, f(&items[i])));
                    done(finished.fetch_add(1, Ordering::Relaxed) + 1);
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(local);
            });
        }
    });
    let mut r = results.into_inner().unwrap_or_else(|p| p.into_inner());
    r.sort_unstable_by_key(|(i, _)| *i);
    r.into_iter().map(|(_, v)| v).collect()
}

impl Job {
    pub fn validate(&self) -> Result<usize, ForecastError> {
        if self.horizon < 1 {
            return Err(ForecastError::Job(format!(
                "horizon must be at least 1 period, got {}",
                self.horizon
            )));
        }
        let over = |what: &str, got: String, max: usize| {
            Err(ForecastError::Job(format!(
                "{what} {got} exceeds the limit of {max} (see docs/security.md)"
            )))
        };
        if self.horizon > MAX_HORIZON as i64 {
            return over("horizon", self.horizon.to_string(), MAX_HORIZON);
        }
        if let Some(m) = self.season.filter(|m| *m > MAX_SEASON) {
            return over("season", m.to_string(), MAX_SEASON);
        }
        if self.calibrate > MAX_CALIBRATE {
            return over("calibrate", self.calibrate.to_string(), MAX_CALIBRATE);
        }
        if self.levels.len() > MAX_LEVELS {
            return over("levels", self.levels.len().to_string(), MAX_LEVELS);
        }
        if self.hierarchy.is_none() && self.method != Method::None {
            return Err(ForecastError::Job(format!(
                "reconciliation {} needs a hierarchy (e.g. --hierarchy state/region/city)",
                self.method
            )));
        }
        if self.season == Some(0) {
            return Err(ForecastError::Job(
                "season must be at least 1 (1 = no season)".into(),
            ));
        }
        Ok(self.horizon as usize)
    }

    /// The column name of this job's forecasts.
    pub fn alias(&self) -> String {
        if self.method == Method::None {
            self.model.alias().to_owned()
        } else {
            format!("{}/{}", self.model.alias(), self.method.alias())
        }
    }

    pub fn run(
        &self,
        panel: &Panel,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<JobOutput, ForecastError> {
        let horizon = self.validate()?;
        let m = self.season.unwrap_or_else(|| panel.calendar.season());
        let (hier, start, history) = match &self.hierarchy {
            Some(spec) => {
                let h = Hierarchy::build(spec, panel)?;
                let (start, hist) = h.aggregate(panel)?;
                (h, Some(start), hist)
            }
            None => (
                Hierarchy::flat(panel),
                None,
                panel.series.iter().map(|s| s.values.clone()).collect(),
            ),
        };
        let total = hier.nodes.len();
        let cells = total.saturating_mul(horizon);
        if cells > MAX_CELLS {
            return Err(ForecastError::Job(format!(
                "{total} series × horizon {horizon} = {cells} forecast cells exceeds the limit of {MAX_CELLS} (see docs/security.md)"
            )));
        }
        let model = self.model;
        let stop = self.cancel.clone().unwrap_or_default();
        let base = par_map(
            &history,
            self.threads,
            &|y: &Vec<f64>| {
                // A cancelled job stops taking nodes; the ones running finish.
                (!stop.load(Ordering::Relaxed)).then(|| models::forecast(model, y, m, horizon))
            },
            &|done| progress(done, total),
        );
        if stop.load(Ordering::Relaxed) {
            return Err(ForecastError::Cancelled);
        }
        let base: Vec<_> = base.into_iter().flatten().collect();
        let nonnegative = history.iter().flatten().all(|v| *v >= 0.0);
        let mut mean: Vec<Vec<f64>> = base.iter().map(|f| f.mean.clone()).collect();
        let mut sd: Vec<Vec<f64>> = base.iter().map(|f| f.sd.clone()).collect();
        let mut cg_iterations = 0;
        if self.method != Method::None {
            let residuals: Vec<Vec<f64>> = history
                .iter()
                .zip(&base)
                .map(|(y, f)| {
                    y.iter()
                        .zip(&f.fitted)
                        .enumerate()
                        .map(|(t, (a, b))| if t < m.max(1) { f64::NAN } else { a - b })
                        .collect()
                })
                .collect();
            let b = Base {
                mean: &mean,
                sd: &sd,
                residuals: &residuals,
                history: &history,
            };
            let r = Reconciler::new(&hier, self.method, &b)?.reconcile(&b, self.seed);
            cg_iterations = r.iterations;
            mean = r.mean;
            sd = r.sd;
        }
        if self.calibrate > 0 {
            let plain = Job {
                calibrate: 0,
                ..self.clone()
            };
            let factors = crate::backtest::spread_factors(&plain, panel, self.calibrate)?;
            for (node, row) in hier.nodes.iter().zip(sd.iter_mut()) {
                let k = factors.get(&node.level).copied().unwrap_or(1.0);
                row.iter_mut().for_each(|v| *v *= k);
            }
        }
        let nodes = hier
            .nodes
            .iter()
            .zip(base)
            .zip(mean.into_iter().zip(sd))
            .enumerate()
            .map(|(i, ((node, f), (mean, sd)))| NodeForecast {
                id: node.id.clone(),
                level: node.level.clone(),
                start: start.map_or_else(|| panel.series[i].end(), |s| s + history[i].len() as i64),
                model: f.model,
                mean,
                sd,
            })
            .collect();
        Ok(JobOutput {
            calendar: panel.calendar,
            alias: self.alias(),
            levels: self.levels.clone(),
            nonnegative,
            nodes,
            history,
            season: m,
            cg_iterations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_settings_are_checked() {
        let p = Panel::from_csv("unique_id,ds,y\na,1,1\na,2,2\na,3,3\n").unwrap();
        let bad = Job {
            horizon: -3,
            ..Job::default()
        };
        assert_eq!(
            bad.run(&p, &|_, _| {}).unwrap_err().to_string(),
            "horizon must be at least 1 period, got -3"
        );
        let bad = Job {
            method: Method::MinTraceOls,
            ..Job::default()
        };
        assert!(
            bad.run(&p, &|_, _| {})
                .unwrap_err()
                .to_string()
                .contains("needs a hierarchy")
        );
        assert!(Level::parse("100").is_err());
        assert_eq!(
            Level::parse("80").unwrap().probs(),
            (0.09999999999999998, 0.9)
        );
    }

    #[test]
    fn output_is_statsforecast_shaped() {
        let p = Panel::from_csv(
            "unique_id,ds,y\na,2024-01-01,1\na,2024-02-01,2\na,2024-03-01,3\na,2024-04-01,4\n",
        )
        .unwrap();
        let job = Job {
            model: ModelKind::Naive,
            horizon: 2,
            ..Job::default()
        };
        let out = job.run(&p, &|_, _| {}).unwrap();
        let csv = out.to_csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("unique_id,ds,Naive,Naive-lo-80,Naive-hi-80")
        );
        assert!(lines.next().unwrap().starts_with("a,2024-05-01,4,"));
        assert!(lines.next().unwrap().starts_with("a,2024-06-01,4,"));
    }
}
