/*
 * Rate limiting: GCRA (the generic cell rate algorithm), which is a token
 * bucket stored as one number per key — the "theoretical arrival time"
 * (TAT) of the next request. A request at time now is allowed when
 *     max(TAT, now) + interval - now <= burst * interval
 * and then TAT becomes max(TAT, now) + interval. A fresh key has TAT <=
 * now, i.e. a full bucket of `burst` requests, refilled at one request per
 * interval.
 *
 * Why one number: a later cluster mode can keep the same state in a
 * shared store with a single compare-and-set per request (PostgreSQL
 * UPDATE ... WHERE tat = old, or an atomic in a shared map), with no
 * separate token count and refill timestamp to keep consistent. See
 * GATEWAY.md "Rate limits".
 *
 * Storage: GW_RL_SHARDS shards, each a mutex over an open-addressing
 * table with a bounded probe window. When every slot of a window is taken
 * the slot whose bucket is fullest (smallest TAT) is reused: that key
 * loses nothing it had not nearly regained anyway. The table never grows
 * after creation.
 *
 * Time comes from the settable wall clock (bw_clock_now_ns) so tests pin
 * and advance it instead of sleeping.
 */
#include "gateway/gateway_int.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 16

struct rl_entry {
	uint64_t hash; /* 0: empty */
	uint32_t limit_id;
	uint8_t keylen;
	uint8_t key[GW_RL_KEY_MAX];
	int64_t tat;
};

struct rl_shard {
	pthread_mutex_t mu;
	struct rl_entry *v;
	size_t cap;
	size_t n;
} __attribute__((aligned(64)));

struct gw_rl_table {
	uint64_t seed;
	struct rl_shard shards[GW_RL_SHARDS];
};

struct gw_rl_table *gw_rl_new(size_t entries)
{
	struct gw_rl_table *t = aligned_alloc(64, sizeof(*t));
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	bw_random(&t->seed, sizeof(t->seed));
	size_t per = entries / GW_RL_SHARDS;
	if (per < PROBE)
		per = PROBE;
	/* One block for every shard: large enough to come from mmap as
	 * untouched zero pages, so an idle table costs no resident memory. */
	__typeof__(t->shards[0].v) block = calloc(per * GW_RL_SHARDS, sizeof(*block));
	for (size_t i = 0; i < GW_RL_SHARDS; i++) {
		struct rl_shard *s = &t->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->cap = per;
		s->v = block ? block + i * per : NULL;
	}
	if (!block) {
		gw_rl_free(t);
		return NULL;
	}
	return t;
}

void gw_rl_free(struct gw_rl_table *t)
{
	if (!t)
		return;
	free(t->shards[0].v); /* the block all shards point into */
	for (size_t i = 0; i < GW_RL_SHARDS; i++) {
		t->shards[i].v = NULL;
		pthread_mutex_destroy(&t->shards[i].mu);
	}
	free(t);
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finaliser: spreads FNV's weak low bits */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t key_hash(uint64_t seed, uint32_t id, const uint8_t *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (int i = 0; i < 4; i++) {
		h ^= (id >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	for (size_t i = 0; i < n; i++) {
		h ^= k[i];
		h *= 0x100000001b3ull;
	}
	h = mix(h);
	return h ? h : 1;
}

bool gw_rl_take(struct gw_rl_table *t, uint32_t limit_id, const void *key,
		size_t keylen, int64_t now_ns, uint64_t interval_ns,
		uint64_t burst, int64_t *retry_ns)
{
	uint8_t k[GW_RL_KEY_MAX];
	size_t kn = keylen;
	if (keylen > GW_RL_KEY_MAX) {
		/* long API keys: their digest stands for them */
		unsigned dl = 0;
		if (!EVP_Digest(key, keylen, k, &dl, EVP_sha256(), NULL))
			return true; /* cannot key it: count nothing */
		kn = dl;
	} else {
		memcpy(k, key, keylen);
	}
	uint64_t h = key_hash(t->seed, limit_id, k, kn);
	struct rl_shard *s = &t->shards[h % GW_RL_SHARDS];
	/* Saturating: burst * interval may pass int64 for slow, large
	 * buckets; a day-long cap is indistinguishable from infinity here. */
	int64_t T = interval_ns > (uint64_t)INT64_MAX / 4 ? INT64_MAX / 4 :
							    (int64_t)interval_ns;
	int64_t cap;
	if (__builtin_mul_overflow(T, (int64_t)burst, &cap) || cap > INT64_MAX / 4)
		cap = INT64_MAX / 4;

	pthread_mutex_lock(&s->mu);
	size_t home = (size_t)((h / GW_RL_SHARDS) % s->cap);
	struct rl_entry *e = NULL, *victim = NULL;
	for (size_t i = 0; i < PROBE; i++) {
		struct rl_entry *c = &s->v[(home + i) % s->cap];
		if (c->hash == h && c->limit_id == limit_id && c->keylen == kn &&
		    memcmp(c->key, k, kn) == 0) {
			e = c;
			break;
		}
		if (c->hash == 0) {
			/* Slots never empty again once used, so the key is
			 * not further along: take this one. */
			victim = c;
			break;
		}
		if (!victim || c->tat < victim->tat)
			victim = c;
	}
	if (!e) {
		e = victim;
		if (e->hash == 0)
			s->n++;
		e->hash = h;
		e->limit_id = limit_id;
		e->keylen = (uint8_t)kn;
		memcpy(e->key, k, kn);
		e->tat = now_ns;
	}
	int64_t tat = e->tat > now_ns ? e->tat : now_ns;
	int64_t next;
	if (__builtin_add_overflow(tat, T, &next))
		next = INT64_MAX;
	bool ok = next - now_ns <= cap && next != INT64_MAX;
	if (ok)
		e->tat = next;
	else if (retry_ns)
		*retry_ns = next - now_ns - cap;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

size_t gw_rl_count(struct gw_rl_table *t)
{
	size_t n = 0;
	for (size_t i = 0; i < GW_RL_SHARDS; i++) {
		pthread_mutex_lock(&t->shards[i].mu);
		n += t->shards[i].n;
		pthread_mutex_unlock(&t->shards[i].mu);
	}
	return n;
}
