/*
 * store_bench — durable single-row writes per second through the store's
 * group commit, from 1, 8 and 64 concurrent blocking submitters and from
 * one event-loop-style async submitter, against a naive loop that commits
 * (and fsyncs) one transaction per write on a raw SQLite connection with
 * the same settings (WAL, synchronous=FULL). Every configuration runs in
 * the same process on a fresh database in the same directory, so the
 * numbers are comparable within one run.
 *
 * Usage: store_bench [-d DIR] [-s SECONDS]
 * Not a unit test: bench/store/run.sh builds and runs it.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

#define LAT_MAX 200000 /* latency samples kept per configuration */

static const char *g_dir = "/var/tmp";
static double g_seconds = 3.0;
static unsigned g_seq;

static const char *const schema[] = {
	"CREATE TABLE bench (id BIGINT PRIMARY KEY, payload BLOB NOT NULL)",
};

static void db_path(char *out, size_t cap)
{
	if (bw_snprintf(out, cap, "%s/store-bench-%d-%u.db", g_dir,
			(int)getpid(), g_seq++) < 0)
		fatalx("path too long");
}

static void db_remove(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[512];
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++)
		if (bw_snprintf(p, sizeof(p), "%s%s", path, sfx[i]) > 0)
			unlink(p);
}

/* ----------------------------------------------------------- latencies */

static int64_t lat[LAT_MAX];
static size_t nlat;
static pthread_mutex_t lat_mu = PTHREAD_MUTEX_INITIALIZER;

static void lat_add(int64_t ns)
{
	pthread_mutex_lock(&lat_mu);
	if (nlat < LAT_MAX)
		lat[nlat++] = ns;
	pthread_mutex_unlock(&lat_mu);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void lat_report(double *p50, double *p99)
{
	*p50 = *p99 = 0;
	if (!nlat)
		return;
	qsort(lat, nlat, sizeof(lat[0]), cmp64);
	*p50 = (double)lat[nlat / 2] / 1e6;
	*p99 = (double)lat[(nlat * 99) / 100] / 1e6;
}

static void print_row(const char *name, uint64_t writes, double secs,
		      uint64_t commits)
{
	double p50, p99;
	lat_report(&p50, &p99);
	printf("%-34s %9.0f writes/s  %8llu commits  %6.1f writes/commit"
	       "  p50 %6.2f ms  p99 %6.2f ms\n",
	       name, (double)writes / secs, (unsigned long long)commits,
	       commits ? (double)writes / (double)commits : 0.0, p50, p99);
	fflush(stdout);
	nlat = 0;
}

/* ---------------------------------------------------- naive baseline */

static void naive(void)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	unsigned char payload[64] = { 0 };
	db_path(path, sizeof(path));
	if (sqlite3_open(path, &db) != SQLITE_OK)
		fatalx("naive: open %s failed", path);
	if (sqlite3_exec(db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "CREATE TABLE bench (id BIGINT PRIMARY KEY,"
			 " payload BLOB NOT NULL)",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO bench VALUES (?, ?)", -1, &st,
			       NULL) != SQLITE_OK)
		fatalx("naive: setup failed: %s", sqlite3_errmsg(db));
	int64_t start = bw_clock_mono_ns();
	int64_t end = start + (int64_t)(g_seconds * 1e9);
	uint64_t n = 0;
	int64_t now = start;
	while (now < end) {
		/* Autocommit: each INSERT is its own transaction and fsync. */
		sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
		sqlite3_bind_blob(st, 2, payload, sizeof(payload),
				  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			fatalx("naive: insert failed: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
		n++;
		int64_t t = bw_clock_mono_ns();
		lat_add(t - now);
		now = t;
	}
	double secs = (double)(now - start) / 1e9;
	sqlite3_finalize(st);
	sqlite3_close(db);
	db_remove(path);
	print_row("naive: 1 tx per write, 1 thread", n, secs, n);
}

/* --------------------------------------------------- group commit */

struct submitter {
	struct store *s;
	int64_t base;
	int64_t end_ns;
	uint64_t done;
};

static int insert_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	int64_t id = *(int64_t *)arg;
	unsigned char payload[64] = { 0 };
	struct store_value v[] = { store_int(id),
				   store_blob(payload, sizeof(payload)) };
	return store_tx_exec(tx, "INSERT INTO bench VALUES (?, ?)", v, 2, err);
}

static void *submit_loop(void *arg)
{
	struct submitter *sub = arg;
	struct bw_err err;
	int64_t now = bw_clock_mono_ns();
	while (now < sub->end_ns) {
		int64_t id = sub->base + (int64_t)sub->done;
		if (store_write(sub->s, insert_job, &id, &err) != 0)
			fatalx("store_write: %s", err.msg);
		sub->done++;
		int64_t t = bw_clock_mono_ns();
		lat_add(t - now);
		now = t;
	}
	return NULL;
}

static struct store *open_fresh(char *path, size_t cap)
{
	struct bw_err err;
	db_path(path, cap);
	struct store_options o = { .path = path };
	struct store *s = store_open(&o, &err);
	if (!s || store_migrate(s, "bench", schema, 1, &err) != 0)
		fatalx("store: %s", err.msg);
	return s;
}

static void grouped(unsigned nthreads)
{
	char path[512], name[64];
	struct store *s = open_fresh(path, sizeof(path));
	struct store_stats st0, st1;
	pthread_t *t = calloc(nthreads, sizeof(*t));
	struct submitter *subs = calloc(nthreads, sizeof(*subs));
	if (!t || !subs)
		fatalx("out of memory");
	store_stats_get(s, &st0);
	int64_t start = bw_clock_mono_ns();
	for (unsigned i = 0; i < nthreads; i++) {
		subs[i] = (struct submitter){ s, (int64_t)i << 32,
					      start + (int64_t)(g_seconds * 1e9),
					      0 };
		if (pthread_create(&t[i], NULL, submit_loop, &subs[i]) != 0)
			fatalx("pthread_create failed");
	}
	uint64_t n = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		n += subs[i].done;
	}
	double secs = (double)(bw_clock_mono_ns() - start) / 1e9;
	store_stats_get(s, &st1);
	bw_snprintf(name, sizeof(name), "group commit: %u blocking thread%s",
		    nthreads, nthreads == 1 ? "" : "s");
	print_row(name, n, secs, st1.commits - st0.commits);
	store_close(s);
	db_remove(path);
	free(t);
	free(subs);
}

/* One thread submitting async, as an event loop would, keeping up to
 * `window` writes in flight; completions arrive on the writer thread. */
struct async_state {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned in_flight;
	uint64_t done;
};

struct async_job {
	int64_t id;
	int64_t t0;
	struct async_state *as;
};

static void async_done(void *arg, int rc, const struct bw_err *err)
{
	struct async_job *j = arg;
	struct async_state *as = j->as;
	if (rc != 0)
		fatalx("async write failed: %s", err->msg);
	lat_add(bw_clock_mono_ns() - j->t0);
	free(j);
	pthread_mutex_lock(&as->mu);
	as->in_flight--;
	as->done++;
	pthread_cond_signal(&as->cv);
	pthread_mutex_unlock(&as->mu);
}

static void async_window(unsigned window)
{
	char path[512], name[64];
	struct store *s = open_fresh(path, sizeof(path));
	struct store_stats st0, st1;
	struct async_state as = { .in_flight = 0 };
	struct bw_err err;
	pthread_mutex_init(&as.mu, NULL);
	pthread_cond_init(&as.cv, NULL);
	store_stats_get(s, &st0);
	int64_t start = bw_clock_mono_ns();
	int64_t end = start + (int64_t)(g_seconds * 1e9);
	int64_t id = 0;
	while (bw_clock_mono_ns() < end) {
		pthread_mutex_lock(&as.mu);
		while (as.in_flight >= window)
			pthread_cond_wait(&as.cv, &as.mu);
		as.in_flight++;
		pthread_mutex_unlock(&as.mu);
		struct async_job *j = malloc(sizeof(*j));
		if (!j)
			fatalx("out of memory");
		*j = (struct async_job){ id++, bw_clock_mono_ns(), &as };
		if (store_write_async(s, insert_job, &j->id, async_done, j,
				      &err) != 0)
			fatalx("store_write_async: %s", err.msg);
	}
	pthread_mutex_lock(&as.mu);
	while (as.in_flight)
		pthread_cond_wait(&as.cv, &as.mu);
	pthread_mutex_unlock(&as.mu);
	double secs = (double)(bw_clock_mono_ns() - start) / 1e9;
	store_stats_get(s, &st1);
	bw_snprintf(name, sizeof(name), "group commit: async, %u in flight",
		    window);
	print_row(name, as.done, secs, st1.commits - st0.commits);
	store_close(s);
	db_remove(path);
	pthread_cond_destroy(&as.cv);
	pthread_mutex_destroy(&as.mu);
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "d:s:")) != -1) {
		switch (c) {
		case 'd':
			g_dir = optarg;
			break;
		case 's':
			g_seconds = strtod(optarg, NULL);
			if (!(g_seconds > 0 && g_seconds < 3600))
				fatalx("bad -s");
			break;
		default:
			fprintf(stderr, "usage: %s [-d DIR] [-s SECONDS]\n",
				argv[0]);
			return 2;
		}
	}
	log_init("bench", BW_LOG_WARN, 2);
	printf("store_bench: durable (WAL, synchronous=FULL) single-row "
	       "inserts, %.1f s each, in %s, SQLite %s\n",
	       g_seconds, g_dir, sqlite3_libversion());
	naive();
	grouped(1);
	grouped(8);
	grouped(64);
	async_window(256);
	return 0;
}
