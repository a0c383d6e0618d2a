/*
 * Failed-login throttling and lockout, in memory.
 *
 * Three counters per attempt: the account (tenant + case-folded name,
 * kept for names that do not exist too, so a lock never reveals whether
 * a user exists), the account+IP pair, and the IP (within the tenant).
 *
 *  - pair: after lock_pair_threshold failures in the window, each further
 *    failure imposes a delay that doubles from IAM_LOCK_DELAY_BASE_S up
 *    to IAM_LOCK_DELAY_MAX_S (the "delays before hard locks");
 *  - account: after lock_account_threshold failures from any sources, the
 *    account is locked for IAM_LOCK_ACCOUNT_BASE_S doubling per lock up
 *    to IAM_LOCK_ACCOUNT_MAX_S — but only for sources that have not
 *    logged in to it successfully within IAM_KNOWN_SOURCE_TTL_S, so an
 *    attacker elsewhere cannot lock the owner out, and every lock ends by
 *    itself (or by an administrator's unlock);
 *  - IP: after lock_ip_threshold failures over all accounts (password
 *    spraying) the IP is throttled for the window.
 *
 * Invariants: entries are found by a keyed 64-bit hash (random seed per
 * process, so an attacker cannot aim collisions); each table is a fixed
 * array — when a probe window is full the least recently seen entry
 * that is not locked is reused (a locked one only if all are), so memory
 * never grows; one mutex guards all three tables and is never held
 * across anything slow.
 *
 * The state is per process and is lost on restart: a restart forgets
 * counters (at worst an attacker gets a fresh window), never grants
 * access.
 */
#include "iam/iam_int.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 8

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t h_add(uint64_t h, const char *s, bool fold)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (fold && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		h = (h ^ c) * 1099511628211ULL;
	}
	return (h ^ 0xff) * 1099511628211ULL; /* field separator */
}

static uint64_t key_of(uint64_t seed, char kind, const char *tenant,
		       const char *name, const char *ip)
{
	uint64_t h =
	    (1469598103934665603ULL ^ seed ^ (uint64_t)kind) * 1099511628211ULL;
	h = h_add(h, tenant, false);
	h = h_add(h, name, true);
	h = h_add(h, ip, false);
	h = mix64(h);
	return h ? h : 1;
}

static int table_init(struct iam_lock_table *t, size_t size)
{
	t->e = calloc(size, sizeof(*t->e));
	t->size = size;
	return t->e ? 0 : -1;
}

int iam_lockout_init(struct iam_lockout *lo, size_t size)
{
	memset(lo, 0, sizeof(*lo));
	if (pthread_mutex_init(&lo->mu, NULL) != 0)
		return -1;
	bw_random(&lo->seed, sizeof(lo->seed));
	if (table_init(&lo->account, size) < 0 ||
	    table_init(&lo->pair, size) < 0 || table_init(&lo->ip, size) < 0) {
		iam_lockout_fini(lo);
		return -1;
	}
	return 0;
}

void iam_lockout_fini(struct iam_lockout *lo)
{
	free(lo->account.e);
	free(lo->pair.e);
	free(lo->ip.e);
	lo->account.e = lo->pair.e = lo->ip.e = NULL;
	pthread_mutex_destroy(&lo->mu);
}

/* The entry for key, or NULL when absent and !create. */
static struct iam_lock_entry *find(struct iam_lock_table *t, uint64_t key,
				   bool create, int64_t now)
{
	size_t mask = t->size - 1;
	size_t start = (size_t)key & mask;
	struct iam_lock_entry *free_slot = NULL, *victim = NULL;
	for (size_t i = 0; i < PROBE; i++) {
		struct iam_lock_entry *e = &t->e[(start + i) & mask];
		if (e->key_hash == key)
			return e;
		if (!e->key_hash) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		/* Prefer reusing an unlocked entry, then the stalest. */
		bool locked = e->locked_until > now;
		if (!victim || (victim->locked_until > now && !locked) ||
		    ((victim->locked_until > now) == locked &&
		     e->last_seen < victim->last_seen))
			victim = e;
	}
	if (!create)
		return NULL;
	struct iam_lock_entry *e = free_slot ? free_slot : victim;
	memset(e, 0, sizeof(*e));
	e->key_hash = key;
	e->window_start = now;
	return e;
}

/* Starts a new window when the old one has passed; forgets the lock level
 * after a quiet window. */
static void roll(struct iam_lock_entry *e, int64_t now, int64_t window)
{
	if (now - e->window_start >= window) {
		e->failures = 0;
		e->window_start = now;
		if (e->locked_until <= now && now - e->last_seen >= window)
			e->level = 0;
	}
}

static int64_t shifted(int64_t base, uint32_t shift, int64_t max)
{
	if (shift > 30)
		return max;
	int64_t v = base << shift;
	return v > max ? max : v;
}

int64_t iam_lockout_check(struct iam_lockout *lo, const struct iam_policy *p,
			  const char *tenant, const char *name, const char *ip,
			  bool known, int64_t now)
{
	int64_t wait = 0;
	pthread_mutex_lock(&lo->mu);
	struct iam_lock_entry *e =
	    find(&lo->ip, key_of(lo->seed, 'i', tenant, NULL, ip), false, now);
	if (e && e->locked_until > now)
		wait = e->locked_until - now;
	e = find(&lo->pair, key_of(lo->seed, 'p', tenant, name, ip), false,
		 now);
	if (e && e->locked_until > now && e->locked_until - now > wait)
		wait = e->locked_until - now;
	if (!known) {
		e = find(&lo->account,
			 key_of(lo->seed, 'a', tenant, name, NULL), false, now);
		if (e && e->locked_until > now && e->locked_until - now > wait)
			wait = e->locked_until - now;
	}
	pthread_mutex_unlock(&lo->mu);
	(void)p;
	return wait;
}

void iam_lockout_failure(struct iam_lockout *lo, const struct iam_policy *p,
			 const char *tenant, const char *name, const char *ip,
			 int64_t now)
{
	int64_t window = p->lock_window_s;
	uint64_t acct = key_of(lo->seed, 'a', tenant, name, NULL);
	pthread_mutex_lock(&lo->mu);

	struct iam_lock_entry *e =
	    find(&lo->pair, key_of(lo->seed, 'p', tenant, name, ip), true, now);
	e->acct_hash = acct;
	roll(e, now, window);
	e->failures++;
	e->last_seen = now;
	if (e->failures >= p->lock_pair_threshold)
		e->locked_until =
		    now + shifted(IAM_LOCK_DELAY_BASE_S,
				  e->failures - p->lock_pair_threshold,
				  IAM_LOCK_DELAY_MAX_S);

	e = find(&lo->account, acct, true, now);
	roll(e, now, window);
	e->failures++;
	e->last_seen = now;
	if (e->failures >= p->lock_account_threshold) {
		e->locked_until =
		    now + shifted(IAM_LOCK_ACCOUNT_BASE_S, e->level,
				  IAM_LOCK_ACCOUNT_MAX_S);
		if (e->level < 31)
			e->level++;
		e->failures = 0;
		e->window_start = now;
	}

	e = find(&lo->ip, key_of(lo->seed, 'i', tenant, NULL, ip), true, now);
	roll(e, now, window);
	e->failures++;
	e->last_seen = now;
	if (e->failures >= p->lock_ip_threshold) {
		e->locked_until = now + window;
		e->failures = 0;
		e->window_start = now;
	}
	pthread_mutex_unlock(&lo->mu);
}

void iam_lockout_success(struct iam_lockout *lo, const char *tenant,
			 const char *name, const char *ip)
{
	pthread_mutex_lock(&lo->mu);
	struct iam_lock_entry *e =
	    find(&lo->pair, key_of(lo->seed, 'p', tenant, name, ip), false, 0);
	if (e)
		memset(e, 0, sizeof(*e));
	/* The account's failure count restarts, but a lock placed on unknown
	 * sources stays until it expires: the owner logging in from home
	 * does not open the door for the attacker. */
	e = find(&lo->account, key_of(lo->seed, 'a', tenant, name, NULL), false,
		 0);
	if (e)
		e->failures = 0;
	pthread_mutex_unlock(&lo->mu);
}

void iam_lockout_clear_account(struct iam_lockout *lo, const char *tenant,
			       const char *name)
{
	uint64_t acct = key_of(lo->seed, 'a', tenant, name, NULL);
	pthread_mutex_lock(&lo->mu);
	struct iam_lock_entry *e = find(&lo->account, acct, false, 0);
	if (e)
		memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < lo->pair.size; i++)
		if (lo->pair.e[i].key_hash && lo->pair.e[i].acct_hash == acct)
			memset(&lo->pair.e[i], 0, sizeof(lo->pair.e[i]));
	pthread_mutex_unlock(&lo->mu);
}

void iam_lockout_unlock(struct iam *iam, const char *tenant,
			const char *username)
{
	iam_lockout_clear_account(&iam->lockout, tenant, username);
}
