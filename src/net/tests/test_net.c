/*
 * net in one process: a TLS HTTP server on a loop (local CA from
 * net_selfca_ensure) and the outbound client (net_fetch) on the same loop
 * talking to it — success, request bodies, response limits, refused
 * connections, untrusted certificates; and TLS setup errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fetch_talks_to_the_server),
		cmocka_unit_test(fetch_refuses_past_its_bound),
		cmocka_unit_test(tls_setup_errors_are_reported),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
