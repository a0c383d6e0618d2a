# common.sh - sourced by bench/foundation/run.sh. Starts and stops the
# servers under test (bulwark and a private nginx), reads their memory and
# CPU from /proc, and parses wrk output.
#
# Invariants: every server is started by us, on 127.0.0.1, with ports picked
# free at run time (bulwark: port 0 + run/ports.json; nginx: a port the
# kernel just handed out); every process is stopped by the PID we recorded
# (nginx only after checking its command line still names our config), never
# by name; the system nginx (/etc/nginx) is never read or signalled.
# Needs: WORK (scratch dir), BW (bulwark binary), SUT_CPU, AUX_CPU.

FOUNDATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STARTED_BW=""     # names of bulwark instances we started
STARTED_NGX=""    # names of nginx instances we started
declare -A BW_PID BW_PORT NGX_PORT

log() { printf '%s\n' "$*" >&2; }

# A TCP port that was free a moment ago on 127.0.0.1.
pick_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Sum of a /proc/PID/status field (kB) over PIDs.
status_kb() {  # $1=field $2..=pids
  local f="$1" p t=0 v; shift
  for p in "$@"; do
    v=$(awk -v f="$f:" '$1==f{print $2}' "/proc/$p/status" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
rss_kb() { status_kb VmRSS "$@"; }
pss_kb() {  # proportional set size (shared pages split among sharers)
  local p t=0 v
  for p in "$@"; do
    v=$(awk '$1=="Pss:"{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
cpu_ticks() {  # utime+stime (clock ticks) summed over PIDs (all threads)
  local t=0 p f
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    f="$(sed 's/^.*) //' "/proc/$p/stat")"
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
children_of() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }

# ------------------------------------------------------------------ certificates
# make_cert NAME ec|rsa: self-signed localhost certificate in $WORK/certs.
make_cert() {
  local n="$1" kind="$2" d="$WORK/certs"
  mkdir -p "$d"
  if [ "$kind" = ec ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
      -keyout "$d/$n.key" -out "$d/$n.crt" 2>/dev/null
  else
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
      -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
      -keyout "$d/$n.key" -out "$d/$n.crt" 2>/dev/null
  fi
  chmod 600 "$d/$n.key"
}

# ------------------------------------------------------------------ bulwark
# bw_prepare NAME [CERTNAME] [TICKETS=false] [ACCESS_EVENTS=false]: data dir
# $WORK/bw-NAME with one event-loop thread, access events off unless asked
# (nginx runs with access_log off),
# keep-alive idle timeout 300 s, listeners admin (TLS), plain (HTTP) and
# tls (HTTPS), all on port 0.
bw_prepare() {
  local n="$1" cert="${2:-}" tickets="${3:-false}" events="${4:-false}" d="$WORK/bw-$1" certs=""
  rm -rf "$d"
  "$BW" init --dir "$d" >"$WORK/bw-$n.init.log" 2>&1 || { log "bulwark init failed:"; cat "$WORK/bw-$n.init.log" >&2; return 1; }
  if [ -n "$cert" ]; then
    # bulwark reads key files before dropping privileges and wants them
    # owned by the user it runs as, mode 0600 (as make_cert leaves them).
    certs="[{cert: $WORK/certs/$cert.crt, key: $WORK/certs/$cert.key}]"
  else
    certs="[]"
  fi
  cat >"$d/bulwark.yaml" <<EOF
# written by bench/foundation/common.sh
server:
  data_dir: "$d"
  workers: 1
  shutdown_timeout: 2s
log:
  level: warn
  access_events: $events
http:
  idle_timeout: 300s
  max_connections: 16384
tls:
  certificates: $certs
  session_tickets: $tickets
listeners:
  - name: admin
    kind: admin
    port: 0
    tls: true
  - name: plain
    kind: gateway
    port: 0
    tls: false
  - name: tls
    kind: gateway
    port: 0
    tls: true
EOF
  "$BW" config check "$d/bulwark.yaml" >/dev/null || return 1
}

bw_start() {  # NAME: starts pinned to $SUT_CPU, fills BW_PORT[NAME.plain|NAME.tls]
  local n="$1" d="$WORK/bw-$1" i pid
  rm -f "$d/run/ports.json"
  taskset -c "$SUT_CPU" "$BW" serve -c "$d/bulwark.yaml" >"$d/serve.log" 2>&1 &
  pid=$!
  BW_PID[$n]=$pid
  STARTED_BW="$STARTED_BW $n"
  for i in $(seq 1 100); do
    [ -s "$d/run/ports.json" ] && [ -n "$(children_of "$pid")" ] && break
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ ! -s "$d/run/ports.json" ]; then
    log "bulwark $n did not start:"; cat "$d/serve.log" >&2; return 1
  fi
  sleep 0.3
  BW_PORT[$n.plain]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plain"]["port"])' "$d/run/ports.json")
  BW_PORT[$n.tls]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tls"]["port"])' "$d/run/ports.json")
}

bw_pids() { local p="${BW_PID[$1]}"; echo "$p" $(children_of "$p"); }
bw_worker_pids() { children_of "${BW_PID[$1]}"; }

bw_stop() {
  local n="$1" pid="${BW_PID[$1]:-}" i
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  if [ -d "/proc/$pid" ]; then log "bulwark $n ignored SIGTERM for 15 s; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  BW_PID[$n]=""
}

# Count of worker restarts in a bulwark log (crashes are reported, not hidden).
bw_crashes() { local c; c=$(grep -c 'worker died' "$WORK/bw-$1/serve.log" 2>/dev/null) || true; echo "${c:-0}"; }

# ------------------------------------------------------------------ nginx
# nginx_prepare NAME BODYFILE [CERTNAME]: one worker, access_log off, the
# same answer as bulwark's demo page (nginx_location.py: same body bytes,
# Content-Type and extra headers), keep-alive 300 s without a request cap
# (wrk would otherwise reconnect every 1000 requests), TLS 1.3 only, no
# session tickets and no session cache.
nginx_prepare() {
  local n="$1" body="$2" cert="${3:-}" d="$WORK/ngx-$1" pp pt
  rm -rf "$d"; mkdir -p "$d/logs" "$d/tmp" "$d/html"
  pp=$(pick_port); pt=$(pick_port)
  while [ "$pt" = "$pp" ]; do pt=$(pick_port); done
  NGX_PORT[$n.plain]=$pp; NGX_PORT[$n.tls]=$pt
  python3 "$FOUNDATION_DIR/nginx_location.py" "$body" "$d/html" >"$d/location.conf" || return 1
  local tls_server=""
  if [ -n "$cert" ]; then
    tls_server="
    server {
        listen 127.0.0.1:$pt ssl;
        ssl_certificate     $WORK/certs/$cert.crt;
        ssl_certificate_key $WORK/certs/$cert.key;
        ssl_protocols TLSv1.3;
        ssl_session_tickets off;
        ssl_session_cache off;
        ssl_conf_command NumTickets 0;  # 1.22 still sends a useless stateful ticket without it
        include $d/location.conf;
    }"
  fi
  cat >"$d/nginx.conf" <<EOF
# written by bench/foundation/common.sh
worker_processes 1;
worker_rlimit_nofile 65536;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    server_tokens off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    open_file_cache max=16;  # used only when the body had to be a file
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$pp;
        include $d/location.conf;
    }$tls_server
}
EOF
  nginx -t -q -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" || return 1
}

ngx_pid() {  # master pid if our instance NAME runs
  local d="$WORK/ngx-$1" pid
  [ -s "$d/logs/nginx.pid" ] || return 1
  pid=$(cat "$d/logs/nginx.pid")
  [ -d "/proc/$pid" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$d/nginx.conf" || return 1
  echo "$pid"
}

nginx_start() {
  local n="$1" d="$WORK/ngx-$1" i
  rm -f "$d/logs/nginx.pid"
  taskset -c "$SUT_CPU" nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" || return 1
  for i in $(seq 1 100); do ngx_pid "$n" >/dev/null && [ -n "$(children_of "$(ngx_pid "$n")")" ] && break; sleep 0.1; done
  ngx_pid "$n" >/dev/null || { log "nginx $n did not start"; cat "$d/logs/error.log" >&2; return 1; }
  STARTED_NGX="$STARTED_NGX $n"
  sleep 0.3
}

nginx_pids() { local m; m=$(ngx_pid "$1") || return 0; echo "$m" $(children_of "$m"); }
nginx_worker_pids() { local m; m=$(ngx_pid "$1") || return 0; children_of "$m"; }

nginx_stop() {
  local n="$1" pid i
  pid=$(ngx_pid "$n") || return 0
  kill -QUIT "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  if [ -d "/proc/$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; sleep 0.5; fi
}

stop_all() {
  local n
  for n in $STARTED_BW; do bw_stop "$n"; done
  for n in $STARTED_NGX; do nginx_stop "$n"; done
  STARTED_BW=""; STARTED_NGX=""
}

# Generic: pids / worker pids of server KIND (bw|ngx) instance NAME.
srv_pids() { if [ "$1" = bw ]; then bw_pids "$2"; else nginx_pids "$2"; fi; }
srv_worker_pids() { if [ "$1" = bw ]; then bw_worker_pids "$2"; else nginx_worker_pids "$2"; fi; }
srv_port() { if [ "$1" = bw ]; then echo "${BW_PORT[$2.$3]}"; else echo "${NGX_PORT[$2.$3]}"; fi; }

# Runs "$@" (a load generator that lasts SECONDS) in the background, its
# output to OUTFILE, and
# prints the CPU % the server's workers used in the window [+1 s,
# SECONDS-1 s]: the edges are ramp-up and teardown, and a worker that dies
# when the load ends cannot spoil the sample.
cpu_during() {  # SECONDS KIND NAME OUTFILE cmd...
  local d="$1" k="$2" n="$3" out="$4" pid pids t0 t1 w; shift 4
  "$@" >"$out" 2>&1 &
  pid=$!
  w=$(awk -v d="$d" 'BEGIN{ w = d - 2; if (w < 1) w = d * 0.6; printf "%.2f", w }')
  sleep "$(awk -v d="$d" -v w="$w" 'BEGIN{ printf "%.2f", (d - w) / 2 }')"
  pids=$(srv_worker_pids "$k" "$n")
  t0=$(cpu_ticks $pids)
  sleep "$w"
  t1=$(cpu_ticks $pids)
  wait "$pid" || true
  awk -v a="$t0" -v b="$t1" -v w="$w" -v hz="$(getconf CLK_TCK)" 'BEGIN{ if (b < a) print "n/a"; else printf "%.0f", (b-a)/hz/w*100 }'
}

# After a load run against bulwark: give a worker that died time to be
# restarted (the supervisor waits 1 s) so the next run does not measure
# the gap.
declare -A BW_DEATHS_SEEN
bw_settle() {  # NAME
  local i c
  c=$(bw_crashes "$1")
  [ "$c" != "${BW_DEATHS_SEEN[$1]:-0}" ] || return 0
  BW_DEATHS_SEEN[$1]=$c
  sleep 1.5
  for i in $(seq 1 50); do [ -n "$(children_of "${BW_PID[$1]}")" ] && break; sleep 0.1; done
  sleep 0.3
}

# ------------------------------------------------------------------ wrk
to_ms() {  # wrk latency token (812.00us, 1.23ms, 1.02s) -> ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); printf "%.3f", v/1000}
                       else if (v ~ /ms$/) {sub(/ms$/,"",v); printf "%.3f", v}
                       else if (v ~ /m$/) {sub(/m$/,"",v); printf "%.3f", v*60000}
                       else if (v ~ /s$/) {sub(/s$/,"",v); printf "%.3f", v*1000}
                       else printf "%s", v }'
}
# wrk_parse FILE -> "rps p50ms p99ms errors"
wrk_parse() {
  local f="$1" rps p50 p99 err
  rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$f")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$f")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$f")")
  err=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(",","");n+=$4+$6+$8+$10} END{print n+0}' "$f")
  echo "${rps:-0} ${p50:-nan} ${p99:-nan} ${err:-0}"
}

# Rate per second of server CPU time: RATE CPU% -> RATE * 100 / CPU%.
per_cpu() { awk -v r="$1" -v c="$2" 'BEGIN{ if (c + 0 > 0) printf "%.0f", r * 100 / c; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
