/*
 * Helpers the pki tests share: building CSRs (honest and hostile) with
 * OpenSSL, running the openssl command line on files, temp directories.
 */
#ifndef BW_PKI_TEST_UTIL_H
#define BW_PKI_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/pki.h"
#include "store/store.h"

/* A CSR for key with CN (may be NULL) and SANs in OpenSSL's config
 * syntax ("DNS:a.example.com,IP:10.0.0.1"; may be NULL), as DER in a
 * malloc'd buffer. */
static inline unsigned char *tu_csr(EVP_PKEY *key, const char *cn,
				    const char *sans, const EVP_MD *md,
				    size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	if (cn)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					   (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_version(req, X509_REQ_VERSION_1);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, key);
	if (sans) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *e =
			X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
		if (e)
			sk_X509_EXTENSION_push(exts, e);
		X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_sign(req, key, md);
	unsigned char *der = NULL;
	int l = i2d_X509_REQ(req, &der);
	X509_REQ_free(req);
	X509_NAME_free(n);
	unsigned char *out = malloc((size_t)l);
	memcpy(out, der, (size_t)l);
	OPENSSL_free(der);
	*len = (size_t)l;
	return out;
}

static inline char *tu_pem(const unsigned char *der, size_t len,
			   const char *label, size_t *plen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio(bio, label, "", der, (long)len);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*plen = (size_t)n;
	BIO_free(bio);
	return out;
}

/* Runs a shell command, returns its exit status; its output goes to
 * out (up to cap - 1 bytes, NUL-terminated) when out is not NULL. */
static inline int tu_run(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	size_t n = 0;
	if (out) {
		size_t r;
		while (n + 1 < cap && (r = fread(out + n, 1, cap - 1 - n, f)) > 0)
			n += r;
		out[n] = '\0';
	}
	char sink[256];
	while (fread(sink, 1, sizeof(sink), f) > 0)
		;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void tu_write(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(p, 1, n, f);
		fclose(f);
	}
}

static inline void *tu_read(const char *path, size_t *n)
{
	struct bw_err err;
	return bw_file_read(path, 1 << 20, n, &err);
}

/* A fresh temporary directory (template "/tmp/PREFIX-XXXXXX" into dir)
 * with a state store and the development key backend in it. 0 or -1. */
static inline int tu_store_open(char *dir, size_t cap, const char *prefix,
				struct store **st, struct pki_keystore **ks)
{
	struct bw_err err;
	bw_snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
	if (!mkdtemp(dir))
		return -1;
	char db[128];
	bw_snprintf(db, sizeof(db), "%s/pki.db", dir);
	struct store_options so = { .path = db, .durability = STORE_DURABILITY_NORMAL };
	*st = store_open(&so, &err);
	*ks = *st ? pki_keystore_dev_new(*st, &err) : NULL;
	return *ks ? 0 : -1;
}

/* tu_store_open and a CA on them with default options. 0 or -1. */
static inline int tu_pki_open(char *dir, size_t cap, const char *prefix,
			      struct store **st, struct pki_keystore **ks, struct pki **pk)
{
	struct bw_err err;
	if (tu_store_open(dir, cap, prefix, st, ks) < 0)
		return -1;
	struct pki_options o = { .store = *st, .keys = *ks };
	*pk = pki_new(&o, &err);
	return *pk ? 0 : -1;
}

/* Frees what tu_pki_open made (pk may be NULL) and removes dir. 0 or -1. */
static inline int tu_pki_close(const char *dir, struct store *st, struct pki_keystore *ks,
			       struct pki *pk)
{
	pki_free(pk);
	pki_keystore_free(ks);
	store_close(st);
	char cmd[128];
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
