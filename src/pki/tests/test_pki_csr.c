/*
 * CSR parsing and validation, name syntax, and tenant policy — without a
 * store: honest requests of every accepted key type, and hostile ones
 * (bad signatures, weak and unsupported keys, explicit curves, oversize
 * input, trailing bytes, bad and disallowed names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pki/pki_int.h"
#include "pki/tests/pki_test_util.h"

static EVP_PKEY *p256, *p384, *ed, *rsa2048;

static int setup(void **state)
{
	struct bw_err err;
	p256 = pki_key_generate(PKI_KEY_EC_P256, &err);
	p384 = pki_key_generate(PKI_KEY_EC_P384, &err);
	ed = pki_key_generate(PKI_KEY_ED25519, &err);
	rsa2048 = pki_key_generate(PKI_KEY_RSA_2048, &err);
	return p256 && p384 && ed && rsa2048 ? 0 : -1;
}

static int teardown(void **state)
{
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(rsa2048);
	return 0;
}

static void csr_of_each_key_type_parses(void **state)
{
	struct {
		EVP_PKEY *k;
		const EVP_MD *md;
		enum pki_key_type t;
	} cases[] = {
		{ p256, EVP_sha256(), PKI_KEY_EC_P256 },
		{ p384, EVP_sha384(), PKI_KEY_EC_P384 },
		{ ed, NULL, PKI_KEY_ED25519 },
		{ rsa2048, EVP_sha256(), PKI_KEY_RSA_2048 },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		size_t len;
		unsigned char *der = tu_csr(cases[i].k, "www.example.com",
					    "DNS:www.example.com,DNS:API.Example.com,"
					    "IP:10.1.2.3,IP:2001:db8::1,"
					    "URI:spiffe://example.org/ns/prod/sa/web",
					    cases[i].md, &len);
		struct pki_csr c;
		struct bw_err err;
		assert_int_equal(pki_csr_parse((char *)der, len, 0, &c, &err), 0);
		assert_int_equal(c.key_type, cases[i].t);
		assert_string_equal(c.cn, "www.example.com");
		assert_int_equal(c.names.n, 5);
		assert_true(pki_names_has(&c.names, PKI_NAME_DNS, "api.example.com"));
		assert_true(pki_names_has(&c.names, PKI_NAME_IP, "10.1.2.3"));
		assert_true(pki_names_has(&c.names, PKI_NAME_IP, "2001:db8::1"));
		assert_true(pki_names_has(&c.names, PKI_NAME_URI,
					  "spiffe://example.org/ns/prod/sa/web"));
		pki_csr_fini(&c);
		/* the same as PEM */
		size_t plen;
		char *pem = tu_pem(der, len, "CERTIFICATE REQUEST", &plen);
		assert_int_equal(pki_csr_parse(pem, plen, 0, &c, &err), 0);
		assert_int_equal(c.names.n, 5);
		pki_csr_fini(&c);
		free(pem);
		free(der);
	}
}

static void csr_with_bad_signature_is_refused(void **state)
{
	size_t len;
	unsigned char *der = tu_csr(p256, "a.example.com", "DNS:a.example.com",
				    EVP_sha256(), &len);
	/* The signature is the last bytes of the DER: flip one. */
	der[len - 3] ^= 0x01;
	struct pki_csr c;
	struct bw_err err;
	assert_int_equal(pki_csr_parse((char *)der, len, 0, &c, &err), -1);
	assert_int_equal(err.code, 400);
	assert_string_equal(err.reason, "csr_signature");
	free(der);

	/* a CSR signed by another key than the one it carries */
	X509_REQ *req = X509_REQ_new();
	X509_REQ_set_version(req, X509_REQ_VERSION_1);
	X509_REQ_set_pubkey(req, p256);
	X509_REQ_sign(req, p384, EVP_sha256());
	unsigned char *d2 = NULL;
	int l2 = i2d_X509_REQ(req, &d2);
	assert_int_equal(pki_csr_parse((char *)d2, (size_t)l2, 0, &c, &err), -1);
	assert_string_equal(err.reason, "csr_signature");
	OPENSSL_free(d2);
	X509_REQ_free(req);
}

static void weak_and_unsupported_keys_are_refused(void **state)
{
	struct bw_err err;
	EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *rsa_e3 = NULL;
	BIGNUM *e3 = BN_new();
	BN_set_word(e3, 3);
	assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
	EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048);
	EVP_PKEY_CTX_set1_rsa_keygen_pubexp(kc, e3);
	assert_int_equal(EVP_PKEY_keygen(kc, &rsa_e3), 1);
	struct {
		EVP_PKEY *k;
		const EVP_MD *md;
		const char *reason;
	} cases[] = {
		{ rsa1024, EVP_sha256(), "key_weak" },
		{ p521, EVP_sha512(), "key_type" },
		{ ed448, NULL, "key_type" },
		{ rsa_e3, EVP_sha256(), "rsa_exponent" },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		size_t len;
		unsigned char *der = tu_csr(cases[i].k, "a.example.com", NULL,
					    cases[i].md, &len);
		struct pki_csr c;
		assert_int_equal(pki_csr_parse((char *)der, len, 0, &c, &err), -1);
		assert_int_equal(err.code, 400);
		assert_string_equal(err.reason, cases[i].reason);
		free(der);
	}
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(ed448);
	EVP_PKEY_free(rsa_e3);
	EVP_PKEY_CTX_free(kc);
	BN_free(e3);
}

static void explicit_curve_parameters_are_refused(void **state)
{
	/* The same P-256 key encoded with explicit domain parameters: a
	 * requester could otherwise smuggle in a curve of its choosing. */
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string("group", "P-256", 0),
		OSSL_PARAM_utf8_string("encoding", "explicit", 0),
		OSSL_PARAM_END,
	};
	assert_int_equal(EVP_PKEY_keygen_init(c), 1);
	assert_int_equal(EVP_PKEY_CTX_set_params(c, params), 1);
	assert_int_equal(EVP_PKEY_keygen(c, &k), 1);
	size_t len;
	unsigned char *der = tu_csr(k, "a.example.com", NULL, EVP_sha256(), &len);
	struct pki_csr csr;
	struct bw_err err;
	assert_int_equal(pki_csr_parse((char *)der, len, 0, &csr, &err), -1);
	assert_string_equal(err.reason, "ec_explicit");
	free(der);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
}

static void oversize_garbage_and_trailing_bytes_are_refused(void **state)
{
	struct pki_csr c;
	struct bw_err err;
	char *big = calloc(1, PKI_CSR_MAX_HARD + 1);
	assert_int_equal(pki_csr_parse(big, PKI_CSR_MAX_HARD + 1, 0, &c, &err), -1);
	assert_int_equal(err.code, 413);
	assert_int_equal(pki_csr_parse(big, 2000, 1000, &c, &err), -1);
	assert_int_equal(err.code, 413);
	free(big);
	assert_int_equal(pki_csr_parse("", 0, 0, &c, &err), -1);
	assert_int_equal(pki_csr_parse("hello", 5, 0, &c, &err), -1);
	assert_string_equal(err.reason, "csr_parse");
	assert_int_equal(pki_csr_parse("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
				       "-----END CERTIFICATE REQUEST-----\n",
				       72, 0, &c, &err),
			 -1);
	size_t len;
	unsigned char *der = tu_csr(p256, "a.example.com", NULL, EVP_sha256(), &len);
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(pki_csr_parse((char *)longer, len + 1, 0, &c, &err), -1);
	assert_string_equal(err.reason, "csr_parse");
	/* truncated */
	assert_int_equal(pki_csr_parse((char *)der, len - 1, 0, &c, &err), -1);
	free(longer);
	free(der);
}

static void bad_names_in_csr_are_refused(void **state)
{
	const char *bad[] = {
		"DNS:bad_name.example.com", "DNS:-lead.example.com",
		"DNS:trail-.example.com",   "DNS:a..example.com",
		"DNS:example.com.",         "DNS:1.2.3.4",
		"DNS:*.com",                "DNS:a.*.example.com",
		"email:someone@example.com", "URI:spiffe://Example.org/x",
		"URI:spiffe://example.org", "URI:spiffe://example.org/a/../b",
		"URI:spiffe://example.org/a//b", "URI:no-scheme",
		"RID:1.2.3.4",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		size_t len;
		unsigned char *der = tu_csr(p256, NULL, bad[i], EVP_sha256(), &len);
		struct pki_csr c;
		struct bw_err err;
		int rc = pki_csr_parse((char *)der, len, 0, &c, &err);
		if (rc == 0)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(err.code, 400);
		free(der);
	}
	/* too many names */
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	for (int i = 0; i <= PKI_SANS_MAX; i++)
		assert_int_equal(bw_buf_printf(&b, "%sDNS:h%d.example.com", i ? "," : "", i), 0);
	size_t len;
	unsigned char *der = tu_csr(p256, NULL, b.data, EVP_sha256(), &len);
	struct pki_csr c;
	struct bw_err err;
	assert_int_equal(pki_csr_parse((char *)der, len, 0, &c, &err), -1);
	assert_string_equal(err.reason, "too_many_names");
	free(der);
	bw_buf_fini(&b);
	/* a name longer than a DNS name may be */
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "DNS:", 4);
	memcpy(longname + sizeof(longname) - 5, ".com", 5);
	der = tu_csr(p256, NULL, longname, EVP_sha256(), &len);
	assert_int_equal(pki_csr_parse((char *)der, len, 0, &c, &err), -1);
	free(der);
}

static void two_common_names_are_refused(void **state)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
				   (const unsigned char *)"a.example.com", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
				   (const unsigned char *)"evil.example.net", -1, -1, 0);
	X509_REQ_set_version(req, X509_REQ_VERSION_1);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, p256);
	X509_REQ_sign(req, p256, EVP_sha256());
	unsigned char *der = NULL;
	int l = i2d_X509_REQ(req, &der);
	struct pki_csr c;
	struct bw_err err;
	assert_int_equal(pki_csr_parse((char *)der, (size_t)l, 0, &c, &err), -1);
	assert_string_equal(err.reason, "csr_subject");
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(req);
}

static void names_are_normalised_and_deduplicated(void **state)
{
	struct pki_names n = { .n = 0 };
	struct bw_err err;
	assert_int_equal(pki_names_add(&n, PKI_NAME_DNS, "WWW.Example.COM", 15, &err), 0);
	assert_int_equal(pki_names_add(&n, PKI_NAME_DNS, "www.example.com", 15, &err), 0);
	assert_int_equal(n.n, 1);
	assert_string_equal(n.v[0].text, "www.example.com");
	assert_int_equal(pki_names_add(&n, PKI_NAME_IP, "::ffff:10.0.0.1", 15, &err), 0);
	assert_int_equal(n.v[1].iplen, 16);
	assert_int_equal(pki_names_add(&n, PKI_NAME_IP, "10.0.0.256", 10, &err), -1);
	assert_int_equal(pki_names_add(&n, PKI_NAME_IP, "fe80::1%eth0", 12, &err), -1);
	assert_int_equal(pki_names_add(&n, PKI_NAME_DNS, "a\0b.com", 7, &err), -1);
	pki_names_fini(&n);
}

static const char policy_json[] =
	"{\"dns\":[\"example.com\",\"*.apps.example.com\",\".corp.example.com\"],"
	"\"ip\":[\"10.0.0.0/8\",\"2001:db8::/32\"],"
	"\"uri\":[\"spiffe://example.org/ns/prod/\"],"
	"\"cn\":[\"Example Code Signing*\"],"
	"\"key_types\":[\"ec-p256\",\"ed25519\",\"rsa-2048\"],"
	"\"max_validity_s\":864000}";

static int check_name(const struct pki_policy *pol, enum pki_name_type t,
		      const char *s)
{
	struct pki_names n = { .n = 0 };
	struct bw_err err;
	assert_int_equal(pki_names_add(&n, t, s, strlen(s), &err), 0);
	int rc = pki_policy_check(pol, PKI_PROFILE_TLS_SERVER, PKI_KEY_EC_P256, NULL,
				  &n, 3600, &err);
	if (rc < 0)
		assert_int_equal(err.code, 403);
	pki_names_fini(&n);
	return rc;
}

static void policy_allows_only_what_it_names(void **state)
{
	struct pki_policy pol;
	struct bw_err err;
	assert_int_equal(pki_policy_parse(policy_json, sizeof(policy_json) - 1, &pol, &err),
			 0);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "example.com"), 0);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "www.example.com"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "shop.apps.example.com"), 0);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "a.b.apps.example.com"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "apps.example.com"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "*.apps.example.com"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "x.y.corp.example.com"), 0);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "corp.example.com"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "evilcorp.example.com"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_DNS, "example.com.evil.net"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_IP, "10.200.3.4"), 0);
	assert_int_equal(check_name(&pol, PKI_NAME_IP, "11.0.0.1"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_IP, "2001:db8:ffff::1"), 0);
	assert_int_equal(check_name(&pol, PKI_NAME_IP, "2001:db9::1"), -1);
	assert_int_equal(check_name(&pol, PKI_NAME_URI, "spiffe://example.org/ns/prod/sa/x"), 0);
	assert_int_equal(check_name(&pol, PKI_NAME_URI, "spiffe://example.org/ns/dev/sa/x"), -1);

	/* wildcards only with allow_wildcards */
	struct pki_policy wp;
	const char wj[] = "{\"dns\":[\"*.apps.example.com\"],\"allow_wildcards\":true}";
	assert_int_equal(pki_policy_parse(wj, sizeof(wj) - 1, &wp, &err), 0);
	assert_int_equal(check_name(&wp, PKI_NAME_DNS, "*.apps.example.com"), 0);
	assert_int_equal(check_name(&wp, PKI_NAME_DNS, "*.example.com"), -1);
	pki_policy_fini(&wp);

	struct pki_names none = { .n = 0 };
	/* key type, validity, CN */
	assert_int_equal(pki_policy_check(&pol, PKI_PROFILE_TLS_SERVER, PKI_KEY_EC_P384,
					  NULL, &none, 3600, &err), -1);
	assert_string_equal(err.reason, "policy");
	assert_int_equal(pki_policy_check(&pol, PKI_PROFILE_TLS_SERVER, PKI_KEY_EC_P256,
					  NULL, &none, 864001, &err), -1);
	assert_int_equal(pki_policy_check(&pol, PKI_PROFILE_CODE_SIGNING, PKI_KEY_EC_P256,
					  "Example Code Signing 2026", &none, 3600, &err), 0);
	assert_int_equal(pki_policy_check(&pol, PKI_PROFILE_CODE_SIGNING, PKI_KEY_EC_P256,
					  "Someone Else", &none, 3600, &err), -1);
	pki_policy_fini(&pol);

	/* an empty policy allows no name */
	struct pki_policy empty;
	assert_int_equal(pki_policy_parse("{}", 2, &empty, &err), 0);
	assert_int_equal(check_name(&empty, PKI_NAME_DNS, "example.com"), -1);
	pki_policy_fini(&empty);
}

static void malformed_policies_are_refused(void **state)
{
	const char *bad[] = {
		"[]",
		"{\"dns\":\"example.com\"}",
		"{\"dns\":[\"exa mple.com\"]}",
		"{\"dns\":[\"*.com\"]}",
		"{\"ip\":[\"10.0.0.0/33\"]}",
		"{\"ip\":[\"banana\"]}",
		"{\"key_types\":[\"rsa-1024\"]}",
		"{\"profiles\":[\"sub-ca\"]}",
		"{\"max_validity_s\":-1}",
		"{\"max_validity_s\":1.5}",
		"{\"allow_wildcards\":\"yes\"}",
		"{\"domains\":[\"example.com\"]}",
		"{\"dns\":[\"a.example.com\"],\"dns\":[\"b.example.com\"]}",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		struct pki_policy pol;
		struct bw_err err;
		if (pki_policy_parse(bad[i], strlen(bad[i]), &pol, &err) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_true(err.code == 400 || err.code == 413);
	}
}

static void subjects_parse_strictly(void **state)
{
	struct bw_err err;
	X509_NAME *n = pki_subject_parse("CN=Example Root CA,O=Example,C=DE", &err);
	assert_non_null(n);
	char buf[256];
	X509_NAME_oneline(n, buf, sizeof(buf));
	assert_string_equal(buf, "/CN=Example Root CA/O=Example/C=DE");
	X509_NAME_free(n);
	const char *bad[] = { "", "O=No CN", "CN=", "XX=bad", "CN=a,C=DEU",
			      "CN=a\nb", "CN" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		n = pki_subject_parse(bad[i], &err);
		if (n)
			fail_msg("accepted %s", bad[i]);
		assert_string_equal(err.reason, "bad_subject");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csr_of_each_key_type_parses),
		cmocka_unit_test(csr_with_bad_signature_is_refused),
		cmocka_unit_test(weak_and_unsupported_keys_are_refused),
		cmocka_unit_test(explicit_curve_parameters_are_refused),
		cmocka_unit_test(oversize_garbage_and_trailing_bytes_are_refused),
		cmocka_unit_test(bad_names_in_csr_are_refused),
		cmocka_unit_test(two_common_names_are_refused),
		cmocka_unit_test(names_are_normalised_and_deduplicated),
		cmocka_unit_test(policy_allows_only_what_it_names),
		cmocka_unit_test(malformed_policies_are_refused),
		cmocka_unit_test(subjects_parse_strictly),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
