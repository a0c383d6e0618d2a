#!/usr/bin/env bash
# The SIEM in a running daemon: syslog over UDP and TCP from util-linux's
# logger, sshd lines parsed and normalised, stored and searchable through
# the REST API, and bulwark's own events (admin API authentications) in
# the same store.
. "$(dirname "$0")/lib.sh"
command -v logger >/dev/null || { echo "logger missing"; exit 1; }
bw_start "" "" "  - {name: sysudp, kind: syslog_udp, port: 0}
  - {name: systcp, kind: syslog_tcp, port: 0}" || exit 1
UDP=$(port_of sysudp); TCP=$(port_of systcp)
A=(-H "Authorization: Bearer $TOKEN")
U="https://localhost:$ADMIN/api/v1/siem"

logger --udp -n 127.0.0.1 -P "$UDP" --rfc5424 -t sshd -p auth.info \
  "Failed password for invalid user mallory from 203.0.113.7 port 4242 ssh2"
logger --tcp -n 127.0.0.1 -P "$TCP" --rfc5424 -t sshd -p auth.info \
  "Accepted publickey for alice from 198.51.100.4 port 50000 ssh2: ED25519 SHA256:x"
# search QUERY PATTERN — the SIEM finds QUERY and the answer (kept in $r)
# contains PATTERN.
search() { r=$(acurl "${A[@]}" "$U/events?q=$1"); grep -q "$2" <<<"$r"; }
check "UDP syslog line stored and searchable" wait_until 50 search mallory 203.0.113.7
check "sshd failure normalised (authentication, failure)" \
  grep -q '"outcome":"failure"' <<<"$r"
check "TCP syslog line stored and searchable" wait_until 50 search alice 198.51.100.4
# Our own events reach the same store through the event bus.
acurl -o /dev/null -H "Authorization: Bearer wrong" "https://localhost:$ADMIN/api/v1/status"
check "bulwark's own authentication events are in the SIEM" \
  wait_until 60 search api-authenticate api-authenticate
m=$(acurl "https://localhost:$ADMIN/metrics")
check "SIEM counters in /metrics" grep -q 'siem' <<<"$m"
check "clean stop" bw_stop
finish
