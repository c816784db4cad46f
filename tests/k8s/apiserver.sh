#!/usr/bin/env bash
# apiserver.sh DIR stop|start|restart [--kick] : stops or (re)starts only the
# kube-apiserver of a plane made by start.sh DIR, on the same port and flags
# (DIR/cmd/kube-apiserver.sh). stop takes ~3 s; start waits for /readyz.
#
# After an outage the controller manager, scheduler and kwok come back on
# their own, but client-go's re-list back-off (up to ~30 s, doubled by
# jitter) means they may act only a minute or more later. With --kick,
# start/restart also restarts those three once the apiserver is ready, so
# the plane acts again within seconds.
# Env: C4I_K8S_START_TIMEOUT (s, default 180).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 DIR stop|start|restart [--kick]" >&2; exit 2; }
[[ $# -eq 2 || ( $# -eq 3 && "$3" == --kick ) ]] || usage
DIR="$(cd "$1" && pwd)"
ACTION="$2"
KICK="${3:-}"
TIMEOUT="${C4I_K8S_START_TIMEOUT:-180}"
[[ -x "$DIR/cmd/kube-apiserver.sh" && -f "$DIR/env" ]] || c4i_die "$DIR was not set up by start.sh"
# shellcheck source=/dev/null
source "$DIR/env"

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
  if ! c4i_wait_readyz "$DIR" "$TIMEOUT"; then
    tail -n 20 "$DIR/logs/kube-apiserver.log" >&2
    c4i_die "kube-apiserver not ready"
  fi
  c4i_log "kube-apiserver ready"
  [[ "$KICK" == --kick ]] && kick
  return 0
}

kick() {
  local c
  for c in kube-controller-manager kube-scheduler kwok; do
    c4i_log "restarting $c"
    c4i_stop "$c" "$DIR" 20
    [[ "$c" == kwok ]] && c4i_drop_kwok_leases "$DIR"
    c4i_start "$c" "$DIR" "$DIR/cmd/$c.sh"
  done
  c4i_wait_healthz kube-controller-manager "$DIR" "$KCM_PORT" "$TIMEOUT" || c4i_die "kube-controller-manager not healthy"
  c4i_wait_healthz kube-scheduler "$DIR" "$SCHEDULER_PORT" "$TIMEOUT" || c4i_die "kube-scheduler not healthy"
  c4i_wait_port "$KWOK_PORT" "$TIMEOUT" || c4i_die "kwok did not come back"
}

case "$ACTION" in
  stop) do_stop ;;
  start) do_start ;;
  restart) do_stop; do_start ;;
  *) usage ;;
esac
