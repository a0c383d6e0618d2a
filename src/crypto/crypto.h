/*
 * crypto — thin OpenSSL helpers other modules share (hashes, HMAC, AES-GCM,
 * strict base64url) and JOSE: JWK (RFC 7517/7518/8037), JWKS, JWS compact
 * serialisation (RFC 7515) and JWT validation (RFC 7519, RFC 8725).
 *
 * Naming: helpers are crypto_*, the JOSE layer is jose_* (the standard's
 * own vocabulary, so a reader of the RFCs finds things by name).
 *
 * Invariants this module keeps:
 *  - "alg":"none" never verifies and cannot be asked for: it is not an
 *    enum value;
 *  - a verifier accepts only algorithms on its own allow-list, and only
 *    with a key whose type matches the algorithm (oct only for HS*, RSA
 *    only for RS/PS, EC P-256 only for ES256, P-384 only for ES384, OKP
 *    Ed25519 only for EdDSA), and whose own "alg"/"use"/"key_ops" allow
 *    it: there is no path by which an HMAC verifier uses public key bytes
 *    as a secret, or an asymmetric verifier accepts an HMAC;
 *  - keys come only from the verifier's key set, never from the token
 *    ("jwk", "jku", "x5u" headers are refused), and "kid" is only compared
 *    byte for byte against that set;
 *  - every input is bounded (crypto_limits.h) and base64url is strict:
 *    no padding, no whitespace, no non-canonical trailing bits;
 *  - signatures are verified before the payload is parsed;
 *  - secret key material (private keys, oct keys) is wiped when freed.
 *
 * Signing goes through struct jose_signer, a small callback interface, so
 * the keystore process (kms) can hold private keys and sign on request;
 * jose_signer_local() is the in-process implementation until then.
 */
#ifndef BW_CRYPTO_H
#define BW_CRYPTO_H

#include "core/core.h"
#include "crypto/crypto_limits.h"
#include "json/json.h"

/* ------------------------------------------------------------- helpers */

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA384_LEN 48
#define CRYPTO_SHA512_LEN 64

enum crypto_hash { CRYPTO_SHA1, CRYPTO_SHA256, CRYPTO_SHA384, CRYPTO_SHA512 };

/* Digest length in bytes of h. */
size_t crypto_hash_len(enum crypto_hash h);
/* out receives crypto_hash_len(h) bytes. Returns 0 or -1 with err. */
int crypto_hash(enum crypto_hash h, const void *in, size_t n, uint8_t *out,
		struct bw_err *err) BW_WUR;
void crypto_sha256(const void *in, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);
/* HMAC of msg with key; out receives crypto_hash_len(h) bytes. */
int crypto_hmac(enum crypto_hash h, const void *key, size_t keylen,
		const void *msg, size_t n, uint8_t *out,
		struct bw_err *err) BW_WUR;

#define CRYPTO_AEAD_KEY_LEN 32
#define CRYPTO_AEAD_NONCE_LEN 12
#define CRYPTO_AEAD_TAG_LEN 16

/*
 * AES-256-GCM. seal writes ct (n bytes) and tag; open checks the tag
 * before writing any plaintext to pt (on failure pt is zeroed) and fails
 * with 400 "bad_tag". aad may be NULL when aadlen is 0.
 */
int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY_LEN],
		     const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN],
		     const void *aad, size_t aadlen, const void *pt, size_t n,
		     uint8_t *ct, uint8_t tag[CRYPTO_AEAD_TAG_LEN],
		     struct bw_err *err) BW_WUR;
int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY_LEN],
		     const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN],
		     const void *aad, size_t aadlen, const void *ct, size_t n,
		     const uint8_t tag[CRYPTO_AEAD_TAG_LEN], uint8_t *pt,
		     struct bw_err *err) BW_WUR;

/* Base64url without padding (RFC 7515 section 2). encoded length of n
 * bytes: */
static inline size_t crypto_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}
/* Appends the encoding of (in, n) to out. -1 when out's ceiling is hit. */
int crypto_b64url_encode(const void *in, size_t n, struct bw_buf *out) BW_WUR;
/* Encodes into a char array of at least crypto_b64url_len(n) + 1 bytes
 * (NUL-terminated). Returns the length. */
size_t crypto_b64url_encode_to(const void *in, size_t n, char *out);
/*
 * Strict decode: only [A-Za-z0-9_-], no '=' padding, no whitespace, a
 * length that is not 1 mod 4, and zero unused bits in the last character
 * (so every byte string has exactly one accepted encoding). Writes at most
 * outcap bytes. Returns 0 (*outlen set) or -1: 400 "bad_base64url", or
 * 413 "too_large" when the result would not fit.
 */
int crypto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap,
			 size_t *outlen, struct bw_err *err) BW_WUR;
/* Upper bound of decoded bytes for n input characters. */
static inline size_t crypto_b64url_decoded_max(size_t n)
{
	return n / 4 * 3 + 2;
}

/* ------------------------------------------------------------- JOSE */

/* JWS algorithms bulwark implements (RFC 7518, RFC 8037). There is no
 * value for "none". */
enum jose_alg {
	JOSE_ALG_INVALID = 0,
	JOSE_ALG_HS256,
	JOSE_ALG_RS256,
	JOSE_ALG_PS256,
	JOSE_ALG_ES256,
	JOSE_ALG_ES384,
	JOSE_ALG_EDDSA,
};
#define JOSE_ALG_BIT(a) (1u << (a))
/* The asymmetric algorithms, the usual allow-list for a token verifier. */
#define JOSE_ALGS_ASYMMETRIC                                                   \
	(JOSE_ALG_BIT(JOSE_ALG_RS256) | JOSE_ALG_BIT(JOSE_ALG_PS256) |         \
	 JOSE_ALG_BIT(JOSE_ALG_ES256) | JOSE_ALG_BIT(JOSE_ALG_ES384) |         \
	 JOSE_ALG_BIT(JOSE_ALG_EDDSA))

/* "HS256" etc.; NULL for JOSE_ALG_INVALID. */
const char *jose_alg_name(enum jose_alg a);
/* JOSE_ALG_INVALID for unknown names and for "none". */
enum jose_alg jose_alg_from_name(const char *p, size_t n);

enum jose_kty { JOSE_KTY_OCT = 1, JOSE_KTY_EC, JOSE_KTY_OKP, JOSE_KTY_RSA };
enum jose_crv {
	JOSE_CRV_NONE = 0,
	JOSE_CRV_P256,
	JOSE_CRV_P384,
	JOSE_CRV_ED25519
};
enum jose_use { JOSE_USE_ANY = 0, JOSE_USE_SIG, JOSE_USE_ENC };

/* key_ops bits (RFC 7517 section 4.3) */
#define JOSE_OP_SIGN 0x1u
#define JOSE_OP_VERIFY 0x2u
#define JOSE_OP_OTHER 0x4u /* encrypt, wrapKey, ...: not for JWS */

/*
 * A parsed key. Opaque; read it through the accessors. Asymmetric keys
 * hold an OpenSSL EVP_PKEY; oct keys hold their bytes (wiped on free).
 */
struct jose_jwk;

/*
 * Parses one JWK JSON object from (p, len) (at most JOSE_JWK_MAX bytes).
 * Checks everything RFC 7517/7518/8037 demand and what RFC 8725 advises:
 * known kty/crv, exact coordinate lengths, the point on its curve, RSA
 * modulus between JOSE_RSA_MIN_BITS and JOSE_RSA_MAX_BITS with no leading
 * zero octet, private parts consistent with the public ones, "alg" known
 * and matching the key type, "use" "sig"/"enc", "key_ops" strings.
 * Unknown members are ignored (RFC 7517 section 4). Returns a key the
 * caller frees with jose_jwk_free, or NULL with err (400 with a reason
 * token such as "bad_kty", "bad_crv", "bad_point", "rsa_size", "bad_alg",
 * "bad_base64url"; 413 "too_large").
 */
struct jose_jwk *jose_jwk_parse(const char *p, size_t len,
				struct bw_err *err) BW_WUR;
/* The same from an already-parsed JSON object (borrowed). */
struct jose_jwk *jose_jwk_from_json(const struct json_value *v,
				    struct bw_err *err) BW_WUR;
void jose_jwk_free(struct jose_jwk *k); /* accepts NULL */

/*
 * Generates a fresh key pair for alg (an oct key of 32 bytes for HS256).
 * kid may be NULL: then the RFC 7638 thumbprint becomes the kid. The key's
 * "alg" is pinned to alg and "use" to "sig". Returns NULL with err.
 */
struct jose_jwk *jose_jwk_generate(enum jose_alg alg, const char *kid,
				   struct bw_err *err) BW_WUR;
/* An oct key from raw bytes (copied). alg may be JOSE_ALG_INVALID (not
 * pinned). */
struct jose_jwk *jose_jwk_from_oct(const void *k, size_t n, const char *kid,
				   enum jose_alg alg,
				   struct bw_err *err) BW_WUR;
/*
 * A key from an OpenSSL EVP_PKEY (EVP_PKEY *, declared void * so this
 * header needs no OpenSSL include). Takes a new reference; the caller
 * keeps its own. Used by the kms to publish public keys.
 */
struct jose_jwk *jose_jwk_from_pkey(void *evp_pkey, const char *kid,
				    enum jose_alg alg,
				    struct bw_err *err) BW_WUR;
/* A copy holding only the public part (NULL for oct keys: they have no
 * public part). */
struct jose_jwk *jose_jwk_public(const struct jose_jwk *k,
				 struct bw_err *err) BW_WUR;

enum jose_kty jose_jwk_kty(const struct jose_jwk *k);
enum jose_crv jose_jwk_crv(const struct jose_jwk *k);
/* "" when the key has none. */
const char *jose_jwk_kid(const struct jose_jwk *k);
enum jose_alg jose_jwk_alg(const struct jose_jwk *k); /* INVALID: unpinned */
enum jose_use jose_jwk_use(const struct jose_jwk *k);
bool jose_jwk_is_private(const struct jose_jwk *k);
/* The EVP_PKEY (borrowed) of an asymmetric key, NULL for oct. */
void *jose_jwk_pkey(const struct jose_jwk *k);
/* True when k may be used with alg for op (JOSE_OP_SIGN/VERIFY):
 * the key type fits the algorithm, and the key's alg/use/key_ops pins
 * allow it. HS256 also needs >= JOSE_HS256_MIN key bytes; signing needs
 * a private key. */
bool jose_jwk_usable(const struct jose_jwk *k, enum jose_alg alg, unsigned op);

/*
 * Writes k as a JWK JSON object into w (kty, kid, use, alg, then the key
 * members). Private members (d, p, q, dp, dq, qi, and k for oct) only
 * when with_private; an oct key without with_private is an error. Returns
 * 0 or -1 with err.
 */
int jose_jwk_write(const struct jose_jwk *k, bool with_private,
		   struct json_writer *w, struct bw_err *err) BW_WUR;
/* RFC 7638 SHA-256 thumbprint, base64url (43 chars + NUL). */
int jose_jwk_thumbprint(const struct jose_jwk *k, char out[44],
			struct bw_err *err) BW_WUR;

/* A key set (JWKS, RFC 7517 section 5). Owns its keys. */
struct jose_jwks {
	struct jose_jwk *keys[JOSE_JWKS_KEYS_MAX];
	size_t n;
};

void jose_jwks_init(struct jose_jwks *s);
void jose_jwks_fini(struct jose_jwks *s);
/* Adds k (takes ownership, also on failure). Refuses a second key with
 * the same non-empty kid (409 "dup_kid") and a full set (413). */
int jose_jwks_add(struct jose_jwks *s, struct jose_jwk *k,
		  struct bw_err *err) BW_WUR;
/*
 * Parses {"keys":[...]} into s (which must be empty). A key that fails to
 * parse fails the whole document when strict; otherwise it is skipped
 * (RFC 7517 section 5: "implementations SHOULD ignore JWKs ... that they
 * do not understand") and counted in *skipped (may be NULL). Duplicate
 * kids are always refused. Returns 0 or -1 with err; s is emptied on
 * failure.
 */
int jose_jwks_parse(struct jose_jwks *s, const char *p, size_t len, bool strict,
		    size_t *skipped, struct bw_err *err) BW_WUR;
/* Writes {"keys":[...]} with public parts only (oct keys are skipped). */
int jose_jwks_write_public(const struct jose_jwks *s, struct bw_buf *out,
			   struct bw_err *err) BW_WUR;
/* The key with exactly this kid, or NULL. */
const struct jose_jwk *jose_jwks_find(const struct jose_jwks *s,
				      const char *kid, size_t kidlen);

/* ------------------------------------------------------------- JWS */

/*
 * Who signs. sign() receives the JWS signing input and writes the raw JWS
 * signature (R||S for ECDSA, not DER) into sig (capacity sigcap, at least
 * JOSE_SIG_MAX); it runs on the caller's thread and may block (a kms
 * round trip). kid goes into the header ("" or NULL: none). public_jwk
 * is what the key set publishes (may be NULL for HS256).
 */
struct jose_signer {
	int (*sign)(void *ctx, enum jose_alg alg, const uint8_t *msg,
		    size_t len, uint8_t *sig, size_t sigcap, size_t *siglen,
		    struct bw_err *err);
	void *ctx;
	enum jose_alg alg;
	const char *kid;
	const struct jose_jwk *public_jwk;
};

/* Fills s to sign in-process with private key k (borrowed: it must
 * outlive s). alg INVALID takes the key's pinned alg. Fails (400
 * "key_unusable") when k cannot sign with alg. */
int jose_signer_local(struct jose_signer *s, const struct jose_jwk *k,
		      enum jose_alg alg, struct bw_err *err) BW_WUR;

/*
 * Appends a compact JWS of (payload, n) to out: protected header
 * {"alg","kid"?,"typ"?} (typ may be NULL), payload and signature, each
 * base64url. Returns 0 or -1 with err (out may hold a partial token to
 * discard).
 */
int jose_jws_sign(const struct jose_signer *s, const char *typ,
		  const void *payload, size_t n, struct bw_buf *out,
		  struct bw_err *err) BW_WUR;

/* What a verifier trusts. keys is borrowed. algs is a JOSE_ALG_BIT set;
 * 0 means nothing is accepted. max_token 0 means the default. */
struct jose_verifier {
	const struct jose_jwks *keys;
	unsigned algs;
	size_t max_token;
};

/* A verified JWS; everything lives in the arena passed to verify. */
struct jose_jws {
	enum jose_alg alg;
	const struct jose_jwk *key; /* the key that verified (borrowed) */
	const struct json_value *header;
	struct bw_str kid;	/* empty when absent */
	struct bw_str typ;	/* empty when absent */
	const uint8_t *payload; /* decoded, NUL-terminated */
	size_t payload_len;
};

/*
 * Verifies a compact JWS (three base64url parts). Order: size, shape,
 * header decode and JSON parse (strict, duplicates refused), "alg" known
 * and allowed, no "crit" we do not understand (we understand none),
 * no embedded key ("jwk", "jku", "x5u"), key selection by "kid" (unknown
 * kid fails; without kid exactly one usable key must exist), key/alg
 * compatibility, signature; only then the payload is decoded. Returns 0
 * with *out filled, or -1 with err: 400 with reasons "malformed",
 * "bad_base64url", "bad_header", "alg_none", "alg_unknown",
 * "alg_not_allowed", "crit", "embedded_key", "unknown_kid", "no_key",
 * "ambiguous_key", "key_alg_mismatch", "bad_signature"; 413 "too_large".
 */
int jose_jws_verify(const struct jose_verifier *v, const char *tok, size_t len,
		    struct bw_arena *a, struct jose_jws *out,
		    struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- JWT */

/* What a JWT must satisfy beyond its signature. Strings borrowed. */
struct jose_jwt_rules {
	const char *issuer;	/* required "iss" (exact) when not NULL */
	const char *audience;	/* must appear in "aud" when not NULL */
	const char *typ;	/* required header typ (case-insensitive,
				   "application/" prefix optional) when set */
	int64_t leeway_s;	/* for exp/nbf/iat; clamped to
				   JOSE_LEEWAY_MAX_S; negative = default */
	bool require_exp;	/* refuse tokens without "exp" */
	int64_t max_lifetime_s; /* > 0: exp - iat may not exceed it */
};

/* A validated JWT: the JWS plus its claims object. */
struct jose_jwt {
	struct jose_jws jws;
	const struct json_value *claims; /* a JSON object */
	int64_t exp, nbf, iat;		 /* 0 when absent */
	struct bw_str iss, sub;		 /* empty when absent */
};

/*
 * Verifies the JWS (jose_jws_verify), parses the payload as a JSON object
 * (bounded depth and members) and checks: header typ, "exp" (now <
 * exp + leeway), "nbf" (now >= nbf - leeway), "iat" (not after now +
 * leeway), numeric dates being integers in range, "iss", "aud" (a string
 * or an array of strings), max lifetime. Time is bw_clock_now_s(). Returns
 * 0 or -1 with err: the JWS reasons plus "bad_claims", "expired",
 * "not_yet_valid", "iat_future", "bad_typ", "bad_iss", "bad_aud",
 * "missing_exp", "lifetime".
 */
int jose_jwt_verify(const struct jose_verifier *v,
		    const struct jose_jwt_rules *rules, const char *tok,
		    size_t len, struct bw_arena *a, struct jose_jwt *out,
		    struct bw_err *err) BW_WUR;

#endif
