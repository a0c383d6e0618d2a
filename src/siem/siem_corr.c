/*
 * Sigma correlation rules (event_count, value_count, temporal,
 * temporal_ordered) as a windowed state machine over event time.
 *
 * State is one struct group per (correlation, group-by values). Time is
 * the event's @timestamp (bw_clock nanoseconds), never the wall clock, so
 * replaying a log or driving a test with bw_clock_set gives the same
 * alerts. Two window disciplines:
 *  - sliding (conditions gt/gte/eq, and temporal): on each event, count
 *    what happened in [t - timespan, t] and fire as soon as the condition
 *    holds; the group is then reset, so one burst gives one alert per
 *    threshold crossing. Only the last N+1 times (N the threshold) are
 *    kept, which is all a "count >= N" test needs.
 *  - fixed (any lt/lte: "fewer than N"): a window opens at the first event
 *    and is decided when it closes, at first + timespan — by a later event
 *    of the group or by siem_corr_advance(), whichever comes first.
 * Limits: live groups are capped (least recently updated evicted and
 * counted), group keys are cut at SIEM_CORR_KEY_MAX, per-group memory at
 * the threshold (SIEM_CORR_THRESHOLD_MAX).
 */
#include "siem/siem_int.h"

#include <stdlib.h>

struct vent {
	uint64_t h;
	int64_t t;
};

struct group {
	struct group *hnext;	   /* hash chain */
	struct group *prev, *next; /* LRU list, most recent at head */
	uint64_t hash;
	uint32_t corr; /* index into c->defs */
	uint32_t keylen;
	int64_t first_ns, last_ns;
	uint64_t count; /* fixed windows: events */
	int64_t *ts;	/* event_count sliding: ring of times */
	uint32_t head, n;
	struct vent *vals; /* value_count: distinct values */
	uint32_t nvals;
	int64_t *seen; /* temporal: per rule last time; ordered: chain starts */
	char key[];
};

struct cdef {
	uint32_t rule; /* index in ruleset */
	const struct corr_def *d;
	bool fixed;   /* lt/lte present: decided at window close */
	uint32_t cap; /* ring / distinct-value capacity */
	unsigned depth;
};

struct siem_corr {
	const struct siem_ruleset *rs;
	struct cdef *defs;
	size_t ndefs;
	struct group **buckets;
	size_t nbuckets;
	struct group *lru_head, *lru_tail;
	size_t ngroups, max_groups;
	struct siem_corr_stats st;
	uint32_t *fired; /* rules fired during one feed (for chains) */
	size_t nfired;
};

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static unsigned depth_of(const struct siem_ruleset *rs, uint32_t ri,
			 unsigned lim)
{
	const struct corr_def *d = rs->rules[ri]->corr;
	if (!d || lim == 0)
		return 0;
	unsigned best = 0;
	for (size_t k = 0; k < d->nrules; k++) {
		unsigned x = depth_of(rs, d->rules[k], lim - 1);
		if (rs->rules[d->rules[k]]->corr && x + 1 > best)
			best = x + 1;
	}
	return best;
}

static int cdef_cmp(const void *a, const void *b)
{
	const struct cdef *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

struct siem_corr *siem_corr_new(const struct siem_ruleset *rs,
				size_t max_groups)
{
	struct siem_corr *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->rs = rs;
	if (max_groups == 0)
		max_groups = SIEM_CORR_GROUPS_DEFAULT;
	if (max_groups > SIEM_CORR_GROUPS_HARD)
		max_groups = SIEM_CORR_GROUPS_HARD;
	c->max_groups = max_groups;
	c->nbuckets = 1024;
	while (c->nbuckets < max_groups && c->nbuckets < (1u << 20))
		c->nbuckets *= 2;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	c->defs = calloc(rs->ncorrelations ? rs->ncorrelations : 1,
			 sizeof(*c->defs));
	c->fired = calloc(rs->ncorrelations ? rs->ncorrelations : 1,
			  sizeof(*c->fired));
	if (!c->buckets || !c->defs || !c->fired) {
		siem_corr_free(c);
		return NULL;
	}
	for (size_t i = 0; i < rs->ncorrelations; i++) {
		struct cdef *cd = &c->defs[i];
		cd->rule = rs->correlations[i];
		cd->d = rs->rules[cd->rule]->corr;
		cd->fixed = cd->d->has_lt || cd->d->has_lte;
		uint64_t th = 1;
		if (cd->d->has_gt && cd->d->gt + 1 > th)
			th = cd->d->gt + 1;
		if (cd->d->has_gte && cd->d->gte > th)
			th = cd->d->gte;
		if (cd->d->has_eq && cd->d->eq > th)
			th = cd->d->eq;
		if (cd->d->has_lt && cd->d->lt > th)
			th = cd->d->lt;
		if (cd->d->has_lte && cd->d->lte > th)
			th = cd->d->lte;
		cd->cap = (uint32_t)(th + 1); /* N+1 tells "== N" from "> N" */
		cd->depth = depth_of(rs, cd->rule, SIEM_CORR_CHAIN_MAX + 1);
	}
	c->ndefs = rs->ncorrelations;
	/* referenced correlations are fed before the ones using them */
	qsort(c->defs, c->ndefs, sizeof(*c->defs), cdef_cmp);
	return c;
}

static void group_free(struct group *g)
{
	free(g->ts);
	free(g->vals);
	free(g->seen);
	free(g);
}

void siem_corr_free(struct siem_corr *c)
{
	if (!c)
		return;
	for (struct group *g = c->lru_head; g;) {
		struct group *n = g->next;
		group_free(g);
		g = n;
	}
	free(c->buckets);
	free(c->defs);
	free(c->fired);
	free(c);
}

void siem_corr_stats(const struct siem_corr *c, struct siem_corr_stats *out)
{
	*out = c->st;
	out->groups = c->ngroups;
}

static void lru_unlink(struct siem_corr *c, struct group *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else
		c->lru_head = g->next;
	if (g->next)
		g->next->prev = g->prev;
	else
		c->lru_tail = g->prev;
	g->prev = g->next = NULL;
}

static void lru_front(struct siem_corr *c, struct group *g)
{
	g->next = c->lru_head;
	g->prev = NULL;
	if (c->lru_head)
		c->lru_head->prev = g;
	c->lru_head = g;
	if (!c->lru_tail)
		c->lru_tail = g;
}

static void group_remove(struct siem_corr *c, struct group *g)
{
	struct group **pp = &c->buckets[g->hash & (c->nbuckets - 1)];
	while (*pp && *pp != g)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = g->hnext;
	lru_unlink(c, g);
	c->ngroups--;
	group_free(g);
}

static void group_reset(const struct cdef *cd, struct group *g)
{
	g->n = g->head = 0;
	g->nvals = 0;
	g->count = 0;
	g->first_ns = 0;
	if (g->seen)
		for (size_t k = 0; k < cd->d->nrules; k++)
			g->seen[k] = INT64_MIN;
}

static struct group *group_get(struct siem_corr *c, uint32_t ci,
			       const char *key, size_t kl)
{
	uint64_t h = fnv(key, kl, fnv(&ci, sizeof(ci), 14695981039346656037ULL));
	struct group **b = &c->buckets[h & (c->nbuckets - 1)];
	for (struct group *g = *b; g; g = g->hnext)
		if (g->hash == h && g->corr == ci && g->keylen == kl &&
		    memcmp(g->key, key, kl) == 0) {
			lru_unlink(c, g);
			lru_front(c, g);
			return g;
		}
	if (c->ngroups >= c->max_groups && c->lru_tail) {
		group_remove(c, c->lru_tail);
		c->st.evicted++;
	}
	const struct cdef *cd = &c->defs[ci];
	struct group *g = calloc(1, sizeof(*g) + kl + 1);
	if (!g)
		return NULL;
	g->hash = h;
	g->corr = ci;
	g->keylen = (uint32_t)kl;
	memcpy(g->key, key, kl);
	uint8_t t = cd->d->type;
	if (t == CORR_EVENT_COUNT && !cd->fixed)
		g->ts = calloc(cd->cap, sizeof(*g->ts));
	if (t == CORR_VALUE_COUNT)
		g->vals = calloc(cd->cap, sizeof(*g->vals));
	if (t == CORR_TEMPORAL || t == CORR_TEMPORAL_ORDERED)
		g->seen = calloc(cd->d->nrules, sizeof(*g->seen));
	if ((t == CORR_EVENT_COUNT && !cd->fixed && !g->ts) ||
	    (t == CORR_VALUE_COUNT && !g->vals) ||
	    ((t == CORR_TEMPORAL || t == CORR_TEMPORAL_ORDERED) && !g->seen)) {
		group_free(g);
		return NULL;
	}
	group_reset(cd, g);
	g->hnext = *b;
	*b = g;
	lru_front(c, g);
	c->ngroups++;
	return g;
}

static bool cond_holds(const struct corr_def *d, uint64_t n)
{
	if (d->has_gt && !(n > d->gt))
		return false;
	if (d->has_gte && !(n >= d->gte))
		return false;
	if (d->has_lt && !(n < d->lt))
		return false;
	if (d->has_lte && !(n <= d->lte))
		return false;
	if (d->has_eq && !(n == d->eq))
		return false;
	return true;
}

struct ctx {
	struct siem_corr *c;
	const struct siem_event *ev;
	siem_alert_cb cb;
	void *arg;
	long alerts;
};

static void fire(struct ctx *x, const struct cdef *cd, struct group *g,
		 int64_t t, int64_t first, uint64_t count)
{
	struct siem_alert a = {
		.rule = cd->rule,
		.time_ns = t,
		.first_ns = first,
		.count = count,
		.group = g->key,
		.event = x->ev,
	};
	x->alerts++;
	x->c->st.alerts++;
	/* at most one entry per correlation: the array has ndefs slots */
	bool seen = false;
	for (size_t i = 0; i < x->c->nfired && !seen; i++)
		seen = x->c->fired[i] == cd->rule;
	if (!seen)
		x->c->fired[x->c->nfired++] = cd->rule;
	if (x->cb)
		x->cb(&a, x->arg);
}

/* Fixed window: decide it if it has closed by `now`. */
static void close_fixed(struct ctx *x, const struct cdef *cd, struct group *g,
			int64_t now)
{
	if (!g->first_ns && !g->count)
		return;
	int64_t end = g->first_ns + cd->d->timespan_ns;
	if (now < end)
		return;
	uint64_t n = cd->d->type == CORR_VALUE_COUNT ? g->nvals : g->count;
	if (cond_holds(cd->d, n))
		fire(x, cd, g, end, g->first_ns, n);
	group_reset(cd, g);
}

/* value_count: note value h at t; drop values older than lo. */
static void note_value(const struct cdef *cd, struct group *g, uint64_t h,
		       int64_t t, int64_t lo)
{
	uint32_t w = 0;
	bool found = false;
	for (uint32_t i = 0; i < g->nvals; i++) {
		if (g->vals[i].t < lo)
			continue; /* expired */
		if (g->vals[i].h == h) {
			g->vals[i].t = t > g->vals[i].t ? t : g->vals[i].t;
			found = true;
		}
		g->vals[w++] = g->vals[i];
	}
	g->nvals = w;
	if (found)
		return;
	if (g->nvals == cd->cap) { /* full: forget the stalest value */
		uint32_t o = 0;
		for (uint32_t i = 1; i < g->nvals; i++)
			if (g->vals[i].t < g->vals[o].t)
				o = i;
		g->vals[o] = g->vals[--g->nvals];
	}
	g->vals[g->nvals].h = h;
	g->vals[g->nvals].t = t;
	g->nvals++;
}

static void update(struct ctx *x, const struct cdef *cd, uint32_t ci,
		   size_t k)
{
	const struct corr_def *d = cd->d;
	const struct siem_event *ev = x->ev;
	char key[SIEM_CORR_KEY_MAX];
	size_t kl = 0;
	for (size_t i = 0; i < d->ngb; i++) {
		const struct groupby *gb = &d->gb[i];
		const struct fref *f = &gb->def;
		if (gb->per_rule && gb->per_rule[k].kind != 0xff)
			f = &gb->per_rule[k];
		struct bw_str v = siem_fref_get(ev, f);
		if (i && kl < sizeof(key) - 1)
			key[kl++] = '\x1f';
		size_t take = v.len < sizeof(key) - 1 - kl ? v.len
							   : sizeof(key) - 1 - kl;
		if (take)
			memcpy(key + kl, v.p, take);
		kl += take;
	}
	key[kl] = '\0';
	struct group *g = group_get(x->c, ci, key, kl);
	if (!g) {
		x->alerts = -1;
		return;
	}
	int64_t t = ev->ts_ns, span = d->timespan_ns;
	g->last_ns = t;
	if (cd->fixed) {
		close_fixed(x, cd, g, t);
		if (!g->count && !g->nvals)
			g->first_ns = t;
		g->count++;
		if (d->type == CORR_VALUE_COUNT) {
			struct bw_str v = siem_fref_get(ev, &d->field);
			if (v.p)
				note_value(cd, g, fnv(v.p, v.len, 1469598103934665603ULL),
					   t, INT64_MIN);
		}
		return;
	}
	switch (d->type) {
	case CORR_EVENT_COUNT: {
		g->ts[(g->head + g->n) % cd->cap] = t;
		if (g->n < cd->cap)
			g->n++;
		else
			g->head = (g->head + 1) % cd->cap;
		uint64_t n = 0;
		int64_t first = t;
		for (uint32_t i = 0; i < g->n; i++) {
			int64_t s = g->ts[(g->head + i) % cd->cap];
			if (s >= t - span && s <= t) {
				n++;
				if (s < first)
					first = s;
			}
		}
		if (cond_holds(d, n)) {
			fire(x, cd, g, t, first, n);
			group_reset(cd, g);
		}
		break;
	}
	case CORR_VALUE_COUNT: {
		struct bw_str v = siem_fref_get(ev, &d->field);
		if (!v.p)
			break;
		note_value(cd, g, fnv(v.p, v.len, 1469598103934665603ULL), t,
			   t - span);
		int64_t first = t;
		for (uint32_t i = 0; i < g->nvals; i++)
			if (g->vals[i].t < first)
				first = g->vals[i].t;
		if (cond_holds(d, g->nvals)) {
			fire(x, cd, g, t, first, g->nvals);
			group_reset(cd, g);
		}
		break;
	}
	case CORR_TEMPORAL: {
		g->seen[k] = t;
		uint64_t n = 0;
		int64_t first = t;
		for (size_t i = 0; i < d->nrules; i++)
			if (g->seen[i] != INT64_MIN && g->seen[i] >= t - span) {
				n++;
				if (g->seen[i] < first)
					first = g->seen[i];
			}
		bool ok = (d->has_gt || d->has_gte || d->has_eq)
				  ? cond_holds(d, n)
				  : n == d->nrules;
		if (ok) {
			fire(x, cd, g, t, first, n);
			group_reset(cd, g);
		}
		break;
	}
	case CORR_TEMPORAL_ORDERED: {
		/* seen[i]: start time of the newest chain that has completed
		 * steps 0..i within the timespan */
		if (k == 0) {
			g->seen[0] = t;
		} else if (g->seen[k - 1] != INT64_MIN &&
			   t - g->seen[k - 1] <= span) {
			g->seen[k] = g->seen[k - 1];
		} else {
			break;
		}
		if (k + 1 == d->nrules) {
			fire(x, cd, g, t, g->seen[k], d->nrules);
			group_reset(cd, g);
		}
		break;
	}
	}
}

static bool has_rule(const uint32_t *v, size_t n, uint32_t r)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == r)
			return true;
	return false;
}

long siem_corr_feed(struct siem_corr *c, const struct siem_event *ev,
		    const uint32_t *matched, size_t n, siem_alert_cb cb,
		    void *arg)
{
	struct ctx x = { .c = c, .ev = ev, .cb = cb, .arg = arg };
	c->nfired = 0;
	for (uint32_t ci = 0; ci < c->ndefs && x.alerts >= 0; ci++) {
		const struct cdef *cd = &c->defs[ci];
		const struct corr_def *d = cd->d;
		/* ordered chains take later steps first, so one event never
		 * completes two steps of the same chain */
		for (size_t j = 0; j < d->nrules; j++) {
			size_t k = d->type == CORR_TEMPORAL_ORDERED
					   ? d->nrules - 1 - j
					   : j;
			uint32_t r = d->rules[k];
			if (has_rule(matched, n, r) ||
			    has_rule(c->fired, c->nfired, r))
				update(&x, cd, ci, k);
			if (x.alerts < 0)
				break;
		}
	}
	return x.alerts;
}

long siem_corr_advance(struct siem_corr *c, int64_t now_ns, siem_alert_cb cb,
		       void *arg)
{
	struct ctx x = { .c = c, .ev = NULL, .cb = cb, .arg = arg };
	c->nfired = 0;
	for (struct group *g = c->lru_head; g;) {
		struct group *next = g->next;
		const struct cdef *cd = &c->defs[g->corr];
		if (cd->fixed)
			close_fixed(&x, cd, g, now_ns);
		/* idle longer than its window: nothing left to remember */
		if (g->last_ns + cd->d->timespan_ns < now_ns &&
		    (!cd->fixed || (!g->count && !g->nvals)))
			group_remove(c, g);
		g = next;
	}
	return x.alerts;
}
