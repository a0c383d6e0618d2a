/*
 * siem_testd — a stand-alone SIEM for scripts (real-client tests with
 * rsyslog and logger, the benchmark), until the daemon wires the service:
 *
 *   siem_testd serve DIR PORTFILE [RULES_DIR] [THREADS]
 *       Runs the service on data directory DIR with syslog TCP, syslog
 *       TLS (a local CA and a localhost certificate made in DIR/tls by
 *       net_selfca_ensure), syslog UDP and RELP listeners on loopback
 *       ports chosen by the kernel, one set per worker thread
 *       (SO_REUSEPORT), and writes "tcp=P tls=P udp=P relp=P ca=FILE" to
 *       PORTFILE. SIGTERM/SIGINT: detach, flush (everything accepted is
 *       stored), exit 0.
 *   siem_testd count DIR QUERY [FROM]
 *       Prints how many stored events match QUERY (siem search syntax)
 *       since FROM (default: 30 days ago).
 *   siem_testd stats DIR
 *       Prints the partition catalog's event total.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "siem/siem_svc_int.h"

static volatile sig_atomic_t stop;

static void on_sig(int s)
{
	stop = 1;
}

struct worker {
	pthread_t th;
	struct loop *loop;
	struct siem_service *svc;
	_Atomic int detached;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	(void)loop_run(w->loop);
	return NULL;
}

static void detach_task(void *arg)
{
	struct worker *w = arg;
	siem_ingest_detach(w->svc, w->loop);
	atomic_store(&w->detached, 1);
}

static void stop_task(void *arg)
{
	loop_stop(arg);
}

static struct net_tls *make_tls(const char *dir, struct net_selfca_paths *p,
				struct bw_err *err)
{
	if (net_selfca_ensure(dir, p, err) < 0)
		return NULL;
	size_t cl, kl;
	char *crt = bw_file_read(p->cert_file, 1 << 20, &cl, err);
	char *key = crt ? bw_file_read(p->key_file, 1 << 20, &kl, err) : NULL;
	struct net_tls *t = NULL;
	if (crt && key) {
		struct net_tls_cert c = { .name = p->cert_file, .cert_pem = { crt, cl },
					  .key_pem = { key, kl } };
		struct net_tls_config cfg = { .certs = &c, .ncerts = 1, .allow_tls12 = true };
		t = net_tls_new(&cfg, err);
	}
	if (key)
		bw_wipe(key, kl);
	free(crt);
	free(key);
	return t;
}

static int serve(const char *dir, const char *portfile, const char *rules, int nthreads)
{
	struct bw_err err;
	if (net_fetch_global_init(&err) < 0) {
		fprintf(stderr, "curl: %s\n", err.msg);
		return 1;
	}
	char yaml[2048];
	if (nthreads < 1 || nthreads > 64)
		nthreads = 1;
	snprintf(yaml, sizeof(yaml), "siem:\n  rules: [%s]\n", rules ? rules : "");
	const char *extra = getenv("SIEM_TESTD_YAML");
	if (extra)
		snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s", extra);
	struct bw_arena *a = bw_arena_new(8192, 1 << 22);
	struct conf_doc *doc = conf_load_string("siem_testd", yaml, strlen(yaml), a, &err);
	struct siem_service *svc = doc ? siem_service_new(conf_get(doc->root, "siem"), dir, &err) :
					 NULL;
	if (!svc || siem_service_start(svc, &err) < 0) {
		fprintf(stderr, "siem: %s\n", err.msg);
		return 1;
	}
	struct net_selfca_paths paths;
	uint16_t ports[4] = { 0 };
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	for (int i = 0; i < nthreads; i++) {
		w[i].svc = svc;
		w[i].loop = loop_new(65536, &err);
		if (!w[i].loop)
			return 1;
		int fd = net_listen_tcp("127.0.0.1", ports[0], true, 1024, &err);
		if (fd < 0 || siem_ingest_attach_stream(svc, w[i].loop, fd, NULL,
							SIEM_INGEST_SYSLOG, &err) < 0)
			goto fail;
		ports[0] = (uint16_t)net_socket_port(fd);
		struct net_tls *tls = make_tls(dir, &paths, &err);
		fd = tls ? net_listen_tcp("127.0.0.1", ports[1], true, 1024, &err) : -1;
		if (fd < 0 || siem_ingest_attach_stream(svc, w[i].loop, fd, tls,
							SIEM_INGEST_SYSLOG, &err) < 0)
			goto fail;
		ports[1] = (uint16_t)net_socket_port(fd);
		fd = net_udp_bind("127.0.0.1", ports[2], true, &err);
		if (fd < 0 || siem_ingest_attach_udp(svc, w[i].loop, fd, &err) < 0)
			goto fail;
		ports[2] = (uint16_t)net_socket_port(fd);
		fd = net_listen_tcp("127.0.0.1", ports[3], true, 1024, &err);
		if (fd < 0 || siem_ingest_attach_stream(svc, w[i].loop, fd, NULL,
							SIEM_INGEST_RELP, &err) < 0)
			goto fail;
		ports[3] = (uint16_t)net_socket_port(fd);
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0)
			return 1;
	}
	FILE *f = fopen(portfile, "w");
	if (!f)
		return 1;
	fprintf(f, "tcp=%u tls=%u udp=%u relp=%u ca=%s\n", ports[0], ports[1], ports[2],
		ports[3], paths.ca_file);
	fclose(f);
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	while (!stop)
		pause();
	for (int i = 0; i < nthreads; i++) {
		if (loop_post(w[i].loop, detach_task, &w[i]) == 0)
			while (!atomic_load(&w[i].detached))
				usleep(1000);
	}
	siem_service_flush(svc);
	for (int i = 0; i < nthreads; i++) {
		if (loop_post(w[i].loop, stop_task, w[i].loop) < 0)
			loop_stop(w[i].loop);
		pthread_join(w[i].th, NULL);
		loop_free(w[i].loop);
	}
	struct siem_stats s;
	siem_service_stats(svc, &s);
	fprintf(stderr,
		"siem_testd: received %llu stored %llu unparsed %llu refused_udp %llu"
		" udp_kernel_drops %llu paused %llu relp_acks %llu alerts %llu\n",
		(unsigned long long)s.received, (unsigned long long)s.stored,
		(unsigned long long)s.parse_failed, (unsigned long long)s.refused_udp,
		(unsigned long long)s.udp_kernel_drops, (unsigned long long)s.paused,
		(unsigned long long)s.relp_acks, (unsigned long long)s.alerts);
	siem_service_free(svc);
	bw_arena_free(a);
	free(w);
	return 0;
fail:
	fprintf(stderr, "listen: %s\n", err.msg);
	return 1;
}

static int count_cb(void *arg, const struct siem_scan_row *r)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int count(const char *dir, const char *q, const char *from)
{
	struct bw_err err;
	struct siem_service *svc = siem_service_new(NULL, dir, &err);
	if (!svc) {
		fprintf(stderr, "siem: %s\n", err.msg);
		return 1;
	}
	struct siem_query *qq = calloc(1, sizeof(*qq));
	if (!qq || siem_query_parse(qq, q, strlen(q), &err) < 0) {
		fprintf(stderr, "query: %s\n", err.msg);
		return 1;
	}
	int64_t now = bw_clock_now_ns();
	struct siem_scan_opts o = { .from_ns = now - 30LL * 86400 * 1000000000LL,
				    .to_ns = now + 86400LL * 1000000000LL,
				    .max_scan = SIEM_SEARCH_SCAN_HARD };
	if (from && siem_time_parse_rfc3339(from, strlen(from), &o.from_ns) < 0)
		return 1;
	uint64_t n = 0;
	if (siem_scan(svc, qq, &o, count_cb, &n, NULL, &err) < 0) {
		fprintf(stderr, "scan: %s\n", err.msg);
		return 1;
	}
	printf("%llu\n", (unsigned long long)n);
	free(qq);
	siem_service_free(svc);
	return 0;
}

static int sum_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

/* Events stored, from the partition catalog (cheap: one row per day). */
static int stats(const char *dir)
{
	struct bw_err err;
	char path[600];
	snprintf(path, sizeof(path), "%s/siem.db", dir);
	struct store_options so = { .path = path, .read_pool = 1 };
	struct store *st = store_open(&so, &err);
	if (!st) {
		fprintf(stderr, "store: %s\n", err.msg);
		return 1;
	}
	int64_t n = 0;
	int rc = store_query_one(st, "SELECT COALESCE(SUM(events), 0) FROM siem_partition", NULL,
				 0, sum_row, &n, &err);
	store_close(st);
	if (rc < 0) {
		printf("0\n");
		return 0;
	}
	printf("%lld\n", (long long)n);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("siem_testd", BW_LOG_WARN, 2);
	if (argc >= 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], argc > 4 ? argv[4] : NULL,
			     argc > 5 ? (int)strtol(argv[5], NULL, 10) : 1);
	if (argc >= 4 && strcmp(argv[1], "count") == 0)
		return count(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	if (argc >= 3 && strcmp(argv[1], "stats") == 0)
		return stats(argv[2]);
	fprintf(stderr, "usage: siem_testd serve DIR PORTFILE [RULES] [THREADS]\n"
			"       siem_testd count DIR QUERY [FROM]\n");
	return 2;
}
