/*
 * Tests for audit_record.c: RFC 8785 string escaping, the strict time
 * form, record validation on append, the canonical form of written lines
 * (checked against the json module's canonicaliser), and the strict
 * reader's refusal of hostile or non-canonical lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit_int.h"
#include "json/json.h"

static struct bw_str S(const char *s)
{
	return bw_str_make(s, strlen(s));
}

static void jcs_is(const char *in, size_t inlen, const char *want)
{
	struct bw_buf b;
	bw_buf_init(&b, 1024);
	assert_int_equal(audit_jcs_string(&b, bw_str_make(in, inlen)), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	bw_buf_fini(&b);
}

static void jcs_bad(const char *in, size_t inlen)
{
	struct bw_buf b;
	bw_buf_init(&b, 1024);
	assert_int_equal(audit_jcs_string(&b, bw_str_make(in, inlen)), -1);
	bw_buf_fini(&b);
}

static void test_jcs_string(void **state)
{
	(void)state;
	jcs_is("", 0, "\"\"");
	jcs_is("abc", 3, "\"abc\"");
	jcs_is("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	jcs_is("\b\t\n\f\r", 5, "\"\\b\\t\\n\\f\\r\"");
	jcs_is("\x01\x1f\x1b", 3, "\"\\u0001\\u001f\\u001b\"");
	jcs_is("\0x", 2, "\"\\u0000x\"");
	/* Non-ASCII and '/' and DEL are written as themselves (RFC 8785). */
	jcs_is("caf\xc3\xa9/\x7f", 7, "\"caf\xc3\xa9/\x7f\"");
	jcs_is("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"");
	jcs_is("\xef\xbf\xbf", 3, "\"\xef\xbf\xbf\"");
	/* Invalid UTF-8: overlong, surrogate, beyond U+10FFFF, truncated,
	 * stray continuation. */
	jcs_bad("\xc0\x80", 2);
	jcs_bad("\xe0\x80\xaf", 3);
	jcs_bad("\xed\xa0\x80", 3);
	jcs_bad("\xf4\x90\x80\x80", 4);
	jcs_bad("\xf5\x80\x80\x80", 5);
	jcs_bad("\xe2\x82", 2);
	jcs_bad("\x80", 1);
	jcs_bad("ok\xff", 3);
}

static void test_time(void **state)
{
	(void)state;
	int64_t ms;
	assert_int_equal(audit_time_parse(S("1970-01-01T00:00:00.000Z"), &ms),
			 0);
	assert_int_equal(ms, 0);
	assert_int_equal(audit_time_parse(S("2024-02-29T23:59:59.999Z"), &ms),
			 0);
	assert_int_equal(ms, 1709251199999LL);
	assert_int_equal(audit_time_parse(S("2000-03-01T00:00:00.000Z"), &ms),
			 0);
	assert_int_equal(ms, 951868800000LL);
	static const char *const bad[] = {
		"2023-02-29T00:00:00.000Z", /* not a leap year */
		"1900-01-01T00:00:00.000Z", /* before the epoch */
		"2024-13-01T00:00:00.000Z", "2024-00-01T00:00:00.000Z",
		"2024-04-31T00:00:00.000Z", "2024-01-01T24:00:00.000Z",
		"2024-01-01T00:60:00.000Z", "2024-01-01T00:00:60.000Z",
		"2024-01-01t00:00:00.000Z", "2024-01-01T00:00:00.000z",
		"2024-01-01T00:00:00.000+00:00", "2024-01-01T00:00:00Z",
		"2024-01-01T00:00:00.0000Z", "2024-01-01 00:00:00.000Z",
		"+024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.-00Z", "",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++)
		assert_int_equal(audit_time_parse(S(bad[i]), &ms), -1);
	/* The far end of the form (a fuzz find: ms * 10^6 overflowed). */
	assert_int_equal(audit_time_parse(S("9999-12-31T23:59:59.999Z"), &ms),
			 0);
	char far[32];
	assert_int_equal(audit_time_format(ms, far), 24);
	assert_string_equal(far, "9999-12-31T23:59:59.999Z");
	/* Round trip across leap years and centuries, and agreement with
	 * core's formatter where both apply. */
	for (int64_t t = 0; t < 4102444800000LL; t += 7777777777LL + 17) {
		char buf[32];
		size_t n = audit_time_format(t, buf);
		assert_int_equal(n, 24);
		assert_int_equal(audit_time_parse(bw_str_make(buf, n), &ms), 0);
		assert_int_equal(ms, t);
		char core[32];
		bw_time_format(t * 1000000, core);
		assert_string_equal(buf, core);
	}
}

static struct audit_record sample(void)
{
	struct audit_record r = {
		.actor = { .tenant = BW_STR("acme"),
			   .kind = AUDIT_ACTOR_USER,
			   .id = BW_STR("u-42"),
			   .ip = BW_STR("2001:db8::7") },
		.action = BW_STR("user.create"),
		.target = BW_STR("users/\"bob\""),
		.outcome = AUDIT_OUTCOME_SUCCESS,
		.request_id = BW_STR("req-1"),
		.details = BW_STR("{ \"z\": [1.0, 2e0, \"\\u00e9\"], \"a\": "
				  "{\"y\": null, \"b\": true} }"),
	};
	return r;
}

/* Builds the line for r at seq 7; returns it (caller frees) or NULL with
 * err set. */
static char *build(const struct audit_record *r, size_t *len,
		   struct bw_err *err)
{
	struct audit_prep p;
	bw_buf_init(&p.buf, AUDIT_LINE_MAX_DEFAULT);
	if (audit_prep_record(r, AUDIT_LINE_MAX_DEFAULT, &p, err) < 0) {
		bw_buf_fini(&p.buf);
		return NULL;
	}
	struct bw_buf out;
	bw_buf_init(&out, AUDIT_LINE_MAX_HARD);
	uint8_t prev[AUDIT_HASH_LEN];
	memset(prev, 0xab, sizeof(prev));
	assert_int_equal(audit_line_build(&out, &p, 7, 1700000000123LL, prev),
			 0);
	bw_buf_fini(&p.buf);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	out.data[--out.len] = '\0';
	return bw_buf_detach(&out, len);
}

static void test_record_line_canonical(void **state)
{
	(void)state;
	struct audit_record r = sample();
	size_t len;
	char *line = build(&r, &len, NULL);
	assert_non_null(line);
	static const char want[] =
		"{\"action\":\"user.create\",\"actor\":{\"id\":\"u-42\",\"ip\":"
		"\"2001:db8::7\",\"kind\":\"user\",\"tenant\":\"acme\"},"
		"\"details\":{\"a\":{\"b\":true,\"y\":null},\"z\":[1,2,"
		"\"\xc3\xa9\"]},\"outcome\":\"success\",\"prev\":"
		"\"abababababababababababababababababababababababababababababab"
		"abab\",\"request_id\":\"req-1\",\"seq\":7,\"target\":"
		"\"users/\\\"bob\\\"\",\"time\":\"2023-11-14T22:13:20.123Z\","
		"\"type\":\"record\"}";
	assert_string_equal(line, want);
	/* The json module's canonicaliser agrees byte for byte. */
	struct bw_buf c;
	bw_buf_init(&c, AUDIT_LINE_MAX_HARD);
	assert_int_equal(json_canonicalize_text(line, len, &c, NULL), 0);
	assert_int_equal(c.len, len);
	assert_memory_equal(c.data, line, len);
	bw_buf_fini(&c);
	/* And the reader accepts it with every field intact. */
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct audit_line ln;
	struct bw_err err = { 0 };
	assert_int_equal(audit_line_parse(a, line, len, &ln, &err), 0);
	assert_int_equal(ln.type, AUDIT_LINE_RECORD);
	assert_int_equal(ln.seq, 7);
	assert_int_equal(ln.time_ms, 1700000000123LL);
	assert_int_equal(ln.prev[0], 0xab);
	assert_true(bw_str_eq_lit(ln.rec.action, "user.create"));
	assert_true(bw_str_eq_lit(ln.rec.target, "users/\"bob\""));
	assert_true(bw_str_eq_lit(ln.rec.actor.ip, "2001:db8::7"));
	assert_int_equal(ln.rec.actor.kind, AUDIT_ACTOR_USER);
	assert_int_equal(ln.rec.outcome, AUDIT_OUTCOME_SUCCESS);
	bw_arena_free(a);
	free(line);

	/* Empty optional fields and NULL details. */
	struct audit_record s = {
		.actor = { .kind = AUDIT_ACTOR_SYSTEM },
		.action = BW_STR("audit.open"),
		.outcome = AUDIT_OUTCOME_DENIED,
	};
	line = build(&s, &len, NULL);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"details\":{}"));
	assert_non_null(strstr(line, "\"kind\":\"system\""));
	assert_non_null(strstr(line, "\"outcome\":\"denied\""));
	free(line);
}

static void expect_invalid(struct audit_record r, const char *reason)
{
	struct bw_err err = { 0 };
	size_t len;
	char *line = build(&r, &len, &err);
	assert_null(line);
	assert_true(err.code == 400 || err.code == 413);
	assert_string_equal(err.reason, reason);
}

static void test_record_validation(void **state)
{
	(void)state;
	struct audit_record r;
	static const char *const bad_actions[] = {
		"", "User.create", "user..create", ".user", "user.", "1user",
		"user create", "user.Create", "user.\xc3\xa9",
		/* 65 bytes, one over AUDIT_ACTION_MAX */
		("a2345678901234567890123456789012345678901234567890123456789012"
		 "345"),
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_actions); i++) {
		r = sample();
		r.action = S(bad_actions[i]);
		expect_invalid(r, "action");
	}
	r = sample();
	r.action = bw_str_make(NULL, 0);
	expect_invalid(r, "action");
	r = sample();
	r.actor.tenant = S("ac\nme");
	expect_invalid(r, "tenant");
	r = sample();
	r.actor.tenant = bw_str_make("a\0b", 3);
	expect_invalid(r, "tenant");
	r = sample();
	r.actor.id = S("");
	expect_invalid(r, "actor_id");
	r = sample();
	r.actor.kind = AUDIT_ACTOR_KEY;
	r.actor.id = bw_str_make(NULL, 0);
	expect_invalid(r, "actor_id");
	r = sample();
	r.actor.kind = (enum audit_actor_kind)9;
	expect_invalid(r, "actor_kind");
	r = sample();
	r.outcome = (enum audit_outcome)-1;
	expect_invalid(r, "outcome");
	static const char *const bad_ips[] = { "999.1.1.1", "1.2.3", "::g",
					       "localhost", "1.2.3.4 ",
					       "1.2.3.4/8" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_ips); i++) {
		r = sample();
		r.actor.ip = S(bad_ips[i]);
		expect_invalid(r, "ip");
	}
	r = sample();
	r.actor.ip = bw_str_make("1.2.3.4\0", 8);
	expect_invalid(r, "ip");
	r = sample();
	r.target = S("x\x1b[31mred");
	expect_invalid(r, "target");
	r = sample();
	r.request_id = S("\xff");
	expect_invalid(r, "request_id");
	static const char *const bad_details[] = {
		"[]", "1", "\"x\"", "null", "{", "{\"a\":1,\"a\":2}",
		"{\"a\":1} x", "{\"a\":NaN}", "",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_details); i++) {
		r = sample();
		r.details = S(bad_details[i]);
		expect_invalid(r, "details");
	}
	/* Deeper than AUDIT_DETAILS_DEPTH. */
	char deep[256];
	size_t n = 0;
	for (int i = 0; i < 40; i++) {
		deep[n++] = '{';
		deep[n++] = '"';
		deep[n++] = 'a';
		deep[n++] = '"';
		deep[n++] = ':';
	}
	deep[n++] = '1';
	for (int i = 0; i < 40; i++)
		deep[n++] = '}';
	r = sample();
	r.details = bw_str_make(deep, n);
	expect_invalid(r, "details");
	/* Larger than AUDIT_DETAILS_MAX. */
	size_t big = AUDIT_DETAILS_MAX + 16;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	r = sample();
	r.details = bw_str_make(huge, big);
	expect_invalid(r, "details_too_large");
	free(huge);
	/* A record that fits details but not line_max. */
	struct audit_prep p;
	bw_buf_init(&p.buf, 512);
	r = sample();
	struct bw_err err = { 0 };
	assert_int_equal(audit_prep_record(&r, 200, &p, &err), -1);
	assert_int_equal(err.code, 413);
	bw_buf_fini(&p.buf);
}

static void sth_roundtrip(void)
{
	uint8_t root[AUDIT_HASH_LEN], pk[AUDIT_PUBKEY_LEN], sig[AUDIT_SIG_LEN];
	memset(root, 0x11, sizeof(root));
	memset(pk, 0x22, sizeof(pk));
	memset(sig, 0x33, sizeof(sig));
	struct bw_buf b;
	bw_buf_init(&b, 4096);
	assert_int_equal(audit_sth_line_build(&b, 12345, 1700000000000LL, root,
					      pk, sig),
			 0);
	assert_int_equal(b.data[b.len - 1], '\n');
	struct bw_buf c;
	bw_buf_init(&c, 4096);
	assert_int_equal(json_canonicalize_text(b.data, b.len - 1, &c, NULL), 0);
	assert_int_equal(c.len, b.len - 1);
	assert_memory_equal(c.data, b.data, c.len);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct audit_line ln;
	assert_int_equal(audit_line_parse(a, b.data, b.len - 1, &ln, NULL), 0);
	assert_int_equal(ln.type, AUDIT_LINE_STH);
	assert_int_equal(ln.tree_size, 12345);
	assert_int_equal(ln.time_ms, 1700000000000LL);
	assert_memory_equal(ln.root, root, sizeof(root));
	assert_memory_equal(ln.pubkey, pk, sizeof(pk));
	assert_memory_equal(ln.sig, sig, sizeof(sig));
	bw_arena_free(a);
	bw_buf_fini(&b);
	bw_buf_fini(&c);
}

static void test_sth_line(void **state)
{
	(void)state;
	sth_roundtrip();
	/* The signed message layout: label with NUL, be64 size, be64 time,
	 * root. */
	uint8_t root[AUDIT_HASH_LEN], msg[AUDIT_STH_MSG_LEN];
	memset(root, 0x5a, sizeof(root));
	audit_sth_message(0x0102030405060708ULL, 0x1112131415161718LL, root,
			  msg);
	assert_int_equal(AUDIT_STH_MSG_LEN, 21 + 16 + 32);
	assert_memory_equal(msg, "bulwark-audit-sth-v1\0", 21);
	assert_int_equal(msg[21], 0x01);
	assert_int_equal(msg[28], 0x08);
	assert_int_equal(msg[29], 0x11);
	assert_int_equal(msg[36], 0x18);
	assert_int_equal(msg[37], 0x5a);
}

/* Lines that must be refused, each with the reason token expected. */
static const struct {
	const char *line;
	const char *reason;
} hostile[] = {
	{ "", "malformed" },
	{ "[]", "malformed" },
	{ "{}", "malformed" },
	{ "{\"type\":\"record\"}", "malformed" },
	{ "{\"type\":\"nope\"}", "malformed" },
	{ "{\"type\":1}", "malformed" },
	{ "{\"type\":\"sth\",\"type\":\"sth\"}", "malformed" },
	{ "{\"pubkey\":\"00\",\"root_hash\":\"00\",\"sig\":\"00\",\"time\":"
	  "\"2023-11-14T22:13:20.000Z\",\"tree_size\":1,\"type\":\"sth\"}",
	  "malformed" },
	{ " {\"type\":\"sth\"}", "malformed" },
	{ "{\"type\":\"sth\"} ", "malformed" },
	{ "{\"type\":\"sth\"}\n", "malformed" },
	{ "{\"a\":", "malformed" },
};

static void test_line_parse_hostile(void **state)
{
	(void)state;
	for (size_t i = 0; i < BW_ARRAY_LEN(hostile); i++) {
		struct bw_arena *a = bw_arena_new(4096, 1 << 20);
		struct audit_line ln;
		struct bw_err err = { 0 };
		assert_int_equal(audit_line_parse(a, hostile[i].line,
						  strlen(hostile[i].line), &ln,
						  &err),
				 -1);
		assert_string_equal(err.reason, hostile[i].reason);
		bw_arena_free(a);
	}
}

/* Mutations of a valid record line: each must fail with `reason`. */
static void mutate_expect(const char *line, const char *from, const char *to,
			  const char *reason)
{
	const char *at = strstr(line, from);
	assert_non_null(at);
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - line), line,
			 to, at + strlen(from));
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct audit_line ln;
	struct bw_err err = { 0 };
	int rc = audit_line_parse(a, buf, (size_t)n, &ln, &err);
	if (rc != -1 || strcmp(err.reason, reason) != 0)
		fail_msg("mutation %s -> %s: rc %d reason %s (%s)", from, to,
			 rc, err.reason, err.msg);
	bw_arena_free(a);
}

static void test_line_parse_mutations(void **state)
{
	(void)state;
	struct audit_record r = sample();
	size_t len;
	char *line = build(&r, &len, NULL);
	assert_non_null(line);
	/* Not canonical: whitespace, escapes, number forms, key order. */
	mutate_expect(line, "\"seq\":7", "\"seq\": 7", "not_canonical");
	mutate_expect(line, "\"seq\":7", "\"seq\":7.0", "not_canonical");
	mutate_expect(line, "\"seq\":7", "\"seq\":7e0", "not_canonical");
	mutate_expect(line, "\"req-1\"", "\"req\\u002d1\"", "not_canonical");
	mutate_expect(line, "\"z\":[1,2", "\"z\":[1.0,2", "not_canonical");
	mutate_expect(line, "{\"action\":\"user.create\",",
		      "{\"action\":\"user.create\" ,", "not_canonical");
	mutate_expect(line, "\"id\":\"u-42\",\"ip\":\"2001:db8::7\"",
		      "\"ip\":\"2001:db8::7\",\"id\":\"u-42\"", "not_canonical");
	/* Malformed: types, ranges, formats, missing and extra members. */
	mutate_expect(line, "\"seq\":7", "\"seq\":-7", "malformed");
	mutate_expect(line, "\"seq\":7", "\"seq\":\"7\"", "malformed");
	mutate_expect(line, "\"seq\":7", "\"seq\":9007199254740992",
		      "malformed");
	mutate_expect(line, "\"seq\":7", "\"seq\":7.5", "malformed");
	mutate_expect(line, "\"prev\":\"ab", "\"prev\":\"AB", "malformed");
	mutate_expect(line, "\"prev\":\"abab", "\"prev\":\"ab", "malformed");
	mutate_expect(line, ".123Z", ".123+00:00", "malformed");
	mutate_expect(line, "2023-11-14", "2023-02-30", "malformed");
	mutate_expect(line, "\"success\"", "\"ok\"", "malformed");
	mutate_expect(line, "\"user\"", "\"admin\"", "malformed");
	mutate_expect(line, "\"user.create\"", "\"User.create\"", "malformed");
	mutate_expect(line, "\"2001:db8::7\"", "\"2001:db8::xyz\"", "malformed");
	mutate_expect(line, "\"acme\"", "\"ac\\u001bme\"", "malformed");
	mutate_expect(line, "\"details\":{", "\"details\":[{", "malformed");
	mutate_expect(line, ",\"request_id\":\"req-1\"", "", "malformed");
	mutate_expect(line, "\"outcome\"", "\"outcomes\"", "malformed");
	mutate_expect(line, "\"kind\":\"user\",", "", "malformed");
	mutate_expect(line, "\"tenant\":\"acme\"",
		      "\"tenant\":\"acme\",\"x\":\"\"", "malformed");
	mutate_expect(line, "\"action\":", "\"aaa\":1,\"action\":",
		      "malformed");
	mutate_expect(line, "\"actor\":{", "\"actor\":{\"id\":\"x\",",
		      "malformed");
	mutate_expect(line, "\"type\":\"record\"}", "\"type\":\"record\"",
		      "malformed");
	free(line);
}

static void test_line_too_long(void **state)
{
	(void)state;
	size_t n = (size_t)AUDIT_LINE_MAX_HARD + 1;
	char *p = malloc(n);
	memset(p, 'x', n);
	p[0] = '{';
	p[n - 1] = '}';
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct audit_line ln;
	struct bw_err err = { 0 };
	assert_int_equal(audit_line_parse(a, p, n, &ln, &err), -1);
	assert_int_equal(err.code, 413);
	bw_arena_free(a);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jcs_string),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_record_line_canonical),
		cmocka_unit_test(test_record_validation),
		cmocka_unit_test(test_sth_line),
		cmocka_unit_test(test_line_parse_hostile),
		cmocka_unit_test(test_line_parse_mutations),
		cmocka_unit_test(test_line_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
