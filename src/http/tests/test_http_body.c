/*
 * Unit tests for the body decoder: chunked bodies valid and malformed
 * (sizes, extensions, CRLFs, trailers and their forbidden fields, limits),
 * Content-Length and close-delimited bodies, EOF handling, the bw_buf
 * convenience, and split-invariance of every case (byte by byte and random
 * splits, with the pending buffer moving between feeds).
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

struct bcase {
	const char *raw;
	size_t len;
	int status;           /* 0: DONE */
	const char *reason;   /* or expected data when status == 0 */
	size_t consumed;      /* when status == 0: bytes of the body */
};

#define OKB(s, data, used) { s, sizeof(s) - 1, 0, data, used }
#define BADB(s, st, r) { s, sizeof(s) - 1, st, r, 0 }

static const struct bcase chunked[] = {
	OKB("5\r\nhello\r\n0\r\n\r\n", "hello", 15),
	OKB("5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 32),
	OKB("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hello", 15),
	OKB("000005\r\nhello\r\n0\r\n\r\n", "hello", 20),
	OKB("5 ;a\r\nhello\r\n0\r\n\r\n", "hello", 18),
	OKB("5\t;a=\"q\"\r\nhello\r\n0;last\r\n\r\n", "hello", 27),
	OKB("1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
	    "abcdefghijklmnopqrstuvwxyz", 37),
	OKB("1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
	    "abcdefghijklmnopqrstuvwxyz", 37),
	OKB("0\r\n\r\n", "", 5),
	OKB("3\r\na\r\n\r\n0\r\n\r\n", "a\r\n", 13),
	OKB("2\r\nab\r\n0\r\nX-Checksum: abc\r\nGrpc-Status: 0\r\n\r\n", "ab",
	    45),
	BADB("5\r\nhelloX\r\n0\r\n\r\n", 400, "bad_chunk_crlf"),
	BADB("5\r\nhello\n0\r\n\r\n", 400, "bad_chunk_crlf"),
	BADB("5\r\nhello\rX0\r\n\r\n", 400, "bad_chunk_crlf"),
	BADB("5\nhello\r\n0\r\n\r\n", 400, "bare_lf"),
	BADB("5\rhello\r\n0\r\n\r\n", 400, "bare_cr"),
	BADB("x\r\n", 400, "bad_chunk_size"),
	BADB("\r\n", 400, "bad_chunk_size"),
	BADB(";a\r\n", 400, "bad_chunk_size"),
	BADB("-5\r\nhello\r\n", 400, "bad_chunk_size"),
	BADB("+5\r\nhello\r\n", 400, "bad_chunk_size"),
	BADB("0x5\r\nhello\r\n", 400, "bad_chunk_size"),
	BADB("5 \r\nhello\r\n", 400, "bad_chunk_size"),
	BADB(" 5\r\nhello\r\n", 400, "bad_chunk_size"),
	BADB("5\0\r\nhello\r\n", 400, "bad_chunk_size"),
	BADB("11111111111111111\r\n", 400, "chunk_size_overflow"),
	BADB("00000000000000000\r\n", 400, "chunk_size_overflow"),
	BADB("FFFFFFFFFFFFFFFF\r\n", 413, "body_too_large"),
	BADB("5;a\x01\r\nhello\r\n", 400, "bad_chunk_ext"),
	BADB("5;a\nhello\r\n", 400, "bare_lf"),
	BADB("5;a\rhello\r\n", 400, "bare_cr"),
	BADB("0\r\nContent-Length: 5\r\n\r\n", 400, "forbidden_trailer"),
	BADB("0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	     "forbidden_trailer"),
	BADB("0\r\nHOST: evil\r\n\r\n", 400, "forbidden_trailer"),
	BADB("0\r\nAuthorization: x\r\n\r\n", 400, "forbidden_trailer"),
	BADB("0\r\nX : y\r\n\r\n", 400, "space_before_colon"),
	BADB("0\r\nX: y\r\n z\r\n\r\n", 400, "obs_fold"),
	BADB("0\r\n z\r\n\r\n", 400, "obs_fold"),
	BADB("0\r\nX: y\n\r\n", 400, "bare_lf"),
	BADB("0\r\nX: y\r\n\n", 400, "bare_lf"),
	BADB("0\r\nX: a\0b\r\n\r\n", 400, "bad_header_value"),
	BADB("0\r\n\rX", 400, "bare_cr"),
};

static struct http_limits lim;

static int setup(void **state)
{
	http_limits_default(&lim);
	return 0;
}

static enum http_rc check_body(const struct http_limits *l,
			       enum http_framing fr, uint64_t cl, uint64_t max,
			       unsigned flags, const char *raw, size_t len,
			       struct bw_buf *whole)
{
	enum http_rc rc =
		feed_body_split(l, fr, cl, max, flags, raw, len, NULL, 0, whole);
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	feed_body_split(l, fr, cl, max, flags, raw, len, cuts, len, &d);
	if (!bw_str_eq(bw_str_make(whole->data, whole->len),
		       bw_str_make(d.data, d.len)))
		fail_msg("byte-by-byte differs:\n%s\n---\n%s", whole->data,
			 d.data);
	for (int round = 0; round < 20; round++) {
		size_t n = 0, at = 0;
		while (at < len && n < len) {
			at += 1 + (size_t)rand() % (len / 3 + 1);
			cuts[n++] = at;
		}
		bw_buf_reset(&d);
		feed_body_split(l, fr, cl, max, flags, raw, len, cuts, n, &d);
		if (!bw_str_eq(bw_str_make(whole->data, whole->len),
			       bw_str_make(d.data, d.len)))
			fail_msg("split differs:\n%s\n---\n%s", whole->data,
				 d.data);
	}
	bw_buf_fini(&d);
	free(cuts);
	return rc;
}

static void chunked_table(void **state)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(chunked); i++) {
		const struct bcase *c = &chunked[i];
		struct bw_buf d;
		bw_buf_init(&d, 1 << 20);
		enum http_rc rc = check_body(&lim, HTTP_FRAMING_CHUNKED, 0,
					     lim.max_body, 0, c->raw, c->len,
					     &d);
		char want[256];
		if (c->status == 0) {
			snprintf(want, sizeof(want), "consumed=%zu data=%s\nrc=1\n",
				 c->consumed, c->reason);
			if (rc != HTTP_DONE || !strstr(d.data, want))
				fail_msg("case %zu: %s\nwant %s\ngot %s", i,
					 c->raw, want, d.data);
		} else {
			snprintf(want, sizeof(want),
				 "rc=-1 status=%d reason=%s\n", c->status,
				 c->reason);
			size_t wl = strlen(want);
			if (rc != HTTP_ERROR || d.len < wl ||
			    strcmp(d.data + d.len - wl, want) != 0)
				fail_msg("case %zu: %s\nwant %s\ngot %s", i,
					 c->raw, want, d.data);
		}
		bw_buf_fini(&d);
	}
}

static void trailers_returned(void **state)
{
	const char s[] = "2\r\nab\r\n0\r\nX-Checksum:  abc \r\nGrpc-Status: 0\r\n\r\nNEXT";
	struct http_header tr[4];
	struct http_body b;
	struct bw_err err;
	size_t c, off = 0, n;
	struct bw_str d;
	http_body_init(&b, &lim, HTTP_FRAMING_CHUNKED, 0, lim.max_body, tr, 4, 0);
	assert_int_equal(http_body_feed(&b, s, sizeof(s) - 1, &c, &d, &err),
			 HTTP_DATA);
	assert_true(bw_str_eq_lit(d, "ab"));
	off += c;
	enum http_rc rc;
	while ((rc = http_body_feed(&b, s + off, sizeof(s) - 1 - off, &c, &d,
				    &err)) == HTTP_DATA) {
		assert_int_equal(d.len, 0);
		off += c;
	}
	assert_int_equal(rc, HTTP_DONE);
	off += c;
	assert_string_equal(s + off, "NEXT");
	const struct http_header *t = http_body_trailers(&b, &n);
	assert_int_equal(n, 2);
	assert_true(bw_str_eq_lit(t[0].name, "X-Checksum"));
	assert_true(bw_str_eq_lit(t[0].value, "abc"));
	assert_true(bw_str_eq_lit(t[1].value, "0"));
	/* DONE is sticky and consumes nothing more. */
	assert_int_equal(http_body_feed(&b, "x", 1, &c, &d, &err), HTTP_DONE);
	assert_int_equal(c, 0);

	/* Without a trailer array any trailer field is refused. */
	http_body_init(&b, &lim, HTTP_FRAMING_CHUNKED, 0, lim.max_body, NULL, 0,
		       0);
	struct bw_buf out;
	bw_buf_init(&out, 100);
	assert_int_equal(http_body_feed_buf(&b, s, sizeof(s) - 1, &c, &out, &err),
			 HTTP_ERROR);
	assert_int_equal(err.code, 431);
	assert_string_equal(err.reason, "too_many_trailers");
	bw_buf_fini(&out);
}

static void chunked_limits(void **state)
{
	struct bw_buf d;
	/* max_body spans chunks and is checked at the size line. */
	const char s[] = "6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n";
	bw_buf_init(&d, 1 << 20);
	assert_int_equal(check_body(&lim, HTTP_FRAMING_CHUNKED, 0, 10, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "data=abcdef\n"));
	assert_non_null(strstr(d.data, "status=413 reason=body_too_large"));
	bw_buf_reset(&d);
	assert_int_equal(check_body(&lim, HTTP_FRAMING_CHUNKED, 0, 12, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_DONE);
	bw_buf_fini(&d);

	/* Chunk extension at and past the limit. */
	struct http_limits l2 = lim;
	l2.max_chunk_ext = 4;
	bw_buf_init(&d, 1 << 20);
	const char e4[] = "1;abc\r\nx\r\n0\r\n\r\n";
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, e4,
				    sizeof(e4) - 1, &d),
			 HTTP_DONE);
	bw_buf_reset(&d);
	const char e5[] = "1;abcd\r\nx\r\n0\r\n\r\n";
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, e5,
				    sizeof(e5) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "reason=chunk_ext_too_long"));
	bw_buf_reset(&d);
	const char e6[] = "1  \t  ;a\r\nx\r\n0\r\n\r\n";
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, e6,
				    sizeof(e6) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "reason=chunk_ext_too_long"));
	bw_buf_reset(&d);
	l2.max_chunk_ext = 0;
	const char e0[] = "1;\r\nx\r\n0\r\n\r\n";
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, e0,
				    sizeof(e0) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "reason=chunk_ext_too_long"));
	bw_buf_fini(&d);

	/* Trailer section size. */
	l2 = lim;
	l2.max_trailer_bytes = 20;
	bw_buf_init(&d, 1 << 20);
	const char t1[] = "0\r\nX-A: 0123456789\r\n\r\n"; /* 19-byte section */
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, t1,
				    sizeof(t1) - 1, &d),
			 HTTP_DONE);
	bw_buf_reset(&d);
	const char t2[] = "0\r\nX-A: 0123456789AB\r\n\r\n"; /* 21-byte section */
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, t2,
				    sizeof(t2) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "status=431 reason=trailer_too_large"));
	bw_buf_fini(&d);

	/* Trailer count. */
	l2 = lim;
	l2.max_trailers = 1;
	bw_buf_init(&d, 1 << 20);
	const char t3[] = "0\r\nA: 1\r\nB: 2\r\n\r\n";
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, t3,
				    sizeof(t3) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "status=431 reason=too_many_trailers"));
	bw_buf_fini(&d);
}

static void bare_lf_flag(void **state)
{
	struct http_limits l2 = lim;
	l2.allow_bare_lf = true;
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	const char s[] = "5\nhello\n3;x\nabc\n0\nX: y\n\n";
	assert_int_equal(check_body(&l2, HTTP_FRAMING_CHUNKED, 0, 100, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_DONE);
	assert_non_null(strstr(d.data, "data=helloabc\n"));
	bw_buf_fini(&d);
}

static void length_and_close(void **state)
{
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	const char s[] = "hello worldGET";
	assert_int_equal(check_body(&lim, HTTP_FRAMING_LENGTH, 11, 100, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_DONE);
	assert_non_null(strstr(d.data, "consumed=11 data=hello world\nrc=1"));
	bw_buf_reset(&d);
	assert_int_equal(check_body(&lim, HTTP_FRAMING_LENGTH, 0, 100, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_DONE);
	bw_buf_reset(&d);
	assert_int_equal(check_body(&lim, HTTP_FRAMING_NONE, 0, 100, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_DONE);
	assert_non_null(strstr(d.data, "consumed=0 data=\n"));
	bw_buf_reset(&d);
	/* A declared length past max_body fails before any data. */
	assert_int_equal(check_body(&lim, HTTP_FRAMING_LENGTH, 101, 100, 0, s,
				    sizeof(s) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "data=\nrc=-1 status=413"));
	bw_buf_reset(&d);
	assert_int_equal(check_body(&lim, HTTP_FRAMING_LENGTH, 101, 100,
				    HTTP_BODY_RESPONSE, s, sizeof(s) - 1, &d),
			 HTTP_ERROR);
	assert_non_null(strstr(d.data, "status=502 reason=body_too_large"));
	bw_buf_fini(&d);

	/* Close-delimited: everything is body; EOF ends it cleanly. */
	struct http_body b;
	struct bw_err err;
	size_t c;
	struct bw_str data;
	http_body_init(&b, &lim, HTTP_FRAMING_CLOSE, 0, 100, NULL, 0,
		       HTTP_BODY_RESPONSE);
	assert_int_equal(http_body_feed(&b, s, 5, &c, &data, &err), HTTP_DATA);
	assert_int_equal(c, 5);
	assert_int_equal(http_body_feed(&b, s, 0, &c, &data, &err),
			 HTTP_NEED_MORE);
	assert_int_equal(http_body_eof(&b, &err), 0);

	/* Truncated Content-Length and chunked bodies are errors at EOF. */
	http_body_init(&b, &lim, HTTP_FRAMING_LENGTH, 10, 100, NULL, 0, 0);
	assert_int_equal(http_body_feed(&b, s, 5, &c, &data, &err), HTTP_DATA);
	assert_int_equal(http_body_eof(&b, &err), -1);
	assert_string_equal(err.reason, "truncated_body");
	assert_int_equal(err.code, 400);
	http_body_init(&b, &lim, HTTP_FRAMING_CHUNKED, 0, 100, NULL, 0,
		       HTTP_BODY_RESPONSE);
	assert_int_equal(http_body_feed(&b, "5\r\nab", 5, &c, &data, &err),
			 HTTP_DATA);
	assert_int_equal(http_body_eof(&b, &err), -1);
	assert_int_equal(err.code, 502);
	/* Errors are sticky. */
	bw_err_clear(&err);
	assert_int_equal(http_body_feed(&b, "cde", 3, &c, &data, &err),
			 HTTP_ERROR);
	assert_string_equal(err.reason, "truncated_body");
}

static void feed_buf_bounded(void **state)
{
	struct http_body b;
	struct bw_err err;
	struct bw_buf out;
	size_t c;
	const char s[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	http_body_init(&b, &lim, HTTP_FRAMING_CHUNKED, 0, 100, NULL, 0, 0);
	bw_buf_init(&out, 64);
	assert_int_equal(http_body_feed_buf(&b, s, sizeof(s) - 1, &c, &out,
					    &err),
			 HTTP_DONE);
	assert_int_equal(c, sizeof(s) - 1);
	assert_string_equal(out.data, "hello world");
	bw_buf_fini(&out);

	http_body_init(&b, &lim, HTTP_FRAMING_CHUNKED, 0, 100, NULL, 0, 0);
	bw_buf_init(&out, 8);
	assert_int_equal(http_body_feed_buf(&b, s, sizeof(s) - 1, &c, &out,
					    &err),
			 HTTP_ERROR);
	assert_int_equal(err.code, 413);
	bw_buf_fini(&out);

	/* Partial input: NEED_MORE, and consumed covers only what was
	 * decoded. */
	http_body_init(&b, &lim, HTTP_FRAMING_CHUNKED, 0, 100, NULL, 0, 0);
	bw_buf_init(&out, 64);
	assert_int_equal(http_body_feed_buf(&b, s, 7, &c, &out, &err),
			 HTTP_NEED_MORE);
	assert_int_equal(c, 7);
	assert_string_equal(out.data, "hell");
	assert_int_equal(http_body_feed_buf(&b, s + 7, sizeof(s) - 8, &c, &out,
					    &err),
			 HTTP_DONE);
	assert_string_equal(out.data, "hello world");
	bw_buf_fini(&out);
}

int main(void)
{
	srand(777);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(chunked_table, setup),
		cmocka_unit_test_setup(trailers_returned, setup),
		cmocka_unit_test_setup(chunked_limits, setup),
		cmocka_unit_test_setup(bare_lf_flag, setup),
		cmocka_unit_test_setup(length_and_close, setup),
		cmocka_unit_test_setup(feed_buf_bounded, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
