#!/usr/bin/env bash
# `make run`: the main job. Initialises ./var on first use (config, admin
# token, local CA), then runs bulwark in the foreground until Ctrl-C.
set -euo pipefail
bin=${1:-build/bulwark}
cd "$(dirname "$0")/.."
dir=${BULWARK_DIR:-var}
conf="$dir/bulwark.yaml"

if [ -f "$dir/run/bulwark.pid" ] && pid=$(cat "$dir/run/bulwark.pid" 2>/dev/null) &&
   [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "bulwark is already running (pid $pid) with data in $dir; stop it with: kill $pid"
  exit 1
fi
if [ ! -f "$conf" ]; then
  "$bin" init --dir "$dir"
  echo
fi

# Print where to go once the daemon has written its ports file.
(
  for _ in $(seq 1 100); do
    [ -f "$dir/run/ports.json" ] && break
    sleep 0.1
  done
  [ -f "$dir/run/ports.json" ] || exit 0
  admin=$(sed -n 's/.*"admin":{"port":\([0-9]*\).*/\1/p' "$dir/run/ports.json")
  gw=$(sed -n 's/.*"gateway":{"port":\([0-9]*\).*/\1/p' "$dir/run/ports.json")
  cat <<MSG

  bulwark is running.
    gateway   https://localhost:${gw}/
    admin API https://localhost:${admin}/api/v1/status   (Authorization: Bearer \$(cat $dir/bootstrap-token))
    health    https://localhost:${admin}/healthz    metrics https://localhost:${admin}/metrics
    sign in   https://localhost:${admin}/auth/platform/login   (admin, one-time password in $dir/admin-password)
    try       curl --cacert $dir/tls/ca.crt "https://localhost:${gw}/?q=%27%20OR%201=1--"   (blocked by the WAF)
  Trust the local CA with:  curl --cacert $dir/tls/ca.crt https://localhost:${admin}/healthz
  Audit log: $dir/audit.log  (verify: build/bulwark audit verify $dir/audit.log)
  Stop with Ctrl-C.

MSG
) &
exec "$bin" serve -c "$conf"
