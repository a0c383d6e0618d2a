/*
 * store_write — the writer thread and group commit.
 *
 * Submitters append jobs to one FIFO queue. The writer thread takes every
 * queued job (at most max_batch), opens one transaction, runs each job
 * inside SAVEPOINT job ... RELEASE (or ROLLBACK TO on failure, so a failing
 * job undoes only its own changes), commits once, and only then reports
 * each job's result: a blocking submitter is woken, an async job's done
 * callback runs. One fsync therefore covers the whole batch, which is what
 * makes many concurrent durable writes cheap (docs/internals/STORE.md has
 * the numbers).
 *
 * Invariants:
 *  - no job is reported successful before the COMMIT that contains it
 *    returned; if COMMIT fails every job of the batch fails;
 *  - if the engine abandons the transaction on its own (I/O error, disk
 *    full), the jobs already run in it are failed and the rest of the batch
 *    continues in a new transaction;
 *  - solo jobs (migration steps) run in a transaction of their own;
 *  - after store_close begins no job is accepted, and every job accepted
 *    before is run and reported before the writer exits.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static void job_fail(struct store_job *j, const struct bw_err *why)
{
	j->rc = -1;
	if (why)
		j->err = *why;
	if (j->err.code == 0)
		bw_err_set(&j->err, 500, STORE_MOD, "job_failed",
			   "write job failed without a reason");
}

/* Marks every job in [from, to) that had succeeded as failed with why. */
static void fail_range(struct store_job *from, struct store_job *to,
		       const struct bw_err *why)
{
	for (struct store_job *j = from; j != to; j = j->next)
		if (j->rc == 0)
			job_fail(j, why);
}

static void run_batch(struct store *s, struct store_job *batch)
{
	const struct store_driver *d = s->drv;
	struct store_conn *c = s->wconn;
	struct store_job *tx_first = batch; /* jobs in the open transaction */
	struct bw_err e;
	bool open = false;

	for (struct store_job *j = batch; j; j = j->next) {
		j->rc = 0;
		bw_err_clear(&j->err);
		if (!open) {
			bw_err_clear(&e);
			if (d->txop(c, STORE_TX_BEGIN, &e) != 0) {
				job_fail(j, &e);
				continue;
			}
			open = true;
			tx_first = j;
		}
		bw_err_clear(&e);
		if (d->txop(c, STORE_TX_SAVEPOINT, &e) != 0) {
			job_fail(j, &e);
		} else {
			struct store_tx tx = { s, c, 0 };
			if (j->fn(&tx, j->arg, &j->err) != 0)
				job_fail(j, NULL);
			if (d->in_tx(c)) {
				bw_err_clear(&e);
				if (j->rc != 0 &&
				    d->txop(c, STORE_TX_ROLLBACK_TO, &e) != 0)
					log_warnx("store: rollback to savepoint failed: %s",
						  e.msg);
				bw_err_clear(&e);
				if (d->txop(c, STORE_TX_RELEASE, &e) != 0 &&
				    j->rc == 0)
					job_fail(j, &e);
			}
		}
		if (!d->in_tx(c)) {
			/* The engine rolled the whole transaction back. */
			bw_err_set(&e, 500, STORE_MOD, "tx_aborted",
				   "transaction aborted by the database");
			fail_range(tx_first, j->next, &e);
			open = false;
		}
	}
	if (!open)
		return;
	bw_err_clear(&e);
	if (d->txop(c, STORE_TX_COMMIT, &e) != 0) {
		log_warnx("store: group commit failed: %s", e.msg);
		fail_range(tx_first, NULL, &e);
		struct bw_err e2;
		bw_err_clear(&e2);
		if (d->in_tx(c) && d->txop(c, STORE_TX_ROLLBACK, &e2) != 0)
			log_warnx("store: rollback failed: %s", e2.msg);
	}
}

/* Reports every job of a committed batch, in submission order. */
static void finish_batch(struct store *s, struct store_job *batch,
			 unsigned n)
{
	unsigned ok = 0;
	for (struct store_job *j = batch; j; j = j->next)
		ok += j->rc == 0;
	pthread_mutex_lock(&s->mu);
	s->stats.commits++;
	s->stats.jobs_ok += ok;
	s->stats.jobs_failed += n - ok;
	if (n > s->stats.max_batch_seen)
		s->stats.max_batch_seen = n;
	pthread_mutex_unlock(&s->mu);

	struct store_job *j = batch;
	while (j) {
		struct store_job *next = j->next;
		if (j->wake) {
			/* The submitter owns j and may return the moment it
			 * sees finished, so j is not touched after unlock. */
			pthread_mutex_lock(&s->mu);
			j->finished = true;
			pthread_cond_signal(j->wake);
			pthread_mutex_unlock(&s->mu);
		} else {
			if (j->done)
				j->done(j->done_arg, j->rc, &j->err);
			bw_wipe(&j->err, sizeof(j->err));
			pthread_mutex_lock(&s->mu);
			j->next = s->free_slots;
			s->free_slots = j;
			pthread_mutex_unlock(&s->mu);
		}
		j = next;
	}
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	/* named for top -H / perf: which thread spends what */
	(void)pthread_setname_np(pthread_self(), "store-writer");
	store_guard_set_writer();
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->head && !s->closing)
			pthread_cond_wait(&s->work_cv, &s->mu);
		if (!s->head) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		/* Take the batch: a solo job alone, otherwise jobs up to
		 * max_batch, stopping before the next solo job. */
		struct store_job *batch = s->head, *last = s->head;
		unsigned n = 1;
		if (!batch->solo) {
			while (n < s->cfg.max_batch && last->next &&
			       !last->next->solo) {
				last = last->next;
				n++;
			}
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		s->queued -= n;
		pthread_cond_broadcast(&s->room_cv);
		pthread_mutex_unlock(&s->mu);

		run_batch(s, batch);
		finish_batch(s, batch, n);
	}
	return NULL;
}

int store_writer_start(struct store *s, struct bw_err *err)
{
	int rc = pthread_create(&s->writer, NULL, writer_main, s);
	if (rc != 0)
		return bw_err_set(err, 500, STORE_MOD, "thread",
				  "cannot start the writer thread (%d)", rc);
	s->writer_started = true;
	return 0;
}

void store_writer_stop(struct store *s)
{
	if (!s->writer_started)
		return;
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_cond_broadcast(&s->room_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->writer, NULL);
	s->writer_started = false;
}

/* Appends j; called with s->mu held. */
static void enqueue(struct store *s, struct store_job *j)
{
	j->next = NULL;
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->queued++;
	pthread_cond_signal(&s->work_cv);
}

int store_write_job(struct store *s, store_job_fn fn, void *arg, bool solo,
		    struct bw_err *err)
{
	if (!fn)
		return bw_err_set(err, 400, STORE_MOD, "bad_job", "no job");
	if (store_guard_on_writer() || store_guard_in_callback())
		return bw_err_set(err, 500, STORE_MOD, "reentrant",
				  "blocking write from the writer thread or a row callback");
	pthread_cond_t wake;
	pthread_cond_init(&wake, NULL);
	struct store_job j = {
		.fn = fn, .arg = arg, .wake = &wake, .solo = solo,
	};
	int rc;
	pthread_mutex_lock(&s->mu);
	while (!s->closing && s->queued >= s->cfg.queue_max)
		pthread_cond_wait(&s->room_cv, &s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		pthread_cond_destroy(&wake);
		return bw_err_set(err, 503, STORE_MOD, "closing",
				  "store is closing");
	}
	enqueue(s, &j);
	while (!j.finished)
		pthread_cond_wait(&wake, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&wake);
	rc = j.rc;
	if (rc != 0 && err)
		*err = j.err;
	bw_wipe(&j.err, sizeof(j.err));
	return rc;
}

int store_write(struct store *s, store_job_fn fn, void *arg,
		struct bw_err *err)
{
	return store_write_job(s, fn, arg, false, err);
}

int store_write_async(struct store *s, store_job_fn fn, void *arg,
		      store_done_fn done, void *done_arg, struct bw_err *err)
{
	if (!fn)
		return bw_err_set(err, 400, STORE_MOD, "bad_job", "no job");
	pthread_mutex_lock(&s->mu);
	if (s->closing) {
		pthread_mutex_unlock(&s->mu);
		return bw_err_set(err, 503, STORE_MOD, "closing",
				  "store is closing");
	}
	struct store_job *j = s->free_slots;
	if (!j || s->queued >= s->cfg.queue_max) {
		s->stats.overloaded++;
		unsigned q = s->queued;
		pthread_mutex_unlock(&s->mu);
		return bw_err_set(err, 503, STORE_MOD, "overloaded",
				  "write queue full (%u jobs)", q);
	}
	s->free_slots = j->next;
	memset(j, 0, sizeof(*j));
	j->fn = fn;
	j->arg = arg;
	j->done = done;
	j->done_arg = done_arg;
	enqueue(s, j);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ------------------------------------------------------------ store_exec */

struct exec_job {
	const char *sql;
	const struct store_value *binds;
	size_t nbinds;
	int64_t changes;
};

static int exec_fn(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct exec_job *x = arg;
	if (store_tx_exec(tx, x->sql, x->binds, x->nbinds, err) != 0)
		return -1;
	x->changes = store_tx_changes(tx);
	return 0;
}

int store_exec(struct store *s, const char *sql,
	       const struct store_value *binds, size_t nbinds,
	       int64_t *changes, struct bw_err *err)
{
	struct exec_job x = { sql, binds, nbinds, 0 };
	if (store_write(s, exec_fn, &x, err) != 0)
		return -1;
	if (changes)
		*changes = x.changes;
	return 0;
}
