/* Tests for `bulwark authz` commands that need no daemon: validation with
 * LINE:COL errors and exit codes, DSL <-> JSON conversion, the role table,
 * and usage errors (exit 2) for malformed command lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz/authz.h"

static char dir[64];

static void put(const char *name, const char *text, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int run(int argc, const char **argv)
{
	fflush(stdout);
	return authz_cli_main(argc, (char **)argv);
}

static void test_cli(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/authz-cli-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char good[128], bad[128], json[128];
	put("good.fga", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define v: [user]\n",
	    good, sizeof(good));
	put("bad.fga", "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define v: [usr]\n",
	    bad, sizeof(bad));
	put("m.json",
	    "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"user\"},{\"type\":\"doc\","
	    "\"relations\":{\"v\":{\"this\":{}}},\"metadata\":{\"relations\":{\"v\":"
	    "{\"directly_related_user_types\":[{\"type\":\"user\"}]}}}}]}",
	    json, sizeof(json));
	const char *v1[] = { "authz", "model", "validate", good };
	assert_int_equal(run(4, v1), 0);
	const char *v2[] = { "authz", "model", "validate", bad };
	assert_int_equal(run(4, v2), 1);
	const char *v3[] = { "authz", "model", "json", good };
	assert_int_equal(run(4, v3), 0);
	const char *v4[] = { "authz", "model", "dsl", json };
	assert_int_equal(run(4, v4), 0);
	const char *v5[] = { "authz", "roles-md" };
	assert_int_equal(run(2, v5), 0);
	const char *v6[] = { "authz", "model", "validate", "/nonexistent.fga" };
	assert_int_equal(run(4, v6), 1);
	const char *u1[] = { "authz" };
	assert_int_equal(run(1, u1), 2);
	const char *u2[] = { "authz", "bogus" };
	assert_int_equal(run(2, u2), 2);
	const char *u3[] = { "authz", "check", "S", "user:a" };
	assert_int_equal(run(4, u3), 2);
	const char *u4[] = { "authz", "check", "--bogus" };
	assert_int_equal(run(3, u4), 2);
	/* a daemon that is not there: failure, not a crash */
	const char *d1[] = { "authz", "--url", "http://127.0.0.1:1", "store", "list" };
	assert_int_equal(run(5, d1), 1);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_cli) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
