/*
 * fuzz_jose_jws — libFuzzer target for compact JWS / JWT verification.
 *
 * The input is a token. It is verified against a fixed key set holding
 * one key of every type (oct, RSA, EC P-256, P-384, Ed25519) with every
 * algorithm allowed, then as a JWT with claim rules. Properties checked
 * (abort on violation): a failure always names the crypto module and a
 * 400/413 code; a verified token (the RFC 7515 vectors in the seed
 * corpus verify, mutations of them must not) has an alg in the allow-list
 * and a key usable for that alg; whatever the strict base64url decoder
 * accepts re-encodes to exactly the input.
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
			fprintf(stderr, "fuzz_jose_jws: %s failed (%s:%d)\n",  \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static const char *const keys[] = {
	"{\"kty\":\"oct\",\"kid\":\"hs\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}",
	"{\"kty\":\"RSA\",\"kid\":\"rs\",\"e\":\"AQAB\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"}",
	"{\"kty\":\"EC\",\"kid\":\"es\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
	"{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
};

static struct jose_jwks set;
static bool ready;

static void init(void)
{
	struct bw_err err;
	jose_jwks_init(&set);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct jose_jwk *k = jose_jwk_parse(keys[i], strlen(keys[i]), &err);
		CHECK(k != NULL);
		CHECK(jose_jwks_add(&set, k, &err) == 0);
	}
	/* P-384, generated: fuzz inputs cannot sign with it either. */
	struct jose_jwk *p384 = jose_jwk_generate(JOSE_ALG_ES384, "es384", &err);
	CHECK(p384 != NULL);
	struct jose_jwk *pub = jose_jwk_public(p384, &err);
	CHECK(pub != NULL);
	jose_jwk_free(p384);
	CHECK(jose_jwks_add(&set, pub, &err) == 0);
	ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		init();
	struct bw_arena *a = bw_arena_new(8192, 4 << 20);
	if (!a)
		return 0;
	unsigned algs = JOSE_ALGS_ASYMMETRIC | JOSE_ALG_BIT(JOSE_ALG_HS256);
	struct jose_verifier v = { .keys = &set, .algs = algs };
	struct jose_jws out;
	struct bw_err err;
	bw_err_clear(&err);
	int rc = jose_jws_verify(&v, (const char *)data, size, a, &out, &err);
	if (rc == 0) {
		CHECK(algs & JOSE_ALG_BIT(out.alg));
		CHECK(jose_jwk_usable(out.key, out.alg, JOSE_OP_VERIFY));
		CHECK(out.payload[out.payload_len] == 0);
	} else {
		CHECK(strcmp(err.module, "crypto") == 0);
		CHECK(err.code == 400 || err.code == 413 || err.code == 500);
	}
	struct jose_jwt_rules r = { .issuer = "joe", .leeway_s = 60 };
	struct jose_jwt jwt;
	rc = jose_jwt_verify(&v, &r, (const char *)data, size, a, &jwt, &err);
	if (rc == 0)
		CHECK(jwt.claims && jwt.claims->type == JSON_OBJECT);
	/* The base64url decoder on its own: round trip when it accepts. */
	uint8_t *dec = malloc(size + 3);
	size_t dl = 0;
	if (dec && crypto_b64url_decode((const char *)data, size, dec, size + 3, &dl,
					&err) == 0) {
		char *enc = malloc(crypto_b64url_len(dl) + 1);
		CHECK(enc != NULL);
		size_t el = crypto_b64url_encode_to(dec, dl, enc);
		CHECK(el == size && memcmp(enc, data, size) == 0);
		free(enc);
	}
	free(dec);
	bw_arena_free(a);
	return 0;
}
