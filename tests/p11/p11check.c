/*
 * p11check — a PKCS#11 client that exercises libbulwark-pkcs11.so where
 * pkcs11-tool cannot (AES-GCM parameters, the batch extension, multi-part
 * operations, EdDSA and P-384) and checks the module's refusals. Every
 * signature is verified twice: by the module (C_Verify) and by OpenSSL
 * from the public attributes the module returns (CKA_EC_POINT,
 * CKA_PUBLIC_KEY_INFO), so a module that signs with the wrong key or
 * returns the wrong public key fails here.
 *
 * Usage: p11check MODULE.so TOKEN_LABEL PIN   (the token must be empty of
 * keys named chk-*; the test creates them). Exit 0 when every check
 * passes; each failure is printed.
 */
#include "p11/bulwark_pkcs11.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CK_FUNCTION_LIST_PTR f;
static int fails;

#define EXPECT(what, got, want)                                                \
	do {                                                                   \
		CK_RV g_ = (got);                                              \
		if (g_ != (CK_RV)(want)) {                                     \
			fprintf(stderr, "FAIL %s: got 0x%lx, want 0x%lx\n",   \
				what, (unsigned long)g_, (unsigned long)(want)); \
			fails++;                                               \
		}                                                              \
	} while (0)
#define TRUE_(what, cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s\n", what);                    \
			fails++;                                               \
		}                                                              \
	} while (0)

static CK_SLOT_ID find_slot(const char *label)
{
	CK_SLOT_ID s[64];
	CK_ULONG n = 64;
	if (f->C_GetSlotList(CK_TRUE, s, &n) != CKR_OK)
		return (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		size_t l = strlen(label);
		if (f->C_GetTokenInfo(s[i], &ti) == CKR_OK && memcmp(ti.label, label, l) == 0 &&
		    ti.label[l] == ' ')
			return s[i];
	}
	return (CK_SLOT_ID)-1;
}

/* The public key of a key pair as OpenSSL sees it. */
static EVP_PKEY *pub_of(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub)
{
	uint8_t buf[2048];
	CK_ATTRIBUTE a = { CKA_PUBLIC_KEY_INFO, buf, sizeof(buf) };
	if (f->C_GetAttributeValue(s, pub, &a, 1) != CKR_OK)
		return NULL;
	const uint8_t *p = buf;
	return d2i_PUBKEY(NULL, &p, (long)a.ulValueLen);
}

/* ECDSA raw r||s -> DER for OpenSSL */
static size_t raw_to_der(const uint8_t *raw, size_t n, uint8_t *out)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)n / 2, NULL), *t = BN_bin2bn(raw + n / 2, (int)n / 2, NULL);
	ECDSA_SIG_set0(sig, r, t);
	uint8_t *q = out;
	int l = i2d_ECDSA_SIG(sig, &q);
	ECDSA_SIG_free(sig);
	return l > 0 ? (size_t)l : 0;
}

static bool ossl_verify(EVP_PKEY *pk, const EVP_MD *md, int pad, const uint8_t *msg,
			size_t n, const uint8_t *sig, size_t sl)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	bool ok = EVP_DigestVerifyInit(c, &pc, md, NULL, pk) == 1;
	if (ok && pad == RSA_PKCS1_PSS_PADDING)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_DigestVerify(c, sig, sl, msg, n) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

static void keypair(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mt, const uint8_t *params,
		    size_t plen, CK_ULONG bits, const char *label, CK_OBJECT_HANDLE *pub,
		    CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { mt, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pt[] = { { CKA_LABEL, (void *)label, strlen(label) },
			      { CKA_VERIFY, &yes, sizeof(yes) },
			      { params ? CKA_EC_PARAMS : CKA_MODULUS_BITS,
				params ? (void *)params : (void *)&bits,
				params ? plen : sizeof(bits) } };
	CK_ATTRIBUTE vt[] = { { CKA_LABEL, (void *)label, strlen(label) },
			      { CKA_SIGN, &yes, sizeof(yes) } };
	EXPECT(label, f->C_GenerateKeyPair(s, &m, pt, 3, vt, 2, pub, priv), CKR_OK);
}

static void sign_check(CK_SESSION_HANDLE s, const char *what, CK_MECHANISM *m,
		       CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, const uint8_t *data,
		       size_t n, const EVP_MD *omd, int pad, bool ecdsa, const uint8_t *omsg,
		       size_t on)
{
	uint8_t sig[1024], der[1100];
	CK_ULONG sl = 0;
	EXPECT(what, f->C_SignInit(s, m, priv), CKR_OK);
	EXPECT(what, f->C_Sign(s, (CK_BYTE_PTR)data, n, NULL, &sl), CKR_OK); /* size */
	CK_ULONG small = 1;
	EXPECT(what, f->C_Sign(s, (CK_BYTE_PTR)data, n, sig, &small), CKR_BUFFER_TOO_SMALL);
	sl = sizeof(sig);
	EXPECT(what, f->C_Sign(s, (CK_BYTE_PTR)data, n, sig, &sl), CKR_OK);
	EXPECT(what, f->C_VerifyInit(s, m, pub), CKR_OK);
	EXPECT(what, f->C_Verify(s, (CK_BYTE_PTR)data, n, sig, sl), CKR_OK);
	EVP_PKEY *pk = pub_of(s, pub);
	const uint8_t *vs = sig;
	size_t vl = sl;
	if (ecdsa) {
		vl = raw_to_der(sig, sl, der);
		vs = der;
	}
	char t[200];
	snprintf(t, sizeof(t), "%s: OpenSSL verifies", what);
	TRUE_(t, pk && ossl_verify(pk, omd, pad, omsg, on, vs, vl));
	EVP_PKEY_free(pk);
	sig[sl / 2] ^= 1;
	EXPECT(what, f->C_VerifyInit(s, m, pub), CKR_OK);
	EXPECT(what, f->C_Verify(s, (CK_BYTE_PTR)data, n, sig, sl), CKR_SIGNATURE_INVALID);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s MODULE.so TOKEN PIN\n", argv[0]);
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	CK_C_BulwarkEncryptBatch batch = (CK_C_BulwarkEncryptBatch)dlsym(h, "C_BulwarkEncryptBatch");
	TRUE_("exports C_GetFunctionList and C_BulwarkEncryptBatch", gfl && batch);
	TRUE_("exports nothing but C_* (no p11_wire symbols)", !dlsym(h, "p11_msg_decode"));
	if (!gfl || gfl(&f) != CKR_OK)
		return 2;
	CK_SESSION_HANDLE s;
	EXPECT("call before C_Initialize", f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s),
	       CKR_CRYPTOKI_NOT_INITIALIZED);
	EXPECT("C_Initialize", f->C_Initialize(NULL), CKR_OK);
	EXPECT("C_Initialize twice", f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	CK_SLOT_ID slot = find_slot(argv[2]);
	TRUE_("token found", slot != (CK_SLOT_ID)-1);
	EXPECT("parallel session refused", f->C_OpenSession(slot, 0, NULL, NULL, &s),
	       CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	EXPECT("bad slot", f->C_OpenSession(9999, CKF_SERIAL_SESSION, NULL, NULL, &s),
	       CKR_SLOT_ID_INVALID);
	EXPECT("open", f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
	       CKR_OK);
	/* before login: nothing visible, nothing usable */
	CK_OBJECT_HANDLE objs[8];
	CK_ULONG n = 0;
	EXPECT("find before login", f->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	EXPECT("find before login", f->C_FindObjects(s, objs, 8, &n), CKR_OK);
	TRUE_("no objects before login", n == 0);
	EXPECT("find final", f->C_FindObjectsFinal(s), CKR_OK);
	CK_MECHANISM aesgen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE aes;
	EXPECT("keygen before login", f->C_GenerateKey(s, &aesgen, NULL, 0, &aes),
	       CKR_USER_NOT_LOGGED_IN);
	EXPECT("SO login refused", f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR) "x", 1),
	       CKR_USER_TYPE_INVALID);
	EXPECT("wrong PIN", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "bwk_nope", 8),
	       CKR_PIN_INCORRECT);
	EXPECT("login", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3])),
	       CKR_OK);
	EXPECT("login twice", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3])),
	       CKR_USER_ALREADY_LOGGED_IN);
	CK_SESSION_INFO si;
	EXPECT("session info", f->C_GetSessionInfo(s, &si), CKR_OK);
	TRUE_("session is a R/W user session", si.state == CKS_RW_USER_FUNCTIONS);
	EXPECT("unsupported function", f->C_DigestInit(s, &aesgen), CKR_FUNCTION_NOT_SUPPORTED);
	EXPECT("bad session handle", f->C_Logout(4242), CKR_SESSION_HANDLE_INVALID);

	/* AES-256 only; labels are keystore names */
	CK_ULONG len16 = 16, len32 = 32;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE bad[] = { { CKA_VALUE_LEN, &len16, sizeof(len16) } };
	EXPECT("AES-128 refused", f->C_GenerateKey(s, &aesgen, bad, 1, &aes),
	       CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE badl[] = { { CKA_LABEL, "no spaces allowed", 17 } };
	EXPECT("label that is no key name refused", f->C_GenerateKey(s, &aesgen, badl, 1, &aes),
	       CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE at[] = { { CKA_LABEL, "chk-aes", 7 }, { CKA_VALUE_LEN, &len32, sizeof(len32) },
			      { CKA_ENCRYPT, &yes, sizeof(yes) } };
	EXPECT("AES-256 generated", f->C_GenerateKey(s, &aesgen, at, 3, &aes), CKR_OK);
	EXPECT("same label again refused", f->C_GenerateKey(s, &aesgen, at, 3, &objs[0]),
	       CKR_ATTRIBUTE_VALUE_INVALID);
	/* honest attributes */
	uint8_t val[64];
	CK_BBOOL sens = 0, ext = 1;
	CK_ATTRIBUTE q[] = { { CKA_VALUE, val, sizeof(val) }, { CKA_SENSITIVE, &sens, 1 },
			     { CKA_EXTRACTABLE, &ext, 1 } };
	EXPECT("secret value is sensitive", f->C_GetAttributeValue(s, aes, q, 3),
	       CKR_ATTRIBUTE_SENSITIVE);
	TRUE_("CKA_VALUE unavailable, SENSITIVE true, EXTRACTABLE false",
	      q[0].ulValueLen == CK_UNAVAILABLE_INFORMATION && sens == CK_TRUE && ext == CK_FALSE);

	/* AES-GCM */
	uint8_t iv[12] = { 1, 2, 3 }, aad[5] = "hello", pt[1000], ct[1100], back[1100];
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7);
	CK_GCM_PARAMS gp = { .pIv = iv, .ulIvLen = 12, .ulIvBits = 96, .pAAD = aad,
			     .ulAADLen = sizeof(aad), .ulTagBits = 128 };
	CK_MECHANISM gm = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_ULONG cl = 0, bl;
	EXPECT("encrypt init", f->C_EncryptInit(s, &gm, aes), CKR_OK);
	EXPECT("encrypt init twice", f->C_EncryptInit(s, &gm, aes), CKR_OPERATION_ACTIVE);
	EXPECT("encrypt size", f->C_Encrypt(s, pt, sizeof(pt), NULL, &cl), CKR_OK);
	TRUE_("ciphertext size is plaintext + tag", cl == sizeof(pt) + 16);
	cl = 10;
	EXPECT("encrypt too small", f->C_Encrypt(s, pt, sizeof(pt), ct, &cl), CKR_BUFFER_TOO_SMALL);
	cl = sizeof(ct);
	EXPECT("encrypt", f->C_Encrypt(s, pt, sizeof(pt), ct, &cl), CKR_OK);
	EXPECT("decrypt init", f->C_DecryptInit(s, &gm, aes), CKR_OK);
	bl = sizeof(back);
	EXPECT("decrypt", f->C_Decrypt(s, ct, cl, back, &bl), CKR_OK);
	TRUE_("GCM round trip", bl == sizeof(pt) && memcmp(back, pt, bl) == 0);
	/* multi-part gives the same bytes */
	uint8_t ct2[1100];
	CK_ULONG o1 = sizeof(ct2), o2;
	EXPECT("encrypt init", f->C_EncryptInit(s, &gm, aes), CKR_OK);
	EXPECT("encrypt update", f->C_EncryptUpdate(s, pt, 300, ct2, &o1), CKR_OK);
	o1 = sizeof(ct2);
	EXPECT("encrypt update", f->C_EncryptUpdate(s, pt + 300, 700, ct2, &o1), CKR_OK);
	o2 = sizeof(ct2);
	EXPECT("encrypt final", f->C_EncryptFinal(s, ct2, &o2), CKR_OK);
	TRUE_("multi-part equals single-part", o2 == cl && memcmp(ct, ct2, cl) == 0);
	/* tampering, wrong AAD, wrong IV */
	ct[7] ^= 0x80;
	EXPECT("decrypt init", f->C_DecryptInit(s, &gm, aes), CKR_OK);
	bl = sizeof(back);
	EXPECT("tampered ciphertext", f->C_Decrypt(s, ct, cl, back, &bl), CKR_ENCRYPTED_DATA_INVALID);
	ct[7] ^= 0x80;
	gp.ulAADLen = 4;
	EXPECT("decrypt init", f->C_DecryptInit(s, &gm, aes), CKR_OK);
	bl = sizeof(back);
	EXPECT("wrong AAD", f->C_Decrypt(s, ct, cl, back, &bl), CKR_ENCRYPTED_DATA_INVALID);
	gp.ulAADLen = sizeof(aad);
	gp.ulIvLen = 16;
	EXPECT("16-byte IV refused", f->C_EncryptInit(s, &gm, aes), CKR_MECHANISM_PARAM_INVALID);
	gp.ulIvLen = 12;
	gp.ulTagBits = 96;
	EXPECT("short tag refused", f->C_EncryptInit(s, &gm, aes), CKR_MECHANISM_PARAM_INVALID);
	gp.ulTagBits = 128;
	/* the batch extension: each item as single-part encryption would be */
	enum { NB = 64 };
	static uint8_t bin[NB][1024], bout[NB][1040], bivs[NB][12];
	CK_BYTE_PTR ivp[NB], inp[NB], outp[NB];
	CK_ULONG inl[NB], outl[NB];
	for (int i = 0; i < NB; i++) {
		memset(bin[i], i, sizeof(bin[i]));
		memset(bivs[i], 0, 12);
		bivs[i][0] = (uint8_t)i;
		bivs[i][11] = 0x5a;
		ivp[i] = bivs[i];
		inp[i] = bin[i];
		outp[i] = bout[i];
		inl[i] = (CK_ULONG)(i * 16);
		outl[i] = sizeof(bout[i]);
	}
	EXPECT("batch", batch(s, &gm, aes, NB, ivp, inp, inl, outp, outl), CKR_OK);
	bool same = true;
	for (int i = 0; i < NB && same; i++) {
		gp.pIv = bivs[i];
		CK_ULONG l = sizeof(ct);
		same = f->C_EncryptInit(s, &gm, aes) == CKR_OK &&
		       f->C_Encrypt(s, bin[i], inl[i], ct, &l) == CKR_OK && l == outl[i] &&
		       memcmp(ct, bout[i], l) == 0;
	}
	TRUE_("batch items equal single calls", same);
	gp.pIv = iv;
	outl[3] = 5;
	EXPECT("batch output too small", batch(s, &gm, aes, NB, ivp, inp, inl, outp, outl),
	       CKR_BUFFER_TOO_SMALL);
	EXPECT("batch of 0", batch(s, &gm, aes, 0, ivp, inp, inl, outp, outl), CKR_ARGUMENTS_BAD);

	/* signatures: ECDSA P-384, Ed25519, RSA-PSS over a digest, multi-part */
	static const uint8_t p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
	static const uint8_t ed[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
	CK_OBJECT_HANDLE pub, priv;
	const uint8_t msg[] = "the quick brown fox jumps over the lazy dog";
	uint8_t dig[64];
	unsigned dl;
	keypair(s, CKM_EC_KEY_PAIR_GEN, p384, sizeof(p384), 0, "chk-p384", &pub, &priv);
	CK_MECHANISM m = { CKM_ECDSA_SHA384, NULL, 0 };
	sign_check(s, "ECDSA-SHA384 P-384", &m, priv, pub, msg, sizeof(msg), EVP_sha384(), 0, true,
		   msg, sizeof(msg));
	CK_MECHANISM rm = { CKM_RSA_PKCS, NULL, 0 };
	EXPECT("RSA mechanism on an EC key", f->C_SignInit(s, &rm, priv), CKR_KEY_TYPE_INCONSISTENT);
	EXPECT("signing with the public key", f->C_SignInit(s, &m, pub), CKR_KEY_TYPE_INCONSISTENT);
	/* multi-part ECDSA-SHA384 */
	uint8_t sig[600];
	CK_ULONG sl = sizeof(sig);
	EXPECT("sign init", f->C_SignInit(s, &m, priv), CKR_OK);
	EXPECT("sign update", f->C_SignUpdate(s, (CK_BYTE_PTR)msg, 10), CKR_OK);
	EXPECT("sign update", f->C_SignUpdate(s, (CK_BYTE_PTR)msg + 10, sizeof(msg) - 10), CKR_OK);
	EXPECT("sign final", f->C_SignFinal(s, sig, &sl), CKR_OK);
	EXPECT("verify init", f->C_VerifyInit(s, &m, pub), CKR_OK);
	EXPECT("verify multi-part", f->C_Verify(s, (CK_BYTE_PTR)msg, sizeof(msg), sig, sl), CKR_OK);

	keypair(s, CKM_EC_EDWARDS_KEY_PAIR_GEN, ed, sizeof(ed), 0, "chk-ed", &pub, &priv);
	CK_MECHANISM em = { CKM_EDDSA, NULL, 0 };
	sign_check(s, "EdDSA", &em, priv, pub, msg, sizeof(msg), NULL, 0, false, msg, sizeof(msg));
	uint8_t ept[80];
	CK_ATTRIBUTE ea = { CKA_EC_POINT, ept, sizeof(ept) };
	EXPECT("Ed25519 EC_POINT", f->C_GetAttributeValue(s, pub, &ea, 1), CKR_OK);
	TRUE_("Ed25519 EC_POINT is a 32-byte OCTET STRING", ea.ulValueLen == 34 && ept[0] == 4 &&
							       ept[1] == 32);

	CK_ULONG bits = 2048;
	keypair(s, CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0, bits, "chk-rsa", &pub, &priv);
	EVP_Digest(msg, sizeof(msg), dig, &dl, EVP_sha256(), NULL);
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM pm = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	sign_check(s, "RSA-PSS over a digest", &pm, priv, pub, dig, dl, EVP_sha256(),
		   RSA_PKCS1_PSS_PADDING, false, msg, sizeof(msg));
	CK_MECHANISM pm2 = { CKM_SHA512_RSA_PKCS_PSS, &pss, sizeof(pss) };
	EXPECT("PSS params that contradict the mechanism", f->C_SignInit(s, &pm2, priv),
	       CKR_MECHANISM_PARAM_INVALID);
	pss.sLen = 20;
	EXPECT("PSS salt other than the digest length", f->C_SignInit(s, &pm, priv),
	       CKR_MECHANISM_PARAM_INVALID);
	CK_MECHANISM sm = { CKM_SHA512_RSA_PKCS, NULL, 0 };
	sign_check(s, "SHA512-RSA-PKCS", &sm, priv, pub, msg, sizeof(msg), EVP_sha512(),
		   RSA_PKCS1_PADDING, false, msg, sizeof(msg));
	uint8_t mod[600];
	CK_ATTRIBUTE ma = { CKA_MODULUS, mod, sizeof(mod) };
	EXPECT("RSA modulus readable on the private key", f->C_GetAttributeValue(s, priv, &ma, 1),
	       CKR_OK);
	TRUE_("RSA-2048 modulus is 256 bytes", ma.ulValueLen == 256);
	CK_ATTRIBUTE pe = { CKA_PRIVATE_EXPONENT, mod, sizeof(mod) };
	EXPECT("private exponent is sensitive", f->C_GetAttributeValue(s, priv, &pe, 1),
	       CKR_ATTRIBUTE_SENSITIVE);

	/* find by label and class */
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE ft[] = { { CKA_CLASS, &pc, sizeof(pc) }, { CKA_LABEL, "chk-ed", 6 } };
	n = 0;
	EXPECT("find", f->C_FindObjectsInit(s, ft, 2), CKR_OK);
	EXPECT("find", f->C_FindObjects(s, objs, 8, &n), CKR_OK);
	EXPECT("find final", f->C_FindObjectsFinal(s), CKR_OK);
	TRUE_("one private key labelled chk-ed", n == 1);

	/* random */
	static uint8_t r1[5000], r2[5000];
	EXPECT("random", f->C_GenerateRandom(s, r1, sizeof(r1)), CKR_OK);
	EXPECT("random", f->C_GenerateRandom(s, r2, sizeof(r2)), CKR_OK);
	TRUE_("random differs", memcmp(r1, r2, sizeof(r1)) != 0);

	EXPECT("logout", f->C_Logout(s), CKR_OK);
	EXPECT("encrypt after logout", f->C_EncryptInit(s, &gm, aes), CKR_USER_NOT_LOGGED_IN);
	EXPECT("close", f->C_CloseSession(s), CKR_OK);
	EXPECT("closed session", f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
	EXPECT("finalize", f->C_Finalize(NULL), CKR_OK);
	if (fails)
		fprintf(stderr, "p11check: %d check(s) failed\n", fails);
	else
		printf("p11check: all checks passed\n");
	return fails ? 1 : 0;
}
