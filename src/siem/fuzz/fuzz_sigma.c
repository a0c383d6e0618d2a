/*
 * fuzz_sigma — libFuzzer target for the Sigma loader, condition parser,
 * index builder, matcher and correlation engine.
 *
 * The input is a rule file. Loading must succeed or fail with a "siem"
 * error of class 400/409/413/500; a loaded set must compile or fail
 * with "reference"; a compiled set is run over a few fixed events
 * (through the matcher and the correlation engine), where the indexed
 * matcher must agree with evaluating every detection rule directly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_sigma: %s failed (%s:%d)\n", #c, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

static const char *const lines[] = {
	"<38>Jun 15 10:00:03 bastion sshd[1203]: Failed password for root "
	"from 203.0.113.50 port 33211 ssh2",
	"<86>Jun 15 11:00:00 web1 sudo: alice : TTY=pts/0 ; PWD=/ ; "
	"USER=root ; COMMAND=/usr/bin/id -u",
	"192.0.2.44 - bob [15/Jun/2024:10:15:32 +0000] \"GET /a?b=c "
	"HTTP/1.1\" 404 5 \"-\" \"sqlmap/1.7 d2hvYW1p\"",
	"CEF:0|V|P|1|100|name|5|src=10.0.0.1 dst=2.1.2.2 cs1=x cs1Label=env",
};

static void nop(const struct siem_alert *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct siem_ruleset *rs = siem_ruleset_new();
	if (!rs)
		return 0;
	struct bw_err err;
	if (siem_ruleset_add_string(rs, "fuzz.yml", (const char *)data, size,
				    &err) < 0) {
		CHECK(strcmp(err.module, "siem") == 0);
		CHECK(err.code == 400 || err.code == 413 || err.code == 500);
		CHECK(siem_ruleset_count(rs) == 0);
		siem_ruleset_free(rs);
		return 0;
	}
	if (siem_ruleset_compile(rs, &err) < 0) {
		CHECK(strcmp(err.reason, "reference") == 0 ||
		      err.code == 500);
		siem_ruleset_free(rs);
		return 0;
	}
	struct siem_matcher *m = siem_matcher_new(rs);
	struct siem_corr *c = siem_corr_new(rs, 16);
	struct bw_arena *a = bw_arena_new(16384, 16u << 20);
	CHECK(m && c && a);
	size_t n = siem_ruleset_count(rs);
	uint32_t *out = calloc(n ? n : 1, sizeof(*out));
	CHECK(out);
	int alerts = 0;
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL };
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct siem_event ev;
		CHECK(siem_parse_line(lines[i], strlen(lines[i]), &o, a, &ev,
				      &err) == 0);
		long hits = siem_match(m, &ev, out, n);
		CHECK(hits >= 0);
		long k = 0;
		for (size_t r = 0; r < n; r++) {
			if (rs->rules[r]->corr)
				continue;
			bool want = siem_rule_eval(m, rs->rules[r], &ev);
			bool got = k < hits && out[k] == r;
			CHECK(want == got);
			k += got;
		}
		CHECK(k == hits);
		CHECK(siem_corr_feed(c, &ev, out, (size_t)hits, nop, &alerts) >=
		      0);
	}
	CHECK(siem_corr_advance(c, INT64_MAX / 2, nop, &alerts) >= 0);
	free(out);
	bw_arena_free(a);
	siem_corr_free(c);
	siem_matcher_free(m);
	siem_ruleset_free(rs);
	return 0;
}
