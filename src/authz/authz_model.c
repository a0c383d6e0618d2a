/*
 * Authorization models: allocation, name lookups and validation — the
 * rules OpenFGA's type system enforces on schema 1.1 models, applied
 * whether the model came from the DSL or from JSON.
 *
 * Invariants established by authz_model_validate (the evaluator relies on
 * them and checks none of them again):
 *  - type names are unique, relation names unique per type, condition
 *    names unique; none is "self" or "this";
 *  - every computed relation exists on its type (rel_idx set); every
 *    tuple-to-userset names an existing, purely direct tupleset relation of
 *    the same type (ts_idx set) whose restrictions are plain object types,
 *    and its computed relation exists on at least one of them;
 *  - every type restriction names an existing type, relation and
 *    condition (type_idx / rel_idx / cond_idx set); a relation has
 *    restrictions exactly when its rewrite contains a direct relationship;
 *  - every relation has an entrypoint: some way to be satisfied by a
 *    tuple, so no relation is an unsatisfiable cycle (`a: b`, `b: a`) or an
 *    intersection that can never hold;
 *  - every condition's expression compiled against its parameters.
 */
#include "authz/authz_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct authz_model *authz_model_alloc(void)
{
	struct bw_arena *a = bw_arena_new(16384, AUTHZ_MODEL_MAX_BYTES * 64);
	if (!a)
		return NULL;
	struct authz_model *m = bw_arena_zalloc(a, sizeof(*m));
	if (!m) {
		bw_arena_free(a);
		return NULL;
	}
	m->arena = a;
	return m;
}

void authz_model_free(struct authz_model *m)
{
	if (m)
		bw_arena_free(m->arena);
}

const char *authz_model_id(const struct authz_model *m)
{
	return m ? m->id : "";
}

struct authz_rw *authz_rw_new(struct authz_model *m, enum authz_rw_kind k)
{
	struct authz_rw *r = bw_arena_zalloc(m->arena, sizeof(*r));
	if (r) {
		r->kind = k;
		r->rel_idx = -1;
		r->ts_idx = -1;
	}
	return r;
}

char *authz_model_strdup(struct authz_model *m, const char *s, size_t n)
{
	return bw_arena_strndup(m->arena, s, n);
}

const struct authz_type *authz_model_type(const struct authz_model *m, const char *name,
					  size_t len)
{
	for (size_t i = 0; i < m->ntypes; i++)
		if (strlen(m->types[i].name) == len && memcmp(m->types[i].name, name, len) == 0)
			return &m->types[i];
	return NULL;
}

const struct authz_rel *authz_type_rel(const struct authz_type *t, const char *name,
				       size_t len)
{
	for (size_t i = 0; i < t->nrels; i++)
		if (strlen(t->rels[i].name) == len && memcmp(t->rels[i].name, name, len) == 0)
			return &t->rels[i];
	return NULL;
}

int authz_model_cond_idx(const struct authz_model *m, const char *name, size_t len)
{
	for (size_t i = 0; i < m->nconds; i++)
		if (strlen(m->conds[i].name) == len && memcmp(m->conds[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Names: ASCII letters, digits, '_', '-' and '.' (a subset of OpenFGA's
 * ^[^:#@\s]+$ that both the DSL and every client can carry unquoted). */
static bool valid_name(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	struct bw_str n = bw_str_make(s, len);
	return !bw_str_eq_lit(n, "self") && !bw_str_eq_lit(n, "this");
}

bool authz_valid_type_name(const char *s, size_t len)
{
	return valid_name(s, len, AUTHZ_TYPE_NAME_MAX);
}

bool authz_valid_rel_name(const char *s, size_t len)
{
	return valid_name(s, len, AUTHZ_RELATION_NAME_MAX);
}

/* ------------------------------------------------------------ validation */

static int verr(const struct authz_model *m, struct bw_err *err, uint32_t line,
		uint32_t col, const char *fmt, ...) BW_PRINTF(5, 6);
static int verr(const struct authz_model *m, struct bw_err *err, uint32_t line,
		uint32_t col, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m->from_dsl && line)
		return bw_err_set(err, 400, "authz", "invalid_model", "%u:%u: %s", line, col, msg);
	return bw_err_set(err, 400, "authz", "invalid_model", "%s", msg);
}

static bool rw_has_this(const struct authz_rw *r)
{
	if (r->kind == AUTHZ_RW_THIS)
		return true;
	for (size_t i = 0; i < r->n; i++)
		if (rw_has_this(r->child[i]))
			return true;
	return false;
}

static int check_rw(struct authz_model *m, struct authz_type *t, struct authz_rel *rel,
		    struct authz_rw *r, int depth, struct bw_err *err)
{
	if (depth > AUTHZ_MODEL_MAX_REWRITE_DEPTH * 4)
		return verr(m, err, rel->line, rel->col, "relation '%s' of type '%s' is nested too deeply",
			    rel->name, t->name);
	switch (r->kind) {
	case AUTHZ_RW_THIS:
		return 0;
	case AUTHZ_RW_COMPUTED: {
		const struct authz_rel *c = authz_type_rel(t, r->rel, strlen(r->rel));
		if (!c)
			return verr(m, err, r->line, r->col,
				    "relation '%s' of type '%s' references undefined relation '%s'",
				    rel->name, t->name, r->rel);
		r->rel_idx = c->idx;
		return 0;
	}
	case AUTHZ_RW_TTU: {
		const struct authz_rel *ts = authz_type_rel(t, r->tupleset, strlen(r->tupleset));
		if (!ts)
			return verr(m, err, r->line, r->col,
				    "relation '%s' of type '%s': tupleset relation '%s' is not defined",
				    rel->name, t->name, r->tupleset);
		if (ts->rw->kind != AUTHZ_RW_THIS)
			return verr(m, err, r->line, r->col,
				    "relation '%s' of type '%s': tupleset relation '%s' must be a direct relationship only",
				    rel->name, t->name, r->tupleset);
		bool found = false;
		for (size_t i = 0; i < ts->ndt; i++) {
			const struct authz_restr *d = &ts->dt[i];
			if (d->rel || d->wildcard)
				return verr(m, err, r->line, r->col,
					    "relation '%s' of type '%s': tupleset relation '%s' may only be related to object types, not '%s%s%s'",
					    rel->name, t->name, r->tupleset, d->type,
					    d->wildcard ? ":*" : "#", d->wildcard ? "" : d->rel);
			const struct authz_type *pt = authz_model_type(m, d->type, strlen(d->type));
			if (pt && authz_type_rel(pt, r->rel, strlen(r->rel)))
				found = true;
		}
		if (!found)
			return verr(m, err, r->line, r->col,
				    "relation '%s' of type '%s': '%s from %s' is not defined on any type '%s' can be",
				    rel->name, t->name, r->rel, r->tupleset, r->tupleset);
		r->ts_idx = ts->idx;
		return 0;
	}
	case AUTHZ_RW_UNION:
	case AUTHZ_RW_INTER:
	case AUTHZ_RW_DIFF:
		if (r->n < 2 || (r->kind == AUTHZ_RW_DIFF && r->n != 2))
			return verr(m, err, rel->line, rel->col,
				    "relation '%s' of type '%s': operator with wrong number of operands",
				    rel->name, t->name);
		for (size_t i = 0; i < r->n; i++)
			if (check_rw(m, t, rel, r->child[i], depth + 1, err) < 0)
				return -1;
		return 0;
	}
	return verr(m, err, rel->line, rel->col, "unknown rewrite");
}

static int check_restrictions(struct authz_model *m, struct authz_type *t,
			      struct authz_rel *rel, struct bw_err *err)
{
	bool has_this = rw_has_this(rel->rw);
	if (has_this && rel->ndt == 0)
		return verr(m, err, rel->line, rel->col,
			    "relation '%s' of type '%s' is directly assignable but names no type restrictions",
			    rel->name, t->name);
	if (!has_this && rel->ndt)
		return verr(m, err, rel->line, rel->col,
			    "relation '%s' of type '%s' has type restrictions but no direct relationship",
			    rel->name, t->name);
	for (size_t i = 0; i < rel->ndt; i++) {
		struct authz_restr *d = &rel->dt[i];
		const struct authz_type *dt = authz_model_type(m, d->type, strlen(d->type));
		if (!dt)
			return verr(m, err, d->line, d->col,
				    "relation '%s' of type '%s': undefined type '%s'", rel->name,
				    t->name, d->type);
		d->type_idx = (int)(dt - m->types);
		d->rel_idx = -1;
		d->cond_idx = -1;
		if (d->rel && d->wildcard)
			return verr(m, err, d->line, d->col,
				    "relation '%s' of type '%s': '%s' cannot be both a wildcard and a userset",
				    rel->name, t->name, d->type);
		if (d->rel) {
			const struct authz_rel *ur = authz_type_rel(dt, d->rel, strlen(d->rel));
			if (!ur)
				return verr(m, err, d->line, d->col,
					    "relation '%s' of type '%s': undefined relation '%s#%s'",
					    rel->name, t->name, d->type, d->rel);
			d->rel_idx = ur->idx;
		}
		if (d->cond) {
			d->cond_idx = authz_model_cond_idx(m, d->cond, strlen(d->cond));
			if (d->cond_idx < 0)
				return verr(m, err, d->line, d->col,
					    "relation '%s' of type '%s': undefined condition '%s'",
					    rel->name, t->name, d->cond);
		}
		for (size_t j = 0; j < i; j++) {
			const struct authz_restr *o = &rel->dt[j];
			if (strcmp(o->type, d->type) == 0 && o->wildcard == d->wildcard &&
			    !o->rel == !d->rel && (!o->rel || strcmp(o->rel, d->rel) == 0) &&
			    !o->cond == !d->cond && (!o->cond || strcmp(o->cond, d->cond) == 0))
				return verr(m, err, d->line, d->col,
					    "relation '%s' of type '%s': duplicate type restriction '%s'",
					    rel->name, t->name, d->type);
		}
	}
	return 0;
}

static bool rw_entry(const struct authz_model *m, const struct authz_type *t,
		     const struct authz_rel *rel, const struct authz_rw *r)
{
	switch (r->kind) {
	case AUTHZ_RW_THIS:
		for (size_t i = 0; i < rel->ndt; i++) {
			const struct authz_restr *d = &rel->dt[i];
			if (!d->rel)
				return true;
			if (m->types[d->type_idx].rels[d->rel_idx].entry)
				return true;
		}
		return false;
	case AUTHZ_RW_COMPUTED:
		return t->rels[r->rel_idx].entry;
	case AUTHZ_RW_TTU: {
		const struct authz_rel *ts = &t->rels[r->ts_idx];
		for (size_t i = 0; i < ts->ndt; i++) {
			const struct authz_type *pt = &m->types[ts->dt[i].type_idx];
			const struct authz_rel *pr = authz_type_rel(pt, r->rel, strlen(r->rel));
			if (pr && pr->entry)
				return true;
		}
		return false;
	}
	case AUTHZ_RW_UNION:
		for (size_t i = 0; i < r->n; i++)
			if (rw_entry(m, t, rel, r->child[i]))
				return true;
		return false;
	case AUTHZ_RW_INTER:
		for (size_t i = 0; i < r->n; i++)
			if (!rw_entry(m, t, rel, r->child[i]))
				return false;
		return true;
	case AUTHZ_RW_DIFF:
		return rw_entry(m, t, rel, r->child[0]);
	}
	return false;
}

static int check_conditions(struct authz_model *m, struct bw_err *err)
{
	for (size_t i = 0; i < m->nconds; i++) {
		struct authz_cond *c = &m->conds[i];
		if (!authz_valid_rel_name(c->name, strlen(c->name)) ||
		    strlen(c->name) > AUTHZ_CONDITION_NAME_MAX)
			return verr(m, err, c->line, c->col, "invalid condition name '%s'", c->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->conds[j].name, c->name) == 0)
				return verr(m, err, c->line, c->col,
					    "condition '%s' is defined twice", c->name);
		if (c->nparams > AUTHZ_MODEL_MAX_PARAMS)
			return verr(m, err, c->line, c->col,
				    "condition '%s' has more than %d parameters", c->name,
				    AUTHZ_MODEL_MAX_PARAMS);
		struct cel_param ps[AUTHZ_MODEL_MAX_PARAMS];
		for (size_t j = 0; j < c->nparams; j++) {
			if (!authz_valid_rel_name(c->params[j].name, strlen(c->params[j].name)))
				return verr(m, err, c->line, c->col,
					    "condition '%s': invalid parameter name '%s'", c->name,
					    c->params[j].name);
			for (size_t k = 0; k < j; k++)
				if (strcmp(c->params[k].name, c->params[j].name) == 0)
					return verr(m, err, c->line, c->col,
						    "condition '%s': parameter '%s' is declared twice",
						    c->name, c->params[j].name);
			ps[j].name = c->params[j].name;
			ps[j].type = c->params[j].type;
		}
		struct bw_err cerr;
		size_t off = 0;
		c->prog = authz_cel_compile(m->arena, c->expr, c->exprlen, ps, c->nparams,
					    &off, &cerr);
		if (!c->prog) {
			if (cerr.code == 500) {
				*err = cerr;
				return -1;
			}
			/* Map the offset inside the expression back to a DSL
			 * position (the expression may span lines). */
			uint32_t line = c->expr_line, col = c->expr_col;
			for (size_t k = 0; k < off && k < c->exprlen; k++) {
				if (c->expr[k] == '\n') {
					line++;
					col = 1;
				} else {
					col++;
				}
			}
			const char *what = strchr(cerr.msg, ':');
			what = what ? what + 2 : cerr.msg;
			if (m->from_dsl && c->expr_line)
				return verr(m, err, line, col, "condition '%s': %s", c->name, what);
			return verr(m, err, 0, 0, "condition '%s': %s", c->name, cerr.msg);
		}
	}
	return 0;
}

int authz_model_validate(struct authz_model *m, struct bw_err *err)
{
	if (m->ntypes == 0)
		return verr(m, err, 1, 1, "a model needs at least one type definition");
	if (m->ntypes > AUTHZ_MODEL_MAX_TYPES)
		return verr(m, err, 0, 0, "more than %d types", AUTHZ_MODEL_MAX_TYPES);
	if (m->nconds > AUTHZ_MODEL_MAX_CONDITIONS)
		return verr(m, err, 0, 0, "more than %d conditions", AUTHZ_MODEL_MAX_CONDITIONS);
	/* names */
	for (size_t i = 0; i < m->ntypes; i++) {
		struct authz_type *t = &m->types[i];
		if (!authz_valid_type_name(t->name, strlen(t->name)))
			return verr(m, err, t->line, t->col, "invalid type name '%s'", t->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->types[j].name, t->name) == 0)
				return verr(m, err, t->line, t->col, "type '%s' is defined twice",
					    t->name);
		if (t->nrels > AUTHZ_MODEL_MAX_RELATIONS)
			return verr(m, err, t->line, t->col, "type '%s' has more than %d relations",
				    t->name, AUTHZ_MODEL_MAX_RELATIONS);
		for (size_t r = 0; r < t->nrels; r++) {
			struct authz_rel *rel = &t->rels[r];
			rel->idx = (int)r;
			rel->type_idx = (int)i;
			rel->entry = false;
			if (!authz_valid_rel_name(rel->name, strlen(rel->name)))
				return verr(m, err, rel->line, rel->col,
					    "invalid relation name '%s' in type '%s'", rel->name, t->name);
			for (size_t k = 0; k < r; k++)
				if (strcmp(t->rels[k].name, rel->name) == 0)
					return verr(m, err, rel->line, rel->col,
						    "relation '%s' is defined twice in type '%s'",
						    rel->name, t->name);
			if (!rel->rw)
				return verr(m, err, rel->line, rel->col,
					    "relation '%s' of type '%s' has no definition", rel->name,
					    t->name);
		}
	}
	if (check_conditions(m, err) < 0)
		return -1;
	/* restrictions first: tupleset checks read them */
	for (size_t i = 0; i < m->ntypes; i++)
		for (size_t r = 0; r < m->types[i].nrels; r++)
			if (check_restrictions(m, &m->types[i], &m->types[i].rels[r], err) < 0)
				return -1;
	for (size_t i = 0; i < m->ntypes; i++)
		for (size_t r = 0; r < m->types[i].nrels; r++)
			if (check_rw(m, &m->types[i], &m->types[i].rels[r],
				     m->types[i].rels[r].rw, 0, err) < 0)
				return -1;
	/* entrypoints: least fixpoint, monotone, so at most one pass per
	 * relation is needed before nothing changes */
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < m->ntypes; i++)
			for (size_t r = 0; r < m->types[i].nrels; r++) {
				struct authz_rel *rel = &m->types[i].rels[r];
				if (!rel->entry && rw_entry(m, &m->types[i], rel, rel->rw)) {
					rel->entry = true;
					changed = true;
				}
			}
	}
	for (size_t i = 0; i < m->ntypes; i++)
		for (size_t r = 0; r < m->types[i].nrels; r++) {
			const struct authz_rel *rel = &m->types[i].rels[r];
			if (!rel->entry)
				return verr(m, err, rel->line, rel->col,
					    "relation '%s' of type '%s' has no entrypoint: no tuple can ever satisfy it (a cycle, or an intersection or exclusion without a direct path)",
					    rel->name, m->types[i].name);
		}
	return 0;
}

/* ----------------------------------------------------------------- ULIDs */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void authz_ulid(int64_t now_ns, char out[AUTHZ_ID_LEN + 1])
{
	uint64_t ms = (uint64_t)(now_ns / 1000000);
	uint8_t rnd[10];
	bw_random(rnd, sizeof(rnd));
	/* 48-bit time in 10 chars (the first holds 3 bits), then 80 random
	 * bits in 16 chars. */
	for (int i = 9; i >= 0; i--) {
		out[i] = crockford[ms & 31];
		ms >>= 5;
	}
	uint64_t hi = 0, lo = 0;
	for (int i = 0; i < 5; i++)
		hi = hi << 8 | rnd[i];
	for (int i = 5; i < 10; i++)
		lo = lo << 8 | rnd[i];
	for (int i = 17; i >= 10; i--) {
		out[i] = crockford[hi & 31];
		hi >>= 5;
	}
	for (int i = 25; i >= 18; i--) {
		out[i] = crockford[lo & 31];
		lo >>= 5;
	}
	out[AUTHZ_ID_LEN] = 0;
}

void authz_ulid_after(const char *prev, char out[AUTHZ_ID_LEN + 1])
{
	if (!prev || !*prev || strcmp(out, prev) > 0)
		return;
	memcpy(out, prev, AUTHZ_ID_LEN + 1);
	for (int i = AUTHZ_ID_LEN - 1; i >= 0; i--) {
		const char *p = strchr(crockford, out[i]);
		size_t v = p ? (size_t)(p - crockford) : 0;
		if (v < 31) {
			out[i] = crockford[v + 1];
			return;
		}
		out[i] = crockford[0]; /* carry */
	}
}

bool authz_valid_ulid(const char *s)
{
	if (!s || strlen(s) != AUTHZ_ID_LEN || s[0] > '7')
		return false;
	for (size_t i = 0; i < AUTHZ_ID_LEN; i++)
		if (!strchr(crockford, s[i]) || !s[i])
			return false;
	return true;
}
