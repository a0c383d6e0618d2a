/*
 * The OpenFGA modelling language, JSON form (the WriteAuthorizationModel
 * body and the ReadAuthorizationModel answer):
 *
 *   {"schema_version": "1.1",
 *    "type_definitions": [
 *      {"type": "document",
 *       "relations": {"viewer": {"union": {"child": [{"this": {}},
 *                                  {"computedUserset": {"relation": "editor"}}]}}},
 *       "metadata": {"relations": {"viewer": {"directly_related_user_types":
 *                      [{"type": "user"}, {"type": "user", "wildcard": {}},
 *                       {"type": "group", "relation": "member", "condition": "c"}]}}}}],
 *    "conditions": {"c": {"name": "c", "expression": "x < 10",
 *                         "parameters": {"x": {"type_name": "TYPE_NAME_INT"}}}}}
 *
 * Reader invariants: unknown members are refused (a typo must not silently
 * drop a rule), every member has the JSON type OpenFGA's schema gives it,
 * recursion follows the rewrite nesting bounded by
 * AUTHZ_MODEL_MAX_REWRITE_DEPTH, and the result is validated exactly as a
 * DSL model is. Writer invariant: its output reads back to an equal model.
 */
#include "authz/authz_int.h"

#include <stdio.h>
#include <string.h>

struct jr {
	struct authz_model *m;
	struct bw_err *err;
	size_t nodes;
};

static int jerr(struct jr *j, const char *fmt, ...) BW_PRINTF(2, 3);
static int jerr(struct jr *j, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return bw_err_set(j->err, 400, "authz", "invalid_model", "%s", msg);
}

/* Refuses members of o not in allowed (NULL-terminated). */
static int only(struct jr *j, const struct json_value *o, const char *const *allowed,
		const char *where)
{
	for (size_t i = 0; i < o->u.obj.n; i++) {
		struct bw_str k = o->u.obj.members[i].key;
		bool ok = false;
		for (size_t a = 0; allowed[a] && !ok; a++)
			ok = bw_str_eq_lit(k, allowed[a]);
		if (!ok)
			return jerr(j, "%s: unknown member '%.*s'", where,
				    (int)(k.len > 40 ? 40 : k.len), k.p);
	}
	return 0;
}

static char *jstr(struct jr *j, const struct json_value *v)
{
	if (memchr(v->u.str.p, 0, v->u.str.len)) {
		jerr(j, "NUL byte in a name");
		return NULL;
	}
	char *s = authz_model_strdup(j->m, v->u.str.p, v->u.str.len);
	if (!s)
		bw_err_set(j->err, 500, "authz", "memory", "out of memory");
	return s;
}

static const char *relation_of(struct jr *j, const struct json_value *v, const char *where)
{
	static const char *const keys[] = { "object", "relation", NULL };
	if (!v || v->type != JSON_OBJECT) {
		jerr(j, "%s: expected an object with \"relation\"", where);
		return NULL;
	}
	if (only(j, v, keys, where) < 0)
		return NULL;
	const struct json_value *r = json_get(v, "relation");
	const struct json_value *o = json_get(v, "object");
	if (o && (o->type != JSON_STRING || o->u.str.len)) {
		jerr(j, "%s: \"object\" must be empty", where);
		return NULL;
	}
	if (!r || r->type != JSON_STRING || r->u.str.len == 0) {
		jerr(j, "%s: \"relation\" must be a non-empty string", where);
		return NULL;
	}
	return jstr(j, r);
}

static struct authz_rw *read_rw(struct jr *j, const struct json_value *v, const char *where,
				int depth)
{
	if (depth > AUTHZ_MODEL_MAX_REWRITE_DEPTH * 2 || ++j->nodes > AUTHZ_MODEL_MAX_REWRITE_NODES) {
		jerr(j, "%s: definition nested too deeply or too large", where);
		return NULL;
	}
	if (!v || v->type != JSON_OBJECT || v->u.obj.n != 1) {
		jerr(j, "%s: a userset must be an object with exactly one of this, "
			"computedUserset, tupleToUserset, union, intersection, difference",
		     where);
		return NULL;
	}
	struct bw_str k = v->u.obj.members[0].key;
	const struct json_value *b = v->u.obj.members[0].value;
	struct authz_rw *r = NULL;
	if (bw_str_eq_lit(k, "this")) {
		if (b->type != JSON_OBJECT || b->u.obj.n) {
			jerr(j, "%s: \"this\" must be {}", where);
			return NULL;
		}
		r = authz_rw_new(j->m, AUTHZ_RW_THIS);
	} else if (bw_str_eq_lit(k, "computedUserset")) {
		const char *rel = relation_of(j, b, where);
		if (!rel || !(r = authz_rw_new(j->m, AUTHZ_RW_COMPUTED)))
			goto fail;
		r->rel = rel;
	} else if (bw_str_eq_lit(k, "tupleToUserset")) {
		static const char *const keys[] = { "tupleset", "computedUserset", NULL };
		if (b->type != JSON_OBJECT || only(j, b, keys, where) < 0) {
			jerr(j, "%s: tupleToUserset must be an object", where);
			return NULL;
		}
		const char *ts = relation_of(j, json_get(b, "tupleset"), where);
		const char *rel = ts ? relation_of(j, json_get(b, "computedUserset"), where) : NULL;
		if (!rel || !(r = authz_rw_new(j->m, AUTHZ_RW_TTU)))
			goto fail;
		r->rel = rel;
		r->tupleset = ts;
	} else if (bw_str_eq_lit(k, "union") || bw_str_eq_lit(k, "intersection")) {
		bool is_union = bw_str_eq_lit(k, "union");
		static const char *const keys[] = { "child", NULL };
		const struct json_value *c = b->type == JSON_OBJECT ? json_get(b, "child") : NULL;
		if (b->type != JSON_OBJECT || only(j, b, keys, where) < 0 || !c ||
		    c->type != JSON_ARRAY || c->u.arr.n < 1) {
			jerr(j, "%s: %s needs a non-empty \"child\" array", where,
			     is_union ? "union" : "intersection");
			return NULL;
		}
		if (c->u.arr.n == 1) /* OpenFGA accepts one child; it is that child */
			return read_rw(j, c->u.arr.items[0], where, depth + 1);
		if (!(r = authz_rw_new(j->m, is_union ? AUTHZ_RW_UNION : AUTHZ_RW_INTER)))
			goto fail;
		if (c->u.arr.n > AUTHZ_MODEL_MAX_REWRITE_NODES) {
			jerr(j, "%s: too many operands", where);
			return NULL;
		}
		r->child = bw_arena_alloc(j->m->arena, c->u.arr.n * sizeof(*r->child));
		if (!r->child)
			goto fail;
		for (size_t i = 0; i < c->u.arr.n; i++)
			if (!(r->child[i] = read_rw(j, c->u.arr.items[i], where, depth + 1)))
				return NULL;
		r->n = c->u.arr.n;
	} else if (bw_str_eq_lit(k, "difference")) {
		static const char *const keys[] = { "base", "subtract", NULL };
		if (b->type != JSON_OBJECT || only(j, b, keys, where) < 0 ||
		    !json_get(b, "base") || !json_get(b, "subtract")) {
			jerr(j, "%s: difference needs \"base\" and \"subtract\"", where);
			return NULL;
		}
		if (!(r = authz_rw_new(j->m, AUTHZ_RW_DIFF)))
			goto fail;
		r->child = bw_arena_alloc(j->m->arena, 2 * sizeof(*r->child));
		if (!r->child)
			goto fail;
		r->n = 2;
		if (!(r->child[0] = read_rw(j, json_get(b, "base"), where, depth + 1)) ||
		    !(r->child[1] = read_rw(j, json_get(b, "subtract"), where, depth + 1)))
			return NULL;
	} else {
		jerr(j, "%s: unknown userset kind '%.*s'", where, (int)(k.len > 40 ? 40 : k.len),
		     k.p);
		return NULL;
	}
	if (r)
		return r;
fail:
	if (j->err && j->err->code == 0)
		bw_err_set(j->err, 500, "authz", "memory", "out of memory");
	return NULL;
}

static int read_restrictions(struct jr *j, struct authz_rel *rel, const struct json_value *md,
			     const char *where)
{
	static const char *const keys[] = { "directly_related_user_types", "module",
					    "source_info", NULL };
	if (md->type == JSON_NULL)
		return 0;
	if (md->type != JSON_OBJECT || only(j, md, keys, where) < 0)
		return jerr(j, "%s: relation metadata must be an object", where);
	const struct json_value *d = json_get(md, "directly_related_user_types");
	if (!d || d->type == JSON_NULL)
		return 0;
	if (d->type != JSON_ARRAY || d->u.arr.n > AUTHZ_MODEL_MAX_RESTRICTIONS)
		return jerr(j, "%s: directly_related_user_types must be an array of at most %d",
			    where, AUTHZ_MODEL_MAX_RESTRICTIONS);
	rel->ndt = d->u.arr.n;
	rel->dt = bw_arena_zalloc(j->m->arena, (d->u.arr.n ? d->u.arr.n : 1) * sizeof(*rel->dt));
	if (!rel->dt)
		return bw_err_set(j->err, 500, "authz", "memory", "out of memory");
	for (size_t i = 0; i < d->u.arr.n; i++) {
		static const char *const rk[] = { "type", "relation", "wildcard", "condition",
						  NULL };
		const struct json_value *e = d->u.arr.items[i];
		if (e->type != JSON_OBJECT || only(j, e, rk, where) < 0)
			return jerr(j, "%s: a type restriction must be an object", where);
		const struct json_value *t = json_get(e, "type");
		const struct json_value *r = json_get(e, "relation");
		const struct json_value *w = json_get(e, "wildcard");
		const struct json_value *c = json_get(e, "condition");
		struct authz_restr *x = &rel->dt[i];
		if (!t || t->type != JSON_STRING || !(x->type = jstr(j, t)))
			return jerr(j, "%s: a type restriction needs \"type\"", where);
		if (r && (r->type != JSON_STRING || (r->u.str.len && !(x->rel = jstr(j, r)))))
			return jerr(j, "%s: \"relation\" must be a string", where);
		if (w && w->type != JSON_NULL) {
			if (w->type != JSON_OBJECT || w->u.obj.n)
				return jerr(j, "%s: \"wildcard\" must be {}", where);
			x->wildcard = true;
		}
		if (c && (c->type != JSON_STRING || (c->u.str.len && !(x->cond = jstr(j, c)))))
			return jerr(j, "%s: \"condition\" must be a string", where);
	}
	return 0;
}

static int read_type(struct jr *j, struct authz_type *t, const struct json_value *v, size_t idx)
{
	char where[96];
	snprintf(where, sizeof(where), "type_definitions[%zu]", idx);
	static const char *const keys[] = { "type", "relations", "metadata", NULL };
	if (v->type != JSON_OBJECT || only(j, v, keys, where) < 0)
		return jerr(j, "%s must be an object", where);
	const struct json_value *name = json_get(v, "type");
	if (!name || name->type != JSON_STRING || !(t->name = jstr(j, name)))
		return jerr(j, "%s: \"type\" must be a string", where);
	snprintf(where, sizeof(where), "type '%.60s'", t->name);
	const struct json_value *rels = json_get(v, "relations");
	const struct json_value *md = json_get(v, "metadata");
	const struct json_value *mdr = NULL;
	if (md && md->type != JSON_NULL) {
		static const char *const mk[] = { "relations", "module", "source_info", NULL };
		if (md->type != JSON_OBJECT || only(j, md, mk, where) < 0)
			return jerr(j, "%s: \"metadata\" must be an object", where);
		mdr = json_get(md, "relations");
		if (mdr && mdr->type == JSON_NULL)
			mdr = NULL;
		if (mdr && mdr->type != JSON_OBJECT)
			return jerr(j, "%s: \"metadata.relations\" must be an object", where);
	}
	if (!rels || rels->type == JSON_NULL)
		return mdr && mdr->u.obj.n ? jerr(j, "%s: metadata for relations it does not define", where) : 0;
	if (rels->type != JSON_OBJECT)
		return jerr(j, "%s: \"relations\" must be an object", where);
	if (rels->u.obj.n > AUTHZ_MODEL_MAX_RELATIONS)
		return jerr(j, "%s: more than %d relations", where, AUTHZ_MODEL_MAX_RELATIONS);
	t->nrels = rels->u.obj.n;
	t->rels = bw_arena_zalloc(j->m->arena, (t->nrels ? t->nrels : 1) * sizeof(*t->rels));
	if (!t->rels)
		return bw_err_set(j->err, 500, "authz", "memory", "out of memory");
	for (size_t i = 0; i < rels->u.obj.n; i++) {
		struct authz_rel *rel = &t->rels[i];
		const struct json_member *mb = &rels->u.obj.members[i];
		if (memchr(mb->key.p, 0, mb->key.len) ||
		    !(rel->name = authz_model_strdup(j->m, mb->key.p, mb->key.len)))
			return jerr(j, "%s: bad relation name", where);
		char rwhere[160];
		snprintf(rwhere, sizeof(rwhere), "type '%.60s' relation '%.50s'", t->name, rel->name);
		j->nodes = 0;
		if (!(rel->rw = read_rw(j, mb->value, rwhere, 0)))
			return -1;
		const struct json_value *rm = mdr ? json_get(mdr, rel->name) : NULL;
		if (rm && read_restrictions(j, rel, rm, rwhere) < 0)
			return -1;
	}
	if (mdr)
		for (size_t i = 0; i < mdr->u.obj.n; i++) {
			struct bw_str k = mdr->u.obj.members[i].key;
			bool found = false;
			for (size_t r = 0; r < t->nrels && !found; r++)
				found = bw_str_eq_lit(k, t->rels[r].name);
			if (!found)
				return jerr(j, "%s: metadata for undefined relation '%.*s'", where,
					    (int)(k.len > 50 ? 50 : k.len), k.p);
		}
	return 0;
}

static int read_cond(struct jr *j, struct authz_cond *c, const struct json_member *mb)
{
	char where[96];
	snprintf(where, sizeof(where), "condition '%.*s'", (int)(mb->key.len > 50 ? 50 : mb->key.len),
		 mb->key.p);
	const struct json_value *v = mb->value;
	static const char *const keys[] = { "name", "expression", "parameters", "metadata", NULL };
	if (v->type != JSON_OBJECT || only(j, v, keys, where) < 0)
		return jerr(j, "%s must be an object", where);
	if (memchr(mb->key.p, 0, mb->key.len) ||
	    !(c->name = authz_model_strdup(j->m, mb->key.p, mb->key.len)))
		return jerr(j, "%s: bad name", where);
	const struct json_value *n = json_get(v, "name");
	if (n && (n->type != JSON_STRING || !bw_str_eq_lit(n->u.str, c->name)))
		return jerr(j, "%s: \"name\" must equal its key", where);
	const struct json_value *e = json_get(v, "expression");
	if (!e || e->type != JSON_STRING || e->u.str.len == 0)
		return jerr(j, "%s: \"expression\" must be a non-empty string", where);
	c->exprlen = e->u.str.len;
	if (!(c->expr = authz_model_strdup(j->m, e->u.str.p, e->u.str.len)))
		return bw_err_set(j->err, 500, "authz", "memory", "out of memory");
	const struct json_value *ps = json_get(v, "parameters");
	if (!ps || ps->type != JSON_OBJECT || ps->u.obj.n == 0 ||
	    ps->u.obj.n > AUTHZ_MODEL_MAX_PARAMS)
		return jerr(j, "%s: \"parameters\" must be an object of 1 to %d parameters", where,
			    AUTHZ_MODEL_MAX_PARAMS);
	c->nparams = ps->u.obj.n;
	c->params = bw_arena_zalloc(j->m->arena, c->nparams * sizeof(*c->params));
	if (!c->params)
		return bw_err_set(j->err, 500, "authz", "memory", "out of memory");
	for (size_t i = 0; i < ps->u.obj.n; i++) {
		const struct json_member *pm = &ps->u.obj.members[i];
		struct authz_cparam *p = &c->params[i];
		if (memchr(pm->key.p, 0, pm->key.len) ||
		    !(p->name = authz_model_strdup(j->m, pm->key.p, pm->key.len)))
			return jerr(j, "%s: bad parameter name", where);
		static const char *const pk[] = { "type_name", "generic_types", NULL };
		const struct json_value *pv = pm->value;
		if (pv->type != JSON_OBJECT || only(j, pv, pk, where) < 0)
			return jerr(j, "%s: parameter '%s' must be an object", where, p->name);
		const char *tn = json_get_str(pv, "type_name", NULL);
		if (!tn || authz_cel_type_from_json_name(tn, &p->type.t) < 0)
			return jerr(j, "%s: parameter '%s' has an unknown type_name", where, p->name);
		p->type.elem = CEL_T_ANY;
		const struct json_value *g = json_get(pv, "generic_types");
		bool generic = p->type.t == CEL_T_LIST || p->type.t == CEL_T_MAP;
		if (generic) {
			if (!g || g->type != JSON_ARRAY || g->u.arr.n != 1 ||
			    g->u.arr.items[0]->type != JSON_OBJECT)
				return jerr(j, "%s: parameter '%s' needs one generic type", where,
					    p->name);
			const char *gt = json_get_str(g->u.arr.items[0], "type_name", NULL);
			if (!gt || authz_cel_type_from_json_name(gt, &p->type.elem) < 0 ||
			    p->type.elem == CEL_T_LIST || p->type.elem == CEL_T_MAP)
				return jerr(j, "%s: parameter '%s' has a bad generic type", where,
					    p->name);
		} else if (g && g->type != JSON_NULL && (g->type != JSON_ARRAY || g->u.arr.n)) {
			return jerr(j, "%s: parameter '%s' takes no generic types", where, p->name);
		}
	}
	return 0;
}

struct authz_model *authz_model_from_json(const struct json_value *v, struct bw_err *err)
{
	struct authz_model *m = authz_model_alloc();
	if (!m) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		return NULL;
	}
	bw_err_clear(err);
	struct jr j = { .m = m, .err = err };
	static const char *const keys[] = { "schema_version", "type_definitions", "conditions",
					    "id", NULL };
	if (!v || v->type != JSON_OBJECT) {
		jerr(&j, "a model must be a JSON object");
		goto fail;
	}
	if (only(&j, v, keys, "model") < 0)
		goto fail;
	const char *sv = json_get_str(v, "schema_version", NULL);
	if (!sv || strcmp(sv, "1.1") != 0) {
		jerr(&j, "schema_version must be \"1.1\"");
		goto fail;
	}
	const struct json_value *td = json_get(v, "type_definitions");
	if (!td || td->type != JSON_ARRAY || td->u.arr.n == 0) {
		jerr(&j, "type_definitions must be a non-empty array");
		goto fail;
	}
	if (td->u.arr.n > AUTHZ_MODEL_MAX_TYPES) {
		jerr(&j, "more than %d types", AUTHZ_MODEL_MAX_TYPES);
		goto fail;
	}
	m->ntypes = td->u.arr.n;
	m->types = bw_arena_zalloc(m->arena, m->ntypes * sizeof(*m->types));
	if (!m->types)
		goto oom;
	for (size_t i = 0; i < m->ntypes; i++)
		if (read_type(&j, &m->types[i], td->u.arr.items[i], i) < 0)
			goto fail;
	const struct json_value *cs = json_get(v, "conditions");
	if (cs && cs->type != JSON_NULL) {
		if (cs->type != JSON_OBJECT || cs->u.obj.n > AUTHZ_MODEL_MAX_CONDITIONS) {
			jerr(&j, "conditions must be an object of at most %d", AUTHZ_MODEL_MAX_CONDITIONS);
			goto fail;
		}
		m->nconds = cs->u.obj.n;
		m->conds = bw_arena_zalloc(m->arena, (m->nconds ? m->nconds : 1) * sizeof(*m->conds));
		if (!m->conds)
			goto oom;
		for (size_t i = 0; i < m->nconds; i++)
			if (read_cond(&j, &m->conds[i], &cs->u.obj.members[i]) < 0)
				goto fail;
	}
	if (authz_model_validate(m, err) < 0)
		goto fail;
	return m;
oom:
	bw_err_set(err, 500, "authz", "memory", "out of memory");
fail:
	authz_model_free(m);
	return NULL;
}

struct authz_model *authz_model_parse_json(const char *text, size_t len, struct bw_err *err)
{
	if (len > AUTHZ_MODEL_MAX_BYTES) {
		bw_err_set(err, 413, "authz", "too_large", "model larger than %zu bytes",
			   AUTHZ_MODEL_MAX_BYTES);
		return NULL;
	}
	struct bw_arena *a = bw_arena_new(16384, AUTHZ_MODEL_MAX_BYTES * 16);
	if (!a) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		return NULL;
	}
	struct json_limits lim = { .max_bytes = AUTHZ_MODEL_MAX_BYTES, .max_depth = 64 };
	const struct json_value *v = json_parse(a, text, len, &lim, err);
	struct authz_model *m = NULL;
	if (v)
		m = authz_model_from_json(v, err);
	else if (err)
		err->code = err->code == 413 ? 413 : 400;
	bw_arena_free(a);
	return m;
}

/* -------------------------------------------------------------- writer */

static void w_rel(struct json_writer *w, const char *key, const char *rel)
{
	json_write_key(w, key);
	json_write_object_begin(w);
	json_write_kv_string(w, "object", "");
	json_write_kv_string(w, "relation", rel);
	json_write_object_end(w);
}

static void w_rw(struct json_writer *w, const struct authz_rw *r)
{
	json_write_object_begin(w);
	switch (r->kind) {
	case AUTHZ_RW_THIS:
		json_write_key(w, "this");
		json_write_object_begin(w);
		json_write_object_end(w);
		break;
	case AUTHZ_RW_COMPUTED:
		w_rel(w, "computedUserset", r->rel);
		break;
	case AUTHZ_RW_TTU:
		json_write_key(w, "tupleToUserset");
		json_write_object_begin(w);
		w_rel(w, "tupleset", r->tupleset);
		w_rel(w, "computedUserset", r->rel);
		json_write_object_end(w);
		break;
	case AUTHZ_RW_UNION:
	case AUTHZ_RW_INTER:
		json_write_key(w, r->kind == AUTHZ_RW_UNION ? "union" : "intersection");
		json_write_object_begin(w);
		json_write_key(w, "child");
		json_write_array_begin(w);
		for (size_t i = 0; i < r->n; i++)
			w_rw(w, r->child[i]);
		json_write_array_end(w);
		json_write_object_end(w);
		break;
	case AUTHZ_RW_DIFF:
		json_write_key(w, "difference");
		json_write_object_begin(w);
		json_write_key(w, "base");
		w_rw(w, r->child[0]);
		json_write_key(w, "subtract");
		w_rw(w, r->child[1]);
		json_write_object_end(w);
		break;
	}
	json_write_object_end(w);
}

void authz_model_write_json(const struct authz_model *m, struct json_writer *w, bool with_id)
{
	json_write_object_begin(w);
	if (with_id)
		json_write_kv_string(w, "id", m->id);
	json_write_kv_string(w, "schema_version", "1.1");
	json_write_key(w, "type_definitions");
	json_write_array_begin(w);
	for (size_t i = 0; i < m->ntypes; i++) {
		const struct authz_type *t = &m->types[i];
		json_write_object_begin(w);
		json_write_kv_string(w, "type", t->name);
		json_write_key(w, "relations");
		json_write_object_begin(w);
		for (size_t r = 0; r < t->nrels; r++) {
			json_write_key(w, t->rels[r].name);
			w_rw(w, t->rels[r].rw);
		}
		json_write_object_end(w);
		json_write_key(w, "metadata");
		if (!t->nrels) {
			json_write_null(w);
		} else {
			json_write_object_begin(w);
			json_write_key(w, "relations");
			json_write_object_begin(w);
			for (size_t r = 0; r < t->nrels; r++) {
				const struct authz_rel *rel = &t->rels[r];
				json_write_key(w, rel->name);
				json_write_object_begin(w);
				json_write_key(w, "directly_related_user_types");
				json_write_array_begin(w);
				for (size_t k = 0; k < rel->ndt; k++) {
					const struct authz_restr *d = &rel->dt[k];
					json_write_object_begin(w);
					json_write_kv_string(w, "type", d->type);
					if (d->rel)
						json_write_kv_string(w, "relation", d->rel);
					if (d->wildcard) {
						json_write_key(w, "wildcard");
						json_write_object_begin(w);
						json_write_object_end(w);
					}
					json_write_kv_string(w, "condition", d->cond ? d->cond : "");
					json_write_object_end(w);
				}
				json_write_array_end(w);
				json_write_object_end(w);
			}
			json_write_object_end(w);
			json_write_object_end(w);
		}
		json_write_object_end(w);
	}
	json_write_array_end(w);
	json_write_key(w, "conditions");
	json_write_object_begin(w);
	for (size_t i = 0; i < m->nconds; i++) {
		const struct authz_cond *c = &m->conds[i];
		json_write_key(w, c->name);
		json_write_object_begin(w);
		json_write_kv_string(w, "name", c->name);
		json_write_key(w, "expression");
		json_write_stringn(w, c->expr, c->exprlen);
		json_write_key(w, "parameters");
		json_write_object_begin(w);
		for (size_t p = 0; p < c->nparams; p++) {
			json_write_key(w, c->params[p].name);
			json_write_object_begin(w);
			json_write_kv_string(w, "type_name", authz_cel_type_json_name(c->params[p].type.t));
			if (c->params[p].type.t == CEL_T_LIST || c->params[p].type.t == CEL_T_MAP) {
				json_write_key(w, "generic_types");
				json_write_array_begin(w);
				json_write_object_begin(w);
				json_write_kv_string(w, "type_name",
						     authz_cel_type_json_name(c->params[p].type.elem));
				json_write_object_end(w);
				json_write_array_end(w);
			}
			json_write_object_end(w);
		}
		json_write_object_end(w);
		json_write_object_end(w);
	}
	json_write_object_end(w);
	json_write_object_end(w);
}
