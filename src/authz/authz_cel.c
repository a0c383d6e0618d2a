/*
 * The CEL subset OpenFGA conditions are written in: literals (null, bool,
 * int, uint, double, string), list and map literals, parameters, member and
 * index access, ! and unary -, * / %, + -, < <= > >= == != in, && || and
 * ?:, and the functions typical time / network / attribute conditions need:
 * timestamp(), duration(), ipaddress(), x.in_cidr(), size(), int(), uint(),
 * double(), string(), contains/startsWith/endsWith, and the UTC timestamp
 * and duration accessors (getHours() ...).
 *
 * Invariants:
 *  - compile checks every identifier against the declared parameters and
 *    every function name and arity, and the static type where it is known,
 *    so a model with a condition that cannot type-check is refused;
 *  - evaluation never crashes or loops: nesting is bounded at compile time,
 *    work by AUTHZ_CEL_MAX_STEPS, integer arithmetic is overflow-checked
 *    (CEL defines overflow as an error), strings by AUTHZ_CEL_MAX_STRING;
 *  - && and || are commutative in the CEL sense: false && <error> is false,
 *    true || <error> is true; a missing parameter is an "unknown" that
 *    beats an error, so the caller can report missing context precisely.
 */
#include "authz/authz_cel.h"
#include "authz/authz_limits.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------- the AST */

enum nkind {
	K_LIT,
	K_PARAM,
	K_LIST,
	K_MAP,
	K_NOT,
	K_NEG,
	K_AND,
	K_OR,
	K_COND,
	K_BIN,
	K_INDEX,
	K_FIELD,
	K_CALL,
};

enum bop { B_ADD, B_SUB, B_MUL, B_DIV, B_MOD, B_LT, B_LE, B_GT, B_GE, B_EQ, B_NE, B_IN };

enum fn {
	F_TIMESTAMP,
	F_DURATION,
	F_IPADDRESS,
	F_SIZE,
	F_INT,
	F_UINT,
	F_DOUBLE,
	F_STRING,
	F_CONTAINS,
	F_STARTS,
	F_ENDS,
	F_IN_CIDR,
	F_FULL_YEAR,
	F_MONTH,
	F_DAY_OF_MONTH,
	F_DATE,
	F_DAY_OF_WEEK,
	F_DAY_OF_YEAR,
	F_HOURS,
	F_MINUTES,
	F_SECONDS,
	F_MILLIS,
};

struct fninfo {
	const char *name;
	enum fn fn;
	int method; /* 0: global f(x), 1: method x.f(), 2: both */
	int nargs;  /* arguments besides the target */
};

static const struct fninfo fns[] = {
	{ "timestamp", F_TIMESTAMP, 0, 1 },  { "duration", F_DURATION, 0, 1 },
	{ "ipaddress", F_IPADDRESS, 0, 1 },  { "size", F_SIZE, 2, 1 },
	{ "int", F_INT, 0, 1 },              { "uint", F_UINT, 0, 1 },
	{ "double", F_DOUBLE, 0, 1 },        { "string", F_STRING, 0, 1 },
	{ "contains", F_CONTAINS, 1, 1 },    { "startsWith", F_STARTS, 1, 1 },
	{ "endsWith", F_ENDS, 1, 1 },        { "in_cidr", F_IN_CIDR, 1, 1 },
	{ "getFullYear", F_FULL_YEAR, 1, 0 }, { "getMonth", F_MONTH, 1, 0 },
	{ "getDayOfMonth", F_DAY_OF_MONTH, 1, 0 }, { "getDate", F_DATE, 1, 0 },
	{ "getDayOfWeek", F_DAY_OF_WEEK, 1, 0 }, { "getDayOfYear", F_DAY_OF_YEAR, 1, 0 },
	{ "getHours", F_HOURS, 1, 0 },       { "getMinutes", F_MINUTES, 1, 0 },
	{ "getSeconds", F_SECONDS, 1, 0 },   { "getMilliseconds", F_MILLIS, 1, 0 },
};

struct cnode {
	uint8_t kind;
	uint8_t op;          /* enum bop / enum fn */
	uint8_t st;          /* static type (enum cel_type), CEL_T_ANY if unknown */
	uint8_t st_elem;     /* element type of a statically typed list/map */
	uint32_t pos;        /* byte offset in the expression */
	uint32_t n;          /* K_LIST/K_MAP/K_CALL: number of args */
	int param;           /* K_PARAM */
	struct cel_value lit; /* K_LIT */
	struct bw_str name;  /* K_FIELD */
	struct cnode *a, *b, *c; /* operands; K_CALL: a = target or NULL */
	struct cnode **args;
};

struct cel_prog {
	struct cnode *root;
	size_t nparams;
};

size_t authz_cel_nparams(const struct cel_prog *p)
{
	return p ? p->nparams : 0;
}

/* ---------------------------------------------------------------- lexer */

enum tok {
	T_EOF,
	T_IDENT,
	T_INT,
	T_UINT,
	T_DOUBLE,
	T_STRING,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_LBRACE,
	T_RBRACE,
	T_DOT,
	T_COMMA,
	T_COLON,
	T_QUEST,
	T_NOT,
	T_MINUS,
	T_PLUS,
	T_STAR,
	T_SLASH,
	T_PERCENT,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_EQ,
	T_NE,
	T_AND,
	T_OR,
	T_TRUE,
	T_FALSE,
	T_NULL,
	T_IN,
};

struct parser {
	const char *s;
	size_t len, pos;
	struct bw_arena *a;
	const struct cel_param *params;
	size_t nparams;
	size_t nodes;
	int depth;
	/* current token */
	enum tok t;
	size_t tpos;
	const char *tp; /* identifier start */
	size_t tlen;
	int64_t ival;
	uint64_t uval;
	double dval;
	char *sval; /* decoded string literal (arena) */
	size_t slen;
	/* error */
	bool failed;
	size_t err_off;
	char msg[160];
};

static int perr(struct parser *p, size_t off, const char *fmt, ...) BW_PRINTF(3, 4);
static int perr(struct parser *p, size_t off, const char *fmt, ...)
{
	if (p->failed)
		return -1;
	p->failed = true;
	p->err_off = off;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Appends code point cp as UTF-8; refuses surrogates and > U+10FFFF. */
static int put_utf8(char *out, size_t *n, uint32_t cp)
{
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xC0 | (cp >> 6));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xE0 | (cp >> 12));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*n)++] = (char)(0xF0 | (cp >> 18));
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	}
	return 0;
}

/* A quoted string literal ('..' or ".."; r/R prefix for raw). The decoded
 * text is never longer than the source, so one allocation of the source
 * length suffices. */
static int lex_string(struct parser *p, bool raw)
{
	size_t start = p->pos;
	char q = p->s[p->pos++];
	char *out = bw_arena_alloc(p->a, p->len - start + 1);
	size_t n = 0;
	if (!out)
		return perr(p, start, "out of memory");
	for (;;) {
		if (p->pos >= p->len)
			return perr(p, start, "unterminated string literal");
		char c = p->s[p->pos++];
		if (c == q)
			break;
		if (c == '\n' || c == '\r')
			return perr(p, p->pos - 1, "newline in string literal");
		if (c != '\\' || raw) {
			out[n++] = c;
			continue;
		}
		if (p->pos >= p->len)
			return perr(p, start, "unterminated string literal");
		char e = p->s[p->pos++];
		uint32_t cp = 0;
		int digits = 0;
		switch (e) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case 'a': out[n++] = '\a'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'v': out[n++] = '\v'; break;
		case '\\': out[n++] = '\\'; break;
		case '\'': out[n++] = '\''; break;
		case '"': out[n++] = '"'; break;
		case '`': out[n++] = '`'; break;
		case '?': out[n++] = '?'; break;
		case 'x': case 'X': digits = 2; break;
		case 'u': digits = 4; break;
		case 'U': digits = 8; break;
		default:
			return perr(p, p->pos - 2, "invalid escape sequence");
		}
		if (digits) {
			for (int i = 0; i < digits; i++) {
				int h = p->pos < p->len ? bw_hex_digit(p->s[p->pos]) : -1;
				if (h < 0)
					return perr(p, p->pos, "invalid escape sequence");
				cp = cp * 16 + (uint32_t)h;
				p->pos++;
			}
			/* \xHH is a code point here, as CEL defines it for
			 * strings; at most 4 bytes out for at least 4 in. */
			if (put_utf8(out, &n, cp) < 0)
				return perr(p, p->pos, "invalid code point in escape");
		}
	}
	out[n] = 0;
	p->sval = out;
	p->slen = n;
	p->t = T_STRING;
	return 0;
}

static int lex_number(struct parser *p)
{
	size_t start = p->pos;
	const char *s = p->s;
	bool hex = false, dbl = false;
	if (s[p->pos] == '0' && p->pos + 1 < p->len &&
	    (s[p->pos + 1] == 'x' || s[p->pos + 1] == 'X')) {
		hex = true;
		p->pos += 2;
		size_t d0 = p->pos;
		while (p->pos < p->len && bw_hex_digit(s[p->pos]) >= 0)
			p->pos++;
		if (p->pos == d0)
			return perr(p, start, "invalid hex literal");
	} else {
		while (p->pos < p->len && is_digit(s[p->pos]))
			p->pos++;
		if (p->pos + 1 < p->len && s[p->pos] == '.' && is_digit(s[p->pos + 1])) {
			dbl = true;
			p->pos++;
			while (p->pos < p->len && is_digit(s[p->pos]))
				p->pos++;
		}
		if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
			size_t e = p->pos + 1;
			if (e < p->len && (s[e] == '+' || s[e] == '-'))
				e++;
			if (e < p->len && is_digit(s[e])) {
				dbl = true;
				p->pos = e;
				while (p->pos < p->len && is_digit(s[p->pos]))
					p->pos++;
			}
		}
	}
	size_t end = p->pos;
	bool u = false;
	if (!dbl && p->pos < p->len && (s[p->pos] == 'u' || s[p->pos] == 'U')) {
		u = true;
		p->pos++;
	}
	if (p->pos < p->len && (is_ident_start(s[p->pos]) || is_digit(s[p->pos])))
		return perr(p, start, "invalid number literal");
	if (end - start > 64)
		return perr(p, start, "number literal too long");
	char buf[80];
	memcpy(buf, s + start, end - start);
	buf[end - start] = 0;
	if (dbl) {
		char *ep;
		p->dval = strtod(buf, &ep);
		if (*ep || !isfinite(p->dval))
			return perr(p, start, "invalid double literal");
		p->t = T_DOUBLE;
		return 0;
	}
	uint64_t v = 0;
	for (size_t i = hex ? 2 : 0; buf[i]; i++) {
		int d = hex ? bw_hex_digit(buf[i]) : buf[i] - '0';
		if (__builtin_mul_overflow(v, (uint64_t)(hex ? 16 : 10), &v) ||
		    __builtin_add_overflow(v, (uint64_t)d, &v))
			return perr(p, start, "integer literal out of range");
	}
	if (u) {
		p->uval = v;
		p->t = T_UINT;
	} else {
		/* 9223372036854775808 is allowed only under unary minus; the
		 * parser folds it, so keep the magnitude in uval. */
		if (v > (uint64_t)INT64_MAX + 1)
			return perr(p, start, "integer literal out of range");
		p->uval = v;
		p->t = T_INT;
	}
	return 0;
}

static int next(struct parser *p)
{
	const char *s = p->s;
	for (;;) {
		while (p->pos < p->len &&
		       (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
			s[p->pos] == '\r'))
			p->pos++;
		if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '/') {
			while (p->pos < p->len && s[p->pos] != '\n')
				p->pos++;
			continue;
		}
		break;
	}
	p->tpos = p->pos;
	if (p->pos >= p->len) {
		p->t = T_EOF;
		return 0;
	}
	char c = s[p->pos];
	char d = p->pos + 1 < p->len ? s[p->pos + 1] : 0;
	if ((c == 'r' || c == 'R') && (d == '"' || d == '\'')) {
		p->pos++;
		return lex_string(p, true);
	}
	if (is_ident_start(c)) {
		size_t st = p->pos;
		while (p->pos < p->len && (is_ident_start(s[p->pos]) || is_digit(s[p->pos])))
			p->pos++;
		p->tp = s + st;
		p->tlen = p->pos - st;
		struct bw_str w = bw_str_make(p->tp, p->tlen);
		if (bw_str_eq_lit(w, "true"))
			p->t = T_TRUE;
		else if (bw_str_eq_lit(w, "false"))
			p->t = T_FALSE;
		else if (bw_str_eq_lit(w, "null"))
			p->t = T_NULL;
		else if (bw_str_eq_lit(w, "in"))
			p->t = T_IN;
		else
			p->t = T_IDENT;
		return 0;
	}
	if (is_digit(c) || (c == '.' && is_digit(d))) {
		if (c == '.')
			return perr(p, p->pos, "a number must start with a digit");
		return lex_number(p);
	}
	if (c == '"' || c == '\'')
		return lex_string(p, false);
	p->pos++;
	switch (c) {
	case '(': p->t = T_LPAREN; return 0;
	case ')': p->t = T_RPAREN; return 0;
	case '[': p->t = T_LBRACK; return 0;
	case ']': p->t = T_RBRACK; return 0;
	case '{': p->t = T_LBRACE; return 0;
	case '}': p->t = T_RBRACE; return 0;
	case '.': p->t = T_DOT; return 0;
	case ',': p->t = T_COMMA; return 0;
	case ':': p->t = T_COLON; return 0;
	case '?': p->t = T_QUEST; return 0;
	case '-': p->t = T_MINUS; return 0;
	case '+': p->t = T_PLUS; return 0;
	case '*': p->t = T_STAR; return 0;
	case '/': p->t = T_SLASH; return 0;
	case '%': p->t = T_PERCENT; return 0;
	case '!':
		if (d == '=') {
			p->pos++;
			p->t = T_NE;
		} else {
			p->t = T_NOT;
		}
		return 0;
	case '<':
		if (d == '=') {
			p->pos++;
			p->t = T_LE;
		} else {
			p->t = T_LT;
		}
		return 0;
	case '>':
		if (d == '=') {
			p->pos++;
			p->t = T_GE;
		} else {
			p->t = T_GT;
		}
		return 0;
	case '=':
		if (d == '=') {
			p->pos++;
			p->t = T_EQ;
			return 0;
		}
		return perr(p, p->pos - 1, "unexpected '=' (did you mean '==')");
	case '&':
		if (d == '&') {
			p->pos++;
			p->t = T_AND;
			return 0;
		}
		break;
	case '|':
		if (d == '|') {
			p->pos++;
			p->t = T_OR;
			return 0;
		}
		break;
	default:
		break;
	}
	return perr(p, p->pos - 1, "unexpected character '%c'",
		    (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?');
}

/* --------------------------------------------------------------- parser */

static struct cnode *mk(struct parser *p, enum nkind k, size_t pos)
{
	if (++p->nodes > AUTHZ_CEL_MAX_NODES) {
		perr(p, pos, "expression too large");
		return NULL;
	}
	struct cnode *n = bw_arena_zalloc(p->a, sizeof(*n));
	if (!n) {
		perr(p, pos, "out of memory");
		return NULL;
	}
	n->kind = (uint8_t)k;
	n->pos = (uint32_t)pos;
	n->st = CEL_T_ANY;
	n->st_elem = CEL_T_ANY;
	return n;
}

static const char *tname(enum cel_type t)
{
	switch (t) {
	case CEL_T_ANY: return "dyn";
	case CEL_T_NULL: return "null";
	case CEL_T_BOOL: return "bool";
	case CEL_T_INT: return "int";
	case CEL_T_UINT: return "uint";
	case CEL_T_DOUBLE: return "double";
	case CEL_T_STRING: return "string";
	case CEL_T_LIST: return "list";
	case CEL_T_MAP: return "map";
	case CEL_T_TIMESTAMP: return "timestamp";
	case CEL_T_DURATION: return "duration";
	case CEL_T_IPADDR: return "ipaddress";
	case CEL_T_UNKNOWN: return "unknown";
	case CEL_T_ERROR: return "error";
	}
	return "?";
}

static bool numeric(enum cel_type t)
{
	return t == CEL_T_INT || t == CEL_T_UINT || t == CEL_T_DOUBLE;
}

static const char *bop_name(enum bop o)
{
	static const char *names[] = { "+", "-", "*", "/", "%", "<", "<=",
				       ">", ">=", "==", "!=", "in" };
	return names[o];
}

/* Static result type of a binary operator, or -1 when the operand types
 * are known and no overload exists. CEL_T_ANY when not knowable. */
static int bin_type(enum bop o, enum cel_type l, enum cel_type r)
{
	bool lk = l != CEL_T_ANY, rk = r != CEL_T_ANY;
	switch (o) {
	case B_EQ:
	case B_NE:
		return CEL_T_BOOL;
	case B_LT:
	case B_LE:
	case B_GT:
	case B_GE:
		if (lk && rk && !(numeric(l) && numeric(r)) && l != r)
			return -1;
		if (lk && (l == CEL_T_LIST || l == CEL_T_MAP || l == CEL_T_NULL ||
			   l == CEL_T_IPADDR))
			return -1;
		return CEL_T_BOOL;
	case B_IN:
		if (rk && r != CEL_T_LIST && r != CEL_T_MAP)
			return -1;
		return CEL_T_BOOL;
	case B_ADD:
		if (!lk || !rk) {
			if (lk && (l == CEL_T_BOOL || l == CEL_T_NULL ||
				   l == CEL_T_IPADDR || l == CEL_T_MAP))
				return -1;
			return CEL_T_ANY;
		}
		if (l == r && (numeric(l) || l == CEL_T_STRING || l == CEL_T_LIST ||
			       l == CEL_T_DURATION))
			return l;
		if ((l == CEL_T_TIMESTAMP && r == CEL_T_DURATION) ||
		    (l == CEL_T_DURATION && r == CEL_T_TIMESTAMP))
			return CEL_T_TIMESTAMP;
		return -1;
	case B_SUB:
		if (!lk || !rk)
			return CEL_T_ANY;
		if (l == r && (numeric(l) || l == CEL_T_DURATION))
			return l;
		if (l == CEL_T_TIMESTAMP && r == CEL_T_TIMESTAMP)
			return CEL_T_DURATION;
		if (l == CEL_T_TIMESTAMP && r == CEL_T_DURATION)
			return CEL_T_TIMESTAMP;
		return -1;
	case B_MUL:
	case B_DIV:
	case B_MOD:
		if (!lk || !rk)
			return CEL_T_ANY;
		if (l == r && numeric(l) && !(o == B_MOD && l == CEL_T_DOUBLE))
			return l;
		return -1;
	}
	return -1;
}

static struct cnode *parse_expr(struct parser *p);

static struct cnode *parse_args(struct parser *p, struct cnode *call, enum tok close)
{
	struct cnode *items[64];
	size_t n = 0;
	if (p->t != close) {
		for (;;) {
			if (n == BW_ARRAY_LEN(items)) {
				perr(p, p->tpos, "too many arguments or elements");
				return NULL;
			}
			struct cnode *e = parse_expr(p);
			if (!e)
				return NULL;
			items[n++] = e;
			if (call->kind == K_MAP) {
				if (p->t != T_COLON) {
					perr(p, p->tpos, "expected ':' in map literal");
					return NULL;
				}
				if (next(p) < 0)
					return NULL;
				if (n == BW_ARRAY_LEN(items)) {
					perr(p, p->tpos, "too many map entries");
					return NULL;
				}
				if (!(e = parse_expr(p)))
					return NULL;
				items[n++] = e;
			}
			if (p->t != T_COMMA)
				break;
			if (next(p) < 0)
				return NULL;
			if (p->t == close && call->kind != K_CALL)
				break; /* trailing comma in a literal */
		}
	}
	if (p->t != close) {
		perr(p, p->tpos, "expected '%s'",
		     close == T_RPAREN ? ")" : close == T_RBRACK ? "]" : "}");
		return NULL;
	}
	if (next(p) < 0)
		return NULL;
	call->n = (uint32_t)n;
	if (n) {
		call->args = bw_arena_alloc(p->a, n * sizeof(*call->args));
		if (!call->args) {
			perr(p, call->pos, "out of memory");
			return NULL;
		}
		memcpy(call->args, items, n * sizeof(*items));
	}
	return call;
}

/* Resolves a call's function and checks arity and known operand types. */
static struct cnode *finish_call(struct parser *p, struct cnode *c, const char *name,
				 size_t nlen, bool method)
{
	const struct fninfo *f = NULL;
	for (size_t i = 0; i < BW_ARRAY_LEN(fns); i++)
		if (strlen(fns[i].name) == nlen && memcmp(fns[i].name, name, nlen) == 0)
			f = &fns[i];
	if (!f) {
		perr(p, c->pos, "undeclared reference to function '%.*s'", (int)nlen, name);
		return NULL;
	}
	/* size(x) and x.size() are the same; normalise to the method form. */
	if (f->fn == F_SIZE && !method && c->n == 1) {
		c->a = c->args[0];
		c->n = 0;
		method = true;
	}
	if ((method && f->method == 0) || (!method && f->method == 1) ||
	    (int)c->n != (method ? (f->fn == F_SIZE ? 0 : f->nargs) : f->nargs)) {
		perr(p, c->pos, "no matching overload for '%.*s'", (int)nlen, name);
		return NULL;
	}
	c->op = (uint8_t)f->fn;
	enum cel_type tt = c->a ? (enum cel_type)c->a->st : CEL_T_ANY;
	enum cel_type at = c->n ? (enum cel_type)c->args[0]->st : CEL_T_ANY;
	enum cel_type res = CEL_T_ANY;
	bool bad = false;
	switch (f->fn) {
	case F_TIMESTAMP:
		bad = at != CEL_T_ANY && at != CEL_T_STRING && at != CEL_T_TIMESTAMP &&
		      at != CEL_T_INT;
		res = CEL_T_TIMESTAMP;
		break;
	case F_DURATION:
		bad = at != CEL_T_ANY && at != CEL_T_STRING && at != CEL_T_DURATION;
		res = CEL_T_DURATION;
		break;
	case F_IPADDRESS:
		bad = at != CEL_T_ANY && at != CEL_T_STRING && at != CEL_T_IPADDR;
		res = CEL_T_IPADDR;
		break;
	case F_SIZE:
		bad = tt != CEL_T_ANY && tt != CEL_T_STRING && tt != CEL_T_LIST &&
		      tt != CEL_T_MAP;
		res = CEL_T_INT;
		break;
	case F_INT:
	case F_UINT:
	case F_DOUBLE:
		bad = at != CEL_T_ANY && !numeric(at) && at != CEL_T_STRING &&
		      !(f->fn == F_INT && (at == CEL_T_TIMESTAMP || at == CEL_T_DURATION));
		res = f->fn == F_INT ? CEL_T_INT : f->fn == F_UINT ? CEL_T_UINT : CEL_T_DOUBLE;
		break;
	case F_STRING:
		res = CEL_T_STRING;
		bad = at == CEL_T_LIST || at == CEL_T_MAP;
		break;
	case F_CONTAINS:
	case F_STARTS:
	case F_ENDS:
		bad = (tt != CEL_T_ANY && tt != CEL_T_STRING) ||
		      (at != CEL_T_ANY && at != CEL_T_STRING);
		res = CEL_T_BOOL;
		break;
	case F_IN_CIDR:
		bad = (tt != CEL_T_ANY && tt != CEL_T_IPADDR) ||
		      (at != CEL_T_ANY && at != CEL_T_STRING);
		res = CEL_T_BOOL;
		break;
	case F_FULL_YEAR: case F_MONTH: case F_DAY_OF_MONTH: case F_DATE:
	case F_DAY_OF_WEEK: case F_DAY_OF_YEAR:
		bad = tt != CEL_T_ANY && tt != CEL_T_TIMESTAMP;
		res = CEL_T_INT;
		break;
	case F_HOURS: case F_MINUTES: case F_SECONDS: case F_MILLIS:
		bad = tt != CEL_T_ANY && tt != CEL_T_TIMESTAMP && tt != CEL_T_DURATION;
		res = CEL_T_INT;
		break;
	}
	if (bad) {
		perr(p, c->pos, "no matching overload for '%.*s' applied to %s",
		     (int)nlen, name, tname(c->a ? tt : at));
		return NULL;
	}
	c->st = (uint8_t)res;
	return c;
}

static struct cnode *parse_primary(struct parser *p)
{
	size_t pos = p->tpos;
	struct cnode *n;
	switch (p->t) {
	case T_INT:
		if (p->uval > (uint64_t)INT64_MAX) {
			perr(p, pos, "integer literal out of range");
			return NULL;
		}
		if (!(n = mk(p, K_LIT, pos)))
			return NULL;
		n->lit.t = CEL_T_INT;
		n->lit.u.i = (int64_t)p->uval;
		n->st = CEL_T_INT;
		break;
	case T_UINT:
		if (!(n = mk(p, K_LIT, pos)))
			return NULL;
		n->lit.t = CEL_T_UINT;
		n->lit.u.u = p->uval;
		n->st = CEL_T_UINT;
		break;
	case T_DOUBLE:
		if (!(n = mk(p, K_LIT, pos)))
			return NULL;
		n->lit.t = CEL_T_DOUBLE;
		n->lit.u.d = p->dval;
		n->st = CEL_T_DOUBLE;
		break;
	case T_STRING:
		if (!(n = mk(p, K_LIT, pos)))
			return NULL;
		n->lit.t = CEL_T_STRING;
		n->lit.u.s.p = p->sval;
		n->lit.u.s.len = p->slen;
		n->st = CEL_T_STRING;
		break;
	case T_TRUE:
	case T_FALSE:
		if (!(n = mk(p, K_LIT, pos)))
			return NULL;
		n->lit.t = CEL_T_BOOL;
		n->lit.u.b = p->t == T_TRUE;
		n->st = CEL_T_BOOL;
		break;
	case T_NULL:
		if (!(n = mk(p, K_LIT, pos)))
			return NULL;
		n->lit.t = CEL_T_NULL;
		n->st = CEL_T_NULL;
		break;
	case T_LPAREN:
		if (next(p) < 0)
			return NULL;
		if (!(n = parse_expr(p)))
			return NULL;
		if (p->t != T_RPAREN) {
			perr(p, p->tpos, "expected ')'");
			return NULL;
		}
		break;
	case T_LBRACK:
		if (!(n = mk(p, K_LIST, pos)) || next(p) < 0)
			return NULL;
		if (!parse_args(p, n, T_RBRACK))
			return NULL;
		n->st = CEL_T_LIST;
		return n;
	case T_LBRACE:
		if (!(n = mk(p, K_MAP, pos)) || next(p) < 0)
			return NULL;
		if (!parse_args(p, n, T_RBRACE))
			return NULL;
		for (uint32_t i = 0; i < n->n; i += 2) {
			enum cel_type kt = n->args[i]->st;
			if (kt != CEL_T_ANY && kt != CEL_T_STRING) {
				perr(p, n->args[i]->pos, "map keys must be strings");
				return NULL;
			}
		}
		n->st = CEL_T_MAP;
		return n;
	case T_IDENT: {
		const char *name = p->tp;
		size_t nlen = p->tlen;
		if (next(p) < 0)
			return NULL;
		if (p->t == T_LPAREN) {
			if (!(n = mk(p, K_CALL, pos)) || next(p) < 0)
				return NULL;
			if (!parse_args(p, n, T_RPAREN))
				return NULL;
			return finish_call(p, n, name, nlen, false);
		}
		if (!(n = mk(p, K_PARAM, pos)))
			return NULL;
		n->param = -1;
		for (size_t i = 0; i < p->nparams; i++)
			if (strlen(p->params[i].name) == nlen &&
			    memcmp(p->params[i].name, name, nlen) == 0) {
				n->param = (int)i;
				n->st = (uint8_t)p->params[i].type.t;
				n->st_elem = (uint8_t)p->params[i].type.elem;
			}
		if (n->param < 0) {
			perr(p, pos, "undeclared reference to '%.*s'", (int)nlen, name);
			return NULL;
		}
		return n;
	}
	case T_EOF:
		perr(p, pos, "unexpected end of expression");
		return NULL;
	default:
		perr(p, pos, "unexpected token");
		return NULL;
	}
	if (next(p) < 0)
		return NULL;
	return n;
}

static struct cnode *parse_member(struct parser *p)
{
	struct cnode *n = parse_primary(p);
	while (n) {
		if (p->t == T_DOT) {
			if (next(p) < 0)
				return NULL;
			if (p->t != T_IDENT) {
				perr(p, p->tpos, "expected a field or method name after '.'");
				return NULL;
			}
			size_t pos = p->tpos;
			const char *name = p->tp;
			size_t nlen = p->tlen;
			if (next(p) < 0)
				return NULL;
			if (p->t == T_LPAREN) {
				struct cnode *c = mk(p, K_CALL, pos);
				if (!c || next(p) < 0)
					return NULL;
				c->a = n;
				if (!parse_args(p, c, T_RPAREN))
					return NULL;
				n = finish_call(p, c, name, nlen, true);
			} else {
				if (n->st != CEL_T_ANY && n->st != CEL_T_MAP) {
					perr(p, pos, "type '%s' has no field '%.*s'",
					     tname(n->st), (int)nlen, name);
					return NULL;
				}
				struct cnode *f = mk(p, K_FIELD, pos);
				if (!f)
					return NULL;
				f->a = n;
				f->name = bw_str_make(name, nlen);
				if (n->st == CEL_T_MAP)
					f->st = n->st_elem;
				n = f;
			}
		} else if (p->t == T_LBRACK) {
			size_t pos = p->tpos;
			if (next(p) < 0)
				return NULL;
			struct cnode *ix = mk(p, K_INDEX, pos);
			if (!ix)
				return NULL;
			ix->a = n;
			if (!(ix->b = parse_expr(p)))
				return NULL;
			if (p->t != T_RBRACK) {
				perr(p, p->tpos, "expected ']'");
				return NULL;
			}
			if (next(p) < 0)
				return NULL;
			if (n->st != CEL_T_ANY && n->st != CEL_T_LIST && n->st != CEL_T_MAP) {
				perr(p, pos, "type '%s' cannot be indexed", tname(n->st));
				return NULL;
			}
			if (n->st == CEL_T_LIST || n->st == CEL_T_MAP)
				ix->st = n->st_elem;
			n = ix;
		} else {
			break;
		}
	}
	return n;
}

static struct cnode *parse_unary(struct parser *p)
{
	if (p->t == T_NOT || p->t == T_MINUS) {
		size_t pos = p->tpos;
		bool neg = p->t == T_MINUS;
		if (++p->depth > AUTHZ_CEL_MAX_DEPTH) {
			perr(p, pos, "expression nested too deeply");
			return NULL;
		}
		if (next(p) < 0)
			return NULL;
		/* -9223372036854775808 is the one literal that only exists
		 * negated. */
		if (neg && p->t == T_INT) {
			size_t lpos = p->tpos;
			uint64_t mag = p->uval;
			if (next(p) < 0)
				return NULL;
			struct cnode *l = mk(p, K_LIT, lpos);
			if (!l)
				return NULL;
			l->lit.t = CEL_T_INT;
			l->lit.u.i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
			l->st = CEL_T_INT;
			p->depth--;
			/* member access binds tighter than unary minus, but a
			 * negative literal has no members worth calling. */
			return l;
		}
		struct cnode *o = parse_unary(p);
		p->depth--;
		if (!o)
			return NULL;
		struct cnode *n = mk(p, neg ? K_NEG : K_NOT, pos);
		if (!n)
			return NULL;
		n->a = o;
		if (neg) {
			if (o->st != CEL_T_ANY && o->st != CEL_T_INT && o->st != CEL_T_DOUBLE &&
			    o->st != CEL_T_DURATION) {
				perr(p, pos, "no matching overload for '-' applied to %s",
				     tname(o->st));
				return NULL;
			}
			n->st = o->st;
		} else {
			if (o->st != CEL_T_ANY && o->st != CEL_T_BOOL) {
				perr(p, pos, "no matching overload for '!' applied to %s",
				     tname(o->st));
				return NULL;
			}
			n->st = CEL_T_BOOL;
		}
		return n;
	}
	return parse_member(p);
}

static int binop_of(enum tok t, int level)
{
	switch (level) {
	case 0: /* multiplicative */
		return t == T_STAR ? B_MUL : t == T_SLASH ? B_DIV : t == T_PERCENT ? B_MOD : -1;
	case 1:
		return t == T_PLUS ? B_ADD : t == T_MINUS ? B_SUB : -1;
	case 2:
		switch (t) {
		case T_LT: return B_LT;
		case T_LE: return B_LE;
		case T_GT: return B_GT;
		case T_GE: return B_GE;
		case T_EQ: return B_EQ;
		case T_NE: return B_NE;
		case T_IN: return B_IN;
		default: return -1;
		}
	}
	return -1;
}

static struct cnode *parse_binary(struct parser *p, int level)
{
	struct cnode *l = level == 0 ? parse_unary(p) : parse_binary(p, level - 1);
	int op;
	while (l && (op = binop_of(p->t, level)) >= 0) {
		size_t pos = p->tpos;
		if (next(p) < 0)
			return NULL;
		struct cnode *r = level == 0 ? parse_unary(p) : parse_binary(p, level - 1);
		if (!r)
			return NULL;
		int rt = bin_type((enum bop)op, l->st, r->st);
		if (rt < 0) {
			perr(p, pos, "no matching overload for '%s' applied to (%s, %s)",
			     bop_name((enum bop)op), tname(l->st), tname(r->st));
			return NULL;
		}
		struct cnode *n = mk(p, K_BIN, pos);
		if (!n)
			return NULL;
		n->op = (uint8_t)op;
		n->a = l;
		n->b = r;
		n->st = (uint8_t)rt;
		if (rt == CEL_T_LIST)
			n->st_elem = l->st_elem == r->st_elem ? l->st_elem : CEL_T_ANY;
		l = n;
	}
	return l;
}

static struct cnode *parse_logic(struct parser *p, bool is_or)
{
	struct cnode *l = is_or ? parse_logic(p, false) : parse_binary(p, 2);
	enum tok want = is_or ? T_OR : T_AND;
	while (l && p->t == want) {
		size_t pos = p->tpos;
		if (next(p) < 0)
			return NULL;
		struct cnode *r = is_or ? parse_logic(p, false) : parse_binary(p, 2);
		if (!r)
			return NULL;
		if ((l->st != CEL_T_ANY && l->st != CEL_T_BOOL) ||
		    (r->st != CEL_T_ANY && r->st != CEL_T_BOOL)) {
			perr(p, pos, "no matching overload for '%s' applied to (%s, %s)",
			     is_or ? "||" : "&&", tname(l->st), tname(r->st));
			return NULL;
		}
		struct cnode *n = mk(p, is_or ? K_OR : K_AND, pos);
		if (!n)
			return NULL;
		n->a = l;
		n->b = r;
		n->st = CEL_T_BOOL;
		l = n;
	}
	return l;
}

static struct cnode *parse_expr(struct parser *p)
{
	if (++p->depth > AUTHZ_CEL_MAX_DEPTH) {
		perr(p, p->tpos, "expression nested too deeply");
		return NULL;
	}
	struct cnode *c = parse_logic(p, true);
	if (c && p->t == T_QUEST) {
		size_t pos = p->tpos;
		if (c->st != CEL_T_ANY && c->st != CEL_T_BOOL) {
			perr(p, pos, "the condition of '?:' must be bool, not %s", tname(c->st));
			return NULL;
		}
		if (next(p) < 0)
			return NULL;
		struct cnode *t = parse_logic(p, true);
		if (!t)
			return NULL;
		if (p->t != T_COLON) {
			perr(p, p->tpos, "expected ':'");
			return NULL;
		}
		if (next(p) < 0)
			return NULL;
		struct cnode *f = parse_expr(p);
		if (!f)
			return NULL;
		struct cnode *n = mk(p, K_COND, pos);
		if (!n)
			return NULL;
		n->a = c;
		n->b = t;
		n->c = f;
		n->st = t->st == f->st ? t->st : CEL_T_ANY;
		c = n;
	}
	p->depth--;
	return c;
}

struct cel_prog *authz_cel_compile(struct bw_arena *a, const char *expr,
				   size_t len, const struct cel_param *params,
				   size_t nparams, size_t *err_off,
				   struct bw_err *err)
{
	struct parser p = { .s = expr, .len = len, .a = a, .params = params,
			    .nparams = nparams };
	struct cnode *root = NULL;
	if (len > AUTHZ_CEL_MAX_BYTES) {
		perr(&p, 0, "expression longer than %d bytes", AUTHZ_CEL_MAX_BYTES);
	} else if (memchr(expr, 0, len)) {
		perr(&p, (size_t)((const char *)memchr(expr, 0, len) - expr),
		     "NUL byte in expression");
	} else if (next(&p) == 0) {
		root = parse_expr(&p);
		if (root && p.t != T_EOF)
			perr(&p, p.tpos, "unexpected token after the expression");
		else if (root && root->st != CEL_T_ANY && root->st != CEL_T_BOOL)
			perr(&p, 0, "a condition must evaluate to bool, not %s",
			     tname(root->st));
	}
	if (p.failed) {
		if (err_off)
			*err_off = p.err_off;
		bw_err_set(err, 400, "authz", "cel", "column %zu: %s", p.err_off + 1, p.msg);
		return NULL;
	}
	struct cel_prog *prog = bw_arena_zalloc(a, sizeof(*prog));
	if (!prog) {
		bw_err_set(err, 500, "authz", "memory", "out of memory");
		return NULL;
	}
	prog->root = root;
	prog->nparams = nparams;
	return prog;
}

/* ----------------------------------------------------------- time maths */

/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* CEL's timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define TS_MIN (-62135596800LL)
#define TS_MAX (253402300799LL)

static int digits(const char *s, size_t len, size_t *i, int n, int *out)
{
	int v = 0;
	for (int k = 0; k < n; k++) {
		if (*i >= len || !is_digit(s[*i]))
			return -1;
		v = v * 10 + (s[(*i)++] - '0');
	}
	*out = v;
	return 0;
}

int authz_cel_parse_timestamp(const char *s, size_t len, int64_t *sec, int32_t *nsec)
{
	size_t i = 0;
	int y, mo, d, h, mi, se;
	if (digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-' ||
	    digits(s, len, &i, 2, &mo) || i >= len || s[i++] != '-' ||
	    digits(s, len, &i, 2, &d) || i >= len || (s[i] != 'T' && s[i] != 't') ||
	    !++i || digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' ||
	    digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':' ||
	    digits(s, len, &i, 2, &se))
		return -1;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || se > 59)
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -1;
	int32_t ns = 0;
	if (i < len && s[i] == '.') {
		i++;
		int nd = 0;
		while (i < len && is_digit(s[i])) {
			if (nd < 9)
				ns = ns * 10 + (s[i] - '0');
			nd++;
			i++;
		}
		if (nd == 0)
			return -1;
		for (int k = nd; k < 9; k++)
			ns *= 10;
	}
	int64_t off = 0;
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i++] == '-' ? -1 : 1;
		int oh, om;
		if (digits(s, len, &i, 2, &oh) || i >= len || s[i++] != ':' ||
		    digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
	if (t < TS_MIN || t > TS_MAX)
		return -1;
	*sec = t;
	*nsec = ns;
	return 0;
}

/* Go's time.ParseDuration grammar: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ or "0". */
int authz_cel_parse_duration(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (len - i == 1 && s[i] == '0') {
		*out = 0;
		return 0;
	}
	if (i == len)
		return -1;
	/* Accumulate in unsigned so INT64_MIN is reachable. */
	uint64_t total = 0;
	while (i < len) {
		uint64_t whole = 0, frac = 0, scale = 1;
		size_t d0 = i;
		while (i < len && is_digit(s[i])) {
			if (__builtin_mul_overflow(whole, (uint64_t)10, &whole) ||
			    __builtin_add_overflow(whole, (uint64_t)(s[i] - '0'), &whole))
				return -1;
			i++;
		}
		bool have = i > d0;
		if (i < len && s[i] == '.') {
			i++;
			size_t f0 = i;
			while (i < len && is_digit(s[i])) {
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(s[i] - '0');
					scale *= 10;
				}
				i++;
			}
			have = have || i > f0;
		}
		if (!have)
			return -1;
		size_t u0 = i;
		while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (unsigned char)s[i] >= 0x80))
			i++;
		struct bw_str u = bw_str_make(s + u0, i - u0);
		uint64_t unit;
		if (bw_str_eq_lit(u, "ns"))
			unit = 1;
		else if (bw_str_eq_lit(u, "us") || bw_str_eq_lit(u, "\xc2\xb5s") ||
			 bw_str_eq_lit(u, "\xce\xbcs"))
			unit = 1000;
		else if (bw_str_eq_lit(u, "ms"))
			unit = 1000000;
		else if (bw_str_eq_lit(u, "s"))
			unit = 1000000000ULL;
		else if (bw_str_eq_lit(u, "m"))
			unit = 60000000000ULL;
		else if (bw_str_eq_lit(u, "h"))
			unit = 3600000000000ULL;
		else
			return -1;
		uint64_t v;
		if (__builtin_mul_overflow(whole, unit, &v))
			return -1;
		if (frac) {
			/* frac/scale of a unit, rounded down; scale <= 1e18 and
			 * unit <= 3.6e12 so use long double for the product. */
			long double f = (long double)frac * (long double)unit / (long double)scale;
			if (__builtin_add_overflow(v, (uint64_t)f, &v))
				return -1;
		}
		if (__builtin_add_overflow(total, v, &total))
			return -1;
		if (total > (uint64_t)INT64_MAX + (neg ? 1 : 0))
			return -1;
	}
	*out = neg ? (int64_t)(0 - total) : (int64_t)total;
	return 0;
}

static int parse_ip(const char *s, size_t len, struct cel_value *out)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf) || memchr(s, 0, len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	memset(out, 0, sizeof(*out));
	out->t = CEL_T_IPADDR;
	if (inet_pton(AF_INET, buf, out->u.ip.a) == 1)
		return 0;
	if (inet_pton(AF_INET6, buf, out->u.ip.a) == 1) {
		out->u.ip.v6 = 1;
		return 0;
	}
	return -1;
}

/* ------------------------------------------------------------ evaluator */

struct evctx {
	const struct cel_value *args;
	struct bw_arena *a;
	size_t steps;
	int depth;
};

static void set_err(struct cel_value *v, const char *msg)
{
	v->t = CEL_T_ERROR;
	v->u.msg = msg;
}

static void set_bool(struct cel_value *v, bool b)
{
	v->t = CEL_T_BOOL;
	v->u.b = b;
}

static void set_int(struct cel_value *v, int64_t i)
{
	v->t = CEL_T_INT;
	v->u.i = i;
}

static bool bad(const struct cel_value *v)
{
	return v->t == CEL_T_ERROR || v->t == CEL_T_UNKNOWN;
}

/* Numeric comparison across int, uint and double: -1, 0, 1, or 2 when
 * unordered (NaN). */
static int numcmp(const struct cel_value *l, const struct cel_value *r)
{
	if (l->t == r->t) {
		switch (l->t) {
		case CEL_T_INT: return (l->u.i > r->u.i) - (l->u.i < r->u.i);
		case CEL_T_UINT: return (l->u.u > r->u.u) - (l->u.u < r->u.u);
		default: break;
		}
	}
	if (l->t == CEL_T_INT && r->t == CEL_T_UINT) {
		if (l->u.i < 0)
			return -1;
		uint64_t a = (uint64_t)l->u.i;
		return (a > r->u.u) - (a < r->u.u);
	}
	if (l->t == CEL_T_UINT && r->t == CEL_T_INT)
		return -numcmp(r, l);
	double a = l->t == CEL_T_INT ? (double)l->u.i : l->t == CEL_T_UINT ? (double)l->u.u : l->u.d;
	double b = r->t == CEL_T_INT ? (double)r->u.i : r->t == CEL_T_UINT ? (double)r->u.u : r->u.d;
	if (isnan(a) || isnan(b))
		return 2;
	return (a > b) - (a < b);
}

static int strcmp_bw(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c < 0 ? -1 : 1;
	return (al > bl) - (al < bl);
}

/* Equality: heterogeneous types are unequal (numbers compare by value). */
static bool equal(const struct cel_value *l, const struct cel_value *r)
{
	if (numeric(l->t) && numeric(r->t))
		return numcmp(l, r) == 0;
	if (l->t != r->t)
		return false;
	switch (l->t) {
	case CEL_T_NULL: return true;
	case CEL_T_BOOL: return l->u.b == r->u.b;
	case CEL_T_STRING:
		return l->u.s.len == r->u.s.len && memcmp(l->u.s.p, r->u.s.p, l->u.s.len) == 0;
	case CEL_T_TIMESTAMP: return l->u.ts.sec == r->u.ts.sec && l->u.ts.nsec == r->u.ts.nsec;
	case CEL_T_DURATION: return l->u.dur == r->u.dur;
	case CEL_T_IPADDR:
		return l->u.ip.v6 == r->u.ip.v6 && memcmp(l->u.ip.a, r->u.ip.a, 16) == 0;
	case CEL_T_LIST:
		if (l->u.list.n != r->u.list.n)
			return false;
		for (size_t i = 0; i < l->u.list.n; i++)
			if (!equal(&l->u.list.items[i], &r->u.list.items[i]))
				return false;
		return true;
	case CEL_T_MAP:
		if (l->u.map.n != r->u.map.n)
			return false;
		for (size_t i = 0; i < l->u.map.n; i++) {
			bool found = false;
			for (size_t j = 0; j < r->u.map.n && !found; j++)
				if (bw_str_eq(l->u.map.kv[i].key, r->u.map.kv[j].key))
					found = equal(&l->u.map.kv[i].val, &r->u.map.kv[j].val);
			if (!found)
				return false;
		}
		return true;
	default:
		return false;
	}
}

static void ev(struct evctx *c, const struct cnode *n, struct cel_value *out);

static const struct cel_value *map_get(const struct cel_value *m, const char *k, size_t klen)
{
	for (size_t i = m->u.map.n; i-- > 0;)
		if (m->u.map.kv[i].key.len == klen && memcmp(m->u.map.kv[i].key.p, k, klen) == 0)
			return &m->u.map.kv[i].val;
	return NULL;
}

static void ev_bin(struct evctx *c, const struct cnode *n, struct cel_value *out)
{
	struct cel_value l, r;
	ev(c, n->a, &l);
	ev(c, n->b, &r);
	if (l.t == CEL_T_UNKNOWN || r.t == CEL_T_UNKNOWN) {
		*out = l.t == CEL_T_UNKNOWN ? l : r;
		return;
	}
	if (bad(&l) || bad(&r)) {
		*out = bad(&l) ? l : r;
		return;
	}
	enum bop op = (enum bop)n->op;
	switch (op) {
	case B_EQ:
	case B_NE:
		set_bool(out, equal(&l, &r) == (op == B_EQ));
		return;
	case B_IN:
		if (r.t == CEL_T_LIST) {
			for (size_t i = 0; i < r.u.list.n; i++) {
				if (++c->steps > AUTHZ_CEL_MAX_STEPS)
					return set_err(out, "evaluation cost limit reached");
				if (equal(&l, &r.u.list.items[i]))
					return set_bool(out, true);
			}
			return set_bool(out, false);
		}
		if (r.t == CEL_T_MAP) {
			if (l.t != CEL_T_STRING)
				return set_bool(out, false);
			c->steps += r.u.map.n;
			return set_bool(out, map_get(&r, l.u.s.p, l.u.s.len) != NULL);
		}
		return set_err(out, "no matching overload for 'in'");
	case B_LT:
	case B_LE:
	case B_GT:
	case B_GE: {
		int cmp;
		if (numeric(l.t) && numeric(r.t)) {
			cmp = numcmp(&l, &r);
			if (cmp == 2)
				return set_bool(out, false);
		} else if (l.t != r.t) {
			return set_err(out, "no matching overload for comparison");
		} else if (l.t == CEL_T_STRING) {
			cmp = strcmp_bw(l.u.s.p, l.u.s.len, r.u.s.p, r.u.s.len);
		} else if (l.t == CEL_T_BOOL) {
			cmp = (l.u.b > r.u.b) - (l.u.b < r.u.b);
		} else if (l.t == CEL_T_TIMESTAMP) {
			cmp = l.u.ts.sec != r.u.ts.sec ? (l.u.ts.sec > r.u.ts.sec ? 1 : -1) :
							 (l.u.ts.nsec > r.u.ts.nsec) - (l.u.ts.nsec < r.u.ts.nsec);
		} else if (l.t == CEL_T_DURATION) {
			cmp = (l.u.dur > r.u.dur) - (l.u.dur < r.u.dur);
		} else {
			return set_err(out, "no matching overload for comparison");
		}
		bool b = op == B_LT ? cmp < 0 : op == B_LE ? cmp <= 0 : op == B_GT ? cmp > 0 : cmp >= 0;
		return set_bool(out, b);
	}
	default:
		break;
	}
	/* arithmetic */
	if (l.t == CEL_T_INT && r.t == CEL_T_INT) {
		int64_t v = 0;
		bool of = false;
		switch (op) {
		case B_ADD: of = __builtin_add_overflow(l.u.i, r.u.i, &v); break;
		case B_SUB: of = __builtin_sub_overflow(l.u.i, r.u.i, &v); break;
		case B_MUL: of = __builtin_mul_overflow(l.u.i, r.u.i, &v); break;
		case B_DIV:
		case B_MOD:
			if (r.u.i == 0)
				return set_err(out, op == B_DIV ? "division by zero" : "modulus by zero");
			if (l.u.i == INT64_MIN && r.u.i == -1)
				return set_err(out, "integer overflow");
			v = op == B_DIV ? l.u.i / r.u.i : l.u.i % r.u.i;
			break;
		default: break;
		}
		if (of)
			return set_err(out, "integer overflow");
		return set_int(out, v);
	}
	if (l.t == CEL_T_UINT && r.t == CEL_T_UINT) {
		uint64_t v = 0;
		bool of = false;
		switch (op) {
		case B_ADD: of = __builtin_add_overflow(l.u.u, r.u.u, &v); break;
		case B_SUB: of = __builtin_sub_overflow(l.u.u, r.u.u, &v); break;
		case B_MUL: of = __builtin_mul_overflow(l.u.u, r.u.u, &v); break;
		case B_DIV:
		case B_MOD:
			if (r.u.u == 0)
				return set_err(out, op == B_DIV ? "division by zero" : "modulus by zero");
			v = op == B_DIV ? l.u.u / r.u.u : l.u.u % r.u.u;
			break;
		default: break;
		}
		if (of)
			return set_err(out, "unsigned integer overflow");
		out->t = CEL_T_UINT;
		out->u.u = v;
		return;
	}
	if (l.t == CEL_T_DOUBLE && r.t == CEL_T_DOUBLE && op != B_MOD) {
		out->t = CEL_T_DOUBLE;
		out->u.d = op == B_ADD ? l.u.d + r.u.d : op == B_SUB ? l.u.d - r.u.d :
			   op == B_MUL ? l.u.d * r.u.d : l.u.d / r.u.d;
		return;
	}
	if (op == B_ADD && l.t == CEL_T_STRING && r.t == CEL_T_STRING) {
		size_t len = l.u.s.len + r.u.s.len;
		if (len > AUTHZ_CEL_MAX_STRING)
			return set_err(out, "string too long");
		char *p = bw_arena_alloc(c->a, len + 1);
		if (!p)
			return set_err(out, "out of memory");
		memcpy(p, l.u.s.p, l.u.s.len);
		memcpy(p + l.u.s.len, r.u.s.p, r.u.s.len);
		p[len] = 0;
		out->t = CEL_T_STRING;
		out->u.s.p = p;
		out->u.s.len = len;
		c->steps += len / 64;
		return;
	}
	if (op == B_ADD && l.t == CEL_T_LIST && r.t == CEL_T_LIST) {
		size_t len = l.u.list.n + r.u.list.n;
		c->steps += len;
		if (c->steps > AUTHZ_CEL_MAX_STEPS)
			return set_err(out, "evaluation cost limit reached");
		struct cel_value *items = bw_arena_alloc(c->a, (len ? len : 1) * sizeof(*items));
		if (!items)
			return set_err(out, "out of memory");
		if (l.u.list.n)
			memcpy(items, l.u.list.items, l.u.list.n * sizeof(*items));
		if (r.u.list.n)
			memcpy(items + l.u.list.n, r.u.list.items, r.u.list.n * sizeof(*items));
		out->t = CEL_T_LIST;
		out->u.list.items = items;
		out->u.list.n = len;
		return;
	}
	if (l.t == CEL_T_DURATION && r.t == CEL_T_DURATION && (op == B_ADD || op == B_SUB)) {
		int64_t v;
		if (op == B_ADD ? __builtin_add_overflow(l.u.dur, r.u.dur, &v) :
				  __builtin_sub_overflow(l.u.dur, r.u.dur, &v))
			return set_err(out, "duration overflow");
		out->t = CEL_T_DURATION;
		out->u.dur = v;
		return;
	}
	if ((op == B_ADD || op == B_SUB) &&
	    ((l.t == CEL_T_TIMESTAMP && r.t == CEL_T_DURATION) ||
	     (op == B_ADD && l.t == CEL_T_DURATION && r.t == CEL_T_TIMESTAMP))) {
		const struct cel_value *ts = l.t == CEL_T_TIMESTAMP ? &l : &r;
		int64_t d = l.t == CEL_T_DURATION ? l.u.dur : r.u.dur;
		if (op == B_SUB) {
			if (d == INT64_MIN)
				return set_err(out, "timestamp overflow");
			d = -d;
		}
		int64_t sec = ts->u.ts.sec + d / 1000000000;
		int64_t ns = ts->u.ts.nsec + d % 1000000000;
		if (ns < 0) {
			ns += 1000000000;
			sec--;
		} else if (ns >= 1000000000) {
			ns -= 1000000000;
			sec++;
		}
		if (sec < TS_MIN || sec > TS_MAX)
			return set_err(out, "timestamp overflow");
		out->t = CEL_T_TIMESTAMP;
		out->u.ts.sec = sec;
		out->u.ts.nsec = (int32_t)ns;
		return;
	}
	if (op == B_SUB && l.t == CEL_T_TIMESTAMP && r.t == CEL_T_TIMESTAMP) {
		/* |difference| < 3.2e11 s, so the ns product fits in int64 only
		 * below ~292 years: check. */
		int64_t ds = l.u.ts.sec - r.u.ts.sec, v;
		if (__builtin_mul_overflow(ds, (int64_t)1000000000, &v) ||
		    __builtin_add_overflow(v, (int64_t)(l.u.ts.nsec - r.u.ts.nsec), &v))
			return set_err(out, "duration overflow");
		out->t = CEL_T_DURATION;
		out->u.dur = v;
		return;
	}
	set_err(out, "no matching overload for arithmetic operator");
}

static void ev_call(struct evctx *c, const struct cnode *n, struct cel_value *out)
{
	struct cel_value t = { .t = CEL_T_NULL }, a = { .t = CEL_T_NULL };
	if (n->a) {
		ev(c, n->a, &t);
		if (bad(&t)) {
			*out = t;
			return;
		}
	}
	if (n->n) {
		ev(c, n->args[0], &a);
		if (bad(&a)) {
			*out = a;
			return;
		}
	}
	switch ((enum fn)n->op) {
	case F_TIMESTAMP:
		if (a.t == CEL_T_TIMESTAMP) {
			*out = a;
		} else if (a.t == CEL_T_INT) {
			if (a.u.i < TS_MIN || a.u.i > TS_MAX)
				return set_err(out, "timestamp out of range");
			out->t = CEL_T_TIMESTAMP;
			out->u.ts.sec = a.u.i;
			out->u.ts.nsec = 0;
		} else if (a.t == CEL_T_STRING) {
			out->t = CEL_T_TIMESTAMP;
			if (authz_cel_parse_timestamp(a.u.s.p, a.u.s.len, &out->u.ts.sec,
						      &out->u.ts.nsec) < 0)
				return set_err(out, "invalid timestamp");
		} else {
			return set_err(out, "no matching overload for 'timestamp'");
		}
		return;
	case F_DURATION:
		if (a.t == CEL_T_DURATION) {
			*out = a;
		} else if (a.t == CEL_T_STRING) {
			out->t = CEL_T_DURATION;
			if (authz_cel_parse_duration(a.u.s.p, a.u.s.len, &out->u.dur) < 0)
				return set_err(out, "invalid duration");
		} else {
			return set_err(out, "no matching overload for 'duration'");
		}
		return;
	case F_IPADDRESS:
		if (a.t == CEL_T_IPADDR) {
			*out = a;
		} else if (a.t != CEL_T_STRING || parse_ip(a.u.s.p, a.u.s.len, out) < 0) {
			return set_err(out, "invalid ip address");
		}
		return;
	case F_SIZE:
		if (t.t == CEL_T_STRING) {
			/* CEL counts code points, not bytes. */
			int64_t cps = 0;
			for (size_t i = 0; i < t.u.s.len; i++)
				cps += ((unsigned char)t.u.s.p[i] & 0xC0) != 0x80;
			return set_int(out, cps);
		}
		if (t.t == CEL_T_LIST)
			return set_int(out, (int64_t)t.u.list.n);
		if (t.t == CEL_T_MAP)
			return set_int(out, (int64_t)t.u.map.n);
		return set_err(out, "no matching overload for 'size'");
	case F_INT:
		switch (a.t) {
		case CEL_T_INT: *out = a; return;
		case CEL_T_UINT:
			if (a.u.u > INT64_MAX)
				return set_err(out, "integer overflow");
			return set_int(out, (int64_t)a.u.u);
		case CEL_T_DOUBLE:
			if (!(a.u.d > -9223372036854775808.0 && a.u.d < 9223372036854775808.0))
				return set_err(out, "integer overflow");
			return set_int(out, (int64_t)a.u.d);
		case CEL_T_TIMESTAMP: return set_int(out, a.u.ts.sec);
		case CEL_T_DURATION: return set_int(out, a.u.dur);
		case CEL_T_STRING: {
			char buf[32];
			if (a.u.s.len == 0 || a.u.s.len >= sizeof(buf))
				return set_err(out, "invalid int");
			memcpy(buf, a.u.s.p, a.u.s.len);
			buf[a.u.s.len] = 0;
			bool neg = buf[0] == '-';
			uint64_t v;
			if (bw_str_to_u64(bw_str_make(buf + neg, a.u.s.len - neg), &v) < 0 ||
			    v > (uint64_t)INT64_MAX + neg)
				return set_err(out, "invalid int");
			return set_int(out, neg ? (int64_t)(0 - v) : (int64_t)v);
		}
		default: return set_err(out, "no matching overload for 'int'");
		}
	case F_UINT:
		out->t = CEL_T_UINT;
		switch (a.t) {
		case CEL_T_UINT: *out = a; return;
		case CEL_T_INT:
			if (a.u.i < 0)
				return set_err(out, "unsigned integer overflow");
			out->u.u = (uint64_t)a.u.i;
			return;
		case CEL_T_DOUBLE:
			if (!(a.u.d > -1.0 && a.u.d < 18446744073709551616.0))
				return set_err(out, "unsigned integer overflow");
			out->u.u = (uint64_t)a.u.d;
			return;
		case CEL_T_STRING:
			if (bw_str_to_u64(bw_str_make(a.u.s.p, a.u.s.len), &out->u.u) < 0)
				return set_err(out, "invalid uint");
			return;
		default: return set_err(out, "no matching overload for 'uint'");
		}
	case F_DOUBLE:
		out->t = CEL_T_DOUBLE;
		switch (a.t) {
		case CEL_T_DOUBLE: *out = a; return;
		case CEL_T_INT: out->u.d = (double)a.u.i; return;
		case CEL_T_UINT: out->u.d = (double)a.u.u; return;
		case CEL_T_STRING: {
			char buf[64];
			char *ep;
			if (a.u.s.len == 0 || a.u.s.len >= sizeof(buf))
				return set_err(out, "invalid double");
			memcpy(buf, a.u.s.p, a.u.s.len);
			buf[a.u.s.len] = 0;
			out->u.d = strtod(buf, &ep);
			if (*ep)
				return set_err(out, "invalid double");
			return;
		}
		default: return set_err(out, "no matching overload for 'double'");
		}
	case F_STRING: {
		char buf[64];
		int len = -1;
		switch (a.t) {
		case CEL_T_STRING: *out = a; return;
		case CEL_T_INT: len = snprintf(buf, sizeof(buf), "%lld", (long long)a.u.i); break;
		case CEL_T_UINT: len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)a.u.u); break;
		case CEL_T_DOUBLE: len = snprintf(buf, sizeof(buf), "%.17g", a.u.d); break;
		case CEL_T_BOOL: len = snprintf(buf, sizeof(buf), "%s", a.u.b ? "true" : "false"); break;
		case CEL_T_IPADDR:
			if (inet_ntop(a.u.ip.v6 ? AF_INET6 : AF_INET, a.u.ip.a, buf, sizeof(buf)))
				len = (int)strlen(buf);
			break;
		case CEL_T_TIMESTAMP: {
			int64_t y;
			int mo, d;
			int64_t days = a.u.ts.sec >= 0 ? a.u.ts.sec / 86400 : -((-a.u.ts.sec + 86399) / 86400);
			int64_t rem = a.u.ts.sec - days * 86400;
			civil_from_days(days, &y, &mo, &d);
			len = snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02dZ",
				       (long long)y, mo, d, (int)(rem / 3600),
				       (int)(rem / 60 % 60), (int)(rem % 60));
			break;
		}
		case CEL_T_DURATION: {
			len = snprintf(buf, sizeof(buf), "%llds",
				       (long long)(a.u.dur / 1000000000));
			break;
		}
		default: break;
		}
		if (len < 0 || (size_t)len >= sizeof(buf))
			return set_err(out, "no matching overload for 'string'");
		char *p = bw_arena_strndup(c->a, buf, (size_t)len);
		if (!p)
			return set_err(out, "out of memory");
		out->t = CEL_T_STRING;
		out->u.s.p = p;
		out->u.s.len = (size_t)len;
		return;
	}
	case F_CONTAINS:
	case F_STARTS:
	case F_ENDS: {
		if (t.t != CEL_T_STRING || a.t != CEL_T_STRING)
			return set_err(out, "no matching overload for string function");
		const char *s = t.u.s.p, *x = a.u.s.p;
		size_t sl = t.u.s.len, xl = a.u.s.len;
		bool r = false;
		if (xl <= sl) {
			if (n->op == F_STARTS)
				r = memcmp(s, x, xl) == 0;
			else if (n->op == F_ENDS)
				r = memcmp(s + sl - xl, x, xl) == 0;
			else
				r = xl == 0 || memmem(s, sl, x, xl) != NULL;
		}
		c->steps += sl / 64;
		return set_bool(out, r);
	}
	case F_IN_CIDR: {
		if (t.t != CEL_T_IPADDR || a.t != CEL_T_STRING)
			return set_err(out, "no matching overload for 'in_cidr'");
		const char *slash = memchr(a.u.s.p, '/', a.u.s.len);
		if (!slash)
			return set_err(out, "invalid CIDR");
		struct cel_value net;
		size_t alen = (size_t)(slash - a.u.s.p);
		uint64_t bits;
		if (parse_ip(a.u.s.p, alen, &net) < 0 ||
		    bw_str_to_u64(bw_str_make(slash + 1, a.u.s.len - alen - 1), &bits) < 0 ||
		    bits > (net.u.ip.v6 ? 128u : 32u))
			return set_err(out, "invalid CIDR");
		if (net.u.ip.v6 != t.u.ip.v6)
			return set_bool(out, false);
		for (unsigned i = 0; i < bits; i++) {
			unsigned byte = i / 8, mask = 0x80u >> (i % 8);
			if ((t.u.ip.a[byte] & mask) != (net.u.ip.a[byte] & mask))
				return set_bool(out, false);
		}
		return set_bool(out, true);
	}
	default:
		break;
	}
	/* accessors (UTC) */
	if (t.t == CEL_T_DURATION) {
		int64_t d = t.u.dur;
		switch ((enum fn)n->op) {
		case F_HOURS: return set_int(out, d / 3600000000000LL);
		case F_MINUTES: return set_int(out, d / 60000000000LL);
		case F_SECONDS: return set_int(out, d / 1000000000LL);
		case F_MILLIS: return set_int(out, d / 1000000LL);
		default: return set_err(out, "no matching overload for duration accessor");
		}
	}
	if (t.t != CEL_T_TIMESTAMP)
		return set_err(out, "no matching overload for timestamp accessor");
	int64_t sec = t.u.ts.sec;
	int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	int64_t rem = sec - days * 86400;
	int64_t y;
	int mo, d;
	civil_from_days(days, &y, &mo, &d);
	switch ((enum fn)n->op) {
	case F_FULL_YEAR: return set_int(out, y);
	case F_MONTH: return set_int(out, mo - 1);           /* 0-based */
	case F_DAY_OF_MONTH: return set_int(out, d - 1);     /* 0-based */
	case F_DATE: return set_int(out, d);                 /* 1-based */
	case F_DAY_OF_WEEK: return set_int(out, ((days % 7) + 11) % 7); /* Sunday 0 */
	case F_DAY_OF_YEAR: return set_int(out, days - days_from_civil(y, 1, 1));
	case F_HOURS: return set_int(out, rem / 3600);
	case F_MINUTES: return set_int(out, rem / 60 % 60);
	case F_SECONDS: return set_int(out, rem % 60);
	case F_MILLIS: return set_int(out, t.u.ts.nsec / 1000000);
	default: return set_err(out, "no matching overload for timestamp accessor");
	}
}

static void ev(struct evctx *c, const struct cnode *n, struct cel_value *out)
{
	if (++c->steps > AUTHZ_CEL_MAX_STEPS)
		return set_err(out, "evaluation cost limit reached");
	switch ((enum nkind)n->kind) {
	case K_LIT:
		*out = n->lit;
		return;
	case K_PARAM:
		*out = c->args[n->param];
		return;
	case K_LIST:
	case K_MAP: {
		bool map = n->kind == K_MAP;
		size_t cnt = map ? n->n / 2 : n->n;
		struct cel_value *items = NULL;
		struct cel_kv *kv = NULL;
		if (cnt && map)
			kv = bw_arena_alloc(c->a, cnt * sizeof(*kv));
		else if (cnt)
			items = bw_arena_alloc(c->a, cnt * sizeof(*items));
		if (cnt && !items && !kv)
			return set_err(out, "out of memory");
		for (size_t i = 0; i < cnt; i++) {
			struct cel_value v;
			if (map) {
				struct cel_value k;
				ev(c, n->args[2 * i], &k);
				if (bad(&k)) {
					*out = k;
					return;
				}
				if (k.t != CEL_T_STRING)
					return set_err(out, "map keys must be strings");
				ev(c, n->args[2 * i + 1], &v);
				if (bad(&v)) {
					*out = v;
					return;
				}
				for (size_t j = 0; j < i; j++)
					if (bw_str_eq(kv[j].key, bw_str_make(k.u.s.p, k.u.s.len)))
						return set_err(out, "duplicate map key");
				kv[i].key = bw_str_make(k.u.s.p, k.u.s.len);
				kv[i].val = v;
			} else {
				ev(c, n->args[i], &v);
				if (bad(&v)) {
					*out = v;
					return;
				}
				items[i] = v;
			}
		}
		out->t = map ? CEL_T_MAP : CEL_T_LIST;
		if (map) {
			out->u.map.kv = kv;
			out->u.map.n = cnt;
		} else {
			out->u.list.items = items;
			out->u.list.n = cnt;
		}
		return;
	}
	case K_NOT:
		ev(c, n->a, out);
		if (bad(out))
			return;
		if (out->t != CEL_T_BOOL)
			return set_err(out, "no matching overload for '!'");
		out->u.b = !out->u.b;
		return;
	case K_NEG:
		ev(c, n->a, out);
		if (bad(out))
			return;
		if (out->t == CEL_T_INT) {
			if (out->u.i == INT64_MIN)
				return set_err(out, "integer overflow");
			out->u.i = -out->u.i;
		} else if (out->t == CEL_T_DOUBLE) {
			out->u.d = -out->u.d;
		} else if (out->t == CEL_T_DURATION) {
			if (out->u.dur == INT64_MIN)
				return set_err(out, "duration overflow");
			out->u.dur = -out->u.dur;
		} else {
			return set_err(out, "no matching overload for '-'");
		}
		return;
	case K_AND:
	case K_OR: {
		bool is_or = n->kind == K_OR;
		struct cel_value l, r;
		ev(c, n->a, &l);
		if (l.t == CEL_T_BOOL && l.u.b == is_or)
			return set_bool(out, is_or);
		ev(c, n->b, &r);
		if (r.t == CEL_T_BOOL && r.u.b == is_or)
			return set_bool(out, is_or);
		if (l.t == CEL_T_UNKNOWN || r.t == CEL_T_UNKNOWN) {
			*out = l.t == CEL_T_UNKNOWN ? l : r;
			return;
		}
		if (bad(&l) || bad(&r)) {
			*out = bad(&l) ? l : r;
			return;
		}
		if (l.t != CEL_T_BOOL || r.t != CEL_T_BOOL)
			return set_err(out, "no matching overload for logical operator");
		return set_bool(out, !is_or);
	}
	case K_COND: {
		struct cel_value cond;
		ev(c, n->a, &cond);
		if (bad(&cond)) {
			*out = cond;
			return;
		}
		if (cond.t != CEL_T_BOOL)
			return set_err(out, "'?:' needs a bool condition");
		ev(c, cond.u.b ? n->b : n->c, out);
		return;
	}
	case K_BIN:
		ev_bin(c, n, out);
		return;
	case K_INDEX: {
		struct cel_value base, key;
		ev(c, n->a, &base);
		if (bad(&base)) {
			*out = base;
			return;
		}
		ev(c, n->b, &key);
		if (bad(&key)) {
			*out = key;
			return;
		}
		if (base.t == CEL_T_LIST) {
			int64_t ix;
			if (key.t == CEL_T_INT)
				ix = key.u.i;
			else if (key.t == CEL_T_UINT && key.u.u <= INT64_MAX)
				ix = (int64_t)key.u.u;
			else
				return set_err(out, "list index must be an integer");
			if (ix < 0 || (uint64_t)ix >= base.u.list.n)
				return set_err(out, "index out of range");
			*out = base.u.list.items[ix];
			return;
		}
		if (base.t == CEL_T_MAP) {
			if (key.t != CEL_T_STRING)
				return set_err(out, "no such key");
			const struct cel_value *v = map_get(&base, key.u.s.p, key.u.s.len);
			if (!v)
				return set_err(out, "no such key");
			*out = *v;
			return;
		}
		return set_err(out, "value cannot be indexed");
	}
	case K_FIELD: {
		struct cel_value base;
		ev(c, n->a, &base);
		if (bad(&base)) {
			*out = base;
			return;
		}
		if (base.t != CEL_T_MAP)
			return set_err(out, "value has no fields");
		const struct cel_value *v = map_get(&base, n->name.p, n->name.len);
		if (!v)
			return set_err(out, "no such key");
		*out = *v;
		return;
	}
	case K_CALL:
		ev_call(c, n, out);
		return;
	}
	set_err(out, "internal error");
}

enum cel_result authz_cel_eval(const struct cel_prog *p, const struct cel_value *args,
			       struct bw_arena *a, char *msg, size_t msgcap)
{
	struct evctx c = { .args = args, .a = a };
	struct cel_value v;
	ev(&c, p->root, &v);
	const char *why = NULL;
	enum cel_result r;
	if (v.t == CEL_T_BOOL) {
		r = v.u.b ? CEL_TRUE : CEL_FALSE;
	} else if (v.t == CEL_T_UNKNOWN) {
		r = CEL_MISSING;
		why = "missing context parameter";
	} else {
		r = CEL_ERROR;
		why = v.t == CEL_T_ERROR ? v.u.msg : "condition did not evaluate to bool";
	}
	if (why && msgcap)
		snprintf(msg, msgcap, "%s", why);
	return r;
}

/* ------------------------------------------------------- types and JSON */

static const struct {
	const char *dsl;
	const char *json;
	enum cel_type t;
} type_names[] = {
	{ "any", "TYPE_NAME_ANY", CEL_T_ANY },
	{ "bool", "TYPE_NAME_BOOL", CEL_T_BOOL },
	{ "string", "TYPE_NAME_STRING", CEL_T_STRING },
	{ "int", "TYPE_NAME_INT", CEL_T_INT },
	{ "uint", "TYPE_NAME_UINT", CEL_T_UINT },
	{ "double", "TYPE_NAME_DOUBLE", CEL_T_DOUBLE },
	{ "duration", "TYPE_NAME_DURATION", CEL_T_DURATION },
	{ "timestamp", "TYPE_NAME_TIMESTAMP", CEL_T_TIMESTAMP },
	{ "ipaddress", "TYPE_NAME_IPADDRESS", CEL_T_IPADDR },
	{ "map", "TYPE_NAME_MAP", CEL_T_MAP },
	{ "list", "TYPE_NAME_LIST", CEL_T_LIST },
};

static int scalar_type(const char *s, size_t len, enum cel_type *out)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(type_names); i++)
		if (strlen(type_names[i].dsl) == len && memcmp(type_names[i].dsl, s, len) == 0) {
			*out = type_names[i].t;
			return 0;
		}
	return -1;
}

int authz_cel_ptype_parse(const char *s, size_t len, struct cel_ptype *out)
{
	const char *lt = memchr(s, '<', len);
	out->elem = CEL_T_ANY;
	if (!lt) {
		if (scalar_type(s, len, &out->t) < 0 || out->t == CEL_T_LIST ||
		    out->t == CEL_T_MAP)
			return -1;
		return 0;
	}
	size_t clen = (size_t)(lt - s);
	if (len < clen + 3 || s[len - 1] != '>')
		return -1;
	if (scalar_type(s, clen, &out->t) < 0 ||
	    (out->t != CEL_T_LIST && out->t != CEL_T_MAP))
		return -1;
	if (scalar_type(lt + 1, len - clen - 2, &out->elem) < 0 ||
	    out->elem == CEL_T_LIST || out->elem == CEL_T_MAP)
		return -1;
	return 0;
}

void authz_cel_ptype_name(struct cel_ptype t, char *out, size_t cap)
{
	const char *c = "any", *e = "any";
	for (size_t i = 0; i < BW_ARRAY_LEN(type_names); i++) {
		if (type_names[i].t == t.t)
			c = type_names[i].dsl;
		if (type_names[i].t == t.elem)
			e = type_names[i].dsl;
	}
	if (t.t == CEL_T_LIST || t.t == CEL_T_MAP)
		snprintf(out, cap, "%s<%s>", c, e);
	else
		snprintf(out, cap, "%s", c);
}

const char *authz_cel_type_json_name(enum cel_type t)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(type_names); i++)
		if (type_names[i].t == t)
			return type_names[i].json;
	return "TYPE_NAME_ANY";
}

int authz_cel_type_from_json_name(const char *s, enum cel_type *out)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(type_names); i++)
		if (strcmp(type_names[i].json, s) == 0) {
			*out = type_names[i].t;
			return 0;
		}
	return -1;
}

static int from_json(struct bw_arena *a, const struct json_value *v, enum cel_type t,
		     enum cel_type elem, struct cel_value *out, struct bw_err *err, int depth)
{
	memset(out, 0, sizeof(*out));
	if (depth > AUTHZ_CEL_MAX_DEPTH)
		return bw_err_set(err, 400, "authz", "bad_context", "context nested too deeply");
	if (t == CEL_T_ANY) {
		switch (v->type) {
		case JSON_NULL: out->t = CEL_T_NULL; return 0;
		case JSON_TRUE:
		case JSON_FALSE: t = CEL_T_BOOL; break;
		case JSON_NUMBER: t = v->u.num.is_int ? CEL_T_INT : CEL_T_DOUBLE; break;
		case JSON_STRING: t = CEL_T_STRING; break;
		case JSON_ARRAY: t = CEL_T_LIST; break;
		case JSON_OBJECT: t = CEL_T_MAP; break;
		}
	}
	out->t = t;
	switch (t) {
	case CEL_T_BOOL:
		if (v->type != JSON_TRUE && v->type != JSON_FALSE)
			break;
		out->u.b = v->type == JSON_TRUE;
		return 0;
	case CEL_T_INT:
		if (v->type != JSON_NUMBER || !v->u.num.is_int)
			break;
		out->u.i = v->u.num.i;
		return 0;
	case CEL_T_UINT:
		if (v->type != JSON_NUMBER || !v->u.num.is_int || v->u.num.i < 0) {
			/* values above INT64_MAX are not is_int; take the text */
			uint64_t u;
			if (v->type == JSON_NUMBER &&
			    bw_str_to_u64(v->u.num.raw, &u) == 0) {
				out->u.u = u;
				return 0;
			}
			break;
		}
		out->u.u = (uint64_t)v->u.num.i;
		return 0;
	case CEL_T_DOUBLE:
		if (v->type != JSON_NUMBER)
			break;
		out->u.d = v->u.num.d;
		return 0;
	case CEL_T_STRING:
		if (v->type != JSON_STRING)
			break;
		out->u.s.p = v->u.str.p;
		out->u.s.len = v->u.str.len;
		return 0;
	case CEL_T_TIMESTAMP:
		if (v->type != JSON_STRING ||
		    authz_cel_parse_timestamp(v->u.str.p, v->u.str.len, &out->u.ts.sec,
					      &out->u.ts.nsec) < 0)
			break;
		return 0;
	case CEL_T_DURATION:
		if (v->type != JSON_STRING ||
		    authz_cel_parse_duration(v->u.str.p, v->u.str.len, &out->u.dur) < 0)
			break;
		return 0;
	case CEL_T_IPADDR:
		if (v->type != JSON_STRING || parse_ip(v->u.str.p, v->u.str.len, out) < 0)
			break;
		return 0;
	case CEL_T_LIST:
		if (v->type != JSON_ARRAY)
			break;
		out->u.list.n = v->u.arr.n;
		out->u.list.items = bw_arena_zalloc(a, (v->u.arr.n ? v->u.arr.n : 1) *
							   sizeof(struct cel_value));
		if (!out->u.list.items)
			return bw_err_set(err, 500, "authz", "memory", "out of memory");
		for (size_t i = 0; i < v->u.arr.n; i++)
			if (from_json(a, v->u.arr.items[i], elem, CEL_T_ANY,
				      &out->u.list.items[i], err, depth + 1) < 0)
				return -1;
		out->t = CEL_T_LIST;
		return 0;
	case CEL_T_MAP:
		if (v->type != JSON_OBJECT)
			break;
		out->u.map.n = v->u.obj.n;
		out->u.map.kv = bw_arena_zalloc(a, (v->u.obj.n ? v->u.obj.n : 1) *
						       sizeof(struct cel_kv));
		if (!out->u.map.kv)
			return bw_err_set(err, 500, "authz", "memory", "out of memory");
		for (size_t i = 0; i < v->u.obj.n; i++) {
			out->u.map.kv[i].key = v->u.obj.members[i].key;
			if (from_json(a, v->u.obj.members[i].value, elem, CEL_T_ANY,
				      &out->u.map.kv[i].val, err, depth + 1) < 0)
				return -1;
		}
		out->t = CEL_T_MAP;
		return 0;
	default:
		break;
	}
	return bw_err_set(err, 400, "authz", "bad_context",
			  "a context value is not a valid %s", tname(t));
}

int authz_cel_from_json(struct bw_arena *a, const struct json_value *v, struct cel_ptype t,
			struct cel_value *out, struct bw_err *err)
{
	return from_json(a, v, t.t, t.elem, out, err, 0);
}
