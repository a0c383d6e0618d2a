/*
 * Fuzz target for the request side of the HTTP/1.1 codec: request head,
 * then the body it announces (Content-Length or chunked, with trailers).
 *
 * Input layout: byte 0 = flags (bit 0: allow bare LF), bytes 1-2 = split
 * point; the rest is the message. Every input is parsed twice, whole and
 * in two parts cut at the split point (with the buffer moving between the
 * parts), and the target aborts if the two results differ in any way:
 * split-invariance is the parser's central promise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "../tests/http_dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void set_limits(struct http_limits *l, uint8_t flags)
{
	/* Small limits so the fuzzer reaches every limit path quickly. */
	http_limits_default(l);
	l->max_request_line = 256;
	l->max_uri = 128;
	l->max_header_line = 200;
	l->max_header_bytes = 1024;
	l->max_headers = 16;
	l->max_body = 4096;
	l->max_chunk_ext = 16;
	l->max_trailer_bytes = 128;
	l->max_trailers = 4;
	l->max_leading_crlf = 1 + (flags >> 1 & 1);
	l->allow_bare_lf = flags & 1;
}

static void must_equal(const struct bw_buf *a, const struct bw_buf *b,
		       const char *what)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0) {
		fprintf(stderr, "%s differs:\n%s\n---\n%s\n", what, a->data,
			b->data);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	struct http_limits lim;
	set_limits(&lim, data[0]);
	size_t split = (size_t)data[1] << 8 | data[2];
	const char *msg = (const char *)data + 3;
	size_t len = size - 3;
	if (len)
		split %= len + 1;

	struct bw_buf a, b;
	bw_buf_init(&a, 1 << 22);
	bw_buf_init(&b, 1 << 22);

	/* Head: whole vs two parts. */
	enum http_rc rc = feed_request_split(&lim, msg, len, NULL, 0, &a);
	feed_request_split(&lim, msg, len, &split, 1, &b);
	must_equal(&a, &b, "request head");

	if (rc == HTTP_DONE) {
		/* Re-parse to get the request, then decode its body. */
		struct http_header h[DUMP_MAX_HEADERS];
		struct http_req_parser p;
		struct http_request r;
		struct bw_err err;
		http_req_parser_init(&p, &lim, h, DUMP_MAX_HEADERS);
		if (http_req_parser_feed(&p, msg, len, &r, &err) != HTTP_DONE)
			abort();
		const char *body = msg + r.head_len;
		size_t blen = len - r.head_len;
		size_t bsplit = split > r.head_len ? split - r.head_len : 0;
		bw_buf_reset(&a);
		bw_buf_reset(&b);
		feed_body_split(&lim, r.framing, r.content_length, lim.max_body,
				0, body, blen, NULL, 0, &a);
		feed_body_split(&lim, r.framing, r.content_length, lim.max_body,
				0, body, blen, &bsplit, 1, &b);
		must_equal(&a, &b, "request body");
	}
	bw_buf_fini(&a);
	bw_buf_fini(&b);
	return 0;
}
