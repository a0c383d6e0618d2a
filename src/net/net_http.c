/*
 * The HTTP/1.1 server: one state machine per connection, driven by the
 * worker thread's loop.
 *
 *   HANDSHAKE ─▶ HEAD ─▶ [BODY] ─▶ HANDLING ─▶ WRITING ─┬▶ HEAD (keep-alive,
 *                 ▲                                     │   pipelined bytes
 *                 └─────────────────────────────────────┘   first)
 *                                                       └▶ LINGER ─▶ closed
 *
 * Invariants:
 *  - a connection handles one request at a time; pipelined bytes wait in
 *    `in` and are parsed only after the previous response is written, so
 *    responses leave in request order;
 *  - while a request is being handled the fd is not read (no interest),
 *    so a client cannot make bulwark buffer without bound;
 *  - every exchange-scoped allocation lives in the exchange arena, freed
 *    when the response has been queued;
 *  - idle connections hold no buffers: `in` and `out` are freed when empty;
 *  - a connection is freed only when it is closed, no entry point
 *    (io callback, timer, net_respond) is on the stack for it, and no
 *    handler owns its exchange: code after any call that may close it
 *    checks `closed` and never touches freed memory;
 *  - pipelined requests are handled iteratively by conn_process, never by
 *    recursion, so a burst of tiny requests cannot deepen the stack;
 *  - one timer per connection, whose meaning follows the state: handshake
 *    and header timeout count from the first byte (a slow client cannot
 *    extend them by dribbling), body timeout from the end of the head,
 *    write timeout from the last write progress, idle between requests.
 */
#include "net/net_int.h"
#include "net/net_tlsrec.h"
#include "net/net_limits.h"
#include "event/event.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------- metrics */

const double net_latency_bounds_ms[11] = { 0.5, 1, 2.5, 5, 10, 25,
					   50, 100, 250, 500, 1000 };

static struct {
	_Atomic uint64_t accepted, refused_conns, active_conns, tls_fail, tls_parked;
	_Atomic uint64_t requests, by_class[6], rejected, timeouts;
	_Atomic uint64_t buckets[12], latency_sum_us;
} stats;

/* Rejection counts by reason token. Reasons arrive in caller-owned buffers
 * (struct bw_err), so they are copied into the table; a mutex is enough
 * here, rejections are not the fast path. */
static struct {
	pthread_mutex_t mu;
	char reason[NET_MAX_REASONS][48];
	uint64_t count[NET_MAX_REASONS];
	int n;
	uint64_t other;
} reasons = { .mu = PTHREAD_MUTEX_INITIALIZER };

void net_stats_count_rejection(const char *reason)
{
	pthread_mutex_lock(&reasons.mu);
	int i;
	for (i = 0; i < reasons.n; i++)
		if (strcmp(reasons.reason[i], reason) == 0)
			break;
	if (i == reasons.n && reasons.n < NET_MAX_REASONS)
		bw_event_set(reasons.reason[reasons.n++], sizeof(reasons.reason[0]),
			     reason);
	if (i < reasons.n)
		reasons.count[i]++;
	else
		reasons.other++;
	pthread_mutex_unlock(&reasons.mu);
}

void net_stats_rejections(void (*fn)(const char *, uint64_t, void *), void *arg)
{
	char names[NET_MAX_REASONS][48];
	uint64_t counts[NET_MAX_REASONS];
	pthread_mutex_lock(&reasons.mu);
	int n = reasons.n;
	memcpy(names, reasons.reason, sizeof(names));
	memcpy(counts, reasons.count, sizeof(counts));
	uint64_t other = reasons.other;
	pthread_mutex_unlock(&reasons.mu);
	for (int i = 0; i < n; i++)
		fn(names[i], counts[i], arg);
	if (other)
		fn("other", other, arg);
}

void net_stats_get(struct net_stats *o)
{
	o->accepted = atomic_load(&stats.accepted);
	o->refused_conns = atomic_load(&stats.refused_conns);
	o->active_conns = atomic_load(&stats.active_conns);
	o->tls_handshake_failures = atomic_load(&stats.tls_fail);
	o->tls_parked = atomic_load(&stats.tls_parked);
	o->requests = atomic_load(&stats.requests);
	for (int i = 0; i < 6; i++)
		o->responses_by_class[i] = atomic_load(&stats.by_class[i]);
	o->rejected = atomic_load(&stats.rejected);
	o->timeouts = atomic_load(&stats.timeouts);
	for (int i = 0; i < 12; i++)
		o->latency_buckets[i] = atomic_load(&stats.buckets[i]);
	o->latency_sum_us = atomic_load(&stats.latency_sum_us);
}

#define STAT_ADD(f, n) atomic_fetch_add_explicit(&stats.f, (n), memory_order_relaxed)

/* -------------------------------------------------------------- server */

struct net_http_server *net_http_server_new(const struct net_http_options *o,
					    struct bw_err *err)
{
	if (http_limits_check(&o->limits, err) < 0)
		return NULL;
	if (!o->handler) {
		bw_err_set(err, 500, "net", "no_handler", "server without handler");
		return NULL;
	}
	struct net_http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		bw_err_set(err, 500, "net", "nomem", "out of memory");
		return NULL;
	}
	s->o = *o;
	bw_event_set(s->name, sizeof(s->name), o->name ? o->name : "http");
	s->o.name = s->name;
	if (!s->o.max_conns)
		s->o.max_conns = NET_MAX_CONNS_DEFAULT;
	atomic_store(&s->refs, 1);
	return s;
}

void net_http_server_ref(struct net_http_server *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void net_http_server_unref(struct net_http_server *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->o.handler_arg_release)
		s->o.handler_arg_release(s->o.handler_arg);
	net_tls_free(s->o.tls);
	free(s);
}

/* ---------------------------------------------------------- utilities */

/* At most 20 rejection log lines per second per thread: an unauthenticated
 * client can trigger them. What is suppressed is counted and reported. */
bool net_log_allowed(struct net_thread *t)
{
	int64_t now = bw_clock_mono_ms() / 1000;
	if (now != t->log_window_s) {
		if (t->log_suppressed)
			log_warnx("%llu rejection log lines suppressed",
				  (unsigned long long)t->log_suppressed);
		t->log_window_s = now;
		t->log_budget = 20;
		t->log_suppressed = 0;
	}
	if (t->log_budget > 0) {
		t->log_budget--;
		return true;
	}
	t->log_suppressed++;
	return false;
}

const char *net_date_header(struct net_thread *t)
{
	int64_t now = bw_clock_now_s();
	if (now != t->date_s) {
		struct bw_buf b = { .data = t->date, .cap = sizeof(t->date),
				    .max = sizeof(t->date) - 1 };
		t->date_s = now;
		if (http_write_date(&b, now) < 0)
			t->date[0] = '\0';
	}
	return t->date;
}

static void conn_process(struct net_conn *c);
static void conn_do_write(struct net_conn *c);

void net_conn_arm(struct net_conn *c, uint64_t ms)
{
	if (loop_timer_arm(c->t->loop, &c->timer, (int64_t)ms) < 0) {
		/* The timer table is sized for max_conns; running out means
		 * the bound was misconfigured. Refuse to keep an untimed
		 * connection. */
		log_warnx("timer table full; closing connection");
		c->close_after = true;
	}
}

/* ---------------------------------------------------------------- I/O */

/* Reads into c->in. Returns bytes read, 0 on EOF, -1 on EAGAIN (errno
 * EAGAIN) or a hard error (other errno). */
ssize_t net_conn_read(struct net_conn *c)
{
	if (bw_buf_reserve(&c->in, NET_READ_CHUNK) < 0 &&
	    bw_buf_reserve(&c->in, 1) < 0) {
		errno = ENOBUFS;
		return -1;
	}
	size_t room = c->in.cap - c->in.len - 1;
	if (room > NET_READ_CHUNK)
		room = NET_READ_CHUNK;
	c->short_read = false;
	char *dst = c->in.data + c->in.len;
	ssize_t n;
	if (c->park) {
		n = net_tlsrec_read(c->park, c->io.fd, dst, room);
		if (n <= 0) {
			if (n < 0 && errno == EPROTO)
				errno = ECONNRESET; /* a bad record: alert sent */
			return n;
		}
	} else if (c->ssl) {
		c->ssl_want_write = false;
		ERR_clear_error();
		int r = SSL_read(c->ssl, dst, (int)room);
		if (r > 0) {
			n = r;
		} else {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				errno = EAGAIN;
			} else if (e == SSL_ERROR_WANT_WRITE) {
				c->ssl_want_write = true;
				errno = EAGAIN;
			} else if (e == SSL_ERROR_ZERO_RETURN) {
				return 0;
			} else {
				ERR_clear_error();
				errno = ECONNRESET;
			}
			return -1;
		}
	} else {
		do {
			n = read(c->io.fd, dst, room);
		} while (n < 0 && errno == EINTR);
		if (n <= 0)
			return n;
	}
	c->in.len += (size_t)n;
	c->in.data[c->in.len] = '\0';
	/* For TLS a record is at most 16 KiB of data, so "short" means the
	 * record fit; SSL_has_pending tells whether more is buffered. */
	c->short_read = (size_t)n < room;
	return n;
}

ssize_t net_conn_write(struct net_conn *c, const char *p, size_t n)
{
	if (c->park) {
		ssize_t w = net_tlsrec_write(c->park, c->io.fd, p, n);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			errno = EPIPE;
		return w;
	}
	if (c->ssl) {
		ERR_clear_error();
		int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		if (r > 0)
			return r;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			errno = EAGAIN;
		else
			errno = EPIPE;
		ERR_clear_error();
		return -1;
	}
	ssize_t w;
	do {
		w = send(c->io.fd, p, n, MSG_NOSIGNAL);
	} while (w < 0 && errno == EINTR);
	return w;
}

/* ----------------------------------------------------------- exchange */

struct net_exchange *net_exchange_new(struct net_conn *c)
{
	const struct http_limits *lim = &c->srv->o.limits;
	struct bw_arena *a = bw_arena_new(8192, 4 * 1024 * 1024);
	if (!a)
		return NULL;
	struct net_exchange *x = bw_arena_zalloc(a, sizeof(*x));
	size_t cap = lim->max_headers;
	struct http_header *h = x ? bw_arena_alloc(a, cap * sizeof(*h)) : NULL;
	if (!h) {
		bw_arena_free(a);
		return NULL;
	}
	x->c = c;
	x->arena = a;
	x->hdrs = h;
	x->nhdrs_cap = cap;
	x->start_ns = bw_clock_mono_ns();
	http_req_parser_init(&x->parser, lim, h, cap);
	bw_buf_init(&x->bodybuf, lim->max_body);
	bw_buf_init(&x->extra, 16384);
	struct net_thread *t = c->t;
	if (!t->reqid_prefix[0]) {
		unsigned char r[4];
		bw_random(r, sizeof(r));
		bw_hex_encode(r, sizeof(r), t->reqid_prefix);
	}
	/* prefix (8 hex) + counter (12 hex), written without printf: this
	 * runs for every request */
	static const char hexd[] = "0123456789abcdef";
	uint64_t ctr = ++t->reqid_counter;
	memcpy(x->request_id, t->reqid_prefix, 8);
	for (int i = 11; i >= 0; i--, ctr >>= 4)
		x->request_id[8 + i] = hexd[ctr & 15];
	x->request_id[20] = '\0';
	return x;
}

void net_exchange_free(struct net_exchange *x)
{
	if (!x)
		return;
	bw_buf_wipe_fini(&x->bodybuf); /* bodies may carry credentials */
	bw_buf_fini(&x->extra);
	bw_buf_fini(&x->h2_body);
	free(x->client_subject);
	bw_arena_free(x->arena);
}

/* The head lives in `in`, which may move when more body bytes arrive:
 * copy it into the arena and repoint every string at the copy. */
static int relocate_head(struct net_exchange *x, const char *base, size_t len)
{
	char *copy = bw_arena_alloc(x->arena, len + 1);
	if (!copy)
		return -1;
	memcpy(copy, base, len);
	copy[len] = '\0';
#define MOVE(s)                                                                \
	do {                                                                   \
		if ((s).p >= base && (s).p <= base + len)                     \
			(s).p = copy + ((s).p - base);                         \
	} while (0)
	struct http_request *r = &x->req;
	MOVE(r->method_str);
	MOVE(r->target);
	MOVE(r->scheme);
	MOVE(r->authority);
	MOVE(r->path);
	MOVE(r->query);
	MOVE(r->host);
	MOVE(r->host_name);
	for (size_t i = 0; i < r->nheaders; i++) {
		MOVE(r->headers[i].name);
		MOVE(r->headers[i].value);
	}
#undef MOVE
	return 0;
}

/* ----------------------------------------------------------- responses */

void net_count_response(struct net_exchange *x, int status, size_t bytes)
{
	int64_t us = (bw_clock_mono_ns() - x->start_ns) / 1000;
	double ms = (double)us / 1000.0;
	int b = 0;
	while (b < 11 && ms > net_latency_bounds_ms[b])
		b++;
	STAT_ADD(buckets[b], 1);
	STAT_ADD(latency_sum_us, (uint64_t)us);
	STAT_ADD(requests, 1);
	STAT_ADD(by_class[status / 100 < 6 ? status / 100 : 0], 1);

	struct net_conn *c = x->c;
	if (!c->srv->o.access_events)
		return;
	struct bw_event ev;
	bw_event_init(&ev, "web", "http-request",
		      status < 400 ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	BW_EVENT_SET(&ev, source_ip, c->peer_ip);
	ev.source_port = c->peer_port;
	BW_EVENT_SET(&ev, request_id, x->request_id);
	char num[32];
	if (x->head_done) {
		char tmp[160];
		size_t n = x->req.method_str.len < 31 ? x->req.method_str.len : 31;
		memcpy(tmp, x->req.method_str.p, n);
		tmp[n] = '\0';
		bw_event_add_field(&ev, "http.request.method", tmp);
		n = x->req.path.len < sizeof(tmp) - 1 ? x->req.path.len :
							sizeof(tmp) - 1;
		memcpy(tmp, x->req.path.p, n);
		tmp[n] = '\0';
		bw_event_add_field(&ev, "url.path", tmp);
	}
	bw_snprintf(num, sizeof(num), "%d", status);
	bw_event_add_field(&ev, "http.response.status_code", num);
	bw_snprintf(num, sizeof(num), "%zu", bytes);
	bw_event_add_field(&ev, "http.response.bytes", num);
	bw_snprintf(num, sizeof(num), "%lld", (long long)us);
	bw_event_add_field(&ev, "event.duration_us", num);
	bw_event_add_field(&ev, "listener", c->srv->name);
	if (x->outcome_reason)
		bw_event_add_field(&ev, "reason", x->outcome_reason);
	(void)bw_event_emit(&ev); /* refusals are counted by the bus */
}

static void finish_exchange(struct net_conn *c)
{
	struct net_exchange *x = c->x;
	c->x = NULL;
	if (x) {
		bw_buf_consume(&c->in, x->consume_after);
		net_exchange_free(x);
	}
	c->head_started = false;
}

/* Writes a canned error, then closes: used for every codec rejection and
 * timeout. */
static void conn_reject(struct net_conn *c, int status, const char *reason)
{
	STAT_ADD(rejected, 1);
	net_stats_count_rejection(reason);
	if (net_log_allowed(c->t)) {
		char st[8];
		bw_snprintf(st, sizeof(st), "%d", status);
		log_kv(BW_LOG_WARN, "http request rejected", "listener",
		       c->srv->name, "client", c->peer_ip, "status", st,
		       "reason", reason, NULL);
	}
	struct bw_event ev;
	bw_event_init(&ev, "web", "http-request-rejected", BW_OUTCOME_FAILURE);
	ev.severity = 4;
	BW_EVENT_SET(&ev, source_ip, c->peer_ip);
	ev.source_port = c->peer_port;
	if (c->x)
		BW_EVENT_SET(&ev, request_id, c->x->request_id);
	bw_event_add_field(&ev, "reason", reason);
	bw_event_add_field(&ev, "listener", c->srv->name);
	(void)bw_event_emit(&ev);

	if (c->x) {
		STAT_ADD(requests, 1);
		STAT_ADD(by_class[status / 100], 1);
	}
	finish_exchange(c);
	bw_buf_fini(&c->in);
	bw_buf_reset(&c->out);
	c->out_pos = 0;
	c->close_after = true;
	if (http_write_error(&c->out, status, reason, false) < 0) {
		net_conn_close(c);
		return;
	}
	c->state = CS_WRITING;
	net_conn_arm(c, c->srv->o.write_timeout_ms);
	conn_do_write(c);
}

void net_add_header(struct net_exchange *x, const char *name, const char *value)
{
	struct bw_err err;
	if (http_write_header(&x->extra, bw_str_make(name, strlen(name)),
			      bw_str_make(value, strlen(value)), &err) < 0)
		log_warnx("dropped invalid response header '%s': %s", name,
			  err.msg);
}

/* Whether part of the request body is still unread: then the next
 * request's start is unknown and the connection must close after the
 * response. */
static bool body_unread(const struct net_exchange *x)
{
	return x->body_mode == NET_BODY_PENDING || x->body_mode == NET_BODY_BUFFER ||
	       x->body_mode == NET_BODY_STREAM || x->tunnel ||
	       (x->body_mode == NET_BODY_DONE && x->body_error);
}

void net_respond(struct net_exchange *x, int status, const char *content_type,
		 const void *body, size_t len)
{
	struct net_conn *c = x->c;
	if (x->stream_id) {
		net_h2_respond(x, status, content_type, body, len);
		return;
	}
	c->busy++;
	if (c->closed) {
		/* Closed (drain deadline, peer gone) while the handler worked:
		 * just release the exchange; net_conn_leave frees the rest. */
		finish_exchange(c);
		net_conn_leave(c);
		return;
	}
	if (c->t->draining || !x->req.keep_alive || body_unread(x))
		c->close_after = true;
	bool head_only = x->req.method == HTTP_METHOD_HEAD;
	struct bw_buf *o = &c->out;
	o->max = NET_MAX_RESPONSE;
	int rc = http_write_status_line(o, status);
	rc |= bw_buf_append_str(o, net_date_header(c->t));
	if (content_type && len > 0)
		rc |= http_write_header_lit(o, "Content-Type", content_type);
	if (status >= 200 && status != 204 && status != 304)
		rc |= http_write_content_length(o, len);
	rc |= http_write_header_lit(o, "X-Request-Id", x->request_id);
	if (x->extra.len)
		rc |= bw_buf_append(o, x->extra.data, x->extra.len);
	if (c->close_after)
		rc |= http_write_header_lit(o, "Connection", "close");
	rc |= http_write_head_end(o);
	if (!head_only && len)
		rc |= bw_buf_append(o, body, len);
	if (rc) {
		log_warnx("response too large for the output buffer");
		bw_buf_reset(o);
		c->close_after = true;
		if (http_write_error(o, 500, "response_too_large", head_only) < 0) {
			finish_exchange(c);
			net_conn_close(c);
			net_conn_leave(c);
			return;
		}
		status = 500;
	}
	net_count_response(x, status, len);
	finish_exchange(c);
	c->state = CS_WRITING;
	net_conn_arm(c, c->srv->o.write_timeout_ms);
	conn_do_write(c);
	net_conn_leave(c);
}

void net_set_outcome_reason(struct net_exchange *x, const char *reason)
{
	x->outcome_reason = reason;
}

const struct http_request *net_request(const struct net_exchange *x)
{
	return &x->req;
}

struct bw_str net_request_body(const struct net_exchange *x)
{
	return bw_str_make(x->bodybuf.data ? x->bodybuf.data : "", x->bodybuf.len);
}

struct bw_arena *net_arena(struct net_exchange *x)
{
	return x->arena;
}

struct loop *net_loop(struct net_exchange *x)
{
	return x->c->t->loop;
}

const char *net_peer_ip(const struct net_exchange *x)
{
	return x->c->peer_ip;
}

uint16_t net_peer_port(const struct net_exchange *x)
{
	return x->c->peer_port;
}

const char *net_request_id(const struct net_exchange *x)
{
	return x->request_id;
}

const char *net_listener_name(const struct net_exchange *x)
{
	return x->c->srv->name;
}

bool net_is_tls(const struct net_exchange *x)
{
	return x->c->ssl != NULL || x->c->park != NULL;
}

const char *net_client_subject(struct net_exchange *x)
{
	if (!x->c->ssl)
		return NULL;
	if (x->client_subject)
		return x->client_subject;
	X509 *peer = SSL_get0_peer_certificate(x->c->ssl);
	if (!peer || SSL_get_verify_result(x->c->ssl) != X509_V_OK)
		return NULL;
	x->client_subject = X509_NAME_oneline(X509_get_subject_name(peer), NULL, 0);
	return x->client_subject;
}

const char *net_alpn(const struct net_exchange *x)
{
	if (!x->c->ssl)
		return NULL;
	const unsigned char *p;
	unsigned n;
	SSL_get0_alpn_selected(x->c->ssl, &p, &n);
	if (!n)
		return NULL;
	char *s = bw_arena_strndup(x->arena, (const char *)p, n);
	return s;
}

/* ------------------------------------------------------ state machine */

static void dispatch(struct net_conn *c)
{
	struct net_exchange *x = c->x;
	c->state = CS_HANDLING;
	loop_timer_cancel(c->t->loop, &c->timer);
	if (x->buf_fn) { /* the body a handler asked for is complete */
		net_handler_fn fn = x->buf_fn;
		x->buf_fn = NULL;
		x->body_mode = NET_BODY_NONE;
		fn(x, x->buf_arg);
	} else {
		c->srv->o.handler(x, c->srv->o.handler_arg);
	}
	/* A handler that answers later leaves the read interest as it is:
	 * keep-alive clients send nothing until they have the answer, so the
	 * common case costs no epoll_ctl at all; bytes that do arrive (a
	 * pipelining client) switch the interest off then (conn_on_io). */
}

static void send_continue(struct net_conn *c)
{
	/* Interim response written straight away; the body is read after.
	 * A short write here would interleave with the final response, so
	 * on a congested socket we simply skip it: clients send the body
	 * anyway after their own timeout (RFC 9110 §10.1.1). */
	char buf[32];
	struct bw_buf b = { .data = buf, .cap = sizeof(buf), .max = sizeof(buf) - 1 };
	if (http_write_continue(&b) == 0)
		(void)net_conn_write(c, b.data, b.len);
}

/* Parses what is in `in` as far as the state allows, handling pipelined
 * requests one after another for as long as handlers answer at once and
 * the answers can be written without waiting. */
static void conn_process(struct net_conn *c)
{
	struct bw_err err;
	while (!c->closed) {
		if (c->state == CS_HEAD) {
			if (c->in.len == 0)
				return;
			if (!c->x) {
				c->x = net_exchange_new(c);
				if (!c->x) {
					conn_reject(c, 503, "out_of_memory");
					return;
				}
			}
			if (!c->head_started) {
				c->head_started = true;
				net_conn_arm(c, c->srv->o.header_timeout_ms);
			}
			struct net_exchange *x = c->x;
			enum http_rc rc = http_req_parser_feed(&x->parser, c->in.data,
							       c->in.len, &x->req, &err);
			if (rc == HTTP_NEED_MORE)
				return;
			if (rc == HTTP_ERROR) {
				conn_reject(c, err.code, err.reason);
				return;
			}
			x->head_done = true;
			if (x->req.framing == HTTP_FRAMING_NONE) {
				x->consume_after = x->req.head_len;
				dispatch(c);
				continue; /* answered at once? then the next one */
			}
			if (x->req.framing == HTTP_FRAMING_LENGTH &&
			    x->req.content_length > c->srv->o.limits.max_body) {
				conn_reject(c, 413, "body_too_large");
				return;
			}
			if (relocate_head(x, c->in.data, x->req.head_len) < 0) {
				conn_reject(c, 431, "header_too_large");
				return;
			}
			bw_buf_consume(&c->in, x->req.head_len);
			http_body_init(&x->body, &c->srv->o.limits, x->req.framing,
				       x->req.content_length,
				       c->srv->o.limits.max_body, NULL, 0, 0);
			x->body_deadline_ms = bw_clock_mono_ms() +
					      (int64_t)c->srv->o.body_timeout_ms;
			if (c->srv->o.dispatch_at_head &&
			    !(x->req.framing == HTTP_FRAMING_LENGTH &&
			      x->req.content_length == 0)) {
				/* the handler chooses; 100-continue waits for it */
				x->body_mode = NET_BODY_PENDING;
				x->consume_after = 0;
				dispatch(c);
				continue;
			}
			c->state = CS_BODY;
			net_conn_arm(c, c->srv->o.body_timeout_ms);
			if (x->req.expect_continue && c->in.len == 0)
				send_continue(c);
		}
		if (c->state == CS_BODY) {
			struct net_exchange *x = c->x;
			size_t consumed = 0;
			enum http_rc rc = http_body_feed_buf(&x->body, c->in.data,
							     c->in.len, &consumed,
							     &x->bodybuf, &err);
			bw_buf_consume(&c->in, consumed);
			if (rc == HTTP_ERROR) {
				conn_reject(c, err.code, err.reason);
				return;
			}
			if (rc == HTTP_NEED_MORE)
				return;
			x->consume_after = 0;
			dispatch(c);
			continue;
		}
		return; /* HANDLING, WRITING, LINGER: wait for them */
	}
}

/* Bytes buffered inside the TLS layer, which epoll cannot see. */
static bool conn_tls_pending(struct net_conn *c)
{
	return (c->ssl && SSL_has_pending(c->ssl)) || (c->park && net_tlsrec_pending(c->park));
}

/* An idle HTTP/1.1 TLS 1.3 connection between requests gives its SSL
 * object (about 13 KB) back and goes on under net_tlsrec. Not when a
 * client certificate identifies it (handlers read it from the SSL), not
 * with h2 (its own session), not with anything half-read or half-sent. */
static void conn_park(struct net_conn *c)
{
	if (!c->ssl || c->state != CS_HEAD || c->head_started || c->in.len ||
	    c->out_pos < c->out.len || c->x || !net_tls_parking(c->srv->o.tls) ||
	    SSL_get0_peer_certificate(c->ssl) || !net_tlsrec_can_park(c->ssl))
		return;
	const unsigned char *alpn;
	unsigned alen;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen && !(alen == 8 && memcmp(alpn, "http/1.1", 8) == 0))
		return;
	c->park = net_tlsrec_park(c->ssl);
	c->ssl = NULL;
	c->ssl_want_write = false;
	if (!c->park)
		net_conn_close(c); /* the SSL is gone: nothing else to do */
	else
		STAT_ADD(tls_parked, 1);
}

static void conn_do_read(struct net_conn *c)
{
	while (!c->closed && (c->state == CS_HEAD || c->state == CS_BODY)) {
		ssize_t n = net_conn_read(c);
		if (n > 0) {
			bool drained = c->short_read && !conn_tls_pending(c);
			conn_process(c);
			/* A short read emptied the socket: epoll (level-
			 * triggered) says when more comes, so no read is
			 * spent on EAGAIN. */
			if (drained && !c->closed &&
			    (c->state == CS_HEAD || c->state == CS_BODY)) {
				if (c->in.len == 0) {
					bw_buf_fini(&c->in);
					conn_park(c);
					if (c->closed)
						return;
				}
				net_conn_update_interest(c);
				return;
			}
			continue;
		}
		if (n == 0) { /* peer closed */
			if (c->head_started && c->state == CS_HEAD && c->in.len)
				STAT_ADD(rejected, 1);
			net_conn_close(c);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (c->in.len == 0) {
				bw_buf_fini(&c->in); /* idle: give memory back */
				conn_park(c);
				if (c->closed)
					return;
			}
			net_conn_update_interest(c);
			return;
		}
		if (errno == ENOBUFS) {
			conn_reject(c, 431, "header_too_large");
			return;
		}
		net_conn_close(c);
		return;
	}
}

static void conn_after_response(struct net_conn *c)
{
	bw_buf_fini(&c->out);
	c->out_pos = 0;
	if (c->close_after) {
		/* Lingering close: send FIN (and TLS close_notify) but keep
		 * reading briefly, so a client still sending is not answered
		 * with a RST that would destroy our response in flight. */
		if (c->ssl)
			(void)SSL_shutdown(c->ssl);
		else if (c->park)
			net_tlsrec_close_notify(c->park, c->io.fd);
		shutdown(c->io.fd, SHUT_WR);
		c->state = CS_LINGER;
		bw_buf_fini(&c->in);
		net_conn_arm(c, 2000);
		net_conn_update_interest(c);
		return;
	}
	c->state = CS_HEAD;
	net_conn_arm(c, c->srv->o.idle_timeout_ms);
	net_conn_update_interest(c);
	if (c->busy > 1)
		return; /* an outer conn_process continues with what is buffered */
	conn_process(c); /* pipelined bytes first */
	/* Bytes OpenSSL already holds are invisible to epoll: read them now.
	 * Anything still in the socket raises EPOLLIN by itself. */
	if (!c->closed && conn_tls_pending(c))
		conn_do_read(c);
	else if (!c->closed)
		conn_park(c);
}

static void conn_do_write(struct net_conn *c)
{
	if (c->closed)
		return;
	while (c->out_pos < c->out.len) {
		ssize_t w = net_conn_write(c, c->out.data + c->out_pos,
				       c->out.len - c->out_pos);
		if (w > 0) {
			c->out_pos += (size_t)w;
			net_conn_arm(c, c->srv->o.write_timeout_ms);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			net_conn_update_interest(c);
			return;
		}
		net_conn_close(c);
		return;
	}
	conn_after_response(c);
}

static void conn_do_linger(struct net_conn *c)
{
	char sink[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(c->io.fd, sink, sizeof(sink));
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	net_conn_close(c);
}


/* ------------------------------------------------------------ streaming */

/* Whether the connection reads for the handler now: a streamed request
 * body or a tunnel that is neither paused nor finished. */
static bool stream_reading(const struct net_conn *c)
{
	const struct net_exchange *x = c->x;
	if (c->state != CS_STREAM || !x || x->body_paused)
		return false;
	if (x->tunnel)
		return !x->tunnel_eof;
	return x->body_mode == NET_BODY_STREAM;
}

/* The one timer of a streaming connection: the tunnel's idle time, else
 * the body deadline while a body is read, else the write timeout while
 * bytes wait; nothing while the handler alone is working. */
static void stream_arm(struct net_conn *c)
{
	struct net_exchange *x = c->x;
	if (!x || c->closed)
		return;
	if (x->tunnel) {
		net_conn_arm(c, x->tunnel_idle_ms);
	} else if (x->body_mode == NET_BODY_STREAM) {
		int64_t left = x->body_deadline_ms - bw_clock_mono_ms();
		net_conn_arm(c, left > 0 ? (uint64_t)left : 0);
	} else if (c->out_pos < c->out.len) {
		net_conn_arm(c, c->srv->o.write_timeout_ms);
	} else {
		loop_timer_cancel(c->loop, &c->timer);
	}
}

/* Ends a streamed body with an error the handler hears about through its
 * body callback. */
static void body_fail(struct net_conn *c, const char *reason)
{
	struct net_exchange *x = c->x;
	STAT_ADD(rejected, 1);
	net_stats_count_rejection(reason);
	x->body_error = reason;
	x->body_mode = NET_BODY_DONE;
	c->close_after = true;
	if (x->body_fn)
		x->body_fn(x->body_arg, NULL, 0, true);
}

/* Hands what `in` holds to the body callback until it pauses, the body
 * ends or the exchange is gone. Callbacks may end the exchange. */
static void stream_feed(struct net_conn *c)
{
	struct net_exchange *x = c->x;
	if (!x || x->feeding)
		return;
	x->feeding = true;
	while (!c->closed && c->x == x && x->body_mode == NET_BODY_STREAM &&
	       !x->body_paused && x->body_fn) {
		if (x->tunnel) {
			size_t n = c->in.len;
			if (n == 0)
				break;
			x->body_fn(x->body_arg, c->in.data, n, false);
			if (c->closed || c->x != x)
				return; /* x is gone: no flag to reset */
			bw_buf_consume(&c->in, n);
			continue;
		}
		struct bw_err err;
		struct bw_str d = { 0 };
		size_t used = 0;
		enum http_rc rc = http_body_feed(&x->body, c->in.data, c->in.len,
						 &used, &d, &err);
		if (rc == HTTP_ERROR) {
			x->feeding = false;
			body_fail(c, err.reason);
			return;
		}
		if (d.len) {
			x->body_fn(x->body_arg, d.p, d.len, false);
			if (c->closed || c->x != x)
				return;
		}
		bw_buf_consume(&c->in, used);
		if (rc == HTTP_DONE) {
			x->body_mode = NET_BODY_DONE;
			x->body_fn(x->body_arg, NULL, 0, true);
			if (c->closed || c->x != x)
				return;
			break;
		}
		if (used == 0 && d.len == 0)
			break; /* NEED_MORE */
	}
	x->feeding = false;
	if (!c->closed && c->x == x) {
		stream_arm(c);
		net_conn_update_interest(c);
	}
}

/* Writes what is queued; never calls the handler. False when the
 * connection was closed. */
static bool stream_write(struct net_conn *c)
{
	while (c->out_pos < c->out.len) {
		ssize_t w = net_conn_write(c, c->out.data + c->out_pos,
					   c->out.len - c->out_pos);
		if (w > 0) {
			c->out_pos += (size_t)w;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		net_conn_close(c);
		return false;
	}
	if (c->out_pos == c->out.len) {
		bw_buf_reset(&c->out);
		c->out_pos = 0;
	}
	return true;
}

static void stream_read(struct net_conn *c)
{
	/* Bytes OpenSSL already holds are invisible to epoll: past the
	 * fairness bound, go on while it has some. */
	for (int i = 0; stream_reading(c) &&
			(i < 16 || (conn_tls_pending(c)));
	     i++) {
		ssize_t n = net_conn_read(c);
		if (n > 0) {
			if (c->x->tunnel)
				stream_arm(c);
			stream_feed(c);
			continue;
		}
		if (n == 0) {
			struct net_exchange *x = c->x;
			if (x->tunnel) { /* half-close: the other way may go on */
				x->tunnel_eof = true;
				x->body_fn(x->body_arg, NULL, 0, true);
				return;
			}
			x->body_error = "client_closed";
			net_conn_close(c);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		net_conn_close(c);
		return;
	}
}

static void stream_on_io(struct net_conn *c, uint32_t revents)
{
	struct net_exchange *x = c->x;
	bool had_out = c->out_pos < c->out.len;
	if (!stream_write(c))
		return;
	if (had_out && c->out.len == 0 && x->wr_fn) {
		net_writable_fn fn = x->wr_fn;
		x->wr_fn = NULL;
		fn(x->wr_arg, false);
		if (c->closed || c->state != CS_STREAM || c->x != x)
			return;
	}
	if (stream_reading(c)) {
		stream_read(c);
	} else if (revents & (EPOLLHUP | EPOLLERR)) {
		/* nobody reads: a hang-up must not spin the loop */
		net_conn_close(c);
		return;
	}
	if (!c->closed && c->state == CS_STREAM && c->x == x) {
		if (x->tunnel && (revents & EPOLLOUT) && had_out)
			stream_arm(c); /* progress keeps a tunnel alive */
		else if (!x->tunnel)
			stream_arm(c);
		net_conn_update_interest(c);
	}
}

static void stream_on_timer(struct net_conn *c)
{
	struct net_exchange *x = c->x;
	STAT_ADD(timeouts, 1);
	if (x && x->body_mode == NET_BODY_STREAM && !x->tunnel) {
		body_fail(c, "body_timeout");
		return;
	}
	if (x)
		x->body_error = x->tunnel ? "tunnel_idle" : "write_timeout";
	net_conn_close(c);
}

/* Runs from the timer net_conn_close armed: the handler that owns a
 * streaming exchange of a closed connection hears that the client left. */
static void notify_gone(struct net_conn *c)
{
	if (c->h2) {
		net_h2_kick(c);
		return;
	}
	struct net_exchange *x = c->x;
	if (!x || !x->gone)
		return;
	if (x->body_fn && (x->body_mode == NET_BODY_STREAM ||
			   (x->tunnel && !x->tunnel_eof))) {
		if (!x->body_error)
			x->body_error = "client_closed";
		x->body_mode = NET_BODY_DONE;
		x->tunnel_eof = true;
		x->body_fn(x->body_arg, NULL, 0, true);
		return;
	}
	if (x->wr_fn) {
		net_writable_fn fn = x->wr_fn;
		x->wr_fn = NULL;
		fn(x->wr_arg, true);
	}
}

bool net_request_body_pending(const struct net_exchange *x)
{
	return x->body_mode == NET_BODY_PENDING;
}

bool net_request_body_failed(const struct net_exchange *x, const char **reason)
{
	if (reason)
		*reason = x->body_error;
	return x->body_error != NULL;
}

void net_request_body_buffer(struct net_exchange *x, net_handler_fn fn, void *arg)
{
	struct net_conn *c = x->c;
	x->buf_fn = fn;
	x->buf_arg = arg;
	if (x->stream_id) {
		net_h2_body_choose(x);
		return;
	}
	if (x->body_mode != NET_BODY_PENDING || c->closed) {
		/* nothing to read (or nobody to read from): go on at once */
		x->buf_fn = NULL;
		if (!c->closed)
			fn(x, arg);
		else
			net_respond(x, 503, NULL, NULL, 0); /* releases x */
		return;
	}
	x->body_mode = NET_BODY_BUFFER;
	c->busy++;
	c->state = CS_BODY;
	int64_t left = x->body_deadline_ms - bw_clock_mono_ms();
	net_conn_arm(c, left > 0 ? (uint64_t)left : 0);
	if (x->req.expect_continue && c->in.len == 0)
		send_continue(c);
	if (c->busy == 1) { /* not inside conn_process: drive it here */
		conn_process(c);
		if (!c->closed && conn_tls_pending(c) &&
		    c->state == CS_BODY)
			conn_do_read(c);
	}
	if (!c->closed && c->state == CS_BODY)
		net_conn_update_interest(c);
	net_conn_leave(c);
}

void net_request_body_stream(struct net_exchange *x, net_body_fn fn, void *arg)
{
	struct net_conn *c = x->c;
	x->body_fn = fn;
	x->body_arg = arg;
	if (x->stream_id) {
		net_h2_body_choose(x);
		return;
	}
	if (x->body_mode != NET_BODY_PENDING) {
		x->body_mode = NET_BODY_DONE;
		fn(arg, NULL, 0, true);
		return;
	}
	x->body_mode = NET_BODY_STREAM;
	c->busy++;
	if (!c->closed) {
		c->state = CS_STREAM;
		if (x->req.expect_continue && c->in.len == 0)
			send_continue(c);
		stream_feed(c);
		if (!c->closed && conn_tls_pending(c))
			stream_read(c);
	} else {
		x->gone = true;
		notify_gone(c);
	}
	net_conn_leave(c);
}

void net_request_body_pause(struct net_exchange *x)
{
	x->body_paused = true;
	if (x->stream_id || x->c->closed)
		return;
	net_conn_update_interest(x->c);
}

void net_request_body_resume(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	if (!x->body_paused)
		return;
	x->body_paused = false;
	if (x->stream_id) {
		c->busy++;
		net_h2_kick(c);
		net_conn_leave(c);
		return;
	}
	if (c->closed)
		return;
	c->busy++;
	stream_feed(c); /* bytes already buffered first */
	if (!c->closed && c->x == x && conn_tls_pending(c))
		stream_read(c);
	if (!c->closed && c->x == x)
		net_conn_update_interest(c);
	net_conn_leave(c);
}

void net_respond_start(struct net_exchange *x, int status, const char *content_type,
		       int64_t length)
{
	struct net_conn *c = x->c;
	x->rs_started = true;
	x->rs_status = status;
	if (x->stream_id) {
		net_h2_respond_start(x, status, content_type, length);
		return;
	}
	if (c->closed)
		return;
	c->busy++;
	bool head_only = x->req.method == HTTP_METHOD_HEAD;
	bool bodyless = status < 200 || status == 204 || status == 304;
	x->rs_head_only = head_only || bodyless;
	if (c->t->draining || !x->req.keep_alive || body_unread(x))
		c->close_after = true;
	if (length < 0 && !x->rs_head_only) {
		if (x->req.version_minor >= 1)
			x->rs_chunked = true;
		else
			c->close_after = true; /* the close ends the body */
	}
	struct bw_buf *o = &c->out;
	o->max = NET_MAX_RESPONSE;
	if (c->out_pos == c->out.len) {
		bw_buf_reset(o);
		c->out_pos = 0;
	}
	int rc = http_write_status_line(o, status);
	rc |= bw_buf_append_str(o, net_date_header(c->t));
	if (content_type)
		rc |= http_write_header_lit(o, "Content-Type", content_type);
	if (length >= 0 && !bodyless)
		rc |= http_write_content_length(o, (uint64_t)length);
	if (x->rs_chunked)
		rc |= http_write_header_lit(o, "Transfer-Encoding", "chunked");
	rc |= http_write_header_lit(o, "X-Request-Id", x->request_id);
	if (x->extra.len)
		rc |= bw_buf_append(o, x->extra.data, x->extra.len);
	if (c->close_after && !x->tunnel) /* a 101 names the upgrade */
		rc |= http_write_header_lit(o, "Connection", "close");
	rc |= http_write_head_end(o);
	if (rc) {
		log_warnx("streamed response head too large");
		x->gone = true;
		net_conn_close(c);
		net_conn_leave(c);
		return;
	}
	/* The head waits for the first body bytes, the end or a flush, so a
	 * small response leaves in one write. */
	c->state = CS_STREAM;
	stream_arm(c);
	net_conn_leave(c);
}

int net_respond_data(struct net_exchange *x, const void *p, size_t n)
{
	struct net_conn *c = x->c;
	if (!x->rs_started || x->rs_ended)
		return -1;
	if (x->stream_id)
		return net_h2_respond_data(x, p, n);
	if (c->closed || x->gone)
		return -1;
	if ((x->rs_head_only && !x->tunnel) || n == 0)
		return 0;
	if (c->out_pos) {
		bw_buf_consume(&c->out, c->out_pos);
		c->out_pos = 0;
	}
	int rc = x->rs_chunked ? http_write_chunk(&c->out, p, n) :
				 bw_buf_append(&c->out, p, n);
	if (rc < 0)
		return -1;
	x->rs_bytes += n;
	c->busy++;
	bool was_idle = !loop_timer_armed(&c->timer);
	/* Small pieces gather until the end, a flush or a chunk's worth:
	 * fewer writes for the common small response. */
	bool wrote = c->out.len - c->out_pos >= NET_STREAM_CHUNK;
	bool ok = !wrote || stream_write(c);
	if (ok && (was_idle || x->tunnel || c->out.len == 0))
		stream_arm(c); /* tunnels: outgoing bytes are activity too */
	if (ok && wrote)
		net_conn_update_interest(c);
	net_conn_leave(c);
	return ok ? 0 : -1;
}

void net_respond_flush(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	if (x->stream_id || !x->rs_started || x->rs_ended || c->closed ||
	    c->out_pos == c->out.len)
		return;
	c->busy++;
	if (stream_write(c)) {
		stream_arm(c);
		net_conn_update_interest(c);
	}
	net_conn_leave(c);
}

size_t net_respond_pending(const struct net_exchange *x)
{
	if (x->stream_id)
		return net_h2_pending(x);
	return x->c->out.len - x->c->out_pos;
}

void net_on_writable(struct net_exchange *x, net_writable_fn fn, void *arg)
{
	x->wr_fn = fn;
	x->wr_arg = arg;
	if (x->stream_id)
		return;
	struct net_conn *c = x->c;
	if (c->closed && !loop_timer_armed(&c->timer)) {
		x->gone = true; /* closed before: still say it from the loop */
		if (loop_timer_arm(c->loop, &c->timer, 0) < 0)
			log_warnx("timer table full; a streaming handler is not told");
	}
}

void net_respond_end(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	x->rs_ended = true;
	if (x->stream_id) {
		net_h2_respond_end(x);
		return;
	}
	c->busy++;
	if (c->closed) {
		finish_exchange(c);
		net_conn_leave(c);
		return;
	}
	if (x->tunnel || body_unread(x))
		c->close_after = true;
	if (x->rs_chunked && !x->rs_head_only &&
	    http_write_last_chunk(&c->out, NULL, 0) < 0) {
		finish_exchange(c);
		net_conn_close(c);
		net_conn_leave(c);
		return;
	}
	net_count_response(x, x->rs_status, (size_t)x->rs_bytes);
	finish_exchange(c);
	c->state = CS_WRITING;
	net_conn_arm(c, c->srv->o.write_timeout_ms);
	conn_do_write(c);
	net_conn_leave(c);
}

void net_abort(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	if (x->stream_id) {
		net_h2_abort(x);
		return;
	}
	c->busy++;
	if (!c->closed) {
		net_count_response(x, x->rs_started ? x->rs_status : 502,
				   (size_t)x->rs_bytes);
		net_conn_close(c);
	}
	finish_exchange(c);
	net_conn_leave(c);
}

int net_upgrade(struct net_exchange *x, uint64_t idle_ms, net_body_fn fn, void *arg)
{
	struct net_conn *c = x->c;
	if (x->stream_id || !x->req.upgrade || x->req.framing != HTTP_FRAMING_NONE ||
	    c->closed || x->rs_started)
		return -1;
	/* The head still lives in `in`, where the client's first tunnel
	 * bytes may follow it: move it out, then drop it. */
	if (relocate_head(x, c->in.data, x->req.head_len) < 0)
		return -1;
	bw_buf_consume(&c->in, x->req.head_len);
	x->consume_after = 0;
	x->tunnel = true;
	x->tunnel_idle_ms = idle_ms ? idle_ms : c->srv->o.idle_timeout_ms;
	x->body_mode = NET_BODY_STREAM;
	x->body_fn = fn;
	x->body_arg = arg;
	net_respond_start(x, 101, NULL, -1);
	net_respond_flush(x);
	if (c->closed)
		return 0; /* the handler hears it through fn */
	c->busy++;
	stream_feed(c);
	if (!c->closed && c->x == x && conn_tls_pending(c))
		stream_read(c);
	net_conn_leave(c);
	return 0;
}

static void conn_do_handshake(struct net_conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->ssl_want_write = false;
		const unsigned char *proto;
		unsigned plen;
		SSL_get0_alpn_selected(c->ssl, &proto, &plen);
		if (plen == 2 && memcmp(proto, "h2", 2) == 0) {
			if (net_h2_start(c) < 0) {
				net_conn_close(c);
				return;
			}
			net_conn_arm(c, c->srv->o.idle_timeout_ms);
			net_h2_on_io(c, EPOLLIN);
			return;
		}
		c->state = CS_HEAD;
		conn_do_read(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
		net_conn_update_interest(c);
		return;
	}
	STAT_ADD(tls_fail, 1);
	if (net_log_allowed(c->t)) {
		unsigned long code = ERR_peek_last_error();
		char msg[128] = "connection closed";
		if (code)
			ERR_error_string_n(code, msg, sizeof(msg));
		log_kv(BW_LOG_INFO, "tls handshake failed", "listener",
		       c->srv->name, "client", c->peer_ip, "error", msg, NULL);
	}
	ERR_clear_error();
	net_conn_close(c);
}

void net_conn_update_interest(struct net_conn *c)
{
	uint32_t ev = 0;
	switch (c->state) {
	case CS_HANDSHAKE:
	case CS_HEAD:
	case CS_BODY:
		ev = c->ssl_want_write ? EPOLLOUT : EPOLLIN;
		break;
	case CS_WRITING:
		ev = EPOLLOUT;
		break;
	case CS_LINGER:
		ev = EPOLLIN;
		break;
	case CS_HANDLING:
		ev = 0;
		break;
	case CS_H2:
		ev = net_h2_interest(c);
		break;
	case CS_STREAM:
		if (c->out_pos < c->out.len || c->ssl_want_write)
			ev |= EPOLLOUT;
		if (stream_reading(c) && !c->ssl_want_write)
			ev |= EPOLLIN;
		break;
	}
	if (loop_io_mod(c->t->loop, &c->io, ev) < 0)
		log_warn("epoll_ctl");
}

static void conn_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct net_conn *c = io->data;
	c->busy++;
	if (c->state == CS_HANDLING) {
		/* Pipelined bytes while the handler works: stop reading until
		 * it answered (they wait in the socket). A hang-up: stop
		 * watching so a level-triggered HUP does not spin; the handler
		 * will respond into a closed socket and the write fails. */
		if (revents & (EPOLLHUP | EPOLLERR))
			loop_io_del(l, io);
		else if (loop_io_mod(l, io, 0) < 0)
			log_warn("epoll_ctl");
		net_conn_leave(c);
		return;
	}
	switch (c->state) {
	case CS_HANDSHAKE:
		conn_do_handshake(c);
		break;
	case CS_HEAD:
	case CS_BODY:
		conn_do_read(c);
		break;
	case CS_WRITING:
		conn_do_write(c);
		break;
	case CS_LINGER:
		conn_do_linger(c);
		break;
	case CS_H2:
		net_h2_on_io(c, revents);
		break;
	case CS_STREAM:
		stream_on_io(c, revents);
		break;
	}
	net_conn_leave(c);
}

static void conn_on_timer(struct loop *l, struct loop_timer *tm)
{
	struct net_conn *c = tm->data;
	c->busy++;
	if (c->closed) { /* armed by net_conn_close: tell the handler */
		notify_gone(c);
		net_conn_leave(c);
		return;
	}
	switch (c->state) {
	case CS_HANDSHAKE:
		STAT_ADD(timeouts, 1);
		net_conn_close(c);
		break;
	case CS_HEAD:
		if (!c->head_started) { /* idle keep-alive expiry */
			net_conn_close(c);
			break;
		}
		STAT_ADD(timeouts, 1);
		conn_reject(c, 408, "header_timeout");
		break;
	case CS_BODY:
		STAT_ADD(timeouts, 1);
		conn_reject(c, 408, "body_timeout");
		break;
	case CS_WRITING:
		STAT_ADD(timeouts, 1);
		net_conn_close(c);
		break;
	case CS_LINGER:
		net_conn_close(c);
		break;
	case CS_HANDLING:
		break;
	case CS_H2:
		/* No stream for the idle timeout (or a write stalled). */
		net_conn_close(c);
		break;
	case CS_STREAM:
		stream_on_timer(c);
		break;
	}
	net_conn_leave(c);
}

static void thread_check_drained(struct net_thread *t)
{
	if (t->draining && t->nconns == 0 && t->drain_done) {
		void (*done)(void *) = t->drain_done;
		t->drain_done = NULL;
		loop_timer_cancel(t->loop, &t->drain_timer);
		done(t->drain_arg);
	}
}

/* Frees c once nothing refers to it any more. */
void net_conn_maybe_free(struct net_conn *c)
{
	if (!c->closed || c->busy > 0 || c->x || net_h2_busy(c))
		return;
	loop_timer_cancel(c->loop, &c->timer); /* a pending notification */
	net_h2_free(c);
	bw_buf_fini(&c->in);
	bw_buf_fini(&c->out);
	net_http_server_unref(c->srv);
	free(c);
}

void net_conn_leave(struct net_conn *c)
{
	c->busy--;
	net_conn_maybe_free(c);
}

/* Closes the socket and unlinks c from its thread at once; the memory
 * waits for net_conn_maybe_free. An exchange a handler still owns (HANDLING)
 * is released by net_respond; any other is released here. */
void net_conn_close(struct net_conn *c)
{
	if (c->closed)
		return;
	struct net_thread *t = c->t;
	c->closed = true;
	if (c->h2)
		net_h2_close(c);
	loop_timer_cancel(t->loop, &c->timer);
	loop_io_del(t->loop, &c->io);
	if (c->park)
		atomic_fetch_sub(&stats.tls_parked, 1);
	net_tlsrec_free(c->park);
	c->park = NULL;
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->io.fd);
	c->io.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	t->nconns--;
	atomic_fetch_sub(&stats.active_conns, 1);
	if (c->state != CS_HANDLING && c->state != CS_STREAM)
		finish_exchange(c);
	else if (c->x && (c->x->body_fn || c->x->wr_fn))
		c->x->gone = true;
	if ((c->h2 && net_h2_busy(c)) || (c->x && c->x->gone)) {
		/* The handler learns it from the loop, never from inside
		 * the net_* call it may be making right now. */
		if (loop_timer_arm(c->loop, &c->timer, 0) < 0)
			log_warnx("timer table full; a streaming handler is not told");
	}
	net_conn_maybe_free(c);
	thread_check_drained(t);
}

/* ------------------------------------------------------------- accept */

static void listener_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct net_listener *ls = io->data;
	struct net_thread *t = ls->t;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    net_log_allowed(t))
				log_warn("accept on %s", ls->name);
			return;
		}
		struct net_http_server *s = ls->srv;
		struct net_conn *c = NULL;
		if (t->nconns >= s->o.max_conns || t->draining ||
		    !(c = calloc(1, sizeof(*c)))) {
			STAT_ADD(refused_conns, 1);
			close(fd);
			continue;
		}
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->t = t;
		c->loop = t->loop;
		c->srv = s;
		net_http_server_ref(s);
		c->io.fd = fd;
		c->io.cb = conn_on_io;
		c->io.data = c;
		loop_timer_init(&c->timer, conn_on_timer, c);
		bw_buf_init(&c->in, s->o.limits.max_header_bytes + 2 * NET_READ_CHUNK);
		bw_buf_init(&c->out, NET_MAX_RESPONSE);
		net_sockaddr_format(&ss, c->peer_ip, &c->peer_port);
		c->next = t->conns;
		if (t->conns)
			t->conns->prev = c;
		t->conns = c;
		t->nconns++;
		STAT_ADD(accepted, 1);
		STAT_ADD(active_conns, 1);
		if (s->o.tls) {
			c->ssl = net_tls_session_new(s->o.tls, fd);
			if (!c->ssl) {
				net_conn_close(c);
				continue;
			}
			/* Streamed output is compacted and grows while a write
			 * waits: OpenSSL must accept the retry from a moved
			 * buffer (the same bytes, at least as many). */
			SSL_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
			c->state = CS_HANDSHAKE;
		} else {
			c->state = CS_HEAD;
		}
		if (loop_io_add(l, &c->io, EPOLLIN) < 0) {
			net_conn_close(c);
			continue;
		}
		net_conn_arm(c, s->o.header_timeout_ms);
	}
}

/* ------------------------------------------------------------- threads */

struct net_thread *net_thread_new(struct loop *l, struct bw_err *err)
{
	struct net_thread *t = calloc(1, sizeof(*t));
	if (!t) {
		bw_err_set(err, 500, "net", "nomem", "out of memory");
		return NULL;
	}
	t->loop = l;
	loop_timer_init(&t->drain_timer, NULL, t);
	return t;
}

static void listener_close(struct net_thread *t, struct net_listener *ls)
{
	loop_io_del(t->loop, &ls->io);
	close(ls->io.fd);
	net_http_server_unref(ls->srv);
	free(ls);
}

void net_thread_free(struct net_thread *t)
{
	if (!t)
		return;
	while (t->listeners) {
		struct net_listener *ls = t->listeners;
		t->listeners = ls->next;
		listener_close(t, ls);
	}
	t->drain_done = NULL;
	while (t->conns)
		net_conn_close(t->conns);
	loop_timer_cancel(t->loop, &t->drain_timer);
	free(t);
}

int net_thread_listen(struct net_thread *t, const char *name, int fd,
		      struct net_http_server *s, struct bw_err *err)
{
	struct net_listener *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return bw_err_set(err, 500, "net", "nomem", "out of memory");
	ls->t = t;
	ls->srv = s;
	net_http_server_ref(s);
	bw_event_set(ls->name, sizeof(ls->name), name);
	ls->io.fd = fd;
	ls->io.cb = listener_on_io;
	ls->io.data = ls;
	if (loop_io_add(t->loop, &ls->io, EPOLLIN) < 0) {
		int saved = errno;
		net_http_server_unref(s);
		free(ls);
		return bw_err_set(err, 500, "net", "epoll", "epoll_ctl: %s",
				  strerror(saved));
	}
	ls->next = t->listeners;
	t->listeners = ls;
	return 0;
}

int net_thread_swap_server(struct net_thread *t, const char *name,
			   struct net_http_server *s)
{
	for (struct net_listener *ls = t->listeners; ls; ls = ls->next) {
		if (strcmp(ls->name, name) == 0) {
			net_http_server_ref(s);
			net_http_server_unref(ls->srv);
			ls->srv = s;
			return 0;
		}
	}
	return -1;
}

void net_thread_unlisten(struct net_thread *t, const char *name)
{
	struct net_listener **pp = &t->listeners;
	while (*pp) {
		struct net_listener *ls = *pp;
		if (strcmp(ls->name, name) == 0) {
			*pp = ls->next;
			listener_close(t, ls);
			return;
		}
		pp = &ls->next;
	}
}

static void drain_deadline(struct loop *l, struct loop_timer *tm)
{
	struct net_thread *t = tm->data;
	if (t->nconns)
		log_warnx("shutdown deadline: closing %zu connections", t->nconns);
	while (t->conns)
		net_conn_close(t->conns);
}

void net_thread_drain(struct net_thread *t, uint64_t deadline_ms,
		      void (*done)(void *), void *arg)
{
	t->draining = true;
	t->drain_done = done;
	t->drain_arg = arg;
	while (t->listeners) {
		struct net_listener *ls = t->listeners;
		t->listeners = ls->next;
		listener_close(t, ls);
	}
	/* Close what is idle now; busy connections get Connection: close
	 * on their response and close after it. */
	struct net_conn *c = t->conns;
	while (c) {
		struct net_conn *next = c->next;
		c->close_after = true;
		if (c->state == CS_H2) {
			net_h2_drain(c);
			c = next;
			continue;
		}
		if ((c->state == CS_HEAD && !c->head_started) ||
		    c->state == CS_HANDSHAKE || c->state == CS_LINGER)
			net_conn_close(c);
		c = next;
	}
	t->drain_timer.cb = drain_deadline;
	if (t->drain_done && loop_timer_arm(t->loop, &t->drain_timer,
					    (int64_t)deadline_ms) < 0)
		drain_deadline(t->loop, &t->drain_timer);
	thread_check_drained(t);
}

size_t net_thread_conns(const struct net_thread *t)
{
	return t->nconns;
}
