/*
 * fuzz_jose_jwk — libFuzzer target for JWK and JWKS parsing.
 *
 * The input is parsed as one JWK and as a JWKS (strict and lenient).
 * Properties checked (abort on violation): failures carry the crypto
 * module and a 400/413 code; an accepted key writes back to a JWK that
 * parses again to a key with the same thumbprint, type and privacy; an
 * accepted asymmetric key's public copy is not private; the lenient JWKS
 * parse never holds more keys than the limit, nor two with one kid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_jose_jwk: %s failed (%s:%d)\n",  \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static void check_key(struct jose_jwk *k)
{
	struct bw_err err;
	char t1[44], t2[44];
	CHECK(jose_jwk_thumbprint(k, t1, &err) == 0);
	struct bw_buf b;
	struct json_writer w;
	bw_buf_init(&b, 1 << 16);
	json_writer_init(&w, &b);
	CHECK(jose_jwk_write(k, true, &w, &err) == 0);
	CHECK(json_writer_finish(&w) == 0);
	struct jose_jwk *k2 = jose_jwk_parse(b.data, b.len, &err);
	if (!k2) {
		fprintf(stderr, "re-parse failed: %s\n%s\n", err.msg, b.data);
		abort();
	}
	CHECK(jose_jwk_thumbprint(k2, t2, &err) == 0);
	CHECK(strcmp(t1, t2) == 0);
	CHECK(jose_jwk_kty(k2) == jose_jwk_kty(k));
	CHECK(jose_jwk_is_private(k2) == jose_jwk_is_private(k));
	CHECK(strcmp(jose_jwk_kid(k2), jose_jwk_kid(k)) == 0);
	CHECK(jose_jwk_alg(k2) == jose_jwk_alg(k));
	jose_jwk_free(k2);
	bw_buf_wipe_fini(&b);
	if (jose_jwk_kty(k) != JOSE_KTY_OCT) {
		struct jose_jwk *pub = jose_jwk_public(k, &err);
		CHECK(pub != NULL);
		CHECK(!jose_jwk_is_private(pub));
		CHECK(!jose_jwk_usable(pub, jose_jwk_alg(k) ? jose_jwk_alg(k) : JOSE_ALG_ES256,
				       JOSE_OP_SIGN));
		jose_jwk_free(pub);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_err err;
	bw_err_clear(&err);
	struct jose_jwk *k = jose_jwk_parse((const char *)data, size, &err);
	if (k) {
		check_key(k);
		jose_jwk_free(k);
	} else {
		CHECK(strcmp(err.module, "crypto") == 0 || strcmp(err.module, "json") == 0);
		CHECK(err.code == 400 || err.code == 413 || err.code == 500);
	}
	struct jose_jwks s;
	jose_jwks_init(&s);
	size_t skipped = 0;
	if (jose_jwks_parse(&s, (const char *)data, size, false, &skipped, &err) == 0) {
		CHECK(s.n <= JOSE_JWKS_KEYS_MAX);
		for (size_t i = 0; i < s.n; i++) {
			const char *kid = jose_jwk_kid(s.keys[i]);
			if (kid[0])
				CHECK(jose_jwks_find(&s, kid, strlen(kid)) == s.keys[i]);
		}
		struct bw_buf out;
		bw_buf_init(&out, 1 << 22);
		CHECK(jose_jwks_write_public(&s, &out, &err) == 0);
		bw_buf_fini(&out);
		jose_jwks_fini(&s);
	}
	CHECK(s.n == 0);
	if (jose_jwks_parse(&s, (const char *)data, size, true, NULL, &err) == 0)
		jose_jwks_fini(&s);
	return 0;
}
