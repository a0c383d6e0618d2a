/* Unit tests for the login pages through iam_pages_dispatch: the sign-in
 * form's markup (lang, labels, CSRF field), cookies (__Host-, HttpOnly,
 * Secure, SameSite), CSRF refused when missing, wrong or cross-origin,
 * the same page for a wrong password and an unknown user, the MFA step
 * with TOTP, the OIDC round trip (authorize -> login -> consent ->
 * authorize -> code), consent denial, open-redirect attempts in "next",
 * step-up before adding a security key, logout, and the config binder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "iam/iam_pages_int.h"
#include "iam/tests/iam_testlib.h"

#define FORM "application/x-www-form-urlencoded"
#define PW "correct horse battery staple"

static char dir[64];
static struct store *st;
static struct iam *iam;
static struct iam_pages *pages;
static struct iam_oidc_http *oh;
static char uid[IAM_ID_LEN + 1], cid[IAM_ID_LEN + 1];
static struct iam_pages_resp rs;
static char jar[2048]; /* "name=value; ..." like a browser's */
static const char *origin = "https://id.example";

static int setup(void **state)
{
	(void)state;
	struct bw_err err;
	if (iam_test_open(dir, &st, &iam) < 0)
		return -1;
	struct iam_user u;
	struct iam_user_spec us = {.name = "bob",
				   .email = "bob@x.example",
				   .password = PW,
				   .password_len = strlen(PW)};
	char sec[IAM_TOKEN_MAX];
	struct iam_oidc_client_spec c = {.name = "Shop",
					 .redirect_uris =
					     "https://rp.example/cb",
					 .grant_types = "authorization_code",
					 .scopes = "openid profile",
					 .public_client = true};
	if (iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0 ||
	    iam_user_create(iam, "acme", &us, &u, &err) < 0 ||
	    iam_oidc_client_create(iam, "acme", &c, cid, sec, &err) < 0)
		return -1;
	memcpy(uid, u.id, sizeof(uid));
	const char *const origins[] = {origin};
	struct iam_pages_options po = {.iam = iam,
				       .rp_id = "id.example",
				       .origins = origins,
				       .norigins = 1};
	pages = iam_pages_new(&po, &err);
	oh = iam_oidc_http_new(iam, NULL, origin, &err);
	bw_buf_init(&rs.body, 1 << 18);
	jar[0] = 0;
	return pages && oh ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	bw_buf_fini(&rs.body);
	iam_pages_free(pages);
	iam_oidc_http_free(oh);
	return iam_test_close(dir, st, iam);
}

/* Keeps Set-Cookie values in the jar (Max-Age=0 removes). */
static void absorb_cookies(void)
{
	for (size_t i = 0; i < rs.ncookies; i++) {
		const char *ck = rs.cookies[i];
		assert_non_null(strstr(ck, "; Secure"));
		assert_non_null(strstr(ck, "; HttpOnly"));
		assert_non_null(strstr(ck, "; SameSite="));
		assert_memory_equal(ck, "__Host-", 7);
		size_t nl = (size_t)(strchr(ck, '=') - ck);
		size_t vl = strcspn(ck + nl + 1, ";");
		/* drop an existing entry of that name */
		char out[2048] = "";
		for (char *p = jar; *p;) {
			size_t l = strcspn(p, ";");
			if (!(l > nl && memcmp(p, ck, nl) == 0 && p[nl] == '='))
				bw_snprintf(out + strlen(out),
					    sizeof(out) - strlen(out), "%s%.*s",
					    out[0] ? "; " : "", (int)l, p);
			p += l;
			while (*p == ';' || *p == ' ')
				p++;
		}
		if (!strstr(ck, "Max-Age=0"))
			bw_snprintf(out + strlen(out),
				    sizeof(out) - strlen(out), "%s%.*s",
				    out[0] ? "; " : "", (int)(nl + 1 + vl), ck);
		memcpy(jar, out, sizeof(jar));
	}
}

static int page(int method, const char *path, const char *query,
		const char *body, const char *org)
{
	struct iam_pages_req rq = {
	    .method = method,
	    .path = bw_str_make(path, strlen(path)),
	    .query = bw_str_make(query ? query : "", query ? strlen(query) : 0),
	    .body = bw_str_make(body ? body : "", body ? strlen(body) : 0),
	    .content_type = bw_str_make(FORM, strlen(FORM)),
	    .cookie = bw_str_make(jar, strlen(jar)),
	    .origin = bw_str_make(org ? org : "", org ? strlen(org) : 0),
	    .host = BW_STR("id.example"),
	    .peer_ip = "192.0.2.7",
	    .tls = true};
	bw_buf_reset(&rs.body);
	iam_pages_dispatch(pages, &rq, &rs);
	absorb_cookies();
	if (bw_buf_append_byte(&rs.body, 0) < 0)
		fail();
	return rs.status;
}

static int authorize(const char *query)
{
	struct iam_http_req rq = {.method = HTTP_METHOD_GET,
				  .path = BW_STR("/oidc/acme/authorize"),
				  .query = bw_str_make(query, strlen(query)),
				  .cookie = bw_str_make(jar, strlen(jar)),
				  .peer_ip = "192.0.2.7"};
	struct iam_http_resp r;
	bw_buf_init(&r.body, 1 << 16);
	iam_oidc_http_dispatch(oh, &rq, &r);
	bw_snprintf(rs.location, sizeof(rs.location), "%s", r.location);
	bw_buf_fini(&r.body);
	return r.status;
}

static void csrf_of_jar(char out[64])
{
	const char *p = strstr(jar, "__Host-bw-csrf=");
	assert_non_null(p);
	bw_snprintf(out, 64, "%.43s", p + 15);
}

static void login_page_markup_and_csrf(void **state)
{
	(void)state;
	char csrf[64], body[512];
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/login", NULL, NULL, NULL), 200);
	const char *h = rs.body.data;
	assert_non_null(strstr(h, "<html lang=\"en\">"));
	assert_non_null(strstr(h, "<label for=\"username\">"));
	assert_non_null(strstr(h, "<label for=\"password\">"));
	assert_non_null(strstr(h, "<h1>Sign in</h1>"));
	assert_non_null(strstr(h, "name=\"csrf\""));
	assert_null(strstr(h, "<script>")); /* nothing inline */
	assert_true(rs.form_action_self);
	csrf_of_jar(csrf);
	/* Missing, wrong, and cross-origin CSRF: refused, nothing logged. */
	bw_snprintf(body, sizeof(body), "username=bob&password=%s", PW);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, NULL), 403);
	bw_snprintf(body, sizeof(body),
		    "csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&username="
		    "bob&password=%s",
		    PW);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, NULL), 403);
	bw_snprintf(body, sizeof(body), "csrf=%s&username=bob&password=%s",
		    csrf, PW);
	assert_int_equal(page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body,
			      "https://evil.example"),
			 403);
	assert_null(strstr(jar, "__Host-bw-s-acme"));
	/* Wrong password and unknown user: the same page. */
	char a[8192], b[8192];
	bw_snprintf(body, sizeof(body),
		    "csrf=%s&username=bob&password=wrong+wrong+wrong", csrf);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, origin),
	    401);
	bw_snprintf(a, sizeof(a), "%s", rs.body.data);
	assert_non_null(strstr(a, "role=\"alert\""));
	assert_non_null(strstr(a, "aria-describedby=\"err\""));
	bw_snprintf(body, sizeof(body),
		    "csrf=%s&username=bob&password=wrong+wrong+wrong", csrf);
	bw_snprintf(body, sizeof(body),
		    "csrf=%s&username=nobody&password=wrong+wrong+wrong", csrf);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, origin),
	    401);
	bw_snprintf(b, sizeof(b), "%s", rs.body.data);
	/* Only the echoed user name differs. */
	char *pa = strstr(a, "value=\"bob\""),
	     *pb = strstr(b, "value=\"nobody\"");
	assert_non_null(pa);
	assert_non_null(pb);
	assert_memory_equal(a, b, (size_t)(pa - a));
	/* Right password: session cookie, Lax, then the account page. */
	bw_snprintf(body, sizeof(body), "csrf=%s&username=bob&password=%s",
		    csrf, PW);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, origin),
	    303);
	assert_string_equal(rs.location, "/auth/acme/account");
	assert_non_null(strstr(rs.cookies[0], "SameSite=Lax"));
	assert_non_null(strstr(jar, "__Host-bw-s-acme=bws_"));
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/account", NULL, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "Signed in as <strong>bob"));
	/* Password-only user: the fresh login counts as recent, so the
	 * registration form is offered (with its options). */
	assert_non_null(strstr(rs.body.data, "data-webauthn=\"create\""));
	/* Sessions: this browser and another device; sign out the other. */
	assert_non_null(strstr(rs.body.data, "this browser"));
	assert_null(strstr(rs.body.data, "Sign out everywhere else"));
	struct iam_login_result other;
	struct iam_login_request lq = {"acme", "bob", PW, strlen(PW),
				       "198.51.100.9"};
	iam_login(iam, &lq, &other);
	assert_int_equal(other.status, IAM_LOGIN_OK);
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/account", NULL, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "198.51.100.9"));
	assert_non_null(strstr(rs.body.data, "Sign out everywhere else"));
	bw_snprintf(body, sizeof(body), "csrf=%s", csrf);
	assert_int_equal(page(HTTP_METHOD_POST, "/auth/acme/sessions/revoke",
			      NULL, body, origin),
			 200);
	assert_non_null(strstr(rs.body.data, "Signed out everywhere else."));
	struct iam_principal pr;
	assert_int_equal(iam_authenticate_bearer(iam, other.session_token,
						 strlen(other.session_token),
						 &pr),
			 -1);
	/* Logout ends the session. */
	bw_snprintf(body, sizeof(body), "csrf=%s", csrf);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/logout", NULL, body, origin),
	    303);
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/account", NULL, NULL, NULL), 303);
	assert_memory_equal(rs.location, "/auth/acme/login?next=", 22);
}

static void next_is_local_only(void **state)
{
	(void)state;
	const char *evil[] = {
	    "https://evil.example/", "//evil.example/x",
	    "/auth/other/account",   "/auth/acme/../../x",
	    "/oidc/acme/token?x",    "/auth/acme//evil.example",
	    "/auth/acme/account\\x"};
	char q[256];
	for (size_t i = 0; i < BW_ARRAY_LEN(evil); i++) {
		char enc[200] = "";
		for (const char *p = evil[i]; *p; p++)
			bw_snprintf(enc + strlen(enc),
				    sizeof(enc) - strlen(enc), "%%%02X",
				    (unsigned char)*p);
		bw_snprintf(q, sizeof(q), "next=%s", enc);
		assert_int_equal(
		    page(HTTP_METHOD_GET, "/auth/acme/login", q, NULL, NULL),
		    200);
		if (strstr(rs.body.data, "name=\"next\""))
			fail_msg("next accepted: %s", evil[i]);
	}
}

static void oidc_round_trip_with_totp(void **state)
{
	(void)state;
	struct bw_err err;
	char csrf[64], body[1024], q[1024], code[16];
	struct iam_totp_enrolment e;
	char rc[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	/* Bob has TOTP: login needs the second step. */
	assert_int_equal(
	    iam_totp_begin(iam, "acme", uid, "x", IAM_TOTP_SHA1, 6, &e, &err),
	    0);
	uint8_t secret[64];
	size_t sl = 0;
	/* Read the secret back from the otpauth URI's base32. */
	const char *b32 = e.secret_b32;
	uint32_t acc = 0;
	int bits = 0;
	for (const char *p = b32; *p; p++) {
		const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
		const char *f = strchr(al, *p);
		if (!f)
			continue;
		acc = acc << 5 | (uint32_t)(f - al);
		bits += 5;
		if (bits >= 8) {
			secret[sl++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	int64_t step = bw_clock_now_s() / 30;
	assert_int_equal(
	    iam_hotp(secret, sl, IAM_TOTP_SHA1, 6, (uint64_t)step - 1, code),
	    0);
	assert_int_equal(iam_totp_confirm(iam, "acme", uid, code, rc, &err), 0);
	bw_snprintf(q, sizeof(q),
		    "response_type=code&client_id=%s&redirect_uri=https%%3A%%2F"
		    "%%2Frp.example%%2Fcb&scope=openid&state=s1&code_challenge="
		    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
		    "&code_challenge_method=S256",
		    cid);
	/* prompt=none never shows a page: errors go back to the client. */
	char qn[1100];
	bw_snprintf(qn, sizeof(qn), "%s&prompt=none", q);
	assert_int_equal(authorize(qn), 302);
	assert_string_equal(rs.location,
			    "https://rp.example/cb?error=login_required&state=s1");
	/* No session: to the login page, with the request as next. */
	assert_int_equal(authorize(q), 302);
	assert_memory_equal(rs.location, "/auth/acme/login?next=", 22);
	char next[1024];
	bw_snprintf(next, sizeof(next), "%s", rs.location + 22);
	char lq[1100];
	bw_snprintf(lq, sizeof(lq), "next=%s", next);
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/login", lq, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "name=\"next\""));
	assert_false(rs.form_action_self);
	csrf_of_jar(csrf);
	bw_snprintf(body, sizeof(body),
		    "csrf=%s&username=bob&password=%s&next=%s", csrf, PW, next);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, origin),
	    303);
	assert_memory_equal(rs.location, "/auth/acme/mfa?next=", 20);
	assert_non_null(strstr(jar, "__Host-bw-mfa-acme=bwc_"));
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/mfa", lq, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "Authenticator app"));
	bw_snprintf(body, sizeof(body),
		    "csrf=%s&method=totp&code=000000&next=%s", csrf, next);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/mfa", NULL, body, origin), 401);
	assert_int_equal(
	    iam_hotp(secret, sl, IAM_TOTP_SHA1, 6, (uint64_t)step, code), 0);
	bw_snprintf(body, sizeof(body), "csrf=%s&method=totp&code=%s&next=%s",
		    csrf, code, next);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/mfa", NULL, body, origin), 303);
	assert_memory_equal(rs.location, "/oidc/acme/authorize?", 21);
	assert_null(strstr(jar, "__Host-bw-mfa-acme"));
	/* Signed in; no consent yet. */
	assert_int_equal(authorize(qn), 302);
	assert_string_equal(
	    rs.location, "https://rp.example/cb?error=consent_required&state=s1");
	assert_int_equal(authorize(q), 302);
	assert_memory_equal(rs.location, "/auth/acme/consent?next=", 24);
	bw_snprintf(lq, sizeof(lq), "next=%s", rs.location + 24);
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/consent", lq, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "<strong>Shop</strong>"));
	assert_non_null(strstr(rs.body.data, "<li>openid</li>"));
	/* Deny: back to the client with access_denied and the state. */
	bw_snprintf(body, sizeof(body), "csrf=%s&decision=deny&next=%s", csrf,
		    lq + 5);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/consent", NULL, body, origin),
	    303);
	assert_string_equal(
	    rs.location, "https://rp.example/cb?error=access_denied&state=s1");
	/* Allow: back to authorize, which now issues the code. */
	bw_snprintf(body, sizeof(body), "csrf=%s&decision=allow&next=%s", csrf,
		    lq + 5);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/consent", NULL, body, origin),
	    303);
	assert_memory_equal(rs.location, "/oidc/acme/authorize?", 21);
	assert_int_equal(authorize(q), 302);
	assert_memory_equal(rs.location, "https://rp.example/cb?code=bwa_", 31);
	assert_non_null(strstr(rs.location, "&state=s1"));
	/* prompt=login / max_age: fresh enough right after the sign-in;
	 * two minutes later they send the browser to sign in again. */
	char q2[1100];
	bw_snprintf(q2, sizeof(q2), "%s&prompt=login", q);
	assert_int_equal(authorize(q2), 302);
	assert_memory_equal(rs.location, "https://rp.example/cb?code=", 27);
	bw_clock_advance(120 * 1000000000LL);
	assert_int_equal(authorize(q2), 302);
	assert_memory_equal(rs.location, "/auth/acme/login?next=", 22);
	bw_snprintf(q2, sizeof(q2), "%s&max_age=60", q);
	assert_int_equal(authorize(q2), 302);
	assert_memory_equal(rs.location, "/auth/acme/login?next=", 22);
	bw_snprintf(q2, sizeof(q2), "%s&max_age=3600", q);
	assert_int_equal(authorize(q2), 302);
	assert_memory_equal(rs.location, "https://rp.example/cb?code=", 27);
	bw_clock_advance(-120 * 1000000000LL);
	/* Step-up: the MFA login marked the session, so the account page
	 * offers a new security key directly. */
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/account", NULL, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "data-webauthn=\"create\""));
	/* Recovery codes: made after a recent second factor, shown once. */
	assert_non_null(strstr(rs.body.data, "Make new recovery codes"));
	bw_snprintf(body, sizeof(body), "csrf=%s", csrf);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/recovery", NULL, body, origin),
	    200);
	int ncodes = 0;
	for (const char *p = rs.body.data; (p = strstr(p, "<code>")); p++)
		ncodes++;
	assert_int_equal(ncodes, IAM_RECOVERY_CODES);
	/* A tenant window (policy step_up_s) shorter than the pages' one
	 * applies. */
	struct iam_tenant tp;
	struct bw_err terr;
	assert_int_equal(iam_tenant_get(iam, "acme", &tp, &terr), 0);
	tp.policy.step_up_s = 60;
	assert_int_equal(
	    iam_tenant_update(iam, "acme", NULL, &tp.policy, &terr), 0);
	bw_clock_advance(61 * 1000000000LL);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/recovery", NULL, body, origin),
	    403);
	bw_clock_advance(-61 * 1000000000LL);
	tp.policy.step_up_s = IAM_STEPUP_DEFAULT_S;
	assert_int_equal(
	    iam_tenant_update(iam, "acme", NULL, &tp.policy, &terr), 0);
	/* Later than the step-up window: the same post is refused (403) and
	 * the page offers "Confirm it is you" instead. */
	bw_clock_advance((IAM_STEPUP_DEFAULT_S + 1) * 1000000000LL);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/recovery", NULL, body, origin),
	    403);
	assert_non_null(strstr(rs.body.data, "Confirm it is you"));
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/stepup", NULL, body, origin),
	    303);
	assert_memory_equal(rs.location, "/auth/acme/mfa", 14);
	bw_clock_advance(-(IAM_STEPUP_DEFAULT_S + 1) * 1000000000LL);
	/* A registration post with garbage is refused, not stored. */
	bw_snprintf(body, sizeof(body),
		    "csrf=%s&client_data=e30&attestation=oA&key_name=k", csrf);
	assert_int_equal(page(HTTP_METHOD_POST, "/auth/acme/webauthn/register",
			      NULL, body, origin),
			 400);
}

/* Forced enrolment: where MFA is required and the tenant lets users
 * enrol at sign-in, a user without a factor gets the set-up page (QR and
 * key), a wrong code keeps the same key, the right one signs in and shows
 * the recovery codes once. */
static void forced_enrolment(void **state)
{
	(void)state;
	struct bw_err err;
	struct iam_tenant t;
	struct iam_user u;
	char csrf[64], body[512], code[16];
	uint8_t sec[64];
	struct iam_user_spec us = {.name = "carl",
				   .password = PW,
				   .password_len = strlen(PW)};
	assert_int_equal(iam_user_create(iam, "acme", &us, &u, &err), 0);
	assert_int_equal(iam_tenant_get(iam, "acme", &t, &err), 0);
	t.policy.mfa_required = true;
	t.policy.mfa_enrol_at_login = true;
	assert_int_equal(iam_tenant_update(iam, "acme", NULL, &t.policy, &err),
			 0);
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/login", NULL, NULL, NULL), 200);
	csrf_of_jar(csrf);
	bw_snprintf(body, sizeof(body), "csrf=%s&username=carl&password=%s",
		    csrf, PW);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/login", NULL, body, origin),
	    303);
	assert_string_equal(rs.location, "/auth/acme/enrol");
	assert_non_null(strstr(jar, "__Host-bw-enrol-acme=bwc_"));
	assert_null(strstr(jar, "__Host-bw-s-acme"));
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/enrol", NULL, NULL, NULL), 200);
	assert_non_null(strstr(rs.body.data, "<svg"));
	assert_null(strstr(rs.body.data, "<?xml"));
	const char *k = strstr(rs.body.data, "Key: <code>");
	assert_non_null(k);
	char key[128];
	bw_snprintf(key, sizeof(key), "%.*s",
		    (int)strcspn(k + 11, "<"), k + 11);
	size_t n = iam_test_b32_decode(key, sec);
	assert_int_equal(n, 20);
	bw_snprintf(body, sizeof(body), "csrf=%s&code=000000", csrf);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/enrol", NULL, body, origin),
	    400);
	assert_null(strstr(rs.body.data, "<svg")); /* the same key stays */
	assert_non_null(strstr(rs.body.data, "role=\"alert\""));
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6,
				  (uint64_t)bw_clock_now_s() / 30, code),
			 0);
	bw_snprintf(body, sizeof(body), "csrf=%s&code=%s", csrf, code);
	assert_int_equal(
	    page(HTTP_METHOD_POST, "/auth/acme/enrol", NULL, body, origin),
	    200);
	assert_non_null(strstr(rs.body.data, "<ul class=\"codes\">"));
	assert_non_null(strstr(jar, "__Host-bw-s-acme=bws_"));
	assert_null(strstr(jar, "__Host-bw-enrol-acme"));
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/account", NULL, NULL, NULL), 200);
	/* The challenge is spent: the page sends the browser to sign in. */
	assert_int_equal(
	    page(HTTP_METHOD_GET, "/auth/acme/enrol", NULL, NULL, NULL), 303);
	/* Next sign-in asks for the new factor. */
	struct iam_login_request rq = {"acme", "carl", PW, strlen(PW),
				       "192.0.2.7"};
	struct iam_login_result r;
	iam_login(iam, &rq, &r);
	assert_int_equal(r.status, IAM_LOGIN_MFA_REQUIRED);
}

static void conf_binder(void **state)
{
	(void)state;
	struct bw_err err;
	struct iam_pages_conf pc;
	const char *good = "iam:\n  pages:\n    rp_id: id.example\n"
			   "    origins: [\"https://id.example\"]\n"
			   "    step_up: 10m\n  otp:\n"
			   "    smtp_url: smtp://127.0.0.1:2525\n"
			   "    smtp_from: login@id.example\n";
	struct bw_arena *ar = bw_arena_new(4096, 1 << 20);
	struct conf_doc *d =
	    conf_load_string("t.yaml", good, strlen(good), ar, &err);
	assert_non_null(d);
	assert_int_equal(
	    iam_pages_conf_bind(conf_get(d->root, "iam"), &pc, &err), 0);
	assert_string_equal(pc.opt.rp_id, "id.example");
	assert_int_equal(pc.opt.norigins, 1);
	assert_int_equal(pc.opt.stepup_s, 600);
	assert_string_equal(pc.opt.otp.smtp_from, "login@id.example");
	iam_pages_conf_fini(&pc);
	const char *roots = "iam:\n  pages:\n    attestation_roots:\n"
			    "      acme: /etc/bulwark/fido.pem\n"
			    "      \"*\": /etc/bulwark/all.pem\n";
	d = conf_load_string("t.yaml", roots, strlen(roots), ar, &err);
	assert_non_null(d);
	assert_int_equal(
	    iam_pages_conf_bind(conf_get(d->root, "iam"), &pc, &err), 0);
	assert_int_equal(pc.opt.natt, 2);
	assert_string_equal(pc.opt.att_tenants[0], "acme");
	assert_string_equal(pc.opt.att_files[1], "/etc/bulwark/all.pem");
	iam_pages_conf_fini(&pc);
	/* A roots file that is not there fails the start, not a sign-in. */
	pc.opt.iam = iam;
	assert_null(iam_pages_new(&pc.opt, &err));
	assert_true(err.code >= 400);
	const char *bad[] = {
	    "iam:\n  pages:\n    rp_idd: x\n",
	    "iam:\n  pages:\n    origins: [\"ftp://x\"]\n",
	    "iam:\n  pages:\n    step_up: 2h\n",
	    "iam:\n  otp:\n    smtp_url: http://x\n",
	    "iam:\n  otp:\n    smtp_url: smtp://x\n",
	    "iam:\n  pages:\n    attestation_roots: /x.pem\n",
	    "iam:\n  pages:\n    attestation_roots:\n      Bad_Tenant: /x.pem\n",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		d = conf_load_string("t.yaml", bad[i], strlen(bad[i]), ar,
				     &err);
		assert_non_null(d);
		assert_int_equal(
		    iam_pages_conf_bind(conf_get(d->root, "iam"), &pc, &err),
		    -1);
	}
	bw_arena_free(ar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(login_page_markup_and_csrf, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(next_is_local_only, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(oidc_round_trip_with_totp, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(forced_enrolment, setup, teardown),
	    cmocka_unit_test_setup_teardown(conf_binder, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
