#!/usr/bin/env bash
# A project-local Python venv with pinned requirements, idempotently (re-installed only when the
# requirements file changes): scripts/install-venv.sh DIR REQUIREMENTS
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$1
REQS=$2
stamp=$DIR/.installed-$(sha256sum "$REQS" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "install-venv: $DIR ($(tr '\n' ' ' < "$REQS"))"
  python3 -m venv "$DIR" 2>/dev/null || { rm -rf "$DIR"; python3 -m venv --without-pip "$DIR" && "$DIR"/bin/python -m ensurepip -q; }
  "$DIR"/bin/python -m pip install -q --disable-pip-version-check -r "$REQS"
  rm -f "$DIR"/.installed-*
  touch "$stamp"
fi
