#!/usr/bin/env bash
# What only the benchmarks need, idempotently:
#   postgres (the default): PostgreSQL (Debian 12: version 15), the reference of
#     `make bench-analytics` and `make bench-foodgraph`, its default cluster started;
#   h2load: nghttp2's HTTP/2 load generator (apt nghttp2-client), the people of `make bench-hub`.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  if ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; then
    echo "install-bench-deps: apt package $1"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
  fi
}
case "${1:-postgres}" in
  postgres)
    apt_install postgresql
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
      $SUDO pg_ctlcluster "$ver" main start
    fi
    ;;
  h2load) apt_install nghttp2-client ;;
  *) echo "install-bench-deps: unknown set '$1' (postgres, h2load)" >&2; exit 2 ;;
esac
