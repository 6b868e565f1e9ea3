//! Rolling-origin evaluation: the job is re-run with the last `windows` forecast origins
//! `step` periods apart, each forecast compared with what actually happened.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::hierarchy::Hierarchy;
use crate::metrics;
use crate::panel::{InputError, Panel, csv_field};
use crate::pipeline::{ForecastError, Job, JobOutput};

/// JSON has no NaN: serde writes it as null, and null reads back as NaN here.
fn nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Accuracy {
    /// Series × windows that were scored.
    pub scored: usize,
    #[serde(deserialize_with = "nan")]
    pub mase: f64,
    #[serde(deserialize_with = "nan")]
    pub smape: f64,
    #[serde(deserialize_with = "nan")]
    pub rmsse: f64,
    /// Pinball loss averaged over the first level's two quantiles and the median, scaled like
    /// MASE.
    #[serde(deserialize_with = "nan")]
    pub pinball: f64,
    /// Share of actuals inside each level's interval, by level label (null: none scored).
    pub coverage: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub alias: String,
    pub windows: usize,
    pub horizon: usize,
    pub overall: Accuracy,
    /// Per hierarchy level (`total`, `state`, …).
    pub by_level: BTreeMap<String, Accuracy>,
}

#[derive(Default)]
struct Sums {
    n: usize,
    mase: (f64, usize),
    smape: (f64, usize),
    rmsse: (f64, usize),
    pinball: (f64, usize),
    cover: BTreeMap<String, (f64, usize)>,
}

fn add(acc: &mut (f64, usize), v: f64) {
    if v.is_finite() {
        acc.0 += v;
        acc.1 += 1;
    }
}

fn avg(acc: (f64, usize)) -> f64 {
    if acc.1 == 0 {
        f64::NAN
    } else {
        acc.0 / acc.1 as f64
    }
}

impl Sums {
    fn finish(&self) -> Accuracy {
        Accuracy {
            scored: self.n,
            mase: avg(self.mase),
            smape: avg(self.smape),
            rmsse: avg(self.rmsse),
            pinball: avg(self.pinball),
            coverage: self
                .cover
                .iter()
                .map(|(k, v)| (k.clone(), Some(avg(*v)).filter(|x| x.is_finite())))
                .collect(),
        }
    }
}

/// Every node's whole history: the aggregated hierarchy, or the series as they are.
fn histories(job: &Job, panel: &Panel) -> Result<Vec<Vec<f64>>, ForecastError> {
    Ok(match &job.hierarchy {
        Some(spec) => Hierarchy::build(spec, panel)?.aggregate(panel)?.1,
        None => panel.series.iter().map(|s| s.values.clone()).collect(),
    })
}

/// The panel without its last `cut` periods; a series too short for that is an error saying
/// what needed them (`needs` reads "… need at least N").
fn cut_back(panel: &Panel, cut: usize, needs: &str) -> Result<Panel, ForecastError> {
    let mut train = panel.clone();
    for s in &mut train.series {
        if s.values.len() < cut + 3 {
            return Err(InputError {
                line: None,
                series: Some(s.id.clone()),
                message: format!(
                    "has {} periods: {needs} at least {}",
                    s.values.len(),
                    cut + 3
                ),
            }
            .into());
        }
        s.values.truncate(s.values.len() - cut);
    }
    Ok(train)
}

/// Runs the backtest; `cv_csv` gets StatsForecast's cross-validation rows
/// (`unique_id, ds, cutoff, y, <alias>, <alias>-lo-80, ...`).
pub fn run(
    job: &Job,
    panel: &Panel,
    windows: usize,
    step: usize,
    cv_csv: &mut String,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, ForecastError> {
    let horizon = job.validate()?;
    if windows == 0 || step == 0 {
        return Err(ForecastError::Job(
            "windows and step must be at least 1".into(),
        ));
    }
    let full = histories(job, panel)?;
    let mut sums: BTreeMap<String, Sums> = BTreeMap::new();
    let mut overall = Sums::default();
    let mut alias = job.alias();
    let mut header = false;
    let nodes_per_window = full.len();
    for w in 0..windows {
        let cut = (windows - 1 - w) * step + horizon;
        let train = cut_back(
            panel,
            cut,
            &format!("{windows} windows of {horizon} periods {step} apart need"),
        )?;
        let offset = w * nodes_per_window;
        let total = windows * nodes_per_window;
        let out: JobOutput = job.run(&train, &|done, _| progress(offset + done, total))?;
        alias.clone_from(&out.alias);
        if !header {
            cv_csv.push_str(&format!("unique_id,ds,cutoff,y,{}\n", out.columns()));
            header = true;
        }
        for (i, node) in out.nodes.iter().enumerate() {
            let hist = &out.history[i];
            let actual = &full[i][hist.len()..hist.len() + horizon];
            let cutoff = out.calendar.format(node.start - 1);
            for (s, y) in actual.iter().enumerate() {
                cv_csv.push_str(&format!(
                    "{},{},{cutoff},{y},{}",
                    csv_field(&node.id),
                    out.calendar.format(node.start + s as i64),
                    node.mean[s]
                ));
                for l in &out.levels {
                    let (lo, hi) = l.probs();
                    cv_csv.push_str(&format!(
                        ",{},{}",
                        out.quantile(i, s, lo),
                        out.quantile(i, s, hi)
                    ));
                }
                cv_csv.push('\n');
            }
            let scale = metrics::naive_scale(hist, out.season);
            let q = |p: f64| -> Vec<f64> { (0..horizon).map(|s| out.quantile(i, s, p)).collect() };
            let one = |acc: &mut Sums| {
                acc.n += 1;
                add(&mut acc.mase, metrics::mase(actual, &node.mean, scale));
                add(&mut acc.smape, metrics::smape(actual, &node.mean));
                add(&mut acc.rmsse, metrics::rmsse(actual, &node.mean, hist));
                if let Some(l) = out.levels.first() {
                    let (lo, hi) = l.probs();
                    let pin = (metrics::pinball(actual, &q(lo), lo)
                        + metrics::pinball(actual, &q(0.5), 0.5)
                        + metrics::pinball(actual, &q(hi), hi))
                        / 3.0;
                    add(&mut acc.pinball, pin / scale);
                }
                for l in &out.levels {
                    let (lo, hi) = l.probs();
                    add(
                        acc.cover.entry(l.label()).or_default(),
                        metrics::coverage(actual, &q(lo), &q(hi)),
                    );
                }
            };
            one(&mut overall);
            one(sums.entry(node.level.clone()).or_default());
        }
    }
    Ok(Report {
        alias,
        windows,
        horizon,
        overall: overall.finish(),
        by_level: sums.iter().map(|(k, v)| (k.clone(), v.finish())).collect(),
    })
}

/// How much wider (or narrower) the spread must be, per hierarchy level, for the first
/// interval level to cover what it says on the last `windows` rolling origins: the empirical
/// quantile of |actual − mean| / sd over the normal one, between 0.5 and 3. A level with fewer
/// than 10 scored steps keeps factor 1.
pub fn spread_factors(
    job: &Job,
    panel: &Panel,
    windows: usize,
) -> Result<BTreeMap<String, f64>, ForecastError> {
    let horizon = job.validate()?;
    let level = job.levels.first().map_or(0.8, |l| l.0 / 100.0);
    let mut z: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let full = histories(job, panel)?;
    for w in 0..windows {
        let cut = (windows - 1 - w) * horizon + horizon;
        let train = cut_back(
            panel,
            cut,
            &format!("calibrating on {windows} windows of {horizon} needs"),
        )?;
        let out = job.run(&train, &|_, _| {})?;
        for (i, node) in out.nodes.iter().enumerate() {
            let n = out.history[i].len();
            let zs = z.entry(node.level.clone()).or_default();
            for s in 0..horizon {
                if node.sd[s] > 0.0 {
                    zs.push(((full[i][n + s] - node.mean[s]) / node.sd[s]).abs());
                }
            }
        }
    }
    let normal = crate::stats::normal_quantile(0.5 + level / 2.0);
    Ok(z.into_iter()
        .map(|(k, mut v)| {
            if v.len() < 10 {
                return (k, 1.0);
            }
            v.sort_by(f64::total_cmp);
            let q = v[((v.len() - 1) as f64 * level).round() as usize];
            (k, (q / normal).clamp(0.5, 3.0))
        })
        .collect())
}
