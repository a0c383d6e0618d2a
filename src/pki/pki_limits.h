/*
 * pki_limits.h — every bound the certificate authority enforces on what it
 * is given (CSRs, names, OCSP requests, policies) and on what it keeps
 * (caches, CRLs), with the default and, where configuration may choose,
 * the hard maximum it may not exceed.
 */
#ifndef BW_PKI_LIMITS_H
#define BW_PKI_LIMITS_H

/* A CSR as received (PEM or DER). An RSA-4096 CSR with 100 SANs is about
 * 6 KiB in PEM; 16 KiB leaves room for long URIs. */
#define PKI_CSR_MAX_DEFAULT ((size_t)16 << 10)
/* 64 KiB: RSA-8192 with the maximum number of long names; anything larger
 * is an attack on the ASN.1 parser's memory. */
#define PKI_CSR_MAX_HARD ((size_t)64 << 10)

/* Subject alternative names in one certificate. 100 is what public CAs
 * allow (Let's Encrypt); more makes certificates too big for handshakes. */
#define PKI_SANS_MAX 100
/* A DNS name: RFC 1035 says 253 characters in text form, 63 per label. */
#define PKI_DNS_NAME_MAX 253
#define PKI_DNS_LABEL_MAX 63
/* A URI SAN. SPIFFE IDs are limited to 2048 bytes by the SPIFFE spec. */
#define PKI_URI_MAX 2048
/* A subject common name: RFC 5280's ub-common-name is 64 characters. */
#define PKI_CN_MAX 64
/* A CA subject DN given as text ("CN=...,O=..."). 8 RDNs of 64 chars. */
#define PKI_SUBJECT_MAX 512
/* A CA's display name and tenant id (they appear in URLs and keys). */
#define PKI_NAME_MAX 64
#define PKI_TENANT_MAX 64

/* RSA modulus bits accepted in CSRs and generated: 2048 is the floor NIST
 * SP 800-131A allows; 8192 caps the cost of one verification. */
#define PKI_RSA_MIN_BITS 2048
#define PKI_RSA_MAX_BITS 8192

/* Signature bytes from a signer: RSA-8192 is 1024; ECDSA P-384 DER ~104. */
#define PKI_SIG_MAX 1024
/* A key id handed out by a key backend ("dev:" + 32 hex, or a kms name). */
#define PKI_KEY_ID_MAX 96

/* Entries in each policy list (domains, IP ranges, URI prefixes, CN
 * patterns). Policies are written by administrators; 256 keeps the linear
 * match per name cheap. */
#define PKI_POLICY_LIST_MAX 256
/* One policy document as JSON. */
#define PKI_POLICY_JSON_MAX ((size_t)64 << 10)

/* Name-constraint subtrees on one CA (permitted + excluded). */
#define PKI_NC_MAX 64

/* CAs held in memory (all tenants). Each is a few KiB; 4096 tenants with
 * a root and an intermediate fit. */
#define PKI_CA_MAX 8192

/* Certificate validity: default 90 days (what ACME clients expect), at
 * most 825 days for leaves (the old CA/B ceiling; private CAs rarely need
 * more), CAs default 10 years and at most 30. */
#define PKI_LEAF_VALIDITY_DEFAULT_S ((int64_t)90 * 86400)
#define PKI_LEAF_VALIDITY_MAX_S ((int64_t)825 * 86400)
#define PKI_CA_VALIDITY_DEFAULT_S ((int64_t)3650 * 86400)
#define PKI_CA_VALIDITY_MAX_S ((int64_t)30 * 365 * 86400)
/* notBefore is set this far in the past so relying parties whose clock is
 * a little behind do not see a certificate from the future. */
#define PKI_BACKDATE_S 60

/* An OCSP request (DER). One CertID with a nonce is ~120 bytes; 4 KiB
 * allows a signed request with its certificate. The GET form's path
 * carries base64 of it, percent-encoded (at most 3x the base64). */
#define PKI_OCSP_REQ_MAX 4096
#define PKI_OCSP_GET_PATH_MAX 8192
/* The nonce: RFC 8954 says 1 to 32 octets. */
#define PKI_OCSP_NONCE_MAX 32

/* OCSP timing defaults (seconds) and bounds:
 * - a response is valid 4 days (nextUpdate - thisUpdate), at most 7 (the
 *   CA/B ceiling), at least 1 hour;
 * - cached responses are re-signed after 1 day (well before expiry);
 * - the delegated responder certificate lives 30 days, at most 90, and is
 *   replaced when a third of its life is left. */
#define PKI_OCSP_VALIDITY_DEFAULT_S ((int64_t)4 * 86400)
#define PKI_OCSP_VALIDITY_MIN_S ((int64_t)3600)
#define PKI_OCSP_VALIDITY_MAX_S ((int64_t)7 * 86400)
#define PKI_OCSP_REFRESH_DEFAULT_S ((int64_t)86400)
#define PKI_OCSP_RESPONDER_VALIDITY_DEFAULT_S ((int64_t)30 * 86400)
#define PKI_OCSP_RESPONDER_VALIDITY_MAX_S ((int64_t)90 * 86400)
/* Pre-signed responses kept in memory. A response is ~300–500 bytes with
 * an EC responder; 4 M entries is about 2 GiB, the most a deployment
 * should give this cache. The default covers 1 M certificates. */
#define PKI_OCSP_CACHE_DEFAULT 1200000
#define PKI_OCSP_CACHE_HARD 4000000
/* Responses re-signed per pki_tick call, so one tick stays short. */
#define PKI_OCSP_REFRESH_BATCH 20000

/* CRL timing: nextUpdate 7 days after thisUpdate (at most 10, the CA/B
 * ceiling for subscriber CRLs), regenerated when half of that has passed. */
#define PKI_CRL_VALIDITY_DEFAULT_S ((int64_t)7 * 86400)
#define PKI_CRL_VALIDITY_MAX_S ((int64_t)10 * 86400)

/* Inventory search: rows per page (default, most). */
#define PKI_LIST_DEFAULT 100
#define PKI_LIST_MAX 1000
/* Search text for the inventory's subject/SAN filter. */
#define PKI_SEARCH_MAX 253

/* Public URL prefix put into AIA/CDP extensions. */
#define PKI_URL_MAX 256

/* ------------------------------------------------ listener certificates */

/* Certificates bulwark manages for its own listeners: one per listener
 * is the use; 32 matches the daemon's listener limit. */
#define PKI_LCERT_MAX 32
/* Names on one listener certificate (the ACME order's identifiers). */
#define PKI_LCERT_NAMES_MAX 16
/* Listener TLS contexts attached at once: listeners times generations
 * still alive after reloads. */
#define PKI_LCERT_ATTACH_MAX 256
/* How often the manager looks at its certificates (the decisions use the
 * settable clock; this is only the polling period). */
#define PKI_LCERT_CHECK_DEFAULT_MS 60000
#define PKI_LCERT_CHECK_MIN_MS 200
#define PKI_LCERT_CHECK_MAX_MS 3600000
/* After a failed renewal the next attempt waits this long (doubling up to
 * the maximum), so a broken ACME server is not hammered. */
#define PKI_LCERT_RETRY_MIN_S 30
#define PKI_LCERT_RETRY_MAX_S 3600
/* Expiry alert thresholds (days): at most this many, each 1..365. */
#define PKI_LCERT_ALERTS_MAX 8
/* Alerts remembered (certificate, threshold) so each fires once per run;
 * beyond this the oldest are forgotten and may fire again. */
#define PKI_LCERT_ALERTED_MAX 65536
/* A kept certificate chain or sealed key (bytes): an RSA-4096 key in PEM
 * is ~3.3 KB and a chain of four certificates under 8 KB. */
#define PKI_LCERT_KEPT_MAX 65536
/* Inventory rows the expiry scan reads per tick. */
#define PKI_LCERT_SCAN_MAX 10000
/* Blocking HTTP of the ACME client and OCSP fetches: whole response body
 * (a PEM chain of a few certificates is far below), time per request. */
#define PKI_LCERT_HTTP_BODY_MAX (256 * 1024)
#define PKI_LCERT_HTTP_TIMEOUT_MS 15000
/* One ACME run (all polling included) gives up after this long. */
#define PKI_LCERT_ACME_DEADLINE_S 120
/* http-01 tokens published at once (one per authorization in flight). */
#define PKI_LCERT_TOKENS_MAX 64
#define PKI_LCERT_TOKEN_MAX 128

#endif
