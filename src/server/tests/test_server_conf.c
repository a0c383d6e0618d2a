/* Unit tests for the foundation config: defaults, the default file,
 * positioned errors, cross-field checks and path resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int load(const char *text, struct server_conf *c, struct bw_err *err,
		struct bw_arena **a)
{
	*a = bw_arena_new(16384, 16 << 20);
	return server_conf_load_text("/etc/bulwark/test.yaml", text, strlen(text), *a,
				     c, err);
}

static void minimal_config_gets_defaults(void **state)
{
	struct server_conf c;
	struct bw_err err;
	struct bw_arena *a;
	assert_int_equal(load("listeners:\n  - {name: admin, kind: admin, port: 0}\n",
			      &c, &err, &a), 0);
	assert_int_equal(c.listeners.n, 1);
	const struct server_listener_conf *l = c.listeners.v;
	assert_string_equal(l[0].address, "127.0.0.1");
	assert_true(l[0].tls);
	assert_int_equal(c.http.header_timeout, 10000);
	assert_int_equal(c.http.max_body, 1024 * 1024);
	assert_int_equal(c.tls.min_version, 0);
	assert_true(c.tls.session_tickets);
	/* relative paths resolve against the config file's directory */
	assert_string_equal(c.server.run_dir, "/etc/bulwark/./run");
	assert_int_equal(c.limits.max_headers, 100);
	bw_arena_free(a);
}

static void default_file_is_valid(void **state)
{
	char *text = server_conf_default_text("/var/lib/bulwark");
	assert_non_null(text);
	struct server_conf c;
	struct bw_err err;
	struct bw_arena *a;
	int rc = load(text, &c, &err, &a);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(c.listeners.n, 2);
	assert_string_equal(c.server.data_dir, "/var/lib/bulwark");
	assert_string_equal(c.audit.file, "audit.log");
	free(text);
	bw_arena_free(a);
}

static void errors_name_file_line_column(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "server:\n  wrkers: 2\nlisteners: [{name: a, kind: admin, port: 1}]\n",
		  "test.yaml:2:3: server.wrkers: unknown key 'wrkers' (did you mean 'workers'?)" },
		{ "listeners:\n  - {name: a, kind: admin, port: 70000}\n",
		  "test.yaml:2:34: listeners[0].port: must be between 0 and 65535" },
		{ "listeners:\n  - {name: a, kind: nope, port: 1}\n", "listeners[0].kind:" },
		{ "listeners:\n  - {name: a, kind: admin, port: 1}\n  - {name: a, kind: gateway, port: 2}\n",
		  "listener name 'a' is used twice" },
		{ "listeners:\n  - {name: a, kind: admin, port: 5}\n  - {name: b, kind: gateway, port: 5}\n",
		  "127.0.0.1 port 5 is used by listener 'a'" },
		{ "listeners:\n  - {name: a, kind: admin, port: 1, client_cert: require}\n",
		  "client_cert needs tls.client_ca" },
		{ "http:\n  header_timeout: 5\nlisteners: [{name: a, kind: admin, port: 1}]\n",
		  "http.header_timeout" },
		{ "tls:\n  min_version: \"1.1\"\nlisteners: [{name: a, kind: admin, port: 1}]\n",
		  "tls.min_version" },
		{ "server: {}\n", "missing" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		struct server_conf c;
		struct bw_err err;
		struct bw_arena *a;
		assert_int_equal(load(cases[i].text, &c, &err, &a), -1);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' does not contain '%s'", i, err.msg,
				 cases[i].msg);
		bw_arena_free(a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_config_gets_defaults),
		cmocka_unit_test(default_file_is_valid),
		cmocka_unit_test(errors_name_file_line_column),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
