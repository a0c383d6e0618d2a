/* Unit tests for the portable-SQL lexer (store_sql.c): what the subset
 * accepts and refuses, placeholder and statement counting that ignores
 * literals and comments, and the PostgreSQL rewrite (? -> $n, BLOB ->
 * BYTEA, BOOLEAN -> SMALLINT) including its output ceiling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/store_int.h"

static int scan(const char *sql, bool multi, struct store_sql_info *info,
		struct bw_err *err)
{
	return store_sql_scan(sql, strlen(sql), multi, info, err);
}

static void counts_placeholders_outside_literals(void **state)
{
	struct store_sql_info in;
	struct bw_err err;
	assert_int_equal(scan("SELECT a FROM t WHERE b = ? AND c = '?' AND "
			      "\"?\" = ? -- ?\n /* ? ; */",
			      false, &in, &err),
			 0);
	assert_int_equal(in.placeholders, 2);
	assert_int_equal(in.statements, 1);
	/* Doubled quotes are escapes, not ends. */
	assert_int_equal(scan("SELECT 'it''s ? here', ?", false, &in, &err),
			 0);
	assert_int_equal(in.placeholders, 1);
	assert_int_equal(scan("SELECT \"a\"\"?\" FROM t", false, &in, &err), 0);
	assert_int_equal(in.placeholders, 0);
	/* Backslash is ordinary in both dialects: 'a\' ends the literal. */
	assert_int_equal(scan("SELECT 'a\\', ?", false, &in, &err), 0);
	assert_int_equal(in.placeholders, 1);
}

static void counts_statements(void **state)
{
	struct store_sql_info in;
	struct bw_err err;
	assert_int_equal(scan("CREATE TABLE a (x BIGINT); ; CREATE INDEX i ON "
			      "a (x);\n-- done\n",
			      true, &in, &err),
			 0);
	assert_int_equal(in.statements, 2);
	assert_int_equal(scan("SELECT ';'", false, &in, &err), 0);
	assert_int_equal(in.statements, 1);
	assert_int_equal(scan("SELECT 1; SELECT 2", false, &in, &err), -1);
	assert_string_equal(err.reason, "sql_multi");
	assert_int_equal(scan(" ;; -- x\n", true, &in, &err), -1);
	assert_string_equal(err.reason, "sql_empty");
}

static void flags_transaction_control(void **state)
{
	struct store_sql_info in;
	struct bw_err err;
	static const char *const ctl[] = {
		"COMMIT", " -- c\n begin", "SELECT 1; ROLLBACK",
		"ATTACH 'f' AS x", "release x", "SAVEPOINT a", "END",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(ctl); i++) {
		assert_int_equal(scan(ctl[i], true, &in, &err), 0);
		assert_true(in.control);
	}
	static const char *const plain[] = {
		"SELECT begin FROM t", "UPDATE t SET commit_id = ?",
		"INSERT INTO rollback_log VALUES (?)", "SELECT 'COMMIT'",
		"CREATE TABLE t (x BIGINT); CREATE TABLE u (end_at BIGINT)",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(plain); i++) {
		assert_int_equal(scan(plain[i], true, &in, &err), 0);
		assert_false(in.control);
	}
}

static void refuses_dialect_and_broken_text(void **state)
{
	static const struct {
		const char *sql;
		const char *reason;
	} bad[] = {
		{ "SELECT ?1", "sql_placeholder" },
		{ "SELECT $1", "sql_placeholder" },
		{ "SELECT $$x$$", "sql_placeholder" },
		{ "SELECT :a", "sql_placeholder" },
		{ "SELECT @a", "sql_placeholder" },
		/* found by fuzz_sql: SQLite counts #name as a parameter */
		{ "SELECT #unterminated", "sql_placeholder" },
		{ "SELECT x::text", "sql_dialect" },
		{ "SELECT `x`", "sql_dialect" },
		{ "SELECT [x]", "sql_dialect" },
		{ "SELECT E'\\''", "sql_dialect" },
		{ "SELECT X'00'", "sql_dialect" },
		{ "SELECT U&'x'", "sql_dialect" },
		{ "SELECT 1 /* a /* b */ */", "sql_dialect" },
		{ "CREATE TABLE t (id INTEGER PRIMARY KEY autoincrement)",
		  "sql_dialect" },
		{ "SELECT 'x", "sql_unterminated" },
		{ "SELECT \"x", "sql_unterminated" },
		{ "SELECT 1 /* x", "sql_unterminated" },
		{ "SELECT 1 /*", "sql_unterminated" },
		{ "", "sql_empty" },
	};
	struct bw_err err;
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(scan(bad[i].sql, true, NULL, &err), -1);
		assert_int_equal(err.code, 400);
		assert_string_equal(err.reason, bad[i].reason);
	}
	/* A NUL byte inside the given length, in code and in a literal. */
	assert_int_equal(store_sql_scan("SELECT \0 1", 10, false, NULL, &err),
			 -1);
	assert_string_equal(err.reason, "sql_nul");
	assert_int_equal(store_sql_scan("SELECT '\0'", 10, false, NULL, &err),
			 -1);
	assert_string_equal(err.reason, "sql_nul");
	assert_int_equal(store_sql_scan(NULL, 0, false, NULL, &err), -1);
	/* The length is honoured: bytes past it are not read. */
	assert_int_equal(store_sql_scan("SELECT 1 'unterminated", 8, false,
					NULL, &err),
			 0);
	/* Words that merely contain the banned ones are fine. */
	assert_int_equal(scan("SELECT autoincrement_x, blobs FROM t", false,
			      NULL, &err),
			 0);
}

static void rewrites_for_postgres(void **state)
{
	struct bw_buf out;
	struct bw_err err;
	size_t n = 0;
	static const char in[] =
		"CREATE TABLE k (id TEXT, v blob, w BLOB, f BOOLEAN); "
		"INSERT INTO k VALUES (?, ?, '?blob') -- ? BLOB\n"
		"ON CONFLICT (id) DO UPDATE SET v = ?";
	bw_buf_init(&out, 4096);
	assert_int_equal(store_sql_to_pg(in, strlen(in), &out, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out.data,
			    "CREATE TABLE k (id TEXT, v BYTEA, w BYTEA, f SMALLINT); "
			    "INSERT INTO k VALUES ($1, $2, '?blob') -- ? BLOB\n"
			    "ON CONFLICT (id) DO UPDATE SET v = $3");
	bw_buf_fini(&out);

	/* Many placeholders: two-digit numbers. */
	char many[64] = "";
	size_t len = 0;
	for (int i = 0; i < 12; i++) {
		many[len++] = '?';
		many[len++] = ',';
	}
	many[len - 1] = 0;
	bw_buf_init(&out, 4096);
	assert_int_equal(store_sql_to_pg(many, len - 1, &out, &n, &err), 0);
	assert_int_equal(n, 12);
	assert_string_equal(out.data,
			    "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12");
	bw_buf_fini(&out);

	/* The ceiling holds. */
	bw_buf_init(&out, 8);
	assert_int_equal(store_sql_to_pg(in, strlen(in), &out, NULL, &err), -1);
	assert_int_equal(err.code, 413);
	assert_true(out.len <= 8);
	bw_buf_fini(&out);

	/* Broken input is refused, not rewritten. */
	bw_buf_init(&out, 64);
	assert_int_equal(store_sql_to_pg("SELECT 'x", 9, &out, NULL, &err), -1);
	assert_string_equal(err.reason, "sql_unterminated");
	bw_buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_placeholders_outside_literals),
		cmocka_unit_test(counts_statements),
		cmocka_unit_test(flags_transaction_control),
		cmocka_unit_test(refuses_dialect_and_broken_text),
		cmocka_unit_test(rewrites_for_postgres),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
