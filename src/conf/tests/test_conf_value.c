/* Unit tests for the typed converters and getters: booleans, integers,
 * sizes, durations (with overflow), enums, ports, paths, required vs
 * optional keys, unknown-key suggestions and the secret-file check. */
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
#include "conf/conf_int.h"

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

/* Load "v: <text>" and return the value node. */
static const struct conf_node *val(const char *text)
{
	struct bw_err err;
	char *y = bw_arena_printf(arena, "v: %s\n", text);
	struct conf_doc *d =
	    conf_load_string("t.yaml", y, strlen(y), arena, &err);
	assert_non_null(d);
	const struct conf_node *n = conf_get(d->root, "v");
	assert_non_null(n);
	return n;
}

static void strings(void **state)
{
	struct bw_err err;
	const char *s;
	assert_int_equal(conf_as_str(val("hello"), &s, &err), 0);
	assert_string_equal(s, "hello");
	assert_int_equal(conf_as_str(val("123"), &s, &err), 0);
	assert_string_equal(s, "123");
	assert_int_equal(conf_as_str(val("\"\""), &s, &err), 0);
	assert_string_equal(s, "");
	assert_int_equal(conf_as_str(val("~"), &s, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be a string, not null");
	assert_int_equal(conf_as_str(val("[a]"), &s, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be a string, not a sequence");
	assert_int_equal(conf_as_str(NULL, &s, &err), -1);
}

static void booleans_are_only_true_and_false(void **state)
{
	struct bw_err err;
	bool b = false;
	assert_int_equal(conf_as_bool(val("true"), &b, &err), 0);
	assert_true(b);
	assert_int_equal(conf_as_bool(val("false"), &b, &err), 0);
	assert_false(b);
	const char *notbool[] = {"yes", "no", "on", "off", "True", "y", "1"};
	for (size_t i = 0; i < BW_ARRAY_LEN(notbool); i++) {
		b = true;
		assert_int_equal(conf_as_bool(val(notbool[i]), &b, &err), -1);
		assert_true(b); /* untouched on failure */
		assert_string_equal(err.reason, "type");
	}
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be true or false, "
				     "not '1' (yes/no/on/off are not booleans "
				     "here)");
	assert_int_equal(conf_as_bool(val("\"true\""), &b, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be true or false, "
				     "not a quoted string (remove the quotes)");
	assert_int_equal(conf_as_bool(val("~"), &b, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be true or false, not null");
}

static void integers(void **state)
{
	struct bw_err err;
	int64_t v = 7;
	assert_int_equal(conf_as_int(val("42"), 0, 100, &v, &err), 0);
	assert_int_equal(v, 42);
	assert_int_equal(conf_as_int(val("-17"), -20, 0, &v, &err), 0);
	assert_int_equal(v, -17);
	assert_int_equal(conf_as_int(val("0"), 0, 0, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(conf_as_int(val("9223372036854775807"), INT64_MIN,
				     INT64_MAX, &v, &err),
			 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(conf_as_int(val("-9223372036854775808"), INT64_MIN,
				     INT64_MAX, &v, &err),
			 0);
	assert_true(v == INT64_MIN);

	assert_int_equal(conf_as_int(val("9223372036854775808"), INT64_MIN,
				     INT64_MAX, &v, &err),
			 -1);
	assert_string_equal(err.reason, "range");
	assert_int_equal(
	    conf_as_int(val("99999999999999999999999"), 0, 10, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be between 0 and 10");
	assert_int_equal(conf_as_int(val("101"), 0, 100, &v, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be between 0 and 100");
	assert_int_equal(conf_as_int(val("0640"), 0, 1000, &v, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be an integer without leading "
			    "zeros (is '0640' meant as octal?)");
	const char *bad[] = {"1.5", "0x10", "+3",    "1e3", "12abc",
			     "--",  "-0",   "1_000", " "};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		assert_int_equal(
		    conf_as_int(val(bad[i]), INT64_MIN, INT64_MAX, &v, &err),
		    -1);
	}
	assert_int_equal(conf_as_int(val("abc"), 0, 1, &v, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be an integer, not 'abc'");
	assert_int_equal(conf_as_int(val("\"123\""), 0, 1000, &v, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be an integer, not "
				     "a quoted string (remove the quotes)");

	uint64_t u;
	assert_int_equal(conf_as_uint64(val("18446744073709551615"), 0,
					UINT64_MAX, &u, &err),
			 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(conf_as_uint64(val("18446744073709551616"), 0,
					UINT64_MAX, &u, &err),
			 -1);
	assert_int_equal(conf_as_uint64(val("-1"), 0, 10, &u, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be between 0 and 10");
	assert_int_equal(conf_as_uint64(val("5"), 6, 10, &u, &err), -1);
}

static void sizes(void **state)
{
	struct bw_err err;
	uint64_t v;
	static const struct {
		const char *in;
		uint64_t want;
	} ok[] = {
	    {"0", 0},
	    {"512", 512},
	    {"512b", 512},
	    {"16k", 16384},
	    {"16K", 16384},
	    {"16KiB", 16384},
	    {"1m", 1048576},
	    {"2M", 2097152},
	    {"1g", 1073741824},
	    {"3t", 3298534883328ull},
	    {"16777215t", 16777215ull << 40},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(ok); i++) {
		assert_int_equal(
		    conf_as_size(val(ok[i].in), 0, UINT64_MAX, &v, &err), 0);
		assert_true(v == ok[i].want);
		assert_int_equal(
		    conf_parse_size(ok[i].in, strlen(ok[i].in), &v), 0);
		assert_true(v == ok[i].want);
	}
	assert_int_equal(
	    conf_as_size(val("99999999999999999999g"), 0, UINT64_MAX, &v, &err),
	    -1);
	assert_string_equal(err.reason, "range");
	assert_string_equal(err.msg, "t.yaml:1:4: v: size "
				     "'99999999999999999999g' is too large");
	/* fits in u64 as a number, overflows once shifted */
	assert_int_equal(
	    conf_as_size(val("16777216t"), 0, UINT64_MAX, &v, &err), -1);
	assert_string_equal(err.reason, "range");
	assert_int_equal(
	    conf_as_size(val("17179869184g"), 0, UINT64_MAX, &v, &err), -1);
	const char *bad[] = {"k",   "16kb", "16 k", "1.5m", "-1k",
			     "16x", "16kk", "016k", "0x10"};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		assert_int_equal(
		    conf_as_size(val(bad[i]), 0, UINT64_MAX, &v, &err), -1);
		assert_int_equal(conf_parse_size(bad[i], strlen(bad[i]), &v),
				 -1);
	}
	assert_int_equal(conf_as_size(val("16kb"), 0, UINT64_MAX, &v, &err),
			 -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be a size like 512, "
				     "64k, 16m or 1g, not '16kb'");
	assert_int_equal(conf_as_size(val("2m"), 0, 1048576, &v, &err), -1);
	assert_string_equal(
	    err.msg, "t.yaml:1:4: v: must be between 0 and 1048576 bytes");
}

static void durations(void **state)
{
	struct bw_err err;
	uint64_t v;
	static const struct {
		const char *in;
		uint64_t want;
	} ok[] = {
	    {"0", 0},		{"500ms", 500},
	    {"30s", 30000},	{"5m", 300000},
	    {"1h", 3600000},	{"7d", 604800000},
	    {"1h30m", 5400000}, {"1d2h3m4s5ms", 93784005},
	    {"0s", 0},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(ok); i++) {
		assert_int_equal(
		    conf_as_duration(val(ok[i].in), 0, UINT64_MAX, &v, &err),
		    0);
		assert_true(v == ok[i].want);
	}
	const char *bad[] = {"30",  "s",    "5 m",  "1.5h", "-1s", "1w",
			     "30S", "5m1h", "1s1s", "1hh",  "05s", "ms"};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		assert_int_equal(
		    conf_as_duration(val(bad[i]), 0, UINT64_MAX, &v, &err), -1);
		assert_string_equal(err.reason, "type");
		assert_int_equal(
		    conf_parse_duration(bad[i], strlen(bad[i]), &v), -1);
	}
	assert_int_equal(conf_as_duration(val("30"), 0, UINT64_MAX, &v, &err),
			 -1);
	assert_string_equal(
	    err.msg, "t.yaml:1:4: v: must be a duration like 500ms, 30s, "
		     "5m, 1h, 7d or 1h30m, not '30'");
	/* overflow in the multiplication and in the sum */
	assert_int_equal(conf_as_duration(val("99999999999999999d"), 0,
					  UINT64_MAX, &v, &err),
			 -1);
	assert_string_equal(err.reason, "range");
	assert_string_equal(err.msg, "t.yaml:1:4: v: duration "
				     "'99999999999999999d' is too long");
	assert_int_equal(conf_as_duration(val("213503982334d"
					      "18446744073709551615ms"),
					  0, UINT64_MAX, &v, &err),
			 -1);
	assert_string_equal(err.reason, "range");
	assert_int_equal(conf_as_duration(val("99999999999999999999ms"), 0,
					  UINT64_MAX, &v, &err),
			 -1);
	assert_int_equal(conf_as_duration(val("2h"), 1000, 3600000, &v, &err),
			 -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be between 1s and 1h");
	assert_int_equal(conf_as_duration(val("10ms"), 1500, 60000, &v, &err),
			 -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be between 1500ms and 1m");
}

static const char *const modes[] = {"block", "detect", "off", NULL};

static void enums(void **state)
{
	struct bw_err err;
	int i = -1;
	assert_int_equal(conf_as_enum(val("detect"), modes, &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(conf_as_enum(val("\"off\""), modes, &i, &err), 0);
	assert_int_equal(i, 2);
	assert_int_equal(conf_as_enum(val("blok"), modes, &i, &err), -1);
	assert_string_equal(err.reason, "enum");
	assert_string_equal(err.msg, "t.yaml:1:4: v: unknown value 'blok' "
				     "(did you mean 'block'?)");
	assert_int_equal(conf_as_enum(val("monitor"), modes, &i, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be one of block, "
				     "detect, off, not 'monitor'");
	assert_int_equal(conf_as_enum(val("Block"), modes, &i, &err), -1);
	assert_int_equal(conf_as_enum(val("~"), modes, &i, &err), -1);
	assert_string_equal(err.msg, "t.yaml:1:4: v: must be one of block, "
				     "detect, off, not null");
	assert_int_equal(i, 2);
}

static void ports_and_paths(void **state)
{
	struct bw_err err;
	uint16_t p;
	assert_int_equal(conf_as_port(val("443"), &p, &err), 0);
	assert_int_equal(p, 443);
	assert_int_equal(conf_as_port(val("65535"), &p, &err), 0);
	assert_int_equal(p, 65535);
	assert_int_equal(conf_as_port(val("65536"), &p, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be between 0 and 65535");
	assert_int_equal(conf_as_port(val("-1"), &p, &err), -1);
	assert_int_equal(conf_as_port(val("https"), &p, &err), -1);

	const char *s;
	assert_int_equal(conf_as_path(val("/etc/bulwark/ca.key"), &s, &err), 0);
	assert_string_equal(s, "/etc/bulwark/ca.key");
	assert_int_equal(conf_as_path(val("\"\""), &s, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: must be a path, not empty");
	char *longp = bw_arena_zalloc(arena, 5000);
	memset(longp, 'a', 4999);
	assert_int_equal(conf_as_path(val(longp), &s, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:1:4: v: path longer than 4095 bytes");
}

static void getters_required_and_optional(void **state)
{
	struct bw_err err;
	const char *y = "server:\n"
			"  workers: 8\n"
			"  name: edge\n"
			"  timeout: ~\n"
			"  body: 1m\n";
	struct conf_doc *d =
	    conf_load_string("t.yaml", y, strlen(y), arena, &err);
	assert_non_null(d);
	const struct conf_node *srv = conf_get(d->root, "server");
	int64_t w;
	assert_int_equal(conf_get_int(srv, "workers", 1, 64, &w, &err), 0);
	assert_int_equal(w, 8);
	assert_int_equal(conf_get_int(srv, "threads", 1, 64, &w, &err), -1);
	assert_string_equal(err.reason, "missing");
	assert_string_equal(err.msg, "t.yaml:2:3: server: missing required "
				     "key 'threads'");
	assert_int_equal(conf_opt_int(srv, "threads", 3, 1, 64, &w, &err), 0);
	assert_int_equal(w, 3);
	/* an optional key that is present is still checked */
	assert_int_equal(conf_opt_int(srv, "workers", 3, 1, 4, &w, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:2:12: server.workers: must be between 1 "
			    "and 4");

	uint64_t ms;
	assert_int_equal(
	    conf_get_duration(srv, "timeout", 0, UINT64_MAX, &ms, &err), -1);
	assert_string_equal(err.msg, "t.yaml:4:12: server.timeout: needs a "
				     "value (it is null)");
	assert_int_equal(
	    conf_opt_duration(srv, "timeout", 5000, 0, UINT64_MAX, &ms, &err),
	    0);
	assert_int_equal(ms, 5000);

	uint64_t sz;
	assert_int_equal(conf_get_size(srv, "body", 0, UINT64_MAX, &sz, &err),
			 0);
	assert_int_equal(sz, 1048576);
	assert_int_equal(
	    conf_opt_size(srv, "hdr", 8192, 0, UINT64_MAX, &sz, &err), 0);
	assert_int_equal(sz, 8192);

	const char *s;
	assert_int_equal(conf_get_str(srv, "name", &s, &err), 0);
	assert_string_equal(s, "edge");
	assert_int_equal(conf_opt_str(srv, "x", "dflt", &s, &err), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(conf_opt_path(srv, "x", "/var/lib/bulwark", &s, &err),
			 0);
	assert_string_equal(s, "/var/lib/bulwark");
	assert_int_equal(conf_get_path(srv, "x", &s, &err), -1);

	bool b;
	assert_int_equal(conf_opt_bool(srv, "x", true, &b, &err), 0);
	assert_true(b);
	assert_int_equal(conf_get_bool(srv, "x", &b, &err), -1);
	uint16_t port;
	assert_int_equal(conf_opt_port(srv, "x", 8443, &port, &err), 0);
	assert_int_equal(port, 8443);
	assert_int_equal(conf_get_port(srv, "x", &port, &err), -1);
	int m;
	assert_int_equal(conf_opt_enum(srv, "x", modes, 1, &m, &err), 0);
	assert_int_equal(m, 1);
	assert_int_equal(conf_get_enum(srv, "x", modes, &m, &err), -1);
	uint64_t u;
	assert_int_equal(conf_opt_uint64(srv, "x", 9, 0, 10, &u, &err), 0);
	assert_int_equal(u, 9);
	assert_int_equal(conf_get_uint64(srv, "workers", 0, 10, &u, &err), 0);
	assert_int_equal(u, 8);

	/* getters on something that is not a mapping */
	assert_int_equal(
	    conf_get_int(conf_get(srv, "name"), "a", 0, 1, &w, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:3:9: server.name: must be a mapping (key: "
			    "value pairs), not a scalar");
}

static void unknown_keys_get_suggestions(void **state)
{
	struct bw_err err;
	const char *y = "server:\n"
			"  workers: 4\n"
			"  wrkers: 8\n";
	struct conf_doc *d =
	    conf_load_string("bulwark.yaml", y, strlen(y), arena, &err);
	assert_non_null(d);
	static const char *const allowed[] = {"workers", "listen", "name",
					      NULL};
	const struct conf_node *srv = conf_get(d->root, "server");
	assert_int_equal(conf_check_keys(srv, allowed, &err), -1);
	assert_string_equal(err.reason, "unknown_key");
	assert_string_equal(err.msg, "bulwark.yaml:3:3: server.wrkers: unknown "
				     "key 'wrkers' (did you mean 'workers'?)");

	/* nothing close: list what is allowed */
	y = "server:\n  zzz: 1\n";
	d = conf_load_string("bulwark.yaml", y, strlen(y), arena, &err);
	assert_non_null(d);
	assert_int_equal(
	    conf_check_keys(conf_get(d->root, "server"), allowed, &err), -1);
	assert_string_equal(err.msg, "bulwark.yaml:2:3: server.zzz: unknown "
				     "key 'zzz' (allowed: workers, listen, "
				     "name)");
	static const char *const none[] = {NULL};
	assert_int_equal(
	    conf_check_keys(conf_get(d->root, "server"), none, &err), -1);
	assert_string_equal(err.msg, "bulwark.yaml:2:3: server.zzz: unknown "
				     "key 'zzz'");
	assert_int_equal(conf_check_keys(d->root,
					 (const char *const[]){"server", NULL},
					 &err),
			 0);

	/* transpositions count as one edit */
	assert_int_equal(conf_edit_distance("prot", "port"), 1);
	assert_int_equal(conf_edit_distance("", "abc"), 3);
	assert_int_equal(conf_edit_distance("kitten", "sitting"), 3);
	static const char *const c1[] = {"port", "host", NULL};
	assert_string_equal(conf_suggest("prot", c1), "port");
	assert_null(conf_suggest("x", c1));
	assert_null(conf_suggest("port", c1)); /* exact is not a typo */
	static const char *const c2[] = {"max_body_size", NULL};
	assert_string_equal(conf_suggest("max_bdy_sze", c2), "max_body_size");
	assert_null(conf_suggest("timeout", c2));
}

static void secret_files(void **state)
{
	struct bw_err err;
	char dir[] = "/tmp/conf-secret-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char key[128], link[128], sub[128];
	snprintf(key, sizeof(key), "%s/tls.key", dir);
	snprintf(link, sizeof(link), "%s/link.key", dir);
	snprintf(sub, sizeof(sub), "%s/subdir", dir);
	assert_int_equal(bw_file_write_atomic(key, "k", 1, 0600, &err), 0);
	assert_int_equal(conf_check_secret_file(key, &err), 0);
	assert_int_equal(chmod(key, 0400), 0);
	assert_int_equal(conf_check_secret_file(key, &err), 0);

	static const unsigned bad_modes[] = {0640, 0604, 0644, 0660,
					     0610, 0602, 0777};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_modes); i++) {
		assert_int_equal(chmod(key, bad_modes[i]), 0);
		assert_int_equal(conf_check_secret_file(key, &err), -1);
		assert_string_equal(err.reason, "secret_file");
	}
	char want[256];
	snprintf(want, sizeof(want),
		 "%s: group or others can access it (mode 0777); run chmod "
		 "600 on it",
		 key);
	assert_string_equal(err.msg, want);

	/* a symlink is judged by its target */
	assert_int_equal(symlink(key, link), 0);
	assert_int_equal(conf_check_secret_file(link, &err), -1);
	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(conf_check_secret_file(link, &err), 0);

	/* not a regular file */
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(conf_check_secret_file(sub, &err), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", sub);
	assert_string_equal(err.msg, want);
	assert_int_equal(conf_check_secret_file("/dev/null", &err), -1);
	assert_string_equal(err.msg, "/dev/null: not a regular file");

	/* a FIFO must not hang the check */
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(conf_check_secret_file(fifo, &err), -1);
	unlink(fifo);

	/* owned by someone else (only testable as root) */
	if (geteuid() == 0) {
		assert_int_equal(chown(key, 12345, 12345), 0);
		assert_int_equal(conf_check_secret_file(key, &err), -1);
		snprintf(want, sizeof(want),
			 "%s: owned by uid 12345, must be owned by root or "
			 "uid 0",
			 key);
		assert_string_equal(err.msg, want);
		assert_int_equal(chown(key, 0, 0), 0);
	}

	unlink(link);
	unlink(key);
	rmdir(sub);
	assert_int_equal(conf_check_secret_file(key, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(conf_check_secret_file("", &err), -1);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(strings, setup, teardown),
	    cmocka_unit_test_setup_teardown(booleans_are_only_true_and_false,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(integers, setup, teardown),
	    cmocka_unit_test_setup_teardown(sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(durations, setup, teardown),
	    cmocka_unit_test_setup_teardown(enums, setup, teardown),
	    cmocka_unit_test_setup_teardown(ports_and_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(getters_required_and_optional,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_keys_get_suggestions, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(secret_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
