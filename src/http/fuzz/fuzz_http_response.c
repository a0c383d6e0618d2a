/*
 * Fuzz target for the upstream side of the HTTP/1.1 codec: response head
 * (status line, fields, framing by status and request method), then its
 * body through the decoder in response mode.
 *
 * Input layout: byte 0 = flags (bit 0: allow bare LF; bits 1-2: request
 * method GET/HEAD/CONNECT/POST), bytes 1-2 = split point; the rest is the
 * message. Whole and two-part parses must agree exactly, or we abort.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "../tests/http_dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	static const enum http_method methods[4] = {
		HTTP_METHOD_GET, HTTP_METHOD_HEAD, HTTP_METHOD_CONNECT,
		HTTP_METHOD_POST
	};
	if (size < 3)
		return 0;
	struct http_limits lim;
	http_limits_default(&lim);
	lim.max_request_line = 128;
	lim.max_header_line = 200;
	lim.max_header_bytes = 1024;
	lim.max_headers = 16;
	lim.max_chunk_ext = 16;
	lim.max_trailer_bytes = 128;
	lim.max_trailers = 4;
	lim.allow_bare_lf = data[0] & 1;
	enum http_method m = methods[data[0] >> 1 & 3];
	size_t split = (size_t)data[1] << 8 | data[2];
	const char *msg = (const char *)data + 3;
	size_t len = size - 3;
	if (len)
		split %= len + 1;

	struct bw_buf a, b;
	bw_buf_init(&a, 1 << 22);
	bw_buf_init(&b, 1 << 22);
	enum http_rc rc = feed_response_split(&lim, m, msg, len, NULL, 0, &a);
	feed_response_split(&lim, m, msg, len, &split, 1, &b);
	must_equal(&a, &b, "response head");

	if (rc == HTTP_DONE) {
		struct http_header h[DUMP_MAX_HEADERS];
		struct http_resp_parser p;
		struct http_response r;
		struct bw_err err;
		http_resp_parser_init(&p, &lim, h, DUMP_MAX_HEADERS, m);
		if (http_resp_parser_feed(&p, msg, len, &r, &err) != HTTP_DONE)
			abort();
		if (r.status < 100 || r.status > 599 ||
		    (r.framing == HTTP_FRAMING_TUNNEL && r.keep_alive))
			abort();
		const char *body = msg + r.head_len;
		size_t blen = len - r.head_len;
		size_t bsplit = split > r.head_len ? split - r.head_len : 0;
		bw_buf_reset(&a);
		bw_buf_reset(&b);
		feed_body_split(&lim, r.framing, r.content_length, 8192,
				HTTP_BODY_RESPONSE, body, blen, NULL, 0, &a);
		feed_body_split(&lim, r.framing, r.content_length, 8192,
				HTTP_BODY_RESPONSE, body, blen, &bsplit, 1, &b);
		must_equal(&a, &b, "response body");
	}
	bw_buf_fini(&a);
	bw_buf_fini(&b);
	return 0;
}
