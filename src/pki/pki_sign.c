/*
 * pki_sign.c — signing certificates, CRLs, CSRs and OCSP responses through
 * a struct pki_signer, which has no private key object OpenSSL could use.
 *
 * Method ("shadow key"): OpenSSL signs the structure with a process-local
 * throwaway key of the same algorithm family as the real key (EC, RSA or
 * Ed25519). That fills in both AlgorithmIdentifiers exactly as OpenSSL
 * would for the real key (ecdsa-with-SHA256/384 carry no curve; RSA
 * PKCS#1 v1.5 identifiers carry no modulus size) and caches the DER of the
 * to-be-signed part. Those TBS bytes go to the real signer; its signature
 * is checked against the real public key, and the final structure —
 * SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING [, [0] certs] }, the
 * shape RFC 5280 and RFC 6960 share — is encoded by an OpenSSL ASN.1
 * template and parsed back with the matching d2i, so nothing here writes
 * DER by hand and nothing malformed leaves this file.
 *
 * The shadow keys sign nothing anyone sees: their signatures are
 * discarded. They are created once per process and shared read-only by
 * every thread (EVP_PKEY use is thread-safe once built).
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>

typedef struct pki_signed_st {
	ASN1_TYPE *tbs;
	X509_ALGOR *alg;
	ASN1_BIT_STRING *sig;
	STACK_OF(X509) *certs;
} PKI_SIGNED;

ASN1_SEQUENCE(PKI_SIGNED) = {
	ASN1_SIMPLE(PKI_SIGNED, tbs, ASN1_ANY),
	ASN1_SIMPLE(PKI_SIGNED, alg, X509_ALGOR),
	ASN1_SIMPLE(PKI_SIGNED, sig, ASN1_BIT_STRING),
	ASN1_EXP_SEQUENCE_OF_OPT(PKI_SIGNED, certs, X509, 0),
} static_ASN1_SEQUENCE_END(PKI_SIGNED)

/* OCSPResponse (RFC 6960 4.2.1) around an already-encoded
 * BasicOCSPResponse, so a response is never parsed back (parsing it
 * would decode the responder certificate's key, which costs more than
 * the signature in OpenSSL 3.0). */
typedef struct pki_respbytes_st {
	ASN1_OBJECT *type;
	ASN1_OCTET_STRING *response;
} PKI_RESPBYTES;

ASN1_SEQUENCE(PKI_RESPBYTES) = {
	ASN1_SIMPLE(PKI_RESPBYTES, type, ASN1_OBJECT),
	ASN1_SIMPLE(PKI_RESPBYTES, response, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(PKI_RESPBYTES)

typedef struct pki_ocspresp_st {
	ASN1_ENUMERATED *status;
	PKI_RESPBYTES *bytes;
} PKI_OCSPRESP;

ASN1_SEQUENCE(PKI_OCSPRESP) = {
	ASN1_SIMPLE(PKI_OCSPRESP, status, ASN1_ENUMERATED),
	ASN1_EXP_OPT(PKI_OCSPRESP, bytes, PKI_RESPBYTES, 0),
} static_ASN1_SEQUENCE_END(PKI_OCSPRESP)

enum pki_md pki_md_for(enum pki_key_type t)
{
	switch (t) {
	case PKI_KEY_EC_P384:
		return PKI_MD_SHA384;
	case PKI_KEY_ED25519:
		return PKI_MD_NONE;
	default:
		return PKI_MD_SHA256;
	}
}

const EVP_MD *pki_md_evp(enum pki_md md)
{
	switch (md) {
	case PKI_MD_SHA256:
		return EVP_sha256();
	case PKI_MD_SHA384:
		return EVP_sha384();
	case PKI_MD_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static pthread_mutex_t shadow_mu = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY *shadow_keys[3]; /* EC, RSA, Ed25519 */

static EVP_PKEY *shadow_for(enum pki_key_type t, struct bw_err *err)
{
	int slot;
	enum pki_key_type gen;
	switch (t) {
	case PKI_KEY_EC_P256:
	case PKI_KEY_EC_P384:
		slot = 0, gen = PKI_KEY_EC_P256;
		break;
	case PKI_KEY_RSA_2048:
	case PKI_KEY_RSA_3072:
	case PKI_KEY_RSA_4096:
		slot = 1, gen = PKI_KEY_RSA_2048;
		break;
	case PKI_KEY_ED25519:
		slot = 2, gen = PKI_KEY_ED25519;
		break;
	default:
		bw_err_set(err, 500, PKI_MOD, "key_type", "signer of unknown type");
		return NULL;
	}
	pthread_mutex_lock(&shadow_mu);
	if (!shadow_keys[slot])
		shadow_keys[slot] = pki_key_generate(gen, err);
	EVP_PKEY *k = shadow_keys[slot];
	pthread_mutex_unlock(&shadow_mu);
	return k;
}

/* Has s sign tbs and checks the result against s->pub. */
static int signer_sign(const struct pki_signer *s, const uint8_t *tbs,
		       size_t len, uint8_t *sig, size_t *siglen,
		       struct bw_err *err)
{
	enum pki_md md = pki_md_for(s->type);
	*siglen = 0;
	if (s->sign(s->ctx, md, tbs, len, sig, PKI_SIG_MAX, siglen, err) < 0)
		return -1;
	if (*siglen == 0 || *siglen > PKI_SIG_MAX)
		return bw_err_set(err, 500, PKI_MOD, "signer",
				  "signer %s returned %zu signature bytes",
				  s->key_id, *siglen);
	if (s->trusted_output)
		return 0;
	EVP_MD_CTX *v = EVP_MD_CTX_new();
	int ok = v && EVP_DigestVerifyInit(v, NULL, pki_md_evp(md), NULL, s->pub) == 1 &&
		 EVP_DigestVerify(v, sig, *siglen, tbs, len) == 1;
	EVP_MD_CTX_free(v);
	if (!ok) {
		ERR_clear_error();
		return bw_err_set(err, 500, PKI_MOD, "signer_bad_signature",
				  "signer %s produced a signature that does not "
				  "verify with its public key", s->key_id);
	}
	return 0;
}

/* Signs tbs with s and encodes SEQUENCE { tbs, alg, sig [, certs] } into
 * *der (OPENSSL_malloc'd). certs is borrowed. */
static int assemble(const struct pki_signer *s, const uint8_t *tbs, size_t len,
		    const X509_ALGOR *alg, STACK_OF(X509) *certs, uint8_t **der,
		    size_t *der_len, struct bw_err *err)
{
	uint8_t sig[PKI_SIG_MAX];
	size_t siglen;
	int rc = -1;
	PKI_SIGNED *ps = NULL;
	if (signer_sign(s, tbs, len, sig, &siglen, err) < 0)
		return -1;
	ps = (PKI_SIGNED *)ASN1_item_new(ASN1_ITEM_rptr(PKI_SIGNED));
	if (!ps)
		goto ssl;
	const unsigned char *q = tbs;
	ASN1_TYPE_free(ps->tbs);
	ps->tbs = d2i_ASN1_TYPE(NULL, &q, (long)len);
	if (!ps->tbs || q != tbs + len)
		goto ssl;
	X509_ALGOR_free(ps->alg);
	ps->alg = X509_ALGOR_dup(alg);
	if (!ps->alg || !ASN1_BIT_STRING_set(ps->sig, sig, (int)siglen))
		goto ssl;
	/* Without BITS_LEFT the encoder would drop trailing zero bits of
	 * the signature as "unused"; a signature uses every bit. */
	ps->sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	ps->sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	ps->certs = certs;
	unsigned char *out = NULL;
	int n = ASN1_item_i2d((ASN1_VALUE *)ps, &out, ASN1_ITEM_rptr(PKI_SIGNED));
	ps->certs = NULL;
	if (n <= 0)
		goto ssl;
	*der = out;
	*der_len = (size_t)n;
	rc = 0;
	goto out;
ssl:
	pki_err_ssl(err, "encode", "signed structure");
out:
	if (ps)
		ps->certs = NULL;
	ASN1_item_free((ASN1_VALUE *)ps, ASN1_ITEM_rptr(PKI_SIGNED));
	return rc;
}

/* The second half of every signature here: the to-be-signed body sent to
 * the keystore (assemble), then the signed DER parsed back as item `it`,
 * which must take all of it. Frees tbs. NULL with err ("signed <what>"). */
static void *sign_body(const struct pki_signer *s, unsigned char *tbs, int n,
		       const X509_ALGOR *alg, const ASN1_ITEM *it, const char *what,
		       struct bw_err *err)
{
	uint8_t *der = NULL;
	size_t der_len = 0;
	void *out = NULL;
	if (assemble(s, tbs, (size_t)n, alg, NULL, &der, &der_len, err) == 0) {
		const unsigned char *q = der;
		out = ASN1_item_d2i(NULL, &q, (long)der_len, it);
		if (!out || q != der + der_len) {
			ASN1_item_free(out, it);
			out = NULL;
			char msg[48];
			bw_snprintf(msg, sizeof(msg), "signed %s", what);
			pki_err_ssl(err, "encode", msg);
		}
	}
	OPENSSL_free(tbs);
	OPENSSL_free(der);
	return out;
}

X509 *pki_sign_cert(const struct pki_signer *s, X509 *x, struct bw_err *err)
{
	EVP_PKEY *sh = shadow_for(s->type, err);
	if (!sh)
		return NULL;
	unsigned char *tbs = NULL;
	const X509_ALGOR *alg;
	if (X509_sign(x, sh, pki_md_evp(pki_md_for(s->type))) <= 0) {
		pki_err_ssl(err, "encode", "certificate");
		return NULL;
	}
	int n = i2d_re_X509_tbs(x, &tbs);
	if (n <= 0) {
		pki_err_ssl(err, "encode", "certificate body");
		return NULL;
	}
	X509_get0_signature(NULL, &alg, x);
	return sign_body(s, tbs, n, alg, ASN1_ITEM_rptr(X509), "certificate", err);
}

X509_CRL *pki_sign_crl(const struct pki_signer *s, X509_CRL *crl,
		       struct bw_err *err)
{
	EVP_PKEY *sh = shadow_for(s->type, err);
	if (!sh)
		return NULL;
	unsigned char *tbs = NULL;
	const X509_ALGOR *alg;
	if (X509_CRL_sign(crl, sh, pki_md_evp(pki_md_for(s->type))) <= 0) {
		pki_err_ssl(err, "encode", "CRL");
		return NULL;
	}
	int n = i2d_re_X509_CRL_tbs(crl, &tbs);
	if (n <= 0) {
		pki_err_ssl(err, "encode", "CRL body");
		return NULL;
	}
	X509_CRL_get0_signature(crl, NULL, &alg);
	return sign_body(s, tbs, n, alg, ASN1_ITEM_rptr(X509_CRL), "CRL", err);
}

X509_REQ *pki_sign_req(const struct pki_signer *s, X509_REQ *req,
		       struct bw_err *err)
{
	EVP_PKEY *sh = shadow_for(s->type, err);
	if (!sh)
		return NULL;
	unsigned char *tbs = NULL;
	const X509_ALGOR *alg;
	if (X509_REQ_sign(req, sh, pki_md_evp(pki_md_for(s->type))) <= 0) {
		pki_err_ssl(err, "encode", "CSR");
		return NULL;
	}
	int n = i2d_re_X509_REQ_tbs(req, &tbs);
	if (n <= 0) {
		pki_err_ssl(err, "encode", "CSR body");
		return NULL;
	}
	X509_REQ_get0_signature(req, NULL, &alg);
	return sign_body(s, tbs, n, alg, ASN1_ITEM_rptr(X509_REQ), "CSR", err);
}

X509 *pki_sign_ocsp_stand_in(const struct pki_signer *s, X509 *rcert,
			    struct bw_err *err)
{
	EVP_PKEY *sh = shadow_for(s->type, err);
	if (!sh)
		return NULL;
	/* OCSP_basic_sign wants a certificate matching the key it signs
	 * with: this stand-in has the shadow key and the responder's
	 * subject, which gives the right responderID (byName) without the
	 * real key. Built once per responder: setting a key is costly. */
	X509 *dummy = X509_new();
	if (!dummy || !X509_set_subject_name(dummy, X509_get_subject_name(rcert)) ||
	    !X509_set_pubkey(dummy, sh)) {
		X509_free(dummy);
		pki_err_ssl(err, "encode", "OCSP stand-in");
		return NULL;
	}
	return dummy;
}

int pki_sign_ocsp(const struct pki_signer *s, X509 *rcert, X509 *stand_in,
		  OCSP_BASICRESP *bs, int64_t produced_at, uint8_t **der,
		  size_t *der_len, struct bw_err *err)
{
	EVP_PKEY *sh = shadow_for(s->type, err);
	if (!sh)
		return -1;
	int rc = -1;
	unsigned char *tbs = NULL, *resp_der = NULL;
	uint8_t *basic = NULL;
	size_t basic_len = 0;
	STACK_OF(X509) *certs = sk_X509_new_null();
	PKI_OCSPRESP *resp = NULL;
	if (!certs || !sk_X509_push(certs, rcert))
		goto ssl;
	/* producedAt comes from bulwark's settable clock rather than
	 * OpenSSL's time(); OCSP_NOTIME makes OCSP_basic_sign leave it
	 * alone, and 3.0 offers only this const getter to reach it. */
	ASN1_GENERALIZEDTIME *pat =
		(ASN1_GENERALIZEDTIME *)OCSP_resp_get0_produced_at(bs);
	if (!ASN1_GENERALIZEDTIME_set(pat, (time_t)produced_at))
		goto ssl;
	if (OCSP_basic_sign(bs, stand_in, sh, pki_md_evp(pki_md_for(s->type)), NULL,
			    OCSP_NOCERTS | OCSP_NOTIME) != 1)
		goto ssl;
	int n = i2d_OCSP_RESPDATA(OCSP_resp_get0_respdata(bs), &tbs);
	if (n <= 0)
		goto ssl;
	if (assemble(s, tbs, (size_t)n, OCSP_resp_get0_tbs_sigalg(bs), certs,
		     &basic, &basic_len, err) < 0)
		goto out;
	resp = (PKI_OCSPRESP *)ASN1_item_new(ASN1_ITEM_rptr(PKI_OCSPRESP));
	if (!resp || !ASN1_ENUMERATED_set(resp->status, OCSP_RESPONSE_STATUS_SUCCESSFUL))
		goto ssl;
	resp->bytes = (PKI_RESPBYTES *)ASN1_item_new(ASN1_ITEM_rptr(PKI_RESPBYTES));
	if (!resp->bytes)
		goto ssl;
	ASN1_OBJECT_free(resp->bytes->type);
	resp->bytes->type = OBJ_nid2obj(NID_id_pkix_OCSP_basic);
	if (!ASN1_OCTET_STRING_set(resp->bytes->response, basic, (int)basic_len))
		goto ssl;
	int rn = ASN1_item_i2d((ASN1_VALUE *)resp, &resp_der, ASN1_ITEM_rptr(PKI_OCSPRESP));
	if (rn <= 0)
		goto ssl;
	*der = malloc((size_t)rn);
	if (!*der) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto out;
	}
	memcpy(*der, resp_der, (size_t)rn);
	*der_len = (size_t)rn;
	rc = 0;
	goto out;
ssl:
	pki_err_ssl(err, "encode", "OCSP response");
out:
	sk_X509_free(certs); /* rcert is borrowed */
	OPENSSL_free(tbs);
	OPENSSL_free(basic);
	OPENSSL_free(resp_der);
	ASN1_item_free((ASN1_VALUE *)resp, ASN1_ITEM_rptr(PKI_OCSPRESP));
	return rc;
}
