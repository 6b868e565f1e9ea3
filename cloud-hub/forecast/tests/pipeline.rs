//! The whole job on data with known structure: coherence of every reconciliation, interval
//! coverage on simulated series, and backtests that tell a good model from a bad one.

use foodflow_forecast::backtest;
use foodflow_forecast::models::ModelKind;
use foodflow_forecast::pipeline::{Job, Level};
use foodflow_forecast::reconcile::Method;
use foodflow_forecast::synth::{self, gaussian};
use foodflow_forecast::{Calendar, Panel, Series};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn plan() -> synth::Plan {
    synth::Plan {
        fanout: vec![3, 2, 4],
        periods: 60,
        season: 12,
        seed: 11,
    }
}

#[test]
fn every_reconciliation_is_coherent_to_1e_6() {
    let plan = plan();
    let panel = synth::panel(&plan);
    for method in [
        Method::BottomUp,
        Method::TopDown,
        Method::MinTraceOls,
        Method::MinTraceWlsStruct,
        Method::MinTraceShrink,
    ] {
        let job = Job {
            model: ModelKind::Auto,
            horizon: 6,
            hierarchy: Some(synth::spec(&plan).parse().unwrap()),
            method,
            ..Job::default()
        };
        let out = job.run(&panel, &|_, _| {}).unwrap();
        assert_eq!(out.nodes.len(), 1 + 3 + 6 + 24);
        let by_id = |id: &str| out.nodes.iter().find(|n| n.id == id).unwrap();
        for step in 0..6 {
            let total = by_id("Total").mean[step];
            let states: f64 = (0..3).map(|i| by_id(&format!("L0-{i}")).mean[step]).sum();
            let bottoms: f64 = out
                .nodes
                .iter()
                .filter(|n| n.level == "l0/l1/l2")
                .map(|n| n.mean[step])
                .sum();
            assert!(
                (total - states).abs() < 1e-6 * total.abs().max(1.0),
                "{method}: {total} vs {states}"
            );
            assert!(
                (total - bottoms).abs() < 1e-6 * total.abs().max(1.0),
                "{method}"
            );
            let region = by_id("L0-1/L1-0").mean[step];
            let cities: f64 = (0..4)
                .map(|i| by_id(&format!("L0-1/L1-0/L2-{i}")).mean[step])
                .sum();
            assert!(
                (region - cities).abs() < 1e-6 * region.abs().max(1.0),
                "{method}"
            );
            // Quantiles bracket the mean, and the spread grows up the hierarchy.
            assert!(out.quantile(0, step, 0.1) < total && total < out.quantile(0, step, 0.9));
        }
        assert!(by_id("Total").sd[0] > by_id("L0-0/L1-0/L2-0").sd[0]);
    }
}

/// A local-level process with known noise: the 80 % interval should hold about 80 % of what
/// happens next.
#[test]
fn intervals_cover_simulated_outcomes() {
    let mut rng = StdRng::seed_from_u64(5);
    let (n, h, k) = (80usize, 6usize, 400usize);
    let mut series = Vec::new();
    let mut future = Vec::new();
    for i in 0..k {
        let mut level = 100.0;
        let mut ys = Vec::new();
        for _ in 0..n + h {
            level += 1.0 * gaussian(&mut rng);
            ys.push(level + 2.0 * gaussian(&mut rng));
        }
        future.push(ys.split_off(n));
        series.push(Series {
            id: format!("s{i}"),
            start: 0,
            values: ys,
            attrs: Default::default(),
        });
    }
    let panel = Panel {
        calendar: Calendar::Index,
        series,
    };
    for model in [ModelKind::AutoEts, ModelKind::Theta, ModelKind::Ensemble] {
        let job = Job {
            model,
            horizon: h as i64,
            levels: vec![Level(80.0)],
            ..Job::default()
        };
        let out = job.run(&panel, &|_, _| {}).unwrap();
        let mut inside = 0;
        for (i, f) in future.iter().enumerate() {
            for (s, y) in f.iter().enumerate() {
                if out.quantile(i, s, 0.1) <= *y && *y <= out.quantile(i, s, 0.9) {
                    inside += 1;
                }
            }
        }
        let cover = inside as f64 / (k * h) as f64;
        assert!(
            (0.72..=0.88).contains(&cover),
            "{model}: 80 % interval covered {cover:.3}"
        );
    }
}

#[test]
fn backtest_prefers_the_model_that_fits_the_structure() {
    // Strong trend and season: AutoETS must beat the naive forecast by a wide margin.
    let pattern = [0.7, 0.8, 1.0, 1.2, 1.4, 1.3, 1.1, 1.0, 0.9, 0.8, 0.9, 0.9];
    let mut rng = StdRng::seed_from_u64(9);
    let series = (0..20)
        .map(|i| Series {
            id: format!("sku{i}"),
            start: 2015 * 12,
            values: (0..96)
                .map(|t| {
                    (50.0 + i as f64 + 0.8 * t as f64)
                        * pattern[t % 12]
                        * (1.0 + 0.03 * gaussian(&mut rng))
                })
                .collect(),
            attrs: Default::default(),
        })
        .collect();
    let panel = Panel {
        calendar: Calendar::Monthly { day: 1 },
        series,
    };
    let score = |model| {
        let job = Job {
            model,
            horizon: 12,
            ..Job::default()
        };
        let mut cv = String::new();
        backtest::run(&job, &panel, 2, 12, &mut cv, &|_, _| {}).unwrap()
    };
    let ets = score(ModelKind::AutoEts);
    let naive = score(ModelKind::Naive);
    assert_eq!(ets.overall.scored, 40);
    assert!(
        ets.overall.mase < 0.5 * naive.overall.mase,
        "{} vs {}",
        ets.overall.mase,
        naive.overall.mase
    );
    let mut cv = String::new();
    backtest::run(
        &Job {
            model: ModelKind::Naive,
            horizon: 3,
            ..Job::default()
        },
        &panel,
        2,
        3,
        &mut cv,
        &|_, _| {},
    )
    .unwrap();
    let mut lines = cv.lines();
    assert_eq!(
        lines.next(),
        Some("unique_id,ds,cutoff,y,Naive,Naive-lo-80,Naive-hi-80")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("sku0,2022-07-01,2022-06-01,")
    );
    assert_eq!(cv.lines().count(), 1 + 20 * 2 * 3);
}

#[test]
fn too_short_for_the_backtest_names_the_series() {
    let panel = Panel::from_csv("unique_id,ds,y\na,1,1\na,2,2\na,3,3\na,4,4\na,5,5\n").unwrap();
    let job = Job {
        horizon: 3,
        ..Job::default()
    };
    let mut cv = String::new();
    let e = backtest::run(&job, &panel, 2, 3, &mut cv, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "series \"a\": has 5 periods: 2 windows of 3 periods 3 apart need at least 9"
        ),
        "{e}"
    );
}

/// Noise that grows over time fools the models' in-sample spread (too narrow for the future);
/// calibrating on rolling origins widens the intervals towards their stated coverage.
#[test]
fn calibration_corrects_intervals_that_are_too_narrow() {
    let mut rng = StdRng::seed_from_u64(17);
    let (n, h, k) = (120usize, 6usize, 300usize);
    let mut series = Vec::new();
    let mut future = Vec::new();
    for i in 0..k {
        let mut ys = Vec::new();
        for t in 0..n + h {
            let noise = 1.0 + 5.0 * (t as f64 / (n + h) as f64).powi(3);
            ys.push(100.0 + noise * gaussian(&mut rng));
        }
        future.push(ys.split_off(n));
        series.push(Series {
            id: format!("s{i}"),
            start: 0,
            values: ys,
            attrs: Default::default(),
        });
    }
    let panel = Panel {
        calendar: Calendar::Index,
        series,
    };
    let cover = |calibrate: usize| {
        let job = Job {
            model: ModelKind::AutoEts,
            horizon: h as i64,
            calibrate,
            ..Job::default()
        };
        let out = job.run(&panel, &|_, _| {}).unwrap();
        let mut inside = 0;
        for (i, f) in future.iter().enumerate() {
            for (s, y) in f.iter().enumerate() {
                if out.quantile(i, s, 0.1) <= *y && *y <= out.quantile(i, s, 0.9) {
                    inside += 1;
                }
            }
        }
        inside as f64 / (k * h) as f64
    };
    let (plain, calibrated) = (cover(0), cover(3));
    eprintln!("80 % interval coverage: models' own {plain:.3}, calibrated {calibrated:.3}");
    assert!(
        plain < 0.72,
        "the models' own intervals are too narrow here: {plain:.3}"
    );
    assert!(
        calibrated > plain + 0.05 && (0.70..=0.92).contains(&calibrated),
        "{plain:.3} → {calibrated:.3}"
    );
}
