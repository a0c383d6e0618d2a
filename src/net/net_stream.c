/*
 * Raw byte-stream servers (TCP or TLS) and UDP receivers for non-HTTP
 * protocols such as syslog. A stream connection owns one bounded input
 * buffer and one bounded output buffer; the consumer decides how much input
 * it used and may pause reading for back-pressure.
 *
 * Invariants: on_close runs exactly once per connection whose on_open
 * succeeded, after the socket is closed; a connection's memory is freed
 * only when no callback of it is on the stack (busy counter).
 */
#include "net/net_int.h"
#include "event/event.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAM_READ_CHUNK 16384
#define STREAM_MAX_OUT (1 << 20)

struct net_stream {
	_Atomic int refs;
	struct net_stream_options o;
	char name[32];
};

struct net_stream_conn {
	struct loop_io io;
	struct loop_timer timer;
	struct stream_thread *st;
	struct net_stream *srv;
	struct net_stream_conn *prev, *next;
	SSL *ssl;
	void *ctx;
	struct bw_buf in, out;
	size_t out_pos;
	bool handshake, paused, closed, want_write;
	uint8_t busy;
};

struct stream_listener {
	struct loop_io io;
	struct stream_thread *st;
	struct net_stream *srv;
	struct stream_listener *next;
};

/* Per-loop bookkeeping, found through a small registry keyed by loop. */
struct stream_thread {
	struct loop *loop;
	struct stream_listener *listeners;
	struct net_stream_conn *conns;
	size_t nconns;
	struct stream_thread *next;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stream_thread *registry;

static struct stream_thread *thread_for(struct loop *l, bool create)
{
	pthread_mutex_lock(&registry_mu);
	struct stream_thread *t = registry;
	while (t && t->loop != l)
		t = t->next;
	if (!t && create && (t = calloc(1, sizeof(*t))) != NULL) {
		t->loop = l;
		t->next = registry;
		registry = t;
	}
	pthread_mutex_unlock(&registry_mu);
	return t;
}

struct net_stream *net_stream_new(const struct net_stream_options *o,
				  struct bw_err *err)
{
	if (!o->on_open || !o->on_data) {
		bw_err_set(err, 500, "net", "no_handler", "stream without consumer");
		return NULL;
	}
	struct net_stream *s = calloc(1, sizeof(*s));
	if (!s) {
		bw_err_set(err, 500, "net", "nomem", "out of memory");
		return NULL;
	}
	s->o = *o;
	bw_event_set(s->name, sizeof(s->name), o->name ? o->name : "stream");
	s->o.name = s->name;
	if (!s->o.max_conns)
		s->o.max_conns = 4096;
	if (!s->o.max_buffer)
		s->o.max_buffer = 256 * 1024;
	if (!s->o.idle_timeout_ms)
		s->o.idle_timeout_ms = 300000;
	atomic_store(&s->refs, 1);
	return s;
}

void net_stream_ref(struct net_stream *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void net_stream_unref(struct net_stream *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	net_tls_free(s->o.tls);
	free(s);
}

static void sc_update(struct net_stream_conn *sc)
{
	uint32_t ev = 0;
	if (sc->out_pos < sc->out.len || sc->want_write)
		ev |= EPOLLOUT;
	if (!sc->paused && !sc->want_write)
		ev |= EPOLLIN;
	if (loop_io_mod(sc->st->loop, &sc->io, ev) < 0)
		net_stream_close(sc);
}

static void sc_maybe_free(struct net_stream_conn *sc)
{
	if (!sc->closed || sc->busy)
		return;
	bw_buf_fini(&sc->in);
	bw_buf_fini(&sc->out);
	net_stream_unref(sc->srv);
	free(sc);
}

void net_stream_close(struct net_stream_conn *sc)
{
	if (sc->closed)
		return;
	sc->closed = true;
	struct stream_thread *t = sc->st;
	loop_timer_cancel(t->loop, &sc->timer);
	loop_io_del(t->loop, &sc->io);
	if (sc->ssl)
		SSL_free(sc->ssl);
	sc->ssl = NULL;
	close(sc->io.fd);
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		t->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	t->nconns--;
	if (sc->srv->o.on_close && sc->ctx)
		sc->srv->o.on_close(sc->ctx);
	sc->ctx = NULL;
	sc_maybe_free(sc);
}

static ssize_t sc_io(struct net_stream_conn *sc, char *buf, size_t n, bool wr)
{
	if (!sc->ssl) {
		ssize_t r;
		do {
			r = wr ? send(sc->io.fd, buf, n, MSG_NOSIGNAL) :
				 read(sc->io.fd, buf, n);
		} while (r < 0 && errno == EINTR);
		return r;
	}
	ERR_clear_error();
	int r = wr ? SSL_write(sc->ssl, buf, (int)n) : SSL_read(sc->ssl, buf, (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(sc->ssl, r);
	ERR_clear_error();
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		sc->want_write = e == SSL_ERROR_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	errno = ECONNRESET;
	return -1;
}

static void sc_flush(struct net_stream_conn *sc)
{
	while (!sc->closed && sc->out_pos < sc->out.len) {
		ssize_t w = sc_io(sc, sc->out.data + sc->out_pos,
				  sc->out.len - sc->out_pos, true);
		if (w > 0) {
			sc->out_pos += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EAGAIN)
			break;
		net_stream_close(sc);
		return;
	}
	if (!sc->closed && sc->out_pos == sc->out.len) {
		bw_buf_fini(&sc->out);
		sc->out_pos = 0;
	}
}

static void sc_deliver(struct net_stream_conn *sc)
{
	if (sc->closed || sc->paused || sc->in.len == 0)
		return;
	size_t used = 0;
	int rc = sc->srv->o.on_data(sc->ctx, sc->in.data, sc->in.len, &used);
	if (rc < 0) {
		net_stream_close(sc);
		return;
	}
	if (!sc->closed)
		bw_buf_consume(&sc->in, used > sc->in.len ? sc->in.len : used);
}

static void sc_read(struct net_stream_conn *sc)
{
	for (int i = 0; i < 32 && !sc->closed && !sc->paused; i++) {
		if (bw_buf_reserve(&sc->in, STREAM_READ_CHUNK) < 0 &&
		    bw_buf_reserve(&sc->in, 1) < 0) {
			/* The consumer neither used nor paused: a frame larger
			 * than the buffer can never complete. */
			net_stream_close(sc);
			return;
		}
		size_t room = sc->in.cap - sc->in.len - 1;
		ssize_t n = sc_io(sc, sc->in.data + sc->in.len,
				  room > STREAM_READ_CHUNK ? STREAM_READ_CHUNK : room, false);
		if (n > 0) {
			sc->in.len += (size_t)n;
			sc->in.data[sc->in.len] = '\0';
			sc_deliver(sc);
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			break;
		/* EOF or error: hand over what is left, then close. */
		sc_deliver(sc);
		net_stream_close(sc);
		return;
	}
	if (!sc->closed && sc->in.len == 0)
		bw_buf_fini(&sc->in);
}

static void sc_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct net_stream_conn *sc = io->data;
	sc->busy++;
	if (sc->handshake) {
		ERR_clear_error();
		int r = SSL_do_handshake(sc->ssl);
		if (r == 1) {
			sc->handshake = false;
			sc->want_write = false;
		} else {
			int e = SSL_get_error(sc->ssl, r);
			ERR_clear_error();
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				sc->want_write = e == SSL_ERROR_WANT_WRITE;
			else
				net_stream_close(sc);
		}
	}
	if (!sc->closed && !sc->handshake) {
		if (loop_timer_arm(sc->st->loop, &sc->timer,
				   (int64_t)sc->srv->o.idle_timeout_ms) < 0)
			net_stream_close(sc);
		sc->want_write = false;
		sc_flush(sc);
		sc_read(sc);
		sc_flush(sc);
	}
	if (!sc->closed)
		sc_update(sc);
	sc->busy--;
	sc_maybe_free(sc);
}

static void sc_on_timer(struct loop *l, struct loop_timer *t)
{
	struct net_stream_conn *sc = t->data;
	net_stream_close(sc);
}

int net_stream_write(struct net_stream_conn *sc, const void *p, size_t n)
{
	if (sc->closed)
		return -1;
	if (!sc->out.max)
		bw_buf_init(&sc->out, STREAM_MAX_OUT);
	if (bw_buf_append(&sc->out, p, n) < 0) {
		net_stream_close(sc);
		return -1;
	}
	sc->busy++;
	sc_flush(sc);
	if (!sc->closed)
		sc_update(sc);
	sc->busy--;
	sc_maybe_free(sc);
	return 0;
}

void net_stream_pause(struct net_stream_conn *sc)
{
	if (!sc->closed && !sc->paused) {
		sc->paused = true;
		sc_update(sc);
	}
}

void net_stream_resume(struct net_stream_conn *sc)
{
	if (sc->closed || !sc->paused)
		return;
	sc->paused = false;
	sc->busy++;
	sc_deliver(sc); /* what is buffered first */
	sc_read(sc);
	if (!sc->closed)
		sc_update(sc);
	sc->busy--;
	sc_maybe_free(sc);
}

struct loop *net_stream_loop(struct net_stream_conn *sc)
{
	return sc->st->loop;
}

static void sl_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct stream_listener *ls = io->data;
	struct stream_thread *t = ls->st;
	struct net_stream *s = ls->srv;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct net_stream_conn *sc = NULL;
		if (t->nconns >= s->o.max_conns || !(sc = calloc(1, sizeof(*sc)))) {
			close(fd);
			continue;
		}
		char ip[INET6_ADDRSTRLEN];
		uint16_t port;
		net_sockaddr_format(&ss, ip, &port);
		sc->st = t;
		sc->srv = s;
		net_stream_ref(s);
		sc->io = (struct loop_io){ .fd = fd, .cb = sc_on_io, .data = sc };
		loop_timer_init(&sc->timer, sc_on_timer, sc);
		bw_buf_init(&sc->in, s->o.max_buffer);
		sc->ctx = s->o.on_open(s->o.arg, sc, ip, port);
		if (!sc->ctx) {
			close(fd);
			net_stream_unref(s);
			free(sc);
			continue;
		}
		sc->next = t->conns;
		if (t->conns)
			t->conns->prev = sc;
		t->conns = sc;
		t->nconns++;
		if (s->o.tls) {
			sc->ssl = net_tls_session_new(s->o.tls, fd);
			sc->handshake = true;
			if (!sc->ssl) {
				net_stream_close(sc);
				continue;
			}
		}
		if (loop_io_add(l, &sc->io, EPOLLIN) < 0 ||
		    loop_timer_arm(l, &sc->timer, (int64_t)s->o.idle_timeout_ms) < 0) {
			net_stream_close(sc);
			continue;
		}
	}
}

int net_stream_listen(struct loop *l, int fd, struct net_stream *s,
		      struct bw_err *err)
{
	struct stream_thread *t = thread_for(l, true);
	struct stream_listener *ls = t ? calloc(1, sizeof(*ls)) : NULL;
	if (!ls)
		return bw_err_set(err, 500, "net", "nomem", "out of memory");
	ls->st = t;
	ls->srv = s;
	net_stream_ref(s);
	ls->io = (struct loop_io){ .fd = fd, .cb = sl_on_io, .data = ls };
	if (loop_io_add(l, &ls->io, EPOLLIN) < 0) {
		net_stream_unref(s);
		free(ls);
		return bw_err_set(err, 500, "net", "epoll", "epoll_ctl: %s",
				  strerror(errno));
	}
	ls->next = t->listeners;
	t->listeners = ls;
	return 0;
}

void net_stream_thread_stop(struct loop *l)
{
	struct stream_thread *t = thread_for(l, false);
	if (!t)
		return;
	while (t->listeners) {
		struct stream_listener *ls = t->listeners;
		t->listeners = ls->next;
		loop_io_del(l, &ls->io);
		close(ls->io.fd);
		net_stream_unref(ls->srv);
		free(ls);
	}
	while (t->conns)
		net_stream_close(t->conns);
}

/* ------------------------------------------------------------------ UDP */

struct net_udp {
	struct loop_io io;
	struct loop *loop;
	void (*fn)(void *, const char *, size_t, const char *, uint16_t);
	void *arg;
	uint64_t drops;
};

int net_udp_bind(const char *addr, uint16_t port, bool reuseport, struct bw_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (net_sockaddr_parse(addr, port, &ss, &sl, err) < 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return bw_err_set(err, 500, "net", "socket", "socket: %s", strerror(errno));
	int one = 1;
	if (reuseport)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Count kernel drops (SO_RXQ_OVFL) so loss under overload is seen. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	int rcvbuf = 4 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int saved = errno;
		close(fd);
		return bw_err_set(err, saved == EADDRINUSE ? 409 : 500, "net", "bind",
				  "udp %s port %u: %s", addr, port, strerror(saved));
	}
	return fd;
}

static void udp_on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct net_udp *u = io->data;
	char buf[65536];
	char cbuf[CMSG_SPACE(sizeof(uint32_t))];
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { .msg_name = &ss, .msg_namelen = sizeof(ss),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(io->fd, &mh, 0);
		if (n < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
				uint32_t d;
				memcpy(&d, CMSG_DATA(c), sizeof(d));
				u->drops = d;
			}
		char ip[INET6_ADDRSTRLEN];
		uint16_t port;
		net_sockaddr_format(&ss, ip, &port);
		buf[n] = '\0';
		u->fn(u->arg, buf, (size_t)n, ip, port);
	}
}

struct net_udp *net_udp_start(struct loop *l, int fd,
			      void (*fn)(void *, const char *, size_t, const char *,
					 uint16_t),
			      void *arg, struct bw_err *err)
{
	struct net_udp *u = calloc(1, sizeof(*u));
	if (!u) {
		bw_err_set(err, 500, "net", "nomem", "out of memory");
		return NULL;
	}
	u->loop = l;
	u->fn = fn;
	u->arg = arg;
	u->io = (struct loop_io){ .fd = fd, .cb = udp_on_io, .data = u };
	if (loop_io_add(l, &u->io, EPOLLIN) < 0) {
		bw_err_set(err, 500, "net", "epoll", "epoll_ctl: %s", strerror(errno));
		free(u);
		return NULL;
	}
	return u;
}

void net_udp_stop(struct net_udp *u)
{
	if (!u)
		return;
	loop_io_del(u->loop, &u->io);
	close(u->io.fd);
	free(u);
}

uint64_t net_udp_drops(const struct net_udp *u)
{
	return u->drops;
}
