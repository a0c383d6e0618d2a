/*
 * json_get.c — lookups in a parsed tree. Objects keep members in document
 * order; lookups scan from the end so that, when duplicates were allowed
 * (JSON_DUP_LAST), the last member wins as in ECMAScript. Keys containing
 * NUL bytes can never match a C-string key.
 */
#include "json/json_int.h"

#include <string.h>

const struct json_value *json_get(const struct json_value *v, const char *key)
{
	if (!v || v->type != JSON_OBJECT || !key)
		return NULL;
	size_t n = strlen(key);
	for (size_t i = v->u.obj.n; i-- > 0;) {
		const struct json_member *m = &v->u.obj.members[i];
		if (m->key.len == n && memcmp(m->key.p, key, n) == 0)
			return m->value;
	}
	return NULL;
}

const char *json_get_str(const struct json_value *v, const char *key,
			 const char *fallback)
{
	const struct json_value *s = json_get(v, key);
	return s && s->type == JSON_STRING ? s->u.str.p : fallback;
}

int64_t json_get_int(const struct json_value *v, const char *key,
		     int64_t fallback)
{
	const struct json_value *x = json_get(v, key);
	return x && x->type == JSON_NUMBER && x->u.num.is_int ? x->u.num.i
							      : fallback;
}

bool json_get_bool(const struct json_value *v, const char *key, bool fallback)
{
	const struct json_value *x = json_get(v, key);
	if (x && x->type == JSON_TRUE)
		return true;
	if (x && x->type == JSON_FALSE)
		return false;
	return fallback;
}
