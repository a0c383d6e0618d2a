/* Tests for the platform roles: the built-in model is valid; the committed
 * role table equals the one generated from the model (regenerate with
 * BW_UPDATE_ROLES=1); and the full matrix — every role x every permission
 * x own tenant / other tenant — evaluated by the engine matches the table
 * with zero unexpected allows. Plus the special rules: platform-admin only
 * in the platform tenant, API keys and groups as subjects, unknown
 * permissions denied, separation of duties for key use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz/authz_int.h"
#include "store/store.h"

static char dir[64];
static struct store *st;
static struct authz_engine *e;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/authz-platform-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	struct bw_err err;
	st = store_open(&so, &err);
	struct authz_options ao = { .store = st };
	e = st ? authz_engine_new(&ao, &err) : NULL;
	return e ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	authz_engine_free(e);
	store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_model_valid(void **state)
{
	(void)state;
	struct bw_err err;
	const char *text = authz_platform_model_text();
	struct authz_model *m = authz_model_parse_dsl(text, strlen(text), &err);
	if (!m)
		fail_msg("platform.fga: %s", err.msg);
	const struct authz_type *t = authz_model_type(m, "tenant", 6);
	assert_non_null(t);
	authz_model_free(m);
}

static char *read_file(const char *path, size_t *len)
{
	struct bw_err err;
	return bw_file_read(path, 1 << 20, len, &err);
}

static void test_roles_md_current(void **state)
{
	(void)state;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(authz_platform_roles_md(&b), 0);
	const char *src = getenv("BW_SOURCE_DIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/authz/roles.md", src ? src : ".");
	if (getenv("BW_UPDATE_ROLES")) {
		struct bw_err err;
		assert_int_equal(bw_file_write_atomic(path, b.data, b.len, 0644, &err), 0);
	}
	size_t len;
	char *have = read_file(path, &len);
	if (!have)
		fail_msg("%s missing: regenerate with BW_UPDATE_ROLES=1", path);
	if (len != b.len || memcmp(have, b.data, len) != 0)
		fail_msg("%s differs from the table generated from platform.fga; regenerate with "
			 "BW_UPDATE_ROLES=1 (or `bulwark authz roles-md`)",
			 path);
	free(have);
	/* the published copy, once the lead places it, must match too */
	snprintf(path, sizeof(path), "%s/docs/roles.md", src ? src : ".");
	if ((have = read_file(path, &len))) {
		if (len != b.len || memcmp(have, b.data, len) != 0)
			fail_msg("docs/roles.md differs from the generated table");
		free(have);
	}
	bw_buf_fini(&b);
}

static const char *const roles[] = {
	"platform-admin", "tenant-admin",   "security-admin",     "user-admin",
	"auditor",        "compliance-officer", "key-admin",      "key-user",
	"cert-admin",     "cert-requester", "waf-admin",          "gateway-operator",
	"siem-admin",     "siem-analyst",   "incident-responder", "forensic-investigator",
	"backup-operator", "viewer",
};

/* Parses the generated table: expected[perm][role]. */
struct row {
	char perm[64];
	bool allow[18];
};

static size_t parse_table(const char *md, struct row *rows, size_t max)
{
	size_t n = 0;
	const char *p = md;
	while ((p = strstr(p, "\n| `")) && n < max) {
		p += 4;
		const char *end = strchr(p, '`');
		snprintf(rows[n].perm, sizeof(rows[n].perm), "%.*s", (int)(end - p), p);
		const char *c = strchr(end, '|');
		for (int r = 0; r < 18; r++) {
			const char *next = strchr(c + 1, '|');
			rows[n].allow[r] = memmem(c, (size_t)(next - c), "\xe2\x9c\x93", 3) != NULL;
			c = next;
		}
		n++;
	}
	return n;
}

static void test_matrix(void **state)
{
	(void)state;
	struct bw_err err;
	assert_int_equal(authz_platform_init(e, "platform", &err), 0);
	assert_int_equal(authz_platform_init(e, "acme", &err), 0);
	assert_int_equal(authz_platform_init(e, "globex", &err), 0);
	/* init again is a no-op: no second model version */
	assert_int_equal(authz_platform_init(e, "acme", &err), 0);
	struct authz_store_info si[4];
	size_t n;
	assert_int_equal(authz_store_list(e, "acme", NULL, 4, si, &n, &err), 0);
	assert_int_equal(n, 1);
	char ids[4][AUTHZ_ID_LEN + 1];
	assert_int_equal(authz_model_list(e, "acme", si[0].id, NULL, 4, ids, &n, &err), 0);
	assert_int_equal(n, 1);

	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(authz_platform_roles_md(&b), 0);
	static struct row rows[128];
	size_t nrows = parse_table(b.data, rows, 128);
	assert_true(nrows > 40);
	bw_buf_fini(&b);

	/* one user per role in its own tenant ("platform" for platform-admin,
	 * "acme" for the rest) */
	for (size_t r = 0; r < 18; r++) {
		char subj[64];
		snprintf(subj, sizeof(subj), "user:%s", roles[r]);
		const char *tenant = r == 0 ? "platform" : "acme";
		if (authz_platform_assign(e, tenant, subj, roles[r], true, &err) < 0)
			fail_msg("assign %s: %s", roles[r], err.msg);
	}
	size_t allows = 0, unexpected = 0;
	for (size_t p = 0; p < nrows; p++)
		for (size_t r = 0; r < 18; r++) {
			char subj[64];
			snprintf(subj, sizeof(subj), "user:%s", roles[r]);
			const char *own = r == 0 ? "platform" : "acme";
			bool got = authz_platform_check(e, own, subj, rows[p].perm);
			if (got != rows[p].allow[r]) {
				fprintf(stderr, "%s %s in %s: got %d want %d\n", roles[r], rows[p].perm,
					own, got, rows[p].allow[r]);
				unexpected++;
			}
			allows += got;
			/* never in another tenant */
			if (authz_platform_check(e, "globex", subj, rows[p].perm) ||
			    (r != 0 && authz_platform_check(e, "platform", subj, rows[p].perm)) ||
			    (r == 0 && authz_platform_check(e, "acme", subj, rows[p].perm))) {
				fprintf(stderr, "%s has %s in another tenant\n", roles[r], rows[p].perm);
				unexpected++;
			}
		}
	assert_int_equal(unexpected, 0);
	assert_true(allows > 100);
	/* every role sees the system status; only platform-admin manages it */
	assert_true(authz_platform_check(e, "acme", "user:viewer", "platform.system.read"));
	assert_false(authz_platform_check(e, "acme", "user:tenant-admin", "platform.system.manage"));
	assert_true(authz_platform_check(e, "platform", "user:platform-admin", "platform.system.manage"));
	/* separation of duties: administrators manage keys, only key-user uses them */
	assert_true(authz_platform_check(e, "acme", "user:key-admin", "kms.key.rotate"));
	assert_false(authz_platform_check(e, "acme", "user:key-admin", "kms.key.use"));
	assert_false(authz_platform_check(e, "acme", "user:tenant-admin", "kms.key.use"));
	assert_true(authz_platform_check(e, "acme", "user:key-user", "kms.key.use"));
	assert_false(authz_platform_check(e, "acme", "user:key-user", "kms.key.manage"));
}

static void test_rules(void **state)
{
	(void)state;
	struct bw_err err;
	assert_int_equal(authz_platform_init(e, "initech", &err), 0);
	/* platform-admin only in the platform tenant */
	assert_int_equal(authz_platform_assign(e, "initech", "user:mallory", "platform-admin", true, &err), -1);
	assert_non_null(strstr(err.msg, "only in the platform tenant"));
	assert_int_equal(authz_platform_assign(e, "initech", "user:x", "root", true, &err), -1);
	assert_int_equal(authz_platform_assign(e, "nosuchtenant", "user:x", "viewer", true, &err), -1);
	/* API keys and groups */
	assert_int_equal(authz_platform_assign(e, "initech", "apikey:ci", "cert-requester", true, &err), 0);
	assert_true(authz_platform_check(e, "initech", "apikey:ci", "pki.cert.request"));
	assert_false(authz_platform_check(e, "initech", "apikey:ci", "pki.cert.issue"));
	assert_int_equal(authz_platform_assign(e, "initech", "group:soc#member", "siem-analyst", true, &err), 0);
	struct authz_store_info si;
	size_t n;
	assert_int_equal(authz_store_list(e, "initech", NULL, 1, &si, &n, &err), 0);
	struct authz_tuple t = { .object = "group:soc", .relation = "member", .user = "user:sam" };
	struct authz_write_req req = { .writes = &t, .nwrites = 1 };
	assert_int_equal(authz_write(e, "initech", si.id, &req, &err), 0);
	assert_true(authz_platform_check(e, "initech", "user:sam", "siem.alert.manage"));
	assert_false(authz_platform_check(e, "initech", "user:sam", "siem.rule.manage"));
	/* revoking takes effect at once (the cache is revision-stamped) */
	assert_int_equal(authz_platform_assign(e, "initech", "group:soc#member", "siem-analyst", false, &err), 0);
	assert_false(authz_platform_check(e, "initech", "user:sam", "siem.alert.manage"));
	/* unknown and malformed permissions and subjects are denied */
	assert_int_equal(authz_platform_assign(e, "initech", "user:boss", "tenant-admin", true, &err), 0);
	assert_false(authz_platform_check(e, "initech", "user:boss", "no.such.permission"));
	assert_false(authz_platform_check(e, "initech", "user:boss", "Platform.System.Read"));
	assert_false(authz_platform_check(e, "initech", "user:boss", ""));
	assert_false(authz_platform_check(e, "initech", "user:boss", NULL));
	assert_false(authz_platform_check(e, "initech", "bogus", "platform.system.read"));
	assert_false(authz_platform_check(e, "initech", "robot:x", "platform.system.read"));
	assert_true(authz_platform_check(e, "initech", "user:boss", "platform.system.read"));
	/* the permissions bulwark's routes declare today all exist */
	static const char *const declared[] = {
		"platform.system.read", "platform.system.manage", "platform.audit.write",
		"authz.store.read", "authz.store.manage", "authz.model.write", "authz.tuple.read",
		"authz.tuple.write", "authz.query", "authz.role.assign", "authz.role.read",
	};
	assert_int_equal(authz_platform_assign(e, "platform", "user:root", "platform-admin", true, &err), 0);
	for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++)
		if (!authz_platform_check(e, "platform", "user:root", declared[i]))
			fail_msg("route permission %s has no relation in platform.fga", declared[i]);
}

/* The {subject} path segment of the role routes: untrusted bytes. */
static void test_subject_decode(void **state)
{
	(void)state;
	char out[AUTHZ_SUBJECT_MAX + 1];
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} cases[] = {
		{ "user:kim", "user:kim" },
		{ "group:eng%23member", "group:eng#member" },
		{ "group:eng#member", "group:eng#member" },
		{ "apikey:0a1B", "apikey:0a1B" },
		{ "user:%6Bim", "user:kim" },
		{ "user:a%2Fb", "user:a/b" },
		{ "", NULL },
		{ "user", NULL },
		{ ":kim", NULL },
		{ "user:", NULL },
		{ "user:kim#", NULL },
		{ "user:#member", NULL },
		{ "us er:kim", NULL },
		{ "user:k im", NULL },
		{ "user:kim%00", NULL },
		{ "user:kim%0a", NULL },
		{ "user:kim%7f", NULL },
		{ "user:kim%c3%a9", NULL },
		{ "user:kim%", NULL },
		{ "user:kim%2", NULL },
		{ "user:kim%zz", NULL },
		{ "user:a:b", NULL },
		{ "user:a#b#c", NULL },
		{ "user:a#b c", NULL },
		{ "us%3Aer:kim", NULL },
		{ "group:g#mem:ber", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = authz_subject_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		if (!cases[i].want) {
			if (n >= 0)
				fail_msg("'%s' accepted as '%s'", cases[i].in, out);
			continue;
		}
		if (n < 0)
			fail_msg("'%s' refused", cases[i].in);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(n, (int)strlen(cases[i].want));
	}
	/* lengths: exactly the limit passes, one more does not; a long
	 * encoding of a short subject passes; a tiny buffer never overflows */
	char in[AUTHZ_SUBJECT_MAX * 3 + 8];
	memcpy(in, "user:", 5);
	memset(in + 5, 'a', AUTHZ_SUBJECT_MAX - 5);
	assert_int_equal(authz_subject_decode(in, AUTHZ_SUBJECT_MAX, out, sizeof(out)),
			 AUTHZ_SUBJECT_MAX);
	in[AUTHZ_SUBJECT_MAX] = 'a';
	assert_int_equal(authz_subject_decode(in, AUTHZ_SUBJECT_MAX + 1, out, sizeof(out)), -1);
	size_t k = 0;
	for (const char *c = "user:kim"; *c; c++)
		k += (size_t)snprintf(in + k, 4, "%%%02X", (unsigned char)*c);
	assert_int_equal(authz_subject_decode(in, k, out, sizeof(out)), 8);
	assert_string_equal(out, "user:kim");
	char tiny[4];
	assert_int_equal(authz_subject_decode("user:kim", 8, tiny, sizeof(tiny)), -1);
	assert_int_equal(authz_subject_decode(NULL, 3, out, sizeof(out)), -1);
}

/* The platform tenant's start-up brings every tenant's platform store to
 * the built-in model: a permission added to platform.fga exists there. */
static void test_upgrade_all_tenants(void **state)
{
	(void)state;
	struct bw_err err;
	assert_int_equal(authz_platform_init(e, "upgr", &err), 0);
	assert_int_equal(authz_platform_assign(e, "upgr", "user:amy", "auditor", true, &err), 0);
	assert_true(authz_platform_check(e, "upgr", "user:amy", "authz.role.read"));
	/* an older model version without can_authz_role_read */
	const char *old = "model\n  schema 1.1\ntype user\ntype apikey\ntype group\n  relations\n"
			  "    define member: [user, apikey, group#member]\n"
			  "type tenant\n  relations\n"
			  "    define auditor: [user, apikey, group#member]\n"
			  "    define can_platform_system_read: auditor\n";
	struct authz_model *m = authz_model_parse_dsl(old, strlen(old), &err);
	assert_non_null(m);
	char id[AUTHZ_ID_LEN + 1] = "", mid[AUTHZ_ID_LEN + 1];
	struct authz_store_info infos[4];
	size_t n;
	assert_int_equal(authz_store_list(e, "upgr", NULL, 4, infos, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (authz_platform_store_is(e, "upgr", infos[i].id))
			memcpy(id, infos[i].id, sizeof(id));
	assert_int_equal(authz_model_write(e, "upgr", id, m, mid, &err), 0);
	assert_false(authz_platform_check(e, "upgr", "user:amy", "authz.role.read"));
	assert_true(authz_platform_check(e, "upgr", "user:amy", "platform.system.read"));
	assert_int_equal(authz_platform_init(e, "platform", &err), 0);
	assert_true(authz_platform_check(e, "upgr", "user:amy", "authz.role.read"));
	assert_false(authz_platform_check(e, "upgr", "user:amy", "authz.role.assign"));
}

/* Group grants reach the members the identity module mirrors in. */
static void test_membership(void **state)
{
	(void)state;
	struct bw_err err;
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "user:ann", true, &err), 0);
	assert_int_equal(authz_platform_membership(e, "grp", "sre", "group:ops#member", true, &err),
			 0);
	assert_int_equal(authz_platform_assign(e, "grp", "group:sre#member", "siem-analyst", true,
					       &err),
			 0);
	assert_true(authz_platform_check(e, "grp", "user:ann", "siem.alert.read"));
	assert_false(authz_platform_check(e, "grp", "user:bob", "siem.alert.read"));
	assert_false(authz_platform_check(e, "other", "user:ann", "siem.alert.read"));
	/* idempotent both ways; removal takes effect at once */
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "user:ann", true, &err), 0);
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "user:ann", false, &err), 0);
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "user:ann", false, &err), 0);
	assert_false(authz_platform_check(e, "grp", "user:ann", "siem.alert.read"));
	/* malformed: refused, nothing written */
	assert_int_equal(authz_platform_membership(e, "grp", "a:b", "user:ann", true, &err), -1);
	assert_int_equal(authz_platform_membership(e, "grp", "a#b", "user:ann", true, &err), -1);
	assert_int_equal(authz_platform_membership(e, "grp", "", "user:ann", true, &err), -1);
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "tenant:grp", true, &err), -1);
	assert_int_equal(authz_platform_membership(e, "none", "ops", "user:ann", false, &err), 0);
	assert_false(authz_platform_has_store(e, "none"));

	/* a deleted tenant's grants do not survive into a new tenant of the
	 * same name (group ids are names) */
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "user:ann", true, &err), 0);
	assert_true(authz_platform_check(e, "grp", "user:ann", "siem.alert.read"));
	assert_int_equal(authz_platform_drop(e, "grp", &err), 0);
	assert_false(authz_platform_has_store(e, "grp"));
	assert_false(authz_platform_check(e, "grp", "user:ann", "siem.alert.read"));
	assert_int_equal(authz_platform_membership(e, "grp", "ops", "user:ann", true, &err), 0);
	assert_false(authz_platform_check(e, "grp", "user:ann", "siem.alert.read"));
	assert_int_equal(authz_platform_drop(e, "grp", &err), 0);
	assert_int_equal(authz_platform_drop(e, "grp", &err), 0);
	assert_int_equal(authz_platform_init(e, "platform", &err), 0);
	assert_int_equal(authz_platform_drop(e, "platform", &err), -1);
	assert_true(authz_platform_has_store(e, "platform"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_subject_decode),
		cmocka_unit_test(test_upgrade_all_tenants),
		cmocka_unit_test(test_model_valid),
		cmocka_unit_test(test_roles_md_current),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
