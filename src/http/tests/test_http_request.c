/*
 * Unit tests for the request-head parser: a long table of valid and
 * malformed requests (each malformed one with its status and reason
 * token), every entry also fed byte by byte and in random splits with a
 * moving buffer to prove split-invariance, request-smuggling classics,
 * limits, pipelining, target forms, Host rules and persistence.
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

struct tcase {
	const char *raw;
	size_t len;
	int status; /* 0: must parse (DONE) */
	const char *reason;
};

#define OK(s) { s, sizeof(s) - 1, 0, NULL }
#define BAD(s, st, r) { s, sizeof(s) - 1, st, r }
#define H "GET / HTTP/1.1\r\nHost: a.example\r\n"

static const struct tcase cases[] = {
	/* ---- valid */
	OK("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"),
	OK("GET / HTTP/1.0\r\n\r\n"),
	OK("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
	OK(H "Transfer-Encoding: chunked\r\n\r\n"),
	OK(H "Transfer-Encoding:\tCHUNKED\r\n\r\n"),
	OK(H "Transfer-Encoding: chunked , \r\n\r\n"),
	OK(H "X-Tab: a\tb\r\n\r\n"),
	OK(H "X-Obs: caf\xc3\xa9\r\n\r\n"),
	OK(H "X-Empty:\r\n\r\n"),
	OK(H "X-Spaces:    \t  \r\n\r\n"),
	OK(H "Content-Length: 0\r\n\r\n"),
	OK(H "Content-Length: 00012\r\n\r\n"),
	OK(H "Expect: 100-continue\r\n\r\n"),
	OK(H "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
	OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
	OK("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"),
	OK("GET http://a.example/x?q HTTP/1.1\r\nHost: a.example\r\n\r\n"),
	OK("GET HTTPS://A.example:443 HTTP/1.1\r\nHost: a.EXAMPLE\r\n\r\n"),
	OK("GET http://a.example:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n"),
	OK("GET http://a.example/ HTTP/1.0\r\n\r\n"),
	OK("PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("get / HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("GET /%7Euser/a;b=c/(x)!$&'*+,=:@ HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n\r\n"),
	OK("GET / HTTP/1.0\r\nExpect: whatever\r\n\r\n"),
	OK(H "Cookie: a=b; c=d\r\nAccept: */*\r\n\r\n"),

	/* ---- smuggling classics */
	BAD(H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	    "cl_and_te"),
	BAD(H "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
	    "cl_and_te"),
	BAD(H "Transfer-Encoding : chunked\r\n\r\n", 400,
	    "space_before_colon"),
	BAD(H "Transfer-Encoding\t: chunked\r\n\r\n", 400,
	    "space_before_colon"),
	BAD(H "Transfer-Encoding: xchunked\r\n\r\n", 400,
	    "te_not_chunked_last"),
	BAD(H "Transfer-Encoding: chunked, identity\r\n\r\n", 400,
	    "te_not_chunked_last"),
	BAD(H "Transfer-Encoding: identity\r\n\r\n", 400,
	    "te_not_chunked_last"),
	BAD(H "Transfer-Encoding: gzip, chunked\r\n\r\n", 501,
	    "unsupported_te"),
	BAD(H "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
	    501, "unsupported_te"),
	BAD(H "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
	    400, "te_not_chunked_last"),
	BAD(H "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	    400, "bad_transfer_encoding"),
	BAD(H "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
	    "bad_transfer_encoding"),
	BAD(H "Transfer-Encoding:\r\n\r\n", 400, "bad_transfer_encoding"),
	BAD(H "Transfer-Encoding: ,\r\n\r\n", 400, "bad_transfer_encoding"),
	BAD(H "Transfer-Encoding: \"chunked\"\r\n\r\n", 400,
	    "bad_transfer_encoding"),
	BAD(H "Transfer-Encoding: chunked;q=1\r\n\r\n", 400,
	    "bad_transfer_encoding"),
	BAD(H "Transfer-Encoding: chunked\x0b\r\n\r\n", 400,
	    "bad_header_value"),
	BAD(H "Transfer-Encoding: \x01chunked\r\n\r\n", 400,
	    "bad_header_value"),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	    "te_in_http10"),
	BAD(H "Content-Length: +5\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: -1\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: 5, 5\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: 5,5\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: 1 0\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: 0x10\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: 5.0\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length:\r\n\r\n", 400, "bad_content_length"),
	BAD(H "Content-Length: 99999999999999999999999\r\n\r\n", 400,
	    "bad_content_length"),
	BAD(H "Content-Length: 18446744073709551616\r\n\r\n", 400,
	    "bad_content_length"),
	BAD(H "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
	    "dup_content_length"),
	BAD(H "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400,
	    "dup_content_length"),
	BAD(H "Content-Length: 2000000\r\n\r\n", 413, "body_too_large"),
	BAD("GET / HTTP/1.1\nHost: a\n\n", 400, "bare_lf"),
	BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare_lf"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare_lf"),
	BAD(H "X: 1\r\n \r\n\r\n", 400, "obs_fold"),
	BAD(H "X: 1\r\n\tcontinued\r\n\r\n", 400, "obs_fold"),
	BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "ws_after_start_line"),
	BAD("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare_cr"),
	BAD("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare_cr"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, "bare_cr"),
	BAD("\rGET / HTTP/1.1\r\n\r\n", 400, "bare_cr"),

	/* ---- request line */
	BAD("G(ET / HTTP/1.1\r\n\r\n", 400, "bad_method_char"),
	BAD("GET\t/ HTTP/1.1\r\n\r\n", 400, "bad_method_char"),
	BAD("G\0T / HTTP/1.1\r\n\r\n", 400, "bad_method_char"),
	BAD("\x80GET / HTTP/1.1\r\n\r\n", 400, "bad_method_char"),
	BAD("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA / HTTP/1.1\r\n\r\n", 501,
	    "method_too_long"),
	BAD(" GET / HTTP/1.1\r\n\r\n", 400, "leading_whitespace"),
	BAD("\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400, "leading_empty_line"),
	BAD("\nGET / HTTP/1.1\r\n\r\n", 400, "bare_lf"),
	BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "bad_version"),
	BAD("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_version"),
	BAD("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "bad_version"),
	BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "bad_version"),
	BAD("GET / HTTP/1.\r\nHost: a\r\n\r\n", 400, "bad_version"),
	BAD("GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "bad_version"),
	BAD("GET / HTTP/11\r\n\r\n", 400, "bad_version"),
	BAD("GET / \r\n\r\n", 400, "bad_version"),
	BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "unsupported_version"),
	BAD("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "unsupported_version"),
	BAD("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "unsupported_version"),
	BAD("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare_lf"),
	BAD("GET /\r\n\r\n", 400, "bad_request_line"),
	BAD("GET\r\n\r\n", 400, "bad_method_char"),
	BAD("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("GET http://a.example:0/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", 400,
	    "bad_request_target"),
	BAD("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request_target"),
	BAD("CONNECT http://a:1/ HTTP/1.1\r\nHost: a:1\r\n\r\n", 400,
	    "bad_request_target"),

	/* ---- fields */
	BAD(H "X : y\r\n\r\n", 400, "space_before_colon"),
	BAD(H ": y\r\n\r\n", 400, "bad_header_name"),
	BAD(H "Xy\r\n\r\n", 400, "bad_header_name"),
	BAD(H "X(y): z\r\n\r\n", 400, "bad_header_name"),
	BAD(H "X\0y: z\r\n\r\n", 400, "bad_header_name"),
	BAD(H "\0: z\r\n\r\n", 400, "bad_header_name"),
	BAD(H "X: a\0b\r\n\r\n", 400, "bad_header_value"),
	BAD(H "X: a\x01\r\n\r\n", 400, "bad_header_value"),
	BAD(H "X: a\x7f\r\n\r\n", 400, "bad_header_value"),
	BAD(H "X: a\x1b[31m\r\n\r\n", 400, "bad_header_value"),
	BAD(H "Connection: close, \"x\"\r\n\r\n", 400, "bad_connection"),
	BAD(H "Expect: 100-continue, foo\r\n\r\n", 417, "unsupported_expect"),
	BAD(H "Expect:\r\n\r\n", 417, "unsupported_expect"),

	/* ---- Host */
	BAD("GET / HTTP/1.1\r\n\r\n", 400, "missing_host"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "dup_host"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "dup_host"),
	BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: a:12x\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400, "bad_host"),
	BAD("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400, "bad_host"),
	BAD("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", 400,
	    "host_mismatch"),
	BAD("GET http://a.example/ HTTP/1.1\r\nHost: a.example:8080\r\n\r\n",
	    400, "host_mismatch"),
	BAD("GET https://a.example/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n",
	    400, "host_mismatch"),
	BAD("CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n",
	    400, "host_mismatch"),
	BAD("GET http://a.example/ HTTP/1.1\r\n\r\n", 400, "missing_host"),
};

static struct http_limits lim;

static int setup(void **state)
{
	http_limits_default(&lim);
	return 0;
}

/* Parse whole, then byte by byte, then in 20 random splits: all dumps must
 * be identical. Returns the whole-parse rc and dump (caller frees). */
static enum http_rc check_split_invariance(const struct http_limits *l,
					   const char *raw, size_t len,
					   struct bw_buf *whole)
{
	enum http_rc rc = feed_request_split(l, raw, len, NULL, 0, whole);

	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i;
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	feed_request_split(l, raw, len, cuts, len, &d);
	if (!bw_str_eq(bw_str_make(whole->data, whole->len),
		       bw_str_make(d.data, d.len)))
		fail_msg("byte-by-byte differs:\n%s\n---\n%s", whole->data,
			 d.data);
	for (int round = 0; round < 20; round++) {
		size_t n = 0;
		size_t at = 0;
		while (at < len && n < len) {
			at += 1 + (size_t)rand() % (len / 3 + 1);
			cuts[n++] = at;
		}
		bw_buf_reset(&d);
		feed_request_split(l, raw, len, cuts, n, &d);
		if (!bw_str_eq(bw_str_make(whole->data, whole->len),
			       bw_str_make(d.data, d.len)))
			fail_msg("split differs:\n%s\n---\n%s", whole->data,
				 d.data);
	}
	bw_buf_fini(&d);
	free(cuts);
	return rc;
}

static void table_cases(void **state)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		const struct tcase *c = &cases[i];
		struct bw_buf d;
		bw_buf_init(&d, 1 << 20);
		enum http_rc rc = check_split_invariance(&lim, c->raw, c->len, &d);
		char want[128];
		if (c->status == 0) {
			if (rc != HTTP_DONE)
				fail_msg("case %zu should parse: %s\n%s", i,
					 c->raw, d.data);
		} else {
			snprintf(want, sizeof(want),
				 "rc=-1 status=%d reason=%s\n", c->status,
				 c->reason);
			if (strcmp(d.data, want) != 0)
				fail_msg("case %zu: %s\nwant %sgot  %s", i,
					 c->raw, want, d.data);
		}
		bw_buf_fini(&d);
	}
}

/* Parse a complete request in one feed; assert it is DONE. */
static struct http_header g_hdrs[128];
static struct http_request parse_ok(const char *raw)
{
	struct http_req_parser p;
	struct http_request r;
	struct bw_err err;
	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	enum http_rc rc = http_req_parser_feed(&p, raw, strlen(raw), &r, &err);
	if (rc != HTTP_DONE)
		fail_msg("expected DONE for %s: %s", raw,
			 rc == HTTP_ERROR ? err.reason : "need more");
	return r;
}

static int parse_err(const struct http_limits *l, const char *raw,
		     size_t len, struct bw_err *err)
{
	struct http_req_parser p;
	struct http_request r;
	http_req_parser_init(&p, l, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	enum http_rc rc = http_req_parser_feed(&p, raw, len, &r, err);
	return rc == HTTP_ERROR ? err->code : (int)rc;
}

static void basic_get_fields(void **state)
{
	struct http_request r = parse_ok(
		"GET /p/a%20th?x=1&y HTTP/1.1\r\nHost: Example.COM:8080\r\n"
		"User-Agent:   curl/8  \t\r\nAccept: */*\r\n\r\n");
	assert_int_equal(r.method, HTTP_METHOD_GET);
	assert_true(bw_str_eq_lit(r.method_str, "GET"));
	assert_int_equal(r.form, HTTP_TARGET_ORIGIN);
	assert_true(bw_str_eq_lit(r.target, "/p/a%20th?x=1&y"));
	assert_true(bw_str_eq_lit(r.path, "/p/a%20th"));
	assert_true(bw_str_eq_lit(r.query, "x=1&y"));
	assert_true(r.has_query);
	assert_int_equal(r.version_minor, 1);
	assert_int_equal(r.nheaders, 3);
	assert_true(bw_str_eq_lit(r.headers[1].name, "User-Agent"));
	assert_true(bw_str_eq_lit(r.headers[1].value, "curl/8"));
	assert_true(bw_str_eq_lit(r.host, "Example.COM:8080"));
	assert_true(bw_str_eq_lit(r.host_name, "Example.COM"));
	assert_int_equal(r.port, 8080);
	assert_int_equal(r.framing, HTTP_FRAMING_NONE);
	assert_true(r.keep_alive);
	assert_false(r.expect_continue);
	assert_false(r.upgrade);
}

static void target_forms(void **state)
{
	struct http_request r =
		parse_ok("GET http://a.example?x HTTP/1.1\r\nHost: a.example\r\n\r\n");
	assert_int_equal(r.form, HTTP_TARGET_ABSOLUTE);
	assert_true(bw_str_eq_lit(r.scheme, "http"));
	assert_true(bw_str_eq_lit(r.authority, "a.example"));
	assert_true(bw_str_eq_lit(r.path, "/"));
	assert_true(bw_str_eq_lit(r.query, "x"));
	assert_true(bw_str_eq_lit(r.host_name, "a.example"));

	r = parse_ok("GET https://a.example:8443/z HTTP/1.1\r\nHost: a.example:8443\r\n\r\n");
	assert_true(bw_str_eq_lit(r.scheme, "https"));
	assert_true(bw_str_eq_lit(r.path, "/z"));
	assert_false(r.has_query);
	assert_int_equal(r.port, 8443);

	r = parse_ok("GET /q? HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(r.has_query);
	assert_int_equal(r.query.len, 0);

	r = parse_ok("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
	assert_int_equal(r.method, HTTP_METHOD_CONNECT);
	assert_int_equal(r.form, HTTP_TARGET_AUTHORITY);
	assert_true(bw_str_eq_lit(r.authority, "a.example:443"));
	assert_int_equal(r.port, 443);

	r = parse_ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(r.form, HTTP_TARGET_ASTERISK);
	assert_int_equal(r.method, HTTP_METHOD_OPTIONS);

	r = parse_ok("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(r.method, HTTP_METHOD_OTHER);
	assert_true(bw_str_eq_lit(r.method_str, "PROPFIND"));
	r = parse_ok("get / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(r.method, HTTP_METHOD_OTHER); /* case-sensitive */
}

static void framing_and_persistence(void **state)
{
	struct http_request r = parse_ok(
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
	assert_int_equal(r.framing, HTTP_FRAMING_LENGTH);
	assert_int_equal(r.content_length, 42);

	r = parse_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(r.framing, HTTP_FRAMING_CHUNKED);

	r = parse_ok("GET / HTTP/1.0\r\n\r\n");
	assert_false(r.keep_alive);
	assert_int_equal(r.host.len, 0);
	r = parse_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	assert_true(r.keep_alive);
	r = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
	assert_false(r.keep_alive);
	r = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: CLOSE\r\n\r\n");
	assert_false(r.keep_alive);

	r = parse_ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
	assert_true(r.expect_continue);
	r = parse_ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
	assert_false(r.expect_continue); /* ignored in 1.0 (RFC 9110 §10.1.1) */

	r = parse_ok("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
		     "Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n\r\n");
	assert_true(r.upgrade);
	assert_true(r.websocket);
	r = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n");
	assert_false(r.upgrade); /* no Connection: upgrade */
	r = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n");
	assert_true(r.upgrade);
	assert_false(r.websocket);
}

static void pipelining(void **state)
{
	const char two[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
			   "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
			   "GET /three HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_req_parser p;
	struct http_request r;
	struct bw_err err;
	size_t off = 0, len = sizeof(two) - 1;

	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, two, len, &r, &err), HTTP_DONE);
	assert_true(bw_str_eq_lit(r.path, "/one"));
	assert_int_equal(r.head_len, 30);
	off += r.head_len;

	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, two + off, len - off, &r, &err),
			 HTTP_DONE);
	assert_true(bw_str_eq_lit(r.path, "/two"));
	assert_int_equal(r.content_length, 3);
	assert_memory_equal(two + off + r.head_len, "abc", 3);
	off += r.head_len + 3;

	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, two + off, len - off, &r, &err),
			 HTTP_DONE);
	assert_true(bw_str_eq_lit(r.path, "/three"));
	assert_int_equal(off + r.head_len, len);
}

static void need_more_and_sticky_error(void **state)
{
	struct http_req_parser p;
	struct http_request r;
	struct bw_err err;
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\n";
	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, s, strlen(s), &r, &err),
			 HTTP_NEED_MORE);
	assert_int_equal(http_req_parser_feed(&p, s, 0 + strlen(s), &r, &err),
			 HTTP_NEED_MORE);
	const char *b = "GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n";
	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, b, strlen(b), &r, &err),
			 HTTP_ERROR);
	bw_err_clear(&err);
	assert_int_equal(http_req_parser_feed(&p, b, strlen(b), &r, &err),
			 HTTP_ERROR);
	assert_string_equal(err.reason, "space_before_colon");
	assert_int_equal(err.code, 400);
	assert_string_equal(err.module, "http");
	/* Empty input is simply "need more". */
	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, "", 0, &r, &err),
			 HTTP_NEED_MORE);
}

/* Build a request of the given shape into a malloc'd buffer. */
static char *build(size_t target_len, size_t nhdr, size_t value_len,
		   size_t *len)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 24);
	assert_int_equal(bw_buf_append_str(&b, "GET /"), 0);
	for (size_t i = 1; i < target_len; i++)
		assert_int_equal(bw_buf_append_byte(&b, 'a'), 0);
	assert_int_equal(bw_buf_append_str(&b, " HTTP/1.1\r\nHost: a\r\n"), 0);
	for (size_t i = 0; i < nhdr; i++) {
		assert_int_equal(bw_buf_printf(&b, "X-%zu: ", i), 0);
		for (size_t j = 0; j < value_len; j++)
			assert_int_equal(bw_buf_append_byte(&b, 'v'), 0);
		assert_int_equal(bw_buf_append_str(&b, "\r\n"), 0);
	}
	assert_int_equal(bw_buf_append_str(&b, "\r\n"), 0);
	return bw_buf_detach(&b, len);
}

static void limits_enforced(void **state)
{
	struct bw_err err;
	size_t len;
	char *s;

	/* URI exactly at the limit parses; one more byte is 414. */
	s = build(HTTP_DEF_URI, 0, 0, &len);
	assert_int_equal(parse_err(&lim, s, len, &err), HTTP_DONE);
	free(s);
	s = build(HTTP_DEF_URI + 1, 0, 0, &len);
	assert_int_equal(parse_err(&lim, s, len, &err), 414);
	assert_string_equal(err.reason, "uri_too_long");
	free(s);

	/* Request line limit below the URI limit. */
	struct http_limits l2 = lim;
	l2.max_request_line = 100;
	s = build(95, 0, 0, &len);
	assert_int_equal(parse_err(&l2, s, len, &err), 414);
	assert_string_equal(err.reason, "request_line_too_long");
	free(s);

	/* Header count: max_headers fields incl. Host pass, one more 431. */
	s = build(1, HTTP_DEF_HEADERS - 1, 1, &len);
	assert_int_equal(parse_err(&lim, s, len, &err), HTTP_DONE);
	free(s);
	s = build(1, HTTP_DEF_HEADERS, 1, &len);
	assert_int_equal(parse_err(&lim, s, len, &err), 431);
	assert_string_equal(err.reason, "too_many_headers");
	free(s);
	/* The caller's array is a limit too. */
	{
		struct http_header few[4];
		struct http_req_parser p;
		struct http_request r;
		s = build(1, 4, 1, &len);
		http_req_parser_init(&p, &lim, few, 4);
		assert_int_equal(http_req_parser_feed(&p, s, len, &r, &err),
				 HTTP_ERROR);
		assert_string_equal(err.reason, "too_many_headers");
		free(s);
	}

	/* One field line too long. */
	s = build(1, 1, HTTP_DEF_HEADER_LINE, &len);
	assert_int_equal(parse_err(&lim, s, len, &err), 431);
	assert_string_equal(err.reason, "header_line_too_long");
	free(s);

	/* Whole head too large although every line is fine. */
	s = build(1, 8, 5000, &len);
	assert_int_equal(parse_err(&lim, s, len, &err), 431);
	assert_string_equal(err.reason, "header_too_large");
	free(s);

	/* Errors are reported as soon as the limit is passed, without
	 * waiting for the rest: a truncated oversize line fails too. */
	s = build(1, 1, HTTP_DEF_HEADER_LINE + 200, &len);
	assert_int_equal(parse_err(&lim, s, len - 100, &err), 431);
	free(s);

	/* Limit-driven errors are split-invariant too. */
	s = build(1, 8, 5000, &len);
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	assert_int_equal(check_split_invariance(&lim, s, len, &d), HTTP_ERROR);
	bw_buf_fini(&d);
	free(s);
}

static void bare_lf_allowed_by_flag(void **state)
{
	struct http_limits l2 = lim;
	l2.allow_bare_lf = true;
	struct bw_err err;
	const char s[] = "GET / HTTP/1.1\nHost: a\nX: y \n\n";
	struct bw_buf d;
	bw_buf_init(&d, 1 << 20);
	assert_int_equal(check_split_invariance(&l2, s, sizeof(s) - 1, &d),
			 HTTP_DONE);
	bw_buf_fini(&d);
	/* A bare CR is never accepted. */
	assert_int_equal(parse_err(&l2, "GET / HTTP/1.1\r\nHost: a\rX\n\n", 27,
				   &err),
			 400);
	assert_string_equal(err.reason, "bare_cr");
	/* More leading empty lines can be allowed, not whitespace. */
	l2.max_leading_crlf = 3;
	assert_int_equal(parse_err(&l2, "\r\n\n\r\nGET / HTTP/1.0\r\n\r\n", 23,
				   &err),
			 HTTP_DONE);
}

static void header_helpers(void **state)
{
	struct http_request r = parse_ok(
		"GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 x\r\nACCEPT: a/b\r\n"
		"via: 1.0 y, 1.1 z\r\nX-List: a, \"b,c\" ,, d;q=1 ,\r\n\r\n");
	const struct http_header *h =
		http_header_find(r.headers, r.nheaders, "accept");
	assert_non_null(h);
	assert_true(bw_str_eq_lit(h->value, "a/b"));
	assert_null(http_header_find(r.headers, r.nheaders, "cookie"));

	int n = 0;
	for (h = NULL; (h = http_header_next(r.headers, r.nheaders, "VIA", h));)
		n++;
	assert_int_equal(n, 2);

	h = http_header_find(r.headers, r.nheaders, "x-list");
	struct bw_str l = h->value, e;
	const char *want[] = { "a", "\"b,c\"", "d;q=1" };
	size_t k = 0;
	while (http_list_next(&l, &e)) {
		assert_true(k < 3);
		assert_true(bw_str_eq_lit(e, want[k]));
		k++;
	}
	assert_int_equal(k, 3);
	assert_true(http_list_has_token(h->value, "D"));
	assert_false(http_list_has_token(h->value, "b"));
	assert_true(http_is_token(BW_STR("x-y_z!")));
	assert_false(http_is_token(BW_STR("x y")));
	assert_false(http_is_token(BW_STR("")));
}

static void methods(void **state)
{
	assert_int_equal(http_method_from_str(BW_STR("DELETE")),
			 HTTP_METHOD_DELETE);
	assert_int_equal(http_method_from_str(BW_STR("PATCH")),
			 HTTP_METHOD_PATCH);
	assert_int_equal(http_method_from_str(BW_STR("Get")), HTTP_METHOD_OTHER);
	assert_string_equal(http_method_name(HTTP_METHOD_OPTIONS), "OPTIONS");
	assert_string_equal(http_method_name(HTTP_METHOD_OTHER), "");
}

static void limits_check(void **state)
{
	struct http_limits l;
	struct bw_err err;
	http_limits_default(&l);
	assert_int_equal(http_limits_check(&l, &err), 0);
	l.max_header_bytes = HTTP_MAX_HEADER_BYTES + 1;
	assert_int_equal(http_limits_check(&l, &err), -1);
	assert_string_equal(err.reason, "limit_out_of_range");
	assert_non_null(strstr(err.msg, "max_header_bytes"));
	http_limits_default(&l);
	l.max_headers = 0;
	assert_int_equal(http_limits_check(&l, &err), -1);
	http_limits_default(&l);
	l.max_body = HTTP_MAX_BODY + 1;
	assert_int_equal(http_limits_check(&l, &err), -1);
	http_limits_default(&l);
	l.max_leading_crlf = 9;
	assert_int_equal(http_limits_check(&l, &err), -1);
}

/* Regression-style: a buffer that moves between feeds must not leave
 * stale pointers (checked in the dumps above; here explicitly). */
static void buffer_moves_between_feeds(void **state)
{
	const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n";
	struct http_req_parser p;
	struct http_request r;
	struct bw_err err;
	char *b1 = malloc(sizeof(s));
	memcpy(b1, s, 30);
	http_req_parser_init(&p, &lim, g_hdrs, BW_ARRAY_LEN(g_hdrs));
	assert_int_equal(http_req_parser_feed(&p, b1, 30, &r, &err),
			 HTTP_NEED_MORE);
	char *b2 = malloc(sizeof(s));
	memcpy(b2, s, sizeof(s));
	memset(b1, 'Z', 30);
	free(b1);
	assert_int_equal(http_req_parser_feed(&p, b2, sizeof(s) - 1, &r, &err),
			 HTTP_DONE);
	assert_true(bw_str_eq_lit(r.headers[0].value, "a"));
	assert_true(bw_str_eq_lit(r.headers[1].name, "X-A"));
	assert_ptr_equal(r.headers[0].name.p, b2 + 16);
	free(b2);
}


/* The vector scanners look at 16 bytes at a time: put each kind of bad
 * byte at every position of a long value or target, and make sure an
 * allowed HTAB or obs-text byte anywhere does not stop the scan. */
static void scanner_lanes(void **state)
{
	static const unsigned char bad_value[] = { 0x00, 0x01, 0x0b, 0x1f, 0x7f };
	static const unsigned char ok_value[] = { '\t', 0x80, 0xff, ' ', '~' };
	static const unsigned char bad_target[] = { 0x00, ' ' + 0, '#', 0x7f,
						    0x80, 0xff, '\t', 0x1f };
	char buf[200];
	struct bw_err err;
	for (size_t at = 0; at < 48; at++) {
		for (size_t k = 0; k < sizeof(bad_value); k++) {
			int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
			memset(buf + n, 'v', 48);
			buf[n + at] = (char)bad_value[k];
			memcpy(buf + n + 48, "\r\n\r\n", 4);
			assert_int_equal(parse_err(&lim, buf, (size_t)n + 52, &err), 400);
			assert_string_equal(err.reason, "bad_header_value");
		}
		for (size_t k = 0; k < sizeof(ok_value); k++) {
			int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: v");
			memset(buf + n, 'v', 48);
			buf[n + at] = (char)ok_value[k];
			memcpy(buf + n + 48, "v\r\n\r\n", 5);
			assert_int_equal(parse_err(&lim, buf, (size_t)n + 53, &err),
					 HTTP_DONE);
			assert_int_equal(g_hdrs[1].value.len, 50);
		}
		for (size_t k = 0; k < sizeof(bad_target); k++) {
			if (bad_target[k] == ' ' && at == 0)
				continue; /* "GET  /..." is a different error */
			memcpy(buf, "GET /", 5);
			memset(buf + 5, 'p', 48);
			buf[5 + at] = (char)bad_target[k];
			memcpy(buf + 53, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
			int rc = parse_err(&lim, buf, 75, &err);
			assert_int_equal(rc, 400);
		}
	}
}

int main(void)
{
	srand(12345);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(table_cases, setup),
		cmocka_unit_test_setup(basic_get_fields, setup),
		cmocka_unit_test_setup(target_forms, setup),
		cmocka_unit_test_setup(framing_and_persistence, setup),
		cmocka_unit_test_setup(pipelining, setup),
		cmocka_unit_test_setup(need_more_and_sticky_error, setup),
		cmocka_unit_test_setup(limits_enforced, setup),
		cmocka_unit_test_setup(bare_lf_allowed_by_flag, setup),
		cmocka_unit_test_setup(header_helpers, setup),
		cmocka_unit_test_setup(methods, setup),
		cmocka_unit_test_setup(limits_check, setup),
		cmocka_unit_test_setup(buffer_moves_between_feeds, setup),
		cmocka_unit_test_setup(scanner_lanes, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
