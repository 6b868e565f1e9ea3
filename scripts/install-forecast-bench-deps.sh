#!/usr/bin/env bash
# The reference of `make bench-forecast`, idempotently: StatsForecast, HierarchicalForecast and
# the Tourism data set (pyhts) in their own venv (.venv-forecast), apart from the test peers.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS=scripts/requirements-bench-forecast.txt
stamp=.venv-forecast/.installed-$(sha256sum "$REQS" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "install-forecast-bench-deps: $(tr '\n' ' ' < "$REQS")"
  python3 -m venv .venv-forecast 2>/dev/null || { rm -rf .venv-forecast; python3 -m venv --without-pip .venv-forecast && .venv-forecast/bin/python -m ensurepip -q; }
  .venv-forecast/bin/python -m pip install -q --disable-pip-version-check -r "$REQS"
  rm -f .venv-forecast/.installed-*
  touch "$stamp"
fi
