/*
 * The OIDC / OAuth 2 endpoints over HTTP: routing of BASE/oidc/{tenant}/…,
 * form and Basic-credential parsing, the token endpoint's grants, and the
 * net glue that runs each request on the thread pool.
 *
 * Invariants: every response carries Cache-Control: no-store (RFC 6749
 * section 5.1); errors are the RFC 6749 JSON {"error","error_description"}
 * with 401 + WWW-Authenticate for client authentication failures; the
 * authorization endpoint never redirects on error (no open redirect) and
 * redirects only to a URI the client registered; a client may
 * authenticate by one method only (Basic or form, not both).
 *
 * The authorization endpoint authenticates the user with a bearer session
 * token (Authorization: Bearer bws_…, programmatic clients) or with the
 * login pages' session cookie (browsers, iam_pages.c): a browser without a
 * session is sent to /auth/{tenant}/login and one that has not allowed
 * the client these scopes to /auth/{tenant}/consent, each with the
 * authorization request as "next".
 */
#include "iam/iam_pages_int.h"
#include "http/http.h"
#include "json/json.h"
#include "loop/loop.h"
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

struct iam_oidc_http {
	struct iam *iam;
	struct tpool *pool;
	char base[256];
};

struct iam_oidc_http *iam_oidc_http_new(struct iam *iam, struct tpool *pool,
					const char *base, struct bw_err *err)
{
	size_t n = base ? strlen(base) : 0;
	if ((n && base[n - 1] == '/') || n >= 256 ||
	    (n &&
	     strncmp(base, "https://", 8) != 0 &&
	     strncmp(base, "http://", 7) != 0)) {
		bw_err_set(
		    err, 400, "iam", "bad_option",
		    "the OIDC base is an origin like https://idp.example");
		return NULL;
	}
	struct iam_oidc_http *h = calloc(1, sizeof(*h));
	if (!h) {
		bw_err_set(err, 500, "iam", "memory", "out of memory");
		return NULL;
	}
	h->iam = iam;
	h->pool = pool;
	if (n)
		memcpy(h->base, base, n + 1);
	return h;
}

int iam_http_origin(const char *base, struct bw_str host, bool tls, char *out,
		    size_t cap)
{
	if (base && base[0])
		return bw_snprintf(out, cap, "%s", base);
	/* A plain host[:port] (DNS name or IP literal) and nothing else, so
	 * a forged Host cannot smuggle a path or a second URL in. */
	if (host.len == 0 || host.len > 255)
		return -1;
	for (size_t i = 0; i < host.len; i++) {
		char c = host.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':' || c == '[' || c == ']'))
			return -1;
	}
	return bw_snprintf(out, cap, "%s://%.*s", tls ? "https" : "http",
			   (int)host.len, host.p);
}

void iam_oidc_http_free(struct iam_oidc_http *h)
{
	free(h);
}

/* -------------------------------------------------------------- answers */

static void json_error(struct iam_http_resp *rs, int status, const char *error,
		       const char *desc)
{
	struct json_writer w;
	bw_buf_reset(&rs->body);
	json_writer_init(&w, &rs->body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "error", error);
	json_write_kv_string(&w, "error_description", desc);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		bw_buf_reset(&rs->body); /* cannot happen with these sizes */
	rs->status = status;
	rs->content_type = "application/json";
	if (status == 401)
		bw_snprintf(rs->www_auth, sizeof(rs->www_auth),
			    "Basic realm=\"oidc\"");
}

static void from_err(struct iam_http_resp *rs, const struct bw_err *err)
{
	if (err->code >= 500) {
		log_warnx("iam oidc: %s (%s)", err->msg, err->reason);
		json_error(rs, 503, "temporarily_unavailable",
			   "try again later");
		return;
	}
	json_error(rs, err->code, err->reason, err->msg);
}

static void tokens_out(struct iam_http_resp *rs,
		       const struct iam_oidc_tokens *t)
{
	struct json_writer w;
	json_writer_init(&w, &rs->body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "access_token", t->access_token);
	json_write_kv_string(&w, "token_type", "Bearer");
	json_write_kv_int(&w, "expires_in", t->expires_in);
	json_write_kv_string(&w, "scope", t->scope);
	if (t->id_token[0])
		json_write_kv_string(&w, "id_token", t->id_token);
	if (t->refresh_token[0])
		json_write_kv_string(&w, "refresh_token", t->refresh_token);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		json_error(rs, 500, "server_error", "response too large");
		return;
	}
	rs->status = 200;
	rs->content_type = "application/json";
}

/* ----------------------------------------------------------- endpoints */

struct client_creds {
	char id[IAM_ID_LEN + 1];
	char secret[IAM_TOKEN_MAX];
	bool has_secret;
};

/* Client authentication: Basic, or client_id (+ client_secret) in the
 * form, never both. Returns false with rs answered. */
static bool client_creds(const struct iam_http_req *rq,
			 const struct iam_form *f, struct client_creds *c,
			 struct iam_http_resp *rs)
{
	memset(c, 0, sizeof(*c));
	const char *fid = iam_form_get(f, "client_id");
	const char *fsec = iam_form_get(f, "client_secret");
	if (rq->authorization.len) {
		if (fsec ||
		    iam_basic_parse(rq->authorization.p, rq->authorization.len,
				    c->id, sizeof(c->id), c->secret,
				    sizeof(c->secret)) < 0 ||
		    (fid && strcmp(fid, c->id) != 0)) {
			json_error(rs, 401, "invalid_client",
				   "client authentication failed");
			return false;
		}
		c->has_secret = true;
		return true;
	}
	if (!fid || strlen(fid) > IAM_ID_LEN ||
	    (fsec && strlen(fsec) >= sizeof(c->secret))) {
		json_error(rs, 401, "invalid_client",
			   "client authentication failed");
		return false;
	}
	memcpy(c->id, fid, strlen(fid) + 1);
	if (fsec) {
		memcpy(c->secret, fsec, strlen(fsec) + 1);
		c->has_secret = true;
	}
	return true;
}

static bool form_body(const struct iam_http_req *rq, struct iam_form *f,
		      struct iam_http_resp *rs)
{
	struct bw_err err;
	if (rq->method != HTTP_METHOD_POST) {
		json_error(rs, 405, "invalid_request", "use POST");
		return false;
	}
	if (!bw_str_caseeq_lit(
		bw_str_make(rq->content_type.p, rq->content_type.len > 33
						    ? 33
						    : rq->content_type.len),
		"application/x-www-form-urlencoded")) {
		json_error(
		    rs, 400, "invalid_request",
		    "the body must be application/x-www-form-urlencoded");
		return false;
	}
	if (iam_form_parse(f, rq->body.p, rq->body.len, &err) < 0) {
		json_error(rs, err.code, "invalid_request", err.msg);
		return false;
	}
	return true;
}

static void ep_token(struct iam_oidc_http *h, const char *tenant,
		     const char *issuer, const struct iam_http_req *rq,
		     struct iam_http_resp *rs)
{
	struct iam_form *f = malloc(sizeof(*f));
	struct iam_oidc_tokens *t = malloc(sizeof(*t));
	struct client_creds c;
	struct bw_err err;
	if (!f || !t) {
		json_error(rs, 503, "temporarily_unavailable", "out of memory");
		goto out;
	}
	if (!form_body(rq, f, rs) || !client_creds(rq, f, &c, rs))
		goto out;
	const char *grant = iam_form_get(f, "grant_type");
	const char *secret = c.has_secret ? c.secret : NULL;
	int rc;
	if (!grant) {
		json_error(rs, 400, "invalid_request",
			   "grant_type is required");
		goto out;
	} else if (strcmp(grant, "authorization_code") == 0) {
		rc = iam_oidc_token_code(
		    h->iam, tenant, issuer, c.id, secret,
		    iam_form_get(f, "code"), iam_form_get(f, "code_verifier"),
		    iam_form_get(f, "redirect_uri"), t, &err);
	} else if (strcmp(grant, "refresh_token") == 0) {
		rc = iam_oidc_token_refresh(
		    h->iam, tenant, issuer, c.id, secret,
		    iam_form_get(f, "refresh_token"), t, &err);
	} else if (strcmp(grant, "client_credentials") == 0) {
		rc = iam_oidc_token_client(h->iam, tenant, issuer, c.id, secret,
					   iam_form_get(f, "scope"), t, &err);
	} else {
		json_error(rs, 400, "unsupported_grant_type",
			   "unsupported grant_type");
		goto out;
	}
	if (rc < 0)
		from_err(rs, &err);
	else
		tokens_out(rs, t);
out:
	if (t) {
		bw_wipe(t, sizeof(*t));
		free(t);
	}
	if (f) {
		bw_wipe(f, sizeof(*f));
		free(f);
	}
	bw_wipe(&c, sizeof(c));
}

/* Introspection and revocation need an authenticated confidential client
 * of the tenant (RFC 7662 section 2.1). */
static bool resource_client(struct iam_oidc_http *h, const char *tenant,
			    const struct iam_http_req *rq,
			    const struct iam_form *f, struct iam_http_resp *rs)
{
	struct client_creds c;
	struct bw_err err;
	if (!client_creds(rq, f, &c, rs))
		return false;
	bool ok = c.has_secret && iam_oidc_client_check(h->iam, tenant, c.id,
							c.secret, &err) == 0;
	if (!ok) {
		if (c.has_secret && err.code >= 500)
			from_err(rs, &err);
		else
			json_error(rs, 401, "invalid_client",
				   "client authentication failed");
	}
	bw_wipe(&c, sizeof(c));
	return ok;
}

static void ep_introspect(struct iam_oidc_http *h, const char *tenant,
			  const char *issuer, const struct iam_http_req *rq,
			  struct iam_http_resp *rs)
{
	struct iam_form *f = malloc(sizeof(*f));
	struct bw_err err;
	if (!f) {
		json_error(rs, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	if (form_body(rq, f, rs) && resource_client(h, tenant, rq, f, rs)) {
		const char *tok = iam_form_get(f, "token");
		if (!tok) {
			json_error(rs, 400, "invalid_request",
				   "token is required");
		} else if (iam_oidc_introspect(h->iam, tenant, issuer, tok,
					       &rs->body, &err) < 0) {
			from_err(rs, &err);
		} else {
			rs->status = 200;
			rs->content_type = "application/json";
		}
	}
	bw_wipe(f, sizeof(*f));
	free(f);
}

static void ep_revoke(struct iam_oidc_http *h, const char *tenant,
		      const char *issuer, const struct iam_http_req *rq,
		      struct iam_http_resp *rs)
{
	struct iam_form *f = malloc(sizeof(*f));
	struct bw_err err;
	if (!f) {
		json_error(rs, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	if (form_body(rq, f, rs) && resource_client(h, tenant, rq, f, rs)) {
		const char *tok = iam_form_get(f, "token");
		if (!tok) {
			json_error(rs, 400, "invalid_request",
				   "token is required");
		} else if (iam_oidc_revoke(h->iam, tenant, issuer, tok, &err) <
			   0) {
			from_err(rs, &err);
		} else {
			rs->status =
			    200; /* RFC 7009: also for unknown tokens */
			rs->content_type = "application/json";
			if (bw_buf_append_str(&rs->body, "{}") < 0)
				rs->status = 500;
		}
	}
	bw_wipe(f, sizeof(*f));
	free(f);
}

static bool bearer(const struct iam_http_req *rq, char *out, size_t cap)
{
	struct bw_str a = rq->authorization;
	if (a.len < 8 || !bw_str_caseeq_lit(bw_str_make(a.p, 7), "bearer ") ||
	    a.len - 7 >= cap)
		return false;
	memcpy(out, a.p + 7, a.len - 7);
	out[a.len - 7] = 0;
	return true;
}

/* iam_int.h */
int iam_url_add_param(char *loc, size_t cap, const char *key,
		      const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(loc);
	if (bw_snprintf(loc + o, cap - o, "%c%s=", strchr(loc, '?') ? '&' : '?',
			key) < 0)
		return -1;
	o = strlen(loc);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') ||
			     (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' ||
			     *p == '.' || *p == '_' || *p == '~';
		if (o + 4 >= cap)
			return -1;
		if (plain) {
			loc[o++] = (char)*p;
		} else {
			loc[o++] = '%';
			loc[o++] = hex[*p >> 4];
			loc[o++] = hex[*p & 15];
		}
	}
	loc[o] = 0;
	return 0;
}

/* 302 to a login page with this authorization request as "next". */
static void page_redirect(struct iam_http_resp *rs, const char *tenant,
			  const char *page, const struct iam_http_req *rq)
{
	char next[IAM_PAGES_NEXT_MAX + 1];
	if (bw_snprintf(next, sizeof(next), "%.*s?%.*s", (int)rq->path.len,
			rq->path.p, (int)rq->query.len, rq->query.p) < 0 ||
	    bw_snprintf(rs->location, sizeof(rs->location), "/auth/%s/%s",
			tenant, page) < 0 ||
	    iam_url_add_param(rs->location, sizeof(rs->location), "next", next) < 0) {
		rs->location[0] = 0;
		json_error(rs, 400, "invalid_request", "request too long");
		return;
	}
	rs->status = 302;
	rs->content_type = "text/plain";
}

/* OIDC Core 3.1.2.1: prompt=login asks for a fresh sign-in, max_age for
 * one at most that old (0 means the same as prompt=login). A session
 * counts from its last authentication (the step-up mark set when it was
 * made or stepped up); "fresh" is IAM_OIDC_PROMPT_LOGIN_S. */
static bool recent_enough(struct iam_oidc_http *h, const struct iam_form *f,
			  const char *tok)
{
	const char *prompt = iam_form_get(f, "prompt");
	const char *ma = iam_form_get(f, "max_age");
	int64_t need = -1;
	uint64_t v;
	struct bw_err err;
	if (prompt && strstr(prompt, "login"))
		need = IAM_OIDC_PROMPT_LOGIN_S;
	if (ma && bw_str_to_u64(bw_str_make(ma, strlen(ma)), &v) == 0) {
		int64_t m = v == 0 ? IAM_OIDC_PROMPT_LOGIN_S
				   : (v > 86400 * 366 ? 86400 * 366 : (int64_t)v);
		if (need < 0 || m < need)
			need = m;
	}
	return need < 0 ||
	       iam_stepup_fresh(h->iam, tok, strlen(tok), need, &err) == 1;
}

/* prompt=none (OIDC Core 3.1.2.6): no page may be shown, so the answer
 * goes back to the client as an error, but only to a redirect URI it
 * registered; otherwise a JSON error (never an open redirect). */
static void silent_error(struct iam_oidc_http *h, const char *tenant,
			 const struct iam_form *f, struct iam_http_resp *rs,
			 const char *error)
{
	char name[IAM_NAME_MAX + 1];
	struct bw_err err;
	const char *redirect = iam_form_get(f, "redirect_uri");
	const char *state = iam_form_get(f, "state");
	int ok = iam_oidc_client_redirect(h->iam, tenant,
					  iam_form_get(f, "client_id"),
					  redirect, name, sizeof(name), &err);
	if (ok < 0) {
		from_err(rs, &err);
		return;
	}
	if (ok == 0 ||
	    bw_snprintf(rs->location, sizeof(rs->location), "%s", redirect) <
		0 ||
	    iam_url_add_param(rs->location, sizeof(rs->location), "error",
			      error) < 0 ||
	    (state && iam_url_add_param(rs->location, sizeof(rs->location),
					"state", state) < 0)) {
		rs->location[0] = 0;
		json_error(rs, 400, "invalid_request",
			   "unknown client or redirect_uri");
		return;
	}
	rs->status = 302;
	rs->content_type = "text/plain";
}

static void ep_authorize(struct iam_oidc_http *h, const char *tenant,
			 const struct iam_http_req *rq,
			 struct iam_http_resp *rs)
{
	struct iam_form *f = malloc(sizeof(*f));
	struct iam_principal p;
	struct bw_err err;
	char tok[IAM_TOKEN_MAX], code[IAM_TOKEN_MAX];
	if (!f) {
		json_error(rs, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	if (rq->method != HTTP_METHOD_GET) {
		json_error(rs, 405, "invalid_request", "use GET");
		goto out;
	}
	if (iam_form_parse(f, rq->query.p, rq->query.len, &err) < 0) {
		json_error(rs, 400, "invalid_request", err.msg);
		goto out;
	}
	const char *rt = iam_form_get(f, "response_type");
	if (!rt || strcmp(rt, "code") != 0) {
		json_error(rs, 400, "unsupported_response_type",
			   "response_type must be code");
		goto out;
	}
	const char *state = iam_form_get(f, "state");
	if (state && strlen(state) > 512) {
		json_error(rs, 400, "invalid_request", "state too long");
		goto out;
	}
	/* A bearer session (programmatic clients) or the login pages'
	 * session cookie (browsers). */
	bool by_cookie = !rq->authorization.len;
	bool have = by_cookie ? iam_pages_cookie_session(rq->cookie, tenant, tok)
			      : bearer(rq, tok, sizeof(tok));
	const char *prompt = iam_form_get(f, "prompt");
	bool silent = by_cookie && prompt && strcmp(prompt, "none") == 0;
	if (!have ||
	    iam_authenticate_bearer(h->iam, tok, strlen(tok), &p) != 0 ||
	    p.kind != IAM_PRINCIPAL_SESSION || strcmp(p.tenant, tenant) != 0) {
		if (silent) {
			silent_error(h, tenant, f, rs, "login_required");
			goto out;
		}
		if (by_cookie && rq->method == HTTP_METHOD_GET) {
			/* Browsers sign in on the pages and come back. */
			page_redirect(rs, tenant, "login", rq);
			goto out;
		}
		json_error(rs, 401, "login_required",
			   "log in to this tenant first");
		rs->www_auth[0] = 0;
		goto out;
	}
	const char *redirect = iam_form_get(f, "redirect_uri");
	if (silent && !recent_enough(h, f, tok)) {
		silent_error(h, tenant, f, rs, "login_required");
		goto out;
	}
	if (by_cookie && !recent_enough(h, f, tok)) {
		/* prompt=login / max_age: sign in again on the pages. */
		page_redirect(rs, tenant, "login", rq);
		goto out;
	}
	if (by_cookie) {
		/* The user must have allowed this client these scopes. */
		int cr = iam_consent_has(h->iam, tenant, p.user_id,
					 iam_form_get(f, "client_id")
					     ? iam_form_get(f, "client_id")
					     : "",
					 iam_form_get(f, "scope"), &err);
		if (cr < 0) {
			from_err(rs, &err);
			goto out;
		}
		if (cr == 0 && silent) {
			silent_error(h, tenant, f, rs, "consent_required");
			goto out;
		}
		if (cr == 0) {
			page_redirect(rs, tenant, "consent", rq);
			goto out;
		}
	}
	/* The ID token tells when and how the session authenticated. */
	struct iam_oidc_auth au;
	if (p.kind != IAM_PRINCIPAL_SESSION ||
	    iam_session_auth(h->iam, tenant, p.credential_id, &au, &err) < 0)
		au = (struct iam_oidc_auth){0, false};
	if (iam_oidc_authorize_as(h->iam, tenant, p.user_id,
				  iam_form_get(f, "client_id"), redirect,
				  iam_form_get(f, "scope"),
				  iam_form_get(f, "code_challenge"),
				  iam_form_get(f, "code_challenge_method"),
				  iam_form_get(f, "nonce"), &au, code,
				  &err) < 0) {
		from_err(rs, &err);
		goto out;
	}
	if (bw_snprintf(rs->location, sizeof(rs->location), "%s", redirect) <
		0 ||
	    iam_url_add_param(rs->location, sizeof(rs->location), "code", code) < 0 ||
	    (state && iam_url_add_param(rs->location, sizeof(rs->location), "state",
				state) < 0)) {
		rs->location[0] = 0;
		json_error(rs, 400, "invalid_request", "redirect too long");
		goto out;
	}
	rs->status = 302;
	rs->content_type = "text/plain";
out:
	bw_wipe(tok, sizeof(tok));
	bw_wipe(code, sizeof(code));
	bw_wipe(f, sizeof(*f));
	free(f);
}

/*
 * RP-initiated logout: GET (query) or POST (form) with id_token_hint,
 * optional client_id, post_logout_redirect_uri and state. The browser's
 * session (the pages' cookie) ends when it belongs to the hint's user, so
 * a third-party page cannot sign a user out without that user's ID token;
 * then the user goes back to the registered post-logout URI (with state),
 * or gets a JSON answer. Errors never redirect.
 */
static void ep_logout(struct iam_oidc_http *h, const char *tenant,
		      const char *issuer, const struct iam_http_req *rq,
		      struct iam_http_resp *rs)
{
	struct iam_form *f = malloc(sizeof(*f));
	struct bw_err err;
	char sub[IAM_ID_LEN + 1], client[IAM_ID_LEN + 1], tok[IAM_TOKEN_MAX];
	bool post = rq->method == HTTP_METHOD_POST;
	if (!f) {
		json_error(rs, 503, "temporarily_unavailable", "out of memory");
		return;
	}
	struct bw_str src = post ? rq->body : rq->query;
	if (iam_form_parse(f, src.p, src.len, &err) < 0) {
		json_error(rs, 400, "invalid_request", err.msg);
		goto out;
	}
	const char *redirect = iam_form_get(f, "post_logout_redirect_uri");
	const char *state = iam_form_get(f, "state");
	if (iam_oidc_logout_check(h->iam, tenant, issuer,
				  iam_form_get(f, "id_token_hint"),
				  iam_form_get(f, "client_id"), redirect, sub,
				  client, &err) < 0) {
		from_err(rs, &err);
		goto out;
	}
	struct iam_principal p;
	bool ended = false;
	if (iam_pages_cookie_session(rq->cookie, tenant, tok) &&
	    iam_authenticate_bearer(h->iam, tok, strlen(tok), &p) == 0 &&
	    strcmp(p.tenant, tenant) == 0 && strcmp(p.user_id, sub) == 0) {
		if (iam_logout(h->iam, tok, strlen(tok), &err) < 0) {
			from_err(rs, &err);
			goto out;
		}
		ended = true;
		bw_snprintf(rs->set_cookie, sizeof(rs->set_cookie),
			    "__Host-bw-s-%s=x; Path=/; Secure; HttpOnly; "
			    "SameSite=Lax; Max-Age=0",
			    tenant);
	}
	if (redirect && *redirect) {
		if (bw_snprintf(rs->location, sizeof(rs->location), "%s",
				redirect) < 0 ||
		    (state && iam_url_add_param(rs->location,
						sizeof(rs->location), "state",
						state) < 0)) {
			rs->location[0] = 0;
			json_error(rs, 400, "invalid_request",
				   "post_logout_redirect_uri too long");
			goto out;
		}
		rs->status = 302;
		rs->content_type = "text/plain";
		goto out;
	}
	rs->status = 200;
	rs->content_type = "application/json";
	if (bw_buf_append_str(&rs->body, ended ? "{\"signed_out\":true}"
					       : "{\"signed_out\":false}") < 0)
		rs->status = 500;
out:
	bw_wipe(tok, sizeof(tok));
	free(f);
}

static void ep_userinfo(struct iam_oidc_http *h, const char *tenant,
			const char *issuer, const struct iam_http_req *rq,
			struct iam_http_resp *rs)
{
	char tok[IAM_OIDC_TOKEN_MAX];
	struct bw_err err;
	if (!bearer(rq, tok, sizeof(tok))) {
		json_error(rs, 401, "invalid_token",
			   "a bearer access token is required");
		bw_snprintf(rs->www_auth, sizeof(rs->www_auth),
			    "Bearer error=\"invalid_token\"");
		return;
	}
	if (iam_oidc_userinfo(h->iam, tenant, issuer, tok, &rs->body, &err) <
	    0) {
		from_err(rs, &err);
		if (err.code == 401)
			bw_snprintf(rs->www_auth, sizeof(rs->www_auth),
				    "Bearer error=\"invalid_token\"");
		return;
	}
	rs->status = 200;
	rs->content_type = "application/json";
}

void iam_oidc_http_dispatch(struct iam_oidc_http *h,
			    const struct iam_http_req *rq,
			    struct iam_http_resp *rs)
{
	char tenant[IAM_TENANT_MAX + 1], issuer[512];
	struct bw_err err;
	rs->status = 500;
	rs->content_type = "application/json";
	rs->location[0] = rs->www_auth[0] = 0;
	static const char prefix[] = "/oidc/";
	size_t pl = sizeof(prefix) - 1;
	struct bw_str path = rq->path;
	if (path.len <= pl || memcmp(path.p, prefix, pl) != 0) {
		json_error(rs, 404, "not_found", "no such endpoint");
		return;
	}
	const char *t = path.p + pl;
	const char *slash = memchr(t, '/', path.len - pl);
	size_t tl = slash ? (size_t)(slash - t) : 0;
	if (!slash || tl == 0 || tl > IAM_TENANT_MAX) {
		json_error(rs, 404, "not_found", "no such endpoint");
		return;
	}
	memcpy(tenant, t, tl);
	tenant[tl] = 0;
	struct bw_str ep = bw_str_make(slash + 1, path.len - pl - tl - 1);
	if (!iam_valid_tenant_name(tenant) ||
	    iam_tenant_require(h->iam, tenant, NULL, &err) < 0) {
		json_error(rs, 404, "not_found", "no such endpoint");
		return;
	}
	char origin[300];
	if (iam_http_origin(h->base, rq->host, rq->tls, origin,
			    sizeof(origin)) < 0) {
		json_error(rs, 400, "invalid_request", "bad Host header");
		return;
	}
	if (bw_snprintf(issuer, sizeof(issuer), "%s/oidc/%s", origin, tenant) <
	    0) {
		json_error(rs, 500, "server_error", "issuer too long");
		return;
	}
	bool get =
	    rq->method == HTTP_METHOD_GET || rq->method == HTTP_METHOD_HEAD;
	if (bw_str_eq_lit(ep, ".well-known/openid-configuration") && get) {
		if (iam_oidc_discovery(issuer, &rs->body, &err) < 0) {
			from_err(rs, &err);
			return;
		}
		rs->status = 200;
	} else if (bw_str_eq_lit(ep, "jwks") && get) {
		if (iam_oidc_jwks(h->iam, tenant, &rs->body, &err) < 0) {
			from_err(rs, &err);
			return;
		}
		rs->status = 200;
		rs->content_type = "application/jwk-set+json";
	} else if (bw_str_eq_lit(ep, "token")) {
		ep_token(h, tenant, issuer, rq, rs);
	} else if (bw_str_eq_lit(ep, "introspect")) {
		ep_introspect(h, tenant, issuer, rq, rs);
	} else if (bw_str_eq_lit(ep, "revoke")) {
		ep_revoke(h, tenant, issuer, rq, rs);
	} else if (bw_str_eq_lit(ep, "authorize")) {
		ep_authorize(h, tenant, rq, rs);
	} else if (bw_str_eq_lit(ep, "userinfo")) {
		ep_userinfo(h, tenant, issuer, rq, rs);
	} else if (bw_str_eq_lit(ep, "logout")) {
		ep_logout(h, tenant, issuer, rq, rs);
	} else {
		json_error(rs, 404, "not_found", "no such endpoint");
	}
}

/* ------------------------------------------------------------ net glue */

struct net_job {
	struct iam_oidc_http *h;
	struct net_exchange *x;
	struct iam_http_req rq;
	struct iam_http_resp rs;
};

static void net_work(void *arg)
{
	struct net_job *j = arg;
	iam_oidc_http_dispatch(j->h, &j->rq, &j->rs);
}

static void net_done(void *arg)
{
	struct net_job *j = arg;
	struct iam_http_resp *rs = &j->rs;
	net_add_header(j->x, "Cache-Control", "no-store");
	net_add_header(j->x, "Pragma", "no-cache");
	net_add_header(j->x, "X-Content-Type-Options", "nosniff");
	if (rs->location[0])
		net_add_header(j->x, "Location", rs->location);
	if (rs->www_auth[0])
		net_add_header(j->x, "WWW-Authenticate", rs->www_auth);
	if (rs->set_cookie[0])
		net_add_header(j->x, "Set-Cookie", rs->set_cookie);
	net_respond(j->x, rs->status, rs->content_type,
		    rs->body.data ? rs->body.data : "", rs->body.len);
	bw_buf_wipe_fini(&rs->body);
	free(j);
}

static struct bw_str header(const struct http_request *r, const char *name)
{
	const struct http_header *hd =
	    http_header_find(r->headers, r->nheaders, name);
	return hd ? hd->value : bw_str_make("", 0);
}

void iam_oidc_net_handler(struct net_exchange *x, void *arg)
{
	struct iam_oidc_http *h = arg;
	const struct http_request *r = net_request(x);
	struct net_job *j = calloc(1, sizeof(*j));
	if (!j) {
		net_respond(x, 503, "application/json",
			    "{\"error\":\"temporarily_unavailable\"}", 35);
		return;
	}
	j->h = h;
	j->x = x;
	/* The request stays valid until net_respond, which runs in net_done
	 * after the work: the pool thread may read it meanwhile. */
	j->rq =
	    (struct iam_http_req){.method = (int)r->method,
				  .path = r->path,
				  .query = r->query,
				  .body = net_request_body(x),
				  .authorization = header(r, "authorization"),
				  .content_type = header(r, "content-type"),
				  .cookie = header(r, "cookie"),
				  .host = r->host,
				  .tls = net_is_tls(x),
				  .peer_ip = net_peer_ip(x)};
	bw_buf_init(&j->rs.body, 1 << 20);
	if (!h->pool) {
		net_work(j);
		net_done(j);
		return;
	}
	if (tpool_submit(h->pool, net_work, net_done, j, net_loop(x)) < 0) {
		bw_buf_fini(&j->rs.body);
		free(j);
		net_add_header(x, "Retry-After", "1");
		net_respond(x, 503, "application/json",
			    "{\"error\":\"temporarily_unavailable\"}", 35);
	}
}
