/* Unit tests for federation (iam_fed.c): the upstream ID token checks
 * (signature, alg "none", HMAC with a public key, unknown kid, issuer,
 * audience and azp, exp/nbf/iat and lifetime, nonce, subject), discovery
 * and token-response parsing against hostile documents, the redirect and
 * cookie helpers, the provider registry (validation, isolation, limits,
 * secrets never returned) and account linking (provisioning, name
 * collisions, verified e-mail only, disabled users, deletion). The whole
 * browser flow against a real upstream is tests/integration/t_federation.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "../iam_fed.c"

#define ISS "https://up.example/oidc/corp"
#define AUD "rp-client"
#define NONCE "n-0123456789"
#define NOW 1700000000LL

static char dir[64];
static struct store *st;
static struct iam *iam;
static struct bw_err err;
static struct jose_jwk *key, *other_key;
static struct jose_jwks keys;

static int setup(void **state)
{
	bw_clock_set(NOW * 1000000000LL);
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-iam-fed-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = {.path = path,
				   .durability = STORE_DURABILITY_NORMAL};
	if (!(st = store_open(&so, &err)))
		return -1;
	struct iam_options o = {.store = st};
	uint8_t k[32] = {7};
	if (iam_sealer_local(&o.sealer, k, &err) < 0 || !(iam = iam_new(&o, &err)) ||
	    iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0 ||
	    iam_tenant_create(iam, "other", NULL, NULL, NULL, &err) < 0 ||
	    fed_migrate(iam, &err) < 0)
		return -1;
	key = jose_jwk_generate(JOSE_ALG_ES256, "k1", &err);
	other_key = jose_jwk_generate(JOSE_ALG_ES256, "k2", &err);
	jose_jwks_init(&keys);
	if (!key || !other_key ||
	    jose_jwks_add(&keys, jose_jwk_public(key, &err), &err) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	jose_jwks_fini(&keys);
	jose_jwk_free(key);
	jose_jwk_free(other_key);
	iam_free(iam);
	store_close(st);
	char cmd[128];
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A token signed by k with claims (a JSON object text). */
static void sign(const struct jose_jwk *k, const char *claims, struct bw_buf *out)
{
	struct jose_signer s;
	bw_buf_reset(out);
	assert_int_equal(jose_signer_local(&s, k, JOSE_ALG_ES256, &err), 0);
	s.kid = jose_jwk_kid(k);
	assert_int_equal(jose_jws_sign(&s, NULL, claims, strlen(claims), out, &err), 0);
}

static int check_claims(const struct jose_jwk *k, const char *claims,
			struct fed_identity *id)
{
	struct bw_buf tok;
	bw_buf_init(&tok, 8192);
	sign(k, claims, &tok);
	int rc = fed_check_id_token(&keys, ISS, AUD, NONCE, "preferred_username",
				    tok.data, tok.len, id, &err);
	bw_buf_fini(&tok);
	return rc;
}

#define GOOD_TAIL ",\"exp\":1700000300,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}"

static void id_token_good(void **state)
{
	struct fed_identity id;
	assert_int_equal(
	    check_claims(key,
			 "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u-42\","
			 "\"preferred_username\":\"alice\",\"email\":\"a@x.example\","
			 "\"email_verified\":true,\"name\":\"Alice\",\"amr\":[\"pwd\",\"otp\"]" GOOD_TAIL,
			 &id),
	    0);
	assert_string_equal(id.sub, "u-42");
	assert_string_equal(id.username, "alice");
	assert_string_equal(id.email, "a@x.example");
	assert_true(id.email_verified);
	assert_true(id.mfa);
	/* aud as an array with azp naming us is fine too. */
	assert_int_equal(check_claims(key,
				      "{\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\",\"api\"],"
				      "\"azp\":\"" AUD "\",\"sub\":\"u-42\"" GOOD_TAIL,
				      &id),
			 0);
	assert_false(id.email_verified);
	assert_false(id.mfa);
}

static void expect_refused(const struct jose_jwk *k, const char *claims,
			   const char *reason)
{
	struct fed_identity id;
	assert_int_equal(check_claims(k, claims, &id), -1);
	assert_int_equal(err.code, 401);
	assert_string_equal(err.reason, reason);
}

static void id_token_claims_refused(void **state)
{
	expect_refused(key, "{\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\",\"sub\":\"u\"" GOOD_TAIL,
		       "bad_iss");
	expect_refused(key, "{\"iss\":\"" ISS "/\",\"aud\":\"" AUD "\",\"sub\":\"u\"" GOOD_TAIL,
		       "bad_iss");
	expect_refused(key, "{\"iss\":\"" ISS "\",\"aud\":\"someone-else\",\"sub\":\"u\"" GOOD_TAIL,
		       "bad_aud");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\","
		       "\"exp\":1699999000,\"iat\":1699998000,\"nonce\":\"" NONCE "\"}",
		       "expired");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"nbf\":1700001000,"
		       "\"exp\":1700002000,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}",
		       "not_yet_valid");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\","
		       "\"iat\":1700000000,\"nonce\":\"" NONCE "\"}",
		       "missing_exp");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\","
		       "\"exp\":1700900000,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}",
		       "lifetime");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\","
		       "\"exp\":1700000300,\"iat\":1700000000,\"nonce\":\"other\"}",
		       "bad_nonce");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\","
		       "\"exp\":1700000300,\"iat\":1700000000}",
		       "bad_nonce");
	expect_refused(key, "{\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\",\"api\"],\"sub\":\"u\"" GOOD_TAIL,
		       "bad_azp");
	expect_refused(key,
		       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"azp\":\"another\",\"sub\":\"u\"" GOOD_TAIL,
		       "bad_azp");
	expect_refused(key, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"\"" GOOD_TAIL,
		       "bad_sub");
	expect_refused(key, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"" GOOD_TAIL, "bad_sub");
}

static void id_token_signature_attacks(void **state)
{
	struct fed_identity id;
	const char *claims = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\"" GOOD_TAIL;
	/* A key the upstream's set does not hold (kid "k2"). */
	expect_refused(other_key, claims, "unknown_kid");
	/* alg "none" with an empty signature. */
	struct bw_buf t;
	bw_buf_init(&t, 8192);
	assert_int_equal(bw_buf_append_str(&t, "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ."), 0);
	assert_int_equal(crypto_b64url_encode(claims, strlen(claims), &t), 0);
	assert_int_equal(bw_buf_append_str(&t, "."), 0);
	assert_int_equal(fed_check_id_token(&keys, ISS, AUD, NONCE, "preferred_username",
					    t.data, t.len, &id, &err),
			 -1);
	assert_string_equal(err.reason, "alg_none");
	/* HS256 keyed with the public key's JWK text (algorithm confusion). */
	struct bw_buf pub;
	bw_buf_init(&pub, 4096);
	struct jose_jwk *pk = jose_jwk_public(key, &err);
	struct json_writer jw;
	json_writer_init(&jw, &pub);
	assert_int_equal(jose_jwk_write(pk, false, &jw, &err), 0);
	assert_int_equal(json_writer_finish(&jw), 0);
	struct jose_jwk *hk =
	    jose_jwk_from_oct(pub.data, pub.len, "k1", JOSE_ALG_HS256, &err);
	assert_non_null(hk);
	struct jose_signer hs;
	assert_int_equal(jose_signer_local(&hs, hk, JOSE_ALG_HS256, &err), 0);
	hs.kid = "k1";
	bw_buf_reset(&t);
	assert_int_equal(jose_jws_sign(&hs, NULL, claims, strlen(claims), &t, &err), 0);
	assert_int_equal(fed_check_id_token(&keys, ISS, AUD, NONCE, "preferred_username",
					    t.data, t.len, &id, &err),
			 -1);
	assert_string_equal(err.reason, "alg_not_allowed");
	/* A valid token with its payload swapped keeps the old signature. */
	bw_buf_reset(&t);
	sign(key, claims, &t);
	char *dot1 = strchr(t.data, '.'), *dot2 = strchr(dot1 + 1, '.');
	struct bw_buf forged;
	bw_buf_init(&forged, 8192);
	const char *evil = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"admin\"" GOOD_TAIL;
	assert_int_equal(bw_buf_append(&forged, t.data, (size_t)(dot1 - t.data) + 1), 0);
	assert_int_equal(crypto_b64url_encode(evil, strlen(evil), &forged), 0);
	assert_int_equal(bw_buf_append_str(&forged, dot2), 0);
	assert_int_equal(fed_check_id_token(&keys, ISS, AUD, NONCE, "preferred_username",
					    forged.data, forged.len, &id, &err),
			 -1);
	assert_string_equal(err.reason, "bad_signature");
	/* Garbage and oversize. */
	assert_int_equal(fed_check_id_token(&keys, ISS, AUD, NONCE, "preferred_username",
					    "a.b", 3, &id, &err),
			 -1);
	jose_jwk_free(hk);
	jose_jwk_free(pk);
	bw_buf_fini(&pub);
	bw_buf_fini(&forged);
	bw_buf_fini(&t);
}

static void discovery_documents(void **state)
{
	struct fed_meta m;
	const char *good = "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
			   "/authorize\",\"token_endpoint\":\"" ISS "/token\",\"jwks_uri\":\"" ISS
			   "/jwks\",\"extra\":[1,2,{\"x\":null}]}";
	assert_int_equal(fed_parse_discovery(good, strlen(good), ISS, &m, &err), 0);
	assert_string_equal(m.token_endpoint, ISS "/token");
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"issuer\":\"https://evil.example\",\"authorization_endpoint\":\"https://a/\","
	    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
	    "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"http://evil.example/a\","
	    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
	    "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"https://a/a\","
	    "\"token_endpoint\":\"https://a/t\"}",
	    "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"https://user@a/a\","
	    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
	    "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"https://a/a#f\","
	    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
	    "{\"issuer\":\"" ISS "\",\"authorization_endpoint\":1,"
	    "\"token_endpoint\":\"https://a/t\",\"jwks_uri\":\"https://a/j\"}",
	    "{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\"}",
	    "{\"issuer\":\"" ISS "\\u0000\"}",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		assert_int_equal(fed_parse_discovery(bad[i], strlen(bad[i]), ISS, &m, &err), -1);
		assert_int_equal(err.code, 502);
	}
	/* Loopback http is allowed (local upstreams, tests). */
	const char *lo = "{\"issuer\":\"http://127.0.0.1:8080/o\",\"authorization_endpoint\":"
			 "\"http://127.0.0.1:8080/o/a\",\"token_endpoint\":\"http://localhost:8080/t\","
			 "\"jwks_uri\":\"http://[::1]:8080/j\"}";
	assert_int_equal(fed_parse_discovery(lo, strlen(lo), "http://127.0.0.1:8080/o", &m, &err), 0);
}

static void token_responses(void **state)
{
	char id[IAM_FED_ID_TOKEN_MAX + 1];
	const char *good = "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"id_token\":\"x.y.z\"}";
	assert_int_equal(fed_parse_token_response(good, strlen(good), id, sizeof(id), &err), 0);
	assert_string_equal(id, "x.y.z");
	static const char *const bad[] = {
	    "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}",
	    "{\"token_type\":\"mac\",\"id_token\":\"x.y.z\"}",
	    "{\"token_type\":\"Bearer\",\"id_token\":7}",
	    "{\"token_type\":\"Bearer\",\"id_token\":\"x\",\"id_token\":\"y\"}",
	    "not json",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
		assert_int_equal(fed_parse_token_response(bad[i], strlen(bad[i]), id, sizeof(id), &err),
				 -1);
	/* An ID token larger than the bound is refused, not truncated. */
	char small[8];
	assert_int_equal(fed_parse_token_response(good, strlen(good), small, 4, &err), -1);
}

static void helpers(void **state)
{
	assert_true(return_to_ok("acme", "/auth/acme/login"));
	assert_true(return_to_ok("acme", "/oidc/acme/authorize?client_id=x&state=y"));
	assert_true(return_to_ok("acme", "/oidc/acme/authorize"));
	static const char *const no[] = {"//evil.example/x", "https://evil.example/",
					 "/auth/other/login", "/oidc/acme/authorizeX",
					 "/auth/acme/../../admin", "/auth/acme/\\evil",
					 "/auth/acme/a b", "", "/oidc/other/authorize"};
	for (size_t i = 0; i < BW_ARRAY_LEN(no); i++)
		assert_false(return_to_ok("acme", no[i]));
	char v[64];
	struct bw_str h = bw_str_make("a=1; __Host-bw-fed-acme=st4te; b=2", 34);
	assert_true(cookie_value(h, "__Host-bw-fed-acme", v, sizeof(v)));
	assert_string_equal(v, "st4te");
	assert_false(cookie_value(h, "__Host-bw-fed-acm", v, sizeof(v)));
	assert_false(cookie_value(h, "__Host-bw-fed-acme", v, 3));
	assert_false(cookie_value(bw_str_make("", 0), "x", v, sizeof(v)));
	struct bw_buf b;
	bw_buf_init(&b, 256);
	assert_int_equal(pct_append(&b, "a b&c=d/é~"), 0);
	assert_string_equal(b.data, "a%20b%26c%3Dd%2F%C3%A9~");
	bw_buf_fini(&b);
	assert_true(url_ok("https://idp.example/o", IAM_FED_URL_MAX));
	assert_false(url_ok("https://", IAM_FED_URL_MAX));
	assert_false(url_ok("http://idp.example/o", IAM_FED_URL_MAX));
	assert_false(url_ok("https://idp.example/o x", IAM_FED_URL_MAX));
	assert_false(url_ok("javascript:alert(1)", IAM_FED_URL_MAX));
	char o[300];
	assert_int_equal(iam_http_origin(NULL, bw_str_make("id.example:8443", 15), true, o, sizeof(o)) >= 0, 1);
	assert_string_equal(o, "https://id.example:8443");
	assert_int_equal(iam_http_origin(NULL, bw_str_make("evil/x", 6), true, o, sizeof(o)), -1);
	assert_int_equal(iam_http_origin(NULL, bw_str_make("a@b", 3), true, o, sizeof(o)), -1);
	assert_int_equal(iam_http_origin("https://fixed.example", bw_str_make("x", 1), false, o, sizeof(o)) >= 0, 1);
	assert_string_equal(o, "https://fixed.example");
}

static void providers(void **state)
{
	struct iam_fed_provider p;
	struct iam_fed_provider_spec s = {.name = "corp", .issuer = ISS, .client_id = AUD,
					  .client_secret = "s3cret", .link_email = -1,
					  .provision = -1, .disabled = -1};
	assert_int_equal(iam_fed_provider_create(iam, "acme", &s, &p, &err), 0);
	assert_true(p.has_secret);
	assert_true(p.provision);
	assert_false(p.link_email);
	assert_string_equal(p.scopes, "openid profile email");
	assert_int_equal(iam_fed_provider_create(iam, "acme", &s, &p, &err), -1);
	assert_int_equal(err.code, 409);
	/* The secret opens only for its own tenant and provider. */
	struct bw_buf sec;
	bw_buf_init(&sec, 1024);
	assert_int_equal(provider_secret(iam, "acme", "corp", &sec, &err), 0);
	assert_string_equal(sec.data, "s3cret");
	bw_buf_fini(&sec);
	/* Isolation: another tenant sees nothing. */
	assert_int_equal(iam_fed_provider_get(iam, "other", "corp", &p, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_fed_provider_delete(iam, "other", "corp", &err), -1);
	assert_int_equal(err.code, 404);
	/* Validation. */
	static const struct {
		const char *name, *issuer, *client_id, *scopes;
	} bad[] = {
	    {"Corp", ISS, "c", NULL},	      {"-x", ISS, "c", NULL},
	    {"x", "http://evil.example", "c", NULL}, {"x", ISS, "c d", NULL},
	    {"x", ISS, "c", "profile email"},  {"x", NULL, "c", NULL},
	    {"x", "https://a.example/#f", "c", NULL},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct iam_fed_provider_spec b = {.name = bad[i].name, .issuer = bad[i].issuer,
						  .client_id = bad[i].client_id,
						  .scopes = bad[i].scopes, .link_email = -1,
						  .provision = -1, .disabled = -1};
		assert_int_equal(iam_fed_provider_create(iam, "acme", &b, NULL, &err), -1);
		assert_int_equal(err.code, 400);
	}
	/* Update: flags, secret cleared. */
	struct iam_fed_provider_spec u = {.client_secret = "", .link_email = 1, .provision = 0,
					  .disabled = -1};
	assert_int_equal(iam_fed_provider_update(iam, "acme", "corp", &u, &p, &err), 0);
	assert_false(p.has_secret);
	assert_true(p.link_email);
	assert_false(p.provision);
	assert_int_equal(iam_fed_provider_update(iam, "acme", "nope", &u, &p, &err), -1);
	assert_int_equal(err.code, 404);
	/* The per-tenant bound. */
	for (int i = 1; i < IAM_FED_PROVIDERS_MAX; i++) {
		char n[16];
		bw_snprintf(n, sizeof(n), "p%d", i);
		struct iam_fed_provider_spec x = {.name = n, .issuer = ISS, .client_id = "c",
						  .link_email = -1, .provision = -1, .disabled = -1};
		assert_int_equal(iam_fed_provider_create(iam, "acme", &x, NULL, &err), 0);
	}
	struct iam_fed_provider_spec x = {.name = "one-more", .issuer = ISS, .client_id = "c",
					  .link_email = -1, .provision = -1, .disabled = -1};
	assert_int_equal(iam_fed_provider_create(iam, "acme", &x, NULL, &err), -1);
	assert_int_equal(err.code, 413);
	for (int i = 1; i < IAM_FED_PROVIDERS_MAX; i++) {
		char n[16];
		bw_snprintf(n, sizeof(n), "p%d", i);
		assert_int_equal(iam_fed_provider_delete(iam, "acme", n, &err), 0);
	}
	assert_int_equal(iam_fed_provider_delete(iam, "acme", "corp", &err), 0);
	assert_int_equal(iam_fed_provider_get(iam, "acme", "corp", &p, &err), -1);
}

static void linking(void **state)
{
	struct iam_fed_provider_spec s = {.name = "up", .issuer = ISS, .client_id = AUD,
					  .link_email = 0, .provision = 1, .disabled = -1};
	struct iam_fed_provider p;
	assert_int_equal(iam_fed_provider_create(iam, "acme", &s, &p, &err), 0);
	/* A local "alice" exists: the upstream alice must not take it over. */
	struct iam_user local, u, again;
	struct iam_user_spec ls = {.name = "alice", .email = "alice@x.example"};
	assert_int_equal(iam_user_create(iam, "acme", &ls, &local, &err), 0);
	struct fed_identity id = {.sub = "sub-1", .username = "alice",
				  .email = "alice@x.example", .email_verified = false};
	bool created;
	assert_int_equal(resolve_user(iam, "acme", &p, &id, &u, &created, &err), 0);
	assert_true(created);
	assert_string_not_equal(u.id, local.id);
	assert_string_equal(u.name, "alice-up");
	assert_string_equal(u.email, ""); /* unverified e-mail not copied */
	assert_non_null(strstr(u.attrs, "\"subject\":\"sub-1\""));
	assert_int_equal(resolve_user(iam, "acme", &p, &id, &again, &created, &err), 0);
	assert_false(created);
	assert_string_equal(again.id, u.id);
	/* Disabled: refused. */
	assert_int_equal(iam_user_set_disabled(iam, "acme", u.id, true, &err), 0);
	assert_int_equal(resolve_user(iam, "acme", &p, &id, &again, &created, &err), -1);
	assert_string_equal(err.reason, "disabled");
	/* Deleting the user deletes the link: a new account next time. */
	assert_int_equal(iam_user_delete(iam, "acme", u.id, &err), 0);
	char uid[IAM_ID_LEN + 1];
	assert_int_equal(link_find(iam, "acme", "up", "sub-1", uid, &err), 0);
	/* Link by verified e-mail, provisioning off. */
	struct iam_fed_provider_spec ch = {.link_email = 1, .provision = 0, .disabled = -1};
	assert_int_equal(iam_fed_provider_update(iam, "acme", "up", &ch, &p, &err), 0);
	assert_int_equal(resolve_user(iam, "acme", &p, &id, &u, &created, &err), -1);
	assert_string_equal(err.reason, "not_linked"); /* e-mail not verified */
	id.email_verified = true;
	assert_int_equal(resolve_user(iam, "acme", &p, &id, &u, &created, &err), 0);
	assert_false(created);
	assert_string_equal(u.id, local.id);
	/* The same subject in another tenant is another person. */
	assert_int_equal(link_find(iam, "other", "up", "sub-1", uid, &err), 0);
	/* No user name claim: the provider-hash name. */
	ch = (struct iam_fed_provider_spec){.link_email = 0, .provision = 1, .disabled = -1};
	assert_int_equal(iam_fed_provider_update(iam, "acme", "up", &ch, &p, &err), 0);
	struct fed_identity anon = {.sub = "sub-2"};
	assert_int_equal(resolve_user(iam, "acme", &p, &anon, &u, &created, &err), 0);
	assert_true(created);
	assert_int_equal(strncmp(u.name, "up-", 3), 0);
	/* Deleting the provider deletes its links, not the users. */
	assert_int_equal(iam_fed_provider_delete(iam, "acme", "up", &err), 0);
	assert_int_equal(link_find(iam, "acme", "up", "sub-2", uid, &err), 0);
	assert_int_equal(iam_user_get(iam, "acme", u.id, &again, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(id_token_good),
	    cmocka_unit_test(id_token_claims_refused),
	    cmocka_unit_test(id_token_signature_attacks),
	    cmocka_unit_test(discovery_documents),
	    cmocka_unit_test(token_responses),
	    cmocka_unit_test(helpers),
	    cmocka_unit_test(providers),
	    cmocka_unit_test(linking),
	};
	log_init("test", BW_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, setup, teardown);
}
