/* Unit tests for the JSON reader: every value type, malformed input with
 * the reason it must be rejected for, limits, duplicate keys under both
 * policies, UTF-8 edge cases, numbers and lookups. Includes the .c file to
 * reach the duplicate-key internals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_parse.c"

static struct bw_arena *arena;
static struct bw_err err;

static int setup(void **state)
{
	arena = bw_arena_new(4096, (size_t)256 << 20);
	return arena ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(arena);
	arena = NULL;
	return 0;
}

static const struct json_value *ok_lim(const char *s, size_t n,
				       const struct json_limits *lim)
{
	bw_err_clear(&err);
	const struct json_value *v = json_parse(arena, s, n, lim, &err);
	if (!v)
		fail_msg("rejected %.*s: %s (%s)", (int)(n > 80 ? 80 : n), s,
			 err.msg, err.reason);
	return v;
}

static const struct json_value *ok(const char *s)
{
	return ok_lim(s, strlen(s), NULL);
}

/* Expects rejection with `reason`, and the message naming `offset`
 * (pass SIZE_MAX to skip the offset check). */
static void bad_lim(const char *s, size_t n, const struct json_limits *lim,
		    const char *reason, size_t offset)
{
	bw_err_clear(&err);
	const struct json_value *v = json_parse(arena, s, n, lim, &err);
	if (v)
		fail_msg("accepted %.*s", (int)(n > 80 ? 80 : n), s);
	if (strcmp(err.reason, reason) != 0)
		fail_msg("%.*s: reason %s (%s), want %s",
			 (int)(n > 80 ? 80 : n), s, err.reason, err.msg,
			 reason);
	assert_string_equal(err.module, "json");
	assert_int_equal(err.code, strcmp(reason, "too_large") == 0 ? 413
				   : strcmp(reason, "memory") == 0  ? 500
								    : 400);
	if (offset != SIZE_MAX) {
		char want[48];
		snprintf(want, sizeof(want), "at byte %zu", offset);
		if (!strstr(err.msg, want))
			fail_msg("%s: message '%s' lacks '%s'", s, err.msg,
				 want);
	}
}

static void bad(const char *s, const char *reason)
{
	bad_lim(s, strlen(s), NULL, reason, SIZE_MAX);
}

static void bad_at(const char *s, const char *reason, size_t off)
{
	bad_lim(s, strlen(s), NULL, reason, off);
}

/* ------------------------------------------------------------ valid */

static void parses_scalars(void **state)
{
	assert_int_equal(ok("null")->type, JSON_NULL);
	assert_int_equal(ok("true")->type, JSON_TRUE);
	assert_int_equal(ok("false")->type, JSON_FALSE);
	assert_int_equal(ok(" \t\r\n false \n")->type, JSON_FALSE);
	const struct json_value *v = ok("\"hi\"");
	assert_int_equal(v->type, JSON_STRING);
	assert_int_equal(v->u.str.len, 2);
	assert_string_equal(v->u.str.p, "hi");
	v = ok("\"\"");
	assert_int_equal(v->u.str.len, 0);
	assert_string_equal(v->u.str.p, "");
	v = ok("42");
	assert_int_equal(v->type, JSON_NUMBER);
	assert_true(v->u.num.is_int);
	assert_int_equal(v->u.num.i, 42);
	assert_true(v->u.num.d == 42.0);
	assert_int_equal(v->u.num.raw.len, 2);
	assert_memory_equal(v->u.num.raw.p, "42", 2);
}

static void parses_containers(void **state)
{
	const struct json_value *v = ok("[]");
	assert_int_equal(v->type, JSON_ARRAY);
	assert_int_equal(v->u.arr.n, 0);
	v = ok("{}");
	assert_int_equal(v->type, JSON_OBJECT);
	assert_int_equal(v->u.obj.n, 0);
	v = ok(" [ 1 , \"two\" , [ null ] , { \"k\" : true } , { } , [ ] ] ");
	assert_int_equal(v->u.arr.n, 6);
	assert_int_equal(v->u.arr.items[0]->u.num.i, 1);
	assert_string_equal(v->u.arr.items[1]->u.str.p, "two");
	assert_int_equal(v->u.arr.items[2]->u.arr.n, 1);
	assert_int_equal(v->u.arr.items[2]->u.arr.items[0]->type, JSON_NULL);
	assert_int_equal(v->u.arr.items[3]->type, JSON_OBJECT);
	assert_string_equal(v->u.arr.items[3]->u.obj.members[0].key.p, "k");
	assert_int_equal(v->u.arr.items[3]->u.obj.members[0].value->type,
			 JSON_TRUE);
	assert_int_equal(v->u.arr.items[4]->u.obj.n, 0);
	assert_int_equal(v->u.arr.items[5]->u.arr.n, 0);

	v = ok("{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"e\"}]}},\"z\":0}");
	const struct json_value *c = json_get(json_get(json_get(v, "a"), "b"),
					      "c");
	assert_non_null(c);
	assert_int_equal(c->u.arr.n, 3);
	assert_string_equal(json_get_str(c->u.arr.items[2], "d", NULL), "e");
	assert_int_equal(json_get_int(v, "z", -1), 0);
	/* members keep document order */
	assert_string_equal(v->u.obj.members[0].key.p, "a");
	assert_string_equal(v->u.obj.members[1].key.p, "z");
}

static void parses_a_realistic_event(void **state)
{
	const char *ev =
		"{\"@timestamp\":\"2026-11-23T10:00:00.123Z\",\"event\":{"
		"\"kind\":\"event\",\"category\":[\"authentication\"],"
		"\"outcome\":\"failure\",\"severity\":3},\"source\":{\"ip\":"
		"\"203.0.113.7\",\"port\":51234},\"user\":{\"name\":\"alice\"},"
		"\"message\":\"login failed: bad password\\n\",\"ok\":false,"
		"\"score\":0.75,\"tags\":[]}";
	const struct json_value *v = ok(ev);
	assert_string_equal(json_get_str(v, "@timestamp", ""),
			    "2026-11-23T10:00:00.123Z");
	const struct json_value *e = json_get(v, "event");
	assert_int_equal(json_get_int(e, "severity", 0), 3);
	assert_string_equal(json_get_str(json_get(v, "source"), "ip", ""),
			    "203.0.113.7");
	assert_string_equal(json_get_str(v, "message", ""),
			    "login failed: bad password\n");
	assert_false(json_get_bool(v, "ok", true));
	assert_true(json_get(v, "score")->u.num.d == 0.75);
	/* typed accessors fall back on a missing key or a wrong type */
	assert_string_equal(json_get_str(v, "nope", "fb"), "fb");
	assert_string_equal(json_get_str(v, "ok", "fb"), "fb");
	assert_int_equal(json_get_int(v, "message", 7), 7);
	assert_int_equal(json_get_int(v, "score", 7), 7);
	assert_true(json_get_bool(v, "score", true));
	assert_null(json_get(json_get(v, "tags"), "x"));
	assert_null(json_get(NULL, "x"));
}

static void decodes_escapes(void **state)
{
	const struct json_value *v =
		ok("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\\u0041\\u00e9\\u20ac"
		   "\\ud83d\\ude00\\u0000z\"");
	const char want[] = "a\"b\\c/d\be\ff\ng\rh\tiA\xc3\xa9\xe2\x82\xac"
			    "\xf0\x9f\x98\x80\0z";
	assert_int_equal(v->u.str.len, sizeof(want) - 1);
	assert_memory_equal(v->u.str.p, want, sizeof(want) - 1);
	assert_int_equal(v->u.str.p[v->u.str.len], '\0');
	/* upper-case hex, and the highest code point */
	v = ok("\"\\u00C9\\uDBFF\\uDFFF\"");
	assert_string_equal(v->u.str.p, "\xc3\x89\xf4\x8f\xbf\xbf");
	/* keys are decoded too */
	v = ok("{\"\\u0061\":1}");
	assert_int_equal(json_get_int(v, "a", 0), 1);
	/* a key with a NUL byte keeps it, and never matches a C key */
	v = ok("{\"a\\u0000b\":1}");
	assert_int_equal(v->u.obj.members[0].key.len, 3);
	assert_null(json_get(v, "a"));
}

static void accepts_valid_utf8(void **state)
{
	const char *good[] = {
		"\"\xc2\x80\"",         /* U+0080, smallest 2-byte */
		"\"\xdf\xbf\"",         /* U+07FF */
		"\"\xe0\xa0\x80\"",     /* U+0800, smallest 3-byte */
		"\"\xed\x9f\xbf\"",     /* U+D7FF, just below surrogates */
		"\"\xee\x80\x80\"",     /* U+E000, just above */
		"\"\xef\xbf\xbf\"",     /* U+FFFF */
		"\"\xf0\x90\x80\x80\"", /* U+10000 */
		"\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF */
		"\"\x7f\"",             /* DEL is not a control for JSON */
		"\"d\xc3\xa9j\xc3\xa0 vu \xe2\x82\xac 12345678\"",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(good); i++) {
		const struct json_value *v = ok(good[i]);
		assert_int_equal(v->u.str.len, strlen(good[i]) - 2);
	}
}

static void rejects_invalid_utf8(void **state)
{
	const char *badu[] = {
		"\"\x80\"",             /* stray continuation */
		"\"\xbf\"",
		"\"\xc0\xaf\"",         /* overlong '/' */
		"\"\xc1\xbf\"",         /* overlong */
		"\"\xe0\x80\xaf\"",     /* overlong 3-byte */
		"\"\xe0\x9f\xbf\"",     /* overlong U+07FF */
		"\"\xf0\x80\x80\xaf\"", /* overlong 4-byte */
		"\"\xf0\x8f\xbf\xbf\"", /* overlong U+FFFF */
		"\"\xed\xa0\x80\"",     /* U+D800 encoded */
		"\"\xed\xbf\xbf\"",     /* U+DFFF encoded */
		"\"\xed\xa0\xbd\xed\xb8\x80\"", /* CESU-8 pair */
		"\"\xf4\x90\x80\x80\"", /* U+110000 */
		"\"\xf5\x80\x80\x80\"",
		"\"\xf8\x88\x80\x80\x80\"",
		"\"\xfe\"",
		"\"\xff\"",
		"\"\xc3\"",             /* truncated */
		"\"\xe2\x82\"",
		"\"\xf0\x9f\x98\"",
		"\"\xc3\x28\"",         /* bad continuation */
		"\"\xe2\x28\xa1\"",
		"\"abcdefgh\xc3\x28xyzxyzxyz\"", /* past the 8-byte fast path */
		"\"a\\n\xff\"",         /* in the escaped path */
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(badu); i++)
		bad(badu[i], "utf8");
	/* the offset is the bad byte's */
	bad_at("[\"ok\",\"ab\xff\"]", "utf8", 9);
	/* raw non-ASCII outside strings is a syntax error */
	bad("\xef\xbb\xbf{}", "syntax"); /* a BOM is not whitespace */
	bad("[1,\xc3\xa9]", "syntax");
}

/* -------------------------------------------------------- malformed */

static void rejects_syntax_errors(void **state)
{
	const char *cases[] = {
		"", " ", "\n\t", "[", "]", "{", "}", "[1", "[1,", "[1,]",
		"[,1]", "[1 2]", "[1,,2]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}",
		"{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "{a:1}", "{'a':1}",
		"{1:2}", "{\"a\":1]", "[1}", "[[]", "[]]", "{}}", "nul",
		"nulll", "tru", "True", "FALSE", "NULL", "undefined", "NaN",
		"Infinity", "+1", ".5", "'str'",
		"[1]x", "1 2", "{} {}", "\"a\" \"b\"", "// c\n1",
		"/* c */ 1", "1 // c", "[1]/**/", "#1",
		"[\x0c]", "\v1", ("\xa0" "1"), "@", "[true false]",
		"{\"a\":1}{", "[\"a\":1]", "{\"a\",1}",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++)
		bad_lim(cases[i], strlen(cases[i]), NULL, "syntax", SIZE_MAX);
	/* embedded NUL after a value (length-delimited input) */
	bad_lim("1\0", 2, NULL, "syntax", 1);
	bad_lim("{\"a\":1}\0 ", 9, NULL, "syntax", 7);
	/* offsets */
	bad_at("[1,]", "syntax", 3);
	bad_at("{\"a\":1,}", "syntax", 7);
	bad_at("  [1 2]", "syntax", 5);
	bad_at("{\"a\" 1}", "syntax", 5);
	bad_at("[1] x", "syntax", 4);
	bad_at("", "syntax", 0);
}

static void rejects_bad_numbers(void **state)
{
	const char *cases[] = {
		"01", "-01", "00", "-00.5", "1.", "1.e5", "-", "-.5", "1e",
		"1e+", "1e-", "1E", "-e5", "0x10", "1.5e", "--1", "- 1",
		"[1.]", "[01]", "1e99999", "-1e400", "1e309",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		bw_err_clear(&err);
		assert_null(json_parse(arena, cases[i], strlen(cases[i]), NULL,
				       &err));
		/* "0x10" and "- 1" fail after a valid prefix: syntax */
		if (strcmp(cases[i], "0x10") && strcmp(cases[i], "--1") &&
		    strcmp(cases[i], "- 1") && strcmp(cases[i], "-e5") &&
		    strcmp(cases[i], "-.5") && strcmp(cases[i], "-"))
			assert_string_equal(err.reason, "number");
	}
	bad("0x10", "syntax");
	bad("-NaN", "number");
	bad("-Infinity", "number");
	bad("-", "number");
	bad("-.5", "number");
	bad_at("[1, 012]", "number", 4);
	bad_at("[1.5e]", "number", 5);
	/* a literal longer than JSON_NUMBER_MAX_LEN */
	char big[JSON_NUMBER_MAX_LEN + 8];
	memset(big, '1', sizeof(big));
	bad_lim(big, sizeof(big), NULL, "number", 0);
	memset(big, '0', sizeof(big));
	big[0] = '0';
	big[1] = '.';
	big[sizeof(big) - 1] = '1';
	bad_lim(big, sizeof(big), NULL, "number", 0);
}

static void rejects_bad_strings(void **state)
{
	const char *cases[] = {
		"\"abc", "\"", "\"\\", "\"\\\"", "\"\\x41\"", "\"\\a\"",
		"\"\\'\"", "\"\\U0041\"", "\"\\u41\"", "\"\\u004\"",
		"\"\\u00g1\"", "\"\\u-123\"", "\"tab\there\"", "\"nl\nhere\"",
		"\"\x01\"", "\"\x1f\"", "\"cr\r\"",
		/* lone and mispaired surrogates */
		"\"\\ud800\"", "\"\\udbff\"", "\"\\udc00\"", "\"\\udfff\"",
		"\"\\ud800x\"", "\"\\ud800\\n\"", "\"\\ud800\\u0041\"",
		"\"\\ud800\\ud800\"", "\"\\udc00\\ud800\"",
		"\"\\ud83d\\ude0\"", "\"\\ud83d\\\"",
		"\"long plain text then\x01\"",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++)
		bad(cases[i], "string");
	bad("{\"ke\ty\":1}", "string");
	bad_at("[\"abc\\q\"]", "string", 5);
	bad_at("\"0123456789abcdef\x02\"", "string", 17);
	bad_at("\"\\ud800\"", "string", 1);
}

/* ----------------------------------------------------------- limits */

static void enforces_document_size(void **state)
{
	struct json_limits lim = json_default_limits;
	lim.max_bytes = 8;
	ok_lim("[1,2,3]", 7, &lim);
	ok_lim("[1,2,30]", 8, &lim);
	bad_lim("[1,2,300]", 9, &lim, "too_large", 0);
	/* the default is 1 MiB */
	size_t n = JSON_MAX_BYTES_DEFAULT + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '1';
	bad_lim(big, n, NULL, "too_large", 0);
	ok_lim(big, n - 1, NULL);
	free(big);
	/* above the hard maximum a caller's limit is clamped */
	lim.max_bytes = SIZE_MAX;
	assert_int_equal(jp_lim(lim.max_bytes, JSON_MAX_BYTES_DEFAULT,
				JSON_MAX_BYTES_HARD),
			 JSON_MAX_BYTES_HARD);
	assert_int_equal(jp_lim(0, 7, 9), 7);
}

static void enforces_depth(void **state)
{
	struct json_limits lim = json_default_limits;
	lim.max_depth = 3;
	ok_lim("[[[1]]]", 7, &lim);
	ok_lim("{\"a\":[{}]}", 10, &lim);
	bad_lim("[[[[1]]]]", 9, &lim, "depth", 3);
	bad_lim("{\"a\":{\"b\":[[]]}}", 16, &lim, "depth", 11);
	/* default 64 */
	char deep[200];
	for (int i = 0; i < 64; i++)
		deep[i] = '[';
	for (int i = 0; i < 64; i++)
		deep[64 + i] = ']';
	ok_lim(deep, 128, NULL);
	for (int i = 0; i < 65; i++)
		deep[i] = '[';
	for (int i = 0; i < 65; i++)
		deep[65 + i] = ']';
	bad_lim(deep, 130, NULL, "depth", 64);
	/* the hard maximum holds whatever the caller asks for */
	lim.max_depth = 100000;
	size_t n = 2 * (JSON_MAX_DEPTH_HARD + 1);
	char *d = malloc(n);
	assert_non_null(d);
	memset(d, '[', n / 2);
	memset(d + n / 2, ']', n / 2);
	bad_lim(d, n, &lim, "depth", JSON_MAX_DEPTH_HARD);
	ok_lim(d + 1, n - 2, &lim);
	free(d);
	/* a deep unterminated prefix fails cleanly, not by recursion */
	char open[10000];
	memset(open, '[', sizeof(open));
	bad_lim(open, sizeof(open), NULL, "depth", 64);
}

static void enforces_string_length(void **state)
{
	struct json_limits lim = json_default_limits;
	lim.max_string = 4;
	ok_lim("\"abcd\"", 6, &lim);
	bad_lim("\"abcde\"", 7, &lim, "too_large", SIZE_MAX);
	/* decoded length counts: 4 escapes decode to 4 bytes */
	ok_lim("\"\\n\\n\\n\\n\"", 10, &lim);
	bad_lim("\"\\n\\n\\n\\n\\n\"", 12, &lim, "too_large", SIZE_MAX);
	/* and keys */
	bad_lim("{\"abcde\":1}", 11, &lim, "too_large", SIZE_MAX);
	/* "é€" is 5 bytes of UTF-8 */
	bad_lim("\"\\u00e9\\u20ac\"", 14, &lim, "too_large", SIZE_MAX);
}

static void enforces_member_count(void **state)
{
	struct json_limits lim = json_default_limits;
	lim.max_members = 3;
	ok_lim("[1,2,3]", 7, &lim);
	bad_lim("[1,2,3,4]", 9, &lim, "too_large", 7);
	ok_lim("{\"a\":1,\"b\":2,\"c\":3}", 19, &lim);
	bad_lim("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", 25, &lim, "too_large",
		19);
	/* the count is per container, not per document */
	ok_lim("[[1,2,3],[1,2,3],[1,2,3]]", 25, &lim);
	/* default 10,000 */
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(bw_buf_append_byte(&b, '['), 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(bw_buf_append_str(&b, i ? ",0" : "0"), 0);
	assert_int_equal(bw_buf_append_byte(&b, ']'), 0);
	assert_int_equal(ok_lim(b.data, b.len, NULL)->u.arr.n, 10000);
	b.len--;
	assert_int_equal(bw_buf_append_str(&b, ",0]"), 0);
	bad_lim(b.data, b.len, NULL, "too_large", SIZE_MAX);
	bw_buf_fini(&b);
}

static void fails_cleanly_when_the_arena_is_full(void **state)
{
	struct bw_arena *small = bw_arena_new(256, 1024);
	assert_non_null(small);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(bw_buf_append_byte(&b, '['), 0);
	for (int i = 0; i < 500; i++)
		assert_int_equal(bw_buf_append_str(&b, i ? ",\"x\"" : "\"x\""),
				 0);
	assert_int_equal(bw_buf_append_byte(&b, ']'), 0);
	bw_err_clear(&err);
	assert_null(json_parse(small, b.data, b.len, NULL, &err));
	assert_string_equal(err.reason, "too_large");
	assert_int_equal(err.code, 413);
	bw_buf_fini(&b);
	bw_arena_free(small);
}

/* --------------------------------------------------- duplicate keys */

static void rejects_duplicate_keys(void **state)
{
	bad_at("{\"a\":1,\"a\":2}", "dup_key", 7);
	bad("{\"a\":1,\"b\":{\"a\":1,\"a\":1}}", "dup_key");
	/* equal after decoding */
	bad("{\"a\":1,\"\\u0061\":2}", "dup_key");
	bad("{\"\\u00e9\":1,\"\xc3\xa9\":2}", "dup_key");
	/* NUL inside keys is compared too */
	ok("{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}");
	bad("{\"a\\u0000b\":1,\"a\\u0000b\":2}", "dup_key");
	/* same key in different objects is fine */
	ok("[{\"a\":1},{\"a\":2}]");
	ok("{\"a\":{\"a\":{\"a\":1}}}");
	/* prefix keys are not duplicates */
	ok("{\"a\":1,\"ab\":2,\"\":3,\"abc\":4}");
	bad("{\"\":1,\"\":2}", "dup_key");
}

static void duplicate_policy_last_wins(void **state)
{
	struct json_limits lim = json_default_limits;
	lim.dup = JSON_DUP_LAST;
	const char *s = "{\"a\":1,\"b\":true,\"a\":2,\"b\":false}";
	const struct json_value *v = ok_lim(s, strlen(s), &lim);
	assert_int_equal(v->u.obj.n, 4); /* all kept, in order */
	assert_int_equal(json_get_int(v, "a", 0), 2);
	assert_false(json_get_bool(v, "b", true));
	assert_int_equal(v->u.obj.members[0].value->u.num.i, 1);
}

/* Builds {"k0":0,...,"k<n-1>":0} plus optionally a repeat of key `dup`. */
static void build_object(struct bw_buf *b, int n, int dup)
{
	bw_buf_reset(b);
	assert_int_equal(bw_buf_append_byte(b, '{'), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(bw_buf_printf(b, "%s\"k%d\":%d", i ? "," : "",
					       i, i),
				 0);
	if (dup >= 0)
		assert_int_equal(bw_buf_printf(b, ",\"k%d\":0", dup), 0);
	assert_int_equal(bw_buf_append_byte(b, '}'), 0);
}

static void finds_duplicates_in_big_objects(void **state)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 22);
	/* around the switch from linear scan to hash table */
	for (int n = 1; n <= 40; n++) {
		build_object(&b, n, -1);
		assert_int_equal(ok_lim(b.data, b.len, NULL)->u.obj.n,
				 (size_t)n);
		for (int d = 0; d < n; d += (n > 20 ? 7 : 1)) {
			build_object(&b, n, d);
			bad_lim(b.data, b.len, NULL, "dup_key", SIZE_MAX);
		}
	}
	/* a big object: all 10,000 keys distinct, then one repeated; the
	 * hash table keeps this fast (a quadratic scan would take ~50M
	 * comparisons per parse) */
	build_object(&b, 10000, -1);
	const struct json_value *v = ok_lim(b.data, b.len, NULL);
	assert_int_equal(v->u.obj.n, 10000);
	assert_int_equal(json_get_int(v, "k9999", -1), 9999);
	assert_int_equal(json_get_int(v, "k0", -1), 0);
	build_object(&b, 9999, 1234);
	bad_lim(b.data, b.len, NULL, "dup_key", SIZE_MAX);
	build_object(&b, 9999, 9998);
	bad_lim(b.data, b.len, NULL, "dup_key", SIZE_MAX);
	/* nested big objects each get their own table */
	bw_buf_reset(&b);
	assert_int_equal(bw_buf_append_byte(&b, '['), 0);
	for (int o = 0; o < 3; o++) {
		assert_int_equal(bw_buf_append_str(&b, o ? ",{" : "{"), 0);
		for (int i = 0; i < 100; i++)
			assert_int_equal(bw_buf_printf(&b, "%s\"k%d\":{\"k%d\":1}",
						       i ? "," : "", i, i),
					 0);
		assert_int_equal(bw_buf_append_byte(&b, '}'), 0);
	}
	assert_int_equal(bw_buf_append_byte(&b, ']'), 0);
	v = ok_lim(b.data, b.len, NULL);
	assert_int_equal(v->u.arr.n, 3);
	/* an error inside a big object after its table exists frees it
	 * (ASan checks the leak) */
	b.len -= 2; /* reopen the last big object */
	assert_int_equal(bw_buf_append_str(&b, ",\"k5\":1}]"), 0);
	bad_lim(b.data, b.len, NULL, "dup_key", SIZE_MAX);
	bw_buf_fini(&b);
}

static void siphash_is_keyed_and_spreads(void **state)
{
	pthread_once(&jp_sip_once, jp_sip_init);
	uint64_t h1 = jp_siphash("k1", 2), h2 = jp_siphash("k2", 2);
	assert_true(h1 != h2);
	assert_true(jp_siphash("", 0) != jp_siphash("\0", 1));
	assert_true(jp_siphash("abcdefgh", 8) == jp_siphash("abcdefgh", 8));
	assert_true(jp_siphash("abcdefgh", 8) != jp_siphash("abcdefgi", 8));
}

/* ---------------------------------------------------------- numbers */

static void parses_numbers(void **state)
{
	struct {
		const char *s;
		double d;
		bool is_int;
		int64_t i;
	} cases[] = {
		{ "0", 0, true, 0 },
		{ "-0", -0.0, true, 0 },
		{ "1", 1, true, 1 },
		{ "-1", -1, true, -1 },
		{ "123456789012345678", 123456789012345678.0, true,
		  123456789012345678LL },
		{ "9223372036854775807", 9223372036854775807.0, true,
		  INT64_MAX },
		{ "-9223372036854775808", -9223372036854775808.0, true,
		  INT64_MIN },
		{ "9223372036854775808", 9223372036854775808.0, false, 0 },
		{ "-9223372036854775809", -9223372036854775809.0, false, 0 },
		{ "18446744073709551616", 18446744073709551616.0, false, 0 },
		{ "1.0", 1, true, 1 },
		{ "1.5", 1.5, false, 0 },
		{ "-0.0", -0.0, true, 0 },
		{ "2.50e1", 25, true, 25 },
		{ "25e-1", 2.5, false, 0 },
		{ "1e3", 1000, true, 1000 },
		{ "1E+3", 1000, true, 1000 },
		{ "100e-2", 1, true, 1 },
		{ "1000000000000000000000", 1e21, false, 0 },
		{ "0.1", 0.1, false, 0 },
		{ "3.141592653589793", 3.141592653589793, false, 0 },
		{ "1e-7", 1e-7, false, 0 },
		{ "2.2250738585072014e-308", 2.2250738585072014e-308, false,
		  0 },
		{ "5e-324", 5e-324, false, 0 },
		{ "1e-400", 0, false, 0 }, /* underflow is fine */
		{ "1.7976931348623157e308", 1.7976931348623157e308, false, 0 },
		{ "0.30000000000000004", 0.30000000000000004, false, 0 },
		{ "9007199254740993", 9007199254740992.0, true,
		  9007199254740993LL },
		{ "123456789012345678901234567890", 1.2345678901234568e29,
		  false, 0 },
		{ "0.000000000000000000000000001", 1e-27, false, 0 },
		{ "1.00000000000000000000000000001", 1.0, false, 0 },
		{ "10000000000000000000000000000e-28", 1.0, true, 1 },
		{ "0e999999", 0, true, 0 },
	};
	for (size_t k = 0; k < BW_ARRAY_LEN(cases); k++) {
		const struct json_value *v = ok(cases[k].s);
		assert_int_equal(v->type, JSON_NUMBER);
		if (v->u.num.d != cases[k].d ||
		    signbit(v->u.num.d) != signbit(cases[k].d))
			fail_msg("%s: d=%.17g want %.17g", cases[k].s,
				 v->u.num.d, cases[k].d);
		if (v->u.num.is_int != cases[k].is_int)
			fail_msg("%s: is_int=%d", cases[k].s, v->u.num.is_int);
		if (cases[k].is_int)
			assert_int_equal(v->u.num.i, cases[k].i);
		assert_int_equal(v->u.num.raw.len, strlen(cases[k].s));
		assert_string_equal(v->u.num.raw.p, cases[k].s);
	}
}

static void number_text_survives_the_input(void **state)
{
	char *buf = strdup("[12.50,\"s\",-3e2]");
	assert_non_null(buf);
	const struct json_value *v = ok(buf);
	memset(buf, 'x', strlen(buf));
	free(buf);
	assert_string_equal(v->u.arr.items[0]->u.num.raw.p, "12.50");
	assert_string_equal(v->u.arr.items[1]->u.str.p, "s");
	assert_string_equal(v->u.arr.items[2]->u.num.raw.p, "-3e2");
	assert_int_equal(v->u.arr.items[2]->u.num.i, -300);
}

/* Skips where no comma-decimal locale is installed; to run it anyway:
 * localedef -i de_DE -f UTF-8 /tmp/loc/de_DE.UTF-8 && LOCPATH=/tmp/loc */
static void numbers_ignore_the_locale(void **state)
{
	/* strtod in a comma-decimal locale would stop at '.' */
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") &&
	    !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
		skip();
	const struct json_value *v = ok("1.2345678901234567890123");
	char b[JSON_NUM_BUF];
	size_t n = json_num_format(0.1 + 0.2, b); /* printf would say "0,3" */
	setlocale(LC_NUMERIC, "C");
	assert_true(v->u.num.d == 1.2345678901234567);
	assert_int_equal(n, 19);
	assert_string_equal(b, "0.30000000000000004");
}

/* Input exactly at the end of the buffer: no reads past len (ASan). */
static void never_reads_past_the_length(void **state)
{
	const char *docs[] = {
		"\"abcdefghijklmnopqrstuvwxyz\"", "[1,2,3]", "12345",
		"\"\\u00e9\"", "{\"a\":[true,false,null]}", "-0.5e-3",
		"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(docs); i++) {
		size_t n = strlen(docs[i]);
		for (size_t cut = 0; cut <= n; cut++) {
			char *copy = malloc(cut ? cut : 1);
			assert_non_null(copy);
			memcpy(copy, docs[i], cut);
			bw_err_clear(&err);
			const struct json_value *v =
				json_parse(arena, copy, cut, NULL, &err);
			/* only the whole document (or a number's prefix) is
			 * complete */
			if (cut == n)
				assert_non_null(v);
			else if (!v)
				assert_true(err.code == 400);
			free(copy);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_scalars),
		cmocka_unit_test(parses_containers),
		cmocka_unit_test(parses_a_realistic_event),
		cmocka_unit_test(decodes_escapes),
		cmocka_unit_test(accepts_valid_utf8),
		cmocka_unit_test(rejects_invalid_utf8),
		cmocka_unit_test(rejects_syntax_errors),
		cmocka_unit_test(rejects_bad_numbers),
		cmocka_unit_test(rejects_bad_strings),
		cmocka_unit_test(enforces_document_size),
		cmocka_unit_test(enforces_depth),
		cmocka_unit_test(enforces_string_length),
		cmocka_unit_test(enforces_member_count),
		cmocka_unit_test(fails_cleanly_when_the_arena_is_full),
		cmocka_unit_test(rejects_duplicate_keys),
		cmocka_unit_test(duplicate_policy_last_wins),
		cmocka_unit_test(finds_duplicates_in_big_objects),
		cmocka_unit_test(siphash_is_keyed_and_spreads),
		cmocka_unit_test(parses_numbers),
		cmocka_unit_test(number_text_survives_the_input),
		cmocka_unit_test(numbers_ignore_the_locale),
		cmocka_unit_test(never_reads_past_the_length),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
