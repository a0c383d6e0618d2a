/*
 * net in one process: a TLS HTTP server on a loop (local CA from
 * net_selfca_ensure) and the outbound client (net_fetch) on the same loop
 * talking to it — success, request bodies, response limits, refused
 * connections, untrusted certificates; TLS setup errors; and the
 * streaming API (streamed responses, aborts, streamed and buffered
 * request bodies, tunnels) over plaintext HTTP/1.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/net.h"

static char dir[64];
static struct loop *lp;
static struct net_thread *nt;
static int port;
static int pending;

static void handler(struct net_exchange *x, void *arg)
{
	const struct http_request *r = net_request(x);
	if (bw_str_eq_lit(r->path, "/hello")) {
		net_respond(x, 200, "text/plain", "hello", 5);
	} else if (bw_str_eq_lit(r->path, "/echo")) {
		struct bw_str b = net_request_body(x);
		net_respond(x, 200, "application/octet-stream", b.p, b.len);
	} else {
		net_respond(x, 404, "text/plain", "no", 2);
	}
}

static char *slurp(const char *path, size_t *len)
{
	struct bw_err err;
	char *p = bw_file_read(path, 1 << 20, len, &err);
	assert_non_null(p);
	return p;
}

static int setup(void **state)
{
	bw_snprintf(dir, sizeof(dir), "/tmp/bwnet.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	struct bw_err err;
	struct net_selfca_paths p;
	if (net_selfca_ensure(dir, &p, &err) < 0 || net_fetch_global_init(&err) < 0)
		return -1;
	size_t cl, kl;
	char *cert = slurp(p.cert_file, &cl), *key = slurp(p.key_file, &kl);
	struct net_tls_cert c = { .name = "test", .cert_pem = { cert, cl },
				  .key_pem = { key, kl } };
	struct net_tls_config tc = { .certs = &c, .ncerts = 1, .alpn = "http/1.1" };
	struct net_http_options o = { .name = "test", .header_timeout_ms = 5000,
				      .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				      .write_timeout_ms = 5000, .handler = handler };
	http_limits_default(&o.limits);
	o.tls = net_tls_new(&tc, &err);
	bw_wipe(key, kl);
	free(cert);
	free(key);
	if (!o.tls)
		return -1;
	struct net_http_server *s = net_http_server_new(&o, &err);
	lp = loop_new(256, &err);
	nt = net_thread_new(lp, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 16, &err);
	if (!s || !lp || !nt || fd < 0)
		return -1;
	port = net_socket_port(fd);
	if (net_thread_listen(nt, "test", fd, s, &err) < 0)
		return -1;
	net_http_server_unref(s); /* the listener holds its own reference */
	return 0;
}

static int teardown(void **state)
{
	net_thread_free(nt);
	loop_free(lp);
	char cmd[128];
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct outcome {
	int status;
	char error[256];
	char body[64];
	bool done;
};

static void done_cb(void *arg, const struct net_fetch_result *r)
{
	struct outcome *o = arg;
	o->status = r->status;
	bw_snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
	size_t n = r->body.len < sizeof(o->body) - 1 ? r->body.len : sizeof(o->body) - 1;
	memcpy(o->body, r->body.p, n);
	o->body[n] = '\0';
	o->done = true;
	if (--pending == 0)
		loop_stop(lp);
}

static void fetch(struct net_fetch *f, struct net_fetch_request *req, struct outcome *o)
{
	struct bw_err err;
	assert_int_equal(net_fetch_start(f, req, done_cb, o, &err), 0);
	pending++;
}

static void fetch_talks_to_the_server(void **state)
{
	struct bw_err err;
	struct net_fetch *f = net_fetch_new(lp, 8, &err);
	assert_non_null(f);
	char url[128], echo[128], ca[128], big[128], closed[64];
	bw_snprintf(url, sizeof(url), "https://localhost:%d/hello", port);
	bw_snprintf(echo, sizeof(echo), "https://localhost:%d/echo", port);
	bw_snprintf(ca, sizeof(ca), "%s/tls/ca.crt", dir);
	bw_snprintf(big, sizeof(big), "https://localhost:%d/hello", port);
	/* a port nothing listens on: bind and close one */
	int tmp = net_listen_tcp("127.0.0.1", 0, false, 1, &err);
	bw_snprintf(closed, sizeof(closed), "http://127.0.0.1:%d/", net_socket_port(tmp));
	close(tmp);

	struct outcome ok = { 0 }, post = { 0 }, limit = { 0 }, refused = { 0 },
		       untrusted = { 0 };
	struct net_fetch_request r1 = { .url = url, .ca_file = ca };
	struct net_fetch_request r2 = { .method = "POST", .url = echo, .ca_file = ca,
					.body = "payload", .body_len = 7 };
	struct net_fetch_request r3 = { .url = big, .ca_file = ca, .max_response = 3 };
	struct net_fetch_request r4 = { .url = closed };
	struct net_fetch_request r5 = { .url = url }; /* system CAs: not ours */
	fetch(f, &r1, &ok);
	fetch(f, &r2, &post);
	fetch(f, &r3, &limit);
	fetch(f, &r4, &refused);
	fetch(f, &r5, &untrusted);
	assert_int_equal(net_fetch_in_flight(f), 5);
	assert_int_equal(loop_run(lp), 0);

	assert_int_equal(ok.status, 200);
	assert_string_equal(ok.body, "hello");
	assert_string_equal(ok.error, "");
	assert_int_equal(post.status, 200);
	assert_string_equal(post.body, "payload");
	assert_non_null(strstr(limit.error, "larger than max_response"));
	assert_true(refused.error[0] != '\0');
	assert_int_equal(refused.status, 0);
	assert_true(untrusted.error[0] != '\0');
	assert_int_equal(net_fetch_in_flight(f), 0);
	net_fetch_free(f);
}

static void fetch_refuses_past_its_bound(void **state)
{
	struct bw_err err;
	struct net_fetch *f = net_fetch_new(lp, 1, &err);
	char url[128];
	bw_snprintf(url, sizeof(url), "https://localhost:%d/hello", port);
	struct net_fetch_request r = { .url = url };
	struct outcome a = { 0 }, b = { 0 };
	assert_int_equal(net_fetch_start(f, &r, done_cb, &a, &err), 0);
	assert_int_equal(net_fetch_start(f, &r, done_cb, &b, &err), -1);
	assert_int_equal(err.code, 503);
	net_fetch_free(f); /* cancels a: its callback still runs once */
	assert_true(a.done);
	assert_string_equal(a.error, "cancelled");
	assert_false(b.done);
	pending = 0;
}

static void tls_setup_errors_are_reported(void **state)
{
	struct bw_err err;
	struct net_tls_cert c = { .name = "junk", .cert_pem = BW_STR("not a cert"),
				  .key_pem = BW_STR("not a key") };
	struct net_tls_config tc = { .certs = &c, .ncerts = 1 };
	assert_null(net_tls_new(&tc, &err));
	assert_non_null(strstr(err.msg, "junk"));
	struct net_tls_config none = { 0 };
	assert_null(net_tls_new(&none, &err));
	assert_string_equal(err.reason, "no_cert");
	tc.alpn = ",,";
	assert_null(net_tls_new(&tc, &err));
	assert_int_equal(net_listen_tcp("not-an-ip", 0, false, 1, &err), -1);
	assert_string_equal(err.reason, "bad_address");
}

/* ------------------------------------------------------------- streams */

struct line_ctx {
	struct net_stream_conn *sc;
	int lines;
	bool closed;
};
static struct line_ctx line_state;

static void *line_open(void *arg, struct net_stream_conn *sc, const char *peer,
		       uint16_t peer_port)
{
	line_state.sc = sc;
	return &line_state;
}

/* Consumes whole lines only and acknowledges each. */
static int line_data(void *ctx, const char *data, size_t len, size_t *consumed)
{
	struct line_ctx *lc = ctx;
	size_t used = 0;
	const char *nl;
	while ((nl = memchr(data + used, '\n', len - used)) != NULL) {
		used = (size_t)(nl - data) + 1;
		lc->lines++;
		if (net_stream_write(lc->sc, "ok\n", 3) < 0)
			return -1;
	}
	*consumed = used;
	return 0;
}

static void line_close(void *ctx)
{
	((struct line_ctx *)ctx)->closed = true;
}

struct udp_seen {
	char data[64];
	int n;
};

static void on_dgram(void *arg, const char *data, size_t len, const char *peer,
		     uint16_t peer_port)
{
	struct udp_seen *u = arg;
	bw_snprintf(u->data, sizeof(u->data), "%.*s", (int)len, data);
	u->n++;
	loop_stop(lp);
}

static void client_side(void *arg)
{
	int *ports = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)ports[0]) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* Two lines and a partial one, split across writes. */
	assert_int_equal(write(fd, "one\ntw", 7), 7);
	usleep(20000);
	assert_int_equal(write(fd, "o\nthr", 6), 6);
	char buf[16] = "";
	size_t got = 0;
	while (got < 6) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, "ok\nok\n", 6);
	close(fd);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	a.sin_port = htons((uint16_t)ports[1]);
	assert_int_equal(sendto(u, "<13>hello", 9, 0, (struct sockaddr *)&a, sizeof(a)), 9);
	close(u);
}

static void *client_thread(void *arg)
{
	client_side(arg);
	return NULL;
}

static void stream_and_udp_deliver_bytes(void **state)
{
	struct bw_err err;
	struct net_stream_options o = { .name = "lines", .on_open = line_open,
					.on_data = line_data, .on_close = line_close,
					.max_buffer = 1024 };
	struct net_stream *s = net_stream_new(&o, &err);
	assert_non_null(s);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 8, &err);
	int ports[2] = { net_socket_port(fd), 0 };
	assert_int_equal(net_stream_listen(lp, fd, s, &err), 0);
	net_stream_unref(s);
	int ufd = net_udp_bind("127.0.0.1", 0, false, &err);
	assert_true(ufd >= 0);
	ports[1] = net_socket_port(ufd);
	struct udp_seen seen = { 0 };
	struct net_udp *u = net_udp_start(lp, ufd, on_dgram, &seen, &err);
	assert_non_null(u);
	pthread_t th;
	pthread_create(&th, NULL, client_thread, ports);
	assert_int_equal(loop_run(lp), 0); /* stops at the datagram */
	pthread_join(th, NULL);
	assert_int_equal(line_state.lines, 2);
	assert_string_equal(seen.data, "<13>hello");
	net_udp_stop(u);
	net_stream_thread_stop(lp);
	assert_true(line_state.closed);
}


/* ------------------------------------------------ streaming exchanges */

/* A plaintext server that dispatches at the head, with a handler for each
 * streaming path: chunked and sized streamed responses, an abort after
 * part of a body, a request body streamed (with a pause resumed from the
 * loop) or buffered, a chunked body over max_body, and a tunnel that
 * echoes what the client sends. The client is a blocking socket on a
 * second thread. */
struct sx {
	struct net_exchange *x;
	size_t n;
	bool paused_once;
};

static void sx_resume(void *arg)
{
	net_request_body_resume(((struct sx *)arg)->x);
}

static void sx_body(void *arg, const char *p, size_t n, bool end)
{
	struct sx *s = arg;
	s->n += n;
	if (n && !s->paused_once) {
		s->paused_once = true;
		net_request_body_pause(s->x);
		assert_int_equal(loop_post(lp, sx_resume, s), 0);
	}
	if (!end)
		return;
	const char *why = NULL;
	char out[64];
	int k = net_request_body_failed(s->x, &why) ?
			bw_snprintf(out, sizeof(out), "failed %s", why ? why : "?") :
			bw_snprintf(out, sizeof(out), "got %zu", s->n);
	net_respond(s->x, why ? 413 : 200, "text/plain", out, k > 0 ? (size_t)k : 0);
}

static void sx_buffered(struct net_exchange *x, void *arg)
{
	char out[32];
	int k = bw_snprintf(out, sizeof(out), "whole %zu", net_request_body(x).len);
	net_respond(x, 200, "text/plain", out, k > 0 ? (size_t)k : 0);
}

static void sx_tunnel(void *arg, const char *p, size_t n, bool end)
{
	struct net_exchange *x = arg;
	if (n) {
		assert_int_equal(net_respond_data(x, p, n), 0);
		net_respond_flush(x);
	}
	if (end)
		net_respond_end(x);
}

static void shandler(struct net_exchange *x, void *arg)
{
	const struct http_request *r = net_request(x);
	if (bw_str_eq_lit(r->path, "/chunks")) {
		assert_false(net_request_body_pending(x));
		net_respond_start(x, 200, "text/plain", -1);
		assert_int_equal(net_respond_data(x, "ab", 2), 0);
		assert_int_equal(net_respond_data(x, "cd", 2), 0);
		net_respond_end(x);
	} else if (bw_str_eq_lit(r->path, "/len")) {
		net_respond_start(x, 200, "text/plain", 5);
		assert_int_equal(net_respond_data(x, "hello", 5), 0);
		net_respond_end(x);
	} else if (bw_str_eq_lit(r->path, "/abort")) {
		net_respond_start(x, 200, "text/plain", 10);
		assert_int_equal(net_respond_data(x, "abc", 3), 0);
		net_respond_flush(x);
		net_abort(x);
	} else if (bw_str_eq_lit(r->path, "/count")) {
		assert_true(net_request_body_pending(x));
		struct sx *s = bw_arena_zalloc(net_arena(x), sizeof(*s));
		s->x = x;
		net_request_body_stream(x, sx_body, s);
	} else if (bw_str_eq_lit(r->path, "/buf")) {
		net_request_body_buffer(x, sx_buffered, NULL);
	} else if (bw_str_eq_lit(r->path, "/tunnel")) {
		net_add_header(x, "Connection", "Upgrade");
		net_add_header(x, "Upgrade", "echo");
		assert_int_equal(net_upgrade(x, 2000, sx_tunnel, x), 0);
	} else {
		net_respond(x, 404, "text/plain", "no", 2);
	}
}

/* Sends req on a fresh connection and reads until EOF or `until` shows up
 * (then stops). Returns the bytes read (NUL-terminated in out). */
static size_t sx_roundtrip(int p, const char *req, size_t reqlen, const char *until,
			   char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t off = 0;
	while (off < reqlen) {
		ssize_t w = write(fd, req + off, reqlen - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, out + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = '\0';
		if (until && strstr(out, until))
			break;
	}
	out[got] = '\0';
	close(fd);
	return got;
}

static void sx_stop(void *arg)
{
	loop_stop(lp);
}

static void *sx_client(void *arg)
{
	int p = *(int *)arg;
	static char out[8192];
	const char *conn = "Host: t\r\nConnection: close\r\n";
	char req[4096];
	int n = bw_snprintf(req, sizeof(req), "GET /chunks HTTP/1.1\r\n%s\r\n", conn);
	sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(out, "\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"));
	n = bw_snprintf(req, sizeof(req), "GET /chunks HTTP/1.0\r\nHost: t\r\n\r\n");
	sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_null(strstr(out, "chunked")); /* 1.0: the close ends the body */
	assert_non_null(strstr(out, "\r\n\r\nabcd"));
	n = bw_snprintf(req, sizeof(req), "GET /len HTTP/1.1\r\n%s\r\n", conn);
	sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "Content-Length: 5\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nhello"));
	n = bw_snprintf(req, sizeof(req), "HEAD /len HTTP/1.1\r\n%s\r\n", conn);
	size_t got = sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "Content-Length: 5\r\n"));
	assert_int_equal(strstr(out, "\r\n\r\n") + 4 - out, (long)got);
	n = bw_snprintf(req, sizeof(req), "GET /abort HTTP/1.1\r\n%s\r\n", conn);
	sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "Content-Length: 10\r\n"));
	assert_non_null(strstr(out, "\r\n\r\nabc"));
	assert_null(strstr(out, "\r\n\r\nabcd")); /* cut, not padded */
	/* a streamed body (paused once, resumed from the loop) */
	n = bw_snprintf(req, sizeof(req), "POST /count HTTP/1.1\r\n%sContent-Length: 600\r\n\r\n",
			conn);
	memset(req + n, 'z', 600);
	sx_roundtrip(p, req, (size_t)n + 600, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "got 600"));
	n = bw_snprintf(req, sizeof(req), "POST /count HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n"
			"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", conn);
	sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "got 7"));
	/* chunked past max_body (1000): the stream fails, the handler says */
	n = bw_snprintf(req, sizeof(req), "POST /count HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n"
			"7d0\r\n", conn);
	memset(req + n, 'y', 2000);
	memcpy(req + n + 2000, "\r\n0\r\n\r\n", 7);
	sx_roundtrip(p, req, (size_t)n + 2007, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "failed body_too_large"));
	/* buffered on request */
	n = bw_snprintf(req, sizeof(req), "POST /buf HTTP/1.1\r\n%sContent-Length: 11\r\n\r\n"
			"hello world", conn);
	sx_roundtrip(p, req, (size_t)n, NULL, out, sizeof(out));
	assert_non_null(strstr(out, "whole 11"));
	/* a tunnel: bytes right after the head, then an echo */
	n = bw_snprintf(req, sizeof(req), "GET /tunnel HTTP/1.1\r\nHost: t\r\n"
			"Connection: Upgrade\r\nUpgrade: echo\r\n\r\nping-1");
	sx_roundtrip(p, req, (size_t)n, "ping-1", out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 101 "));
	assert_null(strstr(out, "Connection: close"));
	assert_non_null(strstr(out, "\r\n\r\nping-1"));
	assert_int_equal(loop_post(lp, sx_stop, NULL), 0);
	return NULL;
}

static void streaming_exchanges(void **state)
{
	struct bw_err err;
	struct net_http_options o = { .name = "stream", .header_timeout_ms = 5000,
				      .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				      .write_timeout_ms = 5000, .handler = shandler,
				      .dispatch_at_head = true };
	http_limits_default(&o.limits);
	o.limits.max_body = 1000;
	struct net_http_server *s = net_http_server_new(&o, &err);
	assert_non_null(s);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 16, &err);
	int sp = net_socket_port(fd);
	assert_int_equal(net_thread_listen(nt, "stream", fd, s, &err), 0);
	net_http_server_unref(s);
	pthread_t th;
	pthread_create(&th, NULL, sx_client, &sp);
	assert_int_equal(loop_run(lp), 0);
	pthread_join(th, NULL);
	net_thread_unlisten(nt, "stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fetch_talks_to_the_server),
		cmocka_unit_test(fetch_refuses_past_its_bound),
		cmocka_unit_test(tls_setup_errors_are_reported),
		cmocka_unit_test(stream_and_udp_deliver_bytes),
		cmocka_unit_test(streaming_exchanges),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
