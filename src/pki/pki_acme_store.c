/*
 * pki_acme_store.c — the ACME server's tables (migrations of module
 * "pki_acme") and every read and write of them.
 *
 * Tables:
 *  - pki_acme_tenant: which CA a tenant's directory issues from, whether
 *    newAccount needs an external account binding, the validity;
 *  - pki_acme_eab: EAB keys (kid, tenant, HMAC key sealed with the
 *    configured key or in clear); a key that has bound an account is
 *    wiped (hmac NULL) and records which account it bound;
 *  - pki_acme_account: one row per account key (unique per tenant by RFC
 *    7638 thumbprint), the public JWK, status, contacts;
 *  - pki_acme_order / pki_acme_authz / pki_acme_chall: orders, one
 *    authorization per identifier per order (never shared between
 *    orders), the challenges of each authorization.
 *
 * Invariants: every state transition is a conditional UPDATE whose change
 * count is checked inside one write job, so racing requests cannot both
 * finalize an order or both start a challenge; a challenge outcome moves
 * the challenge, its authorization and its order in one transaction.
 * Times are Unix seconds. Statuses are stored by name.
 */
#include "pki/pki_acme_int.h"

#include <string.h>

#include "store/store.h"

const char *const acme_schema[] = {
	/* 1 */
	"CREATE TABLE pki_acme_tenant (tenant TEXT PRIMARY KEY,"
	" ca_id TEXT NOT NULL, eab_required BOOLEAN NOT NULL,"
	" validity_s BIGINT NOT NULL, enabled BOOLEAN NOT NULL,"
	" updated BIGINT NOT NULL);"
	"CREATE TABLE pki_acme_eab (kid TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" label TEXT NOT NULL, hmac BLOB, sealed BOOLEAN NOT NULL,"
	" created BIGINT NOT NULL, account_id TEXT, used_at BIGINT NOT NULL);"
	"CREATE INDEX pki_acme_eab_tenant ON pki_acme_eab (tenant, created);"
	"CREATE TABLE pki_acme_account (id TEXT PRIMARY KEY,"
	" tenant TEXT NOT NULL, thumb TEXT NOT NULL, jwk TEXT NOT NULL,"
	" status TEXT NOT NULL, contact TEXT NOT NULL, tos BOOLEAN NOT NULL,"
	" eab_kid TEXT, created BIGINT NOT NULL);"
	"CREATE UNIQUE INDEX pki_acme_account_key ON pki_acme_account"
	" (tenant, thumb);"
	"CREATE TABLE pki_acme_order (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" account_id TEXT NOT NULL, status TEXT NOT NULL,"
	" expires BIGINT NOT NULL, created BIGINT NOT NULL, err_type TEXT,"
	" err_detail TEXT, cert_serial TEXT);"
	"CREATE INDEX pki_acme_order_account ON pki_acme_order"
	" (account_id, created);"
	"CREATE INDEX pki_acme_order_serial ON pki_acme_order (cert_serial);"
	"CREATE TABLE pki_acme_authz (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" order_id TEXT NOT NULL, account_id TEXT NOT NULL, pos BIGINT NOT NULL,"
	" ident_type TEXT NOT NULL, ident_value TEXT NOT NULL,"
	" wildcard BOOLEAN NOT NULL, status TEXT NOT NULL,"
	" expires BIGINT NOT NULL);"
	"CREATE INDEX pki_acme_authz_order ON pki_acme_authz (order_id, pos);"
	"CREATE TABLE pki_acme_chall (id TEXT PRIMARY KEY,"
	" authz_id TEXT NOT NULL, type TEXT NOT NULL, token TEXT NOT NULL,"
	" status TEXT NOT NULL, validated BIGINT NOT NULL, err_type TEXT,"
	" err_detail TEXT);"
	"CREATE INDEX pki_acme_chall_authz ON pki_acme_chall (authz_id);"
	"CREATE INDEX pki_acme_chall_status ON pki_acme_chall (status)",
};
const size_t acme_schema_steps = BW_ARRAY_LEN(acme_schema);

static const char *const status_names[ACME_ST_MAX_] = {
	"pending", "ready", "processing", "valid", "invalid", "deactivated",
	"expired", "revoked",
};

const char *acme_status_name(enum acme_status s)
{
	return (unsigned)s < ACME_ST_MAX_ ? status_names[s] : "invalid";
}

enum acme_status acme_status_from(struct bw_str s)
{
	for (int i = 0; i < ACME_ST_MAX_; i++)
		if (bw_str_eq_lit(s, status_names[i]))
			return (enum acme_status)i;
	return ACME_ST_INVALID;
}

static const char *const chall_names[ACME_CH_MAX_] = { "http-01", "dns-01",
							"tls-alpn-01" };

const char *acme_chall_name(enum acme_chall_type t)
{
	return (unsigned)t < ACME_CH_MAX_ ? chall_names[t] : "?";
}

int acme_chall_from(struct bw_str s)
{
	for (int i = 0; i < ACME_CH_MAX_; i++)
		if (bw_str_eq_lit(s, chall_names[i]))
			return i;
	return -1;
}

enum acme_status acme_order_status(const struct acme_order *o, int64_t now)
{
	if ((o->status == ACME_ST_PENDING || o->status == ACME_ST_READY) &&
	    now > o->expires)
		return ACME_ST_INVALID;
	return o->status;
}

enum acme_status acme_authz_status(const struct acme_authz *z, int64_t now)
{
	if (z->status == ACME_ST_PENDING && now > z->expires)
		return ACME_ST_EXPIRED;
	return z->status;
}

void acme_account_fini(struct acme_account *ac)
{
	if (!ac)
		return;
	free(ac->jwk);
	ac->jwk = NULL;
}

void acme_order_fini(struct acme_order *o)
{
	if (!o)
		return;
	free(o->authz);
	o->authz = NULL;
	o->nauthz = 0;
}

static int db_fail(struct bw_err *err, const struct bw_err *e)
{
	log_warnx("pki acme: store: %s", e->msg);
	return acme_fail(err, 500, "serverInternal", "storage error");
}

static void copy_text(char *dst, size_t cap, struct bw_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	if (n)
		memcpy(dst, s.p, n);
	dst[n] = '\0';
}
#define COPY(dst, row, col) copy_text((dst), sizeof(dst), store_row_text((row), (col)))

/* ------------------------------------------------------------- tenants */

static int tenant_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct pki_acme *a = arg;
	if (a->ntenants == PKI_ACME_TENANTS_MAX)
		return STORE_ROW_STOP;
	struct acme_tenant_row *t = &a->tenants[a->ntenants++];
	COPY(t->tenant, row, 0);
	COPY(t->cfg.ca_id, row, 1);
	t->cfg.eab_required = store_row_int64(row, 2) != 0;
	t->cfg.validity_s = store_row_int64(row, 3);
	t->cfg.enabled = store_row_int64(row, 4) != 0;
	return STORE_ROW_NEXT;
}

int acme_db_tenants_load(struct pki_acme *a, struct bw_err *err)
{
	struct bw_err e;
	a->ntenants = 0;
	if (store_query(a->st,
			"SELECT tenant, ca_id, eab_required, validity_s, enabled"
			" FROM pki_acme_tenant ORDER BY tenant",
			NULL, 0, tenant_row, a, &e) < 0)
		return db_fail(err, &e);
	return 0;
}

int acme_db_tenant_put(struct pki_acme *a, const char *tenant,
		       const struct pki_acme_tenant *cfg, struct bw_err *err)
{
	struct store_value v[] = {
		store_text_str(tenant), store_text_str(cfg->ca_id),
		store_bool(cfg->eab_required), store_int(cfg->validity_s),
		store_bool(cfg->enabled), store_int(bw_clock_now_s()),
	};
	struct bw_err e;
	if (store_exec(a->st,
		       "INSERT INTO pki_acme_tenant (tenant, ca_id, eab_required,"
		       " validity_s, enabled, updated) VALUES (?, ?, ?, ?, ?, ?)"
		       " ON CONFLICT (tenant) DO UPDATE SET ca_id = excluded.ca_id,"
		       " eab_required = excluded.eab_required,"
		       " validity_s = excluded.validity_s,"
		       " enabled = excluded.enabled, updated = excluded.updated",
		       v, BW_ARRAY_LEN(v), NULL, &e) < 0)
		return db_fail(err, &e);
	return 0;
}

/* ------------------------------------------------------------- accounts */

#define ACCOUNT_COLS "id, tenant, thumb, jwk, status, contact, tos, eab_kid, created"

static int account_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct acme_account *ac = arg;
	COPY(ac->id, row, 0);
	COPY(ac->tenant, row, 1);
	COPY(ac->thumb, row, 2);
	struct bw_str j = store_row_text(row, 3);
	ac->jwk = malloc(j.len + 1);
	if (!ac->jwk)
		return bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
	memcpy(ac->jwk, j.p, j.len);
	ac->jwk[j.len] = '\0';
	ac->status = acme_status_from(store_row_text(row, 4));
	COPY(ac->contact, row, 5);
	ac->tos = store_row_int64(row, 6) != 0;
	COPY(ac->eab_kid, row, 7);
	ac->created = store_row_int64(row, 8);
	return STORE_ROW_STOP;
}

static int account_query(struct pki_acme *a, const char *sql, const char *k1,
			 const char *k2, struct acme_account *out,
			 struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	struct store_value v[] = { store_text_str(k1), store_text_str(k2) };
	struct bw_err e;
	int rc = store_query_one(a->st, sql, v, 2, account_row, out, &e);
	if (rc < 0) {
		acme_account_fini(out);
		return db_fail(err, &e);
	}
	return rc;
}

int acme_db_account_by_thumb(struct pki_acme *a, const char *tenant,
			     const char *thumb, struct acme_account *out,
			     struct bw_err *err)
{
	return account_query(a, "SELECT " ACCOUNT_COLS " FROM pki_acme_account"
			     " WHERE tenant = ? AND thumb = ?", tenant, thumb, out, err);
}

int acme_db_account_get(struct pki_acme *a, const char *tenant, const char *id,
			struct acme_account *out, struct bw_err *err)
{
	return account_query(a, "SELECT " ACCOUNT_COLS " FROM pki_acme_account"
			     " WHERE tenant = ? AND id = ?", tenant, id, out, err);
}

struct account_job {
	const struct acme_account *ac;
	const char *new_thumb, *new_jwk;
	char other[PKI_ACME_ID_LEN + 1];
	int kind; /* 0 insert, 1 update, 2 rekey */
};

static int id_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	copy_text(arg, PKI_ACME_ID_LEN + 1, store_row_text(row, 0));
	return STORE_ROW_STOP;
}

static int account_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct account_job *j = arg;
	const struct acme_account *ac = j->ac;
	if (j->kind == 0) {
		if (ac->eab_kid[0]) {
			struct store_value u[] = { store_text_str(ac->id),
						   store_int(bw_clock_now_s()),
						   store_text_str(ac->eab_kid),
						   store_text_str(ac->tenant) };
			if (store_tx_exec(tx, "UPDATE pki_acme_eab SET hmac = NULL,"
					  " account_id = ?, used_at = ? WHERE kid = ?"
					  " AND tenant = ? AND account_id IS NULL",
					  u, BW_ARRAY_LEN(u), err) < 0)
				return -1;
			if (store_tx_changes(tx) != 1)
				return acme_fail(err, 403, "unauthorized",
						 "the external account binding key is "
						 "unknown or already used");
		}
		struct store_value v[] = {
			store_text_str(ac->id), store_text_str(ac->tenant),
			store_text_str(ac->thumb), store_text_str(ac->jwk),
			store_text_str(acme_status_name(ac->status)),
			store_text_str(ac->contact), store_bool(ac->tos),
			ac->eab_kid[0] ? store_text_str(ac->eab_kid) : store_null(),
			store_int(ac->created),
		};
		return store_tx_exec(tx, "INSERT INTO pki_acme_account (" ACCOUNT_COLS
				     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				     v, BW_ARRAY_LEN(v), err);
	}
	if (j->kind == 1) {
		struct store_value v[] = {
			store_text_str(acme_status_name(ac->status)),
			store_text_str(ac->contact), store_bool(ac->tos),
			store_text_str(ac->id),
		};
		return store_tx_exec(tx, "UPDATE pki_acme_account SET status = ?,"
				     " contact = ?, tos = ? WHERE id = ?",
				     v, BW_ARRAY_LEN(v), err);
	}
	struct store_value q[] = { store_text_str(ac->tenant),
				   store_text_str(j->new_thumb) };
	int rc = store_tx_query_one(tx, "SELECT id FROM pki_acme_account WHERE"
				    " tenant = ? AND thumb = ?", q, 2, id_row,
				    j->other, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return acme_fail(err, 409, "conflict",
				 "the new key is already an account's");
	struct store_value v[] = { store_text_str(j->new_thumb),
				   store_text_str(j->new_jwk), store_text_str(ac->id),
				   store_text_str(ac->thumb) };
	if (store_tx_exec(tx, "UPDATE pki_acme_account SET thumb = ?, jwk = ?"
			  " WHERE id = ? AND thumb = ?", v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return acme_fail(err, 409, "conflict", "the account key changed meanwhile");
	return 0;
}

static int account_write(struct pki_acme *a, struct account_job *j,
			 struct bw_err *err)
{
	struct bw_err e;
	if (store_write(a->st, account_job, j, &e) == 0)
		return 0;
	if (!strcmp(e.module, PKI_MOD)) {
		*err = e;
		return -1;
	}
	if (e.code == 409) /* the unique key index: the key is an account */
		return acme_fail(err, 409, "conflict", "the key is already an account's");
	return db_fail(err, &e);
}

int acme_db_account_insert(struct pki_acme *a, const struct acme_account *ac,
			   struct bw_err *err)
{
	struct account_job j = { .ac = ac, .kind = 0 };
	return account_write(a, &j, err);
}

int acme_db_account_update(struct pki_acme *a, const struct acme_account *ac,
			   struct bw_err *err)
{
	struct account_job j = { .ac = ac, .kind = 1 };
	return account_write(a, &j, err);
}

int acme_db_account_rekey(struct pki_acme *a, const struct acme_account *ac,
			  const char *new_thumb, const char *new_jwk,
			  char other[PKI_ACME_ID_LEN + 1], struct bw_err *err)
{
	struct account_job j = { .ac = ac, .kind = 2, .new_thumb = new_thumb,
				 .new_jwk = new_jwk };
	int rc = account_write(a, &j, err);
	memcpy(other, j.other, sizeof(j.other));
	return rc;
}

/* ------------------------------------------------------------- EAB */

struct eab_out {
	uint8_t key[PKI_ACME_EAB_KEY_LEN + CRYPTO_AEAD_NONCE_LEN + CRYPTO_AEAD_TAG_LEN];
	size_t len;
	bool sealed;
	bool used;
};

static int eab_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct eab_out *o = arg;
	size_t n;
	const void *p = store_row_blob(row, 0, &n);
	o->sealed = store_row_int64(row, 1) != 0;
	o->used = !store_row_is_null(row, 2);
	if (n <= sizeof(o->key)) {
		memcpy(o->key, p, n);
		o->len = n;
	}
	return STORE_ROW_STOP;
}

int acme_db_eab_key(struct pki_acme *a, const char *tenant, const char *kid,
		    uint8_t key[PKI_ACME_EAB_KEY_LEN], struct bw_err *err)
{
	struct eab_out o = { .len = 0 };
	struct store_value v[] = { store_text_str(kid), store_text_str(tenant) };
	struct bw_err e;
	int rc = store_query_one(a->st, "SELECT hmac, sealed, account_id FROM"
				 " pki_acme_eab WHERE kid = ? AND tenant = ?",
				 v, 2, eab_row, &o, &e);
	if (rc < 0)
		return db_fail(err, &e);
	if (rc == 0 || o.used) {
		bw_wipe(&o, sizeof(o));
		return 0;
	}
	rc = 1;
	if (o.sealed) {
		/* nonce || ciphertext || tag, the kid as associated data */
		if (!a->have_seal ||
		    o.len != CRYPTO_AEAD_NONCE_LEN + PKI_ACME_EAB_KEY_LEN + CRYPTO_AEAD_TAG_LEN ||
		    crypto_aead_open(a->seal_key, o.key, kid, strlen(kid),
				     o.key + CRYPTO_AEAD_NONCE_LEN, PKI_ACME_EAB_KEY_LEN,
				     o.key + CRYPTO_AEAD_NONCE_LEN + PKI_ACME_EAB_KEY_LEN,
				     key, &e) < 0) {
			log_warnx("pki acme: EAB key %s cannot be unsealed", kid);
			rc = acme_fail(err, 500, "serverInternal", "EAB key unavailable");
		}
	} else if (o.len == PKI_ACME_EAB_KEY_LEN) {
		memcpy(key, o.key, PKI_ACME_EAB_KEY_LEN);
	} else {
		rc = acme_fail(err, 500, "serverInternal", "EAB key damaged");
	}
	bw_wipe(&o, sizeof(o));
	return rc;
}

struct eab_job {
	const char *tenant, *kid, *label;
	uint8_t blob[PKI_ACME_EAB_KEY_LEN + CRYPTO_AEAD_NONCE_LEN + CRYPTO_AEAD_TAG_LEN];
	size_t blen;
	bool sealed;
	bool del;
};

static int count_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_STOP;
}

static int eab_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct eab_job *j = arg;
	if (j->del) {
		struct store_value v[] = { store_text_str(j->kid), store_text_str(j->tenant) };
		int64_t used = -1;
		int rc = store_tx_query_one(tx, "SELECT COUNT(account_id) FROM pki_acme_eab"
					    " WHERE kid = ? AND tenant = ?", v, 2,
					    count_row, &used, err);
		if (rc < 0)
			return -1;
		if (store_tx_exec(tx, "DELETE FROM pki_acme_eab WHERE kid = ? AND"
				  " tenant = ? AND account_id IS NULL", v, 2, err) < 0)
			return -1;
		if (store_tx_changes(tx) == 1)
			return 0;
		return used > 0 ? bw_err_set(err, 409, PKI_MOD, "used",
					     "the key has bound an account") :
				  bw_err_set(err, 404, PKI_MOD, "not_found",
					     "no such EAB key");
	}
	int64_t n = 0;
	struct store_value t[] = { store_text_str(j->tenant) };
	if (store_tx_query_one(tx, "SELECT COUNT(*) FROM pki_acme_eab WHERE"
			       " tenant = ? AND account_id IS NULL", t, 1,
			       count_row, &n, err) < 0)
		return -1;
	if (n >= PKI_ACME_EAB_UNUSED_MAX)
		return bw_err_set(err, 413, PKI_MOD, "too_many",
				  "the tenant has %d unused EAB keys",
				  PKI_ACME_EAB_UNUSED_MAX);
	struct store_value v[] = { store_text_str(j->kid), store_text_str(j->tenant),
				   store_text_str(j->label ? j->label : ""),
				   store_blob(j->blob, j->blen), store_bool(j->sealed),
				   store_int(bw_clock_now_s()) };
	return store_tx_exec(tx, "INSERT INTO pki_acme_eab (kid, tenant, label, hmac,"
			     " sealed, created, account_id, used_at) VALUES"
			     " (?, ?, ?, ?, ?, ?, NULL, 0)", v, BW_ARRAY_LEN(v), err);
}

int pki_acme_eab_create(struct pki_acme *a, const char *tenant,
			const char *label, char kid[32], uint8_t key[32],
			struct bw_err *err)
{
	if (!tenant || !*tenant || strlen(tenant) > PKI_TENANT_MAX ||
	    (label && strlen(label) > 128))
		return bw_err_set(err, 400, PKI_MOD, "bad_request", "bad tenant or label");
	struct eab_job j = { .tenant = tenant, .label = label };
	char id[PKI_ACME_ID_LEN + 1];
	acme_id_new(id);
	j.kid = id;
	bw_random(key, PKI_ACME_EAB_KEY_LEN);
	if (a->have_seal) {
		struct bw_err e;
		bw_random(j.blob, CRYPTO_AEAD_NONCE_LEN);
		if (crypto_aead_seal(a->seal_key, j.blob, id, strlen(id), key,
				     PKI_ACME_EAB_KEY_LEN, j.blob + CRYPTO_AEAD_NONCE_LEN,
				     j.blob + CRYPTO_AEAD_NONCE_LEN + PKI_ACME_EAB_KEY_LEN,
				     &e) < 0) {
			bw_wipe(key, PKI_ACME_EAB_KEY_LEN);
			return bw_err_set(err, 500, PKI_MOD, "seal", "%s", e.msg);
		}
		j.blen = sizeof(j.blob);
		j.sealed = true;
	} else {
		memcpy(j.blob, key, PKI_ACME_EAB_KEY_LEN);
		j.blen = PKI_ACME_EAB_KEY_LEN;
	}
	int rc = store_write(a->st, eab_job, &j, err);
	bw_wipe(j.blob, sizeof(j.blob));
	if (rc < 0) {
		bw_wipe(key, PKI_ACME_EAB_KEY_LEN);
		return -1;
	}
	memcpy(kid, id, sizeof(id));
	return 0;
}

int pki_acme_eab_delete(struct pki_acme *a, const char *tenant, const char *kid,
			struct bw_err *err)
{
	struct eab_job j = { .tenant = tenant, .kid = kid, .del = true };
	return store_write(a->st, eab_job, &j, err);
}

/* ------------------------------------------------------------- orders */

int acme_db_orders_pending(struct pki_acme *a, const char *account_id,
			   int64_t now, int64_t *n, struct bw_err *err)
{
	struct store_value v[] = { store_text_str(account_id), store_int(now) };
	struct bw_err e;
	*n = 0;
	if (store_query_one(a->st, "SELECT COUNT(*) FROM pki_acme_order WHERE"
			    " account_id = ? AND status IN ('pending', 'ready',"
			    " 'processing') AND expires >= ?", v, 2, count_row, n,
			    &e) < 0)
		return db_fail(err, &e);
	return 0;
}

static int order_insert_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	const struct acme_order *o = arg;
	struct store_value v[] = {
		store_text_str(o->id), store_text_str(o->tenant),
		store_text_str(o->account_id), store_text_str(acme_status_name(o->status)),
		store_int(o->expires), store_int(o->created),
	};
	if (store_tx_exec(tx, "INSERT INTO pki_acme_order (id, tenant, account_id,"
			  " status, expires, created, err_type, err_detail,"
			  " cert_serial) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
			  v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	for (size_t i = 0; i < o->nauthz; i++) {
		const struct acme_authz *z = &o->authz[i];
		struct store_value w[] = {
			store_text_str(z->id), store_text_str(o->tenant),
			store_text_str(o->id), store_text_str(o->account_id),
			store_int(z->pos), store_text_str(z->ip ? "ip" : "dns"),
			store_text_str(z->value), store_bool(z->wildcard),
			store_text_str(acme_status_name(z->status)), store_int(z->expires),
		};
		if (store_tx_exec(tx, "INSERT INTO pki_acme_authz (id, tenant, order_id,"
				  " account_id, pos, ident_type, ident_value, wildcard,"
				  " status, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				  w, BW_ARRAY_LEN(w), err) < 0)
			return -1;
		for (size_t k = 0; k < z->nch; k++) {
			const struct acme_chall *c = &z->ch[k];
			struct store_value x[] = {
				store_text_str(c->id), store_text_str(z->id),
				store_text_str(acme_chall_name(c->type)),
				store_text_str(c->token),
				store_text_str(acme_status_name(c->status)),
			};
			if (store_tx_exec(tx, "INSERT INTO pki_acme_chall (id, authz_id,"
					  " type, token, status, validated, err_type,"
					  " err_detail) VALUES (?, ?, ?, ?, ?, 0, NULL, NULL)",
					  x, BW_ARRAY_LEN(x), err) < 0)
				return -1;
		}
	}
	return 0;
}

int acme_db_order_insert(struct pki_acme *a, const struct acme_order *o,
			 struct bw_err *err)
{
	struct bw_err e;
	if (store_write(a->st, order_insert_job, (void *)o, &e) < 0)
		return db_fail(err, &e);
	return 0;
}

static int order_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct acme_order *o = arg;
	COPY(o->id, row, 0);
	COPY(o->tenant, row, 1);
	COPY(o->account_id, row, 2);
	o->status = acme_status_from(store_row_text(row, 3));
	o->expires = store_row_int64(row, 4);
	o->created = store_row_int64(row, 5);
	COPY(o->err_type, row, 6);
	COPY(o->err_detail, row, 7);
	COPY(o->cert_serial, row, 8);
	return STORE_ROW_STOP;
}

#define AUTHZ_COLS "id, tenant, order_id, account_id, pos, ident_type," \
		   " ident_value, wildcard, status, expires"

static void authz_fill(struct acme_authz *z, const struct store_row *row)
{
	memset(z, 0, sizeof(*z));
	COPY(z->id, row, 0);
	COPY(z->tenant, row, 1);
	COPY(z->order_id, row, 2);
	COPY(z->account_id, row, 3);
	z->pos = (int)store_row_int64(row, 4);
	z->ip = bw_str_eq_lit(store_row_text(row, 5), "ip");
	COPY(z->value, row, 6);
	z->wildcard = store_row_int64(row, 7) != 0;
	z->status = acme_status_from(store_row_text(row, 8));
	z->expires = store_row_int64(row, 9);
}

static int order_authz_row(void *arg, const struct store_row *row,
			   struct bw_err *err)
{
	struct acme_order *o = arg;
	if (o->nauthz == PKI_ACME_IDENTIFIERS_MAX)
		return STORE_ROW_STOP;
	authz_fill(&o->authz[o->nauthz++], row);
	return STORE_ROW_NEXT;
}

int acme_db_order_get(struct pki_acme *a, const char *tenant, const char *id,
		      struct acme_order *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	struct store_value v[] = { store_text_str(tenant), store_text_str(id) };
	struct bw_err e;
	int rc = store_query_one(a->st, "SELECT id, tenant, account_id, status, expires,"
				 " created, err_type, err_detail, cert_serial FROM"
				 " pki_acme_order WHERE tenant = ? AND id = ?",
				 v, 2, order_row, out, &e);
	if (rc <= 0)
		return rc < 0 ? db_fail(err, &e) : 0;
	out->authz = calloc(PKI_ACME_IDENTIFIERS_MAX, sizeof(*out->authz));
	if (!out->authz)
		return acme_fail(err, 500, "serverInternal", "out of memory");
	struct store_value w[] = { store_text_str(id) };
	if (store_query(a->st, "SELECT " AUTHZ_COLS " FROM pki_acme_authz WHERE"
			" order_id = ? ORDER BY pos", w, 1, order_authz_row, out, &e) < 0) {
		acme_order_fini(out);
		return db_fail(err, &e);
	}
	return 1;
}

struct move_job {
	const char *id;
	enum acme_status from, to;
	const char *err_type, *err_detail, *serial;
};

static int move_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct move_job *j = arg;
	struct store_value v[] = {
		store_text_str(acme_status_name(j->to)), store_text_str(j->err_type),
		store_text_str(j->err_detail), store_text_str(j->serial),
		store_text_str(j->id), store_text_str(acme_status_name(j->from)),
	};
	if (store_tx_exec(tx, "UPDATE pki_acme_order SET status = ?,"
			  " err_type = COALESCE(?, err_type),"
			  " err_detail = COALESCE(?, err_detail),"
			  " cert_serial = COALESCE(?, cert_serial)"
			  " WHERE id = ? AND status = ?", v, BW_ARRAY_LEN(v), err) < 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return acme_fail(err, 403, "orderNotReady",
				 "the order is not %s", acme_status_name(j->from));
	return 0;
}

int acme_db_order_move(struct pki_acme *a, const char *id, enum acme_status from,
		       enum acme_status to, const char *err_type,
		       const char *err_detail, const char *serial,
		       struct bw_err *err)
{
	struct move_job j = { id, from, to, err_type, err_detail, serial };
	struct bw_err e;
	if (store_write(a->st, move_job, &j, &e) == 0)
		return 0;
	if (!strcmp(e.reason, "orderNotReady")) {
		*err = e;
		return -1;
	}
	return db_fail(err, &e);
}

struct list_ctx {
	void (*fn)(void *arg, const char *order_id);
	void *arg;
};

static int list_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct list_ctx *c = arg;
	char id[PKI_ACME_ID_LEN + 1];
	COPY(id, row, 0);
	c->fn(c->arg, id);
	return STORE_ROW_NEXT;
}

int acme_db_order_list(struct pki_acme *a, const char *account_id,
		       void (*fn)(void *arg, const char *order_id), void *arg,
		       struct bw_err *err)
{
	struct list_ctx c = { fn, arg };
	struct store_value v[] = { store_text_str(account_id),
				   store_int(PKI_ACME_ORDER_LIST_MAX) };
	struct bw_err e;
	if (store_query(a->st, "SELECT id FROM pki_acme_order WHERE account_id = ?"
			" ORDER BY created DESC, id LIMIT ?", v, 2, list_row, &c, &e) < 0)
		return db_fail(err, &e);
	return 0;
}

int acme_db_order_by_serial(struct pki_acme *a, const char *tenant,
			    const char *serial, char account_id[PKI_ACME_ID_LEN + 1],
			    struct bw_err *err)
{
	struct store_value v[] = { store_text_str(tenant), store_text_str(serial) };
	struct bw_err e;
	account_id[0] = '\0';
	int rc = store_query_one(a->st, "SELECT account_id FROM pki_acme_order WHERE"
				 " tenant = ? AND cert_serial = ?", v, 2, id_row,
				 account_id, &e);
	return rc < 0 ? db_fail(err, &e) : rc;
}

/* ------------------------------------------------------------- authz */

static int authz_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	authz_fill(arg, row);
	return STORE_ROW_STOP;
}

static int chall_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct acme_authz *z = arg;
	if (z->nch == ACME_CH_MAX_)
		return STORE_ROW_STOP;
	int t = acme_chall_from(store_row_text(row, 1));
	if (t < 0)
		return STORE_ROW_NEXT;
	struct acme_chall *c = &z->ch[z->nch++];
	COPY(c->id, row, 0);
	c->type = (enum acme_chall_type)t;
	COPY(c->token, row, 2);
	c->status = acme_status_from(store_row_text(row, 3));
	c->validated = store_row_int64(row, 4);
	COPY(c->err_type, row, 5);
	COPY(c->err_detail, row, 6);
	return STORE_ROW_NEXT;
}

static int challs_load(struct store *st, struct acme_authz *z, struct bw_err *e)
{
	struct store_value v[] = { store_text_str(z->id) };
	z->nch = 0;
	return store_query(st, "SELECT id, type, token, status, validated, err_type,"
			   " err_detail FROM pki_acme_chall WHERE authz_id = ?"
			   " ORDER BY type", v, 1, chall_row, z, e);
}

int acme_db_authz_get(struct pki_acme *a, const char *tenant, const char *id,
		      struct acme_authz *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	struct store_value v[] = { store_text_str(tenant), store_text_str(id) };
	struct bw_err e;
	int rc = store_query_one(a->st, "SELECT " AUTHZ_COLS " FROM pki_acme_authz"
				 " WHERE tenant = ? AND id = ?", v, 2, authz_row,
				 out, &e);
	if (rc <= 0)
		return rc < 0 ? db_fail(err, &e) : 0;
	if (challs_load(a->st, out, &e) < 0)
		return db_fail(err, &e);
	return 1;
}

struct chall_job {
	const char *authz_id, *chall_id;
	bool ok;
	const char *err_type, *err_detail;
	int moved;
	int kind; /* 0 start, 1 finish, 2 deactivate */
};

/* After an authorization changed: the order becomes invalid when one of
 * its authorizations is not valid and cannot become so, ready when all
 * are valid. Only a pending order moves. */
static int order_settle(struct store_tx *tx, const char *authz_id,
			struct bw_err *err)
{
	char order_id[PKI_ACME_ID_LEN + 1] = "";
	struct store_value v[] = { store_text_str(authz_id) };
	if (store_tx_query_one(tx, "SELECT order_id FROM pki_acme_authz WHERE id = ?",
			       v, 1, id_row, order_id, err) < 0)
		return -1;
	struct store_value o[] = { store_text_str(order_id) };
	int64_t bad = 0, notvalid = 0;
	if (store_tx_query_one(tx, "SELECT COUNT(*) FROM pki_acme_authz WHERE"
			       " order_id = ? AND status IN ('invalid', 'deactivated',"
			       " 'expired', 'revoked')", o, 1, count_row, &bad, err) < 0 ||
	    store_tx_query_one(tx, "SELECT COUNT(*) FROM pki_acme_authz WHERE"
			       " order_id = ? AND status <> 'valid'", o, 1, count_row,
			       &notvalid, err) < 0)
		return -1;
	const char *to = bad ? "invalid" : notvalid == 0 ? "ready" : NULL;
	if (!to)
		return 0;
	struct store_value u[] = { store_text_str(to),
				   store_text_str(bad ? "unauthorized" : NULL),
				   store_text_str(bad ? "an authorization failed" : NULL),
				   store_text_str(order_id) };
	return store_tx_exec(tx, "UPDATE pki_acme_order SET status = ?, err_type = ?,"
			     " err_detail = ? WHERE id = ? AND status = 'pending'",
			     u, BW_ARRAY_LEN(u), err);
}

static int chall_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct chall_job *j = arg;
	if (j->kind == 0) {
		struct store_value v[] = { store_text_str(j->chall_id),
					   store_text_str(j->authz_id),
					   store_text_str(j->authz_id) };
		if (store_tx_exec(tx, "UPDATE pki_acme_chall SET status = 'processing'"
				  " WHERE id = ? AND authz_id = ? AND status = 'pending'"
				  " AND EXISTS (SELECT 1 FROM pki_acme_authz WHERE id = ?"
				  " AND status = 'pending')", v, 3, err) < 0)
			return -1;
		j->moved = (int)store_tx_changes(tx);
		return 0;
	}
	if (j->kind == 2) {
		struct store_value v[] = { store_text_str(j->authz_id) };
		if (store_tx_exec(tx, "UPDATE pki_acme_authz SET status = 'deactivated'"
				  " WHERE id = ? AND status IN ('pending', 'valid')",
				  v, 1, err) < 0)
			return -1;
		j->moved = (int)store_tx_changes(tx);
		return j->moved ? order_settle(tx, j->authz_id, err) : 0;
	}
	const char *st = j->ok ? "valid" : "invalid";
	struct store_value c[] = {
		store_text_str(st), store_int(bw_clock_now_s()),
		store_text_str(j->ok ? NULL : j->err_type),
		store_text_str(j->ok ? NULL : j->err_detail),
		store_text_str(j->chall_id),
	};
	if (store_tx_exec(tx, "UPDATE pki_acme_chall SET status = ?, validated = ?,"
			  " err_type = ?, err_detail = ? WHERE id = ? AND"
			  " status = 'processing'", c, BW_ARRAY_LEN(c), err) < 0)
		return -1;
	j->moved = (int)store_tx_changes(tx);
	if (!j->moved)
		return 0; /* already settled (a restart re-ran it) */
	struct store_value z[] = { store_text_str(st), store_text_str(j->authz_id) };
	if (store_tx_exec(tx, "UPDATE pki_acme_authz SET status = ? WHERE id = ?"
			  " AND status = 'pending'", z, 2, err) < 0)
		return -1;
	return order_settle(tx, j->authz_id, err);
}

int acme_db_chall_start(struct pki_acme *a, const char *authz_id,
			const char *chall_id, struct bw_err *err)
{
	struct chall_job j = { .authz_id = authz_id, .chall_id = chall_id, .kind = 0 };
	struct bw_err e;
	if (store_write(a->st, chall_job, &j, &e) < 0)
		return db_fail(err, &e);
	return j.moved;
}

int acme_db_chall_finish(struct pki_acme *a, const char *authz_id,
			 const char *chall_id, bool ok, const char *err_type,
			 const char *err_detail, struct bw_err *err)
{
	struct chall_job j = { .authz_id = authz_id, .chall_id = chall_id, .ok = ok,
			       .err_type = err_type, .err_detail = err_detail,
			       .kind = 1 };
	struct bw_err e;
	if (store_write(a->st, chall_job, &j, &e) < 0)
		return db_fail(err, &e);
	return j.moved;
}

int acme_db_authz_deactivate(struct pki_acme *a, const char *authz_id,
			     struct bw_err *err)
{
	struct chall_job j = { .authz_id = authz_id, .kind = 2 };
	struct bw_err e;
	if (store_write(a->st, chall_job, &j, &e) < 0)
		return db_fail(err, &e);
	return j.moved;
}

struct proc_ctx {
	struct pki_acme *a;
	void (*fn)(void *arg, const struct acme_authz *z, const struct acme_chall *c,
		   const char *thumb);
	void *arg;
	size_t n;
};

static int proc_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct proc_ctx *p = arg;
	struct acme_authz z;
	authz_fill(&z, row);
	struct acme_chall c = { .status = ACME_ST_PROCESSING };
	COPY(c.id, row, 10);
	int t = acme_chall_from(store_row_text(row, 11));
	COPY(c.token, row, 12);
	char thumb[PKI_ACME_THUMB_LEN + 1];
	COPY(thumb, row, 13);
	if (t >= 0) {
		c.type = (enum acme_chall_type)t;
		p->fn(p->arg, &z, &c, thumb);
		p->n++;
	}
	return p->n >= PKI_ACME_VALIDATIONS_HARD ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int acme_db_processing(struct pki_acme *a,
		       void (*fn)(void *arg, const struct acme_authz *z,
				  const struct acme_chall *c, const char *thumb),
		       void *arg, struct bw_err *err)
{
	struct proc_ctx p = { a, fn, arg, 0 };
	struct bw_err e;
	if (store_query(a->st, "SELECT z.id, z.tenant, z.order_id, z.account_id, z.pos,"
			" z.ident_type, z.ident_value, z.wildcard, z.status, z.expires,"
			" c.id, c.type, c.token, a.thumb FROM pki_acme_chall c"
			" JOIN pki_acme_authz z ON z.id = c.authz_id"
			" JOIN pki_acme_account a ON a.id = z.account_id"
			" WHERE c.status = 'processing'", NULL, 0, proc_row, &p, &e) < 0)
		return db_fail(err, &e);
	return 0;
}
