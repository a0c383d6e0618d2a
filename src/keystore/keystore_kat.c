/*
 * Known-answer self-tests, run by the key process before it serves
 * anything (and by the unit tests). Every algorithm path the keystore
 * offers is checked against a published vector through the same
 * functions the requests use (keystore_crypto.c):
 *
 *   AES-256-GCM            NIST CAVP gcmEncryptExtIV256      seal + open + tamper
 *   ChaCha20-Poly1305      RFC 7539 (OpenSSL evpciph)        seal + open + tamper
 *   HMAC-SHA-256/512       RFC 4231 case 2
 *   Ed25519                RFC 8032 §7.1 test 3              deterministic sign + verify
 *   ECDSA P-256 / P-384    NIST CAVP SigVer (186-3)          verify + tamper, then a
 *                                                            pairwise sign/verify
 *   RSA PKCS#1 v1.5        NIST CAVP SigGen15, 2048/SHA-256  deterministic sign + verify
 *   RSA-PSS                NIST CAVP SigVerPSS, 2048/SHA-256 verify, then pairwise
 *   RSA-OAEP (SHA-256)     pyca oaep-custom (from NIST)      decrypt, then pairwise
 *   AES key wrap w/ pad    SP 800-38F KWP-AE-256             wrap + unwrap + tamper
 *   HKDF-SHA-256           RFC 5869 case 3
 *   Argon2id               RFC 9106 §5.3
 *   GF(2^8) / Shamir       FIPS-197 §4.2 product; split/combine round trip
 *
 * ECDSA and PSS signatures are randomised, so for those the signing
 * direction is a pairwise-consistency test (as FIPS 140 asks of key
 * generation), and the vector checks verification.
 */
#include "keystore/keystore_int.h"
#include "keystore/keystore_kat_vectors.h"

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <string.h>

#define M "keystore"
#define KAT_BUF 1024

struct hexbuf {
	uint8_t b[KAT_BUF];
	size_t n;
};

static int hex(const char *s, struct hexbuf *h)
{
	return bw_hex_decode(s, strlen(s), h->b, sizeof(h->b), &h->n);
}

static int fail(struct bw_err *err, const char *what)
{
	ERR_clear_error();
	return bw_err_set(err, 500, M, "selftest", "self-test failed: %s", what);
}

static int kat_aead(unsigned alg, const char *k, const char *iv, const char *pt,
		    const char *aad, const char *ct, const char *tag,
		    const char *name, struct bw_err *err)
{
	struct hexbuf K, IV, P, A, C, T;
	uint8_t out[KAT_BUF], tg[16], back[KAT_BUF];
	struct bw_err e;
	if (hex(k, &K) < 0 || hex(iv, &IV) < 0 || hex(pt, &P) < 0 ||
	    hex(aad, &A) < 0 || hex(ct, &C) < 0 || hex(tag, &T) < 0 ||
	    K.n != 32 || IV.n != 12 || T.n != 16 || C.n != P.n)
		return fail(err, name);
	if (ks_aead_seal(alg, K.b, IV.b, A.b, A.n, NULL, 0, P.b, P.n, out, tg,
			 &e) < 0 ||
	    memcmp(out, C.b, C.n) != 0 || memcmp(tg, T.b, 16) != 0)
		return fail(err, name);
	/* The AAD split in two must authenticate the same as in one piece. */
	if (ks_aead_open(alg, K.b, IV.b, A.b, A.n / 2, A.b + A.n / 2,
			 A.n - A.n / 2, C.b, C.n, T.b, back, &e) < 0 ||
	    memcmp(back, P.b, P.n) != 0)
		return fail(err, name);
	T.b[0] ^= 1;
	if (ks_aead_open(alg, K.b, IV.b, A.b, A.n, NULL, 0, C.b, C.n, T.b, back,
			 &e) == 0)
		return fail(err, name);
	return 0;
}

static int kat_hmac(unsigned type, const char *k, const char *m,
		    const char *mac, const char *name, struct bw_err *err)
{
	struct hexbuf K, Msg, Mac;
	uint8_t out[64];
	size_t n;
	struct bw_err e;
	if (hex(k, &K) < 0 || hex(m, &Msg) < 0 || hex(mac, &Mac) < 0 ||
	    ks_hmac(type, K.b, K.n, Msg.b, Msg.n, out, &n, &e) < 0 ||
	    n != Mac.n || memcmp(out, Mac.b, n) != 0)
		return fail(err, name);
	return 0;
}

static int kat_ed25519(struct bw_err *err)
{
	struct hexbuf seed, pub, msg, sig;
	uint8_t out[KEYSTORE_SIG_MAX], p[32];
	size_t n = sizeof(p), slen;
	struct bw_err e;
	bool valid = false;
	int rc = -1;
	if (hex(kat_ed25519_seed, &seed) < 0 || hex(kat_ed25519_pub, &pub) < 0 ||
	    hex(kat_ed25519_msg, &msg) < 0 || hex(kat_ed25519_sig, &sig) < 0)
		return fail(err, "Ed25519 vector");
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed.b,
						    seed.n);
	if (!pk || EVP_PKEY_get_raw_public_key(pk, p, &n) != 1 || n != 32 ||
	    memcmp(p, pub.b, 32) != 0 ||
	    ks_sign(pk, KEYSTORE_KT_ED25519, 0, 0, false, msg.b, msg.n, out,
		    sizeof(out), &slen, &e) < 0 ||
	    slen != sig.n || memcmp(out, sig.b, slen) != 0 ||
	    ks_verify(pk, KEYSTORE_KT_ED25519, 0, 0, false, msg.b, msg.n, sig.b,
		      sig.n, -1, &valid, &e) < 0 ||
	    !valid)
		goto out;
	sig.b[5] ^= 0x40;
	if (ks_verify(pk, KEYSTORE_KT_ED25519, 0, 0, false, msg.b, msg.n, sig.b,
		      sig.n, -1, &valid, &e) < 0 ||
	    valid)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc < 0 ? fail(err, "Ed25519") : 0;
}

/* Builds a key from OSSL_PARAMs (public or key pair). */
static EVP_PKEY *from_params(const char *alg, int selection, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *pk = NULL;
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static EVP_PKEY *ec_pub(const char *group, const char *qx, const char *qy)
{
	struct hexbuf X, Y;
	uint8_t pt[1 + 2 * 66];
	if (hex(qx, &X) < 0 || hex(qy, &Y) < 0 || X.n != Y.n || X.n > 66)
		return NULL;
	pt[0] = 0x04;
	memcpy(pt + 1, X.b, X.n);
	memcpy(pt + 1 + X.n, Y.b, Y.n);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						 (char *)group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt,
						  1 + 2 * X.n),
		OSSL_PARAM_construct_end(),
	};
	return from_params("EC", EVP_PKEY_PUBLIC_KEY, params);
}

/* r, s (hex) to a DER ECDSA-Sig-Value. */
static int ecdsa_der(const char *r, const char *s, uint8_t *out, size_t *n)
{
	BIGNUM *R = NULL, *S = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	int rc = -1;
	if (!sig || !BN_hex2bn(&R, r) || !BN_hex2bn(&S, s) ||
	    ECDSA_SIG_set0(sig, R, S) != 1) {
		BN_free(R);
		BN_free(S);
		goto out;
	}
	int len = i2d_ECDSA_SIG(sig, NULL);
	if (len <= 0 || (size_t)len > *n)
		goto out;
	unsigned char *q = out;
	*n = (size_t)i2d_ECDSA_SIG(sig, &q);
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

/* Pairwise consistency: pk signs, verifies, and rejects a changed
 * message. */
static int pairwise_pk(EVP_PKEY *pk, unsigned type, unsigned padding)
{
	static const uint8_t msg[] = "bulwark keystore pairwise test";
	uint8_t sig[KEYSTORE_SIG_MAX], bad[sizeof(msg)];
	size_t slen;
	bool valid = false, valid2 = true;
	struct bw_err e;
	if (ks_sign(pk, type, 0, padding, false, msg, sizeof(msg), sig,
		    sizeof(sig), &slen, &e) < 0 ||
	    ks_verify(pk, type, 0, padding, false, msg, sizeof(msg), sig, slen, -1,
		      &valid, &e) < 0)
		return -1;
	memcpy(bad, msg, sizeof(msg));
	bad[0] ^= 1;
	if (ks_verify(pk, type, 0, padding, false, bad, sizeof(bad), sig, slen, -1,
		      &valid2, &e) < 0)
		return -1;
	return valid && !valid2 ? 0 : -1;
}

/* The same for a freshly generated key of `type`, which also checks that
 * generation yields material ks_crypto_load accepts as that type. */
static int pairwise(unsigned type, struct bw_err *err)
{
	struct ks_material m = { 0 };
	struct bw_err e;
	EVP_PKEY *pk = NULL;
	int rc = -1;
	if (ks_crypto_generate(type, &m, &e) == 0 &&
	    (pk = ks_crypto_load(type, m.p, m.len, &e)) != NULL)
		rc = pairwise_pk(pk, type, 0);
	EVP_PKEY_free(pk);
	ks_material_free(&m);
	return rc < 0 ? fail(err, keystore_key_type_name(type)) : 0;
}

static int kat_ecdsa(unsigned type, const char *group, const char *msg,
		     const char *qx, const char *qy, const char *r,
		     const char *s, struct bw_err *err)
{
	struct hexbuf Msg;
	uint8_t der[160];
	size_t dlen = sizeof(der);
	struct bw_err e;
	bool valid = false, valid2 = true;
	int rc = -1;
	EVP_PKEY *pk = ec_pub(group, qx, qy);
	if (!pk || hex(msg, &Msg) < 0 || ecdsa_der(r, s, der, &dlen) < 0 ||
	    ks_verify(pk, type, 0, 0, false, Msg.b, Msg.n, der, dlen, -1, &valid,
		      &e) < 0)
		goto out;
	Msg.b[Msg.n - 1] ^= 1;
	if (ks_verify(pk, type, 0, 0, false, Msg.b, Msg.n, der, dlen, -1, &valid2,
		      &e) < 0)
		goto out;
	rc = valid && !valid2 ? 0 : -1;
out:
	EVP_PKEY_free(pk);
	if (rc < 0)
		return fail(err, keystore_key_type_name(type));
	return pairwise(type, err);
}

static int push_bn(OSSL_PARAM_BLD *bld, const char *name, const char *hx,
		   BIGNUM **keep)
{
	*keep = NULL;
	return BN_hex2bn(keep, hx) > 0 && OSSL_PARAM_BLD_push_BN(bld, name, *keep);
}

/* An RSA key from hex components (NULL ones omitted). */
static EVP_PKEY *rsa_key(const char *n, const char *e, const char *d,
			 const char *p, const char *q, const char *dp,
			 const char *dq, const char *qi)
{
	const char *names[] = { OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
				OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
				OSSL_PKEY_PARAM_RSA_FACTOR2,
				OSSL_PKEY_PARAM_RSA_EXPONENT1,
				OSSL_PKEY_PARAM_RSA_EXPONENT2,
				OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
	const char *vals[] = { n, e, d, p, q, dp, dq, qi };
	BIGNUM *bn[8] = { 0 };
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pk = NULL;
	if (!bld)
		return NULL;
	for (size_t i = 0; i < 8; i++)
		if (vals[i] && !push_bn(bld, names[i], vals[i], &bn[i]))
			goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params)
		pk = from_params("RSA", d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
				 params);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (size_t i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	return pk;
}

static int kat_rsa_pkcs1(struct bw_err *err)
{
	struct hexbuf Msg, S;
	uint8_t sig[KEYSTORE_SIG_MAX];
	size_t slen;
	struct bw_err e;
	bool valid = false;
	int rc = -1;
	EVP_PKEY *pk = rsa_key(kat_rsa_pkcs1_n, kat_rsa_pkcs1_e, kat_rsa_pkcs1_d,
			       NULL, NULL, NULL, NULL, NULL);
	if (!pk || hex(kat_rsa_pkcs1_msg, &Msg) < 0 || hex(kat_rsa_pkcs1_sig, &S) < 0)
		goto out;
	if (ks_sign(pk, KEYSTORE_KT_RSA_2048, KEYSTORE_HASH_SHA256,
		    KEYSTORE_PAD_PKCS1, false, Msg.b, Msg.n, sig, sizeof(sig),
		    &slen, &e) < 0 ||
	    slen != S.n || memcmp(sig, S.b, slen) != 0 ||
	    ks_verify(pk, KEYSTORE_KT_RSA_2048, KEYSTORE_HASH_SHA256,
		      KEYSTORE_PAD_PKCS1, false, Msg.b, Msg.n, S.b, S.n, -1, &valid,
		      &e) < 0 ||
	    !valid)
		goto out;
	/* PSS signing is randomised: a pairwise test with the same key. */
	if (pairwise_pk(pk, KEYSTORE_KT_RSA_2048, KEYSTORE_PAD_PSS) < 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc < 0 ? fail(err, "RSA PKCS#1 v1.5 / PSS") : 0;
}

static int kat_rsa_pss(struct bw_err *err)
{
	struct hexbuf Msg, S;
	struct bw_err e;
	bool valid = false, valid2 = true;
	int rc = -1;
	EVP_PKEY *pk = rsa_key(kat_rsa_pss_n, kat_rsa_pss_e, NULL, NULL, NULL, NULL,
			       NULL, NULL);
	if (!pk || hex(kat_rsa_pss_msg, &Msg) < 0 || hex(kat_rsa_pss_sig, &S) < 0 ||
	    ks_verify(pk, KEYSTORE_KT_RSA_2048, KEYSTORE_HASH_SHA256,
		      KEYSTORE_PAD_PSS, false, Msg.b, Msg.n, S.b, S.n,
		      KAT_RSA_PSS_SALTLEN, &valid, &e) < 0)
		goto out;
	S.b[S.n - 1] ^= 1;
	if (ks_verify(pk, KEYSTORE_KT_RSA_2048, KEYSTORE_HASH_SHA256,
		      KEYSTORE_PAD_PSS, false, Msg.b, Msg.n, S.b, S.n,
		      KAT_RSA_PSS_SALTLEN, &valid2, &e) < 0)
		goto out;
	rc = valid && !valid2 ? 0 : -1;
out:
	EVP_PKEY_free(pk);
	return rc < 0 ? fail(err, "RSA-PSS") : 0;
}

static int kat_rsa_oaep(struct bw_err *err)
{
	struct hexbuf Msg, C;
	uint8_t out[KAT_BUF], ct[KAT_BUF];
	size_t n, clen;
	struct bw_err e;
	int rc = -1;
	EVP_PKEY *pk = rsa_key(kat_rsa_oaep_n, kat_rsa_oaep_e, kat_rsa_oaep_d,
			       kat_rsa_oaep_p, kat_rsa_oaep_q, kat_rsa_oaep_dp,
			       kat_rsa_oaep_dq, kat_rsa_oaep_qi);
	if (!pk || hex(kat_rsa_oaep_msg, &Msg) < 0 || hex(kat_rsa_oaep_ct, &C) < 0 ||
	    ks_oaep_decrypt(pk, EVP_sha256(), C.b, C.n, out, sizeof(out), &n,
			    &e) < 0 ||
	    n != Msg.n || memcmp(out, Msg.b, n) != 0)
		goto out;
	/* The encryption direction is randomised: round trip it. */
	if (ks_oaep_encrypt(pk, Msg.b, Msg.n, ct, sizeof(ct), &clen, &e) < 0 ||
	    ks_oaep_decrypt(pk, EVP_sha256(), ct, clen, out, sizeof(out), &n,
			    &e) < 0 ||
	    n != Msg.n || memcmp(out, Msg.b, n) != 0)
		goto out;
	C.b[3] ^= 1;
	if (ks_oaep_decrypt(pk, EVP_sha256(), C.b, C.n, out, sizeof(out), &n,
			    &e) == 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(pk);
	return rc < 0 ? fail(err, "RSA-OAEP") : 0;
}

static int kat_kwp(struct bw_err *err)
{
	struct hexbuf K, P, C;
	uint8_t out[KAT_BUF];
	size_t n;
	struct bw_err e;
	if (hex(kat_kwp_kek, &K) < 0 || hex(kat_kwp_pt, &P) < 0 ||
	    hex(kat_kwp_ct, &C) < 0 ||
	    ks_kwp_wrap(K.b, K.n, P.b, P.n, out, sizeof(out), &n, &e) < 0 ||
	    n != C.n || memcmp(out, C.b, n) != 0 ||
	    ks_kwp_unwrap(K.b, K.n, C.b, C.n, out, sizeof(out), &n, &e) < 0 ||
	    n != P.n || memcmp(out, P.b, n) != 0)
		return fail(err, "AES key wrap with padding");
	C.b[C.n - 1] ^= 1;
	if (ks_kwp_unwrap(K.b, K.n, C.b, C.n, out, sizeof(out), &n, &e) == 0)
		return fail(err, "AES key wrap with padding (tamper)");
	return 0;
}

static int kat_hkdf(struct bw_err *err)
{
	struct hexbuf I, O;
	uint8_t out[64];
	struct bw_err e;
	if (hex(kat_hkdf_ikm, &I) < 0 || hex(kat_hkdf_okm, &O) < 0 ||
	    O.n > sizeof(out) || ks_hkdf(I.b, I.n, "", out, O.n, &e) < 0 ||
	    memcmp(out, O.b, O.n) != 0)
		return fail(err, "HKDF-SHA-256");
	return 0;
}

/* RFC 9106 §5.3: Argon2id v1.3, 32 KiB, 3 passes, 4 lanes, with secret
 * and associated data. The reference implementation runs the lanes in
 * threads; this runs before the seccomp filter exists. */
static int kat_argon2(struct bw_err *err)
{
	static const char want[] =
		"0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659";
	uint8_t pwd[32], salt[16], secret[8], ad[12], out[32];
	struct hexbuf W;
	memset(pwd, 1, sizeof(pwd));
	memset(salt, 2, sizeof(salt));
	memset(secret, 3, sizeof(secret));
	memset(ad, 4, sizeof(ad));
	argon2_context c = {
		.out = out, .outlen = sizeof(out),
		.pwd = pwd, .pwdlen = sizeof(pwd),
		.salt = salt, .saltlen = sizeof(salt),
		.secret = secret, .secretlen = sizeof(secret),
		.ad = ad, .adlen = sizeof(ad),
		.t_cost = 3, .m_cost = 32, .lanes = 4, .threads = 4,
		.version = ARGON2_VERSION_13,
		.flags = ARGON2_DEFAULT_FLAGS,
	};
	if (argon2_ctx(&c, Argon2_id) != ARGON2_OK || hex(want, &W) < 0 ||
	    memcmp(out, W.b, 32) != 0)
		return fail(err, "Argon2id");
	/* And the one-lane path unsealing uses must run. */
	struct bw_err e;
	if (ks_argon2id(pwd, sizeof(pwd), salt, sizeof(salt), 1, 64, out, &e) < 0)
		return fail(err, "Argon2id (one lane)");
	return 0;
}

static int kat_shamir(struct bw_err *err)
{
	uint8_t secret[32], ys[5 * 32], out[32], xs[3] = { 5, 2, 4 };
	uint8_t sel[3 * 32];
	/* FIPS-197 §4.2: {57} • {83} = {c1}. */
	if (ks_gf_mul(0x57, 0x83) != 0xc1 || ks_gf_mul(0x57, 0x13) != 0xfe)
		return fail(err, "GF(2^8) multiplication");
	bw_random(secret, sizeof(secret));
	if (ks_shamir_split(secret, 32, 5, 3, ys) < 0)
		return fail(err, "Shamir split");
	for (int i = 0; i < 3; i++)
		memcpy(sel + i * 32, ys + (xs[i] - 1) * 32, 32);
	int rc = ks_shamir_combine(xs, sel, 3, 32, out) < 0 ||
		 memcmp(out, secret, 32) != 0;
	bw_wipe(secret, sizeof(secret));
	bw_wipe(ys, sizeof(ys));
	bw_wipe(sel, sizeof(sel));
	bw_wipe(out, sizeof(out));
	return rc ? fail(err, "Shamir combine") : 0;
}

int ks_selftest(struct bw_err *err)
{
	if (kat_aead(1, kat_gcm_key, kat_gcm_iv, kat_gcm_pt, kat_gcm_aad,
		     kat_gcm_ct, kat_gcm_tag, "AES-256-GCM", err) < 0 ||
	    kat_aead(2, kat_chacha_key, kat_chacha_iv, kat_chacha_pt,
		     kat_chacha_aad, kat_chacha_ct, kat_chacha_tag,
		     "ChaCha20-Poly1305", err) < 0 ||
	    kat_hmac(KEYSTORE_KT_HMAC_SHA256, kat_hmac256_key, kat_hmac256_msg,
		     kat_hmac256_mac, "HMAC-SHA-256", err) < 0 ||
	    kat_hmac(KEYSTORE_KT_HMAC_SHA512, kat_hmac512_key, kat_hmac512_msg,
		     kat_hmac512_mac, "HMAC-SHA-512", err) < 0 ||
	    kat_ed25519(err) < 0 ||
	    kat_ecdsa(KEYSTORE_KT_ECDSA_P256, "P-256", kat_ecdsa_p256_msg,
		      kat_ecdsa_p256_qx, kat_ecdsa_p256_qy, kat_ecdsa_p256_r,
		      kat_ecdsa_p256_s, err) < 0 ||
	    kat_ecdsa(KEYSTORE_KT_ECDSA_P384, "P-384", kat_ecdsa_p384_msg,
		      kat_ecdsa_p384_qx, kat_ecdsa_p384_qy, kat_ecdsa_p384_r,
		      kat_ecdsa_p384_s, err) < 0 ||
	    kat_rsa_pkcs1(err) < 0 || kat_rsa_pss(err) < 0 ||
	    kat_rsa_oaep(err) < 0 || kat_kwp(err) < 0 || kat_hkdf(err) < 0 ||
	    kat_argon2(err) < 0 || kat_shamir(err) < 0)
		return -1;
	return 0;
}
