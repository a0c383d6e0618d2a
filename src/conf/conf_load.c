/*
 * The YAML loader: libyaml's event parser drives an explicit stack of open
 * collections, and every node is built in the caller's arena as soon as
 * its event arrives, so no libyaml object outlives the loop iteration that
 * produced it (libyaml's own document loader would resolve aliases, which
 * we refuse, and would hide the per-event positions we report).
 *
 * Invariants:
 *  - the input is valid UTF-8 before libyaml sees it (checked here so the
 *    message carries line:column), and libyaml is told it is UTF-8;
 *  - every limit of conf_limits.h is checked before the memory it guards
 *    is allocated;
 *  - on any failure the scratch vectors are freed, the libyaml event and
 *    parser are deleted, and NULL is returned with err set; nodes already
 *    in the arena are simply abandoned with it.
 */
#include "conf/conf_int.h"
#include "conf/conf_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct frame {
	struct conf_node *node;
	struct conf_node **v; /* scratch (malloc) until the collection ends */
	size_t n, cap;
	/* mappings: the key waiting for its value */
	bool have_key;
	const char *key;
	uint32_t key_line, key_column;
};

struct loader {
	struct conf_doc *doc;
	struct bw_arena *arena;
	struct conf_limits lim;
	const char *text;
	size_t len;
	struct frame stack[CONF_MAX_DEPTH_HARD];
	size_t depth;
	struct bw_err *err;
};

static size_t clamp_limit(size_t v, size_t def, size_t hard)
{
	if (v == 0)
		return def;
	return v > hard ? hard : v;
}

static void limits_resolve(struct conf_limits *out,
			   const struct conf_limits *in)
{
	struct conf_limits z = {0};
	if (!in)
		in = &z;
	out->max_bytes = clamp_limit(in->max_bytes, CONF_MAX_BYTES_DEFAULT,
				     CONF_MAX_BYTES_HARD);
	out->max_depth = clamp_limit(in->max_depth, CONF_MAX_DEPTH_DEFAULT,
				     CONF_MAX_DEPTH_HARD);
	out->max_nodes = clamp_limit(in->max_nodes, CONF_MAX_NODES_DEFAULT,
				     CONF_MAX_NODES_HARD);
	out->max_scalar = clamp_limit(in->max_scalar, CONF_MAX_SCALAR_DEFAULT,
				      CONF_MAX_SCALAR_HARD);
	out->max_key =
	    clamp_limit(in->max_key, CONF_MAX_KEY_DEFAULT, CONF_MAX_KEY_HARD);
	out->max_keys = clamp_limit(in->max_keys, CONF_MAX_KEYS_DEFAULT,
				    CONF_MAX_KEYS_HARD);
	out->max_items = clamp_limit(in->max_items, CONF_MAX_ITEMS_DEFAULT,
				     CONF_MAX_ITEMS_HARD);
}

/*
 * Report a problem at a libyaml mark. A position-only node stands in for
 * the thing that never became a node, placed where it would have gone in
 * the tree, so the message carries the key path of the value being read.
 */
static int mark_err(struct loader *L, const yaml_mark_t *m, int code,
		    const char *reason, const char *fmt, ...) BW_PRINTF(5, 6);
static int mark_err(struct loader *L, const yaml_mark_t *m, int code,
		    const char *reason, const char *fmt, ...)
{
	struct conf_node tmp;
	memset(&tmp, 0, sizeof(tmp));
	tmp.doc = L->doc;
	tmp.line =
	    m->line >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)m->line + 1;
	tmp.column =
	    m->column >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)m->column + 1;
	if (L->depth > 0) {
		const struct frame *f = &L->stack[L->depth - 1];
		tmp.parent = f->node;
		if (f->node->kind == CONF_MAPPING && f->have_key)
			tmp.key = f->key;
		else if (f->node->kind == CONF_SEQUENCE)
			tmp.index = f->n;
	}
	va_list ap;
	va_start(ap, fmt);
	conf_verr(&tmp, L->err, code, reason, false, fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(struct loader *L)
{
	return bw_err_set(L->err, 500, "conf", "nomem",
			  "%s: out of memory while loading the configuration",
			  L->doc->name);
}

/* Line and column (1-based, column in characters) of byte offset off. */
static void offset_position(const char *s, size_t len, size_t off,
			    uint32_t *line, uint32_t *col)
{
	uint32_t l = 1, c = 1;
	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\n' ||
		    (ch == '\r' && (i + 1 >= len || s[i + 1] != '\n'))) {
			if (l < UINT32_MAX)
				l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80 && ch != '\r') {
			if (c < UINT32_MAX)
				c++;
		}
	}
	*line = l;
	*col = c;
}

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. Returns the byte offset of the first bad sequence, or len.
 */
static size_t utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint32_t cp, min;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return i;
		}
		if (len - i <= need)
			return i;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += need + 1;
	}
	return len;
}

static struct conf_node *node_new(struct loader *L, enum conf_kind kind,
				  const yaml_mark_t *m)
{
	if (L->doc->nodes >= L->lim.max_nodes) {
		mark_err(L, m, 413, "limit", "too many nodes (limit %zu)",
			 L->lim.max_nodes);
		return NULL;
	}
	struct conf_node *n = bw_arena_zalloc(L->arena, sizeof(*n));
	if (!n) {
		nomem(L);
		return NULL;
	}
	L->doc->nodes++;
	n->kind = kind;
	n->doc = L->doc;
	n->line =
	    m->line >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)m->line + 1;
	n->column =
	    m->column >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)m->column + 1;
	if (L->depth > 0)
		n->parent = L->stack[L->depth - 1].node;
	return n;
}

/* Attach a finished node to the open collection (or make it the root). */
static int attach(struct loader *L, struct conf_node *n, const yaml_mark_t *m)
{
	if (L->depth == 0) {
		L->doc->root = n;
		return 0;
	}
	struct frame *f = &L->stack[L->depth - 1];
	if (f->node->kind == CONF_MAPPING) {
		BW_ASSERT(f->have_key);
		n->key = f->key;
		n->key_line = f->key_line;
		n->key_column = f->key_column;
		f->have_key = false;
	} else {
		if (f->n >= L->lim.max_items)
			return mark_err(L, m, 413, "limit",
					"too many items in one sequence "
					"(limit %zu)",
					L->lim.max_items);
		n->index = f->n;
	}
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 8;
		struct conf_node **nv = realloc(f->v, ncap * sizeof(*nv));
		if (!nv)
			return nomem(L);
		f->v = nv;
		f->cap = ncap;
	}
	f->v[f->n++] = n;
	return 0;
}

static bool plain_null(const char *s, size_t len)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	for (size_t i = 0; i < BW_ARRAY_LEN(nulls); i++)
		if (strlen(nulls[i]) == len && memcmp(s, nulls[i], len) == 0)
			return true;
	return false;
}

/* Anchors and tags are refused on every node kind alike. */
static int check_props(struct loader *L, const yaml_event_t *ev,
		       const yaml_char_t *anchor, const yaml_char_t *tag)
{
	if (anchor)
		return mark_err(L, &ev->start_mark, 400, "alias",
				"anchors (&%.40s) are not allowed; repeat the "
				"value instead",
				(const char *)anchor);
	if (tag)
		return mark_err(L, &ev->start_mark, 400, "tag",
				"tags (%.40s) are not allowed; write the value "
				"without a tag",
				(const char *)tag);
	return 0;
}

static int on_key(struct loader *L, struct frame *f, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	if (len == 0)
		return mark_err(L, &ev->start_mark, 400, "key",
				"empty mapping key");
	if (len > L->lim.max_key)
		return mark_err(L, &ev->start_mark, 413, "limit",
				"mapping key longer than %zu bytes",
				L->lim.max_key);
	if (memchr(v, '\0', len))
		return mark_err(L, &ev->start_mark, 400, "key",
				"mapping key contains a NUL character");
	if (f->n >= L->lim.max_keys)
		return mark_err(L, &ev->start_mark, 413, "limit",
				"too many keys in one mapping (limit %zu)",
				L->lim.max_keys);
	f->key = bw_arena_strndup(L->arena, v, len);
	if (!f->key)
		return nomem(L);
	f->have_key = true;
	f->key_line = (uint32_t)ev->start_mark.line + 1;
	f->key_column = (uint32_t)ev->start_mark.column + 1;
	return 0;
}

static int on_scalar(struct loader *L, const yaml_event_t *ev)
{
	if (check_props(L, ev, ev->data.scalar.anchor, ev->data.scalar.tag))
		return -1;
	struct frame *f = L->depth ? &L->stack[L->depth - 1] : NULL;
	if (f && f->node->kind == CONF_MAPPING && !f->have_key)
		return on_key(L, f, ev);
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	if (len > L->lim.max_scalar)
		return mark_err(L, &ev->start_mark, 413, "limit",
				"value longer than %zu bytes",
				L->lim.max_scalar);
	if (memchr(v, '\0', len))
		return mark_err(L, &ev->start_mark, 400, "type",
				"value contains a NUL character");
	struct conf_node *n = node_new(L, CONF_SCALAR, &ev->start_mark);
	if (!n)
		return -1;
	n->str = bw_arena_strndup(L->arena, v, len);
	if (!n->str)
		return nomem(L);
	n->len = len;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	n->null = !n->quoted && plain_null(v, len);
	return attach(L, n, &ev->start_mark);
}

static int on_start(struct loader *L, const yaml_event_t *ev,
		    enum conf_kind kind, const yaml_char_t *anchor,
		    const yaml_char_t *tag)
{
	if (check_props(L, ev, anchor, tag))
		return -1;
	struct frame *f = L->depth ? &L->stack[L->depth - 1] : NULL;
	if (f && f->node->kind == CONF_MAPPING && !f->have_key)
		return mark_err(L, &ev->start_mark, 400, "key",
				"mapping keys must be plain strings, not a %s",
				kind == CONF_MAPPING ? "mapping" : "sequence");
	if (L->depth >= L->lim.max_depth)
		return mark_err(L, &ev->start_mark, 413, "limit",
				"nested deeper than %zu levels",
				L->lim.max_depth);
	struct conf_node *n = node_new(L, kind, &ev->start_mark);
	if (!n)
		return -1;
	/* Key and index are known now; attach() would record them only at
	 * the end, but children's messages need the path meanwhile. */
	if (f && f->node->kind == CONF_MAPPING) {
		n->key = f->key;
		n->key_line = f->key_line;
		n->key_column = f->key_column;
	} else if (f) {
		n->index = f->n;
	}
	struct frame *nf = &L->stack[L->depth++];
	memset(nf, 0, sizeof(*nf));
	nf->node = n;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct conf_node *x = *(const struct conf_node *const *)a;
	const struct conf_node *y = *(const struct conf_node *const *)b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	if (x->key_line != y->key_line)
		return x->key_line < y->key_line ? -1 : 1;
	if (x->key_column != y->key_column)
		return x->key_column < y->key_column ? -1 : 1;
	return 0;
}

static bool before(const struct conf_node *a, const struct conf_node *b)
{
	return a->key_line < b->key_line ||
	       (a->key_line == b->key_line && a->key_column < b->key_column);
}

static int on_end(struct loader *L, const yaml_event_t *ev)
{
	BW_ASSERT(L->depth > 0);
	struct frame *f = &L->stack[L->depth - 1];
	struct conf_node *n = f->node;
	if (f->n) {
		n->items = bw_arena_alloc(L->arena, f->n * sizeof(*n->items));
		if (!n->items)
			return nomem(L);
		memcpy(n->items, f->v, f->n * sizeof(*n->items));
	}
	n->nitems = f->n;
	if (n->kind == CONF_MAPPING && f->n) {
		n->sorted = bw_arena_alloc(L->arena, f->n * sizeof(*n->sorted));
		if (!n->sorted)
			return nomem(L);
		memcpy(n->sorted, f->v, f->n * sizeof(*n->sorted));
		qsort(n->sorted, f->n, sizeof(*n->sorted), cmp_key);
		/* Equal keys are adjacent and ordered by position; report
		 * the duplicate that comes first in the file, against the
		 * first definition of its key. */
		const struct conf_node *dup = NULL, *first = NULL;
		size_t run_start = 0;
		for (size_t i = 1; i < f->n; i++) {
			if (strcmp(n->sorted[i - 1]->key, n->sorted[i]->key)) {
				run_start = i;
				continue;
			}
			if (!dup || before(n->sorted[i], dup)) {
				dup = n->sorted[i];
				first = n->sorted[run_start];
			}
		}
		if (dup && dup->key_line == first->key_line)
			return conf_err_key(dup, L->err, "duplicate_key",
					    "duplicate key '%s' (first defined "
					    "at line %u, column %u)",
					    dup->key, first->key_line,
					    first->key_column);
		if (dup)
			return conf_err_key(dup, L->err, "duplicate_key",
					    "duplicate key '%s' (first defined "
					    "at line %u)",
					    dup->key, first->key_line);
	}
	free(f->v);
	f->v = NULL;
	L->depth--;
	return attach(L, n, &ev->start_mark);
}

/* Whether the character at 1-based (line, col) is a tab: libyaml's
 * message for tab indentation ("found character that cannot start any
 * token") does not say so, and it is the usual cause. */
static bool is_tab_at(const struct loader *L, uint32_t line, uint32_t col)
{
	uint32_t l = 1, c = 1;
	for (size_t i = 0; i < L->len; i++) {
		unsigned char ch = (unsigned char)L->text[i];
		if (l == line && c == col)
			return ch == '\t';
		if (l > line)
			return false;
		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;
		}
	}
	return false;
}

static int syntax_err(struct loader *L, const yaml_parser_t *p)
{
	uint32_t line, col;
	if (p->error == YAML_MEMORY_ERROR)
		return nomem(L);
	if (p->error == YAML_READER_ERROR) {
		offset_position(L->text, L->len, p->problem_offset, &line,
				&col);
	} else {
		line = (uint32_t)p->problem_mark.line + 1;
		col = (uint32_t)p->problem_mark.column + 1;
	}
	const char *problem = p->problem ? p->problem : "unknown problem";
	if (p->error == YAML_SCANNER_ERROR && is_tab_at(L, line, col))
		return bw_err_set(L->err, 400, "conf", "syntax",
				  "%s:%u:%u: syntax error: tab character; YAML "
				  "indentation must use spaces",
				  L->doc->name, line, col);
	if (p->context && p->error != YAML_READER_ERROR)
		return bw_err_set(L->err, 400, "conf", "syntax",
				  "%s:%u:%u: syntax error: %s (%s at line %u)",
				  L->doc->name, line, col, problem, p->context,
				  (unsigned)p->context_mark.line + 1);
	return bw_err_set(L->err, 400, "conf", "syntax",
			  "%s:%u:%u: syntax error: %s", L->doc->name, line, col,
			  problem);
}

static int run(struct loader *L)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = -1, docs = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p))
		return nomem(L);
	yaml_parser_set_input_string(&p, (const unsigned char *)L->text,
				     L->len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			syntax_err(L, &p);
			goto out;
		}
		int r = 0;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
		case YAML_NO_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (docs++ > 0)
				r = mark_err(
				    L, &ev.start_mark, 400, "multi_doc",
				    "only one YAML document is allowed "
				    "per file");
			else if (ev.data.document_start.tag_directives.start !=
				 ev.data.document_start.tag_directives.end)
				r = mark_err(
				    L, &ev.start_mark, 400, "tag",
				    "%%TAG directives are not allowed");
			break;
		case YAML_ALIAS_EVENT:
			r = mark_err(L, &ev.start_mark, 400, "alias",
				     "aliases (*%.40s) are not allowed; repeat "
				     "the value instead",
				     (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			r = on_scalar(L, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = on_start(L, &ev, CONF_SEQUENCE,
				     ev.data.sequence_start.anchor,
				     ev.data.sequence_start.tag);
			break;
		case YAML_MAPPING_START_EVENT:
			r = on_start(L, &ev, CONF_MAPPING,
				     ev.data.mapping_start.anchor,
				     ev.data.mapping_start.tag);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			r = on_end(L, &ev);
			break;
		}
		yaml_event_delete(&ev);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	yaml_parser_delete(&p);
	return rc;
}

struct conf_doc *conf_load_string_lim(const char *name, const char *text,
				      size_t len, const struct conf_limits *lim,
				      struct bw_arena *arena,
				      struct bw_err *err)
{
	struct loader L = {0};
	struct conf_doc *doc = NULL;

	BW_ASSERT(arena != NULL);
	limits_resolve(&L.lim, lim);
	L.arena = arena;
	L.text = text;
	L.len = len;
	L.err = err;
	L.doc = bw_arena_zalloc(arena, sizeof(*L.doc));
	if (!L.doc) {
		bw_err_set(err, 500, "conf", "nomem", "out of memory");
		return NULL;
	}
	L.doc->arena = arena;
	L.doc->name = bw_arena_strdup(arena, name ? name : "<string>");
	if (!L.doc->name) {
		bw_err_set(err, 500, "conf", "nomem", "out of memory");
		return NULL;
	}
	if (len > L.lim.max_bytes) {
		bw_err_set(err, 413, "conf", "limit",
			   "%s: larger than %zu bytes", L.doc->name,
			   L.lim.max_bytes);
		return NULL;
	}
	if (len && !text) {
		bw_err_set(err, 400, "conf", "syntax", "%s: no input",
			   L.doc->name);
		return NULL;
	}
	if (!text)
		L.text = text = "";
	size_t bad = utf8_check((const unsigned char *)text, len);
	if (bad < len) {
		uint32_t line, col;
		offset_position(text, len, bad, &line, &col);
		bw_err_set(err, 400, "conf", "utf8",
			   "%s:%u:%u: invalid UTF-8 (byte 0x%02x)", L.doc->name,
			   line, col, (unsigned)(unsigned char)text[bad]);
		return NULL;
	}
	if (run(&L) == 0) {
		struct conf_node *r = L.doc->root;
		if (!r || (r->kind == CONF_SCALAR && r->null)) {
			/* An empty file (or a lone "---" or "~") configures
			 * nothing: every section takes its defaults. */
			if (r) {
				r->kind = CONF_MAPPING;
				r->null = false;
				r->str = NULL;
				r->len = 0;
			} else {
				yaml_mark_t m = {0, 0, 0};
				L.doc->root = node_new(&L, CONF_MAPPING, &m);
			}
		}
		if (L.doc->root)
			doc = L.doc;
	}
	for (size_t i = 0; i < CONF_MAX_DEPTH_HARD; i++)
		free(L.stack[i].v);
	return doc;
}

struct conf_doc *conf_load_string(const char *name, const char *text,
				  size_t len, struct bw_arena *arena,
				  struct bw_err *err)
{
	return conf_load_string_lim(name, text, len, NULL, arena, err);
}

struct conf_doc *conf_load_file(const char *path, struct bw_arena *arena,
				struct bw_err *err)
{
	size_t len = 0;
	char *text = bw_file_read(path, CONF_MAX_BYTES_DEFAULT, &len, err);
	if (!text) {
		if (err)
			memcpy(err->module, "conf", sizeof("conf"));
		return NULL;
	}
	struct conf_doc *doc = conf_load_string(path, text, len, arena, err);
	free(text);
	return doc;
}
