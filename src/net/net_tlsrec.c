/*
 * Parked TLS 1.3 connections (see net_tlsrec.h): the TLS 1.3 record layer
 * of RFC 8446 section 5 for connections whose SSL object has been freed.
 *
 * Invariants:
 *  - a record is opened only whole, with the AEAD tag checked before a
 *    byte of it is used; a bad record sends a fatal alert and the
 *    connection is never read again;
 *  - the nonce is the static IV XOR the 64-bit record sequence number, and
 *    each direction's sequence number counts every record under its keys
 *    (from OpenSSL's count while it held the connection, then ours);
 *  - KeyUpdate (the only post-handshake message a server accepts) must end
 *    its record; update_requested is answered before the next record we
 *    send, as section 4.6.3 requires;
 *  - idle parked connections hold no buffers: the read and write buffers
 *    are allocated for a record and freed when empty;
 *  - traffic secrets and keys are wiped when replaced and when freed.
 */
#include "net/net_tlsrec.h"
#include "core/core.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REC_HEADER 5
#define REC_TAG 16
#define REC_MAX_PLAIN 16384			 /* 2^14: section 5.1 */
#define REC_MAX_CIPHER (REC_MAX_PLAIN + 256)	 /* 2^14 + 256: section 5.2 */
#define RBUF_CAP (REC_HEADER + REC_MAX_CIPHER) /* always room for one record */
/* one KeyUpdate record and one full application record */
#define KU_RECORD (REC_HEADER + 5 + 1 + REC_TAG)
#define WBUF_CAP (KU_RECORD + REC_HEADER + REC_MAX_PLAIN + 1 + REC_TAG)
#define SECRET_MAX 48

#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_FINISHED 20
#define HS_KEY_UPDATE 24

#define ALERT_CLOSE_NOTIFY 0
#define ALERT_UNEXPECTED_MESSAGE 10
#define ALERT_BAD_RECORD_MAC 20
#define ALERT_RECORD_OVERFLOW 22
#define ALERT_ILLEGAL_PARAMETER 47
#define ALERT_DECODE_ERROR 50
#define ALERT_USER_CANCELED 90

/* ---------------------------------------------------------------- suites */

enum suite { SUITE_AES128_GCM, SUITE_AES256_GCM, SUITE_CHACHA20, SUITE_N };

static const struct {
	uint16_t id; /* the TLS cipher suite number */
	const char *cipher, *digest;
	uint8_t key_len, hash_len;
} suites[SUITE_N] = {
	[SUITE_AES128_GCM] = { 0x1301, "AES-128-GCM", "SHA256", 16, 32 },
	[SUITE_AES256_GCM] = { 0x1302, "AES-256-GCM", "SHA384", 32, 48 },
	[SUITE_CHACHA20] = { 0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32 },
};

static EVP_CIPHER *ciphers[SUITE_N];
static EVP_KDF *hkdf;
static int track_index = -1;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------ counting inside OpenSSL */

/* What the callbacks learn about one SSL while OpenSSL holds it. */
struct track {
	uint8_t client_secret[SECRET_MAX], server_secret[SECRET_MAX];
	uint8_t client_len, server_len;
	bool read_app, write_app; /* past the peer's / our Finished */
	bool broken;		  /* something we cannot follow happened */
	uint64_t rseq, wseq;
};

static void track_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		       void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct track));
		free(ptr);
	}
}

static void init_once_fn(void)
{
	for (int i = 0; i < SUITE_N; i++)
		ciphers[i] = EVP_CIPHER_fetch(NULL, suites[i].cipher, NULL);
	hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	track_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, track_free);
}

static struct track *track_of(const SSL *ssl, bool create)
{
	struct track *t = SSL_get_ex_data(ssl, track_index);
	if (t || !create)
		return t;
	t = calloc(1, sizeof(*t));
	/* The callbacks are handed a const SSL; it is the connection's own. */
	if (t && SSL_set_ex_data((SSL *)ssl, track_index, t) != 1) {
		free(t);
		return NULL;
	}
	return t;
}

/* "LABEL <client random> <secret>": the application traffic secrets. */
static void keylog_cb(const SSL *ssl, const char *line)
{
	static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ", sl[] = "SERVER_TRAFFIC_SECRET_0 ";
	bool client = strncmp(line, cl, sizeof(cl) - 1) == 0;
	if (!client && strncmp(line, sl, sizeof(sl) - 1) != 0)
		return;
	struct track *t = track_of(ssl, true);
	if (!t)
		return;
	const char *hex = strrchr(line, ' ');
	size_t n = hex ? strlen(hex + 1) : 0;
	uint8_t *out = client ? t->client_secret : t->server_secret;
	if (n == 0 || n % 2 || n / 2 > SECRET_MAX) {
		t->broken = true;
		return;
	}
	for (size_t i = 0; i < n / 2; i++) {
		int hi = bw_hex_digit(hex[1 + 2 * i]), lo = bw_hex_digit(hex[2 + 2 * i]);
		if (hi < 0 || lo < 0) {
			t->broken = true;
			return;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	if (client)
		t->client_len = (uint8_t)(n / 2);
	else
		t->server_len = (uint8_t)(n / 2);
}

/* Every protected record shows up here once as a header (SSL3_RT_HEADER),
 * written or read; a Finished message is reported after its own record,
 * so the records counted after it are exactly those under the application
 * keys. */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	(void)version, (void)arg;
	const uint8_t *p = buf;
	if (content_type == SSL3_RT_HEADER) {
		struct track *t = track_of(ssl, false);
		if (!t)
			return;
		if (write_p && t->write_app)
			t->wseq++;
		else if (!write_p && t->read_app)
			t->rseq++;
	} else if (content_type == SSL3_RT_HANDSHAKE && len >= 1) {
		if (p[0] == HS_FINISHED) {
			struct track *t = track_of(ssl, true);
			if (!t)
				return;
			if (write_p) {
				t->write_app = true;
				t->wseq = 0;
			} else {
				t->read_app = true;
				t->rseq = 0;
			}
		} else if (p[0] == HS_KEY_UPDATE) {
			struct track *t = track_of(ssl, true);
			if (t)
				t->broken = true;
		}
	}
}

int net_tlsrec_ctx_setup(SSL_CTX *ctx)
{
	pthread_once(&init_once, init_once_fn);
	if (track_index < 0 || !hkdf)
		return -1;
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
	return 0;
}

/* ------------------------------------------------------- the parked state */

struct net_tlsrec {
	uint8_t suite;
	bool ku_pending; /* the peer asked for a KeyUpdate: send ours first */
	bool eof, failed;
	uint8_t rsecret[SECRET_MAX], wsecret[SECRET_MAX];
	uint8_t rkey[32], riv[12], wkey[32], wiv[12];
	uint64_t rseq, wseq;
	/* read side: raw bytes in [rstart, rend), opened application data
	 * waiting in [pt_off, pt_end) (inside the buffer, before rstart) */
	uint8_t *rbuf;
	uint32_t rstart, rend, pt_off, pt_end;
	/* write side: sealed bytes in [woff, wlen); wconsumed plaintext bytes
	 * are in them, reported once they are all on the wire */
	uint8_t *wbuf;
	uint32_t woff, wlen, wconsumed;
};

static int suite_of(SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	if (!c)
		return -1;
	uint16_t id = (uint16_t)(SSL_CIPHER_get_id(c) & 0xffff);
	for (int i = 0; i < SUITE_N; i++)
		if (suites[i].id == id && ciphers[i])
			return i;
	return -1;
}

bool net_tlsrec_can_park(SSL *ssl)
{
	if (track_index < 0 || SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_init_finished(ssl))
		return false;
	struct track *t = track_of(ssl, false);
	int s = suite_of(ssl);
	if (!t || s < 0 || t->broken || !t->read_app || !t->write_app ||
	    t->client_len != suites[s].hash_len || t->server_len != suites[s].hash_len)
		return false;
	if (SSL_get_early_data_status(ssl) == SSL_EARLY_DATA_ACCEPTED)
		return false;
	/* nothing read into OpenSSL and not yet handed out, nothing it still
	 * has to write, no shutdown under way */
	BIO *wb = SSL_get_wbio(ssl);
	return SSL_pending(ssl) == 0 && !SSL_has_pending(ssl) && !SSL_want_write(ssl) &&
	       (!wb || BIO_wpending(wb) == 0) && SSL_get_shutdown(ssl) == 0;
}

/* HKDF-Expand-Label(secret, label, "", out_len), RFC 8446 section 7.1. */
static int expand_label(int s, const uint8_t *secret, const char *label, uint8_t *out,
			size_t out_len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1];
	size_t ll = strlen(label);
	if (ll > 16)
		return -1;
	info[0] = (uint8_t)(out_len >> 8);
	info[1] = (uint8_t)out_len;
	info[2] = (uint8_t)(6 + ll);
	memcpy(info + 3, "tls13 ", 6);
	memcpy(info + 9, label, ll);
	info[9 + ll] = 0; /* empty context */
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)suites[s].digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
						  suites[s].hash_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + ll),
		OSSL_PARAM_construct_end(),
	};
	EVP_KDF_CTX *k = EVP_KDF_CTX_new(hkdf);
	int ok = k && EVP_KDF_derive(k, out, out_len, params) == 1;
	EVP_KDF_CTX_free(k);
	return ok ? 0 : -1;
}

static int derive_keys(int s, const uint8_t *secret, uint8_t *key, uint8_t *iv)
{
	if (expand_label(s, secret, "key", key, suites[s].key_len) < 0 ||
	    expand_label(s, secret, "iv", iv, 12) < 0)
		return -1;
	return 0;
}

/* The next generation of a traffic secret, section 7.2. */
static int next_secret(int s, uint8_t *secret)
{
	uint8_t next[SECRET_MAX];
	if (expand_label(s, secret, "traffic upd", next, suites[s].hash_len) < 0)
		return -1;
	memcpy(secret, next, suites[s].hash_len);
	OPENSSL_cleanse(next, sizeof(next));
	return 0;
}

struct net_tlsrec *net_tlsrec_park(SSL *ssl)
{
	struct net_tlsrec *r = NULL;
	if (net_tlsrec_can_park(ssl)) {
		/* the server reads under the client's secret, writes under its own */
		struct track *t = track_of(ssl, false);
		int s = suite_of(ssl);
		r = net_tlsrec_from_secrets(suites[s].id, t->client_secret, t->server_secret,
					    suites[s].hash_len, t->rseq, t->wseq);
	}
	/* No close_notify: the connection goes on, under our record layer. */
	SSL_set_quiet_shutdown(ssl, 1);
	SSL_free(ssl);
	return r;
}

struct net_tlsrec *net_tlsrec_from_secrets(uint16_t suite_id, const uint8_t *read_secret,
					   const uint8_t *write_secret, size_t secret_len,
					   uint64_t rseq, uint64_t wseq)
{
	pthread_once(&init_once, init_once_fn);
	int s = -1;
	for (int i = 0; i < SUITE_N; i++)
		if (suites[i].id == suite_id && ciphers[i] && hkdf)
			s = i;
	if (s < 0 || secret_len != suites[s].hash_len)
		return NULL;
	struct net_tlsrec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->suite = (uint8_t)s;
	memcpy(r->rsecret, read_secret, secret_len);
	memcpy(r->wsecret, write_secret, secret_len);
	r->rseq = rseq;
	r->wseq = wseq;
	if (derive_keys(s, r->rsecret, r->rkey, r->riv) < 0 ||
	    derive_keys(s, r->wsecret, r->wkey, r->wiv) < 0) {
		net_tlsrec_free(r);
		return NULL;
	}
	return r;
}

void net_tlsrec_free(struct net_tlsrec *r)
{
	if (!r)
		return;
	if (r->rbuf) {
		OPENSSL_cleanse(r->rbuf, RBUF_CAP);
		free(r->rbuf);
	}
	if (r->wbuf) {
		OPENSSL_cleanse(r->wbuf, WBUF_CAP);
		free(r->wbuf);
	}
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

/* ------------------------------------------------------------- the AEAD */

/* One cipher context per thread and suite, re-keyed for every record: a
 * parked connection keeps keys, not contexts (about 1 KB each). They are
 * freed when their thread exits (a pthread key's destructor). */
static _Thread_local EVP_CIPHER_CTX *tctx[SUITE_N];
static pthread_key_t tctx_key;
static pthread_once_t tctx_once = PTHREAD_ONCE_INIT;

static void tctx_free(void *arg)
{
	EVP_CIPHER_CTX **set = arg;
	for (int i = 0; i < SUITE_N; i++) {
		EVP_CIPHER_CTX_free(set[i]);
		set[i] = NULL;
	}
}

static void tctx_key_init(void)
{
	(void)pthread_key_create(&tctx_key, tctx_free);
}

static EVP_CIPHER_CTX *ctx_for(int s)
{
	if (!tctx[s]) {
		pthread_once(&tctx_once, tctx_key_init);
		tctx[s] = EVP_CIPHER_CTX_new();
		/* the destructor runs only for a non-NULL value: point it at
		 * this thread's set */
		(void)pthread_setspecific(tctx_key, tctx);
	}
	return tctx[s];
}

static void nonce_for(const uint8_t *iv, uint64_t seq, uint8_t *nonce)
{
	memcpy(nonce, iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] ^= (uint8_t)(seq >> (56 - 8 * i));
}

/* Seals plain[0..n) + inner type + no padding into out as a record;
 * returns the record's length or -1. out may not overlap plain. */
static int seal(struct net_tlsrec *r, uint8_t type, const uint8_t *plain, size_t n, uint8_t *out)
{
	if (r->wseq == UINT64_MAX)
		return -1;
	EVP_CIPHER_CTX *c = ctx_for(r->suite);
	size_t clen = n + 1 + REC_TAG;
	uint8_t nonce[12];
	nonce_for(r->wiv, r->wseq, nonce);
	out[0] = CT_APPDATA;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(clen >> 8);
	out[4] = (uint8_t)clen;
	int l1 = 0, l2 = 0, l3 = 0, lf = 0;
	int ok = c && EVP_EncryptInit_ex2(c, ciphers[r->suite], r->wkey, nonce, NULL) == 1 &&
		 EVP_EncryptUpdate(c, NULL, &l1, out, REC_HEADER) == 1 &&
		 EVP_EncryptUpdate(c, out + REC_HEADER, &l2, plain, (int)n) == 1 &&
		 EVP_EncryptUpdate(c, out + REC_HEADER + l2, &l3, &type, 1) == 1 &&
		 EVP_EncryptFinal_ex(c, out + REC_HEADER + l2 + l3, &lf) == 1 &&
		 (size_t)(l2 + l3 + lf) == n + 1 &&
		 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, REC_TAG, out + REC_HEADER + n + 1) == 1;
	if (!ok)
		return -1;
	r->wseq++;
	return (int)(REC_HEADER + clen);
}

/* Opens the record rec[0..REC_HEADER+clen) in place: the plaintext
 * (padding stripped) is at rec+REC_HEADER, its length in *n, its type in
 * *type. -1 when the tag does not verify or the record is malformed. */
static int open_record(struct net_tlsrec *r, uint8_t *rec, size_t clen, size_t *n, uint8_t *type)
{
	if (r->rseq == UINT64_MAX || clen < REC_TAG + 1)
		return -1;
	EVP_CIPHER_CTX *c = ctx_for(r->suite);
	uint8_t nonce[12];
	nonce_for(r->riv, r->rseq, nonce);
	uint8_t *ct = rec + REC_HEADER;
	size_t plen = clen - REC_TAG;
	int l1 = 0, l2 = 0, lf = 0;
	int ok = c && EVP_DecryptInit_ex2(c, ciphers[r->suite], r->rkey, nonce, NULL) == 1 &&
		 EVP_DecryptUpdate(c, NULL, &l1, rec, REC_HEADER) == 1 &&
		 EVP_DecryptUpdate(c, ct, &l2, ct, (int)plen) == 1 &&
		 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, REC_TAG, ct + plen) == 1 &&
		 EVP_DecryptFinal_ex(c, ct + l2, &lf) == 1;
	if (!ok)
		return -1;
	r->rseq++;
	/* TLSInnerPlaintext: content, the type byte, then zero padding */
	while (plen > 0 && ct[plen - 1] == 0)
		plen--;
	if (plen == 0)
		return -2; /* no content type: unexpected_message */
	*type = ct[plen - 1];
	*n = plen - 1;
	if (*n > REC_MAX_PLAIN)
		return -3; /* record_overflow */
	return 0;
}

/* ------------------------------------------------------------ writing */

static int flush(struct net_tlsrec *r, int fd)
{
	while (r->woff < r->wlen) {
		ssize_t n = send(fd, r->wbuf + r->woff, r->wlen - r->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1; /* errno kept: EAGAIN or the failure */
		r->woff += (uint32_t)n;
	}
	/* all on the wire: an idle connection keeps no write buffer */
	free(r->wbuf);
	r->wbuf = NULL;
	r->woff = r->wlen = 0;
	return 0;
}

static int wbuf_ensure(struct net_tlsrec *r)
{
	if (!r->wbuf && !(r->wbuf = malloc(WBUF_CAP)))
		return -1;
	return 0;
}

/* Our KeyUpdate(update_not_requested) under the old keys, then new keys. */
static int queue_key_update(struct net_tlsrec *r)
{
	static const uint8_t ku[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 };
	int n = seal(r, CT_HANDSHAKE, ku, sizeof(ku), r->wbuf + r->wlen);
	if (n < 0)
		return -1;
	r->wlen += (uint32_t)n;
	if (next_secret(r->suite, r->wsecret) < 0 ||
	    derive_keys(r->suite, r->wsecret, r->wkey, r->wiv) < 0)
		return -1;
	r->wseq = 0;
	r->ku_pending = false;
	return 0;
}

ssize_t net_tlsrec_write(struct net_tlsrec *r, int fd, const void *buf, size_t len)
{
	if (r->failed) {
		errno = EPROTO;
		return -1;
	}
	if (r->woff < r->wlen) {
		if (flush(r, fd) < 0)
			return -1;
		if (r->wconsumed) { /* the record of the call that got EAGAIN */
			ssize_t done = r->wconsumed;
			r->wconsumed = 0;
			return done;
		}
	}
	if (len == 0)
		return 0;
	size_t n = len > REC_MAX_PLAIN ? REC_MAX_PLAIN : len;
	if (wbuf_ensure(r) < 0) {
		errno = ENOMEM;
		return -1;
	}
	if (r->ku_pending && queue_key_update(r) < 0) {
		r->failed = true;
		errno = EPROTO;
		return -1;
	}
	int rec = seal(r, CT_APPDATA, buf, n, r->wbuf + r->wlen);
	if (rec < 0) {
		r->failed = true;
		errno = EPROTO;
		return -1;
	}
	r->wlen += (uint32_t)rec;
	if (flush(r, fd) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			r->wconsumed = (uint32_t)n;
		return -1;
	}
	return (ssize_t)n;
}

/* A fatal alert (or close_notify), after whatever is pending; best effort. */
static void send_alert(struct net_tlsrec *r, int fd, uint8_t level, uint8_t desc)
{
	if (wbuf_ensure(r) < 0)
		return;
	uint8_t a[2] = { level, desc };
	if (r->wlen + REC_HEADER + 2 + 1 + REC_TAG > WBUF_CAP)
		return;
	int n = seal(r, CT_ALERT, a, 2, r->wbuf + r->wlen);
	if (n > 0)
		r->wlen += (uint32_t)n;
	(void)flush(r, fd);
}

int net_tlsrec_send_record(struct net_tlsrec *r, int fd, uint8_t content_type, const void *p,
			   size_t n)
{
	if (n > REC_MAX_PLAIN || wbuf_ensure(r) < 0 || r->woff < r->wlen)
		return -1;
	int len = seal(r, content_type, p, n, r->wbuf);
	if (len < 0)
		return -1;
	r->wlen = (uint32_t)len;
	while (flush(r, fd) < 0) /* blocking, for tests: spin on a full socket */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
	return 0;
}

void net_tlsrec_close_notify(struct net_tlsrec *r, int fd)
{
	if (!r->failed)
		send_alert(r, fd, 1, ALERT_CLOSE_NOTIFY);
}

static ssize_t fail(struct net_tlsrec *r, int fd, uint8_t desc)
{
	send_alert(r, fd, 2, desc);
	r->failed = true;
	errno = EPROTO;
	return -1;
}

/* ------------------------------------------------------------ reading */

bool net_tlsrec_pending(const struct net_tlsrec *r)
{
	return r->pt_off < r->pt_end || r->rstart < r->rend;
}

/* Post-handshake messages in one record: only KeyUpdate, and it must end
 * the record (section 5.1: no message may span a key change). */
static ssize_t on_handshake(struct net_tlsrec *r, int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (n < 4)
			return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
		size_t mlen = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (p[0] != HS_KEY_UPDATE || mlen > n - 4)
			return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
		if (mlen != 1)
			return fail(r, fd, ALERT_DECODE_ERROR);
		if (p[4] > 1)
			return fail(r, fd, ALERT_ILLEGAL_PARAMETER);
		if (n != 5)
			return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
		if (next_secret(r->suite, r->rsecret) < 0 ||
		    derive_keys(r->suite, r->rsecret, r->rkey, r->riv) < 0)
			return fail(r, fd, ALERT_DECODE_ERROR);
		r->rseq = 0;
		if (p[4] == 1)
			r->ku_pending = true;
		n = 0;
	}
	return 0;
}

static ssize_t take_plain(struct net_tlsrec *r, void *buf, size_t cap)
{
	size_t n = r->pt_end - r->pt_off;
	if (n > cap)
		n = cap;
	memcpy(buf, r->rbuf + r->pt_off, n);
	r->pt_off += (uint32_t)n;
	if (r->pt_off == r->pt_end && r->rstart == r->rend) {
		free(r->rbuf); /* drained: an idle connection holds no buffer */
		r->rbuf = NULL;
		r->rstart = r->rend = r->pt_off = r->pt_end = 0;
	}
	return (ssize_t)n;
}

ssize_t net_tlsrec_read(struct net_tlsrec *r, int fd, void *buf, size_t cap)
{
	if (r->failed) {
		errno = EPROTO;
		return -1;
	}
	if (r->pt_off < r->pt_end)
		return take_plain(r, buf, cap);
	if (r->eof)
		return 0;
	for (;;) {
		size_t have = r->rbuf ? r->rend - r->rstart : 0;
		if (have >= REC_HEADER) {
			uint8_t *h = r->rbuf + r->rstart;
			size_t clen = (size_t)h[3] << 8 | h[4];
			if (h[0] != CT_APPDATA || h[1] != 3 || h[2] != 3)
				return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
			if (clen > REC_MAX_CIPHER)
				return fail(r, fd, ALERT_RECORD_OVERFLOW);
			if (have >= REC_HEADER + clen) {
				size_t n;
				uint8_t type;
				int rc = open_record(r, h, clen, &n, &type);
				if (rc == -1)
					return fail(r, fd, ALERT_BAD_RECORD_MAC);
				if (rc == -2)
					return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
				if (rc == -3)
					return fail(r, fd, ALERT_RECORD_OVERFLOW);
				uint32_t body = r->rstart + REC_HEADER;
				r->rstart += (uint32_t)(REC_HEADER + clen);
				if (type == CT_APPDATA) {
					if (n == 0)
						continue; /* zero-length data is allowed */
					r->pt_off = body;
					r->pt_end = body + (uint32_t)n;
					return take_plain(r, buf, cap);
				}
				if (type == CT_ALERT) {
					if (n != 2)
						return fail(r, fd, ALERT_DECODE_ERROR);
					if (h[REC_HEADER + 1] == ALERT_USER_CANCELED)
						continue;
					if (h[REC_HEADER + 1] == ALERT_CLOSE_NOTIFY) {
						r->eof = true;
						return 0;
					}
					r->failed = true; /* the peer's fatal alert */
					errno = EPROTO;
					return -1;
				}
				if (type == CT_HANDSHAKE) {
					if (on_handshake(r, fd, h + REC_HEADER, n) < 0)
						return -1;
					continue;
				}
				return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
			}
		}
		/* need more bytes: make room, then read what the socket has */
		if (!r->rbuf) {
			if (!(r->rbuf = malloc(RBUF_CAP))) {
				errno = ENOMEM;
				return -1;
			}
			r->rstart = r->rend = r->pt_off = r->pt_end = 0;
		} else if (r->rstart > 0) {
			memmove(r->rbuf, r->rbuf + r->rstart, r->rend - r->rstart);
			r->rend -= r->rstart;
			r->rstart = 0;
			r->pt_off = r->pt_end = 0;
		}
		ssize_t got = read(fd, r->rbuf + r->rend, RBUF_CAP - r->rend);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0) {
				r->eof = true; /* truncated: HTTP framing decides */
				return 0;
			}
			int e = errno;
			if (r->rend == 0) { /* nothing buffered: give it back */
				free(r->rbuf);
				r->rbuf = NULL;
			}
			errno = e;
			return -1;
		}
		r->rend += (uint32_t)got;
	}
}
