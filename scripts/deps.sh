#!/usr/bin/env bash
# Installs the Debian packages bulwark builds, runs and tests with. As root it
# runs apt-get; otherwise it prints the exact command to run. Quiet when
# everything is already there.
set -euo pipefail

BUILD="build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libssl-dev libsqlite3-dev sqlite3 libyaml-dev libcurl4-openssl-dev libcmocka-dev
  libargon2-dev libseccomp-dev libpcre2-dev libnghttp2-dev libxml2-dev
  libhyperscan-dev libqrencode-dev libp11-kit-dev modsecurity-crs libmaxminddb-dev"
# Peers and real clients the tests and benchmarks drive.
TEST="curl openssl python3 bsdutils nginx-light wrk nghttp2-client
  rsyslog rsyslog-relp rsyslog-openssl libmaxmind-db-writer-perl mmdb-bin certbot lego procps psmisc iproute2 libjansson-dev
  libmodsecurity-dev g++ sqlmap slowhttptest uacme opensc softhsm2 libengine-pkcs11-openssl
  chromium libnss3-tools oathtool python3-websockets python3-jwt python3-cryptography faketime
  libnginx-mod-http-modsecurity valgrind"

want="$BUILD $TEST"
# node and npm run the npm-packaged real clients (openid-client, playwright):
# a machine may already carry them from another packaging of Node.js, whose
# nodejs package bundles npm and conflicts with Debian's npm.
command -v node >/dev/null 2>&1 || want="$want nodejs"
command -v npm >/dev/null 2>&1 || want="$want npm"
[ "${1:-}" = "--build-only" ] && want="$BUILD"

missing=()
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "bulwark needs these Debian packages; install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# nginx-light starts a server on port 80 when installed; tests run their own.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/bulwark-apt.log 2>&1; then
  apt-get update -q >/tmp/bulwark-apt.log 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/bulwark-apt.log 2>&1 ||
    { tail -20 /tmp/bulwark-apt.log >&2; exit 1; }
fi
# Servers installed as test peers must not keep running as system services:
# the tests start their own instances on loopback ports.
for svc in nginx rsyslog; do
  if printf '%s\n' "${missing[@]}" | grep -q "^$svc"; then
    (service "$svc" stop || true) >/dev/null 2>&1
  fi
done
exit 0
