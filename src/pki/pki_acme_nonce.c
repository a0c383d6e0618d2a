/*
 * pki_acme_nonce.c — the anti-replay nonces of RFC 8555 section 6.5, in a
 * fixed-size table.
 *
 * A nonce is 16 bytes, base64url: a 4-byte slot index (big-endian) and 12
 * random bytes. Issuing takes the next slot round-robin, overwriting the
 * oldest nonce; consuming decodes the index, compares the random part
 * with the slot's in constant time, checks age and marks the slot used.
 * So lookup is O(1) without hashing, memory is fixed at start, and a
 * client can neither grow the table nor predict a nonce.
 *
 * Invariants:
 *  - a nonce is accepted at most once (the slot is cleared under the lock
 *    in the same step that accepts it);
 *  - a nonce older than ttl, or whose slot was reused, is refused;
 *  - all state is behind one mutex held for a few instructions.
 *
 * Nonces live in memory only: a restart invalidates them all and clients
 * recover with the badNonce retry RFC 8555 requires of them.
 */
#include "pki/pki_acme_int.h"

#include <pthread.h>
#include <string.h>

struct nonce_slot {
	uint8_t rnd[PKI_ACME_NONCE_BYTES - 4];
	int64_t issued_ns;
	bool live;
};

struct acme_nonces {
	pthread_mutex_t mu;
	struct nonce_slot *v;
	uint32_t n;
	uint32_t next;
	int64_t ttl_ns;
	uint64_t issued, accepted, refused;
};

struct acme_nonces *acme_nonces_new(size_t n, int64_t ttl_s)
{
	if (n == 0)
		n = PKI_ACME_NONCES_DEFAULT;
	if (n > PKI_ACME_NONCES_HARD)
		n = PKI_ACME_NONCES_HARD;
	if (ttl_s <= 0)
		ttl_s = PKI_ACME_NONCE_TTL_DEFAULT_S;
	if (ttl_s > PKI_ACME_NONCE_TTL_MAX_S)
		ttl_s = PKI_ACME_NONCE_TTL_MAX_S;
	struct acme_nonces *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->v = calloc(n, sizeof(*s->v));
	if (!s->v) {
		free(s);
		return NULL;
	}
	s->n = (uint32_t)n;
	s->ttl_ns = ttl_s * 1000000000LL;
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void acme_nonces_free(struct acme_nonces *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->v);
	free(s);
}

void acme_nonce_new(struct acme_nonces *s, char out[PKI_ACME_NONCE_B64 + 1])
{
	uint8_t raw[PKI_ACME_NONCE_BYTES];
	bw_random(raw + 4, sizeof(raw) - 4);
	int64_t now = bw_clock_now_ns();
	pthread_mutex_lock(&s->mu);
	uint32_t i = s->next;
	s->next = (s->next + 1) % s->n;
	struct nonce_slot *sl = &s->v[i];
	memcpy(sl->rnd, raw + 4, sizeof(sl->rnd));
	sl->issued_ns = now;
	sl->live = true;
	s->issued++;
	pthread_mutex_unlock(&s->mu);
	raw[0] = (uint8_t)(i >> 24);
	raw[1] = (uint8_t)(i >> 16);
	raw[2] = (uint8_t)(i >> 8);
	raw[3] = (uint8_t)i;
	crypto_b64url_encode_to(raw, sizeof(raw), out);
}

bool acme_nonce_consume(struct acme_nonces *s, const char *p, size_t len)
{
	uint8_t raw[PKI_ACME_NONCE_BYTES];
	size_t n;
	struct bw_err e;
	bool ok = false;
	if (len != PKI_ACME_NONCE_B64 ||
	    crypto_b64url_decode(p, len, raw, sizeof(raw), &n, &e) < 0 ||
	    n != sizeof(raw)) {
		pthread_mutex_lock(&s->mu);
		s->refused++;
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	uint32_t i = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
		     (uint32_t)raw[2] << 8 | raw[3];
	int64_t now = bw_clock_now_ns();
	pthread_mutex_lock(&s->mu);
	if (i < s->n) {
		struct nonce_slot *sl = &s->v[i];
		ok = sl->live &&
		     bw_ct_equal(sl->rnd, sizeof(sl->rnd), raw + 4, sizeof(raw) - 4) &&
		     now - sl->issued_ns <= s->ttl_ns && now >= sl->issued_ns - 1000000000LL;
		if (ok)
			sl->live = false;
	}
	if (ok)
		s->accepted++;
	else
		s->refused++;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void acme_nonces_stats(struct acme_nonces *s, uint64_t *issued,
		       uint64_t *accepted, uint64_t *refused)
{
	pthread_mutex_lock(&s->mu);
	*issued = s->issued;
	*accepted = s->accepted;
	*refused = s->refused;
	pthread_mutex_unlock(&s->mu);
}
