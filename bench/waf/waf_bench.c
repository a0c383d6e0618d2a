/*
 * waf_bench.c — engine-level WAF benchmark: requests per second through
 * bulwark's engine and through libmodsecurity3 (Debian's 3.0.9,
 * in-process), both with the same base configuration and Debian's OWASP
 * CRS 3.3.4 at paranoia level 1, in one run, on one thread, for the four
 * request types of issue 6:
 *   get      GET /index.html?q=hello
 *   args10   GET with 10 benign arguments
 *   post2k   2 KB application/x-www-form-urlencoded POST
 *   json4k   4 KB application/json POST
 * Each request runs phases 1-5 (a 200 text/html response, no response
 * body inspection, as in the base configuration). Only the engines are
 * measured: no sockets, no parsing of HTTP. Rates are per second of the
 * thread's CPU time, so other load on the machine does not skew the
 * ratio.
 *
 * usage: waf_bench SOURCE_DIR [seconds-per-case]
 * (WAF_BENCH_FORM / WAF_BENCH_JSON name files with other bodies)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include "waf/waf.h"

struct hdr {
	const char *k, *v;
};

struct breq {
	const char *name, *method, *uri, *ctype;
	char *body;
	size_t blen;
};

static const struct hdr base_hdrs[] = {
	{ "Host", "shop.example.com" },
	{ "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0" },
	{ "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" },
	{ "Accept-Language", "en-US,en;q=0.5" },
	{ "Accept-Encoding", "gzip, deflate" },
	{ "Connection", "keep-alive" },
};

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ms_nolog(void *d, const void *m)
{
	(void)d;
	(void)m;
}

static int ms_one(ModSecurity *ms, RulesSet *rules, const struct breq *r)
{
	Transaction *t = msc_new_transaction(ms, rules, NULL);
	ModSecurityIntervention it = { 200, 0, NULL, NULL, 0 };
	int blocked = 0;
	msc_process_connection(t, "192.0.2.10", 40000, "192.0.2.1", 80);
	msc_process_uri(t, r->uri, r->method, "1.1");
	for (size_t i = 0; i < BW_ARRAY_LEN(base_hdrs); i++)
		msc_add_request_header(t, (const unsigned char *)base_hdrs[i].k,
				       (const unsigned char *)base_hdrs[i].v);
	char cl[24];
	if (r->blen) {
		msc_add_request_header(t, (const unsigned char *)"Content-Type",
				       (const unsigned char *)r->ctype);
		(void)bw_snprintf(cl, sizeof(cl), "%zu", r->blen);
		msc_add_request_header(t, (const unsigned char *)"Content-Length",
				       (const unsigned char *)cl);
	}
	msc_process_request_headers(t);
	if (r->blen)
		msc_append_request_body(t, (const unsigned char *)r->body, r->blen);
	msc_process_request_body(t);
	if (msc_intervention(t, &it) && it.disruptive)
		blocked = 1;
	free(it.url);
	free(it.log);
	msc_add_response_header(t, (const unsigned char *)"Content-Type",
				(const unsigned char *)"text/html");
	msc_process_response_headers(t, 200, "HTTP 1.1");
	msc_process_response_body(t);
	msc_process_logging(t);
	msc_transaction_cleanup(t);
	return blocked;
}

static int bw_one(const struct waf_ruleset *rs, const struct breq *r)
{
	struct bw_err err;
	struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .client_ip = "192.0.2.10",
				 .client_port = 40000, .server_ip = "192.0.2.1",
				 .server_port = 80 };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	if (!tx)
		abort();
	struct waf_decision d;
	int rc = waf_tx_request_line(tx, r->method, strlen(r->method), r->uri,
				     strlen(r->uri), "HTTP/1.1", 8);
	for (size_t i = 0; rc == 0 && i < BW_ARRAY_LEN(base_hdrs); i++)
		rc = waf_tx_request_header(tx, base_hdrs[i].k, strlen(base_hdrs[i].k),
					   base_hdrs[i].v, strlen(base_hdrs[i].v));
	if (rc == 0 && r->blen) {
		char cl[24];
		int l = bw_snprintf(cl, sizeof(cl), "%zu", r->blen);
		rc = waf_tx_request_header(tx, "Content-Type", 12, r->ctype,
					   strlen(r->ctype));
		if (rc == 0)
			rc = waf_tx_request_header(tx, "Content-Length", 14, cl,
						   (size_t)l);
	}
	if (rc == 0)
		rc = waf_tx_process_request_headers(tx, &d);
	if (rc == 0 && r->blen)
		rc = waf_tx_append_request_body(tx, r->body, r->blen);
	if (rc == 0)
		rc = waf_tx_process_request_body(tx, &d);
	if (rc == 0)
		rc = waf_tx_response_status(tx, 200, "HTTP/1.1", 8);
	if (rc == 0)
		rc = waf_tx_response_header(tx, "Content-Type", 12, "text/html", 9);
	if (rc == 0)
		rc = waf_tx_process_response_headers(tx, &d);
	if (rc == 0)
		rc = waf_tx_process_response_body(tx, &d);
	if (rc == 0)
		rc = waf_tx_process_logging(tx);
	if (rc != 0)
		abort();
	int blocked = d.verdict != WAF_PASS;
	waf_tx_free(tx);
	return blocked;
}

static char *make_form(size_t target)
{
	char *b = malloc(target + 128);
	size_t o = 0;
	for (int i = 0; o < target; i++) {
		int n = snprintf(b + o, target + 128 - o,
				 "%sfield%d=some+ordinary+value+number+%d", i ? "&" : "",
				 i, i);
		o += (size_t)n;
	}
	b[o] = 0;
	return b;
}

static char *make_json(size_t target)
{
	char *b = malloc(target + 256);
	size_t o = (size_t)snprintf(b, 32, "{\"items\":[");
	for (int i = 0; o < target; i++)
		o += (size_t)snprintf(b + o, target + 256 - o,
				      "%s{\"id\":%d,\"name\":\"item %d\",\"note\":\"a plain description\",\"price\":%d.5}",
				      i ? "," : "", i, i, i);
	o += (size_t)snprintf(b + o, 8, "]}");
	return b;
}

int main(int argc, char **argv)
{
	const char *src = argc > 1 ? argv[1] : ".";
	double secs = argc > 2 ? strtod(argv[2], NULL) : 2.0;
	char conf[2048];
	(void)bw_snprintf(conf, sizeof(conf),
			  "Include %s/tests/waf/base.conf\n"
			  "Include /etc/modsecurity/crs/crs-setup.conf\n"
			  "Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf\n"
			  "Include /usr/share/modsecurity-crs/rules/*.conf\n"
			  "Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf\n",
			  src);
	ModSecurity *ms = msc_init();
	msc_set_log_cb(ms, ms_nolog);
	RulesSet *rules = msc_create_rules_set();
	const char *merr = NULL;
	int64_t t0 = bw_clock_mono_ns();
	if (msc_rules_add(rules, conf, &merr) < 0) {
		fprintf(stderr, "libmodsecurity: %s\n", merr);
		return 2;
	}
	double ms_load = (double)(bw_clock_mono_ns() - t0) / 1e6;
	struct waf_ruleset *rs;
	struct bw_err err;
	t0 = bw_clock_mono_ns();
	if (waf_ruleset_load_buffer("bench.conf", conf, strlen(conf), NULL, &rs,
				    &err) != 0) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return 2;
	}
	double bw_load = (double)(bw_clock_mono_ns() - t0) / 1e6;
	printf("CRS 3.3.4 load: libmodsecurity %.0f ms, bulwark %.0f ms\n",
	       ms_load, bw_load);

	struct breq reqs[4] = {
		{ "get", "GET", "/index.html?q=hello", NULL, NULL, 0 },
		{ "args10", "GET",
		  "/products?category=books&page=2&sort=price&order=asc&limit=20"
		  "&lang=en&currency=EUR&color=blue&size=M&ref=homepage",
		  NULL, NULL, 0 },
		{ "post2k", "POST", "/profile", "application/x-www-form-urlencoded",
		  make_form(2048), 0 },
		{ "json4k", "POST", "/api/items", "application/json",
		  make_json(4096), 0 },
	};
	/* WAF_BENCH_FORM / WAF_BENCH_JSON: the bodies from files instead
	 * (run.sh's proxy bodies, to compare the engine with the gateway) */
	const char *bf[2] = { getenv("WAF_BENCH_FORM"), getenv("WAF_BENCH_JSON") };
	for (int i = 0; i < 2; i++) {
		if (!bf[i])
			continue;
		FILE *f = fopen(bf[i], "rb");
		char *b = f ? malloc(65536) : NULL;
		size_t n = b ? fread(b, 1, 65535, f) : 0;
		if (f)
			fclose(f);
		if (!b || !n) {
			fprintf(stderr, "waf_bench: cannot read %s\n", bf[i]);
			return 2;
		}
		b[n] = 0;
		free(reqs[2 + i].body);
		reqs[2 + i].body = b;
	}
	reqs[2].blen = strlen(reqs[2].body);
	reqs[3].blen = strlen(reqs[3].body);
	printf("%-8s %12s %12s %8s   (requests per CPU-second, one thread)\n", "request",
	       "modsecurity", "bulwark", "ratio");
	(void)0;
	/* WAF_BENCH_ONLY=bulwark and WAF_BENCH_CASE=json4k narrow a run
	 * for profiling (perf record on bulwark's engine alone). */
	const char *only = getenv("WAF_BENCH_ONLY");
	const char *only_case = getenv("WAF_BENCH_CASE");
	/* WAF_BENCH_ITERS=N runs exactly N requests per engine and case
	 * instead of a time budget: with `perf stat -e instructions`,
	 * instructions per request are steadier than CPU time on a shared
	 * machine. */
	const char *iters_env = getenv("WAF_BENCH_ITERS");
	long iters = iters_env ? strtol(iters_env, NULL, 10) : -1;
	for (int i = 0; i < 4; i++) {
		const struct breq *r = &reqs[i];
		if (only_case && strcmp(only_case, r->name) != 0)
			continue;
		if (ms_one(ms, rules, r) || bw_one(rs, r))
			fprintf(stderr, "warning: %s is blocked\n", r->name);
		double rate[2] = { 1, 1 };
		for (int e = 0; e < 2; e++) {
			if (only && strcmp(only, e ? "bulwark" : "modsecurity") != 0)
				continue;
			long n = 0;
			int64_t start = cpu_ns(), now;
			if (iters >= 0) {
				for (; n < iters; n++)
					(void)(e ? bw_one(rs, r) : ms_one(ms, rules, r));
				now = cpu_ns();
			} else {
				do {
					for (int k = 0; k < 20; k++, n++)
						(void)(e ? bw_one(rs, r) : ms_one(ms, rules, r));
					now = cpu_ns();
				} while ((double)(now - start) < secs * 1e9);
			}
			if (now == start)
				now++;
			rate[e] = (double)n / ((double)(now - start) / 1e9);
		}
		printf("%-8s %12.0f %12.0f %7.1fx\n", r->name, rate[0], rate[1],
		       rate[1] / rate[0]);
	}
	free(reqs[2].body);
	free(reqs[3].body);
	waf_ruleset_free(rs);
	msc_rules_cleanup(rules);
	msc_cleanup(ms);
	return 0;
}
