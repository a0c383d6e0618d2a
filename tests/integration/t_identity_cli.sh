#!/usr/bin/env bash
# Users and groups through `bulwark iam` (the CLI speaks the admin API):
# create with attributes and a password from stdin, update, group
# membership by name, group rename (membership kept), disable (sessions end, API keys stop, the same login
# failure as a wrong password), enable, admin password reset (forced change),
# and delete: sessions, API keys and memberships go at once, while the
# audit log keeps the user's id. Also OIDC clients and federation providers
# from the CLI, that a bad credential makes the CLI fail, and that the
# configured blocklist file refuses its passwords.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
# A breached-password list (iam.blocklist_file), readable by the worker.
printf '# test list\nTr0ub4dor&3 is not safe\nCORRECT HORSE BATTERY STAPLE\n' >"$D/blocklist.txt"
chmod 644 "$D/blocklist.txt"; [ "$(id -u)" = 0 ] && chown --reference="$D" "$D/blocklist.txt"
bw_config "iam:
  blocklist_file: \"$D/blocklist.txt\""
bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1"
J=(-H "Content-Type: application/json")
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }
iam() { "$BIN" iam --url "https://localhost:$ADMIN" --cacert "$CA" --token "$TOKEN" "$@"; }
export -f iam
export BIN ADMIN CA TOKEN

iam tenant create corp >/dev/null
check "tenant created by the CLI" bash -c "iam tenant list | grep -q '\"name\":\"corp\"'"
PW="correct horse battery staple $RANDOM"
r=$(printf '%s\n' "correct horse battery staple" | iam --tenant corp user create eve --password-stdin 2>&1)
check "a password on the configured blocklist is refused (any case)" grep -q 'blocklisted' <<<"$r"
r=$(printf '%s\n' "$PW" | iam --tenant corp user create bob --email bob@corp.example \
  --display-name "Bob Builder" --attrs '{"dept":"ops","level":2}' --password-stdin)
BOB=$(json id <<<"$r")
check "user created with attributes" grep -q '"attributes":{"dept":"ops","level":2}' <<<"$r"
check "the password never appears in argv or output" bash -c "! grep -q '$PW' <<<'$r'"
check "user found by name" bash -c "iam --tenant corp user get BOB | grep -q '\"id\":\"$BOB\"'"
r=$(iam --tenant corp user update bob --attrs '{"dept":"sec"}' --display-name "Bob B.")
check "attributes and display name updated" bash -c "grep -q '\"dept\":\"sec\"' <<<'$r' && grep -q 'Bob B\.' <<<'$r'"
iam --tenant corp group create ops --description "operators" >/dev/null
check "member added by names" bash -c "iam --tenant corp group add ops bob >/dev/null"
check "group lists its member" bash -c "iam --tenant corp group members ops | grep -q '$BOB'"
check "user lists its groups" bash -c "iam --tenant corp user groups bob | grep -q '\"name\":\"ops\"'"
r=$(iam --tenant corp group update ops --name operators --description "on call")
check "group renamed and described" bash -c "grep -q '\"name\":\"operators\"' <<<'$r' && grep -q 'on call' <<<'$r'"
check "membership follows the renamed group" bash -c "iam --tenant corp group members operators | grep -q '$BOB'"
iam --tenant corp group create ops >/dev/null
check "a rename onto a taken name is refused" bash -c "! iam --tenant corp group update operators --name OPS 2>/dev/null"

login() { acurl "${J[@]}" -d "{\"username\":\"bob\",\"password\":\"$1\"}" "$U/iam/tenants/corp/login"; }
S=$(login "$PW" | json session_token)
check "bob signs in" [ -n "$S" ]
r=$(acurl -H "Authorization: Bearer $TOKEN" "${J[@]}" -d '{"name":"ci","scopes":"iam.self"}' "$U/iam/tenants/corp/users/$BOB/apikeys")
KEY=$(json token <<<"$r")
check "an API key for bob" [ -n "$KEY" ]
check "the API key authenticates" [ "$(status_of -H "Authorization: Bearer $KEY" "$U/iam/self/sessions")" = 200 ]
check "sessions listed by the CLI" bash -c "iam --tenant corp user sessions bob | grep -q '\"last_seen\"'"

iam --tenant corp user disable bob >/dev/null
check "disabling ends bob's session" [ "$(status_of -H "Authorization: Bearer $S" "$U/iam/self/sessions")" = 401 ]
check "disabling stops the API key" [ "$(status_of -H "Authorization: Bearer $KEY" "$U/iam/self/sessions")" = 401 ]
a=$(login "$PW"); b=$(login "wrong password entirely $RANDOM")
norm() { sed 's/"request_id":"[^"]*"//'; }
check "a disabled user gets the wrong-password answer" [ "$(norm <<<"$a")" = "$(norm <<<"$b")" ]
iam --tenant corp user enable bob >/dev/null
check "enabling restores the API key" [ "$(status_of -H "Authorization: Bearer $KEY" "$U/iam/self/sessions")" = 200 ]
S=$(login "$PW" | json session_token)
check "enabled bob signs in again" [ -n "$S" ]

NEWPW="a fresh reset passphrase $RANDOM"
printf '%s\n' "$NEWPW" | iam --tenant corp user reset-password bob --password-stdin >/dev/null
check "reset revokes the sessions" [ "$(status_of -H "Authorization: Bearer $S" "$U/iam/self/sessions")" = 401 ]
check "after a reset bob must change the password" grep -q '"password_change_required"' <<<"$(login "$NEWPW")"

S=$(login "$NEWPW" | json challenge)
iam --tenant corp user delete bob >/dev/null
check "deleted user is gone" bash -c "! iam --tenant corp user get $BOB 2>/dev/null"
check "deletion kills the API key" [ "$(status_of -H "Authorization: Bearer $KEY" "$U/iam/self/sessions")" = 401 ]
check "deletion removes the membership" bash -c "! iam --tenant corp group members operators | grep -q '$BOB'"
r=$(acurl "${J[@]}" -d "{\"challenge\":\"$S\",\"new_password\":\"yet another passphrase $RANDOM\"}" "$U/iam/tenants/corp/login/password")
check "a pending challenge of the deleted user is dead" bash -c "! grep -q session_token <<<'$r'"
check "the audit log keeps the deleted user's id" grep -q "corp/user/$BOB" "$D/audit.log"
check "deleting the user is audited" grep -q '"action":"iam.user.delete"' "$D/audit.log"

r=$(iam --tenant corp oidc client create portal --redirect-uris https://portal.corp.example/cb)
check "OIDC client created by the CLI (secret shown once)" grep -q '"client_secret":"bcs_' <<<"$r"
check "OIDC client listed" bash -c "iam --tenant corp oidc client list | grep -q portal"
r=$(printf 'sekret\n' | iam --tenant corp federation add upstream --issuer https://idp.corp.example \
  --client-id bulwark --client-secret-stdin --link-email)
check "federation provider added by the CLI" grep -q '"link_email":true' <<<"$r"
check "a wrong token makes the CLI fail" bash -c "! '$BIN' iam --url https://localhost:$ADMIN --cacert '$CA' --token bwt_wrong user list 2>/dev/null"
check "an unknown command is a usage error (2)" bash -c "iam frobnicate 2>/dev/null; [ \$? = 2 ]"
check "clean stop" bw_stop
finish
