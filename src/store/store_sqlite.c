/*
 * store_sqlite — the SQLite driver behind store.h: connections in WAL mode,
 * a prepared-statement cache per connection keyed by SQL text, typed value
 * binding, row access and the mapping of SQLite result codes to bw_err.
 *
 * Configuration of every connection: extended result codes, defensive mode
 * (no writes to the schema through pragmas), trusted_schema off, no
 * extension loading, a busy timeout. The write connection also sets
 * journal_mode=WAL (verified, not assumed), synchronous=FULL (fsync of the
 * WAL on every commit: an acknowledged commit survives power loss) or
 * NORMAL, foreign keys on and secure_delete=FAST. Read connections are
 * query_only, so a read can never write even through a mistaken statement.
 *
 * Invariants:
 *  - a statement leaves run() reset and with its bindings cleared, so no
 *    cached statement keeps pointers into a caller's memory (values are
 *    bound SQLITE_STATIC, without copying);
 *  - error messages carry SQLite's message and the first bytes of the SQL
 *    text, never a bound value;
 *  - with checkpoint_pages set, the write connection's WAL hook only
 *    signals (or, past the backstop, checkpoints itself); the checkpointer
 *    thread owns its own connection, is started after the write
 *    connection is configured and joined before it is closed.
 */
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct stmt_entry {
	uint64_t hash;
	uint64_t last_used; /* 0: empty slot */
	bool control;       /* transaction control: driver use only */
	char *sql;
	size_t len;
	sqlite3_stmt *st;
};

/*
 * The background checkpointer of a write connection (checkpoint_pages >
 * 0). The writer's WAL hook raises `want` after a commit that leaves the
 * log at `pages` or more; the thread then runs a PASSIVE checkpoint on its
 * own connection, so copying pages back into the database and the fsyncs
 * that go with it happen beside the writer instead of inside one of its
 * commits. PASSIVE never takes the write lock and never waits for
 * readers; the writer restarts the log at its next transaction once a
 * checkpoint has copied all of it.
 */
struct ckpt {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool want, stop;
	sqlite3 *db;
	unsigned pages;
};

struct store_conn {
	sqlite3 *db;
	bool writer;
	unsigned cache_cap;
	uint64_t tick;
	struct stmt_entry *cache;
	struct ckpt *ckpt;
};

/* ------------------------------------------------------------- errors */

static int map_rc(int rc, const char **reason)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		*reason = "conflict";
		return 409;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		*reason = "busy";
		return 503;
	case SQLITE_TOOBIG:
		*reason = "too_large";
		return 413;
	case SQLITE_FULL:
		*reason = "disk_full";
		return 507;
	default:
		*reason = "sqlite";
		return 500;
	}
}

/* SQLite's messages name tables, columns and constraints but never bound
 * values, so they are safe to report; the SQL text has only placeholders. */
static int sql_err(struct store_conn *c, int rc, const char *sql,
		   struct bw_err *err)
{
	const char *reason;
	int code = map_rc(rc, &reason);
	const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
	if (sql)
		return bw_err_set(err, code, STORE_MOD, reason,
				  "%s (%d) in: %.80s", msg, rc, sql);
	return bw_err_set(err, code, STORE_MOD, reason, "%s (%d)", msg, rc);
}

/* ------------------------------------------------------- statement cache */

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void entry_clear(struct stmt_entry *e)
{
	sqlite3_finalize(e->st);
	free(e->sql);
	memset(e, 0, sizeof(*e));
}

/* Returns the cached statement for sql, preparing (and checking) it on a
 * miss; evicts the least recently used entry when the cache is full. */
static sqlite3_stmt *stmt_get(struct store_conn *c, const char *sql,
			      size_t len, bool internal, struct bw_err *err)
{
	uint64_t h = fnv1a(sql, len);
	struct stmt_entry *victim = NULL;
	c->tick++;
	for (unsigned i = 0; i < c->cache_cap; i++) {
		struct stmt_entry *e = &c->cache[i];
		if (e->last_used && e->hash == h && e->len == len &&
		    memcmp(e->sql, sql, len) == 0) {
			if (e->control && !internal)
				break;
			e->last_used = c->tick;
			return e->st;
		}
		if (!victim || e->last_used < victim->last_used)
			victim = e;
	}

	struct store_sql_info info;
	if (store_sql_scan(sql, len, false, &info, err) != 0)
		return NULL;
	if (info.control && !internal) {
		bw_err_set(err, 400, STORE_MOD, "sql_control",
			   "transaction control or ATTACH in: %.80s", sql);
		return NULL;
	}
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v3(c->db, sql, (int)len,
				    SQLITE_PREPARE_PERSISTENT, &st, &tail);
	if (rc != SQLITE_OK) {
		sql_err(c, rc, sql, err);
		sqlite3_finalize(st);
		return NULL;
	}
	if (!st) {
		bw_err_set(err, 400, STORE_MOD, "sql_empty",
			   "no statement in: %.80s", sql);
		return NULL;
	}
	/* The scanner counted the same `?` SQLite did; a mismatch would mean
	 * the two lexers disagree, which the subset exists to prevent. */
	if ((size_t)sqlite3_bind_parameter_count(st) != info.placeholders) {
		sqlite3_finalize(st);
		bw_err_set(err, 400, STORE_MOD, "sql_placeholder",
			   "placeholder count mismatch in: %.80s", sql);
		return NULL;
	}
	char *copy = malloc(len + 1);
	if (!copy) {
		sqlite3_finalize(st);
		bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
		return NULL;
	}
	memcpy(copy, sql, len);
	copy[len] = 0;
	if (victim->last_used)
		entry_clear(victim);
	victim->hash = h;
	victim->last_used = c->tick;
	victim->sql = copy;
	victim->len = len;
	victim->st = st;
	victim->control = info.control;
	return st;
}

/* --------------------------------------------------------------- binding */

static int bind_all(struct store_conn *c, sqlite3_stmt *st, const char *sql,
		    const struct store_value *v, size_t n, struct bw_err *err)
{
	int want = sqlite3_bind_parameter_count(st);
	if ((size_t)want != n)
		return bw_err_set(err, 400, STORE_MOD, "bind_count",
				  "%zu values for %d placeholders in: %.80s",
				  n, want, sql);
	for (size_t i = 0; i < n; i++) {
		int idx = (int)i + 1;
		int rc;
		switch (v[i].type) {
		case STORE_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		case STORE_INT64:
			rc = sqlite3_bind_int64(st, idx, v[i].u.i);
			break;
		case STORE_DOUBLE:
			rc = sqlite3_bind_double(st, idx, v[i].u.d);
			break;
		case STORE_TEXT:
		case STORE_BLOB:
			if (v[i].u.b.len > STORE_VALUE_MAX)
				return bw_err_set(err, 413, STORE_MOD,
						  "too_large",
						  "value %zu is %zu bytes (max %u)",
						  i + 1, v[i].u.b.len,
						  STORE_VALUE_MAX);
			if (!v[i].u.b.p && v[i].u.b.len)
				return bw_err_set(err, 400, STORE_MOD,
						  "bad_value",
						  "value %zu: NULL pointer with length",
						  i + 1);
			/* A NULL pointer would bind SQL NULL, so empty values
			 * point at a static empty string instead. */
			const void *p = v[i].u.b.p ? v[i].u.b.p : "";
			if (v[i].type == STORE_TEXT)
				rc = sqlite3_bind_text64(st, idx, p,
							 v[i].u.b.len,
							 SQLITE_STATIC,
							 SQLITE_UTF8);
			else
				rc = sqlite3_bind_blob64(st, idx, p,
							 v[i].u.b.len,
							 SQLITE_STATIC);
			break;
		default:
			return bw_err_set(err, 400, STORE_MOD, "bad_value",
					  "value %zu has unknown type %d",
					  i + 1, (int)v[i].type);
		}
		if (rc != SQLITE_OK)
			return sql_err(c, rc, sql, err);
	}
	return 0;
}

/* ------------------------------------------------------------------ rows */

static int row_ncols(const void *impl)
{
	return sqlite3_data_count((sqlite3_stmt *)impl);
}

static enum store_type row_type(const void *impl, int col)
{
	switch (sqlite3_column_type((sqlite3_stmt *)impl, col)) {
	case SQLITE_INTEGER:
		return STORE_INT64;
	case SQLITE_FLOAT:
		return STORE_DOUBLE;
	case SQLITE_TEXT:
		return STORE_TEXT;
	case SQLITE_BLOB:
		return STORE_BLOB;
	default:
		return STORE_NULL;
	}
}

static int64_t row_int64(const void *impl, int col)
{
	return sqlite3_column_int64((sqlite3_stmt *)impl, col);
}

static double row_double(const void *impl, int col)
{
	return sqlite3_column_double((sqlite3_stmt *)impl, col);
}

static const void *row_bytes(const void *impl, int col, size_t *len)
{
	sqlite3_stmt *st = (sqlite3_stmt *)impl;
	const void *p;
	/* column_blob on a TEXT value returns its bytes unconverted; the
	 * length must be read after the pointer, as SQLite documents. */
	p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	*len = n > 0 ? (size_t)n : 0;
	return p ? p : "";
}

static const struct store_row_ops sqlite_row_ops = {
	.ncols = row_ncols,
	.type = row_type,
	.int64 = row_int64,
	.dbl = row_double,
	.bytes = row_bytes,
};

/* ---------------------------------------------------------------- driver */

/* internal: the driver's own transaction control, which modules may not
 * issue (a module's COMMIT would split a group commit). */
static int run_stmt(struct store_conn *c, const char *sql,
		    const struct store_value *binds, size_t nbinds,
		    store_row_fn fn, void *arg, int64_t *changes,
		    bool internal, struct bw_err *err)
{
	size_t len = strlen(sql);
	sqlite3_stmt *st = stmt_get(c, sql, len, internal, err);
	int ret = -1;
	if (!st)
		return -1;
	if (bind_all(c, st, sql, binds, nbinds, err) != 0)
		goto out;
	for (;;) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			sql_err(c, rc, sql, err);
			goto out;
		}
		if (!fn)
			continue;
		struct store_row row = { &sqlite_row_ops, st };
		int r = fn(arg, &row, err);
		if (r < 0) {
			if (err && err->code == 0)
				bw_err_set(err, 500, STORE_MOD, "callback",
					   "row callback failed");
			goto out;
		}
		if (r > 0)
			break;
	}
	if (changes)
		*changes = c->writer ? sqlite3_changes64(c->db) : 0;
	ret = 0;
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static int sq_run(struct store_conn *c, const char *sql,
		  const struct store_value *binds, size_t nbinds,
		  store_row_fn fn, void *arg, int64_t *changes,
		  struct bw_err *err)
{
	return run_stmt(c, sql, binds, nbinds, fn, arg, changes, false, err);
}

static int sq_script(struct store_conn *c, const char *sql,
		     struct bw_err *err)
{
	size_t len = strlen(sql);
	struct store_sql_info info;
	if (store_sql_scan(sql, len, true, &info, err) != 0)
		return -1;
	if (info.control)
		return bw_err_set(err, 400, STORE_MOD, "sql_control",
				  "transaction control or ATTACH in migration");
	const char *p = sql;
	while (*p) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		int rc = sqlite3_prepare_v2(c->db, p, -1, &st, &tail);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			return sql_err(c, rc, p, err);
		}
		if (!st) /* only whitespace or comments left */
			break;
		if (sqlite3_bind_parameter_count(st) != 0) {
			sqlite3_finalize(st);
			return bw_err_set(err, 400, STORE_MOD,
					  "sql_placeholder",
					  "placeholder in migration: %.80s", p);
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return sql_err(c, rc, p, err);
		p = tail;
	}
	return 0;
}

static int sq_txop(struct store_conn *c, enum store_txop op,
		   struct bw_err *err)
{
	static const char *const sql[] = {
		[STORE_TX_BEGIN] = "BEGIN IMMEDIATE",
		[STORE_TX_COMMIT] = "COMMIT",
		[STORE_TX_ROLLBACK] = "ROLLBACK",
		[STORE_TX_SAVEPOINT] = "SAVEPOINT job",
		[STORE_TX_RELEASE] = "RELEASE SAVEPOINT job",
		[STORE_TX_ROLLBACK_TO] = "ROLLBACK TO SAVEPOINT job",
	};
	return run_stmt(c, sql[op], NULL, 0, NULL, NULL, NULL, true, err);
}

static bool sq_in_tx(struct store_conn *c)
{
	return !sqlite3_get_autocommit(c->db);
}

static void ckpt_stop(struct store_conn *c)
{
	struct ckpt *k = c->ckpt;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->th, NULL);
	sqlite3_close_v2(k->db);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
	free(k);
	c->ckpt = NULL;
}

static void sq_close(struct store_conn *c)
{
	if (!c)
		return;
	ckpt_stop(c);
	for (unsigned i = 0; i < c->cache_cap; i++)
		if (c->cache[i].last_used)
			entry_clear(&c->cache[i]);
	free(c->cache);
	c->cache = NULL;
	if (c->db)
		sqlite3_close_v2(c->db);
	free(c);
}

/* Runs a pragma that returns one text row and checks it. */
static int pragma_expect(struct store_conn *c, const char *sql,
			 const char *want, struct bw_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return sql_err(c, rc, sql, err);
	}
	rc = sqlite3_step(st);
	int ok = rc == SQLITE_ROW &&
		 sqlite3_column_text(st, 0) &&
		 strcmp((const char *)sqlite3_column_text(st, 0), want) == 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sql_err(c, rc, sql, err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (!ok)
		return bw_err_set(err, 500, STORE_MOD, "pragma",
				  "%s did not give %s", sql, want);
	return 0;
}

static int exec_plain(struct store_conn *c, const char *sql,
		      struct bw_err *err)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_err(c, rc, sql, err);
}

/* Runs on the writer thread after every commit, with the log's size. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int npages)
{
	struct ckpt *k = arg;
	if (npages < 0 || (unsigned)npages < k->pages)
		return SQLITE_OK;
	if ((unsigned)npages >= k->pages * STORE_CHECKPOINT_BACKSTOP) {
		/* the checkpointer cannot keep up: do what the engine's own
		 * autocheckpoint would do rather than let the log grow */
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
						NULL, NULL);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&k->mu);
	if (!k->want) {
		k->want = true;
		pthread_cond_signal(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct ckpt *k = arg;
	(void)pthread_setname_np(pthread_self(), "store-ckpt");
	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (!k->want && !k->stop)
			pthread_cond_wait(&k->cv, &k->mu);
		if (k->stop)
			break;
		k->want = false;
		pthread_mutex_unlock(&k->mu);
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(k->db, NULL,
						   SQLITE_CHECKPOINT_PASSIVE,
						   &log, &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warnx("store: background checkpoint failed: %s (%d)",
				  sqlite3_errmsg(k->db), rc);
		pthread_mutex_lock(&k->mu);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Opens the checkpointer's connection (same synchronous level as the
 * writer, so a checkpoint syncs as the engine's own would) and starts it. */
static int ckpt_start(struct store_conn *c, const struct store_cfg *cfg,
		      struct bw_err *err)
{
	struct ckpt *k = calloc(1, sizeof(*k));
	if (!k)
		return bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
	k->pages = cfg->checkpoint_pages;
	int rc = sqlite3_open_v2(cfg->path, &k->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(k->db, 1);
		sqlite3_db_config(k->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
		rc = sqlite3_exec(k->db,
				  cfg->durability == STORE_DURABILITY_FULL
					  ? "PRAGMA synchronous=FULL"
					  : "PRAGMA synchronous=NORMAL",
				  NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		bw_err_set(err, 500, STORE_MOD, "open",
			   "checkpoint connection to %s: %s", cfg->path,
			   k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(rc));
		sqlite3_close_v2(k->db);
		free(k);
		return -1;
	}
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	if (pthread_create(&k->th, NULL, ckpt_main, k) != 0) {
		pthread_cond_destroy(&k->cv);
		pthread_mutex_destroy(&k->mu);
		sqlite3_close_v2(k->db);
		free(k);
		return bw_err_set(err, 500, STORE_MOD, "thread",
				  "cannot start the checkpoint thread");
	}
	c->ckpt = k;
	/* replaces the engine's autocheckpoint, which is a WAL hook too */
	sqlite3_wal_hook(c->db, wal_hook, k);
	return 0;
}

static struct store_conn *sq_open(const struct store_cfg *cfg, bool writer,
				  struct bw_err *err)
{
	struct store_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
		return NULL;
	}
	c->writer = writer;
	c->cache_cap = cfg->stmt_cache;
	c->cache = calloc(cfg->stmt_cache, sizeof(*c->cache));
	if (!c->cache) {
		bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
		goto fail;
	}
	/* NOMUTEX: each connection is used by one thread at a time (see
	 * store_int.h), so SQLite's per-connection mutex is only cost. */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (writer ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(cfg->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		bw_err_set(err, 500, STORE_MOD, "open", "cannot open %s: %s",
			   cfg->path,
			   c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, (int)cfg->busy_timeout_ms);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
			  NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
#endif
	sqlite3_limit(c->db, SQLITE_LIMIT_VARIABLE_NUMBER, STORE_BINDS_MAX);

	if (writer) {
		/* before journal_mode: a WAL database's page size is fixed */
		if (cfg->page_size) {
			char ps[48];
			snprintf(ps, sizeof(ps), "PRAGMA page_size=%u", cfg->page_size);
			if (exec_plain(c, ps, err))
				goto fail;
		}
		if (pragma_expect(c, "PRAGMA journal_mode=WAL", "wal", err))
			goto fail;
		if (exec_plain(c,
			       cfg->durability == STORE_DURABILITY_FULL
				       ? "PRAGMA synchronous=FULL"
				       : "PRAGMA synchronous=NORMAL",
			       err))
			goto fail;
		if (exec_plain(c, "PRAGMA foreign_keys=ON", err) ||
		    exec_plain(c, "PRAGMA secure_delete=FAST", err))
			goto fail;
		if (cfg->checkpoint_pages && ckpt_start(c, cfg, err))
			goto fail;
	} else {
		if (exec_plain(c, "PRAGMA query_only=ON", err))
			goto fail;
	}
	return c;
fail:
	sq_close(c);
	return NULL;
}

const struct store_driver store_sqlite_driver = {
	.name = "sqlite",
	.conn_open = sq_open,
	.conn_close = sq_close,
	.run = sq_run,
	.script = sq_script,
	.txop = sq_txop,
	.in_tx = sq_in_tx,
};
