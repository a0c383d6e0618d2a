#!/bin/sh
# Real clients against the SIEM's listeners (siem_testd, the service
# stand-alone): logger (util-linux) over UDP and TCP, and three rsyslogd
# instances of our own — each with its own config, pid file and work
# directory on loopback ports, never the system's rsyslog — forwarding
# with omrelp (RELP), omfwd over TCP (traditional and octet-counted
# framing) and omfwd over TLS with the ossl driver verifying bulwark's
# certificate. Every message must arrive and be stored exactly once.
#
# Usage: rsyslog_test.sh path/to/siem_testd
# Exit 77 (skipped) when rsyslogd, its RELP/ossl modules or logger are
# missing (apt-get install rsyslog rsyslog-relp rsyslog-openssl).
set -u
TESTD=$1
SRC=${BW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MODDIR=/usr/lib/x86_64-linux-gnu/rsyslog
command -v rsyslogd >/dev/null 2>&1 || { echo "no rsyslogd"; exit 77; }
command -v logger >/dev/null 2>&1 || { echo "no logger"; exit 77; }
for m in omrelp lmnsd_ossl imudp; do
	[ -e "$MODDIR/$m.so" ] || { echo "no rsyslog module $m"; exit 77; }
done

T=$(mktemp -d /tmp/bw-siem-rsyslog-XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*"; [ -f "$T/testd.log" ] && cat "$T/testd.log"; exit 1; }

freeport() { /usr/bin/python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

mkdir -p "$T/data"
"$TESTD" serve "$T/data" "$T/ports" "$SRC/tests/siem/rules" 2>"$T/testd.log" &
TESTD_PID=$!
PIDS="$TESTD_PID"
for i in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.1; done
[ -s "$T/ports" ] || fail "siem_testd did not start"
eval "$(cat "$T/ports")"   # tcp= tls= udp= relp= ca=
echo "bulwark: tcp=$tcp tls=$tls udp=$udp relp=$relp"

N=50

# ---- logger straight to bulwark
for i in $(seq $N); do
	logger --udp --server 127.0.0.1 --port "$udp" --rfc5424 -t bwtest "bwtestloggerudp $i"
done
for i in $(seq $N); do
	logger --tcp --server 127.0.0.1 --port "$tcp" --rfc5424 --octet-count -t bwtest "bwtestloggertcp $i"
done
# a login failure, parsed as sshd would write it
logger --tcp --server 127.0.0.1 --port "$tcp" --rfc3164 -t 'sshd[4242]' \
	"Failed password for invalid user bwtestuser from 198.51.100.99 port 50022 ssh2"

# ---- rsyslogd instances: udp in -> forward to bulwark
start_rsyslog() { # name action-config
	name=$1; shift
	in=$(freeport)
	mkdir -p "$T/$name"
	cat >"$T/$name/rsyslog.conf" <<EOF
global(workDirectory="$T/$name" $GLOBAL_EXTRA)
module(load="imudp")
$MODULES
input(type="imudp" address="127.0.0.1" port="$in")
$*
EOF
	rsyslogd -n -f "$T/$name/rsyslog.conf" -i "$T/$name/pid" -M "$MODDIR" \
		>"$T/$name/out.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "in_$name=$in"
}

GLOBAL_EXTRA="" MODULES='module(load="omrelp")' \
	start_rsyslog relp "action(type=\"omrelp\" target=\"127.0.0.1\" port=\"$relp\")"
GLOBAL_EXTRA="" MODULES="" \
	start_rsyslog tcp "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"$tcp\" protocol=\"tcp\" TCP_Framing=\"traditional\")
action(type=\"omfwd\" target=\"127.0.0.1\" port=\"$tcp\" protocol=\"tcp\" TCP_Framing=\"octet-counted\")"
GLOBAL_EXTRA="DefaultNetstreamDriver=\"ossl\" DefaultNetstreamDriverCAFile=\"$ca\"" MODULES="" \
	start_rsyslog tls "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"$tls\" protocol=\"tcp\" StreamDriver=\"ossl\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" StreamDriverPermittedPeers=\"localhost\")"
sleep 1
for i in $(seq $N); do
	logger --udp --server 127.0.0.1 --port "$in_relp" -t bwtest "bwtestrelp $i"
	logger --udp --server 127.0.0.1 --port "$in_tcp" -t bwtest "bwtestrstcp $i"
	logger --udp --server 127.0.0.1 --port "$in_tls" -t bwtest "bwtestrstls $i"
done

count() { "$TESTD" count "$T/data" "$1"; }
want() { # query expected
	for i in $(seq 150); do
		n=$(count "$1")
		[ "$n" = "$2" ] && { echo "ok: $1 = $n"; return 0; }
		[ "$n" -gt "$2" ] 2>/dev/null && fail "$1: $n stored, want $2 (duplicates)"
		sleep 0.2
	done
	fail "$1: $n stored, want $2"
}
want bwtestloggerudp $N
want bwtestloggertcp $N
want bwtestrelp $N
want bwtestrstcp $((2 * N))
want bwtestrstls $N
want "user.name:bwtestuser event.outcome:failure source.ip:198.51.100.99" 1

# stop rsyslog first (RELP acks all came back), then bulwark: flushes
for p in $PIDS; do [ "$p" = "$TESTD_PID" ] || kill "$p"; done
kill "$TESTD_PID"
wait "$TESTD_PID" || fail "siem_testd exited with an error"
cat "$T/testd.log"
grep -q "refused_udp 0" "$T/testd.log" || fail "UDP datagrams refused"
# after a clean stop the counts hold
want bwtestrelp $N
echo "PASS"
