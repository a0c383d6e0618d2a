/*
 * The gateway in one process: a net server with gateway_handle on a loop
 * thread, test upstreams (plain blocking TCP servers, one thread per
 * connection, whose behaviour each test sets), and a blocking HTTP client
 * in the test thread. Covers forwarding headers both ways, keep-alive
 * reuse, round-robin, upstream down (502), timeouts (504), retry of GET but
 * not POST, circuit breaking (503, half-open probe), chunked and oversized
 * responses, rate limits with Retry-After on a pinned clock, bots and the
 * challenge, the built-in demo, WAF block/detect, active health checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "gateway/gateway.h"
#include "net/net.h"

/* ------------------------------------------------------------ upstreams */

enum up_mode { UP_OK, UP_CLOSE, UP_SLOW, UP_500 };

struct upstream {
	int lfd;
	int port;
	char id;
	pthread_t th;
	_Atomic int mode;
	_Atomic int accepts, requests, health_hits;
	_Atomic bool stop;
};

static struct upstream ups[4];

struct upconn {
	struct upstream *u;
	int fd;
	int serial;
};

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Whether the request line (up to the first CR) contains s. */
static bool line_has(const char *buf, const char *s)
{
	const char *cr = strchr(buf, '\r');
	const char *f = strstr(buf, s);
	return f && cr && f < cr;
}

static void *upconn_main(void *arg)
{
	struct upconn *c = arg;
	struct upstream *u = c->u;
	char buf[65536];
	size_t len = 0;
	struct timeval tv = { 0, 50000 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!atomic_load(&u->stop)) {
		char *end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
		if (!end) {
			if (len == sizeof(buf))
				break;
			ssize_t n = recv(c->fd, buf + len, sizeof(buf) - len, 0);
			if (n == 0)
				break;
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					continue;
				break;
			}
			len += (size_t)n;
			continue;
		}
		size_t head = (size_t)(end - buf) + 4;
		size_t cl = 0;
		char *h = memmem(buf, head, "Content-Length: ", 16);
		if (h)
			cl = strtoul(h + 16, NULL, 10);
		if (len < head + cl) {
			ssize_t n = recv(c->fd, buf + len, sizeof(buf) - len, 0);
			if (n == 0)
				break;
			if (n > 0)
				len += (size_t)n;
			continue;
		}
		atomic_fetch_add(&u->requests, 1);
		bool health = strncmp(buf, "GET /health ", 12) == 0;
		if (health)
			atomic_fetch_add(&u->health_hits, 1);
		int mode = atomic_load(&u->mode);
		if (mode == UP_CLOSE)
			break;
		if (mode == UP_SLOW) {
			while (!atomic_load(&u->stop) && recv(c->fd, buf, 1, MSG_PEEK) != 0)
				;
			break;
		}
		char out[70000];
		int n;
		if (mode == UP_500) {
			n = snprintf(out, sizeof(out),
				     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
		} else if (line_has(buf, "/chunked ")) {
			n = snprintf(out, sizeof(out),
				     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
				     "Content-Type: text/plain\r\n\r\n"
				     "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
		} else if (line_has(buf, "/big ")) {
			n = snprintf(out, sizeof(out),
				     "HTTP/1.1 200 OK\r\nContent-Length: 65000\r\n\r\n");
			memset(out + n, 'b', 65000);
			n += 65000;
		} else if (line_has(buf, "/interim ")) {
			n = snprintf(out, sizeof(out),
				     "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
				     "HTTP/1.1 204 No Content\r\nX-Upstream: %c\r\n\r\n", u->id);
		} else {
			char body[8192];
			int bl = snprintf(body, sizeof(body), "id=%c conn=%d\n%.*s", u->id,
					  c->serial, (int)(head + cl), buf);
			if (bl < 0 || (size_t)bl >= sizeof(body))
				bl = (int)sizeof(body) - 1;
			n = snprintf(out, sizeof(out),
				     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				     "Content-Length: %d\r\nX-Upstream: %c\r\n"
				     "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\n"
				     "Keep-Alive: timeout=5\r\nSet-Cookie: a=1\r\n"
				     "Set-Cookie: b=2\r\n\r\n%.*s",
				     bl, u->id, bl, body);
		}
		if (!send_all(c->fd, out, (size_t)n))
			break;
		memmove(buf, buf + head + cl, len - head - cl);
		len -= head + cl;
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	int serial = 0;
	while (!atomic_load(&u->stop)) {
		struct pollfd p = { .fd = u->lfd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(u->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&u->accepts, 1);
		struct upconn *c = calloc(1, sizeof(*c));
		c->u = u;
		c->fd = fd;
		c->serial = ++serial;
		pthread_t th;
		pthread_create(&th, NULL, upconn_main, c);
		pthread_detach(th);
	}
	return NULL;
}

static void upstream_start(struct upstream *u, char id)
{
	struct bw_err err;
	memset(u, 0, sizeof(*u));
	u->id = id;
	u->lfd = net_listen_tcp("127.0.0.1", 0, false, 64, &err);
	assert_true(u->lfd >= 0);
	u->port = net_socket_port(u->lfd);
	pthread_create(&u->th, NULL, upstream_main, u);
}

static void upstream_stop(struct upstream *u)
{
	atomic_store(&u->stop, true);
	pthread_join(u->th, NULL);
	close(u->lfd);
}

/* ------------------------------------------------------------ gateway */

static struct loop *lp;
static struct net_thread *nt;
static struct gateway *gw;
static struct bw_arena *conf_arena;
static pthread_t loop_th;
static int gw_port;
static int refused_port;
static char rules_path[64];

static void *loop_main(void *arg)
{
	(void)loop_run(lp);
	return NULL;
}

static const char yaml_fmt[] =
	"gateway:\n"
	"  max_response: 32k\n"
	"  trusted_proxies: [10.0.0.0/8]\n"
	"  rate_limit: { allowlist: [192.0.2.0/24] }\n"
	"  bot: { challenge_key: \"0123456789abcdef0123456789abcdef\" }\n"
	"  waf: { rules: [\"%s\"] }\n"
	"  upstreams:\n"
	"    - { name: one, servers: [\"127.0.0.1:%d\"], read_timeout: 300ms }\n"
	"    - { name: rr, servers: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"] }\n"
	"    - { name: down, servers: [\"127.0.0.1:%d\"], connect_timeout: 300ms }\n"
	"    - { name: flaky, servers: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"], retries: 1,\n"
	"        max_fails: 2, open_for: 400ms }\n"
	"    - { name: tls, servers: [\"127.0.0.1:%d\"],\n"
	"        tls: { ca_file: \"%s/tls/ca.crt\", server_name: localhost } }\n"
	"    - { name: tlsbad, servers: [\"127.0.0.1:%d\"], tls: { server_name: localhost } }\n"
	"    - name: checked\n"
	"      servers: [\"127.0.0.1:%d\"]\n"
	"      health: { path: /health, interval: 100ms, timeout: 100ms }\n"
	"  routes:\n"
	"    - { name: one, path: /one, upstream: one, preserve_host: true }\n"
	"    - { name: rr, path: /rr, upstream: rr }\n"
	"    - { name: down, path: /down, upstream: down }\n"
	"    - { name: flaky, path: /flaky, upstream: flaky }\n"
	"    - { name: checked, path: /checked, upstream: checked }\n"
	"    - { name: tls, path: /tls, upstream: tls }\n"
	"    - { name: tlsbad, path: /tlsbad, upstream: tlsbad }\n"
	"    - name: limited\n"
	"      path: /limited\n"
	"      upstream: one\n"
	"      rate_limits: [ { key: ip, rate: 2/s, burst: 2 },\n"
	"                     { key: header, header: X-Api-Key, rate: 1/m } ]\n"
	"    - { name: demo, path: /, builtin: demo, bot: block }\n"
	"    - { name: chal, path: /chal, builtin: demo, bot: challenge }\n"
	"    - { name: wafblock, path: /wafb, builtin: demo, waf: block }\n"
	"    - { name: wafdetect, path: /wafd, builtin: demo, waf: detect }\n"
	"    - { name: wafproxy, path: /wafp, upstream: rr, waf: detect }\n"
	"    - { name: vhost, hosts: [\"*.vhost.test\"], path: /, upstream: rr,\n"
	"        methods: [GET] }\n";

static char tlsdir[64];
static int tls_port;

static void tls_handler(struct net_exchange *x, void *arg)
{
	const struct http_request *r = net_request(x);
	char body[256];
	int n = bw_snprintf(body, sizeof(body), "tls-ok %.*s", (int)r->path.len, r->path.p);
	net_respond(x, 200, "text/plain", body, n > 0 ? (size_t)n : 0);
}

static char *slurp(const char *path, size_t *len)
{
	struct bw_err err;
	return bw_file_read(path, 1 << 20, len, &err);
}

/* A TLS upstream on the gateway's own loop, with the local CA's
 * localhost certificate. */
static int tls_upstream(struct net_thread *t)
{
	struct bw_err err;
	bw_snprintf(tlsdir, sizeof(tlsdir), "/tmp/bwgw-tls.XXXXXX");
	struct net_selfca_paths p;
	if (!mkdtemp(tlsdir) || net_selfca_ensure(tlsdir, &p, &err) < 0)
		return -1;
	size_t cl, kl;
	char *cert = slurp(p.cert_file, &cl), *key = slurp(p.key_file, &kl);
	if (!cert || !key)
		return -1;
	struct net_tls_cert c = { .name = "up", .cert_pem = { cert, cl },
				  .key_pem = { key, kl } };
	struct net_tls_config tc = { .certs = &c, .ncerts = 1, .alpn = "http/1.1" };
	struct net_http_options o = { .name = "tlsup", .header_timeout_ms = 5000,
				      .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				      .write_timeout_ms = 5000, .max_conns = 100,
				      .handler = tls_handler };
	http_limits_default(&o.limits);
	o.tls = net_tls_new(&tc, &err);
	bw_wipe(key, kl);
	free(cert);
	free(key);
	struct net_http_server *s = o.tls ? net_http_server_new(&o, &err) : NULL;
	int fd = s ? net_listen_tcp("127.0.0.1", (uint16_t)tls_port, false, 16, &err) : -1;
	if (fd < 0 || net_thread_listen(t, "tlsup", fd, s, &err) < 0)
		return -1;
	net_http_server_unref(s);
	return 0;
}

static int setup(void **state)
{
	struct bw_err err;
	/* reserve a port for the TLS upstream, which starts later on the loop */
	int tfd = net_listen_tcp("127.0.0.1", 0, false, 1, &err);
	tls_port = net_socket_port(tfd);
	close(tfd);
	for (int i = 0; i < 4; i++)
		upstream_start(&ups[i], (char)('A' + i));
	int tmp = net_listen_tcp("127.0.0.1", 0, false, 1, &err);
	refused_port = net_socket_port(tmp);
	close(tmp);

	bw_snprintf(rules_path, sizeof(rules_path), "/tmp/bwgw-rules.XXXXXX");
	int rfd = mkstemp(rules_path);
	const char rules[] =
		"SecRuleEngine On\n"
		"SecRule ARGS \"@contains attack\" "
		"\"id:1001,phase:1,deny,status:403,log,msg:'test attack'\"\n";
	if (rfd < 0 || write(rfd, rules, sizeof(rules) - 1) != (ssize_t)(sizeof(rules) - 1))
		return -1;
	close(rfd);

	char yaml[4096];
	int n = bw_snprintf(yaml, sizeof(yaml), yaml_fmt, rules_path, ups[0].port,
			    ups[0].port, ups[1].port, refused_port, ups[2].port,
			    ups[1].port, tls_port, "/tmp/bwgw-tls-dir", tls_port,
			    ups[3].port);
	if (n < 0)
		return -1;
	lp = loop_new(1024, &err);
	nt = net_thread_new(lp, &err);
	if (!lp || !nt || tls_upstream(nt) < 0)
		return -1;
	/* the CA path goes into the YAML now that the directory exists */
	char *dirmark = strstr(yaml, "/tmp/bwgw-tls-dir");
	if (!dirmark)
		return -1;
	char fixed[4096];
	n = bw_snprintf(fixed, sizeof(fixed), "%.*s%s%s", (int)(dirmark - yaml), yaml,
			tlsdir, dirmark + strlen("/tmp/bwgw-tls-dir"));
	if (n < 0)
		return -1;
	memcpy(yaml, fixed, (size_t)n + 1);
	conf_arena = bw_arena_new(16384, 16 << 20);
	struct conf_doc *doc = conf_load_string("gw.yaml", yaml, (size_t)n, conf_arena, &err);
	if (!doc) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	struct gateway_conf gc;
	if (gateway_conf_bind(conf_get(doc->root, "gateway"), conf_arena, &gc, &err) < 0 ||
	    !(gw = gateway_new(&gc, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	struct net_http_options o = { .name = "gw", .header_timeout_ms = 5000,
				      .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				      .write_timeout_ms = 5000, .max_conns = 1000,
				      .handler = gateway_handle, .handler_arg = gw,
				      .dispatch_at_head = true };
	http_limits_default(&o.limits);
	struct net_http_server *s = net_http_server_new(&o, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 64, &err);
	if (!s || !lp || !nt || fd < 0)
		return -1;
	gw_port = net_socket_port(fd);
	if (net_thread_listen(nt, "gw", fd, s, &err) < 0)
		return -1;
	net_http_server_unref(s);
	pthread_create(&loop_th, NULL, loop_main, NULL);
	return 0;
}

static int teardown(void **state)
{
	loop_stop(lp);
	pthread_join(loop_th, NULL);
	net_thread_free(nt);
	gateway_thread_fini(lp);
	loop_free(lp);
	gateway_free(gw);
	bw_arena_free(conf_arena);
	for (int i = 0; i < 4; i++)
		upstream_stop(&ups[i]);
	unlink(rules_path);
	char cmd[128];
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", tlsdir);
	if (system(cmd) != 0)
		return -1;
	bw_clock_set(0);
	return 0;
}

/* ------------------------------------------------------------ client */

struct resp {
	int status;
	char head[4096];
	char body[70000];
	size_t body_len;
};

static struct resp R;

/* One request on a fresh connection (Connection: close); the whole answer
 * is read until EOF. */
static int req(const char *method, const char *path, const char *headers,
	       const char *body)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	static char out[70000];
	size_t bl = body ? strlen(body) : 0;
	/* a browser-like head unless the test brings its own User-Agent */
	bool own_ua = headers && strstr(headers, "User-Agent:");
	int n = bw_snprintf(out, sizeof(out),
			    "%s %s HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n%s%s"
			    "Content-Length: %zu\r\n\r\n%s",
			    method, path,
			    own_ua ? "" :
				     "User-Agent: Mozilla/5.0 test\r\nAccept: */*\r\n"
				     "Accept-Language: en\r\nAccept-Encoding: identity\r\n",
			    headers ? headers : "", bl, body ? body : "");
	assert_true(n > 0);
	assert_true(send_all(fd, out, (size_t)n));
	static char in[80000];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(in) - 1 && (r = recv(fd, in + len, sizeof(in) - 1 - len, 0)) > 0)
		len += (size_t)r;
	close(fd);
	in[len] = '\0';
	memset(&R, 0, sizeof(R));
	char *end = strstr(in, "\r\n\r\n");
	assert_non_null(end);
	if (!end)
		return -1;
	size_t hl = (size_t)(end - in) + 2;
	assert_true(hl < sizeof(R.head));
	memcpy(R.head, in, hl);
	R.head[hl] = '\0';
	R.body_len = len - hl - 2;
	memcpy(R.body, end + 4, R.body_len);
	R.body[R.body_len] = '\0';
	R.status = (int)strtol(in + 9, NULL, 10);
	return R.status;
}

/* ------------------------------------------------------------ tests */

static void proxies_with_forwarding_headers(void **state)
{
	assert_int_equal(req("GET", "/one/x?y=1", "X-Forwarded-For: 6.6.6.6\r\n"
			     "Connection: close, X-Client-Hop\r\nX-Client-Hop: 1\r\n", NULL), 200);
	assert_non_null(strstr(R.body, "id=A"));
	assert_non_null(strstr(R.body, "GET /one/x?y=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(R.body, "Host: gw.test\r\n"));
	/* the untrusted client's XFF is replaced, not appended to */
	assert_non_null(strstr(R.body, "X-Forwarded-For: 127.0.0.1\r\n"));
	assert_null(strstr(R.body, "6.6.6.6"));
	assert_non_null(strstr(R.body, "X-Forwarded-Proto: http\r\n"));
	assert_non_null(strstr(R.body, "X-Request-Id: "));
	assert_null(strstr(R.body, "X-Client-Hop"));
	/* response: end-to-end headers pass, hop-by-hop ones do not */
	assert_non_null(strstr(R.head, "X-Upstream: A\r\n"));
	assert_non_null(strstr(R.head, "Set-Cookie: a=1\r\n"));
	assert_non_null(strstr(R.head, "Set-Cookie: b=2\r\n"));
	assert_non_null(strstr(R.head, "Content-Type: text/plain\r\n"));
	assert_null(strstr(R.head, "X-Hop"));
	assert_null(strstr(R.head, "Keep-Alive"));
	/* the id the client sees is the id the upstream got */
	char *id = strstr(R.head, "X-Request-Id: ");
	assert_non_null(id);
	char want[64];
	int n = bw_snprintf(want, sizeof(want), "X-Request-Id: %.*s", 20, id + 14);
	assert_true(n > 0);
	assert_non_null(strstr(R.body, want));
}

static void keepalive_connections_are_reused(void **state)
{
	int before = atomic_load(&ups[0].accepts);
	for (int i = 0; i < 5; i++)
		assert_int_equal(req("GET", "/one/k", NULL, NULL), 200);
	/* at most one new upstream connection for five requests */
	assert_true(atomic_load(&ups[0].accepts) - before <= 1);
	struct gateway_stats st;
	gateway_stats_get(&st);
	assert_true(st.pool_reused >= 4);
}

static void round_robin_alternates(void **state)
{
	int a = 0, b = 0;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(req("GET", "/rr", NULL, NULL), 200);
		a += strstr(R.body, "id=A") != NULL;
		b += strstr(R.body, "id=B") != NULL;
	}
	assert_int_equal(a, 3);
	assert_int_equal(b, 3);
}

static void upstream_failures_map_to_5xx(void **state)
{
	assert_int_equal(req("GET", "/down", NULL, NULL), 502);
	assert_non_null(strstr(R.body, "upstream_connect_failed"));
	/* a request never answered: 504 after read_timeout */
	atomic_store(&ups[0].mode, UP_SLOW);
	int64_t t0 = bw_clock_mono_ms();
	assert_int_equal(req("GET", "/one/slow", NULL, NULL), 504);
	int64_t dt = bw_clock_mono_ms() - t0;
	assert_non_null(strstr(R.body, "upstream_read_timeout"));
	assert_true(dt >= 250 && dt < 3000);
	atomic_store(&ups[0].mode, UP_OK);
	/* dot segments never reach routing */
	assert_int_equal(req("GET", "/one/../rr", NULL, NULL), 400);
	assert_non_null(strstr(R.body, "ambiguous_path"));
}

static void bodies_and_framing(void **state)
{
	/* route /one forwards the whole path */
	assert_int_equal(req("POST", "/one/post", "Content-Type: text/plain\r\n", "hello=1"), 200);
	assert_non_null(strstr(R.body, "Content-Length: 7\r\n"));
	assert_non_null(strstr(R.body, "\r\n\r\nhello=1"));
}

static void retries_get_but_not_post(void **state)
{
	/* flaky = [C closes without answering, B answers]; round-robin
	 * starts on C for this pool's first request */
	atomic_store(&ups[2].mode, UP_CLOSE);
	int closed_before = atomic_load(&ups[2].requests);
	assert_int_equal(req("GET", "/flaky", NULL, NULL), 200);
	assert_non_null(strstr(R.body, "id=B"));
	assert_int_equal(atomic_load(&ups[2].requests) - closed_before, 1);
	/* the cursor is back on C: a POST is not retried */
	assert_int_equal(req("POST", "/flaky", NULL, "x=1"), 502);
	assert_non_null(strstr(R.body, "upstream_closed"));
	assert_int_equal(atomic_load(&ups[2].requests) - closed_before, 2);
	struct gateway_stats st;
	gateway_stats_get(&st);
	assert_true(st.retries >= 1);
	assert_true(st.circuit_opened >= 1); /* two failures in a row on C */
	/* C's circuit is open: requests go to B without touching C */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(req("POST", "/flaky", NULL, "x=1"), 200);
		assert_non_null(strstr(R.body, "id=B"));
	}
	assert_int_equal(atomic_load(&ups[2].requests) - closed_before, 2);
	/* after open_for, one half-open probe reaches C; it works again */
	atomic_store(&ups[2].mode, UP_OK);
	usleep(450 * 1000);
	int c = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(req("GET", "/flaky", NULL, NULL), 200);
		c += strstr(R.body, "id=C") != NULL;
	}
	assert_true(c >= 1);
}

static void circuit_with_one_server_answers_503(void **state)
{
	/* one = [A]; make A fail three times (max_fails default 3) */
	atomic_store(&ups[0].mode, UP_CLOSE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(req("POST", "/one/p", NULL, "x"), 502);
	int before = atomic_load(&ups[0].requests);
	assert_int_equal(req("GET", "/one/p", NULL, NULL), 503);
	assert_non_null(strstr(R.body, "no_healthy_upstream"));
	assert_int_equal(atomic_load(&ups[0].requests), before);
	atomic_store(&ups[0].mode, UP_OK);
}

static void response_bounds_and_interim(void **state)
{
	/* without a WAF transaction a chunked body streams, re-chunked
	 * (the upstream's trailer is dropped) */
	assert_int_equal(req("GET", "/rr/chunked", NULL, NULL), 200);
	assert_string_equal(R.body, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
	assert_non_null(strstr(R.head, "Transfer-Encoding: chunked\r\n"));
	assert_null(strstr(R.head, "X-T"));
	/* the WAF needs the whole body: decoded, sent with a length */
	assert_int_equal(req("GET", "/wafp/chunked", NULL, NULL), 200);
	assert_string_equal(R.body, "hello world");
	assert_non_null(strstr(R.head, "Content-Length: 11\r\n"));
	assert_null(strstr(R.head, "Transfer-Encoding"));
	/* interim 1xx responses are skipped, the final one relayed */
	assert_int_equal(req("GET", "/rr/interim", NULL, NULL), 204);
	assert_non_null(strstr(R.head, "X-Upstream: "));
	assert_null(strstr(R.head, "Early"));
	/* streamed, a body past max_response (32k) goes through whole */
	assert_int_equal(req("GET", "/rr/big", NULL, NULL), 200);
	assert_int_equal(R.body_len, 65000);
	assert_non_null(strstr(R.head, "Content-Length: 65000\r\n"));
	/* HEAD keeps the upstream's length (and sends no body) */
	assert_int_equal(req("HEAD", "/rr/big", NULL, NULL), 200);
	assert_non_null(strstr(R.head, "Content-Length: 65000\r\n"));
	assert_int_equal(R.body_len, 0);
	/* buffered for the WAF, past max_response: 502 */
	assert_int_equal(req("GET", "/wafp/big", NULL, NULL), 502);
	assert_non_null(strstr(R.body, "upstream_response_too_large"));
	/* the pool still works afterwards */
	assert_int_equal(req("GET", "/rr", NULL, NULL), 200);
}

static void request_bodies_stream(void **state)
{
	/* a 40 KB body (under GW_STREAM_MIN_BODY: read whole, sent with
	 * the head) reaches the upstream with its length; bigger bodies
	 * stream (tests/integration/t_gateway_stream.py) */
	static char big[40001];
	memset(big, 'q', 40000);
	big[40000] = '\0';
	int before = atomic_load(&ups[0].requests);
	assert_int_equal(req("POST", "/one/upload", NULL, big), 200);
	assert_non_null(strstr(R.body, "Content-Length: 40000\r\n"));
	assert_non_null(strstr(R.body, "qqqq"));
	assert_int_equal(atomic_load(&ups[0].requests), before + 1);
	/* past http.max_body (1 MiB): refused at once from the length */
	char head[160];
	int n = bw_snprintf(head, sizeof(head), "X-Big: 1\r\n");
	assert_true(n > 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	const char huge[] = "POST /one/x HTTP/1.1\r\nHost: gw.test\r\n"
			    "Content-Length: 99999999\r\n\r\nabc";
	assert_true(send_all(fd, huge, sizeof(huge) - 1));
	char in[512];
	ssize_t got = recv(fd, in, sizeof(in) - 1, 0);
	close(fd);
	assert_true(got > 12);
	in[got > 0 ? got : 0] = '\0';
	assert_non_null(strstr(in, " 413 "));
	/* a demo (builtin) route still sees the whole body */
	assert_int_equal(req("POST", "/api/items", NULL, "{\"a\":1}"), 201);
}

static void rate_limits_answer_429(void **state)
{
	bw_clock_set(1700000000ll * 1000000000ll);
	assert_int_equal(req("GET", "/limited", "X-Api-Key: k1\r\n", NULL), 200);
	assert_int_equal(req("GET", "/limited", "X-Api-Key: k2\r\n", NULL), 200);
	assert_int_equal(req("GET", "/limited", "X-Api-Key: k3\r\n", NULL), 429);
	assert_non_null(strstr(R.head, "Retry-After: 1\r\n"));
	assert_non_null(strstr(R.body, "rate_limited"));
	/* the same API key again within a minute: its own limit */
	bw_clock_advance(1000000000ll);
	assert_int_equal(req("GET", "/limited", "X-Api-Key: k1\r\n", NULL), 429);
	assert_non_null(strstr(R.head, "Retry-After: 59\r\n"));
	assert_int_equal(req("GET", "/limited", "X-Api-Key: k4\r\n", NULL), 200);
	bw_clock_set(0);
}

static void bots_and_demo(void **state)
{
	assert_int_equal(req("GET", "/", NULL, NULL), 200);
	assert_non_null(strstr(R.body, "bulwark demo app"));
	assert_non_null(strstr(R.head, "Content-Security-Policy"));
	assert_int_equal(req("GET", "/api/echo?name=alice&x=%3Cb%3E", NULL, NULL), 200);
	assert_non_null(strstr(R.body, "\"name\":\"alice\""));
	assert_int_equal(req("GET", "/", "User-Agent: sqlmap/1.7\r\n", NULL), 403);
	assert_non_null(strstr(R.body, "bot_blocked"));
	/* suspicious but not a tool: block mode lets it through (logged) */
	assert_int_equal(req("GET", "/", "User-Agent: \r\n", NULL), 200);
	assert_int_equal(req("DELETE", "/api/items", NULL, NULL), 405);
	assert_non_null(strstr(R.head, "Allow: GET, HEAD, POST\r\n"));
	assert_int_equal(req("POST", "/api/items", NULL, "{}"), 201);
}

static void challenge_then_pass(void **state)
{
	/* no User-Agent at all: suspicious, so challenged */
	assert_int_equal(req("GET", "/chal", "User-Agent: \r\n", NULL), 403);
	char *tok = strstr(R.body, "__bw_chal=");
	assert_non_null(tok);
	if (!tok)
		return;
	tok += 10;
	char *end = strchr(tok, ';');
	assert_non_null(end);
	if (!end)
		return;
	char cookie[256];
	int n = bw_snprintf(cookie, sizeof(cookie), "User-Agent: \r\nCookie: __bw_chal=%.*s\r\n",
			    (int)(end - tok), tok);
	assert_true(n > 0);
	/* with the cookie it reaches the demo (which has no /chal page) */
	assert_int_equal(req("GET", "/chal", cookie, NULL), 404);
	assert_string_equal(R.body, "not found\n");
	/* a forged cookie is challenged again */
	assert_int_equal(req("GET", "/chal", "User-Agent: \r\nCookie: __bw_chal=c1.1.00\r\n",
			     NULL), 403);
	assert_non_null(strstr(R.body, "__bw_chal="));
	struct gateway_stats st;
	gateway_stats_get(&st);
	assert_true(st.bot_challenged >= 2);
	assert_true(st.bot_blocked >= 1);
}

static void waf_blocks_and_detects(void **state)
{
	assert_int_equal(req("GET", "/wafb?q=attack", NULL, NULL), 403);
	assert_non_null(strstr(R.body, "waf_blocked"));
	assert_int_equal(req("GET", "/wafb?q=fine", NULL, NULL), 404);
	assert_int_equal(req("GET", "/wafd?q=attack", NULL, NULL), 404); /* detect only */
	struct gateway_stats st;
	gateway_stats_get(&st);
	assert_true(st.waf_blocked >= 1);
	assert_true(st.waf_detected >= 1);
}

static void tls_upstreams_are_verified(void **state)
{
	assert_int_equal(req("GET", "/tls/a", NULL, NULL), 200);
	assert_string_equal(R.body, "tls-ok /tls/a");
	assert_int_equal(req("GET", "/tls/b", NULL, NULL), 200);
	/* the system trust store does not know the local CA */
	assert_int_equal(req("GET", "/tlsbad", NULL, NULL), 502);
	assert_non_null(strstr(R.body, "upstream_tls_failed"));
}

static void active_health_checks(void **state)
{
	/* the checker runs on the loop thread that first used the gateway */
	usleep(300 * 1000);
	assert_true(atomic_load(&ups[3].health_hits) >= 1);
	assert_int_equal(req("GET", "/checked", NULL, NULL), 200);
	atomic_store(&ups[3].mode, UP_500);
	usleep(400 * 1000);
	assert_int_equal(req("GET", "/checked", NULL, NULL), 503);
	assert_non_null(strstr(R.body, "no_healthy_upstream"));
	atomic_store(&ups[3].mode, UP_OK);
	usleep(400 * 1000);
	assert_int_equal(req("GET", "/checked", NULL, NULL), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(proxies_with_forwarding_headers),
		cmocka_unit_test(keepalive_connections_are_reused),
		cmocka_unit_test(round_robin_alternates),
		cmocka_unit_test(upstream_failures_map_to_5xx),
		cmocka_unit_test(bodies_and_framing),
		cmocka_unit_test(retries_get_but_not_post),
		cmocka_unit_test(response_bounds_and_interim),
		cmocka_unit_test(request_bodies_stream),
		cmocka_unit_test(bots_and_demo),
		cmocka_unit_test(challenge_then_pass),
		cmocka_unit_test(waf_blocks_and_detects),
		cmocka_unit_test(tls_upstreams_are_verified),
		cmocka_unit_test(active_health_checks),
		cmocka_unit_test(rate_limits_answer_429),
		cmocka_unit_test(circuit_with_one_server_answers_503),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
