/*
 * tlsmem: where the memory of an idle server-side TLS 1.3 connection goes,
 * by OpenSSL allocation site. A diagnostic for the memory benchmark, not a
 * load generator.
 *
 *   tlsmem [-n CONNECTIONS] [-k ec|rsa] [-R] [-T]
 *
 * It installs counting allocators (CRYPTO_set_mem_functions, before any
 * other OpenSSL call), builds a server SSL_CTX configured as bulwark's
 * (TLS 1.3, SSL_MODE_RELEASE_BUFFERS, no tickets, no session cache; -R
 * drops RELEASE_BUFFERS, -T turns tickets on), then for each connection runs
 * a full handshake and one small request/response over a socketpair, frees
 * the client side and keeps the server SSL, as a server holding an idle
 * keep-alive connection does. It prints the live heap bytes per connection
 * that OpenSSL holds, total and by allocation site (file:line), largest
 * first. Socket buffers in the kernel and the server's own per-connection
 * state are not included.
 *
 * Invariants: every block carries a 16-byte header with its size and site;
 * counters only ever describe live blocks; single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TM_SITES                                                               \
	4096 /* distinct OpenSSL allocation sites; ~1,000 in practice */
#define TM_MAX_CONNS 100000
#define TM_HDR 16

struct site {
	const char *file;
	int line;
	int64_t bytes, blocks;
};

static struct site sites[TM_SITES];
static int64_t live_bytes;

static struct site *site_of(const char *file, int line)
{
	uintptr_t h = ((uintptr_t)file * 31u + (uintptr_t)line) % TM_SITES;
	for (size_t i = 0; i < TM_SITES; i++) {
		struct site *s = &sites[(h + i) % TM_SITES];
		if (s->file == file && s->line == line)
			return s;
		if (!s->file) {
			s->file = file ? file : "?";
			s->line = line;
			return s;
		}
	}
	return &sites[0]; /* table full: lump together (never seen) */
}

struct hdr {
	uint32_t size;
	uint32_t site;
	uint64_t pad;
};

static void account(void *blk, size_t n, const char *file, int line, int sign)
{
	struct hdr *h = blk;
	struct site *s;
	if (sign > 0) {
		s = site_of(file, line);
		h->size = (uint32_t)n;
		h->site = (uint32_t)(s - sites);
	} else {
		s = &sites[h->site];
	}
	s->bytes += sign * (int64_t)h->size;
	s->blocks += sign;
	live_bytes += sign * (int64_t)h->size;
}

static void *tm_malloc(size_t n, const char *file, int line)
{
	if (n > UINT32_MAX - TM_HDR)
		return NULL;
	char *p = malloc(n + TM_HDR);
	if (!p)
		return NULL;
	account(p, n, file, line, 1);
	return p + TM_HDR;
}

static void tm_free(void *ptr, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!ptr)
		return;
	char *p = (char *)ptr - TM_HDR;
	account(p, 0, NULL, 0, -1);
	free(p);
}

static void *tm_realloc(void *ptr, size_t n, const char *file, int line)
{
	if (!ptr)
		return tm_malloc(n, file, line);
	if (n == 0) {
		tm_free(ptr, file, line);
		return NULL;
	}
	void *q = tm_malloc(n, file, line);
	if (!q)
		return NULL;
	struct hdr old;
	memcpy(&old, (char *)ptr - TM_HDR, sizeof(old));
	memcpy(q, ptr, old.size < n ? old.size : n);
	tm_free(ptr, file, line);
	return q;
}

static void die(const char *what)
{
	fprintf(stderr, "tlsmem: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void make_cert(bool rsa, EVP_PKEY **key, X509 **crt)
{
	*key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	*crt = X509_new();
	if (!*key || !*crt)
		die("key generation");
	X509_set_version(*crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(*crt), 0);
	X509_gmtime_adj(X509_getm_notAfter(*crt), 86400);
	X509_NAME *nm = X509_get_subject_name(*crt);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1,
				   0);
	X509_set_issuer_name(*crt, nm);
	X509_set_pubkey(*crt, *key);
	if (!X509_sign(*crt, *key, EVP_sha256()))
		die("self-signing");
}

/* Drives both ends until neither wants to progress; 0 when both done. */
static int pump_handshake(SSL *c, SSL *s)
{
	bool cd = false, sd = false;
	for (int i = 0; i < 64 && !(cd && sd); i++) {
		if (!cd) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				cd = true;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
		if (!sd) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				sd = true;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
	}
	return cd && sd ? 0 : -1;
}

static int exchange(SSL *c, SSL *s)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char resp[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	char buf[512];
	if (SSL_write(c, req, (int)sizeof(req) - 1) <= 0)
		return -1;
	int got = 0;
	for (int i = 0; i < 16 && got < (int)sizeof(req) - 1; i++) {
		int r = SSL_read(s, buf, (int)sizeof(buf));
		if (r > 0)
			got += r;
		else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
			return -1;
	}
	if (SSL_write(s, resp, (int)sizeof(resp) - 1) <= 0)
		return -1;
	got = 0;
	for (int i = 0; i < 16 && got < (int)sizeof(resp) - 1; i++) {
		int r = SSL_read(c, buf, (int)sizeof(buf));
		if (r > 0)
			got += r;
		else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
			return -1;
	}
	/* The server reads once more, finds nothing (as after a response),
	 * which is when RELEASE_BUFFERS lets go of the read buffer. */
	(void)SSL_read(s, buf, (int)sizeof(buf));
	ERR_clear_error();
	return got == (int)sizeof(resp) - 1 ? 0 : -1;
}

static int by_bytes(const void *a, const void *b)
{
	const struct site *x = a, *y = b;
	return (y->bytes > x->bytes) - (y->bytes < x->bytes);
}

int main(int argc, char **argv)
{
	if (!CRYPTO_set_mem_functions(tm_malloc, tm_realloc, tm_free))
		die("CRYPTO_set_mem_functions (must run before any other "
		    "OpenSSL call)");
	int n = 1000, ch;
	bool rsa = false, release = true, tickets = false;
	while ((ch = getopt(argc, argv, "n:k:RT")) != -1) {
		switch (ch) {
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > TM_MAX_CONNS)
				die("-n: 1..100000");
			n = (int)v;
			break;
		}
		case 'k':
			rsa = strcmp(optarg, "rsa") == 0;
			break;
		case 'R':
			release = false;
			break;
		case 'T':
			tickets = true;
			break;
		default:
			fprintf(stderr,
				"usage: tlsmem [-n N] [-k ec|rsa] [-R] [-T]\n");
			return 2;
		}
	}
	EVP_PKEY *key;
	X509 *crt;
	make_cert(rsa, &key, &crt);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	if (!sctx || !cctx)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	if (SSL_CTX_use_certificate(sctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey(sctx, key) != 1)
		die("server certificate");
	if (release)
		SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
	if (!tickets) {
		SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(sctx, 0);
	}
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);

	SSL **keep = calloc((size_t)n, sizeof(*keep));
	int *fds = calloc((size_t)n, sizeof(*fds));
	if (!keep || !fds)
		die("out of memory");
	/* One connection first, so lazily built tables (cipher fetches,
	 * provider caches) are not charged to the measured ones. */
	for (int pass = 0; pass < 2; pass++) {
		int count = pass == 0 ? 1 : n;
		static struct site before[TM_SITES];
		int64_t live0 = live_bytes;
		if (pass == 1)
			memcpy(before, sites, sizeof(sites));
		for (int i = 0; i < count; i++) {
			int sv[2];
			if (socketpair(AF_UNIX,
				       SOCK_STREAM | SOCK_NONBLOCK |
					   SOCK_CLOEXEC,
				       0, sv) < 0)
				die("socketpair (raise ulimit -n)");
			SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
			if (!c || !s || SSL_set_fd(c, sv[0]) != 1 ||
			    SSL_set_fd(s, sv[1]) != 1)
				die("SSL_new");
			SSL_set_connect_state(c);
			SSL_set_accept_state(s);
			if (pump_handshake(c, s) < 0 || exchange(c, s) < 0)
				die("handshake or exchange");
			SSL_free(c);
			close(sv[0]);
			if (pass == 1) {
				keep[i] = s;
				fds[i] = sv[1];
			} else {
				SSL_free(s);
				close(sv[1]);
			}
		}
		if (pass == 0)
			continue;
		int64_t per = (live_bytes - live0) / n;
		printf("server-side OpenSSL heap per idle TLS 1.3 connection "
		       "(%s, %s, tickets %s): "
		       "%lld bytes\n",
		       rsa ? "RSA-2048" : "ECDSA P-256",
		       release ? "SSL_MODE_RELEASE_BUFFERS" : "buffers kept",
		       tickets ? "on" : "off", (long long)per);
		struct site *d = calloc(TM_SITES, sizeof(*d));
		if (!d)
			die("out of memory");
		for (size_t i = 0; i < TM_SITES; i++) {
			d[i] = sites[i];
			d[i].bytes -= before[i].bytes;
			d[i].blocks -= before[i].blocks;
		}
		qsort(d, TM_SITES, sizeof(*d), by_bytes);
		printf("%10s %8s  %s\n", "bytes", "blocks",
		       "allocation site (per connection)");
		for (size_t i = 0; i < TM_SITES && d[i].bytes >= n * 16; i++) {
			const char *f = strstr(d[i].file, "/ssl/");
			if (!f)
				f = strstr(d[i].file, "/crypto/");
			printf("%10.0f %8.1f  %s:%d\n", (double)d[i].bytes / n,
			       (double)d[i].blocks / n, f ? f + 1 : d[i].file,
			       d[i].line);
		}
		free(d);
	}
	for (int i = 0; i < n; i++) {
		SSL_free(keep[i]);
		close(fds[i]);
	}
	free(keep);
	free(fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(crt);
	EVP_PKEY_free(key);
	return 0;
}
