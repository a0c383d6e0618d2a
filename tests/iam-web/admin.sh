# Sourced by the identity browser tests after lib.sh's bw_launch/bw_start:
# U (the API base), J (JSON header), json KEY (reads stdin), and
# admin_session, which signs in the platform administrator created by
# `bulwark init` (one-time password, forced change) and prints a session
# token for the admin API.
U="https://localhost:$ADMIN/api/v1"
J=(-H "Content-Type: application/json")
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }
admin_session() {
  local pw r
  pw=$(cat "$D/admin-password")
  r=$(acurl "${J[@]}" -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "$U/iam/tenants/platform/login")
  r=$(acurl "${J[@]}" -d "{\"challenge\":\"$(json challenge <<<"$r")\",\"new_password\":\"browser tests operator $RANDOM$RANDOM\"}" \
    "$U/iam/tenants/platform/login/password")
  json session_token <<<"$r"
}
