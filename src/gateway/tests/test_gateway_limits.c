/*
 * Unit tests of the rate limiter (GCRA with a pinned clock: burst,
 * refill, Retry-After, independent keys, long keys, eviction under a full
 * table, saturation of huge buckets) and of the L7 DDoS detector (per-IP
 * block, baseline learning, route anomaly lowering the per-IP floor,
 * connection counting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "gateway/gateway_int.h"

#define S 1000000000ll
#define T0 (1700000000ll * S)

static void bucket_burst_and_refill(void **state)
{
	struct gw_rl_table *t = gw_rl_new(1024);
	assert_non_null(t);
	uint64_t iv = S / 10; /* 10 per second */
	int64_t retry = 0;
	for (int i = 0; i < 5; i++)
		assert_true(gw_rl_take(t, 1, "k", 1, T0, iv, 5, &retry));
	assert_false(gw_rl_take(t, 1, "k", 1, T0, iv, 5, &retry));
	assert_int_equal(retry, iv); /* one token in 100 ms */
	/* other keys and other limits are independent */
	assert_true(gw_rl_take(t, 1, "j", 1, T0, iv, 5, &retry));
	assert_true(gw_rl_take(t, 2, "k", 1, T0, iv, 5, &retry));
	/* 50 ms later: still nothing, retry shrinks */
	assert_false(gw_rl_take(t, 1, "k", 1, T0 + iv / 2, iv, 5, &retry));
	assert_int_equal(retry, iv / 2);
	/* after 100 ms exactly one more */
	assert_true(gw_rl_take(t, 1, "k", 1, T0 + iv, iv, 5, &retry));
	assert_false(gw_rl_take(t, 1, "k", 1, T0 + iv, iv, 5, &retry));
	/* a long idle period refills only up to the burst */
	int64_t later = T0 + 100 * S;
	for (int i = 0; i < 5; i++)
		assert_true(gw_rl_take(t, 1, "k", 1, later, iv, 5, &retry));
	assert_false(gw_rl_take(t, 1, "k", 1, later, iv, 5, &retry));
	/* a steady client at the rate is never refused */
	for (int i = 1; i <= 100; i++)
		assert_true(gw_rl_take(t, 1, "steady", 6, T0 + i * (int64_t)iv, iv, 1, &retry));
	/* the clock going backwards never grants extra tokens */
	assert_true(gw_rl_take(t, 3, "b", 1, T0, iv, 1, &retry));
	assert_false(gw_rl_take(t, 3, "b", 1, T0 - 10 * S, iv, 1, &retry));
	assert_int_equal(gw_rl_count(t), 5);
	gw_rl_free(t);
}

static void bucket_keys_and_bounds(void **state)
{
	struct gw_rl_table *t = gw_rl_new(64); /* the minimum: one probe window per shard */
	int64_t retry;
	/* keys longer than the slot are hashed, still distinct */
	char a[200], b[200];
	memset(a, 'a', sizeof(a));
	memcpy(b, a, sizeof(b));
	b[199] = 'b';
	assert_true(gw_rl_take(t, 1, a, sizeof(a), T0, S, 1, &retry));
	assert_false(gw_rl_take(t, 1, a, sizeof(a), T0, S, 1, &retry));
	assert_true(gw_rl_take(t, 1, b, sizeof(b), T0, S, 1, &retry));
	/* the empty key (per-route limits) works */
	assert_true(gw_rl_take(t, 9, "", 0, T0, S, 1, &retry));
	assert_false(gw_rl_take(t, 9, "", 0, T0, S, 1, &retry));
	/* flooding far more keys than slots never fails or grows */
	char k[16];
	for (int i = 0; i < 20000; i++) {
		int n = bw_snprintf(k, sizeof(k), "ip%d", i);
		assert_true(gw_rl_take(t, 5, k, (size_t)n, T0 + i, S, 3, &retry));
	}
	assert_true(gw_rl_count(t) <= 64 * 16);
	/* a huge interval and burst saturate instead of overflowing */
	assert_true(gw_rl_take(t, 7, "x", 1, T0, UINT64_MAX / 2, UINT32_MAX, &retry));
	assert_true(gw_rl_take(t, 7, "x", 1, T0, UINT64_MAX / 2, UINT32_MAX, &retry) ||
		    retry > 0);
	gw_rl_free(t);
}

static struct gw_ddos *dd(unsigned conns)
{
	struct gw_ddos_conf c = { .enabled = true, .window_ns = S, .ip_min = 10,
				  .route_min = 30, .factor = 3, .block_ns = 60 * S,
				  .conns_per_ip = conns };
	return gw_ddos_new(&c, 4096);
}

static void ddos_blocks_a_flooding_ip(void **state)
{
	struct gw_ddos *d = dd(0);
	struct gw_ip a, b;
	assert_int_equal(gw_ip_parse("192.0.2.1", 9, &a), 0);
	assert_int_equal(gw_ip_parse("192.0.2.2", 9, &b), 0);
	int64_t until = 0;
	bool ra, rn;
	for (int i = 0; i < 10; i++)
		assert_int_equal(gw_ddos_check(d, NULL, &a, T0 + i, &until, &ra, &rn),
				 GW_DDOS_PASS);
	assert_int_equal(gw_ddos_check(d, NULL, &a, T0 + 11, &until, &ra, &rn),
			 GW_DDOS_NEW_BLOCK);
	assert_int_equal(until, T0 + 11 + 60 * S);
	assert_int_equal(gw_ddos_check(d, NULL, &a, T0 + 12, &until, &ra, &rn),
			 GW_DDOS_BLOCKED);
	/* others are not affected */
	assert_int_equal(gw_ddos_check(d, NULL, &b, T0 + 12, &until, &ra, &rn),
			 GW_DDOS_PASS);
	/* the block ends */
	assert_int_equal(gw_ddos_check(d, NULL, &a, T0 + 61 * S, &until, &ra, &rn),
			 GW_DDOS_PASS);
	gw_ddos_free(d);
}

static void ddos_learns_a_baseline(void **state)
{
	struct gw_ddos *d = dd(0);
	struct gw_ip a;
	assert_int_equal(gw_ip_parse("2001:db8::1", 11, &a), 0);
	int64_t until;
	bool ra, rn;
	/* 9 per second for a minute: below the floor, the baseline climbs
	 * towards 9, so the threshold becomes 3 x 9 = 27 */
	int64_t t = T0;
	for (int s = 0; s < 60; s++)
		for (int i = 0; i < 9; i++)
			assert_int_equal(gw_ddos_check(d, NULL, &a, t + s * S + i, &until,
						       &ra, &rn), GW_DDOS_PASS);
	t += 60 * S;
	for (int i = 0; i < 20; i++) /* above the floor, below 3 x baseline */
		assert_int_equal(gw_ddos_check(d, NULL, &a, t + i, &until, &ra, &rn),
				 GW_DDOS_PASS);
	enum gw_ddos_verdict v = GW_DDOS_PASS;
	for (int i = 20; i < 40 && v == GW_DDOS_PASS; i++)
		v = gw_ddos_check(d, NULL, &a, t + i, &until, &ra, &rn);
	assert_int_equal(v, GW_DDOS_NEW_BLOCK);
	/* disabled detector passes everything */
	struct gw_ddos_conf off = { .enabled = false };
	struct gw_ddos *d2 = gw_ddos_new(&off, 64);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(gw_ddos_check(d2, NULL, &a, t, &until, &ra, &rn),
				 GW_DDOS_PASS);
	gw_ddos_free(d2);
	gw_ddos_free(d);
}

static void ddos_route_anomaly_lowers_the_ip_floor(void **state)
{
	struct gw_ddos *d = dd(0);
	struct gw_route r;
	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.anomaly_mu, NULL);
	int64_t until;
	bool ra = false, rn = false, saw_new = false;
	/* 31 distinct IPs, 1 request each: the route passes its floor of 30 */
	for (int i = 0; i < 31; i++) {
		struct gw_ip ip;
		char txt[32];
		int n = bw_snprintf(txt, sizeof(txt), "198.51.100.%d", i + 1);
		assert_int_equal(gw_ip_parse(txt, (size_t)n, &ip), 0);
		assert_int_equal(gw_ddos_check(d, &r, &ip, T0 + i, &until, &ra, &rn),
				 GW_DDOS_PASS);
		saw_new |= rn;
	}
	assert_true(saw_new);
	assert_true(ra);
	/* under attack the per-IP floor is ip_min / factor = 3 */
	struct gw_ip x;
	assert_int_equal(gw_ip_parse("203.0.113.5", 11, &x), 0);
	enum gw_ddos_verdict v = GW_DDOS_PASS;
	int n = 0;
	while (v == GW_DDOS_PASS && n < 20)
		v = gw_ddos_check(d, &r, &x, T0 + 100 + n++, &until, &ra, &rn);
	assert_int_equal(v, GW_DDOS_NEW_BLOCK);
	assert_int_equal(n, 4);
	pthread_mutex_destroy(&r.anomaly_mu);
	gw_ddos_free(d);
}

static void ddos_counts_connections(void **state)
{
	struct gw_ddos *d = dd(2);
	struct gw_ip a;
	assert_int_equal(gw_ip_parse("192.0.2.9", 9, &a), 0);
	assert_true(gw_ddos_conn_admit(d, &a));
	assert_true(gw_ddos_conn_admit(d, &a));
	assert_false(gw_ddos_conn_admit(d, &a));
	gw_ddos_conn_release(d, &a);
	assert_true(gw_ddos_conn_admit(d, &a));
	gw_ddos_conn_release(d, &a);
	gw_ddos_conn_release(d, &a);
	gw_ddos_conn_release(d, &a); /* one too many: harmless */
	assert_true(gw_ddos_conn_admit(d, &a));
	gw_ddos_free(d);
	struct gw_ddos *off = dd(0);
	for (int i = 0; i < 100; i++)
		assert_true(gw_ddos_conn_admit(off, &a));
	gw_ddos_free(off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_burst_and_refill),
		cmocka_unit_test(bucket_keys_and_bounds),
		cmocka_unit_test(ddos_blocks_a_flooding_ip),
		cmocka_unit_test(ddos_learns_a_baseline),
		cmocka_unit_test(ddos_route_anomaly_lowers_the_ip_floor),
		cmocka_unit_test(ddos_counts_connections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
