/*
 * Tests for the keystore engine, driven in-process through the same
 * request/response messages the key process serves: auto, Shamir and
 * passphrase seals (every 3-subset of a 5-share split, wrong, foreign,
 * duplicate and missing shares, wrong passphrase), the sealed refusal,
 * key lifecycle and its state rules, rotation (on demand and by clock)
 * and minimum decryption versions, ciphertext tampering (every byte),
 * tenant isolation, batches, wrapped import/export, master-key rotation
 * (also interrupted half-way) and tampered key files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "keystore/keystore_int.h"

#include <openssl/pem.h>

/* ------------------------------------------------------------ harness */

struct t {
	char dir[256];
	struct ks_engine *e;
	struct keystore_enc req, resp;
	struct keystore_msg *m; /* the last response, decoded */
};

static struct t T;

static void rm_rf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static struct ks_engine *engine(unsigned mode)
{
	struct ks_engine_conf c = { .data_dir = T.dir, .unseal_mode = mode };
	struct bw_err err;
	struct ks_engine *e = ks_engine_new(&c, &err);
	if (!e)
		fail_msg("engine: %s", err.msg);
	return e;
}

static int setup(void **state)
{
	(void)state;
	snprintf(T.dir, sizeof(T.dir), "/tmp/bw-ks-test-%d", (int)getpid());
	rm_rf(T.dir);
	assert_int_equal(mkdir(T.dir, 0700), 0);
	keystore_enc_init(&T.req, KEYSTORE_REQUEST, 0, 0, 0);
	keystore_enc_init(&T.resp, KEYSTORE_RESPONSE, 0, 0, 0);
	T.m = keystore_msg_new();
	bw_clock_set(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ks_engine_free(T.e);
	T.e = NULL;
	keystore_enc_fini(&T.req);
	keystore_enc_fini(&T.resp);
	keystore_msg_free(T.m);
	rm_rf(T.dir);
	bw_clock_set(0);
	return 0;
}

static void begin(unsigned op, const char *tenant, const char *key)
{
	keystore_enc_reset(&T.req, KEYSTORE_REQUEST, op, 0, 77);
	if (tenant)
		keystore_enc_str(&T.req, KEYSTORE_TAG_TENANT, tenant);
	if (key)
		keystore_enc_str(&T.req, KEYSTORE_TAG_KEY, key);
}

/* Sends the request built in T.req; returns the header status. */
static unsigned send(void)
{
	const uint8_t *p;
	size_t n;
	struct bw_err err;
	struct keystore_msg *rq = keystore_msg_new();
	assert_int_equal(keystore_enc_finish(&T.req, &p, &n), 0);
	assert_int_equal(keystore_msg_decode(rq, p, n, &err), 0);
	ks_engine_handle(T.e, rq, &T.resp);
	keystore_msg_free(rq);
	assert_int_equal(keystore_enc_finish(&T.resp, &p, &n), 0);
	if (keystore_msg_decode(T.m, p, n, &err) != 0)
		fail_msg("response does not decode: %s", err.msg);
	assert_int_equal(T.m->kind, KEYSTORE_RESPONSE);
	assert_int_equal(T.m->id, 77);
	return T.m->status;
}

static unsigned u32_of(size_t item, unsigned tag)
{
	uint32_t v = 0;
	if (!keystore_msg_u32(T.m, item, tag, &v))
		fail_msg("response lacks tag %u", tag);
	return v;
}

static bool bool_of(size_t item, unsigned tag)
{
	bool v = false;
	if (!keystore_msg_bool(T.m, item, tag, &v))
		fail_msg("response lacks tag %u", tag);
	return v;
}

/* Copies a response text/bytes field into a new NUL-terminated string. */
static char *dup_field(size_t item, unsigned tag, size_t *len)
{
	const struct keystore_field *f = keystore_msg_get(T.m, item, tag);
	if (!f)
		fail_msg("response lacks tag %u", tag);
	char *s = malloc(f->len + 1);
	memcpy(s, f->p, f->len);
	s[f->len] = 0;
	if (len)
		*len = f->len;
	return s;
}

static void create(const char *tenant, const char *key, unsigned type)
{
	begin(KEYSTORE_OP_KEY_CREATE, tenant, key);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, type);
	assert_int_equal(send(), KEYSTORE_OK);
}

static char *encrypt(const char *tenant, const char *key, const char *pt,
		     const char *aad)
{
	begin(KEYSTORE_OP_ENCRYPT, tenant, key);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PLAINTEXT, pt, strlen(pt));
	if (aad)
		keystore_enc_bytes(&T.req, KEYSTORE_TAG_AAD, aad, strlen(aad));
	assert_int_equal(send(), KEYSTORE_OK);
	return dup_field(0, KEYSTORE_TAG_CIPHERTEXT, NULL);
}

/* Decrypts; returns the status and, when OK, compares to want. */
static unsigned decrypt(const char *tenant, const char *key, const char *ct,
			const char *aad, const char *want)
{
	begin(KEYSTORE_OP_DECRYPT, tenant, key);
	keystore_enc_str(&T.req, KEYSTORE_TAG_CIPHERTEXT, ct);
	if (aad)
		keystore_enc_bytes(&T.req, KEYSTORE_TAG_AAD, aad, strlen(aad));
	unsigned st = send();
	if (st == KEYSTORE_OK && want) {
		size_t n;
		char *pt = dup_field(0, KEYSTORE_TAG_PLAINTEXT, &n);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(pt, want, n);
		free(pt);
	}
	if (st != KEYSTORE_OK)
		assert_null(keystore_msg_get(T.m, 0, KEYSTORE_TAG_PLAINTEXT));
	return st;
}

static void reopen(unsigned mode)
{
	ks_engine_free(T.e);
	T.e = engine(mode);
}

static unsigned simple(unsigned op, const char *tenant, const char *key)
{
	begin(op, tenant, key);
	return send();
}

/* --------------------------------------------------------------- tests */

static void test_auto_seal(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	assert_false(ks_engine_sealed(T.e));
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/keystore/auto-unseal.key", T.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/keystore", T.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	create("acme", "k1", KEYSTORE_KT_AES256_GCM);
	char *ct = encrypt("acme", "k1", "hello", "row-1");
	assert_memory_equal(ct, "bwk1:", 5);
	assert_int_equal(decrypt("acme", "k1", ct, "row-1", "hello"), KEYSTORE_OK);
	/* A restart auto-unseals and the key is still there. */
	reopen(KEYSTORE_SEAL_AUTO);
	assert_false(ks_engine_sealed(T.e));
	assert_int_equal(decrypt("acme", "k1", ct, "row-1", "hello"), KEYSTORE_OK);
	/* Without naming the key: the ciphertext says which. */
	assert_int_equal(decrypt("acme", NULL, ct, "row-1", "hello"), KEYSTORE_OK);

	/* Sealed: every key operation answers sealed; random does not need
	 * keys. */
	assert_int_equal(simple(KEYSTORE_OP_SEAL, NULL, NULL), KEYSTORE_OK);
	assert_true(bool_of(0, KEYSTORE_TAG_SEALED));
	assert_int_equal(decrypt("acme", "k1", ct, "row-1", NULL), KEYSTORE_E_SEALED);
	begin(KEYSTORE_OP_ENCRYPT, "acme", "k1");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PLAINTEXT, "x", 1);
	assert_int_equal(send(), KEYSTORE_E_SEALED);
	char *msg = dup_field(0, KEYSTORE_TAG_ERROR, NULL);
	assert_non_null(strstr(msg, "sealed"));
	free(msg);
	unsigned sealed_ops[] = { KEYSTORE_OP_KEY_LIST, KEYSTORE_OP_KEY_GET,
				  KEYSTORE_OP_KEY_CREATE, KEYSTORE_OP_SIGN,
				  KEYSTORE_OP_HMAC, KEYSTORE_OP_PUBKEY,
				  KEYSTORE_OP_ROTATE_MASTER, KEYSTORE_OP_KEY_DESTROY };
	for (size_t i = 0; i < BW_ARRAY_LEN(sealed_ops); i++)
		assert_int_equal(simple(sealed_ops[i], "acme", "k1"), KEYSTORE_E_SEALED);
	begin(KEYSTORE_OP_RANDOM, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_COUNT, 16);
	assert_int_equal(send(), KEYSTORE_OK);
	/* Unseal (auto re-reads the file). */
	assert_int_equal(simple(KEYSTORE_OP_UNSEAL, NULL, NULL), KEYSTORE_OK);
	assert_false(bool_of(0, KEYSTORE_TAG_SEALED));
	assert_int_equal(decrypt("acme", "k1", ct, "row-1", "hello"), KEYSTORE_OK);
	assert_int_equal(simple(KEYSTORE_OP_UNSEAL, NULL, NULL), KEYSTORE_E_ALREADY);

	/* A world-readable auto-unseal file is refused. */
	snprintf(path, sizeof(path), "%s/keystore/auto-unseal.key", T.dir);
	assert_int_equal(chmod(path, 0644), 0);
	reopen(KEYSTORE_SEAL_AUTO);
	assert_true(ks_engine_sealed(T.e));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(simple(KEYSTORE_OP_UNSEAL, NULL, NULL), KEYSTORE_OK);
	free(ct);
}

static void unseal_with(char shares[][KEYSTORE_SHARE_TEXT_MAX], const int *idx,
			size_t n, unsigned want_last)
{
	for (size_t i = 0; i < n; i++) {
		begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
		keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, shares[idx[i]]);
		unsigned st = send();
		if (i + 1 < n) {
			assert_int_equal(st, KEYSTORE_OK);
			assert_true(bool_of(0, KEYSTORE_TAG_SEALED));
			assert_int_equal(u32_of(0, KEYSTORE_TAG_PROGRESS), i + 1);
		} else {
			assert_int_equal(st, want_last);
		}
	}
}

static void test_shamir(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_SHAMIR);
	/* Not initialised: key operations say so. */
	assert_int_equal(simple(KEYSTORE_OP_KEY_LIST, "acme", NULL),
			 KEYSTORE_E_NOT_INITIALIZED);
	assert_int_equal(simple(KEYSTORE_OP_UNSEAL, NULL, NULL),
			 KEYSTORE_E_NOT_INITIALIZED);
	/* Bad parameters. */
	begin(KEYSTORE_OP_INIT, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SEAL_TYPE, KEYSTORE_SEAL_SHAMIR);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SHARES, 3);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_THRESHOLD, 4);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	/* operator init --shares 5 --threshold 3 */
	begin(KEYSTORE_OP_INIT, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SEAL_TYPE, KEYSTORE_SEAL_SHAMIR);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SHARES, 5);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_THRESHOLD, 3);
	assert_int_equal(send(), KEYSTORE_OK);
	char shares[5][KEYSTORE_SHARE_TEXT_MAX];
	size_t ns = 0;
	for (uint32_t i = T.m->item_start[0]; i < T.m->item_start[1]; i++) {
		const struct keystore_field *f = &T.m->fields[i];
		if (f->tag != KEYSTORE_TAG_SHARE)
			continue;
		assert_true(ns < 5);
		memcpy(shares[ns], f->p, f->len);
		shares[ns][f->len] = 0;
		ns++;
	}
	assert_int_equal(ns, 5);
	create("acme", "k", KEYSTORE_KT_CHACHA20_POLY1305);
	char *ct = encrypt("acme", "k", "secret", NULL);
	/* Restart: sealed, waiting for 3 shares. */
	reopen(KEYSTORE_SEAL_SHAMIR);
	assert_true(ks_engine_sealed(T.e));
	assert_int_equal(decrypt("acme", "k", ct, NULL, NULL), KEYSTORE_E_SEALED);
	assert_int_equal(simple(KEYSTORE_OP_STATUS, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_SEAL_TYPE), KEYSTORE_SEAL_SHAMIR);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_THRESHOLD), 3);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_PROGRESS), 0);

	/* Every 3-subset (and every 4- and 5-subset prefix) unseals. */
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			for (int c = b + 1; c < 5; c++) {
				int idx[3] = { c, a, b };
				unseal_with(shares, idx, 3, KEYSTORE_OK);
				assert_false(ks_engine_sealed(T.e));
				assert_int_equal(decrypt("acme", "k", ct, NULL, "secret"),
						 KEYSTORE_OK);
				assert_int_equal(simple(KEYSTORE_OP_SEAL, NULL, NULL),
						 KEYSTORE_OK);
			}
	/* Two shares are not enough; the same share twice is refused and
	 * does not count. */
	int two[2] = { 0, 1 };
	unseal_with(shares, two, 2, KEYSTORE_OK);
	assert_true(ks_engine_sealed(T.e));
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, shares[1]);
	assert_int_equal(send(), KEYSTORE_E_LIMIT);
	assert_int_equal(simple(KEYSTORE_OP_STATUS, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_PROGRESS), 2);
	/* Reset discards progress. */
	assert_int_equal(simple(KEYSTORE_OP_UNSEAL_RESET, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_PROGRESS), 0);
	/* A typo (checksum mismatch) is caught before combining. */
	char typo[KEYSTORE_SHARE_TEXT_MAX];
	memcpy(typo, shares[2], sizeof(typo));
	typo[10] = typo[10] == 'A' ? 'B' : 'A';
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, typo);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	/* A well-formed share with a wrong value: the combination fails
	 * authentication and progress resets. */
	uint8_t id[KS_SEAL_ID_LEN], x, k, y[KS_MK_LEN];
	assert_int_equal(ks_share_decode(shares[4], strlen(shares[4]), id, &x, &k, y), 0);
	y[0] ^= 1;
	char forged[KEYSTORE_SHARE_TEXT_MAX];
	assert_true(ks_share_encode(id, x, k, y, forged, sizeof(forged)) > 0);
	int first[2] = { 0, 1 };
	unseal_with(shares, first, 2, KEYSTORE_OK);
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, forged);
	assert_int_equal(send(), KEYSTORE_E_AUTH);
	assert_true(ks_engine_sealed(T.e));
	assert_int_equal(simple(KEYSTORE_OP_STATUS, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_PROGRESS), 0);
	/* A share of another installation is refused by its seal id. */
	uint8_t other[KS_SEAL_ID_LEN];
	memcpy(other, id, sizeof(other));
	other[0] ^= 0xff;
	y[0] ^= 1;
	assert_true(ks_share_encode(other, x, k, y, forged, sizeof(forged)) > 0);
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, forged);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	/* All three shares in one request. */
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, shares[4]);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, shares[0]);
	keystore_enc_str(&T.req, KEYSTORE_TAG_SHARE, shares[2]);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_false(ks_engine_sealed(T.e));
	/* A passphrase is not a share. */
	assert_int_equal(simple(KEYSTORE_OP_SEAL, NULL, NULL), KEYSTORE_OK);
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PASSPHRASE, "correct horse battery", 21);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	free(ct);
}

static void test_passphrase_and_switch(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	create("acme", "k", KEYSTORE_KT_AES256_GCM);
	char *ct = encrypt("acme", "k", "payload", NULL);
	char path[512];
	snprintf(path, sizeof(path), "%s/keystore/auto-unseal.key", T.dir);
	assert_int_equal(access(path, F_OK), 0);
	/* Too short a passphrase. */
	begin(KEYSTORE_OP_INIT, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SEAL_TYPE, KEYSTORE_SEAL_PASSPHRASE);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PASSPHRASE, "short", 5);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	/* Switch the installation from auto to a passphrase, keeping keys. */
	const char *pw = "correct horse battery staple";
	begin(KEYSTORE_OP_INIT, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SEAL_TYPE, KEYSTORE_SEAL_PASSPHRASE);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PASSPHRASE, pw, strlen(pw));
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KDF_T, 1);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KDF_M, KEYSTORE_ARGON2_M_KIB_MIN);
	assert_int_equal(send(), KEYSTORE_OK);
	/* The development key file is gone. */
	assert_int_equal(access(path, F_OK), -1);
	/* Restarting in auto mode does not help: the seal file decides. */
	reopen(KEYSTORE_SEAL_AUTO);
	assert_true(ks_engine_sealed(T.e));
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PASSPHRASE, "correct horse battery stapler", 29);
	assert_int_equal(send(), KEYSTORE_E_AUTH);
	assert_true(ks_engine_sealed(T.e));
	assert_int_equal(simple(KEYSTORE_OP_UNSEAL, NULL, NULL), KEYSTORE_E_BAD_REQUEST);
	begin(KEYSTORE_OP_UNSEAL, NULL, NULL);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PASSPHRASE, pw, strlen(pw));
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(decrypt("acme", "k", ct, NULL, "payload"), KEYSTORE_OK);
	/* Changing the seal needs an unsealed keystore. */
	assert_int_equal(simple(KEYSTORE_OP_SEAL, NULL, NULL), KEYSTORE_OK);
	begin(KEYSTORE_OP_INIT, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_SEAL_TYPE, KEYSTORE_SEAL_AUTO);
	assert_int_equal(send(), KEYSTORE_E_SEALED);
	free(ct);
}

static void test_lifecycle_and_versions(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	create("acme", "k", KEYSTORE_KT_AES256_GCM);
	/* Names: duplicates, reserved, invalid. */
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	assert_int_equal(send(), KEYSTORE_E_EXISTS);
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "__import");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "../etc");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "x");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, 99);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "nope"), KEYSTORE_E_NOT_FOUND);

	char *v1 = encrypt("acme", "k", "one", NULL);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_VERSION), 1);
	assert_int_equal(simple(KEYSTORE_OP_KEY_ROTATE, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_LATEST), 2);
	char *v2 = encrypt("acme", "k", "two", NULL);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_VERSION), 2);
	assert_int_equal(decrypt("acme", "k", v1, NULL, "one"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_VERSION), 1);
	/* Rewrap moves v1 data to v2 without showing the plaintext. */
	begin(KEYSTORE_OP_REWRAP, "acme", "k");
	keystore_enc_str(&T.req, KEYSTORE_TAG_CIPHERTEXT, v1);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_VERSION), 2);
	assert_null(keystore_msg_get(T.m, 0, KEYSTORE_TAG_PLAINTEXT));
	char *v1r = dup_field(0, KEYSTORE_TAG_CIPHERTEXT, NULL);
	/* Minimum decryption version 2: v1 ciphertext refused, v2 fine. */
	begin(KEYSTORE_OP_KEY_UPDATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_MIN_VERSION, 2);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_MIN_VERSION), 2);
	assert_int_equal(decrypt("acme", "k", v1, NULL, NULL), KEYSTORE_E_VERSION);
	assert_int_equal(decrypt("acme", "k", v2, NULL, "two"), KEYSTORE_OK);
	assert_int_equal(decrypt("acme", "k", v1r, NULL, "one"), KEYSTORE_OK);
	begin(KEYSTORE_OP_REWRAP, "acme", "k");
	keystore_enc_str(&T.req, KEYSTORE_TAG_CIPHERTEXT, v1);
	assert_int_equal(send(), KEYSTORE_E_VERSION);
	/* Minimum version beyond the latest, or 0: refused. */
	begin(KEYSTORE_OP_KEY_UPDATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_MIN_VERSION, 3);
	assert_int_equal(send(), KEYSTORE_E_VERSION);
	begin(KEYSTORE_OP_KEY_UPDATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_MIN_VERSION, 0);
	assert_int_equal(send(), KEYSTORE_E_VERSION);
	/* Lowering it again is allowed (an operator's decision). */
	begin(KEYSTORE_OP_KEY_UPDATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_MIN_VERSION, 1);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(decrypt("acme", "k", v1, NULL, "one"), KEYSTORE_OK);
	/* Policy survives a restart. */
	begin(KEYSTORE_OP_KEY_UPDATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_MIN_VERSION, 2);
	assert_int_equal(send(), KEYSTORE_OK);
	reopen(KEYSTORE_SEAL_AUTO);
	assert_int_equal(decrypt("acme", "k", v1, NULL, NULL), KEYSTORE_E_VERSION);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_LATEST), 2);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_MIN_VERSION), 2);

	/* Suspend: every use refused, metadata readable; enable restores. */
	assert_int_equal(simple(KEYSTORE_OP_KEY_SUSPEND, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_STATE), KEYSTORE_STATE_SUSPENDED);
	assert_int_equal(decrypt("acme", "k", v2, NULL, NULL), KEYSTORE_E_KEY_STATE);
	assert_int_equal(decrypt("acme", NULL, v2, NULL, NULL), KEYSTORE_E_KEY_STATE);
	begin(KEYSTORE_OP_ENCRYPT, "acme", "k");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PLAINTEXT, "x", 1);
	assert_int_equal(send(), KEYSTORE_E_KEY_STATE);
	assert_int_equal(simple(KEYSTORE_OP_KEY_ROTATE, "acme", "k"), KEYSTORE_E_KEY_STATE);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(simple(KEYSTORE_OP_KEY_ENABLE, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(decrypt("acme", "k", v2, NULL, "two"), KEYSTORE_OK);

	/* Destroy needs a schedule first; a scheduled key is unusable and
	 * can be saved by enabling it. */
	assert_int_equal(simple(KEYSTORE_OP_KEY_DESTROY, "acme", "k"), KEYSTORE_E_KEY_STATE);
	begin(KEYSTORE_OP_KEY_SCHEDULE_DESTROY, "acme", "k");
	keystore_enc_u64(&T.req, KEYSTORE_TAG_DELAY, 10);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	assert_int_equal(simple(KEYSTORE_OP_KEY_SCHEDULE_DESTROY, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_STATE), KEYSTORE_STATE_SCHEDULED);
	assert_int_equal(decrypt("acme", "k", v2, NULL, NULL), KEYSTORE_E_KEY_STATE);
	assert_int_equal(simple(KEYSTORE_OP_KEY_ENABLE, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(decrypt("acme", "k", v2, NULL, "two"), KEYSTORE_OK);
	assert_int_equal(simple(KEYSTORE_OP_KEY_SCHEDULE_DESTROY, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(simple(KEYSTORE_OP_KEY_DESTROY, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_STATE), KEYSTORE_STATE_DESTROYED);
	assert_int_equal(decrypt("acme", "k", v2, NULL, NULL), KEYSTORE_E_KEY_STATE);
	assert_int_equal(simple(KEYSTORE_OP_KEY_ENABLE, "acme", "k"), KEYSTORE_E_KEY_STATE);
	/* Crypto-shredded on disk too: after a restart the key is destroyed
	 * and its file holds no key data; the name stays taken. */
	reopen(KEYSTORE_SEAL_AUTO);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "k"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_STATE), KEYSTORE_STATE_DESTROYED);
	struct ks_key *kk = ks_key_find(T.e, BW_STR("acme"), BW_STR("k"));
	assert_non_null(kk);
	for (size_t i = 0; i < kk->nv; i++)
		assert_null(kk->v[i].mat.p);
	assert_int_equal(decrypt("acme", "k", v2, NULL, NULL), KEYSTORE_E_KEY_STATE);
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "k");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	assert_int_equal(send(), KEYSTORE_E_EXISTS);
	free(v1);
	free(v2);
	free(v1r);
}

static void test_clock_rules(void **state)
{
	(void)state;
	bw_clock_set((int64_t)1800000000 * 1000000000);
	T.e = engine(KEYSTORE_SEAL_AUTO);
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "auto");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_HMAC_SHA256);
	keystore_enc_u64(&T.req, KEYSTORE_TAG_ROTATE_PERIOD, 60);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	begin(KEYSTORE_OP_KEY_CREATE, "acme", "auto");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_HMAC_SHA256);
	keystore_enc_u64(&T.req, KEYSTORE_TAG_ROTATE_PERIOD, 86400);
	assert_int_equal(send(), KEYSTORE_OK);
	begin(KEYSTORE_OP_HMAC, "acme", "auto");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "m", 1);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_VERSION), 1);
	/* A day later the next use rotates first. */
	bw_clock_advance((int64_t)86400 * 1000000000);
	begin(KEYSTORE_OP_HMAC, "acme", "auto");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "m", 1);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_VERSION), 2);
	/* And the idle scan rotates keys nobody uses. */
	bw_clock_advance((int64_t)86400 * 1000000000);
	ks_engine_idle(T.e);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "auto"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_LATEST), 3);

	/* Scheduled destruction happens when the clock says so. */
	create("acme", "doomed", KEYSTORE_KT_AES256_GCM);
	begin(KEYSTORE_OP_KEY_SCHEDULE_DESTROY, "acme", "doomed");
	keystore_enc_u64(&T.req, KEYSTORE_TAG_DELAY, 3600);
	assert_int_equal(send(), KEYSTORE_OK);
	bw_clock_advance((int64_t)3599 * 1000000000);
	ks_engine_idle(T.e);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "doomed"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_STATE), KEYSTORE_STATE_SCHEDULED);
	bw_clock_advance((int64_t)2 * 1000000000);
	ks_engine_idle(T.e);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "acme", "doomed"), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_STATE), KEYSTORE_STATE_DESTROYED);
}

/* Every single-byte change of a ciphertext, in text and binary form, is
 * refused; nothing decrypts except the original. */
static void test_tampering(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	create("acme", "k", KEYSTORE_KT_AES256_GCM);
	create("acme", "k2", KEYSTORE_KT_AES256_GCM);
	create("acme", "c", KEYSTORE_KT_CHACHA20_POLY1305);
	for (int alg = 0; alg < 2; alg++) {
		const char *key = alg ? "c" : "k";
		char *ct = encrypt("acme", key, "attack at dawn", "ctx");
		size_t n = strlen(ct);
		uint8_t bin[256];
		struct keystore_ctext c;
		struct bw_err err;
		assert_int_equal(keystore_ctext_decode(ct, n, bin, sizeof(bin), &c, &err), 0);
		size_t blen = KEYSTORE_CTEXT_OVERHEAD + c.ct_len;
		for (size_t i = 0; i < blen; i++)
			for (int bit = 0; bit < 8; bit += 7) {
				uint8_t b2[256];
				char t2[400];
				memcpy(b2, bin, blen);
				b2[i] ^= (uint8_t)(1u << bit);
				size_t tl = keystore_ctext_armour(b2, blen, t2, sizeof(t2));
				assert_true(tl > 0);
				assert_int_not_equal(decrypt("acme", key, t2, "ctx", NULL),
						     KEYSTORE_OK);
				assert_int_not_equal(decrypt("acme", NULL, t2, "ctx", NULL),
						     KEYSTORE_OK);
			}
		/* Text-level: each character replaced. */
		for (size_t i = 0; i < n; i++) {
			char *t2 = strdup(ct);
			t2[i] = t2[i] == 'A' ? 'B' : 'A';
			assert_int_not_equal(decrypt("acme", key, t2, "ctx", NULL), KEYSTORE_OK);
			free(t2);
		}
		/* Truncated and extended. */
		char *t3 = strdup(ct);
		t3[n - 1] = 0;
		assert_int_not_equal(decrypt("acme", key, t3, "ctx", NULL), KEYSTORE_OK);
		free(t3);
		/* Wrong or missing AAD, wrong key of the same type. */
		assert_int_equal(decrypt("acme", key, ct, "ctX", NULL), KEYSTORE_E_AUTH);
		assert_int_equal(decrypt("acme", key, ct, NULL, NULL), KEYSTORE_E_AUTH);
		assert_int_equal(decrypt("acme", alg ? "k" : "k2", ct, "ctx", NULL),
				 KEYSTORE_E_AUTH);
		assert_int_equal(decrypt("acme", key, ct, "ctx", "attack at dawn"), KEYSTORE_OK);
		free(ct);
	}
	/* Not ciphertexts at all. */
	assert_int_equal(decrypt("acme", "k", "bwk1:", NULL, NULL), KEYSTORE_E_BAD_REQUEST);
	assert_int_equal(decrypt("acme", "k", "vault:v1:abcd", NULL, NULL),
			 KEYSTORE_E_BAD_REQUEST);
}

static void test_tenants(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	create("tenant-a", "shared-name", KEYSTORE_KT_AES256_GCM);
	create("tenant-a", "signer", KEYSTORE_KT_ED25519);
	create("tenant-b", "shared-name", KEYSTORE_KT_AES256_GCM);
	char *ct = encrypt("tenant-a", "shared-name", "a's data", NULL);
	/* Tenant B cannot decrypt A's data, with or without naming a key. */
	assert_int_equal(decrypt("tenant-b", "shared-name", ct, NULL, NULL), KEYSTORE_E_AUTH);
	assert_int_equal(decrypt("tenant-b", NULL, ct, NULL, NULL), KEYSTORE_E_NOT_FOUND);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "tenant-b", "signer"),
			 KEYSTORE_E_NOT_FOUND);
	begin(KEYSTORE_OP_SIGN, "tenant-b", "signer");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "m", 1);
	assert_int_equal(send(), KEYSTORE_E_NOT_FOUND);
	/* Listing shows only one's own keys (and never the import key). */
	assert_int_equal(simple(KEYSTORE_OP_IMPORT_PARAMS, "tenant-b", NULL), KEYSTORE_OK);
	assert_int_equal(simple(KEYSTORE_OP_KEY_LIST, "tenant-b", NULL), KEYSTORE_OK);
	assert_int_equal(T.m->nitems, 1);
	char *name = dup_field(1, KEYSTORE_TAG_KEY, NULL);
	assert_string_equal(name, "shared-name");
	free(name);
	assert_int_equal(simple(KEYSTORE_OP_KEY_LIST, "tenant-a", NULL), KEYSTORE_OK);
	assert_int_equal(T.m->nitems, 2);
	assert_int_equal(simple(KEYSTORE_OP_KEY_LIST, "tenant-c", NULL), KEYSTORE_OK);
	assert_int_equal(T.m->nitems, 0);
	/* The reserved import key is not usable as a key. */
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "tenant-b", "__import"),
			 KEYSTORE_E_NOT_FOUND);
	/* No tenant, bad tenant. */
	assert_int_equal(simple(KEYSTORE_OP_KEY_LIST, NULL, NULL), KEYSTORE_E_BAD_REQUEST);
	assert_int_equal(simple(KEYSTORE_OP_KEY_LIST, "../a", NULL), KEYSTORE_E_BAD_REQUEST);
	free(ct);
}

static void test_list_paging(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	char name[16];
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "key%02d", i);
		create("t", name, KEYSTORE_KT_HMAC_SHA512);
	}
	create("u", "other", KEYSTORE_KT_HMAC_SHA512);
	char cursor[KEYSTORE_NAME_MAX + 1] = "";
	int seen = 0, pages = 0;
	do {
		begin(KEYSTORE_OP_KEY_LIST, "t", NULL);
		keystore_enc_u32(&T.req, KEYSTORE_TAG_LIMIT, 3);
		if (cursor[0])
			keystore_enc_str(&T.req, KEYSTORE_TAG_CURSOR, cursor);
		assert_int_equal(send(), KEYSTORE_OK);
		for (size_t i = 1; i <= T.m->nitems; i++) {
			char *n = dup_field(i, KEYSTORE_TAG_KEY, NULL);
			snprintf(name, sizeof(name), "key%02d", seen);
			assert_string_equal(n, name);
			free(n);
			seen++;
		}
		pages++;
		struct bw_str c;
		if (keystore_msg_str(T.m, 0, KEYSTORE_TAG_CURSOR, &c)) {
			memcpy(cursor, c.p, c.len);
			cursor[c.len] = 0;
		} else {
			cursor[0] = 0;
		}
	} while (cursor[0]);
	assert_int_equal(seen, 7);
	assert_int_equal(pages, 3);
}

static void test_batch_and_ops(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	create("t", "aes", KEYSTORE_KT_AES256_GCM);
	create("t", "mac", KEYSTORE_KT_HMAC_SHA512);
	create("t", "ec", KEYSTORE_KT_ECDSA_P256);
	/* Batch encrypt: 3 good items and one naming a missing key. */
	begin(KEYSTORE_OP_ENCRYPT, "t", "aes");
	for (int i = 0; i < 4; i++) {
		keystore_enc_item(&T.req);
		char pt[8];
		snprintf(pt, sizeof(pt), "pt%d", i);
		keystore_enc_bytes(&T.req, KEYSTORE_TAG_PLAINTEXT, pt, strlen(pt));
		if (i == 2)
			keystore_enc_str(&T.req, KEYSTORE_TAG_KEY, "missing");
	}
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(T.m->nitems, 4);
	char *cts[4];
	for (int i = 0; i < 4; i++) {
		unsigned st = u32_of((size_t)i + 1, KEYSTORE_TAG_STATUS);
		assert_int_equal(st, i == 2 ? KEYSTORE_E_NOT_FOUND : KEYSTORE_OK);
		cts[i] = i == 2 ? NULL : dup_field((size_t)i + 1, KEYSTORE_TAG_CIPHERTEXT, NULL);
	}
	/* Batch decrypt them back, plus a garbage item. */
	begin(KEYSTORE_OP_DECRYPT, "t", "aes");
	for (int i = 0; i < 4; i++) {
		keystore_enc_item(&T.req);
		keystore_enc_str(&T.req, KEYSTORE_TAG_CIPHERTEXT, cts[i] ? cts[i] : "junk");
	}
	assert_int_equal(send(), KEYSTORE_OK);
	for (int i = 0; i < 4; i++) {
		unsigned st = u32_of((size_t)i + 1, KEYSTORE_TAG_STATUS);
		if (i == 2) {
			assert_int_equal(st, KEYSTORE_E_BAD_REQUEST);
			continue;
		}
		assert_int_equal(st, KEYSTORE_OK);
		char *pt = dup_field((size_t)i + 1, KEYSTORE_TAG_PLAINTEXT, NULL);
		char want[8];
		snprintf(want, sizeof(want), "pt%d", i);
		assert_string_equal(pt, want);
		free(pt);
		free(cts[i]);
	}
	/* Key-management operations have no batch form. */
	begin(KEYSTORE_OP_KEY_GET, "t", "aes");
	keystore_enc_item(&T.req);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);

	/* Wrong key type for the operation. */
	begin(KEYSTORE_OP_SIGN, "t", "aes");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "m", 1);
	assert_int_equal(send(), KEYSTORE_E_DENIED);
	begin(KEYSTORE_OP_ENCRYPT, "t", "mac");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PLAINTEXT, "m", 1);
	assert_int_equal(send(), KEYSTORE_E_DENIED);

	/* Sign / verify. */
	begin(KEYSTORE_OP_SIGN, "t", "ec");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "hello", 5);
	assert_int_equal(send(), KEYSTORE_OK);
	size_t slen;
	char *sig = dup_field(0, KEYSTORE_TAG_SIGNATURE, &slen);
	begin(KEYSTORE_OP_VERIFY, "t", "ec");
	keystore_enc_item(&T.req);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "hello", 5);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_SIGNATURE, sig, slen);
	keystore_enc_item(&T.req);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "hellO", 5);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_SIGNATURE, sig, slen);
	keystore_enc_item(&T.req);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "hello", 5);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_SIGNATURE, sig, slen);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_VERSION, 5);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_true(bool_of(1, KEYSTORE_TAG_VALID));
	assert_false(bool_of(2, KEYSTORE_TAG_VALID));
	assert_int_equal(u32_of(3, KEYSTORE_TAG_STATUS), KEYSTORE_E_VERSION);
	free(sig);
	/* The public key verifies the signature with plain OpenSSL. */
	begin(KEYSTORE_OP_PUBKEY, "t", "ec");
	assert_int_equal(send(), KEYSTORE_OK);
	size_t plen;
	char *pem = dup_field(0, KEYSTORE_TAG_PUBKEY, &plen);
	assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
	free(pem);
	begin(KEYSTORE_OP_PUBKEY, "t", "ec");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_FORMAT, KEYSTORE_FMT_JWK);
	assert_int_equal(send(), KEYSTORE_OK);
	char *jwk = dup_field(0, KEYSTORE_TAG_PUBKEY, NULL);
	assert_non_null(strstr(jwk, "\"kid\":\"t/ec:1\""));
	free(jwk);
	assert_int_equal(simple(KEYSTORE_OP_PUBKEY, "t", "aes"), KEYSTORE_E_DENIED);

	/* HMAC and its verification. */
	begin(KEYSTORE_OP_HMAC, "t", "mac");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "data", 4);
	assert_int_equal(send(), KEYSTORE_OK);
	size_t mlen;
	char *mac = dup_field(0, KEYSTORE_TAG_MAC, &mlen);
	assert_int_equal(mlen, 64);
	begin(KEYSTORE_OP_HMAC_VERIFY, "t", "mac");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "data", 4);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MAC, mac, mlen);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_true(bool_of(0, KEYSTORE_TAG_VALID));
	mac[0] ^= 1;
	begin(KEYSTORE_OP_HMAC_VERIFY, "t", "mac");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MESSAGE, "data", 4);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_MAC, mac, mlen);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_false(bool_of(0, KEYSTORE_TAG_VALID));
	free(mac);

	/* Data keys: plaintext + wrapped; the wrapped one decrypts to it. */
	begin(KEYSTORE_OP_DATAKEY, "t", "aes");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_AAD, "row", 3);
	assert_int_equal(send(), KEYSTORE_OK);
	size_t dklen;
	char *dk = dup_field(0, KEYSTORE_TAG_PLAINTEXT, &dklen);
	char *wrapped = dup_field(0, KEYSTORE_TAG_CIPHERTEXT, NULL);
	assert_int_equal(dklen, 32);
	begin(KEYSTORE_OP_DECRYPT, "t", "aes");
	keystore_enc_str(&T.req, KEYSTORE_TAG_CIPHERTEXT, wrapped);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_AAD, "row", 3);
	assert_int_equal(send(), KEYSTORE_OK);
	const struct keystore_field *f = keystore_msg_get(T.m, 0, KEYSTORE_TAG_PLAINTEXT);
	assert_int_equal(f->len, 32);
	assert_memory_equal(f->p, dk, 32);
	free(dk);
	free(wrapped);
	begin(KEYSTORE_OP_DATAKEY, "t", "aes");
	keystore_enc_bool(&T.req, KEYSTORE_TAG_NO_PLAINTEXT, true);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_BITS, 128);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_null(keystore_msg_get(T.m, 0, KEYSTORE_TAG_PLAINTEXT));
	begin(KEYSTORE_OP_DATAKEY, "t", "aes");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_BITS, 100);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);

	/* Random: bounded. */
	begin(KEYSTORE_OP_RANDOM, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_COUNT, 4096);
	assert_int_equal(send(), KEYSTORE_OK);
	begin(KEYSTORE_OP_RANDOM, NULL, NULL);
	keystore_enc_u32(&T.req, KEYSTORE_TAG_COUNT, 4097);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	assert_int_equal(simple(KEYSTORE_OP_RANDOM, NULL, NULL), KEYSTORE_E_BAD_REQUEST);
	assert_int_equal(simple(250, NULL, NULL), KEYSTORE_E_UNSUPPORTED);
	assert_int_equal(simple(KEYSTORE_OP_PING, NULL, NULL), KEYSTORE_OK);
}

static void test_import_export(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	struct bw_err err;
	/* The caller's own RSA wrapping key pair. */
	struct ks_material wk = { 0 };
	assert_int_equal(ks_crypto_generate(KEYSTORE_KT_RSA_2048, &wk, &err), 0);
	EVP_PKEY *mine = ks_crypto_load(KEYSTORE_KT_RSA_2048, wk.p, wk.len, &err);
	struct bw_buf pem;
	bw_buf_init(&pem, 8192);
	assert_int_equal(ks_pubkey_export(mine, KEYSTORE_KT_RSA_2048, KEYSTORE_FMT_PEM,
					  NULL, &pem, &err), 0);

	/* Non-exportable by default, and it cannot be made exportable. */
	create("a", "plain", KEYSTORE_KT_AES256_GCM);
	begin(KEYSTORE_OP_KEY_EXPORT, "a", "plain");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PUBKEY, pem.data, pem.len);
	assert_int_equal(send(), KEYSTORE_E_DENIED);
	begin(KEYSTORE_OP_KEY_UPDATE, "a", "plain");
	keystore_enc_bool(&T.req, KEYSTORE_TAG_EXPORTABLE, true);
	assert_int_equal(send(), KEYSTORE_E_DENIED);

	/* An exportable key exports wrapped; we unwrap it with our key. */
	begin(KEYSTORE_OP_KEY_CREATE, "a", "exp");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	keystore_enc_bool(&T.req, KEYSTORE_TAG_EXPORTABLE, true);
	assert_int_equal(send(), KEYSTORE_OK);
	char *ct = encrypt("a", "exp", "exported data", NULL);
	begin(KEYSTORE_OP_KEY_EXPORT, "a", "exp");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PUBKEY, pem.data, pem.len);
	assert_int_equal(send(), KEYSTORE_OK);
	const struct keystore_field *w = keystore_msg_get(T.m, 0, KEYSTORE_TAG_WRAPPED);
	assert_non_null(w);
	struct ks_material raw = { 0 };
	assert_int_equal(ks_rsa_aes_unwrap(mine, w->p, w->len, &raw, &err), 0);
	assert_int_equal(raw.len, 32);
	/* The exported bytes really are the key: open the ciphertext. */
	uint8_t bin[256], pt[64];
	struct keystore_ctext c;
	assert_int_equal(keystore_ctext_decode(ct, strlen(ct), bin, sizeof(bin), &c, &err), 0);
	assert_int_equal(ks_aead_open(1, raw.p, c.nonce, c.hdr, KEYSTORE_CTEXT_HDR, NULL, 0,
				      c.ct, c.ct_len, c.tag, pt, &err), 0);
	assert_memory_equal(pt, "exported data", 13);
	/* Exportability can be withdrawn. */
	begin(KEYSTORE_OP_KEY_UPDATE, "a", "exp");
	keystore_enc_bool(&T.req, KEYSTORE_TAG_EXPORTABLE, false);
	assert_int_equal(send(), KEYSTORE_OK);
	begin(KEYSTORE_OP_KEY_EXPORT, "a", "exp");
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_PUBKEY, pem.data, pem.len);
	assert_int_equal(send(), KEYSTORE_E_DENIED);

	/* Import those bytes into tenant b (bring your own key). */
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "byok");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, "xx", 2);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST); /* no params yet */
	assert_int_equal(simple(KEYSTORE_OP_IMPORT_PARAMS, "b", NULL), KEYSTORE_OK);
	size_t ilen;
	char *ipem = dup_field(0, KEYSTORE_TAG_PUBKEY, &ilen);
	struct bw_buf wrapped;
	bw_buf_init(&wrapped, KEYSTORE_WRAPPED_MAX);
	assert_int_equal(ks_rsa_aes_wrap((const uint8_t *)ipem, ilen, raw.p, raw.len,
					 &wrapped, &err), 0);
	/* Wrong type for 32 bytes of material: refused. */
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "byok");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_HMAC_SHA512);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	/* Tampered wrapping: refused. */
	wrapped.data[wrapped.len - 3] ^= 1;
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "byok");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	assert_int_equal(send(), KEYSTORE_E_AUTH);
	wrapped.data[wrapped.len - 3] ^= 1;
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "byok");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_false(bool_of(0, KEYSTORE_TAG_EXPORTABLE));
	/* Tenant b's key encrypts; the known bytes open it. */
	char *ct2 = encrypt("b", "byok", "byok data", NULL);
	assert_int_equal(keystore_ctext_decode(ct2, strlen(ct2), bin, sizeof(bin), &c, &err), 0);
	assert_int_equal(ks_aead_open(1, raw.p, c.nonce, c.hdr, KEYSTORE_CTEXT_HDR, NULL, 0,
				      c.ct, c.ct_len, c.tag, pt, &err), 0);
	assert_memory_equal(pt, "byok data", 9);
	/* Importing again adds a version. */
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "byok");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_AES256_GCM);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	assert_int_equal(send(), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_LATEST), 2);

	/* An asymmetric import: an Ed25519 key we generated. */
	struct ks_material ed = { 0 };
	assert_int_equal(ks_crypto_generate(KEYSTORE_KT_ED25519, &ed, &err), 0);
	bw_buf_reset(&wrapped);
	assert_int_equal(ks_rsa_aes_wrap((const uint8_t *)ipem, ilen, ed.p, ed.len,
					 &wrapped, &err), 0);
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "ed");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_ECDSA_P256);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	assert_int_equal(send(), KEYSTORE_E_BAD_REQUEST);
	begin(KEYSTORE_OP_KEY_IMPORT, "b", "ed");
	keystore_enc_u32(&T.req, KEYSTORE_TAG_KEY_TYPE, KEYSTORE_KT_ED25519);
	keystore_enc_bytes(&T.req, KEYSTORE_TAG_WRAPPED, wrapped.data, wrapped.len);
	assert_int_equal(send(), KEYSTORE_OK);

	ks_material_free(&ed);
	bw_buf_fini(&wrapped);
	free(ipem);
	free(ct);
	free(ct2);
	ks_material_free(&raw);
	bw_buf_fini(&pem);
	EVP_PKEY_free(mine);
	ks_material_free(&wk);
}

static unsigned epoch_of_file(const char *tenant, const char *name)
{
	struct ks_key *k = ks_key_find(T.e, bw_str_make(tenant, strlen(tenant)),
				       bw_str_make(name, strlen(name)));
	assert_non_null(k);
	return k->mk_epoch;
}

static void test_master_rotation(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	char name[16];
	char *cts[40];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		create("t", name, KEYSTORE_KT_AES256_GCM);
		cts[i] = encrypt("t", name, "data", NULL);
	}
	assert_int_equal(simple(KEYSTORE_OP_ROTATE_MASTER, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_MK_EPOCH), 2);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_REWRAP_PENDING), 40);
	/* A second rotation waits for the first. */
	assert_int_equal(simple(KEYSTORE_OP_ROTATE_MASTER, NULL, NULL), KEYSTORE_E_ALREADY);
	/* Keys keep working during the re-wrap (no downtime). */
	assert_true(ks_engine_idle(T.e));
	assert_int_equal(decrypt("t", "k0", cts[0], NULL, "data"), KEYSTORE_OK);
	create("t", "fresh", KEYSTORE_KT_AES256_GCM);
	assert_int_equal(epoch_of_file("t", "fresh"), 2);
	/* Crash half-way: both generations are in the seal file, so every
	 * key loads, and the re-wrap resumes. */
	reopen(KEYSTORE_SEAL_AUTO);
	assert_false(ks_engine_sealed(T.e));
	assert_int_equal(T.e->load_failures, 0);
	assert_int_equal(T.e->nkeys, 41);
	assert_int_equal(ks_seal_rewrap_pending(T.e), 40 - KEYSTORE_REWRAP_PER_TURN);
	while (ks_engine_idle(T.e))
		;
	assert_int_equal(T.e->nmks, 1);
	assert_int_equal(ks_mk_active(T.e)->epoch, 2);
	assert_int_equal(simple(KEYSTORE_OP_STATUS, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(u32_of(0, KEYSTORE_TAG_REWRAP_PENDING), 0);
	/* Generation 1 is gone from disk: a fresh start needs only 2. */
	reopen(KEYSTORE_SEAL_AUTO);
	assert_int_equal(T.e->seal.nmk, 1);
	assert_int_equal(T.e->seal.mk[0].epoch, 2);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(epoch_of_file("t", name), 2);
		assert_int_equal(decrypt("t", name, cts[i], NULL, "data"), KEYSTORE_OK);
		free(cts[i]);
	}
}

static void test_tampered_key_file(void **state)
{
	(void)state;
	T.e = engine(KEYSTORE_SEAL_AUTO);
	create("t", "good", KEYSTORE_KT_AES256_GCM);
	create("t", "bad", KEYSTORE_KT_AES256_GCM);
	create("t", "renamed", KEYSTORE_KT_AES256_GCM);
	char path[512], path2[512];
	snprintf(path, sizeof(path), "%s/keystore/keys/t@bad.key", T.dir);
	size_t len;
	struct bw_err err;
	char *data = bw_file_read(path, 1 << 20, &len, &err);
	assert_non_null(data);
	/* The key material never appears in the file. */
	struct ks_key *k = ks_key_find(T.e, BW_STR("t"), BW_STR("bad"));
	assert_null(memmem(data, len, k->v[0].mat.p, k->v[0].mat.len));
	data[len / 2] ^= 1;
	assert_int_equal(bw_file_write_atomic(path, data, len, 0600, &err), 0);
	free(data);
	/* A file moved to another name is refused too. */
	snprintf(path, sizeof(path), "%s/keystore/keys/t@renamed.key", T.dir);
	snprintf(path2, sizeof(path2), "%s/keystore/keys/t@moved.key", T.dir);
	assert_int_equal(rename(path, path2), 0);
	/* Strays are ignored. */
	snprintf(path, sizeof(path), "%s/keystore/keys/notes.txt", T.dir);
	assert_int_equal(bw_file_write_atomic(path, "hi", 2, 0600, &err), 0);
	reopen(KEYSTORE_SEAL_AUTO);
	assert_int_equal(T.e->load_failures, 2);
	assert_int_equal(T.e->nkeys, 1);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "t", "good"), KEYSTORE_OK);
	assert_int_equal(simple(KEYSTORE_OP_KEY_GET, "t", "bad"), KEYSTORE_E_NOT_FOUND);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_auto_seal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shamir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passphrase_and_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_and_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_and_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_key_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
