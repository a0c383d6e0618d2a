/*
 * json_bench — parse throughput of bulwark's JSON reader against jansson
 * on the same NDJSON corpus, in the same run.
 *
 * The corpus is generated here (deterministic PRNG, no input files): ECS-
 * style security events of ~400-600 bytes — authentication, network and
 * process events with nested objects, arrays, integers, a few floats and
 * now and then escaped or non-ASCII text, as the SIEM ingests them. Each
 * parser takes every line on its own, the way NDJSON ingest does:
 *  - bulwark: json_parse() into an arena that is replaced every 1,024
 *    lines (one arena per ingest batch), duplicate keys rejected;
 *  - jansson: json_loadb(JSON_REJECT_DUPLICATES) and json_decref().
 * Each is timed over the whole corpus several times; the best pass counts.
 *
 * jansson lives in json_bench_jansson.c: its enum names (JSON_NULL, ...)
 * clash with ours, so the two cannot share a translation unit.
 *
 * Usage: json_bench [lines] [passes] [--write FILE] [--only NAME]
 *                   [--batch LINES_PER_ARENA] [--block ARENA_BLOCK_BYTES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json/json.h"
#include "json_bench.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rng() % n);
}

static const char *const users[] = { "alice", "bob", "carol", "dave",
				     "eve", "mallory", "svc-backup",
				     "j\\u00f6rg", "zo\xc3\xab" };
static const char *const hosts[] = { "web-01", "web-02", "db-01", "vpn-gw",
				     "build-7", "dc-01.corp.example" };
static const char *const actions[] = { "user-login", "connection-attempted",
				       "process-started", "file-modified",
				       "http-request", "policy-denied" };
static const char *const outcomes[] = { "success", "failure", "unknown" };
static const char *const cats[] = { "authentication", "network", "process",
				    "file", "web", "iam" };
static const char *const procs[] = { "sshd", "nginx", "bash", "python3",
				     "powershell.exe", "curl" };
/* One free-text message, sometimes with escapes or non-ASCII text. The
 * formats are literals so the compiler checks them. */
static void gen_message(char *m, size_t cap, const char *user,
			const char *ip, unsigned port)
{
	switch (pick(6)) {
	case 0:
		snprintf(m, cap, "Accepted publickey for %s from %s port %u ssh2",
			 user, ip, port);
		break;
	case 1:
		snprintf(m, cap, "Failed password for invalid user %s from %s "
				 "port %u", user, ip, port);
		break;
	case 2:
		snprintf(m, cap, "GET request blocked by rule \\\"sqli-942100"
				 "\\\" for %s from %s:%u", user, ip, port);
		break;
	case 3:
		snprintf(m, cap, "process C:\\\\Windows\\\\System32\\\\"
				 "cmd.exe spawned by %s (%s:%u)", user, ip, port);
		break;
	case 4:
		snprintf(m, cap, "session opened for %s from %s (port %u)\\n",
			 user, ip, port);
		break;
	default:
		snprintf(m, cap, "login r\xc3\xa9ussie pour %s depuis %s:%u "
				 "\xe2\x9c\x93", user, ip, port);
		break;
	}
}

/* Appends one event line (with its '\n') to buf; returns the length. */
static size_t gen_event(char *buf, size_t cap, unsigned long seq)
{
	const char *user = users[pick(BW_ARRAY_LEN(users))];
	const char *host = hosts[pick(BW_ARRAY_LEN(hosts))];
	unsigned a = pick(BW_ARRAY_LEN(actions));
	char sip[32], dip[32], msg[256];
	snprintf(sip, sizeof(sip), "%u.%u.%u.%u", 1 + pick(223), pick(256),
		 pick(256), 1 + pick(254));
	snprintf(dip, sizeof(dip), "10.%u.%u.%u", pick(256), pick(256),
		 1 + pick(254));
	unsigned sport = 1024 + pick(60000);
	gen_message(msg, sizeof(msg), user, sip, sport);
	unsigned ms = pick(1000);
	int n = snprintf(
		buf, cap,
		"{\"@timestamp\":\"2026-11-%02uT%02u:%02u:%02u.%03uZ\","
		"\"event\":{\"id\":\"%016llx\",\"kind\":\"event\","
		"\"category\":[\"%s\"],"
		"\"action\":\"%s\",\"outcome\":\"%s\",\"severity\":%u,"
		"\"risk_score\":%u.%02u,\"sequence\":%lu},"
		"\"host\":{\"name\":\"%s\",\"ip\":[\"%s\"]},"
		"\"source\":{\"ip\":\"%s\",\"port\":%u},"
		"\"destination\":{\"ip\":\"%s\",\"port\":%u},"
		"\"user\":{\"name\":\"%s\"},"
		"\"process\":{\"pid\":%u,\"name\":\"%s\"},"
		"\"network\":{\"bytes\":%u},"
		"\"message\":\"%s\",\"tags\":[\"ingest\"],"
		"\"alert\":%s}\n",
		1 + pick(28), pick(24), pick(60), pick(60), ms,
		(unsigned long long)rng(), cats[a], actions[a],
		outcomes[pick(3)], pick(8), pick(100), pick(100), seq, host,
		dip, sip, sport, dip,
		pick(2) ? 443 : 22, user, 100 + pick(60000),
		procs[pick(BW_ARRAY_LEN(procs))],
		pick(1u << 20), msg,
		pick(4) ? "false" : "true");
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "event too long\n");
		exit(1);
	}
	return (size_t)n;
}

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static size_t batch = 1024;   /* lines per arena */
static size_t block = 64 << 10; /* arena block size */

static double run_bulwark(const struct line *lines, size_t n, size_t *sink)
{
	double t0 = bench_now();
	struct bw_arena *a = NULL;
	struct bw_err err;
	for (size_t i = 0; i < n; i++) {
		if (i % batch == 0) {
			bw_arena_free(a);
			a = bw_arena_new(block, 0);
			if (!a)
				exit(1);
		}
		const struct json_value *v =
			json_parse(a, lines[i].p, lines[i].len, NULL, &err);
		if (!v) {
			fprintf(stderr, "bulwark rejected line %zu: %s\n", i,
				err.msg);
			exit(1);
		}
		*sink += v->u.obj.n;
	}
	bw_arena_free(a);
	return bench_now() - t0;
}

int main(int argc, char **argv)
{
	size_t nlines = 100000;
	int passes = 5;
	const char *write_path = NULL, *only = NULL;
	int pos = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--write") == 0 && i + 1 < argc)
			write_path = argv[++i];
		else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
			batch = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--block") == 0 && i + 1 < argc)
			block = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i]; /* "bulwark" or "jansson", to profile */
		else if (pos++ == 0)
			nlines = strtoul(argv[i], NULL, 10);
		else
			passes = (int)strtol(argv[i], NULL, 10);
	}
	if (nlines == 0 || passes <= 0 || batch == 0) {
		fprintf(stderr, "usage: json_bench [lines] [passes] "
				"[--write FILE]\n");
		return 2;
	}
	size_t cap = nlines * 1024;
	char *corpus = malloc(cap);
	struct line *lines = calloc(nlines, sizeof(*lines));
	if (!corpus || !lines)
		return 1;
	size_t len = 0, minl = SIZE_MAX, maxl = 0;
	for (size_t i = 0; i < nlines; i++) {
		size_t l = gen_event(corpus + len, cap - len, i);
		lines[i].p = corpus + len;
		lines[i].len = l - 1; /* without the newline */
		minl = l < minl ? l : minl;
		maxl = l > maxl ? l : maxl;
		len += l;
	}
	if (write_path) {
		FILE *f = fopen(write_path, "w");
		if (!f || fwrite(corpus, 1, len, f) != len || fclose(f) != 0) {
			perror(write_path);
			return 1;
		}
	}
	printf("corpus: %zu events, %.1f MB, %zu..%zu bytes/event "
	       "(mean %.0f)\n",
	       nlines, (double)len / 1e6, minl, maxl, (double)len / nlines);

	size_t sink = 0;
	double best_b = 1e9, best_j = 1e9;
	for (int p = 0; p < passes; p++) {
		/* alternate so neither parser always runs on a warm cache */
		double tb = 1e9, tj = 1e9;
		if (!only || strcmp(only, "bulwark") == 0)
			tb = run_bulwark(lines, nlines, &sink);
		if (!only || strcmp(only, "jansson") == 0)
			tj = run_jansson(lines, nlines, &sink);
		best_b = tb < best_b ? tb : best_b;
		best_j = tj < best_j ? tj : best_j;
	}
	double mb = (double)len / 1e6;
	printf("bulwark json_parse: %8.1f MB/s %10.0f events/s\n",
	       mb / best_b, (double)nlines / best_b);
	printf("jansson %-10s: %8.1f MB/s %10.0f events/s\n", bench_jansson_version(),
	       mb / best_j, (double)nlines / best_j);
	if (!only)
		printf("ratio bulwark/jansson: %.2fx  (best of %d passes; "
		       "%zu lines per arena, %zu-byte blocks; sink %zu)\n",
		       best_j / best_b, passes, batch, block, sink % 10);
	free(lines);
	free(corpus);
	return 0;
}
