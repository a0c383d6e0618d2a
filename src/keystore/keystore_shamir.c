/*
 * Shamir secret sharing over GF(2^8), used to split the unseal key into
 * operator shares (k of n). Each secret byte is the constant term of its
 * own random polynomial of degree k-1; share i is the polynomials'
 * values at x = i + 1. Any k shares recover the constant terms by
 * Lagrange interpolation at x = 0; fewer reveal nothing about them.
 *
 * Invariants:
 *  - field arithmetic is constant time: no table lookups or branches that
 *    depend on secret values (multiplication is shift-and-add with masks,
 *    inversion is exponentiation to 254);
 *  - random coefficients live in the secure heap and are wiped.
 */
#include "keystore/keystore_int.h"

#include <string.h>

uint8_t ks_gf_mul(uint8_t a, uint8_t b)
{
	uint8_t p = 0;
	for (int i = 0; i < 8; i++) {
		p ^= (uint8_t)(-(b & 1) & a);
		uint8_t hi = (uint8_t)-(a >> 7);
		a = (uint8_t)((a << 1) ^ (0x1b & hi));
		b >>= 1;
	}
	return p;
}

/* a^254 = a^-1 for a != 0 (and 0 for 0), by a fixed square-and-multiply
 * chain: 254 = 0b11111110. */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = 1;
	uint8_t sq = a;
	for (int bit = 0; bit < 8; bit++) {
		uint8_t mask = (uint8_t)-((254 >> bit) & 1);
		uint8_t m = ks_gf_mul(r, sq);
		r = (uint8_t)((m & mask) | (r & (uint8_t)~mask));
		sq = ks_gf_mul(sq, sq);
	}
	return r;
}

int ks_shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned k,
		    uint8_t *ys)
{
	if (k < 1 || n < k || n > 255 || len == 0)
		return -1;
	uint8_t *coef = ks_secure_alloc(k);
	if (!coef)
		return -1;
	for (size_t b = 0; b < len; b++) {
		coef[0] = secret[b];
		if (k > 1)
			bw_random(coef + 1, k - 1);
		for (unsigned i = 0; i < n; i++) {
			uint8_t x = (uint8_t)(i + 1);
			/* Horner: ((c[k-1] x + c[k-2]) x + ...) x + c[0]. */
			uint8_t y = 0;
			for (unsigned j = k; j-- > 0;)
				y = (uint8_t)(ks_gf_mul(y, x) ^ coef[j]);
			ys[(size_t)i * len + b] = y;
		}
	}
	ks_secure_free(coef, k);
	return 0;
}

int ks_shamir_combine(const uint8_t *xs, const uint8_t *ys, unsigned k,
		      size_t len, uint8_t *out)
{
	if (k < 1 || k > 255)
		return -1;
	for (unsigned i = 0; i < k; i++) {
		if (xs[i] == 0)
			return -1;
		for (unsigned j = i + 1; j < k; j++)
			if (xs[i] == xs[j])
				return -1;
	}
	memset(out, 0, len);
	for (unsigned i = 0; i < k; i++) {
		/* Lagrange basis at 0: prod_{j != i} x_j / (x_j - x_i); in
		 * characteristic 2, subtraction is xor. The xs are public. */
		uint8_t num = 1, den = 1;
		for (unsigned j = 0; j < k; j++) {
			if (j == i)
				continue;
			num = ks_gf_mul(num, xs[j]);
			den = ks_gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
		}
		uint8_t l = ks_gf_mul(num, gf_inv(den));
		for (size_t b = 0; b < len; b++)
			out[b] ^= ks_gf_mul(ys[(size_t)i * len + b], l);
	}
	return 0;
}
