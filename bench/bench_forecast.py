"""bench-forecast: FoodFlow's forecaster vs StatsForecast AutoETS + HierarchicalForecast on the
Tourism hierarchy (pyhts: 76 cities, 240 months; total → state → region → city), horizon 12,
rolling origin (3 windows, 12 months apart), in the same run on the same machine.

Both sides are scored by the same function here, from their cross-validation rows:
  - MASE: mean absolute error over the window / in-sample MAE of the seasonal naive (m = 12),
    averaged over every node and window;
  - pinball: mean pinball loss of P10, P50 and P90 with the same scale.
The reference is StatsForecast AutoETS(season_length=12) with its 80 % intervals, reconciled
by HierarchicalForecast BottomUp and MinTrace(wls_struct) (normality intervals); its better
reconciliation (lower MASE) is the bar. Reference time is the faster of n_jobs=1 and all
cores, after a warm-up that compiles numba's functions (their JIT cost is not counted).

Then the scale part (cargo bench foodflow-forecast --bench scale): ~100,000 synthetic series
reconciled with MinTrace. The last line is the JSON the issue asks for.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

import numpy as np
import pandas as pd

H, WINDOWS, SEASON, LEVEL = 12, 3, 12, 80
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
HUB = os.path.join(TARGET, "release", "foodflow-hub")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def tourism():
    import pyhts

    path = os.path.join(os.path.dirname(pyhts.__file__), "data", "Tourism.csv")
    wide = pd.read_csv(path, index_col=0)
    months = [c for c in wide.columns if c not in ("state", "region", "city")]
    ds = pd.date_range("1998-01-01", periods=len(months), freq="MS")
    rows = []
    for _, r in wide.iterrows():
        uid = f"{r.state}/{r.region}/{r.city}"
        for d, m in zip(ds, months):
            rows.append((uid, r.state, r.region, r.city, d, float(r[m])))
    return pd.DataFrame(rows, columns=["unique_id", "state", "region", "city", "ds", "y"])


def node_key(uid):
    """HierarchicalForecast writes 'Total/A/AA'; FoodFlow 'A/AA' and 'Total'."""
    return uid[len("Total/"):] if uid.startswith("Total/") else uid


def score(cv, histories, col, lo, hi):
    """cv: unique_id (node key), cutoff, ds, y, forecast columns. histories: key -> Series."""
    mases, pins, cover = [], [], []
    for (uid, cutoff), g in cv.groupby(["unique_id", "cutoff"]):
        hist = histories[uid]
        train = hist[hist.index <= cutoff].to_numpy()
        scale = np.mean(np.abs(train[SEASON:] - train[:-SEASON]))
        y = g["y"].to_numpy()
        f = g[col].to_numpy()
        ql, qh = g[lo].to_numpy(), g[hi].to_numpy()
        mases.append(np.mean(np.abs(y - f)) / scale)

        def pin(q, p):
            d = y - q
            return np.mean(np.maximum(p * d, (p - 1) * d))

        tail = (1 - LEVEL / 100) / 2
        pins.append((pin(ql, tail) + pin(f, 0.5) + pin(qh, 1 - tail)) / 3 / scale)
        cover.append(np.mean((ql <= y) & (y <= qh)))
    return float(np.mean(mases)), float(np.mean(pins)), float(np.mean(cover)), len(mases)


def reference(df, n_jobs):
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace
    from hierarchicalforecast.utils import aggregate
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    df = df.copy()
    df["total"] = "Total"
    spec = [["total"], ["total", "state"], ["total", "state", "region"], ["total", "state", "region", "city"]]
    Y, S, tags = aggregate(df[["total", "state", "region", "city", "ds", "y"]], spec)
    ends = sorted(Y["ds"].unique())
    out = []
    t0 = time.perf_counter()
    for w in range(WINDOWS):
        cutoff = ends[-1 - (WINDOWS - 1 - w) * H - H]
        train = Y[Y["ds"] <= cutoff]
        sf = StatsForecast(models=[AutoETS(season_length=SEASON)], freq="MS", n_jobs=n_jobs)
        fc = sf.forecast(df=train, h=H, level=[LEVEL], fitted=True)
        fitted = sf.forecast_fitted_values()
        rec = HierarchicalReconciliation([BottomUp(), MinTrace(method="wls_struct")])
        r = rec.reconcile(Y_hat_df=fc, Y_df=fitted, S_df=S, tags=tags, level=[LEVEL])
        r["cutoff"] = cutoff
        out.append(r)
    secs = time.perf_counter() - t0
    cv = pd.concat(out)
    cv = cv.merge(Y[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
    cv["unique_id"] = cv["unique_id"].map(node_key)
    return cv, secs, Y


def main():
    df = tourism()
    log(f"bench-forecast: Tourism, {df.unique_id.nunique()} bottom series x {df.ds.nunique()} months")

    # Reference: warm-up (numba compilation) on a small slice, then timed runs.
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    warm = df[df.unique_id.isin(df.unique_id.unique()[:2])][["unique_id", "ds", "y"]]
    StatsForecast(models=[AutoETS(season_length=SEASON)], freq="MS", n_jobs=1).forecast(
        df=warm, h=H, level=[LEVEL], fitted=True
    )
    best = None
    for n_jobs in (1, -1):
        cv, secs, Y = reference(df, n_jobs)
        log(f"reference (StatsForecast AutoETS + HierarchicalForecast, n_jobs={n_jobs}): {secs:.2f} s")
        if best is None or secs < best[1]:
            best = (cv, secs, Y)
    ref_cv, ref_seconds, Y = best
    histories = {node_key(u): g.set_index("ds")["y"] for u, g in Y.groupby("unique_id")}
    refs = {}
    for name in ("AutoETS/BottomUp", "AutoETS/MinTrace_method-wls_struct"):
        refs[name] = score(ref_cv, histories, name, f"{name}-lo-{LEVEL}", f"{name}-hi-{LEVEL}")
        log(f"  {name}: MASE {refs[name][0]:.4f}  pinball {refs[name][1]:.4f}  coverage {refs[name][2]:.3f}  ({refs[name][3]} node-windows)")
    ref_name = min(refs, key=lambda k: refs[k][0])

    # FoodFlow: the release CLI on the same data (its own process, as a user would run it).
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "tourism.csv")
        df[["unique_id", "ds", "y"]].to_csv(inp, index=False, date_format="%Y-%m-%d")
        cvp = os.path.join(tmp, "cv.csv")
        cmd = [HUB, "forecast", "backtest", "--input", inp, "--hierarchy", "state/region/city",
               "--horizon", str(H), "--windows", str(WINDOWS), "--level", str(LEVEL),
               "--reconcile", "mint_wls_struct", "--cv-output", cvp]
        runs = {}
        for calibrate in (0, 2):
            t0 = time.perf_counter()
            done = subprocess.run(cmd + ["--calibrate", str(calibrate)], capture_output=True, text=True)
            secs = time.perf_counter() - t0
            if done.returncode != 0:
                sys.exit(f"foodflow-hub forecast backtest failed:\n{done.stderr}")
            cv = pd.read_csv(cvp, parse_dates=["ds", "cutoff"])
            col = cv.columns[4]
            runs[calibrate] = (score(cv, histories, col, f"{col}-lo-{LEVEL}", f"{col}-hi-{LEVEL}"), secs)
            r = runs[calibrate][0]
            log(f"FoodFlow {col}, --calibrate {calibrate}: MASE {r[0]:.4f}  pinball {r[1]:.4f}  coverage {r[2]:.3f}  ({r[3]} node-windows), {secs:.2f} s")
    # The default run (model intervals) is the headline; the calibrated one is reported beside it.
    ours, seconds = runs[0]
    cal, cal_seconds = runs[2]
    log(f"reference bar: {ref_name} (MASE {refs[ref_name][0]:.4f}), {ref_seconds:.2f} s")

    scale = subprocess.run(
        ["cargo", "bench", "-q", "-p", "foodflow-forecast", "--bench", "scale"],
        capture_output=True, text=True, cwd=ROOT,
    )
    if scale.returncode != 0:
        sys.exit(f"scale bench failed:\n{scale.stderr}")
    log(scale.stderr.strip())
    sc = json.loads(scale.stdout.strip().splitlines()[-1])

    print(json.dumps({
        "bench": "forecast",
        "dataset": "tourism",
        "mase": round(ours[0], 4),
        "ref_mase": round(refs[ref_name][0], 4),
        "mase_ratio": round(ours[0] / refs[ref_name][0], 4),
        "pinball": round(ours[1], 4),
        "ref_pinball": round(refs[ref_name][1], 4),
        "seconds": round(seconds, 2),
        "ref_seconds": round(ref_seconds, 2),
        "speedup": round(ref_seconds / seconds, 2),
        "scale_series": sc["scale_series"],
        "scale_seconds": sc["scale_seconds"],
        "coverage_80": round(ours[2], 3),
        "ref_coverage_80": round(refs[ref_name][2], 3),
        "ref_method": ref_name,
        "calibrated_pinball": round(cal[1], 4),
        "calibrated_coverage_80": round(cal[2], 3),
        "calibrated_seconds": round(cal_seconds, 2),
    }))


if __name__ == "__main__":
    main()
