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
	_Atomic uint64_t accepted, refused_conns, active_conns, tls_fail;
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
	if (c->ssl) {
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
	bw_snprintf(x->request_id, sizeof(x->request_id), "%s%012llx",
		    t->reqid_prefix, (unsigned long long)++t->reqid_counter);
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
	if (c->t->draining || !x->req.keep_alive)
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
	return x->c->ssl != NULL;
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
	c->state = CS_HANDLING;
	loop_timer_cancel(c->t->loop, &c->timer);
	c->srv->o.handler(c->x, c->srv->o.handler_arg);
	/* Only a handler that answers later makes us stop reading; one that
	 * answered already costs no epoll_ctl at all. */
	if (!c->closed && c->state == CS_HANDLING)
		net_conn_update_interest(c);
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

static void conn_do_read(struct net_conn *c)
{
	while (!c->closed && (c->state == CS_HEAD || c->state == CS_BODY)) {
		ssize_t n = net_conn_read(c);
		if (n > 0) {
			bool drained = c->short_read &&
				       !(c->ssl && SSL_has_pending(c->ssl));
			conn_process(c);
			/* A short read emptied the socket: epoll (level-
			 * triggered) says when more comes, so no read is
			 * spent on EAGAIN. */
			if (drained && !c->closed &&
			    (c->state == CS_HEAD || c->state == CS_BODY)) {
				if (c->in.len == 0)
					bw_buf_fini(&c->in);
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
			if (c->in.len == 0)
				bw_buf_fini(&c->in); /* idle: give memory back */
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
	if (!c->closed && c->ssl && SSL_has_pending(c->ssl))
		conn_do_read(c);
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
	}
	if (loop_io_mod(c->t->loop, &c->io, ev) < 0)
		log_warn("epoll_ctl");
}

static void conn_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct net_conn *c = io->data;
	c->busy++;
	if (c->state == CS_HANDLING) {
		/* Only HUP/ERR arrive with no interest. Stop watching so a
		 * level-triggered hang-up does not spin; the handler will
		 * respond into a closed socket and the write fails. */
		loop_io_del(l, io);
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
	}
	net_conn_leave(c);
}

static void conn_on_timer(struct loop *l, struct loop_timer *tm)
{
	struct net_conn *c = tm->data;
	c->busy++;
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
	if (c->state != CS_HANDLING)
		finish_exchange(c);
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
