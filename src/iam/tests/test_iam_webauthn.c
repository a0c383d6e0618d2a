/* Unit tests for the CBOR decoder, WebAuthn verification (ES256, EdDSA,
 * RS256; attestation none, packed self, packed x5c; every relying-party
 * check; the counter rule) with test vectors built here from OpenSSL
 * keys, the stored ceremonies (challenges used once, counters, the
 * counter-regression refusal) and one-time codes (rate limit, single
 * use, attempts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "iam/iam_int.h"
#include "iam/tests/iam_testlib.h"
#include "json/json.h"

#define RPID "id.example"
#define ORIGIN "https://id.example"

static const char *const origins[] = {ORIGIN};
static const struct iam_webauthn_rp rp = {
    .rp_id = RPID, .rp_name = "Example", .origins = origins, .norigins = 1};

/* ------------------------------------------------------- CBOR builder */

struct cb {
	uint8_t b[8192];
	size_t n;
};

static void put(struct cb *c, const void *p, size_t n)
{
	assert_true(c->n + n <= sizeof(c->b));
	memcpy(c->b + c->n, p, n);
	c->n += n;
}

static void head(struct cb *c, int major, uint64_t v)
{
	uint8_t h[9];
	size_t n;
	if (v < 24) {
		h[0] = (uint8_t)(major << 5 | v);
		n = 1;
	} else if (v < 256) {
		h[0] = (uint8_t)(major << 5 | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else {
		h[0] = (uint8_t)(major << 5 | 25);
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	}
	put(c, h, n);
}

static void cint(struct cb *c, int64_t v)
{
	if (v >= 0)
		head(c, 0, (uint64_t)v);
	else
		head(c, 1, (uint64_t)(-1 - v));
}

static void cbytes(struct cb *c, const void *p, size_t n)
{
	head(c, 2, n);
	put(c, p, n);
}

static void ctext(struct cb *c, const char *s)
{
	head(c, 3, strlen(s));
	put(c, s, strlen(s));
}

/* ------------------------------------------------------------ keys */

static EVP_PKEY *gen(const char *alg)
{
	EVP_PKEY *k = NULL;
	if (strcmp(alg, "ES256") == 0)
		k = EVP_EC_gen("P-256");
	else if (strcmp(alg, "EdDSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(k);
	return k;
}

static int cose_alg(const char *alg)
{
	return strcmp(alg, "ES256") == 0   ? IAM_COSE_ES256
	       : strcmp(alg, "EdDSA") == 0 ? IAM_COSE_EDDSA
					   : IAM_COSE_RS256;
}

static void cose_of(EVP_PKEY *k, const char *alg, struct cb *c)
{
	if (strcmp(alg, "ES256") == 0) {
		uint8_t pub[65];
		size_t n = 0;
		assert_int_equal(
		    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY,
						    pub, sizeof(pub), &n),
		    1);
		assert_int_equal(n, 65);
		head(c, 5, 5);
		cint(c, 1), cint(c, 2);
		cint(c, 3), cint(c, -7);
		cint(c, -1), cint(c, 1);
		cint(c, -2), cbytes(c, pub + 1, 32);
		cint(c, -3), cbytes(c, pub + 33, 32);
	} else if (strcmp(alg, "EdDSA") == 0) {
		uint8_t pub[32];
		size_t n = 32;
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &n), 1);
		head(c, 5, 4);
		cint(c, 1), cint(c, 1);
		cint(c, 3), cint(c, -8);
		cint(c, -1), cint(c, 6);
		cint(c, -2), cbytes(c, pub, 32);
	} else {
		BIGNUM *n = NULL, *e = NULL;
		uint8_t nb[512], eb[8];
		assert_int_equal(
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
		assert_int_equal(
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
		int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
		head(c, 5, 4);
		cint(c, 1), cint(c, 3);
		cint(c, 3), cint(c, -257);
		cint(c, -1), cbytes(c, nb, (size_t)nl);
		cint(c, -2), cbytes(c, eb, (size_t)el);
		BN_free(n);
		BN_free(e);
	}
}

static size_t sign(EVP_PKEY *k, const char *alg, const uint8_t *m, size_t n,
		   uint8_t *sig)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t sl = 600;
	const EVP_MD *md = strcmp(alg, "EdDSA") == 0 ? NULL : EVP_sha256();
	assert_int_equal(EVP_DigestSignInit(c, NULL, md, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &sl, m, n), 1);
	EVP_MD_CTX_free(c);
	return sl;
}

/* ------------------------------------------------------ vectors */

struct vec {
	char cdj[512];
	struct cb ad;  /* authenticator data */
	struct cb att; /* attestation object */
	uint8_t cred_id[16];
	struct cb cose;
	uint8_t challenge[32];
};

static void client_data(struct vec *v, const char *type, const char *origin,
			const uint8_t ch[32])
{
	char b64[64];
	crypto_b64url_encode_to(ch, 32, b64);
	snprintf(v->cdj, sizeof(v->cdj),
		 "{\"type\":\"%s\",\"challenge\":\"%s\",\"origin\":\"%s\","
		 "\"crossOrigin\":false}",
		 type, b64, origin);
}

static void auth_data(struct cb *ad, const char *rpid, uint8_t flags,
		      uint32_t count, const struct vec *v, bool attested)
{
	uint8_t h[32], cnt[4] = {(uint8_t)(count >> 24), (uint8_t)(count >> 16),
				 (uint8_t)(count >> 8), (uint8_t)count};
	crypto_sha256(rpid, strlen(rpid), h);
	ad->n = 0;
	put(ad, h, 32);
	put(ad, &flags, 1);
	put(ad, cnt, 4);
	if (attested) {
		uint8_t aaguid[16] = {1, 2, 3}, len[2] = {0, 16};
		put(ad, aaguid, 16);
		put(ad, len, 2);
		put(ad, v->cred_id, 16);
		put(ad, v->cose.b, v->cose.n);
	}
}

/* fmt "none", "self" or "x5c" (with attestation key ak / cert). */
static void att_object(struct vec *v, const char *fmt, EVP_PKEY *k,
		       const char *alg, EVP_PKEY *ak, X509 *cert)
{
	struct cb *a = &v->att;
	a->n = 0;
	head(a, 5, 3);
	ctext(a, "fmt");
	ctext(a, strcmp(fmt, "none") == 0 ? "none" : "packed");
	ctext(a, "attStmt");
	if (strcmp(fmt, "none") == 0) {
		head(a, 5, 0);
	} else {
		uint8_t msg[4096], sig[600];
		memcpy(msg, v->ad.b, v->ad.n);
		crypto_sha256(v->cdj, strlen(v->cdj), msg + v->ad.n);
		bool x5c = strcmp(fmt, "x5c") == 0;
		size_t sl = sign(x5c ? ak : k, x5c ? "ES256" : alg, msg,
				 v->ad.n + 32, sig);
		head(a, 5, x5c ? 3 : 2);
		ctext(a, "alg");
		cint(a, x5c ? -7 : cose_alg(alg));
		ctext(a, "sig");
		cbytes(a, sig, sl);
		if (x5c) {
			uint8_t *der = NULL;
			int dl = i2d_X509(cert, &der);
			ctext(a, "x5c");
			head(a, 4, 1);
			cbytes(a, der, (size_t)dl);
			OPENSSL_free(der);
		}
	}
	ctext(a, "authData");
	cbytes(a, v->ad.b, v->ad.n);
}

static void make_reg(struct vec *v, EVP_PKEY *k, const char *alg,
		     const char *fmt, uint8_t flags, const char *rpid,
		     const char *origin, EVP_PKEY *ak, X509 *cert)
{
	memset(v, 0, sizeof(*v));
	bw_random(v->cred_id, 16);
	bw_random(v->challenge, 32);
	cose_of(k, alg, &v->cose);
	client_data(v, "webauthn.create", origin, v->challenge);
	auth_data(&v->ad, rpid, flags, 0, v, true);
	att_object(v, fmt, k, alg, ak, cert);
}

/* An attestation certificate for ak, self-signed or (ca, cak) issued. */
static X509 *att_cert_by(EVP_PKEY *ak, const char *ou, X509 *ca,
			 EVP_PKEY *cak);

static X509 *att_cert(EVP_PKEY *ak, const char *ou)
{
	return att_cert_by(ak, ou, NULL, NULL);
}

/* A root CA certificate for key k named cn. */
static X509 *ca_cert(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600 * 24 * 365);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx,
						NID_basic_constraints,
						"critical,CA:TRUE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
				"critical,keyCertSign,cRLSign");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static X509 *att_cert_by(EVP_PKEY *ak, const char *ou, X509 *ca,
			 EVP_PKEY *cak)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600 * 24);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
				   (const unsigned char *)"SE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
				   (const unsigned char *)"Test Vendor", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC,
				   (const unsigned char *)ou, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)"Test Key", -1, -1,
				   0);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
	X509_set_pubkey(x, ak);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca ? ca : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(
	    NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, ca ? cak : ak, EVP_sha256()) > 0);
	return x;
}

/* Writes cert as PEM to path. */
static void write_pem(const char *path, X509 *cert)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
}

#define UP_UV_AT (IAM_WA_FLAG_UP | IAM_WA_FLAG_UV | IAM_WA_FLAG_AT)

static int reg(const struct vec *v, struct iam_webauthn_reg *r,
	       struct bw_err *err)
{
	return iam_webauthn_verify_registration(&rp, (const uint8_t *)v->cdj,
						strlen(v->cdj), v->att.b,
						v->att.n, r, err);
}

/* With trusted roots, only attestations chaining to them register. */
static void registration_trust_roots(void **state)
{
	(void)state;
	struct vec *v = malloc(sizeof(*v));
	struct iam_webauthn_reg r;
	struct bw_err err;
	char tdir[] = "/tmp/bw-iam-roots-XXXXXX", p1[64], p2[64], p3[64];
	assert_non_null(mkdtemp(tdir));
	bw_snprintf(p1, sizeof(p1), "%s/vendor.pem", tdir);
	bw_snprintf(p2, sizeof(p2), "%s/other.pem", tdir);
	bw_snprintf(p3, sizeof(p3), "%s/empty.pem", tdir);
	EVP_PKEY *cak = gen("ES256"), *ok = gen("ES256"), *ak = gen("ES256");
	EVP_PKEY *k = gen("ES256");
	X509 *ca = ca_cert(cak, "Vendor FIDO Root");
	X509 *other = ca_cert(ok, "Other Root");
	X509 *leaf = att_cert_by(ak, "Authenticator Attestation", ca, cak);
	X509 *selfsigned = att_cert(ak, "Authenticator Attestation");
	write_pem(p1, ca);
	write_pem(p2, other);
	FILE *f = fopen(p3, "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	fclose(f);
	assert_null(iam_webauthn_roots_load(p3, &err));
	assert_string_equal(err.reason, "bad_roots");
	assert_null(iam_webauthn_roots_load("/nonexistent/roots.pem", &err));
	void *vendor = iam_webauthn_roots_load(p1, &err);
	void *wrong = iam_webauthn_roots_load(p2, &err);
	assert_non_null(vendor);
	assert_non_null(wrong);
	struct iam_webauthn_rp trp = rp;
	trp.attestation_roots = vendor;
	/* Without roots the vendor-issued certificate is "basic" as before. */
	make_reg(v, k, "ES256", "x5c", UP_UV_AT, RPID, ORIGIN, ak, leaf);
	assert_int_equal(reg(v, &r, &err), 0);
	/* With the vendor's root: the chain verifies. */
	assert_int_equal(iam_webauthn_verify_registration(
			     &trp, (const uint8_t *)v->cdj, strlen(v->cdj),
			     v->att.b, v->att.n, &r, &err),
			 0);
	assert_string_equal(r.att_type, "basic");
	/* Another root: refused. */
	trp.attestation_roots = wrong;
	assert_int_equal(iam_webauthn_verify_registration(
			     &trp, (const uint8_t *)v->cdj, strlen(v->cdj),
			     v->att.b, v->att.n, &r, &err),
			 -1);
	assert_string_equal(err.reason, "untrusted_attestation");
	trp.attestation_roots = vendor;
	/* A self-signed attestation certificate, self attestation and no
	 * attestation prove no key model: refused. */
	const char *fmts[] = {"x5c", "self", "none"};
	for (size_t i = 0; i < BW_ARRAY_LEN(fmts); i++) {
		make_reg(v, k, "ES256", fmts[i], UP_UV_AT, RPID, ORIGIN, ak,
			 selfsigned);
		assert_int_equal(reg(v, &r, &err), 0); /* fine without roots */
		assert_int_equal(
		    iam_webauthn_verify_registration(
			&trp, (const uint8_t *)v->cdj, strlen(v->cdj), v->att.b,
			v->att.n, &r, &err),
		    -1);
		assert_string_equal(err.reason, "untrusted_attestation");
	}
	/* Checked at bw_clock time: two days on, the leaf has expired. */
	make_reg(v, k, "ES256", "x5c", UP_UV_AT, RPID, ORIGIN, ak, leaf);
	bw_clock_advance(2LL * 86400 * 1000000000LL);
	assert_int_equal(iam_webauthn_verify_registration(
			     &trp, (const uint8_t *)v->cdj, strlen(v->cdj),
			     v->att.b, v->att.n, &r, &err),
			 -1);
	bw_clock_set(0);
	iam_webauthn_roots_free(vendor);
	iam_webauthn_roots_free(wrong);
	iam_webauthn_roots_free(NULL);
	X509_free(ca);
	X509_free(other);
	X509_free(leaf);
	X509_free(selfsigned);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ok);
	EVP_PKEY_free(ak);
	EVP_PKEY_free(k);
	unlink(p1);
	unlink(p2);
	unlink(p3);
	rmdir(tdir);
	free(v);
}

/* ---------------------------------------------------------------- CBOR */

static int parse(const uint8_t *p, size_t n, struct bw_err *err)
{
	struct iam_cbor_node nodes[IAM_CBOR_NODES_MAX];
	size_t cnt;
	return iam_cbor_parse(p, n, nodes, IAM_CBOR_NODES_MAX, &cnt, NULL, err);
}

static void cbor_malformed(void **state)
{
	(void)state;
	struct bw_err err;
	static const struct {
		const char *name;
		uint8_t b[16];
		size_t n;
	} bad[] = {
	    {"empty", {0}, 0},
	    {"truncated uint16", {0x19, 0x01}, 2},
	    {"indefinite bytes", {0x5f, 0x41, 0x00, 0xff}, 4},
	    {"indefinite map", {0xbf, 0xff}, 2},
	    {"reserved ai", {0x1c}, 1},
	    {"string past end", {0x45, 'a', 'b'}, 3},
	    {"huge length",
	     {0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	     9},
	    {"array count past end", {0x9a, 0x7f, 0xff, 0xff, 0xff}, 5},
	    {"map count past end", {0xba, 0x7f, 0xff, 0xff, 0xff}, 5},
	    {"bad utf-8", {0x62, 0xc3, 0x28}, 3},
	    {"overlong utf-8", {0x62, 0xc0, 0x80}, 3},
	    {"surrogate", {0x63, 0xed, 0xa0, 0x80}, 4},
	    {"duplicate key", {0xa2, 0x01, 0x02, 0x01, 0x03}, 5},
	    {"trailing", {0x01, 0x02}, 2},
	    {"simple < 32 in 2 bytes", {0xf8, 0x10}, 2},
	    {"tag without item", {0xc1}, 1},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		int rc = parse(bad[i].n ? bad[i].b : (const uint8_t *)"",
			       bad[i].n, &err);
		if (rc != -1)
			fail_msg("accepted: %s", bad[i].name);
	}
	/* Nesting past the limit: 40 nested one-element arrays. */
	uint8_t deep[41];
	memset(deep, 0x81, 40);
	deep[40] = 0x00;
	assert_int_equal(parse(deep, sizeof(deep), &err), -1);
	/* More items than nodes: an array of 600 zeros. */
	uint8_t wide[603] = {0x99, 0x02, 0x58};
	assert_int_equal(parse(wide, sizeof(wide), &err), -1);
	assert_int_equal(err.code, 413);
	/* Good: {1: -7, "a": h'0102', 3: [true, null, 1.5]} */
	static const uint8_t ok[] = {0xa3, 0x01, 0x26, 0x61, 'a',  0x42, 1,   2,
				     0x03, 0x83, 0xf5, 0xf6, 0xf9, 0x3e, 0x00};
	struct iam_cbor_node nodes[16];
	size_t cnt;
	assert_int_equal(
	    iam_cbor_parse(ok, sizeof(ok), nodes, 16, &cnt, NULL, &err), 0);
	int64_t v;
	ssize_t i = iam_cbor_map_find_int(nodes, 0, 1);
	assert_true(i > 0);
	assert_int_equal(iam_cbor_int(&nodes[i], &v), 0);
	assert_int_equal(v, -7);
	i = iam_cbor_map_find_text(nodes, 0, "a");
	assert_true(i > 0);
	assert_int_equal(nodes[i].type, IAM_CBOR_BYTES);
	assert_int_equal(nodes[i].val, 2);
	i = iam_cbor_map_find_int(nodes, 0, 3);
	assert_int_equal(nodes[i].type, IAM_CBOR_ARRAY);
	assert_int_equal(nodes[i].end, cnt);
	assert_int_equal(iam_cbor_map_find_int(nodes, 0, 9), -1);
}

/* ------------------------------------------------------- registration */

static void registration_algs_and_formats(void **state)
{
	(void)state;
	struct vec *v = malloc(sizeof(*v));
	struct iam_webauthn_reg r;
	struct bw_err err;
	const char *algs[] = {"ES256", "EdDSA", "RS256"};
	EVP_PKEY *ak = gen("ES256");
	X509 *cert = att_cert(ak, "Authenticator Attestation");
	X509 *badcert = att_cert(ak, "Something Else");
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = gen(algs[i]);
		make_reg(v, k, algs[i], "none", UP_UV_AT, RPID, ORIGIN, NULL,
			 NULL);
		assert_int_equal(reg(v, &r, &err), 0);
		assert_string_equal(r.fmt, "none");
		assert_int_equal(r.alg, cose_alg(algs[i]));
		assert_memory_equal(r.challenge, v->challenge, 32);
		assert_int_equal(r.cred_id_len, 16);
		assert_true(r.uv);

		make_reg(v, k, algs[i], "self", UP_UV_AT, RPID, ORIGIN, NULL,
			 NULL);
		assert_int_equal(reg(v, &r, &err), 0);
		assert_string_equal(r.fmt, "packed");
		assert_string_equal(r.att_type, "self");

		make_reg(v, k, algs[i], "x5c", UP_UV_AT, RPID, ORIGIN, ak,
			 cert);
		assert_int_equal(reg(v, &r, &err), 0);
		assert_string_equal(r.att_type, "basic");

		/* The certificate must say "Authenticator Attestation". */
		make_reg(v, k, algs[i], "x5c", UP_UV_AT, RPID, ORIGIN, ak,
			 badcert);
		assert_int_equal(reg(v, &r, &err), -1);
		assert_string_equal(err.reason, "bad_attestation");

		/* A flipped signature byte. */
		make_reg(v, k, algs[i], "self", UP_UV_AT, RPID, ORIGIN, NULL,
			 NULL);
		v->att.b[v->att.n - v->ad.n - 12] ^= 1; /* inside sig */
		assert_int_equal(reg(v, &r, &err), -1);
		EVP_PKEY_free(k);
	}
	X509_free(cert);
	X509_free(badcert);
	EVP_PKEY_free(ak);
	free(v);
}

static void registration_rp_checks(void **state)
{
	(void)state;
	struct vec *v = malloc(sizeof(*v));
	struct iam_webauthn_reg r;
	struct bw_err err;
	EVP_PKEY *k = gen("ES256");
	make_reg(v, k, "ES256", "none", UP_UV_AT, RPID, "https://evil.example",
		 NULL, NULL);
	assert_int_equal(reg(v, &r, &err), -1);
	assert_string_equal(err.reason, "bad_origin");
	make_reg(v, k, "ES256", "none", UP_UV_AT, "evil.example", ORIGIN, NULL,
		 NULL);
	assert_int_equal(reg(v, &r, &err), -1);
	assert_string_equal(err.reason, "bad_rp_id");
	make_reg(v, k, "ES256", "none", IAM_WA_FLAG_AT, RPID, ORIGIN, NULL,
		 NULL);
	assert_int_equal(reg(v, &r, &err), -1);
	assert_string_equal(err.reason, "user_not_present");
	/* UV required but only UP given. */
	struct iam_webauthn_rp uvrp = rp;
	uvrp.require_uv = true;
	make_reg(v, k, "ES256", "none", IAM_WA_FLAG_UP | IAM_WA_FLAG_AT, RPID,
		 ORIGIN, NULL, NULL);
	assert_int_equal(iam_webauthn_verify_registration(
			     &uvrp, (const uint8_t *)v->cdj, strlen(v->cdj),
			     v->att.b, v->att.n, &r, &err),
			 -1);
	assert_string_equal(err.reason, "user_not_verified");
	/* The get ceremony's client data cannot register. */
	make_reg(v, k, "ES256", "none", UP_UV_AT, RPID, ORIGIN, NULL, NULL);
	client_data(v, "webauthn.get", ORIGIN, v->challenge);
	assert_int_equal(reg(v, &r, &err), -1);
	assert_string_equal(err.reason, "bad_client_data");
	/* Truncated attestation objects never pass. */
	make_reg(v, k, "ES256", "none", UP_UV_AT, RPID, ORIGIN, NULL, NULL);
	for (size_t n = 0; n < v->att.n; n += 7) {
		int rc = iam_webauthn_verify_registration(
		    &rp, (const uint8_t *)v->cdj, strlen(v->cdj), v->att.b, n,
		    &r, &err);
		assert_int_equal(rc, -1);
	}
	EVP_PKEY_free(k);
	free(v);
}

/* --------------------------------------------------------- assertion */

static int assertion(const struct vec *reg_v, EVP_PKEY *k, const char *alg,
		     uint32_t count, uint32_t stored, uint8_t flags,
		     struct bw_err *err)
{
	struct vec a;
	uint8_t msg[256], sig[600];
	memset(&a, 0, sizeof(a));
	bw_random(a.challenge, 32);
	client_data(&a, "webauthn.get", ORIGIN, a.challenge);
	auth_data(&a.ad, RPID, flags, count, &a, false);
	memcpy(msg, a.ad.b, a.ad.n);
	crypto_sha256(a.cdj, strlen(a.cdj), msg + a.ad.n);
	size_t sl = sign(k, alg, msg, a.ad.n + 32, sig);
	struct iam_webauthn_assert out;
	return iam_webauthn_verify_assertion(
	    &rp, (const uint8_t *)a.cdj, strlen(a.cdj), a.ad.b, a.ad.n, sig, sl,
	    reg_v->cose.b, reg_v->cose.n, stored, &out, err);
}

static void assertion_counter(void **state)
{
	(void)state;
	struct vec *v = malloc(sizeof(*v));
	struct bw_err err;
	const char *algs[] = {"ES256", "EdDSA", "RS256"};
	uint8_t up = IAM_WA_FLAG_UP;
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = gen(algs[i]), *other = gen(algs[i]);
		make_reg(v, k, algs[i], "none", UP_UV_AT, RPID, ORIGIN, NULL,
			 NULL);
		assert_int_equal(assertion(v, k, algs[i], 5, 0, up, &err), 0);
		/* Counter that went back (or stayed): a cloned key. */
		assert_int_equal(assertion(v, k, algs[i], 5, 10, up, &err), -1);
		assert_string_equal(err.reason, "counter");
		assert_int_equal(assertion(v, k, algs[i], 10, 10, up, &err),
				 -1);
		assert_string_equal(err.reason, "counter");
		/* Both zero: an authenticator without a counter. */
		assert_int_equal(assertion(v, k, algs[i], 0, 0, up, &err), 0);
		/* Signed by another key. */
		assert_int_equal(assertion(v, other, algs[i], 11, 10, up, &err),
				 -1);
		assert_string_equal(err.reason, "bad_signature");
		/* No user presence. */
		assert_int_equal(assertion(v, k, algs[i], 11, 10, 0, &err), -1);
		assert_string_equal(err.reason, "user_not_present");
		EVP_PKEY_free(k);
		EVP_PKEY_free(other);
	}
	free(v);
}

static void cose_hostile(void **state)
{
	(void)state;
	struct bw_err err;
	void *k = NULL;
	int alg;
	/* ES256 with a point not on the curve. */
	struct cb c = {.n = 0};
	uint8_t x[32] = {1}, y[32] = {2};
	head(&c, 5, 5);
	cint(&c, 1), cint(&c, 2), cint(&c, 3), cint(&c, -7);
	cint(&c, -1), cint(&c, 1), cint(&c, -2), cbytes(&c, x, 32);
	cint(&c, -3), cbytes(&c, y, 32);
	assert_int_equal(iam_cose_key_parse(c.b, c.n, &alg, &k, &err), -1);
	/* Unsupported algorithm (ES384). */
	c.n = 0;
	head(&c, 5, 2);
	cint(&c, 1), cint(&c, 2), cint(&c, 3), cint(&c, -35);
	assert_int_equal(iam_cose_key_parse(c.b, c.n, &alg, &k, &err), -1);
	assert_string_equal(err.reason, "unsupported_alg");
	/* kty/alg mismatch: OKP with ES256. */
	c.n = 0;
	head(&c, 5, 4);
	cint(&c, 1), cint(&c, 1), cint(&c, 3), cint(&c, -7);
	cint(&c, -1), cint(&c, 6), cint(&c, -2), cbytes(&c, x, 32);
	assert_int_equal(iam_cose_key_parse(c.b, c.n, &alg, &k, &err), -1);
	/* RSA below 2048 bits. */
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	c.n = 0;
	cose_of(small, "RS256", &c);
	assert_int_equal(iam_cose_key_parse(c.b, c.n, &alg, &k, &err), -1);
	EVP_PKEY_free(small);
	assert_null(k);
}

/* -------------------------------------------------- stored ceremonies */

static char dir[64];
static struct store *st;
static struct iam *iam;
static char uid[IAM_ID_LEN + 1], uid2[IAM_ID_LEN + 1];

static int setup(void **state)
{
	(void)state;
	struct bw_err err;
	if (iam_test_open(dir, &st, &iam) < 0)
		return -1;
	struct iam_user u;
	struct iam_user_spec us = {.name = "alice",
				   .email = "alice@x.example",
				   .attrs = "{\"phone\":\"+46701234567\"}"};
	if (iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0 ||
	    iam_user_create(iam, "acme", &us, &u, &err) < 0)
		return -1;
	memcpy(uid, u.id, sizeof(uid));
	us.name = "bob";
	if (iam_user_create(iam, "acme", &us, &u, &err) < 0)
		return -1;
	memcpy(uid2, u.id, sizeof(uid2));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return iam_test_close(dir, st, iam);
}

/* The challenge of an options document. */
static void options_challenge(struct bw_buf *b, uint8_t out[32])
{
	struct bw_err err;
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct json_value *v = json_parse(a, b->data, b->len, NULL, &err);
	assert_non_null(v);
	const char *c = json_get_str(v, "challenge", NULL);
	size_t n;
	assert_int_equal(crypto_b64url_decode(c, strlen(c), out, 32, &n, &err),
			 0);
	assert_int_equal(n, 32);
	bw_arena_free(a);
}

static char *b64(const void *p, size_t n)
{
	char *s = malloc(crypto_b64url_len(n) + 1);
	crypto_b64url_encode_to(p, n, s);
	return s;
}

struct signed_assert {
	char *id, *cd, *ad, *sig;
};

static void make_assert(struct signed_assert *s, const struct vec *v,
			EVP_PKEY *k, const uint8_t ch[32], uint32_t count)
{
	struct vec a;
	uint8_t msg[256], sig[600];
	memset(&a, 0, sizeof(a));
	client_data(&a, "webauthn.get", ORIGIN, ch);
	auth_data(&a.ad, RPID, IAM_WA_FLAG_UP, count, &a, false);
	memcpy(msg, a.ad.b, a.ad.n);
	crypto_sha256(a.cdj, strlen(a.cdj), msg + a.ad.n);
	size_t sl = sign(k, "ES256", msg, a.ad.n + 32, sig);
	s->id = b64(v->cred_id, 16);
	s->cd = b64(a.cdj, strlen(a.cdj));
	s->ad = b64(a.ad.b, a.ad.n);
	s->sig = b64(sig, sl);
}

static void free_assert(struct signed_assert *s)
{
	free(s->id);
	free(s->cd);
	free(s->ad);
	free(s->sig);
}

static int count_key(void *arg, const struct iam_webauthn_cred_info *c)
{
	int *n = arg;
	assert_string_equal(c->name, "yubikey");
	(*n)++;
	return 0;
}

/* Starts a stored registration of key k for user uid (fmt none) and
 * builds the browser's answer. OUT: v, *cd and *att (base64url, the
 * caller frees). */
static void reg_prepare(struct vec *v, EVP_PKEY *k, char **cd, char **att)
{
	struct bw_err err;
	struct bw_buf opts;
	uint8_t ch[32];
	bw_buf_init(&opts, 1 << 16);
	assert_int_equal(
	    iam_webauthn_register_begin(iam, &rp, "acme", uid, &opts, &err), 0);
	options_challenge(&opts, ch);
	make_reg(v, k, "ES256", "none", UP_UV_AT, RPID, ORIGIN, NULL, NULL);
	client_data(v, "webauthn.create", ORIGIN, ch);
	att_object(v, "none", k, "ES256", NULL, NULL);
	*cd = b64(v->cdj, strlen(v->cdj));
	*att = b64(v->att.b, v->att.n);
	bw_buf_fini(&opts);
}

/* Registers key k for user uid. OUT: v, info. */
static void register_key(struct vec *v, EVP_PKEY *k,
			 struct iam_webauthn_cred_info *info)
{
	struct bw_err err;
	char *cd, *att;
	reg_prepare(v, k, &cd, &att);
	assert_int_equal(iam_webauthn_register_finish(iam, &rp, "acme", uid,
						      "yubikey", cd, att, info,
						      &err),
			 0);
	free(cd);
	free(att);
}

/* Step-up of a session with a security key (the admin API's WebAuthn
 * step-up): the assertion of a challenge from iam_webauthn_assert_begin
 * makes the session fresh, once. */
static void stepup_with_security_key(void **state)
{
	(void)state;
	struct bw_err err;
	struct bw_buf opts;
	struct vec *v = malloc(sizeof(*v));
	struct iam_webauthn_cred_info info;
	struct signed_assert s;
	char h[IAM_ID_LEN + 1];
	uint8_t ch[32];
	enum iam_stepup_state sst;
	int64_t w;
	EVP_PKEY *k = gen("ES256");
	register_key(v, k, &info);
	assert_int_equal(iam_test_session(iam, "acme", uid, false, h), 0);
	assert_int_equal(iam_stepup_state(iam, "acme", h, &sst, &w, &err), 0);
	assert_int_equal(sst, IAM_STEPUP_STALE); /* a password sign-in */
	struct iam_stepup_proof p = {.code = NULL};
	assert_int_equal(
	    iam_stepup_verify(iam, "acme", uid, h, &p, "192.0.2.1", NULL, &err),
	    -1);
	assert_string_equal(err.reason, "use_security_key");
	bw_buf_init(&opts, 1 << 16);
	assert_int_equal(
	    iam_webauthn_assert_begin(iam, &rp, "acme", uid, &opts, &err), 0);
	options_challenge(&opts, ch);
	make_assert(&s, v, k, ch, 7);
	p = (struct iam_stepup_proof){.rp = &rp,
				      .wa_credential_id = s.id,
				      .wa_client_data = s.cd,
				      .wa_authenticator_data = s.ad,
				      .wa_signature = s.sig};
	assert_int_equal(
	    iam_stepup_verify(iam, "acme", uid, h, &p, "192.0.2.1", NULL, &err),
	    0);
	assert_int_equal(iam_stepup_state(iam, "acme", h, &sst, &w, &err), 0);
	assert_int_equal(sst, IAM_STEPUP_FRESH);
	/* The same answer again: refused (challenge spent, counter). */
	assert_int_equal(
	    iam_stepup_verify(iam, "acme", uid, h, &p, "192.0.2.1", NULL, &err),
	    -1);
	assert_int_equal(err.code, 401);
	assert_string_equal(err.reason, "bad_assertion");
	free_assert(&s);
	bw_buf_fini(&opts);
	EVP_PKEY_free(k);
	free(v);
}

static void stored_ceremonies(void **state)
{
	(void)state;
	struct bw_err err;
	struct bw_buf opts;
	struct vec *v = malloc(sizeof(*v));
	EVP_PKEY *k = gen("ES256");
	uint8_t ch[32];
	bw_buf_init(&opts, 1 << 16);
	/* No key yet: nothing to assert with. */
	assert_int_equal(
	    iam_webauthn_assert_begin(iam, &rp, "acme", uid, &opts, &err), -1);
	assert_int_equal(err.code, 404);
	char *cd, *att;
	reg_prepare(v, k, &cd, &att);
	/* Another user cannot use alice's challenge. */
	assert_int_equal(iam_webauthn_register_finish(iam, &rp, "acme", uid2,
						      "yubikey", cd, att, NULL,
						      &err),
			 -1);
	assert_string_equal(err.reason, "bad_challenge");
	struct iam_webauthn_cred_info info;
	assert_int_equal(iam_webauthn_register_finish(iam, &rp, "acme", uid,
						      "yubikey", cd, att, &info,
						      &err),
			 0);
	assert_int_equal(info.alg, IAM_COSE_ES256);
	/* The challenge worked once. */
	assert_int_equal(iam_webauthn_register_finish(iam, &rp, "acme", uid,
						      "yubikey", cd, att, NULL,
						      &err),
			 -1);
	assert_string_equal(err.reason, "bad_challenge");
	int n = 0;
	assert_int_equal(
	    iam_webauthn_list(iam, "acme", uid, count_key, &n, &err), 0);
	assert_int_equal(n, 1);
	struct iam_mfa_methods mm;
	assert_int_equal(iam_mfa_methods(iam, "acme", uid, &mm, &err), 0);
	assert_true(mm.webauthn);
	assert_true(mm.email);
	assert_true(mm.phone);

	/* Assertion with counter 3, then a replay and a regression. */
	struct signed_assert s;
	bw_buf_reset(&opts);
	assert_int_equal(
	    iam_webauthn_assert_begin(iam, &rp, "acme", uid, &opts, &err), 0);
	assert_non_null(strstr(opts.data, "allowCredentials"));
	options_challenge(&opts, ch);
	make_assert(&s, v, k, ch, 3);
	assert_int_equal(iam_webauthn_assert_finish(iam, &rp, "acme", uid2,
						    s.id, s.cd, s.ad, s.sig,
						    &err),
			 -1); /* not bob's key */
	assert_int_equal(iam_webauthn_assert_finish(iam, &rp, "acme", uid, s.id,
						    s.cd, s.ad, s.sig, &err),
			 0);
	assert_int_equal(iam_webauthn_assert_finish(iam, &rp, "acme", uid, s.id,
						    s.cd, s.ad, s.sig, &err),
			 -1); /* replay: counter and challenge both refuse */
	free_assert(&s);
	bw_buf_reset(&opts);
	assert_int_equal(
	    iam_webauthn_assert_begin(iam, &rp, "acme", uid, &opts, &err), 0);
	options_challenge(&opts, ch);
	make_assert(&s, v, k, ch, 2);
	assert_int_equal(iam_webauthn_assert_finish(iam, &rp, "acme", uid, s.id,
						    s.cd, s.ad, s.sig, &err),
			 -1);
	assert_string_equal(err.reason, "counter");
	free_assert(&s);
	/* Deleting the user deletes its keys. */
	assert_int_equal(
	    iam_webauthn_delete(iam, "acme", uid, info.handle, &err), 0);
	assert_int_equal(
	    iam_webauthn_delete(iam, "acme", uid, info.handle, &err), -1);
	free(cd);
	free(att);
	bw_buf_fini(&opts);
	EVP_PKEY_free(k);
	free(v);
}

static void otp_limits(void **state)
{
	(void)state;
	struct bw_err err;
	struct iam_otp_delivery none = {0};
	/* No delivery configured: the send fails after the code was made,
	 * and the rate limit still counts it. */
	assert_int_equal(
	    iam_otp_send(iam, &none, "acme", uid, IAM_OTP_EMAIL, &err), -1);
	assert_int_equal(err.code, 503);
	assert_int_equal(
	    iam_otp_send(iam, &none, "acme", uid, IAM_OTP_EMAIL, &err), -1);
	assert_int_equal(err.code, 429);
	/* Wrong codes, then the code is dead even if guessed right. */
	for (int i = 0; i < IAM_OTP_ATTEMPTS; i++) {
		assert_int_equal(iam_otp_verify(iam, "acme", uid, IAM_OTP_EMAIL,
						"000000", &err),
				 -1);
		assert_string_equal(err.reason, "bad_code");
	}
	assert_int_equal(
	    iam_otp_verify(iam, "acme", uid, IAM_OTP_SMS, "12345", &err), -1);
	/* A user without a phone cannot get an SMS. */
	struct iam_user_spec sp = {.name = "carol"};
	struct iam_user u;
	assert_int_equal(iam_user_create(iam, "acme", &sp, &u, &err), 0);
	assert_int_equal(
	    iam_otp_send(iam, &none, "acme", u.id, IAM_OTP_SMS, &err), -1);
	assert_int_equal(err.code, 404);
	/* The phone attribute must be E.164. */
	char ph[32];
	struct iam_user bad = {.attrs = "{\"phone\":\"0701234567\"}"};
	assert_int_equal(iam_user_phone(&bad, ph, sizeof(ph)), -1);
	struct iam_user good = {.attrs = "{\"phone\":\"+46701234567\"}"};
	assert_int_equal(iam_user_phone(&good, ph, sizeof(ph)), 0);
	assert_string_equal(ph, "+46701234567");
}

static void mfa_group_policy(void **state)
{
	(void)state;
	struct bw_err err;
	struct iam_group g;
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid, &err), 0);
	assert_int_equal(iam_group_create(iam, "acme", "admins", "", &g, &err),
			 0);
	assert_int_equal(iam_group_add_member(iam, "acme", g.id, uid, &err), 0);
	assert_int_equal(iam_mfa_group_set(iam, "acme", g.id, true, &err), 0);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid, &err), 1);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid2, &err), 0);
	assert_int_equal(iam_mfa_group_set(iam, "acme", g.id, false, &err), 0);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid, &err), 0);
	assert_true(iam_scope_subset("openid email", "email profile openid"));
	assert_false(iam_scope_subset("openid admin", "openid email"));
	assert_true(iam_scope_subset("", "openid"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cbor_malformed),
	    cmocka_unit_test(registration_algs_and_formats),
	    cmocka_unit_test(registration_rp_checks),
	    cmocka_unit_test(registration_trust_roots),
	    cmocka_unit_test(assertion_counter),
	    cmocka_unit_test(cose_hostile),
	    cmocka_unit_test_setup_teardown(stored_ceremonies, setup, teardown),
	    cmocka_unit_test_setup_teardown(stepup_with_security_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(otp_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(mfa_group_policy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
