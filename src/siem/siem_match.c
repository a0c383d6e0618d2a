/*
 * Detection: evaluating compiled Sigma rules against events, and the
 * index that keeps the cost low when there are many rules.
 *
 * The index. For every detection rule, compile time derives a set of
 * "atoms" — (field, literal) pairs such that the rule cannot match unless
 * at least one atom holds: the field equals the literal (EQ) or contains
 * it (SUB), both compared lowercased. AND takes the cheapest child's set,
 * OR the union, NOT gives up (the rule is then evaluated for every
 * event). At match time each field with EQ atoms costs one bisection in
 * a sorted table, each field with SUB atoms one scan per needle, and only
 * the rules whose atoms fired (plus the few unindexed ones) are fully
 * evaluated. Needles and event values are lowercased once (ASCII only:
 * Sigma's case-insensitivity is not Unicode case folding here).
 *
 * Thread model: the ruleset and index are immutable after compile; all
 * per-event scratch (lowercase copies, candidate stamps, PCRE2 match
 * data) is in the struct siem_matcher of the calling thread.
 */
#include "siem/siem_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>
#include <stdlib.h>
#ifdef BW_HAVE_HYPERSCAN
#include <hs.h>
#endif

#define KW_FIELD SIEM_F__COUNT /* pseudo-field: message or original */

enum { AT_EQ, AT_SUB, AT_CIDR };

struct atom {
	uint8_t field;
	uint8_t kind;
	const char *s; /* AT_CIDR: the network's 16 address bytes */
	size_t len;
	uint32_t rule;
	uint8_t family, bits; /* AT_CIDR */
};

struct rs_index {
	/* per field: EQ atoms sorted by (len, bytes), SUB atoms */
	struct atom *eq[SIEM_F__COUNT + 1];
	size_t neq[SIEM_F__COUNT + 1];
	struct atom *sub[SIEM_F__COUNT + 1];
	size_t nsub[SIEM_F__COUNT + 1];
	/* per slot field: networks (|cidr values); the event's address is
	 * parsed once and compared with each, instead of every cidr rule
	 * being evaluated for every event */
	struct atom *cidr[SIEM_F__COUNT + 1];
	size_t ncidr[SIEM_F__COUNT + 1];
	uint32_t *always; /* rules without atoms */
	size_t nalways;
#ifdef BW_HAVE_HYPERSCAN
	/* per field, one literal database over its SUB needles (ids index
	 * sub[f]); NULL falls back to one memmem per needle */
	hs_database_t *hs[SIEM_F__COUNT + 1];
#endif
};

struct siem_matcher {
	const struct siem_ruleset *rs;
	const struct siem_event *ev;
	char *lc;
	size_t lccap, lcused;
	struct bw_str lcf[SIEM_F__COUNT];
	uint32_t lcgen[SIEM_F__COUNT];
	struct bw_str lcl[SIEM_MAX_LABELS];
	uint32_t lclgen[SIEM_MAX_LABELS];
	/* addresses of slot fields, parsed once per event for cidr tests
	 * (ipfam 0: not an address) */
	uint32_t ipgen[SIEM_F__COUNT];
	uint8_t ipfam[SIEM_F__COUNT];
	unsigned char ip[SIEM_F__COUNT][16];
	uint32_t gen;
	uint32_t *stamp;
	uint32_t *cand;
	size_t ncand;
	pcre2_match_data *md;
#ifdef BW_HAVE_HYPERSCAN
	hs_scratch_t *scratch; /* sized for every database of the ruleset */
	const struct atom *hs_atoms;
#endif
	struct siem_match_stats st;
};

/* ------------------------------------------------------------- values */

struct bw_str siem_fref_get(const struct siem_event *ev, const struct fref *f)
{
	switch (f->kind) {
	case FREF_SLOT:
		return ev->f[f->id];
	case FREF_LABEL:
		return siem_event_label_get(ev, f->name, f->len);
	default:
		return ev->f[SIEM_F_MESSAGE];
	}
}

/* ASCII-lowercases n bytes of s into o eight at a time (the raw line
 * and message of every event are lowercased for keyword rules: a byte
 * loop showed in profiles). In each byte, without carries between bytes:
 * b7 = 0x80 when the low seven bits are >= 'A', b7 - b7' when > 'Z', and
 * a byte with its top bit set is never a letter; the letters get 0x20. */
void siem_lower_bytes(char *o, const char *s, size_t n)
{
	const uint64_t hi = 0x8080808080808080ULL, lo7 = 0x7f7f7f7f7f7f7f7fULL;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		uint64_t h = x & lo7;
		uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3fULL;  /* 0x80 - 'A' = 0x3f */
		uint64_t gt_z = h + 0x2525252525252525ULL;  /* 0x80 - 'Z' - 1 = 0x25 */
		uint64_t up = ge_a & ~gt_z & ~x & hi;
		x |= up >> 2;
		memcpy(o + i, &x, 8);
	}
	for (; i < n; i++)
		o[i] = siem_lower(s[i]);
}

static struct bw_str lower_copy(struct siem_matcher *m, struct bw_str v)
{
	/* capacity was reserved for every field and label at event start */
	char *o = m->lc + m->lcused;
	siem_lower_bytes(o, v.p, v.len);
	m->lcused += v.len;
	return bw_str_make(o, v.len);
}

static struct bw_str lc_slot(struct siem_matcher *m, unsigned f)
{
	if (m->lcgen[f] != m->gen) {
		m->lcf[f] = lower_copy(m, m->ev->f[f]);
		m->lcgen[f] = m->gen;
	}
	return m->lcf[f];
}

static struct bw_str lc_fref(struct siem_matcher *m, const struct fref *f,
			     struct bw_str raw)
{
	if (f->kind == FREF_SLOT)
		return lc_slot(m, f->id);
	const struct siem_event *ev = m->ev;
	for (size_t i = 0; i < ev->nlabels; i++)
		if (ev->labels[i].value.p == raw.p &&
		    ev->labels[i].value.len == raw.len) {
			if (m->lclgen[i] != m->gen) {
				m->lcl[i] = lower_copy(m, raw);
				m->lclgen[i] = m->gen;
			}
			return m->lcl[i];
		}
	return lc_slot(m, SIEM_F_MESSAGE);
}

static bool str_op(uint8_t op, struct bw_str t, const char *s, size_t n)
{
	switch (op) {
	case SV_EQ:
		return t.len == n && (n == 0 || memcmp(t.p, s, n) == 0);
	case SV_CONTAINS:
		return n == 0 || (t.len >= n && memmem(t.p, t.len, s, n));
	case SV_PREFIX:
		return t.len >= n && memcmp(t.p, s, n) == 0;
	case SV_SUFFIX:
		return t.len >= n && memcmp(t.p + t.len - n, s, n) == 0;
	case SV_GLOB:
		return siem_glob_match(s, n, t.p, t.len);
	default:
		return false;
	}
}

static bool num_of(struct bw_str v, double *out)
{
	char tmp[64];
	if (v.len == 0 || v.len >= sizeof(tmp))
		return false;
	memcpy(tmp, v.p, v.len);
	tmp[v.len] = '\0';
	char *end;
	*out = strtod(tmp, &end);
	return *end == '\0' && *out == *out;
}

/* 4 or 6 with the address in out, 0 when raw is not an address. */
static uint8_t parse_ip(struct bw_str raw, unsigned char out[16])
{
	char tmp[64];
	if (raw.len == 0 || raw.len >= sizeof(tmp))
		return 0;
	memcpy(tmp, raw.p, raw.len);
	tmp[raw.len] = '\0';
	if (memchr(raw.p, ':', raw.len))
		return inet_pton(AF_INET6, tmp, out) == 1 ? 6 : 0;
	return inet_pton(AF_INET, tmp, out) == 1 ? 4 : 0;
}

/* True when addr lies in the network net/bits. */
static bool in_net(const unsigned char *addr, const unsigned char *net, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	/* a byte loop, not memcmp: every cidr rule of a field runs this per
	 * event, on 0-16 bytes that mostly differ in the first */
	for (unsigned i = 0; i < full; i++)
		if (addr[i] != net[i])
			return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xFF << (8 - rest));
		if ((addr[full] & mask) != (net[full] & mask))
			return false;
	}
	return true;
}

/* The address in slot f of the current event, parsed once per event
 * (0 when it is not one). */
static uint8_t slot_ip(struct siem_matcher *m, unsigned f, const unsigned char **addr)
{
	if (m->ipgen[f] != m->gen) {
		m->ipgen[f] = m->gen;
		m->ipfam[f] = parse_ip(m->ev->f[f], m->ip[f]);
	}
	*addr = m->ip[f];
	return m->ipfam[f];
}

/* Many cidr rules test the same field (source.ip): a slot's address is
 * parsed once per event, not once per rule. */
static bool cidr_match(struct siem_matcher *m, const struct sv *v,
		       const struct fref *f, struct bw_str raw)
{
	unsigned char local[16];
	const unsigned char *addr = local;
	uint8_t fam;
	if (f->kind == FREF_SLOT) {
		fam = slot_ip(m, f->id, &addr);
	} else {
		fam = parse_ip(raw, local);
	}
	return fam == v->family && in_net(addr, v->addr, v->bits);
}

static bool sv_test(struct siem_matcher *m, const struct sv *v,
		    const struct fref *f, struct bw_str raw)
{
	switch (v->op) {
	case SV_NULL:
		return !raw.p || raw.len == 0;
	case SV_EXISTS:
		return (raw.p != NULL) == v->exists;
	default:
		break;
	}
	if (!raw.p)
		return false;
	switch (v->op) {
	case SV_EQ:
	case SV_CONTAINS:
	case SV_PREFIX:
	case SV_SUFFIX:
	case SV_GLOB:
		return str_op(v->op, v->cased ? raw : lc_fref(m, f, raw), v->s,
			      v->len);
	case SV_RE:
		return pcre2_match(v->re, (PCRE2_SPTR)raw.p, raw.len, 0, 0,
				   m->md, NULL) >= 0;
	case SV_CIDR:
		return cidr_match(m, v, f, raw);
	case SV_LT:
	case SV_LTE:
	case SV_GT:
	case SV_GTE: {
		double d;
		if (!num_of(raw, &d))
			return false;
		return v->op == SV_LT	 ? d < v->num
		       : v->op == SV_LTE ? d <= v->num
		       : v->op == SV_GT	 ? d > v->num
					 : d >= v->num;
	}
	case SV_FIELDREF: {
		struct bw_str o = siem_fref_get(m->ev, &v->ref);
		if (!o.p)
			return false;
		struct bw_str a = raw;
		if (!v->cased) {
			a = lc_fref(m, f, raw);
			o = lc_fref(m, &v->ref, o);
		}
		return str_op(v->refop, a, o.p, o.len);
	}
	default:
		return false;
	}
}

static bool fcond_eval(struct siem_matcher *m, const struct fcond *c)
{
	const struct siem_event *ev = m->ev;
	bool any = false, all = true;
	if (c->f.kind == FREF_KEYWORDS) {
		static const struct fref tg[2] = {
			{ .kind = FREF_SLOT, .id = SIEM_F_MESSAGE },
			{ .kind = FREF_SLOT, .id = SIEM_F_EVENT_ORIGINAL },
		};
		for (size_t i = 0; i < c->nv; i++) {
			bool hit = false;
			for (size_t k = 0; k < 2 && !hit; k++)
				hit = sv_test(m, &c->v[i], &tg[k],
					      ev->f[tg[k].id]);
			any |= hit;
			all &= hit;
			if (c->all ? !all : any)
				break;
		}
	} else {
		struct bw_str raw = siem_fref_get(ev, &c->f);
		for (size_t i = 0; i < c->nv; i++) {
			bool hit = sv_test(m, &c->v[i], &c->f, raw);
			any |= hit;
			all &= hit;
			if (c->all ? !all : any)
				break;
		}
	}
	if (c->negate)
		return !any;
	return c->all ? all : any;
}

static bool sel_eval(struct siem_matcher *m, const struct sel *s)
{
	for (size_t i = 0; i < s->nalts; i++) {
		const struct alt *a = &s->alts[i];
		bool ok = true;
		for (size_t k = 0; k < a->nc && ok; k++)
			ok = fcond_eval(m, &a->c[k]);
		if (ok)
			return true;
	}
	return false;
}

static bool cnode_eval(struct siem_matcher *m, const struct srule *r,
		       const struct cnode *n)
{
	switch (n->kind) {
	case CN_SEL:
		return sel_eval(m, &r->sels[n->sel]);
	case CN_AND:
		return cnode_eval(m, r, n->a) && cnode_eval(m, r, n->b);
	case CN_OR:
		return cnode_eval(m, r, n->a) || cnode_eval(m, r, n->b);
	default:
		return !cnode_eval(m, r, n->a);
	}
}

bool siem_rule_eval(struct siem_matcher *m, const struct srule *r,
		    const struct siem_event *ev)
{
	(void)ev;
	return r->cond && cnode_eval(m, r, r->cond);
}

/* ----------------------------------------------------------------- index */

struct alist {
	struct atom *v;
	size_t n, cap;
	bool oom;
};

static void apush(struct alist *l, struct atom a)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		struct atom *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv) {
			l->oom = true;
			return;
		}
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = a;
}

/* Order for the frequency table: field, kind, then the literal. */
static int freq_cmp(const void *pa, const void *pb)
{
	const struct atom *a = pa, *b = pb;
	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->s, b->s, a->len);
}

/* How many rules could use this atom (>= 1): a literal many rules share
 * ("event.outcome: success") makes all of them candidates whenever it
 * occurs, so it is a poor choice for any one of them. */
static size_t freq(const struct alist *fq, const struct atom *a)
{
	if (!fq || fq->n == 0)
		return 1;
	size_t lo = 0, hi = fq->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (freq_cmp(&fq->v[mid], a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < fq->n && freq_cmp(&fq->v[lo + n], a) == 0)
		n++;
	return n ? n : 1;
}

/* The frequency table of the compile running on this thread (set only
 * inside siem_index_build; thread-local so parallel compiles are safe). */
static _Thread_local const struct alist *cur_fq;

static size_t cost(const struct alist *l)
{
	size_t c = 0;
	for (size_t i = 0; i < l->n; i++)
		c += (l->v[i].kind == AT_EQ ? 1 : l->v[i].kind == AT_CIDR ? 2 : 3) *
		     freq(cur_fq, &l->v[i]);
	return c;
}

/* The longest literal run of a glob pattern, as a SUB needle. */
static bool glob_needle(const struct sv *v, const char **s, size_t *n)
{
	size_t best = 0, bl = 0, i = 0;
	while (i < v->len) {
		while (i < v->len && (v->s[i] == SV_STAR || v->s[i] == SV_ONE))
			i++;
		size_t j = i;
		while (j < v->len && v->s[j] != SV_STAR && v->s[j] != SV_ONE)
			j++;
		if (j - i > bl)
			best = i, bl = j - i;
		i = j;
	}
	*s = v->s + best;
	*n = bl;
	return bl >= 3;
}

/* Atoms of one value into l; false if the value gives none. */
static bool value_atom(const struct fcond *c, const struct sv *v,
		       uint32_t rule, struct alist *l)
{
	uint8_t field = c->f.kind == FREF_KEYWORDS ? KW_FIELD : c->f.id;
	struct atom a = { .field = field, .rule = rule, .s = v->s,
			  .len = v->len };
	switch (v->op) {
	case SV_EQ:
		if (v->cased || field == KW_FIELD)
			return false; /* needle not lowercased */
		a.kind = AT_EQ;
		break;
	case SV_CONTAINS:
	case SV_PREFIX:
	case SV_SUFFIX:
		if (v->cased || v->len == 0)
			return false;
		a.kind = AT_SUB;
		break;
	case SV_GLOB:
		if (v->cased || !glob_needle(v, &a.s, &a.len))
			return false;
		a.kind = AT_SUB;
		break;
	case SV_CIDR:
		if (field == KW_FIELD)
			return false;
		a.kind = AT_CIDR;
		a.s = (const char *)v->addr;
		a.len = sizeof(v->addr);
		a.family = v->family;
		a.bits = v->bits;
		break;
	default:
		return false;
	}
	apush(l, a);
	return true;
}

static bool fcond_atoms(const struct fcond *c, uint32_t rule, struct alist *l)
{
	if (c->negate || c->f.kind == FREF_LABEL || c->nv == 0)
		return false;
	if (c->all) {
		/* any one value is necessary: take the first that has one */
		for (size_t i = 0; i < c->nv; i++) {
			size_t keep = l->n;
			if (value_atom(c, &c->v[i], rule, l))
				return true;
			l->n = keep;
		}
		return false;
	}
	size_t keep = l->n;
	for (size_t i = 0; i < c->nv; i++)
		if (!value_atom(c, &c->v[i], rule, l)) {
			l->n = keep;
			return false;
		}
	return true;
}

static bool node_atoms(const struct srule *r, const struct cnode *n,
		       uint32_t rule, struct alist *l);

static bool alt_atoms(const struct alt *a, uint32_t rule, struct alist *l)
{
	bool found = false;
	struct alist best = { 0 };
	size_t bestc = SIZE_MAX;
	for (size_t i = 0; i < a->nc; i++) {
		struct alist t = { 0 };
		if (fcond_atoms(&a->c[i], rule, &t) && !t.oom &&
		    cost(&t) < bestc) {
			free(best.v);
			best = t;
			bestc = cost(&t);
			found = true;
		} else {
			free(t.v);
		}
	}
	for (size_t i = 0; found && i < best.n; i++)
		apush(l, best.v[i]);
	free(best.v);
	return found;
}

static bool node_atoms(const struct srule *r, const struct cnode *n,
		       uint32_t rule, struct alist *l)
{
	switch (n->kind) {
	case CN_SEL: {
		const struct sel *s = &r->sels[n->sel];
		size_t keep = l->n;
		for (size_t i = 0; i < s->nalts; i++)
			if (!alt_atoms(&s->alts[i], rule, l)) {
				l->n = keep;
				return false;
			}
		return true;
	}
	case CN_OR: {
		size_t keep = l->n;
		if (node_atoms(r, n->a, rule, l) && node_atoms(r, n->b, rule, l))
			return true;
		l->n = keep;
		return false;
	}
	case CN_AND: {
		struct alist x = { 0 }, y = { 0 };
		bool a = node_atoms(r, n->a, rule, &x) && !x.oom;
		bool b = node_atoms(r, n->b, rule, &y) && !y.oom;
		struct alist *pick = NULL;
		if (a && b)
			pick = cost(&x) <= cost(&y) ? &x : &y;
		else if (a)
			pick = &x;
		else if (b)
			pick = &y;
		for (size_t i = 0; pick && i < pick->n; i++)
			apush(l, pick->v[i]);
		free(x.v);
		free(y.v);
		return pick != NULL;
	}
	default:
		return false;
	}
}

static int atom_cmp(const void *pa, const void *pb)
{
	const struct atom *a = pa, *b = pb;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	int c = memcmp(a->s, b->s, a->len);
	if (c)
		return c;
	return a->rule < b->rule ? -1 : a->rule > b->rule;
}

void siem_index_free(struct siem_ruleset *rs)
{
	struct rs_index *x = rs->index;
	if (!x)
		return;
	for (size_t f = 0; f <= SIEM_F__COUNT; f++) {
		free(x->eq[f]);
		free(x->sub[f]);
		free(x->cidr[f]);
	}
	free(x->always);
#ifdef BW_HAVE_HYPERSCAN
	for (size_t f = 0; f <= SIEM_F__COUNT; f++)
		hs_free_database(x->hs[f]);
#endif
	free(x);
	rs->index = NULL;
}

#ifdef BW_HAVE_HYPERSCAN
/* Literal database for field f. On any failure the field keeps using
 * memmem: Hyperscan is an accelerator here, never a requirement. */
static void hs_build(struct rs_index *x, size_t f)
{
	size_t n = x->nsub[f];
	const char **ex = calloc(n, sizeof(*ex));
	size_t *lens = calloc(n, sizeof(*lens));
	unsigned *flags = calloc(n, sizeof(*flags));
	unsigned *ids = calloc(n, sizeof(*ids));
	if (ex && lens && flags && ids) {
		for (size_t i = 0; i < n; i++) {
			ex[i] = x->sub[f][i].s;
			lens[i] = x->sub[f][i].len;
			flags[i] = HS_FLAG_SINGLEMATCH; /* text is lowercased */
			ids[i] = (unsigned)i;
		}
		hs_compile_error_t *ce = NULL;
		if (hs_compile_lit_multi(ex, flags, ids, lens, (unsigned)n,
					 HS_MODE_BLOCK, NULL, &x->hs[f],
					 &ce) != HS_SUCCESS) {
			x->hs[f] = NULL;
			hs_free_compile_error(ce);
		}
	}
	free(ex);
	free(lens);
	free(flags);
	free(ids);
}
#endif

int siem_index_build(struct siem_ruleset *rs, struct bw_err *err)
{
	struct rs_index *x = calloc(1, sizeof(*x));
	struct alist all = { 0 };
	if (!x)
		goto oom;
	rs->index = x;
	x->always = calloc(rs->ndetections ? rs->ndetections : 1,
			   sizeof(*x->always));
	if (!x->always)
		goto oom;
	/* Pass 1: every literal any rule could be indexed by, to know how
	 * widely each is shared. */
	struct alist fq = { 0 };
	for (size_t k = 0; k < rs->ndetections; k++) {
		const struct srule *r = rs->rules[rs->detections[k]];
		for (size_t si = 0; si < r->nsels; si++)
			for (size_t ai = 0; ai < r->sels[si].nalts; ai++) {
				const struct alt *al = &r->sels[si].alts[ai];
				for (size_t ci = 0; ci < al->nc; ci++)
					for (size_t vi = 0; vi < al->c[ci].nv;
					     vi++)
						(void)value_atom(&al->c[ci],
								 &al->c[ci].v[vi],
								 0, &fq);
			}
	}
	if (fq.oom) {
		free(fq.v);
		goto oom;
	}
	if (fq.n)
		qsort(fq.v, fq.n, sizeof(*fq.v), freq_cmp);
	/* Pass 2: pick each rule's cheapest sufficient set (cost() reads
	 * the table through cur_fq). */
	cur_fq = &fq;
	for (size_t k = 0; k < rs->ndetections; k++) {
		uint32_t ri = rs->detections[k];
		const struct srule *r = rs->rules[ri];
		size_t keep = all.n;
		if (!node_atoms(r, r->cond, ri, &all)) {
			all.n = keep;
			x->always[x->nalways++] = ri;
		}
		if (all.oom) {
			cur_fq = NULL;
			free(fq.v);
			goto oom;
		}
	}
	cur_fq = NULL;
	free(fq.v);
	size_t cnt[3][SIEM_F__COUNT + 1] = { { 0 } };
	for (size_t i = 0; i < all.n; i++)
		cnt[all.v[i].kind][all.v[i].field]++;
	for (size_t f = 0; f <= SIEM_F__COUNT; f++) {
		if (cnt[AT_EQ][f] &&
		    !(x->eq[f] = calloc(cnt[AT_EQ][f], sizeof(struct atom))))
			goto oom;
		if (cnt[AT_SUB][f] &&
		    !(x->sub[f] = calloc(cnt[AT_SUB][f], sizeof(struct atom))))
			goto oom;
		if (cnt[AT_CIDR][f] &&
		    !(x->cidr[f] = calloc(cnt[AT_CIDR][f], sizeof(struct atom))))
			goto oom;
	}
	for (size_t i = 0; i < all.n; i++) {
		struct atom *a = &all.v[i];
		if (a->kind == AT_EQ)
			x->eq[a->field][x->neq[a->field]++] = *a;
		else if (a->kind == AT_SUB)
			x->sub[a->field][x->nsub[a->field]++] = *a;
		else
			x->cidr[a->field][x->ncidr[a->field]++] = *a;
	}
	for (size_t f = 0; f <= SIEM_F__COUNT; f++) {
		if (x->neq[f])
			qsort(x->eq[f], x->neq[f], sizeof(struct atom), atom_cmp);
		if (x->nsub[f])
			qsort(x->sub[f], x->nsub[f], sizeof(struct atom),
			      atom_cmp);
#ifdef BW_HAVE_HYPERSCAN
		/* a handful of needles is as fast with memmem */
		if (x->nsub[f] >= 8)
			hs_build(x, f);
#endif
	}
	free(all.v);
	return 0;
oom:
	free(all.v);
	siem_index_free(rs);
	return SIEM_ERR(err, 500, "memory", "out of memory building the index");
}

/* --------------------------------------------------------------- matcher */

struct siem_matcher *siem_matcher_new(const struct siem_ruleset *rs)
{
	struct siem_matcher *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->rs = rs;
	m->stamp = calloc(rs->n ? rs->n : 1, sizeof(*m->stamp));
	m->cand = calloc(rs->n ? rs->n : 1, sizeof(*m->cand));
	m->md = pcre2_match_data_create(1, NULL);
	if (!m->stamp || !m->cand || !m->md) {
		siem_matcher_free(m);
		return NULL;
	}
#ifdef BW_HAVE_HYPERSCAN
	for (size_t f = 0; rs->index && f <= SIEM_F__COUNT; f++)
		if (rs->index->hs[f] &&
		    hs_alloc_scratch(rs->index->hs[f], &m->scratch) !=
			    HS_SUCCESS) {
			siem_matcher_free(m);
			return NULL;
		}
#endif
	return m;
}

void siem_matcher_free(struct siem_matcher *m)
{
	if (!m)
		return;
	free(m->lc);
	free(m->stamp);
	free(m->cand);
	pcre2_match_data_free(m->md);
#ifdef BW_HAVE_HYPERSCAN
	hs_free_scratch(m->scratch);
#endif
	free(m);
}

void siem_matcher_stats(const struct siem_matcher *m,
			struct siem_match_stats *out)
{
	*out = m->st;
}

static void mark(struct siem_matcher *m, uint32_t rule)
{
	if (m->stamp[rule] != m->gen) {
		m->stamp[rule] = m->gen;
		m->cand[m->ncand++] = rule;
	}
}

static int u32cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Begin an event: new generation, lowercase scratch big enough for every
 * field and label, so lower_copy never reallocates mid-event. */
static int begin(struct siem_matcher *m, const struct siem_event *ev)
{
	m->ev = ev;
	if (++m->gen == 0) { /* wrapped: clear stamps once every 2^32 */
		memset(m->stamp, 0, m->rs->n * sizeof(*m->stamp));
		memset(m->lcgen, 0, sizeof(m->lcgen));
		memset(m->lclgen, 0, sizeof(m->lclgen));
		memset(m->ipgen, 0, sizeof(m->ipgen));
		m->gen = 1;
	}
	size_t need = 1;
	for (size_t f = 0; f < SIEM_F__COUNT; f++)
		need += ev->f[f].len;
	for (size_t i = 0; i < ev->nlabels; i++)
		need += ev->labels[i].value.len;
	if (need > m->lccap) {
		char *n = realloc(m->lc, need);
		if (!n)
			return -1;
		m->lc = n;
		m->lccap = need;
	}
	m->lcused = 0;
	m->ncand = 0;
	return 0;
}

static void probe_eq(struct siem_matcher *m, const struct atom *t, size_t n,
		     struct bw_str v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* first atom >= v */
		size_t mid = (lo + hi) / 2;
		const struct atom *a = &t[mid];
		int c = a->len != v.len ? (a->len < v.len ? -1 : 1)
					: memcmp(a->s, v.p, v.len);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && t[lo].len == v.len &&
	       memcmp(t[lo].s, v.p, v.len) == 0;
	     lo++)
		mark(m, t[lo].rule);
}

#ifdef BW_HAVE_HYPERSCAN
static int on_hs(unsigned id, unsigned long long from, unsigned long long to,
		 unsigned flags, void *ctx)
{
	struct siem_matcher *m = ctx;
	mark(m, m->hs_atoms[id].rule);
	return 0;
}
#endif

static void probe_sub(struct siem_matcher *m, const struct atom *t, size_t n,
		      struct bw_str v, size_t f)
{
#ifdef BW_HAVE_HYPERSCAN
	hs_database_t *db = m->rs->index->hs[f];
	if (db && m->scratch && v.len <= UINT32_MAX) {
		m->hs_atoms = t;
		if (hs_scan(db, v.len ? v.p : "", (unsigned)v.len, 0,
			    m->scratch, on_hs, m) == HS_SUCCESS)
			return;
		/* a scan error: fall through to the exact slow path */
	}
#else
	(void)f;
#endif
	for (size_t i = 0; i < n; i++) {
		if (m->stamp[t[i].rule] == m->gen)
			continue; /* already a candidate */
		if (t[i].len <= v.len && memmem(v.p, v.len, t[i].s, t[i].len))
			mark(m, t[i].rule);
	}
}

long siem_match(struct siem_matcher *m, const struct siem_event *ev,
		uint32_t *out, size_t cap)
{
	const struct siem_ruleset *rs = m->rs;
	const struct rs_index *x = rs->index;
	if (!x || begin(m, ev) < 0)
		return -1;
	m->st.events++;
	for (size_t f = 0; f < SIEM_F__COUNT; f++) {
		if (!ev->f[f].p || (!x->neq[f] && !x->nsub[f] && !x->ncidr[f]))
			continue;
		if (x->ncidr[f]) {
			const unsigned char *addr;
			uint8_t fam = slot_ip(m, (unsigned)f, &addr);
			for (size_t i = 0; fam && i < x->ncidr[f]; i++) {
				const struct atom *a = &x->cidr[f][i];
				if (a->family == fam &&
				    in_net(addr, (const unsigned char *)a->s, a->bits))
					mark(m, a->rule);
			}
			if (!x->neq[f] && !x->nsub[f])
				continue;
		}
		struct bw_str v = lc_slot(m, (unsigned)f);
		if (x->neq[f])
			probe_eq(m, x->eq[f], x->neq[f], v);
		if (x->nsub[f])
			probe_sub(m, x->sub[f], x->nsub[f], v, f);
	}
	if (x->nsub[KW_FIELD]) {
		if (ev->f[SIEM_F_MESSAGE].p)
			probe_sub(m, x->sub[KW_FIELD], x->nsub[KW_FIELD],
				  lc_slot(m, SIEM_F_MESSAGE), KW_FIELD);
		if (ev->f[SIEM_F_EVENT_ORIGINAL].p)
			probe_sub(m, x->sub[KW_FIELD], x->nsub[KW_FIELD],
				  lc_slot(m, SIEM_F_EVENT_ORIGINAL), KW_FIELD);
	}
	for (size_t i = 0; i < x->nalways; i++)
		mark(m, x->always[i]);
	/* candidates come mostly in order and are few: insertion sort,
	 * qsort only for long lists */
	if (m->ncand > 32) {
		qsort(m->cand, m->ncand, sizeof(*m->cand), u32cmp);
	} else {
		for (size_t i = 1; i < m->ncand; i++) {
			uint32_t c = m->cand[i];
			size_t j = i;
			for (; j > 0 && m->cand[j - 1] > c; j--)
				m->cand[j] = m->cand[j - 1];
			m->cand[j] = c;
		}
	}
	m->st.candidates += m->ncand;
	long hits = 0;
	for (size_t i = 0; i < m->ncand; i++) {
		const struct srule *r = rs->rules[m->cand[i]];
		if (!cnode_eval(m, r, r->cond))
			continue;
		if ((size_t)hits < cap)
			out[hits] = m->cand[i];
		hits++;
	}
	m->st.matches += (uint64_t)hits;
	return hits;
}

/* --------------------------------------------------------------- compile */

static int resolve_refs(struct siem_ruleset *rs, struct bw_err *err)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct srule *r = rs->rules[i];
		if (!r->corr)
			continue;
		for (size_t k = 0; k < r->corr->nrules; k++) {
			long j = siem_ruleset_find(rs, r->corr->refs[k]);
			if (j < 0)
				return SIEM_ERR(err, 400, "reference",
						"%s:%u: correlation '%s' "
						"references unknown rule '%s'",
						r->info.file, r->info.line,
						r->info.title,
						r->corr->refs[k]);
			if ((size_t)j == i)
				return SIEM_ERR(err, 400, "reference",
						"%s:%u: correlation '%s' "
						"references itself",
						r->info.file, r->info.line,
						r->info.title);
			r->corr->rules[k] = (uint32_t)j;
			rs->rules[j]->referenced = true;
			if (!r->corr->generate)
				rs->rules[j]->info.generate = false;
		}
	}
	/* chains: every path from a correlation through correlations it
	 * references is at most SIEM_CORR_CHAIN_MAX long, which also
	 * refuses cycles (a cycle is an endless path) */
	for (size_t i = 0; i < rs->n; i++) {
		if (!rs->rules[i]->corr)
			continue;
		/* iterative DFS with an explicit stack of (rule, depth) */
		uint32_t stack[SIEM_CORR_CHAIN_MAX * SIEM_CORR_RULES_MAX + 1];
		uint8_t dep[SIEM_CORR_CHAIN_MAX * SIEM_CORR_RULES_MAX + 1];
		size_t sp = 0;
		stack[sp] = (uint32_t)i;
		dep[sp++] = 0;
		while (sp) {
			sp--;
			uint32_t ri = stack[sp];
			uint8_t d = dep[sp];
			const struct corr_def *c = rs->rules[ri]->corr;
			if (!c)
				continue;
			if (d >= SIEM_CORR_CHAIN_MAX)
				return SIEM_ERR(err, 400, "reference",
						"%s:%u: correlation '%s' chains "
						"deeper than %u (or is a cycle)",
						rs->rules[i]->info.file,
						rs->rules[i]->info.line,
						rs->rules[i]->info.title,
						SIEM_CORR_CHAIN_MAX);
			for (size_t k = 0; k < c->nrules; k++) {
				if (!rs->rules[c->rules[k]]->corr)
					continue;
				if (sp >= BW_ARRAY_LEN(stack))
					return SIEM_ERR(err, 400, "reference",
							"correlation chain too "
							"wide");
				stack[sp] = c->rules[k];
				dep[sp++] = (uint8_t)(d + 1);
			}
		}
	}
	return 0;
}

int siem_ruleset_compile(struct siem_ruleset *rs, struct bw_err *err)
{
	if (rs->compiled)
		return 0;
	if (resolve_refs(rs, err) < 0)
		return -1;
	rs->detections = calloc(rs->n ? rs->n : 1, sizeof(*rs->detections));
	rs->correlations = calloc(rs->n ? rs->n : 1, sizeof(*rs->correlations));
	if (!rs->detections || !rs->correlations)
		return SIEM_ERR(err, 500, "memory", "out of memory");
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->rules[i]->corr)
			rs->correlations[rs->ncorrelations++] = (uint32_t)i;
		else
			rs->detections[rs->ndetections++] = (uint32_t)i;
	}
	if (siem_index_build(rs, err) < 0)
		return -1;
	rs->compiled = true;
	return 0;
}
