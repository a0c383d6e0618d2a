/* kill -9 during ingest: nothing acknowledged is lost, over RELP and over
 * NDJSON (HTTP 200).
 *
 * A child process runs the SIEM (durability full) with its RELP listener;
 * the parent streams numbered syslog messages over RELP, keeping a
 * window of unacknowledged ones in flight, and records every message the
 * child acknowledged. At a chosen depth the parent kill -9s the child
 * while traffic is in flight, reopens the same data directory and checks
 * that every acknowledged message is stored, exactly once. Three rounds
 * on the same directory, killed at different depths, so recovery after a
 * crash (catalog, ids, partitions) is exercised as well. Then two rounds
 * of three concurrent NDJSON posters (20 events per request) killed the
 * same way: every event of every request answered 200 is stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "siem_harness.h"

#define MAXMSG 200000

static char g_dir[64];
static uint8_t *acked;	 /* [MAXMSG] acked by the child */
static uint8_t *seen;	 /* [MAXMSG] found in the store */

static struct harness *child_h;

static void ingest_handler(struct net_exchange *x, void *arg)
{
	if (!siem_http_ingest(x, child_h->svc))
		net_respond(x, 404, "text/plain", "", 0);
}

struct child_info {
	uint16_t relp_port, http_port;
	char key[96];
};

static void http_task(void *arg)
{
	struct child_info *ci = arg;
	struct bw_err err;
	struct net_thread *nt = net_thread_new(child_h->loop, &err);
	struct net_http_options o = { .name = "ingest", .handler = ingest_handler,
				      .max_conns = 64, .header_timeout_ms = 10000,
				      .body_timeout_ms = 10000, .idle_timeout_ms = 10000,
				      .write_timeout_ms = 10000 };
	http_limits_default(&o.limits);
	o.limits.max_body = 16u << 20;
	struct net_http_server *s = net_http_server_new(&o, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 64, &err);
	ci->http_port = (uint16_t)net_socket_port(fd);
	if (!nt || !s || fd < 0 || net_thread_listen(nt, "ingest", fd, s, &err) < 0)
		_exit(5);
	net_http_server_unref(s);
	atomic_store(&h_detached, 1);
}

static void child(int wfd)
{
	static struct harness h;
	struct bw_err err;
	if (net_fetch_global_init(&err) < 0)
		_exit(2);
	h_fixed_dir = g_dir;
	if (h_start_conf(&h, "  durability: full\n", true) < 0)
		_exit(3);
	child_h = &h;
	struct child_info ci = { .relp_port = h.relp_port };
	char id[17];
	if (siem_key_create(h.svc, "crash", "acme", "test", ci.key, id, &err) < 0)
		_exit(6);
	atomic_store(&h_detached, 0);
	if (loop_post(h.loop, http_task, &ci) < 0)
		_exit(7);
	while (!atomic_load(&h_detached))
		usleep(1000);
	if (write(wfd, &ci, sizeof(ci)) != sizeof(ci))
		_exit(4);
	close(wfd);
	for (;;)
		pause();
}

struct doc_scan {
	int64_t dup;
};

/* Every stored event, whatever the layout: the raw line is inside the
 * stored document (compact or JSON) verbatim. */
static int doc_row(void *arg, int64_t eid, int64_t ts, const uint8_t *p, size_t n,
		   struct bw_err *err)
{
	struct doc_scan *d = arg;
	struct bw_str doc = bw_str_make((const char *)p, n);
	const char *m = memmem(doc.p, doc.len, "crashmsg ", 9);
	if (!m)
		return 0;
	/* the digits up to the first byte that is none, within the document
	 * (compact documents carry binary after the line) */
	long id = 0;
	int nd = 0;
	for (const char *q = m + 9; q < doc.p + doc.len && *q >= '0' && *q <= '9' && nd < 9;
	     q++, nd++)
		id = id * 10 + (*q - '0');
	if (nd == 0)
		return 0;
	if (id >= 0 && id < MAXMSG) {
		if (seen[id])
			d->dup++;
		seen[id] = 1;
	}
	return 0;
}

static int day_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	int64_t *days = arg;
	if (days[0] < 63)
		days[++days[0]] = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

/* Runs the child, streams until `kill_after` acks, kills it. Returns the
 * next message id to use. */
static long round_trip(long first, long kill_after)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	struct child_info ci;
	assert_int_equal(read(p[0], &ci, sizeof(ci)), (ssize_t)sizeof(ci));
	close(p[0]);
	uint16_t port = ci.relp_port;
	struct relp_client c;
	assert_int_equal(relp_open(&c, port), 0);
	/* txnr -> message id */
	static long txmsg[MAXMSG + 16];
	uint32_t next_tx = 2;
	long next_msg = first, nacked = 0;
	unsigned inflight = 0;
	bool killed = false;
	while (!killed) {
		while (inflight < 100 && next_msg < MAXMSG) {
			char line[160];
			int l = snprintf(line, sizeof(line),
					 "<13>Jun 15 12:00:00 crashhost app[7]: crashmsg %ld", next_msg);
			if (relp_send_frame(&c, next_tx, "syslog", line, (size_t)l) < 0)
				break;
			txmsg[next_tx] = next_msg++;
			next_tx++;
			inflight++;
		}
		struct siem_relp_frame f;
		char d[64];
		int r = relp_read_rsp(&c, &f, d, sizeof(d), 10000);
		assert_int_equal(r, 1);
		assert_string_equal(d, "200 OK");
		assert_true(f.txnr >= 2 && f.txnr < next_tx);
		acked[txmsg[f.txnr]] = 1;
		nacked++;
		inflight--;
		if (nacked >= kill_after) {
			/* traffic is in flight right now */
			kill(pid, SIGKILL);
			killed = true;
		}
	}
	/* responses that were already on the wire count as acks too */
	for (;;) {
		struct siem_relp_frame f;
		char d[64];
		if (relp_read_rsp(&c, &f, d, sizeof(d), 2000) != 1)
			break;
		if (strcmp(d, "200 OK") == 0)
			acked[txmsg[f.txnr]] = 1;
	}
	close(c.fd);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	return next_msg;
}

static void verify(void)
{
	struct harness h;
	h_fixed_dir = g_dir;
	assert_int_equal(h_start_conf(&h, "", false), 0);
	memset(seen, 0, MAXMSG);
	int64_t days[64] = { 0 };
	struct bw_err err;
	assert_int_equal(store_query(h.svc->st, "SELECT day FROM siem_partition", NULL, 0,
				     day_row, days, &err),
			 0);
	struct doc_scan ds = { 0 };
	for (int64_t i = 1; i <= days[0]; i++)
		assert_int_equal(siem_store_each(h.svc, days[i], doc_row, &ds, &err), 0);
	long lost = 0, nack = 0;
	for (long i = 0; i < MAXMSG; i++) {
		nack += acked[i];
		if (acked[i] && !seen[i])
			lost++;
	}
	if (lost)
		fail_msg("%ld of %ld acknowledged messages lost", lost, nack);
	long nseen = 0;
	for (long i = 0; i < MAXMSG; i++)
		nseen += seen[i];
	fprintf(stderr, "# after kill -9: %ld acknowledged, %ld stored, none lost\n", nack,
		nseen);
	assert_true(nack > 0 && nseen >= nack);
	assert_int_equal(ds.dup, 0);
	h_stop(&h, false);
}

/* ------------------------------------------------------------ NDJSON */

struct poster {
	pthread_t th;
	uint16_t port;
	const char *key;
	_Atomic long *next;    /* next message id to use (shared) */
	_Atomic long *nacked;  /* requests answered 200 */
	_Atomic int *stop;
};

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	return sz * n;
}

static void *poster_main(void *arg)
{
	struct poster *ps = arg;
	CURL *c = curl_easy_init();
	char url[128], auth[160];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/siem/ingest", ps->port);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ps->key);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	static _Thread_local char body[20 * 128];
	while (!atomic_load(ps->stop)) {
		long first = atomic_fetch_add(ps->next, 20);
		if (first + 20 > MAXMSG)
			break;
		size_t n = 0;
		for (long i = first; i < first + 20; i++)
			n += (size_t)snprintf(body + n, sizeof(body) - n,
					      "{\"message\":\"crashmsg %ld\",\"event.category\":\"web\"}\n",
					      i);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
		long status = 0;
		if (curl_easy_perform(c) == CURLE_OK &&
		    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
		    status == 200) {
			/* a 200 promises every event of the body is on disk */
			for (long i = first; i < first + 20; i++)
				acked[i] = 1;
			atomic_fetch_add(ps->nacked, 1);
		} else if (atomic_load(ps->stop)) {
			break;
		}
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

static long http_round(long first, long kill_after)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	struct child_info ci;
	assert_int_equal(read(p[0], &ci, sizeof(ci)), (ssize_t)sizeof(ci));
	close(p[0]);
	_Atomic long next = first, nacked = 0;
	_Atomic int stop = 0;
	struct poster ps[3];
	for (int i = 0; i < 3; i++) {
		ps[i] = (struct poster){ .port = ci.http_port, .key = ci.key, .next = &next,
					 .nacked = &nacked, .stop = &stop };
		assert_int_equal(pthread_create(&ps[i].th, NULL, poster_main, &ps[i]), 0);
	}
	while (atomic_load(&nacked) < kill_after)
		usleep(1000);
	/* requests are in flight on the other posters right now */
	kill(pid, SIGKILL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(ps[i].th, NULL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	return atomic_load(&next);
}

static void kill9_loses_nothing_acknowledged(void **state)
{
	bw_snprintf(g_dir, sizeof(g_dir), "/tmp/bw-siem-crash-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	acked = calloc(MAXMSG, 1);
	seen = calloc(MAXMSG, 1);
	long next = 0;
	static const long depth[] = { 300, 2500, 6000 };
	for (size_t i = 0; i < BW_ARRAY_LEN(depth); i++) {
		next = round_trip(next, depth[i]);
		verify();
	}
	/* the same over HTTPS-style NDJSON ingest: a 200 means stored */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	static const long reqs[] = { 20, 150 };
	for (size_t i = 0; i < BW_ARRAY_LEN(reqs); i++) {
		next = http_round(next, reqs[i]);
		verify();
	}
	free(acked);
	free(seen);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	/* 2024-06-15T12:01:00Z: the messages' day is "today" */
	bw_clock_set(1718452860LL * 1000000000LL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kill9_loses_nothing_acknowledged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
