/*
 * ListObjects and ListUsers.
 *
 * Both work in two phases. A graph walk proposes candidates — a superset
 * of the answer — and each candidate is then confirmed with a Check, so
 * intersection, exclusion, conditions, wildcards and contextual tuples get
 * exactly Check's semantics (the answer is "every x such that Check(x) is
 * true", which is how OpenFGA defines both APIs).
 *
 *  - ListObjects walks backwards from the user: from a (object, relation)
 *    node the user is (possibly) in, to every (object', relation') it
 *    implies — computed parents on the same object, relations that admit
 *    type#relation usersets (through the by_user index), and
 *    tuple-to-userset parents. The edges come from the model once, at bind
 *    time (authz_redges_build); subtracted branches never add candidates.
 *    The check memo is shared by all confirmations, since the user is the
 *    same.
 *  - ListUsers walks forwards from object#relation through the rewrite,
 *    collecting users of the filter type (objects, the type's wildcard, or
 *    usersets type#relation) and descending into usersets and tupleset
 *    parents.
 *
 * Bounds: at most list_max results, the list deadline, and a node budget of
 * four times the breadth limit for the walk; results are sorted.
 */
#include "authz/authz_int.h"

#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------- reverse edges */

static int add_edge(struct authz_model *m, struct authz_redge_list *l, uint32_t t, uint32_t r,
		    uint32_t ts)
{
	/* power-of-two capacity implied by n: grow at 0,1,2,4,8... */
	if ((l->n & (l->n - 1)) == 0) {
		size_t cap = l->n ? (size_t)l->n * 2 : 1;
		struct authz_redge *ne = bw_arena_alloc(m->arena, cap * sizeof(*ne));
		if (!ne)
			return -1;
		if (l->n)
			memcpy(ne, l->e, l->n * sizeof(*ne));
		l->e = ne;
	}
	l->e[l->n++] = (struct authz_redge){ t, r, ts };
	return 0;
}

static int walk_edges(struct authz_model *m, uint32_t ti, uint32_t ri, const struct authz_rw *rw,
		      bool sub)
{
	struct authz_redges *g = m->redges;
	const struct authz_type *t = &m->types[ti];
	const struct authz_rel *rel = &t->rels[ri];
	if (sub)
		return 0;
	switch (rw->kind) {
	case AUTHZ_RW_THIS:
		for (size_t i = 0; i < rel->ndt; i++) {
			const struct authz_restr *d = &rel->dt[i];
			struct authz_redge_list *l =
				d->rel ? &g->uset[g->off[d->type_idx] + (uint32_t)d->rel_idx] :
				d->wildcard ? &g->wild[d->type_idx] : &g->direct[d->type_idx];
			if (add_edge(m, l, ti, ri, 0) < 0)
				return -1;
		}
		return 0;
	case AUTHZ_RW_COMPUTED:
		return add_edge(m, &g->comp[g->off[ti] + (uint32_t)rw->rel_idx], ti, ri, 0);
	case AUTHZ_RW_TTU: {
		const struct authz_rel *ts = &t->rels[rw->ts_idx];
		for (size_t i = 0; i < ts->ndt; i++) {
			const struct authz_type *pt = &m->types[ts->dt[i].type_idx];
			const struct authz_rel *pr = authz_type_rel(pt, rw->rel, strlen(rw->rel));
			if (pr && add_edge(m, &g->ttu[g->off[ts->dt[i].type_idx] + (uint32_t)pr->idx],
					   ti, ri, (uint32_t)rw->ts_idx) < 0)
				return -1;
		}
		return 0;
	}
	case AUTHZ_RW_UNION:
	case AUTHZ_RW_INTER:
	case AUTHZ_RW_DIFF:
		for (size_t i = 0; i < rw->n; i++)
			if (walk_edges(m, ti, ri, rw->child[i], rw->kind == AUTHZ_RW_DIFF && i == 1) < 0)
				return -1;
		return 0;
	}
	return 0;
}

int authz_redges_build(struct authz_model *m)
{
	struct authz_redges *g = bw_arena_zalloc(m->arena, sizeof(*g));
	if (!g)
		return -1;
	m->redges = g;
	g->off = bw_arena_zalloc(m->arena, (m->ntypes + 1) * sizeof(uint32_t));
	if (!g->off)
		return -1;
	uint32_t total = 0;
	for (size_t i = 0; i < m->ntypes; i++) {
		g->off[i] = total;
		total += (uint32_t)m->types[i].nrels;
	}
	g->off[m->ntypes] = total;
	size_t slots = total ? total : 1;
	g->comp = bw_arena_zalloc(m->arena, slots * sizeof(*g->comp));
	g->uset = bw_arena_zalloc(m->arena, slots * sizeof(*g->uset));
	g->ttu = bw_arena_zalloc(m->arena, slots * sizeof(*g->ttu));
	g->direct = bw_arena_zalloc(m->arena, m->ntypes * sizeof(*g->direct));
	g->wild = bw_arena_zalloc(m->arena, m->ntypes * sizeof(*g->wild));
	if (!g->comp || !g->uset || !g->ttu || !g->direct || !g->wild)
		return -1;
	for (uint32_t i = 0; i < m->ntypes; i++)
		for (uint32_t r = 0; r < m->types[i].nrels; r++)
			if (walk_edges(m, i, r, m->types[i].rels[r].rw, false) < 0)
				return -1;
	return 0;
}

/* ---------------------------------------------------------------- walks */

struct walk {
	struct authz_q *q;
	struct authz_hmap seen; /* (obj, rel) visited */
	uint64_t *queue;        /* obj << 32 | rel */
	size_t head, n, cap, budget;
	bool over;
};

static int push(struct walk *w, uint32_t obj, uint32_t rel)
{
	if (authz_hmap_get(&w->seen, obj, rel))
		return 0;
	if (w->n >= w->budget) {
		w->over = true;
		return 0;
	}
	if (authz_hmap_put(&w->seen, obj, rel, 1) < 0)
		return -1;
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		uint64_t *nq = realloc(w->queue, nc * sizeof(*nq));
		if (!nq)
			return -1;
		w->queue = nq;
		w->cap = nc;
	}
	w->queue[w->n++] = authz_k2(obj, rel);
	return 0;
}

static void walk_fini(struct walk *w)
{
	authz_hmap_fini(&w->seen);
	free(w->queue);
}

/* Pushes (t.obj, rel) for tuples with user (uobj, urel) on relation rsym of
 * objects of type tsym, stored and contextual. */
static int push_users_tuples(struct walk *w, uint32_t uobj, uint32_t urel, uint32_t rsym,
			     uint32_t tsym, uint32_t push_rel)
{
	struct authz_q *q = w->q;
	const struct authz_tupset *ts = &q->s->ts;
	if (!(uobj & AUTHZ_SYM_LOCAL) && !(urel & AUTHZ_SYM_LOCAL)) {
		const struct authz_vec *v = authz_tupset_vec(
			ts, authz_hmap_get(&ts->by_user, authz_k2(uobj, urel), authz_k2(rsym, tsym)));
		for (uint32_t i = 0; v && i < v->n; i++)
			if (push(w, ts->t[v->v[i]].obj, push_rel) < 0)
				return -1;
	}
	for (size_t i = 0; i < q->nct; i++) {
		const struct authz_ctup *c = &q->ct[i];
		if (c->uobj == uobj && c->urel == urel && c->rel == rsym &&
		    authz_qsym_type(q, c->obj) == tsym && push(w, c->obj, push_rel) < 0)
			return -1;
	}
	return 0;
}

static int type_idx_of(const struct authz_q *q, uint32_t obj)
{
	const struct authz_type *t = authz_type_by_sym(q->m, authz_qsym_type(q, obj));
	return t ? (int)(t - q->m->types) : -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Confirms candidates with Check and collects the allowed ones. */
struct results {
	const char **v;
	size_t n, cap, max;
};

static int add_result(struct authz_q *q, struct results *r, const char *s, size_t len)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		const char **nv = bw_arena_alloc(q->a, nc * sizeof(*nv));
		if (!nv)
			return -1;
		if (r->n)
			memcpy(nv, r->v, r->n * sizeof(*nv));
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = bw_arena_strndup(q->a, s, len);
	return r->v[r->n - 1] ? 0 : -1;
}

/* Copies results into the caller's arena, sorted. */
static int hand_out(struct results *r, struct bw_arena *a, const char ***out, size_t *n)
{
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(*r->v), cmp_str);
	const char **v = bw_arena_alloc(a, (r->n ? r->n : 1) * sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (!(v[i] = bw_arena_strdup(a, r->v[i])))
			return -1;
	*out = v;
	*n = r->n;
	return 0;
}

/* A confirmation failed: an unevaluable condition drops that candidate
 * (as OpenFGA omits it); any other error fails the request. */
static bool skip_error(struct authz_q *q)
{
	if (q->err && (strcmp(q->err->reason, "missing_context") == 0 ||
		       strcmp(q->err->reason, "condition_error") == 0)) {
		q->failed = false;
		bw_err_clear(q->err);
		return true;
	}
	return false;
}

static bool past_deadline(const struct authz_q *q)
{
	return q->deadline_ms && bw_clock_mono_ms() > q->deadline_ms;
}

int authz_list_objects(struct authz_engine *e, const struct authz_query *qr, const char *type,
		       const char *relation, const char *user, struct bw_arena *a,
		       const char ***objs, size_t *n, struct bw_err *err)
{
	struct authz_q q;
	*n = 0;
	if (authz_q_open(&q, e, qr, err) < 0)
		return -1;
	struct walk w = { .q = &q, .budget = q.max_steps * 4 };
	struct results res = { .max = e->o.list_max };
	int rc = -1;
	q.deadline_ms = bw_clock_mono_ms() + e->o.list_deadline_ms;
	const struct authz_type *tt = type ? authz_model_type(q.m, type, strlen(type)) : NULL;
	if (!tt) {
		bw_err_set(err, 400, "authz", "validation_error", "type '%.60s' not found",
			   type ? type : "");
		goto out;
	}
	const struct authz_rel *trel = relation ? authz_type_rel(tt, relation, strlen(relation)) : NULL;
	if (!trel) {
		bw_err_set(err, 400, "authz", "validation_error", "relation '%s#%.50s' not found",
			   tt->name, relation ? relation : "");
		goto out;
	}
	uint32_t uobj, urel;
	if (authz_q_user(&q, user, &uobj, &urel) < 0 || authz_q_set_user(&q, uobj, urel) < 0)
		goto out;
	const struct authz_redges *g = q.m->redges;
	int ut = type_idx_of(&q, uobj);
	bool uwildcard = authz_qsym_wild(&q, uobj);
	/* seeds */
	if (urel && push(&w, uobj, urel) < 0)
		goto oom;
	if (!urel && ut >= 0) {
		const struct authz_redge_list *l = uwildcard ? &g->wild[ut] : &g->direct[ut];
		for (uint32_t i = 0; i < l->n; i++) {
			const struct authz_type *yt = &q.m->types[l->e[i].type_idx];
			uint32_t rs = yt->rels[l->e[i].rel_idx].sym;
			if (push_users_tuples(&w, uobj, 0, rs, yt->sym, rs) < 0)
				goto oom;
		}
		if (!uwildcard && q.uwild)
			for (uint32_t i = 0; i < g->wild[ut].n; i++) {
				const struct authz_type *yt = &q.m->types[g->wild[ut].e[i].type_idx];
				uint32_t rs = yt->rels[g->wild[ut].e[i].rel_idx].sym;
				if (push_users_tuples(&w, q.uwild, 0, rs, yt->sym, rs) < 0)
					goto oom;
			}
	}
	/* propagate */
	for (; w.head < w.n && !w.over; w.head++) {
		uint32_t obj = (uint32_t)(w.queue[w.head] >> 32), rsym = (uint32_t)w.queue[w.head];
		int ti = type_idx_of(&q, obj);
		if (ti < 0)
			continue;
		const struct authz_type *ot = &q.m->types[ti];
		const struct authz_rel *rel = authz_rel_by_sym(ot, rsym);
		if (!rel)
			continue;
		uint32_t slot = g->off[ti] + (uint32_t)rel->idx;
		for (uint32_t i = 0; i < g->comp[slot].n; i++)
			if (push(&w, obj, ot->rels[g->comp[slot].e[i].rel_idx].sym) < 0)
				goto oom;
		for (uint32_t i = 0; i < g->uset[slot].n; i++) {
			const struct authz_type *yt = &q.m->types[g->uset[slot].e[i].type_idx];
			uint32_t rs = yt->rels[g->uset[slot].e[i].rel_idx].sym;
			if (push_users_tuples(&w, obj, rsym, rs, yt->sym, rs) < 0)
				goto oom;
		}
		for (uint32_t i = 0; i < g->ttu[slot].n; i++) {
			const struct authz_redge *ed = &g->ttu[slot].e[i];
			const struct authz_type *pt = &q.m->types[ed->type_idx];
			if (push_users_tuples(&w, obj, 0, pt->rels[ed->ts_idx].sym, pt->sym,
					      pt->rels[ed->rel_idx].sym) < 0)
				goto oom;
		}
	}
	if (w.over) {
		bw_err_set(err, 400, "authz", "resolution_too_complex",
			   "list-objects visited more than %zu nodes", w.budget);
		goto out;
	}
	/* confirm */
	for (size_t i = 0; i < w.n && res.n < res.max; i++) {
		uint32_t obj = (uint32_t)(w.queue[i] >> 32), rsym = (uint32_t)w.queue[i];
		if (rsym != trel->sym || authz_qsym_type(&q, obj) != tt->sym)
			continue;
		if ((i & 63) == 0 && past_deadline(&q))
			break; /* OpenFGA answers with what it has at the deadline */
		int r = authz_q_dispatch(&q, obj, trel->sym, 0);
		if ((r & 3) == AUTHZ_R_ERR) {
			if (skip_error(&q))
				continue;
			goto out;
		}
		if ((r & 3) == AUTHZ_R_TRUE) {
			struct bw_str s = authz_qsym_str(&q, obj);
			if (add_result(&q, &res, s.p, s.len) < 0)
				goto oom;
		}
	}
	if (hand_out(&res, a, objs, n) < 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	bw_err_set(err, 500, "authz", "memory", "out of memory");
out:
	walk_fini(&w);
	authz_q_close(&q);
	return rc;
}

/* ------------------------------------------------------------ list users */

struct lu {
	struct walk w;
	uint32_t ftype, frel;
	struct authz_hmap cand; /* (uobj, urel) */
	uint64_t *cv;
	size_t ncv, capcv;
};

static int add_cand(struct lu *l, uint32_t uobj, uint32_t urel)
{
	if (authz_hmap_get(&l->cand, uobj, urel))
		return 0;
	if (authz_hmap_put(&l->cand, uobj, urel, 1) < 0)
		return -1;
	if (l->ncv == l->capcv) {
		size_t nc = l->capcv ? l->capcv * 2 : 64;
		uint64_t *n = realloc(l->cv, nc * sizeof(*n));
		if (!n)
			return -1;
		l->cv = n;
		l->capcv = nc;
	}
	l->cv[l->ncv++] = authz_k2(uobj, urel);
	return 0;
}

/* A user found on a direct relationship: a candidate if it has the filter's
 * shape; a userset is also expanded. */
static int lu_user(struct lu *l, uint32_t uobj, uint32_t urel)
{
	struct authz_q *q = l->w.q;
	uint32_t t = authz_qsym_type(q, uobj);
	if (urel) {
		if (t == l->ftype && urel == l->frel && add_cand(l, uobj, urel) < 0)
			return -1;
		return push(&l->w, uobj, urel);
	}
	if (t == l->ftype && !l->frel)
		return add_cand(l, uobj, 0);
	return 0;
}

static int lu_rw(struct lu *l, uint32_t obj, const struct authz_type *t,
		 const struct authz_rel *rel, const struct authz_rw *rw)
{
	struct authz_q *q = l->w.q;
	const struct authz_tupset *ts = &q->s->ts;
	switch (rw->kind) {
	case AUTHZ_RW_THIS:
		for (int us = 0; us < 2 && !(obj & AUTHZ_SYM_LOCAL); us++) {
			const struct authz_vec *v = authz_tupset_vec(
				ts, authz_hmap_get(&ts->by_obj, authz_k2(obj, rel->sym), (uint64_t)us));
			for (uint32_t i = 0; v && i < v->n; i++)
				if (lu_user(l, ts->t[v->v[i]].uobj, ts->t[v->v[i]].urel) < 0)
					return -1;
		}
		for (size_t i = 0; i < q->nct; i++)
			if (q->ct[i].obj == obj && q->ct[i].rel == rel->sym &&
			    lu_user(l, q->ct[i].uobj, q->ct[i].urel) < 0)
				return -1;
		return 0;
	case AUTHZ_RW_COMPUTED:
		return push(&l->w, obj, t->rels[rw->rel_idx].sym);
	case AUTHZ_RW_TTU: {
		uint32_t tsym = t->rels[rw->ts_idx].sym;
		const struct authz_vec *v = NULL;
		if (!(obj & AUTHZ_SYM_LOCAL))
			v = authz_tupset_vec(ts, authz_hmap_get(&ts->by_obj, authz_k2(obj, tsym), 0));
		for (uint32_t i = 0; v && i < v->n; i++)
			if (push(&l->w, ts->t[v->v[i]].uobj, rw->rel_sym) < 0)
				return -1;
		for (size_t i = 0; i < q->nct; i++)
			if (q->ct[i].obj == obj && q->ct[i].rel == tsym && !q->ct[i].urel &&
			    push(&l->w, q->ct[i].uobj, rw->rel_sym) < 0)
				return -1;
		return 0;
	}
	case AUTHZ_RW_UNION:
	case AUTHZ_RW_INTER:
		for (size_t i = 0; i < rw->n; i++)
			if (lu_rw(l, obj, t, rel, rw->child[i]) < 0)
				return -1;
		return 0;
	case AUTHZ_RW_DIFF:
		return lu_rw(l, obj, t, rel, rw->child[0]);
	}
	return 0;
}

int authz_list_users(struct authz_engine *e, const struct authz_query *qr, const char *object,
		     const char *relation, const char *filter_type, const char *filter_rel,
		     struct bw_arena *a, const char ***users, size_t *n, struct bw_err *err)
{
	struct authz_q q;
	*n = 0;
	if (authz_q_open(&q, e, qr, err) < 0)
		return -1;
	struct lu l = { .w = { .q = &q, .budget = q.max_steps * 4 } };
	struct results res = { .max = e->o.list_max };
	int rc = -1;
	q.deadline_ms = bw_clock_mono_ms() + e->o.list_deadline_ms;
	uint32_t obj;
	const struct authz_type *t;
	const struct authz_rel *rel;
	if (authz_q_object(&q, object, relation, &obj, &t, &rel) < 0)
		goto out;
	const struct authz_type *ft =
		filter_type ? authz_model_type(q.m, filter_type, strlen(filter_type)) : NULL;
	if (!ft) {
		bw_err_set(err, 400, "authz", "validation_error", "type '%.60s' not found",
			   filter_type ? filter_type : "");
		goto out;
	}
	l.ftype = ft->sym;
	if (filter_rel && *filter_rel) {
		const struct authz_rel *fr = authz_type_rel(ft, filter_rel, strlen(filter_rel));
		if (!fr) {
			bw_err_set(err, 400, "authz", "validation_error",
				   "relation '%s#%.50s' not found", ft->name, filter_rel);
			goto out;
		}
		l.frel = fr->sym;
	}
	if (t->sym == l.ftype && rel->sym == l.frel && add_cand(&l, obj, rel->sym) < 0)
		goto oom;
	if (push(&l.w, obj, rel->sym) < 0)
		goto oom;
	for (; l.w.head < l.w.n && !l.w.over; l.w.head++) {
		uint32_t o = (uint32_t)(l.w.queue[l.w.head] >> 32), rs = (uint32_t)l.w.queue[l.w.head];
		const struct authz_type *ot = authz_type_by_sym(q.m, authz_qsym_type(&q, o));
		const struct authz_rel *orl = ot ? authz_rel_by_sym(ot, rs) : NULL;
		if (orl && lu_rw(&l, o, ot, orl, orl->rw) < 0)
			goto oom;
	}
	if (l.w.over) {
		bw_err_set(err, 400, "authz", "resolution_too_complex",
			   "list-users visited more than %zu nodes", l.w.budget);
		goto out;
	}
	for (size_t i = 0; i < l.ncv && res.n < res.max; i++) {
		uint32_t uo = (uint32_t)(l.cv[i] >> 32), ur = (uint32_t)l.cv[i];
		if ((i & 63) == 0 && past_deadline(&q))
			break;
		if (authz_q_set_user(&q, uo, ur) < 0)
			goto oom;
		int r = authz_q_dispatch(&q, obj, rel->sym, 0);
		if ((r & 3) == AUTHZ_R_ERR) {
			if (skip_error(&q))
				continue;
			goto out;
		}
		if ((r & 3) != AUTHZ_R_TRUE)
			continue;
		struct bw_str us = authz_qsym_str(&q, uo);
		char buf[AUTHZ_USER_MAX + AUTHZ_RELATION_NAME_MAX + 2];
		size_t len = us.len < AUTHZ_USER_MAX ? us.len : AUTHZ_USER_MAX;
		memcpy(buf, us.p, len);
		if (ur) {
			struct bw_str rr = authz_qsym_str(&q, ur);
			buf[len++] = '#';
			memcpy(buf + len, rr.p, rr.len);
			len += rr.len;
		}
		if (add_result(&q, &res, buf, len) < 0)
			goto oom;
	}
	if (hand_out(&res, a, users, n) < 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	bw_err_set(err, 500, "authz", "memory", "out of memory");
out:
	walk_fini(&l.w);
	authz_hmap_fini(&l.cand);
	free(l.cv);
	authz_q_close(&q);
	return rc;
}
