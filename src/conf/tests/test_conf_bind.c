/* Unit tests for the declarative binder: a realistic section with nested
 * sections, lists and defaults; required fields; unknown keys; bad values
 * deep in lists; bad defaults; secret paths; custom parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"

static struct bw_arena *arena;

static int setup(void **state)
{
	arena = bw_arena_new(8192, 64u * 1024 * 1024);
	return arena ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(arena);
	arena = NULL;
	return 0;
}

/* ---- the section under test: a gateway-like config */

struct tls_conf {
	const char *cert;
	const char *key;
	int min_version;
};

struct listener_conf {
	const char *address;
	uint16_t port;
	bool proxy_protocol;
};

struct addr4 {
	uint8_t b[4];
};

struct gw_conf {
	int workers;
	const char *name;
	bool enabled;
	size_t max_body;
	uint64_t idle_timeout_ms;
	int mode;
	unsigned backlog;
	int64_t offset;
	uint64_t big;
	struct conf_strlist trusted;
	struct conf_list listeners;
	struct tls_conf tls;
	const struct conf_node *extra;
	struct addr4 bind;
};

static const char *const gw_modes[] = {"block", "detect", "off", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};

static const struct conf_field tls_fields[] = {
    {.name = "cert", CONF_PATH(struct tls_conf, cert), .required = true},
    {.name = "key", CONF_PATH(struct tls_conf, key)},
    {.name = "min_version",
     CONF_ENUM(struct tls_conf, min_version, tls_versions),
     .def = "1.3"},
};

static const struct conf_field listener_fields[] = {
    {.name = "address",
     CONF_STR(struct listener_conf, address),
     .def = "0.0.0.0"},
    {.name = "port", CONF_PORT(struct listener_conf, port), .required = true},
    {.name = "proxy_protocol",
     CONF_BOOL(struct listener_conf, proxy_protocol),
     .def = "false"},
};

/* A custom field: a dotted IPv4 address into four bytes. */
static int parse_addr4(const struct conf_node *v, void *dst, struct bw_err *err)
{
	const char *s;
	unsigned a, b, c, d;
	char extra;
	if (conf_as_str(v, &s, err) < 0)
		return -1;
	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 ||
	    a > 255 || b > 255 || c > 255 || d > 255)
		return conf_err(v, err, "type", "must be an IPv4 address");
	struct addr4 *o = dst;
	o->b[0] = (uint8_t)a;
	o->b[1] = (uint8_t)b;
	o->b[2] = (uint8_t)c;
	o->b[3] = (uint8_t)d;
	return 0;
}

static const struct conf_field gw_fields[] = {
    {.name = "workers",
     CONF_INT(struct gw_conf, workers),
     .min = 1,
     .max = 256,
     .def = "4",
     .help = "worker threads"},
    {.name = "name",
     CONF_STR(struct gw_conf, name),
     .required = true,
     .min = 1,
     .max = 16},
    {.name = "enabled", CONF_BOOL(struct gw_conf, enabled), .def = "true"},
    {.name = "max_body",
     CONF_SIZE(struct gw_conf, max_body),
     .min = 1,
     .max = 64 * 1024 * 1024,
     .def = "1m"},
    {.name = "idle_timeout",
     CONF_DURATION(struct gw_conf, idle_timeout_ms),
     .min = 1000,
     .max = 3600000,
     .def = "30s"},
    {.name = "mode",
     CONF_ENUM(struct gw_conf, mode, gw_modes),
     .def = "detect"},
    {.name = "backlog", CONF_UINT(struct gw_conf, backlog)},
    {.name = "offset", CONF_INT64(struct gw_conf, offset)},
    {.name = "big", CONF_UINT64(struct gw_conf, big)},
    {.name = "trusted", CONF_STRLIST(struct gw_conf, trusted), .max = 3},
    {.name = "listeners",
     CONF_LIST(struct gw_conf, listeners, listener_fields,
	       struct listener_conf),
     .min = 1},
    {.name = "tls", CONF_SECTION(struct gw_conf, tls, tls_fields)},
    {.name = "extra", CONF_NODE(struct gw_conf, extra)},
    {.name = "bind",
     CONF_CUSTOM(struct gw_conf, bind, parse_addr4),
     .def = "127.0.0.1"},
};

static const struct conf_node *section(const char *y)
{
	struct bw_err err;
	struct conf_doc *d =
	    conf_load_string("gw.yaml", y, strlen(y), arena, &err);
	if (!d)
		fail_msg("load failed: %s", err.msg);
	return conf_get(d->root, "gateway");
}

/* Bind must fail with exactly this message. */
static void expect_bind_fail(const char *y, const char *reason, const char *msg)
{
	struct bw_err err;
	struct gw_conf c;
	memset(&err, 0, sizeof(err));
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    conf_bind(section(y), gw_fields, BW_ARRAY_LEN(gw_fields), &c, &err),
	    -1);
	assert_string_equal(err.msg, msg);
	assert_string_equal(err.reason, reason);
}

static void binds_values_and_defaults(void **state)
{
	struct bw_err err;
	struct gw_conf c;
	memset(&c, 0xA5, sizeof(c)); /* everything must be written */
	const struct conf_node *s = section("gateway:\n"
					    "  name: edge\n"
					    "  workers: 8\n"
					    "  max_body: 16k\n"
					    "  mode: block\n"
					    "  backlog: 4096\n"
					    "  offset: -5\n"
					    "  trusted: [10.0.0.0/8, '::1']\n"
					    "  listeners:\n"
					    "    - port: 443\n"
					    "      proxy_protocol: true\n"
					    "    - port: 80\n"
					    "      address: 127.0.0.1\n"
					    "  tls:\n"
					    "    cert: /etc/bulwark/gw.crt\n"
					    "  extra: {anything: [goes]}\n"
					    "  bind: 10.1.2.3\n");
	assert_int_equal(
	    conf_bind(s, gw_fields, BW_ARRAY_LEN(gw_fields), &c, &err), 0);
	assert_int_equal(c.workers, 8);
	assert_string_equal(c.name, "edge");
	assert_true(c.enabled); /* default */
	assert_int_equal(c.max_body, 16384);
	assert_int_equal(c.idle_timeout_ms, 30000); /* default "30s" */
	assert_int_equal(c.mode, 0);
	assert_int_equal(c.backlog, 4096);
	assert_int_equal(c.offset, -5);
	assert_int_equal(c.big, 0); /* absent, no default: zeroed */
	assert_int_equal(c.trusted.n, 2);
	assert_string_equal(c.trusted.v[0], "10.0.0.0/8");
	assert_string_equal(c.trusted.v[1], "::1");
	assert_int_equal(c.listeners.n, 2);
	const struct listener_conf *l = c.listeners.v;
	assert_string_equal(l[0].address, "0.0.0.0");
	assert_int_equal(l[0].port, 443);
	assert_true(l[0].proxy_protocol);
	assert_string_equal(l[1].address, "127.0.0.1");
	assert_int_equal(l[1].port, 80);
	assert_false(l[1].proxy_protocol);
	assert_string_equal(c.tls.cert, "/etc/bulwark/gw.crt");
	assert_null(c.tls.key);
	assert_int_equal(c.tls.min_version, 1); /* default "1.3" */
	assert_non_null(c.extra);
	assert_int_equal(c.extra->kind, CONF_MAPPING);
	assert_memory_equal(c.bind.b, ((uint8_t[]){10, 1, 2, 3}), 4);
}

static void null_or_absent_section_takes_defaults(void **state)
{
	static const struct conf_field opt_tls[] = {
	    {.name = "min_version",
	     CONF_ENUM(struct tls_conf, min_version, tls_versions),
	     .def = "1.2"},
	    {.name = "key", CONF_PATH(struct tls_conf, key), .def = "/etc/k"},
	};
	static const struct conf_field outer[] = {
	    {.name = "tls", CONF_SECTION(struct gw_conf, tls, opt_tls)},
	    {.name = "workers", CONF_INT(struct gw_conf, workers), .def = "2"},
	};
	struct bw_err err;
	struct gw_conf c;
	const char *inputs[] = {"gateway:\n  tls:\n", "gateway:\n  tls: ~\n",
				"gateway: {}\n", "gateway:\n", "other: 1\n"};
	for (size_t i = 0; i < BW_ARRAY_LEN(inputs); i++) {
		memset(&c, 0xA5, sizeof(c));
		assert_int_equal(conf_bind(section(inputs[i]), outer,
					   BW_ARRAY_LEN(outer), &c, &err),
				 0);
		assert_int_equal(c.tls.min_version, 0);
		assert_string_equal(c.tls.key, "/etc/k");
		assert_int_equal(c.workers, 2);
	}
	/* an absent section does not demand its required keys: they stay
	 * zeroed, which is how the module sees it was not given */
	memset(&c, 0xA5, sizeof(c));
	assert_int_equal(conf_bind(section("gateway:\n  name: a\n"), gw_fields,
				   BW_ARRAY_LEN(gw_fields), &c, &err),
			 0);
	assert_null(c.tls.cert);
	assert_null(c.tls.key);
	assert_int_equal(c.tls.min_version, 1);
	assert_int_equal(c.listeners.n, 0);
	assert_null(c.listeners.v);
	assert_int_equal(c.trusted.n, 0);
	assert_null(c.extra);
	/* a section given as null is present: its required keys count */
	memset(&err, 0, sizeof(err));
	assert_int_equal(conf_bind(section("gateway:\n  name: a\n  tls:\n"),
				   gw_fields, BW_ARRAY_LEN(gw_fields), &c,
				   &err),
			 -1);
	assert_string_equal(err.msg, "gw.yaml:3:7: gateway.tls: missing "
				     "required key 'cert'");
	/* a section that is a scalar is an error */
	memset(&err, 0, sizeof(err));
	assert_int_equal(conf_bind(section("gateway:\n  tls: yes\n"), outer,
				   BW_ARRAY_LEN(outer), &c, &err),
			 -1);
	assert_string_equal(err.msg,
			    "gw.yaml:2:8: gateway.tls: must be a "
			    "mapping (key: value pairs), not a scalar");
}

static void required_fields(void **state)
{
	expect_bind_fail("gateway:\n  workers: 2\n  listeners: [{port: 1}]\n",
			 "missing",
			 "gw.yaml:2:3: gateway: missing required key 'name'");
	expect_bind_fail("gateway:\n  name:\n  listeners: [{port: 1}]\n",
			 "missing",
			 "gw.yaml:2:8: gateway.name: needs a value (it is "
			 "null)");
	/* required inside a list item, positioned at that item */
	expect_bind_fail("gateway:\n  name: a\n  listeners:\n"
			 "    - port: 1\n    - address: x\n",
			 "missing",
			 "gw.yaml:5:7: gateway.listeners[1]: missing required "
			 "key 'port'");
	/* required inside a present section */
	expect_bind_fail("gateway:\n  name: a\n  listeners: [{port: 1}]\n"
			 "  tls: {key: /k}\n",
			 "missing",
			 "gw.yaml:4:8: gateway.tls: missing required key "
			 "'cert'");
}

static void unknown_keys_rejected_with_suggestion(void **state)
{
	expect_bind_fail("gateway:\n  name: a\n  wrkers: 3\n", "unknown_key",
			 "gw.yaml:3:3: gateway.wrkers: unknown key 'wrkers' "
			 "(did you mean 'workers'?)");
	/* unknown keys are reported before missing ones: the typo is the
	 * cause */
	expect_bind_fail("gateway:\n  nmae: a\n", "unknown_key",
			 "gw.yaml:2:3: gateway.nmae: unknown key 'nmae' (did "
			 "you mean 'name'?)");
	expect_bind_fail(
	    "gateway:\n  name: a\n  listeners:\n"
	    "    - port: 1\n      adress: x\n",
	    "unknown_key",
	    "gw.yaml:5:7: gateway.listeners[0].adress: unknown key "
	    "'adress' (did you mean 'address'?)");
	expect_bind_fail("gateway:\n  name: a\n  qqqqq: 1\n", "unknown_key",
			 "gw.yaml:3:3: gateway.qqqqq: unknown key 'qqqqq'");
}

static void bad_values_are_positioned(void **state)
{
	expect_bind_fail("gateway:\n  name: a\n  listeners:\n"
			 "    - port: 1\n    - port: 70000\n",
			 "range",
			 "gw.yaml:5:13: gateway.listeners[1].port: must be "
			 "between 0 and 65535");
	expect_bind_fail("gateway:\n  name: a\n  workers: 0\n"
			 "  listeners: [{port: 1}]\n",
			 "range",
			 "gw.yaml:3:12: gateway.workers: must be between 1 and "
			 "256");
	expect_bind_fail("gateway:\n  name: a\n  enabled: yes\n", "type",
			 "gw.yaml:3:12: gateway.enabled: must be true or "
			 "false, not 'yes' (yes/no/on/off are not booleans "
			 "here)");
	expect_bind_fail("gateway:\n  name: a\n  idle_timeout: 2h\n", "range",
			 "gw.yaml:3:17: gateway.idle_timeout: must be between "
			 "1s and 1h");
	expect_bind_fail("gateway:\n  name: a\n  max_body: 1g\n", "range",
			 "gw.yaml:3:13: gateway.max_body: must be between 1 "
			 "and 67108864 bytes");
	expect_bind_fail("gateway:\n  name: a\n  mode: detcet\n", "enum",
			 "gw.yaml:3:9: gateway.mode: unknown value 'detcet' "
			 "(did you mean 'detect'?)");
	expect_bind_fail("gateway:\n  name: a\n  listeners: []\n", "range",
			 "gw.yaml:3:14: gateway.listeners: needs at least 1 "
			 "item");
	expect_bind_fail("gateway:\n  name: a\n  listeners: {port: 1}\n",
			 "type",
			 "gw.yaml:3:14: gateway.listeners: must be a sequence "
			 "(a list of - items), not a mapping");
	expect_bind_fail("gateway:\n  name: a\n  trusted: [a, b, c, d]\n",
			 "range",
			 "gw.yaml:3:12: gateway.trusted: allows at most 3 "
			 "items");
	expect_bind_fail("gateway:\n  name: a\n  trusted: [a, [b]]\n", "type",
			 "gw.yaml:3:16: gateway.trusted[1]: must be a string, "
			 "not a sequence");
	expect_bind_fail("gateway:\n  name: \"\"\n", "range",
			 "gw.yaml:2:9: gateway.name: must be at least 1 bytes "
			 "long");
	expect_bind_fail("gateway:\n  name: abcdefghijklmnopq\n", "range",
			 "gw.yaml:2:9: gateway.name: must be at most 16 bytes "
			 "long");
	expect_bind_fail("gateway:\n  name: a\n  bind: 300.1.1.1\n", "type",
			 "gw.yaml:3:9: gateway.bind: must be an IPv4 address");
	expect_bind_fail("gateway:\n  name: a\n  backlog: -1\n", "range",
			 "gw.yaml:3:12: gateway.backlog: must be between 0 and "
			 "4294967295");
	expect_bind_fail("gateway:\n  name: a\n  big: 9223372036854775808\n",
			 "range",
			 "gw.yaml:3:8: gateway.big: must be between 0 and "
			 "9223372036854775807");
	expect_bind_fail("gateway: [1]\n", "type",
			 "gw.yaml:1:10: gateway: must be a mapping (key: value "
			 "pairs), not a sequence");
}

static void bad_default_is_internal_error(void **state)
{
	struct s {
		int n;
	};
	static const struct conf_field bad[] = {
	    {.name = "n",
	     CONF_INT(struct s, n),
	     .min = 1,
	     .max = 10,
	     .def = "11"},
	};
	struct bw_err err;
	struct s v;
	assert_int_equal(conf_bind(section("gateway: {}\n"), bad,
				   BW_ARRAY_LEN(bad), &v, &err),
			 -1);
	assert_int_equal(err.code, 500);
	assert_string_equal(err.reason, "internal");
	assert_string_equal(err.msg, "gw.yaml: gateway.n: (default) must be "
				     "between 1 and 10");
}

static void secret_paths_are_checked(void **state)
{
	struct s {
		const char *key;
	};
	static const struct conf_field f[] = {
	    {.name = "key", CONF_SECRET_PATH(struct s, key), .required = true},
	};
	char dir[] = "/tmp/conf-bind-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	struct bw_err err;
	assert_int_equal(bw_file_write_atomic(path, "x", 1, 0644, &err), 0);
	char *y = bw_arena_printf(arena, "gateway:\n  key: %s\n", path);
	struct s v;
	assert_int_equal(conf_bind(section(y), f, 1, &v, &err), -1);
	char want[256];
	snprintf(want, sizeof(want),
		 "gw.yaml:2:8: gateway.key: %s: group or others can access "
		 "it (mode 0644); run chmod 600 on it",
		 path);
	assert_string_equal(err.reason, "secret_file");
	assert_string_equal(err.msg, want);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(conf_bind(section(y), f, 1, &v, &err), 0);
	assert_string_equal(v.key, path);
	unlink(path);
	rmdir(dir);
}

static void binds_root_and_null_map(void **state)
{
	struct s {
		int n;
		const char *p;
	};
	static const struct conf_field f[] = {
	    {.name = "n", CONF_INT(struct s, n), .def = "5"},
	    {.name = "p", CONF_STR(struct s, p)},
	};
	struct bw_err err;
	struct s v;
	memset(&v, 0xA5, sizeof(v));
	assert_int_equal(conf_bind(NULL, f, BW_ARRAY_LEN(f), &v, &err), 0);
	assert_int_equal(v.n, 5);
	assert_null(v.p);
	/* the whole document can be bound too */
	const char *y = "n: 7\np: x\n";
	struct conf_doc *d =
	    conf_load_string("r.yaml", y, strlen(y), arena, &err);
	assert_non_null(d);
	assert_int_equal(conf_bind(d->root, f, BW_ARRAY_LEN(f), &v, &err), 0);
	assert_int_equal(v.n, 7);
	assert_string_equal(v.p, "x");
	y = "n: 7\nq: x\n";
	d = conf_load_string("r.yaml", y, strlen(y), arena, &err);
	assert_non_null(d);
	assert_int_equal(conf_bind(d->root, f, BW_ARRAY_LEN(f), &v, &err), -1);
	assert_string_equal(err.msg, "r.yaml:2:1: q: unknown key 'q'");
	static const struct conf_field req[] = {
	    {.name = "n", CONF_INT(struct s, n), .required = true},
	};
	assert_int_equal(conf_bind(NULL, req, 1, &v, &err), -1);
	assert_string_equal(err.msg, "missing required key 'n'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(binds_values_and_defaults, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		null_or_absent_section_takes_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(required_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		unknown_keys_rejected_with_suggestion, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_values_are_positioned, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(bad_default_is_internal_error,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(secret_paths_are_checked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(binds_root_and_null_map, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
