/*
 * audit_hash — SHA-256 for the audit log (chain hashes, RFC 6962 leaf and
 * node hashes) and strict lower-case hex parsing.
 *
 * The SHA-256 implementation is fetched from OpenSSL once per process and
 * reused; a failure to fetch or to hash is a broken invariant (the log
 * cannot be kept without a hash), so it aborts rather than returning.
 */
#include "audit/audit_int.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void audit_sha256(const void *a, size_t alen, const void *b, size_t blen,
		  const void *c, size_t clen, uint8_t out[AUDIT_HASH_LEN])
{
	pthread_once(&sha256_once, sha256_fetch);
	BW_ASSERT(sha256_md != NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, sha256_md, NULL) == 1 &&
		  (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
		  (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		  (clen == 0 || EVP_DigestUpdate(ctx, c, clen) == 1) &&
		  EVP_DigestFinal_ex(ctx, out, &outlen) == 1 &&
		  outlen == AUDIT_HASH_LEN;
	EVP_MD_CTX_free(ctx);
	BW_ASSERT(ok);
}

void audit_leaf_hash(const void *rec, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	static const uint8_t zero = 0x00;
	audit_sha256(&zero, 1, rec, len, NULL, 0, out);
}

void audit_node_hash(const uint8_t l[AUDIT_HASH_LEN],
		     const uint8_t r[AUDIT_HASH_LEN], uint8_t out[AUDIT_HASH_LEN])
{
	/* One contiguous buffer: a single update is measurably cheaper than
	 * three for 65 bytes, and node hashing dominates proof work. */
	uint8_t in[1 + 2 * AUDIT_HASH_LEN];
	in[0] = 0x01;
	memcpy(in + 1, l, AUDIT_HASH_LEN);
	memcpy(in + 1 + AUDIT_HASH_LEN, r, AUDIT_HASH_LEN);
	audit_sha256(in, sizeof(in), NULL, 0, NULL, 0, out);
}

/* Value of each lower-case hex digit plus one; 0 for anything else
 * (upper case included: one spelling only, so one canonical line). */
static const uint8_t lhex1[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,	['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

bool audit_hex_parse(struct bw_str s, uint8_t *out, size_t n)
{
	if (s.len != 2 * n)
		return false;
	const unsigned char *p = (const unsigned char *)s.p;
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned hi = lhex1[p[2 * i]], lo = lhex1[p[2 * i + 1]];
		bad |= (hi == 0) | (lo == 0);
		out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	return bad == 0;
}
