#!/usr/bin/env bash
# Keeps the shared build cache from filling the disk: every clone (CI builds a fresh one each
# time) compiles the workspace's own crates and tests under new hashes, so their old artifacts
# and incremental state pile up (measured: 74 GB after a day). Removes those of this workspace
# not touched for 3 hours; third-party crates are kept (they are shared between clones).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/foodflow/target}
[ -d "$TARGET" ] || exit 0
names=$(cargo metadata --no-deps --format-version 1 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(" ".join(sorted({t["name"].replace("-", "_") for p in m["packages"] for t in p["targets"]})))')
python3 - "$TARGET" $names <<'PY'
import os, re, shutil, sys, time
target, names = sys.argv[1], set(sys.argv[2:])
cutoff = time.time() - 3 * 3600
freed = 0
for profile in ("debug", "release"):
    deps = os.path.join(target, profile, "deps")
    if os.path.isdir(deps):
        for f in os.listdir(deps):
            m = re.match(r"^(lib)?(.+?)-[0-9a-f]{16}(\..*)?$", f)
            p = os.path.join(deps, f)
            if m and m.group(2) in names and os.lstat(p).st_mtime < cutoff:
                freed += os.lstat(p).st_size
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    inc = os.path.join(target, profile, "incremental")
    if os.path.isdir(inc):
        for d in os.listdir(inc):
            p = os.path.join(inc, d)
            if os.lstat(p).st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)
if freed > 1e9:
    print(f"prune-target: {freed / 1e9:.1f} GB of stale workspace artifacts removed from {target}")
PY
