/*
 * store — the generic half of the storage interface: option checking, the
 * driver table, the pool of read connections, reads, the portable row
 * accessors and the thread-local guards against deadlocking re-entry.
 * Writes and group commit live in store_write.c, migrations in
 * store_migrate.c, the SQLite engine in store_sqlite.c.
 *
 * Invariants:
 *  - a read connection is in free[] exactly when no thread holds it;
 *  - the row accessors never pass an out-of-range column to a driver and
 *    never return a NULL pointer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static const struct store_driver *const drivers[] = {
	&store_sqlite_driver,
};

/* ---------------------------------------------------------------- guards */

static _Thread_local int tl_in_callback;
static _Thread_local bool tl_on_writer;

bool store_guard_in_callback(void)
{
	return tl_in_callback > 0;
}
void store_guard_enter_callback(void)
{
	tl_in_callback++;
}
void store_guard_leave_callback(void)
{
	tl_in_callback--;
}
bool store_guard_on_writer(void)
{
	return tl_on_writer;
}
void store_guard_set_writer(void)
{
	tl_on_writer = true;
}

/* --------------------------------------------------------------- options */

static int pick(unsigned v, unsigned def, unsigned max, const char *name,
		unsigned *out, struct bw_err *err)
{
	if (v == 0)
		v = def;
	if (v > max)
		return bw_err_set(err, 400, STORE_MOD, "bad_option",
				  "%s %u exceeds the maximum %u", name, v, max);
	*out = v;
	return 0;
}

static int cfg_init(struct store_cfg *cfg, const struct store_options *o,
		    struct bw_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	if (!o->path || !o->path[0])
		return bw_err_set(err, 400, STORE_MOD, "bad_option",
				  "no database path");
	if (o->durability != STORE_DURABILITY_FULL &&
	    o->durability != STORE_DURABILITY_NORMAL)
		return bw_err_set(err, 400, STORE_MOD, "bad_option",
				  "unknown durability %d", (int)o->durability);
	if (pick(o->read_pool, STORE_READ_POOL_DEFAULT, STORE_READ_POOL_MAX,
		 "read_pool", &cfg->read_pool, err) ||
	    pick(o->busy_timeout_ms, STORE_BUSY_TIMEOUT_MS_DEFAULT,
		 STORE_BUSY_TIMEOUT_MS_MAX, "busy_timeout_ms",
		 &cfg->busy_timeout_ms, err) ||
	    pick(o->max_batch, STORE_MAX_BATCH_DEFAULT, STORE_MAX_BATCH_HARD,
		 "max_batch", &cfg->max_batch, err) ||
	    pick(o->queue_max, STORE_QUEUE_DEFAULT, STORE_QUEUE_MAX,
		 "queue_max", &cfg->queue_max, err) ||
	    pick(o->stmt_cache, STORE_STMT_CACHE_DEFAULT, STORE_STMT_CACHE_MAX,
		 "stmt_cache", &cfg->stmt_cache, err))
		return -1;
	if (o->page_size &&
	    (o->page_size < STORE_PAGE_SIZE_MIN || o->page_size > STORE_PAGE_SIZE_MAX ||
	     (o->page_size & (o->page_size - 1)) != 0))
		return bw_err_set(err, 400, STORE_MOD, "bad_option",
				  "page_size %u is not a power of two in [%u, %u]",
				  o->page_size, STORE_PAGE_SIZE_MIN, STORE_PAGE_SIZE_MAX);
	if (o->checkpoint_pages > STORE_CHECKPOINT_PAGES_MAX)
		return bw_err_set(err, 400, STORE_MOD, "bad_option",
				  "checkpoint_pages %u exceeds the maximum %u",
				  o->checkpoint_pages, STORE_CHECKPOINT_PAGES_MAX);
	cfg->page_size = o->page_size;
	cfg->checkpoint_pages = o->checkpoint_pages;
	cfg->durability = o->durability;
	cfg->path = strdup(o->path);
	if (!cfg->path)
		return bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
	return 0;
}

/* ---------------------------------------------------------- open, close */

static void store_free(struct store *s)
{
	if (s->readers) {
		for (unsigned i = 0; i < s->cfg.read_pool; i++)
			s->drv->conn_close(s->readers[i]);
	}
	s->drv->conn_close(s->wconn);
	free(s->readers);
	free(s->free);
	free(s->slots);
	free(s->cfg.path);
	pthread_cond_destroy(&s->pool_cv);
	pthread_mutex_destroy(&s->pool_mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->room_cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct store *store_open(const struct store_options *opts, struct bw_err *err)
{
	const struct store_driver *drv = NULL;
	const char *name = opts && opts->driver ? opts->driver : "sqlite";

	if (!opts) {
		bw_err_set(err, 400, STORE_MOD, "bad_option", "no options");
		return NULL;
	}
	for (size_t i = 0; i < BW_ARRAY_LEN(drivers); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			drv = drivers[i];
	if (!drv) {
		bw_err_set(err, 400, STORE_MOD, "bad_option",
			   "unknown store driver \"%.32s\"", name);
		return NULL;
	}

	struct store *s = calloc(1, sizeof(*s));
	if (!s) {
		bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
		return NULL;
	}
	s->drv = drv;
	pthread_mutex_init(&s->pool_mu, NULL);
	pthread_cond_init(&s->pool_cv, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->room_cv, NULL);
	if (cfg_init(&s->cfg, opts, err) != 0)
		goto fail;

	/* The writer first: it creates the file and switches it to WAL,
	 * which readers then find already set. */
	s->wconn = drv->conn_open(&s->cfg, true, err);
	if (!s->wconn)
		goto fail;
	if (store_migrate_init(s, err) != 0)
		goto fail;

	s->readers = calloc(s->cfg.read_pool, sizeof(*s->readers));
	s->free = calloc(s->cfg.read_pool, sizeof(*s->free));
	/* Jobs of the batch in flight keep their slots until reported, so
	 * the pool holds a full queue plus one batch. */
	unsigned nslots = s->cfg.queue_max + s->cfg.max_batch;
	s->slots = calloc(nslots, sizeof(*s->slots));
	if (!s->readers || !s->free || !s->slots) {
		bw_err_set(err, 500, STORE_MOD, "nomem", "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < s->cfg.read_pool; i++) {
		s->readers[i] = drv->conn_open(&s->cfg, false, err);
		if (!s->readers[i])
			goto fail;
		s->free[s->nfree++] = s->readers[i];
	}
	for (unsigned i = nslots; i-- > 0;) {
		s->slots[i].next = s->free_slots;
		s->free_slots = &s->slots[i];
	}
	if (store_writer_start(s, err) != 0)
		goto fail;
	return s;
fail:
	store_free(s);
	return NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_writer_stop(s);
	BW_ASSERT(s->nfree == s->cfg.read_pool);
	store_free(s);
}

const char *store_driver_name(const struct store *s)
{
	return s->drv->name;
}

void store_stats_get(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}

/* ----------------------------------------------------------------- reads */

static struct store_conn *pool_take(struct store *s)
{
	pthread_mutex_lock(&s->pool_mu);
	while (s->nfree == 0)
		pthread_cond_wait(&s->pool_cv, &s->pool_mu);
	struct store_conn *c = s->free[--s->nfree];
	pthread_mutex_unlock(&s->pool_mu);
	return c;
}

static void pool_put(struct store *s, struct store_conn *c)
{
	pthread_mutex_lock(&s->pool_mu);
	s->free[s->nfree++] = c;
	pthread_cond_signal(&s->pool_cv);
	pthread_mutex_unlock(&s->pool_mu);
}

/* Checks common to every statement entry point. */
static int check_call(const char *sql, const struct store_value *binds,
		      size_t nbinds, struct bw_err *err)
{
	if (store_guard_in_callback())
		return bw_err_set(err, 500, STORE_MOD, "reentrant",
				  "store called from inside a row callback");
	if (!sql)
		return bw_err_set(err, 400, STORE_MOD, "sql_empty",
				  "no SQL text");
	if (strnlen(sql, STORE_SQL_MAX + 1) > STORE_SQL_MAX)
		return bw_err_set(err, 400, STORE_MOD, "sql_too_long",
				  "SQL text over %d bytes", STORE_SQL_MAX);
	if (nbinds > STORE_BINDS_MAX || (nbinds && !binds))
		return bw_err_set(err, 400, STORE_MOD, "bind_count",
				  "bad bind array (%zu values)", nbinds);
	return 0;
}

struct guarded {
	store_row_fn fn;
	void *arg;
	bool one;
	bool found;
};

/* Wraps a caller's row callback: marks the thread as inside a callback
 * (so re-entry is refused instead of deadlocking) and implements _one. */
static int guarded_row(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	struct guarded *g = arg;
	int r = STORE_ROW_NEXT;
	g->found = true;
	if (g->fn) {
		store_guard_enter_callback();
		r = g->fn(g->arg, row, err);
		store_guard_leave_callback();
	}
	if (r == STORE_ROW_NEXT && g->one)
		r = STORE_ROW_STOP;
	return r;
}

static int run_on(struct store *s, struct store_conn *c, const char *sql,
		    const struct store_value *binds, size_t nbinds,
		    struct guarded *g, int64_t *changes, struct bw_err *err)
{
	if (check_call(sql, binds, nbinds, err) != 0)
		return -1;
	return s->drv->run(c, sql, binds, nbinds, guarded_row, g, changes,
			   err);
}

static int query(struct store *s, const char *sql,
		 const struct store_value *binds, size_t nbinds,
		 store_row_fn fn, void *arg, bool one, struct bw_err *err)
{
	struct guarded g = { fn, arg, one, false };
	if (check_call(sql, binds, nbinds, err) != 0)
		return -1;
	struct store_conn *c = pool_take(s);
	int rc = s->drv->run(c, sql, binds, nbinds, guarded_row, &g, NULL,
			     err);
	pool_put(s, c);
	if (rc != 0)
		return -1;
	return g.found ? 1 : 0;
}

int store_query(struct store *s, const char *sql,
		const struct store_value *binds, size_t nbinds,
		store_row_fn fn, void *arg, struct bw_err *err)
{
	return query(s, sql, binds, nbinds, fn, arg, false, err) < 0 ? -1 : 0;
}

int store_query_one(struct store *s, const char *sql,
		    const struct store_value *binds, size_t nbinds,
		    store_row_fn fn, void *arg, struct bw_err *err)
{
	return query(s, sql, binds, nbinds, fn, arg, true, err);
}

/* ------------------------------------------------ statements in a job */

int store_tx_exec(struct store_tx *tx, const char *sql,
		  const struct store_value *binds, size_t nbinds,
		  struct bw_err *err)
{
	struct guarded g = { NULL, NULL, false, false };
	tx->changes = 0;
	return run_on(tx->s, tx->c, sql, binds, nbinds, &g, &tx->changes,
			err);
}

int store_tx_query(struct store_tx *tx, const char *sql,
		   const struct store_value *binds, size_t nbinds,
		   store_row_fn fn, void *arg, struct bw_err *err)
{
	struct guarded g = { fn, arg, false, false };
	return run_on(tx->s, tx->c, sql, binds, nbinds, &g, NULL, err);
}

int store_tx_query_one(struct store_tx *tx, const char *sql,
		       const struct store_value *binds, size_t nbinds,
		       store_row_fn fn, void *arg, struct bw_err *err)
{
	struct guarded g = { fn, arg, true, false };
	if (run_on(tx->s, tx->c, sql, binds, nbinds, &g, NULL, err) != 0)
		return -1;
	return g.found ? 1 : 0;
}

int64_t store_tx_changes(const struct store_tx *tx)
{
	return tx->changes;
}

/* ------------------------------------------------------------------ rows */

static bool col_ok(const struct store_row *row, int col)
{
	return col >= 0 && col < row->ops->ncols(row->impl);
}

int store_row_ncols(const struct store_row *row)
{
	return row->ops->ncols(row->impl);
}

enum store_type store_row_type(const struct store_row *row, int col)
{
	return col_ok(row, col) ? row->ops->type(row->impl, col) : STORE_NULL;
}

bool store_row_is_null(const struct store_row *row, int col)
{
	return store_row_type(row, col) == STORE_NULL;
}

int64_t store_row_int64(const struct store_row *row, int col)
{
	switch (store_row_type(row, col)) {
	case STORE_INT64:
		return row->ops->int64(row->impl, col);
	case STORE_DOUBLE: {
		double d = row->ops->dbl(row->impl, col);
		/* Out of range (or NaN) conversion is undefined in C. */
		if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0))
			return 0;
		return (int64_t)d;
	}
	default:
		return 0;
	}
}

double store_row_double(const struct store_row *row, int col)
{
	switch (store_row_type(row, col)) {
	case STORE_INT64:
		return (double)row->ops->int64(row->impl, col);
	case STORE_DOUBLE:
		return row->ops->dbl(row->impl, col);
	default:
		return 0.0;
	}
}

struct bw_str store_row_text(const struct store_row *row, int col)
{
	size_t n = 0;
	if (store_row_type(row, col) != STORE_TEXT)
		return bw_str_make("", 0);
	const void *p = row->ops->bytes(row->impl, col, &n);
	return bw_str_make(p, n);
}

const void *store_row_blob(const struct store_row *row, int col, size_t *len)
{
	enum store_type t = store_row_type(row, col);
	*len = 0;
	if (t != STORE_BLOB && t != STORE_TEXT)
		return "";
	return row->ops->bytes(row->impl, col, len);
}
