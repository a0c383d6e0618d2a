/* kill -9 during ingest: nothing acknowledged is lost.
 *
 * A child process runs the SIEM (durability full) with its RELP listener;
 * the parent streams numbered syslog messages over RELP, keeping a
 * window of unacknowledged ones in flight, and records every message the
 * child acknowledged. At a chosen depth the parent kill -9s the child
 * while traffic is in flight, reopens the same data directory and checks
 * that every acknowledged message is stored, exactly once. Three rounds
 * on the same directory, killed at different depths, so recovery after a
 * crash (catalog, ids, partitions) is exercised as well. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>

#include "siem_harness.h"

#define MAXMSG 200000

static char g_dir[64];
static uint8_t *acked;	 /* [MAXMSG] acked by the child */
static uint8_t *seen;	 /* [MAXMSG] found in the store */

static void child(int wfd)
{
	struct harness h;
	struct bw_err err;
	if (net_fetch_global_init(&err) < 0)
		_exit(2);
	h_fixed_dir = g_dir;
	if (h_start_conf(&h, "  durability: full\n", true) < 0)
		_exit(3);
	uint16_t port = h.relp_port;
	if (write(wfd, &port, sizeof(port)) != sizeof(port))
		_exit(4);
	close(wfd);
	for (;;)
		pause();
}

struct doc_scan {
	int64_t dup;
};

static int doc_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct doc_scan *d = arg;
	struct bw_str doc = store_row_text(row, 0);
	const char *m = memmem(doc.p, doc.len, "crashmsg ", 9);
	if (!m)
		return STORE_ROW_NEXT;
	long id = strtol(m + 9, NULL, 10);
	if (id >= 0 && id < MAXMSG) {
		if (seen[id])
			d->dup++;
		seen[id] = 1;
	}
	return STORE_ROW_NEXT;
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
	uint16_t port = 0;
	assert_int_equal(read(p[0], &port, sizeof(port)), (ssize_t)sizeof(port));
	close(p[0]);
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
	for (int64_t i = 1; i <= days[0]; i++) {
		char name[32], sql[128];
		siem_part_name(days[i], name);
		snprintf(sql, sizeof(sql), "SELECT doc FROM %s", name);
		assert_int_equal(store_query(h.svc->st, sql, NULL, 0, doc_row, &ds, &err), 0);
	}
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
