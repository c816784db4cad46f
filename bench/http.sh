#!/usr/bin/env bash
# HTTPS server load: our server (c4i-test-server, GET /hello, a small JSON
# answer) side by side with nginx serving the same bytes as a static file,
# both TLS with keep-alive, same certificate, same machine, same run.
# Usage: bench/http.sh [seconds] [connections]     (needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
bin=build/release/tests/common/c4i-test-server
[ -x "$bin" ] || scripts/build.sh release c4i-test-server >/dev/null
work=$(mktemp -d /tmp/c4i-bench-http.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
chmod 755 "$work"  # nginx workers drop to an unprivileged user
tests/pki/make-pki.sh "$work/pki" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$bin" --cert "$work/pki/server.pem" --key "$work/pki/server.key" --port-file "$work/c4i.port" --threads 2 \
  2>"$work/c4i.log" & pids+=($!)
for _ in $(seq 200); do [ -s "$work/c4i.port" ] && break; sleep 0.05; done
c4i_port=$(cat "$work/c4i.port")

nginx_port=$(free_port)
mkdir -p "$work/www" "$work/nginx"
printf '{"hello":"world"}' > "$work/www/hello"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/pki/server.pem;
    ssl_certificate_key $work/pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /hello { root $work/www; default_type application/json; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & pids+=($!)
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$nginx_port) 2>/dev/null && break; sleep 0.05; done

run_wrk() {  # name url -> "rps p50 p99"
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errs
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  printf '%-22s %12s %10s %10s  %s\n' "$1" "$rps" "$p50" "$p99" "$errs"
  echo "$rps" > "$work/$1.rps"
}
echo "wrk -t2 -c$conns -d${secs}s, TLS keep-alive, $(nproc) cores shared by server and load"
printf '%-22s %12s %10s %10s\n' server requests/s p50 p99
run_wrk c4i-https "https://127.0.0.1:$c4i_port/hello"
run_wrk nginx-static "https://127.0.0.1:$nginx_port/hello"
python3 -c "print('ratio c4i/nginx: %.2f' % (float(open('$work/c4i-https.rps').read())/float(open('$work/nginx-static.rps').read())))"
