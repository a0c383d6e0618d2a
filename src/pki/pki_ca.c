/*
 * pki_ca.c — CA hierarchies per tenant: creating roots and intermediates,
 * the offline-root flow (CSR out, certificate in), the in-memory CA table
 * loaded at start, chains, and each CA's delegated OCSP responder.
 *
 * Invariants:
 *  - a CA belongs to one tenant, and every lookup by id checks it (an id
 *    from another tenant is "not found", never "forbidden", so ids do not
 *    leak across tenants);
 *  - an intermediate is created only under an ACTIVE CA of the same
 *    tenant whose pathLenConstraint allows it, and its own path length is
 *    below its parent's;
 *  - a PENDING CA gets a certificate only if it carries the CA's own
 *    public key, is a CA certificate with keyCertSign, is valid now and,
 *    when an issuer chain is given, verifies up to that chain's root;
 *  - CA records stay in memory until pki_free; fields replaced later
 *    (state, cert of a pending CA, responder, CRL) change under p->mu.
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

static struct pki_ca *ca_alloc(void)
{
	struct pki_ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return NULL;
	pthread_mutex_init(&ca->crl_mu, NULL);
	ca->path_len = -1;
	return ca;
}

void pki_responder_unref(struct pki_responder *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	X509_free(r->cert);
	X509_free(r->stand_in);
	pki_signer_free(r->signer);
	free(r);
}

void pki_ca_free(struct pki_ca *ca)
{
	if (!ca)
		return;
	pki_signer_free(ca->signer);
	X509_free(ca->cert);
	free(ca->cert_der);
	sk_X509_pop_free(ca->chain, X509_free);
	X509_REQ_free(ca->csr);
	pki_responder_unref(ca->resp);
	free(ca->crl_der);
	pthread_mutex_destroy(&ca->crl_mu);
	free(ca);
}

static void copy_str(char *dst, size_t cap, struct bw_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

int pki_ca_set_cert(struct pki_ca *ca, X509 *cert, struct bw_err *err)
{
	uint8_t *der = NULL;
	size_t len = 0;
	unsigned char *nder = NULL;
	if (pki_x509_to_der(cert, &der, &len, err) < 0)
		return -1;
	int nlen = i2d_X509_NAME(X509_get_subject_name(cert), &nder);
	const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(cert);
	if (nlen <= 0 || !key) {
		free(der);
		OPENSSL_free(nder);
		return pki_err_ssl(err, "encode", "CA name");
	}
	/* RFC 6960 4.1.1: issuerNameHash is over the DER of the issuer's
	 * name, issuerKeyHash over the subjectPublicKey BIT STRING value. */
	SHA1(nder, (size_t)nlen, ca->name_sha1);
	SHA256(nder, (size_t)nlen, ca->name_sha256);
	SHA1(key->data, (size_t)key->length, ca->key_sha1);
	SHA256(key->data, (size_t)key->length, ca->key_sha256);
	OPENSSL_free(nder);
	X509_free(ca->cert);
	free(ca->cert_der);
	ca->cert = cert;
	ca->cert_der = der;
	ca->cert_der_len = len;
	return 0;
}

void pki_ca_info_fill(const struct pki_ca *ca, struct pki_ca_info *info)
{
	memset(info, 0, sizeof(*info));
	bw_snprintf(info->id, sizeof(info->id), "%s", ca->id);
	bw_snprintf(info->tenant, sizeof(info->tenant), "%s", ca->tenant);
	bw_snprintf(info->name, sizeof(info->name), "%s", ca->name);
	bw_snprintf(info->parent_id, sizeof(info->parent_id), "%s", ca->parent_id);
	bw_snprintf(info->subject, sizeof(info->subject), "%s", ca->subject);
	bw_snprintf(info->key_id, sizeof(info->key_id), "%s", ca->key_id);
	info->key_type = ca->key_type;
	info->state = ca->state;
	info->root = ca->root;
	info->path_len = ca->path_len;
	info->crl_number = ca->crl_number;
	if (ca->cert) {
		if (pki_time_to_epoch(X509_get0_notBefore(ca->cert), &info->not_before) < 0)
			info->not_before = 0;
		if (pki_time_to_epoch(X509_get0_notAfter(ca->cert), &info->not_after) < 0)
			info->not_after = 0;
	}
}

struct pki_ca *pki_ca_find_locked(struct pki *p, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < p->ncas; i++)
		if (strcmp(p->cas[i]->id, id) == 0)
			return p->cas[i];
	return NULL;
}

struct pki_ca *pki_ca_lookup(struct pki *p, const char *tenant, const char *id,
			     struct bw_err *err)
{
	pthread_rwlock_rdlock(&p->mu);
	struct pki_ca *ca = pki_ca_find_locked(p, id);
	if (ca && tenant && strcmp(ca->tenant, tenant) != 0)
		ca = NULL;
	pthread_rwlock_unlock(&p->mu);
	if (!ca)
		bw_err_set(err, 404, PKI_MOD, "no_ca", "no such CA");
	return ca;
}

struct pki_responder *pki_ca_responder(struct pki *p, struct pki_ca *ca)
{
	pthread_rwlock_rdlock(&p->mu);
	struct pki_responder *r = ca->resp;
	if (r)
		atomic_fetch_add(&r->refs, 1);
	pthread_rwlock_unlock(&p->mu);
	return r;
}

/* ------------------------------------------------------------ loading */

static STACK_OF(X509) *chain_from_pem(const void *pem, size_t len)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *b = len ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *x;
	while (sk && b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error(); /* the loop ends on "no start line" */
	BIO_free(b);
	return sk;
}

struct load_ctx {
	struct pki *p;
	char (*ocsp_ids)[PKI_KEY_ID_MAX];
	X509 **ocsp_certs;
};

static int load_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct load_ctx *l = arg;
	struct pki *p = l->p;
	if (p->ncas >= PKI_CA_MAX)
		return bw_err_set(err, 500, PKI_MOD, "too_many_cas",
				  "more than %d CAs", PKI_CA_MAX);
	struct pki_ca *ca = ca_alloc();
	if (!ca)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	copy_str(ca->id, sizeof(ca->id), store_row_text(row, 0));
	copy_str(ca->tenant, sizeof(ca->tenant), store_row_text(row, 1));
	copy_str(ca->name, sizeof(ca->name), store_row_text(row, 2));
	copy_str(ca->parent_id, sizeof(ca->parent_id), store_row_text(row, 3));
	copy_str(ca->subject, sizeof(ca->subject), store_row_text(row, 4));
	copy_str(ca->key_id, sizeof(ca->key_id), store_row_text(row, 5));
	char kt[16];
	copy_str(kt, sizeof(kt), store_row_text(row, 6));
	ca->key_type = pki_key_type_from_name(kt);
	ca->state = (enum pki_ca_state)store_row_int64(row, 7);
	ca->root = store_row_int64(row, 8) != 0;
	ca->path_len = (int)store_row_int64(row, 9);
	size_t n;
	const unsigned char *d = store_row_blob(row, 10, &n);
	if (n > 0) {
		X509 *x = d2i_X509(NULL, &d, (long)n);
		if (!x || pki_ca_set_cert(ca, x, err) < 0) {
			X509_free(x);
			pki_ca_free(ca);
			return pki_err_ssl(err, "corrupt", "stored CA certificate");
		}
	}
	d = store_row_blob(row, 11, &n);
	if (n > 0)
		ca->csr = d2i_X509_REQ(NULL, &d, (long)n);
	const void *chain = store_row_blob(row, 12, &n);
	ca->chain = chain_from_pem(chain, n);
	ca->created = store_row_int64(row, 13);
	ca->crl_number = store_row_int64(row, 14);
	size_t i = p->ncas;
	copy_str(l->ocsp_ids[i], PKI_KEY_ID_MAX, store_row_text(row, 15));
	d = store_row_blob(row, 16, &n);
	l->ocsp_certs[i] = n ? d2i_X509(NULL, &d, (long)n) : NULL;
	ERR_clear_error();
	ca->idx = (uint32_t)p->ncas;
	p->cas[p->ncas++] = ca;
	return STORE_ROW_NEXT;
}

static int crl_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct pki_ca *ca = arg;
	size_t n;
	const void *d = store_row_blob(row, 3, &n);
	ca->crl_der = malloc(n ? n : 1);
	if (!ca->crl_der)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	memcpy(ca->crl_der, d, n);
	ca->crl_len = n;
	ca->crl_number = store_row_int64(row, 0);
	ca->crl_this_update = store_row_int64(row, 1);
	ca->crl_next_update = store_row_int64(row, 2);
	return STORE_ROW_STOP;
}

int pki_ca_load_all(struct pki *p, struct bw_err *err)
{
	struct load_ctx l = { .p = p };
	l.ocsp_ids = calloc(PKI_CA_MAX, sizeof(*l.ocsp_ids));
	l.ocsp_certs = calloc(PKI_CA_MAX, sizeof(*l.ocsp_certs));
	int rc = -1;
	if (!l.ocsp_ids || !l.ocsp_certs) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto out;
	}
	if (store_query(p->st,
			"SELECT id, tenant, name, parent_id, subject, key_id, key_type,"
			" state, root, path_len, cert, csr, chain, created, crl_number,"
			" ocsp_key_id, ocsp_cert FROM pki_ca ORDER BY created, id",
			NULL, 0, load_row, &l, err) < 0)
		goto out;
	for (size_t i = 0; i < p->ncas; i++) {
		struct pki_ca *ca = p->cas[i];
		struct bw_err e;
		ca->signer = p->keys->open(p->keys->ctx, ca->tenant, ca->key_id, &e);
		if (!ca->signer)
			log_warnx("pki: CA %s (%s): key %s does not open: %s", ca->id,
				  ca->name, ca->key_id, e.msg);
		/* Intermediates made here chain to their parent; imported ones
		 * keep the chain that came with their certificate. */
		struct pki_ca *parent = ca->parent_id[0] ?
					pki_ca_find_locked(p, ca->parent_id) : NULL;
		if (parent && parent->cert) {
			sk_X509_pop_free(ca->chain, X509_free);
			ca->chain = sk_X509_new_null();
			if (ca->chain && sk_X509_push(ca->chain, parent->cert))
				X509_up_ref(parent->cert);
			for (int j = 0; ca->chain && parent->chain &&
					j < sk_X509_num(parent->chain); j++) {
				X509 *x = sk_X509_value(parent->chain, j);
				if (sk_X509_push(ca->chain, x))
					X509_up_ref(x);
			}
		}
		if (l.ocsp_ids[i][0] && l.ocsp_certs[i]) {
			struct pki_responder *r = calloc(1, sizeof(*r));
			if (r) {
				atomic_init(&r->refs, 1);
				r->cert = l.ocsp_certs[i];
				l.ocsp_certs[i] = NULL;
				r->signer = p->keys->open(p->keys->ctx, ca->tenant,
							  l.ocsp_ids[i], &e);
				if (pki_time_to_epoch(X509_get0_notAfter(r->cert),
						      &r->not_after) < 0)
					r->not_after = 0;
				if (r->signer)
					r->stand_in = pki_sign_ocsp_stand_in(
						r->signer, r->cert, &e);
				if (!r->signer || !r->stand_in) {
					pki_responder_unref(r);
					r = NULL;
				}
			}
			ca->resp = r;
		}
		struct store_value v[] = { store_text_str(ca->id) };
		if (store_query_one(p->st,
				    "SELECT number, this_update, next_update, der"
				    " FROM pki_crl WHERE ca_id = ?",
				    v, 1, crl_row, ca, err) < 0)
			goto out;
	}
	rc = 0;
out:
	if (l.ocsp_certs)
		for (size_t i = 0; i < PKI_CA_MAX; i++)
			X509_free(l.ocsp_certs[i]);
	free(l.ocsp_certs);
	free(l.ocsp_ids);
	return rc;
}

/* ------------------------------------------------------------ creation */

static bool name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool tenant_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > PKI_TENANT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

struct ca_ins {
	struct pki_ca *ca;
	const uint8_t *csr_der;
	size_t csr_len;
	int64_t nb, na;
	struct pki_cert_ins *inv; /* inventory row under the parent, or NULL */
};

static int ca_insert_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct ca_ins *a = arg;
	struct pki_ca *ca = a->ca;
	struct store_value v[] = {
		store_text_str(ca->id), store_text_str(ca->tenant),
		store_text_str(ca->name),
		ca->parent_id[0] ? store_text_str(ca->parent_id) : store_null(),
		store_text_str(ca->subject), store_text_str(ca->key_id),
		store_text_str(pki_key_type_name(ca->key_type)),
		store_int(ca->state), store_bool(ca->root), store_int(ca->path_len),
		ca->cert_der ? store_blob(ca->cert_der, ca->cert_der_len) : store_null(),
		a->csr_der ? store_blob(a->csr_der, a->csr_len) : store_null(),
		store_null(), store_int(a->nb), store_int(a->na),
		store_int(ca->created), store_int(0),
	};
	if (store_tx_exec(tx,
			  "INSERT INTO pki_ca (id, tenant, name, parent_id, subject,"
			  " key_id, key_type, state, root, path_len, cert, csr, chain,"
			  " not_before, not_after, created, crl_number)"
			  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			  v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	return a->inv ? pki_cert_insert_tx(tx, a->inv, err) : 0;
}

static X509_REQ *build_ca_csr(const struct pki_signer *s, X509_NAME *subj,
			      int path_len, struct bw_err *err)
{
	X509_REQ *req = X509_REQ_new(), *out = NULL;
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	X509_EXTENSION *e1 = NULL, *e2 = NULL;
	if (!req || !exts || !bc || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, subj) || !X509_REQ_set_pubkey(req, s->pub))
		goto ssl;
	/* The request asks for what this CA needs; the offline root decides. */
	bc->ca = 0xFF; /* DER: TRUE is 0xFF (strict parsers such as Go refuse 0x01) */
	if (path_len >= 0) {
		bc->pathlen = ASN1_INTEGER_new();
		if (!bc->pathlen || !ASN1_INTEGER_set(bc->pathlen, path_len))
			goto ssl;
	}
	e1 = X509V3_EXT_i2d(NID_basic_constraints, 1, bc);
	e2 = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
				 "critical,keyCertSign,cRLSign,digitalSignature");
	if (!e1 || !e2 || !sk_X509_EXTENSION_push(exts, e1))
		goto ssl;
	e1 = NULL;
	if (!sk_X509_EXTENSION_push(exts, e2))
		goto ssl;
	e2 = NULL;
	if (!X509_REQ_add_extensions(req, exts))
		goto ssl;
	out = pki_sign_req(s, req, err);
	goto out;
ssl:
	pki_err_ssl(err, "encode", "CA request");
out:
	X509_EXTENSION_free(e1);
	X509_EXTENSION_free(e2);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	BASIC_CONSTRAINTS_free(bc);
	X509_REQ_free(req);
	return out;
}

static int add_to_table(struct pki *p, struct pki_ca *ca, struct bw_err *err)
{
	pthread_rwlock_wrlock(&p->mu);
	int rc = 0;
	if (p->ncas >= PKI_CA_MAX) {
		rc = bw_err_set(err, 503, PKI_MOD, "too_many_cas",
				"the CA table is full (%d)", PKI_CA_MAX);
	} else {
		ca->idx = (uint32_t)p->ncas;
		p->cas[p->ncas++] = ca;
	}
	pthread_rwlock_unlock(&p->mu);
	return rc;
}

/* After a CA became ACTIVE: its responder and first CRL. Failures are
 * logged; pki_tick retries both. */
static void ca_start_services(struct pki *p, struct pki_ca *ca)
{
	struct bw_err e;
	if (pki_ca_new_responder(p, ca, &e) < 0)
		log_warnx("pki: CA %s: OCSP responder: %s", ca->id, e.msg);
	if (pki_crl_generate_ca(p, ca, &e) < 0)
		log_warnx("pki: CA %s: CRL: %s", ca->id, e.msg);
}

int pki_ca_create(struct pki *p, const struct pki_ca_spec *spec,
		  struct pki_ca_info *info, struct bw_err *err)
{
	if (!tenant_ok(spec->tenant))
		return bw_err_set(err, 400, PKI_MOD, "bad_tenant", "bad tenant id");
	if (!name_ok(spec->name, PKI_NAME_MAX))
		return bw_err_set(err, 400, PKI_MOD, "bad_name",
				  "CA name must be 1 to %d of [a-z0-9._-]", PKI_NAME_MAX);
	if (spec->key_type <= PKI_KEY_NONE || spec->key_type >= PKI_KEY_TYPE_MAX_)
		return bw_err_set(err, 400, PKI_MOD, "key_type", "unknown key type");
	int64_t validity = spec->validity_s ? spec->validity_s : PKI_CA_VALIDITY_DEFAULT_S;
	if (validity < 3600 || validity > PKI_CA_VALIDITY_MAX_S)
		return bw_err_set(err, 400, PKI_MOD, "validity",
				  "CA validity must be 1 hour to %lld s",
				  (long long)PKI_CA_VALIDITY_MAX_S);
	if (spec->path_len < -1 || spec->path_len > 16)
		return bw_err_set(err, 400, PKI_MOD, "path_len",
				  "path length must be -1 (none) or 0 to 16");
	if (spec->external && spec->parent_id)
		return bw_err_set(err, 400, PKI_MOD, "bad_request",
				  "an external CA has an offline parent, not parent_id");

	struct pki_ca *parent = NULL;
	int path_len = spec->path_len;
	int64_t now = bw_clock_now_s();
	if (spec->parent_id) {
		parent = pki_ca_lookup(p, spec->tenant, spec->parent_id, err);
		if (!parent)
			return -1;
		pthread_rwlock_rdlock(&p->mu);
		bool active = parent->state == PKI_CA_ACTIVE && parent->cert &&
			      parent->signer;
		pthread_rwlock_unlock(&p->mu);
		if (!active)
			return bw_err_set(err, 409, PKI_MOD, "ca_not_active",
					  "the parent CA is not active");
		if (parent->path_len == 0)
			return bw_err_set(err, 400, PKI_MOD, "path_len",
					  "the parent CA allows no subordinate CA");
		if (parent->path_len > 0) {
			if (path_len < 0)
				path_len = parent->path_len - 1;
			else if (path_len >= parent->path_len)
				return bw_err_set(err, 400, PKI_MOD, "path_len",
						  "path length must be below the "
						  "parent's (%d)", parent->path_len);
		}
	}

	X509_NAME *subj = pki_subject_parse(spec->subject, err);
	if (!subj)
		return -1;
	int rc = -1;
	struct pki_ca *ca = ca_alloc();
	struct pki_cert_ins inv = { 0 };
	struct ca_ins ins = { 0 };
	unsigned char *csr_der = NULL;
	X509 *cert = NULL;
	bool in_table = false;
	if (!ca) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto out;
	}
	uint8_t rnd[PKI_ID_LEN / 2];
	bw_random(rnd, sizeof(rnd));
	bw_hex_encode(rnd, sizeof(rnd), ca->id);
	bw_snprintf(ca->tenant, sizeof(ca->tenant), "%s", spec->tenant);
	bw_snprintf(ca->name, sizeof(ca->name), "%s", spec->name);
	bw_snprintf(ca->subject, sizeof(ca->subject), "%s", spec->subject);
	if (parent)
		bw_snprintf(ca->parent_id, sizeof(ca->parent_id), "%s", parent->id);
	ca->key_type = spec->key_type;
	ca->path_len = path_len;
	ca->root = !parent && !spec->external;
	ca->created = now;

	if (p->keys->generate(p->keys->ctx, ca->tenant, spec->key_type, ca->key_id,
			      err) < 0)
		goto out;
	ca->signer = p->keys->open(p->keys->ctx, ca->tenant, ca->key_id, err);
	if (!ca->signer)
		goto out;

	if (spec->external) {
		ca->csr = build_ca_csr(ca->signer, subj, path_len, err);
		if (!ca->csr)
			goto out;
		int n = i2d_X509_REQ(ca->csr, &csr_der);
		if (n <= 0) {
			pki_err_ssl(err, "encode", "CA request");
			goto out;
		}
		ins.csr_der = csr_der;
		ins.csr_len = (size_t)n;
		ca->state = PKI_CA_PENDING;
	} else {
		struct pki_tbs t = {
			.profile = PKI_PROFILE_SUB_CA, .pub = ca->signer->pub,
			.subject = subj, .not_before = now - PKI_BACKDATE_S,
			.not_after = now + validity, .path_len = path_len,
			.nc = &spec->nc, .self_signed = parent == NULL,
		};
		if (parent) {
			int64_t pna;
			if (pki_time_to_epoch(X509_get0_notAfter(parent->cert), &pna) == 0 &&
			    t.not_after > pna)
				t.not_after = pna;
		}
		pki_serial_random(t.serial);
		cert = pki_build_cert(p, parent, parent ? parent->signer : ca->signer,
				      &t, err);
		if (!cert)
			goto out;
		if (pki_ca_set_cert(ca, cert, err) < 0)
			goto out;
		cert = NULL;
		ins.nb = t.not_before;
		ins.na = t.not_after;
		ca->state = PKI_CA_ACTIVE;
		if (parent) {
			ca->chain = sk_X509_new_null();
			if (!ca->chain)
				goto out;
			X509_up_ref(parent->cert);
			if (!sk_X509_push(ca->chain, parent->cert))
				X509_free(parent->cert);
			for (int j = 0; parent->chain && j < sk_X509_num(parent->chain); j++) {
				X509 *x = sk_X509_value(parent->chain, j);
				X509_up_ref(x);
				if (!sk_X509_push(ca->chain, x))
					X509_free(x);
			}
			if (pki_cert_ins_fill(&inv, parent, ca->cert, PKI_PROFILE_SUB_CA,
					      ca->subject, err) < 0)
				goto out;
			ins.inv = &inv;
		}
	}
	ins.ca = ca;
	if (store_write(p->st, ca_insert_job, &ins, err) < 0) {
		if (err && err->code == 409)
			bw_err_set(err, 409, PKI_MOD, "name_taken",
				   "a CA named %s exists in this tenant", ca->name);
		goto out;
	}
	if (add_to_table(p, ca, err) < 0)
		goto out;
	in_table = true;
	if (ca->state == PKI_CA_ACTIVE)
		ca_start_services(p, ca);
	if (info) {
		pthread_rwlock_rdlock(&p->mu);
		pki_ca_info_fill(ca, info);
		pthread_rwlock_unlock(&p->mu);
	}
	log_info("pki: tenant %s: CA %s (%s) created, %s, key %s", ca->tenant,
		 ca->id, ca->name,
		 ca->state == PKI_CA_PENDING ? "pending its certificate" :
		 ca->root ? "root" : "intermediate", ca->key_id);
	rc = 0;
out:
	X509_NAME_free(subj);
	X509_free(cert);
	OPENSSL_free(csr_der);
	pki_cert_ins_fini(&inv);
	if (!in_table)
		pki_ca_free(ca);
	return rc;
}

int pki_ca_get(struct pki *p, const char *tenant, const char *ca_id,
	       struct pki_ca_info *info, struct bw_err *err)
{
	struct pki_ca *ca = pki_ca_lookup(p, tenant, ca_id, err);
	if (!ca)
		return -1;
	pthread_rwlock_rdlock(&p->mu);
	pki_ca_info_fill(ca, info);
	pthread_rwlock_unlock(&p->mu);
	return 0;
}

int pki_ca_list(struct pki *p, const char *tenant,
		void (*fn)(void *arg, const struct pki_ca_info *ca), void *arg,
		struct bw_err *err)
{
	struct pki_ca_info *info = malloc(sizeof(*info));
	if (!info)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	pthread_rwlock_rdlock(&p->mu);
	for (size_t i = 0; i < p->ncas; i++) {
		if (strcmp(p->cas[i]->tenant, tenant) != 0)
			continue;
		pki_ca_info_fill(p->cas[i], info);
		fn(arg, info);
	}
	pthread_rwlock_unlock(&p->mu);
	free(info);
	return 0;
}

int pki_ca_csr_pem(struct pki *p, const char *tenant, const char *ca_id,
		   struct bw_buf *out, struct bw_err *err)
{
	struct pki_ca *ca = pki_ca_lookup(p, tenant, ca_id, err);
	if (!ca)
		return -1;
	int rc = -1;
	unsigned char *der = NULL;
	pthread_rwlock_rdlock(&p->mu);
	if (ca->state != PKI_CA_PENDING || !ca->csr) {
		bw_err_set(err, 409, PKI_MOD, "not_pending",
			   "the CA is not waiting for its certificate");
	} else {
		int n = i2d_X509_REQ(ca->csr, &der);
		if (n <= 0)
			pki_err_ssl(err, "encode", "CSR");
		else if (pki_append_pem(out, "CERTIFICATE REQUEST", der, (size_t)n) < 0)
			bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
		else
			rc = 0;
	}
	pthread_rwlock_unlock(&p->mu);
	OPENSSL_free(der);
	return rc;
}

static X509 *cert_decode(const char *s, size_t len, struct bw_err *err)
{
	X509 *x = NULL;
	if (len > PKI_CSR_MAX_HARD) {
		bw_err_set(err, 413, PKI_MOD, "too_large", "certificate too large");
		return NULL;
	}
	if (len >= 10 && memmem(s, len, "-----BEGIN", 10)) {
		BIO *b = BIO_new_mem_buf(s, (int)len);
		x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else if (len > 0) {
		const unsigned char *q = (const unsigned char *)s;
		x = d2i_X509(NULL, &q, (long)len);
		if (x && q != (const unsigned char *)s + len) {
			X509_free(x);
			x = NULL;
		}
	}
	ERR_clear_error();
	if (!x)
		bw_err_set(err, 400, PKI_MOD, "bad_cert",
			   "not an X.509 certificate (PEM or DER)");
	return x;
}

static int verify_with_chain(X509 *x, STACK_OF(X509) *chain, struct bw_err *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int rc = -1;
	if (!st || !ctx || !untrusted) {
		pki_err_ssl(err, "memory", "chain check");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		/* self-signed certificates are the anchors */
		if (X509_check_issued(c, c) == X509_V_OK)
			X509_STORE_add_cert(st, c);
		else
			sk_X509_push(untrusted, c);
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(st), (time_t)bw_clock_now_s());
	if (!X509_STORE_CTX_init(ctx, st, x, untrusted)) {
		pki_err_ssl(err, "verify", "chain check");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		bw_err_set(err, 400, PKI_MOD, "bad_chain",
			   "the certificate does not verify with the given chain: %s",
			   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

struct import_job {
	struct pki_ca *ca;
	const uint8_t *der;
	size_t der_len;
	const char *chain;
	size_t chain_len;
	int64_t nb, na;
};

static int import_tx(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct import_job *j = arg;
	struct store_value v[] = {
		store_blob(j->der, j->der_len),
		j->chain_len ? store_blob(j->chain, j->chain_len) : store_null(),
		store_int(PKI_CA_ACTIVE), store_int(j->nb), store_int(j->na),
		store_text_str(j->ca->id), store_int(PKI_CA_PENDING),
	};
	if (store_tx_exec(tx,
			  "UPDATE pki_ca SET cert = ?, chain = ?, state = ?, csr = NULL,"
			  " not_before = ?, not_after = ? WHERE id = ? AND state = ?",
			  v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return bw_err_set(err, 409, PKI_MOD, "not_pending",
				  "the CA is not waiting for its certificate");
	return 0;
}

int pki_ca_import_cert(struct pki *p, const char *tenant, const char *ca_id,
		       const char *cert, size_t len, const char *chain_pem,
		       size_t chain_len, struct bw_err *err)
{
	struct pki_ca *ca = pki_ca_lookup(p, tenant, ca_id, err);
	if (!ca)
		return -1;
	if (chain_len > 8 * PKI_CSR_MAX_HARD)
		return bw_err_set(err, 413, PKI_MOD, "too_large", "chain too large");
	X509 *x = cert_decode(cert, len, err);
	if (!x)
		return -1;
	int rc = -1;
	STACK_OF(X509) *chain = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int64_t now = bw_clock_now_s(), nb = 0, na = 0;
	pthread_rwlock_rdlock(&p->mu);
	bool pending = ca->state == PKI_CA_PENDING;
	pthread_rwlock_unlock(&p->mu);
	if (!pending) {
		bw_err_set(err, 409, PKI_MOD, "not_pending",
			   "the CA is not waiting for its certificate");
		goto out;
	}
	if (!ca->signer || EVP_PKEY_eq(X509_get0_pubkey(x), ca->signer->pub) != 1) {
		ERR_clear_error();
		bw_err_set(err, 400, PKI_MOD, "key_mismatch",
			   "the certificate is not for this CA's key");
		goto out;
	}
	if (X509_check_ca(x) < 1 || !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
		bw_err_set(err, 400, PKI_MOD, "not_ca",
			   "the certificate is not a CA certificate with keyCertSign");
		goto out;
	}
	if (pki_time_to_epoch(X509_get0_notBefore(x), &nb) < 0 ||
	    pki_time_to_epoch(X509_get0_notAfter(x), &na) < 0 || nb > now || na <= now) {
		bw_err_set(err, 400, PKI_MOD, "expired",
			   "the certificate is not valid now");
		goto out;
	}
	if (chain_len) {
		chain = chain_from_pem(chain_pem, chain_len);
		if (!chain || sk_X509_num(chain) == 0) {
			bw_err_set(err, 400, PKI_MOD, "bad_chain",
				   "the chain holds no PEM certificate");
			goto out;
		}
		if (verify_with_chain(x, chain, err) < 0)
			goto out;
	}
	if (pki_x509_to_der(x, &der, &der_len, err) < 0)
		goto out;
	struct import_job j = { ca, der, der_len, chain_pem, chain_len, nb, na };
	if (store_write(p->st, import_tx, &j, err) < 0)
		goto out;
	pthread_rwlock_wrlock(&p->mu);
	rc = pki_ca_set_cert(ca, x, err);
	if (rc == 0) {
		x = NULL;
		sk_X509_pop_free(ca->chain, X509_free);
		ca->chain = chain ? chain : sk_X509_new_null();
		chain = NULL;
		X509_REQ_free(ca->csr);
		ca->csr = NULL;
		ca->state = PKI_CA_ACTIVE;
	}
	pthread_rwlock_unlock(&p->mu);
	if (rc == 0) {
		ca_start_services(p, ca);
		log_info("pki: tenant %s: CA %s (%s) is active with its imported "
			 "certificate", ca->tenant, ca->id, ca->name);
	}
out:
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	free(der);
	return rc;
}

int pki_ca_retire(struct pki *p, const char *tenant, const char *ca_id,
		  struct bw_err *err)
{
	struct pki_ca *ca = pki_ca_lookup(p, tenant, ca_id, err);
	if (!ca)
		return -1;
	struct store_value v[] = { store_int(PKI_CA_RETIRED), store_text_str(ca->id) };
	if (store_exec(p->st, "UPDATE pki_ca SET state = ? WHERE id = ?", v, 2, NULL,
		       err) < 0)
		return -1;
	pthread_rwlock_wrlock(&p->mu);
	ca->state = PKI_CA_RETIRED;
	pthread_rwlock_unlock(&p->mu);
	return 0;
}

static int append_cert(struct bw_buf *out, X509 *x, enum pki_format fmt)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	if (n <= 0)
		return -1;
	int rc = fmt == PKI_DER ? bw_buf_append(out, der, (size_t)n) :
				  pki_append_pem(out, "CERTIFICATE", der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

int pki_ca_chain_append(struct pki *p, struct pki_ca *ca, bool self,
			struct bw_buf *out)
{
	int rc = 0;
	pthread_rwlock_rdlock(&p->mu);
	if (self && ca->cert)
		rc = append_cert(out, ca->cert, PKI_PEM);
	for (int i = 0; rc == 0 && ca->chain && i < sk_X509_num(ca->chain); i++)
		rc = append_cert(out, sk_X509_value(ca->chain, i), PKI_PEM);
	pthread_rwlock_unlock(&p->mu);
	return rc;
}

int pki_ca_cert(struct pki *p, const char *tenant, const char *ca_id,
		enum pki_format fmt, bool chain, struct bw_buf *out,
		struct bw_err *err)
{
	struct pki_ca *ca = pki_ca_lookup(p, tenant, ca_id, err);
	if (!ca)
		return -1;
	if (chain && fmt == PKI_DER)
		return bw_err_set(err, 400, PKI_MOD, "bad_format",
				  "a chain is available as PEM only");
	int rc = 0;
	pthread_rwlock_rdlock(&p->mu);
	if (!ca->cert)
		rc = bw_err_set(err, 409, PKI_MOD, "not_active",
				"the CA has no certificate yet");
	else if (append_cert(out, ca->cert, fmt) < 0)
		rc = bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	pthread_rwlock_unlock(&p->mu);
	if (rc == 0 && chain && pki_ca_chain_append(p, ca, false, out) < 0)
		rc = bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	return rc;
}

int pki_ca_cert_public(struct pki *p, const char *ca_id, struct bw_buf *out,
		       struct bw_err *err)
{
	int rc = 0;
	pthread_rwlock_rdlock(&p->mu);
	struct pki_ca *ca = pki_ca_find_locked(p, ca_id);
	if (!ca || !ca->cert_der)
		rc = bw_err_set(err, 404, PKI_MOD, "no_ca", "no such CA");
	else if (bw_buf_append(out, ca->cert_der, ca->cert_der_len) < 0)
		rc = bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	pthread_rwlock_unlock(&p->mu);
	return rc;
}

/* ------------------------------------------------------- OCSP responder */

struct resp_job {
	struct pki_ca *ca;
	const char *key_id;
	struct pki_cert_ins *inv;
};

static int resp_tx(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct resp_job *j = arg;
	struct store_value v[] = { store_text_str(j->key_id),
				   store_blob(j->inv->der, j->inv->der_len),
				   store_text_str(j->ca->id) };
	if (store_tx_exec(tx, "UPDATE pki_ca SET ocsp_key_id = ?, ocsp_cert = ?"
			      " WHERE id = ?", v, 3, err) < 0)
		return -1;
	return pki_cert_insert_tx(tx, j->inv, err);
}

int pki_ca_new_responder(struct pki *p, struct pki_ca *ca, struct bw_err *err)
{
	if (!ca->signer || !ca->cert)
		return bw_err_set(err, 409, PKI_MOD, "ca_not_active",
				  "the CA cannot sign");
	struct pki_responder *r = calloc(1, sizeof(*r));
	struct pki_cert_ins *inv = calloc(1, sizeof(*inv));
	char key_id[PKI_KEY_ID_MAX];
	int rc = -1;
	if (!r || !inv) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto out;
	}
	atomic_init(&r->refs, 1);
	/* Responder keys are P-256 whatever the CA's type: every OCSP client
	 * verifies ECDSA, and it keeps pre-signing cheap. */
	if (p->keys->generate(p->keys->ctx, ca->tenant, PKI_KEY_EC_P256, key_id, err) < 0)
		goto out;
	r->signer = p->keys->open(p->keys->ctx, ca->tenant, key_id, err);
	if (!r->signer)
		goto out;
	int64_t now = bw_clock_now_s(), ca_na;
	char cn[PKI_CN_MAX + 1];
	bw_snprintf(cn, sizeof(cn), "%.40s OCSP Responder", ca->name);
	struct pki_tbs t = {
		.profile = PKI_PROFILE_OCSP, .pub = r->signer->pub, .cn = cn,
		.not_before = now - PKI_BACKDATE_S,
		.not_after = now + p->ocsp_responder_validity_s, .path_len = -1,
		.no_urls = true,
	};
	if (pki_time_to_epoch(X509_get0_notAfter(ca->cert), &ca_na) == 0 &&
	    t.not_after > ca_na)
		t.not_after = ca_na;
	pki_serial_random(t.serial);
	r->cert = pki_build_cert(p, ca, ca->signer, &t, err);
	if (!r->cert)
		goto out;
	r->stand_in = pki_sign_ocsp_stand_in(r->signer, r->cert, err);
	if (!r->stand_in)
		goto out;
	r->not_after = t.not_after;
	if (pki_cert_ins_fill(inv, ca, r->cert, PKI_PROFILE_OCSP, cn, err) < 0)
		goto out;
	struct resp_job j = { ca, key_id, inv };
	if (store_write(p->st, resp_tx, &j, err) < 0)
		goto out;
	pthread_rwlock_wrlock(&p->mu);
	struct pki_responder *old = ca->resp;
	ca->resp = r;
	pthread_rwlock_unlock(&p->mu);
	r = NULL;
	pki_responder_unref(old);
	rc = 0;
out:
	if (inv)
		pki_cert_ins_fini(inv);
	free(inv);
	pki_responder_unref(r);
	return rc;
}
