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
