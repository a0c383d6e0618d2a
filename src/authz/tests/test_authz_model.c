/* Unit tests for the modelling language: valid DSL models of every
 * construct, every parse and validation error with its LINE:COLUMN, the
 * JSON form (OpenFGA's own shape, unknown members, bad shapes), and round
 * trips DSL -> model -> JSON -> model -> DSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz/authz_int.h"

static struct authz_model *dsl_ok(const char *text)
{
	struct bw_err err;
	struct authz_model *m = authz_model_parse_dsl(text, strlen(text), &err);
	if (!m)
		fail_msg("rejected: %s\n%s", err.msg, text);
	return m;
}

/* The model must be refused with a message starting "LINE:COL: " and
 * containing needle. */
static void dsl_bad(const char *text, const char *pos, const char *needle)
{
	struct bw_err err;
	struct authz_model *m = authz_model_parse_dsl(text, strlen(text), &err);
	if (m)
		fail_msg("accepted but must not be:\n%s", text);
	assert_int_equal(err.code, 400);
	assert_string_equal(err.reason, "invalid_model");
	if (strncmp(err.msg, pos, strlen(pos)) != 0 || err.msg[strlen(pos)] != ':')
		fail_msg("position: got '%s', want '%s: ...'", err.msg, pos);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static const char *full =
	"model\n"
	"  schema 1.1\n"
	"\n"
	"# users and groups\n"
	"type user\n"
	"type group\n"
	"  relations\n"
	"    define member: [user, group#member]\n"
	"type folder\n"
	"  relations\n"
	"    define owner: [user]\n"
	"    define viewer: [user, user:*, group#member] or owner  # trailing comment\n"
	"type document\n"
	"  relations\n"
	"    define parent: [folder]\n"
	"    define owner: [user]\n"
	"    define editor: [user with office_hours] or owner\n"
	"    define blocked: [user]\n"
	"    define viewer: ([user, group#member] or editor or viewer from parent) but not blocked\n"
	"    define auditor: [user] and viewer\n"
	"    define can_share: owner and (editor or viewer from parent)\n"
	"\n"
	"condition office_hours(now: timestamp, tz_ok: bool, tags: list<string>) {\n"
	"  now.getHours() >= 9 &&\n"
	"  now.getHours() < 17 && tz_ok\n"
	"}\n";

static void test_dsl_valid(void **state)
{
	(void)state;
	struct authz_model *m = dsl_ok(full);
	assert_int_equal(m->ntypes, 4);
	const struct authz_type *doc = authz_model_type(m, "document", 8);
	assert_non_null(doc);
	assert_int_equal(doc->nrels, 7);
	const struct authz_rel *v = authz_type_rel(doc, "viewer", 6);
	assert_int_equal(v->rw->kind, AUTHZ_RW_DIFF);
	assert_int_equal(v->rw->child[0]->kind, AUTHZ_RW_UNION);
	assert_int_equal(v->rw->child[0]->n, 3);
	assert_int_equal(v->rw->child[0]->child[2]->kind, AUTHZ_RW_TTU);
	assert_int_equal(v->ndt, 2);
	assert_string_equal(v->dt[1].rel, "member");
	const struct authz_rel *e = authz_type_rel(doc, "editor", 6);
	assert_string_equal(e->dt[0].cond, "office_hours");
	const struct authz_type *folder = authz_model_type(m, "folder", 6);
	assert_true(authz_type_rel(folder, "viewer", 6)->dt[1].wildcard);
	assert_int_equal(m->nconds, 1);
	assert_int_equal(m->conds[0].nparams, 3);
	assert_int_equal(m->conds[0].params[2].type.t, CEL_T_LIST);
	authz_model_free(m);

	/* a type with no relations, tabs, CRLF line ends, blank lines */
	m = dsl_ok("\n\nmodel\r\n\tschema 1.1\r\ntype user\r\n\r\ntype doc\r\n\trelations\r\n"
		   "\t\tdefine v: [user]\r\n");
	authz_model_free(m);
	/* restrictions across lines */
	m = dsl_ok("model\n  schema 1.1\ntype user\ntype doc\n  relations\n"
		   "    define v: [\n      user,\n      user:*\n    ]\n");
	authz_model_free(m);
	/* recursive relation with an entrypoint is fine (cycles are cut at
	 * evaluation time) */
	m = dsl_ok("model\n  schema 1.1\ntype user\ntype group\n  relations\n"
		   "    define member: [user] or member\n");
	authz_model_free(m);
}

static void test_dsl_errors(void **state)
{
	(void)state;
	const char *hdr = "model\n  schema 1.1\ntype user\n";
	char buf[1024];
#define BAD(body, pos, needle)                                              \
	do {                                                                \
		snprintf(buf, sizeof(buf), "%s%s", hdr, body);              \
		dsl_bad(buf, pos, needle);                                  \
	} while (0)
	dsl_bad("type user\n", "1:1", "must start with 'model'");
	dsl_bad("model\n  schema 1.0\ntype user\n", "2:10", "unsupported schema version");
	dsl_bad("model\ntype user\n", "2:1", "expected 'schema 1.1'");
	dsl_bad("model\n  schema 1.1\n", "1:1", "at least one type");
	dsl_bad("module foo\n", "1:1", "modular models are not supported");
	BAD("type doc\n  relations\n    define v [user]\n", "6:14", "expected ':'");
	BAD("type doc\n  relations\n    define v: [user\n", "7:1", "expected ',' or ']'");
	BAD("type doc\n  relations\n    define v: [user] or editor\n", "6:25",
	    "undefined relation 'editor'");
	BAD("type doc\n  relations\n    define v: [usr]\n", "6:16", "undefined type 'usr'");
	BAD("type doc\n  relations\n    define v: [user#member]\n", "6:16",
	    "undefined relation 'user#member'");
	BAD("type doc\n  relations\n    define v: [user with cond]\n", "6:16",
	    "undefined condition 'cond'");
	BAD("type doc\n  relations\n    define v: [user:*#x]\n", "6:22", "expected ',' or ']'");
	BAD("type doc\n  relations\n    define a: [user] or b and c\n    define b: [user]\n"
	    "    define c: [user]\n",
	    "6:27", "cannot mix 'or' and 'and'");
	BAD("type doc\n  relations\n    define a: [user] but not b but not c\n"
	    "    define b: [user]\n    define c: [user]\n",
	    "6:32", "'but not' takes one operand");
	BAD("type doc\n  relations\n    define a: b or [user]\n    define b: [user]\n", "6:20",
	    "must be the first operand");
	BAD("type doc\n  relations\n    define a: [user] but b\n", "6:26", "expected 'not'");
	BAD("type doc\n  relations\n    define a: ([user] or a\n", "7:1", "expected ')'");
	/* cycles without an entrypoint */
	BAD("type doc\n  relations\n    define a: b\n    define b: a\n", "6:12", "no entrypoint");
	BAD("type doc\n  relations\n    define a: a\n", "6:12", "no entrypoint");
	BAD("type doc\n  relations\n    define a: [user] and b\n    define b: a\n", "6:12",
	    "no entrypoint");
	/* tuple-to-userset */
	BAD("type doc\n  relations\n    define v: [user]\n    define c: v from parent\n", "7:15",
	    "tupleset relation 'parent' is not defined");
	BAD("type doc\n  relations\n    define parent: [doc]\n    define c: x from parent\n",
	    "7:15", "'x from parent' is not defined on any type");
	BAD("type doc\n  relations\n    define parent: [doc#parent]\n    define c: parent from parent\n",
	    "7:15", "may only be related to object types");
	BAD("type doc\n  relations\n    define p: [doc]\n    define parent: p\n"
	    "    define c: p from parent\n",
	    "8:15", "must be a direct relationship only");
	/* names and duplicates */
	BAD("type user\n", "4:6", "type 'user' is defined twice");
	BAD("type doc\n  relations\n    define v: [user]\n    define v: [user]\n", "7:12",
	    "defined twice");
	BAD("type doc\n  relations\n    define v: [user, user]\n", "6:22",
	    "duplicate type restriction");
	BAD("type self\n", "4:6", "invalid type name 'self'");
	BAD("type doc\n  relations\n    define v: [user] or\n", "6:24", "expected a relation name");
	BAD("type doc\n  relations\n", "6:1", "expected 'define'");
	BAD("type doc\nrelations\n", "5:1", "must be indented");
	BAD("  define v: [user]\n", "4:3", "'define' outside");
	BAD("type doc\n  relations\n    define v: [user] $\n", "6:22", "unexpected character");
	BAD("type doc\n  relations\n    define or: [user]\n", "6:12", "expected a relation name");
	/* conditions */
	BAD("condition c(x: integer) {\n  x > 1\n}\n", "4:16", "unknown parameter type 'integer'");
	BAD("condition c(x: int) {\n  y > 1\n}\n", "5:3", "undeclared reference to 'y'");
	BAD("condition c(x: int) {\n  x > 1\n", "4:11", "missing '}'");
	BAD("condition c(x: int) {\n}\n", "5:1", "empty expression");
	BAD("condition c(x: int) {\n  x + 1\n}\n", "5:3", "must evaluate to bool");
	BAD("condition c(x: int) { x > 1 }\ncondition c(x: int) { x > 2 }\n", "5:11",
	    "defined twice");
	BAD("condition c(x: int, x: int) { x > 1 }\n", "4:11", "declared twice");
	BAD("condition c() { true }\n", "4:13", "at least one parameter");
	BAD("condition c(x: list<list<int>>) { true }\n", "4:25", "expected");
#undef BAD
	/* NUL bytes and size */
	char nul[] = "model\n  schema 1.1\ntype u\0ser\n";
	struct bw_err err;
	assert_null(authz_model_parse_dsl(nul, sizeof(nul) - 1, &err));
	assert_non_null(strstr(err.msg, "3:7: NUL"));
	static char huge[AUTHZ_MODEL_MAX_BYTES + 2];
	memset(huge, ' ', sizeof(huge));
	assert_null(authz_model_parse_dsl(huge, sizeof(huge), &err));
	assert_int_equal(err.code, 413);
	/* deep parentheses are bounded */
	char deep[512];
	size_t n = (size_t)snprintf(deep, sizeof(deep), "%stype doc\n  relations\n    define v: ", hdr);
	for (int i = 0; i < 40; i++)
		deep[n++] = '(';
	memcpy(deep + n, "[user]", 7);
	dsl_bad(deep, "6:31", "nested too deeply");
}

static char *to_json(const struct authz_model *m)
{
	static char out[65536];
	struct bw_buf b;
	bw_buf_init(&b, sizeof(out) - 1);
	struct json_writer w;
	json_writer_init(&w, &b);
	authz_model_write_json(m, &w, false);
	assert_int_equal(json_writer_finish(&w), 0);
	memcpy(out, b.data, b.len + 1);
	bw_buf_fini(&b);
	return out;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct authz_model *m = dsl_ok(full);
	char *j1 = strdup(to_json(m));
	struct bw_err err;
	struct authz_model *m2 = authz_model_parse_json(j1, strlen(j1), &err);
	if (!m2)
		fail_msg("JSON re-read failed: %s\n%s", err.msg, j1);
	assert_string_equal(to_json(m2), j1);
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	assert_int_equal(authz_model_write_dsl(m2, &d), 0);
	struct authz_model *m3 = authz_model_parse_dsl(d.data, d.len, &err);
	if (!m3)
		fail_msg("DSL re-read failed: %s\n%s", err.msg, d.data);
	assert_string_equal(to_json(m3), j1);
	bw_buf_fini(&d);
	free(j1);
	authz_model_free(m);
	authz_model_free(m2);
	authz_model_free(m3);
}

static void test_json_openfga_shape(void **state)
{
	(void)state;
	/* As OpenFGA's docs write it, including empty "object" and null
	 * metadata on a type without relations. */
	const char *j =
		"{\"schema_version\":\"1.1\",\"type_definitions\":["
		"{\"type\":\"user\",\"relations\":{},\"metadata\":null},"
		"{\"type\":\"document\",\"relations\":{"
		"\"editor\":{\"this\":{}},"
		"\"viewer\":{\"union\":{\"child\":[{\"this\":{}},"
		"{\"computedUserset\":{\"object\":\"\",\"relation\":\"editor\"}}]}}},"
		"\"metadata\":{\"relations\":{"
		"\"editor\":{\"directly_related_user_types\":[{\"type\":\"user\"}]},"
		"\"viewer\":{\"directly_related_user_types\":[{\"type\":\"user\",\"wildcard\":{}},"
		"{\"type\":\"user\",\"condition\":\"c\"}]}}}}],"
		"\"conditions\":{\"c\":{\"name\":\"c\",\"expression\":\"x in xs\","
		"\"parameters\":{\"x\":{\"type_name\":\"TYPE_NAME_STRING\"},"
		"\"xs\":{\"type_name\":\"TYPE_NAME_LIST\",\"generic_types\":[{\"type_name\":\"TYPE_NAME_STRING\"}]}}}}}";
	struct bw_err err;
	struct authz_model *m = authz_model_parse_json(j, strlen(j), &err);
	if (!m)
		fail_msg("%s", err.msg);
	const struct authz_rel *v = authz_type_rel(authz_model_type(m, "document", 8), "viewer", 6);
	assert_true(v->dt[0].wildcard);
	assert_string_equal(v->dt[1].cond, "c");
	authz_model_free(m);

	static const struct {
		const char *json, *needle;
	} bad[] = {
		{ "[]", "must be a JSON object" },
		{ "{\"schema_version\":\"1.0\",\"type_definitions\":[{\"type\":\"u\"}]}", "schema_version" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[]}", "non-empty" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\"}],\"x\":1}",
		  "unknown member 'x'" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"relations\":"
		  "{\"r\":{\"this\":{},\"union\":{}}}}]}",
		  "exactly one of" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"relations\":"
		  "{\"r\":{\"this\":{}}}}]}",
		  "names no type restrictions" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"relations\":"
		  "{\"r\":{\"computedUserset\":{\"relation\":\"zz\"}}}}]}",
		  "undefined relation 'zz'" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"relations\":"
		  "{\"r\":{\"computedUserset\":{\"object\":\"x\",\"relation\":\"r\"}}}}]}",
		  "\"object\" must be empty" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"relations\":"
		  "{\"r\":{\"difference\":{\"base\":{\"this\":{}}}}}}]}",
		  "needs \"base\" and \"subtract\"" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"relations\":"
		  "{\"r\":{\"bogus\":{}}}}]}",
		  "unknown userset kind" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\",\"metadata\":"
		  "{\"relations\":{\"r\":{}}}}]}",
		  "relations it does not define" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\"}],\"conditions\":"
		  "{\"c\":{\"name\":\"d\",\"expression\":\"true\",\"parameters\":{\"x\":{\"type_name\":\"TYPE_NAME_INT\"}}}}}",
		  "must equal its key" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\"}],\"conditions\":"
		  "{\"c\":{\"expression\":\"x > 1\",\"parameters\":{\"x\":{\"type_name\":\"TYPE_NAME_NOPE\"}}}}}",
		  "unknown type_name" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\"}],\"conditions\":"
		  "{\"c\":{\"expression\":\"x > \",\"parameters\":{\"x\":{\"type_name\":\"TYPE_NAME_INT\"}}}}}",
		  "condition 'c': column 5" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\"}],\"conditions\":"
		  "{\"c\":{\"expression\":\"true\",\"parameters\":{\"x\":{\"type_name\":\"TYPE_NAME_LIST\"}}}}}",
		  "needs one generic type" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"a:b\"}]}",
		  "invalid type name" },
		{ "{\"schema_version\":1.1}", "schema_version" },
		{ "{\"schema_version\":\"1.1\",\"type_definitions\":[{\"type\":\"u\"}]", "" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = authz_model_parse_json(bad[i].json, strlen(bad[i].json), &err);
		if (m)
			fail_msg("accepted: %s", bad[i].json);
		assert_int_equal(err.code, 400);
		if (!strstr(err.msg, bad[i].needle))
			fail_msg("%s: message '%s' lacks '%s'", bad[i].json, err.msg, bad[i].needle);
	}
}

static void test_ulid(void **state)
{
	(void)state;
	char a[AUTHZ_ID_LEN + 1], b[AUTHZ_ID_LEN + 1];
	authz_ulid(1700000000000000000LL, a);
	authz_ulid(1700000000001000000LL, b);
	assert_true(authz_valid_ulid(a));
	assert_true(strcmp(a, b) < 0); /* time-ordered */
	assert_int_equal(strncmp(a, "01HF7YAT00", 10), 0);
	assert_false(authz_valid_ulid("01HF7YAT00!"));
	assert_false(authz_valid_ulid("81HF7YAT000000000000000000"));
	assert_false(authz_valid_ulid("01HF7YAT0000000000000000IL"));
	/* same millisecond: the next id is the previous plus one, with carry */
	char c[AUTHZ_ID_LEN + 1] = "01HF7YAT00000000000000000Z";
	authz_ulid_after("01HF7YAT00000000000000000Z", c);
	assert_string_equal(c, "01HF7YAT000000000000000010");
	char d[AUTHZ_ID_LEN + 1];
	memcpy(d, b, sizeof(d));
	authz_ulid_after(a, d); /* already greater: unchanged */
	assert_string_equal(d, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsl_valid),
		cmocka_unit_test(test_dsl_errors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_json_openfga_shape),
		cmocka_unit_test(test_ulid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
