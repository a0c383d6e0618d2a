/*
 * The CA end to end over a real store and the development key backend:
 * hierarchy (root, intermediate with name constraints and path length),
 * issuance per profile checked field by field with OpenSSL and with
 * `openssl verify`, policy refusals and CSR attacks, serial uniqueness,
 * revocation and the CRL parsed back (and `openssl verify -crl_check`),
 * OCSP good/revoked/unknown/nonce/malformed/unauthorized (and `openssl
 * ocsp` as the client), the offline-root flow, inventory search, the
 * clock-driven schedule and a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "pki/pki_int.h"
#include "pki/tests/pki_test_util.h"
#include "store/store.h"

static char dir[64], dbpath[128];
static struct store *st;
static struct pki_keystore *ks;
static struct pki *pk;
static struct pki_ca_info root, inter;
static EVP_PKEY *leafkey;

static const char policy[] =
	"{\"dns\":[\"example.com\",\"*.example.com\",\".svc.example.com\","
	"\"outside.net\"],"
	"\"ip\":[\"10.0.0.0/8\"],\"uri\":[\"spiffe://example.com/\"],"
	"\"cn\":[\"Example Signer*\",\"alice\"],"
	"\"key_types\":[\"ec-p256\",\"ec-p384\",\"ed25519\",\"rsa-2048\"],"
	"\"max_validity_s\":2592000}";

static struct pki *open_pki(struct bw_err *err)
{
	struct pki_options o = { .store = st, .keys = ks,
				 .public_url = "http://pki.test:8080/",
				 .ocsp_sign_nonces = true };
	return pki_new(&o, err);
}

static void path(char *out, size_t cap, const char *name)
{
	bw_snprintf(out, cap, "%s/%s", dir, name);
}

static void save_pem_cert(const char *name, const uint8_t *der, size_t len)
{
	char p[160];
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(pki_append_pem(&b, "CERTIFICATE", der, len), 0);
	path(p, sizeof(p), name);
	tu_write(p, b.data, b.len);
	bw_buf_fini(&b);
}

static void save_ca(const char *name, const char *id)
{
	struct bw_buf b;
	struct bw_err err;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "t1", id, PKI_PEM, false, &b, &err), 0);
	char p[160];
	path(p, sizeof(p), name);
	tu_write(p, b.data, b.len);
	bw_buf_fini(&b);
}

static int setup(void **state)
{
	struct bw_err err;
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-pki-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	path(dbpath, sizeof(dbpath), "pki.db");
	struct store_options so = { .path = dbpath,
				    .durability = STORE_DURABILITY_NORMAL };
	st = store_open(&so, &err);
	if (!st)
		return -1;
	ks = pki_keystore_dev_new(st, &err);
	pk = ks ? open_pki(&err) : NULL;
	if (!pk) {
		fprintf(stderr, "pki_new: %s\n", err.msg);
		return -1;
	}
	struct pki_ca_spec rs = { .tenant = "t1", .name = "root",
				  .subject = "CN=Test Root CA,O=bulwark tests",
				  .key_type = PKI_KEY_EC_P256, .path_len = 1 };
	if (pki_ca_create(pk, &rs, &root, &err) < 0) {
		fprintf(stderr, "root: %s\n", err.msg);
		return -1;
	}
	const char *permitted[] = { "example.com" };
	const char *permitted_ip[] = { "10.0.0.0/8" };
	const char *permitted_uri[] = { "example.com" };
	struct pki_ca_spec is = {
		.tenant = "t1", .name = "issuing", .subject = "CN=Test Issuing CA",
		.key_type = PKI_KEY_EC_P384, .parent_id = root.id, .path_len = -1,
		.nc = { .permitted_dns = permitted, .n_permitted_dns = 1,
			.permitted_ip = permitted_ip, .n_permitted_ip = 1,
			.permitted_uri = permitted_uri, .n_permitted_uri = 1 },
	};
	if (pki_ca_create(pk, &is, &inter, &err) < 0) {
		fprintf(stderr, "intermediate: %s\n", err.msg);
		return -1;
	}
	if (pki_policy_set(pk, "t1", policy, sizeof(policy) - 1, &err) < 0) {
		fprintf(stderr, "policy: %s\n", err.msg);
		return -1;
	}
	leafkey = pki_key_generate(PKI_KEY_EC_P256, &err);
	save_ca("root.pem", root.id);
	save_ca("inter.pem", inter.id);
	return leafkey ? 0 : -1;
}

static int teardown(void **state)
{
	EVP_PKEY_free(leafkey);
	return tu_pki_close(dir, st, ks, pk);
}

static X509 *parse(const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	X509 *x = d2i_X509(NULL, &q, (long)len);
	assert_non_null(x);
	return x;
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	if (i < 0)
		return -1;
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int issue_csr(enum pki_profile prof, EVP_PKEY *k, const char *cn,
		     const char *sans, struct pki_issued *out, struct bw_err *err)
{
	size_t len;
	unsigned char *der = tu_csr(k, cn, sans,
				    EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ?
					    NULL : EVP_sha256(), &len);
	struct pki_issue_req r = { .tenant = "t1", .ca_id = inter.id, .profile = prof,
				   .csr = (char *)der, .csr_len = len, .path_len = -1 };
	int rc = pki_issue(pk, &r, out, err);
	free(der);
	return rc;
}

static void verify_cli(const char *leaf_name, const char *purpose, const char *extra,
		       bool expect_ok)
{
	char cmd[1024], out[2048];
	bw_snprintf(cmd, sizeof(cmd),
		    "openssl verify -CAfile %s/root.pem -untrusted %s/inter.pem %s%s %s "
		    "%s/%s 2>&1", dir, dir, purpose ? "-purpose " : "",
		    purpose ? purpose : "", extra ? extra : "", dir, leaf_name);
	int rc = tu_run(cmd, out, sizeof(out));
	if ((rc == 0) != expect_ok)
		fail_msg("%s -> %d: %s", cmd, rc, out);
}

/* ------------------------------------------------------------ hierarchy */

static void hierarchy_is_built_and_verifies(void **state)
{
	assert_true(root.root);
	assert_int_equal(root.state, PKI_CA_ACTIVE);
	assert_int_equal(root.path_len, 1);
	assert_false(inter.root);
	assert_string_equal(inter.parent_id, root.id);
	assert_int_equal(inter.path_len, 0); /* below the parent's 1 */
	assert_true(inter.not_after <= root.not_after);
	assert_true(inter.crl_number >= 1);
	assert_true(strncmp(inter.key_id, "dev:", 4) == 0);

	struct bw_buf b;
	struct bw_err err;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "t1", inter.id, PKI_DER, false, &b, &err), 0);
	X509 *x = parse((uint8_t *)b.data, b.len);
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(ext_critical(x, NID_basic_constraints), 1);
	assert_int_equal(ext_critical(x, NID_name_constraints), 1);
	assert_int_equal(ext_critical(x, NID_key_usage), 1);
	assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(x) & KU_CRL_SIGN);
	assert_non_null(X509_get0_authority_key_id(x));
	assert_non_null(X509_get0_subject_key_id(x));
	X509_free(x);
	/* chain download: the intermediate then the root */
	bw_buf_reset(&b);
	assert_int_equal(pki_ca_cert(pk, "t1", inter.id, PKI_PEM, true, &b, &err), 0);
	assert_non_null(strstr(strstr(b.data, "END CERTIFICATE"), "BEGIN CERTIFICATE"));
	bw_buf_fini(&b);
	verify_cli("inter.pem", NULL, NULL, true);

	/* a CA of tenant t1 is not found from tenant t2 */
	struct pki_ca_info info;
	assert_int_equal(pki_ca_get(pk, "t2", root.id, &info, &err), -1);
	assert_int_equal(err.code, 404);
	/* path length 0 forbids a CA below the intermediate */
	struct pki_ca_spec below = { .tenant = "t1", .name = "too-deep",
				     .subject = "CN=Too Deep", .key_type = PKI_KEY_EC_P256,
				     .parent_id = inter.id, .path_len = -1 };
	assert_int_equal(pki_ca_create(pk, &below, NULL, &err), -1);
	assert_string_equal(err.reason, "path_len");
	/* names are unique per tenant */
	struct pki_ca_spec dup = { .tenant = "t1", .name = "root", .subject = "CN=Again",
				   .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	assert_int_equal(pki_ca_create(pk, &dup, NULL, &err), -1);
	assert_int_equal(err.code, 409);
	struct pki_ca_spec badsubj = { .tenant = "t1", .name = "x", .subject = "O=NoCN",
				       .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	assert_int_equal(pki_ca_create(pk, &badsubj, NULL, &err), -1);
	assert_string_equal(err.reason, "bad_subject");
}

/* ------------------------------------------------------------ issuance */

static void tls_server_certificate_field_by_field(void **state)
{
	struct pki_issued out;
	struct bw_err err;
	int64_t now = bw_clock_now_s();
	if (issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, "www.example.com",
		      "DNS:www.example.com,DNS:api.example.com,IP:10.0.0.5",
		      &out, &err) < 0)
		fail_msg("issue: %s", err.msg);
	X509 *x = parse(out.der, out.der_len);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	/* serial: 16 octets, positive, matches the reported hex */
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER);
	assert_int_equal(ASN1_STRING_length(sn), 16);
	char hex[41];
	pki_serial_hex(ASN1_STRING_get0_data(sn), 16, hex);
	assert_string_equal(hex, out.serial);
	/* names */
	char buf[256];
	X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
	assert_string_equal(buf, "/CN=www.example.com");
	X509_NAME_oneline(X509_get_issuer_name(x), buf, sizeof(buf));
	assert_string_equal(buf, "/CN=Test Issuing CA");
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 3);
	GENERAL_NAMES_free(gens);
	assert_int_equal(ext_critical(x, NID_subject_alt_name), 0);
	/* validity: backdated a minute, 30 days (the policy's maximum caps
	 * the 90-day default) */
	int64_t nb, na;
	assert_int_equal(pki_time_to_epoch(X509_get0_notBefore(x), &nb), 0);
	assert_int_equal(pki_time_to_epoch(X509_get0_notAfter(x), &na), 0);
	assert_true(nb <= now - PKI_BACKDATE_S + 2 && nb >= now - PKI_BACKDATE_S - 2);
	assert_int_equal(na - nb, 2592000 + PKI_BACKDATE_S);
	/* extensions */
	assert_int_equal(ext_critical(x, NID_basic_constraints), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(ext_critical(x, NID_key_usage), 1);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	/* AKI is the issuer's SKI */
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "t1", inter.id, PKI_DER, false, &b, &err), 0);
	X509 *ix = parse((uint8_t *)b.data, b.len);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
					       X509_get0_subject_key_id(ix)), 0);
	X509_free(ix);
	bw_buf_fini(&b);
	/* AIA and CDP point at the issuing CA */
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
	char want[160];
	bw_snprintf(want, sizeof(want), "http://pki.test:8080/ocsp/%s", inter.id);
	ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
	assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_OCSP);
	assert_string_equal((char *)ASN1_STRING_get0_data(
				    ad->location->d.uniformResourceIdentifier), want);
	ad = sk_ACCESS_DESCRIPTION_value(aia, 1);
	assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_ca_issuers);
	AUTHORITY_INFO_ACCESS_free(aia);
	CRL_DIST_POINTS *cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	assert_int_equal(sk_DIST_POINT_num(cdp), 1);
	GENERAL_NAME *g = sk_GENERAL_NAME_value(
		sk_DIST_POINT_value(cdp, 0)->distpoint->name.fullname, 0);
	bw_snprintf(want, sizeof(want), "http://pki.test:8080/crl/%s.crl", inter.id);
	assert_string_equal((char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
			    want);
	CRL_DIST_POINTS_free(cdp);
	/* signed by the P-384 intermediate with SHA-384 */
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
	/* the public key is the CSR's */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), leafkey), 1);
	X509_free(x);
	save_pem_cert("server.pem", out.der, out.der_len);
	verify_cli("server.pem", "sslserver", NULL, true);
	verify_cli("server.pem", "sslclient", NULL, false);
	/* the inventory has it */
	struct pki_cert_info ci;
	assert_int_equal(pki_cert_get(pk, "t1", out.serial, &ci, NULL, &err), 0);
	assert_string_equal(ci.profile, "tls-server");
	assert_string_equal(ci.ca_id, inter.id);
	assert_string_equal(ci.sans, "dns:www.example.com,dns:api.example.com,ip:10.0.0.5");
	assert_int_equal(ci.status, PKI_CERT_GOOD);
	assert_int_equal(pki_cert_get(pk, "t2", out.serial, &ci, NULL, &err), -1);
	assert_int_equal(err.code, 404);
	pki_issued_fini(&out);
}

static void other_profiles(void **state)
{
	struct pki_issued out;
	struct bw_err err;
	/* TLS client with an Ed25519 key */
	EVP_PKEY *edk = pki_key_generate(PKI_KEY_ED25519, &err);
	if (issue_csr(PKI_PROFILE_TLS_CLIENT, edk, "alice", NULL, &out, &err) < 0)
		fail_msg("client: %s", err.msg);
	X509 *x = parse(out.der, out.der_len);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	X509_free(x);
	save_pem_cert("client.pem", out.der, out.der_len);
	verify_cli("client.pem", "sslclient", NULL, true);
	pki_issued_fini(&out);
	EVP_PKEY_free(edk);

	/* code signing */
	if (issue_csr(PKI_PROFILE_CODE_SIGNING, leafkey, "Example Signer 1", NULL, &out,
		      &err) < 0)
		fail_msg("code signing: %s", err.msg);
	x = parse(out.der, out.der_len);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_CODE_SIGN);
	assert_int_equal(X509_get_ext_by_NID(x, NID_subject_alt_name, -1), -1);
	X509_free(x);
	pki_issued_fini(&out);

	/* service identity (SPIFFE X.509-SVID): empty subject, critical SAN */
	const char *uris[] = { "spiffe://example.com/ns/prod/sa/api" };
	struct pki_issue_req r = { .tenant = "t1", .ca_id = inter.id,
				   .profile = PKI_PROFILE_SERVICE,
				   .gen_key = PKI_KEY_EC_P256, .uris = uris, .nuris = 1,
				   .validity_s = 3600 };
	if (pki_issue(pk, &r, &out, &err) < 0)
		fail_msg("service: %s", err.msg);
	x = parse(out.der, out.der_len);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	assert_int_equal(ext_critical(x, NID_subject_alt_name), 1);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	/* the generated key comes back as PKCS#8 PEM and matches */
	assert_non_null(out.key_pem);
	assert_non_null(strstr(out.key_pem, "BEGIN PRIVATE KEY"));
	BIO *bio = BIO_new_mem_buf(out.key_pem, (int)out.key_pem_len);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	assert_int_equal(X509_check_private_key(x, k), 1);
	EVP_PKEY_free(k);
	int64_t nb, na;
	assert_int_equal(pki_time_to_epoch(X509_get0_notBefore(x), &nb), 0);
	assert_int_equal(pki_time_to_epoch(X509_get0_notAfter(x), &na), 0);
	assert_int_equal(na - nb, 3600 + PKI_BACKDATE_S);
	X509_free(x);
	pki_issued_fini(&out);

	/* TLS server with a generated RSA key: keyEncipherment too */
	const char *dns[] = { "rsa.example.com" };
	struct pki_issue_req rr = { .tenant = "t1", .ca_id = inter.id,
				    .profile = PKI_PROFILE_TLS_SERVER,
				    .gen_key = PKI_KEY_RSA_2048, .dns = dns, .ndns = 1 };
	if (pki_issue(pk, &rr, &out, &err) < 0)
		fail_msg("rsa: %s", err.msg);
	x = parse(out.der, out.der_len);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	X509_free(x);
	pki_issued_fini(&out);
}

static void refusals(void **state)
{
	struct pki_issued out;
	struct bw_err err;
	struct pki_stats before, after;
	pki_stats_get(pk, &before);
	/* name outside the policy */
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:www.evil.net", &out, &err), -1);
	assert_int_equal(err.code, 403);
	assert_string_equal(err.reason, "policy");
	/* a wildcard without allow_wildcards */
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:*.example.com", &out, &err), -1);
	assert_int_equal(err.code, 403);
	/* allowed by policy but outside the CA's name constraints: the
	 * self-check refuses to hand it out */
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:outside.net", &out, &err), -1);
	assert_string_equal(err.reason, "self_check");
	/* key type outside policy */
	EVP_PKEY *rsa3072 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, rsa3072, NULL,
				   "DNS:a.example.com", &out, &err), -1);
	assert_int_equal(err.code, 403);
	EVP_PKEY_free(rsa3072);
	/* profile rules */
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, "no-sans", NULL, &out,
				   &err), -1);
	assert_string_equal(err.reason, "profile");
	assert_int_equal(issue_csr(PKI_PROFILE_SERVICE, leafkey, NULL,
				   "URI:https://example.com/x", &out, &err), -1);
	assert_string_equal(err.reason, "profile");
	assert_int_equal(issue_csr(PKI_PROFILE_SUB_CA, leafkey, "Sub", NULL, &out, &err), -1);
	assert_int_equal(err.code, 403);
	/* validity beyond the policy */
	const char *dns[] = { "a.example.com" };
	struct pki_issue_req r = { .tenant = "t1", .ca_id = inter.id,
				   .profile = PKI_PROFILE_TLS_SERVER,
				   .gen_key = PKI_KEY_EC_P256, .dns = dns, .ndns = 1,
				   .validity_s = 2592001 };
	assert_int_equal(pki_issue(pk, &r, &out, &err), -1);
	assert_int_equal(err.code, 403);
	/* names asked for that the CSR does not carry */
	size_t len;
	unsigned char *der = tu_csr(leafkey, NULL, "DNS:b.example.com", EVP_sha256(), &len);
	struct pki_issue_req r2 = { .tenant = "t1", .ca_id = inter.id,
				    .profile = PKI_PROFILE_TLS_SERVER, .csr = (char *)der,
				    .csr_len = len, .dns = dns, .ndns = 1 };
	assert_int_equal(pki_issue(pk, &r2, &out, &err), -1);
	assert_string_equal(err.reason, "bad_name");
	free(der);
	/* a CSR with a broken signature */
	der = tu_csr(leafkey, NULL, "DNS:a.example.com", EVP_sha256(), &len);
	der[len - 2] ^= 0x40;
	r2.csr = (char *)der;
	r2.csr_len = len;
	r2.ndns = 0;
	assert_int_equal(pki_issue(pk, &r2, &out, &err), -1);
	assert_string_equal(err.reason, "csr_signature");
	free(der);
	/* a tenant without a policy, and a CA of another tenant */
	struct pki_ca_info t3root;
	struct pki_ca_spec rs = { .tenant = "t3", .name = "root", .subject = "CN=T3",
				  .key_type = PKI_KEY_ED25519, .path_len = -1 };
	assert_int_equal(pki_ca_create(pk, &rs, &t3root, &err), 0);
	struct pki_issue_req r3 = { .tenant = "t3", .ca_id = t3root.id,
				    .profile = PKI_PROFILE_TLS_SERVER,
				    .gen_key = PKI_KEY_EC_P256, .dns = dns, .ndns = 1 };
	assert_int_equal(pki_issue(pk, &r3, &out, &err), -1);
	assert_int_equal(err.code, 403);
	r3.ca_id = inter.id;
	assert_int_equal(pki_issue(pk, &r3, &out, &err), -1);
	assert_int_equal(err.code, 404);
	pki_stats_get(pk, &after);
	assert_true(after.issue_refused >= before.issue_refused + 10);
}

static void csr_with_the_ca_key_is_refused(void **state)
{
	/* The CA's key lives in the dev backend: a CSR can only carry its
	 * public half, which is all the check needs, but it must be signed
	 * by the private half. Pull it from the backend as an attacker who
	 * stole it would have it. */
	struct bw_err err;
	struct pki_signer *s = ks->open(ks->ctx, "t1", inter.key_id, &err);
	assert_non_null(s);
	EVP_PKEY *priv = s->ctx; /* the dev signer's private key */
	struct pki_issued out;
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, priv, NULL,
				   "DNS:a.example.com", &out, &err), -1);
	assert_string_equal(err.reason, "key_reuse");
	pki_signer_free(s);
}

static void serials_are_unique_and_random(void **state)
{
	enum { N = 150 };
	static char serials[N][41];
	struct bw_err err;
	const char *dns[] = { "many.example.com" };
	struct pki_issue_req r = { .tenant = "t1", .ca_id = inter.id,
				   .profile = PKI_PROFILE_TLS_SERVER, .csr = NULL,
				   .dns = dns, .ndns = 1, .gen_key = PKI_KEY_EC_P256 };
	for (int i = 0; i < N; i++) {
		struct pki_issued out;
		if (pki_issue(pk, &r, &out, &err) < 0)
			fail_msg("issue %d: %s", i, err.msg);
		assert_int_equal(strlen(out.serial), 32);
		assert_true(out.serial[0] >= '0' && out.serial[0] <= '7');
		memcpy(serials[i], out.serial, 41);
		pki_issued_fini(&out);
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			assert_string_not_equal(serials[i], serials[j]);
	/* bits are spread: across 150 serials every hex digit appears in
	 * the last position */
	int seen[16] = { 0 };
	for (int i = 0; i < N; i++) {
		char c = serials[i][31];
		seen[c <= '9' ? c - '0' : c - 'a' + 10] = 1;
	}
	int distinct = 0;
	for (int i = 0; i < 16; i++)
		distinct += seen[i];
	assert_true(distinct >= 12);
	/* search finds them */
	struct pki_search q = { .tenant = "t1", .text = "many.example", .status = -1,
				.limit = 1000 };
	assert_int_equal(pki_cert_search(pk, &q, NULL, NULL, &err), N);
	q.limit = 10;
	q.offset = 145;
	assert_int_equal(pki_cert_search(pk, &q, NULL, NULL, &err), 5);
	q.text = "100%_";
	q.offset = 0;
	assert_int_equal(pki_cert_search(pk, &q, NULL, NULL, &err), 0);
}

/* ------------------------------------------------------------ revocation */

static uint8_t *crl_of(const char *ca_id, size_t *len)
{
	struct bw_buf b;
	struct bw_err err;
	bw_buf_init(&b, 1 << 22);
	assert_int_equal(pki_crl_get(pk, ca_id, &b, &err), 0);
	return (uint8_t *)bw_buf_detach(&b, len);
}

static void revocation_and_crl(void **state)
{
	struct pki_issued a, b;
	struct bw_err err;
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:revoked.example.com", &a, &err), 0);
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:kept.example.com", &b, &err), 0);
	size_t len;
	uint8_t *der = crl_of(inter.id, &len);
	const unsigned char *q = der;
	X509_CRL *before = d2i_X509_CRL(NULL, &q, (long)len);
	assert_non_null(before);
	ASN1_INTEGER *n0 = X509_CRL_get_ext_d2i(before, NID_crl_number, NULL, NULL);
	free(der);

	assert_int_equal(pki_revoke(pk, "t1", a.serial, PKI_REASON_SUPERSEDED, &err), 0);
	assert_int_equal(pki_revoke(pk, "t1", a.serial, PKI_REASON_SUPERSEDED, &err), -1);
	assert_int_equal(err.code, 409);
	/* RFC 5280: a reason may be raised to keyCompromise */
	assert_int_equal(pki_revoke(pk, "t1", a.serial, PKI_REASON_KEY_COMPROMISE, &err), 0);
	assert_int_equal(pki_revoke(pk, "t2", b.serial, PKI_REASON_UNSPECIFIED, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(pki_revoke(pk, "t1", b.serial, 7, &err), -1);
	assert_string_equal(err.reason, "bad_reason");
	assert_int_equal(pki_revoke(pk, "t1", "XYZ", 0, &err), -1);
	assert_string_equal(err.reason, "bad_serial");

	der = crl_of(inter.id, &len);
	q = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	ASN1_INTEGER *n1 = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_true(ASN1_INTEGER_get(n1) > ASN1_INTEGER_get(n0));
	AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier,
						    NULL, NULL);
	assert_non_null(aki);
	assert_non_null(aki->keyid);
	AUTHORITY_KEYID_free(aki);
	assert_non_null(X509_CRL_get0_nextUpdate(crl));
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
	assert_int_equal(sk_X509_REVOKED_num(revs), 1);
	X509_REVOKED *rv = sk_X509_REVOKED_value(revs, 0);
	char hex[41];
	const ASN1_INTEGER *rsn = X509_REVOKED_get0_serialNumber(rv);
	pki_serial_hex(ASN1_STRING_get0_data(rsn), (size_t)ASN1_STRING_length(rsn), hex);
	assert_string_equal(hex, a.serial);
	ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
	assert_int_equal(ASN1_ENUMERATED_get(reason), PKI_REASON_KEY_COMPROMISE);
	ASN1_ENUMERATED_free(reason);
	/* signed by the CA */
	struct bw_buf cb;
	bw_buf_init(&cb, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "t1", inter.id, PKI_DER, false, &cb, &err), 0);
	X509 *ix = parse((uint8_t *)cb.data, cb.len);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ix)), 1);
	X509_free(ix);
	bw_buf_fini(&cb);

	/* openssl verify -crl_check with both CRLs */
	char p[160], cmd[160];
	struct bw_buf pem;
	bw_buf_init(&pem, 1 << 20);
	assert_int_equal(pki_append_pem(&pem, "X509 CRL", der, len), 0);
	free(der);
	der = crl_of(root.id, &len);
	assert_int_equal(pki_append_pem(&pem, "X509 CRL", der, len), 0);
	free(der);
	path(p, sizeof(p), "crls.pem");
	tu_write(p, pem.data, pem.len);
	bw_buf_fini(&pem);
	save_pem_cert("revoked.pem", a.der, a.der_len);
	save_pem_cert("kept.pem", b.der, b.der_len);
	bw_snprintf(cmd, sizeof(cmd), "-crl_check_all -CRLfile %s/crls.pem", dir);
	verify_cli("revoked.pem", "sslserver", cmd, false);
	verify_cli("kept.pem", "sslserver", cmd, true);
	char out[1024];
	char full[512];
	bw_snprintf(full, sizeof(full),
		    "openssl verify -crl_check_all -CRLfile %s/crls.pem -CAfile "
		    "%s/root.pem -untrusted %s/inter.pem %s/revoked.pem 2>&1",
		    dir, dir, dir, dir);
	tu_run(full, out, sizeof(out));
	assert_non_null(strstr(out, "certificate revoked"));

	struct pki_cert_info ci;
	assert_int_equal(pki_cert_get(pk, "t1", a.serial, &ci, NULL, &err), 0);
	assert_int_equal(ci.status, PKI_CERT_REVOKED);
	assert_int_equal(ci.revocation_reason, PKI_REASON_KEY_COMPROMISE);
	assert_true(ci.revoked_at > 0);
	struct pki_search s = { .tenant = "t1", .status = PKI_CERT_REVOKED };
	assert_int_equal(pki_cert_search(pk, &s, NULL, NULL, &err), 1);

	ASN1_INTEGER_free(n0);
	ASN1_INTEGER_free(n1);
	X509_CRL_free(before);
	X509_CRL_free(crl);
	pki_issued_fini(&a);
	pki_issued_fini(&b);
}

/* ------------------------------------------------------------ OCSP */

static X509 *load_pem(const char *name)
{
	char p[160];
	path(p, sizeof(p), name);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static uint8_t *ocsp_req(X509 *leaf, X509 *issuer, const EVP_MD *md, bool nonce,
			 size_t *len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(md, leaf, issuer);
	assert_non_null(OCSP_request_add0_id(req, id));
	if (nonce)
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
	unsigned char *der = NULL;
	int n = i2d_OCSP_REQUEST(req, &der);
	OCSP_REQUEST_free(req);
	uint8_t *out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return out;
}

/* Verifies a response like a client and returns the certificate status
 * (V_OCSP_CERTSTATUS_*), or -status-100 for a non-successful response. */
static int ocsp_check(const struct bw_buf *resp, X509 *leaf, X509 *issuer,
		      const EVP_MD *md, const uint8_t *reqder, size_t reqlen,
		      int *reason)
{
	const unsigned char *q = (const unsigned char *)resp->data;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &q, (long)resp->len);
	assert_non_null(r);
	int rs = OCSP_response_status(r);
	if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		OCSP_RESPONSE_free(r);
		return -100 - rs;
	}
	OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);
	X509_STORE *store = X509_STORE_new();
	X509 *rootx = load_pem("root.pem");
	X509_STORE_add_cert(store, rootx);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, issuer);
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)bw_clock_now_s());
	if (OCSP_basic_verify(bs, untrusted, store, 0) != 1)
		fail_msg("OCSP response does not verify");
	if (reqder) {
		q = reqder;
		OCSP_REQUEST *rq = d2i_OCSP_REQUEST(NULL, &q, (long)reqlen);
		int nc = OCSP_check_nonce(rq, bs);
		OCSP_REQUEST_free(rq);
		assert_int_equal(nc, 1); /* nonce present and equal */
	}
	OCSP_CERTID *id = OCSP_cert_to_id(md, leaf, issuer);
	int status = -1, rsn = -1;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
	assert_int_equal(OCSP_resp_find_status(bs, id, &status, &rsn, &rev, &thisu, &nextu), 1);
	assert_non_null(nextu);
	/* OCSP_check_validity reads the real clock; these tests move ours */
	time_t now = (time_t)bw_clock_now_s();
	assert_true(ASN1_TIME_cmp_time_t(thisu, now + 300) <= 0);
	assert_true(ASN1_TIME_cmp_time_t(nextu, now) > 0);
	if (reason)
		*reason = rsn;
	OCSP_CERTID_free(id);
	sk_X509_free(untrusted);
	X509_free(rootx);
	X509_STORE_free(store);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
	return status;
}

static int answer(const char *ca_id, const uint8_t *req, size_t len,
		  struct bw_buf *out, bool *hit)
{
	struct bw_err err;
	bw_buf_reset(out);
	int rc = pki_ocsp_lookup(pk, ca_id, req, len, out, &err);
	assert_true(rc >= 0);
	*hit = rc == 1;
	if (rc == 0)
		assert_int_equal(pki_ocsp_respond(pk, ca_id, req, len, out, &err), 0);
	return 0;
}

static void ocsp_statuses(void **state)
{
	X509 *issuer = load_pem("inter.pem");
	X509 *good = load_pem("kept.pem"), *revoked = load_pem("revoked.pem");
	struct bw_buf out;
	bw_buf_init(&out, 1 << 16);
	bool hit;
	size_t len;
	int reason;

	/* good, from the cache (pre-signed at issuance), no nonce */
	uint8_t *req = ocsp_req(good, issuer, EVP_sha1(), false, &len);
	answer(inter.id, req, len, &out, &hit);
	assert_true(hit);
	assert_int_equal(ocsp_check(&out, good, issuer, EVP_sha1(), NULL, 0, NULL),
			 V_OCSP_CERTSTATUS_GOOD);
	free(req);

	/* revoked with its reason, and with a nonce: signed fresh */
	req = ocsp_req(revoked, issuer, EVP_sha1(), true, &len);
	answer(inter.id, req, len, &out, &hit);
	assert_false(hit);
	assert_int_equal(ocsp_check(&out, revoked, issuer, EVP_sha1(), req, len, &reason),
			 V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, PKI_REASON_KEY_COMPROMISE);
	free(req);

	/* SHA-256 CertID: signed on the first miss, cached after */
	req = ocsp_req(good, issuer, EVP_sha256(), false, &len);
	answer(inter.id, req, len, &out, &hit);
	assert_false(hit);
	assert_int_equal(ocsp_check(&out, good, issuer, EVP_sha256(), NULL, 0, NULL),
			 V_OCSP_CERTSTATUS_GOOD);
	answer(inter.id, req, len, &out, &hit);
	assert_true(hit);
	free(req);

	/* unknown: a certificate the CA never issued (same issuer name and
	 * key, another serial) */
	X509 *fake = X509_dup(good);
	ASN1_INTEGER_set(X509_get_serialNumber(fake), 12345);
	req = ocsp_req(fake, issuer, EVP_sha1(), false, &len);
	answer(inter.id, req, len, &out, &hit);
	assert_false(hit);
	assert_int_equal(ocsp_check(&out, fake, issuer, EVP_sha1(), NULL, 0, NULL),
			 V_OCSP_CERTSTATUS_UNKNOWN);
	free(req);
	X509_free(fake);

	/* a CertID of another issuer sent to this CA's URL: unauthorized */
	X509 *rootx = load_pem("root.pem");
	req = ocsp_req(issuer, rootx, EVP_sha1(), false, &len);
	answer(inter.id, req, len, &out, &hit);
	assert_true(hit);
	assert_int_equal(ocsp_check(&out, NULL, NULL, NULL, NULL, 0, NULL),
			 -100 - OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	/* ...and to the right one it is good (the intermediate is in the
	 * root's inventory) */
	answer(root.id, req, len, &out, &hit);
	free(req);
	X509_free(rootx);

	/* garbage: malformedRequest */
	answer(inter.id, (const uint8_t *)"\x30\x03\x02\x01\x01", 5, &out, &hit);
	assert_true(hit);
	assert_int_equal(ocsp_check(&out, NULL, NULL, NULL, NULL, 0, NULL),
			 -100 - OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	struct pki_stats s;
	pki_stats_get(pk, &s);
	assert_true(s.ocsp_cache_hits >= 2);
	assert_true(s.ocsp_malformed >= 1);
	assert_true(s.ocsp_unauthorized >= 1);
	assert_true(s.ocsp_unknown >= 1);

	bw_buf_fini(&out);
	X509_free(issuer);
	X509_free(good);
	X509_free(revoked);
}

static void ocsp_request_parser_refuses_hostile_requests(void **state)
{
	X509 *issuer = load_pem("inter.pem"), *good = load_pem("kept.pem");
	struct pki_ocsp_req r;
	struct bw_err err;
	/* two CertIDs */
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, OCSP_cert_to_id(NULL, good, issuer));
	OCSP_request_add0_id(req, OCSP_cert_to_id(NULL, good, issuer));
	unsigned char *der = NULL;
	int n = i2d_OCSP_REQUEST(req, &der);
	assert_int_equal(pki_ocsp_req_parse(der, (size_t)n, &r, &err), -1);
	assert_string_equal(err.reason, "ocsp_count");
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	/* a nonce of 33 bytes */
	req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, OCSP_cert_to_id(NULL, good, issuer));
	unsigned char big[33] = { 0 };
	OCSP_request_add1_nonce(req, big, 33);
	der = NULL;
	n = i2d_OCSP_REQUEST(req, &der);
	assert_int_equal(pki_ocsp_req_parse(der, (size_t)n, &r, &err), -1);
	assert_string_equal(err.reason, "ocsp_nonce");
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	/* an unknown critical extension */
	req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, OCSP_cert_to_id(NULL, good, issuer));
	ASN1_NULL *nul = ASN1_NULL_new();
	X509_EXTENSION *ext = X509V3_EXT_i2d(NID_id_pkix_OCSP_noCheck, 1, nul);
	OCSP_REQUEST_add_ext(req, ext, -1);
	der = NULL;
	n = i2d_OCSP_REQUEST(req, &der);
	assert_int_equal(pki_ocsp_req_parse(der, (size_t)n, &r, &err), -1);
	assert_string_equal(err.reason, "ocsp_critical");
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	X509_EXTENSION_free(ext);
	ASN1_NULL_free(nul);
	/* an MD5 CertID */
	req = OCSP_REQUEST_new();
	OCSP_request_add0_id(req, OCSP_cert_to_id(EVP_md5(), good, issuer));
	der = NULL;
	n = i2d_OCSP_REQUEST(req, &der);
	assert_int_equal(pki_ocsp_req_parse(der, (size_t)n, &r, &err), -1);
	assert_string_equal(err.reason, "ocsp_hash");
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	/* oversize and empty */
	uint8_t junk[PKI_OCSP_REQ_MAX + 1] = { 0x30 };
	assert_int_equal(pki_ocsp_req_parse(junk, sizeof(junk), &r, &err), -1);
	assert_int_equal(pki_ocsp_req_parse(junk, 0, &r, &err), -1);
	X509_free(issuer);
	X509_free(good);
}

/* The fast request parser takes the plain RFC 5019 shape (SHA-1 and
 * SHA-256 CertIDs) with the full parser's fields, and leaves everything
 * else (nonce, two CertIDs, MD5, trailing bytes) to the full parser. */
static void ocsp_fast_path_agrees_with_the_full_parser(void **state)
{
	X509 *issuer = load_pem("inter.pem"), *good = load_pem("kept.pem");
	struct pki_ocsp_req f, r;
	struct bw_err err;
	const EVP_MD *mds[] = { NULL, EVP_sha256(), EVP_md5() };
	for (int k = 0; k < 6; k++) {
		OCSP_REQUEST *req = OCSP_REQUEST_new();
		OCSP_request_add0_id(req, OCSP_cert_to_id(mds[k % 3], good, issuer));
		if (k >= 3)
			OCSP_request_add1_nonce(req, NULL, -1);
		unsigned char *der = NULL;
		int n = i2d_OCSP_REQUEST(req, &der);
		bool fast = pki_ocsp_req_fast(der, (size_t)n, &f);
		assert_int_equal(fast, k < 2);
		if (fast) {
			assert_int_equal(pki_ocsp_req_parse(der, (size_t)n, &r, &err), 0);
			assert_int_equal(f.hash_nid, r.hash_nid);
			assert_int_equal(f.serial_len, r.serial_len);
			assert_memory_equal(f.serial, r.serial, r.serial_len);
			assert_memory_equal(f.name_hash, r.name_hash, r.name_hash_len);
			assert_memory_equal(f.key_hash, r.key_hash, r.key_hash_len);
			pki_ocsp_req_fini(&r);
			/* one byte more, one byte less: not the fast shape */
			uint8_t buf[512];
			memcpy(buf, der, (size_t)n);
			buf[n] = 0;
			assert_false(pki_ocsp_req_fast(buf, (size_t)n + 1, &f));
			assert_false(pki_ocsp_req_fast(buf, (size_t)n - 1, &f));
		}
		OPENSSL_free(der);
		OCSP_REQUEST_free(req);
	}
	X509_free(issuer);
	X509_free(good);
}

static void openssl_ocsp_client_accepts_our_responses(void **state)
{
	/* `openssl ocsp` builds the request and checks our response:
	 * signature, responder certificate chain, status. (With -cert it
	 * rebuilds the request instead of reading -reqin, so the nonce echo
	 * is checked by the HTTP test, where it talks to the responder.) */
	const struct {
		const char *cert;
		const char *want;
	} cases[] = { { "kept.pem", "kept.pem: good" },
		      { "revoked.pem", "revoked.pem: revoked" } };
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		char cmd[1024], out[4096];
		bw_snprintf(cmd, sizeof(cmd),
			    "cd %s && openssl ocsp -issuer inter.pem -cert %s -reqout req.der "
			    ">/dev/null 2>&1", dir, cases[i].cert);
		assert_int_equal(tu_run(cmd, NULL, 0), 0);
		char p[160];
		path(p, sizeof(p), "req.der");
		size_t len;
		uint8_t *req = tu_read(p, &len);
		assert_non_null(req);
		struct bw_buf resp;
		bool hit;
		bw_buf_init(&resp, 1 << 16);
		answer(inter.id, req, len, &resp, &hit);
		path(p, sizeof(p), "resp.der");
		tu_write(p, resp.data, resp.len);
		bw_buf_fini(&resp);
		free(req);
		bw_snprintf(cmd, sizeof(cmd),
			    "cd %s && openssl ocsp -reqin req.der -respin resp.der "
			    "-issuer inter.pem -cert %s -CAfile root.pem -verify_other "
			    "inter.pem -no_nonce 2>&1", dir, cases[i].cert);
		int rc = tu_run(cmd, out, sizeof(out));
		if (rc != 0 || !strstr(out, "Response verify OK") ||
		    !strstr(out, cases[i].want) || strstr(out, "WARNING"))
			fail_msg("%s -> %d:\n%s", cmd, rc, out);
	}
}

/* ------------------------------------------------------------ offline */

static void offline_root_flow(void **state)
{
	struct bw_err err;
	struct pki_ca_info off, offroot;
	struct pki_ca_spec es = { .tenant = "t1", .name = "offline-int",
				  .subject = "CN=Offline Issued Intermediate",
				  .key_type = PKI_KEY_EC_P256, .external = true,
				  .path_len = 0 };
	assert_int_equal(pki_ca_create(pk, &es, &off, &err), 0);
	assert_int_equal(off.state, PKI_CA_PENDING);
	/* a pending CA cannot issue */
	const char *dns[] = { "x.example.com" };
	struct pki_issue_req r = { .tenant = "t1", .ca_id = off.id,
				   .profile = PKI_PROFILE_TLS_SERVER,
				   .gen_key = PKI_KEY_EC_P256, .dns = dns, .ndns = 1 };
	struct pki_issued out;
	assert_int_equal(pki_issue(pk, &r, &out, &err), -1);
	assert_string_equal(err.reason, "ca_not_active");
	struct bw_buf csr;
	bw_buf_init(&csr, 1 << 16);
	assert_int_equal(pki_ca_csr_pem(pk, "t1", off.id, &csr, &err), 0);
	assert_non_null(strstr(csr.data, "BEGIN CERTIFICATE REQUEST"));

	/* The offline root: another tenant's root here, standing in for an
	 * air-gapped bulwark. It signs the request as a subordinate CA. */
	struct pki_ca_spec rs = { .tenant = "vault", .name = "offline-root",
				  .subject = "CN=Offline Root", .key_type = PKI_KEY_EC_P384,
				  .path_len = -1 };
	assert_int_equal(pki_ca_create(pk, &rs, &offroot, &err), 0);
	struct pki_issue_req sr = { .tenant = "vault", .ca_id = offroot.id,
				    .profile = PKI_PROFILE_SUB_CA, .csr = csr.data,
				    .csr_len = csr.len, .path_len = 0,
				    .validity_s = 5 * 365 * 86400LL, .skip_policy = true };
	struct pki_issued sub;
	if (pki_issue(pk, &sr, &sub, &err) < 0)
		fail_msg("sub-ca: %s", err.msg);
	struct bw_buf chain;
	bw_buf_init(&chain, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "vault", offroot.id, PKI_PEM, false, &chain, &err), 0);

	/* wrong certificates are refused */
	struct pki_issued leaf;
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:a.example.com", &leaf, &err), 0);
	assert_int_equal(pki_ca_import_cert(pk, "t1", off.id, (char *)leaf.der,
					    leaf.der_len, NULL, 0, &err), -1);
	assert_string_equal(err.reason, "key_mismatch");
	pki_issued_fini(&leaf);
	struct bw_buf wrongchain;
	bw_buf_init(&wrongchain, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "t1", root.id, PKI_PEM, false, &wrongchain, &err), 0);
	assert_int_equal(pki_ca_import_cert(pk, "t1", off.id, (char *)sub.der, sub.der_len,
					    wrongchain.data, wrongchain.len, &err), -1);
	assert_string_equal(err.reason, "bad_chain");
	bw_buf_fini(&wrongchain);

	assert_int_equal(pki_ca_import_cert(pk, "t1", off.id, (char *)sub.der, sub.der_len,
					    chain.data, chain.len, &err), 0);
	assert_int_equal(pki_ca_import_cert(pk, "t1", off.id, (char *)sub.der, sub.der_len,
					    chain.data, chain.len, &err), -1);
	assert_string_equal(err.reason, "not_pending");
	assert_int_equal(pki_ca_get(pk, "t1", off.id, &off, &err), 0);
	assert_int_equal(off.state, PKI_CA_ACTIVE);

	/* and now it issues, and the chain verifies to the offline root */
	if (pki_issue(pk, &r, &out, &err) < 0)
		fail_msg("issue under imported CA: %s", err.msg);
	struct bw_buf full;
	bw_buf_init(&full, 1 << 16);
	assert_int_equal(pki_cert_export(pk, "t1", out.serial, PKI_PEM, true, &full, &err), 0);
	char p[160], cmd[512], o[1024];
	path(p, sizeof(p), "offchain.pem");
	tu_write(p, full.data, full.len);
	path(p, sizeof(p), "offroot.pem");
	tu_write(p, chain.data, chain.len);
	bw_snprintf(cmd, sizeof(cmd),
		    "openssl verify -CAfile %s/offroot.pem -untrusted %s/offchain.pem "
		    "-purpose sslserver %s/offchain.pem 2>&1", dir, dir, dir);
	if (tu_run(cmd, o, sizeof(o)) != 0)
		fail_msg("%s", o);
	bw_buf_fini(&full);
	bw_buf_fini(&chain);
	bw_buf_fini(&csr);
	pki_issued_fini(&out);
	pki_issued_fini(&sub);
}

/* ------------------------------------------------------------ schedule */

static void schedule_and_restart(void **state)
{
	struct bw_err err;
	struct pki_ca_info before, after;
	assert_int_equal(pki_ca_get(pk, "t1", inter.id, &before, &err), 0);
	/* nothing is due yet */
	assert_int_equal(pki_tick(pk, &err), 0);
	assert_int_equal(pki_ca_get(pk, "t1", inter.id, &after, &err), 0);
	assert_int_equal(after.crl_number, before.crl_number);
	/* past half the CRL's validity it is regenerated, and responses
	 * older than the refresh interval are re-signed */
	bw_clock_set(bw_clock_now_ns() + (int64_t)4 * 86400 * 1000000000LL);
	struct pki_stats s0, s1;
	pki_stats_get(pk, &s0);
	assert_int_equal(pki_tick(pk, &err), 0);
	pki_stats_get(pk, &s1);
	assert_int_equal(pki_ca_get(pk, "t1", inter.id, &after, &err), 0);
	assert_int_equal(after.crl_number, before.crl_number + 1);
	assert_true(s1.ocsp_signed > s0.ocsp_signed);

	/* restart: everything comes back from the store */
	size_t cached = s1.ocsp_cache_entries;
	pki_free(pk);
	pk = open_pki(&err);
	assert_non_null(pk);
	assert_int_equal(pki_ca_get(pk, "t1", inter.id, &after, &err), 0);
	assert_int_equal(after.crl_number, before.crl_number + 1);
	assert_int_equal(after.state, PKI_CA_ACTIVE);
	struct pki_stats s2;
	pki_stats_get(pk, &s2);
	/* the first tick pre-signed every known certificate again */
	assert_true(s2.ocsp_cache_entries + 10 >= cached);
	struct pki_issued out;
	assert_int_equal(issue_csr(PKI_PROFILE_TLS_SERVER, leafkey, NULL,
				   "DNS:after.example.com", &out, &err), 0);
	pki_issued_fini(&out);
	/* 21 days on, the OCSP responder certificate (30 days) is replaced */
	X509 *issuer = load_pem("inter.pem"), *good = load_pem("kept.pem");
	size_t len;
	uint8_t *req = ocsp_req(good, issuer, EVP_sha1(), false, &len);
	bw_clock_set(bw_clock_now_ns() + (int64_t)21 * 86400 * 1000000000LL);
	assert_int_equal(pki_tick(pk, &err), 0);
	struct bw_buf o;
	bool hit;
	bw_buf_init(&o, 1 << 16);
	answer(inter.id, req, len, &o, &hit);
	assert_int_equal(ocsp_check(&o, good, issuer, EVP_sha1(), NULL, 0, NULL),
			 V_OCSP_CERTSTATUS_GOOD);
	bw_buf_fini(&o);
	free(req);
	X509_free(issuer);
	X509_free(good);
	bw_clock_set(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hierarchy_is_built_and_verifies),
		cmocka_unit_test(tls_server_certificate_field_by_field),
		cmocka_unit_test(other_profiles),
		cmocka_unit_test(refusals),
		cmocka_unit_test(csr_with_the_ca_key_is_refused),
		cmocka_unit_test(serials_are_unique_and_random),
		cmocka_unit_test(revocation_and_crl),
		cmocka_unit_test(ocsp_statuses),
		cmocka_unit_test(ocsp_request_parser_refuses_hostile_requests),
		cmocka_unit_test(ocsp_fast_path_agrees_with_the_full_parser),
		cmocka_unit_test(openssl_ocsp_client_accepts_our_responses),
		cmocka_unit_test(offline_root_flow),
		cmocka_unit_test(schedule_and_restart),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
