/*
 * The adapters against a real key process (keystore_main forked on a
 * socketpair, seccomp on): a CA hierarchy created and used through
 * src/pki with its keys in the keystore (certificates checked with
 * X509_verify and `openssl verify`, the private keys searched for in the
 * SQLite files and not found), every CA key type signing through the
 * adapter, key-rotation pinning, hostile key ids; the iam sealer (round
 * trip, wrong aad, tampering, foreign tenant, wrong key type, sealed
 * keystore at start); the audit signer (signature checked by OpenSSL,
 * an audit log written and verified with the keystore's key); and
 * kms_wait_ready through sealed, unsealed, uninitialised and dead key
 * processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "iam/iam.h"
#include "keystore/keystore_int.h"
#include "kms/kms.h"
#include "pki/pki.h"
#include "store/store.h"

static char dir[256];

static void rm_rf(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static pid_t start_keystore(unsigned mode, int *fd)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sp[0]);
		struct keystore_options o = { .data_dir = dir, .unseal_mode = mode,
					      .log_level = BW_LOG_ERROR };
		keystore_main(sp[1], &o);
	}
	close(sp[1]);
	*fd = sp[0];
	return pid;
}

static struct kms_client *start(unsigned mode, pid_t *pid)
{
	int fd;
	struct bw_err err;
	*pid = start_keystore(mode, &fd);
	struct kms_client *c = kms_client_new(fd, &err);
	if (!c)
		fail_msg("kms_client_new: %s", err.msg);
	return c;
}

static void stop(struct kms_client *c, pid_t pid)
{
	kms_client_free(c); /* closes the socket: the key process exits 0 */
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bw-kms-adapt-%d", (int)getpid());
	rm_rf(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

/* A raw request: op on (tenant, key); returns the reply status. */
static unsigned simple_op(struct kms_client *c, unsigned op, const char *tenant,
			  const char *key)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	struct bw_err err;
	keystore_enc_init(&e, KEYSTORE_REQUEST, op, 0, 0);
	if (tenant)
		keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	if (key)
		keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	if (kms_call(c, &e, 0, &r, &err) < 0)
		fail_msg("kms_call: %s", err.msg);
	keystore_enc_fini(&e);
	unsigned st = r->status;
	kms_reply_free(r);
	return st;
}

static unsigned create_key(struct kms_client *c, const char *tenant,
			   const char *key, unsigned type)
{
	struct keystore_enc e;
	struct kms_reply *r = NULL;
	struct bw_err err;
	keystore_enc_init(&e, KEYSTORE_REQUEST, KEYSTORE_OP_KEY_CREATE, 0, 0);
	keystore_enc_str(&e, KEYSTORE_TAG_TENANT, tenant);
	keystore_enc_str(&e, KEYSTORE_TAG_KEY, key);
	keystore_enc_u32(&e, KEYSTORE_TAG_KEY_TYPE, type);
	if (kms_call(c, &e, 0, &r, &err) < 0)
		fail_msg("kms_call: %s", err.msg);
	keystore_enc_fini(&e);
	unsigned st = r->status;
	kms_reply_free(r);
	return st;
}

/* Reads a whole file (NULL when absent). */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
	assert_non_null(p);
	*len = fread(p, 1, (size_t)n, f);
	fclose(f);
	return p;
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle,
		     size_t m)
{
	if (m == 0 || m > n)
		return false;
	for (size_t i = 0; i + m <= n; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- pki */

/* The keystore key name in a pki key id "kms:NAME[:VERSION]". */
static const char *id_name(const char *key_id, char *buf, size_t cap)
{
	assert_memory_equal(key_id, "kms:", 4);
	size_t n = strcspn(key_id + 4, ":");
	assert_true(n < cap);
	memcpy(buf, key_id + 4, n);
	buf[n] = '\0';
	return buf;
}

static struct store *open_store(const char *path)
{
	struct bw_err err;
	struct store_options so = { .path = path,
				    .durability = STORE_DURABILITY_NORMAL };
	struct store *st = store_open(&so, &err);
	if (!st)
		fail_msg("store_open: %s", err.msg);
	return st;
}

static struct pki *open_pki(struct store *st, const struct pki_keystore *ks)
{
	struct bw_err err;
	struct pki_options o = { .store = st, .keys = ks,
				 .public_url = "http://pki.test:8080/" };
	struct pki *p = pki_new(&o, &err);
	if (!p)
		fail_msg("pki_new: %s", err.msg);
	return p;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void save_ca(struct pki *p, const char *tenant, const char *id,
		    const char *file)
{
	struct bw_buf b;
	struct bw_err err;
	char path[512];
	bw_buf_init(&b, 1 << 16);
	if (pki_ca_cert(p, tenant, id, PKI_PEM, false, &b, &err) < 0)
		fail_msg("pki_ca_cert: %s", err.msg);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	write_file(path, b.data, b.len);
	bw_buf_fini(&b);
}

static X509 *load_cert(const char *file)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* The private key of CA key key_id ("kms:NAME") of tenant, read from the
 * keystore's files by an in-process engine (the key process is stopped):
 * only a test can do this. OUT: the PKCS#8 DER and the raw private value
 * (EC scalar, Ed25519 seed, RSA d) as the needles to look for. */
struct needles {
	uint8_t *pkcs8;
	size_t pkcs8_len;
	uint8_t raw[1024];
	size_t raw_len;
};

static void key_needles(const char *tenant, const char *key_id,
			struct needles *n)
{
	struct ks_engine_conf conf = { .data_dir = dir,
				       .unseal_mode = KEYSTORE_SEAL_AUTO };
	struct bw_err err;
	struct ks_engine *e = ks_engine_new(&conf, &err);
	if (!e)
		fail_msg("engine: %s", err.msg);
	assert_false(ks_engine_sealed(e));
	char nb[KEYSTORE_NAME_MAX + 1];
	const char *name = id_name(key_id, nb, sizeof(nb));
	struct ks_key *k = ks_key_find(e, bw_str_make(tenant, strlen(tenant)),
				       bw_str_make(name, strlen(name)));
	assert_non_null(k);
	assert_false(k->exportable);
	EVP_PKEY *pk = ks_key_pkey(k, &k->v[k->nv - 1], &err);
	assert_non_null(pk);
	unsigned char *der = NULL;
	int dl = i2d_PrivateKey(pk, &der);
	assert_true(dl > 0);
	n->pkcs8 = malloc((size_t)dl);
	memcpy(n->pkcs8, der, (size_t)dl);
	n->pkcs8_len = (size_t)dl;
	OPENSSL_clear_free(der, (size_t)dl);
	n->raw_len = sizeof(n->raw);
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		assert_int_equal(EVP_PKEY_get_raw_private_key(pk, n->raw, &n->raw_len), 1);
	} else {
		BIGNUM *bn = NULL;
		const char *param = EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA ? "d" : "priv";
		assert_int_equal(EVP_PKEY_get_bn_param(pk, param, &bn), 1);
		int bl = BN_bn2bin(bn, n->raw);
		assert_true(bl > 16);
		n->raw_len = (size_t)bl;
		BN_clear_free(bn);
	}
	ks_engine_free(e);
}

/* No file of the SQLite database (main, -wal, -shm) holds the needles,
 * in binary or as hex. */
static void assert_not_in_db(const char *db, const struct needles *n)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char hex[2 * sizeof(n->raw) + 1];
	bw_hex_encode(n->raw, n->raw_len, hex);
	size_t files = 0;
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++) {
		char path[600];
		size_t len = 0;
		snprintf(path, sizeof(path), "%s%s", db, sfx[i]);
		uint8_t *p = slurp(path, &len);
		if (!p)
			continue;
		files++;
		assert_false(contains(p, len, n->pkcs8, n->pkcs8_len));
		assert_false(contains(p, len, n->raw, n->raw_len));
		assert_false(contains(p, len, (const uint8_t *)hex, strlen(hex)));
		free(p);
	}
	assert_true(files >= 1);
}

/* Positive control for the scan: the needles of a key the dev backend
 * keeps in the store ARE found, so the scan would notice a leak. */
static void dev_backend_leaks_control(void)
{
	char db[512];
	struct bw_err err;
	snprintf(db, sizeof(db), "%s/dev.db", dir);
	struct store *st = open_store(db);
	struct pki_keystore *ks = pki_keystore_dev_new(st, &err);
	assert_non_null(ks);
	char id[PKI_KEY_ID_MAX];
	assert_int_equal(ks->generate(ks->ctx, "t1", PKI_KEY_EC_P256, id, &err), 0);
	store_close(st);
	pki_keystore_free(ks);
	size_t len = 0;
	uint8_t *p = slurp(db, &len);
	size_t wl = 0;
	char wal[600];
	snprintf(wal, sizeof(wal), "%s-wal", db);
	uint8_t *w = slurp(wal, &wl);
	/* the PKCS#8 header of an EC key (SEQUENCE, INTEGER 0, ...) with
	 * the P-256 OID is there in clear */
	static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
					    0xce, 0x3d, 0x03, 0x01, 0x07 };
	assert_true(contains(p, len, oid_p256, sizeof(oid_p256)) ||
		    (w && contains(w, wl, oid_p256, sizeof(oid_p256))));
	free(p);
	free(w);
}

static int run_cmd(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_pki_ca_in_keystore(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	assert_int_equal(kms_wait_ready(c, 10000, &err), 0);
	char db[512];
	snprintf(db, sizeof(db), "%s/pki.db", dir);
	struct store *st = open_store(db);
	struct pki_keystore *ks = kms_pki_keystore_new(c, &err);
	assert_non_null(ks);
	struct pki *p = open_pki(st, ks);

	struct pki_ca_info root, inter, edca;
	struct pki_ca_spec rs = { .tenant = "t1", .name = "root",
				  .subject = "CN=KMS Root CA,O=bulwark tests",
				  .key_type = PKI_KEY_RSA_2048, .path_len = 1 };
	if (pki_ca_create(p, &rs, &root, &err) < 0)
		fail_msg("root: %s", err.msg);
	struct pki_ca_spec is = { .tenant = "t1", .name = "issuing",
				  .subject = "CN=KMS Issuing CA",
				  .key_type = PKI_KEY_EC_P384,
				  .parent_id = root.id, .path_len = -1 };
	if (pki_ca_create(p, &is, &inter, &err) < 0)
		fail_msg("intermediate: %s", err.msg);
	struct pki_ca_spec es = { .tenant = "t1", .name = "ed",
				  .subject = "CN=KMS Ed25519 CA",
				  .key_type = PKI_KEY_ED25519, .path_len = -1 };
	if (pki_ca_create(p, &es, &edca, &err) < 0)
		fail_msg("ed25519 root: %s", err.msg);
	assert_memory_equal(root.key_id, "kms:_pki-ca-", 12);
	assert_memory_equal(inter.key_id, "kms:_pki-ca-", 12);
	assert_string_not_equal(root.key_id, inter.key_id);

	static const char policy[] =
		"{\"dns\":[\"*.example.com\"],\"key_types\":[\"ec-p256\"],"
		"\"max_validity_s\":2592000}";
	assert_int_equal(pki_policy_set(p, "t1", policy, sizeof(policy) - 1, &err), 0);
	const char *dns[] = { "www.example.com" };
	struct pki_issue_req rq = { .tenant = "t1", .ca_id = inter.id,
				    .profile = PKI_PROFILE_TLS_SERVER,
				    .gen_key = PKI_KEY_EC_P256, .dns = dns,
				    .ndns = 1 };
	struct pki_issued leaf = { 0 };
	if (pki_issue(p, &rq, &leaf, &err) < 0)
		fail_msg("issue: %s", err.msg);
	struct pki_issued edleaf = { 0 };
	rq.ca_id = edca.id;
	if (pki_issue(p, &rq, &edleaf, &err) < 0)
		fail_msg("issue (ed25519 CA): %s", err.msg);

	/* OpenSSL checks every signature the keystore made. */
	save_ca(p, "t1", root.id, "root.pem");
	save_ca(p, "t1", inter.id, "inter.pem");
	save_ca(p, "t1", edca.id, "ed.pem");
	const unsigned char *q = leaf.der;
	X509 *lx = d2i_X509(NULL, &q, (long)leaf.der_len);
	assert_non_null(lx);
	X509 *rx = load_cert("root.pem"), *ix = load_cert("inter.pem"),
	     *ex = load_cert("ed.pem");
	assert_int_equal(X509_verify(rx, X509_get0_pubkey(rx)), 1);
	assert_int_equal(X509_verify(ix, X509_get0_pubkey(rx)), 1);
	assert_int_equal(X509_verify(lx, X509_get0_pubkey(ix)), 1);
	assert_int_not_equal(X509_verify(lx, X509_get0_pubkey(rx)), 1);
	assert_int_equal(X509_verify(ex, X509_get0_pubkey(ex)), 1);
	ERR_clear_error();
	char path[600], cmd[2048];
	snprintf(path, sizeof(path), "%s/leaf.pem", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, lx);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -CAfile %s/root.pem -untrusted %s/inter.pem "
		 "%s/leaf.pem >/dev/null 2>&1", dir, dir, dir);
	assert_int_equal(run_cmd(cmd), 0);
	/* and refuses the chain without the intermediate */
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -CAfile %s/root.pem %s/leaf.pem >/dev/null 2>&1",
		 dir, dir);
	assert_int_not_equal(run_cmd(cmd), 0);
	q = edleaf.der;
	X509 *elx = d2i_X509(NULL, &q, (long)edleaf.der_len);
	assert_non_null(elx);
	snprintf(path, sizeof(path), "%s/edleaf.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, elx);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -CAfile %s/ed.pem %s/edleaf.pem >/dev/null 2>&1",
		 dir, dir);
	assert_int_equal(run_cmd(cmd), 0);

	/* A restart of the CA reopens its signers through the keystore. */
	pki_free(p);
	p = open_pki(st, ks);
	struct pki_issued leaf2 = { 0 };
	rq.ca_id = inter.id;
	if (pki_issue(p, &rq, &leaf2, &err) < 0)
		fail_msg("issue after restart: %s", err.msg);
	q = leaf2.der;
	X509 *lx2 = d2i_X509(NULL, &q, (long)leaf2.der_len);
	assert_non_null(lx2);
	assert_int_equal(X509_verify(lx2, X509_get0_pubkey(ix)), 1);

	X509_free(lx);
	X509_free(lx2);
	X509_free(elx);
	X509_free(rx);
	X509_free(ix);
	X509_free(ex);
	pki_issued_fini(&leaf);
	pki_issued_fini(&leaf2);
	pki_issued_fini(&edleaf);
	pki_free(p);
	pki_keystore_free(ks);
	store_close(st);
	stop(c, pid);

	/* The CA keys are nowhere in the store's files. */
	const char *ids[] = { root.key_id, inter.key_id, edca.key_id };
	for (size_t i = 0; i < BW_ARRAY_LEN(ids); i++) {
		struct needles n = { 0 };
		key_needles("t1", ids[i], &n);
		assert_not_in_db(db, &n);
		free(n.pkcs8);
	}
	dev_backend_leaks_control();
}

/* Every CA key type: generate, open, sign a message as pki would, verify
 * with OpenSSL against signer->pub. */
static void test_pki_key_types(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	struct pki_keystore *ks = kms_pki_keystore_new(c, &err);
	assert_non_null(ks);
	static const struct {
		enum pki_key_type t;
		enum pki_md md;
		int base;
	} types[] = {
		{ PKI_KEY_EC_P256, PKI_MD_SHA256, EVP_PKEY_EC },
		{ PKI_KEY_EC_P384, PKI_MD_SHA384, EVP_PKEY_EC },
		{ PKI_KEY_ED25519, PKI_MD_NONE, EVP_PKEY_ED25519 },
		{ PKI_KEY_RSA_2048, PKI_MD_SHA256, EVP_PKEY_RSA },
		{ PKI_KEY_RSA_3072, PKI_MD_SHA256, EVP_PKEY_RSA },
		{ PKI_KEY_RSA_4096, PKI_MD_SHA512, EVP_PKEY_RSA },
	};
	uint8_t msg[3000];
	bw_random(msg, sizeof(msg));
	for (size_t i = 0; i < BW_ARRAY_LEN(types); i++) {
		char id[PKI_KEY_ID_MAX];
		if (ks->generate(ks->ctx, "tenant-a", types[i].t, id, &err) < 0)
			fail_msg("generate %s: %s", pki_key_type_name(types[i].t), err.msg);
		struct pki_signer *s = ks->open(ks->ctx, "tenant-a", id, &err);
		if (!s)
			fail_msg("open %s: %s", id, err.msg);
		assert_int_equal(s->type, types[i].t);
		assert_false(s->trusted_output);
		assert_string_equal(s->key_id, id);
		assert_int_equal(EVP_PKEY_get_base_id(s->pub), types[i].base);
		uint8_t sig[PKI_SIG_MAX];
		size_t sl = 0;
		if (s->sign(s->ctx, types[i].md, msg, sizeof(msg), sig, sizeof(sig),
			    &sl, &err) < 0)
			fail_msg("sign %s: %s", id, err.msg);
		const EVP_MD *md = types[i].md == PKI_MD_SHA256 ? EVP_sha256() :
				   types[i].md == PKI_MD_SHA384 ? EVP_sha384() :
				   types[i].md == PKI_MD_SHA512 ? EVP_sha512() : NULL;
		EVP_MD_CTX *v = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestVerifyInit(v, NULL, md, NULL, s->pub), 1);
		assert_int_equal(EVP_DigestVerify(v, sig, sl, msg, sizeof(msg)), 1);
		/* and not another message */
		msg[0] ^= 1;
		EVP_MD_CTX_reset(v);
		assert_int_equal(EVP_DigestVerifyInit(v, NULL, md, NULL, s->pub), 1);
		assert_int_not_equal(EVP_DigestVerify(v, sig, sl, msg, sizeof(msg)), 1);
		msg[0] ^= 1;
		EVP_MD_CTX_free(v);
		ERR_clear_error();
		/* RSA signatures are PKCS#1 v1.5: deterministic. */
		if (types[i].base == EVP_PKEY_RSA) {
			uint8_t sig2[PKI_SIG_MAX];
			size_t sl2 = 0;
			assert_int_equal(s->sign(s->ctx, types[i].md, msg, sizeof(msg),
						 sig2, sizeof(sig2), &sl2, &err), 0);
			assert_int_equal(sl, sl2);
			assert_memory_equal(sig, sig2, sl);
		}
		/* a wrong digest choice is refused, not guessed */
		enum pki_md wrong = types[i].md == PKI_MD_NONE ? PKI_MD_SHA256 : PKI_MD_NONE;
		assert_int_equal(s->sign(s->ctx, wrong, msg, sizeof(msg), sig,
					 sizeof(sig), &sl, &err), -1);
		assert_int_equal(err.code, 400);
		/* the key is in the tenant's partition only */
		assert_null(ks->open(ks->ctx, "tenant-b", id, &err));
		assert_int_equal(err.code, 404);
		pki_signer_free(s);
	}
	/* An Ed25519 message over the protocol's data limit: 413. */
	char id[PKI_KEY_ID_MAX];
	assert_int_equal(ks->generate(ks->ctx, "tenant-a", PKI_KEY_ED25519, id, &err), 0);
	struct pki_signer *s = ks->open(ks->ctx, "tenant-a", id, &err);
	assert_non_null(s);
	size_t big = KEYSTORE_DATA_MAX + 1;
	uint8_t *huge = calloc(1, big);
	uint8_t sig[PKI_SIG_MAX];
	size_t sl;
	assert_int_equal(s->sign(s->ctx, PKI_MD_NONE, huge, big, sig, sizeof(sig),
				 &sl, &err), -1);
	assert_int_equal(err.code, 413);
	/* RSA/ECDSA prehash, so a large TBS (a big CRL) is fine */
	char rid[PKI_KEY_ID_MAX];
	assert_int_equal(ks->generate(ks->ctx, "tenant-a", PKI_KEY_EC_P256, rid, &err), 0);
	struct pki_signer *rs = ks->open(ks->ctx, "tenant-a", rid, &err);
	assert_non_null(rs);
	assert_int_equal(rs->sign(rs->ctx, PKI_MD_SHA256, huge, big, sig, sizeof(sig),
				  &sl, &err), 0);
	pki_signer_free(rs);
	free(huge);

	/* Rotation behind the signer's back: refused, not mis-signed. */
	char nb[KEYSTORE_NAME_MAX + 1];
	assert_int_equal(id[strlen(id) - 2], ':');
	assert_int_equal(id[strlen(id) - 1], '1');
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_ROTATE, "tenant-a",
				   id_name(id, nb, sizeof(nb))),
			 KEYSTORE_OK);
	assert_int_equal(s->sign(s->ctx, PKI_MD_NONE, (const uint8_t *)"x", 1, sig,
				 sizeof(sig), &sl, &err), -1);
	assert_int_equal(err.code, 409);
	assert_string_equal(err.reason, "key_rotated");
	/* reopened by its id, the signer still has version 1's public key
	 * (what the CA certificate carries) and still refuses */
	struct pki_signer *again = ks->open(ks->ctx, "tenant-a", id, &err);
	assert_non_null(again);
	assert_int_equal(EVP_PKEY_eq(again->pub, s->pub), 1);
	assert_int_equal(again->sign(again->ctx, PKI_MD_NONE, (const uint8_t *)"x", 1,
				     sig, sizeof(sig), &sl, &err), -1);
	assert_string_equal(err.reason, "key_rotated");
	pki_signer_free(again);
	/* by name alone it is the newest version, which signs */
	char newest[PKI_KEY_ID_MAX];
	snprintf(newest, sizeof(newest), "kms:%s", nb);
	again = ks->open(ks->ctx, "tenant-a", newest, &err);
	assert_non_null(again);
	assert_int_not_equal(EVP_PKEY_eq(again->pub, s->pub), 1);
	assert_int_equal(again->sign(again->ctx, PKI_MD_NONE, (const uint8_t *)"x", 1,
				     sig, sizeof(sig), &sl, &err), 0);
	pki_signer_free(again);
	/* version 2 explicitly, and a version that does not exist */
	snprintf(newest, sizeof(newest), "kms:%s:2", nb);
	again = ks->open(ks->ctx, "tenant-a", newest, &err);
	assert_non_null(again);
	pki_signer_free(again);
	snprintf(newest, sizeof(newest), "kms:%s:3", nb);
	assert_null(ks->open(ks->ctx, "tenant-a", newest, &err));
	assert_int_equal(err.code, 409);
	pki_signer_free(s);
	ERR_clear_error();

	/* Suspended key: the keystore's refusal comes through. */
	assert_int_equal(ks->generate(ks->ctx, "tenant-a", PKI_KEY_EC_P256, id, &err), 0);
	s = ks->open(ks->ctx, "tenant-a", id, &err);
	assert_non_null(s);
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_SUSPEND, "tenant-a",
				   id_name(id, nb, sizeof(nb))),
			 KEYSTORE_OK);
	assert_int_equal(s->sign(s->ctx, PKI_MD_SHA256, (const uint8_t *)"x", 1, sig,
				 sizeof(sig), &sl, &err), -1);
	assert_int_equal(err.code, 409);
	pki_signer_free(s);

	/* Hostile or foreign key ids and tenants. */
	static const char *const bad_ids[] = {
		"dev:0123456789abcdef0123456789abcdef", "kms:", "kms:__import",
		"kms:../../etc/passwd", "kms:a b", "kms:nosuchkey",
		"KMS:_pki-ca-00", "", "kms:aes:0", "kms:aes:", "kms:aes:01",
		"kms:aes:99999", "kms:aes:1:2", "kms::1", "kms:aes:-1",
		"kms:aes:+1", "kms:aes:1 ",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_ids); i++) {
		assert_null(ks->open(ks->ctx, "tenant-a", bad_ids[i], &err));
		assert_true(err.code == 400 || err.code == 404);
	}
	/* a key that exists but does not sign */
	assert_int_equal(create_key(c, "tenant-a", "aes", KEYSTORE_KT_AES256_GCM),
			 KEYSTORE_OK);
	assert_null(ks->open(ks->ctx, "tenant-a", "kms:aes", &err));
	assert_int_equal(err.code, 403);
	assert_null(ks->open(ks->ctx, "tenant/../x", "kms:aes", &err));
	assert_int_equal(err.code, 400);
	assert_int_equal(ks->generate(ks->ctx, "bad tenant", PKI_KEY_EC_P256, id, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(ks->generate(ks->ctx, "t", PKI_KEY_NONE, id, &err), -1);
	assert_int_equal(err.code, 400);

	pki_keystore_free(ks);
	stop(c, pid);
}

/* One signer, many pool threads at once (as pki uses it): every
 * signature verifies; also a rough rate for the report. */
struct signer_arg {
	struct pki_signer *s;
	enum pki_md md;
	int n, ok;
};

static void *sign_many(void *p)
{
	struct signer_arg *a = p;
	const EVP_MD *md = a->md == PKI_MD_SHA256 ? EVP_sha256() : NULL;
	for (int i = 0; i < a->n; i++) {
		uint8_t msg[256], sig[PKI_SIG_MAX];
		size_t sl = 0;
		struct bw_err err;
		bw_random(msg, sizeof(msg));
		if (a->s->sign(a->s->ctx, a->md, msg, sizeof(msg), sig, sizeof(sig),
			       &sl, &err) < 0)
			continue;
		EVP_MD_CTX *v = EVP_MD_CTX_new();
		if (EVP_DigestVerifyInit(v, NULL, md, NULL, a->s->pub) == 1 &&
		    EVP_DigestVerify(v, sig, sl, msg, sizeof(msg)) == 1)
			a->ok++;
		EVP_MD_CTX_free(v);
	}
	return NULL;
}

static void test_concurrent_signing(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	struct pki_keystore *ks = kms_pki_keystore_new(c, &err);
	assert_non_null(ks);
	static const struct {
		enum pki_key_type t;
		enum pki_md md;
		int n;
	} types[] = { { PKI_KEY_EC_P256, PKI_MD_SHA256, 200 },
		      { PKI_KEY_ED25519, PKI_MD_NONE, 200 },
		      { PKI_KEY_RSA_2048, PKI_MD_SHA256, 50 } };
	for (size_t k = 0; k < BW_ARRAY_LEN(types); k++) {
		char id[PKI_KEY_ID_MAX];
		assert_int_equal(ks->generate(ks->ctx, "t1", types[k].t, id, &err), 0);
		struct pki_signer *s = ks->open(ks->ctx, "t1", id, &err);
		assert_non_null(s);
		enum { NT = 8 };
		pthread_t th[NT];
		struct signer_arg a[NT];
		int64_t t0 = bw_clock_mono_ns();
		for (int i = 0; i < NT; i++) {
			a[i] = (struct signer_arg){ s, types[k].md, types[k].n, 0 };
			assert_int_equal(pthread_create(&th[i], NULL, sign_many, &a[i]), 0);
		}
		int ok = 0;
		for (int i = 0; i < NT; i++) {
			pthread_join(th[i], NULL);
			ok += a[i].ok;
		}
		double secs = (double)(bw_clock_mono_ns() - t0) / 1e9;
		assert_int_equal(ok, NT * types[k].n);
		fprintf(stderr, "# %s: %d signatures by %d threads through the "
			"adapter in %.2f s (%.0f/s, each verified)\n",
			pki_key_type_name(types[k].t), ok, NT, secs, ok / secs);
		pki_signer_free(s);
	}
	pki_keystore_free(ks);

	/* sealer round trips, single thread */
	struct iam_sealer sl;
	assert_int_equal(kms_iam_sealer(c, "platform", "_iam-seal", &sl, &err), 0);
	struct bw_buf ct, pt;
	bw_buf_init(&ct, 4096);
	bw_buf_init(&pt, 4096);
	int64_t t0 = bw_clock_mono_ns();
	for (int i = 0; i < 500; i++) {
		bw_buf_reset(&ct);
		bw_buf_reset(&pt);
		assert_int_equal(sl.seal(sl.ctx, (const uint8_t *)"0123456789abcdef0123",
					 20, "t/u/totp", &ct, &err), 0);
		assert_int_equal(sl.open(sl.ctx, (const uint8_t *)ct.data, ct.len,
					 "t/u/totp", &pt, &err), 0);
		assert_int_equal(pt.len, 20);
	}
	double secs = (double)(bw_clock_mono_ns() - t0) / 1e9;
	fprintf(stderr, "# sealer: 500 seal+open pairs in %.2f s (%.0f pairs/s)\n",
		secs, 500 / secs);
	bw_buf_wipe_fini(&pt);
	bw_buf_fini(&ct);
	sl.free(sl.ctx);
	stop(c, pid);
}

/* ---------------------------------------------------------------- iam */

static void test_iam_sealer(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	struct iam_sealer s, other;
	assert_int_equal(kms_iam_sealer(c, "platform", "_iam-seal", &s, &err), 0);
	assert_int_equal(kms_iam_sealer(c, "tenant-b", "_iam-seal", &other, &err), 0);
	/* created at construction, AES-256-GCM */
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_GET, "platform", "_iam-seal"),
			 KEYSTORE_OK);

	static const uint8_t seed[20] = "12345678901234567890";
	struct bw_buf ct, pt;
	bw_buf_init(&ct, 4096);
	bw_buf_init(&pt, 4096);
	assert_int_equal(s.seal(s.ctx, seed, sizeof(seed), "t1/u1/totp", &ct, &err), 0);
	assert_memory_equal(ct.data, "bwk1:", 5);
	assert_false(contains((const uint8_t *)ct.data, ct.len, seed, sizeof(seed)));
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len,
				"t1/u1/totp", &pt, &err), 0);
	assert_int_equal(pt.len, sizeof(seed));
	assert_memory_equal(pt.data, seed, sizeof(seed));
	/* appends: a second open adds after the first */
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len,
				"t1/u1/totp", &pt, &err), 0);
	assert_int_equal(pt.len, 2 * sizeof(seed));
	bw_buf_reset(&pt);

	/* fresh nonce per seal */
	struct bw_buf ct2;
	bw_buf_init(&ct2, 4096);
	assert_int_equal(s.seal(s.ctx, seed, sizeof(seed), "t1/u1/totp", &ct2, &err), 0);
	assert_true(ct.len != ct2.len || memcmp(ct.data, ct2.data, ct.len) != 0);

	/* wrong aad: another row's context */
	static const char *const wrong_aad[] = { "t1/u2/totp", "t2/u1/totp",
						 "t1/u1/totq", "", "t1/u1/totp " };
	for (size_t i = 0; i < BW_ARRAY_LEN(wrong_aad); i++) {
		assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len,
					wrong_aad[i], &pt, &err), -1);
		assert_int_equal(err.code, 400);
		assert_string_equal(err.reason, "bad_tag");
		assert_int_equal(pt.len, 0);
	}
	/* tampering: every character position changed (to a still-valid
	 * base64url character, so it reaches the AEAD), and truncations */
	char *t = malloc(ct.len);
	for (size_t i = 0; i < ct.len; i++) {
		memcpy(t, ct.data, ct.len);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_equal(s.open(s.ctx, (const uint8_t *)t, ct.len,
					"t1/u1/totp", &pt, &err), -1);
		assert_int_equal(err.code, 400);
		assert_string_equal(err.reason, "bad_tag");
		assert_int_equal(pt.len, 0);
	}
	for (size_t n = 0; n < ct.len; n += 7) {
		assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, n,
					"t1/u1/totp", &pt, &err), -1);
		assert_int_equal(err.code, 400);
	}
	free(t);
	/* hostile bytes: NUL, control characters, non-ASCII, huge */
	static const char hostile[][24] = { "bwk1:\0AAAA", "bwk1:\nAAAA",
					    "bwk1:\xff\xfe", "plain secret",
					    "bwk2:AAAAAAAAAAAAAAAAAA" };
	for (size_t i = 0; i < BW_ARRAY_LEN(hostile); i++) {
		assert_int_equal(s.open(s.ctx, (const uint8_t *)hostile[i], 12,
					"t1/u1/totp", &pt, &err), -1);
		assert_int_equal(err.code, 400);
	}
	size_t hn = KEYSTORE_CTEXT_MAX + 1;
	char *h = malloc(hn);
	memset(h, 'A', hn);
	memcpy(h, "bwk1:", 5);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)h, hn, "t1/u1/totp", &pt,
				&err), -1);
	assert_int_equal(err.code, 400);
	free(h);
	/* another tenant's sealer (same key name, other partition) cannot
	 * open it */
	assert_int_equal(other.open(other.ctx, (const uint8_t *)ct.data, ct.len,
				    "t1/u1/totp", &pt, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(pt.len, 0);
	/* nor a sealer over another key of the same tenant */
	struct iam_sealer s2;
	assert_int_equal(kms_iam_sealer(c, "platform", "_iam-seal-2", &s2, &err), 0);
	assert_int_equal(s2.open(s2.ctx, (const uint8_t *)ct.data, ct.len,
				 "t1/u1/totp", &pt, &err), -1);
	assert_int_equal(err.code, 400);
	s2.free(s2.ctx);

	/* empty secret round trip; oversized secret refused */
	bw_buf_reset(&ct2);
	assert_int_equal(s.seal(s.ctx, (const uint8_t *)"", 0, "a/b/c", &ct2, &err), 0);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct2.data, ct2.len, "a/b/c",
				&pt, &err), 0);
	assert_int_equal(pt.len, 0);
	uint8_t *large = calloc(1, KEYSTORE_DATA_MAX + 1);
	assert_int_equal(s.seal(s.ctx, large, KEYSTORE_DATA_MAX + 1, "a/b/c", &ct2,
				&err), -1);
	assert_int_equal(err.code, 413);
	free(large);

	/* bad names, wrong key type */
	struct iam_sealer bad;
	assert_int_equal(kms_iam_sealer(c, "platform", "__import", &bad, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(kms_iam_sealer(c, "plat form", "k", &bad, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(kms_iam_sealer(c, "platform", "", &bad, &err), -1);
	assert_int_equal(create_key(c, "platform", "hmac", KEYSTORE_KT_HMAC_SHA256),
			 KEYSTORE_OK);
	assert_int_equal(kms_iam_sealer(c, "platform", "hmac", &bad, &err), -1);
	assert_int_equal(err.code, 409);
	assert_string_equal(err.reason, "key_type");

	/* The keystore seals: seal/open answer 503; a sealer built while
	 * sealed creates its key at the first seal after unsealing. */
	assert_int_equal(simple_op(c, KEYSTORE_OP_SEAL, NULL, NULL), KEYSTORE_OK);
	bw_buf_reset(&pt);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len,
				"t1/u1/totp", &pt, &err), -1);
	assert_int_equal(err.code, 503);
	struct iam_sealer late;
	assert_int_equal(kms_iam_sealer(c, "platform", "_iam-late", &late, &err), 0);
	bw_buf_reset(&ct2);
	assert_int_equal(late.seal(late.ctx, seed, 4, "x", &ct2, &err), -1);
	assert_int_equal(err.code, 503);
	assert_int_equal(simple_op(c, KEYSTORE_OP_UNSEAL, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(late.seal(late.ctx, seed, 4, "x", &ct2, &err), 0);
	bw_buf_reset(&pt);
	assert_int_equal(late.open(late.ctx, (const uint8_t *)ct2.data, ct2.len,
				   "x", &pt, &err), 0);
	assert_memory_equal(pt.data, seed, 4);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)ct.data, ct.len,
				"t1/u1/totp", &pt, &err), 0);
	late.free(late.ctx);

	bw_buf_wipe_fini(&pt);
	bw_buf_fini(&ct);
	bw_buf_fini(&ct2);
	s.free(s.ctx);
	other.free(other.ctx);
	stop(c, pid);
}

static size_t b32_decode(const char *str, uint8_t *out, size_t cap)
{
	static const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint32_t buf = 0;
	int bits = 0;
	size_t o = 0;
	for (; *str && *str != '='; str++) {
		const char *q = strchr(a, *str);
		assert_non_null(q);
		buf = (buf << 5) | (uint32_t)(q - a);
		bits += 5;
		if (bits >= 8) {
			assert_true(o < cap);
			out[o++] = (uint8_t)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	return o;
}

/* The identity core with the kms sealer: TOTP enrolment works end to end
 * (the seed is sealed by the key process and opened again to check
 * codes), and the seed is in no file of the SQLite database in any
 * encoding (raw, hex, base32, base64). Without the key process, MFA
 * answers 503 instead of guessing. */
static void test_iam_totp_secret_at_rest(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	char db[512];
	snprintf(db, sizeof(db), "%s/state.db", dir);
	struct store *st = open_store(db);
	struct iam_options o = { .store = st };
	assert_int_equal(kms_iam_sealer(c, "platform", "_iam-seal", &o.sealer, &err), 0);
	struct iam *iam = iam_new(&o, &err);
	if (!iam)
		fail_msg("iam_new: %s", err.msg);
	if (iam_tenant_create(iam, "acme", NULL, NULL, NULL, &err) < 0)
		fail_msg("tenant: %s", err.msg);
	struct iam_user u;
	struct iam_user_spec spec = { .name = "ivy@example.com" };
	if (iam_user_create(iam, "acme", &spec, &u, &err) < 0)
		fail_msg("user: %s", err.msg);
	struct iam_totp_enrolment e;
	if (iam_totp_begin(iam, "acme", u.id, "bulwark test", IAM_TOTP_SHA1, 6,
			   &e, &err) < 0)
		fail_msg("totp_begin: %s", err.msg);
	uint8_t sec[64];
	size_t n = b32_decode(e.secret_b32, sec, sizeof(sec));
	assert_true(n >= 16);
	char code[16];
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6,
				  (uint64_t)(bw_clock_now_s() / 30), code), 0);
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	if (iam_totp_confirm(iam, "acme", u.id, code, codes, &err) < 0)
		fail_msg("totp_confirm: %s (%s)", err.msg, err.reason);
	/* a wrong code is a wrong code, not a sealing error */
	assert_int_equal(iam_totp_verify(iam, "acme", u.id, "000000", &err), -1);
	assert_int_equal(err.code, 400);

	/* Every encoding of the seed, searched in every database file. */
	char hex[2 * sizeof(sec) + 1], lhex[2 * sizeof(sec) + 1], b64[128];
	bw_hex_encode(sec, n, hex);
	for (size_t k = 0; k <= strlen(hex); k++)
		lhex[k] = (char)(hex[k] >= 'A' && hex[k] <= 'F' ? hex[k] + 32 : hex[k]);
	EVP_EncodeBlock((unsigned char *)b64, sec, (int)n);
	char b64nopad[128];
	snprintf(b64nopad, sizeof(b64nopad), "%.*s", (int)strcspn(b64, "="), b64);
	char b32[128];
	snprintf(b32, sizeof(b32), "%.*s", (int)strcspn(e.secret_b32, "="),
		 e.secret_b32);
	const struct { const void *p; size_t n; } forms[] = {
		{ sec, n }, { hex, strlen(hex) }, { lhex, strlen(lhex) },
		{ b64nopad, strlen(b64nopad) }, { b32, strlen(b32) },
	};
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t files = 0;
	bool sealed_seen = false;
	for (size_t i = 0; i < BW_ARRAY_LEN(sfx); i++) {
		char path[600];
		size_t len = 0;
		snprintf(path, sizeof(path), "%s%s", db, sfx[i]);
		uint8_t *p = slurp(path, &len);
		if (!p)
			continue;
		files++;
		for (size_t f = 0; f < BW_ARRAY_LEN(forms); f++)
			assert_false(contains(p, len, forms[f].p, forms[f].n));
		sealed_seen |= contains(p, len, (const uint8_t *)"bwk1:", 5);
		free(p);
	}
	assert_true(files >= 1);
	/* positive control: the scan does see the sealed value */
	assert_true(sealed_seen);

	/* The key process goes away: MFA checks fail closed with 503. */
	kill(pid, SIGKILL);
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	for (int i = 0; i < 200 && kms_client_alive(c); i++) {
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6,
				  (uint64_t)(bw_clock_now_s() / 30 + 1), code), 0);
	assert_int_equal(iam_totp_verify(iam, "acme", u.id, code, &err), -1);
	assert_int_equal(err.code, 503);
	bw_wipe(sec, sizeof(sec));
	iam_free(iam); /* frees the sealer */
	store_close(st);
	kms_client_free(c);
}

/* ---------------------------------------------------------------- audit */

static void test_audit_signer(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	struct audit_signer s;
	assert_int_equal(kms_audit_signer(c, "_audit-sth", &s, &err), 0);
	static const uint8_t msg[] = "tree head: size 42, root ...";
	uint8_t sig[AUDIT_SIG_LEN];
	assert_int_equal(s.sign(s.ctx, msg, sizeof(msg), sig, &err), 0);
	EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						    s.pubkey, AUDIT_PUBKEY_LEN);
	assert_non_null(pub);
	EVP_MD_CTX *v = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(v, NULL, NULL, NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(v, sig, sizeof(sig), msg, sizeof(msg)), 1);
	EVP_MD_CTX_reset(v);
	assert_int_equal(EVP_DigestVerifyInit(v, NULL, NULL, NULL, pub), 1);
	assert_int_not_equal(EVP_DigestVerify(v, sig, sizeof(sig), msg, sizeof(msg) - 1), 1);
	EVP_MD_CTX_free(v);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	/* the key is in the platform partition, not exportable */
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_GET, "platform", "_audit-sth"),
			 KEYSTORE_OK);
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_EXPORT, "platform", "_audit-sth"),
			 KEYSTORE_E_DENIED);

	/* a second signer over the same name gets the same key */
	struct audit_signer s2;
	assert_int_equal(kms_audit_signer(c, "_audit-sth", &s2, &err), 0);
	assert_memory_equal(s.pubkey, s2.pubkey, AUDIT_PUBKEY_LEN);
	kms_audit_signer_fini(&s2);
	assert_null(s2.ctx);
	kms_audit_signer_fini(&s2); /* twice is harmless */

	/* An audit log signed through the keystore verifies offline with
	 * the keystore's public key. */
	char adir[512];
	snprintf(adir, sizeof(adir), "%s/audit", dir);
	assert_int_equal(mkdir(adir, 0700), 0);
	struct audit_config cfg;
	audit_config_defaults(&cfg);
	cfg.dir = adir;
	cfg.signer = &s;
	struct audit_log *log = audit_log_open(&cfg, &err);
	if (!log)
		fail_msg("audit_log_open: %s", err.msg);
	for (int i = 0; i < 5; i++) {
		struct audit_record rec = {
			.actor = { .tenant = BW_STR("platform"),
				   .kind = AUDIT_ACTOR_SYSTEM, .id = BW_STR("test") },
			.action = BW_STR("kms.test"), .target = BW_STR("kms:x"),
			.outcome = AUDIT_OUTCOME_SUCCESS,
		};
		assert_int_equal(audit_append(log, &rec, NULL, &err), 0);
	}
	assert_int_equal(audit_log_close(log, &err), 0);
	char lpath[600];
	snprintf(lpath, sizeof(lpath), "%s/audit.log", adir);
	struct audit_verify_opts vo = { .pubkey = s.pubkey,
					.require_signed_tail = true };
	struct audit_verify_result res;
	if (audit_verify_file(lpath, &vo, &res, &err) < 0)
		fail_msg("verify: %s", res.what);
	assert_int_equal(res.records, 5);
	assert_true(res.sths >= 1);

	/* Rotated behind the log's back: signing refuses (409), so the log
	 * never writes an STH that does not verify under its pinned key. */
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_ROTATE, "platform", "_audit-sth"),
			 KEYSTORE_OK);
	assert_int_equal(s.sign(s.ctx, msg, sizeof(msg), sig, &err), -1);
	assert_int_equal(err.code, 409);

	/* wrong type under that name; bad names; sealed */
	assert_int_equal(create_key(c, "platform", "notsigning", KEYSTORE_KT_AES256_GCM),
			 KEYSTORE_OK);
	assert_int_equal(kms_audit_signer(c, "notsigning", &s2, &err), -1);
	assert_int_equal(err.code, 409);
	assert_null(s2.ctx);
	assert_int_equal(create_key(c, "platform", "p256", KEYSTORE_KT_ECDSA_P256),
			 KEYSTORE_OK);
	assert_int_equal(kms_audit_signer(c, "p256", &s2, &err), -1);
	assert_int_equal(err.code, 409);
	assert_int_equal(kms_audit_signer(c, "bad/name", &s2, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(simple_op(c, KEYSTORE_OP_SEAL, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(kms_audit_signer(c, "_audit-other", &s2, &err), -1);
	assert_int_equal(err.code, 503);

	kms_audit_signer_fini(&s);
	stop(c, pid);
}

/* Values sealed by the in-process stopgap still open after the switch;
 * new values are keystore ciphertexts. */
static void test_iam_sealer_legacy(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	uint8_t key[32];
	bw_random(key, sizeof(key));
	struct iam_sealer local, s, other_local;
	assert_int_equal(iam_sealer_local(&local, key, &err), 0);
	struct bw_buf old, pt, fresh;
	bw_buf_init(&old, 4096);
	bw_buf_init(&pt, 4096);
	bw_buf_init(&fresh, 4096);
	static const uint8_t seed[] = "JBSWY3DPEHPK3PXP";
	assert_int_equal(local.seal(local.ctx, seed, sizeof(seed), "t1/u1/totp",
				    &old, &err), 0);
	assert_int_equal(kms_iam_sealer(c, "platform", "_iam-seal", &s, &err), 0);
	/* before attaching, an old value does not open */
	assert_int_equal(s.open(s.ctx, (const uint8_t *)old.data, old.len,
				"t1/u1/totp", &pt, &err), -1);
	assert_int_equal(err.code, 400);
	assert_int_equal(kms_iam_sealer_legacy(&s, &local, &err), 0);
	assert_null(local.ctx); /* ownership moved */
	assert_int_equal(s.open(s.ctx, (const uint8_t *)old.data, old.len,
				"t1/u1/totp", &pt, &err), 0);
	assert_int_equal(pt.len, sizeof(seed));
	assert_memory_equal(pt.data, seed, sizeof(seed));
	bw_buf_reset(&pt);
	/* the old value still needs its own aad */
	assert_int_equal(s.open(s.ctx, (const uint8_t *)old.data, old.len,
				"t1/u2/totp", &pt, &err), -1);
	assert_int_equal(err.code, 400);
	/* new values go to the keystore */
	assert_int_equal(s.seal(s.ctx, seed, sizeof(seed), "t1/u1/totp", &fresh,
				&err), 0);
	assert_memory_equal(fresh.data, "bwk1:", 5);
	assert_int_equal(s.open(s.ctx, (const uint8_t *)fresh.data, fresh.len,
				"t1/u1/totp", &pt, &err), 0);
	assert_memory_equal(pt.data, seed, sizeof(seed));
	/* one legacy sealer only; only on kms sealers */
	assert_int_equal(iam_sealer_local(&other_local, key, &err), 0);
	assert_int_equal(kms_iam_sealer_legacy(&s, &other_local, &err), -1);
	assert_int_equal(err.code, 409);
	struct iam_sealer plain;
	assert_int_equal(iam_sealer_local(&plain, key, &err), 0);
	assert_int_equal(kms_iam_sealer_legacy(&plain, &other_local, &err), -1);
	assert_int_equal(err.code, 400);
	plain.free(plain.ctx);
	other_local.free(other_local.ctx);
	s.free(s.ctx); /* frees the legacy sealer too (ASan: no leak) */
	bw_buf_wipe_fini(&pt);
	bw_buf_fini(&old);
	bw_buf_fini(&fresh);
	stop(c, pid);
}

static void append_records(struct audit_log *log, int n)
{
	struct bw_err err;
	for (int i = 0; i < n; i++) {
		struct audit_record rec = {
			.actor = { .tenant = BW_STR("platform"),
				   .kind = AUDIT_ACTOR_SYSTEM, .id = BW_STR("test") },
			.action = BW_STR("kms.test"), .target = BW_STR("kms:x"),
			.outcome = AUDIT_OUTCOME_SUCCESS,
		};
		if (audit_append(log, &rec, NULL, &err) < 0)
			fail_msg("append: %s", err.msg);
	}
}

/* An installation that signed its audit log with a key file moves the
 * key into the keystore; the existing log keeps verifying and grows. */
static void test_audit_key_migration(void **state)
{
	(void)state;
	pid_t pid;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	struct bw_err err;
	char adir[512], kpath[600], lpath[600];
	snprintf(adir, sizeof(adir), "%s/audit", dir);
	snprintf(kpath, sizeof(kpath), "%s/audit-signing.key", dir);
	snprintf(lpath, sizeof(lpath), "%s/audit.log", adir);
	assert_int_equal(mkdir(adir, 0700), 0);

	/* nothing to migrate yet */
	assert_int_equal(kms_audit_key_import_file(c, "_audit-sth", kpath, &err), 0);

	/* yesterday: the file signer */
	struct audit_signer fs;
	assert_int_equal(audit_signer_file_init(&fs, kpath, &err), 0);
	uint8_t oldpub[AUDIT_PUBKEY_LEN];
	memcpy(oldpub, fs.pubkey, sizeof(oldpub));
	struct audit_config cfg;
	audit_config_defaults(&cfg);
	cfg.dir = adir;
	cfg.signer = &fs;
	struct audit_log *log = audit_log_open(&cfg, &err);
	assert_non_null(log);
	append_records(log, 3);
	assert_int_equal(audit_log_close(log, &err), 0);
	kms_audit_signer_fini(&fs); /* not ours: left alone */
	assert_non_null(fs.ctx);
	audit_signer_file_fini(&fs);
	size_t flen = 0;
	uint8_t *keyfile = slurp(kpath, &flen);
	assert_non_null(keyfile);

	/* a key file others can read is refused, and kept */
	assert_int_equal(chmod(kpath, 0644), 0);
	assert_int_equal(kms_audit_key_import_file(c, "_audit-sth", kpath, &err), -1);
	assert_int_equal(err.code, 403);
	assert_int_equal(chmod(kpath, 0600), 0);

	/* today: migrate, then sign through the keystore */
	assert_int_equal(kms_audit_key_import_file(c, "_audit-sth", kpath, &err), 1);
	assert_int_equal(access(kpath, F_OK), -1);
	struct audit_signer ks;
	assert_int_equal(kms_audit_signer(c, "_audit-sth", &ks, &err), 0);
	assert_memory_equal(ks.pubkey, oldpub, AUDIT_PUBKEY_LEN);
	/* the imported key is not exportable */
	assert_int_equal(simple_op(c, KEYSTORE_OP_KEY_EXPORT, "platform", "_audit-sth"),
			 KEYSTORE_E_DENIED);
	cfg.signer = &ks;
	log = audit_log_open(&cfg, &err);
	if (!log)
		fail_msg("reopen with the keystore key: %s", err.msg);
	append_records(log, 4);
	assert_int_equal(audit_log_close(log, &err), 0);
	struct audit_verify_opts vo = { .pubkey = oldpub, .require_signed_tail = true };
	struct audit_verify_result res;
	if (audit_verify_file(lpath, &vo, &res, &err) < 0)
		fail_msg("verify: %s", res.what);
	assert_int_equal(res.records, 7);
	assert_true(res.sths >= 2);

	/* a crash after the import but before the removal: the file is back
	 * (same key) and the next start only removes it */
	write_file(kpath, keyfile, flen);
	assert_int_equal(chmod(kpath, 0600), 0);
	assert_int_equal(kms_audit_key_import_file(c, "_audit-sth", kpath, &err), 1);
	assert_int_equal(access(kpath, F_OK), -1);

	/* another key file under a name the keystore already holds: 409,
	 * and the file stays for a person to look at */
	struct audit_signer fs2;
	assert_int_equal(audit_signer_file_init(&fs2, kpath, &err), 0);
	audit_signer_file_fini(&fs2);
	assert_int_equal(kms_audit_key_import_file(c, "_audit-sth", kpath, &err), -1);
	assert_int_equal(err.code, 409);
	assert_string_equal(err.reason, "key_conflict");
	assert_int_equal(access(kpath, F_OK), 0);
	/* not Ed25519, garbage */
	unlink(kpath);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	assert_non_null(ec);
	FILE *f = fopen(kpath, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(ec);
	assert_int_equal(chmod(kpath, 0600), 0);
	assert_int_equal(kms_audit_key_import_file(c, "_audit-new", kpath, &err), -1);
	assert_int_equal(err.code, 400);
	write_file(kpath, "-----BEGIN PRIVATE KEY-----\nAAAA\n", 33);
	assert_int_equal(kms_audit_key_import_file(c, "_audit-new", kpath, &err), -1);
	assert_int_equal(access(kpath, F_OK), 0);
	ERR_clear_error();
	/* the key bytes are nowhere in the keystore's files in clear */
	struct needles n = { 0 };
	EVP_PKEY *orig = NULL;
	{
		BIO *b = BIO_new_mem_buf(keyfile, (int)flen);
		orig = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		assert_non_null(orig);
		n.raw_len = sizeof(n.raw);
		assert_int_equal(EVP_PKEY_get_raw_private_key(orig, n.raw, &n.raw_len), 1);
		EVP_PKEY_free(orig);
	}
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "find '%s/keystore' -type f", dir);
	FILE *pf = popen(cmd, "r");
	assert_non_null(pf);
	char line[700];
	size_t files = 0;
	while (fgets(line, sizeof(line), pf)) {
		line[strcspn(line, "\n")] = '\0';
		size_t len = 0;
		uint8_t *p = slurp(line, &len);
		assert_non_null(p);
		assert_false(contains(p, len, n.raw, n.raw_len));
		assert_false(contains(p, len, keyfile, flen));
		free(p);
		files++;
	}
	pclose(pf);
	assert_true(files >= 2);
	bw_wipe(keyfile, flen);
	free(keyfile);
	kms_audit_signer_fini(&ks);
	stop(c, pid);
}

/* ---------------------------------------------------------------- ready */

struct unsealer {
	struct kms_client *c;
	int delay_ms;
};

static void *unseal_later(void *p)
{
	struct unsealer *u = p;
	struct timespec ts = { 0, u->delay_ms * 1000000L };
	nanosleep(&ts, NULL);
	simple_op(u->c, KEYSTORE_OP_UNSEAL, NULL, NULL);
	return NULL;
}

static void test_wait_ready(void **state)
{
	(void)state;
	pid_t pid;
	struct bw_err err;
	struct kms_client *c = start(KEYSTORE_SEAL_AUTO, &pid);
	assert_int_equal(kms_wait_ready(c, 10000, &err), 0);
	assert_int_equal(kms_wait_ready(c, 0, &err), 0);

	/* sealed: waits the whole timeout, then says so */
	assert_int_equal(simple_op(c, KEYSTORE_OP_SEAL, NULL, NULL), KEYSTORE_OK);
	int64_t t0 = bw_clock_mono_ms();
	assert_int_equal(kms_wait_ready(c, 300, &err), -1);
	int64_t took = bw_clock_mono_ms() - t0;
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "sealed");
	assert_true(took >= 280 && took < 3000);
	assert_int_equal(kms_wait_ready(c, 0, &err), -1);
	assert_string_equal(err.reason, "sealed");

	/* unsealed while waiting: returns soon after */
	pthread_t th;
	struct unsealer u = { c, 300 };
	assert_int_equal(pthread_create(&th, NULL, unseal_later, &u), 0);
	t0 = bw_clock_mono_ms();
	assert_int_equal(kms_wait_ready(c, 10000, &err), 0);
	took = bw_clock_mono_ms() - t0;
	assert_true(took >= 250 && took < 5000);
	pthread_join(th, NULL);

	/* key process gone: unavailable at once */
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	for (int i = 0; i < 200 && kms_client_alive(c); i++) {
		struct timespec ts = { 0, 10000000L };
		nanosleep(&ts, NULL);
	}
	t0 = bw_clock_mono_ms();
	assert_int_equal(kms_wait_ready(c, 200, &err), -1);
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "unavailable");
	kms_client_free(c);
	assert_int_equal(kms_wait_ready(NULL, 10, &err), -1);
	assert_int_equal(err.code, 503);

	/* a production install before `bulwark operator init` */
	rm_rf(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	c = start(KEYSTORE_SEAL_SHAMIR, &pid);
	/* the key process runs its self-tests first: wait until it
	 * answers at all (a loaded machine may take longer than the probe
	 * budget below, which would rightly be a 504) */
	assert_int_equal(simple_op(c, KEYSTORE_OP_PING, NULL, NULL), KEYSTORE_OK);
	assert_int_equal(kms_wait_ready(c, 500, &err), -1);
	assert_int_equal(err.code, 503);
	assert_string_equal(err.reason, "not_initialized");
	/* and every adapter reports 503 rather than half-working */
	struct audit_signer as;
	assert_int_equal(kms_audit_signer(c, "_audit-sth", &as, &err), -1);
	assert_int_equal(err.code, 503);
	struct pki_keystore *ks = kms_pki_keystore_new(c, &err);
	assert_non_null(ks);
	char id[PKI_KEY_ID_MAX];
	assert_int_equal(ks->generate(ks->ctx, "t1", PKI_KEY_EC_P256, id, &err), -1);
	assert_int_equal(err.code, 503);
	pki_keystore_free(ks);
	stop(c, pid);
	assert_null(kms_pki_keystore_new(NULL, &err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pki_ca_in_keystore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pki_key_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_signing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iam_sealer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iam_sealer_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iam_totp_secret_at_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_signer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_key_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_ready, setup, teardown),
	};
	log_init("test", BW_LOG_WARN, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
