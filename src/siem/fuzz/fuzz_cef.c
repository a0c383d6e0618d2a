/*
 * fuzz_cef — libFuzzer target for the CEF and LEEF parsers, bare and
 * wrapped in syslog (which goes through the program dispatcher).
 *
 * First byte: 0 CEF, 1 LEEF, 2 the same text behind an RFC 3164 header.
 * Every result must be 0 or a 400/413/500 "siem" error; on success the
 * event must serialise to valid JSON and event.original must equal the
 * input byte for byte (in-place unescaping must never touch it).
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
			fprintf(stderr, "fuzz_cef: %s failed (%s:%d)\n", #c,   \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0] % 3;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct bw_arena *a = bw_arena_new(16384, 64u << 20);
	if (!a)
		return 0;
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL };
	struct siem_event ev;
	struct bw_err err;
	int r;
	char *wrapped = NULL;
	size_t wl = n;
	if (sel == 0) {
		r = siem_parse_cef(p, n, &o, a, &ev, &err);
	} else if (sel == 1) {
		r = siem_parse_leef(p, n, &o, a, &ev, &err);
	} else {
		static const char hdr[] = "<134>Jun 15 10:00:00 fw ";
		wl = sizeof(hdr) - 1 + n;
		wrapped = malloc(wl + 1);
		CHECK(wrapped != NULL);
		memcpy(wrapped, hdr, sizeof(hdr) - 1);
		if (n)
			memcpy(wrapped + sizeof(hdr) - 1, p, n);
		p = wrapped;
		r = siem_parse_syslog(p, wl, &o, a, &ev, &err);
	}
	if (r != 0) {
		CHECK(r == -1);
		CHECK(strcmp(err.module, "siem") == 0);
		CHECK(err.code == 400 || err.code == 413 || err.code == 500);
	} else {
		struct bw_str orig = siem_event_get(&ev, SIEM_F_EVENT_ORIGINAL);
		CHECK(orig.len == wl && (wl == 0 || memcmp(orig.p, p, wl) == 0));
		struct bw_buf b;
		bw_buf_init(&b, 16u << 20);
		CHECK(siem_event_write_json(&ev, &b) == 0);
		struct siem_event back;
		CHECK(siem_event_from_json(b.data, b.len, a, &back, &err) == 0);
		bw_buf_fini(&b);
	}
	free(wrapped);
	bw_arena_free(a);
	return 0;
}
