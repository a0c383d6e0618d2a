/*
 * The keystore's cryptographic primitives, each a thin, checked layer over
 * OpenSSL 3 (and libargon2 for Argon2id): key generation and parsing,
 * AEAD, signatures, HMAC, public-key export, RFC 5649 key wrap, RSA-OAEP,
 * the RSA-AES wrapping used for import and export, and HKDF.
 *
 * Invariants:
 *  - secret outputs (material, unwrapped keys) are written to the secure
 *    heap or to caller buffers; temporaries are cleansed on every path;
 *  - every OpenSSL failure drains the error queue into the bw_err, so no
 *    stale error is reported for a later operation;
 *  - a parsed private key is checked against the declared type (algorithm,
 *    curve, modulus size) before anyone may use it.
 */
#include "keystore/keystore_int.h"

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <string.h>

#define M "keystore"

static int ossl_fail(struct bw_err *err, const char *what)
{
	return bw_err_openssl(err, M, what);
}

/* ---------------------------------------------------------------- memory */

void *ks_secure_alloc(size_t n)
{
	return OPENSSL_secure_zalloc(n ? n : 1);
}

void ks_secure_free(void *p, size_t n)
{
	if (p)
		OPENSSL_secure_clear_free(p, n ? n : 1);
}

int ks_secure_heap_init(size_t size, struct bw_err *err)
{
	if (CRYPTO_secure_malloc_initialized())
		return 0;
	int rc = CRYPTO_secure_malloc_init(size, 16);
	if (rc == 0)
		return bw_err_set(err, 500, M, "secure_heap",
				  "cannot create a %zu-byte secure heap", size);
	if (rc == 2)
		return bw_err_set(err, 500, M, "secure_heap_unlocked",
				  "secure heap created but not locked or guarded "
				  "(raise RLIMIT_MEMLOCK)");
	return 0;
}

void ks_material_free(struct ks_material *m)
{
	ks_secure_free(m->p, m->len);
	m->p = NULL;
	m->len = 0;
}

int ks_material_dup(struct ks_material *out, const uint8_t *p, size_t len)
{
	out->p = ks_secure_alloc(len);
	if (!out->p)
		return -1;
	if (len)
		memcpy(out->p, p, len);
	out->len = len;
	return 0;
}

/* ------------------------------------------------------------------ keys */

size_t ks_sym_len(unsigned type)
{
	switch (type) {
	case KEYSTORE_KT_AES256_GCM:
	case KEYSTORE_KT_CHACHA20_POLY1305:
	case KEYSTORE_KT_HMAC_SHA256:
		return 32;
	case KEYSTORE_KT_HMAC_SHA512:
		return 64;
	default:
		return 0;
	}
}

int ks_crypto_pkcs8(EVP_PKEY *pk, struct ks_material *out, struct bw_err *err)
{
	/* PKCS8_PRIV_KEY_INFO_free clears the key octets it holds. */
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
	if (!p8)
		return ossl_fail(err, "PKCS#8 conversion");
	int len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
	int rc = -1;
	if (len <= 0 || (size_t)len > KEYSTORE_WRAPPED_MAX) {
		rc = bw_err_set(err, 500, M, "pkcs8", "PKCS#8 encoding failed");
		goto out;
	}
	out->p = ks_secure_alloc((size_t)len);
	if (!out->p) {
		rc = bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
		goto out;
	}
	unsigned char *q = out->p;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &q) != len) {
		ks_secure_free(out->p, (size_t)len);
		out->p = NULL;
		rc = ossl_fail(err, "PKCS#8 encoding");
		goto out;
	}
	out->len = (size_t)len;
	rc = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rc;
}

int ks_crypto_generate(unsigned type, struct ks_material *out,
		       struct bw_err *err)
{
	size_t sl = ks_sym_len(type);
	if (sl) {
		out->p = ks_secure_alloc(sl);
		if (!out->p)
			return bw_err_set(err, 500, M, "secure_heap",
					  "secure heap exhausted");
		out->len = sl;
		bw_random(out->p, sl);
		return 0;
	}
	EVP_PKEY *pk = NULL;
	switch (type) {
	case KEYSTORE_KT_ED25519:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case KEYSTORE_KT_ECDSA_P256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEYSTORE_KT_ECDSA_P384:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEYSTORE_KT_RSA_2048:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case KEYSTORE_KT_RSA_3072:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case KEYSTORE_KT_RSA_4096:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	default:
		return bw_err_set(err, 400, M, "key_type", "unknown key type %u",
				  type);
	}
	if (!pk)
		return ossl_fail(err, "key generation");
	int rc = ks_crypto_pkcs8(pk, out, err);
	EVP_PKEY_free(pk);
	return rc;
}

static bool curve_is(EVP_PKEY *pk, const char *name)
{
	char group[64];
	size_t glen = 0;
	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
					   sizeof(group), &glen) != 1)
		return false;
	return strcmp(group, name) == 0;
}

EVP_PKEY *ks_crypto_load(unsigned type, const uint8_t *der, size_t len,
			 struct bw_err *err)
{
	const unsigned char *q = der;
	if (len == 0 || len > KEYSTORE_WRAPPED_MAX) {
		bw_err_set(err, 400, M, "pkcs8", "key material has a bad size");
		return NULL;
	}
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)len);
	if (!p8 || q != der + len) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		ERR_clear_error();
		bw_err_set(err, 400, M, "pkcs8", "key material is not one PKCS#8 key");
		return NULL;
	}
	EVP_PKEY *pk = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!pk) {
		ERR_clear_error();
		bw_err_set(err, 400, M, "pkcs8", "key material does not parse");
		return NULL;
	}
	bool ok;
	switch (type) {
	case KEYSTORE_KT_ED25519:
		ok = EVP_PKEY_is_a(pk, "ED25519");
		break;
	case KEYSTORE_KT_ECDSA_P256:
		ok = EVP_PKEY_is_a(pk, "EC") && curve_is(pk, "prime256v1");
		break;
	case KEYSTORE_KT_ECDSA_P384:
		ok = EVP_PKEY_is_a(pk, "EC") && curve_is(pk, "secp384r1");
		break;
	case KEYSTORE_KT_RSA_2048:
		ok = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) == 2048;
		break;
	case KEYSTORE_KT_RSA_3072:
		ok = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) == 3072;
		break;
	case KEYSTORE_KT_RSA_4096:
		ok = EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) == 4096;
		break;
	default:
		ok = false;
	}
	if (!ok) {
		EVP_PKEY_free(pk);
		bw_err_set(err, 400, M, "key_type_mismatch",
			   "key material is not a %s key",
			   keystore_key_type_name(type) ? keystore_key_type_name(type)
							: "known");
		return NULL;
	}
	return pk;
}

/* ------------------------------------------------------------------ AEAD */

/* Explicitly fetched algorithm objects, fetched once: OpenSSL 3 looks
 * the implementation up on every init otherwise, which costs more than
 * encrypting a kilobyte. */
static EVP_CIPHER *c_gcm, *c_chacha;
static EVP_MD *m_sha256, *m_sha384, *m_sha512;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	c_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	c_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	m_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	m_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	m_sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

static const EVP_MD *md_sha(int bits)
{
	pthread_once(&fetch_once, fetch_all);
	const EVP_MD *m = bits == 256 ? m_sha256 : bits == 384 ? m_sha384 : m_sha512;
	/* Fall back to the implicit objects if a fetch failed. */
	if (!m)
		m = bits == 256 ? EVP_sha256() : bits == 384 ? EVP_sha384() : EVP_sha512();
	return m;
}

static const EVP_CIPHER *aead_cipher(unsigned alg)
{
	pthread_once(&fetch_once, fetch_all);
	switch (alg) {
	case 1:
		return c_gcm ? c_gcm : EVP_aes_256_gcm();
	case 2:
		return c_chacha ? c_chacha : EVP_chacha20_poly1305();
	default:
		return NULL;
	}
}

static int aead_aad(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *a, size_t n)
{
	int outl;
	if (n == 0)
		return 1;
	if (n > INT32_MAX)
		return 0;
	return enc ? EVP_EncryptUpdate(ctx, NULL, &outl, a, (int)n) :
		     EVP_DecryptUpdate(ctx, NULL, &outl, a, (int)n);
}

int ks_aead_seal(unsigned alg, const uint8_t *key, const uint8_t *nonce,
		 const uint8_t *aad1, size_t aad1len, const uint8_t *aad2,
		 size_t aad2len, const uint8_t *pt, size_t n, uint8_t *ct,
		 uint8_t tag[16], struct bw_err *err)
{
	const EVP_CIPHER *c = aead_cipher(alg);
	if (!c || n > INT32_MAX)
		return bw_err_set(err, 400, M, "aead", "unsupported AEAD input");
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0, rc = -1;
	if (!ctx || EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    aead_aad(ctx, true, aad1, aad1len) != 1 ||
	    aead_aad(ctx, true, aad2, aad2len) != 1 ||
	    (n > 0 && EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(ctx, ct + outl, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) {
		ossl_fail(err, "AEAD encryption");
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
	return rc;
}

int ks_aead_open(unsigned alg, const uint8_t *key, const uint8_t *nonce,
		 const uint8_t *aad1, size_t aad1len, const uint8_t *aad2,
		 size_t aad2len, const uint8_t *ct, size_t n,
		 const uint8_t tag[16], uint8_t *pt, struct bw_err *err)
{
	const EVP_CIPHER *c = aead_cipher(alg);
	if (!c || n > INT32_MAX)
		return bw_err_set(err, 400, M, "aead", "unsupported AEAD input");
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0, rc = -1;
	if (!ctx || EVP_DecryptInit_ex(ctx, c, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    aead_aad(ctx, false, aad1, aad1len) != 1 ||
	    aead_aad(ctx, false, aad2, aad2len) != 1 ||
	    (n > 0 && EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) != 1) {
		ossl_fail(err, "AEAD decryption");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, pt + outl, &fin) != 1) {
		ERR_clear_error();
		bw_err_set(err, 400, M, "auth", "ciphertext failed authentication");
		goto out;
	}
	rc = 0;
out:
	/* GCM and ChaCha20 write plaintext before the tag is checked: never
	 * leave unauthenticated plaintext behind. */
	if (rc < 0 && n > 0)
		OPENSSL_cleanse(pt, n);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* ------------------------------------------------------------ signatures */

const EVP_MD *ks_sign_md(unsigned type, unsigned hash, bool *ok)
{
	*ok = true;
	switch (type) {
	case KEYSTORE_KT_ED25519:
		*ok = hash == KEYSTORE_HASH_DEFAULT;
		return NULL;
	case KEYSTORE_KT_ECDSA_P256:
	case KEYSTORE_KT_ECDSA_P384:
	case KEYSTORE_KT_RSA_2048:
	case KEYSTORE_KT_RSA_3072:
	case KEYSTORE_KT_RSA_4096:
		switch (hash) {
		case KEYSTORE_HASH_DEFAULT:
			return md_sha(type == KEYSTORE_KT_ECDSA_P384 ? 384 : 256);
		case KEYSTORE_HASH_SHA256:
			return md_sha(256);
		case KEYSTORE_HASH_SHA384:
			return md_sha(384);
		case KEYSTORE_HASH_SHA512:
			return md_sha(512);
		default:
			break;
		}
		break;
	default:
		break;
	}
	*ok = false;
	return NULL;
}

static bool is_rsa(unsigned type)
{
	return type >= KEYSTORE_KT_RSA_2048 && type <= KEYSTORE_KT_RSA_4096;
}

/* Applies RSA padding options to a signing/verifying context. */
static int set_padding(EVP_PKEY_CTX *pctx, unsigned type, unsigned padding,
		       int saltlen, struct bw_err *err)
{
	if (!is_rsa(type)) {
		if (padding != KEYSTORE_PAD_DEFAULT)
			return bw_err_set(err, 400, M, "padding",
					  "padding applies to RSA keys only");
		return 0;
	}
	if (padding == KEYSTORE_PAD_PSS) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) != 1)
			return ossl_fail(err, "PSS parameters");
		return 0;
	}
	if (padding != KEYSTORE_PAD_DEFAULT && padding != KEYSTORE_PAD_PKCS1)
		return bw_err_set(err, 400, M, "padding", "unknown padding %u",
				  padding);
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		return ossl_fail(err, "PKCS#1 parameters");
	return 0;
}

static int check_request(unsigned type, unsigned hash, bool prehashed,
			 size_t n, const EVP_MD **md, struct bw_err *err)
{
	bool ok;
	*md = ks_sign_md(type, hash, &ok);
	if (!ok)
		return bw_err_set(err, 400, M, "hash",
				  "hash not applicable to this key type");
	if (prehashed) {
		if (!*md)
			return bw_err_set(err, 400, M, "prehashed",
					  "Ed25519 signs messages, not digests");
		if (n != (size_t)EVP_MD_get_size(*md))
			return bw_err_set(err, 400, M, "digest_length",
					  "digest must be %d bytes",
					  EVP_MD_get_size(*md));
	}
	return 0;
}

int ks_sign(EVP_PKEY *pk, unsigned type, unsigned hash, unsigned padding,
	    bool prehashed, const uint8_t *msg, size_t n, uint8_t *sig,
	    size_t cap, size_t *siglen, struct bw_err *err)
{
	const EVP_MD *md;
	if (check_request(type, hash, prehashed, n, &md, err) < 0)
		return -1;
	if ((size_t)EVP_PKEY_get_size(pk) > cap)
		return bw_err_set(err, 500, M, "sig_size", "signature buffer too small");
	int rc = -1;
	size_t len = cap;
	if (prehashed) {
		EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (!pctx || EVP_PKEY_sign_init(pctx) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pctx, md) != 1) {
			ossl_fail(err, "signing setup");
		} else if (set_padding(pctx, type, padding, RSA_PSS_SALTLEN_DIGEST,
				       err) == 0) {
			if (EVP_PKEY_sign(pctx, sig, &len, msg, n) == 1)
				rc = 0;
			else
				ossl_fail(err, "signing");
		}
		EVP_PKEY_CTX_free(pctx);
	} else {
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		if (!mctx || EVP_DigestSignInit(mctx, &pctx, md, NULL, pk) != 1) {
			ossl_fail(err, "signing setup");
		} else if (set_padding(pctx, type, padding, RSA_PSS_SALTLEN_DIGEST,
				       err) == 0) {
			if (EVP_DigestSign(mctx, sig, &len, msg, n) == 1)
				rc = 0;
			else
				ossl_fail(err, "signing");
		}
		EVP_MD_CTX_free(mctx);
	}
	if (rc == 0)
		*siglen = len;
	return rc;
}

int ks_verify(EVP_PKEY *pk, unsigned type, unsigned hash, unsigned padding,
	      bool prehashed, const uint8_t *msg, size_t n, const uint8_t *sig,
	      size_t siglen, int pss_saltlen, bool *valid, struct bw_err *err)
{
	const EVP_MD *md;
	*valid = false;
	if (check_request(type, hash, prehashed, n, &md, err) < 0)
		return -1;
	int salt = pss_saltlen < 0 ? RSA_PSS_SALTLEN_AUTO : pss_saltlen;
	int rc = -1, r = 0;
	if (prehashed) {
		EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (!pctx || EVP_PKEY_verify_init(pctx) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pctx, md) != 1) {
			ossl_fail(err, "verification setup");
		} else if (set_padding(pctx, type, padding, salt, err) == 0) {
			r = EVP_PKEY_verify(pctx, sig, siglen, msg, n);
			rc = 0;
		}
		EVP_PKEY_CTX_free(pctx);
	} else {
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		if (!mctx || EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pk) != 1) {
			ossl_fail(err, "verification setup");
		} else if (set_padding(pctx, type, padding, salt, err) == 0) {
			r = EVP_DigestVerify(mctx, sig, siglen, msg, n);
			rc = 0;
		}
		EVP_MD_CTX_free(mctx);
	}
	/* A malformed signature is just an invalid one; its parse errors
	 * must not linger in the queue. */
	ERR_clear_error();
	*valid = rc == 0 && r == 1;
	return rc;
}

int ks_hmac(unsigned type, const uint8_t *key, size_t keylen,
	    const uint8_t *msg, size_t n, uint8_t *mac, size_t *maclen,
	    struct bw_err *err)
{
	const EVP_MD *md = type == KEYSTORE_KT_HMAC_SHA256 ? EVP_sha256() :
			   type == KEYSTORE_KT_HMAC_SHA512 ? EVP_sha512() :
							     NULL;
	unsigned len = 0;
	if (!md)
		return bw_err_set(err, 400, M, "key_type", "not an HMAC key");
	if (keylen > INT32_MAX ||
	    !HMAC(md, key, (int)keylen, msg, n, mac, &len))
		return ossl_fail(err, "HMAC");
	*maclen = len;
	return 0;
}

/* ----------------------------------------------------------- public keys */

static int append_b64(struct bw_buf *out, const uint8_t *p, size_t n)
{
	char tmp[1024];
	size_t m = keystore_b64url_encode(p, n, tmp, sizeof(tmp));
	if (!m)
		return -1;
	return bw_buf_append(out, tmp, m);
}

static int jwk_bn(struct bw_buf *out, EVP_PKEY *pk, const char *param,
		  const char *name)
{
	BIGNUM *bn = NULL;
	uint8_t bin[600];
	int rc = -1;
	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		goto out;
	int len = BN_num_bytes(bn);
	if (len <= 0 || (size_t)len > sizeof(bin) || BN_bn2bin(bn, bin) != len)
		goto out;
	if (bw_buf_printf(out, ",\"%s\":\"", name) < 0 ||
	    append_b64(out, bin, (size_t)len) < 0 ||
	    bw_buf_append_byte(out, '"') < 0)
		goto out;
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

static int jwk_write(EVP_PKEY *pk, unsigned type, const char *kid,
		     struct bw_buf *out)
{
	uint8_t pt[200];
	size_t len = 0;
	switch (type) {
	case KEYSTORE_KT_ED25519:
		len = sizeof(pt);
		if (EVP_PKEY_get_raw_public_key(pk, pt, &len) != 1 || len != 32 ||
		    bw_buf_append_str(out, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
					   "\"x\":\"") < 0 ||
		    append_b64(out, pt, len) < 0 || bw_buf_append_byte(out, '"') < 0)
			return -1;
		break;
	case KEYSTORE_KT_ECDSA_P256:
	case KEYSTORE_KT_ECDSA_P384: {
		size_t coord = type == KEYSTORE_KT_ECDSA_P256 ? 32 : 48;
		if (EVP_PKEY_get_octet_string_param(pk,
						    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						    pt, sizeof(pt), &len) != 1 ||
		    len != 1 + 2 * coord || pt[0] != 0x04)
			return -1;
		if (bw_buf_printf(out, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"",
				  coord == 32 ? "P-256" : "P-384") < 0 ||
		    append_b64(out, pt + 1, coord) < 0 ||
		    bw_buf_append_str(out, "\",\"y\":\"") < 0 ||
		    append_b64(out, pt + 1 + coord, coord) < 0 ||
		    bw_buf_append_byte(out, '"') < 0)
			return -1;
		break;
	}
	case KEYSTORE_KT_RSA_2048:
	case KEYSTORE_KT_RSA_3072:
	case KEYSTORE_KT_RSA_4096:
		if (bw_buf_append_str(out, "{\"kty\":\"RSA\"") < 0 ||
		    jwk_bn(out, pk, OSSL_PKEY_PARAM_RSA_N, "n") < 0 ||
		    jwk_bn(out, pk, OSSL_PKEY_PARAM_RSA_E, "e") < 0)
			return -1;
		break;
	default:
		return -1;
	}
	/* kid comes from validated names: [A-Za-z0-9._-:] needs no escaping. */
	if (kid && bw_buf_printf(out, ",\"kid\":\"%s\"", kid) < 0)
		return -1;
	return bw_buf_append_str(out, ",\"use\":\"sig\"}");
}

int ks_pubkey_export(EVP_PKEY *pk, unsigned type, unsigned fmt,
		     const char *kid, struct bw_buf *out, struct bw_err *err)
{
	if (fmt == KEYSTORE_FMT_JWK) {
		if (jwk_write(pk, type, kid, out) < 0) {
			ERR_clear_error();
			return bw_err_set(err, 500, M, "jwk", "JWK export failed");
		}
		return 0;
	}
	if (fmt != KEYSTORE_FMT_PEM)
		return bw_err_set(err, 400, M, "format", "unknown format %u", fmt);
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	int rc = -1;
	if (!b || PEM_write_bio_PUBKEY(b, pk) != 1) {
		ossl_fail(err, "PEM export");
		goto out;
	}
	long n = BIO_get_mem_data(b, &data);
	if (n <= 0 || bw_buf_append(out, data, (size_t)n) < 0) {
		bw_err_set(err, 500, M, "pem", "PEM export failed");
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

/* ------------------------------------------------------------- key wrap */

static const EVP_CIPHER *kwp_cipher(size_t keklen)
{
	switch (keklen) {
	case 16:
		return EVP_aes_128_wrap_pad();
	case 24:
		return EVP_aes_192_wrap_pad();
	case 32:
		return EVP_aes_256_wrap_pad();
	default:
		return NULL;
	}
}

static int kwp(bool enc, const uint8_t *kek, size_t keklen, const uint8_t *in,
	       size_t n, uint8_t *out, size_t cap, size_t *outlen,
	       struct bw_err *err)
{
	const EVP_CIPHER *c = kwp_cipher(keklen);
	if (!c || n == 0 || n > KEYSTORE_WRAPPED_MAX || cap < n + 16)
		return bw_err_set(err, 400, M, "kwp", "bad key wrap input");
	if (!enc && (n < 16 || n % 8 != 0))
		return bw_err_set(err, 400, M, "auth", "wrapped key has a bad size");
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0, rc = -1;
	if (!ctx) {
		ossl_fail(err, "key wrap");
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, c, NULL, kek, NULL, enc ? 1 : 0) != 1) {
		ossl_fail(err, "key wrap");
		goto out;
	}
	if (EVP_CipherUpdate(ctx, out, &l1, in, (int)n) <= 0 ||
	    EVP_CipherFinal_ex(ctx, out + l1, &l2) <= 0) {
		ERR_clear_error();
		if (enc)
			bw_err_set(err, 500, M, "kwp", "key wrap failed");
		else
			bw_err_set(err, 400, M, "auth",
				   "wrapped key failed its integrity check");
		OPENSSL_cleanse(out, cap);
		goto out;
	}
	*outlen = (size_t)l1 + (size_t)l2;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int ks_kwp_wrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n,
		uint8_t *out, size_t cap, size_t *outlen, struct bw_err *err)
{
	return kwp(true, kek, keklen, in, n, out, cap, outlen, err);
}

int ks_kwp_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in,
		  size_t n, uint8_t *out, size_t cap, size_t *outlen,
		  struct bw_err *err)
{
	return kwp(false, kek, keklen, in, n, out, cap, outlen, err);
}

static int oaep_ctx(EVP_PKEY_CTX *pctx, const EVP_MD *md)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) == 1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
}

int ks_oaep_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t n, uint8_t *out,
		    size_t cap, size_t *outlen, struct bw_err *err)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	size_t len = cap;
	int rc = -1;
	if (!pctx || EVP_PKEY_encrypt_init(pctx) != 1 ||
	    !oaep_ctx(pctx, EVP_sha256()) ||
	    EVP_PKEY_encrypt(pctx, out, &len, in, n) != 1) {
		ossl_fail(err, "RSA-OAEP encryption");
		goto out;
	}
	*outlen = len;
	rc = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int ks_oaep_decrypt(EVP_PKEY *priv, const EVP_MD *md, const uint8_t *in,
		    size_t n, uint8_t *out, size_t cap, size_t *outlen,
		    struct bw_err *err)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t len = cap;
	int rc = -1;
	if (!pctx || EVP_PKEY_decrypt_init(pctx) != 1 || !oaep_ctx(pctx, md)) {
		ossl_fail(err, "RSA-OAEP setup");
		goto out;
	}
	if (EVP_PKEY_decrypt(pctx, out, &len, in, n) != 1) {
		ERR_clear_error();
		bw_err_set(err, 400, M, "auth", "RSA-OAEP decryption failed");
		goto out;
	}
	*outlen = len;
	rc = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int ks_rsa_aes_wrap(const uint8_t *pubpem, size_t pemlen, const uint8_t *in,
		    size_t n, struct bw_buf *out, struct bw_err *err)
{
	if (pemlen > KEYSTORE_PUBKEY_MAX)
		return bw_err_set(err, 400, M, "wrapping_key", "wrapping key too large");
	BIO *b = BIO_new_mem_buf(pubpem, (int)pemlen);
	EVP_PKEY *pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	uint8_t *eph = ks_secure_alloc(32);
	uint8_t *blob = NULL;
	size_t cap = 0;
	int rc = -1;
	if (!pub || !EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_get_bits(pub) < 2048) {
		ERR_clear_error();
		rc = bw_err_set(err, 400, M, "wrapping_key",
				"the wrapping key must be an RSA public key of at "
				"least 2048 bits in PEM");
		goto out;
	}
	if (!eph) {
		rc = bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
		goto out;
	}
	size_t mod = (size_t)EVP_PKEY_get_size(pub);
	cap = mod + n + 16;
	blob = malloc(cap);
	if (!blob) {
		rc = bw_err_set(err, 500, M, "memory", "out of memory");
		goto out;
	}
	bw_random(eph, 32);
	size_t l1, l2;
	if (ks_oaep_encrypt(pub, eph, 32, blob, mod, &l1, err) < 0 ||
	    ks_kwp_wrap(eph, 32, in, n, blob + l1, cap - l1, &l2, err) < 0)
		goto out;
	if (bw_buf_append(out, blob, l1 + l2) < 0) {
		rc = bw_err_set(err, 413, M, "too_large", "wrapped key too large");
		goto out;
	}
	rc = 0;
out:
	if (blob) {
		OPENSSL_cleanse(blob, cap);
		free(blob);
	}
	ks_secure_free(eph, 32);
	EVP_PKEY_free(pub);
	return rc;
}

int ks_rsa_aes_unwrap(EVP_PKEY *priv, const uint8_t *in, size_t n,
		      struct ks_material *out, struct bw_err *err)
{
	size_t mod = (size_t)EVP_PKEY_get_size(priv);
	uint8_t *eph = ks_secure_alloc(mod);
	uint8_t *mat = NULL;
	size_t cap = n, elen = 0, mlen = 0;
	int rc = -1;
	if (!eph)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	if (n <= mod + 16) {
		rc = bw_err_set(err, 400, M, "auth", "wrapped key too short");
		goto out;
	}
	if (ks_oaep_decrypt(priv, EVP_sha256(), in, mod, eph, mod, &elen, err) < 0)
		goto out;
	if (elen != 32) {
		rc = bw_err_set(err, 400, M, "auth",
				"wrapped key's AES key is not 256 bits");
		goto out;
	}
	mat = ks_secure_alloc(cap);
	if (!mat) {
		rc = bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
		goto out;
	}
	if (ks_kwp_unwrap(eph, 32, in + mod, n - mod, mat, cap, &mlen, err) < 0)
		goto out;
	if (ks_material_dup(out, mat, mlen) < 0) {
		rc = bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
		goto out;
	}
	rc = 0;
out:
	ks_secure_free(mat, cap);
	ks_secure_free(eph, mod);
	return rc;
}

/* ------------------------------------------------------------------- KDFs */

int ks_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out,
	    size_t outlen, struct bw_err *err)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t len = outlen;
	int rc = -1;
	if (!pctx || EVP_PKEY_derive_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(pctx, ikm, (int)ikmlen) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(pctx, (const unsigned char *)info,
					(int)strlen(info)) != 1 ||
	    EVP_PKEY_derive(pctx, out, &len) != 1 || len != outlen) {
		ossl_fail(err, "HKDF");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int ks_argon2id(const uint8_t *pass, size_t passlen, const uint8_t *salt,
		size_t saltlen, uint32_t t, uint32_t m_kib, uint8_t out[32],
		struct bw_err *err)
{
	int r = argon2id_hash_raw(t, m_kib, 1, pass, passlen, salt, saltlen, out,
				  32);
	if (r != ARGON2_OK)
		return bw_err_set(err, 500, M, "argon2", "Argon2id failed: %s",
				  argon2_error_message(r));
	return 0;
}
