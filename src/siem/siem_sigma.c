/*
 * Sigma rule loader: YAML (through src/conf's loader, which refuses
 * anchors, tags and duplicate keys) into struct srule, with every value
 * compiled once at load: modifiers applied (windash, utf16, base64,
 * base64offset expansions; contains/startswith/endswith; re, cidr,
 * numeric comparisons, exists, fieldref, neq, cased), needles lowercased
 * for Sigma's case-insensitive matching, regexes compiled with PCRE2.
 *
 * Invariants: everything a rule points to lives in the ruleset's arena
 * (PCRE2 codes are freed by an arena cleanup); a failed add leaves the
 * ruleset's rule list as it was (the arena may keep dead bytes, bounded
 * by SIEM_RULESET_ARENA_MAX); rules are immutable after compile.
 * Errors name FILE:LINE:COLUMN and the key path of the offending node.
 */
#include "siem/siem_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf/conf.h"

/* ---------------------------------------------------------------- errors */

#define rerr siem_node_err
int siem_node_err(const struct conf_node *n, struct bw_err *err,
		  const char *reason, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_err(n, err, reason, "%s", msg);
	if (err) {
		bw_snprintf(err->module, sizeof(err->module), "siem");
		if (strcmp(reason, "limit") == 0)
			err->code = 413;
	}
	return -1;
}

static int nomem(const struct conf_node *n, struct bw_err *err)
{
	rerr(n, err, "memory", "rule set memory exhausted");
	if (err)
		err->code = 500;
	return -1;
}

/* ------------------------------------------------------------- ruleset */

struct siem_ruleset *siem_ruleset_new(void)
{
	struct siem_ruleset *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->arena = bw_arena_new(64 * 1024, SIEM_RULESET_ARENA_MAX);
	if (!rs->arena) {
		free(rs);
		return NULL;
	}
	return rs;
}

void siem_ruleset_free(struct siem_ruleset *rs)
{
	if (!rs)
		return;
	siem_index_free(rs);
	bw_arena_free(rs->arena);
	free(rs->rules);
	free(rs->detections);
	free(rs->correlations);
	free(rs);
}

size_t siem_ruleset_count(const struct siem_ruleset *rs)
{
	return rs->n;
}

const struct siem_rule_info *siem_ruleset_info(const struct siem_ruleset *rs,
					       size_t i)
{
	return i < rs->n ? &rs->rules[i]->info : NULL;
}

long siem_ruleset_find(const struct siem_ruleset *rs, const char *s)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct siem_rule_info *in = &rs->rules[i]->info;
		if ((in->id && strcmp(in->id, s) == 0) ||
		    (in->name && strcmp(in->name, s) == 0))
			return (long)i;
	}
	return -1;
}

/* -------------------------------------------------------------- values */

struct mods {
	bool contains, startswith, endswith, all, cased, windash;
	bool re, re_i, re_m, re_s, cidr, exists, fieldref, neq;
	bool base64, base64offset;
	int enc; /* 0 none, 1 utf16le, 2 utf16be, 3 utf16 (BOM + LE) */
	int cmp; /* 0 none, else SV_LT..SV_GTE */
};

static int parse_mods(const struct conf_node *kn, const char *mods,
		      struct mods *m, struct bw_err *err)
{
	memset(m, 0, sizeof(*m));
	const char *p = mods;
	while (*p) {
		const char *e = strchr(p, '|');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char name[32];
		if (l == 0 || l >= sizeof(name))
			return rerr(kn, err, "modifier", "empty or overlong "
				    "modifier in '%s'", kn->key);
		memcpy(name, p, l);
		name[l] = '\0';
#define M(s) (strcmp(name, (s)) == 0)
		if (M("contains"))
			m->contains = true;
		else if (M("startswith"))
			m->startswith = true;
		else if (M("endswith"))
			m->endswith = true;
		else if (M("all"))
			m->all = true;
		else if (M("cased"))
			m->cased = true;
		else if (M("windash"))
			m->windash = true;
		else if (M("re"))
			m->re = true;
		else if (M("i") && m->re)
			m->re_i = true;
		else if (M("m") && m->re)
			m->re_m = true;
		else if (M("s") && m->re)
			m->re_s = true;
		else if (M("cidr"))
			m->cidr = true;
		else if (M("exists"))
			m->exists = true;
		else if (M("fieldref"))
			m->fieldref = true;
		else if (M("neq"))
			m->neq = true;
		else if (M("base64"))
			m->base64 = true;
		else if (M("base64offset"))
			m->base64offset = true;
		else if (M("utf16le") || M("wide"))
			m->enc = 1;
		else if (M("utf16be"))
			m->enc = 2;
		else if (M("utf16"))
			m->enc = 3;
		else if (M("lt"))
			m->cmp = SV_LT;
		else if (M("lte"))
			m->cmp = SV_LTE;
		else if (M("gt"))
			m->cmp = SV_GT;
		else if (M("gte"))
			m->cmp = SV_GTE;
		else if (M("expand") || M("minute") || M("hour") || M("day") ||
			 M("week") || M("month") || M("year"))
			return rerr(kn, err, "unsupported",
				    "modifier '%s' is not supported", name);
		else
			return rerr(kn, err, "modifier", "unknown modifier '%s'",
				    name);
#undef M
		p += l + (e ? 1 : 0);
		if (e && !*p)
			return rerr(kn, err, "modifier",
				    "empty modifier in '%s'", kn->key);
	}
	int types = m->re + m->cidr + m->exists + (m->cmp != 0) + m->fieldref;
	bool strmods = m->windash || m->base64 || m->base64offset || m->enc;
	if (types > 1 || (types && strmods) ||
	    (types && !m->fieldref &&
	     (m->contains || m->startswith || m->endswith)) ||
	    m->contains + m->startswith + m->endswith > 1 ||
	    (m->base64 && m->base64offset))
		return rerr(kn, err, "modifier",
			    "conflicting modifiers in '%s'", kn->key);
	if ((m->enc) && !(m->base64 || m->base64offset))
		return rerr(kn, err, "unsupported",
			    "utf16/wide is only supported before base64 or "
			    "base64offset in '%s'", kn->key);
	return 0;
}

struct bytes {
	char *p;
	size_t len;
};

static void lower_in_place(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = siem_lower(p[i]);
}

static char *b64(struct bw_arena *a, const unsigned char *in, size_t n,
		 size_t *outlen)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t ol = 4 * ((n + 2) / 3);
	char *o = bw_arena_alloc(a, ol + 1);
	if (!o)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		o[j++] = tab[(v >> 18) & 63];
		o[j++] = tab[(v >> 12) & 63];
		o[j++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		o[j++] = i + 2 < n ? tab[v & 63] : '=';
	}
	o[j] = '\0';
	*outlen = j;
	return o;
}

/* UTF-8 to UTF-16 (le/be; bom adds FF FE). Invalid bytes pass as
 * U+00xx, which is what Windows would have logged for them anyway. */
static struct bytes utf16(struct bw_arena *a, const char *s, size_t n, int enc)
{
	struct bytes out = { NULL, 0 };
	char *o = bw_arena_alloc(a, 4 * n + 2);
	if (!o)
		return out;
	size_t j = 0;
	if (enc == 3) {
		o[j++] = (char)0xFF;
		o[j++] = (char)0xFE;
	}
	bool be = enc == 2;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp = c;
		size_t k = 1;
		if (c >= 0xC2 && c <= 0xDF && i + 1 < n)
			cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu), k = 2;
		else if (c >= 0xE0 && c <= 0xEF && i + 2 < n)
			cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) |
			     (s[i + 2] & 0x3Fu),
			k = 3;
		else if (c >= 0xF0 && c <= 0xF4 && i + 3 < n)
			cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) |
			     ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu),
			k = 4;
		i += k;
		uint16_t u[2];
		int nu = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			u[0] = (uint16_t)(0xD800 | (cp >> 10));
			u[1] = (uint16_t)(0xDC00 | (cp & 0x3FF));
			nu = 2;
		} else {
			u[0] = (uint16_t)cp;
		}
		for (int q = 0; q < nu; q++) {
			o[j++] = (char)(be ? u[q] >> 8 : u[q] & 0xFF);
			o[j++] = (char)(be ? u[q] & 0xFF : u[q] >> 8);
		}
	}
	out.p = o;
	out.len = j;
	return out;
}

/* Sigma's string syntax to a pattern: \* \? \\ are literals, * and ?
 * wildcards (SV_STAR / SV_ONE), any other backslash is literal. */
static int sigma_pattern(struct bw_arena *a, const char *s, size_t n,
			 struct bytes *out)
{
	char *o = bw_arena_alloc(a, n + 1);
	if (!o)
		return -1;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == SV_STAR || c == SV_ONE)
			return -2;
		if (c == '\\' && i + 1 < n &&
		    (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
			o[j++] = s[++i];
			continue;
		}
		o[j++] = c == '*' ? SV_STAR : c == '?' ? SV_ONE : c;
	}
	o[j] = '\0';
	out->p = o;
	out->len = j;
	return 0;
}

/* Pattern (with SV_STAR/SV_ONE) to the cheapest op that matches it. */
static void classify(struct sv *v, char *pat, size_t n)
{
	bool lead = n && pat[0] == SV_STAR;
	bool trail = n > lead && pat[n - 1] == SV_STAR;
	size_t inner0 = lead, inner1 = n - trail;
	bool wild = false;
	for (size_t i = inner0; i < inner1; i++)
		if (pat[i] == SV_STAR || pat[i] == SV_ONE)
			wild = true;
	if (wild) {
		v->op = SV_GLOB;
		v->s = pat;
		v->len = n;
		return;
	}
	v->s = pat + inner0;
	v->len = inner1 - inner0;
	v->op = lead && trail ? SV_CONTAINS
		: lead	     ? SV_SUFFIX
		: trail	     ? SV_PREFIX
			     : SV_EQ;
}

static bool wordch(char c)
{
	return siem_isalnum(c) || c == '_' || (unsigned char)c >= 0x80;
}

/* windash: every '-' or '/' that starts a word (\B[-/]\b) becomes each of
 * - / en-dash em-dash horizontal-bar. All such positions take the same
 * replacement in one variant (5 variants, not 5^n). */
static size_t windash(struct bw_arena *a, const char *s, size_t n,
		      struct bytes *out /* [5] */)
{
	static const char *const rep[5] = { "-", "/", "\xE2\x80\x93",
					    "\xE2\x80\x94", "\xE2\x80\x95" };
	size_t pos = 0;
	for (size_t i = 0; i < n; i++)
		if ((s[i] == '-' || s[i] == '/') && (i == 0 || !wordch(s[i - 1])) &&
		    i + 1 < n && wordch(s[i + 1]))
			pos++;
	if (pos == 0) {
		out[0].p = (char *)s;
		out[0].len = n;
		return 1;
	}
	for (size_t r = 0; r < 5; r++) {
		size_t rl = strlen(rep[r]);
		char *o = bw_arena_alloc(a, n + pos * rl + 1);
		if (!o)
			return 0;
		size_t j = 0;
		for (size_t i = 0; i < n; i++) {
			if ((s[i] == '-' || s[i] == '/') &&
			    (i == 0 || !wordch(s[i - 1])) && i + 1 < n &&
			    wordch(s[i + 1])) {
				memcpy(o + j, rep[r], rl);
				j += rl;
			} else {
				o[j++] = s[i];
			}
		}
		o[j] = '\0';
		out[r].p = o;
		out[r].len = j;
	}
	return 5;
}

static void free_re(void *p)
{
	pcre2_code_free(p);
}

static int parse_cidr(const char *s, struct sv *v)
{
	char tmp[64];
	const char *slash = strchr(s, '/');
	size_t al = slash ? (size_t)(slash - s) : strlen(s);
	if (al == 0 || al >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, al);
	tmp[al] = '\0';
	memset(v->addr, 0, sizeof(v->addr));
	unsigned max;
	if (inet_pton(AF_INET, tmp, v->addr) == 1)
		v->family = 4, max = 32;
	else if (inet_pton(AF_INET6, tmp, v->addr) == 1)
		v->family = 6, max = 128;
	else
		return -1;
	unsigned bits = max;
	if (slash) {
		uint64_t b;
		if (bw_str_to_u64(bw_str_make(slash + 1, strlen(slash + 1)), &b) < 0 ||
		    b > max)
			return -1;
		bits = (unsigned)b;
	}
	v->bits = (uint8_t)bits;
	return 0;
}

struct vlist {
	struct sv *v;
	size_t n, cap;
};

static struct sv *vpush(struct bw_arena *a, struct vlist *l)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		struct sv *nv = bw_arena_zalloc(a, nc * sizeof(*nv));
		if (!nv)
			return NULL;
		if (l->n)
			memcpy(nv, l->v, l->n * sizeof(*nv));
		l->v = nv;
		l->cap = nc;
	}
	return &l->v[l->n++];
}

/* Compiles one YAML value (scalar or null) under mods into l. */
static int compile_value(struct bw_arena *a, const struct conf_node *vn,
			 const struct mods *m, bool keyword, struct vlist *l,
			 struct bw_err *err)
{
	if (l->n >= SIEM_RULE_VALUES_MAX)
		return rerr(vn, err, "limit", "more than %u values",
			    SIEM_RULE_VALUES_MAX);
	if (vn->kind != CONF_SCALAR)
		return rerr(vn, err, "rule", "a value must be a scalar, not a %s",
			    conf_node_describe(vn));
	if (vn->len > SIEM_RULE_VALUE_MAX)
		return rerr(vn, err, "limit", "value longer than %u bytes",
			    SIEM_RULE_VALUE_MAX);
	struct sv *v;
	if (vn->null) {
		if (m->re || m->cidr || m->cmp || m->exists || m->fieldref ||
		    m->base64 || m->base64offset || m->windash || m->contains ||
		    m->startswith || m->endswith)
			return rerr(vn, err, "value",
				    "null cannot take these modifiers");
		if (!(v = vpush(a, l)))
			return nomem(vn, err);
		v->op = SV_NULL;
		return 0;
	}
	const char *s = vn->str;
	size_t n = vn->len;
	if (m->exists) {
		if (vn->quoted || (strcmp(s, "true") && strcmp(s, "false")))
			return rerr(vn, err, "value",
				    "exists takes true or false");
		if (!(v = vpush(a, l)))
			return nomem(vn, err);
		v->op = SV_EXISTS;
		v->exists = s[0] == 't';
		return 0;
	}
	if (m->cmp) {
		char *end;
		double d = strtod(s, &end);
		if (n == 0 || *end != '\0' || d != d)
			return rerr(vn, err, "value", "'%s' is not a number", s);
		if (!(v = vpush(a, l)))
			return nomem(vn, err);
		v->op = (uint8_t)m->cmp;
		v->num = d;
		return 0;
	}
	if (m->cidr) {
		if (!(v = vpush(a, l)))
			return nomem(vn, err);
		v->op = SV_CIDR;
		if (parse_cidr(s, v) < 0)
			return rerr(vn, err, "value", "'%s' is not a CIDR", s);
		return 0;
	}
	if (m->re) {
		uint32_t opt = (m->re_i ? PCRE2_CASELESS : 0) |
			       (m->re_m ? PCRE2_MULTILINE : 0) |
			       (m->re_s ? PCRE2_DOTALL : 0);
		int ec;
		PCRE2_SIZE eo;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)s, n, opt, &ec, &eo,
					       NULL);
		if (!re) {
			PCRE2_UCHAR msg[120];
			pcre2_get_error_message(ec, msg, sizeof(msg));
			return rerr(vn, err, "value",
				    "bad regular expression at offset %zu: %s",
				    (size_t)eo, (const char *)msg);
		}
		if (bw_arena_cleanup(a, free_re, re) < 0) {
			pcre2_code_free(re);
			return nomem(vn, err);
		}
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
		if (!(v = vpush(a, l)))
			return nomem(vn, err);
		v->op = SV_RE;
		v->re = re;
		v->cased = true;
		return 0;
	}
	if (m->fieldref) {
		if (!(v = vpush(a, l)))
			return nomem(vn, err);
		v->op = SV_FIELDREF;
		v->refop = m->contains	   ? SV_CONTAINS
			   : m->startswith ? SV_PREFIX
			   : m->endswith   ? SV_SUFFIX
					   : SV_EQ;
		v->cased = m->cased;
		if (siem_fref_resolve(a, s, n, &v->ref) < 0)
			return nomem(vn, err);
		return 0;
	}
	/* strings: windash, then encodings, then the wildcard wrap */
	struct bytes var[5];
	size_t nvar = m->windash ? windash(a, s, n, var) : 1;
	if (!m->windash) {
		var[0].p = (char *)s;
		var[0].len = n;
	}
	if (nvar == 0)
		return nomem(vn, err);
	for (size_t k = 0; k < nvar; k++) {
		struct bytes pats[3];
		size_t npat = 0;
		bool literal = m->base64 || m->base64offset;
		if (literal) {
			struct bytes raw = var[k];
			if (m->enc)
				raw = utf16(a, raw.p, raw.len, m->enc);
			if (!raw.p)
				return nomem(vn, err);
			if (m->base64) {
				pats[0].p = b64(a, (const unsigned char *)raw.p,
						raw.len, &pats[0].len);
				if (!pats[0].p)
					return nomem(vn, err);
				npat = 1;
			} else {
				/* the three alignments of the value inside a
				 * longer base64 text, trimmed to the chars that
				 * do not depend on its neighbours */
				static const size_t start[3] = { 0, 2, 3 };
				static const size_t endcut[3] = { 0, 3, 2 };
				for (size_t i = 0; i < 3; i++) {
					unsigned char *buf = bw_arena_alloc(
						a, raw.len + 3);
					if (!buf)
						return nomem(vn, err);
					memset(buf, ' ', i);
					memcpy(buf + i, raw.p, raw.len);
					size_t el;
					char *e = b64(a, buf, raw.len + i, &el);
					if (!e)
						return nomem(vn, err);
					size_t cut = endcut[(raw.len + i) % 3];
					size_t b = start[i];
					size_t en = el >= cut ? el - cut : 0;
					if (en < b)
						en = b;
					pats[npat].p = e + b;
					pats[npat].len = en - b;
					npat++;
				}
			}
		} else {
			int r = sigma_pattern(a, var[k].p, var[k].len, &pats[0]);
			if (r == -1)
				return nomem(vn, err);
			if (r == -2)
				return rerr(vn, err, "value",
					    "control bytes 0x01/0x02 are not "
					    "allowed in values");
			npat = 1;
		}
		for (size_t i = 0; i < npat; i++) {
			bool star0 = m->contains || m->endswith || keyword;
			bool star1 = m->contains || m->startswith || keyword;
			size_t pl = pats[i].len;
			char *pp = bw_arena_alloc(a, pl + 3);
			if (!pp)
				return nomem(vn, err);
			size_t j = 0;
			if (star0 && !(pl && pats[i].p[0] == SV_STAR))
				pp[j++] = SV_STAR;
			memcpy(pp + j, pats[i].p, pl);
			j += pl;
			if (star1 && !(j && pp[j - 1] == SV_STAR))
				pp[j++] = SV_STAR;
			pp[j] = '\0';
			if (l->n >= SIEM_RULE_VALUES_MAX)
				return rerr(vn, err, "limit",
					    "more than %u values after "
					    "expansion",
					    SIEM_RULE_VALUES_MAX);
			if (!(v = vpush(a, l)))
				return nomem(vn, err);
			/* base64 text is case-sensitive by nature: matching
			 * it case-insensitively would only add false hits */
			v->cased = m->cased || literal;
			if (!v->cased)
				lower_in_place(pp, j);
			classify(v, pp, j);
		}
	}
	return 0;
}

/* One "field|mods: values" entry of a map (field may be empty: keyword
 * search with modifiers, as in '|all'). */
static int compile_fcond(struct bw_arena *a, const struct conf_node *vn,
			 struct fcond *c, struct bw_err *err)
{
	const char *key = vn->key;
	const char *bar = strchr(key, '|');
	size_t fl = bar ? (size_t)(bar - key) : strlen(key);
	struct mods m;
	if (parse_mods(vn, bar ? bar + 1 : "", &m, err) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	bool keyword = fl == 0;
	if (keyword) {
		c->f.kind = FREF_KEYWORDS;
		c->f.name = "keywords";
		c->f.len = 8;
	} else if (siem_fref_resolve(a, key, fl, &c->f) < 0) {
		return nomem(vn, err);
	}
	c->all = m.all;
	c->negate = m.neq;
	struct vlist l = { 0 };
	if (vn->kind == CONF_SEQUENCE) {
		if (vn->nitems == 0)
			return rerr(vn, err, "rule", "empty value list");
		if (m.exists)
			return rerr(vn, err, "value", "exists takes one value");
		for (size_t i = 0; i < vn->nitems; i++)
			if (compile_value(a, vn->items[i], &m, keyword, &l, err) <
			    0)
				return -1;
	} else if (vn->kind == CONF_SCALAR) {
		if (m.all)
			return rerr(vn, err, "modifier",
				    "'all' needs a list of values");
		if (compile_value(a, vn, &m, keyword, &l, err) < 0)
			return -1;
	} else {
		return rerr(vn, err, "rule",
			    "a field takes a value or a list, not a mapping");
	}
	c->v = l.v;
	c->nv = l.n;
	return 0;
}

static int compile_map(struct bw_arena *a, const struct conf_node *map,
		       struct alt *alt, struct bw_err *err)
{
	if (map->nitems == 0)
		return rerr(map, err, "rule", "empty selection map");
	alt->c = bw_arena_zalloc(a, map->nitems * sizeof(*alt->c));
	if (!alt->c)
		return nomem(map, err);
	alt->nc = map->nitems;
	for (size_t i = 0; i < map->nitems; i++)
		if (compile_fcond(a, map->items[i], &alt->c[i], err) < 0)
			return -1;
	return 0;
}

static int compile_sel(struct bw_arena *a, const struct conf_node *n,
		       struct sel *s, struct bw_err *err)
{
	s->name = n->key;
	if (n->kind == CONF_MAPPING) {
		s->alts = bw_arena_zalloc(a, sizeof(*s->alts));
		if (!s->alts)
			return nomem(n, err);
		s->nalts = 1;
		return compile_map(a, n, &s->alts[0], err);
	}
	if (n->kind == CONF_SCALAR && n->null)
		return rerr(n, err, "rule", "search identifier '%s' is empty",
			    n->key);
	bool maps = n->kind == CONF_SEQUENCE && n->nitems &&
		    n->items[0]->kind == CONF_MAPPING;
	if (maps) {
		s->alts = bw_arena_zalloc(a, n->nitems * sizeof(*s->alts));
		if (!s->alts)
			return nomem(n, err);
		s->nalts = n->nitems;
		for (size_t i = 0; i < n->nitems; i++) {
			if (n->items[i]->kind != CONF_MAPPING)
				return rerr(n->items[i], err, "rule",
					    "a list of maps cannot mix in a %s",
					    conf_node_describe(n->items[i]));
			if (compile_map(a, n->items[i], &s->alts[i], err) < 0)
				return -1;
		}
		return 0;
	}
	/* keyword list (or a single keyword) */
	s->alts = bw_arena_zalloc(a, sizeof(*s->alts));
	struct fcond *c = bw_arena_zalloc(a, sizeof(*c));
	if (!s->alts || !c)
		return nomem(n, err);
	s->nalts = 1;
	s->alts[0].c = c;
	s->alts[0].nc = 1;
	c->f.kind = FREF_KEYWORDS;
	c->f.name = "keywords";
	c->f.len = 8;
	struct mods m;
	memset(&m, 0, sizeof(m));
	struct vlist l = { 0 };
	if (n->kind == CONF_SEQUENCE) {
		if (n->nitems == 0)
			return rerr(n, err, "rule", "empty keyword list");
		for (size_t i = 0; i < n->nitems; i++) {
			if (n->items[i]->kind != CONF_SCALAR)
				return rerr(n->items[i], err, "rule",
					    "a keyword list cannot mix in a %s",
					    conf_node_describe(n->items[i]));
			if (compile_value(a, n->items[i], &m, true, &l, err) < 0)
				return -1;
		}
	} else if (compile_value(a, n, &m, true, &l, err) < 0) {
		return -1;
	}
	c->v = l.v;
	c->nv = l.n;
	return 0;
}

/* ------------------------------------------------------------ detection */

static int opt_str(const struct conf_node *doc, const char *key,
		   const char **out, struct bw_err *err)
{
	const struct conf_node *n = conf_get(doc, key);
	*out = NULL;
	if (!n || (n->kind == CONF_SCALAR && n->null))
		return 0;
	if (n->kind != CONF_SCALAR)
		return rerr(n, err, "rule", "'%s' must be a string", key);
	*out = n->str;
	return 0;
}

static int parse_level(const struct conf_node *doc, enum siem_level *out,
		       struct bw_err *err)
{
	static const char *const names[] = { "informational", "low", "medium",
					     "high", "critical", NULL };
	const struct conf_node *n = conf_get(doc, "level");
	*out = SIEM_LEVEL_NONE;
	if (!n || (n->kind == CONF_SCALAR && n->null))
		return 0;
	int idx;
	if (conf_as_enum(n, names, &idx, err) < 0) {
		if (err)
			bw_snprintf(err->module, sizeof(err->module), "siem");
		return -1;
	}
	*out = (enum siem_level)(idx + 1);
	return 0;
}

static int add_logsource(struct bw_arena *a, const struct conf_node *doc,
			 struct srule *r, struct bw_err *err)
{
	const struct conf_node *ls = conf_get(doc, "logsource");
	if (!ls)
		return 0;
	if (ls->kind != CONF_MAPPING)
		return rerr(ls, err, "rule", "logsource must be a mapping");
	static const char *const keys[] = { "category", "product", "service" };
	struct fcond conds[3];
	size_t nc = 0;
	for (size_t i = 0; i < 3; i++) {
		const struct conf_node *v = conf_get(ls, keys[i]);
		if (!v || v->kind != CONF_SCALAR || v->null)
			continue;
		char low[64];
		if (v->len >= sizeof(low))
			continue;
		memcpy(low, v->str, v->len + 1);
		lower_in_place(low, v->len);
		int r2 = siem_logsource_cond(a, keys[i], low, &conds[nc]);
		if (r2 < 0)
			return nomem(ls, err);
		nc += (size_t)r2;
	}
	if (nc == 0)
		return 0;
	/* a hidden selection "_logsource" ANDed in front of the condition */
	struct sel *ns = bw_arena_zalloc(a, (r->nsels + 1) * sizeof(*ns));
	struct alt *alt = bw_arena_zalloc(a, sizeof(*alt));
	struct fcond *fc = bw_arena_zalloc(a, nc * sizeof(*fc));
	struct cnode *sn = bw_arena_zalloc(a, sizeof(*sn));
	struct cnode *and = bw_arena_zalloc(a, sizeof(*and));
	if (!ns || !alt || !fc || !sn || !and)
		return nomem(ls, err);
	memcpy(ns, r->sels, r->nsels * sizeof(*ns));
	memcpy(fc, conds, nc * sizeof(*fc));
	alt->c = fc;
	alt->nc = nc;
	ns[r->nsels].name = "_logsource";
	ns[r->nsels].alts = alt;
	ns[r->nsels].nalts = 1;
	sn->kind = CN_SEL;
	sn->sel = (uint32_t)r->nsels;
	and->kind = CN_AND;
	and->a = sn;
	and->b = r->cond;
	r->sels = ns;
	r->nsels++;
	r->cond = and;
	return 0;
}

static int parse_detection(struct bw_arena *a, const struct conf_node *doc,
			   struct srule *r, struct bw_err *err)
{
	const struct conf_node *det = conf_get(doc, "detection");
	if (!det)
		return rerr(doc, err, "rule", "missing 'detection'");
	if (det->kind != CONF_MAPPING)
		return rerr(det, err, "rule", "detection must be a mapping");
	const struct conf_node *cond = conf_get(det, "condition");
	if (!cond)
		return rerr(det, err, "rule", "missing 'condition'");
	size_t nsel = 0;
	for (size_t i = 0; i < det->nitems; i++)
		if (strcmp(det->items[i]->key, "condition") &&
		    strcmp(det->items[i]->key, "timeframe"))
			nsel++;
	if (nsel == 0)
		return rerr(det, err, "rule", "no search identifiers");
	if (nsel > SIEM_RULE_SELECTIONS_MAX)
		return rerr(det, err, "limit", "more than %u search identifiers",
			    SIEM_RULE_SELECTIONS_MAX);
	if (conf_get(det, "timeframe"))
		return rerr(conf_get(det, "timeframe"), err, "unsupported",
			    "'timeframe' (Sigma 1 aggregation) is not "
			    "supported; write a correlation rule");
	r->sels = bw_arena_zalloc(a, nsel * sizeof(*r->sels));
	if (!r->sels)
		return nomem(det, err);
	for (size_t i = 0, k = 0; i < det->nitems; i++) {
		const struct conf_node *n = det->items[i];
		if (!strcmp(n->key, "condition") || !strcmp(n->key, "timeframe"))
			continue;
		if (compile_sel(a, n, &r->sels[k++], err) < 0)
			return -1;
	}
	r->nsels = nsel;
	/* condition: a string, or a list of strings (ORed) */
	size_t nconds = cond->kind == CONF_SEQUENCE ? cond->nitems : 1;
	if (cond->kind == CONF_MAPPING || nconds == 0)
		return rerr(cond, err, "condition",
			    "condition must be a string or a list of strings");
	for (size_t i = 0; i < nconds; i++) {
		const struct conf_node *cn =
			cond->kind == CONF_SEQUENCE ? cond->items[i] : cond;
		if (cn->kind != CONF_SCALAR || cn->null)
			return rerr(cn, err, "condition",
				    "condition must be a string");
		char msg[160];
		struct cnode *t;
		int rc = siem_cond_parse(a, cn->str, r->sels, r->nsels, &t, msg,
					 sizeof(msg));
		if (rc == -2)
			return nomem(cn, err);
		if (rc < 0)
			return rerr(cn, err,
				    strstr(msg, "not supported") ? "unsupported"
								 : "condition",
				    "%s", msg);
		if (!r->cond) {
			r->cond = t;
		} else {
			struct cnode *o = bw_arena_zalloc(a, sizeof(*o));
			if (!o)
				return nomem(cn, err);
			o->kind = CN_OR;
			o->a = r->cond;
			o->b = t;
			r->cond = o;
		}
	}
	return add_logsource(a, doc, r, err);
}

/* ---------------------------------------------------------- correlation */

static int parse_count_cond(const struct conf_node *cn, struct corr_def *c,
			    bool need_field, struct bw_arena *a,
			    struct bw_err *err)
{
	if (!cn) {
		if (c->type == CORR_TEMPORAL || c->type == CORR_TEMPORAL_ORDERED)
			return 0;
		return rerr(cn, err, "rule", "correlation needs a condition");
	}
	if (cn->kind != CONF_MAPPING || cn->nitems == 0)
		return rerr(cn, err, "rule",
			    "condition must map gt/gte/lt/lte/eq to a number");
	for (size_t i = 0; i < cn->nitems; i++) {
		const struct conf_node *it = cn->items[i];
		if (!strcmp(it->key, "field")) {
			if (it->kind != CONF_SCALAR || it->null)
				return rerr(it, err, "rule",
					    "field must be a field name");
			if (siem_fref_resolve(a, it->str, it->len, &c->field) < 0)
				return nomem(it, err);
			continue;
		}
		uint64_t v;
		if (conf_as_uint64(it, 0, SIEM_CORR_THRESHOLD_MAX, &v, err) < 0) {
			if (err) {
				bw_snprintf(err->module, sizeof(err->module),
					    "siem");
				if (!strcmp(err->reason, "range")) {
					bw_snprintf(err->reason,
						    sizeof(err->reason),
						    "limit");
					err->code = 413;
				}
			}
			return -1;
		}
		if (!strcmp(it->key, "gt"))
			c->has_gt = true, c->gt = v;
		else if (!strcmp(it->key, "gte"))
			c->has_gte = true, c->gte = v;
		else if (!strcmp(it->key, "lt"))
			c->has_lt = true, c->lt = v;
		else if (!strcmp(it->key, "lte"))
			c->has_lte = true, c->lte = v;
		else if (!strcmp(it->key, "eq"))
			c->has_eq = true, c->eq = v;
		else
			return rerr(it, err, "rule",
				    "unknown condition '%s' (gt, gte, lt, lte, "
				    "eq, field)",
				    it->key);
	}
	if (need_field && !c->field.name)
		return rerr(cn, err, "rule", "value_count needs condition.field");
	if (!(c->has_gt || c->has_gte || c->has_lt || c->has_lte || c->has_eq))
		return rerr(cn, err, "rule", "condition has no comparison");
	return 0;
}

static int parse_correlation(struct bw_arena *a, const struct conf_node *doc,
			     struct srule *r, struct bw_err *err)
{
	const struct conf_node *cn = conf_get(doc, "correlation");
	if (cn->kind != CONF_MAPPING)
		return rerr(cn, err, "rule", "correlation must be a mapping");
	struct corr_def *c = bw_arena_zalloc(a, sizeof(*c));
	if (!c)
		return nomem(cn, err);
	r->corr = c;
	static const char *const types[] = { "event_count", "value_count",
					     "temporal", "temporal_ordered",
					     NULL };
	const struct conf_node *tn = conf_get(cn, "type");
	if (!tn)
		return rerr(cn, err, "rule", "correlation needs a type");
	int t;
	if (conf_as_enum(tn, types, &t, err) < 0) {
		if (err)
			bw_snprintf(err->module, sizeof(err->module), "siem");
		return -1;
	}
	c->type = (uint8_t)t;
	const struct conf_node *rn = conf_get(cn, "rules");
	if (!rn)
		return rerr(cn, err, "rule", "correlation needs rules");
	size_t nr = rn->kind == CONF_SEQUENCE ? rn->nitems : 1;
	if (nr == 0 || nr > SIEM_CORR_RULES_MAX)
		return rerr(rn, err, nr ? "limit" : "rule",
			    "a correlation references 1 to %u rules",
			    SIEM_CORR_RULES_MAX);
	c->refs = bw_arena_zalloc(a, nr * sizeof(*c->refs));
	c->rules = bw_arena_zalloc(a, nr * sizeof(*c->rules));
	if (!c->refs || !c->rules)
		return nomem(rn, err);
	for (size_t i = 0; i < nr; i++) {
		const struct conf_node *it =
			rn->kind == CONF_SEQUENCE ? rn->items[i] : rn;
		if (it->kind != CONF_SCALAR || it->null)
			return rerr(it, err, "rule",
				    "rules lists rule ids or names");
		c->refs[i] = it->str;
	}
	c->nrules = nr;
	/* group-by (optional in practice, though the spec says mandatory) */
	const struct conf_node *gn = conf_get(cn, "group-by");
	size_t ng = !gn || gn->null ? 0
		    : gn->kind == CONF_SEQUENCE ? gn->nitems
						: 1;
	if (ng > SIEM_CORR_GROUPBY_MAX)
		return rerr(gn, err, "limit", "more than %u group-by fields",
			    SIEM_CORR_GROUPBY_MAX);
	c->gb = bw_arena_zalloc(a, (ng ? ng : 1) * sizeof(*c->gb));
	if (!c->gb)
		return nomem(cn, err);
	const struct conf_node *aliases = conf_get(cn, "aliases");
	if (aliases && aliases->kind != CONF_MAPPING)
		return rerr(aliases, err, "rule", "aliases must be a mapping");
	for (size_t i = 0; i < ng; i++) {
		const struct conf_node *it =
			gn->kind == CONF_SEQUENCE ? gn->items[i] : gn;
		if (it->kind != CONF_SCALAR || it->null)
			return rerr(it, err, "rule", "group-by lists fields");
		struct groupby *g = &c->gb[i];
		g->name = it->str;
		if (siem_fref_resolve(a, it->str, it->len, &g->def) < 0)
			return nomem(it, err);
		const struct conf_node *al = aliases ? conf_get(aliases, it->str)
						     : NULL;
		if (!al)
			continue;
		if (al->kind != CONF_MAPPING)
			return rerr(al, err, "rule",
				    "an alias maps rule names to fields");
		g->per_rule = bw_arena_zalloc(a, nr * sizeof(*g->per_rule));
		if (!g->per_rule)
			return nomem(al, err);
		for (size_t k = 0; k < nr; k++) {
			g->per_rule[k].kind = 0xff;
			const struct conf_node *f = conf_get(al, c->refs[k]);
			if (!f)
				continue;
			if (f->kind != CONF_SCALAR || f->null)
				return rerr(f, err, "rule",
					    "alias target must be a field");
			if (siem_fref_resolve(a, f->str, f->len,
					      &g->per_rule[k]) < 0)
				return nomem(f, err);
		}
	}
	c->ngb = ng;
	const struct conf_node *ts = conf_get(cn, "timespan");
	if (!ts)
		return rerr(cn, err, "rule", "correlation needs a timespan");
	uint64_t ms;
	if (conf_as_duration(ts, 1000, (uint64_t)SIEM_CORR_TIMESPAN_MAX_S * 1000,
			     &ms, err) < 0) {
		if (err)
			bw_snprintf(err->module, sizeof(err->module), "siem");
		return -1;
	}
	c->timespan_ns = (int64_t)ms * 1000000;
	if (parse_count_cond(conf_get(cn, "condition"), c,
			     c->type == CORR_VALUE_COUNT, a, err) < 0) {
		if (err && !conf_get(cn, "condition"))
			rerr(cn, err, "rule", "correlation needs a condition");
		return -1;
	}
	const struct conf_node *gen = conf_get(doc, "generate");
	bool g = false;
	if (gen && conf_as_bool(gen, &g, err) < 0) {
		if (err)
			bw_snprintf(err->module, sizeof(err->module), "siem");
		return -1;
	}
	c->generate = g;
	return 0;
}

/* --------------------------------------------------------------- loading */

static int parse_doc(struct bw_arena *a, const struct conf_doc *d,
		     const char *name, struct srule **out, struct bw_err *err)
{
	const struct conf_node *doc = d->root;
	if (doc->kind != CONF_MAPPING || doc->nitems == 0)
		return rerr(doc, err, "rule", "a Sigma rule must be a mapping");
	if (conf_get(doc, "action"))
		return rerr(conf_get(doc, "action"), err, "unsupported",
			    "'action' (Sigma 1 rule collections) is not "
			    "supported");
	struct srule *r = bw_arena_zalloc(a, sizeof(*r));
	if (!r)
		return nomem(doc, err);
	r->info.file = name;
	r->info.line = doc->line;
	r->info.generate = true;
	if (opt_str(doc, "title", &r->info.title, err) < 0 ||
	    opt_str(doc, "id", &r->info.id, err) < 0 ||
	    opt_str(doc, "name", &r->info.name, err) < 0 ||
	    parse_level(doc, &r->info.level, err) < 0)
		return -1;
	if (!r->info.title)
		return rerr(doc, err, "rule", "missing 'title'");
	if (conf_get(doc, "correlation")) {
		r->info.kind = SIEM_RULE_CORRELATION;
		if (parse_correlation(a, doc, r, err) < 0)
			return -1;
	} else {
		r->info.kind = SIEM_RULE_DETECTION;
		if (parse_detection(a, doc, r, err) < 0)
			return -1;
	}
	*out = r;
	return 0;
}

/* Is the line at p (up to the next LF) a YAML document separator? */
static bool doc_sep(const char *p, const char *end)
{
	if (end - p < 3 || memcmp(p, "---", 3) != 0)
		return false;
	p += 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p == end || *p == '\n' || *p == '#';
}

int siem_ruleset_add_string(struct siem_ruleset *rs, const char *name,
			    const char *text, size_t len, struct bw_err *err)
{
	if (rs->compiled)
		return SIEM_ERR(err, 409, "compiled",
				"rules cannot be added after compile");
	if (len > SIEM_RULE_FILE_MAX)
		return SIEM_ERR(err, 413, "limit",
				"%s: rule file larger than %u bytes",
				name ? name : "<string>", SIEM_RULE_FILE_MAX);
	struct bw_arena *a = rs->arena;
	const char *fname = bw_arena_strdup(a, name ? name : "<string>");
	struct srule *loaded[SIEM_RULE_DOCS_MAX];
	/* field and logsource names resolve through rs's mapping file */
	siem_mapping_use(rs->map);
	size_t nloaded = 0;
	/* conf loads one document per call: split on "---" lines and pad
	 * each document with the newlines before it, so line numbers in
	 * messages are the file's. */
	struct bw_buf doc;
	bw_buf_init(&doc, len + 1);
	const char *end = text + len;
	const char *p = text;
	int rc = -1;
	if (!fname) {
		SIEM_ERR(err, 500, "memory", "rule set memory exhausted");
		goto out;
	}
	while (p <= end) {
		const char *start = p;
		size_t lines_before = 0;
		for (const char *q = text; q < start; q++)
			lines_before += *q == '\n';
		const char *q = p;
		while (q < end) {
			const char *eol = memchr(q, '\n', (size_t)(end - q));
			const char *le = eol ? eol : end;
			if (q != start && doc_sep(q, le))
				break;
			if (q == start && doc_sep(q, le)) {
				/* a leading separator: the doc starts after it */
				lines_before++;
				start = eol ? eol + 1 : end;
			}
			q = eol ? eol + 1 : end;
		}
		bw_buf_reset(&doc);
		bool blank = true;
		for (const char *z = start; z < q && blank; z++)
			blank = *z == ' ' || *z == '\n' || *z == '\r' ||
				*z == '\t';
		/* blank or comment-only documents load as empty mappings */
		if (!blank) {
			for (size_t i = 0; i < lines_before; i++)
				if (bw_buf_append_byte(&doc, '\n') < 0)
					goto toolong;
			if (bw_buf_append(&doc, start, (size_t)(q - start)) < 0)
				goto toolong;
			struct conf_limits lim = { .max_bytes = SIEM_RULE_FILE_MAX };
			struct conf_doc *d = conf_load_string_lim(
				fname, doc.data, doc.len, &lim, a, err);
			if (!d) {
				if (err)
					bw_snprintf(err->module,
						    sizeof(err->module), "siem");
				goto out;
			}
			bool empty = d->root->kind == CONF_MAPPING &&
				     d->root->nitems == 0;
			if (!empty) {
				if (nloaded == SIEM_RULE_DOCS_MAX) {
					rerr(d->root, err, "limit",
					     "more than %u documents in one file",
					     SIEM_RULE_DOCS_MAX);
					goto out;
				}
				if (parse_doc(a, d, fname, &loaded[nloaded], err) <
				    0)
					goto out;
				nloaded++;
			}
		}
		if (q >= end)
			break;
		/* skip the separator line */
		const char *eol = memchr(q, '\n', (size_t)(end - q));
		p = eol ? eol + 1 : end;
		if (!eol)
			break;
	}
	if (rs->n + nloaded > SIEM_RULES_MAX) {
		SIEM_ERR(err, 413, "limit", "%s: more than %u rules in the set",
			 fname, SIEM_RULES_MAX);
		goto out;
	}
	if (rs->n + nloaded > rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 64;
		while (nc < rs->n + nloaded)
			nc *= 2;
		struct srule **nr = realloc(rs->rules, nc * sizeof(*nr));
		if (!nr) {
			SIEM_ERR(err, 500, "memory", "out of memory");
			goto out;
		}
		rs->rules = nr;
		rs->cap = nc;
	}
	for (size_t i = 0; i < nloaded; i++)
		rs->rules[rs->n++] = loaded[i];
	rc = 0;
	goto out;
toolong:
	SIEM_ERR(err, 413, "limit", "%s: rule file too large", fname);
out:
	siem_mapping_use(NULL);
	bw_buf_fini(&doc);
	return rc;
}

int siem_load_file(struct siem_ruleset *rs, const char *path, size_t max,
		   int (*load)(struct siem_ruleset *, const char *, const char *,
			       size_t, struct bw_err *),
		   struct bw_err *err)
{
	size_t len;
	char *text = bw_file_read(path, max, &len, err);
	if (!text)
		return -1;
	int rc = load(rs, path, text, len, err);
	free(text);
	return rc;
}

int siem_ruleset_add_file(struct siem_ruleset *rs, const char *path,
			  struct bw_err *err)
{
	return siem_load_file(rs, path, SIEM_RULE_FILE_MAX, siem_ruleset_add_string, err);
}
