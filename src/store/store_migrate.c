/*
 * store_migrate — per-module schema versions.
 *
 * The table schema_versions(module, version) records how many migration
 * steps of each module the database has. store_migrate runs each missing
 * step as a solo write job: the step's statements and the version bump
 * commit together or not at all, and because the current version is read
 * inside that same transaction on the single writer, two threads migrating
 * the same module at once cannot both apply a step.
 *
 * Invariant: a database whose version for a module is above the number of
 * steps the running code knows is never touched (downgrade protection):
 * old code must not write into a schema it does not understand.
 */
#include <string.h>

#include "store/store_int.h"

static const char create_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_versions ("
	" module TEXT PRIMARY KEY,"
	" version BIGINT NOT NULL)";

int store_migrate_init(struct store *s, struct bw_err *err)
{
	/* Runs before the writer thread exists, directly on its connection. */
	return s->drv->script(s->wconn, create_sql, err);
}

static int valid_module(const char *m)
{
	size_t n = m ? strnlen(m, STORE_MODULE_NAME_MAX + 1) : 0;
	if (n == 0 || n > STORE_MODULE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = m[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

static int version_row(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_STOP;
}

static const char select_sql[] =
	"SELECT version FROM schema_versions WHERE module = ?";

struct step_job {
	const char *module;
	const char *const *steps;
	size_t nsteps;
	int64_t reached; /* OUT: version after this job */
};

static int step_fn(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct step_job *j = arg;
	struct store_value v[2] = { store_text_str(j->module) };
	int64_t cur = 0;

	if (store_tx_query_one(tx, select_sql, v, 1, version_row, &cur,
			       err) < 0)
		return -1;
	if (cur < 0 || (uint64_t)cur > j->nsteps)
		return bw_err_set(err, 500, STORE_MOD, "schema_newer",
				  "database has %s schema version %lld, this "
				  "code knows %zu: refusing to downgrade",
				  j->module, (long long)cur, j->nsteps);
	j->reached = cur;
	if ((uint64_t)cur == j->nsteps)
		return 0;
	const char *step = j->steps[cur];
	if (!step || strnlen(step, STORE_MIGRATION_SQL_MAX + 1) >
			     STORE_MIGRATION_SQL_MAX)
		return bw_err_set(err, 400, STORE_MOD, "bad_migration",
				  "%s step %lld is missing or too long",
				  j->module, (long long)cur + 1);
	if (tx->s->drv->script(tx->c, step, err) != 0) {
		/* Say which step failed; the engine's message follows. */
		char msg[sizeof(err->msg)];
		memcpy(msg, err->msg, sizeof(msg));
		bw_snprintf(err->msg, sizeof(err->msg), "%s step %lld: %s",
			    j->module, (long long)cur + 1, msg);
		return -1;
	}
	v[1] = store_int(cur + 1);
	if (store_tx_exec(tx,
			  "INSERT INTO schema_versions (module, version) "
			  "VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET "
			  "version = excluded.version",
			  v, 2, err) != 0)
		return -1;
	j->reached = cur + 1;
	return 0;
}

int store_migrate(struct store *s, const char *module,
		  const char *const steps[], size_t nsteps, struct bw_err *err)
{
	if (!valid_module(module))
		return bw_err_set(err, 400, STORE_MOD, "bad_module",
				  "module name must be 1..%d bytes of [a-z0-9_]",
				  STORE_MODULE_NAME_MAX);
	if (nsteps && !steps)
		return bw_err_set(err, 400, STORE_MOD, "bad_migration",
				  "no steps array");
	struct step_job j = { module, steps, nsteps, 0 };
	for (;;) {
		j.reached = -1;
		if (store_write_job(s, step_fn, &j, true, err) != 0)
			return -1;
		if ((uint64_t)j.reached >= nsteps)
			break;
	}
	return 0;
}

int store_schema_version(struct store *s, const char *module,
			 int64_t *version, struct bw_err *err)
{
	if (!valid_module(module))
		return bw_err_set(err, 400, STORE_MOD, "bad_module",
				  "module name must be 1..%d bytes of [a-z0-9_]",
				  STORE_MODULE_NAME_MAX);
	struct store_value v = store_text_str(module);
	*version = 0;
	return store_query_one(s, select_sql, &v, 1, version_row, version,
			       err) < 0
		       ? -1
		       : 0;
}
