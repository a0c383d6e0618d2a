/*
 * waf_rxlit.c — required literal factors of a regular expression.
 *
 * For a PCRE pattern P this computes a set of literal strings F such that
 * every string P matches contains at least one member of F as a
 * substring (compared caselessly). The engine compiles F into a Hyperscan
 * literal database and runs PCRE2 only on values where some member
 * occurs: for the CRS's large attack regexes almost every benign value is
 * rejected by one literal scan.
 *
 * Soundness is the invariant: F may be weaker than possible, never
 * wrong. The analysis therefore gives up (returns no factors) on anything
 * it does not fully understand — extended mode, unknown group kinds,
 * backreferences inside the factors, excess nesting — and treats every
 * construct it cannot read as a literal (classes, dots, escapes of
 * character types, assertions) as a break between literal runs.
 *
 * The algebra, per sub-expression:
 *   - a run of literal characters is a candidate factor {run};
 *   - an optional item (?, *, {0,n}) contributes nothing and ends the run;
 *   - x+ / x{n,} with n >= 1 keeps x in the run, then restarts the run
 *     with x (the last repetition still touches what follows);
 *   - a group contributes its own best factor set; a group that is a pure
 *     literal extends the surrounding run;
 *   - an alternation's set is the union of its branches' sets, and is
 *     empty if any branch has none;
 *   - a sequence keeps the best candidate: the one whose shortest member
 *     is longest, then the one with fewest members.
 */
#include "waf/waf_int.h"

#include <stdlib.h>
#include <string.h>

#define RXLIT_MAX_SET 256
#define RXLIT_MAX_LEN 128
#define RXLIT_MAX_DEPTH 48

struct lit {
	char s[RXLIT_MAX_LEN];
	size_t len;
};

struct litset {
	struct lit *v;
	size_t n;
	bool valid; /* false: no factor known */
};

struct rx {
	const char *p;
	size_t n, i;
	int depth;
	bool fail; /* gave up: the whole analysis yields nothing */
};

static void set_free(struct litset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->valid = false;
}

static size_t set_minlen(const struct litset *s)
{
	size_t m = SIZE_MAX;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].len < m)
			m = s->v[i].len;
	return s->n ? m : 0;
}

/* Is a better than b? */
static bool set_better(const struct litset *a, const struct litset *b)
{
	if (!a->valid)
		return false;
	if (!b->valid)
		return true;
	size_t ma = set_minlen(a), mb = set_minlen(b);
	if (ma != mb)
		return ma > mb;
	return a->n < b->n;
}

static void keep_best(struct litset *best, struct litset *cand)
{
	if (set_better(cand, best)) {
		set_free(best);
		*best = *cand;
		cand->v = NULL;
		cand->n = 0;
		cand->valid = false;
	} else {
		set_free(cand);
	}
}

static bool set_add(struct litset *s, const char *p, size_t n)
{
	if (n == 0 || n > RXLIT_MAX_LEN || s->n >= RXLIT_MAX_SET)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].len == n && memcmp(s->v[i].s, p, n) == 0)
			return true;
	struct lit *nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv)
		return false;
	s->v = nv;
	memcpy(s->v[s->n].s, p, n);
	s->v[s->n].len = n;
	s->n++;
	return true;
}

/* The current literal run of a sequence. */
struct run {
	char s[RXLIT_MAX_LEN];
	size_t len;
	bool overflow;
};

static void run_flush(struct run *r, struct litset *best)
{
	if (r->len && !r->overflow) {
		struct litset c = { .valid = true };
		if (set_add(&c, r->s, r->len))
			keep_best(best, &c);
		else
			set_free(&c);
	}
	r->len = 0;
	r->overflow = false;
}

static void run_add(struct run *r, const char *p, size_t n)
{
	if (r->len + n > RXLIT_MAX_LEN) {
		/* keep the longest prefix; a prefix of a factor is a factor */
		r->overflow = false;
		size_t room = RXLIT_MAX_LEN - r->len;
		memcpy(r->s + r->len, p, room);
		r->len = RXLIT_MAX_LEN;
		return;
	}
	memcpy(r->s + r->len, p, n);
	r->len += n;
}

static int peek(struct rx *x)
{
	return x->i < x->n ? (unsigned char)x->p[x->i] : -1;
}

enum qkind { Q_ONE, Q_OPT, Q_PLUS };

/* Read a quantifier after an atom, if any. */
static enum qkind quantifier(struct rx *x)
{
	enum qkind q = Q_ONE;
	int c = peek(x);
	if (c == '?' || c == '*') {
		x->i++;
		q = Q_OPT;
	} else if (c == '+') {
		x->i++;
		q = Q_PLUS;
	} else if (c == '{') {
		/* {n}, {n,}, {n,m}; anything else is a literal '{' */
		size_t j = x->i + 1;
		unsigned long lo = 0;
		bool digits = false;
		while (j < x->n && x->p[j] >= '0' && x->p[j] <= '9') {
			lo = lo * 10 + (unsigned long)(x->p[j] - '0');
			if (lo > 100000)
				lo = 100000;
			j++;
			digits = true;
		}
		if (!digits)
			return Q_ONE;
		bool range = false;
		if (j < x->n && x->p[j] == ',') {
			range = true;
			j++;
			while (j < x->n && x->p[j] >= '0' && x->p[j] <= '9')
				j++;
		}
		if (j >= x->n || x->p[j] != '}')
			return Q_ONE;
		x->i = j + 1;
		/* {1} is exactly one; {1,m}, {1,} and {n>1..} are "at least
		 * one", which for factors is the same as + */
		q = lo == 0 ? Q_OPT : (lo == 1 && !range ? Q_ONE : Q_PLUS);
	} else {
		return Q_ONE;
	}
	/* lazy or possessive suffix */
	c = peek(x);
	if (c == '?' || c == '+')
		x->i++;
	return q;
}

/* A quantifier right after something that is not an atom of its own (a
 * comment, \Q...\E, an option setting) applies to whatever came before;
 * rather than track that, the analysis gives up. */
static bool quantifier_next(const struct rx *x)
{
	if (x->i >= x->n)
		return false;
	char c = x->p[x->i];
	return c == '?' || c == '*' || c == '+' ||
	       (c == '{' && x->i + 1 < x->n && x->p[x->i + 1] >= '0' &&
		x->p[x->i + 1] <= '9');
}

static void skip_class(struct rx *x)
{
	/* x->i is after '[' */
	if (peek(x) == '^')
		x->i++;
	if (peek(x) == ']')
		x->i++;
	while (x->i < x->n) {
		char c = x->p[x->i];
		if (c == '\\' && x->i + 1 < x->n &&
		    (x->p[x->i + 1] == 'Q' || x->p[x->i + 1] == 'E')) {
			/* \Q...\E inside a class quotes ']' and can make a
			 * later ']' the class's first character: give up */
			x->fail = true;
			return;
		}
		if (c == '\\') {
			x->i += 2;
			continue;
		}
		if (c == '[' && x->i + 1 < x->n &&
		    (x->p[x->i + 1] == ':' || x->p[x->i + 1] == '.' ||
		     x->p[x->i + 1] == '=')) {
			/* POSIX [:name:] (and PCRE's rules for malformed
			 * ones) decide where the class ends: give up */
			x->fail = true;
			return;
		}
		x->i++;
		if (c == ']')
			return;
	}
	x->fail = true; /* unterminated class */
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Read an escape after '\'. Returns the literal byte or -1 when the
 * escape is not a single literal byte (class, assertion, reference). */
static int escape(struct rx *x)
{
	if (x->i >= x->n) {
		x->fail = true;
		return -1;
	}
	char c = x->p[x->i++];
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'f': return '\f';
	case 'e': return 0x1b;
	case 'a': return 0x07;
	case 'x': {
		if (peek(x) == '{') {
			size_t j = x->i + 1;
			int v = 0, d = 0;
			while (j < x->n && hexv(x->p[j]) >= 0 && d < 6) {
				v = v * 16 + hexv(x->p[j]);
				j++;
				d++;
			}
			if (j >= x->n || x->p[j] != '}') {
				x->fail = true;
				return -1;
			}
			x->i = j + 1;
			return v <= 0xff ? v : -1;
		}
		int v = 0, d = 0;
		while (d < 2 && x->i < x->n && hexv(x->p[x->i]) >= 0) {
			v = v * 16 + hexv(x->p[x->i]);
			x->i++;
			d++;
		}
		return v;
	}
	case '0': {
		int v = 0, d = 0;
		while (d < 2 && x->i < x->n && x->p[x->i] >= '0' && x->p[x->i] <= '7') {
			v = v * 8 + (x->p[x->i] - '0');
			x->i++;
			d++;
		}
		return v;
	}
	case 'p':
	case 'P':
	case 'g':
	case 'k':
		/* \p{..}, \g{..}, \k<..>: skip the argument */
		if (peek(x) == '{' || peek(x) == '<' || peek(x) == '\'') {
			char close = peek(x) == '{' ? '}' : peek(x) == '<' ? '>' : '\'';
			const char *e = memchr(x->p + x->i + 1, close, x->n - x->i - 1);
			if (!e) {
				x->fail = true;
				return -1;
			}
			x->i = (size_t)(e - x->p) + 1;
		} else if (x->i < x->n) {
			/* \g1, \g-2, \g01: a sign and every digit */
			if (x->p[x->i] == '-' || x->p[x->i] == '+')
				x->i++;
			if (x->i < x->n && x->p[x->i] >= '0' && x->p[x->i] <= '9')
				while (x->i < x->n && x->p[x->i] >= '0' &&
				       x->p[x->i] <= '9')
					x->i++;
			else if (x->i < x->n)
				x->i++;
		}
		return -1;
	case 'c':
		if (x->i < x->n)
			x->i++;
		return -1;
	default:
		break;
	}
	if (c >= '1' && c <= '9') {
		/* a backreference or (with few groups) an octal escape:
		 * either way not a known literal; take all its digits */
		while (x->i < x->n && x->p[x->i] >= '0' && x->p[x->i] <= '9')
			x->i++;
		return -1;
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return -1; /* \d \w \s \b \B \A \z \Z \G \K \h \v \R \X ... */
	return (unsigned char)c; /* escaped punctuation is itself */
}

static struct litset parse_alt(struct rx *x);

/* One sequence up to '|' or ')' or the end. exact: OUT, the sequence is
 * one literal string (set when the whole sequence was literal). */
static struct litset parse_seq(struct rx *x, struct run *exact, bool *is_exact)
{
	struct litset best = { 0 };
	struct run r = { .len = 0 };
	bool pure = true;
	while (x->i < x->n && !x->fail) {
		int c = peek(x);
		if (c == '|' || c == ')')
			break;
		if (c == '(') {
			x->i++;
			if (peek(x) == '*') {
				x->fail = true; /* (*VERB) */
				break;
			}
			bool skip_group = false; /* lookaround: zero width */
			if (peek(x) == '?') {
				x->i++;
				int k = peek(x);
				if (k == ':' || k == '>' || k == '|') {
					x->i++;
				} else if (k == '=' || k == '!') {
					x->i++;
					skip_group = true;
				} else if (k == '<' && x->i + 1 < x->n &&
					   (x->p[x->i + 1] == '=' || x->p[x->i + 1] == '!')) {
					x->i += 2;
					skip_group = true;
				} else if (k == '#') {
					const char *e = memchr(x->p + x->i, ')', x->n - x->i);
					if (!e) {
						x->fail = true;
						break;
					}
					x->i = (size_t)(e - x->p) + 1;
					if (quantifier_next(x))
						x->fail = true;
					continue;
				} else if (k == 'P' && x->i + 1 < x->n &&
					   x->p[x->i + 1] != '<') {
					/* (?P=name) backreference, (?P>name) call */
					x->fail = true;
					break;
				} else if (k == 'P' || k == '<' || k == '\'') {
					/* named group (?P<n>..) (?<n>..) (?'n'..) */
					if (k == 'P')
						x->i++;
					char close = peek(x) == '\'' ? '\'' : '>';
					const char *e = memchr(x->p + x->i + 1, close,
							       x->n - x->i - 1);
					if (!e) {
						x->fail = true;
						break;
					}
					x->i = (size_t)(e - x->p) + 1;
				} else {
					/* inline options (?i) (?i:...) (?-s) */
					/* only PCRE's option letters; (?R), (?1),
					 * (?&name), conditionals and verbs fail */
					size_t j = x->i;
					while (j < x->n && x->p[j] &&
					       strchr("imnsxJUX-", x->p[j]))
						j++;
					if (j >= x->n) {
						x->fail = true;
						break;
					}
					/* extended mode changes what is literal */
					if (memchr(x->p + x->i, 'x', j - x->i)) {
						size_t m = x->i;
						bool neg = false;
						for (; m < j; m++) {
							if (x->p[m] == '-')
								neg = true;
							else if (x->p[m] == 'x' && !neg)
								x->fail = true;
						}
						if (x->fail)
							break;
					}
					if (x->p[j] == ')') {
						x->i = j + 1;
						if (quantifier_next(x))
							x->fail = true;
						continue; /* option setting only */
					}
					if (x->p[j] != ':') {
						x->fail = true;
						break;
					}
					x->i = j + 1;
				}
			}
			if (++x->depth > RXLIT_MAX_DEPTH) {
				x->fail = true;
				break;
			}
			struct litset g = parse_alt(x);
			/* parse_alt stops at ')' */
			if (peek(x) != ')') {
				x->fail = true;
				set_free(&g);
				break;
			}
			x->i++;
			x->depth--;
			enum qkind q = quantifier(x);
			if (skip_group) {
				set_free(&g);
				run_flush(&r, &best);
				pure = false;
				continue;
			}
			pure = false;
			if (q == Q_OPT) {
				set_free(&g);
				run_flush(&r, &best);
				continue;
			}
			run_flush(&r, &best);
			keep_best(&best, &g);
			continue;
		}
		if (c == '[') {
			x->i++;
			skip_class(x);
			(void)quantifier(x);
			run_flush(&r, &best);
			pure = false;
			continue;
		}
		if (c == '.' || c == '^' || c == '$') {
			x->i++;
			(void)quantifier(x);
			run_flush(&r, &best);
			pure = false;
			continue;
		}
		int lit;
		if (c == '\\') {
			x->i++;
			if (peek(x) == 'Q') {
				/* \Q...\E: literal text */
				x->i++;
				const char *e = memmem(x->p + x->i, x->n - x->i, "\\E", 2);
				size_t end = e ? (size_t)(e - x->p) : x->n;
				run_add(&r, x->p + x->i, end - x->i);
				x->i = e ? end + 2 : x->n;
				if (quantifier_next(x))
					x->fail = true;
				continue;
			}
			if (peek(x) == 'E') {
				/* a lone \E is nothing in PCRE */
				x->i++;
				if (quantifier_next(x))
					x->fail = true;
				continue;
			}
			lit = escape(x);
		} else {
			x->i++;
			lit = c;
		}
		enum qkind q = quantifier(x);
		if (lit < 0) {
			run_flush(&r, &best);
			pure = false;
			continue;
		}
		char ch = (char)lit;
		if (q == Q_OPT) {
			run_flush(&r, &best);
			pure = false;
		} else if (q == Q_PLUS) {
			run_add(&r, &ch, 1);
			run_flush(&r, &best);
			run_add(&r, &ch, 1);
			pure = false;
		} else {
			run_add(&r, &ch, 1);
		}
	}
	if (pure && exact) {
		*exact = r;
		*is_exact = true;
	}
	run_flush(&r, &best);
	return best;
}

static struct litset parse_alt(struct rx *x)
{
	struct litset acc = { .valid = true };
	bool first = true, any_invalid = false;
	for (;;) {
		struct run ex = { .len = 0 };
		bool is_exact = false;
		struct litset b = parse_seq(x, &ex, &is_exact);
		if (x->fail) {
			set_free(&b);
			set_free(&acc);
			return acc;
		}
		if (!b.valid || b.n == 0) {
			any_invalid = true;
		} else {
			for (size_t i = 0; i < b.n; i++)
				if (!set_add(&acc, b.v[i].s, b.v[i].len))
					any_invalid = true;
		}
		set_free(&b);
		(void)first;
		first = false;
		if (peek(x) != '|')
			break;
		x->i++;
	}
	if (any_invalid)
		set_free(&acc);
	return acc;
}

int waf_rx_factors(const char *pat, size_t len, struct bw_arena *a,
		   struct bw_str **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	struct rx x = { .p = pat, .n = len };
	struct litset s = parse_alt(&x);
	if (x.fail || x.i != x.n || !s.valid || s.n == 0) {
		set_free(&s);
		return 0;
	}
	struct bw_str *v = bw_arena_alloc(a, s.n * sizeof(*v));
	if (!v) {
		set_free(&s);
		return -1;
	}
	for (size_t i = 0; i < s.n; i++) {
		char *d = bw_arena_strndup(a, s.v[i].s, s.v[i].len);
		if (!d) {
			set_free(&s);
			return -1;
		}
		v[i] = bw_str_make(d, s.v[i].len);
	}
	*out = v;
	*nout = s.n;
	set_free(&s);
	return 0;
}
