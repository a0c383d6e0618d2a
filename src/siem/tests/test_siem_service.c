/* End-to-end tests of the SIEM service in-process (siem_harness.h): a
 * real loop with syslog TCP, RELP and UDP listeners, the pipeline thread
 * and the store. Syslog over TCP (newline and octet-counted) and UDP
 * stored and parsed; RELP acknowledged only once stored, closing in
 * order, and hostile RELP closing the connection; back-pressure (a
 * stalled store pauses senders, nothing is lost, everything is counted);
 * the bus subscriber; detections and correlations becoming alerts with
 * deduplication and suppression; retention per category and tenant;
 * reload keeping the old rules on error; the config binder's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <semaphore.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "siem_harness.h"

static struct harness H;

static int setup(void **state)
{
	struct bw_err err;
	if (net_fetch_global_init(&err) < 0)
		return -1;
	/* 2024-06-15T12:01:00Z: the samples' day is "today" */
	bw_clock_set(1718452860LL * 1000000000LL);
	return 0;
}

static const char *sshd_fail(char *buf, size_t cap, int i, const char *ip)
{
	snprintf(buf, cap,
		 "<38>1 2024-06-15T12:00:%02dZ web-01 sshd 4242 - - Failed password for"
		 " root from %s port %d ssh2",
		 i % 60, ip, 40000 + i);
	return buf;
}

/* Stored events matching a search query (whatever the storage layout). */
static int64_t count_q(const char *text)
{
	struct siem_query q = { 0 };
	struct bw_err err;
	assert_int_equal(siem_query_parse(&q, text, strlen(text), &err), 0);
	struct siem_scan_opts o = { .from_ns = 0, .to_ns = INT64_MAX / 2 };
	struct siem_search_result res;
	assert_int_equal(siem_search(H.svc, &q, &o, 0, 1000, &res, &err), 0);
	int64_t n = (int64_t)res.n;
	siem_search_result_free(&res);
	return n;
}

static void syslog_tcp_and_udp_are_stored(void **state)
{
	assert_int_equal(h_start_conf(&H, "", true), 0);
	int fd = h_connect(H.tcp_port, SOCK_STREAM);
	assert_true(fd >= 0);
	char line[512], all[65536];
	size_t n = 0;
	for (int i = 0; i < 100; i++) {
		sshd_fail(line, sizeof(line), i, "203.0.113.7");
		if (i % 2) {
			/* octet counting and newline framing on one connection */
			n += (size_t)snprintf(all + n, sizeof(all) - n, "%zu %s",
					      strlen(line), line);
		} else {
			n += (size_t)snprintf(all + n, sizeof(all) - n, "%s\n", line);
		}
	}
	assert_int_equal(h_send_all(fd, all, n), 0);
	close(fd);
	int u = h_connect(H.udp_port, SOCK_DGRAM);
	for (int i = 0; i < 20; i++) {
		int l = snprintf(line, sizeof(line),
				 "<86>Jun 15 12:00:%02d db-03 sudo:    alice : TTY=pts/0 ;"
				 " PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
				 i);
		assert_int_equal(send(u, line, (size_t)l, 0), l);
	}
	close(u);
	for (int i = 0; i < 200 && h_events(&H) < 120; i++) {
		usleep(20000);
		siem_service_flush(H.svc);
	}
	assert_int_equal(h_events(&H), 120);
	assert_int_equal(count_q("user.name:root source.ip:203.0.113.7 event.outcome:failure"
				 " event.category:authentication"),
			 100);
	assert_int_equal(count_q("user.name:alice host.name:db-03"), 20);
	/* one stored block row per stored batch, not a row per event */
	char name[32], sql[128];
	siem_seg_name(siem_day_of(1718452800LL * 1000000000LL), name);
	snprintf(sql, sizeof(sql), "SELECT COALESCE(SUM(n), 0) FROM %s", name);
	assert_int_equal(h_count(&H, sql, NULL, 0), 120);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", name);
	assert_true(h_count(&H, sql, NULL, 0) < 120);
	/* 100 failures from one IP within a minute: the brute-force
	 * correlation fired (gte 5 resets per alert) and dedup folded the
	 * later ones into one alert with a count */
	int64_t bf = h_count(&H,
			     "SELECT COUNT(*) FROM siem_alert WHERE rule_title ="
			     " 'SSH brute force from one source' AND group_key = '203.0.113.7'",
			     NULL, 0);
	assert_int_equal(bf, 1);
	assert_int_equal(h_count(&H,
				 "SELECT count FROM siem_alert WHERE rule_title ="
				 " 'SSH brute force from one source'",
				 NULL, 0),
			 20);
	struct siem_stats st;
	siem_service_stats(H.svc, &st);
	assert_int_equal(st.received, 120);
	assert_int_equal(st.stored, 120);
	assert_int_equal(st.refused_udp, 0);
	h_stop(&H, true);
}

static void relp_acks_only_stored_events(void **state)
{
	assert_int_equal(h_start_conf(&H, "", true), 0);
	struct relp_client c;
	assert_int_equal(relp_open(&c, H.relp_port), 0);
	char line[512];
	for (uint32_t t = 2; t < 202; t++) {
		snprintf(line, sizeof(line),
			 "<13>Jun 15 12:00:00 host1 app[1]: relp message %u", t);
		assert_int_equal(relp_send_frame(&c, t, "syslog", line, strlen(line)), 0);
	}
	/* every response comes in order, and when it arrives the event
	 * is already in the store */
	for (uint32_t t = 2; t < 202; t++) {
		struct siem_relp_frame f;
		char d[256];
		assert_int_equal(relp_read_rsp(&c, &f, d, sizeof(d), 5000), 1);
		assert_int_equal(f.txnr, t);
		assert_string_equal(f.cmd, "rsp");
		assert_string_equal(d, "200 OK");
		assert_true(h_events(&H) >= (int64_t)(t - 1));
	}
	/* close is answered after everything else, then the server closes */
	assert_int_equal(relp_send_frame(&c, 202, "close", NULL, 0), 0);
	struct siem_relp_frame f;
	char d[64];
	assert_int_equal(relp_read_rsp(&c, &f, d, sizeof(d), 5000), 1);
	assert_int_equal(f.txnr, 202);
	assert_int_equal(f.data.len, 0);
	assert_int_equal(relp_read_rsp(&c, &f, d, sizeof(d), 5000), -1);
	close(c.fd);
	assert_int_equal(h_events(&H), 200);
	struct siem_stats st;
	siem_service_stats(H.svc, &st);
	assert_int_equal(st.relp_acks, 200);
	h_stop(&H, true);
}

static void relp_hostile_input_closes(void **state)
{
	assert_int_equal(h_start_conf(&H, "  relp_max_data: 1k\n", true), 0);
	static const char *bad[] = {
		"1 syslog 5 hello\n",		/* syslog before open */
		"1 open 14 relp_version=0\n",	/* no syslog command offered */
		"x open 0\n",			/* garbage */
		"1 syslog 999999 ",		/* over relp_max_data */
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct relp_client c = { 0 };
		c.fd = h_connect(H.relp_port, SOCK_STREAM);
		assert_true(c.fd >= 0);
		assert_int_equal(h_send_all(c.fd, bad[i], strlen(bad[i])), 0);
		struct siem_relp_frame f;
		char d[128];
		int r;
		/* an error response may come first; then the connection ends */
		while ((r = relp_read_rsp(&c, &f, d, sizeof(d), 5000)) == 1)
			assert_true(strncmp(d, "500", 3) == 0);
		assert_int_equal(r, -1);
		close(c.fd);
	}
	/* an unknown command gets a 500 and the session goes on */
	struct relp_client c;
	assert_int_equal(relp_open(&c, H.relp_port), 0);
	assert_int_equal(relp_send_frame(&c, 2, "starttls", NULL, 0), 0);
	assert_int_equal(relp_send_frame(&c, 3, "syslog", "<13>x y: z", 10), 0);
	struct siem_relp_frame f;
	char d[128];
	assert_int_equal(relp_read_rsp(&c, &f, d, sizeof(d), 5000), 1);
	assert_int_equal(f.txnr, 2);
	assert_string_equal(d, "500 unknown command");
	assert_int_equal(relp_read_rsp(&c, &f, d, sizeof(d), 5000), 1);
	assert_int_equal(f.txnr, 3);
	assert_string_equal(d, "200 OK");
	close(c.fd);
	struct siem_stats st;
	siem_service_stats(H.svc, &st);
	assert_true(st.framing_errors >= 2);
	h_stop(&H, true);
}

/* A store job that holds the writer until the test releases it. */
static sem_t stall_go, stall_in;

static int stall_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	sem_post(&stall_in);
	sem_wait(&stall_go);
	return 0;
}

static void *stall_thread(void *arg)
{
	struct bw_err err;
	int rc = store_write(arg, stall_job, NULL, &err);
	(void)rc;
	return NULL;
}

static void backpressure_pauses_and_loses_nothing(void **state)
{
	assert_int_equal(h_start_conf(&H, "  queue_events: 64\n  batch_events: 16\n"
					  "  store_inflight: 1\n",
				      true),
			 0);
	sem_init(&stall_go, 0, 0);
	sem_init(&stall_in, 0, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stall_thread, H.svc->st), 0);
	sem_wait(&stall_in); /* the writer is stuck now */
	/* RELP: far more than the queue holds */
	struct relp_client c;
	assert_int_equal(relp_open(&c, H.relp_port), 0);
	char line[256];
	for (uint32_t t = 2; t < 502; t++) {
		snprintf(line, sizeof(line), "<13>Jun 15 12:00:00 h app: m %u", t);
		assert_int_equal(relp_send_frame(&c, t, "syslog", line, strlen(line)), 0);
	}
	/* plain TCP, and UDP that has no way to wait */
	int fd = h_connect(H.tcp_port, SOCK_STREAM);
	for (int i = 0; i < 300; i++) {
		int l = snprintf(line, sizeof(line), "<13>Jun 15 12:00:00 h app: tcp %d\n", i);
		assert_int_equal(h_send_all(fd, line, (size_t)l), 0);
	}
	usleep(200000);
	int u = h_connect(H.udp_port, SOCK_DGRAM);
	for (int i = 0; i < 50; i++) {
		int l = snprintf(line, sizeof(line), "<13>Jun 15 12:00:00 h app: udp %d", i);
		assert_int_equal(send(u, line, (size_t)l, 0), l);
	}
	usleep(200000);
	struct siem_stats st;
	siem_service_stats(H.svc, &st);
	/* nothing acknowledged while the store is stuck */
	assert_int_equal(st.relp_acks, 0);
	assert_true(st.paused >= 1);
	/* the queue bound holds: at most one batch and one 2 KiB slice of
	 * lines per source past it */
	if (st.queued > 64 + 16 + 16 + 80)
		fail_msg("queued %llu", (unsigned long long)st.queued);
	assert_true(st.refused_udp >= 1);
	sem_post(&stall_go);
	pthread_join(th, NULL);
	for (uint32_t t = 2; t < 502; t++) {
		struct siem_relp_frame f;
		char d[64];
		assert_int_equal(relp_read_rsp(&c, &f, d, sizeof(d), 10000), 1);
		assert_int_equal(f.txnr, t);
		assert_string_equal(d, "200 OK");
	}
	close(c.fd);
	close(fd);
	close(u);
	for (int i = 0; i < 300 && h_events(&H) < 800 + 50 - (int64_t)st.refused_udp; i++) {
		usleep(20000);
		siem_service_flush(H.svc);
	}
	siem_service_stats(H.svc, &st);
	/* every TCP and RELP event stored; every UDP datagram either stored
	 * or counted as refused */
	assert_int_equal(h_events(&H) + (int64_t)st.refused_udp, 500 + 300 + 50);
	assert_int_equal(st.stored + st.refused_udp, 850);
	h_stop(&H, true);
}

static void bus_events_are_stored_and_matched(void **state)
{
	assert_int_equal(h_start_conf(&H, "", false), 0);
	for (int i = 0; i < 3; i++) {
		struct bw_event ev;
		bw_event_init(&ev, "configuration", "config-reload", BW_OUTCOME_SUCCESS);
		BW_EVENT_SET(&ev, user, "admin");
		BW_EVENT_SET(&ev, tenant, "platform");
		BW_EVENT_SET(&ev, source_ip, "192.0.2.10");
		ev.time_ns = 1718452800LL * 1000000000LL + i;
		siem_bus_subscriber(&ev, H.svc);
	}
	siem_service_flush(H.svc);
	for (int i = 0; i < 100 && h_events(&H) < 3; i++) {
		usleep(20000);
		siem_service_flush(H.svc);
	}
	assert_int_equal(h_events(&H), 3);
	assert_true(h_count(&H,
			    "SELECT COUNT(*) FROM siem_alert WHERE kind = 'sigma' AND"
			    " rule_title LIKE '%onfiguration%'",
			    NULL, 0) >= 1);
	h_stop(&H, true);
}

static void bus_event(const char *cat, const char *tenant, int64_t ts, const char *user)
{
	struct bw_event ev;
	bw_event_init(&ev, cat, "test-action", BW_OUTCOME_FAILURE);
	BW_EVENT_SET(&ev, tenant, tenant);
	BW_EVENT_SET(&ev, user, user);
	ev.time_ns = ts;
	siem_bus_subscriber(&ev, H.svc);
}

static int64_t count_user(const char *user)
{
	char t[128];
	snprintf(t, sizeof(t), "user.name:%s", user);
	return count_q(t);
}

static void retention_by_category_and_tenant(void **state)
{
	assert_int_equal(h_start_conf(&H,
				      "  retention:\n    default: 90d\n    policies:\n"
				      "      - category: authentication\n        keep: 365d\n"
				      "      - tenant: shortlived\n        keep: 7d\n",
				      false),
			 0);
	const int64_t day = 86400LL * 1000000000LL;
	int64_t now = bw_clock_now_ns();
	for (int i = 0; i < 3; i++) {
		bus_event("authentication", "acme", now - 100 * day + i, "authold");
		bus_event("web", "acme", now - 100 * day + i, "webold");
		bus_event("web", "acme", now - 10 * day + i, "webrecent");
		bus_event("web", "shortlived", now - 10 * day + i, "shortrecent");
		bus_event("authentication", "acme", now - 400 * day + i, "authancient");
	}
	siem_service_flush(H.svc);
	assert_int_equal(h_events(&H), 15);
	struct bw_err err;
	int64_t deleted = siem_retention_run(H.svc, &err);
	/* web older than 90 days, shortlived older than 7 days, and
	 * authentication older than 365 days go; the rest stays */
	assert_int_equal(deleted, 9);
	assert_int_equal(count_user("authold"), 3);
	assert_int_equal(count_user("webrecent"), 3);
	assert_int_equal(count_user("webold"), 0);
	assert_int_equal(count_user("shortrecent"), 0);
	assert_int_equal(count_user("authancient"), 0);
	assert_int_equal(h_count(&H, "SELECT COALESCE(SUM(deleted), 0) FROM siem_retention_log",
				 NULL, 0),
			 9);
	/* running again deletes nothing more */
	assert_int_equal(siem_retention_run(H.svc, &err), 0);
	/* a year later every partition of that time is dropped whole */
	bw_clock_advance(400 * day);
	assert_int_equal(siem_retention_run(H.svc, &err), 6);
	assert_int_equal(h_count(&H, "SELECT COUNT(*) FROM siem_partition", NULL, 0), 0);
	assert_true(h_count(&H, "SELECT COUNT(*) FROM siem_retention_log WHERE dropped = 1",
			    NULL, 0) >= 1);
	bw_clock_set(1718452860LL * 1000000000LL);
	h_stop(&H, true);
}

static int each_count(void *arg, int64_t id, int64_t ts, const uint8_t *doc, size_t len,
		      struct bw_err *err)
{
	(*(int64_t *)arg)++;
	return 0;
}

/* A token in a v1 bloom (FNV-1a of the lowercased token, k = 3), written
 * here independently of siem_store.c: what blocks stored before the v2
 * hash carry. */
static void v1_add(uint8_t *bloom, const char *tok)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *c = tok; *c; c++)
		h = (h ^ (uint8_t)siem_lower(*c)) * 1099511628211ULL;
	uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
	for (uint32_t k = 0; k < 3; k++) {
		uint32_t bit = (h1 + k * h2) % (SIEM_BLOOM_BYTES * 8u);
		bloom[bit >> 3] |= (uint8_t)(1u << (bit & 7));
	}
}

/* Blooms of both versions answer with their own hash; a blob of another
 * size or version byte is no bloom (prunes nothing). */
static void bloom_versions(void **state)
{
	static uint8_t v1[SIEM_BLOOM_BYTES], v2[SIEM_BLOOM_BYTES + 1];
	memset(v1, 0, sizeof(v1));
	memset(v2, 0, sizeof(v2));
	v2[SIEM_BLOOM_BYTES] = SIEM_BLOOM_V2;
	v1_add(v1, "zanzibar");
	siem_bloom_add_token(v2, "zanzibar", 8);
	assert_int_equal(siem_bloom_version(v1, sizeof(v1)), SIEM_BLOOM_V1);
	assert_int_equal(siem_bloom_version(v2, sizeof(v2)), SIEM_BLOOM_V2);
	assert_int_equal(siem_bloom_version(v2, 100), 0);
	v2[SIEM_BLOOM_BYTES] = 7;
	assert_int_equal(siem_bloom_version(v2, sizeof(v2)), 0);
	v2[SIEM_BLOOM_BYTES] = SIEM_BLOOM_V2;
	assert_true(siem_bloom_has_token(v1, SIEM_BLOOM_V1, "ZanZibar", 8));
	assert_true(siem_bloom_has_token(v2, SIEM_BLOOM_V2, "ZanZibar", 8));
	assert_true(siem_bloom_has_token(v2, 0, "anything", 8));
	/* six bits set of 32,768: other words are (almost all) refused, by
	 * either hash */
	int fp1 = 0, fp2 = 0;
	for (int i = 0; i < 1000; i++) {
		char w[16];
		int n = bw_snprintf(w, sizeof(w), "word%d", i);
		fp1 += siem_bloom_has_token(v1, SIEM_BLOOM_V1, w, (size_t)n);
		fp2 += siem_bloom_has_token(v2, SIEM_BLOOM_V2, w, (size_t)n);
	}
	assert_true(fp1 <= 2 && fp2 <= 2);
	/* a v2 bloom of a text: each of 2,000 distinct words is found, and
	 * the bits are spread (about 1 - e^(-6000/32768) = 17 % set) */
	memset(v2, 0, SIEM_BLOOM_BYTES);
	char text[16 * 2000];
	size_t tl = 0;
	for (int i = 0; i < 2000; i++)
		tl += (size_t)bw_snprintf(text + tl, sizeof(text) - tl, "w%dx ", i * 7919);
	siem_bloom_add_text(v2, text, tl);
	size_t set = 0;
	for (size_t i = 0; i < SIEM_BLOOM_BYTES; i++)
		set += (size_t)__builtin_popcount(v2[i]);
	assert_true(set > 5000 && set < 6100);
	for (int i = 0; i < 2000; i++) {
		char w[16];
		int n = bw_snprintf(w, sizeof(w), "W%dX", i * 7919);
		assert_true(siem_bloom_has_token(v2, SIEM_BLOOM_V2, w, (size_t)n));
	}
}

/* A day stored before the block layout (one row per event, JSON text
 * documents, its catalog row naming siem_ev_...) keeps its layout after an
 * upgrade: it is searched, read by id, walked, written to (new events of
 * that day), and dropped by retention, beside a day in blocks. */
static void days_stored_as_rows_still_work(void **state)
{
	char dir[64];
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-siem-legacy-XXXXXX");
	assert_non_null(mkdtemp(dir));
	h_fixed_dir = dir;
	assert_int_equal(h_start_conf(&H, "", false), 0);
	h_stop(&H, false);
	const int64_t day_ns = 86400LL * 1000000000LL;
	int64_t now = bw_clock_now_ns(), day = siem_day_of(now);
	int64_t t0 = day * day_ns + 1000;
	char name[32], path[128], sql[512];
	siem_part_name(day, name);
	bw_snprintf(path, sizeof(path), "%s/siem.db", dir);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	struct bw_err err;
	struct store *st = store_open(&so, &err);
	assert_non_null(st);
	bw_snprintf(sql, sizeof(sql),
		    "CREATE TABLE %s (id INTEGER PRIMARY KEY, ts BIGINT NOT NULL, tenant TEXT,"
		    " category TEXT, action TEXT, outcome TEXT, dataset TEXT, host TEXT,"
		    " source_ip TEXT, user_name TEXT, doc TEXT NOT NULL)", name);
	assert_int_equal(store_exec(st, sql, NULL, 0, NULL, &err), 0);
	for (int i = 0; i < 3; i++) {
		char doc[256], user[16];
		bw_snprintf(user, sizeof(user), "olduser%d", i);
		bw_snprintf(doc, sizeof(doc),
			    "{\"@timestamp\":\"2024-06-15T00:00:00.000Z\",\"message\":"
			    "\"legacyword %d\",\"user\":{\"name\":\"%s\"}}", i, user);
		bw_snprintf(sql, sizeof(sql),
			    "INSERT INTO %s (id, ts, tenant, user_name, doc) VALUES (?, ?, ?, ?, ?)",
			    name);
		struct store_value v[] = { store_int(100 + i), store_int(t0 + i),
					   store_text_str("platform"), store_text_str(user),
					   store_text_str(doc) };
		assert_int_equal(store_exec(st, sql, v, 5, NULL, &err), 0);
	}
	/* its block's bloom is a v1 bloom (FNV-1a) of the rows' tokens:
	 * searches below must still find the words through it */
	static uint8_t all[SIEM_BLOOM_BYTES];
	memset(all, 0, sizeof(all));
	static const char *const toks[] = { "legacyword", "0", "1", "2", "olduser0",
					    "olduser1", "olduser2", "user.name=olduser0",
					    "user.name=olduser1", "user.name=olduser2",
					    "tenant=platform", "platform" };
	for (size_t i = 0; i < BW_ARRAY_LEN(toks); i++)
		v1_add(all, toks[i]);
	struct store_value b[] = { store_int(day), store_int(100), store_int(102),
				   store_int(t0), store_int(t0 + 2), store_int(3),
				   store_blob(all, sizeof(all)) };
	assert_int_equal(store_exec(st,
				    "INSERT INTO siem_block (day, id_first, id_last, ts_min, ts_max,"
				    " n, bloom) VALUES (?, ?, ?, ?, ?, ?, ?)",
				    b, 7, NULL, &err),
			 0);
	struct store_value p[] = { store_int(day), store_text_str(name), store_int(t0),
				   store_int(t0 + 2), store_int(102), store_int(3), store_int(0) };
	assert_int_equal(store_exec(st,
				    "INSERT INTO siem_partition (day, name, min_ts, max_ts, max_id,"
				    " events, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
				    p, 7, NULL, &err),
			 0);
	store_close(st);

	assert_int_equal(h_start_conf(&H, "", false), 0);
	assert_true(siem_day_rows(H.svc, day));
	assert_int_equal(count_q("user.name:olduser1"), 1);
	assert_int_equal(count_q("legacyword"), 3);
	struct bw_buf doc;
	bw_buf_init(&doc, 1u << 20);
	int64_t ts = 0;
	assert_int_equal(siem_event_doc(H.svc, 101, 0, &doc, &ts, &err), 1);
	assert_int_equal(ts, t0 + 1);
	assert_non_null(strstr(doc.data, "legacyword 1"));
	/* new events: that day goes on in rows, the day before in blocks */
	for (int i = 0; i < 2; i++) {
		bus_event("web", "acme", now, "newrows");
		bus_event("web", "acme", now - day_ns, "newblocks");
	}
	siem_service_flush(H.svc);
	assert_int_equal(count_q("user.name:newrows"), 2);
	assert_int_equal(count_q("user.name:newblocks"), 2);
	assert_int_equal(h_count(&H, "SELECT COUNT(*) FROM siem_partition WHERE name LIKE 'siem_evs_%'",
				 NULL, 0),
			 1);
	int64_t n = 0;
	assert_int_equal(siem_store_each(H.svc, day, each_count, &n, &err), 0);
	assert_int_equal(n, 5);
	n = 0;
	assert_int_equal(siem_store_each(H.svc, day - 1, each_count, &n, &err), 0);
	assert_int_equal(n, 2);
	/* a year on both are dropped whole, the rows day counted by rows */
	bw_clock_advance(400 * day_ns);
	assert_int_equal(siem_retention_run(H.svc, &err), 7);
	assert_int_equal(h_count(&H, "SELECT COUNT(*) FROM siem_partition", NULL, 0), 0);
	bw_clock_set(1718452860LL * 1000000000LL);
	bw_buf_fini(&doc);
	h_fixed_dir = NULL;
	h_stop(&H, true);
}

/* A block row of a segment-layout day, read back with its bytes. */
struct seg_row {
	int64_t v[8]; /* id_first id_last ts_min ts_max n seg_off seg_len seg_sum */
};
struct seg_rows {
	struct seg_row r[16];
	size_t n;
};

static int seg_row_cb(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct seg_rows *s = arg;
	if (s->n < BW_ARRAY_LEN(s->r))
		for (int c = 0; c < 8; c++)
			s->r[s->n].v[c] = store_row_int64(row, c);
	s->n++;
	return STORE_ROW_NEXT;
}

static off_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Events stored by a bulwark whose blocks held their documents in the
 * database (siem_evb_..., before segment files) stay readable after an
 * upgrade: the day is searched, read by id, walked, goes on in database
 * blocks for its new events, and is dropped by retention. The old day is
 * made the way that version stored it: the same packed bytes in a docs
 * column, its catalog row naming siem_evb_. */
static void days_stored_in_database_blocks_still_work(void **state)
{
	char dir[64];
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-siem-blobs-XXXXXX");
	assert_non_null(mkdtemp(dir));
	h_fixed_dir = dir;
	assert_int_equal(h_start_conf(&H, "", false), 0);
	const int64_t day_ns = 86400LL * 1000000000LL;
	int64_t now = bw_clock_now_ns(), day = siem_day_of(now);
	bus_event("web", "acme", now, "blobuser0");
	bus_event("web", "acme", now, "blobuser1");
	bus_event("web", "acme", now, "blobuser2");
	siem_service_flush(H.svc);
	h_stop(&H, false);

	char evs[32], evb[32], path[128], seg[256], sql[512];
	siem_seg_name(day, evs);
	siem_blk_name(day, evb);
	bw_snprintf(path, sizeof(path), "%s/siem.db", dir);
	bw_snprintf(seg, sizeof(seg), "%s/siem.db.events/%s.seg", dir, evs);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	struct bw_err err;
	struct store *st = store_open(&so, &err);
	assert_non_null(st);
	struct seg_rows rows = { .n = 0 };
	bw_snprintf(sql, sizeof(sql),
		    "SELECT id_first, id_last, ts_min, ts_max, n, seg_off, seg_len, seg_sum"
		    " FROM %s", evs);
	assert_int_equal(store_query(st, sql, NULL, 0, seg_row_cb, &rows, &err), 0);
	assert_true(rows.n >= 1 && rows.n <= BW_ARRAY_LEN(rows.r));
	bw_snprintf(sql, sizeof(sql),
		    "CREATE TABLE %s (id_first INTEGER PRIMARY KEY, id_last BIGINT NOT NULL,"
		    " ts_min BIGINT NOT NULL, ts_max BIGINT NOT NULL, n BIGINT NOT NULL,"
		    " docs BLOB NOT NULL)", evb);
	assert_int_equal(store_exec(st, sql, NULL, 0, NULL, &err), 0);
	int fd = open(seg, O_RDONLY);
	assert_true(fd >= 0);
	for (size_t i = 0; i < rows.n; i++) {
		const int64_t *v = rows.r[i].v;
		uint8_t buf[8192];
		assert_true(v[6] <= (int64_t)sizeof(buf));
		assert_int_equal(pread(fd, buf, (size_t)v[6], v[5]), v[6]);
		bw_snprintf(sql, sizeof(sql),
			    "INSERT INTO %s (id_first, id_last, ts_min, ts_max, n, docs)"
			    " VALUES (?, ?, ?, ?, ?, ?)", evb);
		struct store_value b[] = { store_int(v[0]), store_int(v[1]), store_int(v[2]),
					   store_int(v[3]), store_int(v[4]),
					   store_blob(buf, (size_t)v[6]) };
		assert_int_equal(store_exec(st, sql, b, 6, NULL, &err), 0);
	}
	close(fd);
	int64_t first_id = rows.r[0].v[0];
	bw_snprintf(sql, sizeof(sql), "DROP TABLE %s", evs);
	assert_int_equal(store_exec(st, sql, NULL, 0, NULL, &err), 0);
	struct store_value nm[] = { store_text_str(evb), store_int(day) };
	assert_int_equal(store_exec(st, "UPDATE siem_partition SET name = ? WHERE day = ?", nm,
				    2, NULL, &err),
			 0);
	store_close(st);
	assert_int_equal(unlink(seg), 0);

	assert_int_equal(h_start_conf(&H, "", false), 0);
	assert_int_equal(siem_day_layout(H.svc, day), SIEM_LAYOUT_BLOBS);
	assert_int_equal(siem_day_layout(H.svc, day - 1), SIEM_LAYOUT_SEGS);
	assert_int_equal(count_q("user.name:blobuser1"), 1);
	assert_int_equal(count_q("test-action"), 3);
	struct bw_buf doc;
	bw_buf_init(&doc, 1u << 20);
	int64_t ts = 0;
	assert_int_equal(siem_event_doc(H.svc, first_id, 0, &doc, &ts, &err), 1);
	assert_non_null(strstr(doc.data, "blobuser0"));
	bw_buf_fini(&doc);
	/* new events of that day go on in database blocks, no file made */
	bus_event("web", "acme", now, "blobuser3");
	siem_service_flush(H.svc);
	assert_int_equal(count_q("user.name:blobuser3"), 1);
	bw_snprintf(sql, sizeof(sql), "SELECT COALESCE(SUM(n), 0) FROM %s", evb);
	assert_int_equal(h_count(&H, sql, NULL, 0), 4);
	assert_int_equal(file_size(seg), -1);
	int64_t n = 0;
	assert_int_equal(siem_store_each(H.svc, day, each_count, &n, &err), 0);
	assert_int_equal(n, 4);
	bw_clock_advance(400 * day_ns);
	assert_int_equal(siem_retention_run(H.svc, &err), 4);
	assert_int_equal(h_count(&H, "SELECT COUNT(*) FROM siem_partition", NULL, 0), 0);
	bw_clock_set(1718452860LL * 1000000000LL);
	h_fixed_dir = NULL;
	h_stop(&H, true);
}

/* A segment file: bytes past its last committed row (a job that never
 * committed) are cut off when it is next opened for writing, so new
 * blocks follow the committed ones; damaged bytes read as corrupt, never
 * as other events; dropping the day deletes the file. */
static void segment_tail_is_cut_and_checked(void **state)
{
	char dir[64];
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-siem-segs-XXXXXX");
	assert_non_null(mkdtemp(dir));
	h_fixed_dir = dir;
	assert_int_equal(h_start_conf(&H, "", false), 0);
	const int64_t day_ns = 86400LL * 1000000000LL;
	int64_t now = bw_clock_now_ns(), day = siem_day_of(now);
	for (int i = 0; i < 3; i++)
		bus_event("web", "acme", now, "seguser");
	siem_service_flush(H.svc);
	h_stop(&H, false);
	char evs[32], seg[256], sql[256];
	siem_seg_name(day, evs);
	bw_snprintf(seg, sizeof(seg), "%s/siem.db.events/%s.seg", dir, evs);
	off_t committed = file_size(seg);
	assert_true(committed > 0);
	/* an uncommitted tail */
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	char junk[1000];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	assert_int_equal(h_start_conf(&H, "", false), 0);
	bus_event("web", "acme", now, "seguser");
	bus_event("web", "acme", now, "seguser");
	siem_service_flush(H.svc);
	assert_int_equal(count_q("user.name:seguser"), 5);
	bw_snprintf(sql, sizeof(sql), "SELECT SUM(seg_len) FROM %s", evs);
	assert_int_equal(file_size(seg), h_count(&H, sql, NULL, 0));
	bw_snprintf(sql, sizeof(sql), "SELECT MIN(seg_off) FROM %s WHERE seg_off > 0", evs);
	assert_int_equal(h_count(&H, sql, NULL, 0), committed);
	struct bw_err err;
	int64_t n = 0;
	assert_int_equal(siem_store_each(H.svc, day, each_count, &n, &err), 0);
	assert_int_equal(n, 5);
	/* one damaged byte: the block fails its checksum */
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, 20), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, 20), 1);
	close(fd);
	n = 0;
	assert_int_equal(siem_store_each(H.svc, day, each_count, &n, &err), -1);
	assert_string_equal(err.reason, "corrupt");
	bw_clock_advance(400 * day_ns);
	assert_int_equal(siem_retention_run(H.svc, &err), 5);
	assert_int_equal(file_size(seg), -1);
	bw_clock_set(1718452860LL * 1000000000LL);
	h_fixed_dir = NULL;
	h_stop(&H, true);
}

static void alerts_deduplicate_and_suppress(void **state)
{
	assert_int_equal(h_start_conf(&H,
				      "  alerts:\n    dedup: 5m\n    suppress:\n"
				      "      - rule: Command run as root through sudo\n        for: 1h\n",
				      false),
			 0);
	/* sudo to root by two users: suppression is per rule and group (the
	 * group of a detection is source.ip, else user.name, else host) */
	struct bw_err lerr;
	struct loop *l = loop_new(64, &lerr); /* never run: batches flushed by hand */
	struct siem_ictx *x = siem_ictx_for_loop(H.svc, l);
	char line[256];
	for (int i = 0; i < 4; i++) {
		snprintf(line, sizeof(line),
			 "<86>Jun 15 12:00:%02d db-01 sudo:    %s : TTY=pts/0 ; PWD=/ ;"
			 " USER=root ; COMMAND=/bin/sh",
			 i, i % 2 ? "bob" : "alice");
		assert_non_null(siem_ingest_line(x, line, strlen(line), SIEM_SRC_TCP, "192.0.2.1",
						 NULL, false));
	}
	/* the scanner rule: dedup folds repeats within 5 minutes */
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line),
			 "192.0.2.50 - - [15/Jun/2024:12:00:%02d +0000] \"GET /x HTTP/1.1\" 404 1"
			 " \"-\" \"sqlmap/1.7\"",
			 i);
		assert_non_null(siem_ingest_line(x, line, strlen(line), SIEM_SRC_TCP, "192.0.2.1",
						 NULL, false));
	}
	siem_ictx_flush(x);
	siem_service_flush(H.svc);
	struct siem_stats st;
	siem_service_stats(H.svc, &st);
	int64_t sudo = h_count(&H, "SELECT COUNT(*) FROM siem_alert WHERE kind = 'sigma'"
				   " AND rule_title = 'Command run as root through sudo'",
			       NULL, 0);
	int64_t scan = h_count(&H, "SELECT COUNT(*) FROM siem_alert WHERE rule_title LIKE"
				   " 'Web vulnerability scanner%'",
			       NULL, 0);
	int64_t scan_count = h_count(&H, "SELECT MAX(count) FROM siem_alert WHERE rule_title"
					 " LIKE 'Web vulnerability scanner%'",
				     NULL, 0);
	assert_int_equal(scan, 1);
	assert_int_equal(scan_count, 3);
	/* two users: one alert each; the other two were suppressed */
	assert_int_equal(sudo, 2);
	assert_int_equal(st.alerts_suppressed, 2);
	assert_int_equal(st.alerts_deduped, 2);
	h_stop(&H, true);
	loop_free(l);
}

static void config_errors_are_positioned(void **state)
{
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "siem:\n  queue_event: 5\n", "test.yaml:2:3: siem.queue_event: unknown key" },
		{ "siem:\n  batch_events: 0\n", "test.yaml:2:17: siem.batch_events: must be" },
		{ "siem:\n  retention:\n    policies:\n      - category: x\n",
		  "missing required key 'keep'" },
		{ "siem:\n  forward:\n    - name: a\n      kind: splunk_hec\n",
		  "needs a url" },
		{ "siem:\n  alerts:\n    notify:\n      - kind: smtp\n        url: smtp://x\n",
		  "smtp needs from and to" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		struct bw_err err;
		struct conf_doc *d = conf_load_string("test.yaml", cases[i].yaml,
						       strlen(cases[i].yaml), a, &err);
		assert_non_null(d);
		struct siem_conf c;
		assert_int_equal(siem_conf_bind(conf_get(d->root, "siem"), &c, &err), -1);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
	}
	/* defaults bind (catches a bad default in the table) */
	struct siem_conf c;
	struct bw_err err;
	assert_int_equal(siem_conf_bind(NULL, &c, &err), 0);
	assert_int_equal(c.queue_events, 65536);
	assert_int_equal(c.retention.default_ms, 90ULL * 86400000ULL);
	bw_arena_free(a);
}

static void reload_keeps_old_rules_on_error(void **state)
{
	assert_int_equal(h_start_conf(&H, "", false), 0);
	struct siem_gen *g0 = siem_gen_get(H.svc);
	size_t n0 = siem_ruleset_count(g0->rs);
	siem_gen_unref(g0);
	assert_true(n0 > 5);
	char path[128];
	snprintf(path, sizeof(path), "%s/bad.yml", H.dir);
	FILE *f = fopen(path, "w");
	fputs("title: broken\ndetection:\n  sel:\n    a|nosuchmodifier: 1\n  condition: sel\n", f);
	fclose(f);
	char yaml[512];
	snprintf(yaml, sizeof(yaml), "siem:\n  rules: [%s]\n", path);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_err err;
	struct conf_doc *d = conf_load_string("r.yaml", yaml, strlen(yaml), a, &err);
	assert_int_equal(siem_service_reload(H.svc, conf_get(d->root, "siem"), &err), -1);
	assert_non_null(strstr(err.msg, "nosuchmodifier"));
	struct siem_gen *g1 = siem_gen_get(H.svc);
	assert_int_equal(siem_ruleset_count(g1->rs), n0);
	siem_gen_unref(g1);
	bw_arena_free(a);
	h_stop(&H, true);
}

/* siem.mapping: the file is loaded before the rules of a generation, so
 * a rule naming a mapped field compiles against it; a broken mapping is
 * refused with its position and the running generation stays. */
static void mapping_file_from_config(void **state)
{
	assert_int_equal(h_start_conf(&H, "", false), 0);
	char map[128], rule[128], yaml[512];
	snprintf(map, sizeof(map), "%s/map.yml", H.dir);
	snprintf(rule, sizeof(rule), "%s/ftp.yml", H.dir);
	FILE *f = fopen(map, "w");
	fputs("fields:\n  FtpClient: source.ip\nlogsources:\n  service:\n"
	      "    vsftpd: {field: process.name, values: [vsftpd]}\n", f);
	fclose(f);
	f = fopen(rule, "w");
	fputs("title: ftp from a bad net\nlogsource: {service: vsftpd}\ndetection:\n"
	      "  s:\n    FtpClient|cidr: 192.0.2.0/24\n  condition: s\n", f);
	fclose(f);
	snprintf(yaml, sizeof(yaml), "siem:\n  mapping: %s\n  rules: [%s]\n", map, rule);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_err err;
	struct conf_doc *d = conf_load_string("r.yaml", yaml, strlen(yaml), a, &err);
	assert_non_null(d);
	assert_int_equal(siem_service_reload(H.svc, conf_get(d->root, "siem"), &err), 0);
	struct siem_gen *g = siem_gen_get(H.svc);
	assert_int_equal(siem_ruleset_count(g->rs), 1);
	struct siem_matcher *m = siem_matcher_new(g->rs);
	struct siem_event ev;
	siem_event_init(&ev, a);
	siem_event_setz(&ev, SIEM_F_SOURCE_IP, "192.0.2.44");
	siem_event_setz(&ev, SIEM_F_PROCESS_NAME, "vsftpd");
	uint32_t out[2];
	assert_int_equal(siem_match(m, &ev, out, 2), 1);
	siem_event_setz(&ev, SIEM_F_PROCESS_NAME, "sshd");
	assert_int_equal(siem_match(m, &ev, out, 2), 0);
	siem_matcher_free(m);
	siem_gen_unref(g);
	/* a broken mapping: refused, positioned, the generation stays */
	f = fopen(map, "w");
	fputs("fields:\n  FtpClient: [source.ip]\n", f);
	fclose(f);
	assert_int_equal(siem_service_reload(H.svc, conf_get(d->root, "siem"), &err), -1);
	assert_non_null(strstr(err.msg, "map.yml:2:"));
	g = siem_gen_get(H.svc);
	assert_int_equal(siem_ruleset_count(g->rs), 1);
	siem_gen_unref(g);
	bw_arena_free(a);
	h_stop(&H, true);
}

static void tok_cb(void *arg, const char *t, size_t tn)
{
	siem_bloom_add_token(arg, t, tn);
}

/* The one-pass bloom of a text sets exactly the bits of its tokens added
 * one by one (stored blooms must keep meaning what search asks). */
static void bloom_text_is_its_tokens(void **state)
{
	static uint8_t a[SIEM_BLOOM_BYTES], b[SIEM_BLOOM_BYTES];
	char text[600];
	uint32_t seed = 7;
	for (int round = 0; round < 500; round++) {
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % sizeof(text);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = (seed >> 16) % 100;
			/* mostly words, some separators, long runs, high bytes */
			text[i] = r < 60 ? (char)('a' + r % 26) : r < 70 ? (char)('A' + r % 26)
				: r < 80 ? ' ' : r < 85 ? '.' : r < 90 ? (char)(0x80 + r)
				: r < 95 ? (char)('0' + r % 10) : (round % 3 ? '_' : 'x');
		}
		siem_bloom_add_text(a, text, n);
		siem_tokens(text, n, tok_cb, b);
		assert_memory_equal(a, b, sizeof(a));
	}
	/* runs of 64 bytes are tokens, of 65 not (hashes, base64) */
	for (size_t run = 63; run <= 66; run++) {
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		memset(text, 'Q', run);
		memcpy(text + run, " ok", 3);
		siem_bloom_add_text(a, text, run + 3);
		siem_tokens(text, run + 3, tok_cb, b);
		assert_memory_equal(a, b, sizeof(a));
		assert_int_equal(siem_bloom_has_token(a, SIEM_BLOOM_V2, text, run), run <= 64);
	}
}

/* The reference: every token of the line, the vocabulary fields, every
 * label and "field=value" of the key fields, with nothing skipped. */
static void bloom_reference(uint8_t *bloom, const struct siem_event *ev)
{
	static const enum siem_field vocab[] = {
		SIEM_F_EVENT_KIND,    SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_TYPE,
		SIEM_F_EVENT_ACTION,  SIEM_F_EVENT_OUTCOME,  SIEM_F_EVENT_DATASET,
		SIEM_F_EVENT_MODULE,  SIEM_F_TENANT,	     SIEM_F_OBSERVER_IP,
		SIEM_F_NETWORK_TRANSPORT,
	};
	static const enum siem_field keys[] = {
		SIEM_F_TENANT,	      SIEM_F_EVENT_CATEGORY, SIEM_F_EVENT_ACTION,
		SIEM_F_EVENT_OUTCOME, SIEM_F_EVENT_DATASET,  SIEM_F_HOST_NAME,
		SIEM_F_SOURCE_IP,     SIEM_F_USER_NAME,
	};
	struct bw_str o = ev->f[SIEM_F_EVENT_ORIGINAL];
	siem_tokens(o.p, o.len, tok_cb, bloom);
	for (size_t k = 0; k < BW_ARRAY_LEN(vocab); k++)
		if (ev->f[vocab[k]].p)
			siem_tokens(ev->f[vocab[k]].p, ev->f[vocab[k]].len, tok_cb, bloom);
	for (unsigned i = 0; i < ev->nlabels; i++)
		siem_tokens(ev->labels[i].value.p, ev->labels[i].value.len, tok_cb, bloom);
	for (size_t k = 0; k < BW_ARRAY_LEN(keys); k++) {
		struct bw_str v = ev->f[keys[k]];
		if (!v.p || !v.len || v.len > 200)
			continue;
		char t[300];
		int n = snprintf(t, sizeof(t), "%s=%.*s", siem_field_name(keys[k]), (int)v.len, v.p);
		siem_bloom_add_token(bloom, t, (size_t)n);
	}
}

/* A block's bloom built event by event with the memo (repeated values
 * skipped) and with label values that are bytes of the line skipped has
 * exactly the bits of every token added (search must keep finding what
 * it found before these shortcuts). */
static void bloom_memo_sets_every_token(void **state)
{
	static const char *const lines[] = {
		"<38>1 2024-06-15T11:59:58.5Z web1 sshd 4242 - [meta sequenceId=\"7\" conn=\"2\"]"
		" Failed password for root from 203.0.113.7 port 5022 ssh2",
		"<38>1 2024-06-15T11:59:59.5Z web1 sshd 4242 - [meta sequenceId=\"8\" conn=\"2\"]"
		" Failed password for root from 203.0.113.7 port 5023 ssh2",
		"<38>1 2024-06-15T12:00:00Z web2 sshd 1 - [x a=\"pre\\\"fix\" b=\"ab_cd\"]"
		" Accepted publickey for alice from 198.51.100.2 port 1 ssh2",
		"CEF:0|V|P|1|7|n|5|msg=a\\=b suser=bob cs1=x\\ny cs1Label=note src=10.0.0.1",
		"Jun 15 11:59:58 host sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ;"
		" COMMAND=/bin/sh",
		"<13>Jun 15 11:59:58 host kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.1"
		" DST=192.0.2.2 PROTO=TCP SPT=1 DPT=22",
	};
	struct bw_arena *a = bw_arena_new(65536, 1u << 24);
	assert_non_null(a);
	static uint8_t got[SIEM_BLOOM_BYTES], want[SIEM_BLOOM_BYTES];
	memset(got, 0, sizeof(got));
	memset(want, 0, sizeof(want));
	struct siem_bloom_memo memo;
	memset(&memo, 0, sizeof(memo));
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < BW_ARRAY_LEN(lines); i++) {
			struct siem_parse_opts o = { .now_ns = 1718452800000000000LL,
						     .tenant = "acme", .observer = "192.0.2.9" };
			struct siem_event ev;
			struct bw_err err;
			assert_int_equal(siem_parse_line(lines[i], strlen(lines[i]), &o, a, &ev,
							 &err), 0);
			/* an enrichment label that is not in the line */
			assert_int_equal(siem_event_label(&ev, "source.geo.city_name", 20,
							  "Zanzibar", 8), 0);
			siem_bloom_event_memo(got, &ev, &memo);
			bloom_reference(want, &ev);
			assert_memory_equal(got, want, sizeof(got));
		}
	assert_true(siem_bloom_has_token(got, SIEM_BLOOM_V2, "zanzibar", 8));
	assert_true(siem_bloom_has_token(got, SIEM_BLOOM_V2, "ab_cd", 5));
	bw_arena_free(a);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bloom_text_is_its_tokens),
		cmocka_unit_test(bloom_versions),
		cmocka_unit_test(bloom_memo_sets_every_token),
		cmocka_unit_test(days_stored_as_rows_still_work),
		cmocka_unit_test(days_stored_in_database_blocks_still_work),
		cmocka_unit_test(segment_tail_is_cut_and_checked),
		cmocka_unit_test(config_errors_are_positioned),
		cmocka_unit_test(syslog_tcp_and_udp_are_stored),
		cmocka_unit_test(relp_acks_only_stored_events),
		cmocka_unit_test(relp_hostile_input_closes),
		cmocka_unit_test(backpressure_pauses_and_loses_nothing),
		cmocka_unit_test(bus_events_are_stored_and_matched),
		cmocka_unit_test(reload_keeps_old_rules_on_error),
		cmocka_unit_test(mapping_file_from_config),
		cmocka_unit_test(retention_by_category_and_tenant),
		cmocka_unit_test(alerts_deduplicate_and_suppress),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
