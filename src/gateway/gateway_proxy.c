/*
 * The proxy engine: per-thread state, upstream connections (plain TCP or
 * TLS, non-blocking on the worker's loop), keep-alive pools, attempts with
 * retries, timeouts, buffered or streamed bodies, WebSocket tunnels.
 *
 *   attempt_start ─▶ pool_get ──────────────▶ WRITING ─▶ READING ─▶ attempt_done
 *        ▲           └▶ CONNECTING ─▶ [HANDSHAKE] ─┘                 (pool_put)
 *        └──────────── attempt_fail (retry: idempotent, or nothing sent) ◀── any error
 *
 * Invariants:
 *  - a struct gw_thread belongs to one loop; everything reachable from it
 *    (tgens, requests, connections, timers) is touched only on that loop's
 *    thread, or after that loop stopped (gateway_thread_fini);
 *  - every upstream connection is owned by exactly one of: a request (its
 *    `c`), or one idle pool list; an idle connection has no timer and is
 *    closed on any readiness (the upstream closed it or sent junk);
 *  - a connection goes back to the pool only after a complete response
 *    with keep-alive and no extra bytes, so a reused connection is always
 *    at a message boundary;
 *  - every request (client exchange or health probe) in flight is on its
 *    tgen's list and ends exactly once: answered, or aborted by
 *    gateway_thread_fini; a server's in-flight count and its half-open
 *    probe flag are released on every way out of an attempt;
 *  - a buffered response (WAF routes; bounded by max_response) reaches net
 *    only once complete, so its attempts may be retried subject only to
 *    idempotency; once a streamed request body was taken from the client
 *    or a streamed response started, no retry happens and a failure
 *    aborts the client's exchange (see "Streaming" below).
 */
#include "gateway/gateway_int.h"
#include "event/event.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SWEEP_MS 1000
#define READ_CHUNK 16384

enum uc_state { UC_CONNECTING, UC_HANDSHAKE, UC_WRITING, UC_READING, UC_IDLE,
	       UC_TUNNEL };

enum fail_kind {
	F_CONNECT, /* nothing reached the upstream: any method may retry */
	F_OTHER,   /* the request may have been seen: idempotent only */
};

struct gw_tgen;
struct gw_thread;

struct gw_uconn {
	struct loop_io io;
	struct loop_timer timer;
	struct gw_tgen *tg;
	struct gw_upstream *u;
	struct gw_server *s;
	SSL *ssl;
	struct gw_req *req;             /* owner while in use */
	struct gw_uconn *prev, *next;   /* idle list */
	int64_t idle_since_ms;
	uint8_t state;
	bool ssl_want_write; /* OpenSSL waits for writability */
	bool ssl_want_read;  /* ... or, while we write, for readability */
	bool unwatched;      /* removed from epoll while it waits for the
				client (a hang-up must not spin the loop) */
};

struct gw_idle {
	struct gw_uconn *head, *tail;
	size_t n;
};

struct gw_hc; /* active health check of one upstream */

/* Per thread and generation. */
struct gw_tgen {
	struct gateway *gw; /* holds a reference */
	struct gw_thread *t;
	struct gw_tgen *next;
	struct gw_idle **pools; /* [upstream][server] */
	struct gw_req *reqs;    /* in flight, incl. probes */
	struct gw_hc *hc;       /* [upstream], when this thread runs checks */
	size_t nclient;         /* client exchanges among reqs */
	bool health_owner;
};

struct gw_thread {
	struct loop *loop;
	struct gw_thread *next;
	struct gw_tgen *gens;
	struct loop_timer sweep;
	bool closing; /* gateway_thread_fini is running */
};

struct gw_hc {
	struct loop_timer timer;
	struct gw_tgen *tg;
	struct gw_upstream *u;
	bool *busy; /* [server]: probe in flight */
};

struct gw_req {
	struct net_exchange *x; /* NULL for a health probe */
	struct gw_hc *hc;       /* probes */
	struct gateway *gw;
	const struct gw_route *r;
	struct gw_upstream *u;
	struct gw_tgen *tg;
	struct gw_req *prev, *next;
	struct gw_client client;
	void *waf_tx;
	const struct http_request *creq;
	enum http_method method;
	struct bw_str body;
	struct bw_buf head;
	size_t sent, total;
	bool body_in_head;
	/* the current attempt */
	struct gw_server *s;
	struct gw_uconn *c;
	bool probe;       /* half-open circuit probe */
	bool counted;     /* s->inflight holds this attempt */
	uint64_t tried;
	unsigned attempts;
	uint64_t connect_ms, read_ms, write_ms;
	/* the response */
	struct bw_buf in, rbody;
	struct http_limits lim;
	struct http_resp_parser parser;
	struct http_response resp;
	struct http_header *hdrs;
	struct http_body bd;
	struct http_header trailers[16]; /* read and dropped (see GATEWAY.md) */
	bool head_done;
	int last_status;
	const char *last_reason;
	/* Streaming (see "Streaming" below). */
	struct bw_buf sbuf;     /* bytes for the upstream: body or tunnel */
	size_t sbuf_pos;
	const char *body_fail;  /* the client's streamed body failed: why */
	bool stream_req;        /* the request body streams upstream */
	bool body_chunked;      /* ... re-chunked: its length is unknown */
	bool body_requested;    /* net delivers it to us: no retry now */
	bool body_end;          /* the client's body ended */
	bool client_paused;     /* we paused the client's body or tunnel */
	bool in_pump;           /* inside a net_* call that may call back */
	bool stream_resp;       /* the response streams to the client */
	bool resp_started;      /* net_respond_start was called */
	bool up_paused;         /* upstream not read: the client is slow */
	bool websocket;         /* the client asked for a WebSocket */
	bool tunnel;            /* after the 101 */
	bool client_eof;        /* tunnel: the client closed its side */
	const struct gw_hdr *extra; /* signed identity headers (arena) */
	size_t nextra;
};

/* ------------------------------------------------------------ registry */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gw_thread *reg_head;
static _Thread_local struct gw_thread *tl_thread;

static void sweep_cb(struct loop *l, struct loop_timer *tm);

static struct gw_thread *thread_get(struct loop *l)
{
	if (tl_thread && tl_thread->loop == l)
		return tl_thread;
	pthread_mutex_lock(&reg_mu);
	struct gw_thread *t = reg_head;
	while (t && t->loop != l)
		t = t->next;
	if (!t && (t = calloc(1, sizeof(*t))) != NULL) {
		t->loop = l;
		loop_timer_init(&t->sweep, sweep_cb, t);
		t->next = reg_head;
		reg_head = t;
	}
	pthread_mutex_unlock(&reg_mu);
	tl_thread = t;
	return t;
}

static void hc_start(struct gw_tgen *tg);

static struct gw_tgen *tgen_get(struct gw_thread *t, struct gateway *gw)
{
	for (struct gw_tgen *g = t->gens; g; g = g->next)
		if (g->gw == gw)
			return g;
	struct gw_tgen *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->pools = calloc(gw->nupstreams ? gw->nupstreams : 1, sizeof(*g->pools));
	if (!g->pools) {
		free(g);
		return NULL;
	}
	for (size_t i = 0; i < gw->nupstreams; i++) {
		g->pools[i] = calloc(gw->upstreams[i].nservers, sizeof(struct gw_idle));
		if (!g->pools[i]) {
			while (i-- > 0)
				free(g->pools[i]);
			free(g->pools);
			free(g);
			return NULL;
		}
	}
	gateway_ref(gw);
	g->gw = gw;
	g->t = t;
	g->next = t->gens;
	t->gens = g;
	if (!loop_timer_armed(&t->sweep) &&
	    loop_timer_arm(t->loop, &t->sweep, SWEEP_MS) < 0)
		log_warnx("gateway: timer table full; idle pools are not swept");
	hc_start(g);
	return g;
}

/* ------------------------------------------------------------ events */

void gw_event(struct net_exchange *x, const struct gw_client *client,
	      const char *action, enum bw_outcome outcome, int severity,
	      const char *message, ...)
{
	struct bw_event ev;
	bw_event_init(&ev, "web", action, outcome);
	ev.severity = (uint8_t)severity;
	if (client)
		BW_EVENT_SET(&ev, source_ip, client->ip_text);
	if (x) {
		BW_EVENT_SET(&ev, request_id, net_request_id(x));
		const struct http_request *r = net_request(x);
		char path[160];
		size_t n = r->path.len < sizeof(path) - 1 ? r->path.len : sizeof(path) - 1;
		memcpy(path, r->path.p, n);
		path[n] = '\0';
		bw_event_add_field(&ev, "url.path", path);
	}
	if (message)
		BW_EVENT_SET(&ev, message, message);
	va_list ap;
	va_start(ap, message);
	const char *k;
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		bw_event_add_field(&ev, k, v ? v : "");
	}
	va_end(ap);
	(void)bw_event_emit(&ev); /* a full ring is counted by the bus */
}

void gw_respond_error(struct net_exchange *x, int status, const char *reason)
{
	char body[160];
	int n = bw_snprintf(body, sizeof(body), "%d %s (%s)\n", status,
			    http_reason_phrase(status), reason);
	if (n < 0)
		n = 0;
	if (status == 502)
		GW_COUNT(s502);
	else if (status == 503)
		GW_COUNT(s503);
	else if (status == 504)
		GW_COUNT(s504);
	net_set_outcome_reason(x, reason);
	net_add_header(x, "Cache-Control", "no-store");
	net_add_header(x, "X-Content-Type-Options", "nosniff");
	net_respond(x, status, "text/plain; charset=utf-8", body, (size_t)n);
}

/* ------------------------------------------------------------ sockets */

static void uc_on_io(struct loop *l, struct loop_io *io, uint32_t revents);
static void uc_on_timer(struct loop *l, struct loop_timer *tm);
static void attempt_fail(struct gw_req *rq, enum fail_kind k, int status,
			 const char *reason);
static void attempt_start(struct gw_req *rq);
static void uc_write(struct gw_uconn *c);
static void uc_read(struct gw_uconn *c);

/* Sets the epoll interest; an empty set takes the fd out of epoll, so a
 * hang-up seen while we wait for the client cannot spin the loop. */
static void uc_watch(struct gw_uconn *c, uint32_t ev)
{
	struct loop *l = c->tg->t->loop;
	if (ev == 0) {
		if (!c->unwatched)
			loop_io_del(l, &c->io);
		c->unwatched = true;
		return;
	}
	if (c->unwatched) {
		c->unwatched = false;
		if (loop_io_add(l, &c->io, ev) < 0)
			log_warn("gateway: epoll_ctl");
		return;
	}
	if (loop_io_mod(l, &c->io, ev) < 0)
		log_warn("gateway: epoll_ctl");
}

static void uc_interest(struct gw_uconn *c)
{
	uint32_t ev = 0;
	struct gw_req *rq = c->req;
	switch (c->state) {
	case UC_CONNECTING:
		ev = EPOLLOUT;
		break;
	case UC_HANDSHAKE:
	case UC_READING:
		ev = c->ssl_want_write ? EPOLLOUT : EPOLLIN;
		break;
	case UC_WRITING:
		ev = c->ssl_want_read ? EPOLLIN : EPOLLOUT;
		break;
	case UC_IDLE:
		ev = EPOLLIN; /* any byte or EOF on an idle connection closes it */
		break;
	case UC_TUNNEL:
		if (!rq->up_paused)
			ev |= EPOLLIN;
		if (rq->sbuf_pos < rq->sbuf.len || c->ssl_want_write)
			ev |= EPOLLOUT;
		break;
	}
	if (rq && rq->up_paused && c->state == UC_READING)
		ev = 0;
	if (rq && c->state == UC_WRITING && rq->stream_req && rq->sent == rq->total &&
	    rq->sbuf_pos == rq->sbuf.len && !c->ssl_want_read)
		ev = 0; /* waiting for the client's next body bytes */
	uc_watch(c, ev);
}

static void uc_arm(struct gw_uconn *c, uint64_t ms)
{
	if (loop_timer_arm(c->tg->t->loop, &c->timer, (int64_t)ms) < 0)
		log_warnx("gateway: timer table full");
}

static void uc_close(struct gw_uconn *c)
{
	struct loop *l = c->tg->t->loop;
	loop_timer_cancel(l, &c->timer);
	if (!c->unwatched)
		loop_io_del(l, &c->io);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->io.fd);
	free(c);
}

static void idle_unlink(struct gw_idle *p, struct gw_uconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		p->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		p->tail = c->prev;
	c->prev = c->next = NULL;
	p->n--;
}

static struct gw_idle *pool_of(struct gw_uconn *c)
{
	return &c->tg->pools[c->u->index][c->s->index];
}

/* Whether an idle connection still looks usable: no EOF and no
 * unsolicited bytes (TLS may legitimately have a session ticket or a
 * key update pending, which SSL_read consumes without data). */
static bool uc_alive(struct gw_uconn *c)
{
	char b;
	ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return false;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK;
	if (!c->ssl)
		return false;
	char sink[64];
	ERR_clear_error();
	int r = SSL_read(c->ssl, sink, sizeof(sink));
	if (r > 0)
		return false;
	int e = SSL_get_error(c->ssl, r);
	ERR_clear_error();
	return e == SSL_ERROR_WANT_READ;
}

static struct gw_uconn *pool_get(struct gw_tgen *tg, struct gw_upstream *u,
				 struct gw_server *s)
{
	struct gw_idle *p = &tg->pools[u->index][s->index];
	int64_t now = loop_now_ms(tg->t->loop);
	while (p->head) {
		struct gw_uconn *c = p->head; /* most recent: warmest */
		idle_unlink(p, c);
		/* An upstream closing an idle connection wakes our watch on it
		 * and we close it; only a connection idle long enough to meet
		 * the upstream's keep-alive timeout is worth a syscall to
		 * check for a close we have not seen yet. */
		if (now - c->idle_since_ms < GW_POOL_PEEK_AFTER_MS || uc_alive(c))
			return c;
		uc_close(c);
	}
	return NULL;
}

static void pool_put(struct gw_uconn *c)
{
	struct gw_idle *p = pool_of(c);
	c->req = NULL;
	if (p->n >= c->u->pool_idle || gw_retired(c->tg->gw) || c->tg->t->closing) {
		uc_close(c);
		return;
	}
	loop_timer_cancel(c->tg->t->loop, &c->timer);
	c->state = UC_IDLE;
	c->ssl_want_write = false;
	c->idle_since_ms = loop_now_ms(c->tg->t->loop);
	c->prev = NULL;
	c->next = p->head;
	if (p->head)
		p->head->prev = c;
	else
		p->tail = c;
	p->head = c;
	p->n++;
	uc_interest(c);
}

static void pool_close_all(struct gw_tgen *tg, int64_t older_than_ms)
{
	struct gateway *gw = tg->gw;
	for (size_t i = 0; i < gw->nupstreams; i++) {
		for (size_t j = 0; j < gw->upstreams[i].nservers; j++) {
			struct gw_idle *p = &tg->pools[i][j];
			/* the tail is the oldest */
			while (p->tail && (older_than_ms < 0 ||
					   p->tail->idle_since_ms <= older_than_ms)) {
				struct gw_uconn *c = p->tail;
				idle_unlink(p, c);
				uc_close(c);
			}
		}
	}
}

static int ssl_setup(struct gw_uconn *c)
{
	struct gw_upstream *u = c->u;
	c->ssl = SSL_new((SSL_CTX *)u->ssl_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->io.fd) != 1)
		return -1;
	const char *name = u->server_name ? u->server_name : c->s->host;
	struct gw_ip ip;
	bool literal = gw_ip_parse(name, strlen(name), &ip) == 0;
	if (!literal && SSL_set_tlsext_host_name(c->ssl, name) != 1)
		return -1;
	if (u->verify) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		if (literal ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1 :
			      SSL_set1_host(c->ssl, name) != 1)
			return -1;
	}
	SSL_set_connect_state(c->ssl);
	return 0;
}

/* Opens a connection to s for rq. NULL when the socket could not even be
 * started (the caller fails the attempt as a connect failure). */
static struct gw_uconn *uc_connect(struct gw_req *rq, struct gw_server *s)
{
	struct gw_uconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->tg = rq->tg;
	c->u = rq->u;
	c->s = s;
	c->io.fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->io.fd < 0) {
		free(c);
		return NULL;
	}
	int one = 1;
	(void)setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->io.cb = uc_on_io;
	c->io.data = c;
	loop_timer_init(&c->timer, uc_on_timer, c);
	c->state = UC_CONNECTING;
	int rc = connect(c->io.fd, (const struct sockaddr *)&s->addr, s->addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		close(c->io.fd);
		free(c);
		return NULL;
	}
	if (loop_io_add(c->tg->t->loop, &c->io, EPOLLOUT) < 0) {
		close(c->io.fd);
		free(c);
		return NULL;
	}
	GW_COUNT(pool_new);
	uc_arm(c, rq->connect_ms);
	return c;
}

/* ------------------------------------------------------------ I/O */

static ssize_t uc_send(struct gw_uconn *c, const char *p, size_t n)
{
	if (!c->ssl)
		return send(c->io.fd, p, n, MSG_NOSIGNAL);
	ERR_clear_error();
	int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	c->ssl_want_read = false;
	if (w > 0)
		return w;
	int e = SSL_get_error(c->ssl, w);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		c->ssl_want_read = e == SSL_ERROR_WANT_READ;
		errno = EAGAIN;
		return -1;
	}
	errno = EPIPE;
	return -1;
}

static ssize_t uc_recv(struct gw_uconn *c, char *p, size_t n)
{
	if (!c->ssl)
		return recv(c->io.fd, p, n, 0);
	ERR_clear_error();
	int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (r > 0) {
		c->ssl_want_write = false;
		return r;
	}
	int e = SSL_get_error(c->ssl, r);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = ECONNRESET;
	return -1;
}

static void uc_begin_write(struct gw_uconn *c)
{
	c->state = UC_WRITING;
	c->ssl_want_write = false;
	c->ssl_want_read = false;
	uc_arm(c, c->req->write_ms);
	uc_write(c);
}

static void uc_handshake(struct gw_uconn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		uc_begin_write(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
		uc_interest(c);
		return;
	}
	long vr = SSL_get_verify_result(c->ssl);
	unsigned long code = ERR_peek_last_error();
	char msg[128] = "handshake failed";
	if (vr != X509_V_OK)
		bw_snprintf(msg, sizeof(msg), "certificate: %s",
			    X509_verify_cert_error_string(vr));
	else if (code)
		ERR_error_string_n(code, msg, sizeof(msg));
	ERR_clear_error();
	log_kv(BW_LOG_WARN, "gateway: upstream TLS failed", "upstream", c->u->name,
	       "server", c->s->hostport, "error", msg, NULL);
	/* nothing of the request was sent: a connect-class failure */
	attempt_fail(c->req, F_CONNECT, 502, "upstream_tls_failed");
}

static void uc_connected(struct gw_uconn *c)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		attempt_fail(c->req, F_CONNECT, 502, "upstream_connect_failed");
		return;
	}
	if (c->u->ssl_ctx) {
		if (ssl_setup(c) < 0) {
			ERR_clear_error();
			attempt_fail(c->req, F_CONNECT, 502, "upstream_tls_failed");
			return;
		}
		c->state = UC_HANDSHAKE;
		uc_handshake(c);
		return;
	}
	uc_begin_write(c);
}

static bool body_pump(struct gw_uconn *c);

static void uc_write(struct gw_uconn *c)
{
	struct gw_req *rq = c->req;
	while (rq->sent < rq->total) {
		const char *p;
		size_t n;
		if (rq->sent < rq->head.len) {
			p = rq->head.data + rq->sent;
			n = rq->head.len - rq->sent;
		} else {
			size_t off = rq->sent - rq->head.len;
			p = rq->body.p + off;
			n = rq->body.len - off;
		}
		ssize_t w = uc_send(c, p, n);
		if (w > 0) {
			rq->sent += (size_t)w;
			uc_arm(c, rq->write_ms);
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			uc_interest(c);
			return;
		}
		attempt_fail(rq, F_OTHER, 502, "upstream_write_failed");
		return;
	}
	if (rq->stream_req && !body_pump(c))
		return;
	c->state = UC_READING;
	c->ssl_want_write = false;
	uc_arm(c, rq->read_ms);
	uc_interest(c);
}

static void tunnel_on_io(struct gw_uconn *c, uint32_t revents);

static void uc_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct gw_uconn *c = io->data;
	switch (c->state) {
	case UC_IDLE:
		/* closed by the upstream, or bytes nobody asked for */
		idle_unlink(pool_of(c), c);
		uc_close(c);
		return;
	case UC_CONNECTING:
		uc_connected(c);
		return;
	case UC_HANDSHAKE:
		uc_handshake(c);
		return;
	case UC_WRITING:
		uc_write(c);
		return;
	case UC_READING:
		uc_read(c);
		return;
	case UC_TUNNEL:
		tunnel_on_io(c, revents);
		return;
	}
}

static void uc_on_timer(struct loop *l, struct loop_timer *tm)
{
	struct gw_uconn *c = tm->data;
	switch (c->state) {
	case UC_CONNECTING:
	case UC_HANDSHAKE:
		attempt_fail(c->req, F_CONNECT, 504, "upstream_connect_timeout");
		return;
	case UC_WRITING:
		attempt_fail(c->req, F_OTHER, 504, "upstream_write_timeout");
		return;
	case UC_READING:
		attempt_fail(c->req, F_OTHER, 504, "upstream_read_timeout");
		return;
	case UC_IDLE:
	case UC_TUNNEL: /* net's idle timer watches tunnels */
		return;
	}
}

/* ------------------------------------------------------------ responses */

static void req_unlink(struct gw_req *rq)
{
	struct gw_tgen *tg = rq->tg;
	if (rq->x)
		tg->nclient--;
	if (rq->prev)
		rq->prev->next = rq->next;
	else if (tg->reqs == rq)
		tg->reqs = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	rq->prev = rq->next = NULL;
}

static void req_release_attempt(struct gw_req *rq)
{
	if (rq->counted) {
		atomic_fetch_sub_explicit(&rq->s->inflight, 1, memory_order_relaxed);
		rq->counted = false;
	}
}

static void req_buffers_fini(struct gw_req *rq)
{
	bw_buf_fini(&rq->head);
	bw_buf_fini(&rq->in);
	bw_buf_fini(&rq->rbody);
	bw_buf_wipe_fini(&rq->sbuf); /* request bodies may carry secrets */
}

static void probe_done(struct gw_req *rq, bool ok);

/* Ends a client exchange with an error of the gateway's own. */
static void finish_error(struct gw_req *rq, int status, const char *reason)
{
	struct net_exchange *x = rq->x;
	char server[GW_MAX_HOST_LEN + 8];
	bw_snprintf(server, sizeof(server), "%s", rq->s ? rq->s->hostport : "");
	req_unlink(rq);
	req_buffers_fini(rq);
	GW_COUNT(upstream_errors);
	char st[8];
	bw_snprintf(st, sizeof(st), "%d", status);
	gw_event(x, &rq->client, "gateway-upstream-failure", BW_OUTCOME_FAILURE, 5,
		 "upstream request failed", "reason", reason, "upstream",
		 rq->u ? rq->u->name : "", "server", server,
		 "http.response.status_code", st, "route", rq->r->name, NULL);
	gw_waf_end(rq->waf_tx, x, &rq->client);
	if (rq->resp_started) {
		/* bytes already reached the client: cut it, never pretend */
		net_abort(x);
		return;
	}
	gw_respond_error(x, status, reason);
}

static bool idempotent(enum http_method m)
{
	return m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD ||
	       m == HTTP_METHOD_OPTIONS || m == HTTP_METHOD_TRACE ||
	       m == HTTP_METHOD_PUT || m == HTTP_METHOD_DELETE;
}

static void attempt_fail(struct gw_req *rq, enum fail_kind k, int status,
			 const char *reason)
{
	struct gw_uconn *c = rq->c;
	rq->c = NULL;
	if (c)
		uc_close(c);
	if (rq->x == NULL) {
		probe_done(rq, false);
		return;
	}
	req_release_attempt(rq);
	int64_t now = bw_clock_mono_ms();
	if (gw_server_failure(rq->u, rq->s, rq->probe, now)) {
		GW_COUNT(circuit_opened);
		char ms[24];
		bw_snprintf(ms, sizeof(ms), "%llu", (unsigned long long)rq->u->open_for_ms);
		log_kv(BW_LOG_WARN, "gateway: circuit opened", "upstream", rq->u->name,
		       "server", rq->s->hostport, "reason", reason, NULL);
		gw_event(NULL, NULL, "gateway-circuit-open", BW_OUTCOME_FAILURE, 6,
			 "upstream server taken out of rotation", "upstream",
			 rq->u->name, "server", rq->s->hostport, "reason", reason,
			 "open_for_ms", ms, NULL);
	}
	rq->probe = false;
	rq->last_status = status;
	rq->last_reason = reason;
	/* a body streamed from the client cannot be sent twice, nor a
	 * response that started */
	if (rq->attempts <= rq->u->retries && !rq->body_requested &&
	    !rq->resp_started && (k == F_CONNECT || idempotent(rq->method))) {
		GW_COUNT(retries);
		attempt_start(rq);
		return;
	}
	finish_error(rq, status, reason);
}

/* Copies the response head into the exchange arena so the read buffer
 * can be consumed, and repoints every header at the copy. */
static int relocate_resp(struct gw_req *rq)
{
	size_t len = rq->resp.head_len;
	char *copy = bw_arena_alloc(net_arena(rq->x), len + 1);
	if (!copy)
		return -1;
	const char *base = rq->in.data;
	memcpy(copy, base, len);
	copy[len] = '\0';
	for (size_t i = 0; i < rq->resp.nheaders; i++) {
		struct http_header *h = &rq->resp.headers[i];
		h->name.p = copy + (h->name.p - base);
		h->value.p = copy + (h->value.p - base);
	}
	rq->resp.reason = bw_str_make("", 0);
	return 0;
}

/* Copies the upstream's end-to-end response headers to the client's
 * response; returns its Content-Type (arena copy) or NULL. */
static const char *copy_resp_headers(struct gw_req *rq)
{
	struct net_exchange *x = rq->x;
	struct bw_arena *a = net_arena(x);
	struct gw_hop hop;
	gw_hop_collect(rq->resp.headers, rq->resp.nheaders, &hop);
	const char *ctype = NULL;
	for (size_t i = 0; i < rq->resp.nheaders; i++) {
		const struct http_header *h = &rq->resp.headers[i];
		if (bw_str_caseeq_lit(h->name, "content-type") && !ctype) {
			ctype = bw_arena_strndup(a, h->value.p, h->value.len);
			continue;
		}
		if (gw_resp_header_skip(&hop, h->name))
			continue;
		char *n = bw_arena_strndup(a, h->name.p, h->name.len);
		char *v = bw_arena_strndup(a, h->value.p, h->value.len);
		if (n && v)
			net_add_header(x, n, v);
	}
	return ctype;
}

static void respond_upstream(struct gw_req *rq)
{
	struct net_exchange *x = rq->x;
	int status = rq->resp.status;
	int waf = gw_waf_response(rq->waf_tx, rq->r, status, rq->resp.headers,
				  rq->resp.nheaders,
				  bw_str_make(rq->rbody.data ? rq->rbody.data : "",
					      rq->rbody.len),
				  x, &rq->client);
	req_unlink(rq);
	if (waf) {
		req_buffers_fini(rq);
		gw_waf_end(rq->waf_tx, x, &rq->client);
		gw_respond_error(x, waf, "waf_blocked_response");
		return;
	}
	const char *ctype = copy_resp_headers(rq);
	struct bw_buf body = rq->rbody;
	rq->rbody = (struct bw_buf){ 0 };
	req_buffers_fini(rq);
	gw_waf_end(rq->waf_tx, x, &rq->client);
	GW_COUNT(proxied);
	net_respond(x, status, ctype, body.data ? body.data : "", body.len);
	bw_buf_fini(&body);
}

static void attempt_done(struct gw_req *rq, bool reusable)
{
	struct gw_uconn *c = rq->c;
	rq->c = NULL;
	if (c) {
		if (reusable)
			pool_put(c);
		else
			uc_close(c);
	}
	if (rq->x == NULL) {
		probe_done(rq, rq->resp.status >= 200 && rq->resp.status < 400);
		return;
	}
	req_release_attempt(rq);
	gw_server_success(rq->s, rq->probe);
	rq->probe = false;
	if (rq->stream_resp) {
		struct net_exchange *x = rq->x;
		req_unlink(rq);
		req_buffers_fini(rq);
		GW_COUNT(proxied);
		net_respond_end(x); /* frees rq (exchange arena) */
		return;
	}
	respond_upstream(rq);
}

static int tunnel_begin(struct gw_req *rq);
static void resp_start(struct gw_req *rq);
static int resp_pump(struct gw_req *rq);

/* Parses what is buffered. Returns 1 when the response is complete
 * (attempt finished), 0 to wait for more, -1 when the attempt failed. */
static int parse_response(struct gw_req *rq)
{
	struct bw_err err;
	while (!rq->head_done) {
		enum http_rc rc = http_resp_parser_feed(&rq->parser, rq->in.data,
							rq->in.len, &rq->resp, &err);
		if (rc == HTTP_NEED_MORE)
			return 0;
		if (rc == HTTP_ERROR) {
			attempt_fail(rq, F_OTHER, 502, "upstream_bad_response");
			return -1;
		}
		if (rq->websocket && rq->resp.status == 101) {
			if (relocate_resp(rq) < 0) {
				attempt_fail(rq, F_OTHER, 502, "upstream_head_too_large");
				return -1;
			}
			bw_buf_consume(&rq->in, rq->resp.head_len);
			return tunnel_begin(rq);
		}
		if (rq->resp.status == 101 || rq->resp.framing == HTTP_FRAMING_TUNNEL) {
			attempt_fail(rq, F_OTHER, 502, "upstream_unexpected_upgrade");
			return -1;
		}
		if (rq->resp.status < 200) { /* interim: the final one follows */
			bw_buf_consume(&rq->in, rq->resp.head_len);
			http_resp_parser_init(&rq->parser, &rq->lim, rq->hdrs,
					      GW_MAX_RESP_HEADERS, rq->method);
			continue;
		}
		if (rq->x == NULL) { /* probe: the status is all it wanted */
			attempt_done(rq, false);
			return 1;
		}
		if (relocate_resp(rq) < 0) {
			attempt_fail(rq, F_OTHER, 502, "upstream_head_too_large");
			return -1;
		}
		bw_buf_consume(&rq->in, rq->resp.head_len);
		/* Without a WAF transaction nothing needs the whole body:
		 * it streams, and max_response does not apply. */
		rq->stream_resp = rq->waf_tx == NULL;
		http_body_init(&rq->bd, &rq->lim, rq->resp.framing,
			       rq->resp.content_length,
			       rq->stream_resp ? GW_STREAM_MAX_BODY : rq->gw->max_response,
			       rq->trailers, BW_ARRAY_LEN(rq->trailers),
			       HTTP_BODY_RESPONSE);
		rq->head_done = true;
		if (rq->stream_resp)
			resp_start(rq);
	}
	if (rq->stream_resp)
		return resp_pump(rq);
	size_t consumed = 0;
	enum http_rc rc = http_body_feed_buf(&rq->bd, rq->in.data, rq->in.len,
					     &consumed, &rq->rbody, &err);
	bw_buf_consume(&rq->in, consumed);
	if (rc == HTTP_ERROR) {
		attempt_fail(rq, F_OTHER, 502,
			     strcmp(err.reason, "body_too_large") == 0 ?
				     "upstream_response_too_large" :
				     "upstream_bad_body");
		return -1;
	}
	if (rc == HTTP_DONE) {
		/* reusable only at a clean message boundary */
		attempt_done(rq, rq->resp.keep_alive && rq->in.len == 0);
		return 1;
	}
	return 0;
}

static void uc_read(struct gw_uconn *c)
{
	struct gw_req *rq = c->req;
	for (int rounds = 0; rounds < 64; rounds++) {
		size_t room = rq->in.max - rq->in.len;
		if (room == 0) {
			attempt_fail(rq, F_OTHER, 502, "upstream_response_too_large");
			return;
		}
		size_t want = room < READ_CHUNK ? room : READ_CHUNK;
		if (bw_buf_reserve(&rq->in, want) < 0) {
			attempt_fail(rq, F_OTHER, 502, "upstream_response_too_large");
			return;
		}
		ssize_t n = uc_recv(c, rq->in.data + rq->in.len, want);
		if (n > 0) {
			rq->in.len += (size_t)n;
			rq->in.data[rq->in.len] = '\0';
			uc_arm(c, rq->read_ms);
			if (parse_response(rq) != 0)
				return;
			if (rq->up_paused)
				return; /* the client is slow: net calls back */
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			uc_interest(c);
			return;
		}
		if (n == 0 && rq->head_done) {
			struct bw_err err;
			if (http_body_eof(&rq->bd, &err) == 0) {
				attempt_done(rq, false);
				return;
			}
			attempt_fail(rq, F_OTHER, 502, "upstream_truncated_body");
			return;
		}
		attempt_fail(rq, F_OTHER, 502, n == 0 ? "upstream_closed" :
							"upstream_reset");
		return;
	}
	/* fairness: let other connections run; level-triggered epoll
	 * brings us back */
	uc_interest(c);
}

/* ------------------------------------------------------------ streaming
 *
 * Request bodies the WAF does not need arrive from net as they come
 * (net_request_body_stream) and go upstream through sbuf, re-chunked
 * when their length is unknown; above GW_STREAM_HIGH queued bytes the
 * client is paused. Responses without a WAF transaction stream back
 * through net_respond_data; above GW_STREAM_HIGH pending in net the
 * upstream is no longer read until net says the client caught up. Once a
 * body byte was taken from the client or a response byte sent to it, an
 * attempt is never retried and a failure cuts the client connection
 * (net_abort) instead of answering.
 *
 * Callbacks from net may run inside the net_* calls made here; in_pump
 * marks those stretches, and callbacks then only record what happened
 * (rq stays valid: it lives in the exchange, which only a response or
 * an abort frees).
 */

/* The client's streamed body failed (too large, too slow, gone). */
static void body_failed(struct gw_req *rq)
{
	const char *why = rq->body_fail;
	int st = strcmp(why, "body_too_large") == 0 ? 413 :
		 strcmp(why, "body_timeout") == 0  ? 408 : 400;
	if (rq->c) {
		uc_close(rq->c);
		rq->c = NULL;
	}
	req_release_attempt(rq);
	if (rq->probe)
		atomic_store(&rq->s->probing, 0);
	rq->probe = false;
	struct net_exchange *x = rq->x;
	req_unlink(rq);
	req_buffers_fini(rq);
	gw_waf_end(rq->waf_tx, x, &rq->client);
	if (rq->resp_started)
		net_abort(x);
	else
		gw_respond_error(x, st, why);
}

static void on_client_body(void *arg, const char *p, size_t n, bool end)
{
	struct gw_req *rq = arg;
	int rc = 0;
	if (n)
		rc = rq->body_chunked ? http_write_chunk(&rq->sbuf, p, n) :
					bw_buf_append(&rq->sbuf, p, n);
	if (rc < 0)
		rq->body_fail = "body_too_large";
	if (end) {
		const char *why = NULL;
		if (net_request_body_failed(rq->x, &why))
			rq->body_fail = why ? why : "client_closed";
		else if (rq->body_chunked &&
			 http_write_last_chunk(&rq->sbuf, NULL, 0) < 0)
			rq->body_fail = "body_too_large";
		rq->body_end = true;
	}
	if (!end && rq->sbuf.len - rq->sbuf_pos >= GW_STREAM_HIGH) {
		rq->client_paused = true;
		net_request_body_pause(rq->x);
	}
	if (rq->in_pump)
		return;
	if (rq->body_fail && !rq->c) {
		body_failed(rq);
		return;
	}
	if (rq->c && rq->c->state == UC_WRITING)
		uc_write(rq->c);
}

/* Moves the client's body upstream. Returns true when all of it was sent
 * (go on reading the response), false when waiting (or finished). */
static bool body_pump(struct gw_uconn *c)
{
	struct gw_req *rq = c->req;
	for (;;) {
		if (rq->body_fail) {
			body_failed(rq);
			return false;
		}
		if (!rq->body_requested) {
			rq->body_requested = true;
			rq->in_pump = true;
			net_request_body_stream(rq->x, on_client_body, rq);
			rq->in_pump = false;
			continue;
		}
		while (rq->sbuf_pos < rq->sbuf.len) {
			ssize_t w = uc_send(c, rq->sbuf.data + rq->sbuf_pos,
					    rq->sbuf.len - rq->sbuf_pos);
			if (w > 0) {
				rq->sbuf_pos += (size_t)w;
				uc_arm(c, rq->write_ms);
				continue;
			}
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
				      errno == EINTR)) {
				uc_interest(c);
				return false;
			}
			attempt_fail(rq, F_OTHER, 502, "upstream_write_failed");
			return false;
		}
		bw_buf_reset(&rq->sbuf);
		rq->sbuf_pos = 0;
		if (rq->body_end)
			return true;
		if (rq->client_paused) {
			rq->client_paused = false;
			rq->in_pump = true;
			net_request_body_resume(rq->x);
			rq->in_pump = false;
			if (rq->sbuf.len || rq->body_end || rq->body_fail)
				continue;
		}
		/* the client's pace now; net's body timeout bounds it */
		loop_timer_cancel(c->tg->t->loop, &c->timer);
		uc_interest(c);
		return false;
	}
}

/* The Content-Length an upstream announced in answer to HEAD (the codec
 * frames such a response as bodiless), or -1 when absent or malformed. */
static int64_t head_length(const struct http_response *r)
{
	const struct http_header *h =
		http_header_find(r->headers, r->nheaders, "content-length");
	if (!h || h->value.len == 0 || h->value.len > 18)
		return -1;
	int64_t n = 0;
	for (size_t i = 0; i < h->value.len; i++) {
		char d = h->value.p[i];
		if (d < '0' || d > '9')
			return -1;
		n = n * 10 + (d - '0');
	}
	return n;
}

/* Streams the response head to the client. */
static void resp_start(struct gw_req *rq)
{
	const char *ctype = copy_resp_headers(rq);
	int64_t len = rq->resp.framing == HTTP_FRAMING_LENGTH ?
			      (int64_t)rq->resp.content_length : -1;
	if (rq->resp.framing == HTTP_FRAMING_NONE)
		len = 0;
	if (rq->method == HTTP_METHOD_HEAD) /* the upstream's length, kept */
		len = head_length(&rq->resp);
	gw_waf_end(rq->waf_tx, rq->x, &rq->client);
	rq->waf_tx = NULL;
	rq->resp_started = true;
	GW_COUNT(streamed);
	net_respond_start(rq->x, rq->resp.status, ctype, len);
}

static void on_client_writable(void *arg, bool gone)
{
	struct gw_req *rq = arg;
	if (gone) {
		attempt_fail(rq, F_OTHER, 502, "client_gone");
		return;
	}
	rq->up_paused = false;
	if (!rq->c)
		return;
	struct gw_uconn *c = rq->c;
	if (resp_pump(rq) != 0 || rq->up_paused)
		return;
	uc_arm(c, rq->read_ms);
	uc_interest(c);
}

/* Passes decoded body bytes from `in` to the client. 1: the response is
 * complete (attempt done), 0: wait, -1: failed. */
static int resp_pump(struct gw_req *rq)
{
	struct net_exchange *x = rq->x;
	for (;;) {
		struct bw_err err;
		struct bw_str d = { 0 };
		size_t used = 0;
		enum http_rc rc = http_body_feed(&rq->bd, rq->in.data, rq->in.len,
						 &used, &d, &err);
		if (rc == HTTP_ERROR) {
			attempt_fail(rq, F_OTHER, 502, "upstream_bad_body");
			return -1;
		}
		if (d.len && net_respond_data(x, d.p, d.len) < 0) {
			attempt_fail(rq, F_OTHER, 502, "client_gone");
			return -1;
		}
		bw_buf_consume(&rq->in, used);
		if (rc == HTTP_DONE) {
			attempt_done(rq, rq->resp.keep_alive && rq->in.len == 0);
			return 1;
		}
		if (used == 0 && d.len == 0)
			break;
	}
	net_respond_flush(x); /* the upstream's pace now: send what we have */
	if (net_respond_pending(x) > GW_STREAM_HIGH) {
		rq->up_paused = true;
		if (rq->c) {
			loop_timer_cancel(rq->c->tg->t->loop, &rq->c->timer);
			uc_interest(rq->c);
		}
		net_on_writable(x, on_client_writable, rq);
	}
	return 0;
}

/* ------------------------------------------------------------ tunnels */

/* Ends a WebSocket tunnel: the upstream connection closes, the client's
 * after what is queued for it (clean) or at once. */
static void tunnel_end(struct gw_req *rq, bool clean)
{
	struct net_exchange *x = rq->x;
	if (rq->c) {
		uc_close(rq->c);
		rq->c = NULL;
	}
	req_release_attempt(rq);
	req_unlink(rq);
	req_buffers_fini(rq);
	if (clean)
		net_respond_end(x);
	else
		net_abort(x);
}

static void tunnel_write(struct gw_uconn *c)
{
	struct gw_req *rq = c->req;
	for (;;) {
		while (rq->sbuf_pos < rq->sbuf.len) {
			ssize_t w = uc_send(c, rq->sbuf.data + rq->sbuf_pos,
					    rq->sbuf.len - rq->sbuf_pos);
			if (w > 0) {
				rq->sbuf_pos += (size_t)w;
				continue;
			}
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
				      errno == EINTR))
				return;
			tunnel_end(rq, false);
			return;
		}
		bw_buf_reset(&rq->sbuf);
		rq->sbuf_pos = 0;
		if (!rq->client_paused)
			break;
		rq->client_paused = false;
		rq->in_pump = true;
		net_request_body_resume(rq->x);
		rq->in_pump = false;
		if (rq->body_fail) {
			tunnel_end(rq, false);
			return;
		}
		if (!rq->sbuf.len)
			break;
	}
	if (rq->client_eof && !rq->body_end) {
		/* pass the client's half-close on */
		rq->body_end = true;
		if (!c->ssl)
			(void)shutdown(c->io.fd, SHUT_WR);
	}
}

static void on_tunnel_client(void *arg, const char *p, size_t n, bool end)
{
	struct gw_req *rq = arg;
	if (n && bw_buf_append(&rq->sbuf, p, n) < 0)
		rq->body_fail = "tunnel_overflow";
	if (end) {
		if (net_request_body_failed(rq->x, NULL))
			rq->body_fail = "tunnel_closed";
		rq->client_eof = true;
	}
	if (!end && rq->sbuf.len - rq->sbuf_pos >= GW_STREAM_HIGH) {
		rq->client_paused = true;
		net_request_body_pause(rq->x);
	}
	if (rq->in_pump || !rq->c)
		return;
	if (rq->body_fail) {
		tunnel_end(rq, false);
		return;
	}
	struct gw_uconn *c = rq->c;
	tunnel_write(c);
	if (rq->c == c) /* still open */
		uc_interest(c);
}

static void on_tunnel_writable(void *arg, bool gone)
{
	struct gw_req *rq = arg;
	if (gone) {
		tunnel_end(rq, false);
		return;
	}
	rq->up_paused = false;
	if (rq->c)
		uc_interest(rq->c);
}

static void tunnel_read(struct gw_uconn *c)
{
	struct gw_req *rq = c->req;
	char buf[READ_CHUNK];
	/* past the fairness bound, go on while OpenSSL holds bytes epoll
	 * cannot see */
	for (int i = 0; !rq->up_paused && (i < 16 || (c->ssl && SSL_has_pending(c->ssl)));
	     i++) {
		ssize_t n = uc_recv(c, buf, sizeof(buf));
		if (n > 0) {
			if (net_respond_data(rq->x, buf, (size_t)n) < 0) {
				tunnel_end(rq, false);
				return;
			}
			if (net_respond_pending(rq->x) > GW_STREAM_HIGH) {
				rq->up_paused = true;
				net_on_writable(rq->x, on_tunnel_writable, rq);
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			net_respond_flush(rq->x);
			return;
		}
		/* the upstream closed (or failed): the client gets what is
		 * queued, then its connection closes */
		tunnel_end(rq, n == 0);
		return;
	}
	net_respond_flush(rq->x);
}

static void tunnel_on_io(struct gw_uconn *c, uint32_t revents)
{
	struct gw_req *rq = c->req;
	if (rq->sbuf_pos < rq->sbuf.len) {
		tunnel_write(c);
		if (rq->c != c)
			return;
	}
	if (!rq->up_paused && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		tunnel_read(c);
		if (rq->c != c)
			return;
	}
	uc_interest(c);
}

/* The upstream accepted the WebSocket upgrade (101): answer the client
 * with it and relay bytes both ways. Returns 1 (the exchange is no
 * longer a request/response) or -1 on failure. */
static int tunnel_begin(struct gw_req *rq)
{
	struct gw_uconn *c = rq->c;
	struct net_exchange *x = rq->x;
	(void)copy_resp_headers(rq);
	net_add_header(x, "Connection", "Upgrade");
	net_add_header(x, "Upgrade", "websocket");
	gw_waf_end(rq->waf_tx, x, &rq->client);
	rq->waf_tx = NULL;
	gw_server_success(rq->s, rq->probe);
	rq->probe = false;
	loop_timer_cancel(c->tg->t->loop, &c->timer);
	c->state = UC_TUNNEL;
	rq->tunnel = true;
	rq->resp_started = true;
	rq->body_end = false;
	bw_buf_init(&rq->sbuf, GW_STREAM_HIGH + READ_CHUNK * 2);
	rq->in_pump = true;
	int rc = net_upgrade(x, rq->r->websocket_idle_ms, on_tunnel_client, rq);
	rq->in_pump = false;
	if (rc < 0) {
		rq->resp_started = false;
		attempt_fail(rq, F_OTHER, 502, "upgrade_failed");
		return -1;
	}
	GW_COUNT(proxied);
	GW_COUNT(websockets);
	/* bytes the upstream sent right after its 101 */
	if (rq->in.len && net_respond_data(x, rq->in.data, rq->in.len) < 0) {
		tunnel_end(rq, false);
		return 1;
	}
	bw_buf_fini(&rq->in);
	net_respond_flush(x);
	if (rq->body_fail) {
		tunnel_end(rq, false);
		return 1;
	}
	tunnel_write(c);
	if (rq->c == c)
		uc_interest(c);
	return 1;
}

/* ------------------------------------------------------------ attempts */

static void attempt_reset(struct gw_req *rq)
{
	bw_buf_reset(&rq->in);
	bw_buf_reset(&rq->rbody);
	rq->head_done = false;
	memset(&rq->resp, 0, sizeof(rq->resp));
	http_resp_parser_init(&rq->parser, &rq->lim, rq->hdrs, GW_MAX_RESP_HEADERS,
			      rq->method);
	rq->sent = 0;
}

static int build_head(struct gw_req *rq)
{
	struct bw_err err;
	bw_buf_reset(&rq->head);
	struct bw_str host;
	if (rq->r->preserve_host && rq->creq->host.len)
		host = rq->creq->host;
	else
		host = bw_str_make(rq->s->hostport, strlen(rq->s->hostport));
	struct gw_fwd_opts o = {
		.host = host,
		.client = &rq->client,
		.peer_ip = net_peer_ip(rq->x),
		.tls = net_is_tls(rq->x),
		.send_forwarded = rq->gw->send_forwarded,
		.request_id = net_request_id(rq->x),
		.body_len = rq->stream_req ? rq->creq->content_length : rq->body.len,
		.body_chunked = rq->body_chunked,
		.websocket = rq->websocket,
		.extra = rq->extra,
		.nextra = rq->nextra,
	};
	if (gw_build_request(&rq->head, rq->creq, &o, &err) < 0) {
		finish_error(rq, err.code == 405 ? 405 : err.code == 414 ? 414 : 500,
			     err.code == 405 ? "method_not_proxied" : "request_head_failed");
		return -1;
	}
	/* small bodies travel with the head: one write, one segment */
	rq->body_in_head = rq->body.len <= 65536 &&
			   bw_buf_append(&rq->head, rq->body.p, rq->body.len) == 0;
	rq->total = rq->head.len + (rq->body_in_head ? 0 : rq->body.len);
	return 0;
}

static void attempt_start(struct gw_req *rq)
{
	int64_t now = bw_clock_mono_ms();
	bool probe = false;
	struct gw_server *s = gw_upstream_pick(rq->u, rq->tried, now, &probe);
	if (!s) {
		if (rq->attempts > 0)
			finish_error(rq, rq->last_status, rq->last_reason);
		else
			finish_error(rq, 503, "no_healthy_upstream");
		return;
	}
	rq->s = s;
	rq->probe = probe;
	rq->tried |= 1ull << s->index;
	rq->attempts++;
	atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
	rq->counted = true;
	attempt_reset(rq);
	if ((!rq->r->preserve_host || rq->attempts == 1 || !rq->head.len) &&
	    build_head(rq) < 0)
		return;
	struct gw_uconn *c = pool_get(rq->tg, rq->u, s);
	if (c) {
		GW_COUNT(pool_reused);
		c->req = rq;
		rq->c = c;
		uc_begin_write(c);
		return;
	}
	c = uc_connect(rq, s);
	if (!c) {
		attempt_fail(rq, F_CONNECT, 502, "upstream_connect_failed");
		return;
	}
	c->req = rq;
	rq->c = c;
}

void gw_proxy_start(struct gateway *gw, const struct gw_route *r,
		    struct net_exchange *x, const struct gw_client *client,
		    void *waf_tx, const struct gw_hdr *extra, size_t nextra)
{
	struct gw_thread *t = thread_get(net_loop(x));
	if (t && t->closing) {
		gw_waf_end(waf_tx, x, client);
		gw_respond_error(x, 503, "gateway_shutdown");
		return;
	}
	struct gw_tgen *tg = t ? tgen_get(t, gw) : NULL;
	struct gw_req *rq = tg ? bw_arena_zalloc(net_arena(x), sizeof(*rq)) : NULL;
	struct http_header *h =
		rq ? bw_arena_alloc(net_arena(x), GW_MAX_RESP_HEADERS * sizeof(*h)) : NULL;
	if (!h) {
		gw_waf_end(waf_tx, x, client);
		gw_respond_error(x, 503, "gateway_out_of_memory");
		return;
	}
	rq->x = x;
	rq->gw = gw;
	rq->r = r;
	rq->u = &gw->upstreams[r->upstream];
	rq->tg = tg;
	rq->client = *client;
	rq->waf_tx = waf_tx;
	rq->extra = extra;
	rq->nextra = nextra;
	rq->creq = net_request(x);
	rq->method = rq->creq->method;
	rq->body = net_request_body(x);
	rq->stream_req = net_request_body_pending(x);
	if (rq->stream_req) {
		rq->body_chunked = rq->creq->framing != HTTP_FRAMING_LENGTH;
		bw_buf_init(&rq->sbuf, GW_STREAM_HIGH + READ_CHUNK * 2 + 64);
	}
	rq->websocket = r->websocket && rq->creq->websocket &&
			rq->method == HTTP_METHOD_GET && !rq->stream_req;
	rq->hdrs = h;
	rq->connect_ms = rq->u->connect_ms;
	rq->read_ms = rq->u->read_ms;
	rq->write_ms = rq->u->write_ms;
	http_limits_default(&rq->lim);
	rq->lim.max_headers = GW_MAX_RESP_HEADERS;
	rq->lim.max_body = gw->max_response;
	bw_buf_init(&rq->head, GW_MAX_REQ_HEAD + 65536);
	bw_buf_init(&rq->in, rq->lim.max_header_bytes + gw->max_response + READ_CHUNK);
	bw_buf_init(&rq->rbody, gw->max_response);
	rq->next = tg->reqs;
	if (tg->reqs)
		tg->reqs->prev = rq;
	tg->reqs = rq;
	tg->nclient++;
	attempt_start(rq);
}

/* ------------------------------------------------------------ health */

static void hc_fire(struct loop *l, struct loop_timer *tm);

static void hc_start(struct gw_tgen *tg)
{
	struct gateway *gw = tg->gw;
	bool any = false;
	for (size_t i = 0; i < gw->nupstreams; i++)
		if (gw->upstreams[i].health_path)
			any = true;
	void *expected = NULL;
	if (!any || !atomic_compare_exchange_strong(&gw->health_owner, &expected, tg))
		return;
	tg->hc = calloc(gw->nupstreams, sizeof(*tg->hc));
	if (!tg->hc) {
		atomic_store(&gw->health_owner, NULL);
		return;
	}
	tg->health_owner = true;
	for (size_t i = 0; i < gw->nupstreams; i++) {
		struct gw_hc *hc = &tg->hc[i];
		hc->tg = tg;
		hc->u = &gw->upstreams[i];
		loop_timer_init(&hc->timer, hc_fire, hc);
		if (!hc->u->health_path)
			continue;
		hc->busy = calloc(hc->u->nservers, sizeof(bool));
		if (!hc->busy || loop_timer_arm(tg->t->loop, &hc->timer, 0) < 0)
			log_warnx("gateway: cannot schedule health checks of %s",
				  hc->u->name);
	}
}

static void probe_start(struct gw_hc *hc, struct gw_server *s)
{
	struct gw_req *rq = calloc(1, sizeof(*rq));
	struct http_header *h = rq ? calloc(GW_MAX_RESP_HEADERS, sizeof(*h)) : NULL;
	if (!h) {
		free(rq);
		return;
	}
	struct gw_tgen *tg = hc->tg;
	rq->hc = hc;
	rq->gw = tg->gw;
	rq->u = hc->u;
	rq->tg = tg;
	rq->s = s;
	rq->method = HTTP_METHOD_GET;
	rq->hdrs = h;
	rq->connect_ms = rq->read_ms = rq->write_ms = hc->u->health_timeout_ms;
	http_limits_default(&rq->lim);
	rq->lim.max_headers = GW_MAX_RESP_HEADERS;
	bw_buf_init(&rq->head, 4096 + GW_MAX_PREFIX_LEN);
	bw_buf_init(&rq->in, rq->lim.max_header_bytes + READ_CHUNK);
	bw_buf_init(&rq->rbody, 0);
	if (bw_buf_printf(&rq->head,
			  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bulwark-health-check\r\n"
			  "Connection: close\r\n\r\n",
			  hc->u->health_path, s->hostport) < 0) {
		req_buffers_fini(rq);
		free(h);
		free(rq);
		return;
	}
	rq->total = rq->head.len;
	attempt_reset(rq);
	hc->busy[s->index] = true;
	rq->next = tg->reqs;
	if (tg->reqs)
		tg->reqs->prev = rq;
	tg->reqs = rq;
	struct gw_uconn *c = uc_connect(rq, s);
	if (!c) {
		probe_done(rq, false);
		return;
	}
	c->req = rq;
	rq->c = c;
}

static void probe_done(struct gw_req *rq, bool ok)
{
	struct gw_hc *hc = rq->hc;
	struct gw_server *s = rq->s;
	if (rq->c) {
		uc_close(rq->c);
		rq->c = NULL;
	}
	hc->busy[s->index] = false;
	int was = atomic_exchange(&s->healthy, ok ? 1 : 0);
	if (was != (ok ? 1 : 0)) {
		log_kv(ok ? BW_LOG_INFO : BW_LOG_WARN, "gateway: health changed",
		       "upstream", hc->u->name, "server", s->hostport, "healthy",
		       ok ? "true" : "false", NULL);
		gw_event(NULL, NULL, ok ? "gateway-upstream-healthy" :
					  "gateway-upstream-unhealthy",
			 ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE, ok ? 1 : 6,
			 "active health check result changed", "upstream",
			 hc->u->name, "server", s->hostport, NULL);
	}
	req_unlink(rq);
	req_buffers_fini(rq);
	free(rq->hdrs);
	free(rq);
}

static void hc_fire(struct loop *l, struct loop_timer *tm)
{
	struct gw_hc *hc = tm->data;
	if (!hc->busy)
		return;
	for (size_t i = 0; i < hc->u->nservers; i++)
		if (!hc->busy[i])
			probe_start(hc, &hc->u->servers[i]);
	if (loop_timer_arm(l, &hc->timer, (int64_t)hc->u->health_interval_ms) < 0)
		log_warnx("gateway: cannot reschedule health checks");
}

/* ------------------------------------------------------------ teardown */

/* Ends every request of tg (503 to clients) and closes its connections. */
static void tgen_abort(struct gw_tgen *tg)
{
	while (tg->reqs) {
		struct gw_req *rq = tg->reqs;
		if (rq->c) {
			uc_close(rq->c);
			rq->c = NULL;
		}
		if (rq->x == NULL) {
			probe_done(rq, atomic_load(&rq->s->healthy) != 0);
			continue;
		}
		req_release_attempt(rq);
		if (rq->probe)
			atomic_store(&rq->s->probing, 0);
		rq->probe = false;
		finish_error(rq, 503, "gateway_shutdown");
	}
	pool_close_all(tg, -1);
	if (tg->hc) {
		for (size_t i = 0; i < tg->gw->nupstreams; i++) {
			loop_timer_cancel(tg->t->loop, &tg->hc[i].timer);
			free(tg->hc[i].busy);
		}
		free(tg->hc);
		tg->hc = NULL;
		atomic_store(&tg->gw->health_owner, NULL);
	}
}

static void tgen_free(struct gw_tgen *tg)
{
	tgen_abort(tg);
	for (size_t i = 0; i < tg->gw->nupstreams; i++)
		free(tg->pools[i]);
	free(tg->pools);
	struct gateway *gw = tg->gw;
	free(tg);
	gw_unref(gw);
}

static void sweep_cb(struct loop *l, struct loop_timer *tm)
{
	struct gw_thread *t = tm->data;
	int64_t now = loop_now_ms(l);
	struct gw_tgen **pp = &t->gens;
	while (*pp) {
		struct gw_tgen *tg = *pp;
		if (gw_retired(tg->gw) && tg->nclient == 0) {
			*pp = tg->next;
			tgen_free(tg);
			continue;
		}
		struct gateway *gw = tg->gw;
		for (size_t i = 0; i < gw->nupstreams; i++) {
			int64_t cut = now - (int64_t)gw->upstreams[i].pool_idle_ms;
			for (size_t j = 0; j < gw->upstreams[i].nservers; j++) {
				struct gw_idle *p = &tg->pools[i][j];
				while (p->tail && p->tail->idle_since_ms <= cut) {
					struct gw_uconn *c = p->tail;
					idle_unlink(p, c);
					uc_close(c);
				}
			}
		}
		pp = &tg->next;
	}
	if (t->gens && loop_timer_arm(l, &t->sweep, SWEEP_MS) < 0)
		log_warnx("gateway: timer table full; idle pools are not swept");
}

void gateway_thread_fini(struct loop *l)
{
	gw_auth_thread_fini(l);
	pthread_mutex_lock(&reg_mu);
	struct gw_thread *t = reg_head;
	while (t && t->loop != l)
		t = t->next;
	pthread_mutex_unlock(&reg_mu);
	if (!t)
		return;
	/* Stays registered while closing, so an exchange answered here that
	 * lets net dispatch a pipelined request finds this state (closing)
	 * instead of creating a new one. */
	t->closing = true;
	loop_timer_cancel(l, &t->sweep);
	while (t->gens) {
		struct gw_tgen *tg = t->gens;
		t->gens = tg->next;
		tgen_free(tg);
	}
	pthread_mutex_lock(&reg_mu);
	struct gw_thread **pp = &reg_head;
	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp)
		*pp = t->next;
	pthread_mutex_unlock(&reg_mu);
	if (tl_thread == t)
		tl_thread = NULL;
	free(t);
}

void gateway_thread_attach(struct gateway *gw, struct loop *l)
{
	struct gw_thread *t = thread_get(l);
	if (t && !t->closing)
		(void)tgen_get(t, gw);
}
