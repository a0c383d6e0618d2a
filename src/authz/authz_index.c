/*
 * The in-memory tuple index of one store: a symbol table interning every
 * string, a table of tuples, and three hash indexes over it —
 *   exact    (object, relation, user, userset-relation) -> tuple
 *   by_obj   (object, relation, is-userset)            -> tuples
 *   by_user  (user, userset-relation, relation, object type) -> tuples
 * — so a check's direct lookups are O(1), expanding a userset walks only
 * userset tuples, and list-objects walks edges backwards from the user.
 *
 * Invariants: every live tuple is in all three indexes exactly once and no
 * dead one is in any; vectors hold tuple indexes in no particular order;
 * a vector emptied by deletion is returned to the free list together with
 * its key. The structure is not locked here: the owner (the store) holds
 * its rwlock — readers shared, mutation exclusive.
 */
#include "authz/authz_int.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- hashing */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

uint32_t authz_sym_hash(const char *s, size_t len)
{
	/* FNV-1a, then a finaliser so low bits mix well for masking. */
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return (uint32_t)mix64(h);
}

/* --------------------------------------------------------------- hmap */

static size_t slot(const struct authz_hmap *m, uint64_t a, uint64_t b)
{
	return (size_t)mix64(a * 0x9e3779b97f4a7c15ULL ^ mix64(b)) & (m->cap - 1);
}

void authz_hmap_fini(struct authz_hmap *m)
{
	free(m->ka);
	free(m->kb);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

uint32_t authz_hmap_get(const struct authz_hmap *m, uint64_t a, uint64_t b)
{
	if (!m->cap)
		return 0;
	for (size_t i = slot(m, a, b);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i])
			return 0;
		if (m->ka[i] == a && m->kb[i] == b)
			return m->v[i];
	}
}

static int grow_map(struct authz_hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct authz_hmap n = { .cap = ncap };
	n.ka = malloc(ncap * sizeof(*n.ka));
	n.kb = malloc(ncap * sizeof(*n.kb));
	n.v = calloc(ncap, sizeof(*n.v));
	if (!n.ka || !n.kb || !n.v) {
		authz_hmap_fini(&n);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->v[i])
			continue;
		size_t j = slot(&n, m->ka[i], m->kb[i]);
		while (n.v[j])
			j = (j + 1) & (ncap - 1);
		n.ka[j] = m->ka[i];
		n.kb[j] = m->kb[i];
		n.v[j] = m->v[i];
	}
	n.n = m->n;
	authz_hmap_fini(m);
	*m = n;
	return 0;
}

int authz_hmap_put(struct authz_hmap *m, uint64_t a, uint64_t b, uint32_t v)
{
	BW_ASSERT(v != 0);
	/* load factor <= 1/2 keeps probe chains short */
	if ((m->n + 1) * 2 > m->cap && grow_map(m) < 0)
		return -1;
	size_t i = slot(m, a, b);
	while (m->v[i]) {
		if (m->ka[i] == a && m->kb[i] == b) {
			m->v[i] = v;
			return 0;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->ka[i] = a;
	m->kb[i] = b;
	m->v[i] = v;
	m->n++;
	return 0;
}

void authz_hmap_del(struct authz_hmap *m, uint64_t a, uint64_t b)
{
	if (!m->cap)
		return;
	size_t mask = m->cap - 1, i = slot(m, a, b);
	for (;; i = (i + 1) & mask) {
		if (!m->v[i])
			return;
		if (m->ka[i] == a && m->kb[i] == b)
			break;
	}
	/* backward-shift: move later members of the run into the hole when
	 * their home slot does not lie cyclically in (hole, them] */
	size_t j = i;
	for (;;) {
		m->v[i] = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!m->v[j]) {
				m->n--;
				return;
			}
			size_t home = slot(m, m->ka[j], m->kb[j]);
			bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
			if (!stays)
				break;
		}
		m->ka[i] = m->ka[j];
		m->kb[i] = m->kb[j];
		m->v[i] = m->v[j];
		i = j;
	}
}

/* ------------------------------------------------------------- symbols */

#define SYM_CHUNK 65536

int authz_symtab_init(struct authz_symtab *t)
{
	memset(t, 0, sizeof(*t));
	t->cap = 1024;
	t->syms = calloc(t->cap, sizeof(*t->syms));
	t->ht = calloc(2048, sizeof(*t->ht));
	if (!t->syms || !t->ht) {
		free(t->syms);
		free(t->ht);
		return -1;
	}
	t->ht_mask = 2047;
	t->n = 1;
	return 0;
}

void authz_symtab_fini(struct authz_symtab *t)
{
	char *c = t->chunk;
	while (c) {
		char *prev;
		memcpy(&prev, c, sizeof(prev));
		free(c);
		c = prev;
	}
	free(t->syms);
	free(t->ht);
	memset(t, 0, sizeof(*t));
}

uint32_t authz_sym_find(const struct authz_symtab *t, const char *s, size_t len)
{
	if (!t->ht)
		return 0;
	uint32_t h = authz_sym_hash(s, len);
	for (uint32_t i = h & t->ht_mask;; i = (i + 1) & t->ht_mask) {
		uint32_t id = t->ht[i];
		if (!id)
			return 0;
		const struct authz_sym *y = &t->syms[id];
		if (y->hash == h && y->len == len && memcmp(y->s, s, len) == 0)
			return id;
	}
}

static char *store_string(struct authz_symtab *t, const char *s, size_t len)
{
	size_t need = len + 1;
	if (!t->chunk || t->chunk_used + need > t->chunk_cap) {
		size_t cap = need + sizeof(char *) > SYM_CHUNK ? need + sizeof(char *) : SYM_CHUNK;
		char *c = malloc(cap);
		if (!c)
			return NULL;
		memcpy(c, &t->chunk, sizeof(char *));
		t->chunk = c;
		t->chunk_used = sizeof(char *);
		t->chunk_cap = cap;
		t->bytes += cap;
	}
	char *p = t->chunk + t->chunk_used;
	memcpy(p, s, len);
	p[len] = 0;
	t->chunk_used += need;
	return p;
}

static int rehash(struct authz_symtab *t)
{
	uint32_t ncap = (t->ht_mask + 1) * 2;
	uint32_t *ht = calloc(ncap, sizeof(*ht));
	if (!ht)
		return -1;
	for (uint32_t id = 1; id < t->n; id++) {
		uint32_t i = t->syms[id].hash & (ncap - 1);
		while (ht[i])
			i = (i + 1) & (ncap - 1);
		ht[i] = id;
	}
	free(t->ht);
	t->ht = ht;
	t->ht_mask = ncap - 1;
	return 0;
}

uint32_t authz_sym_intern(struct authz_symtab *t, const char *s, size_t len)
{
	uint32_t id = authz_sym_find(t, s, len);
	if (id)
		return id;
	if (t->n >= AUTHZ_SYM_LOCAL - 1 || len > UINT32_MAX)
		return 0;
	uint32_t type = 0;
	bool wild = false;
	const char *colon = memchr(s, ':', len);
	if (colon) {
		type = authz_sym_intern(t, s, (size_t)(colon - s));
		if (!type)
			return 0;
		wild = (size_t)(colon - s) + 2 == len && colon[1] == '*';
	}
	if (t->n == t->cap) {
		struct authz_sym *ns = realloc(t->syms, (size_t)t->cap * 2 * sizeof(*ns));
		if (!ns)
			return 0;
		t->syms = ns;
		t->cap *= 2;
	}
	if ((size_t)(t->n + 1) * 2 > (size_t)t->ht_mask + 1 && rehash(t) < 0)
		return 0;
	char *p = store_string(t, s, len);
	if (!p)
		return 0;
	id = t->n++;
	struct authz_sym *y = &t->syms[id];
	y->s = p;
	y->len = (uint32_t)len;
	y->type = type;
	y->hash = authz_sym_hash(s, len);
	y->wildcard = wild;
	uint32_t i = y->hash & t->ht_mask;
	while (t->ht[i])
		i = (i + 1) & t->ht_mask;
	t->ht[i] = id;
	return id;
}

/* -------------------------------------------------------------- tupset */

int authz_tupset_init(struct authz_tupset *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->capconds = 16;
	ts->conds = calloc(ts->capconds, sizeof(*ts->conds));
	if (!ts->conds)
		return -1;
	ts->nconds = 1;
	return 0;
}

void authz_tupset_fini(struct authz_tupset *ts)
{
	free(ts->t);
	authz_hmap_fini(&ts->exact);
	authz_hmap_fini(&ts->by_obj);
	authz_hmap_fini(&ts->by_user);
	authz_hmap_fini(&ts->cond_ix);
	for (uint32_t i = 0; i < ts->nvecs; i++)
		free(ts->vecs[i].v);
	free(ts->vecs);
	for (uint32_t i = 1; i < ts->nconds; i++)
		bw_arena_free(ts->conds[i].arena);
	free(ts->conds);
	memset(ts, 0, sizeof(*ts));
}

/* Appends tuple index x to the vector stored under key (a, b). */
static int vec_add(struct authz_tupset *ts, struct authz_hmap *m, uint64_t a, uint64_t b,
		   uint32_t x)
{
	uint32_t vi = authz_hmap_get(m, a, b);
	if (!vi) {
		if (ts->free_vec) {
			vi = ts->free_vec;
			ts->free_vec = ts->vecs[vi - 1].n; /* free list via n */
			ts->vecs[vi - 1].n = 0;
		} else {
			if (ts->nvecs == ts->capvecs) {
				uint32_t nc = ts->capvecs ? ts->capvecs * 2 : 256;
				struct authz_vec *nv = realloc(ts->vecs, (size_t)nc * sizeof(*nv));
				if (!nv)
					return -1;
				ts->vecs = nv;
				ts->capvecs = nc;
			}
			memset(&ts->vecs[ts->nvecs], 0, sizeof(ts->vecs[0]));
			vi = ++ts->nvecs;
		}
		if (authz_hmap_put(m, a, b, vi) < 0) {
			ts->vecs[vi - 1].n = ts->free_vec;
			ts->free_vec = vi;
			return -1;
		}
	}
	struct authz_vec *v = &ts->vecs[vi - 1];
	if (v->n == v->cap) {
		uint32_t nc = v->cap ? v->cap * 2 : 2;
		uint32_t *nv = realloc(v->v, (size_t)nc * sizeof(*nv));
		if (!nv)
			return -1;
		v->v = nv;
		v->cap = nc;
	}
	v->v[v->n++] = x;
	return 0;
}

static void vec_del(struct authz_tupset *ts, struct authz_hmap *m, uint64_t a, uint64_t b,
		    uint32_t x)
{
	uint32_t vi = authz_hmap_get(m, a, b);
	if (!vi)
		return;
	struct authz_vec *v = &ts->vecs[vi - 1];
	for (uint32_t i = 0; i < v->n; i++)
		if (v->v[i] == x) {
			v->v[i] = v->v[--v->n];
			break;
		}
	if (v->n == 0) {
		free(v->v);
		v->v = NULL;
		v->cap = 0;
		v->n = ts->free_vec;
		ts->free_vec = vi;
		authz_hmap_del(m, a, b);
	}
}

static uint32_t obj_type(const struct authz_symtab *st, uint32_t obj)
{
	return obj < st->n ? st->syms[obj].type : 0;
}

int authz_tupset_add(struct authz_tupset *ts, const struct authz_symtab *st, uint32_t obj,
		     uint32_t rel, uint32_t uobj, uint32_t urel, uint32_t cond, int64_t time_ns)
{
	uint32_t have = authz_hmap_get(&ts->exact, authz_k2(obj, rel), authz_k2(uobj, urel));
	if (have) {
		ts->t[have - 1].cond = cond;
		ts->t[have - 1].time_ns = time_ns;
		return (int)(have - 1);
	}
	uint32_t x;
	if (ts->free_head) {
		x = ts->free_head - 1;
		ts->free_head = ts->t[x].obj;
	} else {
		if (ts->n == ts->cap) {
			uint32_t nc = ts->cap ? ts->cap * 2 : 1024;
			struct authz_tup *nt = realloc(ts->t, (size_t)nc * sizeof(*nt));
			if (!nt)
				return -1;
			ts->t = nt;
			ts->cap = nc;
		}
		x = ts->n++;
	}
	struct authz_tup *t = &ts->t[x];
	*t = (struct authz_tup){ obj, rel, uobj, urel, cond, 1, time_ns };
	if (authz_hmap_put(&ts->exact, authz_k2(obj, rel), authz_k2(uobj, urel), x + 1) < 0)
		goto undo0;
	if (vec_add(ts, &ts->by_obj, authz_k2(obj, rel), urel ? 1 : 0, x) < 0)
		goto undo1;
	if (vec_add(ts, &ts->by_user, authz_k2(uobj, urel), authz_k2(rel, obj_type(st, obj)), x) < 0)
		goto undo2;
	ts->live++;
	return (int)x;
undo2:
	vec_del(ts, &ts->by_obj, authz_k2(obj, rel), urel ? 1 : 0, x);
undo1:
	authz_hmap_del(&ts->exact, authz_k2(obj, rel), authz_k2(uobj, urel));
undo0:
	t->live = 0;
	t->obj = ts->free_head;
	ts->free_head = x + 1;
	return -1;
}

void authz_tupset_del(struct authz_tupset *ts, const struct authz_symtab *st, uint32_t obj,
		      uint32_t rel, uint32_t uobj, uint32_t urel)
{
	uint32_t have = authz_hmap_get(&ts->exact, authz_k2(obj, rel), authz_k2(uobj, urel));
	if (!have)
		return;
	uint32_t x = have - 1;
	authz_hmap_del(&ts->exact, authz_k2(obj, rel), authz_k2(uobj, urel));
	vec_del(ts, &ts->by_obj, authz_k2(obj, rel), urel ? 1 : 0, x);
	vec_del(ts, &ts->by_user, authz_k2(uobj, urel), authz_k2(rel, obj_type(st, obj)), x);
	ts->t[x].live = 0;
	ts->t[x].obj = ts->free_head;
	ts->free_head = x + 1;
	ts->live--;
}

uint32_t authz_tupset_cond(struct authz_tupset *ts, uint32_t name, const char *ctx,
			   size_t ctx_len)
{
	uint64_t h = ctx ? authz_sym_hash(ctx, ctx_len) : 0;
	/* A collision of the 32-bit context hash moves to the next probe
	 * number in the key's high bits; texts decide equality. */
	uint64_t key = h;
	for (uint64_t probe = 0;; probe++) {
		if (probe == 64)
			return 0;
		key = h | probe << 32;
		uint32_t ci = authz_hmap_get(&ts->cond_ix, name, key);
		if (!ci)
			break;
		const struct authz_tcond *c = &ts->conds[ci];
		if (c->ctx_len == (ctx ? ctx_len : 0) &&
		    (!ctx || !ctx_len || memcmp(c->ctx_text, ctx, ctx_len) == 0))
			return ci;
	}
	if (ts->nconds == ts->capconds) {
		uint32_t nc = ts->capconds * 2;
		struct authz_tcond *n = realloc(ts->conds, (size_t)nc * sizeof(*n));
		if (!n)
			return 0;
		ts->conds = n;
		ts->capconds = nc;
	}
	struct authz_tcond c = { .name = name };
	if (ctx && ctx_len) {
		struct bw_err err;
		c.arena = bw_arena_new(ctx_len * 4 + 1024, AUTHZ_CONTEXT_MAX_BYTES * 16);
		if (!c.arena)
			return 0;
		c.ctx_text = bw_arena_strndup(c.arena, ctx, ctx_len);
		c.ctx_len = ctx_len;
		c.ctx = c.ctx_text ? json_parse(c.arena, ctx, ctx_len, NULL, &err) : NULL;
		if (!c.ctx || c.ctx->type != JSON_OBJECT) {
			bw_arena_free(c.arena);
			return 0;
		}
	}
	uint32_t ci = ts->nconds;
	if (authz_hmap_put(&ts->cond_ix, name, key, ci) < 0) {
		bw_arena_free(c.arena);
		return 0;
	}
	ts->conds[ts->nconds++] = c;
	return ci;
}
