#!/bin/sh
# Real ACME clients against bulwark's ACME server: lego, certbot and uacme
# each register, obtain a certificate with http-01 on loopback, renew it
# and revoke it (a second revocation is refused with alreadyRevoked); lego
# also registers with an external account binding. uacme trusts only the
# system store, so it runs in a private mount namespace (unshare -m) with a
# bundle that adds the test CA bind-mounted over the system one. Every
# certificate is checked with `openssl verify` against the CA's root.
#
# Against a running daemon (the lead wires the listener):
#   ACME_DIRECTORY   https://HOST:PORT/acme/{tenant}/directory
#   ACME_CA_BUNDLE   PEM file the clients trust for the ACME server's TLS
#   ACME_ROOT        PEM root of the issuing CA (for openssl verify)
#   ACME_HTTP_PORT   the port the server's http-01 validator connects to on
#                    127.0.0.1 (the clients' standalone servers listen there)
#   ACME_DOMAIN      a domain the tenant's policy allows (names below it)
#   ACME_EAB_DIRECTORY, ACME_EAB_KID, ACME_EAB_HMAC   optional EAB run
# Without ACME_DIRECTORY the script starts tests/pki/acme_testd (path in
# ACME_TESTD or as $1), which prints all of the above.
#
# Exit 0 all good, 1 a failure, 77 skipped (no lego/certbot installed).
set -eu

if ! command -v lego >/dev/null 2>&1 || ! command -v certbot >/dev/null 2>&1; then
	echo "acme_certbot: lego and certbot are needed (apt-get install lego certbot); skipped"
	exit 77
fi

WORK=$(mktemp -d /tmp/bw-acme-rc-XXXXXX)
TESTD_PID=
cleanup() {
	if [ -n "$TESTD_PID" ]; then
		kill "$TESTD_PID" 2>/dev/null || true
		wait "$TESTD_PID" 2>/dev/null || true
	fi
	if [ "${ACME_KEEP:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fail() {
	echo "acme_certbot: FAIL: $*" >&2
	if grep -qs "invalid basic constraints" "$WORK"/*.log; then
		echo "acme_certbot: Go's x509 refuses the CA certificate: its basicConstraints" \
			"cA BOOLEAN is encoded 0x01, DER requires 0xFF (src/pki/pki_cert.c and" \
			"pki_ca.c set bc->ca = 1; it must be 0xFF)" >&2
	fi
	exit 1
}

if [ -z "${ACME_DIRECTORY:-}" ]; then
	TESTD=${ACME_TESTD:-${1:-}}
	[ -x "$TESTD" ] || fail "set ACME_DIRECTORY or give the acme_testd binary"
	ACME_HTTP_PORT=$(free_port)
	mkdir -p "$WORK/server"
	"$TESTD" "$WORK/server" "$WORK/server/ports" "$ACME_HTTP_PORT" \
		>"$WORK/server/log" 2>&1 &
	TESTD_PID=$!
	i=0
	while [ ! -s "$WORK/server/ports" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { cat "$WORK/server/log"; fail "acme_testd did not start"; }
		kill -0 "$TESTD_PID" 2>/dev/null || { cat "$WORK/server/log"; fail "acme_testd died"; }
		sleep 0.1
	done
	line=$(cat "$WORK/server/ports")
	val() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	PORT=$(val port)
	ACME_DIRECTORY="https://127.0.0.1:$PORT/acme/platform/directory"
	ACME_CA_BUNDLE=$(val ca)
	ACME_ROOT=$(val root)
	ACME_DOMAIN=acme-test.example
	ACME_EAB_DIRECTORY="https://127.0.0.1:$PORT/acme/eab/directory"
	ACME_EAB_KID=$(val eab_kid)
	ACME_EAB_HMAC=$(val eab_hmac)
fi
: "${ACME_CA_BUNDLE:?}" "${ACME_ROOT:?}" "${ACME_HTTP_PORT:?}" "${ACME_DOMAIN:?}"
echo "acme_certbot: directory $ACME_DIRECTORY, http-01 on port $ACME_HTTP_PORT"

# verify CERT CHAIN: the leaf chains to the root through the chain file
verify() {
	openssl verify -CAfile "$ACME_ROOT" -untrusted "$2" -purpose sslserver "$1" \
		>"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out"; fail "openssl verify $1"; }
}

# ------------------------------------------------------------------ lego
LEGO="lego --server $ACME_DIRECTORY --email ops@$ACME_DOMAIN --accept-tos
	--path $WORK/lego --http --http.port :$ACME_HTTP_PORT --domains a.$ACME_DOMAIN"
export LEGO_CA_CERTIFICATES="$ACME_CA_BUNDLE"
CRT="$WORK/lego/certificates/a.$ACME_DOMAIN.crt"
ISS="$WORK/lego/certificates/a.$ACME_DOMAIN.issuer.crt"
$LEGO --domains "b.$ACME_DOMAIN" run >"$WORK/lego-run.log" 2>&1 || { cat "$WORK/lego-run.log"; fail "lego run"; }
verify "$CRT" "$ISS"
openssl x509 -in "$CRT" -noout -ext subjectAltName | grep -q "DNS:b.$ACME_DOMAIN" ||
	fail "lego certificate lacks b.$ACME_DOMAIN"
S1=$(openssl x509 -in "$CRT" -noout -serial)
$LEGO --domains "b.$ACME_DOMAIN" renew --days 100000 --no-random-sleep >"$WORK/lego-renew.log" 2>&1 ||
	{ cat "$WORK/lego-renew.log"; fail "lego renew"; }
verify "$CRT" "$ISS"
S2=$(openssl x509 -in "$CRT" -noout -serial)
[ "$S1" != "$S2" ] || fail "lego renew kept the old certificate"
$LEGO revoke --reason 4 >"$WORK/lego-revoke.log" 2>&1 || { cat "$WORK/lego-revoke.log"; fail "lego revoke"; }
grep -qi "revoked" "$WORK/lego-revoke.log" || fail "lego revoke said nothing"
echo "acme_certbot: lego obtained, renewed and revoked"

# lego with an external account binding
if [ -n "${ACME_EAB_DIRECTORY:-}" ]; then
	lego --server "$ACME_EAB_DIRECTORY" --email ops@"$ACME_DOMAIN" --accept-tos \
		--path "$WORK/lego-eab" --eab --kid "$ACME_EAB_KID" --hmac "$ACME_EAB_HMAC" \
		--http --http.port ":$ACME_HTTP_PORT" --domains "e.$ACME_DOMAIN" run \
		>"$WORK/lego-eab.log" 2>&1 || { cat "$WORK/lego-eab.log"; fail "lego with EAB"; }
	# without the binding the same directory refuses to register
	if lego --server "$ACME_EAB_DIRECTORY" --email ops@"$ACME_DOMAIN" --accept-tos \
		--path "$WORK/lego-noeab" --http --http.port ":$ACME_HTTP_PORT" \
		--domains "f.$ACME_DOMAIN" run >"$WORK/lego-noeab.log" 2>&1; then
		fail "the EAB directory accepted an account without a binding"
	fi
	grep -q "externalAccountRequired\|requires External Account Binding" "$WORK/lego-noeab.log" ||
		{ cat "$WORK/lego-noeab.log"; fail "no externalAccountRequired problem"; }
	echo "acme_certbot: lego registered with EAB; refused without"
fi

# ------------------------------------------------------------------ certbot
export REQUESTS_CA_BUNDLE="$ACME_CA_BUNDLE"
CB="--config-dir $WORK/cb/config --work-dir $WORK/cb/work --logs-dir $WORK/cb/logs
	--non-interactive"
certbot certonly --standalone --http-01-port "$ACME_HTTP_PORT" --server "$ACME_DIRECTORY" \
	$CB --agree-tos -m "ops@$ACME_DOMAIN" --no-eff-email -d "c.$ACME_DOMAIN" \
	-d "d.$ACME_DOMAIN" >"$WORK/cb-run.log" 2>&1 || { cat "$WORK/cb-run.log"; fail "certbot certonly"; }
LIVE="$WORK/cb/config/live/c.$ACME_DOMAIN"
verify "$LIVE/cert.pem" "$LIVE/chain.pem"
S1=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
certbot renew --force-renewal --no-random-sleep-on-renew $CB >"$WORK/cb-renew.log" 2>&1 ||
	{ cat "$WORK/cb-renew.log"; fail "certbot renew"; }
verify "$LIVE/cert.pem" "$LIVE/chain.pem"
S2=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
[ "$S1" != "$S2" ] || fail "certbot renew kept the old certificate"
certbot revoke --server "$ACME_DIRECTORY" --cert-name "c.$ACME_DOMAIN" --reason keycompromise \
	--no-delete-after-revoke $CB >"$WORK/cb-revoke.log" 2>&1 ||
	{ cat "$WORK/cb-revoke.log"; fail "certbot revoke"; }
# revoking twice is refused with the ACME alreadyRevoked problem
if certbot revoke --server "$ACME_DIRECTORY" --cert-name "c.$ACME_DOMAIN" \
	--no-delete-after-revoke $CB >"$WORK/cb-revoke2.log" 2>&1; then
	fail "a second revocation was accepted"
fi
grep -q "alreadyRevoked\|already revoked" "$WORK/cb-revoke2.log" "$WORK/cb/logs/letsencrypt.log" ||
	fail "no alreadyRevoked problem"
echo "acme_certbot: certbot obtained, renewed and revoked"

# a name outside the policy is refused with rejectedIdentifier
if certbot certonly --standalone --http-01-port "$ACME_HTTP_PORT" --server "$ACME_DIRECTORY" \
	$CB --agree-tos -m "ops@$ACME_DOMAIN" -d "outside.invalid-policy.example" \
	>"$WORK/cb-bad.log" 2>&1; then
	fail "a name outside the policy was issued"
fi
grep -q "rejectedIdentifier" "$WORK/cb-bad.log" "$WORK/cb/logs/letsencrypt.log" ||
	fail "no rejectedIdentifier problem"

# ------------------------------------------------------------------ uacme
# uacme trusts only the system store (/etc/ssl/certs/ca-certificates.crt),
# so it runs in a private mount namespace where that file is a bundle with
# the test CA added: the machine's trust is never touched. http-01 goes
# through its hook, which writes the key authorization into a web root a
# python http.server serves on the validation port.
if command -v uacme >/dev/null 2>&1 && unshare -m true 2>/dev/null; then
	U="$WORK/uacme"
	mkdir -p "$U/conf" "$U/www/.well-known/acme-challenge"
	cat /etc/ssl/certs/ca-certificates.crt "$ACME_CA_BUNDLE" >"$U/bundle.pem" 2>/dev/null ||
		cat "$ACME_CA_BUNDLE" >"$U/bundle.pem"
	cat >"$U/hook" <<HOOK
#!/bin/sh
# uacme hook: METHOD TYPE IDENT TOKEN KEY_AUTH
[ "\$2" = http-01 ] || exit 1
f="$U/www/.well-known/acme-challenge/\$4"
case "\$1" in
begin) printf '%s' "\$5" >"\$f" ;;
done|failed) rm -f "\$f" ;;
esac
HOOK
	chmod +x "$U/hook"
	/usr/bin/python3 -m http.server "$ACME_HTTP_PORT" --bind 127.0.0.1 --directory "$U/www" \
		>"$U/web.log" 2>&1 &
	WEB_PID=$!
	uac() { # uac ARGS... inside the private namespace
		unshare -m sh -c 'mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift &&
			exec uacme -v -y -c "$0" -a "$ACME_DIRECTORY" "$@"' "$U/conf" "$U/bundle.pem" "$@"
	}
	export ACME_DIRECTORY
	ufail() { kill "$WEB_PID" 2>/dev/null; wait "$WEB_PID" 2>/dev/null; fail "$@"; }
	sleep 0.3
	uac new "ops@$ACME_DOMAIN" >"$U/new.log" 2>&1 || { cat "$U/new.log"; ufail "uacme new"; }
	uac -h "$U/hook" -t EC issue "u.$ACME_DOMAIN" >"$U/issue.log" 2>&1 ||
		{ cat "$U/issue.log"; ufail "uacme issue"; }
	UC="$U/conf/u.$ACME_DOMAIN/cert.pem"
	awk 'n>0; /END CERT/{n=1}' "$UC" >"$U/chain.pem"
	verify "$UC" "$U/chain.pem"
	S1=$(openssl x509 -in "$UC" -noout -serial)
	uac -h "$U/hook" -t EC -f issue "u.$ACME_DOMAIN" >"$U/renew.log" 2>&1 ||
		{ cat "$U/renew.log"; ufail "uacme renew (issue -f)"; }
	verify "$UC" "$U/chain.pem"
	S2=$(openssl x509 -in "$UC" -noout -serial)
	[ "$S1" != "$S2" ] || ufail "uacme renew kept the old certificate"
	uac -r 4 revoke "$UC" >"$U/revoke.log" 2>&1 || { cat "$U/revoke.log"; ufail "uacme revoke"; }
	# uacme renames what it revoked; a second revocation of that file is
	# refused by the server with alreadyRevoked
	RV=$(ls "$U/conf/u.$ACME_DOMAIN"/revoked-*.pem 2>/dev/null | head -1)
	[ -n "$RV" ] || ufail "uacme did not keep the revoked certificate"
	cp "$RV" "$U/again.pem"
	if uac revoke "$U/again.pem" >"$U/revoke2.log" 2>&1; then
		ufail "uacme: a second revocation was accepted"
	fi
	grep -q "alreadyRevoked" "$U/revoke2.log" || { cat "$U/revoke2.log"; ufail "uacme: no alreadyRevoked"; }
	kill "$WEB_PID" 2>/dev/null; wait "$WEB_PID" 2>/dev/null || true
	echo "acme_certbot: uacme obtained, renewed and revoked (private mount namespace trust)"
else
	echo "acme_certbot: uacme or unshare -m unavailable: uacme part NOT run (apt-get install uacme)" >&2
	[ "${ACME_REQUIRE_UACME:-}" = "" ] || fail "uacme required"
fi
echo "acme_certbot: ok"
