/*
 * audit_merkle — the RFC 6962 Merkle tree over audit records: append,
 * roots of any prefix, inclusion and consistency proofs (RFC 6962 §2.1.1,
 * §2.1.2) and their verification (RFC 9162 §2.1.3.2, §2.1.4.2).
 *
 * Storage. lv[0] holds every leaf hash. lv[L] for L >= STORE_FROM holds
 * the hash of each complete aligned subtree of 2^L leaves, i.e. entry i
 * covers leaves [i << L, (i + 1) << L). Levels 1..STORE_FROM-1 are not
 * stored (they would double the memory) and are recomputed on demand from
 * at most 2^STORE_FROM leaves. frontier[L] is the root of the complete
 * subtree of 2^L leaves that is still waiting for its right sibling; it is
 * valid exactly when bit L of n is set, and together they give the root of
 * the whole tree in O(log n).
 *
 * Invariants: cnt[0] == n; cnt[L] == n >> L for L >= STORE_FROM; proofs
 * and roots are only asked for prefixes of at most n leaves.
 */
#include "audit/audit_int.h"

#include <stdlib.h>
#include <string.h>

#define STORE_FROM 8
#define LEVELS 64

typedef uint8_t hash_t[AUDIT_HASH_LEN];

struct audit_tree {
	uint64_t n;
	hash_t *lv[LEVELS];
	size_t cnt[LEVELS];
	size_t cap[LEVELS];
	hash_t frontier[LEVELS];
};

struct audit_tree *audit_tree_new(void)
{
	return calloc(1, sizeof(struct audit_tree));
}

void audit_tree_free(struct audit_tree *t)
{
	if (!t)
		return;
	for (int i = 0; i < LEVELS; i++) {
		free(t->lv[i]);
		t->lv[i] = NULL;
	}
	free(t);
}

uint64_t audit_tree_size(const struct audit_tree *t)
{
	return t->n;
}

static int level_push(struct audit_tree *t, int L, const hash_t h,
		      struct bw_err *err)
{
	if (t->cnt[L] == t->cap[L]) {
		size_t ncap = t->cap[L] ? t->cap[L] * 2 : 1024;
		size_t bytes;
		if (__builtin_mul_overflow(ncap, sizeof(hash_t), &bytes))
			return bw_err_set(err, 500, "audit", "nomem",
					  "Merkle level %d too large", L);
		hash_t *nv = realloc(t->lv[L], bytes);
		if (!nv)
			return bw_err_set(err, 500, "audit", "nomem",
					  "out of memory growing Merkle level %d",
					  L);
		t->lv[L] = nv;
		t->cap[L] = ncap;
	}
	memcpy(t->lv[L][t->cnt[L]++], h, AUDIT_HASH_LEN);
	return 0;
}

int audit_tree_append(struct audit_tree *t, const uint8_t leaf[AUDIT_HASH_LEN],
		      struct bw_err *err)
{
	if (t->n >= AUDIT_SEQ_MAX)
		return bw_err_set(err, 500, "audit", "full",
				  "Merkle tree reached its maximum size");
	/* Make room on every level this append will touch first, so a failed
	 * allocation leaves the tree unchanged. */
	if (level_push(t, 0, leaf, err) < 0)
		return -1;
	hash_t carry;
	memcpy(carry, leaf, AUDIT_HASH_LEN);
	int L = 0;
	while ((t->n >> L) & 1) {
		audit_node_hash(t->frontier[L], carry, carry);
		L++;
		if (L >= STORE_FROM && level_push(t, L, carry, err) < 0) {
			/* Roll back the levels already pushed. */
			for (int j = STORE_FROM; j < L; j++)
				t->cnt[j]--;
			t->cnt[0]--;
			return -1;
		}
	}
	memcpy(t->frontier[L], carry, AUDIT_HASH_LEN);
	t->n++;
	return 0;
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* Hash of the complete subtree of 2^L leaves starting at leaf i << L. */
static void perfect_hash(const struct audit_tree *t, int L, uint64_t i,
			 hash_t out)
{
	if (L == 0) {
		memcpy(out, t->lv[0][i], AUDIT_HASH_LEN);
		return;
	}
	if (L >= STORE_FROM) {
		memcpy(out, t->lv[L][i], AUDIT_HASH_LEN);
		return;
	}
	hash_t l, r;
	perfect_hash(t, L - 1, 2 * i, l);
	perfect_hash(t, L - 1, 2 * i + 1, r);
	audit_node_hash(l, r, out);
}

/* MTH(D[start : start + size]) for size >= 1, start + size <= n. */
static void range_hash(const struct audit_tree *t, uint64_t start,
		       uint64_t size, hash_t out)
{
	if ((size & (size - 1)) == 0 && (start & (size - 1)) == 0) {
		int L = __builtin_ctzll(size);
		perfect_hash(t, L, start >> L, out);
		return;
	}
	uint64_t k = split_point(size);
	hash_t l, r;
	range_hash(t, start, k, l);
	range_hash(t, start + k, size - k, r);
	audit_node_hash(l, r, out);
}

int audit_tree_root(const struct audit_tree *t, uint64_t size,
		    uint8_t out[AUDIT_HASH_LEN], struct bw_err *err)
{
	if (size > t->n)
		return bw_err_set(err, 400, "audit", "bad_size",
				  "tree size %llu beyond %llu leaves",
				  (unsigned long long)size,
				  (unsigned long long)t->n);
	if (size == 0) {
		audit_sha256(NULL, 0, NULL, 0, NULL, 0, out);
		return 0;
	}
	if (size == t->n) {
		/* Fold the frontier from the smallest subtree upwards: that is
		 * RFC 6962's split at the largest power of two, unrolled. */
		int L = __builtin_ctzll(size);
		hash_t acc;
		memcpy(acc, t->frontier[L], AUDIT_HASH_LEN);
		for (L = L + 1; L < LEVELS; L++)
			if ((size >> L) & 1)
				audit_node_hash(t->frontier[L], acc, acc);
		memcpy(out, acc, AUDIT_HASH_LEN);
		return 0;
	}
	range_hash(t, 0, size, out);
	return 0;
}

int audit_tree_inclusion_proof(const struct audit_tree *t, uint64_t index,
			       uint64_t size, uint8_t (*path)[AUDIT_HASH_LEN],
			       size_t cap, size_t *n, struct bw_err *err)
{
	if (size > t->n || index >= size)
		return bw_err_set(err, 400, "audit", "bad_index",
				  "no leaf %llu in a tree of %llu (have %llu)",
				  (unsigned long long)index,
				  (unsigned long long)size,
				  (unsigned long long)t->n);
	/* Walk down from the root collecting siblings, then reverse: the
	 * proof lists them leaf-first. */
	hash_t sib[LEVELS];
	size_t depth = 0;
	uint64_t start = 0, m = index, sz = size;
	while (sz > 1) {
		uint64_t k = split_point(sz);
		if (m < k) {
			range_hash(t, start + k, sz - k, sib[depth++]);
			sz = k;
		} else {
			range_hash(t, start, k, sib[depth++]);
			start += k;
			m -= k;
			sz -= k;
		}
	}
	if (depth > cap)
		return bw_err_set(err, 400, "audit", "proof_cap",
				  "proof needs %zu entries, room for %zu",
				  depth, cap);
	for (size_t i = 0; i < depth; i++)
		memcpy(path[i], sib[depth - 1 - i], AUDIT_HASH_LEN);
	*n = depth;
	return 0;
}

int audit_tree_consistency_proof(const struct audit_tree *t, uint64_t m,
				 uint64_t n, uint8_t (*proof)[AUDIT_HASH_LEN],
				 size_t cap, size_t *len, struct bw_err *err)
{
	if (m > n || n > t->n)
		return bw_err_set(err, 400, "audit", "bad_size",
				  "no consistency proof from %llu to %llu "
				  "(have %llu)",
				  (unsigned long long)m, (unsigned long long)n,
				  (unsigned long long)t->n);
	*len = 0;
	if (m == 0 || m == n)
		return 0;
	/* SUBPROOF(m, D[start:start+sz], b) unrolled: each step down records
	 * the sibling it did not enter; the final node (unless b is still
	 * true, i.e. it is the old root itself) comes first. */
	hash_t sib[LEVELS + 1];
	size_t depth = 0;
	uint64_t start = 0, sz = n, mm = m;
	bool b = true;
	while (mm != sz) {
		uint64_t k = split_point(sz);
		if (mm <= k) {
			range_hash(t, start + k, sz - k, sib[depth++]);
			sz = k;
		} else {
			range_hash(t, start, k, sib[depth++]);
			start += k;
			mm -= k;
			sz -= k;
			b = false;
		}
	}
	size_t total = depth + (b ? 0 : 1);
	if (total > cap)
		return bw_err_set(err, 400, "audit", "proof_cap",
				  "proof needs %zu entries, room for %zu",
				  total, cap);
	size_t o = 0;
	if (!b)
		range_hash(t, start, sz, proof[o++]);
	for (size_t i = 0; i < depth; i++)
		memcpy(proof[o++], sib[depth - 1 - i], AUDIT_HASH_LEN);
	*len = o;
	return 0;
}

bool audit_inclusion_verify(const uint8_t leaf[AUDIT_HASH_LEN], uint64_t index,
			    uint64_t size, const uint8_t (*path)[AUDIT_HASH_LEN],
			    size_t n, const uint8_t root[AUDIT_HASH_LEN])
{
	if (index >= size)
		return false;
	uint64_t fn = index, sn = size - 1;
	hash_t r;
	memcpy(r, leaf, AUDIT_HASH_LEN);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			audit_node_hash(path[i], r, r);
			/* A right edge with no sibling: climb to where this
			 * node is a right child again. */
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			audit_node_hash(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && bw_ct_equal(r, AUDIT_HASH_LEN, root, AUDIT_HASH_LEN);
}

bool audit_consistency_verify(uint64_t m, uint64_t n,
			      const uint8_t root_m[AUDIT_HASH_LEN],
			      const uint8_t root_n[AUDIT_HASH_LEN],
			      const uint8_t (*proof)[AUDIT_HASH_LEN], size_t len)
{
	if (m > n)
		return false;
	if (m == 0)
		return len == 0;
	if (m == n)
		return len == 0 && bw_ct_equal(root_m, AUDIT_HASH_LEN, root_n,
					       AUDIT_HASH_LEN);
	if (len == 0)
		return false;
	/* When m is a power of two the old root is itself a node of the new
	 * tree and the proof omits it: start from root_m instead. */
	size_t i = 0;
	hash_t fr, sr;
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, AUDIT_HASH_LEN);
	} else {
		memcpy(fr, proof[0], AUDIT_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, AUDIT_HASH_LEN);
	uint64_t fn = m - 1, sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < len; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			audit_node_hash(proof[i], fr, fr);
			audit_node_hash(proof[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			audit_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 &&
	       bw_ct_equal(fr, AUDIT_HASH_LEN, root_m, AUDIT_HASH_LEN) &&
	       bw_ct_equal(sr, AUDIT_HASH_LEN, root_n, AUDIT_HASH_LEN);
}
