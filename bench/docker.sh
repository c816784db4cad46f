#!/usr/bin/env bash
# bench/docker.sh [BUILD_DIR] : the docker backend's roaming timeline.
#
# Starts two extra Docker daemons (gw-1, gw-2: own data-root, exec-root,
# socket, pidfile; no bridge, no iptables), Debian's docker-registry on
# loopback serving BUILD_DIR/images-out/registry (images/build.sh), and the
# real c4i-orchestrator --backend docker; then roams one device's c4i-fn-omh
# container C4I_BENCH_ROAMS times (20) between gw-1 and gw-2 with gateway
# events. The device is the emulated heart-rate peripheral (c4i-gatt-peripheral,
# a notification every 50 ms) on a Unix socket bound into the function's reader
# container, which posts the first_data mark itself (with its gateway's
# certificate) when the first sample arrives. From each migration record (ms,
# the orchestrator's clock):
#   stop   = steps.stopped - decided   (old container stopped and removed)
#   pull   = steps.pulled  - steps.stopped   (image present on the new engine)
#   create = steps.created - steps.pulled
#   start  = timeline.started - steps.created
#   first data = timeline.first_data - timeline.started (reader start, connect, GATT discovery, first notification)
#   total  = timeline.first_data - timeline.decided
# p50 and max per step. C4I_BENCH_COLD=1 removes the image from the new
# engine before each roam, so every pull is a real one.
#
# BUILD_DIR defaults to build/release. Env: C4I_BENCH_ROAMS (20),
# C4I_BENCH_COLD (0), C4I_KEEP_TMP=1 keeps the work directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build/release}" && pwd)"
orch="$build/orchestrator/c4i-orchestrator"
periph="$build/ble-reader/c4i-gatt-peripheral"
[[ -x "$orch" ]] || { echo "bench/docker.sh: $orch not found" >&2; exit 2; }
[[ -x "$periph" ]] || { echo "bench/docker.sh: $periph not found" >&2; exit 2; }
[[ -d "$build/images-out/registry/data" ]] || { echo "bench/docker.sh: no $build/images-out/registry (run images/build.sh)" >&2; exit 2; }
roams="${C4I_BENCH_ROAMS:-20}"
cold="${C4I_BENCH_COLD:-0}"
say() { echo "bench/docker.sh: $*" >&2; }

work="$(mktemp -d /tmp/c4i-bench-docker.XXXXXX)"
pids=()
cleanup() {
  for e in gw-1 gw-2; do
    [[ -S "$work/$e/d.sock" ]] || continue
    ids=$(docker -H "unix://$work/$e/d.sock" ps -aq --filter label=cloud4iot.io/owner 2>/dev/null || true)
    [[ -z "$ids" ]] || docker -H "unix://$work/$e/d.sock" rm -f $ids >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # dockerd leaves the bind mount of the host's network namespace behind.
  for m in "$work"/gw-*/exec/netns/default; do [[ -e "$m" ]] && umount -l "$m" 2>/dev/null || true; done
  if [[ "${C4I_KEEP_TMP:-}" == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

for e in gw-1 gw-2; do
  mkdir -p "$work/$e"
  echo '{}' > "$work/$e/daemon.json"
  dockerd --config-file "$work/$e/daemon.json" --data-root "$work/$e/data" --exec-root "$work/$e/exec" \
    -H "unix://$work/$e/d.sock" --pidfile "$work/$e/d.pid" --bridge=none --iptables=false --ip6tables=false \
    >"$work/$e/dockerd.log" 2>&1 &
  pids+=($!)
done
for e in gw-1 gw-2; do
  for _ in $(seq 1 600); do docker -H "unix://$work/$e/d.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  docker -H "unix://$work/$e/d.sock" info >/dev/null || { cat "$work/$e/dockerd.log" >&2; say "dockerd $e did not start"; exit 1; }
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $build/images-out/registry/data}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

"$root/tests/pki/make-pki.sh" "$work/pki" >/dev/null
# The readers run as user 65534: the device's socket and their certificates readable by it.
dev="c4:7c:8d:6a:3e:01"
mkdir -p "$work/devices" "$work/rpki"
chmod 755 "$work/devices" "$work/rpki"
cp "$work/pki/ca.pem" "$work"/pki/gw-[12].pem "$work"/pki/gw-[12].key "$work/rpki/"
chmod 644 "$work"/rpki/*
"$periph" --listen "$work/devices/$dev.sock" --interval-ms 50 >"$work/peripheral.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [[ -S "$work/devices/$dev.sock" ]] && break; sleep 0.05; done
chmod 666 "$work/devices/$dev.sock"
tok=bench-operator-token
admin=bench-admin-token
cat > "$work/tokens.yaml" <<YAML
tokens:
  - {name: ops, role: operator, sha256: $("$orch" hash-token "$tok")}
  - {name: adm, role: admin, sha256: $("$orch" hash-token "$admin")}
YAML
cat > "$work/topology.yaml" <<YAML
usage_interval_ms: 0
stop_timeout_s: 1
reader:
  connect: "unix:/devices/{addr}.sock"
  binds: ["$work/devices:/devices", "$work/rpki:/pki:ro"]
  args: [--ca, /pki/ca.pem, --cert, "/pki/{node}.pem", --key, "/pki/{node}.key"]
nodes:
  - {name: gw-1, tier: gateway, network: none, engine: {endpoint: "unix://$work/gw-1/d.sock"}}
  - {name: gw-2, tier: gateway, network: none, engine: {endpoint: "unix://$work/gw-2/d.sock"}}
YAML
"$orch" --listen 127.0.0.1:0 --port-file "$work/port" --state-dir "$work/state" --topology "$work/topology.yaml" \
  --tokens "$work/tokens.yaml" --tls-cert "$work/pki/server.pem" --tls-key "$work/pki/server.key" \
  --client-ca "$work/pki/ca.pem" --backend docker --log-level warn 2>"$work/orchestrator.log" &
pids+=($!)
for _ in $(seq 1 300); do [[ -s "$work/port" ]] && break; sleep 0.1; done
[[ -s "$work/port" ]] || { cat "$work/orchestrator.log" >&2; say "orchestrator did not start"; exit 1; }

say "$roams roams between gw-1 and gw-2 (cold pulls: $cold)"
WORK="$work" PORT="$(cat "$work/port")" REGISTRY="127.0.0.1:$port" TOKEN="$tok" ADMIN="$admin" ROAMS="$roams" COLD="$cold" \
python3 - <<'PY'
import http.client, json, os, ssl, statistics, subprocess, time

work, port = os.environ["WORK"], int(os.environ["PORT"])
roams, cold = int(os.environ["ROAMS"]), os.environ["COLD"] == "1"
image = os.environ["REGISTRY"] + "/cloud4iot/fn-omh:0.1.0"
dev, fn = "c4:7c:8d:6a:3e:01", "omh-c4-7c-8d-6a-3e-01"

def ctx(cert=None):
    c = ssl.create_default_context(cafile=f"{work}/pki/ca.pem")
    c.check_hostname = False  # the server certificate is for localhost; we dial 127.0.0.1
    if cert:
        c.load_cert_chain(f"{work}/pki/{cert}.pem", f"{work}/pki/{cert}.key")
    return c

def call(method, path, body=None, token=None, cert=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx(cert), timeout=30)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    conn.request(method, path, json.dumps(body) if body is not None else None, h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data else None)

def now_ms():
    return int(time.time() * 1000)

seq = {"gw-1": 1, "gw-2": 1}
def events(gw, evs):
    for e in evs:
        e["seq"] = seq[gw]; seq[gw] += 1
    st, b = call("POST", f"/v1/gateways/{gw}/events",
                 {"gateway": gw, "boot_id": "boot-" + gw, "seq": evs[0]["seq"], "events": evs}, cert=gw)
    assert st == 200, (st, b)

def seen(rssi, reason="enter"):
    return {"type": "device.seen", "t": now_ms(), "reason": reason, "addr": dev, "addr_type": "public",
            "rssi": rssi, "name": "HRM", "services": ["180d"]}

def sock(node):
    return f"unix://{work}/{node}/d.sock"

def wait_migration(count):
    deadline = time.time() + 180
    while time.time() < deadline:
        st, b = call("GET", f"/v1/migrations?function={fn}&limit=100", token=os.environ["TOKEN"])
        done = [m for m in b["items"] if m["state"] == "done"]
        if len(done) >= count:
            return max(done, key=lambda m: m["id"])
        time.sleep(0.02)
    raise SystemExit(f"migration {count} did not finish; see {work}/orchestrator.log")

def first_data(mid):
    deadline = time.time() + 60
    while time.time() < deadline:
        st, m = call("GET", f"/v1/migrations/{mid}", token=os.environ["TOKEN"])
        if isinstance(m.get("timeline", {}).get("first_data"), int):
            return m
        time.sleep(0.02)
    raise SystemExit(f"no first_data for migration {mid}; see {work}/orchestrator.log")

st, b = call("POST", "/v1/templates", {"name": "omh", "image": image, "archs": ["amd64", "arm64"],
             "command": ["/usr/bin/c4i-fn-omh", "--window", "1", "--grace", "1"], "cpu_m": 100, "mem_mb": 64},
             token=os.environ["ADMIN"])
assert st == 201, (st, b)
st, pol = call("GET", "/v1/policy", token=os.environ["TOKEN"])
p = pol["policy"]; p["cooldown_s"] = 1; p["max_moves_per_minute"] = 1000
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx(), timeout=30)
conn.request("GET", "/v1/policy", headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
r = conn.getresponse(); etag = r.getheader("ETag"); r.read()
conn.request("PUT", "/v1/policy", json.dumps(p), {"Authorization": "Bearer " + os.environ["TOKEN"],
             "Content-Type": "application/json", "If-Match": etag})
r = conn.getresponse(); body = r.read(); conn.close()
assert r.status == 200, (r.status, body)
st, b = call("POST", "/v1/functions", {"template": "omh", "device": dev}, token=os.environ["TOKEN"])
assert st == 201, (st, b)
events("gw-1", [seen(-60)])
wait_migration(1)

rows = []
here, there = "gw-1", "gw-2"
for i in range(roams):
    if cold:
        subprocess.run(["docker", "-H", sock(there), "rmi", "-f", image], capture_output=True)
    events(there, [seen(-45)])
    events(here, [seen(-75, "refresh")])
    m = wait_migration(i + 2)
    assert m["to"]["node"] == there, m
    m = first_data(m["id"])
    tl, sp = m["timeline"], m["steps"]
    rows.append({"stop": sp["stopped"] - tl["decided"], "pull": sp["pulled"] - sp["stopped"],
                 "create": sp["created"] - sp["pulled"], "start": tl["started"] - sp["created"],
                 "first data": tl["first_data"] - tl["started"], "total": tl["first_data"] - tl["decided"]})
    here, there = there, here

print(f"docker backend: {roams} roams gw-1 <-> gw-2 (c4i-fn-omh, pulls {'cold' if cold else 'cached after the first per engine'}), ms")
print(f"{'step':<12} {'p50':>8} {'max':>8}")
for k in ["stop", "pull", "create", "start", "first data", "total"]:
    v = [r[k] for r in rows]
    print(f"{k:<12} {statistics.median(v):>8.0f} {max(v):>8}")
PY
