#!/usr/bin/env bash
# bench/k8s.sh [BUILD_DIR] : the kubernetes backend on the test control plane
# (tests/k8s: etcd, kube-apiserver, controller manager, scheduler, KWOK).
#
# Runs the real c4i-orchestrator --backend kubernetes and measures, from the
# migration records' timelines (ms, the orchestrator's clock):
#   1. roams in a row: 100 roams one after the other (10 devices taking
#      turns between gw-1 and gw-2, so no function is held by the 1 s cooldown);
#   2. a fleet: 1,000 functions on 50 simulated gateways (gw-3..gw-50 added
#      as KWOK nodes), placed, then every device roams to the next gateway
#      at once (50 event batches sent back to back);
# notified->applied (the Deployment's server-side apply returned) and
# notified->started (the new pod seen Ready through the watch): median, p99, max;
# and, for scale, what one Deployment apply costs on this apiserver by itself,
# and (3.) how long the plane alone takes to start as many pods as the fleet,
# then to move them all to the next gateway (our Deployments, no orchestrator).
# Compare with the Kubernetes pod start-up SLO: 5 s p99.
#
# BUILD_DIR defaults to build/release (scripts/build.sh release). Env:
#   C4I_BENCH_ROAMS (100), C4I_BENCH_FLEET (1000), C4I_BENCH_GATEWAYS (50),
#   C4I_KEEP_TMP=1 keeps the work directory (plane logs, orchestrator log),
#   C4I_BENCH_ORCH_ARGS: more orchestrator flags (e.g. --cluster-defer-ms 0),
#   C4I_BENCH_PLANE_FLOOR=0 skips the plane-alone fleet (3. below).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
orch="$build/orchestrator/c4i-orchestrator"
[[ -x "$orch" ]] || { echo "bench/k8s.sh: $orch not found (build it: scripts/build.sh release)" >&2; exit 2; }
roams="${C4I_BENCH_ROAMS:-100}"
fleet="${C4I_BENCH_FLEET:-1000}"
gateways="${C4I_BENCH_GATEWAYS:-50}"
say() { echo "bench/k8s.sh: $*" >&2; }

work="$(mktemp -d /tmp/c4i-bench-k8s.XXXXXX)"
orch_pid=""
cleanup() {
  [[ -n "$orch_pid" ]] && kill "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null || true
  "$root/tests/k8s/stop.sh" "$work/plane" >/dev/null 2>&1 || true
  if [[ -n "${C4I_KEEP_TMP:-}" ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say "starting the control plane"
KUBECONFIG="$("$root/tests/k8s/start.sh" "$work/plane" | tail -n 1)"
export KUBECONFIG
# shellcheck disable=SC1091
bin="$(. "$work/plane/env" && echo "$C4I_K8S_BIN")"
kubectl() { "$bin/kubectl" "$@"; }

say "adding gateways gw-3..gw-$gateways (KWOK nodes, arm64)"
{
  for i in $(seq 3 "$gateways"); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: gw-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: gw-$i, kubernetes.io/os: linux, kubernetes.io/arch: arm64, cloud4iot.io/tier: gateway, type: kwok}
spec:
  podCIDR: 10.245.$i.0/24
  podCIDRs: [10.245.$i.0/24]
status:
  addresses: [{type: InternalIP, address: 127.0.2.$i}, {type: Hostname, address: gw-$i}]
  capacity: {cpu: "4", memory: 4Gi, pods: "110", ephemeral-storage: 100Gi}
  allocatable: {cpu: "4", memory: 4Gi, pods: "110", ephemeral-storage: 100Gi}
  nodeInfo: {architecture: arm64, operatingSystem: linux, kubeletVersion: v1.36.3-kwok, kubeProxyVersion: v1.36.3-kwok}
EOF
  done
} | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Ready "node/gw-$gateways" --timeout=120s >/dev/null
kubectl create namespace bench >/dev/null
# The orchestrator keeps its state in the cloud4iot.io custom resources.
kubectl apply -f "$root/manifests/crds/" >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/functiontemplates.cloud4iot.io crd/iotfunctions.cloud4iot.io \
  crd/devices.cloud4iot.io crd/offloadpolicies.cloud4iot.io crd/migrations.cloud4iot.io \
  crd/gatewayidentities.cloud4iot.io crd/bootstraptokens.cloud4iot.io >/dev/null

say "making the PKI (gateway certificates gw-1..gw-$gateways)"
names=()
for i in $(seq 1 "$gateways"); do names+=("gw-$i"); done
"$root/tests/pki/make-pki.sh" "$work/pki" "${names[@]}" >/dev/null

token="bench-admin-token"
cat >"$work/tokens.yaml" <<EOF
tokens:
  - {name: bench, role: admin, sha256: $("$orch" hash-token "$token")}
EOF
cat >"$work/config.yaml" <<EOF
listen: 127.0.0.1:0
port_file: $work/port
state_dir: $work/state
tokens: $work/tokens.yaml
tls: {cert: $work/pki/server.pem, key: $work/pki/server.key, client_ca: $work/pki/ca.pem}
control: {reconcile_interval_ms: 500, retry_base_ms: 100, retry_max_ms: 2000}
log: {level: warn}
EOF
# shellcheck disable=SC2086
"$orch" --config "$work/config.yaml" --backend kubernetes --kubeconfig "$KUBECONFIG" --namespace bench \
  ${C4I_BENCH_ORCH_ARGS:-} 2>"$work/orchestrator.log" &
orch_pid=$!
for _ in $(seq 1 300); do [[ -s "$work/port" ]] && break; sleep 0.1; done
[[ -s "$work/port" ]] || { say "the orchestrator did not start:"; cat "$work/orchestrator.log" >&2; exit 1; }
say "orchestrator on port $(cat "$work/port") ($orch)"

C4I_PORT="$(cat "$work/port")" C4I_PKI="$work/pki" C4I_TOKEN="$token" C4I_ROAMS="$roams" C4I_FLEET="$fleet" \
  C4I_GATEWAYS="$gateways" C4I_PLANE_PKI="$work/plane/pki" C4I_APISERVER="$(. "$work/plane/env" && echo "$APISERVER_URL")" \
  python3 - <<'PY'
import json, os, ssl, sys, time, http.client, urllib.parse
from concurrent.futures import ThreadPoolExecutor

port = int(os.environ["C4I_PORT"]); pki = os.environ["C4I_PKI"]; token = os.environ["C4I_TOKEN"]
ROAMS = int(os.environ["C4I_ROAMS"]); FLEET = int(os.environ["C4I_FLEET"]); GWS = int(os.environ["C4I_GATEWAYS"])

def ctx(cert=None):
    c = ssl.create_default_context(cafile=f"{pki}/ca.pem")
    if cert: c.load_cert_chain(f"{pki}/{cert}.pem", f"{pki}/{cert}.key")
    return c

class Conn:
    def __init__(self, cert=None):
        self.c = http.client.HTTPSConnection("localhost", port, context=ctx(cert), timeout=60)
        self.h = {} if cert else {"Authorization": f"Bearer {token}"}
    def call(self, method, path, body=None, headers=None):
        h = dict(self.h); h.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body); h["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                self.c.request(method, path, data, h)
                r = self.c.getresponse(); raw = r.read()
                return r.status, (json.loads(raw) if raw else None), r.headers
            except (http.client.HTTPException, OSError):
                self.c.close()
                if attempt == 2: raise

op = Conn()
gw = {}
seq = {}
def gateway(n):
    if n not in gw: gw[n] = Conn(f"gw-{n}"); seq[n] = 0
    return gw[n]
def post(n, events):
    c = gateway(n); evs = []
    for e in events:
        seq[n] += 1; e = dict(e); e["seq"] = seq[n]; evs.append(e)
    s, b, _ = c.call("POST", f"/v1/gateways/gw-{n}/events", {"gateway": f"gw-{n}", "boot_id": f"bench-{n}", "seq": evs[0]["seq"], "events": evs})
    if s != 200: sys.exit(f"events gw-{n}: {s} {b}")
def now_ms(): return int(time.time() * 1000)
def seen(addr, rssi, reason="enter"):
    return {"type": "device.seen", "t": now_ms(), "addr": addr, "addr_type": "public", "rssi": rssi, "reason": reason,
            "name": "HRM", "services": ["180d"]}
def addr(i): return "c4:7c:%02x:%02x:00:01" % (i >> 8, i & 255)
def fid(i): return "hr-" + addr(i).replace(":", "-")

s, b, h = op.call("GET", "/v1/policy")
# No rate limit, the shortest cooldown, and devices that are not refreshed are not lost during the run.
pol = b["policy"]; pol["cooldown_s"] = 1; pol["max_moves_per_minute"] = 0; pol["lost_after_s"] = 3600
s, b, _ = op.call("PUT", "/v1/policy", pol, {"If-Match": h["ETag"]})
if s != 200: sys.exit(f"policy: {s} {b}")
s, b, _ = op.call("POST", "/v1/templates", {"name": "hr", "command": ["/usr/bin/c4i-fn-omh"],
    "image": "127.0.0.1:5123/cloud4iot/c4i-fn-omh:0.1.0", "archs": ["arm64", "amd64"], "cpu_m": 10, "mem_mb": 16})
if s != 201: sys.exit(f"template: {s} {b}")

def list_all(path):
    items, cont = [], None
    while True:
        s, b, _ = op.call("GET", path + ("&" if "?" in path else "?") + "limit=1000" + (f"&continue={cont}" if cont else ""))
        if s != 200: sys.exit(f"GET {path}: {s} {b}")
        items += b["items"]; cont = b.get("continue")
        if not cont: return items

def wait(pred, timeout, what, every=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v: return v
        time.sleep(every)
    sys.exit(f"timed out waiting for {what}")

def pct(xs, p):
    xs = sorted(xs); k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]
def cluster_writes():
    """Requests our orchestrator made writing its state to the cluster so far."""
    c = http.client.HTTPSConnection("localhost", port, context=ctx(), timeout=60)
    c.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    total = 0.0
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith("c4i_cluster_writes_total"): total += float(line.rsplit(" ", 1)[1])
    return total
def writes_per(name, since, n):
    w = cluster_writes() - since
    print(f"{name}: {w:.0f} cluster state writes, {w / max(n, 1):.1f} per roam", file=sys.stderr)

rows = []
def report(name, migs):
    de = [m["timeline"]["decided"] - m["timeline"]["notified"] for m in migs]
    ap = [m["timeline"]["applied"] - m["timeline"]["notified"] for m in migs]
    st = [m["timeline"]["started"] - m["timeline"]["notified"] for m in migs if m["timeline"].get("started")]
    sc = [m["timeline"]["scheduled"] - m["timeline"]["notified"] for m in migs if m["timeline"].get("scheduled")]
    for label, xs in (("notified->decided", de), ("notified->applied", ap), ("notified->scheduled", sc), ("notified->started", st)):
        rows.append((name, label, len(xs), pct(xs, 50), pct(xs, 99), max(xs)))

# ---- 1. roams in a row
devs = list(range(10))
for i in devs:
    s, b, _ = op.call("POST", "/v1/functions", {"template": "hr", "device": addr(i)})
    if s != 201: sys.exit(f"function: {s} {b}")
post(1, [seen(addr(i), -60) for i in devs])
wait(lambda: len([f for f in list_all("/v1/functions?state=running") if f["node"] == "gw-1"]) == len(devs), 120, "10 placed")
where = {i: 1 for i in devs}
done = []
w0 = cluster_writes()
t0 = time.time()
for k in range(ROAMS):
    i = devs[k % len(devs)]; a, b_ = where[i], 3 - where[i]
    last_id = max([m["id"] for m in list_all(f"/v1/migrations?function={fid(i)}&kind=roam")], default=0)
    post(b_, [seen(addr(i), -45)]); post(a, [seen(addr(i), -75, "refresh")])
    def finished():
        for m in list_all(f"/v1/migrations?function={fid(i)}&kind=roam"):
            if m["id"] > last_id and m["state"] == "done" and m["timeline"].get("started"): return m
    done.append(wait(finished, 60, f"roam {k}")); where[i] = b_
print(f"roams in a row: {ROAMS} in {time.time() - t0:.1f} s", file=sys.stderr)
time.sleep(3)  # progress written late (--cluster-defer-ms) is counted too
writes_per("roams in a row", w0, ROAMS)
report(f"{ROAMS} roams in a row", done)

# ---- for scale: one write to this apiserver (a Deployment's server-side
# apply on a kept-alive connection, what `applied` waits for at the least),
# replicas 0 so that nothing else follows from it.
def plane_conn(timeout=60):
    """A connection straight to the plane's apiserver, as its admin."""
    u = urllib.parse.urlparse(os.environ["C4I_APISERVER"])
    c = ssl.create_default_context(cafile=os.environ["C4I_PLANE_PKI"] + "/ca.crt")
    c.load_cert_chain(os.environ["C4I_PLANE_PKI"] + "/admin.crt", os.environ["C4I_PLANE_PKI"] + "/admin.key")
    return http.client.HTTPSConnection(u.hostname, u.port, context=c, timeout=timeout)
def apiserver_floor(n=200):
    conn = plane_conn(30)
    path = "/apis/apps/v1/namespaces/bench/deployments/c4i-bench-floor?fieldManager=bench-floor&force=true"
    xs = []
    for k in range(n):
        body = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "c4i-bench-floor", "namespace": "bench", "annotations": {"bench/k": str(k)}},
                           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "floor"}},
                                    "template": {"metadata": {"labels": {"app": "floor"}},
                                                 "spec": {"containers": [{"name": "c", "image": "floor"}]}}}})
        t = time.perf_counter()
        conn.request("PATCH", path, body, {"Content-Type": "application/apply-patch+yaml"})
        r = conn.getresponse(); raw = r.read()
        if r.status not in (200, 201): sys.exit(f"floor apply: {r.status} {raw[:300]}")
        xs.append((time.perf_counter() - t) * 1000)
    rows.append(("for scale: the apiserver alone", "one Deployment apply", n, round(pct(xs, 50), 1), round(pct(xs, 99), 1),
                 round(max(xs), 1)))
apiserver_floor()

# ---- 2. the fleet
fleet_devs = list(range(100, 100 + FLEET))
home = {i: 1 + (k % GWS) for k, i in enumerate(fleet_devs)}
t0 = time.time()
with ThreadPoolExecutor(8) as ex:
    def create(chunk):
        c = Conn()
        for i in chunk:
            s, b, _ = c.call("POST", "/v1/functions", {"template": "hr", "device": addr(i)})
            if s != 201: raise SystemExit(f"function: {s} {b}")
    list(ex.map(create, [fleet_devs[j::8] for j in range(8)]))
for n in range(1, GWS + 1):
    post(n, [seen(addr(i), -60) for i in fleet_devs if home[i] == n])
def all_running():
    fs = [f for f in list_all("/v1/functions?state=running") if f["id"] in fleet_ids]
    return len(fs) == FLEET
fleet_ids = {fid(i) for i in fleet_devs}
wait(all_running, 900, f"{FLEET} functions running", 0.5)
print(f"fleet placed: {FLEET} functions in {time.time() - t0:.1f} s", file=sys.stderr)
time.sleep(1.1)  # the placements' cooldown (1 s) must pass before they may roam
before = {m["id"] for m in list_all("/v1/migrations?kind=roam")}
w0 = cluster_writes()
t0 = time.time()
for n in range(1, GWS + 1):
    nxt = n % GWS + 1
    post(nxt, [seen(addr(i), -45) for i in fleet_devs if home[i] == n])
for n in range(1, GWS + 1):
    post(n, [seen(addr(i), -75, "refresh") for i in fleet_devs if home[i] == n])
def fleet_done():
    ms = [m for m in list_all("/v1/migrations?kind=roam") if m["id"] not in before and m["function"] in fleet_ids]
    ok = [m for m in ms if m["state"] == "done" and m["timeline"].get("started")]
    return ok if len(ok) >= FLEET else None
migs = wait(fleet_done, 1200, f"{FLEET} roams", 0.5)  # listing 1,000 migrations is itself load
print(f"fleet roamed: {FLEET} roams in {time.time() - t0:.1f} s", file=sys.stderr)
time.sleep(3)
writes_per("fleet roams", w0, FLEET)
report(f"{FLEET} functions / {GWS} gateways, all roam at once", migs)

# ---- for scale: the same number of pods started, then moved, by the plane
# alone. As many Deployments (namespace bench-floor, Recreate, each pinned to
# a gateway by node affinity as ours are) applied straight to the apiserver,
# 16 at a time like the orchestrator's writers: apply -> pod Running on its
# node (polled every 0.25 s); then each pinned to the next gateway at once,
# the fleet's roam without the orchestrator: what the controller manager,
# the scheduler and KWOK need for it.
def plane_floor(n):
    c = plane_conn()
    c.request("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-floor"}}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    applied = {}
    def apply(chunk, shift=0):
        cc = plane_conn()
        for k in chunk:
            name = f"floor-{k}"
            body = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "bench-floor"},
                "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"floor": name}},
                         "template": {"metadata": {"labels": {"floor": name}}, "spec": {
                             "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                                 {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [f"gw-{1 + (k + shift) % GWS}"]}]}]}}},
                             "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                             "containers": [{"name": "fn", "image": "floor", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}})
            t = time.time()
            cc.request("PATCH", f"/apis/apps/v1/namespaces/bench-floor/deployments/{name}?fieldManager=bench-floor&force=true", body,
                       {"Content-Type": "application/apply-patch+yaml"})
            r = cc.getresponse(); raw = r.read()
            if r.status not in (200, 201): raise SystemExit(f"floor deployment: {r.status} {raw[:300]}")
            applied[name] = t
    def run_all(label, shift):
        applied.clear()
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda ch: apply(ch, shift), [range(j, n, 16) for j in range(16)]))
        running = {}
        end = time.time() + 900
        while len(running) < n and time.time() < end:
            c.request("GET", "/api/v1/namespaces/bench-floor/pods?limit=5000")
            r = c.getresponse(); pods = json.loads(r.read())
            now = time.time()
            for p in pods.get("items", []):
                d = p["metadata"]["labels"].get("floor")
                k = int(d.split("-")[1]) if d else 0
                # Running, not being deleted, on the node this round pins it to.
                if d and d not in running and p.get("status", {}).get("phase") == "Running" and \
                        "deletionTimestamp" not in p["metadata"] and p["spec"].get("nodeName") == f"gw-{1 + (k + shift) % GWS}":
                    running[d] = now
            time.sleep(0.25)
        xs = [1000 * (running[d] - applied[d]) for d in running]
        if len(xs) < n: print(f"plane floor: only {len(xs)} of {n} pods ran", file=sys.stderr)
        rows.append((f"for scale: {n} Deployments straight to the plane", label, len(xs), int(pct(xs, 50)), int(pct(xs, 99)),
                     int(max(xs))))
    run_all("created: applied->Running", 0)
    # The same Deployments pinned to the next gateway at once: Recreate deletes each old pod, then starts the new one.
    run_all("all moved: applied->Running", 1)
if os.environ.get("C4I_BENCH_PLANE_FLOOR", "1") != "0":
    plane_floor(FLEET)

# Where the orchestrator's time went (its own metrics): the mean of each histogram.
def metric_means():
    c = http.client.HTTPSConnection("localhost", port, context=ctx(), timeout=60)
    c.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    text = c.getresponse().read().decode()
    sums, counts = {}, {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line: continue
        key, value = line.rsplit(" ", 1)
        if key.startswith("c4i_cluster_"):  # requests writing our state to the cluster, by kind (whole run)
            print(f"orchestrator: {key} {float(value):.0f}", file=sys.stderr)
        for name in ("c4i_backend_apply_seconds", "c4i_migration_write_seconds", "c4i_control_phase_seconds"):
            for part, into in (("_sum", sums), ("_count", counts)):
                if key.startswith(name + part):
                    into[name + key[len(name) + len(part):]] = float(value)
    return {k: (1000 * sums[k] / counts[k], int(counts[k])) for k in sums if counts.get(k)}
for k, (mean, n) in sorted(metric_means().items()):
    print(f"orchestrator: {k}: mean {mean:.1f} ms (n={n})", file=sys.stderr)

print()
print(f"| scenario | interval | n | median ms | p99 ms | max ms |")
print(f"|---|---|---|---|---|---|")
for r in rows: print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} |")
print()
print("SLO: Kubernetes pod start-up 5 s p99; aims: applied p99 < 10 ms, started p99 < 2 s.")
PY
