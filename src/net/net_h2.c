/*
 * HTTP/2 towards clients (RFC 9113) with nghttp2, chosen by ALPN "h2" on
 * TLS listeners. Each stream becomes a struct net_exchange handed to the
 * same handler as HTTP/1.1 requests, so handlers never know which protocol
 * carried a request.
 *
 * Invariants:
 *  - nghttp2 does the framing, HPACK and its own protocol validation
 *    (pseudo-headers, forbidden connection headers, content-length vs
 *    DATA); bulwark adds its limits: header count and bytes, body size
 *    (413), concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS);
 *  - a stream's exchange lives until its response has been sent and the
 *    stream closed, or — when the client resets the stream or the
 *    connection closes while a handler still owns the exchange — until the
 *    handler answers into the void (net_respond frees it);
 *  - everything nghttp2 wants to send goes through c->out with the same
 *    bounded buffer and write path as HTTP/1.1.
 */
#include "net/net_int.h"
#include "event/event.h"
#include "net/net_limits.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#define H2_MAX_STREAMS 100
#define H2_OUT_HIGH_WATER (256 * 1024) /* stop reading while out is larger */

struct net_h2 {
	nghttp2_session *s;
	bool in_recv; /* inside nghttp2_session_mem_recv: no send, no close */
	struct net_exchange *streams; /* exchanges not yet released */
	size_t orphans;               /* handler-owned after close/reset */
	bool goaway;
};

/* Per-exchange HTTP/2 request state kept in the arena. */
struct h2_req {
	struct bw_str method, path, scheme, authority;
	size_t header_bytes;
	uint64_t body_total; /* DATA bytes received: bounded by max_body */
	bool dispatched, responded, cancelled, too_large, bad;
	bool early;    /* dispatched at the end of the head (body follows) */
	bool told;     /* a streaming handler heard that the stream is gone */
	bool provider; /* a data provider streams the response */
};

static struct h2_req *req_of(struct net_exchange *x)
{
	return x->h2req;
}

static void unlink_stream(struct net_conn *c, struct net_exchange *x)
{
	struct net_exchange **pp = &c->h2->streams;
	while (*pp && *pp != x)
		pp = &(*pp)->h2_next;
	if (*pp)
		*pp = x->h2_next;
	x->h2_next = NULL;
}

static void release(struct net_conn *c, struct net_exchange *x)
{
	unlink_stream(c, x);
	net_exchange_free(x);
}

/* ------------------------------------------------------------ callbacks */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct net_conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (c->t->draining || c->h2->goaway)
		return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
						 NGHTTP2_REFUSED_STREAM) == 0 ?
			       0 : NGHTTP2_ERR_CALLBACK_FAILURE;
	struct net_exchange *x = net_exchange_new(c);
	if (!x)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	struct h2_req *r = bw_arena_zalloc(x->arena, sizeof(*r));
	if (!r) {
		net_exchange_free(x);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	x->h2req = r;
	x->stream_id = f->hd.stream_id;
	x->h2_next = c->h2->streams;
	c->h2->streams = x;
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, x);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
		     const uint8_t *name, size_t namelen, const uint8_t *value,
		     size_t valuelen, uint8_t flags, void *ud)
{
	struct net_conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct net_exchange *x = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!x)
		return 0;
	struct h2_req *r = req_of(x);
	const struct http_limits *lim = &c->srv->o.limits;
	r->header_bytes += namelen + valuelen + 32; /* RFC 9113 §6.5.2 */
	if (r->header_bytes > lim->max_header_bytes) {
		r->bad = true; /* answered 431 at end of headers */
		return 0;
	}
	char *v = bw_arena_strndup(x->arena, (const char *)value, valuelen);
	if (!v)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	struct bw_str val = bw_str_make(v, valuelen);
	if (namelen > 0 && name[0] == ':') {
		struct bw_str n = bw_str_make((const char *)name, namelen);
		if (bw_str_eq_lit(n, ":method"))
			r->method = val;
		else if (bw_str_eq_lit(n, ":path"))
			r->path = val;
		else if (bw_str_eq_lit(n, ":scheme"))
			r->scheme = val;
		else if (bw_str_eq_lit(n, ":authority"))
			r->authority = val;
		return 0;
	}
	if (x->req.nheaders >= x->nhdrs_cap) {
		r->bad = true;
		return 0;
	}
	char *nm = bw_arena_strndup(x->arena, (const char *)name, namelen);
	if (!nm)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	x->hdrs[x->req.nheaders].name = bw_str_make(nm, namelen);
	x->hdrs[x->req.nheaders].value = val;
	x->req.nheaders++;
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id,
		   const uint8_t *data, size_t len, void *ud)
{
	struct net_exchange *x = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!x)
		return 0;
	struct h2_req *r = req_of(x);
	struct net_conn *c = ud;
	r->body_total += len;
	/* Streamed bodies leave bodybuf as they are delivered, so the bound
	 * is on the total, as for HTTP/1.1. Windows are granted as data
	 * arrives: a paused stream holds at most max_body bytes. */
	if (r->body_total > c->srv->o.limits.max_body ||
	    (!r->too_large && bw_buf_append(&x->bodybuf, data, len) < 0))
		r->too_large = true; /* keep reading; answer 413 at the end */
	return 0;
}

/* Builds the struct http_request handlers read from the pseudo-headers. */
static int build_request(struct net_exchange *x, struct h2_req *r)
{
	struct http_request *q = &x->req;
	if (!r->method.len || (!r->path.len && !bw_str_eq_lit(r->method, "CONNECT")))
		return -1;
	q->method_str = r->method;
	q->method = http_method_from_str(r->method);
	q->form = HTTP_TARGET_ORIGIN;
	q->target = r->path;
	q->scheme = r->scheme;
	q->authority = r->authority;
	const char *qm = memchr(r->path.p, '?', r->path.len);
	q->path = bw_str_make(r->path.p, qm ? (size_t)(qm - r->path.p) : r->path.len);
	if (qm) {
		q->has_query = true;
		q->query = bw_str_make(qm + 1, r->path.len - q->path.len - 1);
	}
	q->version_minor = 1;
	q->headers = x->hdrs;
	q->host = r->authority;
	if (!q->host.len) {
		const struct http_header *h =
			http_header_find(q->headers, q->nheaders, "host");
		if (h)
			q->host = h->value;
	}
	q->host_name = q->host;
	q->framing = x->bodybuf.len ? HTTP_FRAMING_LENGTH : HTTP_FRAMING_NONE;
	q->content_length = x->bodybuf.len;
	if (r->early) {
		/* the body is still to come: its length only if announced */
		const struct http_header *cl =
			http_header_find(q->headers, q->nheaders, "content-length");
		uint64_t n = 0;
		bool ok = cl && cl->value.len > 0 && cl->value.len < 19;
		for (size_t i = 0; ok && i < cl->value.len; i++) {
			char d = cl->value.p[i];
			ok = d >= '0' && d <= '9';
			n = n * 10 + (uint64_t)(d - '0');
		}
		q->framing = ok ? HTTP_FRAMING_LENGTH : HTTP_FRAMING_CHUNKED;
		q->content_length = ok ? n : 0;
		x->body_mode = NET_BODY_PENDING;
	}
	q->keep_alive = true;
	x->head_done = true;
	return 0;
}

static void h2_flush(struct net_conn *c);

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct net_conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
	struct net_exchange *x = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!x)
		return 0;
	struct h2_req *r = req_of(x);
	if (r->dispatched) {
		/* an early-dispatched body ends: net_h2_kick delivers it
		 * once nghttp2 has returned */
		if (end)
			x->h2_body_end = true;
		return 0;
	}
	if (!end) {
		/* a body follows: handlers that choose get the head now */
		if (f->hd.type != NGHTTP2_HEADERS || !c->srv->o.dispatch_at_head ||
		    r->bad)
			return 0;
		r->early = true;
	}
	r->dispatched = true;
	if (r->bad || build_request(x, r) < 0) {
		net_stats_count_rejection(r->bad ? "header_too_large" : "bad_h2_request");
		net_h2_respond(x, r->bad ? 431 : 400, "text/plain", "bad request\n", 12);
		return 0;
	}
	if (r->too_large) {
		net_stats_count_rejection("body_too_large");
		net_h2_respond(x, 413, "text/plain", "payload too large\n", 18);
		return 0;
	}
	c->srv->o.handler(x, c->srv->o.handler_arg);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id,
			   uint32_t error_code, void *ud)
{
	struct net_conn *c = ud;
	struct net_exchange *x = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!x)
		return 0;
	nghttp2_session_set_stream_user_data(s, stream_id, NULL);
	struct h2_req *r = req_of(x);
	if (r->dispatched && !r->responded) {
		/* The client reset the stream (or it ended) while a handler
		 * works on it; a streaming handler is told by net_h2_kick. */
		r->cancelled = true;
		c->h2->orphans++;
		return 0;
	}
	release(c, x);
	return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf,
			 size_t length, uint32_t *flags, nghttp2_data_source *src,
			 void *ud)
{
	struct net_exchange *x = src->ptr;
	size_t left = x->h2_body.len - x->h2_body_pos;
	size_t n = left < length ? left : length;
	if (n == 0 && x->rs_started && !x->rs_ended)
		return NGHTTP2_ERR_DEFERRED; /* streamed: more comes later */
	if (n)
		memcpy(buf, x->h2_body.data + x->h2_body_pos, n);
	x->h2_body_pos += n;
	if (x->h2_body_pos == x->h2_body.len && (!x->rs_started || x->rs_ended))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ------------------------------------------------------------ session */

int net_h2_start(struct net_conn *c)
{
	struct net_h2 *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	if (!h || nghttp2_session_callbacks_new(&cbs) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto fail;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	/* Bound what a peer can make us hold: concurrent streams, and the
	 * HPACK table we keep for it. */
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	if (nghttp2_session_server_new2(&h->s, cbs, c, opt) != 0)
		goto fail;
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		  (uint32_t)c->srv->o.limits.max_header_bytes },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, BW_ARRAY_LEN(iv)) != 0) {
		nghttp2_session_del(h->s);
		free(h);
		return -1;
	}
	c->h2 = h;
	c->state = CS_H2;
	return 0;
fail:
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	free(h);
	return -1;
}

uint32_t net_h2_interest(const struct net_conn *c)
{
	uint32_t ev = 0;
	if (c->out_pos < c->out.len || c->ssl_want_write)
		ev |= EPOLLOUT;
	if (c->out.len - c->out_pos < H2_OUT_HIGH_WATER && !c->ssl_want_write)
		ev |= EPOLLIN;
	return ev;
}

/* Moves what nghttp2 wants to send into c->out and writes it. */
static void h2_flush(struct net_conn *c)
{
	/* nghttp2 must not be asked to send from inside its own receive
	 * callbacks; the reader flushes once mem_recv returns. */
	if (c->closed || c->h2->in_recv)
		return;
	for (;;) {
		if (c->out.len - c->out_pos >= H2_OUT_HIGH_WATER)
			break;
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2->s, &data);
		if (n < 0) {
			net_conn_close(c);
			return;
		}
		if (n == 0)
			break;
		if (c->out_pos == c->out.len) {
			bw_buf_reset(&c->out);
			c->out_pos = 0;
		}
		if (bw_buf_append(&c->out, data, (size_t)n) < 0) {
			net_conn_close(c);
			return;
		}
	}
	bool progress = false;
	while (c->out_pos < c->out.len) {
		ssize_t w = net_conn_write(c, c->out.data + c->out_pos,
					   c->out.len - c->out_pos);
		if (w > 0) {
			c->out_pos += (size_t)w;
			progress = true;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			net_conn_close(c);
			return;
		}
		break;
	}
	if (c->out_pos == c->out.len) {
		bw_buf_fini(&c->out);
		c->out_pos = 0;
	}
	if (!nghttp2_session_want_read(c->h2->s) && !nghttp2_session_want_write(c->h2->s) &&
	    c->out.len == 0) {
		net_conn_close(c);
		return;
	}
	if (c->h2->goaway && !c->h2->streams && c->out.len == 0) {
		net_conn_close(c);
		return;
	}
	/* With no stream open, the idle timeout applies; with streams, it
	 * counts from the last byte that moved, so a long streamed response
	 * is not cut while it flows. */
	if (!c->h2->streams || progress)
		net_conn_arm(c, c->srv->o.idle_timeout_ms);
	net_conn_update_interest(c);
}

void net_h2_on_io(struct net_conn *c, uint32_t revents)
{
	if (revents & EPOLLIN || !(revents & EPOLLOUT)) {
		for (int i = 0; i < 64 && !c->closed; i++) {
			ssize_t n = net_conn_read(c);
			if (n > 0) {
				if (c->h2->streams)
					net_conn_arm(c, c->srv->o.idle_timeout_ms);
				c->h2->in_recv = true;
				ssize_t used = nghttp2_session_mem_recv(
					c->h2->s, (const uint8_t *)c->in.data, c->in.len);
				c->h2->in_recv = false;
				bw_buf_reset(&c->in);
				if (used < 0) {
					if (net_log_allowed(c->t))
						log_kv(BW_LOG_INFO, "http/2 protocol error",
						       "client", c->peer_ip, "error",
						       nghttp2_strerror((int)used), NULL);
					net_stats_count_rejection("h2_protocol_error");
					net_conn_close(c);
					return;
				}
				/* Streaming handlers hear about their streams
				 * now that nghttp2 has returned. Answers
				 * produced while parsing go out now, so a burst
				 * of streams cannot grow out unbounded. */
				net_h2_kick(c);
				if (c->closed)
					return;
				h2_flush(c);
				if (c->closed || c->out.len - c->out_pos >= H2_OUT_HIGH_WATER)
					break;
				continue;
			}
			if (n == 0) {
				net_conn_close(c);
				return;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			net_conn_close(c);
			return;
		}
		bw_buf_fini(&c->in);
	}
	if (!c->closed) {
		h2_flush(c);
		net_h2_kick(c); /* writable callbacks of drained streams */
	}
}

/* Submits the response head of x (and its body through read_body when
 * provider is set). length < 0: no content-length. 0 or -1. */
static int submit_head(struct net_exchange *x, int status, const char *content_type,
		       int64_t length, bool provider)
{
	struct net_conn *c = x->c;
	char st[8], cl[24];
	bw_snprintf(st, sizeof(st), "%d", status);
	bw_snprintf(cl, sizeof(cl), "%lld", (long long)length);
	/* Date comes pre-formatted as a header line: take its value. */
	const char *date = net_date_header(c->t);
	const char *dv = strchr(date, ':');
	size_t dlen = dv ? strcspn(dv + 2, "\r\n") : 0;
	nghttp2_nv nva[40];
	size_t n = 0;
#define NV(nm, v, vl)                                                          \
	do {                                                                   \
		nva[n].name = (uint8_t *)(nm);                                 \
		nva[n].namelen = strlen(nm);                                   \
		nva[n].value = (uint8_t *)(v);                                 \
		nva[n].valuelen = (vl);                                        \
		nva[n].flags = NGHTTP2_NV_FLAG_NONE;                           \
		n++;                                                           \
	} while (0)
	NV(":status", st, strlen(st));
	if (dv)
		NV("date", dv + 2, dlen);
	if (content_type && length != 0)
		NV("content-type", content_type, strlen(content_type));
	if (length >= 0 && status != 204 && status != 304)
		NV("content-length", cl, strlen(cl));
	NV("x-request-id", x->request_id, strlen(x->request_id));
	/* Extra headers were validated as HTTP/1.1 lines "Name: value\r\n";
	 * HTTP/2 wants lower-case names and no connection-specific fields. */
	const char *p = x->extra.data, *end = p ? p + x->extra.len : NULL;
	while (p && p < end && n < BW_ARRAY_LEN(nva)) {
		const char *eol = memchr(p, '\r', (size_t)(end - p));
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (!eol || !colon || colon > eol)
			break;
		size_t nl = (size_t)(colon - p);
		char *lname = bw_arena_strndup(x->arena, p, nl);
		for (size_t i = 0; lname && i < nl; i++)
			if (lname[i] >= 'A' && lname[i] <= 'Z')
				lname[i] = (char)(lname[i] + 32);
		const char *v = colon + 2;
		if (lname && strcmp(lname, "connection") != 0 &&
		    strcmp(lname, "keep-alive") != 0 &&
		    strcmp(lname, "transfer-encoding") != 0 &&
		    strcmp(lname, "upgrade") != 0 &&
		    strcmp(lname, "proxy-connection") != 0)
			NV(lname, v, (size_t)(eol - v));
		p = eol + 2;
	}
#undef NV
	nghttp2_data_provider prd = { .source.ptr = x, .read_callback = read_body };
	int rc = nghttp2_submit_response(c->h2->s, x->stream_id, nva, n,
					 provider ? &prd : NULL);
	if (rc != 0) {
		nghttp2_submit_rst_stream(c->h2->s, NGHTTP2_FLAG_NONE, x->stream_id,
					  NGHTTP2_INTERNAL_ERROR);
		return -1;
	}
	return 0;
}

void net_h2_respond(struct net_exchange *x, int status, const char *content_type,
		    const void *body, size_t len)
{
	struct net_conn *c = x->c;
	struct h2_req *r = req_of(x);
	c->busy++;
	if (c->closed || r->cancelled) {
		/* Nobody to answer: the stream or the connection is gone. */
		if (r->cancelled)
			c->h2->orphans--;
		release(c, x);
		net_conn_leave(c);
		return;
	}
	r->responded = true;
	bool head_only = x->req.method == HTTP_METHOD_HEAD;
	if (!head_only && len) {
		bw_buf_init(&x->h2_body, NET_MAX_RESPONSE);
		if (bw_buf_append(&x->h2_body, body, len) < 0)
			len = 0;
	}
	net_count_response(x, status, len);
	/* An early-dispatched request whose body is still arriving: the
	 * rest of it is received and dropped (bounded by max_body). */
	(void)submit_head(x, status, content_type, (int64_t)len, !head_only && len);
	h2_flush(c);
	net_conn_leave(c);
}

/* ------------------------------------------------------------ streaming */

/* Ends the exchange of a stream the client reset or whose connection
 * closed; the handler owned it until now. */
static void release_orphan(struct net_conn *c, struct net_exchange *x)
{
	struct h2_req *r = req_of(x);
	if (r->cancelled)
		c->h2->orphans--;
	release(c, x);
}

/* For the net_h2_* calls a handler makes: true when the stream or its
 * connection is gone, and then x is released (the caller, who did
 * c->busy++, just returns). */
static bool stream_gone(struct net_conn *c, struct net_exchange *x)
{
	if (!c->closed && !req_of(x)->cancelled)
		return false;
	release_orphan(c, x);
	net_conn_leave(c);
	return true;
}

void net_h2_body_choose(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	if (x->body_mode == NET_BODY_PENDING)
		x->body_mode = x->buf_fn ? NET_BODY_BUFFER : NET_BODY_STREAM;
	else if (x->buf_fn || x->body_fn)
		x->body_mode = x->buf_fn ? NET_BODY_BUFFER : NET_BODY_STREAM;
	c->busy++;
	net_h2_kick(c);
	net_conn_leave(c);
}

/* One step of delivery for x. Returns true when a callback ran (x may be
 * gone: the caller restarts its walk). */
static bool stream_step(struct net_conn *c, struct net_exchange *x)
{
	struct h2_req *r = req_of(x);
	bool gone = c->closed || r->cancelled;
	if (gone && !r->told && (x->body_fn || x->wr_fn || x->buf_fn)) {
		r->told = true;
		x->gone = true;
		if (x->buf_fn) { /* the body will never be complete */
			x->buf_fn = NULL;
			release_orphan(c, x);
			return true;
		}
		if (x->body_fn && (x->body_mode == NET_BODY_STREAM ||
				   x->body_mode == NET_BODY_PENDING)) {
			x->body_mode = NET_BODY_DONE;
			x->body_error = "client_closed";
			x->body_fn(x->body_arg, NULL, 0, true);
			return true;
		}
		if (x->wr_fn) {
			net_writable_fn fn = x->wr_fn;
			x->wr_fn = NULL;
			fn(x->wr_arg, true);
			return true;
		}
		return false;
	}
	if (gone)
		return false;
	if (x->body_mode == NET_BODY_BUFFER && (x->h2_body_end || r->too_large)) {
		net_handler_fn fn = x->buf_fn;
		x->buf_fn = NULL;
		x->body_mode = NET_BODY_NONE;
		if (r->too_large) {
			net_stats_count_rejection("body_too_large");
			net_h2_respond(x, 413, "text/plain", "payload too large\n", 18);
			return true;
		}
		x->req.framing = x->bodybuf.len ? HTTP_FRAMING_LENGTH : HTTP_FRAMING_NONE;
		x->req.content_length = x->bodybuf.len;
		fn(x, x->buf_arg);
		return true;
	}
	if (x->body_mode == NET_BODY_STREAM && !x->body_paused && x->body_fn) {
		if (r->too_large) {
			x->body_mode = NET_BODY_DONE;
			x->body_error = "body_too_large";
			net_stats_count_rejection("body_too_large");
			x->body_fn(x->body_arg, NULL, 0, true);
			return true;
		}
		if (x->bodybuf.len) {
			/* deliver from a copy: the callback may end x */
			size_t n = x->bodybuf.len;
			char *tmp = malloc(n);
			if (!tmp)
				return false;
			memcpy(tmp, x->bodybuf.data, n);
			bw_buf_reset(&x->bodybuf);
			x->body_fn(x->body_arg, tmp, n, false);
			bw_wipe(tmp, n);
			free(tmp);
			return true;
		}
		if (x->h2_body_end) {
			x->body_mode = NET_BODY_DONE;
			x->body_fn(x->body_arg, NULL, 0, true);
			return true;
		}
	}
	if (x->wr_fn && x->rs_started && net_h2_pending(x) == 0 &&
	    c->out.len == c->out_pos) {
		net_writable_fn fn = x->wr_fn;
		x->wr_fn = NULL;
		fn(x->wr_arg, false);
		return true;
	}
	return false;
}

void net_h2_kick(struct net_conn *c)
{
	if (!c->h2 || c->h2->in_recv)
		return;
	/* Restart after every callback: it may have ended any exchange.
	 * Each step consumes state (a flag, a callback, buffered bytes), so
	 * the walk ends; the bound is a guard against a handler that keeps
	 * re-registering from inside its own callback. */
	for (int guard = 0; guard < 4 * H2_MAX_STREAMS + 16; guard++) {
		bool ran = false;
		for (struct net_exchange *x = c->h2->streams; x; x = x->h2_next)
			if ((ran = stream_step(c, x)))
				break;
		if (!ran)
			return;
	}
}

void net_h2_respond_start(struct net_exchange *x, int status,
			  const char *content_type, int64_t length)
{
	struct net_conn *c = x->c;
	struct h2_req *r = req_of(x);
	if (c->closed || r->cancelled)
		return;
	c->busy++;
	bool bodyless = x->req.method == HTTP_METHOD_HEAD || status < 200 ||
			status == 204 || status == 304;
	x->rs_head_only = bodyless;
	bw_buf_init(&x->h2_body, NET_MAX_RESPONSE);
	r->provider = !bodyless;
	(void)submit_head(x, status, content_type, length, r->provider);
	h2_flush(c);
	net_conn_leave(c);
}

int net_h2_respond_data(struct net_exchange *x, const void *p, size_t n)
{
	struct net_conn *c = x->c;
	struct h2_req *r = req_of(x);
	if (x->rs_head_only)
		return 0;
	if (c->closed || r->cancelled)
		return -1;
	if (x->h2_body_pos == x->h2_body.len) {
		bw_buf_reset(&x->h2_body);
		x->h2_body_pos = 0;
	} else if (x->h2_body_pos > NET_STREAM_CHUNK) {
		bw_buf_consume(&x->h2_body, x->h2_body_pos);
		x->h2_body_pos = 0;
	}
	if (bw_buf_append(&x->h2_body, p, n) < 0)
		return -1;
	x->rs_bytes += n;
	c->busy++;
	nghttp2_session_resume_data(c->h2->s, x->stream_id);
	h2_flush(c);
	int rc = c->closed ? -1 : 0;
	net_conn_leave(c);
	return rc;
}

size_t net_h2_pending(const struct net_exchange *x)
{
	return x->h2_body.len - x->h2_body_pos;
}

void net_h2_respond_end(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	struct h2_req *r = req_of(x);
	c->busy++;
	if (stream_gone(c, x))
		return;
	r->responded = true;
	net_count_response(x, x->rs_status, (size_t)x->rs_bytes);
	if (r->provider)
		nghttp2_session_resume_data(c->h2->s, x->stream_id);
	h2_flush(c);
	net_conn_leave(c);
}

void net_h2_abort(struct net_exchange *x)
{
	struct net_conn *c = x->c;
	struct h2_req *r = req_of(x);
	c->busy++;
	if (stream_gone(c, x))
		return;
	r->responded = true;
	x->rs_ended = true;
	net_count_response(x, x->rs_started ? x->rs_status : 502, (size_t)x->rs_bytes);
	/* the stream's close releases x */
	if (nghttp2_submit_rst_stream(c->h2->s, NGHTTP2_FLAG_NONE, x->stream_id,
				      NGHTTP2_INTERNAL_ERROR) != 0)
		release(c, x);
	h2_flush(c);
	net_conn_leave(c);
}

void net_h2_drain(struct net_conn *c)
{
	if (c->h2->goaway)
		return;
	c->h2->goaway = true;
	nghttp2_submit_goaway(c->h2->s, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->h2->s),
			      NGHTTP2_NO_ERROR, NULL, 0);
	c->busy++;
	h2_flush(c);
	net_conn_leave(c);
}

void net_h2_close(struct net_conn *c)
{
	struct net_exchange *x = c->h2->streams;
	while (x) {
		struct net_exchange *next = x->h2_next;
		struct h2_req *r = req_of(x);
		if (r->dispatched && !r->responded && !r->cancelled) {
			r->cancelled = true; /* the handler still owns it */
			c->h2->orphans++;
		} else if (!r->cancelled) {
			release(c, x);
		}
		x = next;
	}
	nghttp2_session_del(c->h2->s);
	c->h2->s = NULL;
}

bool net_h2_busy(const struct net_conn *c)
{
	return c->h2 && c->h2->orphans > 0;
}

void net_h2_free(struct net_conn *c)
{
	if (!c->h2)
		return;
	if (c->h2->s)
		nghttp2_session_del(c->h2->s);
	free(c->h2);
	c->h2 = NULL;
}
