/*
 * store internals, shared by the files of src/store only (no other module
 * includes this): the driver vtable a database engine implements, the
 * struct store that the generic layer (pool, writer thread, group commit,
 * migrations) keeps, and the portable-SQL scanner.
 *
 * Adding a driver (PostgreSQL) means writing one store_<name>.c that fills
 * a struct store_driver and adding it to the table in store.c; no module
 * and no generic code changes.
 *
 * Invariants:
 *  - a struct store_conn is used by one thread at a time: the writer thread
 *    owns the write connection, and a read connection belongs to whoever
 *    took it from the pool until it is put back;
 *  - the job queue holds at most cfg.queue_max jobs; async jobs live in the
 *    preallocated slot array (a full queue plus one batch in flight),
 *    blocking jobs on their submitter's stack;
 *  - a job is finished (callback run or submitter woken) exactly once, and
 *    nobody touches a blocking job after its submitter was woken.
 */
#ifndef BW_STORE_INT_H
#define BW_STORE_INT_H

#include <pthread.h>

#include "store/store.h"
#include "store/store_limits.h"

#define STORE_MOD "store"

/* Options with defaults applied and strings owned. */
struct store_cfg {
	char *path;
	unsigned read_pool;
	unsigned busy_timeout_ms;
	enum store_durability durability;
	unsigned max_batch;
	unsigned queue_max;
	unsigned stmt_cache;
	unsigned page_size;        /* 0: engine default */
	unsigned checkpoint_pages; /* 0: engine checkpoints in the writer */
};

/* A driver's connection; only the driver knows what is inside. */
struct store_conn;

/* Raw column access a driver provides; the generic store_row_* functions
 * apply the portable conversion rules on top. */
struct store_row_ops {
	int (*ncols)(const void *impl);
	enum store_type (*type)(const void *impl, int col);
	int64_t (*int64)(const void *impl, int col);
	double (*dbl)(const void *impl, int col);
	/* bytes of a TEXT or BLOB column; never NULL */
	const void *(*bytes)(const void *impl, int col, size_t *len);
};

struct store_row {
	const struct store_row_ops *ops;
	const void *impl;
};

enum store_txop {
	STORE_TX_BEGIN,
	STORE_TX_COMMIT,
	STORE_TX_ROLLBACK,
	STORE_TX_SAVEPOINT,
	STORE_TX_RELEASE,
	STORE_TX_ROLLBACK_TO,
};

struct store_driver {
	const char *name;
	/* Opens one connection. The writer is opened first and may create
	 * and configure the database; readers must refuse to write. */
	struct store_conn *(*conn_open)(const struct store_cfg *cfg,
					bool writer, struct bw_err *err);
	void (*conn_close)(struct store_conn *c); /* accepts NULL */
	/* Runs one statement of the portable subset (already length-checked
	 * by the caller), calling fn per row until it returns non-zero. On
	 * success *changes (if not NULL) gets the rows changed. Returns 0,
	 * or -1 with err set (fn's own err when fn returned -1). */
	int (*run)(struct store_conn *c, const char *sql,
		   const struct store_value *binds, size_t nbinds,
		   store_row_fn fn, void *arg, int64_t *changes,
		   struct bw_err *err);
	/* Runs a migration step: several statements, no binds. */
	int (*script)(struct store_conn *c, const char *sql,
		      struct bw_err *err);
	int (*txop)(struct store_conn *c, enum store_txop op,
		    struct bw_err *err);
	/* Whether a transaction is open (the engine may abort one on its own
	 * after I/O errors; the writer checks after every job). */
	bool (*in_tx)(struct store_conn *c);
};

extern const struct store_driver store_sqlite_driver;

struct store_tx {
	struct store *s;
	struct store_conn *c;
	int64_t changes;
};

struct store_job {
	store_job_fn fn;
	void *arg;
	store_done_fn done;
	void *done_arg;
	struct store_job *next;
	pthread_cond_t *wake; /* blocking jobs: the submitter's condvar */
	bool finished;        /* blocking jobs: set under s->mu */
	bool solo;            /* run in a transaction of its own */
	int rc;
	struct bw_err err;
};

struct store {
	const struct store_driver *drv;
	struct store_cfg cfg;

	/* read pool: free[0..nfree) are idle connections */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	struct store_conn **readers;
	struct store_conn **free;
	unsigned nfree;

	/* writer */
	struct store_conn *wconn;
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;       /* guards everything below */
	pthread_cond_t work_cv;   /* writer waits for jobs */
	pthread_cond_t room_cv;   /* blocking submitters wait for room */
	struct store_job *head, *tail;
	unsigned queued;
	struct store_job *slots;  /* queue_max + max_batch async job slots */
	struct store_job *free_slots;
	bool closing;
	struct store_stats stats;
};

/* Thread-local guards against calls that would deadlock (store.c). */
bool store_guard_in_callback(void);
void store_guard_enter_callback(void);
void store_guard_leave_callback(void);
bool store_guard_on_writer(void);
void store_guard_set_writer(void);

/* store_write.c */
int store_writer_start(struct store *s, struct bw_err *err);
void store_writer_stop(struct store *s);
/* store_write with solo = true: the job gets a transaction of its own. */
int store_write_job(struct store *s, store_job_fn fn, void *arg, bool solo,
		    struct bw_err *err);

/* store_migrate.c: creates schema_versions on the write connection. */
int store_migrate_init(struct store *s, struct bw_err *err);

/* ------------------------------------------------------- portable SQL */

struct store_sql_info {
	size_t placeholders; /* `?` outside literals and comments */
	size_t statements;   /* non-empty statements */
	/* Some statement starts with BEGIN, COMMIT, END, ROLLBACK,
	 * SAVEPOINT, RELEASE, ATTACH or DETACH: transaction control belongs
	 * to the writer thread alone, and no module opens other files. */
	bool control;
};

/*
 * Lexically checks sql (len bytes, not NUL-terminated) against the
 * portable subset: '...' literals ('' escapes), "..." identifiers,
 * -- and C-style comments, anonymous `?` placeholders. Rejects with 400:
 * NUL bytes, unterminated literals/identifiers/comments, numbered or
 * named placeholders (?1 $1 :x @x #x), dialect quoting (` [ ]), `::`
 * casts, the AUTOINCREMENT keyword, and more than one statement unless
 * multi.
 * OUT: info (may be NULL). Returns 0 or -1 with err set.
 */
int store_sql_scan(const char *sql, size_t len, bool multi,
		   struct store_sql_info *info, struct bw_err *err) BW_WUR;

/*
 * Rewrites portable SQL for PostgreSQL into out (whose ceiling bounds the
 * result): the n-th `?` becomes $n, the type word BLOB becomes BYTEA and
 * BOOLEAN becomes SMALLINT (bulwark binds booleans as 0/1), outside
 * literals, identifiers and comments. sql must have passed
 * store_sql_scan. OUT: *nparams (may be NULL) the placeholders rewritten.
 * Returns 0 or -1 with err set (413 when out's ceiling is hit).
 */
int store_sql_to_pg(const char *sql, size_t len, struct bw_buf *out,
		    size_t *nparams, struct bw_err *err) BW_WUR;

#endif
