#!/usr/bin/env bash
# bench/waf/run.sh [BUILD_DIR] [engine-seconds-per-case]
#
# Two WAF benchmarks in one run:
#
# 1. Engine only (waf_bench): bulwark's SecLang engine against
#    libmodsecurity3 in-process, same base configuration, Debian's CRS 3.3.4
#    PL1, one thread, four request types; requests per CPU-second.
#
# 2. Behind a proxy, side by side, one worker each, same run:
#      nginx (proxy_pass, no WAF)
#      nginx + libnginx-mod-http-modsecurity + CRS 3.3.4 PL1
#      bulwark gateway (gwbench: the gateway alone on one loop thread)
#      bulwark gateway + the same CRS 3.3.4 PL1 (route waf: block)
#    all proxying to one static nginx upstream (`return 200 "ok\n"`).
#    Both WAFs load the same base file (waf-base.conf below: SecRuleEngine
#    On, SecRequestBodyAccess On, SecResponseBodyAccess Off, JSON/XML body
#    processors by Content-Type, SecAuditEngine RelevantOnly with a JSON
#    audit log — benign traffic writes nothing), then crs-setup.conf,
#    the two exclusion files and rules/*.conf from Debian's package,
#    unmodified. Requests (wrk, keep-alive): simple GET, GET with 10 benign
#    arguments, 2 KB urlencoded POST, 4 KB JSON POST. Every nginx runs with
#    its own -p/-c (Debian's package enables ModSecurity, DetectionOnly, for
#    every nginx that reads /etc/nginx: ours never do).
#
# Environment: BW_BENCH_QUICK=1 (2 s runs), DURATION (s, default 8),
# CONNS (default 32). Ports are picked at run time on 127.0.0.1; every
# process is stopped by the PID we started.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD=${1:-$ROOT/build}
SECS=${2:-2}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
QUICK="${BW_BENCH_QUICK:-0}"
DURATION="${DURATION:-8}"; CONNS="${CONNS:-32}"
if [ "$QUICK" = 1 ]; then DURATION=2; SECS=1; fi

CRS_ETC=/etc/modsecurity/crs
CRS_RULES=/usr/share/modsecurity-crs/rules
MODSEC_SO=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so

# ------------------------------------------------------------ 1. engine
ninja -C "$BUILD" waf_bench gwbench >/dev/null
echo "### WAF engine only (in-process, one thread, requests per CPU-second)"
echo
"$BUILD/waf_bench" "$ROOT" "$SECS"
echo

# ------------------------------------------------------------ 2. proxies
for t in wrk nginx curl; do
  command -v "$t" >/dev/null || { echo "bench/waf: $t is not installed" >&2; exit 1; }
done
[ -f "$MODSEC_SO" ] || { echo "bench/waf: $MODSEC_SO missing (apt-get install libnginx-mod-http-modsecurity)" >&2; exit 1; }
[ -f "$CRS_ETC/crs-setup.conf" ] || { echo "bench/waf: modsecurity-crs missing" >&2; exit 1; }

WORK="$(mktemp -d /tmp/bw-wafbench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  sleep 0.3
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
chmod a+rx "$WORK"

pick_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench/waf: nothing listens on port $1" >&2
  return 1
}

NCPU=$(nproc)
if [ "$NCPU" -ge 4 ]; then SUT_CPU=0; AUX_CPU=1-$((NCPU - 1)); WRK_T=2
elif [ "$NCPU" -ge 2 ]; then SUT_CPU=0; AUX_CPU=1; WRK_T=1
else SUT_CPU=0; AUX_CPU=0; WRK_T=1; fi

# The base file both WAFs load first.
cat >"$WORK/waf-base.conf" <<EOF
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecRequestBodyJsonDepthLimit 512
SecArgumentsLimit 1000
SecPcreMatchLimit 1000000
SecPcreMatchLimitRecursion 1000000
SecResponseBodyAccess Off
SecArgumentSeparator &
SecCookieFormat 0
SecTmpDir $WORK/
SecDataDir $WORK/
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" \\
    "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
    "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" \\
    "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \\
    "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'"
SecAuditEngine RelevantOnly
SecAuditLogParts ABFHZ
SecAuditLogType Serial
SecAuditLogFormat JSON
EOF
# each engine gets its own audit file
for w in modsec bulwark; do
  cp "$WORK/waf-base.conf" "$WORK/base-$w.conf"
  echo "SecAuditLog $WORK/audit-$w.json" >>"$WORK/base-$w.conf"
  { echo "Include $WORK/base-$w.conf"
    echo "Include $CRS_ETC/crs-setup.conf"
    echo "Include $CRS_ETC/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
    echo "Include $CRS_RULES/*.conf"
    echo "Include $CRS_ETC/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf"
  } >"$WORK/crs-$w.conf"
done

nginx_start() {  # NAME CPU MAIN_EXTRA HTTP_BODY -> NGX_PID
  local n="$1" d="$WORK/ngx-$1"
  mkdir -p "$d/logs" "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
$3
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
  client_max_body_size 16m;
  client_body_buffer_size 128k;
$4
}
EOF
  taskset -c "$2" nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" &
  NGX_PID=$!
  PIDS+=("$NGX_PID")
}

UP_PORT=$(pick_port)
nginx_start upstream "$AUX_CPU" "" \
  "  server { listen 127.0.0.1:$UP_PORT; location / { return 200 \"ok\\n\"; } }"
wait_port "$UP_PORT"

proxy_block() {  # PORT EXTRA
  echo "  upstream app { server 127.0.0.1:$UP_PORT; keepalive 32; }
  server { listen 127.0.0.1:$1;
$2
    location / { proxy_pass http://app; proxy_http_version 1.1;
      proxy_set_header Connection \"\"; proxy_set_header Host \$host; } }"
}
declare -A PORT PID
PORT[nginx]=$(pick_port)
nginx_start plain "$SUT_CPU" "" "$(proxy_block "${PORT[nginx]}" "")"
PID[nginx]=$NGX_PID
PORT[nginx_modsec]=$(pick_port)
nginx_start modsec "$SUT_CPU" "load_module $MODSEC_SO;" \
  "$(proxy_block "${PORT[nginx_modsec]}" "    modsecurity on; modsecurity_rules_file $WORK/crs-modsec.conf;")"
PID[nginx_modsec]=$NGX_PID

gw_start() {  # NAME WAF(yes/no)
  local p; p=$(pick_port)
  {
    echo "gateway:"
    echo "  upstreams:"
    echo "    - { name: app, servers: [\"127.0.0.1:$UP_PORT\"], pool_idle: 32 }"
    echo "  routes:"
    if [ "$2" = yes ]; then
      echo "    - { name: all, path: /, upstream: app, waf: block }"
      echo "  waf:"
      echo "    rules: [\"$WORK/crs-bulwark.conf\"]"
    else
      echo "    - { name: all, path: /, upstream: app }"
    fi
  } >"$WORK/gw-$1.yaml"
  taskset -c "$SUT_CPU" "$BUILD/gwbench" "$WORK/gw-$1.yaml" "$p" \
    >"$WORK/gw-$1.out" 2>"$WORK/gw-$1.err" &
  PID[$1]=$!
  PIDS+=("${PID[$1]}")
  PORT[$1]=$p
}
gw_start bulwark no
gw_start bulwark_crs yes
for t in nginx nginx_modsec bulwark bulwark_crs; do wait_port "${PORT[$t]}"; done

# Request bodies: a 2 KB form of ordinary fields and a 4 KB JSON order.
python3 - "$WORK" <<'PY'
import json, sys, urllib.parse
w = sys.argv[1]
fields = [("first_name", "Jane"), ("last_name", "Doe"), ("email", "jane.doe@example.com"),
          ("phone", "+1 555 0100"), ("street", "42 Garden Lane"), ("city", "Springfield"),
          ("zip", "12345"), ("country", "US"), ("newsletter", "yes"), ("order_ref", "A-2024-000123")]
text = ("Please leave the parcel with the neighbour if nobody is home and ring twice "
        "because the bell is quiet. The blue jacket fits well, thanks for the quick delivery. ")
i = 0
while len(urllib.parse.urlencode(fields)) < 2048 - 80:
    fields.append((f"note_{i}", text[(i * 7) % 60:(i * 7) % 60 + 40].strip()))
    i += 1
open(f"{w}/form.txt", "w").write(urllib.parse.urlencode(fields)[:2048].rsplit("&", 1)[0])
items, k = [], 0
while True:
    items.append({"sku": f"SKU-{1000 + k}", "name": f"Cotton t-shirt model {k}", "color": "navy",
                  "size": "M", "qty": 1 + k % 3, "price": round(19.99 + k, 2), "gift": k % 2 == 0})
    doc = {"order": {"id": 987654, "currency": "EUR",
                     "customer": {"name": "Jane Doe", "email": "jane.doe@example.com",
                                  "address": {"street": "42 Garden Lane", "city": "Springfield",
                                              "zip": "12345", "country": "DE"}},
                     "items": items, "note": "Leave at the front door please"}}
    if len(json.dumps(doc)) > 4096:
        items.pop()
        break
    k += 1
open(f"{w}/order.json", "w").write(json.dumps(doc))
PY
for f in form:application/x-www-form-urlencoded order:application/json; do
  n=${f%%:*}; ct=${f#*:}
  ext=txt; [ "$n" = order ] && ext=json
  { echo "local f = io.open(\"$WORK/$n.$ext\", \"rb\"); wrk.body = f:read(\"*a\"); f:close()"
    echo 'wrk.method = "POST"'
    echo "wrk.headers[\"Content-Type\"] = \"$ct\""; } >"$WORK/$n.lua"
done

UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
HDRS=(-H "Host: localhost" -H "User-Agent: $UA" -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
      -H "Accept-Language: en-US,en;q=0.9" -H "Accept-Encoding: gzip, deflate")
SCEN=(get args10 form2k json4k)
declare -A SPATH SLUA SDESC
SPATH[get]='/index.html?q=hello'
SPATH[args10]='/search?q=blue+running+shoes&category=footwear&brand=acme&size=42&color=blue&sort=price_asc&page=2&per_page=24&lang=en&utm_source=newsletter'
SPATH[form2k]='/account/checkout'; SLUA[form2k]="$WORK/form.lua"
SPATH[json4k]='/api/v1/orders'; SLUA[json4k]="$WORK/order.lua"
SDESC[get]="GET /index.html?q=hello"; SDESC[args10]="GET with 10 benign arguments"
SDESC[form2k]="2 KB urlencoded POST"; SDESC[json4k]="4 KB JSON POST"

# Sanity: every target answers 200 to every request type, and neither WAF
# flags the benign requests (the audit logs stay empty).
for s in "${SCEN[@]}"; do
  for t in nginx nginx_modsec bulwark bulwark_crs; do
    url="http://127.0.0.1:${PORT[$t]}${SPATH[$s]}"
    case $s in
      form2k) c=$(curl -s -o /dev/null -w '%{http_code}' "${HDRS[@]}" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$WORK/form.txt" "$url");;
      json4k) c=$(curl -s -o /dev/null -w '%{http_code}' "${HDRS[@]}" -H 'Content-Type: application/json' --data-binary @"$WORK/order.json" "$url");;
      *) c=$(curl -s -o /dev/null -w '%{http_code}' "${HDRS[@]}" "$url");;
    esac
    [ "$c" = 200 ] || { echo "bench/waf: $t answered $c to $s" >&2; cat "$WORK"/gw-*.err "$WORK"/ngx-*/logs/error.log >&2; exit 1; }
  done
done
# and both WAFs do block an attack
for t in nginx_modsec bulwark_crs; do
  c=$(curl -s -o /dev/null -w '%{http_code}' "${HDRS[@]}" "http://127.0.0.1:${PORT[$t]}/?id=1%27%20OR%20%271%27=%271")
  [ "$c" = 403 ] || { echo "bench/waf: $t did not block an SQL injection ($c)" >&2; exit 1; }
done
sleep 0.5
for w in modsec bulwark; do
  n=$(grep -c '^' "$WORK/audit-$w.json" 2>/dev/null || true)
  [ "${n:-0}" = 1 ] || echo "bench/waf: note: $w audit log has ${n:-0} entries (1 expected: the attack)" >&2
done

cpu_ticks() {
  local t=0 p c f
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
declare -A RPS P50 P99 CPU
run_wrk() {  # TARGET SCEN
  local t=$1 s=$2 lua=() out c0 c1
  [ -n "${SLUA[$s]:-}" ] && lua=(-s "${SLUA[$s]}")
  c0=$(cpu_ticks "${PID[$t]}")
  out=$(taskset -c "$AUX_CPU" timeout $((DURATION + 20)) wrk -t"$WRK_T" -c"$CONNS" \
    -d"${DURATION}s" --timeout 10s --latency "${lua[@]}" "${HDRS[@]}" \
    "http://127.0.0.1:${PORT[$t]}${SPATH[$s]}" 2>&1) || true
  c1=$(cpu_ticks "${PID[$t]}")
  read -r RPS[$t.$s] P50[$t.$s] P99[$t.$s] CPU[$t.$s] < <(awk -v dt=$((c1 - c0)) -v hz="$HZ" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { total = $1 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { if (bad > 0) rps = 0; printf "%d %.2f %.2f %.0f\n", rps, p50, p99, (total > 0 ? dt * 1e6 / hz / total : 0) }' <<<"$out")
}
# warm-up, then one measured run per (request type, target), targets in
# alternating order per request type
for s in "${SCEN[@]}"; do for t in nginx nginx_modsec bulwark bulwark_crs; do
  DURATION=1 run_wrk "$t" "$s"; done; done
i=0
for s in "${SCEN[@]}"; do
  if [ $((i % 2)) = 0 ]; then order=(nginx nginx_modsec bulwark bulwark_crs)
  else order=(bulwark_crs bulwark nginx_modsec nginx); fi
  for t in "${order[@]}"; do run_wrk "$t" "$s"; done
  i=$((i + 1))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "### WAF behind a proxy (1 worker each, wrk -t$WRK_T -c$CONNS -d${DURATION}s, keep-alive)"
echo
echo "Both WAFs: CRS 3.3.4 from Debian's package, PL1, anomaly scoring; SecRuleEngine On,"
echo "SecRequestBodyAccess On, SecResponseBodyAccess Off, JSON/XML body processors by"
echo "Content-Type, SecAuditEngine RelevantOnly (JSON; nothing written for these requests)."
echo "CPUs: $NCPU (proxies on $SUT_CPU, upstream and wrk on $AUX_CPU). req/s (p50 / p99 ms)."
echo
echo "| request | nginx | nginx + ModSecurity | bulwark | bulwark + CRS | bulwark+CRS / nginx+ModSec | bulwark+CRS / nginx | bulwark / nginx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for s in "${SCEN[@]}"; do
  cell() { echo "${RPS[$1.$s]} (${P50[$1.$s]} / ${P99[$1.$s]})"; }
  echo "| ${SDESC[$s]} | $(cell nginx) | $(cell nginx_modsec) | $(cell bulwark) | $(cell bulwark_crs) | $(ratio "${RPS[bulwark_crs.$s]}" "${RPS[nginx_modsec.$s]}")× | $(ratio "${RPS[bulwark_crs.$s]}" "${RPS[nginx.$s]}")× | $(ratio "${RPS[bulwark.$s]}" "${RPS[nginx.$s]}")× |"
done
echo
echo "The same runs by the proxy worker's CPU time per request (µs; user+sys of the"
echo "worker / requests): the figure that does not depend on what else the machine"
echo "was doing. Ratios are requests per CPU-second."
echo
echo "| request | nginx | nginx + ModSecurity | bulwark | bulwark + CRS | bulwark+CRS / nginx+ModSec | bulwark+CRS / nginx | bulwark / nginx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for s in "${SCEN[@]}"; do
  echo "| ${SDESC[$s]} | ${CPU[nginx.$s]} | ${CPU[nginx_modsec.$s]} | ${CPU[bulwark.$s]} | ${CPU[bulwark_crs.$s]} | $(ratio "${CPU[nginx_modsec.$s]}" "${CPU[bulwark_crs.$s]}")× | $(ratio "${CPU[nginx.$s]}" "${CPU[bulwark_crs.$s]}")× | $(ratio "${CPU[nginx.$s]}" "${CPU[bulwark.$s]}")× |"
done
