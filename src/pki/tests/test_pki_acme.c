/*
 * The ACME server's protocol core, driven request by request through
 * acme_serve with real JWS signed by ES256, RS256 and EdDSA keys, and real
 * validations against responders this test runs on loopback: an HTTP
 * server for http-01, a UDP DNS server for dns-01 and a TLS server
 * speaking acme-tls/1 for tls-alpn-01.
 *
 * Covered: directory and nonces; every JWS rule (alg allow-list, jwk vs
 * kid, url, nonce replay/unknown/missing, bad signatures, wrong account
 * key, unprotected header, private jwk); accounts (create, existing,
 * onlyReturnExisting, contacts, update, deactivate); external account
 * binding (required, wrong key, reused, other key); the order state
 * machine (pending → ready → valid, invalid on a failed challenge, not
 * ready, expiry); CSR mismatches; policy refusals; certificate download;
 * revocation by account and by certificate key; key rollover; other
 * accounts' resources; the audit records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "api/api.h"
#include "audit/audit.h"
#include "loop/loop.h"
#include "net/net.h"
#include "pki/pki_acme_int.h"
#include "pki/tests/pki_test_util.h"
#include "store/store.h"

#define BASE "https://acme.test"
#define PFX BASE "/acme/t"

static char dir[64];
static struct store *st;
static struct pki_keystore *ks;
static struct pki *pk;
static struct pki_acme *acme;
static struct audit_log *audit;
static struct pki_ca_info root, inter;

/* ------------------------------------------------------------ responders */

static pthread_mutex_t rmu = PTHREAD_MUTEX_INITIALIZER;
static volatile bool stop_all;

/* http-01: token -> body */
static char http_token[64], http_body[256];
static int http_fd, http_port;
static pthread_t http_thr;

static void *http_main(void *arg)
{
	while (!stop_all) {
		struct pollfd pf = { .fd = http_fd, .events = POLLIN };
		if (poll(&pf, 1, 100) != 1)
			continue;
		int c = accept(http_fd, NULL, NULL);
		if (c < 0)
			continue;
		char req[2048];
		size_t n = 0;
		while (n < sizeof(req) - 1) {
			ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
			if (r <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[n] = '\0';
		char resp[512];
		pthread_mutex_lock(&rmu);
		char want[128];
		bw_snprintf(want, sizeof(want), "GET /.well-known/acme-challenge/%s ", http_token);
		if (http_token[0] && strncmp(req, want, strlen(want)) == 0)
			bw_snprintf(resp, sizeof(resp),
				    "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
				    "Connection: close\r\n\r\n%s", strlen(http_body), http_body);
		else
			bw_snprintf(resp, sizeof(resp), "HTTP/1.1 404 Not Found\r\n"
				    "Content-Length: 0\r\nConnection: close\r\n\r\n");
		pthread_mutex_unlock(&rmu);
		ssize_t wr = write(c, resp, strlen(resp));
		(void)wr;
		close(c);
	}
	return NULL;
}

/* dns-01: one TXT name and value */
static char dns_name[300], dns_txt[128];
static int dns_fd, dns_port;
static pthread_t dns_thr;

static void *dns_main(void *arg)
{
	while (!stop_all) {
		struct pollfd pf = { .fd = dns_fd, .events = POLLIN };
		if (poll(&pf, 1, 100) != 1)
			continue;
		uint8_t q[512], r[1024];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(dns_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			continue;
		/* the question name as text */
		char name[300];
		size_t o = 12, nl = 0;
		while (o < (size_t)n && q[o] && nl < sizeof(name) - 70) {
			memcpy(name + nl, q + o + 1, q[o]);
			nl += q[o];
			name[nl++] = '.';
			o += q[o] + 1;
		}
		if (nl)
			nl--;
		name[nl] = '\0';
		size_t qend = o + 5; /* zero label, type, class */
		if (qend > (size_t)n)
			continue;
		memcpy(r, q, qend);
		r[2] = 0x84; /* QR, AA */
		r[3] = 0x00;
		r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
		size_t w = qend;
		pthread_mutex_lock(&rmu);
		bool hit = strcasecmp(name, dns_name) == 0 && dns_txt[0];
		if (hit) {
			size_t tl = strlen(dns_txt);
			r[7] = 1; /* one answer */
			uint8_t rr[] = { 0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, (uint8_t)(tl + 1),
					 (uint8_t)tl };
			memcpy(r + w, rr, sizeof(rr));
			w += sizeof(rr);
			memcpy(r + w, dns_txt, tl);
			w += tl;
		} else {
			r[3] = 0x03; /* NXDOMAIN */
		}
		pthread_mutex_unlock(&rmu);
		(void)sendto(dns_fd, r, w, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* tls-alpn-01: a certificate for one name with the acmeIdentifier */
static int tls_fd, tls_port;
static pthread_t tls_thr;
static SSL_CTX *tls_ctx;
static bool tls_offer_alpn = true;

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	if (!tls_offer_alpn)
		return SSL_TLSEXT_ERR_NOACK;
	for (unsigned i = 0; i + 1 <= inlen; i += in[i] + 1u)
		if (in[i] == 10 && i + 11 <= inlen && memcmp(in + i + 1, "acme-tls/1", 10) == 0) {
			*out = in + i + 1;
			*outlen = 10;
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_NOACK;
}

static void tls_set_cert(const char *name, const char *keyauth, bool critical)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, n);
	char san[300];
	bw_snprintf(san, sizeof(san), "DNS:%s", name);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	uint8_t der[34] = { 0x04, 0x20 };
	crypto_sha256(keyauth, strlen(keyauth), der + 2);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(os, der, sizeof(der));
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	e = X509_EXTENSION_create_by_OBJ(NULL, oid, critical, os);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(os);
	X509_sign(x, k, EVP_sha256());
	pthread_mutex_lock(&rmu);
	SSL_CTX_use_certificate(tls_ctx, x);
	SSL_CTX_use_PrivateKey(tls_ctx, k);
	pthread_mutex_unlock(&rmu);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void *tls_main(void *arg)
{
	while (!stop_all) {
		struct pollfd pf = { .fd = tls_fd, .events = POLLIN };
		if (poll(&pf, 1, 100) != 1)
			continue;
		int c = accept(tls_fd, NULL, NULL);
		if (c < 0)
			continue;
		pthread_mutex_lock(&rmu);
		SSL *s = SSL_new(tls_ctx);
		pthread_mutex_unlock(&rmu);
		SSL_set_fd(s, c);
		if (SSL_accept(s) == 1)
			SSL_shutdown(s);
		SSL_free(s);
		close(c);
	}
	return NULL;
}

static int listen_on(int type, int *port)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	if (type == SOCK_STREAM && listen(fd, 16) < 0)
		return -1;
	socklen_t l = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &l);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* ------------------------------------------------------------ setup */

static int setup(void **state)
{
	struct bw_err err;
	if (tu_pki_open(dir, sizeof(dir), "bw-acme", &st, &ks, &pk) < 0)
		return -1;
	if (!pk)
		return -1;
	struct pki_ca_spec rs = { .tenant = "t", .name = "root", .subject = "CN=ACME Root",
				  .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	struct pki_ca_spec is = { .tenant = "t", .name = "int", .subject = "CN=ACME Int",
				  .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	if (pki_ca_create(pk, &rs, &root, &err) < 0)
		return -1;
	is.parent_id = root.id;
	if (pki_ca_create(pk, &is, &inter, &err) < 0)
		return -1;
	const char pol[] = "{\"dns\":[\".example.com\",\"example.com\"],"
			   "\"ip\":[\"127.0.0.0/8\"],\"allow_wildcards\":true}";
	if (pki_policy_set(pk, "t", pol, sizeof(pol) - 1, &err) < 0 ||
	    pki_policy_set(pk, "e", pol, sizeof(pol) - 1, &err) < 0)
		return -1;
	struct pki_ca_spec er = { .tenant = "e", .name = "root", .subject = "CN=E Root",
				  .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	struct pki_ca_info eroot;
	if (pki_ca_create(pk, &er, &eroot, &err) < 0)
		return -1;

	struct audit_config ac;
	audit_config_defaults(&ac);
	ac.dir = dir;
	audit = audit_log_open(&ac, &err);
	if (!audit)
		return -1;

	http_fd = listen_on(SOCK_STREAM, &http_port);
	dns_fd = listen_on(SOCK_DGRAM, &dns_port);
	tls_fd = listen_on(SOCK_STREAM, &tls_port);
	tls_ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_alpn_select_cb(tls_ctx, alpn_cb, NULL);
	if (http_fd < 0 || dns_fd < 0 || tls_fd < 0 || !tls_ctx)
		return -1;
	tls_set_cert("placeholder.example.com", "x.y", true);
	pthread_create(&http_thr, NULL, http_main, NULL);
	pthread_create(&dns_thr, NULL, dns_main, NULL);
	pthread_create(&tls_thr, NULL, tls_main, NULL);

	if (net_fetch_global_init(&err) < 0)
		return -1;
	char resolver[32];
	bw_snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", dns_port);
	uint8_t seal[32];
	memset(seal, 7, sizeof(seal));
	struct pki_acme_options ao = { .pki = pk, .store = st, .audit = audit,
				       .base_url = BASE "/",
				       .http01_port = (uint16_t)http_port,
				       .tlsalpn01_port = (uint16_t)tls_port,
				       .validation_addr = "127.0.0.1",
				       .dns_resolver = resolver, .eab_seal_key = seal };
	acme = pki_acme_new(&ao, &err);
	if (!acme) {
		fprintf(stderr, "acme: %s\n", err.msg);
		return -1;
	}
	struct pki_acme_tenant tc = { .enabled = true };
	memcpy(tc.ca_id, inter.id, sizeof(tc.ca_id));
	if (pki_acme_tenant_set(acme, "t", &tc, &err) < 0)
		return -1;
	struct pki_acme_tenant te = { .enabled = true, .eab_required = true };
	memcpy(te.ca_id, eroot.id, sizeof(te.ca_id));
	return pki_acme_tenant_set(acme, "e", &te, &err);
}

static int teardown(void **state)
{
	stop_all = true;
	pthread_join(http_thr, NULL);
	pthread_join(dns_thr, NULL);
	pthread_join(tls_thr, NULL);
	close(http_fd);
	close(dns_fd);
	close(tls_fd);
	SSL_CTX_free(tls_ctx);
	pki_acme_free(acme);
	struct bw_err err;
	audit_log_close(audit, &err);
	return tu_pki_close(dir, st, ks, pk);
}

/* ------------------------------------------------------------ client */

struct client {
	struct jose_jwk *key, *pub;
	enum jose_alg alg;
	struct jose_signer s;
	char kid[256];
	char nonce[64];
	const char *pfx; /* the directory's URL prefix */
};

static void client_init(struct client *c, enum jose_alg alg)
{
	struct bw_err err;
	memset(c, 0, sizeof(*c));
	c->alg = alg;
	c->key = jose_jwk_generate(alg, NULL, &err);
	assert_non_null(c->key);
	c->pub = jose_jwk_public(c->key, &err);
	assert_non_null(c->pub);
	assert_int_equal(jose_signer_local(&c->s, c->key, alg, &err), 0);
	c->pfx = PFX;
}

static void client_fini(struct client *c)
{
	jose_jwk_free(c->key);
	jose_jwk_free(c->pub);
}

static void jwk_json(const struct jose_jwk *k, struct bw_buf *out)
{
	struct json_writer w;
	struct bw_err err;
	json_writer_init(&w, out);
	assert_int_equal(jose_jwk_write(k, false, &w, &err), 0);
	assert_int_equal(json_writer_finish(&w), 0);
}

/* A flattened JWS of payload (NULL: "" for POST-as-GET) with a raw
 * protected header, signed by c. Returns malloc'd JSON. */
static char *jws_raw(const struct client *c, const char *prot, const char *payload)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct bw_buf si;
	bw_buf_init(&si, 1 << 20);
	assert_int_equal(crypto_b64url_encode(prot, strlen(prot), &si), 0);
	size_t plen = si.len;
	assert_int_equal(bw_buf_append_byte(&si, '.'), 0);
	if (payload)
		assert_int_equal(crypto_b64url_encode(payload, strlen(payload), &si), 0);
	uint8_t sig[JOSE_SIG_MAX];
	size_t sl;
	struct bw_err err;
	assert_int_equal(c->s.sign(c->s.ctx, c->alg, (const uint8_t *)si.data, si.len, sig,
				   sizeof(sig), &sl, &err), 0);
	assert_int_equal(bw_buf_printf(&b, "{\"protected\":\"%.*s\",\"payload\":\"%s\","
				       "\"signature\":\"", (int)plen, si.data,
				       si.data + plen + 1), 0);
	assert_int_equal(crypto_b64url_encode(sig, sl, &b), 0);
	assert_int_equal(bw_buf_append_str(&b, "\"}"), 0);
	bw_buf_fini(&si);
	return bw_buf_detach(&b, NULL);
}

/* The usual protected header: kid when the client has an account (and
 * use_jwk is false), else jwk. */
static char *header(const struct client *c, const char *url, bool use_jwk,
		    const char *nonce)
{
	struct bw_buf h;
	bw_buf_init(&h, 1 << 16);
	assert_int_equal(bw_buf_printf(&h, "{\"alg\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\",",
				       jose_alg_name(c->alg), nonce, url), 0);
	if (use_jwk || !c->kid[0]) {
		assert_int_equal(bw_buf_append_str(&h, "\"jwk\":"), 0);
		jwk_json(c->pub, &h);
	} else {
		assert_int_equal(bw_buf_printf(&h, "\"kid\":\"%s\"", c->kid), 0);
	}
	assert_int_equal(bw_buf_append_byte(&h, '}'), 0);
	return bw_buf_detach(&h, NULL);
}

static void serve(const char *method, const char *path, const char *ctype,
		  const char *body, struct acme_resp *rs)
{
	struct acme_http_req rq = {
		.method = !strcmp(method, "POST") ? HTTP_METHOD_POST :
			  !strcmp(method, "HEAD") ? HTTP_METHOD_HEAD : HTTP_METHOD_GET,
		.path = bw_str_make(path, strlen(path)),
		.content_type = bw_str_make(ctype, strlen(ctype)),
		.body = bw_str_make(body, strlen(body)),
		.host = BW_STR("acme.test"),
		.tls = true,
		.peer_ip = "127.0.0.1",
	};
	acme_resp_init(rs);
	acme_serve(acme, &rq, rs);
	/* BW_ACME_SEED_DIR=dir keeps every POST body: the fuzz corpus's
	 * seeds come from here */
	static int seed;
	const char *sd = getenv("BW_ACME_SEED_DIR");
	if (sd && rq.method == HTTP_METHOD_POST) {
		char sp[256];
		bw_snprintf(sp, sizeof(sp), "%s/req-%03d", sd, seed++);
		tu_write(sp, body, strlen(body));
	}
}

static void fresh_nonce(struct client *c)
{
	struct acme_resp rs;
	char path[128];
	bw_snprintf(path, sizeof(path), "%s/new-nonce", c->pfx + strlen(BASE));
	serve("HEAD", path, "", "", &rs);
	assert_int_equal(rs.status, 200);
	assert_int_equal(strlen(rs.nonce), PKI_ACME_NONCE_B64);
	bw_snprintf(c->nonce, sizeof(c->nonce), "%s", rs.nonce);
	acme_resp_fini(&rs);
}

/* POST path (relative to the directory) with payload; keeps the reply's
 * nonce for the next request. */
static void post(struct client *c, const char *res, const char *payload, bool use_jwk,
		 struct acme_resp *rs)
{
	if (!c->nonce[0])
		fresh_nonce(c);
	char url[512], path[512];
	if (!strncmp(res, "https://", 8))
		bw_snprintf(url, sizeof(url), "%s", res);
	else
		bw_snprintf(url, sizeof(url), "%s/%s", c->pfx, res);
	bw_snprintf(path, sizeof(path), "%s", url + strlen(BASE));
	char *h = header(c, url, use_jwk, c->nonce);
	char *b = jws_raw(c, h, payload);
	serve("POST", path, "application/jose+json", b, rs);
	bw_snprintf(c->nonce, sizeof(c->nonce), "%s", rs->nonce);
	free(h);
	free(b);
}

static const char *ptype(const struct acme_resp *rs)
{
	static char t[64];
	const char *p = strstr(rs->body.data ? rs->body.data : "",
			       "urn:ietf:params:acme:error:");
	if (!p)
		return "";
	p += strlen("urn:ietf:params:acme:error:");
	size_t n = strcspn(p, "\"");
	bw_snprintf(t, sizeof(t), "%.*s", (int)n, p);
	return t;
}

static void expect_problem(struct acme_resp *rs, int status, const char *type)
{
	if (rs->status != status || strcmp(ptype(rs), type) != 0)
		fprintf(stderr, "got %d %s\n", rs->status, rs->body.data);
	assert_int_equal(rs->status, status);
	assert_string_equal(ptype(rs), type);
	assert_string_equal(rs->ctype, "application/problem+json");
	assert_int_equal(strlen(rs->nonce), PKI_ACME_NONCE_B64);
	acme_resp_fini(rs);
}

static void new_account(struct client *c, const char *payload)
{
	struct acme_resp rs;
	post(c, "new-account", payload ? payload : "{\"termsOfServiceAgreed\":true}", true,
	     &rs);
	if (rs.status != 201)
		fprintf(stderr, "new-account: %d %s\n", rs.status, rs.body.data);
	assert_int_equal(rs.status, 201);
	assert_non_null(strstr(rs.location, PFX "/acct/"));
	bw_snprintf(c->kid, sizeof(c->kid), "%s", rs.location);
	acme_resp_fini(&rs);
}

static const struct json_value *parse(struct bw_arena *a, const struct acme_resp *rs)
{
	struct bw_err err;
	const struct json_value *v = json_parse(a, rs->body.data, rs->body.len, NULL, &err);
	assert_non_null(v);
	return v;
}

/* ------------------------------------------------------------ tests */

static void directory_and_nonces(void **state)
{
	struct acme_resp rs;
	serve("GET", "/acme/t/directory", "", "", &rs);
	assert_int_equal(rs.status, 200);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	const struct json_value *d = parse(a, &rs);
	assert_string_equal(json_get_str(d, "newNonce", ""), PFX "/new-nonce");
	assert_string_equal(json_get_str(d, "newAccount", ""), PFX "/new-account");
	assert_string_equal(json_get_str(d, "newOrder", ""), PFX "/new-order");
	assert_string_equal(json_get_str(d, "revokeCert", ""), PFX "/revoke-cert");
	assert_string_equal(json_get_str(d, "keyChange", ""), PFX "/key-change");
	assert_false(json_get_bool(json_get(d, "meta"), "externalAccountRequired", true));
	assert_int_equal(rs.nlinks, 1);
	acme_resp_fini(&rs);
	serve("GET", "/acme/e/directory", "", "", &rs);
	d = parse(a, &rs);
	assert_true(json_get_bool(json_get(d, "meta"), "externalAccountRequired", false));
	acme_resp_fini(&rs);
	bw_arena_free(a);

	serve("GET", "/acme/t/new-nonce", "", "", &rs);
	assert_int_equal(rs.status, 204);
	char n1[32];
	memcpy(n1, rs.nonce, sizeof(n1));
	acme_resp_fini(&rs);
	serve("HEAD", "/acme/t/new-nonce", "", "", &rs);
	assert_int_equal(rs.status, 200);
	assert_string_not_equal(n1, rs.nonce);
	acme_resp_fini(&rs);

	serve("GET", "/acme/nope/directory", "", "", &rs);
	expect_problem(&rs, 404, "malformed");
	serve("GET", "/acme/t/../t/directory", "", "", &rs);
	expect_problem(&rs, 404, "malformed");
	serve("POST", "/acme/t/directory", "application/jose+json", "{}", &rs);
	expect_problem(&rs, 405, "malformed");
	serve("GET", "/acme/t/new-order", "", "", &rs);
	expect_problem(&rs, 405, "malformed");
	serve("GET", "/other", "", "", &rs);
	expect_problem(&rs, 404, "malformed");
}

static void nonce_store(void **state)
{
	struct acme_nonces *s = acme_nonces_new(4, 60);
	char n[8][PKI_ACME_NONCE_B64 + 1];
	for (int i = 0; i < 5; i++)
		acme_nonce_new(s, n[i]);
	/* the first was pushed out by the fifth */
	assert_false(acme_nonce_consume(s, n[0], strlen(n[0])));
	assert_true(acme_nonce_consume(s, n[1], strlen(n[1])));
	assert_false(acme_nonce_consume(s, n[1], strlen(n[1]))); /* replay */
	assert_false(acme_nonce_consume(s, "AAAAAAAAAAAAAAAAAAAAAA", 22));
	assert_false(acme_nonce_consume(s, "short", 5));
	/* an index beyond the table */
	uint8_t raw[16];
	memset(raw, 0xff, sizeof(raw));
	char big[32];
	crypto_b64url_encode_to(raw, sizeof(raw), big);
	assert_false(acme_nonce_consume(s, big, strlen(big)));
	/* a random part off by one bit */
	char t[PKI_ACME_NONCE_B64 + 1];
	memcpy(t, n[2], sizeof(t));
	t[10] = t[10] == 'A' ? 'B' : 'A';
	assert_false(acme_nonce_consume(s, t, strlen(t)));
	assert_true(acme_nonce_consume(s, n[2], strlen(n[2])));
	/* expiry */
	bw_clock_set(bw_clock_now_ns());
	acme_nonce_new(s, n[5]);
	bw_clock_advance(61LL * 1000000000);
	assert_false(acme_nonce_consume(s, n[5], strlen(n[5])));
	bw_clock_set(0);
	uint64_t is, ac, rf;
	acme_nonces_stats(s, &is, &ac, &rf);
	assert_int_equal(is, 6);
	assert_int_equal(ac, 2);
	assert_true(rf >= 6);
	acme_nonces_free(s);
}

static void accounts_each_alg(void **state)
{
	enum jose_alg algs[] = { JOSE_ALG_ES256, JOSE_ALG_RS256, JOSE_ALG_EDDSA,
				 JOSE_ALG_ES384 };
	for (size_t i = 0; i < BW_ARRAY_LEN(algs); i++) {
		struct client c;
		client_init(&c, algs[i]);
		new_account(&c, "{\"contact\":[\"mailto:ops@example.com\"],"
				"\"termsOfServiceAgreed\":true}");
		/* the same key again: the same account, 200 */
		struct acme_resp rs;
		char kid[256];
		memcpy(kid, c.kid, sizeof(kid));
		c.kid[0] = '\0';
		post(&c, "new-account", "{\"onlyReturnExisting\":true}", true, &rs);
		assert_int_equal(rs.status, 200);
		assert_string_equal(rs.location, kid);
		acme_resp_fini(&rs);
		memcpy(c.kid, kid, sizeof(kid));
		/* POST-as-GET the account */
		post(&c, kid, NULL, false, &rs);
		assert_int_equal(rs.status, 200);
		assert_non_null(strstr(rs.body.data, "\"status\":\"valid\""));
		assert_non_null(strstr(rs.body.data, "mailto:ops@example.com"));
		acme_resp_fini(&rs);
		client_fini(&c);
	}
	/* onlyReturnExisting for an unknown key */
	struct client c;
	client_init(&c, JOSE_ALG_ES256);
	struct acme_resp rs;
	post(&c, "new-account", "{\"onlyReturnExisting\":true}", true, &rs);
	expect_problem(&rs, 400, "accountDoesNotExist");
	post(&c, "new-account", "{\"contact\":[\"tel:+1555\"]}", true, &rs);
	expect_problem(&rs, 400, "unsupportedContact");
	post(&c, "new-account", "{\"contact\":[\"mailto:a@b@c\"]}", true, &rs);
	expect_problem(&rs, 400, "invalidContact");
	post(&c, "new-account", "{\"contact\":[\"mailto:a@b.example?subject=x\"]}", true, &rs);
	expect_problem(&rs, 400, "invalidContact");
	post(&c, "new-account", "{\"contact\":[\"mailto:a@b\",\"mailto:c@d\","
				"\"mailto:e@f\",\"mailto:g@h\",\"mailto:i@j\"]}", true, &rs);
	expect_problem(&rs, 400, "invalidContact");
	post(&c, "new-account", NULL, true, &rs);
	expect_problem(&rs, 400, "malformed");
	client_fini(&c);
}

static void jws_rules(void **state)
{
	struct client c, other;
	client_init(&c, JOSE_ALG_ES256);
	client_init(&other, JOSE_ALG_ES256);
	new_account(&c, NULL);
	new_account(&other, NULL);
	struct acme_resp rs;
	char url[256], *h, *b;
	bw_snprintf(url, sizeof(url), "%s/new-order", PFX);
	const char *order = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.com\"}]}";

	/* wrong Content-Type */
	fresh_nonce(&c);
	h = header(&c, url, false, c.nonce);
	b = jws_raw(&c, h, order);
	serve("POST", "/acme/t/new-order", "application/json", b, &rs);
	expect_problem(&rs, 415, "malformed");
	/* replay: the same signed request twice */
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	assert_int_equal(rs.status, 201);
	acme_resp_fini(&rs);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "badNonce");
	free(h);
	free(b);
	/* unknown and missing nonce */
	h = header(&c, url, false, "AAAAAAAAAAAAAAAAAAAAAA");
	b = jws_raw(&c, h, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "badNonce");
	free(h);
	free(b);
	char prot[512];
	bw_snprintf(prot, sizeof(prot), "{\"alg\":\"ES256\",\"url\":\"%s\",\"kid\":\"%s\"}", url,
		    c.kid);
	b = jws_raw(&c, prot, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "badNonce");
	free(b);
	/* the url of another resource */
	fresh_nonce(&c);
	h = header(&c, PFX "/new-account", false, c.nonce);
	b = jws_raw(&c, h, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 403, "unauthorized");
	free(h);
	free(b);
	/* a nonce is not burnt by a request that fails before its signature */
	struct acme_resp r2;
	post(&c, "new-order", order, false, &r2);
	assert_int_equal(r2.status, 201);
	acme_resp_fini(&r2);
	/* alg none / HS256 / unknown */
	const char *bad_algs[] = { "none", "HS256", "NONE", "ES512", "RS1" };
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_algs); i++) {
		fresh_nonce(&c);
		bw_snprintf(prot, sizeof(prot),
			    "{\"alg\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s\"}",
			    bad_algs[i], c.nonce, url, c.kid);
		b = jws_raw(&c, prot, order);
		serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
		assert_non_null(strstr(rs.body.data, "\"algorithms\""));
		expect_problem(&rs, 400, "badSignatureAlgorithm");
		free(b);
	}
	/* alg that does not fit the key (RS256 header, EC key) */
	fresh_nonce(&c);
	bw_snprintf(prot, sizeof(prot),
		    "{\"alg\":\"RS256\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s\"}",
		    c.nonce, url, c.kid);
	b = jws_raw(&c, prot, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "badSignatureAlgorithm");
	free(b);
	/* both jwk and kid; kid where jwk is due; jwk where kid is due */
	fresh_nonce(&c);
	struct bw_buf jb;
	bw_buf_init(&jb, 1 << 16);
	jwk_json(c.pub, &jb);
	bw_snprintf(prot, sizeof(prot),
		    "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s\",\"jwk\":%s}",
		    c.nonce, url, c.kid, jb.data);
	b = jws_raw(&c, prot, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "malformed");
	free(b);
	post(&c, "new-order", order, true, &rs);
	expect_problem(&rs, 400, "malformed");
	post(&c, "new-account", "{}", false, &rs);
	expect_problem(&rs, 400, "malformed");
	/* crit, jku */
	fresh_nonce(&c);
	bw_snprintf(prot, sizeof(prot),
		    "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s\","
		    "\"crit\":[\"x\"],\"x\":1}", c.nonce, url, c.kid);
	b = jws_raw(&c, prot, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "malformed");
	free(b);
	/* a flipped signature byte; a signature by another key (wrong
	 * account key) */
	fresh_nonce(&c);
	h = header(&c, url, false, c.nonce);
	b = jws_raw(&c, h, order);
	char *sig = strstr(b, "\"signature\":\"") + 14;
	sig[3] = sig[3] == 'A' ? 'B' : 'A';
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "malformed");
	free(b);
	b = jws_raw(&other, h, order); /* c's kid, other's signature */
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "malformed");
	free(b);
	free(h);
	/* unprotected header and the general serialisation */
	fresh_nonce(&c);
	h = header(&c, url, false, c.nonce);
	b = jws_raw(&c, h, order);
	size_t bl = strlen(b);
	char *b2 = malloc(bl + 64);
	memcpy(b2, b, bl - 1);
	bw_snprintf(b2 + bl - 1, 64, ",\"header\":{\"kid\":\"x\"}}");
	serve("POST", "/acme/t/new-order", "application/jose+json", b2, &rs);
	expect_problem(&rs, 400, "malformed");
	serve("POST", "/acme/t/new-order", "application/jose+json", "{\"signatures\":[]}", &rs);
	expect_problem(&rs, 400, "malformed");
	serve("POST", "/acme/t/new-order", "application/jose+json", "not json", &rs);
	expect_problem(&rs, 400, "malformed");
	free(b2);
	free(b);
	free(h);
	/* an unknown account, another tenant's prefix */
	fresh_nonce(&c);
	bw_snprintf(prot, sizeof(prot),
		    "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s/acct/"
		    "AAAAAAAAAAAAAAAAAAAAAA\"}", c.nonce, url, PFX);
	b = jws_raw(&c, prot, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "accountDoesNotExist");
	free(b);
	bw_snprintf(prot, sizeof(prot),
		    "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\",\"kid\":\"%s\"}",
		    c.nonce, url, c.kid + 0);
	char *e_kid = strstr(prot, "/acme/t/acct/");
	e_kid[6] = 'e';
	b = jws_raw(&c, prot, order);
	serve("POST", "/acme/t/new-order", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "accountDoesNotExist");
	free(b);
	/* a private key in jwk */
	fresh_nonce(&c);
	bw_buf_reset(&jb);
	struct json_writer w;
	struct bw_err err;
	json_writer_init(&w, &jb);
	assert_int_equal(jose_jwk_write(c.key, true, &w, &err), 0);
	assert_int_equal(json_writer_finish(&w), 0);
	bw_snprintf(prot, sizeof(prot), "{\"alg\":\"ES256\",\"nonce\":\"%s\",\"url\":\"%s\","
		    "\"jwk\":%s}", c.nonce, PFX "/new-account", jb.data);
	b = jws_raw(&c, prot, "{}");
	serve("POST", "/acme/t/new-account", "application/jose+json", b, &rs);
	expect_problem(&rs, 400, "badPublicKey");
	free(b);
	/* a payload that is not an object */
	post(&c, "new-order", "[1]", false, &rs);
	expect_problem(&rs, 400, "malformed");
	bw_buf_fini(&jb);
	client_fini(&c);
	client_fini(&other);
}

/* Waits for the authorization to leave pending/processing. */
static enum acme_status wait_authz(const char *authz_url)
{
	const char *id = strrchr(authz_url, '/') + 1;
	for (int i = 0; i < 200; i++) {
		struct acme_authz z;
		struct bw_err err;
		assert_int_equal(acme_db_authz_get(acme, "t", id, &z, &err), 1);
		bool busy = false;
		for (size_t k = 0; k < z.nch; k++)
			busy |= z.ch[k].status == ACME_ST_PROCESSING;
		if (!busy && z.status != ACME_ST_PENDING)
			return z.status;
		usleep(50000);
	}
	fail_msg("validation did not finish");
	return ACME_ST_INVALID;
}

struct order_urls {
	char order[256], finalize[256], authz[4][256], cert[256];
	size_t nauthz;
};

static void new_order(struct client *c, const char *ids_json, struct order_urls *o)
{
	struct acme_resp rs;
	char payload[1024];
	bw_snprintf(payload, sizeof(payload), "{\"identifiers\":%s}", ids_json);
	post(c, "new-order", payload, false, &rs);
	if (rs.status != 201)
		fprintf(stderr, "new-order: %d %s\n", rs.status, rs.body.data);
	assert_int_equal(rs.status, 201);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	const struct json_value *v = parse(a, &rs);
	assert_string_equal(json_get_str(v, "status", ""), "pending");
	memset(o, 0, sizeof(*o));
	bw_snprintf(o->order, sizeof(o->order), "%s", rs.location);
	bw_snprintf(o->finalize, sizeof(o->finalize), "%s", json_get_str(v, "finalize", ""));
	const struct json_value *az = json_get(v, "authorizations");
	for (size_t i = 0; i < az->u.arr.n && i < 4; i++)
		bw_snprintf(o->authz[o->nauthz++], 256, "%s", az->u.arr.items[i]->u.str.p);
	bw_arena_free(a);
	acme_resp_fini(&rs);
}

/* The challenge of type in authz; OUT url and token. */
static void challenge(struct client *c, const char *authz, const char *type, char *url,
		      char *token)
{
	struct acme_resp rs;
	post(c, authz, NULL, false, &rs);
	assert_int_equal(rs.status, 200);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	const struct json_value *v = parse(a, &rs);
	const struct json_value *ch = json_get(v, "challenges");
	url[0] = '\0';
	for (size_t i = 0; i < ch->u.arr.n; i++)
		if (!strcmp(json_get_str(ch->u.arr.items[i], "type", ""), type)) {
			bw_snprintf(url, 256, "%s", json_get_str(ch->u.arr.items[i], "url", ""));
			bw_snprintf(token, 64, "%s",
				    json_get_str(ch->u.arr.items[i], "token", ""));
		}
	bw_arena_free(a);
	acme_resp_fini(&rs);
}

static void keyauth(const struct client *c, const char *token, char *out)
{
	char tp[44];
	struct bw_err err;
	assert_int_equal(jose_jwk_thumbprint(c->pub, tp, &err), 0);
	bw_snprintf(out, 128, "%s.%s", token, tp);
}

static void http01(struct client *c, const char *authz, const char *body_override)
{
	char url[256], token[64], ka[128];
	challenge(c, authz, "http-01", url, token);
	assert_true(url[0]);
	keyauth(c, token, ka);
	pthread_mutex_lock(&rmu);
	bw_snprintf(http_token, sizeof(http_token), "%s", token);
	bw_snprintf(http_body, sizeof(http_body), "%s\n", body_override ? body_override : ka);
	pthread_mutex_unlock(&rmu);
	struct acme_resp rs;
	post(c, url, "{}", false, &rs);
	assert_int_equal(rs.status, 200);
	assert_non_null(strstr(rs.links[0], "rel=\"up\""));
	assert_non_null(strstr(rs.body.data, "\"status\":\"processing\"") ?
				strstr(rs.body.data, "\"status\":\"processing\"") :
				strstr(rs.body.data, "\"status\":\"valid\""));
	acme_resp_fini(&rs);
}

static char *csr_b64(EVP_PKEY *k, const char *cn, const char *sans)
{
	size_t len;
	unsigned char *der = tu_csr(k, cn, sans, EVP_sha256(), &len);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(crypto_b64url_encode(der, len, &b), 0);
	free(der);
	return bw_buf_detach(&b, NULL);
}

static void finalize_expect(struct client *c, const struct order_urls *o, EVP_PKEY *k,
			    const char *cn, const char *sans, int status, const char *type)
{
	char *csr = csr_b64(k, cn, sans);
	char payload[8192];
	bw_snprintf(payload, sizeof(payload), "{\"csr\":\"%s\"}", csr);
	free(csr);
	struct acme_resp rs;
	post(c, o->finalize, payload, false, &rs);
	if (type)
		expect_problem(&rs, status, type);
	else {
		if (rs.status != status)
			fprintf(stderr, "finalize: %d %s\n", rs.status, rs.body.data);
		assert_int_equal(rs.status, status);
		acme_resp_fini(&rs);
	}
}

static void order_lifecycle_http01(void **state)
{
	struct client c, other;
	client_init(&c, JOSE_ALG_ES256);
	client_init(&other, JOSE_ALG_EDDSA);
	new_account(&c, NULL);
	new_account(&other, NULL);
	struct order_urls o;
	new_order(&c, "[{\"type\":\"dns\",\"value\":\"www.example.com\"},"
		      "{\"type\":\"dns\",\"value\":\"WWW.example.com\"},"
		      "{\"type\":\"dns\",\"value\":\"api.example.com\"}]", &o);
	assert_int_equal(o.nauthz, 2); /* the duplicate folded */
	EVP_PKEY *k = EVP_EC_gen("P-256");
	/* not ready yet */
	finalize_expect(&c, &o, k, NULL, "DNS:www.example.com,DNS:api.example.com", 403,
			"orderNotReady");
	/* another account may not look or act */
	struct acme_resp rs;
	post(&other, o.order, NULL, false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	post(&other, o.authz[0], NULL, false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	/* validate both names over http-01 */
	http01(&c, o.authz[0], NULL);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_VALID);
	post(&c, o.order, NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"status\":\"pending\""));
	acme_resp_fini(&rs);
	http01(&c, o.authz[1], NULL);
	assert_int_equal(wait_authz(o.authz[1]), ACME_ST_VALID);
	post(&c, o.order, NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"status\":\"ready\""));
	acme_resp_fini(&rs);
	post(&c, o.authz[0], NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"validated\""));
	acme_resp_fini(&rs);
	/* CSR mismatches: an extra name, a missing name, a CN that is not a
	 * name, a name outside the order */
	finalize_expect(&c, &o, k, NULL,
			"DNS:www.example.com,DNS:api.example.com,DNS:x.example.com", 400,
			"badCSR");
	finalize_expect(&c, &o, k, NULL, "DNS:www.example.com", 400, "badCSR");
	finalize_expect(&c, &o, k, "other.example.com",
			"DNS:www.example.com,DNS:api.example.com", 400, "badCSR");
	finalize_expect(&c, &o, k, NULL, "DNS:www.example.com,IP:127.0.0.1", 400, "badCSR");
	post(&c, o.finalize, "{\"csr\":\"!!\"}", false, &rs);
	expect_problem(&rs, 400, "badCSR");
	post(&c, o.finalize, "{\"csr\":\"AAAA\"}", false, &rs);
	expect_problem(&rs, 400, "badCSR");
	/* the order is still ready after refused CSRs */
	finalize_expect(&c, &o, k, "www.example.com",
			"DNS:www.example.com,DNS:api.example.com", 200, NULL);
	post(&c, o.order, NULL, false, &rs);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	const struct json_value *v = parse(a, &rs);
	assert_string_equal(json_get_str(v, "status", ""), "valid");
	char cert[256];
	bw_snprintf(cert, sizeof(cert), "%s", json_get_str(v, "certificate", ""));
	assert_non_null(strstr(cert, PFX "/cert/"));
	acme_resp_fini(&rs);
	bw_arena_free(a);
	/* finalize twice */
	finalize_expect(&c, &o, k, NULL, "DNS:www.example.com,DNS:api.example.com", 403,
			"orderNotReady");
	/* download: leaf + intermediate + root, verified with openssl */
	post(&other, cert, NULL, false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	post(&c, cert, NULL, false, &rs);
	assert_int_equal(rs.status, 200);
	assert_string_equal(rs.ctype, "application/pem-certificate-chain");
	char path[160], cmd[512], out[2048];
	bw_snprintf(path, sizeof(path), "%s/chain.pem", dir);
	tu_write(path, rs.body.data, rs.body.len);
	acme_resp_fini(&rs);
	bw_snprintf(cmd, sizeof(cmd), "openssl crl2pkcs7 -nocrl -certfile %s | "
		    "openssl pkcs7 -print_certs -noout | grep -c subject=", path);
	assert_int_equal(tu_run(cmd, out, sizeof(out)), 0);
	assert_int_equal(strtol(out, NULL, 10), 3);
	bw_snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -ext subjectAltName", path);
	assert_int_equal(tu_run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "DNS:www.example.com"));
	assert_non_null(strstr(out, "DNS:api.example.com"));
	/* the account's orders list */
	char orders[300];
	bw_snprintf(orders, sizeof(orders), "%s/orders", c.kid);
	post(&c, orders, NULL, false, &rs);
	assert_int_equal(rs.status, 200);
	assert_non_null(strstr(rs.body.data, o.order));
	acme_resp_fini(&rs);
	post(&other, orders, NULL, false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	EVP_PKEY_free(k);
	client_fini(&c);
	client_fini(&other);
}

static void order_refusals(void **state)
{
	struct client c;
	client_init(&c, JOSE_ALG_ES256);
	new_account(&c, NULL);
	struct acme_resp rs;
	post(&c, "new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"evil.test\"}]}",
	     false, &rs);
	expect_problem(&rs, 400, "rejectedIdentifier");
	post(&c, "new-order", "{\"identifiers\":[{\"type\":\"email\",\"value\":\"a@b\"}]}",
	     false, &rs);
	expect_problem(&rs, 400, "unsupportedIdentifier");
	post(&c, "new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"bad_name.example.com\"}]}",
	     false, &rs);
	expect_problem(&rs, 400, "rejectedIdentifier");
	post(&c, "new-order", "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"10.0.0.1\"}]}",
	     false, &rs);
	expect_problem(&rs, 400, "rejectedIdentifier");
	post(&c, "new-order", "{\"identifiers\":[]}", false, &rs);
	expect_problem(&rs, 400, "malformed");
	post(&c, "new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.com\"}],"
			      "\"notAfter\":\"2030-01-01T00:00:00Z\"}", false, &rs);
	expect_problem(&rs, 400, "malformed");
	/* a wildcard gets dns-01 only; an IP no dns-01 */
	struct order_urls o;
	new_order(&c, "[{\"type\":\"dns\",\"value\":\"*.example.com\"},"
		      "{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]", &o);
	post(&c, o.authz[0], NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"wildcard\":true"));
	assert_non_null(strstr(rs.body.data, "dns-01"));
	assert_null(strstr(rs.body.data, "http-01"));
	assert_non_null(strstr(rs.body.data, "\"value\":\"example.com\""));
	acme_resp_fini(&rs);
	post(&c, o.authz[1], NULL, false, &rs);
	assert_null(strstr(rs.body.data, "dns-01"));
	assert_non_null(strstr(rs.body.data, "http-01"));
	acme_resp_fini(&rs);
	/* expiry: a pending order reads invalid after its lifetime */
	bw_clock_set(bw_clock_now_ns());
	bw_clock_advance((PKI_ACME_ORDER_TTL_DEFAULT_S + 10) * 1000000000LL);
	c.nonce[0] = '\0'; /* the last one expired with the jump */
	post(&c, o.order, NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"status\":\"invalid\""));
	acme_resp_fini(&rs);
	post(&c, o.authz[1], NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"status\":\"expired\""));
	acme_resp_fini(&rs);
	bw_clock_set(0);
	client_fini(&c);
}

static void failed_challenge_invalidates(void **state)
{
	struct client c;
	client_init(&c, JOSE_ALG_ES256);
	new_account(&c, NULL);
	struct order_urls o;
	new_order(&c, "[{\"type\":\"dns\",\"value\":\"fail.example.com\"}]", &o);
	http01(&c, o.authz[0], "not-the-key-authorization");
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_INVALID);
	struct acme_resp rs;
	post(&c, o.order, NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"status\":\"invalid\""));
	assert_non_null(strstr(rs.body.data, "\"error\""));
	acme_resp_fini(&rs);
	post(&c, o.authz[0], NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "incorrectResponse"));
	acme_resp_fini(&rs);
	/* nothing answers: a 404 from the responder */
	new_order(&c, "[{\"type\":\"dns\",\"value\":\"gone.example.com\"}]", &o);
	char url[256], token[64];
	challenge(&c, o.authz[0], "http-01", url, token);
	pthread_mutex_lock(&rmu);
	http_token[0] = '\0';
	pthread_mutex_unlock(&rmu);
	post(&c, url, "{}", false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_INVALID);
	/* a second POST to a settled challenge changes nothing */
	post(&c, url, "{}", false, &rs);
	assert_int_equal(rs.status, 200);
	assert_non_null(strstr(rs.body.data, "\"status\":\"invalid\""));
	acme_resp_fini(&rs);
	client_fini(&c);
}

static void dns01_and_tlsalpn01(void **state)
{
	struct client c;
	client_init(&c, JOSE_ALG_RS256);
	new_account(&c, NULL);
	struct order_urls o;
	new_order(&c, "[{\"type\":\"dns\",\"value\":\"*.dns.example.com\"},"
		      "{\"type\":\"dns\",\"value\":\"tls.example.com\"}]", &o);
	char url[256], token[64], ka[128];
	/* dns-01: first a wrong TXT value, on a fresh order later the right */
	challenge(&c, o.authz[0], "dns-01", url, token);
	keyauth(&c, token, ka);
	uint8_t d[32];
	crypto_sha256(ka, strlen(ka), d);
	pthread_mutex_lock(&rmu);
	bw_snprintf(dns_name, sizeof(dns_name), "_acme-challenge.dns.example.com");
	crypto_b64url_encode_to(d, sizeof(d), dns_txt);
	pthread_mutex_unlock(&rmu);
	struct acme_resp rs;
	post(&c, url, "{}", false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_VALID);
	/* tls-alpn-01 */
	challenge(&c, o.authz[1], "tls-alpn-01", url, token);
	keyauth(&c, token, ka);
	tls_set_cert("tls.example.com", ka, true);
	post(&c, url, "{}", false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	assert_int_equal(wait_authz(o.authz[1]), ACME_ST_VALID);
	post(&c, o.order, NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "\"status\":\"ready\""));
	acme_resp_fini(&rs);
	EVP_PKEY *k = EVP_EC_gen("P-256");
	finalize_expect(&c, &o, k, NULL, "DNS:*.dns.example.com,DNS:tls.example.com", 200,
			NULL);
	EVP_PKEY_free(k);

	/* failures: wrong TXT, a non-critical extension, no ALPN */
	new_order(&c, "[{\"type\":\"dns\",\"value\":\"bad.example.com\"}]", &o);
	challenge(&c, o.authz[0], "dns-01", url, token);
	pthread_mutex_lock(&rmu);
	bw_snprintf(dns_name, sizeof(dns_name), "_acme-challenge.bad.example.com");
	bw_snprintf(dns_txt, sizeof(dns_txt), "wrong-value");
	pthread_mutex_unlock(&rmu);
	post(&c, url, "{}", false, &rs);
	acme_resp_fini(&rs);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_INVALID);
	post(&c, o.authz[0], NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "incorrectResponse"));
	acme_resp_fini(&rs);

	new_order(&c, "[{\"type\":\"dns\",\"value\":\"tls2.example.com\"}]", &o);
	challenge(&c, o.authz[0], "tls-alpn-01", url, token);
	keyauth(&c, token, ka);
	tls_set_cert("tls2.example.com", ka, false);
	post(&c, url, "{}", false, &rs);
	acme_resp_fini(&rs);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_INVALID);

	new_order(&c, "[{\"type\":\"dns\",\"value\":\"tls3.example.com\"}]", &o);
	challenge(&c, o.authz[0], "tls-alpn-01", url, token);
	keyauth(&c, token, ka);
	tls_set_cert("tls3.example.com", ka, true);
	tls_offer_alpn = false;
	post(&c, url, "{}", false, &rs);
	acme_resp_fini(&rs);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_INVALID);
	tls_offer_alpn = true;
	post(&c, o.authz[0], NULL, false, &rs);
	assert_non_null(strstr(rs.body.data, "urn:ietf:params:acme:error:tls"));
	acme_resp_fini(&rs);
	client_fini(&c);
}

/* An order for names, validated by http-01 and finalized with key k;
 * returns the certificate DER (base64url, malloc'd). */
static char *issue(struct client *c, const char *name, EVP_PKEY *k)
{
	struct order_urls o;
	char ids[256], sans[256];
	bw_snprintf(ids, sizeof(ids), "[{\"type\":\"dns\",\"value\":\"%s\"}]", name);
	bw_snprintf(sans, sizeof(sans), "DNS:%s", name);
	new_order(c, ids, &o);
	http01(c, o.authz[0], NULL);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_VALID);
	finalize_expect(c, &o, k, NULL, sans, 200, NULL);
	struct acme_resp rs;
	post(c, o.order, NULL, false, &rs);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	const char *cert = json_get_str(parse(a, &rs), "certificate", "");
	struct acme_resp r2;
	post(c, cert, NULL, false, &r2);
	assert_int_equal(r2.status, 200);
	BIO *bio = BIO_new_mem_buf(r2.body.data, (int)r2.body.len);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(x);
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(crypto_b64url_encode(der, (size_t)dl, &b), 0);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	acme_resp_fini(&rs);
	acme_resp_fini(&r2);
	bw_arena_free(a);
	return bw_buf_detach(&b, NULL);
}

static void revocation(void **state)
{
	struct client c, other;
	client_init(&c, JOSE_ALG_ES256);
	client_init(&other, JOSE_ALG_ES256);
	new_account(&c, NULL);
	new_account(&other, NULL);
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *cert = issue(&c, "rev.example.com", k);
	char payload[4096];
	struct acme_resp rs;
	/* another account, a bad reason */
	bw_snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\"}", cert);
	post(&other, "revoke-cert", payload, false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	bw_snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":2}", cert);
	post(&c, "revoke-cert", payload, false, &rs);
	expect_problem(&rs, 400, "badRevocationReason");
	bw_snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":7}", cert);
	post(&c, "revoke-cert", payload, false, &rs);
	expect_problem(&rs, 400, "badRevocationReason");
	post(&c, "revoke-cert", "{\"certificate\":\"MIIB\"}", false, &rs);
	expect_problem(&rs, 400, "malformed");
	/* by the account */
	bw_snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":4}", cert);
	post(&c, "revoke-cert", payload, false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	post(&c, "revoke-cert", payload, false, &rs);
	expect_problem(&rs, 400, "alreadyRevoked");
	free(cert);
	/* by the certificate's key (a jwk request signed with it) */
	cert = issue(&c, "rev2.example.com", k);
	struct client ck;
	memset(&ck, 0, sizeof(ck));
	struct bw_err err;
	ck.alg = JOSE_ALG_ES256;
	ck.key = jose_jwk_from_pkey(k, NULL, JOSE_ALG_ES256, &err);
	assert_non_null(ck.key);
	ck.pub = jose_jwk_public(ck.key, &err);
	assert_int_equal(jose_signer_local(&ck.s, ck.key, JOSE_ALG_ES256, &err), 0);
	ck.pfx = PFX;
	bw_snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\"}", cert);
	post(&other, "revoke-cert", payload, true, &rs); /* a jwk that is not the cert's */
	expect_problem(&rs, 403, "unauthorized");
	post(&ck, "revoke-cert", payload, true, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	struct pki_stats ps;
	pki_stats_get(pk, &ps);
	assert_true(ps.revoked >= 2);
	free(cert);
	client_fini(&ck);
	/* an account holding authorizations for every name may revoke too */
	cert = issue(&c, "shared.example.com", k);
	struct order_urls o;
	new_order(&other, "[{\"type\":\"dns\",\"value\":\"shared.example.com\"}]", &o);
	http01(&other, o.authz[0], NULL);
	assert_int_equal(wait_authz(o.authz[0]), ACME_ST_VALID);
	bw_snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":1}", cert);
	post(&other, "revoke-cert", payload, false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	free(cert);
	EVP_PKEY_free(k);
	client_fini(&c);
	client_fini(&other);
}

/* The inner JWS of a key change, signed by the new key. */
static char *key_change_body(struct client *c, struct client *nk)
{
	struct bw_buf p, h;
	bw_buf_init(&p, 1 << 16);
	bw_buf_init(&h, 1 << 16);
	assert_int_equal(bw_buf_printf(&p, "{\"account\":\"%s\",\"oldKey\":", c->kid), 0);
	jwk_json(c->pub, &p);
	assert_int_equal(bw_buf_append_byte(&p, '}'), 0);
	assert_int_equal(bw_buf_printf(&h, "{\"alg\":\"%s\",\"url\":\"%s/key-change\",\"jwk\":",
				       jose_alg_name(nk->alg), PFX), 0);
	jwk_json(nk->pub, &h);
	assert_int_equal(bw_buf_append_byte(&h, '}'), 0);
	char *inner = jws_raw(nk, h.data, p.data);
	bw_buf_fini(&p);
	bw_buf_fini(&h);
	return inner;
}

static void key_rollover(void **state)
{
	struct client c, nk, third;
	client_init(&c, JOSE_ALG_ES256);
	client_init(&nk, JOSE_ALG_RS256);
	client_init(&third, JOSE_ALG_EDDSA);
	new_account(&c, NULL);
	new_account(&third, NULL);
	struct acme_resp rs;
	/* inner JWS signed by the wrong key */
	char *inner = key_change_body(&c, &nk);
	char *sig = strstr(inner, "\"signature\":\"") + 14;
	sig[2] = sig[2] == 'A' ? 'B' : 'A';
	post(&c, "key-change", inner, false, &rs);
	expect_problem(&rs, 400, "malformed");
	free(inner);
	/* new key already an account */
	inner = key_change_body(&c, &third);
	post(&c, "key-change", inner, false, &rs);
	assert_int_equal(rs.status, 409);
	assert_string_equal(rs.location, third.kid);
	acme_resp_fini(&rs);
	free(inner);
	/* the real rollover */
	inner = key_change_body(&c, &nk);
	post(&c, "key-change", inner, false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	free(inner);
	/* the old key no longer signs for the account (an ES256 request for
	 * an account whose key is RSA now), the new one does */
	post(&c, c.kid, NULL, false, &rs);
	expect_problem(&rs, 400, "badSignatureAlgorithm");
	memcpy(nk.kid, c.kid, sizeof(nk.kid));
	post(&nk, nk.kid, NULL, false, &rs);
	assert_int_equal(rs.status, 200);
	acme_resp_fini(&rs);
	/* newAccount with the old key makes a new account now */
	c.kid[0] = '\0';
	new_account(&c, NULL);
	assert_string_not_equal(c.kid, nk.kid);
	/* deactivation */
	post(&nk, nk.kid, "{\"status\":\"valid\"}", false, &rs);
	expect_problem(&rs, 400, "malformed");
	post(&nk, nk.kid, "{\"status\":\"deactivated\"}", false, &rs);
	assert_int_equal(rs.status, 200);
	assert_non_null(strstr(rs.body.data, "\"status\":\"deactivated\""));
	acme_resp_fini(&rs);
	post(&nk, "new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.com\"}]}",
	     false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	nk.kid[0] = '\0';
	post(&nk, "new-account", "{}", true, &rs);
	expect_problem(&rs, 403, "unauthorized");
	client_fini(&c);
	client_fini(&nk);
	client_fini(&third);
}

static char *eab_json(const struct client *c, const char *kid, const uint8_t *key,
		      const char *url, const struct client *bound)
{
	struct bw_buf h, p, b;
	bw_buf_init(&h, 1 << 16);
	bw_buf_init(&p, 1 << 16);
	bw_buf_init(&b, 1 << 16);
	assert_int_equal(bw_buf_printf(&h, "{\"alg\":\"HS256\",\"kid\":\"%s\",\"url\":\"%s\"}",
				       kid, url), 0);
	jwk_json((bound ? bound : c)->pub, &p);
	assert_int_equal(crypto_b64url_encode(h.data, h.len, &b), 0);
	assert_int_equal(bw_buf_append_byte(&b, '.'), 0);
	assert_int_equal(crypto_b64url_encode(p.data, p.len, &b), 0);
	uint8_t mac[32];
	struct bw_err err;
	assert_int_equal(crypto_hmac(CRYPTO_SHA256, key, 32, b.data, b.len, mac, &err), 0);
	struct bw_buf out;
	bw_buf_init(&out, 1 << 16);
	char *dot = strchr(b.data, '.');
	assert_int_equal(bw_buf_printf(&out, "{\"termsOfServiceAgreed\":true,"
				       "\"externalAccountBinding\":{\"protected\":\"%.*s\","
				       "\"payload\":\"%s\",\"signature\":\"",
				       (int)(dot - b.data), b.data, dot + 1), 0);
	assert_int_equal(crypto_b64url_encode(mac, sizeof(mac), &out), 0);
	assert_int_equal(bw_buf_append_str(&out, "\"}}"), 0);
	bw_buf_fini(&h);
	bw_buf_fini(&p);
	bw_buf_fini(&b);
	return bw_buf_detach(&out, NULL);
}

static void external_account_binding(void **state)
{
	struct client c, d;
	client_init(&c, JOSE_ALG_ES256);
	client_init(&d, JOSE_ALG_ES256);
	c.pfx = d.pfx = BASE "/acme/e";
	struct acme_resp rs;
	post(&c, "new-account", "{\"termsOfServiceAgreed\":true}", true, &rs);
	expect_problem(&rs, 400, "externalAccountRequired");
	char kid[32];
	uint8_t key[32], wrong[32];
	struct bw_err err;
	assert_int_equal(pki_acme_eab_create(acme, "e", "ci", kid, key, &err), 0);
	memset(wrong, 1, sizeof(wrong));
	const char *url = BASE "/acme/e/new-account";
	char *p = eab_json(&c, kid, wrong, url, NULL);
	post(&c, "new-account", p, true, &rs);
	expect_problem(&rs, 403, "unauthorized");
	free(p);
	/* the binding names another key than the outer JWS */
	p = eab_json(&c, kid, key, url, &d);
	post(&c, "new-account", p, true, &rs);
	expect_problem(&rs, 403, "unauthorized");
	free(p);
	/* another tenant's kid */
	p = eab_json(&c, "AAAAAAAAAAAAAAAAAAAAAA", key, url, NULL);
	post(&c, "new-account", p, true, &rs);
	expect_problem(&rs, 403, "unauthorized");
	free(p);
	/* the binding's url must be the request's */
	p = eab_json(&c, kid, key, BASE "/acme/e/new-order", NULL);
	post(&c, "new-account", p, true, &rs);
	expect_problem(&rs, 400, "malformed");
	free(p);
	p = eab_json(&c, kid, key, url, NULL);
	post(&c, "new-account", p, true, &rs);
	assert_int_equal(rs.status, 201);
	acme_resp_fini(&rs);
	free(p);
	/* the key is spent */
	p = eab_json(&d, kid, key, url, NULL);
	post(&d, "new-account", p, true, &rs);
	expect_problem(&rs, 403, "unauthorized");
	free(p);
	uint8_t got[32];
	assert_int_equal(acme_db_eab_key(acme, "e", kid, got, &err), 0);
	assert_int_equal(pki_acme_eab_delete(acme, "e", kid, &err), -1);
	assert_int_equal(err.code, 409);
	/* an unused key can be deleted */
	char kid2[32];
	assert_int_equal(pki_acme_eab_create(acme, "e", NULL, kid2, key, &err), 0);
	assert_int_equal(acme_db_eab_key(acme, "e", kid2, got, &err), 1);
	assert_memory_equal(got, key, 32);
	assert_int_equal(pki_acme_eab_delete(acme, "e", kid2, &err), 0);
	assert_int_equal(acme_db_eab_key(acme, "e", kid2, got, &err), 0);
	client_fini(&c);
	client_fini(&d);
}

static void audit_and_stats(void **state)
{
	struct pki_acme_stats s;
	pki_acme_stats_get(acme, &s);
	assert_true(s.accounts_created >= 10);
	assert_true(s.orders_created >= 8);
	assert_true(s.certificates_issued >= 4);
	assert_true(s.revocations >= 3);
	assert_true(s.validations_ok >= 6);
	assert_true(s.validations_failed >= 4);
	assert_true(s.nonces_refused >= 2);
	char path[160];
	bw_snprintf(path, sizeof(path), "%s/audit.log", dir);
	size_t n;
	char *log = tu_read(path, &n);
	assert_non_null(log);
	const char *actions[] = { "pki.acme.account.create", "pki.acme.order.create",
				  "pki.acme.challenge.start", "pki.acme.challenge.valid",
				  "pki.acme.challenge.invalid", "pki.acme.order.finalize",
				  "pki.acme.cert.revoke", "pki.acme.account.key_change",
				  "pki.acme.account.deactivate" };
	for (size_t i = 0; i < BW_ARRAY_LEN(actions); i++) {
		if (!strstr(log, actions[i]))
			fail_msg("no audit record %s", actions[i]);
	}
	/* no key material or CSR in the log */
	assert_null(strstr(log, "\"csr\""));
	assert_null(strstr(log, "BEGIN"));
	free(log);
}

/* ------------------------------------------------------------ REST */

static bool allow_pki(void *arg, const char *tenant, const char *subject,
		      const char *permission)
{
	return strcmp(subject, "user:bootstrap") == 0 && strncmp(permission, "pki.", 4) == 0;
}

static struct loop *alp;
static void *run_aloop(void *arg)
{
	loop_run(alp);
	return NULL;
}

static int rest(const char *token, int port, const char *method, const char *path,
		const char *body, char *out, size_t cap)
{
	char cmd[1024], bf[160];
	if (body) {
		bw_snprintf(bf, sizeof(bf), "%s/body.json", dir);
		tu_write(bf, body, strlen(body));
	}
	bw_snprintf(cmd, sizeof(cmd),
		    "curl -s -X %s -H 'Authorization: Bearer %s' %s%s "
		    "-w '\\n%%{http_code}' 'http://127.0.0.1:%d%s'", method, token,
		    body ? "-H 'Content-Type: application/json' --data-binary @" : "",
		    body ? bf : "", port, path);
	if (tu_run(cmd, out, cap) != 0)
		return -1;
	char *nl = strrchr(out, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	return (int)strtol(nl + 1, NULL, 10);
}

static void json_field(const char *json, const char *key, char *out, size_t cap)
{
	char pat[64];
	bw_snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = strstr(json, pat);
	assert_non_null(p);
	p += strlen(pat);
	size_t n = strcspn(p, "\"");
	assert_true(n < cap);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void rest_routes(void **state)
{
	struct bw_err err;
	char token[64], out[8192], body[512];
	static struct api_ctx ctx;
	assert_int_equal(api_create_token(dir, token, &err), 0);
	assert_int_equal(api_load_token_hash(&ctx, dir, &err), 0);
	struct tpool *pool = tpool_new(2, 64, &err);
	alp = loop_new(256, &err);
	struct net_thread *nt = net_thread_new(alp, &err);
	assert_non_null(pool);
	assert_non_null(nt);
	ctx.audit = audit;
	ctx.pool = pool;
	ctx.workers = 1;
	ctx.authorize = allow_pki;
	assert_int_equal(pki_acme_api_register(acme), 0);
	struct net_http_options ho = { .name = "admin", .header_timeout_ms = 5000,
				       .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				       .write_timeout_ms = 5000, .handler = api_handle,
				       .handler_arg = &ctx };
	http_limits_default(&ho.limits);
	struct net_http_server *s = net_http_server_new(&ho, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 16, &err);
	assert_true(s && fd >= 0);
	int port = net_socket_port(fd);
	assert_int_equal(net_thread_listen(nt, "admin", fd, s, &err), 0);
	net_http_server_unref(s);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, run_aloop, NULL), 0);

	/* the admin's tenant gets a CA of its own */
	const char *tenant = "platform";
	struct pki_ca_spec ps = { .tenant = tenant, .name = "acme-root",
				  .subject = "CN=Platform ACME Root",
				  .key_type = PKI_KEY_EC_P256, .path_len = -1 };
	struct pki_ca_info pca;
	assert_int_equal(pki_ca_create(pk, &ps, &pca, &err), 0);
	const char pol[] = "{\"dns\":[\".example.com\"]}";
	assert_int_equal(pki_policy_set(pk, tenant, pol, sizeof(pol) - 1, &err), 0);

	assert_int_equal(rest(token, port, "GET", "/api/v1/pki/acme", NULL, out, sizeof(out)),
			 404);
	assert_int_equal(rest(token, port, "PUT", "/api/v1/pki/acme",
			      "{\"ca_id\":\"0000000000000000\"}", out, sizeof(out)), 404);
	assert_int_equal(rest(token, port, "PUT", "/api/v1/pki/acme",
			      "{\"ca_id\":\"x\",\"surprise\":1}", out, sizeof(out)), 400);
	bw_snprintf(body, sizeof(body), "{\"ca_id\":\"%s\",\"eab_required\":true}", pca.id);
	assert_int_equal(rest(token, port, "PUT", "/api/v1/pki/acme", body, out, sizeof(out)),
			 200);
	assert_non_null(strstr(out, "\"directory\":\"https://acme.test/acme/platform/directory\""));
	assert_int_equal(rest(token, port, "GET", "/api/v1/pki/acme", NULL, out, sizeof(out)),
			 200);
	assert_non_null(strstr(out, "\"eab_required\":true"));

	/* an EAB key: shown once, then usable by exactly one account */
	assert_int_equal(rest(token, port, "POST", "/api/v1/pki/acme/eab",
			      "{\"label\":\"ci runner\"}", out, sizeof(out)), 201);
	char kid[32], hmac_b64[64];
	json_field(out, "kid", kid, sizeof(kid));
	json_field(out, "hmac_key", hmac_b64, sizeof(hmac_b64));
	uint8_t key[32];
	size_t kl;
	assert_int_equal(crypto_b64url_decode(hmac_b64, strlen(hmac_b64), key, sizeof(key),
					      &kl, &err), 0);
	assert_int_equal(kl, 32);
	assert_int_equal(rest(token, port, "GET", "/api/v1/pki/acme/eab", NULL, out,
			      sizeof(out)), 200);
	assert_non_null(strstr(out, kid));
	assert_non_null(strstr(out, "\"used\":false"));
	assert_null(strstr(out, hmac_b64));

	struct client c;
	client_init(&c, JOSE_ALG_ES256);
	c.pfx = BASE "/acme/platform";
	char *p = eab_json(&c, kid, key, BASE "/acme/platform/new-account", NULL);
	struct acme_resp rs;
	post(&c, "new-account", p, true, &rs);
	assert_int_equal(rs.status, 201);
	bw_snprintf(c.kid, sizeof(c.kid), "%s", rs.location);
	acme_resp_fini(&rs);
	free(p);
	assert_int_equal(rest(token, port, "GET", "/api/v1/pki/acme/eab", NULL, out,
			      sizeof(out)), 200);
	assert_non_null(strstr(out, "\"used\":true"));
	char path[128];
	bw_snprintf(path, sizeof(path), "/api/v1/pki/acme/eab/%s", kid);
	assert_int_equal(rest(token, port, "DELETE", path, NULL, out, sizeof(out)), 409);
	assert_int_equal(rest(token, port, "POST", "/api/v1/pki/acme/eab", "{}", out,
			      sizeof(out)), 201);
	char kid2[32];
	json_field(out, "kid", kid2, sizeof(kid2));
	bw_snprintf(path, sizeof(path), "/api/v1/pki/acme/eab/%s", kid2);
	assert_int_equal(rest(token, port, "DELETE", path, NULL, out, sizeof(out)), 200);
	assert_int_equal(rest(token, port, "DELETE", path, NULL, out, sizeof(out)), 404);
	assert_int_equal(rest(token, port, "DELETE", "/api/v1/pki/acme/eab/..%2f..", NULL, out,
			      sizeof(out)), 404);

	/* accounts: listed, then deactivated by the administrator */
	assert_int_equal(rest(token, port, "GET", "/api/v1/pki/acme/accounts", NULL, out,
			      sizeof(out)), 200);
	const char *id = strrchr(c.kid, '/') + 1;
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, kid));
	bw_snprintf(path, sizeof(path), "/api/v1/pki/acme/accounts/%s/deactivate", id);
	assert_int_equal(rest(token, port, "POST", path, NULL, out, sizeof(out)), 200);
	post(&c, c.kid, NULL, false, &rs);
	expect_problem(&rs, 403, "unauthorized");
	assert_int_equal(rest(token, port, "POST",
			      "/api/v1/pki/acme/accounts/AAAAAAAAAAAAAAAAAAAAAA/deactivate",
			      NULL, out, sizeof(out)), 404);
	assert_int_equal(rest("wrong", port, "GET", "/api/v1/pki/acme", NULL, out,
			      sizeof(out)), 401);
	client_fini(&c);

	loop_stop(alp);
	pthread_join(th, NULL);
	tpool_free(pool);
	net_thread_free(nt);
	loop_free(alp);

	/* audited, and the HMAC key is nowhere in the log */
	char lp[160];
	bw_snprintf(lp, sizeof(lp), "%s/audit.log", dir);
	size_t n;
	char *log = tu_read(lp, &n);
	assert_non_null(log);
	assert_non_null(strstr(log, "pki.acme.configure"));
	assert_non_null(strstr(log, "pki.acme.eab.create"));
	assert_non_null(strstr(log, "pki.acme.eab.delete"));
	assert_non_null(strstr(log, "pki.acme.account.deactivate"));
	assert_null(strstr(log, hmac_b64));
	free(log);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	signal(SIGPIPE, SIG_IGN); /* the responders write to clients that left */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nonce_store),
		cmocka_unit_test(directory_and_nonces),
		cmocka_unit_test(accounts_each_alg),
		cmocka_unit_test(jws_rules),
		cmocka_unit_test(order_lifecycle_http01),
		cmocka_unit_test(order_refusals),
		cmocka_unit_test(failed_challenge_invalidates),
		cmocka_unit_test(dns01_and_tlsalpn01),
		cmocka_unit_test(revocation),
		cmocka_unit_test(key_rollover),
		cmocka_unit_test(external_account_binding),
		cmocka_unit_test(audit_and_stats),
		cmocka_unit_test(rest_routes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
