#!/usr/bin/env bash
# apiserver.sh DIR stop|start|restart : stops or (re)starts only the
# kube-apiserver of a plane made by start.sh DIR, on the same port and
# flags (DIR/cmd/kube-apiserver.sh). start waits until /readyz is ok.
# Env: C4I_K8S_START_TIMEOUT (s, default 180).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 2 ]] || { echo "usage: $0 DIR stop|start|restart" >&2; exit 2; }
DIR="$(cd "$1" && pwd)"
[[ -x "$DIR/cmd/kube-apiserver.sh" ]] || c4i_die "$DIR was not set up by start.sh"

do_stop() {
  c4i_alive kube-apiserver "$DIR" && c4i_log "stopping kube-apiserver (pid $(cat "$DIR/pids/kube-apiserver.pid"))"
  c4i_stop kube-apiserver "$DIR" 20
}
do_start() {
  if c4i_alive kube-apiserver "$DIR"; then
    c4i_log "kube-apiserver already running"
  else
    c4i_alive etcd "$DIR" || c4i_die "etcd of $DIR is not running; use start.sh"
    c4i_log "starting kube-apiserver"
    c4i_start kube-apiserver "$DIR" "$DIR/cmd/kube-apiserver.sh"
  fi
  if ! c4i_wait_readyz "$DIR" "${C4I_K8S_START_TIMEOUT:-180}"; then
    tail -n 20 "$DIR/logs/kube-apiserver.log" >&2
    c4i_die "kube-apiserver not ready"
  fi
  c4i_log "kube-apiserver ready"
}
case "$2" in
  stop) do_stop ;;
  start) do_start ;;
  restart) do_stop; do_start ;;
  *) echo "usage: $0 DIR stop|start|restart" >&2; exit 2 ;;
esac
