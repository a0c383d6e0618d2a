/*
 * The login pages under /auth/{tenant}/: sign-in, second factor (TOTP or
 * recovery code, security key, e-mail or SMS code), forced password
 * change, OIDC consent, the account page (security keys, step-up, sign
 * out), their cookies and CSRF checks, and the net glue that runs each
 * request on the thread pool. The OIDC authorization endpoint sends
 * browsers here when they have no session, and back when they do.
 *
 * Cookies (all __Host-, so Secure, Path=/ and no Domain; all HttpOnly):
 *   bw-s-{tenant}   the session token, SameSite=Lax so the top-level GET
 *                   from a client to /oidc/{tenant}/authorize carries it;
 *   bw-mfa-{tenant} the MFA challenge between the two steps, Strict, 5 min;
 *   bw-pw-{tenant}  the forced-change challenge, Strict, 5 min;
 *   bw-enrol-{tenant} the forced-enrolment challenge, Strict, 5 min;
 *   bw-csrf         the CSRF token, Strict.
 *
 * Invariants: every POST is refused (403) unless its "csrf" field equals
 * the bw-csrf cookie (constant time; the __Host- prefix means no other
 * origin or subdomain can have set it) and, when the browser sends Origin
 * or Sec-Fetch-Site, they name this origin; a failed sign-in renders the
 * same page with the same message for every cause (iam_login runs one
 * Argon2id verification in every case); "next" is only ever a local path
 * under /auth/{tenant}/ or /oidc/{tenant}/authorize, so the pages cannot
 * be used as an open redirect; no secret is ever put in a page or a URL
 * (challenges live in cookies) except the new TOTP secret of a forced
 * enrolment, shown once to its owner on a no-store page; every state
 * change is audited.
 */
#include "iam/iam_pages_int.h"
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "json/json.h"
#include "loop/loop.h"
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

#define PAGES_ORIGINS_MAX IAM_PAGES_ORIGINS_MAX

struct iam_pages {
	struct iam *iam;
	struct tpool *pool, *hash_pool;
	struct audit_log *audit;
	char rp_id[256];
	char origins[PAGES_ORIGINS_MAX][256];
	const char *origin_ptrs[PAGES_ORIGINS_MAX];
	size_t norigins;
	char smtp_url[512], smtp_from[256], sms_url[512], sms_bearer[256];
	char issuer[64];
	struct iam_otp_delivery otp;
	int64_t stepup_s;
	bool require_uv;
	/* attestation trust roots per tenant ("*": the others) */
	char att_tenant[IAM_PAGES_ATT_ROOTS_MAX][IAM_TENANT_MAX + 1];
	void *att_roots[IAM_PAGES_ATT_ROOTS_MAX];
	size_t natt;
};

/* The roots a tenant's registrations must chain to, or NULL. */
static const void *att_roots_for(const struct iam_pages *p, const char *tenant)
{
	const void *any = NULL;
	for (size_t i = 0; i < p->natt; i++) {
		if (strcmp(p->att_tenant[i], tenant) == 0)
			return p->att_roots[i];
		if (strcmp(p->att_tenant[i], "*") == 0)
			any = p->att_roots[i];
	}
	return any;
}

static int copy_opt(char *dst, size_t cap, const char *src, const char **out,
		    struct bw_err *err)
{
	*out = NULL;
	if (!src)
		return 0;
	if (bw_snprintf(dst, cap, "%s", src) < 0)
		return bw_err_set(err, 400, "iam", "bad_option",
				  "pages option too long");
	*out = dst;
	return 0;
}

struct iam_pages *iam_pages_new(const struct iam_pages_options *o,
				struct bw_err *err)
{
	if (!o->iam || o->norigins > PAGES_ORIGINS_MAX || o->stepup_s < 0 ||
	    o->stepup_s > IAM_STEPUP_MAX_S || o->natt > IAM_PAGES_ATT_ROOTS_MAX)
		return bw_err_set(err, 400, "iam", "bad_option",
				  "pages: iam required, at most %d origins, "
				  "step-up at most %d s",
				  PAGES_ORIGINS_MAX, IAM_STEPUP_MAX_S),
		       NULL;
	struct iam_pages *p = calloc(1, sizeof(*p));
	if (!p)
		return bw_err_set(err, 500, "iam", "memory", "out of memory"),
		       NULL;
	p->iam = o->iam;
	p->pool = o->pool;
	p->hash_pool = o->hash_pool ? o->hash_pool : o->pool;
	p->audit = o->audit;
	p->stepup_s = o->stepup_s ? o->stepup_s : IAM_STEPUP_DEFAULT_S;
	const char *dummy;
	for (size_t i = 0; i < o->norigins; i++) {
		if (copy_opt(p->origins[i], sizeof(p->origins[i]),
			     o->origins[i], &p->origin_ptrs[i], err) < 0)
			goto fail;
		p->norigins++;
	}
	if (copy_opt(p->rp_id, sizeof(p->rp_id), o->rp_id, &dummy, err) < 0 ||
	    copy_opt(p->smtp_url, sizeof(p->smtp_url), o->otp.smtp_url,
		     &p->otp.smtp_url, err) < 0 ||
	    copy_opt(p->smtp_from, sizeof(p->smtp_from), o->otp.smtp_from,
		     &p->otp.smtp_from, err) < 0 ||
	    copy_opt(p->sms_url, sizeof(p->sms_url), o->otp.sms_url,
		     &p->otp.sms_url, err) < 0 ||
	    copy_opt(p->sms_bearer, sizeof(p->sms_bearer), o->otp.sms_bearer,
		     &p->otp.sms_bearer, err) < 0 ||
	    copy_opt(p->issuer, sizeof(p->issuer),
		     o->otp.issuer ? o->otp.issuer : "bulwark", &p->otp.issuer,
		     err) < 0)
		goto fail;
	p->otp.smtp_starttls = o->otp.smtp_starttls;
	p->require_uv = o->require_uv;
	o->iam->pages = p;
	for (size_t i = 0; i < o->natt; i++) {
		if (bw_snprintf(p->att_tenant[i], sizeof(p->att_tenant[i]), "%s",
				o->att_tenants[i]) < 0) {
			bw_err_set(err, 400, "iam", "bad_option",
				   "attestation roots: bad tenant");
			goto fail;
		}
		if (!(p->att_roots[i] = iam_webauthn_roots_load(o->att_files[i], err)))
			goto fail;
		p->natt++;
	}
	return p;
fail:
	iam_pages_free(p);
	return NULL;
}

void iam_pages_free(struct iam_pages *p)
{
	if (!p)
		return;
	if (p->iam->pages == p)
		p->iam->pages = NULL;
	for (size_t i = 0; i < p->natt; i++)
		iam_webauthn_roots_free(p->att_roots[i]);
	bw_wipe(p->sms_bearer, sizeof(p->sms_bearer));
	free(p);
}

/* ------------------------------------------------------------- helpers */

/* One request's context. */
struct ctx {
	struct iam_pages *p;
	const struct iam_pages_req *rq;
	struct iam_pages_resp *rs;
	char tenant[IAM_TENANT_MAX + 1];
	char csrf[64];
	char next[IAM_PAGES_NEXT_MAX + 1];
	struct iam_rp_buf rpb; /* the relying party (rpb.rp) of this request */
	struct iam_form *form;
	bool overflow;	     /* a page append failed */
	char mfa_reason[32]; /* why a second factor failed, for the audit */
};

/* Page output: a failed append makes the page fail as a whole (500)
 * rather than go out truncated. */
static void put_s(struct ctx *c, const char *s)
{
	if (bw_buf_append_str(&c->rs->body, s) < 0)
		c->overflow = true;
}

static void put_e(struct ctx *c, const char *s)
{
	if (iam_html_esc(&c->rs->body, s) < 0)
		c->overflow = true;
}

static void chk(struct ctx *c, int rc)
{
	if (rc < 0)
		c->overflow = true;
}

static bool cookie_get(struct bw_str h, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = h.p, *end = h.p + (h.len > IAM_PAGES_COOKIE_MAX
					       ? IAM_PAGES_COOKIE_MAX
					       : h.len);
	while (p < end) {
		while (p < end && (*p == ' ' || *p == ';'))
			p++;
		const char *e = memchr(p, ';', (size_t)(end - p));
		if (!e)
			e = end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
			size_t vl = (size_t)(e - eq - 1);
			while (vl && eq[vl] == ' ')
				vl--;
			if (vl == 0 || vl >= cap)
				return false;
			memcpy(out, eq + 1, vl);
			out[vl] = 0;
			/* Token characters only: base64url and '_'. */
			return strspn(out,
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
				      "klmnopqrstuvwxyz0123456789-_") == vl;
		}
		p = e;
	}
	return false;
}

static void cookie_name(char *out, size_t cap, const char *kind,
			const char *tenant)
{
	bw_snprintf(out, cap, "__Host-bw-%s-%s", kind, tenant);
}

bool iam_pages_cookie_session(struct bw_str cookie, const char *tenant,
			      char tok[IAM_TOKEN_MAX])
{
	char name[96];
	cookie_name(name, sizeof(name), "s", tenant);
	return cookie_get(cookie, name, tok, IAM_TOKEN_MAX);
}

static void set_cookie(struct ctx *c, const char *name, const char *value,
		       int64_t max_age, const char *same_site)
{
	struct iam_pages_resp *rs = c->rs;
	if (rs->ncookies >= IAM_PAGES_COOKIES_MAX)
		return;
	char age[48] = "";
	if (max_age >= 0)
		bw_snprintf(age, sizeof(age), "; Max-Age=%lld",
			    (long long)max_age);
	if (bw_snprintf(rs->cookies[rs->ncookies], sizeof(rs->cookies[0]),
			"%s=%s; Path=/; Secure; HttpOnly; SameSite=%s%s", name,
			value, same_site, age) >= 0)
		rs->ncookies++;
}

static void set_tenant_cookie(struct ctx *c, const char *kind,
			      const char *value, int64_t max_age,
			      const char *same_site)
{
	char name[96];
	cookie_name(name, sizeof(name), kind, c->tenant);
	set_cookie(c, name, value, max_age, same_site);
}

static void clear_tenant_cookie(struct ctx *c, const char *kind)
{
	set_tenant_cookie(c, kind, "x", 0, "Strict");
}

static bool tenant_cookie(struct ctx *c, const char *kind, char *out,
			  size_t cap)
{
	char name[96];
	cookie_name(name, sizeof(name), kind, c->tenant);
	return cookie_get(c->rq->cookie, name, out, cap);
}

/* The CSRF token: the cookie's, or a new one set with this answer. */
static void csrf_ensure(struct ctx *c)
{
	if (cookie_get(c->rq->cookie, "__Host-bw-csrf", c->csrf,
		       sizeof(c->csrf)) &&
	    strlen(c->csrf) == 43)
		return;
	uint8_t r[32];
	bw_random(r, sizeof(r));
	crypto_b64url_encode_to(r, sizeof(r), c->csrf);
	bw_wipe(r, sizeof(r));
	set_cookie(c, "__Host-bw-csrf", c->csrf, -1, "Strict");
}

static bool origin_ok(struct ctx *c)
{
	const struct iam_pages_req *rq = c->rq;
	if (rq->fetch_site.len &&
	    !bw_str_eq_lit(rq->fetch_site, "same-origin") &&
	    !bw_str_eq_lit(rq->fetch_site, "none"))
		return false;
	if (!rq->origin.len)
		return true; /* older browsers: the CSRF token decides */
	for (size_t i = 0; i < c->rpb.rp.norigins; i++)
		if (bw_str_eq_lit(rq->origin, c->rpb.origins[i]))
			return true;
	return false;
}

static bool csrf_ok(struct ctx *c)
{
	const char *f = iam_form_get(c->form, "csrf");
	char ck[64];
	if (!f || !cookie_get(c->rq->cookie, "__Host-bw-csrf", ck, sizeof(ck)))
		return false;
	return origin_ok(c) && bw_ct_equal(f, strlen(f), ck, strlen(ck)) &&
	       strlen(ck) == 43;
}

/* A return path we will redirect to: local, under this tenant. */
static bool next_ok(const char *tenant, const char *n)
{
	char a[128], b[128];
	if (!n || !*n || strlen(n) > IAM_PAGES_NEXT_MAX)
		return false;
	bw_snprintf(a, sizeof(a), "/auth/%s/", tenant);
	bw_snprintf(b, sizeof(b), "/oidc/%s/authorize?", tenant);
	if (strncmp(n, a, strlen(a)) != 0 && strncmp(n, b, strlen(b)) != 0)
		return false;
	for (const char *p = n; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '\\' || *p == '"' ||
		    *p == '<' || *p == '>' || (unsigned char)*p >= 0x7f)
			return false;
	return strstr(n, "/..") == NULL && strstr(n, "//") == NULL;
}

static void take_next(struct ctx *c, const char *n)
{
	c->next[0] = 0;
	if (next_ok(c->tenant, n))
		bw_snprintf(c->next, sizeof(c->next), "%s", n);
}

static void redirect(struct ctx *c, const char *fmt_path)
{
	c->rs->status = 303;
	c->rs->content_type = "text/plain";
	bw_snprintf(c->rs->location, sizeof(c->rs->location), "%s", fmt_path);
}

static void redirect_page(struct ctx *c, const char *page)
{
	char loc[IAM_PAGES_NEXT_MAX + 512];
	bw_snprintf(loc, sizeof(loc), "/auth/%s/%s", c->tenant, page);
	if (c->next[0] &&
	    iam_url_add_param(loc, sizeof(loc), "next", c->next) < 0)
		bw_snprintf(loc, sizeof(loc), "/auth/%s/%s", c->tenant, page);
	redirect(c, loc);
}

static void redirect_next(struct ctx *c)
{
	if (c->next[0])
		redirect(c, c->next);
	else
		redirect_page(c, "account");
}

static void audit(struct ctx *c, const char *user_id, const char *action,
		  enum audit_outcome outcome, const char *target,
		  const char *reason)
{
	if (!c->p->audit)
		return;
	char details[160];
	struct bw_err err;
	bw_snprintf(details, sizeof(details), "{\"reason\":\"%s\"}",
		    reason ? reason : "");
	struct audit_record r = {
	    .actor = {.tenant = bw_str_make(c->tenant, strlen(c->tenant)),
		      .kind = user_id && *user_id ? AUDIT_ACTOR_USER
						  : AUDIT_ACTOR_SYSTEM,
		      .id = user_id && *user_id
				? bw_str_make(user_id, strlen(user_id))
				: BW_STR("iam.pages"),
		      .ip = bw_str_make(c->rq->peer_ip ? c->rq->peer_ip : "",
					c->rq->peer_ip ? strlen(c->rq->peer_ip)
						       : 0)},
	    .action = bw_str_make(action, strlen(action)),
	    .target =
		bw_str_make(target ? target : "", target ? strlen(target) : 0),
	    .outcome = outcome,
	    .details = bw_str_make(details, strlen(details))};
	if (audit_append(c->p->audit, &r, NULL, &err) < 0)
		log_warnx("iam pages: audit record not written: %s", err.msg);
}

/* ----------------------------------------------------------- rendering */

static void page_begin(struct ctx *c, int status, const char *title)
{
	c->rs->status = status;
	c->rs->content_type = "text/html; charset=utf-8";
	bw_buf_reset(&c->rs->body);
	c->overflow = false;
	if (iam_html_begin(&c->rs->body, title, c->tenant) < 0)
		c->overflow = true;
}

static void page_end(struct ctx *c)
{
	if (iam_html_end(&c->rs->body) < 0 || c->overflow) {
		bw_buf_reset(&c->rs->body);
		c->rs->status = 500;
	}
}

static void simple_page(struct ctx *c, int status, const char *title,
			const char *msg)
{
	page_begin(c, status, title);
	chk(c, iam_html_error(&c->rs->body, msg));
	char href[128];
	bw_snprintf(href, sizeof(href), "/auth/%s/login", c->tenant);
	put_s(c, "<p><a href=\"");
	put_e(c, href);
	put_s(c, "\">Sign in</a></p>");
	page_end(c);
}

static void action_path(struct ctx *c, char *out, size_t cap, const char *page)
{
	bw_snprintf(out, cap, "/auth/%s/%s", c->tenant, page);
}

static void render_login(struct ctx *c, int status, const char *error,
			 const char *username)
{
	char act[128];
	struct bw_buf *b = &c->rs->body;
	page_begin(c, status, "Sign in");
	c->rs->form_action_self = !c->next[0];
	action_path(c, act, sizeof(act), "login");
	chk(c, iam_html_error(b, error));
	chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
	chk(c, iam_html_field(b, "username", "User name", "text", "username",
			      username, error != NULL, " autofocus"));
	chk(c, iam_html_field(b, "password", "Password", "password",
			      "current-password", NULL, error != NULL, NULL));
	chk(c, iam_html_button(b, NULL, NULL, "Sign in"));
	page_end(c);
}

/* --------------------------------------------------------- sign-in */

static void session_started(struct ctx *c, const struct iam_login_result *r,
			    bool mfa)
{
	struct bw_err err;
	char old[IAM_TOKEN_MAX];
	/* A step-up replaces the session it was made from. */
	if (iam_pages_cookie_session(c->rq->cookie, c->tenant, old)) {
		if (iam_logout(c->p->iam, old, strlen(old), &err) < 0)
			log_warnx("iam pages: old session kept: %s", err.msg);
		bw_wipe(old, sizeof(old));
	}
	struct iam_mfa_methods mm;
	/* Recent MFA marks the session for step-up; a user without any
	 * second factor can only prove a recent password. */
	if ((mfa || (iam_mfa_methods(c->p->iam, c->tenant, r->user_id, &mm,
				     &err) == 0 &&
		     !mm.totp && !mm.webauthn)) &&
	    iam_stepup_mark(c->p->iam, r->session_token,
			    strlen(r->session_token), &err) < 0)
		log_warnx("iam pages: step-up not marked: %s", err.msg);
	set_tenant_cookie(c, "s", r->session_token, -1, "Lax");
	clear_tenant_cookie(c, "mfa");
	audit(c, r->user_id, mfa ? "iam.web.login_mfa" : "iam.web.login",
	      AUDIT_OUTCOME_SUCCESS, r->user_id, "ok");
	redirect_next(c);
}

static void login_outcome(struct ctx *c, const struct iam_login_result *r,
			  const char *username, bool mfa_step)
{
	switch (r->status) {
	case IAM_LOGIN_OK:
		session_started(c, r, mfa_step);
		return;
	case IAM_LOGIN_MFA_REQUIRED:
		set_tenant_cookie(c, "mfa", r->challenge, IAM_CHALLENGE_TTL_S,
				  "Strict");
		redirect_page(c, "mfa");
		return;
	case IAM_LOGIN_CHANGE_PASSWORD:
		set_tenant_cookie(c, "pw", r->challenge, IAM_CHALLENGE_TTL_S,
				  "Strict");
		redirect_page(c, "password");
		return;
	case IAM_LOGIN_ENROL_REQUIRED:
		set_tenant_cookie(c, "enrol", r->challenge, IAM_CHALLENGE_TTL_S,
				  "Strict");
		redirect_page(c, "enrol");
		return;
	case IAM_LOGIN_THROTTLED:
		audit(c, NULL, "iam.web.login", AUDIT_OUTCOME_DENIED, NULL,
		      "throttled");
		render_login(c, 429, iam_login_status_message(r->status),
			     username);
		return;
	case IAM_LOGIN_FAILED:
		audit(c, NULL, "iam.web.login", AUDIT_OUTCOME_FAILURE, NULL,
		      "invalid_credentials");
		render_login(c, 401, iam_login_status_message(r->status),
			     username);
		return;
	case IAM_LOGIN_ERROR:
		break;
	}
	if (r->err.code >= 400 && r->err.code < 500) {
		render_login(c, 400, r->err.msg, username);
		return;
	}
	simple_page(c, 503, "Sign-in unavailable",
		    "Sign-in is unavailable right now; try again later.");
}

static void do_login(struct ctx *c)
{
	const char *u = iam_form_get(c->form, "username");
	const char *pw = iam_form_get(c->form, "password");
	if (!u || !pw) {
		render_login(c, 400, "Enter your user name and password.", u);
		return;
	}
	struct iam_login_request req = {.tenant = c->tenant,
					.username = u,
					.password = pw,
					.password_len = strlen(pw),
					.source_ip = c->rq->peer_ip};
	struct iam_login_result *r = malloc(sizeof(*r));
	if (!r) {
		simple_page(c, 503, "Sign-in unavailable", "Out of memory.");
		return;
	}
	iam_login(c->p->iam, &req, r);
	login_outcome(c, r, u, false);
	bw_wipe(r, sizeof(*r));
	free(r);
}

/* -------------------------------------------------------------- MFA */

struct mfa_view {
	const char *error;
	const char *notice;
	const char *code_channel; /* "email" / "sms": show its code form */
};

static void render_mfa(struct ctx *c, int status, const char *user_id,
		       const struct mfa_view *v)
{
	struct bw_buf *b = &c->rs->body;
	struct iam_mfa_methods mm;
	struct bw_err err;
	char act[128];
	if (iam_mfa_methods(c->p->iam, c->tenant, user_id, &mm, &err) < 0) {
		simple_page(c, 503, "Sign-in unavailable", "Try again later.");
		return;
	}
	page_begin(c, status, "Second step");
	c->rs->form_action_self = !c->next[0];
	chk(c, iam_html_error(b, v->error));
	chk(c, iam_html_notice(b, v->notice));
	action_path(c, act, sizeof(act), "mfa");
	bool any = false;
	if (mm.webauthn) {
		struct bw_buf opts;
		bw_buf_init(&opts, 1 << 16);
		if (iam_webauthn_assert_begin(c->p->iam, &c->rpb.rp, c->tenant,
					      user_id, &opts, &err) == 0 &&
		    bw_buf_append_byte(&opts, 0) == 0) {
			any = true;
			put_s(c, "<h2>Security key</h2>");
			put_s(c, "<form method=\"post\" "
				 "data-webauthn=\"get\" "
				 "data-options=\"");
			put_e(c, opts.data);
			put_s(c, "\" action=\"");
			put_e(c, act);
			put_s(c, "\">");
			put_s(c,
			      "<input type=\"hidden\" name=\"csrf\" value=\"");
			put_e(c, c->csrf);
			put_s(c, "\">");
			if (c->next[0]) {
				put_s(c, "<input type=\"hidden\" name=\"next\" "
					 "value=\"");
				put_e(c, c->next);
				put_s(c, "\">");
			}
			put_s(c,
			      "<input type=\"hidden\" name=\"method\" "
			      "value=\"webauthn\">"
			      "<input type=\"hidden\" name=\"credential_id\">"
			      "<input type=\"hidden\" name=\"client_data\">"
			      "<input type=\"hidden\" "
			      "name=\"authenticator_data\">"
			      "<input type=\"hidden\" name=\"signature\">"
			      "<p class=\"wa-error error\" role=\"alert\"></p>"
			      "<p><button type=\"submit\" disabled>Use your "
			      "security key</button></p></form>");
		}
		bw_buf_fini(&opts);
	}
	if (mm.totp) {
		any = true;
		put_s(c, "<h2>Authenticator app</h2>");
		chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
		put_s(c, "<input type=\"hidden\" "
			 "name=\"method\" value=\"totp\">");
		chk(c, iam_html_field(
			   b, "code", "Code from your app, or a recovery code",
			   "text", "one-time-code", NULL, v->error != NULL,
			   " inputmode=\"text\" autocapitalize=\"off\""));
		chk(c, iam_html_button(b, NULL, NULL, "Verify"));
	}
	if (!mm.totp && mm.recovery) {
		any = true;
		put_s(c, "<h2>Recovery code</h2>");
		chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
		put_s(c, "<input type=\"hidden\" name=\"method\" "
			 "value=\"totp\">");
		chk(c, iam_html_field(b, "code", "One of your recovery codes",
				      "text", "one-time-code", NULL,
				      v->error != NULL,
				      " autocapitalize=\"characters\""));
		chk(c, iam_html_button(b, NULL, NULL, "Verify"));
	}
	const char *chans[2] = {mm.email && c->p->otp.smtp_url ? "email" : NULL,
				mm.phone && c->p->otp.sms_url ? "sms" : NULL};
	for (int i = 0; i < 2; i++) {
		if (!chans[i])
			continue;
		any = true;
		bool email = i == 0;
		put_s(c, email ? "<h2>Code by e-mail</h2>"
			       : "<h2>Code by text message"
				 "</h2>");
		if (v->code_channel && strcmp(v->code_channel, chans[i]) == 0) {
			chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
			put_s(
			    c,
			    "<input type=\"hidden\" name=\"method\" value=\"");
			put_s(c, chans[i]);
			put_s(c, "\">");
			chk(c,
			    iam_html_field(
				b, email ? "email_code" : "sms_code",
				"The 6-digit code we sent", "text",
				"one-time-code", NULL, v->error != NULL,
				" inputmode=\"numeric\" pattern=\"[0-9]{6}\""));
			chk(c, iam_html_button(b, NULL, NULL, "Verify"));
		}
		char sact[128];
		action_path(c, sact, sizeof(sact), "mfa/send");
		chk(c, iam_html_form_begin(b, sact, c->csrf, c->next));
		chk(c, iam_html_button(b, "channel", chans[i],
				       email ? "E-mail me a code"
					     : "Text me a code"));
	}
	if (!any)
		chk(c, iam_html_error(b, "No second factor is set up for this "
					 "account. Ask an administrator."));
	put_s(c, "<script src=\"/auth/static/bw.js\" "
		 "defer></script>");
	page_end(c);
}

/* The MFA challenge in the cookie and its user, or a redirect to the
 * sign-in page. */
static bool mfa_user(struct ctx *c, char ch[IAM_TOKEN_MAX],
		     char user_id[IAM_ID_LEN + 1])
{
	struct bw_err err;
	int rc = tenant_cookie(c, "mfa", ch, IAM_TOKEN_MAX)
		     ? iam_login_challenge_user(c->p->iam, c->tenant, ch,
						user_id, &err)
		     : 0;
	if (rc == 1)
		return true;
	if (rc < 0)
		simple_page(c, 503, "Sign-in unavailable", "Try again later.");
	else
		redirect_page(c, "login");
	return false;
}

struct wa_args {
	struct ctx *c;
};

static int verify_webauthn(void *arg, struct iam *iam, const char *tenant,
			   const char *user_id, struct bw_err *err)
{
	struct ctx *c = arg;
	const struct iam_form *f = c->form;
	int rc = iam_webauthn_assert_finish(
	    iam, &c->rpb.rp, tenant, user_id, iam_form_get(f, "credential_id"),
	    iam_form_get(f, "client_data"),
	    iam_form_get(f, "authenticator_data"), iam_form_get(f, "signature"),
	    err);
	if (rc < 0)
		bw_snprintf(c->mfa_reason, sizeof(c->mfa_reason), "%s",
			    err->reason);
	return rc;
}

struct otp_args {
	enum iam_otp_channel ch;
	const char *code;
};

static int verify_otp(void *arg, struct iam *iam, const char *tenant,
		      const char *user_id, struct bw_err *err)
{
	struct otp_args *a = arg;
	return iam_otp_verify(iam, tenant, user_id, a->ch, a->code, err);
}

static int verify_totp(void *arg, struct iam *iam, const char *tenant,
		       const char *user_id, struct bw_err *err)
{
	const char *code = arg ? arg : "";
	size_t n = strlen(code);
	return n == IAM_RECOVERY_CODE_LEN || n == 16
		   ? iam_recovery_code_use(iam, tenant, user_id, code, err)
		   : iam_totp_verify(iam, tenant, user_id, code, err);
}

static void do_mfa(struct ctx *c)
{
	char ch[IAM_TOKEN_MAX], uid[IAM_ID_LEN + 1];
	if (!mfa_user(c, ch, uid))
		return;
	const char *m = iam_form_get(c->form, "method");
	struct iam_login_result *r = malloc(sizeof(*r));
	struct otp_args oa = {0};
	struct mfa_view v = {0};
	if (!r) {
		simple_page(c, 503, "Sign-in unavailable", "Out of memory.");
		return;
	}
	m = m ? m : "";
	if (strcmp(m, "webauthn") == 0) {
		iam_login_mfa_with(c->p->iam, c->tenant, ch, c->rq->peer_ip,
				   "login-webauthn", verify_webauthn, c, r);
	} else if (strcmp(m, "email") == 0 || strcmp(m, "sms") == 0) {
		bool email = m[0] == 'e';
		oa.ch = email ? IAM_OTP_EMAIL : IAM_OTP_SMS;
		oa.code =
		    iam_form_get(c->form, email ? "email_code" : "sms_code");
		v.code_channel = m;
		iam_login_mfa_with(c->p->iam, c->tenant, ch, c->rq->peer_ip,
				   "login-otp", verify_otp, &oa, r);
	} else {
		iam_login_mfa_with(
		    c->p->iam, c->tenant, ch, c->rq->peer_ip, "login-mfa",
		    verify_totp,
		    (void *)(uintptr_t)iam_form_get(c->form, "code"), r);
	}
	if (r->status == IAM_LOGIN_OK) {
		session_started(c, r, true);
	} else if (r->status == IAM_LOGIN_ERROR) {
		simple_page(c, 503, "Sign-in unavailable", "Try again later.");
	} else {
		audit(c, uid, "iam.web.login_mfa",
		      r->status == IAM_LOGIN_THROTTLED ? AUDIT_OUTCOME_DENIED
						       : AUDIT_OUTCOME_FAILURE,
		      uid, c->mfa_reason[0] ? c->mfa_reason : m);
		v.error = r->status == IAM_LOGIN_THROTTLED
			      ? "Too many attempts; try again later."
			      : "That did not work. Check the code or try "
				"another method.";
		/* The challenge may have died of too many attempts. */
		char u2[IAM_ID_LEN + 1];
		struct bw_err err;
		if (iam_login_challenge_user(c->p->iam, c->tenant, ch, u2,
					     &err) == 1)
			render_mfa(c,
				   r->status == IAM_LOGIN_THROTTLED ? 429 : 401,
				   uid, &v);
		else
			render_login(c, 401, "Sign in again.", NULL);
	}
	bw_wipe(r, sizeof(*r));
	free(r);
	bw_wipe(ch, sizeof(ch));
}

static void do_mfa_send(struct ctx *c)
{
	char ch[IAM_TOKEN_MAX], uid[IAM_ID_LEN + 1];
	struct bw_err err;
	struct mfa_view v = {0};
	if (!mfa_user(c, ch, uid))
		return;
	bw_wipe(ch, sizeof(ch));
	const char *chn = iam_form_get(c->form, "channel");
	bool email = chn && strcmp(chn, "email") == 0;
	if (!chn || (!email && strcmp(chn, "sms") != 0)) {
		v.error = "Choose e-mail or text message.";
		render_mfa(c, 400, uid, &v);
		return;
	}
	int rc = iam_otp_send(c->p->iam, &c->p->otp, c->tenant, uid,
			      email ? IAM_OTP_EMAIL : IAM_OTP_SMS, &err);
	audit(c, uid, "iam.otp.send",
	      rc == 0 ? AUDIT_OUTCOME_SUCCESS : AUDIT_OUTCOME_FAILURE, uid,
	      rc == 0 ? chn : err.reason);
	v.code_channel = email ? "email" : "sms";
	if (rc == 0)
		v.notice = email ? "We sent a code to your e-mail address."
				 : "We sent a code to your phone.";
	else if (err.code == 429)
		v.error = "A code was sent a moment ago. Wait a minute before "
			  "asking for another.";
	else
		v.error = "The code could not be sent. Try another method.";
	render_mfa(c, rc == 0 ? 200 : err.code == 429 ? 429 : 502, uid, &v);
}

/* ----------------------------------------------------- password change */

static void render_password(struct ctx *c, int status, const char *error)
{
	char act[128];
	struct bw_buf *b = &c->rs->body;
	page_begin(c, status, "Choose a new password");
	c->rs->form_action_self = !c->next[0];
	action_path(c, act, sizeof(act), "password");
	chk(c, iam_html_error(b, error));
	chk(c,
	    iam_html_notice(b, error ? NULL
				     : "Your password must be changed before "
				       "you continue."));
	chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
	chk(c, iam_html_field(b, "new_password", "New password", "password",
			      "new-password", NULL, error != NULL, NULL));
	chk(c, iam_html_field(b, "confirm", "New password again", "password",
			      "new-password", NULL, error != NULL, NULL));
	chk(c, iam_html_button(b, NULL, NULL, "Change password"));
	page_end(c);
}

static void do_password(struct ctx *c)
{
	char ch[IAM_TOKEN_MAX];
	if (!tenant_cookie(c, "pw", ch, sizeof(ch))) {
		redirect_page(c, "login");
		return;
	}
	const char *a = iam_form_get(c->form, "new_password");
	const char *b = iam_form_get(c->form, "confirm");
	if (!a || !b || strcmp(a, b) != 0) {
		render_password(c, 400, "The two passwords differ.");
		return;
	}
	struct iam_login_result *r = malloc(sizeof(*r));
	if (!r) {
		simple_page(c, 503, "Unavailable", "Out of memory.");
		return;
	}
	iam_login_change_password(c->p->iam, c->tenant, ch, a, strlen(a),
				  c->rq->peer_ip, r);
	if (r->status == IAM_LOGIN_ERROR && r->err.code == 400) {
		char msg[160];
		bw_snprintf(msg, sizeof(msg),
			    "That password cannot be used (%s).",
			    r->err.reason);
		render_password(c, 400, msg);
	} else {
		if (r->status != IAM_LOGIN_FAILED)
			clear_tenant_cookie(c, "pw");
		if (r->status == IAM_LOGIN_OK ||
		    r->status == IAM_LOGIN_MFA_REQUIRED)
			audit(c, r->user_id, "iam.web.password_change",
			      AUDIT_OUTCOME_SUCCESS, r->user_id, "changed");
		login_outcome(c, r, NULL, false);
	}
	bw_wipe(r, sizeof(*r));
	free(r);
	bw_wipe(ch, sizeof(ch));
}

/* ------------------------------------------------- enrolment at sign-in */

/* The authenticator-app set-up a tenant's policy forces at sign-in: a
 * fresh secret (QR code and text) on GET, only the code field again
 * after a wrong code, so the secret the user scanned stays the one. */
static void render_enrol(struct ctx *c, int status, const char *error)
{
	char act[128], ch[IAM_TOKEN_MAX];
	struct bw_buf *b = &c->rs->body;
	struct iam_totp_enrolment e;
	struct bw_err err;
	if (!tenant_cookie(c, "enrol", ch, sizeof(ch))) {
		redirect_page(c, "login");
		return;
	}
	char *svg = NULL;
	if (!error) {
		if (iam_login_enrol_begin(c->p->iam, c->tenant, ch,
					  c->p->otp.issuer, &e, &err) < 0) {
			bw_wipe(ch, sizeof(ch));
			if (err.code >= 500) {
				simple_page(c, 503, "Unavailable",
					    "Try again later.");
				return;
			}
			clear_tenant_cookie(c, "enrol");
			redirect_page(c, "login");
			return;
		}
		svg = iam_qr_svg(e.uri, &err);
	}
	bw_wipe(ch, sizeof(ch));
	page_begin(c, status, "Set up your authenticator app");
	c->rs->form_action_self = !c->next[0];
	chk(c, iam_html_error(b, error));
	if (!error) {
		put_s(c, "<p>Your account needs a second factor. Scan this code "
			 "with an authenticator app, or type the key, then "
			 "enter the code the app shows.</p>");
		if (svg) {
			put_s(c, "<figure class=\"qr\" role=\"img\" "
				 "aria-label=\"QR code of the key\">");
			/* the SVG document without its XML declaration */
			const char *open = strstr(svg, "<svg");
			put_s(c, open ? open : "");
			put_s(c, "</figure>");
		}
		put_s(c, "<p>Key: <code>");
		put_e(c, e.secret_b32);
		put_s(c, "</code></p>");
		bw_wipe(&e, sizeof(e));
	}
	free(svg);
	action_path(c, act, sizeof(act), "enrol");
	chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
	chk(c, iam_html_field(b, "code", "Code from the app", "text",
			      "one-time-code", NULL, error != NULL,
			      " inputmode=\"numeric\" autofocus"));
	chk(c, iam_html_button(b, NULL, NULL, "Continue"));
	if (error) {
		put_s(c, "<p><a href=\"enrol\">Show the key again</a></p>");
	}
	page_end(c);
}

static void do_enrol(struct ctx *c)
{
	char ch[IAM_TOKEN_MAX];
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	struct bw_err err;
	if (!tenant_cookie(c, "enrol", ch, sizeof(ch))) {
		redirect_page(c, "login");
		return;
	}
	struct iam_login_result *r = malloc(sizeof(*r));
	if (!r) {
		bw_wipe(ch, sizeof(ch));
		simple_page(c, 503, "Unavailable", "Out of memory.");
		return;
	}
	const char *code = iam_form_get(c->form, "code");
	iam_login_enrol_finish(c->p->iam, c->tenant, ch, code ? code : "",
			       c->rq->peer_ip, codes, r);
	bw_wipe(ch, sizeof(ch));
	switch (r->status) {
	case IAM_LOGIN_OK:
		break;
	case IAM_LOGIN_THROTTLED:
		audit(c, NULL, "iam.web.enrol", AUDIT_OUTCOME_DENIED, NULL,
		      "throttled");
		render_enrol(c, 429, iam_login_status_message(r->status));
		goto out;
	case IAM_LOGIN_ERROR:
		simple_page(c, 503, "Unavailable", "Try again later.");
		goto out;
	default:
		audit(c, NULL, "iam.web.enrol", AUDIT_OUTCOME_FAILURE, NULL,
		      "bad_code");
		render_enrol(c, 400, "That code is not valid. Enter the code "
				     "your app shows now.");
		goto out;
	}
	clear_tenant_cookie(c, "enrol");
	set_tenant_cookie(c, "s", r->session_token, -1, "Lax");
	if (iam_stepup_mark(c->p->iam, r->session_token,
			    strlen(r->session_token), &err) < 0)
		log_warnx("iam pages: step-up not marked: %s", err.msg);
	audit(c, r->user_id, "iam.web.enrol", AUDIT_OUTCOME_SUCCESS,
	      r->user_id, "totp");
	page_begin(c, 200, "Your recovery codes");
	c->rs->form_action_self = true;
	put_s(c, "<p>Your authenticator app is set up. Keep these recovery "
		 "codes somewhere safe: each works once when the app is not "
		 "at hand, and they are shown only now.</p><ul class=\"codes\">");
	for (int i = 0; i < IAM_RECOVERY_CODES; i++) {
		put_s(c, "<li><code>");
		put_e(c, codes[i]);
		put_s(c, "</code></li>");
	}
	put_s(c, "</ul><p><a href=\"");
	if (c->next[0])
		put_e(c, c->next);
	else
		put_s(c, "account");
	put_s(c, "\">Continue</a></p>");
	page_end(c);
out:
	bw_wipe(codes, sizeof(codes));
	bw_wipe(r, sizeof(*r));
	free(r);
}

/* ------------------------------------------------------------ sessions */

/* The signed-in user of this tenant, or a redirect to sign in. */
static bool session_user(struct ctx *c, struct iam_principal *pr,
			 char tok[IAM_TOKEN_MAX])
{
	if (iam_pages_cookie_session(c->rq->cookie, c->tenant, tok) &&
	    iam_authenticate_bearer(c->p->iam, tok, strlen(tok), pr) == 0 &&
	    pr->kind == IAM_PRINCIPAL_SESSION &&
	    strcmp(pr->tenant, c->tenant) == 0)
		return true;
	bw_wipe(tok, IAM_TOKEN_MAX);
	char self[IAM_PAGES_NEXT_MAX + 1];
	bw_snprintf(self, sizeof(self), "%.*s%s%.*s", (int)c->rq->path.len,
		    c->rq->path.p, c->rq->query.len ? "?" : "",
		    (int)c->rq->query.len, c->rq->query.p);
	if (!c->next[0] && c->rq->method == HTTP_METHOD_GET)
		take_next(c, self);
	redirect_page(c, "login");
	return false;
}

struct key_list {
	struct ctx *c;
	size_t n;
	bool fresh; /* step-up done: offer removal */
};

static int key_row(void *arg, const struct iam_webauthn_cred_info *k)
{
	struct key_list *l = arg;
	char line[160];
	const char *alg = k->alg == IAM_COSE_ES256   ? "ES256"
			  : k->alg == IAM_COSE_EDDSA ? "EdDSA"
						     : "RS256";
	put_s(l->c, "<tr><td>");
	put_e(l->c, k->name);
	bw_snprintf(line, sizeof(line), "</td><td>%s</td><td>%s</td><td>%u",
		    alg, k->att_type, k->sign_count);
	put_s(l->c, line);
	put_s(l->c, "</td><td>");
	if (l->fresh) {
		char act[128];
		action_path(l->c, act, sizeof(act), "webauthn/delete");
		chk(l->c, iam_html_form_begin(&l->c->rs->body, act, l->c->csrf,
					      NULL));
		put_s(l->c, "<input type=\"hidden\" name=\"key\" value=\"");
		put_e(l->c, k->handle);
		put_s(l->c, "\"><button class=\"secondary\" type=\"submit\" "
			    "aria-label=\"Remove ");
		put_e(l->c, k->name);
		put_s(l->c, "\">Remove</button></form>");
	}
	put_s(l->c, "</td></tr>");
	l->n++;
	return 0;
}

struct session_rows {
	struct ctx *c;
	const char *current; /* this browser's session handle */
	size_t n;
};

static int session_row(void *arg, const struct iam_session_info *si)
{
	struct session_rows *l = arg;
	char when[32], line[96];
	bw_time_format(si->last_seen * 1000000000LL, when);
	when[16] = 0; /* YYYY-MM-DDTHH:MM */
	put_s(l->c, "<tr><td>");
	put_e(l->c, si->ip[0] ? si->ip : "?");
	bw_snprintf(line, sizeof(line), "</td><td>%s</td><td>%s</td><td>", when,
		    si->mfa ? "yes" : "no");
	put_s(l->c, line);
	put_s(l->c, strcmp(si->handle, l->current) == 0 ? "this browser" : "");
	put_s(l->c, "</td></tr>");
	l->n++;
	return 0;
}

static void render_sessions(struct ctx *c, const struct iam_principal *pr)
{
	struct bw_err err;
	char act[128];
	struct session_rows sr = {c, pr->credential_id, 0};
	put_s(c, "<h2>Where you are signed in</h2><table><thead><tr>"
		 "<th scope=\"col\">Address</th><th scope=\"col\">Last "
		 "seen (UTC)</th><th scope=\"col\">Second factor</th>"
		 "<th scope=\"col\"></th></tr></thead><tbody>");
	if (iam_session_list(c->p->iam, c->tenant, pr->user_id, session_row,
			     &sr, &err) < 0)
		log_warnx("iam pages: session list: %s", err.msg);
	put_s(c, "</tbody></table>");
	if (sr.n > 1) {
		action_path(c, act, sizeof(act), "sessions/revoke");
		chk(c, iam_html_form_begin(&c->rs->body, act, c->csrf, NULL));
		chk(c, iam_html_button(&c->rs->body, NULL, NULL,
				       "Sign out everywhere else"));
	}
}

/* How recent a second factor the account page wants: the tenant's
 * policy step_up_s, never longer than iam.pages.step_up. */
static int64_t stepup_window(struct ctx *c)
{
	struct iam_tenant t;
	struct bw_err err;
	if (iam_tenant_get(c->p->iam, c->tenant, &t, &err) == 0 &&
	    (int64_t)t.policy.step_up_s < c->p->stepup_s)
		return t.policy.step_up_s;
	return c->p->stepup_s;
}

static void render_account(struct ctx *c, int status, const char *tok,
			   const struct iam_principal *pr, const char *notice,
			   const char *error)
{
	struct bw_buf *b = &c->rs->body;
	struct bw_err err;
	char act[128];
	page_begin(c, status, "Your account");
	c->rs->form_action_self = true;
	chk(c, iam_html_notice(b, notice));
	chk(c, iam_html_error(b, error));
	put_s(c, "<p>Signed in as <strong>");
	put_e(c, pr->user_name);
	put_s(c, "</strong>.</p><h2>Security keys</h2>");
	int fresh =
	    iam_stepup_fresh(c->p->iam, tok, strlen(tok), stepup_window(c), &err);
	struct key_list kl = {c, 0, fresh == 1};
	put_s(c, "<table><thead><tr><th scope=\"col\">Name"
		 "</th><th scope=\"col\">Algorithm</th>"
		 "<th scope=\"col\">Attestation</th>"
		 "<th scope=\"col\">Counter</th>"
		 "<th scope=\"col\">Actions</th></tr></thead><tbody>");
	if (iam_webauthn_list(c->p->iam, c->tenant, pr->user_id, key_row, &kl,
			      &err) < 0)
		log_warnx("iam pages: key list: %s", err.msg);
	put_s(c, "</tbody></table>");
	if (kl.n == 0)
		put_s(c, "<p>No security key yet.</p>");
	struct bw_buf opts;
	bw_buf_init(&opts, 1 << 16);
	if (fresh == 1 &&
	    iam_webauthn_register_begin(c->p->iam, &c->rpb.rp, c->tenant,
					pr->user_id, &opts, &err) == 0 &&
	    bw_buf_append_byte(&opts, 0) == 0) {
		action_path(c, act, sizeof(act), "webauthn/register");
		put_s(c, "<form method=\"post\" "
			 "data-webauthn=\"create\" "
			 "data-options=\"");
		put_e(c, opts.data);
		put_s(c, "\" action=\"");
		put_e(c, act);
		put_s(c, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
		put_e(c, c->csrf);
		put_s(c,
		      "\"><input type=\"hidden\" name=\"credential_id\">"
		      "<input type=\"hidden\" name=\"client_data\">"
		      "<input type=\"hidden\" name=\"attestation\">"
		      "<p><label for=\"key_name\">Name of the new key</label>"
		      "<input id=\"key_name\" name=\"key_name\" type=\"text\" "
		      "maxlength=\"64\" value=\"security key\"></p>"
		      "<p class=\"wa-error error\" role=\"alert\"></p>"
		      "<p><button type=\"submit\" disabled>Add a security "
		      "key</button></p></form>");
	}
	bw_buf_fini(&opts);
	render_sessions(c, pr);
	put_s(c, "<h2>Recovery codes</h2><p>One-time codes for when no "
		 "other second factor is at hand.</p>");
	if (fresh == 1) {
		action_path(c, act, sizeof(act), "recovery");
		chk(c, iam_html_form_begin(b, act, c->csrf, NULL));
		chk(c,
		    iam_html_button(b, NULL, NULL, "Make new recovery codes"));
	} else if (fresh == 0) {
		action_path(c, act, sizeof(act), "stepup");
		put_s(c, "<p>Changing security keys or recovery codes needs a "
			 "recent second-factor check.</p>");
		chk(c, iam_html_form_begin(b, act, c->csrf, NULL));
		chk(c, iam_html_button(b, NULL, NULL, "Confirm it is you"));
	}
	action_path(c, act, sizeof(act), "logout");
	chk(c, iam_html_form_begin(b, act, c->csrf, NULL));
	put_s(c, "<p><button class=\"secondary\" "
		 "type=\"submit\">Sign out</button></p>"
		 "</form>");
	put_s(c, "<script src=\"/auth/static/bw.js\" "
		 "defer></script>");
	page_end(c);
}

static void do_register(struct ctx *c)
{
	struct iam_principal pr;
	char tok[IAM_TOKEN_MAX];
	struct bw_err err;
	struct iam_webauthn_cred_info info;
	if (!session_user(c, &pr, tok))
		return;
	int fresh =
	    iam_stepup_fresh(c->p->iam, tok, strlen(tok), stepup_window(c), &err);
	if (fresh != 1) {
		render_account(c, 403, tok, &pr, NULL,
			       "Confirm it is you first (step-up).");
		goto out;
	}
	if (iam_webauthn_register_finish(
		c->p->iam, &c->rpb.rp, c->tenant, pr.user_id,
		iam_form_get(c->form, "key_name"),
		iam_form_get(c->form, "client_data"),
		iam_form_get(c->form, "attestation"), &info, &err) < 0) {
		audit(c, pr.user_id, "iam.webauthn.register",
		      AUDIT_OUTCOME_FAILURE, pr.user_id, err.reason);
		render_account(c, err.code >= 500 ? 503 : 400, tok, &pr, NULL,
			       "The security key could not be added.");
		goto out;
	}
	audit(c, pr.user_id, "iam.webauthn.register", AUDIT_OUTCOME_SUCCESS,
	      info.handle, info.att_type);
	render_account(c, 200, tok, &pr, "Security key added.", NULL);
out:
	bw_wipe(tok, sizeof(tok));
}

/* The signed-in user with a recent second factor, or an answer. */
static bool fresh_user(struct ctx *c, struct iam_principal *pr,
		       char tok[IAM_TOKEN_MAX])
{
	struct bw_err err;
	if (!session_user(c, pr, tok))
		return false;
	if (iam_stepup_fresh(c->p->iam, tok, strlen(tok), stepup_window(c),
			     &err) == 1)
		return true;
	render_account(c, 403, tok, pr, NULL,
		       "Confirm it is you first (step-up).");
	bw_wipe(tok, IAM_TOKEN_MAX);
	return false;
}

static void do_key_delete(struct ctx *c)
{
	struct iam_principal pr;
	char tok[IAM_TOKEN_MAX];
	struct bw_err err;
	if (!fresh_user(c, &pr, tok))
		return;
	const char *k = iam_form_get(c->form, "key");
	int rc = iam_webauthn_delete(c->p->iam, c->tenant, pr.user_id,
				     k ? k : "", &err);
	audit(c, pr.user_id, "iam.webauthn.delete",
	      rc == 0 ? AUDIT_OUTCOME_SUCCESS : AUDIT_OUTCOME_FAILURE,
	      k ? k : "", rc == 0 ? "ok" : err.reason);
	render_account(c,
		       rc == 0		 ? 200
		       : err.code == 404 ? 404
					 : 503,
		       tok, &pr, rc == 0 ? "Security key removed." : NULL,
		       rc == 0 ? NULL : "The key could not be removed.");
	bw_wipe(tok, sizeof(tok));
}

static void do_recovery(struct ctx *c)
{
	struct iam_principal pr;
	char tok[IAM_TOKEN_MAX];
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	struct bw_err err;
	if (!fresh_user(c, &pr, tok))
		return;
	if (iam_recovery_codes_new(c->p->iam, c->tenant, pr.user_id, codes,
				   &err) < 0) {
		render_account(c, 503, tok, &pr, NULL,
			       "Recovery codes could not be made.");
		goto out;
	}
	audit(c, pr.user_id, "iam.mfa.recovery_codes", AUDIT_OUTCOME_SUCCESS,
	      pr.user_id, "replaced");
	page_begin(c, 200, "Your recovery codes");
	c->rs->form_action_self = true;
	put_s(c, "<p>Keep these codes somewhere safe. Each works once, and "
		 "they are shown only now; earlier codes no longer work.</p>"
		 "<ul class=\"codes\">");
	for (int i = 0; i < IAM_RECOVERY_CODES; i++) {
		put_s(c, "<li><code>");
		put_e(c, codes[i]);
		put_s(c, "</code></li>");
	}
	put_s(c, "</ul><p><a href=\"account\">Back to your account</a></p>");
	page_end(c);
out:
	bw_wipe(codes, sizeof(codes));
	bw_wipe(tok, sizeof(tok));
}

static void do_revoke_others(struct ctx *c)
{
	struct iam_principal pr;
	char tok[IAM_TOKEN_MAX];
	struct bw_err err;
	if (!session_user(c, &pr, tok))
		return;
	int rc = iam_session_revoke_all(c->p->iam, c->tenant, pr.user_id,
					pr.credential_id, &err);
	audit(c, pr.user_id, "iam.session.revoke_others",
	      rc == 0 ? AUDIT_OUTCOME_SUCCESS : AUDIT_OUTCOME_FAILURE,
	      pr.user_id, rc == 0 ? "ok" : err.reason);
	render_account(c, rc == 0 ? 200 : 503, tok, &pr,
		       rc == 0 ? "Signed out everywhere else." : NULL,
		       rc == 0 ? NULL : "Try again later.");
	bw_wipe(tok, sizeof(tok));
}

static void do_stepup(struct ctx *c)
{
	struct iam_principal pr;
	char tok[IAM_TOKEN_MAX], ch[IAM_TOKEN_MAX];
	struct bw_err err;
	if (!session_user(c, &pr, tok))
		return;
	if (iam_challenge_create(c->p->iam, c->tenant, pr.user_id, "mfa", ch,
				 &err) < 0) {
		simple_page(c, 503, "Unavailable", "Try again later.");
	} else {
		set_tenant_cookie(c, "mfa", ch, IAM_CHALLENGE_TTL_S, "Strict");
		redirect_page(c, "mfa");
	}
	bw_wipe(tok, sizeof(tok));
	bw_wipe(ch, sizeof(ch));
}

static void do_logout(struct ctx *c)
{
	char tok[IAM_TOKEN_MAX];
	struct iam_principal pr;
	struct bw_err err;
	if (iam_pages_cookie_session(c->rq->cookie, c->tenant, tok)) {
		bool known = iam_authenticate_bearer(c->p->iam, tok,
						     strlen(tok), &pr) == 0;
		if (iam_logout(c->p->iam, tok, strlen(tok), &err) < 0)
			log_warnx("iam pages: logout: %s", err.msg);
		else if (known)
			audit(c, pr.user_id, "iam.web.logout",
			      AUDIT_OUTCOME_SUCCESS, pr.user_id, "ok");
	}
	bw_wipe(tok, sizeof(tok));
	clear_tenant_cookie(c, "s");
	c->next[0] = 0;
	redirect_page(c, "login");
}

/* ------------------------------------------------------------- consent */

/* The authorization request inside next: its parameters. */
struct authz_req {
	struct iam_form f;
	const char *client_id, *scope, *redirect_uri, *state;
	char client_name[IAM_NAME_MAX + 1];
	bool redirect_ok; /* redirect_uri is one the client registered */
};

static bool parse_authz(struct ctx *c, struct authz_req *a)
{
	struct bw_err err;
	const char *q = strchr(c->next, '?');
	if (strncmp(c->next, "/oidc/", 6) != 0 || !q ||
	    iam_form_parse(&a->f, q + 1, strlen(q + 1), &err) < 0)
		return false;
	a->client_id = iam_form_get(&a->f, "client_id");
	a->scope = iam_form_get(&a->f, "scope");
	a->redirect_uri = iam_form_get(&a->f, "redirect_uri");
	a->state = iam_form_get(&a->f, "state");
	if (!a->client_id || !a->redirect_uri)
		return false;
	int rc = iam_oidc_client_redirect(c->p->iam, c->tenant, a->client_id,
					  a->redirect_uri, a->client_name,
					  sizeof(a->client_name), &err);
	a->redirect_ok = rc == 1;
	return rc >= 0 && a->client_name[0];
}

static void render_consent(struct ctx *c, const struct authz_req *a,
			   const struct iam_principal *pr)
{
	struct bw_buf *b = &c->rs->body;
	char act[128];
	page_begin(c, 200, "Allow access?");
	put_s(c, "<p><strong>");
	put_e(c, a->client_name);
	put_s(c, "</strong> asks to use your account <strong>");
	put_e(c, pr->user_name);
	put_s(c, "</strong> with these permissions:</p><ul>");
	const char *s = a->scope ? a->scope : "";
	while (*s) {
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ");
		if (!n)
			break;
		char word[128];
		bw_snprintf(word, sizeof(word), "%.*s", (int)n, s);
		put_s(c, "<li>");
		put_e(c, word);
		put_s(c, "</li>");
		s += n;
	}
	put_s(c, "</ul>");
	action_path(c, act, sizeof(act), "consent");
	chk(c, iam_html_form_begin(b, act, c->csrf, c->next));
	put_s(c, "<p><button type=\"submit\" name=\"decision\""
		 " value=\"allow\">Allow</button> "
		 "<button class=\"secondary\" "
		 "type=\"submit\" name=\"decision\" "
		 "value=\"deny\">Deny</button></p></form>");
	page_end(c);
}

static void consent(struct ctx *c, bool post)
{
	struct iam_principal pr;
	char tok[IAM_TOKEN_MAX];
	struct bw_err err;
	struct authz_req *a = calloc(1, sizeof(*a));
	if (!a) {
		simple_page(c, 503, "Unavailable", "Out of memory.");
		return;
	}
	if (!session_user(c, &pr, tok))
		goto out;
	if (!parse_authz(c, a)) {
		simple_page(c, 400, "Unknown request",
			    "This authorization request is not valid.");
		goto out;
	}
	if (!post) {
		render_consent(c, a, &pr);
		goto out;
	}
	const char *d = iam_form_get(c->form, "decision");
	if (d && strcmp(d, "allow") == 0) {
		if (iam_consent_grant(c->p->iam, c->tenant, pr.user_id,
				      a->client_id, a->scope, &err) < 0) {
			simple_page(c, 503, "Unavailable", "Try again later.");
			goto out;
		}
		audit(c, pr.user_id, "iam.oidc.consent", AUDIT_OUTCOME_SUCCESS,
		      a->client_id, "allow");
		redirect(c, c->next);
		goto out;
	}
	audit(c, pr.user_id, "iam.oidc.consent", AUDIT_OUTCOME_DENIED,
	      a->client_id, "deny");
	/* RFC 6749 4.1.2.1: tell the client, but only at a redirect URI it
	 * registered (never an open redirect). */
	if (!a->redirect_ok) {
		simple_page(c, 400, "Access denied", "You denied access.");
		goto out;
	}
	char loc[sizeof(c->rs->location)];
	bw_snprintf(loc, sizeof(loc), "%s", a->redirect_uri);
	if (iam_url_add_param(loc, sizeof(loc), "error", "access_denied") < 0 ||
	    (a->state &&
	     iam_url_add_param(loc, sizeof(loc), "state", a->state) < 0)) {
		simple_page(c, 400, "Access denied", "You denied access.");
		goto out;
	}
	redirect(c, loc);
out:
	bw_wipe(tok, sizeof(tok));
	free(a);
}

/* ------------------------------------------------------------ dispatch */

static void rp_fill(const struct iam_pages *p, const char *tenant,
		    struct bw_str hostv, bool tls, struct iam_rp_buf *out)
{
	char host[256] = "";
	size_t norigins = 0;
	memset(out, 0, sizeof(*out));
	if (hostv.len && hostv.len < sizeof(host) &&
	    strspn(hostv.p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
			    "RSTUVWXYZ0123456789.-:[]") >= hostv.len) {
		memcpy(host, hostv.p, hostv.len);
		host[hostv.len] = 0;
	}
	if (p->norigins) {
		for (size_t i = 0; i < p->norigins; i++)
			out->origins[i] = p->origin_ptrs[i];
		norigins = p->norigins;
	} else if (host[0]) {
		/* No origins configured: the request's own origin. The RP id
		 * still binds signatures to the host (rpIdHash). */
		bw_snprintf(out->origin, sizeof(out->origin), "%s://%s",
			    tls ? "https" : "http", host);
		out->origins[0] = out->origin;
		norigins = 1;
	}
	if (p->rp_id[0]) {
		bw_snprintf(out->rp_id, sizeof(out->rp_id), "%s", p->rp_id);
	} else {
		char *colon = host[0] == '[' ? NULL : strrchr(host, ':');
		if (colon)
			*colon = 0;
		bw_snprintf(out->rp_id, sizeof(out->rp_id), "%s", host);
	}
	out->rp = (struct iam_webauthn_rp){
	    .rp_id = out->rp_id,
	    .rp_name = p->issuer,
	    .origins = out->origins,
	    .norigins = norigins,
	    .require_uv = p->require_uv,
	    .attestation_roots = att_roots_for(p, tenant)};
}

int iam_pages_rp(const struct iam *iam, const char *tenant, struct bw_str host,
		 bool tls, struct iam_rp_buf *out)
{
	if (!iam->pages)
		return -1;
	rp_fill(iam->pages, tenant, host, tls, out);
	return 0;
}

static void derive_rp(struct ctx *c)
{
	rp_fill(c->p, c->tenant, c->rq->host, c->rq->tls, &c->rpb);
}

static void static_asset(struct iam_pages_resp *rs, const char *body,
			 const char *type)
{
	rs->status = 200;
	rs->content_type = type;
	if (bw_buf_append_str(&rs->body, body) < 0)
		rs->status = 500;
}

void iam_pages_dispatch(struct iam_pages *p, const struct iam_pages_req *rq,
			struct iam_pages_resp *rs)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct bw_err err;
	rs->status = 500;
	rs->content_type = "text/plain";
	rs->location[0] = 0;
	rs->ncookies = 0;
	rs->form_action_self = false;
	if (!c)
		return;
	c->p = p;
	c->rq = rq;
	c->rs = rs;
	struct bw_str path = rq->path;
	bool get =
	    rq->method == HTTP_METHOD_GET || rq->method == HTTP_METHOD_HEAD;
	if (bw_str_eq_lit(path, "/auth/static/bw.js") && get) {
		static_asset(rs, iam_pages_js, "text/javascript");
		goto out;
	}
	if (bw_str_eq_lit(path, "/auth/static/bw.css") && get) {
		static_asset(rs, iam_pages_css, "text/css");
		goto out;
	}
	static const char prefix[] = "/auth/";
	size_t pl = sizeof(prefix) - 1;
	const char *t = path.p + pl;
	const char *slash =
	    path.len > pl ? memchr(t, '/', path.len - pl) : NULL;
	size_t tl = slash ? (size_t)(slash - t) : 0;
	if (path.len <= pl || memcmp(path.p, prefix, pl) != 0 || !slash ||
	    tl == 0 || tl > IAM_TENANT_MAX) {
		rs->status = 404;
		if (bw_buf_append_str(&rs->body, "not found\n") < 0)
			rs->status = 500;
		goto out;
	}
	memcpy(c->tenant, t, tl);
	c->tenant[tl] = 0;
	struct bw_str ep = bw_str_make(slash + 1, path.len - pl - tl - 1);
	if (!iam_valid_tenant_name(c->tenant) ||
	    iam_tenant_require(p->iam, c->tenant, NULL, &err) < 0) {
		rs->status = 404;
		if (bw_buf_append_str(&rs->body, "not found\n") < 0)
			rs->status = 500;
		goto out;
	}
	derive_rp(c);
	csrf_ensure(c);
	c->form = malloc(sizeof(*c->form));
	if (!c->form) {
		simple_page(c, 503, "Unavailable", "Out of memory.");
		goto out;
	}
	bool post = rq->method == HTTP_METHOD_POST;
	if (post) {
		if (!bw_str_caseeq_lit(bw_str_make(rq->content_type.p,
						   rq->content_type.len > 33
						       ? 33
						       : rq->content_type.len),
				       "application/x-www-form-urlencoded") ||
		    iam_form_parse(c->form, rq->body.p, rq->body.len, &err) <
			0) {
			simple_page(c, 400, "Bad request",
				    "The form could not be read.");
			goto out;
		}
		take_next(c, iam_form_get(c->form, "next"));
		if (!csrf_ok(c)) {
			audit(c, NULL, "iam.web.csrf", AUDIT_OUTCOME_DENIED,
			      NULL, "csrf");
			simple_page(c, 403, "Form expired",
				    "This form is no longer valid. Go back, "
				    "reload the page and try again.");
			goto out;
		}
	} else if (get) {
		if (iam_form_parse(c->form, rq->query.p, rq->query.len, &err) <
		    0) {
			simple_page(c, 400, "Bad request",
				    "The address is not valid.");
			goto out;
		}
		take_next(c, iam_form_get(c->form, "next"));
	} else {
		rs->status = 405;
		if (bw_buf_append_str(&rs->body, "method not allowed\n") < 0)
			rs->status = 500;
		goto out;
	}
	char tok[IAM_TOKEN_MAX], uid[IAM_ID_LEN + 1];
	struct iam_principal pr;
	if (bw_str_eq_lit(ep, "login")) {
		if (post)
			do_login(c);
		else
			render_login(c, 200, NULL, NULL);
	} else if (bw_str_eq_lit(ep, "mfa")) {
		if (post) {
			do_mfa(c);
		} else if (mfa_user(c, tok, uid)) {
			struct mfa_view v = {0};
			render_mfa(c, 200, uid, &v);
		}
	} else if (bw_str_eq_lit(ep, "mfa/send") && post) {
		do_mfa_send(c);
	} else if (bw_str_eq_lit(ep, "password")) {
		if (post)
			do_password(c);
		else if (tenant_cookie(c, "pw", tok, sizeof(tok)))
			render_password(c, 200, NULL);
		else
			redirect_page(c, "login");
	} else if (bw_str_eq_lit(ep, "enrol")) {
		if (post)
			do_enrol(c);
		else
			render_enrol(c, 200, NULL);
	} else if (bw_str_eq_lit(ep, "consent")) {
		consent(c, post);
	} else if (bw_str_eq_lit(ep, "account") && !post) {
		if (session_user(c, &pr, tok))
			render_account(c, 200, tok, &pr, NULL, NULL);
	} else if (bw_str_eq_lit(ep, "webauthn/register") && post) {
		do_register(c);
	} else if (bw_str_eq_lit(ep, "webauthn/delete") && post) {
		do_key_delete(c);
	} else if (bw_str_eq_lit(ep, "sessions/revoke") && post) {
		do_revoke_others(c);
	} else if (bw_str_eq_lit(ep, "recovery") && post) {
		do_recovery(c);
	} else if (bw_str_eq_lit(ep, "stepup") && post) {
		do_stepup(c);
	} else if (bw_str_eq_lit(ep, "logout") && post) {
		do_logout(c);
	} else {
		simple_page(c, 404, "Not found", "There is no such page.");
	}
	bw_wipe(tok, sizeof(tok));
out:
	if (c->form) {
		bw_wipe(c->form, sizeof(*c->form));
		free(c->form);
	}
	bw_wipe(c, sizeof(*c));
	free(c);
}

/* ------------------------------------------------------------ net glue */

struct pages_job {
	struct iam_pages *p;
	struct net_exchange *x;
	struct iam_pages_req rq;
	struct iam_pages_resp rs;
};

static void pages_work(void *arg)
{
	struct pages_job *j = arg;
	iam_pages_dispatch(j->p, &j->rq, &j->rs);
}

static void pages_done(void *arg)
{
	struct pages_job *j = arg;
	struct iam_pages_resp *rs = &j->rs;
	struct net_exchange *x = j->x;
	/* Scripts and styles come from this origin only, nothing inline;
	 * forms post back here unless they lead on to a client's redirect
	 * URI (Chromium applies form-action to redirects after a POST). */
	net_add_header(x, "Content-Security-Policy",
		       rs->form_action_self
			   ? "default-src 'none'; script-src 'self'; "
			     "style-src 'self'; img-src 'self' data:; "
			     "connect-src 'self'; base-uri 'none'; "
			     "frame-ancestors 'none'; form-action 'self'"
			   : "default-src 'none'; script-src 'self'; "
			     "style-src 'self'; img-src 'self' data:; "
			     "connect-src 'self'; base-uri 'none'; "
			     "frame-ancestors 'none'");
	net_add_header(x, "X-Frame-Options", "DENY");
	net_add_header(x, "X-Content-Type-Options", "nosniff");
	/* Not "no-referrer": with it browsers send "Origin: null" on our own
	 * form posts, which the CSRF check must refuse. */
	net_add_header(x, "Referrer-Policy", "same-origin");
	net_add_header(x, "Cache-Control", "no-store");
	for (size_t i = 0; i < rs->ncookies; i++)
		net_add_header(x, "Set-Cookie", rs->cookies[i]);
	if (rs->location[0])
		net_add_header(x, "Location", rs->location);
	net_respond(x, rs->status, rs->content_type,
		    rs->body.data ? rs->body.data : "", rs->body.len);
	bw_buf_wipe_fini(&rs->body);
	bw_wipe(rs->cookies, sizeof(rs->cookies));
	free(j);
}

static struct bw_str hdr(const struct http_request *r, const char *name)
{
	const struct http_header *h =
	    http_header_find(r->headers, r->nheaders, name);
	return h ? h->value : bw_str_make("", 0);
}

void iam_pages_net_handler(struct net_exchange *x, void *arg)
{
	struct iam_pages *p = arg;
	const struct http_request *r = net_request(x);
	struct pages_job *j = calloc(1, sizeof(*j));
	if (!j) {
		net_respond(x, 503, "text/plain", "unavailable\n", 12);
		return;
	}
	j->p = p;
	j->x = x;
	/* The request stays valid until net_respond (in pages_done). */
	j->rq = (struct iam_pages_req){.method = (int)r->method,
				       .path = r->path,
				       .query = r->query,
				       .body = net_request_body(x),
				       .content_type = hdr(r, "content-type"),
				       .cookie = hdr(r, "cookie"),
				       .origin = hdr(r, "origin"),
				       .fetch_site = hdr(r, "sec-fetch-site"),
				       .host = hdr(r, "host"),
				       .peer_ip = net_peer_ip(x),
				       .tls = net_is_tls(x)};
	bw_buf_init(&j->rs.body, 1 << 18);
	if (!p->pool) {
		pages_work(j);
		pages_done(j);
		return;
	}
	/* Sign-in and password posts run Argon2id: on the hashing pool, so a
	 * burst of them never delays the other pool's work. */
	size_t pl = r->path.len;
	bool hashing =
	    r->method == HTTP_METHOD_POST &&
	    ((pl >= 6 && memcmp(r->path.p + pl - 6, "/login", 6) == 0) ||
	     (pl >= 9 && memcmp(r->path.p + pl - 9, "/password", 9) == 0));
	if (tpool_submit(hashing ? p->hash_pool : p->pool, pages_work,
			 pages_done, j, net_loop(x)) < 0) {
		bw_buf_fini(&j->rs.body);
		free(j);
		net_add_header(x, "Retry-After", "1");
		net_respond(x, 503, "text/plain", "busy\n", 5);
	}
}
