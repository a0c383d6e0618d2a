/* Unit tests for the CEL subset of conditions: literals and operators,
 * commutative && / || with errors and missing parameters, time and
 * duration arithmetic, IP CIDR matching, compile errors with their column,
 * JSON context conversion, and hostile input (overflow, deep nesting,
 * budgets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authz/authz_cel.h"
#include "authz/authz_limits.h"

static struct bw_arena *arena;

static int setup(void **state)
{
	(void)state;
	arena = bw_arena_new(4096, (size_t)64 << 20);
	return arena ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	bw_arena_free(arena);
	return 0;
}

/* Parameters every test can use; values set per test through JSON. */
static const struct cel_param params[] = {
	{ "x", { CEL_T_INT, CEL_T_ANY } },
	{ "s", { CEL_T_STRING, CEL_T_ANY } },
	{ "now", { CEL_T_TIMESTAMP, CEL_T_ANY } },
	{ "granted", { CEL_T_TIMESTAMP, CEL_T_ANY } },
	{ "ttl", { CEL_T_DURATION, CEL_T_ANY } },
	{ "ip", { CEL_T_IPADDR, CEL_T_ANY } },
	{ "tags", { CEL_T_LIST, CEL_T_STRING } },
	{ "attrs", { CEL_T_MAP, CEL_T_STRING } },
	{ "d", { CEL_T_DOUBLE, CEL_T_ANY } },
	{ "u", { CEL_T_UINT, CEL_T_ANY } },
	{ "any", { CEL_T_ANY, CEL_T_ANY } },
};
#define NP (sizeof(params) / sizeof(params[0]))

/* Evaluates expr with the context given as a JSON object text (params not
 * in it are missing). */
static enum cel_result eval_ctx(const char *expr, const char *ctx, char *msg, size_t cap)
{
	struct bw_err err;
	struct cel_prog *p = authz_cel_compile(arena, expr, strlen(expr), params, NP, NULL, &err);
	if (!p)
		fail_msg("compile %s: %s", expr, err.msg);
	struct cel_value args[NP];
	for (size_t i = 0; i < NP; i++)
		args[i].t = CEL_T_UNKNOWN;
	if (ctx) {
		const struct json_value *v = json_parse(arena, ctx, strlen(ctx), NULL, &err);
		assert_non_null(v);
		for (size_t i = 0; i < NP; i++) {
			const struct json_value *m = json_get(v, params[i].name);
			if (m && authz_cel_from_json(arena, m, params[i].type, &args[i], &err) < 0)
				fail_msg("context %s: %s", params[i].name, err.msg);
		}
	}
	return authz_cel_eval(p, args, arena, msg, cap);
}

static enum cel_result ev(const char *expr, const char *ctx)
{
	char msg[128];
	return eval_ctx(expr, ctx, msg, sizeof(msg));
}

static void compile_fails(const char *expr, size_t col, const char *needle)
{
	struct bw_err err;
	size_t off = 999;
	struct cel_prog *p = authz_cel_compile(arena, expr, strlen(expr), params, NP, &off, &err);
	if (p)
		fail_msg("compiled but should not: %s", expr);
	assert_int_equal(err.code, 400);
	if (col && off + 1 != col)
		fail_msg("%s: error at column %zu, want %zu (%s)", expr, off + 1, col, err.msg);
	if (needle && !strstr(err.msg, needle))
		fail_msg("%s: message '%s' lacks '%s'", expr, err.msg, needle);
}

static void test_literals_and_arith(void **state)
{
	(void)state;
	assert_int_equal(ev("1 + 2 * 3 == 7", NULL), CEL_TRUE);
	assert_int_equal(ev("(1 + 2) * 3 == 9", NULL), CEL_TRUE);
	assert_int_equal(ev("7 / 2 == 3 && 7 % 2 == 1 && -7 / 2 == -3", NULL), CEL_TRUE);
	assert_int_equal(ev("0x10 == 16 && 3u + 4u == 7u", NULL), CEL_TRUE);
	assert_int_equal(ev("1.5 + 1.5 == 3.0 && 2.0 > 1", NULL), CEL_TRUE);
	assert_int_equal(ev("1 == 1.0 && 1u == 1 && 2 > 1u", NULL), CEL_TRUE);
	assert_int_equal(ev("'a' + \"b\" == 'ab' && 'abc' < 'abd'", NULL), CEL_TRUE);
	assert_int_equal(ev("'\\u00e9' == '\xc3\xa9' && size('\xc3\xa9t\xc3\xa9') == 3", NULL),
			 CEL_TRUE);
	assert_int_equal(ev("r'\\n' == '\\\\n'", NULL), CEL_TRUE);
	assert_int_equal(ev("[1, 2] + [3] == [1, 2, 3] && size([1,2,]) == 2", NULL), CEL_TRUE);
	assert_int_equal(ev("{'a': 1}['a'] == 1 && {'a': 1}.a == 1", NULL), CEL_TRUE);
	assert_int_equal(ev("null == null && true != false && !false", NULL), CEL_TRUE);
	assert_int_equal(ev("true ? 1 == 1 : 1 / 0 == 1", NULL), CEL_TRUE);
	assert_int_equal(ev("-9223372036854775808 < 0", NULL), CEL_TRUE);
	assert_int_equal(ev("int('42') == 42 && uint(3) == 3u && double(1) == 1.0", NULL),
			 CEL_TRUE);
	assert_int_equal(ev("string(12) == '12' && string(true) == 'true'", NULL), CEL_TRUE);
	assert_int_equal(ev("'hello'.startsWith('he') && 'hello'.endsWith('lo') && "
			    "'hello'.contains('ell') && !'hello'.contains('x')",
			    NULL),
			 CEL_TRUE);
	assert_int_equal(ev("1 in [1, 2] && !(3 in [1, 2]) && 'a' in {'a': 1}", NULL), CEL_TRUE);
	assert_int_equal(ev("1 == 2", NULL), CEL_FALSE);
}

static void test_errors_at_runtime(void **state)
{
	(void)state;
	char msg[128];
	assert_int_equal(eval_ctx("1 / 0 == 1", NULL, msg, sizeof(msg)), CEL_ERROR);
	assert_non_null(strstr(msg, "division by zero"));
	assert_int_equal(ev("9223372036854775807 + 1 > 0", NULL), CEL_ERROR);
	assert_int_equal(ev("-9223372036854775808 - 1 < 0", NULL), CEL_ERROR);
	assert_int_equal(ev("-9223372036854775808 / -1 < 0", NULL), CEL_ERROR);
	assert_int_equal(ev("0u - 1u == 0u", NULL), CEL_ERROR);
	assert_int_equal(ev("[1][5] == 1", NULL), CEL_ERROR);
	assert_int_equal(ev("{'a': 1}['b'] == 1", NULL), CEL_ERROR);
	assert_int_equal(ev("int('x') == 1", NULL), CEL_ERROR);
	assert_int_equal(ev("{'a': 1, 'a': 2}.a == 1", NULL), CEL_ERROR);
	/* commutative logic: errors are absorbed by a deciding operand */
	assert_int_equal(ev("1 / 0 == 1 || true", NULL), CEL_TRUE);
	assert_int_equal(ev("false && 1 / 0 == 1", NULL), CEL_FALSE);
	assert_int_equal(ev("1 / 0 == 1 && false", NULL), CEL_FALSE);
	assert_int_equal(ev("1 / 0 == 1 || false", NULL), CEL_ERROR);
}

static void test_missing_parameters(void **state)
{
	(void)state;
	char msg[128];
	assert_int_equal(eval_ctx("x > 1", NULL, msg, sizeof(msg)), CEL_MISSING);
	assert_non_null(strstr(msg, "missing"));
	assert_int_equal(ev("x > 1 || true", NULL), CEL_TRUE);
	assert_int_equal(ev("x > 1 && false", NULL), CEL_FALSE);
	/* unknown beats error */
	assert_int_equal(ev("x > 1 && 1 / 0 == 1", NULL), CEL_MISSING);
	assert_int_equal(ev("x > 1", "{\"x\": 2}"), CEL_TRUE);
	assert_int_equal(ev("x > 1", "{\"x\": 1}"), CEL_FALSE);
}

static void test_time(void **state)
{
	(void)state;
	const char *ctx = "{\"now\": \"2024-03-01T12:30:00Z\", "
			  "\"granted\": \"2024-03-01T12:00:00Z\", \"ttl\": \"1h\"}";
	assert_int_equal(ev("now < granted + ttl", ctx), CEL_TRUE);
	assert_int_equal(ev("now - granted == duration('30m')", ctx), CEL_TRUE);
	assert_int_equal(ev("now > granted + duration('29m59s')", ctx), CEL_TRUE);
	assert_int_equal(ev("now < granted + duration('0.5h')", ctx), CEL_FALSE);
	assert_int_equal(ev("now.getHours() == 12 && now.getMinutes() == 30 && "
			    "now.getFullYear() == 2024 && now.getMonth() == 2 && "
			    "now.getDate() == 1 && now.getDayOfMonth() == 0 && "
			    "now.getDayOfWeek() == 5 && now.getDayOfYear() == 60",
			    ctx),
			 CEL_TRUE);
	assert_int_equal(ev("timestamp('2024-03-01T13:30:00+01:00') == now", ctx), CEL_TRUE);
	assert_int_equal(ev("timestamp('2024-02-30T00:00:00Z') == now", ctx), CEL_ERROR);
	assert_int_equal(ev("ttl.getMinutes() == 60 && duration('-1.5s') < duration('0')", ctx),
			 CEL_TRUE);
	assert_int_equal(ev("timestamp('9999-12-31T23:59:59Z') + duration('1s') > now", ctx),
			 CEL_ERROR);
	assert_int_equal(ev("string(now) == '2024-03-01T12:30:00Z'", ctx), CEL_TRUE);

	int64_t s, ns;
	int32_t n32;
	assert_int_equal(authz_cel_parse_timestamp("1970-01-01T00:00:00Z", 20, &s, &n32), 0);
	assert_int_equal(s, 0);
	assert_int_equal(authz_cel_parse_timestamp("1969-12-31T23:59:59.5Z", 22, &s, &n32), 0);
	assert_int_equal(s, -1);
	assert_int_equal(n32, 500000000);
	assert_int_equal(authz_cel_parse_timestamp("2023-02-29T00:00:00Z", 20, &s, &n32), -1);
	assert_int_equal(authz_cel_parse_timestamp("2024-01-01 00:00:00Z", 20, &s, &n32), -1);
	assert_int_equal(authz_cel_parse_timestamp("2024-01-01T00:00:00", 19, &s, &n32), -1);
	assert_int_equal(authz_cel_parse_duration("1h30m", 5, &ns), 0);
	assert_int_equal(ns, 5400000000000LL);
	assert_int_equal(authz_cel_parse_duration("300ms", 5, &ns), 0);
	assert_int_equal(ns, 300000000LL);
	assert_int_equal(authz_cel_parse_duration("-2562047h47m16.854775808s", 25, &ns), 0);
	assert_true(ns == INT64_MIN);
	assert_int_equal(authz_cel_parse_duration("2562047h47m16.854775808s", 24, &ns), -1);
	assert_int_equal(authz_cel_parse_duration("1", 1, &ns), -1);
	assert_int_equal(authz_cel_parse_duration("h", 1, &ns), -1);
	assert_int_equal(authz_cel_parse_duration("", 0, &ns), -1);
	assert_int_equal(authz_cel_parse_duration("1d", 2, &ns), -1);
}

static void test_ip(void **state)
{
	(void)state;
	assert_int_equal(ev("ip.in_cidr('192.168.0.0/24')", "{\"ip\": \"192.168.0.17\"}"), CEL_TRUE);
	assert_int_equal(ev("ip.in_cidr('192.168.1.0/24')", "{\"ip\": \"192.168.0.17\"}"), CEL_FALSE);
	assert_int_equal(ev("ip.in_cidr('0.0.0.0/0')", "{\"ip\": \"10.1.2.3\"}"), CEL_TRUE);
	assert_int_equal(ev("ip.in_cidr('2001:db8::/32')", "{\"ip\": \"2001:db8::1\"}"), CEL_TRUE);
	assert_int_equal(ev("ip.in_cidr('2001:db8::/32')", "{\"ip\": \"10.0.0.1\"}"), CEL_FALSE);
	assert_int_equal(ev("ip.in_cidr('10.0.0.0/33')", "{\"ip\": \"10.0.0.1\"}"), CEL_ERROR);
	assert_int_equal(ev("ip.in_cidr('10.0.0.0')", "{\"ip\": \"10.0.0.1\"}"), CEL_ERROR);
	assert_int_equal(ev("ipaddress('10.0.0.1').in_cidr('10.0.0.0/8')", NULL), CEL_TRUE);
	assert_int_equal(ev("ipaddress('10.0.0.300').in_cidr('10.0.0.0/8')", NULL), CEL_ERROR);
	assert_int_equal(ev("ip == ipaddress('10.0.0.1')", "{\"ip\": \"10.0.0.1\"}"), CEL_TRUE);
}

static void test_collections(void **state)
{
	(void)state;
	const char *ctx = "{\"tags\": [\"a\", \"b\"], \"attrs\": {\"dept\": \"eng\"}, "
			  "\"s\": \"b\", \"any\": {\"n\": [1, 2, 3]}}";
	assert_int_equal(ev("s in tags", ctx), CEL_TRUE);
	assert_int_equal(ev("'c' in tags", ctx), CEL_FALSE);
	assert_int_equal(ev("attrs.dept == 'eng' && attrs['dept'] == 'eng'", ctx), CEL_TRUE);
	assert_int_equal(ev("'dept' in attrs && !('x' in attrs)", ctx), CEL_TRUE);
	assert_int_equal(ev("size(tags) == 2 && tags.size() == 2 && size(attrs) == 1", ctx),
			 CEL_TRUE);
	assert_int_equal(ev("any.n[2] == 3 && size(any.n) == 3", ctx), CEL_TRUE);
	assert_int_equal(ev("attrs.missing == 'x'", ctx), CEL_ERROR);
}

static void test_compile_errors(void **state)
{
	(void)state;
	compile_fails("y > 1", 1, "undeclared reference to 'y'");
	compile_fails("x >", 4, "unexpected end");
	compile_fails("x = 1", 3, "==");
	compile_fails("x > 1 )", 7, "unexpected token");
	compile_fails("foo(1)", 1, "undeclared reference to function 'foo'");
	compile_fails("x + 1", 1, "must evaluate to bool");
	compile_fails("now < 5", 5, "no matching overload");
	compile_fails("s + 1 == 'a'", 3, "no matching overload");
	compile_fails("!x", 1, "no matching overload");
	compile_fails("'abc", 1, "unterminated");
	compile_fails("'\\q' == s", 2, "invalid escape");
	compile_fails("99999999999999999999 > x", 1, "out of range");
	compile_fails("x.size() > 1", 3, "no matching overload");
	compile_fails("s.contains(1)", 3, "no matching overload");
	compile_fails("x in 5", 3, "no matching overload");
	compile_fails("ip.in_cidr()", 4, "no matching overload");
	compile_fails("x > 1 # comment", 7, "unexpected character");
	compile_fails("", 1, "unexpected end");
	compile_fails("{1: 2}.a == 1", 2, "map keys must be strings");
	compile_fails("x.foo == 1", 3, "has no field");
	/* nesting limits: deep parentheses and long unary chains */
	char deep[256];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		deep[n++] = '(';
	deep[n++] = 'x';
	deep[n] = 0;
	compile_fails(deep, 0, "nested too deeply");
	char nots[256];
	memset(nots, '!', 100);
	memcpy(nots + 100, "true", 5);
	compile_fails(nots, 0, "nested too deeply");
	static char big[AUTHZ_CEL_MAX_BYTES + 10];
	memset(big, ' ', sizeof(big) - 1);
	compile_fails(big, 0, "longer than");
	char nul[] = "x > 1\0 || true";
	struct bw_err err;
	assert_null(authz_cel_compile(arena, nul, sizeof(nul) - 1, params, NP, NULL, &err));
}

static void test_budget(void **state)
{
	(void)state;
	/* 20 lists of 48 concatenated left to right copy ~10,000 elements:
	 * past the step budget, so the evaluation stops with an error. */
	char expr[AUTHZ_CEL_MAX_BYTES];
	size_t n = 0;
	n += (size_t)snprintf(expr + n, sizeof(expr) - n, "size(");
	for (int i = 0; i < 20; i++) {
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, "%s[", i ? "+" : "");
		for (int k = 0; k < 48; k++)
			n += (size_t)snprintf(expr + n, sizeof(expr) - n, "%s%d", k ? "," : "", k);
		n += (size_t)snprintf(expr + n, sizeof(expr) - n, "]");
	}
	n += (size_t)snprintf(expr + n, sizeof(expr) - n, ") > 0");
	assert_true(n < sizeof(expr) - 1);
	char msg[128];
	assert_int_equal(eval_ctx(expr, NULL, msg, sizeof(msg)), CEL_ERROR);
	assert_non_null(strstr(msg, "cost"));
}

static void test_context_conversion(void **state)
{
	(void)state;
	struct bw_err err;
	struct cel_value v;
	const struct json_value *j = json_parse(arena, "\"nope\"", 6, NULL, &err);
	assert_int_equal(authz_cel_from_json(arena, j, (struct cel_ptype){ CEL_T_TIMESTAMP, 0 },
					     &v, &err), -1);
	assert_string_equal(err.reason, "bad_context");
	j = json_parse(arena, "1.5", 3, NULL, &err);
	assert_int_equal(authz_cel_from_json(arena, j, (struct cel_ptype){ CEL_T_INT, 0 }, &v, &err), -1);
	j = json_parse(arena, "[1, \"a\"]", 8, NULL, &err);
	assert_int_equal(authz_cel_from_json(arena, j, (struct cel_ptype){ CEL_T_LIST, CEL_T_INT },
					     &v, &err), -1);
	j = json_parse(arena, "18446744073709551615", 20, NULL, &err);
	assert_int_equal(authz_cel_from_json(arena, j, (struct cel_ptype){ CEL_T_UINT, 0 }, &v, &err), 0);
	assert_true(v.u.u == UINT64_MAX);

	struct cel_ptype t;
	assert_int_equal(authz_cel_ptype_parse("list<string>", 12, &t), 0);
	assert_int_equal(t.t, CEL_T_LIST);
	assert_int_equal(t.elem, CEL_T_STRING);
	assert_int_equal(authz_cel_ptype_parse("map<list<int>>", 14, &t), -1);
	assert_int_equal(authz_cel_ptype_parse("list", 4, &t), -1);
	assert_int_equal(authz_cel_ptype_parse("strin", 5, &t), -1);
	char name[32];
	authz_cel_ptype_name((struct cel_ptype){ CEL_T_MAP, CEL_T_TIMESTAMP }, name, sizeof(name));
	assert_string_equal(name, "map<timestamp>");
	enum cel_type ct;
	assert_int_equal(authz_cel_type_from_json_name("TYPE_NAME_IPADDRESS", &ct), 0);
	assert_int_equal(ct, CEL_T_IPADDR);
	assert_string_equal(authz_cel_type_json_name(CEL_T_DURATION), "TYPE_NAME_DURATION");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_and_arith),
		cmocka_unit_test(test_errors_at_runtime),
		cmocka_unit_test(test_missing_parameters),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_collections),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_context_conversion),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
