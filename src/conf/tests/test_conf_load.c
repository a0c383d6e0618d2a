/* Unit tests for the YAML loader: tree shape, positions, scalar flags,
 * every refusal with its exact FILE:LINE:COLUMN message, limits, and
 * loading from a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_limits.h"

static struct bw_arena *arena;

static int setup(void **state)
{
	arena = bw_arena_new(8192, 256u * 1024 * 1024);
	return arena ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(arena);
	arena = NULL;
	return 0;
}

static struct conf_doc *load(const char *text, struct bw_err *err)
{
	memset(err, 0, sizeof(*err));
	return conf_load_string("t.yaml", text, strlen(text), arena, err);
}

/* Load must fail with exactly this message and reason. */
static void expect_fail(const char *text, const char *reason, const char *msg)
{
	struct bw_err err;
	struct conf_doc *d = load(text, &err);
	assert_null(d);
	assert_string_equal(err.module, "conf");
	assert_string_equal(err.reason, reason);
	assert_string_equal(err.msg, msg);
}

static void loads_nested_tree_with_positions(void **state)
{
	struct bw_err err;
	const char *y = "server:\n"
			"  workers: 4\n"
			"  name: \"edge-1\"\n"
			"listeners:\n"
			"  - port: 443\n"
			"    tls: true\n"
			"  - port: 80\n";
	struct conf_doc *d = load(y, &err);
	assert_non_null(d);
	assert_string_equal(d->name, "t.yaml");
	assert_int_equal(d->root->kind, CONF_MAPPING);
	assert_int_equal(d->root->nitems, 2);
	/* items keep document order */
	assert_string_equal(d->root->items[0]->key, "server");
	assert_string_equal(d->root->items[1]->key, "listeners");

	const struct conf_node *srv = conf_get(d->root, "server");
	assert_non_null(srv);
	assert_int_equal(srv->kind, CONF_MAPPING);
	assert_int_equal(srv->key_line, 1);
	assert_int_equal(srv->key_column, 1);
	const struct conf_node *w = conf_get(srv, "workers");
	assert_non_null(w);
	assert_int_equal(w->line, 2);
	assert_int_equal(w->column, 12);
	assert_int_equal(w->key_line, 2);
	assert_int_equal(w->key_column, 3);
	assert_string_equal(w->str, "4");
	assert_false(w->quoted);
	assert_ptr_equal(w->parent, srv);
	const struct conf_node *name = conf_get(srv, "name");
	assert_true(name->quoted);
	assert_string_equal(name->str, "edge-1");
	assert_int_equal(name->column, 9); /* the opening quote */

	const struct conf_node *ls = conf_get(d->root, "listeners");
	assert_int_equal(ls->kind, CONF_SEQUENCE);
	assert_int_equal(conf_len(ls), 2);
	const struct conf_node *p1 = conf_get(conf_at(ls, 1), "port");
	assert_int_equal(p1->line, 7);
	assert_int_equal(p1->column, 11);
	assert_int_equal(conf_at(ls, 1)->index, 1);
	assert_null(conf_at(ls, 2));
	char path[64];
	assert_string_equal(conf_node_path(p1, path, sizeof(path)),
			    "listeners[1].port");
	assert_string_equal(conf_node_path(d->root, path, sizeof(path)), "");
	assert_null(conf_get(srv, "missing"));
	assert_null(conf_get(ls, "port")); /* not a mapping */
	assert_null(conf_get(NULL, "port"));
	assert_int_equal(d->nodes, 10);
}

static void scalar_flags_quoted_and_null(void **state)
{
	struct bw_err err;
	const char *y = "a: ~\n"
			"b: null\n"
			"c:\n"
			"d: \"~\"\n"
			"e: 'null'\n"
			"f: NULL\n"
			"g: nil\n"
			"h: |\n"
			"  line1\n"
			"  line2\n"
			"i: \"123\"\n"
			"j: 123\n";
	struct conf_doc *d = load(y, &err);
	assert_non_null(d);
	assert_true(conf_get(d->root, "a")->null);
	assert_true(conf_get(d->root, "b")->null);
	assert_true(conf_get(d->root, "c")->null);
	assert_false(conf_get(d->root, "d")->null);
	assert_true(conf_get(d->root, "d")->quoted);
	assert_false(conf_get(d->root, "e")->null);
	assert_true(conf_get(d->root, "f")->null);
	assert_false(conf_get(d->root, "g")->null);
	const struct conf_node *h = conf_get(d->root, "h");
	assert_true(h->quoted); /* block scalars are strings */
	assert_string_equal(h->str, "line1\nline2\n");
	assert_true(conf_get(d->root, "i")->quoted);
	assert_false(conf_get(d->root, "j")->quoted);
}

static void empty_document_is_empty_mapping(void **state)
{
	struct bw_err err;
	const char *inputs[] = {"", "# just a comment\n", "---\n", "\n\n"};
	for (size_t i = 0; i < BW_ARRAY_LEN(inputs); i++) {
		struct conf_doc *d = load(inputs[i], &err);
		assert_non_null(d);
		assert_int_equal(d->root->kind, CONF_MAPPING);
		assert_int_equal(d->root->nitems, 0);
		assert_int_equal(d->root->line, 1 + (i == 2));
	}
	/* an explicit null document counts as empty too */
	struct conf_doc *d = load("~\n", &err);
	assert_non_null(d);
	assert_int_equal(d->root->kind, CONF_MAPPING);
	assert_int_equal(conf_len(d->root), 0);
	assert_null(conf_get(d->root, "x"));
	/* but a non-null scalar document stays a scalar */
	d = load("hello\n", &err);
	assert_non_null(d);
	assert_int_equal(d->root->kind, CONF_SCALAR);
	assert_string_equal(d->root->str, "hello");
}

static void flow_style_and_utf8(void **state)
{
	struct bw_err err;
	struct conf_doc *d =
	    load("{a: [1, 2], \"b c\": {d: \xc3\xa9t\xc3\xa9}}", &err);
	assert_non_null(d);
	const struct conf_node *bc = conf_get(d->root, "b c");
	assert_non_null(bc);
	assert_string_equal(conf_get(bc, "d")->str, "\xc3\xa9t\xc3\xa9");
	char path[64];
	assert_string_equal(
	    conf_node_path(conf_get(bc, "d"), path, sizeof(path)),
	    "[\"b c\"].d");
	/* a UTF-8 byte order mark is fine */
	assert_non_null(load("\xef\xbb\xbf"
			     "a: 1\n",
			     &err));
}

static void duplicate_keys_name_both_lines(void **state)
{
	expect_fail("server:\n"
		    "  port: 1\n"
		    "  workers: 2\n"
		    "  port: 3\n",
		    "duplicate_key",
		    "t.yaml:4:3: server.port: duplicate key 'port' (first "
		    "defined at line 2)");
	expect_fail("{a: 1, b: 2, a: 3}", "duplicate_key",
		    "t.yaml:1:14: a: duplicate key 'a' (first defined at "
		    "line 1, column 2)");
	/* three copies: the second one is reported against the first */
	expect_fail("x: 1\nx: 2\nx: 3\n", "duplicate_key",
		    "t.yaml:2:1: x: duplicate key 'x' (first defined at line "
		    "1)");
	/* the same key in different mappings is fine */
	struct bw_err err;
	assert_non_null(load("a: {k: 1}\nb: {k: 2}\n", &err));
	/* quoting does not make a different key */
	expect_fail("k: 1\n\"k\": 2\n", "duplicate_key",
		    "t.yaml:2:1: k: duplicate key 'k' (first defined at line "
		    "1)");
}

static void anchors_and_aliases_refused(void **state)
{
	expect_fail("a: &x 1\nb: *x\n", "alias",
		    "t.yaml:1:4: a: anchors (&x) are not allowed; repeat the "
		    "value instead");
	expect_fail("a: *x\n", "alias",
		    "t.yaml:1:4: a: aliases (*x) are not allowed; repeat the "
		    "value instead");
	expect_fail("base: &b {x: 1}\n", "alias",
		    "t.yaml:1:7: base: anchors (&b) are not allowed; repeat "
		    "the value instead");
	expect_fail("- &s [1]\n", "alias",
		    "t.yaml:1:3: [0]: anchors (&s) are not allowed; repeat "
		    "the value instead");
	/* the billion-laughs shape dies at the first anchor */
	expect_fail("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: [*b,*b]\n",
		    "alias",
		    "t.yaml:1:4: a: anchors (&a) are not allowed; repeat the "
		    "value instead");
}

static void tags_refused(void **state)
{
	expect_fail("a: !!str 1\n", "tag",
		    "t.yaml:1:4: a: tags (tag:yaml.org,2002:str) are not "
		    "allowed; write the value without a tag");
	expect_fail("a: ! 1\n", "tag",
		    "t.yaml:1:4: a: tags (!) are not allowed; write the value "
		    "without a tag");
	expect_fail("a:\n  b: !custom {x: 1}\n", "tag",
		    "t.yaml:2:6: a.b: tags (!custom) are not allowed; write "
		    "the value without a tag");
	expect_fail("%TAG ! tag:example.com,2000:\n---\na: 1\n", "tag",
		    "t.yaml:1:1: %TAG directives are not allowed");
	/* a tag on a key is refused too */
	expect_fail("!!str k: 1\n", "tag",
		    "t.yaml:1:1: tags (tag:yaml.org,2002:str) are not allowed; "
		    "write the value without a tag");
}

static void one_document_only(void **state)
{
	expect_fail("a: 1\n---\nb: 2\n", "multi_doc",
		    "t.yaml:2:1: only one YAML document is allowed per file");
	expect_fail("--- a\n--- b\n", "multi_doc",
		    "t.yaml:2:1: only one YAML document is allowed per file");
	/* an explicit end marker on its own is fine */
	struct bw_err err;
	assert_non_null(load("---\na: 1\n...\n", &err));
}

static void keys_must_be_plain_scalars(void **state)
{
	expect_fail("? [a, b]\n: 1\n", "key",
		    "t.yaml:1:3: mapping keys must be plain strings, not a "
		    "sequence");
	expect_fail("{? {x: 1} : 2}", "key",
		    "t.yaml:1:4: mapping keys must be plain strings, not a "
		    "mapping");
	expect_fail("top:\n  \"\": 1\n", "key",
		    "t.yaml:2:3: top: empty mapping key");
	expect_fail("top:\n  \"a\\0b\": 1\n", "key",
		    "t.yaml:2:3: top: mapping key contains a NUL character");
}

static void invalid_utf8_and_nul(void **state)
{
	expect_fail("a: 1\nb: \xff\n", "utf8",
		    "t.yaml:2:4: invalid UTF-8 (byte 0xff)");
	/* overlong '/' */
	expect_fail("a: \xc0\xaf\n", "utf8",
		    "t.yaml:1:4: invalid UTF-8 (byte 0xc0)");
	/* UTF-16 surrogate encoded in UTF-8 */
	expect_fail("a: x\xed\xa0\x80\n", "utf8",
		    "t.yaml:1:5: invalid UTF-8 (byte 0xed)");
	/* beyond U+10FFFF */
	expect_fail("a: \xf4\x90\x80\x80\n", "utf8",
		    "t.yaml:1:4: invalid UTF-8 (byte 0xf4)");
	/* truncated sequence at the end of input */
	expect_fail("a: \xc3", "utf8", "t.yaml:1:4: invalid UTF-8 (byte 0xc3)");
	/* columns count characters, not bytes */
	expect_fail("\xc3\xa9\xc3\xa9: \xfe\n", "utf8",
		    "t.yaml:1:5: invalid UTF-8 (byte 0xfe)");
	/* a UTF-16 BOM is not UTF-8 */
	expect_fail("\xff\xfe"
		    "a\0:\0",
		    "utf8", "t.yaml:1:1: invalid UTF-8 (byte 0xff)");
	/* NUL produced by an escape */
	expect_fail("a: \"x\\0y\"\n", "type",
		    "t.yaml:1:4: a: value contains a NUL character");
	/* a raw NUL byte in the input: libyaml refuses control characters */
	struct bw_err err;
	memset(&err, 0, sizeof(err));
	assert_null(conf_load_string("t.yaml", "a: x\0y", 6, arena, &err));
	assert_string_equal(err.reason, "syntax");
	assert_non_null(strstr(err.msg, "t.yaml:1:5: syntax error"));
}

static void syntax_errors_have_positions(void **state)
{
	expect_fail("a: [1, 2\n", "syntax",
		    "t.yaml:2:1: syntax error: did not find expected ',' or "
		    "']' (while parsing a flow sequence at line 1)");
	expect_fail("a: b: c\n", "syntax",
		    "t.yaml:1:5: syntax error: mapping values are not allowed "
		    "in this context");
	expect_fail("a:\n\tb: 1\n", "syntax",
		    "t.yaml:2:1: syntax error: tab character; YAML indentation "
		    "must use spaces");
	expect_fail("a: 1\n b: 2\n", "syntax",
		    "t.yaml:2:3: syntax error: mapping values are not allowed "
		    "in this context");
	expect_fail("a: \"unterminated\n", "syntax",
		    "t.yaml:2:1: syntax error: found unexpected end of stream "
		    "(while scanning a quoted scalar at line 1)");
}

static struct conf_doc *
load_lim(const char *text, const struct conf_limits *lim, struct bw_err *err)
{
	memset(err, 0, sizeof(*err));
	return conf_load_string_lim("t.yaml", text, strlen(text), lim, arena,
				    err);
}

static void limits_are_enforced(void **state)
{
	struct bw_err err;
	struct conf_limits lim = {0};

	lim.max_bytes = 8;
	assert_null(load_lim("a: 123456789\n", &lim, &err));
	assert_int_equal(err.code, 413);
	assert_string_equal(err.msg, "t.yaml: larger than 8 bytes");
	assert_non_null(load_lim("a: 1\n", &lim, &err));

	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 3;
	assert_non_null(load_lim("a: {b: [1]}\n", &lim, &err));
	assert_null(load_lim("a: {b: [[1]]}\n", &lim, &err));
	assert_int_equal(err.code, 413);
	assert_string_equal(err.reason, "limit");
	assert_string_equal(err.msg, "t.yaml:1:9: a.b[0]: nested deeper than "
				     "3 levels");

	memset(&lim, 0, sizeof(lim));
	lim.max_nodes = 4;
	assert_non_null(load_lim("[1, 2, 3]\n", &lim, &err));
	assert_null(load_lim("[1, 2, 3, 4]\n", &lim, &err));
	assert_string_equal(err.msg,
			    "t.yaml:1:11: [3]: too many nodes (limit 4)");

	memset(&lim, 0, sizeof(lim));
	lim.max_scalar = 4;
	assert_non_null(load_lim("key_longer_than_four: abcd\n", &lim, &err));
	assert_null(load_lim("k: abcde\n", &lim, &err));
	assert_string_equal(err.msg,
			    "t.yaml:1:4: k: value longer than 4 bytes");

	memset(&lim, 0, sizeof(lim));
	lim.max_key = 3;
	assert_null(load_lim("m:\n  abcd: 1\n", &lim, &err));
	assert_string_equal(err.msg,
			    "t.yaml:2:3: m: mapping key longer than 3 bytes");

	memset(&lim, 0, sizeof(lim));
	lim.max_keys = 2;
	assert_non_null(load_lim("{a: 1, b: 2}", &lim, &err));
	assert_null(load_lim("{a: 1, b: 2, c: 3}", &lim, &err));
	assert_string_equal(err.msg,
			    "t.yaml:1:14: too many keys in one mapping (limit "
			    "2)");

	memset(&lim, 0, sizeof(lim));
	lim.max_items = 2;
	assert_null(load_lim("l: [a, b, c]\n", &lim, &err));
	assert_string_equal(err.msg,
			    "t.yaml:1:11: l[2]: too many items in one sequence "
			    "(limit 2)");

	/* hard maxima clamp what a caller asks for */
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 100000;
	struct bw_buf deep;
	bw_buf_init(&deep, 4096);
	for (unsigned i = 0; i < CONF_MAX_DEPTH_HARD + 1; i++)
		assert_int_equal(bw_buf_append_byte(&deep, '['), 0);
	for (unsigned i = 0; i < CONF_MAX_DEPTH_HARD + 1; i++)
		assert_int_equal(bw_buf_append_byte(&deep, ']'), 0);
	assert_null(load_lim(deep.data, &lim, &err));
	assert_string_equal(err.reason, "limit");
	bw_buf_fini(&deep);

	/* the default depth holds against a deeply nested flow bomb */
	struct bw_buf bomb;
	bw_buf_init(&bomb, 1u << 20);
	for (unsigned i = 0; i < 100000; i++)
		assert_int_equal(bw_buf_append_byte(&bomb, '['), 0);
	assert_null(load(bomb.data, &err));
	assert_string_equal(err.reason, "limit");
	bw_buf_fini(&bomb);
}

static void loads_files_and_reports_io_errors(void **state)
{
	char dir[] = "/tmp/conf-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/bulwark.yaml", dir);
	const char *y = "server:\n  port: 8443\n";
	struct bw_err err;
	assert_int_equal(bw_file_write_atomic(path, y, strlen(y), 0600, &err),
			 0);
	struct conf_doc *d = conf_load_file(path, arena, &err);
	assert_non_null(d);
	assert_string_equal(d->name, path);
	assert_string_equal(conf_get(conf_get(d->root, "server"), "port")->str,
			    "8443");

	/* messages name the file */
	const char *bad = "a: 1\na: 2\n";
	assert_int_equal(
	    bw_file_write_atomic(path, bad, strlen(bad), 0600, &err), 0);
	assert_null(conf_load_file(path, arena, &err));
	char want[256];
	snprintf(want, sizeof(want),
		 "%s:2:1: a: duplicate key 'a' (first defined at line 1)",
		 path);
	assert_string_equal(err.msg, want);
	unlink(path);

	memset(&err, 0, sizeof(err));
	assert_null(conf_load_file(path, arena, &err));
	assert_int_equal(err.code, 404);
	assert_string_equal(err.module, "conf");

	/* too large: refused before parsing */
	char *big = malloc(CONF_MAX_BYTES_DEFAULT + 2);
	assert_non_null(big);
	memset(big, '#', CONF_MAX_BYTES_DEFAULT + 1);
	assert_int_equal(bw_file_write_atomic(
			     path, big, CONF_MAX_BYTES_DEFAULT + 1, 0600, &err),
			 0);
	free(big);
	assert_null(conf_load_file(path, arena, &err));
	assert_int_equal(err.code, 413);
	unlink(path);
	rmdir(dir);
}

static void err_helpers_format_positions(void **state)
{
	struct bw_err err;
	struct conf_doc *d = load("listeners:\n  - port: 99999\n", &err);
	assert_non_null(d);
	const struct conf_node *port =
	    conf_get(conf_at(conf_get(d->root, "listeners"), 0), "port");
	assert_int_equal(conf_err(port, &err, "range",
				  "must be between %d "
				  "and %d",
				  0, 65535),
			 -1);
	assert_int_equal(err.code, 400);
	assert_string_equal(err.reason, "range");
	assert_string_equal(err.msg, "t.yaml:2:11: listeners[0].port: must be "
				     "between 0 and 65535");
	assert_int_equal(conf_err_key(port, &err, "x", "bad key"), -1);
	assert_string_equal(err.msg, "t.yaml:2:5: listeners[0].port: bad key");
	/* root-level messages have no path */
	assert_int_equal(conf_err(d->root, &err, "x", "whole file"), -1);
	assert_string_equal(err.msg, "t.yaml:1:1: whole file");
	/* NULL err is allowed */
	assert_int_equal(conf_err(port, NULL, "x", "ignored"), -1);
	assert_int_equal(conf_expect(port, CONF_SCALAR, &err), 0);
	assert_int_equal(conf_expect(port, CONF_MAPPING, &err), -1);
	assert_string_equal(err.msg,
			    "t.yaml:2:11: listeners[0].port: must be a mapping "
			    "(key: value pairs), not a scalar");
}

static void long_paths_are_cut_visibly(void **state)
{
	struct bw_err err;
	struct conf_doc *d = load("aaaaaaaaaaaaaaaaaaaa:\n"
				  "  bbbbbbbbbbbbbbbbbbbb:\n"
				  "    cccccccccccccccccccc: 1\n",
				  &err);
	assert_non_null(d);
	const struct conf_node *c =
	    conf_get(conf_get(conf_get(d->root, "aaaaaaaaaaaaaaaaaaaa"),
			      "bbbbbbbbbbbbbbbbbbbb"),
		     "cccccccccccccccccccc");
	char small[24];
	conf_node_path(c, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small + strlen(small) - 3, "...");
	assert_memory_equal(small, "aaaaaaaaaaaaaaaaaaaa", 20);
}

/* Torture pass: give the loader and binder an arena that runs out after
 * n bytes, for every n until they succeed. Each failure must be a clean
 * "nomem" (or, for the binder, any error), never a crash or a leak (ASan
 * build). */
static void survives_arena_exhaustion_at_every_step(void **state)
{
	const char *y = "server:\n"
			"  workers: 4\n"
			"  tags: [a, b, c, d, e, f, g, h, i, j]\n"
			"listeners:\n"
			"  - {port: 443, name: x}\n"
			"  - {port: 80, name: y}\n";
	bool loaded = false;
	unsigned failures = 0;
	for (size_t max = 256; max < 64 * 1024 && !loaded; max += 256) {
		struct bw_arena *a = bw_arena_new(256, max);
		struct bw_err err;
		memset(&err, 0, sizeof(err));
		struct conf_doc *d =
		    conf_load_string("t.yaml", y, strlen(y), a, &err);
		if (d) {
			loaded = true;
			assert_int_equal(
			    conf_len(conf_get(d->root, "listeners")), 2);
		} else {
			failures++;
			assert_int_equal(err.code, 500);
			assert_string_equal(err.reason, "nomem");
		}
		bw_arena_free(a);
	}
	assert_true(loaded);
	assert_true(failures > 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(loads_nested_tree_with_positions,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(scalar_flags_quoted_and_null, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(empty_document_is_empty_mapping,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(flow_style_and_utf8, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(duplicate_keys_name_both_lines,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(anchors_and_aliases_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(tags_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(one_document_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(keys_must_be_plain_scalars, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(invalid_utf8_and_nul, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(syntax_errors_have_positions, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(limits_are_enforced, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(loads_files_and_reports_io_errors,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(err_helpers_format_positions, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(long_paths_are_cut_visibly, setup,
					    teardown),
	    cmocka_unit_test(survives_arena_exhaustion_at_every_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
