/* Anomaly baselines driven by event time: a user steady at ~5 events an
 * hour for two days then 100 in one hour is a spike (and 6 is not); a
 * host steady at 30 an hour that goes silent is a drop, found by the
 * timer without any new event; a user agent never seen for a user with
 * history is a first-seen alert, while new values during the learning
 * period are not. Every alert explains its score. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "siem_harness.h"

#define HOUR (3600LL * 1000000000LL)
static int64_t base;
static struct harness H;

static void ev(const char *user, const char *host, const char *ua, int64_t t)
{
	struct bw_event e;
	bw_event_init(&e, "process", "tick", BW_OUTCOME_SUCCESS);
	if (user)
		BW_EVENT_SET(&e, user, user);
	if (host)
		bw_event_add_field(&e, "host.name", host);
	if (ua)
		bw_event_add_field(&e, "user_agent.original", ua);
	e.time_ns = t;
	siem_bus_subscriber(&e, H.svc);
}

static void spikes_drops_and_first_seen(void **state)
{
	assert_int_equal(h_start_conf(&H,
				      "  queue_events: 100000\n"
				      "  anomaly:\n    bucket: 1h\n    min_buckets: 24\n"
				      "    threshold: 4\n    min_count: 10\n"
				      "    first_seen: [user_agent.original]\n",
				      false),
			 0);
	/* two days of history ending "now", half an hour into hour 48 (the
	 * pipeline's timer closes buckets against the clock) */
	base = (bw_clock_now_ns() / HOUR - 60) * HOUR;
	bw_clock_set(base + 48 * HOUR + HOUR / 2);
	for (int h = 0; h < 48; h++) {
		int n = 4 + h % 3; /* 4, 5, 6 */
		for (int k = 0; k < n; k++)
			ev("dave", NULL, "curl/8.0", base + h * HOUR + k * 1000000000LL);
		for (int k = 0; k < 30; k++)
			ev(NULL, "db-9", NULL, base + h * HOUR + k * 1000000000LL);
		for (int k = 0; k < 3; k++)
			ev("erin", NULL, h < 10 && k == 0 ? "learning-agent/1" : "firefox/120",
			   base + h * HOUR + 100000000000LL + k);
	}
	/* hour 48: dave 100 events, erin a new agent */
	for (int k = 0; k < 100; k++)
		ev("dave", NULL, "curl/8.0", base + 48 * HOUR + k * 1000000LL);
	ev("erin", NULL, "python-requests/2.31", base + 48 * HOUR + 5);
	/* hour 49: one event closes dave's hour 48 */
	ev("dave", NULL, "curl/8.0", base + 49 * HOUR);
	siem_service_flush(H.svc);
	siem_service_flush(H.svc);
	assert_int_equal(h_count(&H,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'anomaly' AND"
				 " rule_id = 'anomaly:spike:user.name' AND group_key = 'dave'",
				 NULL, 0),
			 1);
	/* the explanation carries the numbers */
	assert_int_equal(h_count(&H,
				 "SELECT COUNT(*) FROM siem_alert WHERE rule_id ="
				 " 'anomaly:spike:user.name' AND context LIKE '%\"count\":100%' AND"
				 " context LIKE '%\"z\":%' AND context LIKE '%expected%'",
				 NULL, 0),
			 1);
	/* erin: the learning-period agent was not an alert, the new one is */
	assert_int_equal(h_count(&H,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'anomaly' AND"
				 " group_key = 'erin'",
				 NULL, 0),
			 1);
	assert_int_equal(h_count(&H,
				 "SELECT COUNT(*) FROM siem_alert WHERE group_key = 'erin' AND"
				 " context LIKE '%python-requests%'",
				 NULL, 0),
			 1);
	/* no drop yet for db-9; nothing for steady hours */
	assert_int_equal(h_count(&H,
				 "SELECT COUNT(*) FROM siem_alert WHERE kind = 'anomaly' AND"
				 " group_key = 'db-9'",
				 NULL, 0),
			 0);
	/* db-9 went silent after hour 47: the timer scores the empty hours */
	bw_clock_set(base + 52 * HOUR);
	siem_pipe_advance_now(H.svc);
	siem_service_flush(H.svc);
	assert_true(h_count(&H,
			    "SELECT COUNT(*) FROM siem_alert WHERE rule_id ="
			    " 'anomaly:drop:host.name' AND group_key = 'db-9'",
			    NULL, 0) >= 1);
	struct siem_stats s;
	siem_service_stats(H.svc, &s);
	assert_true(s.anomalies >= 3);
	bw_clock_set(1718452860LL * 1000000000LL);
	h_stop(&H, true);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	bw_clock_set(1718452860LL * 1000000000LL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spikes_drops_and_first_seen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
