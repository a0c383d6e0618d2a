/*
 * hsbench: TLS 1.3 full-handshake load generator for the foundation
 * benchmarks (bench/foundation/run.sh).
 *
 *   hsbench -p PORT [-H 127.0.0.1] [-n localhost] [-t THREADS] [-d SECONDS]
 *           [-m close|request]
 *
 * Each thread loops until the deadline: connect over TCP, run a full TLS 1.3
 * handshake (a fresh SSL object every time, no session is ever offered, so
 * the server cannot resume), then either send close_notify and close
 * ("close", the default) or send one tiny GET with Connection: close and
 * read the answer to EOF ("request"). It prints one line:
 *
 *   handshakes=N errors=E seconds=S rate=R/s
 *
 * Invariants: the client never verifies the server's chain (it measures the
 * server, not X.509 path building; the CertificateVerify signature is still
 * checked, as TLS 1.3 requires); every socket and SSL object is released on
 * each iteration, so the process holds at most THREADS connections; the
 * process stops by itself at the deadline. Loopback use only.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define HS_MAX_THREADS 64
#define HS_MAX_SECONDS 3600

struct hs_opts {
	const char *host;
	const char *sni;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int threads;
	int seconds;
	bool request;
};

static struct hs_opts O;
static SSL_CTX *ctx;
static double deadline;
static atomic_ulong n_ok, n_err;

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

/* Reads until EOF, close_notify or error; the response is discarded. */
static void drain(SSL *ssl)
{
	char buf[4096];
	for (;;) {
		int r = SSL_read(ssl, buf, (int)sizeof(buf));
		if (r <= 0)
			return;
	}
}

/* One connection: returns 0 when the handshake (and request) succeeded. */
static int one(void)
{
	int rc = -1;
	SSL *ssl = NULL;
	int fd = socket(O.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one_v = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_v, sizeof(one_v));
	if (connect(fd, (struct sockaddr *)&O.addr, O.addrlen) < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		goto out;
	(void)SSL_set_tlsext_host_name(ssl, O.sni);
	if (SSL_connect(ssl) != 1)
		goto out;
	if (O.request) {
		static const char req[] =
		    "GET / HTTP/1.1\r\nHost: localhost\r\n"
		    "Connection: close\r\n\r\n";
		if (SSL_write(ssl, req, (int)sizeof(req) - 1) !=
		    (int)sizeof(req) - 1)
			goto out;
		drain(ssl);
	} else {
		(void)SSL_shutdown(ssl); /* send close_notify, do not wait */
	}
	rc = 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return rc;
}

/* Accepts any chain without building it: X.509 path validation is client
 * work that would only slow the load generator down. */
static int skip_chain_check(X509_STORE_CTX *x, void *arg)
{
	(void)x;
	(void)arg;
	return 1;
}

static void *worker(void *arg)
{
	(void)arg;
	while (now_s() < deadline) {
		if (one() == 0)
			atomic_fetch_add(&n_ok, 1);
		else
			atomic_fetch_add(&n_err, 1);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: hsbench -p PORT [-H HOST] [-n SNI] [-t THREADS] "
		"[-d SECONDS] [-m close|request]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *port = NULL;
	O.host = "127.0.0.1";
	O.sni = "localhost";
	O.threads = 4;
	O.seconds = 10;
	int ch;
	while ((ch = getopt(argc, argv, "H:p:n:t:d:m:")) != -1) {
		switch (ch) {
		case 'H':
			O.host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'n':
			O.sni = optarg;
			break;
		case 't':
			if (parse_int(optarg, 1, HS_MAX_THREADS, &O.threads) <
			    0)
				usage();
			break;
		case 'd':
			if (parse_int(optarg, 1, HS_MAX_SECONDS, &O.seconds) <
			    0)
				usage();
			break;
		case 'm':
			if (strcmp(optarg, "close") == 0)
				O.request = false;
			else if (strcmp(optarg, "request") == 0)
				O.request = true;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (!port)
		usage();
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(O.host, port, &hints, &ai);
	if (g != 0 || !ai || ai->ai_addrlen > sizeof(O.addr)) {
		fprintf(stderr, "hsbench: bad address %s:%s: %s\n", O.host,
			port, g ? gai_strerror(g) : "too long");
		return 2;
	}
	memcpy(&O.addr, ai->ai_addr, ai->ai_addrlen);
	O.addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, skip_chain_check, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

	/* A probe first, so a server that is not there fails fast and loud. */
	deadline = now_s() + 5;
	if (one() != 0) {
		fprintf(stderr, "hsbench: first handshake with %s:%s failed\n",
			O.host, port);
		return 1;
	}
	pthread_t th[HS_MAX_THREADS];
	double t0 = now_s();
	deadline = t0 + O.seconds;
	int started = 0;
	for (; started < O.threads; started++)
		if (pthread_create(&th[started], NULL, worker, NULL) != 0)
			break;
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double el = now_s() - t0;
	unsigned long ok = atomic_load(&n_ok), bad = atomic_load(&n_err);
	printf("handshakes=%lu errors=%lu seconds=%.2f rate=%.0f/s threads=%d "
	       "mode=%s\n",
	       ok, bad, el, (double)ok / el, started,
	       O.request ? "request" : "close");
	SSL_CTX_free(ctx);
	return started == O.threads ? 0 : 1;
}
