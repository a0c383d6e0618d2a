/*
 * fuzz_relp — libFuzzer target for the RELP frame parser and the "open"
 * offers parser.
 *
 * The first byte chooses a read size; the rest is a stream. Parsed from
 * the whole buffer and parsed as it would arrive in reads of that size
 * (the parser sees everything not yet consumed, as net_stream gives it),
 * the frames must be identical and the verdict the same; a frame never
 * claims more bytes than it was given, nor data past max_data; every
 * "open" frame's offers are parsed too.
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
			fprintf(stderr, "fuzz_relp: %s failed (%s:%d)\n", #c,  \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAXD 256

static int run(const char *p, size_t n, size_t step, struct bw_buf *out)
{
	size_t have = 0, off = 0;
	struct bw_err err;
	for (;;) {
		struct siem_relp_frame f;
		size_t used;
		int r = siem_relp_parse(p + off, have - off, MAXD, &f, &used, &err);
		if (r < 0)
			return -1;
		if (r == 0) {
			CHECK(used == 0);
			if (have == n)
				return 0;
			have = have + step > n ? n : have + step;
			continue;
		}
		CHECK(used > 0 && used <= have - off);
		CHECK(f.data.len <= MAXD);
		CHECK(f.data.p >= p + off && f.data.p + f.data.len < p + off + used);
		CHECK(strlen(f.cmd) >= 1 && strlen(f.cmd) <= 32);
		if (strcmp(f.cmd, "open") == 0) {
			struct siem_relp_offers o;
			if (siem_relp_parse_offers(f.data.p, f.data.len, &o, &err) == 0)
				CHECK(o.version >= 0 && strlen(o.software) < 64);
		}
		char hdr[64];
		int l = snprintf(hdr, sizeof(hdr), "%u %s %zu|", f.txnr, f.cmd, f.data.len);
		CHECK(bw_buf_append(out, hdr, (size_t)l) == 0);
		CHECK(bw_buf_append(out, f.data.p, f.data.len) == 0);
		/* our own response to it must parse back */
		struct bw_buf rb;
		bw_buf_init(&rb, 4096);
		CHECK(siem_relp_rsp(&rb, f.txnr, f.data.p,
				    f.data.len > 200 ? 200 : f.data.len) == 0);
		struct siem_relp_frame g;
		size_t gu;
		CHECK(siem_relp_parse(rb.data, rb.len, 0, &g, &gu, &err) == 1);
		CHECK(gu == rb.len && g.txnr == f.txnr);
		bw_buf_fini(&rb);
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 23 + 1;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	struct bw_buf a, b;
	bw_buf_init(&a, 64u << 20);
	bw_buf_init(&b, 64u << 20);
	int ra = run(p, n, n ? n : 1, &a);
	int rb = run(p, n, step, &b);
	CHECK(ra == rb);
	CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	bw_buf_fini(&a);
	bw_buf_fini(&b);
	return 0;
}
