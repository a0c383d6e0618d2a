#!/usr/bin/env bash
# HTTP/2 through ALPN with real clients: curl --http2 for GET, audited POST
# and limits; h2load for many multiplexed streams; an HTTP/1.1-only
# listener stays on HTTP/1.1.
. "$(dirname "$0")/lib.sh"
bw_start "" "" "  - {name: h1only, kind: admin, port: 0, tls: true, http2: false}" || exit 1
H1=$(port_of h1only)

out=$(acurl --http2 -w ' %{http_version}' "https://localhost:$ADMIN/healthz")
check "GET over HTTP/2" grep -q '{"status":"ok"} 2$' <<<"$out"
h=$(acurl --http2 -D - -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
  -d '{"message":"over h2"}' "https://localhost:$ADMIN/api/v1/audit/annotations")
check "audited POST over HTTP/2 answers 201 with its sequence" grep -qi '^x-audit-seq: ' <<<"$h"
check "HTTP/2 response has no connection header" bash -c "! grep -qi '^connection:' <<<'$h'"
st=$(acurl --http2 -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  --data-binary @<(head -c 100000 /dev/zero) "https://localhost:$ADMIN/api/v1/audit/annotations")
check "body over max_body is 413 over HTTP/2" [ "$st" = 413 ]
st=$(acurl --http2 -o /dev/null -w '%{http_code}' "https://localhost:$ADMIN/nope")
check "404 over HTTP/2" [ "$st" = 404 ]
st=$(acurl --http2 -I -o /dev/null -w '%{http_code}' "https://localhost:$GW/")
check "HEAD over HTTP/2" [ "$st" = 200 ]

out=$(h2load -n 3000 -c 6 -m 20 "https://127.0.0.1:$GW/" 2>&1)
check "h2load: 3000 multiplexed requests all succeed" grep -q '3000 succeeded, 0 failed, 0 errored' <<<"$out"
check "h2load negotiated h2" grep -q 'Application protocol: h2' <<<"$out"

out=$(acurl --http2 -w ' %{http_version}' "https://localhost:$H1/healthz")
check "http2: false keeps a listener on HTTP/1.1" grep -q '1.1$' <<<"$out"
m=$(acurl "https://localhost:$ADMIN/metrics")
check "HTTP/2 requests are counted" grep -qE 'bulwark_http_responses_total\{class="2xx"\} [0-9]{4}' <<<"$m"
check "clean stop" bw_stop
finish
