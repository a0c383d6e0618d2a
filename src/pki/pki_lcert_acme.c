/*
 * pki_lcert_acme.c — bulwark as an ACME client (RFC 8555) for the
 * certificates of its own listeners: any ACME CA (a public one in
 * production, bulwark's own ACME server in tests).
 *
 * One run is sequential and blocking on the manager's thread: directory,
 * a nonce, the account (created once, then found again by its key: the
 * account key lives in the keystore and signs every request as ES256 or
 * RS256 there), a new order, http-01 for every authorization (the manager
 * publishes the key authorization and bulwark's own pki listener answers
 * /.well-known/acme-challenge/{token}), finalize with a CSR for the
 * certificate's key, polling, and the download of the PEM chain.
 *
 * Invariants: every request carries the newest Replay-Nonce seen; a
 * badNonce answer is retried once with the fresh nonce it carried; every
 * JSON answer is parsed with bounded limits into an arena that dies with
 * the request; the run stops at PKI_LCERT_ACME_DEADLINE_S or when the
 * manager stops; published tokens are withdrawn on every way out.
 */
#include "pki/pki_lcert_int.h"
#include "crypto/crypto.h"
#include "json/json.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <string.h>
#include <time.h>

struct run {
	struct pki_lcert_acme_req *q;
	char nonce[128];
	char jwk[1024];
	char thumb[64];
	const char *alg;
	char new_nonce[512], new_account[512], new_order[512];
	int64_t deadline_ms;
	struct bw_arena *arena; /* JSON answers of the current step */
	char tokens[PKI_LCERT_NAMES_MAX][PKI_LCERT_TOKEN_MAX + 1];
	size_t ntokens;
};

/* ----------------------------------------------------------- keys, JWS */

static int b64url_buf(struct bw_buf *out, const void *p, size_t n)
{
	return crypto_b64url_encode(p, n, out);
}

int pki_lcert_jwk(EVP_PKEY *pub, struct bw_buf *jwk, char thumb[64])
{
	/* Members in lexicographic order, no whitespace: the same text is the
	 * RFC 7638 thumbprint input and the jwk header value. */
	int rc = -1;
	if (EVP_PKEY_is_a(pub, "EC")) {
		uint8_t pt[133];
		size_t n = 0;
		if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, pt,
						     sizeof(pt), &n) ||
		    n != 65 || pt[0] != 0x04)
			return -1; /* P-256 only (ES256) */
		rc = bw_buf_append_str(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"") |
		     b64url_buf(jwk, pt + 1, 32) | bw_buf_append_str(jwk, "\",\"y\":\"") |
		     b64url_buf(jwk, pt + 33, 32) | bw_buf_append_str(jwk, "\"}");
	} else if (EVP_PKEY_is_a(pub, "RSA")) {
		BIGNUM *nb = NULL, *eb = NULL;
		uint8_t nbuf[1024], ebuf[16];
		if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &nb) ||
		    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &eb) ||
		    BN_num_bytes(nb) > (int)sizeof(nbuf) || BN_num_bytes(eb) > (int)sizeof(ebuf)) {
			BN_free(nb);
			BN_free(eb);
			return -1;
		}
		int nl = BN_bn2bin(nb, nbuf), el = BN_bn2bin(eb, ebuf);
		BN_free(nb);
		BN_free(eb);
		rc = bw_buf_append_str(jwk, "{\"e\":\"") | b64url_buf(jwk, ebuf, (size_t)el) |
		     bw_buf_append_str(jwk, "\",\"kty\":\"RSA\",\"n\":\"") |
		     b64url_buf(jwk, nbuf, (size_t)nl) | bw_buf_append_str(jwk, "\"}");
	}
	if (rc != 0)
		return -1;
	uint8_t h[CRYPTO_SHA256_LEN];
	crypto_sha256(jwk->data, jwk->len, h);
	crypto_b64url_encode_to(h, sizeof(h), thumb);
	return 0;
}

/* DER Ecdsa-Sig-Value -> R || S of 32 octets each (JWS ES256). */
static int ecdsa_der_to_raw(const uint8_t *der, size_t len, uint8_t out[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!s)
		return -1;
	const BIGNUM *r, *sv;
	ECDSA_SIG_get0(s, &r, &sv);
	int ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(sv, out + 32, 32) == 32;
	ECDSA_SIG_free(s);
	return ok ? 0 : -1;
}

/* The flattened JWS of payload (JSON text, "" for POST-as-GET) for url,
 * with the account's kid or, when with_jwk, its public key. */
static int jws_build(struct run *r, const char *url, const char *payload,
		     bool with_jwk, struct bw_buf *out, struct bw_err *err)
{
	struct bw_buf prot, input;
	bw_buf_init(&prot, 4096);
	bw_buf_init(&input, PKI_LCERT_HTTP_BODY_MAX);
	uint8_t sig[PKI_SIG_MAX], raw[64];
	size_t siglen = 0;
	int rc = -1;
	int w = bw_buf_printf(&prot, "{\"alg\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\",",
			      r->alg, r->nonce, url);
	if (with_jwk)
		w |= bw_buf_printf(&prot, "\"jwk\":%s}", r->jwk);
	else
		w |= bw_buf_printf(&prot, "\"kid\":\"%s\"}", r->q->kid);
	if (w != 0 || b64url_buf(&input, prot.data, prot.len) < 0 ||
	    bw_buf_append_byte(&input, '.') < 0 ||
	    b64url_buf(&input, payload, strlen(payload)) < 0) {
		bw_err_set(err, 500, PKI_MOD, "acme_client", "request too large");
		goto out;
	}
	const struct pki_signer *s = r->q->account;
	if (s->sign(s->ctx, PKI_MD_SHA256, (const uint8_t *)input.data, input.len, sig,
		    sizeof(sig), &siglen, err) < 0)
		goto out;
	const uint8_t *sp = sig;
	if (s->type == PKI_KEY_EC_P256) {
		if (ecdsa_der_to_raw(sig, siglen, raw) < 0) {
			bw_err_set(err, 500, PKI_MOD, "acme_client", "bad ECDSA signature");
			goto out;
		}
		sp = raw;
		siglen = 64;
	}
	const char *dot = memchr(input.data, '.', input.len);
	size_t plen = (size_t)(dot - input.data);
	w = bw_buf_append_str(out, "{\"protected\":\"") |
	    bw_buf_append(out, input.data, plen) |
	    bw_buf_append_str(out, "\",\"payload\":\"") |
	    bw_buf_append(out, dot + 1, input.len - plen - 1) |
	    bw_buf_append_str(out, "\",\"signature\":\"") | b64url_buf(out, sp, siglen) |
	    bw_buf_append_str(out, "\"}");
	if (w != 0) {
		bw_err_set(err, 500, PKI_MOD, "acme_client", "request too large");
		goto out;
	}
	rc = 0;
out:
	bw_buf_fini(&prot);
	bw_buf_fini(&input);
	return rc;
}

/* ----------------------------------------------------------- requests */

static bool past_deadline(struct run *r)
{
	return bw_clock_mono_ms() > r->deadline_ms || pki_lcert_stopping(r->q->m);
}

static const struct json_limits acme_json_limits = {
	.max_bytes = PKI_LCERT_HTTP_BODY_MAX, .max_depth = 16,
	.max_string = 64 * 1024, .max_members = 1024,
};

/* The problem document of a failed answer into err. */
static int problem(struct run *r, const struct pki_http_resp *h, const char *what,
		   struct bw_err *err)
{
	struct bw_err e;
	const struct json_value *v = json_parse(r->arena, h->body.data ? h->body.data : "",
						h->body.len, &acme_json_limits, &e);
	const char *type = v ? json_get_str(v, "type", "") : "";
	const char *detail = v ? json_get_str(v, "detail", "") : "";
	return bw_err_set(err, h->status >= 500 ? 502 : 400, PKI_MOD, "acme_client",
			  "%s: HTTP %ld %s %s", what, h->status, type, detail);
}

static bool is_bad_nonce(struct run *r, const struct pki_http_resp *h)
{
	if (h->status != 400)
		return false;
	struct bw_err e;
	const struct json_value *v = json_parse(r->arena, h->body.data ? h->body.data : "",
						h->body.len, &acme_json_limits, &e);
	return v && strcmp(json_get_str(v, "type", ""),
			   "urn:ietf:params:acme:error:badNonce") == 0;
}

static int get_nonce(struct run *r, struct bw_err *err)
{
	struct pki_http_resp h;
	if (pki_http_do("HEAD", r->new_nonce, r->q->ca_file, NULL, NULL, 0, NULL, r->q->m, &h, err) < 0)
		return -1;
	int rc = 0;
	if (!h.nonce[0])
		rc = bw_err_set(err, 502, PKI_MOD, "acme_client", "newNonce gave no nonce");
	else
		bw_snprintf(r->nonce, sizeof(r->nonce), "%s", h.nonce);
	pki_http_resp_fini(&h);
	return rc;
}

/*
 * A signed POST. OUT: *h (the caller releases it) and, when the answer is
 * JSON, *json (arena). Non-2xx answers become err. badNonce is retried
 * once.
 */
static int post(struct run *r, const char *url, const char *payload, bool with_jwk,
		struct pki_http_resp *h, const struct json_value **json,
		struct bw_err *err)
{
	if (json)
		*json = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!r->nonce[0] && get_nonce(r, err) < 0)
			return -1;
		struct bw_buf body;
		bw_buf_init(&body, PKI_LCERT_HTTP_BODY_MAX);
		int rc = jws_build(r, url, payload, with_jwk, &body, err);
		r->nonce[0] = '\0'; /* used */
		if (rc == 0)
			rc = pki_http_do("POST", url, r->q->ca_file, "application/jose+json",
					 body.data, body.len, NULL, r->q->m, h, err);
		bw_buf_fini(&body);
		if (rc < 0)
			return -1;
		if (h->nonce[0])
			bw_snprintf(r->nonce, sizeof(r->nonce), "%s", h->nonce);
		if (attempt == 0 && is_bad_nonce(r, h)) {
			pki_http_resp_fini(h);
			continue;
		}
		if (h->status < 200 || h->status > 299) {
			problem(r, h, url, err);
			pki_http_resp_fini(h);
			return -1;
		}
		if (json && strncmp(h->content_type, "application/json", 16) == 0) {
			*json = json_parse(r->arena, h->body.data ? h->body.data : "",
					   h->body.len, &acme_json_limits, err);
			if (!*json) {
				pki_http_resp_fini(h);
				return -1;
			}
		}
		return 0;
	}
	return -1;
}

static int copy_url(char *dst, size_t cap, const struct json_value *v, const char *key,
		    struct bw_err *err)
{
	const char *s = json_get_str(v, key, NULL);
	if (!s || strncmp(s, "http", 4) != 0 || bw_snprintf(dst, cap, "%s", s) < 0)
		return bw_err_set(err, 502, PKI_MOD, "acme_client",
				  "answer without a usable '%s'", key);
	return 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ----------------------------------------------------------- steps */

static int directory(struct run *r, struct bw_err *err)
{
	struct pki_http_resp h;
	if (pki_http_do("GET", r->q->directory, r->q->ca_file, NULL, NULL, 0, NULL, r->q->m, &h, err) < 0)
		return -1;
	int rc = -1;
	const struct json_value *v = NULL;
	if (h.status != 200)
		problem(r, &h, "directory", err);
	else if ((v = json_parse(r->arena, h.body.data ? h.body.data : "", h.body.len,
				 &acme_json_limits, err)) != NULL &&
		 copy_url(r->new_nonce, sizeof(r->new_nonce), v, "newNonce", err) == 0 &&
		 copy_url(r->new_account, sizeof(r->new_account), v, "newAccount", err) == 0 &&
		 copy_url(r->new_order, sizeof(r->new_order), v, "newOrder", err) == 0)
		rc = 0;
	pki_http_resp_fini(&h);
	return rc;
}

/* The externalAccountBinding member: HS256 over our jwk, RFC 8555 7.3.4. */
static int eab_member(struct run *r, struct bw_buf *out, struct bw_err *err)
{
	uint8_t key[256], mac[CRYPTO_SHA256_LEN];
	size_t klen = 0;
	const char *hk = r->q->eab_hmac;
	if (crypto_b64url_decode(hk, strlen(hk), key, sizeof(key), &klen, err) < 0)
		return -1;
	struct bw_buf prot, input;
	bw_buf_init(&prot, 2048);
	bw_buf_init(&input, 8192);
	int rc = -1;
	if (bw_buf_printf(&prot, "{\"alg\":\"HS256\",\"kid\":\"%s\",\"url\":\"%s\"}",
			  r->q->eab_kid, r->new_account) < 0 ||
	    b64url_buf(&input, prot.data, prot.len) < 0 || bw_buf_append_byte(&input, '.') < 0 ||
	    b64url_buf(&input, r->jwk, strlen(r->jwk)) < 0 ||
	    crypto_hmac(CRYPTO_SHA256, key, klen, input.data, input.len, mac, err) < 0)
		goto out;
	const char *dot = memchr(input.data, '.', input.len);
	size_t plen = (size_t)(dot - input.data);
	if ((bw_buf_append_str(out, ",\"externalAccountBinding\":{\"protected\":\"") |
	     bw_buf_append(out, input.data, plen) | bw_buf_append_str(out, "\",\"payload\":\"") |
	     bw_buf_append(out, dot + 1, input.len - plen - 1) |
	     bw_buf_append_str(out, "\",\"signature\":\"") | b64url_buf(out, mac, sizeof(mac)) |
	     bw_buf_append_str(out, "\"}")) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	bw_buf_fini(&prot);
	bw_buf_fini(&input);
	return rc;
}

static int account(struct run *r, struct bw_err *err)
{
	if (r->q->kid[0])
		return 0;
	struct bw_buf pl;
	bw_buf_init(&pl, 16384);
	int rc = bw_buf_append_str(&pl, "{\"termsOfServiceAgreed\":true");
	if (r->q->contact && r->q->contact[0])
		rc |= bw_buf_printf(&pl, ",\"contact\":[\"%s\"]", r->q->contact);
	if (rc == 0 && r->q->eab_kid && r->q->eab_hmac && eab_member(r, &pl, err) < 0) {
		bw_buf_fini(&pl);
		return -1;
	}
	rc |= bw_buf_append_str(&pl, "}") | bw_buf_append_byte(&pl, '\0');
	struct pki_http_resp h;
	if (rc != 0 || post(r, r->new_account, pl.data, true, &h, NULL, err) < 0) {
		bw_buf_fini(&pl);
		return rc != 0 ? bw_err_set(err, 500, PKI_MOD, "acme_client", "account request") : -1;
	}
	bw_buf_fini(&pl);
	rc = 0;
	if (!h.location[0])
		rc = bw_err_set(err, 502, PKI_MOD, "acme_client", "newAccount gave no Location");
	else
		bw_snprintf(r->q->kid, sizeof(r->q->kid), "%s", h.location);
	pki_http_resp_fini(&h);
	return rc;
}

static bool is_ip(const char *s)
{
	uint8_t b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static X509_REQ *make_csr(struct run *r, struct bw_err *err)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	bool ok = req && nm && gens && exts && X509_REQ_set_version(req, 0);
	const char *first = r->q->names[0];
	if (ok && !is_ip(first) && strlen(first) <= PKI_CN_MAX)
		ok = X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
						(const unsigned char *)first, -1, -1, 0) == 1;
	ok = ok && X509_REQ_set_subject_name(req, nm) == 1;
	for (size_t i = 0; ok && i < r->q->nnames; i++) {
		const char *n = r->q->names[i];
		GENERAL_NAME *g = NULL;
		if (is_ip(n)) {
			ASN1_OCTET_STRING *ip = a2i_IPADDRESS(n);
			if (ip && (g = GENERAL_NAME_new()) != NULL)
				GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
			else
				ASN1_OCTET_STRING_free(ip);
		} else {
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();
			if (s && ASN1_STRING_set(s, n, -1) == 1 && (g = GENERAL_NAME_new()) != NULL)
				GENERAL_NAME_set0_value(g, GEN_DNS, s);
			else
				ASN1_IA5STRING_free(s);
		}
		ok = g && sk_GENERAL_NAME_push(gens, g) > 0;
		if (!ok)
			GENERAL_NAME_free(g);
	}
	ok = ok && X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, 0) == 1 &&
	     X509_REQ_add_extensions(req, exts) == 1 &&
	     X509_REQ_set_pubkey(req, r->q->cert_key) == 1 &&
	     X509_REQ_sign(req, r->q->cert_key, EVP_PKEY_is_a(r->q->cert_key, "ED25519") ?
							 NULL : EVP_sha256()) > 0;
	X509_NAME_free(nm);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (!ok) {
		X509_REQ_free(req);
		pki_err_ssl(err, "acme_client", "CSR");
		return NULL;
	}
	return req;
}

/* Starts http-01 on one authorization (unless it is already valid). */
static int authorize(struct run *r, const char *authz_url, struct bw_err *err)
{
	struct pki_http_resp h;
	const struct json_value *a;
	if (post(r, authz_url, "", false, &h, &a, err) < 0)
		return -1;
	int rc = -1;
	const char *st = a ? json_get_str(a, "status", "") : "";
	const struct json_value *ch = a ? json_get(a, "challenges") : NULL;
	if (strcmp(st, "valid") == 0) {
		rc = 0;
		goto out;
	}
	if (strcmp(st, "pending") != 0 || !ch || ch->type != JSON_ARRAY) {
		bw_err_set(err, 502, PKI_MOD, "acme_client", "authorization is %s", st);
		goto out;
	}
	for (size_t i = 0; i < ch->u.arr.n; i++) {
		const struct json_value *c = ch->u.arr.items[i];
		if (strcmp(json_get_str(c, "type", ""), "http-01") != 0)
			continue;
		const char *token = json_get_str(c, "token", "");
		char url[512];
		size_t tl = strlen(token);
		if (tl < 16 || tl > PKI_LCERT_TOKEN_MAX || strspn(token,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != tl ||
		    copy_url(url, sizeof(url), c, "url", err) < 0 ||
		    r->ntokens == PKI_LCERT_NAMES_MAX) {
			bw_err_set(err, 502, PKI_MOD, "acme_client", "unusable http-01 challenge");
			goto out;
		}
		char keyauth[PKI_LCERT_TOKEN_MAX + 64];
		bw_snprintf(keyauth, sizeof(keyauth), "%s.%s", token, r->thumb);
		bw_snprintf(r->tokens[r->ntokens++], sizeof(r->tokens[0]), "%s", token);
		r->q->publish(r->q->arg, token, keyauth);
		struct pki_http_resp h2;
		if (post(r, url, "{}", false, &h2, NULL, err) < 0)
			goto out;
		pki_http_resp_fini(&h2);
		rc = 0;
		goto out;
	}
	bw_err_set(err, 502, PKI_MOD, "acme_client", "the CA offers no http-01 challenge");
out:
	pki_http_resp_fini(&h);
	return rc;
}

/* Polls url (POST-as-GET) until its status is one of `done` ("valid"),
 * failing on "invalid" or the deadline. OUT: *json of the last answer. */
static int poll(struct run *r, const char *url, const char *want,
		const struct json_value **json, struct bw_err *err)
{
	for (;;) {
		struct pki_http_resp h;
		if (post(r, url, "", false, &h, json, err) < 0)
			return -1;
		pki_http_resp_fini(&h);
		const char *st = *json ? json_get_str(*json, "status", "") : "";
		if (strcmp(st, want) == 0)
			return 0;
		if (strcmp(st, "invalid") == 0) {
			const struct json_value *e = json_get(*json, "error");
			return bw_err_set(err, 400, PKI_MOD, "acme_client", "%s is invalid: %s",
					  url, e ? json_get_str(e, "detail", "") : "");
		}
		if (past_deadline(r))
			return bw_err_set(err, 504, PKI_MOD, "acme_client",
					  "%s still '%s' at the deadline", url, st);
		pause_ms(300);
	}
}

static int run_order(struct run *r, char **chain, size_t *chain_len, struct bw_err *err)
{
	struct bw_buf pl;
	bw_buf_init(&pl, 16384);
	int w = bw_buf_append_str(&pl, "{\"identifiers\":[");
	for (size_t i = 0; i < r->q->nnames; i++)
		w |= bw_buf_printf(&pl, "%s{\"type\":\"%s\",\"value\":\"%s\"}", i ? "," : "",
				   is_ip(r->q->names[i]) ? "ip" : "dns", r->q->names[i]);
	w |= bw_buf_append_str(&pl, "]}") | bw_buf_append_byte(&pl, '\0');
	struct pki_http_resp h;
	const struct json_value *order;
	if (w != 0 || post(r, r->new_order, pl.data, false, &h, &order, err) < 0) {
		bw_buf_fini(&pl);
		return w != 0 ? bw_err_set(err, 500, PKI_MOD, "acme_client", "order") : -1;
	}
	bw_buf_fini(&pl);
	char order_url[512], finalize[512];
	int rc = -1;
	bw_snprintf(order_url, sizeof(order_url), "%s", h.location);
	pki_http_resp_fini(&h);
	const struct json_value *authzs = order ? json_get(order, "authorizations") : NULL;
	if (!order_url[0] || !authzs || authzs->type != JSON_ARRAY ||
	    copy_url(finalize, sizeof(finalize), order, "finalize", err) < 0)
		return bw_err_set(err, 502, PKI_MOD, "acme_client", "malformed order");
	size_t na = authzs->u.arr.n;
	if (na > PKI_LCERT_NAMES_MAX)
		return bw_err_set(err, 502, PKI_MOD, "acme_client", "too many authorizations");
	char urls[PKI_LCERT_NAMES_MAX][512];
	for (size_t i = 0; i < na; i++) {
		const struct json_value *u = authzs->u.arr.items[i];
		if (u->type != JSON_STRING ||
		    bw_snprintf(urls[i], sizeof(urls[i]), "%s", u->u.str.p) < 0)
			return bw_err_set(err, 502, PKI_MOD, "acme_client", "bad authorization URL");
	}
	for (size_t i = 0; i < na; i++)
		if (authorize(r, urls[i], err) < 0)
			return -1;
	const struct json_value *a;
	for (size_t i = 0; i < na; i++)
		if (poll(r, urls[i], "valid", &a, err) < 0)
			return -1;
	/* finalize with a CSR for the certificate's key */
	X509_REQ *req = make_csr(r, err);
	if (!req)
		return -1;
	unsigned char *der = NULL;
	int dlen = i2d_X509_REQ(req, &der);
	X509_REQ_free(req);
	bw_buf_init(&pl, 16384);
	w = dlen <= 0 || bw_buf_append_str(&pl, "{\"csr\":\"") < 0 ||
	    b64url_buf(&pl, der, (size_t)dlen) < 0 || bw_buf_append_str(&pl, "\"}") < 0 ||
	    bw_buf_append_byte(&pl, '\0') < 0;
	OPENSSL_free(der);
	if (w || post(r, finalize, pl.data, false, &h, &order, err) < 0) {
		bw_buf_fini(&pl);
		return w ? bw_err_set(err, 500, PKI_MOD, "acme_client", "finalize") : -1;
	}
	bw_buf_fini(&pl);
	pki_http_resp_fini(&h);
	if (poll(r, order_url, "valid", &order, err) < 0)
		return -1;
	char cert_url[512];
	if (copy_url(cert_url, sizeof(cert_url), order, "certificate", err) < 0)
		return -1;
	if (post(r, cert_url, "", false, &h, NULL, err) < 0)
		return -1;
	if (h.body.len == 0 || !memmem(h.body.data, h.body.len, "-----BEGIN CERTIFICATE-----", 27)) {
		bw_err_set(err, 502, PKI_MOD, "acme_client", "the certificate is not PEM");
	} else if (bw_buf_append_byte(&h.body, '\0') == 0) {
		*chain = bw_buf_detach(&h.body, chain_len);
		*chain_len -= 1;
		rc = 0;
	}
	pki_http_resp_fini(&h);
	return rc;
}

int pki_lcert_acme_obtain(struct pki_lcert_acme_req *q, char **chain_pem,
			  size_t *chain_len, struct bw_err *err)
{
	*chain_pem = NULL;
	*chain_len = 0;
	if (q->nnames == 0 || q->nnames > PKI_LCERT_NAMES_MAX)
		return bw_err_set(err, 400, PKI_MOD, "acme_client", "1..%d names",
				  PKI_LCERT_NAMES_MAX);
	struct run *r = calloc(1, sizeof(*r));
	if (!r || !(r->arena = bw_arena_new(16384, 8u << 20))) {
		free(r);
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	}
	r->q = q;
	r->deadline_ms = bw_clock_mono_ms() + PKI_LCERT_ACME_DEADLINE_S * 1000;
	r->alg = q->account->type == PKI_KEY_EC_P256 ? "ES256" : "RS256";
	struct bw_buf jwk;
	bw_buf_init(&jwk, sizeof(r->jwk) - 1);
	int rc = -1;
	if (pki_lcert_jwk(q->account->pub, &jwk, r->thumb) < 0) {
		bw_err_set(err, 400, PKI_MOD, "acme_client",
			   "the account key must be EC P-256 or RSA");
		goto out;
	}
	memcpy(r->jwk, jwk.data, jwk.len);
	r->jwk[jwk.len] = '\0';
	rc = directory(r, err);
	if (rc == 0)
		rc = account(r, err);
	if (rc == 0)
		rc = run_order(r, chain_pem, chain_len, err);
out:
	for (size_t i = 0; i < r->ntokens; i++)
		q->unpublish(q->arg, r->tokens[i]);
	bw_buf_fini(&jwk);
	bw_arena_free(r->arena);
	free(r);
	return rc;
}
