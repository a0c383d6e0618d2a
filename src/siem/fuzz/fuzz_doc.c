/*
 * fuzz_doc — libFuzzer target for the compact stored event (siem_doc.c).
 *
 * The first byte picks the mode. Even: the rest, behind the magic and
 * version, is read as a stored document; it must decode or fail with a
 * "siem" 400, and what decodes must write and read back to an event with
 * the same ECS JSON. Odd: the rest is a log line for siem_parse_line (a
 * failed parse still stores its event.original); its event must survive
 * write and read exactly (the same ECS JSON, byte for byte).
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
			fprintf(stderr, "fuzz_doc: %s failed (%s:%d)\n", #c,   \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

/* ev -> compact -> event: the JSON of both must be identical. */
static void round_trip(const struct siem_event *ev, struct bw_arena *a)
{
	struct bw_buf bin, j1, j2;
	bw_buf_init(&bin, 16u << 20);
	bw_buf_init(&j1, 64u << 20);
	bw_buf_init(&j2, 64u << 20);
	struct siem_event back;
	struct bw_err err;
	CHECK(siem_event_write_bin(ev, &bin) == 0);
	CHECK(siem_event_from_bin(bin.data, bin.len, a, &back, &err) == 0);
	CHECK(siem_event_write_json(ev, &j1) == 0);
	CHECK(siem_event_write_json(&back, &j2) == 0);
	CHECK(j1.len == j2.len && memcmp(j1.data, j2.data, j1.len) == 0);
	bw_buf_fini(&bin);
	bw_buf_fini(&j1);
	bw_buf_fini(&j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct bw_arena *a = bw_arena_new(16384, 64u << 20);
	if (!a)
		return 0;
	struct siem_event ev;
	struct bw_err err;
	if ((data[0] & 1) == 0) {
		uint8_t *doc = malloc(size + 1);
		if (!doc) {
			bw_arena_free(a);
			return 0;
		}
		doc[0] = 0xEC;
		doc[1] = 1;
		memcpy(doc + 2, data + 1, size - 1);
		if (siem_event_from_bin(doc, size + 1, a, &ev, &err) == 0)
			round_trip(&ev, a);
		else
			CHECK(strcmp(err.module, "siem") == 0 && err.code == 400);
		free(doc);
	} else {
		struct siem_parse_opts o = { .now_ns = 1718452800000000000LL,
					     .observer = "192.0.2.1",
					     .tenant = "t1" };
		int r = siem_parse_line((const char *)data + 1, size - 1, &o, a, &ev, &err);
		CHECK(r == 0 || r == -1);
		round_trip(&ev, a);
	}
	bw_arena_free(a);
	return 0;
}
