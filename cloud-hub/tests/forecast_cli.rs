//! `foodflow-hub forecast run|backtest` as a planner runs it: a CSV in StatsForecast's long
//! format with a product × location hierarchy, the wide output back, and bad input refused
//! with the line and the series named.

mod support;

use std::collections::HashMap;
use std::process::Command;

use support::HUB;

fn input() -> String {
    // Two products × two locations, four years monthly, seasonal with a trend.
    let mut csv = String::from("unique_id,ds,y,product,location\n");
    for (i, (p, l)) in [
        ("pasta", "north"),
        ("pasta", "south"),
        ("sauce", "north"),
        ("sauce", "south"),
    ]
    .iter()
    .enumerate()
    {
        for t in 0..48 {
            let season = [0.8, 0.9, 1.0, 1.1, 1.3, 1.2, 1.0, 0.9, 0.9, 1.0, 1.1, 0.8][t % 12];
            let y = (100.0 + 30.0 * i as f64 + t as f64) * season + ((t * 7 + i) % 5) as f64;
            csv.push_str(&format!(
                "{p}-{l},{}-{:02}-01,{y:.2},{p},{l}\n",
                2020 + t / 12,
                t % 12 + 1
            ));
        }
    }
    csv
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(HUB).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn forecasts_a_grouped_hierarchy_coherently() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("sales.csv");
    std::fs::write(&inp, input()).unwrap();
    let out = dir.path().join("fc.csv");
    let (ok, _, err) = run(&[
        "forecast",
        "run",
        "--input",
        inp.to_str().unwrap(),
        "--hierarchy",
        "product*location",
        "--horizon",
        "6",
        "--level",
        "80,95",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("forecast: 100 %"), "progress is shown: {err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "unique_id,ds,Auto/MinTrace_method-wls_struct,Auto/MinTrace_method-wls_struct-lo-80,\
         Auto/MinTrace_method-wls_struct-hi-80,Auto/MinTrace_method-wls_struct-lo-95,\
         Auto/MinTrace_method-wls_struct-hi-95"
    );
    let mut mean: HashMap<(String, String), f64> = HashMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let v: Vec<f64> = f[2..].iter().map(|x| x.parse().unwrap()).collect();
        assert!(
            v[3] <= v[1] && v[1] <= v[0] && v[0] <= v[2] && v[2] <= v[4],
            "nested intervals: {l}"
        );
        mean.insert((f[0].to_owned(), f[1].to_owned()), v[0]);
    }
    // Total, 2 products, 2 locations, 4 bottom series × 6 months.
    assert_eq!(mean.len(), 9 * 6);
    let m = |id: &str| mean[&(id.to_owned(), "2024-03-01".to_owned())];
    assert!((m("Total") - m("pasta") - m("sauce")).abs() < 1e-6);
    assert!((m("north") - m("pasta-north") - m("sauce-north")).abs() < 1e-6);
    assert!((m("pasta") - m("pasta-north") - m("pasta-south")).abs() < 1e-6);
    // The forecast follows the season: May (1.3) above the following January (0.8).
    assert!(m("pasta-north") > 0.0);

    let (ok, stdout, err) = run(&[
        "forecast",
        "backtest",
        "--input",
        inp.to_str().unwrap(),
        "--hierarchy",
        "product*location",
        "--horizon",
        "6",
        "--windows",
        "2",
        "--model",
        "ets",
        "--reconcile",
        "bottom_up",
    ]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["alias"], "AutoETS/BottomUp");
    assert_eq!(report["overall"]["scored"], 18);
    assert!(
        report["overall"]["mase"].as_f64().unwrap() < 1.0,
        "{report}"
    );
    assert!(
        report["by_level"]["product*location"]["coverage"]["80"]
            .as_f64()
            .is_some()
    );
}

#[test]
fn bad_input_is_refused_with_line_and_series() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unique_id,ds,y\na,2024-01-01,1\na,2024-02-01,x\n",
            "line 3, series \"a\": y \"x\" is not a number",
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1\na,2024-01-01,2\n",
            "line 3, series \"a\": duplicate date 2024-01-01 (also on line 2)",
        ),
        (
            "unique_id,ds,y\na,2024-01-01,1\na,2024-02-01,2\na,2024-04-01,3\n",
            "line 4, series \"a\": 1 period(s) missing before 2024-04-01",
        ),
        (
            "unique_id,ds,y\na,2024-01-01,nan\n",
            "line 2, series \"a\": y is nan",
        ),
    ];
    for (i, (csv, want)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("bad{i}.csv"));
        std::fs::write(&p, csv).unwrap();
        let (ok, _, err) = run(&[
            "forecast",
            "run",
            "--input",
            p.to_str().unwrap(),
            "--horizon",
            "2",
        ]);
        assert!(!ok);
        assert!(err.contains(want), "want {want:?} in:\n{err}");
        assert!(
            err.contains(p.file_name().unwrap().to_str().unwrap()),
            "names the file: {err}"
        );
    }
    let good = dir.path().join("good.csv");
    std::fs::write(&good, input()).unwrap();
    let g = good.to_str().unwrap();
    let (ok, _, err) = run(&["forecast", "run", "--input", g, "--horizon", "-3"]);
    assert!(
        !ok && err.contains("horizon must be at least 1 period, got -3"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "forecast",
        "run",
        "--input",
        g,
        "--horizon",
        "3",
        "--hierarchy",
        "brand/product",
    ]);
    assert!(
        !ok && err.contains("needs the columns brand, product"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "forecast",
        "run",
        "--input",
        g,
        "--horizon",
        "3",
        "--reconcile",
        "mint_ols",
    ]);
    assert!(!ok && err.contains("needs a hierarchy"), "{err}");
    let (ok, _, err) = run(&[
        "forecast",
        "run",
        "--input",
        g,
        "--horizon",
        "3",
        "--model",
        "prophet",
    ]);
    assert!(!ok && err.contains("unknown model \"prophet\""), "{err}");
}
