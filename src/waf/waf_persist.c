/*
 * waf_persist.c — persistent collections (IP, SESSION, USER, GLOBAL,
 * RESOURCE), kept in memory per process.
 *
 * initcol:ip=KEY (and setsid/setuid/setrsc) loads the record (collection,
 * KEY) into the transaction's collection; every later setvar or expirevar
 * on that collection writes through to the record, so the next request
 * with the same key sees it — the semantics of ModSecurity v3's in-memory
 * collection backend. A record expires SecCollectionTimeout seconds after
 * its last write; a variable given an expirevar expires on its own.
 *
 * Invariants:
 *  - one mutex guards the whole store; the critical sections copy small
 *    strings only, never call back into rule evaluation;
 *  - the store is bounded (WAF_PERSIST_RECORDS_MAX records of at most
 *    WAF_PERSIST_VARS_MAX variables of WAF_PERSIST_VALUE_MAX bytes); when
 *    full, expired records are purged and otherwise new keys are refused
 *    (the transaction then works on an empty collection, as if new), so a
 *    client cycling keys cannot grow memory without bound;
 *  - records are process-wide: worker threads share them; separate worker
 *    processes do not (documented in WAF-ENGINE.md).
 */
#include "waf/waf_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct pvar {
	char *name, *value;
	int64_t expires; /* 0: with the record */
};

struct prec {
	enum waf_var_id col;
	char *key;
	struct pvar *v;
	size_t n, cap;
	int64_t expires;
	struct prec *next; /* hash chain */
};

#define NBUCKETS 4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct prec *buckets[NBUCKETS];
static size_t nrecords;

static size_t bucket(enum waf_var_id col, struct bw_str key)
{
	uint32_t h = 2166136261u ^ (uint32_t)col;
	for (size_t i = 0; i < key.len; i++) {
		h ^= (unsigned char)key.p[i];
		h *= 16777619u;
	}
	return h % NBUCKETS;
}

static void prec_free(struct prec *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].value);
	}
	free(r->v);
	free(r->key);
	free(r);
}

/* Drop expired records (lock held). */
static void purge(int64_t now)
{
	for (size_t b = 0; b < NBUCKETS; b++) {
		struct prec **pp = &buckets[b];
		while (*pp) {
			struct prec *r = *pp;
			if (r->expires && r->expires <= now) {
				*pp = r->next;
				prec_free(r);
				nrecords--;
			} else {
				pp = &r->next;
			}
		}
	}
}

static struct prec *find(enum waf_var_id col, struct bw_str key, int64_t now,
			 bool create)
{
	size_t b = bucket(col, key);
	for (struct prec **pp = &buckets[b]; *pp; pp = &(*pp)->next) {
		struct prec *r = *pp;
		if (r->col != col || strlen(r->key) != key.len ||
		    memcmp(r->key, key.p, key.len) != 0)
			continue;
		if (r->expires && r->expires <= now) {
			*pp = r->next;
			prec_free(r);
			nrecords--;
			break;
		}
		return r;
	}
	if (!create)
		return NULL;
	if (nrecords >= WAF_PERSIST_RECORDS_MAX) {
		purge(now);
		if (nrecords >= WAF_PERSIST_RECORDS_MAX)
			return NULL;
	}
	struct prec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->key = strndup(key.p, key.len);
	if (!r->key) {
		free(r);
		return NULL;
	}
	r->col = col;
	r->next = buckets[b];
	buckets[b] = r;
	nrecords++;
	return r;
}

static struct pvar *var_find(struct prec *r, struct bw_str name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->v[i].name) == name.len &&
		    strncasecmp(r->v[i].name, name.p, name.len) == 0)
			return &r->v[i];
	return NULL;
}

static int64_t timeout_of(const struct waf_tx *tx)
{
	int64_t t = (int64_t)tx->rs->settings.collection_timeout;
	return t > 0 ? t : 3600;
}

int waf_persist_load(struct waf_tx *tx, enum waf_var_id col, struct bw_str key)
{
	if (key.len == 0 || key.len > WAF_PERSIST_VALUE_MAX)
		return 0;
	int64_t now = bw_clock_now_s();
	int rc = 0;
	pthread_mutex_lock(&mu);
	struct prec *r = find(col, key, now, false);
	for (size_t i = 0; r && i < r->n && rc == 0; i++) {
		struct pvar *v = &r->v[i];
		if (v->expires && v->expires <= now)
			continue;
		rc = waf_col_set(tx, col, bw_str_make(v->name, strlen(v->name)),
				 bw_str_make(v->value, strlen(v->value)));
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

void waf_persist_set(struct waf_tx *tx, enum waf_var_id col,
		     struct bw_str name, const struct bw_str *value,
		     int64_t expire_in)
{
	struct bw_str key = tx->initcol_key[col];
	if (!key.p || key.len == 0 || key.len > WAF_PERSIST_VALUE_MAX ||
	    name.len > WAF_PERSIST_VALUE_MAX ||
	    (value && value->len > WAF_PERSIST_VALUE_MAX))
		return;
	int64_t now = bw_clock_now_s();
	pthread_mutex_lock(&mu);
	struct prec *r = find(col, key, now, value != NULL || expire_in > 0);
	if (!r)
		goto out;
	r->expires = now + timeout_of(tx);
	struct pvar *v = var_find(r, name);
	if (!value && expire_in <= 0) { /* delete */
		if (v) {
			free(v->name);
			free(v->value);
			*v = r->v[--r->n];
		}
		goto out;
	}
	if (!v) {
		if (!value || r->n >= WAF_PERSIST_VARS_MAX)
			goto out;
		if (r->n == r->cap) {
			size_t nc = r->cap ? r->cap * 2 : 8;
			struct pvar *nv = realloc(r->v, nc * sizeof(*nv));
			if (!nv)
				goto out;
			r->v = nv;
			r->cap = nc;
		}
		char *nm = strndup(name.p, name.len);
		char *vl = strndup(value->p, value->len);
		if (!nm || !vl) {
			free(nm);
			free(vl);
			goto out;
		}
		r->v[r->n++] = (struct pvar){ nm, vl, 0 };
		goto out;
	}
	if (value) {
		char *vl = strndup(value->p, value->len);
		if (!vl)
			goto out;
		free(v->value);
		v->value = vl;
	}
	if (expire_in > 0)
		v->expires = now + expire_in;
out:
	pthread_mutex_unlock(&mu);
}

void waf_persist_reset(void)
{
	pthread_mutex_lock(&mu);
	for (size_t b = 0; b < NBUCKETS; b++) {
		while (buckets[b]) {
			struct prec *r = buckets[b];
			buckets[b] = r->next;
			prec_free(r);
		}
	}
	nrecords = 0;
	pthread_mutex_unlock(&mu);
}
