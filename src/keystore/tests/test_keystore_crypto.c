/*
 * Tests for the keystore's primitives: the known-answer self-test as a
 * whole, Shamir split/combine over every subset of a 5-share split (with
 * wrong, duplicate and missing shares), AEAD tampering, signatures for
 * every signing type with each hash and padding, type checks on loaded
 * material, the RSA-AES import/export wrapping and public-key export.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keystore/keystore_int.h"

#include <openssl/pem.h>

static void test_selftest(void **state)
{
	(void)state;
	struct bw_err err;
	bw_err_clear(&err);
	int rc = ks_selftest(&err);
	if (rc != 0)
		fail_msg("%s", err.msg);
}

/* Every subset of the 5 shares: those with >= k members recover the
 * secret, those with fewer do not. */
static void test_shamir_subsets(void **state)
{
	(void)state;
	uint8_t secret[32], ys[5 * 32], sel[5 * 32], xs[5], out[32];
	for (unsigned k = 1; k <= 5; k++) {
		bw_random(secret, sizeof(secret));
		assert_int_equal(ks_shamir_split(secret, 32, 5, k, ys), 0);
		for (unsigned mask = 1; mask < 32; mask++) {
			unsigned m = 0;
			for (unsigned i = 0; i < 5; i++) {
				if (!(mask & (1u << i)))
					continue;
				xs[m] = (uint8_t)(i + 1);
				memcpy(sel + m * 32, ys + i * 32, 32);
				m++;
			}
			assert_int_equal(ks_shamir_combine(xs, sel, m, 32, out), 0);
			if (m >= k)
				assert_memory_equal(out, secret, 32);
			else
				assert_memory_not_equal(out, secret, 32);
		}
	}
}

static void test_shamir_bad(void **state)
{
	(void)state;
	uint8_t secret[32], ys[5 * 32], out[32];
	bw_random(secret, sizeof(secret));
	assert_int_equal(ks_shamir_split(secret, 32, 5, 3, ys), 0);
	/* A wrong share (one flipped bit) gives a wrong secret. */
	uint8_t xs[3] = { 1, 2, 3 };
	uint8_t sel[3 * 32];
	memcpy(sel, ys, 3 * 32);
	sel[40] ^= 1;
	assert_int_equal(ks_shamir_combine(xs, sel, 3, 32, out), 0);
	assert_memory_not_equal(out, secret, 32);
	/* A share with the wrong x gives a wrong secret. */
	memcpy(sel, ys, 3 * 32);
	xs[2] = 4;
	assert_int_equal(ks_shamir_combine(xs, sel, 3, 32, out), 0);
	assert_memory_not_equal(out, secret, 32);
	/* Duplicate and zero x are refused. */
	uint8_t dup[3] = { 1, 2, 2 }, zero[3] = { 0, 1, 2 };
	assert_int_equal(ks_shamir_combine(dup, sel, 3, 32, out), -1);
	assert_int_equal(ks_shamir_combine(zero, sel, 3, 32, out), -1);
	/* Parameter checks. */
	assert_int_equal(ks_shamir_split(secret, 32, 2, 3, ys), -1);
	assert_int_equal(ks_shamir_split(secret, 32, 3, 0, ys), -1);
	assert_int_equal(ks_shamir_split(secret, 32, 256, 3, NULL), -1);
	assert_int_equal(ks_shamir_split(secret, 0, 3, 2, ys), -1);
	/* Field sanity: every non-zero element times its inverse is 1. */
	for (unsigned a = 1; a < 256; a++) {
		unsigned found = 0;
		for (unsigned b = 1; b < 256; b++)
			if (ks_gf_mul((uint8_t)a, (uint8_t)b) == 1)
				found++;
		assert_int_equal(found, 1);
	}
}

static void test_aead_tamper(void **state)
{
	(void)state;
	uint8_t key[32], nonce[12], pt[100], ct[100], tag[16], back[100];
	struct bw_err err;
	bw_random(key, 32);
	bw_random(nonce, 12);
	bw_random(pt, sizeof(pt));
	for (unsigned alg = 1; alg <= 2; alg++) {
		assert_int_equal(ks_aead_seal(alg, key, nonce, (const uint8_t *)"hdr", 3,
					      (const uint8_t *)"aad", 3, pt, sizeof(pt), ct,
					      tag, &err), 0);
		assert_int_equal(ks_aead_open(alg, key, nonce, (const uint8_t *)"hdr", 3,
					      (const uint8_t *)"aad", 3, ct, sizeof(ct), tag,
					      back, &err), 0);
		assert_memory_equal(back, pt, sizeof(pt));
		/* Every ciphertext and tag byte, and the AAD, matter. */
		for (size_t i = 0; i < sizeof(ct) + 16; i++) {
			uint8_t *b = i < sizeof(ct) ? &ct[i] : &tag[i - sizeof(ct)];
			*b ^= 0x80;
			assert_int_equal(ks_aead_open(alg, key, nonce, (const uint8_t *)"hdr", 3,
						      (const uint8_t *)"aad", 3, ct, sizeof(ct),
						      tag, back, &err), -1);
			assert_string_equal(err.reason, "auth");
			/* No unauthenticated plaintext is left behind. */
			uint8_t zero[100] = { 0 };
			assert_memory_equal(back, zero, sizeof(back));
			*b ^= 0x80;
		}
		assert_int_equal(ks_aead_open(alg, key, nonce, (const uint8_t *)"hdr", 3,
					      (const uint8_t *)"aaD", 3, ct, sizeof(ct), tag,
					      back, &err), -1);
		assert_int_equal(ks_aead_open(alg, key, nonce, NULL, 0,
					      (const uint8_t *)"hdraad", 6, ct, sizeof(ct),
					      tag, back, &err), 0);
	}
	assert_int_equal(ks_aead_seal(3, key, nonce, NULL, 0, NULL, 0, pt, 1, ct, tag,
				      &err), -1);
}

static void sign_roundtrip(unsigned type, unsigned hash, unsigned padding,
			   bool prehashed)
{
	struct ks_material m = { 0 };
	struct bw_err err;
	assert_int_equal(ks_crypto_generate(type, &m, &err), 0);
	EVP_PKEY *pk = ks_crypto_load(type, m.p, m.len, &err);
	assert_non_null(pk);
	uint8_t msg[64], sig[KEYSTORE_SIG_MAX];
	size_t n = sizeof(msg), slen;
	bool valid = false;
	if (prehashed) {
		bool ok;
		const EVP_MD *md = ks_sign_md(type, hash, &ok);
		assert_true(ok);
		n = (size_t)EVP_MD_get_size(md);
	}
	bw_random(msg, n);
	assert_int_equal(ks_sign(pk, type, hash, padding, prehashed, msg, n, sig,
				 sizeof(sig), &slen, &err), 0);
	assert_int_equal(ks_verify(pk, type, hash, padding, prehashed, msg, n, sig,
				   slen, -1, &valid, &err), 0);
	assert_true(valid);
	sig[slen / 2] ^= 1;
	assert_int_equal(ks_verify(pk, type, hash, padding, prehashed, msg, n, sig,
				   slen, -1, &valid, &err), 0);
	assert_false(valid);
	/* Garbage of any length is just invalid. */
	assert_int_equal(ks_verify(pk, type, hash, padding, prehashed, msg, n, sig,
				   3, -1, &valid, &err), 0);
	assert_false(valid);
	EVP_PKEY_free(pk);
	ks_material_free(&m);
}

static void test_sign_types(void **state)
{
	(void)state;
	sign_roundtrip(KEYSTORE_KT_ED25519, 0, 0, false);
	sign_roundtrip(KEYSTORE_KT_ECDSA_P256, 0, 0, false);
	sign_roundtrip(KEYSTORE_KT_ECDSA_P256, KEYSTORE_HASH_SHA512, 0, false);
	sign_roundtrip(KEYSTORE_KT_ECDSA_P256, 0, 0, true);
	sign_roundtrip(KEYSTORE_KT_ECDSA_P384, 0, 0, false);
	sign_roundtrip(KEYSTORE_KT_ECDSA_P384, KEYSTORE_HASH_SHA384, 0, true);
	sign_roundtrip(KEYSTORE_KT_RSA_2048, 0, KEYSTORE_PAD_PKCS1, false);
	sign_roundtrip(KEYSTORE_KT_RSA_2048, KEYSTORE_HASH_SHA384, KEYSTORE_PAD_PSS, false);
	sign_roundtrip(KEYSTORE_KT_RSA_2048, 0, KEYSTORE_PAD_PSS, true);
	sign_roundtrip(KEYSTORE_KT_RSA_3072, 0, 0, false);
}

static void test_sign_refusals(void **state)
{
	(void)state;
	struct ks_material m = { 0 };
	struct bw_err err;
	uint8_t sig[KEYSTORE_SIG_MAX], msg[32] = { 0 };
	size_t slen;
	assert_int_equal(ks_crypto_generate(KEYSTORE_KT_ED25519, &m, &err), 0);
	EVP_PKEY *pk = ks_crypto_load(KEYSTORE_KT_ED25519, m.p, m.len, &err);
	assert_non_null(pk);
	/* Ed25519: no prehash, no hash choice, no padding. */
	assert_int_equal(ks_sign(pk, KEYSTORE_KT_ED25519, 0, 0, true, msg, 32, sig,
				 sizeof(sig), &slen, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(ks_sign(pk, KEYSTORE_KT_ED25519, KEYSTORE_HASH_SHA256, 0, false,
				 msg, 32, sig, sizeof(sig), &slen, &err), -1);
	assert_int_equal(ks_sign(pk, KEYSTORE_KT_ED25519, 0, KEYSTORE_PAD_PSS, false,
				 msg, 32, sig, sizeof(sig), &slen, &err), -1);
	/* Loaded as another type: refused. */
	assert_null(ks_crypto_load(KEYSTORE_KT_ECDSA_P256, m.p, m.len, &err));
	assert_string_equal(err.reason, "key_type_mismatch");
	EVP_PKEY_free(pk);
	ks_material_free(&m);

	assert_int_equal(ks_crypto_generate(KEYSTORE_KT_ECDSA_P256, &m, &err), 0);
	assert_null(ks_crypto_load(KEYSTORE_KT_ECDSA_P384, m.p, m.len, &err));
	pk = ks_crypto_load(KEYSTORE_KT_ECDSA_P256, m.p, m.len, &err);
	assert_non_null(pk);
	/* Prehashed digest of the wrong length. */
	assert_int_equal(ks_sign(pk, KEYSTORE_KT_ECDSA_P256, 0, 0, true, msg, 20, sig,
				 sizeof(sig), &slen, &err), -1);
	assert_string_equal(err.reason, "digest_length");
	/* Trailing bytes after the PKCS#8 structure. */
	uint8_t *longer = malloc(m.len + 1);
	memcpy(longer, m.p, m.len);
	longer[m.len] = 0;
	assert_null(ks_crypto_load(KEYSTORE_KT_ECDSA_P256, longer, m.len + 1, &err));
	assert_null(ks_crypto_load(KEYSTORE_KT_ECDSA_P256, longer, 10, &err));
	free(longer);
	EVP_PKEY_free(pk);
	ks_material_free(&m);
	assert_int_equal(ks_crypto_generate(99, &m, &err), -1);
}

static char *pubpem_of(EVP_PKEY *pk)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(b, pk), 1);
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = 0;
	BIO_free(b);
	return out;
}

static void test_rsa_aes_wrap(void **state)
{
	(void)state;
	struct ks_material wk = { 0 }, got = { 0 };
	struct bw_err err;
	assert_int_equal(ks_crypto_generate(KEYSTORE_KT_RSA_2048, &wk, &err), 0);
	EVP_PKEY *priv = ks_crypto_load(KEYSTORE_KT_RSA_2048, wk.p, wk.len, &err);
	assert_non_null(priv);
	char *pem = pubpem_of(priv);
	uint8_t secret[45];
	bw_random(secret, sizeof(secret));
	struct bw_buf out;
	bw_buf_init(&out, KEYSTORE_WRAPPED_MAX);
	assert_int_equal(ks_rsa_aes_wrap((const uint8_t *)pem, strlen(pem), secret,
					 sizeof(secret), &out, &err), 0);
	assert_int_equal(out.len, 256 + (45 + 7) / 8 * 8 + 8);
	assert_int_equal(ks_rsa_aes_unwrap(priv, (const uint8_t *)out.data, out.len, &got,
					   &err), 0);
	assert_int_equal(got.len, sizeof(secret));
	assert_memory_equal(got.p, secret, sizeof(secret));
	ks_material_free(&got);
	/* Flip a byte in each part: both are authenticated. */
	size_t pos[] = { 10, 256 + 3, out.len - 1 };
	for (size_t i = 0; i < 3; i++) {
		out.data[pos[i]] ^= 1;
		assert_int_equal(ks_rsa_aes_unwrap(priv, (const uint8_t *)out.data, out.len,
						   &got, &err), -1);
		assert_string_equal(err.reason, "auth");
		out.data[pos[i]] ^= 1;
	}
	assert_int_equal(ks_rsa_aes_unwrap(priv, (const uint8_t *)out.data, 200, &got,
					   &err), -1);
	/* Wrapping keys that are not RSA >= 2048 are refused. */
	struct ks_material ec = { 0 };
	assert_int_equal(ks_crypto_generate(KEYSTORE_KT_ECDSA_P256, &ec, &err), 0);
	EVP_PKEY *ecpk = ks_crypto_load(KEYSTORE_KT_ECDSA_P256, ec.p, ec.len, &err);
	char *ecpem = pubpem_of(ecpk);
	bw_buf_reset(&out);
	assert_int_equal(ks_rsa_aes_wrap((const uint8_t *)ecpem, strlen(ecpem), secret,
					 sizeof(secret), &out, &err), -1);
	assert_string_equal(err.reason, "wrapping_key");
	assert_int_equal(ks_rsa_aes_wrap((const uint8_t *)"junk", 4, secret,
					 sizeof(secret), &out, &err), -1);
	free(ecpem);
	EVP_PKEY_free(ecpk);
	ks_material_free(&ec);
	free(pem);
	bw_buf_fini(&out);
	EVP_PKEY_free(priv);
	ks_material_free(&wk);
}

static void test_pubkey_export(void **state)
{
	(void)state;
	unsigned types[] = { KEYSTORE_KT_ED25519, KEYSTORE_KT_ECDSA_P256,
			     KEYSTORE_KT_ECDSA_P384, KEYSTORE_KT_RSA_2048 };
	const char *want[] = { "\"kty\":\"OKP\",\"crv\":\"Ed25519\"",
			       "\"kty\":\"EC\",\"crv\":\"P-256\"",
			       "\"kty\":\"EC\",\"crv\":\"P-384\"", "\"kty\":\"RSA\",\"n\":" };
	for (size_t i = 0; i < 4; i++) {
		struct ks_material m = { 0 };
		struct bw_err err;
		assert_int_equal(ks_crypto_generate(types[i], &m, &err), 0);
		EVP_PKEY *pk = ks_crypto_load(types[i], m.p, m.len, &err);
		struct bw_buf out;
		bw_buf_init(&out, KEYSTORE_PUBKEY_MAX);
		assert_int_equal(ks_pubkey_export(pk, types[i], KEYSTORE_FMT_PEM, NULL, &out,
						  &err), 0);
		/* The PEM reads back as the same public key. */
		BIO *b = BIO_new_mem_buf(out.data, (int)out.len);
		EVP_PKEY *back = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
		BIO_free(b);
		assert_non_null(back);
		assert_int_equal(EVP_PKEY_eq(pk, back), 1);
		EVP_PKEY_free(back);
		bw_buf_reset(&out);
		assert_int_equal(ks_pubkey_export(pk, types[i], KEYSTORE_FMT_JWK, "t/k:1",
						  &out, &err), 0);
		assert_non_null(strstr(out.data, want[i]));
		assert_non_null(strstr(out.data, "\"kid\":\"t/k:1\""));
		assert_int_equal(out.data[0], '{');
		assert_int_equal(out.data[out.len - 1], '}');
		/* Never any private component. */
		assert_null(strstr(out.data, "\"d\""));
		bw_buf_fini(&out);
		EVP_PKEY_free(pk);
		ks_material_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selftest),
		cmocka_unit_test(test_shamir_subsets),
		cmocka_unit_test(test_shamir_bad),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_sign_types),
		cmocka_unit_test(test_sign_refusals),
		cmocka_unit_test(test_rsa_aes_wrap),
		cmocka_unit_test(test_pubkey_export),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
