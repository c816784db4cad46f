#!/usr/bin/env bash
# smoke.sh [--outage SECONDS [--kick]] : end-to-end check of the test plane.
#   builds (if needed), starts the plane in a temp dir, deploys a Recreate
#   Deployment pinned by node affinity to gw-2, waits for its pod to be
#   Running there (kwok), re-pins it to gw-1 and checks that the pod moves,
#   then stops the plane. With --outage N it also stops the apiserver for N
#   seconds, starts it again and checks that the plane still schedules (the
#   pod moves back to gw-2); --kick passes --kick to apiserver.sh start
#   (restart the controllers at once instead of waiting out their back-off).
# Exits 0 on success, non-zero with a FAIL: line on any failure.
# Env: C4I_K8S_KEEP=1 keeps the state dir (always kept on failure).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUTAGE=0
KICK=()
while (( $# )); do
  case "$1" in
    --outage) OUTAGE="${2:?--outage needs seconds}"; shift 2 ;;
    --kick) KICK=(--kick); shift ;;
    *) echo "usage: $0 [--outage SECONDS [--kick]]" >&2; exit 2 ;;
  esac
done

WAIT=150s
APP=c4i-smoke
DIR="$(mktemp -d "${TMPDIR:-/tmp}/c4i-k8s-smoke.XXXXXX")"
ok=0
cleanup() {
  local rc=$?
  trap - EXIT
  if [[ -f "$DIR/env" ]]; then "$C4I_K8S_DIR/stop.sh" "$DIR" >&2 || true; fi
  if (( ok )) && [[ "${C4I_K8S_KEEP:-0}" != 1 ]]; then
    rm -rf "$DIR"
  else
    echo "state dir kept: $DIR (logs in $DIR/logs)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  { c4i_kubectl "$DIR" get nodes,deploy,rs,pods -o wide; c4i_kubectl "$DIR" get events --sort-by=.lastTimestamp | tail -n 20; } >&2 2>/dev/null || true
  exit 1
}
k() { c4i_kubectl "$DIR" --request-timeout=30s "$@"; }

step() { c4i_log "== $*"; }

step "build"
"$C4I_K8S_DIR/build.sh" >/dev/null || fail "build.sh failed"

step "start the plane in $DIR"
"$C4I_K8S_DIR/start.sh" "$DIR" >/dev/null || fail "start.sh failed"
[[ "$(k get --raw /readyz)" == ok ]] || fail "apiserver /readyz is not ok"
for n in gw-1 gw-2 edge-1 cloud-1 cloud-2; do
  k get node "$n" >/dev/null 2>&1 || fail "node $n missing"
done
[[ "$(k get node gw-1 -o jsonpath='{.metadata.labels.cloud4iot\.io/tier}/{.status.nodeInfo.architecture}/{.status.allocatable.cpu}')" == gateway/arm64/4 ]] ||
  fail "gw-1 labels/status not as expected"

# pod_on: prints NODE=PHASE for each pod of the app, one per line.
pod_on() { k get pods -l app="$APP" -o jsonpath='{range .items[*]}{.spec.nodeName}={.status.phase}{"\n"}{end}'; }

# expect_single_pod NODE: waits until the app has exactly one pod, Running on NODE.
expect_single_pod() {
  local node="$1" t0=$SECONDS got=""
  k rollout status deploy/"$APP" --timeout="$WAIT" >/dev/null || fail "rollout to $node did not finish"
  k wait pod -l app="$APP" --for=jsonpath='{.status.phase}'=Running --timeout="$WAIT" >/dev/null ||
    fail "pod not Running (pods: $(pod_on | tr '\n' ' '))"
  while (( SECONDS - t0 < ${WAIT%s} )); do
    got="$(pod_on)"
    [[ "$got" == "$node=Running" ]] && return 0
    sleep 0.5
  done
  fail "expected one Running pod on $node, got: $(echo "$got" | tr '\n' ' ')"
}

# pin NODE: sets the Deployment's required node affinity to hostname NODE.
pin() {
  k patch deploy "$APP" --type=json -p "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0/values\",\"value\":[\"$1\"]}]" >/dev/null ||
    fail "could not patch the affinity to $1"
}

# move NODE: re-pins the app to NODE and checks the old pod goes and a new one runs there.
move() {
  local node="$1" old t0=$SECONDS
  old="$(k get pods -l app="$APP" -o jsonpath='{.items[0].metadata.name}')"
  pin "$node"
  k wait --for=delete pod/"$old" --timeout="$WAIT" >/dev/null || fail "old pod $old was not deleted"
  expect_single_pod "$node"
  c4i_log "pod moved to $node: $(k get pods -l app="$APP" -o jsonpath='{.items[0].metadata.name} {.items[0].status.podIP}') in $(( SECONDS - t0 ))s"
}

step "deploy $APP (strategy Recreate) pinned to gw-2"
k apply -f - >/dev/null <<EOF || fail "could not create the Deployment"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $APP
  labels: {app: $APP}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: $APP}
  template:
    metadata:
      labels: {app: $APP}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubernetes.io/hostname, operator: In, values: [gw-2]}
      containers:
      - name: fn
        image: registry.k8s.io/pause:3.10
        resources:
          requests: {cpu: 100m, memory: 32Mi}
EOF
expect_single_pod gw-2
c4i_log "pod Running on gw-2: $(k get pods -l app="$APP" -o jsonpath='{.items[0].metadata.name} {.items[0].status.podIP}')"

step "re-pin to gw-1"
move gw-1

if (( OUTAGE > 0 )); then
  step "apiserver outage of ${OUTAGE}s"
  "$C4I_K8S_DIR/apiserver.sh" "$DIR" stop || fail "apiserver.sh stop failed"
  k get --raw /readyz >/dev/null 2>&1 && fail "apiserver still answers after stop"
  sleep "$OUTAGE"   # the outage itself: nothing to wait for
  "$C4I_K8S_DIR/apiserver.sh" "$DIR" start "${KICK[@]}" || fail "apiserver.sh start failed"
  for c in etcd kube-controller-manager kube-scheduler kwok; do
    c4i_alive "$c" "$DIR" || fail "$c died during the apiserver outage (see $DIR/logs/$c.log)"
  done
  k wait --for=condition=Ready node --all --timeout="$WAIT" >/dev/null || fail "nodes not Ready after the outage"
  step "re-pin to gw-2 after the outage"
  move gw-2
fi

step "stop the plane"
"$C4I_K8S_DIR/stop.sh" "$DIR" >&2 || fail "stop.sh failed"
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  [[ -f "$DIR/pids/$c.pid" ]] && fail "$c still has a pid file after stop"
done
rm -f "$DIR/env"
ok=1
echo "smoke: PASS"
