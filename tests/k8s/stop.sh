#!/usr/bin/env bash
# stop.sh DIR : stops every process that start.sh DIR started (newest first)
# and waits until they are gone. Keeps DIR (logs, etcd data, PKI).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d "$1" ]] || c4i_die "no such state dir: $1"
DIR="$(cd "$1" && pwd)"
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  if c4i_alive "$c" "$DIR"; then
    c4i_log "stopping $c (pid $(cat "$DIR/pids/$c.pid"))"
  fi
  c4i_stop "$c" "$DIR" 20
done
c4i_log "plane in $DIR stopped"
