/*
 * libbulwark-pkcs11.so: signatures (ECDSA, EdDSA, RSA PKCS#1 v1.5 and
 * PSS, raw or hash-and-sign; multi-part), AES-GCM encryption and
 * decryption (single- and multi-part, and the C_BulwarkEncryptBatch
 * extension) and random bytes. Hash-and-sign mechanisms hash here and
 * send the digest; everything else sends what the caller gave, bounded
 * by P11_DATA_MAX. Operation state is per session and wiped when it ends.
 */
#include "p11/p11_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ signatures */

void p11_op_clear(struct op *o)
{
	EVP_MD_CTX_free(o->mdctx);
	if (o->acc) {
		OPENSSL_cleanse(o->acc, o->acclen);
		free(o->acc);
	}
	OPENSSL_cleanse(o, sizeof(*o));
}


static const uint8_t DI_SHA256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t DI_SHA384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t DI_SHA512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

static uint32_t hash_of_len(size_t n)
{
	return n == 32 ? H_SHA256 : n == 48 ? H_SHA384 : n == 64 ? H_SHA512 : H_NONE;
}

static uint32_t hash_of_ckm(CK_MECHANISM_TYPE m)
{
	return m == CKM_SHA256 ? H_SHA256 : m == CKM_SHA384 ? H_SHA384 :
	       m == CKM_SHA512 ? H_SHA512 : H_NONE;
}

static CK_RV sig_init(struct session *s, struct op *op, enum opkind kind,
		      CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE kh)
{
	if (!mech)
		return CKR_ARGUMENTS_BAD;
	if (!p11_slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	struct object *o = p11_obj_get(s, kh);
	if (!o)
		return CKR_KEY_HANDLE_INVALID;
	if (o->cls != (kind == OP_SIGN ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY))
		return CKR_KEY_TYPE_INCONSISTENT;
	bool ec = o->ktype == KT_P256 || o->ktype == KT_P384, rsa = p11_kt_rsa(o->ktype);
	struct op n = { .kind = kind, .key = kh };
	switch (mech->mechanism) {
	case CKM_ECDSA:
		n.sigalg = P11_SIG_ECDSA;
		break;
	case CKM_ECDSA_SHA256:
	case CKM_ECDSA_SHA384:
	case CKM_ECDSA_SHA512:
		n.sigalg = P11_SIG_ECDSA;
		n.md = mech->mechanism == CKM_ECDSA_SHA256 ? EVP_sha256() :
		       mech->mechanism == CKM_ECDSA_SHA384 ? EVP_sha384() : EVP_sha512();
		break;
	case CKM_EDDSA:
		if (mech->pParameter && mech->ulParameterLen >= sizeof(CK_BBOOL) &&
		    *(const CK_BBOOL *)mech->pParameter)
			return CKR_MECHANISM_PARAM_INVALID; /* Ed25519ph */
		n.sigalg = P11_SIG_EDDSA;
		break;
	case CKM_RSA_PKCS:
		n.sigalg = P11_SIG_RSA_PKCS1;
		n.rsa_raw = true;
		break;
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA384_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS:
		n.sigalg = P11_SIG_RSA_PKCS1;
		n.md = mech->mechanism == CKM_SHA256_RSA_PKCS ? EVP_sha256() :
		       mech->mechanism == CKM_SHA384_RSA_PKCS ? EVP_sha384() : EVP_sha512();
		break;
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS: {
		const CK_RSA_PKCS_PSS_PARAMS *pp = mech->pParameter;
		if (!pp || mech->ulParameterLen != sizeof(*pp))
			return CKR_MECHANISM_PARAM_INVALID;
		uint32_t hh = hash_of_ckm(pp->hashAlg);
		CK_RSA_PKCS_MGF_TYPE mgf = hh == H_SHA256 ? CKG_MGF1_SHA256 :
					   hh == H_SHA384 ? CKG_MGF1_SHA384 : CKG_MGF1_SHA512;
		size_t dl = hh == H_SHA256 ? 32 : hh == H_SHA384 ? 48 : 64;
		/* The key process uses MGF1 with the same hash and salt =
		 * digest length; refuse what it would not do. */
		if (!hh || pp->mgf != mgf || pp->sLen != dl)
			return CKR_MECHANISM_PARAM_INVALID;
		CK_MECHANISM_TYPE want = mech->mechanism == CKM_SHA256_RSA_PKCS_PSS ? CKM_SHA256 :
					 mech->mechanism == CKM_SHA384_RSA_PKCS_PSS ? CKM_SHA384 :
					 mech->mechanism == CKM_SHA512_RSA_PKCS_PSS ? CKM_SHA512 :
										      pp->hashAlg;
		if (want != pp->hashAlg)
			return CKR_MECHANISM_PARAM_INVALID;
		n.sigalg = P11_SIG_RSA_PSS;
		n.hash = hh;
		n.pss_len = dl;
		if (mech->mechanism == CKM_RSA_PKCS_PSS)
			n.pss_check = true;
		else
			n.md = hh == H_SHA256 ? EVP_sha256() : hh == H_SHA384 ? EVP_sha384() :
										   EVP_sha512();
		break;
	}
	default:
		return CKR_MECHANISM_INVALID;
	}
	if ((n.sigalg == P11_SIG_ECDSA && !ec) || (n.sigalg == P11_SIG_EDDSA && o->ktype != KT_ED25519) ||
	    ((n.sigalg == P11_SIG_RSA_PKCS1 || n.sigalg == P11_SIG_RSA_PSS) && !rsa))
		return CKR_KEY_TYPE_INCONSISTENT;
	if (n.md) {
		n.mdctx = EVP_MD_CTX_new();
		if (!n.mdctx || EVP_DigestInit_ex(n.mdctx, n.md, NULL) != 1) {
			EVP_MD_CTX_free(n.mdctx);
			return CKR_HOST_MEMORY;
		}
	}
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	if (op->kind != OP_NONE) {
		rv = CKR_OPERATION_ACTIVE;
		EVP_MD_CTX_free(n.mdctx);
	} else {
		*op = n;
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV acc_add(struct op *op, const uint8_t *p, size_t n)
{
	if (op->mdctx)
		return EVP_DigestUpdate(op->mdctx, p, n) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
	if (n > P11_DATA_MAX - op->acclen)
		return CKR_DATA_LEN_RANGE;
	uint8_t *nb = malloc(op->acclen + n + 1);
	if (!nb)
		return CKR_HOST_MEMORY;
	if (op->acclen)
		memcpy(nb, op->acc, op->acclen);
	if (n)
		memcpy(nb + op->acclen, p, n);
	if (op->acc) {
		OPENSSL_cleanse(op->acc, op->acclen);
		free(op->acc);
	}
	op->acc = nb;
	op->acclen += n;
	return CKR_OK;
}

static size_t sig_len(const struct object *o)
{
	return o->ktype == KT_P256 ? 64 : o->ktype == KT_P384 ? 96 :
	       o->ktype == KT_ED25519 ? 64 : p11_modulus_bytes(o->ktype);
}

/* Builds the SIGN/VERIFY request from the op's data. */
static CK_RV sig_request(struct op *op, const struct object *o, struct p11_enc *e,
			 enum p11_op wop)
{
	uint8_t dig[EVP_MAX_MD_SIZE];
	const uint8_t *d = op->acc;
	size_t dl = op->acclen;
	uint32_t hash = op->hash;
	if (op->mdctx) {
		unsigned l = 0;
		EVP_MD_CTX *copy = EVP_MD_CTX_new();
		if (!copy || EVP_MD_CTX_copy_ex(copy, op->mdctx) != 1 ||
		    EVP_DigestFinal_ex(copy, dig, &l) != 1) {
			EVP_MD_CTX_free(copy);
			return CKR_FUNCTION_FAILED;
		}
		EVP_MD_CTX_free(copy);
		d = dig;
		dl = l;
		hash = hash_of_len(l);
	} else if (op->rsa_raw) {
		/* CKM_RSA_PKCS signs a DigestInfo; the key process wants the
		 * digest and its hash. */
		static const struct {
			const uint8_t *p;
			size_t n;
			uint32_t h;
		} di[] = { { DI_SHA256, sizeof(DI_SHA256), H_SHA256 },
			   { DI_SHA384, sizeof(DI_SHA384), H_SHA384 },
			   { DI_SHA512, sizeof(DI_SHA512), H_SHA512 } };
		hash = H_NONE;
		for (size_t i = 0; i < 3 && hash == H_NONE; i++)
			if (dl == di[i].n + di[i].p[di[i].n - 1] &&
			    memcmp(d, di[i].p, di[i].n) == 0) {
				hash = di[i].h;
				d += di[i].n;
				dl -= di[i].n;
			}
		if (hash == H_NONE)
			return CKR_DATA_INVALID;
	} else if (op->sigalg == P11_SIG_ECDSA) {
		hash = hash_of_len(dl);
		if (hash == H_NONE)
			return CKR_DATA_LEN_RANGE;
	} else if (op->pss_check) {
		if (dl != op->pss_len)
			return CKR_DATA_LEN_RANGE;
	}
	p11_enc_init(e, wop, 0);
	p11_enc_str(e, P11_T_NAME, o->name);
	p11_enc_u32(e, P11_T_SIGALG, op->sigalg);
	p11_enc_u32(e, P11_T_HASH, hash);
	p11_enc_bytes(e, P11_T_DATA, d ? d : dig, dl);
	OPENSSL_cleanse(dig, sizeof(dig));
	return CKR_OK;
}

static CK_RV sign_final(struct session *s, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct op *op = &s->sign;
	struct object *o = p11_obj_get(s, op->key);
	if (!o) {
		p11_op_clear(op);
		return CKR_KEY_HANDLE_INVALID;
	}
	size_t want = sig_len(o);
	if (!sig) {
		*siglen = want;
		return CKR_OK; /* size query: the operation stays active */
	}
	if (*siglen < want) {
		*siglen = want;
		return CKR_BUFFER_TOO_SMALL;
	}
	struct p11_enc e;
	CK_RV rv = sig_request(op, o, &e, P11_OP_SIGN);
	if (rv == CKR_OK) {
		rv = p11_sess_call(s, &e);
		p11_enc_fini(&e);
		const struct p11_field *f = rv == CKR_OK ? p11_msg_get(s->msg, P11_T_SIG, 0) : NULL;
		if (rv == CKR_OK && (!f || f->len > *siglen))
			rv = CKR_DEVICE_ERROR;
		if (rv == CKR_OK) {
			memcpy(sig, f->p, f->len);
			*siglen = f->len;
		}
	}
	p11_op_clear(op);
	return rv;
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	return sig_init(s, &s->sign, OP_SIGN, mech, key);
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
	     CK_ULONG_PTR siglen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if ((!data && len) || !siglen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv;
	if (s->sign.kind != OP_SIGN) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if (!sig) {
		rv = sign_final(s, NULL, siglen);
	} else {
		/* A one-shot sign starts from the data given here only. */
		rv = acc_add(&s->sign, data, len);
		if (rv == CKR_OK) {
			rv = sign_final(s, sig, siglen);
			if (rv == CKR_BUFFER_TOO_SMALL) {
				/* keep the op, forget the data (it is given again) */
				if (s->sign.mdctx)
					EVP_DigestInit_ex(s->sign.mdctx, NULL, NULL);
				if (s->sign.acc)
					OPENSSL_cleanse(s->sign.acc, s->sign.acclen);
				s->sign.acclen = 0;
			}
		} else {
			p11_op_clear(&s->sign);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

/* C_SignUpdate / C_VerifyUpdate: more data for a multi-part operation. */
static CK_RV sig_update(CK_SESSION_HANDLE h, enum opkind kind, CK_BYTE_PTR part,
			CK_ULONG len)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!part && len)
		return CKR_ARGUMENTS_BAD;
	struct op *op = kind == OP_SIGN ? &s->sign : &s->verify;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = op->kind == kind ? acc_add(op, part, len) : CKR_OPERATION_NOT_INITIALIZED;
	if (rv != CKR_OK && rv != CKR_OPERATION_NOT_INITIALIZED)
		p11_op_clear(op);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{
	return sig_update(h, OP_SIGN, part, len);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!siglen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->sign.kind == OP_SIGN ? sign_final(s, sig, siglen) :
					     CKR_OPERATION_NOT_INITIALIZED;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV verify_final(struct session *s, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct op *op = &s->verify;
	struct object *o = p11_obj_get(s, op->key);
	CK_RV rv;
	if (!o) {
		rv = CKR_KEY_HANDLE_INVALID;
	} else if (!sig || siglen == 0 || siglen > P11_SIG_MAX ||
		   (op->sigalg != P11_SIG_ECDSA && op->sigalg != P11_SIG_EDDSA &&
		    siglen != sig_len(o)) ||
		   ((op->sigalg == P11_SIG_ECDSA || op->sigalg == P11_SIG_EDDSA) &&
		    siglen != sig_len(o))) {
		rv = CKR_SIGNATURE_LEN_RANGE;
	} else {
		struct p11_enc e;
		rv = sig_request(op, o, &e, P11_OP_VERIFY);
		if (rv == CKR_OK) {
			p11_enc_bytes(&e, P11_T_SIG, sig, siglen);
			rv = p11_sess_call(s, &e);
			p11_enc_fini(&e);
		}
	}
	p11_op_clear(op);
	return rv;
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	return sig_init(s, &s->verify, OP_VERIFY, mech, key);
}

CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
	       CK_ULONG siglen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!data && len)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv;
	if (s->verify.kind != OP_VERIFY) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if ((rv = acc_add(&s->verify, data, len)) == CKR_OK) {
		rv = verify_final(s, sig, siglen);
	} else {
		p11_op_clear(&s->verify);
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{
	return sig_update(h, OP_VERIFY, part, len);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->verify.kind == OP_VERIFY ? verify_final(s, sig, siglen) :
						 CKR_OPERATION_NOT_INITIALIZED;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

/* ---------------------------------------------------------------- AES-GCM */

/* CK_GCM_PARAMS as v2.40 prints it (with ulIvBits) and as its errata and
 * many implementations have it (without). */
struct gcm_params_noivbits {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

static CK_RV gcm_params(const CK_MECHANISM *mech, struct op *n)
{
	const uint8_t *iv, *aad;
	CK_ULONG ivlen, aadlen, tagbits;
	if (!mech->pParameter)
		return CKR_MECHANISM_PARAM_INVALID;
	if (mech->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
		const CK_GCM_PARAMS *g = mech->pParameter;
		iv = g->pIv;
		ivlen = g->ulIvLen;
		aad = g->pAAD;
		aadlen = g->ulAADLen;
		tagbits = g->ulTagBits;
	} else if (mech->ulParameterLen == sizeof(struct gcm_params_noivbits)) {
		const struct gcm_params_noivbits *g = mech->pParameter;
		iv = g->pIv;
		ivlen = g->ulIvLen;
		aad = g->pAAD;
		aadlen = g->ulAADLen;
		tagbits = g->ulTagBits;
	} else {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	/* 96-bit IVs and full tags only (SP 800-38D's recommendation). */
	if (!iv || ivlen != 12 || tagbits != 128 || aadlen > P11_AAD_MAX ||
	    (aadlen && !aad))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(n->iv, iv, 12);
	if (aadlen)
		memcpy(n->aad, aad, aadlen);
	n->aadlen = aadlen;
	return CKR_OK;
}

static CK_RV crypt_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			CK_OBJECT_HANDLE kh, enum opkind kind)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!mech)
		return CKR_ARGUMENTS_BAD;
	if (!p11_slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	if (mech->mechanism != CKM_AES_GCM)
		return CKR_MECHANISM_INVALID;
	struct object *o = p11_obj_get(s, kh);
	if (!o)
		return CKR_KEY_HANDLE_INVALID;
	if (o->cls != CKO_SECRET_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	struct op *n = calloc(1, sizeof(*n));
	if (!n)
		return CKR_HOST_MEMORY;
	n->kind = kind;
	n->key = kh;
	CK_RV rv = gcm_params(mech, n);
	pthread_mutex_lock(&s->mu);
	if (rv == CKR_OK && s->crypt.kind != OP_NONE)
		rv = CKR_OPERATION_ACTIVE;
	if (rv == CKR_OK)
		s->crypt = *n;
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(n, sizeof(*n));
	free(n);
	return rv;
}

/* Sends count items (iv[i], in[i]) in one request; outputs go to
 * out[i] / outlen[i] (caller-checked capacity). Called with s->mu held. */
static CK_RV crypt_items(struct session *s, const struct object *o, bool enc,
			 const uint8_t *aad, size_t aadlen, CK_ULONG count,
			 const uint8_t *const *iv, const uint8_t *const *in,
			 const CK_ULONG *inlen, uint8_t *const *out, CK_ULONG *outlen)
{
	struct p11_enc e;
	p11_enc_init(&e, enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT, 0);
	p11_enc_str(&e, P11_T_NAME, o->name);
	if (aadlen)
		p11_enc_bytes(&e, P11_T_AAD, aad, aadlen);
	for (CK_ULONG i = 0; i < count; i++) {
		p11_enc_bytes(&e, P11_T_IV, iv[i], 12);
		p11_enc_bytes(&e, P11_T_DATA, in[i], inlen[i]);
	}
	CK_RV rv = p11_sess_call(s, &e);
	p11_enc_fini(&e);
	if (rv == CKR_OK && p11_msg_count(s->msg, P11_T_DATA) != count)
		rv = CKR_DEVICE_ERROR;
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
		const struct p11_field *f = p11_msg_get(s->msg, P11_T_DATA, i);
		size_t want = enc ? inlen[i] + 16 : inlen[i] - 16;
		if (f->len != want) {
			rv = CKR_DEVICE_ERROR;
			break;
		}
		memcpy(out[i], f->p, f->len);
		outlen[i] = f->len;
	}
	OPENSSL_cleanse(s->buf, P11_WIRE_MSG_MAX < 4096 ? P11_WIRE_MSG_MAX : 4096);
	return rv;
}

/* Single-part / final step of an encrypt or decrypt. */
static CK_RV crypt_final(struct session *s, bool enc, CK_BYTE_PTR out,
			 CK_ULONG_PTR outlen)
{
	struct op *op = &s->crypt;
	struct object *o = p11_obj_get(s, op->key);
	if (!o) {
		p11_op_clear(op);
		return CKR_KEY_HANDLE_INVALID;
	}
	if (!enc && op->acclen < 16) {
		p11_op_clear(op);
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	}
	size_t want = enc ? op->acclen + 16 : op->acclen - 16;
	if (!out) {
		*outlen = want;
		return CKR_OK;
	}
	if (*outlen < want) {
		*outlen = want;
		return CKR_BUFFER_TOO_SMALL;
	}
	const uint8_t *ivp = op->iv, *inp = op->acc ? op->acc : op->iv;
	CK_ULONG il = op->acclen;
	uint8_t *outp = out;
	CK_ULONG ol = 0;
	CK_RV rv = crypt_items(s, o, enc, op->aad, op->aadlen, 1, &ivp, &inp, &il, &outp, &ol);
	if (rv == CKR_OK)
		*outlen = ol;
	p11_op_clear(op);
	return rv;
}

static CK_RV crypt_one(CK_SESSION_HANDLE h, bool enc, CK_BYTE_PTR in, CK_ULONG inlen,
		       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if ((!in && inlen) || !outlen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv;
	enum opkind k = enc ? OP_ENCRYPT : OP_DECRYPT;
	if (s->crypt.kind != k) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if (s->crypt.acclen) {
		rv = CKR_OPERATION_ACTIVE; /* a multi-part operation is under way */
	} else if ((rv = acc_add(&s->crypt, in, inlen)) != CKR_OK) {
		p11_op_clear(&s->crypt);
	} else {
		rv = crypt_final(s, enc, out, outlen);
		if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && !out)) {
			OPENSSL_cleanse(s->crypt.acc, s->crypt.acclen);
			s->crypt.acclen = 0; /* the data comes again */
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV crypt_update(CK_SESSION_HANDLE h, bool enc, CK_BYTE_PTR in,
			  CK_ULONG inlen, CK_ULONG_PTR outlen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if ((!in && inlen) || !outlen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->crypt.kind == (enc ? OP_ENCRYPT : OP_DECRYPT) ?
			   acc_add(&s->crypt, in, inlen) : CKR_OPERATION_NOT_INITIALIZED;
	if (rv == CKR_OK)
		*outlen = 0; /* GCM output comes at the end (the tag decides) */
	else if (rv != CKR_OPERATION_NOT_INITIALIZED)
		p11_op_clear(&s->crypt);
	pthread_mutex_unlock(&s->mu);
	return rv;
}

static CK_RV crypt_fin(CK_SESSION_HANDLE h, bool enc, CK_BYTE_PTR out,
		       CK_ULONG_PTR outlen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!outlen)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = s->crypt.kind == (enc ? OP_ENCRYPT : OP_DECRYPT) ?
			   crypt_final(s, enc, out, outlen) : CKR_OPERATION_NOT_INITIALIZED;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return crypt_init(h, m, k, OP_ENCRYPT);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
		CK_ULONG_PTR outlen)
{
	return crypt_one(h, true, in, inlen, out, outlen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
		      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_update(h, true, in, inlen, outlen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_fin(h, true, out, outlen);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	return crypt_init(h, m, k, OP_DECRYPT);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
		CK_ULONG_PTR outlen)
{
	return crypt_one(h, false, in, inlen, out, outlen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
		      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_update(h, false, in, inlen, outlen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	return crypt_fin(h, false, out, outlen);
}

CK_RV C_BulwarkEncryptBatch(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
			    CK_OBJECT_HANDLE key, CK_ULONG count,
			    CK_BYTE_PTR const *ivs, CK_BYTE_PTR const *in,
			    const CK_ULONG *inlen, CK_BYTE_PTR const *out,
			    CK_ULONG_PTR outlen)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!mech || count == 0 || count > P11_BATCH_MAX || !ivs || !in || !inlen ||
	    !out || !outlen)
		return CKR_ARGUMENTS_BAD;
	if (!p11_slot_logged(s->slot))
		return CKR_USER_NOT_LOGGED_IN;
	if (mech->mechanism != CKM_AES_GCM)
		return CKR_MECHANISM_INVALID;
	struct object *o = p11_obj_get(s, key);
	if (!o)
		return CKR_KEY_HANDLE_INVALID;
	if (o->cls != CKO_SECRET_KEY)
		return CKR_KEY_TYPE_INCONSISTENT;
	/* The mechanism's IV is a placeholder; each item brings its own. */
	struct op *p = calloc(1, sizeof(*p));
	if (!p)
		return CKR_HOST_MEMORY;
	CK_RV rv = gcm_params(mech, p);
	size_t total = 0;
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
		if (!ivs[i] || (!in[i] && inlen[i]) || !out[i] || inlen[i] > P11_DATA_MAX)
			rv = CKR_ARGUMENTS_BAD;
		else if (outlen[i] < inlen[i] + 16)
			rv = CKR_BUFFER_TOO_SMALL;
		total += inlen[i] + 40;
	}
	if (rv == CKR_OK && total > P11_WIRE_MSG_MAX - 1024)
		rv = CKR_DATA_LEN_RANGE;
	if (rv == CKR_OK) {
		pthread_mutex_lock(&s->mu);
		rv = crypt_items(s, o, true, p->aad, p->aadlen, count,
				 (const uint8_t *const *)ivs, (const uint8_t *const *)in,
				 inlen, (uint8_t *const *)out, outlen);
		pthread_mutex_unlock(&s->mu);
	}
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
	return rv;
}

/* ----------------------------------------------------------------- random */

CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	struct session *s = p11_sess_get(h);
	if (!s)
		return P11_NO_SESSION();
	if (!out && len)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&s->mu);
	CK_RV rv = CKR_OK;
	for (CK_ULONG off = 0; off < len && rv == CKR_OK;) {
		CK_ULONG n = len - off > P11_RANDOM_MAX ? P11_RANDOM_MAX : len - off;
		struct p11_enc e;
		p11_enc_init(&e, P11_OP_RANDOM, 0);
		p11_enc_u32(&e, P11_T_COUNT, (uint32_t)n);
		rv = p11_sess_call(s, &e);
		p11_enc_fini(&e);
		const struct p11_field *f = rv == CKR_OK ? p11_msg_get(s->msg, P11_T_DATA, 0) : NULL;
		if (rv == CKR_OK && (!f || f->len != n))
			rv = CKR_DEVICE_ERROR;
		if (rv == CKR_OK) {
			memcpy(out + off, f->p, n);
			off += n;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rv;
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	if (!p11_initialized())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	return p11_sess_get(h) ? CKR_RANDOM_SEED_NOT_SUPPORTED : CKR_SESSION_HANDLE_INVALID;
}
