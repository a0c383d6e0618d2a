/*
 * siem_anomaly.c — per-entity baselines and the alerts they explain.
 *
 * Entities are users (user.name), source addresses (source.ip) and hosts
 * (host.name). For each, events are counted per bucket (anomaly.bucket,
 * 1 h) of event time. When a bucket closes its count is scored against
 * the entity's history before the history learns it:
 *
 *   expected = the EWMA mean of the same hour-of-week slot when that slot
 *              has been seen at least twice (seasonality: Monday 9:00 is
 *              compared with earlier Mondays 9:00), else the overall EWMA
 *              mean; spread = the overall EWMA standard deviation;
 *   z = (count - expected) / (spread + 1)   (the +1 keeps a perfectly
 *              flat history from turning one extra event into z = ∞)
 *
 * After min_buckets of history, z >= threshold with count >= min_count
 * is a spike, z <= -threshold with expected >= min_count a drop (an
 * entity that went quiet: closed by the pipeline's timer, so silence is
 * seen without an event). Buckets without events in between are learned
 * as zeros. The EWMA weight is 1/24 per bucket (a day of hourly buckets).
 *
 * First-seen: for each user, the values of anomaly.first_seen fields
 * (default: source.geo.country_iso_code, user_agent.original, host.name)
 * are remembered (at most 64 per field); a value never seen for a user
 * who has min_buckets of history raises an alert naming it.
 *
 * State is per pipeline thread, in bounded tables (SIEM_ANOMALY_*); a
 * full table stops learning new entities (counted), it never grows. It is
 * not persisted: after a restart baselines learn again.
 */
#include "siem/siem_svc_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define ENT_MAX 16384u /* power of two */
#define FS_VALUES 64u
#define FS_FIELDS 4u
#define ALPHA (1.0 / 24.0)
#define SLOTS 168

enum ent_kind { ENT_USER, ENT_IP, ENT_HOST };
static const char *const kind_name[] = { "user.name", "source.ip", "host.name" };

struct entity {
	char key[128];
	uint8_t kind;
	uint8_t klen;
	bool used;
	int64_t bucket; /* current bucket number */
	uint32_t count;	/* events in it */
	uint32_t history;
	double mean, var;
	float slot_mean[SLOTS];
	uint8_t slot_n[SLOTS];
	int64_t first_bucket;
	/* users: first-seen values per field */
	uint64_t fs[FS_FIELDS][FS_VALUES];
	uint8_t nfs[FS_FIELDS];
};

struct siem_anomaly {
	struct entity *e; /* ENT_MAX */
	/* per slot of e: 0 unused, else the key hash's high half | 1. An
	 * entity is about 3 KiB, so probing entities themselves took a cache
	 * miss per probe; the tags (64 KiB) stay in cache, and a full table
	 * (every new address once 3/4 are taken) is refused without reading
	 * one entity */
	uint32_t *tag;
	size_t n;
	int64_t closed_upto; /* timer: buckets before this are closed */
	/* first-seen fields resolved once: name (borrowed from the
	 * generation's config or the defaults), its length and ECS slot
	 * (-1: a label) */
	const char *fs_name[FS_FIELDS];
	size_t fs_len[FS_FIELDS];
	int fs_slot[FS_FIELDS];
	uint64_t fs_gen; /* generation they were resolved for */
};

static uint64_t h64(const char *p, size_t n, uint64_t seed)
{
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct entity *find(struct siem_anomaly *a, int kind, struct bw_str k, bool create)
{
	if (k.len == 0 || k.len >= sizeof(a->e[0].key))
		return NULL;
	uint64_t h = h64(k.p, k.len, (uint64_t)kind);
	uint32_t tag = (uint32_t)(h >> 32) | 1u;
	size_t i = h & (ENT_MAX - 1);
	for (size_t probe = 0; probe < 32; probe++, i = (i + 1) & (ENT_MAX - 1)) {
		if (!a->tag[i]) {
			if (!create || a->n >= ENT_MAX * 3 / 4)
				return NULL;
			struct entity *e = &a->e[i];
			memset(e, 0, sizeof(*e));
			memcpy(e->key, k.p, k.len);
			e->klen = (uint8_t)k.len;
			e->kind = (uint8_t)kind;
			e->used = true;
			e->bucket = INT64_MIN;
			a->tag[i] = tag;
			a->n++;
			return e;
		}
		if (a->tag[i] != tag)
			continue;
		struct entity *e = &a->e[i];
		if (e->kind == kind && e->klen == k.len && memcmp(e->key, k.p, k.len) == 0)
			return e;
	}
	return NULL;
}

/* Hour-of-week slot of a bucket (weeks start Thursday 1970-01-01; any
 * fixed origin works for seasonality). */
static int slot_of(int64_t bucket, int64_t bucket_ns)
{
	int64_t t = bucket * bucket_ns;
	int64_t how = (t / 3600000000000LL) % SLOTS;
	return (int)(how < 0 ? how + SLOTS : how);
}

static void raise_anomaly(struct siem_service *svc, struct siem_batch *b,
			  const struct entity *e, const char *what, int64_t ts,
			  const char *ctx, enum siem_level level)
{
	char key[64], title[160];
	snprintf(key, sizeof(key), "anomaly:%s:%s", what, kind_name[e->kind]);
	snprintf(title, sizeof(title), "Anomaly: %s for %s", what, kind_name[e->kind]);
	struct siem_alert_in ai = { .rule_key = key, .title = title, .kind = "anomaly",
				    .level = level, .group = e->key, .ts = ts, .first_ts = ts,
				    .count = 1, .context = ctx };
	atomic_fetch_add(&svc->c.anomalies, 1);
	(void)siem_alert_raise(svc, b, &ai);
}

/* Scores the closing bucket, then learns it (and empty buckets up to
 * `upto`, exclusive). */
static void close_bucket(struct siem_service *svc, struct siem_batch *b, struct entity *e,
			 int64_t upto, const struct siem_anomaly_sec *c)
{
	int64_t bns = (int64_t)c->bucket_ms * 1000000LL;
	for (int steps = 0; e->bucket < upto && steps < 2 * SLOTS; steps++) {
		double x = e->count;
		int s = slot_of(e->bucket, bns);
		bool seasonal = e->slot_n[s] >= 2;
		double expected = seasonal ? e->slot_mean[s] : e->mean;
		double sd = sqrt(e->var > 0 ? e->var : 0);
		double z = (x - expected) / (sd + 1.0);
		if (e->history >= c->min_buckets) {
			const char *what = NULL;
			if (z >= c->threshold && x >= c->min_count)
				what = "spike";
			else if (z <= -(double)c->threshold && expected >= c->min_count)
				what = "drop";
			if (what) {
				char ctx[768], t[32];
				bw_time_format(e->bucket * bns, t);
				snprintf(ctx, sizeof(ctx),
					 "{\"explanation\":\"%u events in the bucket starting %s;"
					 " expected %.1f (%s) with spread %.1f, z = %.1f %s %s%u\","
					 "\"entity\":\"%s\",\"count\":%u,\"expected\":%.2f,"
					 "\"stddev\":%.2f,\"z\":%.2f,\"threshold\":%u,"
					 "\"history_buckets\":%u,\"seasonal\":%s,\"bucket_start\":\"%s\"}",
					 e->count, t, expected,
					 seasonal ? "this hour of the week" : "overall average", sd, z,
					 z >= 0 ? ">=" : "<=", z >= 0 ? "" : "-", c->threshold,
					 kind_name[e->kind], e->count, expected, sd, z, c->threshold,
					 e->history, seasonal ? "true" : "false", t);
				/* the key is the entity value: make it JSON-safe */
				for (char *p = ctx; *p; p++)
					if ((unsigned char)*p < 0x20)
						*p = ' ';
				raise_anomaly(svc, b, e, what, (e->bucket + 1) * bns - 1, ctx,
					      SIEM_LEVEL_MEDIUM);
			}
		}
		/* learn (the first bucket seeds the mean, so the baseline does
		 * not spend days climbing from zero) */
		double d = x - e->mean;
		if (e->history == 0) {
			e->mean = x;
			e->var = 0;
		} else {
			e->mean += ALPHA * d;
			e->var = (1 - ALPHA) * (e->var + ALPHA * d * d);
		}
		e->slot_mean[s] = e->slot_n[s] ? (float)(e->slot_mean[s] + 0.5 * (x - e->slot_mean[s])) :
						 (float)x;
		if (e->slot_n[s] < 255)
			e->slot_n[s]++;
		e->history++;
		e->count = 0;
		e->bucket++;
	}
	if (e->bucket < upto)
		e->bucket = upto; /* a long silence: history keeps what it learned */
}

static struct siem_anomaly *state(struct siem_service *svc)
{
	struct siem_anomaly **sp = (struct siem_anomaly **)&svc->anomaly;
	if (!*sp) {
		struct siem_anomaly *a = calloc(1, sizeof(*a));
		if (!a || !(a->e = calloc(ENT_MAX, sizeof(*a->e))) ||
		    !(a->tag = calloc(ENT_MAX, sizeof(*a->tag)))) {
			if (a)
				free(a->e);
			free(a);
			return NULL;
		}
		*sp = a;
	}
	return *sp;
}

void siem_anomaly_free(struct siem_service *svc)
{
	struct siem_anomaly *a = svc->anomaly;
	if (!a)
		return;
	free(a->e);
	free(a->tag);
	free(a);
	svc->anomaly = NULL;
}

static void first_seen(struct siem_service *svc, struct siem_batch *b, struct entity *u,
		       const struct siem_event *ev, const struct siem_anomaly_sec *c)
{
	static const char *const defaults[] = { "source.geo.country_iso_code",
						"user_agent.original", "host.name" };
	size_t nf = c->first_seen.n ? c->first_seen.n : BW_ARRAY_LEN(defaults);
	for (size_t f = 0; f < nf && f < FS_FIELDS; f++) {
		const char *name = c->first_seen.n ? c->first_seen.v[f] : defaults[f];
		struct siem_anomaly *an = svc->anomaly;
		if (an->fs_gen != b->gen->id) { /* config memory may be new */
			memset(an->fs_name, 0, sizeof(an->fs_name));
			an->fs_gen = b->gen->id;
		}
		if (an->fs_name[f] != name) {
			an->fs_name[f] = name;
			an->fs_len[f] = strlen(name);
			an->fs_slot[f] = siem_field_by_name(name, an->fs_len[f]);
		}
		int slot = an->fs_slot[f];
		struct bw_str v = slot >= 0 ? siem_event_get(ev, (enum siem_field)slot) :
					      siem_event_label_get(ev, name, an->fs_len[f]);
		if (!v.p || v.len == 0)
			continue;
		uint64_t h = h64(v.p, v.len, f + 1);
		bool seen = false;
		for (unsigned i = 0; i < u->nfs[f] && !seen; i++)
			seen = u->fs[f][i] == h;
		if (seen)
			continue;
		bool learning = u->history < c->min_buckets;
		if (u->nfs[f] < FS_VALUES)
			u->fs[f][u->nfs[f]++] = h;
		if (learning || u->nfs[f] >= FS_VALUES)
			continue; /* still learning, or too varied to be telling */
		char ctx[1024], val[256];
		size_t vl = v.len < sizeof(val) - 1 ? v.len : sizeof(val) - 1;
		for (size_t i = 0; i < vl; i++)
			val[i] = (v.p[i] == '"' || v.p[i] == '\\' || (unsigned char)v.p[i] < 0x20) ?
					 '_' :
					 v.p[i];
		val[vl] = '\0';
		snprintf(ctx, sizeof(ctx),
			 "{\"explanation\":\"%s '%s' never seen for this user in %u buckets of"
			 " history (%u other values known)\",\"field\":\"%s\",\"value\":\"%s\","
			 "\"known_values\":%u,\"history_buckets\":%u}",
			 name, val, u->history, (unsigned)u->nfs[f] - 1, name, val,
			 (unsigned)u->nfs[f] - 1, u->history);
		for (char *p = ctx; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		char what[96];
		snprintf(what, sizeof(what), "first seen %s", name);
		raise_anomaly(svc, b, u, what, ev->ts_ns, ctx, SIEM_LEVEL_LOW);
	}
}

void siem_anomaly_event(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r)
{
	const struct siem_anomaly_sec *c = &b->gen->conf.anomaly;
	if (!c->enabled)
		return;
	struct siem_anomaly *a = state(svc);
	if (!a)
		return;
	const struct siem_event *ev = &r->ev;
	int64_t bns = (int64_t)c->bucket_ms * 1000000LL;
	int64_t bucket = ev->ts_ns / bns;
	static const enum siem_field kf[] = { SIEM_F_USER_NAME, SIEM_F_SOURCE_IP,
					      SIEM_F_HOST_NAME };
	for (int k = 0; k < 3; k++) {
		struct bw_str v = ev->f[kf[k]];
		struct entity *e = v.p ? find(a, k, v, true) : NULL;
		if (!e)
			continue;
		if (e->bucket == INT64_MIN) {
			e->bucket = bucket;
			e->first_bucket = bucket;
		}
		if (bucket > e->bucket)
			close_bucket(svc, b, e, bucket, c);
		if (bucket == e->bucket)
			e->count++;
		/* events late for a closed bucket are not counted again */
		if (k == ENT_USER)
			first_seen(svc, b, e, ev, c);
	}
}

/* Timer (pipeline thread, with the alerts going into batch b): closes
 * every entity's buckets that ended before now, so silence is scored. */
void siem_anomaly_advance(struct siem_service *svc, struct siem_batch *b, int64_t now_ns)
{
	const struct siem_anomaly_sec *c = &b->gen->conf.anomaly;
	struct siem_anomaly *a = svc->anomaly;
	if (!a || !c->enabled)
		return;
	int64_t bns = (int64_t)c->bucket_ms * 1000000LL;
	int64_t cur = now_ns / bns;
	/* once per bucket boundary (a clock set back by tests re-arms it) */
	if (cur == a->closed_upto)
		return;
	a->closed_upto = cur;
	for (size_t i = 0; i < ENT_MAX; i++) {
		if (!a->tag[i])
			continue;
		struct entity *e = &a->e[i];
		if (e->used && e->bucket != INT64_MIN && e->bucket < cur)
			close_bucket(svc, b, e, cur, c);
	}
}
