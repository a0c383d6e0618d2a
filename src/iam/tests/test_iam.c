/* Unit tests for the identity core against a real SQLite store: tenants
 * and their isolation, users, attributes, groups, the password policy rule
 * by rule, the blocklist file, history, admin reset, Argon2id rehash,
 * login (including the dummy-hash path for unknown users), lockout
 * progression with a settable clock, known-source exemption, TOTP (RFC
 * 6238 appendix B vectors, enrolment, replay refusal), recovery codes,
 * sessions (idle/absolute timeouts, revocation), API keys (checksum,
 * scopes, expiry, rotation with overlap), the sealer and login events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event/event.h"
#include "iam/iam_int.h"
#include "iam/tests/iam_testlib.h"
#include "loop/loop.h"

#define T0 (1700000000LL * 1000000000LL)
#define PW "correct horse battery staple"

static char dir[64];
static struct store *st;
static struct iam *iam;
static struct bw_err err;

static struct iam *open_iam(struct iam_argon2 a, const char *blocklist)
{
	struct iam_options o = { .store = st, .argon2 = a, .blocklist_path = blocklist };
	uint8_t key[32];
	memset(key, 7, sizeof(key));
	assert_int_equal(iam_sealer_local(&o.sealer, key, &err), 0);
	struct iam *i = iam_new(&o, &err);
	if (!i)
		fail_msg("iam_new: %s", err.msg);
	return i;
}

static int setup(void **state)
{
	bw_clock_set(T0);
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-iam-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128], bl[128];
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	bw_snprintf(bl, sizeof(bl), "%s/blocklist.txt", dir);
	FILE *f = fopen(bl, "w");
	fputs("# common passwords\nPassword123456\n\nqwertyuiopasdf\r\nletmeinletmein\n", f);
	fclose(f);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	st = store_open(&so, &err);
	if (!st)
		return -1;
	iam = open_iam((struct iam_argon2){ 0 }, bl);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];
	iam_free(iam);
	iam = NULL;
	store_close(st);
	st = NULL;
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return -1;
	bw_clock_set(0);
	return 0;
}

static void mk_tenant(const char *name, const struct iam_policy *p)
{
	if (iam_tenant_create(iam, name, NULL, p, NULL, &err) < 0)
		fail_msg("tenant %s: %s", name, err.msg);
}

static void mk_user(const char *tenant, const char *name, const char *pw,
		    struct iam_user *u)
{
	struct iam_user_spec s = { .name = name, .password = pw,
				   .password_len = pw ? strlen(pw) : 0 };
	if (iam_user_create(iam, tenant, &s, u, &err) < 0)
		fail_msg("user %s: %s (%s)", name, err.msg, err.reason);
}

static enum iam_login_status login(const char *tenant, const char *name, const char *pw,
				   const char *ip, struct iam_login_result *r)
{
	struct iam_login_request req = { tenant, name, pw, strlen(pw), ip };
	iam_login(iam, &req, r);
	return r->status;
}

/* ---------------------------------------------------------------- events */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct bw_event events[64];
static int nevents;

static void collect(const struct bw_event *ev, void *arg)
{
	pthread_mutex_lock(&ev_mu);
	if (strcmp(ev->category, "authentication") == 0 && nevents < 64)
		events[nevents++] = *ev;
	pthread_mutex_unlock(&ev_mu);
}

static const char *field(const struct bw_event *ev, const char *k)
{
	for (int i = 0; i < ev->nfields; i++)
		if (strcmp(ev->fields[i].key, k) == 0)
			return ev->fields[i].value;
	return "";
}

/* ---------------------------------------------------------------- tests */

static void tenants(void **state)
{
	struct iam_tenant t;
	assert_int_equal(iam_tenant_get(iam, IAM_PLATFORM_TENANT, &t, &err), 0);
	mk_tenant("acme", NULL);
	assert_int_equal(iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err), -1);
	assert_int_equal(err.code, 409);
	const char *bad[] = { "", "Acme", "-acme", "ac me", "acme/x", "a_b",
			      "0123456789012345678901234567890123456789012345678901234567890123" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		assert_int_equal(iam_tenant_create(iam, bad[i], NULL, NULL, NULL, &err), -1);
		assert_string_equal(err.reason, "bad_name");
	}
	assert_int_equal(iam_tenant_get(iam, "acme", &t, &err), 0);
	assert_int_equal(t.policy.pw_min_length, IAM_PW_MIN_DEFAULT);
	t.policy.pw_min_length = 16;
	t.policy.mfa_required = true;
	assert_int_equal(iam_tenant_update(iam, "acme", "ACME Corp", &t.policy, &err), 0);
	assert_int_equal(iam_tenant_get(iam, "acme", &t, &err), 0);
	assert_int_equal(t.policy.pw_min_length, 16);
	assert_true(t.policy.mfa_required);
	assert_string_equal(t.display_name, "ACME Corp");
	/* Out-of-range policies are refused. */
	t.policy.pw_max_length = 32; /* NIST: at least 64 */
	assert_int_equal(iam_tenant_update(iam, "acme", NULL, &t.policy, &err), -1);
	assert_string_equal(err.reason, "bad_policy");
	iam_policy_defaults(&t.policy);
	t.policy.pw_min_length = 4;
	assert_int_equal(iam_policy_check(&t.policy, &err), -1);
	/* Policy JSON: partial updates, unknown keys refused. */
	struct iam_policy p;
	iam_policy_defaults(&p);
	assert_int_equal(iam_policy_from_json("{\"pw_history\":3}", 16, &p, &err), 0);
	assert_int_equal(p.pw_history, 3);
	assert_int_equal(iam_policy_from_json("{\"pw_histroy\":3}", 16, &p, &err), -1);
	assert_int_equal(iam_policy_from_json("{\"pw_history\":-1}", 17, &p, &err), -1);
	assert_int_equal(iam_policy_from_json("{\"mfa_required\":1}", 18, &p, &err), -1);
	/* Platform cannot be deleted; others cascade. */
	assert_int_equal(iam_tenant_delete(iam, IAM_PLATFORM_TENANT, &err), -1);
	assert_int_equal(err.code, 403);
	struct iam_user u;
	mk_user("acme", "alice", NULL, &u);
	assert_int_equal(iam_tenant_delete(iam, "acme", &err), 0);
	assert_int_equal(iam_user_get(iam, "acme", u.id, &u, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_tenant_delete(iam, "acme", &err), -1);
	assert_int_equal(err.code, 404);
}

static int count_users(void *arg, const struct iam_user *u)
{
	(*(int *)arg)++;
	return 0;
}

static int count_pairs(void *arg, const char *id, const char *name)
{
	(*(int *)arg)++;
	return 0;
}

static int count_keys(void *arg, const struct iam_apikey_info *k)
{
	(*(int *)arg)++;
	return 0;
}

static void tenant_isolation(void **state)
{
	struct iam_user a, b;
	struct iam_group ga;
	char tok[IAM_APIKEY_LEN + 1];
	struct iam_apikey_info ki;
	mk_tenant("ta", NULL);
	mk_tenant("tb", NULL);
	/* The same name lives in both, as different users. */
	mk_user("ta", "alice", PW, &a);
	mk_user("tb", "alice", PW, &b);
	assert_string_not_equal(a.id, b.id);
	assert_int_equal(iam_group_create(iam, "ta", "admins", NULL, &ga, &err), 0);
	assert_int_equal(iam_apikey_create(iam, "ta", a.id, "ci", "read", 0, tok, &ki, &err), 0);
	/* Every operation in tb with ta's ids finds nothing. */
	struct iam_user x;
	struct iam_user_spec upd = { .display_name = "pwned" };
	assert_int_equal(iam_user_get(iam, "tb", a.id, &x, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_user_update(iam, "tb", a.id, &upd, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_user_set_disabled(iam, "tb", a.id, true, &err), -1);
	assert_int_equal(iam_user_delete(iam, "tb", a.id, &err), -1);
	assert_int_equal(iam_group_get(iam, "tb", ga.id, NULL, &err), -1);
	assert_int_equal(iam_group_delete(iam, "tb", ga.id, &err), -1);
	assert_int_equal(iam_group_add_member(iam, "tb", ga.id, b.id, &err), -1);
	assert_int_equal(iam_group_add_member(iam, "ta", ga.id, b.id, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(iam_apikey_revoke(iam, "tb", a.id, ki.id, &err), -1);
	assert_int_equal(iam_apikey_revoke(iam, "tb", b.id, ki.id, &err), -1);
	assert_int_equal(iam_password_reset(iam, "tb", a.id, "another good password", 21, &err), -1);
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	assert_int_equal(iam_recovery_codes_new(iam, "tb", a.id, codes, &err), -1);
	struct iam_totp_enrolment e;
	assert_int_equal(iam_totp_begin(iam, "tb", a.id, NULL, IAM_TOTP_SHA1, 6, &e, &err), -1);
	int n = 0;
	assert_int_equal(iam_apikey_list(iam, "tb", a.id,
					 count_keys,
					 &n, &err), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(iam_user_list(iam, "tb", count_users, &n, &err), 0);
	assert_int_equal(n, 1);
	/* Credentials: a session or key from ta authenticates as ta only. */
	struct iam_login_result r;
	assert_int_equal(login("ta", "alice", PW, "10.0.0.1", &r), IAM_LOGIN_OK);
	struct iam_principal p;
	assert_int_equal(iam_authenticate_bearer(iam, r.session_token, strlen(r.session_token), &p), 0);
	assert_string_equal(p.tenant, "ta");
	assert_string_equal(p.user_id, a.id);
	assert_int_equal(iam_session_revoke(iam, "tb", a.id, p.credential_id, &err), -1);
	assert_int_equal(iam_session_revoke(iam, "tb", b.id, p.credential_id, &err), -1);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	assert_string_equal(p.tenant, "ta");
	/* ta's password does not log in to tb's alice unless it is hers. */
	assert_int_equal(iam_password_reset(iam, "tb", b.id, "tenant b secret pw", 18, &err), 0);
	assert_int_equal(login("tb", "alice", PW, "10.0.0.1", &r), IAM_LOGIN_FAILED);
	/* Deleting ta removes its credentials; tb is untouched. */
	assert_int_equal(iam_tenant_delete(iam, "ta", &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	assert_int_equal(iam_user_get(iam, "tb", b.id, &x, &err), 0);
}

static void users_and_groups(void **state)
{
	struct iam_user u, v;
	mk_tenant("t1", NULL);
	struct iam_user_spec s = { .name = "Bob", .display_name = "Bob B", .email = "bob@x",
				   .attrs = "{\"dept\":\"ops\",\"level\":3}" };
	assert_int_equal(iam_user_create(iam, "t1", &s, &u, &err), 0);
	assert_string_equal(u.attrs, "{\"dept\":\"ops\",\"level\":3}");
	assert_false(u.has_password);
	/* Names are unique case-insensitively and found either way. */
	s.name = "BOB";
	assert_int_equal(iam_user_create(iam, "t1", &s, NULL, &err), -1);
	assert_int_equal(err.code, 409);
	assert_int_equal(iam_user_find(iam, "t1", "bob", &v, &err), 0);
	assert_string_equal(v.id, u.id);
	/* Bad input. */
	const char *bad_names[] = { "", " bob", "bob ", "a\tb", "x\x7f" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_names); i++) {
		struct iam_user_spec b = { .name = bad_names[i] };
		assert_int_equal(iam_user_create(iam, "t1", &b, NULL, &err), -1);
		assert_string_equal(err.reason, "bad_name");
	}
	struct iam_user_spec ba = { .name = "carol", .attrs = "[1]" };
	assert_int_equal(iam_user_create(iam, "t1", &ba, NULL, &err), -1);
	assert_int_equal(err.code, 400);
	ba.attrs = "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}";
	assert_int_equal(iam_user_create(iam, "t1", &ba, NULL, &err), -1);
	ba.attrs = "{\"a\":1,\"a\":2}";
	assert_int_equal(iam_user_create(iam, "t1", &ba, NULL, &err), -1);
	struct iam_user_spec nt = { .name = "dave" };
	assert_int_equal(iam_user_create(iam, "nope", &nt, NULL, &err), -1);
	assert_int_equal(err.code, 404);
	/* Update. */
	struct iam_user_spec up = { .email = "bob@example.com", .attrs = "{}" };
	assert_int_equal(iam_user_update(iam, "t1", u.id, &up, &err), 0);
	assert_int_equal(iam_user_get(iam, "t1", u.id, &v, &err), 0);
	assert_string_equal(v.email, "bob@example.com");
	assert_string_equal(v.display_name, "Bob B");
	assert_string_equal(v.attrs, "{}");
	/* Groups. */
	struct iam_group g;
	assert_int_equal(iam_group_create(iam, "t1", "Ops", "operators", &g, &err), 0);
	assert_int_equal(iam_group_create(iam, "t1", "ops", NULL, NULL, &err), -1);
	assert_int_equal(err.code, 409);
	assert_int_equal(iam_group_add_member(iam, "t1", g.id, u.id, &err), 0);
	assert_int_equal(iam_group_add_member(iam, "t1", g.id, u.id, &err), 0); /* idempotent */
	int n = 0;
	assert_int_equal(iam_group_members(iam, "t1", g.id,
					   count_pairs,
					   &n, &err), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(iam_user_groups(iam, "t1", u.id,
					 count_pairs,
					 &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(iam_group_remove_member(iam, "t1", g.id, u.id, &err), 0);
	assert_int_equal(iam_group_remove_member(iam, "t1", g.id, u.id, &err), -1);
	assert_int_equal(err.code, 404);
	/* Deleting a user removes its memberships. */
	assert_int_equal(iam_group_add_member(iam, "t1", g.id, u.id, &err), 0);
	assert_int_equal(iam_user_delete(iam, "t1", u.id, &err), 0);
	n = 0;
	assert_int_equal(iam_group_members(iam, "t1", g.id,
					   count_pairs,
					   &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(iam_group_delete(iam, "t1", g.id, &err), 0);
}

static void policy_rule(const struct iam_policy *p, const char *user, const char *pw,
			const char *reason)
{
	bw_err_clear(&err);
	int rc = iam_password_check(iam, p, "acmecorp", user, pw, strlen(pw), &err);
	if (!reason) {
		if (rc != 0)
			fail_msg("refused \"%s\": %s", pw, err.reason);
		return;
	}
	if (rc == 0)
		fail_msg("accepted \"%s\"", pw);
	if (strcmp(err.reason, reason) != 0)
		fail_msg("\"%s\": %s, want %s", pw, err.reason, reason);
}

static void password_policy(void **state)
{
	struct iam_policy p;
	iam_policy_defaults(&p);
	policy_rule(&p, "alice", "twelve chars", NULL);      /* exactly 12 */
	policy_rule(&p, "alice", "eleven char", "too_short");
	/* Length counts code points, not bytes: 12 two-byte letters. */
	policy_rule(&p, "alice", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa8", NULL);
	policy_rule(&p, "alice", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "too_short");
	char longpw[200];
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = 0;
	longpw[0] = 'y';
	policy_rule(&p, "alice", longpw, "too_long");        /* 199 > 128 */
	longpw[128] = 0;
	policy_rule(&p, "alice", longpw, NULL);              /* 128: allowed */
	policy_rule(&p, "alice", "bad utf8 \xff\xfe here", "bad_encoding");
	policy_rule(&p, "alice", "overlong \xc0\xaf slash", "bad_encoding");
	policy_rule(&p, "alice", "aaaaaaaaaaaaaaaa", "repetitive");
	/* No composition rules by default (NIST)... */
	policy_rule(&p, "alice", "alllowercaseletters", NULL);
	/* ...unless configured. */
	struct iam_policy c = p;
	c.pw_min_upper = 1;
	c.pw_min_digit = 2;
	policy_rule(&c, "alice", "alllowercaseletters", "composition");
	policy_rule(&c, "alice", "Alllowercaseletters1", "composition");
	policy_rule(&c, "alice", "Alllowercaseletters12", NULL);
	/* Names inside, any case. */
	policy_rule(&p, "alice", "my name is ALICE ok", "contains_name");
	policy_rule(&p, "alice", "i work at AcmeCorp!", "contains_name");
	policy_rule(&p, "al", "al is a short name", NULL); /* too short to forbid */
	struct iam_policy nn = p;
	nn.pw_forbid_names = false;
	policy_rule(&nn, "alice", "my name is ALICE ok", NULL);
	/* Blocklist: case-insensitive, comments and CRLF handled. */
	assert_int_equal(iam_blocklist_size(iam), 3);
	policy_rule(&p, "alice", "Password123456", "blocklisted");
	policy_rule(&p, "alice", "PASSWORD123456", "blocklisted");
	policy_rule(&p, "alice", "qwertyuiopasdf", "blocklisted");
	policy_rule(&p, "alice", "letmeinletmein", "blocklisted");
	policy_rule(&p, "alice", "# common passwords", NULL);
	policy_rule(&p, "alice", "Password1234567", NULL);
	struct iam_policy nb = p;
	nb.pw_blocklist = false;
	policy_rule(&nb, "alice", "Password123456", NULL);
}

static void blocklist_file_format(void **state)
{
	char path[128];
	struct iam_blockset s;
	bw_snprintf(path, sizeof(path), "%s/bl2.txt", dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 5000; i++)
		fprintf(f, "pw%06d\n", i);
	fclose(f);
	assert_int_equal(iam_blockset_load(&s, path, 10000, &err), 0);
	assert_int_equal(s.n, 5000);
	assert_true(iam_blockset_has(&s, "pw004999", 8));
	assert_true(iam_blockset_has(&s, "PW000000", 8));
	assert_false(iam_blockset_has(&s, "pw005000", 8));
	iam_blockset_fini(&s);
	/* Too many entries for the configured maximum. */
	assert_int_equal(iam_blockset_load(&s, path, 100, &err), -1);
	assert_int_equal(err.code, 413);
	/* An over-long line means this is not a password list. */
	f = fopen(path, "w");
	for (int i = 0; i < 300; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(iam_blockset_load(&s, path, 100, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(iam_blockset_load(&s, "/nonexistent/bl", 100, &err), -1);
}

static void login_basics_and_dummy_hash(void **state)
{
	struct iam_login_result r, r2;
	struct iam_stats s0, s1;
	struct iam_user u;
	mk_tenant("t2", NULL);
	mk_user("t2", "erin", PW, &u);
	assert_int_equal(login("t2", "erin", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	assert_memory_equal(r.session_token, "bws_", 4);
	assert_string_equal(r.user_id, u.id);
	assert_int_equal(login("t2", "ERIN", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	/* Wrong password, unknown user, unknown tenant, disabled user, user
	 * without a password: one status, one message, no user id. */
	iam_stats_get(iam, &s0);
	assert_int_equal(login("t2", "erin", "wrong password!", "192.0.2.2", &r), IAM_LOGIN_FAILED);
	assert_int_equal(login("t2", "nobody", PW, "192.0.2.2", &r2), IAM_LOGIN_FAILED);
	assert_string_equal(r2.user_id, "");
	assert_string_equal(r.session_token, "");
	iam_stats_get(iam, &s1);
	/* The unknown user took the dummy-hash path, the known one did not. */
	assert_int_equal(s1.dummy_verifications - s0.dummy_verifications, 1);
	assert_int_equal(login("nosuchtenant", "erin", PW, "192.0.2.2", &r), IAM_LOGIN_FAILED);
	assert_int_equal(login("BAD TENANT", "erin", PW, "192.0.2.2", &r), IAM_LOGIN_FAILED);
	mk_user("t2", "nopw", NULL, NULL);
	assert_int_equal(login("t2", "nopw", PW, "192.0.2.2", &r), IAM_LOGIN_FAILED);
	iam_stats_get(iam, &s0);
	assert_int_equal(s0.dummy_verifications - s1.dummy_verifications, 3);
	assert_int_equal(iam_user_set_disabled(iam, "t2", u.id, true, &err), 0);
	assert_int_equal(login("t2", "erin", PW, "192.0.2.1", &r), IAM_LOGIN_FAILED);
	assert_string_equal(iam_login_status_message(IAM_LOGIN_FAILED),
			    "invalid user name or password");
	/* Timing: the dummy path costs about what a real check costs. */
	assert_int_equal(iam_user_set_disabled(iam, "t2", u.id, false, &err), 0);
	int64_t t_real = 0, t_dummy = 0;
	for (int i = 0; i < 3; i++) {
		int64_t a = bw_clock_mono_ns();
		login("t2", "erin", "wrong password!", "198.51.100.1", &r);
		int64_t b = bw_clock_mono_ns();
		login("t2", "ghost", "wrong password!", "198.51.100.1", &r);
		int64_t c = bw_clock_mono_ns();
		t_real += b - a;
		t_dummy += c - b;
	}
	double ratio = (double)t_dummy / (double)t_real;
	if (ratio < 0.5 || ratio > 2.0)
		fail_msg("dummy/real timing ratio %.2f", ratio);
}

static void lockout_progression(void **state)
{
	struct iam_login_result r;
	struct iam_policy p;
	iam_policy_defaults(&p);
	p.lock_pair_threshold = 3;
	p.lock_account_threshold = 6;
	p.lock_ip_threshold = 1000;
	mk_tenant("t3", &p);
	mk_user("t3", "frank", PW, NULL);
	const char *ip = "203.0.113.5";
	/* Failures below the pair threshold: no delay. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(login("t3", "frank", "nope nope nope", ip, &r), IAM_LOGIN_FAILED);
	/* The third failure starts delays: 1 s, then 2 s, 4 s... */
	assert_int_equal(login("t3", "frank", "nope nope nope", ip, &r), IAM_LOGIN_FAILED);
	assert_int_equal(login("t3", "frank", PW, ip, &r), IAM_LOGIN_THROTTLED);
	assert_int_equal(r.retry_after_s, 1);
	bw_clock_advance(1000000000LL);
	assert_int_equal(login("t3", "frank", "nope nope nope", ip, &r), IAM_LOGIN_FAILED);
	assert_int_equal(login("t3", "frank", PW, ip, &r), IAM_LOGIN_THROTTLED);
	assert_int_equal(r.retry_after_s, 2);
	/* Throttled attempts do not verify or count: even the right
	 * password is refused while the delay runs. */
	bw_clock_advance(2000000000LL);
	/* Other sources are not delayed by this pair. */
	assert_int_equal(login("t3", "frank", PW, "203.0.113.99", &r), IAM_LOGIN_OK);
	/* The success from .99 made it a known source and reset the
	 * account's count. Now an attacker spreads failures over IPs. */
	for (int i = 0; i < 6; i++) {
		char aip[32];
		bw_snprintf(aip, sizeof(aip), "198.18.0.%d", i + 1);
		assert_int_equal(login("t3", "frank", "guess guess guess", aip, &r),
				 IAM_LOGIN_FAILED);
	}
	/* Account locked for unknown sources (60 s)... */
	assert_int_equal(login("t3", "frank", PW, "198.18.1.1", &r), IAM_LOGIN_THROTTLED);
	assert_int_equal(r.retry_after_s, 60);
	/* ...but the owner's known source still gets in. */
	assert_int_equal(login("t3", "frank", PW, "203.0.113.99", &r), IAM_LOGIN_OK);
	/* The lock ends by itself. */
	bw_clock_advance(61LL * 1000000000LL);
	assert_int_equal(login("t3", "frank", PW, "198.18.1.1", &r), IAM_LOGIN_OK);
	/* A second lock doubles (120 s); an administrator can lift it. */
	for (int i = 0; i < 6; i++) {
		char aip[32];
		bw_snprintf(aip, sizeof(aip), "198.18.2.%d", i + 1);
		login("t3", "frank", "guess guess guess", aip, &r);
	}
	assert_int_equal(login("t3", "frank", PW, "198.18.3.1", &r), IAM_LOGIN_THROTTLED);
	assert_int_equal(r.retry_after_s, 120);
	iam_lockout_unlock(iam, "t3", "FRANK");
	assert_int_equal(login("t3", "frank", PW, "198.18.3.1", &r), IAM_LOGIN_OK);
	/* Unknown names lock exactly like real ones (no enumeration). */
	for (int i = 0; i < 6; i++) {
		char aip[32];
		bw_snprintf(aip, sizeof(aip), "198.18.4.%d", i + 1);
		login("t3", "ghost", "guess guess guess", aip, &r);
	}
	assert_int_equal(login("t3", "ghost", PW, "198.18.5.1", &r), IAM_LOGIN_THROTTLED);
	assert_int_equal(r.retry_after_s, 60);
	/* Per-IP throttling across accounts (password spraying). */
	p.lock_ip_threshold = 5;
	p.lock_account_threshold = 100;
	p.lock_pair_threshold = 100;
	assert_int_equal(iam_tenant_update(iam, "t3", NULL, &p, &err), 0);
	for (int i = 0; i < 5; i++) {
		char name[16];
		bw_snprintf(name, sizeof(name), "user%d", i);
		assert_int_equal(login("t3", name, "Summer2024!!", "192.0.2.77", &r),
				 IAM_LOGIN_FAILED);
	}
	assert_int_equal(login("t3", "frank", PW, "192.0.2.77", &r), IAM_LOGIN_THROTTLED);
	assert_int_equal(r.retry_after_s, p.lock_window_s);
	assert_int_equal(login("t3", "frank", PW, "192.0.2.78", &r), IAM_LOGIN_OK);
}

static int phc_row(void *arg, const struct store_row *row, struct bw_err *e)
{
	return iam_row_text(row, 0, arg, IAM_PHC_MAX, e);
}

static void argon2_rehash(void **state)
{
	struct iam_login_result r;
	struct iam_stats s;
	struct iam_user u;
	mk_tenant("t4", NULL);
	mk_user("t4", "gina", PW, &u);
	/* Weak parameters are refused outright. */
	struct iam_options o = { .store = st, .argon2 = { 4096, 3, 1 } };
	uint8_t key[32] = { 0 };
	assert_int_equal(iam_sealer_local(&o.sealer, key, &err), 0);
	assert_null(iam_new(&o, &err));
	assert_string_equal(err.reason, "weak_argon2");
	o.sealer.free(o.sealer.ctx);
	/* Raise t: the next login re-hashes to the new parameters. */
	struct iam *old = iam;
	iam = open_iam((struct iam_argon2){ IAM_ARGON2_M_MIN, 3, 1 }, NULL);
	assert_int_equal(login("t4", "gina", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	iam_stats_get(iam, &s);
	assert_int_equal(s.rehashes, 1);
	assert_int_equal(login("t4", "gina", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	iam_stats_get(iam, &s);
	assert_int_equal(s.rehashes, 1); /* already current */
	char phc[IAM_PHC_MAX];
	struct store_value k[] = { store_text_str("t4"), store_text_str(u.id) };
	assert_int_equal(store_query_one(st, "SELECT password_hash FROM iam_user WHERE"
					     " tenant = ? AND id = ?", k, 2, phc_row, phc,
					 &err), 1);
	assert_non_null(strstr(phc, "$m=19456,t=3,p=1$"));
	iam_free(iam);
	iam = old;
	/* The old instance still verifies the upgraded hash (PHC carries
	 * its own parameters) and re-hashes it back to its own. */
	assert_int_equal(login("t4", "gina", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	iam_stats_get(iam, &s);
	assert_int_equal(s.rehashes, 1);
	assert_true(iam_needs_rehash(iam, "$argon2id$v=19$m=19456,t=3,p=1$c2FsdHNhbHQ$aGFzaA"));
	assert_false(iam_needs_rehash(iam, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"));
	assert_true(iam_needs_rehash(iam, "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"));
	assert_true(iam_needs_rehash(iam, "garbage"));
	assert_int_equal(iam_verify_password("$argon2i$v=19$m=19456,t=2,p=1$x$y", "a", 1), -1);
}

static void history_reset_and_expiry(void **state)
{
	struct iam_login_result r;
	struct iam_user u;
	struct iam_policy p;
	iam_policy_defaults(&p);
	p.pw_history = 2;
	p.pw_max_age_days = 90;
	p.pw_warn_days = 14;
	mk_tenant("t5", &p);
	mk_user("t5", "hank", "first password 1", &u);
	/* Change: old must match, new must pass policy and history. */
	assert_int_equal(iam_password_change(iam, "t5", u.id, "wrong", 5, "second password 2",
					     17, NULL, &err), -1);
	assert_int_equal(err.code, 401);
	assert_int_equal(iam_password_change(iam, "t5", u.id, "first password 1", 16,
					     "first password 1", 16, NULL, &err), -1);
	assert_string_equal(err.reason, "reused");
	assert_int_equal(iam_password_change(iam, "t5", u.id, "first password 1", 16, "short",
					     5, NULL, &err), -1);
	assert_string_equal(err.reason, "too_short");
	assert_int_equal(iam_password_change(iam, "t5", u.id, "first password 1", 16,
					     "second password 2", 17, NULL, &err), 0);
	assert_int_equal(iam_password_change(iam, "t5", u.id, "second password 2", 17,
					     "third password 3", 16, NULL, &err), 0);
	/* History 2: the first has dropped out, the second is remembered. */
	assert_int_equal(iam_password_change(iam, "t5", u.id, "third password 3", 16,
					     "second password 2", 17, NULL, &err), -1);
	assert_string_equal(err.reason, "reused");
	assert_int_equal(iam_password_change(iam, "t5", u.id, "third password 3", 16,
					     "first password 1", 16, NULL, &err), 0);
	/* A password change revokes sessions. */
	assert_int_equal(login("t5", "hank", "first password 1", "192.0.2.9", &r), IAM_LOGIN_OK);
	char tok[IAM_TOKEN_MAX];
	memcpy(tok, r.session_token, sizeof(tok));
	struct iam_principal pr;
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &pr), 0);
	assert_int_equal(iam_password_change(iam, "t5", u.id, "first password 1", 16,
					     "fourth password 4", 17, NULL, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &pr), -1);
	/* Admin reset: forced change at next login, through a challenge. */
	assert_int_equal(iam_password_reset(iam, "t5", u.id, "temporary pass 99", 17, &err), 0);
	assert_int_equal(login("t5", "hank", "temporary pass 99", "192.0.2.9", &r),
			 IAM_LOGIN_CHANGE_PASSWORD);
	assert_string_equal(r.session_token, "");
	char ch[IAM_TOKEN_MAX];
	memcpy(ch, r.challenge, sizeof(ch));
	iam_login_change_password(iam, "t5", ch, "tiny", 4, "192.0.2.9", &r);
	assert_int_equal(r.status, IAM_LOGIN_ERROR);
	assert_string_equal(r.err.reason, "too_short");
	iam_login_change_password(iam, "t5", ch, "temporary pass 99", 17, "192.0.2.9", &r);
	assert_string_equal(r.err.reason, "reused");
	iam_login_change_password(iam, "t5", ch, "my own new password", 19, "192.0.2.9", &r);
	assert_int_equal(r.status, IAM_LOGIN_OK);
	iam_login_change_password(iam, "t5", ch, "another new password", 20, "192.0.2.9", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED); /* challenge spent */
	/* Expiry: a warning inside the last 14 days, then a forced change. */
	bw_clock_advance(80LL * 86400 * 1000000000LL);
	assert_int_equal(login("t5", "hank", "my own new password", "192.0.2.9", &r),
			 IAM_LOGIN_OK);
	assert_int_equal(r.password_expires_s, 10LL * 86400);
	bw_clock_advance(11LL * 86400 * 1000000000LL);
	assert_int_equal(login("t5", "hank", "my own new password", "192.0.2.9", &r),
			 IAM_LOGIN_CHANGE_PASSWORD);
}

static void totp_rfc6238_vectors(void **state)
{
	static const struct {
		int64_t t;
		const char *sha1, *sha256, *sha512;
	} v[] = {
		{ 59, "94287082", "46119246", "90693936" },
		{ 1111111109, "07081804", "68084774", "25091201" },
		{ 1111111111, "14050471", "67062674", "99943326" },
		{ 1234567890, "89005924", "91819424", "93441116" },
		{ 2000000000, "69279037", "90698825", "38618901" },
		{ 20000000000LL, "65353130", "77737706", "47863826" },
	};
	const char *k1 = "12345678901234567890";
	const char *k256 = "12345678901234567890123456789012";
	const char *k512 = "1234567890123456789012345678901234567890123456789012345678901234";
	for (size_t i = 0; i < BW_ARRAY_LEN(v); i++) {
		char out[16];
		uint64_t c = (uint64_t)(v[i].t / 30);
		assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 8, c, out), 0);
		assert_string_equal(out, v[i].sha1);
		assert_int_equal(iam_hotp((const uint8_t *)k256, 32, IAM_TOTP_SHA256, 8, c, out), 0);
		assert_string_equal(out, v[i].sha256);
		assert_int_equal(iam_hotp((const uint8_t *)k512, 64, IAM_TOTP_SHA512, 8, c, out), 0);
		assert_string_equal(out, v[i].sha512);
		/* 6 and 7 digits are the low digits. */
		assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 6, c, out), 0);
		assert_string_equal(out, v[i].sha1 + 2);
		assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 7, c, out), 0);
		assert_string_equal(out, v[i].sha1 + 1);
	}
	/* RFC 4226 appendix D: HOTP counter 0..2 of the same secret. */
	char out[16];
	assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 6, 0, out), 0);
	assert_string_equal(out, "755224");
	assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 6, 9, out), 0);
	assert_string_equal(out, "520489");
	assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 5, 0, out), -1);
	assert_int_equal(iam_hotp((const uint8_t *)k1, 20, IAM_TOTP_SHA1, 9, 0, out), -1);
}

static void code_at(const uint8_t *sec, size_t n, enum iam_totp_alg alg, unsigned digits,
		    int64_t step_off, char out[16])
{
	uint64_t step = (uint64_t)(bw_clock_now_s() / 30 + step_off);
	assert_int_equal(iam_hotp(sec, n, alg, digits, step, out), 0);
}

static void totp_enrolment_and_login(void **state)
{
	struct iam_user u;
	struct iam_totp_enrolment e;
	struct iam_login_result r;
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	char code[16];
	uint8_t sec[64];
	mk_tenant("t6", NULL);
	mk_user("t6", "ivy@example.com", PW, &u);
	assert_int_equal(iam_totp_begin(iam, "t6", u.id, "bulwark test", IAM_TOTP_SHA256, 8, &e,
					&err), 0);
	assert_non_null(strstr(e.uri, "otpauth://totp/bulwark%20test:ivy%40example.com?secret="));
	assert_non_null(strstr(e.uri, "&algorithm=SHA256&digits=8&period=30"));
	size_t n = iam_test_b32_decode(e.secret_b32, sec);
	assert_int_equal(n, 32);
	/* The secret is sealed at rest: not in the row in the clear. */
	struct bw_buf blob;
	bw_buf_init(&blob, 4096);
	/* Not yet confirmed: verification refused, login needs no MFA. */
	code_at(sec, n, IAM_TOTP_SHA256, 8, 0, code);
	assert_int_equal(iam_totp_verify(iam, "t6", u.id, code, &err), -1);
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	/* Confirm with a wrong code, then a right one. */
	assert_int_equal(iam_totp_confirm(iam, "t6", u.id, "00000000", codes, &err), -1);
	assert_string_equal(err.reason, "bad_code");
	assert_int_equal(iam_totp_confirm(iam, "t6", u.id, code, codes, &err), 0);
	for (int i = 0; i < IAM_RECOVERY_CODES; i++)
		assert_int_equal(strlen(codes[i]), IAM_RECOVERY_CODE_LEN);
	/* The same code again: a replay. */
	assert_int_equal(iam_totp_verify(iam, "t6", u.id, code, &err), -1);
	assert_string_equal(err.reason, "replayed");
	/* Re-enrolling over a confirmed one is refused. */
	assert_int_equal(iam_totp_begin(iam, "t6", u.id, NULL, IAM_TOTP_SHA1, 6, &e, &err), -1);
	assert_int_equal(err.code, 409);
	/* Login now needs the second factor. */
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.1", &r),
			 IAM_LOGIN_MFA_REQUIRED);
	assert_string_equal(r.session_token, "");
	char ch[IAM_TOKEN_MAX];
	memcpy(ch, r.challenge, sizeof(ch));
	/* Next step (+30 s): one step ahead is accepted (skew)... */
	bw_clock_advance(30LL * 1000000000LL);
	code_at(sec, n, IAM_TOTP_SHA256, 8, 2, code); /* two steps ahead: no */
	iam_login_mfa(iam, "t6", ch, code, "192.0.2.1", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	code_at(sec, n, IAM_TOTP_SHA256, 8, 1, code);
	iam_login_mfa(iam, "t6", ch, code, "192.0.2.1", &r);
	assert_int_equal(r.status, IAM_LOGIN_OK);
	struct iam_principal p;
	assert_int_equal(iam_authenticate_bearer(iam, r.session_token, strlen(r.session_token), &p), 0);
	assert_true(p.mfa);
	/* The challenge is spent; the step just used cannot be reused, nor an
	 * earlier one. */
	iam_login_mfa(iam, "t6", ch, code, "192.0.2.1", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.1", &r),
			 IAM_LOGIN_MFA_REQUIRED);
	memcpy(ch, r.challenge, sizeof(ch));
	code_at(sec, n, IAM_TOTP_SHA256, 8, 0, code);
	iam_login_mfa(iam, "t6", ch, code, "192.0.2.1", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	/* A recovery code works once, in any case and with or without
	 * dashes. */
	char lower[IAM_RECOVERY_CODE_LEN + 1];
	for (int i = 0; codes[3][i]; i++)
		lower[i] = (char)((codes[3][i] >= 'A' && codes[3][i] <= 'Z') ? codes[3][i] + 32
									     : codes[3][i]);
	lower[IAM_RECOVERY_CODE_LEN] = 0;
	iam_login_mfa(iam, "t6", ch, lower, "192.0.2.1", &r);
	assert_int_equal(r.status, IAM_LOGIN_OK);
	assert_int_equal(iam_recovery_code_use(iam, "t6", u.id, codes[3], &err), -1);
	assert_int_equal(iam_recovery_code_use(iam, "t6", u.id, "AAAA-AAAA-AAAA-AAAA", &err), -1);
	assert_int_equal(iam_recovery_code_use(iam, "t6", u.id, "short", &err), -1);
	assert_int_equal(iam_recovery_code_use(iam, "t6", u.id, codes[4], &err), 0);
	/* Five wrong codes kill a challenge. */
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.50", &r),
			 IAM_LOGIN_MFA_REQUIRED);
	memcpy(ch, r.challenge, sizeof(ch));
	for (int i = 0; i < IAM_CHALLENGE_ATTEMPTS; i++) {
		iam_login_mfa(iam, "t6", ch, "12345678", "192.0.2.50", &r);
		assert_int_equal(r.status, IAM_LOGIN_FAILED);
		bw_clock_advance(5LL * 1000000000LL); /* past the pair delays */
	}
	bw_clock_advance(120LL * 1000000000LL);
	code_at(sec, n, IAM_TOTP_SHA256, 8, 0, code);
	iam_login_mfa(iam, "t6", ch, code, "192.0.2.51", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	/* Challenges expire. */
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.52", &r),
			 IAM_LOGIN_MFA_REQUIRED);
	memcpy(ch, r.challenge, sizeof(ch));
	bw_clock_advance((int64_t)(IAM_CHALLENGE_TTL_S + 1) * 1000000000LL);
	code_at(sec, n, IAM_TOTP_SHA256, 8, 0, code);
	iam_login_mfa(iam, "t6", ch, code, "192.0.2.52", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	/* A challenge from one tenant is nothing in another. */
	mk_tenant("t6b", NULL);
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.53", &r),
			 IAM_LOGIN_MFA_REQUIRED);
	memcpy(ch, r.challenge, sizeof(ch));
	bw_clock_advance(30LL * 1000000000LL);
	code_at(sec, n, IAM_TOTP_SHA256, 8, 0, code);
	iam_login_mfa(iam, "t6b", ch, code, "192.0.2.53", &r);
	assert_int_equal(r.status, IAM_LOGIN_FAILED);
	/* Disable removes TOTP and recovery codes. */
	assert_int_equal(iam_totp_disable(iam, "t6", u.id, &err), 0);
	assert_int_equal(iam_recovery_code_use(iam, "t6", u.id, codes[5], &err), -1);
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	bw_buf_fini(&blob);
	/* Tenant requires MFA: a user without TOTP cannot log in. */
	struct iam_tenant t;
	assert_int_equal(iam_tenant_get(iam, "t6", &t, &err), 0);
	t.policy.mfa_required = true;
	assert_int_equal(iam_tenant_update(iam, "t6", NULL, &t.policy, &err), 0);
	assert_int_equal(login("t6", "ivy@example.com", PW, "192.0.2.1", &r), IAM_LOGIN_FAILED);
}

static void qr_codes(void **state)
{
	char *svg = iam_qr_svg("otpauth://totp/x:y?secret=ABC", &err);
	assert_non_null(svg);
	assert_non_null(strstr(svg, "<svg "));
	assert_non_null(strstr(svg, "M4 4h1v1h-1z")); /* finder pattern corner */
	free(svg);
	size_t n = 0;
	uint8_t *png = iam_qr_png("otpauth://totp/x:y?secret=ABC", 3, &n, &err);
	assert_non_null(png);
	assert_true(n > 100);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	assert_memory_equal(png + 12, "IHDR", 4);
	assert_memory_equal(png + n - 8, "IEND", 4);
	free(png);
	char big[IAM_OTPAUTH_MAX + 10];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_null(iam_qr_svg(big, &err));
	assert_null(iam_qr_png("x", 99, &n, &err));
}

static int collect_sessions(void *arg, const struct iam_session_info *s)
{
	struct iam_session_info *out = arg;
	*out = *s;
	return 0;
}

static void sessions(void **state)
{
	struct iam_login_result r;
	struct iam_principal p;
	struct iam_user u;
	struct iam_policy pol;
	iam_policy_defaults(&pol);
	pol.session_idle_s = 600;
	pol.session_absolute_s = 3600;
	mk_tenant("t7", &pol);
	mk_user("t7", "jack", PW, &u);
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	char tok[IAM_TOKEN_MAX];
	memcpy(tok, r.session_token, sizeof(tok));
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	assert_int_equal(p.kind, IAM_PRINCIPAL_SESSION);
	assert_string_equal(p.user_name, "jack");
	assert_false(p.mfa);
	/* Tampered, truncated, foreign tokens. */
	char bad[IAM_TOKEN_MAX];
	memcpy(bad, tok, sizeof(bad));
	bad[10] = bad[10] == 'A' ? 'B' : 'A';
	assert_int_equal(iam_authenticate_bearer(iam, bad, strlen(bad), &p), -1);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok) - 1, &p), -1);
	assert_int_equal(iam_authenticate_bearer(iam, "bws_", 4, &p), -1);
	assert_int_equal(iam_authenticate_bearer(iam, "", 0, &p), -1);
	assert_int_equal(iam_authenticate_bearer(iam, "Bearer x", 8, &p), -1);
	/* Idle timeout: activity keeps it alive, silence ends it. */
	bw_clock_advance(500LL * 1000000000LL);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	bw_clock_advance(500LL * 1000000000LL);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	bw_clock_advance(601LL * 1000000000LL);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	/* Absolute timeout, however active. */
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	memcpy(tok, r.session_token, sizeof(tok));
	for (int i = 0; i < 6; i++) {
		bw_clock_advance(590LL * 1000000000LL);
		assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	}
	bw_clock_advance(100LL * 1000000000LL);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	/* Listing and revoking by handle; logout. */
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	memcpy(tok, r.session_token, sizeof(tok));
	struct iam_session_info si;
	assert_int_equal(iam_session_list(iam, "t7", u.id, collect_sessions, &si, &err), 0);
	assert_string_equal(si.ip, "192.0.2.1");
	assert_int_equal(iam_session_revoke(iam, "t7", u.id, si.handle, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	assert_int_equal(iam_session_revoke(iam, "t7", u.id, si.handle, &err), -1);
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	memcpy(tok, r.session_token, sizeof(tok));
	assert_int_equal(iam_logout(iam, tok, strlen(tok), &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	/* Disabling the user or the tenant stops sessions; deleting the user
	 * deletes them. */
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	memcpy(tok, r.session_token, sizeof(tok));
	assert_int_equal(iam_tenant_set_disabled(iam, "t7", true, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_FAILED);
	assert_int_equal(iam_tenant_set_disabled(iam, "t7", false, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	assert_int_equal(iam_user_set_disabled(iam, "t7", u.id, true, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	assert_int_equal(iam_user_set_disabled(iam, "t7", u.id, false, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1); /* revoked */
	assert_int_equal(login("t7", "jack", PW, "192.0.2.1", &r), IAM_LOGIN_OK);
	memcpy(tok, r.session_token, sizeof(tok));
	assert_int_equal(iam_user_delete(iam, "t7", u.id, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
}

static uint32_t crc32_for_test(const char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

static void api_keys(void **state)
{
	struct iam_user u;
	struct iam_principal p;
	struct iam_apikey_info ki, k2;
	char tok[IAM_APIKEY_LEN + 1], tok2[IAM_APIKEY_LEN + 1];
	mk_tenant("t8", NULL);
	mk_user("t8", "robot", NULL, &u);
	assert_int_equal(iam_apikey_create(iam, "t8", u.id, "deploy", "iam.read kms:encrypt", 0,
					   tok, &ki, &err), 0);
	assert_int_equal(strlen(tok), IAM_APIKEY_LEN);
	assert_true(iam_apikey_looks_valid(tok, strlen(tok)));
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	assert_int_equal(p.kind, IAM_PRINCIPAL_API_KEY);
	assert_string_equal(p.scopes, "iam.read kms:encrypt");
	assert_string_equal(p.credential_id, ki.id);
	/* One flipped secret character: the checksum catches it before any
	 * lookup; with a recomputed checksum the hash does. */
	char bad[IAM_APIKEY_LEN + 1];
	memcpy(bad, tok, sizeof(bad));
	bad[30] = bad[30] == 'A' ? 'B' : 'A';
	assert_false(iam_apikey_looks_valid(bad, strlen(bad)));
	assert_int_equal(iam_authenticate_bearer(iam, bad, strlen(bad), &p), -1);
	bw_snprintf(bad + 64, 9, "%08x", crc32_for_test(bad, 64));
	assert_true(iam_apikey_looks_valid(bad, strlen(bad)));
	assert_int_equal(iam_authenticate_bearer(iam, bad, strlen(bad), &p), -1);
	/* Bad scopes, names, ttl. */
	assert_int_equal(iam_apikey_create(iam, "t8", u.id, "x", "Bad Scope", 0, tok2, NULL, &err), -1);
	assert_int_equal(iam_apikey_create(iam, "t8", u.id, "x", "a  b", 0, tok2, NULL, &err), -1);
	assert_int_equal(iam_apikey_create(iam, "t8", u.id, "", "a", 0, tok2, NULL, &err), -1);
	assert_int_equal(iam_apikey_create(iam, "t8", u.id, "x", "a", -1, tok2, NULL, &err), -1);
	assert_int_equal(iam_apikey_create(iam, "t8", "nouser", "x", "a", 0, tok2, NULL, &err), -1);
	/* Expiry. */
	assert_int_equal(iam_apikey_create(iam, "t8", u.id, "short", "a", 100, tok2, &k2, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok2, strlen(tok2), &p), 0);
	assert_int_equal(p.expires, k2.expires);
	bw_clock_advance(100LL * 1000000000LL);
	assert_int_equal(iam_authenticate_bearer(iam, tok2, strlen(tok2), &p), -1);
	/* Rotation with overlap: both work until the overlap ends. */
	assert_int_equal(iam_apikey_rotate(iam, "t8", u.id, ki.id, 3600, tok2, &k2, &err), 0);
	assert_string_equal(k2.name, "deploy");
	assert_string_equal(k2.scopes, "iam.read kms:encrypt");
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok2, strlen(tok2), &p), 0);
	bw_clock_advance(3601LL * 1000000000LL);
	assert_int_equal(iam_authenticate_bearer(iam, tok, strlen(tok), &p), -1);
	assert_int_equal(iam_authenticate_bearer(iam, tok2, strlen(tok2), &p), 0);
	/* Last-used is recorded. */
	int n = 0;
	assert_int_equal(iam_apikey_list(iam, "t8", u.id,
					 count_keys,
					 &n, &err), 0);
	assert_int_equal(n, 3);
	/* Rotation without overlap revokes at once; revoke; disable. */
	char tok3[IAM_APIKEY_LEN + 1];
	struct iam_apikey_info k3;
	assert_int_equal(iam_apikey_rotate(iam, "t8", u.id, k2.id, 0, tok3, &k3, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok2, strlen(tok2), &p), -1);
	assert_int_equal(iam_user_set_disabled(iam, "t8", u.id, true, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok3, strlen(tok3), &p), -1);
	assert_int_equal(iam_user_set_disabled(iam, "t8", u.id, false, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok3, strlen(tok3), &p), 0);
	assert_int_equal(iam_apikey_revoke(iam, "t8", u.id, k3.id, &err), 0);
	assert_int_equal(iam_authenticate_bearer(iam, tok3, strlen(tok3), &p), -1);
	assert_int_equal(iam_apikey_revoke(iam, "t8", u.id, k3.id, &err), -1);
}

static void sealer(void **state)
{
	struct iam_sealer s;
	uint8_t key[32] = { 1 };
	struct bw_buf ct, pt;
	assert_int_equal(iam_sealer_local(&s, key, &err), 0);
	bw_buf_init(&ct, 1024);
	bw_buf_init(&pt, 1024);
	assert_int_equal(s.seal(s.ctx, (const uint8_t *)"seed", 4, "t/u/totp", &ct, &err), 0);
	assert_int_equal(ct.len, 1 + 12 + 4 + 16);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len, "t/u/totp", &pt, &err), 0);
	assert_int_equal(pt.len, 4);
	assert_memory_equal(pt.data, "seed", 4);
	bw_buf_reset(&pt);
	/* Moved to another user's row: refused. */
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len, "t/v/totp", &pt, &err), -1);
	assert_string_equal(err.reason, "bad_tag");
	ct.data[14] ^= 1;
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len, "t/u/totp", &pt, &err), -1);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, 5, "t/u/totp", &pt, &err), -1);
	bw_buf_fini(&ct);
	bw_buf_fini(&pt);
	s.free(s.ctx);
}

/* ------------------------------------------------------------- async */

static struct iam_login_result async_result;
static int async_calls;

static void async_done(void *arg, const struct iam_login_result *r)
{
	async_result = *r;
	async_calls++;
	loop_stop(arg);
}

static void async_login(void **state)
{
	struct bw_err e;
	mk_tenant("t9", NULL);
	mk_user("t9", "kate", PW, NULL);
	struct loop *l = loop_new(16, &e);
	struct tpool *pool = tpool_new(2, 4, &e);
	assert_non_null(l);
	assert_non_null(pool);
	iam->pool = pool;
	struct iam_login_request req = { "t9", "kate", PW, strlen(PW), "192.0.2.1" };
	assert_int_equal(iam_login_async(iam, &req, l, async_done, l, &e), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(async_calls, 1);
	assert_int_equal(async_result.status, IAM_LOGIN_OK);
	/* An over-long user name fails like an unknown one. */
	char longname[300];
	memset(longname, 'k', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	req.username = longname;
	assert_int_equal(iam_login_async(iam, &req, l, async_done, l, &e), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(async_result.status, IAM_LOGIN_FAILED);
	tpool_free(pool);
	iam->pool = NULL;
	loop_free(l);
	assert_int_equal(iam_login_async(iam, &req, l, async_done, l, &e), -1);
}

static void login_events(void **state)
{
	struct iam_login_result r;
	mk_tenant("t10", NULL);
	mk_user("t10", "leo", PW, NULL);
	bw_event_flush();
	pthread_mutex_lock(&ev_mu);
	nevents = 0;
	pthread_mutex_unlock(&ev_mu);
	login("t10", "leo", PW, "192.0.2.10", &r);
	login("t10", "leo", "bad bad bad bad", "192.0.2.11", &r);
	login("t10", "nobody", "bad bad bad bad", "192.0.2.12", &r);
	bw_event_flush();
	pthread_mutex_lock(&ev_mu);
	assert_int_equal(nevents, 3);
	assert_string_equal(events[0].tenant, "t10");
	assert_string_equal(events[0].user, "leo");
	assert_string_equal(events[0].source_ip, "192.0.2.10");
	assert_int_equal(events[0].outcome, BW_OUTCOME_SUCCESS);
	assert_string_equal(field(&events[0], "reason"), "ok");
	assert_int_equal(events[1].outcome, BW_OUTCOME_FAILURE);
	assert_string_equal(field(&events[1], "reason"), "bad_password");
	assert_string_equal(events[2].user, "nobody");
	assert_string_equal(field(&events[2], "reason"), "unknown_user");
	pthread_mutex_unlock(&ev_mu);
}

static void bootstrap_admin(void **state)
{
	char pw[IAM_BOOTSTRAP_PW_LEN + 1];
	struct iam_user u;
	struct iam_login_result r;
	assert_int_equal(iam_bootstrap_admin(iam, "admin", pw, &u, &err), 0);
	assert_int_equal(strlen(pw), IAM_BOOTSTRAP_PW_LEN);
	assert_true(u.must_change_password);
	assert_string_equal(u.tenant, IAM_PLATFORM_TENANT);
	assert_int_equal(login(IAM_PLATFORM_TENANT, "admin", pw, "127.0.0.1", &r),
			 IAM_LOGIN_CHANGE_PASSWORD);
	char pw2[IAM_BOOTSTRAP_PW_LEN + 1];
	assert_int_equal(iam_bootstrap_admin(iam, "admin", pw2, NULL, &err), -1);
	assert_int_equal(err.code, 409);
}

int main(void)
{
	struct bw_err e;
	log_init("test", BW_LOG_WARN, 2);
	if (bw_event_subscribe(collect, NULL) < 0 || bw_event_bus_start(&e) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(tenant_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(users_and_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(password_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(blocklist_file_format, setup, teardown),
		cmocka_unit_test_setup_teardown(login_basics_and_dummy_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(lockout_progression, setup, teardown),
		cmocka_unit_test_setup_teardown(argon2_rehash, setup, teardown),
		cmocka_unit_test_setup_teardown(history_reset_and_expiry, setup, teardown),
		cmocka_unit_test(totp_rfc6238_vectors),
		cmocka_unit_test_setup_teardown(totp_enrolment_and_login, setup, teardown),
		cmocka_unit_test(qr_codes),
		cmocka_unit_test_setup_teardown(sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(api_keys, setup, teardown),
		cmocka_unit_test(sealer),
		cmocka_unit_test_setup_teardown(async_login, setup, teardown),
		cmocka_unit_test_setup_teardown(login_events, setup, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_admin, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	bw_event_bus_stop();
	return rc;
}
