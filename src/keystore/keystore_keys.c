/*
 * The key table and key files. Unsealed keys live in e->keys, sorted by
 * (tenant, name) so a tenant's keys are one contiguous run; each key is
 * persisted in its own file DATA_DIR/keystore/keys/<tenant>@<name>.key,
 * written atomically (temp file, fsync, rename, fsync directory).
 *
 * Key file = one protocol-encoded record (op KS_FILE_OP_KEY) followed by
 * a 32-byte HMAC-SHA-256 of it under the master key generation named in
 * the record (MK_EPOCH):
 *   common fields  TENANT KEY KEY_ID KEY_TYPE STATE EXPORTABLE MIN_VERSION
 *                  ROTATE_PERIOD CREATED UPDATED DESTROY_AT MK_EPOCH
 *   one item per version: VERSION CREATED [NONCE KEYDATA]
 * where KEYDATA is the version's material sealed with AES-256-GCM under
 * the generation's wrap key, with (tenant, name, key id, version) as
 * associated data. A destroyed version has no NONCE/KEYDATA.
 *
 * Invariants:
 *  - nothing is believed before the MAC verifies (constant-time compare),
 *    and the record's tenant and name must match the file name;
 *  - material is decrypted straight into the secure heap;
 *  - a file that fails any check is skipped, never half-loaded.
 */
#include "keystore/keystore_int.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define M "keystore"

void ks_key_shred(struct ks_key *k)
{
	for (size_t i = 0; i < k->nv; i++) {
		EVP_PKEY_free(k->v[i].pkey);
		k->v[i].pkey = NULL;
		ks_material_free(&k->v[i].mat);
	}
}

void ks_key_free(struct ks_key *k)
{
	if (!k)
		return;
	ks_key_shred(k);
	free(k->v);
	free(k);
}

static int cmp_str(struct bw_str a, const char *b)
{
	size_t bl = strlen(b);
	int c = memcmp(a.p, b, a.len < bl ? a.len : bl);
	if (c)
		return c;
	return a.len < bl ? -1 : a.len > bl ? 1 : 0;
}

static int cmp_key(struct bw_str tenant, struct bw_str name,
		   const struct ks_key *k)
{
	int c = cmp_str(tenant, k->tenant);
	return c ? c : cmp_str(name, k->name);
}

size_t ks_key_lower_bound(struct ks_engine *e, struct bw_str tenant,
			  struct bw_str name)
{
	size_t lo = 0, hi = e->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_key(tenant, name, e->keys[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct ks_key *ks_key_find(struct ks_engine *e, struct bw_str tenant,
			   struct bw_str name)
{
	size_t i = ks_key_lower_bound(e, tenant, name);
	if (i < e->nkeys && cmp_key(tenant, name, e->keys[i]) == 0)
		return e->keys[i];
	return NULL;
}

struct ks_key *ks_key_find_id(struct ks_engine *e, struct bw_str tenant,
			      const uint8_t id[KEYSTORE_KEY_ID_LEN])
{
	/* The tenant's keys are contiguous: scan only them. */
	for (size_t i = ks_key_lower_bound(e, tenant, bw_str_make("", 0));
	     i < e->nkeys && cmp_str(tenant, e->keys[i]->tenant) == 0; i++)
		if (memcmp(e->keys[i]->id, id, KEYSTORE_KEY_ID_LEN) == 0)
			return e->keys[i];
	return NULL;
}

int ks_key_insert(struct ks_engine *e, struct ks_key *k)
{
	if (e->nkeys >= KEYSTORE_KEYS_MAX)
		return -1;
	if (e->nkeys == e->capkeys) {
		size_t cap = e->capkeys ? e->capkeys * 2 : 64;
		struct ks_key **n = realloc(e->keys, cap * sizeof(*n));
		if (!n)
			return -1;
		e->keys = n;
		e->capkeys = cap;
	}
	struct bw_str t = bw_str_make(k->tenant, strlen(k->tenant));
	struct bw_str nm = bw_str_make(k->name, strlen(k->name));
	size_t i = ks_key_lower_bound(e, t, nm);
	memmove(&e->keys[i + 1], &e->keys[i], (e->nkeys - i) * sizeof(*e->keys));
	e->keys[i] = k;
	e->nkeys++;
	return 0;
}

int ks_key_add_version(struct ks_key *k, struct ks_material *m,
		       struct bw_err *err)
{
	if (k->nv >= KEYSTORE_VERSIONS_MAX)
		return bw_err_set(err, 409, M, "versions",
				  "key has the maximum of %u versions",
				  KEYSTORE_VERSIONS_MAX);
	if (k->nv == k->capv) {
		size_t cap = k->capv ? k->capv * 2 : 4;
		struct ks_version *n = realloc(k->v, cap * sizeof(*n));
		if (!n)
			return bw_err_set(err, 500, M, "memory", "out of memory");
		k->v = n;
		k->capv = cap;
	}
	struct ks_version *v = &k->v[k->nv];
	memset(v, 0, sizeof(*v));
	v->version = (uint32_t)k->nv + 1;
	v->created = bw_clock_now_s();
	v->mat = *m;
	m->p = NULL;
	m->len = 0;
	k->nv++;
	return 0;
}

EVP_PKEY *ks_key_pkey(struct ks_key *k, struct ks_version *v,
		      struct bw_err *err)
{
	if (!v->pkey && v->mat.p)
		v->pkey = ks_crypto_load(k->type, v->mat.p, v->mat.len, err);
	else if (!v->mat.p)
		bw_err_set(err, 409, M, "destroyed", "key material destroyed");
	return v->pkey;
}

/* ------------------------------------------------------------ key files */

static int key_path(const struct ks_engine *e, const char *tenant,
		    const char *name, char *out, size_t cap)
{
	return bw_snprintf(out, cap, "%s/%s@%s.key", e->keys_dir, tenant, name);
}

/* Associated data binding a version's material to its key and version. */
static size_t material_aad(const struct ks_key *k, uint32_t version,
			   uint8_t *out)
{
	size_t n = 0;
	memcpy(out, "bwkf1", 5);
	n += 5;
	size_t tl = strlen(k->tenant), nl = strlen(k->name);
	memcpy(out + n, k->tenant, tl);
	n += tl;
	out[n++] = 0;
	memcpy(out + n, k->name, nl);
	n += nl;
	out[n++] = 0;
	memcpy(out + n, k->id, KEYSTORE_KEY_ID_LEN);
	n += KEYSTORE_KEY_ID_LEN;
	out[n++] = (uint8_t)(version >> 24);
	out[n++] = (uint8_t)(version >> 16);
	out[n++] = (uint8_t)(version >> 8);
	out[n++] = (uint8_t)version;
	return n;
}

#define AAD_MAX (5 + 2 * (KEYSTORE_NAME_MAX + 1) + KEYSTORE_KEY_ID_LEN + 4)

int ks_key_save(struct ks_engine *e, struct ks_key *k, struct bw_err *err)
{
	const struct ks_mk *mk = ks_mk_active(e);
	if (!mk)
		return bw_err_set(err, 503, M, "sealed", "keystore is sealed");
	char path[1400];
	if (key_path(e, k->tenant, k->name, path, sizeof(path)) < 0)
		return bw_err_set(err, 500, M, "path", "key path too long");
	struct keystore_enc enc;
	ks_enc_init_max(&enc, KEYSTORE_KEYFILE_MAX - KS_MAC_LEN, KS_FILE_OP_KEY);
	keystore_enc_str(&enc, KEYSTORE_TAG_TENANT, k->tenant);
	keystore_enc_str(&enc, KEYSTORE_TAG_KEY, k->name);
	keystore_enc_bytes(&enc, KEYSTORE_TAG_KEY_ID, k->id, KEYSTORE_KEY_ID_LEN);
	keystore_enc_u32(&enc, KEYSTORE_TAG_KEY_TYPE, k->type);
	keystore_enc_u32(&enc, KEYSTORE_TAG_STATE, k->state);
	keystore_enc_bool(&enc, KEYSTORE_TAG_EXPORTABLE, k->exportable);
	keystore_enc_u32(&enc, KEYSTORE_TAG_MIN_VERSION, k->min_version);
	keystore_enc_u64(&enc, KEYSTORE_TAG_ROTATE_PERIOD, k->rotate_period);
	keystore_enc_u64(&enc, KEYSTORE_TAG_CREATED, (uint64_t)k->created);
	keystore_enc_u64(&enc, KEYSTORE_TAG_UPDATED, (uint64_t)k->updated);
	keystore_enc_u64(&enc, KEYSTORE_TAG_DESTROY_AT, (uint64_t)k->destroy_at);
	keystore_enc_u32(&enc, KEYSTORE_TAG_MK_EPOCH, mk->epoch);
	int rc = -1;
	uint8_t *sealed = NULL;
	size_t sealed_cap = 0;
	for (size_t i = 0; i < k->nv; i++) {
		const struct ks_version *v = &k->v[i];
		keystore_enc_item(&enc);
		keystore_enc_u32(&enc, KEYSTORE_TAG_VERSION, v->version);
		keystore_enc_u64(&enc, KEYSTORE_TAG_CREATED, (uint64_t)v->created);
		if (!v->mat.p)
			continue;
		uint8_t nonce[12], aad[AAD_MAX];
		size_t need = v->mat.len + 16;
		if (need > sealed_cap) {
			free(sealed);
			sealed = malloc(need);
			sealed_cap = need;
			if (!sealed) {
				rc = bw_err_set(err, 500, M, "memory", "out of memory");
				goto out;
			}
		}
		bw_random(nonce, sizeof(nonce));
		size_t al = material_aad(k, v->version, aad);
		if (ks_aead_seal(1, mk->wrap, nonce, aad, al, NULL, 0, v->mat.p,
				 v->mat.len, sealed, sealed + v->mat.len, err) < 0)
			goto out;
		keystore_enc_bytes(&enc, KEYSTORE_TAG_NONCE, nonce, sizeof(nonce));
		keystore_enc_bytes(&enc, KEYSTORE_TAG_KEYDATA, sealed, need);
	}
	const uint8_t *p;
	size_t n;
	if (keystore_enc_finish(&enc, &p, &n) < 0) {
		(void)p;
		rc = bw_err_set(err, 500, M, "keyfile_too_large",
				"key file for %s/%s too large", k->tenant, k->name);
		goto out;
	}
	uint8_t mac[KS_MAC_LEN];
	unsigned ml = 0;
	/* Reserve first: growing the buffer moves it, and p points into it. */
	if (bw_buf_reserve(&enc.buf, KS_MAC_LEN) < 0 ||
	    !HMAC(EVP_sha256(), mk->mac, KS_SUBKEY_LEN,
		  (const uint8_t *)enc.buf.data, n, mac, &ml) ||
	    ml != KS_MAC_LEN || bw_buf_append(&enc.buf, mac, KS_MAC_LEN) < 0) {
		rc = bw_err_openssl(err, M, "key file MAC");
		goto out;
	}
	if (bw_file_write_atomic(path, enc.buf.data, enc.buf.len, 0600, err) < 0)
		goto out;
	k->mk_epoch = mk->epoch;
	rc = 0;
out:
	free(sealed); /* holds only ciphertext */
	keystore_enc_fini(&enc);
	return rc;
}

static bool field_u32(const struct keystore_msg *m, size_t item, unsigned tag,
		      uint32_t *out)
{
	/* Items of a key file never inherit: read the item's own field. */
	const struct keystore_field *f = keystore_msg_get(m, item, tag);
	if (!f || f->len != 4)
		return false;
	*out = (uint32_t)f->p[0] << 24 | (uint32_t)f->p[1] << 16 |
	       (uint32_t)f->p[2] << 8 | f->p[3];
	return true;
}

static bool field_u64(const struct keystore_msg *m, size_t item, unsigned tag,
		      uint64_t *out)
{
	const struct keystore_field *f = keystore_msg_get(m, item, tag);
	if (!f || f->len != 8)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | f->p[i];
	*out = v;
	return true;
}

static bool field_text(const struct keystore_msg *m, unsigned tag, char *out,
		       size_t cap)
{
	const struct keystore_field *f = keystore_msg_get(m, 0, tag);
	if (!f || f->len >= cap || !keystore_name_valid((const char *)f->p, f->len))
		return false;
	memcpy(out, f->p, f->len);
	out[f->len] = '\0';
	return true;
}

/* Parses and authenticates one key file's bytes. expect_tenant/name come
 * from the file name. */
static struct ks_key *key_decode(struct ks_engine *e, const uint8_t *data,
				 size_t len, const char *expect_tenant,
				 const char *expect_name, struct bw_err *err)
{
	struct keystore_msg *m = NULL;
	struct ks_key *k = NULL;
	uint8_t *pt = NULL;
	size_t ptcap = 0;
	if (len <= KEYSTORE_HDR_LEN + KS_MAC_LEN) {
		bw_err_set(err, 400, M, "keyfile", "key file too short");
		goto fail;
	}
	size_t body = len - KS_MAC_LEN;
	m = ks_msg_new_caps(KEYSTORE_KEYFILE_MAX, 16 + 4 * KEYSTORE_VERSIONS_MAX,
			    KEYSTORE_VERSIONS_MAX);
	if (!m) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto fail;
	}
	if (keystore_msg_decode(m, data, body, err) < 0)
		goto fail;
	uint32_t epoch;
	if (m->op != KS_FILE_OP_KEY || !field_u32(m, 0, KEYSTORE_TAG_MK_EPOCH, &epoch)) {
		bw_err_set(err, 400, M, "keyfile", "not a key file");
		goto fail;
	}
	const struct ks_mk *mk = ks_mk_find(e, epoch);
	if (!mk) {
		bw_err_set(err, 400, M, "keyfile_epoch",
			   "key file sealed with unknown master key generation %u",
			   epoch);
		goto fail;
	}
	uint8_t mac[KS_MAC_LEN];
	unsigned ml = 0;
	if (!HMAC(EVP_sha256(), mk->mac, KS_SUBKEY_LEN, data, body, mac, &ml) ||
	    !bw_ct_equal(mac, ml, data + body, KS_MAC_LEN)) {
		bw_err_set(err, 400, M, "keyfile_mac",
			   "key file failed its integrity check");
		goto fail;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		goto fail;
	}
	const struct keystore_field *idf = keystore_msg_get(m, 0, KEYSTORE_TAG_KEY_ID);
	uint32_t type, state, minv;
	uint64_t period, created, updated, destroy_at;
	const struct keystore_field *exf = keystore_msg_get(m, 0, KEYSTORE_TAG_EXPORTABLE);
	if (!field_text(m, KEYSTORE_TAG_TENANT, k->tenant, sizeof(k->tenant)) ||
	    !field_text(m, KEYSTORE_TAG_KEY, k->name, sizeof(k->name)) || !idf ||
	    !exf || !field_u32(m, 0, KEYSTORE_TAG_KEY_TYPE, &type) ||
	    !field_u32(m, 0, KEYSTORE_TAG_STATE, &state) ||
	    !field_u32(m, 0, KEYSTORE_TAG_MIN_VERSION, &minv) ||
	    !field_u64(m, 0, KEYSTORE_TAG_ROTATE_PERIOD, &period) ||
	    !field_u64(m, 0, KEYSTORE_TAG_CREATED, &created) ||
	    !field_u64(m, 0, KEYSTORE_TAG_UPDATED, &updated) ||
	    !field_u64(m, 0, KEYSTORE_TAG_DESTROY_AT, &destroy_at) ||
	    type == 0 || type >= KEYSTORE_KT_MAX_ || state < KEYSTORE_STATE_ENABLED ||
	    state > KEYSTORE_STATE_DESTROYED || m->nitems == 0 || minv == 0 ||
	    minv > m->nitems || created > INT64_MAX || updated > INT64_MAX ||
	    destroy_at > INT64_MAX) {
		bw_err_set(err, 400, M, "keyfile", "key file has bad fields");
		goto fail;
	}
	if (strcmp(k->tenant, expect_tenant) != 0 || strcmp(k->name, expect_name) != 0) {
		bw_err_set(err, 400, M, "keyfile_name",
			   "key file content does not match its name");
		goto fail;
	}
	memcpy(k->id, idf->p, KEYSTORE_KEY_ID_LEN);
	k->type = type;
	k->state = state;
	k->exportable = exf->p[0] != 0;
	k->min_version = minv;
	k->rotate_period = period;
	k->created = (int64_t)created;
	k->updated = (int64_t)updated;
	k->destroy_at = (int64_t)destroy_at;
	k->mk_epoch = epoch;
	for (size_t i = 1; i <= m->nitems; i++) {
		uint32_t ver;
		uint64_t vc;
		if (!field_u32(m, i, KEYSTORE_TAG_VERSION, &ver) || ver != i ||
		    !field_u64(m, i, KEYSTORE_TAG_CREATED, &vc) || vc > INT64_MAX) {
			bw_err_set(err, 400, M, "keyfile", "key file has a bad version");
			goto fail;
		}
		const struct keystore_field *nf = keystore_msg_get(m, i, KEYSTORE_TAG_NONCE);
		const struct keystore_field *df = keystore_msg_get(m, i, KEYSTORE_TAG_KEYDATA);
		struct ks_material mat = { 0 };
		if ((nf == NULL) != (df == NULL) ||
		    (state == KEYSTORE_STATE_DESTROYED && df) ||
		    (state != KEYSTORE_STATE_DESTROYED && !df) ||
		    (df && df->len <= 16)) {
			bw_err_set(err, 400, M, "keyfile", "key file has bad material");
			goto fail;
		}
		if (df) {
			size_t mlen = df->len - 16;
			if (ks_sym_len(type) && mlen != ks_sym_len(type)) {
				bw_err_set(err, 400, M, "keyfile",
					   "key file has material of the wrong size");
				goto fail;
			}
			if (mlen > ptcap) {
				ks_secure_free(pt, ptcap);
				pt = ks_secure_alloc(mlen);
				ptcap = mlen;
				if (!pt) {
					ptcap = 0;
					bw_err_set(err, 500, M, "secure_heap",
						   "secure heap exhausted");
					goto fail;
				}
			}
			uint8_t aad[AAD_MAX];
			size_t al = material_aad(k, ver, aad);
			if (ks_aead_open(1, mk->wrap, nf->p, aad, al, NULL, 0, df->p,
					 mlen, df->p + mlen, pt, err) < 0 ||
			    ks_material_dup(&mat, pt, mlen) < 0) {
				bw_err_set(err, 400, M, "keyfile",
					   "key material does not open");
				goto fail;
			}
		}
		struct bw_err e2;
		if (ks_key_add_version(k, &mat, &e2) < 0) {
			ks_material_free(&mat);
			*err = e2;
			goto fail;
		}
		k->v[k->nv - 1].created = (int64_t)vc;
	}
	ks_secure_free(pt, ptcap);
	keystore_msg_free(m);
	return k;
fail:
	ks_secure_free(pt, ptcap);
	ks_key_free(k);
	keystore_msg_free(m);
	return NULL;
}

void ks_keys_clear(struct ks_engine *e)
{
	for (size_t i = 0; i < e->nkeys; i++)
		ks_key_free(e->keys[i]);
	free(e->keys);
	e->keys = NULL;
	e->nkeys = e->capkeys = 0;
}

/* Splits "<tenant>@<name>.key"; false for anything else (temp files,
 * strays). */
static bool parse_file_name(const char *fn, char *tenant, char *name)
{
	size_t len = strlen(fn);
	if (len < 7 || strcmp(fn + len - 4, ".key") != 0)
		return false;
	const char *at = memchr(fn, '@', len - 4);
	if (!at)
		return false;
	size_t tl = (size_t)(at - fn), nl = len - 4 - tl - 1;
	if (!keystore_name_valid(fn, tl) || !keystore_name_valid(at + 1, nl))
		return false;
	memcpy(tenant, fn, tl);
	tenant[tl] = '\0';
	memcpy(name, at + 1, nl);
	name[nl] = '\0';
	return true;
}

int ks_keys_load(struct ks_engine *e, struct bw_err *err)
{
	DIR *d = opendir(e->keys_dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return bw_err_set(err, 500, M, "keys_dir", "%s: %s", e->keys_dir,
				  strerror(errno));
	}
	e->load_failures = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char tenant[KEYSTORE_NAME_MAX + 1], name[KEYSTORE_NAME_MAX + 1];
		if (!parse_file_name(de->d_name, tenant, name))
			continue;
		char path[1400];
		struct bw_err ferr;
		size_t len;
		if (bw_snprintf(path, sizeof(path), "%s/%s", e->keys_dir,
				de->d_name) < 0)
			continue;
		char *data = bw_file_read(path, KEYSTORE_KEYFILE_MAX, &len, &ferr);
		struct ks_key *k = data ? key_decode(e, (const uint8_t *)data, len,
						     tenant, name, &ferr) :
					  NULL;
		free(data);
		if (!k || ks_key_insert(e, k) < 0) {
			if (k) {
				ks_key_free(k);
				bw_err_set(&ferr, 500, M, "keys_full", "key table full");
			}
			e->load_failures++;
			log_kv(BW_LOG_ERROR, "keystore: key file refused", "file",
			       de->d_name, "reason", ferr.reason, NULL);
		}
	}
	closedir(d);
	return 0;
}
