/*
 * Unit tests for the response-head parser (status line, framing by status
 * and request method, strictness, split-invariance) and for the writers
 * (status line, header validation against injection, chunks round-tripped
 * through the decoder, Date, 100 Continue, canned errors, all-or-nothing
 * behaviour at the buffer ceiling).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/http_limits.h"
#include "http_dump.h"

struct rcase {
	const char *raw;
	size_t len;
	enum http_method m;
	const char *want; /* for OK: "fr=<n> ... " substring; else reason */
	bool ok;
};

#define ROK(s, m, w) { s, sizeof(s) - 1, m, w, true }
#define RBAD(s, m, r) { s, sizeof(s) - 1, m, r, false }
#define G HTTP_METHOD_GET

static const struct rcase rcases[] = {
	ROK("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", G,
	    "v=1 st=200 hl=38 fr=1 cl=5 ka=1 up=0"),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", G,
	    "st=200 hl=47 fr=2 cl=0 ka=1"),
	ROK("HTTP/1.1 200 OK\r\n\r\n", G, "fr=3 cl=0 ka=0"),
	ROK("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", G, "fr=1 cl=1 ka=0"),
	ROK("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
	    G, "fr=1 cl=1 ka=1"),
	ROK("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", G,
	    "fr=1 cl=1 ka=0"),
	ROK("HTTP/1.1 204 No Content\r\n\r\n", G, "st=204 hl=27 fr=0"),
	ROK("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", G,
	    "st=304 hl=49 fr=0 cl=10 ka=1"),
	ROK("HTTP/1.1 100 Continue\r\n\r\n", G, "st=100 hl=25 fr=0"),
	ROK("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\n\r\n",
	    G, "st=101 hl=77 fr=4 cl=0 ka=0 up=1"),
	ROK("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", HTTP_METHOD_HEAD,
	    "fr=0 cl=100 ka=1"),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HTTP_METHOD_HEAD, "fr=0"),
	ROK("HTTP/1.1 200 Connection established\r\n\r\n", HTTP_METHOD_CONNECT,
	    "fr=4 cl=0 ka=0 up=0"),
	ROK("HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", HTTP_METHOD_CONNECT,
	    "fr=1"),
	ROK("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", G, "st=200 hl=35 fr=1"),
	ROK("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", G, "st=404"),
	ROK("HTTP/1.1 500 Inter\tnal \xe9rror\r\nContent-Length: 0\r\n\r\n", G,
	    "st=500"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	     G, "cl_and_te"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	     G, "dup_content_length"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", G,
	     "bad_content_length"),
	RBAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", G,
	     "te_not_chunked_last"),
	RBAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", G,
	     "unsupported_te"),
	RBAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", G,
	     "te_in_http10"),
	RBAD("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", G,
	     "unexpected_framing"),
	RBAD("HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n", G,
	     "unexpected_framing"),
	RBAD("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_METHOD_CONNECT,
	     "unexpected_framing"),
	RBAD("HTTP/2 200 OK\r\n\r\n", G, "bad_version"),
	RBAD("HTTP/2.0 200 OK\r\n\r\n", G, "unsupported_version"),
	RBAD("HTTP/1.2 200 OK\r\n\r\n", G, "unsupported_version"),
	RBAD("http/1.1 200 OK\r\n\r\n", G, "bad_version"),
	RBAD(" HTTP/1.1 200 OK\r\n\r\n", G, "bad_version"),
	RBAD("\r\nHTTP/1.1 200 OK\r\n\r\n", G, "bad_version"),
	RBAD("HTTP/1.1  200 OK\r\n\r\n", G, "bad_status"),
	RBAD("HTTP/1.1 20 OK\r\n\r\n", G, "bad_status"),
	RBAD("HTTP/1.1 099 X\r\n\r\n", G, "bad_status"),
	RBAD("HTTP/1.1 600 X\r\n\r\n", G, "bad_status"),
	RBAD("HTTP/1.1 2000 OK\r\n\r\n", G, "bad_status"),
	RBAD("HTTP/1.1 200 O\x01K\r\n\r\n", G, "bad_reason_phrase"),
	RBAD("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", G, "bare_lf"),
	RBAD("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", G, "bare_cr"),
	RBAD("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", G, "obs_fold"),
	RBAD("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", G, "space_before_colon"),
	RBAD("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", G, "bad_header_value"),
	RBAD("HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n", G,
	     "ws_after_start_line"),
};

static struct http_limits lim;

static int setup(void **state)
{
	http_limits_default(&lim);
	return 0;
}

static enum http_rc check_resp(enum http_method m, const char *raw,
			       size_t len, struct bw_buf *whole)
{
	enum http_rc rc = feed_response_split(&lim, m, raw, len, NULL, 0, whole);
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	feed_response_split(&lim, m, raw, len, cuts, len, &d);
	if (!bw_str_eq(bw_str_make(whole->data, whole->len),
		       bw_str_make(d.data, d.len)))
		fail_msg("byte-by-byte differs:\n%s\n---\n%s", whole->data,
			 d.data);
	bw_buf_fini(&d);
	free(cuts);
	return rc;
}

static void response_table(void **state)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(rcases); i++) {
		const struct rcase *c = &rcases[i];
		struct bw_buf d;
		bw_buf_init(&d, 1 << 20);
		enum http_rc rc = check_resp(c->m, c->raw, c->len, &d);
		if (c->ok) {
			if (rc != HTTP_DONE || !strstr(d.data, c->want))
				fail_msg("case %zu: %s\nwant %s\ngot %s", i,
					 c->raw, c->want, d.data);
		} else {
			char want[128];
			snprintf(want, sizeof(want),
				 "rc=-1 status=502 reason=%s\n", c->want);
			if (strcmp(d.data, want) != 0)
				fail_msg("case %zu: %s\nwant %sgot %s", i,
					 c->raw, want, d.data);
		}
		bw_buf_fini(&d);
	}
}

static void response_fields(void **state)
{
	const char s[] = "HTTP/1.1 404 Not Found\r\nServer: up\r\nContent-Length: 3\r\n\r\nabc";
	struct http_header h[8];
	struct http_resp_parser p;
	struct http_response r;
	struct bw_err err;
	http_resp_parser_init(&p, &lim, h, 8, HTTP_METHOD_GET);
	assert_int_equal(http_resp_parser_feed(&p, s, sizeof(s) - 1, &r, &err),
			 HTTP_DONE);
	assert_int_equal(r.status, 404);
	assert_true(bw_str_eq_lit(r.reason, "Not Found"));
	assert_int_equal(r.nheaders, 2);
	assert_true(bw_str_eq_lit(r.headers[0].value, "up"));
	assert_memory_equal(s + r.head_len, "abc", 3);

	/* Status-line limit. */
	struct http_limits l2 = lim;
	l2.max_request_line = 64;
	char big[200];
	memset(big, 'x', sizeof(big));
	memcpy(big, "HTTP/1.1 200 ", 13);
	http_resp_parser_init(&p, &l2, h, 8, HTTP_METHOD_GET);
	assert_int_equal(http_resp_parser_feed(&p, big, sizeof(big), &r, &err),
			 HTTP_ERROR);
	assert_string_equal(err.reason, "status_line_too_long");
	assert_int_equal(err.code, 502);
}

/* ---------------------------------------------------------- writers */

static void write_basics(void **state)
{
	struct bw_buf o;
	struct bw_err err;
	bw_buf_init(&o, 4096);
	assert_int_equal(http_write_status_line(&o, 404), 0);
	assert_int_equal(http_write_header(&o, BW_STR("Server"),
					   BW_STR("bulwark"), &err),
			 0);
	assert_int_equal(http_write_content_length(&o, 12345678901ULL), 0);
	assert_int_equal(http_write_date(&o, 784111777), 0);
	assert_int_equal(http_write_head_end(&o), 0);
	assert_string_equal(o.data, "HTTP/1.1 404 Not Found\r\nServer: bulwark\r\n"
				    "Content-Length: 12345678901\r\n"
				    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
	/* the per-thread Date cache follows the clock, both ways */
	bw_buf_reset(&o);
	assert_int_equal(http_write_date(&o, 784111778), 0);
	assert_int_equal(http_write_date(&o, 784111778), 0);
	assert_int_equal(http_write_date(&o, 4102444799), 0);
	assert_int_equal(http_write_date(&o, 0), 0);
	assert_string_equal(o.data, "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
				    "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
				    "Date: Thu, 31 Dec 2099 23:59:59 GMT\r\n"
				    "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
	bw_buf_reset(&o);
	assert_int_equal(http_write_content_length(&o, 0), 0);
	assert_int_equal(http_write_content_length(&o, UINT64_MAX), 0);
	assert_int_equal(http_write_status_line(&o, 599), 0);
	assert_string_equal(o.data, "Content-Length: 0\r\n"
				    "Content-Length: 18446744073709551615\r\n"
				    "HTTP/1.1 599 Unknown\r\n");
	assert_int_equal(http_write_status_line(&o, 99), -1);
	assert_int_equal(http_write_status_line(&o, 600), -1);
	assert_string_equal(http_reason_phrase(431),
			    "Request Header Fields Too Large");
	assert_string_equal(http_reason_phrase(299), "Unknown");
	assert_string_equal(http_reason_phrase(100), "Continue");
	assert_string_equal(http_reason_phrase(505), "HTTP Version Not Supported");

	bw_buf_reset(&o);
	assert_int_equal(http_write_continue(&o), 0);
	assert_string_equal(o.data, "HTTP/1.1 100 Continue\r\n\r\n");

	bw_buf_reset(&o);
	assert_int_equal(http_write_request_line(&o, BW_STR("GET"),
						 BW_STR("/a?b=c"), &err),
			 0);
	assert_string_equal(o.data, "GET /a?b=c HTTP/1.1\r\n");
	assert_int_equal(http_write_request_line(&o, BW_STR("G T"), BW_STR("/"),
						 &err),
			 -1);
	assert_int_equal(http_write_request_line(&o, BW_STR("GET"),
						 BW_STR("/a b"), &err),
			 -1);
	assert_int_equal(http_write_request_line(&o, BW_STR("GET"),
						 BW_STR("/a\r\nX: y"), &err),
			 -1);
	assert_string_equal(err.reason, "bad_request_target");
	assert_string_equal(o.data, "GET /a?b=c HTTP/1.1\r\n");
	bw_buf_fini(&o);
}

static void write_rejects_injection(void **state)
{
	struct bw_buf o;
	struct bw_err err;
	bw_buf_init(&o, 4096);
	assert_int_equal(http_write_header(&o, BW_STR("X"),
					   BW_STR("a\r\nSet-Cookie: x=1"), &err),
			 -1);
	assert_string_equal(err.reason, "bad_header_value");
	assert_int_equal(http_write_header(&o, BW_STR("X"), BW_STR("a\nb"), &err),
			 -1);
	assert_int_equal(http_write_header(&o, BW_STR("X"),
					   bw_str_make("a\0b", 3), &err),
			 -1);
	assert_int_equal(http_write_header(&o, BW_STR("X"), BW_STR(" a"), &err),
			 -1);
	assert_int_equal(http_write_header(&o, BW_STR("X: y\r\nZ"), BW_STR("a"),
					   &err),
			 -1);
	assert_string_equal(err.reason, "bad_header_name");
	assert_int_equal(http_write_header(&o, BW_STR(""), BW_STR("a"), &err),
			 -1);
	assert_int_equal(o.len, 0);
	/* Tabs and obs-text inside a value are fine. */
	assert_int_equal(http_write_header(&o, BW_STR("X"),
					   BW_STR("a\tb\xc3\xa9"), &err),
			 0);
	bw_buf_fini(&o);
}

static void write_all_or_nothing(void **state)
{
	struct bw_buf o;
	struct bw_err err;
	bw_buf_init(&o, 20);
	assert_int_equal(http_write_header_lit(&o, "A", "b"), 0); /* 6 bytes */
	assert_int_equal(http_write_header(&o, BW_STR("Longer"),
					   BW_STR("value-value"), &err),
			 -1);
	assert_int_equal(o.len, 6);
	assert_string_equal(o.data, "A: b\r\n");
	assert_int_equal(http_write_status_line(&o, 200), -1);
	assert_int_equal(o.len, 6);
	assert_int_equal(http_write_chunk(&o, "0123456789abcdef", 16), -1);
	assert_string_equal(o.data, "A: b\r\n");
	assert_int_equal(http_write_error(&o, 400, "bad", false), -1);
	assert_string_equal(o.data, "A: b\r\n");
	bw_buf_fini(&o);
}

static void write_chunks_round_trip(void **state)
{
	struct bw_buf o, out;
	struct bw_err err;
	struct http_limits l;
	http_limits_default(&l);
	bw_buf_init(&o, 1 << 20);
	char big[3000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(http_write_chunk(&o, "hello", 5), 0);
	assert_int_equal(http_write_chunk(&o, "", 0), 0); /* writes nothing */
	assert_int_equal(http_write_chunk(&o, big, sizeof(big)), 0);
	struct http_header tr[] = { { BW_STR("X-Sum"), BW_STR("42") } };
	assert_int_equal(http_write_last_chunk(&o, tr, 1), 0);
	assert_memory_equal(o.data, "5\r\nhello\r\nbb8\r\n", 15);

	struct http_header got[4];
	struct http_body b;
	size_t c, n;
	http_body_init(&b, &l, HTTP_FRAMING_CHUNKED, 0, l.max_body, got, 4, 0);
	bw_buf_init(&out, 1 << 20);
	assert_int_equal(http_body_feed_buf(&b, o.data, o.len, &c, &out, &err),
			 HTTP_DONE);
	assert_int_equal(c, o.len);
	assert_int_equal(out.len, 5 + sizeof(big));
	assert_memory_equal(out.data + 5, big, sizeof(big));
	const struct http_header *t = http_body_trailers(&b, &n);
	assert_int_equal(n, 1);
	assert_true(bw_str_eq_lit(t[0].value, "42"));

	/* A trailer that would inject is refused whole. */
	struct http_header bad[] = { { BW_STR("X"), BW_STR("1\r\nY: 2") } };
	size_t before = o.len;
	assert_int_equal(http_write_last_chunk(&o, bad, 1), -1);
	assert_int_equal(o.len, before);
	bw_buf_fini(&o);
	bw_buf_fini(&out);
}

static void write_error_responses(void **state)
{
	struct bw_buf o;
	struct http_limits l;
	http_limits_default(&l);
	bw_buf_init(&o, 4096);
	bw_clock_set(784111777LL * 1000000000LL);
	assert_int_equal(http_write_error(&o, 431, "too_many_headers", false), 0);
	bw_clock_set(0);

	/* The canned response must itself parse as a strict response. */
	struct http_header h[16];
	struct http_resp_parser p;
	struct http_response r;
	struct bw_err err;
	http_resp_parser_init(&p, &l, h, 16, HTTP_METHOD_GET);
	assert_int_equal(http_resp_parser_feed(&p, o.data, o.len, &r, &err),
			 HTTP_DONE);
	assert_int_equal(r.status, 431);
	assert_false(r.keep_alive);
	assert_int_equal(r.framing, HTTP_FRAMING_LENGTH);
	assert_int_equal(r.head_len + r.content_length, o.len);
	assert_string_equal(o.data + r.head_len,
			    "431 Request Header Fields Too Large (too_many_headers)\n");
	const struct http_header *d = http_header_find(h, r.nheaders, "date");
	assert_non_null(d);
	assert_true(bw_str_eq_lit(d->value, "Sun, 06 Nov 1994 08:49:37 GMT"));
	assert_non_null(http_header_find(h, r.nheaders, "x-content-type-options"));

	/* A reason that is not a plain token is never echoed. */
	bw_buf_reset(&o);
	assert_int_equal(http_write_error(&o, 400, "<script>", false), 0);
	assert_null(strstr(o.data, "script"));
	assert_non_null(strstr(o.data, "\r\n\r\n400 Bad Request\n"));
	bw_buf_reset(&o);
	assert_int_equal(http_write_error(&o, 400, NULL, true), 0);
	assert_non_null(strstr(o.data, "Content-Length: 16\r\n"));
	assert_int_equal(strcmp(o.data + o.len - 4, "\r\n\r\n"), 0);
	assert_int_equal(http_write_error(&o, 42, "x", false), -1);
	bw_buf_fini(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(response_table, setup),
		cmocka_unit_test_setup(response_fields, setup),
		cmocka_unit_test(write_basics),
		cmocka_unit_test(write_rejects_injection),
		cmocka_unit_test(write_all_or_nothing),
		cmocka_unit_test(write_chunks_round_trip),
		cmocka_unit_test(write_error_responses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
