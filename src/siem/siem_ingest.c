/*
 * siem_ingest.c — the ingest side of the pipeline: per-loop ingest
 * contexts, syslog over TCP/TLS (RFC 6587 framing) and UDP, the RELP
 * server, the event-bus subscriber, batching, back-pressure and the
 * acknowledgements sent once a batch is durable.
 *
 * Each worker loop has one struct siem_ictx holding its matcher and the
 * batch being filled; everything here runs on that loop's thread except
 * siem_bus_subscriber (the bus dispatcher, under bus_mu) and
 * siem_batch_final (the store writer, which only counts and posts).
 *
 * Back-pressure, never silent loss:
 *  - stream senders (syslog TCP/TLS, RELP) are paused while the queue is
 *    full: their bytes stay in the kernel and TCP slows them down; they
 *    are resumed when the queue falls under half;
 *  - RELP is additionally paused while a connection has relp_window
 *    transactions unacknowledged, and while an out-of-band command
 *    (close, open, unknown) must wait for earlier acks to keep responses
 *    in command order, as the protocol requires;
 *  - UDP datagrams and bus events that find the queue full are counted
 *    (refused_udp, refused_bus) — they have no way to wait.
 * A RELP "200 OK" is written only after the batch holding that
 * transaction was committed durably; if the batch fails the connection is
 * closed without acks, so the client resends.
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---------------------------------------------------------------- batch */

/* A finished batch of the right size from the pool, reset, or NULL. */
static struct siem_batch *pool_take(struct siem_service *svc, size_t cap)
{
	struct siem_batch *b = NULL;
	pthread_mutex_lock(&svc->pool_mu);
	for (size_t i = svc->npool; i-- > 0;)
		if (svc->pool[i]->cap == cap) {
			b = svc->pool[i];
			svc->pool[i] = svc->pool[--svc->npool];
			break;
		}
	pthread_mutex_unlock(&svc->pool_mu);
	if (!b)
		return NULL;
	struct siem_rec *recs = b->recs;
	struct bw_buf docs = b->docs, json = b->json;
	memset(b, 0, sizeof(*b));
	b->recs = recs; /* each record is cleared when it is added */
	b->cap = cap;
	b->docs = docs;
	b->json = json;
	bw_buf_reset(&b->docs);
	bw_buf_reset(&b->json);
	return b;
}

struct siem_batch *siem_batch_new(struct siem_service *svc, struct siem_ictx *ictx)
{
	struct siem_gen *g = siem_gen_get(svc);
	size_t cap = g->conf.batch_events;
	struct siem_batch *b = pool_take(svc, cap);
	if (!b) {
		if (!(b = calloc(1, sizeof(*b))) || !(b->recs = calloc(cap, sizeof(*b->recs)))) {
			free(b);
			siem_gen_unref(g);
			return NULL;
		}
		b->cap = cap;
		bw_buf_init(&b->docs, 256u << 20);
		bw_buf_init(&b->json, 256u << 20);
	}
	if (!(b->arena = bw_arena_new(65536, SIEM_BATCH_BYTES_DEFAULT))) {
		bw_buf_fini(&b->docs);
		bw_buf_fini(&b->json);
		free(b->recs);
		free(b);
		siem_gen_unref(g);
		return NULL;
	}
	b->svc = svc;
	b->gen = g;
	b->ictx = ictx;
	return b;
}

void siem_batch_free(struct siem_batch *b)
{
	if (!b)
		return;
	struct siem_service *svc = b->svc;
	free(b->blocks);
	free(b->alerts);
	free(b->acks);
	bw_arena_free(b->arena);
	siem_gen_unref(b->gen);
	b->blocks = NULL;
	b->alerts = NULL;
	b->acks = NULL;
	b->arena = NULL;
	b->gen = NULL;
	if (b->docs.cap > SIEM_BATCH_POOL_BUF_MAX)
		bw_buf_fini(&b->docs);
	if (b->json.cap > SIEM_BATCH_POOL_BUF_MAX)
		bw_buf_fini(&b->json);
	if (svc) {
		/* records are not cleared here: every path that adds one
		 * clears it first (siem_ingest_line, the bus, NDJSON) */
		pthread_mutex_lock(&svc->pool_mu);
		if (svc->npool < SIEM_BATCH_POOL) {
			svc->pool[svc->npool++] = b;
			b = NULL;
		}
		pthread_mutex_unlock(&svc->pool_mu);
	}
	if (!b)
		return;
	bw_buf_fini(&b->docs);
	bw_buf_fini(&b->json);
	free(b->recs);
	free(b);
}

/* Frees the pooled batches (service teardown). */
void siem_batch_pool_free(struct siem_service *svc)
{
	for (size_t i = 0; i < svc->npool; i++) {
		bw_buf_fini(&svc->pool[i]->docs);
		bw_buf_fini(&svc->pool[i]->json);
		free(svc->pool[i]->recs);
		free(svc->pool[i]);
	}
	svc->npool = 0;
}

static int batch_add_ack(struct siem_batch *b, struct siem_sconn *c,
			 struct siem_http_wait *w, uint32_t txnr)
{
	if (b->nacks == b->acks_cap) {
		size_t cap = b->acks_cap ? b->acks_cap * 2 : 64;
		struct siem_ack *a = realloc(b->acks, cap * sizeof(*a));
		if (!a)
			return -1;
		b->acks = a;
		b->acks_cap = cap;
	}
	b->acks[b->nacks++] = (struct siem_ack){ .conn = c, .http = w, .txnr = txnr };
	if (c)
		c->refs++;
	return 0;
}

int siem_ingest_add_http_ack(struct siem_ictx *x, struct siem_http_wait *w)
{
	return x->cur ? batch_add_ack(x->cur, NULL, w, 0) : -1;
}

bool siem_queue_full(struct siem_service *svc, size_t n)
{
	return atomic_load(&svc->queued) + n > atomic_load(&svc->queue_max);
}

/* ------------------------------------------------------------- contexts */

static void flush_timer_cb(struct loop *l, struct loop_timer *t)
{
	siem_ictx_flush(t->data);
}

static struct siem_ictx *ictx_new(struct siem_service *svc, struct loop *l)
{
	struct siem_ictx *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->svc = svc;
	x->loop = l;
	loop_timer_init(&x->timer, flush_timer_cb, x);
	return x;
}

struct siem_ictx *siem_ictx_for_loop(struct siem_service *svc, struct loop *l)
{
	pthread_mutex_lock(&svc->ictx_mu);
	struct siem_ictx *x = svc->ictxs;
	while (x && x->loop != l)
		x = x->next;
	if (!x && (x = ictx_new(svc, l)) != NULL) {
		x->next = svc->ictxs;
		svc->ictxs = x;
	}
	pthread_mutex_unlock(&svc->ictx_mu);
	return x;
}

void siem_ictx_free(struct siem_ictx *x)
{
	if (!x)
		return;
	siem_batch_free(x->cur);
	siem_matcher_free(x->m);
	siem_gen_unref(x->m_gen);
	for (size_t i = 0; i < BW_ARRAY_LEN(x->streams); i++)
		if (x->streams[i])
			net_stream_unref(x->streams[i]);
	free(x);
}

void siem_ictx_flush(struct siem_ictx *x)
{
	if (x->loop)
		loop_timer_cancel(x->loop, &x->timer);
	struct siem_batch *b = x->cur;
	x->cur = NULL;
	if (!b)
		return;
	if (b->n == 0 && b->nacks == 0) {
		siem_batch_free(b);
		return;
	}
	siem_pipe_enqueue(x->svc, b);
}

int siem_ictx_match(struct siem_ictx *x, struct siem_batch *b, struct siem_rec *r)
{
	if (x->m_gen != b->gen) {
		siem_matcher_free(x->m);
		siem_gen_unref(x->m_gen);
		x->m = siem_matcher_new(b->gen->rs);
		x->m_gen = b->gen;
		siem_gen_ref(b->gen);
		if (!x->m)
			return -1;
	}
	uint32_t ids[256];
	long n = siem_match(x->m, &r->ev, ids, BW_ARRAY_LEN(ids));
	if (n < 0)
		return -1;
	if (n > (long)BW_ARRAY_LEN(ids))
		n = BW_ARRAY_LEN(ids);
	r->nmatched = (uint16_t)n;
	if (n) {
		r->matched = bw_arena_alloc(b->arena, (size_t)n * sizeof(uint32_t));
		if (!r->matched)
			return -1;
		memcpy(r->matched, ids, (size_t)n * sizeof(uint32_t));
	}
	return 0;
}

/* Room for one more record in x->cur, flushing a full batch first. */
static struct siem_batch *cur_batch(struct siem_ictx *x)
{
	struct siem_batch *b = x->cur;
	if (b && (b->n == b->cap ||
		  bw_arena_used(b->arena) > SIEM_BATCH_BYTES_DEFAULT - 2 * SIEM_LINE_MAX_HARD -
						    65536)) {
		siem_ictx_flush(x);
		b = NULL;
	}
	if (!b) {
		b = x->cur = siem_batch_new(x->svc, x);
		if (!b)
			return NULL;
		b->first_mono_ms = bw_clock_mono_ms();
		if (x->loop) {
			struct siem_gen *g = b->gen;
			if (loop_timer_arm(x->loop, &x->timer, (int64_t)g->conf.flush_ms) < 0)
				log_warnx("siem: flush timer table full");
		}
	}
	return b;
}

struct siem_rec *siem_ingest_line(struct siem_ictx *x, const char *p, size_t n,
				  enum siem_src src, const char *peer,
				  const char *tenant, bool truncated)
{
	struct siem_batch *b = cur_batch(x);
	if (!b)
		return NULL;
	const struct siem_conf *c = &b->gen->conf;
	struct siem_rec *r = &b->recs[b->n];
	/* everything but the event, which the parser initialises itself */
	memset((char *)r + sizeof(r->ev), 0, sizeof(*r) - sizeof(r->ev));
	r->src = (uint8_t)src;
	/* one clock read per line: the receive time the parser stands in
	 * for a missing timestamp is the one the day is picked against */
	int64_t now = bw_clock_now_ns();
	struct siem_parse_opts o = {
		.now_ns = now,
		.tz_offset_s = c->tz_offset_min * 60,
		.observer = peer,
		.tenant = tenant ? tenant : c->tenant,
		.max_line = c->max_line,
	};
	struct bw_err err;
	if (siem_parse_line(p, n, &o, b->arena, &r->ev, &err) < 0) {
		if (err.code == 500 || !r->ev.f[SIEM_F_EVENT_ORIGINAL].p) {
			/* the arena is full (or the line was over the limit):
			 * flush and take it as its own unparsed record */
			if (b->n == 0 || err.code != 500)
				goto refuse;
			siem_ictx_flush(x);
			return siem_ingest_line(x, p, n, src, peer, tenant, truncated);
		}
		r->parse_failed = true;
		atomic_fetch_add(&x->svc->c.parse_failed, 1);
		siem_event_setz(&r->ev, SIEM_F_EVENT_MODULE, "raw");
		(void)siem_event_label(&r->ev, "parse_error", 11, bw_arena_strdup(b->arena, err.reason),
				       strlen(err.reason));
	}
	if (truncated) {
		(void)siem_event_label(&r->ev, "truncated", 9, "true", 4);
		atomic_fetch_add(&x->svc->c.truncated, 1);
	}
	siem_ext_enrich(x->svc, b, &r->ev);
	if (siem_ictx_match(x, b, r) < 0)
		r->nmatched = 0;
	/* Its stored document and bloom tokens now, on this loop, while the
	 * line is in cache — when the pipeline thread is behind (batches
	 * wait for it: with several connections it is the one serial stage,
	 * and this is most of its work), decided per batch at its first
	 * record, and when every record before it has them too. Otherwise
	 * the pipeline packs: with one connection the loop is the busier
	 * thread and should not take more. */
	if (b->npacked == b->n &&
	    (b->n > 0 ||
	     atomic_load(&x->svc->q_len) >= atomic_load(&x->svc->pack_on_loop)))
		siem_batch_pack(b, b->n, now);
	b->n++;
	atomic_fetch_add(&x->svc->c.received, 1);
	return r;
refuse:
	log_kv(BW_LOG_DEBUG, "siem: line refused", "reason", err.reason, NULL);
	return NULL;
}

/* Adds an already-built event (bus, NDJSON): copies nothing, the event
 * must live in b's arena. */
struct siem_rec *siem_ingest_event(struct siem_ictx *x, struct siem_batch *b,
				   enum siem_src src)
{
	struct siem_rec *r = &b->recs[b->n];
	r->src = (uint8_t)src;
	if (siem_ictx_match(x, b, r) < 0)
		r->nmatched = 0;
	b->n++;
	atomic_fetch_add(&x->svc->c.received, 1);
	return r;
}

/* Exposed for siem_http.c: the batch a new record would go to. */
struct siem_batch *siem_ingest_cur(struct siem_ictx *x)
{
	return cur_batch(x);
}

/* --------------------------------------------------------- back-pressure */

static void sconn_unref(struct siem_sconn *c)
{
	if (--c->refs > 0)
		return;
	siem_framer_fini(&c->fr);
	bw_buf_fini(&c->out);
	free(c);
}

static void pause_for_queue(struct siem_sconn *c)
{
	if (!c->sc || c->paused_queue)
		return;
	c->paused_queue = true;
	net_stream_pause(c->sc);
	atomic_fetch_add(&c->ictx->svc->c.paused, 1);
	if (!c->on_plist) {
		c->on_plist = true;
		c->refs++;
		c->pnext = c->ictx->paused;
		c->ictx->paused = c;
	}
	atomic_store(&c->ictx->want_resume, true);
}

static void resume_task(void *arg)
{
	struct siem_ictx *x = arg;
	atomic_store(&x->resume_posted, false);
	struct siem_sconn *list = x->paused;
	x->paused = NULL;
	atomic_store(&x->want_resume, false);
	while (list) {
		struct siem_sconn *c = list;
		list = c->pnext;
		c->on_plist = false;
		if (c->sc && c->paused_queue) {
			c->paused_queue = false;
			if (!c->paused_window)
				net_stream_resume(c->sc);
		}
		sconn_unref(c);
	}
}

void siem_ingest_resume_all(struct siem_service *svc)
{
	pthread_mutex_lock(&svc->ictx_mu);
	for (struct siem_ictx *x = svc->ictxs; x; x = x->next) {
		if (!atomic_load(&x->want_resume) || !x->loop)
			continue;
		bool expected = false;
		if (atomic_compare_exchange_strong(&x->resume_posted, &expected, true) &&
		    loop_post(x->loop, resume_task, x) < 0)
			atomic_store(&x->resume_posted, false);
	}
	pthread_mutex_unlock(&svc->ictx_mu);
}

/* -------------------------------------------------------------- streams */

static void *on_open(void *arg, struct net_stream_conn *sc, const char *ip,
		     uint16_t port);
static int on_data(void *ctx, const char *data, size_t len, size_t *consumed);
static void on_close(void *ctx);

struct frame_arg {
	struct siem_sconn *c;
};

static void frame_cb(const char *f, size_t n, bool truncated, void *arg)
{
	struct siem_sconn *c = arg;
	enum siem_src src = c->proto == 2 ? SIEM_SRC_TLS : SIEM_SRC_TCP;
	(void)siem_ingest_line(c->ictx, f, n, src, c->peer, NULL, truncated);
}

static void *on_open(void *arg, struct net_stream_conn *sc, const char *ip,
		     uint16_t port)
{
	struct siem_ictx *x = arg;
	struct siem_sconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ictx = x;
	c->sc = sc;
	c->refs = 1;
	bw_snprintf(c->peer, sizeof(c->peer), "%s", ip);
	return c;
}

/* the proto of a conn: 0 syslog tcp, 1 relp, 2 syslog tls (set by the
 * per-proto open wrappers below) */
static void *on_open_syslog(void *arg, struct net_stream_conn *sc, const char *ip,
			    uint16_t port)
{
	struct siem_sconn *c = on_open(arg, sc, ip, port);
	if (c) {
		struct siem_gen *g = siem_gen_get(c->ictx->svc);
		siem_framer_init(&c->fr, SIEM_FRAMING_AUTO, g->conf.max_line);
		siem_gen_unref(g);
		atomic_fetch_add(&c->ictx->svc->c.stream_conns, 1);
	}
	return c;
}

static void *on_open_syslog_tls(void *arg, struct net_stream_conn *sc,
				const char *ip, uint16_t port)
{
	struct siem_sconn *c = on_open_syslog(arg, sc, ip, port);
	if (c)
		c->proto = 2;
	return c;
}

static void *on_open_relp(void *arg, struct net_stream_conn *sc, const char *ip,
			  uint16_t port)
{
	struct siem_sconn *c = on_open(arg, sc, ip, port);
	if (c) {
		c->proto = 1;
		bw_buf_init(&c->out, 1u << 20);
		atomic_fetch_add(&c->ictx->svc->c.relp_conns, 1);
	}
	return c;
}

#define SYSLOG_SLICE 2048

static int syslog_data(struct siem_sconn *c, const char *data, size_t len,
		       size_t *consumed)
{
	struct siem_service *svc = c->ictx->svc;
	*consumed = 0;
	/* Fed in slices so a full queue stops the connection within a few
	 * KiB rather than after a whole read. */
	while (*consumed < len) {
		if (siem_queue_full(svc, 0)) {
			pause_for_queue(c);
			return 0;
		}
		size_t k = len - *consumed < SYSLOG_SLICE ? len - *consumed : SYSLOG_SLICE;
		struct bw_err err;
		if (siem_framer_feed(&c->fr, data + *consumed, k, frame_cb, c, &err) < 0) {
			atomic_fetch_add(&svc->c.framing_errors, 1);
			log_kv(BW_LOG_DEBUG, "siem: syslog framing lost", "peer", c->peer,
			       NULL);
			return -1;
		}
		*consumed += k;
	}
	return 0;
}

static const char RELP_OPEN_OK[] = "200 OK\nrelp_version=0\n"
				   "relp_software=bulwark," BULWARK_VERSION
				   ",https://bulwark.invalid\ncommands=syslog";

static int relp_send(struct siem_sconn *c, uint32_t txnr, const char *d, size_t n)
{
	bw_buf_reset(&c->out);
	if (siem_relp_rsp(&c->out, txnr, d, n) < 0)
		return -1;
	return net_stream_write(c->sc, c->out.data, c->out.len);
}

static int relp_data(struct siem_sconn *c, const char *data, size_t len,
		     size_t *consumed)
{
	struct siem_ictx *x = c->ictx;
	struct siem_service *svc = x->svc;
	struct siem_gen *g = siem_gen_get(svc);
	size_t max_data = g->conf.relp_max_data;
	uint32_t window = g->conf.relp_window;
	siem_gen_unref(g);
	size_t off = 0;
	int rc = 0;
	bool acks_added = false;
	*consumed = 0;
	while (off < len && !c->closing) {
		struct siem_relp_frame f;
		size_t used;
		struct bw_err err;
		int r = siem_relp_parse(data + off, len - off, max_data, &f, &used, &err);
		if (r < 0) {
			atomic_fetch_add(&svc->c.framing_errors, 1);
			log_kv(BW_LOG_DEBUG, "siem: RELP framing lost", "peer", c->peer,
			       "reason", err.reason, NULL);
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		bool is_syslog = strcmp(f.cmd, "syslog") == 0;
		/* Responses go out in command order: anything but syslog
		 * waits until every earlier syslog is acknowledged. */
		if (c->pending > 0 && (!is_syslog || c->pending >= window)) {
			c->paused_window = true;
			net_stream_pause(c->sc);
			break;
		}
		if (is_syslog) {
			if (!c->opened) {
				rc = -1;
				break;
			}
			if (siem_queue_full(svc, 0)) {
				pause_for_queue(c);
				break;
			}
			struct siem_rec *rec = siem_ingest_line(x, f.data.p, f.data.len,
								SIEM_SRC_RELP, c->peer, NULL,
								false);
			if (!rec || batch_add_ack(x->cur, c, NULL, f.txnr) < 0) {
				/* refused (over the limit or no memory): tell
				 * the client, in order; nothing was stored */
				atomic_fetch_add(&svc->c.refused_relp, 1);
				if (relp_send(c, f.txnr, "500 refused", 11) < 0) {
					rc = -1;
					break;
				}
			} else {
				c->pending++;
				acks_added = true;
			}
		} else if (strcmp(f.cmd, "open") == 0) {
			struct siem_relp_offers o;
			if (siem_relp_parse_offers(f.data.p, f.data.len, &o, &err) < 0 ||
			    !o.syslog) {
				(void)relp_send(c, f.txnr, "500 unsupported offers", 22);
				rc = -1;
				break;
			}
			if (relp_send(c, f.txnr, RELP_OPEN_OK, sizeof(RELP_OPEN_OK) - 1) < 0) {
				rc = -1;
				break;
			}
			c->opened = true;
		} else if (strcmp(f.cmd, "close") == 0) {
			(void)relp_send(c, f.txnr, NULL, 0);
			c->closing = true;
			off += used;
			rc = -1; /* close after the response */
			break;
		} else if (f.txnr == 0) {
			/* a hint: never answered */
		} else {
			if (relp_send(c, f.txnr, "500 unknown command", 19) < 0) {
				rc = -1;
				break;
			}
		}
		off += used;
	}
	*consumed = off;
	/* the client waits for these acks: do not hold them for the timer */
	if (acks_added)
		siem_ictx_flush(x);
	return rc;
}

static int on_data(void *ctx, const char *data, size_t len, size_t *consumed)
{
	struct siem_sconn *c = ctx;
	return c->proto == 1 ? relp_data(c, data, len, consumed) :
			       syslog_data(c, data, len, consumed);
}

static void on_close(void *ctx)
{
	struct siem_sconn *c = ctx;
	if (c->proto != 1)
		siem_framer_finish(&c->fr, frame_cb, c);
	c->sc = NULL;
	sconn_unref(c);
}

static struct net_stream *stream_for(struct siem_ictx *x, int kind,
				     struct net_tls *tls, struct bw_err *err)
{
	struct siem_gen *g = siem_gen_get(x->svc);
	size_t line = kind == 1 ? g->conf.relp_max_data + SIEM_RELP_HEADER_MAX :
				  g->conf.max_line;
	siem_gen_unref(g);
	struct net_stream_options o = {
		.name = kind == 1 ? "relp" : kind == 2 ? "syslog-tls" : "syslog-tcp",
		.tls = tls,
		.max_buffer = line + 65536,
		.idle_timeout_ms = 3600000,
		.on_open = kind == 1 ? on_open_relp :
			   kind == 2 ? on_open_syslog_tls :
				       on_open_syslog,
		.on_data = on_data,
		.on_close = on_close,
		.arg = x,
	};
	return net_stream_new(&o, err);
}

int siem_ingest_attach_stream(struct siem_service *svc, struct loop *l, int fd,
			      struct net_tls *tls, enum siem_ingest_proto proto,
			      struct bw_err *err)
{
	struct siem_ictx *x = siem_ictx_for_loop(svc, l);
	if (!x) {
		net_tls_free(tls);
		close(fd);
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	}
	int kind = proto == SIEM_INGEST_RELP ? 1 : tls ? 2 : 0;
	/* one stream server per listener: TLS contexts differ per listener */
	struct net_stream *s = stream_for(x, kind, tls, err);
	if (!s) {
		net_tls_free(tls);
		close(fd);
		return -1;
	}
	if (net_stream_listen(l, fd, s, err) < 0) {
		net_stream_unref(s);
		close(fd);
		return -1;
	}
	net_stream_unref(s); /* the listener holds its reference */
	return 0;
}

/* ------------------------------------------------------------------ UDP */

static void on_datagram(void *arg, const char *data, size_t len, const char *ip,
			uint16_t port)
{
	struct siem_ictx *x = arg;
	atomic_fetch_add(&x->svc->c.udp_datagrams, 1);
	if (siem_queue_full(x->svc, 1)) {
		atomic_fetch_add(&x->svc->c.refused_udp, 1);
		return;
	}
	/* RFC 5426: one message per datagram; a trailing LF is not part of
	 * it */
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\0'))
		len--;
	(void)siem_ingest_line(x, data, len, SIEM_SRC_UDP, ip, NULL, false);
}

int siem_ingest_attach_udp(struct siem_service *svc, struct loop *l, int fd,
			   struct bw_err *err)
{
	struct siem_ictx *x = siem_ictx_for_loop(svc, l);
	if (!x || x->nudp == BW_ARRAY_LEN(x->udp)) {
		close(fd);
		return SIEM_SVC_ERR(err, 500, "limit", "too many UDP listeners on one loop");
	}
	struct net_udp *u = net_udp_start(l, fd, on_datagram, x, err);
	if (!u) {
		close(fd);
		return -1;
	}
	pthread_mutex_lock(&svc->ictx_mu);
	x->udp[x->nudp++] = u;
	pthread_mutex_unlock(&svc->ictx_mu);
	return 0;
}

void siem_ingest_detach(struct siem_service *svc, struct loop *l)
{
	struct siem_ictx *x = siem_ictx_for_loop(svc, l);
	if (!x)
		return;
	net_stream_thread_stop(l);
	pthread_mutex_lock(&svc->ictx_mu);
	for (size_t i = 0; i < x->nudp; i++)
		net_udp_stop(x->udp[i]);
	x->nudp = 0;
	pthread_mutex_unlock(&svc->ictx_mu);
	/* connections are gone: the paused list only holds references */
	while (x->paused) {
		struct siem_sconn *c = x->paused;
		x->paused = c->pnext;
		c->on_plist = false;
		sconn_unref(c);
	}
	siem_ictx_flush(x);
}

/* ------------------------------------------------------------------ bus */

void siem_bus_subscriber(const struct bw_event *ev, void *arg)
{
	struct siem_service *svc = arg;
	atomic_fetch_add(&svc->c.bus_events, 1);
	if (siem_queue_full(svc, 1)) {
		atomic_fetch_add(&svc->c.refused_bus, 1);
		return;
	}
	pthread_mutex_lock(&svc->bus_mu);
	if (!svc->bus && !(svc->bus = ictx_new(svc, NULL))) {
		pthread_mutex_unlock(&svc->bus_mu);
		atomic_fetch_add(&svc->c.refused_bus, 1);
		return;
	}
	struct siem_ictx *x = svc->bus;
	struct siem_batch *b = cur_batch(x);
	struct bw_err err;
	if (b)
		memset(&b->recs[b->n], 0, sizeof(b->recs[b->n]));
	if (!b || siem_event_from_bw(ev, b->arena, &b->recs[b->n].ev, &err) < 0) {
		atomic_fetch_add(&svc->c.refused_bus, 1);
	} else {
		siem_ext_enrich(svc, b, &b->recs[b->n].ev);
		(void)siem_ingest_event(x, b, SIEM_SRC_BUS);
	}
	pthread_mutex_unlock(&svc->bus_mu);
}

/* Called by the pipeline thread: hands over the bus batch when it has
 * waited flush_ms. */
void siem_bus_steal(struct siem_service *svc, int64_t now_mono_ms)
{
	pthread_mutex_lock(&svc->bus_mu);
	struct siem_ictx *x = svc->bus;
	if (x && x->cur && x->cur->n &&
	    now_mono_ms - x->cur->first_mono_ms >= (int64_t)x->cur->gen->conf.flush_ms)
		siem_ictx_flush(x);
	pthread_mutex_unlock(&svc->bus_mu);
}

/* ----------------------------------------------------------------- acks */

static void ack_task(void *arg)
{
	struct siem_batch *b = arg;
	struct siem_service *svc = b->svc;
	bool ok = b->rc == 0;
	struct siem_sconn *cur = NULL;
	struct bw_buf out;
	bw_buf_init(&out, 8u << 20);
	for (size_t i = 0; i <= b->nacks; i++) {
		struct siem_ack *a = i < b->nacks ? &b->acks[i] : NULL;
		if (cur && (!a || a->conn != cur)) {
			/* write what was collected for the previous connection */
			if (cur->sc && out.len && net_stream_write(cur->sc, out.data, out.len) < 0)
				cur->sc = NULL; /* closed by the write; on_close follows */
			bw_buf_reset(&out);
			if (cur->sc && !ok)
				net_stream_close(cur->sc);
			else if (cur->sc && cur->paused_window) {
				uint32_t window = b->gen->conf.relp_window;
				if (cur->pending < window) {
					cur->paused_window = false;
					if (!cur->paused_queue)
						net_stream_resume(cur->sc);
				}
			}
			cur = NULL;
		}
		if (!a)
			break;
		if (a->http) {
			siem_http_wait_done(a->http, ok, b);
			continue;
		}
		struct siem_sconn *c = a->conn;
		if (c->pending)
			c->pending--;
		if (ok && c->sc) {
			if (siem_relp_rsp(&out, a->txnr, "200 OK", 6) < 0) {
				/* 8 MiB of acks at once: send what we have */
				if (net_stream_write(c->sc, out.data, out.len) < 0)
					c->sc = NULL;
				bw_buf_reset(&out);
				if (siem_relp_rsp(&out, a->txnr, "200 OK", 6) < 0)
					log_warnx("siem: RELP ack buffer");
			}
			atomic_fetch_add(&svc->c.relp_acks, 1);
		}
		cur = c;
	}
	for (size_t i = 0; i < b->nacks; i++)
		if (b->acks[i].conn)
			sconn_unref(b->acks[i].conn);
	bw_buf_fini(&out);
	siem_batch_free(b);
}

void siem_batch_final(struct siem_batch *b)
{
	if (b->nacks && b->ictx && b->ictx->loop) {
		if (loop_post(b->ictx->loop, ack_task, b) == 0)
			return;
		/* cannot reach the loop: nothing is acknowledged */
		log_warnx("siem: cannot post acknowledgements");
	}
	siem_batch_free(b);
}
