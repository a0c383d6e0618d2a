/*
 * Sessions and API keys, and bearer authentication over both.
 *
 * Tokens: a session token is "bws_" + 43 base64url characters (32 random
 * bytes); an API key is "bwk_" + 16 hex id + "_" + 43 base64url secret +
 * 8 hex CRC-32 of everything before it, so leak scanners can recognise
 * and check one without asking us. Only SHA-256 of a session token / key
 * secret is stored; a token's random part carries 256 bits, so a fast
 * hash is as good as a slow one and keeps authentication cheap.
 *
 * Invariants: a session is valid only while now < expires (absolute),
 * now - last_seen < idle_s, and its user and tenant are enabled;
 * revocation deletes the row, so a revoked token is simply unknown;
 * last_seen / last_used are written back at most every
 * IAM_SESSION_TOUCH_S seconds.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"

#include <string.h>

void iam_token_new(const char *prefix, char token[IAM_TOKEN_MAX],
		   uint8_t hash[32])
{
	uint8_t rnd[32];
	size_t pl = strlen(prefix);
	bw_random(rnd, sizeof(rnd));
	memcpy(token, prefix, pl);
	crypto_b64url_encode_to(rnd, sizeof(rnd), token + pl);
	bw_wipe(rnd, sizeof(rnd));
	crypto_sha256(token, strlen(token), hash);
}

/* ------------------------------------------------------------- sessions */

int iam_session_create(struct iam *iam, const char *tenant, const char *user_id,
		       const char *ip, bool mfa, const struct iam_policy *p,
		       char token[IAM_TOKEN_MAX], struct bw_err *err)
{
	uint8_t hash[32];
	char handle[IAM_ID_LEN + 1];
	iam_token_new("bws_", token, hash);
	bw_hex_encode(hash, IAM_ID_LEN / 2, handle);
	int64_t now = bw_clock_now_s();
	struct store_value v[] = {
	    store_blob(hash, sizeof(hash)),
	    store_text_str(tenant),
	    store_text_str(user_id),
	    store_text_str(handle),
	    store_int(now),
	    store_int(now),
	    store_int(p->session_idle_s),
	    store_int(now + p->session_absolute_s),
	    store_text_str(ip ? ip : ""),
	    store_bool(mfa),
	};
	int rc =
	    store_exec(iam->store,
		       "INSERT INTO iam_session (hash, tenant, user_id,"
		       " handle, created, last_seen, idle_s, expires, ip, mfa)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       v, BW_ARRAY_LEN(v), NULL, err);
	if (rc < 0)
		bw_wipe(token, IAM_TOKEN_MAX);
	return rc;
}

struct auth_row {
	struct iam_principal *p;
	uint8_t hash[32];
	int64_t created, last_seen, idle_s, expires;
	bool user_disabled, tenant_disabled, hash_ok;
};

static int session_auth_row(void *arg, const struct store_row *row,
			    struct bw_err *err)
{
	struct auth_row *a = arg;
	size_t hl = 0;
	const void *h = store_row_blob(row, 0, &hl);
	a->hash_ok = bw_ct_equal(h, hl, a->hash, sizeof(a->hash));
	if (iam_row_text(row, 1, a->p->tenant, sizeof(a->p->tenant), err) < 0 ||
	    iam_row_text(row, 2, a->p->user_id, sizeof(a->p->user_id), err) <
		0 ||
	    iam_row_text(row, 3, a->p->credential_id,
			 sizeof(a->p->credential_id), err) < 0 ||
	    iam_row_text(row, 4, a->p->user_name, sizeof(a->p->user_name),
			 err) < 0)
		return -1;
	a->created = store_row_int64(row, 5);
	a->last_seen = store_row_int64(row, 6);
	a->idle_s = store_row_int64(row, 7);
	a->expires = store_row_int64(row, 8);
	a->p->mfa = store_row_int64(row, 9) != 0;
	a->user_disabled = store_row_int64(row, 10) != 0;
	a->tenant_disabled = store_row_int64(row, 11) != 0;
	return STORE_ROW_NEXT;
}

static int auth_session(struct iam *iam, const char *token, size_t len,
			struct iam_principal *out)
{
	struct auth_row a = {.p = out};
	struct bw_err err;
	crypto_sha256(token, len, a.hash);
	struct store_value k[] = {store_blob(a.hash, sizeof(a.hash))};
	int rc = store_query_one(
	    iam->store,
	    "SELECT s.hash, s.tenant, s.user_id, s.handle, u.name,"
	    " s.created, s.last_seen, s.idle_s, s.expires, s.mfa,"
	    " u.disabled, t.disabled FROM iam_session s"
	    " JOIN iam_user u ON u.tenant = s.tenant AND u.id = s.user_id"
	    " JOIN iam_tenant t ON t.name = s.tenant WHERE s.hash = ?",
	    k, 1, session_auth_row, &a, &err);
	if (rc < 0) {
		log_warnx("iam: session lookup failed: %s", err.msg);
		return -2;
	}
	if (rc == 0 || !a.hash_ok)
		return -1;
	int64_t now = bw_clock_now_s();
	if (now >= a.expires || now - a.last_seen >= a.idle_s) {
		/* Expired: remove it now rather than wait for a sweep. */
		if (store_exec(iam->store,
			       "DELETE FROM iam_session WHERE hash = ?", k, 1,
			       NULL, &err) < 0)
			log_warnx("iam: expired session not removed: %s",
				  err.msg);
		return -1;
	}
	if (a.user_disabled || a.tenant_disabled)
		return -1;
	if (now - a.last_seen >= IAM_SESSION_TOUCH_S) {
		struct store_value t[] = {store_int(now),
					  store_blob(a.hash, sizeof(a.hash))};
		if (store_exec(
			iam->store,
			"UPDATE iam_session SET last_seen = ? WHERE hash = ?",
			t, 2, NULL, &err) < 0)
			log_warnx("iam: session touch failed: %s", err.msg);
	}
	out->kind = IAM_PRINCIPAL_SESSION;
	out->expires =
	    a.expires < a.last_seen + a.idle_s ? a.expires : now + a.idle_s;
	return 0;
}

struct session_list_ctx {
	int (*fn)(void *arg, const struct iam_session_info *s);
	void *arg;
};

static int session_list_row(void *arg, const struct store_row *row,
			    struct bw_err *err)
{
	struct session_list_ctx *c = arg;
	struct iam_session_info s;
	memset(&s, 0, sizeof(s));
	if (iam_row_text(row, 0, s.handle, sizeof(s.handle), err) < 0 ||
	    iam_row_text(row, 1, s.ip, sizeof(s.ip), err) < 0)
		return -1;
	s.mfa = store_row_int64(row, 2) != 0;
	s.created = store_row_int64(row, 3);
	s.last_seen = store_row_int64(row, 4);
	s.expires = store_row_int64(row, 5);
	return c->fn(c->arg, &s) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_session_list(struct iam *iam, const char *tenant, const char *user_id,
		     int (*fn)(void *arg, const struct iam_session_info *s),
		     void *arg, struct bw_err *err)
{
	struct session_list_ctx c = {fn, arg};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_int(bw_clock_now_s())};
	return store_query(iam->store,
			   "SELECT handle, ip, mfa, created, last_seen, expires"
			   " FROM iam_session WHERE tenant = ? AND user_id = ?"
			   " AND expires > ? ORDER BY created",
			   k, 3, session_list_row, &c, err);
}

int iam_session_revoke(struct iam *iam, const char *tenant, const char *user_id,
		       const char *handle, struct bw_err *err)
{
	int64_t changes = 0;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(handle)};
	if (store_exec(
		iam->store,
		"DELETE FROM iam_session WHERE tenant = ? AND user_id = ?"
		" AND handle = ?",
		k, 3, &changes, err) < 0)
		return -1;
	if (changes == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such session");
	return 0;
}

int iam_session_revoke_all(struct iam *iam, const char *tenant,
			   const char *user_id, const char *keep,
			   struct bw_err *err)
{
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(keep ? keep : "")};
	return store_exec(iam->store,
			  "DELETE FROM iam_session WHERE tenant = ?"
			  " AND user_id = ? AND handle <> ?",
			  k, 3, NULL, err);
}

int iam_logout(struct iam *iam, const char *token, size_t len,
	       struct bw_err *err)
{
	uint8_t hash[32];
	if (len > IAM_TOKEN_MAX)
		return 0;
	crypto_sha256(token, len, hash);
	struct store_value k[] = {store_blob(hash, sizeof(hash))};
	return store_exec(iam->store, "DELETE FROM iam_session WHERE hash = ?",
			  k, 1, NULL, err);
}

/* ------------------------------------------------------------- API keys */

static uint32_t crc32_of(const char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static bool is_hex_lower(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool is_b64url(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool iam_apikey_looks_valid(const char *t, size_t len)
{
	char crc[9];
	if (len != IAM_APIKEY_LEN || memcmp(t, "bwk_", 4) != 0 ||
	    !is_hex_lower(t + 4, 16) || t[20] != '_' ||
	    !is_b64url(t + 21, 43) || !is_hex_lower(t + 64, 8))
		return false;
	bw_snprintf(crc, sizeof(crc), "%08x", crc32_of(t, 64));
	return memcmp(crc, t + 64, 8) == 0;
}

static bool scopes_ok(const char *s)
{
	size_t n = strlen(s);
	if (n > IAM_SCOPES_MAX || (n && (s[0] == ' ' || s[n - 1] == ' ')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ' ' && s[i + 1] == ' ')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == ':' || c == '_' || c == '-' || c == ' '))
			return false;
	}
	return true;
}

static void apikey_make(char token[IAM_APIKEY_LEN + 1], char id[17],
			uint8_t hash[32])
{
	uint8_t idb[8], secret[32];
	bw_random(idb, sizeof(idb));
	bw_random(secret, sizeof(secret));
	bw_hex_encode(idb, sizeof(idb), id);
	memcpy(token, "bwk_", 4);
	memcpy(token + 4, id, 16);
	token[20] = '_';
	crypto_b64url_encode_to(secret, sizeof(secret), token + 21);
	bw_wipe(secret, sizeof(secret));
	crypto_sha256(token + 21, 43, hash);
	bw_snprintf(token + 64, 9, "%08x", crc32_of(token, 64));
}

struct key_create_args {
	const char *tenant, *user_id, *name, *scopes, *id;
	const uint8_t *hash;
	int64_t created, expires;
};

static int key_create_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct key_create_args *a = arg;
	struct store_value u[] = {store_text_str(a->tenant),
				  store_text_str(a->user_id)};
	int rc = store_tx_query_one(
	    tx, "SELECT 1 FROM iam_user WHERE tenant = ? AND id = ?", u, 2,
	    NULL, NULL, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such user");
	struct store_value v[] = {
	    store_text_str(a->id),	store_text_str(a->tenant),
	    store_text_str(a->user_id), store_text_str(a->name),
	    store_blob(a->hash, 32),	store_text_str(a->scopes),
	    store_int(a->created),	store_int(a->expires),
	};
	return store_tx_exec(
	    tx,
	    "INSERT INTO iam_apikey (id, tenant, user_id, name,"
	    " secret_hash, scopes, created, expires)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	    v, BW_ARRAY_LEN(v), err);
}

static int count_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

int iam_apikey_create(struct iam *iam, const char *tenant, const char *user_id,
		      const char *name, const char *scopes, int64_t ttl_s,
		      char token[IAM_APIKEY_LEN + 1],
		      struct iam_apikey_info *info, struct bw_err *err)
{
	char id[17];
	uint8_t hash[32];
	int64_t n = 0;
	if (!iam_valid_name(name))
		return bw_err_set(err, 400, "iam", "bad_name",
				  "bad API key name");
	if (!scopes)
		scopes = "";
	if (!scopes_ok(scopes))
		return bw_err_set(
		    err, 400, "iam", "bad_scopes",
		    "scopes are space-separated words of [a-z0-9.:_-]");
	if (ttl_s < 0 || ttl_s > 10LL * 365 * 86400)
		return bw_err_set(err, 400, "iam", "bad_ttl",
				  "ttl must be 0..10 years");
	struct iam_tenant t;
	if (iam_tenant_require(iam, tenant, &t, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	if (store_query_one(iam->store,
			    "SELECT COUNT(*) FROM iam_apikey WHERE tenant = ?"
			    " AND user_id = ?",
			    k, 2, count_row, &n, err) < 0)
		return -1;
	if (n >= IAM_APIKEYS_PER_USER)
		return bw_err_set(err, 409, "iam", "too_many_keys",
				  "at most %d API keys per user",
				  IAM_APIKEYS_PER_USER);
	apikey_make(token, id, hash);
	int64_t now = bw_clock_now_s();
	struct key_create_args a = {
	    tenant, user_id, name, scopes,
	    id,	    hash,    now,  ttl_s ? now + ttl_s : 0};
	if (store_write(iam->store, key_create_job, &a, err) < 0) {
		bw_wipe(token, IAM_APIKEY_LEN + 1);
		return -1;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		memcpy(info->id, id, sizeof(id));
		bw_snprintf(info->name, sizeof(info->name), "%s", name);
		bw_snprintf(info->scopes, sizeof(info->scopes), "%s", scopes);
		info->created = now;
		info->expires = a.expires;
	}
	return 0;
}

static int key_info_row(void *arg, const struct store_row *row,
			struct bw_err *err)
{
	struct iam_apikey_info *k = arg;
	memset(k, 0, sizeof(*k));
	if (iam_row_text(row, 0, k->id, sizeof(k->id), err) < 0 ||
	    iam_row_text(row, 1, k->name, sizeof(k->name), err) < 0 ||
	    iam_row_text(row, 2, k->scopes, sizeof(k->scopes), err) < 0)
		return -1;
	k->created = store_row_int64(row, 3);
	k->expires = store_row_int64(row, 4);
	k->last_used = store_row_int64(row, 5);
	return STORE_ROW_NEXT;
}

#define KEY_COLS "id, name, scopes, created, expires, last_used"

int iam_apikey_rotate(struct iam *iam, const char *tenant, const char *user_id,
		      const char *key_id, int64_t overlap_s,
		      char token[IAM_APIKEY_LEN + 1],
		      struct iam_apikey_info *info, struct bw_err *err)
{
	struct iam_apikey_info old;
	if (overlap_s < 0 || overlap_s > 30 * 86400)
		return bw_err_set(err, 400, "iam", "bad_overlap",
				  "overlap must be 0..30 days");
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(key_id)};
	int rc = store_query_one(iam->store,
				 "SELECT " KEY_COLS " FROM iam_apikey"
				 " WHERE tenant = ? AND user_id = ? AND id = ?",
				 k, 3, key_info_row, &old, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : bw_err_set(err, 404, "iam", "not_found",
					   "no such key");
	int64_t ttl = old.expires ? old.expires - old.created : 0;
	if (ttl < 0)
		ttl = 0;
	/* Delete the old key when no overlap is asked for; otherwise cut its
	 * life to the overlap (never lengthen it). */
	if (iam_apikey_create(iam, tenant, user_id, old.name, old.scopes, ttl,
			      token, info, err) < 0)
		return -1;
	if (overlap_s == 0)
		return iam_apikey_revoke(iam, tenant, user_id, key_id, err);
	int64_t until = bw_clock_now_s() + overlap_s;
	struct store_value u[] = {
	    store_int(until), store_int(until), store_text_str(tenant),
	    store_text_str(user_id), store_text_str(key_id)};
	return store_exec(
	    iam->store,
	    "UPDATE iam_apikey SET expires = CASE WHEN expires = 0"
	    " OR expires > ? THEN ? ELSE expires END"
	    " WHERE tenant = ? AND user_id = ? AND id = ?",
	    u, 5, NULL, err);
}

int iam_apikey_revoke(struct iam *iam, const char *tenant, const char *user_id,
		      const char *key_id, struct bw_err *err)
{
	int64_t changes = 0;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id),
				  store_text_str(key_id)};
	if (store_exec(iam->store,
		       "DELETE FROM iam_apikey WHERE tenant = ? AND user_id = ?"
		       " AND id = ?",
		       k, 3, &changes, err) < 0)
		return -1;
	if (changes == 0)
		return bw_err_set(err, 404, "iam", "not_found", "no such key");
	return 0;
}

struct key_list_ctx {
	int (*fn)(void *arg, const struct iam_apikey_info *k);
	void *arg;
};

static int key_list_row(void *arg, const struct store_row *row,
			struct bw_err *err)
{
	struct key_list_ctx *c = arg;
	struct iam_apikey_info k;
	if (key_info_row(&k, row, err) < 0)
		return -1;
	return c->fn(c->arg, &k) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_apikey_list(struct iam *iam, const char *tenant, const char *user_id,
		    int (*fn)(void *arg, const struct iam_apikey_info *k),
		    void *arg, struct bw_err *err)
{
	struct key_list_ctx c = {fn, arg};
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(user_id)};
	return store_query(iam->store,
			   "SELECT " KEY_COLS " FROM iam_apikey"
			   " WHERE tenant = ? AND user_id = ? ORDER BY created",
			   k, 2, key_list_row, &c, err);
}

struct key_auth {
	struct iam_principal *p;
	uint8_t hash[32];
	bool hash_ok, user_disabled, tenant_disabled;
	int64_t expires, last_used;
};

static int key_auth_row(void *arg, const struct store_row *row,
			struct bw_err *err)
{
	struct key_auth *a = arg;
	size_t hl = 0;
	const void *h = store_row_blob(row, 0, &hl);
	a->hash_ok = bw_ct_equal(h, hl, a->hash, sizeof(a->hash));
	if (iam_row_text(row, 1, a->p->tenant, sizeof(a->p->tenant), err) < 0 ||
	    iam_row_text(row, 2, a->p->user_id, sizeof(a->p->user_id), err) <
		0 ||
	    iam_row_text(row, 3, a->p->scopes, sizeof(a->p->scopes), err) < 0 ||
	    iam_row_text(row, 4, a->p->user_name, sizeof(a->p->user_name),
			 err) < 0)
		return -1;
	a->expires = store_row_int64(row, 5);
	a->last_used = store_row_int64(row, 6);
	a->user_disabled = store_row_int64(row, 7) != 0;
	a->tenant_disabled = store_row_int64(row, 8) != 0;
	return STORE_ROW_NEXT;
}

static int auth_apikey(struct iam *iam, const char *token, size_t len,
		       struct iam_principal *out)
{
	struct key_auth a = {.p = out};
	struct bw_err err;
	char id[17];
	if (!iam_apikey_looks_valid(token, len))
		return -1;
	memcpy(id, token + 4, 16);
	id[16] = 0;
	crypto_sha256(token + 21, 43, a.hash);
	struct store_value k[] = {store_text_str(id)};
	int rc = store_query_one(
	    iam->store,
	    "SELECT a.secret_hash, a.tenant, a.user_id, a.scopes, u.name,"
	    " a.expires, a.last_used, u.disabled, t.disabled"
	    " FROM iam_apikey a"
	    " JOIN iam_user u ON u.tenant = a.tenant AND u.id = a.user_id"
	    " JOIN iam_tenant t ON t.name = a.tenant WHERE a.id = ?",
	    k, 1, key_auth_row, &a, &err);
	if (rc < 0) {
		log_warnx("iam: API key lookup failed: %s", err.msg);
		return -2;
	}
	if (rc == 0 || !a.hash_ok || a.user_disabled || a.tenant_disabled)
		return -1;
	int64_t now = bw_clock_now_s();
	if (a.expires && now >= a.expires)
		return -1;
	if (now - a.last_used >= IAM_SESSION_TOUCH_S) {
		struct store_value t[] = {store_int(now), store_text_str(id)};
		if (store_exec(
			iam->store,
			"UPDATE iam_apikey SET last_used = ? WHERE id = ?", t,
			2, NULL, &err) < 0)
			log_warnx("iam: API key touch failed: %s", err.msg);
	}
	out->kind = IAM_PRINCIPAL_API_KEY;
	memcpy(out->credential_id, id, sizeof(id));
	out->expires = a.expires;
	return 0;
}

int iam_authenticate_bearer(struct iam *iam, const char *token, size_t len,
			    struct iam_principal *out)
{
	memset(out, 0, sizeof(*out));
	int rc = -1;
	if (len > 4 && len < IAM_TOKEN_MAX && memcmp(token, "bws_", 4) == 0)
		rc = auth_session(iam, token, len, out);
	else if (len == IAM_APIKEY_LEN && memcmp(token, "bwk_", 4) == 0)
		rc = auth_apikey(iam, token, len, out);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
