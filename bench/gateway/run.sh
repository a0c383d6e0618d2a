#!/usr/bin/env bash
# bench/gateway/run.sh [BUILD_DIR] — the gateway as a plain reverse proxy
# against nginx doing the same job, in one run:
#
#   wrk ──▶ proxy (bulwark gwbench | nginx), 1 worker each ──▶ static upstream (nginx, 1 worker)
#
# Both proxies keep idle keep-alive connections to the upstream (nginx:
# `keepalive 32` + HTTP/1.1; bulwark: pool_idle 32), log nothing, and run
# no WAF. The upstream answers 1 KiB to every request. The issue's request
# mix is measured kind by kind: simple GET, GET with 10 benign arguments,
# 2 KB urlencoded POST, 4 KB JSON POST. Rounds alternate between the two
# proxies and the median is reported.
#
# Environment: BW_BENCH_QUICK=1 (3 s runs, 1 round), ROUNDS (default 3),
# DURATION (seconds, default 10), CONNS (default 50).
#
# Every server runs on 127.0.0.1 on a port picked at run time, with its own
# prefix (-p) and config (-c) under a scratch directory; the system nginx is
# never read or signalled; every process is stopped by the PID we started.
set -euo pipefail
[ -n "${BENCH_DEBUG:-}" ] && set -x
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
[ -d "$BUILD" ] || { echo "bench/gateway: no build directory $BUILD" >&2; exit 1; }
ninja -C "$BUILD" gwbench >/dev/null
GWB="$BUILD/gwbench"
command -v wrk >/dev/null || { echo "bench/gateway: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "bench/gateway: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }

QUICK="${BW_BENCH_QUICK:-0}"
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-10}"; CONNS="${CONNS:-50}"
if [ "$QUICK" = 1 ]; then ROUNDS=1; DURATION=3; fi

WORK="$(mktemp -d /tmp/bw-gwbench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  sleep 0.2
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

pick_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# CPU placement: the proxy under test gets its own core when there are
# enough; wrk and the upstream share the rest.
NCPU=$(nproc)
if [ "$NCPU" -ge 4 ]; then SUT_CPU=0; UP_CPU=1; WRK_CPU=2-$((NCPU - 1)); WRK_T=2
elif [ "$NCPU" -ge 2 ]; then SUT_CPU=0; UP_CPU=1; WRK_CPU=1; WRK_T=1
else SUT_CPU=0; UP_CPU=0; WRK_CPU=0; WRK_T=1; fi

wait_port() {  # $1=port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench/gateway: nothing listens on port $1" >&2
  return 1
}

nginx_start() {  # $1=name $2=server block body  -> PID in NGX_PID
  local n="$1" d="$WORK/ngx-$1"
  mkdir -p "$d/logs" "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
$2
}
EOF
  taskset -c "$3" nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" &
  NGX_PID=$!
  PIDS+=("$NGX_PID")
}

# The static upstream.
UP_PORT=$(pick_port)
mkdir -p "$WORK/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$WORK/www/index.html"
# nginx workers run as nobody when started as root: let them read it
chmod a+rx "$WORK" "$WORK/www"; chmod a+r "$WORK/www/index.html"
PAYLOAD=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_start upstream "  server { listen 127.0.0.1:$UP_PORT; root $WORK/www; location / { }
    location /api/ { default_type text/plain; return 200 '$PAYLOAD'; } }" "$UP_CPU"
wait_port "$UP_PORT"

# nginx as the proxy.
NGX_PORT=$(pick_port)
NGX_PROXY_PID=""
nginx_start proxy "  upstream app { server 127.0.0.1:$UP_PORT; keepalive 32; }
  server { listen 127.0.0.1:$NGX_PORT;
    location / { proxy_pass http://app; proxy_http_version 1.1;
      proxy_set_header Connection \"\"; proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr; proxy_buffering on; } }" "$SUT_CPU"
NGX_PROXY_PID=$NGX_PID
wait_port "$NGX_PORT"

# bulwark's gateway as the proxy.
BW_PORT=$(pick_port)
cat >"$WORK/gw.yaml" <<EOF
gateway:
  upstreams:
    - { name: app, servers: ["127.0.0.1:$UP_PORT"], pool_idle: 32 }
  routes:
    - { name: all, path: /, upstream: app }
EOF
taskset -c "$SUT_CPU" "$GWB" "$WORK/gw.yaml" "$BW_PORT" >"$WORK/gwbench.out" 2>"$WORK/gwbench.err" &
BW_PID=$!
PIDS+=("$BW_PID")
wait_port "$BW_PORT"

# Sanity: both proxies relay the same 1 KiB body.
for p in "$NGX_PORT" "$BW_PORT"; do
  n=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$p/index.html")
  [ "$n" = 1024 ] || { echo "bench/gateway: proxy on $p answered $n bytes:" >&2; curl -s -i "http://127.0.0.1:$p/index.html" >&2; cat "$WORK"/ngx-*/logs/error.log >&2; exit 1; }
done

cpu_ticks() {  # utime+stime (clock ticks) of PIDs and their children
  local t=0 p f c
  for p in "$@"; do
    for c in $p $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
      [ -r "/proc/$c/stat" ] || continue
      f="$(sed 's/^.*) //' "/proc/$c/stat")"
      set -- $f
      t=$((t + ${12} + ${13}))
    done
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# The request mix, one wrk script per kind (every answer must be 2xx: a
# run with errors is reported, never ranked).
ARGS="a1=alpha&a2=bravo&a3=charlie&a4=delta&a5=echo&a6=foxtrot&a7=golf&a8=hotel&a9=india&a10=juliett"
FORM=$(python3 -c 'print("&".join("field%d=%s" % (i, "value-%d-" % i + "x" * 40) for i in range(40))[:2048])')
JSON=$(python3 -c 'import json
items = []
while len(json.dumps({"items": items})) < 4000:
    i = len(items)
    items.append({"id": i, "name": "item %d" % i, "tags": ["a", "b"], "price": i * 1.5})
print(json.dumps({"items": items[:-1]}))')
printf 'wrk.path = "/index.html"\n' >"$WORK/get.lua"
printf 'wrk.path = "/index.html?%s"\n' "$ARGS" >"$WORK/args.lua"
printf 'wrk.method = "POST"\nwrk.path = "/api/form"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.body = "%s"\n' "$FORM" >"$WORK/form.lua"
printf 'wrk.method = "POST"\nwrk.path = "/api/json"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]\n' "$JSON" >"$WORK/json.lua"
KINDS="get args form json"
kind_name() {
  case "$1" in
    get) echo "simple GET" ;;
    args) echo "GET, 10 benign args" ;;
    form) echo "POST 2 KB urlencoded" ;;
    json) echo "POST 4 KB JSON" ;;
  esac
}

run_wrk() {  # $1=port $2=proxy pid $3=kind -> "rps p50_ms p99_ms cpu_us_per_req"
  local c0 c1 out
  c0=$(cpu_ticks "$2")
  out=$(taskset -c "$WRK_CPU" wrk -t"$WRK_T" -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$WORK/$3.lua" "http://127.0.0.1:$1" 2>&1)
  c1=$(cpu_ticks "$2")
  awk -v dt=$((c1 - c0)) -v hz="$HZ" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { total = $1 }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses/ { bad = $NF }
    /Socket errors/ { bad += 0 }
    END { printf "%d %.3f %.3f %.1f %d\n", rps, p50, p99, (total > 0 ? dt * 1e6 / hz / total : 0), bad }' <<<"$out"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for k in $KINDS; do : >"$WORK/ngx.$k"; : >"$WORK/bw.$k"; done
for r in $(seq 1 "$ROUNDS"); do
  for k in $KINDS; do
    run_wrk "$NGX_PORT" "$NGX_PROXY_PID" "$k" >>"$WORK/ngx.$k"
    run_wrk "$BW_PORT" "$BW_PID" "$k" >>"$WORK/bw.$k"
  done
done

col() { awk -v c="$2" '{ print $c }' "$1" | median; }

echo "### gateway: reverse proxy to a static upstream (1 worker each)"
echo
echo "wrk -t$WRK_T -c$CONNS -d${DURATION}s per request kind, the upstream answers 1 KiB,"
echo "median of $ROUNDS round(s); CPUs: $NCPU (proxy on $SUT_CPU, upstream on $UP_CPU, wrk on $WRK_CPU)."
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') proxy_pass with keepalive 32 vs bulwark gwbench with pool_idle 32; no WAF on either."
echo
echo "| request | nginx req/s | nginx p50 / p99 ms | bulwark req/s | bulwark p50 / p99 ms | ratio req/s | CPU µs/req nginx / bulwark |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for k in $KINDS; do
  N_RPS=$(col "$WORK/ngx.$k" 1); N_P50=$(col "$WORK/ngx.$k" 2); N_P99=$(col "$WORK/ngx.$k" 3)
  B_RPS=$(col "$WORK/bw.$k" 1); B_P50=$(col "$WORK/bw.$k" 2); B_P99=$(col "$WORK/bw.$k" 3)
  N_CPU=$(col "$WORK/ngx.$k" 4); B_CPU=$(col "$WORK/bw.$k" 4)
  RATIO=$(awk -v b="$B_RPS" -v n="$N_RPS" 'BEGIN { if (n > 0) printf "%.2f", b / n; else print "n/a" }')
  ERRS=$(cat "$WORK/ngx.$k" "$WORK/bw.$k" | awk '{ e += $5 } END { print e + 0 }')
  [ "$ERRS" = 0 ] || RATIO="n/a ($ERRS non-2xx answers)"
  echo "| $(kind_name "$k") | $N_RPS | $N_P50 / $N_P99 | $B_RPS | $B_P50 / $B_P99 | **$RATIO** | $N_CPU / $B_CPU |"
done

# The same four requests counted in instructions (callgrind), which the
# load on a shared machine does not move.
if command -v valgrind >/dev/null; then
  echo
  echo "Instructions per proxied request (bench/gateway/instructions.sh, callgrind, one keep-alive client):"
  echo
  bash "$HERE/instructions.sh" "$BUILD"
fi
