/*
 * pki_csr.c — reading a certificate signing request (PKCS#10, RFC 2986)
 * from an untrusted requester.
 *
 * Invariants: nothing from a CSR is used before its size is bounded, it
 * parses completely (DER consumed exactly; PEM with one request block),
 * its self-signature verifies with the key it carries, and that key is
 * one bulwark accepts. Only the public key, the common name and the
 * subjectAltName request are taken from it; every other attribute and
 * requested extension is ignored, so a requester cannot choose key usage,
 * basic constraints or validity.
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

void pki_csr_fini(struct pki_csr *c)
{
	EVP_PKEY_free(c->pub);
	c->pub = NULL;
	pki_names_fini(&c->names);
}

static X509_REQ *decode(const char *p, size_t len, struct bw_err *err)
{
	X509_REQ *req = NULL;
	size_t skip = 0;
	while (skip < len && (p[skip] == ' ' || p[skip] == '\t' ||
			      p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	if (len - skip >= 10 && memcmp(p + skip, "-----BEGIN", 10) == 0) {
		BIO *b = BIO_new_mem_buf(p, (int)len);
		if (b)
			req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		const unsigned char *q = (const unsigned char *)p;
		req = d2i_X509_REQ(NULL, &q, (long)len);
		if (req && q != (const unsigned char *)p + len) {
			X509_REQ_free(req);
			ERR_clear_error();
			bw_err_set(err, 400, PKI_MOD, "csr_parse",
				   "bytes after the CSR");
			return NULL;
		}
	}
	if (!req) {
		ERR_clear_error();
		bw_err_set(err, 400, PKI_MOD, "csr_parse",
			   "not a PKCS#10 certificate request (PEM or DER)");
	}
	return req;
}

static int take_cn(X509_REQ *req, struct pki_csr *out, struct bw_err *err)
{
	const X509_NAME *subj = X509_REQ_get_subject_name(req);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(subj, NID_commonName, idx) >= 0)
		return bw_err_set(err, 400, PKI_MOD, "csr_subject",
				  "more than one common name");
	const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, v);
	if (n < 0) {
		ERR_clear_error();
		return bw_err_set(err, 400, PKI_MOD, "csr_subject",
				  "common name is not a valid string");
	}
	int rc = 0;
	if (n == 0 || n > PKI_CN_MAX || memchr(utf8, '\0', (size_t)n))
		rc = bw_err_set(err, 400, PKI_MOD, "csr_subject",
				"common name of %d bytes (1 to %d, no NUL)", n,
				PKI_CN_MAX);
	else
		memcpy(out->cn, utf8, (size_t)n), out->cn[n] = '\0';
	OPENSSL_free(utf8);
	return rc;
}

static int take_sans(X509_REQ *req, struct pki_csr *out, struct bw_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	ERR_clear_error();
	if (!exts)
		return 0;
	int crit = -1, rc = 0;
	GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		ERR_clear_error();
		if (crit == -2)
			rc = bw_err_set(err, 400, PKI_MOD, "csr_san",
					"more than one subjectAltName extension");
		else if (crit >= 0)
			rc = bw_err_set(err, 400, PKI_MOD, "csr_san",
					"malformed subjectAltName extension");
		goto out;
	}
	for (int i = 0; rc == 0 && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s;
		switch (g->type) {
		case GEN_DNS:
			s = g->d.dNSName;
			rc = pki_names_add(&out->names, PKI_NAME_DNS,
					   (const char *)ASN1_STRING_get0_data(s),
					   (size_t)ASN1_STRING_length(s), err);
			break;
		case GEN_URI:
			s = g->d.uniformResourceIdentifier;
			rc = pki_names_add(&out->names, PKI_NAME_URI,
					   (const char *)ASN1_STRING_get0_data(s),
					   (size_t)ASN1_STRING_length(s), err);
			break;
		case GEN_IPADD:
			s = g->d.iPAddress;
			rc = pki_names_add_ip_bytes(&out->names,
						    ASN1_STRING_get0_data(s),
						    (size_t)ASN1_STRING_length(s), err);
			break;
		default:
			rc = bw_err_set(err, 400, PKI_MOD, "csr_san",
					"subjectAltName of a type bulwark does not "
					"issue (only DNS, IP and URI)");
		}
	}
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

int pki_csr_parse(const char *p, size_t len, size_t max, struct pki_csr *out,
		  struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (max == 0 || max > PKI_CSR_MAX_HARD)
		max = PKI_CSR_MAX_HARD;
	if (len > max)
		return bw_err_set(err, 413, PKI_MOD, "too_large",
				  "CSR of %zu bytes (at most %zu)", len, max);
	if (len == 0)
		return bw_err_set(err, 400, PKI_MOD, "csr_parse", "empty CSR");
	X509_REQ *req = decode(p, len, err);
	if (!req)
		return -1;
	int rc = -1;
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		bw_err_set(err, 400, PKI_MOD, "csr_version", "CSR version is not v1");
		goto out;
	}
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	if (!pub) {
		ERR_clear_error();
		bw_err_set(err, 400, PKI_MOD, "key_type",
			   "CSR public key of an unknown algorithm");
		goto out;
	}
	out->key_type = pki_key_type_of(pub, err);
	if (out->key_type == PKI_KEY_NONE)
		goto out;
	/* The self-signature proves the requester holds the private key. */
	if (X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		bw_err_set(err, 400, PKI_MOD, "csr_signature",
			   "CSR signature does not verify");
		goto out;
	}
	if (take_cn(req, out, err) < 0 || take_sans(req, out, err) < 0)
		goto out;
	EVP_PKEY_up_ref(pub);
	out->pub = pub;
	rc = 0;
out:
	X509_REQ_free(req);
	if (rc < 0)
		pki_csr_fini(out);
	ERR_clear_error();
	return rc;
}
