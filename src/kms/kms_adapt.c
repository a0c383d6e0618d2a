/*
 * Adapters that put other modules' keys into the keystore: the CA's
 * signing keys (struct pki_keystore / pki_signer from src/pki), the
 * identity core's secret sealer (struct iam_sealer from src/iam) and the
 * audit log's tree-head signer (struct audit_signer from src/audit), plus
 * kms_wait_ready() for the worker's start-up.
 *
 * Each adapter turns its interface's calls into blocking kms_call
 * requests, so every callback runs on a pool thread, the CLI or the
 * audit writer thread, never on an event loop. The worker holds no key
 * bytes: CA and audit keys are created non-exportable in the key process
 * and only their public halves come back (PEM export, parsed here).
 *
 * Invariants:
 *  - an adapter's context is immutable after construction except for
 *    the sealer's "key exists" flag (atomic), so callbacks may run on
 *    any number of threads at once;
 *  - a signer pins the key version whose public key it handed out; a
 *    signature the key process made with another version (the key was
 *    rotated behind the CA's or the audit log's back) is refused, never
 *    returned, because it would not verify under the pinned key;
 *  - signatures crossing the process boundary are checked: pki verifies
 *    them itself (trusted_output is false), the audit signer verifies
 *    each one here before handing it out;
 *  - plaintext opened by the sealer is wiped from the adapter's own
 *    buffers on every path; what it appends to the caller's buffer is the
 *    caller's to wipe.
 *
 * Naming: keys the platform creates for itself start with '_' (the
 * keystore reserves "__" for its own). See docs/internals/KEYSTORE.md,
 * "Adapters".
 */
#include "kms/kms_int.h"

#include "audit/audit.h"
#include "iam/iam.h"
#include "pki/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define M "kms"
#define KMS_PKI_KEY_PREFIX "kms:"
#define KMS_PKI_NAME_PREFIX "_pki-ca-"
/* Time allowed for creating an RSA key (see key_create). */
#define KMS_KEYGEN_TIMEOUT_MS 120000
/* A PEM Ed25519 private key is ~120 bytes; anything past 16 KiB in the
 * legacy audit key file is not one. */
#define KMS_LEGACY_KEY_FILE_MAX (16u * 1024u)

/* ------------------------------------------------------------ helpers */

static int name_check(const char *s, const char *what, struct bw_err *err)
{
	if (!s || !keystore_name_valid(s, strlen(s)) ||
	    (s[0] == '_' && s[1] == '_'))
		return bw_err_set(err, 400, M, "bad_name",
				  "%s is not a valid keystore name", what);
	return 0;
}

/* KEY_GET: the key's type and state. 0, or -1 with err (404 when the key
 * does not exist). */
static int key_get(struct kms_client *c, const char *tenant, const char *name,
		   uint32_t *type, uint32_t *state, struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	int rc = -1;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_GET, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, name);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	if (!keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_KEY_TYPE, type) ||
	    !keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_STATE, state)) {
		bw_err_set(err, 500, M, "reply", "key reply without type or state");
		goto out;
	}
	rc = 0;
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rc;
}

/* KEY_CREATE of a non-exportable key without scheduled rotation. */
static int key_create(struct kms_client *c, const char *tenant,
		      const char *name, unsigned type, struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	int rc = -1;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_CREATE, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, name);
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, type);
	keystore_enc_bool(&e, KEYSTORE_TAG_EXPORTABLE, false);
	/* RSA key generation is a prime search: seconds for 4096 bits on
	 * an idle core, many more on a loaded one. It is rare (a new CA),
	 * so it gets a longer budget than the client's default. */
	bool rsa = type == KEYSTORE_KT_RSA_2048 || type == KEYSTORE_KT_RSA_3072 ||
		   type == KEYSTORE_KT_RSA_4096;
	if (kms_call(c, &e, rsa ? KMS_KEYGEN_TIMEOUT_MS : 0, &r, err) < 0 ||
	    kms_reply_check(r, 0, err) < 0)
		goto out;
	rc = 0;
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rc;
}

/*
 * Makes sure (tenant, name) exists with `type`, creating it when absent.
 * Two workers racing to create it both succeed (the loser finds the
 * winner's key). A key of another type, or one that is not enabled, is
 * refused: 409 "key_type" / the keystore's state error.
 */
static int key_ensure(struct kms_client *c, const char *tenant,
		      const char *name, unsigned type, struct bw_err *err)
{
	uint32_t have = 0, state = 0;
	if (key_get(c, tenant, name, &have, &state, err) < 0) {
		if (err->code != 404)
			return -1;
		if (key_create(c, tenant, name, type, err) == 0) {
			log_info("kms: created key %s/%s (%s)", tenant, name,
				 keystore_key_type_name(type));
			return 0;
		}
		if (err->code != 409 ||
		    key_get(c, tenant, name, &have, &state, err) < 0)
			return -1;
	}
	if (have != type)
		return bw_err_set(err, 409, M, "key_type",
				  "key %s/%s is %s, expected %s", tenant, name,
				  keystore_key_type_name(have) ?
					  keystore_key_type_name(have) : "?",
				  keystore_key_type_name(type));
	if (state != KEYSTORE_STATE_ENABLED)
		return bw_err_set(err, 409, M, "key_state", "key %s/%s is %s",
				  tenant, name,
				  keystore_key_state_name(state) ?
					  keystore_key_state_name(state) : "unusable");
	return 0;
}

/* The public key of *version (0: the newest; then OUT *version names
 * it); an EVP_PKEY the caller frees, or NULL with err. */
static EVP_PKEY *pubkey_fetch(struct kms_client *c, const char *tenant,
			      const char *name, uint32_t *version,
			      struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	EVP_PKEY *pk = NULL;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_PUBKEY, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, name);
	keystore_enc_u32(&e, KEYSTORE_TAG_FORMAT, KEYSTORE_FMT_PEM);
	if (*version)
		keystore_enc_u32(&e, KEYSTORE_TAG_VERSION, *version);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	const struct keystore_field *f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_PUBKEY);
	uint32_t got = 0;
	if (!f || f->len == 0 || f->len > INT32_MAX ||
	    !keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_VERSION, &got) ||
	    (*version && got != *version)) {
		bw_err_set(err, 500, M, "reply", "public key reply incomplete");
		goto out;
	}
	*version = got;
	BIO *bio = BIO_new_mem_buf(f->p, (int)f->len);
	pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!pk)
		bw_err_openssl(err, M, "public key from the keystore");
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return pk;
}

/*
 * SIGN with the newest version of (tenant, name). hash/padding/prehashed
 * as the protocol defines them (0 = the key type's default). The
 * signature must come from `version` (the one whose public key the
 * caller pinned): otherwise 409 "key_rotated". OUT sig/siglen.
 */
static int sign_remote(struct kms_client *c, const char *tenant,
		       const char *name, uint32_t version, unsigned hash,
		       unsigned padding, bool prehashed, const uint8_t *msg,
		       size_t len, uint8_t *sig, size_t sigcap, size_t *siglen,
		       struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	int rc = -1;
	uint32_t used = 0;
	if (len > KEYSTORE_DATA_MAX)
		return bw_err_set(err, 413, M, "too_large",
				  "%zu bytes to sign (at most %u)", len,
				  KEYSTORE_DATA_MAX);
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_SIGN, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, name);
	keystore_enc_bytes(&e, KEYSTORE_TAG_MESSAGE, msg, len);
	if (hash)
		keystore_enc_u32(&e, KEYSTORE_TAG_HASH, hash);
	if (padding)
		keystore_enc_u32(&e, KEYSTORE_TAG_PADDING, padding);
	if (prehashed)
		keystore_enc_bool(&e, KEYSTORE_TAG_PREHASHED, true);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	const struct keystore_field *f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_SIGNATURE);
	if (!f || !keystore_msg_u32(r->msg, 0, KEYSTORE_TAG_VERSION, &used)) {
		bw_err_set(err, 500, M, "reply", "signature reply incomplete");
		goto out;
	}
	if (used != version) {
		bw_err_set(err, 409, M, "key_rotated",
			   "key %s/%s signed with version %u, pinned %u (the "
			   "key was rotated in the keystore)",
			   tenant, name, used, version);
		goto out;
	}
	if (f->len == 0 || f->len > sigcap) {
		bw_err_set(err, 500, M, "reply", "signature of %u bytes", f->len);
		goto out;
	}
	memcpy(sig, f->p, f->len);
	*siglen = f->len;
	rc = 0;
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rc;
}

/* ------------------------------------------------------------ pki */

static unsigned pki_to_ks_type(enum pki_key_type t)
{
	switch (t) {
	case PKI_KEY_EC_P256:
		return KEYSTORE_KT_ECDSA_P256;
	case PKI_KEY_EC_P384:
		return KEYSTORE_KT_ECDSA_P384;
	case PKI_KEY_ED25519:
		return KEYSTORE_KT_ED25519;
	case PKI_KEY_RSA_2048:
		return KEYSTORE_KT_RSA_2048;
	case PKI_KEY_RSA_3072:
		return KEYSTORE_KT_RSA_3072;
	case PKI_KEY_RSA_4096:
		return KEYSTORE_KT_RSA_4096;
	default:
		return 0;
	}
}

static bool pki_type_is_rsa(enum pki_key_type t)
{
	return t == PKI_KEY_RSA_2048 || t == PKI_KEY_RSA_3072 ||
	       t == PKI_KEY_RSA_4096;
}

struct kms_pki {
	struct kms_client *c;
};

struct kms_pki_signer {
	struct kms_client *c;
	char tenant[KEYSTORE_NAME_MAX + 1];
	char name[KEYSTORE_NAME_MAX + 1];
	uint32_t version; /* pinned: the version pub belongs to */
	enum pki_key_type type;
};

static int pki_generate(void *ctx, const char *tenant, enum pki_key_type t,
			char key_id[PKI_KEY_ID_MAX], struct bw_err *err)
{
	struct kms_pki *kp = ctx;
	unsigned kt = pki_to_ks_type(t);
	if (!kt)
		return bw_err_set(err, 400, M, "key_type", "unsupported CA key type");
	if (name_check(tenant, "tenant", err) < 0)
		return -1;
	uint8_t rnd[16];
	char hex[2 * sizeof(rnd) + 1], name[KEYSTORE_NAME_MAX + 1];
	bw_random(rnd, sizeof(rnd));
	bw_hex_encode(rnd, sizeof(rnd), hex);
	/* The id names version 1, the version the CA certificate will
	 * carry: a later rotation of the key cannot silently change the
	 * key the CA signs with. */
	if (bw_snprintf(name, sizeof(name), KMS_PKI_NAME_PREFIX "%s", hex) < 0 ||
	    bw_snprintf(key_id, PKI_KEY_ID_MAX, KMS_PKI_KEY_PREFIX "%s:1", name) < 0)
		return bw_err_set(err, 500, M, "name", "key name too long");
	if (key_create(kp->c, tenant, name, kt, err) < 0)
		return -1;
	log_info("kms: CA key %s/%s (%s) created in the keystore", tenant, name,
		 pki_key_type_name(t));
	return 0;
}

static int pki_sign(void *ctx, enum pki_md md, const uint8_t *tbs, size_t len,
		    uint8_t *sig, size_t sigcap, size_t *siglen,
		    struct bw_err *err)
{
	struct kms_pki_signer *s = ctx;
	if (s->type == PKI_KEY_ED25519) {
		/* Pure Ed25519 signs the message itself; it cannot be
		 * prehashed, so the whole TBS crosses (bounded by the
		 * protocol's data limit). */
		if (md != PKI_MD_NONE)
			return bw_err_set(err, 400, M, "hash",
					  "Ed25519 takes no digest");
		return sign_remote(s->c, s->tenant, s->name, s->version, 0, 0,
				   false, tbs, len, sig, sigcap, siglen, err);
	}
	/* ECDSA and RSA sign a digest: hash here and send only the digest.
	 * The result is identical to signing the message (PKCS#1 v1.5 puts
	 * the same DigestInfo around it, ECDSA signs the same value), only
	 * a few dozen bytes cross instead of the TBS, and a large CRL fits
	 * the protocol's data limit. */
	const EVP_MD *evp;
	unsigned hash;
	switch (md) {
	case PKI_MD_SHA256:
		evp = EVP_sha256();
		hash = KEYSTORE_HASH_SHA256;
		break;
	case PKI_MD_SHA384:
		evp = EVP_sha384();
		hash = KEYSTORE_HASH_SHA384;
		break;
	case PKI_MD_SHA512:
		evp = EVP_sha512();
		hash = KEYSTORE_HASH_SHA512;
		break;
	default:
		return bw_err_set(err, 400, M, "hash",
				  "ECDSA and RSA signatures need a digest");
	}
	uint8_t dig[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	if (EVP_Digest(tbs, len, dig, &dlen, evp, NULL) != 1)
		return bw_err_openssl(err, M, "digest");
	return sign_remote(s->c, s->tenant, s->name, s->version, hash,
			   pki_type_is_rsa(s->type) ? KEYSTORE_PAD_PKCS1 : 0,
			   true, dig, dlen, sig, sigcap, siglen, err);
}

static void pki_signer_ctx_free(void *ctx)
{
	free(ctx);
}

static struct pki_signer *pki_open(void *ctx, const char *tenant,
				   const char *key_id, struct bw_err *err)
{
	struct kms_pki *kp = ctx;
	size_t pl = strlen(KMS_PKI_KEY_PREFIX);
	if (!key_id || strncmp(key_id, KMS_PKI_KEY_PREFIX, pl) != 0) {
		bw_err_set(err, 404, M, "no_key",
			   "key id is not a keystore key (kms:NAME)");
		return NULL;
	}
	/* "kms:NAME" (the newest version) or "kms:NAME:VERSION". */
	char name[KEYSTORE_NAME_MAX + 1];
	uint32_t version = 0;
	const char *rest = key_id + pl, *colon = strchr(rest, ':');
	size_t nl = colon ? (size_t)(colon - rest) : strlen(rest);
	if (colon) {
		uint64_t v = 0;
		const char *d = colon + 1;
		size_t dl = strlen(d);
		if (dl == 0 || dl > 4 || d[0] == '0' ||
		    bw_str_to_u64(bw_str_make(d, dl), &v) < 0 || v == 0 ||
		    v > KEYSTORE_VERSIONS_MAX) {
			bw_err_set(err, 400, M, "bad_name",
				   "key id version must be 1..%u",
				   KEYSTORE_VERSIONS_MAX);
			return NULL;
		}
		version = (uint32_t)v;
	}
	if (nl == 0 || nl >= sizeof(name)) {
		bw_err_set(err, 400, M, "bad_name", "key name is not a valid keystore name");
		return NULL;
	}
	memcpy(name, rest, nl);
	name[nl] = '\0';
	if (name_check(tenant, "tenant", err) < 0 ||
	    name_check(name, "key name", err) < 0)
		return NULL;
	struct pki_signer *s = calloc(1, sizeof(*s));
	struct kms_pki_signer *sc = calloc(1, sizeof(*sc));
	if (!s || !sc) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto fail;
	}
	sc->c = kp->c;
	bw_snprintf(sc->tenant, sizeof(sc->tenant), "%s", tenant);
	bw_snprintf(sc->name, sizeof(sc->name), "%s", name);
	sc->version = version;
	s->pub = pubkey_fetch(kp->c, tenant, name, &sc->version, err);
	if (!s->pub)
		goto fail;
	sc->type = pki_key_type_of(s->pub, err);
	if (sc->type == PKI_KEY_NONE)
		goto fail;
	s->type = sc->type;
	s->sign = pki_sign;
	s->free = pki_signer_ctx_free;
	s->ctx = sc;
	s->trusted_output = false; /* crossed a process boundary: pki checks */
	bw_snprintf(s->key_id, sizeof(s->key_id), "%s", key_id);
	return s;
fail:
	if (s)
		EVP_PKEY_free(s->pub);
	free(s);
	free(sc);
	return NULL;
}

static void pki_ks_free(void *ctx)
{
	free(ctx);
}

struct pki_keystore *kms_pki_keystore_new(struct kms_client *c,
					  struct bw_err *err)
{
	struct pki_keystore *ks = calloc(1, sizeof(*ks));
	struct kms_pki *kp = calloc(1, sizeof(*kp));
	if (!c || !ks || !kp) {
		free(ks);
		free(kp);
		bw_err_set(err, c ? 500 : 400, M, c ? "memory" : "no_client",
			   c ? "out of memory" : "no kms client");
		return NULL;
	}
	kp->c = c;
	ks->ctx = kp;
	ks->generate = pki_generate;
	ks->open = pki_open;
	ks->free = pki_ks_free;
	return ks;
}

/* ------------------------------------------------------------ iam */

struct kms_sealer {
	struct kms_client *c;
	char tenant[KEYSTORE_NAME_MAX + 1];
	char key[KEYSTORE_NAME_MAX + 1];
	atomic_bool ready; /* the key is known to exist */
	/* Opens values sealed before the kms (iam_sealer_local's binary
	 * format); owned; NULL when none. Never used to seal. */
	struct iam_sealer legacy;
	bool has_legacy;
};

static int sealer_ready(struct kms_sealer *s, struct bw_err *err)
{
	if (atomic_load(&s->ready))
		return 0;
	if (key_ensure(s->c, s->tenant, s->key, KEYSTORE_KT_AES256_GCM, err) < 0)
		return -1;
	atomic_store(&s->ready, true);
	return 0;
}

static int sealer_seal(void *ctx, const uint8_t *pt, size_t n, const char *aad,
		       struct bw_buf *out, struct bw_err *err)
{
	struct kms_sealer *s = ctx;
	char *ct = NULL;
	size_t alen = aad ? strlen(aad) : 0;
	if (n > KEYSTORE_DATA_MAX || alen > KEYSTORE_AAD_MAX)
		return bw_err_set(err, 413, M, "too_large",
				  "secret or context too large to seal");
	if (sealer_ready(s, err) < 0 ||
	    kms_encrypt(s->c, s->tenant, s->key, pt, n, aad, alen, &ct, err) < 0)
		return -1;
	int rc = bw_buf_append_str(out, ct);
	free(ct);
	if (rc < 0)
		return bw_err_set(err, 413, M, "too_large", "sealed output too large");
	return 0;
}

static int sealer_open(void *ctx, const uint8_t *ct, size_t n, const char *aad,
		       struct bw_buf *out, struct bw_err *err)
{
	struct kms_sealer *s = ctx;
	/* A value from before the migration: not "bwk1:" text. */
	if (s->has_legacy &&
	    (n < sizeof(KEYSTORE_CTEXT_PREFIX) - 1 ||
	     memcmp(ct, KEYSTORE_CTEXT_PREFIX, sizeof(KEYSTORE_CTEXT_PREFIX) - 1) != 0))
		return s->legacy.open(s->legacy.ctx, ct, n, aad, out, err);
	size_t alen = aad ? strlen(aad) : 0;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	char *text = NULL;
	uint8_t *bin = NULL;
	int rc = -1;
	if (alen > KEYSTORE_AAD_MAX)
		return bw_err_set(err, 413, M, "too_large", "context too large");
	/* Check the form here, so the keystore only sees well-formed
	 * ciphertexts (a non-printable byte could not even be encoded). */
	struct keystore_ctext ctx_parsed;
	struct bw_err perr;
	size_t cap = n / 4 * 3 + 3;
	if (n == 0 || n > KEYSTORE_CTEXT_MAX || memchr(ct, '\0', n)) {
		bw_err_set(err, 400, M, "bad_tag", "not a sealed value");
		goto out;
	}
	bin = malloc(cap);
	text = malloc(n + 1);
	if (!bin || !text) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto out;
	}
	memcpy(text, ct, n);
	text[n] = '\0';
	if (keystore_ctext_decode(text, n, bin, cap, &ctx_parsed, &perr) < 0) {
		bw_err_set(err, 400, M, "bad_tag", "not a sealed value: %s", perr.msg);
		goto out;
	}
	if (kms_decrypt(s->c, s->tenant, s->key, text, aad, alen, &pt, &ptlen,
			err) < 0) {
		/* The iam contract: anything tampered with is 400 "bad_tag".
		 * The keystore says "authentication_failed" for a failed
		 * tag, "bad_request" for a ciphertext of another key or
		 * tenant, "not_found" for an unknown key id and
		 * "key_version" for a version that does not exist (an
		 * altered header) or is below the key's minimum. Sealed
		 * (503) and key state (409) stay as they are: the value may
		 * be fine, the keystore is not. */
		if (err->code == 400 || err->code == 404 ||
		    strcmp(err->reason, "key_version") == 0) {
			char why[sizeof(err->msg)];
			bw_snprintf(why, sizeof(why), "%s", err->msg);
			bw_err_set(err, 400, M, "bad_tag",
				   "sealed value does not open (%.200s)", why);
		}
		goto out;
	}
	if (bw_buf_append(out, pt, ptlen) < 0) {
		bw_err_set(err, 413, M, "too_large", "opened value too large");
		goto out;
	}
	rc = 0;
out:
	if (pt) {
		bw_wipe(pt, ptlen);
		free(pt);
	}
	free(text);
	free(bin);
	return rc;
}

static void sealer_free(void *ctx)
{
	struct kms_sealer *s = ctx;
	if (s && s->has_legacy && s->legacy.free)
		s->legacy.free(s->legacy.ctx);
	free(s);
}

int kms_iam_sealer(struct kms_client *c, const char *tenant,
		   const char *key_name, struct iam_sealer *out,
		   struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!c)
		return bw_err_set(err, 400, M, "no_client", "no kms client");
	if (name_check(tenant, "tenant", err) < 0 ||
	    name_check(key_name, "key name", err) < 0)
		return -1;
	struct kms_sealer *s = calloc(1, sizeof(*s));
	if (!s)
		return bw_err_set(err, 500, M, "memory", "out of memory");
	s->c = c;
	bw_snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
	bw_snprintf(s->key, sizeof(s->key), "%s", key_name);
	atomic_init(&s->ready, false);
	/* Create the key now if the keystore answers; when it is sealed or
	 * away, the first seal creates it instead. A key of the wrong type
	 * is a configuration error worth failing start-up for. */
	struct bw_err e2;
	if (sealer_ready(s, &e2) < 0 && e2.code != 503 && e2.code != 504) {
		if (err)
			*err = e2;
		free(s);
		return -1;
	}
	out->seal = sealer_seal;
	out->open = sealer_open;
	out->ctx = s;
	out->free = sealer_free;
	return 0;
}

int kms_iam_sealer_legacy(struct iam_sealer *s, struct iam_sealer *legacy,
			  struct bw_err *err)
{
	if (!s || s->seal != sealer_seal || !s->ctx || !legacy || !legacy->open)
		return bw_err_set(err, 400, M, "bad_sealer",
				  "legacy sealers attach to a kms sealer");
	struct kms_sealer *ks = s->ctx;
	if (ks->has_legacy)
		return bw_err_set(err, 409, M, "legacy_set",
				  "the sealer already has a legacy sealer");
	ks->legacy = *legacy;
	ks->has_legacy = true;
	memset(legacy, 0, sizeof(*legacy));
	return 0;
}

/* ------------------------------------------------------------ audit */

#define KMS_PLATFORM_TENANT "platform"

struct kms_audit {
	struct kms_client *c;
	char key[KEYSTORE_NAME_MAX + 1];
	uint32_t version;
	EVP_PKEY *pub;
};

static int audit_sign(void *ctx, const uint8_t *msg, size_t len,
		      uint8_t sig[AUDIT_SIG_LEN], struct bw_err *err)
{
	struct kms_audit *a = ctx;
	uint8_t buf[KEYSTORE_SIG_MAX];
	size_t n = 0;
	if (sign_remote(a->c, KMS_PLATFORM_TENANT, a->key, a->version, 0, 0,
			false, msg, len, buf, sizeof(buf), &n, err) < 0)
		return -1;
	if (n != AUDIT_SIG_LEN)
		return bw_err_set(err, 500, M, "reply",
				  "Ed25519 signature of %zu bytes", n);
	/* The key process is trusted with the key, not with every byte on
	 * the socket: an STH that does not verify would poison the log. */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, a->pub) == 1 &&
		 EVP_DigestVerify(md, buf, n, msg, len) == 1;
	EVP_MD_CTX_free(md);
	if (!ok)
		return bw_err_openssl(err, M, "keystore signature does not verify");
	memcpy(sig, buf, AUDIT_SIG_LEN);
	return 0;
}

int kms_audit_signer(struct kms_client *c, const char *key_name,
		     struct audit_signer *out, struct bw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!c)
		return bw_err_set(err, 400, M, "no_client", "no kms client");
	if (name_check(key_name, "key name", err) < 0)
		return -1;
	struct kms_audit *a = calloc(1, sizeof(*a));
	if (!a)
		return bw_err_set(err, 500, M, "memory", "out of memory");
	a->c = c;
	bw_snprintf(a->key, sizeof(a->key), "%s", key_name);
	size_t publen = AUDIT_PUBKEY_LEN;
	if (key_ensure(c, KMS_PLATFORM_TENANT, a->key, KEYSTORE_KT_ED25519, err) < 0)
		goto fail;
	a->version = 0; /* the newest */
	a->pub = pubkey_fetch(c, KMS_PLATFORM_TENANT, a->key, &a->version, err);
	if (!a->pub)
		goto fail;
	if (EVP_PKEY_get_base_id(a->pub) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(a->pub, out->pubkey, &publen) != 1 ||
	    publen != AUDIT_PUBKEY_LEN) {
		bw_err_set(err, 500, M, "key_type", "audit key is not Ed25519");
		goto fail;
	}
	out->ctx = a;
	out->sign = audit_sign;
	return 0;
fail:
	EVP_PKEY_free(a->pub);
	free(a);
	memset(out, 0, sizeof(*out));
	return -1;
}

void kms_audit_signer_fini(struct audit_signer *s)
{
	/* Only ours: a file signer's context is not a struct kms_audit. */
	if (!s || s->sign != audit_sign)
		return;
	struct kms_audit *a = s->ctx;
	if (a) {
		EVP_PKEY_free(a->pub);
		free(a);
	}
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------- audit key migration */

/* The tenant's import wrapping key (RSA, PEM) from IMPORT_PARAMS. */
static EVP_PKEY *import_key_fetch(struct kms_client *c, const char *tenant,
				  struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	EVP_PKEY *pk = NULL;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_IMPORT_PARAMS, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	const struct keystore_field *f = keystore_msg_get(r->msg, 0, KEYSTORE_TAG_PUBKEY);
	if (!f || f->len == 0 || f->len > KEYSTORE_PUBKEY_MAX) {
		bw_err_set(err, 500, M, "reply", "import parameters without a key");
		goto out;
	}
	BIO *bio = BIO_new_mem_buf(f->p, (int)f->len);
	pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!pk || !EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < 2048) {
		EVP_PKEY_free(pk);
		pk = NULL;
		bw_err_openssl(err, M, "import wrapping key");
	}
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return pk;
}

/*
 * CKM_RSA_AES_KEY_WRAP as the keystore's import expects it: a fresh
 * AES-256 key under RSA-OAEP (SHA-256, MGF1-SHA-256), then the RFC 5649
 * wrap of (in, n) under that key. Appends to out (wiped by the caller).
 */
static int rsa_aes_wrap(EVP_PKEY *pub, const uint8_t *in, size_t n,
			struct bw_buf *out, struct bw_err *err)
{
	uint8_t eph[32];
	size_t mod = (size_t)EVP_PKEY_get_size(pub), l1 = mod;
	size_t cap = mod + n + 16;
	uint8_t *blob = malloc(cap);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
	int rc = -1, w1 = 0, w2 = 0;
	bw_random(eph, sizeof(eph));
	if (!blob || !pctx || !cctx || n == 0 || n > KEYSTORE_WRAPPED_MAX) {
		bw_err_set(err, 500, M, "wrap", "cannot wrap the key");
		goto out;
	}
	if (EVP_PKEY_encrypt_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_encrypt(pctx, blob, &l1, eph, sizeof(eph)) != 1) {
		bw_err_openssl(err, M, "RSA-OAEP");
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(cctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_EncryptInit_ex(cctx, EVP_aes_256_wrap_pad(), NULL, eph, NULL) != 1 ||
	    EVP_EncryptUpdate(cctx, blob + l1, &w1, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(cctx, blob + l1 + w1, &w2) != 1) {
		bw_err_openssl(err, M, "AES key wrap");
		goto out;
	}
	if (bw_buf_append(out, blob, l1 + (size_t)w1 + (size_t)w2) < 0) {
		bw_err_set(err, 413, M, "too_large", "wrapped key too large");
		goto out;
	}
	rc = 0;
out:
	bw_wipe(eph, sizeof(eph));
	if (blob) {
		bw_wipe(blob, cap);
		free(blob);
	}
	EVP_CIPHER_CTX_free(cctx);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

/* Overwrites the file with zeros, syncs and removes it. */
static int scrub_file(const char *path, size_t len, struct bw_err *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return bw_err_set(err, 500, M, "scrub", "%s: %s", path, strerror(errno));
	static const uint8_t zero[4096];
	for (size_t off = 0; off < len;) {
		size_t k = len - off < sizeof(zero) ? len - off : sizeof(zero);
		ssize_t w = write(fd, zero, k);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	(void)fsync(fd);
	close(fd);
	if (unlink(path) < 0)
		return bw_err_set(err, 500, M, "scrub", "%s: %s", path, strerror(errno));
	return 0;
}

/* The Ed25519 private key in path (PEM, 0600 like audit_signer_file
 * wants it). NULL with err; 404 when the file does not exist. OUT: the
 * file's size. */
static EVP_PKEY *legacy_key_load(const char *path, size_t *size,
				 struct bw_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		bw_err_set(err, errno == ENOENT ? 404 : 500, M, "key_open",
			   "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		bw_err_set(err, 403, M, "key_mode",
			   "%s: must be a regular file with mode 0600 (is %03o)",
			   path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	size_t len = 0;
	char *pem = bw_file_read(path, KMS_LEGACY_KEY_FILE_MAX, &len, err);
	if (!pem)
		return NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bw_wipe(pem, len);
	free(pem);
	if (!pk) {
		bw_err_openssl(err, M, "legacy audit key");
		return NULL;
	}
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		bw_err_set(err, 400, M, "key_type", "%s: not an Ed25519 key", path);
		return NULL;
	}
	*size = (size_t)st.st_size;
	return pk;
}

static bool same_public(EVP_PKEY *a, EVP_PKEY *b)
{
	uint8_t pa[32], pb[32];
	size_t la = sizeof(pa), lb = sizeof(pb);
	return EVP_PKEY_get_raw_public_key(a, pa, &la) == 1 &&
	       EVP_PKEY_get_raw_public_key(b, pb, &lb) == 1 && la == lb &&
	       memcmp(pa, pb, la) == 0;
}

int kms_audit_key_import_file(struct kms_client *c, const char *key_name,
			      const char *path, struct bw_err *err)
{
	if (!c)
		return bw_err_set(err, 400, M, "no_client", "no kms client");
	if (name_check(key_name, "key name", err) < 0)
		return -1;
	struct bw_err lerr = { 0 };
	size_t fsize = 0;
	EVP_PKEY *priv = legacy_key_load(path, &fsize, &lerr), *pub = NULL,
		 *wrapkey = NULL;
	unsigned char *der = NULL;
	int dl = 0, rc = -1;
	struct bw_buf wrapped;
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	uint32_t have = 0, state = 0, ver = 0;
	bw_buf_init(&wrapped, KEYSTORE_WRAPPED_MAX + 1024);
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_IMPORT, 0, 0);
	if (!priv) {
		if (lerr.code == 404)
			rc = 0; /* nothing to migrate */
		else if (err)
			*err = lerr;
		goto out;
	}
	if (key_get(c, KMS_PLATFORM_TENANT, key_name, &have, &state, err) == 0) {
		/* Already there: a migration that stopped before the file
		 * was removed, or a different key (then a person decides). */
		pub = pubkey_fetch(c, KMS_PLATFORM_TENANT, key_name, &ver, err);
		if (!pub)
			goto out;
		if (!same_public(pub, priv)) {
			bw_err_set(err, 409, M, "key_conflict",
				   "%s and keystore key platform/%s are different "
				   "keys; the file is left in place", path, key_name);
			goto out;
		}
		if (scrub_file(path, fsize, err) < 0)
			goto out;
		rc = 1;
		goto out;
	}
	if (err->code != 404)
		goto out;
	dl = i2d_PrivateKey(priv, &der);
	if (dl <= 0) {
		bw_err_openssl(err, M, "PKCS#8 encoding");
		goto out;
	}
	wrapkey = import_key_fetch(c, KMS_PLATFORM_TENANT, err);
	if (!wrapkey || rsa_aes_wrap(wrapkey, der, (size_t)dl, &wrapped, err) < 0)
		goto out;
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, KMS_PLATFORM_TENANT);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key_name);
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_ED25519);
	keystore_enc_bytes(&e, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	keystore_enc_bool(&e, KEYSTORE_TAG_EXPORTABLE, false);
	if (kms_call(c, &e, 0, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	/* Believe the import only once the keystore hands back the same
	 * public key; only then is the file's copy redundant. */
	pub = pubkey_fetch(c, KMS_PLATFORM_TENANT, key_name, &ver, err);
	if (!pub)
		goto out;
	if (!same_public(pub, priv)) {
		bw_err_set(err, 500, M, "import_mismatch",
			   "the imported key's public half differs; %s kept", path);
		goto out;
	}
	if (scrub_file(path, fsize, err) < 0)
		goto out;
	log_info("kms: audit signing key moved from %s into the keystore "
		 "(platform/%s); the file is removed", path, key_name);
	rc = 1;
out:
	if (der)
		OPENSSL_clear_free(der, (size_t)dl);
	kms_reply_free(r);
	keystore_enc_fini(&e);
	bw_buf_wipe_fini(&wrapped);
	EVP_PKEY_free(wrapkey);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	return rc;
}

/* ------------------------------------------------------------ ready */

/* One STATUS round trip: 0 when initialised and unsealed; -1 with err
 * (503 sealed / not_initialized / unavailable, 504 timeout) otherwise. */
static int ready_once(struct kms_client *c, int timeout_ms, struct bw_err *err)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	int rc = -1;
	bool init = false, sealed = true;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_STATUS, 0, 0);
	if (kms_call(c, &e, timeout_ms, &r, err) < 0 || kms_reply_check(r, 0, err) < 0)
		goto out;
	keystore_msg_bool(r->msg, 0, KEYSTORE_TAG_INITIALIZED, &init);
	keystore_msg_bool(r->msg, 0, KEYSTORE_TAG_SEALED, &sealed);
	if (!init)
		bw_err_set(err, 503, M, "not_initialized",
			   "keystore is not initialised (bulwark operator init)");
	else if (sealed)
		bw_err_set(err, 503, M, "sealed",
			   "keystore is sealed (bulwark operator unseal)");
	else
		rc = 0;
out:
	kms_reply_free(r);
	keystore_enc_fini(&e);
	return rc;
}

int kms_wait_ready(struct kms_client *c, int timeout_ms, struct bw_err *err)
{
	if (!c)
		return bw_err_set(err, 503, M, "unavailable", "no kms client");
	if (timeout_ms < 0)
		timeout_ms = 0;
	int64_t deadline = bw_clock_mono_ms() + timeout_ms;
	long pause_ms = 10;
	for (;;) {
		int64_t left = deadline - bw_clock_mono_ms();
		/* Each probe gets what is left (at least 100 ms, so a last
		 * probe is not doomed by its own timeout), capped at 1 s so a
		 * wedged key process does not eat the whole budget in one
		 * call. */
		int probe = left > 1000 ? 1000 : left < 100 ? 100 : (int)left;
		if (ready_once(c, probe, err) == 0)
			return 0;
		left = deadline - bw_clock_mono_ms();
		if (left <= 0)
			return -1;
		if (pause_ms > left)
			pause_ms = (long)left;
		struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		if (pause_ms < 200)
			pause_ms *= 2;
	}
}
