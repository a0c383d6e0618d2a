/*
 * siem_bench — single-threaded SIEM pipeline throughput: parse an RFC
 * 5424 line (206 bytes, sshd message with structured data), normalise it
 * (program parser), and match it against N Sigma rules (index + full
 * evaluation of candidates), plus correlation feeding. Prints events/s
 * for parse alone and for parse+match at 10, 100 and 1000 rules.
 *   siem_bench [-n EVENTS] [-r RULES_DIR]
 * The rule set is the project's rules (tests/siem/rules) plus generated
 * rules in the shapes published Sigma rules have (field equality lists,
 * contains/startswith/endswith, keywords, cidr, regex, numeric), up to N.
 * Not a unit test: bench/siem/run.sh builds and runs it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "siem/siem.h"

#define NLINES 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char lines[NLINES][256];
static size_t lens[NLINES];

/* 206-byte RFC 5424 lines: realistic sshd traffic with varying users,
 * addresses and outcomes, padded in the SD value to exactly 206 bytes. */
static void make_lines(void)
{
	static const char *const users[] = { "root", "admin", "alice", "oracle",
					     "deploy", "test", "ubuntu", "git" };
	static const char *const verbs[] = { "Failed password for ",
					     "Accepted publickey for ",
					     "Invalid user ",
					     "Disconnected from user " };
	static const char *const mids[] = { " from ", " from ", " from ", " " };
	static const char *const tails[] = { " ssh2", " ssh2", "", "" };
	for (int i = 0; i < NLINES; i++) {
		char msg[128], ip[32];
		snprintf(ip, sizeof(ip), "203.0.%d.%d", (i / 251) % 256,
			 i % 251);
		snprintf(msg, sizeof(msg), "%s%s%s%s port %d%s", verbs[i % 4],
			 users[i % 8], mids[i % 4], ip, 1024 + (i * 37) % 60000,
			 tails[i % 4]);
		char head[160];
		snprintf(head, sizeof(head),
			 "<38>1 2024-06-15T10:%02d:%02d.%06dZ bastion.example.com "
			 "sshd %d - [origin ip=\"192.0.2.1\" x=\"",
			 (i / 60) % 60, i % 60, i * 7 % 1000000, 1000 + i);
		size_t fixed = strlen(head) + strlen("\"] ") + strlen(msg);
		size_t pad = fixed < 206 ? 206 - fixed : 0;
		char padding[128];
		memset(padding, 'p', pad);
		padding[pad] = '\0';
		int n = snprintf(lines[i], sizeof(lines[i]), "%s%s\"] %s", head,
				 padding, msg);
		lens[i] = (size_t)n;
	}
}

static int gen_rule(struct bw_buf *b, int i)
{
	bw_buf_reset(b);
	switch (i % 8) {
	case 0:
		return bw_buf_printf(b,
			"title: g%d\nlogsource:\n  service: sshd\ndetection:\n"
			"  s:\n    User:\n      - svc%d\n      - bot%d\n"
			"    event.outcome: success\n  condition: s\n", i, i, i);
	case 1:
		return bw_buf_printf(b,
			"title: g%d\ndetection:\n  s:\n    message|contains:\n"
			"      - 'needle%d'\n      - 'pattern %d x'\n"
			"  condition: s\n", i, i, i);
	case 2:
		return bw_buf_printf(b,
			"title: g%d\nlogsource:\n  category: webserver\n"
			"detection:\n  s:\n    cs-uri-stem|startswith: /app%d/\n"
			"    sc-status: 500\n  condition: s\n", i, i);
	case 3:
		return bw_buf_printf(b,
			"title: g%d\ndetection:\n  k:\n    - 'kw%d-attack'\n"
			"  condition: k\n", i, i);
	case 4:
		return bw_buf_printf(b,
			"title: g%d\ndetection:\n  s:\n    Image|endswith: "
			"'\\\\tool%d.exe'\n  f:\n    User: system\n"
			"  condition: s and not f\n", i, i);
	case 5:
		return bw_buf_printf(b,
			"title: g%d\ndetection:\n  s:\n    SourceIp|cidr: "
			"10.%d.0.0/16\n    DestinationPort: %d\n"
			"  condition: s\n", i, i % 256, 1000 + i);
	case 6:
		return bw_buf_printf(b,
			"title: g%d\ndetection:\n  s:\n    user_agent.original"
			"|re: '^evil-%d/[0-9]+'\n    http.request.method: POST\n"
			"  condition: s\n", i, i);
	default:
		return bw_buf_printf(b,
			"title: g%d\nlogsource:\n  service: sudo\ndetection:\n"
			"  s:\n    CommandLine|contains|all:\n      - 'chmod'\n"
			"      - '%d'\n  condition: s\n", i, 4000 + i);
	}
}

static struct siem_ruleset *make_rules(const char *dir, int n, int *loaded)
{
	struct siem_ruleset *rs = siem_ruleset_new();
	struct bw_err err;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".yml") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((int)siem_ruleset_count(rs) < n &&
		    siem_ruleset_add_file(rs, path, &err) < 0)
			fprintf(stderr, "%s\n", err.msg);
	}
	if (d)
		closedir(d);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	for (int i = 0; (int)siem_ruleset_count(rs) < n; i++) {
		if (gen_rule(&b, i) < 0 ||
		    siem_ruleset_add_string(rs, "gen", b.data, b.len, &err) < 0) {
			fprintf(stderr, "gen: %s\n", err.msg);
			exit(1);
		}
	}
	bw_buf_fini(&b);
	if (siem_ruleset_compile(rs, &err) < 0) {
		fprintf(stderr, "compile: %s\n", err.msg);
		exit(1);
	}
	*loaded = (int)siem_ruleset_count(rs);
	return rs;
}

static void count_alert(const struct siem_alert *a, void *arg)
{
	(void)a;
	(*(long *)arg)++;
}

/* Runs nev events; returns events/s. rs NULL = parse only. */
static double run(struct siem_ruleset *rs, long nev, long *matches,
		  long *alerts, double *cand_per_ev)
{
	struct siem_matcher *m = rs ? siem_matcher_new(rs) : NULL;
	struct siem_corr *c = rs ? siem_corr_new(rs, 0) : NULL;
	uint32_t out[256];
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL };
	struct bw_err err;
	struct bw_arena *a = NULL;
	*matches = 0;
	*alerts = 0;
	double t0 = now_s();
	for (long i = 0; i < nev; i++) {
		if (i % 1024 == 0) { /* one arena per ingest batch */
			bw_arena_free(a);
			a = bw_arena_new(1 << 20, 64u << 20);
		}
		struct siem_event ev;
		int k = (int)(i % NLINES);
		if (siem_parse_syslog(lines[k], lens[k], &o, a, &ev, &err) < 0) {
			fprintf(stderr, "parse: %s\n", err.msg);
			exit(1);
		}
		if (m) {
			long n = siem_match(m, &ev, out, 256);
			*matches += n;
			*alerts += siem_corr_feed(c, &ev, out,
						  (size_t)(n < 256 ? n : 256),
						  count_alert, alerts);
		}
	}
	double dt = now_s() - t0;
	if (m) {
		struct siem_match_stats st;
		siem_matcher_stats(m, &st);
		*cand_per_ev = (double)st.candidates / (double)st.events;
	}
	bw_arena_free(a);
	siem_corr_free(c);
	siem_matcher_free(m);
	return (double)nev / dt;
}

int main(int argc, char **argv)
{
	long nev = 1000000;
	const char *dir = "tests/siem/rules";
	int opt;
	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			nev = strtol(optarg, NULL, 10);
		else if (opt == 'r')
			dir = optarg;
		else {
			fprintf(stderr, "usage: siem_bench [-n EVENTS] "
					"[-r RULES_DIR]\n");
			return 2;
		}
	}
	make_lines();
	printf("siem_bench: %ld events of %zu-byte RFC 5424 sshd lines, one "
	       "thread\n",
	       nev, lens[0]);
	long mt, al;
	double cpe = 0;
	(void)run(NULL, nev / 4 + 1, &mt, &al, &cpe); /* warm caches, heap */
	double eps = run(NULL, nev, &mt, &al, &cpe);
	printf("%-28s %12.0f events/s\n", "parse + normalise", eps);
	static const int sizes[] = { 10, 100, 1000 };
	for (size_t i = 0; i < 3; i++) {
		int loaded;
		struct siem_ruleset *rs = make_rules(dir, sizes[i], &loaded);
		eps = run(rs, nev, &mt, &al, &cpe);
		char label[64];
		snprintf(label, sizeof(label), "+ match %d rules", loaded);
		printf("%-28s %12.0f events/s  (%.1f rules evaluated/event, "
		       "%ld matches, %ld correlation alerts)\n",
		       label, eps, cpe, mt, al);
		siem_ruleset_free(rs);
	}
	return 0;
}
