/*
 * The OpenFGA modelling language, DSL form (schema 1.1): reader and writer.
 *
 *   model
 *     schema 1.1
 *   type user
 *   type document
 *     relations
 *       define parent: [folder]
 *       define viewer: [user, user:*, group#member with in_hours] or editor
 *       define can_view: (viewer or viewer from parent) but not blocked
 *   condition in_hours(now: timestamp) { now.getHours() < 18 }
 *
 * Grammar (OpenFGA's): a relation definition is one operand followed by any
 * number of `or` operands, or of `and` operands, or by exactly one
 * `but not` operand; mixing needs parentheses. A direct relationship
 * `[...]` may only be the first operand of a definition or group. Comments
 * start with `#` at the beginning of a line or after whitespace (so
 * `group#member` is not a comment). Newlines end statements except inside
 * brackets and parentheses.
 *
 * Invariants: every error names LINE:COLUMN (1-based, byte columns) of the
 * token at fault; the reader never reads past len and recursion is bounded
 * by AUTHZ_MODEL_MAX_REWRITE_DEPTH; the writer's output parses back to an
 * equal model.
 */
#include "authz/authz_int.h"

#include <stdio.h>
#include <string.h>

enum dtok {
	D_EOF,
	D_NL,
	D_WORD,
	D_COLON,
	D_LBRACK,
	D_RBRACK,
	D_COMMA,
	D_HASH,
	D_STAR,
	D_LPAREN,
	D_RPAREN,
	D_LBRACE,
	D_RBRACE,
	D_LT,
	D_GT,
};

struct dsl {
	const char *s;
	size_t len, pos;
	uint32_t line, col;
	int depth; /* open [ and ( */
	/* current token */
	enum dtok t;
	const char *tp;
	size_t tlen;
	uint32_t tline, tcol;
	struct authz_model *m;
	struct bw_err *err;
	bool failed;
	size_t nodes; /* rewrite nodes of the current relation */
};

static int derr(struct dsl *d, uint32_t line, uint32_t col, const char *fmt, ...) BW_PRINTF(4, 5);
static int derr(struct dsl *d, uint32_t line, uint32_t col, const char *fmt, ...)
{
	if (d->failed)
		return -1;
	d->failed = true;
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return bw_err_set(d->err, 400, "authz", "invalid_model", "%u:%u: %s", line, col, msg);
}

static int oom(struct dsl *d)
{
	d->failed = true;
	return bw_err_set(d->err, 500, "authz", "memory", "out of memory");
}

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

static void advance(struct dsl *d)
{
	if (d->s[d->pos] == '\n') {
		d->line++;
		d->col = 1;
	} else {
		d->col++;
	}
	d->pos++;
}

static int dnext(struct dsl *d)
{
	for (;;) {
		while (d->pos < d->len) {
			char c = d->s[d->pos];
			if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && d->depth > 0))
				advance(d);
			else
				break;
		}
		if (d->pos >= d->len)
			break;
		char c = d->s[d->pos];
		bool after_space = d->pos == 0 || d->s[d->pos - 1] == ' ' ||
				   d->s[d->pos - 1] == '\t' || d->s[d->pos - 1] == '\n' ||
				   d->s[d->pos - 1] == '\r';
		if (c == '#' && after_space) {
			while (d->pos < d->len && d->s[d->pos] != '\n')
				advance(d);
			continue;
		}
		break;
	}
	d->tline = d->line;
	d->tcol = d->col;
	d->tp = d->s + d->pos;
	d->tlen = 1;
	if (d->pos >= d->len) {
		d->t = D_EOF;
		d->tlen = 0;
		return 0;
	}
	char c = d->s[d->pos];
	if (word_char(c)) {
		size_t st = d->pos;
		while (d->pos < d->len && word_char(d->s[d->pos]))
			advance(d);
		d->t = D_WORD;
		d->tlen = d->pos - st;
		return 0;
	}
	switch (c) {
	case '\n': d->t = D_NL; break;
	case ':': d->t = D_COLON; break;
	case '[': d->t = D_LBRACK; d->depth++; break;
	case ']': d->t = D_RBRACK; d->depth--; break;
	case '(': d->t = D_LPAREN; d->depth++; break;
	case ')': d->t = D_RPAREN; d->depth--; break;
	case ',': d->t = D_COMMA; break;
	case '#': d->t = D_HASH; break;
	case '*': d->t = D_STAR; break;
	case '{': d->t = D_LBRACE; break;
	case '}': d->t = D_RBRACE; break;
	case '<': d->t = D_LT; break;
	case '>': d->t = D_GT; break;
	default:
		return derr(d, d->line, d->col, "unexpected character '%c'",
			    (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?');
	}
	if (d->depth < 0)
		d->depth = 0;
	advance(d);
	return 0;
}

static bool is_word(const struct dsl *d, const char *w)
{
	return d->t == D_WORD && bw_str_eq_lit(bw_str_make(d->tp, d->tlen), w);
}

static const char *tokdesc(const struct dsl *d, char *buf, size_t cap)
{
	switch (d->t) {
	case D_EOF: return "end of input";
	case D_NL: return "end of line";
	default:
		snprintf(buf, cap, "'%.*s'", (int)(d->tlen > 40 ? 40 : d->tlen), d->tp);
		return buf;
	}
}

static int expect(struct dsl *d, enum dtok t, const char *what)
{
	if (d->t != t) {
		char b[64];
		return derr(d, d->tline, d->tcol, "expected %s, found %s", what,
			    tokdesc(d, b, sizeof(b)));
	}
	return dnext(d);
}

static void skip_nl(struct dsl *d)
{
	while (d->t == D_NL && !d->failed)
		(void)dnext(d);
}

static int end_of_statement(struct dsl *d)
{
	if (d->t != D_NL && d->t != D_EOF) {
		char b[64];
		return derr(d, d->tline, d->tcol, "expected end of line, found %s",
			    tokdesc(d, b, sizeof(b)));
	}
	return 0;
}

static const char *const keywords[] = { "or", "and", "but", "not", "from", "with",
					"define", "type", "relations", "model",
					"schema", "condition" };

static bool is_keyword(const char *p, size_t n)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(keywords); i++)
		if (bw_str_eq_lit(bw_str_make(p, n), keywords[i]))
			return true;
	return false;
}

/* Takes the current WORD as a name (not a keyword). */
static char *take_name(struct dsl *d, const char *what, uint32_t *line, uint32_t *col)
{
	if (d->t != D_WORD || is_keyword(d->tp, d->tlen)) {
		char b[64];
		derr(d, d->tline, d->tcol, "expected %s, found %s", what, tokdesc(d, b, sizeof(b)));
		return NULL;
	}
	if (line) {
		*line = d->tline;
		*col = d->tcol;
	}
	char *s = authz_model_strdup(d->m, d->tp, d->tlen);
	if (!s) {
		oom(d);
		return NULL;
	}
	if (dnext(d) < 0)
		return NULL;
	return s;
}

/* Grows an arena array by doubling (the old block stays in the arena,
 * bounded by the model size limit). */
static void *grow(struct dsl *d, void *arr, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? *cap * 2 : 4;
	void *na = bw_arena_zalloc(d->m->arena, nc * elem);
	if (!na) {
		oom(d);
		return NULL;
	}
	if (n)
		memcpy(na, arr, n * elem);
	*cap = nc;
	return na;
}

/* ---------------------------------------------------------- relations */

struct reldef_ctx {
	struct authz_rel *rel;
	size_t dtcap;
};

static struct authz_rw *parse_reldef(struct dsl *d, struct reldef_ctx *rc, int depth);

static struct authz_rw *parse_direct(struct dsl *d, struct reldef_ctx *rc)
{
	uint32_t line = d->tline, col = d->tcol;
	if (rc->rel->ndt) {
		derr(d, line, col, "relation '%s' has more than one direct relationship",
		     rc->rel->name);
		return NULL;
	}
	if (dnext(d) < 0)
		return NULL;
	for (;;) {
		if (rc->rel->ndt == AUTHZ_MODEL_MAX_RESTRICTIONS) {
			derr(d, d->tline, d->tcol, "more than %d type restrictions",
			     AUTHZ_MODEL_MAX_RESTRICTIONS);
			return NULL;
		}
		struct authz_restr *dt = grow(d, rc->rel->dt, rc->rel->ndt, &rc->dtcap,
					      sizeof(*dt));
		if (!dt)
			return NULL;
		rc->rel->dt = dt;
		struct authz_restr *r = &dt[rc->rel->ndt];
		memset(r, 0, sizeof(*r));
		if (!(r->type = take_name(d, "a type name", &r->line, &r->col)))
			return NULL;
		if (d->t == D_COLON) {
			if (dnext(d) < 0)
				return NULL;
			if (d->t != D_STAR) {
				derr(d, d->tline, d->tcol, "expected '*' after '%s:'", r->type);
				return NULL;
			}
			r->wildcard = true;
			if (dnext(d) < 0)
				return NULL;
		} else if (d->t == D_HASH) {
			if (dnext(d) < 0)
				return NULL;
			if (!(r->rel = take_name(d, "a relation name after '#'", NULL, NULL)))
				return NULL;
		}
		if (is_word(d, "with")) {
			if (dnext(d) < 0)
				return NULL;
			if (!(r->cond = take_name(d, "a condition name after 'with'", NULL, NULL)))
				return NULL;
		}
		rc->rel->ndt++;
		if (d->t == D_COMMA) {
			if (dnext(d) < 0)
				return NULL;
			continue;
		}
		if (d->t == D_RBRACK)
			break;
		char b[64];
		derr(d, d->tline, d->tcol, "expected ',' or ']' in type restrictions, found %s",
		     tokdesc(d, b, sizeof(b)));
		return NULL;
	}
	if (dnext(d) < 0)
		return NULL;
	struct authz_rw *rw = authz_rw_new(d->m, AUTHZ_RW_THIS);
	if (!rw) {
		oom(d);
		return NULL;
	}
	rw->line = line;
	rw->col = col;
	return rw;
}

static struct authz_rw *parse_operand(struct dsl *d, struct reldef_ctx *rc, int depth,
				      bool first)
{
	if (++d->nodes > AUTHZ_MODEL_MAX_REWRITE_NODES) {
		derr(d, d->tline, d->tcol, "relation definition too large");
		return NULL;
	}
	if (d->t == D_LBRACK) {
		if (!first) {
			derr(d, d->tline, d->tcol,
			     "a direct relationship [...] must be the first operand");
			return NULL;
		}
		return parse_direct(d, rc);
	}
	if (d->t == D_LPAREN) {
		uint32_t line = d->tline, col = d->tcol;
		if (depth >= AUTHZ_MODEL_MAX_REWRITE_DEPTH) {
			derr(d, line, col, "parentheses nested too deeply");
			return NULL;
		}
		if (dnext(d) < 0)
			return NULL;
		struct authz_rw *r = parse_reldef(d, rc, depth + 1);
		if (!r)
			return NULL;
		if (d->t != D_RPAREN) {
			char b[64];
			derr(d, d->tline, d->tcol, "expected ')' to close the '(' at %u:%u, found %s",
			     line, col, tokdesc(d, b, sizeof(b)));
			return NULL;
		}
		if (dnext(d) < 0)
			return NULL;
		return r;
	}
	uint32_t line, col;
	char *name = take_name(d, "a relation name, '[' or '('", &line, &col);
	if (!name)
		return NULL;
	struct authz_rw *r;
	if (is_word(d, "from")) {
		if (dnext(d) < 0)
			return NULL;
		char *ts = take_name(d, "a tupleset relation after 'from'", NULL, NULL);
		if (!ts)
			return NULL;
		if (!(r = authz_rw_new(d->m, AUTHZ_RW_TTU))) {
			oom(d);
			return NULL;
		}
		r->tupleset = ts;
	} else if (!(r = authz_rw_new(d->m, AUTHZ_RW_COMPUTED))) {
		oom(d);
		return NULL;
	}
	r->rel = name;
	r->line = line;
	r->col = col;
	return r;
}

static int op_of(struct dsl *d, enum authz_rw_kind *k)
{
	if (is_word(d, "or"))
		*k = AUTHZ_RW_UNION;
	else if (is_word(d, "and"))
		*k = AUTHZ_RW_INTER;
	else if (is_word(d, "but"))
		*k = AUTHZ_RW_DIFF;
	else
		return 0;
	return 1;
}

static const char *op_name(enum authz_rw_kind k)
{
	return k == AUTHZ_RW_UNION ? "or" : k == AUTHZ_RW_INTER ? "and" : "but not";
}

static struct authz_rw *parse_reldef(struct dsl *d, struct reldef_ctx *rc, int depth)
{
	struct authz_rw *items[AUTHZ_MODEL_MAX_REWRITE_NODES];
	size_t n = 0;
	struct authz_rw *first = parse_operand(d, rc, depth, true);
	if (!first)
		return NULL;
	items[n++] = first;
	enum authz_rw_kind op = AUTHZ_RW_THIS, k;
	while (op_of(d, &k)) {
		uint32_t line = d->tline, col = d->tcol;
		if (op != AUTHZ_RW_THIS && k != op) {
			derr(d, line, col, "cannot mix '%s' and '%s' without parentheses",
			     op_name(op), op_name(k));
			return NULL;
		}
		if (op == AUTHZ_RW_DIFF) {
			derr(d, line, col, "'but not' takes one operand; use parentheses");
			return NULL;
		}
		op = k;
		if (dnext(d) < 0)
			return NULL;
		if (k == AUTHZ_RW_DIFF) {
			if (!is_word(d, "not")) {
				derr(d, d->tline, d->tcol, "expected 'not' after 'but'");
				return NULL;
			}
			if (dnext(d) < 0)
				return NULL;
		}
		if (n == BW_ARRAY_LEN(items)) {
			derr(d, line, col, "relation definition too large");
			return NULL;
		}
		if (!(items[n++] = parse_operand(d, rc, depth, false)))
			return NULL;
	}
	if (n == 1)
		return first;
	struct authz_rw *r = authz_rw_new(d->m, op);
	if (!r) {
		oom(d);
		return NULL;
	}
	r->child = bw_arena_alloc(d->m->arena, n * sizeof(*r->child));
	if (!r->child) {
		oom(d);
		return NULL;
	}
	memcpy(r->child, items, n * sizeof(*items));
	r->n = n;
	r->line = first->line;
	r->col = first->col;
	return r;
}

static int parse_type(struct dsl *d, size_t *tcap)
{
	if (d->m->ntypes == AUTHZ_MODEL_MAX_TYPES)
		return derr(d, d->tline, d->tcol, "more than %d types", AUTHZ_MODEL_MAX_TYPES);
	struct authz_type *types = grow(d, d->m->types, d->m->ntypes, tcap, sizeof(*types));
	if (!types)
		return -1;
	d->m->types = types;
	struct authz_type *t = &types[d->m->ntypes];
	memset(t, 0, sizeof(*t));
	if (dnext(d) < 0)
		return -1;
	if (!(t->name = take_name(d, "a type name after 'type'", &t->line, &t->col)))
		return -1;
	d->m->ntypes++;
	if (end_of_statement(d) < 0)
		return -1;
	skip_nl(d);
	if (!is_word(d, "relations"))
		return d->failed ? -1 : 0;
	if (d->tcol == 1)
		return derr(d, d->tline, d->tcol, "'relations' must be indented under its type");
	if (dnext(d) < 0 || end_of_statement(d) < 0)
		return -1;
	skip_nl(d);
	if (!is_word(d, "define"))
		return derr(d, d->tline, d->tcol, "expected 'define' after 'relations'");
	size_t rcap = 0;
	while (is_word(d, "define")) {
		if (t->nrels == AUTHZ_MODEL_MAX_RELATIONS)
			return derr(d, d->tline, d->tcol, "type '%s' has more than %d relations",
				    t->name, AUTHZ_MODEL_MAX_RELATIONS);
		struct authz_rel *rels = grow(d, t->rels, t->nrels, &rcap, sizeof(*rels));
		if (!rels)
			return -1;
		t->rels = rels;
		struct authz_rel *rel = &rels[t->nrels];
		memset(rel, 0, sizeof(*rel));
		if (dnext(d) < 0)
			return -1;
		if (!(rel->name = take_name(d, "a relation name after 'define'", &rel->line,
					    &rel->col)))
			return -1;
		t->nrels++;
		if (expect(d, D_COLON, "':' after the relation name") < 0)
			return -1;
		struct reldef_ctx rc = { .rel = rel };
		d->nodes = 0;
		if (!(rel->rw = parse_reldef(d, &rc, 0)))
			return -1;
		if (end_of_statement(d) < 0)
			return -1;
		skip_nl(d);
	}
	return d->failed ? -1 : 0;
}

/* --------------------------------------------------------- conditions */

static int parse_condition(struct dsl *d, size_t *ccap)
{
	if (d->m->nconds == AUTHZ_MODEL_MAX_CONDITIONS)
		return derr(d, d->tline, d->tcol, "more than %d conditions",
			    AUTHZ_MODEL_MAX_CONDITIONS);
	struct authz_cond *conds = grow(d, d->m->conds, d->m->nconds, ccap, sizeof(*conds));
	if (!conds)
		return -1;
	d->m->conds = conds;
	struct authz_cond *c = &conds[d->m->nconds];
	memset(c, 0, sizeof(*c));
	if (dnext(d) < 0)
		return -1;
	if (!(c->name = take_name(d, "a condition name", &c->line, &c->col)))
		return -1;
	d->m->nconds++;
	if (d->t != D_LPAREN)
		return expect(d, D_LPAREN, "'(' after the condition name");
	if (dnext(d) < 0)
		return -1;
	size_t pcap = 0;
	while (d->t != D_RPAREN) {
		if (c->nparams == AUTHZ_MODEL_MAX_PARAMS)
			return derr(d, d->tline, d->tcol, "more than %d parameters",
				    AUTHZ_MODEL_MAX_PARAMS);
		struct authz_cparam *ps = grow(d, c->params, c->nparams, &pcap, sizeof(*ps));
		if (!ps)
			return -1;
		c->params = ps;
		struct authz_cparam *p = &ps[c->nparams];
		if (d->t != D_WORD) {
			char b[64];
			return derr(d, d->tline, d->tcol, "expected a parameter name, found %s",
				    tokdesc(d, b, sizeof(b)));
		}
		if (!(p->name = authz_model_strdup(d->m, d->tp, d->tlen)))
			return oom(d);
		if (dnext(d) < 0 || expect(d, D_COLON, "':' after the parameter name") < 0)
			return -1;
		if (d->t != D_WORD)
			return expect(d, D_WORD, "a parameter type");
		uint32_t tl = d->tline, tc = d->tcol;
		const char *ts = d->tp;
		size_t tlen = d->tlen;
		if (dnext(d) < 0)
			return -1;
		if (d->t == D_LT) {
			if (dnext(d) < 0 || d->t != D_WORD)
				return derr(d, d->tline, d->tcol, "expected a type inside '<>'");
			if (dnext(d) < 0)
				return -1;
			if (d->t != D_GT)
				return expect(d, D_GT, "'>'");
			tlen = (size_t)(d->tp + 1 - ts);
			if (dnext(d) < 0)
				return -1;
		}
		if (authz_cel_ptype_parse(ts, tlen, &p->type) < 0)
			return derr(d, tl, tc, "unknown parameter type '%.*s'", (int)tlen, ts);
		c->nparams++;
		if (d->t == D_COMMA) {
			if (dnext(d) < 0)
				return -1;
			continue;
		}
		if (d->t != D_RPAREN)
			return expect(d, D_RPAREN, "',' or ')'");
	}
	if (c->nparams == 0)
		return derr(d, d->tline, d->tcol, "condition '%s' needs at least one parameter",
			    c->name);
	if (dnext(d) < 0)
		return -1;
	if (d->t != D_LBRACE)
		return expect(d, D_LBRACE, "'{' to start the condition expression");
	/* The expression is raw CEL up to the matching '}' (string literals
	 * may hold braces). The scanner stands just past the '{'. */
	int braces = 1;
	char quote = 0;
	while (d->pos < d->len && (d->s[d->pos] == ' ' || d->s[d->pos] == '\t' ||
				   d->s[d->pos] == '\n' || d->s[d->pos] == '\r'))
		advance(d);
	size_t start = d->pos;
	c->expr_line = d->line;
	c->expr_col = d->col;
	size_t end = start;
	while (d->pos < d->len) {
		char ch = d->s[d->pos];
		if (quote) {
			if (ch == '\\' && d->pos + 1 < d->len)
				advance(d);
			else if (ch == quote || ch == '\n')
				quote = 0;
		} else if (ch == '"' || ch == '\'') {
			quote = ch;
		} else if (ch == '{') {
			braces++;
		} else if (ch == '}' && --braces == 0) {
			break;
		}
		advance(d);
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			end = d->pos;
	}
	if (d->pos >= d->len)
		return derr(d, c->line, c->col, "condition '%s': missing '}' at the end of its expression",
			    c->name);
	if (end == start)
		return derr(d, d->line, d->col, "condition '%s' has an empty expression", c->name);
	c->exprlen = end - start;
	if (!(c->expr = authz_model_strdup(d->m, d->s + start, c->exprlen)))
		return oom(d);
	advance(d); /* the '}' */
	if (dnext(d) < 0)
		return -1;
	return end_of_statement(d);
}

struct authz_model *authz_model_parse_dsl(const char *text, size_t len, struct bw_err *err)
{
	if (len > AUTHZ_MODEL_MAX_BYTES) {
		bw_err_set(err, 413, "authz", "too_large", "model larger than %zu bytes",
			   AUTHZ_MODEL_MAX_BYTES);
		return NULL;
	}
	struct authz_model *m = authz_model_alloc();
	if (!m) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		return NULL;
	}
	m->from_dsl = true;
	struct dsl d = { .s = text, .len = len, .line = 1, .col = 1, .m = m, .err = err };
	const char *nul = memchr(text, 0, len);
	if (nul) {
		uint32_t line = 1, col = 1;
		for (const char *p = text; p < nul; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		derr(&d, line, col, "NUL byte in model");
		goto fail;
	}
	if (dnext(&d) < 0)
		goto fail;
	skip_nl(&d);
	if (!is_word(&d, "model")) {
		if (is_word(&d, "module"))
			derr(&d, d.tline, d.tcol, "modular models are not supported");
		else
			derr(&d, d.tline, d.tcol, "a model must start with 'model'");
		goto fail;
	}
	if (dnext(&d) < 0 || end_of_statement(&d) < 0)
		goto fail;
	skip_nl(&d);
	if (!is_word(&d, "schema")) {
		derr(&d, d.tline, d.tcol, "expected 'schema 1.1' after 'model'");
		goto fail;
	}
	if (d.tcol == 1) {
		derr(&d, d.tline, d.tcol, "'schema' must be indented under 'model'");
		goto fail;
	}
	if (dnext(&d) < 0)
		goto fail;
	if (!is_word(&d, "1.1")) {
		char b[64];
		derr(&d, d.tline, d.tcol, "unsupported schema version %s (only 1.1)",
		     tokdesc(&d, b, sizeof(b)));
		goto fail;
	}
	if (dnext(&d) < 0 || end_of_statement(&d) < 0)
		goto fail;
	size_t tcap = 0, ccap = 0;
	for (;;) {
		skip_nl(&d);
		if (d.failed)
			goto fail;
		if (d.t == D_EOF)
			break;
		if (is_word(&d, "type") && d.tcol == 1) {
			if (parse_type(&d, &tcap) < 0)
				goto fail;
		} else if (is_word(&d, "condition") && d.tcol == 1) {
			if (parse_condition(&d, &ccap) < 0)
				goto fail;
		} else if (is_word(&d, "define")) {
			derr(&d, d.tline, d.tcol, "'define' outside a 'relations' block");
			goto fail;
		} else {
			char b[64];
			derr(&d, d.tline, d.tcol,
			     "expected 'type' or 'condition' at the start of a line, found %s",
			     tokdesc(&d, b, sizeof(b)));
			goto fail;
		}
	}
	if (authz_model_validate(m, err) < 0)
		goto fail;
	return m;
fail:
	authz_model_free(m);
	return NULL;
}

/* -------------------------------------------------------------- writer */

static void put_rw(struct bw_buf *o, const struct authz_rel *rel, const struct authz_rw *r,
		   bool top, int *rc)
{
	switch (r->kind) {
	case AUTHZ_RW_THIS:
		*rc |= bw_buf_append_byte(o, '[');
		for (size_t i = 0; i < rel->ndt; i++) {
			const struct authz_restr *d = &rel->dt[i];
			*rc |= bw_buf_printf(o, "%s%s%s%s%s%s", i ? ", " : "", d->type,
					     d->wildcard ? ":*" : d->rel ? "#" : "",
					     d->rel ? d->rel : "", d->cond ? " with " : "",
					     d->cond ? d->cond : "");
		}
		*rc |= bw_buf_append_byte(o, ']');
		return;
	case AUTHZ_RW_COMPUTED:
		*rc |= bw_buf_append_str(o, r->rel);
		return;
	case AUTHZ_RW_TTU:
		*rc |= bw_buf_printf(o, "%s from %s", r->rel, r->tupleset);
		return;
	default:
		break;
	}
	const char *op = r->kind == AUTHZ_RW_UNION ? " or " :
			 r->kind == AUTHZ_RW_INTER ? " and " : " but not ";
	if (!top)
		*rc |= bw_buf_append_byte(o, '(');
	/* The DSL wants a direct relationship first; union and intersection
	 * commute, so write it first there. */
	size_t first = 0;
	if (r->kind != AUTHZ_RW_DIFF)
		for (size_t i = 0; i < r->n; i++)
			if (r->child[i]->kind == AUTHZ_RW_THIS)
				first = i;
	put_rw(o, rel, r->child[first], false, rc);
	for (size_t i = 0; i < r->n; i++) {
		if (i == first)
			continue;
		*rc |= bw_buf_append_str(o, op);
		put_rw(o, rel, r->child[i], false, rc);
	}
	if (!top)
		*rc |= bw_buf_append_byte(o, ')');
}

int authz_model_write_dsl(const struct authz_model *m, struct bw_buf *o)
{
	int rc = bw_buf_append_str(o, "model\n  schema 1.1\n");
	for (size_t i = 0; i < m->ntypes; i++) {
		const struct authz_type *t = &m->types[i];
		rc |= bw_buf_printf(o, "\ntype %s\n", t->name);
		if (t->nrels)
			rc |= bw_buf_append_str(o, "  relations\n");
		for (size_t r = 0; r < t->nrels; r++) {
			rc |= bw_buf_printf(o, "    define %s: ", t->rels[r].name);
			put_rw(o, &t->rels[r], t->rels[r].rw, true, &rc);
			rc |= bw_buf_append_byte(o, '\n');
		}
	}
	for (size_t i = 0; i < m->nconds; i++) {
		const struct authz_cond *c = &m->conds[i];
		rc |= bw_buf_printf(o, "\ncondition %s(", c->name);
		for (size_t p = 0; p < c->nparams; p++) {
			char tn[40];
			authz_cel_ptype_name(c->params[p].type, tn, sizeof(tn));
			rc |= bw_buf_printf(o, "%s%s: %s", p ? ", " : "", c->params[p].name, tn);
		}
		rc |= bw_buf_printf(o, ") {\n  %.*s\n}\n", (int)c->exprlen, c->expr);
	}
	return rc ? -1 : 0;
}
