/*
 * Upstream pools: choosing a server (round-robin or least-connections)
 * and keeping its health — passive (consecutive failures open a circuit
 * for open_for; then one half-open probe request decides) and active
 * (probe results stored by gateway_health.c in `healthy`).
 *
 * All state here is shared by every worker thread and kept in atomics: a
 * server's consecutive failure count, the time its circuit reopens, the
 * half-open probe flag, its in-flight request count and its health bit.
 * Races are benign by design: two threads may both see a circuit reopen
 * and race for the probe flag, and exactly one wins it.
 */
#include "gateway/gateway_int.h"

/* Whether s may take a request now: healthy, and its circuit closed, or
 * half-open with the probe slot won by this caller (*probe). */
static bool usable(struct gw_server *s, int64_t now_ms, bool *probe, bool claim)
{
	*probe = false;
	if (!atomic_load_explicit(&s->healthy, memory_order_relaxed))
		return false;
	int64_t until = atomic_load_explicit(&s->open_until_ms, memory_order_acquire);
	if (until == 0)
		return true;
	if (now_ms < until)
		return false;
	if (!claim)
		return true;
	int expected = 0;
	if (!atomic_compare_exchange_strong(&s->probing, &expected, 1))
		return false;
	*probe = true;
	return true;
}

struct gw_server *gw_upstream_pick(struct gw_upstream *u, uint64_t tried,
				   int64_t now_ms, bool *probe)
{
	size_t n = u->nservers;
	*probe = false;
	if (u->balance == GATEWAY_BALANCE_LEAST_CONN) {
		/* fewest in flight; ties go to the round-robin cursor so equal
		 * servers still share the load */
		uint64_t start = atomic_fetch_add_explicit(&u->rr, 1, memory_order_relaxed);
		struct gw_server *best = NULL;
		unsigned best_n = 0;
		for (size_t k = 0; k < n; k++) {
			struct gw_server *s = &u->servers[(start + k) % n];
			bool p;
			if ((tried >> s->index) & 1 || !usable(s, now_ms, &p, false))
				continue;
			unsigned f = atomic_load_explicit(&s->inflight, memory_order_relaxed);
			if (!best || f < best_n) {
				best = s;
				best_n = f;
			}
		}
		if (best && usable(best, now_ms, probe, true))
			return best;
		if (!best)
			return NULL;
		/* lost the probe race for the best one: fall back to any */
	}
	uint64_t start = atomic_fetch_add_explicit(&u->rr, 1, memory_order_relaxed);
	for (size_t k = 0; k < n; k++) {
		struct gw_server *s = &u->servers[(start + k) % n];
		if ((tried >> s->index) & 1)
			continue;
		if (usable(s, now_ms, probe, true))
			return s;
	}
	return NULL;
}

void gw_server_success(struct gw_server *s, bool probe)
{
	atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
	if (atomic_load_explicit(&s->open_until_ms, memory_order_relaxed) != 0)
		atomic_store_explicit(&s->open_until_ms, 0, memory_order_release);
	if (probe)
		atomic_store(&s->probing, 0);
}

bool gw_server_failure(struct gw_upstream *u, struct gw_server *s, bool probe,
		       int64_t now_ms)
{
	unsigned f = atomic_fetch_add_explicit(&s->fails, 1, memory_order_relaxed) + 1;
	bool opened = false;
	if (probe || f >= u->max_fails) {
		int64_t until = now_ms + (int64_t)u->open_for_ms;
		int64_t old = atomic_exchange_explicit(&s->open_until_ms, until,
						       memory_order_acq_rel);
		/* a failed probe re-opens; count only closed -> open */
		opened = old == 0;
	}
	if (probe)
		atomic_store(&s->probing, 0);
	return opened;
}
