#!/usr/bin/env bash
# The reference of `make bench-optimize`, idempotently: PyVRP in its own venv (.venv-optimize).
set -euo pipefail
cd "$(dirname "$0")/.."
REQS=scripts/requirements-bench-optimize.txt
stamp=.venv-optimize/.installed-$(sha256sum "$REQS" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "install-optimize-bench-deps: $(tr '\n' ' ' < "$REQS")"
  python3 -m venv .venv-optimize 2>/dev/null || { rm -rf .venv-optimize; python3 -m venv --without-pip .venv-optimize && .venv-optimize/bin/python -m ensurepip -q; }
  .venv-optimize/bin/python -m pip install -q --disable-pip-version-check -r "$REQS"
  rm -f .venv-optimize/.installed-*
  touch "$stamp"
fi
