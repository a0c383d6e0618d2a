#!/usr/bin/env bash
# Authorization through a running daemon: the OpenFGA-shaped HTTP API with
# curl (store, model, tuples, check), the semantic test vectors run over
# HTTP, and the platform roles deciding every admin route.
. "$(dirname "$0")/lib.sh"
bw_start || exit 1
AUTH=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
U="https://localhost:$ADMIN"

store=$(acurl "${AUTH[@]}" -X POST -d '{"name":"docs"}' "$U/stores")
sid=$("$PY" -c 'import json,sys;print(json.load(sys.stdin)["id"])' <<<"$store")
check "store created" [ -n "$sid" ]
model='{"schema_version":"1.1","type_definitions":[{"type":"user"},{"type":"document","relations":{"viewer":{"this":{}}},"metadata":{"relations":{"viewer":{"directly_related_user_types":[{"type":"user"}]}}}}]}'
m=$(acurl "${AUTH[@]}" -X POST -d "$model" "$U/stores/$sid/authorization-models")
mid=$("$PY" -c 'import json,sys;print(json.load(sys.stdin)["authorization_model_id"])' <<<"$m")
check "model written" [ -n "$mid" ]
w=$(acurl "${AUTH[@]}" -o /dev/null -w '%{http_code}' -X POST \
  -d "{\"authorization_model_id\":\"$mid\",\"writes\":{\"tuple_keys\":[{\"user\":\"user:anne\",\"relation\":\"viewer\",\"object\":\"document:1\"}]}}" \
  "$U/stores/$sid/write")
check "tuple written" [ "$w" = 200 ]
c=$(acurl "${AUTH[@]}" -X POST -d '{"tuple_key":{"user":"user:anne","relation":"viewer","object":"document:1"}}' "$U/stores/$sid/check")
check "check allows anne" grep -q '"allowed":true' <<<"$c"
c=$(acurl "${AUTH[@]}" -X POST -d '{"tuple_key":{"user":"user:bob","relation":"viewer","object":"document:1"}}' "$U/stores/$sid/check")
check "check denies bob" grep -q '"allowed":false' <<<"$c"
check "the same API under /api/v1/fga" \
  [ "$(status_of "${AUTH[@]}" "$U/api/v1/fga/stores/$sid")" = 200 ]
check "tuple write is audited" grep -q '"action":"authz.tuple.write"\|"action":"authz.write"' "$D/audit.log"

# Platform roles through the CLI: grant, list, the grant takes effect on
# the next call, revoke; the reserved platform store stays invisible.
CLI=("$BIN" authz --url "$U" --token "$TOKEN" --cacert "$CA")
acurl "${AUTH[@]}" -o /dev/null -d '{"name":"rolet"}' "$U/api/v1/iam/tenants"
uid=$(acurl "${AUTH[@]}" -d '{"name":"kim"}' "$U/api/v1/iam/tenants/rolet/users" |
      "$PY" -c 'import json,sys;print(json.load(sys.stdin)["id"])')
kj=$(acurl "${AUTH[@]}" -d '{"name":"k"}' "$U/api/v1/iam/tenants/rolet/users/$uid/apikeys")
key=$("$PY" -c 'import json,sys;print(json.load(sys.stdin)["token"])' <<<"$kj")
kid=$("$PY" -c 'import json,sys;print(json.load(sys.stdin)["key"]["id"])' <<<"$kj")
KIM=(-H "Authorization: Bearer $key")
check "no role: 403" [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 403 ]
check "a refused read is audited with the permission it lacked" \
  grep -q '"outcome":"denied".*permission.*kms\.\|permission.*kms\..*"outcome":"denied"' "$D/audit.log"
check "CLI grants key-admin" "${CLI[@]}" role grant rolet key-admin "user:$uid"
grants=$("${CLI[@]}" role list rolet)
check "CLI lists the grant" grep -qF "{\"role\":\"key-admin\",\"subject\":\"user:$uid\"}" <<<"$grants"
check "the grant opens key management" [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 200 ]
check "but not key use (separation of duties)" \
  [ "$(status_of "${KIM[@]}" -X POST -d '{}' "$U/api/v1/kms/tenants/rolet/random")" = 403 ]
check "a group grant through the CLI (percent-encoded subject)" "${CLI[@]}" role grant rolet auditor "group:ops#member"
check "CLI revokes" "${CLI[@]}" role revoke rolet key-admin "user:$uid"
check "revoked: 403 again" [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 403 ]
check "role grants are audited" grep -q '"action":"authz.role.grant"' "$D/audit.log"
# A role granted to an identity group reaches its members, and leaves
# them when they leave the group (memberships are mirrored into authz).
gid=$(acurl "${AUTH[@]}" -d '{"name":"keyops"}' "$U/api/v1/iam/tenants/rolet/groups" |
      "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get("id") or d["group"]["id"])')
check "CLI grants key-admin to the group" "${CLI[@]}" role grant rolet key-admin "group:$gid#member"
check "not a member yet: 403" [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 403 ]
st=$(status_of "${AUTH[@]}" -X PUT "$U/api/v1/iam/tenants/rolet/groups/$gid/members/$uid")
check "kim joins the group" [ "$st" = 200 -o "$st" = 204 ]
check "the group's role opens key management" \
  [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 200 ]
acurl "${AUTH[@]}" -o /dev/null -X DELETE "$U/api/v1/iam/tenants/rolet/groups/$gid/members/$uid"
check "left the group: 403 again" [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 403 ]
acurl "${AUTH[@]}" -o /dev/null -X PUT "$U/api/v1/iam/tenants/rolet/groups/$gid/members/$uid"
acurl "${AUTH[@]}" -o /dev/null -X DELETE "$U/api/v1/iam/tenants/rolet/groups/$gid"
check "a deleted group takes its members' role with it" \
  [ "$(status_of "${KIM[@]}" "$U/api/v1/kms/tenants/rolet/keys")" = 403 ]

# A role held by the API key itself (its user has none now).
check "CLI grants key-user to the API key" "${CLI[@]}" role grant rolet key-user "apikey:$kid"
check "the key's own role opens key use" \
  [ "$(status_of "${KIM[@]}" -X POST -d '{"bytes":16}' "$U/api/v1/kms/tenants/rolet/random")" = 200 ]
check "but not what the role does not grant (creating keys)" \
  [ "$(status_of "${KIM[@]}" -X POST -d '{"name":"nope","type":"aes256-gcm"}' "$U/api/v1/kms/tenants/rolet/keys")" = 403 ]
check "the platform store is not listed" bash -c '! "$@" | grep -q bulwark-platform' _ "${CLI[@]}" store list
routes=$("${CLI[@]}" routes)
check "CLI lists routes with their permissions" grep -qF '"permission":"authz.role.assign"' <<<"$routes"

VEC=$(dirname "$BIN")/authz_vectors
if [ -x "$VEC" ]; then
  out=$(BW_CACERT="$CA" "$VEC" --url "$U" --token "$TOKEN" "$HERE/../authz" 2>&1)
  rc=$?
  check "semantic vectors pass over HTTP" [ $rc = 0 ]
  [ $rc = 0 ] || echo "$out" | tail -20
else
  fail "authz_vectors not built next to $BIN"
fi
check "clean stop" bw_stop
finish
