#!/bin/sh
# c4i-reader replay vs tshark on the same capture, generated here (not
# committed): the treadmill capture's records repeated N times with shifted
# timestamps. Prints notifications/s for both, the ratio, and the reader's
# peak resident memory. Then the streaming reader live against the emulated
# peripheral (c4i-gatt-peripheral, 1 notification per ms) for SECONDS: its
# resident memory and CPU per notification.
# Usage: bench/ble-reader.sh BUILD_DIR [COPIES] [SECONDS]
set -eu
build=${1:?usage: bench/ble-reader.sh BUILD_DIR [COPIES]}
copies=${2:-100}
seconds=${3:-5}
reader="$build/ble-reader/c4i-reader"
src=${C4I_TESTDATA:-/work/shared/testdata}/hci-horizon74-treadmill.btsnoop
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cap="$work/repeated.btsnoop"

python3 - "$src" "$cap" "$copies" <<'PY'
import struct, sys
src, dst, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, 'rb').read()
hdr, recs, pos = data[:16], [], 16
while pos + 24 <= len(data):
    orig, incl, flags, drops, ts = struct.unpack('>IIIIq', data[pos:pos + 24])
    if pos + 24 + incl > len(data): break
    recs.append((orig, incl, flags, drops, ts, data[pos + 24:pos + 24 + incl]))
    pos += 24 + incl
span = recs[-1][4] - recs[0][4] + 1_000_000
with open(dst, 'wb') as out:
    out.write(hdr)
    for c in range(copies):
        for orig, incl, flags, drops, ts, body in recs:
            out.write(struct.pack('>IIIIq', orig, incl, flags, drops, ts + c * span))
            out.write(body)
PY

size=$(stat -c %s "$cap")
# The reader: wall time and peak RSS from GNU time.
/usr/bin/time -f '%e %M' -o "$work/reader.time" "$reader" replay "$cap" --format jsonl > "$work/reader.out" 2> "$work/reader.err"
read -r r_sec r_kb < "$work/reader.time"
r_n=$(wc -l < "$work/reader.out")
# tshark: the same notifications, handle and value fields.
/usr/bin/time -f '%e %M' -o "$work/tshark.time" tshark -r "$cap" -Y 'btatt.opcode==0x1b || btatt.opcode==0x1d' \
  -T fields -e btatt.handle -e btatt.value > "$work/tshark.out" 2> /dev/null
read -r t_sec t_kb < "$work/tshark.time"
t_n=$(wc -l < "$work/tshark.out")

python3 - "$r_n" "$r_sec" "$r_kb" "$t_n" "$t_sec" "$t_kb" "$size" <<'PY'
import sys
r_n, r_sec, r_kb, t_n, t_sec, t_kb, size = sys.argv[1:]
r_n, t_n, size = int(r_n), int(t_n), int(size)
r_sec, t_sec = max(float(r_sec), 0.01), max(float(t_sec), 0.01)
r_rate, t_rate = r_n / r_sec, t_n / t_sec
print(f"capture: {size/1e6:.1f} MB, {r_n} notifications (tshark: {t_n})")
print(f"{'tool':<22}{'seconds':>10}{'notif/s':>14}{'peak RSS MB':>14}")
print(f"{'c4i-reader replay':<22}{r_sec:>10.2f}{r_rate:>14,.0f}{int(r_kb)/1024:>14.1f}")
print(f"{'tshark -T fields':<22}{t_sec:>10.2f}{t_rate:>14,.0f}{int(t_kb)/1024:>14.1f}")
print(f"ratio reader/tshark: {r_rate/t_rate:.1f}x")
PY

# Live: the streaming reader against the emulator over a Unix socket.
"$build/ble-reader/c4i-gatt-peripheral" --listen "$work/hr.sock" --interval-ms 1 2> "$work/periph.err" &
periph=$!
i=0; while [ ! -S "$work/hr.sock" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.05; done
"$reader" --connect "unix:$work/hr.sock" > "$work/live.out" 2> "$work/live.err" &
rpid=$!
sleep "$seconds"
hwm_kb=$(awk '/VmHWM/ {print $2}' /proc/$rpid/status)
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$rpid/status)
ticks=$(awk '{print $14 + $15}' /proc/$rpid/stat)
kill -TERM $rpid; wait $rpid || true
kill -TERM $periph; wait $periph || true
n=$(grep -c '"source":"notification"' "$work/live.out" || true)
hz=$(getconf CLK_TCK)
python3 - "$n" "$seconds" "$hwm_kb" "$rss_kb" "$ticks" "$hz" <<'PY'
import sys
n, secs, hwm, rss, ticks, hz = (int(float(x)) for x in sys.argv[1:])
cpu_s = ticks / hz
print(f"live (emulator, 1 notification/ms, {secs} s): {n} notifications, {n/secs:,.0f}/s; "
      f"reader RSS {rss/1024:.1f} MB (peak {hwm/1024:.1f} MB); CPU {cpu_s:.2f} s = {1e6*cpu_s/max(n,1):.1f} us/notification")
PY
