/* GeoIP and impossible travel, on a tiny GeoLite2-City-shaped database
 * built by tests/siem/geo/make_mmdb.pl (Debian libmaxmind-db-writer-perl;
 * skipped when it or libmaxminddb is missing): sshd logins are enriched
 * with source.geo.* labels; Berlin then Sydney within half an hour is
 * impossible travel (an explained alert) and also fires the project's
 * "logins from two countries within an hour" Sigma correlation; New York
 * then Newark (14 km) and Berlin then Tokyo twenty hours later are not
 * alerts. Plus the great-circle distance itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "siem_harness.h"

static void distance(void **state)
{
	/* Berlin - Sydney about 16,000 km; a point to itself 0 */
	double km = siem_geo_km(52.52, 13.40, -33.87, 151.21);
	assert_true(km > 15900 && km < 16200);
	assert_true(siem_geo_km(40.71, -74.01, 40.71, -74.01) < 0.001);
	km = siem_geo_km(40.71, -74.01, 40.74, -74.17);
	assert_true(km > 10 && km < 20);
}

static void login(struct siem_ictx *x, const char *ts, const char *user, const char *ip)
{
	char line[256];
	snprintf(line, sizeof(line),
		 "<38>1 %s bastion sshd 7 - - Accepted password for %s from %s port 50000 ssh2",
		 ts, user, ip);
	assert_non_null(siem_ingest_line(x, line, strlen(line), SIEM_SRC_TCP, "192.0.2.1",
					 NULL, false));
}

static void impossible_travel(void **state)
{
	if (system("perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null") != 0)
		skip();
	char dir[64], db[128], cmd[512];
	snprintf(dir, sizeof(dir), "/tmp/bw-siem-geo-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/city.mmdb", dir);
	snprintf(cmd, sizeof(cmd), "perl %s/tests/siem/geo/make_mmdb.pl %s", h_source_dir(), db);
	assert_int_equal(system(cmd), 0);
	char yaml[512];
	snprintf(yaml, sizeof(yaml),
		 "  geoip:\n    database: %s\n    max_speed_kmh: 1000\n    window: 1d\n", db);
	h_fixed_dir = dir;
	struct harness h;
	assert_int_equal(h_start_conf(&h, yaml, false), 0);
	h_fixed_dir = NULL;
	struct bw_err err;
	struct loop *l = loop_new(64, &err);
	struct siem_ictx *x = siem_ictx_for_loop(h.svc, l);
	login(x, "2024-06-15T10:00:00Z", "alice", "198.51.100.10");  /* Berlin */
	login(x, "2024-06-15T10:30:00Z", "alice", "203.0.113.20");   /* Sydney */
	login(x, "2024-06-15T10:00:00Z", "bob", "192.0.2.10");       /* New York */
	login(x, "2024-06-15T10:10:00Z", "bob", "192.0.2.200");      /* Newark */
	login(x, "2024-06-14T12:00:00Z", "carol", "198.51.100.11");  /* Berlin */
	login(x, "2024-06-15T08:00:00Z", "carol", "2001:db8::5");    /* Tokyo, 20 h later */
	siem_ictx_flush(x);
	siem_service_flush(h.svc);
	struct siem_stats st;
	siem_service_stats(h.svc, &st);
	if (st.stored == 6 && h_count(&h, "SELECT COUNT(*) FROM siem_alert WHERE kind = 'travel'",
				      NULL, 0) == 0 &&
	    atomic_load(&h.svc->c.geo_lookups) == 0)
		skip(); /* built without libmaxminddb */
	assert_int_equal(h_count(&h, "SELECT COUNT(*) FROM siem_alert WHERE kind = 'travel'", NULL,
				 0),
			 1);
	assert_int_equal(h_count(&h,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'travel' AND"
				 " group_key = 'alice' AND level = 'high'",
				 NULL, 0),
			 1);
	/* the explanation names both places, the distance and the speed */
	int64_t n = h_count(&h,
			    "SELECT COUNT(*) FROM siem_alert WHERE kind = 'travel' AND context LIKE"
			    " '%\"country\":\"DE\"%\"country\":\"AU\"%' AND context LIKE"
			    " '%distance_km%' AND context LIKE '%speed_kmh%'",
			    NULL, 0);
	assert_int_equal(n, 1);
	/* the Sigma correlation on the GeoIP labels fired for alice only */
	assert_int_equal(h_count(&h,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'correlation' AND"
				 " rule_title LIKE 'Logins from two countries%' AND group_key = 'alice'",
				 NULL, 0),
			 1);
	assert_int_equal(h_count(&h,
				 "SELECT COUNT(*) FROM siem_alert WHERE rule_title LIKE"
				 " 'Logins from two countries%' AND group_key <> 'alice'",
				 NULL, 0),
			 0);
	/* labels are searchable */
	struct siem_query *q = calloc(1, sizeof(*q));
	assert_int_equal(siem_query_parse(q, "source.geo.country_iso_code:AU", 30, &err), 0);
	struct siem_scan_opts so = { .from_ns = 0, .to_ns = INT64_MAX / 2 };
	struct siem_search_result res;
	assert_int_equal(siem_search(h.svc, q, &so, 0, 10, &res, &err), 0);
	assert_int_equal(res.n, 1);
	assert_non_null(strstr(res.hits[0].doc, "Sydney"));
	siem_search_result_free(&res);
	free(q);
	h_stop(&h, false);
	loop_free(l);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	bw_clock_set(1718452860LL * 1000000000LL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(distance),
		cmocka_unit_test(impossible_travel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
