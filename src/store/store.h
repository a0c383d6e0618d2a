/*
 * store — bulwark's storage interface. Modules keep their state through this
 * header only; they never see the database engine behind it (SQLite in WAL
 * mode by default, PostgreSQL later), so no module includes sqlite3.h or
 * libpq-fe.h.
 *
 * Model:
 *  - SQL is written by modules in a small portable subset with `?`
 *    placeholders (docs/internals/STORE.md); values are always bound through
 *    a typed struct store_value array, never formatted into the SQL text.
 *  - Reads (store_query*) may be called from any thread at once; each call
 *    borrows a read connection from a pool for its duration. Readers see the
 *    last committed state and never block the writer.
 *  - Writes are jobs: a function that receives a transaction handle
 *    (struct store_tx) and runs statements on it. One writer thread owns the
 *    only write connection and GROUP-COMMITS: it takes every queued job (up
 *    to max_batch), runs each inside its own SAVEPOINT within one
 *    transaction, commits once (one fsync), then reports each job's own
 *    result. A failing job rolls back only itself.
 *  - A write reported successful is durable: it survives kill -9 and, with
 *    STORE_DURABILITY_FULL (the default), power loss.
 *
 * Invariants:
 *  - error messages never contain bound values (they may be secrets); they
 *    may contain the engine's message and the start of the SQL text;
 *  - store_value memory is borrowed for the duration of the call only;
 *  - row data handed to a row callback is valid only until it returns;
 *  - store functions must not be called from inside a row callback, and
 *    store_write/store_exec/store_migrate must not be called from inside a
 *    write job (both would deadlock; they fail with 500 "reentrant").
 *
 * Error codes in struct bw_err: 400 bad options or misuse, 409 "conflict"
 * (constraint violation), 413 "too_large" (a value over the limit), 503
 * "overloaded" (write queue full), "busy" (database locked) or "closing",
 * 500 anything else. err->module is "store".
 */
#ifndef BW_STORE_H
#define BW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct store;     /* an open database: reader pool + writer thread */
struct store_tx;  /* the transaction a write job runs in */
struct store_row; /* the current row inside a row callback */

/* ---------------------------------------------------------------- values */

enum store_type {
	STORE_NULL = 0,
	STORE_INT64,  /* BIGINT, and BOOLEAN as 0/1 */
	STORE_DOUBLE, /* DOUBLE PRECISION */
	STORE_TEXT,   /* TEXT: (ptr, len), may contain NUL bytes */
	STORE_BLOB,   /* BLOB: (ptr, len) bytes */
};

/* One bound value. Text and blob memory is borrowed until the call that
 * receives the array returns; p may be NULL only when len is 0. */
struct store_value {
	enum store_type type;
	union {
		int64_t i;
		double d;
		struct {
			const void *p;
			size_t len;
		} b;
	} u;
};

static inline struct store_value store_null(void)
{
	return (struct store_value){ .type = STORE_NULL };
}
static inline struct store_value store_int(int64_t v)
{
	return (struct store_value){ .type = STORE_INT64, .u.i = v };
}
static inline struct store_value store_bool(bool v)
{
	return store_int(v ? 1 : 0);
}
static inline struct store_value store_double(double v)
{
	return (struct store_value){ .type = STORE_DOUBLE, .u.d = v };
}
static inline struct store_value store_text(const char *p, size_t len)
{
	return (struct store_value){ .type = STORE_TEXT, .u.b = { p, len } };
}
/* NUL-terminated convenience; s may be NULL, which binds SQL NULL. */
static inline struct store_value store_text_str(const char *s)
{
	if (!s)
		return store_null();
	size_t n = 0;
	while (s[n])
		n++;
	return store_text(s, n);
}
static inline struct store_value store_text_bw(struct bw_str s)
{
	return store_text(s.p, s.len);
}
static inline struct store_value store_blob(const void *p, size_t len)
{
	return (struct store_value){ .type = STORE_BLOB, .u.b = { p, len } };
}

/* ------------------------------------------------------------------ rows */

/*
 * Row accessors, valid only inside a row callback. Columns are numbered
 * from 0. Conversions are deliberately narrow so every driver behaves the
 * same: int64 reads INT64 (DOUBLE is truncated toward zero), double reads
 * DOUBLE or INT64, text reads TEXT, blob reads BLOB or TEXT bytes; any other
 * combination, NULL or an out-of-range column gives 0 / an empty, non-NULL
 * pointer with length 0. Returned pointers die when the callback returns.
 */
int store_row_ncols(const struct store_row *row);
enum store_type store_row_type(const struct store_row *row, int col);
bool store_row_is_null(const struct store_row *row, int col);
int64_t store_row_int64(const struct store_row *row, int col);
double store_row_double(const struct store_row *row, int col);
struct bw_str store_row_text(const struct store_row *row, int col);
const void *store_row_blob(const struct store_row *row, int col, size_t *len);

/*
 * Called once per result row. Return STORE_ROW_NEXT (0) for the next row,
 * STORE_ROW_STOP (1) to end the query early with success, or -1 to fail the
 * query, after filling err (the query then returns -1 with that err).
 */
#define STORE_ROW_NEXT 0
#define STORE_ROW_STOP 1
typedef int (*store_row_fn)(void *arg, const struct store_row *row,
			    struct bw_err *err);

/* -------------------------------------------------------- open and close */

enum store_durability {
	/* fsync on every commit (SQLite: WAL + synchronous=FULL). Survives
	 * process crash and power loss. The default. */
	STORE_DURABILITY_FULL = 0,
	/* Survives process crash (kill -9) but the last commits may be lost
	 * on power loss (SQLite: WAL + synchronous=NORMAL). For telemetry. */
	STORE_DURABILITY_NORMAL,
};

/*
 * Options for store_open. Zero means "the default" for every numeric field
 * (defaults and hard maxima are in store_limits.h); zero-initialise the
 * struct and set what you need.
 */
struct store_options {
	const char *driver;         /* "sqlite"; NULL means "sqlite" */
	const char *path;           /* SQLite file path, or a DSN */
	unsigned read_pool;         /* read connections */
	unsigned busy_timeout_ms;   /* wait on a locked database */
	enum store_durability durability;
	unsigned max_batch;         /* write jobs per group commit */
	unsigned queue_max;         /* queued write jobs before 503 */
	unsigned stmt_cache;        /* prepared statements kept per connection */
	/* Engine page size in bytes for a database this call creates (a
	 * power of two, 512..65536; 0: the engine's default, 4096 for
	 * SQLite). An existing database keeps its page size. Larger pages
	 * suit append-heavy stores (fewer pages and B-tree levels per row
	 * written); small random updates prefer the default. */
	unsigned page_size;
	/* 0: the engine checkpoints its write-ahead log itself, inside the
	 * commit that crosses its threshold (SQLite: 1,000 pages), so that
	 * commit also waits for the checkpoint's fsync. N > 0: a background
	 * thread with a connection of its own checkpoints (PASSIVE: never
	 * blocking the writer or readers) whenever the log holds N pages or
	 * more; the writer checkpoints itself only as a backstop at
	 * STORE_CHECKPOINT_BACKSTOP times N. For write-heavy stores. */
	unsigned checkpoint_pages;
};

/*
 * Opens (creating if needed) the database named by opts, its read pool and
 * its writer thread. opts is borrowed (strings are copied). Returns a store
 * the caller frees with store_close, or NULL with err set: 400 "bad_option"
 * (unknown driver, missing path, a value over its hard maximum), 500 when
 * the database cannot be opened or configured.
 */
struct store *store_open(const struct store_options *opts,
			 struct bw_err *err) BW_WUR;

/*
 * Stops accepting writes (new ones fail with 503 "closing"), runs every
 * job already queued to completion (their callbacks run), stops the writer
 * and closes every connection. No read may be in flight. Accepts NULL.
 */
void store_close(struct store *s);

/* The driver's name ("sqlite"), for logs and diagnostics. */
const char *store_driver_name(const struct store *s);

/* ----------------------------------------------------------------- reads */

/*
 * Runs one read statement on a pooled read connection and calls fn for each
 * row (fn may be NULL to discard rows). sql is one statement of the
 * portable subset with nbinds `?` placeholders; binds are borrowed. Safe
 * from any thread, concurrently. Blocks only while every read connection
 * is busy. Returns 0 (also when there were no rows) or -1 with err set.
 */
int store_query(struct store *s, const char *sql,
		const struct store_value *binds, size_t nbinds,
		store_row_fn fn, void *arg, struct bw_err *err) BW_WUR;

/*
 * Like store_query but calls fn for the first row only. Returns 1 when a
 * row was found (fn was called), 0 when there was none, -1 with err set.
 */
int store_query_one(struct store *s, const char *sql,
		    const struct store_value *binds, size_t nbinds,
		    store_row_fn fn, void *arg, struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------------- writes */

/*
 * A write job. Runs on the writer thread inside its own savepoint; run the
 * statements with store_tx_*. Return 0 to keep the job's changes, or -1
 * after filling err (store_tx_* already fill it) to roll back this job
 * only. Must not block on anything but the database; must not call
 * store_write, store_exec or store_migrate. arg is the submitter's.
 */
typedef int (*store_job_fn)(struct store_tx *tx, void *arg,
			    struct bw_err *err);

/*
 * Called on the writer thread once the job's outcome is final: rc 0 means
 * its changes are committed and durable; rc -1 means they are not, and err
 * says why (the job's own error, or a commit failure). err is borrowed for
 * the call. Keep it short: forward the result to the owning thread.
 */
typedef void (*store_done_fn)(void *done_arg, int rc,
			      const struct bw_err *err);

/*
 * Submits fn and blocks the calling thread until its outcome is durable.
 * For the thread pool and the CLI, never for an event loop. Waits for room
 * if the queue is full. Returns the job's result: 0 when committed, or -1
 * with err set (the job's error, or 503 "closing", or a commit error).
 */
int store_write(struct store *s, store_job_fn fn, void *arg,
		struct bw_err *err) BW_WUR;

/*
 * Submits fn without blocking. done (may be NULL) runs on the writer
 * thread after the durable commit (or the failure); arg and done_arg must
 * stay valid until then. Returns 0 when queued, or -1 with err set and
 * neither fn nor done ever called: 503 "overloaded" when the queue is
 * full, 503 "closing" after store_close began.
 */
int store_write_async(struct store *s, store_job_fn fn, void *arg,
		      store_done_fn done, void *done_arg,
		      struct bw_err *err) BW_WUR;

/*
 * Convenience: one write statement as its own (group-committed) job,
 * blocking like store_write. If changes is not NULL it receives the number
 * of rows the statement changed. Returns 0 or -1 with err set.
 */
int store_exec(struct store *s, const char *sql,
	       const struct store_value *binds, size_t nbinds,
	       int64_t *changes, struct bw_err *err) BW_WUR;

/*
 * Inside a write job: run one statement on the write transaction. Reads
 * (store_tx_query*) see the job's own earlier writes. Same contracts as
 * store_exec / store_query / store_query_one.
 */
int store_tx_exec(struct store_tx *tx, const char *sql,
		  const struct store_value *binds, size_t nbinds,
		  struct bw_err *err) BW_WUR;
int store_tx_query(struct store_tx *tx, const char *sql,
		   const struct store_value *binds, size_t nbinds,
		   store_row_fn fn, void *arg, struct bw_err *err) BW_WUR;
int store_tx_query_one(struct store_tx *tx, const char *sql,
		       const struct store_value *binds, size_t nbinds,
		       store_row_fn fn, void *arg, struct bw_err *err) BW_WUR;
/* Rows changed by the last store_tx_exec on this transaction. */
int64_t store_tx_changes(const struct store_tx *tx);

/* ------------------------------------------------------------ migrations */

/*
 * Brings module's schema to version nsteps. steps[i] upgrades version i to
 * i+1 and may hold several statements separated by `;`. Versions live in
 * the table schema_versions(module, version). Each missing step runs in a
 * transaction of its own together with its version bump, so a failing step
 * leaves the schema at the previous version. Idempotent: at version nsteps
 * nothing runs. Refuses with 500 "schema_newer" if the database is at a
 * version above nsteps (written by newer code: downgrade protection).
 * module must be 1..STORE_MODULE_NAME_MAX bytes of [a-z0-9_].
 * Blocks like store_write. Returns 0 or -1 with err set.
 */
int store_migrate(struct store *s, const char *module,
		  const char *const steps[], size_t nsteps,
		  struct bw_err *err) BW_WUR;

/*
 * The schema version recorded for module (0 if none) into *version.
 * Returns 0 or -1 with err set.
 */
int store_schema_version(struct store *s, const char *module,
			 int64_t *version, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------ statistics */

struct store_stats {
	uint64_t commits;        /* group commits performed */
	uint64_t jobs_ok;        /* jobs committed */
	uint64_t jobs_failed;    /* jobs rolled back (own error or commit) */
	uint64_t overloaded;     /* async submissions refused with 503 */
	uint64_t max_batch_seen; /* largest batch committed at once */
};
/* A snapshot of the counters; safe from any thread. */
void store_stats_get(struct store *s, struct store_stats *out);

#endif
