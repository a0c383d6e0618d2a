/*
 * json_write.c — the writer: compact JSON appended to a bounded bw_buf.
 *
 * The writer tracks nesting, commas and whether a key is due, so whatever
 * order of calls a caller makes, the buffer never holds invalid JSON
 * without the writer knowing: an out-of-order call, exceeding
 * JSON_WRITER_MAX_DEPTH or reaching the buffer's ceiling sets `failed`,
 * after which every call is a no-op and json_writer_finish returns -1.
 * (On failure the buffer holds a truncated prefix; callers discard it.)
 *
 * Strings use RFC 8785's minimal escaping; bytes that are not UTF-8 are
 * written as U+FFFD, so output is valid UTF-8 whatever the input.
 * Doubles use the ECMAScript form; NaN and infinities, which JSON cannot
 * express, are written as null (as JSON.stringify does).
 */
#include "json/json_int.h"

#include <string.h>

void json_writer_init(struct json_writer *w, struct bw_buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static inline bool w_in_object(const struct json_writer *w)
{
	return w->depth > 0 && (w->in_object >> (w->depth - 1)) & 1;
}

static inline void w_put(struct json_writer *w, const void *p, size_t n)
{
	if (!w->failed && bw_buf_append(w->out, p, n) < 0)
		w->failed = true;
}

/* Before any value: a comma in arrays, a key must precede it in objects,
 * and only one value at the top. Returns false if the value may not be
 * written. */
static bool w_begin_value(struct json_writer *w)
{
	if (w->failed)
		return false;
	if (w_in_object(w)) {
		if (!w->after_key) {
			w->failed = true;
			return false;
		}
		w->after_key = false;
		return true;
	}
	if (w->depth == 0) {
		if (w->need_comma[0]) { /* a second top-level value */
			w->failed = true;
			return false;
		}
		w->need_comma[0] = true;
		return true;
	}
	if (w->need_comma[w->depth])
		w_put(w, ",", 1);
	w->need_comma[w->depth] = true;
	return !w->failed;
}

static void w_open(struct json_writer *w, char c, bool obj)
{
	if (!w_begin_value(w))
		return;
	if (w->depth >= JSON_WRITER_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	w->depth++;
	w->need_comma[w->depth] = false;
	if (obj)
		w->in_object |= (uint64_t)1 << (w->depth - 1);
	else
		w->in_object &= ~((uint64_t)1 << (w->depth - 1));
	w_put(w, &c, 1);
}

static void w_close(struct json_writer *w, char c, bool obj)
{
	if (w->failed)
		return;
	if (w->depth == 0 || w_in_object(w) != obj || w->after_key) {
		w->failed = true;
		return;
	}
	w->depth--;
	w_put(w, &c, 1);
}

void json_write_object_begin(struct json_writer *w)
{
	w_open(w, '{', true);
}

void json_write_object_end(struct json_writer *w)
{
	w_close(w, '}', true);
}

void json_write_array_begin(struct json_writer *w)
{
	w_open(w, '[', false);
}

void json_write_array_end(struct json_writer *w)
{
	w_close(w, ']', false);
}

static void w_keyn(struct json_writer *w, const char *key, size_t n)
{
	if (w->failed)
		return;
	if (!w_in_object(w) || w->after_key) {
		w->failed = true;
		return;
	}
	if (w->need_comma[w->depth])
		w_put(w, ",", 1);
	w->need_comma[w->depth] = true;
	if (!w->failed && json_escape_append(w->out, key, n) < 0)
		w->failed = true;
	w_put(w, ":", 1);
	w->after_key = true;
}

void json_write_key(struct json_writer *w, const char *key)
{
	w_keyn(w, key, strlen(key));
}

void json_write_stringn(struct json_writer *w, const char *s, size_t n)
{
	if (!w_begin_value(w))
		return;
	if (json_escape_append(w->out, s, n) < 0)
		w->failed = true;
}

void json_write_string(struct json_writer *w, const char *s)
{
	json_write_stringn(w, s, strlen(s));
}

void json_write_int(struct json_writer *w, int64_t v)
{
	char b[JSON_NUM_BUF];
	size_t n = json_i64_format(v, b);
	if (w_begin_value(w))
		w_put(w, b, n);
}

void json_write_uint(struct json_writer *w, uint64_t v)
{
	char b[JSON_NUM_BUF];
	size_t n = json_u64_format(v, b);
	if (w_begin_value(w))
		w_put(w, b, n);
}

void json_write_double(struct json_writer *w, double v)
{
	char b[JSON_NUM_BUF];
	size_t n = json_num_format(v, b);
	if (!w_begin_value(w))
		return;
	if (n)
		w_put(w, b, n);
	else
		w_put(w, "null", 4);
}

void json_write_bool(struct json_writer *w, bool v)
{
	if (w_begin_value(w))
		w_put(w, v ? "true" : "false", v ? 4 : 5);
}

void json_write_null(struct json_writer *w)
{
	if (w_begin_value(w))
		w_put(w, "null", 4);
}

void json_write_value(struct json_writer *w, const struct json_value *v)
{
	if (w->failed)
		return;
	if (!v) {
		w->failed = true;
		return;
	}
	switch (v->type) {
	case JSON_NULL:
		json_write_null(w);
		break;
	case JSON_FALSE:
		json_write_bool(w, false);
		break;
	case JSON_TRUE:
		json_write_bool(w, true);
		break;
	case JSON_NUMBER:
		/* the source text is a validated JSON number: keep it */
		if (!v->u.num.raw.len) /* not from the parser */
			json_write_double(w, v->u.num.d);
		else if (w_begin_value(w))
			w_put(w, v->u.num.raw.p, v->u.num.raw.len);
		break;
	case JSON_STRING:
		json_write_stringn(w, v->u.str.p, v->u.str.len);
		break;
	case JSON_ARRAY:
		json_write_array_begin(w);
		for (size_t i = 0; i < v->u.arr.n && !w->failed; i++)
			json_write_value(w, v->u.arr.items[i]);
		json_write_array_end(w);
		break;
	case JSON_OBJECT:
		json_write_object_begin(w);
		for (size_t i = 0; i < v->u.obj.n && !w->failed; i++) {
			const struct json_member *m = &v->u.obj.members[i];
			w_keyn(w, m->key.p, m->key.len);
			json_write_value(w, m->value);
		}
		json_write_object_end(w);
		break;
	default:
		w->failed = true;
		break;
	}
}

void json_write_kv_string(struct json_writer *w, const char *key,
			  const char *s)
{
	json_write_key(w, key);
	json_write_string(w, s);
}

void json_write_kv_int(struct json_writer *w, const char *key, int64_t v)
{
	json_write_key(w, key);
	json_write_int(w, v);
}

void json_write_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_write_key(w, key);
	json_write_bool(w, v);
}

int json_writer_finish(struct json_writer *w)
{
	if (w->failed || w->depth != 0 || !w->need_comma[0])
		return -1;
	return 0;
}
