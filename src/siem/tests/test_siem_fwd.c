/* Forwarding and notifications: the CEF/LEEF/syslog writers round-trip
 * through bulwark's own parsers (escaping included); then, end to end,
 * events and alerts forwarded to a Splunk HEC endpoint (which first
 * answers 503: the batch is retried from the disk spool), an
 * Elasticsearch bulk endpoint and a syslog TCP receiver in CEF, and
 * alerts notified by signed webhook (the HMAC checked), SMTP (a small
 * SMTP server in the test) and syslog over UDP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <openssl/hmac.h>

#include "siem_harness.h"

static struct bw_arena *A;

static int setup(void **state)
{
	struct bw_err err;
	if (net_fetch_global_init(&err) < 0)
		return -1;
	bw_clock_set(1718452860LL * 1000000000LL);
	A = bw_arena_new(65536, 64u << 20);
	return A ? 0 : -1;
}

static int teardown(void **state)
{
	bw_arena_free(A);
	return 0;
}

static void cef_leef_round_trip(void **state)
{
	struct siem_event ev, back;
	struct bw_err err;
	const char *line = "<38>1 2024-06-15T12:00:00Z bastion sshd 7 - - Failed password for"
			   " root from 203.0.113.7 port 50022 ssh2";
	assert_int_equal(siem_parse_syslog(line, strlen(line), NULL, A, &ev, &err), 0);
	/* hostile values: pipes, equals, backslashes, newlines */
	siem_event_setz(&ev, SIEM_F_MESSAGE, "a|b=c\\d\ne");
	struct bw_buf o;
	bw_buf_init(&o, 1 << 16);
	assert_int_equal(siem_format_cef(&ev, "ssh_login", "SSH | login = failed", 8, &o), 0);
	assert_int_equal(siem_parse_cef(o.data, o.len, NULL, A, &back, &err), 0);
	struct bw_str v = siem_event_get(&back, SIEM_F_SOURCE_IP);
	assert_true(bw_str_eq_lit(v, "203.0.113.7"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_USER_NAME), "root"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_EVENT_OUTCOME), "failure"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_MESSAGE), "a|b=c\\d\ne"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_EVENT_SEVERITY), "8"));
	assert_int_equal(back.ts_ns, ev.ts_ns);
	/* inside a syslog line, as forwarded */
	struct bw_buf s;
	bw_buf_init(&s, 1 << 16);
	assert_int_equal(siem_format_syslog(ev.ts_ns, "bastion", 14, o.data, o.len, &s), 0);
	assert_int_equal(siem_parse_syslog(s.data, s.len, NULL, A, &back, &err), 0);
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_SOURCE_IP), "203.0.113.7"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_HOST_NAME), "bastion"));
	/* LEEF */
	bw_buf_reset(&o);
	siem_event_setz(&ev, SIEM_F_MESSAGE, "tab\there|pipe");
	assert_int_equal(siem_format_leef(&ev, "ssh_login", 5, &o), 0);
	assert_int_equal(siem_parse_leef(o.data, o.len, NULL, A, &back, &err), 0);
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_USER_NAME), "root"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_SOURCE_IP), "203.0.113.7"));
	assert_true(bw_str_eq_lit(siem_event_get(&back, SIEM_F_MESSAGE), "tab here pipe"));
	/* a full buffer leaves it unchanged */
	struct bw_buf tiny;
	bw_buf_init(&tiny, 40);
	assert_int_equal(siem_format_cef(&ev, "x", "y", 1, &tiny), -1);
	assert_int_equal(tiny.len, 0);
	bw_buf_fini(&tiny);
	bw_buf_fini(&o);
	bw_buf_fini(&s);
}

/* ---------------------------------------------------- capture servers */

#define MAXREQ 256
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct captured {
	char path[64];
	char auth[160], sig[128], ts[32];
	char *body;
	size_t len;
} reqs[MAXREQ];
static size_t nreq;
static int hec_refusals = 1; /* answer the first HEC request 503 */

static void hdr_copy(const struct http_request *r, const char *name, char *out, size_t cap)
{
	const struct http_header *h = http_header_find(r->headers, r->nheaders, name);
	if (h)
		snprintf(out, cap, "%.*s", (int)h->value.len, h->value.p);
}

static void capture(struct net_exchange *x, void *arg)
{
	const struct http_request *r = net_request(x);
	struct bw_str b = net_request_body(x);
	pthread_mutex_lock(&mu);
	bool refuse = bw_str_eq_lit(r->path, "/hec") && hec_refusals > 0;
	if (refuse) {
		hec_refusals--;
	} else if (nreq < MAXREQ) {
		struct captured *c = &reqs[nreq++];
		snprintf(c->path, sizeof(c->path), "%.*s", (int)r->path.len, r->path.p);
		hdr_copy(r, "authorization", c->auth, sizeof(c->auth));
		hdr_copy(r, "x-bulwark-signature", c->sig, sizeof(c->sig));
		hdr_copy(r, "x-bulwark-timestamp", c->ts, sizeof(c->ts));
		c->body = malloc(b.len + 1);
		memcpy(c->body, b.p, b.len);
		c->body[b.len] = '\0';
		c->len = b.len;
	}
	pthread_mutex_unlock(&mu);
	if (refuse)
		net_respond(x, 503, "text/plain", "busy", 4);
	else if (bw_str_eq_lit(r->path, "/_bulk"))
		net_respond(x, 200, "application/json", "{\"errors\":false,\"items\":[]}", 27);
	else
		net_respond(x, 200, "application/json", "{\"text\":\"Success\",\"code\":0}", 28);
}

static struct loop *hl;
static struct net_thread *hnt;
static pthread_t hth;
static uint16_t http_port;

static void *hloop(void *arg)
{
	(void)loop_run(hl);
	return NULL;
}

static void http_start(void)
{
	struct bw_err err;
	hl = loop_new(1024, &err);
	hnt = net_thread_new(hl, &err);
	struct net_http_options o = { .name = "capture", .handler = capture, .max_conns = 64,
				      .header_timeout_ms = 10000, .body_timeout_ms = 10000,
				      .idle_timeout_ms = 10000, .write_timeout_ms = 10000 };
	http_limits_default(&o.limits);
	o.limits.max_body = 64u << 20;
	struct net_http_server *s = net_http_server_new(&o, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 64, &err);
	http_port = (uint16_t)net_socket_port(fd);
	assert_int_equal(net_thread_listen(hnt, "capture", fd, s, &err), 0);
	net_http_server_unref(s);
	assert_int_equal(pthread_create(&hth, NULL, hloop, NULL), 0);
}

static void hstop_task(void *arg)
{
	net_thread_free(hnt);
	loop_stop(hl);
}

static void http_stop(void)
{
	if (loop_post(hl, hstop_task, NULL) < 0)
		loop_stop(hl);
	pthread_join(hth, NULL);
	loop_free(hl);
	for (size_t i = 0; i < nreq; i++)
		free(reqs[i].body);
}

/* A syslog TCP receiver and a minimal SMTP server, each one connection. */
struct line_srv {
	int lfd;
	uint16_t port;
	pthread_t th;
	char buf[1 << 20];
	size_t len;
	bool smtp;
};

static void *line_srv_main(void *arg)
{
	struct line_srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (s->smtp && write(fd, "220 test ESMTP\r\n", 16) < 0)
		return NULL;
	bool in_data = false;
	size_t seen = 0;
	for (;;) {
		ssize_t n = read(fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		if (n <= 0)
			break;
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
		if (!s->smtp)
			continue;
		/* answer each complete command line */
		char *nl;
		while ((nl = memchr(s->buf + seen, '\n', s->len - seen)) != NULL) {
			char *line = s->buf + seen;
			seen = (size_t)(nl - s->buf) + 1;
			const char *rsp = NULL;
			if (in_data) {
				if (strncmp(line, ".\r\n", 3) == 0) {
					in_data = false;
					rsp = "250 queued\r\n";
				}
			} else if (strncasecmp(line, "EHLO", 4) == 0 ||
				   strncasecmp(line, "HELO", 4) == 0) {
				rsp = "250 test\r\n";
			} else if (strncasecmp(line, "DATA", 4) == 0) {
				in_data = true;
				rsp = "354 go\r\n";
			} else if (strncasecmp(line, "QUIT", 4) == 0) {
				if (write(fd, "221 bye\r\n", 9) < 0)
					break;
				close(fd);
				return NULL;
			} else {
				rsp = "250 ok\r\n";
			}
			if (rsp && write(fd, rsp, strlen(rsp)) < 0)
				break;
		}
	}
	close(fd);
	return NULL;
}

static void line_srv_start(struct line_srv *s, bool smtp)
{
	struct bw_err err;
	memset(s, 0, sizeof(*s));
	s->smtp = smtp;
	s->lfd = net_listen_tcp("127.0.0.1", 0, false, 8, &err);
	assert_true(s->lfd >= 0);
	/* blocking accept in its thread */
	int fl = fcntl(s->lfd, F_GETFL);
	fcntl(s->lfd, F_SETFL, fl & ~O_NONBLOCK);
	s->port = (uint16_t)net_socket_port(s->lfd);
	assert_int_equal(pthread_create(&s->th, NULL, line_srv_main, s), 0);
}

static size_t count_req(const char *path)
{
	size_t n = 0;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nreq; i++)
		n += strcmp(reqs[i].path, path) == 0;
	pthread_mutex_unlock(&mu);
	return n;
}

/* occurrences of needle in the bodies received on path: the service may
 * split events over several batches, so waiting for one request is not
 * waiting for every event */
static size_t count_in_bodies(const char *path, const char *needle)
{
	size_t n = 0;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nreq; i++) {
		if (strcmp(reqs[i].path, path) != 0)
			continue;
		for (char *p = reqs[i].body; (p = strstr(p, needle)) != NULL; p++)
			n++;
	}
	pthread_mutex_unlock(&mu);
	return n;
}

static void forwarding_and_notifications(void **state)
{
	static struct line_srv sys, smtp;
	http_start();
	line_srv_start(&sys, false);
	line_srv_start(&smtp, true);
	int udp = net_udp_bind("127.0.0.1", 0, false, NULL);
	int ufl = fcntl(udp, F_GETFL);
	fcntl(udp, F_SETFL, ufl & ~O_NONBLOCK);
	uint16_t uport = (uint16_t)net_socket_port(udp);
	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/bw-siem-fwd-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char tok[128], key[128];
	snprintf(tok, sizeof(tok), "%s/hec.token", dir);
	snprintf(key, sizeof(key), "%s/hook.key", dir);
	struct bw_err err;
	assert_int_equal(bw_file_write_atomic(tok, "hec-secret-token\n", 17, 0600, &err), 0);
	assert_int_equal(bw_file_write_atomic(key, "hook-key", 8, 0600, &err), 0);
	char yaml[4096];
	snprintf(yaml, sizeof(yaml),
		 "  forward:\n"
		 "    - {name: splunk, kind: splunk_hec, url: 'http://127.0.0.1:%u/hec',"
		 " token_file: %s, retry: 200ms, index: sec}\n"
		 "    - {name: elastic, kind: elasticsearch, url: 'http://127.0.0.1:%u/',"
		 " events: true, alerts: false, categories: [authentication]}\n"
		 "    - {name: qradar, kind: syslog, format: cef, address: 127.0.0.1,"
		 " port: %u, transport: tcp}\n"
		 "  alerts:\n"
		 "    min_level: informational\n"
		 "    notify:\n"
		 "      - {kind: webhook, url: 'http://127.0.0.1:%u/hook', secret_file: %s,"
		 " min_level: low}\n"
		 "      - {kind: smtp, url: 'smtp://127.0.0.1:%u', from: siem@example.com,"
		 " to: [soc@example.com], min_level: low}\n"
		 "      - {kind: syslog, address: 127.0.0.1, port: %u, min_level: low}\n",
		 http_port, tok, http_port, sys.port, http_port, key, smtp.port, uport);
	h_fixed_dir = dir;
	struct harness h;
	assert_int_equal(h_start_conf(&h, yaml, false), 0);
	h_fixed_dir = NULL;
	/* 5 authentication events, 1 configuration change (a low alert) */
	for (int i = 0; i < 5; i++) {
		struct bw_event ev;
		bw_event_init(&ev, "authentication", "login", BW_OUTCOME_FAILURE);
		BW_EVENT_SET(&ev, user, "carol");
		BW_EVENT_SET(&ev, source_ip, "192.0.2.9");
		BW_EVENT_SET(&ev, tenant, "acme");
		ev.time_ns = bw_clock_now_ns() + i;
		siem_bus_subscriber(&ev, h.svc);
	}
	struct bw_event ev;
	bw_event_init(&ev, "configuration", "config-reload", BW_OUTCOME_SUCCESS);
	BW_EVENT_SET(&ev, user, "admin");
	BW_EVENT_SET(&ev, tenant, "platform");
	siem_bus_subscriber(&ev, h.svc);
	siem_service_flush(h.svc);
	/* the service thread delivers within its tick; HEC retries after 503 */
	for (int i = 0; i < 200; i++) {
		struct siem_stats s;
		siem_service_stats(h.svc, &s);
		if (count_in_bodies("/hec", "\"sourcetype\":") >= 6 + 1 &&
		    count_in_bodies("/_bulk", "{\"index\":{") >= 5 && count_req("/hook") >= 1 &&
		    s.notify_sent >= 3 && strstr(sys.buf, "config-reload") &&
		    strstr(sys.buf, "suser=carol"))
			break;
		usleep(50000);
	}
	struct siem_stats s;
	siem_service_stats(h.svc, &s);
	assert_true(s.fwd_failed >= 1); /* the 503 */
	assert_int_equal(s.fwd_dropped, 0);
	pthread_mutex_lock(&mu);
	size_t hec_events = 0, bulk_docs = 0;
	bool hook_ok = false;
	for (size_t i = 0; i < nreq; i++) {
		struct captured *c = &reqs[i];
		if (strcmp(c->path, "/hec") == 0) {
			assert_string_equal(c->auth, "Splunk hec-secret-token");
			for (char *p = c->body; (p = strstr(p, "\"sourcetype\":")) != NULL; p++)
				hec_events++;
			assert_non_null(strstr(c->body, "\"index\":\"sec\""));
		} else if (strcmp(c->path, "/_bulk") == 0) {
			for (char *p = c->body; (p = strstr(p, "{\"index\":{")) != NULL; p++)
				bulk_docs++;
			assert_null(strstr(c->body, "config-reload")); /* category filter */
		} else if (strcmp(c->path, "/hook") == 0) {
			/* sha256=HMAC(key, "TS.BODY") */
			struct bw_buf m;
			bw_buf_init(&m, 1 << 20);
			assert_int_equal(bw_buf_printf(&m, "%s.", c->ts), 0);
			assert_int_equal(bw_buf_append(&m, c->body, c->len), 0);
			uint8_t mac[32];
			unsigned ml;
			HMAC(EVP_sha256(), "hook-key", 8, (const unsigned char *)m.data, m.len, mac, &ml);
			char hex[65], want[80];
			bw_hex_encode(mac, 32, hex);
			snprintf(want, sizeof(want), "sha256=%s", hex);
			assert_string_equal(c->sig, want);
			assert_non_null(strstr(c->body, "\"kind\":\"alert\""));
			hook_ok = true;
			bw_buf_fini(&m);
		}
	}
	pthread_mutex_unlock(&mu);
	/* every event and the alert reached HEC (after the retry), only the
	 * authentication events reached Elasticsearch */
	assert_int_equal(hec_events, 6 + 1);
	assert_int_equal(bulk_docs, 5);
	assert_true(hook_ok);
	assert_non_null(strstr(sys.buf, "CEF:0|bulwark|bulwark|"));
	assert_non_null(strstr(sys.buf, "suser=carol"));
	char dg[4096];
	ssize_t n = recv(udp, dg, sizeof(dg) - 1, 0);
	assert_true(n > 0);
	dg[n] = '\0';
	assert_non_null(strstr(dg, "CEF:0|bulwark|bulwark|"));
	/* the offset moves just after the destination answered: give the
	 * forwarder the moment between the two (ASan builds are slow) */
	for (int i = 0; i < 500 && siem_fwd_backlog(h.svc, 0) != 0; i++)
		usleep(10000);
	assert_int_equal(siem_fwd_backlog(h.svc, 0), 0);
	h_stop(&h, false);
	pthread_join(smtp.th, NULL);
	assert_non_null(strstr(smtp.buf, "RCPT TO:<soc@example.com>"));
	assert_non_null(strstr(smtp.buf, "Subject: [bulwark low]"));
	close(sys.lfd);
	close(smtp.lfd);
	pthread_join(sys.th, NULL);
	close(udp);
	http_stop();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cef_leef_round_trip),
		cmocka_unit_test(forwarding_and_notifications),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
