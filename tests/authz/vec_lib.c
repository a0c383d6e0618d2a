/* In-process driver for the vector runner: one engine on a temporary
 * SQLite database; each test is a new store with its own model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz_vectors.h"
#include "store/store.h"

struct lib {
	struct vec_driver d;
	char dir[64];
	char path[96];
	struct store *st;
	struct authz_engine *e;
	char store_id[AUTHZ_ID_LEN + 1];
};

static int lib_setup(struct vec_driver *d, const char *name, const char *dsl, struct bw_err *err)
{
	struct lib *l = (struct lib *)d;
	struct authz_model *m = authz_model_parse_dsl(dsl, strlen(dsl), err);
	if (!m)
		return -1;
	char sname[AUTHZ_STORE_NAME_BUF];
	snprintf(sname, sizeof(sname), "v-%s", name);
	struct authz_store_info info;
	if (authz_store_create(l->e, "vectors", sname, &info, err) < 0) {
		authz_model_free(m);
		return -1;
	}
	memcpy(l->store_id, info.id, sizeof(l->store_id));
	char id[AUTHZ_ID_LEN + 1];
	return authz_model_write(l->e, "vectors", l->store_id, m, id, err);
}

static void lib_teardown(struct vec_driver *d)
{
	struct lib *l = (struct lib *)d;
	struct bw_err err;
	if (l->store_id[0] && authz_store_delete(l->e, "vectors", l->store_id, &err) < 0)
		fprintf(stderr, "delete store: %s\n", err.msg);
	l->store_id[0] = 0;
}

static int lib_write(struct vec_driver *d, const struct authz_write_req *req, struct bw_err *err)
{
	struct lib *l = (struct lib *)d;
	return authz_write(l->e, "vectors", l->store_id, req, err);
}

static struct authz_query query(struct lib *l, const struct vec_query *q)
{
	return (struct authz_query){ .tenant = "vectors", .store_id = l->store_id,
				     .contextual = q->contextual, .ncontextual = q->ncontextual,
				     .context = q->context };
}

static int lib_check(struct vec_driver *d, const struct vec_query *q, const char *user,
		     const char *relation, const char *object, bool *allowed, struct bw_err *err)
{
	struct lib *l = (struct lib *)d;
	struct authz_query aq = query(l, q);
	/* ask twice: the second answer may come from the cache and must agree */
	bool again;
	if (authz_check(l->e, &aq, user, relation, object, allowed, err) < 0)
		return -1;
	if (authz_check(l->e, &aq, user, relation, object, &again, err) < 0)
		return -1;
	if (again != *allowed)
		return bw_err_set(err, 500, "vectors", "cache_mismatch",
				  "cached answer %d differs from evaluated %d", again, *allowed);
	return 0;
}

static int lib_list_objects(struct vec_driver *d, const struct vec_query *q, const char *type,
			    const char *relation, const char *user, struct bw_arena *a,
			    const char ***objs, size_t *n, struct bw_err *err)
{
	struct lib *l = (struct lib *)d;
	struct authz_query aq = query(l, q);
	return authz_list_objects(l->e, &aq, type, relation, user, a, objs, n, err);
}

static int lib_list_users(struct vec_driver *d, const struct vec_query *q, const char *object,
			  const char *relation, const char *ftype, const char *frel,
			  struct bw_arena *a, const char ***users, size_t *n, struct bw_err *err)
{
	struct lib *l = (struct lib *)d;
	struct authz_query aq = query(l, q);
	return authz_list_users(l->e, &aq, object, relation, ftype, frel, a, users, n, err);
}

static void lib_close(struct vec_driver *d)
{
	struct lib *l = (struct lib *)d;
	authz_engine_free(l->e);
	store_close(l->st);
	char p[128];
	const char *sfx[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", l->path, sfx[i]);
		unlink(p);
	}
	rmdir(l->dir);
	free(l);
}

struct vec_driver *vec_lib_driver(void)
{
	struct lib *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->dir, sizeof(l->dir), "/tmp/authz-vectors-XXXXXX");
	if (!mkdtemp(l->dir)) {
		free(l);
		return NULL;
	}
	snprintf(l->path, sizeof(l->path), "%s/state.db", l->dir);
	struct store_options so = { .path = l->path, .durability = STORE_DURABILITY_NORMAL };
	struct bw_err err;
	l->st = store_open(&so, &err);
	struct authz_options ao = { .store = l->st };
	if (l->st)
		l->e = authz_engine_new(&ao, &err);
	if (!l->e) {
		fprintf(stderr, "engine: %s\n", err.msg);
		store_close(l->st);
		rmdir(l->dir);
		free(l);
		return NULL;
	}
	l->d = (struct vec_driver){ lib_setup, lib_teardown, lib_write, lib_check,
				    lib_list_objects, lib_list_users, lib_close };
	return &l->d;
}
