/*
 * Walking a loaded tree: positioned error messages, key paths, lookup,
 * kind checks, iteration and unknown-key rejection with "did you mean"
 * suggestions.
 *
 * Invariants: nothing here allocates; key paths and messages are built in
 * fixed buffers and truncated visibly ("...") rather than dropped, since
 * bw_err.msg has 256 bytes in any case.
 */
#include "conf/conf_int.h"
#include "conf/conf_limits.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------- key paths */

struct pathbuf {
	char *p;
	size_t cap, len;
	bool trunc;
};

static void pb_put(struct pathbuf *b, const char *s, size_t n)
{
	if (b->trunc)
		return;
	if (n >= b->cap - b->len) {
		b->trunc = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Keys that read as identifiers print bare; others (host names with
 * dots, keys with spaces) print as ["..."] so the path stays readable. */
static bool key_is_simple(const char *k)
{
	if (!*k)
		return false;
	for (const char *c = k; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (!((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
		      (u >= '0' && u <= '9') || u == '_' || u == '-'))
			return false;
	}
	return true;
}

char *conf_node_path(const struct conf_node *node, char *out, size_t cap)
{
	/* Collect the chain root..node; depth is bounded by the loader, plus
	 * one stand-in node for messages and defaults. */
	const struct conf_node *chain[CONF_MAX_DEPTH_HARD + 4];
	size_t n = 0;
	struct pathbuf b = {out, cap, 0, false};

	if (cap == 0)
		return out;
	out[0] = '\0';
	for (const struct conf_node *c = node; c && c->parent; c = c->parent) {
		if (n == BW_ARRAY_LEN(chain)) {
			b.trunc = true;
			break;
		}
		chain[n++] = c;
	}
	while (n-- > 0 && !b.trunc) {
		const struct conf_node *c = chain[n];
		if (c->parent->kind == CONF_SEQUENCE) {
			char idx[32];
			int k = snprintf(idx, sizeof(idx), "[%zu]", c->index);
			pb_put(&b, idx, k > 0 ? (size_t)k : 0);
		} else if (c->key && key_is_simple(c->key)) {
			if (b.len)
				pb_put(&b, ".", 1);
			pb_put(&b, c->key, strlen(c->key));
		} else if (c->key) {
			pb_put(&b, "[\"", 2);
			pb_put(&b, c->key, strlen(c->key));
			pb_put(&b, "\"]", 2);
		}
	}
	if (b.trunc) {
		/* Keep what fits and mark the cut. */
		size_t keep = b.len;
		if (cap >= 4 && keep > cap - 4)
			keep = cap - 4;
		if (cap >= 4) {
			memcpy(out + keep, "...", 4);
		} else {
			out[0] = '\0';
		}
	}
	return out;
}

const char *conf_node_describe(const struct conf_node *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case CONF_MAPPING:
		return "a mapping";
	case CONF_SEQUENCE:
		return "a sequence";
	case CONF_SCALAR:
		break;
	}
	if (n->null)
		return "null";
	return n->quoted ? "a quoted string" : "a scalar";
}

/* -------------------------------------------------------------- messages */

int conf_verr(const struct conf_node *node, struct bw_err *err, int code,
	      const char *reason, bool at_key, const char *fmt, va_list ap)
{
	char path[CONF_KEYPATH_MAX];
	char msg[256];
	const char *name = node && node->doc ? node->doc->name : "<config>";
	uint32_t line = 0, col = 0;

	if (!err)
		return -1;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	conf_node_path(node, path, sizeof(path));
	if (node) {
		line = node->line;
		col = node->column;
		if (at_key && node->key && node->key_line) {
			line = node->key_line;
			col = node->key_column;
		}
	}
	if (line == 0)
		return bw_err_set(err, code, "conf", reason,
				  "%s: %s%s(default) %s", name, path,
				  path[0] ? ": " : "", msg);
	if (path[0])
		return bw_err_set(err, code, "conf", reason, "%s:%u:%u: %s: %s",
				  name, line, col, path, msg);
	return bw_err_set(err, code, "conf", reason, "%s:%u:%u: %s", name, line,
			  col, msg);
}

int conf_err(const struct conf_node *node, struct bw_err *err,
	     const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_verr(node, err, 400, reason, false, fmt, ap);
	va_end(ap);
	return -1;
}

int conf_err_key(const struct conf_node *node, struct bw_err *err,
		 const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_verr(node, err, 400, reason, true, fmt, ap);
	va_end(ap);
	return -1;
}

int conf_err_code(const struct conf_node *node, struct bw_err *err, int code,
		  const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_verr(node, err, code, reason, false, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---------------------------------------------------------------- lookup */

const struct conf_node *conf_get(const struct conf_node *map, const char *key)
{
	if (!map || map->kind != CONF_MAPPING || !key || !map->sorted)
		return NULL;
	size_t lo = 0, hi = map->nitems;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(map->sorted[mid]->key, key);
		if (c == 0)
			return map->sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int conf_expect(const struct conf_node *node, enum conf_kind kind,
		struct bw_err *err)
{
	static const char *const names[] = {
	    [CONF_SCALAR] = "a single value",
	    [CONF_MAPPING] = "a mapping (key: value pairs)",
	    [CONF_SEQUENCE] = "a sequence (a list of - items)",
	};
	if (node && node->kind == kind)
		return 0;
	return conf_err(node, err, "type", "must be %s, not %s", names[kind],
			conf_node_describe(node));
}

size_t conf_len(const struct conf_node *node)
{
	if (!node || node->kind == CONF_SCALAR)
		return 0;
	return node->nitems;
}

const struct conf_node *conf_at(const struct conf_node *node, size_t i)
{
	if (!node || node->kind == CONF_SCALAR || i >= node->nitems)
		return NULL;
	return node->items[i];
}

/* ------------------------------------------------------------ suggestions */

/* Optimal-string-alignment distance: Levenshtein plus adjacent
 * transpositions, since "prot" for "port" is the typical typo. */
size_t conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > CONF_SUGGEST_MAX_LEN || lb > CONF_SUGGEST_MAX_LEN)
		return SIZE_MAX;
	size_t r0[CONF_SUGGEST_MAX_LEN + 1], r1[CONF_SUGGEST_MAX_LEN + 1],
	    r2[CONF_SUGGEST_MAX_LEN + 1];
	size_t *pp = r0, *prev = r1, *cur = r2;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
		}
		size_t *t = pp;
		pp = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

const char *conf_suggest(const char *word, const char *const *cands)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	if (!word || !cands)
		return NULL;
	for (size_t i = 0; cands[i]; i++) {
		size_t d = conf_edit_distance(word, cands[i]);
		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	if (!best)
		return NULL;
	/* Allow more slack for longer words: 1 edit up to 4 characters, 2
	 * up to 8, 3 beyond; and never suggest a word that shares almost
	 * nothing with the input. */
	size_t len = strlen(best);
	size_t slack = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	if (best_d == 0 || best_d > slack || best_d >= strlen(word))
		return NULL;
	return best;
}

int conf_check_keys(const struct conf_node *map, const char *const *allowed,
		    struct bw_err *err)
{
	if (conf_expect(map, CONF_MAPPING, err) < 0)
		return -1;
	for (size_t i = 0; i < map->nitems; i++) {
		const struct conf_node *it = map->items[i];
		bool ok = false;
		for (size_t k = 0; allowed && allowed[k]; k++) {
			if (strcmp(allowed[k], it->key) == 0) {
				ok = true;
				break;
			}
		}
		if (ok)
			continue;
		const char *s = conf_suggest(it->key, allowed);
		if (s)
			return conf_err_key(it, err, "unknown_key",
					    "unknown key '%s' (did you mean "
					    "'%s'?)",
					    it->key, s);
		/* No close match: list what is allowed if it fits. */
		char list[160];
		size_t used = 0;
		bool fits = allowed && allowed[0];
		for (size_t k = 0; fits && allowed[k]; k++) {
			int w = snprintf(list + used, sizeof(list) - used,
					 "%s%s", k ? ", " : "", allowed[k]);
			if (w < 0 || (size_t)w >= sizeof(list) - used)
				fits = false;
			else
				used += (size_t)w;
		}
		if (fits)
			return conf_err_key(it, err, "unknown_key",
					    "unknown key '%s' (allowed: %s)",
					    it->key, list);
		return conf_err_key(it, err, "unknown_key", "unknown key '%s'",
				    it->key);
	}
	return 0;
}

void conf_default_node(struct conf_node *out, const struct conf_node *map,
		       const char *key, const char *text)
{
	memset(out, 0, sizeof(*out));
	out->kind = CONF_SCALAR;
	out->doc = map ? map->doc : NULL;
	out->parent = map;
	out->key = key;
	out->str = text;
	out->len = strlen(text);
	/* Defaults are written as YAML plain text: "~" or "" is null. */
	out->null = out->len == 0 || strcmp(text, "~") == 0 ||
		    strcmp(text, "null") == 0;
}
