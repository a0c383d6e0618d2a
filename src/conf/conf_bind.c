/*
 * The declarative binder: a table of struct conf_field describes a config
 * section, and conf_bind() fills the module's struct from a mapping —
 * converting and range-checking each value, applying defaults (parsed by
 * the same rules as the file), demanding required keys and rejecting
 * unknown ones with a suggestion.
 *
 * Invariants: a field's C member is written only through the type the
 * table declares (the CONF_* macros check it at compile time); a member
 * whose key is absent and which has no default is zeroed, except
 * CONF_T_CUSTOM members, which are the parse function's business; arrays
 * (lists) come from the document's arena. Recursion (sections, lists of
 * sections) follows the tree, whose depth the loader bounded.
 */
#include "conf/conf_int.h"
#include "conf/conf_limits.h"

#include <limits.h>
#include <string.h>

static void store_zero(const struct conf_field *f, void *dst)
{
	switch (f->type) {
	case CONF_T_STR:
	case CONF_T_PATH:
	case CONF_T_SECRET_PATH:
		*(const char **)dst = NULL;
		break;
	case CONF_T_BOOL:
		*(bool *)dst = false;
		break;
	case CONF_T_INT:
	case CONF_T_ENUM:
		*(int *)dst = 0;
		break;
	case CONF_T_INT64:
		*(int64_t *)dst = 0;
		break;
	case CONF_T_UINT:
		*(unsigned *)dst = 0;
		break;
	case CONF_T_UINT64:
	case CONF_T_DURATION:
		*(uint64_t *)dst = 0;
		break;
	case CONF_T_SIZE:
		*(size_t *)dst = 0;
		break;
	case CONF_T_PORT:
		*(uint16_t *)dst = 0;
		break;
	case CONF_T_STRLIST:
		memset(dst, 0, sizeof(struct conf_strlist));
		break;
	case CONF_T_LIST:
		memset(dst, 0, sizeof(struct conf_list));
		break;
	case CONF_T_NODE:
		*(const struct conf_node **)dst = NULL;
		break;
	case CONF_T_SECTION:
	case CONF_T_CUSTOM:
		break;
	}
}

/* Item-count bounds of lists: min/max as counts, 0 meaning no bound. */
static int check_count(const struct conf_field *f, const struct conf_node *v,
		       struct bw_err *err)
{
	size_t n = v->nitems;
	if (f->min > 0 && n < (uint64_t)f->min)
		return conf_err(v, err, "range", "needs at least %lld item%s",
				(long long)f->min, f->min == 1 ? "" : "s");
	if (f->max > 0 && n > (uint64_t)f->max)
		return conf_err(v, err, "range", "allows at most %lld items",
				(long long)f->max);
	return 0;
}

static int check_strlen(const struct conf_field *f, const struct conf_node *v,
			struct bw_err *err)
{
	if (f->min > 0 && v->len < (uint64_t)f->min)
		return conf_err(v, err, "range",
				"must be at least %lld bytes long",
				(long long)f->min);
	if (f->max > 0 && v->len > (uint64_t)f->max)
		return conf_err(v, err, "range",
				"must be at most %lld bytes long",
				(long long)f->max);
	return 0;
}

static int bind_strlist(const struct conf_field *f, const struct conf_node *v,
			struct conf_strlist *out, struct bw_err *err)
{
	if (conf_expect(v, CONF_SEQUENCE, err) < 0 ||
	    check_count(f, v, err) < 0)
		return -1;
	const char **arr = NULL;
	if (v->nitems) {
		arr = bw_arena_alloc(v->doc->arena, v->nitems * sizeof(*arr));
		if (!arr)
			return conf_err_code(v, err, 500, "nomem",
					     "out of memory");
	}
	for (size_t i = 0; i < v->nitems; i++)
		if (conf_as_str(v->items[i], &arr[i], err) < 0)
			return -1;
	out->v = arr;
	out->n = v->nitems;
	return 0;
}

static int bind_map(const struct conf_node *map,
		    const struct conf_field *fields, size_t n, void *target,
		    bool absent, struct bw_err *err);

static int bind_list(const struct conf_field *f, const struct conf_node *v,
		     struct conf_list *out, struct bw_err *err)
{
	if (conf_expect(v, CONF_SEQUENCE, err) < 0 ||
	    check_count(f, v, err) < 0)
		return -1;
	BW_ASSERT(f->elem_size > 0);
	unsigned char *arr = NULL;
	if (v->nitems) {
		size_t bytes;
		if (__builtin_mul_overflow(v->nitems, f->elem_size, &bytes))
			return conf_err_code(v, err, 500, "nomem",
					     "list too large");
		arr = bw_arena_zalloc(v->doc->arena, bytes);
		if (!arr)
			return conf_err_code(v, err, 500, "nomem",
					     "out of memory");
	}
	for (size_t i = 0; i < v->nitems; i++)
		if (conf_bind(v->items[i], f->sub, f->nsub,
			      arr + i * f->elem_size, err) < 0)
			return -1;
	out->v = arr;
	out->n = v->nitems;
	return 0;
}

/* Convert one present (non-null) value into dst. */
static int bind_one(const struct conf_field *f, const struct conf_node *v,
		    void *dst, struct bw_err *err)
{
	int64_t i64;
	uint64_t u64;
	switch (f->type) {
	case CONF_T_STR:
		if (conf_as_str(v, (const char **)dst, err) < 0)
			return -1;
		return check_strlen(f, v, err);
	case CONF_T_PATH:
		if (conf_as_path(v, (const char **)dst, err) < 0)
			return -1;
		return check_strlen(f, v, err);
	case CONF_T_SECRET_PATH: {
		const char *p;
		struct bw_err inner;
		if (conf_as_path(v, &p, err) < 0)
			return -1;
		if (conf_check_secret_file(p, &inner) < 0)
			return conf_err(v, err, "secret_file", "%s", inner.msg);
		*(const char **)dst = p;
		return 0;
	}
	case CONF_T_BOOL:
		return conf_as_bool(v, (bool *)dst, err);
	case CONF_T_INT: {
		int64_t lo = f->min, hi = f->max;
		if (!lo && !hi) {
			lo = INT_MIN;
			hi = INT_MAX;
		}
		lo = lo < INT_MIN ? INT_MIN : lo;
		hi = hi > INT_MAX ? INT_MAX : hi;
		if (conf_as_int(v, lo, hi, &i64, err) < 0)
			return -1;
		*(int *)dst = (int)i64;
		return 0;
	}
	case CONF_T_INT64: {
		int64_t lo = f->min, hi = f->max;
		if (!lo && !hi) {
			lo = INT64_MIN;
			hi = INT64_MAX;
		}
		return conf_as_int(v, lo, hi, (int64_t *)dst, err);
	}
	case CONF_T_UINT: {
		uint64_t lo = f->min > 0 ? (uint64_t)f->min : 0;
		uint64_t hi = f->max > 0 ? (uint64_t)f->max : UINT_MAX;
		if (!f->min && !f->max)
			hi = UINT_MAX;
		hi = hi > UINT_MAX ? UINT_MAX : hi;
		if (conf_as_uint64(v, lo, hi, &u64, err) < 0)
			return -1;
		*(unsigned *)dst = (unsigned)u64;
		return 0;
	}
	case CONF_T_UINT64: {
		uint64_t lo = f->min > 0 ? (uint64_t)f->min : 0;
		uint64_t hi = f->max > 0 ? (uint64_t)f->max : INT64_MAX;
		return conf_as_uint64(v, lo, hi, (uint64_t *)dst, err);
	}
	case CONF_T_SIZE: {
		uint64_t lo = f->min > 0 ? (uint64_t)f->min : 0;
		uint64_t hi = f->max > 0 ? (uint64_t)f->max : UINT64_MAX;
		if (hi > SIZE_MAX)
			hi = SIZE_MAX;
		if (conf_as_size(v, lo, hi, &u64, err) < 0)
			return -1;
		*(size_t *)dst = (size_t)u64;
		return 0;
	}
	case CONF_T_DURATION: {
		uint64_t lo = f->min > 0 ? (uint64_t)f->min : 0;
		uint64_t hi = f->max > 0 ? (uint64_t)f->max : UINT64_MAX;
		return conf_as_duration(v, lo, hi, (uint64_t *)dst, err);
	}
	case CONF_T_ENUM:
		BW_ASSERT(f->values != NULL);
		return conf_as_enum(v, f->values, (int *)dst, err);
	case CONF_T_PORT: {
		int64_t lo = f->min, hi = f->max;
		if (!lo && !hi)
			hi = 65535;
		lo = lo < 0 ? 0 : lo;
		hi = hi > 65535 ? 65535 : hi;
		if (conf_as_int(v, lo, hi, &i64, err) < 0)
			return -1;
		*(uint16_t *)dst = (uint16_t)i64;
		return 0;
	}
	case CONF_T_STRLIST:
		return bind_strlist(f, v, dst, err);
	case CONF_T_SECTION:
		return conf_bind(v, f->sub, f->nsub, dst, err);
	case CONF_T_LIST:
		return bind_list(f, v, dst, err);
	case CONF_T_NODE:
		*(const struct conf_node **)dst = v;
		return 0;
	case CONF_T_CUSTOM:
		BW_ASSERT(f->parse != NULL);
		return f->parse(v, dst, err);
	}
	BW_ASSERT(!"unknown conf field type");
	return -1;
}

static const struct conf_field *find_field(const struct conf_field *fields,
					   size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].name, key) == 0)
			return &fields[i];
	return NULL;
}

/* Reject keys the table does not name, suggesting the closest field. */
static int check_unknown(const struct conf_node *map,
			 const struct conf_field *fields, size_t n,
			 struct bw_err *err)
{
	for (size_t i = 0; i < map->nitems; i++) {
		const struct conf_node *it = map->items[i];
		if (find_field(fields, n, it->key))
			continue;
		/* conf_suggest wants a NULL-terminated list; build it in
		 * small chunks so a large table needs no allocation. */
		const char *best = NULL;
		const char *chunk[33];
		for (size_t at = 0; at < n; at += 32) {
			size_t k = 0;
			for (; k < 32 && at + k < n; k++)
				chunk[k] = fields[at + k].name;
			if (best)
				chunk[k++] = best;
			chunk[k] = NULL;
			const char *s = conf_suggest(it->key, chunk);
			if (s)
				best = s;
		}
		if (best)
			return conf_err_key(it, err, "unknown_key",
					    "unknown key '%s' (did you mean "
					    "'%s'?)",
					    it->key, best);
		return conf_err_key(it, err, "unknown_key", "unknown key '%s'",
				    it->key);
	}
	return 0;
}

/*
 * Bind one mapping. absent is true when the section itself is missing from
 * the file: then required fields are not demanded (they stay zeroed, which
 * is how a module sees that an optional section was not given) and every
 * default still applies.
 */
static int bind_map(const struct conf_node *map,
		    const struct conf_field *fields, size_t n, void *target,
		    bool absent, struct bw_err *err)
{
	bool empty = !map || (map->kind == CONF_SCALAR && map->null);
	if (!empty) {
		if (conf_expect(map, CONF_MAPPING, err) < 0 ||
		    check_unknown(map, fields, n, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct conf_field *f = &fields[i];
		void *dst = (unsigned char *)target + f->offset;
		const struct conf_node *v =
		    empty ? NULL : conf_get(map, f->name);
		bool is_null = v && v->kind == CONF_SCALAR && v->null;

		/* "tls:" with nothing under it is a section given empty:
		 * its defaults apply and its required keys are demanded. */
		if (v && (!is_null || f->type == CONF_T_SECTION)) {
			if (bind_one(f, v, dst, err) < 0)
				return -1;
			continue;
		}
		if (f->required && !absent) {
			if (v)
				return conf_err(v, err, "missing",
						"needs a value (it is null)");
			if (map)
				return conf_err(map, err, "missing",
						"missing required key '%s'",
						f->name);
			return bw_err_set(err, 400, "conf", "missing",
					  "missing required key '%s'", f->name);
		}
		if (f->def) {
			struct conf_node d;
			conf_default_node(&d, map, f->name, f->def);
			if (!d.null) {
				if (bind_one(f, &d, dst, err) < 0) {
					/* The table is wrong, not the file. */
					if (err) {
						err->code = 500;
						memcpy(err->reason, "internal",
						       sizeof("internal"));
					}
					return -1;
				}
				continue;
			}
		}
		if (f->type == CONF_T_SECTION) {
			/* An absent section still gets its defaults; the
			 * stand-in gives their messages the right path. */
			struct conf_node stand;
			conf_default_node(&stand, map, f->name, "");
			if (bind_map(&stand, f->sub, f->nsub, dst, true, err) <
			    0)
				return -1;
			continue;
		}
		store_zero(f, dst);
	}
	return 0;
}

int conf_bind(const struct conf_node *map, const struct conf_field *fields,
	      size_t n, void *target, struct bw_err *err)
{
	return bind_map(map, fields, n, target, false, err);
}
