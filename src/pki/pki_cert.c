/*
 * pki_cert.c — building X.509v3 certificates (RFC 5280) for every profile,
 * CA certificates included, and the small helpers around them (serials,
 * subjects, times, PEM).
 *
 * Invariants of every certificate built here:
 *  - version 3, a random positive serial of exactly 16 octets (127 bits of
 *    entropy; the first octet is 01..7f so the DER INTEGER is never
 *    shortened and never negative);
 *  - basicConstraints present and critical (CA:TRUE with the configured
 *    path length on CAs, CA:FALSE on leaves);
 *  - keyUsage critical, extendedKeyUsage per profile, SKI (SHA-1 of the
 *    key, RFC 5280 method 1) and, except on self-signed roots, AKI from
 *    the issuer's SKI;
 *  - SANs from validated names only; the SAN extension is critical when
 *    the subject is empty (RFC 5280 4.2.1.6);
 *  - AIA (OCSP and caIssuers) and CRL distribution point URLs when a
 *    public URL is configured, never on OCSP responder certificates;
 *  - extensions are built as OpenSSL structures; the textual v3 config
 *    syntax is used only with constant strings, never with request data.
 */
#include "pki/pki_int.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

void pki_serial_random(uint8_t serial[PKI_SERIAL_BYTES])
{
	bw_random(serial, PKI_SERIAL_BYTES);
	serial[0] &= 0x7f;
	if (serial[0] == 0)
		serial[0] = 1;
}

void pki_serial_hex(const uint8_t *b, size_t n, char out[41])
{
	while (n > 1 && b[0] == 0)
		b++, n--;
	if (n > 20)
		n = 20;
	bw_hex_encode(b, n, out);
}

int pki_x509_to_der(X509 *x, uint8_t **der, size_t *len, struct bw_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	if (n <= 0)
		return pki_err_ssl(err, "encode", "certificate");
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(p);
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	}
	memcpy(*der, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return 0;
}

int pki_append_pem(struct bw_buf *out, const char *label, const uint8_t *der,
		   size_t len)
{
	if (bw_buf_printf(out, "-----BEGIN %s-----\n", label) < 0)
		return -1;
	unsigned char line[65 + 4];
	for (size_t off = 0; off < len; off += 48) {
		size_t n = len - off < 48 ? len - off : 48;
		int w = EVP_EncodeBlock(line, der + off, (int)n);
		if (bw_buf_append(out, line, (size_t)w) < 0 ||
		    bw_buf_append_byte(out, '\n') < 0)
			return -1;
	}
	return bw_buf_printf(out, "-----END %s-----\n", label);
}

int pki_time_to_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static const char *const subject_types[] = { "CN", "O", "OU", "C", "ST", "L",
					     "DC", "serialNumber" };

X509_NAME *pki_subject_parse(const char *s, struct bw_err *err)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > PKI_SUBJECT_MAX) {
		bw_err_set(err, 400, PKI_MOD, "bad_subject",
			   "subject of %zu bytes (1 to %d)", len, PKI_SUBJECT_MAX);
		return NULL;
	}
	X509_NAME *name = X509_NAME_new();
	if (!name) {
		pki_err_ssl(err, "memory", "name");
		return NULL;
	}
	const char *p = s, *end = s + len;
	bool have_cn = false;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		while (p < stop && *p == ' ')
			p++;
		if (!eq || eq <= p)
			goto bad;
		size_t tl = (size_t)(eq - p), vl = (size_t)(stop - eq - 1);
		const char *v = eq + 1;
		const char *type = NULL;
		for (size_t i = 0; i < BW_ARRAY_LEN(subject_types); i++)
			if (strlen(subject_types[i]) == tl &&
			    strncmp(subject_types[i], p, tl) == 0)
				type = subject_types[i];
		if (!type || vl == 0 || vl > 64)
			goto bad;
		for (size_t i = 0; i < vl; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				goto bad;
		if (strcmp(type, "C") == 0 && vl != 2)
			goto bad;
		if (strcmp(type, "CN") == 0)
			have_cn = true;
		if (!X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
						(const unsigned char *)v, (int)vl, -1, 0)) {
			ERR_clear_error();
			goto bad;
		}
		p = comma ? comma + 1 : end;
	}
	if (!have_cn)
		goto bad;
	return name;
bad:
	X509_NAME_free(name);
	bw_err_set(err, 400, PKI_MOD, "bad_subject",
		   "subject must be TYPE=value pairs separated by ',' with a CN "
		   "(types CN, O, OU, C, ST, L, DC, serialNumber; values 1 to 64 "
		   "printable bytes)");
	return NULL;
}

static GENERAL_NAME *gn_string(int type, const char *s, size_t len)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *v = ASN1_IA5STRING_new();
	if (!g || !v || !ASN1_STRING_set(v, s, (int)len)) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(v);
		return NULL;
	}
	GENERAL_NAME_set0_value(g, type, v);
	return g;
}

static GENERAL_NAME *gn_ip(const uint8_t *b, size_t len)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	if (!g || !v || !ASN1_OCTET_STRING_set(v, b, (int)len)) {
		GENERAL_NAME_free(g);
		ASN1_OCTET_STRING_free(v);
		return NULL;
	}
	GENERAL_NAME_set0_value(g, GEN_IPADD, v);
	return g;
}

static int add_ext_i2d(X509 *x, int nid, void *v, int crit)
{
	return X509_add1_ext_i2d(x, nid, v, crit, X509V3_ADD_REPLACE) == 1 ? 0 : -1;
}

static int add_ext_conf(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

static int add_sans(X509 *x, const struct pki_names *names, bool critical)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	if (!gens)
		return -1;
	for (size_t i = 0; i < names->n; i++) {
		const struct pki_name *n = &names->v[i];
		GENERAL_NAME *g =
			n->type == PKI_NAME_IP ? gn_ip(n->ip, n->iplen) :
			gn_string(n->type == PKI_NAME_DNS ? GEN_DNS : GEN_URI,
				  n->text, strlen(n->text));
		if (!g || !sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			GENERAL_NAMES_free(gens);
			return -1;
		}
	}
	int rc = add_ext_i2d(x, NID_subject_alt_name, gens, critical);
	GENERAL_NAMES_free(gens);
	return rc;
}

static int add_urls(struct pki *p, X509 *x, const char *ca_id)
{
	if (!p->public_url[0])
		return 0;
	char ocsp[PKI_URL_MAX + 64], issuer[PKI_URL_MAX + 64], crl[PKI_URL_MAX + 64];
	if (bw_snprintf(ocsp, sizeof(ocsp), "%s/ocsp/%s", p->public_url, ca_id) < 0 ||
	    bw_snprintf(issuer, sizeof(issuer), "%s/ca/%s.crt", p->public_url, ca_id) < 0 ||
	    bw_snprintf(crl, sizeof(crl), "%s/crl/%s.crl", p->public_url, ca_id) < 0)
		return -1;
	int rc = -1;
	AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
	CRL_DIST_POINTS *cdp = sk_DIST_POINT_new_null();
	if (!aia || !cdp)
		goto out;
	const struct { int nid; const char *url; } ads[] = {
		{ NID_ad_OCSP, ocsp }, { NID_ad_ca_issuers, issuer },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(ads); i++) {
		ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
		GENERAL_NAME *g = gn_string(GEN_URI, ads[i].url, strlen(ads[i].url));
		if (!ad || !g || !sk_ACCESS_DESCRIPTION_push(aia, ad)) {
			ACCESS_DESCRIPTION_free(ad);
			GENERAL_NAME_free(g);
			goto out;
		}
		ASN1_OBJECT_free(ad->method);
		ad->method = OBJ_nid2obj(ads[i].nid);
		GENERAL_NAME_free(ad->location);
		ad->location = g;
	}
	DIST_POINT *dp = DIST_POINT_new();
	DIST_POINT_NAME *dpn = DIST_POINT_NAME_new();
	GENERAL_NAMES *full = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = gn_string(GEN_URI, crl, strlen(crl));
	if (!dp || !dpn || !full || !g || !sk_GENERAL_NAME_push(full, g)) {
		DIST_POINT_free(dp);
		DIST_POINT_NAME_free(dpn);
		GENERAL_NAMES_free(full);
		GENERAL_NAME_free(g);
		goto out;
	}
	dpn->type = 0;
	dpn->name.fullname = full;
	dp->distpoint = dpn;
	if (!sk_DIST_POINT_push(cdp, dp)) {
		DIST_POINT_free(dp);
		goto out;
	}
	if (add_ext_i2d(x, NID_info_access, aia, 0) < 0 ||
	    add_ext_i2d(x, NID_crl_distribution_points, cdp, 0) < 0)
		goto out;
	rc = 0;
out:
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS_free(cdp);
	return rc;
}

static int add_subtrees(STACK_OF(GENERAL_SUBTREE) **st, int type,
			const char *const *v, size_t n, struct bw_err *err)
{
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *g = NULL;
		const char *s = v[i];
		size_t len = s ? strlen(s) : 0;
		if (type == GEN_IPADD) {
			uint8_t a[32];
			uint8_t alen;
			unsigned pfx;
			if (!s || pki_cidr_parse(s, a, &alen, &pfx) < 0)
				return bw_err_set(err, 400, PKI_MOD, "bad_constraint",
						  "IP constraint is not a CIDR range");
			memset(a + alen, 0, alen);
			for (unsigned b = 0; b < pfx; b++)
				a[alen + b / 8] |= (uint8_t)(0x80u >> (b % 8));
			g = gn_ip(a, 2u * alen);
		} else {
			size_t off = len > 0 && s[0] == '.' ? 1 : 0;
			if (len == 0 || pki_dns_check(s + off, len - off, false, err) < 0)
				return bw_err_set(err, 400, PKI_MOD, "bad_constraint",
						  "name constraint \"%.64s\" is not a "
						  "domain name", s ? s : "");
			g = gn_string(type, s, len);
		}
		GENERAL_SUBTREE *t = GENERAL_SUBTREE_new();
		if (!g || !t) {
			GENERAL_NAME_free(g);
			GENERAL_SUBTREE_free(t);
			return pki_err_ssl(err, "memory", "name constraint");
		}
		GENERAL_NAME_free(t->base);
		t->base = g;
		if (!*st)
			*st = sk_GENERAL_SUBTREE_new_null();
		if (!*st || !sk_GENERAL_SUBTREE_push(*st, t)) {
			GENERAL_SUBTREE_free(t);
			return pki_err_ssl(err, "memory", "name constraint");
		}
	}
	return 0;
}

static int add_name_constraints(X509 *x, const struct pki_name_constraints *nc,
				struct bw_err *err)
{
	size_t total = nc->n_permitted_dns + nc->n_excluded_dns + nc->n_permitted_ip +
		       nc->n_excluded_ip + nc->n_permitted_uri + nc->n_excluded_uri;
	if (total == 0)
		return 0;
	if (total > PKI_NC_MAX)
		return bw_err_set(err, 400, PKI_MOD, "bad_constraint",
				  "more than %d name constraints", PKI_NC_MAX);
	NAME_CONSTRAINTS *c = NAME_CONSTRAINTS_new();
	if (!c)
		return pki_err_ssl(err, "memory", "name constraints");
	int rc = -1;
	if (add_subtrees(&c->permittedSubtrees, GEN_DNS, nc->permitted_dns,
			 nc->n_permitted_dns, err) < 0 ||
	    add_subtrees(&c->excludedSubtrees, GEN_DNS, nc->excluded_dns,
			 nc->n_excluded_dns, err) < 0 ||
	    add_subtrees(&c->permittedSubtrees, GEN_IPADD, nc->permitted_ip,
			 nc->n_permitted_ip, err) < 0 ||
	    add_subtrees(&c->excludedSubtrees, GEN_IPADD, nc->excluded_ip,
			 nc->n_excluded_ip, err) < 0 ||
	    add_subtrees(&c->permittedSubtrees, GEN_URI, nc->permitted_uri,
			 nc->n_permitted_uri, err) < 0 ||
	    add_subtrees(&c->excludedSubtrees, GEN_URI, nc->excluded_uri,
			 nc->n_excluded_uri, err) < 0)
		goto out;
	/* RFC 5280 4.2.1.10: conforming CAs MUST mark it critical. */
	if (add_ext_i2d(x, NID_name_constraints, c, 1) < 0) {
		pki_err_ssl(err, "encode", "name constraints");
		goto out;
	}
	rc = 0;
out:
	NAME_CONSTRAINTS_free(c);
	return rc;
}

static bool is_rsa(EVP_PKEY *k)
{
	return EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
}

static int add_profile_exts(X509 *x, X509V3_CTX *ctx, const struct pki_tbs *t,
			    struct bw_err *err)
{
	bool ca = t->profile == PKI_PROFILE_SUB_CA || t->profile == PKI_PROFILE_NONE;
	if (ca) {
		BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
		if (!bc)
			return pki_err_ssl(err, "memory", "basicConstraints");
		bc->ca = 0xFF; /* DER: TRUE is 0xFF (strict parsers such as Go refuse 0x01) */
		if (t->path_len >= 0) {
			bc->pathlen = ASN1_INTEGER_new();
			if (!bc->pathlen || !ASN1_INTEGER_set(bc->pathlen, t->path_len)) {
				BASIC_CONSTRAINTS_free(bc);
				return pki_err_ssl(err, "memory", "pathLen");
			}
		}
		int rc = add_ext_i2d(x, NID_basic_constraints, bc, 1);
		BASIC_CONSTRAINTS_free(bc);
		if (rc < 0 ||
		    add_ext_conf(x, ctx, NID_key_usage,
				 "critical,keyCertSign,cRLSign,digitalSignature") < 0)
			return pki_err_ssl(err, "encode", "CA extensions");
		if (t->nc && add_name_constraints(x, t->nc, err) < 0)
			return -1;
		return 0;
	}
	const char *ku = "critical,digitalSignature";
	const char *eku = NULL;
	bool rsa = is_rsa(t->pub);
	switch (t->profile) {
	case PKI_PROFILE_TLS_SERVER:
		/* RSA key exchange (TLS 1.2 static RSA) needs
		 * keyEncipherment; ECDHE with any key does not. */
		ku = rsa ? "critical,digitalSignature,keyEncipherment" : ku;
		eku = "serverAuth";
		break;
	case PKI_PROFILE_TLS_CLIENT:
		eku = "clientAuth";
		break;
	case PKI_PROFILE_CODE_SIGNING:
		eku = "codeSigning";
		break;
	case PKI_PROFILE_SERVICE:
		ku = rsa ? "critical,digitalSignature,keyEncipherment" : ku;
		eku = "serverAuth,clientAuth";
		break;
	case PKI_PROFILE_OCSP:
		eku = "OCSPSigning";
		break;
	default:
		return bw_err_set(err, 400, PKI_MOD, "profile", "unknown profile");
	}
	if (add_ext_conf(x, ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext_conf(x, ctx, NID_key_usage, ku) < 0 ||
	    add_ext_conf(x, ctx, NID_ext_key_usage, eku) < 0)
		return pki_err_ssl(err, "encode", "profile extensions");
	if (t->profile == PKI_PROFILE_OCSP) {
		/* id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): clients need
		 * not check the responder certificate's own revocation. */
		ASN1_NULL *nul = ASN1_NULL_new();
		int rc = nul ? add_ext_i2d(x, NID_id_pkix_OCSP_noCheck, nul, 0) : -1;
		ASN1_NULL_free(nul);
		if (rc < 0)
			return pki_err_ssl(err, "encode", "ocsp-nocheck");
	}
	return 0;
}

X509 *pki_build_cert(struct pki *p, const struct pki_ca *ca,
		     const struct pki_signer *signer, const struct pki_tbs *t,
		     struct bw_err *err)
{
	X509 *x = X509_new(), *out = NULL;
	BIGNUM *bn = NULL;
	X509_NAME *subj = NULL;
	if (!x)
		goto ssl;
	bn = BN_bin2bn(t->serial, PKI_SERIAL_BYTES, NULL);
	if (!X509_set_version(x, X509_VERSION_3) || !bn ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto ssl;
	if (t->subject) {
		if (!X509_set_subject_name(x, t->subject))
			goto ssl;
	} else {
		subj = X509_NAME_new();
		if (!subj)
			goto ssl;
		if (t->cn && *t->cn &&
		    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
						(const unsigned char *)t->cn, -1, -1, 0))
			goto ssl;
		if (!X509_set_subject_name(x, subj))
			goto ssl;
	}
	if (!X509_set_issuer_name(x, t->self_signed ? X509_get_subject_name(x) :
						      X509_get_subject_name(ca->cert)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)t->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)t->not_after) ||
	    !X509_set_pubkey(x, t->pub))
		goto ssl;

	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, t->self_signed ? x : ca->cert, x, NULL, NULL, 0);
	if (add_profile_exts(x, &ctx, t, err) < 0)
		goto out;
	if (add_ext_conf(x, &ctx, NID_subject_key_identifier, "hash") < 0)
		goto ssl;
	if (!t->self_signed &&
	    add_ext_conf(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
		goto ssl;
	if (t->names && t->names->n > 0) {
		bool empty_subject = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
		if (add_sans(x, t->names, empty_subject) < 0)
			goto ssl;
	}
	if (!t->self_signed && !t->no_urls && add_urls(p, x, ca->id) < 0)
		goto ssl;
	out = pki_sign_cert(signer, x, err);
	goto out;
ssl:
	pki_err_ssl(err, "encode", "certificate");
out:
	BN_free(bn);
	X509_NAME_free(subj);
	X509_free(x);
	return out;
}
