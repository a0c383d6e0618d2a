/* Internals of the crypto module shared between its files. */
#ifndef BW_CRYPTO_INT_H
#define BW_CRYPTO_INT_H

#include "crypto/crypto.h"
#include "crypto/crypto_limits.h"

#include <openssl/evp.h>

/*
 * Invariants: kty and crv agree with pkey (EC keys are P-256 or P-384,
 * OKP keys Ed25519, RSA keys within the size bounds); oct keys have
 * pkey == NULL and 1..JOSE_OCT_MAX bytes in oct; has_private is true for
 * every oct key and for asymmetric keys holding private parts.
 */
struct jose_jwk {
	enum jose_kty kty;
	enum jose_crv crv;
	enum jose_alg alg; /* pinned algorithm, INVALID when none */
	enum jose_use use;
	unsigned ops; /* JOSE_OP_* bits; 0 when key_ops absent */
	bool has_ops;
	bool has_private;
	char kid[JOSE_KID_MAX + 1];
	EVP_PKEY *pkey;
	uint8_t *oct;
	size_t oct_len;
};

/* Field size in bytes of an EC curve (32 for P-256, 48 for P-384). */
size_t jose_crv_size(enum jose_crv c);
/* The kty/crv an algorithm needs. */
enum jose_kty jose_alg_kty(enum jose_alg a);
enum jose_crv jose_alg_crv(enum jose_alg a);

/* Appends base64url of a big-endian integer, zero-padded on the left to
 * pad bytes when pad > 0. Internal to JWK writing. */
int jose_b64_bn(struct json_writer *w, const char *key, const void *bn,
		size_t pad, struct bw_err *err);

#endif
