/*
 * fuzz_frame — libFuzzer target for the RFC 6587 stream decoder.
 *
 * The first two bytes choose the framing mode and a read size; the rest
 * is the stream. Fed whole and fed in chunks of that size, the decoder
 * must produce the same frames (byte for byte, same truncation flags)
 * and the same verdict, and never hand out a frame longer than its
 * ceiling.
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
			fprintf(stderr, "fuzz_frame: %s failed (%s:%d)\n", #c, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAXF 64

struct out {
	struct bw_buf b;
};

static void collect(const char *f, size_t n, bool truncated, void *arg)
{
	struct out *o = arg;
	CHECK(n <= MAXF);
	char hdr[16];
	int l = snprintf(hdr, sizeof(hdr), "%zu%c:", n, truncated ? 'T' : 'F');
	CHECK(bw_buf_append(&o->b, hdr, (size_t)l) == 0);
	CHECK(bw_buf_append(&o->b, f, n) == 0);
}

static int run(enum siem_framing mode, const char *p, size_t n, size_t step,
	       struct out *o)
{
	struct siem_framer fr;
	struct bw_err err;
	siem_framer_init(&fr, mode, MAXF);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i += step) {
		size_t k = n - i < step ? n - i : step;
		rc = siem_framer_feed(&fr, p + i, k, collect, o, &err);
	}
	if (rc == 0)
		siem_framer_finish(&fr, collect, o);
	siem_framer_fini(&fr);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum siem_framing mode = (enum siem_framing)(data[0] % 3);
	size_t step = (size_t)data[1] % 17 + 1;
	const char *p = (const char *)data + 2;
	size_t n = size - 2;
	struct out a, b;
	bw_buf_init(&a.b, 64u << 20);
	bw_buf_init(&b.b, 64u << 20);
	int ra = run(mode, p, n, n ? n : 1, &a);
	int rb = run(mode, p, n, step, &b);
	CHECK(ra == rb);
	/* on error, frames before the bad byte must agree; after it the
	 * whole-buffer run may have stopped earlier in the stream */
	if (ra == 0)
		CHECK(a.b.len == b.b.len &&
		      (a.b.len == 0 || memcmp(a.b.data, b.b.data, a.b.len) == 0));
	bw_buf_fini(&a.b);
	bw_buf_fini(&b.b);
	return 0;
}
