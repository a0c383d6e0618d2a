#!/usr/bin/env bash
# Identity through the running daemon: the platform admin created by
# `bulwark init` logs in with its one-time password, must change it, gets a
# session whose platform-admin role opens the admin API; a user without a
# role is refused (403); wrong passwords and unknown users get the same
# answer; sessions are revoked on logout of all sessions. The bootstrap
# token works until the administrator sets a password of their own, then is
# refused (also after a restart); `bulwark iam recover-admin` restores access.
. "$(dirname "$0")/lib.sh"
bw_start || exit 1
U="https://localhost:$ADMIN/api/v1"
J=(-H "Content-Type: application/json")
PW=$(cat "$D/admin-password")
check "one-time admin password file is 0600" [ "$(stat -c %a "$D/admin-password")" = 600 ]
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }

check "bootstrap token works while the admin has its one-time password" \
  [ "$(status_of -H "Authorization: Bearer $TOKEN" "$U/status")" = 200 ]
r=$(acurl "${J[@]}" -d "{\"username\":\"admin\",\"password\":\"$PW\"}" "$U/iam/tenants/platform/login")
check "first login asks for a password change" grep -q '"password_change_required"' <<<"$r"
ch=$(json challenge <<<"$r")
NEW="correct horse battery staple $RANDOM"
r=$(acurl "${J[@]}" -d "{\"challenge\":\"$ch\",\"new_password\":\"$NEW\"}" "$U/iam/tenants/platform/login/password")
SESSION=$(json session_token <<<"$r")
check "password changed, session issued" [ -n "$SESSION" ]
check "session opens the admin API (platform-admin)" \
  [ "$(status_of -H "Authorization: Bearer $SESSION" "$U/status")" = 200 ]
r=$(acurl "${J[@]}" -d "{\"username\":\"admin\",\"password\":\"$PW\"}" "$U/iam/tenants/platform/login")
check "old one-time password no longer works" grep -q '"invalid_credentials"' <<<"$r"

# A second user with no role: authenticated but not authorised.
r=$(acurl "${J[@]}" -H "Authorization: Bearer $SESSION" \
  -d '{"name":"carol","password":"a long enough passphrase for her 12"}' "$U/iam/tenants/platform/users")
check "admin creates a user" grep -q '"id"' <<<"$r"
r=$(acurl "${J[@]}" -d '{"username":"carol","password":"a long enough passphrase for her 12"}' "$U/iam/tenants/platform/login")
CAROL=$(json session_token <<<"$r")
check "carol logs in" [ -n "$CAROL" ]
check "carol without a role gets 403" \
  [ "$(status_of -H "Authorization: Bearer $CAROL" "$U/status")" = 403 ]

# Same answer for a wrong password and an unknown user.
a=$(acurl "${J[@]}" -d '{"username":"carol","password":"wrong wrong wrong wrong"}' "$U/iam/tenants/platform/login")
b=$(acurl "${J[@]}" -d '{"username":"nobody","password":"wrong wrong wrong wrong"}' "$U/iam/tenants/platform/login")
norm() { sed 's/"request_id":"[^"]*"//'; }
check "wrong password and unknown user answer the same" [ "$(norm <<<"$a")" = "$(norm <<<"$b")" ]
check "login attempts are audited" grep -q '"action":"iam.login"' "$D/audit.log"
check "passwords never reach the audit log" bash -c "! grep -q 'wrong wrong' '$D/audit.log' && ! grep -q '$NEW' '$D/audit.log'"
check "passwords never reach the daemon log" bash -c "! grep -q 'wrong wrong' '$D.log'"

# The bootstrap token was retired by the administrator's own password.
check "bootstrap token refused once the admin set its password (401)" \
  [ "$(status_of -H "Authorization: Bearer $TOKEN" "$U/status")" = 401 ]
check "token files and the one-time password file are gone" \
  bash -c "[ ! -e '$D/bootstrap-token' ] && [ ! -e '$D/bootstrap-token.sha256' ] && [ ! -e '$D/admin-password' ]"
check "retirement is audited" grep -q '"action":"api.bootstrap_token.retire"' "$D/audit.log"
bw_stop
bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1"
check "after a restart the token stays retired" \
  [ "$(status_of -H "Authorization: Bearer $TOKEN" "$U/status")" = 401 ]
check "the admin's session still works after the restart" \
  [ "$(status_of -H "Authorization: Bearer $SESSION" "$U/status")" = 200 ]

# Recovery: a new one-time password (and, asked for, a new bootstrap token).
out=$("$BIN" iam recover-admin --dir "$D" --bootstrap-token 2>&1)
check "recover-admin succeeds" grep -q 'one-time password' <<<"$out"
check "recover-admin writes a 0600 one-time password file" [ "$(stat -c %a "$D/admin-password")" = 600 ]
PW2=$(cat "$D/admin-password")
check "recovery revoked the admin's sessions" \
  [ "$(status_of -H "Authorization: Bearer $SESSION" "$U/status")" = 401 ]
r=$(acurl "${J[@]}" -d "{\"username\":\"admin\",\"password\":\"$PW2\"}" "$U/iam/tenants/platform/login")
check "the recovered admin must change its password" grep -q '"password_change_required"' <<<"$r"
bw_stop
bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1"
TOKEN2=$(cat "$D/bootstrap-token")
check "a recovered bootstrap token works after the restart" \
  [ "$(status_of -H "Authorization: Bearer $TOKEN2" "$U/status")" = 200 ]
r=$(acurl "${J[@]}" -d "{\"username\":\"admin\",\"password\":\"$PW2\"}" "$U/iam/tenants/platform/login")
ch=$(json challenge <<<"$r")
NEW2="another correct horse battery $RANDOM"
r=$(acurl "${J[@]}" -d "{\"challenge\":\"$ch\",\"new_password\":\"$NEW2\"}" "$U/iam/tenants/platform/login/password")
check "admin sets a new password after recovery" grep -q '"session_token"' <<<"$r"
check "which retires the recovered token again" \
  [ "$(status_of -H "Authorization: Bearer $TOKEN2" "$U/status")" = 401 ]
check "clean stop" bw_stop
finish
