/* Unit tests for the JSON writer: structure and commas, misuse that must
 * set `failed`, the buffer ceiling, string escaping and U+FFFD
 * replacement, numbers, and the parse -> write round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "json/json_int.h"

static struct bw_buf out;
static struct json_writer w;

static int setup(void **state)
{
	bw_buf_init(&out, 1 << 20);
	json_writer_init(&w, &out);
	return 0;
}

static int teardown(void **state)
{
	bw_buf_fini(&out);
	return 0;
}

static void expect(const char *want)
{
	assert_int_equal(json_writer_finish(&w), 0);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
}

static void writes_nested_structures(void **state)
{
	json_write_object_begin(&w);
	json_write_kv_string(&w, "name", "alice");
	json_write_kv_int(&w, "n", -42);
	json_write_kv_bool(&w, "ok", true);
	json_write_key(&w, "list");
	json_write_array_begin(&w);
	json_write_int(&w, 1);
	json_write_uint(&w, UINT64_MAX);
	json_write_null(&w);
	json_write_bool(&w, false);
	json_write_array_begin(&w);
	json_write_array_end(&w);
	json_write_object_begin(&w);
	json_write_object_end(&w);
	json_write_double(&w, 0.5);
	json_write_array_end(&w);
	json_write_key(&w, "min");
	json_write_int(&w, INT64_MIN);
	json_write_object_end(&w);
	expect("{\"name\":\"alice\",\"n\":-42,\"ok\":true,\"list\":[1,"
	       "18446744073709551615,null,false,[],{},0.5],"
	       "\"min\":-9223372036854775808}");
}

static void writes_scalars_at_top_level(void **state)
{
	json_write_string(&w, "x");
	expect("\"x\"");
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	json_write_double(&w, 1e21);
	expect("1e+21");
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	json_write_double(&w, NAN); /* no JSON form: null, as JSON.stringify */
	expect("null");
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	json_write_double(&w, -INFINITY);
	expect("null");
}

static void fails(void)
{
	assert_true(w.failed);
	assert_int_equal(json_writer_finish(&w), -1);
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
}

static void refuses_misuse(void **state)
{
	/* nothing written */
	assert_int_equal(json_writer_finish(&w), -1);
	/* unclosed */
	json_write_array_begin(&w);
	assert_int_equal(json_writer_finish(&w), -1);
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	/* key outside an object */
	json_write_array_begin(&w);
	json_write_key(&w, "k");
	fails();
	json_write_key(&w, "k");
	fails();
	/* value where a key is due */
	json_write_object_begin(&w);
	json_write_int(&w, 1);
	fails();
	/* two keys in a row */
	json_write_object_begin(&w);
	json_write_key(&w, "a");
	json_write_key(&w, "b");
	fails();
	/* closing an object after a dangling key */
	json_write_object_begin(&w);
	json_write_key(&w, "a");
	json_write_object_end(&w);
	fails();
	/* mismatched closers */
	json_write_object_begin(&w);
	json_write_array_end(&w);
	fails();
	json_write_array_begin(&w);
	json_write_object_end(&w);
	fails();
	json_write_array_end(&w);
	fails();
	/* a second top-level value */
	json_write_int(&w, 1);
	json_write_int(&w, 2);
	fails();
	/* once failed, later calls change nothing */
	json_write_array_end(&w);
	size_t len = out.len;
	json_write_string(&w, "more");
	assert_int_equal(out.len, len);
	fails();
}

static void limits_depth(void **state)
{
	for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++)
		json_write_array_begin(&w);
	assert_false(w.failed);
	for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++)
		json_write_array_end(&w);
	assert_int_equal(json_writer_finish(&w), 0);
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	for (int i = 0; i <= JSON_WRITER_MAX_DEPTH; i++)
		json_write_array_begin(&w);
	fails();
	/* object/array kinds are remembered at every level */
	for (int i = 0; i < JSON_WRITER_MAX_DEPTH; i++) {
		if (i % 2) {
			json_write_array_begin(&w);
		} else {
			json_write_object_begin(&w);
			json_write_key(&w, "k");
		}
	}
	for (int i = JSON_WRITER_MAX_DEPTH - 1; i >= 0; i--) {
		if (i % 2)
			json_write_array_end(&w);
		else
			json_write_object_end(&w);
	}
	assert_int_equal(json_writer_finish(&w), 0);
}

static void respects_the_buffer_ceiling(void **state)
{
	struct bw_buf small;
	bw_buf_init(&small, 10);
	json_writer_init(&w, &small);
	json_write_array_begin(&w);
	json_write_string(&w, "abcdef");
	assert_false(w.failed);
	json_write_string(&w, "x"); /* ,"x" would make 13 bytes */
	assert_true(w.failed);
	json_write_array_end(&w);
	assert_int_equal(json_writer_finish(&w), -1);
	assert_true(small.len <= 10);
	bw_buf_fini(&small);
	/* exactly at the ceiling is fine */
	bw_buf_init(&small, 7);
	json_writer_init(&w, &small);
	json_write_array_begin(&w);
	json_write_string(&w, "abc");
	json_write_array_end(&w);
	assert_int_equal(json_writer_finish(&w), 0);
	assert_string_equal(small.data, "[\"abc\"]");
	bw_buf_fini(&small);
	json_writer_init(&w, &out);
}

static void escapes_strings(void **state)
{
	const char in[] = "q\" b\\ s/ \b\f\n\r\t \x01\x1f\x7f \0end";
	json_write_stringn(&w, in, sizeof(in) - 1);
	expect("\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001f\x7f \\u0000"
	       "end\"");
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	/* valid UTF-8 passes through unescaped, incl. U+2028 and U+FFFF */
	json_write_string(&w, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
			      "\xe2\x80\xa8\xef\xbf\xbf");
	expect("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8"
	       "\xef\xbf\xbf\"");
	/* keys are escaped the same way */
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "a\"b\n", "");
	json_write_object_end(&w);
	expect("{\"a\\\"b\\n\":\"\"}");
}

static void replaces_invalid_utf8(void **state)
{
	struct {
		const char *in, *want;
	} cases[] = {
		{ "a\xff" "b", "\"a\xef\xbf\xbd" "b\"" },
		{ "\x80", "\"\xef\xbf\xbd\"" },
		{ "\xc3", "\"\xef\xbf\xbd\"" }, /* truncated at the end */
		{ "\xc3(", "\"\xef\xbf\xbd(\"" },
		{ "\xed\xa0\x80", /* encoded surrogate: 3 bad bytes */
		  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" }, /* overlong */
		{ "\xf4\x90\x80\x80", /* > U+10FFFF */
		  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "ok\xc3\xa9\xe2\x82", "\"ok\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\"" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		bw_buf_reset(&out);
		json_writer_init(&w, &out);
		json_write_string(&w, cases[i].in);
		expect(cases[i].want);
	}
}

static void writes_numbers(void **state)
{
	char b[JSON_NUM_BUF];
	assert_int_equal(json_i64_format(0, b), 1);
	assert_string_equal(b, "0");
	json_i64_format(INT64_MIN, b);
	assert_string_equal(b, "-9223372036854775808");
	json_i64_format(INT64_MAX, b);
	assert_string_equal(b, "9223372036854775807");
	json_u64_format(UINT64_MAX, b);
	assert_string_equal(b, "18446744073709551615");
	json_write_array_begin(&w);
	json_write_double(&w, 3.0);
	json_write_double(&w, -0.0);
	json_write_double(&w, 0.1);
	json_write_double(&w, 1e-7);
	json_write_double(&w, 123456789.125);
	json_write_array_end(&w);
	expect("[3,0,0.1,1e-7,123456789.125]");
}

static void round_trips_parsed_documents(void **state)
{
	struct bw_arena *a = bw_arena_new(4096, 0);
	assert_non_null(a);
	struct {
		const char *in, *want;
	} cases[] = {
		{ "null", "null" },
		{ " [ 1 , 2.50 , -0 , 1E+2 ] ", "[1,2.50,-0,1E+2]" },
		{ "{ \"b\" : 1 , \"a\" : { \"x\" : [ ] } }",
		  "{\"b\":1,\"a\":{\"x\":[]}}" },
		{ "\"\\u0041\\/\\u00e9\\ud83d\\ude00\\u001F\"",
		  "\"A/\xc3\xa9\xf0\x9f\x98\x80\\u001f\"" },
		{ "{\"k\\u0000\":\"\\\"\\\\\"}", "{\"k\\u0000\":\"\\\"\\\\\"}" },
		{ "[true,false,null,{},[]]", "[true,false,null,{},[]]" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		struct bw_err err;
		const struct json_value *v = json_parse(
			a, cases[i].in, strlen(cases[i].in), NULL, &err);
		assert_non_null(v);
		bw_buf_reset(&out);
		json_writer_init(&w, &out);
		json_write_value(&w, v);
		expect(cases[i].want);
		/* and the output parses to a tree that writes the same */
		const struct json_value *v2 =
			json_parse(a, out.data, out.len, NULL, &err);
		assert_non_null(v2);
		struct bw_buf again;
		bw_buf_init(&again, 1 << 16);
		struct json_writer w2;
		json_writer_init(&w2, &again);
		json_write_value(&w2, v2);
		assert_int_equal(json_writer_finish(&w2), 0);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.data, out.data, out.len);
		bw_buf_fini(&again);
	}
	/* a value inside an object the caller is writing */
	const struct json_value *v =
		json_parse(a, "[1,{\"x\":2}]", 11, NULL, NULL);
	assert_non_null(v);
	bw_buf_reset(&out);
	json_writer_init(&w, &out);
	json_write_object_begin(&w);
	json_write_key(&w, "data");
	json_write_value(&w, v);
	json_write_kv_int(&w, "n", 2);
	json_write_object_end(&w);
	expect("{\"data\":[1,{\"x\":2}],\"n\":2}");
	bw_arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writes_nested_structures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(writes_scalars_at_top_level,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_misuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(limits_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(respects_the_buffer_ceiling,
						setup, teardown),
		cmocka_unit_test_setup_teardown(escapes_strings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(replaces_invalid_utf8, setup,
						teardown),
		cmocka_unit_test_setup_teardown(writes_numbers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(round_trips_parsed_documents,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
