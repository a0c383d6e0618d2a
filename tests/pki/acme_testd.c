/*
 * acme_testd — bulwark's ACME server on its own, for the real-client test
 * (tests/pki/acme_certbot.sh): a store, the development key backend, a
 * root and an intermediate CA for tenant "platform" (and a root for
 * tenant "eab", whose directory requires external account binding), a
 * policy allowing names under ACME_TESTD_DOMAIN (default
 * acme-test.example), an audit log, and pki_acme_handle on an HTTPS
 * listener on 127.0.0.1 with the local certificate net_selfca_ensure
 * makes. Validations connect to 127.0.0.1 on the given ports.
 *
 *   acme_testd DIR PORTFILE HTTP01_PORT [TLSALPN01_PORT]
 *
 * writes "port=P ca=FILE root=FILE eab_kid=KID eab_hmac=B64URL" to
 * PORTFILE once it serves (ca: the TLS CA to trust; root: the ACME CA's
 * root for `openssl verify`), and runs until SIGTERM/SIGINT. The audit
 * log is DIR/audit.log.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "crypto/crypto.h"
#include "loop/loop.h"
#include "net/net.h"
#include "pki/pki.h"
#include "store/store.h"

static volatile sig_atomic_t stop;

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static struct loop *lp;

static void *loop_main(void *arg)
{
	(void)arg;
	(void)loop_run(lp);
	return NULL;
}

static void stop_task(void *arg)
{
	loop_stop(arg);
}

static int fail(const char *what, const struct bw_err *err)
{
	fprintf(stderr, "acme_testd: %s: %s\n", what, err->msg);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: acme_testd DIR PORTFILE HTTP01_PORT [TLSALPN01_PORT]\n");
		return 2;
	}
	const char *dir = argv[1], *portfile = argv[2];
	long hp = strtol(argv[3], NULL, 10), tp = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
	const char *domain = getenv("ACME_TESTD_DOMAIN");
	if (!domain)
		domain = "acme-test.example";
	log_init("acme_testd", getenv("ACME_TESTD_DEBUG") ? BW_LOG_DEBUG : BW_LOG_INFO, 2);
	struct bw_err err;
	if (net_fetch_global_init(&err) < 0)
		return fail("curl", &err);
	char path[512];
	snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = { .path = path };
	struct store *st = store_open(&so, &err);
	struct pki_keystore *ks = st ? pki_keystore_dev_new(st, &err) : NULL;
	if (!ks)
		return fail("store", &err);
	struct pki_options po = { .store = st, .keys = ks };
	struct pki *pk = pki_new(&po, &err);
	if (!pk)
		return fail("pki", &err);
	struct pki_ca_spec rs = { .tenant = "platform", .name = "root",
				  .subject = "CN=bulwark ACME test root,O=bulwark",
				  .key_type = PKI_KEY_EC_P384, .path_len = 1 };
	struct pki_ca_info root, inter, eroot;
	if (pki_ca_create(pk, &rs, &root, &err) < 0)
		return fail("root CA", &err);
	struct pki_ca_spec is = { .tenant = "platform", .name = "issuing",
				  .subject = "CN=bulwark ACME test issuing CA,O=bulwark",
				  .key_type = PKI_KEY_EC_P256, .parent_id = root.id,
				  .path_len = 0 };
	if (pki_ca_create(pk, &is, &inter, &err) < 0)
		return fail("issuing CA", &err);
	struct pki_ca_spec es = { .tenant = "eab", .name = "root",
				  .subject = "CN=bulwark ACME EAB test root",
				  .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	if (pki_ca_create(pk, &es, &eroot, &err) < 0)
		return fail("eab CA", &err);
	char pol[512];
	snprintf(pol, sizeof(pol),
		 "{\"dns\":[\".%s\"],\"key_types\":[\"ec-p256\",\"ec-p384\",\"rsa-2048\","
		 "\"rsa-3072\",\"rsa-4096\",\"ed25519\"],\"profiles\":[\"tls-server\"],"
		 "\"max_validity_s\":7776000}", domain);
	if (pki_policy_set(pk, "platform", pol, strlen(pol), &err) < 0 ||
	    pki_policy_set(pk, "eab", pol, strlen(pol), &err) < 0)
		return fail("policy", &err);

	struct audit_config ac;
	audit_config_defaults(&ac);
	ac.dir = dir;
	struct audit_log *audit = audit_log_open(&ac, &err);
	if (!audit)
		return fail("audit", &err);
	struct tpool *pool = tpool_new(4, 1024, &err);
	if (!pool)
		return fail("pool", &err);
	struct pki_acme_options ao = { .pki = pk, .store = st, .pool = pool, .audit = audit,
				       .http01_port = (uint16_t)hp,
				       .tlsalpn01_port = (uint16_t)tp,
				       .validation_addr = "127.0.0.1" };
	struct pki_acme *acme = pki_acme_new(&ao, &err);
	if (!acme)
		return fail("acme", &err);
	struct pki_acme_tenant tc = { .enabled = true };
	memcpy(tc.ca_id, inter.id, sizeof(tc.ca_id));
	if (pki_acme_tenant_set(acme, "platform", &tc, &err) < 0)
		return fail("tenant", &err);
	struct pki_acme_tenant te = { .enabled = true, .eab_required = true };
	memcpy(te.ca_id, eroot.id, sizeof(te.ca_id));
	if (pki_acme_tenant_set(acme, "eab", &te, &err) < 0)
		return fail("eab tenant", &err);
	char kid[32], hmac[64];
	uint8_t key[32];
	if (pki_acme_eab_create(acme, "eab", "real-client test", kid, key, &err) < 0)
		return fail("eab key", &err);
	crypto_b64url_encode_to(key, sizeof(key), hmac);

	/* the files the clients need: the TLS CA and the ACME root */
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	if (pki_ca_cert(pk, "platform", root.id, PKI_PEM, false, &b, &err) < 0)
		return fail("root cert", &err);
	char rootfile[512];
	snprintf(rootfile, sizeof(rootfile), "%s/acme-root.pem", dir);
	if (bw_file_write_atomic(rootfile, b.data, b.len, 0644, &err) < 0)
		return fail("root file", &err);
	bw_buf_fini(&b);
	struct net_selfca_paths paths;
	if (net_selfca_ensure(dir, &paths, &err) < 0)
		return fail("tls", &err);
	size_t cl, kl;
	char *crt = bw_file_read(paths.cert_file, 1 << 20, &cl, &err);
	char *pkey = crt ? bw_file_read(paths.key_file, 1 << 20, &kl, &err) : NULL;
	if (!pkey)
		return fail("tls files", &err);
	struct net_tls_cert c = { .name = paths.cert_file, .cert_pem = { crt, cl },
				  .key_pem = { pkey, kl } };
	struct net_tls_config tc2 = { .certs = &c, .ncerts = 1, .allow_tls12 = true,
				      .alpn = "http/1.1" };
	struct net_tls *tls = net_tls_new(&tc2, &err);
	bw_wipe(pkey, kl);
	free(pkey);
	free(crt);
	if (!tls)
		return fail("tls context", &err);

	lp = loop_new(4096, &err);
	struct net_thread *nt = lp ? net_thread_new(lp, &err) : NULL;
	if (!nt)
		return fail("loop", &err);
	struct net_http_options ho = { .name = "acme", .header_timeout_ms = 10000,
				       .body_timeout_ms = 10000, .idle_timeout_ms = 30000,
				       .write_timeout_ms = 10000, .max_conns = 256,
				       .tls = tls, .handler = pki_acme_handle,
				       .handler_arg = acme };
	http_limits_default(&ho.limits);
	struct net_http_server *srv = net_http_server_new(&ho, &err);
	int fd = srv ? net_listen_tcp("127.0.0.1", 0, false, 128, &err) : -1;
	if (fd < 0)
		return fail("listen", &err);
	int port = net_socket_port(fd);
	if (net_thread_listen(nt, "acme", fd, srv, &err) < 0)
		return fail("listen", &err);
	net_http_server_unref(srv);
	pthread_t th;
	if (pthread_create(&th, NULL, loop_main, NULL) != 0)
		return 1;
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	signal(SIGPIPE, SIG_IGN);
	FILE *f = fopen(portfile, "w");
	if (!f)
		return 1;
	fprintf(f, "port=%d ca=%s root=%s eab_kid=%s eab_hmac=%s\n", port, paths.ca_file,
		rootfile, kid, hmac);
	fclose(f);
	bw_wipe(key, sizeof(key));
	bw_wipe(hmac, sizeof(hmac));
	while (!stop)
		pause();
	if (loop_post(lp, stop_task, lp) < 0)
		loop_stop(lp);
	pthread_join(th, NULL);
	net_thread_free(nt);
	loop_free(lp);
	tpool_free(pool);
	struct pki_acme_stats s;
	pki_acme_stats_get(acme, &s);
	fprintf(stderr,
		"acme_testd: requests=%llu refused=%llu accounts=%llu orders=%llu "
		"issued=%llu revoked=%llu validations ok=%llu failed=%llu\n",
		(unsigned long long)s.requests, (unsigned long long)s.refused,
		(unsigned long long)s.accounts_created, (unsigned long long)s.orders_created,
		(unsigned long long)s.certificates_issued, (unsigned long long)s.revocations,
		(unsigned long long)s.validations_ok, (unsigned long long)s.validations_failed);
	pki_acme_free(acme);
	(void)audit_log_close(audit, &err);
	pki_free(pk);
	pki_keystore_free(ks);
	store_close(st);
	return 0;
}
