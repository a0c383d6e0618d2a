/*
 * Step-up and the per-role MFA policy (iam_stepup.c): when a session is
 * fresh (MFA sign-in, password sign-in of a user without a factor, a
 * step-up mark) and when it goes stale, on the settable clock; the
 * factor a step-up needs (code, password, enrolment first); throttling of
 * wrong codes; roles marked "MFA required" through a role_held hook;
 * the policy's range checks; and the admin API's list of sensitive
 * actions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/api.h"
#include "iam/iam_int.h"
#include "iam/tests/iam_testlib.h"

#define T0 (1700000000LL * 1000000000LL)
#define SEC 1000000000LL
#define PW "step up passphrase 12345"

static char dir[64];
static struct store *st;
static struct iam *iam;
static char uid[IAM_ID_LEN + 1], uid2[IAM_ID_LEN + 1];

/* A stand-in for the authorization engine: uid holds tenant-admin, which
 * includes security-admin; uid2 holds viewer. */
static int fake_roles(void *arg, const char *tenant, const char *user_id,
		      const char *role, struct bw_err *err)
{
	(void)arg;
	(void)tenant;
	static const char *const known[] = {"tenant-admin", "security-admin",
					    "viewer"};
	bool k = false;
	for (size_t i = 0; i < BW_ARRAY_LEN(known); i++)
		k = k || strcmp(known[i], role) == 0;
	if (!k)
		return bw_err_set(err, 400, "authz", "validation_error",
				  "unknown role");
	if (!user_id)
		return 0;
	if (strcmp(user_id, uid) == 0)
		return strcmp(role, "viewer") != 0;
	return strcmp(role, "viewer") == 0;
}

static int setup(void **state)
{
	(void)state;
	struct bw_err err;
	struct iam_user u;
	bw_clock_set(T0);
	if (iam_test_open(dir, &st, &iam) < 0)
		return -1;
	struct iam_user_spec us = {.name = "alice",
				   .password = PW,
				   .password_len = strlen(PW)};
	if (iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0 ||
	    iam_user_create(iam, "acme", &us, &u, &err) < 0)
		return -1;
	memcpy(uid, u.id, sizeof(uid));
	us.name = "bob";
	if (iam_user_create(iam, "acme", &us, &u, &err) < 0)
		return -1;
	memcpy(uid2, u.id, sizeof(uid2));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bw_clock_set(0);
	return iam_test_close(dir, st, iam);
}

/* A session of user (mfa: signed in with a second factor); OUT: handle. */
static void session(const char *user, bool mfa, char handle[IAM_ID_LEN + 1])
{
	assert_int_equal(iam_test_session(iam, "acme", user, mfa, handle), 0);
}

static enum iam_stepup_state state_of(const char *handle)
{
	enum iam_stepup_state s;
	int64_t w = 0;
	struct bw_err err;
	assert_int_equal(iam_stepup_state(iam, "acme", handle, &s, &w, &err),
			 0);
	assert_int_equal(w, IAM_STEPUP_DEFAULT_S);
	return s;
}

static int verify(const char *handle, const char *code, const char *pw,
		  struct bw_err *err)
{
	struct iam_stepup_proof p = {.code = code,
				     .password = pw,
				     .password_len = pw ? strlen(pw) : 0};
	return iam_stepup_verify(iam, "acme", uid, handle, &p, "192.0.2.1",
				 NULL, err);
}

/* A user without a second factor: the password sign-in is fresh for the
 * window, the password steps up, and step_up_require_mfa asks to enrol. */
static void without_factor(void **state)
{
	(void)state;
	char h[IAM_ID_LEN + 1];
	struct bw_err err;
	session(uid, false, h);
	assert_int_equal(state_of(h), IAM_STEPUP_FRESH);
	bw_clock_advance((IAM_STEPUP_DEFAULT_S + 1) * SEC);
	assert_int_equal(state_of(h), IAM_STEPUP_STALE);
	assert_int_equal(verify(h, "123456", NULL, &err), -1);
	assert_string_equal(err.reason, "password_required");
	assert_int_equal(verify(h, NULL, "wrong password here", &err), -1);
	assert_int_equal(err.code, 401);
	assert_string_equal(err.reason, "bad_password");
	assert_int_equal(state_of(h), IAM_STEPUP_STALE);
	assert_int_equal(verify(h, NULL, PW, &err), 0);
	assert_int_equal(state_of(h), IAM_STEPUP_FRESH);
	/* Another user's session cannot be stepped up by alice. */
	char h2[IAM_ID_LEN + 1];
	session(uid2, false, h2);
	assert_int_equal(verify(h2, NULL, PW, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(verify("00000000000000000000000000000000", NULL, PW,
				&err),
			 -1);
	assert_int_equal(err.code, 404);
	/* Where MFA is required and codes by e-mail are the user's factor,
	 * the account page (which sends them) is the way to step up. */
	struct iam_tenant t;
	struct iam_user_spec up = {.email = "alice@acme.example"};
	assert_int_equal(iam_user_update(iam, "acme", uid, &up, &err), 0);
	assert_int_equal(iam_tenant_get(iam, "acme", &t, &err), 0);
	t.policy.mfa_required = true;
	assert_int_equal(iam_tenant_update(iam, "acme", NULL, &t.policy, &err),
			 0);
	assert_int_equal(verify(h, NULL, PW, &err), -1);
	assert_string_equal(err.reason, "use_account_page");
	t.policy.mfa_required = false;
	/* The tenant demands a second factor for step-up. */
	t.policy.step_up_require_mfa = true;
	assert_int_equal(iam_tenant_update(iam, "acme", NULL, &t.policy, &err),
			 0);
	assert_int_equal(state_of(h), IAM_STEPUP_ENROL);
	assert_int_equal(verify(h, NULL, PW, &err), -1);
	assert_int_equal(err.code, 403);
	assert_string_equal(err.reason, "mfa_enrolment_required");
}

/* A user with TOTP: only an MFA sign-in or a code is strong; wrong codes
 * are counted and throttled; a code works once. */
static void with_totp(void **state)
{
	(void)state;
	struct bw_err err;
	struct iam_totp_enrolment e;
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	char code[16], h[IAM_ID_LEN + 1], hm[IAM_ID_LEN + 1];
	uint8_t sec[64];
	assert_int_equal(iam_totp_begin(iam, "acme", uid, NULL, IAM_TOTP_SHA1,
					6, &e, &err),
			 0);
	size_t n = iam_test_b32_decode(e.secret_b32, sec);
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6,
				  (uint64_t)bw_clock_now_s() / 30, code),
			 0);
	assert_int_equal(iam_totp_confirm(iam, "acme", uid, code, codes, &err),
			 0);
	/* A password-only session of a user with a factor is not strong. */
	session(uid, false, h);
	assert_int_equal(state_of(h), IAM_STEPUP_STALE);
	session(uid, true, hm);
	assert_int_equal(state_of(hm), IAM_STEPUP_FRESH);
	bw_clock_advance((IAM_STEPUP_DEFAULT_S + 1) * SEC);
	assert_int_equal(state_of(hm), IAM_STEPUP_STALE);
	assert_int_equal(verify(h, NULL, PW, &err), -1);
	assert_string_equal(err.reason, "code_required");
	assert_int_equal(verify(h, "000000", NULL, &err), -1);
	assert_int_equal(err.code, 401);
	assert_string_equal(err.reason, "bad_code");
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6,
				  (uint64_t)bw_clock_now_s() / 30, code),
			 0);
	/* Password and code: both must verify. */
	assert_int_equal(verify(h, code, "wrong password here", &err), -1);
	assert_string_equal(err.reason, "bad_password");
	bw_clock_advance(30 * SEC);
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6,
				  (uint64_t)bw_clock_now_s() / 30, code),
			 0);
	struct iam_oidc_auth au;
	assert_int_equal(iam_session_auth(iam, "acme", h, &au, &err), 0);
	assert_false(au.mfa);
	assert_int_equal(verify(h, code, PW, &err), 0);
	assert_int_equal(state_of(h), IAM_STEPUP_FRESH);
	/* A step-up with a code: the session has now passed MFA, and its
	 * last authentication is the step-up (OIDC auth_time, amr). */
	assert_int_equal(iam_session_auth(iam, "acme", h, &au, &err), 0);
	assert_true(au.mfa);
	assert_int_equal(au.auth_time, bw_clock_now_s());
	assert_int_equal(state_of(hm), IAM_STEPUP_STALE); /* per session */
	assert_int_equal(verify(hm, code, NULL, &err), -1); /* used once */
	assert_string_equal(err.reason, "bad_code");
	/* A recovery code steps up too, once. */
	assert_int_equal(verify(hm, codes[0], NULL, &err), 0);
	assert_int_equal(state_of(hm), IAM_STEPUP_FRESH);
	assert_int_equal(verify(hm, codes[0], NULL, &err), -1);
	/* Guessing is throttled like sign-in (5 failures per account+IP). */
	int throttled = 0;
	for (int i = 0; i < 8 && !throttled; i++)
		if (verify(h, "111111", NULL, &err) < 0 && err.code == 429)
			throttled = 1;
	assert_true(throttled);
	assert_string_equal(err.reason, "throttled");
}

static int collect(void *arg, const char *role)
{
	assert_true(strcmp(role, "security-admin") == 0 ||
		    strcmp(role, "viewer") == 0);
	(*(size_t *)arg)++;
	return 0;
}

/* Roles marked "MFA required": holders (also through an including role)
 * must use MFA at sign-in, others need not. */
static void mfa_roles(void **state)
{
	(void)state;
	struct bw_err err;
	assert_int_equal(iam_mfa_role_set(iam, "acme", "security-admin", true,
					  &err),
			 -1);
	assert_string_equal(err.reason, "no_roles");
	iam->role_held = fake_roles;
	assert_int_equal(iam_mfa_role_set(iam, "acme", "no-such-role", true,
					  &err),
			 -1);
	assert_string_equal(err.reason, "bad_role");
	assert_int_equal(iam_mfa_role_set(iam, "acme", "Bad Role!", true, &err),
			 -1);
	assert_string_equal(err.reason, "bad_role");
	assert_int_equal(iam_mfa_role_set(iam, "nope", "viewer", true, &err),
			 -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid, &err), 0);
	assert_int_equal(iam_mfa_role_set(iam, "acme", "security-admin", true,
					  &err),
			 0);
	assert_int_equal(iam_mfa_role_set(iam, "acme", "security-admin", true,
					  &err),
			 0); /* idempotent */
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid, &err), 1);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid2, &err), 0);
	/* Sign-in: alice (holder, no factor) is refused, bob is not. */
	struct iam_login_request rq = {"acme", "alice", PW, strlen(PW),
				       "192.0.2.9"};
	struct iam_login_result r;
	iam_login(iam, &rq, &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	rq.username = "bob";
	iam_login(iam, &rq, &r);
	assert_int_equal(r.status, IAM_LOGIN_OK);
	assert_int_equal(iam_mfa_role_set(iam, "acme", "viewer", true, &err), 0);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid2, &err), 1);
	size_t ngot = 0;
	assert_int_equal(iam_mfa_role_list(iam, "acme", collect, &ngot, &err),
			 0);
	assert_int_equal(ngot, 2);
	assert_int_equal(iam_mfa_role_set(iam, "acme", "viewer", false, &err), 0);
	assert_int_equal(iam_mfa_role_set(iam, "acme", "viewer", false, &err),
			 -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_mfa_role_set(iam, "acme", "security-admin", false,
					  &err),
			 0);
	assert_int_equal(iam_mfa_required_for(iam, "acme", uid, &err), 0);
}

/* The window and the opt-in are tenant policy with named bounds. */
static void policy_fields(void **state)
{
	(void)state;
	struct iam_policy p;
	struct bw_err err;
	iam_policy_defaults(&p);
	assert_int_equal(p.step_up_s, IAM_STEPUP_DEFAULT_S);
	assert_false(p.step_up_require_mfa);
	const char *ok = "{\"step_up_s\":60,\"step_up_require_mfa\":true}";
	assert_int_equal(iam_policy_from_json(ok, strlen(ok), &p, &err), 0);
	assert_int_equal(p.step_up_s, 60);
	assert_true(p.step_up_require_mfa);
	const char *lo = "{\"step_up_s\":29}";
	assert_int_equal(iam_policy_from_json(lo, strlen(lo), &p, &err), -1);
	const char *hi = "{\"step_up_s\":3601}";
	assert_int_equal(iam_policy_from_json(hi, strlen(hi), &p, &err), -1);
	const char *ty = "{\"step_up_require_mfa\":1}";
	assert_int_equal(iam_policy_from_json(ty, strlen(ty), &p, &err), -1);
}

/* Sensitive actions: the built-in list and what modules add. */
static void api_actions(void **state)
{
	(void)state;
	assert_true(api_step_up_needed("kms.key.destroy"));
	assert_true(api_step_up_needed("authz.role.grant"));
	assert_true(api_step_up_needed("pki.cert.revoke"));
	assert_true(api_step_up_needed("siem.rule.delete"));
	assert_false(api_step_up_needed("kms.key.get"));
	assert_false(api_step_up_needed("system.clock_set"));
	assert_false(api_step_up_needed(NULL));
	static const char *const mine[] = {"test.thing.delete"};
	assert_false(api_step_up_needed("test.thing.delete"));
	assert_int_equal(api_step_up_require(mine, 1), 0);
	assert_true(api_step_up_needed("test.thing.delete"));
	static const char *const bad[] = {NULL};
	assert_int_equal(api_step_up_require(bad, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(without_factor, setup, teardown),
	    cmocka_unit_test_setup_teardown(with_totp, setup, teardown),
	    cmocka_unit_test_setup_teardown(mfa_roles, setup, teardown),
	    cmocka_unit_test(policy_fields),
	    cmocka_unit_test(api_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
