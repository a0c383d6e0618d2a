#!/usr/bin/env bash
# Foundation benchmarks: bulwark against nginx (Debian) in the same run.
#
#   bench/foundation/run.sh [--bulwark BIN] [--only http,memory,tls-handshake]
#                           [--quick] [--rounds N] [--duration S] [--conns N]
#                           [--out FILE] [--keep]
#
#   http           static-response throughput and latency, wrk -t2 -c64,
#                  HTTP and HTTPS (TLS 1.3) keep-alive
#   memory         idle RSS of each daemon, then memory per idle keep-alive
#                  connection (plaintext and TLS) with N held connections
#   tls-handshake  TLS 1.3 full handshakes per second, resumption off,
#                  ECDSA P-256 and RSA-2048 (the same certificate for both)
#
# Each measurement runs ROUNDS times (default 3) alternating which server
# goes first; the tables report the best round and list every round. The
# servers get one worker (bulwark: server.workers 1; nginx:
# worker_processes 1) pinned with taskset to CPU $SUT_CPU (default 1); the
# load generators run on CPU $AUX_CPU (default 0). Everything is loopback,
# every port is picked free at run time, every server and client stops by
# itself or is stopped by its recorded PID. Results (Markdown) go to stdout
# and to --out (default: WORK/results.md); logs stay in WORK
# (/tmp/bw-foundation-bench.*, removed unless --keep).
#
# Needs: wrk, nginx (nginx-light), openssl, curl, python3, taskset, a C
# compiler and libssl-dev (the two clients are built here).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

BW="$ROOT/build/bulwark"
ONLY="http,memory,tls-handshake"
ROUNDS=3; DURATION=10; WARMUP=2; CONNS=10000; HS_SECONDS=10; HS_THREADS=4
OUT=""; KEEP=0
SUT_CPU="${SUT_CPU:-1}"; AUX_CPU="${AUX_CPU:-0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bulwark) BW="$2"; shift 2;;
    --only) ONLY="$2"; shift 2;;
    --quick) ROUNDS=1; DURATION=3; WARMUP=1; CONNS=2000; HS_SECONDS=3; shift;;
    --rounds) ROUNDS="$2"; shift 2;;
    --duration) DURATION="$2"; HS_SECONDS="$2"; shift 2;;
    --conns) CONNS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    --keep) KEEP=1; shift;;
    -h|--help) sed -n '2,30p' "$0"; exit 0;;
    *) echo "bench/foundation/run.sh: unknown argument $1" >&2; exit 2;;
  esac
done
BW="$(cd "$(dirname "$BW")" && pwd)/$(basename "$BW")"
[ -x "$BW" ] || { echo "no bulwark binary at $BW (make build)" >&2; exit 1; }
for t in wrk nginx openssl curl python3 taskset cc; do
  command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then SUT_CPU=0; AUX_CPU=0; fi

# 10,000 idle connections need as many descriptors in the client and in
# each server (which inherit this limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/bw-foundation-bench.XXXXXX)
chmod 755 "$WORK"
[ -n "$OUT" ] || OUT="$WORK/results.md"
. "$HERE/common.sh"
cleanup() {
  stop_all
  if [ "$KEEP" = 0 ]; then
    [ "$OUT" = "$WORK/results.md" ] && cp "$OUT" "/tmp/bw-foundation-results.md" 2>/dev/null || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 \
 -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wundef -Wcast-align -Wnull-dereference \
 -Wimplicit-fallthrough"
cc $CFLAGS "$HERE/hsbench.c" -o "$WORK/hsbench" -lssl -lcrypto -lpthread
cc $CFLAGS "$HERE/idleconns.c" -o "$WORK/idleconns" -lssl -lcrypto -lpthread
cc $CFLAGS "$HERE/tlsmem.c" -o "$WORK/tlsmem" -lssl -lcrypto

emit() { printf '%s\n' "$*" | tee -a "$OUT"; }
want() { case ",$ONLY," in *",$1,"*) return 0;; *) return 1;; esac; }

CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
emit "# bulwark foundation benchmarks"
emit ""
emit "- date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) CPUs, $CPU_MODEL, $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
emit "- bulwark: $BW ($("$BW" version 2>/dev/null | head -1)); peer: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(openssl version | cut -d' ' -f1-2); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
emit "- servers pinned to CPU $SUT_CPU, load generators to CPU $AUX_CPU; rounds: $ROUNDS (best reported; all listed)"
emit "- load on the machine at start (1-min loadavg): $(cut -d' ' -f1 /proc/loadavg)"
emit ""

# Body bytes and head of bulwark's demo page, so nginx answers the same.
fetch_body() {  # $1 = bulwark instance; the head goes to body.html.head
  curl -sf -H 'Connection: close' -D "$WORK/body.html.head" \
    "http://127.0.0.1:${BW_PORT[$1.plain]}/" >"$WORK/body.html"
  [ -s "$WORK/body.html" ] || { log "could not fetch bulwark's demo page"; return 1; }
}

# ================================================================== http
# Targets: bw = bulwark as compared (access events off, like nginx's
# access_log off), ngx = nginx, bwae = bulwark with its default
# log.access_events: true (one event per request on the event bus), shown
# as an extra row so the cost of the default is visible.
t_kind() { case "$1" in ngx) echo ngx;; *) echo bw;; esac; }
t_name() { case "$1" in bwae) echo http-ae;; *) echo http;; esac; }
t_url() {  # TARGET PROTO
  local port; port=$(srv_port "$(t_kind "$1")" "$(t_name "$1")" "$2")
  if [ "$2" = plain ]; then echo "http://127.0.0.1:$port/"; else echo "https://127.0.0.1:$port/"; fi
}

bench_http() {
  log "== http: wrk -t2 -c64 -d${DURATION}s, $ROUNDS rounds"
  make_cert http ec
  bw_prepare http http; bw_start http
  bw_prepare http-ae http false true; bw_start http-ae
  fetch_body http
  nginx_prepare http "$WORK/body.html" http; nginx_start http
  local s proto r url f k n
  for s in bw ngx bwae; do for proto in plain tls; do
    url=$(t_url $s $proto)
    curl -sk --http1.1 -H 'Connection: close' -o "$WORK/check.$s.$proto" -w "$s $proto: HTTP %{http_code}, %{size_header} B head + %{size_download} B body\n" "$url" >&2
    cmp -s "$WORK/check.$s.$proto" "$WORK/body.html" || { log "$s $proto serves a different body"; return 1; }
  done; done
  declare -A RPS P50 P99 ERR CPU
  local order
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="bw ngx bwae"; else order="bwae ngx bw"; fi
    for proto in plain tls; do for s in $order; do
      k=$(t_kind $s); n=$(t_name $s); url=$(t_url $s $proto)
      taskset -c "$AUX_CPU" timeout $((WARMUP + 10)) wrk -t2 -c64 -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
      [ "$k" = bw ] && bw_settle "$n"
      f="$WORK/wrk.r$r.$s.$proto.txt"
      CPU[$r.$s.$proto]=$(cpu_during "$DURATION" "$k" "$n" "$f" taskset -c "$AUX_CPU" \
        timeout $((DURATION + 15)) wrk -t2 -c64 -d"${DURATION}s" --timeout 5s --latency "$url")
      [ "$k" = bw ] && bw_settle "$n"
      set -- $(wrk_parse "$f")
      RPS[$r.$s.$proto]=$1; P50[$r.$s.$proto]=$2; P99[$r.$s.$proto]=$3; ERR[$r.$s.$proto]=$4
      log "  round $r $s $proto: ${RPS[$r.$s.$proto]} req/s p50 ${P50[$r.$s.$proto]} ms p99 ${P99[$r.$s.$proto]} ms errors ${ERR[$r.$s.$proto]} server CPU ${CPU[$r.$s.$proto]}%"
    done; done
  done
  local crashes; crashes=$(( $(bw_crashes http) + $(bw_crashes http-ae) ))
  bw_stop http; bw_stop http-ae; nginx_stop http
  emit "## Static response throughput (wrk -t2 -c64 -d${DURATION}s, keep-alive, $(wc -c <"$WORK/body.html")-byte page)"
  emit ""
  emit "| protocol | bulwark req/s (server CPU) | p50 / p99 ms | nginx req/s (server CPU) | p50 / p99 ms | ratio | bulwark per server CPU-s | nginx per server CPU-s | ratio | goal |"
  emit "|---|---|---|---|---|---|---|---|---|---|"
  local rb rn pb pn label
  declare -A BEST
  for proto in plain tls; do
    for s in bw ngx bwae; do
      BEST[$s]=1
      for r in $(seq 1 "$ROUNDS"); do
        [ "${RPS[$r.$s.$proto]}" -gt "${RPS[${BEST[$s]}.$s.$proto]}" ] && BEST[$s]=$r
      done
    done
    rn=${BEST[ngx]}
    pn=$(per_cpu "${RPS[$rn.ngx.$proto]}" "${CPU[$rn.ngx.$proto]}")
    for s in bw bwae; do
      rb=${BEST[$s]}
      pb=$(per_cpu "${RPS[$rb.$s.$proto]}" "${CPU[$rb.$s.$proto]}")
      label=$([ $proto = plain ] && echo HTTP/1.1 || echo 'HTTPS (TLS 1.3)')
      [ $s = bwae ] && label="$label, bulwark with access events (default)"
      emit "| $label | ${RPS[$rb.$s.$proto]} (${CPU[$rb.$s.$proto]}%) | ${P50[$rb.$s.$proto]} / ${P99[$rb.$s.$proto]} | ${RPS[$rn.ngx.$proto]} (${CPU[$rn.ngx.$proto]}%) | ${P50[$rn.ngx.$proto]} / ${P99[$rn.ngx.$proto]} | $(ratio "${RPS[$rb.$s.$proto]}" "${RPS[$rn.ngx.$proto]}") | $pb | $pn | $(ratio "$pb" "$pn") | $([ $s = bw ] && echo '≥ 1.0' || echo '—') |"
    done
  done
  emit ""
  emit "Every round (req/s, server worker CPU %, errors; bulwark / nginx / bulwark with access events):"
  for r in $(seq 1 "$ROUNDS"); do
    emit "- round $r: HTTP ${RPS[$r.bw.plain]} (${CPU[$r.bw.plain]}%, ${ERR[$r.bw.plain]}) / ${RPS[$r.ngx.plain]} (${CPU[$r.ngx.plain]}%, ${ERR[$r.ngx.plain]}) / ${RPS[$r.bwae.plain]} (${CPU[$r.bwae.plain]}%, ${ERR[$r.bwae.plain]}); HTTPS ${RPS[$r.bw.tls]} (${CPU[$r.bw.tls]}%, ${ERR[$r.bw.tls]}) / ${RPS[$r.ngx.tls]} (${CPU[$r.ngx.tls]}%, ${ERR[$r.ngx.tls]}) / ${RPS[$r.bwae.tls]} (${CPU[$r.bwae.tls]}%, ${ERR[$r.bwae.tls]})"
  done
  [ "$crashes" = 0 ] || emit "- WARNING: the bulwark worker died $crashes time(s) during this benchmark (see serve.log)"
  emit ""
}

# ================================================================== memory
# hold_conns KIND NAME PROTO: prints "idle_rss_kb idle_pss_kb before_kb after_kb opened alive secs"
hold_conns() {
  local s="$1" n="$2" proto="$3" port tlsflag="" pids cf cpid i before after line opened alive idle ipss secs
  port=$(srv_port "$s" "$n" "$proto")
  [ "$proto" = tls ] && tlsflag="-s"
  sleep 1
  pids=$(srv_pids "$s" "$n")
  idle=$(rss_kb $pids); ipss=$(pss_kb $pids)
  local p; for p in $pids; do  # per process, for the report
    printf '%s/%s kB (%s threads) ' "$(rss_kb $p)" "$(pss_kb $p)" "$(ls "/proc/$p/task" 2>/dev/null | wc -l)"
  done >"$WORK/idle.$s.$proto.procs"
  # Warm-up: 100 connections opened, used once and closed, so one-time
  # allocations (first TLS session, buffers, tables) are not counted.
  taskset -c "$AUX_CPU" "$WORK/idleconns" -p "$port" -n 100 $tlsflag -w 0 >/dev/null
  sleep 0.5
  pids=$(srv_pids "$s" "$n")
  before=$(rss_kb $pids)
  cf="$WORK/idle.$s.$proto.out"
  taskset -c "$AUX_CPU" "$WORK/idleconns" -p "$port" -n "$CONNS" $tlsflag -w 600 >"$cf" 2>"$cf.err" &
  cpid=$!
  for i in $(seq 1 1800); do grep -q '^ready' "$cf" && break; [ -d "/proc/$cpid" ] || break; sleep 0.1; done
  sleep 1
  after=$(rss_kb $(srv_pids "$s" "$n"))
  kill -TERM "$cpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  line=$(grep '^ready' "$cf" || echo "ready n=0 seconds=0")
  opened=$(echo "$line" | sed 's/.*n=\([0-9]*\).*/\1/'); secs=$(echo "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
  alive=$(sed -n 's/^alive=\([0-9]*\).*/\1/p' "$cf"); alive=${alive:-0}
  [ -s "$cf.err" ] && log "  idleconns: $(head -3 "$cf.err")"
  echo "$idle $ipss $before $after $opened $alive $secs"
}

bench_memory() {
  log "== memory: idle RSS, then $CONNS idle keep-alive connections, $ROUNDS rounds"
  make_cert mem ec
  # The demo page body, for nginx.
  bw_prepare membody mem; bw_start membody; fetch_body membody; bw_stop membody
  declare -A IDLE IPSS PER ALIVE OPEN
  local r proto s order res crashes=0
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="bw ngx"; else order="ngx bw"; fi
    for proto in plain tls; do for s in $order; do
      # A fresh server for every measurement: memory freed by an earlier
      # test would otherwise be reused and hide the real cost.
      if [ $s = bw ]; then bw_prepare mem mem; bw_start mem
      else nginx_prepare mem "$WORK/body.html" mem; nginx_start mem; fi
      set -- $(hold_conns $s mem $proto)
      IDLE[$r.$s.$proto]=$1; IPSS[$r.$s.$proto]=$2
      PER[$r.$s.$proto]=$(awk -v b="$3" -v a="$4" -v n="$5" 'BEGIN{ if (n > 0) printf "%.0f", (a - b) * 1024 / n; else print "n/a" }')
      OPEN[$r.$s.$proto]=$5; ALIVE[$r.$s.$proto]=$6
      log "  round $r $s $proto: idle RSS $1 kB (PSS $2 kB); RSS $3 -> $4 kB with $5 connections ($6 alive at the end, opened in $7 s): ${PER[$r.$s.$proto]} B/connection"
      if [ $s = bw ]; then crashes=$((crashes + $(bw_crashes mem))); bw_stop mem; else nginx_stop mem; fi
    done; done
  done
  emit "## Memory"
  emit ""
  emit "Idle: RSS (and PSS) summed over all the daemon's processes (bulwark: supervisor and its children, the worker and the key process; nginx: master and worker, worker_connections 16384) one second after start. RSS counts shared libraries once per process; PSS splits them."
  emit "Per connection: (RSS after − RSS before) / N with N = $CONNS idle keep-alive connections held by bench/foundation/idleconns (each made one GET first; TLS: full TLS 1.3 handshake with ECDSA P-256), fresh server for every measurement."
  emit ""
  emit "| measure | bulwark | nginx | ratio | goal |"
  emit "|---|---|---|---|---|"
  local bi=1 ni=1 bp np
  for r in $(seq 1 "$ROUNDS"); do
    [ "${IDLE[$r.bw.plain]}" -lt "${IDLE[$bi.bw.plain]}" ] && bi=$r
    [ "${IDLE[$r.ngx.plain]}" -lt "${IDLE[$ni.ngx.plain]}" ] && ni=$r
  done
  emit "| idle RSS (PSS) | $(awk -v k="${IDLE[$bi.bw.plain]}" 'BEGIN{printf "%.1f MB", k/1024}') ($(awk -v k="${IPSS[$bi.bw.plain]}" 'BEGIN{printf "%.1f MB", k/1024}')) | $(awk -v k="${IDLE[$ni.ngx.plain]}" 'BEGIN{printf "%.1f MB", k/1024}') ($(awk -v k="${IPSS[$ni.ngx.plain]}" 'BEGIN{printf "%.1f MB", k/1024}')) | $(ratio "${IDLE[$bi.bw.plain]}" "${IDLE[$ni.ngx.plain]}") | < 40 MB |"
  for proto in plain tls; do
    bp=""; np=""
    for r in $(seq 1 "$ROUNDS"); do
      [ "${OPEN[$r.bw.$proto]}" = "$CONNS" ] && { [ -z "$bp" ] || [ "${PER[$r.bw.$proto]}" -lt "$bp" ]; } && bp=${PER[$r.bw.$proto]}
      [ "${OPEN[$r.ngx.$proto]}" = "$CONNS" ] && { [ -z "$np" ] || [ "${PER[$r.ngx.$proto]}" -lt "$np" ]; } && np=${PER[$r.ngx.$proto]}
    done
    emit "| per idle $([ $proto = plain ] && echo 'HTTP' || echo 'TLS 1.3') connection | ${bp:-n/a} B | ${np:-n/a} B | $(ratio "${bp:-0}" "${np:-0}") | $([ $proto = plain ] && echo '≤ 1.0' || echo '≤ 0.7') |"
  done
  emit ""
  emit "Every round (bytes per connection; connections opened/alive at the end):"
  for r in $(seq 1 "$ROUNDS"); do
    emit "- round $r: idle RSS bulwark ${IDLE[$r.bw.plain]} kB nginx ${IDLE[$r.ngx.plain]} kB; HTTP bulwark ${PER[$r.bw.plain]} (${OPEN[$r.bw.plain]}/${ALIVE[$r.bw.plain]}) nginx ${PER[$r.ngx.plain]} (${OPEN[$r.ngx.plain]}/${ALIVE[$r.ngx.plain]}); TLS bulwark ${PER[$r.bw.tls]} (${OPEN[$r.bw.tls]}/${ALIVE[$r.bw.tls]}) nginx ${PER[$r.ngx.tls]} (${OPEN[$r.ngx.tls]}/${ALIVE[$r.ngx.tls]})"
  done
  emit "- idle, per process (RSS/PSS; first the parent, then its children): bulwark $(cat "$WORK/idle.bw.plain.procs" 2>/dev/null); nginx $(cat "$WORK/idle.ngx.plain.procs" 2>/dev/null)"
  [ "$crashes" = 0 ] || emit "- WARNING: the bulwark worker died $crashes time(s) during this benchmark"
  # The floor under any OpenSSL-based server: what OpenSSL itself keeps
  # per idle server-side TLS 1.3 connection (bench/foundation/tlsmem).
  "$WORK/tlsmem" -n 2000 >"$WORK/tlsmem.txt" 2>&1 || true
  emit "- OpenSSL's own heap per idle server-side TLS 1.3 connection (tlsmem, same settings as bulwark): $(head -1 "$WORK/tlsmem.txt" | sed 's/.*: //'); largest sites: $(sed -n '3,5p' "$WORK/tlsmem.txt" | awk '{printf "%s%s B at %s", (NR>1?", ":""), $1, $3}')"
  emit ""
}

# ================================================================== tls-handshake
bench_handshake() {
  log "== tls-handshake: hsbench -t$HS_THREADS -d${HS_SECONDS}s, $ROUNDS rounds"
  make_cert hs-ec ec; make_cert hs-rsa rsa
  bw_prepare hsbody hs-ec; bw_start hsbody; fetch_body hsbody; bw_stop hsbody
  declare -A HS CPU ERRS
  HS_RESUMED=""
  local k s r order port f t0 t1 crashes=0
  for k in ec rsa; do
    bw_prepare hs-$k hs-$k false; bw_start hs-$k
    nginx_prepare hs-$k "$WORK/body.html" hs-$k; nginx_start hs-$k
    for s in bw ngx; do
      port=$(srv_port $s hs-$k tls)
      # Resumption must be impossible: no ticket may come back.
      # Resumption must be impossible: offer whatever session the first
      # connection left and check the second is not "Reused".
      rm -f "$WORK/sess.$s.$k"
      printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -servername localhost \
          -ign_eof -sess_out "$WORK/sess.$s.$k" >"$WORK/sess.$s.$k.1" 2>&1 || true
      if grep -q 'New Session Ticket' "$WORK/sess.$s.$k.1"; then
        log "  $s $k: the server sends a session ticket"
      fi
      if [ -s "$WORK/sess.$s.$k" ] && printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
           timeout 10 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -servername localhost \
             -ign_eof -sess_in "$WORK/sess.$s.$k" 2>&1 | grep -q '^Reused'; then
        HS_RESUMED="$HS_RESUMED $s/$k"
      fi
    done
    for r in $(seq 1 "$ROUNDS"); do
      if [ $((r % 2)) = 1 ]; then order="bw ngx"; else order="ngx bw"; fi
      for s in $order; do
        port=$(srv_port $s hs-$k tls)
        f="$WORK/hs.r$r.$s.$k.txt"
        CPU[$r.$s.$k]=$(cpu_during "$HS_SECONDS" $s hs-$k "$f" taskset -c "$AUX_CPU" \
          "$WORK/hsbench" -p "$port" -t "$HS_THREADS" -d "$HS_SECONDS")
        [ $s = bw ] && bw_settle hs-$k
        HS[$r.$s.$k]=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' "$f"); HS[$r.$s.$k]=${HS[$r.$s.$k]:-0}
        ERRS[$r.$s.$k]=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$f"); ERRS[$r.$s.$k]=${ERRS[$r.$s.$k]:-?}
        log "  round $r $s $k: ${HS[$r.$s.$k]} handshakes/s, server CPU ${CPU[$r.$s.$k]}%, errors ${ERRS[$r.$s.$k]}"
      done
    done
    crashes=$((crashes + $(bw_crashes hs-$k)))
    bw_stop hs-$k; nginx_stop hs-$k
  done
  emit "## TLS 1.3 full handshakes (resumption off: no tickets, no session cache)"
  emit ""
  emit "bench/foundation/hsbench, $HS_THREADS client threads on one core, ${HS_SECONDS}s: connect, full handshake (X25519), close_notify, close. The same self-signed certificate for both servers. \"per server CPU-second\" divides by the CPU time the server's worker used, which stays meaningful when the single-core client is the limit."
  emit ""
  emit "| certificate | bulwark hs/s (server CPU) | nginx hs/s (server CPU) | ratio | bulwark per server CPU-s | nginx per server CPU-s | ratio | goal |"
  emit "|---|---|---|---|---|---|---|---|"
  local rb rn pb pn
  for k in ec rsa; do
    rb=1; rn=1
    for r in $(seq 1 "$ROUNDS"); do
      [ "${HS[$r.bw.$k]}" -gt "${HS[$rb.bw.$k]}" ] && rb=$r
      [ "${HS[$r.ngx.$k]}" -gt "${HS[$rn.ngx.$k]}" ] && rn=$r
    done
    pb=$(per_cpu "${HS[$rb.bw.$k]}" "${CPU[$rb.bw.$k]}"); pn=$(per_cpu "${HS[$rn.ngx.$k]}" "${CPU[$rn.ngx.$k]}")
    emit "| $([ $k = ec ] && echo 'ECDSA P-256' || echo 'RSA-2048') | ${HS[$rb.bw.$k]} (${CPU[$rb.bw.$k]}%) | ${HS[$rn.ngx.$k]} (${CPU[$rn.ngx.$k]}%) | $(ratio "${HS[$rb.bw.$k]}" "${HS[$rn.ngx.$k]}") | $pb | $pn | $(ratio "$pb" "$pn") | ≥ 1.0 |"
  done
  emit ""
  if [ -n "$HS_RESUMED" ]; then emit "- WARNING: a session was resumed ($HS_RESUMED): these are not all full handshakes"; else emit "- checked: a second openssl s_client offering the first one's session was not resumed, on either server"; fi
  emit "Every round (handshakes/s, server CPU %, client errors):"
  for r in $(seq 1 "$ROUNDS"); do
    emit "- round $r: ECDSA bulwark ${HS[$r.bw.ec]} (${CPU[$r.bw.ec]}%, ${ERRS[$r.bw.ec]}) nginx ${HS[$r.ngx.ec]} (${CPU[$r.ngx.ec]}%, ${ERRS[$r.ngx.ec]}); RSA bulwark ${HS[$r.bw.rsa]} (${CPU[$r.bw.rsa]}%, ${ERRS[$r.bw.rsa]}) nginx ${HS[$r.ngx.rsa]} (${CPU[$r.ngx.rsa]}%, ${ERRS[$r.ngx.rsa]})"
  done
  [ "$crashes" = 0 ] || emit "- WARNING: the bulwark worker died $crashes time(s) during this benchmark"
  emit ""
}

want http && bench_http
want memory && bench_memory
want tls-handshake && bench_handshake
log "results: $OUT"
