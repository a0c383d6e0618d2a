/*
 * Unit tests of forwarding: client address derivation behind trusted
 * proxies (X-Forwarded-For and Forwarded, spoofing attempts, malformed
 * chains), the Forwarded parser, node addresses, hop-by-hop stripping in
 * both directions and the upstream request head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "gateway/gateway_int.h"
#include "gw_test.h"

static struct gw_cidr trusted[2];

static int setup(void **state)
{
	if (gw_cidr_parse("10.0.0.0/8", 10, &trusted[0]) < 0 ||
	    gw_cidr_parse("2001:db8::/32", 13, &trusted[1]) < 0)
		return -1;
	return 0;
}

static const char *client_of(const char *peer, const char *head)
{
	static struct gw_client c;
	const struct http_request *r = gwt_parse(head);
	assert_non_null(r);
	assert_int_equal(gw_client_derive(trusted, 2, peer, r, &c), 0);
	return c.ip_text;
}

static void untrusted_peer_cannot_spoof(void **state)
{
	assert_string_equal(client_of("203.0.113.9",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: 1.2.3.4\r\n\r\n"),
			    "203.0.113.9");
	assert_string_equal(client_of("203.0.113.9",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "Forwarded: for=1.2.3.4\r\n\r\n"),
			    "203.0.113.9");
}

static void trusted_chain_walks_right_to_left(void **state)
{
	/* peer trusted, last hop trusted, first untrusted from the right wins */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: 6.6.6.6, 198.51.100.7, 10.9.9.9\r\n\r\n"),
			    "198.51.100.7");
	/* several lines form one list */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: 6.6.6.6\r\n"
				      "X-Forwarded-For: 198.51.100.8\r\n\r\n"),
			    "198.51.100.8");
	/* all trusted: the leftmost */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: 10.1.1.1, 10.2.2.2\r\n\r\n"),
			    "10.1.1.1");
	/* garbage stops the walk at the last good hop */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: 1.1.1.1, evil, 10.3.3.3\r\n\r\n"),
			    "10.3.3.3");
	/* ports and brackets are tolerated */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: 192.0.2.1:4711\r\n\r\n"),
			    "192.0.2.1");
	assert_string_equal(client_of("2001:db8::5",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "X-Forwarded-For: [2001:db9::1]:80\r\n\r\n"),
			    "2001:db9::1");
	/* no header: the peer */
	assert_string_equal(client_of("10.0.0.1", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
			    "10.0.0.1");
	/* Forwarded when there is no XFF */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, "
				      "for=\"[2001:db8:cafe::17]:4711\"\r\n\r\n"),
			    "192.0.2.60");
	/* a malformed Forwarded element: nothing to its left is believed */
	assert_string_equal(client_of("10.0.0.1",
				      "GET / HTTP/1.1\r\nHost: a\r\n"
				      "Forwarded: for=1.1.1.1, for=\"unterminated\r\n\r\n"),
			    "10.0.0.1");
	/* a chain longer than the hop limit keeps only the rightmost hops */
	struct bw_buf b;
	bw_buf_init(&b, 4096);
	assert_int_equal(bw_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n"
					       "X-Forwarded-For: 9.9.9.9"), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(bw_buf_append_str(&b, ", 10.0.0.7"), 0);
	assert_int_equal(bw_buf_append_str(&b, "\r\n\r\n"), 0);
	assert_string_equal(client_of("10.0.0.1", b.data), "10.0.0.7");
	bw_buf_fini(&b);
}

static void forwarded_parser(void **state)
{
	struct bw_str rest = BW_STR("for=a;proto=https, ,for=\"[::1]:80\";by=x,by=y, "
				    "FOR=_hidden"),
		      f;
	assert_int_equal(gw_forwarded_next(&rest, &f), 1);
	assert_true(bw_str_eq_lit(f, "a"));
	assert_int_equal(gw_forwarded_next(&rest, &f), 1);
	assert_true(bw_str_eq_lit(f, "[::1]:80"));
	assert_int_equal(gw_forwarded_next(&rest, &f), 1);
	assert_int_equal(f.len, 0); /* element without for= */
	assert_int_equal(gw_forwarded_next(&rest, &f), 1);
	assert_true(bw_str_eq_lit(f, "_hidden"));
	assert_int_equal(gw_forwarded_next(&rest, &f), 0);

	const char *bad[] = { "for", "for=", "=x", "for=\"x", "for=a b", "for=a;;=",
			      "f or=a", "for=a,for=@" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad); i++) {
		rest = bw_str_make(bad[i], strlen(bad[i]));
		int rc;
		while ((rc = gw_forwarded_next(&rest, &f)) == 1)
			;
		assert_int_equal(rc, -1);
	}

	struct gw_ip ip;
	assert_int_equal(gw_node_addr(BW_STR("192.0.2.1"), &ip), 0);
	assert_int_equal(gw_node_addr(BW_STR("192.0.2.1:80"), &ip), 0);
	assert_int_equal(gw_node_addr(BW_STR("[2001:db8::1]"), &ip), 0);
	assert_int_equal(gw_node_addr(BW_STR("[2001:db8::1]:8080"), &ip), 0);
	assert_int_equal(gw_node_addr(BW_STR("2001:db8::1"), &ip), 0);
	const char *badn[] = { "", "unknown", "_obf", "[::1", "[::1]x", "[::1]:",
			       "[::1]:123456", "1.2.3.4:", "1.2.3.4:x", "[1.2.3.4]",
			       "::ffff:1.2.3.4:80x" };
	for (size_t i = 0; i < BW_ARRAY_LEN(badn); i++)
		assert_int_equal(gw_node_addr(bw_str_make(badn[i], strlen(badn[i])), &ip),
				 -1);
}

static void hop_by_hop_headers(void **state)
{
	const struct http_request *r = gwt_parse(
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Foo\r\n"
		"X-Secret: 1\r\nFoo: 2\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
		"Proxy-Authorization: Basic x\r\nX-Normal: 3\r\n\r\n");
	assert_non_null(r);
	if (!r)
		return;
	struct gw_hop hop;
	gw_hop_collect(r->headers, r->nheaders, &hop);
	assert_true(gw_hop_is(&hop, BW_STR("x-secret")));
	assert_true(gw_hop_is(&hop, BW_STR("FOO")));
	assert_true(gw_hop_is(&hop, BW_STR("Keep-Alive")));
	assert_true(gw_hop_is(&hop, BW_STR("te")));
	assert_true(gw_hop_is(&hop, BW_STR("Trailer")));
	assert_true(gw_hop_is(&hop, BW_STR("Transfer-Encoding")));
	assert_true(gw_hop_is(&hop, BW_STR("Upgrade")));
	assert_true(gw_hop_is(&hop, BW_STR("Proxy-Authorization")));
	assert_true(gw_hop_is(&hop, BW_STR("Connection")));
	assert_false(gw_hop_is(&hop, BW_STR("X-Normal")));
	assert_false(gw_hop_is(&hop, BW_STR("Host")));
	/* responses: also what net writes itself */
	assert_true(gw_resp_header_skip(&hop, BW_STR("Content-Length")));
	assert_true(gw_resp_header_skip(&hop, BW_STR("date")));
	assert_true(gw_resp_header_skip(&hop, BW_STR("X-Request-Id")));
	assert_false(gw_resp_header_skip(&hop, BW_STR("Set-Cookie")));
}

static char head[8192];

static const char *build(const char *peer, const char *text, bool tls,
			 bool fwd, size_t body)
{
	const struct http_request *r = gwt_parse(text);
	assert_non_null(r);
	if (!r)
		return NULL;
	static struct gw_client c;
	assert_int_equal(gw_client_derive(trusted, 2, peer, r, &c), 0);
	struct bw_buf out;
	bw_buf_init(&out, 8000);
	struct gw_fwd_opts o = { .host = r->host.len ? r->host : BW_STR("up:80"),
				 .client = &c, .peer_ip = peer, .tls = tls,
				 .send_forwarded = fwd, .request_id = "req-1",
				 .body_len = body };
	struct bw_err err;
	int rc = gw_build_request(&out, r, &o, &err);
	if (rc < 0) {
		bw_buf_fini(&out);
		return NULL;
	}
	assert_true(out.len < sizeof(head));
	memcpy(head, out.data, out.len + 1);
	bw_buf_fini(&out);
	return head;
}

static void upstream_request_head(void **state)
{
	const char *h = build("203.0.113.9",
			      "POST /p?q=1 HTTP/1.1\r\nHost: app.example\r\n"
			      "Connection: close, X-Hop\r\nX-Hop: a\r\nUpgrade: websocket\r\n"
			      "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n"
			      "X-Real-IP: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\n"
			      "X-Request-Id: spoofed\r\nExpect: 100-continue\r\n"
			      "Transfer-Encoding: chunked\r\nAccept: */*\r\n\r\n",
			      true, true, 5);
	assert_non_null(h);
	assert_non_null(strstr(h, "POST /p?q=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(h, "Host: app.example\r\n"));
	assert_non_null(strstr(h, "Accept: */*\r\n"));
	assert_non_null(strstr(h, "X-Forwarded-For: 203.0.113.9\r\n"));
	assert_non_null(strstr(h, "X-Forwarded-Proto: https\r\n"));
	assert_non_null(strstr(h, "X-Forwarded-Host: app.example\r\n"));
	assert_non_null(strstr(h, "Forwarded: for=203.0.113.9;proto=https;host=\"app.example\"\r\n"));
	assert_non_null(strstr(h, "X-Request-Id: req-1\r\n"));
	assert_non_null(strstr(h, "Content-Length: 5\r\n"));
	assert_null(strstr(h, "1.1.1.1"));
	assert_null(strstr(h, "spoofed"));
	assert_null(strstr(h, "X-Hop"));
	assert_null(strstr(h, "Upgrade"));
	assert_null(strstr(h, "Connection"));
	assert_null(strstr(h, "Transfer-Encoding"));
	assert_null(strstr(h, "Expect"));
	assert_null(strstr(h, "X-Real-IP"));
	assert_non_null(strstr(h, "\r\n\r\n"));

	/* trusted peer: its chain is kept and the peer appended */
	h = build("10.0.0.1",
		  "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\n"
		  "X-Forwarded-Proto: https\r\nForwarded: for=198.51.100.1\r\n\r\n",
		  false, true, 0);
	assert_non_null(strstr(h, "X-Forwarded-For: 198.51.100.1, 10.0.0.1\r\n"));
	assert_non_null(strstr(h, "X-Forwarded-Proto: https\r\n"));
	assert_non_null(strstr(h, "Forwarded: for=198.51.100.1, for=10.0.0.1;proto=http"));
	assert_null(strstr(h, "Content-Length")); /* GET without body */

	/* IPv6 peers are quoted in Forwarded */
	h = build("2001:db9::7", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, true, 0);
	assert_non_null(strstr(h, "Forwarded: for=\"[2001:db9::7]\";proto=http"));

	/* absolute-form becomes origin-form */
	h = build("203.0.113.9", "GET http://a.example/x/y?z HTTP/1.1\r\nHost: a.example\r\n\r\n",
		  false, false, 0);
	assert_non_null(strstr(h, "GET /x/y?z HTTP/1.1\r\n"));
	assert_null(strstr(h, "Forwarded:"));
	h = build("203.0.113.9", "GET http://a.example?z=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
		  false, false, 0);
	assert_non_null(strstr(h, "GET /?z=1 HTTP/1.1\r\n"));
	h = build("203.0.113.9", "GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
		  false, false, 0);
	assert_non_null(strstr(h, "GET / HTTP/1.1\r\n"));
	/* POST without a body still says so */
	h = build("203.0.113.9", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", false, false, 0);
	assert_non_null(strstr(h, "Content-Length: 0\r\n"));
	/* CONNECT is not proxied */
	assert_null(build("203.0.113.9", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
			  false, false, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(untrusted_peer_cannot_spoof),
		cmocka_unit_test(trusted_chain_walks_right_to_left),
		cmocka_unit_test(forwarded_parser),
		cmocka_unit_test(hop_by_hop_headers),
		cmocka_unit_test(upstream_request_head),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
