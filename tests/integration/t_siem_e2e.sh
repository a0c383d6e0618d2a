#!/usr/bin/env bash
# Brute force and impossible travel end to end, from real login attempts
# against bulwark's own login: the sign-in page (/auth/platform/login, the
# form the OIDC authorization endpoint sends browsers to, driven like a
# browser with a cookie jar and its CSRF token) for the brute force, the
# REST login (POST /api/v1/iam/tenants/platform/login) for the travel.
# Identity emits an authentication event per attempt on the event bus, the
# SIEM stores it, GeoIP labels it, the shipped Sigma rules and the travel
# check raise alerts, read back through GET /api/v1/siem/alerts.
#
# Where the logins come from: the admin listener has no trusted-proxy
# support (X-Forwarded-For is not believed), so the client address is the
# TCP peer. Every 127.0.0.0/8 address is local on Linux, so curl
# --interface 127.0.0.2 / 127.0.0.3 makes real connections from two
# distinct addresses, and the test's GeoIP database (built with Debian's
# libmaxmind-db-writer-perl by tests/siem/geo/make_mmdb.pl) places them in
# Paris and San Francisco. 127.0.0.1 stays unknown.
#
# Window edges run on the settable clock (POST /api/v1/test/clock, allowed
# by testing.clock_control in lib.sh's config): nothing sleeps.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
command -v perl >/dev/null && perl -MMaxMind::DB::Writer::Tree -e1 2>/dev/null ||
  { echo "FAIL: libmaxmind-db-writer-perl missing (make deps)"; exit 1; }
GEO=$(mktemp /tmp/bwit-geo.XXXXXX.mmdb)
perl "$ROOT/tests/siem/geo/make_mmdb.pl" "$GEO" || { echo "FAIL: test GeoIP database"; exit 1; }
chmod 644 "$GEO" # the worker reads it after dropping to the bulwark user
trap 'rm -f "$GEO" "${JAR:-}"; bw_cleanup' EXIT

bw_start "siem:
  rules: [\"$ROOT/tests/siem/rules\"]
  geoip: {database: \"$GEO\", window: 2h, max_speed_kmh: 1000}
  alerts: {dedup: 0s}" || exit 1
U="https://localhost:$ADMIN/api/v1"
A=(-H "Authorization: Bearer $TOKEN")
J=(-H "Content-Type: application/json")
jget() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }
clock() { acurl "${A[@]}" "${J[@]}" -d "{\"advance_s\":$1}" "$U/test/clock" >/dev/null; }
# page_login FROM_IP USER PASSWORD — one sign-in through the login page
# from that source address, as a browser does it (form with the CSRF
# token from the page's cookie); prints the HTTP status.
JAR=$(mktemp /tmp/bwit-jar.XXXXXX)
P="http://localhost:$PLAIN/auth/platform"
page_login() {
  curl -sS --max-time 20 --interface "$1" -b "$JAR" -c "$JAR" -o /dev/null "$P/login"
  local c; c=$(awk '$6=="__Host-bw-csrf"{print $7}' "$JAR")
  curl -sS --max-time 20 --interface "$1" -b "$JAR" -c "$JAR" -o /dev/null -w '%{http_code}' \
    -d "csrf=$c" --data-urlencode "username=$2" --data-urlencode "password=$3" "$P/login"
}
# login FROM_IP USER PASSWORD — one REST login attempt from that source
# address; prints the answer.
login() {
  acurl --interface "$1" "${J[@]}" -d "{\"username\":\"$2\",\"password\":\"$3\"}" \
    "$U/iam/tenants/platform/login"
}
# alerts KIND RULE_SUBSTRING — how many alerts of that kind whose rule or
# title contains the text (fetch_alerts keeps the whole list in $AL).
fetch_alerts() { AL=$(acurl "${A[@]}" "$U/siem/alerts?limit=1000"); }
count_alerts() {
  "$PY" -c '
import json, sys
a = json.loads(sys.argv[1])["alerts"]
print(sum(1 for x in a if x["kind"] == sys.argv[2] and
          (sys.argv[3] in x["rule"] or sys.argv[3] in x["title"])))' "$AL" "$1" "$2"
}
alerts() { fetch_alerts; count_alerts "$@"; }
alerts_at_least() { fetch_alerts; [ "$(count_alerts "$1" "$2")" -ge "$3" ]; }
# events QUERY — how many stored events match QUERY (siem search syntax)
events() {
  acurl "${A[@]}" -G --data-urlencode "q=$1" --data-urlencode "limit=1000" "$U/siem/events" |
    "$PY" -c 'import json,sys;print(len(json.load(sys.stdin)["events"]))'
}
events_at_least() { [ "$(events "$1")" -ge "$2" ]; }

PWM="mallory's victim passphrase $RANDOM$RANDOM"
PWD_="frequent flyer miles $RANDOM$RANDOM"
for u in "erin:$PWM" "dave:$PWD_"; do
  r=$(acurl "${A[@]}" "${J[@]}" -d "{\"name\":\"${u%%:*}\",\"password\":\"${u#*:}\"}" \
    "$U/iam/tenants/platform/users")
  check "user ${u%%:*} created" grep -q '"id"' <<<"$r"
done

# ---- brute force: bulwark_login_bruteforce.yml, >= 10 failures for one
# account from one address within 5 minutes.
BF="Brute force against the bulwark login"
# The sign-in page may not be served by this build yet (identity's pages
# are wired by the server): then the guesses go to the REST login, which
# runs the same iam_login and emits the same event. Said, not skipped.
if [ "$(curl -sS -o /dev/null -w '%{http_code}' "$P/login")" = 404 ]; then
  echo "note: /auth/platform/login is not served by this build; guessing through the REST login"
  page_login() {
    acurl --interface "$1" "${J[@]}" -o /dev/null -w '%{http_code}' \
      -d "{\"username\":\"$2\",\"password\":\"$3\"}" "$U/iam/tenants/platform/login"
  }
fi
codes=""
for i in 1 2 3 4 5 6 7 8 9; do codes="$codes $(page_login 127.0.0.2 erin "wrong guess $i")"; done
check "the wrong passwords are refused ($codes)" bash -c "! grep -q 200 <<<'$codes' && grep -q 401 <<<'$codes'"
check "failed logins reach the SIEM with their source address" \
  wait_until 100 events_at_least 'event.action:login event.outcome:failure source.ip:127.0.0.2 user.name:erin' 9
check "nine failures raise no brute-force alert" [ "$(alerts correlation "$BF")" = 0 ]
# The window's edge: the tenth failure comes 5 min 1 s after the first
# nine, so the window holds one failure, not ten.
clock 301
page_login 127.0.0.2 erin "wrong guess 10" >/dev/null
check "tenth failure stored" \
  wait_until 100 events_at_least 'event.action:login event.outcome:failure source.ip:127.0.0.2 user.name:erin' 10
check "failures spread over more than the window raise nothing" [ "$(alerts correlation "$BF")" = 0 ]
# Nine more inside the window: ten within five minutes.
for i in 11 12 13 14 15 16 17 18 19; do page_login 127.0.0.2 erin "wrong guess $i" >/dev/null; done
check "ten failures within five minutes raise the brute-force alert" \
  wait_until 100 alerts_at_least correlation "$BF" 1
check "the alert names the address and the account" \
  "$PY" -c '
import json, sys
a = [x for x in json.loads(sys.argv[1])["alerts"] if x["title"] == sys.argv[2]]
g = a[0]["group"]
sys.exit(0 if "127.0.0.2" in g and "erin" in g and a[0]["level"] == "high" else 1)' "$AL" "$BF"
# Another address guessing the same account is another group.
page_login 127.0.0.3 erin "a single guess" >/dev/null
check "a failure from another address is stored" \
  wait_until 100 events_at_least 'event.action:login event.outcome:failure source.ip:127.0.0.3 user.name:erin' 1
check "and is not counted with the first address's" [ "$(alerts correlation "$BF")" = 1 ]

# ---- impossible travel: dave logs in from Paris, then from San Francisco
# (8,950 km) 30 minutes later: 17,900 km/h, over max_speed_kmh 1000.
r=$(login 127.0.0.2 dave "$PWD_")
check "dave logs in from 127.0.0.2 (Paris)" grep -q session_token <<<"$r"
check "the login event carries GeoIP labels" \
  wait_until 100 events_at_least 'user.name:dave source.geo.city_name:Paris' 1
# Edge: past geoip.window (2 h) the previous login is not compared.
clock 7201
r=$(login 127.0.0.3 dave "$PWD_")
check "dave logs in from 127.0.0.3 (San Francisco) 2 h later" grep -q session_token <<<"$r"
check "stored" wait_until 100 events_at_least 'user.name:dave source.geo.city_name:san*' 1
check "a login past the window is not compared (no travel alert)" [ "$(alerts travel travel)" = 0 ]
clock 1800
r=$(login 127.0.0.2 dave "$PWD_")
check "dave logs in from Paris again 30 min later" grep -q session_token <<<"$r"
check "impossible travel raises an alert" wait_until 100 alerts_at_least travel travel 1
check "the travel alert explains itself (places, distance, speed)" \
  "$PY" -c '
import json, sys
a = [x for x in json.loads(sys.argv[1])["alerts"] if x["kind"] == "travel"][0]
c = a["context"]
ok = (a["group"] == "dave" and c["from"]["city"] == "San Francisco" and
      c["to"]["city"] == "Paris" and 8500 < c["distance_km"] < 9500 and
      c["speed_kmh"] > 1000 and "km/h" in c["explanation"])
sys.exit(0 if ok else 1)' "$AL"
check "the Sigma value_count rule sees two countries within the hour" \
  wait_until 100 alerts_at_least correlation "two countries" 1

# The alert leads to a case with the events in its timeline.
id=$("$PY" -c 'import json,sys;print([x for x in json.loads(sys.argv[1])["alerts"] if x["kind"]=="travel"][0]["id"])' "$AL")
r=$(acurl "${A[@]}" "${J[@]}" -d "{\"title\":\"dave: impossible travel\",\"severity\":\"high\",\"alerts\":[$id]}" "$U/siem/cases")
cid=$(jget id <<<"$r")
check "a case is opened from the travel alert" [ -n "$cid" ]
check "clean stop" bw_stop
finish
