/* Parked TLS 1.3 connections against a real OpenSSL client: after the
 * server's SSL object is freed, bulwark's record layer must keep the
 * connection going both ways for every TLS 1.3 suite, through KeyUpdates
 * asked by the client, many records and full sockets, and must refuse a
 * forged record with an alert and handle close_notify both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_tlsrec.h"

static EVP_PKEY *key;
static X509 *cert;

static int setup(void **state)
{
	key = EVP_EC_gen("P-256");
	cert = X509_new();
	if (!key || !cert)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_set_pubkey(cert, key);
	X509_NAME *n = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(cert, n);
	return X509_sign(cert, key, EVP_sha256()) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	EVP_PKEY_free(key);
	X509_free(cert);
	return 0;
}

struct pair {
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	int sfd, cfd;
	struct net_tlsrec *r;
};

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A handshake over a socketpair, then one request and response through
 * OpenSSL, so that the counted sequence numbers are not all zero (the
 * server has also sent its session tickets by then). */
static void pair_open(struct pair *p, const char *suite, int max_version)
{
	memset(p, 0, sizeof(*p));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->sfd = sv[0];
	p->cfd = sv[1];
	nonblock(p->sfd);
	nonblock(p->cfd);
	p->sctx = SSL_CTX_new(TLS_server_method());
	p->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(p->sctx);
	assert_non_null(p->cctx);
	assert_int_equal(SSL_CTX_use_certificate(p->sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(p->sctx, key), 1);
	SSL_CTX_set_mode(p->sctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(p->sctx, 1); /* as net_tls.c sets it */
	assert_int_equal(net_tlsrec_ctx_setup(p->sctx), 0);
	SSL_CTX_set_max_proto_version(p->cctx, max_version);
	if (suite)
		assert_int_equal(SSL_CTX_set_ciphersuites(p->cctx, suite), 1);
	p->s = SSL_new(p->sctx);
	p->c = SSL_new(p->cctx);
	SSL_set_fd(p->s, p->sfd);
	SSL_set_fd(p->c, p->cfd);
	SSL_set_accept_state(p->s);
	SSL_set_connect_state(p->c);
	int done_s = 0, done_c = 0;
	for (int i = 0; i < 100 && !(done_s && done_c); i++) {
		if (!done_c)
			done_c = SSL_do_handshake(p->c) == 1;
		if (!done_s)
			done_s = SSL_do_handshake(p->s) == 1;
	}
	assert_true(done_s && done_c);
	char b[64];
	assert_int_equal(SSL_write(p->c, "GET / one", 9), 9);
	int n = -1;
	for (int i = 0; i < 10 && n <= 0; i++)
		n = SSL_read(p->s, b, sizeof(b));
	assert_int_equal(n, 9);
	assert_int_equal(SSL_write(p->s, "200 first", 9), 9);
	n = -1;
	for (int i = 0; i < 10 && n <= 0; i++) /* reads the tickets too */
		n = SSL_read(p->c, b, sizeof(b));
	assert_int_equal(n, 9);
}

static void pair_close(struct pair *p)
{
	net_tlsrec_free(p->r);
	if (p->s)
		SSL_free(p->s);
	SSL_free(p->c);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
	close(p->sfd);
	close(p->cfd);
}

static void park(struct pair *p)
{
	assert_true(net_tlsrec_can_park(p->s));
	p->r = net_tlsrec_park(p->s);
	p->s = NULL;
	assert_non_null(p->r);
}

/* Reads exactly n bytes through the parked server. */
static void server_read_exact(struct pair *p, char *buf, size_t n)
{
	size_t got = 0;
	for (int spins = 0; got < n && spins < 100000; spins++) {
		ssize_t k = net_tlsrec_read(p->r, p->sfd, buf + got, n - got);
		if (k < 0) {
			assert_int_equal(errno, EAGAIN);
			continue;
		}
		assert_true(k > 0);
		got += (size_t)k;
	}
	assert_int_equal(got, n);
}

static void client_read_exact(struct pair *p, char *buf, size_t n)
{
	size_t got = 0;
	for (int spins = 0; got < n && spins < 100000; spins++) {
		int k = SSL_read(p->c, buf + got, (int)(n - got));
		if (k <= 0) {
			assert_int_equal(SSL_get_error(p->c, k), SSL_ERROR_WANT_READ);
			continue;
		}
		got += (size_t)k;
	}
	assert_int_equal(got, n);
}

static void ping_pong(struct pair *p, const char *req, const char *rsp)
{
	char b[128];
	size_t ql = strlen(req), sl = strlen(rsp);
	assert_int_equal(SSL_write(p->c, req, (int)ql), (int)ql);
	server_read_exact(p, b, ql);
	assert_memory_equal(b, req, ql);
	assert_false(net_tlsrec_pending(p->r));
	assert_int_equal(net_tlsrec_write(p->r, p->sfd, rsp, sl), (ssize_t)sl);
	client_read_exact(p, b, sl);
	assert_memory_equal(b, rsp, sl);
}

static void parked_connection_goes_on(const char *suite)
{
	struct pair p;
	pair_open(&p, suite, TLS1_3_VERSION);
	park(&p);
	ping_pong(&p, "GET / two", "200 second");
	/* two records in one read: the second waits inside, pending says so */
	assert_int_equal(SSL_write(p.c, "first", 5), 5);
	assert_int_equal(SSL_write(p.c, "second", 6), 6);
	char two[16];
	ssize_t k1;
	while ((k1 = net_tlsrec_read(p.r, p.sfd, two, sizeof(two))) < 0)
		assert_int_equal(errno, EAGAIN);
	assert_int_equal(k1, 5);
	assert_memory_equal(two, "first", 5);
	assert_true(net_tlsrec_pending(p.r));
	assert_int_equal(net_tlsrec_read(p.r, p.sfd, two, sizeof(two)), 6);
	assert_memory_equal(two, "second", 6);
	assert_false(net_tlsrec_pending(p.r));
	ping_pong(&p, "GET / three", "200 third");
	/* the client asks for a KeyUpdate: ours must precede our next data */
	assert_int_equal(SSL_key_update(p.c, SSL_KEY_UPDATE_REQUESTED), 1);
	ping_pong(&p, "after key update", "answer under new keys");
	assert_int_equal(SSL_key_update(p.c, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
	ping_pong(&p, "after another", "still fine");

	/* 200 KB each way: many records, full socket buffers, EAGAIN retries
	 * with the same buffer */
	size_t big = 200 * 1024;
	char *out = malloc(big), *in = malloc(big);
	for (size_t i = 0; i < big; i++)
		out[i] = (char)(i * 7 + i / 251);
	size_t sent = 0, got = 0;
	while (sent < big || got < big) {
		if (sent < big) {
			ssize_t k = net_tlsrec_write(p.r, p.sfd, out + sent, big - sent);
			if (k > 0)
				sent += (size_t)k;
			else
				assert_int_equal(errno, EAGAIN);
		}
		int k = SSL_read(p.c, in + got, (int)(big - got));
		if (k > 0)
			got += (size_t)k;
	}
	assert_memory_equal(in, out, big);
	sent = got = 0;
	memset(in, 0, big);
	while (sent < big || got < big) {
		if (sent < big) {
			int k = SSL_write(p.c, out + sent, (int)(big - sent));
			if (k > 0)
				sent += (size_t)k;
		}
		ssize_t k = net_tlsrec_read(p.r, p.sfd, in + got, big - got);
		if (k > 0)
			got += (size_t)k;
		else
			assert_int_equal(errno, EAGAIN);
	}
	assert_memory_equal(in, out, big);
	free(out);
	free(in);

	/* the client's close_notify ends the stream cleanly */
	assert_true(SSL_shutdown(p.c) >= 0);
	char b[8];
	ssize_t k;
	while ((k = net_tlsrec_read(p.r, p.sfd, b, sizeof(b))) < 0)
		assert_int_equal(errno, EAGAIN);
	assert_int_equal(k, 0);
	pair_close(&p);
}

static void aes128(void **state)
{
	parked_connection_goes_on("TLS_AES_128_GCM_SHA256");
}
static void aes256(void **state)
{
	parked_connection_goes_on("TLS_AES_256_GCM_SHA384");
}
static void chacha(void **state)
{
	parked_connection_goes_on("TLS_CHACHA20_POLY1305_SHA256");
}

/* A record that does not verify: the server answers bad_record_mac and
 * the connection is dead for both sides. */
static void forged_record_refused(void **state)
{
	struct pair p;
	pair_open(&p, NULL, TLS1_3_VERSION);
	park(&p);
	uint8_t rec[5 + 40] = { 23, 3, 3, 0, 40 };
	memset(rec + 5, 0x41, 40);
	assert_int_equal(write(p.cfd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	char b[16];
	assert_int_equal(net_tlsrec_read(p.r, p.sfd, b, sizeof(b)), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(net_tlsrec_write(p.r, p.sfd, "x", 1), -1);
	/* the client sees the alert */
	int k = SSL_read(p.c, b, sizeof(b));
	assert_true(k <= 0);
	assert_int_equal(SSL_get_error(p.c, k), SSL_ERROR_SSL);
	pair_close(&p);
}

/* Wrong outer type, and a record longer than 2^14 + 256. */
static void malformed_headers_refused(void **state)
{
	static const uint8_t bad[][5] = { { 22, 3, 3, 0, 20 }, { 23, 3, 1, 0, 20 },
					  { 23, 3, 3, 0x41, 1 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pair p;
		pair_open(&p, NULL, TLS1_3_VERSION);
		park(&p);
		assert_int_equal(write(p.cfd, bad[i], 5), 5);
		char b[16];
		assert_int_equal(net_tlsrec_read(p.r, p.sfd, b, sizeof(b)), -1);
		assert_int_equal(errno, EPROTO);
		pair_close(&p);
	}
}

/* Our close_notify reaches the client as a clean end. */
static void close_notify_sent(void **state)
{
	struct pair p;
	pair_open(&p, NULL, TLS1_3_VERSION);
	park(&p);
	ping_pong(&p, "GET / x", "200 x");
	net_tlsrec_close_notify(p.r, p.sfd);
	char b[8];
	int k = SSL_read(p.c, b, sizeof(b));
	assert_int_equal(k, 0);
	assert_int_equal(SSL_get_error(p.c, k), SSL_ERROR_ZERO_RETURN);
	pair_close(&p);
}

/* TLS 1.2, and a connection with data still inside OpenSSL: not parked. */
static void unparkable_connections(void **state)
{
	struct pair p;
	pair_open(&p, NULL, TLS1_2_VERSION);
	assert_false(net_tlsrec_can_park(p.s));
	pair_close(&p);

	pair_open(&p, NULL, TLS1_3_VERSION);
	assert_int_equal(SSL_write(p.c, "0123456789", 10), 10);
	char b[4];
	int n = -1;
	for (int i = 0; i < 10 && n <= 0; i++)
		n = SSL_read(p.s, b, sizeof(b)); /* 6 bytes left inside */
	assert_int_equal(n, 4);
	assert_false(net_tlsrec_can_park(p.s));
	pair_close(&p);
}

/* The inner parsing with states made from known secrets: what a peer
 * holding the right keys may still send wrong. */
struct known {
	struct net_tlsrec *us, *peer;
	int sv[2];
};

static void known_open(struct known *k)
{
	static const uint8_t a[32] = { 0xa1 }, b[32] = { 0xb2 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, k->sv), 0);
	nonblock(k->sv[0]);
	k->us = net_tlsrec_from_secrets(0x1301, a, b, 32, 5, 7);
	k->peer = net_tlsrec_from_secrets(0x1301, b, a, 32, 7, 5);
	assert_non_null(k->us);
	assert_non_null(k->peer);
}

static void known_close(struct known *k)
{
	net_tlsrec_free(k->us);
	net_tlsrec_free(k->peer);
	close(k->sv[0]);
	close(k->sv[1]);
}

static ssize_t known_read(struct known *k, char *buf, size_t cap)
{
	return net_tlsrec_read(k->us, k->sv[0], buf, cap);
}

static void inner_content_rules(void **state)
{
	assert_null(net_tlsrec_from_secrets(0x1304, (const uint8_t *)"x", (const uint8_t *)"y", 1,
					    0, 0));
	struct known k;
	char b[64];
	/* empty application data and user_canceled are skipped */
	known_open(&k);
	assert_int_equal(net_tlsrec_send_record(k.peer, k.sv[1], 23, "", 0), 0);
	assert_int_equal(net_tlsrec_send_record(k.peer, k.sv[1], 21, "\x01\x5a", 2), 0);
	assert_int_equal(net_tlsrec_send_record(k.peer, k.sv[1], 23, "data", 4), 0);
	assert_int_equal(known_read(&k, b, sizeof(b)), 4);
	assert_memory_equal(b, "data", 4);
	/* a fatal alert from the peer ends it without an answer */
	assert_int_equal(net_tlsrec_send_record(k.peer, k.sv[1], 21, "\x02\x28", 2), 0);
	assert_int_equal(known_read(&k, b, sizeof(b)), -1);
	assert_int_equal(errno, EPROTO);
	known_close(&k);

	static const struct {
		uint8_t type;
		const char *content;
		size_t len;
	} bad[] = {
		{ 22, "\x04\x00\x00\x01\x00", 5 },		   /* NewSessionTicket */
		{ 22, "\x18\x00\x00\x01\x02", 5 },		   /* request_update 2 */
		{ 22, "\x18\x00\x00\x02\x00\x00", 6 },	   /* KeyUpdate length 2 */
		{ 22, "\x18\x00\x00\x01\x00\x18\x00", 7 }, /* KeyUpdate not last */
		{ 22, "\x18\x00", 2 },			   /* truncated header */
		{ 21, "\x01", 1 },				   /* short alert */
		{ 20, "\x01", 1 },				   /* change_cipher_spec */
		{ 0, "", 0 },					   /* no content type */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		known_open(&k);
		assert_int_equal(net_tlsrec_send_record(k.peer, k.sv[1], bad[i].type, bad[i].content,
							bad[i].len),
				 0);
		assert_int_equal(known_read(&k, b, sizeof(b)), -1);
		assert_int_equal(errno, EPROTO);
		known_close(&k);
	}
	/* a record under the wrong sequence number does not open */
	known_open(&k);
	assert_int_equal(net_tlsrec_send_record(k.us, k.sv[1], 23, "mine", 4), 0); /* our keys */
	assert_int_equal(known_read(&k, b, sizeof(b)), -1);
	assert_int_equal(errno, EPROTO);
	known_close(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aes128),
		cmocka_unit_test(aes256),
		cmocka_unit_test(chacha),
		cmocka_unit_test(forged_record_refused),
		cmocka_unit_test(malformed_headers_refused),
		cmocka_unit_test(close_notify_sent),
		cmocka_unit_test(unparkable_connections),
		cmocka_unit_test(inner_content_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
