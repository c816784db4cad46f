#!/usr/bin/env bash
# start.sh DIR : starts the Kubernetes test control plane on 127.0.0.1.
#
#   etcd (TLS, client certs) -> kube-apiserver (TLS, Node,RBAC) ->
#   kube-controller-manager + kube-scheduler -> kwok, then the simulated
#   nodes gw-1 gw-2 (gateway, arm64), edge-1 (edge), cloud-1 cloud-2 (cloud).
#
# DIR holds everything: pki/ (CA, certs, service-account keys), etcd/ (data),
# logs/NAME.log, pids/NAME.pid, cmd/NAME.sh (the exact command of each
# process), the kubeconfigs, and env (ports; source it in tests).
# DIR/kubeconfig is the admin (system:masters) kubeconfig; its path is the
# last line printed on stdout. Restarting on an existing DIR keeps the etcd
# data and the PKI. Stop with stop.sh DIR.
#
# Env: C4I_K8S_START_TIMEOUT (s, default 180) bounds each wait;
#      C4I_K8S_NODE_GRACE (default 120s): kube-controller-manager's
#      --node-monitor-grace-period (time to NotReady once kwok stops).
#
# Client limits: the controller manager's defaults (20 requests/s, burst 30,
# 5 Deployment and 5 ReplicaSet workers) and the scheduler's (50/s) are
# raised to 400/s, burst 800, 25 workers: bench/k8s.sh moves 1,000
# Deployments at once, each roam costs the controllers some ten writes, and
# at 20/s the fleet waited minutes on the controller manager's own rate
# limiter rather than on the apiserver. Clusters of that size raise them too.
set -Eeuo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR="$(cd "$1" && pwd)"
TIMEOUT="${C4I_K8S_START_TIMEOUT:-180}"
# How long the node lifecycle controller waits for a node's heartbeat
# (kwok's Lease renewals) before it marks the node NotReady. Kubernetes'
# default is 50s; 120s lets the plane ride out an apiserver outage of ~30s
# plus client-go's re-list backoff (up to ~30s more) without nodes flapping.
NODE_GRACE="${C4I_K8S_NODE_GRACE:-120s}"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

for c in "${COMPONENTS[@]}"; do
  c4i_alive "$c" "$DIR" && c4i_die "$c of $DIR is already running (pid $(cat "$DIR/pids/$c.pid")); run stop.sh $DIR first"
done

c4i_ensure_tools openssl curl
if [[ -n "$(c4i_missing_binaries)" ]]; then
  c4i_log "binaries missing, running build.sh (slow the first time)"
  "$C4I_K8S_DIR/build.sh" >/dev/null
fi

mkdir -p "$DIR"/{pki,etcd,logs,pids,cmd}
chmod 700 "$DIR/pki" "$DIR/etcd"
PKI="$DIR/pki"

started=()
on_error() {
  local rc=$?
  trap - ERR
  c4i_log "start failed (exit $rc); last log lines:"
  local c
  for c in "${started[@]}"; do
    echo "----- $DIR/logs/$c.log" >&2
    tail -n 15 "$DIR/logs/$c.log" >&2 || true
  done
  "$C4I_K8S_DIR/stop.sh" "$DIR" >&2 || true
  exit "$rc"
}
trap on_error ERR

# ---------------------------------------------------------------- PKI
# All keys are ECDSA P-256 (quick to make); certs valid for 10 years.
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# new_cert NAME SUBJECT EKU [SAN]: PKI/NAME.{key,crt} signed by the test CA
# (or by PKI/$CA.crt when CA is set).
new_cert() {
  local name="$1" subj="$2" eku="$3" san="${4:-}" ext
  [[ -s "$PKI/$name.crt" && -s "$PKI/$name.key" ]] && return 0
  new_key "$PKI/$name.key"
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku
authorityKeyIdentifier=keyid"
  [[ -n "$san" ]] && ext+=$'\n'"subjectAltName=$san"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/${CA:-ca}.crt" -CAkey "$PKI/${CA:-ca}.key" -CAcreateserial \
    -days 3650 -sha256 -extfile <(echo "$ext") -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

# new_ca NAME CN: a self-signed CA PKI/NAME.{key,crt}.
new_ca() {
  [[ -s "$PKI/$1.crt" && -s "$PKI/$1.key" ]] && return 0
  new_key "$PKI/$1.key"
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$1.crt" 2>/dev/null
}
[[ -s "$PKI/ca.crt" ]] || c4i_log "generating the test PKI in $PKI"
new_ca ca cloud4iot-test-ca
# The aggregation layer's front proxy has its own CA, as in kubeadm clusters;
# it also fills the requestheader CA that controllers and webhooks read.
new_ca front-proxy-ca cloud4iot-test-front-proxy-ca
LOCAL_SAN="IP:127.0.0.1,DNS:localhost"
new_cert etcd-server "/CN=etcd-server" serverAuth,clientAuth "$LOCAL_SAN"
new_cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client" clientAuth
new_cert apiserver "/CN=kube-apiserver" serverAuth \
  "$LOCAL_SAN,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
new_cert admin "/O=system:masters/CN=cloud4iot-admin" clientAuth
new_cert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
new_cert kube-scheduler "/CN=system:kube-scheduler" clientAuth
new_cert kwok "/O=system:masters/CN=kwok" clientAuth
CA=front-proxy-ca new_cert front-proxy-client "/CN=front-proxy-client" clientAuth
if [[ ! -s "$PKI/sa.key" ]]; then
  new_key "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi

# ---------------------------------------------------------------- ports
: > "$DIR/ports.used"
ETCD_PORT=$(c4i_free_port "$DIR/ports.used")
ETCD_PEER_PORT=$(c4i_free_port "$DIR/ports.used")
APISERVER_PORT=$(c4i_free_port "$DIR/ports.used")
KCM_PORT=$(c4i_free_port "$DIR/ports.used")
SCHEDULER_PORT=$(c4i_free_port "$DIR/ports.used")
KWOK_PORT=$(c4i_free_port "$DIR/ports.used")
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
cat > "$DIR/env" <<EOF
# Written by tests/k8s/start.sh; source it.
C4I_K8S_DIR_STATE=$DIR
KUBECONFIG=$DIR/kubeconfig
C4I_K8S_BIN=$C4I_K8S_BIN
K8S_VERSION=$K8S_VERSION
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
APISERVER_URL=$APISERVER_URL
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
EOF

# write_kubeconfig FILE CERTNAME: a kubeconfig with the cert data embedded.
write_kubeconfig() {
  local file="$1" user="$2"
  umask 077
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cloud4iot-test
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$user.crt")
    client-key-data: $(base64 -w0 < "$PKI/$user.key")
contexts:
- name: cloud4iot-test
  context:
    cluster: cloud4iot-test
    user: $user
current-context: cloud4iot-test
EOF
  umask 022
}
write_kubeconfig "$DIR/kubeconfig" admin
write_kubeconfig "$DIR/kube-controller-manager.kubeconfig" kube-controller-manager
write_kubeconfig "$DIR/kube-scheduler.kubeconfig" kube-scheduler
write_kubeconfig "$DIR/kwok.kubeconfig" kwok
cp "$C4I_K8S_DIR/kwok-stages.yaml" "$DIR/kwok.yaml"

# write_cmd NAME ARGS...: DIR/cmd/NAME.sh execs the binary with ARGS.
write_cmd() {
  local name="$1"; shift
  { echo '#!/bin/sh'; printf 'exec %q' "$C4I_K8S_BIN/$name"; printf ' \\\n  %q' "$@"; echo; } > "$DIR/cmd/$name.sh"
  chmod +x "$DIR/cmd/$name.sh"
}

write_cmd etcd \
  --name=c4i --data-dir="$DIR/etcd" \
  --listen-client-urls="https://127.0.0.1:$ETCD_PORT" --advertise-client-urls="https://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="c4i=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --cert-file="$PKI/etcd-server.crt" --key-file="$PKI/etcd-server.key" \
  --client-cert-auth --trusted-ca-file="$PKI/ca.crt" \
  --unsafe-no-fsync --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) \
  --auto-compaction-mode=periodic --auto-compaction-retention=5m --log-level=warn

write_cmd kube-apiserver \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --etcd-servers="https://127.0.0.1:$ETCD_PORT" --etcd-cafile="$PKI/ca.crt" \
  --etcd-certfile="$PKI/apiserver-etcd-client.crt" --etcd-keyfile="$PKI/apiserver-etcd-client.key" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --authorization-mode=Node,RBAC --anonymous-auth=true --allow-privileged=true \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
  --shutdown-send-retry-after=true --profiling=false --v=1

KUBE_COMMON=(--bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1)
write_cmd kube-controller-manager "${KUBE_COMMON[@]}" --secure-port="$KCM_PORT" \
  --kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --allocate-node-cidrs=false --node-monitor-grace-period="$NODE_GRACE" \
  --kube-api-qps=400 --kube-api-burst=800 --concurrent-deployment-syncs=25 --concurrent-replicaset-syncs=25

write_cmd kube-scheduler "${KUBE_COMMON[@]}" --secure-port="$SCHEDULER_PORT" --kube-api-qps=400 --kube-api-burst=800 \
  --kubeconfig="$DIR/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$DIR/kube-scheduler.kubeconfig"

write_cmd kwok \
  --kubeconfig="$DIR/kwok.kubeconfig" --config="$DIR/kwok.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --server-address="127.0.0.1:$KWOK_PORT" --node-ip=127.0.0.1 --cidr=10.244.0.0/24 \
  --node-lease-duration-seconds=40

start_component() {
  c4i_log "starting $1"
  c4i_start "$1" "$DIR" "$DIR/cmd/$1.sh"
  started+=("$1")
}

wait_healthz() { c4i_wait_healthz "$1" "$DIR" "$2" "$TIMEOUT"; }

t0=$SECONDS
start_component etcd
c4i_wait_port "$ETCD_PORT" "$TIMEOUT" || { c4i_log "etcd did not listen on $ETCD_PORT"; false; }
start_component kube-apiserver
c4i_wait_readyz "$DIR" "$TIMEOUT" || { c4i_log "kube-apiserver not ready"; false; }
c4i_log "kube-apiserver ready at $APISERVER_URL after $(( SECONDS - t0 ))s"
start_component kube-controller-manager
start_component kube-scheduler
wait_healthz kube-controller-manager "$KCM_PORT"
wait_healthz kube-scheduler "$SCHEDULER_PORT"
c4i_drop_kwok_leases "$DIR"   # left by an earlier run of this DIR
start_component kwok
c4i_wait_port "$KWOK_PORT" "$TIMEOUT" || { c4i_log "kwok did not listen on $KWOK_PORT"; false; }

c4i_log "creating the simulated nodes"
sed "s/@K8S_VERSION@/$K8S_VERSION/g" "$C4I_K8S_DIR/nodes.yaml" | c4i_kubectl "$DIR" apply -f - >/dev/null
c4i_kubectl "$DIR" wait --for=condition=Ready node --all --timeout="${TIMEOUT}s" >/dev/null
# Pods need the namespace's default ServiceAccount (made by the controller manager).
c4i_kubectl "$DIR" -n default wait --for=create serviceaccount/default --timeout="${TIMEOUT}s" >/dev/null
c4i_log "plane up in $(( SECONDS - t0 ))s; nodes:"
c4i_kubectl "$DIR" get nodes -L cloud4iot.io/tier,kubernetes.io/arch >&2
trap - ERR
echo "$DIR/kubeconfig"
