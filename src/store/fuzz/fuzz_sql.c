/*
 * Fuzz target for the portable-SQL lexer: store_sql_scan in both modes and
 * store_sql_to_pg on whatever it accepts. Checks, beyond "no crash":
 *  - the single-statement mode accepts a subset of what multi mode accepts;
 *  - the rewrite accepts everything the scan accepts and turns exactly
 *    the counted placeholders into $n;
 *  - the rewrite never passes its buffer's ceiling, and without
 *    placeholders or BLOB/BOOLEAN words it copies the input unchanged;
 *  - when SQLite can prepare an accepted single statement, it counts the
 *    same parameters the lexer did.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sql = (const char *)data;
	struct store_sql_info one, multi;
	struct bw_err err;
	struct bw_buf out;

	if (size > STORE_SQL_MAX)
		return 0;
	int r1 = store_sql_scan(sql, size, false, &one, &err);
	int rm = store_sql_scan(sql, size, true, &multi, &err);
	if (r1 == 0 && rm != 0)
		abort();
	if (r1 == 0 && (one.statements != 1 ||
			one.placeholders != multi.placeholders))
		abort();

	/* Growth is at most 6 bytes ("$65535") per 1-byte "?"; BLOB and
	 * BOOLEAN grow by at most 1 byte per 4 bytes. */
	size_t cap = size * 6 + 16;
	size_t n = 0;
	bw_buf_init(&out, cap);
	int rw = store_sql_to_pg(sql, size, &out, &n, &err);
	/* The rewrite refuses exactly the lexical errors the scan refuses
	 * (the scan alone also refuses empty text). */
	if ((rm == 0 && rw != 0) || (rw != 0 && err.code != 400))
		abort();
	if (rm == 0) {
		if (n != multi.placeholders || out.len > cap)
			abort();
		bool no_b = !memchr(sql, 'b', size) && !memchr(sql, 'B', size);
		if (n == 0 && no_b &&
		    (out.len != size ||
		     memcmp(out.data ? out.data : "", sql, size) != 0))
			abort();
	}
	bw_buf_fini(&out);

	/* Compare parameter counts with SQLite's own lexer. */
	if (r1 == 0) {
		if (!db && sqlite3_open(":memory:", &db) != SQLITE_OK)
			abort();
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		if (sqlite3_prepare_v2(db, sql, (int)size, &st, &tail) ==
			    SQLITE_OK &&
		    st) {
			if ((size_t)sqlite3_bind_parameter_count(st) !=
			    one.placeholders)
				abort();
		}
		sqlite3_finalize(st);
	}
	return 0;
}
