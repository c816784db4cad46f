#!/usr/bin/env bash
# stop.sh DIR : stops every process that start.sh DIR started and waits
# until they are gone: first kwok, the scheduler, the controller manager and
# the apiserver together (SIGTERM, SIGKILL after 20 s), then etcd.
# Keeps DIR (logs, etcd data, PKI), so start.sh DIR can start it again.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d "$1" ]] || c4i_die "no such state dir: $1"
DIR="$(cd "$1" && pwd)"
t0=$SECONDS
stop_group() {
  local c pids=()
  for c in "$@"; do
    if c4i_alive "$c" "$DIR"; then
      c4i_log "stopping $c (pid $(cat "$DIR/pids/$c.pid"))"
      c4i_stop "$c" "$DIR" 20 &
      pids+=($!)
    else
      rm -f "$DIR/pids/$c.pid"
    fi
  done
  for c in "${pids[@]}"; do wait "$c" || true; done
}
stop_group kwok kube-scheduler kube-controller-manager kube-apiserver
stop_group etcd
c4i_log "plane in $DIR stopped ($(( SECONDS - t0 ))s)"
