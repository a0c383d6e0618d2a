/* Unit tests for the OIDC HTTP layer, driven through
 * iam_oidc_http_dispatch: routing and tenant lookup, discovery and JWKS,
 * the token endpoint (client authentication by Basic or form, never both;
 * content type; repeated parameters; grants), the authorization endpoint
 * (login required, redirect with code and state), userinfo, and
 * introspection/revocation needing a confidential client; plus the strict
 * form and Basic parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "http/http.h"
#include "iam/iam_int.h"

#define BASE "https://idp.example"
#define FORM "application/x-www-form-urlencoded"
#define VERIFIER "M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag"

static char dir[64];
static struct store *st;
static struct iam *iam;
static struct iam_oidc_http *h;
static struct bw_err err;
static char uid[IAM_ID_LEN + 1], cid[IAM_ID_LEN + 1], csec[IAM_TOKEN_MAX];
static char pid[IAM_ID_LEN + 1];
static struct iam_http_resp rs;

static int setup(void **state)
{
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-iam-oh-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = {.path = path,
				   .durability = STORE_DURABILITY_NORMAL};
	st = store_open(&so, &err);
	struct iam_options o = {.store = st};
	uint8_t key[32] = {4};
	if (!st || iam_sealer_local(&o.sealer, key, &err) < 0 ||
	    !(iam = iam_new(&o, &err)))
		return -1;
	struct iam_user u;
	struct iam_user_spec us = {.name = "bob",
				   .display_name = "Bob",
				   .email = "bob@x.example",
				   .password = "correct horse battery staple",
				   .password_len = 28};
	char none[IAM_TOKEN_MAX];
	struct iam_oidc_client_spec c = {
	    .name = "svc",
	    .redirect_uris = "https://rp.example/cb",
	    .grant_types =
		"authorization_code refresh_token client_credentials",
	    .scopes = "openid profile email api"};
	struct iam_oidc_client_spec p = {.name = "spa",
					 .redirect_uris =
					     "https://spa.example/cb",
					 .grant_types = "authorization_code",
					 .scopes = "openid profile",
					 .public_client = true};
	if (iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0 ||
	    iam_user_create(iam, "acme", &us, &u, &err) < 0 ||
	    iam_oidc_client_create(iam, "acme", &c, cid, csec, &err) < 0 ||
	    iam_oidc_client_create(iam, "acme", &p, pid, none, &err) < 0)
		return -1;
	memcpy(uid, u.id, sizeof(uid));
	h = iam_oidc_http_new(iam, NULL, BASE, &err);
	bw_buf_init(&rs.body, 1 << 20);
	return h ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[160];
	bw_buf_fini(&rs.body);
	iam_oidc_http_free(h);
	iam_free(iam);
	store_close(st);
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct bw_str S(const char *s) {
	return bw_str_make(s ? s : "", s ? strlen(s) : 0);
}

static int
req(enum http_method m, const char *path, const char *query, const char *body,
    const char *ctype, const char *authz)
{
	struct iam_http_req rq = {.method = m,
				  .path = S(path),
				  .query = S(query),
				  .body = S(body),
				  .content_type = S(ctype),
				  .authorization = S(authz),
				  .peer_ip = "192.0.2.1"};
	bw_buf_reset(&rs.body);
	iam_oidc_http_dispatch(h, &rq, &rs);
	return rs.status;
}

static const char *jstr(const char *key, char *buf, size_t cap)
{
	struct bw_arena *a = bw_arena_new(8192, 1 << 20);
	const struct json_value *v =
	    json_parse(a, rs.body.data, rs.body.len, NULL, &err);
	const char *s = v ? json_get_str(v, key, NULL) : NULL;
	if (!s)
		fail_msg("no %s in %s", key, rs.body.data);
	bw_snprintf(buf, cap, "%s", s);
	bw_arena_free(a);
	return buf;
}

static void basic_for(char *out, size_t cap, const char *id, const char *sec)
{
	char raw[256], enc[400];
	bw_snprintf(raw, sizeof(raw), "%s:%s", id, sec);
	/* standard base64 with padding */
	static const char *al =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(raw), o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)raw[i + 2];
		enc[o++] = al[v >> 18];
		enc[o++] = al[(v >> 12) & 63];
		enc[o++] = i + 1 < n ? al[(v >> 6) & 63] : '=';
		enc[o++] = i + 2 < n ? al[v & 63] : '=';
	}
	enc[o] = 0;
	bw_snprintf(out, cap, "Basic %s", enc);
}

static void routing_discovery_jwks(void **state)
{
	char v[256];
	assert_int_equal(req(HTTP_METHOD_GET,
			     "/oidc/acme/.well-known/openid-configuration",
			     NULL, NULL, NULL, NULL),
			 200);
	assert_string_equal(jstr("issuer", v, sizeof(v)), BASE "/oidc/acme");
	assert_string_equal(jstr("jwks_uri", v, sizeof(v)),
			    BASE "/oidc/acme/jwks");
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/nosuch/jwks", NULL, NULL, NULL, NULL),
	    404);
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/ACME/jwks", NULL, NULL, NULL, NULL),
	    404);
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme", NULL, NULL, NULL, NULL), 404);
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/other/acme/jwks", NULL, NULL, NULL, NULL),
	    404);
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme/nope", NULL, NULL, NULL, NULL),
	    404);
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme/jwks", NULL, NULL, NULL, NULL),
	    200);
	assert_string_equal(rs.content_type, "application/jwk-set+json");
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/jwks", NULL, NULL, NULL, NULL),
	    404);
	struct bw_err e;
	assert_null(iam_oidc_http_new(iam, NULL, "https://idp.example/", &e));
	assert_null(iam_oidc_http_new(iam, NULL, "idp.example", &e));
}

static void token_endpoint(void **state)
{
	char authz[512], body[4096], tok[IAM_OIDC_TOKEN_MAX];
	basic_for(authz, sizeof(authz), cid, csec);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "grant_type=client_credentials&scope=api", FORM,
			     authz),
			 200);
	jstr("access_token", tok, sizeof(tok));
	char tt[32];
	assert_string_equal(jstr("token_type", tt, sizeof(tt)), "Bearer");
	/* client_secret_post works too. */
	bw_snprintf(body, sizeof(body),
		    "grant_type=client_credentials&scope=api&client_id=%s&"
		    "client_secret=%s",
		    cid, csec);
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/token", NULL, body, FORM, NULL),
	    200);
	/* Both methods at once, wrong secret, no credentials: 401. */
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/token", NULL, body, FORM, authz),
	    401);
	assert_string_equal(rs.www_auth, "Basic realm=\"oidc\"");
	char bad[512];
	basic_for(bad, sizeof(bad), cid, "bcs_wrong");
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "grant_type=client_credentials", FORM, bad),
			 401);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "grant_type=client_credentials", FORM,
			     "Basic !!!!"),
			 401);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "grant_type=client_credentials", FORM, NULL),
			 401);
	/* Request shape. */
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme/token", NULL, NULL, NULL, authz),
	    405);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "{\"grant_type\":\"client_credentials\"}",
			     "application/json", authz),
			 400);
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
		"grant_type=client_credentials&grant_type=password", FORM,
		authz),
	    400);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "grant_type=password", FORM, authz),
			 400);
	char e[48];
	assert_string_equal(jstr("error", e, sizeof(e)),
			    "unsupported_grant_type");
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "scope=api", FORM, authz),
			 400);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/token", NULL,
			     "grant_type=client_credentials&scope=root", FORM,
			     authz),
			 400);
	assert_string_equal(jstr("error", e, sizeof(e)), "invalid_scope");
	/* Introspection needs a confidential client. */
	bw_snprintf(body, sizeof(body), "token=%s", tok);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/introspect", NULL,
			     body, FORM, authz),
			 200);
	assert_non_null(strstr(rs.body.data, "\"active\":true"));
	bw_snprintf(body, sizeof(body), "token=%s&client_id=%s", tok, pid);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/introspect", NULL,
			     body, FORM, NULL),
			 401);
	bw_snprintf(body, sizeof(body), "token=%s", tok);
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/revoke", NULL, body, FORM, authz),
	    200);
	assert_int_equal(req(HTTP_METHOD_POST, "/oidc/acme/introspect", NULL,
			     body, FORM, authz),
			 200);
	assert_non_null(strstr(rs.body.data, "\"active\":false"));
}

static void authorization_code_flow(void **state)
{
	struct iam_login_result lr;
	struct iam_login_request lq = {
	    "acme", "bob", "correct horse battery staple", 28, "192.0.2.1"};
	iam_login(iam, &lq, &lr);
	assert_int_equal(lr.status, IAM_LOGIN_OK);
	char bearer[IAM_OIDC_TOKEN_MAX + 8], challenge[64], q[1024];
	bw_snprintf(bearer, sizeof(bearer), "Bearer %s", lr.session_token);
	uint8_t hsh[32];
	crypto_sha256(VERIFIER, strlen(VERIFIER), hsh);
	crypto_b64url_encode_to(hsh, 32, challenge);
	bw_snprintf(q, sizeof(q),
		    "response_type=code&client_id=%s&redirect_uri=https%%3A%%"
		    "2F%%2Fspa.example%%2Fcb"
		    "&scope=openid+profile&state=x%%20y%%26z&nonce=abc&code_"
		    "challenge=%s"
		    "&code_challenge_method=S256",
		    pid, challenge);
	/* Not logged in, no bearer: a browser, sent to the login page with
	 * the request as "next" (never to the client). */
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme/authorize", q, NULL, NULL, NULL),
	    302);
	assert_memory_equal(rs.location, "/auth/acme/login?next=%2Foidc%2Facme"
					 "%2Fauthorize%3Fresponse_type%3Dcode",
			    71);
	/* A bearer that is not valid: the API answer. */
	assert_int_equal(req(HTTP_METHOD_GET, "/oidc/acme/authorize", q, NULL,
			     NULL, "Bearer bws_nope"),
			 401);
	char e[48];
	assert_string_equal(jstr("error", e, sizeof(e)), "login_required");
	/* A session of another tenant does not count. */
	assert_int_equal(iam_tenant_create(iam, "beta", NULL, NULL, NULL, &err),
			 0);
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/beta/authorize", q, NULL, NULL, bearer),
	    401);
	/* Logged in: 302 to the registered URI with code and state. */
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme/authorize", q, NULL, NULL, bearer),
	    302);
	assert_memory_equal(rs.location, "https://spa.example/cb?code=bwa_",
			    32);
	assert_non_null(strstr(rs.location, "&state=x%20y%26z"));
	char code[IAM_TOKEN_MAX];
	const char *cs = strstr(rs.location, "code=") + 5;
	size_t cl = (size_t)(strchr(cs, '&') - cs);
	memcpy(code, cs, cl);
	code[cl] = 0;
	/* Errors never redirect. */
	char q2[1024];
	bw_snprintf(
	    q2, sizeof(q2),
	    "response_type=code&client_id=%s&redirect_uri=https%%3A%%2F%%"
	    "2Fevil.example%%2F"
	    "&scope=openid&code_challenge=%s&code_challenge_method=S256",
	    pid, challenge);
	assert_int_equal(req(HTTP_METHOD_GET, "/oidc/acme/authorize", q2, NULL,
			     NULL, bearer),
			 400);
	assert_string_equal(rs.location, "");
	assert_int_equal(req(HTTP_METHOD_GET, "/oidc/acme/authorize",
			     "response_type=token", NULL, NULL, bearer),
			 400);
	/* Exchange (public client: client_id in the form, no secret). */
	char body[1024], at[IAM_OIDC_TOKEN_MAX];
	bw_snprintf(body, sizeof(body),
		    "grant_type=authorization_code&code=%s&code_verifier=%s&"
		    "client_id=%s"
		    "&redirect_uri=https%%3A%%2F%%2Fspa.example%%2Fcb",
		    code, VERIFIER, pid);
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/token", NULL, body, FORM, NULL),
	    200);
	jstr("access_token", at, sizeof(at));
	assert_non_null(strstr(rs.body.data, "\"id_token\""));
	assert_null(
	    strstr(rs.body.data, "refresh_token")); /* not a granted type */
	assert_int_equal(
	    req(HTTP_METHOD_POST, "/oidc/acme/token", NULL, body, FORM, NULL),
	    400);
	/* userinfo with the access token. */
	bw_snprintf(bearer, sizeof(bearer), "Bearer %s", at);
	assert_int_equal(req(HTTP_METHOD_GET, "/oidc/acme/userinfo", NULL, NULL,
			     NULL, bearer),
			 200);
	char sub[64], name[64];
	assert_string_equal(jstr("sub", sub, sizeof(sub)), uid);
	assert_string_equal(jstr("name", name, sizeof(name)), "Bob");
	assert_null(strstr(rs.body.data, "email"));
	assert_int_equal(
	    req(HTTP_METHOD_GET, "/oidc/acme/userinfo", NULL, NULL, NULL, NULL),
	    401);
	assert_int_equal(req(HTTP_METHOD_GET, "/oidc/acme/userinfo", NULL, NULL,
			     NULL, "Bearer x.y.z"),
			 401);
	assert_string_equal(rs.www_auth, "Bearer error=\"invalid_token\"");
}

static void form_and_basic_parsers(void **state)
{
	struct iam_form f;
	assert_int_equal(iam_form_parse(&f, "a=1&b=x+y%20z&&c&d=", 19, &err),
			 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(iam_form_get(&f, "a"), "1");
	assert_string_equal(iam_form_get(&f, "b"), "x y z");
	assert_string_equal(iam_form_get(&f, "c"), "");
	assert_string_equal(iam_form_get(&f, "d"), "");
	assert_null(iam_form_get(&f, "e"));
	const char *bad[] = {"a=%",   "a=%4", "a=%zz",	 "a=%00",
			     "a=%0a", "=1",   "a=1&a=2", "a%3D=1&a%3D=2"};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
		assert_int_equal(
		    iam_form_parse(&f, bad[i], strlen(bad[i]), &err), -1);
	char many[512] = "";
	for (int i = 0; i <= IAM_FORM_FIELDS_MAX; i++) {
		size_t o = strlen(many);
		bw_snprintf(many + o, sizeof(many) - o, "%sk%d=v", i ? "&" : "",
			    i);
	}
	assert_int_equal(iam_form_parse(&f, many, strlen(many), &err), -1);
	char *big = calloc(1, IAM_FORM_BODY_MAX + 2);
	memset(big, 'a', IAM_FORM_BODY_MAX + 1);
	assert_int_equal(iam_form_parse(&f, big, IAM_FORM_BODY_MAX + 1, &err),
			 -1);
	assert_int_equal(err.code, 413);
	free(big);
	char id[64], sec[128];
	/* "client:se%3Acret" */
	assert_int_equal(iam_basic_parse("Basic Y2xpZW50OnNlJTNBY3JldA==", 30,
					 id, sizeof(id), sec, sizeof(sec)),
			 0);
	assert_string_equal(id, "client");
	assert_string_equal(sec, "se:cret");
	assert_int_equal(iam_basic_parse("basic Y2xpZW50OnNlJTNBY3JldA==", 30,
					 id, sizeof(id), sec, sizeof(sec)),
			 0);
	const char *badb[] = {"Basic ",
			      "Bearer Y2xpZW50OnM=",
			      "Basic Y2xpZW50", /* no colon */
			      "Basic Y2xpZW50OnM",
			      "Basic Y2=pZW50OnM=",
			      "Basic OnNlY3JldA==",
			      "Basic Y2xpZW50OnM=\n"};
	for (size_t i = 0; i < BW_ARRAY_LEN(badb); i++)
		assert_int_equal(iam_basic_parse(badb[i], strlen(badb[i]), id,
						 sizeof(id), sec, sizeof(sec)),
				 -1);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(routing_discovery_jwks, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(token_endpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(authorization_code_flow, setup,
					    teardown),
	    cmocka_unit_test(form_and_basic_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
