#!/usr/bin/env bash
# Builds the Kubernetes test control plane once into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/c4i-k8s/<k8s version>/bin/
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
# (from the module in ./go) and kwok (go install of a KWOK release).
# Binaries already in the cache are skipped, so a warm run takes a second.
#
# Works on a fresh Debian 12 machine: if no Go >= 1.21 is found, Debian's
# bookworm-backports golang-1.23-go is installed with apt-get and the Go
# command fetches the toolchain the modules need (GOTOOLCHAIN) from the Go
# module proxy.
#
# Env: C4I_GO (go binary to use), C4I_GO_TOOLCHAIN (toolchain to switch to
# when the local Go is older than go.mod needs; default go1.26.8),
# C4I_BUILD_NICE (default 10), C4I_KWOK_VERSION (default v0.8.0).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GO_REQUIRED="$(awk '$1 == "go" { print $2; exit }' "$C4I_K8S_GOMOD")"   # e.g. 1.26.0
GO_TOOLCHAIN_PIN="${C4I_GO_TOOLCHAIN:-go1.26.8}"
NICE="${C4I_BUILD_NICE:-10}"

mapfile -t missing < <(c4i_missing_binaries)
if (( ${#missing[@]} == 0 )); then
  c4i_log "all binaries cached in $C4I_K8S_BIN"
  echo "$C4I_K8S_BIN"
  exit 0
fi
c4i_log "to build: ${missing[*]} (Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, KWOK $KWOK_VERSION)"

# version_ge A B: true if version A >= version B (both like 1.26.0).
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

# go_version GO: prints the local version of a go binary (1.26.8), without
# letting it switch toolchains.
go_version() {
  (cd / && GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) | sed -n 's/^go\([0-9][0-9.]*\).*/\1/p'
}

pick_go() {
  local cands=() c v best="" best_v=""
  if [[ -n "${C4I_GO:-}" ]]; then  # forced by the caller
    v="$(go_version "$C4I_GO")"; [[ -n "$v" ]] && echo "$C4I_GO $v"; return
  fi
  c="$(command -v go || true)"; [[ -n "$c" ]] && cands+=("$c")
  cands+=(/usr/local/go/bin/go)
  while IFS= read -r c; do cands+=("$c"); done < <(compgen -G '/usr/lib/go-1.*/bin/go' | sort -rV)
  for c in "${cands[@]}"; do
    [[ -x "$c" ]] || continue
    v="$(go_version "$c")"; [[ -n "$v" ]] || continue
    if [[ -z "$best" ]] || ! version_ge "$best_v" "$v"; then best="$c"; best_v="$v"; fi
  done
  [[ -n "$best" ]] && echo "$best $best_v"
}

install_debian_go() {
  local sudo=""
  (( EUID == 0 )) || sudo="sudo"
  command -v apt-get >/dev/null || c4i_die "no usable Go and no apt-get: install Go >= 1.21"
  if ! grep -rqs '^deb .*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ &&
     ! grep -rqs 'Suites:.*bookworm-backports' /etc/apt/sources.list.d/; then
    c4i_log "adding the bookworm-backports apt source"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' |
      $sudo tee /etc/apt/sources.list.d/c4i-bookworm-backports.list >/dev/null
  fi
  c4i_log "installing golang-1.23-go from bookworm-backports"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports golang-1.23-go >/dev/null
}

read -r GO GO_LOCAL_VERSION < <(pick_go || true) || true
if [[ -z "${GO:-}" ]] || ! version_ge "$GO_LOCAL_VERSION" 1.21; then
  install_debian_go
  read -r GO GO_LOCAL_VERSION < <(pick_go || true) || true
  if [[ -z "${GO:-}" ]] || ! version_ge "$GO_LOCAL_VERSION" 1.21; then c4i_die "could not get a Go >= 1.21"; fi
fi
if version_ge "$GO_LOCAL_VERSION" "$GO_REQUIRED"; then
  export GOTOOLCHAIN=local
  c4i_log "using $GO (go$GO_LOCAL_VERSION)"
else
  # Go >= 1.21 downloads the named toolchain from the module proxy.
  export GOTOOLCHAIN="$GO_TOOLCHAIN_PIN"
  c4i_log "using $GO (go$GO_LOCAL_VERSION) with GOTOOLCHAIN=$GOTOOLCHAIN (go.mod needs go$GO_REQUIRED)"
fi
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

mkdir -p "$C4I_K8S_BIN"
# One build at a time per cache dir (parallel test runs share the cache).
exec 9> "$C4I_K8S_CACHE/.build.lock"
if ! flock -n 9; then
  c4i_log "another build.sh holds $C4I_K8S_CACHE/.build.lock, waiting for it"
  flock 9
fi

# Version stamps as Kubernetes' own release builds set them (hack/lib/version.sh).
k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
K8S_X=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_X+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor"
  K8S_X+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build_one() {
  local name="$1" pkg t0 tmp
  [[ -x "$C4I_K8S_BIN/$name" ]] && { c4i_log "$name: cached"; return 0; }
  t0=$SECONDS
  tmp="$C4I_K8S_BIN/.$name.tmp.$$"
  c4i_log "$name: building..."
  case "$name" in
    kwok)
      local gobin; gobin="$(mktemp -d "$C4I_K8S_CACHE/.gobin.XXXXXX")"
      (cd "$C4I_K8S_CACHE" && GOBIN="$gobin" nice -n "$NICE" "$GO" install -trimpath -ldflags='-s -w' \
        "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
      mv "$gobin/kwok" "$tmp"; rmdir "$gobin"
      ;;
    etcd)
      (cd "$C4I_K8S_DIR/go" && nice -n "$NICE" "$GO" build -trimpath -ldflags='-s -w' -o "$tmp" \
        go.etcd.io/etcd/server/v3)
      ;;
    *)
      pkg="k8s.io/kubernetes/cmd/$name"
      (cd "$C4I_K8S_DIR/go" && nice -n "$NICE" "$GO" build -trimpath -ldflags="-s -w$K8S_X" -o "$tmp" "$pkg")
      ;;
  esac
  mv -f "$tmp" "$C4I_K8S_BIN/$name"
  c4i_log "$name: built in $(( SECONDS - t0 ))s ($(du -h "$C4I_K8S_BIN/$name" | cut -f1))"
}

trap 'rm -f "$C4I_K8S_BIN"/.*.tmp.$$' EXIT
total0=$SECONDS
for b in "${C4I_K8S_BINARIES[@]}"; do build_one "$b"; done
c4i_log "build finished in $(( SECONDS - total0 ))s; binaries in $C4I_K8S_BIN"
echo "$C4I_K8S_BIN"
