/*
 * pki_key.c — key types, key generation, the in-process signer and the
 * development key backend.
 *
 * Invariants:
 *  - a key is classified (pki_key_type_of) before it is used for anything:
 *    RSA 2048..8192 bits with e = 65537, EC only on named P-256/P-384
 *    (explicit curve parameters are refused), Ed25519; nothing else;
 *  - a struct pki_signer's pub never holds private material: the local
 *    signer keeps the private key in its ctx and publishes a public-only
 *    copy;
 *  - the development backend (pki_keystore_dev_*) is the only place in
 *    this module where private keys touch the store, unencrypted, and it
 *    says so in the log when it is created. The kms replaces it.
 */
#include "pki/pki_int.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

int pki_err_ssl(struct bw_err *err, const char *reason, const char *what)
{
	bw_err_openssl(err, PKI_MOD, what);
	if (err) {
		err->code = 500;
		bw_snprintf(err->reason, sizeof(err->reason), "%s", reason);
	}
	return -1;
}

static const char *const key_names[PKI_KEY_TYPE_MAX_] = {
	[PKI_KEY_EC_P256] = "ec-p256",   [PKI_KEY_EC_P384] = "ec-p384",
	[PKI_KEY_ED25519] = "ed25519",   [PKI_KEY_RSA_2048] = "rsa-2048",
	[PKI_KEY_RSA_3072] = "rsa-3072", [PKI_KEY_RSA_4096] = "rsa-4096",
};

const char *pki_key_type_name(enum pki_key_type t)
{
	if ((int)t <= 0 || t >= PKI_KEY_TYPE_MAX_)
		return "none";
	return key_names[t];
}

enum pki_key_type pki_key_type_from_name(const char *s)
{
	if (!s)
		return PKI_KEY_NONE;
	for (int t = 1; t < PKI_KEY_TYPE_MAX_; t++)
		if (strcmp(s, key_names[t]) == 0)
			return (enum pki_key_type)t;
	return PKI_KEY_NONE;
}

enum pki_key_type pki_key_type_of(EVP_PKEY *pub, struct bw_err *err)
{
	if (!pub) {
		bw_err_set(err, 400, PKI_MOD, "key_type", "no public key");
		return PKI_KEY_NONE;
	}
	int id = EVP_PKEY_get_base_id(pub);
	if (id == EVP_PKEY_ED25519)
		return PKI_KEY_ED25519;
	if (id == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(pub);
		if (bits < PKI_RSA_MIN_BITS) {
			bw_err_set(err, 400, PKI_MOD, "key_weak",
				   "RSA key of %d bits (at least %d required)",
				   bits, PKI_RSA_MIN_BITS);
			return PKI_KEY_NONE;
		}
		if (bits > PKI_RSA_MAX_BITS) {
			bw_err_set(err, 400, PKI_MOD, "key_type",
				   "RSA key of %d bits (at most %d)", bits,
				   PKI_RSA_MAX_BITS);
			return PKI_KEY_NONE;
		}
		BIGNUM *e = NULL;
		int ok = EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) &&
			 BN_is_word(e, 65537);
		BN_free(e);
		if (!ok) {
			bw_err_set(err, 400, PKI_MOD, "rsa_exponent",
				   "RSA public exponent must be 65537");
			return PKI_KEY_NONE;
		}
		return bits >= 4096 ? PKI_KEY_RSA_4096 :
		       bits >= 3072 ? PKI_KEY_RSA_3072 :
				      PKI_KEY_RSA_2048;
	}
	if (id == EVP_PKEY_EC) {
		char enc[32] = "", grp[64] = "";
		size_t n;
		/* Explicit parameters let a requester pick a weak or
		 * malformed curve that merely claims to be P-256. */
		if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_ENCODING,
						   enc, sizeof(enc), &n) &&
		    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
			bw_err_set(err, 400, PKI_MOD, "ec_explicit",
				   "EC keys must use a named curve");
			return PKI_KEY_NONE;
		}
		if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME,
						    grp, sizeof(grp), &n)) {
			ERR_clear_error();
			bw_err_set(err, 400, PKI_MOD, "ec_explicit",
				   "EC key without a named curve");
			return PKI_KEY_NONE;
		}
		if (strcmp(grp, "prime256v1") == 0 || strcmp(grp, "P-256") == 0)
			return PKI_KEY_EC_P256;
		if (strcmp(grp, "secp384r1") == 0 || strcmp(grp, "P-384") == 0)
			return PKI_KEY_EC_P384;
		bw_err_set(err, 400, PKI_MOD, "key_type",
			   "EC curve %.40s is not accepted (P-256, P-384)", grp);
		return PKI_KEY_NONE;
	}
	bw_err_set(err, 400, PKI_MOD, "key_type",
		   "key type %.32s is not accepted (RSA, EC P-256/P-384, Ed25519)",
		   OBJ_nid2sn(id));
	return PKI_KEY_NONE;
}

EVP_PKEY *pki_key_generate(enum pki_key_type t, struct bw_err *err)
{
	EVP_PKEY *k = NULL;
	switch (t) {
	case PKI_KEY_EC_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case PKI_KEY_EC_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case PKI_KEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case PKI_KEY_RSA_2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case PKI_KEY_RSA_3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case PKI_KEY_RSA_4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	default:
		bw_err_set(err, 400, PKI_MOD, "key_type", "unknown key type");
		return NULL;
	}
	if (!k)
		pki_err_ssl(err, "keygen", "key generation");
	return k;
}

/* A public-only copy of k, through its SubjectPublicKeyInfo. */
static EVP_PKEY *public_copy(EVP_PKEY *k, struct bw_err *err)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	if (n <= 0) {
		pki_err_ssl(err, "pubkey", "public key encoding");
		return NULL;
	}
	const unsigned char *q = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, n);
	OPENSSL_free(der);
	if (!pub)
		pki_err_ssl(err, "pubkey", "public key decoding");
	return pub;
}

void pki_signer_free(struct pki_signer *s)
{
	if (!s)
		return;
	if (s->free)
		s->free(s->ctx);
	EVP_PKEY_free(s->pub);
	free(s);
}

static int local_sign(void *ctx, enum pki_md md, const uint8_t *tbs, size_t len,
		      uint8_t *sig, size_t sigcap, size_t *siglen,
		      struct bw_err *err)
{
	EVP_PKEY *key = ctx;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t n = sigcap;
	int rc = -1;
	if (!mctx ||
	    EVP_DigestSignInit(mctx, NULL, pki_md_evp(md), NULL, key) != 1 ||
	    EVP_DigestSign(mctx, sig, &n, tbs, len) != 1) {
		pki_err_ssl(err, "sign", "signing");
		goto out;
	}
	*siglen = n;
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

static void local_free(void *ctx)
{
	EVP_PKEY_free(ctx);
}

struct pki_signer *pki_signer_local_new(EVP_PKEY *key, const char *key_id,
					struct bw_err *err)
{
	enum pki_key_type t = pki_key_type_of(key, err);
	if (t == PKI_KEY_NONE)
		return NULL;
	struct pki_signer *s = calloc(1, sizeof(*s));
	if (!s) {
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		return NULL;
	}
	s->pub = public_copy(key, err);
	if (!s->pub) {
		free(s);
		return NULL;
	}
	EVP_PKEY_up_ref(key);
	s->ctx = key;
	s->sign = local_sign;
	s->free = local_free;
	s->type = t;
	s->trusted_output = true;
	bw_snprintf(s->key_id, sizeof(s->key_id), "%s", key_id ? key_id : "local");
	return s;
}

/* ------------------------------------------------ development backend */

static const char *const devkey_schema[] = {
	"CREATE TABLE pki_devkey (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" key_type TEXT NOT NULL, pkcs8 BLOB NOT NULL, created BIGINT NOT NULL)",
};

struct devks {
	struct store *st;
};

static int dev_generate(void *ctx, const char *tenant, enum pki_key_type t,
			char key_id[PKI_KEY_ID_MAX], struct bw_err *err)
{
	struct devks *d = ctx;
	EVP_PKEY *k = pki_key_generate(t, err);
	if (!k)
		return -1;
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(k, &der);
	EVP_PKEY_free(k);
	if (n <= 0)
		return pki_err_ssl(err, "keygen", "private key encoding");
	uint8_t rnd[16];
	char hex[33];
	bw_random(rnd, sizeof(rnd));
	bw_hex_encode(rnd, sizeof(rnd), hex);
	bw_snprintf(key_id, PKI_KEY_ID_MAX, "dev:%s", hex);
	struct store_value v[] = {
		store_text_str(key_id), store_text_str(tenant),
		store_text_str(pki_key_type_name(t)), store_blob(der, (size_t)n),
		store_int(bw_clock_now_s()),
	};
	int rc = store_exec(d->st,
			    "INSERT INTO pki_devkey (id, tenant, key_type, pkcs8,"
			    " created) VALUES (?, ?, ?, ?, ?)",
			    v, BW_ARRAY_LEN(v), NULL, err);
	OPENSSL_clear_free(der, (size_t)n);
	return rc;
}

struct devkey_row {
	EVP_PKEY *key;
	char tenant[PKI_TENANT_MAX + 1];
};

static int devkey_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct devkey_row *r = arg;
	size_t n;
	const unsigned char *der = store_row_blob(row, 0, &n);
	struct bw_str t = store_row_text(row, 1);
	r->key = d2i_AutoPrivateKey(NULL, &der, (long)n);
	if (!r->key)
		return pki_err_ssl(err, "devkey", "stored key");
	bw_snprintf(r->tenant, sizeof(r->tenant), "%.*s", (int)t.len, t.p);
	return STORE_ROW_STOP;
}

static struct pki_signer *dev_open(void *ctx, const char *tenant,
				   const char *key_id, struct bw_err *err)
{
	struct devks *d = ctx;
	struct devkey_row r = { 0 };
	struct store_value v[] = { store_text_str(key_id) };
	int found = store_query_one(d->st,
				    "SELECT pkcs8, tenant FROM pki_devkey WHERE id = ?",
				    v, 1, devkey_row, &r, err);
	if (found < 0)
		return NULL;
	if (found == 0 || strcmp(r.tenant, tenant) != 0) {
		EVP_PKEY_free(r.key);
		bw_err_set(err, 404, PKI_MOD, "no_key", "no such key");
		return NULL;
	}
	struct pki_signer *s = pki_signer_local_new(r.key, key_id, err);
	EVP_PKEY_free(r.key);
	return s;
}

static void dev_free(void *ctx)
{
	free(ctx);
}

struct pki_keystore *pki_keystore_dev_new(struct store *st, struct bw_err *err)
{
	if (store_migrate(st, "pki_devkey", devkey_schema,
			  BW_ARRAY_LEN(devkey_schema), err) < 0)
		return NULL;
	struct pki_keystore *ks = calloc(1, sizeof(*ks));
	struct devks *d = calloc(1, sizeof(*d));
	if (!ks || !d) {
		free(ks);
		free(d);
		bw_err_set(err, 500, PKI_MOD, "memory", "out of memory");
		return NULL;
	}
	d->st = st;
	ks->ctx = d;
	ks->generate = dev_generate;
	ks->open = dev_open;
	ks->free = dev_free;
	log_warnx("pki: CA keys are kept UNENCRYPTED in the store by the "
		  "development key backend; use the kms in production");
	return ks;
}

void pki_keystore_free(struct pki_keystore *ks)
{
	if (!ks)
		return;
	if (ks->free)
		ks->free(ks->ctx);
	free(ks);
}
