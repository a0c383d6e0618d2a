/*
 * audit_sign — Ed25519 for signed tree heads: the file-backed signer (the
 * key lives in the data directory until the keystore takes it over, see
 * struct audit_signer) and signature verification for the verifier.
 *
 * Invariants: the key file is created with O_EXCL and mode 0600 and is
 * refused when group or others can access it; the PEM text read from it
 * is wiped before the buffer is freed; the private key itself only lives
 * inside the EVP_PKEY.
 */
#include "audit/audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

struct file_signer {
	EVP_PKEY *pkey;
};

static int file_sign(void *ctx, const uint8_t *msg, size_t len,
		     uint8_t sig[AUDIT_SIG_LEN], struct bw_err *err)
{
	struct file_signer *fs = ctx;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen = AUDIT_SIG_LEN;
	int rc = -1;
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, fs->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, msg, len) != 1 ||
	    siglen != AUDIT_SIG_LEN) {
		bw_err_openssl(err, "audit", "Ed25519 sign");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static int fsync_parent(const char *path)
{
	char dir[4096];
	if (bw_snprintf(dir, sizeof(dir), "%s", path) < 0)
		return -1;
	int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Generates a key and writes it to path, which must not exist. */
static EVP_PKEY *key_generate(const char *path, struct bw_err *err)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *bio = NULL;
	int fd = -1;
	if (!pkey) {
		bw_err_openssl(err, "audit", "Ed25519 keygen");
		goto fail;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
					     NULL) != 1) {
		bw_err_openssl(err, "audit", "PEM encode");
		goto fail;
	}
	char *pem;
	long pemlen = BIO_get_mem_data(bio, &pem);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		bw_err_set(err, errno == EEXIST ? 409 : 500, "audit", "key_open",
			   "%s: %s", path, strerror(errno));
		goto fail;
	}
	for (long off = 0; off < pemlen;) {
		ssize_t w = write(fd, pem + off, (size_t)(pemlen - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			bw_err_set(err, 500, "audit", "key_write", "%s: %s",
				   path, strerror(errno));
			goto fail_unlink;
		}
		off += w;
	}
	if (fsync(fd) < 0 || fsync_parent(path) < 0) {
		bw_err_set(err, 500, "audit", "key_write", "%s: fsync: %s",
			   path, strerror(errno));
		goto fail_unlink;
	}
	close(fd);
	BIO_free_all(bio); /* a mem BIO: frees (not wipes) the PEM copy */
	log_info("audit: generated STH signing key %s", path);
	return pkey;
fail_unlink:
	unlink(path);
fail:
	if (fd >= 0)
		close(fd);
	BIO_free_all(bio);
	EVP_PKEY_free(pkey);
	return NULL;
}

static EVP_PKEY *key_load(const char *path, struct bw_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		bw_err_set(err, errno == ENOENT ? 404 : 500, "audit", "key_open",
			   "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		bw_err_set(err, 403, "audit", "key_mode",
			   "%s: key file must be a regular file with mode 0600 "
			   "(is %03o)",
			   path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	size_t len = 0;
	char *pem = bw_file_read(path, AUDIT_KEY_FILE_MAX, &len, err);
	if (!pem)
		return NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	bw_wipe(pem, len);
	free(pem);
	if (!pkey) {
		bw_err_openssl(err, "audit", "load STH key");
		return NULL;
	}
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		bw_err_set(err, 400, "audit", "key_type",
			   "%s: not an Ed25519 key", path);
		return NULL;
	}
	return pkey;
}

int audit_signer_file_init(struct audit_signer *s, const char *path,
			   struct bw_err *err)
{
	memset(s, 0, sizeof(*s));
	struct bw_err lerr = { 0 };
	EVP_PKEY *pkey = key_load(path, &lerr);
	if (!pkey && lerr.code == 404)
		pkey = key_generate(path, err);
	else if (!pkey)
		*err = lerr;
	if (!pkey)
		return -1;
	size_t publen = AUDIT_PUBKEY_LEN;
	if (EVP_PKEY_get_raw_public_key(pkey, s->pubkey, &publen) != 1 ||
	    publen != AUDIT_PUBKEY_LEN) {
		EVP_PKEY_free(pkey);
		return bw_err_openssl(err, "audit", "Ed25519 public key");
	}
	struct file_signer *fs = calloc(1, sizeof(*fs));
	if (!fs) {
		EVP_PKEY_free(pkey);
		return bw_err_set(err, 500, "audit", "nomem", "out of memory");
	}
	fs->pkey = pkey;
	s->ctx = fs;
	s->sign = file_sign;
	return 0;
}

void audit_signer_file_fini(struct audit_signer *s)
{
	if (!s || s->sign != file_sign)
		return;
	struct file_signer *fs = s->ctx;
	if (fs) {
		EVP_PKEY_free(fs->pkey);
		free(fs);
	}
	memset(s, 0, sizeof(*s));
}

/* ---------------------------------------------------------- verifying */

struct audit_sigcheck {
	EVP_PKEY *pkey;
	EVP_MD_CTX *md;
};

struct audit_sigcheck *audit_sigcheck_new(const uint8_t pub[AUDIT_PUBKEY_LEN])
{
	struct audit_sigcheck *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
					      AUDIT_PUBKEY_LEN);
	c->md = EVP_MD_CTX_new();
	if (!c->pkey || !c->md) {
		audit_sigcheck_free(c);
		return NULL;
	}
	return c;
}

void audit_sigcheck_free(struct audit_sigcheck *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->pkey);
	EVP_MD_CTX_free(c->md);
	free(c);
}

bool audit_sigcheck_verify(struct audit_sigcheck *c, const uint8_t *msg,
			   size_t len, const uint8_t sig[AUDIT_SIG_LEN])
{
	if (EVP_MD_CTX_reset(c->md) != 1 ||
	    EVP_DigestVerifyInit(c->md, NULL, NULL, NULL, c->pkey) != 1)
		return false;
	int ok = EVP_DigestVerify(c->md, sig, AUDIT_SIG_LEN, msg, len);
	if (ok != 1) {
		/* A bad signature is an answer, not an error: drop what
		 * OpenSSL queued so it is not reported later elsewhere. */
		ERR_clear_error();
		return false;
	}
	return true;
}
