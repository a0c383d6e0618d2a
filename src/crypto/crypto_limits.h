/*
 * crypto_limits.h — every bound the JOSE code enforces on untrusted input
 * (tokens, JWKs, JWKS documents), with its default and, where a caller may
 * choose, the hard maximum it may not exceed.
 */
#ifndef BW_CRYPTO_LIMITS_H
#define BW_CRYPTO_LIMITS_H

/* Compact JWS / JWT length. 8 KiB holds an access or ID token with a few
 * dozen claims and an RSA-4096 signature (683 characters); browsers and
 * proxies cap a header line near there anyway. */
#define JOSE_TOKEN_MAX_DEFAULT ((size_t)8 << 10)
/* 64 KiB: the largest token a verifier may be configured to accept (e.g.
 * a signed software statement); beyond it a token is an attack on memory. */
#define JOSE_TOKEN_MAX_HARD ((size_t)64 << 10)

/* Decoded protected header. Real headers ("alg","kid","typ") are < 200
 * bytes; 1 KiB leaves room for x5t and crit without inviting big JSON. */
#define JOSE_HEADER_MAX 1024
/* JSON nesting inside a header or JWT payload. Claims sets are flat or
 * one level deep (address, cnf); 16 stops deep-nesting tricks early. */
#define JOSE_JSON_DEPTH_MAX 16
/* Members in a header or claims object / items in an array. */
#define JOSE_JSON_MEMBERS_MAX 256

/* One JWK document. An RSA-8192 private key with CRT members is about
 * 7 KiB in base64url; 16 KiB covers it with metadata. */
#define JOSE_JWK_MAX ((size_t)16 << 10)
/* A JWKS document. 64 keys of RSA-4096 public (~800 bytes each) fit in
 * 64 KiB; 256 KiB allows private key sets and x5c chains. */
#define JOSE_JWKS_MAX ((size_t)256 << 10)
/* Keys in one JWKS. Providers publish 2–4 (current, next, previous);
 * 64 bounds the linear kid lookup. */
#define JOSE_JWKS_KEYS_MAX 64

/* "kid" bytes. Thumbprints are 43 characters, UUIDs 36; 128 covers
 * any sane naming scheme. */
#define JOSE_KID_MAX 128

/* RSA modulus bits: 2048 is the floor NIST SP 800-131A allows; 8192 caps
 * the cost of one verification (an attacker-chosen key in a JWKS). */
#define JOSE_RSA_MIN_BITS 2048
#define JOSE_RSA_MAX_BITS 8192
/* RSA public exponent bytes (65537 is 3 bytes). */
#define JOSE_RSA_E_MAX 8

/* Symmetric ("oct") key bytes: 512 is far above any HMAC key size in
 * use; HS256 additionally demands >= 32 (RFC 7518 section 3.2). */
#define JOSE_OCT_MAX 512
#define JOSE_HS256_MIN 32

/* Signature bytes: RSA-8192 is 1024 bytes, the largest we accept. */
#define JOSE_SIG_MAX 1024

/* Clock leeway a validator may allow for exp/nbf/iat: default 60 s, at
 * most 10 minutes (more would make exp meaningless for short tokens). */
#define JOSE_LEEWAY_DEFAULT_S 60
#define JOSE_LEEWAY_MAX_S 600

#endif
