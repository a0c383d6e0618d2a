/* Unit tests for the OIDC provider core: discovery, JWKS and key rotation
 * with overlap, client registration rules, authorization code + PKCE
 * (S256 only, mandatory for public clients, single-use codes bound to
 * client and redirect URI), ID tokens, refresh rotation with reuse
 * detection revoking the family, client credentials, introspection,
 * revocation, tenant isolation and forged tokens (alg none, HS256 with the
 * public key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "iam/iam_int.h"

#define ISS "https://idp.example/t/acme"
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-a-longer-verifier"
#define REDIRECT "https://app.example/cb"

static char dir[64];
static struct store *st;
static struct iam *iam;
static struct bw_err err;
static char uid[IAM_ID_LEN + 1];
static char conf_id[IAM_ID_LEN + 1], conf_secret[IAM_TOKEN_MAX];
static char pub_id[IAM_ID_LEN + 1];
static char challenge[64];

static int setup(void **state)
{
	bw_clock_set(1700000000LL * 1000000000LL);
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-iam-oidc-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = {.path = path,
				   .durability = STORE_DURABILITY_NORMAL};
	st = store_open(&so, &err);
	if (!st)
		return -1;
	struct iam_options o = {.store = st};
	uint8_t key[32] = {5};
	if (iam_sealer_local(&o.sealer, key, &err) < 0 ||
	    !(iam = iam_new(&o, &err)))
		return -1;
	struct iam_user u;
	struct iam_user_spec s = {.name = "alice",
				  .display_name = "Alice A",
				  .email = "alice@example.com"};
	if (iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0 ||
	    iam_tenant_create(iam, "other", NULL, NULL, NULL, &err) < 0 ||
	    iam_user_create(iam, "acme", &s, &u, &err) < 0)
		return -1;
	memcpy(uid, u.id, sizeof(uid));
	struct iam_oidc_client_spec cs = {
	    .name = "web",
	    .redirect_uris = REDIRECT " https://app.example/cb2",
	    .grant_types =
		"authorization_code refresh_token client_credentials",
	    .scopes = "openid profile email api.read api.write"};
	char none[IAM_TOKEN_MAX];
	if (iam_oidc_client_create(iam, "acme", &cs, conf_id, conf_secret,
				   &err) < 0)
		return -1;
	struct iam_oidc_client_spec ps = {
	    .name = "spa",
	    .redirect_uris = "http://localhost:5173/cb",
	    .grant_types = "authorization_code refresh_token",
	    .scopes = "openid profile",
	    .public_client = true};
	if (iam_oidc_client_create(iam, "acme", &ps, pub_id, none, &err) < 0 ||
	    none[0])
		return -1;
	uint8_t h[32];
	crypto_sha256(VERIFIER, strlen(VERIFIER), h);
	crypto_b64url_encode_to(h, 32, challenge);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	iam_free(iam);
	store_close(st);
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	bw_clock_set(0);
	return system(cmd) == 0 ? 0 : -1;
}

static bool active(const char *tenant, const char *iss, const char *token)
{
	struct bw_buf out;
	bw_buf_init(&out, 1 << 16);
	assert_int_equal(
	    iam_oidc_introspect(iam, tenant, iss, token, &out, &err), 0);
	bool a = strstr(out.data, "\"active\":true") != NULL;
	bw_buf_fini(&out);
	return a;
}

static void discovery_and_keys(void **state)
{
	struct bw_buf out;
	bw_buf_init(&out, 1 << 16);
	assert_int_equal(iam_oidc_discovery(ISS, &out, &err), 0);
	assert_non_null(strstr(out.data, "\"issuer\":\"" ISS "\""));
	assert_non_null(
	    strstr(out.data, "\"token_endpoint\":\"" ISS "/token\""));
	assert_non_null(strstr(
	    out.data, "\"code_challenge_methods_supported\":[\"S256\"]"));
	bw_buf_reset(&out);
	/* No key until one is needed. */
	assert_int_equal(iam_oidc_jwks(iam, "acme", &out, &err), 0);
	assert_string_equal(out.data, "{\"keys\":[]}");
	assert_int_equal(iam_oidc_key_rotate(iam, "acme", JOSE_ALG_ES256, &err),
			 0);
	assert_int_equal(iam_oidc_key_rotate(iam, "acme", JOSE_ALG_EDDSA, &err),
			 0);
	bw_buf_reset(&out);
	assert_int_equal(iam_oidc_jwks(iam, "acme", &out, &err), 0);
	struct jose_jwks set;
	jose_jwks_init(&set);
	assert_int_equal(
	    jose_jwks_parse(&set, out.data, out.len, true, NULL, &err), 0);
	assert_int_equal(set.n, 2);
	for (size_t i = 0; i < set.n; i++)
		assert_false(jose_jwk_is_private(set.keys[i]));
	assert_null(strstr(out.data, "\"d\""));
	jose_jwks_fini(&set);
	assert_int_equal(iam_oidc_key_rotate(iam, "acme", JOSE_ALG_HS256, &err),
			 -1);
	/* Other tenants' key sets are separate. */
	bw_buf_reset(&out);
	assert_int_equal(iam_oidc_jwks(iam, "other", &out, &err), 0);
	assert_string_equal(out.data, "{\"keys\":[]}");
	bw_buf_fini(&out);
}

static void client_rules(void **state)
{
	char id[IAM_ID_LEN + 1], sec[IAM_TOKEN_MAX];
	const char *bad_uris[] = {"http://app.example/cb",
				  "https://app.example/cb#frag",
				  "javascript:alert(1)", "app.example/cb", ""};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_uris); i++) {
		struct iam_oidc_client_spec s = {.name = "x",
						 .redirect_uris = bad_uris[i],
						 .grant_types =
						     "authorization_code"};
		assert_int_equal(
		    iam_oidc_client_create(iam, "acme", &s, id, sec, &err), -1);
	}
	struct iam_oidc_client_spec s = {.name = "x",
					 .grant_types = "client_credentials",
					 .public_client = true};
	assert_int_equal(iam_oidc_client_create(iam, "acme", &s, id, sec, &err),
			 -1);
	s.grant_types = "password";
	s.public_client = false;
	assert_int_equal(iam_oidc_client_create(iam, "acme", &s, id, sec, &err),
			 -1);
	s.grant_types = "client_credentials";
	assert_int_equal(iam_oidc_client_create(iam, "acme", &s, id, sec, &err),
			 0);
	assert_memory_equal(sec, "bcs_", 4);
	assert_int_equal(iam_oidc_client_delete(iam, "other", id, &err), -1);
	assert_int_equal(iam_oidc_client_delete(iam, "acme", id, &err), 0);
}

static void code_flow_with_pkce(void **state)
{
	char code[IAM_TOKEN_MAX];
	struct iam_oidc_tokens t;
	/* Authorization errors. */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/other",
					    "openid", challenge, "S256", NULL,
					    code, &err),
			 -1);
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid", challenge, "plain", NULL,
					    code, &err),
			 -1);
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid", NULL, NULL, NULL, code,
					    &err),
			 -1);
	assert_string_equal(err.reason,
			    "invalid_request"); /* public: PKCE required */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid api.write", challenge,
					    "S256", NULL, code, &err),
			 -1);
	assert_string_equal(err.reason, "invalid_scope");
	assert_int_equal(iam_oidc_authorize(iam, "other", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid", challenge, "S256", NULL,
					    code, &err),
			 -1);
	/* A wrong verifier burns the code. */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid profile", challenge, "S256",
					    "n-0S6_WzA2Mj", code, &err),
			 0);
	assert_int_equal(iam_oidc_token_code(
			     iam, "acme", ISS, pub_id, NULL, code, VERIFIER "x",
			     "http://localhost:5173/cb", &t, &err),
			 -1);
	assert_string_equal(err.reason, "invalid_grant");
	assert_int_equal(
	    iam_oidc_token_code(iam, "acme", ISS, pub_id, NULL, code, VERIFIER,
				"http://localhost:5173/cb", &t, &err),
	    -1);
	/* The right verifier on a fresh code. */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid profile", challenge, "S256",
					    "n-0S6_WzA2Mj", code, &err),
			 0);
	/* A public client presenting a secret is not a public client. */
	assert_int_equal(
	    iam_oidc_token_code(iam, "acme", ISS, pub_id, "x", code, VERIFIER,
				"http://localhost:5173/cb", &t, &err),
	    -1);
	assert_int_equal(err.code, 401);
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, pub_id,
					    "http://localhost:5173/cb",
					    "openid profile", challenge, "S256",
					    "n-0S6_WzA2Mj", code, &err),
			 0);
	assert_int_equal(
	    iam_oidc_token_code(iam, "acme", ISS, pub_id, NULL, code, VERIFIER,
				"http://localhost:5173/cb", &t, &err),
	    0);
	assert_true(t.access_token[0] && t.id_token[0] && t.refresh_token[0]);
	assert_int_equal(t.expires_in, IAM_OIDC_ACCESS_TTL_S);
	assert_true(active("acme", ISS, t.access_token));
	assert_true(active("acme", ISS, t.refresh_token));
	/* The ID token verifies against the published JWKS for the client. */
	struct bw_buf jw;
	bw_buf_init(&jw, 1 << 16);
	assert_int_equal(iam_oidc_jwks(iam, "acme", &jw, &err), 0);
	struct jose_jwks set;
	jose_jwks_init(&set);
	assert_int_equal(
	    jose_jwks_parse(&set, jw.data, jw.len, true, NULL, &err), 0);
	struct jose_verifier v = {.keys = &set, .algs = JOSE_ALGS_ASYMMETRIC};
	struct jose_jwt_rules r = {.issuer = ISS,
				   .audience = pub_id,
				   .leeway_s = 0,
				   .require_exp = true};
	struct bw_arena *a = bw_arena_new(8192, 1 << 20);
	struct jose_jwt idt;
	assert_int_equal(jose_jwt_verify(&v, &r, t.id_token, strlen(t.id_token),
					 a, &idt, &err),
			 0);
	assert_string_equal(json_get_str(idt.claims, "nonce", ""),
			    "n-0S6_WzA2Mj");
	assert_string_equal(json_get_str(idt.claims, "sub", ""), uid);
	assert_string_equal(json_get_str(idt.claims, "name", ""), "Alice A");
	assert_null(
	    json_get(idt.claims, "email")); /* email scope not granted */
	assert_null(json_get(idt.claims, "amr")); /* no second factor */
	assert_int_equal(json_get_int(idt.claims, "auth_time", 0),
			 bw_clock_now_s());
	/* A session that passed MFA 100 s ago: auth_time and "amr". */
	struct iam_oidc_auth au = {bw_clock_now_s() - 100, true};
	assert_int_equal(iam_oidc_authorize_as(iam, "acme", uid, pub_id,
					       "http://localhost:5173/cb",
					       "openid", challenge, "S256",
					       NULL, &au, code, &err),
			 0);
	struct iam_oidc_tokens t2;
	assert_int_equal(
	    iam_oidc_token_code(iam, "acme", ISS, pub_id, NULL, code, VERIFIER,
				"http://localhost:5173/cb", &t2, &err),
	    0);
	struct jose_jwt idt2;
	assert_int_equal(jose_jwt_verify(&v, &r, t2.id_token,
					 strlen(t2.id_token), a, &idt2, &err),
			 0);
	assert_int_equal(json_get_int(idt2.claims, "auth_time", 0),
			 au.auth_time);
	const struct json_value *amr = json_get(idt2.claims, "amr");
	assert_non_null(amr);
	assert_int_equal(amr->type, JSON_ARRAY);
	assert_int_equal(amr->u.arr.n, 1);
	assert_string_equal(amr->u.arr.items[0]->u.str.p, "mfa");
	/* An ID token minted by a refresh later names the same sign-in
	 * (OIDC Core 12.2), not the refresh. */
	bw_clock_advance(50 * 1000000000LL);
	struct iam_oidc_tokens t3;
	assert_true(t2.refresh_token[0]);
	assert_int_equal(iam_oidc_token_refresh(iam, "acme", ISS, pub_id, NULL,
						t2.refresh_token, &t3, &err),
			 0);
	struct jose_jwt idt3;
	assert_int_equal(jose_jwt_verify(&v, &r, t3.id_token,
					 strlen(t3.id_token), a, &idt3, &err),
			 0);
	assert_int_equal(json_get_int(idt3.claims, "auth_time", 0),
			 au.auth_time);
	assert_int_equal(json_get_int(idt3.claims, "iat", 0), bw_clock_now_s());
	amr = json_get(idt3.claims, "amr");
	assert_non_null(amr);
	assert_string_equal(amr->u.arr.items[0]->u.str.p, "mfa");
	/* Code reuse. */
	assert_int_equal(
	    iam_oidc_token_code(iam, "acme", ISS, pub_id, NULL, code, VERIFIER,
				"http://localhost:5173/cb", &t, &err),
	    -1);
	/* Confidential client, no PKCE; wrong redirect; expiry. */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "openid email", NULL, NULL, NULL,
					    code, &err),
			 0);
	assert_int_equal(
	    iam_oidc_token_code(iam, "acme", ISS, conf_id, conf_secret, code,
				NULL, "https://app.example/cb2", &t, &err),
	    -1);
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "openid email", NULL, NULL, NULL,
					    code, &err),
			 0);
	assert_int_equal(iam_oidc_token_code(iam, "acme", ISS, conf_id,
					     "bcs_wrong", code, NULL, REDIRECT,
					     &t, &err),
			 -1);
	assert_string_equal(err.reason, "invalid_client");
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "openid email", NULL, NULL, NULL,
					    code, &err),
			 0);
	bw_clock_advance((IAM_OIDC_CODE_TTL_S + 1) * 1000000000LL);
	assert_int_equal(iam_oidc_token_code(iam, "acme", ISS, conf_id,
					     conf_secret, code, NULL, REDIRECT,
					     &t, &err),
			 -1);
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "openid email", NULL, NULL, NULL,
					    code, &err),
			 0);
	assert_int_equal(iam_oidc_token_code(iam, "acme", ISS, conf_id,
					     conf_secret, code, NULL, REDIRECT,
					     &t, &err),
			 0);
	bw_arena_free(a);
	a = bw_arena_new(8192, 1 << 20);
	r.audience = conf_id;
	assert_int_equal(jose_jwt_verify(&v, &r, t.id_token, strlen(t.id_token),
					 a, &idt, &err),
			 0);
	assert_string_equal(json_get_str(idt.claims, "email", ""),
			    "alice@example.com");
	/* Access tokens expire. */
	bw_clock_advance((IAM_OIDC_ACCESS_TTL_S + 31) * 1000000000LL);
	assert_false(active("acme", ISS, t.access_token));
	bw_arena_free(a);
	jose_jwks_fini(&set);
	bw_buf_fini(&jw);
}

static void refresh_rotation_and_reuse(void **state)
{
	char code[IAM_TOKEN_MAX], r1[IAM_TOKEN_MAX], r2[IAM_TOKEN_MAX];
	struct iam_oidc_tokens t;
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "api.read", NULL, NULL, NULL, code,
					    &err),
			 0);
	assert_int_equal(iam_oidc_token_code(iam, "acme", ISS, conf_id,
					     conf_secret, code, NULL, REDIRECT,
					     &t, &err),
			 0);
	assert_string_equal(t.id_token, ""); /* no openid scope */
	memcpy(r1, t.refresh_token, sizeof(r1));
	assert_int_equal(iam_oidc_token_refresh(iam, "acme", ISS, conf_id,
						conf_secret, r1, &t, &err),
			 0);
	memcpy(r2, t.refresh_token, sizeof(r2));
	assert_string_not_equal(r1, r2);
	assert_false(active("acme", ISS, r1));
	assert_true(active("acme", ISS, r2));
	/* Another client cannot use it, and its attempt does not spend it. */
	assert_int_equal(iam_oidc_token_refresh(iam, "acme", ISS, pub_id, NULL,
						r2, &t, &err),
			 -1);
	assert_string_equal(err.reason, "invalid_grant");
	assert_true(active("acme", ISS, r2));
	/* Reuse of r1: the whole family dies, r2 included. */
	assert_int_equal(iam_oidc_token_refresh(iam, "acme", ISS, conf_id,
						conf_secret, r1, &t, &err),
			 -1);
	assert_string_equal(err.reason, "invalid_grant");
	assert_false(active("acme", ISS, r2));
	assert_int_equal(iam_oidc_token_refresh(iam, "acme", ISS, conf_id,
						conf_secret, r2, &t, &err),
			 -1);
	/* Revocation of a refresh token ends its family. */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "api.read", NULL, NULL, NULL, code,
					    &err),
			 0);
	assert_int_equal(iam_oidc_token_code(iam, "acme", ISS, conf_id,
					     conf_secret, code, NULL, REDIRECT,
					     &t, &err),
			 0);
	assert_int_equal(
	    iam_oidc_revoke(iam, "acme", ISS, t.refresh_token, &err), 0);
	assert_false(active("acme", ISS, t.refresh_token));
	/* Deleting the user deletes its refresh tokens. */
	assert_int_equal(iam_oidc_authorize(iam, "acme", uid, conf_id, REDIRECT,
					    "api.read", NULL, NULL, NULL, code,
					    &err),
			 0);
	assert_int_equal(iam_oidc_token_code(iam, "acme", ISS, conf_id,
					     conf_secret, code, NULL, REDIRECT,
					     &t, &err),
			 0);
	assert_int_equal(iam_user_delete(iam, "acme", uid, &err), 0);
	assert_false(active("acme", ISS, t.refresh_token));
}

static void client_credentials_and_revocation(void **state)
{
	struct iam_oidc_tokens t;
	assert_int_equal(iam_oidc_token_client(iam, "acme", ISS, conf_id,
					       "bcs_nope", "api.read", &t,
					       &err),
			 -1);
	assert_int_equal(err.code, 401);
	assert_int_equal(
	    iam_oidc_token_client(iam, "acme", ISS, pub_id, NULL, "", &t, &err),
	    -1);
	assert_int_equal(iam_oidc_token_client(iam, "acme", ISS, conf_id,
					       conf_secret, "admin", &t, &err),
			 -1);
	assert_string_equal(err.reason, "invalid_scope");
	assert_int_equal(iam_oidc_token_client(iam, "acme", ISS, conf_id,
					       conf_secret, "openid", &t, &err),
			 -1);
	assert_int_equal(iam_oidc_token_client(iam, "acme", ISS, conf_id,
					       conf_secret,
					       "api.read api.write", &t, &err),
			 0);
	assert_string_equal(t.refresh_token, "");
	struct bw_buf out;
	bw_buf_init(&out, 1 << 16);
	assert_int_equal(
	    iam_oidc_introspect(iam, "acme", ISS, t.access_token, &out, &err),
	    0);
	assert_non_null(strstr(out.data, "\"active\":true"));
	char want[80];
	bw_snprintf(want, sizeof(want), "\"sub\":\"%s\"", conf_id);
	assert_non_null(strstr(out.data, want));
	assert_non_null(strstr(out.data, "\"scope\":\"api.read api.write\""));
	bw_buf_fini(&out);
	/* Wrong issuer, wrong tenant: inactive. */
	assert_false(
	    active("acme", "https://idp.example/t/other", t.access_token));
	assert_false(active("other", ISS, t.access_token));
	assert_false(active("acme", ISS, "garbage"));
	assert_false(active("acme", ISS, ""));
	/* Revoke by jti. */
	assert_int_equal(
	    iam_oidc_revoke(iam, "acme", ISS, t.access_token, &err), 0);
	assert_false(active("acme", ISS, t.access_token));
	assert_int_equal(iam_oidc_revoke(iam, "acme", ISS, "unknown", &err), 0);
}

static void forged_tokens_and_rotation(void **state)
{
	struct iam_oidc_tokens t;
	assert_int_equal(iam_oidc_token_client(iam, "acme", ISS, conf_id,
					       conf_secret, "api.read", &t,
					       &err),
			 0);
	char *dot = strchr(t.access_token, '.');
	char *dot2 = strchr(dot + 1, '.');
	/* alg none with the same payload. */
	char forged[IAM_OIDC_TOKEN_MAX + 64];
	bw_snprintf(forged, sizeof(forged),
		    "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.%.*s.",
		    (int)(dot2 - dot - 1), dot + 1);
	assert_false(active("acme", ISS, forged));
	/* HS256 keyed with the published public JWK. */
	struct bw_buf jw;
	bw_buf_init(&jw, 1 << 16);
	assert_int_equal(iam_oidc_jwks(iam, "acme", &jw, &err), 0);
	struct jose_jwk *fake =
	    jose_jwk_from_oct(jw.data, jw.len, NULL, JOSE_ALG_HS256, &err);
	assert_non_null(fake);
	struct jose_signer s;
	assert_int_equal(jose_signer_local(&s, fake, JOSE_ALG_HS256, &err), 0);
	struct bw_buf ftok;
	bw_buf_init(&ftok, 8192);
	const char *claims =
	    "{\"iss\":\"" ISS "\",\"aud\":\"" ISS "\",\"sub\":\"x\","
	    "\"exp\":4000000000,\"jti\":\"j\"}";
	assert_int_equal(
	    jose_jws_sign(&s, "at+jwt", claims, strlen(claims), &ftok, &err),
	    0);
	assert_false(active("acme", ISS, ftok.data));
	jose_jwk_free(fake);
	bw_buf_fini(&ftok);
	bw_buf_fini(&jw);
	/* Rotation overlaps: old tokens verify until the old key is pruned. */
	assert_true(active("acme", ISS, t.access_token));
	assert_int_equal(iam_oidc_key_rotate(iam, "acme", JOSE_ALG_RS256, &err),
			 0);
	assert_true(active("acme", ISS, t.access_token));
	struct iam_oidc_tokens t2;
	assert_int_equal(iam_oidc_token_client(iam, "acme", ISS, conf_id,
					       conf_secret, "api.read", &t2,
					       &err),
			 0);
	assert_non_null(
	    strstr(t2.access_token, "eyJhbGciOiJSUzI1Ni")); /* RS256 now */
	bw_clock_advance(10 * 1000000000LL);
	assert_int_equal(iam_oidc_keys_prune(iam, "acme", 5, &err), 0);
	assert_false(active("acme", ISS, t.access_token));
	assert_true(active("acme", ISS, t2.access_token));
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(discovery_and_keys, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(client_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(code_flow_with_pkce, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(refresh_rotation_and_reuse, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(client_credentials_and_revocation,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(forged_tokens_and_rotation, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
