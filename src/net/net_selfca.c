/*
 * First-start certificates: when bulwark has no certificate configured it
 * creates, once, a local CA (ECDSA P-256, 10 years) and a server
 * certificate for localhost, 127.0.0.1 and ::1 (ECDSA P-256, 397 days)
 * signed by it, under DIR/tls/. Private keys are written 0600 and wiped
 * from memory. Clients trust DIR/tls/ca.crt (curl --cacert). The PKI issue
 * grows this into the full CA.
 */
#include "net/net.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer,
		       const char *cn, long days, bool is_ca)
{
	X509 *c = X509_new();
	if (!c)
		return NULL;
	unsigned char serial[16];
	bw_random(serial, sizeof(serial));
	serial[0] &= 0x7f; /* positive */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_NAME *name = X509_NAME_new();
	int ok = bn && name && X509_set_version(c, 2) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) &&
		 X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					    (const unsigned char *)"bulwark local",
					    -1, -1, 0) &&
		 X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					    (const unsigned char *)cn, -1, -1, 0) &&
		 X509_set_subject_name(c, name) &&
		 X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) :
						  name) &&
		 X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
		 X509_time_adj_ex(X509_getm_notAfter(c), (int)days, 0, NULL) &&
		 X509_set_pubkey(c, key);
	X509 *iss = issuer ? issuer : c;
	if (ok && is_ca) {
		ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == 0 &&
		     add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
		     add_ext(c, iss, NID_subject_key_identifier, "hash") == 0;
	} else if (ok) {
		ok = add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(c, iss, NID_key_usage, "critical,digitalSignature") == 0 &&
		     add_ext(c, iss, NID_ext_key_usage, "serverAuth") == 0 &&
		     add_ext(c, iss, NID_subject_alt_name,
			     "DNS:localhost,IP:127.0.0.1,IP:::1") == 0 &&
		     add_ext(c, iss, NID_subject_key_identifier, "hash") == 0 &&
		     add_ext(c, iss, NID_authority_key_identifier, "keyid:always") == 0;
	}
	if (ok)
		ok = X509_sign(c, signer, EVP_sha256()) > 0;
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key,
		     struct bw_err *err)
{
	BIO *mem = BIO_new(BIO_s_secmem());
	if (!mem)
		return bw_err_openssl(err, "net", "BIO_new");
	int ok = cert ? PEM_write_bio_X509(mem, cert) :
			PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL);
	char *data = NULL;
	long len = BIO_get_mem_data(mem, &data);
	int rc = ok && len > 0 ?
			 bw_file_write_atomic(path, data, (size_t)len,
					      cert ? 0644 : 0600, err) :
			 bw_err_openssl(err, "net", "PEM write");
	BIO_free(mem); /* secure-heap BIO: the key text is cleansed */
	return rc;
}

int net_selfca_ensure(const char *dir, struct net_selfca_paths *out,
		      struct bw_err *err)
{
	char tlsdir[512], ca_crt[600], ca_key[600], crt[600], key[600];
	if (bw_snprintf(tlsdir, sizeof(tlsdir), "%s/tls", dir) < 0)
		return bw_err_set(err, 400, "net", "path", "path too long");
	bw_snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", tlsdir);
	bw_snprintf(ca_key, sizeof(ca_key), "%s/ca.key", tlsdir);
	bw_snprintf(crt, sizeof(crt), "%s/server.crt", tlsdir);
	bw_snprintf(key, sizeof(key), "%s/server.key", tlsdir);
	if (out) {
		bw_snprintf(out->cert_file, sizeof(out->cert_file), "%s", crt);
		bw_snprintf(out->key_file, sizeof(out->key_file), "%s", key);
		bw_snprintf(out->ca_file, sizeof(out->ca_file), "%s", ca_crt);
	}
	if (access(crt, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	if (mkdir(tlsdir, 0700) < 0 && errno != EEXIST)
		return bw_err_set(err, 500, "net", "mkdir", "%s: %s", tlsdir,
				  strerror(errno));

	int rc = -1;
	X509 *ca = NULL, *srv = NULL;
	EVP_PKEY *cakey = EVP_EC_gen("P-256");
	EVP_PKEY *srvkey = EVP_EC_gen("P-256");
	if (!cakey || !srvkey) {
		bw_err_openssl(err, "net", "key generation");
		goto out;
	}
	ca = make_cert(cakey, cakey, NULL, "bulwark local CA", 3650, true);
	srv = ca ? make_cert(srvkey, cakey, ca, "localhost", 397, false) : NULL;
	if (!ca || !srv) {
		bw_err_openssl(err, "net", "certificate creation");
		goto out;
	}
	if (write_pem(ca_key, NULL, cakey, err) < 0 ||
	    write_pem(ca_crt, ca, NULL, err) < 0 ||
	    write_pem(key, NULL, srvkey, err) < 0 ||
	    write_pem(crt, srv, NULL, err) < 0)
		goto out;
	log_info("created local CA %s and server certificate for localhost", ca_crt);
	rc = 0;
out:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(cakey); /* OpenSSL clears EC private scalars on free */
	EVP_PKEY_free(srvkey);
	return rc;
}
