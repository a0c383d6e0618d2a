/*
 * JWK (RFC 7517), its key types and parameters (RFC 7518 section 6,
 * RFC 8037 for Ed25519), RFC 7638 thumbprints and JWKS documents.
 *
 * Invariants: a struct jose_jwk exists only after every check passed (see
 * the struct's comment in crypto_int.h); parsing never trusts lengths from
 * the document — every coordinate has its exact size, every integer its
 * bound; decoded private material lives in stack buffers that are wiped
 * on every way out.
 */
#include "crypto/crypto_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

#define BIGNUM_MAX (JOSE_RSA_MAX_BITS / 8)

static const struct {
	enum jose_alg alg;
	const char *name;
	enum jose_kty kty;
	enum jose_crv crv;
} alg_table[] = {
    {JOSE_ALG_HS256, "HS256", JOSE_KTY_OCT, JOSE_CRV_NONE},
    {JOSE_ALG_RS256, "RS256", JOSE_KTY_RSA, JOSE_CRV_NONE},
    {JOSE_ALG_PS256, "PS256", JOSE_KTY_RSA, JOSE_CRV_NONE},
    {JOSE_ALG_ES256, "ES256", JOSE_KTY_EC, JOSE_CRV_P256},
    {JOSE_ALG_ES384, "ES384", JOSE_KTY_EC, JOSE_CRV_P384},
    {JOSE_ALG_EDDSA, "EdDSA", JOSE_KTY_OKP, JOSE_CRV_ED25519},
};

const char *jose_alg_name(enum jose_alg a)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(alg_table); i++)
		if (alg_table[i].alg == a)
			return alg_table[i].name;
	return NULL;
}

/* Exact, case-sensitive match (RFC 7515 section 4.1.1: alg values are
 * case-sensitive), so "none", "None", "hs256" are all unknown. */
enum jose_alg jose_alg_from_name(const char *p, size_t n)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(alg_table); i++)
		if (bw_str_eq_lit(bw_str_make(p, n), alg_table[i].name))
			return alg_table[i].alg;
	return JOSE_ALG_INVALID;
}

enum jose_kty jose_alg_kty(enum jose_alg a)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(alg_table); i++)
		if (alg_table[i].alg == a)
			return alg_table[i].kty;
	return 0;
}

enum jose_crv jose_alg_crv(enum jose_alg a)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(alg_table); i++)
		if (alg_table[i].alg == a)
			return alg_table[i].crv;
	return JOSE_CRV_NONE;
}

size_t jose_crv_size(enum jose_crv c)
{
	switch (c) {
	case JOSE_CRV_P256:
		return 32;
	case JOSE_CRV_P384:
		return 48;
	case JOSE_CRV_ED25519:
		return 32;
	case JOSE_CRV_NONE:
		break;
	}
	return 0;
}

static const char *crv_name(enum jose_crv c)
{
	switch (c) {
	case JOSE_CRV_P256:
		return "P-256";
	case JOSE_CRV_P384:
		return "P-384";
	case JOSE_CRV_ED25519:
		return "Ed25519";
	case JOSE_CRV_NONE:
		break;
	}
	return NULL;
}

static const char *crv_group(enum jose_crv c)
{
	return c == JOSE_CRV_P256   ? "prime256v1"
	       : c == JOSE_CRV_P384 ? "secp384r1"
				    : NULL;
}

/* ------------------------------------------------------------ accessors */

enum jose_kty jose_jwk_kty(const struct jose_jwk *k)
{
	return k->kty;
}
enum jose_crv jose_jwk_crv(const struct jose_jwk *k)
{
	return k->crv;
}
const char *jose_jwk_kid(const struct jose_jwk *k)
{
	return k->kid;
}
enum jose_alg jose_jwk_alg(const struct jose_jwk *k)
{
	return k->alg;
}
enum jose_use jose_jwk_use(const struct jose_jwk *k)
{
	return k->use;
}
bool jose_jwk_is_private(const struct jose_jwk *k)
{
	return k->has_private;
}
void *jose_jwk_pkey(const struct jose_jwk *k)
{
	return k->pkey;
}

bool jose_jwk_usable(const struct jose_jwk *k, enum jose_alg alg, unsigned op)
{
	if (!k || alg == JOSE_ALG_INVALID || jose_alg_kty(alg) != k->kty)
		return false;
	if (k->kty == JOSE_KTY_EC || k->kty == JOSE_KTY_OKP)
		if (jose_alg_crv(alg) != k->crv)
			return false;
	if (k->alg != JOSE_ALG_INVALID && k->alg != alg)
		return false;
	if (k->use == JOSE_USE_ENC)
		return false;
	if (k->has_ops && !(k->ops & op))
		return false;
	if (op == JOSE_OP_SIGN && !k->has_private)
		return false;
	if (alg == JOSE_ALG_HS256 && k->oct_len < JOSE_HS256_MIN)
		return false;
	return true;
}

void jose_jwk_free(struct jose_jwk *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	if (k->oct) {
		bw_wipe(k->oct, k->oct_len);
		free(k->oct);
	}
	bw_wipe(k, sizeof(*k));
	free(k);
}

/* ---------------------------------------------------------------- parse */

/* A string member as a view; absent → p NULL. A present member that is
 * not a string is an error. */
static int get_str(const struct json_value *v, const char *name,
		   struct bw_str *out, struct bw_err *err)
{
	const struct json_value *m = json_get(v, name);
	*out = bw_str_make(NULL, 0);
	if (!m)
		return 0;
	if (m->type != JSON_STRING)
		return bw_err_set(err, 400, "crypto", "bad_member",
				  "JWK member \"%s\" must be a string", name);
	*out = m->u.str;
	return 0;
}

/* Decodes base64url member `name` into out. exact > 0 demands that many
 * bytes. Returns 1 when present, 0 when absent (error if required), -1. */
static int get_b64(const struct json_value *v, const char *name, uint8_t *out,
		   size_t cap, size_t *len, size_t exact, bool required,
		   struct bw_err *err)
{
	struct bw_str s;
	if (get_str(v, name, &s, err) < 0)
		return -1;
	if (!s.p) {
		if (required)
			return bw_err_set(err, 400, "crypto", "missing_member",
					  "JWK lacks \"%s\"", name);
		return 0;
	}
	if (crypto_b64url_decode(s.p, s.len, out, cap, len, err) < 0) {
		if (err)
			err->code = 400;
		return -1;
	}
	if ((exact && *len != exact) || *len == 0)
		return bw_err_set(
		    err, 400, "crypto", "bad_length",
		    "JWK member \"%s\" has the wrong length (%zu)", name, *len);
	return 1;
}

static int parse_common(struct jose_jwk *k, const struct json_value *v,
			struct bw_err *err)
{
	struct bw_str s;
	if (get_str(v, "kid", &s, err) < 0)
		return -1;
	if (s.p) {
		if (s.len > JOSE_KID_MAX || memchr(s.p, 0, s.len))
			return bw_err_set(
			    err, 400, "crypto", "bad_kid",
			    "kid longer than %d bytes or with NUL",
			    JOSE_KID_MAX);
		memcpy(k->kid, s.p, s.len);
		k->kid[s.len] = 0;
	}
	if (get_str(v, "alg", &s, err) < 0)
		return -1;
	if (s.p) {
		k->alg = jose_alg_from_name(s.p, s.len);
		if (k->alg == JOSE_ALG_INVALID)
			return bw_err_set(err, 400, "crypto", "bad_alg",
					  "JWK alg not supported");
	}
	if (get_str(v, "use", &s, err) < 0)
		return -1;
	if (s.p) {
		if (bw_str_eq_lit(s, "sig"))
			k->use = JOSE_USE_SIG;
		else if (bw_str_eq_lit(s, "enc"))
			k->use = JOSE_USE_ENC;
		else
			return bw_err_set(err, 400, "crypto", "bad_use",
					  "JWK use must be \"sig\" or \"enc\"");
	}
	const struct json_value *ops = json_get(v, "key_ops");
	if (ops) {
		if (ops->type != JSON_ARRAY || ops->u.arr.n > 8)
			return bw_err_set(
			    err, 400, "crypto", "bad_key_ops",
			    "key_ops must be an array of at most 8 strings");
		k->has_ops = true;
		unsigned seen = 0;
		for (size_t i = 0; i < ops->u.arr.n; i++) {
			const struct json_value *o = ops->u.arr.items[i];
			if (o->type != JSON_STRING)
				return bw_err_set(
				    err, 400, "crypto", "bad_key_ops",
				    "key_ops entries must be strings");
			static const char *const names[] = {
			    "sign",    "verify",    "encrypt",	 "decrypt",
			    "wrapKey", "unwrapKey", "deriveKey", "deriveBits"};
			size_t j;
			for (j = 0; j < BW_ARRAY_LEN(names); j++)
				if (bw_str_eq_lit(o->u.str, names[j]))
					break;
			/* RFC 7517 section 4.3: duplicates MUST NOT occur. */
			if (j < BW_ARRAY_LEN(names)) {
				if (seen & (1u << j))
					return bw_err_set(
					    err, 400, "crypto", "bad_key_ops",
					    "duplicate key_ops entry");
				seen |= 1u << j;
			}
			k->ops |= j == 0   ? JOSE_OP_SIGN
				  : j == 1 ? JOSE_OP_VERIFY
					   : JOSE_OP_OTHER;
		}
	}
	if (k->alg != JOSE_ALG_INVALID && jose_alg_kty(k->alg) != k->kty)
		return bw_err_set(err, 400, "crypto", "bad_alg",
				  "JWK alg %s does not fit its key type",
				  jose_alg_name(k->alg));
	if (k->alg != JOSE_ALG_INVALID &&
	    (k->kty == JOSE_KTY_EC || k->kty == JOSE_KTY_OKP) &&
	    jose_alg_crv(k->alg) != k->crv)
		return bw_err_set(err, 400, "crypto", "bad_alg",
				  "JWK alg %s does not fit curve %s",
				  jose_alg_name(k->alg), crv_name(k->crv));
	return 0;
}

static int pkey_from_params(EVP_PKEY **out, const char *type, int selection,
			    OSSL_PARAM_BLD *bld, struct bw_err *err)
{
	int rc = -1;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, selection, params) != 1) {
		bw_err_openssl(err, "crypto", "key import");
		if (err) {
			err->code = 400;
			(void)bw_snprintf(err->reason, sizeof(err->reason),
					  "bad_key");
		}
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

/* Deterministic sanity of an RSA public key: n odd and without small
 * prime factors, e odd with 3 <= e < n. Returns 1 when it passes. */
static int rsa_public_ok(EVP_PKEY *pk)
{
	BIGNUM *n = NULL, *e = NULL;
	int ok = 0;
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		goto out;
	if (!BN_is_odd(n) || !BN_is_odd(e) || BN_cmp(e, n) >= 0 ||
	    BN_num_bits(e) < 2)
		goto out;
	static const unsigned small[] = { 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37,
					  41, 43, 47, 53, 59, 61, 67, 71, 73, 79,
					  83, 89, 97, 101, 103, 107, 109, 113 };
	for (size_t i = 0; i < BW_ARRAY_LEN(small); i++)
		if (BN_mod_word(n, small[i]) == 0)
			goto out;
	ok = 1;
out:
	BN_free(n);
	BN_free(e);
	return ok;
}

/* Checks a freshly imported key: the public part is valid (point on its
 * curve, RSA modulus sane) and, with private parts, that they match. */
static int check_pkey(EVP_PKEY *pk, bool priv, struct bw_err *err)
{
	int rc = -1;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	/* OpenSSL's RSA public check runs a randomised primality test on n,
	 * so a crafted modulus could pass once and fail the next time (found
	 * by fuzz_jose_jwk). RSA public keys get deterministic checks here
	 * instead; EC and EdDSA checks are deterministic already. */
	bool rsa = EVP_PKEY_is_a(pk, "RSA");
	if (!ctx || (rsa ? rsa_public_ok(pk) != 1 : EVP_PKEY_public_check(ctx) != 1) ||
	    (priv && EVP_PKEY_pairwise_check(ctx) != 1)) {
		ERR_clear_error();
		bw_err_set(err, 400, "crypto", "bad_point",
			   "JWK key fails validation (point not on curve or "
			   "private part does not match)");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int parse_ec(struct jose_jwk *k, const struct json_value *v,
		    struct bw_err *err)
{
	uint8_t pub[1 + 2 * 48], d[48];
	size_t xl = 0, yl = 0, dl = 0;
	int rc = -1, have_d;
	struct bw_str crv;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *dbn = NULL;
	if (get_str(v, "crv", &crv, err) < 0)
		return -1;
	if (bw_str_eq_lit(crv, "P-256"))
		k->crv = JOSE_CRV_P256;
	else if (bw_str_eq_lit(crv, "P-384"))
		k->crv = JOSE_CRV_P384;
	else
		return bw_err_set(err, 400, "crypto", "bad_crv",
				  "EC JWK curve must be P-256 or P-384");
	size_t fs = jose_crv_size(k->crv);
	pub[0] = 0x04; /* uncompressed point */
	if (get_b64(v, "x", pub + 1, fs, &xl, fs, true, err) < 0 ||
	    get_b64(v, "y", pub + 1 + fs, fs, &yl, fs, true, err) < 0)
		goto out;
	have_d = get_b64(v, "d", d, fs, &dl, fs, false, err);
	if (have_d < 0)
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     crv_group(k->crv), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
					      1 + 2 * fs)) {
		bw_err_openssl(err, "crypto", "params");
		goto out;
	}
	if (have_d) {
		dbn = BN_secure_new();
		if (!dbn || !BN_bin2bn(d, (int)dl, dbn) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY,
					    dbn)) {
			bw_err_openssl(err, "crypto", "params");
			goto out;
		}
	}
	if (pkey_from_params(&k->pkey, "EC",
			     have_d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			     bld, err) < 0)
		goto out;
	if (check_pkey(k->pkey, have_d, err) < 0)
		goto out;
	k->has_private = have_d;
	rc = 0;
out:
	BN_clear_free(dbn);
	OSSL_PARAM_BLD_free(bld);
	bw_wipe(d, sizeof(d));
	return rc;
}

static int parse_okp(struct jose_jwk *k, const struct json_value *v,
		     struct bw_err *err)
{
	uint8_t x[32], d[32], derived[32];
	size_t xl = 0, dl = 0, dvl = sizeof(derived);
	int rc = -1, have_d;
	struct bw_str crv;
	if (get_str(v, "crv", &crv, err) < 0)
		return -1;
	if (!bw_str_eq_lit(crv, "Ed25519"))
		return bw_err_set(err, 400, "crypto", "bad_crv",
				  "OKP JWK curve must be Ed25519");
	k->crv = JOSE_CRV_ED25519;
	if (get_b64(v, "x", x, sizeof(x), &xl, 32, true, err) < 0)
		goto out;
	have_d = get_b64(v, "d", d, sizeof(d), &dl, 32, false, err);
	if (have_d < 0)
		goto out;
	if (have_d) {
		k->pkey =
		    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, 32);
		if (!k->pkey ||
		    EVP_PKEY_get_raw_public_key(k->pkey, derived, &dvl) != 1) {
			bw_err_openssl(err, "crypto", "Ed25519 import");
			goto out;
		}
		if (!bw_ct_equal(derived, dvl, x, 32)) {
			bw_err_set(err, 400, "crypto", "bad_point",
				   "Ed25519 JWK: x does not match d");
			goto out;
		}
		k->has_private = true;
	} else {
		k->pkey =
		    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
		if (!k->pkey) {
			bw_err_openssl(err, "crypto", "Ed25519 import");
			goto out;
		}
	}
	rc = 0;
out:
	bw_wipe(d, sizeof(d));
	return rc;
}

struct rsa_part {
	const char *jwk;
	const char *param;
	uint8_t *buf;
	size_t len;
	int present;
};

static int parse_rsa(struct jose_jwk *k, const struct json_value *v,
		     struct bw_err *err)
{
	/* n, e, d and the five CRT values; d and the CRT values are
	 * secret. One heap block so the stack stays small; wiped at out. */
	enum { N, E, D, P, Q, DP, DQ, QI, NPARTS };
	struct rsa_part parts[NPARTS] = {
	    {"n", OSSL_PKEY_PARAM_RSA_N, NULL, 0, 0},
	    {"e", OSSL_PKEY_PARAM_RSA_E, NULL, 0, 0},
	    {"d", OSSL_PKEY_PARAM_RSA_D, NULL, 0, 0},
	    {"p", OSSL_PKEY_PARAM_RSA_FACTOR1, NULL, 0, 0},
	    {"q", OSSL_PKEY_PARAM_RSA_FACTOR2, NULL, 0, 0},
	    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1, NULL, 0, 0},
	    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2, NULL, 0, 0},
	    {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1, NULL, 0, 0},
	};
	BIGNUM *bns[NPARTS] = {0};
	OSSL_PARAM_BLD *bld = NULL;
	int rc = -1;
	uint8_t *block = calloc(NPARTS, BIGNUM_MAX);
	if (!block)
		return bw_err_set(err, 500, "crypto", "memory",
				  "out of memory");
	if (json_get(v, "oth")) {
		bw_err_set(err, 400, "crypto", "rsa_oth",
			   "multi-prime RSA (\"oth\") is not supported");
		goto out;
	}
	for (int i = 0; i < NPARTS; i++) {
		parts[i].buf = block + (size_t)i * BIGNUM_MAX;
		parts[i].present =
		    get_b64(v, parts[i].jwk, parts[i].buf, BIGNUM_MAX,
			    &parts[i].len, 0, i == N || i == E, err);
		if (parts[i].present < 0)
			goto out;
	}
	/* RFC 7518 section 6.3.1.1: n uses the minimum number of octets. */
	size_t bits = parts[N].len * 8;
	for (uint8_t top = parts[N].buf[0]; bits && !(top & 0x80); top <<= 1)
		bits--;
	if (parts[N].buf[0] == 0 || bits < JOSE_RSA_MIN_BITS ||
	    bits > JOSE_RSA_MAX_BITS) {
		bw_err_set(
		    err, 400, "crypto", "rsa_size",
		    "RSA modulus must be %d..%d bits without leading zeros",
		    JOSE_RSA_MIN_BITS, JOSE_RSA_MAX_BITS);
		goto out;
	}
	if (parts[E].len > JOSE_RSA_E_MAX || parts[E].buf[0] == 0 ||
	    !(parts[E].buf[parts[E].len - 1] & 1) ||
	    (parts[E].len == 1 && parts[E].buf[0] < 3)) {
		bw_err_set(err, 400, "crypto", "rsa_exponent",
			   "RSA public exponent must be odd, >= 3, minimal");
		goto out;
	}
	int ncrt = parts[P].present + parts[Q].present + parts[DP].present +
		   parts[DQ].present + parts[QI].present;
	if ((ncrt != 0 && ncrt != 5) || (ncrt && !parts[D].present)) {
		bw_err_set(err, 400, "crypto", "rsa_private",
			   "RSA private key needs d and all or none of p, q, "
			   "dp, dq, qi");
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (!bld)
		goto ossl;
	for (int i = 0; i < NPARTS; i++) {
		if (!parts[i].present)
			continue;
		bns[i] = i >= D ? BN_secure_new() : BN_new();
		if (!bns[i] ||
		    !BN_bin2bn(parts[i].buf, (int)parts[i].len, bns[i]) ||
		    !OSSL_PARAM_BLD_push_BN(bld, parts[i].param, bns[i]))
			goto ossl;
	}
	k->has_private = parts[D].present;
	if (pkey_from_params(&k->pkey, "RSA",
			     k->has_private ? EVP_PKEY_KEYPAIR
					    : EVP_PKEY_PUBLIC_KEY,
			     bld, err) < 0)
		goto out;
	/* Full pairwise validation needs the factors; a d-only key that
	 * does not match n simply yields signatures nobody verifies. */
	if (check_pkey(k->pkey, ncrt == 5, err) < 0)
		goto out;
	rc = 0;
	goto out;
ossl:
	bw_err_openssl(err, "crypto", "RSA params");
out:
	for (int i = 0; i < NPARTS; i++)
		BN_clear_free(bns[i]);
	OSSL_PARAM_BLD_free(bld);
	bw_wipe(block, (size_t)NPARTS * BIGNUM_MAX);
	free(block);
	return rc;
}

static int parse_oct(struct jose_jwk *k, const struct json_value *v,
		     struct bw_err *err)
{
	uint8_t buf[JOSE_OCT_MAX];
	size_t n = 0;
	int rc = -1;
	if (get_b64(v, "k", buf, sizeof(buf), &n, 0, true, err) < 0)
		goto out;
	k->oct = malloc(n);
	if (!k->oct) {
		bw_err_set(err, 500, "crypto", "memory", "out of memory");
		goto out;
	}
	memcpy(k->oct, buf, n);
	k->oct_len = n;
	k->has_private = true;
	rc = 0;
out:
	bw_wipe(buf, sizeof(buf));
	return rc;
}

struct jose_jwk *jose_jwk_from_json(const struct json_value *v,
				    struct bw_err *err)
{
	if (!v || v->type != JSON_OBJECT) {
		bw_err_set(err, 400, "crypto", "bad_jwk",
			   "a JWK must be a JSON object");
		return NULL;
	}
	struct jose_jwk *k = calloc(1, sizeof(*k));
	if (!k) {
		bw_err_set(err, 500, "crypto", "memory", "out of memory");
		return NULL;
	}
	struct bw_str kty;
	int rc = get_str(v, "kty", &kty, err);
	if (rc == 0 && !kty.p)
		rc = bw_err_set(err, 400, "crypto", "bad_kty",
				"JWK lacks \"kty\"");
	if (rc == 0) {
		if (bw_str_eq_lit(kty, "EC")) {
			k->kty = JOSE_KTY_EC;
			rc = parse_ec(k, v, err);
		} else if (bw_str_eq_lit(kty, "OKP")) {
			k->kty = JOSE_KTY_OKP;
			rc = parse_okp(k, v, err);
		} else if (bw_str_eq_lit(kty, "RSA")) {
			k->kty = JOSE_KTY_RSA;
			rc = parse_rsa(k, v, err);
		} else if (bw_str_eq_lit(kty, "oct")) {
			k->kty = JOSE_KTY_OCT;
			rc = parse_oct(k, v, err);
		} else {
			rc = bw_err_set(err, 400, "crypto", "bad_kty",
					"JWK kty must be EC, OKP, RSA or oct");
		}
	}
	if (rc == 0)
		rc = parse_common(k, v, err);
	if (rc < 0) {
		jose_jwk_free(k);
		return NULL;
	}
	return k;
}

static struct bw_arena *jose_arena(size_t max)
{
	return bw_arena_new(8192, max * 8 + 65536);
}

struct jose_jwk *jose_jwk_parse(const char *p, size_t len, struct bw_err *err)
{
	if (len > JOSE_JWK_MAX) {
		bw_err_set(err, 413, "crypto", "too_large",
			   "JWK over %zu bytes", (size_t)JOSE_JWK_MAX);
		return NULL;
	}
	struct bw_arena *a = jose_arena(JOSE_JWK_MAX);
	if (!a) {
		bw_err_set(err, 500, "crypto", "memory", "out of memory");
		return NULL;
	}
	struct json_limits lim = {.max_bytes = JOSE_JWK_MAX,
				  .max_depth = JOSE_JSON_DEPTH_MAX,
				  .max_members = JOSE_JSON_MEMBERS_MAX};
	struct jose_jwk *k = NULL;
	const struct json_value *v = json_parse(a, p, len, &lim, err);
	if (v)
		k = jose_jwk_from_json(v, err);
	else if (err && err->code != 413)
		err->code = 400;
	bw_arena_free(a);
	return k;
}

/* ---------------------------------------------------------------- write */

int jose_b64_bn(struct json_writer *w, const char *key, const void *bnv,
		size_t pad, struct bw_err *err)
{
	const BIGNUM *bn = bnv;
	uint8_t buf[BIGNUM_MAX];
	char enc[BIGNUM_MAX * 4 / 3 + 4];
	int n = BN_num_bytes(bn);
	if (pad && (size_t)n > pad)
		return bw_err_set(err, 500, "crypto", "bad_key",
				  "integer too large");
	if (n > BIGNUM_MAX)
		return bw_err_set(err, 500, "crypto", "bad_key",
				  "integer too large");
	int len = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	if (len < 0)
		return bw_err_openssl(err, "crypto", "bn2bin");
	size_t el = crypto_b64url_encode_to(buf, (size_t)len, enc);
	json_write_key(w, key);
	json_write_stringn(w, enc, el);
	bw_wipe(buf, sizeof(buf));
	bw_wipe(enc, sizeof(enc));
	return 0;
}

static void write_b64(struct json_writer *w, const char *key, const uint8_t *p,
		      size_t n)
{
	char enc[JOSE_OCT_MAX * 4 / 3 + 4];
	size_t el = crypto_b64url_encode_to(p, n, enc);
	json_write_key(w, key);
	json_write_stringn(w, enc, el);
	bw_wipe(enc, sizeof(enc));
}

/* Writes one BIGNUM parameter of pkey under `key`. */
static int write_bn_param(struct json_writer *w, const EVP_PKEY *pk,
			  const char *param, const char *key, size_t pad,
			  struct bw_err *err)
{
	BIGNUM *bn = NULL;
	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return bw_err_openssl(err, "crypto", param);
	int rc = jose_b64_bn(w, key, bn, pad, err);
	BN_clear_free(bn);
	return rc;
}

/*
 * The key's own members. thumb: only the RFC 7638 required members, in
 * lexicographic order, preceded by nothing (the caller opened the object).
 */
static int write_members(const struct jose_jwk *k, bool priv, bool thumb,
			 struct json_writer *w, struct bw_err *err)
{
	switch (k->kty) {
	case JOSE_KTY_EC: {
		size_t fs = jose_crv_size(k->crv);
		json_write_kv_string(w, "crv", crv_name(k->crv));
		if (thumb)
			json_write_kv_string(w, "kty", "EC");
		if (write_bn_param(w, k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, "x",
				   fs, err) < 0 ||
		    write_bn_param(w, k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, "y",
				   fs, err) < 0)
			return -1;
		if (priv && !thumb &&
		    write_bn_param(w, k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, "d",
				   fs, err) < 0)
			return -1;
		return 0;
	}
	case JOSE_KTY_OKP: {
		uint8_t raw[32];
		size_t rl = sizeof(raw);
		json_write_kv_string(w, "crv", crv_name(k->crv));
		if (thumb)
			json_write_kv_string(w, "kty", "OKP");
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rl) != 1)
			return bw_err_openssl(err, "crypto", "Ed25519 export");
		write_b64(w, "x", raw, rl);
		if (priv && !thumb) {
			rl = sizeof(raw);
			if (EVP_PKEY_get_raw_private_key(k->pkey, raw, &rl) !=
			    1)
				return bw_err_openssl(err, "crypto",
						      "Ed25519 export");
			write_b64(w, "d", raw, rl);
			bw_wipe(raw, sizeof(raw));
		}
		return 0;
	}
	case JOSE_KTY_RSA: {
		if (write_bn_param(w, k->pkey, OSSL_PKEY_PARAM_RSA_E, "e", 0,
				   err) < 0)
			return -1;
		if (thumb)
			json_write_kv_string(w, "kty", "RSA");
		if (write_bn_param(w, k->pkey, OSSL_PKEY_PARAM_RSA_N, "n", 0,
				   err) < 0)
			return -1;
		if (!priv || thumb)
			return 0;
		if (write_bn_param(w, k->pkey, OSSL_PKEY_PARAM_RSA_D, "d", 0,
				   err) < 0)
			return -1;
		static const char *const crt[][2] = {
		    {OSSL_PKEY_PARAM_RSA_FACTOR1, "p"},
		    {OSSL_PKEY_PARAM_RSA_FACTOR2, "q"},
		    {OSSL_PKEY_PARAM_RSA_EXPONENT1, "dp"},
		    {OSSL_PKEY_PARAM_RSA_EXPONENT2, "dq"},
		    {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "qi"},
		};
		BIGNUM *probe = NULL;
		/* A d-only key has no CRT values to write. */
		if (EVP_PKEY_get_bn_param(k->pkey, crt[0][0], &probe) != 1) {
			ERR_clear_error();
			return 0;
		}
		BN_clear_free(probe);
		for (size_t i = 0; i < BW_ARRAY_LEN(crt); i++)
			if (write_bn_param(w, k->pkey, crt[i][0], crt[i][1], 0,
					   err) < 0)
				return -1;
		return 0;
	}
	case JOSE_KTY_OCT:
		if (!priv)
			return bw_err_set(err, 400, "crypto", "secret_key",
					  "an oct key has no public form");
		write_b64(w, "k", k->oct, k->oct_len);
		if (thumb)
			json_write_kv_string(w, "kty", "oct");
		return 0;
	}
	return bw_err_set(err, 500, "crypto", "bad_key", "unknown key type");
}

static const char *kty_name(enum jose_kty t)
{
	switch (t) {
	case JOSE_KTY_EC:
		return "EC";
	case JOSE_KTY_OKP:
		return "OKP";
	case JOSE_KTY_RSA:
		return "RSA";
	case JOSE_KTY_OCT:
		return "oct";
	}
	return "";
}

int jose_jwk_write(const struct jose_jwk *k, bool with_private,
		   struct json_writer *w, struct bw_err *err)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "kty", kty_name(k->kty));
	if (k->kid[0])
		json_write_kv_string(w, "kid", k->kid);
	if (k->use != JOSE_USE_ANY)
		json_write_kv_string(w, "use",
				     k->use == JOSE_USE_SIG ? "sig" : "enc");
	if (k->alg != JOSE_ALG_INVALID)
		json_write_kv_string(w, "alg", jose_alg_name(k->alg));
	if (k->has_ops) {
		json_write_key(w, "key_ops");
		json_write_array_begin(w);
		if (k->ops & JOSE_OP_SIGN && with_private)
			json_write_string(w, "sign");
		if (k->ops & JOSE_OP_VERIFY)
			json_write_string(w, "verify");
		json_write_array_end(w);
	}
	if (write_members(k, with_private && k->has_private, false, w, err) < 0)
		return -1;
	json_write_object_end(w);
	if (w->failed)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "JWK output too large");
	return 0;
}

int jose_jwk_thumbprint(const struct jose_jwk *k, char out[44],
			struct bw_err *err)
{
	struct bw_buf b;
	struct json_writer w;
	uint8_t h[CRYPTO_SHA256_LEN];
	int rc = -1;
	bw_buf_init(&b, 4096);
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	if (write_members(k, k->kty == JOSE_KTY_OCT, true, &w, err) < 0)
		goto out;
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		bw_err_set(err, 500, "crypto", "too_large",
			   "thumbprint input too large");
		goto out;
	}
	crypto_sha256(b.data, b.len, h);
	crypto_b64url_encode_to(h, sizeof(h), out);
	rc = 0;
out:
	bw_buf_wipe_fini(&b);
	return rc;
}

/* ------------------------------------------------------------ construct */

static int set_kid(struct jose_jwk *k, const char *kid, struct bw_err *err)
{
	if (kid) {
		size_t n = strlen(kid);
		if (n > JOSE_KID_MAX)
			return bw_err_set(err, 400, "crypto", "bad_kid",
					  "kid too long");
		memcpy(k->kid, kid, n + 1);
		return 0;
	}
	return jose_jwk_thumbprint(k, k->kid, err);
}

struct jose_jwk *jose_jwk_from_oct(const void *bytes, size_t n, const char *kid,
				   enum jose_alg alg, struct bw_err *err)
{
	if (n == 0 || n > JOSE_OCT_MAX ||
	    (alg != JOSE_ALG_INVALID && alg != JOSE_ALG_HS256)) {
		bw_err_set(err, 400, "crypto", "bad_key",
			   "oct key of 1..%d bytes for HS256", JOSE_OCT_MAX);
		return NULL;
	}
	struct jose_jwk *k = calloc(1, sizeof(*k));
	if (!k || !(k->oct = malloc(n))) {
		free(k);
		bw_err_set(err, 500, "crypto", "memory", "out of memory");
		return NULL;
	}
	memcpy(k->oct, bytes, n);
	k->oct_len = n;
	k->kty = JOSE_KTY_OCT;
	k->alg = alg;
	k->use = JOSE_USE_SIG;
	k->has_private = true;
	if (set_kid(k, kid, err) < 0) {
		jose_jwk_free(k);
		return NULL;
	}
	return k;
}

struct jose_jwk *jose_jwk_from_pkey(void *evp_pkey, const char *kid,
				    enum jose_alg alg, struct bw_err *err)
{
	EVP_PKEY *pk = evp_pkey;
	struct jose_jwk *k = calloc(1, sizeof(*k));
	if (!k) {
		bw_err_set(err, 500, "crypto", "memory", "out of memory");
		return NULL;
	}
	BIGNUM *priv = NULL;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC: {
		char group[64];
		k->kty = JOSE_KTY_EC;
		if (EVP_PKEY_get_utf8_string_param(
			pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
			NULL) != 1)
			goto bad;
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0)
			k->crv = JOSE_CRV_P256;
		else if (strcmp(group, "secp384r1") == 0 ||
			 strcmp(group, "P-384") == 0)
			k->crv = JOSE_CRV_P384;
		else
			goto bad;
		k->has_private = EVP_PKEY_get_bn_param(
				     pk, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
		break;
	}
	case EVP_PKEY_ED25519: {
		uint8_t raw[32];
		size_t rl = sizeof(raw);
		k->kty = JOSE_KTY_OKP;
		k->crv = JOSE_CRV_ED25519;
		k->has_private =
		    EVP_PKEY_get_raw_private_key(pk, raw, &rl) == 1;
		bw_wipe(raw, sizeof(raw));
		break;
	}
	case EVP_PKEY_RSA: {
		int bits = EVP_PKEY_get_bits(pk);
		k->kty = JOSE_KTY_RSA;
		if (bits < JOSE_RSA_MIN_BITS || bits > JOSE_RSA_MAX_BITS)
			goto bad;
		k->has_private = EVP_PKEY_get_bn_param(
				     pk, OSSL_PKEY_PARAM_RSA_D, &priv) == 1;
		break;
	}
	default:
		goto bad;
	}
	BN_clear_free(priv);
	ERR_clear_error();
	if (alg != JOSE_ALG_INVALID &&
	    (jose_alg_kty(alg) != k->kty ||
	     (k->kty != JOSE_KTY_RSA && jose_alg_crv(alg) != k->crv)))
		goto bad;
	if (!EVP_PKEY_up_ref(pk))
		goto bad;
	k->pkey = pk;
	k->alg = alg;
	k->use = JOSE_USE_SIG;
	if (set_kid(k, kid, err) < 0) {
		jose_jwk_free(k);
		return NULL;
	}
	return k;
bad:
	BN_clear_free(priv);
	ERR_clear_error();
	free(k);
	bw_err_set(
	    err, 400, "crypto", "bad_key",
	    "key type, curve or size not supported for JOSE (or alg mismatch)");
	return NULL;
}

struct jose_jwk *jose_jwk_generate(enum jose_alg alg, const char *kid,
				   struct bw_err *err)
{
	EVP_PKEY *pk = NULL;
	switch (alg) {
	case JOSE_ALG_HS256: {
		uint8_t key[32];
		bw_random(key, sizeof(key));
		struct jose_jwk *k =
		    jose_jwk_from_oct(key, sizeof(key), kid, alg, err);
		bw_wipe(key, sizeof(key));
		return k;
	}
	case JOSE_ALG_RS256:
	case JOSE_ALG_PS256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case JOSE_ALG_ES256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case JOSE_ALG_ES384:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case JOSE_ALG_EDDSA:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case JOSE_ALG_INVALID:
		break;
	}
	if (!pk) {
		bw_err_openssl(err, "crypto", "key generation");
		return NULL;
	}
	struct jose_jwk *k = jose_jwk_from_pkey(pk, kid, alg, err);
	EVP_PKEY_free(pk);
	return k;
}

struct jose_jwk *jose_jwk_public(const struct jose_jwk *k, struct bw_err *err)
{
	if (k->kty == JOSE_KTY_OCT) {
		bw_err_set(err, 400, "crypto", "secret_key",
			   "an oct key has no public form");
		return NULL;
	}
	/* Round-trip through the JWK text: the public copy then passes the
	 * same validation as any key read from outside. */
	struct bw_buf b;
	struct json_writer w;
	struct jose_jwk *pub = NULL;
	bw_buf_init(&b, JOSE_JWK_MAX);
	json_writer_init(&w, &b);
	if (jose_jwk_write(k, false, &w, err) == 0) {
		if (json_writer_finish(&w) < 0)
			bw_err_set(err, 500, "crypto", "too_large",
				   "JWK too large");
		else
			pub = jose_jwk_parse(b.data, b.len, err);
	}
	bw_buf_fini(&b);
	return pub;
}

/* ----------------------------------------------------------------- JWKS */

void jose_jwks_init(struct jose_jwks *s)
{
	memset(s, 0, sizeof(*s));
}

void jose_jwks_fini(struct jose_jwks *s)
{
	for (size_t i = 0; i < s->n; i++)
		jose_jwk_free(s->keys[i]);
	s->n = 0;
}

const struct jose_jwk *jose_jwks_find(const struct jose_jwks *s,
				      const char *kid, size_t kidlen)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->keys[i]->kid[0] &&
		    bw_str_eq_lit(bw_str_make(kid, kidlen), s->keys[i]->kid))
			return s->keys[i];
	return NULL;
}

int jose_jwks_add(struct jose_jwks *s, struct jose_jwk *k, struct bw_err *err)
{
	if (s->n == JOSE_JWKS_KEYS_MAX) {
		jose_jwk_free(k);
		return bw_err_set(err, 413, "crypto", "too_many_keys",
				  "a key set holds at most %d keys",
				  JOSE_JWKS_KEYS_MAX);
	}
	if (k->kid[0] && jose_jwks_find(s, k->kid, strlen(k->kid))) {
		jose_jwk_free(k);
		return bw_err_set(err, 409, "crypto", "dup_kid",
				  "two keys in one set share a kid");
	}
	s->keys[s->n++] = k;
	return 0;
}

int jose_jwks_parse(struct jose_jwks *s, const char *p, size_t len, bool strict,
		    size_t *skipped, struct bw_err *err)
{
	int rc = -1;
	size_t skip = 0;
	if (len > JOSE_JWKS_MAX)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "JWKS over %zu bytes", (size_t)JOSE_JWKS_MAX);
	struct bw_arena *a = jose_arena(JOSE_JWKS_MAX);
	if (!a)
		return bw_err_set(err, 500, "crypto", "memory",
				  "out of memory");
	struct json_limits lim = {.max_bytes = JOSE_JWKS_MAX,
				  .max_depth = JOSE_JSON_DEPTH_MAX,
				  .max_members = JOSE_JSON_MEMBERS_MAX};
	const struct json_value *v = json_parse(a, p, len, &lim, err);
	if (!v) {
		if (err && err->code != 413)
			err->code = 400;
		goto out;
	}
	const struct json_value *keys = json_get(v, "keys");
	if (v->type != JSON_OBJECT || !keys || keys->type != JSON_ARRAY) {
		bw_err_set(err, 400, "crypto", "bad_jwks",
			   "a JWKS is an object with a \"keys\" array");
		goto out;
	}
	if (keys->u.arr.n > JOSE_JWKS_KEYS_MAX) {
		bw_err_set(err, 413, "crypto", "too_many_keys",
			   "a key set holds at most %d keys",
			   JOSE_JWKS_KEYS_MAX);
		goto out;
	}
	for (size_t i = 0; i < keys->u.arr.n; i++) {
		struct bw_err kerr;
		struct jose_jwk *k =
		    jose_jwk_from_json(keys->u.arr.items[i], &kerr);
		if (!k) {
			if (strict) {
				if (err)
					*err = kerr;
				goto out;
			}
			skip++;
			continue;
		}
		if (jose_jwks_add(s, k, err) < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		jose_jwks_fini(s);
	if (skipped)
		*skipped = skip;
	bw_arena_free(a);
	return rc;
}

int jose_jwks_write_public(const struct jose_jwks *s, struct bw_buf *out,
			   struct bw_err *err)
{
	struct json_writer w;
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	json_write_key(&w, "keys");
	json_write_array_begin(&w);
	for (size_t i = 0; i < s->n; i++) {
		if (s->keys[i]->kty == JOSE_KTY_OCT)
			continue;
		if (jose_jwk_write(s->keys[i], false, &w, err) < 0)
			return -1;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		return bw_err_set(err, 413, "crypto", "too_large",
				  "JWKS output too large");
	return 0;
}
