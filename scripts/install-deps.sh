#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need, idempotently: Debian packages
# (only the missing ones) and the Python test peers in a project-local venv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mosquitto mosquitto-clients python3-venv curl)
missing=()
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

PY_REQS=scripts/requirements-peers.txt
stamp=.venv/.installed-$(sha256sum "$PY_REQS" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "install-deps: python peers into .venv ($(tr '\n' ' ' < "$PY_REQS"))"
  python3 -m venv .venv 2>/dev/null || { rm -rf .venv; python3 -m venv --without-pip .venv && .venv/bin/python -m ensurepip -q; }
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$PY_REQS"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
