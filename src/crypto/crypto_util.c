/*
 * Thin OpenSSL helpers: digests, HMAC, AES-256-GCM, and strict base64url.
 *
 * Invariants: every OpenSSL failure is drained into the caller's bw_err
 * (bw_err_openssl); AEAD open never releases plaintext whose tag failed;
 * base64url decoding accepts exactly one encoding per byte string.
 */
#include "crypto/crypto_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

static const EVP_MD *md_of(enum crypto_hash h)
{
	switch (h) {
	case CRYPTO_SHA1:
		return EVP_sha1();
	case CRYPTO_SHA256:
		return EVP_sha256();
	case CRYPTO_SHA384:
		return EVP_sha384();
	case CRYPTO_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

size_t crypto_hash_len(enum crypto_hash h)
{
	switch (h) {
	case CRYPTO_SHA1:
		return 20;
	case CRYPTO_SHA256:
		return 32;
	case CRYPTO_SHA384:
		return 48;
	case CRYPTO_SHA512:
		return 64;
	}
	return 0;
}

int crypto_hash(enum crypto_hash h, const void *in, size_t n, uint8_t *out,
		struct bw_err *err)
{
	const EVP_MD *md = md_of(h);
	unsigned int olen = 0;
	if (!md)
		return bw_err_set(err, 400, "crypto", "bad_hash",
				  "unknown hash");
	if (EVP_Digest(in, n, out, &olen, md, NULL) != 1)
		return bw_err_openssl(err, "crypto", "digest");
	return 0;
}

void crypto_sha256(const void *in, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
	SHA256(in, n, out);
}

int crypto_hmac(enum crypto_hash h, const void *key, size_t keylen,
		const void *msg, size_t n, uint8_t *out, struct bw_err *err)
{
	const EVP_MD *md = md_of(h);
	unsigned int olen = 0;
	if (!md || keylen > INT32_MAX)
		return bw_err_set(err, 400, "crypto", "bad_hash",
				  "bad HMAC input");
	/* HMAC() with a NULL key pointer would use a static empty key; give
	 * it a real pointer for the zero-length case. */
	static const uint8_t empty[1];
	if (!HMAC(md, keylen ? key : empty, (int)keylen, msg, n, out, &olen))
		return bw_err_openssl(err, "crypto", "hmac");
	return 0;
}

int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY_LEN],
		     const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN],
		     const void *aad, size_t aadlen, const void *pt, size_t n,
		     uint8_t *ct, uint8_t tag[CRYPTO_AEAD_TAG_LEN],
		     struct bw_err *err)
{
	int rc = -1, len = 0;
	if (n > INT32_MAX || aadlen > INT32_MAX)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "AEAD input too large");
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return bw_err_openssl(err, "crypto", "cipher ctx");
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    (aadlen &&
	     EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1) ||
	    (n && EVP_EncryptUpdate(c, ct, &len, pt, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(c, ct + (n ? len : 0), &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPTO_AEAD_TAG_LEN,
				tag) != 1) {
		bw_err_openssl(err, "crypto", "aes-gcm seal");
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY_LEN],
		     const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN],
		     const void *aad, size_t aadlen, const void *ct, size_t n,
		     const uint8_t tag[CRYPTO_AEAD_TAG_LEN], uint8_t *pt,
		     struct bw_err *err)
{
	int rc = -1, len = 0;
	uint8_t tagcopy[CRYPTO_AEAD_TAG_LEN];
	if (n > INT32_MAX || aadlen > INT32_MAX)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "AEAD input too large");
	memcpy(tagcopy, tag, sizeof(tagcopy));
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return bw_err_openssl(err, "crypto", "cipher ctx");
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    (aadlen &&
	     EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1) ||
	    (n && EVP_DecryptUpdate(c, pt, &len, ct, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPTO_AEAD_TAG_LEN,
				tagcopy) != 1) {
		bw_err_openssl(err, "crypto", "aes-gcm open");
		goto out;
	}
	if (EVP_DecryptFinal_ex(c, pt + (n ? len : 0), &len) != 1) {
		/* GCM decrypts before it can check the tag: take back what
		 * was written so nothing unauthenticated escapes. */
		if (n)
			bw_wipe(pt, n);
		bw_err_openssl(err, "crypto", "aes-gcm open");
		bw_err_set(err, 400, "crypto", "bad_tag",
			   "authentication tag mismatch");
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* ------------------------------------------------------------ base64url */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t crypto_b64url_encode_to(const void *in, size_t n, char *out)
{
	const uint8_t *p = in;
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

int crypto_b64url_encode(const void *in, size_t n, struct bw_buf *out)
{
	size_t need = crypto_b64url_len(n);
	if (need < n || bw_buf_reserve(out, need) < 0)
		return -1;
	size_t w = crypto_b64url_encode_to(in, n, out->data + out->len);
	out->len += w;
	return 0;
}

/* 0..63 for alphabet characters, 64 for everything else. */
static uint8_t b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (uint8_t)(c - '0' + 52);
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return 64;
}

int crypto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap,
			 size_t *outlen, struct bw_err *err)
{
	if (n % 4 == 1)
		return bw_err_set(err, 400, "crypto", "bad_base64url",
				  "base64url length %zu is impossible", n);
	size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > outcap)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "base64url value too large (%zu bytes)",
				  need);
	size_t o = 0, i = 0;
	for (; i + 4 <= n; i += 4) {
		uint8_t a = b64url_value((unsigned char)in[i]);
		uint8_t b = b64url_value((unsigned char)in[i + 1]);
		uint8_t c = b64url_value((unsigned char)in[i + 2]);
		uint8_t d = b64url_value((unsigned char)in[i + 3]);
		if ((a | b | c | d) & 64)
			goto bad;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 |
			     (uint32_t)c << 6 | d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	size_t rem = n - i;
	if (rem == 2) {
		uint8_t a = b64url_value((unsigned char)in[i]);
		uint8_t b = b64url_value((unsigned char)in[i + 1]);
		if ((a | b) & 64 || (b & 0x0f))
			goto bad;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
	} else if (rem == 3) {
		uint8_t a = b64url_value((unsigned char)in[i]);
		uint8_t b = b64url_value((unsigned char)in[i + 1]);
		uint8_t c = b64url_value((unsigned char)in[i + 2]);
		if ((a | b | c) & 64 || (c & 0x03))
			goto bad;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		out[o++] = (uint8_t)(b << 4 | c >> 2);
	}
	*outlen = o;
	return 0;
bad:
	bw_wipe(out, o);
	return bw_err_set(err, 400, "crypto", "bad_base64url",
			  "invalid base64url character or trailing bits");
}
