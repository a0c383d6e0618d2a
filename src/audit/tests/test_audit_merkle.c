/*
 * Tests for audit_merkle.c: roots, inclusion and consistency proofs
 * against a direct transcription of RFC 6962 §2.1 (recursive, over a leaf
 * array), against the published Certificate Transparency test vectors,
 * and generation against verification for every pair of sizes up to 32,
 * plus sizes that cross the stored-level boundary (256 leaves).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit_int.h"

typedef uint8_t hash_t[AUDIT_HASH_LEN];

/* ------------------------------------------- reference (RFC 6962 §2.1) */

static uint64_t ref_k(uint64_t n)
{
	uint64_t k = 1;
	while (k * 2 < n)
		k *= 2;
	return k;
}

static void ref_mth(const hash_t *d, uint64_t n, hash_t out)
{
	if (n == 0) {
		audit_sha256(NULL, 0, NULL, 0, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, d[0], AUDIT_HASH_LEN);
		return;
	}
	uint64_t k = ref_k(n);
	hash_t l, r;
	ref_mth(d, k, l);
	ref_mth(d + k, n - k, r);
	audit_node_hash(l, r, out);
}

/* PATH(m, D[n]) appended to out. */
static void ref_path(uint64_t m, const hash_t *d, uint64_t n, hash_t *out,
		     size_t *len)
{
	if (n <= 1)
		return;
	uint64_t k = ref_k(n);
	if (m < k) {
		ref_path(m, d, k, out, len);
		ref_mth(d + k, n - k, out[(*len)++]);
	} else {
		ref_path(m - k, d + k, n - k, out, len);
		ref_mth(d, k, out[(*len)++]);
	}
}

/* SUBPROOF(m, D[n], b) appended to out. */
static void ref_subproof(uint64_t m, const hash_t *d, uint64_t n, bool b,
			 hash_t *out, size_t *len)
{
	if (m == n) {
		if (!b)
			ref_mth(d, n, out[(*len)++]);
		return;
	}
	uint64_t k = ref_k(n);
	if (m <= k) {
		ref_subproof(m, d, k, b, out, len);
		ref_mth(d + k, n - k, out[(*len)++]);
	} else {
		ref_subproof(m - k, d + k, n - k, false, out, len);
		ref_mth(d, k, out[(*len)++]);
	}
}

/* ---------------------------------------------------------- fixtures */

static hash_t *make_leaves(size_t n)
{
	hash_t *d = calloc(n ? n : 1, sizeof(hash_t));
	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		uint8_t data[8];
		for (int j = 0; j < 8; j++)
			data[j] = (uint8_t)(i >> (8 * j));
		audit_leaf_hash(data, sizeof(data), d[i]);
	}
	return d;
}

static struct audit_tree *make_tree(const hash_t *d, size_t n)
{
	struct audit_tree *t = audit_tree_new();
	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(audit_tree_append(t, d[i], NULL), 0);
	assert_int_equal(audit_tree_size(t), n);
	return t;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;
	assert_int_equal(bw_hex_decode(s, strlen(s), out, n, &got), 0);
	assert_int_equal(got, n);
}

/* ------------------------------------------------------------- tests */

/* The Certificate Transparency reference leaves and roots (from the CT
 * project's merkle tree tests, also used by RFC 9162 implementations). */
static const char *const ct_leaves[] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *const ct_roots[] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void test_ct_vectors(void **state)
{
	(void)state;
	struct audit_tree *t = audit_tree_new();
	hash_t root, want;
	assert_int_equal(audit_tree_root(t, 0, root, NULL), 0);
	unhex(ct_roots[0], want, AUDIT_HASH_LEN);
	assert_memory_equal(root, want, AUDIT_HASH_LEN);
	for (size_t i = 0; i < BW_ARRAY_LEN(ct_leaves); i++) {
		uint8_t data[16];
		size_t n = strlen(ct_leaves[i]) / 2;
		unhex(ct_leaves[i], data, n);
		hash_t leaf;
		audit_leaf_hash(data, n, leaf);
		assert_int_equal(audit_tree_append(t, leaf, NULL), 0);
		assert_int_equal(audit_tree_root(t, i + 1, root, NULL), 0);
		unhex(ct_roots[i + 1], want, AUDIT_HASH_LEN);
		assert_memory_equal(root, want, AUDIT_HASH_LEN);
	}
	/* Prefix roots from the full tree take the range_hash path. */
	for (size_t n = 0; n <= 8; n++) {
		assert_int_equal(audit_tree_root(t, n, root, NULL), 0);
		unhex(ct_roots[n], want, AUDIT_HASH_LEN);
		assert_memory_equal(root, want, AUDIT_HASH_LEN);
	}
	/* Published audit path of leaf 0 in the tree of 8. */
	static const char *const path0[] = {
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	};
	hash_t path[AUDIT_PROOF_MAX];
	size_t n = 0;
	assert_int_equal(audit_tree_inclusion_proof(t, 0, 8, path,
						    AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		unhex(path0[i], want, AUDIT_HASH_LEN);
		assert_memory_equal(path[i], want, AUDIT_HASH_LEN);
	}
	audit_tree_free(t);
}

/* Small trees spelled out by hand from the RFC's definition. */
static void test_hand_computed(void **state)
{
	(void)state;
	hash_t *d = make_leaves(3);
	struct audit_tree *t = make_tree(d, 3);
	hash_t root, n01, want;
	assert_int_equal(audit_tree_root(t, 1, root, NULL), 0);
	assert_memory_equal(root, d[0], AUDIT_HASH_LEN);
	audit_node_hash(d[0], d[1], n01);
	assert_int_equal(audit_tree_root(t, 2, root, NULL), 0);
	assert_memory_equal(root, n01, AUDIT_HASH_LEN);
	audit_node_hash(n01, d[2], want);
	assert_int_equal(audit_tree_root(t, 3, root, NULL), 0);
	assert_memory_equal(root, want, AUDIT_HASH_LEN);

	/* Leaf 2 of 3: its path is just the left subtree {0,1}. */
	hash_t path[AUDIT_PROOF_MAX];
	size_t n;
	assert_int_equal(audit_tree_inclusion_proof(t, 2, 3, path,
						    AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_int_equal(n, 1);
	assert_memory_equal(path[0], n01, AUDIT_HASH_LEN);
	/* Leaf 0 of 3: sibling leaf 1, then leaf 2. */
	assert_int_equal(audit_tree_inclusion_proof(t, 0, 3, path,
						    AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_int_equal(n, 2);
	assert_memory_equal(path[0], d[1], AUDIT_HASH_LEN);
	assert_memory_equal(path[1], d[2], AUDIT_HASH_LEN);
	/* Consistency 2 -> 3: the old root is a node, so only leaf 2. */
	assert_int_equal(audit_tree_consistency_proof(t, 2, 3, path,
						      AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_int_equal(n, 1);
	assert_memory_equal(path[0], d[2], AUDIT_HASH_LEN);
	/* Consistency 1 -> 3: leaf 1, then leaf 2. */
	assert_int_equal(audit_tree_consistency_proof(t, 1, 3, path,
						      AUDIT_PROOF_MAX, &n, NULL),
			 0);
	assert_int_equal(n, 2);
	assert_memory_equal(path[0], d[1], AUDIT_HASH_LEN);
	assert_memory_equal(path[1], d[2], AUDIT_HASH_LEN);
	audit_tree_free(t);
	free(d);
}

static void test_roots_1_to_64(void **state)
{
	(void)state;
	hash_t *d = make_leaves(64);
	struct audit_tree *t = audit_tree_new();
	for (size_t n = 1; n <= 64; n++) {
		assert_int_equal(audit_tree_append(t, d[n - 1], NULL), 0);
		hash_t got, want;
		ref_mth(d, n, want);
		assert_int_equal(audit_tree_root(t, n, got, NULL), 0);
		assert_memory_equal(got, want, AUDIT_HASH_LEN);
	}
	/* And every prefix of the full tree. */
	for (size_t n = 0; n <= 64; n++) {
		hash_t got, want;
		ref_mth(d, n, want);
		assert_int_equal(audit_tree_root(t, n, got, NULL), 0);
		assert_memory_equal(got, want, AUDIT_HASH_LEN);
	}
	hash_t x;
	assert_int_equal(audit_tree_root(t, 65, x, NULL), -1);
	audit_tree_free(t);
	free(d);
}

static void check_inclusion(const struct audit_tree *t, const hash_t *d,
			    uint64_t i, uint64_t n)
{
	hash_t path[AUDIT_PROOF_MAX], ref[AUDIT_PROOF_MAX], root;
	size_t len = 0, rlen = 0;
	assert_int_equal(audit_tree_inclusion_proof(t, i, n, path,
						    AUDIT_PROOF_MAX, &len, NULL),
			 0);
	ref_path(i, d, n, ref, &rlen);
	assert_int_equal(len, rlen);
	if (len)
		assert_memory_equal(path, ref, len * AUDIT_HASH_LEN);
	ref_mth(d, n, root);
	assert_true(audit_inclusion_verify(d[i], i, n, path, len, root));
	/* Wrong index, wrong size, wrong leaf, flipped path byte, short
	 * path, long path: all rejected. */
	if (n > 1) {
		assert_false(audit_inclusion_verify(d[i], (i + 1) % n, n, path,
						    len, root));
		assert_false(audit_inclusion_verify(d[(i + 1) % n], i, n, path,
						    len, root));
	}
	/* The same path does not prove the leaf in the next tree (whose
	 * root differs); d always holds at least n + 1 leaves. */
	hash_t root1;
	ref_mth(d, n + 1, root1);
	assert_false(audit_inclusion_verify(d[i], i, n + 1, path, len, root1));
	assert_false(audit_inclusion_verify(d[i], n, n, path, len, root));
	for (size_t j = 0; j < len; j++) {
		path[j][j % AUDIT_HASH_LEN] ^= 0x40;
		assert_false(audit_inclusion_verify(d[i], i, n, path, len,
						    root));
		path[j][j % AUDIT_HASH_LEN] ^= 0x40;
	}
	if (len)
		assert_false(audit_inclusion_verify(d[i], i, n, path, len - 1,
						    root));
	memcpy(path[len], root, AUDIT_HASH_LEN);
	assert_false(audit_inclusion_verify(d[i], i, n, path, len + 1, root));
}

static void check_consistency(const struct audit_tree *t, const hash_t *d,
			      uint64_t m, uint64_t n)
{
	hash_t proof[AUDIT_PROOF_MAX], ref[AUDIT_PROOF_MAX], rm, rn;
	size_t len = 0, rlen = 0;
	assert_int_equal(audit_tree_consistency_proof(t, m, n, proof,
						      AUDIT_PROOF_MAX, &len,
						      NULL),
			 0);
	if (m > 0 && m < n)
		ref_subproof(m, d, n, true, ref, &rlen);
	assert_int_equal(len, rlen);
	if (len)
		assert_memory_equal(proof, ref, len * AUDIT_HASH_LEN);
	ref_mth(d, m, rm);
	ref_mth(d, n, rn);
	assert_true(audit_consistency_verify(m, n, rm, rn, proof, len));
	if (m == 0)
		return;
	/* A different old root, new root, or either size fails. */
	hash_t bad;
	memcpy(bad, rm, AUDIT_HASH_LEN);
	bad[0] ^= 1;
	assert_false(audit_consistency_verify(m, n, bad, rn, proof, len));
	memcpy(bad, rn, AUDIT_HASH_LEN);
	bad[31] ^= 1;
	assert_false(audit_consistency_verify(m, n, rm, bad, proof, len));
	if (m < n) {
		/* Claimed sizes must match the roots (real tree heads). */
		hash_t rn1, rm1;
		ref_mth(d, n + 1, rn1);
		assert_false(audit_consistency_verify(m, n + 1, rm, rn1, proof,
						      len));
		if (m > 1) {
			ref_mth(d, m - 1, rm1);
			assert_false(audit_consistency_verify(m - 1, n, rm1, rn,
							      proof, len));
		}
		for (size_t j = 0; j < len; j++) {
			proof[j][7] ^= 0x80;
			assert_false(audit_consistency_verify(m, n, rm, rn,
							      proof, len));
			proof[j][7] ^= 0x80;
		}
		assert_false(audit_consistency_verify(m, n, rm, rn, proof,
						      len - 1));
	}
	if (m < n) /* roots swapped */
		assert_false(audit_consistency_verify(m, n, rn, rm, proof, len));
}

static void test_proofs_all_pairs_32(void **state)
{
	(void)state;
	hash_t *d = make_leaves(33);
	struct audit_tree *t = make_tree(d, 32);
	for (uint64_t n = 1; n <= 32; n++) {
		for (uint64_t i = 0; i < n; i++)
			check_inclusion(t, d, i, n);
		for (uint64_t m = 0; m <= n; m++)
			check_consistency(t, d, m, n);
	}
	audit_tree_free(t);
	free(d);
}

/* Sizes around the stored levels (2^8 and up) so the cached subtree
 * hashes are exercised, not only the recomputed ones. */
static void test_large_trees(void **state)
{
	(void)state;
	const uint64_t N = 2100;
	hash_t *d = make_leaves(N + 1);
	struct audit_tree *t = make_tree(d, N);
	static const uint64_t sizes[] = { 255, 256, 257, 511, 512, 513,
					  1000, 1023, 1024, 1025, 2048, 2100 };
	for (size_t a = 0; a < BW_ARRAY_LEN(sizes); a++) {
		uint64_t n = sizes[a];
		hash_t got, want;
		ref_mth(d, n, want);
		assert_int_equal(audit_tree_root(t, n, got, NULL), 0);
		assert_memory_equal(got, want, AUDIT_HASH_LEN);
		static const uint64_t idx[] = { 0, 1, 127, 128, 255, 256, 300,
						511, 512, 1023, 1024, 2047 };
		for (size_t b = 0; b < BW_ARRAY_LEN(idx); b++)
			if (idx[b] < n)
				check_inclusion(t, d, idx[b], n);
		check_inclusion(t, d, n - 1, n);
		for (size_t b = 0; b < BW_ARRAY_LEN(sizes); b++)
			if (sizes[b] <= n)
				check_consistency(t, d, sizes[b], n);
		check_consistency(t, d, 1, n);
		check_consistency(t, d, 7, n);
	}
	/* The incremental root agrees with the recomputed one. */
	hash_t a1, a2;
	assert_int_equal(audit_tree_root(t, N, a1, NULL), 0);
	ref_mth(d, N, a2);
	assert_memory_equal(a1, a2, AUDIT_HASH_LEN);
	audit_tree_free(t);
	free(d);
}

static void test_proof_bad_arguments(void **state)
{
	(void)state;
	hash_t *d = make_leaves(10);
	struct audit_tree *t = make_tree(d, 10);
	hash_t p[AUDIT_PROOF_MAX];
	size_t n;
	struct bw_err err = { 0 };
	assert_int_equal(audit_tree_inclusion_proof(t, 10, 10, p,
						    AUDIT_PROOF_MAX, &n, &err),
			 -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(audit_tree_inclusion_proof(t, 0, 11, p,
						    AUDIT_PROOF_MAX, &n, &err),
			 -1);
	assert_int_equal(audit_tree_inclusion_proof(t, 0, 0, p,
						    AUDIT_PROOF_MAX, &n, &err),
			 -1);
	assert_int_equal(audit_tree_consistency_proof(t, 5, 4, p,
						      AUDIT_PROOF_MAX, &n, &err),
			 -1);
	assert_int_equal(audit_tree_consistency_proof(t, 5, 11, p,
						      AUDIT_PROOF_MAX, &n, &err),
			 -1);
	/* Too little room is an error, not an overflow. */
	assert_int_equal(audit_tree_inclusion_proof(t, 0, 10, p, 2, &n, &err),
			 -1);
	assert_string_equal(err.reason, "proof_cap");
	assert_int_equal(audit_tree_consistency_proof(t, 3, 10, p, 1, &n, &err),
			 -1);
	/* Verification of nonsense sizes fails closed. */
	hash_t r;
	ref_mth(d, 10, r);
	assert_false(audit_inclusion_verify(d[0], 0, 0, p, 0, r));
	assert_false(audit_consistency_verify(11, 10, r, r, p, 0));
	assert_false(audit_consistency_verify(3, 10, r, r, p, 0));
	assert_true(audit_consistency_verify(0, 10, r, r, p, 0));
	assert_false(audit_consistency_verify(0, 10, r, r, p, 1));
	assert_false(audit_consistency_verify(10, 10, r, d[0], p, 0));
	audit_tree_free(t);
	free(d);
	audit_tree_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_vectors),
		cmocka_unit_test(test_hand_computed),
		cmocka_unit_test(test_roots_1_to_64),
		cmocka_unit_test(test_proofs_all_pairs_32),
		cmocka_unit_test(test_large_trees),
		cmocka_unit_test(test_proof_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
