/*
 * waf_var.c — a transaction's variables: collections (request arguments,
 * headers, cookies, files, TX and the other writable collections),
 * scalar variables, the resolution of a rule's target list into values,
 * and %{macro} expansion.
 *
 * Invariants:
 *  - every key and value is a NUL-terminated string in the tx arena and
 *    never changes once added, so its pointer identifies it (the
 *    transformation cache relies on that); writable collections replace
 *    a value by pointing the entry at a new string;
 *  - writable collections (TX, IP, GLOBAL, SESSION, USER, RESOURCE) have
 *    a case-insensitive hash index; request collections are searched
 *    linearly, in insertion order, as ModSecurity lists them;
 *  - resolving targets never allocates per value except for computed
 *    scalars (TIME_*, DURATION, counts), which are rare.
 */
#include "waf/waf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

char *waf_tx_strdup(struct waf_tx *tx, const char *p, size_t n)
{
	char *d = bw_arena_alloc(tx->arena, n + 1);
	if (!d) {
		tx->oom = true;
		return NULL;
	}
	if (n)
		memcpy(d, p, n);
	d[n] = 0;
	return d;
}

int64_t waf_atoi(struct bw_str s)
{
	size_t i = 0;
	while (i < s.len && isspace((unsigned char)s.p[i]))
		i++;
	bool neg = false;
	if (i < s.len && (s.p[i] == '-' || s.p[i] == '+'))
		neg = s.p[i++] == '-';
	int64_t v = 0;
	size_t d0 = i;
	while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
		int64_t nv;
		if (__builtin_mul_overflow(v, 10, &nv) ||
		    __builtin_add_overflow(nv, s.p[i] - '0', &nv))
			return 0; /* std::stoi throws; ModSecurity uses 0 */
		v = nv;
		i++;
	}
	if (i == d0)
		return 0;
	return neg ? -v : v;
}

size_t waf_i64_str(int64_t v, char out[24])
{
	char tmp[24];
	size_t n = 0, o = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[o++] = '-';
	while (n)
		out[o++] = tmp[--n];
	out[o] = 0;
	return o;
}

/* ---------------------------------------------------------- collections */

static bool writable(enum waf_var_id c)
{
	return c == WAF_VAR_TX || c == WAF_VAR_IP || c == WAF_VAR_GLOBAL ||
	       c == WAF_VAR_SESSION || c == WAF_VAR_USER ||
	       c == WAF_VAR_RESOURCE;
}

/* Keys compare caselessly in ASCII, as ModSecurity's collections do (the
 * process never leaves the C locale, where strncasecmp is ASCII too).
 * The hash and the comparison must agree: equal keys hash alike. */
static inline unsigned char key_lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static uint32_t key_hash(struct bw_str k)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < k.len; i++) {
		h ^= key_lc((unsigned char)k.p[i]);
		h *= 16777619u;
	}
	return h;
}

static bool key_eq(struct bw_str a, struct bw_str b)
{
	return a.len == b.len && strncasecmp(a.p, b.p, a.len) == 0;
}

/* An entry's key hash: kept since col_push, computed for older ones. */
static uint32_t kv_hash(const struct waf_kv *kv)
{
	return kv->khash ? kv->khash : key_hash(kv->key);
}

static int col_push(struct waf_tx *tx, struct waf_col *c, struct waf_kv kv)
{
	kv.vid = ++tx->nvid;
	if (!kv.khash)
		kv.khash = key_hash(kv.key);
	if (c->n == c->cap) {
		/* an indexed collection is TX: the CRS sets ~60 variables
		 * per request, so it starts big enough for them */
		uint32_t nc = c->cap ? c->cap * 2 : c->indexed ? 64 : 8;
		struct waf_kv *nv = bw_arena_alloc(tx->arena, nc * sizeof(*nv));
		if (!nv) {
			tx->oom = true;
			return -1;
		}
		if (c->n)
			memcpy(nv, c->v, c->n * sizeof(*nv));
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = kv;
	return 0;
}

int waf_col_add(struct waf_tx *tx, enum waf_var_id col, const char *k,
		size_t klen, const char *v, size_t vlen)
{
	char *kk = waf_tx_strdup(tx, k, klen);
	char *vv = waf_tx_strdup(tx, v, vlen);
	if (!kk || !vv)
		return -1;
	return col_push(tx, &tx->col[col],
			(struct waf_kv){ .key = bw_str_make(kk, klen),
					 .val = bw_str_make(vv, vlen) });
}

static int idx_insert(struct waf_tx *tx, struct waf_col *c, uint32_t item)
{
	if ((c->n + 1) * 2 > c->idx_cap) {
		uint32_t nc = c->idx_cap ? c->idx_cap * 2 : 128;
		uint32_t *ni = bw_arena_zalloc(tx->arena, nc * sizeof(*ni));
		if (!ni) {
			tx->oom = true;
			return -1;
		}
		for (uint32_t i = 0; i < c->idx_cap; i++) {
			if (!c->idx[i])
				continue;
			uint32_t h = kv_hash(&c->v[c->idx[i] - 1]) & (nc - 1);
			while (ni[h])
				h = (h + 1) & (nc - 1);
			ni[h] = c->idx[i];
		}
		c->idx = ni;
		c->idx_cap = nc;
	}
	uint32_t h = kv_hash(&c->v[item]) & (c->idx_cap - 1);
	while (c->idx[h])
		h = (h + 1) & (c->idx_cap - 1);
	c->idx[h] = item + 1;
	return 0;
}

static struct waf_kv *idx_find_h(const struct waf_col *c, struct bw_str k,
				 uint32_t hash)
{
	if (!c->idx_cap)
		return NULL;
	uint32_t mask = c->idx_cap - 1;
	for (uint32_t h = hash & mask;; h = (h + 1) & mask) {
		if (!c->idx[h])
			return NULL;
		struct waf_kv *kv = &c->v[c->idx[h] - 1];
		if ((!kv->khash || kv->khash == hash) && key_eq(kv->key, k))
			return kv;
	}
}

static struct waf_kv *idx_find(const struct waf_col *c, struct bw_str k)
{
	return c->idx_cap ? idx_find_h(c, k, key_hash(k)) : NULL;
}

uint32_t waf_key_hash(struct bw_str k)
{
	return key_hash(k);
}

int waf_col_set(struct waf_tx *tx, enum waf_var_id col, struct bw_str k,
		struct bw_str v)
{
	return waf_col_set_h(tx, col, k, key_hash(k), v);
}

int waf_col_set_h(struct waf_tx *tx, enum waf_var_id col, struct bw_str k,
		  uint32_t h, struct bw_str v)
{
	struct waf_col *c = &tx->col[col];
	char *vv = waf_tx_strdup(tx, v.p, v.len);
	if (!vv)
		return -1;
	/* h: once for the lookup, the entry and the index */
	struct waf_kv *kv = c->idx_cap ? idx_find_h(c, k, h) : NULL;
	if (kv) {
		kv->val = bw_str_make(vv, v.len);
		kv->vid = ++tx->nvid; /* a new value: new cache identity */
		return 0;
	}
	char *kk = waf_tx_strdup(tx, k.p, k.len);
	if (!kk)
		return -1;
	if (col_push(tx, c, (struct waf_kv){ .key = bw_str_make(kk, k.len),
					     .val = bw_str_make(vv, v.len),
					     .khash = h }) != 0)
		return -1;
	return idx_insert(tx, c, c->n - 1);
}

void waf_col_del(struct waf_tx *tx, enum waf_var_id col, struct bw_str k)
{
	struct waf_kv *kv = idx_find(&tx->col[col], k);
	if (kv)
		kv->val.p = NULL;
}

const struct waf_kv *waf_col_get(const struct waf_tx *tx, enum waf_var_id col,
				 struct bw_str k)
{
	return waf_col_get_h(tx, col, k, 0);
}

const struct waf_kv *waf_col_get_h(const struct waf_tx *tx, enum waf_var_id col,
				   struct bw_str k, uint32_t hash)
{
	const struct waf_col *c = &tx->col[col];
	if (writable(col)) {
		const struct waf_kv *kv =
			c->idx_cap ? idx_find_h(c, k, hash ? hash : key_hash(k)) : NULL;
		return kv && kv->val.p ? kv : NULL;
	}
	for (uint32_t i = 0; i < c->n; i++)
		if (key_eq(c->v[i].key, k))
			return &c->v[i];
	return NULL;
}

int waf_scal_set(struct waf_tx *tx, enum waf_var_id v, const char *p,
		 size_t len)
{
	char *d = waf_tx_strdup(tx, p, len);
	if (!d)
		return -1;
	tx->scal[v] = bw_str_make(d, len);
	tx->scal_set[v] = true;
	tx->scal_vid[v] = ++tx->nvid;
	return 0;
}

int waf_scal_set_num(struct waf_tx *tx, enum waf_var_id v, int64_t n)
{
	char tmp[24];
	return waf_scal_set(tx, v, tmp, waf_i64_str(n, tmp));
}

/* --------------------------------------------------------- value lists */

int waf_vals_push(struct waf_tx *tx, struct waf_val v)
{
	struct waf_vals *vs = &tx->vals;
	if (vs->n == vs->cap) {
		if (vs->n >= WAF_VALUES_MAX)
			return 0; /* silently bounded; counted nowhere else */
		size_t nc = vs->cap ? vs->cap * 2 : 64;
		struct waf_val *nv = bw_arena_alloc(tx->arena, nc * sizeof(*nv));
		if (!nv) {
			tx->oom = true;
			return -1;
		}
		if (vs->n)
			memcpy(nv, vs->v, vs->n * sizeof(*nv));
		vs->v = nv;
		vs->cap = nc;
	}
	vs->v[vs->n++] = v;
	return 0;
}

static struct bw_str arena_fmt(struct waf_tx *tx, const char *fmt, ...)
	BW_PRINTF(2, 3);
static struct bw_str arena_fmt(struct waf_tx *tx, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		n = 0;
	char *d = waf_tx_strdup(tx, tmp, (size_t)n);
	return d ? bw_str_make(d, (size_t)n) : bw_str_make(NULL, 0);
}

/* Scalars computed on demand; false when the variable has no value. */
static bool scalar_get(struct waf_tx *tx, enum waf_var_id v, struct bw_str *out)
{
	time_t now;
	struct tm tm;
	switch (v) {
	case WAF_VAR_TIME:
	case WAF_VAR_TIME_DAY:
	case WAF_VAR_TIME_EPOCH:
	case WAF_VAR_TIME_HOUR:
	case WAF_VAR_TIME_MIN:
	case WAF_VAR_TIME_MON:
	case WAF_VAR_TIME_SEC:
	case WAF_VAR_TIME_WDAY:
	case WAF_VAR_TIME_YEAR:
		now = (time_t)bw_clock_now_s();
		localtime_r(&now, &tm);
		switch (v) {
		case WAF_VAR_TIME:
			*out = arena_fmt(tx, "%02d:%02d:%02d", tm.tm_hour,
					 tm.tm_min, tm.tm_sec);
			break;
		case WAF_VAR_TIME_DAY:
			*out = arena_fmt(tx, "%d", tm.tm_mday);
			break;
		case WAF_VAR_TIME_EPOCH:
			*out = arena_fmt(tx, "%lld", (long long)now);
			break;
		case WAF_VAR_TIME_HOUR:
			*out = arena_fmt(tx, "%d", tm.tm_hour);
			break;
		case WAF_VAR_TIME_MIN:
			*out = arena_fmt(tx, "%d", tm.tm_min);
			break;
		case WAF_VAR_TIME_MON:
			*out = arena_fmt(tx, "%d", tm.tm_mon);
			break;
		case WAF_VAR_TIME_SEC:
			*out = arena_fmt(tx, "%d", tm.tm_sec);
			break;
		case WAF_VAR_TIME_WDAY:
			*out = arena_fmt(tx, "%d", tm.tm_wday);
			break;
		default:
			*out = arena_fmt(tx, "%d", tm.tm_year + 1900);
			break;
		}
		return out->p != NULL;
	case WAF_VAR_DURATION:
		*out = arena_fmt(tx, "%lld",
				 (long long)((bw_clock_mono_ns() - tx->start_mono) /
					     1000000));
		return out->p != NULL;
	case WAF_VAR_HIGHEST_SEVERITY:
		*out = arena_fmt(tx, "%d", tx->highest_severity);
		return out->p != NULL;
	case WAF_VAR_FULL_REQUEST:
	case WAF_VAR_FULL_REQUEST_LENGTH:
		return waf_tx_full_request(tx, out,
					   v == WAF_VAR_FULL_REQUEST_LENGTH);
	case WAF_VAR_MODSEC_BUILD:
		*out = BW_STR("030009000"); /* the v3 level we follow */
		return true;
	default:
		if (!tx->scal_set[v])
			return false;
		*out = tx->scal[v];
		return true;
	}
}

/* Macro expansion depth: %{rule.msg} inside a msg must not recurse. */
static __thread int expand_depth;

/* RULE:key for the rule being evaluated. */
static bool rule_get(struct waf_tx *tx, struct bw_str key, struct bw_str *out)
{
	const struct waf_rule *r = tx->cur_rule;
	if (!r)
		return false;
	if (bw_str_caseeq_lit(key, "id")) {
		*out = arena_fmt(tx, "%llu", (unsigned long long)r->act.id);
	} else if (bw_str_caseeq_lit(key, "msg") ||
		   bw_str_caseeq_lit(key, "logdata")) {
		const struct waf_macro *m = bw_str_caseeq_lit(key, "msg")
						    ? r->eff.msg
						    : r->eff.logdata;
		if (!m)
			return false;
		if (expand_depth > 1) {
			*out = m->raw;
			return true;
		}
		return waf_macro_expand(tx, m, out) == 0;
	} else if (bw_str_caseeq_lit(key, "severity")) {
		if (r->eff.severity < 0)
			return false;
		*out = arena_fmt(tx, "%d", r->eff.severity);
	} else if (bw_str_caseeq_lit(key, "rev")) {
		if (!r->act.rev)
			return false;
		*out = bw_str_make(r->act.rev, strlen(r->act.rev));
	} else if (bw_str_caseeq_lit(key, "ver")) {
		if (!r->act.ver)
			return false;
		*out = bw_str_make(r->act.ver, strlen(r->act.ver));
	} else if (bw_str_caseeq_lit(key, "phase")) {
		*out = arena_fmt(tx, "%d", r->phase);
	} else {
		return false;
	}
	return out->p != NULL;
}

static bool is_collection(enum waf_var_id v)
{
	switch (v) {
	case WAF_VAR_ARGS:
	case WAF_VAR_ARGS_GET:
	case WAF_VAR_ARGS_GET_NAMES:
	case WAF_VAR_ARGS_NAMES:
	case WAF_VAR_ARGS_POST:
	case WAF_VAR_ARGS_POST_NAMES:
	case WAF_VAR_ENV:
	case WAF_VAR_FILES:
	case WAF_VAR_FILES_NAMES:
	case WAF_VAR_FILES_SIZES:
	case WAF_VAR_FILES_TMPNAMES:
	case WAF_VAR_FILES_TMP_CONTENT:
	case WAF_VAR_GEO:
	case WAF_VAR_GLOBAL:
	case WAF_VAR_IP:
	case WAF_VAR_MATCHED_VARS:
	case WAF_VAR_MATCHED_VARS_NAMES:
	case WAF_VAR_MULTIPART_PART_HEADERS:
	case WAF_VAR_REQUEST_COOKIES:
	case WAF_VAR_REQUEST_COOKIES_NAMES:
	case WAF_VAR_REQUEST_HEADERS:
	case WAF_VAR_REQUEST_HEADERS_NAMES:
	case WAF_VAR_RESOURCE:
	case WAF_VAR_RESPONSE_HEADERS:
	case WAF_VAR_RESPONSE_HEADERS_NAMES:
	case WAF_VAR_RULE:
	case WAF_VAR_SESSION:
	case WAF_VAR_TX:
	case WAF_VAR_USER:
	case WAF_VAR_XML:
		return true;
	default:
		return false;
	}
}

static inline unsigned char lc(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Caseless substring test without a libc call per position. */
static bool ci_contains(struct bw_str h, struct bw_str n)
{
	if (n.len == 0)
		return true;
	if (n.len > h.len)
		return false;
	const unsigned char *hp = (const unsigned char *)h.p;
	const unsigned char *np = (const unsigned char *)n.p;
	unsigned char first = lc(np[0]);
	for (size_t i = 0; i + n.len <= h.len; i++) {
		if (lc(hp[i]) != first)
			continue;
		size_t k = 1;
		while (k < n.len && lc(hp[i + k]) == lc(np[k]))
			k++;
		if (k == n.len)
			return true;
	}
	return false;
}

static bool has_factor(const struct waf_target *t, struct bw_str key)
{
	for (size_t i = 0; i < t->nsel_factors; i++)
		if (ci_contains(key, t->sel_factors[i]))
			return true;
	return false;
}

static bool sel_match(const struct waf_target *t, struct bw_str key)
{
	switch (t->sel_kind) {
	case WAF_SEL_NONE:
		return true;
	case WAF_SEL_NAME:
		return key_eq(key, t->sel);
	case WAF_SEL_REGEX:
		/* /__utm/-style selectors run against every key of big
		 * collections: a literal factor check first (waf_rxlit.c) */
		if (t->nsel_factors && !has_factor(t, key))
			return false;
		return pcre2_match(t->sel_re, (PCRE2_SPTR)key.p, key.len, 0, 0,
				   waf_match_data(), NULL) >= 0;
	case WAF_SEL_XPATH:
		return false;
	}
	return false;
}

/* sel_match on a collection entry, remembering regex results per entry
 * (a CRS request tests /__utm/ against every key for ~100 rules). */
static bool sel_match_kv(const struct waf_target *t, struct waf_kv *kv)
{
	if (t->sel_kind == WAF_SEL_NAME && kv->khash && t->sel_hash &&
	    kv->khash != t->sel_hash)
		return false; /* different hashes: different keys */
	if (t->sel_kind != WAF_SEL_REGEX || !t->sel_id)
		return sel_match(t, kv->key);
	uint16_t bit = (uint16_t)(1u << (t->sel_id - 1));
	if (kv->sel_known & bit)
		return (kv->sel_hit & bit) != 0;
	bool m = sel_match(t, kv->key);
	kv->sel_known |= bit;
	if (m)
		kv->sel_hit |= bit;
	return m;
}

void waf_col_memo_selectors(const struct waf_ruleset *rs, struct waf_col *c)
{
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++)
		for (size_t i = 0; i < rs->phase[ph].n; i++)
			for (const struct waf_rule *l = rs->phase[ph].rules[i];
			     l && l->kind == WAF_RULE_SECRULE; l = l->chain_next)
				for (size_t t = 0; t < l->ntargets; t++) {
					const struct waf_target *tg = &l->targets[t];
					if (tg->sel_kind != WAF_SEL_REGEX || !tg->sel_id)
						continue;
					for (uint32_t k = 0; k < c->n; k++)
						(void)sel_match_kv(tg, &c->v[k]);
				}
}

/* Is (var, key) removed by one of the rule's "!" targets? Name
 * exclusions compare collection and key; regex exclusions, as in
 * ModSecurity v3, test only the key, whatever its collection. */
static bool excluded(const struct waf_rule *r, enum waf_var_id var,
		     struct bw_str key, struct waf_kv *kv)
{
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct waf_target *t = &r->targets[i];
		if (!t->exclude)
			continue;
		if (t->sel_kind == WAF_SEL_REGEX) {
			if (kv ? sel_match_kv(t, kv) : (key.p && sel_match(t, key)))
				return true;
		} else if (t->var == var) {
			if (t->sel_kind == WAF_SEL_NONE || key_eq(key, t->sel))
				return true;
		}
	}
	return false;
}

/* A count as a string: the common small counts are constants, larger
 * ones an arena copy ({NULL, 0} when memory ran out: tx->oom). */
static struct bw_str count_str(struct waf_tx *tx, size_t n)
{
	static const char small[10][2] = { "0", "1", "2", "3", "4",
					   "5", "6", "7", "8", "9" };
	if (n < 10)
		return bw_str_make(small[n], 1);
	char num[24];
	size_t nl = waf_i64_str((int64_t)n, num);
	char *d = waf_tx_strdup(tx, num, nl);
	return d ? bw_str_make(d, nl) : bw_str_make(NULL, 0);
}

/* Values of one collection entry list for target t. */
static int collect_col(struct waf_tx *tx, const struct waf_rule *r,
		       const struct waf_target *t, bool apply_excl)
{
	struct waf_col *c = &tx->col[t->var];
	if (t->count) {
		size_t n = 0;
		if (t->var == WAF_VAR_XML)
			return waf_xml_xpath(tx, t->sel, true);
		if (t->var == WAF_VAR_RULE) {
			n = 1;
		} else if (t->sel_kind == WAF_SEL_NAME && c->idx_cap) {
			/* keys of an indexed collection are unique */
			const struct waf_kv *kv = idx_find_h(c, t->sel, t->sel_hash);
			n = kv && kv->val.p ? 1 : 0;
		} else {
			for (uint32_t i = 0; i < c->n; i++)
				if (c->v[i].val.p && sel_match_kv(t, &c->v[i]))
					n++;
		}
		struct bw_str cs = count_str(tx, n);
		if (!cs.p)
			return -1;
		return waf_vals_push(tx, (struct waf_val){ t->var, true, BW_STR(""),
						   cs, 0 });
	}
	if (t->var == WAF_VAR_XML)
		return waf_xml_xpath(tx, t->sel_kind == WAF_SEL_NONE
						 ? BW_STR("/*")
						 : t->sel,
				     false);
	if (t->var == WAF_VAR_RULE) {
		struct bw_str v;
		if (t->sel_kind == WAF_SEL_NAME && rule_get(tx, t->sel, &v))
			return waf_vals_push(tx, (struct waf_val){ t->var, false,
							   t->sel, v, 0 });
		return 0;
	}
	/* A named selector on an indexed collection is one lookup. */
	if (t->sel_kind == WAF_SEL_NAME && c->idx_cap) {
		struct waf_kv *kv = idx_find_h(c, t->sel, t->sel_hash);
		if (!kv || !kv->val.p)
			return 0;
		if (apply_excl && r->has_excl && excluded(r, t->var, kv->key, kv))
			return 0;
		if (apply_excl && tx->n_rm_tgts &&
		    waf_target_removed(tx, r, t->var, kv->key))
			return 0;
		return waf_vals_push(tx, (struct waf_val){ t->var, false, kv->key,
						   kv->val, kv->vid });
	}
	/* The walk every rule makes over ARGS, headers and cookies: the
	 * checks that cannot apply are decided once per target. */
	bool excl = apply_excl && r->has_excl;
	bool removals = apply_excl && tx->n_rm_tgts;
	bool all = t->sel_kind == WAF_SEL_NONE;
	uint32_t name_hash = t->sel_kind == WAF_SEL_NAME ? t->sel_hash : 0;
	for (uint32_t i = 0; i < c->n; i++) {
		struct waf_kv *kv = &c->v[i];
		if (!kv->val.p)
			continue;
		/* REQUEST_HEADERS:User-Agent: other keys differ in hash */
		if (name_hash && kv->khash && kv->khash != name_hash)
			continue;
		if (!all && !sel_match_kv(t, kv))
			continue;
		if (excl && excluded(r, t->var, kv->key, kv))
			continue;
		if (removals && waf_target_removed(tx, r, t->var, kv->key))
			continue;
		struct waf_vals *vs = &tx->vals;
		struct waf_val v = { t->var, false, kv->key, kv->val, kv->vid };
		if (vs->n < vs->cap)
			vs->v[vs->n++] = v; /* waf_vals_push without a call */
		else if (waf_vals_push(tx, v) != 0)
			return -1;
	}
	return 0;
}

/* Keeps a copy of tx->vals as the phase's list for target list sig. */
static int tsc_store(struct waf_tx *tx, uint32_t sig)
{
	size_t n = (size_t)tx->rs->ntsig + 1;
	if (!tx->tsc_phase) {
		tx->tsc_v = bw_arena_zalloc(tx->arena, n * sizeof(*tx->tsc_v));
		tx->tsc_n = bw_arena_zalloc(tx->arena, n * sizeof(*tx->tsc_n));
		tx->tsc_phase = bw_arena_zalloc(tx->arena, n * sizeof(*tx->tsc_phase));
		if (!tx->tsc_v || !tx->tsc_n || !tx->tsc_phase) {
			tx->tsc_phase = NULL;
			tx->oom = true;
			return -1;
		}
	}
	struct waf_val *c = NULL;
	if (tx->vals.n) {
		c = bw_arena_alloc(tx->arena, tx->vals.n * sizeof(*c));
		if (!c) {
			tx->oom = true;
			return -1;
		}
		memcpy(c, tx->vals.v, tx->vals.n * sizeof(*c));
	}
	tx->tsc_v[sig] = c;
	tx->tsc_n[sig] = (uint32_t)tx->vals.n;
	tx->tsc_phase[sig] = tx->last_phase;
	return 0;
}

int waf_var_collect(struct waf_tx *tx, const struct waf_rule *r)
{
	/* The same fixed target list in the same phase, and no ctl target
	 * removal (which depends on the rule's id and tags): the list in
	 * tx->vals is already this rule's. Exclusions (!VAR:x) are part of
	 * the list, so they are the same too. */
	bool reusable = r->tsig && r->tsig <= tx->rs->ntsig && tx->n_rm_tgts == 0;
	if (reusable && tx->vals_sig == r->tsig && tx->vals_phase == tx->last_phase)
		return 0;
	tx->vals_sig = 0;
	tx->vals.n = 0;
	if (reusable && tx->tsc_phase && tx->tsc_phase[r->tsig] == tx->last_phase) {
		/* collected earlier in this phase by another rule */
		uint32_t n = tx->tsc_n[r->tsig];
		if (n > tx->vals.cap) {
			struct waf_val *nv = bw_arena_alloc(tx->arena, n * sizeof(*nv));
			if (!nv) {
				tx->oom = true;
				return -1;
			}
			tx->vals.v = nv;
			tx->vals.cap = n;
		}
		if (n)
			memcpy(tx->vals.v, tx->tsc_v[r->tsig], n * sizeof(*tx->vals.v));
		tx->vals.n = n;
		tx->vals_sig = r->tsig;
		tx->vals_phase = tx->last_phase;
		return 0;
	}
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct waf_target *t = &r->targets[i];
		if (t->exclude)
			continue;
		/* ctl:ruleRemoveTargetById=ID;ARGS removes a whole variable */
		if (t->sel_kind == WAF_SEL_NONE && !t->count && tx->n_rm_tgts &&
		    waf_target_removed(tx, r, t->var, bw_str_make(NULL, 0)))
			continue;
		if (is_collection(t->var)) {
			if (collect_col(tx, r, t, true) != 0)
				return -1;
			continue;
		}
		struct bw_str v;
		if (!scalar_get(tx, t->var, &v)) {
			if (t->count &&
			    waf_vals_push(tx,      (struct waf_val){ t->var, true,
							BW_STR(""),
							BW_STR("0"), 0 }) != 0)
				return -1;
			continue;
		}
		if (t->count)
			v = BW_STR("1");
		if (!t->count && r->has_excl &&
		    excluded(r, t->var, bw_str_make(NULL, 0), NULL))
			continue;
		/* stored scalars are cached by id; computed ones are not */
		uint32_t vid = !t->count && tx->scal_set[t->var] &&
					       tx->scal[t->var].p == v.p
				       ? tx->scal_vid[t->var]
				       : 0;
		if (waf_vals_push(tx, (struct waf_val){ t->var, t->count, BW_STR(""),
						v, vid }) != 0)
			return -1;
	}
	if (tx->oom)
		return -1;
	if (reusable) {
		tx->vals_sig = r->tsig;
		tx->vals_phase = tx->last_phase;
		if (tsc_store(tx, r->tsig) != 0)
			return -1;
	}
	return 0;
}

int waf_val_name(struct waf_tx *tx, const struct waf_val *v,
		 struct bw_str *out)
{
	const char *vn = waf_var_name(v->var);
	size_t vl = strlen(vn);
	if (!is_collection(v->var) || v->count) {
		*out = bw_str_make(vn, vl);
		return 0;
	}
	size_t n = vl + 1 + v->key.len;
	char *d = bw_arena_alloc(tx->arena, n + 1);
	if (!d) {
		tx->oom = true;
		return -1;
	}
	memcpy(d, vn, vl);
	d[vl] = ':';
	if (v->key.len)
		memcpy(d + vl + 1, v->key.p, v->key.len);
	d[n] = 0;
	*out = bw_str_make(d, n);
	return 0;
}

bool waf_var_first(struct waf_tx *tx, enum waf_var_id var, struct bw_str key,
		   struct bw_str *out)
{
	return waf_var_first_h(tx, var, key, 0, out);
}

bool waf_var_first_h(struct waf_tx *tx, enum waf_var_id var, struct bw_str key,
		     uint32_t hash, struct bw_str *out)
{
	if (!is_collection(var))
		return scalar_get(tx, var, out);
	if (var == WAF_VAR_RULE)
		return rule_get(tx, key, out);
	if (var == WAF_VAR_XML)
		return false;
	const struct waf_col *c = &tx->col[var];
	if (key.len == 0) {
		for (uint32_t i = 0; i < c->n; i++)
			if (c->v[i].val.p) {
				*out = c->v[i].val;
				return true;
			}
		return false;
	}
	const struct waf_kv *kv = waf_col_get_h(tx, var, key, hash);
	if (!kv)
		return false;
	*out = kv->val;
	return true;
}

/* ---------------------------------------------------------------- macros */

int waf_macro_expand(struct waf_tx *tx, const struct waf_macro *m,
		     struct bw_str *out)
{
	if (!m) {
		*out = BW_STR("");
		return 0;
	}
	if (m->constant) {
		*out = m->raw;
		return 0;
	}
	struct bw_str parts[WAF_MACRO_SEGS_MAX];
	size_t total = 0;
	expand_depth++;
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct waf_macro_seg *s = &m->segs[i];
		if (s->kind == WAF_SEG_LITERAL) {
			parts[i] = s->text;
		} else if (!waf_var_first_h(tx, s->var, s->key, s->key_hash,
					    &parts[i])) {
			parts[i] = BW_STR("");
		}
		total += parts[i].len;
	}
	expand_depth--;
	char *d = bw_arena_alloc(tx->arena, total + 1);
	if (!d) {
		tx->oom = true;
		return -1;
	}
	size_t o = 0;
	for (size_t i = 0; i < m->nsegs; i++) {
		if (parts[i].len)
			memcpy(d + o, parts[i].p, parts[i].len);
		o += parts[i].len;
	}
	d[o] = 0;
	*out = bw_str_make(d, o);
	return 0;
}
