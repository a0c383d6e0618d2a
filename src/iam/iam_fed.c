/*
 * Federation: a tenant delegates login to an upstream OpenID provider and
 * bulwark acts as the relying party. This file keeps the provider
 * registry (iam_fed_provider_*, client secrets sealed), the login state,
 * the subject-to-user links, and the runtime that talks to upstreams
 * (iam_fed_new, iam_fed_net_handler). The HTTP endpoints are
 *   GET /federation/{tenant}/{provider}/login[?return_to=/path]
 *   GET /federation/{tenant}/{provider}/callback?code=..&state=..
 *
 * Invariants:
 *  - a login is bound to the browser that started it: the state travels
 *    in the redirect and in an HttpOnly cookie, and the callback needs
 *    both to match; the state row (hashed, single use, IAM_FED_STATE_TTL_S)
 *    holds the nonce and the PKCE verifier, so a code stolen from a
 *    redirect cannot be redeemed elsewhere;
 *  - an ID token is accepted only when its signature verifies with a key
 *    of the provider's published JWKS under an asymmetric algorithm, its
 *    "iss" is exactly the configured issuer (also the discovery
 *    document's), "aud" holds our client id ("azp" too when there are
 *    several audiences), it is within exp/nbf/iat with IAM_FED_LEEWAY_S,
 *    and its nonce is ours;
 *  - a subject links to one local user; an existing local user is linked
 *    only through a verified e-mail and only when the provider allows it,
 *    never by a matching name (that would let any upstream account take
 *    over a local one);
 *  - logins wait on upstreams on the federation's own pool, never on an
 *    event loop or the shared pool; upstream requests run on one loop
 *    thread through net_fetch (bounded size and time).
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "event/event.h"
#include "http/http.h"
#include "json/json.h"
#include "loop/loop.h"
#include "net/net.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const fed_schema[] = {
    /* 1 */
    "CREATE TABLE iam_fed_provider (tenant TEXT NOT NULL REFERENCES "
    "iam_tenant (name) ON DELETE CASCADE, name TEXT NOT NULL,"
    " issuer TEXT NOT NULL, client_id TEXT NOT NULL, secret BLOB,"
    " scopes TEXT NOT NULL, username_claim TEXT NOT NULL,"
    " link_email BOOLEAN NOT NULL, provision BOOLEAN NOT NULL,"
    " disabled BOOLEAN NOT NULL DEFAULT 0, created BIGINT NOT NULL,"
    " updated BIGINT NOT NULL, PRIMARY KEY (tenant, name));"
    "CREATE TABLE iam_fed_state (hash BLOB PRIMARY KEY, tenant TEXT NOT NULL,"
    " provider TEXT NOT NULL, nonce TEXT NOT NULL, verifier TEXT NOT NULL,"
    " redirect_uri TEXT NOT NULL, return_to TEXT NOT NULL,"
    " expires BIGINT NOT NULL);"
    "CREATE TABLE iam_fed_link (tenant TEXT NOT NULL, provider TEXT NOT NULL,"
    " subject TEXT NOT NULL, user_id TEXT NOT NULL, created BIGINT NOT NULL,"
    " last_login BIGINT NOT NULL, PRIMARY KEY (tenant, provider, subject),"
    " FOREIGN KEY (tenant, user_id) REFERENCES iam_user (tenant, id) ON "
    "DELETE CASCADE);"
    "CREATE INDEX iam_fed_link_user ON iam_fed_link (tenant, user_id)",
};

static int fed_migrate(struct iam *iam, struct bw_err *err)
{
	return store_migrate(iam->store, "iam_fed", fed_schema,
			     BW_ARRAY_LEN(fed_schema), err);
}

/* ------------------------------------------------------------ providers */

#define PROVIDER_COLS                                                          \
	"tenant, name, issuer, client_id, secret IS NOT NULL, scopes,"         \
	" username_claim, link_email, provision, disabled, created, updated"

static int provider_row(void *arg, const struct store_row *row,
			struct bw_err *err)
{
	struct iam_fed_provider *p = arg;
	memset(p, 0, sizeof(*p));
	if (iam_row_text(row, 0, p->tenant, sizeof(p->tenant), err) < 0 ||
	    iam_row_text(row, 1, p->name, sizeof(p->name), err) < 0 ||
	    iam_row_text(row, 2, p->issuer, sizeof(p->issuer), err) < 0 ||
	    iam_row_text(row, 3, p->client_id, sizeof(p->client_id), err) < 0 ||
	    iam_row_text(row, 5, p->scopes, sizeof(p->scopes), err) < 0 ||
	    iam_row_text(row, 6, p->username_claim, sizeof(p->username_claim),
			 err) < 0)
		return -1;
	p->has_secret = store_row_int64(row, 4) != 0;
	p->link_email = store_row_int64(row, 7) != 0;
	p->provision = store_row_int64(row, 8) != 0;
	p->disabled = store_row_int64(row, 9) != 0;
	p->created = store_row_int64(row, 10);
	p->updated = store_row_int64(row, 11);
	return STORE_ROW_NEXT;
}

/* True for a loopback host in an http:// URL (tests, local upstreams). */
static bool loopback_http(const char *u)
{
	static const char *const ok[] = {"http://localhost:", "http://localhost/",
					 "http://127.0.0.1:", "http://127.0.0.1/",
					 "http://[::1]:", "http://[::1]/"};
	for (size_t i = 0; i < BW_ARRAY_LEN(ok); i++)
		if (strncmp(u, ok[i], strlen(ok[i])) == 0)
			return true;
	return false;
}

/* An absolute https URL (or loopback http) without fragment, userinfo,
 * whitespace or control characters. */
static bool url_ok(const char *u, size_t max)
{
	size_t n = u ? strlen(u) : 0;
	if (n < 9 || n > max)
		return false;
	if (strncmp(u, "https://", 8) != 0 && !loopback_http(u))
		return false;
	const char *host = strstr(u, "://") + 3;
	if (*host == '/' || *host == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\' || c == '"')
			return false;
	}
	const char *path = strchr(host, '/');
	const char *at = strchr(host, '@');
	if (at && (!path || at < path))
		return false;
	return true;
}

static bool token_chars_ok(const char *s, size_t max, bool spaces)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || (c == ' ' && !spaces) || c == '"' ||
		    c == '\\')
			return false;
	}
	return true;
}

static bool has_openid(const char *scopes)
{
	size_t n = strlen(scopes);
	for (const char *p = scopes; (p = strstr(p, "openid"));) {
		bool start = p == scopes || p[-1] == ' ';
		bool end = (size_t)(p - scopes) + 6 == n || p[6] == ' ';
		if (start && end)
			return true;
		p += 6;
	}
	return false;
}

static int bad(struct bw_err *err, const char *what)
{
	return bw_err_set(err, 400, "iam", "bad_request", "%s", what);
}

/* Checks the fields that are given. */
static int spec_check(const struct iam_fed_provider_spec *s, bool create,
		      struct bw_err *err)
{
	if (create && (!s->name || !iam_valid_tenant_name(s->name) ||
		       strlen(s->name) > IAM_FED_NAME_MAX))
		return bad(err, "\"name\" must be [a-z0-9-], 1..63, not starting "
				"with '-'");
	if (create && (!s->issuer || !s->client_id))
		return bad(err, "\"issuer\" and \"client_id\" are required");
	if (s->issuer && !url_ok(s->issuer, IAM_FED_URL_MAX))
		return bad(err, "\"issuer\" must be an https URL (http only for "
				"loopback hosts) without fragment or user info");
	if (s->client_id &&
	    !token_chars_ok(s->client_id, IAM_FED_CLIENT_ID_MAX, false))
		return bad(err, "\"client_id\" must be 1..255 printable ASCII "
				"characters");
	if (s->client_secret && s->client_secret[0] &&
	    !token_chars_ok(s->client_secret, IAM_FED_SECRET_MAX, false))
		return bad(err, "\"client_secret\" must be at most 512 printable "
				"ASCII characters");
	if (s->scopes && (!token_chars_ok(s->scopes, IAM_SCOPES_MAX, true) ||
			  !has_openid(s->scopes)))
		return bad(err, "\"scopes\" must be space-separated and include "
				"openid");
	if (s->username_claim &&
	    !token_chars_ok(s->username_claim, IAM_FED_CLAIM_MAX, false))
		return bad(err, "\"username_claim\" must be a claim name");
	return 0;
}

struct put_job {
	struct iam *iam;
	const char *tenant;
	const struct iam_fed_provider_spec *s;
	const char *name;
	const uint8_t *sealed;
	size_t sealed_len;
	bool set_secret;
	bool create;
	int64_t now;
};

static int count_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

static int put_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct put_job *j = arg;
	const struct iam_fed_provider_spec *s = j->s;
	if (j->create) {
		int64_t n = 0;
		struct store_value k[] = {store_text_str(j->tenant)};
		if (store_tx_query_one(tx,
				       "SELECT COUNT(*) FROM iam_fed_provider"
				       " WHERE tenant = ?",
				       k, 1, count_row, &n, err) < 0)
			return -1;
		if (n >= IAM_FED_PROVIDERS_MAX)
			return bw_err_set(err, 413, "iam", "too_many",
					  "at most %d providers per tenant",
					  IAM_FED_PROVIDERS_MAX);
		struct store_value v[] = {
		    store_text_str(j->tenant),
		    store_text_str(j->name),
		    store_text_str(s->issuer),
		    store_text_str(s->client_id),
		    j->set_secret ? store_blob(j->sealed, j->sealed_len)
				  : store_null(),
		    store_text_str(s->scopes ? s->scopes : "openid profile email"),
		    store_text_str(s->username_claim ? s->username_claim
						     : "preferred_username"),
		    store_bool(s->link_email > 0),
		    store_bool(s->provision != 0),
		    store_bool(s->disabled > 0),
		    store_int(j->now),
		    store_int(j->now)};
		return store_tx_exec(
		    tx,
		    "INSERT INTO iam_fed_provider (tenant, name, issuer, "
		    "client_id, secret, scopes, username_claim, link_email, "
		    "provision, disabled, created, updated) VALUES (?, ?, ?, ?, "
		    "?, ?, ?, ?, ?, ?, ?, ?)",
		    v, BW_ARRAY_LEN(v), err);
	}
	/* Update: each given field in its own statement keeps the SQL
	 * static (no string-built statements). */
	struct store_value key[] = {store_text_str(j->tenant),
				    store_text_str(j->name)};
	int64_t n = 0;
	if (store_tx_query_one(tx,
			       "SELECT COUNT(*) FROM iam_fed_provider"
			       " WHERE tenant = ? AND name = ?",
			       key, 2, count_row, &n, err) < 0)
		return -1;
	if (n == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such provider");
	static const char *const text_sql[] = {
	    "UPDATE iam_fed_provider SET issuer = ? WHERE tenant = ? AND name = ?",
	    "UPDATE iam_fed_provider SET client_id = ? WHERE tenant = ? AND "
	    "name = ?",
	    "UPDATE iam_fed_provider SET scopes = ? WHERE tenant = ? AND name = ?",
	    "UPDATE iam_fed_provider SET username_claim = ? WHERE tenant = ? AND "
	    "name = ?",
	};
	const char *texts[] = {s->issuer, s->client_id, s->scopes,
			       s->username_claim};
	for (size_t i = 0; i < BW_ARRAY_LEN(texts); i++) {
		if (!texts[i])
			continue;
		struct store_value v[] = {store_text_str(texts[i]), key[0],
					  key[1]};
		if (store_tx_exec(tx, text_sql[i], v, 3, err) < 0)
			return -1;
	}
	static const char *const flag_sql[] = {
	    "UPDATE iam_fed_provider SET link_email = ? WHERE tenant = ? AND "
	    "name = ?",
	    "UPDATE iam_fed_provider SET provision = ? WHERE tenant = ? AND "
	    "name = ?",
	    "UPDATE iam_fed_provider SET disabled = ? WHERE tenant = ? AND "
	    "name = ?",
	};
	int flags[] = {s->link_email, s->provision, s->disabled};
	for (size_t i = 0; i < BW_ARRAY_LEN(flags); i++) {
		if (flags[i] < 0)
			continue;
		struct store_value v[] = {store_bool(flags[i] > 0), key[0],
					  key[1]};
		if (store_tx_exec(tx, flag_sql[i], v, 3, err) < 0)
			return -1;
	}
	if (j->set_secret) {
		struct store_value v[] = {
		    j->sealed_len ? store_blob(j->sealed, j->sealed_len)
				  : store_null(),
		    key[0], key[1]};
		if (store_tx_exec(tx,
				  "UPDATE iam_fed_provider SET secret = ?"
				  " WHERE tenant = ? AND name = ?",
				  v, 3, err) < 0)
			return -1;
	}
	struct store_value v[] = {store_int(j->now), key[0], key[1]};
	return store_tx_exec(tx,
			     "UPDATE iam_fed_provider SET updated = ?"
			     " WHERE tenant = ? AND name = ?",
			     v, 3, err);
}

static int provider_put(struct iam *iam, const char *tenant, const char *name,
			const struct iam_fed_provider_spec *s, bool create,
			struct iam_fed_provider *p, struct bw_err *err)
{
	struct bw_buf sealed;
	bw_buf_init(&sealed, IAM_FED_SECRET_MAX + 256);
	int rc = -1;
	if (fed_migrate(iam, err) < 0 || spec_check(s, create, err) < 0 ||
	    iam_tenant_require(iam, tenant, NULL, err) < 0)
		goto out;
	struct put_job j = {.iam = iam,
			    .tenant = tenant,
			    .s = s,
			    .name = name,
			    .create = create,
			    .now = bw_clock_now_s()};
	if (s->client_secret) {
		j.set_secret = true;
		if (s->client_secret[0] &&
		    iam_seal(iam, tenant, "_fed", name,
			     (const uint8_t *)s->client_secret,
			     strlen(s->client_secret), &sealed, err) < 0)
			goto out;
		j.sealed = (const uint8_t *)sealed.data;
		j.sealed_len = sealed.len;
	}
	if (store_write(iam->store, put_job, &j, err) < 0) {
		if (create && err->code == 500 &&
		    iam_fed_provider_get(iam, tenant, name, NULL, err) == 0)
			bw_err_set(err, 409, "iam", "conflict",
				   "a provider with this name exists");
		goto out;
	}
	rc = p ? iam_fed_provider_get(iam, tenant, name, p, err) : 0;
out:
	bw_buf_wipe_fini(&sealed);
	return rc;
}

int iam_fed_provider_create(struct iam *iam, const char *tenant,
			    const struct iam_fed_provider_spec *s,
			    struct iam_fed_provider *p, struct bw_err *err)
{
	return provider_put(iam, tenant, s->name, s, true, p, err);
}

int iam_fed_provider_update(struct iam *iam, const char *tenant,
			    const char *name,
			    const struct iam_fed_provider_spec *s,
			    struct iam_fed_provider *p, struct bw_err *err)
{
	if (!name || !iam_valid_tenant_name(name))
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such provider");
	return provider_put(iam, tenant, name, s, false, p, err);
}

int iam_fed_provider_get(struct iam *iam, const char *tenant, const char *name,
			 struct iam_fed_provider *p, struct bw_err *err)
{
	/* No migration here: this is the sign-in path, and the tables exist
	 * from iam_fed_new or from the create that made the provider. */
	struct iam_fed_provider tmp;
	struct store_value k[] = {store_text_str(tenant), store_text_str(name)};
	int rc = store_query_one(iam->store,
				 "SELECT " PROVIDER_COLS " FROM iam_fed_provider"
				 " WHERE tenant = ? AND name = ?",
				 k, 2, provider_row, p ? p : &tmp, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such provider");
	return 0;
}

struct del_job {
	const char *tenant, *name;
};

static int del_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct del_job *j = arg;
	struct store_value k[] = {store_text_str(j->tenant),
				  store_text_str(j->name)};
	if (store_tx_exec(tx,
			  "DELETE FROM iam_fed_provider WHERE tenant = ? AND "
			  "name = ?",
			  k, 2, err) < 0)
		return -1;
	if (store_tx_changes(tx) == 0)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such provider");
	if (store_tx_exec(tx,
			  "DELETE FROM iam_fed_link WHERE tenant = ? AND "
			  "provider = ?",
			  k, 2, err) < 0)
		return -1;
	return store_tx_exec(tx,
			     "DELETE FROM iam_fed_state WHERE tenant = ? AND "
			     "provider = ?",
			     k, 2, err);
}

int iam_fed_provider_delete(struct iam *iam, const char *tenant,
			    const char *name, struct bw_err *err)
{
	struct del_job j = {tenant, name};
	if (fed_migrate(iam, err) < 0)
		return -1;
	return store_write(iam->store, del_job, &j, err);
}

struct list_ctx {
	int (*fn)(void *arg, const struct iam_fed_provider *p);
	void *arg;
};

static int list_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct list_ctx *c = arg;
	struct iam_fed_provider p;
	if (provider_row(&p, row, err) < 0)
		return -1;
	return c->fn(c->arg, &p) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_fed_provider_list(struct iam *iam, const char *tenant,
			  int (*fn)(void *arg, const struct iam_fed_provider *p),
			  void *arg, struct bw_err *err)
{
	struct list_ctx c = {fn, arg};
	if (fed_migrate(iam, err) < 0)
		return -1;
	struct store_value k[] = {store_text_str(tenant)};
	return store_query(iam->store,
			   "SELECT " PROVIDER_COLS " FROM iam_fed_provider"
			   " WHERE tenant = ? ORDER BY name",
			   k, 1, list_row, &c, err);
}

/* The provider's client secret, opened into out (empty when none). */
struct secret_row {
	struct bw_buf sealed;
	bool present;
};

static int secret_row_fn(void *arg, const struct store_row *row,
			 struct bw_err *err)
{
	struct secret_row *s = arg;
	size_t n;
	const void *p = store_row_blob(row, 0, &n);
	s->present = !store_row_is_null(row, 0);
	if (s->present && bw_buf_append(&s->sealed, p, n) < 0)
		return bw_err_set(err, 500, "iam", "corrupt",
				  "sealed secret too long");
	return STORE_ROW_NEXT;
}

static int provider_secret(struct iam *iam, const char *tenant,
			   const char *name, struct bw_buf *out,
			   struct bw_err *err)
{
	struct secret_row s = {.present = false};
	bw_buf_init(&s.sealed, IAM_FED_SECRET_MAX + 256);
	struct store_value k[] = {store_text_str(tenant), store_text_str(name)};
	int rc = store_query_one(iam->store,
				 "SELECT secret FROM iam_fed_provider"
				 " WHERE tenant = ? AND name = ?",
				 k, 2, secret_row_fn, &s, err);
	if (rc > 0 && s.present)
		rc = iam_unseal(iam, tenant, "_fed", name,
				(const uint8_t *)s.sealed.data, s.sealed.len,
				out, err) < 0
			 ? -1
			 : 1;
	bw_buf_fini(&s.sealed);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------- runtime */

/* What discovery tells about an issuer (OpenID Connect Discovery 1.0). */
struct fed_meta {
	char issuer[IAM_FED_URL_MAX + 1];
	char authorization_endpoint[IAM_FED_URL_MAX + 1];
	char token_endpoint[IAM_FED_URL_MAX + 1];
	char jwks_uri[IAM_FED_URL_MAX + 1];
};

struct fed_cache_entry {
	struct fed_meta meta;
	int64_t meta_at; /* 0: empty slot */
	char *jwks;	 /* malloc'd document, or NULL */
	size_t jwks_len;
	int64_t jwks_at;
};

struct iam_fed {
	struct iam *iam;
	char base[256]; /* "" : from the Host header */
	char ca_file[4096];
	struct tpool *pool;
	struct loop *loop;
	struct net_fetch *fetch;
	pthread_t th;
	bool thread_started;
	pthread_mutex_t mu; /* cache */
	struct fed_cache_entry cache[IAM_FED_CACHE_ENTRIES];
};

/* A JSON string member copied into out (cap bytes with NUL): 1 copied,
 * 0 absent, -1 present but not a string or too long. */
static int json_str(const struct json_value *o, const char *key, char *out,
		    size_t cap)
{
	const struct json_value *v = json_get(o, key);
	if (!v)
		return 0;
	if (v->type != JSON_STRING || v->u.str.len >= cap ||
	    memchr(v->u.str.p, 0, v->u.str.len))
		return -1;
	memcpy(out, v->u.str.p, v->u.str.len);
	out[v->u.str.len] = 0;
	return 1;
}

/*
 * Reads a discovery document: its "issuer" must be exactly the configured
 * issuer (Discovery section 4.3: otherwise a document could speak for
 * another provider) and the three endpoints must be https URLs (http only
 * on loopback). 0 or -1 with 502 "bad_discovery".
 */
static int fed_parse_discovery(const char *doc, size_t n, const char *issuer,
			       struct fed_meta *m, struct bw_err *err)
{
	struct bw_arena *a = bw_arena_new(8192, 4 * IAM_FED_DOC_MAX);
	struct json_limits lim = {.max_bytes = IAM_FED_DOC_MAX,
				  .max_depth = 8,
				  .max_members = 512};
	int rc = -1;
	memset(m, 0, sizeof(*m));
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	struct bw_err perr;
	const struct json_value *v = json_parse(a, doc, n, &lim, &perr);
	if (!v || v->type != JSON_OBJECT) {
		bw_err_set(err, 502, "iam", "bad_discovery",
			   "the discovery document is not a JSON object");
		goto out;
	}
	if (json_str(v, "issuer", m->issuer, sizeof(m->issuer)) != 1 ||
	    strcmp(m->issuer, issuer) != 0) {
		bw_err_set(err, 502, "iam", "bad_discovery",
			   "the discovery document names another issuer");
		goto out;
	}
	if (json_str(v, "authorization_endpoint", m->authorization_endpoint,
		     sizeof(m->authorization_endpoint)) != 1 ||
	    json_str(v, "token_endpoint", m->token_endpoint,
		     sizeof(m->token_endpoint)) != 1 ||
	    json_str(v, "jwks_uri", m->jwks_uri, sizeof(m->jwks_uri)) != 1 ||
	    !url_ok(m->authorization_endpoint, IAM_FED_URL_MAX) ||
	    !url_ok(m->token_endpoint, IAM_FED_URL_MAX) ||
	    !url_ok(m->jwks_uri, IAM_FED_URL_MAX)) {
		bw_err_set(err, 502, "iam", "bad_discovery",
			   "the discovery document lacks a valid authorization, "
			   "token or jwks endpoint");
		goto out;
	}
	rc = 0;
out:
	bw_arena_free(a);
	return rc;
}

/* The "id_token" of a token endpoint response (RFC 6749 5.1 + OIDC
 * 3.1.3.3): 0, or -1 with 502 "bad_token_response". */
static int fed_parse_token_response(const char *doc, size_t n, char *id_token,
				    size_t cap, struct bw_err *err)
{
	struct bw_arena *a = bw_arena_new(8192, 4 * IAM_FED_DOC_MAX);
	struct json_limits lim = {.max_bytes = IAM_FED_DOC_MAX,
				  .max_depth = 8,
				  .max_members = 64};
	int rc = -1;
	id_token[0] = 0;
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	struct bw_err perr;
	const struct json_value *v = json_parse(a, doc, n, &lim, &perr);
	char type[32];
	if (!v || v->type != JSON_OBJECT ||
	    json_str(v, "token_type", type, sizeof(type)) != 1 ||
	    strcasecmp(type, "bearer") != 0 ||
	    json_str(v, "id_token", id_token, cap) != 1) {
		bw_err_set(err, 502, "iam", "bad_token_response",
			   "the token response has no bearer token_type and "
			   "id_token");
		id_token[0] = 0;
		goto out;
	}
	rc = 0;
out:
	bw_arena_free(a);
	return rc;
}

/* Who the upstream says the user is. */
struct fed_identity {
	char sub[IAM_FED_SUBJECT_MAX + 1];
	char username[IAM_NAME_MAX + 1]; /* from username_claim; may be "" */
	char email[IAM_TEXT_MAX + 1];
	char name[IAM_TEXT_MAX + 1];
	bool email_verified;
	bool mfa; /* "amr" names a second factor (RFC 8176) */
};

static bool amr_has_mfa(const struct json_value *claims)
{
	static const char *const mfa[] = {"mfa", "otp", "hwk", "swk", "sms",
					  "fpt", "face", "iris", "pin"};
	const struct json_value *amr = json_get(claims, "amr");
	if (!amr || amr->type != JSON_ARRAY)
		return false;
	for (size_t i = 0; i < amr->u.arr.n; i++) {
		const struct json_value *e = amr->u.arr.items[i];
		if (e->type != JSON_STRING)
			continue;
		for (size_t k = 0; k < BW_ARRAY_LEN(mfa); k++)
			if (bw_str_eq_lit(e->u.str, mfa[k]))
				return true;
	}
	return false;
}

/*
 * Validates an upstream ID token (OIDC Core 3.1.3.7): signature by a key
 * of keys under an asymmetric algorithm (alg "none" and HMAC with a
 * public key are refused by construction), exact iss, aud containing
 * client_id (and azp = client_id when aud has several entries), exp,
 * nbf, iat within the leeway and a bounded lifetime, nonce equal to ours
 * (constant time), a sub of 1..255 characters. OUT: id. 0, or -1 with
 * 401 and the failed check as reason.
 */
static int fed_check_id_token(const struct jose_jwks *keys, const char *issuer,
			      const char *client_id, const char *nonce,
			      const char *username_claim, const char *tok,
			      size_t n, struct fed_identity *id,
			      struct bw_err *err)
{
	struct bw_arena *a = bw_arena_new(16384, 1 << 20);
	memset(id, 0, sizeof(*id));
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	struct jose_verifier v = {.keys = keys,
				  .algs = JOSE_ALGS_ASYMMETRIC,
				  .max_token = IAM_FED_ID_TOKEN_MAX};
	struct jose_jwt_rules r = {.issuer = issuer,
				   .audience = client_id,
				   .leeway_s = IAM_FED_LEEWAY_S,
				   .require_exp = true,
				   .max_lifetime_s =
				       IAM_FED_ID_TOKEN_LIFETIME_MAX_S};
	struct jose_jwt jwt;
	int rc = -1;
	if (jose_jwt_verify(&v, &r, tok, n, a, &jwt, err) < 0) {
		err->code = 401;
		goto out;
	}
	const struct json_value *aud = json_get(jwt.claims, "aud");
	char azp[IAM_FED_CLIENT_ID_MAX + 1];
	int has_azp = json_str(jwt.claims, "azp", azp, sizeof(azp));
	if (has_azp < 0 || (has_azp == 1 && strcmp(azp, client_id) != 0) ||
	    (aud && aud->type == JSON_ARRAY && aud->u.arr.n > 1 &&
	     has_azp != 1)) {
		bw_err_set(err, 401, "iam", "bad_azp",
			   "the ID token was issued to another party");
		goto out;
	}
	char got_nonce[256];
	if (json_str(jwt.claims, "nonce", got_nonce, sizeof(got_nonce)) != 1 ||
	    !bw_ct_equal(got_nonce, strlen(got_nonce), nonce, strlen(nonce))) {
		bw_err_set(err, 401, "iam", "bad_nonce",
			   "the ID token's nonce is not this login's");
		goto out;
	}
	if (jwt.sub.len == 0 || jwt.sub.len > IAM_FED_SUBJECT_MAX ||
	    memchr(jwt.sub.p, 0, jwt.sub.len)) {
		bw_err_set(err, 401, "iam", "bad_sub",
			   "the ID token has no usable subject");
		goto out;
	}
	memcpy(id->sub, jwt.sub.p, jwt.sub.len);
	id->sub[jwt.sub.len] = 0;
	/* Optional claims: a wrong type or size just leaves them empty. */
	if (json_str(jwt.claims, username_claim, id->username,
		     sizeof(id->username)) != 1 ||
	    !iam_valid_name(id->username))
		id->username[0] = 0;
	if (json_str(jwt.claims, "email", id->email, sizeof(id->email)) != 1)
		id->email[0] = 0;
	if (json_str(jwt.claims, "name", id->name, sizeof(id->name)) != 1)
		id->name[0] = 0;
	const struct json_value *ev = json_get(jwt.claims, "email_verified");
	id->email_verified = ev && ev->type == JSON_TRUE && id->email[0];
	id->mfa = amr_has_mfa(jwt.claims);
	rc = 0;
out:
	bw_arena_free(a);
	return rc;
}

/* ------------------------------------------------------- upstream fetch */

struct fetch_call {
	struct iam_fed *f;
	struct net_fetch_request req;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	bool too_big;
	int status;
	char error[160];
	struct bw_buf *body;
};

static void fetch_finish(struct fetch_call *c)
{
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void fetch_done(void *arg, const struct net_fetch_result *r)
{
	struct fetch_call *c = arg;
	c->status = r->status;
	if (r->error)
		bw_snprintf(c->error, sizeof(c->error), "%s", r->error);
	else if (bw_buf_append(c->body, r->body.p, r->body.len) < 0)
		c->too_big = true;
	fetch_finish(c);
}

static void fetch_start(void *arg)
{
	struct fetch_call *c = arg;
	struct bw_err err;
	if (net_fetch_start(c->f->fetch, &c->req, fetch_done, c, &err) < 0) {
		bw_snprintf(c->error, sizeof(c->error), "%s", err.msg);
		fetch_finish(c);
	}
}

/*
 * One upstream request from a federation pool thread: started on the
 * federation loop, waited for here (net_fetch bounds it in time, so the
 * completion always comes). OUT: body (appended), *status. 0, or -1 with
 * 502 "upstream" when no answer came.
 */
static int fed_fetch(struct iam_fed *f, const char *method, const char *url,
		     const char *const *headers, const char *body, size_t blen,
		     struct bw_buf *out, int *status, struct bw_err *err)
{
	struct fetch_call c = {.f = f, .body = out};
	c.req = (struct net_fetch_request){
	    .method = method,
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_len = blen,
	    .timeout_ms = IAM_FED_FETCH_TIMEOUT_MS,
	    .max_response = IAM_FED_DOC_MAX,
	    .ca_file = f->ca_file[0] ? f->ca_file : NULL,
	};
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	int rc = 0;
	if (loop_post(f->loop, fetch_start, &c) < 0) {
		rc = bw_err_set(err, 503, "iam", "overloaded",
				"cannot reach the federation thread");
		goto out;
	}
	pthread_mutex_lock(&c.mu);
	while (!c.done)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	if (c.error[0] || c.too_big) {
		rc = bw_err_set(err, 502, "iam", "upstream", "%s: %s", url,
				c.too_big ? "answer too large" : c.error);
		goto out;
	}
	*status = c.status;
out:
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	return rc;
}

/* ------------------------------------------------------------- caches */

static struct fed_cache_entry *cache_find(struct iam_fed *f, const char *issuer)
{
	for (size_t i = 0; i < IAM_FED_CACHE_ENTRIES; i++)
		if (f->cache[i].meta_at && strcmp(f->cache[i].meta.issuer, issuer) == 0)
			return &f->cache[i];
	return NULL;
}

/* The slot for issuer: its own, else an empty one, else the oldest. */
static struct fed_cache_entry *cache_slot(struct iam_fed *f, const char *issuer)
{
	struct fed_cache_entry *e = cache_find(f, issuer), *old = &f->cache[0];
	if (e)
		return e;
	for (size_t i = 0; i < IAM_FED_CACHE_ENTRIES; i++) {
		if (!f->cache[i].meta_at)
			return &f->cache[i];
		if (f->cache[i].meta_at < old->meta_at)
			old = &f->cache[i];
	}
	free(old->jwks);
	memset(old, 0, sizeof(*old));
	return old;
}

/* The issuer's metadata, from the cache or fetched. OUT: m. */
static int fed_meta_get(struct iam_fed *f, const char *issuer,
			struct fed_meta *m, struct bw_err *err)
{
	int64_t now = bw_clock_now_s();
	pthread_mutex_lock(&f->mu);
	struct fed_cache_entry *e = cache_find(f, issuer);
	bool hit = e && e->meta_at + IAM_FED_CACHE_TTL_S > now;
	if (hit)
		*m = e->meta;
	pthread_mutex_unlock(&f->mu);
	if (hit)
		return 0;
	char url[IAM_FED_URL_MAX + 64];
	if (bw_snprintf(url, sizeof(url), "%s%s.well-known/openid-configuration",
			issuer, issuer[strlen(issuer) - 1] == '/' ? "" : "/") < 0)
		return bw_err_set(err, 400, "iam", "too_long", "issuer too long");
	static const char *const hdr[] = {"Accept: application/json", NULL};
	struct bw_buf doc;
	bw_buf_init(&doc, IAM_FED_DOC_MAX);
	int status = 0, rc = -1;
	if (fed_fetch(f, "GET", url, hdr, NULL, 0, &doc, &status, err) < 0)
		goto out;
	if (status != 200) {
		bw_err_set(err, 502, "iam", "upstream",
			   "discovery at %s answered %d", url, status);
		goto out;
	}
	if (fed_parse_discovery(doc.data ? doc.data : "", doc.len, issuer, m,
				err) < 0)
		goto out;
	pthread_mutex_lock(&f->mu);
	e = cache_slot(f, issuer);
	e->meta = *m;
	e->meta_at = now;
	pthread_mutex_unlock(&f->mu);
	rc = 0;
out:
	bw_buf_fini(&doc);
	return rc;
}

/* The issuer's key set into keys (empty on entry): the cached document,
 * or a fresh one when there is none, it is old, or refresh is asked for
 * (an unknown kid) and the last fetch is older than the minimum. */
static int fed_jwks_get(struct iam_fed *f, const struct fed_meta *m,
			bool refresh, struct jose_jwks *keys,
			struct bw_err *err)
{
	int64_t now = bw_clock_now_s();
	struct bw_buf doc;
	bw_buf_init(&doc, IAM_FED_DOC_MAX);
	int rc = -1;
	pthread_mutex_lock(&f->mu);
	struct fed_cache_entry *e = cache_find(f, m->issuer);
	bool use = e && e->jwks && e->jwks_at + IAM_FED_CACHE_TTL_S > now &&
		   (!refresh || e->jwks_at + IAM_FED_JWKS_REFRESH_MIN_S > now);
	if (use && bw_buf_append(&doc, e->jwks, e->jwks_len) < 0)
		use = false;
	pthread_mutex_unlock(&f->mu);
	if (!use) {
		static const char *const hdr[] = {"Accept: application/json", NULL};
		int status = 0;
		bw_buf_reset(&doc);
		if (fed_fetch(f, "GET", m->jwks_uri, hdr, NULL, 0, &doc, &status,
			      err) < 0)
			goto out;
		if (status != 200) {
			bw_err_set(err, 502, "iam", "upstream",
				   "jwks at %s answered %d", m->jwks_uri, status);
			goto out;
		}
	}
	size_t skipped = 0;
	if (jose_jwks_parse(keys, doc.data ? doc.data : "", doc.len, false,
			    &skipped, err) < 0) {
		err->code = 502;
		goto out;
	}
	if (!use) {
		char *copy = malloc(doc.len + 1);
		pthread_mutex_lock(&f->mu);
		e = cache_slot(f, m->issuer);
		if (!e->meta_at) {
			e->meta = *m;
			e->meta_at = now;
		}
		free(e->jwks);
		e->jwks = copy;
		e->jwks_len = 0;
		if (copy) {
			memcpy(copy, doc.data ? doc.data : "", doc.len);
			copy[doc.len] = 0;
			e->jwks_len = doc.len;
			e->jwks_at = now;
		}
		pthread_mutex_unlock(&f->mu);
	}
	rc = 0;
out:
	bw_buf_fini(&doc);
	return rc;
}

/* ----------------------------------------------------------- encoding */

/* Appends s percent-encoded (everything but RFC 3986 unreserved). */
static int pct_append(struct bw_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				  (c >= '0' && c <= '9') || c == '-' || c == '.' ||
				  c == '_' || c == '~';
		if (unreserved) {
			if (bw_buf_append_byte(b, (char)c) < 0)
				return -1;
		} else if (bw_buf_append_byte(b, '%') < 0 ||
			   bw_buf_append_byte(b, hex[c >> 4]) < 0 ||
			   bw_buf_append_byte(b, hex[c & 15]) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Appends "&name=value" (or "name=value" first), value percent-encoded. */
static int param_append(struct bw_buf *b, const char *name, const char *value)
{
	if ((b->len && b->data[b->len - 1] != '?' &&
	     bw_buf_append_byte(b, '&') < 0) ||
	    bw_buf_append_str(b, name) < 0 || bw_buf_append_byte(b, '=') < 0)
		return -1;
	return pct_append(b, value);
}

/* 32 random bytes as 43 base64url characters (state, nonce, verifier). */
static void random_b64url(char out[44])
{
	uint8_t r[32];
	bw_random(r, sizeof(r));
	crypto_b64url_encode_to(r, sizeof(r), out);
	out[43] = 0;
	bw_wipe(r, sizeof(r));
}

/* The value of cookie `name` in a Cookie header, into out: true when
 * found and it fits. */
static bool cookie_value(struct bw_str h, const char *name, char *out,
			 size_t cap)
{
	size_t nl = strlen(name), i = 0;
	while (i < h.len) {
		while (i < h.len && (h.p[i] == ' ' || h.p[i] == ';'))
			i++;
		size_t s = i;
		while (i < h.len && h.p[i] != ';')
			i++;
		size_t n = i - s;
		if (n > nl && memcmp(h.p + s, name, nl) == 0 && h.p[s + nl] == '=') {
			size_t vl = n - nl - 1;
			if (vl >= cap)
				return false;
			memcpy(out, h.p + s + nl + 1, vl);
			out[vl] = 0;
			return true;
		}
	}
	return false;
}

/* A return_to the callback may redirect to: a local path into the login
 * pages or the OIDC authorization endpoint of the same tenant, as the
 * pages accept for "next" (never an open redirect). */
static bool return_to_ok(const char *tenant, const char *r)
{
	char a[IAM_TENANT_MAX + 16], b[IAM_TENANT_MAX + 32];
	size_t n = strlen(r);
	if (n == 0 || n > 1024)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r[i] <= 0x20 || (unsigned char)r[i] >= 0x7f ||
		    r[i] == '\\')
			return false;
	if (strstr(r, "/..") || strstr(r, "//"))
		return false;
	bw_snprintf(a, sizeof(a), "/auth/%s/", tenant);
	bw_snprintf(b, sizeof(b), "/oidc/%s/authorize", tenant);
	return strncmp(r, a, strlen(a)) == 0 ||
	       (strncmp(r, b, strlen(b)) == 0 &&
		(r[strlen(b)] == 0 || r[strlen(b)] == '?'));
}

/* -------------------------------------------------------------- state */

struct fed_state {
	char tenant[IAM_TENANT_MAX + 1];
	char provider[IAM_FED_NAME_MAX + 1];
	char nonce[64];
	char verifier[64];
	char redirect_uri[IAM_FED_URL_MAX + 1];
	char return_to[1025];
	int64_t expires;
	bool found;
};

struct state_job {
	const char *state;
	struct fed_state *st;
	int64_t now;
};

static int state_put_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct state_job *j = arg;
	uint8_t h[32];
	crypto_sha256(j->state, strlen(j->state), h);
	struct store_value purge[] = {store_int(j->now)};
	if (store_tx_exec(tx, "DELETE FROM iam_fed_state WHERE expires < ?",
			  purge, 1, err) < 0)
		return -1;
	struct store_value v[] = {store_blob(h, sizeof(h)),
				  store_text_str(j->st->tenant),
				  store_text_str(j->st->provider),
				  store_text_str(j->st->nonce),
				  store_text_str(j->st->verifier),
				  store_text_str(j->st->redirect_uri),
				  store_text_str(j->st->return_to),
				  store_int(j->st->expires)};
	return store_tx_exec(tx,
			     "INSERT INTO iam_fed_state (hash, tenant, provider, "
			     "nonce, verifier, redirect_uri, return_to, expires)"
			     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			     v, BW_ARRAY_LEN(v), err);
}

static int state_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct fed_state *s = arg;
	if (iam_row_text(row, 0, s->tenant, sizeof(s->tenant), err) < 0 ||
	    iam_row_text(row, 1, s->provider, sizeof(s->provider), err) < 0 ||
	    iam_row_text(row, 2, s->nonce, sizeof(s->nonce), err) < 0 ||
	    iam_row_text(row, 3, s->verifier, sizeof(s->verifier), err) < 0 ||
	    iam_row_text(row, 4, s->redirect_uri, sizeof(s->redirect_uri), err) < 0 ||
	    iam_row_text(row, 5, s->return_to, sizeof(s->return_to), err) < 0)
		return -1;
	s->expires = store_row_int64(row, 6);
	s->found = true;
	return STORE_ROW_NEXT;
}

/* Reads and deletes the state in one job: a state works once, also when
 * two callbacks race. */
static int state_take_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct state_job *j = arg;
	uint8_t h[32];
	crypto_sha256(j->state, strlen(j->state), h);
	struct store_value k[] = {store_blob(h, sizeof(h))};
	if (store_tx_query_one(tx,
			       "SELECT tenant, provider, nonce, verifier, "
			       "redirect_uri, return_to, expires FROM "
			       "iam_fed_state WHERE hash = ?",
			       k, 1, state_row, j->st, err) < 0)
		return -1;
	if (!j->st->found)
		return 0;
	return store_tx_exec(tx, "DELETE FROM iam_fed_state WHERE hash = ?", k,
			     1, err);
}

/* --------------------------------------------------------------- links */

struct link_row {
	char user_id[IAM_ID_LEN + 1];
	int n;
};

static int link_row_fn(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct link_row *l = arg;
	l->n++;
	return iam_row_text(row, 0, l->user_id, sizeof(l->user_id), err) < 0
		   ? -1
		   : STORE_ROW_NEXT;
}

static int link_find(struct iam *iam, const char *tenant, const char *provider,
		     const char *sub, char user_id[IAM_ID_LEN + 1],
		     struct bw_err *err)
{
	struct link_row l = {.n = 0};
	struct store_value k[] = {store_text_str(tenant), store_text_str(provider),
				  store_text_str(sub)};
	int rc = store_query_one(iam->store,
				 "SELECT user_id FROM iam_fed_link WHERE tenant = "
				 "? AND provider = ? AND subject = ?",
				 k, 3, link_row_fn, &l, err);
	if (rc > 0)
		memcpy(user_id, l.user_id, sizeof(l.user_id));
	return rc;
}

static int link_insert(struct iam *iam, const char *tenant, const char *provider,
		       const char *sub, const char *user_id, struct bw_err *err)
{
	int64_t now = bw_clock_now_s();
	struct store_value v[] = {store_text_str(tenant), store_text_str(provider),
				  store_text_str(sub), store_text_str(user_id),
				  store_int(now), store_int(now)};
	return store_exec(iam->store,
			  "INSERT INTO iam_fed_link (tenant, provider, subject, "
			  "user_id, created, last_login) VALUES (?, ?, ?, ?, ?, ?)",
			  v, BW_ARRAY_LEN(v), NULL, err);
}

/* Creates the local user for a new upstream subject: the claimed user
 * name, else "NAME-PROVIDER", else "PROVIDER-<hash of sub>" — never an
 * existing user's name, which is only linked through a verified e-mail. */
static int provision(struct iam *iam, const char *tenant,
		     const struct iam_fed_provider *p,
		     const struct fed_identity *id, struct iam_user *u,
		     struct bw_err *err)
{
	char attrs[IAM_ATTRS_MAX + 1];
	struct bw_buf ab = {.data = attrs, .cap = sizeof(attrs),
			    .max = sizeof(attrs) - 1};
	struct json_writer w;
	json_writer_init(&w, &ab);
	json_write_object_begin(&w);
	json_write_key(&w, "federation");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "provider", p->name);
	json_write_kv_string(&w, "issuer", p->issuer);
	json_write_kv_string(&w, "subject", id->sub);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		return bw_err_set(err, 500, "iam", "too_large", "attributes too large");
	uint8_t h[32];
	crypto_sha256(id->sub, strlen(id->sub), h);
	char hx[65];
	bw_hex_encode(h, 4, hx);
	char names[3][IAM_NAME_MAX + 1] = {"", "", ""};
	if (id->username[0]) {
		bw_snprintf(names[0], sizeof(names[0]), "%s", id->username);
		if (bw_snprintf(names[1], sizeof(names[1]), "%s-%s", id->username,
				p->name) < 0)
			names[1][0] = 0;
	}
	bw_snprintf(names[2], sizeof(names[2]), "%s-%s", p->name, hx);
	for (size_t i = 0; i < 3; i++) {
		if (!names[i][0] || !iam_valid_name(names[i]))
			continue;
		struct iam_user_spec s = {.name = names[i],
					  .display_name = id->name[0] ? id->name : NULL,
					  .email = id->email_verified ? id->email : NULL,
					  .attrs = attrs};
		if (iam_user_create(iam, tenant, &s, u, err) == 0)
			return 0;
		if (err->code != 409 && err->code != 400)
			return -1;
	}
	return bw_err_set(err, 409, "iam", "conflict",
			  "no free user name for the upstream account");
}

struct email_match {
	char id[IAM_ID_LEN + 1];
	int n;
};

static int email_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct email_match *m = arg;
	if (++m->n == 1 && iam_row_text(row, 0, m->id, sizeof(m->id), err) < 0)
		return -1;
	return m->n > 1 ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

/*
 * The local user for an upstream identity: the linked one; else, with
 * link_email, the one user whose e-mail equals a verified e-mail claim;
 * else, with provision, a new user. OUT: u, *created. 0, or -1 with 403
 * "not_linked" / "disabled" or a store error.
 */
static int resolve_user(struct iam *iam, const char *tenant,
			const struct iam_fed_provider *p,
			const struct fed_identity *id, struct iam_user *u,
			bool *created, struct bw_err *err)
{
	char uid[IAM_ID_LEN + 1];
	*created = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc = link_find(iam, tenant, p->name, id->sub, uid, err);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			if (iam_user_get(iam, tenant, uid, u, err) < 0)
				return -1;
			if (u->disabled)
				return bw_err_set(err, 403, "iam", "disabled",
						  "the linked user is disabled");
			int64_t now = bw_clock_now_s();
			struct store_value v[] = {store_int(now),
						  store_text_str(tenant),
						  store_text_str(p->name),
						  store_text_str(id->sub)};
			return store_exec(iam->store,
					  "UPDATE iam_fed_link SET last_login = ?"
					  " WHERE tenant = ? AND provider = ? AND "
					  "subject = ?",
					  v, 4, NULL, err);
		}
		if (attempt > 0)
			break;
		bool have = false;
		if (p->link_email && id->email_verified) {
			struct email_match m = {.n = 0};
			struct store_value k[] = {store_text_str(tenant),
						  store_text_str(id->email)};
			if (store_query(iam->store,
					"SELECT id FROM iam_user WHERE tenant = ? "
					"AND email = ?",
					k, 2, email_row, &m, err) < 0)
				return -1;
			if (m.n == 1) {
				if (iam_user_get(iam, tenant, m.id, u, err) < 0)
					return -1;
				if (u->disabled)
					return bw_err_set(err, 403, "iam", "disabled",
							  "the matching user is disabled");
				have = true;
			}
		}
		if (!have && p->provision) {
			if (provision(iam, tenant, p, id, u, err) < 0)
				return -1;
			*created = true;
			have = true;
		}
		if (!have)
			return bw_err_set(err, 403, "iam", "not_linked",
					  "no local user for this upstream account");
		if (link_insert(iam, tenant, p->name, id->sub, u->id, err) == 0)
			return 0;
		/* Lost a race with a concurrent first login: undo ours and
		 * follow the link the other one made. */
		struct bw_err e2;
		if (*created && iam_user_delete(iam, tenant, u->id, &e2) < 0)
			log_warnx("iam federation: cannot undo user %s: %s", u->id,
				  e2.msg);
		*created = false;
	}
	return bw_err_set(err, 500, "iam", "link", "cannot link the account");
}

/* ----------------------------------------------------------- endpoints */

struct fed_req {
	int method;
	struct bw_str path, query, host, cookie;
	bool tls;
	const char *peer_ip;
};

#define FED_COOKIES_MAX 2

struct fed_resp {
	int status;
	const char *content_type;
	char location[4096];
	char cookies[FED_COOKIES_MAX][1024];
	size_t ncookies;
	struct bw_buf body; /* the caller inits and frees */
};

static void fed_error(struct fed_resp *rs, int status, const char *code,
		      const char *msg)
{
	struct json_writer w;
	bw_buf_reset(&rs->body);
	json_writer_init(&w, &rs->body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "error", code);
	json_write_kv_string(&w, "error_description", msg);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		bw_buf_reset(&rs->body);
	rs->status = status;
	rs->content_type = "application/json";
	rs->location[0] = 0;
}

static void add_cookie(struct fed_resp *rs, bool tls, const char *tenant,
		       const char *kind, const char *value, int64_t max_age,
		       const char *same_site)
{
	if (rs->ncookies >= FED_COOKIES_MAX)
		return;
	/* Over TLS the __Host- prefix pins the cookie to this origin (Secure,
	 * Path=/, no Domain); plain http (loopback tests) cannot use it. */
	if (bw_snprintf(rs->cookies[rs->ncookies], sizeof(rs->cookies[0]),
			"%sbw-%s-%s=%s; Path=/;%s HttpOnly; SameSite=%s; "
			"Max-Age=%lld",
			tls ? "__Host-" : "", kind, tenant, value,
			tls ? " Secure;" : "", same_site, (long long)max_age) >= 0)
		rs->ncookies++;
}

static void event(const char *tenant, const char *user, const char *ip, bool ok,
		  const char *reason)
{
	iam_emit_login(tenant, user, ip, ok, "login-federated", reason);
}

static void ep_login(struct iam_fed *f, const struct iam_fed_provider *p,
		     const char *base, const struct fed_req *rq,
		     struct fed_resp *rs)
{
	struct bw_err err;
	struct iam_form q;
	struct fed_state st;
	memset(&st, 0, sizeof(st));
	if (iam_form_parse(&q, rq->query.p, rq->query.len, &err) < 0) {
		fed_error(rs, 400, "invalid_request", err.msg);
		return;
	}
	const char *ret = iam_form_get(&q, "return_to");
	if (ret && !return_to_ok(p->tenant, ret)) {
		fed_error(rs, 400, "invalid_request",
			  "return_to must be a local login or authorize path");
		return;
	}
	struct fed_meta m;
	if (fed_meta_get(f, p->issuer, &m, &err) < 0) {
		log_warnx("iam federation %s/%s: %s", p->tenant, p->name, err.msg);
		fed_error(rs, 502, "temporarily_unavailable",
			  "the upstream identity provider cannot be reached");
		return;
	}
	char state[44], challenge[44];
	uint8_t h[32];
	random_b64url(state);
	random_b64url(st.nonce);
	random_b64url(st.verifier);
	crypto_sha256(st.verifier, strlen(st.verifier), h);
	crypto_b64url_encode_to(h, sizeof(h), challenge);
	challenge[43] = 0;
	bw_snprintf(st.tenant, sizeof(st.tenant), "%s", p->tenant);
	bw_snprintf(st.provider, sizeof(st.provider), "%s", p->name);
	if (bw_snprintf(st.redirect_uri, sizeof(st.redirect_uri),
			"%s/federation/%s/%s/callback", base, p->tenant,
			p->name) < 0) {
		fed_error(rs, 500, "server_error", "redirect URI too long");
		return;
	}
	bw_snprintf(st.return_to, sizeof(st.return_to), "%s", ret ? ret : "");
	st.expires = bw_clock_now_s() + IAM_FED_STATE_TTL_S;
	struct state_job j = {.state = state, .st = &st, .now = bw_clock_now_s()};
	if (store_write(f->iam->store, state_put_job, &j, &err) < 0) {
		log_warnx("iam federation: state: %s", err.msg);
		fed_error(rs, 503, "temporarily_unavailable", "try again later");
		return;
	}
	struct bw_buf u;
	bw_buf_init(&u, sizeof(rs->location) - 1);
	bool ok = bw_buf_append_str(&u, m.authorization_endpoint) == 0 &&
		  bw_buf_append_byte(&u, strchr(m.authorization_endpoint, '?')
					     ? '&'
					     : '?') == 0 &&
		  param_append(&u, "response_type", "code") == 0 &&
		  param_append(&u, "client_id", p->client_id) == 0 &&
		  param_append(&u, "redirect_uri", st.redirect_uri) == 0 &&
		  param_append(&u, "scope", p->scopes) == 0 &&
		  param_append(&u, "state", state) == 0 &&
		  param_append(&u, "nonce", st.nonce) == 0 &&
		  param_append(&u, "code_challenge", challenge) == 0 &&
		  param_append(&u, "code_challenge_method", "S256") == 0;
	if (ok)
		memcpy(rs->location, u.data, u.len + 1);
	bw_buf_fini(&u);
	if (!ok) {
		fed_error(rs, 500, "server_error", "authorization URL too long");
		goto out;
	}
	add_cookie(rs, rq->tls, p->tenant, "fed", state, IAM_FED_STATE_TTL_S, "Lax");
	rs->status = 302;
	rs->content_type = "text/plain";
out:
	bw_wipe(state, sizeof(state));
	bw_wipe(&st, sizeof(st));
}

/* The code for tokens at the upstream's token endpoint; OUT: id_token. */
static int redeem(struct iam_fed *f, const struct iam_fed_provider *p,
		  const struct fed_meta *m, const struct fed_state *st,
		  const char *code, char *id_token, size_t cap,
		  struct bw_err *err)
{
	struct bw_buf secret, form, auth, resp;
	bw_buf_init(&secret, IAM_FED_SECRET_MAX + 1);
	bw_buf_init(&form, 8192);
	bw_buf_init(&auth, 4096);
	bw_buf_init(&resp, IAM_FED_DOC_MAX);
	int rc = -1, status = 0;
	if (provider_secret(f->iam, p->tenant, p->name, &secret, err) < 0)
		goto out;
	if (param_append(&form, "grant_type", "authorization_code") < 0 ||
	    param_append(&form, "code", code) < 0 ||
	    param_append(&form, "redirect_uri", st->redirect_uri) < 0 ||
	    param_append(&form, "code_verifier", st->verifier) < 0 ||
	    (!secret.len && param_append(&form, "client_id", p->client_id) < 0)) {
		bw_err_set(err, 500, "iam", "too_long", "token request too long");
		goto out;
	}
	const char *hdr[4] = {"Content-Type: application/x-www-form-urlencoded",
			      "Accept: application/json", NULL, NULL};
	if (secret.len) {
		/* RFC 6749 2.3.1: both parts form-encoded, then Basic. */
		struct bw_buf pair;
		bw_buf_init(&pair, 4096);
		char b64[4096];
		bool ok = pct_append(&pair, p->client_id) == 0 &&
			  bw_buf_append_byte(&pair, ':') == 0 &&
			  pct_append(&pair, secret.data) == 0 &&
			  pair.len < sizeof(b64) * 3 / 4 - 4;
		if (ok) {
			EVP_EncodeBlock((unsigned char *)b64,
					(const unsigned char *)pair.data,
					(int)pair.len);
			ok = bw_buf_printf(&auth, "Authorization: Basic %s", b64) == 0;
		}
		bw_wipe(b64, sizeof(b64));
		bw_buf_wipe_fini(&pair);
		if (!ok) {
			bw_err_set(err, 500, "iam", "too_long", "client secret too long");
			goto out;
		}
		hdr[2] = auth.data;
	}
	if (fed_fetch(f, "POST", m->token_endpoint, hdr, form.data, form.len,
		      &resp, &status, err) < 0)
		goto out;
	if (status != 200) {
		bw_err_set(err, 401, "iam", "token_refused",
			   "the upstream token endpoint answered %d", status);
		goto out;
	}
	rc = fed_parse_token_response(resp.data ? resp.data : "", resp.len,
				      id_token, cap, err);
out:
	bw_buf_wipe_fini(&secret);
	bw_buf_wipe_fini(&form);
	bw_buf_wipe_fini(&auth);
	bw_buf_wipe_fini(&resp);
	return rc;
}

static void ep_callback(struct iam_fed *f, const struct iam_fed_provider *p,
			const struct fed_req *rq, struct fed_resp *rs)
{
	struct bw_err err;
	struct iam_form q;
	struct fed_state st;
	struct fed_identity id;
	char state_cookie[128] = "", cname[96], id_token[IAM_FED_ID_TOKEN_MAX + 1];
	char token[IAM_TOKEN_MAX] = "";
	memset(&st, 0, sizeof(st));
	memset(&id, 0, sizeof(id));
	/* Whatever happens, the state cookie is spent. */
	add_cookie(rs, rq->tls, p->tenant, "fed", "x", 0, "Lax");
	if (iam_form_parse(&q, rq->query.p, rq->query.len, &err) < 0) {
		fed_error(rs, 400, "invalid_request", err.msg);
		return;
	}
	const char *state = iam_form_get(&q, "state");
	const char *code = iam_form_get(&q, "code");
	const char *uperr = iam_form_get(&q, "error");
	bw_snprintf(cname, sizeof(cname), "%sbw-fed-%s", rq->tls ? "__Host-" : "",
		    p->tenant);
	if (!state || !cookie_value(rq->cookie, cname, state_cookie,
				    sizeof(state_cookie)) ||
	    !bw_ct_equal(state, strlen(state), state_cookie, strlen(state_cookie))) {
		event(p->tenant, "", rq->peer_ip, false, "state_mismatch");
		fed_error(rs, 400, "invalid_request",
			  "this login was not started by this browser");
		return;
	}
	struct state_job j = {.state = state, .st = &st};
	if (store_write(f->iam->store, state_take_job, &j, &err) < 0) {
		log_warnx("iam federation: state: %s", err.msg);
		fed_error(rs, 503, "temporarily_unavailable", "try again later");
		return;
	}
	if (!st.found || st.expires < bw_clock_now_s() ||
	    strcmp(st.tenant, p->tenant) != 0 ||
	    strcmp(st.provider, p->name) != 0) {
		event(p->tenant, "", rq->peer_ip, false, "bad_state");
		fed_error(rs, 400, "invalid_request",
			  "unknown, used or expired login state");
		goto out;
	}
	if (uperr || !code) {
		event(p->tenant, "", rq->peer_ip, false, "upstream_error");
		fed_error(rs, 401, "access_denied",
			  "the upstream identity provider refused the login");
		goto out;
	}
	struct fed_meta m;
	if (fed_meta_get(f, p->issuer, &m, &err) < 0 ||
	    redeem(f, p, &m, &st, code, id_token, sizeof(id_token), &err) < 0) {
		log_warnx("iam federation %s/%s: %s", p->tenant, p->name, err.msg);
		event(p->tenant, "", rq->peer_ip, false, err.reason);
		fed_error(rs, err.code == 401 ? 401 : 502, "access_denied",
			  "the login could not be completed with the upstream");
		goto out;
	}
	int rc = -1;
	for (int pass = 0; pass < 2 && rc < 0; pass++) {
		struct jose_jwks keys;
		jose_jwks_init(&keys);
		if (fed_jwks_get(f, &m, pass > 0, &keys, &err) == 0)
			rc = fed_check_id_token(&keys, p->issuer, p->client_id,
						st.nonce, p->username_claim, id_token,
						strlen(id_token), &id, &err);
		jose_jwks_fini(&keys);
		/* A key the cache does not know: the upstream may have
		 * rotated; one refetch (rate-limited) and one more try. */
		if (rc < 0 && strcmp(err.reason, "unknown_kid") != 0)
			break;
	}
	if (rc < 0) {
		log_warnx("iam federation %s/%s: ID token refused: %s", p->tenant,
			  p->name, err.msg);
		event(p->tenant, "", rq->peer_ip, false, err.reason);
		fed_error(rs, 401, "access_denied", "the upstream ID token is not valid");
		goto out;
	}
	struct iam_tenant t;
	struct iam_user u;
	bool created = false;
	if (iam_tenant_require(f->iam, p->tenant, &t, &err) < 0 ||
	    resolve_user(f->iam, p->tenant, p, &id, &u, &created, &err) < 0) {
		event(p->tenant, id.sub, rq->peer_ip, false,
		      err.code == 403 ? err.reason : "error");
		if (err.code == 403)
			fed_error(rs, 403, "access_denied",
				  "this upstream account may not sign in here");
		else {
			log_warnx("iam federation %s/%s: %s", p->tenant, p->name,
				  err.msg);
			fed_error(rs, 503, "temporarily_unavailable", "try again later");
		}
		goto out;
	}
	/* The same MFA policies as a local sign-in: tenant, group, role. */
	int need = id.mfa ? 0 : iam_mfa_required_for(f->iam, p->tenant, u.id, &err);
	if (need < 0) {
		log_warnx("iam federation %s/%s: %s", p->tenant, p->name, err.msg);
		fed_error(rs, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	if (need) {
		event(p->tenant, u.name, rq->peer_ip, false, "mfa_required");
		fed_error(rs, 403, "access_denied",
			  "this tenant requires a second factor the upstream did "
			  "not report");
		goto out;
	}
	if (iam_session_create(f->iam, p->tenant, u.id, rq->peer_ip, id.mfa,
			       &t.policy, token, &err) < 0) {
		log_warnx("iam federation: session: %s", err.msg);
		fed_error(rs, 503, "temporarily_unavailable", "try again later");
		goto out;
	}
	event(p->tenant, u.name, rq->peer_ip, true, created ? "provisioned" : "ok");
	if (st.return_to[0] && rq->tls) {
		/* A browser: the pages' session cookie, then back to where the
		 * login started (login page or OIDC authorization). */
		add_cookie(rs, true, p->tenant, "s", token, t.policy.session_absolute_s,
			   "Lax");
		const char *base_end = strstr(st.redirect_uri, "/federation/");
		size_t bl = base_end ? (size_t)(base_end - st.redirect_uri) : 0;
		if (bw_snprintf(rs->location, sizeof(rs->location), "%.*s%s", (int)bl,
				st.redirect_uri, st.return_to) < 0) {
			fed_error(rs, 500, "server_error", "return path too long");
			goto out;
		}
		rs->status = 302;
		rs->content_type = "text/plain";
		goto out;
	}
	struct json_writer w;
	bw_buf_reset(&rs->body);
	json_writer_init(&w, &rs->body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "status", "ok");
	json_write_kv_string(&w, "session_token", token);
	json_write_kv_string(&w, "user_id", u.id);
	json_write_kv_string(&w, "user_name", u.name);
	json_write_kv_bool(&w, "provisioned", created);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		fed_error(rs, 500, "server_error", "response too large");
		goto out;
	}
	rs->status = 200;
	rs->content_type = "application/json";
out:
	bw_wipe(token, sizeof(token));
	bw_wipe(id_token, sizeof(id_token));
	bw_wipe(&st, sizeof(st));
	bw_wipe(state_cookie, sizeof(state_cookie));
}

/* Routes /federation/{tenant}/{provider}/{login|callback}. Blocking. */
static void fed_dispatch(struct iam_fed *f, const struct fed_req *rq,
			 struct fed_resp *rs)
{
	static const char prefix[] = "/federation/";
	const size_t pl = sizeof(prefix) - 1;
	char seg[3][IAM_FED_NAME_MAX + 2];
	struct bw_err err;
	rs->status = 404;
	if (rq->method != HTTP_METHOD_GET && rq->method != HTTP_METHOD_HEAD) {
		fed_error(rs, 405, "invalid_request", "only GET");
		return;
	}
	if (rq->path.len <= pl || memcmp(rq->path.p, prefix, pl) != 0) {
		fed_error(rs, 404, "not_found", "no such endpoint");
		return;
	}
	size_t i = pl;
	for (int s = 0; s < 3; s++) {
		size_t st = i;
		while (i < rq->path.len && rq->path.p[i] != '/')
			i++;
		size_t n = i - st;
		if (n == 0 || n > IAM_FED_NAME_MAX ||
		    (s < 2 && (i >= rq->path.len)) || (s == 2 && i != rq->path.len)) {
			fed_error(rs, 404, "not_found", "no such endpoint");
			return;
		}
		memcpy(seg[s], rq->path.p + st, n);
		seg[s][n] = 0;
		i++;
	}
	struct iam_fed_provider p;
	if (!iam_valid_tenant_name(seg[0]) || !iam_valid_tenant_name(seg[1]) ||
	    iam_tenant_require(f->iam, seg[0], NULL, &err) < 0 ||
	    iam_fed_provider_get(f->iam, seg[0], seg[1], &p, &err) < 0 ||
	    p.disabled) {
		fed_error(rs, 404, "not_found", "no such identity provider");
		return;
	}
	char base[300];
	if (iam_http_origin(f->base, rq->host, rq->tls, base, sizeof(base)) < 0) {
		fed_error(rs, 400, "invalid_request", "bad Host header");
		return;
	}
	if (strcmp(seg[2], "login") == 0)
		ep_login(f, &p, base, rq, rs);
	else if (strcmp(seg[2], "callback") == 0)
		ep_callback(f, &p, rq, rs);
	else
		fed_error(rs, 404, "not_found", "no such endpoint");
}

/* ---------------------------------------------------------- net glue */

struct fed_net_job {
	struct iam_fed *f;
	struct net_exchange *x;
	struct fed_req rq;
	struct fed_resp rs;
};

static void net_work(void *arg)
{
	struct fed_net_job *j = arg;
	fed_dispatch(j->f, &j->rq, &j->rs);
}

static void net_done(void *arg)
{
	struct fed_net_job *j = arg;
	struct fed_resp *rs = &j->rs;
	net_add_header(j->x, "Cache-Control", "no-store");
	net_add_header(j->x, "X-Content-Type-Options", "nosniff");
	net_add_header(j->x, "Referrer-Policy", "no-referrer");
	if (rs->location[0])
		net_add_header(j->x, "Location", rs->location);
	for (size_t i = 0; i < rs->ncookies; i++)
		net_add_header(j->x, "Set-Cookie", rs->cookies[i]);
	net_respond(j->x, rs->status, rs->content_type ? rs->content_type : "text/plain",
		    rs->body.data ? rs->body.data : "", rs->body.len);
	bw_buf_wipe_fini(&rs->body);
	bw_wipe(rs->cookies, sizeof(rs->cookies));
	free(j);
}

static struct bw_str header(const struct http_request *r, const char *name)
{
	const struct http_header *hd = http_header_find(r->headers, r->nheaders, name);
	return hd ? hd->value : bw_str_make("", 0);
}

void iam_fed_net_handler(struct net_exchange *x, void *arg)
{
	struct iam_fed *f = arg;
	const struct http_request *r = net_request(x);
	struct fed_net_job *j = calloc(1, sizeof(*j));
	if (!j) {
		net_respond(x, 503, "application/json",
			    "{\"error\":\"temporarily_unavailable\"}", 35);
		return;
	}
	j->f = f;
	j->x = x;
	/* The request stays valid until net_respond (in net_done). */
	j->rq = (struct fed_req){.method = (int)r->method,
				 .path = r->path,
				 .query = r->query,
				 .host = r->host,
				 .cookie = header(r, "cookie"),
				 .tls = net_is_tls(x),
				 .peer_ip = net_peer_ip(x)};
	bw_buf_init(&j->rs.body, 64 * 1024);
	if (tpool_submit(f->pool, net_work, net_done, j, net_loop(x)) < 0) {
		bw_buf_fini(&j->rs.body);
		free(j);
		net_add_header(x, "Retry-After", "1");
		net_respond(x, 503, "application/json",
			    "{\"error\":\"temporarily_unavailable\"}", 35);
	}
}

/* ------------------------------------------------------------ lifetime */

static void *fed_thread(void *arg)
{
	struct iam_fed *f = arg;
	if (loop_run(f->loop) < 0)
		log_warnx("iam federation: loop failed");
	return NULL;
}

struct iam_fed *iam_fed_new(const struct iam_fed_options *o, struct bw_err *err)
{
	struct iam_fed *f = calloc(1, sizeof(*f));
	if (!f) {
		bw_err_set(err, 500, "iam", "memory", "out of memory");
		return NULL;
	}
	f->iam = o->iam;
	pthread_mutex_init(&f->mu, NULL);
	size_t bl = o->base ? strlen(o->base) : 0;
	if (bl && (bl >= sizeof(f->base) || o->base[bl - 1] == '/' ||
		   (strncmp(o->base, "https://", 8) != 0 &&
		    strncmp(o->base, "http://", 7) != 0))) {
		bw_err_set(err, 400, "iam", "bad_base",
			   "the public URL is an origin like https://id.example");
		goto fail;
	}
	if (bl)
		memcpy(f->base, o->base, bl + 1);
	if (o->ca_file && bw_snprintf(f->ca_file, sizeof(f->ca_file), "%s",
				      o->ca_file) < 0) {
		bw_err_set(err, 400, "iam", "too_long", "CA file path too long");
		goto fail;
	}
	if (fed_migrate(f->iam, err) < 0)
		goto fail;
	if (!(f->pool = tpool_new(IAM_FED_THREADS, IAM_FED_QUEUE, err)) ||
	    !(f->loop = loop_new(IAM_FED_INFLIGHT * 2 + 16, err)) ||
	    !(f->fetch = net_fetch_new(f->loop, IAM_FED_INFLIGHT, err)))
		goto fail;
	if (pthread_create(&f->th, NULL, fed_thread, f) != 0) {
		bw_err_set(err, 500, "iam", "thread", "cannot start the thread");
		goto fail;
	}
	f->thread_started = true;
	return f;
fail:
	iam_fed_free(f);
	return NULL;
}

void iam_fed_free(struct iam_fed *f)
{
	if (!f)
		return;
	/* Logins in flight finish first: their fetches need the loop. */
	tpool_free(f->pool);
	if (f->thread_started) {
		loop_stop(f->loop);
		pthread_join(f->th, NULL);
	}
	net_fetch_free(f->fetch);
	loop_free(f->loop);
	for (size_t i = 0; i < IAM_FED_CACHE_ENTRIES; i++)
		free(f->cache[i].jwks);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
