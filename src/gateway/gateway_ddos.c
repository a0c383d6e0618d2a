/*
 * L7 DDoS protection: request-rate anomaly detection per client IP and per
 * route, temporary blocks, and the per-IP connection counter net can call.
 *
 * Model: time is cut into windows (ddos.window). Each IP and each route
 * counts requests in the current window and keeps an exponentially
 * weighted moving average (EWMA) of past windows as its baseline. A count
 * above max(floor, factor x baseline) is an anomaly:
 *  - an IP anomaly blocks that IP for block_for (429 + Retry-After);
 *  - a route anomaly puts the route "under attack" for block_for, during
 *    which the per-IP floor on that route drops to ip_min / factor, so the
 *    heaviest sources of the flood are blocked first.
 * The check runs as each request arrives, so a flood is cut within the
 * window it starts in. Windows that ended in a block do not feed the
 * baseline, so an attack does not teach the detector that it is normal.
 *
 * Storage mirrors the rate limiter: sharded mutexes over fixed open-
 * addressing tables. Entries holding open connections or an active block
 * are never evicted; when a probe window holds only such entries the new
 * IP is neither counted nor limited (fail open, counted in the logs), which
 * bounds memory under a spread-out flood. Route state lives in the route.
 */
#include "gateway/gateway_int.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 16
#define SHARDS 64
#define ALPHA 0.2 /* weight of the newest window in the baseline */

struct dd_entry {
	uint8_t used;
	uint8_t ip[16];
	int64_t win_start;
	uint64_t count;
	double ewma;
	int64_t blocked_until;
	uint32_t conns;
	int64_t last_seen;
};

struct dd_shard {
	pthread_mutex_t mu;
	struct dd_entry *v;
	size_t cap;
} __attribute__((aligned(64)));

struct gw_ddos {
	struct gw_ddos_conf c;
	uint64_t seed;
	struct dd_shard shards[SHARDS];
};

struct gw_ddos *gw_ddos_new(const struct gw_ddos_conf *c, size_t entries)
{
	struct gw_ddos *d = aligned_alloc(64, sizeof(*d));
	if (!d)
		return NULL;
	memset(d, 0, sizeof(*d));
	d->c = *c;
	bw_random(&d->seed, sizeof(d->seed));
	size_t per = entries / SHARDS < PROBE ? PROBE : entries / SHARDS;
	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&d->shards[i].mu, NULL);
		d->shards[i].cap = per;
		/* One zero-page block for all shards (see gw_rl_new): idle
		 * tables cost no resident memory. */
		if (i == 0)
			d->shards[0].v = calloc(per * SHARDS, sizeof(struct dd_entry));
		else if (d->shards[0].v)
			d->shards[i].v = d->shards[0].v + i * per;
		if (!d->shards[i].v) {
			gw_ddos_free(d);
			return NULL;
		}
	}
	return d;
}

void gw_ddos_free(struct gw_ddos *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < SHARDS; i++) {
		if (i == 0)
			free(d->shards[0].v); /* the block all shards point into */
		pthread_mutex_destroy(&d->shards[i].mu);
	}
	free(d);
}

static uint64_t ip_hash(uint64_t seed, const struct gw_ip *ip)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (int i = 0; i < 16; i++) {
		h ^= ip->a[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 31;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return h;
}

static bool pinned(const struct dd_entry *e, int64_t now)
{
	return e->conns > 0 || e->blocked_until > now;
}

/* Find ip's entry in its shard (locked by the caller), creating it when
 * create is set. NULL when absent, or when every slot is pinned. */
static struct dd_entry *find(struct gw_ddos *d, struct dd_shard *s, uint64_t h,
			     const struct gw_ip *ip, int64_t now, bool create)
{
	size_t home = (size_t)((h / SHARDS) % s->cap);
	struct dd_entry *victim = NULL;
	for (size_t i = 0; i < PROBE; i++) {
		struct dd_entry *e = &s->v[(home + i) % s->cap];
		if (e->used && memcmp(e->ip, ip->a, 16) == 0)
			return e;
		if (!e->used) {
			if (!victim || victim->used)
				victim = e;
			continue;
		}
		if (!pinned(e, now) &&
		    (!victim || (victim->used && e->last_seen < victim->last_seen)))
			victim = e;
	}
	if (!create || !victim)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->used = 1;
	memcpy(victim->ip, ip->a, 16);
	victim->win_start = now;
	return victim;
}

/* Closes the windows that ended before now, feeding the baseline. */
static void roll(int64_t *win_start, uint64_t *count, double *ewma,
		 int64_t window, int64_t now, bool learn)
{
	if (now - *win_start < window)
		return;
	int64_t k = (now - *win_start) / window;
	if (learn)
		*ewma = (1 - ALPHA) * *ewma + ALPHA * (double)*count;
	/* windows with no request decay the baseline; after a few dozen it
	 * is zero for any practical rate */
	for (int64_t i = 1; i < k && i < 64; i++)
		*ewma *= 1 - ALPHA;
	if (k >= 64)
		*ewma = 0;
	*win_start += k * window;
	*count = 0;
}

static uint64_t threshold(uint64_t floor, uint64_t factor, double ewma)
{
	double t = (double)factor * ewma;
	return t > (double)floor ? (uint64_t)t : floor;
}

enum gw_ddos_verdict gw_ddos_check(struct gw_ddos *d, struct gw_route *r,
				   const struct gw_ip *ip, int64_t now,
				   int64_t *until, bool *route_attack,
				   bool *route_new_attack)
{
	*route_attack = false;
	*route_new_attack = false;
	if (!d || !d->c.enabled)
		return GW_DDOS_PASS;
	int64_t W = d->c.window_ns;

	if (r) {
		pthread_mutex_lock(&r->anomaly_mu);
		if (r->win_start_ns == 0)
			r->win_start_ns = now;
		roll(&r->win_start_ns, &r->win_count, &r->ewma, W, now,
		     r->attack_until_ns <= now);
		r->win_count++;
		if (r->attack_until_ns <= now &&
		    r->win_count > threshold(d->c.route_min, d->c.factor, r->ewma)) {
			r->attack_until_ns = now + d->c.block_ns;
			*route_new_attack = true;
		}
		*route_attack = r->attack_until_ns > now;
		pthread_mutex_unlock(&r->anomaly_mu);
	}

	uint64_t h = ip_hash(d->seed, ip);
	struct dd_shard *s = &d->shards[h % SHARDS];
	enum gw_ddos_verdict v = GW_DDOS_PASS;
	pthread_mutex_lock(&s->mu);
	struct dd_entry *e = find(d, s, h, ip, now, true);
	if (!e)
		goto out;
	e->last_seen = now;
	if (e->blocked_until > now) {
		*until = e->blocked_until;
		v = GW_DDOS_BLOCKED;
		goto out;
	}
	roll(&e->win_start, &e->count, &e->ewma, W, now, true);
	e->count++;
	uint64_t floor = d->c.ip_min;
	if (*route_attack) {
		floor = d->c.ip_min / d->c.factor;
		if (floor == 0)
			floor = 1;
	}
	if (e->count > threshold(floor, d->c.factor, e->ewma)) {
		e->blocked_until = now + d->c.block_ns;
		e->count = 0; /* this window is not learnt */
		e->win_start = now;
		*until = e->blocked_until;
		v = GW_DDOS_NEW_BLOCK;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return v;
}

bool gw_ddos_conn_admit(struct gw_ddos *d, const struct gw_ip *ip)
{
	if (!d || d->c.conns_per_ip == 0)
		return true;
	uint64_t h = ip_hash(d->seed, ip);
	struct dd_shard *s = &d->shards[h % SHARDS];
	int64_t now = bw_clock_now_ns();
	bool ok = true;
	pthread_mutex_lock(&s->mu);
	struct dd_entry *e = find(d, s, h, ip, now, true);
	if (e) {
		e->last_seen = now;
		if (e->conns >= d->c.conns_per_ip)
			ok = false;
		else
			e->conns++;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void gw_ddos_conn_release(struct gw_ddos *d, const struct gw_ip *ip)
{
	if (!d || d->c.conns_per_ip == 0)
		return;
	uint64_t h = ip_hash(d->seed, ip);
	struct dd_shard *s = &d->shards[h % SHARDS];
	pthread_mutex_lock(&s->mu);
	struct dd_entry *e = find(d, s, h, ip, 0, false);
	if (e && e->conns > 0)
		e->conns--;
	pthread_mutex_unlock(&s->mu);
}
