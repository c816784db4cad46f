#!/usr/bin/env bash
# Gateway discovery benchmarks, printed as one table:
#  1. replay decode throughput (reports/s) of `c4i-discovery replay` and of
#     `tshark -T fields` on the same large capture, in the same run (ratio);
#  2. the daemon's resident memory (VmRSS, VmHWM from /proc) while it runs:
#     replaying that capture as fast as possible into its outbox, with the
#     orchestrator unreachable (so the outbox grows), and heartbeats on;
#  3. the in-process Google Benchmark (bench_gateway_discovery).
# The large capture is generated here by repeating ../shared/testdata's
# captures and deleted at the end.
# Usage: bench/gateway-discovery.sh BUILD_DIR [REPEATS]   (a Release build)
set -euo pipefail
build=${1:?usage: gateway-discovery.sh BUILD_DIR [REPEATS]}
repeats=${2:-300}
src=$(cd "$(dirname "$0")/.." && pwd)
testdata=${C4I_TESTDATA_DIR:-$src/../shared/testdata}
bin=$build/gateway-discovery/c4i-discovery
work=$(mktemp -d /tmp/c4i-discovery-bench.XXXXXX)
daemon_pid=
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

big=$work/big.btsnoop
python3 - "$big" "$repeats" "$testdata/hci-horizon74-treadmill.btsnoop" "$testdata/hci-dsd6-tracker.btsnoop" <<'PY'
import sys
out, times, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bodies = []
for f in files:
    d = open(f, 'rb').read()
    assert d[:8] == b'btsnoop\0' and d[12:16] == (1002).to_bytes(4, 'big')
    header = d[:16]
    bodies.append(d[16:])
with open(out, 'wb') as o:
    o.write(header)
    for _ in range(times):
        for b in bodies:
            o.write(b)
PY
size_mb=$(python3 -c "import os;print(round(os.path.getsize('$big')/1e6,1))")

now() { date +%s.%N; }
# Ours: best of 5 runs.
best=
for i in 1 2 3 4 5; do
  t0=$(now); "$bin" replay "$big" --format jsonl >/dev/null 2>"$work/summary"; t1=$(now)
  d=$(python3 -c "print($t1-$t0)")
  best=$(python3 -c "print(min(x for x in [$d, ${best:-1e9}]))")
done
reports=$(sed -n 's/.*reports=\([0-9]*\).*/\1/p' "$work/summary")
hwm_replay=$(/usr/bin/time -f %M "$bin" replay "$big" --format jsonl 2>&1 >/dev/null | tail -1)

# tshark: one run (it is slow), the same file, fields output.
t0=$(now)
tshark -r "$big" -Y "bthci_evt.le_meta_subevent==0x02" -T fields -e bthci_evt.bd_addr -e bthci_evt.rssi \
  2>/dev/null >"$work/tshark.txt"
t1=$(now)
tshark_s=$(python3 -c "print($t1-$t0)")
tshark_reports=$(awk -F'\t' '{n+=split($1,a,",")} END{print n+0}' "$work/tshark.txt")

# The daemon running: replay at full speed into the outbox, orchestrator down.
"$bin" --gateway gw-bench --source "btsnoop:$big@0" --orchestrator https://127.0.0.1:9 \
  --outbox "$work/outbox.db" --heartbeat-interval 1 --threshold -100 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 600); do
  grep -q "replay finished" "$work/daemon.log" && break
  sleep 0.1
done
sleep 2  # a few heartbeats and delivery retries while idle
rss=$(awk '/VmRSS/{print $2}' /proc/$daemon_pid/status)
hwm=$(awk '/VmHWM/{print $2}' /proc/$daemon_pid/status)
anon=$(awk '/RssAnon/{print $2}' /proc/$daemon_pid/status)
filerss=$(awk '/RssFile/{print $2}' /proc/$daemon_pid/status)
pss=$(awk '/^Pss:/{print $2}' /proc/$daemon_pid/smaps_rollup)
kill -TERM $daemon_pid; wait $daemon_pid || true; daemon_pid=

python3 - <<PY
ours = $reports / $best
theirs = $tshark_reports / $tshark_s
print("| measure | value |")
print("|---|---|")
print(f"| capture | {$repeats} x both captures, $size_mb MB, $reports reports |")
print(f"| c4i-discovery replay (best of 5) | {$best:.3f} s, {ours:,.0f} reports/s |")
print(f"| tshark -T fields (same file) | {$tshark_s:.2f} s, {theirs:,.0f} reports/s ({$tshark_reports} reports) |")
print(f"| ratio ours / tshark | {ours/theirs:,.0f}x |")
print(f"| replay peak RSS (VmHWM) | {$hwm_replay/1024:.1f} MB |")
print(f"| daemon VmRSS / VmHWM after the replay | {$rss/1024:.1f} MB / {$hwm/1024:.1f} MB |")
print(f"| daemon RssAnon (private heap, stacks) / RssFile (shared libraries, mapped capture) | {$anon/1024:.1f} MB / {$filerss/1024:.1f} MB |")
print(f"| daemon Pss (shared pages divided among their users) | {$pss/1024:.1f} MB |")
PY

if [ -x "$build/bench/bench_gateway_discovery" ]; then
  C4I_TESTDATA_DIR=$testdata "$build/bench/bench_gateway_discovery" --benchmark_min_time=1
fi
