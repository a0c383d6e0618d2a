/*
 * The keystore engine: turns one decoded request into one response. It
 * owns the seal state and the key table, and is the only place that
 * decides whether an operation is allowed (sealed? tenant? key state?
 * version? exportable?). keystore_main feeds it from the socket; the unit
 * tests call it directly.
 *
 * Request conventions (see keystore.h): fields before the first ITEM are
 * common (TENANT, KEY ...); crypto operations run once per item, each
 * item answering with its own STATUS, or once for an unbatched request
 * whose status is the header's. Key-management operations are never
 * batched.
 *
 * Invariants:
 *  - every lookup is scoped by the request's tenant: no operation can
 *    name, list or use another tenant's key (not even by key id);
 *  - a response never carries key material except an exportable key's
 *    wrapped export, a data key the caller asked for, or decrypted
 *    plaintext; errors carry a sentence, never data;
 *  - plaintext copies made here are wiped before their memory is freed
 *    (the response encoder wipes its own buffer).
 */
#include "keystore/keystore_int.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define M "keystore"

/* An item's outcome: a status and, when not OK, a message. */
struct res {
	unsigned status;
	char msg[KEYSTORE_ERROR_MAX];
};

static unsigned set(struct res *r, unsigned status, const char *msg)
{
	r->status = status;
	bw_snprintf(r->msg, sizeof(r->msg), "%s", msg);
	return status;
}

/* Maps a lower layer's bw_err to a status. */
static unsigned from_err(struct res *r, const struct bw_err *err)
{
	unsigned st = KEYSTORE_E_INTERNAL;
	if (strcmp(err->reason, "auth") == 0)
		st = KEYSTORE_E_AUTH;
	else if (err->code == 400)
		st = KEYSTORE_E_BAD_REQUEST;
	else if (err->code == 403)
		st = KEYSTORE_E_AUTH;
	else if (err->code == 409)
		st = KEYSTORE_E_LIMIT;
	else if (err->code == 413)
		st = KEYSTORE_E_TOO_LARGE;
	else if (err->code == 503)
		st = KEYSTORE_E_SEALED;
	/* Log internal failures here, once; the rest are the caller's. */
	if (st == KEYSTORE_E_INTERNAL)
		log_warnx("keystore: %s", err->msg);
	return set(r, st, err->msg[0] ? err->msg : "internal error");
}

/* ------------------------------------------------------------ key state */

static void key_destroy(struct ks_engine *e, struct ks_key *k)
{
	struct bw_err err;
	ks_key_shred(k);
	k->state = KEYSTORE_STATE_DESTROYED;
	k->updated = bw_clock_now_s();
	if (ks_key_save(e, k, &err) < 0)
		log_warnx("keystore: saving destroyed key %s/%s: %s", k->tenant,
			  k->name, err.msg);
	log_kv(BW_LOG_INFO, "keystore: key destroyed (crypto-shredded)", "tenant",
	       k->tenant, "key", k->name, NULL);
}

/* Adds a version with fresh material and saves; rolls back on failure. */
static int key_rotate(struct ks_engine *e, struct ks_key *k, struct bw_err *err)
{
	struct ks_material m = { 0 };
	if (ks_crypto_generate(k->type, &m, err) < 0)
		return -1;
	if (ks_key_add_version(k, &m, err) < 0) {
		ks_material_free(&m);
		return -1;
	}
	int64_t prev = k->updated;
	k->updated = bw_clock_now_s();
	if (ks_key_save(e, k, err) < 0) {
		struct ks_version *v = &k->v[--k->nv];
		EVP_PKEY_free(v->pkey);
		ks_material_free(&v->mat);
		k->updated = prev;
		return -1;
	}
	char ver[16];
	bw_snprintf(ver, sizeof(ver), "%zu", k->nv);
	log_kv(BW_LOG_INFO, "keystore: key rotated", "tenant", k->tenant, "key",
	       k->name, "version", ver, NULL);
	return 0;
}

/* Applies what the clock says is due: destruction, then rotation. */
static void key_due(struct ks_engine *e, struct ks_key *k, int64_t now)
{
	if (k->state == KEYSTORE_STATE_SCHEDULED && now >= k->destroy_at) {
		key_destroy(e, k);
		return;
	}
	if (k->state == KEYSTORE_STATE_ENABLED && k->rotate_period &&
	    now - k->v[k->nv - 1].created >= (int64_t)k->rotate_period) {
		struct bw_err err;
		if (key_rotate(e, k, &err) < 0)
			log_warnx("keystore: scheduled rotation of %s/%s: %s",
				  k->tenant, k->name, err.msg);
	}
}

static bool reserved(struct bw_str name)
{
	return name.len >= 2 && name.p[0] == '_' && name.p[1] == '_';
}

static unsigned get_tenant(const struct keystore_msg *m, struct bw_str *t,
			   struct res *r)
{
	if (!keystore_msg_str(m, 0, KEYSTORE_TAG_TENANT, t) ||
	    !keystore_name_valid(t->p, t->len))
		return set(r, KEYSTORE_E_BAD_REQUEST, "a valid tenant is required");
	return KEYSTORE_OK;
}

/* The key named by the request (item's KEY, else the common one). When
 * `usable`, it must be enabled. */
static unsigned get_key(struct ks_engine *e, const struct keystore_msg *m,
			size_t it, bool usable, struct ks_key **out,
			struct res *r)
{
	struct bw_str t, name;
	/* the status itself, not r->status: callers test the return value
	 * and only then use *out, which the compiler must see is set */
	unsigned st = get_tenant(m, &t, r);
	if (st)
		return st;
	if (!keystore_msg_str(m, it, KEYSTORE_TAG_KEY, &name) ||
	    !keystore_name_valid(name.p, name.len))
		return set(r, KEYSTORE_E_BAD_REQUEST, "a valid key name is required");
	struct ks_key *k = reserved(name) ? NULL : ks_key_find(e, t, name);
	if (!k)
		return set(r, KEYSTORE_E_NOT_FOUND, "no such key");
	key_due(e, k, bw_clock_now_s());
	if (usable) {
		if (k->state == KEYSTORE_STATE_DESTROYED)
			return set(r, KEYSTORE_E_KEY_STATE, "key is destroyed");
		if (k->state == KEYSTORE_STATE_SUSPENDED)
			return set(r, KEYSTORE_E_KEY_STATE, "key is suspended");
		if (k->state == KEYSTORE_STATE_SCHEDULED)
			return set(r, KEYSTORE_E_KEY_STATE,
				   "key is scheduled for destruction");
	}
	*out = k;
	return KEYSTORE_OK;
}

/* The version a verifying/decrypting request names (default: latest),
 * held to the minimum decryption version. */
static unsigned get_version(struct ks_key *k, uint32_t ver,
			    struct ks_version **out, struct res *r)
{
	if (ver == 0 || ver > k->nv)
		return set(r, KEYSTORE_E_VERSION, "no such key version");
	if (ver < k->min_version)
		return set(r, KEYSTORE_E_VERSION,
			   "key version is below the minimum decryption version");
	if (!k->v[ver - 1].mat.p)
		return set(r, KEYSTORE_E_KEY_STATE, "key version is destroyed");
	*out = &k->v[ver - 1];
	return KEYSTORE_OK;
}

static void put_key_info(struct keystore_enc *o, const struct ks_key *k,
			 bool versions)
{
	keystore_enc_str(o, KEYSTORE_TAG_KEY, k->name);
	keystore_enc_bytes(o, KEYSTORE_TAG_KEY_ID, k->id, KEYSTORE_KEY_ID_LEN);
	keystore_enc_u32(o, KEYSTORE_TAG_KEY_TYPE, k->type);
	keystore_enc_u32(o, KEYSTORE_TAG_STATE, k->state);
	keystore_enc_bool(o, KEYSTORE_TAG_EXPORTABLE, k->exportable);
	keystore_enc_u32(o, KEYSTORE_TAG_MIN_VERSION, k->min_version);
	keystore_enc_u32(o, KEYSTORE_TAG_LATEST, (uint32_t)k->nv);
	keystore_enc_u64(o, KEYSTORE_TAG_ROTATE_PERIOD, k->rotate_period);
	keystore_enc_u64(o, KEYSTORE_TAG_CREATED, (uint64_t)k->created);
	keystore_enc_u64(o, KEYSTORE_TAG_UPDATED, (uint64_t)k->updated);
	if (k->state == KEYSTORE_STATE_SCHEDULED)
		keystore_enc_u64(o, KEYSTORE_TAG_DESTROY_AT, (uint64_t)k->destroy_at);
	if (versions)
		for (size_t i = 0; i < k->nv; i++)
			keystore_enc_u64(o, KEYSTORE_TAG_VTIME,
					 (uint64_t)k->v[i].created);
}

/* --------------------------------------------------------- crypto items */

static unsigned aead_alg(unsigned type)
{
	return type == KEYSTORE_KT_AES256_GCM ? 1 :
	       type == KEYSTORE_KT_CHACHA20_POLY1305 ? 2 :
						     0;
}

static void aad_of(const struct keystore_msg *m, size_t it, const uint8_t **p,
		   size_t *n)
{
	const struct keystore_field *f = keystore_msg_find(m, it, KEYSTORE_TAG_AAD);
	*p = f ? f->p : NULL;
	*n = f ? f->len : 0;
}

/* Encrypts (pt, n) under k's latest version and writes CIPHERTEXT and
 * VERSION. */
static unsigned seal_to(struct ks_key *k, const uint8_t *pt, size_t n,
			const uint8_t *aad, size_t aadlen,
			struct keystore_enc *o, struct res *r)
{
	struct ks_version *v = &k->v[k->nv - 1];
	unsigned alg = aead_alg(k->type);
	size_t binlen = KEYSTORE_CTEXT_OVERHEAD + n;
	size_t textcap = sizeof(KEYSTORE_CTEXT_PREFIX) + binlen / 3 * 4 + 8;
	uint8_t *bin = malloc(binlen);
	char *text = malloc(textcap);
	struct bw_err err;
	unsigned st = KEYSTORE_OK;
	if (!bin || !text) {
		st = set(r, KEYSTORE_E_INTERNAL, "out of memory");
		goto out;
	}
	bin[0] = 1;
	bin[1] = (uint8_t)alg;
	bin[2] = (uint8_t)(v->version >> 24);
	bin[3] = (uint8_t)(v->version >> 16);
	bin[4] = (uint8_t)(v->version >> 8);
	bin[5] = (uint8_t)v->version;
	memcpy(bin + 6, k->id, KEYSTORE_KEY_ID_LEN);
	uint8_t *nonce = bin + KEYSTORE_CTEXT_HDR;
	uint8_t *ct = nonce + KEYSTORE_CTEXT_NONCE;
	bw_random(nonce, KEYSTORE_CTEXT_NONCE);
	if (ks_aead_seal(alg, v->mat.p, nonce, bin, KEYSTORE_CTEXT_HDR, aad,
			 aadlen, pt, n, ct, ct + n, &err) < 0) {
		st = from_err(r, &err);
		goto out;
	}
	size_t tl = keystore_ctext_armour(bin, binlen, text, textcap);
	if (!tl || tl > KEYSTORE_CTEXT_MAX) {
		st = set(r, KEYSTORE_E_TOO_LARGE, "ciphertext too large");
		goto out;
	}
	keystore_enc_strn(o, KEYSTORE_TAG_CIPHERTEXT, text, tl);
	keystore_enc_u32(o, KEYSTORE_TAG_VERSION, v->version);
out:
	free(bin);
	free(text);
	return st;
}

static unsigned op_encrypt(struct ks_engine *e, const struct keystore_msg *m,
			   size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	if (get_key(e, m, it, true, &k, r))
		return r->status;
	if (!aead_alg(k->type))
		return set(r, KEYSTORE_E_DENIED, "key type does not encrypt");
	const struct keystore_field *pt = keystore_msg_get(m, it, KEYSTORE_TAG_PLAINTEXT);
	if (!pt)
		return set(r, KEYSTORE_E_BAD_REQUEST, "plaintext is required");
	const uint8_t *aad;
	size_t aadlen;
	aad_of(m, it, &aad, &aadlen);
	return seal_to(k, pt->p, pt->len, aad, aadlen, o, r);
}

/* Opens an item's CIPHERTEXT. OUT: *kout, *pt (malloc'd, *ptlen bytes;
 * the caller wipes and frees), *ver. */
static unsigned open_item(struct ks_engine *e, const struct keystore_msg *m,
			  size_t it, struct ks_key **kout, uint8_t **pt,
			  size_t *ptlen, uint32_t *ver, struct res *r)
{
	struct bw_str text, t;
	*pt = NULL;
	if (!keystore_msg_str(m, it, KEYSTORE_TAG_CIPHERTEXT, &text))
		return set(r, KEYSTORE_E_BAD_REQUEST, "ciphertext is required");
	if (get_tenant(m, &t, r))
		return r->status;
	uint8_t *buf = malloc(text.len);
	struct keystore_ctext c;
	struct bw_err err;
	unsigned st = KEYSTORE_OK;
	if (!buf)
		return set(r, KEYSTORE_E_INTERNAL, "out of memory");
	if (keystore_ctext_decode(text.p, text.len, buf, text.len, &c, &err) < 0) {
		st = set(r, KEYSTORE_E_BAD_REQUEST, err.msg);
		goto out;
	}
	struct ks_key *k = NULL;
	struct bw_str name;
	if (keystore_msg_str(m, it, KEYSTORE_TAG_KEY, &name)) {
		if ((st = get_key(e, m, it, true, &k, r)) != KEYSTORE_OK)
			goto out;
		if (memcmp(k->id, c.key_id, KEYSTORE_KEY_ID_LEN) != 0) {
			st = set(r, KEYSTORE_E_AUTH,
				 "ciphertext was not made with this key");
			goto out;
		}
	} else {
		/* Self-describing: find the key by its id, in this tenant only. */
		k = ks_key_find_id(e, t, c.key_id);
		if (!k) {
			st = set(r, KEYSTORE_E_NOT_FOUND, "no such key");
			goto out;
		}
		/* The platform's own keys ('_…': identity sealer, CA and audit
		 * keys) are used by name through their modules only: a
		 * ciphertext alone must not open them. */
		if (k->name[0] == '_') {
			st = set(r, KEYSTORE_E_DENIED, "reserved key");
			goto out;
		}
		key_due(e, k, bw_clock_now_s());
		if (k->state != KEYSTORE_STATE_ENABLED) {
			st = set(r, KEYSTORE_E_KEY_STATE, "key is not enabled");
			goto out;
		}
	}
	if (aead_alg(k->type) != c.alg) {
		st = set(r, KEYSTORE_E_AUTH, "ciphertext algorithm does not match the key");
		goto out;
	}
	struct ks_version *v;
	if ((st = get_version(k, c.version, &v, r)) != KEYSTORE_OK)
		goto out;
	const uint8_t *aad;
	size_t aadlen;
	aad_of(m, it, &aad, &aadlen);
	*pt = malloc(c.ct_len ? c.ct_len : 1);
	if (!*pt) {
		st = set(r, KEYSTORE_E_INTERNAL, "out of memory");
		goto out;
	}
	if (ks_aead_open(c.alg, v->mat.p, c.nonce, c.hdr, KEYSTORE_CTEXT_HDR, aad,
			 aadlen, c.ct, c.ct_len, c.tag, *pt, &err) < 0) {
		free(*pt);
		*pt = NULL;
		st = set(r, KEYSTORE_E_AUTH,
			 "ciphertext failed authentication (tampered, or wrong "
			 "associated data)");
		goto out;
	}
	*ptlen = c.ct_len;
	*ver = c.version;
	*kout = k;
out:
	free(buf);
	return st;
}

static unsigned op_decrypt(struct ks_engine *e, const struct keystore_msg *m,
			   size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	uint8_t *pt;
	size_t n;
	uint32_t ver;
	if (open_item(e, m, it, &k, &pt, &n, &ver, r))
		return r->status;
	keystore_enc_bytes(o, KEYSTORE_TAG_PLAINTEXT, pt, n);
	keystore_enc_u32(o, KEYSTORE_TAG_VERSION, ver);
	OPENSSL_cleanse(pt, n);
	free(pt);
	return KEYSTORE_OK;
}

static unsigned op_rewrap(struct ks_engine *e, const struct keystore_msg *m,
			  size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	uint8_t *pt;
	size_t n;
	uint32_t ver;
	if (open_item(e, m, it, &k, &pt, &n, &ver, r))
		return r->status;
	const uint8_t *aad;
	size_t aadlen;
	aad_of(m, it, &aad, &aadlen);
	unsigned st = seal_to(k, pt, n, aad, aadlen, o, r);
	OPENSSL_cleanse(pt, n);
	free(pt);
	return st;
}

/*
 * Plain AES-256-GCM for PKCS#11's CKM_AES_GCM: the caller chooses the
 * 12-byte nonce (uniqueness is the caller's duty, as the standard says),
 * AAD is only the caller's, and the result is ciphertext || tag with no
 * bwk1 framing. AES-256-GCM keys only; ChaCha20 has no PKCS#11 v2.40
 * mechanism.
 */
static unsigned gcm_params(struct ks_engine *e, const struct keystore_msg *m,
			   size_t it, struct ks_key **k,
			   const struct keystore_field **nonce, struct res *r)
{
	unsigned st = get_key(e, m, it, true, k, r);
	if (st)
		return st;
	if ((*k)->type != KEYSTORE_KT_AES256_GCM)
		return set(r, KEYSTORE_E_DENIED, "not an AES-256-GCM key");
	*nonce = keystore_msg_find(m, it, KEYSTORE_TAG_NONCE);
	if (!*nonce)
		return set(r, KEYSTORE_E_BAD_REQUEST, "a 12-byte nonce is required");
	return KEYSTORE_OK;
}

static unsigned op_gcm_encrypt(struct ks_engine *e, const struct keystore_msg *m,
			       size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	const struct keystore_field *nonce;
	if (gcm_params(e, m, it, &k, &nonce, r))
		return r->status;
	const struct keystore_field *pt = keystore_msg_get(m, it, KEYSTORE_TAG_PLAINTEXT);
	if (!pt)
		return set(r, KEYSTORE_E_BAD_REQUEST, "plaintext is required");
	const uint8_t *aad;
	size_t aadlen;
	aad_of(m, it, &aad, &aadlen);
	struct ks_version *v = &k->v[k->nv - 1];
	uint8_t *ct = malloc(pt->len + KEYSTORE_CTEXT_TAG);
	struct bw_err err;
	if (!ct)
		return set(r, KEYSTORE_E_INTERNAL, "out of memory");
	unsigned st = KEYSTORE_OK;
	if (ks_aead_seal(1, v->mat.p, nonce->p, aad, aadlen, NULL, 0, pt->p,
			 pt->len, ct, ct + pt->len, &err) < 0) {
		st = from_err(r, &err);
	} else {
		keystore_enc_bytes(o, KEYSTORE_TAG_RAW, ct, pt->len + KEYSTORE_CTEXT_TAG);
		keystore_enc_u32(o, KEYSTORE_TAG_VERSION, v->version);
	}
	free(ct);
	return st;
}

static unsigned op_gcm_decrypt(struct ks_engine *e, const struct keystore_msg *m,
			       size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	const struct keystore_field *nonce;
	if (gcm_params(e, m, it, &k, &nonce, r))
		return r->status;
	const struct keystore_field *ct = keystore_msg_get(m, it, KEYSTORE_TAG_RAW);
	if (!ct || ct->len < KEYSTORE_CTEXT_TAG)
		return set(r, KEYSTORE_E_BAD_REQUEST, "ciphertext and tag are required");
	const uint8_t *aad;
	size_t aadlen;
	aad_of(m, it, &aad, &aadlen);
	uint32_t want = 0;
	keystore_msg_u32(m, it, KEYSTORE_TAG_VERSION, &want);
	size_t n = ct->len - KEYSTORE_CTEXT_TAG;
	uint8_t *pt = malloc(n ? n : 1);
	struct bw_err err;
	if (!pt)
		return set(r, KEYSTORE_E_INTERNAL, "out of memory");
	unsigned st = KEYSTORE_E_AUTH;
	/* Without a version, newest first down to the minimum: the tag
	 * tells which version made it. */
	uint32_t top = want ? want : k->nv;
	for (uint32_t ver = top; ver >= 1 && ver >= k->min_version && ver <= k->nv;
	     ver--) {
		struct ks_version *v = &k->v[ver - 1];
		if (v->mat.p &&
		    ks_aead_open(1, v->mat.p, nonce->p, aad, aadlen, NULL, 0, ct->p,
				 n, ct->p + n, pt, &err) == 0) {
			st = KEYSTORE_OK;
			keystore_enc_bytes(o, KEYSTORE_TAG_PLAINTEXT, pt, n);
			keystore_enc_u32(o, KEYSTORE_TAG_VERSION, ver);
			break;
		}
		if (want)
			break;
	}
	if (st != KEYSTORE_OK)
		set(r, KEYSTORE_E_AUTH,
		    "ciphertext failed authentication (tampered, wrong nonce or "
		    "associated data)");
	OPENSSL_cleanse(pt, n ? n : 1);
	free(pt);
	return st;
}

static unsigned op_datakey(struct ks_engine *e, const struct keystore_msg *m,
			   size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	if (get_key(e, m, it, true, &k, r))
		return r->status;
	if (!aead_alg(k->type))
		return set(r, KEYSTORE_E_DENIED, "key type does not encrypt");
	uint32_t bits = 256;
	bool no_pt = false;
	keystore_msg_u32(m, it, KEYSTORE_TAG_BITS, &bits);
	keystore_msg_bool(m, it, KEYSTORE_TAG_NO_PLAINTEXT, &no_pt);
	if (bits != 128 && bits != 256 && bits != 512)
		return set(r, KEYSTORE_E_BAD_REQUEST, "bits must be 128, 256 or 512");
	uint8_t *dk = ks_secure_alloc(bits / 8);
	if (!dk)
		return set(r, KEYSTORE_E_INTERNAL, "secure heap exhausted");
	bw_random(dk, bits / 8);
	const uint8_t *aad;
	size_t aadlen;
	aad_of(m, it, &aad, &aadlen);
	unsigned st = seal_to(k, dk, bits / 8, aad, aadlen, o, r);
	if (st == KEYSTORE_OK && !no_pt)
		keystore_enc_bytes(o, KEYSTORE_TAG_PLAINTEXT, dk, bits / 8);
	ks_secure_free(dk, bits / 8);
	return st;
}

static void sig_params(const struct keystore_msg *m, size_t it, uint32_t *hash,
		       uint32_t *pad, bool *pre)
{
	*hash = 0;
	*pad = 0;
	*pre = false;
	keystore_msg_u32(m, it, KEYSTORE_TAG_HASH, hash);
	keystore_msg_u32(m, it, KEYSTORE_TAG_PADDING, pad);
	keystore_msg_bool(m, it, KEYSTORE_TAG_PREHASHED, pre);
}

static unsigned op_sign(struct ks_engine *e, const struct keystore_msg *m,
			size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct bw_err err;
	if (get_key(e, m, it, true, &k, r))
		return r->status;
	if (!keystore_key_type_is_signing(k->type))
		return set(r, KEYSTORE_E_DENIED, "key type does not sign");
	const struct keystore_field *msg = keystore_msg_get(m, it, KEYSTORE_TAG_MESSAGE);
	if (!msg)
		return set(r, KEYSTORE_E_BAD_REQUEST, "message is required");
	uint32_t hash, pad;
	bool pre;
	sig_params(m, it, &hash, &pad, &pre);
	struct ks_version *v = &k->v[k->nv - 1];
	EVP_PKEY *pk = ks_key_pkey(k, v, &err);
	uint8_t sig[KEYSTORE_SIG_MAX];
	size_t slen;
	if (!pk || ks_sign(pk, k->type, hash, pad, pre, msg->p, msg->len, sig,
			   sizeof(sig), &slen, &err) < 0)
		return from_err(r, &err);
	keystore_enc_bytes(o, KEYSTORE_TAG_SIGNATURE, sig, slen);
	keystore_enc_u32(o, KEYSTORE_TAG_VERSION, v->version);
	return KEYSTORE_OK;
}

static uint32_t req_version(const struct keystore_msg *m, size_t it,
			    const struct ks_key *k)
{
	uint32_t ver = (uint32_t)k->nv;
	keystore_msg_u32(m, it, KEYSTORE_TAG_VERSION, &ver);
	return ver;
}

static unsigned op_verify(struct ks_engine *e, const struct keystore_msg *m,
			  size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct ks_version *v;
	struct bw_err err;
	if (get_key(e, m, it, true, &k, r))
		return r->status;
	if (!keystore_key_type_is_signing(k->type))
		return set(r, KEYSTORE_E_DENIED, "key type does not sign");
	const struct keystore_field *msg = keystore_msg_get(m, it, KEYSTORE_TAG_MESSAGE);
	const struct keystore_field *sig = keystore_msg_get(m, it, KEYSTORE_TAG_SIGNATURE);
	if (!msg || !sig)
		return set(r, KEYSTORE_E_BAD_REQUEST, "message and signature are required");
	if (get_version(k, req_version(m, it, k), &v, r))
		return r->status;
	uint32_t hash, pad;
	bool pre, valid = false;
	sig_params(m, it, &hash, &pad, &pre);
	EVP_PKEY *pk = ks_key_pkey(k, v, &err);
	if (!pk || ks_verify(pk, k->type, hash, pad, pre, msg->p, msg->len, sig->p,
			     sig->len, -1, &valid, &err) < 0)
		return from_err(r, &err);
	keystore_enc_bool(o, KEYSTORE_TAG_VALID, valid);
	keystore_enc_u32(o, KEYSTORE_TAG_VERSION, v->version);
	return KEYSTORE_OK;
}

static unsigned op_hmac(struct ks_engine *e, const struct keystore_msg *m,
			size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct ks_version *v;
	struct bw_err err;
	if (get_key(e, m, it, true, &k, r))
		return r->status;
	if (!keystore_key_type_is_hmac(k->type))
		return set(r, KEYSTORE_E_DENIED, "key type does not compute HMACs");
	const struct keystore_field *msg = keystore_msg_get(m, it, KEYSTORE_TAG_MESSAGE);
	if (!msg)
		return set(r, KEYSTORE_E_BAD_REQUEST, "message is required");
	bool verify = m->op == KEYSTORE_OP_HMAC_VERIFY;
	const struct keystore_field *want = keystore_msg_get(m, it, KEYSTORE_TAG_MAC);
	if (verify && !want)
		return set(r, KEYSTORE_E_BAD_REQUEST, "mac is required");
	uint32_t ver = verify ? req_version(m, it, k) : (uint32_t)k->nv;
	if (get_version(k, ver, &v, r))
		return r->status;
	uint8_t mac[64];
	size_t ml;
	if (ks_hmac(k->type, v->mat.p, v->mat.len, msg->p, msg->len, mac, &ml,
		    &err) < 0)
		return from_err(r, &err);
	if (verify)
		keystore_enc_bool(o, KEYSTORE_TAG_VALID,
				  bw_ct_equal(mac, ml, want->p, want->len));
	else
		keystore_enc_bytes(o, KEYSTORE_TAG_MAC, mac, ml);
	keystore_enc_u32(o, KEYSTORE_TAG_VERSION, v->version);
	OPENSSL_cleanse(mac, sizeof(mac));
	return KEYSTORE_OK;
}

static unsigned op_pubkey(struct ks_engine *e, const struct keystore_msg *m,
			  size_t it, struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct bw_err err;
	if (get_key(e, m, it, false, &k, r))
		return r->status;
	if (!keystore_key_type_is_signing(k->type))
		return set(r, KEYSTORE_E_DENIED, "key type has no public key");
	if (k->state == KEYSTORE_STATE_DESTROYED)
		return set(r, KEYSTORE_E_KEY_STATE, "key is destroyed");
	uint32_t ver = req_version(m, it, k), fmt = KEYSTORE_FMT_PEM;
	keystore_msg_u32(m, it, KEYSTORE_TAG_FORMAT, &fmt);
	if (ver == 0 || ver > k->nv)
		return set(r, KEYSTORE_E_VERSION, "no such key version");
	struct ks_version *v = &k->v[ver - 1];
	EVP_PKEY *pk = ks_key_pkey(k, v, &err);
	if (!pk)
		return from_err(r, &err);
	char kid[2 * KEYSTORE_NAME_MAX + 16];
	bw_snprintf(kid, sizeof(kid), "%s/%s:%u", k->tenant, k->name, ver);
	struct bw_buf b;
	bw_buf_init(&b, KEYSTORE_PUBKEY_MAX);
	unsigned st = KEYSTORE_OK;
	if (ks_pubkey_export(pk, k->type, fmt, kid, &b, &err) < 0)
		st = from_err(r, &err);
	else {
		keystore_enc_bytes(o, KEYSTORE_TAG_PUBKEY, b.data, b.len);
		keystore_enc_u32(o, KEYSTORE_TAG_VERSION, ver);
	}
	bw_buf_fini(&b);
	return st;
}

static unsigned op_random(struct ks_engine *e, const struct keystore_msg *m,
			  size_t it, struct keystore_enc *o, struct res *r)
{
	(void)e;
	uint32_t n = 0;
	if (!keystore_msg_u32(m, it, KEYSTORE_TAG_COUNT, &n) || n == 0 ||
	    n > KEYSTORE_RANDOM_MAX)
		return set(r, KEYSTORE_E_BAD_REQUEST, "count must be 1 to 4096");
	uint8_t buf[KEYSTORE_RANDOM_MAX];
	bw_random(buf, n);
	keystore_enc_bytes(o, KEYSTORE_TAG_PLAINTEXT, buf, n);
	OPENSSL_cleanse(buf, n);
	return KEYSTORE_OK;
}

typedef unsigned (*item_fn)(struct ks_engine *e, const struct keystore_msg *m,
			    size_t it, struct keystore_enc *o, struct res *r);

/* Runs fn over every item, writing per-item status for batches. */
static void run_items(struct ks_engine *e, const struct keystore_msg *m,
		      struct keystore_enc *o, item_fn fn)
{
	size_t n = keystore_msg_items(m);
	bool batch = m->nitems > 0;
	for (size_t i = 0; i < n; i++) {
		size_t it = keystore_msg_item_index(m, i);
		struct res r = { 0 };
		if (batch)
			keystore_enc_item(o);
		unsigned st = fn(e, m, it, o, &r);
		if (batch)
			keystore_enc_u32(o, KEYSTORE_TAG_STATUS, st);
		else
			keystore_enc_set_status(o, st);
		if (st != KEYSTORE_OK)
			keystore_enc_str(o, KEYSTORE_TAG_ERROR, r.msg);
	}
}

/* --------------------------------------------------------- key lifecycle */

static unsigned check_period(uint64_t p, struct res *r)
{
	if (p != 0 && (p < KEYSTORE_ROTATE_PERIOD_MIN_S ||
		       p > KEYSTORE_ROTATE_PERIOD_HARD_S))
		return set(r, KEYSTORE_E_BAD_REQUEST,
			   "rotation period must be 0 or 1 hour to 10 years");
	return KEYSTORE_OK;
}

/* A new key record (not yet in the table). */
static struct ks_key *key_new(struct bw_str tenant, struct bw_str name,
			      unsigned type)
{
	struct ks_key *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	memcpy(k->tenant, tenant.p, tenant.len);
	memcpy(k->name, name.p, name.len);
	bw_random(k->id, sizeof(k->id));
	k->type = type;
	k->state = KEYSTORE_STATE_ENABLED;
	k->min_version = 1;
	k->created = k->updated = bw_clock_now_s();
	return k;
}

/* Inserts and saves a new key holding `mat` as version 1. */
static unsigned key_add(struct ks_engine *e, struct ks_key *k,
			struct ks_material *mat, struct res *r)
{
	struct bw_err err;
	if (ks_key_add_version(k, mat, &err) < 0) {
		ks_key_free(k);
		return from_err(r, &err);
	}
	if (ks_key_insert(e, k) < 0) {
		ks_key_free(k);
		return set(r, KEYSTORE_E_LIMIT, "the keystore holds the maximum number of keys");
	}
	if (ks_key_save(e, k, &err) < 0) {
		struct bw_str t = bw_str_make(k->tenant, strlen(k->tenant));
		struct bw_str n = bw_str_make(k->name, strlen(k->name));
		size_t i = ks_key_lower_bound(e, t, n);
		memmove(&e->keys[i], &e->keys[i + 1],
			(e->nkeys - i - 1) * sizeof(*e->keys));
		e->nkeys--;
		ks_key_free(k);
		return from_err(r, &err);
	}
	log_kv(BW_LOG_INFO, "keystore: key created", "tenant", k->tenant, "key",
	       k->name, "type", keystore_key_type_name(k->type), NULL);
	return KEYSTORE_OK;
}

static unsigned op_create(struct ks_engine *e, const struct keystore_msg *m,
			  struct keystore_enc *o, struct res *r)
{
	struct bw_str t, name;
	uint32_t type = 0;
	uint64_t period = 0;
	bool exportable = false;
	if (get_tenant(m, &t, r))
		return r->status;
	if (!keystore_msg_str(m, 0, KEYSTORE_TAG_KEY, &name) ||
	    !keystore_name_valid(name.p, name.len) || reserved(name))
		return set(r, KEYSTORE_E_BAD_REQUEST,
			   "a valid key name is required (not starting with __)");
	if (!keystore_msg_u32(m, 0, KEYSTORE_TAG_KEY_TYPE, &type) || type == 0 ||
	    type >= KEYSTORE_KT_MAX_)
		return set(r, KEYSTORE_E_BAD_REQUEST, "a known key type is required");
	keystore_msg_u64(m, 0, KEYSTORE_TAG_ROTATE_PERIOD, &period);
	keystore_msg_bool(m, 0, KEYSTORE_TAG_EXPORTABLE, &exportable);
	if (check_period(period, r))
		return r->status;
	if (ks_key_find(e, t, name))
		return set(r, KEYSTORE_E_EXISTS, "a key of that name exists");
	struct ks_key *k = key_new(t, name, type);
	struct ks_material mat = { 0 };
	struct bw_err err;
	if (!k)
		return set(r, KEYSTORE_E_INTERNAL, "out of memory");
	k->exportable = exportable;
	k->rotate_period = period;
	if (ks_crypto_generate(type, &mat, &err) < 0) {
		ks_key_free(k);
		return from_err(r, &err);
	}
	if (key_add(e, k, &mat, r)) {
		ks_material_free(&mat);
		return r->status;
	}
	put_key_info(o, k, true);
	return KEYSTORE_OK;
}

static unsigned op_list(struct ks_engine *e, const struct keystore_msg *m,
			struct keystore_enc *o, struct res *r)
{
	struct bw_str t, cursor = { "", 0 };
	uint32_t limit = 100;
	if (get_tenant(m, &t, r))
		return r->status;
	keystore_msg_str(m, 0, KEYSTORE_TAG_CURSOR, &cursor);
	keystore_msg_u32(m, 0, KEYSTORE_TAG_LIMIT, &limit);
	if (limit == 0 || limit > KEYSTORE_BATCH_MAX)
		limit = KEYSTORE_BATCH_MAX;
	/* First find the page, so the cursor (a common field) can precede
	 * the items. */
	size_t first = ks_key_lower_bound(e, t, cursor), i = first, last = SIZE_MAX;
	uint32_t n = 0;
	for (; i < e->nkeys && n < limit; i++) {
		const struct ks_key *k = e->keys[i];
		if (strlen(k->tenant) != t.len || memcmp(k->tenant, t.p, t.len) != 0)
			break;
		/* The cursor names the last key already seen. */
		if ((cursor.len && strlen(k->name) == cursor.len &&
		     memcmp(k->name, cursor.p, cursor.len) == 0) ||
		    reserved(bw_str_make(k->name, strlen(k->name))))
			continue;
		last = i;
		n++;
	}
	/* More keys of this tenant follow: hand out a cursor. */
	if (last != SIZE_MAX && i < e->nkeys &&
	    strcmp(e->keys[i]->tenant, e->keys[last]->tenant) == 0)
		keystore_enc_str(o, KEYSTORE_TAG_CURSOR, e->keys[last]->name);
	for (size_t j = first; last != SIZE_MAX && j <= last; j++) {
		const struct ks_key *k = e->keys[j];
		if ((cursor.len && strlen(k->name) == cursor.len &&
		     memcmp(k->name, cursor.p, cursor.len) == 0) ||
		    reserved(bw_str_make(k->name, strlen(k->name))))
			continue;
		keystore_enc_item(o);
		put_key_info(o, k, false);
	}
	return KEYSTORE_OK;
}

static unsigned op_key_simple(struct ks_engine *e, const struct keystore_msg *m,
			      struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct bw_err err;
	if (get_key(e, m, 0, false, &k, r))
		return r->status;
	int64_t now = bw_clock_now_s();
	unsigned prev_state = k->state;
	int64_t prev_destroy = k->destroy_at;
	switch (m->op) {
	case KEYSTORE_OP_KEY_GET:
		put_key_info(o, k, true);
		return KEYSTORE_OK;
	case KEYSTORE_OP_KEY_ROTATE:
		if (k->state != KEYSTORE_STATE_ENABLED)
			return set(r, KEYSTORE_E_KEY_STATE, "only enabled keys rotate");
		if (key_rotate(e, k, &err) < 0)
			return from_err(r, &err);
		put_key_info(o, k, true);
		return KEYSTORE_OK;
	case KEYSTORE_OP_KEY_SUSPEND:
		if (k->state != KEYSTORE_STATE_ENABLED &&
		    k->state != KEYSTORE_STATE_SUSPENDED)
			return set(r, KEYSTORE_E_KEY_STATE, "only enabled keys can be suspended");
		k->state = KEYSTORE_STATE_SUSPENDED;
		break;
	case KEYSTORE_OP_KEY_ENABLE:
		if (k->state == KEYSTORE_STATE_DESTROYED)
			return set(r, KEYSTORE_E_KEY_STATE, "a destroyed key stays destroyed");
		k->state = KEYSTORE_STATE_ENABLED;
		k->destroy_at = 0;
		break;
	case KEYSTORE_OP_KEY_SCHEDULE_DESTROY: {
		uint64_t delay = KEYSTORE_DESTROY_DELAY_DEFAULT_S;
		keystore_msg_u64(m, 0, KEYSTORE_TAG_DELAY, &delay);
		if (delay < KEYSTORE_DESTROY_DELAY_MIN_S ||
		    delay > KEYSTORE_DESTROY_DELAY_HARD_S)
			return set(r, KEYSTORE_E_BAD_REQUEST,
				   "delay must be 60 seconds to 90 days");
		if (k->state == KEYSTORE_STATE_DESTROYED ||
		    k->state == KEYSTORE_STATE_SCHEDULED)
			return set(r, KEYSTORE_E_KEY_STATE,
				   "key is already destroyed or scheduled");
		k->state = KEYSTORE_STATE_SCHEDULED;
		k->destroy_at = now + (int64_t)delay;
		break;
	}
	case KEYSTORE_OP_KEY_DESTROY:
		/* Two steps, like AWS KMS: nothing is shredded by one call. */
		if (k->state != KEYSTORE_STATE_SCHEDULED)
			return set(r, KEYSTORE_E_KEY_STATE,
				   "schedule the key for destruction first");
		key_destroy(e, k);
		put_key_info(o, k, true);
		return KEYSTORE_OK;
	default:
		return set(r, KEYSTORE_E_UNSUPPORTED, "unknown operation");
	}
	int64_t prev_updated = k->updated;
	k->updated = now;
	if (ks_key_save(e, k, &err) < 0) {
		k->state = prev_state;
		k->destroy_at = prev_destroy;
		k->updated = prev_updated;
		return from_err(r, &err);
	}
	log_kv(BW_LOG_INFO, "keystore: key state changed", "tenant", k->tenant, "key",
	       k->name, "state", keystore_key_state_name(k->state), NULL);
	put_key_info(o, k, true);
	return KEYSTORE_OK;
}

static unsigned op_update(struct ks_engine *e, const struct keystore_msg *m,
			  struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct bw_err err;
	if (get_key(e, m, 0, false, &k, r))
		return r->status;
	if (k->state == KEYSTORE_STATE_DESTROYED)
		return set(r, KEYSTORE_E_KEY_STATE, "key is destroyed");
	struct ks_key before = *k;
	uint32_t minv;
	uint64_t period;
	bool exp;
	if (keystore_msg_u32(m, 0, KEYSTORE_TAG_MIN_VERSION, &minv)) {
		if (minv == 0 || minv > k->nv)
			return set(r, KEYSTORE_E_VERSION,
				   "minimum version must be 1 to the latest version");
		k->min_version = minv;
	}
	if (keystore_msg_u64(m, 0, KEYSTORE_TAG_ROTATE_PERIOD, &period)) {
		if (check_period(period, r))
			return r->status;
		k->rotate_period = period;
	}
	if (keystore_msg_bool(m, 0, KEYSTORE_TAG_EXPORTABLE, &exp)) {
		/* Exportability is a one-way door: it can only be closed. */
		if (exp && !k->exportable) {
			*k = before;
			return set(r, KEYSTORE_E_DENIED,
				   "a non-exportable key can never become exportable");
		}
		k->exportable = exp;
	}
	k->updated = bw_clock_now_s();
	if (ks_key_save(e, k, &err) < 0) {
		*k = before;
		return from_err(r, &err);
	}
	put_key_info(o, k, true);
	return KEYSTORE_OK;
}

/* The tenant's import wrapping key, created on first use. */
static struct ks_key *import_key(struct ks_engine *e, struct bw_str t,
				 struct res *r)
{
	struct bw_str name = BW_STR(KS_IMPORT_KEY_NAME);
	struct ks_key *k = ks_key_find(e, t, name);
	if (k)
		return k;
	struct ks_material mat = { 0 };
	struct bw_err err;
	k = key_new(t, name, KEYSTORE_KT_RSA_3072);
	if (!k) {
		set(r, KEYSTORE_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (ks_crypto_generate(KEYSTORE_KT_RSA_3072, &mat, &err) < 0) {
		ks_key_free(k);
		from_err(r, &err);
		return NULL;
	}
	if (key_add(e, k, &mat, r)) {
		ks_material_free(&mat);
		return NULL;
	}
	return k;
}

static unsigned op_import_params(struct ks_engine *e,
				 const struct keystore_msg *m,
				 struct keystore_enc *o, struct res *r)
{
	struct bw_str t;
	struct bw_err err;
	if (get_tenant(m, &t, r))
		return r->status;
	struct ks_key *k = import_key(e, t, r);
	if (!k)
		return r->status;
	EVP_PKEY *pk = ks_key_pkey(k, &k->v[k->nv - 1], &err);
	struct bw_buf b;
	bw_buf_init(&b, KEYSTORE_PUBKEY_MAX);
	unsigned st = KEYSTORE_OK;
	if (!pk || ks_pubkey_export(pk, k->type, KEYSTORE_FMT_PEM, NULL, &b, &err) < 0)
		st = from_err(r, &err);
	else
		keystore_enc_bytes(o, KEYSTORE_TAG_PUBKEY, b.data, b.len);
	bw_buf_fini(&b);
	return st;
}

/* Checks imported material: right size for symmetric types, a key of the
 * right kind that passes a sign/verify round trip for asymmetric ones. */
static unsigned check_material(unsigned type, const struct ks_material *mat,
			       struct res *r)
{
	size_t sl = ks_sym_len(type);
	if (sl)
		return mat->len == sl ?
			       KEYSTORE_OK :
			       set(r, KEYSTORE_E_BAD_REQUEST,
				   "imported key has the wrong length for its type");
	struct bw_err err;
	EVP_PKEY *pk = ks_crypto_load(type, mat->p, mat->len, &err);
	if (!pk)
		return set(r, KEYSTORE_E_BAD_REQUEST, err.msg);
	static const uint8_t probe[] = "bulwark import check";
	uint8_t sig[KEYSTORE_SIG_MAX];
	size_t slen;
	bool valid = false;
	int ok = ks_sign(pk, type, 0, 0, false, probe, sizeof(probe), sig,
			 sizeof(sig), &slen, &err) == 0 &&
		 ks_verify(pk, type, 0, 0, false, probe, sizeof(probe), sig, slen,
			   -1, &valid, &err) == 0 &&
		 valid;
	EVP_PKEY_free(pk);
	return ok ? KEYSTORE_OK :
		    set(r, KEYSTORE_E_BAD_REQUEST,
			"imported key fails its consistency check");
}

static unsigned op_import(struct ks_engine *e, const struct keystore_msg *m,
			  struct keystore_enc *o, struct res *r)
{
	struct bw_str t, name;
	uint32_t type = 0;
	uint64_t period = 0;
	bool exportable = false;
	struct bw_err err;
	if (get_tenant(m, &t, r))
		return r->status;
	if (!keystore_msg_str(m, 0, KEYSTORE_TAG_KEY, &name) ||
	    !keystore_name_valid(name.p, name.len) || reserved(name))
		return set(r, KEYSTORE_E_BAD_REQUEST, "a valid key name is required");
	const struct keystore_field *w = keystore_msg_get(m, 0, KEYSTORE_TAG_WRAPPED);
	if (!w)
		return set(r, KEYSTORE_E_BAD_REQUEST, "the wrapped key is required");
	if (!keystore_msg_u32(m, 0, KEYSTORE_TAG_KEY_TYPE, &type) || type == 0 ||
	    type >= KEYSTORE_KT_MAX_)
		return set(r, KEYSTORE_E_BAD_REQUEST, "a known key type is required");
	keystore_msg_u64(m, 0, KEYSTORE_TAG_ROTATE_PERIOD, &period);
	keystore_msg_bool(m, 0, KEYSTORE_TAG_EXPORTABLE, &exportable);
	if (check_period(period, r))
		return r->status;
	struct ks_key *existing = ks_key_find(e, t, name);
	if (existing && (existing->type != type ||
			 existing->state != KEYSTORE_STATE_ENABLED))
		return set(r, KEYSTORE_E_EXISTS,
			   "a key of that name exists with another type or state");
	struct ks_key *ik = ks_key_find(e, t, BW_STR(KS_IMPORT_KEY_NAME));
	if (!ik)
		return set(r, KEYSTORE_E_BAD_REQUEST,
			   "fetch the import parameters (wrapping key) first");
	EVP_PKEY *ipk = ks_key_pkey(ik, &ik->v[ik->nv - 1], &err);
	struct ks_material mat = { 0 };
	if (!ipk)
		return from_err(r, &err);
	if (ks_rsa_aes_unwrap(ipk, w->p, w->len, &mat, &err) < 0)
		return from_err(r, &err);
	if (check_material(type, &mat, r)) {
		ks_material_free(&mat);
		return r->status;
	}
	if (existing) {
		/* Bring-your-own-key rotation: the import is a new version. */
		if (ks_key_add_version(existing, &mat, &err) < 0) {
			ks_material_free(&mat);
			return from_err(r, &err);
		}
		existing->updated = bw_clock_now_s();
		if (ks_key_save(e, existing, &err) < 0) {
			struct ks_version *v = &existing->v[--existing->nv];
			ks_material_free(&v->mat);
			return from_err(r, &err);
		}
		put_key_info(o, existing, true);
		return KEYSTORE_OK;
	}
	struct ks_key *k = key_new(t, name, type);
	if (!k) {
		ks_material_free(&mat);
		return set(r, KEYSTORE_E_INTERNAL, "out of memory");
	}
	k->exportable = exportable;
	k->rotate_period = period;
	if (key_add(e, k, &mat, r)) {
		ks_material_free(&mat);
		return r->status;
	}
	put_key_info(o, k, true);
	return KEYSTORE_OK;
}

static unsigned op_export(struct ks_engine *e, const struct keystore_msg *m,
			  struct keystore_enc *o, struct res *r)
{
	struct ks_key *k;
	struct ks_version *v;
	struct bw_err err;
	if (get_key(e, m, 0, true, &k, r))
		return r->status;
	if (!k->exportable)
		return set(r, KEYSTORE_E_DENIED, "key is not exportable");
	const struct keystore_field *pub = keystore_msg_get(m, 0, KEYSTORE_TAG_PUBKEY);
	if (!pub)
		return set(r, KEYSTORE_E_BAD_REQUEST, "a wrapping public key is required");
	if (get_version(k, req_version(m, 0, k), &v, r))
		return r->status;
	struct bw_buf b;
	bw_buf_init(&b, KEYSTORE_WRAPPED_MAX);
	unsigned st = KEYSTORE_OK;
	if (ks_rsa_aes_wrap(pub->p, pub->len, v->mat.p, v->mat.len, &b, &err) < 0) {
		st = from_err(r, &err);
	} else {
		keystore_enc_bytes(o, KEYSTORE_TAG_WRAPPED, b.data, b.len);
		keystore_enc_u32(o, KEYSTORE_TAG_VERSION, v->version);
		keystore_enc_u32(o, KEYSTORE_TAG_KEY_TYPE, k->type);
	}
	bw_buf_fini(&b);
	return st;
}

/* ---------------------------------------------------------------- seal */

static void put_status(struct ks_engine *e, struct keystore_enc *o)
{
	keystore_enc_bool(o, KEYSTORE_TAG_INITIALIZED, e->initialized);
	keystore_enc_bool(o, KEYSTORE_TAG_SEALED, e->sealed);
	keystore_enc_u32(o, KEYSTORE_TAG_SEAL_TYPE,
			 e->initialized ? e->seal.type : KEYSTORE_SEAL_NONE);
	if (e->initialized && e->seal.type == KEYSTORE_SEAL_SHAMIR) {
		keystore_enc_u32(o, KEYSTORE_TAG_THRESHOLD, e->seal.threshold);
		keystore_enc_u32(o, KEYSTORE_TAG_SHARES, e->seal.shares);
		keystore_enc_u32(o, KEYSTORE_TAG_PROGRESS, e->nshares);
	}
	if (!e->sealed) {
		keystore_enc_u32(o, KEYSTORE_TAG_MK_EPOCH, ks_mk_active(e)->epoch);
		keystore_enc_u32(o, KEYSTORE_TAG_KEYCOUNT, (uint32_t)e->nkeys);
		keystore_enc_u32(o, KEYSTORE_TAG_REWRAP_PENDING,
				 (uint32_t)ks_seal_rewrap_pending(e));
	}
}

static unsigned op_init(struct ks_engine *e, const struct keystore_msg *m,
			struct keystore_enc *o, struct res *r)
{
	uint32_t type = 0, n = 0, k = 0, t = 0, mem = 0;
	struct bw_err err;
	keystore_msg_u32(m, 0, KEYSTORE_TAG_SEAL_TYPE, &type);
	keystore_msg_u32(m, 0, KEYSTORE_TAG_SHARES, &n);
	keystore_msg_u32(m, 0, KEYSTORE_TAG_THRESHOLD, &k);
	keystore_msg_u32(m, 0, KEYSTORE_TAG_KDF_T, &t);
	keystore_msg_u32(m, 0, KEYSTORE_TAG_KDF_M, &mem);
	const struct keystore_field *pass = keystore_msg_get(m, 0, KEYSTORE_TAG_PASSPHRASE);
	if (e->initialized && e->sealed)
		return set(r, KEYSTORE_E_SEALED,
			   "unseal the keystore before changing its seal");
	char(*shares)[KEYSTORE_SHARE_TEXT_MAX] = NULL;
	if (type == KEYSTORE_SEAL_SHAMIR) {
		if (n < 1 || n > KEYSTORE_SHARES_MAX)
			return set(r, KEYSTORE_E_BAD_REQUEST, "shares must be 1 to 16");
		shares = calloc(n, sizeof(*shares));
		if (!shares)
			return set(r, KEYSTORE_E_INTERNAL, "out of memory");
	}
	unsigned st = KEYSTORE_OK;
	if (ks_seal_init(e, type, n, k, pass ? pass->p : NULL, pass ? pass->len : 0,
			 t, mem, shares, &err) < 0) {
		st = from_err(r, &err);
	} else {
		put_status(e, o);
		for (unsigned i = 0; shares && i < n; i++)
			keystore_enc_str(o, KEYSTORE_TAG_SHARE, shares[i]);
	}
	if (shares) {
		OPENSSL_cleanse(shares, (size_t)n * sizeof(*shares));
		free(shares);
	}
	return st;
}

static unsigned op_unseal(struct ks_engine *e, const struct keystore_msg *m,
			  struct keystore_enc *o, struct res *r)
{
	struct bw_err err;
	if (!e->sealed)
		return set(r, KEYSTORE_E_ALREADY, "keystore is already unsealed");
	int rc;
	switch (e->seal.type) {
	case KEYSTORE_SEAL_AUTO:
		rc = ks_unseal_auto(e, &err);
		break;
	case KEYSTORE_SEAL_PASSPHRASE: {
		const struct keystore_field *p = keystore_msg_get(m, 0, KEYSTORE_TAG_PASSPHRASE);
		if (!p)
			return set(r, KEYSTORE_E_BAD_REQUEST, "passphrase is required");
		rc = ks_unseal_passphrase(e, p->p, p->len, &err);
		break;
	}
	case KEYSTORE_SEAL_SHAMIR: {
		/* Several shares may come in one request. */
		rc = 0;
		bool any = false;
		for (uint32_t i = m->item_start[0]; i < m->item_start[1]; i++) {
			const struct keystore_field *f = &m->fields[i];
			if (f->tag != KEYSTORE_TAG_SHARE)
				continue;
			any = true;
			rc = ks_unseal_share(e, (const char *)f->p, f->len, &err);
			if (rc != 0)
				break;
		}
		if (!any)
			return set(r, KEYSTORE_E_BAD_REQUEST, "a share is required");
		break;
	}
	default:
		return set(r, KEYSTORE_E_INTERNAL, "unknown seal type");
	}
	if (rc < 0) {
		log_warnx("keystore: unseal attempt failed: %s", err.reason);
		return from_err(r, &err);
	}
	put_status(e, o);
	return KEYSTORE_OK;
}

/* ---------------------------------------------------------------- engine */

static bool is_key_op(unsigned op)
{
	return (op >= KEYSTORE_OP_KEY_CREATE && op <= KEYSTORE_OP_IMPORT_PARAMS) ||
	       (op >= KEYSTORE_OP_ENCRYPT && op <= KEYSTORE_OP_ITEM_LAST_ &&
		op != KEYSTORE_OP_RANDOM) ||
	       op == KEYSTORE_OP_ROTATE_MASTER;
}

static bool batchable(unsigned op)
{
	return op >= KEYSTORE_OP_ENCRYPT && op <= KEYSTORE_OP_ITEM_LAST_;
}

static unsigned dispatch(struct ks_engine *e, const struct keystore_msg *m,
			 struct keystore_enc *o, struct res *r)
{
	struct bw_err err;
	if (is_key_op(m->op)) {
		if (!e->initialized)
			return set(r, KEYSTORE_E_NOT_INITIALIZED,
				   "keystore is not initialised (bulwark operator init)");
		if (e->sealed)
			return set(r, KEYSTORE_E_SEALED,
				   "keystore is sealed (bulwark operator unseal)");
	}
	if (m->nitems && !batchable(m->op))
		return set(r, KEYSTORE_E_BAD_REQUEST, "this operation has no batch form");
	switch (m->op) {
	case KEYSTORE_OP_PING:
		return KEYSTORE_OK;
	case KEYSTORE_OP_STATUS:
		put_status(e, o);
		return KEYSTORE_OK;
	case KEYSTORE_OP_INIT:
		return op_init(e, m, o, r);
	case KEYSTORE_OP_UNSEAL:
		if (!e->initialized)
			return set(r, KEYSTORE_E_NOT_INITIALIZED,
				   "keystore is not initialised");
		return op_unseal(e, m, o, r);
	case KEYSTORE_OP_SEAL:
		ks_seal_now(e);
		log_info("keystore sealed on request");
		put_status(e, o);
		return KEYSTORE_OK;
	case KEYSTORE_OP_UNSEAL_RESET:
		ks_unseal_reset(e);
		put_status(e, o);
		return KEYSTORE_OK;
	case KEYSTORE_OP_ROTATE_MASTER:
		if (ks_seal_rotate(e, &err) < 0)
			return err.code == 409 ? set(r, KEYSTORE_E_ALREADY, err.msg) :
						 from_err(r, &err);
		put_status(e, o);
		return KEYSTORE_OK;
	case KEYSTORE_OP_KEY_CREATE:
		return op_create(e, m, o, r);
	case KEYSTORE_OP_KEY_LIST:
		return op_list(e, m, o, r);
	case KEYSTORE_OP_KEY_GET:
	case KEYSTORE_OP_KEY_ROTATE:
	case KEYSTORE_OP_KEY_SUSPEND:
	case KEYSTORE_OP_KEY_ENABLE:
	case KEYSTORE_OP_KEY_SCHEDULE_DESTROY:
	case KEYSTORE_OP_KEY_DESTROY:
		return op_key_simple(e, m, o, r);
	case KEYSTORE_OP_KEY_UPDATE:
		return op_update(e, m, o, r);
	case KEYSTORE_OP_KEY_EXPORT:
		return op_export(e, m, o, r);
	case KEYSTORE_OP_KEY_IMPORT:
		return op_import(e, m, o, r);
	case KEYSTORE_OP_IMPORT_PARAMS:
		return op_import_params(e, m, o, r);
	default:
		break;
	}
	static const item_fn fns[] = {
		[KEYSTORE_OP_ENCRYPT - KEYSTORE_OP_ENCRYPT] = op_encrypt,
		[KEYSTORE_OP_DECRYPT - KEYSTORE_OP_ENCRYPT] = op_decrypt,
		[KEYSTORE_OP_REWRAP - KEYSTORE_OP_ENCRYPT] = op_rewrap,
		[KEYSTORE_OP_DATAKEY - KEYSTORE_OP_ENCRYPT] = op_datakey,
		[KEYSTORE_OP_SIGN - KEYSTORE_OP_ENCRYPT] = op_sign,
		[KEYSTORE_OP_VERIFY - KEYSTORE_OP_ENCRYPT] = op_verify,
		[KEYSTORE_OP_HMAC - KEYSTORE_OP_ENCRYPT] = op_hmac,
		[KEYSTORE_OP_HMAC_VERIFY - KEYSTORE_OP_ENCRYPT] = op_hmac,
		[KEYSTORE_OP_RANDOM - KEYSTORE_OP_ENCRYPT] = op_random,
		[KEYSTORE_OP_PUBKEY - KEYSTORE_OP_ENCRYPT] = op_pubkey,
		[KEYSTORE_OP_GCM_ENCRYPT - KEYSTORE_OP_ENCRYPT] = op_gcm_encrypt,
		[KEYSTORE_OP_GCM_DECRYPT - KEYSTORE_OP_ENCRYPT] = op_gcm_decrypt,
	};
	if (m->op >= KEYSTORE_OP_ENCRYPT && m->op <= KEYSTORE_OP_ITEM_LAST_ &&
	    fns[m->op - KEYSTORE_OP_ENCRYPT]) {
		run_items(e, m, o, fns[m->op - KEYSTORE_OP_ENCRYPT]);
		/* run_items wrote the status itself. */
		return UINT32_MAX;
	}
	return set(r, KEYSTORE_E_UNSUPPORTED, "unknown operation");
}

void ks_engine_handle(struct ks_engine *e, const struct keystore_msg *req,
		      struct keystore_enc *out)
{
	struct res r = { 0 };
	keystore_enc_reset(out, KEYSTORE_RESPONSE, req->op, KEYSTORE_OK, req->id);
	unsigned st = dispatch(e, req, out, &r);
	if (st != UINT32_MAX && st != KEYSTORE_OK) {
		/* Drop any partial result: an error carries only its text. */
		keystore_enc_reset(out, KEYSTORE_RESPONSE, req->op, st, req->id);
		keystore_enc_str(out, KEYSTORE_TAG_ERROR, r.msg);
	}
	const uint8_t *p;
	size_t n;
	if (keystore_enc_finish(out, &p, &n) < 0) {
		keystore_enc_reset(out, KEYSTORE_RESPONSE, req->op,
				   KEYSTORE_E_TOO_LARGE, req->id);
		keystore_enc_str(out, KEYSTORE_TAG_ERROR,
				 "the response would exceed the message size; "
				 "use smaller batches");
	}
}

bool ks_engine_idle(struct ks_engine *e)
{
	if (e->sealed)
		return false;
	size_t pending = ks_seal_rewrap_step(e, KEYSTORE_REWRAP_PER_TURN);
	int64_t now = bw_clock_now_s();
	if (now != e->last_scan_s) {
		e->last_scan_s = now;
		for (size_t i = 0; i < e->nkeys; i++)
			key_due(e, e->keys[i], now);
	}
	return pending > 0;
}

bool ks_engine_sealed(const struct ks_engine *e)
{
	return e->sealed;
}

static int mkdir_private(const char *path, struct bw_err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return bw_err_set(err, 500, M, "mkdir", "%s: %s", path,
				  strerror(errno));
	if (chmod(path, 0700) < 0)
		return bw_err_set(err, 500, M, "chmod", "%s: %s", path,
				  strerror(errno));
	return 0;
}

struct ks_engine *ks_engine_new(const struct ks_engine_conf *conf,
				struct bw_err *err)
{
	struct ks_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		return NULL;
	}
	e->sealed = true;
	e->mode = conf->unseal_mode;
	if (!conf->data_dir ||
	    bw_snprintf(e->dir, sizeof(e->dir), "%s/keystore", conf->data_dir) < 0 ||
	    bw_snprintf(e->keys_dir, sizeof(e->keys_dir), "%s/%s", e->dir,
			KS_KEYS_DIR) < 0 ||
	    bw_snprintf(e->auto_file, sizeof(e->auto_file), "%s",
			conf->auto_unseal_file ? conf->auto_unseal_file : "") < 0) {
		bw_err_set(err, 400, M, "path", "data directory path too long");
		goto fail;
	}
	if (!conf->auto_unseal_file)
		bw_snprintf(e->auto_file, sizeof(e->auto_file), "%s/%s", e->dir,
			    KS_AUTO_FILE);
	if (mkdir_private(e->dir, err) < 0 || mkdir_private(e->keys_dir, err) < 0 ||
	    ks_seal_load(e, err) < 0)
		goto fail;
	if (!e->initialized) {
		if (e->mode == KEYSTORE_SEAL_AUTO) {
			if (ks_seal_init(e, KEYSTORE_SEAL_AUTO, 0, 0, NULL, 0, 0, 0, NULL,
					 err) < 0)
				goto fail;
		} else {
			log_warnx("keystore is not initialised: run `bulwark operator "
				  "init`; every key operation answers not_initialized");
		}
	} else if (e->seal.type == KEYSTORE_SEAL_AUTO) {
		struct bw_err uerr;
		if (ks_unseal_auto(e, &uerr) < 0)
			log_warnx("keystore: auto-unseal failed, staying sealed: %s",
				  uerr.msg);
	} else {
		log_warnx("keystore is sealed (%s%s): every key operation answers "
			  "sealed until `bulwark operator unseal`",
			  keystore_seal_type_name(e->seal.type),
			  e->seal.type == KEYSTORE_SEAL_SHAMIR ? " shares" : "");
	}
	if (e->initialized && e->seal.type == KEYSTORE_SEAL_AUTO)
		log_warnx("keystore: AUTO-UNSEAL from %s is a development "
			  "convenience; use `bulwark operator init` (shares or "
			  "passphrase) in production",
			  e->auto_file);
	if (e->initialized && e->mode != KEYSTORE_SEAL_NONE && e->mode != e->seal.type)
		log_info("keystore: configured unseal mode %s differs from the "
			 "installation's seal (%s); the seal file decides",
			 keystore_seal_type_name(e->mode),
			 keystore_seal_type_name(e->seal.type));
	return e;
fail:
	ks_engine_free(e);
	return NULL;
}

void ks_engine_free(struct ks_engine *e)
{
	if (!e)
		return;
	ks_seal_now(e);
	free(e);
}

int keystore_init_auto(const char *data_dir, struct bw_err *err)
{
	struct ks_engine_conf c = { .data_dir = data_dir,
				    .unseal_mode = KEYSTORE_SEAL_AUTO };
	struct ks_engine *e = ks_engine_new(&c, err);
	if (!e)
		return -1;
	ks_engine_free(e);
	return 0;
}
