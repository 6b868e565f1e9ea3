//! Scale: ~100,000 synthetic series (total → 10 → 300 → 100,200 bottom) reconciled with
//! MinTrace (wls_struct and ols), means and coherent quantiles, timed separately from the
//! base forecasts (seasonal naive, so the reconciliation dominates). Prints one JSON line.
//! `cargo bench -p foodflow-forecast --bench scale` (FOODFLOW_SCALE_FANOUT=10,30,334).

use std::time::Instant;

use foodflow_forecast::hierarchy::Hierarchy;
use foodflow_forecast::models::ModelKind;
use foodflow_forecast::pipeline::par_map;
use foodflow_forecast::reconcile::{Base, Method, Reconciler};
use foodflow_forecast::{models, synth};

fn main() {
    let fanout: Vec<usize> = std::env::var("FOODFLOW_SCALE_FANOUT")
        .unwrap_or_else(|_| "10,30,334".into())
        .split(',')
        .map(|s| s.trim().parse().expect("FOODFLOW_SCALE_FANOUT: numbers"))
        .collect();
    let plan = synth::Plan {
        fanout,
        periods: 48,
        season: 12,
        seed: 7,
    };
    let t = Instant::now();
    let panel = synth::panel(&plan);
    let spec = synth::spec(&plan).parse().expect("spec");
    let h = Hierarchy::build(&spec, &panel).expect("hierarchy");
    let (_, history) = h.aggregate(&panel).expect("aggregate");
    let build_s = t.elapsed().as_secs_f64();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let base = par_map(
        &history,
        threads,
        &|y: &Vec<f64>| models::forecast(ModelKind::SeasonalNaive, y, 12, 12),
        &|_| {},
    );
    let base_s = t.elapsed().as_secs_f64();
    let mean: Vec<Vec<f64>> = base.iter().map(|f| f.mean.clone()).collect();
    let sd: Vec<Vec<f64>> = base.iter().map(|f| f.sd.clone()).collect();
    let b = Base {
        mean: &mean,
        sd: &sd,
        residuals: &[],
        history: &history,
    };
    let mut out = Vec::new();
    for method in [Method::MinTraceWlsStruct, Method::MinTraceOls] {
        let t = Instant::now();
        let r = Reconciler::new(&h, method, &b)
            .expect("reconciler")
            .reconcile(&b, 1);
        let secs = t.elapsed().as_secs_f64();
        // Coherence of the result, as a check that the timing is of a real solve.
        let mut worst: f64 = 0.0;
        for (node, m) in h.nodes.iter().zip(&r.mean) {
            let sum: f64 = node
                .bottoms
                .iter()
                .map(|&x| r.mean[h.bottom_nodes[x as usize]][0])
                .sum();
            worst = worst.max((sum - m[0]).abs() / sum.abs().max(1.0));
        }
        eprintln!(
            "scale: {} series, {method}: {secs:.2} s ({} CG iterations), worst relative incoherence {worst:.1e}",
            h.nodes.len(),
            r.iterations
        );
        assert!(worst < 1e-6, "incoherent result");
        out.push((method, secs, r.iterations));
    }
    println!(
        "{{\"bench\":\"forecast-scale\",\"scale_series\":{},\"bottom_series\":{},\"build_s\":{build_s:.2},\"base_forecast_s\":{base_s:.2},\"scale_seconds\":{:.2},\"wls_struct_s\":{:.2},\"ols_s\":{:.2},\"cg_iterations_wls\":{},\"threads\":{threads}}}",
        h.nodes.len(),
        h.n_bottom(),
        out[0].1,
        out[0].1,
        out[1].1,
        out[0].2
    );
}
