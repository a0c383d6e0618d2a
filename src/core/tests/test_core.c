/* Unit tests for core: buffers, arenas, strings, clock, constant-time
 * comparison and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"

static void buf_respects_ceiling(void **state)
{
	struct bw_buf b;
	bw_buf_init(&b, 10);
	assert_int_equal(bw_buf_append(&b, "hello", 5), 0);
	assert_int_equal(bw_buf_append(&b, "world", 5), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(bw_buf_append(&b, "!", 1), -1);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	bw_buf_consume(&b, 5);
	assert_string_equal(b.data, "world");
	assert_int_equal(bw_buf_printf(&b, "%d", 12345), 0);
	assert_int_equal(bw_buf_printf(&b, "%d", 1), -1);
	assert_string_equal(b.data, "world12345");
	bw_buf_fini(&b);
}

static void buf_rejects_size_overflow(void **state)
{
	struct bw_buf b;
	bw_buf_init(&b, SIZE_MAX);
	assert_int_equal(bw_buf_append(&b, "x", 1), 0);
	assert_int_equal(bw_buf_reserve(&b, SIZE_MAX), -1);
	bw_buf_fini(&b);
}

static int cleanup_order[4];
static int cleanup_n;
static void record_cleanup(void *arg)
{
	cleanup_order[cleanup_n++] = (int)(intptr_t)arg;
}

static void arena_allocates_and_cleans_up_lifo(void **state)
{
	struct bw_arena *a = bw_arena_new(256, 4096);
	assert_non_null(a);
	char *s = bw_arena_strdup(a, "abc");
	assert_string_equal(s, "abc");
	void *big = bw_arena_alloc(a, 1000);
	assert_non_null(big);
	assert_int_equal((uintptr_t)big % 16, 0);
	assert_null(bw_arena_alloc(a, 5000)); /* past the ceiling */
	char *p = bw_arena_printf(a, "%s-%d", "x", 42);
	assert_string_equal(p, "x-42");
	cleanup_n = 0;
	assert_int_equal(bw_arena_cleanup(a, record_cleanup, (void *)1), 0);
	assert_int_equal(bw_arena_cleanup(a, record_cleanup, (void *)2), 0);
	bw_arena_free(a);
	assert_int_equal(cleanup_n, 2);
	assert_int_equal(cleanup_order[0], 2);
	assert_int_equal(cleanup_order[1], 1);
	bw_arena_free(NULL);
}

static void str_parses_u64_strictly(void **state)
{
	uint64_t v;
	assert_int_equal(bw_str_to_u64(BW_STR("12345"), &v), 0);
	assert_int_equal(v, 12345);
	assert_int_equal(bw_str_to_u64(BW_STR("18446744073709551615"), &v), 0);
	assert_int_equal(bw_str_to_u64(BW_STR("18446744073709551616"), &v), -1);
	assert_int_equal(bw_str_to_u64(BW_STR(""), &v), -1);
	assert_int_equal(bw_str_to_u64(BW_STR("+1"), &v), -1);
	assert_int_equal(bw_str_to_u64(BW_STR("1 "), &v), -1);
	assert_true(bw_str_caseeq_lit(BW_STR("Content-Length"), "content-length"));
	assert_false(bw_str_eq_lit(BW_STR("abc"), "abcd"));
}

static void hex_round_trips(void **state)
{
	unsigned char in[3] = { 0x00, 0xab, 0xff }, out[3];
	char hex[7];
	size_t n;
	bw_hex_encode(in, 3, hex);
	assert_string_equal(hex, "00abff");
	assert_int_equal(bw_hex_decode(hex, 6, out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(in, out, 3);
	assert_int_equal(bw_hex_decode("0g", 2, out, sizeof(out), &n), -1);
	assert_int_equal(bw_hex_decode("abc", 3, out, sizeof(out), &n), -1);
}

static void clock_can_be_pinned_and_advanced(void **state)
{
	bw_clock_set(1700000000LL * 1000000000LL);
	assert_int_equal(bw_clock_now_s(), 1700000000LL);
	bw_clock_advance(90LL * 1000000000LL);
	assert_int_equal(bw_clock_now_s(), 1700000090LL);
	char ts[32];
	bw_time_format(bw_clock_now_ns() + 5000000, ts);
	assert_string_equal(ts, "2023-11-14T22:14:50.005Z");
	bw_clock_set(0);
	assert_true(bw_clock_now_s() > 1700000000LL);
}

static void ct_equal_compares_length_and_bytes(void **state)
{
	assert_true(bw_ct_equal("abc", 3, "abc", 3));
	assert_false(bw_ct_equal("abc", 3, "abd", 3));
	assert_false(bw_ct_equal("abc", 3, "ab", 2));
	assert_true(bw_ct_equal("", 0, "", 0));
}

static void err_set_truncates_safely(void **state)
{
	struct bw_err err;
	char longmsg[600];
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	assert_int_equal(bw_err_set(&err, 400, "a-very-long-module-name", "r",
				    "%s", longmsg), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_int_equal(strlen(err.module), sizeof(err.module) - 1);
	assert_int_equal(bw_err_set(NULL, 1, "m", "r", "x"), -1);
}

static void snprintf_reports_truncation(void **state)
{
	char small[4];
	assert_int_equal(bw_snprintf(small, sizeof(small), "abc"), 3);
	assert_int_equal(bw_snprintf(small, sizeof(small), "abcd"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_respects_ceiling),
		cmocka_unit_test(buf_rejects_size_overflow),
		cmocka_unit_test(arena_allocates_and_cleans_up_lifo),
		cmocka_unit_test(str_parses_u64_strictly),
		cmocka_unit_test(hex_round_trips),
		cmocka_unit_test(clock_can_be_pinned_and_advanced),
		cmocka_unit_test(ct_equal_compares_length_and_bytes),
		cmocka_unit_test(err_set_truncates_safely),
		cmocka_unit_test(snprintf_reports_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
