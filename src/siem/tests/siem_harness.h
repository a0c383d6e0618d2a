/*
 * siem_harness.h — an in-process SIEM for tests: a temporary data
 * directory, a service built from a YAML `siem:` section, and one worker
 * loop thread with a syslog TCP, a RELP and a syslog UDP listener on
 * loopback ports; plus small blocking clients (TCP, UDP, RELP) and SQL
 * helpers. Used by the service tests and the kill -9 test; static
 * functions only, include it once per test program.
 */
#ifndef SIEM_HARNESS_H
#define SIEM_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "siem/siem_svc_int.h"

struct harness {
	char dir[64];
	struct bw_arena *conf_arena;
	struct siem_service *svc;
	struct loop *loop;
	pthread_t th;
	bool running;
	uint16_t tcp_port, relp_port, udp_port;
};

static __attribute__((unused)) void *h_loop_main(void *arg)
{
	struct harness *h = arg;
	(void)loop_run(h->loop);
	return NULL;
}

static __attribute__((unused)) const char *h_source_dir(void)
{
	const char *s = getenv("BW_SOURCE_DIR");
	return s ? s : ".";
}

/* When set, the data directory to use instead of a new temporary one. */
static __attribute__((unused)) const char *h_fixed_dir;

/* extra: YAML lines indented for inside `siem:` (may be ""). */
static __attribute__((unused)) int h_start_conf(struct harness *h, const char *extra, bool listen)
{
	memset(h, 0, sizeof(*h));
	if (h_fixed_dir) {
		bw_snprintf(h->dir, sizeof(h->dir), "%s", h_fixed_dir);
	} else {
		bw_snprintf(h->dir, sizeof(h->dir), "/tmp/bw-siem-test-XXXXXX");
		if (!mkdtemp(h->dir))
			return -1;
	}
	char yaml[8192];
	bw_snprintf(yaml, sizeof(yaml),
		    "siem:\n  rules: [%s/tests/siem/rules]\n%s%s", h_source_dir(),
		    extra && strstr(extra, "durability:") ? "" : "  durability: normal\n",
		    extra ? extra : "");
	struct bw_err err;
	h->conf_arena = bw_arena_new(8192, 4 << 20);
	struct conf_doc *doc = conf_load_string("test.yaml", yaml, strlen(yaml),
						 h->conf_arena, &err);
	if (!doc) {
		fprintf(stderr, "conf: %s\n", err.msg);
		return -1;
	}
	h->svc = siem_service_new(conf_get(doc->root, "siem"), h->dir, &err);
	if (!h->svc) {
		fprintf(stderr, "siem_service_new: %s\n", err.msg);
		return -1;
	}
	if (siem_service_start(h->svc, &err) < 0) {
		fprintf(stderr, "start: %s\n", err.msg);
		return -1;
	}
	if (!listen)
		return 0;
	h->loop = loop_new(4096, &err);
	if (!h->loop)
		return -1;
	int fd = net_listen_tcp("127.0.0.1", 0, false, 64, &err);
	h->tcp_port = (uint16_t)net_socket_port(fd);
	if (fd < 0 || siem_ingest_attach_stream(h->svc, h->loop, fd, NULL,
						SIEM_INGEST_SYSLOG, &err) < 0)
		return -1;
	fd = net_listen_tcp("127.0.0.1", 0, false, 64, &err);
	h->relp_port = (uint16_t)net_socket_port(fd);
	if (fd < 0 || siem_ingest_attach_stream(h->svc, h->loop, fd, NULL,
						SIEM_INGEST_RELP, &err) < 0)
		return -1;
	fd = net_udp_bind("127.0.0.1", 0, false, &err);
	h->udp_port = (uint16_t)net_socket_port(fd);
	if (fd < 0 || siem_ingest_attach_udp(h->svc, h->loop, fd, &err) < 0)
		return -1;
	if (pthread_create(&h->th, NULL, h_loop_main, h) != 0)
		return -1;
	h->running = true;
	return 0;
}

static _Atomic int h_detached;

static __attribute__((unused)) void h_detach_task(void *arg)
{
	struct harness *h = arg;
	siem_ingest_detach(h->svc, h->loop);
	atomic_store(&h_detached, 1);
}

static __attribute__((unused)) void h_stop_task(void *arg)
{
	loop_stop(arg);
}

/* The shutdown order the daemon follows: detach every loop (on its
 * thread), flush the service while the loops still run (so acks are
 * delivered), stop the loops, free the service. */
static __attribute__((unused)) void h_stop(struct harness *h, bool rm)
{
	if (h->running) {
		atomic_store(&h_detached, 0);
		if (loop_post(h->loop, h_detach_task, h) == 0)
			while (!atomic_load(&h_detached))
				usleep(1000);
		siem_service_flush(h->svc);
		if (loop_post(h->loop, h_stop_task, h->loop) < 0)
			loop_stop(h->loop);
		pthread_join(h->th, NULL);
		loop_free(h->loop);
	}
	siem_service_free(h->svc);
	bw_arena_free(h->conf_arena);
	if (rm) {
		char cmd[128];
		bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", h->dir);
	}
}

/* ------------------------------------------------------------- clients */

static __attribute__((unused)) int h_connect(uint16_t port, int type)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static __attribute__((unused)) int h_send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* RELP client state: what was read and not yet parsed. */
struct relp_client {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static __attribute__((unused)) int relp_send_frame(struct relp_client *c, uint32_t txnr, const char *cmd,
			   const char *data, size_t n)
{
	char hdr[64];
	int l = n ? snprintf(hdr, sizeof(hdr), "%u %s %zu ", txnr, cmd, n) :
		    snprintf(hdr, sizeof(hdr), "%u %s 0", txnr, cmd);
	if (h_send_all(c->fd, hdr, (size_t)l) < 0 || (n && h_send_all(c->fd, data, n) < 0) ||
	    h_send_all(c->fd, "\n", 1) < 0)
		return -1;
	return 0;
}

/* Reads one response frame (waits up to timeout_ms). 1 got one, 0
 * timeout, -1 closed/error. */
static __attribute__((unused)) int relp_read_rsp(struct relp_client *c, struct siem_relp_frame *f,
			 char *data, size_t cap, int timeout_ms)
{
	for (;;) {
		size_t used;
		struct bw_err err;
		int r = siem_relp_parse(c->buf, c->len, 0, f, &used, &err);
		if (r < 0)
			return -1;
		if (r == 1) {
			size_t n = f->data.len < cap - 1 ? f->data.len : cap - 1;
			memcpy(data, f->data.p, n);
			data[n] = '\0';
			f->data = bw_str_make(data, n);
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			return 1;
		}
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pf, 1, timeout_ms);
		if (pr <= 0)
			return 0;
		ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

static __attribute__((unused)) int relp_open(struct relp_client *c, uint16_t port)
{
	memset(c, 0, sizeof(*c));
	c->fd = h_connect(port, SOCK_STREAM);
	if (c->fd < 0)
		return -1;
	static const char offers[] = "relp_version=0\nrelp_software=test\ncommands=syslog";
	if (relp_send_frame(c, 1, "open", offers, sizeof(offers) - 1) < 0)
		return -1;
	struct siem_relp_frame f;
	char d[512];
	if (relp_read_rsp(c, &f, d, sizeof(d), 5000) != 1 || f.txnr != 1 ||
	    strncmp(d, "200 OK", 6) != 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ SQL */

static __attribute__((unused)) int h_int_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	*(int64_t *)arg = store_row_int64(row, 0);
	return STORE_ROW_NEXT;
}

static __attribute__((unused)) int64_t h_count(struct harness *h, const char *sql, const struct store_value *v,
		       size_t nv)
{
	int64_t n = -1;
	struct bw_err err;
	if (store_query_one(h->svc->st, sql, v, nv, h_int_row, &n, &err) < 0) {
		fprintf(stderr, "query: %s\n", err.msg);
		return -1;
	}
	return n;
}

/* Events stored in every partition. */
static __attribute__((unused)) int64_t h_events(struct harness *h)
{
	return h_count(h, "SELECT COALESCE(SUM(events), 0) FROM siem_partition", NULL, 0);
}

#endif
