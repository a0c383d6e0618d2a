/*
 * pki_store.c — the CA's tables (migrations of module "pki") and the
 * inventory writes and reads.
 *
 * Tables:
 *  - pki_ca: one row per CA (key id, certificate, CSR while pending, the
 *    imported issuer chain, CRL number, delegated OCSP responder);
 *  - pki_cert: the inventory, one row per certificate issued (serial is
 *    the primary key across all tenants, so a repeated random serial is
 *    a conflict the issuer retries, never a duplicate);
 *  - pki_crl: the latest CRL per CA;
 *  - pki_policy: one JSON policy per tenant.
 * Times are Unix seconds. Serials are lower-case hex of the minimal
 * big-endian octets.
 */
#include "pki/pki_int.h"

#include <string.h>

const char *const pki_schema[] = {
	/* 1 */
	"CREATE TABLE pki_ca (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" name TEXT NOT NULL, parent_id TEXT, subject TEXT NOT NULL,"
	" key_id TEXT NOT NULL, key_type TEXT NOT NULL, state BIGINT NOT NULL,"
	" root BOOLEAN NOT NULL, path_len BIGINT NOT NULL, cert BLOB, csr BLOB,"
	" chain BLOB, not_before BIGINT NOT NULL, not_after BIGINT NOT NULL,"
	" created BIGINT NOT NULL, crl_number BIGINT NOT NULL,"
	" ocsp_key_id TEXT, ocsp_cert BLOB);"
	"CREATE UNIQUE INDEX pki_ca_name ON pki_ca (tenant, name);"
	"CREATE TABLE pki_cert (serial TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" ca_id TEXT NOT NULL, subject TEXT NOT NULL, sans TEXT NOT NULL,"
	" profile TEXT NOT NULL, not_before BIGINT NOT NULL,"
	" not_after BIGINT NOT NULL, status BIGINT NOT NULL,"
	" revoked_at BIGINT NOT NULL, reason BIGINT NOT NULL, der BLOB NOT NULL,"
	" created BIGINT NOT NULL);"
	"CREATE INDEX pki_cert_tenant ON pki_cert (tenant, not_after);"
	"CREATE INDEX pki_cert_ca ON pki_cert (ca_id, status);"
	"CREATE TABLE pki_crl (ca_id TEXT PRIMARY KEY, number BIGINT NOT NULL,"
	" this_update BIGINT NOT NULL, next_update BIGINT NOT NULL,"
	" der BLOB NOT NULL);"
	"CREATE TABLE pki_policy (tenant TEXT PRIMARY KEY, doc TEXT NOT NULL,"
	" updated BIGINT NOT NULL)",
};

const size_t pki_schema_steps = BW_ARRAY_LEN(pki_schema);

/* "dns:a.example.com,ip:10.0.0.1,uri:spiffe://..." from the certificate's
 * SAN extension, truncated with "..." past cap. */
static void sans_text(X509 *x, char *out, size_t cap)
{
	struct bw_buf b;
	bw_buf_init(&b, cap - 1);
	out[0] = '\0';
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	bool trunc = false;
	for (int i = 0; gens && !trunc && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *sep = i ? "," : "";
		int rc = 0;
		if (g->type == GEN_DNS || g->type == GEN_URI) {
			const ASN1_STRING *s = g->type == GEN_DNS ? g->d.dNSName :
								    g->d.uniformResourceIdentifier;
			rc = bw_buf_printf(&b, "%s%s:%.*s", sep,
					   g->type == GEN_DNS ? "dns" : "uri",
					   ASN1_STRING_length(s),
					   (const char *)ASN1_STRING_get0_data(s));
		} else if (g->type == GEN_IPADD) {
			struct pki_names n = { .n = 0 };
			const ASN1_STRING *s = g->d.iPAddress;
			if (pki_names_add_ip_bytes(&n, ASN1_STRING_get0_data(s),
						   (size_t)ASN1_STRING_length(s), NULL) == 0)
				rc = bw_buf_printf(&b, "%sip:%s", sep, n.v[0].text);
			pki_names_fini(&n);
		}
		trunc = rc < 0;
	}
	GENERAL_NAMES_free(gens);
	size_t n = b.len < cap - 1 ? b.len : cap - 1;
	if (b.data)
		memcpy(out, b.data, n);
	out[n] = '\0';
	if (trunc && cap > 4 && n + 3 < cap) {
		memcpy(out + n, "...", 4);
	} else if (trunc && cap > 4) {
		memcpy(out + cap - 4, "...", 4);
	}
	bw_buf_fini(&b);
}

void pki_cert_ins_fini(struct pki_cert_ins *c)
{
	free(c->der);
	c->der = NULL;
}

int pki_cert_ins_fill(struct pki_cert_ins *c, const struct pki_ca *ca, X509 *x,
		      enum pki_profile prof, const char *subject,
		      struct bw_err *err)
{
	memset(c, 0, sizeof(*c));
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	pki_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn),
		       c->serial);
	c->tenant = ca->tenant;
	c->ca_id = ca->id;
	c->subject = subject ? subject : "";
	c->profile = pki_profile_name(prof);
	sans_text(x, c->sans, sizeof(c->sans));
	if (pki_time_to_epoch(X509_get0_notBefore(x), &c->nb) < 0 ||
	    pki_time_to_epoch(X509_get0_notAfter(x), &c->na) < 0)
		return bw_err_set(err, 500, PKI_MOD, "time", "certificate times");
	return pki_x509_to_der(x, &c->der, &c->der_len, err);
}

int pki_cert_insert_tx(struct store_tx *tx, const struct pki_cert_ins *c,
		       struct bw_err *err)
{
	struct store_value v[] = {
		store_text_str(c->serial), store_text_str(c->tenant),
		store_text_str(c->ca_id), store_text_str(c->subject),
		store_text_str(c->sans), store_text_str(c->profile),
		store_int(c->nb), store_int(c->na), store_int(PKI_CERT_GOOD),
		store_int(0), store_int(0), store_blob(c->der, c->der_len),
		store_int(bw_clock_now_s()),
	};
	return store_tx_exec(tx,
			     "INSERT INTO pki_cert (serial, tenant, ca_id, subject,"
			     " sans, profile, not_before, not_after, status,"
			     " revoked_at, reason, der, created)"
			     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			     v, BW_ARRAY_LEN(v), err);
}

static int insert_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	return pki_cert_insert_tx(tx, arg, err);
}

int pki_store_cert(struct pki *p, const struct pki_ca *ca, X509 *x,
		   enum pki_profile prof, const char *subject, struct bw_err *err)
{
	struct pki_cert_ins *c = malloc(sizeof(*c));
	if (!c)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	int rc = pki_cert_ins_fill(c, ca, x, prof, subject, err);
	if (rc == 0)
		rc = store_write(p->st, insert_job, c, err);
	pki_cert_ins_fini(c);
	free(c);
	return rc;
}

/* ------------------------------------------------------------ reads */

static void info_from_row(const struct store_row *row, struct pki_cert_info *ci)
{
	memset(ci, 0, sizeof(*ci));
#define TXT(col, dst)                                                          \
	do {                                                                   \
		struct bw_str s_ = store_row_text(row, col);                   \
		size_t n_ = s_.len < sizeof(dst) - 1 ? s_.len : sizeof(dst) - 1; \
		memcpy(dst, s_.p, n_);                                         \
		dst[n_] = '\0';                                                \
	} while (0)
	TXT(0, ci->serial);
	TXT(1, ci->tenant);
	TXT(2, ci->ca_id);
	TXT(3, ci->subject);
	TXT(4, ci->sans);
	TXT(5, ci->profile);
#undef TXT
	ci->not_before = store_row_int64(row, 6);
	ci->not_after = store_row_int64(row, 7);
	ci->status = store_row_int64(row, 8) == PKI_CERT_REVOKED ? PKI_CERT_REVOKED :
								   PKI_CERT_GOOD;
	ci->revoked_at = store_row_int64(row, 9);
	ci->revocation_reason = (int)store_row_int64(row, 10);
}

#define CERT_COLS                                                              \
	"serial, tenant, ca_id, subject, sans, profile, not_before, not_after," \
	" status, revoked_at, reason"

struct search_ctx {
	void (*fn)(void *arg, const struct pki_cert_info *c);
	void *arg;
	int rows;
};

static int search_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct search_ctx *s = arg;
	struct pki_cert_info ci;
	info_from_row(row, &ci);
	s->rows++;
	if (s->fn)
		s->fn(s->arg, &ci);
	return STORE_ROW_NEXT;
}

int pki_cert_search(struct pki *p, const struct pki_search *q,
		    void (*fn)(void *arg, const struct pki_cert_info *c),
		    void *arg, struct bw_err *err)
{
	char sql[512];
	struct store_value v[8];
	size_t nv = 0;
	char like[2 * PKI_SEARCH_MAX + 3];
	struct bw_buf b = { .data = sql, .cap = sizeof(sql), .max = sizeof(sql) - 1 };
	if (!q->tenant)
		return bw_err_set(err, 400, PKI_MOD, "bad_request", "tenant required");
	int rc = bw_buf_append_str(&b, "SELECT " CERT_COLS " FROM pki_cert WHERE tenant = ?");
	v[nv++] = store_text_str(q->tenant);
	if (q->ca_id) {
		rc |= bw_buf_append_str(&b, " AND ca_id = ?");
		v[nv++] = store_text_str(q->ca_id);
	}
	if (q->status == PKI_CERT_GOOD || q->status == PKI_CERT_REVOKED) {
		rc |= bw_buf_append_str(&b, " AND status = ?");
		v[nv++] = store_int(q->status);
	}
	if (q->expiring_before > 0) {
		rc |= bw_buf_append_str(&b, " AND not_after < ?");
		v[nv++] = store_int(q->expiring_before);
	}
	if (q->profile) {
		rc |= bw_buf_append_str(&b, " AND profile = ?");
		v[nv++] = store_text_str(q->profile);
	}
	if (q->text && *q->text) {
		size_t tl = strlen(q->text);
		if (tl > PKI_SEARCH_MAX)
			return bw_err_set(err, 400, PKI_MOD, "bad_request",
					  "search text longer than %d bytes",
					  PKI_SEARCH_MAX);
		/* LIKE with the wildcards of the search text escaped, so a
		 * '%' in it matches a '%'. */
		size_t o = 0;
		like[o++] = '%';
		for (size_t i = 0; i < tl; i++) {
			if (q->text[i] == '%' || q->text[i] == '_' || q->text[i] == '!')
				like[o++] = '!';
			like[o++] = q->text[i];
		}
		like[o++] = '%';
		like[o] = '\0';
		rc |= bw_buf_append_str(&b, " AND (subject LIKE ? ESCAPE '!'"
					    " OR sans LIKE ? ESCAPE '!')");
		v[nv++] = store_text(like, o);
		v[nv++] = store_text(like, o);
	}
	size_t limit = q->limit ? q->limit : PKI_LIST_DEFAULT;
	if (limit > PKI_LIST_MAX)
		limit = PKI_LIST_MAX;
	rc |= bw_buf_append_str(&b, " ORDER BY not_after, serial LIMIT ? OFFSET ?");
	v[nv++] = store_int((int64_t)limit);
	v[nv++] = store_int((int64_t)q->offset);
	if (rc)
		return bw_err_set(err, 500, PKI_MOD, "sql", "query too long");
	struct search_ctx s = { fn, arg, 0 };
	if (store_query(p->st, sql, v, nv, search_row, &s, err) < 0)
		return -1;
	return s.rows;
}

struct get_ctx {
	struct pki_cert_info *info;
	struct bw_buf *der;
	int rc;
};

static int get_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct get_ctx *g = arg;
	if (g->info)
		info_from_row(row, g->info);
	if (g->der) {
		size_t n;
		const void *d = store_row_blob(row, 11, &n);
		if (bw_buf_append(g->der, d, n) < 0)
			return bw_err_set(err, 413, PKI_MOD, "too_large",
					  "certificate does not fit");
	}
	return STORE_ROW_STOP;
}

int pki_cert_get(struct pki *p, const char *tenant, const char *serial,
		 struct pki_cert_info *info, struct bw_buf *der,
		 struct bw_err *err)
{
	struct pki_cert_info tmp;
	struct get_ctx g = { info ? info : &tmp, der, 0 };
	struct store_value v[] = { store_text_str(serial), store_text_str(tenant) };
	int found = store_query_one(p->st,
				    "SELECT " CERT_COLS ", der FROM pki_cert"
				    " WHERE serial = ? AND tenant = ?",
				    v, 2, get_row, &g, err);
	if (found < 0)
		return -1;
	if (found == 0)
		return bw_err_set(err, 404, PKI_MOD, "not_found",
				  "no such certificate");
	return 0;
}
