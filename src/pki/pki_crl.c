/*
 * pki_crl.c — revocation and certificate revocation lists (RFC 5280
 * section 5).
 *
 * Invariants:
 *  - a revocation is durable in the store before any CRL or OCSP answer
 *    reflects it, and both are regenerated right after it;
 *  - CRL numbers of one CA strictly increase: generation is serialised
 *    per CA (crl_mu) and the number is stored in the same transaction as
 *    the CRL;
 *  - every CRL is v2 with cRLNumber and authorityKeyIdentifier, lists
 *    every revoked certificate of the CA that has not expired (with its
 *    reason code unless unspecified, as RFC 5280 5.3.1 advises), and
 *    carries a nextUpdate.
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/err.h>

static const struct {
	int code;
	const char *name;
} reasons[] = {
	{ PKI_REASON_UNSPECIFIED, "unspecified" },
	{ PKI_REASON_KEY_COMPROMISE, "keyCompromise" },
	{ PKI_REASON_CA_COMPROMISE, "cACompromise" },
	{ PKI_REASON_AFFILIATION_CHANGED, "affiliationChanged" },
	{ PKI_REASON_SUPERSEDED, "superseded" },
	{ PKI_REASON_CESSATION, "cessationOfOperation" },
	{ PKI_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn" },
};

int pki_reason_from_name(const char *s)
{
	for (size_t i = 0; s && i < BW_ARRAY_LEN(reasons); i++)
		if (strcmp(s, reasons[i].name) == 0)
			return reasons[i].code;
	return -1;
}

const char *pki_reason_name(int reason)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(reasons); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return NULL;
}

/* ------------------------------------------------------------ revoke */

struct revoke_job {
	const char *tenant, *serial;
	int reason;
	int64_t now;
	char ca_id[PKI_ID_LEN + 1];
};

struct status_row {
	bool found;
	int64_t status, reason;
	char ca_id[PKI_ID_LEN + 1];
};

static int status_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct status_row *s = arg;
	s->found = true;
	s->status = store_row_int64(row, 0);
	s->reason = store_row_int64(row, 1);
	struct bw_str id = store_row_text(row, 2);
	bw_snprintf(s->ca_id, sizeof(s->ca_id), "%.*s", (int)id.len, id.p);
	return STORE_ROW_STOP;
}

static int revoke_tx(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct revoke_job *j = arg;
	struct status_row s = { 0 };
	struct store_value k[] = { store_text_str(j->serial), store_text_str(j->tenant) };
	if (store_tx_query_one(tx, "SELECT status, reason, ca_id FROM pki_cert"
				   " WHERE serial = ? AND tenant = ?",
			       k, 2, status_cb, &s, err) < 0)
		return -1;
	if (!s.found)
		return bw_err_set(err, 404, PKI_MOD, "not_found", "no such certificate");
	memcpy(j->ca_id, s.ca_id, sizeof(j->ca_id));
	if (s.status == PKI_CERT_REVOKED) {
		/* RFC 5280 5.3.1: a reason may later become keyCompromise;
		 * the revocation date stays. */
		if (j->reason != PKI_REASON_KEY_COMPROMISE ||
		    s.reason == PKI_REASON_KEY_COMPROMISE)
			return bw_err_set(err, 409, PKI_MOD, "already_revoked",
					  "the certificate is already revoked");
		struct store_value v[] = { store_int(j->reason), store_text_str(j->serial) };
		return store_tx_exec(tx, "UPDATE pki_cert SET reason = ? WHERE serial = ?",
				     v, 2, err);
	}
	struct store_value v[] = { store_int(PKI_CERT_REVOKED), store_int(j->now),
				   store_int(j->reason), store_text_str(j->serial) };
	return store_tx_exec(tx, "UPDATE pki_cert SET status = ?, revoked_at = ?,"
				 " reason = ? WHERE serial = ?",
			     v, 4, err);
}

static bool serial_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 40 || n % 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int pki_revoke(struct pki *p, const char *tenant, const char *serial, int reason,
	       struct bw_err *err)
{
	if (!pki_reason_name(reason))
		return bw_err_set(err, 400, PKI_MOD, "bad_reason",
				  "unsupported revocation reason %d", reason);
	if (!serial_ok(serial))
		return bw_err_set(err, 400, PKI_MOD, "bad_serial",
				  "serial must be lower-case hex");
	struct revoke_job j = { tenant, serial, reason, bw_clock_now_s(), "" };
	if (store_write(p->st, revoke_tx, &j, err) < 0)
		return -1;
	atomic_fetch_add(&p->revoked, 1);
	pki_emit("certificate-revoked", tenant, true, "certificate revoked",
		 "serial", serial, "reason", pki_reason_name(reason));
	struct pki_ca *ca = pki_ca_lookup(p, NULL, j.ca_id, err);
	if (!ca)
		return -1;
	uint8_t sb[20];
	size_t sl;
	if (bw_hex_decode(serial, strlen(serial), sb, sizeof(sb), &sl) < 0)
		return bw_err_set(err, 400, PKI_MOD, "bad_serial", "bad serial");
	/* Both are refreshed by pki_tick if this fails; the revocation
	 * itself is durable already. */
	struct bw_err e;
	if (pki_crl_generate_ca(p, ca, &e) < 0)
		log_warnx("pki: CA %s: CRL after revoking %s: %s", ca->id, serial, e.msg);
	if (pki_ocsp_presign(p, ca, sb, sl, &e) < 0)
		log_warnx("pki: CA %s: OCSP after revoking %s: %s", ca->id, serial, e.msg);
	return 0;
}

/* ------------------------------------------------------------ CRL */

struct revoked_list {
	X509_CRL *crl;
	int failed;
};

static int revoked_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct revoked_list *l = arg;
	struct bw_str hex = store_row_text(row, 0);
	uint8_t sb[20];
	size_t sl;
	X509_REVOKED *r = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	ASN1_TIME *t = ASN1_TIME_new();
	ASN1_ENUMERATED *e = NULL;
	int reason = (int)store_row_int64(row, 2);
	if (!r || !t || bw_hex_decode(hex.p, hex.len, sb, sizeof(sb), &sl) < 0)
		goto bad;
	bn = BN_bin2bn(sb, (int)sl, NULL);
	ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (!ai || !X509_REVOKED_set_serialNumber(r, ai) ||
	    !ASN1_TIME_set(t, (time_t)store_row_int64(row, 1)) ||
	    !X509_REVOKED_set_revocationDate(r, t))
		goto bad;
	if (reason != PKI_REASON_UNSPECIFIED) {
		e = ASN1_ENUMERATED_new();
		if (!e || !ASN1_ENUMERATED_set(e, reason) ||
		    !X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0))
			goto bad;
	}
	if (!X509_CRL_add0_revoked(l->crl, r))
		goto bad;
	r = NULL;
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(e);
	return STORE_ROW_NEXT;
bad:
	X509_REVOKED_free(r);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(e);
	return pki_err_ssl(err, "encode", "revoked entry");
}

struct crl_job {
	const char *ca_id;
	int64_t number, this_update, next_update;
	const uint8_t *der;
	size_t len;
};

static int crl_tx(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct crl_job *j = arg;
	struct store_value v[] = { store_text_str(j->ca_id), store_int(j->number),
				   store_int(j->this_update), store_int(j->next_update),
				   store_blob(j->der, j->len) };
	if (store_tx_exec(tx,
			  "INSERT INTO pki_crl (ca_id, number, this_update, next_update,"
			  " der) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ca_id) DO UPDATE"
			  " SET number = excluded.number, this_update ="
			  " excluded.this_update, next_update = excluded.next_update,"
			  " der = excluded.der",
			  v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	struct store_value u[] = { store_int(j->number), store_text_str(j->ca_id) };
	return store_tx_exec(tx, "UPDATE pki_ca SET crl_number = ? WHERE id = ?", u,
			     2, err);
}

int pki_crl_generate_ca(struct pki *p, struct pki_ca *ca, struct bw_err *err)
{
	pthread_mutex_lock(&ca->crl_mu);
	pthread_rwlock_rdlock(&p->mu);
	bool can = ca->cert && ca->signer && ca->state != PKI_CA_PENDING;
	int64_t number = ca->crl_number + 1;
	pthread_rwlock_unlock(&p->mu);
	int rc = -1;
	X509_CRL *crl = NULL, *signed_crl = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	unsigned char *der = NULL;
	if (!can) {
		bw_err_set(err, 409, PKI_MOD, "ca_not_active", "the CA cannot sign");
		goto out;
	}
	int64_t now = bw_clock_now_s();
	crl = X509_CRL_new();
	tu = ASN1_TIME_new();
	nu = ASN1_TIME_new();
	num = ASN1_INTEGER_new();
	if (!crl || !tu || !nu || !num || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !ASN1_TIME_set(tu, (time_t)now) ||
	    !ASN1_TIME_set(nu, (time_t)(now + p->crl_validity_s)) ||
	    !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu) ||
	    !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto ssl;
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
				  "keyid:always");
	if (!aki || !X509_CRL_add_ext(crl, aki, -1))
		goto ssl;
	struct revoked_list l = { crl, 0 };
	struct store_value v[] = { store_text_str(ca->id), store_int(PKI_CERT_REVOKED),
				   store_int(now) };
	if (store_query(p->st, "SELECT serial, revoked_at, reason FROM pki_cert"
			       " WHERE ca_id = ? AND status = ? AND not_after >= ?",
			v, 3, revoked_row, &l, err) < 0)
		goto out;
	if (!X509_CRL_sort(crl))
		goto ssl;
	signed_crl = pki_sign_crl(ca->signer, crl, err);
	if (!signed_crl)
		goto out;
	int n = i2d_X509_CRL(signed_crl, &der);
	if (n <= 0)
		goto ssl;
	struct crl_job j = { ca->id, number, now, now + p->crl_validity_s, der,
			     (size_t)n };
	if (store_write(p->st, crl_tx, &j, err) < 0)
		goto out;
	uint8_t *copy = malloc((size_t)n);
	if (!copy) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		goto out;
	}
	memcpy(copy, der, (size_t)n);
	pthread_rwlock_wrlock(&p->mu);
	free(ca->crl_der);
	ca->crl_der = copy;
	ca->crl_len = (size_t)n;
	ca->crl_number = number;
	ca->crl_this_update = now;
	ca->crl_next_update = now + p->crl_validity_s;
	pthread_rwlock_unlock(&p->mu);
	atomic_fetch_add(&p->crls_generated, 1);
	rc = 0;
	goto out;
ssl:
	pki_err_ssl(err, "encode", "CRL");
out:
	pthread_mutex_unlock(&ca->crl_mu);
	X509_CRL_free(crl);
	X509_CRL_free(signed_crl);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_INTEGER_free(num);
	X509_EXTENSION_free(aki);
	OPENSSL_free(der);
	return rc;
}

int pki_crl_generate(struct pki *p, const char *ca_id, struct bw_err *err)
{
	struct pki_ca *ca = pki_ca_lookup(p, NULL, ca_id, err);
	return ca ? pki_crl_generate_ca(p, ca, err) : -1;
}

int pki_crl_get(struct pki *p, const char *ca_id, struct bw_buf *out,
		struct bw_err *err)
{
	int rc = 0;
	pthread_rwlock_rdlock(&p->mu);
	struct pki_ca *ca = pki_ca_find_locked(p, ca_id);
	if (!ca || !ca->crl_der)
		rc = bw_err_set(err, 404, PKI_MOD, "no_crl", "no CRL for this CA");
	else if (bw_buf_append(out, ca->crl_der, ca->crl_len) < 0)
		rc = bw_err_set(err, 413, PKI_MOD, "too_large", "output full");
	pthread_rwlock_unlock(&p->mu);
	return rc;
}
