/*
 * audit_log — the live audit log: open and recover, a bounded queue of
 * appends, and one writer thread that commits them in groups.
 *
 * Group commit. Callers validate and pre-serialise their record on their
 * own thread (audit_prep_record), then, under `mu`, take the next seq and
 * a time (clamped so times never decrease) and enqueue. The writer takes
 * everything queued at once, finishes each line (prev chains to the line
 * before, which only the writer knows), appends the leaves to the Merkle
 * tree, writes the lines (and an STH when one is due) and calls
 * fdatasync() once for the whole group; only then does it mark the group
 * done and wake the waiters. So one fsync is shared by every append that
 * arrived while the previous one was running.
 *
 * Invariants:
 *  - ring order == seq order == file order (seq is assigned under mu at
 *    enqueue; the writer takes from the ring head in order);
 *  - prev_hash, w_size, last_sth_* and wbuf belong to the writer thread;
 *  - tree is appended only by the writer, under tree_mu; readers (proofs)
 *    take tree_mu and use sizes <= durable_size;
 *  - a failed write or fsync sets `failed` for good: after fsyncgate,
 *    retrying an fsync proves nothing, so the log refuses everything and
 *    must be reopened (recovery then decides from what is on disk);
 *  - a sync waiter's struct pending lives on its stack: the writer never
 *    touches it after setting finished under mu;
 *  - mu and tree_mu are never held together, and neither is held while
 *    signing or doing I/O.
 */
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pending {
	struct audit_prep prep;
	uint64_t seq;
	int64_t time_ms;
	audit_done_fn done; /* NULL for a sync waiter */
	void *arg;
	bool finished;
	int status;
	struct bw_err err;
};

struct audit_log {
	struct audit_config cfg;
	char path[4096];
	int fd;

	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* writer waits (CLOCK_MONOTONIC) */
	pthread_cond_t done_cv; /* sync appenders wait */
	struct pending **ring;
	size_t ring_cap, head, count;
	uint64_t next_seq;
	int64_t last_time_ms; /* last time given to a record */
	bool closing, failed, sth_requested;
	struct bw_err fail_err;
	struct audit_log_stats stats;
	pthread_t thread;
	bool thread_started;

	/* writer thread only */
	struct pending **batch;
	struct bw_buf wbuf;
	uint8_t prev_hash[AUDIT_HASH_LEN];
	uint64_t w_size;
	uint64_t last_sth_size;
	int64_t last_sth_ms;      /* wall time written in the last STH */
	int64_t last_rec_ms;      /* time of the last record written */
	int64_t last_sth_mono_ms; /* when the last STH was written */

	pthread_mutex_t tree_mu;
	struct audit_tree *tree;
	uint64_t durable_size;
	uint8_t durable_root[AUDIT_HASH_LEN];
};

void audit_config_defaults(struct audit_config *c)
{
	memset(c, 0, sizeof(*c));
	c->file_name = "audit.log";
	c->queue_max = AUDIT_QUEUE_DEFAULT;
	c->line_max = AUDIT_LINE_MAX_DEFAULT;
	c->sth_every_records = AUDIT_STH_EVERY_RECORDS_DEFAULT;
	c->sth_every_ms = AUDIT_STH_EVERY_MS_DEFAULT;
}

/* ------------------------------------------------------------- writer */

static int write_all(int fd, const char *p, size_t n, struct bw_err *err)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return bw_err_set(err, 500, "audit", "write",
					  "audit log write: %s",
					  w < 0 ? strerror(errno) : "no progress");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Whether a timed STH is pending at all, and whether it is due now. Read
 * by the writer only (with mu held in wait_for_work, for `failed`). */
static bool sth_timer_armed(const struct audit_log *log)
{
	return !log->failed && log->cfg.signer && log->cfg.sth_every_ms &&
	       log->w_size > log->last_sth_size;
}

static bool sth_due_by_time(const struct audit_log *log)
{
	return sth_timer_armed(log) &&
	       bw_clock_mono_ms() - log->last_sth_mono_ms >=
		       (int64_t)log->cfg.sth_every_ms;
}

/* Appends an STH line for the current tree to wbuf. No lock is held
 * while signing, which may be slow (later: a round trip to the keystore).
 * A signing failure is logged and skipped (the records stay
 * durable; the next STH covers them), so a flaky keystore cannot stop the
 * audit log. */
static void sth_append(struct audit_log *log)
{
	uint8_t root[AUDIT_HASH_LEN], msg[AUDIT_STH_MSG_LEN], sig[AUDIT_SIG_LEN];
	struct bw_err err = { 0 };
	int64_t t = bw_clock_now_ns() / 1000000;
	if (t < log->last_rec_ms)
		t = log->last_rec_ms;
	if (t < log->last_sth_ms)
		t = log->last_sth_ms;
	pthread_mutex_lock(&log->tree_mu);
	int rc = audit_tree_root(log->tree, log->w_size, root, &err);
	pthread_mutex_unlock(&log->tree_mu);
	BW_ASSERT(rc == 0);
	audit_sth_message(log->w_size, t, root, msg);
	if (log->cfg.signer->sign(log->cfg.signer->ctx, msg, sizeof(msg), sig,
				  &err) < 0) {
		log_warnx("audit: signing the tree head failed, will retry: %s",
			  err.msg);
		/* Retry after another interval, not in a tight loop. */
		log->last_sth_mono_ms = bw_clock_mono_ms();
		return;
	}
	if (audit_sth_line_build(&log->wbuf, log->w_size, t, root,
				 log->cfg.signer->pubkey, sig) < 0) {
		log_warnx("audit: STH line does not fit the write buffer");
		return;
	}
	log->last_sth_size = log->w_size;
	log->last_sth_ms = t;
	log->last_sth_mono_ms = bw_clock_mono_ms();
	pthread_mutex_lock(&log->mu);
	log->stats.sths++;
	pthread_mutex_unlock(&log->mu);
}

/* Writes and fsyncs one group. Returns 0 when every line is durable. */
static int commit_batch(struct audit_log *log, struct pending **b, size_t n,
			bool want_sth, struct bw_err *err)
{
	bw_buf_reset(&log->wbuf);
	for (size_t i = 0; i < n; i++) {
		size_t start = log->wbuf.len;
		if (audit_line_build(&log->wbuf, &b[i]->prep, b[i]->seq,
				     b[i]->time_ms, log->prev_hash) < 0)
			return bw_err_set(err, 500, "audit", "internal",
					  "record line overflowed the write "
					  "buffer");
		const char *line = log->wbuf.data + start;
		size_t len = log->wbuf.len - start - 1; /* without '\n' */
		uint8_t leaf[AUDIT_HASH_LEN];
		audit_sha256(line, len, NULL, 0, NULL, 0, log->prev_hash);
		audit_leaf_hash(line, len, leaf);
		/* tree_mu per leaf, not per batch: proof readers and stats
		 * never wait behind a batch's I/O or a slow signer. */
		pthread_mutex_lock(&log->tree_mu);
		int rc = audit_tree_append(log->tree, leaf, err);
		pthread_mutex_unlock(&log->tree_mu);
		if (rc < 0)
			return -1;
		log->w_size++;
		log->last_rec_ms = b[i]->time_ms;
		/* "Every N records" holds inside a large batch too: the STH
		 * goes right after the Nth record's line. */
		if (log->cfg.signer && log->cfg.sth_every_records &&
		    log->w_size - log->last_sth_size >=
			    log->cfg.sth_every_records)
			sth_append(log);
		if (log->wbuf.len >= AUDIT_WRITE_CHUNK) {
			if (write_all(log->fd, log->wbuf.data, log->wbuf.len,
				      err) < 0)
				return -1;
			bw_buf_reset(&log->wbuf);
		}
	}
	if (log->cfg.signer && log->w_size > log->last_sth_size &&
	    (want_sth || sth_due_by_time(log)))
		sth_append(log);

	if (n == 0 && log->wbuf.len == 0)
		return 0; /* an STH was asked for but nothing needed signing */
	if (log->wbuf.len > 0 &&
	    write_all(log->fd, log->wbuf.data, log->wbuf.len, err) < 0)
		return -1;
	if (fdatasync(log->fd) < 0)
		return bw_err_set(err, 500, "audit", "fsync",
				  "audit log fdatasync: %s", strerror(errno));

	uint8_t root[AUDIT_HASH_LEN];
	pthread_mutex_lock(&log->tree_mu);
	int rc = audit_tree_root(log->tree, log->w_size, root, NULL);
	BW_ASSERT(rc == 0);
	memcpy(log->durable_root, root, AUDIT_HASH_LEN);
	log->durable_size = log->w_size;
	pthread_mutex_unlock(&log->tree_mu);
	return 0;
}

static void finish_async(struct pending *p)
{
	p->done(p->arg, p->status, p->seq, p->status < 0 ? &p->err : NULL);
	bw_buf_fini(&p->prep.buf);
	free(p);
}

static void wait_for_work(struct audit_log *log)
{
	while (log->count == 0 && !log->closing && !log->sth_requested &&
	       !sth_due_by_time(log)) {
		if (sth_timer_armed(log)) {
			int64_t due = log->last_sth_mono_ms +
				      (int64_t)log->cfg.sth_every_ms;
			struct timespec ts = { .tv_sec = due / 1000,
					       .tv_nsec = (due % 1000) * 1000000 };
			pthread_cond_timedwait(&log->work_cv, &log->mu, &ts);
		} else {
			pthread_cond_wait(&log->work_cv, &log->mu);
		}
	}
}

static void *writer_main(void *arg)
{
	struct audit_log *log = arg;
	pthread_mutex_lock(&log->mu);
	for (;;) {
		wait_for_work(log);
		size_t n = 0;
		while (log->count > 0) {
			log->batch[n++] = log->ring[log->head];
			log->head = (log->head + 1) % log->ring_cap;
			log->count--;
		}
		bool closing = log->closing;
		bool want_sth = closing || log->sth_requested;
		log->sth_requested = false;
		bool failed = log->failed;
		pthread_mutex_unlock(&log->mu);

		struct bw_err err = { 0 };
		int rc = -1;
		if (failed)
			err = log->fail_err;
		else if (n > 0 || want_sth || sth_due_by_time(log))
			rc = commit_batch(log, log->batch, n, want_sth, &err);
		else
			rc = 0;

		pthread_mutex_lock(&log->mu);
		if (rc < 0 && !failed) {
			log->failed = true;
			log->fail_err = err;
			log->stats.failures++;
			log_warnx("audit: %s; the audit log refuses appends "
				  "until it is reopened",
				  err.msg);
		}
		if (rc == 0) {
			log->stats.appended += n;
			log->stats.batches += n > 0;
			if (n > log->stats.max_batch)
				log->stats.max_batch = n;
		}
		bool any_async = false;
		for (size_t i = 0; i < n; i++) {
			struct pending *p = log->batch[i];
			p->status = rc;
			if (rc < 0) {
				p->err = err;
				p->err.code = 500;
				bw_snprintf(p->err.reason, sizeof(p->err.reason),
					    "log_failed");
			}
			if (p->done)
				any_async = true;
			else
				p->finished = true;
		}
		pthread_cond_broadcast(&log->done_cv);
		bool stop = closing && log->count == 0;
		pthread_mutex_unlock(&log->mu);

		/* Async callbacks run outside the lock so they may enqueue
		 * elsewhere or take their own locks. */
		if (any_async)
			for (size_t i = 0; i < n; i++)
				if (log->batch[i]->done)
					finish_async(log->batch[i]);
		pthread_mutex_lock(&log->mu);
		if (stop)
			break;
	}
	pthread_mutex_unlock(&log->mu);
	return NULL;
}

/* ------------------------------------------------------------ appends */

static int enqueue(struct audit_log *log, struct pending *p, struct bw_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&log->mu);
	if (log->failed) {
		rc = bw_err_set(err, 500, "audit", "log_failed",
				"audit log failed earlier: %s",
				log->fail_err.msg);
	} else if (log->closing) {
		rc = bw_err_set(err, 503, "audit", "closing",
				"audit log is closing");
	} else if (log->count == log->ring_cap) {
		log->stats.refused_full++;
		rc = bw_err_set(err, 503, "audit", "queue_full",
				"audit queue full (%zu pending)", log->count);
	} else if (log->next_seq > AUDIT_SEQ_MAX) {
		rc = bw_err_set(err, 500, "audit", "full",
				"audit log reached its maximum size");
	} else {
		int64_t t = bw_clock_now_ns() / 1000000;
		if (t < log->last_time_ms)
			t = log->last_time_ms; /* the clock stepped back */
		log->last_time_ms = t;
		p->time_ms = t;
		p->seq = log->next_seq++;
		log->ring[(log->head + log->count) % log->ring_cap] = p;
		log->count++;
		pthread_cond_signal(&log->work_cv);
	}
	pthread_mutex_unlock(&log->mu);
	return rc;
}

int audit_append(struct audit_log *log, const struct audit_record *rec,
		 uint64_t *seq, struct bw_err *err)
{
	struct pending p = { 0 };
	bw_buf_init(&p.prep.buf, log->cfg.line_max);
	int rc = -1;
	if (audit_prep_record(rec, log->cfg.line_max, &p.prep, err) < 0 ||
	    enqueue(log, &p, err) < 0)
		goto out;
	pthread_mutex_lock(&log->mu);
	while (!p.finished)
		pthread_cond_wait(&log->done_cv, &log->mu);
	pthread_mutex_unlock(&log->mu);
	if (p.status < 0) {
		if (err)
			*err = p.err;
		goto out;
	}
	if (seq)
		*seq = p.seq;
	rc = 0;
out:
	bw_buf_fini(&p.prep.buf);
	return rc;
}

int audit_append_async(struct audit_log *log, const struct audit_record *rec,
		       audit_done_fn done, void *arg, struct bw_err *err)
{
	if (!done)
		return bw_err_set(err, 400, "audit", "no_callback",
				  "audit_append_async needs a callback");
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return bw_err_set(err, 503, "audit", "nomem", "out of memory");
	bw_buf_init(&p->prep.buf, log->cfg.line_max);
	p->done = done;
	p->arg = arg;
	if (audit_prep_record(rec, log->cfg.line_max, &p->prep, err) < 0 ||
	    enqueue(log, p, err) < 0) {
		bw_buf_fini(&p->prep.buf);
		free(p);
		return -1;
	}
	return 0;
}

int audit_log_request_sth(struct audit_log *log, struct bw_err *err)
{
	if (!log->cfg.signer)
		return bw_err_set(err, 400, "audit", "no_signer",
				  "audit log has no STH signer");
	int rc = 0;
	pthread_mutex_lock(&log->mu);
	if (log->failed || log->closing)
		rc = bw_err_set(err, 503, "audit", "closing",
				"audit log is closing or failed");
	else
		log->sth_requested = true;
	pthread_cond_signal(&log->work_cv);
	pthread_mutex_unlock(&log->mu);
	return rc;
}

void audit_log_stats(struct audit_log *log, struct audit_log_stats *out)
{
	pthread_mutex_lock(&log->mu);
	*out = log->stats;
	pthread_mutex_unlock(&log->mu);
	pthread_mutex_lock(&log->tree_mu);
	out->records = log->durable_size;
	pthread_mutex_unlock(&log->tree_mu);
}

void audit_log_root(struct audit_log *log, uint64_t *size,
		    uint8_t root[AUDIT_HASH_LEN])
{
	pthread_mutex_lock(&log->tree_mu);
	*size = log->durable_size;
	memcpy(root, log->durable_root, AUDIT_HASH_LEN);
	pthread_mutex_unlock(&log->tree_mu);
}

int audit_log_inclusion_proof(struct audit_log *log, uint64_t index,
			      uint64_t size, uint8_t (*path)[AUDIT_HASH_LEN],
			      size_t cap, size_t *n, struct bw_err *err)
{
	pthread_mutex_lock(&log->tree_mu);
	int rc = size > log->durable_size
			 ? bw_err_set(err, 400, "audit", "bad_size",
				      "tree size beyond the durable log")
			 : audit_tree_inclusion_proof(log->tree, index, size,
						      path, cap, n, err);
	pthread_mutex_unlock(&log->tree_mu);
	return rc;
}

int audit_log_consistency_proof(struct audit_log *log, uint64_t m, uint64_t n,
				uint8_t (*proof)[AUDIT_HASH_LEN], size_t cap,
				size_t *len, struct bw_err *err)
{
	pthread_mutex_lock(&log->tree_mu);
	int rc = n > log->durable_size
			 ? bw_err_set(err, 400, "audit", "bad_size",
				      "tree size beyond the durable log")
			 : audit_tree_consistency_proof(log->tree, m, n, proof,
							cap, len, err);
	pthread_mutex_unlock(&log->tree_mu);
	return rc;
}

/* ------------------------------------------------------- open / close */

static int config_check(const struct audit_config *c, struct bw_err *err)
{
	if (!c->dir || !c->file_name || !c->file_name[0] ||
	    strchr(c->file_name, '/'))
		return bw_err_set(err, 400, "audit", "config",
				  "audit: dir and a plain file_name are "
				  "required");
	if (c->queue_max < 1 || c->queue_max > AUDIT_QUEUE_HARD)
		return bw_err_set(err, 400, "audit", "config",
				  "audit: queue_max must be 1..%u",
				  AUDIT_QUEUE_HARD);
	if (c->line_max <= AUDIT_PREP_OVERHEAD + 64 ||
	    c->line_max > AUDIT_LINE_MAX_HARD)
		return bw_err_set(err, 400, "audit", "config",
				  "audit: line_max must be %u..%u",
				  AUDIT_PREP_OVERHEAD + 65, AUDIT_LINE_MAX_HARD);
	if (c->sth_every_ms && c->sth_every_ms < AUDIT_STH_EVERY_MS_MIN)
		return bw_err_set(err, 400, "audit", "config",
				  "audit: sth_every_ms must be 0 or >= %d",
				  AUDIT_STH_EVERY_MS_MIN);
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Verifies what is on disk and sets the writer's chain state from it;
 * truncates a torn tail. */
static int recover(struct audit_log *log, struct bw_err *err)
{
	struct stat st;
	if (fstat(log->fd, &st) < 0)
		return bw_err_set(err, 500, "audit", "stat", "%s: %s",
				  log->path, strerror(errno));
	size_t len = (size_t)st.st_size;
	void *map = NULL;
	if (len > 0) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, log->fd, 0);
		if (map == MAP_FAILED)
			return bw_err_set(err, 500, "audit", "mmap", "%s: %s",
					  log->path, strerror(errno));
		(void)madvise(map, len, MADV_SEQUENTIAL);
	}
	struct audit_verify_opts opts = {
		.pubkey = log->cfg.signer ? log->cfg.signer->pubkey : NULL,
		.tree = log->tree,
	};
	struct audit_verify_result res;
	struct audit_chain_state cs;
	int rc = audit_verify_run(map ? map : "", len, &opts, &res, &cs);
	if (map)
		munmap(map, len);
	if (rc < 0 && res.fault != AUDIT_FAULT_TORN_TAIL) {
		log_warnx("audit: REFUSING to open %s: %s: %s", log->path,
			  audit_fault_name(res.fault), res.what);
		return bw_err_set(err, 500, "audit", "corrupt",
				  "%s: %s (line %llu, seq %llu): %s", log->path,
				  audit_fault_name(res.fault),
				  (unsigned long long)res.line,
				  (unsigned long long)res.seq, res.what);
	}
	if (rc < 0) {
		/* Only a line without its newline: the write that a crash
		 * interrupted was never acknowledged, so dropping it loses
		 * nothing anyone was promised. */
		log_warnx("audit: %s: dropping a torn last line (%zu bytes) "
			  "left by a crash",
			  log->path, len - (size_t)res.valid_bytes);
		if (ftruncate(log->fd, (off_t)res.valid_bytes) < 0 ||
		    fdatasync(log->fd) < 0)
			return bw_err_set(err, 500, "audit", "truncate",
					  "%s: %s", log->path, strerror(errno));
	}
	log->next_seq = res.records;
	log->w_size = res.records;
	log->last_sth_size = res.last_sth_size;
	memcpy(log->prev_hash, cs.last_hash, AUDIT_HASH_LEN);
	log->last_rec_ms = cs.last_rec_ms;
	log->last_sth_ms = cs.last_sth_ms;
	log->last_time_ms = cs.last_rec_ms;
	log->durable_size = res.records;
	memcpy(log->durable_root, res.root, AUDIT_HASH_LEN);
	if (res.records > res.last_sth_size && log->cfg.signer) {
		log_info("audit: %s: %llu records not covered by an STH "
			 "(unclean shutdown?); signing them now",
			 log->path,
			 (unsigned long long)(res.records - res.last_sth_size));
		log->sth_requested = true;
	}
	return 0;
}

static void log_free(struct audit_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	free(log->ring);
	free(log->batch);
	bw_buf_fini(&log->wbuf);
	audit_tree_free(log->tree);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->tree_mu);
	pthread_cond_destroy(&log->work_cv);
	pthread_cond_destroy(&log->done_cv);
	free(log);
}

struct audit_log *audit_log_open(const struct audit_config *cfg,
				 struct bw_err *err)
{
	if (config_check(cfg, err) < 0)
		return NULL;
	struct audit_log *log = calloc(1, sizeof(*log));
	if (!log) {
		bw_err_set(err, 500, "audit", "nomem", "out of memory");
		return NULL;
	}
	log->cfg = *cfg;
	log->fd = -1;
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->tree_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->work_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&log->done_cv, NULL);
	bw_buf_init(&log->wbuf, AUDIT_WRITE_CHUNK + AUDIT_LINE_MAX_HARD + 4096);
	log->ring_cap = cfg->queue_max;
	log->ring = calloc(cfg->queue_max, sizeof(*log->ring));
	log->batch = calloc(cfg->queue_max, sizeof(*log->batch));
	log->tree = audit_tree_new();
	log->last_sth_mono_ms = bw_clock_mono_ms();
	if (!log->ring || !log->batch || !log->tree) {
		bw_err_set(err, 500, "audit", "nomem", "out of memory");
		goto fail;
	}
	if (bw_snprintf(log->path, sizeof(log->path), "%s/%s", cfg->dir,
			cfg->file_name) < 0) {
		bw_err_set(err, 400, "audit", "config", "audit: path too long");
		goto fail;
	}
	log->fd = open(log->path,
		       O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC |
			       O_NOFOLLOW,
		       0600);
	bool created = log->fd >= 0;
	if (!created && errno == EEXIST)
		log->fd = open(log->path,
			       O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (log->fd < 0) {
		bw_err_set(err, 500, "audit", "open", "%s: %s", log->path,
			   strerror(errno));
		goto fail;
	}
	if (created && fsync_dir(cfg->dir) < 0) {
		bw_err_set(err, 500, "audit", "fsync", "%s: %s", cfg->dir,
			   strerror(errno));
		goto fail;
	}
	if (flock(log->fd, LOCK_EX | LOCK_NB) < 0) {
		bw_err_set(err, errno == EWOULDBLOCK ? 409 : 500, "audit",
			   "locked", "%s: in use by another process (%s)",
			   log->path, strerror(errno));
		goto fail;
	}
	if (recover(log, err) < 0)
		goto fail;
	if (!cfg->signer)
		log_warnx("audit: %s has no STH signer: hash-chained but "
			  "unsigned",
			  log->path);
	if (pthread_create(&log->thread, NULL, writer_main, log) != 0) {
		bw_err_set(err, 500, "audit", "thread",
			   "cannot start the audit writer");
		goto fail;
	}
	log->thread_started = true;
	return log;
fail:
	log_free(log);
	return NULL;
}

int audit_log_close(struct audit_log *log, struct bw_err *err)
{
	if (!log)
		return 0;
	pthread_mutex_lock(&log->mu);
	log->closing = true;
	pthread_cond_signal(&log->work_cv);
	pthread_mutex_unlock(&log->mu);
	if (log->thread_started)
		pthread_join(log->thread, NULL);
	int rc = 0;
	if (log->failed) {
		if (err)
			*err = log->fail_err;
		rc = -1;
	}
	log_free(log);
	return rc;
}
