/*
 * waf_body_json.c — the JSON request body processor. The body is parsed
 * with bulwark's strict reader (src/json) into the transaction arena and
 * every scalar becomes an argument named as ModSecurity v3 names it:
 * object members "json.a.b", array elements "json.list.array_0", a
 * top-level array "json.array_0". Strings are decoded UTF-8, numbers keep
 * their source text, booleans are "true"/"false", null is "". JSON
 * arguments go to ARGS and ARGS_NAMES only (not ARGS_POST), as in v3.
 *
 * A parse error sets REQBODY_ERROR=1 and REQBODY_ERROR_MSG ("JSON parsing
 * error: ..."); rules decide what to do (the CRS set-up rejects).
 */
#include "waf/waf_int.h"
#include "json/json.h"

#include <stdio.h>
#include <string.h>

struct jpath {
	char buf[4096];
	size_t len;
};

static int add_value(struct waf_tx *tx, const struct jpath *p,
		     const struct json_value *v)
{
	char num[32];
	const char *s = "";
	size_t n = 0;
	switch (v->type) {
	case JSON_NULL:
		break;
	case JSON_TRUE:
		s = "true";
		n = 4;
		break;
	case JSON_FALSE:
		s = "false";
		n = 5;
		break;
	case JSON_NUMBER:
		s = v->u.num.raw.p;
		n = v->u.num.raw.len;
		break;
	case JSON_STRING:
		s = v->u.str.p;
		n = v->u.str.len;
		break;
	default:
		(void)num;
		return 0;
	}
	return waf_add_arg(tx, "JSON", p->buf, p->len, s, n);
}

/* Append ".seg" (or "seg" at the root) to the path; -1 if it is too long
 * (such arguments are named by their truncated path, never dropped). */
static size_t push(struct jpath *p, const char *sep, const char *seg,
		   size_t n)
{
	size_t old = p->len, sl = strlen(sep);
	if (p->len + sl + n >= sizeof(p->buf))
		n = p->len + sl < sizeof(p->buf) ? sizeof(p->buf) - 1 - p->len - sl
						 : 0;
	if (p->len + sl < sizeof(p->buf)) {
		memcpy(p->buf + p->len, sep, sl);
		p->len += sl;
	}
	memcpy(p->buf + p->len, seg, n);
	p->len += n;
	p->buf[p->len] = 0;
	return old;
}

static int walk(struct waf_tx *tx, struct jpath *p, const struct json_value *v)
{
	if (v->type == JSON_OBJECT) {
		for (size_t i = 0; i < v->u.obj.n; i++) {
			const struct json_member *m = &v->u.obj.members[i];
			/* v3 names an empty key "empty-key" */
			const char *k = m->key.len ? m->key.p : "empty-key";
			size_t kl = m->key.len ? m->key.len : 9;
			size_t old = push(p, ".", k, kl);
			int rc = walk(tx, p, m->value);
			p->len = old;
			p->buf[old] = 0;
			if (rc)
				return rc;
		}
		return 0;
	}
	if (v->type == JSON_ARRAY) {
		for (size_t i = 0; i < v->u.arr.n; i++) {
			char seg[40];
			int l = bw_snprintf(seg, sizeof(seg), "array_%zu", i);
			size_t old = push(p, ".", seg, (size_t)l);
			int rc = walk(tx, p, v->u.arr.items[i]);
			p->len = old;
			p->buf[old] = 0;
			if (rc)
				return rc;
		}
		return 0;
	}
	return add_value(tx, p, v);
}

int waf_body_json(struct waf_tx *tx, const char *body, size_t n)
{
	if (n == 0)
		return 0; /* v3 flags no error for an empty body */
	struct json_limits lim = {
		.max_bytes = n,
		.max_depth = WAF_BODY_DEPTH_MAX,
		.max_string = n,
		.max_members = 1u << 20,
		.dup = JSON_DUP_LAST,
	};
	struct bw_err err = { 0 };
	struct json_value *root = json_parse(tx->arena, body, n, &lim, &err);
	if (!root) {
		if (err.code == 500) {
			tx->oom = true;
			return -1;
		}
		char msg[300];
		int l = bw_snprintf(msg, sizeof(msg), "JSON parsing error: %s",
				    err.msg);
		if (l < 0)
			l = (int)strlen(msg);
		if (waf_scal_set(tx, WAF_VAR_REQBODY_ERROR, "1", 1) ||
		    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR, "1", 1) ||
		    waf_scal_set(tx, WAF_VAR_REQBODY_ERROR_MSG, msg, (size_t)l) ||
		    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR_MSG, msg,
				 (size_t)l))
			return -1;
		return 1;
	}
	struct jpath p = { .len = 4 };
	memcpy(p.buf, "json", 5);
	if (walk(tx, &p, root) != 0)
		return -1;
	return 0;
}
