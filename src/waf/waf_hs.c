/*
 * waf_hs.c — runtime preparation of a loaded rule set, and the Hyperscan
 * fast paths.
 *
 * waf_engine_prepare runs once at the end of a load, while the rule set is
 * still private to the loading thread:
 *  - it numbers every distinct transformation-chain prefix (a trie over
 *    the effective t: lists) so transactions can cache per prefix;
 *  - it compiles each @pm / @pmFromFile phrase list into a caseless
 *    Hyperscan literal database;
 *  - for each constant @rx / @rxGlobal pattern it computes literal
 *    factors every match must contain (waf_rxlit.c) and compiles them
 *    into a caseless Hyperscan literal database: "no factor occurs"
 *    proves "no match", so PCRE2 only runs on candidates. (Hyperscan's
 *    own prefilter mode would cover more patterns, but compiling the
 *    CRS that way takes seconds; literal sets compile in milliseconds.)
 *  - it builds a prototype scratch sized for every database.
 * All databases are released by arena cleanups with the rule set.
 *
 * Scratch belongs to a thread: each thread clones the prototype of the
 * rule set it is scanning for the first time (or after a reload), and a
 * thread-exit destructor frees it.
 */
#include "waf/waf_int.h"

#include <hs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t gen_counter = 1;

/* ---------------------------------------------------- tfn prefix trie */

struct prefix_node {
	uint32_t parent;
	enum waf_tfn t;
	uint32_t id;
};

struct prefix_tab {
	struct prefix_node *v;
	size_t n, cap;
};

static uint32_t prefix_id(struct waf_parse *p, struct prefix_tab *pt,
			  uint32_t parent, enum waf_tfn t)
{
	for (size_t i = 0; i < pt->n; i++)
		if (pt->v[i].parent == parent && pt->v[i].t == t)
			return pt->v[i].id;
	if (pt->n == pt->cap) {
		size_t nc = pt->cap ? pt->cap * 2 : 64;
		struct prefix_node *nv = realloc(pt->v, nc * sizeof(*nv));
		if (!nv)
			return 0;
		pt->v = nv;
		pt->cap = nc;
	}
	uint32_t id = (uint32_t)pt->n + 1; /* 0 is "empty" in the cache */
	pt->v[pt->n++] = (struct prefix_node){ parent, t, id };
	(void)p;
	return id;
}

static int prepare_tfns(struct waf_parse *p, struct prefix_tab *pt,
			struct waf_rule *r)
{
	struct bw_arena *a = p->rs->arena;
	if (r->eff.ntfns == 0) {
		r->tfn_text = "";
		return 0;
	}
	r->tfn_ids = bw_arena_alloc(a, r->eff.ntfns * sizeof(*r->tfn_ids));
	if (!r->tfn_ids)
		goto oom;
	uint32_t parent = 0;
	size_t tl = 0;
	for (size_t i = 0; i < r->eff.ntfns; i++) {
		parent = prefix_id(p, pt, parent, r->eff.tfns[i]);
		if (!parent)
			goto oom;
		r->tfn_ids[i] = parent;
		tl += strlen(waf_tfn_name(r->eff.tfns[i])) + 3;
	}
	char *txt = bw_arena_alloc(a, tl + 1);
	if (!txt)
		goto oom;
	size_t o = 0;
	for (size_t i = 0; i < r->eff.ntfns; i++) {
		const char *nm = waf_tfn_name(r->eff.tfns[i]);
		if (i)
			txt[o++] = ',';
		txt[o++] = 't';
		txt[o++] = ':';
		memcpy(txt + o, nm, strlen(nm));
		o += strlen(nm);
	}
	txt[o] = 0;
	r->tfn_text = txt;
	return 0;
oom:
	return waf_perr(p, 413, "out_of_memory", "rule set memory limit reached");
}

/* ---------------------------------------------------------- databases */

static void db_free(void *db)
{
	hs_free_database(db);
}

static void scratch_free(void *s)
{
	hs_free_scratch(s);
}

static int keep_db(struct waf_parse *p, hs_database_t *db)
{
	if (bw_arena_cleanup(p->rs->arena, db_free, db) != 0) {
		hs_free_database(db);
		return waf_perr(p, 500, "out_of_memory", "out of memory");
	}
	if (hs_alloc_scratch(db, &p->rs->hs_proto) != HS_SUCCESS)
		return waf_perr(p, 500, "hyperscan", "hs_alloc_scratch failed");
	p->rs->nhs++;
	return 0;
}

struct sk_build {
	const char **exprs;
	size_t *lens;
	unsigned *flags, *ids;
	size_t n, cap;
};

static int sk_add(struct sk_build *b, const char *e, size_t len, unsigned id)
{
	if (len == 0)
		return 0;
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		const char **ne = realloc(b->exprs, nc * sizeof(*ne));
		if (ne)
			b->exprs = ne;
		size_t *nl = realloc(b->lens, nc * sizeof(*nl));
		if (nl)
			b->lens = nl;
		unsigned *nf = realloc(b->flags, nc * sizeof(*nf));
		if (nf)
			b->flags = nf;
		unsigned *ni = realloc(b->ids, nc * sizeof(*ni));
		if (ni)
			b->ids = ni;
		if (!ne || !nl || !nf || !ni)
			return -1;
		b->cap = nc;
	}
	b->exprs[b->n] = e;
	b->lens[b->n] = len;
	b->flags[b->n] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
	b->ids[b->n] = id;
	b->n++;
	return 0;
}

static void sk_free(struct sk_build *b)
{
	free(b->exprs);
	free(b->lens);
	free(b->flags);
	free(b->ids);
	*b = (struct sk_build){ 0 };
}

/* One caseless literal database of b's literals; NULL when Hyperscan
 * refuses them (why in *why, for a warning). */
static hs_database_t *sk_compile(const struct sk_build *b, char *why, size_t whylen)
{
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;
	if (hs_compile_lit_multi(b->exprs, b->flags, b->ids, b->lens, (unsigned)b->n,
				 HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS) {
		(void)bw_snprintf(why, whylen, "%s", ce ? ce->message : "?");
		hs_free_compile_error(ce);
		return NULL;
	}
	return db;
}

/* The length of the shortest of n literals (0 when there are none). */
static size_t shortest(const size_t *lens, size_t n)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || lens[i] < m)
			m = lens[i];
	return m;
}

static int compile_pm(struct waf_parse *p, struct waf_rule *r)
{
	struct waf_operator *op = &r->op;
	struct sk_build b = { 0 };
	int rc = 0;
	for (size_t i = 0; i < op->nphrases && rc == 0; i++)
		if (sk_add(&b, op->phrases[i].p, op->phrases[i].len, (unsigned)i) != 0)
			rc = waf_perr(p, 500, "out_of_memory", "out of memory");
	if (rc != 0 || b.n == 0)
		goto out;
	char why[128];
	hs_database_t *db = sk_compile(&b, why, sizeof(why));
	if (!db) {
		/* Not fatal: the engine falls back to a plain search. */
		log_warnx("%s:%u: rule %llu: Hyperscan rejected the phrase "
			  "list (%s); using the slow path", r->file, r->line,
			  (unsigned long long)r->chain_start->act.id, why);
		goto out;
	}
	op->hs = (struct hs_database *)db;
	op->hs_minlen = shortest(b.lens, b.n);
	rc = keep_db(p, db);
out:
	sk_free(&b);
	return rc;
}

static void bitmap_set_both_cases(uint8_t bm[32], unsigned c);

/* Factors with single bytes among them (a quote, '!', '<', ';'...): a
 * Hyperscan scan of one-byte literals costs more than it saves, so the
 * bytes go into a bitmap tested first and only the longer factors into a
 * literal database (no group: op->hs stays NULL). */
static int compile_rx_byte_factors(struct waf_parse *p, struct waf_operator *op,
				   const struct bw_str *f, size_t nf)
{
	uint8_t bytes[32] = { 0 };
	struct sk_build b = { 0 };
	int rc = 0;
	for (size_t i = 0; i < nf; i++) {
		if (f[i].len == 0)
			goto out; /* the empty string: every value holds it */
		if (f[i].len == 1)
			bitmap_set_both_cases(bytes, (unsigned char)f[i].p[0]);
		else if (sk_add(&b, f[i].p, f[i].len, (unsigned)b.n) != 0) {
			rc = waf_perr(p, 500, "out_of_memory", "out of memory");
			goto out;
		}
	}
	hs_database_t *db = NULL;
	if (b.n) {
		char why[128];
		db = sk_compile(&b, why, sizeof(why));
		if (!db)
			goto out; /* no prefilter */
		rc = keep_db(p, db);
		if (rc != 0)
			goto out;
	}
	memcpy(op->rx_fbytes, bytes, sizeof(bytes));
	op->rx_has_fbytes = true;
	op->rx_fhs = (struct hs_database *)db;
	op->rx_fhs_minlen = shortest(b.lens, b.n);
out:
	sk_free(&b);
	return rc;
}

/* Literal factors of a constant regex as a caseless literal database:
 * see waf_rxlit.c. A set with single-byte factors becomes a byte set and
 * a database of the rest (compile_rx_byte_factors). */
static int compile_rx_prefilter(struct waf_parse *p, struct waf_rule *r)
{
	struct waf_operator *op = &r->op;
	if (!op->re || op->arg.len == 0)
		return 0;
	struct bw_str *f;
	size_t nf;
	if (waf_rx_factors(op->arg.p, op->arg.len, p->rs->arena, &f, &nf) != 0)
		return waf_perr(p, 413, "out_of_memory",
				"rule set memory limit reached");
	if (nf == 0)
		return 0;
	for (size_t i = 0; i < nf; i++)
		if (f[i].len < 2)
			return compile_rx_byte_factors(p, op, f, nf);
	struct sk_build b = { 0 };
	int rc = 0;
	for (size_t i = 0; i < nf && rc == 0; i++)
		if (sk_add(&b, f[i].p, f[i].len, (unsigned)i) != 0)
			rc = waf_perr(p, 500, "out_of_memory", "out of memory");
	char why[128];
	hs_database_t *db = rc == 0 ? sk_compile(&b, why, sizeof(why)) : NULL;
	if (db) { /* else no prefilter: PCRE2 runs on every value */
		op->hs = (struct hs_database *)db;
		op->nfactors = nf;
		op->hs_minlen = shortest(b.lens, b.n);
		rc = keep_db(p, db);
	}
	sk_free(&b);
	return rc;
}

static void bitmap_set_both_cases(uint8_t bm[32], unsigned c)
{
	bm[c / 8] |= (uint8_t)(1u << (c % 8));
	if (c < 128 && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
		c ^= 0x20;
		bm[c / 8] |= (uint8_t)(1u << (c % 8));
	}
}

/* The start-of-match set, required byte and minimum length PCRE2
 * computed when it studied the pattern (it uses them itself to skip
 * ahead): no match can begin at a byte outside the set, none lacks the
 * required byte, and no shorter subject matches.
 * The public API does not say whether a single first or required code
 * unit is caseless, so both cases are taken (a superset, still sound). A
 * pattern that can match the empty string gets no filter. */
static void prepare_rx_start(struct waf_operator *op)
{
	uint32_t empty = 1, fct = 0, cu = 0, lct = 0, minlen = 0;
	if (!op->re || op->hs ||
	    pcre2_pattern_info(op->re, PCRE2_INFO_MATCHEMPTY, &empty) != 0 || empty)
		return;
	if (pcre2_pattern_info(op->re, PCRE2_INFO_MINLENGTH, &minlen) == 0)
		op->rx_minlen = minlen;
	if (pcre2_pattern_info(op->re, PCRE2_INFO_LASTCODETYPE, &lct) == 0 && lct == 1 &&
	    pcre2_pattern_info(op->re, PCRE2_INFO_LASTCODEUNIT, &cu) == 0 &&
	    cu > 0 && cu < 256)
		op->rx_req = (int)cu;
	if (pcre2_pattern_info(op->re, PCRE2_INFO_FIRSTCODETYPE, &fct) != 0)
		return;
	if (fct == 1) {
		if (pcre2_pattern_info(op->re, PCRE2_INFO_FIRSTCODEUNIT, &cu) != 0 ||
		    cu > 255)
			return;
		memset(op->rx_start, 0, sizeof(op->rx_start));
		bitmap_set_both_cases(op->rx_start, cu);
		op->rx_has_start = true;
		return;
	}
	const uint8_t *bm = NULL;
	if (pcre2_pattern_info(op->re, PCRE2_INFO_FIRSTBITMAP, &bm) == 0 && bm) {
		memcpy(op->rx_start, bm, sizeof(op->rx_start));
		op->rx_has_start = true;
	}
}

/* Regex selectors with the same pattern get one id, so a transaction can
 * remember per key whether the pattern matched (16 ids: the CRS has 3). */
static uint8_t sel_id_of(struct bw_str *pats, size_t *n, struct bw_str sel)
{
	for (size_t i = 0; i < *n; i++)
		if (bw_str_eq(pats[i], sel))
			return (uint8_t)(i + 1);
	if (*n >= 16)
		return 0;
	pats[(*n)++] = sel;
	return (uint8_t)*n;
}

/* ------------------------------------------------- group prefilters */

/* Variables whose values the universe holds in full (no selector). */
static const enum waf_var_id universe_vars[] = {
	WAF_VAR_ARGS, WAF_VAR_ARGS_NAMES, WAF_VAR_REQUEST_COOKIES,
	WAF_VAR_REQUEST_COOKIES_NAMES, WAF_VAR_REQUEST_HEADERS,
	WAF_VAR_REQUEST_HEADERS_NAMES, WAF_VAR_FILES, WAF_VAR_FILES_NAMES,
	WAF_VAR_REQUEST_FILENAME, WAF_VAR_REQUEST_BASENAME, WAF_VAR_REQUEST_URI,
	WAF_VAR_REQUEST_URI_RAW, WAF_VAR_QUERY_STRING, WAF_VAR_REQUEST_LINE,
	WAF_VAR_REQUEST_METHOD, WAF_VAR_REQUEST_PROTOCOL,
};

/* ARGS_GET(_NAMES) and ARGS_POST(_NAMES) hold subsets of ARGS(_NAMES). */
static bool in_universe(const struct waf_target *t)
{
	if (t->count)
		return false;
	enum waf_var_id v = t->var;
	if (v == WAF_VAR_XML)
		return t->sel_kind == WAF_SEL_NONE ||
		       (t->sel_kind == WAF_SEL_XPATH && bw_str_eq(t->sel, BW_STR("/*")));
	if (v == WAF_VAR_ARGS_GET || v == WAF_VAR_ARGS_POST ||
	    v == WAF_VAR_ARGS_GET_NAMES || v == WAF_VAR_ARGS_POST_NAMES)
		return true;
	for (size_t i = 0; i < BW_ARRAY_LEN(universe_vars); i++)
		if (universe_vars[i] == v)
			return t->sel_kind != WAF_SEL_XPATH;
	return false;
}

/* Targets whose values cannot change within a phase: request data only
 * (setvar writes TX and the persistent collections, never these). */
static bool target_fixed(const struct waf_target *t)
{
	switch (t->var) {
	case WAF_VAR_XML:
	case WAF_VAR_ARGS_GET:
	case WAF_VAR_ARGS_POST:
	case WAF_VAR_ARGS_GET_NAMES:
	case WAF_VAR_ARGS_POST_NAMES:
		return true;
	default:
		break;
	}
	for (size_t i = 0; i < BW_ARRAY_LEN(universe_vars); i++)
		if (universe_vars[i] == t->var)
			return true;
	return false;
}

static bool target_eq(const struct waf_target *a, const struct waf_target *b)
{
	return a->var == b->var && a->count == b->count && a->exclude == b->exclude &&
	       a->sel_kind == b->sel_kind && bw_str_eq(a->sel, b->sel);
}

/* Numbers the distinct fixed target lists (see waf_rule.tsig). */
static int prepare_tsig(struct waf_parse *p)
{
	struct waf_ruleset *rs = p->rs;
	const struct waf_rule **seen = NULL;
	size_t nseen = 0, cap = 0;
	/* the phases' rules, then the group universes (pseudo-phase 0) */
	for (int ph = WAF_PHASE_MIN - 1; ph <= WAF_PHASE_MAX; ph++)
		for (size_t i = 0; i < (ph < WAF_PHASE_MIN ? rs->nskg : rs->phase[ph].n); i++)
			for (struct waf_rule *l = ph < WAF_PHASE_MIN ? rs->skg[i].uni
								      : rs->phase[ph].rules[i];
			     l; l = l->chain_next) {
				if (l->kind != WAF_RULE_SECRULE || l->ntargets == 0)
					continue;
				bool fixed = true;
				for (size_t t = 0; t < l->ntargets && fixed; t++)
					fixed = target_fixed(&l->targets[t]);
				if (!fixed)
					continue;
				size_t k = 0;
				for (; k < nseen; k++) {
					const struct waf_rule *o = seen[k];
					if (o->ntargets != l->ntargets)
						continue;
					size_t t = 0;
					while (t < l->ntargets &&
					       target_eq(&o->targets[t], &l->targets[t]))
						t++;
					if (t == l->ntargets)
						break;
				}
				if (k == nseen) {
					if (nseen == cap) {
						size_t nc = cap ? cap * 2 : 64;
						const struct waf_rule **ns =
							realloc(seen, nc * sizeof(*ns));
						if (!ns) {
							free(seen);
							return 0; /* no sharing, still correct */
						}
						seen = ns;
						cap = nc;
					}
					seen[nseen++] = l;
				}
				l->tsig = (uint32_t)k + 1;
			}
	free(seen);
	rs->ntsig = (uint32_t)nseen;
	return 0;
}

static bool sk_eligible(const struct waf_rule *r)
{
	if (r->kind != WAF_RULE_SECRULE || r->act.multi_match || r->op.negated ||
	    !r->op.hs)
		return false;
	bool rx = (r->op.id == WAF_OP_RX || r->op.id == WAF_OP_RX_GLOBAL) &&
		  r->op.re && r->op.nfactors;
	/* @pm lists stay out: one scan of a phrase list is already what a
	 * group scan costs, and compiling the CRS's large lists twice
	 * doubles the load time */
	if (!rx)
		return false;
	size_t n = 0;
	for (size_t i = 0; i < r->ntargets; i++) {
		if (r->targets[i].exclude)
			continue;
		if (!in_universe(&r->targets[i]))
			return false;
		n++;
	}
	return n > 0;
}

static uint32_t chain_key(const struct waf_rule *r)
{
	return r->eff.ntfns ? r->tfn_ids[r->eff.ntfns - 1] : 0;
}

/* The universe of group number gno: the targets of its members (el[from
 * ..ne) with sk_group == gno), exclusions left out and duplicates once,
 * as one pseudo-rule whose collected values hold every value a member
 * can test. At most ntg targets. 0, or -1 (memory: no groups). */
static int sk_universe(struct waf_ruleset *rs, struct waf_skgroup *g,
		       struct waf_rule **el, size_t from, size_t ne, uint32_t gno,
		       size_t ntg)
{
	struct waf_rule *u = bw_arena_zalloc(rs->arena, sizeof(*u));
	struct waf_target *t = bw_arena_zalloc(rs->arena, (ntg ? ntg : 1) * sizeof(*t));
	if (!u || !t)
		return -1;
	size_t n = 0;
	for (size_t j = from; j < ne; j++) {
		if (el[j]->sk_group != gno)
			continue;
		for (size_t k = 0; k < el[j]->ntargets; k++) {
			const struct waf_target *x = &el[j]->targets[k];
			if (x->exclude)
				continue;
			size_t d = 0;
			while (d < n && !target_eq(&t[d], x))
				d++;
			if (d == n && n < ntg)
				t[n++] = *x;
		}
	}
	u->kind = WAF_RULE_SECRULE;
	u->targets = t;
	u->ntargets = n;
	u->file = "<group prefilter>";
	g->uni = u;
	return 0;
}

/* Groups the eligible starters of every phase by transformation chain
 * and compiles one database per group of two or more (a group of one
 * saves nothing). Failures only mean "no skipping". */
static int prepare_skip(struct waf_parse *p)
{
	struct waf_ruleset *rs = p->rs;
	size_t nst = 0;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++)
		nst += rs->phase[ph].n;
	if (nst == 0)
		return 0;
	struct waf_rule **el = calloc(nst, sizeof(*el));
	uint32_t *keys = calloc(nst, sizeof(*keys));
	bool *done = calloc(nst, sizeof(*done));
	struct sk_build b = { 0 };
	int rc = 0;
	size_t ne = 0;
	if (!el || !keys || !done)
		goto out;
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX; ph++)
		for (size_t i = 0; i < rs->phase[ph].n; i++) {
			struct waf_rule *r = rs->phase[ph].rules[i];
			if (r->kind != WAF_RULE_MARKER && sk_eligible(r)) {
				keys[ne] = chain_key(r);
				el[ne++] = r;
			}
		}
	/* at most one group per distinct chain */
	struct waf_skgroup *g = bw_arena_alloc(rs->arena, (ne ? ne : 1) * sizeof(*g));
	if (!g)
		goto out;
	size_t ng = 0;
	for (size_t i = 0; i < ne; i++) {
		if (done[i])
			continue;
		size_t members = 0;
		for (size_t j = i; j < ne && members < WAF_SK_MEMBERS_MAX; j++)
			if (!done[j] && keys[j] == keys[i])
				members++;
		if (members < 2) {
			done[i] = true;
			continue;
		}
		b.n = 0;
		uint32_t m = 0;
		bool bad = false;
		for (size_t j = i; j < ne && !bad && m < members; j++) {
			if (done[j] || keys[j] != keys[i])
				continue;
			const struct waf_operator *op = &el[j]->op;
			if (op->id == WAF_OP_PM || op->id == WAF_OP_PM_FROM_FILE) {
				for (size_t k = 0; k < op->nphrases && !bad; k++)
					bad = sk_add(&b, op->phrases[k].p, op->phrases[k].len, m) != 0;
			} else {
				struct bw_str *f;
				size_t nf;
				if (waf_rx_factors(op->arg.p, op->arg.len, rs->arena, &f, &nf) != 0 ||
				    nf != op->nfactors) {
					bad = true;
					break;
				}
				for (size_t k = 0; k < nf && !bad; k++)
					bad = sk_add(&b, f[k].p, f[k].len, m) != 0;
			}
			m++;
		}
		hs_database_t *db = NULL;
		hs_compile_error_t *ce = NULL;
		if (!bad && b.n &&
		    hs_compile_lit_multi(b.exprs, b.flags, b.ids, b.lens, (unsigned)b.n,
					 HS_MODE_BLOCK, NULL, &db, &ce) == HS_SUCCESS) {
			if (keep_db(p, db) != 0) {
				rc = -1;
				goto out;
			}
			g[ng] = (struct waf_skgroup){ (struct hs_database *)db, el[i], m,
						      NULL, shortest(b.lens, b.n) };
			ng++;
		} else {
			hs_free_compile_error(ce);
			bad = true;
		}
		m = 0;
		size_t ntg = 0;
		for (size_t j = i; j < ne && m < members; j++) {
			if (done[j] || keys[j] != keys[i])
				continue;
			done[j] = true;
			if (!bad) {
				el[j]->sk_group = (uint32_t)ng; /* 1 + index */
				el[j]->sk_bit = m;
				ntg += el[j]->ntargets;
			}
			m++;
		}
		if (!bad && sk_universe(rs, &g[ng - 1], el, i, ne, (uint32_t)ng, ntg) != 0)
			goto out;
	}
	if (ng == 0)
		goto out;
	rs->skg = g;
	rs->nskg = ng;
out:
	if (rc == 0 && !rs->nskg) {
		/* no usable groups: nobody skips */
		for (size_t i = 0; i < ne; i++)
			el[i]->sk_group = 0;
		rs->nskg = 0;
	}
	free(el);
	free(keys);
	free(done);
	sk_free(&b);
	return rc;
}

int waf_engine_prepare(struct waf_parse *p)
{
	struct waf_ruleset *rs = p->rs;
	struct prefix_tab pt = { 0 };
	struct bw_str sel_pats[16];
	size_t nsel_pats = 0;
	int rc = 0;
	rs->gen = atomic_fetch_add(&gen_counter, 1);
	for (int ph = WAF_PHASE_MIN; ph <= WAF_PHASE_MAX && rc == 0; ph++) {
		struct waf_phase_rules *pr = &rs->phase[ph];
		for (size_t i = 0; i < pr->n && rc == 0; i++) {
			if (pr->rules[i]->kind == WAF_RULE_MARKER)
				continue;
			for (struct waf_rule *l = pr->rules[i]; l && rc == 0;
			     l = l->chain_next) {
				rc = prepare_tfns(p, &pt, l);
				for (size_t t = 0; t < l->ntargets; t++) {
					struct waf_target *tg = &l->targets[t];
					if (tg->exclude)
						l->has_excl = true;
					if (tg->sel_kind == WAF_SEL_NAME)
						tg->sel_hash = waf_key_hash(tg->sel);
					if (tg->sel_kind == WAF_SEL_REGEX)
						tg->sel_id = sel_id_of(sel_pats, &nsel_pats,
								       tg->sel);
					if (tg->sel_kind == WAF_SEL_REGEX && rc == 0 &&
					    waf_rx_factors(tg->sel.p, tg->sel.len,
							   p->rs->arena, &tg->sel_factors,
							   &tg->nsel_factors) != 0)
						rc = waf_perr(p, 413, "out_of_memory",
							      "rule set memory limit "
							      "reached");
				}
				if (rc || p->lim.no_hyperscan)
					continue;
				switch (l->op.id) {
				case WAF_OP_PM:
				case WAF_OP_PM_FROM_FILE:
					rc = compile_pm(p, l);
					break;
				case WAF_OP_RX:
				case WAF_OP_RX_GLOBAL:
					rc = compile_rx_prefilter(p, l);
					if (rc == 0)
						prepare_rx_start(&l->op);
					break;
				default:
					break;
				}
			}
		}
	}
	rs->ntfn_prefixes = (uint32_t)pt.n;
	/* the identity masks: parents are numbered before their children */
	if (rc == 0) {
		rs->tfn_mask = bw_arena_zalloc(rs->arena, (pt.n + 1) * sizeof(*rs->tfn_mask));
		if (!rs->tfn_mask)
			rc = waf_perr(p, 413, "out_of_memory", "rule set memory limit reached");
		for (size_t i = 0; rc == 0 && i < pt.n; i++)
			rs->tfn_mask[pt.v[i].id] = rs->tfn_mask[pt.v[i].parent] |
						   waf_tfn_trigger(pt.v[i].t);
	}
	free(pt.v);
	if (rc == 0 && !p->lim.no_hyperscan && !getenv("BW_WAF_NO_GROUPS"))
		rc = prepare_skip(p);
	if (rc == 0 && !getenv("BW_WAF_NO_TSIG"))
		rc = prepare_tsig(p);
	if (rc == 0 && rs->hs_proto &&
	    bw_arena_cleanup(rs->arena, scratch_free, rs->hs_proto) != 0) {
		hs_free_scratch(rs->hs_proto);
		rs->hs_proto = NULL;
		return waf_perr(p, 500, "out_of_memory", "out of memory");
	}
	return rc;
}

/* ------------------------------------------------------------ scanning */

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static __thread hs_scratch_t *tl_scratch;
static __thread uint64_t tl_gen;

static void tl_destroy(void *s)
{
	hs_free_scratch(s);
}

static void tl_init(void)
{
	(void)pthread_key_create(&tl_key, tl_destroy);
}

static hs_scratch_t *thread_scratch(const struct waf_ruleset *rs)
{
	if (tl_scratch && tl_gen == rs->gen)
		return tl_scratch;
	pthread_once(&tl_once, tl_init);
	hs_scratch_t *s = NULL;
	if (hs_clone_scratch(rs->hs_proto, &s) != HS_SUCCESS)
		return NULL;
	if (tl_scratch)
		hs_free_scratch(tl_scratch);
	tl_scratch = s;
	tl_gen = rs->gen;
	(void)pthread_setspecific(tl_key, s);
	return s;
}

struct scan_ctx {
	unsigned id;
	unsigned long long to;
	bool hit;
};

static int on_match(unsigned int id, unsigned long long from,
		    unsigned long long to, unsigned int flags, void *ctx)
{
	(void)from;
	(void)flags;
	struct scan_ctx *c = ctx;
	c->id = id;
	c->to = to;
	c->hit = true;
	return 1; /* stop at the first match */
}

int waf_hs_scan(const struct waf_ruleset *rs, const struct waf_operator *op,
		const char *p, size_t n, size_t *mfrom, size_t *mto)
{
	if (n < op->hs_minlen)
		return 0; /* no literal of the database fits in the value */
	hs_scratch_t *s = thread_scratch(rs);
	if (!s || n > UINT32_MAX)
		return -1;
	struct scan_ctx c = { 0 };
	hs_error_t e = hs_scan((const hs_database_t *)op->hs, p, (unsigned)n,
			       0, s, on_match, &c);
	if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)
		return -1;
	if (!c.hit)
		return 0;
	if (mto)
		*mto = (size_t)c.to;
	if (mfrom) {
		size_t l = (op->id == WAF_OP_PM || op->id == WAF_OP_PM_FROM_FILE)
				   ? op->phrases[c.id].len
				   : 0;
		*mfrom = (size_t)c.to >= l ? (size_t)c.to - l : 0;
	}
	return 1;
}

struct group_ctx {
	uint64_t *bits;
};

static int on_group_match(unsigned int id, unsigned long long from,
			  unsigned long long to, unsigned int flags, void *ctx)
{
	(void)from;
	(void)to;
	(void)flags;
	struct group_ctx *c = ctx;
	c->bits[id / 64] |= (uint64_t)1 << (id % 64);
	return 0; /* every member that can match */
}

bool waf_rx_factors_possible(const struct waf_ruleset *rs,
			     const struct waf_operator *op, struct bw_str v)
{
	const unsigned char *s = (const unsigned char *)v.p;
	for (size_t i = 0; i < v.len; i++)
		if (op->rx_fbytes[s[i] / 8] & (1u << (s[i] % 8)))
			return true;
	if (!op->rx_fhs || v.len < op->rx_fhs_minlen)
		return false;
	hs_scratch_t *sc = thread_scratch(rs);
	if (!sc || v.len > UINT32_MAX)
		return true; /* cannot tell: let PCRE2 decide */
	struct scan_ctx c = { 0 };
	hs_error_t e = hs_scan((const hs_database_t *)op->rx_fhs, v.p,
			       (unsigned)v.len, 0, sc, on_match, &c);
	if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)
		return true;
	return c.hit;
}

int waf_hs_scan_group(const struct waf_ruleset *rs, const struct waf_skgroup *g,
		      const char *p, size_t n, uint64_t *bits)
{
	if (n < g->minlen)
		return 0; /* no member's literal fits: no bit set */
	hs_scratch_t *s = thread_scratch(rs);
	if (!s || n > UINT32_MAX)
		return -1;
	struct group_ctx c = { bits };
	hs_error_t e = hs_scan((const hs_database_t *)g->db, p, (unsigned)n, 0, s,
			       on_group_match, &c);
	return e == HS_SUCCESS || e == HS_SCAN_TERMINATED ? 0 : -1;
}
