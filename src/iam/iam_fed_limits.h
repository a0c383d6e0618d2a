/*
 * Bounds of identity federation (iam_fed.c): every value an upstream
 * provider or an administrator controls, with the reason for each number.
 * Values without a separate hard maximum are fixed.
 */
#ifndef BW_IAM_FED_LIMITS_H
#define BW_IAM_FED_LIMITS_H

/* A provider's alias is a URL path segment (/federation/T/ALIAS/...):
 * a DNS-label-like name is enough and keeps URLs readable. */
#define IAM_FED_NAME_MAX 63
/* Issuer and endpoint URLs: real ones are well under 200 bytes; 512
 * leaves room for path-based multi-tenant issuers. */
#define IAM_FED_URL_MAX 512
/* Client ids of the big providers are < 100 characters. */
#define IAM_FED_CLIENT_ID_MAX 255
/* Client secrets: long random strings; a few hundred bytes at most. */
#define IAM_FED_SECRET_MAX 512
/* Claim names used for the user name ("preferred_username", "email"). */
#define IAM_FED_CLAIM_MAX 64
/* OpenID Connect Core 1.0 section 2: "sub" is at most 255 ASCII chars. */
#define IAM_FED_SUBJECT_MAX 255
/* Upstream providers per tenant: a handful in practice; bounded so a
 * tenant administrator cannot grow the list without limit. */
#define IAM_FED_PROVIDERS_MAX 16

/* A login started at the upstream must come back within this time: the
 * state row (nonce, PKCE verifier) dies after it. */
#define IAM_FED_STATE_TTL_S 600

/* Documents fetched from the upstream. Discovery documents of the large
 * providers are ~5 KiB, JWKS with a few RSA keys ~4 KiB, token responses
 * carry three tokens of a few KiB each: 64 KiB is generous for all. */
#define IAM_FED_DOC_MAX (64 * 1024)
/* An ID token: a few hundred bytes of claims and one signature; RS4096
 * tokens with many claims stay under 8 KiB. */
#define IAM_FED_ID_TOKEN_MAX 16384
/* Each upstream request must finish within this time (the login waits). */
#define IAM_FED_FETCH_TIMEOUT_MS 10000
/* Discovery documents and key sets are kept this long; a token signed by
 * a key not in the cached set triggers one refetch, at most every
 * IAM_FED_JWKS_REFRESH_MIN_S per issuer (an attacker sending unknown kids
 * cannot make bulwark hammer the upstream). */
#define IAM_FED_CACHE_TTL_S 3600
#define IAM_FED_JWKS_REFRESH_MIN_S 60
/* Issuers cached at once (every tenant's providers together). */
#define IAM_FED_CACHE_ENTRIES 64
/* Logins waiting on an upstream run on their own small pool: a slow
 * upstream can fill it (then 503) but never the shared pool. */
#define IAM_FED_THREADS 4
#define IAM_FED_QUEUE 256
/* Upstream requests in flight at once. */
#define IAM_FED_INFLIGHT 32
/* ID token lifetime accepted (exp - iat) and clock leeway. */
#define IAM_FED_ID_TOKEN_LIFETIME_MAX_S 86400
#define IAM_FED_LEEWAY_S 60

#endif
