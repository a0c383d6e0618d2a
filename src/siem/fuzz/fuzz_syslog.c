/*
 * fuzz_syslog — libFuzzer target for the line parsers: RFC 5424, RFC 3164,
 * siem_parse_line's format detection, the access-log parser and every
 * program message parser behind them, plus ECS JSON input.
 *
 * The first byte picks the entry point; the rest is the line. For every
 * input the parser must return 0 or -1 with a "siem" error of class 400,
 * 413 or 500; on success the event must serialise to JSON that reads
 * back, with the same timestamp.
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
			fprintf(stderr, "fuzz_syslog: %s failed (%s:%d)\n", #c, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0] % 8;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct bw_arena *a = bw_arena_new(16384, 64u << 20);
	if (!a)
		return 0;
	struct siem_parse_opts o = { .now_ns = 1718452800000000000LL,
				     .tz_offset_s = (int32_t)(sel * 3600) - 7200,
				     .observer = "192.0.2.1" };
	struct siem_event ev;
	struct bw_err err;
	int r;
	switch (sel) {
	case 0:
		r = siem_parse_syslog(p, n, &o, a, &ev, &err);
		break;
	case 1:
		r = siem_parse_rfc3164(p, n, &o, a, &ev, &err);
		break;
	case 2:
		r = siem_parse_rfc5424(p, n, &o, a, &ev, &err);
		break;
	case 3:
		r = siem_parse_access(p, n, &o, a, &ev, &err);
		break;
	case 4:
		r = siem_event_from_json(p, n, a, &ev, &err);
		break;
	default:
		r = siem_parse_line(p, n, &o, a, &ev, &err);
		break;
	}
	if (r != 0) {
		CHECK(r == -1);
		CHECK(strcmp(err.module, "siem") == 0);
		CHECK(err.code == 400 || err.code == 413 || err.code == 500);
	} else {
		struct bw_buf b;
		bw_buf_init(&b, 16u << 20);
		CHECK(siem_event_write_json(&ev, &b) == 0);
		struct siem_event back;
		CHECK(siem_event_from_json(b.data, b.len, a, &back, &err) == 0);
		/* bw_time_format keeps milliseconds */
		CHECK(back.ts_ns / 1000000 == ev.ts_ns / 1000000);
		bw_buf_fini(&b);
	}
	bw_arena_free(a);
	return 0;
}
