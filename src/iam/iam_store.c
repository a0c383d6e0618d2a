/*
 * The identity core's lifetime (iam_new/iam_free), its schema, shared
 * helpers (ids, names, row copies, policy (de)serialisation) and tenants.
 *
 * Invariants: every table has a tenant column and every statement binds
 * it (tenant isolation is a property of the SQL, not of callers); child
 * rows reference their user or tenant with ON DELETE CASCADE, so deleting
 * a user or tenant removes its credentials in the same transaction.
 */
#include "iam/iam_int.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

static const char *const iam_schema[] = {
    /* 1 */
    "CREATE TABLE iam_tenant (name TEXT PRIMARY KEY, display_name TEXT NOT "
    "NULL,"
    " disabled BOOLEAN NOT NULL DEFAULT 0, policy TEXT NOT NULL,"
    " created BIGINT NOT NULL, updated BIGINT NOT NULL);"
    "CREATE TABLE iam_user (tenant TEXT NOT NULL REFERENCES iam_tenant (name)"
    " ON DELETE CASCADE, id TEXT NOT NULL, name TEXT NOT NULL,"
    " name_key TEXT NOT NULL, display_name TEXT NOT NULL, email TEXT NOT NULL,"
    " attrs TEXT NOT NULL, disabled BOOLEAN NOT NULL DEFAULT 0,"
    " password_hash TEXT, password_changed BIGINT NOT NULL DEFAULT 0,"
    " must_change BOOLEAN NOT NULL DEFAULT 0, created BIGINT NOT NULL,"
    " updated BIGINT NOT NULL, PRIMARY KEY (tenant, id));"
    "CREATE UNIQUE INDEX iam_user_name ON iam_user (tenant, name_key);"
    "CREATE TABLE iam_group (tenant TEXT NOT NULL REFERENCES iam_tenant (name)"
    " ON DELETE CASCADE, id TEXT NOT NULL, name TEXT NOT NULL,"
    " name_key TEXT NOT NULL, description TEXT NOT NULL,"
    " created BIGINT NOT NULL, PRIMARY KEY (tenant, id));"
    "CREATE UNIQUE INDEX iam_group_name ON iam_group (tenant, name_key);"
    "CREATE TABLE iam_member (tenant TEXT NOT NULL, group_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL, added BIGINT NOT NULL,"
    " PRIMARY KEY (tenant, group_id, user_id),"
    " FOREIGN KEY (tenant, group_id) REFERENCES iam_group (tenant, id) ON "
    "DELETE CASCADE,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE INDEX iam_member_user ON iam_member (tenant, user_id);"
    "CREATE TABLE iam_pw_history (tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " seq BIGINT NOT NULL, hash TEXT NOT NULL, created BIGINT NOT NULL,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE INDEX iam_pw_history_user ON iam_pw_history (tenant, user_id, seq);"
    "CREATE TABLE iam_totp (tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " sealed BLOB NOT NULL, alg BIGINT NOT NULL, digits BIGINT NOT NULL,"
    " period BIGINT NOT NULL, confirmed BOOLEAN NOT NULL DEFAULT 0,"
    " last_step BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL,"
    " PRIMARY KEY (tenant, user_id),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE TABLE iam_recovery (tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " hash BLOB NOT NULL, PRIMARY KEY (tenant, user_id, hash),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE TABLE iam_session (hash BLOB PRIMARY KEY, tenant TEXT NOT NULL,"
    " user_id TEXT NOT NULL, handle TEXT NOT NULL, created BIGINT NOT NULL,"
    " last_seen BIGINT NOT NULL, idle_s BIGINT NOT NULL, expires BIGINT NOT "
    "NULL,"
    " ip TEXT NOT NULL, mfa BOOLEAN NOT NULL,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE INDEX iam_session_user ON iam_session (tenant, user_id);"
    "CREATE TABLE iam_apikey (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
    " user_id TEXT NOT NULL, name TEXT NOT NULL, secret_hash BLOB NOT NULL,"
    " scopes TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL,"
    " last_used BIGINT NOT NULL DEFAULT 0,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE INDEX iam_apikey_user ON iam_apikey (tenant, user_id);"
    "CREATE TABLE iam_challenge (hash BLOB PRIMARY KEY, tenant TEXT NOT NULL,"
    " user_id TEXT NOT NULL, purpose TEXT NOT NULL, expires BIGINT NOT NULL,"
    " attempts BIGINT NOT NULL DEFAULT 0,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE TABLE iam_known_source (tenant TEXT NOT NULL, user_id TEXT NOT "
    "NULL,"
    " ip TEXT NOT NULL, last_ok BIGINT NOT NULL, PRIMARY KEY (tenant, user_id, "
    "ip),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE)",
    /* 2: OIDC provider (iam_oidc.c) */
    "CREATE TABLE iam_oidc_key (tenant TEXT NOT NULL REFERENCES iam_tenant "
    "(name)"
    " ON DELETE CASCADE, kid TEXT NOT NULL, alg TEXT NOT NULL, sealed BLOB NOT "
    "NULL,"
    " public_jwk TEXT NOT NULL, created BIGINT NOT NULL,"
    " retired BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (tenant, kid));"
    "CREATE TABLE iam_oidc_client (tenant TEXT NOT NULL REFERENCES iam_tenant "
    "(name)"
    " ON DELETE CASCADE, client_id TEXT NOT NULL, name TEXT NOT NULL,"
    " secret_hash BLOB, redirect_uris TEXT NOT NULL, grant_types TEXT NOT NULL,"
    " scopes TEXT NOT NULL, created BIGINT NOT NULL, PRIMARY KEY (tenant, "
    "client_id));"
    "CREATE TABLE iam_oidc_code (hash BLOB PRIMARY KEY, tenant TEXT NOT NULL,"
    " client_id TEXT NOT NULL, user_id TEXT NOT NULL, redirect_uri TEXT NOT "
    "NULL,"
    " scope TEXT NOT NULL, challenge TEXT NOT NULL, nonce TEXT NOT NULL,"
    " auth_time BIGINT NOT NULL, expires BIGINT NOT NULL,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE TABLE iam_oidc_refresh (hash BLOB PRIMARY KEY, tenant TEXT NOT "
    "NULL,"
    " client_id TEXT NOT NULL, user_id TEXT NOT NULL, family TEXT NOT NULL,"
    " scope TEXT NOT NULL, used BOOLEAN NOT NULL DEFAULT 0, expires BIGINT NOT "
    "NULL,"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON DELETE "
    "CASCADE);"
    "CREATE INDEX iam_oidc_refresh_family ON iam_oidc_refresh (tenant, family);"
    "CREATE TABLE iam_oidc_revoked (tenant TEXT NOT NULL, jti TEXT NOT NULL,"
    " expires BIGINT NOT NULL, PRIMARY KEY (tenant, jti))",
    /* 3: whether the sign-in behind a code passed MFA (ID token "amr") */
    "ALTER TABLE iam_oidc_code ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT 0",
    /* 4: the sign-in behind a refresh token, for the ID tokens it mints
     * (OIDC Core 12.2: auth_time and amr as in the original ID token) */
    ("ALTER TABLE iam_oidc_refresh ADD COLUMN auth_time BIGINT NOT NULL DEFAULT 0;"
     "ALTER TABLE iam_oidc_refresh ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT 0"),
};

/* -------------------------------------------------------------- helpers */

void iam_new_id(char out[IAM_ID_LEN + 1])
{
	uint8_t b[IAM_ID_LEN / 2];
	bw_random(b, sizeof(b));
	bw_hex_encode(b, sizeof(b), out);
}

bool iam_valid_tenant_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > IAM_TENANT_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Names: 1..IAM_NAME_MAX bytes, no control characters, no leading or
 * trailing space (so "alice" and "alice " cannot both exist). UTF-8
 * validity is the JSON layer's job on the API path; here bytes >= 0x80
 * pass. */
bool iam_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > IAM_NAME_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

void iam_name_key(const char *s, char *out, size_t cap)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		out[i] =
		    (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	out[i] = 0;
}

int iam_row_text(const struct store_row *row, int col, char *out, size_t cap,
		 struct bw_err *err)
{
	struct bw_str s = store_row_text(row, col);
	if (s.len >= cap)
		return bw_err_set(err, 500, "iam", "corrupt",
				  "stored text too long");
	memcpy(out, s.p, s.len);
	out[s.len] = 0;
	return 0;
}

/* ---------------------------------------------------------------- policy */

void iam_policy_defaults(struct iam_policy *p)
{
	*p = (struct iam_policy){
	    .pw_min_length = IAM_PW_MIN_DEFAULT,
	    .pw_max_length = IAM_PW_MAX_DEFAULT,
	    .pw_blocklist = true,
	    .pw_forbid_names = true,
	    .pw_history = IAM_PW_HISTORY_DEFAULT,
	    .pw_max_age_days = 0,
	    .pw_warn_days = IAM_PW_WARN_DAYS_DEFAULT,
	    .lock_window_s = IAM_LOCK_WINDOW_S_DEFAULT,
	    .lock_pair_threshold = IAM_LOCK_PAIR_DEFAULT,
	    .lock_account_threshold = IAM_LOCK_ACCOUNT_DEFAULT,
	    .lock_ip_threshold = IAM_LOCK_IP_DEFAULT,
	    .mfa_required = false,
	    .session_idle_s = IAM_SESSION_IDLE_DEFAULT_S,
	    .session_absolute_s = IAM_SESSION_ABS_DEFAULT_S,
	    .step_up_s = IAM_STEPUP_DEFAULT_S,
	    .step_up_require_mfa = false,
	};
}

#define RANGE(field, lo, hi)                                                   \
	do {                                                                   \
		if ((uint64_t)p->field + 1 < (uint64_t)(lo) + 1 ||             \
		    p->field > (hi))                                           \
			return bw_err_set(err, 400, "iam", "bad_policy",       \
					  "%s must be %u..%u", #field,         \
					  (unsigned)(lo), (unsigned)(hi));     \
	} while (0)

int iam_policy_check(const struct iam_policy *p, struct bw_err *err)
{
	RANGE(pw_min_length, IAM_PW_MIN_FLOOR, IAM_PW_MAX_HARD);
	RANGE(pw_max_length, IAM_PW_MAX_FLOOR, IAM_PW_MAX_HARD);
	if (p->pw_min_length > p->pw_max_length)
		return bw_err_set(err, 400, "iam", "bad_policy",
				  "pw_min_length exceeds pw_max_length");
	RANGE(pw_min_lower, 0, 64);
	RANGE(pw_min_upper, 0, 64);
	RANGE(pw_min_digit, 0, 64);
	RANGE(pw_min_symbol, 0, 64);
	RANGE(pw_history, 0, IAM_PW_HISTORY_MAX);
	RANGE(pw_max_age_days, 0, IAM_PW_MAX_AGE_DAYS_HARD);
	RANGE(pw_warn_days, 0, 365);
	RANGE(lock_window_s, 60, 86400);
	RANGE(lock_pair_threshold, IAM_LOCK_THRESHOLD_MIN,
	      IAM_LOCK_THRESHOLD_MAX);
	RANGE(lock_account_threshold, IAM_LOCK_THRESHOLD_MIN,
	      IAM_LOCK_THRESHOLD_MAX);
	RANGE(lock_ip_threshold, IAM_LOCK_THRESHOLD_MIN,
	      IAM_LOCK_THRESHOLD_MAX);
	RANGE(session_idle_s, 60, IAM_SESSION_ABS_MAX_S);
	RANGE(session_absolute_s, 60, IAM_SESSION_ABS_MAX_S);
	RANGE(step_up_s, IAM_STEPUP_MIN_S, IAM_STEPUP_MAX_S);
	return 0;
}

static const struct {
	const char *name;
	size_t off;
	bool is_bool;
} policy_fields[] = {
#define PF(f)                                                                  \
	{                                                                      \
#f, offsetof(struct iam_policy, f), false                      \
	}
#define PB(f)                                                                  \
	{                                                                      \
#f, offsetof(struct iam_policy, f), true                       \
	}
    PF(pw_min_length),	     PF(pw_max_length),		 PF(pw_min_lower),
    PF(pw_min_upper),	     PF(pw_min_digit),		 PF(pw_min_symbol),
    PB(pw_blocklist),	     PB(pw_forbid_names),	 PF(pw_history),
    PF(pw_max_age_days),     PF(pw_warn_days),		 PF(lock_window_s),
    PF(lock_pair_threshold), PF(lock_account_threshold), PF(lock_ip_threshold),
    PB(mfa_required),	     PF(session_idle_s),	 PF(session_absolute_s),
    PF(step_up_s),	     PB(step_up_require_mfa),	 PB(mfa_enrol_at_login),
#undef PF
#undef PB
};

int iam_policy_to_json(const struct iam_policy *p, struct bw_buf *out)
{
	struct json_writer w;
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	for (size_t i = 0; i < BW_ARRAY_LEN(policy_fields); i++) {
		const char *base = (const char *)p + policy_fields[i].off;
		if (policy_fields[i].is_bool)
			json_write_kv_bool(&w, policy_fields[i].name,
					   *(const bool *)base);
		else {
			uint32_t u32;
			memcpy(&u32, base, sizeof(u32));
			json_write_kv_int(&w, policy_fields[i].name, u32);
		}
	}
	json_write_object_end(&w);
	return json_writer_finish(&w);
}

/* Fields absent from s keep their current value in p (so a stored policy
 * written by older code gains the new fields' defaults, and an API update
 * may name only what it changes). Unknown keys are refused. */
int iam_policy_from_json(const char *s, size_t n, struct iam_policy *p,
			 struct bw_err *err)
{
	int rc = -1;
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	struct json_limits lim = {.max_bytes = 16384, .max_depth = 2};
	const struct json_value *v = json_parse(a, s, n, &lim, err);
	if (!v)
		goto out;
	if (v->type != JSON_OBJECT) {
		bw_err_set(err, 400, "iam", "bad_policy",
			   "a policy is a JSON object");
		goto out;
	}
	for (size_t m = 0; m < v->u.obj.n; m++) {
		const struct json_member *mem = &v->u.obj.members[m];
		size_t i;
		for (i = 0; i < BW_ARRAY_LEN(policy_fields); i++)
			if (bw_str_eq_lit(mem->key, policy_fields[i].name))
				break;
		if (i == BW_ARRAY_LEN(policy_fields)) {
			bw_err_set(err, 400, "iam", "bad_policy",
				   "unknown policy key \"%.*s\"",
				   (int)(mem->key.len > 40 ? 40 : mem->key.len),
				   mem->key.p);
			goto out;
		}
		char *base = (char *)p + policy_fields[i].off;
		const struct json_value *val = mem->value;
		if (policy_fields[i].is_bool) {
			if (val->type != JSON_TRUE && val->type != JSON_FALSE) {
				bw_err_set(err, 400, "iam", "bad_policy",
					   "%s must be a boolean",
					   policy_fields[i].name);
				goto out;
			}
			*(bool *)base = val->type == JSON_TRUE;
		} else {
			if (val->type != JSON_NUMBER || !val->u.num.is_int ||
			    val->u.num.i < 0 || val->u.num.i > UINT32_MAX) {
				bw_err_set(err, 400, "iam", "bad_policy",
					   "%s must be a non-negative integer",
					   policy_fields[i].name);
				goto out;
			}
			uint32_t u32 = (uint32_t)val->u.num.i;
			memcpy(base, &u32, sizeof(u32));
		}
	}
	rc = iam_policy_check(p, err);
out:
	bw_arena_free(a);
	return rc;
}

/* --------------------------------------------------------------- tenants */

struct tenant_row {
	struct iam_tenant *t;
};

static int tenant_row(void *arg, const struct store_row *row,
		      struct bw_err *err)
{
	struct iam_tenant *t = arg;
	memset(t, 0, sizeof(*t));
	if (iam_row_text(row, 0, t->name, sizeof(t->name), err) < 0 ||
	    iam_row_text(row, 1, t->display_name, sizeof(t->display_name),
			 err) < 0)
		return -1;
	t->disabled = store_row_int64(row, 2) != 0;
	iam_policy_defaults(&t->policy);
	struct bw_str pol = store_row_text(row, 3);
	if (iam_policy_from_json(pol.p, pol.len, &t->policy, err) < 0)
		return -1;
	t->created = store_row_int64(row, 4);
	t->updated = store_row_int64(row, 5);
	return STORE_ROW_NEXT;
}

#define TENANT_COLS "name, display_name, disabled, policy, created, updated"

int iam_tenant_get(struct iam *iam, const char *name, struct iam_tenant *t,
		   struct bw_err *err)
{
	struct iam_tenant tmp;
	if (!t)
		t = &tmp;
	if (!iam_valid_tenant_name(name))
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such tenant");
	struct store_value k[] = {store_text_str(name)};
	int rc = store_query_one(
	    iam->store, "SELECT " TENANT_COLS " FROM iam_tenant WHERE name = ?",
	    k, 1, tenant_row, t, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such tenant");
	return 0;
}

int iam_tenant_require(struct iam *iam, const char *tenant, struct iam_tenant *t,
		       struct bw_err *err)
{
	struct iam_tenant tmp;
	if (!t)
		t = &tmp;
	if (iam_tenant_get(iam, tenant, t, err) < 0)
		return -1;
	if (t->disabled)
		return bw_err_set(err, 403, "iam", "tenant_disabled",
				  "tenant is disabled");
	return 0;
}

static bool text_ok(const char *s)
{
	if (!s)
		return true;
	size_t n = strlen(s);
	if (n > IAM_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return true;
}

int iam_tenant_create(struct iam *iam, const char *name,
		      const char *display_name, const struct iam_policy *policy,
		      struct iam_tenant *t, struct bw_err *err)
{
	struct iam_policy p;
	struct bw_buf pj;
	int rc = -1;
	if (!iam_valid_tenant_name(name))
		return bw_err_set(err, 400, "iam", "bad_name",
				  "tenant names are 1..63 of [a-z0-9-], not "
				  "starting with '-'");
	if (!text_ok(display_name))
		return bw_err_set(err, 400, "iam", "bad_text",
				  "display name too long");
	if (policy)
		p = *policy;
	else
		iam_policy_defaults(&p);
	if (iam_policy_check(&p, err) < 0)
		return -1;
	bw_buf_init(&pj, 16384);
	if (iam_policy_to_json(&p, &pj) < 0) {
		bw_err_set(err, 500, "iam", "internal", "policy serialisation");
		goto out;
	}
	int64_t now = bw_clock_now_s();
	const char *dn = display_name ? display_name : name;
	struct store_value v[] = {store_text_str(name), store_text_str(dn),
				  store_text(pj.data, pj.len), store_int(now),
				  store_int(now)};
	if (store_exec(iam->store,
		       "INSERT INTO iam_tenant (name, display_name, policy,"
		       " created, updated) VALUES (?, ?, ?, ?, ?)",
		       v, 5, NULL, err) < 0) {
		if (err && err->code == 409)
			bw_err_set(err, 409, "iam", "conflict",
				   "tenant exists");
		goto out;
	}
	if (t) {
		memset(t, 0, sizeof(*t));
		bw_snprintf(t->name, sizeof(t->name), "%s", name);
		bw_snprintf(t->display_name, sizeof(t->display_name), "%s", dn);
		t->created = t->updated = now;
		t->policy = p;
	}
	rc = 0;
out:
	bw_buf_fini(&pj);
	return rc;
}

int iam_tenant_update(struct iam *iam, const char *name,
		      const char *display_name, const struct iam_policy *policy,
		      struct bw_err *err)
{
	struct bw_buf pj;
	int64_t changes = 0;
	int rc = -1;
	if (!text_ok(display_name))
		return bw_err_set(err, 400, "iam", "bad_text",
				  "display name too long");
	if (policy && iam_policy_check(policy, err) < 0)
		return -1;
	bw_buf_init(&pj, 16384);
	if (policy && iam_policy_to_json(policy, &pj) < 0) {
		bw_err_set(err, 500, "iam", "internal", "policy serialisation");
		goto out;
	}
	struct store_value v[] = {
	    display_name ? store_text_str(display_name) : store_null(),
	    policy ? store_text(pj.data, pj.len) : store_null(),
	    store_int(bw_clock_now_s()),
	    store_text_str(name),
	};
	if (store_exec(iam->store,
		       "UPDATE iam_tenant SET"
		       " display_name = COALESCE(?, display_name),"
		       " policy = COALESCE(?, policy), updated = ?"
		       " WHERE name = ?",
		       v, 4, &changes, err) < 0)
		goto out;
	if (changes != 1) {
		bw_err_set(err, 404, "iam", "not_found", "no such tenant");
		goto out;
	}
	rc = 0;
out:
	bw_buf_fini(&pj);
	return rc;
}

int iam_tenant_set_disabled(struct iam *iam, const char *name, bool disabled,
			    struct bw_err *err)
{
	int64_t changes = 0;
	struct store_value v[] = {store_bool(disabled),
				  store_int(bw_clock_now_s()),
				  store_text_str(name)};
	if (store_exec(iam->store,
		       "UPDATE iam_tenant SET disabled = ?, updated = ?"
		       " WHERE name = ?",
		       v, 3, &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such tenant");
	return 0;
}

int iam_tenant_delete(struct iam *iam, const char *name, struct bw_err *err)
{
	int64_t changes = 0;
	if (name && strcmp(name, IAM_PLATFORM_TENANT) == 0)
		return bw_err_set(err, 403, "iam", "protected",
				  "the platform tenant cannot be deleted");
	struct store_value v[] = {store_text_str(name)};
	if (store_exec(iam->store, "DELETE FROM iam_tenant WHERE name = ?", v,
		       1, &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such tenant");
	if (iam->tenant_deleted)
		iam->tenant_deleted(iam->hooks_arg, name);
	return 0;
}

struct tenant_list_ctx {
	int (*fn)(void *arg, const struct iam_tenant *t);
	void *arg;
};

static int tenant_list_row(void *arg, const struct store_row *row,
			   struct bw_err *err)
{
	struct tenant_list_ctx *c = arg;
	struct iam_tenant t;
	if (tenant_row(&t, row, err) < 0)
		return -1;
	return c->fn(c->arg, &t) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_tenant_list(struct iam *iam,
		    int (*fn)(void *arg, const struct iam_tenant *t), void *arg,
		    struct bw_err *err)
{
	struct tenant_list_ctx c = {fn, arg};
	return store_query(
	    iam->store, "SELECT " TENANT_COLS " FROM iam_tenant ORDER BY name",
	    NULL, 0, tenant_list_row, &c, err);
}

/* ------------------------------------------------------------- lifetime */

struct iam *iam_new(const struct iam_options *o, struct bw_err *err)
{
	if (!o->store)
		return bw_err_set(err, 400, "iam", "bad_option",
				  "a store is required"),
		       NULL;
	if (!o->sealer.seal || !o->sealer.open)
		return bw_err_set(err, 400, "iam", "bad_option",
				  "a sealer is required"),
		       NULL;
	struct iam_argon2 a = o->argon2;
	if (!a.m_kib)
		a.m_kib = IAM_ARGON2_M_DEFAULT;
	if (!a.t)
		a.t = IAM_ARGON2_T_DEFAULT;
	if (!a.p)
		a.p = IAM_ARGON2_P_DEFAULT;
	/* OWASP's table trades memory for passes: m=19 MiB needs t>=2;
	 * we take that row as the floor for both. */
	if (a.m_kib < IAM_ARGON2_M_MIN || a.t < IAM_ARGON2_T_MIN ||
	    a.p < IAM_ARGON2_P_MIN)
		return bw_err_set(
			   err, 400, "iam", "weak_argon2",
			   "Argon2id below m=%u KiB, t=%u, p=%u is refused",
			   IAM_ARGON2_M_MIN, IAM_ARGON2_T_MIN,
			   IAM_ARGON2_P_MIN),
		       NULL;
	if (a.m_kib > IAM_ARGON2_M_MAX || a.t > IAM_ARGON2_T_MAX ||
	    a.p > IAM_ARGON2_P_MAX)
		return bw_err_set(err, 400, "iam", "bad_option",
				  "Argon2id parameters above the hard maxima"),
		       NULL;
	struct iam *iam = calloc(1, sizeof(*iam));
	if (!iam)
		return bw_err_set(err, 500, "iam", "memory", "out of memory"),
		       NULL;
	iam->store = o->store;
	iam->pool = o->pool;
	iam->password_set = o->password_set;
	iam->password_set_arg = o->password_set_arg;
	iam->membership_changed = o->membership_changed;
	iam->tenant_deleted = o->tenant_deleted;
	iam->role_held = o->role_held;
	iam->hooks_arg = o->hooks_arg;
	iam->sealer = o->sealer;
	iam->argon2 = a;
	if (iam_lockout_init(&iam->lockout, IAM_LOCK_TABLE_SIZE) < 0) {
		bw_err_set(err, 500, "iam", "memory", "out of memory");
		goto fail;
	}
	if (store_migrate(o->store, "iam", iam_schema, BW_ARRAY_LEN(iam_schema),
			  err) < 0)
		goto fail;
	if (o->blocklist_path) {
		size_t max = o->blocklist_max ? o->blocklist_max
					      : IAM_BLOCKLIST_ENTRIES_DEFAULT;
		if (max > IAM_BLOCKLIST_ENTRIES_HARD)
			max = IAM_BLOCKLIST_ENTRIES_HARD;
		if (iam_blockset_load(&iam->blocklist, o->blocklist_path, max,
				      err) < 0)
			goto fail;
	}
	/* The dummy hash has the current parameters, so verifying against it
	 * costs what a real verification costs. Its password is random and
	 * forgotten: nothing can match it. */
	uint8_t junk[32];
	char jhex[65];
	bw_random(junk, sizeof(junk));
	bw_hex_encode(junk, sizeof(junk), jhex);
	int hrc = iam_hash_password(iam, jhex, 64, iam->dummy_hash, err);
	bw_wipe(jhex, sizeof(jhex));
	bw_wipe(junk, sizeof(junk));
	if (hrc < 0)
		goto fail;
	/* The platform tenant always exists. */
	struct bw_err terr;
	if (iam_tenant_create(iam, IAM_PLATFORM_TENANT, "Platform operators",
			      NULL, NULL, &terr) < 0 &&
	    terr.code != 409) {
		if (err)
			*err = terr;
		goto fail;
	}
	return iam;
fail:
	iam->sealer.free = NULL; /* the caller still owns it on failure */
	iam_free(iam);
	return NULL;
}

void iam_free(struct iam *iam)
{
	if (!iam)
		return;
	iam_blockset_fini(&iam->blocklist);
	iam_lockout_fini(&iam->lockout);
	if (iam->sealer.free)
		iam->sealer.free(iam->sealer.ctx);
	bw_wipe(iam, sizeof(*iam));
	free(iam);
}

void iam_set_pool(struct iam *iam, struct tpool *pool)
{
	iam->pool = pool;
}

void iam_stats_get(struct iam *iam, struct iam_stats *out)
{
	out->logins_ok = atomic_load(&iam->logins_ok);
	out->logins_failed = atomic_load(&iam->logins_failed);
	out->logins_throttled = atomic_load(&iam->logins_throttled);
	out->dummy_verifications = atomic_load(&iam->dummy_verifications);
	out->rehashes = atomic_load(&iam->rehashes);
	out->mfa_ok = atomic_load(&iam->mfa_ok);
	out->mfa_failed = atomic_load(&iam->mfa_failed);
}
