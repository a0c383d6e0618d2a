/* Unit tests for store: opening and options, migrations and downgrade
 * refusal, binding and reading back every value type (NUL bytes included),
 * error mapping (constraint -> 409, no bound values in messages), the
 * portable-subset checks at prepare time and the re-entry guards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_limits.h"

struct fixture {
	char dir[64];
	char path[96];
	struct store *s;
};

static void cleanup_files(struct fixture *f)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[128];
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++) {
		if (bw_snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]) > 0)
			unlink(p);
	}
	rmdir(f->dir);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bw_err err;
	if (!f)
		return -1;
	bw_snprintf(f->dir, sizeof(f->dir), "/tmp/bw-store-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	bw_snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	struct store_options o = { .path = f->path };
	f->s = store_open(&o, &err);
	if (!f->s) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	cleanup_files(f);
	free(f);
	return 0;
}

/* -------------------------------------------------------------- open */

static void open_rejects_bad_options(void **state)
{
	struct bw_err err;
	struct store_options o = { .path = NULL };
	assert_null(store_open(&o, &err));
	assert_int_equal(err.code, 400);
	assert_string_equal(err.reason, "bad_option");

	o.path = "/tmp/x.db";
	o.driver = "oracle";
	assert_null(store_open(&o, &err));
	assert_int_equal(err.code, 400);

	o.driver = "sqlite";
	o.read_pool = STORE_READ_POOL_MAX + 1;
	assert_null(store_open(&o, &err));
	assert_string_equal(err.reason, "bad_option");

	o.read_pool = 0;
	o.queue_max = STORE_QUEUE_MAX + 1;
	assert_null(store_open(&o, &err));

	o.queue_max = 0;
	o.durability = (enum store_durability)7;
	assert_null(store_open(&o, &err));

	o.durability = STORE_DURABILITY_FULL;
	o.page_size = 1000; /* not a power of two */
	assert_null(store_open(&o, &err));
	assert_string_equal(err.reason, "bad_option");
	o.page_size = STORE_PAGE_SIZE_MAX * 2;
	assert_null(store_open(&o, &err));
	o.page_size = 0;
	o.checkpoint_pages = STORE_CHECKPOINT_PAGES_MAX + 1;
	assert_null(store_open(&o, &err));
	assert_string_equal(err.reason, "bad_option");
	o.checkpoint_pages = 0;

	/* A directory that does not exist: the engine cannot create it. */
	o.durability = STORE_DURABILITY_FULL;
	o.path = "/nonexistent-bw-dir/x.db";
	assert_null(store_open(&o, &err));
	assert_int_equal(err.code, 500);
	store_close(NULL); /* accepts NULL */
}

static int int_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

struct pragma_job {
	int64_t sync;
};

static int sync_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct pragma_job *p = arg;
	return store_tx_query_one(tx, "PRAGMA synchronous", NULL, 0, int_row,
				  &p->sync, err) == 1
		       ? 0
		       : -1;
}

static void open_uses_wal_and_full_sync(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	struct pragma_job pj = { -1 };
	assert_string_equal(store_driver_name(f->s), "sqlite");
	/* synchronous is per connection: ask the writer's. FULL is 2. */
	assert_int_equal(store_write(f->s, sync_job, &pj, &err), 0);
	assert_int_equal(pj.sync, 2);
	/* WAL is a property of the file: bytes 18 and 19 of the header are
	 * 2 (read and write format versions) in WAL mode. */
	FILE *fp = fopen(f->path, "rb");
	assert_non_null(fp);
	unsigned char hdr[20];
	assert_int_equal(fread(hdr, 1, sizeof(hdr), fp), sizeof(hdr));
	fclose(fp);
	assert_int_equal(hdr[18], 2);
	assert_int_equal(hdr[19], 2);
}

static void open_normal_durability_sets_normal_sync(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	struct pragma_job pj = { -1 };
	struct store_options o = { .path = f->path,
				   .durability = STORE_DURABILITY_NORMAL };
	struct store *s = store_open(&o, &err);
	assert_non_null(s);
	assert_int_equal(store_write(s, sync_job, &pj, &err), 0);
	assert_int_equal(pj.sync, 1); /* NORMAL */
	store_close(s);
}

static int blob_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	static unsigned char buf[4096];
	memset(buf, 'x', sizeof(buf));
	struct store_value v[] = { store_blob(buf, sizeof(buf)) };
	return store_tx_exec(tx, "INSERT INTO big (b) VALUES (?)", v, 1, err);
}

static long file_size(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fclose(fp);
	return n;
}

/* A new database takes the page size asked for (header bytes 16-17, big
 * endian), and with checkpoint_pages the log is copied into the database
 * file by the background thread, below the writer's backstop. */
static void open_page_size_and_background_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	char path[128];
	assert_true(bw_snprintf(path, sizeof(path), "%s/ck.db", f->dir) > 0);
	struct store_options o = { .path = path, .page_size = 16384,
				   .checkpoint_pages = 8,
				   .durability = STORE_DURABILITY_NORMAL };
	struct store *s = store_open(&o, &err);
	assert_non_null(s);
	assert_int_equal(store_exec(s, "CREATE TABLE big (b BLOB)", NULL, 0, NULL, &err), 0);
	long before = file_size(path);
	/* 60 x 4 KiB: about 16 pages of 16 KiB, twice the threshold and far
	 * below the backstop (16 x 8), so only the checkpointer copies them */
	for (int i = 0; i < 60; i++)
		assert_int_equal(store_write(s, blob_job, NULL, &err), 0);
	long after = before;
	for (int i = 0; i < 500 && after < before + 200 * 1024; i++) {
		usleep(10000);
		after = file_size(path);
	}
	assert_true(after >= before + 200 * 1024);
	int64_t n = 0;
	assert_int_equal(store_query_one(s, "SELECT COUNT(*) FROM big", NULL, 0, int_row,
					 &n, &err), 1);
	assert_int_equal(n, 60);
	store_close(s);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	unsigned char hdr[20];
	assert_int_equal(fread(hdr, 1, sizeof(hdr), fp), sizeof(hdr));
	fclose(fp);
	assert_int_equal(hdr[16] << 8 | hdr[17], 16384);
	static const char *const sfx[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++) {
		char p[160];
		if (bw_snprintf(p, sizeof(p), "%s%s", path, sfx[i]) > 0)
			unlink(p);
	}
}

/* --------------------------------------------------------- migrations */

static const char *const steps_v2[] = {
	"CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB);"
	"CREATE INDEX kv_v ON kv (v)",
	"ALTER TABLE kv ADD COLUMN n BIGINT NOT NULL DEFAULT 0",
};

static void migrate_applies_and_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	int64_t v = -1;
	assert_int_equal(store_schema_version(f->s, "test", &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 1, &err), 0);
	assert_int_equal(store_schema_version(f->s, "test", &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 2, &err), 0);
	assert_int_equal(store_schema_version(f->s, "test", &v, &err), 0);
	assert_int_equal(v, 2);
	/* Again: nothing runs (the ALTER would fail if it did). */
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 2, &err), 0);
	struct store_value b[] = { store_text_str("a"), store_blob("x", 1),
				   store_int(3) };
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)",
				    b, 3, NULL, &err),
			 0);
	/* Another module is versioned on its own. */
	assert_int_equal(store_schema_version(f->s, "other", &v, &err), 0);
	assert_int_equal(v, 0);
}

static void migrate_refuses_downgrade(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	int64_t v;
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 2, &err), 0);
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 1, &err), -1);
	assert_int_equal(err.code, 500);
	assert_string_equal(err.reason, "schema_newer");
	assert_int_equal(store_migrate(f->s, "test", NULL, 0, &err), -1);
	assert_string_equal(err.reason, "schema_newer");
	assert_int_equal(store_schema_version(f->s, "test", &v, &err), 0);
	assert_int_equal(v, 2);
}

static void migrate_failed_step_leaves_previous_version(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	int64_t v;
	static const char *const bad[] = {
		"CREATE TABLE a (x BIGINT)",
		/* the first statement works, the second fails: both undone */
		"CREATE TABLE b (y BIGINT); INSERT INTO nosuch VALUES (1)",
	};
	assert_int_equal(store_migrate(f->s, "bad", bad, 2, &err), -1);
	assert_int_equal(err.code, 500);
	assert_non_null(strstr(err.msg, "bad step 2"));
	assert_int_equal(store_schema_version(f->s, "bad", &v, &err), 0);
	assert_int_equal(v, 1);
	/* Table b must not exist: the failed step rolled back entirely. */
	assert_int_equal(store_exec(f->s, "INSERT INTO b (y) VALUES (1)",
				    NULL, 0, NULL, &err),
			 -1);
	assert_non_null(strstr(err.msg, "no such table"));
	assert_int_equal(store_exec(f->s, "INSERT INTO a (x) VALUES (1)",
				    NULL, 0, NULL, &err),
			 0);
}

static void migrate_rejects_bad_names_and_dialect(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	static const char *const ai[] = {
		"CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)",
	};
	assert_int_equal(store_migrate(f->s, "Bad-Name", steps_v2, 1, &err),
			 -1);
	assert_string_equal(err.reason, "bad_module");
	assert_int_equal(store_migrate(f->s, "", steps_v2, 1, &err), -1);
	assert_int_equal(store_migrate(f->s,
				       "a_name_that_is_far_too_long_for_it_x",
				       steps_v2, 1, &err),
			 -1);
	assert_int_equal(store_migrate(f->s, "ai", ai, 1, &err), -1);
	assert_int_equal(err.code, 400);
	assert_string_equal(err.reason, "sql_dialect");
}

/* -------------------------------------------------------------- binds */

static const char *const typed_schema[] = {
	"CREATE TABLE t (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION,"
	" s TEXT, b BLOB, f BOOLEAN, z TEXT)",
};

struct typed {
	int64_t i;
	double d;
	char s[64];
	size_t slen;
	unsigned char b[64];
	size_t blen;
	int64_t f;
	enum store_type types[7];
	int ncols;
};

static int typed_row(void *arg, const struct store_row *row,
		     struct bw_err *err)
{
	struct typed *t = arg;
	t->ncols = store_row_ncols(row);
	for (int c = 0; c < 7; c++)
		t->types[c] = store_row_type(row, c);
	t->i = store_row_int64(row, 1);
	t->d = store_row_double(row, 2);
	struct bw_str s = store_row_text(row, 3);
	if (s.len > sizeof(t->s))
		return bw_err_set(err, 500, "test", "big", "text too big");
	memcpy(t->s, s.p, s.len);
	t->slen = s.len;
	size_t bl;
	const void *bp = store_row_blob(row, 4, &bl);
	assert_non_null(bp);
	if (bl > sizeof(t->b))
		return bw_err_set(err, 500, "test", "big", "blob too big");
	memcpy(t->b, bp, bl);
	t->blen = bl;
	t->f = store_row_int64(row, 5);
	assert_true(store_row_is_null(row, 6));
	return STORE_ROW_NEXT;
}

static void binds_round_trip_every_type(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	static const char text[] = "a\0b\0\xc3\xa9z"; /* NULs inside */
	static const unsigned char blob[] = { 0, 1, 0, 255, 0 };
	assert_int_equal(store_migrate(f->s, "typed", typed_schema, 1, &err),
			 0);
	struct store_value v[] = {
		store_int(1),
		store_int(INT64_MIN),
		store_double(-0.125e300),
		store_text(text, sizeof(text) - 1),
		store_blob(blob, sizeof(blob)),
		store_bool(true),
		store_null(),
	};
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
				    v, 7, NULL, &err),
			 0);
	struct typed t = { 0 };
	struct store_value key = store_int(1);
	assert_int_equal(store_query_one(f->s, "SELECT * FROM t WHERE id = ?",
					 &key, 1, typed_row, &t, &err),
			 1);
	assert_int_equal(t.ncols, 7);
	assert_int_equal(t.types[0], STORE_INT64);
	assert_int_equal(t.types[1], STORE_INT64);
	assert_int_equal(t.types[2], STORE_DOUBLE);
	assert_int_equal(t.types[3], STORE_TEXT);
	assert_int_equal(t.types[4], STORE_BLOB);
	assert_int_equal(t.types[5], STORE_INT64);
	assert_int_equal(t.types[6], STORE_NULL);
	assert_true(t.i == INT64_MIN);
	assert_true(t.d == -0.125e300);
	assert_int_equal(t.slen, sizeof(text) - 1);
	assert_memory_equal(t.s, text, sizeof(text) - 1);
	assert_int_equal(t.blen, sizeof(blob));
	assert_memory_equal(t.b, blob, sizeof(blob));
	assert_int_equal(t.f, 1);

	/* Empty text and blob stay empty values, not NULL. */
	struct store_value e[] = { store_int(2), store_int(0),
				   store_double(0), store_text(NULL, 0),
				   store_blob(NULL, 0), store_bool(false),
				   store_null() };
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
				    e, 7, NULL, &err),
			 0);
	key = store_int(2);
	memset(&t, 0, sizeof(t));
	assert_int_equal(store_query_one(f->s, "SELECT * FROM t WHERE id = ?",
					 &key, 1, typed_row, &t, &err),
			 1);
	assert_int_equal(t.types[3], STORE_TEXT);
	assert_int_equal(t.types[4], STORE_BLOB);
	assert_int_equal(t.slen, 0);
	assert_int_equal(t.blen, 0);
	assert_int_equal(t.f, 0);

	/* No row: query_one says 0 and does not call back. */
	key = store_int(99);
	assert_int_equal(store_query_one(f->s, "SELECT * FROM t WHERE id = ?",
					 &key, 1, typed_row, NULL, &err),
			 0);
	/* store_text_str(NULL) binds NULL. */
	struct store_value n = store_text_str(NULL);
	assert_int_equal(n.type, STORE_NULL);
}

static int accessor_row(void *arg, const struct store_row *row,
			struct bw_err *err)
{
	size_t len = 99;
	/* Out of range columns give empty values, never a crash. */
	assert_int_equal(store_row_type(row, -1), STORE_NULL);
	assert_int_equal(store_row_type(row, 50), STORE_NULL);
	assert_int_equal(store_row_int64(row, 50), 0);
	assert_non_null(store_row_blob(row, 50, &len));
	assert_int_equal(len, 0);
	assert_int_equal(store_row_text(row, 50).len, 0);
	/* Narrow conversions: double -> int truncates, text is not a number,
	 * text bytes are readable as blob, int is not text. */
	assert_int_equal(store_row_int64(row, 0), -2);
	assert_int_equal(store_row_int64(row, 1), 0);
	assert_true(store_row_double(row, 2) == 7.0);
	const void *p = store_row_blob(row, 1, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(store_row_text(row, 2).len, 0);
	assert_int_equal(store_row_int64(row, 3), 0); /* 1e300 out of range */
	(*(int *)arg)++;
	return STORE_ROW_NEXT;
}

static void row_accessors_convert_narrowly(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	int calls = 0;
	assert_int_equal(store_query(f->s, "SELECT -2.9, 'abc', 7, 1e300",
				     NULL, 0, accessor_row, &calls, &err),
			 0);
	assert_int_equal(calls, 1);
}

static void value_limits_are_enforced(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	assert_int_equal(store_migrate(f->s, "typed", typed_schema, 1, &err),
			 0);
	/* Larger than the limit: refused before SQLite sees the pointer. */
	static const char one = 'x';
	struct store_value v[] = { store_int(5), store_null(), store_null(),
				   store_text(&one, STORE_VALUE_MAX + 1),
				   store_null(), store_null(), store_null() };
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
				    v, 7, NULL, &err),
			 -1);
	assert_int_equal(err.code, 413);
	v[3] = store_blob(NULL, 4);
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
				    v, 7, NULL, &err),
			 -1);
	assert_int_equal(err.code, 400);
	v[3].type = (enum store_type)42;
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
				    v, 7, NULL, &err),
			 -1);
	assert_string_equal(err.reason, "bad_value");
	/* Wrong number of values. */
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)",
				    v, 2, NULL, &err),
			 -1);
	assert_string_equal(err.reason, "bind_count");
	assert_int_equal(store_query(f->s, "SELECT ?", NULL, 1, NULL, NULL,
				     &err),
			 -1);
	assert_string_equal(err.reason, "bind_count");
}

/* ------------------------------------------------------------- errors */

static void constraint_maps_to_409_without_values(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	int64_t changes = -1;
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 2, &err), 0);
	struct store_value b[] = { store_text_str("secret-key-123"),
				   store_blob("hunter2", 7), store_int(1) };
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)",
				    b, 3, &changes, &err),
			 0);
	assert_int_equal(changes, 1);
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)",
				    b, 3, NULL, &err),
			 -1);
	assert_int_equal(err.code, 409);
	assert_string_equal(err.reason, "conflict");
	assert_string_equal(err.module, "store");
	assert_null(strstr(err.msg, "secret-key-123"));
	assert_null(strstr(err.msg, "hunter2"));
	assert_non_null(strstr(err.msg, "UNIQUE"));

	/* NOT NULL is a constraint too. */
	b[0] = store_text_str("k2");
	b[2] = store_null();
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)",
				    b, 3, NULL, &err),
			 -1);
	assert_int_equal(err.code, 409);

	/* Upsert is how modules avoid the conflict. */
	b[0] = store_text_str("secret-key-123");
	b[2] = store_int(2);
	assert_int_equal(store_exec(f->s,
				    "INSERT INTO kv (k, v, n) VALUES (?, ?, ?) "
				    "ON CONFLICT (k) DO UPDATE SET n = excluded.n",
				    b, 3, &changes, &err),
			 0);
	assert_int_equal(changes, 1);
	int64_t n = 0;
	assert_int_equal(store_query_one(f->s,
					 "SELECT n FROM kv WHERE k = ?", b, 1,
					 int_row, &n, &err),
			 1);
	assert_int_equal(n, 2);

	/* Other errors are 500. */
	assert_int_equal(store_query(f->s, "SELECT nosuch FROM kv", NULL, 0,
				     NULL, NULL, &err),
			 -1);
	assert_int_equal(err.code, 500);
}

static void reads_cannot_write(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	assert_int_equal(store_migrate(f->s, "test", steps_v2, 1, &err), 0);
	assert_int_equal(store_query(f->s, "DELETE FROM kv", NULL, 0, NULL,
				     NULL, &err),
			 -1);
	assert_int_equal(err.code, 500);
}

static void non_portable_sql_is_refused(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	static const char *const bad[] = {
		"SELECT ?1",      "SELECT $1",          "SELECT :name",
		"SELECT @x",      "SELECT `a`",         "SELECT 1; SELECT 2",
		"SELECT 1::int",  "SELECT E'\\n'",      "SELECT 'open",
		"",               "  -- only a comment",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		err.code = 0;
		assert_int_equal(store_query(f->s, bad[i], NULL, 0, NULL, NULL,
					     &err),
				 -1);
		assert_int_equal(err.code, 400);
	}
	assert_int_equal(store_query(f->s, NULL, NULL, 0, NULL, NULL, &err),
			 -1);
	/* Too long, even before the lexer looks at it. */
	char *big = malloc(STORE_SQL_MAX + 16);
	assert_non_null(big);
	memset(big, ' ', STORE_SQL_MAX + 15);
	memcpy(big, "SELECT 1", 8);
	big[STORE_SQL_MAX + 15] = 0;
	assert_int_equal(store_query(f->s, big, NULL, 0, NULL, NULL, &err),
			 -1);
	assert_string_equal(err.reason, "sql_too_long");
	free(big);
	/* A trailing semicolon is still one statement. */
	assert_int_equal(store_query(f->s, "SELECT 1;", NULL, 0, NULL, NULL,
				     &err),
			 0);
}

struct nested {
	struct store *s;
	int rc;
	struct bw_err err;
};

static int nested_row(void *arg, const struct store_row *row,
		      struct bw_err *err)
{
	struct nested *n = arg;
	n->rc = store_query(n->s, "SELECT 1", NULL, 0, NULL, NULL, &n->err);
	return STORE_ROW_STOP;
}

static int failing_row(void *arg, const struct store_row *row,
		       struct bw_err *err)
{
	(*(int *)arg)++;
	return bw_err_set(err, 418, "test", "teapot", "callback refused");
}

static int counting_row(void *arg, const struct store_row *row,
			struct bw_err *err)
{
	return ++(*(int *)arg) == 3 ? STORE_ROW_STOP : STORE_ROW_NEXT;
}

static void callbacks_stop_fail_and_cannot_reenter(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	struct nested n = { f->s, 0, { 0 } };
	assert_int_equal(store_query(f->s, "SELECT 1", NULL, 0, nested_row,
				     &n, &err),
			 0);
	assert_int_equal(n.rc, -1);
	assert_string_equal(n.err.reason, "reentrant");

	int calls = 0;
	assert_int_equal(store_query(f->s,
				     "SELECT 1 UNION ALL SELECT 2", NULL, 0,
				     failing_row, &calls, &err),
			 -1);
	assert_int_equal(calls, 1);
	assert_int_equal(err.code, 418);

	calls = 0;
	assert_int_equal(store_query(f->s,
				     "WITH RECURSIVE c(x) AS (SELECT 1 UNION "
				     "ALL SELECT x + 1 FROM c WHERE x < 10) "
				     "SELECT x FROM c",
				     NULL, 0, counting_row, &calls, &err),
			 0);
	assert_int_equal(calls, 3);
	/* The statement was reset: the next use starts from row one. */
	int64_t first = 0;
	assert_int_equal(store_query_one(f->s,
					 "WITH RECURSIVE c(x) AS (SELECT 1 UNION "
					 "ALL SELECT x + 1 FROM c WHERE x < 10) "
					 "SELECT x FROM c",
					 NULL, 0, int_row, &first, &err),
			 1);
	assert_int_equal(first, 1);
}

static void statement_cache_evicts(void **state)
{
	struct fixture *f = *state;
	struct bw_err err;
	struct store_options o = { .path = f->path, .stmt_cache = 2,
				   .read_pool = 1 };
	struct store *s = store_open(&o, &err);
	assert_non_null(s);
	char sql[64];
	/* More distinct statements than cache slots, twice round. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 5; i++) {
			int64_t v = -1;
			bw_snprintf(sql, sizeof(sql), "SELECT %d + ?", i);
			struct store_value b = store_int(100);
			assert_int_equal(store_query_one(s, sql, &b, 1, int_row,
							 &v, &err),
					 1);
			assert_int_equal(v, 100 + i);
		}
	}
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_rejects_bad_options),
		cmocka_unit_test_setup_teardown(open_uses_wal_and_full_sync,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			open_normal_durability_sets_normal_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(open_page_size_and_background_checkpoint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_applies_and_is_idempotent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_refuses_downgrade, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			migrate_failed_step_leaves_previous_version, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			migrate_rejects_bad_names_and_dialect, setup, teardown),
		cmocka_unit_test_setup_teardown(binds_round_trip_every_type,
						setup, teardown),
		cmocka_unit_test_setup_teardown(row_accessors_convert_narrowly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(value_limits_are_enforced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			constraint_maps_to_409_without_values, setup, teardown),
		cmocka_unit_test_setup_teardown(reads_cannot_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(non_portable_sql_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			callbacks_stop_fail_and_cannot_reenter, setup, teardown),
		cmocka_unit_test_setup_teardown(statement_cache_evicts, setup,
						teardown),
	};
	log_init("test", BW_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
