#!/usr/bin/env bash
# Step-up on sensitive admin API routes and the per-role "MFA required"
# policy, through the running daemon with curl and oathtool, time moved by
# the settable clock (never slept):
#  - a tenant administrator with TOTP signs in (password + oathtool code);
#    the fresh session may call a sensitive route (API key creation);
#  - past the tenant's step-up window the same session gets 401
#    step_up_required (RFC 9470 WWW-Authenticate, step_up_url) on user
#    deletion while reads still work; a wrong code is refused, audited and
#    a SIEM event; a valid oathtool code at POST /api/v1/iam/self/step-up
#    makes the session fresh and the deletion succeeds;
#  - an API key of the same user is exempt; so is the bootstrap token;
#  - `bulwark iam` tells the operator how to step up and does it with a
#    code from stdin;
#  - a user without a second factor steps up with the password, and is
#    told to enrol once the tenant sets step_up_require_mfa;
#  - roles marked "MFA required" refuse sign-in without a second factor to
#    holders of the role (also through an including role), not to others;
#    with the tenant's mfa_enrol_at_login the holder enrols TOTP at sign-in
#    (oathtool) and gets a session and recovery codes.
. "$(dirname "$0")/lib.sh"
bw_start || exit 1
U="https://localhost:$ADMIN/api/v1"
T=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
J=(-H "Content-Type: application/json")
PW="step up passphrase $RANDOM$RANDOM"
jget() { "$PY" -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=d.get(k,"") if isinstance(d,dict) else ""
print(d)' "$1"; }
now() { acurl "${T[@]}" -d '{"advance_s":0}' "$U/test/clock" | jget now_s; }
advance() { acurl "${T[@]}" -o /dev/null -d "{\"advance_s\":$1}" "$U/test/clock"; }
# oathtool code for the daemon's clock (SHA-1, 6 digits, 30 s).
totp() { oathtool --totp -b -N "@$(now)" "$1"; }
mkuser() { # mkuser NAME [ROLE] -> prints the id
  local id
  id=$(acurl "${T[@]}" -d "{\"name\":\"$1\",\"password\":\"$PW\"}" "$U/iam/tenants/su/users" | jget id)
  [ -n "${2:-}" ] && acurl "${T[@]}" -o /dev/null -X PUT \
    "$U/authz/tenants/su/roles/$2/members/user:$id"
  echo "$id"
}
login() { acurl "${J[@]}" -d "{\"username\":\"$1\",\"password\":\"$PW\"}" "$U/iam/tenants/su/login"; }

acurl "${T[@]}" -o /dev/null -d '{"name":"su"}' "$U/iam/tenants"
ALICE=$(mkuser alice tenant-admin)
BOB=$(mkuser bob)
check "users created" [ -n "$ALICE" ] && [ -n "$BOB" ]

# alice enrols TOTP (SHA-1, 6 digits) and signs in with oathtool codes.
SECRET=$(acurl "${T[@]}" -d '{"algorithm":"SHA1","digits":6}' "$U/iam/tenants/su/users/$ALICE/totp" | jget secret)
check "TOTP enrolment" [ -n "$SECRET" ]
check "oathtool code confirms it" [ "$(status_of "${T[@]}" -d "{\"code\":\"$(totp "$SECRET")\"}" \
  "$U/iam/tenants/su/users/$ALICE/totp/verify")" = 200 ]
advance 30
ch=$(login alice | jget challenge)
S=$(acurl "${J[@]}" -d "{\"challenge\":\"$ch\",\"code\":\"$(totp "$SECRET")\"}" \
  "$U/iam/tenants/su/login/mfa" | jget session_token)
check "alice signs in with password + oathtool code" [ -n "$S" ]
A=(-H "Authorization: Bearer $S" -H "Content-Type: application/json")

r=$(acurl "${A[@]}" -d '{"name":"ci"}' "$U/iam/tenants/su/users/$ALICE/apikeys")
KEY=$(jget token <<<"$r")
check "a fresh session may call a sensitive route (API key creation)" [ -n "$KEY" ]
r=$(acurl "${A[@]}" "$U/iam/self/step-up")
check "GET self/step-up says fresh" [ "$(jget step_up <<<"$r")" = fresh ]

# Past the window (default 300 s; the session's idle timeout is 30 min).
advance 400
hdr=$(mktemp)
r=$(acurl "${A[@]}" -D "$hdr" -X DELETE "$U/iam/tenants/su/users/$BOB")
check "past the window user deletion is refused: 401 step_up_required" \
  [ "$(jget error.code <<<"$r")" = step_up_required ]
check "the body says where to step up" [ "$(jget error.step_up_url <<<"$r")" = /api/v1/iam/self/step-up ]
check "the body carries the window" [ "$(jget error.max_age <<<"$r")" = 300 ]
check "WWW-Authenticate is the RFC 9470 challenge" \
  grep -qi 'www-authenticate: Bearer realm="bulwark", error="insufficient_user_authentication".*max_age=300' "$hdr"
rm -f "$hdr"
check "bob still exists" [ "$(status_of "${T[@]}" "$U/iam/tenants/su/users/$BOB")" = 200 ]
check "reads still work with the stale session" [ "$(status_of "${A[@]}" "$U/iam/tenants/su/users")" = 200 ]
check "the refusal is audited (denied)" \
  grep -q '"action":"iam.user.delete".*step_up_required.*"outcome":"denied"' "$D/audit.log"

r=$(acurl "${A[@]}" -d '{"code":"000000"}' "$U/iam/self/step-up")
check "a wrong code is refused (401 bad_code)" [ "$(jget error.code <<<"$r")" = bad_code ]
check "the failed step-up is audited" \
  grep -q '"action":"iam.session.step_up".*bad_code.*"outcome":"denied"' "$D/audit.log"
check "the failed step-up is a SIEM event" wait_until 100 bash -c \
  "curl -sS --cacert '$CA' -H 'Authorization: Bearer $TOKEN' -G --data-urlencode 'q=event.action:step-up event.outcome:failure user.name:alice' '$U/siem/events' | grep -q '\"step-up\"'"
check "still refused after the wrong code" \
  [ "$(status_of "${A[@]}" -X DELETE "$U/iam/tenants/su/users/$BOB")" = 401 ]
advance 30
r=$(acurl "${A[@]}" -d "{\"code\":\"$(totp "$SECRET")\"}" "$U/iam/self/step-up")
check "a valid oathtool code steps the session up" [ "$(jget step_up <<<"$r")" = fresh ]
check "the step-up is audited" \
  grep -q '"action":"iam.session.step_up".*"outcome":"success"' "$D/audit.log"
check "then the deletion succeeds" [ "$(status_of "${A[@]}" -X DELETE "$U/iam/tenants/su/users/$BOB")" = 200 ]
check "the successful step-up is a SIEM event" wait_until 100 bash -c \
  "curl -sS --cacert '$CA' -H 'Authorization: Bearer $TOKEN' -G --data-urlencode 'q=event.action:step-up event.outcome:success user.name:alice' '$U/siem/events' | grep -q '\"step-up\"'"

# Exemptions: machines have no second factor.
advance 400
K=(-H "Authorization: Bearer $KEY" -H "Content-Type: application/json")
CARL=$(mkuser carl)
check "the stale session is refused again" \
  [ "$(status_of "${A[@]}" -X DELETE "$U/iam/tenants/su/users/$CARL")" = 401 ]
check "alice's API key is exempt from step-up" \
  [ "$(status_of "${K[@]}" -X DELETE "$U/iam/tenants/su/users/$CARL")" = 200 ]
check "an API key cannot step up (400 not_a_session)" \
  [ "$(acurl "${K[@]}" -d '{"code":"123456"}' "$U/iam/self/step-up" | jget error.code)" = not_a_session ]
check "the bootstrap token is exempt" \
  [ "$(status_of "${T[@]}" -X DELETE "$U/iam/tenants/su/users/$(mkuser dora)")" = 200 ]

# The CLI with alice's (stale) session: a clear hint, then a step-up
# with a code on stdin.
cli() { "$BIN" iam --url "https://localhost:$ADMIN" --cacert "$CA" --tenant su --token "$S" "$@"; }
HANK=$(mkuser hank)
out=$(cli user delete "$HANK" 2>&1)
check "the CLI says how to step up" grep -q 'bulwark iam session step-up --code-stdin' <<<"$out"
check "the CLI shows the session needs it" grep -q '"step_up":"required"' <<<"$(cli session status)"
advance 30
out=$(totp "$SECRET" | cli session step-up --code-stdin)
check "the CLI steps up with a code read from stdin" grep -q '"step_up":"fresh"' <<<"$out"
check "then the CLI deletes the user" bash -c "$(declare -f cli); BIN='$BIN' ADMIN=$ADMIN CA='$CA' S='$S' cli user delete $HANK >/dev/null"
check "the CLI lists MFA-required roles" grep -q '"mfa_required_roles":\[\]' <<<"$(cli mfa roles)"

# A user without a second factor: the password sign-in is fresh, the
# password steps up; with step_up_require_mfa they are told to enrol.
DAVE=$(mkuser dave user-admin)
DS=$(login dave | jget session_token)
check "dave (no MFA) signs in with the password" [ -n "$DS" ]
DA=(-H "Authorization: Bearer $DS" -H "Content-Type: application/json")
check "a fresh password session may create an API key" \
  [ "$(status_of "${DA[@]}" -d '{"name":"d1"}' "$U/iam/tenants/su/users/$DAVE/apikeys")" = 201 ]
advance 400
check "past the window dave is refused" \
  [ "$(status_of "${DA[@]}" -d '{"name":"d2"}' "$U/iam/tenants/su/users/$DAVE/apikeys")" = 401 ]
check "a code is no use without a second factor (400 password_required)" \
  [ "$(acurl "${DA[@]}" -d '{"code":"123456"}' "$U/iam/self/step-up" | jget error.code)" = password_required ]
check "a wrong password fails (401 bad_password)" \
  [ "$(acurl "${DA[@]}" -d '{"password":"not the password at all"}' "$U/iam/self/step-up" | jget error.code)" = bad_password ]
check "the password steps dave up" \
  [ "$(acurl "${DA[@]}" -d "{\"password\":\"$PW\"}" "$U/iam/self/step-up" | jget step_up)" = fresh ]
check "then the API key is created" \
  [ "$(status_of "${DA[@]}" -d '{"name":"d2"}' "$U/iam/tenants/su/users/$DAVE/apikeys")" = 201 ]
check "the tenant opts in to step_up_require_mfa (and a 120 s window)" \
  [ "$(status_of "${T[@]}" -X PATCH -d '{"policy":{"step_up_require_mfa":true,"step_up_s":120}}' \
    "$U/iam/tenants/su")" = 200 ]
r=$(acurl "${DA[@]}" -d '{"name":"d3"}' "$U/iam/tenants/su/users/$DAVE/apikeys")
check "then dave is told to enrol (401 mfa_enrolment_required)" \
  [ "$(jget error.code <<<"$r")" = mfa_enrolment_required ]
check "and cannot step up with the password (403)" \
  [ "$(acurl "${DA[@]}" -d "{\"password\":\"$PW\"}" "$U/iam/self/step-up" | jget error.code)" = mfa_enrolment_required ]
check "a bad window is refused" \
  [ "$(status_of "${T[@]}" -X PATCH -d '{"policy":{"step_up_s":5}}' "$U/iam/tenants/su")" = 400 ]

# Per-role MFA: security-admin holders (tenant-admin includes it) must use
# a second factor at sign-in; others need not.
ERIN=$(mkuser erin security-admin)
GINA=$(mkuser gina tenant-admin)
FRANK=$(mkuser frank viewer)
check "before the policy erin signs in with the password" [ -n "$(login erin | jget session_token)" ]
check "an unknown role is refused (400)" \
  [ "$(status_of "${T[@]}" -X PUT "$U/iam/tenants/su/mfa/roles/no-such-role")" = 400 ]
check "security-admin marked MFA required" \
  [ "$(status_of "${T[@]}" -X PUT "$U/iam/tenants/su/mfa/roles/security-admin")" = 200 ]
check "the policy lists it" grep -q '"security-admin"' <<<"$(acurl "${T[@]}" "$U/iam/tenants/su/mfa/roles")"
r=$(login erin)
check "erin (security-admin, no second factor) cannot sign in" \
  [ "$(jget error.code <<<"$r")" = invalid_credentials ] && [ -z "$(jget session_token <<<"$r")" ]
check "gina (tenant-admin includes security-admin) cannot either" \
  [ -z "$(login gina | jget session_token)" ]
check "frank (viewer) still signs in with the password" [ -n "$(login frank | jget session_token)" ]
check "the refusal is an event with reason mfa_not_enrolled" wait_until 100 bash -c \
  "curl -sS --cacert '$CA' -H 'Authorization: Bearer $TOKEN' -G --data-urlencode 'q=user.name:erin' --data-urlencode 'limit=100' '$U/siem/events' | grep -q mfa_not_enrolled"
SE=$(acurl "${T[@]}" -d '{"algorithm":"SHA1","digits":6}' "$U/iam/tenants/su/users/$ERIN/totp" | jget secret)
acurl "${T[@]}" -o /dev/null -d "{\"code\":\"$(totp "$SE")\"}" "$U/iam/tenants/su/users/$ERIN/totp/verify"
advance 30
r=$(login erin)
check "once enrolled erin gets the second step" [ "$(jget status <<<"$r")" = mfa_required ]
check "erin completes it with oathtool" [ -n "$(acurl "${J[@]}" -d "{\"challenge\":\"$(jget challenge <<<"$r")\",\"code\":\"$(totp "$SE")\"}" \
  "$U/iam/tenants/su/login/mfa" | jget session_token)" ]
# With mfa_enrol_at_login a holder without a factor enrols at sign-in.
check "the tenant lets users enrol at sign-in" \
  [ "$(status_of "${T[@]}" -X PATCH -d '{"policy":{"mfa_enrol_at_login":true}}' "$U/iam/tenants/su")" = 200 ]
r=$(login gina)
check "gina (no factor) is asked to enrol" [ "$(jget status <<<"$r")" = mfa_enrolment_required ]
GCH=$(jget challenge <<<"$r")
check "a made-up challenge gets no secret" \
  [ "$(status_of "${J[@]}" -d '{"challenge":"bwc_nope"}' "$U/iam/tenants/su/login/enrol")" = 401 ]
r=$(acurl "${J[@]}" -d "{\"challenge\":\"$GCH\"}" "$U/iam/tenants/su/login/enrol")
GS=$(jget secret <<<"$r")
check "the enrolment gives a secret and a QR code" [ -n "$GS" ] && grep -q '<svg' <<<"$r"
check "a wrong code does not sign in" [ -z "$(acurl "${J[@]}" -d "{\"challenge\":\"$GCH\",\"code\":\"000000\"}" \
  "$U/iam/tenants/su/login/enrol/verify" | jget session_token)" ]
r=$(acurl "${J[@]}" -d "{\"challenge\":\"$GCH\",\"code\":\"$(totp "$GS")\"}" "$U/iam/tenants/su/login/enrol/verify")
check "the oathtool code finishes the enrolment with a session" [ -n "$(jget session_token <<<"$r")" ]
check "and ten recovery codes" [ "$("$PY" -c 'import json,sys;print(len(json.load(sys.stdin)["recovery_codes"]))' <<<"$r")" = 10 ]
check "the enrolment is audited" grep -q '"action":"iam.login_enrol".*"outcome":"success"' "$D/audit.log"
advance 30
check "gina's next sign-in asks for the code" [ "$(jget status <<<"$(login gina)")" = mfa_required ]
check "unmarking the role needs step-up too (bootstrap exempt)" \
  [ "$(status_of "${T[@]}" -X DELETE "$U/iam/tenants/su/mfa/roles/security-admin")" = 200 ]
check "then frank still signs in with the password" [ -n "$(login frank | jget session_token)" ]
check "policy changes are audited" \
  bash -c "grep -q '\"action\":\"iam.mfa.role_require\"' '$D/audit.log' && grep -q '\"action\":\"iam.mfa.role_unrequire\"' '$D/audit.log'"
check "no code or password reaches the audit log" bash -c "! grep -q '$PW' '$D/audit.log'"
bw_stop
finish
