/*
 * json_canon.c — RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Output: no whitespace; object members sorted by the UTF-16 code units
 * of their (decoded) names, recursively; arrays in order; strings with
 * minimal escaping (json_escape_append); numbers as ECMAScript prints the
 * double they denote (so 1.0, 1e0 and 10e-1 all become 1, and -0 becomes
 * 0). The number's source text is deliberately ignored: JCS is defined
 * over the I-JSON data model, where every number is a double.
 *
 * A tree whose objects hold duplicate names (parsed with JSON_DUP_LAST)
 * has no canonical form, and neither have NaN or infinities; both fail.
 * Recursion is bounded by JSON_MAX_DEPTH_HARD, the deepest tree the
 * parser can build.
 */
#include "json/json_int.h"
#include "json/json_limits.h"

#include <stdlib.h>
#include <string.h>

static int canon_member_cmp(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;
	return json_utf16_cmp(x->key, y->key);
}

static int canon_value(const struct json_value *v, struct bw_buf *out,
		       size_t depth);

static int canon_object(const struct json_value *v, struct bw_buf *out,
			size_t depth)
{
	size_t n = v->u.obj.n;
	if (n == 0)
		return bw_buf_append(out, "{}", 2);
	/* Sort pointers, not members: the tree is the caller's and const. */
	const struct json_member *local[32];
	const struct json_member **order = local;
	if (n > BW_ARRAY_LEN(local)) {
		if (n > SIZE_MAX / sizeof(*order))
			return -1;
		order = malloc(n * sizeof(*order));
		if (!order)
			return -1;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &v->u.obj.members[i];
	qsort(order, n, sizeof(*order), canon_member_cmp);
	int rc = bw_buf_append_byte(out, '{');
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i > 0 && json_utf16_cmp(order[i - 1]->key, order[i]->key) ==
				     0) {
			rc = -1; /* duplicate name: no canonical form */
			break;
		}
		if (i > 0)
			rc = bw_buf_append_byte(out, ',');
		if (rc == 0)
			rc = json_escape_append(out, order[i]->key.p,
						order[i]->key.len);
		if (rc == 0)
			rc = bw_buf_append_byte(out, ':');
		if (rc == 0)
			rc = canon_value(order[i]->value, out, depth + 1);
	}
	if (rc == 0)
		rc = bw_buf_append_byte(out, '}');
	if (order != local)
		free(order);
	return rc;
}

static int canon_value(const struct json_value *v, struct bw_buf *out,
		       size_t depth)
{
	if (!v || depth > JSON_MAX_DEPTH_HARD)
		return -1;
	switch (v->type) {
	case JSON_NULL:
		return bw_buf_append(out, "null", 4);
	case JSON_FALSE:
		return bw_buf_append(out, "false", 5);
	case JSON_TRUE:
		return bw_buf_append(out, "true", 4);
	case JSON_NUMBER: {
		char b[JSON_NUM_BUF];
		size_t n = json_num_format(v->u.num.d, b);
		if (!n)
			return -1;
		return bw_buf_append(out, b, n);
	}
	case JSON_STRING:
		return json_escape_append(out, v->u.str.p, v->u.str.len);
	case JSON_ARRAY:
		if (bw_buf_append_byte(out, '[') < 0)
			return -1;
		for (size_t i = 0; i < v->u.arr.n; i++) {
			if (i > 0 && bw_buf_append_byte(out, ',') < 0)
				return -1;
			if (canon_value(v->u.arr.items[i], out, depth + 1) < 0)
				return -1;
		}
		return bw_buf_append_byte(out, ']');
	case JSON_OBJECT:
		return canon_object(v, out, depth);
	default:
		return -1;
	}
}

int json_canonicalize(const struct json_value *v, struct bw_buf *out)
{
	return canon_value(v, out, 0);
}

int json_canonicalize_text(const char *p, size_t len, struct bw_buf *out,
			   struct bw_err *err)
{
	/* The arena needs no ceiling of its own: the default limits bound
	 * the document, and with it the tree. */
	struct bw_arena *a = bw_arena_new(len < 4096 ? 4096 : 65536, 0);
	if (!a)
		return bw_err_set(err, 500, "json", "memory", "out of memory");
	int rc = -1;
	struct json_value *v = json_parse(a, p, len, NULL, err);
	if (v) {
		rc = json_canonicalize(v, out);
		if (rc < 0)
			bw_err_set(err, 413, "json", "too_large",
				   "canonical form does not fit the buffer");
	}
	bw_arena_free(a);
	return rc;
}
