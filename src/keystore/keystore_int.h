/*
 * Internals of the keystore module shared between its files; no other
 * module includes this. Everything here runs inside the key process (or
 * in-process in the module's own tests and `bulwark init`).
 *
 * Memory rule: every secret byte (master keys, derived keys, key material,
 * unseal shares, passphrase-derived keys) lives in OpenSSL's secure heap
 * (ks_secure_alloc), which is mlocked, guard-paged and excluded from core
 * dumps, and is cleared when freed. Ordinary heap memory never holds a
 * secret longer than one function call, and is wiped before it is freed.
 */
#ifndef BW_KEYSTORE_INT_H
#define BW_KEYSTORE_INT_H

#include "keystore/keystore.h"

#include <openssl/evp.h>

#define KS_MK_LEN 32
#define KS_SUBKEY_LEN 32
#define KS_MAC_LEN 32
#define KS_SEAL_ID_LEN 8
#define KS_SALT_LEN 16
/* Names of files inside DATA_DIR/keystore. */
#define KS_SEAL_FILE "seal"
#define KS_KEYS_DIR "keys"
#define KS_AUTO_FILE "auto-unseal.key"
/* Reserved key name for a tenant's import wrapping key (user names may
 * not start with "__"). */
#define KS_IMPORT_KEY_NAME "__import"
/* File-internal ops (never on the wire). */
#define KS_FILE_OP_KEY 0xF001
#define KS_FILE_OP_SEAL 0xF002

/* ------------------------------------------------------------- protocol */

/* A message holder with caller-chosen capacities (files are larger than
 * wire messages). */
struct keystore_msg *ks_msg_new_caps(size_t max_len, size_t fields,
				     size_t items);
/* An encoder bounded by max bytes with no item cap (files). */
void ks_enc_init_max(struct keystore_enc *e, size_t max, unsigned op);

/* ------------------------------------------------------------- memory */

/* Secure-heap allocation, zeroed; NULL when the heap is exhausted. */
void *ks_secure_alloc(size_t n);
/* Clears n bytes and frees; accepts NULL. */
void ks_secure_free(void *p, size_t n);
/* Initialises OpenSSL's secure heap (size a power of two). 0, or -1 when
 * the heap cannot be locked (the caller decides whether to go on). */
int ks_secure_heap_init(size_t size, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- shamir */

/*
 * Splits secret (len bytes) into n shares with threshold k over GF(2^8)
 * (reduction polynomial x^8+x^4+x^3+x+1). Share i (0-based) has x = i+1
 * and len bytes of y at ys + i*len. 1 <= k <= n <= 255. Returns 0 or -1 on
 * bad parameters. The random coefficients are wiped before returning.
 */
int ks_shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned k,
		    uint8_t *ys) BW_WUR;
/*
 * Recovers the secret from k shares: xs[i] (distinct, non-zero) and their
 * y vectors at ys + i*len. Returns 0, or -1 when an x is 0 or repeated.
 * With wrong or too few shares the result is simply a different value:
 * the caller detects that by the failing unwrap of the master key.
 */
int ks_shamir_combine(const uint8_t *xs, const uint8_t *ys, unsigned k,
		      size_t len, uint8_t *out) BW_WUR;
/* GF(2^8) multiplication, constant time (exposed for the self-test). */
uint8_t ks_gf_mul(uint8_t a, uint8_t b);

/* ------------------------------------------------------------- crypto */

/* Bytes of raw material for symmetric types; 0 for asymmetric ones. */
size_t ks_sym_len(unsigned type);

/* A key's secret bytes: raw for symmetric types, PKCS#8 DER otherwise.
 * Secure heap. */
struct ks_material {
	uint8_t *p;
	size_t len;
};
void ks_material_free(struct ks_material *m);
int ks_material_dup(struct ks_material *out, const uint8_t *p, size_t len) BW_WUR;

/* Generates fresh material for type. */
int ks_crypto_generate(unsigned type, struct ks_material *out,
		       struct bw_err *err) BW_WUR;
/* Parses PKCS#8 DER material and checks that it really is a key of
 * `type` (algorithm, curve, modulus size). Returns a new EVP_PKEY. */
EVP_PKEY *ks_crypto_load(unsigned type, const uint8_t *der, size_t len,
			 struct bw_err *err);
/* Converts a private EVP_PKEY to PKCS#8 DER in the secure heap. */
int ks_crypto_pkcs8(EVP_PKEY *pk, struct ks_material *out,
		    struct bw_err *err) BW_WUR;

/* AEAD with a 32-byte key and 12-byte nonce; alg 1 AES-256-GCM, 2
 * ChaCha20-Poly1305. The associated data is aad1 || aad2. open returns
 * -1 with err reason "auth" when the tag does not verify. */
int ks_aead_seal(unsigned alg, const uint8_t *key, const uint8_t *nonce,
		 const uint8_t *aad1, size_t aad1len, const uint8_t *aad2,
		 size_t aad2len, const uint8_t *pt, size_t n, uint8_t *ct,
		 uint8_t tag[16], struct bw_err *err) BW_WUR;
int ks_aead_open(unsigned alg, const uint8_t *key, const uint8_t *nonce,
		 const uint8_t *aad1, size_t aad1len, const uint8_t *aad2,
		 size_t aad2len, const uint8_t *ct, size_t n,
		 const uint8_t tag[16], uint8_t *pt, struct bw_err *err) BW_WUR;

/* The digest a signing key uses for `hash` (DEFAULT: the type's own).
 * NULL for Ed25519 (pure) or a combination we refuse. */
const EVP_MD *ks_sign_md(unsigned type, unsigned hash, bool *ok);
/*
 * Signs msg (or, when prehashed, a digest of the right length) with pk.
 * RSA: padding PKCS1 or PSS (salt length = digest length). OUT: sig
 * (cap bytes), *siglen. -1 with err on any failure; err code 400 when
 * the request was inapplicable (prehashed Ed25519, wrong digest length).
 */
int ks_sign(EVP_PKEY *pk, unsigned type, unsigned hash, unsigned padding,
	    bool prehashed, const uint8_t *msg, size_t n, uint8_t *sig,
	    size_t cap, size_t *siglen, struct bw_err *err) BW_WUR;
/* Verifies; OUT: *valid. Returns -1 only for an inapplicable request,
 * never for a bad signature. pss_saltlen < 0 means digest length. */
int ks_verify(EVP_PKEY *pk, unsigned type, unsigned hash, unsigned padding,
	      bool prehashed, const uint8_t *msg, size_t n, const uint8_t *sig,
	      size_t siglen, int pss_saltlen, bool *valid,
	      struct bw_err *err) BW_WUR;
/* HMAC with SHA-256 or SHA-512 per type; OUT: mac (64 bytes), *maclen. */
int ks_hmac(unsigned type, const uint8_t *key, size_t keylen,
	    const uint8_t *msg, size_t n, uint8_t *mac, size_t *maclen,
	    struct bw_err *err) BW_WUR;
/* Public key of pk as PEM (SubjectPublicKeyInfo) or JWK (RFC 7517/8037,
 * with "kid" when kid is given) appended to out. */
int ks_pubkey_export(EVP_PKEY *pk, unsigned type, unsigned fmt,
		     const char *kid, struct bw_buf *out,
		     struct bw_err *err) BW_WUR;

/* AES key wrap with padding, RFC 5649 (kek 16/24/32 bytes). wrap: OUT
 * (n + 15) / 8 * 8 + 8 bytes. unwrap: -1 with reason "auth" on an
 * integrity failure. */
int ks_kwp_wrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t n,
		uint8_t *out, size_t cap, size_t *outlen,
		struct bw_err *err) BW_WUR;
int ks_kwp_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in,
		  size_t n, uint8_t *out, size_t cap, size_t *outlen,
		  struct bw_err *err) BW_WUR;
/* RSA-OAEP (SHA-256 digest and MGF1) encryption to pub / decryption. */
int ks_oaep_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t n, uint8_t *out,
		    size_t cap, size_t *outlen, struct bw_err *err) BW_WUR;
int ks_oaep_decrypt(EVP_PKEY *priv, const EVP_MD *md, const uint8_t *in,
		    size_t n, uint8_t *out, size_t cap, size_t *outlen,
		    struct bw_err *err) BW_WUR;
/*
 * CKM_RSA_AES_KEY_WRAP (as AWS KMS and Google Cloud KMS import use it):
 * an ephemeral AES-256 key encrypted with RSA-OAEP-SHA-256 to the
 * wrapping public key, followed by the RFC 5649 wrap of the material
 * under that AES key. wrap: pubpem is the recipient's RSA public key
 * (>= 2048 bits) in PEM. unwrap: with the wrapping private key; OUT:
 * material in the secure heap. -1 with reason "auth" when the wrapped
 * blob does not open.
 */
int ks_rsa_aes_wrap(const uint8_t *pubpem, size_t pemlen, const uint8_t *in,
		    size_t n, struct bw_buf *out, struct bw_err *err) BW_WUR;
int ks_rsa_aes_unwrap(EVP_PKEY *priv, const uint8_t *in, size_t n,
		      struct ks_material *out, struct bw_err *err) BW_WUR;
/* HKDF-SHA-256 (RFC 5869) with empty salt. */
int ks_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out,
	    size_t outlen, struct bw_err *err) BW_WUR;
/* Argon2id, one lane (no threads), 32-byte output. */
int ks_argon2id(const uint8_t *pass, size_t passlen, const uint8_t *salt,
		size_t saltlen, uint32_t t, uint32_t m_kib, uint8_t out[32],
		struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- self-test */

/* Runs every known-answer test; 0 when all pass, else -1 with err naming
 * the first failure. Logs one line per algorithm at debug level. */
int ks_selftest(struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- engine */

/* One version of a key. version == index + 1 in its key's array. */
struct ks_version {
	uint32_t version;
	int64_t created;
	struct ks_material mat; /* empty once destroyed */
	EVP_PKEY *pkey;         /* asymmetric: parsed on first use */
};

/*
 * A key, unsealed: metadata plus every version's material. Invariants:
 * v[i].version == i + 1; nv >= 1; min_version in 1..nv; a DESTROYED key
 * holds no material; mk_epoch names the master key its file is sealed
 * with on disk.
 */
struct ks_key {
	char tenant[KEYSTORE_NAME_MAX + 1];
	char name[KEYSTORE_NAME_MAX + 1];
	uint8_t id[KEYSTORE_KEY_ID_LEN];
	unsigned type;
	unsigned state;
	bool exportable;
	uint32_t min_version;
	uint64_t rotate_period; /* seconds; 0 = manual only */
	int64_t created, updated, destroy_at;
	uint32_t mk_epoch;
	struct ks_version *v;
	size_t nv, capv;
};

/* A master key generation and the subkeys derived from it (secure heap). */
struct ks_mk {
	uint32_t epoch;
	uint8_t *mk;   /* KS_MK_LEN */
	uint8_t *wrap; /* HKDF(mk, "bulwark/keystore/v1/wrap") */
	uint8_t *mac;  /* HKDF(mk, "bulwark/keystore/v1/mac") */
};

/* The seal file, parsed: how the master key(s) are wrapped. No secrets. */
struct ks_seal_file {
	unsigned type;
	uint8_t id[KS_SEAL_ID_LEN];
	unsigned shares, threshold;
	uint8_t salt[KS_SALT_LEN];
	uint32_t kdf_t, kdf_m;
	size_t nmk;
	struct {
		uint32_t epoch;
		uint8_t nonce[12];
		uint8_t ct[KS_MK_LEN + 16];
	} mk[2];
};

struct ks_engine {
	char dir[1024];       /* DATA_DIR/keystore */
	char keys_dir[1100];  /* DATA_DIR/keystore/keys */
	char auto_file[1100];
	unsigned mode;        /* configured seal type for a fresh install */
	bool initialized;
	bool sealed;
	struct ks_seal_file seal;
	uint8_t *kek;         /* secure, 32: kept while unsealed for rotation */
	struct ks_mk mks[2];  /* active = mks[nmks - 1] */
	size_t nmks;
	uint8_t *shares;      /* secure: entered Shamir y vectors */
	uint8_t share_x[KEYSTORE_SHARES_MAX];
	unsigned nshares;
	struct ks_key **keys; /* sorted by (tenant, name) */
	size_t nkeys, capkeys;
	unsigned load_failures; /* key files refused at the last unseal */
	int64_t last_scan_s;    /* last scheduled rotation/destruction scan */
};

struct ks_engine_conf {
	const char *data_dir; /* DATA_DIR; files go to DATA_DIR/keystore */
	enum keystore_seal_type unseal_mode;
	const char *auto_unseal_file; /* NULL: DATA_DIR/keystore/... */
};

/* Opens the keystore directory (creating it 0700), reads the seal file
 * and, for the auto seal, initialises and/or unseals. Returns NULL with
 * err when the directory or seal file is unusable. */
struct ks_engine *ks_engine_new(const struct ks_engine_conf *conf,
				struct bw_err *err);
/* Seals (wiping every secret) and frees; accepts NULL. */
void ks_engine_free(struct ks_engine *e);
/* Handles one decoded request and writes the whole response into out (an
 * initialised encoder, reset here with the request's op and id). Never
 * fails: errors are responses. */
void ks_engine_handle(struct ks_engine *e, const struct keystore_msg *req,
		      struct keystore_enc *out);
/* Background work between requests (master-key re-wrap, scheduled
 * rotation and destruction). Returns true when more work is pending. */
bool ks_engine_idle(struct ks_engine *e);
bool ks_engine_sealed(const struct ks_engine *e);

/* ------------------------------------------------------------- keys */

/* Frees a key, wiping its material; accepts NULL. */
void ks_key_free(struct ks_key *k);
/* Lookup by (tenant, name) / (tenant, id); NULL when absent. */
struct ks_key *ks_key_find(struct ks_engine *e, struct bw_str tenant,
			   struct bw_str name);
struct ks_key *ks_key_find_id(struct ks_engine *e, struct bw_str tenant,
			      const uint8_t id[KEYSTORE_KEY_ID_LEN]);
/* Index of the first key >= (tenant, name) in e->keys. */
size_t ks_key_lower_bound(struct ks_engine *e, struct bw_str tenant,
			  struct bw_str name);
/* Inserts k (ownership passes to e). -1 when the table is full. */
int ks_key_insert(struct ks_engine *e, struct ks_key *k) BW_WUR;
/* Appends a version with fresh or given material (moved from *m). */
int ks_key_add_version(struct ks_key *k, struct ks_material *m,
		       struct bw_err *err) BW_WUR;
/* The parsed private key of version v (cached). */
EVP_PKEY *ks_key_pkey(struct ks_key *k, struct ks_version *v,
		      struct bw_err *err);
/* Crypto-shreds k: wipes and frees every version's material. */
void ks_key_shred(struct ks_key *k);
/* Writes k's file with the active master key (atomic, fsynced). */
int ks_key_save(struct ks_engine *e, struct ks_key *k,
		struct bw_err *err) BW_WUR;
/* Loads every key file (after unseal). Files that fail their MAC or do
 * not parse are skipped, logged and counted in e->load_failures. */
int ks_keys_load(struct ks_engine *e, struct bw_err *err) BW_WUR;
/* Wipes and forgets every key. */
void ks_keys_clear(struct ks_engine *e);

/* ------------------------------------------------------------- seal */

/* Reads DATA_DIR/keystore/seal into e->seal (initialized = true), or
 * leaves initialized false when there is none. */
int ks_seal_load(struct ks_engine *e, struct bw_err *err) BW_WUR;
/* Sets up a new seal of `type` (Shamir n/k, or passphrase with Argon2id
 * cost t/m): a fresh master key when not initialised, otherwise the
 * current master keys re-wrapped (requires unsealed). For Shamir, OUT:
 * shares (n strings, each KEYSTORE_SHARE_TEXT_MAX bytes). */
int ks_seal_init(struct ks_engine *e, unsigned type, unsigned n, unsigned k,
		 const uint8_t *pass, size_t passlen, uint32_t t, uint32_t m,
		 char (*shares)[KEYSTORE_SHARE_TEXT_MAX],
		 struct bw_err *err) BW_WUR;
/* Unseal with the auto key file. */
int ks_unseal_auto(struct ks_engine *e, struct bw_err *err) BW_WUR;
/* Unseal with a passphrase. */
int ks_unseal_passphrase(struct ks_engine *e, const uint8_t *pass, size_t n,
			 struct bw_err *err) BW_WUR;
/* Adds one share (text form). Returns 1 when this share completed the
 * unseal, 0 when more are needed, -1 with err on a bad share or a failed
 * combination (progress is reset then). */
int ks_unseal_share(struct ks_engine *e, const char *text, size_t len,
		    struct bw_err *err) BW_WUR;
void ks_unseal_reset(struct ks_engine *e);
/* Forgets the master keys, the KEK and every key. */
void ks_seal_now(struct ks_engine *e);
/* Starts a master-key rotation: a new generation wraps new key files;
 * existing files are re-wrapped by ks_seal_rewrap_step. */
int ks_seal_rotate(struct ks_engine *e, struct bw_err *err) BW_WUR;
/* Re-wraps up to `max` key files still on an old generation; when none
 * are left, retires it. Returns the number still pending. */
size_t ks_seal_rewrap_step(struct ks_engine *e, size_t max);
size_t ks_seal_rewrap_pending(const struct ks_engine *e);
/* The master key generation with this epoch, or NULL. */
const struct ks_mk *ks_mk_find(const struct ks_engine *e, uint32_t epoch);
const struct ks_mk *ks_mk_active(const struct ks_engine *e);
/* Encodes a share's text form / decodes one (checksum verified). */
size_t ks_share_encode(const uint8_t seal_id[KS_SEAL_ID_LEN], uint8_t x,
		       uint8_t k, const uint8_t y[KS_MK_LEN], char *out,
		       size_t cap);
int ks_share_decode(const char *text, size_t len,
		    uint8_t seal_id[KS_SEAL_ID_LEN], uint8_t *x, uint8_t *k,
		    uint8_t y[KS_MK_LEN]) BW_WUR;

/* ------------------------------------------------------------- hardening */

/* PR_SET_DUMPABLE 0, RLIMIT_CORE 0, PR_SET_NO_NEW_PRIVS. -1 with err. */
int ks_harden_process(struct bw_err *err) BW_WUR;
/* Installs the key process's seccomp filter (kill on anything not
 * listed). Irreversible. */
int ks_harden_seccomp(struct bw_err *err) BW_WUR;

#endif
