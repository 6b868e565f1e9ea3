//! `foodflow-hub forecast run|backtest`: the forecasting library over StatsForecast's long CSV
//! format, with progress on stderr.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use foodflow_forecast::backtest;
use foodflow_forecast::models::ModelKind;
use foodflow_forecast::pipeline::{Job, Level};
use foodflow_forecast::reconcile::Method;
use foodflow_forecast::{Panel, hierarchy};

use crate::progress::Progress;

/// What `run` and `backtest` share.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// Long-format CSV: unique_id, ds, y (+ hierarchy columns).
    #[arg(long)]
    pub input: PathBuf,
    /// Hierarchy spec: `state/region/city`, or chains crossed with `*` (`product/sku*location`).
    /// Bottom series take the levels from columns of those names or from unique_id split at '/'.
    #[arg(long)]
    pub hierarchy: Option<String>,
    /// Periods ahead.
    #[arg(long, allow_negative_numbers = true)]
    pub horizon: i64,
    /// Prediction-interval levels in percent (80 → P10 and P90); repeat or separate by commas.
    #[arg(long, value_delimiter = ',', default_value = "80")]
    pub level: Vec<String>,
    /// auto (TSB for intermittent series, else AutoETS + Theta), ensemble, ets, theta, otheta,
    /// snaive, naive, croston, tsb.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// bottom_up, top_down, mint_ols, mint_wls_struct, mint_shrink, none
    /// [default: mint_wls_struct with --hierarchy, none without].
    #[arg(long)]
    pub reconcile: Option<String>,
    /// Seasonal period [default: from the calendar: 12 monthly, 4 quarterly, 7 daily, 52 weekly].
    #[arg(long)]
    pub season: Option<usize>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Calibrate the intervals on this many rolling-origin windows before the forecast
    /// (rescales the spread per hierarchy level so the first level covers what it says;
    /// costs one extra fit per window).
    #[arg(long, default_value_t = 0)]
    pub calibrate: usize,
}

impl JobArgs {
    pub fn job(&self) -> Result<Job> {
        let model: ModelKind = self.model.parse().map_err(anyhow::Error::msg)?;
        let hierarchy = self
            .hierarchy
            .as_deref()
            .map(str::parse::<hierarchy::Spec>)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let method = match &self.reconcile {
            Some(m) => m.parse().map_err(anyhow::Error::msg)?,
            None if hierarchy.is_some() => Method::MinTraceWlsStruct,
            None => Method::None,
        };
        let levels = self
            .level
            .iter()
            .map(|l| Level::parse(l))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let mut job = Job {
            model,
            horizon: self.horizon,
            levels,
            season: self.season,
            hierarchy,
            method,
            calibrate: self.calibrate,
            ..Job::default()
        };
        if let Some(t) = self.threads {
            job.threads = t.max(1);
        }
        job.validate()?;
        Ok(job)
    }
}

pub fn read_panel(path: &Path) -> Result<Panel> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Panel::from_csv(&text).with_context(|| format!("{}", path.display()))
}

fn reporter(what: &'static str) -> impl Fn(usize, usize) + Sync {
    let bar: Mutex<Option<Progress>> = Mutex::new(None);
    move |done, total| {
        let mut g = bar.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert_with(|| Progress::new(what, "series", total as u64))
            .set(done as u64);
    }
}

/// `forecast run`: forecasts to `output` (or stdout) in StatsForecast's wide format.
pub fn run(args: &JobArgs, output: Option<&Path>) -> Result<()> {
    let job = args.job()?;
    let panel = read_panel(&args.input)?;
    eprintln!(
        "forecast: {} series ({} calendar), model {}, reconciliation {}, horizon {}",
        panel.series.len(),
        panel.calendar.name(),
        job.model,
        job.method,
        job.horizon
    );
    let out = job.run(&panel, &reporter("forecast"))?;
    let csv = out.to_csv();
    match output {
        Some(p) => {
            std::fs::write(p, csv).with_context(|| format!("writing {}", p.display()))?;
            eprintln!(
                "forecast: {} series written to {}",
                out.nodes.len(),
                p.display()
            );
        }
        None => print!("{csv}"),
    }
    Ok(())
}

/// `forecast backtest`: rolling-origin accuracy as one JSON line on stdout; the
/// cross-validation rows to `cv_output` if given.
pub fn backtest(
    args: &JobArgs,
    windows: usize,
    step: Option<usize>,
    cv_output: Option<&Path>,
) -> Result<()> {
    let job = args.job()?;
    let panel = read_panel(&args.input)?;
    let step = step.unwrap_or(job.horizon as usize);
    let mut cv = String::new();
    let report = backtest::run(&job, &panel, windows, step, &mut cv, &reporter("backtest"))?;
    if let Some(p) = cv_output {
        std::fs::write(p, cv).with_context(|| format!("writing {}", p.display()))?;
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
