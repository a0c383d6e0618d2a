/*
 * siem_alert.c — turning detections into alert rows: suppression windows
 * (configured per rule, optionally per group: after an alert, the same
 * rule stays silent for the window, counted), then deduplication and
 * grouping (the same rule and group within alerts.dedup of the previous
 * alert bumps that alert's count instead of raising a new one).
 *
 * State lives on the pipeline thread only (no locks): two bounded hash
 * tables keyed by "rule|group". When a table is full, entries past their
 * window are purged; if that is not enough the table is cleared, which
 * at worst raises one extra alert per group — never drops one.
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>
#include <stdlib.h>

#define ALERT_TABLE_SIZE 65536u /* power of two */

struct akey {
	char *key; /* malloc'd; NULL = empty slot */
	int64_t alert_id;
	int64_t until_or_last; /* suppression: until; dedup: last alert time */
	/* dedup: the batch and row that last wrote this alert, so further
	 * folds in the same batch add to that row instead of one UPDATE each
	 * (checked against the row's id before use: batches are reused) */
	const struct siem_batch *batch;
	size_t row;
};

struct siem_alert_state {
	struct akey *dedup, *supp;
	size_t ndedup, nsupp;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct akey *tab_find(struct akey *t, const char *k)
{
	size_t i = hash_str(k) & (ALERT_TABLE_SIZE - 1);
	for (;;) {
		if (!t[i].key || strcmp(t[i].key, k) == 0)
			return &t[i];
		i = (i + 1) & (ALERT_TABLE_SIZE - 1);
	}
}

/* Removes entries older than limit (rebuilding the table), or all. */
static void tab_purge(struct akey *t, size_t *n, int64_t older_than)
{
	struct akey *keep = calloc(ALERT_TABLE_SIZE, sizeof(*keep));
	size_t kept = 0;
	for (size_t i = 0; i < ALERT_TABLE_SIZE; i++) {
		if (!t[i].key)
			continue;
		if (keep && t[i].until_or_last >= older_than && kept < ALERT_TABLE_SIZE / 2) {
			*tab_find(keep, t[i].key) = t[i];
			kept++;
		} else {
			free(t[i].key);
		}
	}
	if (keep)
		memcpy(t, keep, ALERT_TABLE_SIZE * sizeof(*t));
	else
		memset(t, 0, ALERT_TABLE_SIZE * sizeof(*t));
	free(keep);
	*n = keep ? kept : 0;
}

static struct siem_alert_state *state(struct siem_service *svc)
{
	struct siem_alert_state **sp = (struct siem_alert_state **)&svc->alert_state;
	if (!*sp) {
		struct siem_alert_state *s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->dedup = calloc(ALERT_TABLE_SIZE, sizeof(*s->dedup));
		s->supp = calloc(ALERT_TABLE_SIZE, sizeof(*s->supp));
		if (!s->dedup || !s->supp) {
			free(s->dedup);
			free(s->supp);
			free(s);
			return NULL;
		}
		*sp = s;
	}
	return *sp;
}

void siem_alert_state_free(struct siem_service *svc)
{
	struct siem_alert_state *s = svc->alert_state;
	if (!s)
		return;
	for (size_t i = 0; i < ALERT_TABLE_SIZE; i++) {
		free(s->dedup[i].key);
		free(s->supp[i].key);
	}
	free(s->dedup);
	free(s->supp);
	free(s);
	svc->alert_state = NULL;
}

static const struct siem_suppress_conf *suppression_for(const struct siem_gen *g,
							 const struct siem_alert_in *in)
{
	const struct siem_suppress_conf *sc = g->conf.alerts.suppress.v;
	for (size_t i = 0; i < g->conf.alerts.suppress.n; i++) {
		if (strcmp(sc[i].rule, in->rule_key) != 0 &&
		    strcmp(sc[i].rule, in->title) != 0 &&
		    (!in->name || strcmp(sc[i].rule, in->name) != 0))
			continue;
		if (sc[i].group && strcmp(sc[i].group, in->group ? in->group : "") != 0)
			continue;
		return &sc[i];
	}
	return NULL;
}

static int add_row(struct siem_batch *b, const struct siem_alert_row *row)
{
	if (b->nalerts == b->alerts_cap) {
		size_t cap = b->alerts_cap ? b->alerts_cap * 2 : 4;
		struct siem_alert_row *a = realloc(b->alerts, cap * sizeof(*a));
		if (!a)
			return -1;
		b->alerts = a;
		b->alerts_cap = cap;
	}
	b->alerts[b->nalerts++] = *row;
	return 0;
}

int siem_alert_raise(struct siem_service *svc, struct siem_batch *b,
		     const struct siem_alert_in *in)
{
	struct siem_alert_state *s = state(svc);
	if (!s)
		return -1;
	struct siem_gen *g = b->gen;
	const char *group = in->group ? in->group : "";
	char key[1024];
	if (bw_snprintf(key, sizeof(key), "%s|%s|%s", in->kind, in->rule_key, group) < 0)
		key[sizeof(key) - 1] = '\0'; /* a cut key only merges more */
	int64_t t = in->ts;
	/* suppression */
	const struct siem_suppress_conf *sc = suppression_for(g, in);
	struct akey *sk = NULL;
	if (sc) {
		sk = tab_find(s->supp, key);
		if (sk->key && t < sk->until_or_last) {
			atomic_fetch_add(&svc->c.alerts_suppressed, 1);
			return 0;
		}
	}
	/* deduplication */
	int64_t window = (int64_t)g->conf.alerts.dedup_ms * 1000000LL;
	struct akey *dk = tab_find(s->dedup, key);
	if (window > 0 && dk->key && t - dk->until_or_last <= window &&
	    t >= dk->until_or_last - window) {
		dk->until_or_last = t > dk->until_or_last ? t : dk->until_or_last;
		atomic_fetch_add(&svc->c.alerts_deduped, 1);
		if (dk->batch == b && dk->row < b->nalerts &&
		    b->alerts[dk->row].id == dk->alert_id) {
			struct siem_alert_row *r = &b->alerts[dk->row];
			r->count++;
			if (t > r->last_ts)
				r->last_ts = t;
			return 0;
		}
		struct siem_alert_row row = { .id = dk->alert_id, .update = true, .count = 1,
					      .last_ts = t };
		dk->batch = b;
		dk->row = b->nalerts;
		return add_row(b, &row) < 0 ? -1 : 0;
	}
	struct siem_alert_row row = {
		.id = svc->next_id++,
		.ts = t,
		.first_ts = in->first_ts ? in->first_ts : t,
		.last_ts = t,
		.rule_id = bw_arena_strdup(b->arena, in->rule_key),
		.rule_title = bw_arena_strdup(b->arena, in->title ? in->title : in->rule_key),
		.kind = in->kind,
		.level = siem_level_name(in->level),
		.severity = (int)in->level,
		.tenant = in->tenant ? bw_arena_strdup(b->arena, in->tenant) : NULL,
		.group_key = bw_arena_strdup(b->arena, group),
		.dedup_key = bw_arena_strdup(b->arena, key),
		.count = 1,
		.event_id = in->event_id,
		.context = bw_arena_strdup(b->arena, in->context ? in->context : "{}"),
	};
	if (!row.rule_id || !row.rule_title || !row.group_key || !row.dedup_key ||
	    !row.context || add_row(b, &row) < 0)
		return -1;
	atomic_fetch_add(&svc->c.alerts, 1);
	if (window > 0) {
		if (s->ndedup > ALERT_TABLE_SIZE * 7 / 10) {
			tab_purge(s->dedup, &s->ndedup, t - window);
			dk = tab_find(s->dedup, key);
		}
		if (!dk->key) {
			if (!(dk->key = strdup(key)))
				return 1;
			s->ndedup++;
		}
		dk->alert_id = row.id;
		dk->until_or_last = t;
		dk->batch = b;
		dk->row = b->nalerts - 1;
	}
	if (sc) {
		if (s->nsupp > ALERT_TABLE_SIZE * 7 / 10) {
			tab_purge(s->supp, &s->nsupp, t);
			sk = tab_find(s->supp, key);
		}
		if (!sk->key) {
			if (!(sk->key = strdup(key)))
				return 1;
			s->nsupp++;
		}
		sk->until_or_last = t + (int64_t)sc->for_ms * 1000000LL;
	}
	return 1;
}
