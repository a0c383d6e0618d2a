/*
 * idleconns: holds N idle keep-alive connections open against one server,
 * so bench/foundation/run.sh can measure the server's memory per idle
 * connection as (RSS_after - RSS_before) / N.
 *
 *   idleconns -p PORT -n N [-H 127.0.0.1] [-s] [-w HOLD_SECONDS] [-j THREADS]
 *
 * For each connection: TCP connect, with -s a full TLS 1.3 handshake, then
 * one "GET / HTTP/1.1" (keep-alive) whose response is read completely (head
 * plus Content-Length bytes). The connection is then left idle: for TLS the
 * client's SSL object is freed without close_notify, so the client stays
 * small while the server keeps its whole TLS state. Once all N are open it
 * prints "ready n=N seconds=S" and waits for SIGTERM/SIGINT or HOLD_SECONDS
 * (default 120); before exiting it prints "alive=M n=N", M being the
 * connections the server has not closed (no EOF, error or stray data).
 * THREADS (default 4) open connections in parallel, each its own share.
 *
 * Invariants: every response read is bounded (IC_MAX_RESPONSE); every
 * blocking call has a 10 s socket timeout; the process never runs longer
 * than the hold time after "ready"; loopback use only.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define IC_MAX_CONNS 100000
#define IC_MAX_RESPONSE 65536 /* the demo page is ~0.5 KB with its head */
#define IC_MAX_HOLD 3600
#define IC_MAX_THREADS 64

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

struct io {
	int fd;
	SSL *ssl;
};

static int io_read(struct io *c, char *buf, size_t len)
{
	if (c->ssl)
		return SSL_read(c->ssl, buf, (int)len);
	ssize_t n;
	do {
		n = read(c->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return (int)n;
}

static int io_write_all(struct io *c, const char *p, size_t len)
{
	while (len) {
		int w;
		if (c->ssl) {
			w = SSL_write(c->ssl, p, (int)len);
		} else {
			ssize_t n = write(c->fd, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			w = (int)n;
		}
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Finds Content-Length in a response head [p, p+len) (case-insensitive
 * name); returns -1 when absent or malformed. */
static long content_length(const char *p, size_t len)
{
	static const char name[] = "\r\ncontent-length:";
	size_t nl = sizeof(name) - 1;
	for (size_t i = 0; i + nl <= len; i++) {
		if (strncasecmp(p + i, name, nl) != 0)
			continue;
		size_t j = i + nl;
		while (j < len && (p[j] == ' ' || p[j] == '\t'))
			j++;
		long v = 0;
		size_t d = j;
		while (j < len && p[j] >= '0' && p[j] <= '9' &&
		       v < IC_MAX_RESPONSE)
			v = v * 10 + (p[j++] - '0');
		return j > d ? v : -1;
	}
	return -1;
}

/* Sends one keep-alive GET and reads exactly one response. */
static int request(struct io *c)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n"
				  "User-Agent: bulwark-idleconns\r\n\r\n";
	if (io_write_all(c, req, sizeof(req) - 1) < 0)
		return -1;
	char buf[IC_MAX_RESPONSE];
	size_t have = 0;
	long need = -1;
	for (;;) {
		if (have == sizeof(buf))
			return -1;
		int n = io_read(c, buf + have, sizeof(buf) - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		if (need < 0) {
			char *end = memmem(buf, have, "\r\n\r\n", 4);
			if (!end)
				continue;
			size_t head = (size_t)(end - buf) + 4;
			long cl = content_length(buf, head);
			if (cl < 0 || (size_t)cl > sizeof(buf) - head)
				return -1;
			need = (long)head + cl;
		}
		if ((long)have >= need)
			return (long)have == need ? 0 : -1;
	}
}

static int open_one(const struct sockaddr_storage *sa, socklen_t salen,
		    SSL_CTX *ctx)
{
	struct io c = {.fd = -1, .ssl = NULL};
	c.fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = 10};
	(void)setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int one = 1;
	(void)setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c.fd, (const struct sockaddr *)sa, salen) < 0)
		goto fail;
	if (ctx) {
		c.ssl = SSL_new(ctx);
		if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1)
			goto fail;
		(void)SSL_set_tlsext_host_name(c.ssl, "localhost");
		if (SSL_connect(c.ssl) != 1)
			goto fail;
	}
	if (request(&c) < 0)
		goto fail;
	/* Drop the client's TLS state without a close_notify: the server
	 * still sees an open, idle TLS connection. */
	SSL_free(c.ssl);
	return c.fd;
fail:
	ERR_clear_error();
	SSL_free(c.ssl);
	close(c.fd);
	return -1;
}

/* The client checks nothing about the server's chain: it only holds
 * connections open. */
static int skip_chain_check(X509_STORE_CTX *x, void *arg)
{
	(void)x;
	(void)arg;
	return 1;
}

/* One opener thread: opens `want` connections into fds[0 .. want). */
struct opener {
	const struct sockaddr_storage *sa;
	socklen_t salen;
	SSL_CTX *ctx;
	int *fds;
	int want, got;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	for (o->got = 0; o->got < o->want && !stop_flag; o->got++) {
		int fd = open_one(o->sa, o->salen, o->ctx);
		if (fd < 0) {
			fprintf(stderr, "idleconns: a connection failed (%s)\n",
				errno ? strerror(errno) : "protocol");
			break;
		}
		o->fds[o->got] = fd;
	}
	return NULL;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: idleconns -p PORT -n N [-H HOST] [-s] [-w HOLD_SECONDS] "
	    "[-j THREADS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = NULL;
	int n = 0, hold = 120, jobs = 4;
	bool tls = false;
	int ch;
	while ((ch = getopt(argc, argv, "H:p:n:sw:j:")) != -1) {
		switch (ch) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'n':
			if (parse_int(optarg, 1, IC_MAX_CONNS, &n) < 0)
				usage();
			break;
		case 's':
			tls = true;
			break;
		case 'j':
			if (parse_int(optarg, 1, IC_MAX_THREADS, &jobs) < 0)
				usage();
			break;
		case 'w':
			if (parse_int(optarg, 0, IC_MAX_HOLD, &hold) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!port || n == 0)
		usage();

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)n + 16) {
		fprintf(stderr,
			"idleconns: RLIMIT_NOFILE %llu is below %d + 16 "
			"(ulimit -n)\n",
			(unsigned long long)rl.rlim_cur, n);
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(host, port, &hints, &ai);
	struct sockaddr_storage addr;
	if (g != 0 || !ai || ai->ai_addrlen > sizeof(addr)) {
		fprintf(stderr, "idleconns: bad address %s:%s\n", host, port);
		return 2;
	}
	memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
	socklen_t addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);

	SSL_CTX *ctx = NULL;
	if (tls) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (!ctx ||
		    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_cert_verify_callback(ctx, skip_chain_check, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	int *fds = calloc((size_t)n, sizeof(*fds));
	if (!fds) {
		fprintf(stderr, "idleconns: out of memory\n");
		return 1;
	}
	double t0 = now_s();
	struct opener op[IC_MAX_THREADS];
	pthread_t th[IC_MAX_THREADS];
	int per = (n + jobs - 1) / jobs, started = 0;
	for (int j = 0; j < jobs; j++) {
		int lo = j * per, hi = lo + per < n ? lo + per : n;
		op[j] = (struct opener){.sa = &addr,
					.salen = addrlen,
					.ctx = ctx,
					.fds = fds + lo,
					.want = hi > lo ? hi - lo : 0};
		if (pthread_create(&th[j], NULL, opener_main, &op[j]) != 0)
			break;
		started++;
	}
	/* Compact the per-thread ranges: fds[0 .. opened) are open. */
	int opened = 0;
	for (int j = 0; j < started; j++) {
		pthread_join(th[j], NULL);
		memmove(fds + opened, op[j].fds,
			(size_t)op[j].got * sizeof(*fds));
		opened += op[j].got;
	}
	printf("ready n=%d seconds=%.2f\n", opened, now_s() - t0);
	fflush(stdout);

	double until = now_s() + hold;
	while (!stop_flag && now_s() < until)
		usleep(50 * 1000);

	/* An open idle connection has nothing to read; EOF, RST or data
	 * means the server let it go. */
	int alive = 0;
	for (int i = 0; i < opened; i++) {
		struct pollfd p = {.fd = fds[i], .events = POLLIN | POLLRDHUP};
		if (poll(&p, 1, 0) == 0)
			alive++;
		close(fds[i]);
	}
	printf("alive=%d n=%d\n", alive, opened);
	free(fds);
	SSL_CTX_free(ctx);
	return opened == n ? 0 : 1;
}
