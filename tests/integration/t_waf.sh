#!/usr/bin/env bash
# The default configuration `bulwark init` writes (what `make run` serves):
# the demo application behind the OWASP CRS from Debian's package and the
# bot defences. Attacks of several classes are refused with 403, benign
# requests pass, and each block is an event the SIEM stores.
. "$(dirname "$0")/lib.sh"
[ -f /usr/share/modsecurity-crs/owasp-crs.load ] || { echo "modsecurity-crs missing"; exit 1; }
bw_init || exit 1
sed -i 's/port: 9443/port: 0/; s/port: 8443/port: 0/' "$D/bulwark.yaml"
check "the default config checks OK" "$BIN" config check "$D/bulwark.yaml"
bw_launch || exit 1
G="https://localhost:$GW"
code() { status_of "$@"; }
check "benign GET passes" [ "$(code "$G/?q=hello%20world")" = 200 ]
check "benign form POST passes" [ "$(code -d 'name=bob&comment=nice+day' "$G/api/echo")" = 200 ]
check "SQL injection refused" [ "$(code "$G/?id=1%27%20OR%20%271%27=%271")" = 403 ]
check "UNION SELECT refused" [ "$(code "$G/?id=1%20UNION%20SELECT%20password%20FROM%20users")" = 403 ]
check "XSS refused" [ "$(code "$G/?q=%3Cscript%3Ealert(1)%3C/script%3E")" = 403 ]
check "path traversal refused" [ "$(code "$G/?file=../../etc/passwd")" = 403 ]
check "remote command execution refused" [ "$(code "$G/?cmd=;cat%20/etc/passwd")" = 403 ]
check "SQL injection in a POST body refused" [ "$(code -d "user=admin'--&pw=x" "$G/api/echo")" = 403 ]
check "attack tool user agent refused" [ "$(code -A 'sqlmap/1.7.2#stable' "$G/")" = 403 ]
A=(-H "Authorization: Bearer $TOKEN")
waf_in_siem() {
  grep -qi 'waf' <<<"$(acurl "${A[@]}" "https://localhost:$ADMIN/api/v1/siem/events?q=waf")"
}
check "WAF blocks reach the SIEM as events" wait_until 60 waf_in_siem
check "clean stop" bw_stop
finish
