/*
 * fuzz_kms_ciphertext — libFuzzer target for the self-describing
 * ciphertext format ("bwk1:" + base64url), which the key process parses
 * from caller-supplied text on every decrypt and rewrap.
 *
 * Properties checked on every input (abort on failure):
 *  - a parse that succeeds points only inside the caller's buffer, and
 *    its parts (header, nonce, body, tag) tile the decoded bytes;
 *  - re-armouring the decoded bytes gives back exactly the input: each
 *    ciphertext has one text form (no padding, no alternative alphabet,
 *    no non-zero trailing bits);
 *  - nothing an attacker writes authenticates under a key it does not
 *    know: opening with a fixed key always fails, for both algorithms.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/keystore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_kms_ciphertext: %s failed (%s:%d)\n", \
				#c, __FILE__, __LINE__);                       \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 0x42, 1, 2, 3 };
	if (size > KEYSTORE_CTEXT_MAX + 16)
		return 0;
	uint8_t *buf = malloc(size + 1);
	struct keystore_ctext c;
	struct bw_err err;
	if (!buf)
		return 0;
	int rc = keystore_ctext_decode((const char *)data, size, buf, size, &c, &err);
	if (rc == 0) {
		size_t blen = KEYSTORE_CTEXT_OVERHEAD + c.ct_len;
		CHECK(c.hdr == buf && c.nonce == buf + KEYSTORE_CTEXT_HDR);
		CHECK(c.ct == c.nonce + KEYSTORE_CTEXT_NONCE);
		CHECK(c.tag == c.ct + c.ct_len && c.tag + 16 == buf + blen);
		CHECK(blen <= size);
		CHECK(c.alg == 1 || c.alg == 2);
		CHECK(c.version >= 1);
		char *text = malloc(size + 8);
		CHECK(text != NULL);
		size_t tl = keystore_ctext_armour(buf, blen, text, size + 8);
		CHECK(tl == size && memcmp(text, data, size) == 0);
		free(text);
		uint8_t *pt = malloc(c.ct_len + 1);
		CHECK(pt != NULL);
		CHECK(ks_aead_open(c.alg, key, c.nonce, c.hdr, KEYSTORE_CTEXT_HDR, NULL, 0,
				   c.ct, c.ct_len, c.tag, pt, &err) < 0);
		free(pt);
	}
	free(buf);
	return 0;
}
