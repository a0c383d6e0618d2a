/*
 * pki_issue.c — issuing one certificate: request checks, profile rules,
 * tenant policy, building and signing, the chain self-check, the
 * inventory row and the first OCSP response.
 *
 * Invariants:
 *  - nothing is signed before every check passed; nothing is returned or
 *    stored that does not verify up to its root with OpenSSL's own path
 *    validation (the self-check catches profile, name-constraint and
 *    path-length mistakes before a relying party does);
 *  - a certificate never names what its CSR did not ask for: names given
 *    with the request may only narrow the CSR's list;
 *  - a CSR carrying the issuing CA's own public key is refused;
 *  - a generated private key leaves this function only in out->key_pem
 *    (secure-heap BIO, wiped by pki_issued_fini) and is never stored.
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

static const char *const profile_names[PKI_PROFILE_MAX_] = {
	[PKI_PROFILE_TLS_SERVER] = "tls-server",
	[PKI_PROFILE_TLS_CLIENT] = "tls-client",
	[PKI_PROFILE_CODE_SIGNING] = "code-signing",
	[PKI_PROFILE_SERVICE] = "service",
	[PKI_PROFILE_SUB_CA] = "sub-ca",
	[PKI_PROFILE_OCSP] = "ocsp",
};

const char *pki_profile_name(enum pki_profile p)
{
	if ((int)p <= 0 || p >= PKI_PROFILE_MAX_)
		return "none";
	return profile_names[p];
}

enum pki_profile pki_profile_from_name(const char *s)
{
	for (int i = 1; s && i < PKI_PROFILE_MAX_; i++)
		if (strcmp(s, profile_names[i]) == 0)
			return (enum pki_profile)i;
	return PKI_PROFILE_NONE;
}

void pki_issued_fini(struct pki_issued *out)
{
	free(out->der);
	out->der = NULL;
	if (out->key_pem) {
		bw_wipe(out->key_pem, out->key_pem_len);
		free(out->key_pem);
		out->key_pem = NULL;
	}
}

static int add_list(struct pki_names *n, enum pki_name_type t,
		    const char *const *v, size_t nv, struct bw_err *err)
{
	for (size_t i = 0; i < nv; i++) {
		if (!v[i])
			return bw_err_set(err, 400, PKI_MOD, "bad_name", "NULL name");
		if (pki_names_add(n, t, v[i], strlen(v[i]), err) < 0)
			return -1;
	}
	return 0;
}

/* The profile's own rules on names and CN (policy comes later). */
static int profile_check(enum pki_profile prof, const char *cn,
			 const struct pki_names *n, struct bw_err *err)
{
	size_t dns = 0, ip = 0, uri = 0;
	for (size_t i = 0; i < n->n; i++) {
		dns += n->v[i].type == PKI_NAME_DNS;
		ip += n->v[i].type == PKI_NAME_IP;
		uri += n->v[i].type == PKI_NAME_URI;
	}
	switch (prof) {
	case PKI_PROFILE_TLS_SERVER:
		if (dns + ip == 0)
			return bw_err_set(err, 400, PKI_MOD, "profile",
					  "a TLS server certificate needs a DNS or "
					  "IP name");
		return 0;
	case PKI_PROFILE_TLS_CLIENT:
		if (n->n == 0 && !*cn)
			return bw_err_set(err, 400, PKI_MOD, "profile",
					  "a TLS client certificate needs a name "
					  "or a common name");
		return 0;
	case PKI_PROFILE_CODE_SIGNING:
	case PKI_PROFILE_SUB_CA:
		if (!*cn)
			return bw_err_set(err, 400, PKI_MOD, "profile",
					  "this profile needs a common name");
		if (prof == PKI_PROFILE_SUB_CA && n->n)
			return bw_err_set(err, 400, PKI_MOD, "profile",
					  "a CA certificate carries no SANs here");
		return 0;
	case PKI_PROFILE_SERVICE:
		/* SPIFFE X.509-SVID: exactly one URI SAN, the SPIFFE ID. */
		if (uri != 1)
			return bw_err_set(err, 400, PKI_MOD, "profile",
					  "a service identity needs exactly one "
					  "URI name (its SPIFFE ID)");
		for (size_t i = 0; i < n->n; i++)
			if (n->v[i].type == PKI_NAME_URI &&
			    strncmp(n->v[i].text, "spiffe://", 9) != 0)
				return bw_err_set(err, 400, PKI_MOD, "profile",
						  "the service identity's URI must "
						  "be a spiffe:// ID");
		return 0;
	default:
		return bw_err_set(err, 400, PKI_MOD, "profile",
				  "unknown or internal profile");
	}
}

/* OpenSSL path validation of the new certificate under ca's chain. */
static int self_check(struct pki *p, struct pki_ca *ca, X509 *x,
		      enum pki_profile prof, struct bw_err *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int rc = -1;
	if (!st || !ctx || !untrusted)
		goto ssl;
	pthread_rwlock_rdlock(&p->mu);
	X509 *top = ca->cert;
	if (!sk_X509_push(untrusted, ca->cert))
		top = NULL;
	for (int i = 0; top && ca->chain && i < sk_X509_num(ca->chain); i++) {
		top = sk_X509_value(ca->chain, i);
		if (!sk_X509_push(untrusted, top))
			top = NULL;
	}
	/* The anchor is the top of the chain we know. For a CA whose offline
	 * root did not come with a chain, partial chains are accepted so the
	 * check still covers everything below. */
	int ok = top && X509_STORE_add_cert(st, top);
	pthread_rwlock_unlock(&p->mu);
	if (!ok)
		goto ssl;
	X509_VERIFY_PARAM *vp = X509_STORE_get0_param(st);
	X509_VERIFY_PARAM_set_time(vp, (time_t)bw_clock_now_s());
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	if (!X509_STORE_CTX_init(ctx, st, x, untrusted))
		goto ssl;
	if (prof == PKI_PROFILE_TLS_SERVER)
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	else if (prof == PKI_PROFILE_TLS_CLIENT)
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		bw_err_set(err, 500, PKI_MOD, "self_check",
			   "the new certificate does not validate: %s",
			   X509_verify_cert_error_string(e));
		log_warnx("pki: CA %s: issued certificate failed its self-check: %s",
			  ca->id, X509_verify_cert_error_string(e));
		goto out;
	}
	rc = 0;
	goto out;
ssl:
	pki_err_ssl(err, "verify", "self-check");
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

static int key_pem(EVP_PKEY *k, struct pki_issued *out, struct bw_err *err)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data;
	if (!b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return pki_err_ssl(err, "encode", "private key");
	}
	long n = BIO_get_mem_data(b, &data);
	out->key_pem = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (!out->key_pem) {
		BIO_free(b);
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	}
	memcpy(out->key_pem, data, (size_t)n);
	out->key_pem[n] = '\0';
	out->key_pem_len = (size_t)n;
	BIO_free(b);
	return 0;
}

static int issue(struct pki *p, const struct pki_issue_req *req,
		 struct pki_issued *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	enum pki_profile prof = req->profile;
	if (prof <= PKI_PROFILE_NONE || prof >= PKI_PROFILE_OCSP)
		return bw_err_set(err, 400, PKI_MOD, "profile", "unknown profile");
	if (prof == PKI_PROFILE_SUB_CA && !req->skip_policy)
		return bw_err_set(err, 403, PKI_MOD, "policy",
				  "subordinate CAs are issued by CA administrators only");
	struct pki_ca *ca = pki_ca_lookup(p, req->tenant, req->ca_id, err);
	if (!ca)
		return -1;
	pthread_rwlock_rdlock(&p->mu);
	bool active = ca->state == PKI_CA_ACTIVE && ca->cert && ca->signer;
	pthread_rwlock_unlock(&p->mu);
	if (!active)
		return bw_err_set(err, 409, PKI_MOD, "ca_not_active",
				  "the CA is not active");

	struct pki_csr csr = { 0 };
	struct pki_names names = { .n = 0 };
	struct pki_policy pol = { 0 };
	EVP_PKEY *gen = NULL, *pub;
	enum pki_key_type kt;
	X509 *x = NULL;
	int rc = -1;
	char cn[PKI_CN_MAX + 1] = "";

	if (req->csr) {
		if (pki_csr_parse(req->csr, req->csr_len, PKI_CSR_MAX_DEFAULT, &csr,
				  err) < 0)
			return -1;
		pub = csr.pub;
		kt = csr.key_type;
		if (EVP_PKEY_eq(pub, ca->signer->pub) == 1) {
			bw_err_set(err, 400, PKI_MOD, "key_reuse",
				   "the CSR carries the CA's own key");
			goto out;
		}
		ERR_clear_error();
	} else {
		kt = req->gen_key;
		gen = pki_key_generate(kt, err);
		if (!gen)
			goto out;
		pub = gen;
	}

	if (add_list(&names, PKI_NAME_DNS, req->dns, req->ndns, err) < 0 ||
	    add_list(&names, PKI_NAME_IP, req->ips, req->nips, err) < 0 ||
	    add_list(&names, PKI_NAME_URI, req->uris, req->nuris, err) < 0)
		goto out;
	if (req->csr && names.n) {
		for (size_t i = 0; i < names.n; i++)
			if (!pki_names_has(&csr.names, names.v[i].type, names.v[i].text)) {
				bw_err_set(err, 400, PKI_MOD, "bad_name",
					   "name %.200s is not in the CSR",
					   names.v[i].text);
				goto out;
			}
	} else if (req->csr) {
		names = csr.names;
		csr.names.n = 0; /* moved */
	}
	if (req->common_name && *req->common_name) {
		size_t l = strlen(req->common_name);
		if (l > PKI_CN_MAX) {
			bw_err_set(err, 400, PKI_MOD, "bad_name",
				   "common name longer than %d bytes", PKI_CN_MAX);
			goto out;
		}
		if (req->csr && strcmp(req->common_name, csr.cn) != 0 &&
		    !pki_names_has(&names, PKI_NAME_DNS, req->common_name)) {
			bw_err_set(err, 400, PKI_MOD, "bad_name",
				   "common name is not in the CSR");
			goto out;
		}
		memcpy(cn, req->common_name, l + 1);
	} else if (req->csr && csr.cn[0]) {
		memcpy(cn, csr.cn, sizeof(cn));
	} else if (prof == PKI_PROFILE_TLS_SERVER) {
		/* Old clients still read the CN: give them the first DNS name. */
		for (size_t i = 0; i < names.n && !cn[0]; i++)
			if (names.v[i].type == PKI_NAME_DNS &&
			    strlen(names.v[i].text) <= PKI_CN_MAX)
				bw_snprintf(cn, sizeof(cn), "%s", names.v[i].text);
	}
	if (profile_check(prof, cn, &names, err) < 0)
		goto out;

	int64_t validity = req->validity_s;
	if (!req->skip_policy) {
		int found = pki_policy_load(p, req->tenant, &pol, err);
		if (found < 0)
			goto out;
		if (found == 0) {
			bw_err_set(err, 403, PKI_MOD, "policy",
				   "the tenant has no issuance policy");
			goto out;
		}
		if (validity == 0)
			validity = pol.max_validity_s < PKI_LEAF_VALIDITY_DEFAULT_S ?
					   pol.max_validity_s :
					   PKI_LEAF_VALIDITY_DEFAULT_S;
	} else if (validity == 0) {
		validity = prof == PKI_PROFILE_SUB_CA ? PKI_CA_VALIDITY_DEFAULT_S :
							PKI_LEAF_VALIDITY_DEFAULT_S;
	}
	int64_t vmax = prof == PKI_PROFILE_SUB_CA ? PKI_CA_VALIDITY_MAX_S :
						    PKI_LEAF_VALIDITY_MAX_S;
	if (validity < 60 || validity > vmax) {
		bw_err_set(err, 400, PKI_MOD, "validity",
			   "validity must be 60 to %lld s", (long long)vmax);
		goto out;
	}
	if (!req->skip_policy &&
	    pki_policy_check(&pol, prof, kt, cn, &names, validity, err) < 0)
		goto out;

	int path_len = -1;
	if (prof == PKI_PROFILE_SUB_CA) {
		path_len = req->path_len;
		if (ca->path_len == 0) {
			bw_err_set(err, 400, PKI_MOD, "path_len",
				   "the CA allows no subordinate CA");
			goto out;
		}
		if (ca->path_len > 0 && (path_len < 0 || path_len >= ca->path_len))
			path_len = ca->path_len - 1;
	}

	int64_t now = bw_clock_now_s(), ca_na = 0;
	struct pki_tbs t = {
		.profile = prof, .pub = pub, .cn = cn, .names = &names,
		.not_before = now - PKI_BACKDATE_S, .not_after = now + validity,
		.path_len = path_len,
	};
	/* A certificate never outlives its issuer. */
	if (pki_time_to_epoch(X509_get0_notAfter(ca->cert), &ca_na) == 0 &&
	    t.not_after > ca_na)
		t.not_after = ca_na;
	/* A repeated 127-bit serial is astronomically unlikely; the store's
	 * primary key makes it a conflict, and we draw again. */
	for (int attempt = 0;; attempt++) {
		pki_serial_random(t.serial);
		x = pki_build_cert(p, ca, ca->signer, &t, err);
		if (!x || self_check(p, ca, x, prof, err) < 0)
			goto out;
		if (pki_store_cert(p, ca, x, prof, cn, err) == 0)
			break;
		X509_free(x);
		x = NULL;
		if (err && err->code == 409 && attempt < 3)
			continue;
		goto out;
	}
	pki_serial_hex(t.serial, PKI_SERIAL_BYTES, out->serial);
	out->not_before = t.not_before;
	out->not_after = t.not_after;
	if (pki_x509_to_der(x, &out->der, &out->der_len, err) < 0)
		goto out;
	if (gen && key_pem(gen, out, err) < 0)
		goto out;
	struct bw_err e2;
	if (pki_ocsp_presign(p, ca, t.serial, PKI_SERIAL_BYTES, &e2) < 0)
		log_warnx("pki: CA %s: pre-signing OCSP for %s: %s", ca->id,
			  out->serial, e2.msg);
	rc = 0;
out:
	if (rc < 0)
		pki_issued_fini(out);
	X509_free(x);
	EVP_PKEY_free(gen);
	pki_csr_fini(&csr);
	pki_names_fini(&names);
	pki_policy_fini(&pol);
	return rc;
}

int pki_issue(struct pki *p, const struct pki_issue_req *req,
	      struct pki_issued *out, struct bw_err *err)
{
	struct bw_err local;
	if (!err)
		err = &local;
	int rc = issue(p, req, out, err);
	if (rc == 0) {
		atomic_fetch_add(&p->issued, 1);
		pki_emit("certificate-issued", req->tenant, true, "certificate issued",
			 "serial", out->serial, "profile", pki_profile_name(req->profile));
	} else {
		if (err->code == 400 || err->code == 403 || err->code == 413)
			atomic_fetch_add(&p->issue_refused, 1);
		pki_emit("certificate-refused", req->tenant, false, err->msg,
			 "reason", err->reason, "profile", pki_profile_name(req->profile));
	}
	return rc;
}

int pki_cert_export(struct pki *p, const char *tenant, const char *serial,
		    enum pki_format fmt, bool chain, struct bw_buf *out,
		    struct bw_err *err)
{
	if (chain && fmt == PKI_DER)
		return bw_err_set(err, 400, PKI_MOD, "bad_format",
				  "a chain is available as PEM only");
	struct pki_cert_info info;
	struct bw_buf der;
	bw_buf_init(&der, PKI_CSR_MAX_HARD);
	int rc = pki_cert_get(p, tenant, serial, &info, &der, err);
	if (rc == 0) {
		rc = fmt == PKI_DER ? bw_buf_append(out, der.data, der.len) :
				      pki_append_pem(out, "CERTIFICATE",
						     (const uint8_t *)der.data, der.len);
		if (rc < 0)
			bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	}
	bw_buf_fini(&der);
	if (rc == 0 && chain) {
		struct pki_ca *ca = pki_ca_lookup(p, tenant, info.ca_id, err);
		if (!ca)
			return -1;
		if (pki_ca_chain_append(p, ca, true, out) < 0)
			return bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	}
	return rc;
}
