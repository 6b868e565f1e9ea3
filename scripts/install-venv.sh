#!/usr/bin/env bash
# A project-local Python venv with pinned requirements, idempotently (re-installed only when the
# requirements file changes): scripts/install-venv.sh DIR REQUIREMENTS
# A REQUIREMENTS-nodeps.txt beside it is installed without dependencies: packages whose declared
# pins conflict with ours but which we use only in part (their needs are in REQUIREMENTS).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$1
REQS=$2
NODEPS=${REQS%.txt}-nodeps.txt
stamp=$DIR/.installed-$(cat "$REQS" $( [ -f "$NODEPS" ] && echo "$NODEPS") | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "install-venv: $DIR ($(tr '\n' ' ' < "$REQS"))"
  python3 -m venv "$DIR" 2>/dev/null || { rm -rf "$DIR"; python3 -m venv --without-pip "$DIR" && "$DIR"/bin/python -m ensurepip -q; }
  "$DIR"/bin/python -m pip install -q --disable-pip-version-check -r "$REQS"
  if [ -f "$NODEPS" ]; then
    "$DIR"/bin/python -m pip install -q --disable-pip-version-check --no-deps -r "$NODEPS"
  fi
  rm -f "$DIR"/.installed-*
  touch "$stamp"
fi
