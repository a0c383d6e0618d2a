/*
 * keystore — bulwark's software HSM: a separate process that holds the
 * master key and every private or secret key, and answers key operations
 * over a SOCK_SEQPACKET socketpair. This header is what both sides of that
 * socket share: the wire protocol (encoder and strict decoder), the
 * self-describing ciphertext format, the enumerations the REST layer
 * names, and keystore_main() for the supervisor to fork.
 *
 * Wire format (all integers big-endian), one message per seqpacket:
 *
 *   0  2  magic "BK"
 *   2  1  protocol version (KEYSTORE_PROTO_VERSION)
 *   3  1  kind: 1 request, 2 response
 *   4  2  op (enum keystore_op)
 *   6  2  status (enum keystore_status; 0 in requests)
 *   8  8  request id (the client's; echoed in the response)
 *  16  4  body length (exactly the bytes that follow the header)
 *  20  4  reserved, zero
 *  24  .  fields: tag u16, length u32, value; each tag has one type
 *         (bytes, printable text, u32, u64, bool, empty) and a maximum
 *         length, and may appear once per item unless marked repeatable.
 *
 * A KEYSTORE_TAG_ITEM field (empty) starts a batch item; fields before the
 * first ITEM are common to the whole request (tenant, key name...). A
 * request without ITEM fields is a batch of one whose fields are the
 * common ones. Responses to batches carry one ITEM per request item, each
 * with its own KEYSTORE_TAG_STATUS.
 *
 * Invariants:
 *  - the decoder accepts a message only if every byte is accounted for,
 *    every tag is known and of its declared type and size, and no
 *    non-repeatable tag appears twice in one item;
 *  - the encoder enforces the same limits, so a message a correct peer
 *    builds always decodes; the key process treats a message that does
 *    not decode as an attack and exits.
 */
#ifndef BW_KEYSTORE_H
#define BW_KEYSTORE_H

#include "core/core.h"
#include "keystore/keystore_limits.h"

#define KEYSTORE_PROTO_VERSION 1
#define KEYSTORE_HDR_LEN 24
#define KEYSTORE_KEY_ID_LEN 16

enum keystore_kind { KEYSTORE_REQUEST = 1, KEYSTORE_RESPONSE = 2 };

enum keystore_op {
	KEYSTORE_OP_PING = 1,
	KEYSTORE_OP_STATUS = 2,       /* seal state, progress, counts */
	KEYSTORE_OP_INIT = 3,         /* operator init / switch seal type */
	KEYSTORE_OP_UNSEAL = 4,       /* one share, or the passphrase */
	KEYSTORE_OP_SEAL = 5,         /* forget the master key now */
	KEYSTORE_OP_UNSEAL_RESET = 6, /* discard shares entered so far */
	KEYSTORE_OP_ROTATE_MASTER = 7,

	KEYSTORE_OP_KEY_CREATE = 16,
	KEYSTORE_OP_KEY_LIST = 17,
	KEYSTORE_OP_KEY_GET = 18,
	KEYSTORE_OP_KEY_ROTATE = 19,
	KEYSTORE_OP_KEY_UPDATE = 20, /* policy: min version, period, exportable */
	KEYSTORE_OP_KEY_SUSPEND = 21,
	KEYSTORE_OP_KEY_ENABLE = 22, /* also cancels a scheduled destruction */
	KEYSTORE_OP_KEY_SCHEDULE_DESTROY = 23,
	KEYSTORE_OP_KEY_DESTROY = 24,
	KEYSTORE_OP_KEY_EXPORT = 25,
	KEYSTORE_OP_KEY_IMPORT = 26,
	KEYSTORE_OP_IMPORT_PARAMS = 27, /* the tenant's import wrapping key */

	KEYSTORE_OP_ENCRYPT = 48,
	KEYSTORE_OP_DECRYPT = 49,
	KEYSTORE_OP_REWRAP = 50,
	KEYSTORE_OP_DATAKEY = 51,
	KEYSTORE_OP_SIGN = 52,
	KEYSTORE_OP_VERIFY = 53,
	KEYSTORE_OP_HMAC = 54,
	KEYSTORE_OP_HMAC_VERIFY = 55,
	KEYSTORE_OP_RANDOM = 56,
	KEYSTORE_OP_PUBKEY = 57,
	/* Plain AES-256-GCM with the caller's 12-byte NONCE (PKCS#11
	 * CKM_AES_GCM): RAW = ciphertext || 16-byte tag, no bwk1 framing.
	 * Encrypt uses the newest version and answers VERSION; decrypt tries
	 * VERSION if given, else every usable version newest first. */
	KEYSTORE_OP_GCM_ENCRYPT = 58,
	KEYSTORE_OP_GCM_DECRYPT = 59,
};
/* The last operation with item (batch) semantics. */
#define KEYSTORE_OP_ITEM_LAST_ KEYSTORE_OP_GCM_DECRYPT

enum keystore_tag {
	KEYSTORE_TAG_TENANT = 1,     /* text */
	KEYSTORE_TAG_KEY = 2,        /* text: key name */
	KEYSTORE_TAG_KEY_TYPE = 3,   /* u32: enum keystore_key_type */
	KEYSTORE_TAG_VERSION = 4,    /* u32: key version */
	KEYSTORE_TAG_PLAINTEXT = 5,  /* bytes */
	KEYSTORE_TAG_AAD = 6,        /* bytes */
	KEYSTORE_TAG_CIPHERTEXT = 7, /* text: "bwk1:..." */
	KEYSTORE_TAG_MESSAGE = 8,    /* bytes: data to sign/MAC, or a digest */
	KEYSTORE_TAG_SIGNATURE = 9,  /* bytes */
	KEYSTORE_TAG_MAC = 10,       /* bytes */
	KEYSTORE_TAG_HASH = 11,      /* u32: enum keystore_hash */
	KEYSTORE_TAG_PADDING = 12,   /* u32: enum keystore_padding */
	KEYSTORE_TAG_PREHASHED = 13, /* bool: MESSAGE is a digest */
	KEYSTORE_TAG_COUNT = 14,     /* u32: random bytes wanted */
	KEYSTORE_TAG_FORMAT = 15,    /* u32: enum keystore_format */
	KEYSTORE_TAG_PUBKEY = 16,    /* bytes: PEM or JWK text */
	KEYSTORE_TAG_WRAPPED = 17,   /* bytes: RSA-OAEP || AES-KWP */
	KEYSTORE_TAG_SHARE = 18,     /* text: one unseal share; repeatable */
	KEYSTORE_TAG_PASSPHRASE = 19, /* bytes */
	KEYSTORE_TAG_EXPORTABLE = 20, /* bool */
	KEYSTORE_TAG_ROTATE_PERIOD = 21, /* u64: seconds, 0 = none */
	KEYSTORE_TAG_MIN_VERSION = 22,   /* u32: minimum decryption version */
	KEYSTORE_TAG_STATE = 23,         /* u32: enum keystore_key_state */
	KEYSTORE_TAG_CREATED = 24,       /* u64: unix seconds */
	KEYSTORE_TAG_DESTROY_AT = 25,    /* u64: unix seconds */
	KEYSTORE_TAG_LATEST = 26,        /* u32: newest version */
	KEYSTORE_TAG_VALID = 27,         /* bool: verify outcome */
	KEYSTORE_TAG_ERROR = 28,         /* text: what went wrong (never data) */
	KEYSTORE_TAG_ITEM = 29,          /* empty: starts a batch item */
	KEYSTORE_TAG_STATUS = 30,        /* u32: an item's status */
	KEYSTORE_TAG_SHARES = 31,        /* u32: n */
	KEYSTORE_TAG_THRESHOLD = 32,     /* u32: k */
	KEYSTORE_TAG_SEALED = 33,        /* bool */
	KEYSTORE_TAG_INITIALIZED = 34,   /* bool */
	KEYSTORE_TAG_PROGRESS = 35,      /* u32: shares entered */
	KEYSTORE_TAG_SEAL_TYPE = 36,     /* u32: enum keystore_seal_type */
	KEYSTORE_TAG_KEY_ID = 37,        /* bytes: 16 */
	KEYSTORE_TAG_VTIME = 38,         /* u64: a version's creation; repeatable */
	KEYSTORE_TAG_LIMIT = 39,         /* u32: list page size */
	KEYSTORE_TAG_CURSOR = 40,        /* text: list after this name */
	KEYSTORE_TAG_DELAY = 41,         /* u64: destruction delay, seconds */
	KEYSTORE_TAG_KDF_T = 42,         /* u32: Argon2id passes */
	KEYSTORE_TAG_KDF_M = 43,         /* u32: Argon2id memory, KiB */
	KEYSTORE_TAG_MK_EPOCH = 44,      /* u32: master key generation */
	KEYSTORE_TAG_KEYCOUNT = 45,      /* u32 */
	KEYSTORE_TAG_REWRAP_PENDING = 46, /* u32: key files still on the old MK */
	KEYSTORE_TAG_BITS = 47,          /* u32: data key size */
	KEYSTORE_TAG_KEYDATA = 48,       /* bytes: file-internal key material */
	KEYSTORE_TAG_SALT = 49,          /* bytes: file-internal KDF salt */
	KEYSTORE_TAG_NONCE = 50,         /* bytes: file-internal; GCM_* nonce */
	KEYSTORE_TAG_SEAL_ID = 51,       /* bytes: file-internal seal id */
	KEYSTORE_TAG_UPDATED = 52,       /* u64: unix seconds */
	KEYSTORE_TAG_NO_PLAINTEXT = 53,  /* bool: data key wrapped only */
	KEYSTORE_TAG_RAW = 54,           /* bytes: GCM ciphertext || tag */
	KEYSTORE_TAG_MAX_ = 55,
};

enum keystore_status {
	KEYSTORE_OK = 0,
	KEYSTORE_E_BAD_REQUEST = 1,
	KEYSTORE_E_SEALED = 2,
	KEYSTORE_E_NOT_INITIALIZED = 3,
	KEYSTORE_E_NOT_FOUND = 4,
	KEYSTORE_E_EXISTS = 5,
	KEYSTORE_E_KEY_STATE = 6,   /* suspended, scheduled, destroyed */
	KEYSTORE_E_VERSION = 7,     /* unknown or below the minimum */
	KEYSTORE_E_DENIED = 8,      /* policy: not exportable, wrong type */
	KEYSTORE_E_AUTH = 9,        /* failed authentication: ciphertext,
				       wrapped key, shares, passphrase */
	KEYSTORE_E_TOO_LARGE = 10,
	KEYSTORE_E_INTERNAL = 11,
	KEYSTORE_E_UNSUPPORTED = 12,
	KEYSTORE_E_ALREADY = 13,    /* already initialised / unsealed */
	KEYSTORE_E_LIMIT = 14,      /* too many keys or versions */
	KEYSTORE_E_UNAVAILABLE = 15, /* client side: key process gone */
	KEYSTORE_STATUS_MAX_ = 16,
};

enum keystore_key_type {
	KEYSTORE_KT_AES256_GCM = 1,
	KEYSTORE_KT_CHACHA20_POLY1305 = 2,
	KEYSTORE_KT_HMAC_SHA256 = 3,
	KEYSTORE_KT_HMAC_SHA512 = 4,
	KEYSTORE_KT_ED25519 = 5,
	KEYSTORE_KT_ECDSA_P256 = 6,
	KEYSTORE_KT_ECDSA_P384 = 7,
	KEYSTORE_KT_RSA_2048 = 8,
	KEYSTORE_KT_RSA_3072 = 9,
	KEYSTORE_KT_RSA_4096 = 10,
	KEYSTORE_KT_MAX_ = 11,
};

enum keystore_key_state {
	KEYSTORE_STATE_ENABLED = 1,
	KEYSTORE_STATE_SUSPENDED = 2,
	KEYSTORE_STATE_SCHEDULED = 3, /* scheduled for destruction */
	KEYSTORE_STATE_DESTROYED = 4,
};

enum keystore_seal_type {
	KEYSTORE_SEAL_NONE = 0, /* not initialised */
	KEYSTORE_SEAL_AUTO = 1, /* auto-unseal key file: development */
	KEYSTORE_SEAL_SHAMIR = 2,
	KEYSTORE_SEAL_PASSPHRASE = 3,
};

enum keystore_hash {
	KEYSTORE_HASH_DEFAULT = 0, /* the key type's natural hash */
	KEYSTORE_HASH_SHA256 = 1,
	KEYSTORE_HASH_SHA384 = 2,
	KEYSTORE_HASH_SHA512 = 3,
};

enum keystore_padding {
	KEYSTORE_PAD_DEFAULT = 0, /* PKCS#1 v1.5 for RSA */
	KEYSTORE_PAD_PKCS1 = 1,
	KEYSTORE_PAD_PSS = 2,     /* salt length = digest length */
};

enum keystore_format { KEYSTORE_FMT_PEM = 1, KEYSTORE_FMT_JWK = 2 };

/* Stable lower-case names used by the REST API and logs; NULL when out of
 * range. The parse functions return 0 when the name is unknown. */
const char *keystore_op_name(unsigned op);
const char *keystore_status_name(unsigned status);
const char *keystore_key_type_name(unsigned type);
unsigned keystore_key_type_parse(const char *name);
const char *keystore_key_state_name(unsigned state);
const char *keystore_seal_type_name(unsigned type);
unsigned keystore_seal_type_parse(const char *name);
/* True for types that encrypt (AES-GCM, ChaCha20-Poly1305), sign
 * (Ed25519, ECDSA, RSA) or MAC (HMAC). */
bool keystore_key_type_is_aead(unsigned type);
bool keystore_key_type_is_signing(unsigned type);
bool keystore_key_type_is_hmac(unsigned type);
/* A tenant or key name: 1..KEYSTORE_NAME_MAX of [A-Za-z0-9._-], not
 * starting with '.' or '-'. */
bool keystore_name_valid(const char *s, size_t len);

/* ---------------------------------------------------------------- encoder */

/*
 * Builds one message in a buffer bounded by KEYSTORE_MSG_MAX. A value that
 * breaks its tag's type or size, or a message that would pass the bound,
 * makes the encoder fail (sticky), and keystore_enc_finish reports it: the
 * caller answers "too large" instead of sending something the peer would
 * have to reject. The buffer may hold secrets and is wiped by _fini.
 */
struct keystore_enc {
	struct bw_buf buf;
	bool failed;
	size_t nitems, max_items;
};

void keystore_enc_init(struct keystore_enc *e, enum keystore_kind kind,
		       unsigned op, unsigned status, uint64_t id);
/* Wipes and frees. */
void keystore_enc_fini(struct keystore_enc *e);
/* Starts over with a new header, keeping the memory (wiped first). */
void keystore_enc_reset(struct keystore_enc *e, enum keystore_kind kind,
			unsigned op, unsigned status, uint64_t id);
void keystore_enc_bytes(struct keystore_enc *e, unsigned tag, const void *p,
			size_t n);
void keystore_enc_str(struct keystore_enc *e, unsigned tag, const char *s);
void keystore_enc_strn(struct keystore_enc *e, unsigned tag, const char *s,
		       size_t n);
void keystore_enc_u32(struct keystore_enc *e, unsigned tag, uint32_t v);
void keystore_enc_u64(struct keystore_enc *e, unsigned tag, uint64_t v);
void keystore_enc_bool(struct keystore_enc *e, unsigned tag, bool v);
/* Starts a batch item. */
void keystore_enc_item(struct keystore_enc *e);
/* Overwrites the header's status (responses decide it last). */
void keystore_enc_set_status(struct keystore_enc *e, unsigned status);
/* Completes the body length. 0 with OUT p/len borrowed from e, or -1 when
 * a field was invalid or the message too large. */
int keystore_enc_finish(struct keystore_enc *e, const uint8_t **p,
			size_t *len) BW_WUR;
/* Writes id into an encoded message's header (the client numbers requests
 * when it sends them). msg must be at least KEYSTORE_HDR_LEN bytes. */
void keystore_msg_set_id(uint8_t *msg, uint64_t id);

/* ---------------------------------------------------------------- decoder */

struct keystore_field {
	uint16_t tag;
	uint32_t len;
	const uint8_t *p; /* borrowed from the decoded buffer */
};

/*
 * A decoded message. keystore_msg_new() sizes it for the wire protocol
 * (KEYSTORE_FIELDS_MAX fields, KEYSTORE_BATCH_MAX items);
 * fields[item_start[i] .. item_start[i+1]) are item i's fields; item 0
 * holds the common fields, items 1..nitems the batch.
 */
struct keystore_msg {
	uint8_t kind;
	uint16_t op;
	uint16_t status;
	uint64_t id;
	size_t max_len; /* longest message accepted */
	size_t nfields, cap_fields;
	size_t nitems, cap_items;
	uint32_t *item_start; /* cap_items + 2 entries */
	struct keystore_field *fields;
};

/* Allocates a message holder for the wire limits; NULL when out of
 * memory. _free accepts NULL. */
struct keystore_msg *keystore_msg_new(void);
/* A holder just large enough for a message of len bytes (every field
 * takes at least 6 bytes), for callers that keep many replies. */
struct keystore_msg *keystore_msg_new_for(size_t len);
void keystore_msg_free(struct keystore_msg *m);

/*
 * Decodes (p, len) into m, which then borrows p. Returns 0, or -1 with err
 * (code 400, reason naming the first problem) when anything about the
 * message is wrong: magic, version, kind, lengths, unknown tags, a value
 * of the wrong type or size, a repeated tag, more fields or items (or
 * bytes) than m was sized for.
 */
int keystore_msg_decode(struct keystore_msg *m, const uint8_t *p, size_t len,
			struct bw_err *err) BW_WUR;

/* Field `tag` in item `item` (0 = common), or NULL. */
const struct keystore_field *keystore_msg_get(const struct keystore_msg *m,
					      size_t item, unsigned tag);
/* Like keystore_msg_get, falling back to the common fields when the item
 * lacks the tag (batch items inherit the request's key, version...). */
const struct keystore_field *keystore_msg_find(const struct keystore_msg *m,
					       size_t item, unsigned tag);
/* Typed reads of keystore_msg_find; false when absent (out untouched). */
bool keystore_msg_u32(const struct keystore_msg *m, size_t item, unsigned tag,
		      uint32_t *out);
bool keystore_msg_u64(const struct keystore_msg *m, size_t item, unsigned tag,
		      uint64_t *out);
bool keystore_msg_bool(const struct keystore_msg *m, size_t item, unsigned tag,
		       bool *out);
bool keystore_msg_str(const struct keystore_msg *m, size_t item, unsigned tag,
		      struct bw_str *out);
/* Number of batch items: nitems, or 1 when the message has none. */
size_t keystore_msg_items(const struct keystore_msg *m);
/* The item index to read a batch entry i (0-based) from: i + 1, or 0 for
 * an unbatched message. */
size_t keystore_msg_item_index(const struct keystore_msg *m, size_t i);

/* ------------------------------------------------------------- ciphertext */

/*
 * The ciphertext format, version 1 ("bwk1:" + base64url without padding):
 *
 *   0   1  format version (1)
 *   1   1  algorithm: 1 AES-256-GCM, 2 ChaCha20-Poly1305
 *   2   4  key version, big-endian, >= 1
 *   6  16  key id (random, fixed at key creation)
 *  22  12  nonce
 *  34   .  ciphertext, then the 16-byte tag
 *
 * The AEAD's associated data is the 22-byte header followed by the
 * caller's AAD, so neither the key nor the version can be swapped.
 */
#define KEYSTORE_CTEXT_PREFIX "bwk1:"
#define KEYSTORE_CTEXT_HDR 22
#define KEYSTORE_CTEXT_NONCE 12
#define KEYSTORE_CTEXT_TAG 16
#define KEYSTORE_CTEXT_OVERHEAD                                                \
	(KEYSTORE_CTEXT_HDR + KEYSTORE_CTEXT_NONCE + KEYSTORE_CTEXT_TAG)

struct keystore_ctext {
	uint8_t alg;      /* 1 AES-256-GCM, 2 ChaCha20-Poly1305 */
	uint32_t version; /* key version */
	uint8_t key_id[KEYSTORE_KEY_ID_LEN];
	const uint8_t *hdr;   /* the 22 header bytes (AAD prefix) */
	const uint8_t *nonce; /* 12 bytes */
	const uint8_t *ct;    /* ct_len bytes */
	size_t ct_len;
	const uint8_t *tag;   /* 16 bytes */
};

/*
 * Decodes the armoured ciphertext (text, len) into buf (cap bytes; the
 * binary form is at most 3/4 of len) and parses it into out, which then
 * points into buf. Returns 0, or -1 with err (400) for a wrong prefix,
 * bad base64url, a short or oversized body, an unknown format version or
 * algorithm, or version 0.
 */
int keystore_ctext_decode(const char *text, size_t len, uint8_t *buf,
			  size_t cap, struct keystore_ctext *out,
			  struct bw_err *err) BW_WUR;
/* Writes the armour of the binary ciphertext (bin, n) into out; returns
 * the length written (out NUL-terminated), or 0 if cap is too small. */
size_t keystore_ctext_armour(const uint8_t *bin, size_t n, char *out,
			     size_t cap);

/* base64url without padding (RFC 4648 §5), used by the ciphertext armour,
 * shares and JWKs. encode returns the length written (NUL-terminated) or 0
 * when cap is too small; decode returns 0 or -1 on bad input or overflow. */
size_t keystore_b64url_encode(const uint8_t *in, size_t n, char *out,
			      size_t cap);
int keystore_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap,
			   size_t *outlen) BW_WUR;

/* ---------------------------------------------------------- key process */

struct keystore_options {
	/* The installation's data directory; the keystore keeps its files in
	 * DATA_DIR/keystore (created 0700). Required. */
	const char *data_dir;
	/* How a fresh installation is sealed. KEYSTORE_SEAL_AUTO initialises
	 * itself at first start and unseals from auto_unseal_file (the
	 * development default, logged as such). SHAMIR and PASSPHRASE wait
	 * for `bulwark operator init`. Once initialised, the seal file in the
	 * data directory decides. */
	enum keystore_seal_type unseal_mode;
	/* The auto-unseal key file (0600, refused if group/world can read
	 * it); NULL: DATA_DIR/keystore/auto-unseal.key. */
	const char *auto_unseal_file;
	/* Locked secure heap size in bytes (power of two); 0: default. */
	size_t secure_heap;
	/* Log level for the key process. */
	enum bw_log_level log_level;
};

/*
 * The key process. Call in the child right after fork() with the child's
 * end of a SOCK_SEQPACKET socketpair; every other descriptor except 0-2
 * should already be closed. It hardens itself (not dumpable, no core
 * files, secure heap, seccomp filter), runs the known-answer self-tests
 * (exiting with status 3 if any fails: it refuses to serve), loads or
 * initialises its seal, and serves requests until the peer closes the
 * socket (exit 0). A malformed message from the peer ends the process
 * with status 2; a seccomp violation kills it with SIGSYS. Never returns.
 */
_Noreturn void keystore_main(int sock, const struct keystore_options *opts);

/*
 * For `bulwark init`: creates DATA_DIR/keystore and, when absent, the
 * auto-unseal key file and an auto-sealed master key, so the first start
 * is unattended. Idempotent; 0 or -1 with err.
 */
int keystore_init_auto(const char *data_dir, struct bw_err *err) BW_WUR;

#endif
