/* Unit tests for Sigma correlations: event_count at the edges of its
 * window, group-by separation and reset after firing; value_count
 * (password spraying); temporal and temporal_ordered with aliases; the
 * Sigma specification's chained example; "fewer than" conditions decided
 * when the window closes; group eviction; and time driven by the settable
 * clock through the parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem_int.h"

#define S 1000000000LL
#define T0 1718452800000000000LL

struct rig {
	struct siem_ruleset *rs;
	struct siem_matcher *m;
	struct siem_corr *c;
	struct bw_arena *a;
	char alerts[4096]; /* "title@count;..." */
	int nalerts;
};

static void on_alert(const struct siem_alert *al, void *arg)
{
	struct rig *r = arg;
	const struct siem_rule_info *in = siem_ruleset_info(r->rs, al->rule);
	size_t l = strlen(r->alerts);
	snprintf(r->alerts + l, sizeof(r->alerts) - l, "%s@%llu[%s];",
		 in->name ? in->name : in->title,
		 (unsigned long long)al->count, al->group);
	r->nalerts++;
}

static void rig_init(struct rig *r, const char *yaml, const char *file,
		     size_t max_groups)
{
	memset(r, 0, sizeof(*r));
	r->rs = siem_ruleset_new();
	struct bw_err err;
	int rc;
	if (file) {
		char path[4096];
		const char *src = getenv("BW_SOURCE_DIR");
		snprintf(path, sizeof(path), "%s/tests/siem/rules/%s",
			 src ? src : ".", file);
		rc = siem_ruleset_add_file(r->rs, path, &err);
	} else {
		rc = siem_ruleset_add_string(r->rs, "t.yml", yaml, strlen(yaml),
					     &err);
	}
	if (rc < 0 || siem_ruleset_compile(r->rs, &err) < 0)
		fail_msg("%s", err.msg);
	r->m = siem_matcher_new(r->rs);
	r->c = siem_corr_new(r->rs, max_groups);
	r->a = bw_arena_new(1 << 16, 1 << 26);
	assert_non_null(r->m);
	assert_non_null(r->c);
}

static void rig_fini(struct rig *r)
{
	siem_corr_free(r->c);
	siem_matcher_free(r->m);
	siem_ruleset_free(r->rs);
	bw_arena_free(r->a);
}

/* One event at time t from "field=value" pairs. */
static long feed(struct rig *r, int64_t t, ...)
{
	struct siem_event ev;
	siem_event_init(&ev, r->a);
	ev.ts_ns = t;
	va_list ap;
	va_start(ap, t);
	for (const char *s; (s = va_arg(ap, const char *));) {
		const char *eq = strchr(s, '=');
		int f = siem_field_by_name(s, (size_t)(eq - s));
		if (f < 0) {
			assert_int_equal(siem_event_label(&ev, s,
							  (size_t)(eq - s),
							  eq + 1,
							  strlen(eq + 1)),
					 0);
			continue;
		}
		siem_event_setz(&ev, (enum siem_field)f, eq + 1);
	}
	va_end(ap);
	uint32_t out[64];
	long n = siem_match(r->m, &ev, out, 64);
	assert_true(n >= 0);
	long a = siem_corr_feed(r->c, &ev, out, (size_t)n, on_alert, r);
	assert_true(a >= 0);
	return a;
}

static long ssh_fail(struct rig *r, int64_t t, const char *ip)
{
	char f[64];
	snprintf(f, sizeof(f), "source.ip=%s", ip);
	return feed(r, t, "process.name=sshd", "event.category=authentication",
		    "event.outcome=failure", "event.action=ssh_login", f,
		    "user.name=root", NULL);
}

static void event_count_window_edges(void **state)
{
	struct rig r;
	/* the window is [t - 1m, t], both ends included */
	rig_init(&r, NULL, "sshd_bruteforce.yml", 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ssh_fail(&r, T0 + i * S, "203.0.113.1"), 0);
	/* another source does not add to the count */
	assert_int_equal(ssh_fail(&r, T0 + 5 * S, "203.0.113.2"), 0);
	assert_int_equal(ssh_fail(&r, T0 + 60 * S, "203.0.113.1"), 1);
	assert_string_equal(r.alerts, "SSH brute force from one source@5"
				      "[203.0.113.1];");
	/* fired window was reset: four more are not enough */
	for (int i = 0; i < 4; i++)
		assert_int_equal(ssh_fail(&r, T0 + 61 * S + i, "203.0.113.1"),
				 0);
	assert_int_equal(ssh_fail(&r, T0 + 62 * S, "203.0.113.1"), 1);
	rig_fini(&r);

	/* one nanosecond too late: the first failure has left the window */
	rig_init(&r, NULL, "sshd_bruteforce.yml", 0);
	for (int i = 0; i < 4; i++)
		ssh_fail(&r, T0 + i * S, "203.0.113.1");
	assert_int_equal(ssh_fail(&r, T0 + 60 * S + 1, "203.0.113.1"), 0);
	/* [1s+1ns, 61s+1ns] holds 2s, 3s, 60s+1ns, 61s+1ns: four */
	assert_int_equal(ssh_fail(&r, T0 + 61 * S + 1, "203.0.113.1"), 0);
	/* [2s, 62s] holds five, the one at 2s exactly on the edge */
	assert_int_equal(ssh_fail(&r, T0 + 62 * S, "203.0.113.1"), 1);
	/* the base rule alone does not alert (generate: false) */
	long base = siem_ruleset_find(r.rs, "sshd_auth_failure");
	assert_false(siem_ruleset_info(r.rs, (size_t)base)->generate);
	rig_fini(&r);
}

static long auth_fail_user(struct rig *r, int64_t t, const char *user)
{
	char u[64];
	snprintf(u, sizeof(u), "user.name=%s", user);
	return feed(r, t, "event.category=authentication",
		    "event.outcome=failure", "source.ip=198.51.100.7", u, NULL);
}

static void value_count_spraying(void **state)
{
	struct rig r;
	rig_init(&r, NULL, "password_spraying.yml", 0);
	const char *users[] = { "alice", "bob", "carol", "dave" };
	for (int i = 0; i < 4; i++)
		assert_int_equal(auth_fail_user(&r, T0 + i * S, users[i]), 0);
	/* repeats of known users do not count */
	for (int i = 0; i < 10; i++)
		assert_int_equal(auth_fail_user(&r, T0 + 10 * S, "alice"), 0);
	/* a failure without a user is filtered by the base rule */
	assert_int_equal(feed(&r, T0 + 11 * S, "event.category=authentication",
			      "event.outcome=failure",
			      "source.ip=198.51.100.7", NULL),
			 0);
	assert_int_equal(auth_fail_user(&r, T0 + 599 * S, "eve"), 1);
	assert_string_equal(r.alerts, "Password spraying@5[198.51.100.7];");
	rig_fini(&r);

	/* spread over more than ten minutes: never five at once */
	rig_init(&r, NULL, "password_spraying.yml", 0);
	const char *u6[] = { "a", "b", "c", "d", "e", "f" };
	for (int i = 0; i < 6; i++)
		assert_int_equal(auth_fail_user(&r, T0 + i * 200 * S, u6[i]), 0);
	rig_fini(&r);
}

static void temporal_ordered_with_aliases(void **state)
{
	struct rig r;
	rig_init(&r, NULL, "firewall_block_then_auth_failure.yml", 0);
	const char *ip = "203.0.113.9";
	/* auth failure first, then block: wrong order */
	ssh_fail(&r, T0, ip);
	assert_int_equal(feed(&r, T0 + S, "event.category=network",
			      "event.type=denied", "source.ip=203.0.113.9",
			      NULL),
			 0);
	/* block (above) then failure within 5m: fires */
	assert_int_equal(ssh_fail(&r, T0 + 300 * S, ip), 1);
	assert_non_null(strstr(r.alerts, "[203.0.113.9]"));
	/* block, failure from another address: no */
	feed(&r, T0 + 400 * S, "event.category=network", "event.type=denied",
	     "source.ip=203.0.113.10", NULL);
	assert_int_equal(ssh_fail(&r, T0 + 401 * S, "203.0.113.11"), 0);
	/* block, failure 5m + 1ns later: too late */
	assert_int_equal(ssh_fail(&r, T0 + 700 * S + 1, "203.0.113.10"), 0);
	rig_fini(&r);
}

static void temporal_any_order(void **state)
{
	struct rig r;
	rig_init(&r,
		 "title: recon\ncorrelation:\n  type: temporal\n  rules: [a, b, "
		 "c]\n  group-by: [host.name]\n  timespan: 30s\n---\n"
		 "title: A\nname: a\ndetection:\n  s:\n    message: whoami\n"
		 "  condition: s\n---\n"
		 "title: B\nname: b\ndetection:\n  s:\n    message: id\n"
		 "  condition: s\n---\n"
		 "title: C\nname: c\ndetection:\n  s:\n    message: uname -a\n"
		 "  condition: s\n",
		 NULL, 0);
	assert_int_equal(feed(&r, T0, "host.name=h1", "message=uname -a", NULL),
			 0);
	assert_int_equal(feed(&r, T0 + S, "host.name=h2", "message=id", NULL),
			 0);
	assert_int_equal(feed(&r, T0 + 2 * S, "host.name=h1", "message=whoami",
			      NULL),
			 0);
	assert_int_equal(feed(&r, T0 + 30 * S, "host.name=h1", "message=id",
			      NULL),
			 1);
	assert_string_equal(r.alerts, "recon@3[h1];");
	rig_fini(&r);
}

static void spec_chain_example(void **state)
{
	struct rig r;
	rig_init(&r, NULL, "spec_failed_then_success.yml", 0);
	/* success before the failures: nothing */
	assert_int_equal(feed(&r, T0, "event.code=4624", "user.name=bob", NULL),
			 0);
	for (int i = 0; i < 9; i++)
		assert_int_equal(feed(&r, T0 + i * S, "event.code=4625",
				      "user.name=bob", NULL),
				 0);
	/* the tenth failure completes the inner event_count */
	assert_int_equal(feed(&r, T0 + 9 * S, "event.code=529",
			      "user.name=bob", NULL),
			 1);
	assert_string_equal(r.alerts, "multiple_failed_login@10[bob];");
	/* a success for someone else: no */
	assert_int_equal(feed(&r, T0 + 10 * S, "event.code=4624",
			      "user.name=eve", NULL),
			 0);
	/* the success for bob within 10m: the outer correlation fires */
	assert_int_equal(feed(&r, T0 + 300 * S, "event.code=4624",
			      "user.name=bob", NULL),
			 1);
	assert_non_null(strstr(r.alerts,
			       "Correlation - Multiple Failed Logins Followed "
			       "by Successful Login@2[bob];"));
	rig_fini(&r);
}

static void fewer_than_decided_at_close(void **state)
{
	struct rig r;
	rig_init(&r,
		 "title: quiet\ncorrelation:\n  type: event_count\n  rules: "
		 "[hb]\n  group-by: [host.name]\n  timespan: 1m\n  condition:\n"
		 "    lt: 3\n---\ntitle: heartbeat\nname: hb\ndetection:\n  s:\n"
		 "    event.action: heartbeat\n  condition: s\n",
		 NULL, 0);
	feed(&r, T0, "host.name=a", "event.action=heartbeat", NULL);
	feed(&r, T0 + S, "host.name=a", "event.action=heartbeat", NULL);
	for (int i = 0; i < 3; i++)
		feed(&r, T0 + i * S, "host.name=b", "event.action=heartbeat",
		     NULL);
	/* nothing is decided before the windows close */
	assert_int_equal(siem_corr_advance(r.c, T0 + 60 * S - 1, on_alert, &r),
			 0);
	assert_int_equal(siem_corr_advance(r.c, T0 + 60 * S, on_alert, &r), 1);
	assert_string_equal(r.alerts, "quiet@2[a];");
	/* an event after the close also decides a window */
	feed(&r, T0 + 100 * S, "host.name=c", "event.action=heartbeat", NULL);
	assert_int_equal(feed(&r, T0 + 161 * S, "host.name=c",
			      "event.action=heartbeat", NULL),
			 1);
	rig_fini(&r);
}

static void groups_are_bounded(void **state)
{
	struct rig r;
	rig_init(&r, NULL, "sshd_bruteforce.yml", 2);
	ssh_fail(&r, T0, "192.0.2.1");
	ssh_fail(&r, T0, "192.0.2.2");
	ssh_fail(&r, T0, "192.0.2.3");
	struct siem_corr_stats st;
	siem_corr_stats(r.c, &st);
	assert_int_equal(st.groups, 2);
	assert_int_equal(st.evicted, 1);
	/* idle groups are forgotten once their window has passed */
	siem_corr_advance(r.c, T0 + 120 * S, on_alert, &r);
	siem_corr_stats(r.c, &st);
	assert_int_equal(st.groups, 0);
	assert_int_equal(r.nalerts, 0);
	rig_fini(&r);
}

/* Event time from the settable clock: lines without a timestamp take the
 * receive time, which is bw_clock's. */
static void driven_by_settable_clock(void **state)
{
	struct rig r;
	rig_init(&r, NULL, "sshd_bruteforce.yml", 0);
	bw_clock_set(T0);
	const char *line = "<38>1 - bastion sshd - - - Failed password for "
			   "root from 203.0.113.77 port 4000 ssh2";
	long total = 0;
	for (int i = 0; i < 5; i++) {
		struct siem_event ev;
		struct bw_err err;
		assert_int_equal(siem_parse_line(line, strlen(line), NULL, r.a,
						 &ev, &err),
				 0);
		assert_true(ev.ts_ns == bw_clock_now_ns());
		uint32_t out[8];
		long n = siem_match(r.m, &ev, out, 8);
		total += siem_corr_feed(r.c, &ev, out, (size_t)n, on_alert, &r);
		bw_clock_advance(20 * S); /* 5 failures over 80 s: too slow */
	}
	assert_int_equal(total, 0);
	bw_clock_set(0);
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(event_count_window_edges),
		cmocka_unit_test(value_count_spraying),
		cmocka_unit_test(temporal_ordered_with_aliases),
		cmocka_unit_test(temporal_any_order),
		cmocka_unit_test(spec_chain_example),
		cmocka_unit_test(fewer_than_decided_at_close),
		cmocka_unit_test(groups_are_bounded),
		cmocka_unit_test(driven_by_settable_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
