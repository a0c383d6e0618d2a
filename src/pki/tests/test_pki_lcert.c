/*
 * Listener certificates (pki_lcert.c) and the pki config section
 * (pki_conf.c): the strict binder with malformed and hostile sections; the
 * manager with a private-CA source obtaining a certificate for an
 * attached TLS context, stapling it from the local responder, renewing it
 * when the settable clock enters the renewal window, and raising expiry alerts
 * once per threshold; http-01 token lookups. (The staple as a TLS client
 * sees it is tests/integration/t_pki_lcert.sh, with openssl s_client.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "conf/conf.h"
#include "json/json.h"
#include "net/net.h"
#include "pki/pki_lcert_int.h"
#include "pki/tests/pki_test_util.h"
#include <openssl/ssl.h>
#include "store/store.h"

/* ----------------------------------------------------------- config */

static int bind_text(const char *yaml, struct pki_conf *out, struct bw_err *err)
{
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct conf_doc *doc = conf_load_string("t.yaml", yaml, strlen(yaml), a, err);
	int rc = doc ? pki_conf_bind(conf_get(doc->root, "pki"), a, out, err) : -1;
	/* Strings point into the arena: only counts and enums are compared
	 * after this. */
	bw_arena_free(a);
	return rc;
}

static void conf_good(void **state)
{
	struct pki_conf c;
	struct bw_err err;
	const char *y = "pki:\n"
			"  public_url: http://pki.example\n"
			"  cert_check_interval: 5s\n"
			"  expiry_alerts: [45d, 10d]\n"
			"  listener_certs:\n"
			"    - {listener: gw, source: ca, ca: abc, names: [a.example, 10.0.0.1],"
			" key_type: ec-p384, renew_before: 20d}\n"
			"    - {listener: adm, source: acme, directory: https://acme.example/dir,"
			" names: [b.example], eab_kid: k, eab_hmac: aGVsbG8}\n";
	assert_int_equal(bind_text(y, &c, &err), 0);
	assert_int_equal(c.nspecs, 2);
	assert_int_equal(c.specs[0].source, PKI_LCERT_SOURCE_CA);
	assert_int_equal(c.specs[0].key_type, PKI_KEY_EC_P384);
	assert_int_equal(c.specs[0].renew_before_s, 20 * 86400);
	assert_int_equal(c.specs[0].nnames, 2);
	assert_int_equal(c.specs[1].source, PKI_LCERT_SOURCE_ACME);
	assert_int_equal(c.nalerts, 2);
	assert_int_equal(c.alert_days[0], 45);
	assert_int_equal(c.cert_check_interval_ms, 5000);
	assert_true(c.staple);
	assert_int_equal(bind_text("pki:\n  identities:\n    - {name: gw, ca: abc,"
				   " uri: \"spiffe://b.test/gw\"}\n", &c, &err), 0);
	assert_int_equal(c.nspecs, 1);
	assert_int_equal(c.specs[0].validity_s, 86400);
	assert_int_equal(c.specs[0].source, PKI_LCERT_SOURCE_CA);
	/* no section at all: defaults, 30/14/7 */
	assert_int_equal(bind_text("server: {}\n", &c, &err), 0);
	assert_int_equal(c.nalerts, 3);
	assert_int_equal(c.alert_days[2], 7);
	assert_int_equal(c.nspecs, 0);
}

static void conf_bad(void **state)
{
	struct pki_conf c;
	struct bw_err err;
	static const char *const bad[] = {
		"pki: {publc_url: x}\n",                                   /* typo */
		"pki: {expiry_alerts: [3h]}\n",                            /* not days */
		"pki: {expiry_alerts: [400d]}\n",                          /* too far */
		"pki: {expiry_alerts: [1d,2d,3d,4d,5d,6d,7d,8d,9d]}\n",    /* too many */
		"pki: {cert_check_interval: 1ms}\n",                       /* too often */
		"pki: {listener_certs: [{listener: a, source: ca, names: [x.example]}]}\n",
		"pki: {listener_certs: [{listener: a, source: acme, names: [x.example]}]}\n",
		"pki: {listener_certs: [{listener: a, source: acme, directory: ftp://x, names: [x]}]}\n",
		"pki: {listener_certs: [{listener: a, source: tls, ca: c, names: [x]}]}\n",
		"pki: {listener_certs: [{listener: a, source: ca, ca: c, names: []}]}\n",
		"pki: {listener_certs: [{listener: a, source: ca, ca: c, names: [\"a/b\"]}]}\n",
		"pki: {listener_certs: [{listener: a, source: ca, ca: c, names: [x], key_type: dsa}]}\n",
		"pki: {listener_certs: [{listener: a, source: ca, ca: c, names: [x], eab_kid: k}]}\n",
		"pki: {listener_certs: [{listener: a, source: ca, ca: c, names: [x]},"
		" {listener: a, source: ca, ca: c, names: [y]}]}\n",
		"pki: {listener_certs: [{listener: a, source: ca, ca: c, names: [x], extra: 1}]}\n",
		"pki: [1, 2]\n",
		"pki: {identities: [{name: a, ca: c, uri: \"https://x.example/a\"}]}\n",
		"pki: {identities: [{name: a, uri: \"spiffe://x/a\"}]}\n",
		"pki: {identities: [{name: a, ca: c, uri: \"spiffe://x/a\", validity: 1s}]}\n",
		"pki: {identities: [{name: a, ca: c, uri: \"spiffe://x/a\"},"
		" {name: a, ca: c, uri: \"spiffe://x/b\"}]}\n",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(bind_text(bad[i], &c, &err), -1);
		assert_true(err.msg[0] != '\0');
	}
}

/* ----------------------------------------------------------- manager */

static char dir[64];
static struct store *st;
static struct pki_keystore *ks;
static struct pki *pk;
static struct pki_ca_info root;

static int setup(void **state)
{
	struct bw_err err;
	if (tu_pki_open(dir, sizeof(dir), "bw-pkil", &st, &ks, &pk) < 0)
		return -1;
	struct pki_ca_spec rs = { .tenant = "platform", .name = "root",
				  .subject = "CN=Listener Root", .key_type = PKI_KEY_EC_P256,
				  .path_len = -1 };
	if (!pk || pki_ca_create(pk, &rs, &root, &err) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	bw_clock_set(0);
	return tu_pki_close(dir, st, ks, pk);
}

/* A TLS context with a throwaway self-signed certificate. */
static struct net_tls *tls_throwaway(void)
{
	struct bw_err err;
	struct net_selfca_paths p;
	assert_int_equal(net_selfca_ensure(dir, &p, &err), 0);
	size_t cl, kl;
	char *c = bw_file_read(p.cert_file, 1 << 20, &cl, &err);
	char *k = bw_file_read(p.key_file, 1 << 20, &kl, &err);
	assert_non_null(c);
	assert_non_null(k);
	struct net_tls_cert tc = { .name = "t", .cert_pem = bw_str_make(c, cl),
				   .key_pem = bw_str_make(k, kl) };
	struct net_tls_config cfg = { .certs = &tc, .ncerts = 1 };
	struct net_tls *t = net_tls_new(&cfg, &err);
	assert_non_null(t);
	free(c);
	bw_wipe(k, kl);
	free(k);
	return t;
}

static bool issued_by_root(struct net_tls *t, char serial[41])
{
	X509 *leaf = NULL;
	STACK_OF(X509) *ch = NULL;
	if (net_tls_get_chain(t, 0, &leaf, &ch) < 0)
		return false;
	char iss[128];
	X509_NAME_oneline(X509_get_issuer_name(leaf), iss, sizeof(iss));
	const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
	pki_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
	bool ok = strstr(iss, "Listener Root") != NULL;
	X509_free(leaf);
	sk_X509_pop_free(ch, X509_free);
	return ok;
}

static void status_json(struct pki_lcert *m, struct bw_buf *b)
{
	struct json_writer w;
	bw_buf_reset(b);
	json_writer_init(&w, b);
	assert_int_equal(pki_lcert_status(m, &w), 0);
	assert_int_equal(json_writer_finish(&w), 0);
	assert_int_equal(bw_buf_append_byte(b, '\0'), 0);
}

static bool wait_for(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 300; i++) {
		if (cond(arg))
			return true;
		usleep(50000);
	}
	return false;
}

struct waitarg {
	struct pki_lcert *m;
	struct net_tls *t;
	char serial[41];
	const char *not_serial;
	struct bw_buf *b;
	const char *needle;
};

static bool cond_issued(void *arg)
{
	struct waitarg *w = arg;
	return issued_by_root(w->t, w->serial) &&
	       (!w->not_serial || strcmp(w->serial, w->not_serial) != 0);
}

static bool cond_status(void *arg)
{
	struct waitarg *w = arg;
	status_json(w->m, w->b);
	return strstr(w->b->data, w->needle) != NULL;
}

static void manager_private_ca(void **state)
{
	struct bw_err err;
	struct net_tls *t = tls_throwaway();
	const char *names[] = { "localhost", "127.0.0.1" };
	struct pki_lcert_spec spec = { .listener = "gw", .source = PKI_LCERT_SOURCE_CA,
				       .names = names, .nnames = 2, .tenant = "platform",
				       .ca = root.id, .validity_s = 10 * 86400,
				       .renew_before_s = 3 * 86400 };
	static const int alerts[] = { 7, 2 };
	struct pki_lcert_options o = { .pki = pk, .store = st, .keys = ks, .specs = &spec,
				       .nspecs = 1, .check_interval_ms = 100,
				       .alert_days = alerts, .nalerts = 2 };
	struct pki_lcert *m = pki_lcert_new(&o, &err);
	assert_non_null(m);
	assert_int_equal(pki_lcert_attach(m, "gw", t, &err), 0);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct waitarg w = { .m = m, .t = t, .b = &b };
	assert_true(wait_for(cond_issued, &w));
	char first[41];
	memcpy(first, w.serial, sizeof(first));
	/* stapled from the local responder */
	w.needle = "\"stapled\":true";
	assert_true(wait_for(cond_status, &w));
	assert_non_null(strstr(b.data, "\"source\":\"ca\""));
	/* the inventory view lists the CA too */
	assert_non_null(strstr(b.data, "\"cas\":[{\"id\":\""));
	assert_non_null(strstr(b.data, root.id));
	assert_non_null(strstr(b.data, first));

	/* 6 days on: not yet in the window (3 days before the end) */
	bw_clock_set(bw_clock_now_ns());
	bw_clock_advance(6LL * 86400 * 1000000000LL);
	pki_lcert_kick(m);
	usleep(400000);
	assert_true(issued_by_root(t, w.serial));
	assert_string_equal(w.serial, first);
	/* 8 days on: 2 days left, renewed; the old one crosses 7 and 2 */
	bw_clock_advance(2LL * 86400 * 1000000000LL);
	pki_lcert_kick(m);
	w.not_serial = first;
	assert_true(wait_for(cond_issued, &w));
	w.needle = "\"renewals\":2";
	assert_true(wait_for(cond_status, &w));
	w.needle = "\"alerts_sent\":";
	status_json(m, &b);
	const char *as = strstr(b.data, w.needle);
	assert_non_null(as);
	long sent = strtol(as + strlen(w.needle), NULL, 10);
	assert_true(sent >= 1);
	/* alerts fire once per certificate and threshold */
	pki_lcert_kick(m);
	usleep(400000);
	status_json(m, &b);
	as = strstr(b.data, w.needle);
	assert_int_equal(strtol(as + strlen(w.needle), NULL, 10), sent);

	assert_int_equal(pki_lcert_renew(m, "nope", &err), -1);
	assert_int_equal(err.code, 404);
	struct bw_buf ka;
	bw_buf_init(&ka, 256);
	assert_int_equal(pki_lcert_challenge(m, "unknown-token", 13, &ka), 0);
	assert_int_equal(pki_lcert_challenge(m, "", 0, &ka), 0);
	assert_int_equal(pki_lcert_challenge(NULL, "x", 1, &ka), 0);
	bw_buf_fini(&ka);

	pki_lcert_detach(m, t);
	pki_lcert_free(m);
	net_tls_free(t);
	bw_buf_fini(&b);
	bw_clock_set(0);
}

/* One TLS handshake over a BIO pair: client ctx c against server ctx s.
 * OUT: the URI SAN and serial the server saw. true when it completed. */
static bool handshake(SSL_CTX *c, SSL_CTX *s, char *uri, size_t cap, char serial[41])
{
	SSL *cs = SSL_new(c), *ss = SSL_new(s);
	BIO *b1 = NULL, *b2 = NULL;
	BIO_new_bio_pair(&b1, 0, &b2, 0);
	SSL_set_bio(cs, b1, b1);
	SSL_set_bio(ss, b2, b2);
	SSL_set_connect_state(cs);
	SSL_set_accept_state(ss);
	bool done = false;
	for (int i = 0; i < 100 && !done; i++) {
		int a = SSL_do_handshake(cs), b = SSL_do_handshake(ss);
		done = a == 1 && b == 1;
	}
	/* TLS 1.3: the server sees the client's certificate once it has read
	 * its Finished; a read drives that. */
	X509 *peer = done ? SSL_get1_peer_certificate(ss) : NULL;
	uri[0] = serial[0] = '\0';
	if (peer) {
		GENERAL_NAMES *g = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
		for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
			const GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
			if (n->type == GEN_URI)
				bw_snprintf(uri, cap, "%s",
					    (const char *)ASN1_STRING_get0_data(n->d.uniformResourceIdentifier));
		}
		GENERAL_NAMES_free(g);
		const ASN1_INTEGER *sn = X509_get0_serialNumber(peer);
		pki_serial_hex(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), serial);
		X509_free(peer);
	}
	SSL_free(cs);
	SSL_free(ss);
	return done;
}

static void identity_mtls(void **state)
{
	struct bw_err err;
	struct pki_lcert_spec spec = { .identity = "gateway", .source = PKI_LCERT_SOURCE_CA,
				       .tenant = "platform", .ca = root.id,
				       .uri = "spiffe://bulwark.test/gateway",
				       .validity_s = 86400 };
	struct pki_lcert_options o = { .pki = pk, .store = st, .keys = ks, .specs = &spec,
				       .nspecs = 1, .check_interval_ms = 100, .no_staple = true };
	struct pki_lcert *m = pki_lcert_new(&o, &err);
	assert_non_null(m);
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	uint64_t gen = 0;
	for (int i = 0; i < 200 && pki_lcert_identity_get(m, "gateway", &leaf, NULL, &key,
							  &gen) < 0; i++)
		usleep(50000);
	assert_non_null(leaf);
	/* an X.509-SVID: clientAuth, the SPIFFE ID, a day long */
	assert_true(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) == 1);
	int64_t nb = 0, na = 0;
	assert_int_equal(pki_time_to_epoch(X509_get0_notBefore(leaf), &nb), 0);
	assert_int_equal(pki_time_to_epoch(X509_get0_notAfter(leaf), &na), 0);
	assert_true(na - nb <= 86400 + PKI_BACKDATE_S);
	X509_free(leaf);
	EVP_PKEY_free(key);

	/* a server that requires a client certificate from the root CA */
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(pki_ca_cert(pk, "platform", root.id, PKI_PEM, false, &b, &err), 0);
	BIO *rb = BIO_new_mem_buf(b.data, (int)b.len);
	X509 *rootx = PEM_read_bio_X509(rb, NULL, NULL, NULL);
	BIO_free(rb);
	bw_buf_fini(&b);
	EVP_PKEY *sk = pki_key_generate(PKI_KEY_EC_P256, &err);
	X509 *sc = X509_new();
	X509_set_version(sc, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(sc), 7);
	X509_gmtime_adj(X509_getm_notBefore(sc), -60);
	X509_gmtime_adj(X509_getm_notAfter(sc), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(sc), "CN", MBSTRING_ASC,
				   (const unsigned char *)"upstream", -1, -1, 0);
	X509_set_issuer_name(sc, X509_get_subject_name(sc));
	X509_set_pubkey(sc, sk);
	X509_sign(sc, sk, EVP_sha256());
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(sctx, sc);
	SSL_CTX_use_PrivateKey(sctx, sk);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), rootx);
	SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	char uri[128], s1[41], s2[41];
	/* without the identity the server refuses */
	assert_false(handshake(cctx, sctx, uri, sizeof(uri), s1));
	assert_int_equal(pki_lcert_identity_use(m, "nope", cctx, &err), -1);
	assert_int_equal(err.code, 404);
	assert_int_equal(pki_lcert_identity_use(m, "gateway", cctx, &err), 0);
	assert_true(handshake(cctx, sctx, uri, sizeof(uri), s1));
	assert_string_equal(uri, "spiffe://bulwark.test/gateway");
	/* rotated at two thirds of its day: the same context presents the
	 * new certificate */
	bw_clock_set(bw_clock_now_ns());
	bw_clock_advance(17LL * 3600 * 1000000000LL);
	pki_lcert_kick(m);
	uint64_t gen2 = gen;
	for (int i = 0; i < 200 && gen2 == gen; i++) {
		usleep(50000);
		if (pki_lcert_identity_get(m, "gateway", &leaf, NULL, &key, &gen2) == 0) {
			X509_free(leaf);
			EVP_PKEY_free(key);
		}
	}
	assert_true(gen2 > gen);
	/* the upstream's clock moves with ours: the new certificate starts
	 * 17 hours from the real now */
	X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(sctx), (time_t)bw_clock_now_s());
	assert_true(handshake(cctx, sctx, uri, sizeof(uri), s2));
	bw_clock_set(0);
	assert_string_not_equal(s1, s2);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_free(sc);
	X509_free(rootx);
	EVP_PKEY_free(sk);
	pki_lcert_free(m);
}

static void manager_bad_options(void **state)
{
	struct bw_err err;
	const char *names[] = { "x.example" };
	struct pki_lcert_spec spec = { .listener = "gw", .source = PKI_LCERT_SOURCE_CA,
				       .names = names, .nnames = 1 };
	struct pki_lcert_options o = { .pki = pk, .store = st, .keys = ks, .specs = &spec,
				       .nspecs = 1 };
	assert_null(pki_lcert_new(&o, &err)); /* no CA */
	spec.source = PKI_LCERT_SOURCE_ACME;
	assert_null(pki_lcert_new(&o, &err)); /* no directory */
	assert_null(pki_lcert_new(NULL, &err));
	struct pki_lcert_spec id = { .identity = "x", .source = PKI_LCERT_SOURCE_CA,
				     .tenant = "platform", .ca = root.id, .uri = "https://x" };
	o.specs = &id;
	assert_null(pki_lcert_new(&o, &err)); /* not a SPIFFE ID */
	/* attaching to nothing is harmless */
	assert_int_equal(pki_lcert_attach(NULL, "gw", NULL, &err), 0);
	pki_lcert_detach(NULL, NULL);
	pki_lcert_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conf_good),
		cmocka_unit_test(conf_bad),
		cmocka_unit_test(manager_bad_options),
		cmocka_unit_test(manager_private_ca),
		cmocka_unit_test(identity_mtls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
