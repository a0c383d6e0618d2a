#!/usr/bin/env bash
# bench/gateway/instructions.sh [BUILD_DIR] [N] — instructions per proxied
# request, bulwark's gateway (gwbench) against nginx doing the same job,
# counted by callgrind.
#
# Rates on a shared 2-core machine swing by 1.5x between runs; the number
# of instructions a proxy retires per request does not. Each proxy runs
# under valgrind --tool=callgrind with one keep-alive client; after 100
# warm-up requests the counters are zeroed, N requests (default 500) of
# each kind are sent, and the counters dumped. The upstream is a plain
# nginx (not under valgrind) answering 1 KiB.
#
# Both proxies as in bench/gateway/run.sh: nginx `proxy_pass` with
# `keepalive 32`, HTTP/1.1 upstream, X-Forwarded-For set, no access log,
# master_process off (one process to count); bulwark gwbench with
# pool_idle 32. Caveat when reading the table: valgrind counts each
# iteration of `rep stosb` (glibc's memset for kilobyte buffers, used
# when bulwark wipes request bodies) as one instruction, though the CPU
# runs it at tens of bytes per cycle.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
N="${2:-500}"
command -v valgrind >/dev/null || { echo "bench/gateway: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
ninja -C "$BUILD" gwbench >/dev/null
GWB="$BUILD/gwbench"
PY=/usr/bin/python3

WORK="$(mktemp -d /tmp/bw-gwinstr.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 0.2
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

pick_port() {
  $PY -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench/gateway: nothing listens on port $1" >&2
  return 1
}
nginx_conf() {  # $1=dir $2=extra main directives $3=http body
  mkdir -p "$1/logs" "$1/tmp"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1; daemon off; $2
pid $1/nginx.pid; error_log $1/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fcgi; uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;
$3
}
EOF
}

# The client: one keep-alive connection, the four request kinds of run.sh.
cat >"$WORK/client.py" <<'EOF'
import http.client, json, sys
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ARGS = "&".join("a%d=%s" % (i + 1, w) for i, w in enumerate(
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett".split()))
FORM = "&".join("field%d=%s" % (i, "value-%d-" % i + "x" * 40) for i in range(40))[:2048]
items = []
while len(json.dumps({"items": items})) < 4000:
    i = len(items)
    items.append({"id": i, "name": "item %d" % i, "tags": ["a", "b"], "price": i * 1.5})
JSON = json.dumps({"items": items[:-1]})
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    if kind == "get":
        c.request("GET", "/index.html")
    elif kind == "args":
        c.request("GET", "/index.html?" + ARGS)
    elif kind == "form":
        c.request("POST", "/api/form", FORM, {"Content-Type": "application/x-www-form-urlencoded"})
    else:
        c.request("POST", "/api/json", JSON, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("proxy answered %d" % r.status)
EOF

UP_PORT=$(pick_port)
mkdir -p "$WORK/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$WORK/www/index.html"
chmod -R a+rX "$WORK"
PAYLOAD=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_conf "$WORK/up" "" "  server { listen 127.0.0.1:$UP_PORT; root $WORK/www; location / { }
    location /api/ { default_type text/plain; return 200 '$PAYLOAD'; } }"
nginx -p "$WORK/up" -c "$WORK/up/nginx.conf" -e "$WORK/up/logs/error.log" &
PIDS+=($!)
wait_port "$UP_PORT"

# count NAME PORT KIND CMD... : starts CMD under callgrind, prints the
# instructions per request.
count() {
  local name=$1 port=$2 kind=$3; shift 3
  local out="$WORK/cg.$name.$kind"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$out.err" &
  local vp=$!
  PIDS+=("$vp")
  wait_port "$port"
  $PY "$WORK/client.py" "$port" "$kind" 100
  callgrind_control -z "$vp" >/dev/null 2>&1
  $PY "$WORK/client.py" "$port" "$kind" "$N"
  callgrind_control -d "$vp" >/dev/null 2>&1
  kill "$vp"; wait "$vp" 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo $((total / N))
}

echo "| request | nginx instructions/req | bulwark instructions/req | bulwark / nginx |"
echo "|---|---:|---:|---:|"
for kind in get args form json; do
  NGX_PORT=$(pick_port)
  nginx_conf "$WORK/ngx-$kind" "master_process off;" "  upstream app { server 127.0.0.1:$UP_PORT; keepalive 32; }
  server { listen 127.0.0.1:$NGX_PORT;
    location / { proxy_pass http://app; proxy_http_version 1.1;
      proxy_set_header Connection \"\"; proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr; proxy_buffering on; } }"
  ngx=$(count nginx "$NGX_PORT" "$kind" nginx -p "$WORK/ngx-$kind" -c "$WORK/ngx-$kind/nginx.conf" -e "$WORK/ngx-$kind/logs/error.log")
  BW_PORT=$(pick_port)
  cat >"$WORK/gw-$kind.yaml" <<EOF
gateway:
  upstreams:
    - { name: app, servers: ["127.0.0.1:$UP_PORT"], pool_idle: 32 }
  routes:
    - { name: all, path: /, upstream: app }
EOF
  bw=$(count bulwark "$BW_PORT" "$kind" "$GWB" "$WORK/gw-$kind.yaml" "$BW_PORT")
  case $kind in
    get) label="simple GET" ;; args) label="GET, 10 benign args" ;;
    form) label="POST 2 KB urlencoded" ;; json) label="POST 4 KB JSON" ;;
  esac
  awk -v l="$label" -v n="$ngx" -v b="$bw" 'BEGIN { printf "| %s | %d | %d | %.2f |\n", l, n, b, b / n }'
done
