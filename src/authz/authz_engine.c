/*
 * The engine: stores, versioned models and tuple writes, persisted through
 * src/store and mirrored in memory for queries; plus Read and ReadChanges,
 * which page through the database itself.
 *
 * Durability and ordering: a tuple write is one store job that checks and
 * changes the tuples, appends its changes to the changelog under the next
 * store revision, and bumps the revision — all in one transaction. The
 * in-memory index is updated from the job's completion callback, which the
 * store's single writer thread runs in commit order after the durable
 * commit; so the index applies exactly the committed writes in the order
 * they committed, and a write is visible to queries before authz_write
 * returns. If memory runs out while applying a committed write the process
 * aborts (fatalx): answering from an index that silently differs from the
 * database would be an authorization bug, and a restart reloads it.
 *
 * Locks: engine->lock guards the table of stores (taken exclusively only
 * to add or remove a store); each store's lock guards its contents. A
 * writer holds the engine lock shared (not the store's) while it waits for
 * its job, so the store cannot disappear before the job's callback has
 * applied it under the store lock.
 */
#include "authz/authz_int.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct authz_cache *authz_cache_new(size_t entries);
void authz_cache_free(struct authz_cache *c);

static const char *const schema[] = {
	/* 1 */
	"CREATE TABLE authz_store (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" name TEXT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL,"
	" revision BIGINT NOT NULL);"
	"CREATE INDEX authz_store_tenant ON authz_store (tenant, id);"
	"CREATE TABLE authz_model (store_id TEXT NOT NULL, id TEXT NOT NULL,"
	" created BIGINT NOT NULL, model TEXT NOT NULL, PRIMARY KEY (store_id, id));"
	"CREATE TABLE authz_tuple (store_id TEXT NOT NULL, object_type TEXT NOT NULL,"
	" object TEXT NOT NULL, relation TEXT NOT NULL, usr TEXT NOT NULL,"
	" cond_name TEXT, cond_context TEXT, created BIGINT NOT NULL,"
	" PRIMARY KEY (store_id, object, relation, usr));"
	"CREATE INDEX authz_tuple_type ON authz_tuple (store_id, object_type, object);"
	"CREATE INDEX authz_tuple_user ON authz_tuple (store_id, usr, relation);"
	"CREATE TABLE authz_change (store_id TEXT NOT NULL, revision BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, op BIGINT NOT NULL, object_type TEXT NOT NULL,"
	" object TEXT NOT NULL, relation TEXT NOT NULL, usr TEXT NOT NULL,"
	" cond_name TEXT, cond_context TEXT, created BIGINT NOT NULL,"
	" PRIMARY KEY (store_id, revision, idx))",
};

/* ----------------------------------------------------------- helpers */

static bool valid_tenant(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	if (n == 0 || n > AUTHZ_TENANT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool valid_store_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < AUTHZ_STORE_NAME_MIN || n > AUTHZ_STORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static void copy_str(char *dst, size_t cap, struct bw_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	memcpy(dst, s.p, n);
	dst[n] = 0;
}

static struct authz_fstore *fstore_new(struct authz_engine *e)
{
	struct authz_fstore *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (authz_symtab_init(&s->syms) < 0) {
		free(s);
		return NULL;
	}
	if (authz_tupset_init(&s->ts) < 0) {
		authz_symtab_fini(&s->syms);
		free(s);
		return NULL;
	}
	/* Writer preference: with the default (reader preference) a steady
	 * stream of checks on several threads could keep the store writer
	 * thread from ever applying a committed write — and stall every
	 * database write behind it. No thread takes a store's read lock
	 * twice, which writer preference would deadlock. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	s->tag = ++e->next_tag;
	return s;
}

static void fstore_free(struct authz_fstore *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nmodels; i++)
		authz_model_free(s->models[i]);
	free(s->models);
	authz_tupset_fini(&s->ts);
	authz_symtab_fini(&s->syms);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

/* Engine lock held exclusively. */
static int table_add(struct authz_engine *e, struct authz_fstore *s)
{
	if (e->nstores == e->capstores) {
		size_t nc = e->capstores ? e->capstores * 2 : 16;
		struct authz_fstore **n = realloc(e->stores, nc * sizeof(*n));
		if (!n)
			return -1;
		e->stores = n;
		e->capstores = nc;
	}
	e->stores[e->nstores++] = s;
	return 0;
}

/* Engine lock held (either way). */
static struct authz_fstore *table_find(struct authz_engine *e, const char *id)
{
	for (size_t i = 0; i < e->nstores; i++)
		if (strcmp(e->stores[i]->id, id) == 0)
			return e->stores[i];
	return NULL;
}

struct authz_fstore *authz_store_acquire(struct authz_engine *e, const char *tenant,
					 const char *id, bool excl, struct bw_err *err)
{
	pthread_rwlock_rdlock(&e->lock);
	struct authz_fstore *s = id ? table_find(e, id) : NULL;
	if (!s || !tenant || strcmp(s->tenant, tenant) != 0) {
		pthread_rwlock_unlock(&e->lock);
		bw_err_set(err, 404, "authz", "store_not_found", "store '%.40s' not found",
			   id ? id : "");
		return NULL;
	}
	if (excl)
		pthread_rwlock_wrlock(&s->lock);
	else
		pthread_rwlock_rdlock(&s->lock);
	return s;
}

void authz_store_release(struct authz_engine *e, struct authz_fstore *s, bool excl)
{
	(void)excl;
	pthread_rwlock_unlock(&s->lock);
	pthread_rwlock_unlock(&e->lock);
}

const struct authz_model *authz_store_model(const struct authz_fstore *s, const char *id,
					    struct bw_err *err)
{
	if (!id || !*id) {
		if (s->nmodels)
			return s->models[s->nmodels - 1];
		bw_err_set(err, 404, "authz", "no_model",
			   "store '%s' has no authorization model", s->id);
		return NULL;
	}
	for (size_t i = s->nmodels; i-- > 0;)
		if (strcmp(s->models[i]->id, id) == 0)
			return s->models[i];
	bw_err_set(err, 404, "authz", "model_not_found", "authorization model '%.40s' not found", id);
	return NULL;
}

/* Store lock held exclusively; m bound. Keeps models sorted by id. */
static int models_add(struct authz_fstore *s, struct authz_model *m)
{
	if (s->nmodels == s->capmodels) {
		size_t nc = s->capmodels ? s->capmodels * 2 : 4;
		struct authz_model **n = realloc(s->models, nc * sizeof(*n));
		if (!n)
			return -1;
		s->models = n;
		s->capmodels = nc;
	}
	size_t i = s->nmodels;
	while (i > 0 && strcmp(s->models[i - 1]->id, m->id) > 0) {
		s->models[i] = s->models[i - 1];
		i--;
	}
	s->models[i] = m;
	s->nmodels++;
	return 0;
}

/* Splits a user string into object part and userset relation and interns
 * both (store lock exclusive). */
static int intern_user(struct authz_fstore *s, const char *u, size_t len, uint32_t *uobj,
		       uint32_t *urel)
{
	const char *h = memchr(u, '#', len);
	size_t ol = h ? (size_t)(h - u) : len;
	*uobj = authz_sym_intern(&s->syms, u, ol);
	*urel = h ? authz_sym_intern(&s->syms, h + 1, len - ol - 1) : 0;
	return *uobj && (!h || *urel) ? 0 : -1;
}

/* Applies one stored tuple to memory (store lock exclusive). */
static int apply_add(struct authz_fstore *s, struct bw_str obj, struct bw_str rel,
		     struct bw_str usr, struct bw_str cname, struct bw_str ctx, int64_t t)
{
	uint32_t o = authz_sym_intern(&s->syms, obj.p, obj.len);
	uint32_t r = authz_sym_intern(&s->syms, rel.p, rel.len);
	uint32_t uo, ur, c = 0;
	if (!o || !r || intern_user(s, usr.p, usr.len, &uo, &ur) < 0)
		return -1;
	if (cname.len) {
		uint32_t n = authz_sym_intern(&s->syms, cname.p, cname.len);
		if (!n || !(c = authz_tupset_cond(&s->ts, n, ctx.len ? ctx.p : NULL, ctx.len)))
			return -1;
	}
	return authz_tupset_add(&s->ts, &s->syms, o, r, uo, ur, c, t) < 0 ? -1 : 0;
}

static void apply_del(struct authz_fstore *s, const char *obj, const char *rel, const char *usr)
{
	uint32_t o = authz_sym_find(&s->syms, obj, strlen(obj));
	uint32_t r = authz_sym_find(&s->syms, rel, strlen(rel));
	const char *h = strchr(usr, '#');
	size_t ol = h ? (size_t)(h - usr) : strlen(usr);
	uint32_t uo = authz_sym_find(&s->syms, usr, ol);
	uint32_t ur = h ? authz_sym_find(&s->syms, h + 1, strlen(h + 1)) : 0;
	if (o && r && uo && (!h || ur))
		authz_tupset_del(&s->ts, &s->syms, o, r, uo, ur);
}

/* ------------------------------------------------------------ loading */

struct loader {
	struct authz_engine *e;
	struct authz_fstore *last;
	size_t bad;
	struct bw_err *err;
};

static int load_store_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct loader *l = arg;
	struct authz_fstore *s = fstore_new(l->e);
	if (!s)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	copy_str(s->id, sizeof(s->id), store_row_text(row, 0));
	copy_str(s->tenant, sizeof(s->tenant), store_row_text(row, 1));
	copy_str(s->name, sizeof(s->name), store_row_text(row, 2));
	s->created_ns = store_row_int64(row, 3);
	s->updated_ns = store_row_int64(row, 4);
	atomic_store(&s->revision, (uint64_t)store_row_int64(row, 5));
	if (table_add(l->e, s) < 0) {
		fstore_free(s);
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	}
	return STORE_ROW_NEXT;
}

static struct authz_fstore *loader_store(struct loader *l, struct bw_str id)
{
	if (l->last && bw_str_eq_lit(id, l->last->id))
		return l->last;
	char buf[AUTHZ_ID_LEN + 1];
	copy_str(buf, sizeof(buf), id);
	l->last = table_find(l->e, buf);
	return l->last;
}

static int load_model_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct loader *l = arg;
	struct authz_fstore *s = loader_store(l, store_row_text(row, 0));
	if (!s)
		return STORE_ROW_NEXT; /* orphan row of a deleted store */
	struct bw_str text = store_row_text(row, 3);
	struct bw_err merr;
	struct authz_model *m = authz_model_parse_json(text.p, text.len, &merr);
	if (!m) {
		/* Written by this code, so it validated once; refuse to run on
		 * a model we cannot read rather than authorise without it. */
		return bw_err_set(err, 500, "authz", "corrupt_model", "stored model %.*s: %s",
				  (int)store_row_text(row, 1).len, store_row_text(row, 1).p,
				  merr.msg);
	}
	copy_str(m->id, sizeof(m->id), store_row_text(row, 1));
	m->created_ns = store_row_int64(row, 2);
	if (authz_model_bind(m, &s->syms) < 0 || models_add(s, m) < 0) {
		authz_model_free(m);
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	}
	return STORE_ROW_NEXT;
}

static int load_tuple_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct loader *l = arg;
	struct authz_fstore *s = loader_store(l, store_row_text(row, 0));
	if (!s)
		return STORE_ROW_NEXT;
	if (apply_add(s, store_row_text(row, 1), store_row_text(row, 2), store_row_text(row, 3),
		      store_row_text(row, 4), store_row_text(row, 5), store_row_int64(row, 6)) < 0)
		return bw_err_set(err, 500, "authz", "memory",
				  "out of memory (or a corrupt condition context) loading tuples");
	return STORE_ROW_NEXT;
}

static int load_all(struct authz_engine *e, struct bw_err *err)
{
	struct loader l = { .e = e, .err = err };
	if (store_query(e->db,
			"SELECT id, tenant, name, created, updated, revision FROM authz_store"
			" ORDER BY id",
			NULL, 0, load_store_row, &l, err) < 0)
		return -1;
	if (store_query(e->db,
			"SELECT store_id, id, created, model FROM authz_model ORDER BY store_id, id",
			NULL, 0, load_model_row, &l, err) < 0)
		return -1;
	l.last = NULL;
	return store_query(e->db,
			   "SELECT store_id, object, relation, usr, cond_name, cond_context, created"
			   " FROM authz_tuple ORDER BY store_id",
			   NULL, 0, load_tuple_row, &l, err);
}

/* ------------------------------------------------------------- engine */

static int clamp(unsigned *v, unsigned def, unsigned hard, const char *name, struct bw_err *err)
{
	if (*v == 0)
		*v = def;
	if (*v > hard)
		return bw_err_set(err, 400, "authz", "bad_option", "%s above its maximum %u", name,
				  hard);
	return 0;
}

struct authz_engine *authz_engine_new(const struct authz_options *opts, struct bw_err *err)
{
	if (!opts || !opts->store) {
		bw_err_set(err, 400, "authz", "bad_option", "a store is required");
		return NULL;
	}
	struct authz_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		return NULL;
	}
	e->o = *opts;
	e->db = opts->store;
	pthread_rwlock_init(&e->lock, NULL);
	if (clamp(&e->o.resolve_depth, AUTHZ_RESOLVE_DEPTH_DEFAULT, AUTHZ_RESOLVE_DEPTH_HARD,
		  "resolve_depth", err) < 0 ||
	    clamp(&e->o.resolve_breadth, AUTHZ_RESOLVE_BREADTH_DEFAULT, AUTHZ_RESOLVE_BREADTH_HARD,
		  "resolve_breadth", err) < 0 ||
	    clamp(&e->o.list_max, AUTHZ_LIST_MAX_DEFAULT, AUTHZ_LIST_MAX_HARD, "list_max", err) < 0 ||
	    clamp(&e->o.list_deadline_ms, AUTHZ_LIST_DEADLINE_MS_DEFAULT,
		  AUTHZ_LIST_DEADLINE_MS_HARD, "list_deadline_ms", err) < 0 ||
	    clamp(&e->o.write_max, AUTHZ_WRITE_MAX_DEFAULT, AUTHZ_WRITE_MAX_HARD, "write_max",
		  err) < 0 ||
	    clamp(&e->o.batch_max, AUTHZ_BATCH_MAX_DEFAULT, AUTHZ_BATCH_MAX_HARD, "batch_max",
		  err) < 0)
		goto fail;
	if (e->o.cache_entries == 0)
		e->o.cache_entries = AUTHZ_CACHE_ENTRIES_DEFAULT;
	if (e->o.cache_entries != (size_t)-1) {
		if (e->o.cache_entries > AUTHZ_CACHE_ENTRIES_HARD) {
			bw_err_set(err, 400, "authz", "bad_option", "cache_entries above its maximum");
			goto fail;
		}
		if (!(e->cache = authz_cache_new(e->o.cache_entries))) {
			bw_err_set(err, 500, "authz", "memory", "out of memory");
			goto fail;
		}
	}
	if (store_migrate(e->db, "authz", schema, BW_ARRAY_LEN(schema), err) < 0)
		goto fail;
	if (load_all(e, err) < 0)
		goto fail;
	return e;
fail:
	authz_engine_free(e);
	return NULL;
}

void authz_engine_free(struct authz_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nstores; i++)
		fstore_free(e->stores[i]);
	free(e->stores);
	authz_cache_free(e->cache);
	pthread_rwlock_destroy(&e->lock);
	free(e);
}

const struct authz_options *authz_engine_options(const struct authz_engine *e)
{
	return &e->o;
}

void authz_stats_get(struct authz_engine *e, struct authz_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->checks = atomic_load(&e->n_checks);
	out->cache_hits = atomic_load(&e->n_hits);
	out->cache_misses = atomic_load(&e->n_misses);
	out->writes = atomic_load(&e->n_writes);
	pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; i < e->nstores; i++) {
		pthread_rwlock_rdlock(&e->stores[i]->lock);
		out->tuples += e->stores[i]->ts.live;
		pthread_rwlock_unlock(&e->stores[i]->lock);
	}
	pthread_rwlock_unlock(&e->lock);
}

/* ------------------------------------------------------------- stores */

static void info_of(const struct authz_fstore *s, struct authz_store_info *info)
{
	memcpy(info->id, s->id, sizeof(info->id));
	memcpy(info->name, s->name, sizeof(info->name));
	info->created_ns = s->created_ns;
	info->updated_ns = s->updated_ns;
}

int authz_store_create(struct authz_engine *e, const char *tenant, const char *name,
		       struct authz_store_info *info, struct bw_err *err)
{
	if (!valid_tenant(tenant))
		return bw_err_set(err, 400, "authz", "validation_error", "invalid tenant");
	if (!valid_store_name(name))
		return bw_err_set(err, 400, "authz", "validation_error",
				  "a store name is %d to %d printable characters",
				  AUTHZ_STORE_NAME_MIN, AUTHZ_STORE_NAME_MAX);
	pthread_rwlock_rdlock(&e->lock);
	size_t count = 0;
	for (size_t i = 0; i < e->nstores; i++)
		count += strcmp(e->stores[i]->tenant, tenant) == 0;
	pthread_rwlock_unlock(&e->lock);
	if (count >= AUTHZ_STORES_PER_TENANT_MAX)
		return bw_err_set(err, 409, "authz", "too_many_stores", "the tenant has %d stores",
				  AUTHZ_STORES_PER_TENANT_MAX);
	struct authz_fstore *s = fstore_new(e);
	if (!s)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	int64_t now = bw_clock_now_ns();
	authz_ulid(now, s->id);
	snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->created_ns = s->updated_ns = now;
	struct store_value v[] = { store_text_str(s->id), store_text_str(s->tenant),
				   store_text_str(s->name), store_int(now), store_int(now) };
	if (store_exec(e->db,
		       "INSERT INTO authz_store (id, tenant, name, created, updated, revision)"
		       " VALUES (?, ?, ?, ?, ?, 0)",
		       v, 5, NULL, err) < 0) {
		fstore_free(s);
		return -1;
	}
	pthread_rwlock_wrlock(&e->lock);
	int rc = table_add(e, s);
	pthread_rwlock_unlock(&e->lock);
	if (rc < 0) {
		fstore_free(s);
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	}
	if (info)
		info_of(s, info);
	return 0;
}

int authz_store_get(struct authz_engine *e, const char *tenant, const char *id,
		    struct authz_store_info *info, struct bw_err *err)
{
	struct authz_fstore *s = authz_store_acquire(e, tenant, id, false, err);
	if (!s)
		return -1;
	info_of(s, info);
	authz_store_release(e, s, false);
	return 0;
}

static int del_store_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	const char *id = arg;
	struct store_value v[] = { store_text_str(id) };
	if (store_tx_exec(tx, "DELETE FROM authz_tuple WHERE store_id = ?", v, 1, err) < 0 ||
	    store_tx_exec(tx, "DELETE FROM authz_change WHERE store_id = ?", v, 1, err) < 0 ||
	    store_tx_exec(tx, "DELETE FROM authz_model WHERE store_id = ?", v, 1, err) < 0 ||
	    store_tx_exec(tx, "DELETE FROM authz_store WHERE id = ?", v, 1, err) < 0)
		return -1;
	return 0;
}

int authz_store_delete(struct authz_engine *e, const char *tenant, const char *id,
		       struct bw_err *err)
{
	struct authz_store_info info;
	if (authz_store_get(e, tenant, id, &info, err) < 0)
		return -1;
	if (store_write(e->db, del_store_job, info.id, err) < 0)
		return -1;
	pthread_rwlock_wrlock(&e->lock);
	struct authz_fstore *s = NULL;
	for (size_t i = 0; i < e->nstores; i++)
		if (strcmp(e->stores[i]->id, info.id) == 0) {
			s = e->stores[i];
			e->stores[i] = e->stores[--e->nstores];
			break;
		}
	pthread_rwlock_unlock(&e->lock);
	fstore_free(s);
	return 0;
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct authz_store_info *)a)->id,
		      ((const struct authz_store_info *)b)->id);
}

int authz_store_list(struct authz_engine *e, const char *tenant, const char *after, size_t max,
		     struct authz_store_info *out, size_t *n, struct bw_err *err)
{
	*n = 0;
	if (!tenant)
		return bw_err_set(err, 400, "authz", "validation_error", "tenant required");
	pthread_rwlock_rdlock(&e->lock);
	size_t total = 0;
	for (size_t i = 0; i < e->nstores; i++)
		total += strcmp(e->stores[i]->tenant, tenant) == 0;
	struct authz_store_info *all = calloc(total ? total : 1, sizeof(*all));
	if (!all) {
		pthread_rwlock_unlock(&e->lock);
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < e->nstores; i++)
		if (strcmp(e->stores[i]->tenant, tenant) == 0)
			info_of(e->stores[i], &all[k++]);
	pthread_rwlock_unlock(&e->lock);
	qsort(all, k, sizeof(*all), cmp_info);
	for (size_t i = 0; i < k && *n < max; i++)
		if (!after || !*after || strcmp(all[i].id, after) > 0)
			out[(*n)++] = all[i];
	free(all);
	return 0;
}

/* ------------------------------------------------------------- models */

struct model_job {
	const char *store_id, *id;
	int64_t created;
	const char *json;
	size_t len;
};

static int model_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct model_job *j = arg;
	struct store_value v[] = { store_text_str(j->store_id), store_text_str(j->id),
				   store_int(j->created), store_text(j->json, j->len) };
	return store_tx_exec(tx,
			     "INSERT INTO authz_model (store_id, id, created, model) VALUES (?, ?, ?, ?)",
			     v, 4, err);
}

int authz_model_write(struct authz_engine *e, const char *tenant, const char *store_id,
		      struct authz_model *m, char id[AUTHZ_ID_LEN + 1], struct bw_err *err)
{
	struct bw_buf b;
	bw_buf_init(&b, AUTHZ_MODEL_MAX_BYTES * 4);
	int rc = -1;
	struct authz_fstore *s = authz_store_acquire(e, tenant, store_id, true, err);
	if (!s)
		goto out;
	m->created_ns = bw_clock_now_ns();
	authz_ulid(m->created_ns, m->id);
	/* ids order the versions: never hand out one below an earlier one */
	if (s->nmodels)
		authz_ulid_after(s->models[s->nmodels - 1]->id, m->id);
	authz_ulid_after(s->model_hwm, m->id);
	memcpy(s->model_hwm, m->id, sizeof(s->model_hwm));
	/* bind (interning the model's names) while we hold the lock; if the
	 * write fails the extra symbols are harmless */
	int brc = authz_model_bind(m, &s->syms);
	authz_store_release(e, s, true);
	if (brc < 0) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		goto out;
	}
	struct json_writer w;
	json_writer_init(&w, &b);
	authz_model_write_json(m, &w, false);
	if (json_writer_finish(&w) < 0) {
		bw_err_set(err, 413, "authz", "too_large", "model too large to store");
		goto out;
	}
	struct model_job j = { store_id, m->id, m->created_ns, b.data, b.len };
	if (store_write(e->db, model_job, &j, err) < 0)
		goto out;
	if (!(s = authz_store_acquire(e, tenant, store_id, true, err)))
		goto out; /* deleted meanwhile: the row went with it */
	int arc = models_add(s, m);
	authz_store_release(e, s, true);
	if (arc < 0)
		fatalx("authz: out of memory adding a committed model");
	memcpy(id, m->id, AUTHZ_ID_LEN + 1);
	m = NULL;
	rc = 0;
out:
	bw_buf_fini(&b);
	authz_model_free(m);
	return rc;
}

int authz_model_get_json(struct authz_engine *e, const char *tenant, const char *store_id,
			 const char *model_id, struct json_writer *w, struct bw_err *err)
{
	struct authz_fstore *s = authz_store_acquire(e, tenant, store_id, false, err);
	if (!s)
		return -1;
	const struct authz_model *m = authz_store_model(s, model_id, err);
	if (m)
		authz_model_write_json(m, w, true);
	authz_store_release(e, s, false);
	return m ? 0 : -1;
}

int authz_model_list(struct authz_engine *e, const char *tenant, const char *store_id,
		     const char *after, size_t max, char (*ids)[AUTHZ_ID_LEN + 1], size_t *n,
		     struct bw_err *err)
{
	*n = 0;
	struct authz_fstore *s = authz_store_acquire(e, tenant, store_id, false, err);
	if (!s)
		return -1;
	for (size_t i = s->nmodels; i-- > 0 && *n < max;)
		if (!after || !*after || strcmp(s->models[i]->id, after) < 0)
			memcpy(ids[(*n)++], s->models[i]->id, AUTHZ_ID_LEN + 1);
	authz_store_release(e, s, false);
	return 0;
}

/* ------------------------------------------------------------- writes */

struct write_job {
	struct authz_engine *e;
	struct authz_fstore *s;
	const struct authz_write_req *req;
	char **ctx; /* canonical context texts of writes (NULL: none) */
	size_t *ctx_len;
	bool *applied; /* deletes first, then writes */
	int64_t now;
	uint64_t revision;
	bool any;
	/* completion */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
	struct bw_err err;
};

static int rev_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	(void)err;
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_STOP;
}

static const char *obj_type_of(const char *obj, size_t *len)
{
	const char *c = strchr(obj, ':');
	*len = c ? (size_t)(c - obj) : strlen(obj);
	return obj;
}

static int change_row(struct store_tx *tx, struct write_job *j, int64_t idx, int op,
		      const struct authz_tuple *t, const char *ctx, size_t ctx_len,
		      struct bw_err *err)
{
	size_t tl;
	const char *tp = obj_type_of(t->object, &tl);
	const char *cn = t->cond_name && *t->cond_name ? t->cond_name : NULL;
	struct store_value v[] = { store_text_str(j->s->id), store_int((int64_t)j->revision),
				   store_int(idx), store_int(op), store_text(tp, tl),
				   store_text_str(t->object), store_text_str(t->relation),
				   store_text_str(t->user), store_text_str(cn),
				   ctx ? store_text(ctx, ctx_len) : store_null(), store_int(j->now) };
	return store_tx_exec(tx,
			     "INSERT INTO authz_change (store_id, revision, idx, op, object_type,"
			     " object, relation, usr, cond_name, cond_context, created)"
			     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			     v, 11, err);
}

static int write_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct write_job *j = arg;
	const struct authz_write_req *r = j->req;
	struct store_value id[] = { store_text_str(j->s->id) };
	int64_t rev = -1;
	int found = store_tx_query_one(tx, "SELECT revision FROM authz_store WHERE id = ?", id, 1,
				       rev_row, &rev, err);
	if (found < 0)
		return -1;
	if (found == 0)
		return bw_err_set(err, 404, "authz", "store_not_found", "store not found");
	j->revision = (uint64_t)rev + 1;
	int64_t idx = 0;
	for (size_t i = 0; i < r->ndeletes; i++) {
		const struct authz_tuple *t = &r->deletes[i];
		struct store_value v[] = { store_text_str(j->s->id), store_text_str(t->object),
					   store_text_str(t->relation), store_text_str(t->user) };
		if (store_tx_exec(tx,
				  "DELETE FROM authz_tuple WHERE store_id = ? AND object = ?"
				  " AND relation = ? AND usr = ?",
				  v, 4, err) < 0)
			return -1;
		if (store_tx_changes(tx) == 0) {
			if (r->on_missing == AUTHZ_CONFLICT_IGNORE)
				continue;
			return bw_err_set(err, 409, "authz", "not_found_delete",
					  "cannot delete a tuple which does not exist: '%.80s#%.50s@%.80s'",
					  t->object, t->relation, t->user);
		}
		j->applied[i] = true;
		if (change_row(tx, j, idx++, 1, t, NULL, 0, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < r->nwrites; i++) {
		const struct authz_tuple *t = &r->writes[i];
		size_t tl;
		const char *tp = obj_type_of(t->object, &tl);
		const char *cn = t->cond_name && *t->cond_name ? t->cond_name : NULL;
		struct store_value v[] = { store_text_str(j->s->id), store_text(tp, tl),
					   store_text_str(t->object), store_text_str(t->relation),
					   store_text_str(t->user), store_text_str(cn),
					   j->ctx[i] ? store_text(j->ctx[i], j->ctx_len[i]) : store_null(),
					   store_int(j->now) };
		if (store_tx_exec(tx,
				  "INSERT INTO authz_tuple (store_id, object_type, object, relation, usr,"
				  " cond_name, cond_context, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
				  " ON CONFLICT (store_id, object, relation, usr) DO NOTHING",
				  v, 8, err) < 0)
			return -1;
		if (store_tx_changes(tx) == 0) {
			if (r->on_duplicate == AUTHZ_CONFLICT_IGNORE)
				continue;
			return bw_err_set(err, 409, "authz", "exists",
					  "cannot write a tuple which already exists: '%.80s#%.50s@%.80s'",
					  t->object, t->relation, t->user);
		}
		j->applied[r->ndeletes + i] = true;
		if (change_row(tx, j, idx++, 0, t, j->ctx[i], j->ctx_len[i], err) < 0)
			return -1;
	}
	j->any = idx > 0;
	if (!j->any)
		return 0;
	struct store_value u[] = { store_int((int64_t)j->revision), store_int(j->now),
				   store_text_str(j->s->id) };
	return store_tx_exec(tx, "UPDATE authz_store SET revision = ?, updated = ? WHERE id = ?", u,
			     3, err);
}

/* Writer thread, after the durable commit: mirror it in memory. */
static void write_done(void *arg, int rc, const struct bw_err *err)
{
	struct write_job *j = arg;
	if (rc == 0 && j->any) {
		const struct authz_write_req *r = j->req;
		struct authz_fstore *s = j->s;
		pthread_rwlock_wrlock(&s->lock);
		for (size_t i = 0; i < r->ndeletes; i++)
			if (j->applied[i])
				apply_del(s, r->deletes[i].object, r->deletes[i].relation,
					  r->deletes[i].user);
		for (size_t i = 0; i < r->nwrites; i++) {
			const struct authz_tuple *t = &r->writes[i];
			const char *cn = t->cond_name && *t->cond_name ? t->cond_name : "";
			if (j->applied[r->ndeletes + i] &&
			    apply_add(s, bw_str_make(t->object, strlen(t->object)),
				      bw_str_make(t->relation, strlen(t->relation)),
				      bw_str_make(t->user, strlen(t->user)), bw_str_make(cn, strlen(cn)),
				      bw_str_make(j->ctx[i] ? j->ctx[i] : "", j->ctx_len[i]), j->now) < 0)
				fatalx("authz: out of memory applying a committed write");
		}
		s->updated_ns = j->now;
		atomic_store_explicit(&s->revision, j->revision, memory_order_release);
		pthread_rwlock_unlock(&s->lock);
	}
	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	if (rc < 0 && err)
		j->err = *err;
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static bool same_key(const struct authz_tuple *a, const struct authz_tuple *b)
{
	return strcmp(a->object, b->object) == 0 && strcmp(a->relation, b->relation) == 0 &&
	       strcmp(a->user, b->user) == 0;
}

int authz_write(struct authz_engine *e, const char *tenant, const char *store_id,
		const struct authz_write_req *req, struct bw_err *err)
{
	size_t total = req->nwrites + req->ndeletes;
	if (total == 0)
		return bw_err_set(err, 400, "authz", "validation_error", "nothing to write or delete");
	if (total > e->o.write_max)
		return bw_err_set(err, 400, "authz", "validation_error",
				  "the number of tuples per write (%zu) exceeds the limit of %u",
				  total, e->o.write_max);
	struct write_job j = { .e = e, .req = req, .now = bw_clock_now_ns() };
	int rc = -1;
	j.ctx = calloc(req->nwrites + 1, sizeof(*j.ctx));
	j.ctx_len = calloc(req->nwrites + 1, sizeof(*j.ctx_len));
	j.applied = calloc(total, sizeof(*j.applied));
	if (!j.ctx || !j.ctx_len || !j.applied) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		goto out;
	}
	/* validate against the model under the store lock, then let go:
	 * the job re-checks existence in the database itself */
	struct authz_fstore *s = authz_store_acquire(e, tenant, store_id, false, err);
	if (!s)
		goto out;
	const struct authz_model *m = authz_store_model(s, req->model_id, err);
	int vrc = m ? 0 : -1;
	for (size_t i = 0; i < req->nwrites && vrc == 0; i++)
		vrc = authz_tuple_validate(m, &req->writes[i], err);
	authz_store_release(e, s, false);
	if (vrc < 0)
		goto out;
	for (size_t i = 0; i < req->ndeletes; i++) {
		const struct authz_tuple *t = &req->deletes[i];
		size_t c, h;
		bool w;
		if (!t->object || !t->relation || !t->user ||
		    !authz_parse_object(t->object, strlen(t->object), &c) ||
		    !authz_valid_rel_name(t->relation, strlen(t->relation)) ||
		    !authz_parse_user(t->user, strlen(t->user), &c, &h, &w)) {
			bw_err_set(err, 400, "authz", "validation_error",
				   "invalid tuple to delete '%.80s#%.50s@%.80s'",
				   t->object ? t->object : "", t->relation ? t->relation : "",
				   t->user ? t->user : "");
			goto out;
		}
	}
	for (size_t i = 0; i < total; i++) {
		const struct authz_tuple *a = i < req->ndeletes ? &req->deletes[i] :
								  &req->writes[i - req->ndeletes];
		for (size_t k = 0; k < i; k++) {
			const struct authz_tuple *b = k < req->ndeletes ? &req->deletes[k] :
									  &req->writes[k - req->ndeletes];
			if (same_key(a, b)) {
				bw_err_set(err, 400, "authz", "validation_error",
					   "duplicate tuple in the request: '%.80s#%.50s@%.80s'",
					   a->object, a->relation, a->user);
				goto out;
			}
		}
	}
	for (size_t i = 0; i < req->nwrites; i++) {
		const struct json_value *c = req->writes[i].cond_context;
		if (!c || c->type != JSON_OBJECT || c->u.obj.n == 0)
			continue;
		struct bw_buf b;
		bw_buf_init(&b, AUTHZ_CONTEXT_MAX_BYTES);
		if (json_canonicalize(c, &b) < 0) {
			bw_buf_fini(&b);
			bw_err_set(err, 413, "authz", "too_large",
				   "a condition context is larger than %zu bytes", AUTHZ_CONTEXT_MAX_BYTES);
			goto out;
		}
		j.ctx[i] = bw_buf_detach(&b, &j.ctx_len[i]);
	}
	pthread_rwlock_rdlock(&e->lock);
	j.s = table_find(e, store_id);
	if (!j.s || strcmp(j.s->tenant, tenant) != 0) {
		pthread_rwlock_unlock(&e->lock);
		bw_err_set(err, 404, "authz", "store_not_found", "store '%.40s' not found", store_id);
		goto out;
	}
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cv, NULL);
	if (store_write_async(e->db, write_job, &j, write_done, &j, err) < 0) {
		pthread_rwlock_unlock(&e->lock);
		pthread_cond_destroy(&j.cv);
		pthread_mutex_destroy(&j.mu);
		goto out;
	}
	pthread_mutex_lock(&j.mu);
	while (!j.done)
		pthread_cond_wait(&j.cv, &j.mu);
	pthread_mutex_unlock(&j.mu);
	pthread_rwlock_unlock(&e->lock);
	pthread_cond_destroy(&j.cv);
	pthread_mutex_destroy(&j.mu);
	if (j.rc < 0) {
		if (err)
			*err = j.err;
		goto out;
	}
	atomic_fetch_add_explicit(&e->n_writes, 1, memory_order_relaxed);
	rc = 0;
out:
	for (size_t i = 0; j.ctx && i < req->nwrites; i++)
		free(j.ctx[i]);
	free(j.ctx);
	free(j.ctx_len);
	free(j.applied);
	return rc;
}

/* -------------------------------------------------------------- reads */

struct page {
	struct bw_arena *a;
	struct authz_tuple_rec *recs;
	size_t n, cap;
	int64_t last_rev, last_idx; /* changes */
	bool changes;
};

static const char *adup(struct bw_arena *a, struct bw_str s)
{
	return bw_arena_strndup(a, s.p ? s.p : "", s.len);
}

static int page_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct page *p = arg;
	if (p->n == p->cap)
		return STORE_ROW_STOP;
	struct authz_tuple_rec *r = &p->recs[p->n];
	int c = 0;
	if (p->changes) {
		p->last_rev = store_row_int64(row, 0);
		p->last_idx = store_row_int64(row, 1);
		r->deleted = store_row_int64(row, 2) == 1;
		c = 3;
	}
	r->object = adup(p->a, store_row_text(row, c));
	r->relation = adup(p->a, store_row_text(row, c + 1));
	r->user = adup(p->a, store_row_text(row, c + 2));
	r->cond_name = store_row_is_null(row, c + 3) ? NULL : adup(p->a, store_row_text(row, c + 3));
	r->cond_context = store_row_is_null(row, c + 4) ? NULL :
							  adup(p->a, store_row_text(row, c + 4));
	r->time_ns = store_row_int64(row, c + 5);
	if (!r->object || !r->relation || !r->user)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	p->n++;
	return STORE_ROW_NEXT;
}

static bool known_store(struct authz_engine *e, const char *tenant, const char *id,
			struct bw_err *err)
{
	struct authz_store_info info;
	return authz_store_get(e, tenant, id, &info, err) == 0;
}

int authz_read(struct authz_engine *e, const char *tenant, const char *store_id,
	       const char *object, const char *relation, const char *user, size_t page_size,
	       const char *token, struct bw_arena *a, struct authz_tuple_rec **recs, size_t *n,
	       const char **next_token, struct bw_err *err)
{
	*n = 0;
	*next_token = "";
	if (!known_store(e, tenant, store_id, err))
		return -1;
	if (page_size == 0)
		page_size = AUTHZ_PAGE_DEFAULT;
	if (page_size > AUTHZ_PAGE_MAX)
		return bw_err_set(err, 400, "authz", "validation_error", "page_size above %d",
				  AUTHZ_PAGE_MAX);
	object = object && *object ? object : NULL;
	relation = relation && *relation ? relation : NULL;
	user = user && *user ? user : NULL;
	const char *otype = NULL;
	size_t otl = 0;
	if (object) {
		const char *c = strchr(object, ':');
		if (!c || c == object)
			return bw_err_set(err, 400, "authz", "validation_error",
					  "the object must be 'type:id' or 'type:'");
		if (!c[1]) {
			if (!user)
				return bw_err_set(err, 400, "authz", "validation_error",
						  "reading by object type ('%.60s') needs a user", object);
			otype = object;
			otl = (size_t)(c - object);
			object = NULL;
		}
	} else if (relation || user) {
		return bw_err_set(err, 400, "authz", "validation_error",
				  "the object is required when relation or user is given");
	}
	/* token: hex of "object\nrelation\nuser" of the last tuple returned */
	char tk[AUTHZ_OBJECT_MAX + AUTHZ_RELATION_NAME_MAX + AUTHZ_USER_MAX + 4] = "";
	const char *after[3] = { "", "", "" };
	if (token && *token) {
		size_t tl;
		if (bw_hex_decode(token, strlen(token), tk, sizeof(tk) - 1, &tl) < 0)
			return bw_err_set(err, 400, "authz", "invalid_continuation_token",
					  "invalid continuation token");
		tk[tl] = 0;
		char *n1 = strchr(tk, '\n'), *n2 = n1 ? strchr(n1 + 1, '\n') : NULL;
		if (!n2 || memchr(tk, 0, tl))
			return bw_err_set(err, 400, "authz", "invalid_continuation_token",
					  "invalid continuation token");
		*n1 = *n2 = 0;
		after[0] = tk;
		after[1] = n1 + 1;
		after[2] = n2 + 1;
	}
	/* one row past the page tells whether another page exists */
	struct page p = { .a = a, .cap = page_size + 1 };
	p.recs = bw_arena_zalloc(a, (page_size + 1) * sizeof(*p.recs));
	if (!p.recs)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	struct store_value v[] = {
		store_text_str(store_id),
		store_int(object != NULL), store_text_str(object ? object : ""),
		store_int(otype != NULL), store_text(otype ? otype : "", otl),
		store_int(relation != NULL), store_text_str(relation ? relation : ""),
		store_int(user != NULL), store_text_str(user ? user : ""),
		store_text_str(after[0]), store_text_str(after[0]), store_text_str(after[1]),
		store_text_str(after[1]), store_text_str(after[2]),
		store_int((int64_t)page_size + 1),
	};
	if (store_query(e->db,
			"SELECT object, relation, usr, cond_name, cond_context, created FROM authz_tuple"
			" WHERE store_id = ? AND (? = 0 OR object = ?) AND (? = 0 OR object_type = ?)"
			" AND (? = 0 OR relation = ?) AND (? = 0 OR usr = ?)"
			" AND (object > ? OR (object = ? AND (relation > ?"
			" OR (relation = ? AND usr > ?))))"
			" ORDER BY object, relation, usr LIMIT ?",
			v, BW_ARRAY_LEN(v), page_row, &p, err) < 0)
		return -1;
	*recs = p.recs;
	*n = p.n > page_size ? page_size : p.n;
	if (p.n > page_size) {
		const struct authz_tuple_rec *last = &p.recs[page_size - 1];
		struct bw_buf b;
		bw_buf_init(&b, sizeof(tk) + 8);
		char *hex = NULL;
		if (bw_buf_printf(&b, "%s\n%s\n%s", last->object, last->relation, last->user) == 0 &&
		    (hex = bw_arena_alloc(a, b.len * 2 + 1)))
			bw_hex_encode(b.data, b.len, hex);
		bw_buf_fini(&b);
		if (!hex)
			return bw_err_set(err, 500, "authz", "memory", "out of memory");
		*next_token = hex;
	}
	return 0;
}

int authz_read_changes(struct authz_engine *e, const char *tenant, const char *store_id,
		       const char *type, size_t page_size, const char *token, struct bw_arena *a,
		       struct authz_tuple_rec **recs, size_t *n, const char **next_token,
		       struct bw_err *err)
{
	*n = 0;
	*next_token = token ? token : "";
	if (!known_store(e, tenant, store_id, err))
		return -1;
	if (page_size == 0)
		page_size = AUTHZ_PAGE_DEFAULT;
	if (page_size > AUTHZ_PAGE_MAX)
		return bw_err_set(err, 400, "authz", "validation_error", "page_size above %d",
				  AUTHZ_PAGE_MAX);
	int64_t rev = 0, idx = -1;
	if (token && *token) {
		const char *us = strchr(token, '_');
		uint64_t r, i;
		if (!us || bw_str_to_u64(bw_str_make(token, (size_t)(us - token)), &r) < 0 ||
		    bw_str_to_u64(bw_str_make(us + 1, strlen(us + 1)), &i) < 0 || r > INT64_MAX ||
		    i > INT64_MAX)
			return bw_err_set(err, 400, "authz", "invalid_continuation_token",
					  "invalid continuation token");
		rev = (int64_t)r;
		idx = (int64_t)i;
	}
	struct page p = { .a = a, .cap = page_size, .changes = true, .last_rev = rev,
			  .last_idx = idx };
	p.recs = bw_arena_zalloc(a, page_size * sizeof(*p.recs));
	if (!p.recs)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	const char *t = type && *type ? type : NULL;
	struct store_value v[] = { store_text_str(store_id), store_int(t != NULL),
				   store_text_str(t ? t : ""), store_int(rev), store_int(rev),
				   store_int(idx), store_int((int64_t)page_size) };
	if (store_query(e->db,
			"SELECT revision, idx, op, object, relation, usr, cond_name, cond_context,"
			" created FROM authz_change WHERE store_id = ? AND (? = 0 OR object_type = ?)"
			" AND (revision > ? OR (revision = ? AND idx > ?))"
			" ORDER BY revision, idx LIMIT ?",
			v, BW_ARRAY_LEN(v), page_row, &p, err) < 0)
		return -1;
	*recs = p.recs;
	*n = p.n;
	if (p.n) {
		char *tk = bw_arena_printf(a, "%lld_%lld", (long long)p.last_rev,
					   (long long)p.last_idx);
		if (!tk)
			return bw_err_set(err, 500, "authz", "memory", "out of memory");
		*next_token = tk;
	}
	return 0;
}
