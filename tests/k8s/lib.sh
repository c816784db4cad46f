# shellcheck shell=bash
# Shared helpers for the Kubernetes test control plane scripts.
# Sourced by build.sh, start.sh, stop.sh, apiserver.sh and smoke.sh.

C4I_K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
C4I_K8S_GOMOD="$C4I_K8S_DIR/go/go.mod"

# Versions: Kubernetes and etcd come from go/go.mod (the single source of
# truth); KWOK is built with `go install` from its own released module.
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$C4I_K8S_GOMOD")"
# shellcheck disable=SC2034  # used by the scripts that source this file
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$C4I_K8S_GOMOD")"
# shellcheck disable=SC2034
KWOK_VERSION="${C4I_KWOK_VERSION:-v0.8.0}"

C4I_K8S_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/c4i-k8s/$K8S_VERSION"
C4I_K8S_BIN="$C4I_K8S_CACHE/bin"
C4I_K8S_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

c4i_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
c4i_die() { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# c4i_missing_binaries: prints the names of binaries not yet in the cache.
c4i_missing_binaries() {
  local b
  for b in "${C4I_K8S_BINARIES[@]}"; do
    [[ -x "$C4I_K8S_BIN/$b" ]] || echo "$b"
  done
}

# c4i_free_port: prints a TCP port on 127.0.0.1 that nothing listens on
# and that was not handed out before in this state dir (DIR/ports.used).
c4i_free_port() {
  local used="${1:-/dev/null}" port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-): no client socket takes it
    grep -qx "$port" "$used" 2>/dev/null && continue
    # bash's /dev/tcp connect fails when nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      [[ "$used" != /dev/null ]] && echo "$port" >> "$used"
      echo "$port"
      return 0
    fi
  done
  return 1
}

# c4i_wait_port PORT TIMEOUT_S: waits until something listens on 127.0.0.1:PORT.
c4i_wait_port() {
  local port="$1" deadline=$(( SECONDS + $2 ))
  while (( SECONDS < deadline )); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.3
  done
  return 1
}

# c4i_start NAME DIR CMD...: runs CMD in the background (own session, so a
# Ctrl-C of the caller does not kill it), logs to DIR/logs/NAME.log and
# writes its pid to DIR/pids/NAME.pid.
c4i_start() {
  local name="$1" dir="$2"; shift 2
  mkdir -p "$dir/logs" "$dir/pids"
  setsid nohup "$@" >> "$dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$name.pid"
}

# c4i_alive NAME DIR: true if the recorded process still runs.
c4i_alive() {
  local pidf="$2/pids/$1.pid" pid
  [[ -f "$pidf" ]] || return 1
  pid="$(cat "$pidf")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# c4i_stop NAME DIR [TIMEOUT_S]: SIGTERM, wait, then SIGKILL the recorded pid.
c4i_stop() {
  local name="$1" dir="$2" timeout="${3:-20}" pidf pid deadline
  pidf="$dir/pids/$name.pid"
  [[ -f "$pidf" ]] || return 0
  pid="$(cat "$pidf")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( SECONDS + timeout ))
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      c4i_log "$name (pid $pid) ignored SIGTERM for ${timeout}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  fi
  rm -f "$pidf"
}

# c4i_kubectl DIR ARGS...: the cached kubectl with the plane's admin kubeconfig.
c4i_kubectl() {
  local dir="$1"; shift
  "$C4I_K8S_BIN/kubectl" --kubeconfig "$dir/kubeconfig" "$@"
}

# c4i_wait_readyz DIR TIMEOUT_S: waits until the apiserver answers /readyz ok.
c4i_wait_readyz() {
  local dir="$1" deadline=$(( SECONDS + $2 ))
  while (( SECONDS < deadline )); do
    if [[ "$(c4i_kubectl "$dir" --request-timeout=5s get --raw /readyz 2>/dev/null)" == ok ]]; then
      return 0
    fi
    c4i_alive kube-apiserver "$dir" || return 1
    sleep 0.5
  done
  return 1
}

# c4i_wait_healthz NAME DIR PORT TIMEOUT_S: waits until the component's
# /healthz on its secure port 127.0.0.1:PORT says ok.
c4i_wait_healthz() {
  local name="$1" dir="$2" port="$3" deadline=$(( SECONDS + $4 ))
  while (( SECONDS < deadline )); do
    [[ "$(curl -sk --max-time 3 "https://127.0.0.1:$port/healthz" 2>/dev/null)" == ok ]] && return 0
    c4i_alive "$name" "$dir" || { c4i_log "$name exited"; return 1; }
    sleep 0.5
  done
  c4i_log "$name not healthy after ${4}s"
  return 1
}

# c4i_drop_kwok_leases DIR: deletes the node Leases of kwok's nodes. Call it
# while kwok is stopped: a new kwok process has a new holder identity and
# would otherwise wait for the old Leases to expire (40 s) before it acts.
c4i_drop_kwok_leases() {
  local dir="$1" names
  names="$(c4i_kubectl "$dir" get nodes \
    -o jsonpath='{range .items[?(@.metadata.annotations.kwok\.x-k8s\.io/node=="fake")]}{.metadata.name}{" "}{end}')"
  [[ -n "${names// /}" ]] || return 0
  # shellcheck disable=SC2086  # one name per word
  c4i_kubectl "$dir" -n kube-node-lease delete lease $names --ignore-not-found >/dev/null
}

# c4i_ensure_tools CMD...: installs missing CLI tools (Debian package of the
# same name) with apt-get, as on a fresh Debian 12 machine.
c4i_ensure_tools() {
  local missing=() t sudo=""
  for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
  (( ${#missing[@]} == 0 )) && return 0
  command -v apt-get >/dev/null || c4i_die "missing tools: ${missing[*]}"
  (( EUID == 0 )) || sudo="sudo"
  c4i_log "installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
