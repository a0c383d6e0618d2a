/*
 * State of the browser-facing half of identity: the "iam_mfa" schema
 * (WebAuthn credentials and challenges, one-time codes, OIDC consents,
 * step-up marks, groups whose members must use MFA, roles whose holders
 * must), migrated once per
 * process on first use, and the small functions over consents, step-up,
 * the per-group MFA policy and a client's registered redirect URIs (for
 * answers that go back to a client without a code).
 *
 * Invariants: like the core schema, every row carries its tenant and
 * cascades from its user (or session, or group), so deleting a user or
 * tenant removes its security keys, codes, consents and marks in the same
 * transaction; step-up marks hang off the session row's hash and die
 * with the session.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"

#include <string.h>

static const char *const mfa_schema[] = {
    /* 1 */
    "CREATE TABLE iam_webauthn_cred (tenant TEXT NOT NULL, cred_id BLOB NOT "
    "NULL, handle TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,"
    " cose_key BLOB NOT NULL, alg BIGINT NOT NULL, sign_count BIGINT NOT NULL,"
    " aaguid BLOB NOT NULL, fmt TEXT NOT NULL, att_type TEXT NOT NULL,"
    " created BIGINT NOT NULL, last_used BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (tenant, cred_id),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id)"
    " ON DELETE CASCADE);"
    "CREATE INDEX iam_webauthn_cred_user ON iam_webauthn_cred (tenant, "
    "user_id);"
    "CREATE TABLE iam_webauthn_challenge (hash BLOB PRIMARY KEY,"
    " tenant TEXT NOT NULL, user_id TEXT NOT NULL, purpose TEXT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id)"
    " ON DELETE CASCADE);"
    "CREATE TABLE iam_otp (tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " channel BIGINT NOT NULL, hash BLOB, expires BIGINT NOT NULL DEFAULT 0,"
    " attempts BIGINT NOT NULL DEFAULT 0, last_sent BIGINT NOT NULL DEFAULT 0,"
    " window_start BIGINT NOT NULL DEFAULT 0,"
    " window_sends BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (tenant, user_id, channel),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id)"
    " ON DELETE CASCADE);"
    "CREATE TABLE iam_consent (tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " client_id TEXT NOT NULL, scope TEXT NOT NULL, created BIGINT NOT NULL,"
    " PRIMARY KEY (tenant, user_id, client_id),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id)"
    " ON DELETE CASCADE);"
    "CREATE TABLE iam_stepup (session_hash BLOB PRIMARY KEY REFERENCES"
    " iam_session (hash) ON DELETE CASCADE, mfa_at BIGINT NOT NULL);"
    "CREATE TABLE iam_mfa_group (tenant TEXT NOT NULL, group_id TEXT NOT NULL,"
    " PRIMARY KEY (tenant, group_id),"
    " FOREIGN KEY (tenant, group_id) REFERENCES iam_group (tenant, id)"
    " ON DELETE CASCADE)",
    /* 2: platform roles whose holders must use MFA (iam_stepup.c) */
    "CREATE TABLE iam_mfa_role (tenant TEXT NOT NULL REFERENCES iam_tenant"
    " (name) ON DELETE CASCADE, role TEXT NOT NULL,"
    " PRIMARY KEY (tenant, role))",
};

int iam_mfa_ready(struct iam *iam, struct bw_err *err)
{
	if (atomic_load(&iam->mfa_schema))
		return 0;
	/* Two threads may both get here: store_migrate is idempotent and
	 * serialised by the store's writer. */
	if (store_migrate(iam->store, "iam_mfa", mfa_schema,
			  BW_ARRAY_LEN(mfa_schema), err) < 0)
		return -1;
	atomic_store(&iam->mfa_schema, 1);
	return 0;
}

/* -------------------------------------------------------------- consent */

static int text_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct bw_str t = store_row_text(row, 0);
	char **out = arg;
	size_t cap = (size_t)(uintptr_t)out[1];
	if (t.len >= cap)
		return bw_err_set(err, 500, "iam", "corrupt", "scope too long");
	memcpy(out[0], t.p, t.len);
	out[0][t.len] = 0;
	return STORE_ROW_NEXT;
}

int iam_consent_scope(struct iam *iam, const char *tenant, const char *user_id,
		      const char *client_id, char *out, size_t cap,
		      struct bw_err *err)
{
	char *args[2] = {out, (char *)(uintptr_t)cap};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(client_id)};
	out[0] = 0;
	return store_query_one(iam->store,
			       "SELECT scope FROM iam_consent WHERE tenant = ?"
			       " AND user_id = ? AND client_id = ?",
			       k, 3, text_row, args, err);
}

bool iam_scope_subset(const char *want, const char *have)
{
	const char *p = want ? want : "";
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 0)
			break;
		bool found = false;
		for (const char *q = have; *q;) {
			while (*q == ' ')
				q++;
			size_t m = strcspn(q, " ");
			if (m == n && memcmp(p, q, n) == 0)
				found = true;
			q += m;
		}
		if (!found)
			return false;
		p += n;
	}
	return true;
}

int iam_consent_has(struct iam *iam, const char *tenant, const char *user_id,
		    const char *client_id, const char *scope,
		    struct bw_err *err)
{
	char have[IAM_SCOPES_MAX + 1];
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	int rc = iam_consent_scope(iam, tenant, user_id, client_id, have,
				   sizeof(have), err);
	if (rc <= 0)
		return rc;
	/* Covered when every requested scope was granted before. */
	return iam_scope_subset(scope, have) ? 1 : 0;
}

int iam_consent_grant(struct iam *iam, const char *tenant, const char *user_id,
		      const char *client_id, const char *scope,
		      struct bw_err *err)
{
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value v[] = {
	    store_text_str(tenant), store_text_str(user_id),
	    store_text_str(client_id), store_text_str(scope ? scope : ""),
	    store_int(bw_clock_now_s())};
	return store_exec(iam->store,
			  "INSERT INTO iam_consent (tenant, user_id, client_id,"
			  " scope, created) VALUES (?, ?, ?, ?, ?)"
			  " ON CONFLICT (tenant, user_id, client_id) DO UPDATE"
			  " SET scope = excluded.scope, created = "
			  "excluded.created",
			  v, 5, NULL, err);
}

/* -------------------------------------------------------------- step-up */

int iam_stepup_mark(struct iam *iam, const char *token, size_t len,
		    struct bw_err *err)
{
	uint8_t h[32];
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	crypto_sha256(token, len, h);
	struct store_value v[] = {store_int(bw_clock_now_s()),
				  store_blob(h, 32)};
	/* Only for a session that exists: the mark dies with it. */
	return store_exec(iam->store,
			  "INSERT INTO iam_stepup (session_hash, mfa_at)"
			  " SELECT hash, ? FROM iam_session WHERE hash = ?"
			  " ON CONFLICT (session_hash) DO UPDATE SET mfa_at ="
			  " excluded.mfa_at",
			  v, 2, NULL, err);
}

int iam_stepup_fresh(struct iam *iam, const char *token, size_t len,
		     int64_t max_age_s, struct bw_err *err)
{
	uint8_t h[32];
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	crypto_sha256(token, len, h);
	struct store_value k[] = {store_blob(h, 32),
				  store_int(bw_clock_now_s() - max_age_s)};
	return store_query_one(iam->store,
			       "SELECT 1 FROM iam_stepup WHERE session_hash = ?"
			       " AND mfa_at >= ?",
			       k, 2, NULL, NULL, err);
}

/* ------------------------------------------------------- MFA per group */

int iam_mfa_group_set(struct iam *iam, const char *tenant, const char *group_id,
		      bool required, struct bw_err *err)
{
	struct iam_group g;
	if (iam_mfa_ready(iam, err) < 0 ||
	    iam_group_get(iam, tenant, group_id, &g, err) < 0)
		return -1;
	struct store_value v[] = {store_text_str(tenant),
				  store_text_str(group_id)};
	return store_exec(iam->store,
			  required
			      ? "INSERT INTO iam_mfa_group (tenant,"
				" group_id) VALUES (?, ?) ON CONFLICT DO"
				" NOTHING"
			      : "DELETE FROM iam_mfa_group WHERE tenant = ?"
				" AND group_id = ?",
			  v, 2, NULL, err);
}

int iam_mfa_required_for(struct iam *iam, const char *tenant,
			 const char *user_id, struct bw_err *err)
{
	struct iam_tenant t;
	if (iam_tenant_get(iam, tenant, &t, err) < 0)
		return -1;
	if (t.policy.mfa_required)
		return 1;
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	int rc = store_query_one(
	    iam->store,
	    "SELECT 1 FROM iam_member m JOIN iam_mfa_group g"
	    " ON g.tenant = m.tenant AND g.group_id ="
	    " m.group_id WHERE m.tenant = ? AND m.user_id = ?",
	    k, 2, NULL, NULL, err);
	return rc != 0 ? rc : iam_mfa_role_held(iam, tenant, user_id, err);
}

int iam_mfa_methods(struct iam *iam, const char *tenant, const char *user_id,
		    struct iam_mfa_methods *m, struct bw_err *err)
{
	memset(m, 0, sizeof(*m));
	if (iam_mfa_ready(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	int a = store_query_one(iam->store,
				"SELECT 1 FROM iam_totp WHERE tenant = ? AND"
				" user_id = ? AND confirmed = 1",
				k, 2, NULL, NULL, err);
	int b = a < 0 ? -1
		      : store_query_one(iam->store,
					"SELECT 1 FROM iam_webauthn_cred WHERE"
					" tenant = ? AND user_id = ? LIMIT 1",
					k, 2, NULL, NULL, err);
	int r = b < 0 ? -1
		      : store_query_one(iam->store,
					"SELECT 1 FROM iam_recovery WHERE"
					" tenant = ? AND user_id = ? LIMIT 1",
					k, 2, NULL, NULL, err);
	if (a < 0 || b < 0 || r < 0)
		return -1;
	m->recovery = r == 1;
	m->totp = a == 1;
	m->webauthn = b == 1;
	struct iam_user u;
	if (iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	m->email = u.email[0] != 0;
	m->phone = iam_user_phone(&u, NULL, 0) == 0;
	return 0;
}

/* --------------------------------------------------------- OIDC clients */

struct client_row {
	char *name;
	size_t cap;
	char uris[IAM_OIDC_URIS_MAX + 1];
};

static int client_row_fn(void *arg, const struct store_row *row,
			 struct bw_err *err)
{
	struct client_row *c = arg;
	if (iam_row_text(row, 0, c->name, c->cap, err) < 0 ||
	    iam_row_text(row, 1, c->uris, sizeof(c->uris), err) < 0)
		return -1;
	return STORE_ROW_NEXT;
}

int iam_oidc_client_redirect(struct iam *iam, const char *tenant,
			     const char *client_id, const char *redirect_uri,
			     char *name, size_t cap, struct bw_err *err)
{
	struct client_row c = {.name = name, .cap = cap};
	name[0] = 0;
	if (!client_id || !redirect_uri)
		return 0;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(client_id)};
	int rc = store_query_one(iam->store,
				 "SELECT name, redirect_uris FROM"
				 " iam_oidc_client WHERE tenant = ? AND"
				 " client_id = ?",
				 k, 2, client_row_fn, &c, err);
	if (rc <= 0)
		return rc;
	/* Exact match against the space-separated registered list. */
	size_t n = strlen(redirect_uri);
	for (const char *q = c.uris; *q;) {
		while (*q == ' ')
			q++;
		size_t m = strcspn(q, " ");
		if (m == n && memcmp(q, redirect_uri, n) == 0)
			return 1;
		q += m;
	}
	return 0;
}
