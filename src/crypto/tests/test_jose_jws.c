/* Unit tests for JWS and JWT: the RFC 7515 appendix A and RFC 8037
 * vectors, sign/verify round trips for every algorithm, and the attacks a
 * token verifier must survive (alg "none", HS256 signed with an RSA public
 * key, algorithm confusion both ways, kid injection, embedded keys, crit,
 * oversized and malformed tokens, DER and zero ECDSA signatures), then the
 * JWT claim rules with a settable clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "jose_vectors.h"

#define ALL_ALGS (JOSE_ALGS_ASYMMETRIC | JOSE_ALG_BIT(JOSE_ALG_HS256))

static struct bw_arena *arena;

static int setup(void **state)
{
	arena = bw_arena_new(8192, 8 << 20);
	return arena ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(arena);
	bw_clock_set(0);
	return 0;
}

static struct jose_jwk *key(const char *s)
{
	struct bw_err err;
	struct jose_jwk *k = jose_jwk_parse(s, strlen(s), &err);
	if (!k)
		fail_msg("key rejected: %s", err.msg);
	return k;
}

/* A key set holding the given keys (ownership moves to the set). */
static void set_of(struct jose_jwks *s, struct jose_jwk *a, struct jose_jwk *b)
{
	struct bw_err err;
	jose_jwks_init(s);
	if (a)
		assert_int_equal(jose_jwks_add(s, a, &err), 0);
	if (b)
		assert_int_equal(jose_jwks_add(s, b, &err), 0);
}

static int verify(const struct jose_jwks *s, unsigned algs, const char *tok,
		  struct jose_jws *out, struct bw_err *err)
{
	struct jose_verifier v = { .keys = s, .algs = algs };
	bw_err_clear(err);
	return jose_jws_verify(&v, tok, strlen(tok), arena, out, err);
}

static void expect_fail(const struct jose_jwks *s, unsigned algs, const char *tok,
			const char *reason)
{
	struct jose_jws out;
	struct bw_err err;
	if (verify(s, algs, tok, &out, &err) == 0)
		fail_msg("accepted %.80s", tok);
	if (strcmp(err.reason, reason) != 0)
		fail_msg("%.60s: reason %s (%s), want %s", tok, err.reason, err.msg, reason);
}

/* b64(header).b64(payload).sig where sig is made with k under alg (or
 * raw_sig is appended as given when k is NULL). Caller frees. */
static char *make(const char *header, const char *payload, const struct jose_jwk *k,
		  enum jose_alg alg, const char *raw_sig)
{
	struct bw_buf b;
	struct bw_err err;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(crypto_b64url_encode(header, strlen(header), &b), 0);
	assert_int_equal(bw_buf_append_byte(&b, '.'), 0);
	assert_int_equal(crypto_b64url_encode(payload, strlen(payload), &b), 0);
	if (k) {
		struct jose_signer s;
		uint8_t sig[JOSE_SIG_MAX];
		size_t sl = 0;
		assert_int_equal(jose_signer_local(&s, k, alg, &err), 0);
		assert_int_equal(s.sign(s.ctx, alg, (const uint8_t *)b.data, b.len, sig,
					sizeof(sig), &sl, &err), 0);
		assert_int_equal(bw_buf_append_byte(&b, '.'), 0);
		assert_int_equal(crypto_b64url_encode(sig, sl, &b), 0);
	} else {
		assert_int_equal(bw_buf_append_byte(&b, '.'), 0);
		assert_int_equal(bw_buf_append_str(&b, raw_sig), 0);
	}
	size_t n;
	return bw_buf_detach(&b, &n);
}

static void rfc_vectors_verify(void **state)
{
	static const struct {
		const char *key, *jws;
		enum jose_alg alg;
	} vec[] = {
		{ A1_KEY, A1_JWS, JOSE_ALG_HS256 },
		{ A2_PUB, A2_JWS, JOSE_ALG_RS256 },
		{ A3_PUB, A3_JWS, JOSE_ALG_ES256 },
		{ ED_PUB, ED_JWS, JOSE_ALG_EDDSA },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(vec); i++) {
		struct jose_jwks s;
		struct jose_jws out;
		struct bw_err err;
		set_of(&s, key(vec[i].key), NULL);
		if (verify(&s, ALL_ALGS, vec[i].jws, &out, &err) != 0)
			fail_msg("vector %zu: %s (%s)", i, err.msg, err.reason);
		assert_int_equal(out.alg, vec[i].alg);
		if (i < 3)
			assert_non_null(strstr((const char *)out.payload, "\"iss\":\"joe\""));
		else
			assert_string_equal((const char *)out.payload, "Example of Ed25519 signing");
		/* Flip one bit of the signature's first character. */
		char *t = strdup(vec[i].jws);
		char *sig = strrchr(t, '.') + 1;
		sig[0] = sig[0] == 'A' ? 'B' : 'A';
		expect_fail(&s, ALL_ALGS, t, "bad_signature");
		/* Change the payload. */
		char *p = strchr(t, '.') + 1;
		p[1] = p[1] == 'X' ? 'Y' : 'X';
		expect_fail(&s, ALL_ALGS, t, "bad_signature");
		free(t);
		/* The allow-list excludes this alg. */
		expect_fail(&s, ALL_ALGS & ~JOSE_ALG_BIT(vec[i].alg), vec[i].jws,
			    "alg_not_allowed");
		jose_jwks_fini(&s);
	}
	/* The RFC 8037 signature is deterministic: signing gives the same. */
	struct jose_jwk *ed = key(ED_PRIV);
	char *t = make("{\"alg\":\"EdDSA\"}", "Example of Ed25519 signing", ed,
		       JOSE_ALG_EDDSA, NULL);
	assert_string_equal(t, ED_JWS);
	free(t);
	jose_jwk_free(ed);
	/* HS256 is deterministic too (RFC 7515 A.1). */
	struct jose_jwk *hk = key(A1_KEY);
	t = make("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}",
		 "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}",
		 hk, JOSE_ALG_HS256, NULL);
	assert_string_equal(t, A1_JWS);
	free(t);
	jose_jwk_free(hk);
}

static void sign_verify_every_alg(void **state)
{
	enum jose_alg algs[] = { JOSE_ALG_HS256, JOSE_ALG_RS256, JOSE_ALG_PS256,
				 JOSE_ALG_ES256, JOSE_ALG_ES384, JOSE_ALG_EDDSA };
	for (size_t i = 0; i < BW_ARRAY_LEN(algs); i++) {
		struct bw_err err;
		struct jose_jwk *k = jose_jwk_generate(algs[i], NULL, &err);
		assert_non_null(k);
		struct jose_signer sg;
		assert_int_equal(jose_signer_local(&sg, k, JOSE_ALG_INVALID, &err), 0);
		struct bw_buf tok;
		bw_buf_init(&tok, JOSE_TOKEN_MAX_DEFAULT);
		assert_int_equal(jose_jws_sign(&sg, "JWT", "{\"a\":1}", 7, &tok, &err), 0);
		struct jose_jwks s;
		struct jose_jwk *verify_key = algs[i] == JOSE_ALG_HS256 ? k : jose_jwk_public(k, &err);
		assert_non_null(verify_key);
		set_of(&s, verify_key, NULL);
		struct jose_jws out;
		if (verify(&s, ALL_ALGS, tok.data, &out, &err) != 0)
			fail_msg("%s: %s", jose_alg_name(algs[i]), err.msg);
		assert_int_equal(out.alg, algs[i]);
		assert_true(bw_str_eq_lit(out.kid, jose_jwk_kid(k)));
		assert_true(bw_str_eq_lit(out.typ, "JWT"));
		assert_string_equal((const char *)out.payload, "{\"a\":1}");
		jose_jwks_fini(&s);
		if (algs[i] != JOSE_ALG_HS256)
			jose_jwk_free(k);
		bw_buf_fini(&tok);
	}
	/* A public key cannot sign. */
	struct jose_jwk *pub = key(A3_PUB);
	struct jose_signer sg;
	struct bw_err err;
	assert_int_equal(jose_signer_local(&sg, pub, JOSE_ALG_ES256, &err), -1);
	assert_string_equal(err.reason, "key_unusable");
	jose_jwk_free(pub);
}

static void alg_none_is_refused(void **state)
{
	struct jose_jwks s;
	set_of(&s, key(A3_PUB), key(A1_KEY));
	const char *none[] = { "{\"alg\":\"none\"}", "{\"alg\":\"None\"}",
			       "{\"alg\":\"NONE\"}", "{\"alg\":\"nOnE\"}" };
	for (size_t i = 0; i < BW_ARRAY_LEN(none); i++) {
		char *t = make(none[i], "{\"sub\":\"admin\"}", NULL, 0, "");
		expect_fail(&s, ALL_ALGS, t, "alg_none");
		free(t);
		t = make(none[i], "{\"sub\":\"admin\"}", NULL, 0, "AAAA");
		expect_fail(&s, ALL_ALGS, t, "alg_none");
		free(t);
	}
	/* The RFC 7515 A.5 unsecured JWS itself. */
	expect_fail(&s, ALL_ALGS, "eyJhbGciOiJub25lIn0." RFC7515_PAYLOAD_B64 ".", "alg_none");
	/* Unknown, misspelt and absent algs. */
	char *t = make("{\"alg\":\"hs256\"}", "{}", NULL, 0, "AAAA");
	expect_fail(&s, ALL_ALGS, t, "alg_unknown");
	free(t);
	t = make("{\"alg\":\"HS512\"}", "{}", NULL, 0, "AAAA");
	expect_fail(&s, ALL_ALGS, t, "alg_unknown");
	free(t);
	t = make("{\"typ\":\"JWT\"}", "{}", NULL, 0, "AAAA");
	expect_fail(&s, ALL_ALGS, t, "bad_header");
	free(t);
	t = make("{\"alg\":[\"HS256\"]}", "{}", NULL, 0, "AAAA");
	expect_fail(&s, ALL_ALGS, t, "bad_header");
	free(t);
	jose_jwks_fini(&s);
}

static void hs256_with_public_key_as_secret(void **state)
{
	/* The classic confusion: the attacker HMACs with the verifier's RSA
	 * public key (its JWK text, its modulus bytes) as the secret. */
	struct jose_jwks s;
	struct bw_err err;
	set_of(&s, key("{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}"),
	       NULL);
	const char *secrets[] = { A2_PUB, A2_N };
	for (size_t i = 0; i < BW_ARRAY_LEN(secrets); i++) {
		struct jose_jwk *fake = jose_jwk_from_oct(secrets[i], strlen(secrets[i]), "x",
							  JOSE_ALG_HS256, &err);
		assert_non_null(fake);
		char *t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"admin\"}", fake,
			       JOSE_ALG_HS256, NULL);
		/* Even a verifier that (wrongly) allows HS256 finds no key
		 * that can do HMAC. */
		expect_fail(&s, ALL_ALGS, t, "no_key");
		expect_fail(&s, JOSE_ALGS_ASYMMETRIC, t, "alg_not_allowed");
		free(t);
		t = make("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", "{\"sub\":\"admin\"}", fake,
			 JOSE_ALG_HS256, NULL);
		expect_fail(&s, ALL_ALGS, t, "key_alg_mismatch");
		free(t);
		jose_jwk_free(fake);
	}
	jose_jwks_fini(&s);

	/* The other way: an HMAC verifier never accepts asymmetric tokens. */
	struct jose_jwk *rsa = key(A2_PRIV);
	set_of(&s, key(A1_KEY), NULL);
	char *t = make("{\"alg\":\"RS256\"}", "{}", rsa, JOSE_ALG_RS256, NULL);
	expect_fail(&s, JOSE_ALG_BIT(JOSE_ALG_HS256), t, "alg_not_allowed");
	expect_fail(&s, ALL_ALGS, t, "no_key");
	free(t);
	jose_jwks_fini(&s);

	/* A key pinned to RS256 does not verify PS256 (and ES256 keys do
	 * not verify ES384). */
	set_of(&s, key("{\"kty\":\"RSA\",\"alg\":\"RS256\",\"n\":\"" A2_N "\",\"e\":\"AQAB\"}"),
	       NULL);
	t = make("{\"alg\":\"PS256\"}", "{}", rsa, JOSE_ALG_PS256, NULL);
	expect_fail(&s, ALL_ALGS, t, "no_key");
	free(t);
	jose_jwks_fini(&s);
	jose_jwk_free(rsa);
}

static void kid_handling(void **state)
{
	struct jose_jwks s;
	struct bw_err err;
	struct jose_jwk *signer = key(A3_PRIV);
	set_of(&s, key("{\"kty\":\"EC\",\"kid\":\"good\",\"crv\":\"P-256\",\"x\":\"" A3_X
		       "\",\"y\":\"" A3_Y "\"}"),
	       key("{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"" A2_N "\"}"));
	char *t = make("{\"alg\":\"ES256\",\"kid\":\"good\"}", "{}", signer, JOSE_ALG_ES256, NULL);
	struct jose_jws out;
	assert_int_equal(verify(&s, ALL_ALGS, t, &out, &err), 0);
	free(t);
	/* Injection attempts only ever miss the lookup. */
	const char *kids[] = { "../../../../dev/null", "' OR '1'='1", "good\\u0000",
			       "goo", "GOOD", "good ", "" };
	for (size_t i = 0; i < BW_ARRAY_LEN(kids); i++) {
		char h[128];
		snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kids[i]);
		t = make(h, "{}", signer, JOSE_ALG_ES256, NULL);
		expect_fail(&s, ALL_ALGS, t, "unknown_kid");
		free(t);
	}
	t = make("{\"alg\":\"ES256\",\"kid\":7}", "{}", signer, JOSE_ALG_ES256, NULL);
	expect_fail(&s, ALL_ALGS, t, "bad_header");
	free(t);
	char h[512];
	char longkid[JOSE_KID_MAX + 2];
	memset(longkid, 'k', sizeof(longkid) - 1);
	longkid[sizeof(longkid) - 1] = 0;
	snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", longkid);
	t = make(h, "{}", signer, JOSE_ALG_ES256, NULL);
	expect_fail(&s, ALL_ALGS, t, "bad_header");
	free(t);
	/* The kid of an HMAC key with an ES256 token: mismatch. */
	t = make("{\"alg\":\"ES256\",\"kid\":\"hmac\"}", "{}", signer, JOSE_ALG_ES256, NULL);
	expect_fail(&s, ALL_ALGS, t, "key_alg_mismatch");
	free(t);
	/* Without a kid every usable key is tried. */
	t = make("{\"alg\":\"ES256\"}", "{}", signer, JOSE_ALG_ES256, NULL);
	assert_int_equal(verify(&s, ALL_ALGS, t, &out, &err), 0);
	free(t);
	jose_jwks_fini(&s);
	jose_jwk_free(signer);
}

static void header_attacks(void **state)
{
	struct jose_jwks s;
	struct jose_jwk *signer = key(A3_PRIV);
	set_of(&s, key(A3_PUB), NULL);
	const char *hdrs[][2] = {
		{ "{\"alg\":\"ES256\",\"jwk\":" A3_PUB "}", "embedded_key" },
		{ "{\"alg\":\"ES256\",\"jku\":\"https://evil.example/jwks\"}", "embedded_key" },
		{ "{\"alg\":\"ES256\",\"x5u\":\"https://evil.example/c\"}", "embedded_key" },
		{ "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", "crit" },
		{ "{\"alg\":\"ES256\",\"crit\":[]}", "crit" },
		{ "{\"alg\":\"ES256\",\"b64\":false,\"crit\":[\"b64\"]}", "crit" },
		{ "{\"alg\":\"ES256\",\"alg\":\"HS256\"}", "bad_header" },
		{ "{\"alg\":\"ES256\",\"typ\":1}", "bad_header" },
		{ "[\"ES256\"]", "bad_header" },
		{ "{\"alg\":\"ES256\"", "bad_header" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(hdrs); i++) {
		char *t = make(hdrs[i][0], "{}", signer, JOSE_ALG_ES256, NULL);
		expect_fail(&s, ALL_ALGS, t, hdrs[i][1]);
		free(t);
	}
	jose_jwks_fini(&s);
	jose_jwk_free(signer);
}

static void malformed_tokens(void **state)
{
	struct jose_jwks s;
	set_of(&s, key(A3_PUB), NULL);
	expect_fail(&s, ALL_ALGS, "", "malformed");
	expect_fail(&s, ALL_ALGS, "abc", "malformed");
	expect_fail(&s, ALL_ALGS, "a.b", "malformed");
	expect_fail(&s, ALL_ALGS, "a.b.c.d", "malformed");
	expect_fail(&s, ALL_ALGS, ".e30.AAAA", "malformed");
	expect_fail(&s, ALL_ALGS, "eyJhbGciOiJFUzI1NiJ9.e30.", "bad_signature");
	/* Padding, whitespace and non-canonical bits anywhere. */
	expect_fail(&s, ALL_ALGS, "eyJhbGciOiJFUzI1NiJ9=.e30.AAAA", "bad_base64url");
	expect_fail(&s, ALL_ALGS, "eyJhbGciOiJFUzI1NiJ9.e30.AA AA", "bad_base64url");
	char *t = strdup(A3_JWS);
	size_t n = strlen(t);
	/* The last character carries 4 unused bits; "Q" -> "R" sets one. */
	assert_int_equal(t[n - 1], 'Q');
	t[n - 1] = 'R';
	expect_fail(&s, ALL_ALGS, t, "bad_base64url");
	free(t);
	/* DER-encoded ECDSA instead of R||S: refused by length. */
	struct bw_err err;
	struct jose_jwk *priv = key(A3_PRIV);
	assert_non_null(jose_jwk_pkey(priv));
	/* A 70-byte signature (typical DER length). */
	uint8_t der[70];
	char enc[128];
	memset(der, 0x30, sizeof(der));
	crypto_b64url_encode_to(der, sizeof(der), enc);
	t = make("{\"alg\":\"ES256\"}", "{}", NULL, 0, enc);
	expect_fail(&s, ALL_ALGS, t, "bad_signature");
	free(t);
	/* r = s = 0 ("psychic signatures", CVE-2022-21449). */
	uint8_t zero[64] = { 0 };
	crypto_b64url_encode_to(zero, sizeof(zero), enc);
	t = make("{\"alg\":\"ES256\"}", "{}", NULL, 0, enc);
	expect_fail(&s, ALL_ALGS, t, "bad_signature");
	free(t);
	/* r = s = n (the group order) is out of range too. */
	uint8_t order[64];
	size_t ol;
	const char *n_b64 = "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE";
	assert_int_equal(crypto_b64url_decode(n_b64, strlen(n_b64), order, 32, &ol, &err), 0);
	memcpy(order + 32, order, 32);
	crypto_b64url_encode_to(order, sizeof(order), enc);
	t = make("{\"alg\":\"ES256\"}", "{}", NULL, 0, enc);
	expect_fail(&s, ALL_ALGS, t, "bad_signature");
	free(t);
	jose_jwk_free(priv);
	/* Oversized: default limit, and a verifier's own smaller one. */
	size_t big = JOSE_TOKEN_MAX_DEFAULT + 1;
	char *huge = malloc(big + 1);
	memset(huge, 'A', big);
	huge[big] = 0;
	huge[10] = '.';
	huge[20] = '.';
	expect_fail(&s, ALL_ALGS, huge, "too_large");
	struct jose_verifier v = { .keys = &s, .algs = ALL_ALGS, .max_token = 100 };
	struct jose_jws out;
	assert_int_equal(jose_jws_verify(&v, A3_JWS, strlen(A3_JWS), arena, &out, &err), -1);
	assert_int_equal(err.code, 413);
	free(huge);
	/* A verifier without keys or algorithms accepts nothing. */
	expect_fail(&s, 0, A3_JWS, "alg_not_allowed");
	struct jose_verifier nokeys = { .keys = NULL, .algs = ALL_ALGS };
	assert_int_equal(jose_jws_verify(&nokeys, A3_JWS, strlen(A3_JWS), arena, &out, &err), -1);
	jose_jwks_fini(&s);
}

/* ---------------------------------------------------------------- JWT */

static struct jose_jwk *jwt_key;
static struct jose_jwks jwt_set;

static char *jwt(const char *claims, const char *typ)
{
	struct jose_signer sg;
	struct bw_err err;
	struct bw_buf b;
	assert_int_equal(jose_signer_local(&sg, jwt_key, JOSE_ALG_ES256, &err), 0);
	bw_buf_init(&b, JOSE_TOKEN_MAX_DEFAULT);
	assert_int_equal(jose_jws_sign(&sg, typ, claims, strlen(claims), &b, &err), 0);
	size_t n;
	return bw_buf_detach(&b, &n);
}

static int check(const char *claims, const char *typ, const struct jose_jwt_rules *r,
		 struct bw_err *err)
{
	char *t = jwt(claims, typ);
	struct jose_verifier v = { .keys = &jwt_set, .algs = JOSE_ALGS_ASYMMETRIC };
	struct jose_jwt out;
	bw_err_clear(err);
	int rc = jose_jwt_verify(&v, r, t, strlen(t), arena, &out, err);
	free(t);
	return rc;
}

static void jwt_expect(const char *claims, const char *typ, const struct jose_jwt_rules *r,
		       const char *reason)
{
	struct bw_err err;
	int rc = check(claims, typ, r, &err);
	if (!reason) {
		if (rc != 0)
			fail_msg("%s refused: %s (%s)", claims, err.msg, err.reason);
		return;
	}
	if (rc == 0)
		fail_msg("%s accepted", claims);
	if (strcmp(err.reason, reason) != 0)
		fail_msg("%s: reason %s, want %s", claims, err.reason, reason);
}

static void jwt_claims(void **state)
{
	struct bw_err err;
	jwt_key = jose_jwk_generate(JOSE_ALG_ES256, "jwt", &err);
	set_of(&jwt_set, jose_jwk_public(jwt_key, &err), NULL);
	bw_clock_set(1700000000LL * 1000000000LL);
	struct jose_jwt_rules r = { .issuer = "https://idp.example", .audience = "api",
				    .leeway_s = 30, .require_exp = true };
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1700000100}", NULL,
		   &r, NULL);
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"api\"],\"exp\":1700000100,"
		   "\"iat\":1700000000,\"nbf\":1700000000,\"sub\":\"u1\"}", NULL, &r, NULL);
	/* exp: within leeway still valid, at exp + leeway expired. */
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1699999971}", NULL,
		   &r, NULL);
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1699999970}", NULL,
		   &r, "expired");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\"}", NULL, &r, "missing_exp");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":\"1800000000\"}",
		   NULL, &r, "bad_claims");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":-5}", NULL, &r,
		   "bad_claims");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1e300}", NULL, &r,
		   "bad_claims");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":9223372036854775807}",
		   NULL, &r, NULL); /* no overflow in the comparison */
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1700000100.5}", NULL,
		   &r, NULL);
	/* nbf and iat. */
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1700000100,"
		   "\"nbf\":1700000031}", NULL, &r, "not_yet_valid");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1700000100,"
		   "\"nbf\":1700000030}", NULL, &r, NULL);
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"exp\":1700000100,"
		   "\"iat\":1700000031}", NULL, &r, "iat_future");
	/* iss and aud. */
	jwt_expect("{\"iss\":\"https://evil.example\",\"aud\":\"api\",\"exp\":1700000100}", NULL,
		   &r, "bad_iss");
	jwt_expect("{\"aud\":\"api\",\"exp\":1700000100}", NULL, &r, "bad_iss");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":\"apix\",\"exp\":1700000100}", NULL,
		   &r, "bad_aud");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":[],\"exp\":1700000100}", NULL, &r,
		   "bad_aud");
	jwt_expect("{\"iss\":\"https://idp.example\",\"aud\":[1],\"exp\":1700000100}", NULL, &r,
		   "bad_claims");
	jwt_expect("{\"iss\":\"https://idp.example\",\"exp\":1700000100}", NULL, &r, "bad_aud");
	jwt_expect("{\"iss\":1,\"aud\":\"api\",\"exp\":1700000100}", NULL, &r, "bad_claims");
	/* A verifier without an audience refuses tokens that name one. */
	struct jose_jwt_rules noaud = { .leeway_s = -1 };
	jwt_expect("{\"aud\":\"api\"}", NULL, &noaud, "bad_aud");
	jwt_expect("{\"sub\":\"x\"}", NULL, &noaud, NULL);
	/* Claims must be an object. */
	jwt_expect("[1,2]", NULL, &noaud, "bad_claims");
	jwt_expect("not json", NULL, &noaud, "bad_claims");
	/* typ. */
	struct jose_jwt_rules typr = { .typ = "at+jwt", .leeway_s = 0 };
	jwt_expect("{}", "at+jwt", &typr, NULL);
	jwt_expect("{}", "application/AT+JWT", &typr, NULL);
	jwt_expect("{}", "JWT", &typr, "bad_typ");
	jwt_expect("{}", NULL, &typr, "bad_typ");
	/* Maximum lifetime. */
	struct jose_jwt_rules life = { .max_lifetime_s = 3600, .leeway_s = 0 };
	jwt_expect("{\"iat\":1700000000,\"exp\":1700003600}", NULL, &life, NULL);
	jwt_expect("{\"iat\":1700000000,\"exp\":1700003601}", NULL, &life, "lifetime");
	/* Leeway is clamped to the maximum. */
	struct jose_jwt_rules huge = { .leeway_s = 1000000 };
	jwt_expect("{\"exp\":1699999000}", NULL, &huge, "expired");
	/* Moving the clock expires a token that was valid. */
	bw_clock_set(1700000000LL * 1000000000LL);
	jwt_expect("{\"exp\":1700000010}", NULL, &noaud, NULL);
	bw_clock_advance(71LL * 1000000000LL);
	jwt_expect("{\"exp\":1700000010}", NULL, &noaud, "expired");
	bw_clock_set(0);
	jose_jwks_fini(&jwt_set);
	jose_jwk_free(jwt_key);
}

static void rfc7515_jwt_expires(void **state)
{
	/* The RFC's example JWT expires at 1300819380. */
	struct jose_jwks s;
	set_of(&s, key(A3_PUB), NULL);
	struct jose_verifier v = { .keys = &s, .algs = JOSE_ALGS_ASYMMETRIC };
	struct jose_jwt_rules r = { .issuer = "joe", .leeway_s = 0 };
	struct jose_jwt out;
	struct bw_err err;
	bw_clock_set((int64_t)(RFC7515_EXP - 1) * 1000000000LL);
	assert_int_equal(jose_jwt_verify(&v, &r, A3_JWS, strlen(A3_JWS), arena, &out, &err), 0);
	assert_int_equal(out.exp, RFC7515_EXP);
	assert_true(bw_str_eq_lit(out.iss, "joe"));
	assert_true(json_get_bool(out.claims, "http://example.com/is_root", false));
	bw_clock_set((int64_t)RFC7515_EXP * 1000000000LL);
	assert_int_equal(jose_jwt_verify(&v, &r, A3_JWS, strlen(A3_JWS), arena, &out, &err), -1);
	assert_string_equal(err.reason, "expired");
	bw_clock_set(0);
	jose_jwks_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc_vectors_verify),
		cmocka_unit_test(sign_verify_every_alg),
		cmocka_unit_test(alg_none_is_refused),
		cmocka_unit_test(hs256_with_public_key_as_secret),
		cmocka_unit_test(kid_handling),
		cmocka_unit_test(header_attacks),
		cmocka_unit_test(malformed_tokens),
		cmocka_unit_test(jwt_claims),
		cmocka_unit_test(rfc7515_jwt_expires),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
