/*
 * pki_acme_jws.c — the ACME request envelope (RFC 8555 section 6.2): a
 * JWS in the flattened JSON serialisation whose protected header carries
 * alg, nonce, url and exactly one of jwk (new accounts, revocation by
 * certificate key) or kid (an account URL); and the external account
 * binding inside newAccount (section 7.3.4).
 *
 * Invariants:
 *  - parsing never trusts anything it has not bounded: the body is at most
 *    PKI_ACME_BODY_MAX, JSON is strict (duplicates refused) with bounded
 *    depth and members, base64url is strict;
 *  - the envelope must be exactly {protected, payload, signature}: an
 *    unprotected header or the general serialisation ("signatures") is
 *    refused, since RFC 8555 forbids both;
 *  - alg is on a fixed allow-list of asymmetric algorithms (RS256, ES256,
 *    ES384, EdDSA); "none", MACs and anything unknown are
 *    badSignatureAlgorithm, and the key must fit the algorithm exactly
 *    (no algorithm confusion);
 *  - "crit" is refused (we implement no extension);
 *  - the payload is exposed only after acme_jws_verify() succeeded: parse
 *    decodes it, but callers read it only past verification.
 *
 * Errors use struct bw_err with code = the HTTP status and reason = the
 * ACME error type without its URN prefix ("malformed", "badNonce", ...),
 * so the handler turns any failure into a problem document directly.
 */
#include "pki/pki_acme_int.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

int acme_fail(struct bw_err *err, int status, const char *type,
	      const char *fmt, ...)
{
	if (!err)
		return -1;
	char msg[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	return bw_err_set(err, status, PKI_MOD, type, "%s", msg);
}

const struct json_limits acme_json_limits = {
	.max_bytes = PKI_ACME_BODY_MAX,
	.max_depth = PKI_ACME_JSON_DEPTH,
	.max_string = PKI_ACME_BODY_MAX,
	.max_members = PKI_ACME_JSON_MEMBERS,
	.dup = JSON_DUP_REJECT,
};

static bool alg_allowed(enum jose_alg a)
{
	return a == JOSE_ALG_RS256 || a == JOSE_ALG_ES256 ||
	       a == JOSE_ALG_ES384 || a == JOSE_ALG_EDDSA;
}

/* A base64url member decoded into arena memory (NUL-terminated). */
static int b64_member(struct bw_arena *a, const struct json_value *obj,
		      const char *name, size_t max, uint8_t **out,
		      size_t *outlen, struct bw_str *raw, struct bw_err *err)
{
	const struct json_value *v = json_get(obj, name);
	if (!v || v->type != JSON_STRING)
		return acme_fail(err, 400, "malformed",
				 "JWS member \"%s\" missing or not a string", name);
	size_t cap = crypto_b64url_decoded_max(v->u.str.len);
	if (cap > max)
		return acme_fail(err, 400, "malformed", "JWS member \"%s\" too long",
				 name);
	uint8_t *buf = bw_arena_alloc(a, cap + 1);
	if (!buf)
		return acme_fail(err, 500, "serverInternal", "out of memory");
	struct bw_err e;
	if (crypto_b64url_decode(v->u.str.p, v->u.str.len, buf, cap, outlen, &e) < 0)
		return acme_fail(err, 400, "malformed",
				 "JWS member \"%s\" is not base64url", name);
	buf[*outlen] = '\0';
	*out = buf;
	if (raw)
		*raw = v->u.str;
	return 0;
}

/* An optional string header member; present but not a string fails. */
static int hdr_str(const struct json_value *h, const char *name,
		   struct bw_str *out, bool *present, struct bw_err *err)
{
	const struct json_value *v = json_get(h, name);
	*present = v != NULL;
	*out = bw_str_make("", 0);
	if (!v)
		return 0;
	if (v->type != JSON_STRING)
		return acme_fail(err, 400, "malformed",
				 "protected header \"%s\" is not a string", name);
	*out = v->u.str;
	return 0;
}

int acme_jws_from_json(struct bw_arena *a, const struct json_value *obj,
		       struct acme_jws *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!obj || obj->type != JSON_OBJECT)
		return acme_fail(err, 400, "malformed", "the JWS is not a JSON object");
	for (size_t i = 0; i < obj->u.obj.n; i++) {
		struct bw_str k = obj->u.obj.members[i].key;
		if (!bw_str_eq_lit(k, "protected") && !bw_str_eq_lit(k, "payload") &&
		    !bw_str_eq_lit(k, "signature"))
			return acme_fail(err, 400, "malformed",
					 "the JWS must be flattened JSON with only "
					 "protected, payload and signature");
	}
	uint8_t *hdr;
	size_t hlen;
	struct bw_str prot_raw, payload_raw;
	if (b64_member(a, obj, "protected", PKI_ACME_HEADER_MAX, &hdr, &hlen,
		       &prot_raw, err) < 0 ||
	    b64_member(a, obj, "payload", PKI_ACME_BODY_MAX, &out->payload,
		       &out->payload_len, &payload_raw, err) < 0 ||
	    b64_member(a, obj, "signature", JOSE_SIG_MAX + 4, &out->sig,
		       &out->sig_len, NULL, err) < 0)
		return -1;
	if (prot_raw.len == 0)
		return acme_fail(err, 400, "malformed", "empty protected header");
	/* The signing input is the two base64url texts as received. */
	size_t silen = prot_raw.len + 1 + payload_raw.len;
	char *si = bw_arena_alloc(a, silen + 1);
	if (!si)
		return acme_fail(err, 500, "serverInternal", "out of memory");
	memcpy(si, prot_raw.p, prot_raw.len);
	si[prot_raw.len] = '.';
	memcpy(si + prot_raw.len + 1, payload_raw.p, payload_raw.len);
	si[silen] = '\0';
	out->signing_input = si;
	out->signing_input_len = silen;
	out->post_as_get = payload_raw.len == 0;

	struct bw_err jerr;
	struct json_limits hl = acme_json_limits;
	hl.max_bytes = PKI_ACME_HEADER_MAX;
	const struct json_value *h = json_parse(a, (const char *)hdr, hlen, &hl, &jerr);
	if (!h || h->type != JSON_OBJECT)
		return acme_fail(err, 400, "malformed",
				 "the protected header is not a JSON object");
	out->header = h;

	bool present;
	struct bw_str alg;
	if (hdr_str(h, "alg", &alg, &present, err) < 0)
		return -1;
	if (!present)
		return acme_fail(err, 400, "malformed", "protected header has no alg");
	out->alg = jose_alg_from_name(alg.p, alg.len);
	if (!alg_allowed(out->alg))
		return acme_fail(err, 400, "badSignatureAlgorithm",
				 "algorithm %.16s is not supported", alg.p);
	if (json_get(h, "crit"))
		return acme_fail(err, 400, "malformed",
				 "no JWS extension is understood (crit)");
	if (json_get(h, "jku") || json_get(h, "x5u") || json_get(h, "x5c"))
		return acme_fail(err, 400, "malformed",
				 "keys are given only as jwk or kid");
	if (hdr_str(h, "nonce", &out->nonce, &out->has_nonce, err) < 0 ||
	    hdr_str(h, "url", &out->url, &present, err) < 0)
		return -1;
	if (!present || out->url.len == 0)
		return acme_fail(err, 400, "malformed", "protected header has no url");
	if (out->url.len > PKI_ACME_URL_MAX)
		return acme_fail(err, 400, "malformed", "url too long");
	bool has_kid;
	if (hdr_str(h, "kid", &out->kid, &has_kid, err) < 0)
		return -1;
	const struct json_value *jwk = json_get(h, "jwk");
	if (has_kid == (jwk != NULL))
		return acme_fail(err, 400, "malformed",
				 "exactly one of jwk and kid must be present");
	if (has_kid && (out->kid.len == 0 || out->kid.len > PKI_ACME_URL_MAX))
		return acme_fail(err, 400, "malformed", "bad kid");
	if (jwk) {
		if (jwk->type != JSON_OBJECT)
			return acme_fail(err, 400, "malformed", "jwk is not an object");
		struct bw_err kerr;
		out->jwk = jose_jwk_from_json(jwk, &kerr);
		if (!out->jwk)
			return acme_fail(err, 400, "badPublicKey", "unusable jwk: %s",
					 kerr.msg);
		if (jose_jwk_is_private(out->jwk) ||
		    jose_jwk_kty(out->jwk) == JOSE_KTY_OCT)
			return acme_fail(err, 400, "badPublicKey",
					 "the jwk must be a public key");
		out->jwk_json = jwk;
	}
	return 0;
}

int acme_jws_parse(struct bw_arena *a, const char *body, size_t len,
		   struct acme_jws *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (len > PKI_ACME_BODY_MAX)
		return acme_fail(err, 413, "malformed", "request body too large");
	struct bw_err jerr;
	const struct json_value *v = json_parse(a, body, len, &acme_json_limits, &jerr);
	if (!v)
		return acme_fail(err, 400, "malformed", "the body is not JSON: %s",
				 jerr.msg);
	return acme_jws_from_json(a, v, out, err);
}

void acme_jws_fini(struct acme_jws *j)
{
	if (!j)
		return;
	jose_jwk_free(j->jwk);
	j->jwk = NULL;
}

/* Raw JWS signature (R||S for ECDSA) of msg under key for alg. */
static bool sig_ok(EVP_PKEY *pk, enum jose_alg alg, const uint8_t *msg,
		   size_t len, const uint8_t *sig, size_t siglen)
{
	bool ok = false;
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	uint8_t *der = NULL;
	const uint8_t *vsig = sig;
	size_t vlen = siglen;
	const EVP_MD *md = NULL;
	switch (alg) {
	case JOSE_ALG_ES256:
	case JOSE_ALG_ES384: {
		size_t fs = alg == JOSE_ALG_ES256 ? 32 : 48;
		md = alg == JOSE_ALG_ES256 ? EVP_sha256() : EVP_sha384();
		if (siglen != 2 * fs)
			goto out;
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, (int)fs, NULL);
		s = BN_bin2bn(sig + fs, (int)fs, NULL);
		if (!es || !r || !s || BN_is_zero(r) || BN_is_zero(s) ||
		    ECDSA_SIG_set0(es, r, s) != 1)
			goto out;
		r = s = NULL; /* es owns them */
		int dl = i2d_ECDSA_SIG(es, &der);
		if (dl <= 0)
			goto out;
		vsig = der;
		vlen = (size_t)dl;
		break;
	}
	case JOSE_ALG_EDDSA:
		if (siglen != 64)
			goto out;
		break;
	case JOSE_ALG_RS256:
		md = EVP_sha256();
		if (siglen != (size_t)EVP_PKEY_get_size(pk))
			goto out; /* exactly the modulus length */
		break;
	default:
		goto out;
	}
	mctx = EVP_MD_CTX_new();
	if (!mctx || EVP_DigestVerifyInit(mctx, NULL, md, NULL, pk) != 1)
		goto out;
	ok = EVP_DigestVerify(mctx, vsig, vlen, msg, len) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	return ok;
}

int acme_jws_verify(const struct acme_jws *j, const struct jose_jwk *key,
		    struct bw_err *err)
{
	if (!key || !jose_jwk_usable(key, j->alg, JOSE_OP_VERIFY))
		return acme_fail(err, 400, "badSignatureAlgorithm",
				 "algorithm %s does not fit the account key",
				 jose_alg_name(j->alg) ? jose_alg_name(j->alg) : "?");
	if (!sig_ok(jose_jwk_pkey(key), j->alg, (const uint8_t *)j->signing_input,
		    j->signing_input_len, j->sig, j->sig_len))
		return acme_fail(err, 400, "malformed", "JWS signature is invalid");
	return 0;
}

int acme_jwk_thumbprint(const struct jose_jwk *k, char out[PKI_ACME_THUMB_LEN + 1],
			struct bw_err *err)
{
	char tp[44];
	struct bw_err e;
	if (jose_jwk_thumbprint(k, tp, &e) < 0)
		return acme_fail(err, 500, "serverInternal", "thumbprint: %s", e.msg);
	memcpy(out, tp, PKI_ACME_THUMB_LEN);
	out[PKI_ACME_THUMB_LEN] = '\0';
	return 0;
}

int acme_eab_parse(struct bw_arena *a, const struct json_value *eab,
		   struct acme_eab *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!eab || eab->type != JSON_OBJECT || eab->u.obj.n != 3)
		return acme_fail(err, 400, "malformed",
				 "externalAccountBinding must be a flattened JWS");
	const char *names[3] = { "protected", "payload", "signature" };
	struct bw_str parts[3];
	for (int i = 0; i < 3; i++) {
		const struct json_value *v = json_get(eab, names[i]);
		if (!v || v->type != JSON_STRING || v->u.str.len == 0)
			return acme_fail(err, 400, "malformed",
					 "externalAccountBinding.%s missing", names[i]);
		parts[i] = v->u.str;
	}
	/* The compact form jose_jws_verify reads. */
	size_t n = parts[0].len + parts[1].len + parts[2].len + 2;
	if (n > PKI_ACME_BODY_MAX)
		return acme_fail(err, 400, "malformed", "externalAccountBinding too long");
	char *tok = bw_arena_alloc(a, n + 1);
	if (!tok)
		return acme_fail(err, 500, "serverInternal", "out of memory");
	size_t o = 0;
	for (int i = 0; i < 3; i++) {
		memcpy(tok + o, parts[i].p, parts[i].len);
		o += parts[i].len;
		if (i < 2)
			tok[o++] = '.';
	}
	tok[o] = '\0';
	out->compact = tok;
	out->compact_len = o;
	/* Read the kid now (verification needs the key it names). */
	size_t cap = crypto_b64url_decoded_max(parts[0].len);
	if (cap > PKI_ACME_HEADER_MAX)
		return acme_fail(err, 400, "malformed", "EAB header too long");
	uint8_t *hdr = bw_arena_alloc(a, cap + 1);
	size_t hlen;
	struct bw_err e;
	if (!hdr || crypto_b64url_decode(parts[0].p, parts[0].len, hdr, cap, &hlen, &e) < 0)
		return acme_fail(err, 400, "malformed", "EAB header is not base64url");
	struct json_limits hl = acme_json_limits;
	hl.max_bytes = PKI_ACME_HEADER_MAX;
	const struct json_value *h = json_parse(a, (const char *)hdr, hlen, &hl, &e);
	if (!h || h->type != JSON_OBJECT)
		return acme_fail(err, 400, "malformed", "EAB header is not a JSON object");
	const char *alg = json_get_str(h, "alg", "");
	if (strcmp(alg, "HS256") != 0)
		return acme_fail(err, 400, "badSignatureAlgorithm",
				 "the EAB must be HS256");
	const struct json_value *kid = json_get(h, "kid");
	const struct json_value *url = json_get(h, "url");
	if (!kid || kid->type != JSON_STRING || kid->u.str.len != PKI_ACME_EAB_KID_LEN ||
	    !url || url->type != JSON_STRING)
		return acme_fail(err, 400, "malformed", "EAB header needs kid and url");
	if (json_get(h, "nonce"))
		return acme_fail(err, 400, "malformed", "the EAB must not carry a nonce");
	memcpy(out->kid, kid->u.str.p, PKI_ACME_EAB_KID_LEN);
	out->kid[PKI_ACME_EAB_KID_LEN] = '\0';
	if (!acme_id_ok(out->kid, PKI_ACME_EAB_KID_LEN))
		return acme_fail(err, 400, "malformed", "bad EAB kid");
	out->url = url->u.str;
	return 0;
}

int acme_eab_verify(struct bw_arena *a, const struct acme_eab *eab,
		    const uint8_t *key, size_t keylen,
		    const struct jose_jwk *account_key, struct bw_str url,
		    struct bw_err *err)
{
	struct bw_err e;
	if (!bw_str_eq(eab->url, url))
		return acme_fail(err, 400, "malformed",
				 "the EAB url differs from the request's");
	struct jose_jwks set;
	jose_jwks_init(&set);
	struct jose_jwk *k = jose_jwk_from_oct(key, keylen, eab->kid, JOSE_ALG_HS256, &e);
	if (!k || jose_jwks_add(&set, k, &e) < 0) {
		jose_jwks_fini(&set);
		return acme_fail(err, 500, "serverInternal", "EAB key: %s", e.msg);
	}
	struct jose_verifier v = { .keys = &set, .algs = JOSE_ALG_BIT(JOSE_ALG_HS256),
				   .max_token = JOSE_TOKEN_MAX_HARD };
	struct jose_jws out;
	int rc = jose_jws_verify(&v, eab->compact, eab->compact_len, a, &out, &e);
	jose_jwks_fini(&set);
	if (rc < 0)
		return acme_fail(err, 403, "unauthorized",
				 "external account binding does not verify (%s)",
				 e.reason);
	/* The payload is the account key itself. */
	struct jose_jwk *pk = jose_jwk_parse((const char *)out.payload,
					     out.payload_len, &e);
	if (!pk)
		return acme_fail(err, 400, "malformed", "EAB payload is not a JWK");
	char t1[PKI_ACME_THUMB_LEN + 1], t2[PKI_ACME_THUMB_LEN + 1];
	rc = acme_jwk_thumbprint(pk, t1, err);
	jose_jwk_free(pk);
	if (rc < 0 || acme_jwk_thumbprint(account_key, t2, err) < 0)
		return -1;
	if (strcmp(t1, t2) != 0)
		return acme_fail(err, 403, "unauthorized",
				 "the EAB binds another key than the account's");
	return 0;
}

bool acme_id_ok(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}
