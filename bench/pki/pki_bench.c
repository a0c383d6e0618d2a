/*
 * pki_bench — measurements for the CA (bench/pki/run.sh drives it):
 *
 *   pki_bench issue -d DIR -k ec-p256|rsa-2048 [-n N] [-t THREADS]
 *       certificates issued per second (CSR in, signed, self-checked,
 *       stored, OCSP pre-signed), THREADS issuing at once.
 *
 *   pki_bench serve -d DIR [-N ISSUED] [-R REVOKED] [-w WORKERS]
 *       builds (once per DIR) a CA with ISSUED inventory rows of which
 *       REVOKED are revoked, pre-signs every OCSP response, writes the
 *       files clients and `openssl ocsp` need into DIR, then serves the
 *       public PKI handler (and /static, a fixed 200 "ok" through the same
 *       net stack: the ceiling) on 127.0.0.1 with WORKERS loops, printing
 *       "ready PORT" once listening. SIGTERM/SIGINT stop it.
 *
 * The inventory rows of `serve` are synthetic (random serials, status,
 * dates; a placeholder instead of each certificate's DER): the OCSP
 * responder reads only serial and status, so this measures what the
 * responder does for a CA of that size without signing a million
 * certificates first. The dev key backend stands in for the kms.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "loop/loop.h"
#include "net/net.h"
#include "pki/pki_int.h"
#include "store/store.h"

static struct store *st;
static struct pki_keystore *ks;
static struct pki *pk;

static void die(const char *what, const struct bw_err *e)
{
	fprintf(stderr, "pki_bench: %s: %s\n", what, e ? e->msg : "");
	exit(1);
}

static void open_all(const char *dir)
{
	struct bw_err err;
	char db[512];
	bw_snprintf(db, sizeof(db), "%s/pki.db", dir);
	struct store_options so = { .path = db, .durability = STORE_DURABILITY_NORMAL };
	st = store_open(&so, &err);
	if (!st)
		die("store", &err);
	ks = pki_keystore_dev_new(st, &err);
	struct pki_options o = { .store = st, .keys = ks,
				 .public_url = "http://127.0.0.1",
				 .ocsp_cache_max = PKI_OCSP_CACHE_HARD };
	pk = ks ? pki_new(&o, &err) : NULL;
	if (!pk)
		die("pki", &err);
}

struct ca_pick {
	char id[64];
	const char *name;
};

static void pick_cb(void *arg, const struct pki_ca_info *ca)
{
	struct ca_pick *p = arg;
	if (strcmp(ca->name, p->name) == 0)
		bw_snprintf(p->id, sizeof(p->id), "%s", ca->id);
}

/* The bench hierarchy: root + issuing CA of type kt; returns the issuing
 * CA's id. */
static void hierarchy(enum pki_key_type kt, char *id, size_t cap)
{
	struct bw_err err;
	struct ca_pick pick = { "", kt == PKI_KEY_RSA_2048 ? "issuing-rsa" : "issuing-ec" };
	if (pki_ca_list(pk, "bench", pick_cb, &pick, &err) < 0)
		die("list", &err);
	if (pick.id[0]) {
		bw_snprintf(id, cap, "%s", pick.id);
		return;
	}
	struct pki_ca_info root, inter;
	struct pki_ca_spec rs = { .tenant = "bench", .name = kt == PKI_KEY_RSA_2048 ? "root-rsa" : "root-ec",
				  .subject = "CN=Bench Root", .key_type = kt, .path_len = -1 };
	if (pki_ca_create(pk, &rs, &root, &err) < 0)
		die("root", &err);
	struct pki_ca_spec is = { .tenant = "bench", .name = pick.name,
				  .subject = "CN=Bench Issuing CA", .key_type = kt,
				  .parent_id = root.id, .path_len = -1 };
	if (pki_ca_create(pk, &is, &inter, &err) < 0)
		die("intermediate", &err);
	const char pol[] = "{\"dns\":[\".bench.example\"]}";
	if (pki_policy_set(pk, "bench", pol, sizeof(pol) - 1, &err) < 0)
		die("policy", &err);
	bw_snprintf(id, cap, "%s", inter.id);
}

/* ------------------------------------------------------------ issue */

struct issuer {
	pthread_t t;
	const char *ca;
	enum pki_key_type kt;
	int n, done;
	uint8_t *csr;
	size_t csr_len;
};

static void *issue_thread(void *arg)
{
	struct issuer *w = arg;
	const char *dns[] = { "www.bench.example" };
	struct pki_issue_req r = { .tenant = "bench", .ca_id = w->ca,
				   .profile = PKI_PROFILE_TLS_SERVER,
				   .csr = (const char *)w->csr, .csr_len = w->csr_len,
				   .dns = dns, .ndns = 1 };
	for (int i = 0; i < w->n; i++) {
		struct pki_issued out;
		struct bw_err err;
		if (pki_issue(pk, &r, &out, &err) < 0)
			die("issue", &err);
		pki_issued_fini(&out);
		w->done++;
	}
	return NULL;
}

static int cmd_issue(const char *dir, enum pki_key_type kt, int n, int threads)
{
	open_all(dir);
	char ca[64];
	hierarchy(kt, ca, sizeof(ca));
	struct bw_err err;
	/* the subscriber's key is ECDSA P-256 either way: the CA's key type
	 * is what is measured */
	EVP_PKEY *k = pki_key_generate(PKI_KEY_EC_P256, &err);
	X509_REQ *req = X509_REQ_new();
	X509_REQ_set_version(req, X509_REQ_VERSION_1);
	X509_REQ_set_pubkey(req, k);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
							 "DNS:www.bench.example"));
	X509_REQ_add_extensions(req, exts);
	X509_REQ_sign(req, k, EVP_sha256());
	unsigned char *der = NULL;
	int dl = i2d_X509_REQ(req, &der);
	struct issuer w[64];
	if (threads < 1 || threads > 64)
		threads = 1;
	int64_t t0 = bw_clock_mono_ns();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct issuer){ .ca = ca, .kt = kt, .n = n / threads,
					.csr = der, .csr_len = (size_t)dl };
		pthread_create(&w[i].t, NULL, issue_thread, &w[i]);
	}
	int total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		total += w[i].done;
	}
	double s = (double)(bw_clock_mono_ns() - t0) / 1e9;
	/* CPU time too: on a shared machine wall time measures the
	 * neighbours as much as us */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("issue %-8s threads %d: %d certificates in %.2f s = %.0f/s wall; "
	       "%.2f ms CPU each = %.0f/s per core\n", pki_key_type_name(kt), threads,
	       total, s, total / s, cpu * 1000.0 / total, total / cpu);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	pki_free(pk);
	pki_keystore_free(ks);
	store_close(st);
	return 0;
}

/* ------------------------------------------------------------ serve */

struct fill {
	const char *ca;
	int from, to, revoked_every;
	FILE *index;
	pthread_mutex_t *mu;
};

struct fill_job {
	struct fill *f;
	int from, to;
};

static int fill_tx(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct fill_job *j = arg;
	int64_t now = bw_clock_now_s();
	static const uint8_t placeholder[] = "synthetic";
	for (int i = j->from; i < j->to; i++) {
		uint8_t sn[PKI_SERIAL_BYTES];
		char hex[41];
		pki_serial_random(sn);
		pki_serial_hex(sn, sizeof(sn), hex);
		bool rev = j->f->revoked_every && i % j->f->revoked_every == 0;
		struct store_value v[] = {
			store_text_str(hex), store_text_str("bench"), store_text_str(j->f->ca),
			store_text_str("CN=synthetic"), store_text_str("dns:synthetic.bench.example"),
			store_text_str("tls-server"), store_int(now - 60), store_int(now + 86400 * 80),
			store_int(rev ? PKI_CERT_REVOKED : PKI_CERT_GOOD),
			store_int(rev ? now - 30 : 0), store_int(rev ? 4 : 0),
			store_blob(placeholder, sizeof(placeholder) - 1), store_int(now),
		};
		if (store_tx_exec(tx, "INSERT INTO pki_cert (serial, tenant, ca_id, subject,"
				      " sans, profile, not_before, not_after, status,"
				      " revoked_at, reason, der, created) VALUES"
				      " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				  v, BW_ARRAY_LEN(v), err) < 0)
			return -1;
		/* openssl ca's index.txt for `openssl ocsp -index` */
		char upper[41];
		for (size_t k = 0; k <= strlen(hex); k++)
			upper[k] = (char)(hex[k] >= 'a' ? hex[k] - 32 : hex[k]);
		fprintf(j->f->index, "%s\t%s\t%s\t%s\tunknown\t/CN=synthetic\n",
			rev ? "R" : "V", "491231235959Z", rev ? "250101000000Z,keyCompromise" : "",
			upper);
	}
	return 0;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	bw_snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n)
		die(path, NULL);
	fclose(f);
}

struct serials {
	char (*v)[41];
	size_t n, cap;
};

static int serial_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct serials *s = arg;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 65536;
		void *nv = realloc(s->v, cap * sizeof(*s->v));
		if (!nv)
			return bw_err_set(err, 500, "bench", "memory", "out of memory");
		s->v = nv;
		s->cap = cap;
	}
	struct bw_str t = store_row_text(row, 0);
	bw_snprintf(s->v[s->n++], 41, "%.*s", (int)t.len, t.p);
	return STORE_ROW_NEXT;
}

struct warmer {
	pthread_t t;
	struct pki_ca *ca;
	struct serials *s;
	size_t from, to;
};

static void *warm_thread(void *arg)
{
	struct warmer *w = arg;
	for (size_t i = w->from; i < w->to; i++) {
		uint8_t sb[20];
		size_t sl;
		struct bw_err err;
		if (bw_hex_decode(w->s->v[i], strlen(w->s->v[i]), sb, sizeof(sb), &sl) < 0 ||
		    pki_ocsp_presign(pk, w->ca, sb, sl, &err) < 0)
			die("presign", &err);
	}
	return NULL;
}

/* Pre-signs every response of the CA with one thread per core (what
 * pki_tick does in batches, all at once). */
static void warm_all(struct pki_ca *ca, int threads)
{
	struct serials s = { 0 };
	struct bw_err err;
	struct store_value v[] = { store_text_str(ca->id) };
	if (store_query(st, "SELECT serial FROM pki_cert WHERE ca_id = ?", v, 1,
			serial_row, &s, &err) < 0)
		die("serials", &err);
	struct warmer w[16];
	if (threads < 1 || threads > 16)
		threads = 1;
	for (int i = 0; i < threads; i++) {
		w[i] = (struct warmer){ .ca = ca, .s = &s, .from = s.n * (size_t)i / (size_t)threads,
					.to = s.n * (size_t)(i + 1) / (size_t)threads };
		pthread_create(&w[i].t, NULL, warm_thread, &w[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(w[i].t, NULL);
	free(s.v);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void static_or_pki(struct net_exchange *x, void *arg)
{
	const struct http_request *r = net_request(x);
	if (bw_str_eq_lit(r->path, "/static")) {
		net_respond(x, 200, "text/plain", "ok\n", 3);
		return;
	}
	pki_http_handle(x, arg);
}

struct worker {
	pthread_t t;
	struct loop *lp;
	struct net_thread *nt;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	loop_run(w->lp);
	return NULL;
}

static int cmd_serve(const char *dir, int n, int revoked, int workers)
{
	open_all(dir);
	char ca[64];
	hierarchy(PKI_KEY_EC_P256, ca, sizeof(ca));
	struct bw_err err;
	struct pki_search q = { .tenant = "bench", .ca_id = ca, .status = -1, .limit = 1,
				.profile = "tls-server" };
	int have = pki_cert_search(pk, &q, NULL, NULL, &err);
	char path[512];
	if (have <= 0) {
		int64_t t0 = bw_clock_mono_ns();
		bw_snprintf(path, sizeof(path), "%s/index.txt", dir);
		struct fill f = { .ca = ca, .revoked_every = revoked ? n / revoked : 0 };
		f.index = fopen(path, "w");
		if (!f.index)
			die(path, NULL);
		for (int i = 0; i < n; i += 20000) {
			struct fill_job j = { &f, i, i + 20000 < n ? i + 20000 : n };
			if (store_write(st, fill_tx, &j, &err) < 0)
				die("fill", &err);
		}
		fclose(f.index);
		write_file(dir, "index.txt.attr", "unique_subject = no\n", 20);
		fprintf(stderr, "pki_bench: %d inventory rows in %.1f s\n", n,
			(double)(bw_clock_mono_ns() - t0) / 1e9);
	}
	/* one real certificate to ask about, and the files clients need */
	const char *dns[] = { "ocsp.bench.example" };
	struct pki_issue_req r = { .tenant = "bench", .ca_id = ca,
				   .profile = PKI_PROFILE_TLS_SERVER,
				   .gen_key = PKI_KEY_EC_P256, .dns = dns, .ndns = 1 };
	struct pki_issued leaf;
	if (pki_issue(pk, &r, &leaf, &err) < 0)
		die("leaf", &err);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	if (pki_append_pem(&b, "CERTIFICATE", leaf.der, leaf.der_len) < 0)
		die("pem", NULL);
	write_file(dir, "leaf.pem", b.data, b.len);
	bw_buf_reset(&b);
	if (pki_ca_cert(pk, "bench", ca, PKI_PEM, false, &b, &err) < 0)
		die("ca", &err);
	write_file(dir, "ca.pem", b.data, b.len);
	bw_buf_reset(&b);
	if (pki_ca_cert(pk, "bench", ca, PKI_PEM, true, &b, &err) < 0)
		die("chain", &err);
	write_file(dir, "chain.pem", b.data, b.len);
	/* the delegated responder's certificate and key, for `openssl ocsp
	 * -index` to answer as the same responder (bench only: the dev
	 * backend's key is exported here) */
	struct pki_ca *c = pki_ca_lookup(pk, "bench", ca, &err);
	struct pki_responder *resp = c ? pki_ca_responder(pk, c) : NULL;
	if (!resp)
		die("responder", &err);
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, resp->cert);
	char *data;
	long dl = BIO_get_mem_data(bio, &data);
	write_file(dir, "responder.pem", data, (size_t)dl);
	BIO_free(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)resp->signer->ctx, NULL, NULL, 0, NULL, NULL);
	dl = BIO_get_mem_data(bio, &data);
	write_file(dir, "responder.key", data, (size_t)dl);
	BIO_free(bio);
	pki_responder_unref(resp);
	write_file(dir, "ca.id", ca, strlen(ca));
	bw_buf_fini(&b);
	pki_issued_fini(&leaf);

	int64_t t0 = bw_clock_mono_ns();
	warm_all(c, (int)sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(stderr, "pki_bench: %zu OCSP responses pre-signed in %.1f s\n",
		pki_ocsp_cache_count(pk), (double)(bw_clock_mono_ns() - t0) / 1e9);

	struct pki_http ph = { .pki = pk, .pool = tpool_new(2, 4096, &err) };
	struct net_http_options ho = { .name = "pki", .header_timeout_ms = 10000,
				       .body_timeout_ms = 10000, .idle_timeout_ms = 60000,
				       .write_timeout_ms = 10000, .max_conns = 10000,
				       .handler = static_or_pki, .handler_arg = &ph };
	http_limits_default(&ho.limits);
	struct net_http_server *srv = net_http_server_new(&ho, &err);
	if (!srv || !ph.pool)
		die("server", &err);
	if (workers < 1 || workers > 64)
		workers = 1;
	struct worker w[64];
	int port = 0;
	for (int i = 0; i < workers; i++) {
		w[i].lp = loop_new(1024, &err);
		w[i].nt = w[i].lp ? net_thread_new(w[i].lp, &err) : NULL;
		int fd = w[i].nt ? net_listen_tcp("127.0.0.1", (uint16_t)port, true, 1024, &err) : -1;
		if (fd < 0)
			die("listen", &err);
		port = net_socket_port(fd);
		if (net_thread_listen(w[i].nt, "pki", fd, srv, &err) < 0)
			die("listen", &err);
		pthread_create(&w[i].t, NULL, worker_run, &w[i]);
	}
	net_http_server_unref(srv);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready %d\n", port);
	fflush(stdout);
	while (!stop)
		pause();
	struct pki_stats s;
	pki_stats_get(pk, &s);
	fprintf(stderr, "pki_bench: ocsp requests %llu, cache hits %llu, signed %llu\n",
		(unsigned long long)s.ocsp_requests, (unsigned long long)s.ocsp_cache_hits,
		(unsigned long long)s.ocsp_signed);
	for (int i = 0; i < workers; i++) {
		loop_stop(w[i].lp);
		pthread_join(w[i].t, NULL);
		net_thread_free(w[i].nt);
		loop_free(w[i].lp);
	}
	tpool_free(ph.pool);
	pki_free(pk);
	pki_keystore_free(ks);
	store_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pki_bench issue|serve -d DIR [options]\n");
		return 2;
	}
	const char *mode = argv[1], *dir = NULL, *key = "ec-p256";
	int n = 0, threads = 1, revoked = 0, workers = 2, c;
	optind = 2;
	while ((c = getopt(argc, argv, "d:k:n:t:N:R:w:")) != -1) {
		uint64_t v = 0;
		if (optarg && c != 'd' && c != 'k' &&
		    bw_str_to_u64(bw_str_make(optarg, strlen(optarg)), &v) < 0)
			return 2;
		switch (c) {
		case 'd': dir = optarg; break;
		case 'k': key = optarg; break;
		case 'n': case 'N': n = (int)v; break;
		case 't': threads = (int)v; break;
		case 'R': revoked = (int)v; break;
		case 'w': workers = (int)v; break;
		default: return 2;
		}
	}
	if (!dir)
		return 2;
	log_init("pki_bench", BW_LOG_WARN, 2);
	if (strcmp(mode, "issue") == 0)
		return cmd_issue(dir, pki_key_type_from_name(key), n ? n : 2000, threads);
	if (strcmp(mode, "serve") == 0)
		return cmd_serve(dir, n ? n : 1000000, revoked, workers);
	return 2;
}
