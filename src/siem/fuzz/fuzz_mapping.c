/*
 * fuzz_mapping — libFuzzer target for the field and logsource mapping
 * file (siem_ruleset_add_mapping).
 *
 * The input is the mapping. Loading must give 0 or a 400/409/413/500
 * "siem" error; after a successful load a fixed rule using a mapped-or-
 * not field and logsource must still load, compile and match an event
 * without crashing, so every entry the loader accepts is usable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_mapping: %s failed (%s:%d)\n", #c, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

static const char RULE[] =
	"title: t\nlogsource: {product: p, service: s, category: c}\n"
	"detection:\n  s:\n    a: x\n    SourceIp|cidr: 192.0.2.0/24\n"
	"    b|contains: y\n  condition: s\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct siem_ruleset *rs = siem_ruleset_new();
	if (!rs)
		return 0;
	struct bw_err err;
	int rc = siem_ruleset_add_mapping(rs, "fuzz.yml", (const char *)data, size, &err);
	if (rc < 0) {
		CHECK(err.code == 400 || err.code == 409 || err.code == 413 ||
		      err.code == 500);
		CHECK(strcmp(err.module, "siem") == 0);
		siem_ruleset_free(rs);
		return 0;
	}
	if (siem_ruleset_add_string(rs, "rule.yml", RULE, sizeof(RULE) - 1, &err) == 0 &&
	    siem_ruleset_compile(rs, &err) == 0) {
		struct bw_arena *a = bw_arena_new(4096, 1 << 20);
		struct siem_matcher *m = siem_matcher_new(rs);
		if (a && m) {
			struct siem_event ev;
			siem_event_init(&ev, a);
			siem_event_setz(&ev, SIEM_F_SOURCE_IP, "192.0.2.7");
			siem_event_setz(&ev, SIEM_F_PROCESS_NAME, "s");
			siem_event_setz(&ev, SIEM_F_EVENT_CATEGORY, "c");
			(void)siem_event_label(&ev, "a", 1, "X", 1);
			(void)siem_event_label(&ev, "b", 1, "zyz", 3);
			uint32_t out[4];
			CHECK(siem_match(m, &ev, out, 4) >= 0);
		}
		siem_matcher_free(m);
		bw_arena_free(a);
	}
	siem_ruleset_free(rs);
	return 0;
}
