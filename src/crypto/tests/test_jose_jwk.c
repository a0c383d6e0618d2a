/* Unit tests for JWK parsing, writing and thumbprints (RFC 7517, 7518,
 * 7638, 8037 vectors) and JWKS documents, including every malformed key
 * the parser must refuse and the reason it must give. */
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

static struct jose_jwk *ok(const char *s)
{
	struct bw_err err;
	bw_err_clear(&err);
	struct jose_jwk *k = jose_jwk_parse(s, strlen(s), &err);
	if (!k)
		fail_msg("rejected %.60s: %s (%s)", s, err.msg, err.reason);
	return k;
}

static void bad(const char *s, int code, const char *reason)
{
	struct bw_err err;
	bw_err_clear(&err);
	struct jose_jwk *k = jose_jwk_parse(s, strlen(s), &err);
	if (k) {
		jose_jwk_free(k);
		fail_msg("accepted %.80s", s);
	}
	assert_int_equal(err.code, code);
	if (strcmp(err.reason, reason) != 0)
		fail_msg("%.60s: reason %s, want %s (%s)", s, err.reason, reason, err.msg);
}

static void parses_rfc_keys(void **state)
{
	struct jose_jwk *k = ok(A1_KEY);
	assert_int_equal(jose_jwk_kty(k), JOSE_KTY_OCT);
	assert_true(jose_jwk_is_private(k));
	assert_true(jose_jwk_usable(k, JOSE_ALG_HS256, JOSE_OP_VERIFY));
	assert_false(jose_jwk_usable(k, JOSE_ALG_RS256, JOSE_OP_VERIFY));
	jose_jwk_free(k);

	k = ok(A2_PRIV);
	assert_int_equal(jose_jwk_kty(k), JOSE_KTY_RSA);
	assert_true(jose_jwk_is_private(k));
	assert_true(jose_jwk_usable(k, JOSE_ALG_RS256, JOSE_OP_SIGN));
	assert_true(jose_jwk_usable(k, JOSE_ALG_PS256, JOSE_OP_SIGN));
	assert_false(jose_jwk_usable(k, JOSE_ALG_HS256, JOSE_OP_VERIFY));
	jose_jwk_free(k);

	k = ok(A2_PUB);
	assert_false(jose_jwk_is_private(k));
	assert_false(jose_jwk_usable(k, JOSE_ALG_RS256, JOSE_OP_SIGN));
	assert_true(jose_jwk_usable(k, JOSE_ALG_RS256, JOSE_OP_VERIFY));
	jose_jwk_free(k);

	k = ok(A3_PRIV);
	assert_int_equal(jose_jwk_crv(k), JOSE_CRV_P256);
	assert_true(jose_jwk_usable(k, JOSE_ALG_ES256, JOSE_OP_SIGN));
	assert_false(jose_jwk_usable(k, JOSE_ALG_ES384, JOSE_OP_VERIFY));
	jose_jwk_free(k);

	k = ok(ED_PRIV);
	assert_int_equal(jose_jwk_crv(k), JOSE_CRV_ED25519);
	assert_true(jose_jwk_usable(k, JOSE_ALG_EDDSA, JOSE_OP_SIGN));
	jose_jwk_free(k);

	/* Metadata members. */
	k = ok("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	       "\",\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"ES256\",\"x5t\":\"ignored\"}");
	assert_string_equal(jose_jwk_kid(k), "k1");
	assert_int_equal(jose_jwk_use(k), JOSE_USE_SIG);
	assert_int_equal(jose_jwk_alg(k), JOSE_ALG_ES256);
	jose_jwk_free(k);
}

static void thumbprints(void **state)
{
	char t[44];
	struct bw_err err;
	struct jose_jwk *k = ok(T7638_KEY);
	assert_int_equal(jose_jwk_thumbprint(k, t, &err), 0);
	assert_string_equal(t, T7638_THUMB);
	jose_jwk_free(k);
	k = ok(ED_PRIV);
	assert_int_equal(jose_jwk_thumbprint(k, t, &err), 0);
	assert_string_equal(t, ED_THUMB);
	jose_jwk_free(k);
	k = ok(ED_PUB);
	assert_int_equal(jose_jwk_thumbprint(k, t, &err), 0);
	assert_string_equal(t, ED_THUMB);
	jose_jwk_free(k);
}

static void rejects_malformed_keys(void **state)
{
	bad("[]", 400, "bad_jwk");
	bad("{", 400, "syntax");
	bad("{}", 400, "bad_kty");
	bad("{\"kty\":1}", 400, "bad_member");
	bad("{\"kty\":\"ec\",\"crv\":\"P-256\"}", 400, "bad_kty"); /* case matters */
	bad("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", 400, "bad_crv");
	bad("{\"kty\":\"EC\",\"crv\":\"secp256k1\"}", 400, "bad_crv");
	bad("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" ED_X "\"}", 400, "bad_crv");
	bad("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"" ED_X "\"}", 400, "bad_crv");
	/* Missing and short coordinates. */
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\"}", 400, "missing_member");
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"" A3_Y "\"}", 400,
	    "bad_length");
	/* P-256 coordinates presented as P-384. */
	bad("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\"}", 400,
	    "bad_length");
	/* A point off the curve (y changed), the invalid-curve attack. */
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X
	    "\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}", 400, "bad_key");
	/* d that does not belong to x,y. */
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	    "\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LM\"}", 400, "bad_point");
	bad("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"" ED_D
	    "\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURA\"}", 400, "bad_point");
	/* Base64url strictness inside keys. */
	bad("{\"kty\":\"oct\",\"k\":\"AAAA=\"}", 400, "bad_base64url");
	bad("{\"kty\":\"oct\",\"k\":\"AA+A\"}", 400, "bad_base64url");
	bad("{\"kty\":\"oct\",\"k\":\"\"}", 400, "bad_length");
	bad("{\"kty\":\"oct\",\"k\":7}", 400, "bad_member");
	/* RSA: too small, leading zeros, bad exponents, partial CRT, oth. */
	char small[512];
	snprintf(small, sizeof(small), "{\"kty\":\"RSA\",\"n\":\"%.172s\",\"e\":\"AQAB\"}", A2_N);
	bad(small, 400, "rsa_size");
	bad("{\"kty\":\"RSA\",\"n\":\"AAAA" A2_N "\",\"e\":\"AQAB\"}", 400, "rsa_size");
	bad("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQ\"}", 400, "rsa_exponent");
	bad("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AAEAAQ\"}", 400, "rsa_exponent");
	bad("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAA\"}", 400, "rsa_exponent");
	bad("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\",\"d\":\"AQAB\",\"p\":\"AQAB\"}",
	    400, "rsa_private");
	bad("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\",\"oth\":[]}", 400, "rsa_oth");
	/* alg pins must be known and fit the key. */
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	    "\",\"alg\":\"none\"}", 400, "bad_alg");
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	    "\",\"alg\":\"ES384\"}", 400, "bad_alg");
	bad("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	    "\",\"alg\":\"HS256\"}", 400, "bad_alg");
	bad("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\",\"alg\":\"HS256\"}", 400,
	    "bad_alg");
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"alg\":\"RS256\"}", 400, "bad_alg");
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"use\":\"signing\"}", 400, "bad_use");
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"key_ops\":\"sign\"}", 400, "bad_key_ops");
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"key_ops\":[\"sign\",\"sign\"]}", 400,
	    "bad_key_ops");
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":5}", 400, "bad_member");
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":\"a\\u0000b\"}", 400, "bad_kid");
	/* Duplicate members are a JSON error (no "last one wins" games). */
	bad("{\"kty\":\"oct\",\"k\":\"AAAA\",\"k\":\"BBBB\"}", 400, "dup_key");
	/* Oversized document. */
	size_t big = JOSE_JWK_MAX + 10;
	char *s = malloc(big + 1);
	memset(s, ' ', big);
	memcpy(s, A1_KEY, strlen(A1_KEY));
	s[big] = 0;
	bad(s, 413, "too_large");
	free(s);
}

static void pins_and_ops(void **state)
{
	struct jose_jwk *k = ok("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X
				"\",\"y\":\"" A3_Y "\",\"use\":\"enc\"}");
	assert_false(jose_jwk_usable(k, JOSE_ALG_ES256, JOSE_OP_VERIFY));
	jose_jwk_free(k);
	k = ok("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	       "\",\"key_ops\":[\"encrypt\"]}");
	assert_false(jose_jwk_usable(k, JOSE_ALG_ES256, JOSE_OP_VERIFY));
	jose_jwk_free(k);
	k = ok("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	       "\",\"key_ops\":[\"verify\"]}");
	assert_true(jose_jwk_usable(k, JOSE_ALG_ES256, JOSE_OP_VERIFY));
	jose_jwk_free(k);
	k = ok("{\"kty\":\"RSA\",\"n\":\"" A2_N "\",\"e\":\"AQAB\",\"alg\":\"RS256\"}");
	assert_true(jose_jwk_usable(k, JOSE_ALG_RS256, JOSE_OP_VERIFY));
	assert_false(jose_jwk_usable(k, JOSE_ALG_PS256, JOSE_OP_VERIFY));
	jose_jwk_free(k);
	/* HS256 needs at least 32 key bytes. */
	k = ok("{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}");
	assert_false(jose_jwk_usable(k, JOSE_ALG_HS256, JOSE_OP_VERIFY));
	jose_jwk_free(k);
}

static struct jose_jwk *roundtrip(const struct jose_jwk *k, bool priv)
{
	struct bw_buf b;
	struct json_writer w;
	struct bw_err err;
	bw_buf_init(&b, 1 << 16);
	json_writer_init(&w, &b);
	assert_int_equal(jose_jwk_write(k, priv, &w, &err), 0);
	assert_int_equal(json_writer_finish(&w), 0);
	if (!priv)
		assert_null(strstr(b.data, "\"d\""));
	struct jose_jwk *k2 = ok(b.data);
	bw_buf_fini(&b);
	return k2;
}

static void writes_and_reparses(void **state)
{
	const char *keys[] = { A1_KEY, A2_PRIV, A3_PRIV, ED_PRIV, T7638_KEY };
	for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
		struct jose_jwk *k = ok(keys[i]);
		char t1[44], t2[44];
		struct bw_err err;
		assert_int_equal(jose_jwk_thumbprint(k, t1, &err), 0);
		struct jose_jwk *k2 = roundtrip(k, true);
		assert_int_equal(jose_jwk_thumbprint(k2, t2, &err), 0);
		assert_string_equal(t1, t2);
		assert_int_equal(jose_jwk_is_private(k2), jose_jwk_is_private(k));
		jose_jwk_free(k2);
		if (jose_jwk_kty(k) != JOSE_KTY_OCT) {
			k2 = roundtrip(k, false);
			assert_false(jose_jwk_is_private(k2));
			jose_jwk_free(k2);
			struct jose_jwk *pub = jose_jwk_public(k, &err);
			assert_non_null(pub);
			assert_false(jose_jwk_is_private(pub));
			assert_int_equal(jose_jwk_thumbprint(pub, t2, &err), 0);
			assert_string_equal(t1, t2);
			jose_jwk_free(pub);
		} else {
			struct bw_buf b;
			struct json_writer w;
			bw_buf_init(&b, 4096);
			json_writer_init(&w, &b);
			assert_int_equal(jose_jwk_write(k, false, &w, &err), -1);
			assert_string_equal(err.reason, "secret_key");
			bw_buf_fini(&b);
			assert_null(jose_jwk_public(k, &err));
		}
		jose_jwk_free(k);
	}
}

static void generates_every_kind(void **state)
{
	enum jose_alg algs[] = { JOSE_ALG_HS256, JOSE_ALG_RS256, JOSE_ALG_PS256,
				 JOSE_ALG_ES256, JOSE_ALG_ES384, JOSE_ALG_EDDSA };
	for (size_t i = 0; i < BW_ARRAY_LEN(algs); i++) {
		struct bw_err err;
		struct jose_jwk *k = jose_jwk_generate(algs[i], NULL, &err);
		assert_non_null(k);
		assert_int_equal(jose_jwk_alg(k), algs[i]);
		assert_true(jose_jwk_usable(k, algs[i], JOSE_OP_SIGN));
		/* The kid defaults to the thumbprint. */
		char t[44];
		assert_int_equal(jose_jwk_thumbprint(k, t, &err), 0);
		assert_string_equal(jose_jwk_kid(k), t);
		struct jose_jwk *k2 = roundtrip(k, true);
		assert_string_equal(jose_jwk_kid(k2), t);
		jose_jwk_free(k2);
		jose_jwk_free(k);
	}
	struct bw_err err;
	assert_null(jose_jwk_generate(JOSE_ALG_INVALID, NULL, &err));
}

static void jwks_documents(void **state)
{
	struct jose_jwks s;
	struct bw_err err;
	size_t skipped = 99;
	jose_jwks_init(&s);
	const char *doc = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X
			  "\",\"y\":\"" A3_Y "\",\"kid\":\"a\"}," T7638_KEY
			  ",{\"kty\":\"EC\",\"crv\":\"P-521\",\"kid\":\"c\"}]}";
	assert_int_equal(jose_jwks_parse(&s, doc, strlen(doc), true, &skipped, &err), -1);
	assert_string_equal(err.reason, "bad_crv");
	assert_int_equal(s.n, 0);
	assert_int_equal(jose_jwks_parse(&s, doc, strlen(doc), false, &skipped, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(skipped, 1);
	assert_non_null(jose_jwks_find(&s, "a", 1));
	assert_non_null(jose_jwks_find(&s, "2011-04-29", 10));
	assert_null(jose_jwks_find(&s, "c", 1));
	assert_null(jose_jwks_find(&s, "2011-04-2", 9));
	struct bw_buf out;
	bw_buf_init(&out, 1 << 16);
	assert_int_equal(jose_jwks_write_public(&s, &out, &err), 0);
	struct jose_jwks s2;
	jose_jwks_init(&s2);
	assert_int_equal(jose_jwks_parse(&s2, out.data, out.len, true, NULL, &err), 0);
	assert_int_equal(s2.n, 2);
	jose_jwks_fini(&s2);
	bw_buf_fini(&out);
	jose_jwks_fini(&s);

	/* Duplicate kids are refused even when lenient. */
	const char *dup = "{\"keys\":[" T7638_KEY "," T7638_KEY "]}";
	assert_int_equal(jose_jwks_parse(&s, dup, strlen(dup), false, NULL, &err), -1);
	assert_string_equal(err.reason, "dup_kid");
	assert_int_equal(s.n, 0);
	assert_int_equal(jose_jwks_parse(&s, "{\"keys\":{}}", 11, false, NULL, &err), -1);
	assert_string_equal(err.reason, "bad_jwks");
	assert_int_equal(jose_jwks_parse(&s, "[]", 2, false, NULL, &err), -1);
	/* Too many keys. */
	struct bw_buf many;
	bw_buf_init(&many, 1 << 20);
	assert_int_equal(bw_buf_append_str(&many, "{\"keys\":["), 0);
	for (int i = 0; i <= JOSE_JWKS_KEYS_MAX; i++)
		assert_int_equal(bw_buf_printf(&many, "%s{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":\"%d\"}",
					       i ? "," : "", i), 0);
	assert_int_equal(bw_buf_append_str(&many, "]}"), 0);
	assert_int_equal(jose_jwks_parse(&s, many.data, many.len, false, NULL, &err), -1);
	assert_int_equal(err.code, 413);
	bw_buf_fini(&many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_rfc_keys),
		cmocka_unit_test(thumbprints),
		cmocka_unit_test(rejects_malformed_keys),
		cmocka_unit_test(pins_and_ops),
		cmocka_unit_test(writes_and_reparses),
		cmocka_unit_test(generates_every_kind),
		cmocka_unit_test(jwks_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
