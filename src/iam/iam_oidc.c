/*
 * The per-tenant OAuth 2 / OpenID Connect provider core: signing keys,
 * clients, authorization codes with PKCE, the token endpoint's three
 * grants, refresh-token rotation with reuse detection, JWKS, discovery,
 * introspection and revocation. The HTTP layer (form parsing, the login
 * and consent pages, client authentication headers) sits on top.
 *
 * Invariants:
 *  - signing keys are stored sealed (aad "tenant/oidc/kid"); only the
 *    newest unretired key signs, every stored key is published, so a
 *    rotation overlaps until iam_oidc_keys_prune;
 *  - tokens are verified with the tenant's own key set, issuer and an
 *    allow-list of asymmetric algorithms only (jose_* refuses "none" and
 *    HMAC confusion);
 *  - codes, refresh tokens and client secrets are stored as SHA-256;
 *    codes are single-use (deleted in the same job that reads them) and
 *    bound to client, redirect URI and PKCE challenge (S256 only);
 *  - a refresh token is used once: presenting a used one deletes its
 *    whole family, so a stolen token dies with the legitimate one;
 *  - tenant isolation as everywhere: every statement binds the tenant,
 *    and tokens carry the tenant's issuer.
 */
#include "iam/iam_int.h"
#include "crypto/crypto.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

#define OIDC_ALGS                                                              \
	(JOSE_ALG_BIT(JOSE_ALG_ES256) | JOSE_ALG_BIT(JOSE_ALG_EDDSA) |         \
	 JOSE_ALG_BIT(JOSE_ALG_RS256))

static int oauth_err(struct bw_err *err, int code, const char *reason,
		     const char *msg)
{
	return bw_err_set(err, code, "iam", reason, "%s", msg);
}

/* True when space-separated list contains word exactly. */
static bool has_word(const char *list, const char *word, size_t wl)
{
	const char *p = list;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - p) == wl && memcmp(p, word, wl) == 0)
			return true;
		p = e;
	}
	return false;
}

/* Every word of req is in allowed. */
static bool words_subset(const char *req, const char *allowed)
{
	const char *p = req;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p && !has_word(allowed, p, (size_t)(e - p)))
			return false;
		p = e;
	}
	return true;
}

static bool scope_chars_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		/* RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E, space
		 * separated. */
		if (c != ' ' && (c < 0x21 || c > 0x7e || c == '"' || c == '\\'))
			return false;
	}
	return true;
}

static bool redirect_ok(const char *u)
{
	size_t n = strlen(u);
	if (n < 10 || n > 512 || strchr(u, '#') || strchr(u, ' '))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return false;
	return strncmp(u, "https://", 8) == 0 ||
	       strncmp(u, "http://localhost", 16) == 0 ||
	       strncmp(u, "http://127.0.0.1", 16) == 0;
}

/* --------------------------------------------------------------- clients */

int iam_oidc_client_create(struct iam *iam, const char *tenant,
			   const struct iam_oidc_client_spec *spec,
			   char client_id[IAM_ID_LEN + 1],
			   char secret[IAM_TOKEN_MAX], struct bw_err *err)
{
	uint8_t hash[32];
	const char *grants =
	    spec->grant_types ? spec->grant_types : "authorization_code";
	const char *uris = spec->redirect_uris ? spec->redirect_uris : "";
	const char *scopes = spec->scopes ? spec->scopes : "openid";
	secret[0] = 0;
	if (!iam_valid_name(spec->name))
		return oauth_err(err, 400, "bad_name", "bad client name");
	if (!words_subset(
		grants, "authorization_code refresh_token client_credentials"))
		return oauth_err(err, 400, "invalid_request",
				 "unknown grant type");
	if (spec->public_client && has_word(grants, "client_credentials", 18))
		return oauth_err(
		    err, 400, "invalid_request",
		    "public clients cannot use client_credentials");
	if (!scope_chars_ok(scopes, IAM_SCOPES_MAX) ||
	    strlen(uris) > IAM_OIDC_URIS_MAX)
		return oauth_err(err, 400, "invalid_request",
				 "bad scopes or redirect URIs");
	/* Every redirect URI must be absolute https (or loopback http). */
	size_t count = 0;
	for (const char *p = uris; *p;) {
		char one[IAM_OIDC_URIS_MAX + 1];
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e == p)
			break;
		memcpy(one, p, (size_t)(e - p));
		one[e - p] = 0;
		if (!redirect_ok(one))
			return oauth_err(
			    err, 400, "invalid_request",
			    "redirect URIs must be https (or loopback http),"
			    " without fragments");
		count++;
		p = e;
	}
	if (has_word(grants, "authorization_code", 18) && count == 0)
		return oauth_err(err, 400, "invalid_request",
				 "a redirect URI is required");
	if (iam_tenant_require(iam, tenant, NULL, err) < 0)
		return -1;
	iam_new_id(client_id);
	if (!spec->public_client)
		iam_token_new("bcs_", secret, hash);
	struct store_value v[] = {
	    store_text_str(tenant),
	    store_text_str(client_id),
	    store_text_str(spec->name),
	    spec->public_client ? store_null() : store_blob(hash, 32),
	    store_text_str(uris),
	    store_text_str(grants),
	    store_text_str(scopes),
	    store_int(bw_clock_now_s()),
	};
	if (store_exec(
		iam->store,
		"INSERT INTO iam_oidc_client (tenant, client_id, name,"
		" secret_hash, redirect_uris, grant_types, scopes, created)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		v, BW_ARRAY_LEN(v), NULL, err) < 0) {
		bw_wipe(secret, IAM_TOKEN_MAX);
		return -1;
	}
	return 0;
}

int iam_oidc_client_delete(struct iam *iam, const char *tenant,
			   const char *client_id, struct bw_err *err)
{
	int64_t changes = 0;
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(client_id)};
	if (store_exec(iam->store,
		       "DELETE FROM iam_oidc_client WHERE tenant = ? AND "
		       "client_id = ?",
		       k, 2, &changes, err) < 0)
		return -1;
	if (changes != 1)
		return bw_err_set(err, 404, "iam", "not_found",
				  "no such client");
	return 0;
}

struct client_list {
	int (*fn)(void *arg, const struct iam_oidc_client_info *c);
	void *arg;
};

static int client_list_row(void *arg, const struct store_row *row,
			   struct bw_err *err)
{
	struct client_list *l = arg;
	struct iam_oidc_client_info c;
	memset(&c, 0, sizeof(c));
	if (iam_row_text(row, 0, c.client_id, sizeof(c.client_id), err) < 0 ||
	    iam_row_text(row, 1, c.name, sizeof(c.name), err) < 0 ||
	    iam_row_text(row, 2, c.redirect_uris, sizeof(c.redirect_uris),
			 err) < 0 ||
	    iam_row_text(row, 3, c.grant_types, sizeof(c.grant_types), err) <
		0 ||
	    iam_row_text(row, 4, c.scopes, sizeof(c.scopes), err) < 0)
		return -1;
	c.public_client = store_row_int64(row, 5) != 0;
	c.created = store_row_int64(row, 6);
	return l->fn(l->arg, &c) ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

int iam_oidc_client_list(struct iam *iam, const char *tenant,
			 int (*fn)(void *arg,
				   const struct iam_oidc_client_info *c),
			 void *arg, struct bw_err *err)
{
	struct client_list l = {fn, arg};
	struct store_value k[] = {store_text_str(tenant)};
	return store_query(iam->store,
			   "SELECT client_id, name, redirect_uris, grant_types,"
			   " scopes, secret_hash IS NULL, created FROM"
			   " iam_oidc_client WHERE tenant = ? ORDER BY client_id",
			   k, 1, client_list_row, &l, err);
}

struct client {
	bool confidential;
	uint8_t secret_hash[32];
	char uris[IAM_OIDC_URIS_MAX + 1];
	char grants[128];
	char scopes[IAM_SCOPES_MAX + 1];
};

static int client_row(void *arg, const struct store_row *row,
		      struct bw_err *err)
{
	struct client *c = arg;
	size_t n = 0;
	const void *h = store_row_blob(row, 0, &n);
	c->confidential = !store_row_is_null(row, 0);
	if (c->confidential) {
		if (n != 32)
			return bw_err_set(err, 500, "iam", "corrupt",
					  "client secret hash");
		memcpy(c->secret_hash, h, 32);
	}
	if (iam_row_text(row, 1, c->uris, sizeof(c->uris), err) < 0 ||
	    iam_row_text(row, 2, c->grants, sizeof(c->grants), err) < 0 ||
	    iam_row_text(row, 3, c->scopes, sizeof(c->scopes), err) < 0)
		return -1;
	return STORE_ROW_NEXT;
}

/* Loads and authenticates a client for grant. A public client presents no
 * secret; a confidential one must present the right one. */
static int client_auth(struct iam *iam, const char *tenant,
		       const char *client_id, const char *secret,
		       const char *grant, struct client *c, struct bw_err *err)
{
	memset(c, 0, sizeof(*c));
	if (!client_id || !iam_valid_tenant_name(tenant))
		return oauth_err(err, 401, "invalid_client",
				 "client authentication failed");
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(client_id)};
	int rc =
	    store_query_one(iam->store,
			    "SELECT secret_hash, redirect_uris, grant_types,"
			    " scopes FROM iam_oidc_client WHERE tenant = ?"
			    " AND client_id = ?",
			    k, 2, client_row, c, err);
	if (rc < 0)
		return -1;
	bool ok = rc == 1;
	if (ok && c->confidential) {
		uint8_t h[32];
		crypto_sha256(secret ? secret : "", secret ? strlen(secret) : 0,
			      h);
		ok = secret && bw_ct_equal(h, 32, c->secret_hash, 32);
	} else if (ok && secret && *secret) {
		ok = false; /* a public client has no secret to present */
	}
	if (!ok)
		return oauth_err(err, 401, "invalid_client",
				 "client authentication failed");
	if (grant && !has_word(c->grants, grant, strlen(grant)))
		return oauth_err(err, 400, "unauthorized_client",
				 "the client may not use this grant type");
	return 0;
}

int iam_oidc_client_check(struct iam *iam, const char *tenant,
			  const char *client_id, const char *secret,
			  struct bw_err *err)
{
	struct client c;
	if (client_auth(iam, tenant, client_id, secret, NULL, &c, err) < 0)
		return -1;
	if (!c.confidential)
		return oauth_err(err, 401, "invalid_client",
				 "client authentication failed");
	return 0;
}

/* ------------------------------------------------------------------ keys */

int iam_oidc_key_rotate(struct iam *iam, const char *tenant, int alg,
			struct bw_err *err)
{
	struct bw_buf priv, pub, sealed;
	struct json_writer w;
	int rc = -1;
	enum jose_alg a = (enum jose_alg)alg;
	if (a != JOSE_ALG_ES256 && a != JOSE_ALG_EDDSA && a != JOSE_ALG_RS256)
		return oauth_err(err, 400, "invalid_request",
				 "signing alg ES256, EdDSA or RS256");
	if (iam_tenant_get(iam, tenant, NULL, err) < 0)
		return -1;
	struct jose_jwk *k = jose_jwk_generate(a, NULL, err);
	if (!k)
		return -1;
	bw_buf_init(&priv, JOSE_JWK_MAX);
	bw_buf_init(&pub, JOSE_JWK_MAX);
	bw_buf_init(&sealed, JOSE_JWK_MAX + 64);
	json_writer_init(&w, &priv);
	if (jose_jwk_write(k, true, &w, err) < 0 || json_writer_finish(&w) < 0)
		goto out;
	json_writer_init(&w, &pub);
	if (jose_jwk_write(k, false, &w, err) < 0 || json_writer_finish(&w) < 0)
		goto out;
	char purpose[JOSE_KID_MAX + 8];
	bw_snprintf(purpose, sizeof(purpose), "%s", jose_jwk_kid(k));
	if (iam_seal(iam, tenant, "oidc", purpose, (const uint8_t *)priv.data,
		     priv.len, &sealed, err) < 0)
		goto out;
	int64_t now = bw_clock_now_s();
	struct store_value r[] = {store_int(now), store_text_str(tenant)};
	if (store_exec(iam->store,
		       "UPDATE iam_oidc_key SET retired = ? WHERE tenant = ?"
		       " AND retired = 0",
		       r, 2, NULL, err) < 0)
		goto out;
	struct store_value v[] = {store_text_str(tenant),
				  store_text_str(jose_jwk_kid(k)),
				  store_text_str(jose_alg_name(a)),
				  store_blob(sealed.data, sealed.len),
				  store_text(pub.data, pub.len),
				  store_int(now)};
	if (store_exec(iam->store,
		       "INSERT INTO iam_oidc_key (tenant, kid, alg, sealed,"
		       " public_jwk, created) VALUES (?, ?, ?, ?, ?, ?)",
		       v, 6, NULL, err) < 0)
		goto out;
	rc = 0;
out:
	bw_buf_wipe_fini(&priv);
	bw_buf_fini(&pub);
	bw_buf_fini(&sealed);
	jose_jwk_free(k);
	return rc;
}

int iam_oidc_keys_prune(struct iam *iam, const char *tenant, int64_t keep_s,
			struct bw_err *err)
{
	struct store_value k[] = {store_text_str(tenant),
				  store_int(bw_clock_now_s() - keep_s)};
	return store_exec(iam->store,
			  "DELETE FROM iam_oidc_key WHERE tenant = ?"
			  " AND retired > 0 AND retired <= ?",
			  k, 2, NULL, err);
}

struct sealed_key {
	char kid[JOSE_KID_MAX + 1];
	uint8_t blob[JOSE_JWK_MAX + 64];
	size_t len;
};

static int sealed_key_row(void *arg, const struct store_row *row,
			  struct bw_err *err)
{
	struct sealed_key *s = arg;
	size_t n = 0;
	const void *p = store_row_blob(row, 1, &n);
	if (n > sizeof(s->blob))
		return bw_err_set(err, 500, "iam", "corrupt",
				  "sealed key too large");
	memcpy(s->blob, p, n);
	s->len = n;
	return iam_row_text(row, 0, s->kid, sizeof(s->kid), err);
}

/* The active private key (created on first use: ES256). Caller frees. */
static struct jose_jwk *active_key(struct iam *iam, const char *tenant,
				   struct bw_err *err)
{
	struct sealed_key *s = calloc(1, sizeof(*s));
	struct bw_buf priv;
	struct jose_jwk *k = NULL;
	if (!s) {
		bw_err_set(err, 500, "iam", "memory", "out of memory");
		return NULL;
	}
	bw_buf_init(&priv, JOSE_JWK_MAX);
	struct store_value t[] = {store_text_str(tenant)};
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc =
		    store_query_one(iam->store,
				    "SELECT kid, sealed FROM iam_oidc_key WHERE"
				    " tenant = ? AND retired = 0"
				    " ORDER BY created DESC",
				    t, 1, sealed_key_row, s, err);
		if (rc < 0)
			goto out;
		if (rc == 1)
			break;
		if (attempt == 1 ||
		    iam_oidc_key_rotate(iam, tenant, JOSE_ALG_ES256, err) < 0)
			goto out;
	}
	if (iam_unseal(iam, tenant, "oidc", s->kid, s->blob, s->len, &priv,
		       err) < 0)
		goto out;
	k = jose_jwk_parse(priv.data, priv.len, err);
out:
	bw_buf_wipe_fini(&priv);
	bw_wipe(s, sizeof(*s));
	free(s);
	return k;
}

struct jwks_ctx {
	struct jose_jwks *set;
	struct bw_buf *out;
	bool first;
};

static int jwks_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct jwks_ctx *c = arg;
	struct bw_str pub = store_row_text(row, 0);
	if (c->out) {
		if ((!c->first && bw_buf_append_byte(c->out, ',') < 0) ||
		    bw_buf_append(c->out, pub.p, pub.len) < 0)
			return bw_err_set(err, 413, "iam", "too_large",
					  "JWKS too large");
		c->first = false;
	}
	if (c->set) {
		struct jose_jwk *k = jose_jwk_parse(pub.p, pub.len, err);
		if (!k || jose_jwks_add(c->set, k, err) < 0)
			return -1;
	}
	return STORE_ROW_NEXT;
}

static int load_keys(struct iam *iam, const char *tenant, struct jose_jwks *set,
		     struct bw_buf *out, struct bw_err *err)
{
	struct jwks_ctx c = {set, out, true};
	struct store_value t[] = {store_text_str(tenant)};
	return store_query(
	    iam->store,
	    "SELECT public_jwk FROM iam_oidc_key WHERE tenant = ?"
	    " ORDER BY created DESC",
	    t, 1, jwks_row, &c, err);
}

int iam_oidc_jwks(struct iam *iam, const char *tenant, struct bw_buf *out,
		  struct bw_err *err)
{
	if (bw_buf_append_str(out, "{\"keys\":[") < 0)
		return bw_err_set(err, 413, "iam", "too_large",
				  "JWKS too large");
	if (load_keys(iam, tenant, NULL, out, err) < 0)
		return -1;
	if (bw_buf_append_str(out, "]}") < 0)
		return bw_err_set(err, 413, "iam", "too_large",
				  "JWKS too large");
	return 0;
}

int iam_oidc_discovery(const char *issuer, struct bw_buf *out,
		       struct bw_err *err)
{
	struct json_writer w;
	char u[600];
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "issuer", issuer);
	static const char *const ep[][2] = {
	    {"authorization_endpoint", "/authorize"},
	    {"token_endpoint", "/token"},
	    {"userinfo_endpoint", "/userinfo"},
	    {"jwks_uri", "/jwks"},
	    {"introspection_endpoint", "/introspect"},
	    {"revocation_endpoint", "/revoke"},
	    {"end_session_endpoint", "/logout"},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(ep); i++) {
		if (bw_snprintf(u, sizeof(u), "%s%s", issuer, ep[i][1]) < 0)
			return bw_err_set(err, 400, "iam", "too_long",
					  "issuer too long");
		json_write_kv_string(&w, ep[i][0], u);
	}
	static const char *const lists[][10] = {
	    {"response_types_supported", "code", NULL},
	    {"grant_types_supported", "authorization_code", "refresh_token",
	     "client_credentials", NULL},
	    {"subject_types_supported", "public", NULL},
	    {"id_token_signing_alg_values_supported", "ES256", "EdDSA", "RS256",
	     NULL},
	    {"code_challenge_methods_supported", "S256", NULL},
	    {"token_endpoint_auth_methods_supported", "client_secret_basic",
	     "client_secret_post", "none", NULL},
	    {"scopes_supported", "openid", "profile", "email", NULL},
	    {"claims_supported", "sub", "iss", "aud", "exp", "iat", "name",
	     "email", NULL},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(lists); i++) {
		json_write_key(&w, lists[i][0]);
		json_write_array_begin(&w);
		for (size_t j = 1; j < 10 && lists[i][j]; j++)
			json_write_string(&w, lists[i][j]);
		json_write_array_end(&w);
	}
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		return bw_err_set(err, 413, "iam", "too_large",
				  "discovery document too large");
	return 0;
}

/* ---------------------------------------------------------------- tokens */

/* Signs claims (a JSON object text) with the tenant's active key. */
static int sign_jwt(struct iam *iam, const char *tenant, const char *typ,
		    struct bw_buf *claims, char out[IAM_OIDC_TOKEN_MAX],
		    struct bw_err *err)
{
	struct jose_signer s;
	struct bw_buf tok;
	int rc = -1;
	struct jose_jwk *k = active_key(iam, tenant, err);
	if (!k)
		return -1;
	bw_buf_init(&tok, IAM_OIDC_TOKEN_MAX - 1);
	if (jose_signer_local(&s, k, JOSE_ALG_INVALID, err) == 0 &&
	    jose_jws_sign(&s, typ, claims->data, claims->len, &tok, err) == 0) {
		memcpy(out, tok.data, tok.len + 1);
		rc = 0;
	}
	bw_buf_fini(&tok);
	jose_jwk_free(k);
	return rc;
}

static int mint_access(struct iam *iam, const char *tenant, const char *issuer,
		       const char *sub, const char *client_id,
		       const char *scope, struct iam_oidc_tokens *t,
		       struct bw_err *err)
{
	struct bw_buf c;
	struct json_writer w;
	char jti[IAM_ID_LEN + 1];
	int64_t now = bw_clock_now_s();
	iam_new_id(jti);
	bw_buf_init(&c, 4096);
	json_writer_init(&w, &c);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "iss", issuer);
	json_write_kv_string(&w, "sub", sub);
	json_write_kv_string(&w, "aud", issuer);
	json_write_kv_string(&w, "client_id", client_id);
	json_write_kv_string(&w, "scope", scope);
	json_write_kv_string(&w, "jti", jti);
	json_write_kv_int(&w, "iat", now);
	json_write_kv_int(&w, "exp", now + IAM_OIDC_ACCESS_TTL_S);
	json_write_object_end(&w);
	int rc =
	    json_writer_finish(&w) < 0
		? bw_err_set(err, 413, "iam", "too_large", "claims too large")
		: sign_jwt(iam, tenant, "at+jwt", &c, t->access_token, err);
	bw_buf_fini(&c);
	t->expires_in = IAM_OIDC_ACCESS_TTL_S;
	bw_snprintf(t->scope, sizeof(t->scope), "%s", scope);
	return rc;
}

static int mint_id(struct iam *iam, const char *tenant, const char *issuer,
		   const struct iam_user *u, const char *client_id,
		   const char *nonce, const struct iam_oidc_auth *auth,
		   const char *scope, struct iam_oidc_tokens *t,
		   struct bw_err *err)
{
	struct bw_buf c;
	struct json_writer w;
	int64_t now = bw_clock_now_s();
	bw_buf_init(&c, 4096);
	json_writer_init(&w, &c);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "iss", issuer);
	json_write_kv_string(&w, "sub", u->id);
	json_write_kv_string(&w, "aud", client_id);
	json_write_kv_string(&w, "azp", client_id);
	json_write_kv_int(&w, "iat", now);
	json_write_kv_int(&w, "exp", now + IAM_OIDC_ID_TTL_S);
	json_write_kv_int(&w, "auth_time", auth->auth_time);
	if (auth->mfa) {
		/* RFC 8176: the sign-in used more than one factor. */
		json_write_key(&w, "amr");
		json_write_array_begin(&w);
		json_write_string(&w, "mfa");
		json_write_array_end(&w);
	}
	if (nonce && *nonce)
		json_write_kv_string(&w, "nonce", nonce);
	if (has_word(scope, "profile", 7)) {
		json_write_kv_string(&w, "name", u->display_name);
		json_write_kv_string(&w, "preferred_username", u->name);
	}
	if (has_word(scope, "email", 5) && u->email[0])
		json_write_kv_string(&w, "email", u->email);
	json_write_object_end(&w);
	int rc =
	    json_writer_finish(&w) < 0
		? bw_err_set(err, 413, "iam", "too_large", "claims too large")
		: sign_jwt(iam, tenant, "JWT", &c, t->id_token, err);
	bw_buf_fini(&c);
	return rc;
}

/* auth: the sign-in the family descends from, carried into the ID
 * tokens its refreshes mint. */
static int mint_refresh(struct iam *iam, const char *tenant,
			const char *client_id, const char *user_id,
			const char *family, const char *scope,
			const struct iam_oidc_auth *auth,
			struct iam_oidc_tokens *t, struct bw_err *err)
{
	uint8_t h[32];
	iam_token_new("bwr_", t->refresh_token, h);
	struct store_value v[] = {
	    store_blob(h, 32),
	    store_text_str(tenant),
	    store_text_str(client_id),
	    store_text_str(user_id),
	    store_text_str(family),
	    store_text_str(scope),
	    store_int(bw_clock_now_s() + IAM_OIDC_REFRESH_TTL_S),
	    store_int(auth->auth_time),
	    store_bool(auth->mfa)};
	int rc =
	    store_exec(iam->store,
		       "INSERT INTO iam_oidc_refresh (hash, tenant, client_id,"
		       " user_id, family, scope, expires, auth_time, mfa)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       v, 9, NULL, err);
	if (rc < 0)
		bw_wipe(t->refresh_token, sizeof(t->refresh_token));
	return rc;
}

/* -------------------------------------------------- authorization code */

static bool pkce_chars_ok(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s);
	if (n < lo || n > hi)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_' || c == '~'))
			return false;
	}
	return true;
}

int iam_oidc_authorize(struct iam *iam, const char *tenant, const char *user_id,
		       const char *client_id, const char *redirect_uri,
		       const char *scope, const char *code_challenge,
		       const char *method, const char *nonce,
		       char code[IAM_TOKEN_MAX], struct bw_err *err)
{
	return iam_oidc_authorize_as(iam, tenant, user_id, client_id,
				     redirect_uri, scope, code_challenge,
				     method, nonce, NULL, code, err);
}

int iam_oidc_authorize_as(struct iam *iam, const char *tenant,
			  const char *user_id, const char *client_id,
			  const char *redirect_uri, const char *scope,
			  const char *code_challenge, const char *method,
			  const char *nonce, const struct iam_oidc_auth *auth,
			  char code[IAM_TOKEN_MAX], struct bw_err *err)
{
	struct client c;
	struct iam_user u;
	uint8_t h[32];
	code[0] = 0;
	/* The client is identified (not authenticated) here. */
	struct store_value k[] = {store_text_str(tenant),
				  store_text_str(client_id)};
	memset(&c, 0, sizeof(c));
	int rc =
	    store_query_one(iam->store,
			    "SELECT secret_hash, redirect_uris, grant_types,"
			    " scopes FROM iam_oidc_client WHERE tenant = ?"
			    " AND client_id = ?",
			    k, 2, client_row, &c, err);
	if (rc <= 0)
		return rc < 0 ? -1
			      : oauth_err(err, 400, "invalid_client",
					  "unknown client");
	if (!redirect_uri ||
	    !has_word(c.uris, redirect_uri, strlen(redirect_uri)))
		return oauth_err(err, 400, "invalid_request",
				 "redirect_uri not registered");
	if (!has_word(c.grants, "authorization_code", 18))
		return oauth_err(err, 400, "unauthorized_client",
				 "code flow not allowed");
	if (!scope || !scope_chars_ok(scope, IAM_SCOPES_MAX) ||
	    !words_subset(scope, c.scopes))
		return oauth_err(err, 400, "invalid_scope",
				 "scope not allowed for this client");
	if (nonce && strlen(nonce) > 256)
		return oauth_err(err, 400, "invalid_request", "nonce too long");
	/* PKCE: S256 only (plain offers no protection); mandatory for public
	 * clients, honoured when a confidential client sends it. */
	bool have_pkce = code_challenge && *code_challenge;
	if (have_pkce && (!method || strcmp(method, "S256") != 0 ||
			  !pkce_chars_ok(code_challenge, 43, 43)))
		return oauth_err(
		    err, 400, "invalid_request",
		    "code_challenge must be S256 (43 base64url characters)");
	if (!have_pkce && !c.confidential)
		return oauth_err(err, 400, "invalid_request",
				 "public clients must use PKCE (S256)");
	if (iam_tenant_require(iam, tenant, NULL, err) < 0 ||
	    iam_user_get(iam, tenant, user_id, &u, err) < 0)
		return -1;
	if (u.disabled)
		return oauth_err(err, 403, "access_denied", "user disabled");
	iam_token_new("bwa_", code, h);
	int64_t now = bw_clock_now_s();
	struct store_value v[] = {
	    store_blob(h, 32),
	    store_text_str(tenant),
	    store_text_str(client_id),
	    store_text_str(user_id),
	    store_text_str(redirect_uri),
	    store_text_str(scope),
	    store_text_str(have_pkce ? code_challenge : ""),
	    store_text_str(nonce ? nonce : ""),
	    store_int(auth && auth->auth_time > 0 && auth->auth_time <= now
			  ? auth->auth_time
			  : now),
	    store_int(now + IAM_OIDC_CODE_TTL_S),
	    store_bool(auth && auth->mfa)};
	if (store_exec(
		iam->store,
		"INSERT INTO iam_oidc_code (hash, tenant, client_id, user_id,"
		" redirect_uri, scope, challenge, nonce, auth_time, expires,"
		" mfa) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		v, BW_ARRAY_LEN(v), NULL, err) < 0) {
		bw_wipe(code, IAM_TOKEN_MAX);
		return -1;
	}
	return 0;
}

struct code_row {
	uint8_t hash[32];
	const char *tenant;
	bool found;
	char client_id[IAM_ID_LEN + 1];
	char user_id[IAM_ID_LEN + 1];
	char redirect[513];
	char scope[IAM_SCOPES_MAX + 1];
	char challenge[64];
	char nonce[257];
	int64_t expires;
	struct iam_oidc_auth auth;
};

static int code_row_cb(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct code_row *c = arg;
	c->found = true;
	c->auth.auth_time = store_row_int64(row, 6);
	c->expires = store_row_int64(row, 7);
	c->auth.mfa = store_row_int64(row, 8) != 0;
	if (iam_row_text(row, 0, c->client_id, sizeof(c->client_id), err) < 0 ||
	    iam_row_text(row, 1, c->user_id, sizeof(c->user_id), err) < 0 ||
	    iam_row_text(row, 2, c->redirect, sizeof(c->redirect), err) < 0 ||
	    iam_row_text(row, 3, c->scope, sizeof(c->scope), err) < 0 ||
	    iam_row_text(row, 4, c->challenge, sizeof(c->challenge), err) < 0 ||
	    iam_row_text(row, 5, c->nonce, sizeof(c->nonce), err) < 0)
		return -1;
	return STORE_ROW_NEXT;
}

/* Reads and deletes the code in one job: single use even under races. */
static int code_take_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct code_row *c = arg;
	struct store_value k[] = {store_blob(c->hash, 32),
				  store_text_str(c->tenant)};
	if (store_tx_query_one(
		tx,
		"SELECT client_id, user_id, redirect_uri, scope, challenge,"
		" nonce, auth_time, expires, mfa FROM iam_oidc_code"
		" WHERE hash = ? AND tenant = ?",
		k, 2, code_row_cb, c, err) < 0)
		return -1;
	return store_tx_exec(
	    tx, "DELETE FROM iam_oidc_code WHERE hash = ? AND tenant = ?", k, 2,
	    err);
}

int iam_oidc_token_code(struct iam *iam, const char *tenant, const char *issuer,
			const char *client_id, const char *client_secret,
			const char *code, const char *code_verifier,
			const char *redirect_uri, struct iam_oidc_tokens *t,
			struct bw_err *err)
{
	struct client cl;
	struct code_row c;
	struct iam_user u;
	memset(t, 0, sizeof(*t));
	memset(&c, 0, sizeof(c));
	if (client_auth(iam, tenant, client_id, client_secret,
			"authorization_code", &cl, err) < 0)
		return -1;
	if (!code || strlen(code) >= IAM_TOKEN_MAX)
		return oauth_err(err, 400, "invalid_grant", "invalid code");
	crypto_sha256(code, strlen(code), c.hash);
	c.tenant = tenant;
	if (store_write(iam->store, code_take_job, &c, err) < 0)
		return -1;
	if (!c.found || bw_clock_now_s() >= c.expires ||
	    strcmp(c.client_id, client_id) != 0 || !redirect_uri ||
	    strcmp(c.redirect, redirect_uri) != 0)
		return oauth_err(err, 400, "invalid_grant", "invalid code");
	if (c.challenge[0]) {
		uint8_t h[32];
		char want[44];
		if (!code_verifier || !pkce_chars_ok(code_verifier, 43, 128))
			return oauth_err(err, 400, "invalid_grant",
					 "bad code_verifier");
		crypto_sha256(code_verifier, strlen(code_verifier), h);
		crypto_b64url_encode_to(h, 32, want);
		if (!bw_ct_equal(want, 43, c.challenge, strlen(c.challenge)))
			return oauth_err(err, 400, "invalid_grant",
					 "bad code_verifier");
	} else if (code_verifier && *code_verifier) {
		return oauth_err(err, 400, "invalid_grant",
				 "no code_challenge was sent");
	}
	struct bw_err uerr;
	if (iam_user_get(iam, tenant, c.user_id, &u, &uerr) < 0 || u.disabled)
		return oauth_err(err, 400, "invalid_grant",
				 "user no longer active");
	if (mint_access(iam, tenant, issuer, u.id, client_id, c.scope, t, err) <
	    0)
		return -1;
	if (has_word(c.scope, "openid", 6) &&
	    mint_id(iam, tenant, issuer, &u, client_id, c.nonce, &c.auth,
		    c.scope, t, err) < 0)
		return -1;
	if (has_word(cl.grants, "refresh_token", 13)) {
		char family[IAM_ID_LEN + 1];
		iam_new_id(family);
		if (mint_refresh(iam, tenant, client_id, u.id, family, c.scope,
				 &c.auth, t, err) < 0)
			return -1;
	}
	return 0;
}

/* -------------------------------------------------------------- refresh */

struct refresh_args {
	uint8_t hash[32];
	const char *tenant;
	bool found, reused, expired;
	char client_id[IAM_ID_LEN + 1];
	char user_id[IAM_ID_LEN + 1];
	char family[IAM_ID_LEN + 1];
	char scope[IAM_SCOPES_MAX + 1];
	bool used;
	int64_t expires;
	struct iam_oidc_auth auth; /* the family's sign-in */
	bool revoke_only; /* revocation: delete the family, nothing else */
	const char *want_client; /* refresh: the authenticated client */
	bool wrong_client;
};

static int refresh_row(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct refresh_args *a = arg;
	a->found = true;
	a->used = store_row_int64(row, 4) != 0;
	a->expires = store_row_int64(row, 5);
	a->auth.auth_time = store_row_int64(row, 6);
	a->auth.mfa = store_row_int64(row, 7) != 0;
	if (iam_row_text(row, 0, a->client_id, sizeof(a->client_id), err) < 0 ||
	    iam_row_text(row, 1, a->user_id, sizeof(a->user_id), err) < 0 ||
	    iam_row_text(row, 2, a->family, sizeof(a->family), err) < 0 ||
	    iam_row_text(row, 3, a->scope, sizeof(a->scope), err) < 0)
		return -1;
	return STORE_ROW_NEXT;
}

/* Looks the token up and, in the same transaction, marks it used — or,
 * when it was used already (or revocation is asked), deletes its family.
 * Returns 0 in both cases so the deletion commits. */
static int refresh_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct refresh_args *a = arg;
	struct store_value k[] = {store_blob(a->hash, 32),
				  store_text_str(a->tenant)};
	if (store_tx_query_one(
		tx,
		"SELECT client_id, user_id, family, scope, used, expires,"
		" auth_time, mfa FROM iam_oidc_refresh WHERE hash = ? AND tenant = ?",
		k, 2, refresh_row, a, err) < 0)
		return -1;
	if (!a->found)
		return 0;
	/* Another client's token: refuse without touching it, so presenting
	 * it under the wrong client neither spends nor kills it. */
	if (a->want_client && strcmp(a->client_id, a->want_client) != 0) {
		a->wrong_client = true;
		return 0;
	}
	if (a->used || a->revoke_only) {
		a->reused = a->used && !a->revoke_only;
		struct store_value f[] = {store_text_str(a->tenant),
					  store_text_str(a->family)};
		return store_tx_exec(
		    tx,
		    "DELETE FROM iam_oidc_refresh WHERE tenant = ?"
		    " AND family = ?",
		    f, 2, err);
	}
	if (bw_clock_now_s() >= a->expires) {
		a->expired = true;
		return 0;
	}
	return store_tx_exec(
	    tx,
	    "UPDATE iam_oidc_refresh SET used = 1 WHERE hash = ?"
	    " AND tenant = ?",
	    k, 2, err);
}

int iam_oidc_token_refresh(struct iam *iam, const char *tenant,
			   const char *issuer, const char *client_id,
			   const char *client_secret, const char *refresh_token,
			   struct iam_oidc_tokens *t, struct bw_err *err)
{
	struct client cl;
	struct refresh_args a;
	struct iam_user u;
	memset(t, 0, sizeof(*t));
	memset(&a, 0, sizeof(a));
	if (client_auth(iam, tenant, client_id, client_secret, "refresh_token",
			&cl, err) < 0)
		return -1;
	if (!refresh_token || strncmp(refresh_token, "bwr_", 4) != 0 ||
	    strlen(refresh_token) >= IAM_TOKEN_MAX)
		return oauth_err(err, 400, "invalid_grant",
				 "invalid refresh token");
	crypto_sha256(refresh_token, strlen(refresh_token), a.hash);
	a.tenant = tenant;
	a.want_client = client_id;
	if (store_write(iam->store, refresh_job, &a, err) < 0)
		return -1;
	if (a.reused) {
		log_warnx(
		    "iam: refresh token reuse in tenant %s, family revoked",
		    tenant);
		iam_emit_login(tenant, a.user_id, "", false, "oauth-refresh",
			       "reuse");
		return oauth_err(err, 400, "invalid_grant",
				 "refresh token reuse: family revoked");
	}
	if (!a.found || a.expired || strcmp(a.client_id, client_id) != 0)
		return oauth_err(err, 400, "invalid_grant",
				 "invalid refresh token");
	struct bw_err uerr;
	if (iam_user_get(iam, tenant, a.user_id, &u, &uerr) < 0 || u.disabled)
		return oauth_err(err, 400, "invalid_grant",
				 "user no longer active");
	if (mint_access(iam, tenant, issuer, u.id, client_id, a.scope, t, err) <
		0 ||
	    mint_refresh(iam, tenant, client_id, u.id, a.family, a.scope,
			 &a.auth, t, err) < 0)
		return -1;
	if (has_word(a.scope, "openid", 6) &&
	    mint_id(iam, tenant, issuer, &u, client_id, NULL, &a.auth, a.scope,
		    t, err) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------- client credentials */

int iam_oidc_token_client(struct iam *iam, const char *tenant,
			  const char *issuer, const char *client_id,
			  const char *client_secret, const char *scope,
			  struct iam_oidc_tokens *t, struct bw_err *err)
{
	struct client cl;
	memset(t, 0, sizeof(*t));
	if (client_auth(iam, tenant, client_id, client_secret,
			"client_credentials", &cl, err) < 0)
		return -1;
	if (!cl.confidential)
		return oauth_err(err, 401, "invalid_client",
				 "client authentication failed");
	if (!scope)
		scope = "";
	if (!scope_chars_ok(scope, IAM_SCOPES_MAX) ||
	    !words_subset(scope, cl.scopes) || has_word(scope, "openid", 6))
		return oauth_err(err, 400, "invalid_scope",
				 "scope not allowed for this client");
	if (iam_tenant_require(iam, tenant, NULL, err) < 0)
		return -1;
	return mint_access(iam, tenant, issuer, client_id, client_id, scope, t,
			   err);
}

/* --------------------------------------------- introspection, revocation */

static int verify_access(struct iam *iam, const char *tenant,
			 const char *issuer, const char *token,
			 struct bw_arena *a, struct jose_jwt *jwt,
			 struct bw_err *err)
{
	struct jose_jwks set;
	jose_jwks_init(&set);
	int rc = load_keys(iam, tenant, &set, NULL, err);
	if (rc == 0) {
		struct jose_verifier v = {.keys = &set, .algs = OIDC_ALGS};
		struct jose_jwt_rules r = {.issuer = issuer,
					   .audience = issuer,
					   .typ = "at+jwt",
					   .leeway_s = 30,
					   .require_exp = true};
		rc = jose_jwt_verify(&v, &r, token, strlen(token), a, jwt, err);
	}
	jose_jwks_fini(&set);
	if (rc < 0)
		return -1;
	/* Revoked before its expiry? */
	const char *jti = json_get_str(jwt->claims, "jti", "");
	struct store_value k[] = {store_text_str(tenant), store_text_str(jti)};
	int found =
	    store_query_one(iam->store,
			    "SELECT 1 FROM iam_oidc_revoked WHERE tenant = ?"
			    " AND jti = ?",
			    k, 2, NULL, NULL, err);
	if (found < 0)
		return -1;
	if (found)
		return oauth_err(err, 400, "revoked", "token revoked");
	return 0;
}

int iam_oidc_introspect(struct iam *iam, const char *tenant, const char *issuer,
			const char *token, struct bw_buf *out,
			struct bw_err *err)
{
	struct json_writer w;
	struct bw_err verr;
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	if (token && strncmp(token, "bwr_", 4) == 0 &&
	    strlen(token) < IAM_TOKEN_MAX) {
		struct refresh_args a;
		memset(&a, 0, sizeof(a));
		crypto_sha256(token, strlen(token), a.hash);
		struct store_value k[] = {store_blob(a.hash, 32),
					  store_text_str(tenant)};
		int rc =
		    store_query_one(iam->store,
				    "SELECT client_id, user_id, family, scope,"
				    " used, expires, auth_time, mfa FROM iam_oidc_refresh"
				    " WHERE hash = ? AND tenant = ?",
				    k, 2, refresh_row, &a, err);
		if (rc < 0)
			return -1;
		bool active =
		    rc == 1 && !a.used && bw_clock_now_s() < a.expires;
		json_write_kv_bool(&w, "active", active);
		if (active) {
			json_write_kv_string(&w, "token_type", "refresh_token");
			json_write_kv_string(&w, "client_id", a.client_id);
			json_write_kv_string(&w, "sub", a.user_id);
			json_write_kv_string(&w, "scope", a.scope);
			json_write_kv_int(&w, "exp", a.expires);
		}
	} else {
		struct bw_arena *a = bw_arena_new(8192, 1 << 20);
		struct jose_jwt jwt;
		if (!a)
			return bw_err_set(err, 500, "iam", "memory",
					  "out of memory");
		bool active = token && verify_access(iam, tenant, issuer, token,
						     a, &jwt, &verr) == 0;
		if (!active && token && verr.code >= 500) {
			bw_arena_free(a);
			if (err)
				*err = verr;
			return -1;
		}
		json_write_kv_bool(&w, "active", active);
		if (active) {
			json_write_kv_string(&w, "token_type", "access_token");
			static const char *const keys[] = {
			    "iss", "sub", "aud", "client_id", "scope", "jti"};
			for (size_t i = 0; i < BW_ARRAY_LEN(keys); i++) {
				const char *v =
				    json_get_str(jwt.claims, keys[i], NULL);
				if (v)
					json_write_kv_string(&w, keys[i], v);
			}
			json_write_kv_int(&w, "exp", jwt.exp);
			json_write_kv_int(&w, "iat", jwt.iat);
		}
		bw_arena_free(a);
	}
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		return bw_err_set(err, 413, "iam", "too_large",
				  "introspection too large");
	return 0;
}

int iam_oidc_revoke(struct iam *iam, const char *tenant, const char *issuer,
		    const char *token, struct bw_err *err)
{
	if (!token)
		return 0;
	if (strncmp(token, "bwr_", 4) == 0) {
		struct refresh_args a;
		memset(&a, 0, sizeof(a));
		if (strlen(token) >= IAM_TOKEN_MAX)
			return 0;
		crypto_sha256(token, strlen(token), a.hash);
		a.tenant = tenant;
		a.revoke_only = true;
		return store_write(iam->store, refresh_job, &a, err);
	}
	struct bw_arena *ar = bw_arena_new(8192, 1 << 20);
	struct jose_jwt jwt;
	struct bw_err verr;
	int rc = 0;
	if (!ar)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	if (verify_access(iam, tenant, issuer, token, ar, &jwt, &verr) == 0) {
		struct store_value v[] = {
		    store_text_str(tenant),
		    store_text_str(json_get_str(jwt.claims, "jti", "")),
		    store_int(jwt.exp)};
		rc = store_exec(
		    iam->store,
		    "INSERT INTO iam_oidc_revoked (tenant, jti, expires)"
		    " VALUES (?, ?, ?) ON CONFLICT (tenant, jti) DO NOTHING",
		    v, 3, NULL, err);
	} else if (verr.code >= 500) {
		if (err)
			*err = verr;
		rc = -1;
	}
	bw_arena_free(ar);
	return rc;
}

int iam_oidc_userinfo(struct iam *iam, const char *tenant, const char *issuer,
		      const char *token, struct bw_buf *out, struct bw_err *err)
{
	struct bw_arena *a = bw_arena_new(8192, 1 << 20);
	struct jose_jwt jwt;
	struct iam_user u;
	int rc = -1;
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	if (!token ||
	    verify_access(iam, tenant, issuer, token, a, &jwt, err) < 0) {
		if (!token || err->code < 500)
			oauth_err(err, 401, "invalid_token",
				  "invalid access token");
		goto out;
	}
	const char *scope = json_get_str(jwt.claims, "scope", "");
	const char *sub = json_get_str(jwt.claims, "sub", "");
	if (!has_word(scope, "openid", 6)) {
		oauth_err(err, 403, "insufficient_scope",
			  "the token lacks the openid scope");
		goto out;
	}
	struct bw_err uerr;
	if (iam_user_get(iam, tenant, sub, &u, &uerr) < 0 || u.disabled) {
		oauth_err(err, 401, "invalid_token", "invalid access token");
		goto out;
	}
	struct json_writer w;
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "sub", u.id);
	if (has_word(scope, "profile", 7)) {
		json_write_kv_string(&w, "name", u.display_name);
		json_write_kv_string(&w, "preferred_username", u.name);
	}
	if (has_word(scope, "email", 5) && u.email[0])
		json_write_kv_string(&w, "email", u.email);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		bw_err_set(err, 413, "iam", "too_large", "userinfo too large");
		goto out;
	}
	rc = 0;
out:
	bw_arena_free(a);
	return rc;
}

/* --------------------------------------------------- RP-initiated logout */

/* True when uri is one of the space-separated words of list, exactly. */
static bool uri_listed(const char *list, const char *uri)
{
	size_t n = strlen(uri);
	for (const char *p = list; *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - p) == n && n && memcmp(p, uri, n) == 0)
			return true;
		p = e;
	}
	return false;
}

int iam_oidc_logout_check(struct iam *iam, const char *tenant,
			  const char *issuer, const char *id_token_hint,
			  const char *client_id, const char *post_logout_uri,
			  char sub[IAM_ID_LEN + 1], char client[IAM_ID_LEN + 1],
			  struct bw_err *err)
{
	struct jose_jwks set;
	struct jose_jws jws;
	struct bw_arena *a = bw_arena_new(8192, 1 << 20);
	int rc = -1;
	jose_jwks_init(&set);
	sub[0] = client[0] = 0;
	if (!a)
		return bw_err_set(err, 500, "iam", "memory", "out of memory");
	if (!id_token_hint || !*id_token_hint) {
		oauth_err(err, 400, "invalid_request", "id_token_hint is required");
		goto out;
	}
	/* RP-Initiated Logout 1.0 section 2: an expired ID token is still a
	 * good hint, so the signature and issuer are checked, not the time. */
	struct jose_verifier v = {.keys = &set, .algs = OIDC_ALGS};
	if (load_keys(iam, tenant, &set, NULL, err) < 0)
		goto out;
	if (jose_jws_verify(&v, id_token_hint, strlen(id_token_hint), a, &jws,
			    err) < 0) {
		oauth_err(err, 400, "invalid_request", "id_token_hint is not valid");
		goto out;
	}
	struct bw_err perr;
	const struct json_value *c =
	    json_parse(a, (const char *)jws.payload, jws.payload_len, NULL, &perr);
	const char *iss = c ? json_get_str(c, "iss", "") : "";
	const char *s = c ? json_get_str(c, "sub", "") : "";
	const struct json_value *aud = c ? json_get(c, "aud") : NULL;
	const char *aud1 = aud && aud->type == JSON_STRING ? aud->u.str.p : NULL;
	if (!c || c->type != JSON_OBJECT || strcmp(iss, issuer) != 0 || !aud1 ||
	    strlen(s) != IAM_ID_LEN || strlen(aud1) > IAM_ID_LEN ||
	    (client_id && strcmp(client_id, aud1) != 0)) {
		oauth_err(err, 400, "invalid_request",
			  "id_token_hint was not issued here for this client");
		goto out;
	}
	struct client cl;
	memset(&cl, 0, sizeof(cl));
	struct store_value k[] = {store_text_str(tenant), store_text_str(aud1)};
	int found = store_query_one(iam->store,
				    "SELECT secret_hash, redirect_uris, grant_types,"
				    " scopes FROM iam_oidc_client WHERE tenant = ?"
				    " AND client_id = ?",
				    k, 2, client_row, &cl, err);
	if (found < 0)
		goto out;
	if (found == 0) {
		oauth_err(err, 400, "invalid_request", "unknown client");
		goto out;
	}
	/* The post-logout redirect must be one of the client's registered
	 * redirect URIs (exact match): never an open redirect. */
	if (post_logout_uri && *post_logout_uri &&
	    !uri_listed(cl.uris, post_logout_uri)) {
		oauth_err(err, 400, "invalid_request",
			  "post_logout_redirect_uri is not registered");
		goto out;
	}
	memcpy(sub, s, IAM_ID_LEN + 1);
	bw_snprintf(client, IAM_ID_LEN + 1, "%s", aud1);
	rc = 0;
out:
	jose_jwks_fini(&set);
	bw_arena_free(a);
	return rc;
}
