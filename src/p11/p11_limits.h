/*
 * p11 limits: the PKCS#11 module's wire protocol and the socket server.
 * Each number is a hard maximum (nothing configures it up) unless marked
 * as a default with its own ceiling.
 */
#ifndef BW_P11_LIMITS_H
#define BW_P11_LIMITS_H

/* One message: a batch of 256 AES-GCM items of 512 bytes, or a single
 * 64 KiB item, with room for headers; the server forwards it to the key
 * process, whose messages are bounded at 192 KiB. */
#define P11_WIRE_MSG_MAX (160u * 1024u)
/* Fields in one message: a 256-item batch carries two per item (IV and
 * DATA); a list page five per key. */
#define P11_WIRE_FIELDS_MAX 1040u
/* Items in one encrypt/decrypt batch: the key process's batch maximum. */
#define P11_BATCH_MAX 256u
/* Data per item: the key process's per-item maximum (64 KiB) plus a GCM
 * tag. Multi-part operations accumulate up to P11_DATA_MAX as well. */
#define P11_DATA_MAX (64u * 1024u)
#define P11_DATA_FIELD_MAX (P11_DATA_MAX + 16u)
/* Additional authenticated data: the key process's AAD maximum. */
#define P11_AAD_MAX 8192u
/* A PIN (an API key is 72 bytes, a session token shorter). */
#define P11_PIN_MAX 256u
/* Tenant and key names: the keystore's name limit. */
#define P11_NAME_MAX 64u
/* Signatures: RSA-4096 is 512 bytes. */
#define P11_SIG_MAX 1024u
/* Public key parts: an RSA-4096 SPKI is ~550 bytes. */
#define P11_PUB_MAX 2048u
/* Error text in a response. */
#define P11_ERROR_MAX 200u
/* Random bytes per request (the key process's maximum). */
#define P11_RANDOM_MAX 4096u
/* Keys per list page: five fields each within P11_WIRE_FIELDS_MAX. */
#define P11_LIST_PAGE 200u
/* Tokens (tenants) shown as slots. */
#define P11_SLOTS_MAX 64u
/* After the first byte of a frame, the rest must arrive within this. */
#define P11_FRAME_TIMEOUT_MS 10000

/* Server: concurrent connections (each PKCS#11 session is one; a thread
 * each). Default 64, hard maximum 1024. */
#define P11_CONN_DEFAULT 64u
#define P11_CONN_MAX 1024u
/* Failed logins on one connection before it is closed; each failure also
 * costs the caller P11_LOGIN_DELAY_MS (online guessing stays slow). */
#define P11_LOGIN_FAILS_MAX 5u
/* A connection reuses an allow decision of the authorization engine for
 * this long: a revoked role stops working within a second, and a busy
 * session does not ask the engine for every signature. */
#define P11_AUTHZ_CACHE_MS 1000
/* With kms.pkcs11.audit: per_second, a session's successful uses of one
 * key for one operation are written as one counted record at most this
 * long after the first. */
#define P11_AUDIT_WINDOW_MS 1000
/* Key types a connection remembers (the type decides signature shapes;
 * it never changes for a name). */
#define P11_TYPE_CACHE 8u
#define P11_LOGIN_DELAY_MS 200

#endif
