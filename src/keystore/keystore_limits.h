/*
 * keystore limits: every input the key process accepts — messages from the
 * worker, its own files read back from a data directory someone may have
 * tampered with, unseal shares and passphrases typed by operators — is
 * bounded by a number here. _DEFAULT is what a fresh installation uses;
 * _HARD is what neither configuration nor a file may exceed.
 */
#ifndef BW_KEYSTORE_LIMITS_H
#define BW_KEYSTORE_LIMITS_H

/* One protocol message, header included. AF_UNIX SOCK_SEQPACKET carries a
 * message in one skb bounded by the socket send buffer (wmem_max defaults
 * to 208 KiB and an unprivileged process cannot raise it), so 192 KiB is
 * the largest message that is always deliverable. */
#define KEYSTORE_MSG_MAX (192u * 1024u)
/* Fields (TLVs) in one message: a full batch of KEYSTORE_BATCH_MAX items
 * with up to 7 fields each, plus the common ones. */
#define KEYSTORE_FIELDS_MAX 2048u
/* Items in one batch request or one list page: 256 amortises the process
 * crossing (the point of a batch) while keeping one request's latency and
 * the keystore's time away from other callers short. */
#define KEYSTORE_BATCH_MAX 256u

/* Tenant identifiers and key names: [A-Za-z0-9._-], not starting with a
 * dot, so they are safe as file names and URL path segments. 64 bytes
 * holds a UUID or a readable slug with room to spare. */
#define KEYSTORE_NAME_MAX 64u
/* Plaintext of one encrypt item and message of one sign/HMAC item: 64 KiB.
 * EaaS is for keys, tokens and records; bulk data is envelope-encrypted
 * with a data key instead of being shipped through the key process. */
#define KEYSTORE_DATA_MAX (64u * 1024u)
/* Associated data of one item: 8 KiB is ample for row identities and
 * context strings. */
#define KEYSTORE_AAD_MAX (8u * 1024u)
/* A ciphertext in its text armour: base64url of the 64 KiB maximum plus
 * the header and tag (4/3 expansion), rounded up. */
#define KEYSTORE_CTEXT_MAX (88u * 1024u)
/* Signatures: RSA-4096 is 512 bytes, the largest type we hold. */
#define KEYSTORE_SIG_MAX 1024u
/* MACs: HMAC-SHA-512 is 64 bytes. */
#define KEYSTORE_MAC_MAX 64u
/* Public keys in PEM or JWK, and wrapping public keys supplied by a
 * caller: RSA-4096 in PEM is about 800 bytes, in JWK about 750. */
#define KEYSTORE_PUBKEY_MAX 4096u
/* A wrapped key for import/export: RSA-OAEP block (512 bytes at most) plus
 * the RFC 5649 wrap of an RSA-4096 PKCS#8 key (about 2.4 KiB). */
#define KEYSTORE_WRAPPED_MAX 8192u
/* Random bytes per request: 4 KiB covers every key and nonce size; more
 * is the caller's own DRBG's job. */
#define KEYSTORE_RANDOM_MAX 4096u
/* Error text in a response: a sentence, never data. */
#define KEYSTORE_ERROR_MAX 256u

/* Keys per keystore (all tenants) and versions per key. Every unsealed
 * key lives in locked memory, so in practice the secure heap bounds the
 * total first; these caps keep file listings and version lists small. */
#define KEYSTORE_KEYS_MAX 4096u
#define KEYSTORE_VERSIONS_MAX 1024u
/* Key file size when read back: a key with KEYSTORE_VERSIONS_MAX RSA-4096
 * versions is about 2.5 MiB; a larger file is refused as damaged. */
#define KEYSTORE_KEYFILE_MAX (4u * 1024u * 1024u)
/* The seal file: two wrapped master keys and KDF parameters. */
#define KEYSTORE_SEALFILE_MAX 4096u

/* OpenSSL secure heap (mlocked, guard-paged, excluded from dumps) for key
 * material; a power of two. 4 MiB is half the default RLIMIT_MEMLOCK on
 * Linux (8 MiB), so an unprivileged key process can always lock it; it
 * holds about a thousand RSA-4096 versions or far more symmetric ones. */
#define KEYSTORE_SECURE_HEAP_DEFAULT (4u * 1024u * 1024u)
#define KEYSTORE_SECURE_HEAP_HARD (256u * 1024u * 1024u)

/* Shamir: at most 255 shares (x in 1..255 over GF(2^8)); operators use
 * 3-of-5 or so, and 16 is already far more people than ever meet. */
#define KEYSTORE_SHARES_MAX 16u
/* One share in its text form (about 70 characters); 256 tolerates
 * whitespace a terminal adds. */
#define KEYSTORE_SHARE_TEXT_MAX 256u
/* Passphrases: 1 KiB; Argon2 accepts more, but nobody types it. Minimum
 * 12 bytes, because the passphrase is the only secret in that mode. */
#define KEYSTORE_PASSPHRASE_MAX 1024u
#define KEYSTORE_PASSPHRASE_MIN 12u
/* Argon2id cost: RFC 9106's second recommended option (t=3, 64 MiB, one
 * lane) by default; the hard maximum 1 GiB / t=10 keeps unseal within a
 * few seconds and within memory the key process may map. The minimum
 * (t=1, 8 MiB) exists for tests and is refused below. */
#define KEYSTORE_ARGON2_T_DEFAULT 3u
#define KEYSTORE_ARGON2_M_KIB_DEFAULT (64u * 1024u)
#define KEYSTORE_ARGON2_T_MIN 1u
#define KEYSTORE_ARGON2_M_KIB_MIN (8u * 1024u)
#define KEYSTORE_ARGON2_T_HARD 10u
#define KEYSTORE_ARGON2_M_KIB_HARD (1024u * 1024u)

/* Scheduled destruction delay: default 7 days (time to notice a mistake),
 * at least 1 minute (tests pin the clock), at most 90 days. */
#define KEYSTORE_DESTROY_DELAY_DEFAULT_S (7u * 86400u)
#define KEYSTORE_DESTROY_DELAY_MIN_S 60u
#define KEYSTORE_DESTROY_DELAY_HARD_S (90u * 86400u)
/* Automatic rotation period: at least 1 hour (a rotation per request
 * would just grow the version list), at most 10 years. */
#define KEYSTORE_ROTATE_PERIOD_MIN_S 3600u
#define KEYSTORE_ROTATE_PERIOD_HARD_S (3650u * 86400u)

/* Master-key rotation re-wraps this many key files per idle turn of the
 * key process, so requests keep flowing while it runs. */
#define KEYSTORE_REWRAP_PER_TURN 16u

#endif
