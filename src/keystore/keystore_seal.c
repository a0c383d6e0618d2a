/*
 * Seal and unseal. The master key (256 bits, one or two generations
 * during a rotation) is stored only wrapped, in DATA_DIR/keystore/seal,
 * by a key-encryption key (KEK) that comes from one of:
 *   auto        a random KEK in the auto-unseal key file (0600) — the
 *               development default; anyone who can read that file and
 *               the data directory has every key;
 *   shamir      a random KEK split into n shares, any k of which rebuild
 *               it (the KEK itself is never stored);
 *   passphrase  Argon2id(passphrase, salt) with the cost in the seal file.
 *
 * Seal file = one protocol-encoded record (op KS_FILE_OP_SEAL): SEAL_TYPE
 * SEAL_ID THRESHOLD SHARES SALT KDF_T KDF_M, then per generation an item
 * MK_EPOCH NONCE KEYDATA (AES-256-GCM of the master key under the KEK,
 * with "bwseal1" || type || seal id || epoch as associated data).
 *
 * A share's text form is "bwsh1-" + base64url(seal id | x | k | y | check)
 * where check is the first 4 bytes of SHA-256 over the rest, so typos and
 * shares of another installation are caught before they are combined.
 *
 * Invariants:
 *  - sealed == (nmks == 0): while sealed no master key, KEK or key
 *    material is in memory;
 *  - the seal file on disk always names every generation some key file
 *    may still be sealed with (a new generation is added before any file
 *    uses it and the old one removed only after none does).
 */
#include "keystore/keystore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define M "keystore"
#define SHARE_PREFIX "bwsh1-"
#define SHARE_BIN (KS_SEAL_ID_LEN + 2 + KS_MK_LEN + 4)

static void mk_wipe(struct ks_mk *mk)
{
	ks_secure_free(mk->mk, KS_MK_LEN);
	ks_secure_free(mk->wrap, KS_SUBKEY_LEN);
	ks_secure_free(mk->mac, KS_SUBKEY_LEN);
	memset(mk, 0, sizeof(*mk));
}

/* Fills mk from raw master key bytes (copied). */
static int mk_make(struct ks_mk *mk, uint32_t epoch, const uint8_t *raw,
		   struct bw_err *err)
{
	mk->epoch = epoch;
	mk->mk = ks_secure_alloc(KS_MK_LEN);
	mk->wrap = ks_secure_alloc(KS_SUBKEY_LEN);
	mk->mac = ks_secure_alloc(KS_SUBKEY_LEN);
	if (!mk->mk || !mk->wrap || !mk->mac) {
		mk_wipe(mk);
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	}
	memcpy(mk->mk, raw, KS_MK_LEN);
	if (ks_hkdf(raw, KS_MK_LEN, "bulwark/keystore/v1/wrap", mk->wrap,
		    KS_SUBKEY_LEN, err) < 0 ||
	    ks_hkdf(raw, KS_MK_LEN, "bulwark/keystore/v1/mac", mk->mac,
		    KS_SUBKEY_LEN, err) < 0) {
		mk_wipe(mk);
		return -1;
	}
	return 0;
}

const struct ks_mk *ks_mk_find(const struct ks_engine *e, uint32_t epoch)
{
	for (size_t i = 0; i < e->nmks; i++)
		if (e->mks[i].epoch == epoch)
			return &e->mks[i];
	return NULL;
}

const struct ks_mk *ks_mk_active(const struct ks_engine *e)
{
	return e->nmks ? &e->mks[e->nmks - 1] : NULL;
}

/* ------------------------------------------------------------ seal file */

static size_t seal_aad(const struct ks_seal_file *s, uint32_t epoch,
		       uint8_t *out)
{
	memcpy(out, "bwseal1", 7);
	out[7] = (uint8_t)s->type;
	memcpy(out + 8, s->id, KS_SEAL_ID_LEN);
	out[16] = (uint8_t)(epoch >> 24);
	out[17] = (uint8_t)(epoch >> 16);
	out[18] = (uint8_t)(epoch >> 8);
	out[19] = (uint8_t)epoch;
	return 20;
}

static int seal_path(const struct ks_engine *e, char *out, size_t cap)
{
	return bw_snprintf(out, cap, "%s/%s", e->dir, KS_SEAL_FILE);
}

static int seal_write(struct ks_engine *e, const struct ks_seal_file *s,
		      struct bw_err *err)
{
	char path[1100];
	if (seal_path(e, path, sizeof(path)) < 0)
		return bw_err_set(err, 500, M, "path", "seal path too long");
	struct keystore_enc enc;
	ks_enc_init_max(&enc, KEYSTORE_SEALFILE_MAX, KS_FILE_OP_SEAL);
	keystore_enc_u32(&enc, KEYSTORE_TAG_SEAL_TYPE, s->type);
	keystore_enc_bytes(&enc, KEYSTORE_TAG_SEAL_ID, s->id, KS_SEAL_ID_LEN);
	keystore_enc_u32(&enc, KEYSTORE_TAG_SHARES, s->shares);
	keystore_enc_u32(&enc, KEYSTORE_TAG_THRESHOLD, s->threshold);
	keystore_enc_bytes(&enc, KEYSTORE_TAG_SALT, s->salt, KS_SALT_LEN);
	keystore_enc_u32(&enc, KEYSTORE_TAG_KDF_T, s->kdf_t);
	keystore_enc_u32(&enc, KEYSTORE_TAG_KDF_M, s->kdf_m);
	for (size_t i = 0; i < s->nmk; i++) {
		keystore_enc_item(&enc);
		keystore_enc_u32(&enc, KEYSTORE_TAG_MK_EPOCH, s->mk[i].epoch);
		keystore_enc_bytes(&enc, KEYSTORE_TAG_NONCE, s->mk[i].nonce, 12);
		keystore_enc_bytes(&enc, KEYSTORE_TAG_KEYDATA, s->mk[i].ct,
				   sizeof(s->mk[i].ct));
	}
	const uint8_t *p;
	size_t n;
	int rc = keystore_enc_finish(&enc, &p, &n) < 0 ?
			 bw_err_set(err, 500, M, "seal_encode", "seal file encoding") :
			 bw_file_write_atomic(path, p, n, 0600, err);
	keystore_enc_fini(&enc);
	return rc;
}

int ks_seal_load(struct ks_engine *e, struct bw_err *err)
{
	char path[1100];
	if (seal_path(e, path, sizeof(path)) < 0)
		return bw_err_set(err, 500, M, "path", "seal path too long");
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		e->initialized = false;
		return 0;
	}
	size_t len;
	char *data = bw_file_read(path, KEYSTORE_SEALFILE_MAX, &len, err);
	if (!data)
		return -1;
	struct keystore_msg *m = ks_msg_new_caps(KEYSTORE_SEALFILE_MAX, 32, 2);
	struct ks_seal_file s = { 0 };
	int rc = -1;
	uint32_t type;
	if (!m || keystore_msg_decode(m, (const uint8_t *)data, len, err) < 0)
		goto out;
	const struct keystore_field *id = keystore_msg_get(m, 0, KEYSTORE_TAG_SEAL_ID);
	const struct keystore_field *salt = keystore_msg_get(m, 0, KEYSTORE_TAG_SALT);
	if (m->op != KS_FILE_OP_SEAL || !id || !salt || salt->len != KS_SALT_LEN ||
	    !keystore_msg_u32(m, 0, KEYSTORE_TAG_SEAL_TYPE, &type) ||
	    type < KEYSTORE_SEAL_AUTO || type > KEYSTORE_SEAL_PASSPHRASE ||
	    !keystore_msg_u32(m, 0, KEYSTORE_TAG_SHARES, &s.shares) ||
	    !keystore_msg_u32(m, 0, KEYSTORE_TAG_THRESHOLD, &s.threshold) ||
	    !keystore_msg_u32(m, 0, KEYSTORE_TAG_KDF_T, &s.kdf_t) ||
	    !keystore_msg_u32(m, 0, KEYSTORE_TAG_KDF_M, &s.kdf_m) ||
	    m->nitems < 1 || m->nitems > 2) {
		rc = bw_err_set(err, 500, M, "seal_file", "%s: not a valid seal file",
				path);
		goto out;
	}
	s.type = type;
	if (type == KEYSTORE_SEAL_SHAMIR &&
	    (s.threshold < 1 || s.threshold > s.shares ||
	     s.shares > KEYSTORE_SHARES_MAX)) {
		rc = bw_err_set(err, 500, M, "seal_file", "%s: bad share counts", path);
		goto out;
	}
	if (type == KEYSTORE_SEAL_PASSPHRASE &&
	    (s.kdf_t < KEYSTORE_ARGON2_T_MIN || s.kdf_t > KEYSTORE_ARGON2_T_HARD ||
	     s.kdf_m < KEYSTORE_ARGON2_M_KIB_MIN ||
	     s.kdf_m > KEYSTORE_ARGON2_M_KIB_HARD)) {
		rc = bw_err_set(err, 500, M, "seal_file", "%s: bad Argon2id cost", path);
		goto out;
	}
	memcpy(s.id, id->p, KS_SEAL_ID_LEN);
	memcpy(s.salt, salt->p, KS_SALT_LEN);
	for (size_t i = 1; i <= m->nitems; i++) {
		const struct keystore_field *nf = keystore_msg_get(m, i, KEYSTORE_TAG_NONCE);
		const struct keystore_field *cf = keystore_msg_get(m, i, KEYSTORE_TAG_KEYDATA);
		uint32_t ep;
		if (!nf || !cf || cf->len != sizeof(s.mk[0].ct) ||
		    !keystore_msg_u32(m, i, KEYSTORE_TAG_MK_EPOCH, &ep) || ep == 0 ||
		    (i == 2 && ep <= s.mk[0].epoch)) {
			rc = bw_err_set(err, 500, M, "seal_file",
					"%s: bad master key entry", path);
			goto out;
		}
		s.mk[s.nmk].epoch = ep;
		memcpy(s.mk[s.nmk].nonce, nf->p, 12);
		memcpy(s.mk[s.nmk].ct, cf->p, cf->len);
		s.nmk++;
	}
	e->seal = s;
	e->initialized = true;
	rc = 0;
out:
	keystore_msg_free(m);
	free(data);
	return rc;
}

/* ----------------------------------------------------------- unsealing */

void ks_unseal_reset(struct ks_engine *e)
{
	ks_secure_free(e->shares, KEYSTORE_SHARES_MAX * KS_MK_LEN);
	e->shares = NULL;
	e->nshares = 0;
	memset(e->share_x, 0, sizeof(e->share_x));
}

void ks_seal_now(struct ks_engine *e)
{
	ks_keys_clear(e);
	for (size_t i = 0; i < 2; i++)
		mk_wipe(&e->mks[i]);
	e->nmks = 0;
	ks_secure_free(e->kek, KS_MK_LEN);
	e->kek = NULL;
	ks_unseal_reset(e);
	e->sealed = true;
}

/* Unwraps every generation with kek and loads the keys. On failure
 * nothing stays in memory and err says "auth" (wrong KEK) or why. */
static int unwrap_all(struct ks_engine *e, const uint8_t *kek,
		      struct bw_err *err)
{
	uint8_t *raw = ks_secure_alloc(KS_MK_LEN);
	if (!raw)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	ks_seal_now(e);
	for (size_t i = 0; i < e->seal.nmk; i++) {
		uint8_t aad[20];
		size_t al = seal_aad(&e->seal, e->seal.mk[i].epoch, aad);
		if (ks_aead_open(1, kek, e->seal.mk[i].nonce, aad, al, NULL, 0,
				 e->seal.mk[i].ct, KS_MK_LEN,
				 e->seal.mk[i].ct + KS_MK_LEN, raw, err) < 0) {
			bw_err_set(err, 403, M, "auth",
				   "unseal failed: the unseal key does not open "
				   "the master key");
			goto fail;
		}
		if (mk_make(&e->mks[i], e->seal.mk[i].epoch, raw, err) < 0)
			goto fail;
		e->nmks = i + 1;
	}
	e->kek = ks_secure_alloc(KS_MK_LEN);
	if (!e->kek) {
		bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
		goto fail;
	}
	memcpy(e->kek, kek, KS_MK_LEN);
	if (ks_keys_load(e, err) < 0)
		goto fail;
	e->sealed = false;
	ks_secure_free(raw, KS_MK_LEN);
	log_info("keystore unsealed (%s): %zu keys, master key generation %u%s",
		 keystore_seal_type_name(e->seal.type), e->nkeys,
		 ks_mk_active(e)->epoch,
		 e->nmks > 1 ? ", rotation in progress" : "");
	return 0;
fail:
	ks_secure_free(raw, KS_MK_LEN);
	ks_seal_now(e);
	return -1;
}

/* Reads the auto-unseal KEK (64 hex digits), refusing a file that group
 * or others may read. */
static int read_auto_kek(struct ks_engine *e, uint8_t *kek, struct bw_err *err)
{
	struct stat st;
	if (stat(e->auto_file, &st) < 0)
		return bw_err_set(err, 500, M, "auto_unseal_file", "%s: %s",
				  e->auto_file, strerror(errno));
	if (st.st_mode & 077)
		return bw_err_set(err, 500, M, "auto_unseal_mode",
				  "%s: group or others may access it (mode %o); "
				  "chmod 600",
				  e->auto_file, (unsigned)(st.st_mode & 0777));
	size_t len;
	char *data = bw_file_read(e->auto_file, 256, &len, err);
	if (!data)
		return -1;
	size_t n = 0;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	int rc = 0;
	if (len != 2 * KS_MK_LEN ||
	    bw_hex_decode(data, len, kek, KS_MK_LEN, &n) < 0 || n != KS_MK_LEN)
		rc = bw_err_set(err, 500, M, "auto_unseal_file",
				"%s: not 64 hex digits", e->auto_file);
	OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}

static int write_auto_kek(struct ks_engine *e, const uint8_t *kek,
			  struct bw_err *err)
{
	char hex[2 * KS_MK_LEN + 2];
	bw_hex_encode(kek, KS_MK_LEN, hex);
	hex[2 * KS_MK_LEN] = '\n';
	int rc = bw_file_write_atomic(e->auto_file, hex, 2 * KS_MK_LEN + 1, 0600,
				      err);
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/* Overwrites the auto-unseal file in place, then removes it (best effort
 * on flash and copy-on-write file systems: see KEYSTORE.md). */
static void scrub_auto_file(struct ks_engine *e)
{
	int fd = open(e->auto_file, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		char zero[2 * KS_MK_LEN + 1] = { 0 };
		if (write(fd, zero, sizeof(zero)) < 0 || fsync(fd) < 0)
			log_warn("keystore: scrubbing %s", e->auto_file);
		close(fd);
	}
	if (unlink(e->auto_file) < 0 && errno != ENOENT)
		log_warn("keystore: removing %s", e->auto_file);
}

int ks_unseal_auto(struct ks_engine *e, struct bw_err *err)
{
	if (e->seal.type != KEYSTORE_SEAL_AUTO)
		return bw_err_set(err, 400, M, "seal_type",
				  "this keystore is not auto-unsealed");
	uint8_t *kek = ks_secure_alloc(KS_MK_LEN);
	if (!kek)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	int rc = read_auto_kek(e, kek, err);
	if (rc == 0)
		rc = unwrap_all(e, kek, err);
	ks_secure_free(kek, KS_MK_LEN);
	return rc;
}

int ks_unseal_passphrase(struct ks_engine *e, const uint8_t *pass, size_t n,
			 struct bw_err *err)
{
	if (e->seal.type != KEYSTORE_SEAL_PASSPHRASE)
		return bw_err_set(err, 400, M, "seal_type",
				  "this keystore is not sealed by a passphrase");
	uint8_t *kek = ks_secure_alloc(KS_MK_LEN);
	if (!kek)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	int rc = ks_argon2id(pass, n, e->seal.salt, KS_SALT_LEN, e->seal.kdf_t,
			     e->seal.kdf_m, kek, err);
	if (rc == 0)
		rc = unwrap_all(e, kek, err);
	ks_secure_free(kek, KS_MK_LEN);
	return rc;
}

static void share_check(const uint8_t *bin, uint8_t out[4])
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	SHA256(bin, SHARE_BIN - 4, h);
	memcpy(out, h, 4);
}

size_t ks_share_encode(const uint8_t seal_id[KS_SEAL_ID_LEN], uint8_t x,
		       uint8_t k, const uint8_t y[KS_MK_LEN], char *out,
		       size_t cap)
{
	uint8_t bin[SHARE_BIN];
	const size_t pl = sizeof(SHARE_PREFIX) - 1;
	memcpy(bin, seal_id, KS_SEAL_ID_LEN);
	bin[KS_SEAL_ID_LEN] = x;
	bin[KS_SEAL_ID_LEN + 1] = k;
	memcpy(bin + KS_SEAL_ID_LEN + 2, y, KS_MK_LEN);
	share_check(bin, bin + SHARE_BIN - 4);
	size_t n = 0;
	if (cap > pl) {
		memcpy(out, SHARE_PREFIX, pl);
		n = keystore_b64url_encode(bin, sizeof(bin), out + pl, cap - pl);
	}
	OPENSSL_cleanse(bin, sizeof(bin));
	return n ? n + pl : 0;
}

int ks_share_decode(const char *text, size_t len,
		    uint8_t seal_id[KS_SEAL_ID_LEN], uint8_t *x, uint8_t *k,
		    uint8_t y[KS_MK_LEN])
{
	const size_t pl = sizeof(SHARE_PREFIX) - 1;
	/* Operators paste shares: tolerate surrounding whitespace. */
	while (len > 0 && (*text == ' ' || *text == '\t')) {
		text++;
		len--;
	}
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' ||
			   text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	uint8_t bin[SHARE_BIN + 3], chk[4];
	size_t n;
	int rc = -1;
	if (len <= pl || memcmp(text, SHARE_PREFIX, pl) != 0 ||
	    keystore_b64url_decode(text + pl, len - pl, bin, sizeof(bin), &n) < 0 ||
	    n != SHARE_BIN)
		goto out;
	share_check(bin, chk);
	if (!bw_ct_equal(chk, 4, bin + SHARE_BIN - 4, 4))
		goto out;
	memcpy(seal_id, bin, KS_SEAL_ID_LEN);
	*x = bin[KS_SEAL_ID_LEN];
	*k = bin[KS_SEAL_ID_LEN + 1];
	memcpy(y, bin + KS_SEAL_ID_LEN + 2, KS_MK_LEN);
	rc = *x == 0 ? -1 : 0;
out:
	OPENSSL_cleanse(bin, sizeof(bin));
	return rc;
}

int ks_unseal_share(struct ks_engine *e, const char *text, size_t len,
		    struct bw_err *err)
{
	if (e->seal.type != KEYSTORE_SEAL_SHAMIR)
		return bw_err_set(err, 400, M, "seal_type",
				  "this keystore is not sealed by shares");
	uint8_t id[KS_SEAL_ID_LEN], x, k;
	uint8_t *y = ks_secure_alloc(KS_MK_LEN);
	int rc = -1;
	if (!y)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	if (ks_share_decode(text, len, id, &x, &k, y) < 0) {
		rc = bw_err_set(err, 400, M, "bad_share",
				"not a share (typo? its checksum does not match)");
		goto out;
	}
	if (!bw_ct_equal(id, sizeof(id), e->seal.id, sizeof(id)) ||
	    k != e->seal.threshold) {
		rc = bw_err_set(err, 400, M, "foreign_share",
				"this share belongs to another seal");
		goto out;
	}
	for (unsigned i = 0; i < e->nshares; i++)
		if (e->share_x[i] == x) {
			rc = bw_err_set(err, 409, M, "duplicate_share",
					"this share was already entered");
			goto out;
		}
	if (!e->shares) {
		e->shares = ks_secure_alloc(KEYSTORE_SHARES_MAX * KS_MK_LEN);
		if (!e->shares) {
			rc = bw_err_set(err, 500, M, "secure_heap",
					"secure heap exhausted");
			goto out;
		}
	}
	memcpy(e->shares + e->nshares * KS_MK_LEN, y, KS_MK_LEN);
	e->share_x[e->nshares++] = x;
	if (e->nshares < e->seal.threshold) {
		rc = 0;
		goto out;
	}
	uint8_t *kek = ks_secure_alloc(KS_MK_LEN);
	if (!kek) {
		rc = bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
		goto out;
	}
	rc = ks_shamir_combine(e->share_x, e->shares, e->nshares, KS_MK_LEN, kek);
	ks_unseal_reset(e);
	if (rc == 0)
		rc = unwrap_all(e, kek, err) == 0 ? 1 : -1;
	else
		bw_err_set(err, 400, M, "bad_share", "shares do not combine");
	ks_secure_free(kek, KS_MK_LEN);
out:
	ks_secure_free(y, KS_MK_LEN);
	return rc;
}

/* ------------------------------------------------------------ init/rotate */

/* Wraps every live generation under kek into s. */
static int wrap_all(struct ks_engine *e, struct ks_seal_file *s,
		    const uint8_t *kek, struct bw_err *err)
{
	s->nmk = 0;
	for (size_t i = 0; i < e->nmks; i++) {
		uint8_t aad[20];
		size_t al = seal_aad(s, e->mks[i].epoch, aad);
		s->mk[i].epoch = e->mks[i].epoch;
		bw_random(s->mk[i].nonce, 12);
		if (ks_aead_seal(1, kek, s->mk[i].nonce, aad, al, NULL, 0,
				 e->mks[i].mk, KS_MK_LEN, s->mk[i].ct,
				 s->mk[i].ct + KS_MK_LEN, err) < 0)
			return -1;
		s->nmk++;
	}
	return 0;
}

int ks_seal_init(struct ks_engine *e, unsigned type, unsigned n, unsigned k,
		 const uint8_t *pass, size_t passlen, uint32_t t, uint32_t m,
		 char (*shares)[KEYSTORE_SHARE_TEXT_MAX], struct bw_err *err)
{
	if (e->initialized && e->sealed)
		return bw_err_set(err, 503, M, "sealed",
				  "unseal the keystore before changing its seal");
	struct ks_seal_file s = { .type = type };
	bw_random(s.id, sizeof(s.id));
	switch (type) {
	case KEYSTORE_SEAL_AUTO:
		break;
	case KEYSTORE_SEAL_SHAMIR:
		if (k < 1 || n < k || n > KEYSTORE_SHARES_MAX || !shares)
			return bw_err_set(err, 400, M, "shares",
					  "need 1 <= threshold <= shares <= %u",
					  KEYSTORE_SHARES_MAX);
		s.shares = n;
		s.threshold = k;
		break;
	case KEYSTORE_SEAL_PASSPHRASE:
		if (!pass || passlen < KEYSTORE_PASSPHRASE_MIN ||
		    passlen > KEYSTORE_PASSPHRASE_MAX)
			return bw_err_set(err, 400, M, "passphrase",
					  "the passphrase must be %u to %u bytes",
					  KEYSTORE_PASSPHRASE_MIN,
					  KEYSTORE_PASSPHRASE_MAX);
		s.kdf_t = t ? t : KEYSTORE_ARGON2_T_DEFAULT;
		s.kdf_m = m ? m : KEYSTORE_ARGON2_M_KIB_DEFAULT;
		if (s.kdf_t < KEYSTORE_ARGON2_T_MIN || s.kdf_t > KEYSTORE_ARGON2_T_HARD ||
		    s.kdf_m < KEYSTORE_ARGON2_M_KIB_MIN ||
		    s.kdf_m > KEYSTORE_ARGON2_M_KIB_HARD)
			return bw_err_set(err, 400, M, "kdf_cost",
					  "Argon2id cost out of range");
		bw_random(s.salt, sizeof(s.salt));
		break;
	default:
		return bw_err_set(err, 400, M, "seal_type", "unknown seal type");
	}
	uint8_t *kek = ks_secure_alloc(KS_MK_LEN);
	uint8_t *ys = NULL;
	int rc = -1;
	bool fresh = !e->initialized;
	if (!kek)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	if (type == KEYSTORE_SEAL_PASSPHRASE) {
		if (ks_argon2id(pass, passlen, s.salt, KS_SALT_LEN, s.kdf_t, s.kdf_m,
				kek, err) < 0)
			goto out;
	} else {
		bw_random(kek, KS_MK_LEN);
	}
	if (fresh) {
		uint8_t *raw = ks_secure_alloc(KS_MK_LEN);
		if (!raw) {
			bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
			goto out;
		}
		bw_random(raw, KS_MK_LEN);
		ks_seal_now(e);
		rc = mk_make(&e->mks[0], 1, raw, err);
		ks_secure_free(raw, KS_MK_LEN);
		if (rc < 0)
			goto out;
		rc = -1;
		e->nmks = 1;
	}
	if (wrap_all(e, &s, kek, err) < 0)
		goto out;
	if (type == KEYSTORE_SEAL_SHAMIR) {
		ys = ks_secure_alloc((size_t)n * KS_MK_LEN);
		if (!ys || ks_shamir_split(kek, KS_MK_LEN, n, k, ys) < 0) {
			bw_err_set(err, 500, M, "shamir", "cannot split the key");
			goto out;
		}
		for (unsigned i = 0; i < n; i++)
			if (!ks_share_encode(s.id, (uint8_t)(i + 1), (uint8_t)k,
					     ys + (size_t)i * KS_MK_LEN, shares[i],
					     KEYSTORE_SHARE_TEXT_MAX)) {
				bw_err_set(err, 500, M, "shamir", "share encoding");
				goto out;
			}
	}
	/* The auto key file must exist before a seal file that needs it. */
	if (type == KEYSTORE_SEAL_AUTO && write_auto_kek(e, kek, err) < 0)
		goto out;
	if (seal_write(e, &s, err) < 0)
		goto out;
	unsigned old = e->initialized ? e->seal.type : KEYSTORE_SEAL_NONE;
	e->seal = s;
	e->initialized = true;
	e->sealed = false;
	ks_secure_free(e->kek, KS_MK_LEN);
	e->kek = kek;
	kek = NULL;
	ks_unseal_reset(e);
	if (old == KEYSTORE_SEAL_AUTO && type != KEYSTORE_SEAL_AUTO)
		scrub_auto_file(e);
	log_info("keystore %s: seal is now %s%s", fresh ? "initialised" : "re-sealed",
		 keystore_seal_type_name(type),
		 type == KEYSTORE_SEAL_AUTO ?
			 " (DEVELOPMENT ONLY: the unseal key sits in a file)" :
			 "");
	rc = 0;
out:
	if (rc < 0 && fresh)
		ks_seal_now(e);
	ks_secure_free(ys, (size_t)n * KS_MK_LEN);
	ks_secure_free(kek, KS_MK_LEN);
	return rc;
}

int ks_seal_rotate(struct ks_engine *e, struct bw_err *err)
{
	if (e->sealed)
		return bw_err_set(err, 503, M, "sealed", "keystore is sealed");
	if (e->nmks != 1)
		return bw_err_set(err, 409, M, "rotation_running",
				  "a master key rotation is still re-wrapping keys");
	uint8_t *raw = ks_secure_alloc(KS_MK_LEN);
	if (!raw)
		return bw_err_set(err, 500, M, "secure_heap", "secure heap exhausted");
	bw_random(raw, KS_MK_LEN);
	int rc = mk_make(&e->mks[1], e->mks[0].epoch + 1, raw, err);
	ks_secure_free(raw, KS_MK_LEN);
	if (rc < 0)
		return -1;
	e->nmks = 2;
	struct ks_seal_file s = e->seal;
	if (wrap_all(e, &s, e->kek, err) < 0 || seal_write(e, &s, err) < 0) {
		mk_wipe(&e->mks[1]);
		e->nmks = 1;
		return -1;
	}
	e->seal = s;
	log_info("keystore: master key rotation to generation %u started; "
		 "re-wrapping %zu keys",
		 e->mks[1].epoch, e->nkeys);
	return 0;
}

size_t ks_seal_rewrap_pending(const struct ks_engine *e)
{
	const struct ks_mk *a = ks_mk_active(e);
	size_t n = 0;
	if (!a || e->nmks < 2)
		return 0;
	for (size_t i = 0; i < e->nkeys; i++)
		n += e->keys[i]->mk_epoch != a->epoch;
	return n;
}

size_t ks_seal_rewrap_step(struct ks_engine *e, size_t max)
{
	const struct ks_mk *a = ks_mk_active(e);
	if (!a || e->nmks < 2)
		return 0;
	size_t done = 0, pending = 0;
	for (size_t i = 0; i < e->nkeys; i++) {
		struct ks_key *k = e->keys[i];
		if (k->mk_epoch == a->epoch)
			continue;
		struct bw_err err;
		if (done < max && ks_key_save(e, k, &err) == 0) {
			done++;
			continue;
		}
		if (done < max)
			log_warnx("keystore: re-wrapping %s/%s: %s", k->tenant,
				  k->name, err.msg);
		pending++;
	}
	if (pending)
		return pending;
	/* Every file is on the new generation: retire the old one. */
	struct ks_seal_file s = e->seal;
	s.mk[0] = s.mk[1];
	s.nmk = 1;
	struct bw_err err;
	if (seal_write(e, &s, &err) < 0) {
		log_warnx("keystore: retiring the old master key: %s", err.msg);
		return 1;
	}
	e->seal = s;
	mk_wipe(&e->mks[0]);
	e->mks[0] = e->mks[1];
	memset(&e->mks[1], 0, sizeof(e->mks[1]));
	e->nmks = 1;
	log_info("keystore: master key rotation to generation %u complete",
		 e->mks[0].epoch);
	return 0;
}
