/*
 * The public PKI endpoints over real HTTP: a plain-HTTP net server on a
 * loop thread with pki_http_handle, and real clients — `openssl ocsp -url`
 * (POST, with its nonce, good/revoked/unknown), curl for the GET form,
 * the CRL and the CA certificate — plus malformed and hostile requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "loop/loop.h"
#include "net/net.h"
#include "pki/pki_int.h"
#include "pki/tests/pki_test_util.h"
#include "store/store.h"

static char dir[64];
static struct store *st;
static struct pki_keystore *ks;
static struct pki *pk;
static struct pki_ca_info root, inter;
static struct loop *lp;
static struct net_thread *nt;
static struct tpool *pool;
static struct pki_http ph;
static pthread_t thr;
static int port;

static void *run_loop(void *arg)
{
	loop_run(lp);
	return NULL;
}

static void save(const char *name, const void *p, size_t n)
{
	char path[160];
	bw_snprintf(path, sizeof(path), "%s/%s", dir, name);
	tu_write(path, p, n);
}

static void save_cert(const char *name, const uint8_t *der, size_t len)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(pki_append_pem(&b, "CERTIFICATE", der, len), 0);
	save(name, b.data, b.len);
	bw_buf_fini(&b);
}

static int setup(void **state)
{
	struct bw_err err;
	if (tu_store_open(dir, sizeof(dir), "bw-pkih", &st, &ks) < 0)
		return -1;
	struct pki_options o = { .store = st, .keys = ks,
				 .public_url = "http://127.0.0.1:1", .ocsp_sign_nonces = true };
	pk = pki_new(&o, &err);
	if (!pk)
		return -1;
	struct pki_ca_spec rs = { .tenant = "t", .name = "root", .subject = "CN=HTTP Root",
				  .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	struct pki_ca_spec is = { .tenant = "t", .name = "int", .subject = "CN=HTTP Int",
				  .key_type = PKI_KEY_RSA_2048, .path_len = -1 };
	if (pki_ca_create(pk, &rs, &root, &err) < 0)
		return -1;
	is.parent_id = root.id;
	if (pki_ca_create(pk, &is, &inter, &err) < 0)
		return -1;
	const char pol[] = "{\"dns\":[\".example.com\"]}";
	if (pki_policy_set(pk, "t", pol, sizeof(pol) - 1, &err) < 0)
		return -1;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	if (pki_ca_cert(pk, "t", root.id, PKI_PEM, false, &b, &err) < 0)
		return -1;
	save("root.pem", b.data, b.len);
	bw_buf_reset(&b);
	if (pki_ca_cert(pk, "t", inter.id, PKI_PEM, false, &b, &err) < 0)
		return -1;
	save("inter.pem", b.data, b.len);
	bw_buf_fini(&b);

	const char *good[] = { "good.example.com" }, *bad[] = { "bad.example.com" };
	struct pki_issue_req r = { .tenant = "t", .ca_id = inter.id,
				   .profile = PKI_PROFILE_TLS_SERVER,
				   .gen_key = PKI_KEY_EC_P256, .dns = good, .ndns = 1 };
	struct pki_issued out;
	if (pki_issue(pk, &r, &out, &err) < 0)
		return -1;
	save_cert("good.pem", out.der, out.der_len);
	pki_issued_fini(&out);
	r.dns = bad;
	if (pki_issue(pk, &r, &out, &err) < 0)
		return -1;
	save_cert("bad.pem", out.der, out.der_len);
	if (pki_revoke(pk, "t", out.serial, PKI_REASON_CESSATION, &err) < 0)
		return -1;
	pki_issued_fini(&out);

	pool = tpool_new(2, 64, &err);
	lp = loop_new(256, &err);
	nt = lp ? net_thread_new(lp, &err) : NULL;
	ph.pki = pk;
	ph.pool = pool;
	struct net_http_options ho = { .name = "pki", .header_timeout_ms = 5000,
				       .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				       .write_timeout_ms = 5000, .handler = pki_http_handle,
				       .handler_arg = &ph };
	http_limits_default(&ho.limits);
	struct net_http_server *s = net_http_server_new(&ho, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 16, &err);
	if (!pool || !nt || !s || fd < 0)
		return -1;
	port = net_socket_port(fd);
	if (net_thread_listen(nt, "pki", fd, s, &err) < 0)
		return -1;
	net_http_server_unref(s);
	return pthread_create(&thr, NULL, run_loop, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	loop_stop(lp);
	pthread_join(thr, NULL);
	tpool_free(pool);
	net_thread_free(nt);
	loop_free(lp);
	return tu_pki_close(dir, st, ks, pk);
}

static void openssl_ocsp_over_http(void **state)
{
	const struct {
		const char *cert, *want;
	} cases[] = { { "-cert good.pem", "good.pem: good" },
		      { "-cert bad.pem", "bad.pem: revoked" },
		      { "-serial 0x1234", "0x1234: unknown" } };
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		char cmd[1024], out[4096];
		/* serial 0x1234 was never issued by this CA: unknown */
		bw_snprintf(cmd, sizeof(cmd),
			    "cd %s && openssl ocsp -url http://127.0.0.1:%d/ocsp/%s "
			    "-issuer inter.pem %s -CAfile root.pem -verify_other "
			    "inter.pem -timeout 10 2>&1", dir, port, inter.id, cases[i].cert);
		int rc = tu_run(cmd, out, sizeof(out));
		/* the nonce is sent and must come back: no WARNING */
		if (rc != 0 || !strstr(out, "Response verify OK") ||
		    !strstr(out, cases[i].want) || strstr(out, "WARNING") ||
		    strstr(out, "Nonce"))
			fail_msg("%s -> %d:\n%s", cmd, rc, out);
		if (i == 1 && !strstr(out, "Reason: cessationOfOperation"))
			fail_msg("no reason in:\n%s", out);
	}
}

static void ocsp_get_form_and_files(void **state)
{
	char cmd[2048], out[4096];
	/* the request without a nonce, as GET /ocsp/{ca}/{base64} */
	bw_snprintf(cmd, sizeof(cmd),
		    "cd %s && openssl ocsp -issuer inter.pem -cert good.pem -no_nonce "
		    "-reqout get.der >/dev/null 2>&1 && "
		    "curl -sf -o resp.der http://127.0.0.1:%d/ocsp/%s/$(base64 -w0 get.der | "
		    "sed -e 's/+/%%2B/g' -e 's#/#%%2F#g' -e 's/=/%%3D/g') && "
		    "openssl ocsp -respin resp.der -issuer inter.pem -cert good.pem "
		    "-CAfile root.pem -verify_other inter.pem -no_nonce 2>&1",
		    dir, port, inter.id);
	int rc = tu_run(cmd, out, sizeof(out));
	if (rc != 0 || !strstr(out, "good.pem: good") || !strstr(out, "Response verify OK"))
		fail_msg("%s -> %d:\n%s", cmd, rc, out);

	/* the CRL lists the revoked certificate; the CA certificate is DER */
	bw_snprintf(cmd, sizeof(cmd),
		    "cd %s && curl -sf -D crl.h -o crl.der http://127.0.0.1:%d/crl/%s.crl && "
		    "grep -qi 'content-type: application/pkix-crl' crl.h && "
		    "openssl crl -inform DER -in crl.der -noout -text -CAfile inter.pem 2>&1",
		    dir, port, inter.id);
	rc = tu_run(cmd, out, sizeof(out));
	if (rc != 0 || !strstr(out, "verify OK") || !strstr(out, "Cessation Of Operation") ||
	    !strstr(out, "X509v3 CRL Number"))
		fail_msg("%s -> %d:\n%s", cmd, rc, out);
	bw_snprintf(cmd, sizeof(cmd),
		    "cd %s && curl -sf -o ca.der http://127.0.0.1:%d/ca/%s.crt && "
		    "openssl x509 -inform DER -in ca.der -noout -subject 2>&1",
		    dir, port, root.id);
	rc = tu_run(cmd, out, sizeof(out));
	if (rc != 0 || !strstr(out, "HTTP Root"))
		fail_msg("%s -> %d:\n%s", cmd, rc, out);
}

static int http_status(const char *args)
{
	char cmd[1024], out[64];
	bw_snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -w '%%{http_code}' %s", args);
	if (tu_run(cmd, out, sizeof(out)) != 0)
		return -1;
	return (int)strtol(out, NULL, 10);
}

static void hostile_requests(void **state)
{
	char a[512];
	/* unknown CA ids and shapes */
	bw_snprintf(a, sizeof(a), "http://127.0.0.1:%d/crl/0000000000000000.crl", port);
	assert_int_equal(http_status(a), 404);
	bw_snprintf(a, sizeof(a), "http://127.0.0.1:%d/crl/../../etc/passwd.crl", port);
	assert_int_equal(http_status(a), 404);
	bw_snprintf(a, sizeof(a), "http://127.0.0.1:%d/ca/%s.crt/x", port, root.id);
	assert_int_equal(http_status(a), 404);
	bw_snprintf(a, sizeof(a), "-X POST http://127.0.0.1:%d/crl/%s.crl", port, root.id);
	assert_int_equal(http_status(a), 405);
	/* OCSP POST without the content type */
	bw_snprintf(a, sizeof(a), "--data-binary x http://127.0.0.1:%d/ocsp/%s", port, inter.id);
	assert_int_equal(http_status(a), 415);
	/* garbage bodies and paths get an OCSP malformedRequest (200) */
	bw_snprintf(a, sizeof(a),
		    "-H 'Content-Type: application/ocsp-request' --data-binary garbage "
		    "http://127.0.0.1:%d/ocsp/%s", port, inter.id);
	assert_int_equal(http_status(a), 200);
	bw_snprintf(a, sizeof(a), "http://127.0.0.1:%d/ocsp/%s/%%%%zz", port, inter.id);
	assert_int_equal(http_status(a), 200);
	struct pki_stats s;
	pki_stats_get(pk, &s);
	assert_true(s.ocsp_malformed >= 2);
}

static void get_form_decoder(void **state)
{
	uint8_t out[64];
	size_t n;
	assert_int_equal(pki_http_ocsp_get_decode("MAMCAQE%3D", 10, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "\x30\x03\x02\x01\x01", 5);
	assert_int_equal(pki_http_ocsp_get_decode("MAMCAQE", 7, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(pki_http_ocsp_get_decode("%2B%2f", 6, out, sizeof(out), &n), 0);
	assert_int_equal(pki_http_ocsp_get_decode("A", 1, out, sizeof(out), &n), -1);
	assert_int_equal(pki_http_ocsp_get_decode("MA%3", 4, out, sizeof(out), &n), -1);
	assert_int_equal(pki_http_ocsp_get_decode("MA%", 3, out, sizeof(out), &n), -1);
	assert_int_equal(pki_http_ocsp_get_decode("MA M", 4, out, sizeof(out), &n), -1);
	assert_int_equal(pki_http_ocsp_get_decode("", 0, out, sizeof(out), &n), -1);
	assert_int_equal(pki_http_ocsp_get_decode("AAAAAAAA", 8, out, 3, &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openssl_ocsp_over_http),
		cmocka_unit_test(ocsp_get_form_and_files),
		cmocka_unit_test(hostile_requests),
		cmocka_unit_test(get_form_decoder),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
