/*
 * The self-describing ciphertext format ("bwk1:" armour, layout in
 * keystore.h) and the base64url codec it, unseal shares and JWKs use.
 *
 * Invariants:
 *  - decoding is strict: no padding, no whitespace, no non-alphabet byte,
 *    and the unused low bits of the last character must be zero, so each
 *    ciphertext has exactly one text form;
 *  - a parsed ciphertext points into the caller's buffer and has passed
 *    every structural check; authenticity is the AEAD's job, later.
 */
#include "keystore/keystore.h"

#include <string.h>

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t keystore_b64url_encode(const uint8_t *in, size_t n, char *out,
			      size_t cap)
{
	size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
	if (cap == 0 || need > cap - 1)
		return 0;
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int keystore_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap,
			   size_t *outlen)
{
	if (n % 4 == 1)
		return -1;
	size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > cap)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero: one text form per byte string. */
	if (acc != 0)
		return -1;
	*outlen = o;
	return 0;
}

int keystore_ctext_decode(const char *text, size_t len, uint8_t *buf,
			  size_t cap, struct keystore_ctext *out,
			  struct bw_err *err)
{
	const size_t plen = sizeof(KEYSTORE_CTEXT_PREFIX) - 1;
	if (len < plen || memcmp(text, KEYSTORE_CTEXT_PREFIX, plen) != 0)
		return bw_err_set(err, 400, "keystore", "ctext_prefix",
				  "ciphertext does not start with %s",
				  KEYSTORE_CTEXT_PREFIX);
	if (len > KEYSTORE_CTEXT_MAX)
		return bw_err_set(err, 413, "keystore", "ctext_too_large",
				  "ciphertext longer than %u bytes",
				  KEYSTORE_CTEXT_MAX);
	size_t n;
	if (keystore_b64url_decode(text + plen, len - plen, buf, cap, &n) < 0)
		return bw_err_set(err, 400, "keystore", "ctext_base64",
				  "ciphertext is not valid base64url");
	if (n < KEYSTORE_CTEXT_OVERHEAD)
		return bw_err_set(err, 400, "keystore", "ctext_short",
				  "ciphertext too short");
	if (n - KEYSTORE_CTEXT_OVERHEAD > KEYSTORE_DATA_MAX)
		return bw_err_set(err, 413, "keystore", "ctext_too_large",
				  "ciphertext body too large");
	if (buf[0] != 1)
		return bw_err_set(err, 400, "keystore", "ctext_format",
				  "unknown ciphertext format %u", buf[0]);
	if (buf[1] != 1 && buf[1] != 2)
		return bw_err_set(err, 400, "keystore", "ctext_alg",
				  "unknown ciphertext algorithm %u", buf[1]);
	out->alg = buf[1];
	out->version = (uint32_t)buf[2] << 24 | (uint32_t)buf[3] << 16 |
		       (uint32_t)buf[4] << 8 | buf[5];
	if (out->version == 0)
		return bw_err_set(err, 400, "keystore", "ctext_version",
				  "ciphertext names key version 0");
	memcpy(out->key_id, buf + 6, KEYSTORE_KEY_ID_LEN);
	out->hdr = buf;
	out->nonce = buf + KEYSTORE_CTEXT_HDR;
	out->ct = out->nonce + KEYSTORE_CTEXT_NONCE;
	out->ct_len = n - KEYSTORE_CTEXT_OVERHEAD;
	out->tag = out->ct + out->ct_len;
	return 0;
}

size_t keystore_ctext_armour(const uint8_t *bin, size_t n, char *out,
			     size_t cap)
{
	const size_t plen = sizeof(KEYSTORE_CTEXT_PREFIX) - 1;
	if (cap <= plen)
		return 0;
	memcpy(out, KEYSTORE_CTEXT_PREFIX, plen);
	size_t m = keystore_b64url_encode(bin, n, out + plen, cap - plen);
	return m ? plen + m : 0;
}
