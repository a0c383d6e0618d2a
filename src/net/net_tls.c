/*
 * TLS server contexts on OpenSSL 3: TLS 1.3 by default (1.2 only when
 * configured, and then with AEAD ECDHE suites only), several certificates
 * chosen by SNI, ALPN, stateless session tickets whose keys rotate, and
 * optional client-certificate verification.
 *
 * Invariants: every SSL_CTX of one struct net_tls is configured the same way
 * (SNI switches contexts mid-handshake and the verify/ALPN settings must not
 * change when it does); ticket keys live only in memory, are wiped when they
 * retire, and a ticket is accepted for two rotation periods at most.
 *
 * Hot swap and stapling: a certificate slot's SSL_CTX can be replaced while
 * the server runs (net_tls_set_cert). Every reader takes its own reference
 * to the context under cert_mu, and an SSL object holds a reference to the
 * context it uses, so a handshake or connection already under way keeps the
 * old certificate and the old context is freed with its last connection.
 * Each slot may carry a DER OCSP response that is stapled when a client asks
 * (status_request); it too is replaced under cert_mu and copied per
 * handshake, because OpenSSL frees what it is given.
 */
#include "net/net_int.h"
#include "net/net_tlsrec.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TICKET_NAME_LEN 16
#define TICKET_AES_LEN 32
#define TICKET_HMAC_LEN 32

struct ticket_key {
	unsigned char name[TICKET_NAME_LEN];
	unsigned char aes[TICKET_AES_LEN];
	unsigned char hmac[TICKET_HMAC_LEN];
	int64_t created_ms;
	bool valid;
};

struct tls_staple {
	unsigned char *der; /* a DER OCSPResponse, or NULL */
	size_t len;
};

struct net_tls {
	SSL_CTX **ctxs; /* ctxs[0] is the default certificate; under cert_mu */
	struct tls_staple *staples; /* one per ctxs[i]; under cert_mu */
	size_t nctx;
	pthread_mutex_t cert_mu;
	/* what a replacement context is built with (copied from the config) */
	bool allow_tls12;
	enum net_client_cert client_cert;
	char *client_ca_pem;
	size_t client_ca_len;
	unsigned char alpn[64]; /* wire format: length-prefixed protocols */
	size_t alpn_len;
	bool tickets;
	bool parking; /* idle connections may give their SSL back */
	int64_t ticket_rotate_ms;
	pthread_mutex_t ticket_mu;
	struct ticket_key cur, prev;
};

static int tls_ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
	tls_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static void ticket_key_new(struct ticket_key *k)
{
	bw_random(k->name, sizeof(k->name));
	bw_random(k->aes, sizeof(k->aes));
	bw_random(k->hmac, sizeof(k->hmac));
	/* Wall time from the settable clock, so rotation can be tested by
	 * moving the clock instead of waiting an hour. */
	k->created_ms = bw_clock_now_ns() / 1000000;
	k->valid = true;
}

/* Called under ticket_mu: retire the previous key and start a new one when
 * the current one is older than the rotation period. After two periods
 * without use both keys are stale and both are replaced. */
static void ticket_maybe_rotate(struct net_tls *t)
{
	int64_t age = bw_clock_now_ns() / 1000000 - t->cur.created_ms;
	if (age < t->ticket_rotate_ms)
		return;
	bw_wipe(&t->prev, sizeof(t->prev));
	if (age < 2 * t->ticket_rotate_ms)
		t->prev = t->cur;
	ticket_key_new(&t->cur);
}

static int set_ticket_ctx(const struct ticket_key *k, unsigned char *iv,
			  EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	/* The digest must be set with (or before) the key. */
	OSSL_PARAM params[3];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac));
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	if (!EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv, enc))
		return -1;
	return 0;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	struct net_tls *t = SSL_CTX_get_ex_data(ctx, tls_ex_index);
	struct ticket_key k;
	int ret = -1;
	pthread_mutex_lock(&t->ticket_mu);
	ticket_maybe_rotate(t);
	if (enc) {
		k = t->cur;
		ret = 1;
	} else if (memcmp(key_name, t->cur.name, TICKET_NAME_LEN) == 0) {
		k = t->cur;
		ret = 1;
	} else if (t->prev.valid &&
		   memcmp(key_name, t->prev.name, TICKET_NAME_LEN) == 0) {
		k = t->prev;
		ret = 2; /* valid, but ask OpenSSL to issue a fresh ticket */
	} else {
		ret = 0; /* unknown key: full handshake */
	}
	pthread_mutex_unlock(&t->ticket_mu);
	if (ret <= 0)
		return ret;
	if (enc) {
		memcpy(key_name, k.name, TICKET_NAME_LEN);
		bw_random(iv, (size_t)EVP_CIPHER_get_iv_length(EVP_aes_256_cbc()));
	}
	if (set_ticket_ctx(&k, iv, cctx, hctx, enc) < 0)
		ret = -1;
	bw_wipe(&k, sizeof(k));
	return ret;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	struct net_tls *t = arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpn_len,
				  in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 §3.2 */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct net_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name || t->nctx == 1)
		return SSL_TLSEXT_ERR_OK;
	size_t len = strlen(name);
	pthread_mutex_lock(&t->cert_mu);
	for (size_t i = 0; i < t->nctx; i++) {
		X509 *cert = SSL_CTX_get0_certificate(t->ctxs[i]);
		if (cert && X509_check_host(cert, name, len, 0, NULL) == 1) {
			/* SSL_set_SSL_CTX takes its own reference. */
			if (i != 0)
				SSL_set_SSL_CTX(ssl, t->ctxs[i]);
			break;
		}
	}
	pthread_mutex_unlock(&t->cert_mu);
	return SSL_TLSEXT_ERR_OK; /* no match: the default certificate */
}

/* Staples the OCSP response of the context the handshake ended on, when
 * the client asked for one (OpenSSL calls this only then). No response
 * yet is not an error: the handshake goes on without a staple. */
static int status_cb(SSL *ssl, void *arg)
{
	struct net_tls *t = arg;
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	unsigned char *copy = NULL;
	size_t len = 0;
	pthread_mutex_lock(&t->cert_mu);
	for (size_t i = 0; i < t->nctx; i++) {
		if (t->ctxs[i] != ctx || !t->staples[i].der)
			continue;
		copy = OPENSSL_malloc(t->staples[i].len);
		if (copy) {
			memcpy(copy, t->staples[i].der, t->staples[i].len);
			len = t->staples[i].len;
		}
		break;
	}
	pthread_mutex_unlock(&t->cert_mu);
	if (!copy)
		return SSL_TLSEXT_ERR_NOACK;
	/* OpenSSL owns copy from here on. */
	if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int build_alpn(struct net_tls *t, const char *list, struct bw_err *err)
{
	/* "h2,http/1.1" -> "\x02h2\x08http/1.1" */
	size_t used = 0;
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n > 255 || used + 1 + n > sizeof(t->alpn))
			return bw_err_set(err, 400, "net", "alpn",
					  "bad ALPN list '%s'", list);
		t->alpn[used++] = (unsigned char)n;
		memcpy(t->alpn + used, p, n);
		used += n;
		p += n + (comma ? 1 : 0);
	}
	t->alpn_len = used;
	return 0;
}

static BIO *pem_bio(struct bw_str pem)
{
	return BIO_new_mem_buf(pem.p, pem.len > INT32_MAX ? -1 : (int)pem.len);
}

/* Leaf first, then the rest of the chain. */
static int use_cert_chain(SSL_CTX *ctx, const struct net_tls_cert *c,
			  struct bw_err *err)
{
	BIO *b = pem_bio(c->cert_pem);
	X509 *leaf = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int rc = -1;
	if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
		bw_err_openssl(err, "net", c->name ? c->name : "certificate");
		goto out;
	}
	X509 *extra;
	while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
			X509_free(extra);
			bw_err_openssl(err, "net", "chain certificate");
			goto out;
		}
	}
	ERR_clear_error(); /* the loop ends on "no start line" */
	rc = 0;
out:
	X509_free(leaf);
	BIO_free(b);
	return rc;
}

static int use_key(SSL_CTX *ctx, const struct net_tls_cert *c, struct bw_err *err)
{
	BIO *b = pem_bio(c->key_pem);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	int rc = 0;
	if (!k || SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		rc = bw_err_openssl(err, "net", c->name ? c->name : "private key");
	EVP_PKEY_free(k);
	BIO_free(b);
	return rc;
}

static int use_client_ca(SSL_CTX *ctx, struct bw_str pem, struct bw_err *err)
{
	BIO *b = pem_bio(pem);
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	X509 *x;
	int n = 0;
	while (b && names && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_STORE_add_cert(store, x);
		X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
		if (nm)
			sk_X509_NAME_push(names, nm);
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	BIO_free(b);
	if (n == 0) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		return bw_err_set(err, 400, "net", "client_ca",
				  "client CA bundle holds no certificate");
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	return 0;
}

static SSL_CTX *ctx_new(struct net_tls *t, const struct net_tls_cert *c,
			struct bw_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		bw_err_openssl(err, "net", "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, t->allow_tls12 ? TLS1_2_VERSION :
							    TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle connections give their TLS buffers back (memory per idle
	 * keep-alive connection is a measured target). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Read whole records (header and body) in one read(2). */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* Follow the record state so that idle connections can be parked
	 * without their SSL object (net_tlsrec.h). */
	if (net_tlsrec_ctx_setup(ctx) < 0) {
		bw_err_openssl(err, "net", "tls record tracking");
		goto fail;
	}
	if (t->allow_tls12 &&
	    !SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
		bw_err_openssl(err, "net", "cipher list");
		goto fail;
	}
	if (use_cert_chain(ctx, c, err) < 0 || use_key(ctx, c, err) < 0)
		goto fail;
	if (t->client_ca_len) {
		if (use_client_ca(ctx, bw_str_make(t->client_ca_pem, t->client_ca_len),
				  err) < 0)
			goto fail;
		int mode = SSL_VERIFY_PEER;
		if (t->client_cert == NET_CLIENT_CERT_REQUIRE)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, mode, NULL);
		SSL_CTX_set_verify_depth(ctx, 4);
	}
	unsigned char sid[SSL_MAX_SID_CTX_LENGTH] = "bulwark";
	SSL_CTX_set_session_id_context(ctx, sid, 7);
	if (t->tickets) {
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 1);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	SSL_CTX_set_ex_data(ctx, tls_ex_index, t);
	if (t->alpn_len)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
	SSL_CTX_set_tlsext_status_arg(ctx, t);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct net_tls *net_tls_new(const struct net_tls_config *cfg, struct bw_err *err)
{
	pthread_once(&ex_once, ex_init);
	if (cfg->ncerts == 0) {
		bw_err_set(err, 400, "net", "no_cert", "TLS needs a certificate");
		return NULL;
	}
	struct net_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->ticket_mu, NULL);
	pthread_mutex_init(&t->cert_mu, NULL);
	t->allow_tls12 = cfg->allow_tls12;
	t->client_cert = cfg->client_cert;
	if (cfg->client_ca_pem.len) {
		t->client_ca_pem = malloc(cfg->client_ca_pem.len);
		if (!t->client_ca_pem)
			goto fail;
		memcpy(t->client_ca_pem, cfg->client_ca_pem.p, cfg->client_ca_pem.len);
		t->client_ca_len = cfg->client_ca_pem.len;
	}
	t->tickets = cfg->session_tickets;
	t->parking = !cfg->keep_idle_ssl;
	t->ticket_rotate_ms = cfg->ticket_rotate_s > 0 ? cfg->ticket_rotate_s * 1000 :
							  3600 * 1000;
	ticket_key_new(&t->cur);
	if (cfg->alpn && build_alpn(t, cfg->alpn, err) < 0)
		goto fail;
	t->ctxs = calloc(cfg->ncerts, sizeof(*t->ctxs));
	t->staples = calloc(cfg->ncerts, sizeof(*t->staples));
	if (!t->ctxs || !t->staples)
		goto fail;
	for (size_t i = 0; i < cfg->ncerts; i++) {
		t->ctxs[i] = ctx_new(t, &cfg->certs[i], err);
		if (!t->ctxs[i])
			goto fail;
		t->nctx++;
	}
	return t;
fail:
	net_tls_free(t);
	return NULL;
}

bool net_tls_parking(const struct net_tls *t)
{
	return t && t->parking;
}

void net_tls_free(struct net_tls *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nctx; i++) {
		SSL_CTX_free(t->ctxs[i]);
		free(t->staples[i].der);
	}
	free(t->ctxs);
	free(t->staples);
	free(t->client_ca_pem);
	bw_wipe(&t->cur, sizeof(t->cur));
	bw_wipe(&t->prev, sizeof(t->prev));
	pthread_mutex_destroy(&t->ticket_mu);
	pthread_mutex_destroy(&t->cert_mu);
	free(t);
}

int net_tls_set_cert(struct net_tls *t, size_t slot, const struct net_tls_cert *c,
		     struct bw_err *err)
{
	if (slot >= t->nctx)
		return bw_err_set(err, 400, "net", "slot", "no certificate slot %zu", slot);
	/* Built and checked (key matches certificate) before anything is
	 * replaced: a bad certificate leaves the running one in place. */
	SSL_CTX *ctx = ctx_new(t, c, err);
	if (!ctx)
		return -1;
	pthread_mutex_lock(&t->cert_mu);
	SSL_CTX *old = t->ctxs[slot];
	t->ctxs[slot] = ctx;
	/* The staple belonged to the old certificate. */
	free(t->staples[slot].der);
	t->staples[slot] = (struct tls_staple){ NULL, 0 };
	pthread_mutex_unlock(&t->cert_mu);
	SSL_CTX_free(old); /* connections using it hold their own reference */
	return 0;
}

int net_tls_set_ocsp(struct net_tls *t, size_t slot, const void *der, size_t len,
		     struct bw_err *err)
{
	if (slot >= t->nctx)
		return bw_err_set(err, 400, "net", "slot", "no certificate slot %zu", slot);
	unsigned char *copy = NULL;
	if (len) {
		if (!(copy = malloc(len)))
			return bw_err_set(err, 500, "net", "nomem", "out of memory");
		memcpy(copy, der, len);
	}
	pthread_mutex_lock(&t->cert_mu);
	free(t->staples[slot].der);
	t->staples[slot] = (struct tls_staple){ copy, len };
	pthread_mutex_unlock(&t->cert_mu);
	return 0;
}

size_t net_tls_slots(const struct net_tls *t)
{
	return t->nctx;
}

int net_tls_get_chain(struct net_tls *t, size_t slot, X509 **leaf,
		      STACK_OF(X509) **chain)
{
	*leaf = NULL;
	*chain = NULL;
	if (slot >= t->nctx)
		return -1;
	pthread_mutex_lock(&t->cert_mu);
	SSL_CTX *ctx = t->ctxs[slot];
	X509 *x = SSL_CTX_get0_certificate(ctx);
	STACK_OF(X509) *ch = NULL;
	int rc = -1;
	if (x && SSL_CTX_get0_chain_certs(ctx, &ch) == 1) {
		X509_up_ref(x);
		*leaf = x;
		*chain = ch ? X509_chain_up_ref(ch) : sk_X509_new_null();
		rc = *chain ? 0 : -1;
		if (rc < 0) {
			X509_free(x);
			*leaf = NULL;
		}
	}
	pthread_mutex_unlock(&t->cert_mu);
	return rc;
}

SSL *net_tls_session_new(struct net_tls *t, int fd)
{
	pthread_mutex_lock(&t->cert_mu);
	SSL_CTX *ctx = t->ctxs[0];
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&t->cert_mu);
	SSL *ssl = SSL_new(ctx); /* takes its own reference */
	SSL_CTX_free(ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}
