#!/usr/bin/env bash
# API key scopes on the admin API: a key acts with its user's (and its
# own) roles, narrowed by its scopes — a permission name or a dotted
# prefix of one ("iam" covers "iam.user.manage"). Out of scope is 403
# insufficient_scope, audited; a key without scopes keeps all its roles
# allow; roles still decide inside the scopes.
. "$(dirname "$0")/lib.sh"
bw_start || exit 1
U="https://localhost:$ADMIN/api/v1"
T=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
jget() { "$PY" -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=d.get(k,"") if isinstance(d,dict) else ""
print(d)' "$1"; }
acurl "${T[@]}" -o /dev/null -d '{"name":"sc"}' "$U/iam/tenants"
UID_=$(acurl "${T[@]}" -d '{"name":"robot"}' "$U/iam/tenants/sc/users" | jget id)
check "a user for the keys" [ -n "$UID_" ]
check "the user is a tenant administrator" \
  [ "$(status_of "${T[@]}" -X PUT "$U/authz/tenants/sc/roles/tenant-admin/members/user:$UID_")" = 200 ]
key() { acurl "${T[@]}" -d "{\"name\":\"$1\",\"scopes\":\"$2\"}" "$U/iam/tenants/sc/users/$UID_/apikeys" | jget token; }
READ=$(key reader "iam.user.read")
IAM=$(key iamonly "iam")
FULL=$(key full "")
KMS=$(key kms "kms.key.read iam.self")
check "four keys" [ -n "$READ" ] && [ -n "$IAM" ] && [ -n "$FULL" ] && [ -n "$KMS" ]
as() { local k=$1; shift; status_of -H "Authorization: Bearer $k" -H "Content-Type: application/json" "$@"; }
check "a read-scoped key reads users" [ "$(as "$READ" "$U/iam/tenants/sc/users")" = 200 ]
r=$(acurl -H "Authorization: Bearer $READ" -H "Content-Type: application/json" -d '{"name":"x1"}' "$U/iam/tenants/sc/users")
check "a read-scoped key cannot create users (403 insufficient_scope)" [ "$(jget error.code <<<"$r")" = insufficient_scope ]
check "the refusal is audited with the permission" \
  grep -q '"action":"iam.user.create".*insufficient_scope.*iam.user.manage.*"outcome":"denied"' "$D/audit.log"
check "scope \"iam\" covers iam.user.manage" [ "$(as "$IAM" -d '{"name":"x2"}' "$U/iam/tenants/sc/users")" = 201 ]
check "scope \"iam\" does not cover authz" [ "$(as "$IAM" "$U/authz/tenants/sc/role-assignments")" = 403 ]
check "a key without scopes does what its roles allow" [ "$(as "$FULL" "$U/authz/tenants/sc/role-assignments")" = 200 ]
check "kms.key.read and iam.self do not reach user management" \
  [ "$(as "$KMS" -d '{"name":"x3"}' "$U/iam/tenants/sc/users")" = 403 ]
PART=$(key part "iam.use")
check "a prefix ends at a dot: \"iam.use\" does not cover iam.user.read" \
  [ "$(as "$PART" "$U/iam/tenants/sc/users")" = 403 ]
check "iam.self in the scopes reaches the self routes" [ "$(as "$KMS" "$U/iam/self/sessions")" = 200 ]
check "outside them it does not" [ "$(as "$READ" "$U/iam/self/sessions")" = 403 ]
# Roles still decide inside the scopes: a key of a user without roles.
NOBODY=$(acurl "${T[@]}" -d '{"name":"nobody"}' "$U/iam/tenants/sc/users" | jget id)
NK=$(acurl "${T[@]}" -d '{"name":"nk","scopes":"iam"}' "$U/iam/tenants/sc/users/$NOBODY/apikeys" | jget token)
check "scopes grant nothing the roles do not" [ "$(as "$NK" "$U/iam/tenants/sc/users")" = 403 ]
check "clean stop" bw_stop
finish
