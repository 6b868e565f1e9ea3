#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need, idempotently: Debian packages
# (only the missing ones), the Python test peers in a project-local venv (.venv) and the
# browser-test driver (npm playwright-core, from tests/ui/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the browser tests drive Debian's Chromium (never a downloaded browser).
APT_PACKAGES=(mosquitto mosquitto-clients python3-venv curl chromium)
missing=()
# Node.js and npm for playwright-core; a Node.js that already brings its own npm is kept.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian package enables a system-wide broker on 1883; tests start their own on free ports.

scripts/install-venv.sh .venv scripts/requirements-peers.txt

UI_LOCK=tests/ui/package-lock.json
ui_stamp=tests/ui/node_modules/.installed-$(sha256sum "$UI_LOCK" | cut -c1-16)
if [ ! -f "$ui_stamp" ]; then
  echo "install-deps: npm ci in tests/ui (playwright-core, no browser download)"
  (cd tests/ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  rm -f tests/ui/node_modules/.installed-*
  touch "$ui_stamp"
fi

# Reference routing instances and solutions (MIT): the test data of the pyvrp sdist, unpacked
# into tests/data/external/pyvrp (not committed: it comes from the package registry).
EXT=tests/data/external/pyvrp
if [ ! -f "$EXT/.installed-0.14.1" ]; then
  echo "install-deps: routing test instances from the pyvrp 0.14.1 sdist"
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-binary pyvrp pyvrp==0.14.1 -d "$tmp"
  rm -rf "$EXT" && mkdir -p "$EXT"
  tar xzf "$tmp"/pyvrp-0.14.1.tar.gz -C "$tmp"
  cp "$tmp"/pyvrp-0.14.1/tests/data/*.vrp "$tmp"/pyvrp-0.14.1/tests/data/*.sol "$tmp"/pyvrp-0.14.1/LICENSE.md "$EXT"/
  rm -rf "$tmp"
  touch "$EXT/.installed-0.14.1"
fi
