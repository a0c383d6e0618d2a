/*
 * iam_loadlat — event-loop latency of a running bulwark while a burst of
 * password logins hashes (issue 4's goal: p99 of an unrelated request
 * stays under 5 ms while 200 logins are in flight).
 *
 * One thread fires N concurrent REST logins (POST .../login, one
 * connection each, libcurl multi) and counts them; the main thread probes
 * meanwhile with two unrelated requests on keep-alive connections, one
 * after the other, and records each latency: GET /healthz (answered on
 * the event loop) and an authenticated GET of the tenant (a store read on
 * the shared pool). The same probes run first without load as the
 * baseline. Results go to stdout as "key value" lines for run.sh.
 *
 * Usage: iam_loadlat BASE_URL TOKEN TENANT USER PASSWORD [N]
 *   BASE_URL is the plain-HTTP admin listener (http://127.0.0.1:PORT).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBES_MAX 200000
#define LOGINS_MAX 2000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

struct load {
	const char *url;
	char body[512];
	int n;
	int ok, failed;
	double start_ms, end_ms;
	atomic_int done;
};

static void *load_main(void *arg)
{
	struct load *ld = arg;
	CURLM *m = curl_multi_init();
	CURL **h = calloc((size_t)ld->n, sizeof(*h));
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (!m || !h)
		abort();
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)ld->n);
	ld->start_ms = now_ms();
	for (int i = 0; i < ld->n; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_URL, ld->url);
		curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, ld->body);
		curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 120L);
		curl_easy_setopt(h[i], CURLOPT_FORBID_REUSE, 1L);
		curl_multi_add_handle(m, h[i]);
	}
	int running = 1;
	while (running) {
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			long code = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result == CURLE_OK && code == 200)
				ld->ok++;
			else
				ld->failed++;
		}
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	ld->end_ms = now_ms();
	for (int i = 0; i < ld->n; i++) {
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	free(h);
	curl_slist_free_all(hdr);
	curl_multi_cleanup(m);
	atomic_store(&ld->done, 1);
	return NULL;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct series {
	double *v;
	size_t n;
};

static void report(const char *name, struct series *s)
{
	if (s->n == 0) {
		printf("%s_n 0\n", name);
		return;
	}
	qsort(s->v, s->n, sizeof(double), cmpd);
	printf("%s_n %zu\n%s_p50_ms %.3f\n%s_p99_ms %.3f\n%s_max_ms %.3f\n", name, s->n,
	       name, s->v[s->n / 2], name, s->v[(s->n * 99) / 100], name, s->v[s->n - 1]);
}

/* One GET on a kept-alive handle; its latency in ms, or -1. */
static double probe(CURL *h)
{
	double t0 = now_ms();
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code == 200 ? now_ms() - t0 : -1;
}

static CURL *probe_handle(const char *url, struct curl_slist *hdr)
{
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	if (hdr)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	return h;
}

static void sleep_ms(double ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)(ms * 1e6) };
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: iam_loadlat BASE_URL TOKEN TENANT USER PASSWORD [N]\n");
		return 2;
	}
	const char *base = argv[1], *token = argv[2], *tenant = argv[3];
	int n = argc > 6 ? (int)strtol(argv[6], NULL, 10) : 200;
	if (n < 1 || n > LOGINS_MAX)
		n = 200;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char url_health[512], url_api[512], url_login[512], auth[256];
	snprintf(url_health, sizeof(url_health), "%s/healthz", base);
	snprintf(url_api, sizeof(url_api), "%s/api/v1/iam/tenants/%s", base, tenant);
	snprintf(url_login, sizeof(url_login), "%s/api/v1/iam/tenants/%s/login", base, tenant);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	struct curl_slist *ah = curl_slist_append(NULL, auth);
	CURL *hh = probe_handle(url_health, NULL), *ha = probe_handle(url_api, ah);

	struct series bh = { calloc(PROBES_MAX, sizeof(double)), 0 };
	struct series ba = { calloc(PROBES_MAX, sizeof(double)), 0 };
	struct series lh = { calloc(PROBES_MAX, sizeof(double)), 0 };
	struct series la = { calloc(PROBES_MAX, sizeof(double)), 0 };
	if (!bh.v || !ba.v || !lh.v || !la.v)
		return 1;
	/* Baseline: 300 probe pairs, 2 ms apart. */
	for (int i = 0; i < 300; i++) {
		double a = probe(hh), b = probe(ha);
		if (a < 0 || b < 0) {
			fprintf(stderr, "iam_loadlat: baseline probe failed\n");
			return 1;
		}
		bh.v[bh.n++] = a;
		ba.v[ba.n++] = b;
		sleep_ms(2);
	}

	struct load ld = { .url = url_login, .n = n };
	snprintf(ld.body, sizeof(ld.body), "{\"username\":\"%s\",\"password\":\"%s\"}", argv[4],
		 argv[5]);
	pthread_t th;
	if (pthread_create(&th, NULL, load_main, &ld) != 0)
		return 1;
	int probe_failures = 0;
	while (!atomic_load(&ld.done) && lh.n < PROBES_MAX) {
		double a = probe(hh), b = probe(ha);
		if (a < 0 || b < 0)
			probe_failures++;
		else {
			lh.v[lh.n++] = a;
			la.v[la.n++] = b;
		}
		sleep_ms(2);
	}
	pthread_join(th, NULL);
	double secs = (ld.end_ms - ld.start_ms) / 1e3;
	printf("logins %d\nlogins_ok %d\nlogins_failed %d\nlogin_seconds %.2f\n"
	       "logins_per_s %.1f\nprobe_failures %d\n",
	       n, ld.ok, ld.failed, secs, secs > 0 ? ld.ok / secs : 0.0, probe_failures);
	report("baseline_healthz", &bh);
	report("baseline_api", &ba);
	report("load_healthz", &lh);
	report("load_api", &la);
	curl_easy_cleanup(hh);
	curl_easy_cleanup(ha);
	curl_slist_free_all(ah);
	free(bh.v);
	free(ba.v);
	free(lh.v);
	free(la.v);
	curl_global_cleanup();
	return ld.failed || probe_failures ? 1 : 0;
}
