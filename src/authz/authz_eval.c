/*
 * Query evaluation: tuple syntax and validation, the per-request query
 * context, condition evaluation, Check (with request memoisation, cycle
 * cutting, a depth limit and the cross-request result cache) and Expand.
 *
 * Check semantics follow OpenFGA:
 *  - direct relationship: a stored or contextual tuple object#relation@user
 *    allowed by the model's type restrictions (tuples the current model no
 *    longer allows are ignored), whose condition (if any) holds; `type:*`
 *    matches every object of that type, never a userset; a userset tuple
 *    object#relation@group:x#member recurses into group:x#member;
 *  - computed userset, tuple-to-userset, union (any), intersection (all),
 *    exclusion (base and not subtract);
 *  - a userset is always related to itself (group:x#member has member on
 *    group:x), before the model is consulted;
 *  - a cycle is cut: the repeated sub-problem counts as false on that path;
 *  - more than resolve_depth nested dispatches is an error
 *    ("resolution_too_complex"), as is more than resolve_breadth
 *    sub-problems in one request;
 *  - a condition needing a parameter that neither the tuple's context nor
 *    the request's supplies is an error unless another path decides: union
 *    is true if any branch is true, intersection false if any is false.
 *    The tuple's context wins over the request's for the same parameter.
 *
 * Invariants: the store lock is held shared from authz_q_open to
 * authz_q_close; nothing here writes to the store; every sub-problem
 * counts against the breadth budget, so a request's work is bounded.
 */
#include "authz/authz_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- syntax */

static bool id_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || c == ':' || c == '#')
			return false;
	}
	return true;
}

bool authz_parse_object(const char *s, size_t len, size_t *colon)
{
	const char *c = memchr(s, ':', len);
	if (!c || len > AUTHZ_OBJECT_MAX)
		return false;
	size_t tl = (size_t)(c - s);
	*colon = tl;
	if (!authz_valid_type_name(s, tl) || !id_ok(c + 1, len - tl - 1))
		return false;
	return !(len - tl - 1 == 1 && c[1] == '*');
}

bool authz_parse_user(const char *s, size_t len, size_t *colon, size_t *hash, bool *wildcard)
{
	if (len > AUTHZ_USER_MAX)
		return false;
	const char *c = memchr(s, ':', len);
	if (!c)
		return false;
	size_t tl = (size_t)(c - s);
	*colon = tl;
	*wildcard = false;
	if (!authz_valid_type_name(s, tl))
		return false;
	const char *h = memchr(c + 1, '#', len - tl - 1);
	if (h) {
		*hash = (size_t)(h - s);
		return id_ok(c + 1, (size_t)(h - c - 1)) && !(h - c - 1 == 1 && c[1] == '*') &&
		       authz_valid_rel_name(h + 1, len - *hash - 1);
	}
	*hash = len;
	if (len - tl - 1 == 1 && c[1] == '*') {
		*wildcard = true;
		return true;
	}
	return id_ok(c + 1, len - tl - 1);
}

/* --------------------------------------------------------- validation */

static int tuple_err(struct bw_err *err, const struct authz_tuple *t, const char *fmt, ...)
	BW_PRINTF(3, 4);
static int tuple_err(struct bw_err *err, const struct authz_tuple *t, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return bw_err_set(err, 400, "authz", "validation_error",
			  "invalid tuple '%.80s#%.50s@%.80s': %s", t->object ? t->object : "",
			  t->relation ? t->relation : "", t->user ? t->user : "", why);
}

int authz_tuple_validate(const struct authz_model *m, const struct authz_tuple *t,
			 struct bw_err *err)
{
	if (!t->object || !t->relation || !t->user)
		return tuple_err(err, t, "object, relation and user are required");
	size_t ol = strlen(t->object), rl = strlen(t->relation), ul = strlen(t->user);
	size_t oc, uc, uh;
	bool wild;
	if (!authz_parse_object(t->object, ol, &oc))
		return tuple_err(err, t, "the object must be 'type:id'");
	if (!authz_valid_rel_name(t->relation, rl))
		return tuple_err(err, t, "invalid relation name");
	if (!authz_parse_user(t->user, ul, &uc, &uh, &wild))
		return tuple_err(err, t, "the user must be 'type:id', 'type:*' or 'type:id#relation'");
	const struct authz_type *ot = authz_model_type(m, t->object, oc);
	if (!ot)
		return tuple_err(err, t, "type '%.*s' not found", (int)oc, t->object);
	const struct authz_rel *rel = authz_type_rel(ot, t->relation, rl);
	if (!rel)
		return tuple_err(err, t, "relation '%s#%s' not found", ot->name, t->relation);
	const struct authz_type *ut = authz_model_type(m, t->user, uc);
	if (!ut)
		return tuple_err(err, t, "type '%.*s' not found", (int)uc, t->user);
	const char *urel = uh < ul ? t->user + uh + 1 : NULL;
	if (urel && !authz_type_rel(ut, urel, ul - uh - 1))
		return tuple_err(err, t, "relation '%s#%s' not found", ut->name, urel);
	const char *cn = t->cond_name && *t->cond_name ? t->cond_name : NULL;
	bool type_ok = false;
	for (size_t i = 0; i < rel->ndt; i++) {
		const struct authz_restr *d = &rel->dt[i];
		if (strcmp(d->type, ut->name) != 0 || d->wildcard != wild ||
		    (!d->rel != !urel) || (urel && strcmp(d->rel, urel) != 0))
			continue;
		type_ok = true;
		if (!d->cond == !cn && (!cn || strcmp(d->cond, cn) == 0))
			goto cond;
	}
	if (!rel->ndt)
		return tuple_err(err, t, "relation '%s#%s' is not directly assignable", ot->name,
				 rel->name);
	if (type_ok)
		return tuple_err(err, t, cn ? "condition '%s' is not allowed for this type restriction" :
					       "a condition is required for this type restriction%s",
				 cn ? cn : "");
	return tuple_err(err, t, "type '%.*s%s%s' is not an allowed type restriction for '%s#%s'",
			 (int)uc, t->user, wild ? ":*" : urel ? "#" : "", urel ? urel : "",
			 ot->name, rel->name);
cond:
	if (!cn) {
		if (t->cond_context)
			return tuple_err(err, t, "a context needs a condition");
		return 0;
	}
	int ci = authz_model_cond_idx(m, cn, strlen(cn));
	if (ci < 0)
		return tuple_err(err, t, "condition '%s' not found", cn);
	const struct json_value *ctx = t->cond_context;
	if (!ctx || ctx->type == JSON_NULL)
		return 0;
	if (ctx->type != JSON_OBJECT)
		return tuple_err(err, t, "the condition context must be an object");
	const struct authz_cond *c = &m->conds[ci];
	struct bw_arena *a = bw_arena_new(4096, AUTHZ_CONTEXT_MAX_BYTES * 16);
	if (!a)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	int rc = 0;
	for (size_t i = 0; i < ctx->u.obj.n && rc == 0; i++) {
		struct bw_str k = ctx->u.obj.members[i].key;
		size_t p = 0;
		while (p < c->nparams && !bw_str_eq_lit(k, c->params[p].name))
			p++;
		if (p == c->nparams) {
			rc = tuple_err(err, t, "'%.*s' is not a parameter of condition '%s'",
				       (int)(k.len > 50 ? 50 : k.len), k.p, cn);
			break;
		}
		struct cel_value v;
		struct bw_err cerr;
		if (authz_cel_from_json(a, ctx->u.obj.members[i].value, c->params[p].type, &v,
					&cerr) < 0)
			rc = tuple_err(err, t, "context parameter '%s': %s", c->params[p].name,
				       cerr.msg);
	}
	bw_arena_free(a);
	return rc;
}

/* ------------------------------------------------------------ symbols */

uint32_t authz_qsym(struct authz_q *q, const char *s, size_t len)
{
	uint32_t g = authz_sym_find(&q->s->syms, s, len);
	if (g)
		return g;
	for (uint32_t i = 0; i < q->nls; i++)
		if (q->ls[i].len == len && memcmp(q->ls[i].s, s, len) == 0)
			return AUTHZ_SYM_LOCAL | i;
	uint32_t type = 0;
	const char *c = memchr(s, ':', len);
	if (c && !(type = authz_qsym(q, s, (size_t)(c - s))))
		return 0;
	if (q->nls == q->capls) {
		uint32_t nc = q->capls ? q->capls * 2 : 16;
		struct authz_qsym *n = bw_arena_alloc(q->a, nc * sizeof(*n));
		if (!n)
			return 0;
		if (q->nls)
			memcpy(n, q->ls, q->nls * sizeof(*n));
		q->ls = n;
		q->capls = nc;
	}
	char *copy = bw_arena_strndup(q->a, s, len);
	if (!copy)
		return 0;
	q->ls[q->nls] = (struct authz_qsym){ copy, (uint32_t)len, type,
					     c && (size_t)(c - s) + 2 == len && c[1] == '*' };
	return AUTHZ_SYM_LOCAL | q->nls++;
}

uint32_t authz_qsym_type(const struct authz_q *q, uint32_t sym)
{
	return sym & AUTHZ_SYM_LOCAL ? q->ls[sym & ~AUTHZ_SYM_LOCAL].type :
				       q->s->syms.syms[sym].type;
}

bool authz_qsym_wild(const struct authz_q *q, uint32_t sym)
{
	return sym & AUTHZ_SYM_LOCAL ? q->ls[sym & ~AUTHZ_SYM_LOCAL].wildcard :
				       q->s->syms.syms[sym].wildcard;
}

struct bw_str authz_qsym_str(const struct authz_q *q, uint32_t sym)
{
	if (sym & AUTHZ_SYM_LOCAL) {
		const struct authz_qsym *y = &q->ls[sym & ~AUTHZ_SYM_LOCAL];
		return bw_str_make(y->s, y->len);
	}
	const struct authz_sym *y = &q->s->syms.syms[sym];
	return bw_str_make(y->s, y->len);
}

int authz_q_fail(struct authz_q *q, int code, const char *reason, const char *fmt, ...)
{
	if (!q->failed) {
		q->failed = true;
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		bw_err_set(q->err, code, "authz", reason, "%s", msg);
	}
	return AUTHZ_R_ERR;
}

/* ------------------------------------------------------- query context */

int authz_q_open(struct authz_q *q, struct authz_engine *e, const struct authz_query *qr,
		 struct bw_err *err)
{
	memset(q, 0, sizeof(*q));
	q->e = e;
	q->err = err;
	q->max_depth = e->o.resolve_depth;
	q->max_steps = e->o.resolve_breadth;
	if (!qr->tenant || !qr->store_id)
		return bw_err_set(err, 400, "authz", "validation_error", "store id required");
	if (qr->context && qr->context->type != JSON_OBJECT && qr->context->type != JSON_NULL)
		return bw_err_set(err, 400, "authz", "validation_error", "context must be an object");
	if (qr->ncontextual > AUTHZ_CONTEXTUAL_MAX)
		return bw_err_set(err, 400, "authz", "validation_error",
				  "more than %d contextual tuples", AUTHZ_CONTEXTUAL_MAX);
	q->context = qr->context && qr->context->type == JSON_OBJECT ? qr->context : NULL;
	q->a = bw_arena_new(8192, AUTHZ_QUERY_ARENA_MAX);
	if (!q->a)
		return bw_err_set(err, 500, "authz", "memory", "out of memory");
	q->s = authz_store_acquire(e, qr->tenant, qr->store_id, false, err);
	if (!q->s)
		goto fail;
	q->m = authz_store_model(q->s, qr->model_id, err);
	if (!q->m)
		goto fail;
	if (qr->ncontextual) {
		q->ct = bw_arena_zalloc(q->a, qr->ncontextual * sizeof(*q->ct));
		if (!q->ct)
			goto oom;
	}
	for (size_t i = 0; i < qr->ncontextual; i++) {
		const struct authz_tuple *t = &qr->contextual[i];
		if (authz_tuple_validate(q->m, t, err) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			const struct authz_tuple *o = &qr->contextual[j];
			if (strcmp(o->object, t->object) == 0 && strcmp(o->relation, t->relation) == 0 &&
			    strcmp(o->user, t->user) == 0) {
				bw_err_set(err, 400, "authz", "validation_error",
					   "duplicate contextual tuple '%.80s#%.50s@%.80s'", t->object,
					   t->relation, t->user);
				goto fail;
			}
		}
		struct authz_ctup *c = &q->ct[q->nct];
		const char *h = strchr(t->user, '#');
		size_t ul = h ? (size_t)(h - t->user) : strlen(t->user);
		c->obj = authz_qsym(q, t->object, strlen(t->object));
		c->rel = authz_qsym(q, t->relation, strlen(t->relation));
		c->uobj = authz_qsym(q, t->user, ul);
		c->urel = h ? authz_qsym(q, h + 1, strlen(h + 1)) : 0;
		if (t->cond_name && *t->cond_name) {
			c->cond = authz_qsym(q, t->cond_name, strlen(t->cond_name));
			if (!c->cond)
				goto oom;
			c->ctx = t->cond_context && t->cond_context->type == JSON_OBJECT ?
					 t->cond_context : NULL;
		}
		if (!c->obj || !c->rel || !c->uobj || (h && !c->urel))
			goto oom;
		q->nct++;
	}
	return 0;
oom:
	bw_err_set(err, 500, "authz", "memory", "out of memory");
fail:
	authz_q_close(q);
	return -1;
}

void authz_q_close(struct authz_q *q)
{
	if (q->s)
		authz_store_release(q->e, q->s, false);
	q->s = NULL;
	authz_hmap_fini(&q->memo);
	authz_hmap_fini(&q->condmemo);
	bw_arena_free(q->a);
	q->a = NULL;
}

int authz_q_set_user(struct authz_q *q, uint32_t uobj, uint32_t urel)
{
	q->uobj = uobj;
	q->urel = urel;
	q->uwild = 0;
	authz_hmap_fini(&q->memo);
	if (!urel && !authz_qsym_wild(q, uobj)) {
		/* the wildcard of the user's type: "type:*" */
		struct bw_str t = authz_qsym_str(q, authz_qsym_type(q, uobj));
		char buf[AUTHZ_TYPE_NAME_MAX + 3];
		memcpy(buf, t.p, t.len);
		buf[t.len] = ':';
		buf[t.len + 1] = '*';
		q->uwild = authz_sym_find(&q->s->syms, buf, t.len + 2);
		if (!q->uwild)
			for (size_t i = 0; i < q->nct && !q->uwild; i++)
				if (authz_qsym_wild(q, q->ct[i].uobj) &&
				    authz_qsym_type(q, q->ct[i].uobj) == authz_qsym_type(q, uobj))
					q->uwild = q->ct[i].uobj;
	}
	return 0;
}

int authz_q_user(struct authz_q *q, const char *user, uint32_t *uobj, uint32_t *urel)
{
	size_t len = user ? strlen(user) : 0, c, h;
	bool wild;
	if (!user || !authz_parse_user(user, len, &c, &h, &wild))
		return bw_err_set(q->err, 400, "authz", "validation_error",
				  "invalid user '%.80s': want 'type:id', 'type:*' or 'type:id#relation'",
				  user ? user : "");
	const struct authz_type *t = authz_model_type(q->m, user, c);
	if (!t)
		return bw_err_set(q->err, 400, "authz", "validation_error",
				  "type '%.*s' not found", (int)c, user);
	*urel = 0;
	if (h < len) {
		const struct authz_rel *r = authz_type_rel(t, user + h + 1, len - h - 1);
		if (!r)
			return bw_err_set(q->err, 400, "authz", "validation_error",
					  "relation '%s#%s' not found", t->name, user + h + 1);
		*urel = r->sym;
	}
	*uobj = authz_qsym(q, user, h);
	if (!*uobj)
		return bw_err_set(q->err, 500, "authz", "memory", "out of memory");
	return 0;
}

int authz_q_object(struct authz_q *q, const char *object, const char *relation, uint32_t *obj,
		   const struct authz_type **tp, const struct authz_rel **relp)
{
	size_t len = object ? strlen(object) : 0, c;
	if (!object || !authz_parse_object(object, len, &c))
		return bw_err_set(q->err, 400, "authz", "validation_error",
				  "invalid object '%.80s': want 'type:id'", object ? object : "");
	const struct authz_type *t = authz_model_type(q->m, object, c);
	if (!t)
		return bw_err_set(q->err, 400, "authz", "validation_error",
				  "type '%.*s' not found", (int)c, object);
	const struct authz_rel *r =
		relation ? authz_type_rel(t, relation, strlen(relation)) : NULL;
	if (!r)
		return bw_err_set(q->err, 400, "authz", "validation_error",
				  "relation '%s#%s' not found", t->name, relation ? relation : "");
	*obj = authz_qsym(q, object, len);
	if (!*obj)
		return bw_err_set(q->err, 500, "authz", "memory", "out of memory");
	*tp = t;
	*relp = r;
	return 0;
}

/* ------------------------------------------------------------ conditions */

bool authz_q_allowed(const struct authz_q *q, const struct authz_rel *rel, uint32_t uobj,
		     uint32_t urel, uint32_t cond)
{
	uint32_t ut = authz_qsym_type(q, uobj);
	bool wild = authz_qsym_wild(q, uobj);
	for (size_t i = 0; i < rel->ndt; i++) {
		const struct authz_restr *d = &rel->dt[i];
		if (d->type_sym != ut)
			continue;
		if (wild ? !d->wildcard : urel ? d->rel_sym != urel : (d->rel || d->wildcard))
			continue;
		uint32_t dc = d->cond ? q->m->conds[d->cond_idx].sym : 0;
		if (dc == cond)
			return true;
	}
	return false;
}

static const struct authz_cond *cond_by_sym(const struct authz_model *m, uint32_t sym)
{
	for (size_t i = 0; i < m->nconds; i++)
		if (m->conds[i].sym == sym)
			return &m->conds[i];
	return NULL;
}

/* Evaluates condition `name` with the tuple's context over the request's. */
static int eval_cond(struct authz_q *q, uint32_t name, const struct json_value *tctx)
{
	const struct authz_cond *c = cond_by_sym(q->m, name);
	if (!c) {
		struct bw_str n = authz_qsym_str(q, name);
		return authz_q_fail(q, 400, "condition_error", "condition '%.*s' was not found",
				    (int)n.len, n.p);
	}
	struct cel_value args[AUTHZ_MODEL_MAX_PARAMS];
	for (size_t i = 0; i < c->nparams; i++) {
		const struct json_value *v = tctx ? json_get(tctx, c->params[i].name) : NULL;
		if (!v && q->context)
			v = json_get(q->context, c->params[i].name);
		if (!v) {
			args[i].t = CEL_T_UNKNOWN;
			continue;
		}
		struct bw_err cerr;
		if (authz_cel_from_json(q->a, v, c->params[i].type, &args[i], &cerr) < 0)
			return authz_q_fail(q, 400, "bad_context",
					    "failed to evaluate relationship condition '%s': parameter '%s': %s",
					    c->name, c->params[i].name, cerr.msg);
	}
	char msg[96];
	switch (authz_cel_eval(c->prog, args, q->a, msg, sizeof(msg))) {
	case CEL_TRUE:
		return AUTHZ_R_TRUE;
	case CEL_FALSE:
		return AUTHZ_R_FALSE;
	case CEL_MISSING: {
		char missing[128] = "";
		size_t n = 0;
		for (size_t i = 0; i < c->nparams; i++)
			if (args[i].t == CEL_T_UNKNOWN && n + strlen(c->params[i].name) + 3 < sizeof(missing))
				n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s",
						      n ? ", " : "", c->params[i].name);
		return authz_q_fail(q, 400, "missing_context",
				    "failed to evaluate relationship condition '%s': context is missing parameters [%s]",
				    c->name, missing);
	}
	default:
		return authz_q_fail(q, 400, "condition_error",
				    "failed to evaluate relationship condition '%s': %s", c->name, msg);
	}
}

/* Condition of a stored tuple, memoised per condition entry. */
static int stored_cond(struct authz_q *q, uint32_t ci)
{
	if (!ci)
		return AUTHZ_R_TRUE;
	uint32_t have = authz_hmap_get(&q->condmemo, ci, 0);
	if (have)
		return (int)have - 1;
	const struct authz_tcond *c = &q->s->ts.conds[ci];
	int r = eval_cond(q, c->name, c->ctx);
	if (r != AUTHZ_R_ERR && authz_hmap_put(&q->condmemo, ci, 0, (uint32_t)r + 1) < 0)
		return authz_q_fail(q, 500, "memory", "out of memory");
	return r;
}

/* ----------------------------------------------------------------- check */

static int eval_rw(struct authz_q *q, uint32_t obj, const struct authz_type *t,
		   const struct authz_rel *rel, const struct authz_rw *rw, unsigned depth);

/* Combines a child's result into a union / intersection accumulator. */
static inline int combine(int acc, int r, bool is_union, bool *decided)
{
	int taint = (acc | r) & AUTHZ_R_TAINT;
	int a = acc & 3, b = r & 3;
	if (is_union && b == AUTHZ_R_TRUE) {
		*decided = true;
		return AUTHZ_R_TRUE | taint;
	}
	if (!is_union && b == AUTHZ_R_FALSE) {
		*decided = true;
		return AUTHZ_R_FALSE | taint;
	}
	if (b == AUTHZ_R_ERR || a == AUTHZ_R_ERR)
		return AUTHZ_R_ERR | taint;
	return a | taint;
}

static int eval_direct(struct authz_q *q, uint32_t obj, const struct authz_rel *rel,
		       unsigned depth)
{
	const struct authz_tupset *ts = &q->s->ts;
	bool stored = !(obj & AUTHZ_SYM_LOCAL) && !(rel->sym & AUTHZ_SYM_LOCAL);
	int acc = AUTHZ_R_FALSE;
	bool decided = false;
	/* exact tuple, then the user type's wildcard */
	uint32_t cands[2] = { q->uobj, q->uwild };
	for (int i = 0; i < 2 && stored; i++) {
		if (!cands[i] || (i == 1 && q->urel) || (cands[i] & AUTHZ_SYM_LOCAL))
			continue;
		uint32_t urel = i ? 0 : q->urel;
		uint32_t x = authz_hmap_get(&ts->exact, authz_k2(obj, rel->sym), authz_k2(cands[i], urel));
		if (!x)
			continue;
		const struct authz_tup *tp = &ts->t[x - 1];
		uint32_t cname = tp->cond ? ts->conds[tp->cond].name : 0;
		if (!authz_q_allowed(q, rel, tp->uobj, tp->urel, cname))
			continue;
		acc = combine(acc, stored_cond(q, tp->cond), true, &decided);
		if (decided)
			return acc;
	}
	for (size_t i = 0; i < q->nct; i++) {
		const struct authz_ctup *c = &q->ct[i];
		if (c->obj != obj || c->rel != rel->sym)
			continue;
		bool match = (c->uobj == q->uobj && c->urel == q->urel) ||
			     (!c->urel && q->uwild && c->uobj == q->uwild && !q->urel);
		if (!match || !authz_q_allowed(q, rel, c->uobj, c->urel, c->cond))
			continue;
		acc = combine(acc, c->cond ? eval_cond(q, c->cond, c->ctx) : AUTHZ_R_TRUE, true,
			      &decided);
		if (decided)
			return acc;
	}
	/* usersets: recurse into each userset the relation holds */
	if (stored) {
		const struct authz_vec *v =
			authz_tupset_vec(ts, authz_hmap_get(&ts->by_obj, authz_k2(obj, rel->sym), 1));
		for (uint32_t i = 0; v && i < v->n; i++) {
			const struct authz_tup *tp = &ts->t[v->v[i]];
			if (tp->uobj == q->uobj && tp->urel == q->urel)
				continue; /* the exact lookup had it */
			uint32_t cname = tp->cond ? ts->conds[tp->cond].name : 0;
			if (!authz_q_allowed(q, rel, tp->uobj, tp->urel, cname))
				continue;
			int cr = stored_cond(q, tp->cond);
			if ((cr & 3) == AUTHZ_R_FALSE)
				continue;
			/* a failed condition matters only if the path would grant */
			int r = authz_q_dispatch(q, tp->uobj, tp->urel, depth + 1);
			if ((cr & 3) == AUTHZ_R_ERR && (r & 3) == AUTHZ_R_TRUE)
				r = AUTHZ_R_ERR | (r & AUTHZ_R_TAINT);
			acc = combine(acc, r, true, &decided);
			if (decided)
				return acc;
		}
	}
	for (size_t i = 0; i < q->nct; i++) {
		const struct authz_ctup *c = &q->ct[i];
		if (c->obj != obj || c->rel != rel->sym || !c->urel ||
		    (c->uobj == q->uobj && c->urel == q->urel))
			continue;
		if (!authz_q_allowed(q, rel, c->uobj, c->urel, c->cond))
			continue;
		int cr = c->cond ? eval_cond(q, c->cond, c->ctx) : AUTHZ_R_TRUE;
		if ((cr & 3) == AUTHZ_R_FALSE)
			continue;
		int r = authz_q_dispatch(q, c->uobj, c->urel, depth + 1);
		if ((cr & 3) == AUTHZ_R_ERR && (r & 3) == AUTHZ_R_TRUE)
			r = AUTHZ_R_ERR | (r & AUTHZ_R_TAINT);
		acc = combine(acc, r, true, &decided);
		if (decided)
			return acc;
	}
	return acc;
}

static int eval_ttu(struct authz_q *q, uint32_t obj, const struct authz_type *t,
		    const struct authz_rw *rw, unsigned depth)
{
	const struct authz_tupset *ts = &q->s->ts;
	const struct authz_rel *tsr = &t->rels[rw->ts_idx];
	int acc = AUTHZ_R_FALSE;
	bool decided = false;
	const struct authz_vec *v = NULL;
	if (!(obj & AUTHZ_SYM_LOCAL))
		v = authz_tupset_vec(ts, authz_hmap_get(&ts->by_obj, authz_k2(obj, tsr->sym), 0));
	size_t n = v ? v->n : 0;
	for (size_t i = 0; i < n + q->nct; i++) {
		uint32_t parent, urel, cname;
		int cr;
		if (i < n) {
			const struct authz_tup *tp = &ts->t[v->v[i]];
			parent = tp->uobj;
			urel = tp->urel;
			cname = tp->cond ? ts->conds[tp->cond].name : 0;
			if (!authz_q_allowed(q, tsr, parent, urel, cname))
				continue;
			cr = stored_cond(q, tp->cond);
		} else {
			const struct authz_ctup *c = &q->ct[i - n];
			if (c->obj != obj || c->rel != tsr->sym || c->urel)
				continue;
			parent = c->uobj;
			if (!authz_q_allowed(q, tsr, parent, 0, c->cond))
				continue;
			cr = c->cond ? eval_cond(q, c->cond, c->ctx) : AUTHZ_R_TRUE;
		}
		if ((cr & 3) == AUTHZ_R_FALSE)
			continue;
		/* the computed relation must exist on the parent's type */
		const struct authz_type *pt = authz_type_by_sym(q->m, authz_qsym_type(q, parent));
		if (!pt || !authz_rel_by_sym(pt, rw->rel_sym))
			continue;
		int r = authz_q_dispatch(q, parent, rw->rel_sym, depth + 1);
		if ((cr & 3) == AUTHZ_R_ERR && (r & 3) == AUTHZ_R_TRUE)
			r = AUTHZ_R_ERR | (r & AUTHZ_R_TAINT);
		acc = combine(acc, r, true, &decided);
		if (decided)
			return acc;
	}
	return acc;
}

static int eval_rw(struct authz_q *q, uint32_t obj, const struct authz_type *t,
		   const struct authz_rel *rel, const struct authz_rw *rw, unsigned depth)
{
	switch (rw->kind) {
	case AUTHZ_RW_THIS:
		return eval_direct(q, obj, rel, depth);
	case AUTHZ_RW_COMPUTED:
		return authz_q_dispatch(q, obj, t->rels[rw->rel_idx].sym, depth + 1);
	case AUTHZ_RW_TTU:
		return eval_ttu(q, obj, t, rw, depth);
	case AUTHZ_RW_UNION:
	case AUTHZ_RW_INTER: {
		bool is_union = rw->kind == AUTHZ_RW_UNION, decided = false;
		int acc = is_union ? AUTHZ_R_FALSE : AUTHZ_R_TRUE;
		for (size_t i = 0; i < rw->n; i++) {
			acc = combine(acc, eval_rw(q, obj, t, rel, rw->child[i], depth), is_union,
				      &decided);
			if (decided)
				break;
		}
		return acc;
	}
	case AUTHZ_RW_DIFF: {
		int b = eval_rw(q, obj, t, rel, rw->child[0], depth);
		if ((b & 3) == AUTHZ_R_FALSE)
			return b;
		int s = eval_rw(q, obj, t, rel, rw->child[1], depth);
		int taint = (b | s) & AUTHZ_R_TAINT;
		if ((s & 3) == AUTHZ_R_TRUE)
			return AUTHZ_R_FALSE | taint;
		if ((s & 3) == AUTHZ_R_ERR || (b & 3) == AUTHZ_R_ERR)
			return AUTHZ_R_ERR | taint;
		return AUTHZ_R_TRUE | taint;
	}
	}
	return authz_q_fail(q, 500, "internal", "unknown rewrite");
}

#define MEMO_BUSY 8u /* value+1 stored for a sub-problem being evaluated */

int authz_q_dispatch(struct authz_q *q, uint32_t obj, uint32_t relsym, unsigned depth)
{
	/* a userset is related to itself */
	if (obj == q->uobj && relsym == q->urel)
		return AUTHZ_R_TRUE;
	if (depth > q->max_depth)
		return authz_q_fail(q, 400, "resolution_too_complex",
				    "authorization model resolution exceeded the depth limit of %u",
				    q->max_depth);
	if (++q->steps > q->max_steps)
		return authz_q_fail(q, 400, "resolution_too_complex",
				    "authorization model resolution exceeded %zu sub-problems",
				    q->max_steps);
	uint32_t have = authz_hmap_get(&q->memo, obj, relsym);
	if (have == MEMO_BUSY + 1)
		return AUTHZ_R_FALSE | AUTHZ_R_TAINT; /* a cycle: cut it here */
	if (have)
		return (int)have - 1;
	const struct authz_type *t = authz_type_by_sym(q->m, authz_qsym_type(q, obj));
	const struct authz_rel *rel = t ? authz_rel_by_sym(t, relsym) : NULL;
	if (!rel)
		return AUTHZ_R_FALSE; /* e.g. a userset on a type the model dropped */
	if (authz_hmap_put(&q->memo, obj, relsym, MEMO_BUSY + 1) < 0)
		return authz_q_fail(q, 500, "memory", "out of memory");
	int r = eval_rw(q, obj, t, rel, rel->rw, depth);
	if ((r & AUTHZ_R_TAINT) || (r & 3) == AUTHZ_R_ERR)
		authz_hmap_del(&q->memo, obj, relsym);
	else if (authz_hmap_put(&q->memo, obj, relsym, (uint32_t)r + 1) < 0)
		return authz_q_fail(q, 500, "memory", "out of memory");
	return r;
}

/* ---------------------------------------------------------------- cache */

/*
 * Check results keyed by a 128-bit hash of (store instance, model, object,
 * relation, user, context) and stamped with the store's revision: an entry
 * answers only while the store is at that revision, so any write
 * invalidates the store's entries at once. Sharded, each shard a small
 * direct-mapped table under its own mutex.
 */
#define CACHE_SHARDS 64

struct centry {
	uint64_t k1, k2, rev;
	uint8_t allowed, valid;
};

struct cshard {
	pthread_mutex_t mu;
	struct centry *e;
	size_t n;
};

struct authz_cache {
	struct cshard sh[CACHE_SHARDS];
};

struct authz_cache *authz_cache_new(size_t entries);
void authz_cache_free(struct authz_cache *c);

struct authz_cache *authz_cache_new(size_t entries)
{
	struct authz_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	size_t per = entries / CACHE_SHARDS ? entries / CACHE_SHARDS : 1;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		pthread_mutex_init(&c->sh[i].mu, NULL);
		c->sh[i].e = calloc(per, sizeof(struct centry));
		c->sh[i].n = per;
		if (!c->sh[i].e) {
			authz_cache_free(c);
			return NULL;
		}
	}
	return c;
}

void authz_cache_free(struct authz_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		free(c->sh[i].e);
		pthread_mutex_destroy(&c->sh[i].mu);
	}
	free(c);
}

static inline uint64_t fmix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0x7fb5d329728ea185ULL;
	h ^= h >> 27;
	return h;
}

static bool cache_get(struct authz_cache *c, uint64_t k1, uint64_t k2, uint64_t rev,
		      bool *allowed)
{
	struct cshard *s = &c->sh[k1 % CACHE_SHARDS];
	struct centry *e = &s->e[(k1 / CACHE_SHARDS) % s->n];
	bool hit = false;
	pthread_mutex_lock(&s->mu);
	if (e->valid && e->k1 == k1 && e->k2 == k2 && e->rev == rev) {
		*allowed = e->allowed;
		hit = true;
	}
	pthread_mutex_unlock(&s->mu);
	return hit;
}

static void cache_put(struct authz_cache *c, uint64_t k1, uint64_t k2, uint64_t rev, bool allowed)
{
	struct cshard *s = &c->sh[k1 % CACHE_SHARDS];
	struct centry *e = &s->e[(k1 / CACHE_SHARDS) % s->n];
	pthread_mutex_lock(&s->mu);
	*e = (struct centry){ k1, k2, rev, allowed, 1 };
	pthread_mutex_unlock(&s->mu);
}

/* Hash of the request context in canonical form (0 when absent). */
static int context_hash(const struct json_value *ctx, uint64_t *h)
{
	*h = 0;
	if (!ctx || ctx->u.obj.n == 0)
		return 0;
	struct bw_buf b;
	bw_buf_init(&b, AUTHZ_CONTEXT_MAX_BYTES);
	int rc = json_canonicalize(ctx, &b);
	if (rc == 0)
		*h = (uint64_t)authz_sym_hash(b.data, b.len) << 32 |
		     authz_sym_hash(b.data, b.len / 2);
	bw_buf_fini(&b);
	return rc;
}

int authz_check(struct authz_engine *e, const struct authz_query *qr, const char *user,
		const char *relation, const char *object, bool *allowed, struct bw_err *err)
{
	struct authz_q q;
	*allowed = false;
	if (authz_q_open(&q, e, qr, err) < 0)
		return -1;
	int rc = -1;
	uint32_t obj, uobj, urel;
	const struct authz_type *t;
	const struct authz_rel *rel;
	if (authz_q_object(&q, object, relation, &obj, &t, &rel) < 0 ||
	    authz_q_user(&q, user, &uobj, &urel) < 0 || authz_q_set_user(&q, uobj, urel) < 0)
		goto out;
	atomic_fetch_add_explicit(&e->n_checks, 1, memory_order_relaxed);
	bool cacheable = e->cache && q.nct == 0 && !(obj & AUTHZ_SYM_LOCAL) &&
			 !(uobj & AUTHZ_SYM_LOCAL);
	uint64_t k1 = 0, k2 = 0, rev = 0, ch = 0;
	if (cacheable && context_hash(q.context, &ch) < 0)
		cacheable = false;
	if (cacheable) {
		rev = atomic_load_explicit(&q.s->revision, memory_order_acquire);
		uint64_t mp = (uint64_t)(uintptr_t)q.m;
		k1 = fmix(fmix(fmix(fmix(fmix(1, q.s->tag), mp), obj), rel->sym), uobj);
		k2 = fmix(fmix(fmix(fmix(fmix(2, urel), ch), obj ^ mp), uobj), q.s->tag);
		if (qr->consistency != AUTHZ_CONSISTENCY_HIGHER &&
		    cache_get(e->cache, k1, k2, rev, allowed)) {
			atomic_fetch_add_explicit(&e->n_hits, 1, memory_order_relaxed);
			rc = 0;
			goto out;
		}
		atomic_fetch_add_explicit(&e->n_misses, 1, memory_order_relaxed);
	}
	int r = authz_q_dispatch(&q, obj, rel->sym, 0);
	if ((r & 3) == AUTHZ_R_ERR) {
		if (!q.failed)
			bw_err_set(err, 500, "authz", "internal", "evaluation failed");
		goto out;
	}
	*allowed = (r & 3) == AUTHZ_R_TRUE;
	if (cacheable)
		cache_put(e->cache, k1, k2, rev, *allowed);
	rc = 0;
out:
	authz_q_close(&q);
	return rc;
}

/* ---------------------------------------------------------------- expand */

static void write_user(struct json_writer *w, struct authz_q *q, uint32_t uobj, uint32_t urel)
{
	struct bw_str u = authz_qsym_str(q, uobj);
	char buf[AUTHZ_USER_MAX + AUTHZ_RELATION_NAME_MAX + 2];
	size_t n = u.len < AUTHZ_USER_MAX ? u.len : AUTHZ_USER_MAX;
	memcpy(buf, u.p, n);
	if (urel) {
		struct bw_str r = authz_qsym_str(q, urel);
		buf[n++] = '#';
		memcpy(buf + n, r.p, r.len);
		n += r.len;
	}
	json_write_stringn(w, buf, n);
}

static void write_userset(struct json_writer *w, const char *key, struct authz_q *q,
			  uint32_t obj, const char *rel)
{
	struct bw_str o = authz_qsym_str(q, obj);
	char buf[AUTHZ_OBJECT_MAX + AUTHZ_RELATION_NAME_MAX + 2];
	int n = snprintf(buf, sizeof(buf), "%.*s#%s", (int)o.len, o.p, rel);
	if (key)
		json_write_key(w, key);
	json_write_stringn(w, buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0);
}

static void expand_node(struct json_writer *w, struct authz_q *q, uint32_t obj,
			const struct authz_type *t, const struct authz_rel *rel,
			const struct authz_rw *rw)
{
	const struct authz_tupset *ts = &q->s->ts;
	json_write_object_begin(w);
	write_userset(w, "name", q, obj, rel->name);
	switch (rw->kind) {
	case AUTHZ_RW_THIS: {
		json_write_key(w, "leaf");
		json_write_object_begin(w);
		json_write_key(w, "users");
		json_write_object_begin(w);
		json_write_key(w, "users");
		json_write_array_begin(w);
		for (int us = 0; us < 2 && !(obj & AUTHZ_SYM_LOCAL); us++) {
			const struct authz_vec *v = authz_tupset_vec(
				ts, authz_hmap_get(&ts->by_obj, authz_k2(obj, rel->sym), (uint64_t)us));
			for (uint32_t i = 0; v && i < v->n; i++) {
				const struct authz_tup *tp = &ts->t[v->v[i]];
				uint32_t cname = tp->cond ? ts->conds[tp->cond].name : 0;
				if (authz_q_allowed(q, rel, tp->uobj, tp->urel, cname))
					write_user(w, q, tp->uobj, tp->urel);
			}
		}
		for (size_t i = 0; i < q->nct; i++) {
			const struct authz_ctup *c = &q->ct[i];
			if (c->obj == obj && c->rel == rel->sym &&
			    authz_q_allowed(q, rel, c->uobj, c->urel, c->cond))
				write_user(w, q, c->uobj, c->urel);
		}
		json_write_array_end(w);
		json_write_object_end(w);
		json_write_object_end(w);
		break;
	}
	case AUTHZ_RW_COMPUTED:
		json_write_key(w, "leaf");
		json_write_object_begin(w);
		json_write_key(w, "computed");
		json_write_object_begin(w);
		write_userset(w, "userset", q, obj, t->rels[rw->rel_idx].name);
		json_write_object_end(w);
		json_write_object_end(w);
		break;
	case AUTHZ_RW_TTU: {
		const struct authz_rel *tsr = &t->rels[rw->ts_idx];
		json_write_key(w, "leaf");
		json_write_object_begin(w);
		json_write_key(w, "tupleToUserset");
		json_write_object_begin(w);
		write_userset(w, "tupleset", q, obj, tsr->name);
		json_write_key(w, "computed");
		json_write_array_begin(w);
		const struct authz_vec *v = NULL;
		if (!(obj & AUTHZ_SYM_LOCAL))
			v = authz_tupset_vec(ts, authz_hmap_get(&ts->by_obj, authz_k2(obj, tsr->sym), 0));
		for (size_t i = 0; i < (v ? v->n : 0) + q->nct; i++) {
			uint32_t parent;
			if (v && i < v->n) {
				const struct authz_tup *tp = &ts->t[v->v[i]];
				uint32_t cname = tp->cond ? ts->conds[tp->cond].name : 0;
				if (!authz_q_allowed(q, tsr, tp->uobj, 0, cname))
					continue;
				parent = tp->uobj;
			} else {
				const struct authz_ctup *c = &q->ct[i - (v ? v->n : 0)];
				if (c->obj != obj || c->rel != tsr->sym || c->urel ||
				    !authz_q_allowed(q, tsr, c->uobj, 0, c->cond))
					continue;
				parent = c->uobj;
			}
			json_write_object_begin(w);
			write_userset(w, "userset", q, parent, rw->rel);
			json_write_object_end(w);
		}
		json_write_array_end(w);
		json_write_object_end(w);
		json_write_object_end(w);
		break;
	}
	case AUTHZ_RW_UNION:
	case AUTHZ_RW_INTER:
		json_write_key(w, rw->kind == AUTHZ_RW_UNION ? "union" : "intersection");
		json_write_object_begin(w);
		json_write_key(w, "nodes");
		json_write_array_begin(w);
		for (size_t i = 0; i < rw->n; i++)
			expand_node(w, q, obj, t, rel, rw->child[i]);
		json_write_array_end(w);
		json_write_object_end(w);
		break;
	case AUTHZ_RW_DIFF:
		json_write_key(w, "difference");
		json_write_object_begin(w);
		json_write_key(w, "base");
		expand_node(w, q, obj, t, rel, rw->child[0]);
		json_write_key(w, "subtract");
		expand_node(w, q, obj, t, rel, rw->child[1]);
		json_write_object_end(w);
		break;
	}
	json_write_object_end(w);
}

int authz_expand(struct authz_engine *e, const struct authz_query *qr, const char *relation,
		 const char *object, struct json_writer *w, struct bw_err *err)
{
	struct authz_q q;
	if (authz_q_open(&q, e, qr, err) < 0)
		return -1;
	uint32_t obj;
	const struct authz_type *t;
	const struct authz_rel *rel;
	int rc = -1;
	if (authz_q_object(&q, object, relation, &obj, &t, &rel) == 0) {
		json_write_object_begin(w);
		json_write_key(w, "tree");
		json_write_object_begin(w);
		json_write_key(w, "root");
		expand_node(w, &q, obj, t, rel, rel->rw);
		json_write_object_end(w);
		json_write_object_end(w);
		rc = 0;
	}
	authz_q_close(&q);
	return rc;
}

/* ----------------------------------------------------------------- bind */

static int bind_rw(struct authz_rw *r, struct authz_symtab *st)
{
	if (r->kind == AUTHZ_RW_TTU && !(r->rel_sym = authz_sym_intern(st, r->rel, strlen(r->rel))))
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (bind_rw(r->child[i], st) < 0)
			return -1;
	return 0;
}

static uint32_t pow2_for(size_t n)
{
	uint32_t c = 8;
	while (c < n * 2)
		c *= 2;
	return c;
}

int authz_model_bind(struct authz_model *m, struct authz_symtab *st)
{
	m->tmap_mask = pow2_for(m->ntypes) - 1;
	m->tmap = bw_arena_zalloc(m->arena, (m->tmap_mask + 1) * sizeof(uint32_t));
	if (!m->tmap)
		return -1;
	for (size_t c = 0; c < m->nconds; c++)
		if (!(m->conds[c].sym = authz_sym_intern(st, m->conds[c].name, strlen(m->conds[c].name))))
			return -1;
	for (size_t i = 0; i < m->ntypes; i++) {
		struct authz_type *t = &m->types[i];
		if (!(t->sym = authz_sym_intern(st, t->name, strlen(t->name))))
			return -1;
		uint32_t k = (t->sym * 0x9e3779b1u) & m->tmap_mask;
		while (m->tmap[k])
			k = (k + 1) & m->tmap_mask;
		m->tmap[k] = (uint32_t)i + 1;
		t->rmap_mask = pow2_for(t->nrels) - 1;
		t->rmap = bw_arena_zalloc(m->arena, (t->rmap_mask + 1) * sizeof(uint32_t));
		if (!t->rmap)
			return -1;
		for (size_t r = 0; r < t->nrels; r++) {
			struct authz_rel *rel = &t->rels[r];
			if (!(rel->sym = authz_sym_intern(st, rel->name, strlen(rel->name))))
				return -1;
			uint32_t j = (rel->sym * 0x9e3779b1u) & t->rmap_mask;
			while (t->rmap[j])
				j = (j + 1) & t->rmap_mask;
			t->rmap[j] = (uint32_t)r + 1;
			if (bind_rw(rel->rw, st) < 0)
				return -1;
		}
	}
	/* restrictions refer to other types: their symbols exist now */
	for (size_t i = 0; i < m->ntypes; i++)
		for (size_t r = 0; r < m->types[i].nrels; r++) {
			struct authz_rel *rel = &m->types[i].rels[r];
			for (size_t k = 0; k < rel->ndt; k++) {
				struct authz_restr *d = &rel->dt[k];
				d->type_sym = m->types[d->type_idx].sym;
				d->rel_sym = d->rel ? m->types[d->type_idx].rels[d->rel_idx].sym : 0;
			}
		}
	return authz_redges_build(m);
}
