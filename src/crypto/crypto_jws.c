/*
 * JWS compact serialisation (RFC 7515) with the algorithms of RFC 7518
 * and RFC 8037, and JWT claim validation (RFC 7519, RFC 8725).
 *
 * Invariants: verification decides the algorithm from the verifier's
 * allow-list and the key's type, never from the token alone (see the
 * module header); nothing from the payload is parsed before the signature
 * checks; ECDSA signatures are the fixed-size R||S form of RFC 7518
 * section 3.4 (a DER signature, or one of the wrong length, is refused,
 * which also closes the "psychic signature" class of bugs: r = s = 0 is
 * rejected by OpenSSL's range checks on the converted value).
 */
#include "crypto/crypto_int.h"

#include <math.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <string.h>
#include <strings.h>

static const EVP_MD *alg_md(enum jose_alg a)
{
	switch (a) {
	case JOSE_ALG_HS256:
	case JOSE_ALG_RS256:
	case JOSE_ALG_PS256:
	case JOSE_ALG_ES256:
		return EVP_sha256();
	case JOSE_ALG_ES384:
		return EVP_sha384();
	case JOSE_ALG_EDDSA:
	case JOSE_ALG_INVALID:
		break;
	}
	return NULL;
}

/* Sets up md_ctx for signing or verifying with k under alg (RSA padding
 * for PS256). */
static int pkey_init(EVP_MD_CTX *mctx, const struct jose_jwk *k,
		     enum jose_alg alg, bool sign)
{
	EVP_PKEY_CTX *pctx = NULL;
	int ok =
	    sign
		? EVP_DigestSignInit(mctx, &pctx, alg_md(alg), NULL, k->pkey)
		: EVP_DigestVerifyInit(mctx, &pctx, alg_md(alg), NULL, k->pkey);
	if (ok != 1)
		return -1;
	if (alg == JOSE_ALG_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
		 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))
		return -1;
	if (alg == JOSE_ALG_RS256 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		return -1;
	return 0;
}

static int local_sign(void *ctx, enum jose_alg alg, const uint8_t *msg,
		      size_t len, uint8_t *sig, size_t sigcap, size_t *siglen,
		      struct bw_err *err)
{
	const struct jose_jwk *k = ctx;
	uint8_t der[JOSE_SIG_MAX + 16];
	size_t derlen = sizeof(der);
	int rc = -1;
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *es = NULL;
	if (!jose_jwk_usable(k, alg, JOSE_OP_SIGN))
		return bw_err_set(err, 400, "crypto", "key_unusable",
				  "key cannot sign with %s",
				  jose_alg_name(alg) ? jose_alg_name(alg)
						     : "?");
	if (alg == JOSE_ALG_HS256) {
		if (sigcap < CRYPTO_SHA256_LEN)
			return bw_err_set(err, 500, "crypto", "small_buffer",
					  "signature buffer");
		*siglen = CRYPTO_SHA256_LEN;
		return crypto_hmac(CRYPTO_SHA256, k->oct, k->oct_len, msg, len,
				   sig, err);
	}
	mctx = EVP_MD_CTX_new();
	if (!mctx || pkey_init(mctx, k, alg, true) < 0 ||
	    EVP_DigestSign(mctx, NULL, &derlen, msg, len) != 1 ||
	    derlen > sizeof(der) ||
	    EVP_DigestSign(mctx, der, &derlen, msg, len) != 1) {
		bw_err_openssl(err, "crypto", "sign");
		goto out;
	}
	if (alg == JOSE_ALG_ES256 || alg == JOSE_ALG_ES384) {
		size_t fs = jose_crv_size(k->crv);
		const uint8_t *p = der;
		const BIGNUM *r, *s;
		es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
		if (!es || sigcap < 2 * fs) {
			bw_err_openssl(err, "crypto", "ECDSA signature");
			goto out;
		}
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, sig, (int)fs) < 0 ||
		    BN_bn2binpad(s, sig + fs, (int)fs) < 0) {
			bw_err_openssl(err, "crypto", "ECDSA signature");
			goto out;
		}
		*siglen = 2 * fs;
	} else {
		if (derlen > sigcap) {
			bw_err_set(err, 500, "crypto", "small_buffer",
				   "signature buffer");
			goto out;
		}
		memcpy(sig, der, derlen);
		*siglen = derlen;
	}
	rc = 0;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	return rc;
}

int jose_signer_local(struct jose_signer *s, const struct jose_jwk *k,
		      enum jose_alg alg, struct bw_err *err)
{
	if (alg == JOSE_ALG_INVALID)
		alg = k->alg;
	if (!jose_jwk_usable(k, alg, JOSE_OP_SIGN))
		return bw_err_set(err, 400, "crypto", "key_unusable",
				  "key cannot sign with this algorithm");
	*s = (struct jose_signer){.sign = local_sign,
				  .ctx = (void *)k,
				  .alg = alg,
				  .kid = k->kid,
				  .public_jwk =
				      k->kty == JOSE_KTY_OCT ? NULL : k};
	return 0;
}

int jose_jws_sign(const struct jose_signer *s, const char *typ,
		  const void *payload, size_t n, struct bw_buf *out,
		  struct bw_err *err)
{
	struct bw_buf hdr;
	struct json_writer w;
	uint8_t sig[JOSE_SIG_MAX];
	size_t siglen = 0;
	int rc = -1;
	const char *algname = jose_alg_name(s->alg);
	if (!algname)
		return bw_err_set(err, 400, "crypto", "alg_unknown",
				  "signer has no algorithm");
	bw_buf_init(&hdr, JOSE_HEADER_MAX);
	json_writer_init(&w, &hdr);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "alg", algname);
	if (s->kid && s->kid[0])
		json_write_kv_string(&w, "kid", s->kid);
	if (typ)
		json_write_kv_string(&w, "typ", typ);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		bw_err_set(err, 413, "crypto", "too_large",
			   "JWS header too large");
		goto out;
	}
	size_t start = out->len;
	if (crypto_b64url_encode(hdr.data, hdr.len, out) < 0 ||
	    bw_buf_append_byte(out, '.') < 0 ||
	    crypto_b64url_encode(payload, n, out) < 0) {
		bw_err_set(err, 413, "crypto", "too_large",
			   "JWS too large for its buffer");
		goto out;
	}
	if (s->sign(s->ctx, s->alg, (const uint8_t *)out->data + start,
		    out->len - start, sig, sizeof(sig), &siglen, err) < 0)
		goto out;
	if (bw_buf_append_byte(out, '.') < 0 ||
	    crypto_b64url_encode(sig, siglen, out) < 0) {
		bw_err_set(err, 413, "crypto", "too_large",
			   "JWS too large for its buffer");
		goto out;
	}
	rc = 0;
out:
	bw_buf_fini(&hdr);
	return rc;
}

/* ---------------------------------------------------------------- verify */

/* True when sig is a valid signature of msg under k for alg. */
static bool verify_sig(const struct jose_jwk *k, enum jose_alg alg,
		       const uint8_t *msg, size_t len, const uint8_t *sig,
		       size_t siglen)
{
	bool ok = false;
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	uint8_t *der = NULL;
	if (alg == JOSE_ALG_HS256) {
		uint8_t mac[CRYPTO_SHA256_LEN];
		if (crypto_hmac(CRYPTO_SHA256, k->oct, k->oct_len, msg, len,
				mac, NULL) < 0)
			return false;
		ok = bw_ct_equal(mac, sizeof(mac), sig, siglen);
		bw_wipe(mac, sizeof(mac));
		return ok;
	}
	const uint8_t *vsig = sig;
	size_t vlen = siglen;
	if (alg == JOSE_ALG_ES256 || alg == JOSE_ALG_ES384) {
		size_t fs = jose_crv_size(k->crv);
		if (siglen != 2 * fs)
			goto out;
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, (int)fs, NULL);
		s = BN_bin2bn(sig + fs, (int)fs, NULL);
		if (!es || !r || !s || BN_is_zero(r) || BN_is_zero(s) ||
		    ECDSA_SIG_set0(es, r, s) != 1)
			goto out;
		r = s = NULL; /* owned by es now */
		int dl = i2d_ECDSA_SIG(es, &der);
		if (dl <= 0)
			goto out;
		vsig = der;
		vlen = (size_t)dl;
	} else if (alg == JOSE_ALG_EDDSA) {
		if (siglen != 64)
			goto out;
	} else if (siglen != (size_t)EVP_PKEY_get_size(k->pkey)) {
		goto out; /* RSA: exactly the modulus length */
	}
	mctx = EVP_MD_CTX_new();
	if (!mctx || pkey_init(mctx, k, alg, false) < 0)
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

static int fail(struct bw_err *err, const char *reason, const char *msg)
{
	return bw_err_set(err, 400, "crypto", reason, "%s", msg);
}

static bool ascii_caseeq(struct bw_str a, const char *b)
{
	return bw_str_caseeq_lit(a, b);
}

int jose_jws_verify(const struct jose_verifier *v, const char *tok, size_t len,
		    struct bw_arena *a, struct jose_jws *out,
		    struct bw_err *err)
{
	size_t max = v->max_token ? v->max_token : JOSE_TOKEN_MAX_DEFAULT;
	if (max > JOSE_TOKEN_MAX_HARD)
		max = JOSE_TOKEN_MAX_HARD;
	memset(out, 0, sizeof(*out));
	if (len > max)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "token of %zu bytes over the %zu limit", len,
				  max);
	const char *d1 = memchr(tok, '.', len);
	const char *d2 =
	    d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) ||
	    d1 == tok)
		return fail(err, "malformed",
			    "not a compact JWS (three parts)");
	size_t hlen = (size_t)(d1 - tok);
	size_t plen = (size_t)(d2 - d1 - 1);
	size_t slen = len - (size_t)(d2 + 1 - tok);

	/* Header: decode and parse with tight limits. */
	uint8_t hbuf[JOSE_HEADER_MAX];
	size_t hdec = 0;
	if (hlen > crypto_b64url_len(JOSE_HEADER_MAX))
		return bw_err_set(err, 413, "crypto", "too_large",
				  "JWS header too large");
	if (crypto_b64url_decode(tok, hlen, hbuf, sizeof(hbuf), &hdec, err) < 0)
		return -1;
	struct json_limits lim = {.max_bytes = JOSE_HEADER_MAX,
				  .max_depth = JOSE_JSON_DEPTH_MAX,
				  .max_members = JOSE_JSON_MEMBERS_MAX};
	struct bw_err jerr;
	const struct json_value *h =
	    json_parse(a, (const char *)hbuf, hdec, &lim, &jerr);
	if (!h || h->type != JSON_OBJECT)
		return fail(err, "bad_header",
			    "JWS header is not a JSON object "
			    "(or has duplicate members)");
	const struct json_value *algv = json_get(h, "alg");
	if (!algv || algv->type != JSON_STRING)
		return fail(err, "bad_header",
			    "JWS header lacks a string \"alg\"");
	if (ascii_caseeq(algv->u.str, "none"))
		return fail(err, "alg_none", "alg \"none\" is never accepted");
	enum jose_alg alg = jose_alg_from_name(algv->u.str.p, algv->u.str.len);
	if (alg == JOSE_ALG_INVALID)
		return fail(err, "alg_unknown", "unsupported JWS alg");
	if (!(v->algs & JOSE_ALG_BIT(alg)))
		return fail(err, "alg_not_allowed",
			    "alg not on this verifier's allow-list");
	/* RFC 7515 section 4.1.11: we implement no extension, so any crit
	 * (even an empty list, which the RFC forbids) is refused. */
	if (json_get(h, "crit"))
		return fail(err, "crit",
			    "critical header extensions are not supported");
	if (json_get(h, "jwk") || json_get(h, "jku") || json_get(h, "x5u"))
		return fail(
		    err, "embedded_key",
		    "keys named or embedded in the token are not trusted");
	const struct json_value *kidv = json_get(h, "kid");
	if (kidv &&
	    (kidv->type != JSON_STRING || kidv->u.str.len > JOSE_KID_MAX))
		return fail(err, "bad_header", "kid must be a short string");
	const struct json_value *typv = json_get(h, "typ");
	if (typv && typv->type != JSON_STRING)
		return fail(err, "bad_header", "typ must be a string");

	/* Signature bytes. */
	uint8_t sig[JOSE_SIG_MAX];
	size_t siglen = 0;
	if (slen == 0)
		return fail(err, "bad_signature", "empty signature");
	if (crypto_b64url_decode(d2 + 1, slen, sig, sizeof(sig), &siglen, err) <
	    0) {
		if (err)
			err->code = 400;
		return -1;
	}

	/* Key selection: by kid if present, else every usable key. */
	const uint8_t *msg = (const uint8_t *)tok;
	size_t msglen = (size_t)(d2 - tok);
	const struct jose_jwk *key = NULL;
	if (!v->keys)
		return fail(err, "no_key", "verifier has no keys");
	if (kidv) {
		const struct jose_jwk *k =
		    jose_jwks_find(v->keys, kidv->u.str.p, kidv->u.str.len);
		if (!k)
			return fail(err, "unknown_kid", "no key with this kid");
		if (!jose_jwk_usable(k, alg, JOSE_OP_VERIFY))
			return fail(
			    err, "key_alg_mismatch",
			    "the key with this kid cannot verify this alg");
		if (verify_sig(k, alg, msg, msglen, sig, siglen))
			key = k;
	} else {
		size_t usable = 0;
		for (size_t i = 0; i < v->keys->n && !key; i++) {
			const struct jose_jwk *k = v->keys->keys[i];
			if (!jose_jwk_usable(k, alg, JOSE_OP_VERIFY))
				continue;
			usable++;
			if (verify_sig(k, alg, msg, msglen, sig, siglen))
				key = k;
		}
		if (!usable)
			return fail(err, "no_key",
				    "no key can verify this alg");
	}
	if (!key)
		return fail(err, "bad_signature", "signature does not verify");

	/* Only now the payload. */
	size_t pmax = crypto_b64url_decoded_max(plen);
	uint8_t *pl = bw_arena_alloc(a, pmax + 1);
	size_t pdec = 0;
	if (!pl)
		return bw_err_set(err, 500, "crypto", "memory",
				  "arena exhausted");
	if (crypto_b64url_decode(d1 + 1, plen, pl, pmax, &pdec, err) < 0)
		return -1;
	pl[pdec] = 0;
	out->alg = alg;
	out->key = key;
	out->header = h;
	if (kidv)
		out->kid = kidv->u.str;
	if (typv)
		out->typ = typv->u.str;
	out->payload = pl;
	out->payload_len = pdec;
	return 0;
}

/* ------------------------------------------------------------------ JWT */

/* A NumericDate claim: 1 and *out when present and valid, 0 absent, -1
 * when present but not a number in range. */
static int numeric_date(const struct json_value *claims, const char *name,
			int64_t *out)
{
	const struct json_value *n = json_get(claims, name);
	*out = 0;
	if (!n)
		return 0;
	if (n->type != JSON_NUMBER)
		return -1;
	if (n->u.num.is_int) {
		*out = n->u.num.i;
	} else {
		double d = n->u.num.d;
		/* Fractional seconds are allowed (RFC 7519 section 2); past
		 * 2^53 a double no longer holds whole seconds. */
		if (!isfinite(d) || d < -9007199254740992.0 ||
		    d > 9007199254740992.0)
			return -1;
		*out = (int64_t)floor(d);
	}
	if (*out < 0)
		return -1;
	return 1;
}

/* typ comparison per RFC 7515 section 4.1.9: case-insensitive, with the
 * "application/" prefix optional on either side. */
static bool typ_matches(struct bw_str got, const char *want)
{
	static const char prefix[] = "application/";
	size_t pl = sizeof(prefix) - 1;
	if (got.len > pl && bw_str_caseeq_lit(bw_str_make(got.p, pl), prefix)) {
		got.p += pl;
		got.len -= pl;
	}
	if (strncasecmp(want, prefix, pl) == 0)
		want += pl;
	return bw_str_caseeq_lit(got, want);
}

int jose_jwt_verify(const struct jose_verifier *v,
		    const struct jose_jwt_rules *rules, const char *tok,
		    size_t len, struct bw_arena *a, struct jose_jwt *out,
		    struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (jose_jws_verify(v, tok, len, a, &out->jws, err) < 0)
		return -1;
	if (rules->typ && !typ_matches(out->jws.typ, rules->typ))
		return fail(err, "bad_typ", "unexpected token type");
	struct json_limits lim = {.max_bytes = JOSE_TOKEN_MAX_HARD,
				  .max_depth = JOSE_JSON_DEPTH_MAX,
				  .max_members = JOSE_JSON_MEMBERS_MAX};
	struct bw_err jerr;
	const struct json_value *c =
	    json_parse(a, (const char *)out->jws.payload, out->jws.payload_len,
		       &lim, &jerr);
	if (!c || c->type != JSON_OBJECT)
		return fail(err, "bad_claims",
			    "JWT claims are not a JSON object");
	out->claims = c;
	int has_exp = numeric_date(c, "exp", &out->exp);
	int has_nbf = numeric_date(c, "nbf", &out->nbf);
	int has_iat = numeric_date(c, "iat", &out->iat);
	if (has_exp < 0 || has_nbf < 0 || has_iat < 0)
		return fail(err, "bad_claims",
			    "exp/nbf/iat must be NumericDates");
	const struct json_value *iss = json_get(c, "iss");
	const struct json_value *sub = json_get(c, "sub");
	if ((iss && iss->type != JSON_STRING) ||
	    (sub && sub->type != JSON_STRING))
		return fail(err, "bad_claims", "iss and sub must be strings");
	if (iss)
		out->iss = iss->u.str;
	if (sub)
		out->sub = sub->u.str;

	int64_t leeway =
	    rules->leeway_s < 0 ? JOSE_LEEWAY_DEFAULT_S : rules->leeway_s;
	if (leeway > JOSE_LEEWAY_MAX_S)
		leeway = JOSE_LEEWAY_MAX_S;
	int64_t now = bw_clock_now_s();
	if (!has_exp && rules->require_exp)
		return fail(err, "missing_exp", "token has no exp");
	/* now - leeway >= exp, written so no addition can overflow. */
	if (has_exp && now - leeway >= out->exp)
		return fail(err, "expired", "token expired");
	if (has_nbf && out->nbf > now + leeway)
		return fail(err, "not_yet_valid", "token not yet valid");
	if (has_iat && out->iat > now + leeway)
		return fail(err, "iat_future", "token issued in the future");
	if (rules->max_lifetime_s > 0 && has_exp) {
		int64_t from = has_iat ? out->iat : now;
		if (out->exp > from && out->exp - from > rules->max_lifetime_s)
			return fail(err, "lifetime", "token lifetime too long");
	}
	if (rules->issuer &&
	    (!iss || !bw_str_eq_lit(iss->u.str, rules->issuer)))
		return fail(err, "bad_iss", "wrong issuer");
	const struct json_value *aud = json_get(c, "aud");
	if (aud) {
		/* RFC 7519 section 4.1.3: a recipient that does not find
		 * itself in a present aud MUST reject. */
		bool found = false;
		if (aud->type == JSON_STRING) {
			found = rules->audience &&
				bw_str_eq_lit(aud->u.str, rules->audience);
		} else if (aud->type == JSON_ARRAY) {
			for (size_t i = 0; i < aud->u.arr.n; i++) {
				const struct json_value *e =
				    aud->u.arr.items[i];
				if (e->type != JSON_STRING)
					return fail(
					    err, "bad_claims",
					    "aud entries must be strings");
				if (rules->audience &&
				    bw_str_eq_lit(e->u.str, rules->audience))
					found = true;
			}
		} else {
			return fail(err, "bad_claims",
				    "aud must be a string or array");
		}
		if (!found)
			return fail(err, "bad_aud", "wrong audience");
	} else if (rules->audience) {
		return fail(err, "bad_aud", "token has no audience");
	}
	return 0;
}
