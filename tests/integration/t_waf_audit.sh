#!/usr/bin/env bash
# WAF attack logging and false-positive management in a running daemon:
# the CRS's JSON audit log (SecAuditEngine RelevantOnly / SecAuditLog in the
# rule files, ModSecurity v3's SecAuditLogFormat JSON shape) gets one entry
# per blocked or flagged request and none for benign ones; the explain
# endpoint answers "why was request X blocked" by its X-Request-Id — rules,
# variable, transformations, score, anomaly totals — and refuses callers
# without waf.rule.manage; every block is also a SIEM event.
. "$(dirname "$0")/lib.sh"
[ -f /usr/share/modsecurity-crs/owasp-crs.load ] || { echo "modsecurity-crs missing"; exit 1; }
bw_init || exit 1
sed -i 's/port: 9443/port: 0/; s/port: 8443/port: 0/' "$D/bulwark.yaml"
AUD="$D/waf-audit.json"
cat >>"$D/waf-base.conf" <<CONF
SecAuditEngine RelevantOnly
SecAuditLogRelevantStatus "^(?:5|4(?!04))"
SecAuditLogParts ABFHZ
SecAuditLogType Serial
SecAuditLogFormat JSON
SecAuditLog $AUD
CONF
bw_launch || exit 1
G="https://localhost:$GW"
A=(-H "Authorization: Bearer $TOKEN")

check "benign GET passes" [ "$(status_of "$G/?q=hello%20world")" = 200 ]
check "benign POST passes" [ "$(status_of -d 'name=bob&comment=see+you+at+5' "$G/api/echo")" = 200 ]
# The attack: its request id comes back in X-Request-Id.
hdr=$(acurl -s -D - -o /dev/null "$G/?id=1%27%20UNION%20SELECT%20password%20FROM%20users--")
RID=$(awk 'tolower($1)=="x-request-id:"{print $2}' <<<"$hdr" | tr -d '\r')
check "the attack is refused with 403" grep -q '^HTTP/[0-9.]* 403' <<<"$hdr"
check "the 403 carries a request id" [ -n "$RID" ]
check "an XSS attempt is refused" [ "$(status_of "$G/?q=%3Cscript%3Ealert(1)%3C/script%3E")" = 403 ]

audit_lines() { [ -s "$AUD" ] && [ "$(wc -l <"$AUD")" -ge "$1" ]; }
check "the JSON audit log gets the two blocked requests" wait_until 50 audit_lines 2
check "no audit entry for the benign requests (RelevantOnly)" [ "$(wc -l <"$AUD")" -eq 2 ]
check "audit entries have libmodsecurity3's JSON shape" "$PY" - "$AUD" "$RID" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rid = sys.argv[2]
e = [l for l in lines if l["transaction"]["unique_id"] == rid]
assert len(e) == 1, [l["transaction"]["unique_id"] for l in lines]
t = e[0]["transaction"]
for k in ("client_ip", "time_stamp", "server_id", "client_port", "host_ip",
          "host_port", "unique_id", "request", "response", "producer", "messages"):
    assert k in t, k
assert t["client_ip"] == "127.0.0.1"
assert isinstance(t["client_port"], int) and t["client_port"] > 0
r = t["request"]
assert r["method"] == "GET" and "UNION" in r["uri"] and isinstance(r["headers"], dict), r
assert "body" not in r, "parts without C: no request body"
assert r["http_version"] in (1.1, 2.0, 2), r["http_version"]
assert t["response"]["http_code"] == 403, t["response"]
p = t["producer"]
for k in ("modsecurity", "connector", "secrules_engine", "components"):
    assert k in p, k
assert p["secrules_engine"] == "Enabled"
ids = set()
for m in t["messages"]:
    d = m["details"]
    for k in ("match", "reference", "ruleId", "file", "lineNumber", "data",
              "severity", "ver", "rev", "tags", "maturity", "accuracy"):
        assert k in d, k
    assert isinstance(d["ruleId"], str) and isinstance(d["tags"], list)
    ids.add(d["ruleId"])
assert "949110" in ids, ids               # inbound anomaly score exceeded
assert ids & {"942100", "942190"}, ids     # the SQL injection rules
PY

acurl "${A[@]}" -o "$D/explain.json" "https://localhost:$ADMIN/api/v1/waf/explain/$RID"
check "explain says why the request was blocked" "$PY" - "$RID" "$D/explain.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
assert d["request_id"] == sys.argv[1], d
assert d["verdict"] == "deny" and d["status"] == 403 and d["decided_by"] == 949110, d
assert d["mode"] == "block" and d["route"] == "demo"
assert d["scores"]["anomaly_score"] >= 5 and d["scores"]["inbound_anomaly_score_threshold"] == 5
assert d["scores"]["sql_injection_score"] > 0
ms = {m["rule_id"]: m for m in d["matches"]}
sqli = [m for m in d["matches"] if 942000 <= m["rule_id"] < 943000]
assert sqli, ms.keys()
m = sqli[0]
assert m["variable"].startswith("ARGS:id"), m
assert "UNION" in m["value"].upper() and m["transformations"], m
assert m["score"] == 5 and m["severity"] == 2 and "attack-sqli" in m["tags"], m
assert m["file"].endswith(".conf") and m["line"] > 0
assert ms[949110]["disruptive"] is True
# the per-rule scores add up to the inbound total
assert sum(x["score"] for x in d["matches"]) == d["scores"]["anomaly_score"], d
PY
check "explain list shows the recent detections" grep -q "$RID" <<<"$(acurl "${A[@]}" "https://localhost:$ADMIN/api/v1/waf/explain")"
check "stats count the written entries and no drops" "$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["audit_log"]["written"] >= 2 and d["audit_log"]["dropped"] == 0, d
assert d["audit_log"]["not_relevant"] >= 2 and d["explain"]["entries"] >= 2, d
' "$(acurl "${A[@]}" "https://localhost:$ADMIN/api/v1/waf/stats")"
check "explain of an unknown id is 404" [ "$(status_of "${A[@]}" "https://localhost:$ADMIN/api/v1/waf/explain/nosuchrequest")" = 404 ]
check "explain without credentials is 401" [ "$(status_of "https://localhost:$ADMIN/api/v1/waf/explain/$RID")" = 401 ]
waf_in_siem() {
  grep -q "$RID" <<<"$(acurl "${A[@]}" "https://localhost:$ADMIN/api/v1/siem/events?q=waf")"
}
check "the block is a SIEM event with the same request id" wait_until 60 waf_in_siem
check "clean stop" bw_stop
check "the audit log file is 0600" [ "$(stat -c %a "$AUD")" = 600 ]
finish
