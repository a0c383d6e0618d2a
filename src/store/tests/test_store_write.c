/* Unit tests for store writes: group commit batching, savepoint isolation
 * of a failing job inside a batch, readers not seeing uncommitted work,
 * queue-full refusal (503), close draining the queue, re-entry refusal and
 * many threads writing and reading at once.
 *
 * Batches are made deterministic with a "gate" job: it blocks the writer
 * thread until the test opens the gate, so everything submitted meanwhile
 * is queued and lands in the next batch together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static char g_dir[64], g_path[96];
struct gate;
static struct gate *g_gate; /* opened by teardown if a test failed */
static void gate_open(struct gate *g);

static const char *const schema[] = {
	"CREATE TABLE t (id BIGINT PRIMARY KEY, who BIGINT NOT NULL)",
};

static struct store *open_store(unsigned queue_max, struct bw_err *err)
{
	struct store_options o = { .path = g_path, .queue_max = queue_max };
	struct store *s = store_open(&o, err);
	if (s && store_migrate(s, "t", schema, 1, err) != 0) {
		store_close(s);
		return NULL;
	}
	return s;
}

static int setup(void **state)
{
	struct bw_err err;
	bw_snprintf(g_dir, sizeof(g_dir), "/tmp/bw-store-write-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	bw_snprintf(g_path, sizeof(g_path), "%s/w.db", g_dir);
	struct store *s = open_store(0, &err);
	if (!s)
		return -1;
	*state = s;
	return 0;
}

static void remove_db(void)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[128];
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++)
		if (bw_snprintf(p, sizeof(p), "%s%s", g_path, sfx[i]) > 0)
			unlink(p);
	rmdir(g_dir);
}


static int teardown(void **state)
{
	if (g_gate)
		gate_open(g_gate);
	g_gate = NULL;
	store_close(*state);
	remove_db();
	return 0;
}

/* ------------------------------------------------------------ helpers */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered;
	bool open;
	int64_t insert_id; /* > 0: insert this row before waiting */
};

static void gate_init(struct gate *g, int64_t insert_id)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->insert_id = insert_id;
	g_gate = g;
}

static void gate_fini(struct gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

static int gate_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct gate *g = arg;
	if (g->insert_id > 0) {
		struct store_value v[] = { store_int(g->insert_id),
					   store_int(0) };
		if (store_tx_exec(tx, "INSERT INTO t (id, who) VALUES (?, ?)",
				  v, 2, err) != 0)
			return -1;
	}
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

static void gate_wait_entered(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->entered)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
	/* Once open there is nothing left for teardown to release, and the
	 * gate (on the test's stack) must not be touched after it returns. */
	if (g_gate == g)
		g_gate = NULL;
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Inserts id; with fail set, inserts and then fails, so the savepoint
 * must undo the insert. */
struct ins {
	int64_t id;
	int64_t who;
	bool fail;
	/* filled by done */
	int done_calls;
	int rc;
	struct bw_err err;
};

static int ins_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct ins *x = arg;
	struct store_value v[] = { store_int(x->id), store_int(x->who) };
	if (store_tx_exec(tx, "INSERT INTO t (id, who) VALUES (?, ?)", v, 2,
			  err) != 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return bw_err_set(err, 500, "test", "changes", "no change");
	if (x->fail)
		return bw_err_set(err, 422, "test", "refused",
				  "job %lld refused after writing",
				  (long long)x->id);
	return 0;
}

static void ins_done(void *arg, int rc, const struct bw_err *err)
{
	struct ins *x = arg;
	x->done_calls++;
	x->rc = rc;
	x->err = *err;
}

static int count_row(void *arg, const struct store_row *row,
		     struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

static int64_t count_rows(struct store *s, int64_t id)
{
	struct bw_err err;
	int64_t n = -1;
	int rc;
	if (id < 0) {
		rc = store_query_one(s, "SELECT COUNT(*) FROM t", NULL, 0,
				     count_row, &n, &err);
	} else {
		struct store_value v = store_int(id);
		rc = store_query_one(s, "SELECT COUNT(*) FROM t WHERE id = ?",
				     &v, 1, count_row, &n, &err);
	}
	assert_int_equal(rc, 1);
	return n;
}

/* -------------------------------------------------------------- tests */

static void failing_job_rolls_back_only_itself(void **state)
{
	struct store *s = *state;
	struct bw_err err;
	struct gate g;
	struct store_stats st0, st1;
	gate_init(&g, 0);
	store_stats_get(s, &st0);

	assert_int_equal(store_write_async(s, gate_job, &g, NULL, NULL, &err),
			 0);
	gate_wait_entered(&g);
	struct ins a = { .id = 1, .who = 1 };
	struct ins b = { .id = 2, .who = 2, .fail = true };
	struct ins c = { .id = 3, .who = 3 };
	struct ins dup = { .id = 1, .who = 4 }; /* conflicts with a */
	struct ins d = { .id = 4, .who = 5 };
	struct ins *all[] = { &a, &b, &c, &dup, &d };
	for (size_t i = 0; i < BW_ARRAY_LEN(all); i++)
		assert_int_equal(store_write_async(s, ins_job, all[i],
						   ins_done, all[i], &err),
				 0);
	gate_open(&g);
	/* A blocking write queues behind them and returns after their
	 * commit, so their callbacks have run by then. */
	struct ins e = { .id = 5, .who = 6 };
	assert_int_equal(store_write(s, ins_job, &e, &err), 0);

	for (size_t i = 0; i < BW_ARRAY_LEN(all); i++)
		assert_int_equal(all[i]->done_calls, 1);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.code, 422);
	assert_string_equal(b.err.reason, "refused");
	assert_int_equal(c.rc, 0);
	assert_int_equal(dup.rc, -1);
	assert_int_equal(dup.err.code, 409);
	assert_int_equal(d.rc, 0);

	assert_int_equal(count_rows(s, 1), 1);
	assert_int_equal(count_rows(s, 2), 0); /* b's insert was undone */
	assert_int_equal(count_rows(s, 3), 1);
	assert_int_equal(count_rows(s, 4), 1);
	assert_int_equal(count_rows(s, -1), 4);
	int64_t who = 0;
	struct store_value k = store_int(1);
	assert_int_equal(store_query_one(s, "SELECT who FROM t WHERE id = ?",
					 &k, 1, count_row, &who, &err),
			 1);
	assert_int_equal(who, 1); /* dup did not overwrite */

	store_stats_get(s, &st1);
	/* gate alone, then the five queued jobs in ONE commit, plus e (which
	 * may have joined them). */
	assert_true(st1.max_batch_seen >= 5);
	assert_true(st1.commits - st0.commits <= 3);
	assert_int_equal(st1.jobs_failed - st0.jobs_failed, 2);
	assert_int_equal(st1.jobs_ok - st0.jobs_ok, 5); /* gate a c d e */
	gate_fini(&g);
}

static void readers_do_not_see_uncommitted_writes(void **state)
{
	struct store *s = *state;
	struct bw_err err;
	struct gate g;
	gate_init(&g, 42);
	assert_int_equal(store_write_async(s, gate_job, &g, NULL, NULL, &err),
			 0);
	gate_wait_entered(&g);
	/* Row 42 is inserted but not committed: readers do not see it, and
	 * they are not blocked by the open write transaction. */
	assert_int_equal(count_rows(s, 42), 0);
	gate_open(&g);
	struct ins x = { .id = 43, .who = 1 };
	assert_int_equal(store_write(s, ins_job, &x, &err), 0);
	assert_int_equal(count_rows(s, 42), 1);
	gate_fini(&g);
}

static int reenter_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct store *s = arg;
	struct bw_err e;
	if (store_exec(s, "DELETE FROM t", NULL, 0, NULL, &e) != -1 ||
	    strcmp(e.reason, "reentrant") != 0)
		return bw_err_set(err, 500, "test", "no_guard",
				  "nested blocking write was not refused");
	if (store_migrate(s, "x", schema, 1, &e) != -1)
		return bw_err_set(err, 500, "test", "no_guard",
				  "nested migrate was not refused");
	/* A job may read its own writes. */
	struct store_value v[] = { store_int(77), store_int(7) };
	if (store_tx_exec(tx, "INSERT INTO t (id, who) VALUES (?, ?)", v, 2,
			  err) != 0)
		return -1;
	int64_t n = 0;
	if (store_tx_query(tx, "SELECT COUNT(*) FROM t WHERE id = ?", v, 1,
			   count_row, &n, err) != 0)
		return -1;
	return n == 1 ? 0
		      : bw_err_set(err, 500, "test", "own_write",
				   "job does not see its own write");
}

static int control_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	static const char *const sql[] = {
		"COMMIT", "rollback", "  /* x */ BEGIN IMMEDIATE", "END",
		"SAVEPOINT job", "RELEASE SAVEPOINT job",
		"ATTACH DATABASE '/tmp/other.db' AS o", "DETACH o",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(sql); i++) {
		struct bw_err e = { 0 };
		if (store_tx_exec(tx, sql[i], NULL, 0, &e) != -1 ||
		    strcmp(e.reason, "sql_control") != 0)
			return bw_err_set(err, 500, "test", "no_guard",
					  "%s was not refused", sql[i]);
	}
	struct ins x = { .id = 88 };
	return ins_job(tx, &x, err);
}

static void jobs_cannot_control_the_transaction(void **state)
{
	struct store *s = *state;
	struct bw_err err;
	/* The writer's own COMMIT is cached on the connection first, so the
	 * refusal must not be bypassed by a statement-cache hit. */
	struct ins y = { .id = 87 };
	assert_int_equal(store_write(s, ins_job, &y, &err), 0);
	assert_int_equal(store_write(s, control_job, NULL, &err), 0);
	assert_int_equal(count_rows(s, 88), 1);
	assert_int_equal(store_exec(s, "COMMIT", NULL, 0, NULL, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(store_query(s, "BEGIN", NULL, 0, NULL, NULL, &err),
			 -1);
	assert_string_equal(err.reason, "sql_control");
	static const char *const mig[] = {
		"CREATE TABLE m (a BIGINT); COMMIT; CREATE TABLE n (b BIGINT)",
	};
	assert_int_equal(store_migrate(s, "m", mig, 1, &err), -1);
	assert_string_equal(err.reason, "sql_control");
}

static void jobs_cannot_block_on_the_writer(void **state)
{
	struct store *s = *state;
	struct bw_err err;
	assert_int_equal(store_write(s, reenter_job, s, &err), 0);
	assert_int_equal(count_rows(s, 77), 1);
	assert_int_equal(store_write(s, NULL, NULL, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(store_write_async(s, NULL, NULL, NULL, NULL, &err),
			 -1);
}

static void full_queue_refuses_async_with_503(void **state)
{
	struct bw_err err;
	store_close(*state);
	remove_db();
	bw_snprintf(g_dir, sizeof(g_dir), "/tmp/bw-store-write-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	bw_snprintf(g_path, sizeof(g_path), "%s/w.db", g_dir);
	struct store *s = open_store(4, &err);
	assert_non_null(s);
	*state = s;

	struct gate g;
	gate_init(&g, 0);
	assert_int_equal(store_write_async(s, gate_job, &g, NULL, NULL, &err),
			 0);
	gate_wait_entered(&g); /* the gate left the queue: 4 slots free */
	struct ins x[6];
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 4; i++) {
		x[i].id = 100 + i;
		assert_int_equal(store_write_async(s, ins_job, &x[i], ins_done,
						   &x[i], &err),
				 0);
	}
	x[4].id = 104;
	err.code = 0;
	assert_int_equal(store_write_async(s, ins_job, &x[4], ins_done, &x[4],
					   &err),
			 -1);
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "overloaded");
	struct store_stats st;
	store_stats_get(s, &st);
	assert_int_equal(st.overloaded, 1);

	gate_open(&g);
	x[5].id = 105;
	/* A blocking write waits for room instead of failing. */
	assert_int_equal(store_write(s, ins_job, &x[5], &err), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(x[i].done_calls, 1);
	assert_int_equal(x[4].done_calls, 0); /* refused: never called */
	assert_int_equal(count_rows(s, 104), 0);
	assert_int_equal(count_rows(s, -1), 5);
	gate_fini(&g);
}

struct late {
	struct store *s;
	int rc;
	struct bw_err err;
	int calls;
};

static void late_done(void *arg, int rc, const struct bw_err *err)
{
	struct late *l = arg;
	l->calls++;
	l->rc = store_write_async(l->s, ins_job, NULL, NULL, NULL, &l->err);
}

static void *open_gate_later(void *arg)
{
	usleep(50 * 1000);
	gate_open(arg);
	return NULL;
}

static void close_drains_the_queue(void **state)
{
	struct store *s = *state;
	struct bw_err err;
	struct gate g;
	gate_init(&g, 0);
	assert_int_equal(store_write_async(s, gate_job, &g, NULL, NULL, &err),
			 0);
	gate_wait_entered(&g);
	struct ins x[10];
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 10; i++) {
		x[i].id = 200 + i;
		assert_int_equal(store_write_async(s, ins_job, &x[i], ins_done,
						   &x[i], &err),
				 0);
	}
	struct late l = { .s = s };
	struct ins y = { .id = 300 };
	assert_int_equal(store_write_async(s, ins_job, &y, late_done, &l,
					   &err),
			 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, open_gate_later, &g), 0);
	store_close(s); /* waits for the gate, then runs all 11 */
	pthread_join(t, NULL);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(x[i].done_calls, 1);
		assert_int_equal(x[i].rc, 0);
	}
	assert_int_equal(l.calls, 1);
	assert_int_equal(l.rc, -1);
	assert_int_equal(l.err.code, 503);
	assert_string_equal(l.err.reason, "closing");

	s = open_store(0, &err);
	assert_non_null(s);
	*state = s;
	assert_int_equal(count_rows(s, -1), 11);
	gate_fini(&g);
}

/* --------------------------------------------------------- concurrency */

#define WRITERS 8
#define WRITES_EACH 150
#define READERS 4

struct worker {
	struct store *s;
	int n;
	int failures;
	int *stop;
	int64_t last_seen;
};

static void *writer_thread(void *arg)
{
	struct worker *w = arg;
	struct bw_err err;
	for (int i = 0; i < WRITES_EACH; i++) {
		struct ins x = { .id = 10000 + w->n * WRITES_EACH + i,
				 .who = w->n };
		if (store_write(w->s, ins_job, &x, &err) != 0)
			w->failures++;
	}
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct worker *w = arg;
	struct bw_err err;
	while (!__atomic_load_n(w->stop, __ATOMIC_SEQ_CST)) {
		int64_t n = -1;
		if (store_query_one(w->s, "SELECT COUNT(*) FROM t", NULL, 0,
				    count_row, &n, &err) != 1) {
			w->failures++;
			continue;
		}
		/* Committed rows only ever grow. */
		if (n < w->last_seen)
			w->failures++;
		w->last_seen = n;
	}
	return NULL;
}

static void many_threads_write_and_read(void **state)
{
	struct store *s = *state;
	pthread_t wt[WRITERS], rt[READERS];
	struct worker ww[WRITERS], rw[READERS];
	int stop = 0;
	struct store_stats st;
	for (int i = 0; i < READERS; i++) {
		rw[i] = (struct worker){ .s = s, .n = i, .stop = &stop };
		assert_int_equal(pthread_create(&rt[i], NULL, reader_thread,
						&rw[i]),
				 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		ww[i] = (struct worker){ .s = s, .n = i, .stop = &stop };
		assert_int_equal(pthread_create(&wt[i], NULL, writer_thread,
						&ww[i]),
				 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(ww[i].failures, 0);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(rw[i].failures, 0);
	assert_int_equal(count_rows(s, -1), WRITERS * WRITES_EACH);
	store_stats_get(s, &st);
	/* Eight submitters at once share commits. */
	assert_true(st.commits < (uint64_t)(WRITERS * WRITES_EACH));
	assert_true(st.max_batch_seen > 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(failing_job_rolls_back_only_itself,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			readers_do_not_see_uncommitted_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(jobs_cannot_block_on_the_writer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			jobs_cannot_control_the_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(full_queue_refuses_async_with_503,
						setup, teardown),
		cmocka_unit_test_setup_teardown(close_drains_the_queue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(many_threads_write_and_read,
						setup, teardown),
	};
	log_init("test", BW_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
