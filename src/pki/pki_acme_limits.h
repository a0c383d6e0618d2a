/*
 * pki_acme_limits.h — every bound the ACME server (RFC 8555) enforces on
 * what clients send (request bodies, JWS parts, identifiers, contacts,
 * CSRs) and on what it keeps (nonces, in-flight validations, orders), with
 * the default and, where configuration may choose, the hard maximum.
 * The CA's own bounds (names, CSR contents, validity) are in pki_limits.h
 * and apply to ACME issuance unchanged.
 */
#ifndef BW_PKI_ACME_LIMITS_H
#define BW_PKI_ACME_LIMITS_H

#include "pki/pki_limits.h"

/* One ACME request body (a flattened JWS in JSON). The largest legitimate
 * one is a finalize with an RSA-8192 CSR and 100 names (~40 KiB in
 * base64url inside the JWS payload, which is itself base64url); 128 KiB
 * fits that with room and refuses anything else early. */
#define PKI_ACME_BODY_MAX ((size_t)128 << 10)
/* The decoded protected header: alg, nonce, url and an RSA-8192 JWK
 * (~1.5 KiB) or an account URL. */
#define PKI_ACME_HEADER_MAX ((size_t)8 << 10)
/* JSON nesting in bodies: a JWS inside a payload (key change, EAB) is
 * three levels; 16 leaves room without letting a client recurse. */
#define PKI_ACME_JSON_DEPTH 16
/* Members in one JSON object or items in one array: 100 identifiers plus
 * slack. */
#define PKI_ACME_JSON_MEMBERS 256

/* Nonces kept (each is 32 bytes of memory). 65,536 outstanding nonces
 * serve thousands of concurrent clients; the hard maximum (4 M, 128 MiB)
 * is what one process should spend on them. A nonce pushed out by newer
 * ones is simply refused with badNonce, which clients retry. */
#define PKI_ACME_NONCES_DEFAULT 65536
#define PKI_ACME_NONCES_HARD ((size_t)1 << 22)
/* A nonce is good for one hour (clients use theirs within seconds). */
#define PKI_ACME_NONCE_TTL_DEFAULT_S ((int64_t)3600)
#define PKI_ACME_NONCE_TTL_MAX_S ((int64_t)86400)
/* Raw nonce bytes: a 4-byte slot index and 12 random bytes (96 bits are
 * unguessable); base64url is 22 characters. */
#define PKI_ACME_NONCE_BYTES 16
#define PKI_ACME_NONCE_B64 22

/* Resource ids (accounts, orders, authorizations, challenges): 16 random
 * bytes as 22 base64url characters. */
#define PKI_ACME_ID_LEN 22
/* Challenge tokens: 32 random bytes (RFC 8555 section 8.1 asks for at
 * least 128 bits of entropy), 43 base64url characters. */
#define PKI_ACME_TOKEN_LEN 43
/* A JWK thumbprint (RFC 7638, SHA-256 base64url). */
#define PKI_ACME_THUMB_LEN 43
/* key authorization = token "." thumbprint */
#define PKI_ACME_KEYAUTH_LEN (PKI_ACME_TOKEN_LEN + 1 + PKI_ACME_THUMB_LEN)

/* A URL the client signs ("url" header, "kid"): base URL plus the
 * longest resource path. */
#define PKI_ACME_URL_MAX 512
/* The configured external base URL ("https://acme.example.net"). */
#define PKI_ACME_BASE_URL_MAX 256

/* Identifiers in one order: the CA's SAN ceiling. */
#define PKI_ACME_IDENTIFIERS_MAX PKI_SANS_MAX
/* Contact URLs on one account (mailto: only) and the length of each. */
#define PKI_ACME_CONTACTS_MAX 4
#define PKI_ACME_CONTACT_MAX 254
/* The stored contact list as JSON. */
#define PKI_ACME_CONTACTS_JSON_MAX 1200

/* Orders not yet valid or invalid, per account: a client looping on
 * newOrder gets rateLimited instead of filling the store. */
#define PKI_ACME_PENDING_ORDERS_MAX 300
/* Order URLs listed by the account's orders resource, newest first. */
#define PKI_ACME_ORDER_LIST_MAX 1000

/* Lifetimes: a pending order or authorization lasts 7 days (what public
 * CAs use), at most 30; a valid authorization is not reused across
 * orders, so its lifetime only bounds how long it is shown. */
#define PKI_ACME_ORDER_TTL_DEFAULT_S ((int64_t)7 * 86400)
#define PKI_ACME_ORDER_TTL_MAX_S ((int64_t)30 * 86400)

/* Validations in flight at once (per server). More are refused with
 * rateLimited so a burst cannot tie up the validator's threads. */
#define PKI_ACME_VALIDATIONS_DEFAULT 256
#define PKI_ACME_VALIDATIONS_HARD 4096
/* Threads doing blocking validations (dns-01 lookups, tls-alpn-01
 * handshakes). */
#define PKI_ACME_VALIDATORS_DEFAULT 2
#define PKI_ACME_VALIDATORS_HARD 32
/* One validation's deadline: a connection, a TLS handshake, a DNS query
 * with its retries. */
#define PKI_ACME_VALIDATION_TIMEOUT_MS 10000
/* The http-01 response body: a key authorization is 87 bytes; a page
 * (an error page, a redirect body) is read up to this and then refused. */
#define PKI_ACME_HTTP01_BODY_MAX 4096
/* A DNS answer for the dns-01 TXT lookup (EDNS0 size). */
#define PKI_ACME_DNS_ANSWER_MAX 4096
/* TXT records examined in one answer. */
#define PKI_ACME_DNS_TXT_MAX 64

/* EAB: key ids are 22 base64url characters, HMAC keys 32 bytes
 * (HS256's minimum, RFC 7518 section 3.2). A tenant may hold this many
 * unused keys. */
#define PKI_ACME_EAB_KID_LEN 22
#define PKI_ACME_EAB_KEY_LEN 32
#define PKI_ACME_EAB_UNUSED_MAX 1000

/* Tenants with an ACME directory (held in memory for the fast GETs). */
#define PKI_ACME_TENANTS_MAX 4096

#endif
