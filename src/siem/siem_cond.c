/*
 * Sigma condition expressions, parsed by recursive descent into a tree of
 * struct cnode over the rule's search identifiers:
 *   expr := and ('or' and)*        and := not ('and' not)*
 *   not  := 'not' not | prim       prim := '(' expr ')' | quant 'of' target
 *   quant := '1' | 'any' | 'all'   target := 'them' | pattern | ident
 * Precedence (loosest first) is or, and, not, x-of, parentheses, as the
 * Sigma specification orders them. "x of pattern" expands at parse time
 * into an OR/AND over the matching identifiers; "them" skips names
 * starting with '_'. Sigma 1 aggregations ("| count() > 5") and "near"
 * are refused with a message pointing at correlation rules.
 * Depth and node count are bounded (siem_limits.h), so a hostile
 * condition cannot exhaust the stack or the arena.
 */
#include "siem/siem_int.h"

#include <stdio.h>

bool siem_glob_match(const char *pat, size_t pl, const char *s, size_t sl)
{
	size_t p = 0, i = 0, star = SIZE_MAX, mark = 0;
	while (i < sl) {
		if (p < pl && pat[p] == SV_ONE) {
			/* one character: a whole UTF-8 sequence */
			unsigned char c = (unsigned char)s[i];
			size_t k = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
			i += k <= sl - i ? k : sl - i;
			p++;
		} else if (p < pl && pat[p] == SV_STAR) {
			star = p++;
			mark = i;
		} else if (p < pl && pat[p] == s[i]) {
			p++;
			i++;
		} else if (star != SIZE_MAX) {
			p = star + 1;
			i = ++mark;
		} else {
			return false;
		}
	}
	while (p < pl && pat[p] == SV_STAR)
		p++;
	return p == pl;
}

struct cp {
	struct bw_arena *a;
	const char *s;
	size_t i, n;
	const struct sel *sels;
	size_t nsels;
	size_t nodes;
	unsigned depth;
	char *msg;
	size_t msgcap;
	bool oom;
};

static int fail(struct cp *c, const char *fmt, ...) BW_PRINTF(2, 3);
static int fail(struct cp *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, c->msgcap, fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct cp *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
			       c->s[c->i] == '\n' || c->s[c->i] == '\r'))
		c->i++;
}

static bool identch(char ch)
{
	return siem_isalnum(ch) || ch == '_' || ch == '-' || ch == '.' ||
	       ch == '*' || ch == '@';
}

/* Next token into (p, len); punctuation is one char. Empty at end. */
static struct bw_str peek(struct cp *c)
{
	skip_ws(c);
	if (c->i >= c->n)
		return bw_str_make(c->s + c->i, 0);
	char ch = c->s[c->i];
	if (!identch(ch))
		return bw_str_make(c->s + c->i, 1);
	size_t j = c->i;
	while (j < c->n && identch(c->s[j]))
		j++;
	return bw_str_make(c->s + c->i, j - c->i);
}

static void eat(struct cp *c, struct bw_str t)
{
	c->i = (size_t)(t.p - c->s) + t.len;
}

static struct cnode *node(struct cp *c, uint8_t kind)
{
	if (++c->nodes > SIEM_COND_NODES_MAX) {
		fail(c, "condition has more than %u nodes", SIEM_COND_NODES_MAX);
		return NULL;
	}
	struct cnode *n = bw_arena_zalloc(c->a, sizeof(*n));
	if (!n) {
		c->oom = true;
		fail(c, "out of memory");
		return NULL;
	}
	n->kind = kind;
	return n;
}

static struct cnode *join(struct cp *c, uint8_t kind, struct cnode *l,
			  struct cnode *r)
{
	if (!l)
		return r;
	struct cnode *n = node(c, kind);
	if (!n)
		return NULL;
	n->a = l;
	n->b = r;
	return n;
}

static bool kw(struct bw_str t, const char *k)
{
	return bw_str_caseeq_lit(t, k);
}

static struct cnode *parse_or(struct cp *c);

static struct cnode *sel_node(struct cp *c, size_t i)
{
	struct cnode *n = node(c, CN_SEL);
	if (n)
		n->sel = (uint32_t)i;
	return n;
}

static struct cnode *parse_prim(struct cp *c)
{
	struct bw_str t = peek(c);
	if (t.len == 0) {
		fail(c, "condition ends where an identifier was expected");
		return NULL;
	}
	if (t.p[0] == '(') {
		eat(c, t);
		if (++c->depth > SIEM_COND_DEPTH_MAX) {
			fail(c, "condition nests deeper than %u",
			     SIEM_COND_DEPTH_MAX);
			return NULL;
		}
		struct cnode *e = parse_or(c);
		c->depth--;
		if (!e)
			return NULL;
		t = peek(c);
		if (t.len != 1 || t.p[0] != ')') {
			fail(c, "missing ')' at offset %zu", c->i);
			return NULL;
		}
		eat(c, t);
		return e;
	}
	if (t.p[0] == '|') {
		fail(c, "aggregations ('| count() ...') are not supported; "
			"write a Sigma correlation rule");
		return NULL;
	}
	if (!identch(t.p[0])) {
		fail(c, "unexpected '%c' at offset %zu", t.p[0], c->i);
		return NULL;
	}
	bool q1 = bw_str_eq_lit(t, "1") || kw(t, "any");
	bool qall = kw(t, "all");
	if (q1 || qall) {
		size_t save = c->i;
		eat(c, t);
		struct bw_str of = peek(c);
		if (kw(of, "of")) {
			eat(c, of);
			struct bw_str tg = peek(c);
			if (tg.len == 0 || !identch(tg.p[0])) {
				fail(c, "'of' needs 'them' or a pattern");
				return NULL;
			}
			eat(c, tg);
			bool them = kw(tg, "them");
			char pat[128];
			if (tg.len >= sizeof(pat)) {
				fail(c, "pattern too long");
				return NULL;
			}
			for (size_t k = 0; k < tg.len; k++)
				pat[k] = tg.p[k] == '*' ? SV_STAR : tg.p[k];
			struct cnode *acc = NULL;
			size_t hits = 0;
			for (size_t i = 0; i < c->nsels; i++) {
				const char *nm = c->sels[i].name;
				bool hit = them ? nm[0] != '_'
						: siem_glob_match(pat, tg.len, nm,
								  strlen(nm));
				if (!hit)
					continue;
				struct cnode *s = sel_node(c, i);
				if (!s)
					return NULL;
				acc = join(c, qall ? CN_AND : CN_OR, acc, s);
				if (!acc)
					return NULL;
				hits++;
			}
			if (!hits) {
				fail(c, "no search identifier matches '%.*s'",
				     (int)tg.len, tg.p);
				return NULL;
			}
			return acc;
		}
		c->i = save; /* "1" or "all" used as an identifier */
	}
	if (kw(t, "and") || kw(t, "or") || kw(t, "of") || kw(t, "them")) {
		fail(c, "unexpected '%.*s' at offset %zu", (int)t.len, t.p,
		     c->i);
		return NULL;
	}
	if (kw(t, "near")) {
		fail(c, "'near' is not supported; write a temporal correlation "
			"rule");
		return NULL;
	}
	eat(c, t);
	for (size_t i = 0; i < c->nsels; i++)
		if (strlen(c->sels[i].name) == t.len &&
		    memcmp(c->sels[i].name, t.p, t.len) == 0)
			return sel_node(c, i);
	fail(c, "unknown search identifier '%.*s'", (int)t.len, t.p);
	return NULL;
}

static struct cnode *parse_not(struct cp *c)
{
	struct bw_str t = peek(c);
	if (kw(t, "not")) {
		eat(c, t);
		if (++c->depth > SIEM_COND_DEPTH_MAX) {
			fail(c, "condition nests deeper than %u",
			     SIEM_COND_DEPTH_MAX);
			return NULL;
		}
		struct cnode *e = parse_not(c);
		c->depth--;
		if (!e)
			return NULL;
		struct cnode *n = node(c, CN_NOT);
		if (n)
			n->a = e;
		return n;
	}
	return parse_prim(c);
}

static struct cnode *parse_and(struct cp *c)
{
	struct cnode *l = parse_not(c);
	while (l) {
		struct bw_str t = peek(c);
		if (!kw(t, "and"))
			break;
		eat(c, t);
		struct cnode *r = parse_not(c);
		if (!r)
			return NULL;
		l = join(c, CN_AND, l, r);
	}
	return l;
}

static struct cnode *parse_or(struct cp *c)
{
	struct cnode *l = parse_and(c);
	while (l) {
		struct bw_str t = peek(c);
		if (!kw(t, "or"))
			break;
		eat(c, t);
		struct cnode *r = parse_and(c);
		if (!r)
			return NULL;
		l = join(c, CN_OR, l, r);
	}
	return l;
}

int siem_cond_parse(struct bw_arena *a, const char *text,
		    const struct sel *sels, size_t nsels, struct cnode **out,
		    char *msg, size_t msgcap)
{
	struct cp c = { .a = a, .s = text, .n = strlen(text), .sels = sels,
			.nsels = nsels, .msg = msg, .msgcap = msgcap };
	msg[0] = '\0';
	struct cnode *e = parse_or(&c);
	if (!e)
		return c.oom ? -2 : -1;
	struct bw_str t = peek(&c);
	if (t.len) {
		if (t.p[0] == '|')
			fail(&c, "aggregations ('| count() ...') are not "
				 "supported; write a Sigma correlation rule");
		else
			fail(&c, "unexpected '%.*s' at offset %zu", (int)t.len,
			     t.p, c.i);
		return -1;
	}
	*out = e;
	return 0;
}
