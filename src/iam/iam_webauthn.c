/*
 * WebAuthn (W3C Web Authentication Level 2) verification for a relying
 * party, without storage: authenticator data, COSE public keys (ES256,
 * EdDSA, RS256), client data JSON, the registration ceremony with
 * attestation "none" and "packed" (self and x5c), and the assertion
 * ceremony with its signature-counter rule. iam_webauthn_store.c keeps
 * credentials and challenges; the pages drive the ceremonies.
 *
 * Invariants: every length inside authenticator data is checked against
 * the bytes that remain; the client data's type, challenge (constant-time)
 * and origin (one of the configured origins, exactly), the rpIdHash, the
 * user-present flag (always) and user-verified flag (when required) are
 * checked before any signature is trusted; only the three algorithms
 * above are accepted, with RSA keys of at least 2048 bits; a stored
 * counter that does not increase is refused (reason "counter"), unless
 * both counters are zero (authenticators without a counter). With
 * trusted attestation roots configured, an x5c chain must verify up to
 * one of them and attestations without one are refused.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "json/json.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string.h>

static int fail(struct bw_err *err, const char *reason, const char *msg)
{
	return bw_err_set(err, 400, "iam", reason, "webauthn: %s", msg);
}

/* ---------------------------------------------------- authenticator data */

int iam_authdata_parse(const uint8_t *p, size_t n, struct iam_authdata *ad,
		       struct bw_err *err)
{
	memset(ad, 0, sizeof(*ad));
	if (n < 37)
		return fail(err, "bad_authdata",
			    "authenticator data too short");
	if (n > IAM_WEBAUTHN_AUTHDATA_MAX)
		return fail(err, "bad_authdata", "authenticator data too long");
	ad->rp_id_hash = p;
	ad->flags = p[32];
	ad->sign_count = (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 |
			 (uint32_t)p[35] << 8 | p[36];
	size_t off = 37;
	if (ad->flags & IAM_WA_FLAG_AT) {
		if (n - off < 18)
			return fail(err, "bad_authdata",
				    "attested credential data truncated");
		memcpy(ad->aaguid, p + off, 16);
		size_t idl = (size_t)p[off + 16] << 8 | p[off + 17];
		off += 18;
		if (idl == 0 || idl > IAM_WEBAUTHN_CRED_ID_MAX || n - off < idl)
			return fail(err, "bad_authdata",
				    "bad credential id length");
		ad->cred_id = p + off;
		ad->cred_id_len = idl;
		off += idl;
		struct iam_cbor_node nodes[IAM_COSE_NODES_MAX];
		size_t cnt, used;
		if (iam_cbor_parse(p + off, n - off, nodes, IAM_COSE_NODES_MAX,
				   &cnt, &used, err) < 0)
			return -1;
		if (nodes[0].type != IAM_CBOR_MAP)
			return fail(err, "bad_authdata",
				    "credential key is not a map");
		ad->cose_key = p + off;
		ad->cose_key_len = used;
		off += used;
	}
	if (ad->flags & IAM_WA_FLAG_ED) {
		struct iam_cbor_node nodes[IAM_CBOR_NODES_MAX];
		size_t cnt, used;
		if (off >= n ||
		    iam_cbor_parse(p + off, n - off, nodes, IAM_CBOR_NODES_MAX,
				   &cnt, &used, err) < 0)
			return off >= n ? fail(err, "bad_authdata",
					       "extensions missing")
					: -1;
		if (nodes[0].type != IAM_CBOR_MAP)
			return fail(err, "bad_authdata",
				    "extensions are not a map");
		off += used;
	}
	if (off != n)
		return fail(err, "bad_authdata",
			    "trailing bytes in authenticator data");
	return 0;
}

/* -------------------------------------------------------------- COSE keys */

static const struct iam_cbor_node *cose_get(const struct iam_cbor_node *nodes,
					    int64_t key)
{
	ssize_t i = iam_cbor_map_find_int(nodes, 0, key);
	return i < 0 ? NULL : &nodes[i];
}

static bool cose_bytes(const struct iam_cbor_node *n, size_t want)
{
	return n && n->type == IAM_CBOR_BYTES && (want == 0 || n->val == want);
}

static EVP_PKEY *ec_key(const uint8_t *x, const uint8_t *y, struct bw_err *err)
{
	uint8_t pub[65];
	pub[0] = 0x04;
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
					     (char *)"prime256v1", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub,
					      sizeof(pub)),
	    OSSL_PARAM_construct_end()};
	if (!c || EVP_PKEY_fromdata_init(c) <= 0 ||
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		bw_err_openssl(err, "iam", "webauthn: EC key");
		err->code = 400;
		k = NULL;
	}
	/* fromdata does not check the point is on the curve: do it. */
	if (k) {
		EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (!v || EVP_PKEY_public_check(v) != 1) {
			EVP_PKEY_free(k);
			k = NULL;
			fail(err, "bad_key", "EC point not on P-256");
		}
		EVP_PKEY_CTX_free(v);
	}
	EVP_PKEY_CTX_free(c);
	return k;
}

static EVP_PKEY *rsa_key(const struct iam_cbor_node *n,
			 const struct iam_cbor_node *e, struct bw_err *err)
{
	EVP_PKEY *k = NULL;
	BIGNUM *bn = BN_bin2bn(n->data, (int)n->val, NULL);
	BIGNUM *be = BN_bin2bn(e->data, (int)e->val, NULL);
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!bn || !be || !b || !c ||
	    !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) ||
	    !(params = OSSL_PARAM_BLD_to_param(b)) ||
	    EVP_PKEY_fromdata_init(c) <= 0 ||
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		bw_err_openssl(err, "iam", "webauthn: RSA key");
		err->code = 400;
		k = NULL;
	}
	if (k && (EVP_PKEY_get_bits(k) < IAM_WEBAUTHN_RSA_MIN_BITS ||
		  EVP_PKEY_get_bits(k) > IAM_WEBAUTHN_RSA_MAX_BITS ||
		  !BN_is_odd(be) || BN_is_one(be))) {
		EVP_PKEY_free(k);
		k = NULL;
		fail(err, "bad_key", "RSA key size or exponent refused");
	}
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(bn);
	BN_free(be);
	return k;
}

int iam_cose_key_parse(const uint8_t *p, size_t n, int *alg, void **pkey,
		       struct bw_err *err)
{
	struct iam_cbor_node nodes[IAM_COSE_NODES_MAX];
	size_t cnt;
	int64_t kty, a, crv = 0;
	*pkey = NULL;
	if (n > IAM_WEBAUTHN_COSE_MAX)
		return fail(err, "bad_key", "COSE key too long");
	if (iam_cbor_parse(p, n, nodes, IAM_COSE_NODES_MAX, &cnt, NULL, err) <
	    0)
		return -1;
	const struct iam_cbor_node *nkty = cose_get(nodes, 1),
				   *nalg = cose_get(nodes, 3),
				   *ncrv = cose_get(nodes, -1),
				   *nx = cose_get(nodes, -2),
				   *ny = cose_get(nodes, -3);
	if (nodes[0].type != IAM_CBOR_MAP || !nkty || !nalg ||
	    iam_cbor_int(nkty, &kty) < 0 || iam_cbor_int(nalg, &a) < 0)
		return fail(err, "bad_key", "COSE key without kty/alg");
	if (ncrv && ncrv->type != IAM_CBOR_BYTES &&
	    iam_cbor_int(ncrv, &crv) < 0)
		return fail(err, "bad_key", "bad COSE crv");
	EVP_PKEY *k = NULL;
	if (a == IAM_COSE_ES256 && kty == 2) {
		if (crv != 1 || !cose_bytes(nx, 32) || !cose_bytes(ny, 32))
			return fail(err, "bad_key",
				    "ES256 needs P-256 x and y of 32 bytes");
		k = ec_key(nx->data, ny->data, err);
	} else if (a == IAM_COSE_EDDSA && kty == 1) {
		if (crv != 6 || !cose_bytes(nx, 32))
			return fail(err, "bad_key",
				    "EdDSA needs Ed25519 x of 32 bytes");
		k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						nx->data, 32);
		if (!k)
			fail(err, "bad_key", "bad Ed25519 key");
	} else if (a == IAM_COSE_RS256 && kty == 3) {
		if (!cose_bytes(ncrv, 0) || !cose_bytes(nx, 0) ||
		    ncrv->val == 0 || nx->val == 0 || nx->val > 8 ||
		    ncrv->val > IAM_WEBAUTHN_RSA_MAX_BITS / 8)
			return fail(err, "bad_key", "RS256 needs n and e");
		k = rsa_key(ncrv, nx, err);
	} else {
		return fail(err, "unsupported_alg",
			    "only ES256, EdDSA and RS256 are accepted");
	}
	if (!k)
		return -1;
	*alg = (int)a;
	*pkey = k;
	return 0;
}

int iam_webauthn_sig_verify(void *pkey, int alg, const uint8_t *msg, size_t n,
			    const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	const EVP_MD *md = alg == IAM_COSE_EDDSA ? NULL : EVP_sha256();
	int ok = c && EVP_DigestVerifyInit(c, NULL, md, NULL, pkey) == 1 &&
		 EVP_DigestVerify(c, sig, siglen, msg, n) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* -------------------------------------------------------------- client data */

int iam_webauthn_client_data_check(const struct iam_webauthn_rp *rp,
				   const uint8_t *cdj, size_t n,
				   const char *type, uint8_t *challenge,
				   size_t *challenge_len, struct bw_err *err)
{
	if (n == 0 || n > IAM_WEBAUTHN_CLIENT_DATA_MAX)
		return fail(err, "bad_client_data", "client data size");
	struct bw_arena *a = bw_arena_new(4096, 64 * 1024);
	if (!a)
		return bw_err_set(err, 503, "iam", "memory", "out of memory");
	int rc = -1;
	struct json_limits lim = {.max_bytes = IAM_WEBAUTHN_CLIENT_DATA_MAX,
				  .max_depth = 4,
				  .max_string = 1024,
				  .max_members = 32};
	struct json_value *v = json_parse(a, (const char *)cdj, n, &lim, err);
	if (!v || v->type != JSON_OBJECT) {
		if (v)
			fail(err, "bad_client_data", "not an object");
		goto out;
	}
	const char *t = json_get_str(v, "type", NULL);
	const char *ch = json_get_str(v, "challenge", NULL);
	const char *origin = json_get_str(v, "origin", NULL);
	if (!t || strcmp(t, type) != 0) {
		fail(err, "bad_client_data", "wrong ceremony type");
		goto out;
	}
	if (json_get_bool(v, "crossOrigin", false)) {
		fail(err, "bad_origin", "cross-origin ceremonies are refused");
		goto out;
	}
	bool origin_ok = false;
	for (size_t i = 0; origin && i < rp->norigins; i++)
		if (strcmp(origin, rp->origins[i]) == 0)
			origin_ok = true;
	if (!origin_ok) {
		fail(err, "bad_origin", "origin is not this relying party's");
		goto out;
	}
	size_t cl;
	if (!ch || strlen(ch) > crypto_b64url_len(IAM_WEBAUTHN_CHALLENGE_LEN) ||
	    crypto_b64url_decode(ch, strlen(ch), challenge,
				 IAM_WEBAUTHN_CHALLENGE_LEN, &cl, err) < 0 ||
	    cl != IAM_WEBAUTHN_CHALLENGE_LEN) {
		fail(err, "bad_challenge", "malformed challenge");
		goto out;
	}
	*challenge_len = cl;
	rc = 0;
out:
	bw_arena_free(a);
	return rc;
}

/* ---------------------------------------------------------- attestation */

/* Attestation certificate requirements (WebAuthn L2 section 8.2.1). */
static int packed_cert_check(X509 *x, const uint8_t aaguid[16],
			     struct bw_err *err)
{
	if (X509_get_version(x) != 2)
		return fail(err, "bad_attestation", "certificate not X.509 v3");
	X509_NAME *s = X509_get_subject_name(x);
	char ou[64];
	if (X509_NAME_get_text_by_NID(s, NID_organizationalUnitName, ou,
				      sizeof(ou)) <= 0 ||
	    strcmp(ou, "Authenticator Attestation") != 0 ||
	    X509_NAME_get_index_by_NID(s, NID_countryName, -1) < 0 ||
	    X509_NAME_get_index_by_NID(s, NID_organizationName, -1) < 0 ||
	    X509_NAME_get_index_by_NID(s, NID_commonName, -1) < 0)
		return fail(err, "bad_attestation",
			    "certificate subject does not meet the packed "
			    "requirements");
	if (X509_check_ca(x) != 0)
		return fail(err, "bad_attestation",
			    "attestation certificate is a CA");
	/* id-fido-gen-ce-aaguid, when present, must name this authenticator
	 * model: an OCTET STRING holding a 16-byte OCTET STRING. */
	ASN1_OBJECT *o = OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1);
	int idx = o ? X509_get_ext_by_OBJ(x, o, -1) : -1;
	ASN1_OBJECT_free(o);
	if (idx >= 0) {
		X509_EXTENSION *e = X509_get_ext(x, idx);
		const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(e);
		const unsigned char *q = ASN1_STRING_get0_data(d);
		if (X509_EXTENSION_get_critical(e) ||
		    ASN1_STRING_length(d) != 18 || q[0] != 0x04 || q[1] != 16 ||
		    memcmp(q + 2, aaguid, 16) != 0)
			return fail(err, "bad_attestation",
				    "certificate AAGUID does not match");
	}
	int64_t now = bw_clock_now_s();
	time_t t = (time_t)now;
	if (X509_cmp_time(X509_get0_notBefore(x), &t) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(x), &t) < 0)
		return fail(err, "bad_attestation",
			    "attestation certificate not valid now");
	return 0;
}

/* ------------------------------------------------- attestation roots */

void *iam_webauthn_roots_load(const char *path, struct bw_err *err)
{
	size_t len = 0, n = 0;
	char *pem = bw_file_read(path, IAM_WEBAUTHN_ROOTS_BYTES_MAX, &len, err);
	if (!pem)
		return NULL;
	X509_STORE *st = X509_STORE_new();
	BIO *b = st ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *x = NULL;
	if (!b) {
		bw_err_set(err, 500, "iam", "memory", "out of memory");
		goto fail;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (++n > IAM_WEBAUTHN_ROOTS_MAX || X509_STORE_add_cert(st, x) != 1) {
			bw_err_set(err, 400, "iam", "bad_roots",
				   "%s: at most %d distinct certificates", path,
				   IAM_WEBAUTHN_ROOTS_MAX);
			goto fail;
		}
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error(); /* the read that ended the loop */
	if (n == 0) {
		bw_err_set(err, 400, "iam", "bad_roots",
			   "%s: no PEM certificate", path);
		goto fail;
	}
	BIO_free(b);
	free(pem);
	return st;
fail:
	ERR_clear_error();
	X509_free(x);
	BIO_free(b);
	X509_STORE_free(st);
	free(pem);
	return NULL;
}

void iam_webauthn_roots_free(void *roots)
{
	X509_STORE_free(roots);
}

/* The attestation certificate leaf chains up to a trusted root, with
 * x5c[1..] (nodes after the array node ix + 1) as untrusted
 * intermediates, at bw_clock time. */
static int chain_check(const struct iam_cbor_node *nodes, size_t ix,
		       X509 *leaf, X509_STORE *roots, struct bw_err *err)
{
	STACK_OF(X509) *inter = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;
	if (!inter || !ctx) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	for (size_t i = nodes[ix + 1].end, k = 1; k < nodes[ix].val;
	     i = nodes[i].end, k++) {
		const unsigned char *q = nodes[i].data;
		X509 *c = nodes[i].type == IAM_CBOR_BYTES
			      ? d2i_X509(NULL, &q, (long)nodes[i].val)
			      : NULL;
		if (!c || q != nodes[i].data + nodes[i].val ||
		    !sk_X509_push(inter, c)) {
			X509_free(c);
			fail(err, "bad_attestation",
			     "attestation chain certificate unreadable");
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, roots, leaf, inter) != 1) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
				   (time_t)bw_clock_now_s());
	if (X509_verify_cert(ctx) == 1)
		rc = 0;
	else
		bw_err_set(err, 400, "iam", "untrusted_attestation",
			   "webauthn: attestation chain: %s",
			   X509_verify_cert_error_string(
			       X509_STORE_CTX_get_error(ctx)));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(inter, X509_free);
	return rc;
}

static int verify_packed(const struct iam_webauthn_rp *rp,
			 const struct iam_cbor_node *nodes, size_t stmt,
			 const uint8_t *signed_data, size_t signed_len,
			 int cred_alg, void *cred_key,
			 const struct iam_authdata *ad,
			 struct iam_webauthn_reg *out, struct bw_err *err)
{
	ssize_t ia = iam_cbor_map_find_text(nodes, stmt, "alg");
	ssize_t is = iam_cbor_map_find_text(nodes, stmt, "sig");
	ssize_t ix = iam_cbor_map_find_text(nodes, stmt, "x5c");
	int64_t alg;
	if (ia < 0 || is < 0 || iam_cbor_int(&nodes[ia], &alg) < 0 ||
	    nodes[is].type != IAM_CBOR_BYTES ||
	    nodes[is].val > IAM_WEBAUTHN_SIG_MAX)
		return fail(err, "bad_attestation",
			    "packed statement needs alg and sig");
	const uint8_t *sig = nodes[is].data;
	size_t sl = (size_t)nodes[is].val;
	if (ix < 0) {
		/* Self attestation: signed by the credential key itself. */
		if (rp->attestation_roots)
			return bw_err_set(err, 400, "iam",
					  "untrusted_attestation",
					  "webauthn: self attestation, but "
					  "this relying party trusts only "
					  "certified key models");
		if (alg != cred_alg)
			return fail(err, "bad_attestation",
				    "self attestation alg differs from the "
				    "credential's");
		if (iam_webauthn_sig_verify(cred_key, cred_alg, signed_data,
					    signed_len, sig, sl) < 0)
			return fail(err, "bad_signature",
				    "self attestation signature invalid");
		bw_snprintf(out->att_type, sizeof(out->att_type), "self");
		return 0;
	}
	const struct iam_cbor_node *arr = &nodes[ix];
	if (arr->type != IAM_CBOR_ARRAY || arr->val == 0 ||
	    arr->val > IAM_WEBAUTHN_X5C_MAX)
		return fail(err, "bad_attestation", "x5c must be 1..4 certs");
	if (alg != IAM_COSE_ES256 && alg != IAM_COSE_RS256 &&
	    alg != IAM_COSE_EDDSA)
		return fail(err, "unsupported_alg",
			    "attestation algorithm refused");
	const struct iam_cbor_node *c0 = &nodes[ix + 1];
	if (c0->type != IAM_CBOR_BYTES)
		return fail(err, "bad_attestation", "x5c entry not bytes");
	const unsigned char *q = c0->data;
	X509 *x = d2i_X509(NULL, &q, (long)c0->val);
	if (!x || q != c0->data + c0->val) {
		X509_free(x);
		return fail(err, "bad_attestation",
			    "attestation certificate unreadable");
	}
	int rc = -1;
	EVP_PKEY *k = X509_get0_pubkey(x);
	if (!k) {
		fail(err, "bad_attestation", "no key in certificate");
	} else if (iam_webauthn_sig_verify(k, (int)alg, signed_data, signed_len,
					   sig, sl) < 0) {
		fail(err, "bad_signature", "attestation signature invalid");
	} else if (packed_cert_check(x, ad->aaguid, err) == 0 &&
		   (!rp->attestation_roots ||
		    chain_check(nodes, (size_t)ix, x,
				(X509_STORE *)rp->attestation_roots,
				err) == 0)) {
		bw_snprintf(out->att_type, sizeof(out->att_type), "basic");
		rc = 0;
	}
	X509_free(x);
	return rc;
}

/* ------------------------------------------------------------ ceremonies */

static int rp_checks(const struct iam_webauthn_rp *rp,
		     const struct iam_authdata *ad, struct bw_err *err)
{
	uint8_t h[32];
	crypto_sha256(rp->rp_id, strlen(rp->rp_id), h);
	if (!bw_ct_equal(h, 32, ad->rp_id_hash, 32))
		return fail(err, "bad_rp_id", "rpIdHash is not this RP's");
	if (!(ad->flags & IAM_WA_FLAG_UP))
		return fail(err, "user_not_present", "user presence missing");
	if (rp->require_uv && !(ad->flags & IAM_WA_FLAG_UV))
		return fail(err, "user_not_verified",
			    "user verification required");
	return 0;
}

int iam_webauthn_verify_registration(const struct iam_webauthn_rp *rp,
				     const uint8_t *cdj, size_t cdn,
				     const uint8_t *att, size_t an,
				     struct iam_webauthn_reg *out,
				     struct bw_err *err)
{
	struct iam_cbor_node nodes[IAM_CBOR_NODES_MAX];
	struct iam_authdata ad;
	size_t cnt;
	void *key = NULL;
	int alg = 0, rc = -1;
	uint8_t *signed_data = NULL;
	memset(out, 0, sizeof(*out));
	if (iam_webauthn_client_data_check(rp, cdj, cdn, "webauthn.create",
					   out->challenge, &out->challenge_len,
					   err) < 0)
		return -1;
	if (an > IAM_WEBAUTHN_ATTESTATION_MAX)
		return fail(err, "bad_attestation",
			    "attestation object too large");
	if (iam_cbor_parse(att, an, nodes, IAM_CBOR_NODES_MAX, &cnt, NULL,
			   err) < 0)
		return -1;
	ssize_t ifmt = iam_cbor_map_find_text(nodes, 0, "fmt");
	ssize_t ist = iam_cbor_map_find_text(nodes, 0, "attStmt");
	ssize_t iad = iam_cbor_map_find_text(nodes, 0, "authData");
	if (nodes[0].type != IAM_CBOR_MAP || ifmt < 0 || ist < 0 || iad < 0 ||
	    nodes[ifmt].type != IAM_CBOR_TEXT ||
	    nodes[ist].type != IAM_CBOR_MAP ||
	    nodes[iad].type != IAM_CBOR_BYTES)
		return fail(err, "bad_attestation",
			    "attestation object needs fmt, attStmt, authData");
	const uint8_t *adp = nodes[iad].data;
	size_t adn = (size_t)nodes[iad].val;
	if (iam_authdata_parse(adp, adn, &ad, err) < 0 ||
	    rp_checks(rp, &ad, err) < 0)
		return -1;
	if (!(ad.flags & IAM_WA_FLAG_AT) || !ad.cose_key)
		return fail(err, "bad_authdata", "no attested credential data");
	if (iam_cose_key_parse(ad.cose_key, ad.cose_key_len, &alg, &key, err) <
	    0)
		return -1;
	/* What the attestation signs: authData || SHA-256(clientDataJSON). */
	signed_data = malloc(adn + 32);
	if (!signed_data) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	memcpy(signed_data, adp, adn);
	crypto_sha256(cdj, cdn, signed_data + adn);
	size_t fl = (size_t)nodes[ifmt].val;
	const char *fmt = (const char *)nodes[ifmt].data;
	if (fl == 4 && memcmp(fmt, "none", 4) == 0) {
		if (rp->attestation_roots) {
			bw_err_set(err, 400, "iam", "untrusted_attestation",
				   "webauthn: no attestation, but this relying "
				   "party trusts only certified key models");
			goto out;
		}
		if (nodes[ist].val != 0) {
			fail(err, "bad_attestation",
			     "attestation none with a statement");
			goto out;
		}
		bw_snprintf(out->att_type, sizeof(out->att_type), "none");
	} else if (fl == 6 && memcmp(fmt, "packed", 6) == 0) {
		if (verify_packed(rp, nodes, (size_t)ist, signed_data, adn + 32,
				  alg, key, &ad, out, err) < 0)
			goto out;
	} else {
		fail(err, "unsupported_attestation",
		     "attestation format must be none or packed");
		goto out;
	}
	memcpy(out->fmt, fmt, fl);
	out->fmt[fl] = 0;
	memcpy(out->cred_id, ad.cred_id, ad.cred_id_len);
	out->cred_id_len = ad.cred_id_len;
	memcpy(out->cose_key, ad.cose_key, ad.cose_key_len);
	out->cose_key_len = ad.cose_key_len;
	memcpy(out->aaguid, ad.aaguid, 16);
	out->alg = alg;
	out->sign_count = ad.sign_count;
	out->uv = (ad.flags & IAM_WA_FLAG_UV) != 0;
	rc = 0;
out:
	free(signed_data);
	EVP_PKEY_free(key);
	return rc;
}

int iam_webauthn_verify_assertion(
    const struct iam_webauthn_rp *rp, const uint8_t *cdj, size_t cdn,
    const uint8_t *adp, size_t adn, const uint8_t *sig, size_t sn,
    const uint8_t *cose, size_t coselen, uint32_t stored_count,
    struct iam_webauthn_assert *out, struct bw_err *err)
{
	struct iam_authdata ad;
	void *key = NULL;
	int alg, rc = -1;
	memset(out, 0, sizeof(*out));
	if (iam_webauthn_client_data_check(rp, cdj, cdn, "webauthn.get",
					   out->challenge, &out->challenge_len,
					   err) < 0)
		return -1;
	if (sn == 0 || sn > IAM_WEBAUTHN_SIG_MAX)
		return fail(err, "bad_signature", "signature size");
	if (iam_authdata_parse(adp, adn, &ad, err) < 0 ||
	    rp_checks(rp, &ad, err) < 0)
		return -1;
	if (iam_cose_key_parse(cose, coselen, &alg, &key, err) < 0)
		return -1;
	uint8_t *msg = malloc(adn + 32);
	if (!msg) {
		bw_err_set(err, 503, "iam", "memory", "out of memory");
		goto out;
	}
	memcpy(msg, adp, adn);
	crypto_sha256(cdj, cdn, msg + adn);
	if (iam_webauthn_sig_verify(key, alg, msg, adn + 32, sig, sn) < 0) {
		fail(err, "bad_signature", "assertion signature invalid");
	} else if ((ad.sign_count != 0 || stored_count != 0) &&
		   ad.sign_count <= stored_count) {
		/* Section 7.2 step 21: a counter that does not grow means the
		 * authenticator may have been cloned. */
		bw_err_set(err, 400, "iam", "counter",
			   "webauthn: signature counter went from %u to %u",
			   stored_count, ad.sign_count);
	} else {
		out->sign_count = ad.sign_count;
		out->uv = (ad.flags & IAM_WA_FLAG_UV) != 0;
		rc = 0;
	}
	free(msg);
out:
	EVP_PKEY_free(key);
	return rc;
}
