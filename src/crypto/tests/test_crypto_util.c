/* Unit tests for the crypto helpers: strict base64url (RFC 4648 vectors,
 * every way to be non-canonical), HMAC (RFC 4231), AES-256-GCM round trip
 * and tamper detection, digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto/crypto.h"

static void b64_enc(const char *in, const char *want)
{
	char out[128];
	size_t n = crypto_b64url_encode_to(in, strlen(in), out);
	assert_int_equal(n, strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(crypto_b64url_len(strlen(in)), n);
	uint8_t dec[128];
	size_t dl = 0;
	struct bw_err err;
	assert_int_equal(crypto_b64url_decode(out, n, dec, sizeof(dec), &dl, &err), 0);
	assert_int_equal(dl, strlen(in));
	assert_memory_equal(dec, in, dl);
}

static void base64url_vectors(void **state)
{
	/* RFC 4648 section 10, padding removed. */
	b64_enc("", "");
	b64_enc("f", "Zg");
	b64_enc("fo", "Zm8");
	b64_enc("foo", "Zm9v");
	b64_enc("foob", "Zm9vYg");
	b64_enc("fooba", "Zm9vYmE");
	b64_enc("foobar", "Zm9vYmFy");
	/* The URL-safe alphabet: 0xfb 0xff -> "-_8" */
	char out[8];
	const uint8_t b[] = { 0xfb, 0xff };
	crypto_b64url_encode_to(b, 2, out);
	assert_string_equal(out, "-_8");
	struct bw_buf buf;
	bw_buf_init(&buf, 4);
	assert_int_equal(crypto_b64url_encode("foo", 3, &buf), 0);
	assert_int_equal(crypto_b64url_encode("foo", 3, &buf), -1); /* ceiling */
	bw_buf_fini(&buf);
}

static void dec_fails(const char *s, int code, const char *reason)
{
	uint8_t out[64];
	size_t n = 0;
	struct bw_err err;
	bw_err_clear(&err);
	assert_int_equal(crypto_b64url_decode(s, strlen(s), out, sizeof(out), &n, &err), -1);
	assert_int_equal(err.code, code);
	assert_string_equal(err.reason, reason);
}

static void base64url_is_strict(void **state)
{
	dec_fails("Zg==", 400, "bad_base64url");  /* padding */
	dec_fails("Zm9v\n", 400, "bad_base64url"); /* whitespace (and length) */
	dec_fails("Zm 9v", 400, "bad_base64url");
	dec_fails("Zm+v", 400, "bad_base64url");  /* standard alphabet */
	dec_fails("Zm/v", 400, "bad_base64url");
	dec_fails("Z", 400, "bad_base64url");     /* length 1 mod 4 */
	dec_fails("Zh", 400, "bad_base64url");    /* non-zero trailing bits */
	dec_fails("Zm9", 400, "bad_base64url");   /* 'Zm8' is canonical */
	dec_fails("Zm\0v", 400, "bad_base64url");
	/* Output capacity is enforced before writing. */
	uint8_t out[2];
	size_t n;
	struct bw_err err;
	assert_int_equal(crypto_b64url_decode("Zm9v", 4, out, 2, &n, &err), -1);
	assert_int_equal(err.code, 413);
}

static void hmac_rfc4231(void **state)
{
	/* RFC 4231 test case 2 */
	uint8_t mac[32];
	char hex[65];
	struct bw_err err;
	const char *msg = "what do ya want for nothing?";
	assert_int_equal(crypto_hmac(CRYPTO_SHA256, "Jefe", 4, msg, strlen(msg), mac, &err), 0);
	bw_hex_encode(mac, 32, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	uint8_t mac512[64];
	char hex512[129];
	assert_int_equal(crypto_hmac(CRYPTO_SHA512, "Jefe", 4, msg, strlen(msg), mac512, &err), 0);
	bw_hex_encode(mac512, 64, hex512);
	assert_string_equal(hex512,
			    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
			    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
}

static void digests(void **state)
{
	uint8_t h[64];
	char hex[129];
	struct bw_err err;
	crypto_sha256("abc", 3, h);
	bw_hex_encode(h, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(crypto_hash(CRYPTO_SHA1, "abc", 3, h, &err), 0);
	bw_hex_encode(h, 20, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(crypto_hash_len(CRYPTO_SHA384), 48);
}

static void aead_roundtrip_and_tamper(void **state)
{
	uint8_t key[32], nonce[12], tag[16], ct[64], pt[64];
	const char *msg = "totp seed 12345678901234567890";
	size_t n = strlen(msg);
	struct bw_err err;
	bw_random(key, sizeof(key));
	bw_random(nonce, sizeof(nonce));
	assert_int_equal(crypto_aead_seal(key, nonce, "aad", 3, msg, n, ct, tag, &err), 0);
	assert_memory_not_equal(ct, msg, n);
	assert_int_equal(crypto_aead_open(key, nonce, "aad", 3, ct, n, tag, pt, &err), 0);
	assert_memory_equal(pt, msg, n);

	/* Wrong AAD, flipped ciphertext bit, flipped tag bit: all refused and
	 * nothing released. */
	memset(pt, 0x55, sizeof(pt));
	assert_int_equal(crypto_aead_open(key, nonce, "aae", 3, ct, n, tag, pt, &err), -1);
	assert_string_equal(err.reason, "bad_tag");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pt[i], 0);
	ct[3] ^= 1;
	assert_int_equal(crypto_aead_open(key, nonce, "aad", 3, ct, n, tag, pt, &err), -1);
	ct[3] ^= 1;
	tag[0] ^= 0x80;
	assert_int_equal(crypto_aead_open(key, nonce, "aad", 3, ct, n, tag, pt, &err), -1);
	tag[0] ^= 0x80;
	/* Empty plaintext still authenticates. */
	assert_int_equal(crypto_aead_seal(key, nonce, NULL, 0, "", 0, ct, tag, &err), 0);
	assert_int_equal(crypto_aead_open(key, nonce, NULL, 0, ct, 0, tag, pt, &err), 0);
	tag[5] ^= 1;
	assert_int_equal(crypto_aead_open(key, nonce, NULL, 0, ct, 0, tag, pt, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64url_vectors),
		cmocka_unit_test(base64url_is_strict),
		cmocka_unit_test(hmac_rfc4231),
		cmocka_unit_test(digests),
		cmocka_unit_test(aead_roundtrip_and_tamper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
