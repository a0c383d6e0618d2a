/* Engine tests: persistence (everything survives a restart, the database
 * is the source of truth), Read pagination and filters, the changes feed,
 * Expand's tree, tenant isolation, model versions, write limits, the
 * index under churn, and concurrency — checks on several threads while
 * writes commit, each write visible to every check that starts after it
 * returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz/authz_int.h"
#include "store/store.h"

static char dir[64], path[128];
static struct store *st;
static struct authz_engine *e;
static struct bw_err err;

static void open_all(void)
{
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	st = store_open(&so, &err);
	assert_non_null(st);
	struct authz_options ao = { .store = st };
	e = authz_engine_new(&ao, &err);
	if (!e)
		fail_msg("engine: %s", err.msg);
}

static void close_all(void)
{
	authz_engine_free(e);
	store_close(st);
	e = NULL;
	st = NULL;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/authz-engine-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/state.db", dir);
	open_all();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close_all();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *model_text =
	"model\n  schema 1.1\ntype user\ntype group\n  relations\n"
	"    define member: [user, group#member]\n"
	"type doc\n  relations\n    define parent: [doc]\n"
	"    define viewer: [user, group#member, user with c] or viewer from parent\n"
	"condition c(x: int) {\n  x > 1\n}\n";

static void new_store(const char *tenant, const char *name, char id[AUTHZ_ID_LEN + 1],
		      char mid[AUTHZ_ID_LEN + 1])
{
	struct authz_store_info info;
	assert_int_equal(authz_store_create(e, tenant, name, &info, &err), 0);
	memcpy(id, info.id, AUTHZ_ID_LEN + 1);
	struct authz_model *m = authz_model_parse_dsl(model_text, strlen(model_text), &err);
	assert_non_null(m);
	assert_int_equal(authz_model_write(e, tenant, id, m, mid, &err), 0);
}

static void write1(const char *tenant, const char *id, const char *o, const char *r,
		   const char *u, bool del)
{
	struct authz_tuple t = { .object = o, .relation = r, .user = u };
	struct authz_write_req req = { .writes = del ? NULL : &t, .nwrites = !del,
				       .deletes = del ? &t : NULL, .ndeletes = del };
	if (authz_write(e, tenant, id, &req, &err) < 0)
		fail_msg("write %s#%s@%s: %s", o, r, u, err.msg);
}

static bool check(const char *tenant, const char *id, const char *u, const char *r,
		  const char *o, const struct json_value *ctx)
{
	struct authz_query q = { .tenant = tenant, .store_id = id, .context = ctx,
				 .consistency = AUTHZ_CONSISTENCY_HIGHER };
	bool allowed;
	if (authz_check(e, &q, u, r, o, &allowed, &err) < 0)
		fail_msg("check: %s", err.msg);
	return allowed;
}

static void test_persistence(void **state)
{
	(void)state;
	char id[AUTHZ_ID_LEN + 1], mid[AUTHZ_ID_LEN + 1];
	new_store("t1", "persist", id, mid);
	write1("t1", id, "group:g", "member", "user:anne", false);
	write1("t1", id, "doc:root", "viewer", "group:g#member", false);
	write1("t1", id, "doc:child", "parent", "doc:root", false);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	const struct json_value *ctx = json_parse(a, "{\"x\": 5}", 8, NULL, &err);
	struct authz_tuple ct = { .object = "doc:c", .relation = "viewer", .user = "user:bob",
				  .cond_name = "c",
				  .cond_context = json_parse(a, "{\"x\": 2}", 8, NULL, &err) };
	struct authz_write_req req = { .writes = &ct, .nwrites = 1 };
	assert_int_equal(authz_write(e, "t1", id, &req, &err), 0);
	write1("t1", id, "doc:gone", "viewer", "user:anne", false);
	write1("t1", id, "doc:gone", "viewer", "user:anne", true);
	assert_true(check("t1", id, "user:anne", "viewer", "doc:child", NULL));
	assert_true(check("t1", id, "user:bob", "viewer", "doc:c", NULL));
	assert_false(check("t1", id, "user:anne", "viewer", "doc:gone", NULL));

	close_all();
	open_all();

	assert_true(check("t1", id, "user:anne", "viewer", "doc:child", NULL));
	assert_true(check("t1", id, "user:bob", "viewer", "doc:c", ctx));
	assert_false(check("t1", id, "user:anne", "viewer", "doc:gone", NULL));
	struct authz_query q = { .tenant = "t1", .store_id = id, .model_id = mid };
	bool allowed;
	assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:root", &allowed, &err), 0);
	assert_true(allowed);
	struct authz_stats s;
	authz_stats_get(e, &s);
	assert_true(s.tuples >= 4);
	bw_arena_free(a);
}

static void test_read_and_changes(void **state)
{
	(void)state;
	char id[AUTHZ_ID_LEN + 1], mid[AUTHZ_ID_LEN + 1];
	new_store("t2", "reads", id, mid);
	for (int i = 0; i < 120; i += 10) {
		struct authz_tuple t[10];
		char obj[10][32];
		for (int k = 0; k < 10; k++) {
			snprintf(obj[k], sizeof(obj[k]), "doc:%03d", i + k);
			t[k] = (struct authz_tuple){ .object = obj[k], .relation = "viewer",
						     .user = (i + k) % 2 ? "user:odd" : "user:even" };
		}
		struct authz_write_req req = { .writes = t, .nwrites = 10 };
		assert_int_equal(authz_write(e, "t2", id, &req, &err), 0);
	}
	write1("t2", id, "group:x", "member", "user:odd", false);
	struct bw_arena *a = bw_arena_new(65536, 16 << 20);
	struct authz_tuple_rec *recs;
	size_t n, total = 0;
	const char *tok = NULL;
	int pages = 0;
	do {
		assert_int_equal(authz_read(e, "t2", id, NULL, NULL, NULL, 50, tok, a, &recs, &n, &tok,
					    &err), 0);
		total += n;
		pages++;
	} while (*tok);
	assert_int_equal(total, 121);
	assert_int_equal(pages, 3);
	/* by object type and user */
	assert_int_equal(authz_read(e, "t2", id, "doc:", NULL, "user:odd", 100, NULL, a, &recs, &n,
				    &tok, &err), 0);
	assert_int_equal(n, 60);
	assert_string_equal(tok, "");
	assert_string_equal(recs[0].object, "doc:001");
	assert_int_equal(authz_read(e, "t2", id, "doc:007", "viewer", NULL, 0, NULL, a, &recs, &n,
				    &tok, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].user, "user:odd");
	/* OpenFGA's rules on filters and tokens */
	assert_int_equal(authz_read(e, "t2", id, "doc:", NULL, NULL, 0, NULL, a, &recs, &n, &tok, &err), -1);
	assert_int_equal(authz_read(e, "t2", id, NULL, "viewer", NULL, 0, NULL, a, &recs, &n, &tok, &err), -1);
	assert_int_equal(authz_read(e, "t2", id, NULL, NULL, NULL, 0, "zz", a, &recs, &n, &tok, &err), -1);
	assert_string_equal(err.reason, "invalid_continuation_token");
	assert_int_equal(authz_read(e, "t2", id, NULL, NULL, NULL, 101, NULL, a, &recs, &n, &tok, &err), -1);
	/* changes: 121 writes, then a delete, in commit order */
	write1("t2", id, "doc:000", "viewer", "user:even", true);
	total = 0;
	tok = NULL;
	const char *last = NULL;
	bool saw_delete = false;
	do {
		last = tok;
		assert_int_equal(authz_read_changes(e, "t2", id, NULL, 100, tok, a, &recs, &n, &tok,
						    &err), 0);
		for (size_t i = 0; i < n; i++)
			saw_delete |= recs[i].deleted && strcmp(recs[i].object, "doc:000") == 0;
		total += n;
	} while (n);
	assert_int_equal(total, 122);
	assert_true(saw_delete);
	assert_string_equal(tok, last); /* no new changes: the same token again */
	assert_int_equal(authz_read_changes(e, "t2", id, "group", 100, NULL, a, &recs, &n, &tok, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(authz_read_changes(e, "t2", id, NULL, 10, "12_x", a, &recs, &n, &tok, &err), -1);
	bw_arena_free(a);
}

static void test_expand_and_isolation(void **state)
{
	(void)state;
	char id[AUTHZ_ID_LEN + 1], mid[AUTHZ_ID_LEN + 1];
	new_store("t3", "expand", id, mid);
	write1("t3", id, "doc:1", "viewer", "user:anne", false);
	write1("t3", id, "doc:1", "viewer", "group:g#member", false);
	write1("t3", id, "doc:1", "parent", "doc:0", false);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	struct json_writer w;
	json_writer_init(&w, &b);
	struct authz_query q = { .tenant = "t3", .store_id = id };
	assert_int_equal(authz_expand(e, &q, "viewer", "doc:1", &w, &err), 0);
	assert_int_equal(json_writer_finish(&w), 0);
	assert_non_null(strstr(b.data, "\"union\":{\"nodes\":["));
	assert_non_null(strstr(b.data, "\"users\":{\"users\":[\"user:anne\",\"group:g#member\"]}"));
	assert_non_null(strstr(b.data, "\"tupleToUserset\":{\"tupleset\":\"doc:1#parent\","
				       "\"computed\":[{\"userset\":\"doc:0#viewer\"}]}"));
	bw_buf_fini(&b);
	/* another tenant sees nothing: 404 as for a missing store */
	struct authz_query other = { .tenant = "t4", .store_id = id };
	bool allowed;
	assert_int_equal(authz_check(e, &other, "user:anne", "viewer", "doc:1", &allowed, &err), -1);
	assert_int_equal(err.code, 404);
	struct authz_store_info info;
	assert_int_equal(authz_store_get(e, "t4", id, &info, &err), -1);
	assert_int_equal(authz_store_delete(e, "t4", id, &err), -1);
	struct authz_tuple t = { .object = "doc:9", .relation = "viewer", .user = "user:x" };
	struct authz_write_req req = { .writes = &t, .nwrites = 1 };
	assert_int_equal(authz_write(e, "t4", id, &req, &err), -1);
	assert_int_equal(err.code, 404);
	/* bad store names and tenants */
	assert_int_equal(authz_store_create(e, "t3", "ab", &info, &err), -1);
	assert_int_equal(authz_store_create(e, "bad tenant", "abc", &info, &err), -1);
	/* delete, then gone */
	assert_int_equal(authz_store_delete(e, "t3", id, &err), 0);
	assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:1", &allowed, &err), -1);
	assert_int_equal(err.code, 404);
}

static void test_model_versions_and_limits(void **state)
{
	(void)state;
	char id[AUTHZ_ID_LEN + 1], m1[AUTHZ_ID_LEN + 1], m2[AUTHZ_ID_LEN + 1];
	new_store("t5", "versions", id, m1);
	const char *v2 = "model\n  schema 1.1\ntype user\ntype doc\n  relations\n"
			 "    define owner: [user]\n    define viewer: owner\n";
	struct authz_model *m = authz_model_parse_dsl(v2, strlen(v2), &err);
	assert_int_equal(authz_model_write(e, "t5", id, m, m2, &err), 0);
	assert_true(strcmp(m1, m2) < 0);
	/* the latest model refuses a write the first allowed; naming the first
	 * model lets it through */
	struct authz_tuple t = { .object = "doc:1", .relation = "viewer", .user = "user:anne" };
	struct authz_write_req req = { .writes = &t, .nwrites = 1 };
	assert_int_equal(authz_write(e, "t5", id, &req, &err), -1);
	assert_string_equal(err.reason, "validation_error");
	req.model_id = m1;
	assert_int_equal(authz_write(e, "t5", id, &req, &err), 0);
	struct authz_query q = { .tenant = "t5", .store_id = id, .model_id = m1 };
	bool allowed;
	assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:1", &allowed, &err), 0);
	assert_true(allowed);
	q.model_id = NULL; /* under the latest model the tuple is not allowed: ignored */
	assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:1", &allowed, &err), 0);
	assert_false(allowed);
	q.model_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
	assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:1", &allowed, &err), -1);
	assert_int_equal(err.code, 404);
	char ids[4][AUTHZ_ID_LEN + 1];
	size_t n;
	assert_int_equal(authz_model_list(e, "t5", id, NULL, 4, ids, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], m2); /* newest first */
	/* more than write_max tuples */
	struct authz_tuple many[101];
	for (int i = 0; i < 101; i++)
		many[i] = t;
	struct authz_write_req big = { .writes = many, .nwrites = 101 };
	assert_int_equal(authz_write(e, "t5", id, &big, &err), -1);
	assert_int_equal(err.code, 400);
	struct authz_write_req none = { 0 };
	assert_int_equal(authz_write(e, "t5", id, &none, &err), -1);
}

static void test_index_churn(void **state)
{
	(void)state;
	/* the hash maps under insert/delete churn keep every live tuple
	 * findable (backward-shift deletion) */
	struct authz_symtab syms;
	struct authz_tupset ts;
	assert_int_equal(authz_symtab_init(&syms), 0);
	assert_int_equal(authz_tupset_init(&ts), 0);
	uint32_t rel = authz_sym_intern(&syms, "r", 1);
	uint32_t objs[2000];
	for (int i = 0; i < 2000; i++) {
		char s[32];
		int n = snprintf(s, sizeof(s), "t:%d", i);
		objs[i] = authz_sym_intern(&syms, s, (size_t)n);
	}
	uint32_t u = authz_sym_intern(&syms, "user:u", 6);
	unsigned seed = 7;
	bool live[2000] = { 0 };
	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % 2000);
		if (live[i])
			authz_tupset_del(&ts, &syms, objs[i], rel, u, 0);
		else
			assert_true(authz_tupset_add(&ts, &syms, objs[i], rel, u, 0, 0, 0) >= 0);
		live[i] = !live[i];
	}
	uint32_t nlive = 0;
	for (int i = 0; i < 2000; i++) {
		uint32_t x = authz_hmap_get(&ts.exact, authz_k2(objs[i], rel), authz_k2(u, 0));
		assert_int_equal(x != 0, live[i]);
		nlive += live[i];
	}
	assert_int_equal(ts.live, nlive);
	const struct authz_vec *v = authz_tupset_vec(
		&ts, authz_hmap_get(&ts.by_user, authz_k2(u, 0), authz_k2(rel, syms.syms[objs[0]].type)));
	assert_int_equal(v ? v->n : 0, nlive);
	authz_tupset_fini(&ts);
	authz_symtab_fini(&syms);
}

/* ---------------------------------------------------------- concurrency */

struct reader {
	const char *id;
	_Atomic int *stop;
	long checks, errors;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct authz_query q = { .tenant = "t6", .store_id = r->id };
	struct bw_err e2;
	while (!atomic_load(r->stop)) {
		bool allowed;
		if (authz_check(e, &q, "user:anne", "viewer", "doc:1", &allowed, &e2) < 0)
			r->errors++;
		if (authz_check(e, &q, "user:bob", "viewer", "doc:1", &allowed, &e2) < 0 || !allowed)
			r->errors++; /* bob's access never changes */
		r->checks += 2;
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	(void)state;
	char id[AUTHZ_ID_LEN + 1], mid[AUTHZ_ID_LEN + 1];
	new_store("t6", "concurrent", id, mid);
	write1("t6", id, "doc:1", "viewer", "user:bob", false);
	_Atomic int stop = 0;
	struct reader rd[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .id = id, .stop = &stop };
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	/* each write is visible to every check that starts after it returned,
	 * at both consistency levels (the cache is stamped by revision) */
	for (int i = 0; i < 60; i++) {
		bool grant = i % 2 == 0;
		write1("t6", id, "doc:1", "viewer", "user:anne", !grant);
		struct authz_query q = { .tenant = "t6", .store_id = id };
		bool a1, a2;
		assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:1", &a1, &err), 0);
		q.consistency = AUTHZ_CONSISTENCY_HIGHER;
		assert_int_equal(authz_check(e, &q, "user:anne", "viewer", "doc:1", &a2, &err), 0);
		assert_int_equal(a1, grant);
		assert_int_equal(a2, grant);
	}
	atomic_store(&stop, 1);
	long total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rd[i].errors, 0);
		total += rd[i].checks;
	}
	assert_true(total > 0);
}

/*
 * Consistency under concurrent writes, four properties at once, on four
 * reader threads while two writer threads commit:
 *  1. a transaction is atomic for readers: the writers move user:anne
 *     between doc:1#a and doc:1#b with one delete+write transaction, so
 *     `either` (a or b) is always true and `both` (a and b) never is;
 *  2. a write is visible to every check that starts after authz_write
 *     returned, on any thread and at both consistency levels: the second
 *     writer grants user:u<g> and then publishes g; a reader that loads g
 *     must find u<g> (a stale cached "false" would fail this);
 *  3. caching never carries contextual tuples over: a check with a
 *     contextual grant is true, the same check without it stays false;
 *  4. a group edge change (the nested path) is seen as in 2.
 */
static const char *cons_model =
	"model\n  schema 1.1\ntype user\ntype group\n  relations\n"
	"    define member: [user, group#member]\n"
	"type doc\n  relations\n"
	"    define a: [user]\n    define b: [user]\n"
	"    define either: a or b\n    define both: a and b\n"
	"    define viewer: [user, group#member]\n";

struct cons {
	const char *id;
	_Atomic int stop;
	_Atomic int published; /* highest g whose grant has returned */
	_Atomic long checks, violations;
};

static void *cons_reader(void *arg)
{
	struct cons *c = arg;
	struct bw_err e2;
	unsigned n = 0;
	while (!atomic_load(&c->stop)) {
		struct authz_query q = { .tenant = "t7", .store_id = c->id,
					 .consistency = n++ % 2 ? AUTHZ_CONSISTENCY_HIGHER :
								  AUTHZ_CONSISTENCY_MINIMIZE_LATENCY };
		bool either = false, both = true, seen = false, ctx_on = false, ctx_off = true;
		int g = atomic_load(&c->published);
		char u[32];
		snprintf(u, sizeof(u), "user:u%d", g);
		int rc = authz_check(e, &q, "user:anne", "either", "doc:1", &either, &e2);
		rc |= authz_check(e, &q, "user:anne", "both", "doc:1", &both, &e2);
		if (g > 0)
			rc |= authz_check(e, &q, u, "viewer", "doc:2", &seen, &e2);
		else
			seen = true;
		struct authz_tuple ct = { .object = "doc:3", .relation = "a", .user = "user:zed" };
		struct authz_query qc = q;
		qc.contextual = &ct;
		qc.ncontextual = 1;
		rc |= authz_check(e, &qc, "user:zed", "either", "doc:3", &ctx_on, &e2);
		rc |= authz_check(e, &q, "user:zed", "either", "doc:3", &ctx_off, &e2);
		if (rc < 0 || !either || both || !seen || !ctx_on || ctx_off)
			atomic_fetch_add(&c->violations, 1);
		atomic_fetch_add(&c->checks, 5);
	}
	return NULL;
}

static void *cons_mover(void *arg)
{
	struct cons *c = arg;
	struct authz_tuple ta = { .object = "doc:1", .relation = "a", .user = "user:anne" };
	struct authz_tuple tb = { .object = "doc:1", .relation = "b", .user = "user:anne" };
	struct bw_err e2;
	for (int i = 0; i < 40; i++) {
		bool to_b = i % 2 == 0;
		struct authz_write_req req = { .writes = to_b ? &tb : &ta, .nwrites = 1,
					       .deletes = to_b ? &ta : &tb, .ndeletes = 1 };
		if (authz_write(e, "t7", c->id, &req, &e2) < 0)
			atomic_fetch_add(&c->violations, 1);
	}
	return NULL;
}

static void *cons_granter(void *arg)
{
	struct cons *c = arg;
	struct bw_err e2;
	for (int g = 1; g <= 40; g++) {
		char u[32], grp[32], mem[40];
		snprintf(u, sizeof(u), "user:u%d", g);
		snprintf(grp, sizeof(grp), "group:g%d", g);
		snprintf(mem, sizeof(mem), "group:g%d#member", g);
		/* odd g directly, even g through a fresh group (the nested path) */
		struct authz_tuple t[2] = {
			{ .object = "doc:2", .relation = "viewer", .user = g % 2 ? u : mem },
			{ .object = grp, .relation = "member", .user = u },
		};
		struct authz_write_req req = { .writes = t, .nwrites = g % 2 ? 1 : 2 };
		if (authz_write(e, "t7", c->id, &req, &e2) < 0)
			atomic_fetch_add(&c->violations, 1);
		atomic_store(&c->published, g);
	}
	return NULL;
}

static void test_concurrent_consistency(void **state)
{
	(void)state;
	struct authz_store_info info;
	char mid[AUTHZ_ID_LEN + 1];
	assert_int_equal(authz_store_create(e, "t7", "consistency", &info, &err), 0);
	struct authz_model *m = authz_model_parse_dsl(cons_model, strlen(cons_model), &err);
	assert_non_null(m);
	assert_int_equal(authz_model_write(e, "t7", info.id, m, mid, &err), 0);
	write1("t7", info.id, "doc:1", "a", "user:anne", false);
	struct cons c = { .id = info.id };
	pthread_t rd[4], wr[2];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, cons_reader, &c), 0);
	assert_int_equal(pthread_create(&wr[0], NULL, cons_mover, &c), 0);
	assert_int_equal(pthread_create(&wr[1], NULL, cons_granter, &c), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(wr[i], NULL);
	atomic_store(&c.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(rd[i], NULL);
	assert_int_equal(atomic_load(&c.violations), 0);
	assert_true(atomic_load(&c.checks) > 100);
	/* and the final state is the last transaction's */
	assert_true(check("t7", info.id, "user:anne", "a", "doc:1", NULL));
	assert_false(check("t7", info.id, "user:anne", "b", "doc:1", NULL));
	assert_true(check("t7", info.id, "user:u40", "viewer", "doc:2", NULL));
}

int main(void)
{
	log_init("test", BW_LOG_WARN, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_read_and_changes),
		cmocka_unit_test(test_expand_and_isolation),
		cmocka_unit_test(test_model_versions_and_limits),
		cmocka_unit_test(test_index_churn),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_concurrent_consistency),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
