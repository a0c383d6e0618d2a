/* Unit tests for RFC 8785 canonical JSON: the RFC's own examples (§3.2.2
 * input/§3.2.3 output, the §3.2.3 sorting test, the Appendix B number
 * table), UTF-16 member order, ECMAScript number serialisation checked
 * against ~3,000 values whose expected strings were produced by Python's
 * shortest-repr (data/es_numbers.txt), and the failure cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_int.h"

static struct bw_buf out;

static int setup(void **state)
{
	bw_buf_init(&out, 1 << 20);
	return 0;
}

static int teardown(void **state)
{
	bw_buf_fini(&out);
	return 0;
}

static void canon_is(const char *in, const char *want)
{
	struct bw_err err;
	bw_buf_reset(&out);
	if (json_canonicalize_text(in, strlen(in), &out, &err) != 0)
		fail_msg("%s: %s", in, err.msg);
	if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
		fail_msg("%s\n got  %s\n want %s", in, out.data, want);
}

static void rfc8785_example(void **state)
{
	/* RFC 8785 §3.2.2 input; the expected output is §3.2.3's */
	canon_is("{\n"
		 "  \"numbers\": [333333333.33333329, 1E30, 4.50,\n"
		 "              2e-3, 0.000000000000000000000000001],\n"
		 "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022"
		 "\\u005c\\\\\\\"\\/\",\n"
		 "  \"literals\": [null, true, false]\n"
		 "}",
		 "{\"literals\":[null,true,false],\"numbers\":[333333333."
		 "3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\xe2\x82\xac$"
		 "\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

static void rfc8785_sorting(void **state)
{
	/* RFC 8785 §3.2.3: names sorted as UTF-16 code units, so the emoji
	 * (surrogates D83D DE00) sorts before U+FB33 although its code
	 * point is larger */
	canon_is("{\n"
		 "  \"\\u20ac\": \"Euro Sign\",\n"
		 "  \"\\r\": \"Carriage Return\",\n"
		 "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
		 "  \"1\": \"One\",\n"
		 "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
		 "  \"\\u0080\": \"Control\",\n"
		 "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
		 "}",
		 "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":"
		 "\"Control\",\"\xc3\xb6\":\"Latin Small Letter O With "
		 "Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98"
		 "\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":\"Hebrew "
		 "Letter Dalet With Dagesh\"}");
}

static void utf16_order(void **state)
{
	struct {
		const char *a, *b;
		int sign;
	} cases[] = {
		{ "", "", 0 },
		{ "", "a", -1 },
		{ "a", "ab", -1 },
		{ "b", "ab", 1 },
		{ "A", "a", -1 },
		{ "\xef\xbf\xbf", "\xf0\x90\x80\x80", 1 }, /* U+FFFF > U+10000 */
		{ "\xee\x80\x80", "\xf0\x9f\x98\x80", 1 }, /* U+E000 > U+1F600 */
		{ "\xed\x9f\xbf", "\xf0\x90\x80\x80", -1 }, /* U+D7FF < pair */
		{ "\xf0\x90\x80\x80", "\xf0\x90\x80\x81", -1 },
		{ "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", -1 },
		{ "x\xc3\xa9", "x\xc3\xa8", 1 },  /* differ in a continuation */
		{ "x\xef\xbc\x81", "x\xf0\x9f\x98\x80", 1 },
		{ "a\0b", "a\0c", -1 },
		{ "\x7f", "\xc2\x80", -1 },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		struct bw_str a = { cases[i].a, strlen(cases[i].a) };
		struct bw_str b = { cases[i].b, strlen(cases[i].b) };
		if (i == 12)
			a.len = b.len = 3;
		int r = json_utf16_cmp(a, b);
		int s = (r > 0) - (r < 0);
		if (s != cases[i].sign)
			fail_msg("case %zu: %d, want %d", i, s, cases[i].sign);
		r = json_utf16_cmp(b, a);
		assert_int_equal((r > 0) - (r < 0), -cases[i].sign);
	}
	/* nested objects are sorted too; arrays keep their order */
	canon_is("{\"b\":[3,1,2],\"a\":{\"z\":1,\"y\":{\"d\":0,\"c\":0}}}",
		 "{\"a\":{\"y\":{\"c\":0,\"d\":0},\"z\":1},\"b\":[3,1,2]}");
	/* more members than the on-stack sort array */
	struct bw_buf in;
	bw_buf_init(&in, 1 << 16);
	assert_int_equal(bw_buf_append_byte(&in, '{'), 0);
	for (int i = 99; i >= 0; i--)
		assert_int_equal(bw_buf_printf(&in, "\"k%03d\":%d%s", i, i,
					       i ? "," : "}"),
				 0);
	struct bw_err err;
	bw_buf_reset(&out);
	assert_int_equal(json_canonicalize_text(in.data, in.len, &out, &err), 0);
	assert_true(strncmp(out.data, "{\"k000\":0,\"k001\":1,", 19) == 0);
	assert_non_null(strstr(out.data, "\"k098\":98,\"k099\":99}"));
	bw_buf_fini(&in);
}

static void numbers_and_strings(void **state)
{
	canon_is("[1.0, 1e0, 10e-1, -0, -0.0, 0e10, 100, 1e2, 1E21, 1e-6,"
		 " 1e-7, 0.1, 123e-20, 9007199254740993, 1.5e300]",
		 "[1,1,1,0,0,0,100,100,1e+21,0.000001,1e-7,0.1,1.23e-18,"
		 "9007199254740992,1.5e+300]");
	/* 2^68 as an integer literal: the double's ES form */
	canon_is("295147905179352825856", "295147905179352830000");
	/* minimal escaping: DEL, U+2028 and '/' stay raw; controls
	 * lowercase \u00xx */
	canon_is("\"\\u007f\\u2028\\/\\u001F\\u0000\\b\\f\\n\\r\\t\"",
		 "\"\x7f\xe2\x80\xa8/\\u001f\\u0000\\b\\f\\n\\r\\t\"");
	canon_is("  true ", "true");
	canon_is("[]", "[]");
	canon_is("{}", "{}");
	canon_is("[{},[],\"\"]", "[{},[],\"\"]");
}

static double from_hex(const char *h)
{
	uint64_t u = strtoull(h, NULL, 16);
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static void appendix_b_numbers(void **state)
{
	/* RFC 8785 Appendix B: IEEE 754 bits -> JSON text */
	static const struct {
		const char *hex, *want;
	} v[] = {
		{ "0000000000000000", "0" },
		{ "8000000000000000", "0" },
		{ "0000000000000001", "5e-324" },
		{ "8000000000000001", "-5e-324" },
		{ "7fefffffffffffff", "1.7976931348623157e+308" },
		{ "ffefffffffffffff", "-1.7976931348623157e+308" },
		{ "4340000000000000", "9007199254740992" },
		{ "c340000000000000", "-9007199254740992" },
		{ "4430000000000000", "295147905179352830000" },
		{ "44b52d02c7e14af5", "9.999999999999997e+22" },
		{ "44b52d02c7e14af6", "1e+23" },
		{ "44b52d02c7e14af7", "1.0000000000000001e+23" },
		{ "444b1ae4d6e2ef4e", "999999999999999700000" },
		{ "444b1ae4d6e2ef4f", "999999999999999900000" },
		{ "444b1ae4d6e2ef50", "1e+21" },
		{ "3eb0c6f7a0b5ed8c", "9.999999999999997e-7" },
		{ "3eb0c6f7a0b5ed8d", "0.000001" },
		{ "41b3de4355555553", "333333333.3333332" },
		{ "41b3de4355555554", "333333333.33333325" },
		{ "41b3de4355555555", "333333333.3333333" },
		{ "41b3de4355555556", "333333333.3333334" },
		{ "41b3de4355555557", "333333333.33333343" },
		{ "becbf647612f3696", "-0.0000033333333333333333" },
		{ "43143ff3c1cb0959", "1424953923781206.2" }, /* tie: even */
		/* the sample lines of the ES6 100M test file */
		{ "4340000000000001", "9007199254740994" },
		{ "4340000000000002", "9007199254740996" },
	};
	char b[JSON_NUM_BUF];
	for (size_t i = 0; i < BW_ARRAY_LEN(v); i++) {
		size_t n = json_num_format(from_hex(v[i].hex), b);
		if (n != strlen(v[i].want) || strcmp(b, v[i].want) != 0)
			fail_msg("%s: got %s want %s", v[i].hex, b, v[i].want);
	}
	/* NaN and the infinities have no JSON form */
	assert_int_equal(json_num_format(from_hex("7fffffffffffffff"), b), 0);
	assert_int_equal(json_num_format(from_hex("7ff0000000000000"), b), 0);
	assert_int_equal(json_num_format(from_hex("fff0000000000000"), b), 0);
}

static void es_numbers_against_oracle(void **state)
{
	const char *dir = getenv("BW_SOURCE_DIR");
	char path[4096];
	if (bw_snprintf(path, sizeof(path), "%s/src/json/tests/data/"
			"es_numbers.txt", dir ? dir : ".") < 0)
		fail();
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (set BW_SOURCE_DIR)", path);
	char line[128], b[JSON_NUM_BUF];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *comma = strchr(line, ',');
		assert_non_null(comma);
		*comma = '\0';
		char *want = comma + 1;
		want[strcspn(want, "\n")] = '\0';
		double d = from_hex(line);
		json_num_format(d, b);
		if (strcmp(b, want) != 0)
			fail_msg("%s: got %s want %s", line, b, want);
		/* and the output reads back as the same double */
		assert_true(strtod(b, NULL) == d);
		n++;
	}
	fclose(f);
	assert_true(n > 3000);
}

static void refuses_what_has_no_canonical_form(void **state)
{
	struct bw_err err;
	/* parse errors come through with their reason */
	bw_buf_reset(&out);
	assert_int_equal(json_canonicalize_text("{\"a\":1,\"a\":2}", 13, &out,
						&err),
			 -1);
	assert_string_equal(err.reason, "dup_key");
	assert_int_equal(json_canonicalize_text("[1,]", 4, &out, &err), -1);
	assert_string_equal(err.reason, "syntax");
	/* a tree parsed with duplicates allowed */
	struct bw_arena *a = bw_arena_new(4096, 0);
	struct json_limits lim = json_default_limits;
	lim.dup = JSON_DUP_LAST;
	const struct json_value *v =
		json_parse(a, "{\"b\":1,\"a\":1,\"b\":2}", 19, &lim, &err);
	assert_non_null(v);
	bw_buf_reset(&out);
	assert_int_equal(json_canonicalize(v, &out), -1);
	/* equal after decoding counts as duplicate too */
	v = json_parse(a, "{\"a\":1,\"\\u0061\":2}", 18, &lim, &err);
	assert_non_null(v);
	assert_int_equal(json_canonicalize(v, &out), -1);
	/* a NaN in a hand-made tree */
	struct json_value nan_v = { .type = JSON_NUMBER };
	nan_v.u.num.d = NAN;
	assert_int_equal(json_canonicalize(&nan_v, &out), -1);
	/* the output ceiling */
	struct bw_buf small;
	bw_buf_init(&small, 8);
	assert_int_equal(json_canonicalize_text("[1,2,3,4,5]", 11, &small,
						&err),
			 -1);
	assert_string_equal(err.reason, "too_large");
	bw_buf_fini(&small);
	assert_int_equal(json_canonicalize(NULL, &out), -1);
	bw_arena_free(a);
}

static void canonical_form_is_a_fixed_point(void **state)
{
	const char *docs[] = {
		"{\"z\":[1.0,{\"b\":\"\\u0041\",\"a\":null}],\"a\":-0.0}",
		"[0.1,0.2,0.30000000000000004,1e300,-1e-300,123456789012]",
		"{\"\xf0\x9f\x98\x80\":1,\"\xef\xbf\xbf\":2,\"\\u0000\":3}",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(docs); i++) {
		struct bw_err err;
		struct bw_buf once, twice;
		bw_buf_init(&once, 1 << 16);
		bw_buf_init(&twice, 1 << 16);
		assert_int_equal(json_canonicalize_text(docs[i], strlen(docs[i]),
							&once, &err),
				 0);
		assert_int_equal(json_canonicalize_text(once.data, once.len,
							&twice, &err),
				 0);
		assert_int_equal(once.len, twice.len);
		assert_memory_equal(once.data, twice.data, once.len);
		bw_buf_fini(&once);
		bw_buf_fini(&twice);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc8785_example),
		cmocka_unit_test(rfc8785_sorting),
		cmocka_unit_test(utf16_order),
		cmocka_unit_test(numbers_and_strings),
		cmocka_unit_test(appendix_b_numbers),
		cmocka_unit_test(es_numbers_against_oracle),
		cmocka_unit_test(refuses_what_has_no_canonical_form),
		cmocka_unit_test(canonical_form_is_a_fixed_point),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
