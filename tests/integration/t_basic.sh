#!/usr/bin/env bash
# The daemon as a new user meets it: TLS 1.3 with the local CA, health,
# readiness, metrics, the admin API's bearer token, keep-alive, the gateway
# demo page, owner-only data files, the unprivileged worker, the pid lock.
. "$(dirname "$0")/lib.sh"
bw_start || exit 1

v=$(acurl -v "https://localhost:$ADMIN/healthz" 2>&1)
check "healthz over TLS 1.3" grep -q 'SSL connection using TLSv1.3' <<<"$v"
check "healthz body" grep -q '{"status":"ok"}' <<<"$v"
check "readyz is 200" [ "$(status_of "https://localhost:$ADMIN/readyz")" = 200 ]
m=$(acurl "https://localhost:$ADMIN/metrics")
check "metrics end with # EOF" grep -q '^# EOF$' <<<"$m"
check "metrics count responses" grep -q 'bulwark_http_responses_total{class="2xx"}' <<<"$m"
check "metrics have a latency histogram" grep -q 'bulwark_http_request_duration_seconds_bucket{le="+Inf"}' <<<"$m"

check "API without token is 401" [ "$(status_of "https://localhost:$ADMIN/api/v1/status")" = 401 ]
h=$(acurl -D - -o /dev/null "https://localhost:$ADMIN/api/v1/status")
check "401 carries WWW-Authenticate" grep -qi '^www-authenticate: Bearer' <<<"$h"
check "API with a wrong token is 401" [ "$(status_of -H "Authorization: Bearer bwt_wrong" "https://localhost:$ADMIN/api/v1/status")" = 401 ]
s=$(acurl -H "Authorization: Bearer $TOKEN" "https://localhost:$ADMIN/api/v1/status")
check "API with the bootstrap token answers status" grep -q '"version":"0.1.0"' <<<"$s"
check "unknown route is 404" [ "$(status_of -H "Authorization: Bearer $TOKEN" "https://localhost:$ADMIN/api/v1/nope")" = 404 ]
check "wrong method is 405" [ "$(status_of -X DELETE -H "Authorization: Bearer $TOKEN" "https://localhost:$ADMIN/api/v1/status")" = 405 ]

# An audited state change answers only after its record is durable.
h=$(acurl -D - -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
	-d '{"message":"integration"}' "https://localhost:$ADMIN/api/v1/audit/annotations")
check "annotation is 201 with an audit sequence number" grep -qi '^x-audit-seq: [0-9]' <<<"$h"
check "annotation is in the audit log" grep -q '"message":"integration"' "$D/audit.log"
check "denied state change is audited too" \
	[ "$(status_of -X POST -d '{"message":"x"}' "https://localhost:$ADMIN/api/v1/audit/annotations")" = 401 ]
sleep 0.2
check "denied attempt recorded as denied" grep -q '"outcome":"denied"' "$D/audit.log"
check "no token in the audit log" bash -c "! grep -q '$TOKEN' '$D/audit.log'"
check "no token in the daemon log" bash -c "! grep -q '$TOKEN' '$D.log'"

v=$(acurl -v "https://localhost:$ADMIN/healthz" "https://localhost:$ADMIN/readyz" 2>&1)
check "keep-alive reuses the connection" grep -qE 'Re-using existing connection|Reusing existing connection' <<<"$v"
check "gateway demo page" grep -q 'bulwark demo app' <<<"$(acurl "https://localhost:$GW/")"
check "plaintext listener answers" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PLAIN/healthz")" = 200 ]

check "data dir is 0700" [ "$(stat -c %a "$D")" = 700 ]
check "bootstrap token file is 0600" [ "$(stat -c %a "$D/bootstrap-token")" = 600 ]
check "CA key is 0600" [ "$(stat -c %a "$D/tls/ca.key")" = 600 ]
if [ "$(id -u)" = 0 ]; then
  uid=$(awk '/^Uid:/{print $2}' "/proc/$WORKER/status")
  check "worker runs as the bulwark user" [ "$uid" = "$(id -u bulwark)" ]
  check "supervisor keeps root" [ "$(awk '/^Uid:/{print $2}' "/proc/$SUP/status")" = 0 ]
  check "worker cannot gain privileges" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$WORKER/status"
fi
out=$("$BIN" serve -c "$D/bulwark.yaml" 2>&1)
check "a second serve says already running" grep -q "already running (pid $SUP)" <<<"$out"

check "clean stop exits 0" bw_stop
check "pid file removed on stop" [ ! -e "$D/run/bulwark.pid" ]
check "audit log verifies after stop" "$BIN" audit verify "$D/audit.log"
finish
