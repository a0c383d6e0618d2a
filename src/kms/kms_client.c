/*
 * kms_client: many threads, one key-process socket. Requests take a slot
 * from a fixed table (KMS_INFLIGHT_MAX); the request id encodes the slot
 * index (low 10 bits) and a sequence number, so the reader thread finds
 * the waiting caller in O(1) and drops replies whose caller gave up.
 *
 * Locking: `mu` guards the slot table, the fd and the counters; `send_mu`
 * serialises send(2). Nobody sends while holding `mu`: a send can block
 * when the key process's receive queue is full, and the key process may
 * itself be blocked sending a reply only our reader (which needs `mu`)
 * can drain. The reader never takes `send_mu`.
 *
 * Invariants:
 *  - a slot is FREE, SYNC (a blocked caller owns it until it wakes) or
 *    ASYNC (the reader owns it and completes it exactly once: reply,
 *    timeout, or key process gone);
 *  - every async completion runs on its caller's loop via loop_post;
 *  - reply buffers may hold plaintext and are wiped when freed.
 */
#include "kms/kms_int.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define M "kms"
#define SLOT_BITS 10
_Static_assert((1u << SLOT_BITS) == KMS_INFLIGHT_MAX, "slot index bits");

enum slot_state { SLOT_FREE, SLOT_SYNC, SLOT_ASYNC };

struct slot {
	uint64_t id;
	enum slot_state state;
	bool done; /* SYNC: reply or failure recorded */
	struct kms_reply *reply;
	struct bw_err err;
	struct loop *loop;
	kms_done_fn fn;
	void *arg;
	int64_t deadline_ms;
};

struct kms_client {
	pthread_mutex_t mu;
	pthread_mutex_t send_mu;
	pthread_cond_t cond; /* SYNC slots completed (broadcast) */
	int fd;
	int wake; /* eventfd: attach / stop */
	bool stopping;
	pthread_t reader;
	uint64_t seq;
	struct slot slots[KMS_INFLIGHT_MAX];
	uint16_t free_list[KMS_INFLIGHT_MAX];
	unsigned nfree;
	struct kms_client_stats st;
};

/* A completion travelling to its loop. */
struct completion {
	kms_done_fn fn;
	void *arg;
	struct kms_reply *reply;
	struct bw_err err;
	bool failed;
};

void kms_reply_free(struct kms_reply *r)
{
	if (!r)
		return;
	keystore_msg_free(r->msg);
	if (r->buf) {
		bw_wipe(r->buf, r->len);
		free(r->buf);
	}
	free(r);
}

const char *kms_reply_error(const struct kms_reply *r, size_t item, char *buf,
			    size_t cap)
{
	struct bw_str s;
	buf[0] = '\0';
	if (r && r->msg && keystore_msg_str(r->msg, item, KEYSTORE_TAG_ERROR, &s))
		bw_snprintf(buf, cap, "%.*s", (int)s.len, s.p);
	return buf;
}

static int64_t mono_ms(void)
{
	return bw_clock_mono_ms();
}

/* ------------------------------------------------------------ completion */

static void run_completion(void *arg)
{
	struct completion *c = arg;
	c->fn(c->reply, c->failed ? &c->err : NULL, c->arg);
	free(c);
}

static void post_completion(struct loop *l, kms_done_fn fn, void *arg,
			    struct kms_reply *reply, const struct bw_err *err)
{
	struct completion *c = calloc(1, sizeof(*c));
	if (!c)
		fatalx("kms: out of memory for a completion");
	c->fn = fn;
	c->arg = arg;
	c->reply = reply;
	if (err) {
		c->err = *err;
		c->failed = true;
	}
	if (loop_post(l, run_completion, c) < 0)
		fatalx("kms: cannot post a completion");
}

/* Frees slot i (mu held). */
static void slot_release(struct kms_client *c, unsigned i)
{
	struct slot *s = &c->slots[i];
	s->id = 0;
	s->state = SLOT_FREE;
	s->done = false;
	s->reply = NULL;
	s->fn = NULL;
	c->free_list[c->nfree++] = (uint16_t)i;
	c->st.inflight--;
}

struct pending_async {
	struct loop *loop;
	kms_done_fn fn;
	void *arg;
};

/* Fails every slot (mu held): SYNC callers wake with err; ASYNC ones are
 * collected into out (at most KMS_INFLIGHT_MAX) and released. */
static size_t fail_all(struct kms_client *c, const struct bw_err *err,
		       struct pending_async *out)
{
	size_t n = 0;
	for (unsigned i = 0; i < KMS_INFLIGHT_MAX; i++) {
		struct slot *s = &c->slots[i];
		if (s->state == SLOT_SYNC && !s->done) {
			s->err = *err;
			s->done = true;
			c->st.failures++;
		} else if (s->state == SLOT_ASYNC) {
			out[n++] = (struct pending_async){ s->loop, s->fn, s->arg };
			c->st.failures++;
			slot_release(c, i);
		}
	}
	pthread_cond_broadcast(&c->cond);
	return n;
}

static void post_failures(struct pending_async *p, size_t n,
			  const struct bw_err *err)
{
	for (size_t i = 0; i < n; i++)
		post_completion(p[i].loop, p[i].fn, p[i].arg, NULL, err);
}

/* ----------------------------------------------------------------- reader */

static void deliver(struct kms_client *c, struct kms_reply *r)
{
	uint64_t id = r->msg->id;
	unsigned i = (unsigned)(id & (KMS_INFLIGHT_MAX - 1));
	pthread_mutex_lock(&c->mu);
	struct slot *s = &c->slots[i];
	if (s->state == SLOT_FREE || s->id != id) {
		/* Its caller timed out and left. */
		pthread_mutex_unlock(&c->mu);
		kms_reply_free(r);
		return;
	}
	c->st.replies++;
	if (s->state == SLOT_SYNC) {
		s->reply = r;
		s->done = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	struct pending_async p = { s->loop, s->fn, s->arg };
	slot_release(c, i);
	pthread_mutex_unlock(&c->mu);
	post_completion(p.loop, p.fn, p.arg, r, NULL);
}

/* Times out ASYNC slots past their deadline. Deadlines are seconds
 * long, so looking every 50 ms is plenty and keeps the reader's per-reply
 * cost independent of the slot table's size. */
static void sweep(struct kms_client *c, struct pending_async *buf)
{
	static _Thread_local int64_t last;
	int64_t now = mono_ms();
	size_t n = 0;
	if (now - last < 50)
		return;
	last = now;
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < KMS_INFLIGHT_MAX && c->st.inflight; i++) {
		struct slot *s = &c->slots[i];
		if (s->state == SLOT_ASYNC && now >= s->deadline_ms) {
			buf[n++] = (struct pending_async){ s->loop, s->fn, s->arg };
			c->st.timeouts++;
			slot_release(c, i);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (n) {
		struct bw_err err;
		bw_err_set(&err, 504, M, "timeout", "the key process did not answer in time");
		post_failures(buf, n, &err);
	}
}

/* The key process closed its end (died or exited). */
static void peer_gone(struct kms_client *c, int fd, struct pending_async *buf)
{
	struct bw_err err;
	bw_err_set(&err, 503, M, "unavailable", "the key process is not running");
	pthread_mutex_lock(&c->mu);
	if (c->fd == fd) {
		close(fd);
		c->fd = -1;
	}
	size_t n = fail_all(c, &err, buf);
	pthread_mutex_unlock(&c->mu);
	post_failures(buf, n, &err);
	log_warnx("kms: the key process closed its socket");
}

static void *reader_main(void *arg)
{
	struct kms_client *c = arg;
	uint8_t *rbuf = malloc(KEYSTORE_MSG_MAX + 1);
	struct pending_async *pbuf = calloc(KMS_INFLIGHT_MAX, sizeof(*pbuf));
	if (!rbuf || !pbuf)
		fatalx("kms: out of memory for the reader");
	for (;;) {
		pthread_mutex_lock(&c->mu);
		bool stop = c->stopping;
		int fd = c->fd;
		pthread_mutex_unlock(&c->mu);
		if (stop)
			break;
		struct pollfd pfd[2] = { { .fd = c->wake, .events = POLLIN },
					 { .fd = fd, .events = POLLIN } };
		int pr = poll(pfd, fd >= 0 ? 2 : 1, 100);
		sweep(c, pbuf);
		if (pr <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;
			if (read(c->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("kms: wake read");
		}
		if (fd < 0 || !(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = recv(fd, rbuf, KEYSTORE_MSG_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			peer_gone(c, fd, pbuf);
			continue;
		}
		if ((size_t)n > KEYSTORE_MSG_MAX) {
			log_warnx("kms: oversized reply from the key process dropped");
			continue;
		}
		struct kms_reply *r = calloc(1, sizeof(*r));
		struct bw_err err;
		if (r) {
			r->buf = malloc((size_t)n);
			r->msg = keystore_msg_new_for((size_t)n);
			r->len = (size_t)n;
		}
		if (!r || !r->buf || !r->msg) {
			kms_reply_free(r);
			bw_wipe(rbuf, (size_t)n);
			log_warnx("kms: out of memory for a reply");
			continue;
		}
		memcpy(r->buf, rbuf, (size_t)n);
		bw_wipe(rbuf, (size_t)n);
		if (keystore_msg_decode(r->msg, r->buf, r->len, &err) < 0 ||
		    r->msg->kind != KEYSTORE_RESPONSE) {
			log_warnx("kms: malformed reply from the key process dropped");
			kms_reply_free(r);
			continue;
		}
		r->status = r->msg->status;
		deliver(c, r);
	}
	free(rbuf);
	free(pbuf);
	return NULL;
}

/* ---------------------------------------------------------------- public */

struct kms_client *kms_client_new(int fd, struct bw_err *err)
{
	struct kms_client *c = calloc(1, sizeof(*c));
	if (!c) {
		bw_err_set(err, 500, M, "memory", "out of memory");
		return NULL;
	}
	c->fd = fd;
	/* A random start: the supervisor keeps the key process across worker
	 * restarts, so replies to a dead worker's requests may still sit in
	 * the socket; their ids must not match a new caller's. */
	bw_random(&c->seq, sizeof(c->seq));
	c->seq >>= SLOT_BITS + 1;
	c->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->send_mu, NULL);
	for (unsigned i = 0; i < KMS_INFLIGHT_MAX; i++)
		c->free_list[i] = (uint16_t)(KMS_INFLIGHT_MAX - 1 - i);
	c->nfree = KMS_INFLIGHT_MAX;
	if (c->wake < 0 || pthread_create(&c->reader, NULL, reader_main, c) != 0) {
		bw_err_set(err, 500, M, "thread", "cannot start the kms reader");
		if (c->wake >= 0)
			close(c->wake);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->send_mu);
		free(c);
		return NULL;
	}
	return c;
}

static void wake_reader(struct kms_client *c)
{
	uint64_t one = 1;
	if (write(c->wake, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("kms: wake");
}

void kms_client_free(struct kms_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_mutex_unlock(&c->mu);
	wake_reader(c);
	pthread_join(c->reader, NULL);
	struct bw_err err;
	bw_err_set(&err, 503, M, "unavailable", "the kms client is shutting down");
	struct pending_async *p = calloc(KMS_INFLIGHT_MAX, sizeof(*p));
	if (!p)
		fatalx("kms: out of memory at shutdown");
	pthread_mutex_lock(&c->mu);
	size_t n = fail_all(c, &err, p);
	for (unsigned i = 0; i < KMS_INFLIGHT_MAX; i++)
		if (c->slots[i].state == SLOT_SYNC)
			fatalx("kms: client freed while a caller still waits");
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_unlock(&c->mu);
	post_failures(p, n, &err);
	free(p);
	close(c->wake);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->send_mu);
	free(c);
}

int kms_client_attach(struct kms_client *c, int fd, struct bw_err *err)
{
	if (fd < 0)
		return bw_err_set(err, 400, M, "fd", "bad descriptor");
	pthread_mutex_lock(&c->mu);
	int old = c->fd;
	c->fd = fd;
	pthread_mutex_unlock(&c->mu);
	/* The reader may be polling the old fd: it notices on its next turn
	 * (within 100 ms) or at once through the wake-up. Closing the old
	 * descriptor under the reader is safe: poll reports POLLNVAL and the
	 * fd no longer matches c->fd. */
	if (old >= 0)
		close(old);
	wake_reader(c);
	return 0;
}

bool kms_client_alive(struct kms_client *c)
{
	pthread_mutex_lock(&c->mu);
	bool alive = c->fd >= 0;
	pthread_mutex_unlock(&c->mu);
	return alive;
}

void kms_client_stats(struct kms_client *c, struct kms_client_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}

/* Takes a slot and numbers the request; -1 with err when busy/dead. */
static int slot_take(struct kms_client *c, struct keystore_enc *req,
		     enum slot_state state, int timeout_ms,
		     const struct pending_async *cb, unsigned *idx, uint64_t *idout,
		     int *fd, const uint8_t **p, size_t *len, struct bw_err *err)
{
	if (keystore_enc_finish(req, p, len) < 0)
		return bw_err_set(err, 413, M, "too_large",
				  "request too large for the key process");
	pthread_mutex_lock(&c->mu);
	if (c->fd < 0) {
		c->st.failures++;
		pthread_mutex_unlock(&c->mu);
		return bw_err_set(err, 503, M, "unavailable",
				  "the key process is not running");
	}
	if (c->nfree == 0) {
		c->st.busy++;
		pthread_mutex_unlock(&c->mu);
		return bw_err_set(err, 503, M, "busy",
				  "too many key operations in flight");
	}
	unsigned i = c->free_list[--c->nfree];
	struct slot *s = &c->slots[i];
	uint64_t id = (++c->seq << SLOT_BITS) | i;
	s->id = id;
	s->state = state;
	s->done = false;
	s->reply = NULL;
	if (cb) {
		s->loop = cb->loop;
		s->fn = cb->fn;
		s->arg = cb->arg;
	}
	s->deadline_ms = mono_ms() + (timeout_ms > 0 ? timeout_ms : KMS_TIMEOUT_MS_DEFAULT);
	c->st.inflight++;
	c->st.requests++;
	*fd = c->fd;
	*idx = i;
	*idout = id;
	/* The request buffer is the caller's and not shared. */
	keystore_msg_set_id((uint8_t *)req->buf.data, id);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int send_req(struct kms_client *c, int fd, const uint8_t *p, size_t len,
		    struct bw_err *err)
{
	pthread_mutex_lock(&c->send_mu);
	ssize_t w;
	do {
		w = send(fd, p, len, MSG_NOSIGNAL);
	} while (w < 0 && errno == EINTR);
	int saved = errno;
	pthread_mutex_unlock(&c->send_mu);
	if (w == (ssize_t)len)
		return 0;
	if (w < 0 && (saved == EPIPE || saved == ECONNRESET || saved == EBADF))
		return bw_err_set(err, 503, M, "unavailable",
				  "the key process is not running");
	return bw_err_set(err, 500, M, "send", "send to the key process: %s",
			  w < 0 ? strerror(saved) : "short write");
}

int kms_call(struct kms_client *c, struct keystore_enc *req, int timeout_ms,
	     struct kms_reply **reply, struct bw_err *err)
{
	/* slot_take sets these when it returns 0; initialised for the
	 * optimiser's flow analysis, which cannot see that far */
	unsigned i = 0;
	int fd = -1;
	const uint8_t *p = NULL;
	size_t len = 0;
	*reply = NULL;
	uint64_t id = 0;
	if (slot_take(c, req, SLOT_SYNC, timeout_ms, NULL, &i, &id, &fd, &p, &len,
		      err) < 0)
		return -1;
	struct slot *s = &c->slots[i];
	struct bw_err serr;
	if (send_req(c, fd, p, len, &serr) < 0) {
		pthread_mutex_lock(&c->mu);
		c->st.failures++;
		slot_release(c, i);
		pthread_mutex_unlock(&c->mu);
		*err = serr;
		return -1;
	}
	struct timespec until;
	int64_t dl = s->deadline_ms;
	until.tv_sec = dl / 1000;
	until.tv_nsec = (long)(dl % 1000) * 1000000L;
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	while (!s->done) {
		if (pthread_cond_timedwait(&c->cond, &c->mu, &until) == ETIMEDOUT &&
		    !s->done) {
			c->st.timeouts++;
			bw_err_set(err, 504, M, "timeout",
				   "the key process did not answer in time");
			rc = -1;
			break;
		}
	}
	if (rc == 0) {
		if (s->reply) {
			*reply = s->reply;
		} else {
			*err = s->err;
			rc = -1;
		}
	}
	slot_release(c, i);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int kms_call_async(struct kms_client *c, struct keystore_enc *req,
		   struct loop *l, kms_done_fn done, void *arg,
		   struct bw_err *err)
{
	/* slot_take sets these when it returns 0; initialised for the
	 * optimiser's flow analysis, which cannot see that far */
	unsigned i = 0;
	int fd = -1;
	const uint8_t *p = NULL;
	size_t len = 0;
	/* The slot carries the completion before the request leaves, so an
	 * immediate reply (or a failure) always finds it. */
	struct pending_async cb = { l, done, arg };
	uint64_t id = 0;
	if (slot_take(c, req, SLOT_ASYNC, 0, &cb, &i, &id, &fd, &p, &len, err) < 0)
		return -1;
	struct slot *s = &c->slots[i];
	struct bw_err serr;
	if (send_req(c, fd, p, len, &serr) == 0)
		return 0;
	/* Not sent: take the slot back unless the reader already failed it
	 * (key process gone), in which case done will run. */
	pthread_mutex_lock(&c->mu);
	bool ours = s->state == SLOT_ASYNC && s->id == id;
	if (ours) {
		c->st.failures++;
		slot_release(c, i);
	}
	pthread_mutex_unlock(&c->mu);
	if (!ours)
		return 0;
	*err = serr;
	return -1;
}
